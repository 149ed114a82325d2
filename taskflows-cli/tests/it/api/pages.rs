//! The web UI in a real browser (headless Chromium over WebDriver, [`crate::browser`]) against
//! `tf api serve --ui` on the sandbox's systemd: what a user sees and does. Each step saves a
//! screenshot under `target/screenshots/`; `cargo xtask screenshots` copies them to `docs/`.

use std::time::{Duration, Instant};

use super::ui::{PASSWORD, claims, forge, jwt_secret, setup_ui};
use super::{Home, Server, in_sandbox, unique};
use crate::browser::{Browser, DESKTOP, PHONE};

/// Within this, what the issue asks to see live.
const LIVE: Duration = Duration::from_secs(2);

fn row(name: &str) -> String {
    format!("tr[data-name=\"{name}\"]")
}

/// `tf status NAME --json`'s first service.
fn status(home: &Home, name: &str) -> serde_json::Value {
    let out = crate::ok(&home.local(&["status", "-m", name, "--json"]), "tf status");
    serde_json::from_str::<serde_json::Value>(&out).unwrap()["services"][0].clone()
}

/// Wait until NAME's row shows exactly `state` (not a word containing it: "inactive" holds
/// "active").
fn wait_for_state(browser: &Browser, name: &str, state: &str, timeout: Duration) {
    let js =
        format!("const b = document.querySelector('tr[data-name=\"{name}\"] .badge'); return b ? b.textContent : null");
    let deadline = Instant::now() + timeout;
    loop {
        let seen = browser.execute(&js);
        if seen == state {
            return;
        }
        assert!(Instant::now() < deadline, "{name}'s row did not show {state:?} within {timeout:?}; it shows {seen}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Empty a search box as a user would (WebDriver's clear fires no `input` event).
fn clear(browser: &Browser, css: &str) {
    browser.execute(&format!(
        "const e = document.querySelector('{css}'); e.value = ''; e.dispatchEvent(new Event('input')); return null"
    ));
}

fn log_in(browser: &Browser, server: &Server, password: &str) {
    browser.goto(&format!("{}/", server.url()));
    browser.wait_for_text("h1", "taskflows", LIVE);
    browser.fill("input[name=username]", "ada");
    browser.fill("input[name=password]", password);
    browser.click("button[type=submit]");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn the_web_ui_in_a_browser() {
    in_sandbox();
    let home = Home::new();
    let (a, b, x) = (unique("ui-a"), unique("ui-b"), unique("ui-x"));
    let ticker = "/bin/sh -c 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done'";
    let (_dir, file) = crate::service_file(&format!(
        "[[service]]\nname = \"{a}\"\ndescription = \"first\"\nstart_command = \"{ticker}\"\n\n\
         [[service]]\nname = \"{b}\"\ndescription = \"second\"\nstart_command = \"{ticker}\"\n\n\
         [[service]]\nname = \"{x}\"\ndescription = \"<img src=x onerror=alert(1)>\"\nstart_command = \"/bin/true\"\n"
    ));
    crate::ok(&home.local(&["create", &file]), "create");
    crate::ok(&setup_ui(&home, "ada", PASSWORD, PASSWORD), "tf api setup-ui");
    let server = Server::start_with(&home, &["--ui"], &[]);
    let browser = Browser::start();

    // Wrong, then right password.
    log_in(&browser, &server, "not the password");
    browser.wait_for_text("p.error", "Wrong username or password.", LIVE);
    browser.screenshot("ui-login-refused");
    log_in(&browser, &server, PASSWORD);
    browser.wait_for_text("h1", "Services", LIVE);
    browser.wait_for_text("#live", "Live", LIVE);
    for name in [&a, &b, &x] {
        browser.wait_for_text(&row(name), name, LIVE);
    }
    // The description is shown as text, and ran nothing.
    assert_eq!(browser.text(&format!("{} .desc", row(&x))), "<img src=x onerror=alert(1)>");
    assert_eq!(browser.execute("return document.querySelectorAll('#services img').length"), 0);
    browser.screenshot("ui-dashboard");

    // Start one from the page: its row changes without a reload.
    wait_for_state(&browser, &a, "inactive", LIVE);
    browser.execute("window.noReload = true; return null");
    browser.click(&format!("{} td.pick input", row(&a)));
    browser.click("#batch button[data-action=start]");
    let started = Instant::now();
    wait_for_state(&browser, &a, "active", LIVE);
    crate::figure(&format!("ui: a start from the page showed in its row after {:?}", started.elapsed()));
    browser.wait_for_text("#results", "started", LIVE);
    assert_eq!(browser.execute("return window.noReload === true"), true, "the page was not reloaded");
    assert_eq!(status(&home, &a)["active_state"], "active");

    // A change made elsewhere (the CLI) reaches the open page.
    wait_for_state(&browser, &b, "inactive", LIVE);
    crate::ok(&home.local(&["start", &b]), "tf start");
    let seen = Instant::now();
    wait_for_state(&browser, &b, "active", LIVE);
    crate::figure(&format!("ui: a `tf start` elsewhere showed in the open dashboard after {:?}", seen.elapsed()));

    // Search and filters.
    browser.fill("#search", "second");
    assert_eq!(
        browser.execute(&format!("return document.querySelector('{}').hidden", row(&a).replace('"', "\\\""))),
        true
    );
    assert_eq!(
        browser.execute(&format!("return document.querySelector('{}').hidden", row(&b).replace('"', "\\\""))),
        false
    );
    clear(&browser, "#search");

    // A batch restart of two: each one's result, and both really restarted.
    let before: Vec<String> =
        [&a, &b].iter().map(|n| status(&home, n)["last_start"].as_str().unwrap_or_default().to_owned()).collect();
    browser.click(&format!("{} td.pick input", row(&b)));
    browser.click("#batch button[data-action=restart]");
    browser.wait_for_text(&format!("#results li[data-name=\"{a}\"]"), "restarted", LIVE);
    browser.wait_for_text(&format!("#results li[data-name=\"{b}\"]"), "restarted", LIVE);
    browser.screenshot("ui-dashboard-batch");
    for (n, was) in [&a, &b].iter().zip(&before) {
        let now = status(&home, n);
        assert_eq!(now["active_state"], "active");
        assert_ne!(now["last_start"].as_str().unwrap_or_default(), was, "{n} restarted");
    }

    // At a phone's width.
    browser.set_window_size(PHONE);
    browser.screenshot("ui-dashboard-phone");
    browser.set_window_size(DESKTOP);

    // The service page: runs chart, next runs, requirements, unit files.
    browser.goto(&format!("{}/ui/services/{a}", server.url()));
    browser.wait_for_text("h1", &a, LIVE);
    assert_eq!(browser.execute("return document.querySelectorAll('figure.chart rect.bar').length > 0"), true);
    browser.wait_for_text("main", "Unit files", LIVE);
    browser.screenshot("ui-service");

    // The log viewer shows what the service prints, as it prints it.
    browser.goto(&format!("{}/ui/services/{a}/logs", server.url()));
    browser.wait_for_text("#log", "tick", LIVE);
    let last = |b: &Browser| -> u64 {
        b.execute("const l = Array.from(document.querySelectorAll('#log .m')).map(e => e.textContent).filter(t => t.startsWith('tick ')); return l.length ? Number(l[l.length - 1].slice(5)) : 0")
            .as_u64()
            .unwrap_or(0)
    };
    let shown = last(&browser);
    let deadline = Instant::now() + LIVE;
    while last(&browser) <= shown {
        assert!(Instant::now() < deadline, "no new line within {LIVE:?} after tick {shown}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Search narrows the lines shown.
    browser.fill("#log-search", &format!("tick {shown}"));
    let visible =
        browser.execute("return Array.from(document.querySelectorAll('#log .line')).filter(l => !l.hidden).length");
    assert!(visible.as_u64().is_some_and(|n| n >= 1), "{visible}");
    clear(&browser, "#log-search");
    browser.screenshot("ui-logs");

    // Environments: create, edit, delete refused while used, then deleted.
    let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
    let runner = dir.path().join("micromamba");
    std::fs::write(&runner, "#!/bin/sh\nshift 3\n[ \"$1\" = -- ] && shift\nexec \"$@\"\n").unwrap();
    std::fs::set_permissions(&runner, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let env = unique("ui-env");
    browser.goto(&format!("{}/ui/environments", server.url()));
    browser.fill("#new-env input[name=name]", &env);
    browser.fill("#new-env textarea", &format!("[venv]\nname = \"one\"\nrunner = \"{}\"\n", runner.display()));
    browser.click("#new-env button[type=submit]");
    browser.wait_for_text("p.notice", &format!("Created {env}"), LIVE);
    browser.wait_for_text(&format!("tr[data-env=\"{env}\"]"), "one", LIVE);
    browser.click(&format!("tr[data-env=\"{env}\"] a"));
    browser.fill("#edit-env textarea", &format!("[venv]\nname = \"two\"\nrunner = \"{}\"\n", runner.display()));
    browser.click("#edit-env button[type=submit]");
    browser.wait_for_text("p.notice", "Saved.", LIVE);
    assert!(crate::ok(&home.local(&["env", "show", &env]), "env show").contains("\"two\""));
    let user = unique("ui-user");
    let (_d2, uses) = crate::service_file(&format!(
        "[[service]]\nname = \"{user}\"\nstart_command = \"/bin/true\"\nenvironment = \"{env}\"\n"
    ));
    crate::ok(&home.local(&["create", &uses]), "create a service using it");
    browser.goto(&format!("{}/ui/environments", server.url()));
    browser.wait_for_text(&format!("tr[data-env=\"{env}\"] td.users"), &user, LIVE);
    browser.execute("window.confirm = () => true; return null");
    browser.click(&format!("tr[data-env=\"{env}\"] button.danger"));
    browser.wait_for_text("p.error", &user, LIVE);
    browser.screenshot("ui-environments");
    crate::ok(&home.local(&["remove", &user]), "remove the user");
    browser.execute("window.confirm = () => true; return null");
    browser.click(&format!("tr[data-env=\"{env}\"] button.danger"));
    browser.wait_for_text("p.notice", &format!("Deleted {env}"), LIVE);

    // A change without the CSRF token is refused, from the page itself.
    browser.goto(&format!("{}/", server.url()));
    browser.wait_for_text("#live", "Live", LIVE);
    let js = format!(
        "return fetch('/ui/actions', {{method: 'POST', headers: {{'content-type': 'application/json'}}, \
         body: JSON.stringify({{action: 'stop', names: ['{a}']}})}}).then(r => r.status)"
    );
    assert_eq!(browser.execute(&js), 403);
    assert_eq!(status(&home, &a)["active_state"], "active", "nothing was stopped");

    // An expired access token is refreshed; a reused refresh token ends the session.
    let cookie = |name: &str| browser.cookies().into_iter().find(|c| c.name() == name).map(|c| c.value().to_owned());
    let secret = jwt_secret(&home);
    let mut expired = claims(&cookie("tf_access").unwrap());
    expired["iat"] = serde_json::json!(super::now() - 3700);
    expired["exp"] = serde_json::json!(super::now() - 100);
    let old_refresh = cookie("tf_refresh").unwrap();
    browser.set_cookie(("tf_access", forge(r#"{"alg":"HS256","typ":"JWT"}"#, &expired, &secret)));
    browser.goto(&format!("{}/", server.url()));
    browser.wait_for_text("h1", "Services", LIVE);
    assert_ne!(cookie("tf_refresh").unwrap(), old_refresh, "the refresh token was rotated");
    std::thread::sleep(Duration::from_millis(11_500));
    browser.set_cookie(("tf_access", forge(r#"{"alg":"HS256","typ":"JWT"}"#, &expired, &secret)));
    browser.set_cookie(("tf_refresh", old_refresh));
    browser.goto(&format!("{}/", server.url()));
    browser.wait_for_text("button[type=submit]", "Log in", LIVE);
    browser.screenshot("ui-login");

    for n in [&a, &b, &x] {
        crate::ok(&home.local(&["remove", n]), "remove");
    }
}

/// `cargo xtask bench-ui` (it sets `TF_BENCH_UI=1`; `cargo xtask test-systemd` skips it): the
/// dashboard with 1,000 services in Chromium. The issue's targets: first contentful paint ≤ 1 s,
/// a state change shown ≤ 1 s after systemd reported it. The paint of a page of the same layout
/// without the services, in the same browser, is the baseline the dashboard's is compared with.
#[test]
#[ignore = "needs real systemd: cargo xtask bench-ui"]
fn bench_ui_dashboard_with_1000_services() {
    in_sandbox();
    assert!(std::env::var_os("TF_BENCH_UI").is_some(), "a benchmark: run it with `cargo xtask bench-ui`");
    const N: usize = 1000;
    let home = Home::new();
    let tag = std::process::id();
    let mut toml = String::new();
    for i in 0..N {
        toml.push_str(&format!(
            "[[service]]\nname = \"ui-bench-{tag}-{i}\"\ndescription = \"bench service {i}\"\nstart_command = \"/bin/sleep infinity\"\n\n"
        ));
    }
    let (_dir, file) = crate::service_file(&toml);
    let created = Instant::now();
    crate::ok(&home.local(&["create", &file]), "create 1,000 services");
    crate::figure(&format!("bench-ui: created {N} services in {:.1} s", created.elapsed().as_secs_f64()));
    crate::ok(&setup_ui(&home, "ada", PASSWORD, PASSWORD), "tf api setup-ui");
    let server = Server::start_with(&home, &["--ui"], &[]);
    let browser = Browser::start();
    log_in(&browser, &server, PASSWORD);
    browser.wait_for_text("#live", "Live", Duration::from_secs(30));

    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let paint = |url: &str| {
        let mut runs = Vec::new();
        for _ in 0..7 {
            browser.goto(url);
            runs.push(browser.first_contentful_paint_ms());
        }
        median(runs)
    };
    // The baseline: a page of the same layout without the services (no environments here).
    let login = paint(&format!("{}/ui/environments", server.url()));
    let dashboard = paint(&format!("{}/", server.url()));
    let rows = browser.execute("return document.querySelectorAll('#services tbody tr').length");
    assert_eq!(rows, N as u64, "every service is a row");
    let bytes = browser.execute("return performance.getEntriesByType('navigation')[0].decodedBodySize");
    let transfer = browser.execute("return performance.getEntriesByType('navigation')[0].transferSize");
    crate::figure(&format!(
        "bench-ui: dashboard ({N} services) first contentful paint {dashboard:.0} ms (target ≤ 1000 ms: {}); \
         the same layout without services {login:.0} ms; ratio {:.2}; page {bytes} bytes ({transfer} transferred)",
        if dashboard <= 1000.0 { "met" } else { "NOT met" },
        dashboard / login.max(1.0)
    ));

    // A state change: from `tf start` returning (systemd reported the job done) to the row's
    // badge changing in the open page, five times.
    browser.wait_for_text("#live", "Live", Duration::from_secs(30));
    let name = format!("ui-bench-{tag}-500");
    let selector = format!("tr[data-name=\"{name}\"] td.state");
    let watch = format!(
        "window.changedAt = null; const cell = document.querySelector('{}'); \
         new MutationObserver(() => {{ if (!window.changedAt) window.changedAt = performance.timeOrigin + performance.now(); }}) \
         .observe(cell, {{childList: true, subtree: true, characterData: true}}); return null",
        selector.replace('"', "\\\"")
    );
    let mut latencies = Vec::new();
    for round in 0..5 {
        let (verb, state) = if round % 2 == 0 { ("start", "active") } else { ("stop", "inactive") };
        browser.execute(&watch);
        crate::ok(&home.local(&[verb, &name]), verb);
        let reported = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
        wait_for_state(&browser, &name, state, Duration::from_secs(10));
        let seen = browser.execute("return window.changedAt").as_f64().expect("the row changed");
        latencies.push((seen - reported).max(0.0));
    }
    let worst = latencies.iter().copied().fold(0.0, f64::max);
    crate::figure(&format!(
        "bench-ui: a state change reached the open dashboard ({N} services) after {:.0} ms median, {worst:.0} ms worst \
         (target ≤ 1000 ms: {})",
        median(latencies.clone()),
        if worst <= 1000.0 { "met" } else { "NOT met" }
    ));
    browser.screenshot("ui-dashboard-1000");
    crate::ok(&home.local(&["remove", &format!("ui-bench-{tag}-*")]), "remove");
}

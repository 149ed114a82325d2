//! Every operation through `tf -s` against one server answers what the same `tf … --json` prints
//! on this host; a change made here, not through the API, shows in the server's live state.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Home, Server, local_answer, remote_answer, unique};
use crate::{figure, service_file, stderr, stdout, wait_for};

/// The services `tf status --json` (or GET /services) lists whose name starts with `prefix`.
fn services_named(report: &Value, prefix: &str) -> Vec<Value> {
    let services = report["services"].as_array().unwrap_or_else(|| panic!("no services: {report}"));
    services.iter().filter(|s| s["name"].as_str().is_some_and(|n| n.starts_with(prefix))).cloned().collect()
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn every_operation_through_tf_s_answers_as_tf_here() {
    super::in_sandbox();
    let home = Home::new();
    let server = Server::start(&home);
    home.add_server("one", &server.url(), &[]);
    let name = unique("ep");
    let tick = format!("{name}-tick");
    let pattern = format!("{name}*");
    let (_dir, file) = service_file(&format!(
        r#"
[[service]]
name = "{name}"
start_command = "/bin/sh -c 'echo hello-from-{name}; exec sleep 600'"

[[service]]
name = "{tick}"
start_command = "/bin/true"
start_schedule = "*-*-* 04:00:00 UTC"
"#
    ));
    // The same command through the server, then here: the same answer.
    let remote = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--json", "-s", "one"]);
        remote_answer(&home.client(&all), &args.join(" "))
    };
    let local = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--json");
        local_answer(&home.local(&all), &args.join(" "))
    };
    let same = |args: &[&str]| {
        let (r, l) = (remote(args), local(args));
        assert_eq!(r, l, "tf {} -s one", args.join(" "));
        r
    };
    // A change through the server, then undone and done again here from the same state: the
    // same report.
    let same_change = |args: &[&str], undo: &[&str]| {
        let r = remote(args);
        local(undo);
        let l = local(args);
        assert_eq!(r, l, "tf {} -s one", args.join(" "));
        r
    };

    let plan = same(&["create", &file, "--dry-run"]);
    assert!(plan.to_string().contains(&tick), "{plan}");
    let created = same_change(&["create", &file], &["remove", &pattern]);
    assert_eq!(created["ok"], true, "{created}");
    assert_eq!(created["services"], serde_json::json!([name, tick]), "{created}");

    // The live state after a change through the API, filtered and whole (GET /services answers
    // the cached JSON), agrees with systemd's at once.
    let started = remote(&["start", &name]);
    assert_eq!(started["ok"], true, "{started}");
    let status = same(&["status", "-m", &pattern]);
    assert_eq!(services_named(&status, &name).len(), 2, "{status}");
    let whole = server.signed(&home, "GET", "/services", b"");
    assert_eq!(whole.status, 200, "{whole}");
    let here = local(&["status"]);
    assert_eq!(services_named(&whole.json(), &name), services_named(&here, &name));
    assert_eq!(services_named(&here, &name)[0]["active_state"], "active", "{here}");
    local(&["stop", &name]);
    assert_eq!(started, local(&["start", &name]), "tf start -s one");

    // The journal has the line before logs are compared.
    let hello = format!("hello-from-{name}");
    wait_for(Duration::from_secs(10), Duration::from_millis(100), || {
        let out = home.local(&["logs", &name]);
        if stdout(&out).contains(&hello) { Ok(()) } else { Err(format!("no {hello} yet: {}", stdout(&out))) }
    });
    let logs = remote(&["logs", &name, "-n", "20"]);
    let here = home.local(&["logs", &name, "-n", "20", "--json"]);
    assert!(here.status.success(), "{}", stderr(&here));
    assert!(logs.to_string().contains(&hello), "{logs}");
    compare_logs(&logs, &stdout(&here));

    same(&["list", &pattern]);
    let show = same(&["show", &pattern]);
    assert!(show.to_string().contains("OnCalendar"), "{show}");
    same(&["history", "-m", &pattern, "-l", "5"]);
    let next = same(&["next", &pattern, "-n", "2"]);
    assert_eq!(next["runs"].as_array().map(Vec::len), Some(2), "{next}");
    same(&["check", &file]);
    same(&["check", &name]);
    monitor_check(&home, &pattern);

    same_change(&["restart", &name], &["restart", &name]);
    let stopped = same_change(&["stop", &name], &["start", &name]);
    assert_eq!(stopped["ok"], true, "{stopped}");
    let enabled = same_change(&["enable", &name], &["disable", &name]);
    assert!(!enabled["units"].as_array().unwrap().is_empty(), "{enabled}");
    same_change(&["disable", &name], &["enable", &name]);

    // A change made here, not through the API, shows in the server's live state.
    let shows = |state: &str| {
        let since = Instant::now();
        wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
            let r = server.signed(&home, "GET", "/services", b"");
            let mine = services_named(&r.json(), &name);
            match mine.first() {
                Some(s) if s["name"] == name.as_str() && s["active_state"] == state => Ok(()),
                other => Err(format!("GET /services still says {other:?}")),
            }
        });
        since.elapsed()
    };
    local(&["start", &name]);
    shows("active");
    local(&["stop", &name]);
    let took = shows("inactive");
    figure(&format!("api: a local `tf stop` showed in GET /services after {took:?}"));

    environments(&home, &name);

    let removed = same_change(&["remove", &pattern], &["create", &file]);
    assert_eq!(removed["services"], serde_json::json!([name, tick]), "{removed}");
    let gone = home.local(&["status", "-m", &pattern]);
    assert_eq!(gone.status.code(), Some(4), "{}{}", stdout(&gone), stderr(&gone));
    // The last change was made here: the server's live state follows within moments.
    wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
        let gone = home.client(&["status", "-m", &pattern, "-s", "one"]);
        match gone.status.code() {
            Some(4) => Ok(()),
            code => Err(format!("{code:?}: {}{}", stdout(&gone), stderr(&gone))),
        }
    });

    // Services created and removed here, not through the API, come and go in GET /services.
    local(&["create", &file]);
    let listed = |count: usize| {
        wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
            let mine = services_named(&server.signed(&home, "GET", "/services", b"").json(), &name);
            if mine.len() == count { Ok(()) } else { Err(format!("GET /services has {mine:?}, not {count}")) }
        });
    };
    listed(2);
    local(&["remove", &pattern]);
    listed(0);
}

/// Logs through the server and here: the same lines.
fn compare_logs(remote: &Value, local: &str) {
    let local: Value = serde_json::from_str(local).unwrap_or_else(|e| panic!("{e}: {local}"));
    assert_eq!(remote, &local, "logs through the server and here");
}

/// `tf monitor check` takes no --json: its lines, and its exit code, agree.
fn monitor_check(home: &Home, pattern: &str) {
    let here = home.local(&["monitor", "check", pattern, "--grace", "1h"]);
    let there = home.client(&["monitor", "check", pattern, "--grace", "1h", "-s", "one"]);
    assert_eq!(here.status.code(), there.status.code(), "{}{}", stderr(&here), stderr(&there));
    let prefixed: String = stdout(&here).lines().map(|l| format!("one: {l}\n")).collect();
    assert_eq!(stdout(&there), prefixed, "monitor check through the server and here");
}

/// `tf env list|show|create|update|delete` through the server and here.
fn environments(home: &Home, name: &str) {
    let env = format!("{name}-env");
    let image = std::env::var("TF_TEST_DOCKER_IMAGE").unwrap_or_else(|_| "busybox:latest".into());
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.toml");
    std::fs::write(&first, format!("[docker]\nimage = \"{image}\"\nenvironment = {{ A = \"1\" }}\n")).unwrap();
    let second = dir.path().join("second.toml");
    std::fs::write(&second, format!("[docker]\nimage = \"{image}\"\nenvironment = {{ A = \"2\" }}\n")).unwrap();
    let (first, second) = (first.to_str().unwrap(), second.to_str().unwrap());
    let remote = |args: &[&str]| {
        let mut all = vec!["env"];
        all.extend(args);
        all.extend(["--json", "-s", "one"]);
        remote_answer(&home.client(&all), &all.join(" "))
    };
    let local = |args: &[&str]| {
        let mut all = vec!["env"];
        all.extend(args);
        all.push("--json");
        local_answer(&home.local(&all), &all.join(" "))
    };
    let created = remote(&["create", &env, first]);
    local(&["delete", &env]);
    assert_eq!(created, local(&["create", &env, first]), "env create");
    assert_eq!(created["change"], "created", "{created}");
    assert_eq!(remote(&["list"]), local(&["list"]), "env list");
    let updated = remote(&["update", &env, second]);
    assert_eq!(updated, local(&["update", &env, second]), "env update");
    let shown = remote(&["show", &env]);
    assert_eq!(shown, local(&["show", &env]), "env show");
    // Values are not sent back, through the server or here.
    assert!(shown["text"].as_str().unwrap().contains("A = \"<redacted>\""), "{shown}");
    let deleted = remote(&["delete", &env]);
    local(&["create", &env, first]);
    assert_eq!(deleted, local(&["delete", &env]), "env delete");
    let gone = home.local(&["env", "show", &env]);
    assert!(!gone.status.success(), "{}", stdout(&gone));
}

//! `tf monitor` inside a real systemd: timers every second, checks with short grace periods,
//! alerts to a local webhook, and the monitor installed as a service.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{service_file, stderr, stdout, tf};

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

/// `tf` with its data folder in `data`.
fn tf_data(data: &std::path::Path, args: &[&str]) -> Output {
    let scope = if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { "--user" } else { "--system" };
    Command::new(env!("CARGO_BIN_EXE_tf"))
        .arg(scope)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .env("TASKFLOWS_DATA_DIR", data)
        .output()
        .expect("tf runs")
}

/// Create the services in `toml` (after removing what `pattern` matches).
fn create(pattern: &str, toml: &str) {
    let (_dir, path) = service_file(toml);
    let _ = tf(&["remove", pattern]);
    let out = tf(&["create", &path]);
    assert!(out.status.success(), "create: {}{}", stdout(&out), stderr(&out));
}

/// Run `tf monitor check ARGS` until `done` holds for its output, at most 15 s.
fn check_until(args: &[&str], done: impl Fn(&Output) -> bool) -> Output {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut all = vec!["monitor", "check"];
    all.extend(args);
    loop {
        let out = tf(&all);
        if done(&out) || Instant::now() > deadline {
            return out;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// A service run every second by its timer.
fn every_second(name: &str, command: &str) -> String {
    format!(
        "[[service]]\nname = \"{name}\"\nstart_command = \"{command}\"\nstart_schedule = {{ period = \"1s\", start_on = \"boot\" }}\n"
    )
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_healthy_timers_exit_0() {
    in_sandbox();
    let toml = every_second("mon-ok-periodic", "/bin/true")
        + "[[service]]\nname = \"mon-ok-calendar\"\nstart_command = \"/bin/true\"\nstart_schedule = \"*:*:0/2\"\n";
    create("mon-ok-*", &toml);
    // a few runs of each, then healthy every time
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..3 {
        let out = tf(&["monitor", "check", "mon-ok-*", "--grace", "3s"]);
        assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
        assert_eq!(stdout(&out), "2 service(s) with timers checked: all healthy\n");
        std::thread::sleep(Duration::from_millis(700));
    }
    let out = tf(&["monitor", "check", "mon-ok-*", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json, serde_json::json!({ "version": 1, "checked": 2, "problems": [], "undelivered": [] }));
    assert!(tf(&["remove", "mon-ok-*"]).status.success());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_reports_a_failed_last_run() {
    in_sandbox();
    create("mon-fail", &every_second("mon-fail", "/bin/sh -c 'exit 3'"));
    let out = check_until(&["mon-fail", "--grace", "5s"], |o| stdout(o).contains("last-run-failed"));
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("SERVICE"), "{text}");
    let row = text.lines().find(|l| l.starts_with("mon-fail ")).expect("a row");
    assert!(row.contains("last-run-failed") && row.ends_with("ended with exit-code, exit status 3"), "{row}");
    let out = tf(&["monitor", "check", "mon-fail", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["problems"][0]["service"], "mon-fail");
    assert_eq!(json["problems"][0]["problem"], "last-run-failed");
    assert!(tf(&["remove", "mon-fail"]).status.success());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_reports_a_stopped_timer_but_not_a_paused_one() {
    in_sandbox();
    create("mon-stopped", &every_second("mon-stopped", "/bin/true"));
    let out = tf(&["stop", "-t", "mon-stopped"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = tf(&["monitor", "check", "mon-stopped"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let row = stdout(&out).lines().find(|l| l.starts_with("mon-stopped ")).map(str::to_owned).expect("a row");
    assert!(row.contains("timer-inactive") && row.contains("the timer is inactive (enabled: enabled)"), "{row}");
    // disabled and stopped: paused on purpose
    assert!(tf(&["disable", "-t", "mon-stopped"]).status.success());
    let out = tf(&["monitor", "check", "mon-stopped"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(tf(&["remove", "mon-stopped"]).status.success());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_reports_a_hanging_run_as_overdue() {
    in_sandbox();
    create("mon-hang", &every_second("mon-hang", "/bin/sleep 60"));
    let out = check_until(&["mon-hang", "--grace", "1s"], |o| o.status.code() == Some(1));
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let row = stdout(&out).lines().find(|l| l.starts_with("mon-hang ")).map(str::to_owned).expect("a row");
    assert!(row.contains("overdue") && row.contains("is still running; the run due"), "{row}");
    assert!(tf(&["remove", "mon-hang"]).status.success());
}

/// An HTTP server on loopback that answers 204 and keeps each request's body.
fn webhook_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let (url, bodies, _) = failing_webhook_server(false);
    (url, bodies)
}

/// An HTTP server on loopback that answers 500 while its switch is on, else 204 and keeps the
/// request's body (the alerts it took).
fn failing_webhook_server(failing: bool) -> (String, Arc<Mutex<Vec<String>>>, Arc<AtomicBool>) {
    let fail = Arc::new(AtomicBool::new(failing));
    let switch = Arc::clone(&fail);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            if fail.load(Ordering::SeqCst) {
                let answer = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
                let _ = reader.into_inner().write_all(answer);
                continue;
            }
            sink.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            let _ = reader.into_inner().write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    (url, bodies, switch)
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_alerts_each_problem_once_and_its_resolution() {
    in_sandbox();
    let data = tempfile::tempdir().unwrap();
    let (url, posts) = webhook_server();
    create("mon-alert", &every_second("mon-alert", "/bin/sh -c 'exit 4'"));
    check_until(&["mon-alert"], |o| stdout(o).contains("last-run-failed"));

    let args = ["monitor", "check", "mon-alert", "--webhook", &url];
    let first = tf_data(data.path(), &args);
    assert_eq!(first.status.code(), Some(1), "{}{}", stdout(&first), stderr(&first));
    let second = tf_data(data.path(), &args);
    assert_eq!(second.status.code(), Some(1), "still a problem: {}", stdout(&second));
    let bodies = posts.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one alert for one problem: {bodies:#?}");
    let content =
        serde_json::from_str::<serde_json::Value>(&bodies[0]).unwrap()["content"].as_str().unwrap().to_owned();
    assert!(content.starts_with("tf monitor: 1 new problem(s) on "), "{content}");
    assert!(content.contains("SERVICE    PROBLEM          DETAIL\n"), "a table: {content}");
    assert!(content.contains("\nmon-alert  last-run-failed  the run started "), "{content}");
    let state = std::fs::read_to_string(data.path().join("monitor/state.json")).expect("state written");
    assert!(state.contains("\"service\": \"mon-alert\"") && state.contains("\"last-run-failed\""), "{state}");

    // fixed: the next successful run resolves it, alerted once
    create("mon-alert", &every_second("mon-alert", "/bin/true"));
    let healthy = check_until(&["mon-alert"], |o| o.status.code() == Some(0));
    assert_eq!(healthy.status.code(), Some(0), "{}", stdout(&healthy));
    assert_eq!(tf_data(data.path(), &args).status.code(), Some(0));
    assert_eq!(tf_data(data.path(), &args).status.code(), Some(0));
    let bodies = posts.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert!(bodies[1].contains("tf monitor: 1 problem(s) resolved on "), "{}", bodies[1]);
    let state = std::fs::read_to_string(data.path().join("monitor/state.json")).unwrap();
    assert!(!state.contains("mon-alert"), "{state}");
    assert!(tf(&["remove", "mon-alert"]).status.success());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_retries_only_the_destination_that_failed() {
    in_sandbox();
    let data = tempfile::tempdir().unwrap();
    let (good, good_posts) = webhook_server();
    let (broken, broken_posts, failing) = failing_webhook_server(true);
    create("mon-retry", &every_second("mon-retry", "/bin/sh -c 'exit 6'"));
    check_until(&["mon-retry"], |o| stdout(o).contains("last-run-failed"));
    let args = ["monitor", "check", "mon-retry", "--webhook", &good, "--webhook", &broken];

    for _ in 0..2 {
        let out = tf_data(data.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains("the alert was not delivered to webhook; the next check tries again"));
    }
    assert_eq!(good_posts.lock().unwrap().len(), 1, "the working webhook is alerted once");
    assert!(broken_posts.lock().unwrap().is_empty());

    // repaired: the next check alerts it, and only it
    failing.store(false, Ordering::SeqCst);
    let out = tf_data(data.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stderr(&out), "", "all delivered");
    assert_eq!(tf_data(data.path(), &args).status.code(), Some(1));
    assert_eq!(good_posts.lock().unwrap().len(), 1, "{:#?}", good_posts.lock().unwrap());
    let late = broken_posts.lock().unwrap().clone();
    assert_eq!(late.len(), 1, "{late:#?}");
    assert!(late[0].contains("1 new problem(s)") && late[0].contains("mon-retry"), "{}", late[0]);
    assert!(tf(&["remove", "mon-retry"]).status.success());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_forgets_removed_services_and_alerts_them_again_when_re_created() {
    in_sandbox();
    let data = tempfile::tempdir().unwrap();
    let (url, posts) = webhook_server();
    // mon-gone-keep keeps the pattern matching once mon-gone-x is removed
    let failing = every_second("mon-gone-x", "/bin/sh -c 'exit 5'");
    create("mon-gone-*", &(every_second("mon-gone-keep", "/bin/true") + &failing));
    check_until(&["mon-gone-*"], |o| stdout(o).contains("last-run-failed"));
    let args = ["monitor", "check", "mon-gone-*", "--webhook", &url];
    assert_eq!(tf_data(data.path(), &args).status.code(), Some(1));
    assert_eq!(posts.lock().unwrap().len(), 1);
    let state_file = data.path().join("monitor/state.json");
    assert!(std::fs::read_to_string(&state_file).unwrap().contains("mon-gone-x"));

    assert!(tf(&["remove", "mon-gone-x"]).status.success());
    let out = tf_data(data.path(), &args);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let state = std::fs::read_to_string(&state_file).unwrap();
    assert!(!state.contains("mon-gone-x"), "a removed service's entry is dropped: {state}");
    assert_eq!(posts.lock().unwrap().len(), 1, "dropped silently");

    // created again and failing again: a new problem, alerted again
    let (_dir, path) = crate::service_file(&failing);
    assert!(tf(&["create", &path]).status.success());
    check_until(&["mon-gone-x"], |o| stdout(o).contains("last-run-failed"));
    assert_eq!(tf_data(data.path(), &args).status.code(), Some(1));
    let bodies = posts.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "{bodies:#?}");
    assert!(bodies[1].contains("1 new problem(s)") && bodies[1].contains("mon-gone-x"), "{}", bodies[1]);
    assert!(tf(&["remove", "mon-gone-*"]).status.success());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn monitor_install_creates_an_active_periodic_service_that_alerts() {
    in_sandbox();
    let data = tempfile::tempdir().unwrap();
    let (url, posts) = webhook_server();
    create("mon-inst-fail", &every_second("mon-inst-fail", "/bin/false"));
    check_until(&["mon-inst-fail"], |o| stdout(o).contains("last-run-failed"));
    let _ = tf(&["remove", "tf-monitor"]);
    let out = tf_data(
        data.path(),
        &["monitor", "install", "mon-inst-*", "--every", "10min", "--grace", "5min", "--webhook", &url],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("start taskflows-tf-monitor.timer: done"), "{}", stdout(&out));
    let out = tf(&["show", "tf-monitor"]);
    let units = stdout(&out);
    let exec = " monitor check \"mon-inst-*\" --grace 5min --exit-zero\n";
    assert!(units.contains(exec), "{exec:?} in {units}");
    assert!(units.contains("OnUnitActiveSec=10min"), "{units}");
    // A webhook URL is a bearer secret: never in a unit (readable, and the command line in `ps`),
    // but in the private env file the unit reads.
    assert!(!units.contains(&url) && !units.contains("/hook"), "the URL is in a unit: {units}");
    let env_file = data.path().join("monitor/monitor.env");
    assert!(units.contains(&format!("EnvironmentFile={}\n", env_file.display())), "{units}");
    let meta = std::fs::metadata(&env_file).expect("monitor.env written");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o600);
    let env_text = std::fs::read_to_string(&env_file).unwrap();
    assert!(env_text.contains("TF_MONITOR_WEBHOOKS=") && env_text.contains(&url), "{env_text}");

    // the timer runs it at once (OnBootSec=1s is past): one alert, and its own run succeeds
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        let out = tf(&["status", "-m", "tf-monitor", "--json"]);
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
        let status = status["services"].clone();
        if status[0]["last_finish"].is_string() || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status[0]["timer_active"], "active", "{status}");
    assert_eq!(status[0]["result"], "success", "problems found are not a failed run: {status}");
    let bodies = posts.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "{bodies:#?}");
    assert!(bodies[0].contains("mon-inst-fail") && bodies[0].contains("last-run-failed"), "{}", bodies[0]);
    assert!(data.path().join("monitor/state.json").exists(), "the service used TASKFLOWS_DATA_DIR");

    let out = tf(&["remove", "tf-monitor"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("removed taskflows-tf-monitor.timer"), "{}", stdout(&out));
    assert!(tf(&["remove", "mon-inst-fail"]).status.success());
}

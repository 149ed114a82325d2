//! Rust functions as services: the `rust_services` example of taskflows-app installs its own
//! units, systemd runs them on schedule, and `tf history` shows the service runs and the task
//! runs inside them.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::{stderr, stdout, tf, wait_for};

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

fn scope_flag() -> &'static str {
    if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { "--user" } else { "--system" }
}

/// The example binary `cargo test --workspace` built beside `tf`.
fn example() -> PathBuf {
    let tf = PathBuf::from(env!("CARGO_BIN_EXE_tf"));
    let exe = tf.parent().expect("tf's folder").join("examples/rust_services");
    assert!(exe.exists(), "{} is missing: build it with `cargo test --workspace --no-run`", exe.display());
    exe.canonicalize().expect("the example's real path")
}

fn run(exe: &PathBuf, args: &[&str]) -> Output {
    Command::new(exe).args(args).output().expect("the example runs")
}

/// The runs of `example-*` once `done` holds for them, within a minute.
fn history_until(done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    wait_for(Duration::from_secs(60), Duration::from_millis(500), || {
        let out = tf(&["history", "-m", "example-*", "--json"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let history: Value = serde_json::from_slice(&out.stdout).expect("JSON history");
        let runs: Vec<Value> = history["runs"].as_array().cloned().unwrap_or_default();
        if done(&runs) { Ok(runs) } else { Err(format!("no such runs within a minute: {runs:#?}")) }
    })
}

fn task_run<'a>(runs: &'a [Value], name: &str, result: &str) -> Option<&'a Value> {
    runs.iter().find(|r| r["kind"] == "task" && r["task_name"] == name && r["result"] == result)
}

/// The settled service run a task run was part of.
fn service_run<'a>(runs: &'a [Value], task: &Value) -> Option<&'a Value> {
    runs.iter()
        .find(|r| r["kind"] == "service" && r["invocation_id"] == task["invocation_id"] && r["result"] != "running")
}

fn journal_entry(name: &str, status: &str) -> Value {
    let out = Command::new("journalctl")
        .args([
            "--no-pager",
            "-o",
            "json",
            &format!("TASKFLOWS_TASK_NAME={name}"),
            &format!("TASKFLOWS_TASK_STATUS={status}"),
        ])
        .output()
        .expect("journalctl runs");
    let text = stdout(&out);
    let last = text.lines().last().unwrap_or_else(|| panic!("no journal entry for task {name}: {}", stderr(&out)));
    serde_json::from_str(last).expect("a JSON journal entry")
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn app_example_installs_its_tasks_and_their_runs_reach_history() {
    in_sandbox();
    let exe = example();
    let scope = scope_flag();
    let _ = run(&exe, &["remove", scope]);

    let out = run(&exe, &["install", scope]);
    assert!(out.status.success(), "install: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with("2 service(s) of rust_services installed\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains("start taskflows-example-flaky.timer: done"), "{}", stdout(&out));

    let out = tf(&["show", "example-flaky", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).expect("JSON show");
    let unit = shown["units"].as_array().unwrap().iter().find(|u| u["name"] == "taskflows-example-flaky.service");
    let content = unit.expect("the service unit")["content"].as_str().unwrap();
    let exec = format!("\nExecStart={} __taskflows-task example-flaky\n", exe.display());
    assert!(content.contains(&exec), "{exec:?} in\n{content}");

    // The flaky task fires at once (its boot delay is long past), the failing one at the next
    // quarter minute; each run's service record settles after its process exits.
    let runs = history_until(|runs| {
        [("example-flaky", "success"), ("example-failing", "failed")]
            .iter()
            .all(|(name, result)| task_run(runs, name, result).is_some_and(|t| service_run(runs, t).is_some()))
    });
    let flaky = task_run(&runs, "example-flaky", "success").unwrap();
    assert_eq!(flaky["attempts"], 2, "{flaky}");
    assert_eq!(flaky["unit"], "taskflows-example-flaky.service");
    let time = |key: &str| flaky[key].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    assert!(time("end").duration_since(time("start")).as_secs_f64() >= 1.0, "a 1s backoff: {flaky}");
    let flaky_service = service_run(&runs, flaky).unwrap();
    assert_eq!(flaky_service["result"], "success", "{flaky_service}");
    let failing = task_run(&runs, "example-failing", "failed").unwrap();
    assert_eq!(failing["attempts"], 2, "{failing}");
    assert_eq!(failing["error"], "input file /srv/in.csv not found");
    let failing_service = service_run(&runs, failing).unwrap();
    assert_eq!(failing_service["result"], "exit-code", "{failing_service}");
    assert_eq!(failing_service["exit"]["status"], 1, "{failing_service}");

    let out = tf(&["history", "-m", "example-flaky"]);
    let text = stdout(&out);
    assert!(text.starts_with("SERVICE"), "{text}");
    assert!(text.lines().any(|l| l.contains("example-flaky (2 attempts)") && l.contains("success")), "{text}");

    let entry = journal_entry("example-flaky", "success");
    let unit_field = if scope == "--user" { "TASKFLOWS_USER_UNIT" } else { "TASKFLOWS_UNIT" };
    assert_eq!(entry[unit_field], "taskflows-example-flaky.service", "{entry:#}");
    assert_eq!(entry["TASKFLOWS_TASK_ATTEMPTS"], "2");
    assert_eq!(entry["PRIORITY"], "6");
    assert_eq!(entry["SYSLOG_IDENTIFIER"], "taskflows-example-flaky");
    assert!(entry["TASKFLOWS_TASK_ID"].as_str().unwrap().ends_with("-1"), "{entry:#}");
    assert!(entry["TASKFLOWS_INVOCATION_ID"].as_str().unwrap().len() == 32, "{entry:#}");
    for field in ["TASKFLOWS_TASK_START_USEC", "TASKFLOWS_TASK_DURATION_USEC"] {
        assert!(entry[field].as_str().unwrap().parse::<u64>().is_ok(), "{field}: {entry:#}");
    }
    assert!(entry["MESSAGE"].as_str().unwrap().starts_with("task example-flaky succeeded after 2 attempt(s) in "));
    // A log line inside the task (its failed first attempt) carries the task span's fields
    // natively (TASK_NAME, TASK_ID, SPAN_NAME), which the shipped pipelines turn into the `task`
    // label.
    let out = Command::new("journalctl")
        .args(["--no-pager", "-o", "json", "TASK_NAME=example-flaky", "MESSAGE=task attempt failed"])
        .output()
        .expect("journalctl runs");
    let line = stdout(&out).lines().last().map(|l| serde_json::from_str::<Value>(l).unwrap());
    let line = line.unwrap_or_else(|| panic!("no log line of the flaky task's first attempt: {}", stderr(&out)));
    let trusted = if scope == "--user" { "_SYSTEMD_USER_UNIT" } else { "_SYSTEMD_UNIT" };
    assert_eq!(line[trusted], "taskflows-example-flaky.service", "the unit's own line: {line:#}");
    assert!(line["TASK_ID"].as_str().is_some_and(|id| id.ends_with("-1")), "{line:#}");
    assert_eq!(line["SPAN_NAME"], "task", "{line:#}");
    assert_eq!(line["PRIORITY"], "4", "{line:#}");
    let entry = journal_entry("example-failing", "failed");
    assert_eq!(entry["PRIORITY"], "3");
    assert_eq!(entry["TASKFLOWS_TASK_ERROR"], "input file /srv/in.csv not found");

    let out = run(&exe, &["remove", scope]);
    assert!(out.status.success(), "remove: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("removed taskflows-example-flaky.timer"), "{}", stdout(&out));
    let out = tf(&["list", "example-*"]);
    assert_eq!(out.status.code(), Some(4), "nothing left: {}", stdout(&out));
}

/// The `watchdog_service` example beside `rust_services`.
fn watchdog_example() -> PathBuf {
    let exe = example().with_file_name("watchdog_service");
    assert!(exe.exists(), "{} is missing: build it with `cargo test --workspace --no-run`", exe.display());
    exe
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn app_watchdog_service_notifies_ready_and_feeds_its_watchdog() {
    in_sandbox();
    let exe = watchdog_example();
    let scope = scope_flag();
    let _ = run(&exe, &["remove", scope]);
    let out = run(&exe, &["install", scope]);
    assert!(out.status.success(), "install: {}{}", stdout(&out), stderr(&out));

    let out = tf(&["show", "watchdog-demo", "--json"]);
    let shown: Value = serde_json::from_slice(&out.stdout).expect("JSON show");
    let unit = shown["units"].as_array().unwrap().iter().find(|u| u["name"] == "taskflows-watchdog-demo.service");
    let content = unit.expect("the service unit")["content"].as_str().unwrap();
    for line in ["\nType=notify\n", "\nNotifyAccess=main\n", "\nWatchdogSec=2s\n"] {
        assert!(content.contains(line), "{line:?} in\n{content}");
    }

    // Type=notify: the start job ends only at READY=1 (without it, after TimeoutStartSec= with
    // a failure); the task then runs 6 s under a 2 s watchdog, which would kill it unfed.
    let started = std::time::Instant::now();
    let out = tf(&["start", "watchdog-demo", "--wait"]);
    let waited = started.elapsed();
    assert!(out.status.success(), "start: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("run of watchdog-demo: success"), "{}", stdout(&out));

    // The run's records settle in the journal just after the process exits.
    let runs = wait_for(Duration::from_secs(30), Duration::from_millis(300), || {
        let out = tf(&["history", "-m", "watchdog-demo", "--json"]);
        let history: Value = serde_json::from_slice(&out.stdout).expect("JSON history");
        let runs = history["runs"].as_array().cloned().unwrap_or_default();
        let settled = task_run(&runs, "watchdog-demo", "success").is_some_and(|t| service_run(&runs, t).is_some());
        if settled { Ok(runs) } else { Err(format!("no settled run: {runs:#?}")) }
    });
    let services: Vec<&Value> = runs.iter().filter(|r| r["kind"] == "service").collect();
    assert_eq!(services.len(), 1, "one run, no watchdog restart: {runs:#?}");
    let service = services[0];
    assert_eq!(service["result"], "success", "not a watchdog kill: {service}");
    // The task's own record has its start and end (a user manager logs no end of a run that
    // succeeded, so the service run's may be missing).
    let task = task_run(&runs, "watchdog-demo", "success").unwrap_or_else(|| panic!("the task run: {runs:#?}"));
    assert_eq!(task["attempts"], 1, "{task}");
    let time = |key: &str| task[key].as_str().unwrap_or_else(|| panic!("{key} of {task}")).parse::<jiff::Timestamp>();
    let ran = time("end").unwrap().duration_since(time("start").unwrap()).as_secs_f64();
    assert!(ran >= 6.0, "the task ran its 6 s: {ran} s, {task}");
    crate::figure(&format!(
        "watchdog service: its task ran {ran:.2} s under WatchdogSec=2s ({:.2} s past the interval); `tf start --wait` took {:.2} s",
        ran - 2.0,
        waited.as_secs_f64()
    ));

    let out = run(&exe, &["remove", scope]);
    assert!(out.status.success(), "remove: {}{}", stdout(&out), stderr(&out));
}

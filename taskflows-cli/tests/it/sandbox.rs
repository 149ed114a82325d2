//! The user's whole path through `tf`, inside a real systemd.

use crate::{service_file, stderr, stdout, tf};

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn create_status_start_history_logs_remove() {
    in_sandbox();
    let (_dir, path) = service_file(
        r#"
[[service]]
name = "cli-job"
description = "CLI end to end"
start_command = "/bin/sh -c 'echo job output line; sleep 0.3'"
start_schedule = "*-*-* 04:00:00 UTC"

[[service]]
name = "cli-failing"
start_command = "/bin/sh -c 'exit 5'"
"#,
    );
    let _ = tf(&["remove", "cli-*"]);

    let out = tf(&["create", &path]);
    assert!(out.status.success(), "create: {}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("taskflows-cli-job.service") && text.contains("start taskflows-cli-job.timer: done"),
        "{text}"
    );
    assert!(text.ends_with("2 service(s) created, systemd reloaded once\n"), "{text}");

    let again = tf(&["create", &path]);
    assert!(stdout(&again).ends_with("2 service(s) created, nothing changed\n"), "{}", stdout(&again));

    let out = tf(&["status", "-m", "cli-*"]);
    let text = stdout(&out);
    assert!(text.starts_with("SERVICE"), "{text}");
    let job_row = text.lines().find(|l| l.starts_with("cli-job ")).expect("a row for cli-job");
    assert!(job_row.contains("CLI end to end") && job_row.contains("loaded  inactive (dead)"), "{job_row}");
    assert!(job_row.contains("OnCalendar=*-*-* 04:00:00 UTC"), "{job_row}");
    assert_eq!(text.lines().filter(|l| l.starts_with("cli-job ")).count(), 1, "helper units are not rows");

    let out = tf(&["start", "cli-job", "--wait"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("run of cli-job: success, exit status 0"), "{}", stdout(&out));

    let out = tf(&["start", "cli-failing", "--wait"]);
    assert_eq!(out.status.code(), Some(1), "a failed run fails the command: {}", stdout(&out));
    assert!(stdout(&out).contains("run of cli-failing: exit-code, exit status 5"), "{}", stdout(&out));

    let out = tf(&["history", "-m", "cli-job", "--json"]);
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON history");
    let runs = &history["runs"];
    assert_eq!(runs[0]["result"], "success", "{runs}");
    assert_eq!(runs[0]["exit"], serde_json::json!({ "how": "exited", "status": 0 }));

    let out = tf(&["logs", "cli-job", "-n", "20"]);
    assert!(stdout(&out).contains("job output line"), "{}", stdout(&out));

    let out = tf(&["next", "cli-job", "-n", "2", "--json"]);
    let next: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON next");
    let next = &next["runs"];
    assert_eq!(next.as_array().unwrap().len(), 2, "{next}");
    let at = |i: usize| next[i]["at"].as_str().unwrap().parse::<jiff::Timestamp>().unwrap();
    let day = 86_400;
    assert_eq!(at(0).as_second() % day, 4 * 3_600, "at 04:00 UTC: {next}");
    assert_eq!(at(1).as_second() - at(0).as_second(), day);

    let out = tf(&["status", "-m", "no-such-service"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).starts_with("error: no service matches \"no-such-service\""), "{}", stderr(&out));

    let out = tf(&["remove", "cli-*"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("removed taskflows-cli-job.timer"), "{}", stdout(&out));
    let out = tf(&["list", "cli-*"]);
    assert_eq!(out.status.code(), Some(4), "nothing left: {}", stdout(&out));
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn run_once_reports_the_exit() {
    in_sandbox();
    let ok = tf(&["run", "--name", "once", "--", "/bin/sh", "-c", "exit 0"]);
    assert!(ok.status.success(), "{}{}", stdout(&ok), stderr(&ok));
    assert!(stdout(&ok).contains(": success, exit status 0"), "{}", stdout(&ok));
    let failed = tf(&["run", "--", "/bin/sh", "-c", "exit 9"]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(stdout(&failed).contains(": exit-code, exit status 9"), "{}", stdout(&failed));
}

/// `tf run --timeout` ends a run that takes too long; Ctrl-C (SIGINT) stops a run and leaves no
/// transient unit behind.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn run_has_a_timeout_and_ctrl_c_leaves_no_unit() {
    in_sandbox();
    let started = std::time::Instant::now();
    let timed = tf(&["run", "--name", "slow", "--timeout", "1s", "--", "/bin/sleep", "30"]);
    assert_eq!(timed.status.code(), Some(1), "{}{}", stdout(&timed), stderr(&timed));
    assert!(stdout(&timed).contains(": timeout"), "{}", stdout(&timed));
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "{:?}", started.elapsed());

    let user = std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user");
    let scope = if user { "--user" } else { "--system" };
    let units = || {
        let out = std::process::Command::new("systemctl")
            .args(if user { &["--user"][..] } else { &[][..] })
            .args(["list-units", "--all", "--no-legend", "taskflows-run-ctrlc-*"])
            .output()
            .unwrap();
        stdout(&out)
    };
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tf"))
        .args([scope, "run", "--name", "ctrlc", "--", "/bin/sleep", "60"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    crate::wait_for(std::time::Duration::from_secs(10), std::time::Duration::from_millis(50), || {
        if units().contains("taskflows-run-ctrlc-") { Ok(()) } else { Err("the run's unit never appeared".into()) }
    });
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains("interrupted; stopped taskflows-run-ctrlc-"), "{}", stderr(&out));
    crate::wait_for(std::time::Duration::from_secs(10), std::time::Duration::from_millis(100), || {
        let left = units();
        if left.trim().is_empty() { Ok(()) } else { Err(format!("left behind: {left}")) }
    });
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn show_list_enable_disable_stop_restart_check_and_diff() {
    in_sandbox();
    let toml = r#"
[[service]]
name = "ctl-worker"
start_command = "/bin/sleep 600"
stop_schedule = "*-*-* 23:00:00 UTC"
startup_requirements = [{ kind = "cpus", amount = 1, silent = true }]
"#;
    let (_dir, path) = service_file(toml);
    let _ = tf(&["remove", "ctl-*"]);
    assert!(tf(&["create", &path]).status.success());

    let out = tf(&["list", "ctl-*", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON list");
    assert_eq!(
        list,
        serde_json::json!({ "version": 1, "services": [{ "name": "ctl-worker", "units": ["taskflows-ctl-worker.service", "stop-taskflows-ctl-worker.service", "stop-taskflows-ctl-worker.timer"] }] })
    );

    let out = tf(&["show", "ctl-worker"]);
    let text = stdout(&out);
    assert!(text.contains("/taskflows-ctl-worker.service\n[Unit]\n"), "{text}");
    assert!(text.contains("ConditionCPUs=>=1\n"), "{text}");

    // Neither -t nor --services: the service and its timers, each unit said.
    let out = tf(&["enable", "ctl-worker"]);
    assert_eq!(stdout(&out), "enabled taskflows-ctl-worker.service\nenabled stop-taskflows-ctl-worker.timer\n");
    let status: serde_json::Value =
        serde_json::from_slice(&tf(&["status", "-m", "ctl-worker", "--json"]).stdout).unwrap();
    assert_eq!(status["services"][0]["enabled"], true);
    let out = tf(&["disable", "ctl-worker", "--services"]);
    assert_eq!(stdout(&out), "disabled taskflows-ctl-worker.service\n");

    let out = tf(&["start", "ctl-worker", "--services"]);
    assert_eq!(stdout(&out), "start taskflows-ctl-worker.service: done\n");
    let out = tf(&["restart", "ctl-worker"]);
    assert_eq!(
        stdout(&out),
        "restart taskflows-ctl-worker.service: done\nrestart stop-taskflows-ctl-worker.timer: done\n"
    );
    let out = tf(&["stop", "ctl-worker", "-t", "--services"]);
    assert_eq!(
        stdout(&out),
        "stop stop-taskflows-ctl-worker.timer: done\nstop taskflows-ctl-worker.service: done\n",
        "timers first, then services: {}",
        stderr(&out)
    );

    let out = tf(&["check", "ctl-worker"]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("ctl-worker:\n  cpus "), "{}", stdout(&out));

    let changed = service_file(&toml.replace("sleep 600", "sleep 700"));
    let out = tf(&["create", &changed.1, "--dry-run"]);
    let text = stdout(&out);
    assert!(
        text.contains("-ExecStart=/bin/sleep 600\n+ExecStart=/bin/sleep 700\n"),
        "a diff against the installed unit: {text}"
    );

    assert!(tf(&["remove", "ctl-*"]).status.success());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn waiting_requirements_gate_the_start_through_tf_check() {
    in_sandbox();
    // The unit runs this very tf binary as its ExecCondition=.
    let (_dir, path) = service_file(
        r#"
[[service]]
name = "adm-ok"
start_command = "/bin/sh -c 'echo admitted; sleep 0.3'"
startup_requirements = [{ kind = "cpu_pressure", max_percent = 100, timespan = "10sec", wait = "30s" }]

[[service]]
name = "adm-check"
start_command = "/bin/sh -c 'echo checked only; sleep 0.3'"
startup_requirements = [{ kind = "memory_pressure", max_percent = 100, wait = "30s" }, { kind = "cpus", amount = 1 }]
"#,
    );
    let _ = tf(&["remove", "adm-*"]);
    let out = tf(&["create", &path]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let shown = stdout(&tf(&["show", "adm-ok"]));
    assert!(
        shown.contains(" check --wait 30s adm-ok\n") && shown.contains("X-TaskflowsWait=AssertCPUPressure=100%/10sec"),
        "{shown}"
    );

    let out = tf(&["start", "adm-ok", "--wait"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&tf(&["logs", "adm-ok"])).contains("admitted"));
    // The ExecCondition's own report is in the unit's journal.
    let logs = stdout(&tf(&["logs", "adm-ok", "-n", "50"]));
    assert!(logs.contains("cpu_pressure ") && logs.contains("(limit 100%): ok"), "{logs}");

    // tf check on the installed unit reads both kinds of requirement back.
    let out = tf(&["check", "adm-check"]);
    let text = stdout(&out);
    assert!(text.contains("  memory_pressure ") && text.contains("  cpus "), "{text}");
    assert!(tf(&["remove", "adm-*"]).status.success());
}

fn now_us() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as u64
}

/// `(unit, invocation id, task unit)` fields of the journal in the test's scope.
fn journal_fields() -> (&'static str, &'static str, &'static str) {
    if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") {
        ("USER_UNIT", "USER_INVOCATION_ID", "TASKFLOWS_USER_UNIT")
    } else {
        ("UNIT", "INVOCATION_ID", "TASKFLOWS_UNIT")
    }
}

/// Write one journal entry with `fields` through journald's native protocol (`logger
/// --journald`), as root or, with `as_nobody`, as user 65534.
fn write_journal_entry(fields: &[(&str, &str)], as_nobody: bool) {
    use std::io::Write as _;
    let mut cmd = if as_nobody {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "logger", "--journald"]);
        c
    } else {
        let mut c = std::process::Command::new("logger");
        c.arg("--journald");
        c
    };
    let mut child = cmd.stdin(std::process::Stdio::piped()).spawn().expect("logger runs");
    let entry: String = fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    child.stdin.take().unwrap().write_all(entry.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "logger wrote {entry}");
}

/// Wait until journalctl shows an entry with `TASKFLOWS_TASK_NAME=name`.
fn wait_for_journal_entry(name: &str) {
    crate::wait_for(std::time::Duration::from_secs(10), std::time::Duration::from_millis(100), || {
        let out = std::process::Command::new("journalctl")
            .args(["--no-pager", "-o", "json", &format!("TASKFLOWS_TASK_NAME={name}")])
            .output()
            .expect("journalctl runs");
        if out.stdout.is_empty() { Err(format!("journald never stored task {name}")) } else { Ok(()) }
    });
}

/// Whether systemd still has `unit` loaded (it garbage-collects an inactive unit nothing needs).
fn loaded(unit: &str) -> bool {
    let mut cmd = std::process::Command::new("systemctl");
    if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") {
        cmd.arg("--user");
    }
    let out = cmd.args(["list-units", "--all", "--no-legend", "--plain", unit]).output().expect("systemctl runs");
    stdout(&out).contains(unit)
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn status_and_history_keep_task_records_in_their_place() {
    in_sandbox();
    let (unit_field, id_field, task_unit_field) = journal_fields();
    let unit = "taskflows-hist-tasked.service";
    // The run records a failed task that was not required (as taskflows-alerts' runner does) and
    // succeeds; the task's record is written after the run started.
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "hist-tasked"
start_command = '''/bin/sh -c 'sleep 0.2; printf "TASKFLOWS_TASK_NAME=hist-side\nTASKFLOWS_TASK_STATUS=failed\nTASKFLOWS_TASK_START_USEC=%s\nTASKFLOWS_TASK_DURATION_USEC=1000\n{task_unit_field}={unit}\nTASKFLOWS_INVOCATION_ID=%s\nMESSAGE=task hist-side failed\n" "$(date +%s%6N)" "$INVOCATION_ID" | logger --journald; sleep 0.5' '''
"#
    ));
    let _ = tf(&["remove", "hist-*"]);
    let out = tf(&["create", &path]);
    assert!(out.status.success(), "create: {}{}", stdout(&out), stderr(&out));
    let out = tf(&["start", "hist-tasked", "--wait"]);
    assert!(stdout(&out).contains("run of hist-tasked: success, exit status 0"), "{}{}", stdout(&out), stderr(&out));
    wait_for_journal_entry("hist-side");

    let out = tf(&["history", "-m", "hist-tasked", "--json"]);
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON history");
    let runs: Vec<serde_json::Value> = history["runs"].as_array().unwrap().clone();
    let task = runs.iter().find(|r| r["kind"] == "task").unwrap_or_else(|| panic!("the task's record: {runs:#?}"));
    assert_eq!((&task["task_name"], &task["result"]), (&"hist-side".into(), &"failed".into()), "{task:#}");
    let service = runs.iter().find(|r| r["kind"] == "service").expect("the service run");
    assert_eq!(service["invocation_id"], task["invocation_id"], "{runs:#?}");
    let invocation = service["invocation_id"].as_str().unwrap().to_owned();

    // Once systemd forgot the unit, status reads its last run from the journal: the service
    // run, not the task in it.
    crate::wait_for(std::time::Duration::from_secs(20), std::time::Duration::from_millis(200), || {
        if loaded(unit) { Err(format!("systemd never unloaded {unit}")) } else { Ok(()) }
    });
    let out = tf(&["status", "-m", "hist-tasked", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    let status = &status["services"];
    assert_eq!(status[0]["result"], "success", "{status:#}");
    assert_eq!(status[0]["last_start"], service["start"], "{status:#}");
    assert_eq!(status[0]["last_finish"], service["end"], "{status:#}");
    let out = tf(&["status", "-m", "hist-tasked"]);
    assert!(stdout(&out).lines().any(|l| l.starts_with("hist-tasked ") && l.contains("success")), "{}", stdout(&out));

    // Entries anyone can write, naming the unit: none of them is a run.
    let forged_id = "0123456789abcdef0123456789abcdef";
    let task_entry = |name: &'static str, id: &str| {
        [
            ("MESSAGE", format!("task {name} failed")),
            ("TASKFLOWS_TASK_NAME", name.to_owned()),
            ("TASKFLOWS_TASK_STATUS", "failed".to_owned()),
            ("TASKFLOWS_TASK_START_USEC", now_us().to_string()),
            (task_unit_field, unit.to_owned()),
            ("TASKFLOWS_INVOCATION_ID", id.to_owned()),
        ]
    };
    let write = |fields: &[(&str, String)], as_nobody: bool| {
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        write_journal_entry(&fields, as_nobody);
    };
    // Another user, naming the real run.
    write(&task_entry("forged-by-nobody", &invocation), true);
    // Outside the unit, naming a run that does not exist.
    write(&task_entry("forged-no-run", forged_id), false);
    // Another user, forging the run too.
    write(
        &[
            ("MESSAGE", format!("Starting {unit}...")),
            ("MESSAGE_ID", "7d4958e842da4a758f6c1cdc7b36dcc5".to_owned()),
            (unit_field, unit.to_owned()),
            (id_field, forged_id.to_owned()),
        ],
        true,
    );
    write(&task_entry("forged-in-forged-run", forged_id), false);
    for name in ["forged-by-nobody", "forged-no-run", "forged-in-forged-run"] {
        wait_for_journal_entry(name);
    }
    let out = tf(&["history", "-m", "hist-tasked", "--json"]);
    let after: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON history");
    let after: Vec<serde_json::Value> = after["runs"].as_array().unwrap().clone();
    assert_eq!(after, runs, "forged entries are not runs");
    let out = tf(&["history", "-m", "hist-tasked"]);
    assert!(!stdout(&out).contains("forged"), "{}", stdout(&out));
    let out = tf(&["status", "-m", "hist-tasked", "--json"]);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON status");
    assert_eq!(&again["services"], status);

    assert!(tf(&["remove", "hist-*"]).status.success());
}

/// A service's `env` values stay out of its unit (which systemd shows every local user over
/// D-Bus): they are in a private file the unit reads, and reach the service exactly.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn env_values_stay_out_of_the_unit_and_reach_the_service() {
    in_sandbox();
    let data = tempfile::tempdir().unwrap();
    let canary = format!("canary-{}-%h-$HOME-\"q\"-'s'", std::process::id());
    let (_dir, path) = service_file(&format!(
        "[[service]]\nname = \"secret-env\"\nstart_command = \"/bin/sh -c 'printf %s \\\"$TOKEN\\\"; sleep 0.5'\"\nenv = {{ TOKEN = {} }}\n",
        toml_string(&canary)
    ));
    let env = [("TASKFLOWS_DATA_DIR", data.path().to_str().unwrap())];
    let out = crate::tf_env(&["create", &path], &env);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    for args in
        [&["show", "secret-env"][..], &["show", "secret-env", "--json"], &["create", &path, "--dry-run", "--json"]]
    {
        let out = crate::tf_env(args, &env);
        assert!(!stdout(&out).contains("canary-"), "tf {args:?} shows the value: {}", stdout(&out));
    }
    let user = std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user");
    let show = std::process::Command::new("systemctl")
        .args(if user { &["--user"][..] } else { &[][..] })
        .args(["show", "-p", "Environment", "-p", "EnvironmentFiles", "taskflows-secret-env.service"])
        .output()
        .unwrap();
    assert!(!stdout(&show).contains("canary-"), "systemctl show has it: {}", stdout(&show));
    let file = data.path().join("env/secret-env.env");
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(&file).expect("the values file");
    assert_eq!((meta.mode() & 0o777, meta.uid()), (0o600, 0), "private and root's");
    assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
    let out = crate::tf_env(&["start", "secret-env", "--wait"], &env);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let logs = stdout(&crate::tf_env(&["logs", "secret-env"], &env));
    assert!(logs.contains(&canary), "the service saw exactly the value: {logs}");
    assert!(crate::tf_env(&["remove", "secret-env"], &env).status.success());
    assert!(!file.exists(), "removed with the service");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn credentials_reach_the_service_as_files_and_nowhere_else() {
    in_sandbox();
    use std::os::unix::fs::PermissionsExt as _;
    let data = tempfile::tempdir().unwrap();
    let canary = format!("canary-credential-{}", std::process::id());
    let secret = data.path().join("db_password");
    std::fs::write(&secret, &canary).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let digest = std::process::Command::new("sha256sum").arg(&secret).output().unwrap();
    let digest = stdout(&digest).split_whitespace().next().unwrap().to_owned();
    // The service proves it read the value (its digest) and that no variable holds it.
    let (_dir, path) = service_file(&format!(
        "[[service]]\nname = \"secret-cred\"\nstart_command = \"/bin/sh -c 'sha256sum \\\"$CREDENTIALS_DIRECTORY/db\\\"; env | grep -c canary-credential; sleep 0.5'\"\ncredentials = {{ db = \"{}\" }}\n",
        secret.display()
    ));
    let env = [("TASKFLOWS_DATA_DIR", data.path().to_str().unwrap())];
    let out = crate::tf_env(&["create", &path], &env);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let shown = stdout(&crate::tf_env(&["show", "secret-cred"], &env));
    assert!(shown.contains(&format!("LoadCredential=db:{}", secret.display())), "{shown}");
    let out = crate::tf_env(&["start", "secret-cred", "--wait"], &env);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let logs = stdout(&crate::tf_env(&["logs", "secret-cred"], &env));
    assert!(logs.contains(&digest), "the service read the credential: {logs}");
    assert!(logs.lines().any(|l| l.trim_end().ends_with(" 0") || l.trim() == "0"), "no variable holds it: {logs}");
    assert!(!logs.contains(&canary), "{logs}");
    let user = std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user");
    let show = std::process::Command::new("systemctl")
        .args(if user { &["--user"][..] } else { &[][..] })
        .args(["show", "taskflows-secret-cred.service"])
        .output()
        .unwrap();
    assert!(!stdout(&show).contains(&canary), "systemctl show has it");
    assert!(crate::tf_env(&["remove", "secret-cred"], &env).status.success());
    assert!(secret.exists(), "the user's file stays");

    // Readable by others: refused, naming the field and the fix, nothing created.
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = crate::tf_env(&["create", &path], &env);
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stderr(&out).contains("service[secret-cred].credentials.db: ") && stderr(&out).contains("chmod"),
        "{}",
        stderr(&out)
    );
    assert_eq!(crate::tf_env(&["list", "secret-cred"], &env).status.code(), Some(4), "nothing created");
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `systemctl is-active UNIT` in the test's scope.
fn is_active(unit: &str) -> String {
    let mut cmd = std::process::Command::new("systemctl");
    if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") {
        cmd.arg("--user");
    }
    stdout(&cmd.args(["is-active", unit]).output().expect("systemctl runs")).trim().to_owned()
}

/// `tf stop NAME` stops a timer-driven service's timer too, so it does not fire again; `tf start
/// --wait` says each state change as systemd signals it; `tf logs` filters by time, pattern,
/// priority and run, and refuses bad filters naming them.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn stop_stops_the_timer_and_logs_pick_runs_times_patterns_and_priorities() {
    in_sandbox();
    // Root's user manager logs into the system journal: a name per scope keeps their lines apart.
    let name = format!("stopit-{}", std::env::var("TF_TEST_SCOPE").unwrap_or_else(|_| "system".to_owned()));
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{name}"
start_command = "/bin/sh -c 'echo \"hello from run $(cat /proc/sys/kernel/random/uuid)\"; echo \"<3>an error line\"; sleep 0.5'"
start_schedule = "*-*-* 04:00:00 UTC"
"#
    ));
    let name = name.as_str();
    let _ = tf(&["remove", name]);
    let out = tf(&["create", &path]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let timer = format!("taskflows-{name}.timer");
    let timer = timer.as_str();
    assert_eq!(is_active(timer), "active", "create starts the timer");

    // Two runs, each waited for; progress goes to stderr as plain lines (not a terminal).
    for _ in 0..2 {
        let out = tf(&["start", name, "--wait", "--services"]);
        assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
        assert!(stdout(&out).contains(&format!("run of {name}: success, exit status 0")), "{}", stdout(&out));
        assert!(stderr(&out).ends_with(&format!("{name}: inactive (dead)\n")), "live states: {}", stderr(&out));
    }

    let hello =
        |text: &str| text.lines().filter(|l| l.contains("hello from run")).map(str::to_owned).collect::<Vec<_>>();
    let all = stdout(&tf(&["logs", name, "-n", "200"]));
    let runs = hello(&all);
    assert_eq!(runs.len(), 2, "{all}");
    let history: serde_json::Value =
        serde_json::from_slice(&tf(&["history", "-m", name, "--json"]).stdout).expect("JSON");
    let first_id = history["runs"][1]["invocation_id"].as_str().expect("an invocation id").to_owned();

    // One run's lines: the last, or one by the id `tf history` shows.
    let last = stdout(&tf(&["logs", name, "--run", "last"]));
    assert_eq!(hello(&last), [runs[1].clone()], "{last}");
    let first = stdout(&tf(&["logs", name, "--run", &first_id]));
    assert_eq!(hello(&first), [runs[0].clone()], "{first}");
    // the 12 digits the history table shows are enough
    let table = stdout(&tf(&["history", "-m", name]));
    assert!(table.contains(&first_id[..12]), "{table}");
    let first = stdout(&tf(&["logs", name, "--run", &first_id[..12]]));
    assert_eq!(hello(&first), [runs[0].clone()], "{first}");

    // Pattern and priority.
    let errors = stdout(&tf(&["logs", name, "--priority", "err"]));
    assert_eq!(errors.lines().count(), 2, "{errors}");
    assert!(errors.lines().all(|l| l.ends_with("an error line")), "{errors}");
    let grep = stdout(&tf(&["logs", name, "--grep", "hello"]));
    assert_eq!(hello(&grep).len(), 2, "{grep}");
    assert_eq!(grep.lines().count(), 2, "only the matching lines: {grep}");

    // Times.
    assert_eq!(stdout(&tf(&["logs", name, "--since", "2099-01-01"])), "");
    assert_eq!(stdout(&tf(&["logs", name, "--until", "2001-01-01 00:00"])), "");
    assert_eq!(hello(&stdout(&tf(&["logs", name, "--since", "1h", "--until", "now"]))).len(), 2);

    // Bad filters: exit 2, the field and what is allowed.
    for (args, message) in [
        (&["--since", "yesterday-ish"][..], "--since <TIME>"),
        (&["--run", "12"][..], "is not a run; `last` or an invocation id"),
        (&["--priority", "9"][..], "0 to 7 or emerg"),
        (&["--since", "2026-01-02", "--until", "2026-01-01"][..], "until: "),
        (&["--grep", "("][..], "grep: "),
    ] {
        let mut all = vec!["logs", name];
        all.extend(args);
        let out = tf(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}{}", stdout(&out), stderr(&out));
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }

    // Stop means stop: the timer too, each unit said, timers first.
    let out = tf(&["stop", name]);
    assert_eq!(
        stdout(&out),
        format!("stop taskflows-{name}.timer: done\nstop taskflows-{name}.service: done\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(is_active(timer), "inactive", "tf stop leaves the timer stopped: it does not fire again");
    let status: serde_json::Value =
        serde_json::from_slice(&tf(&["status", "-m", name, "--json"]).stdout).expect("JSON");
    assert_eq!(status["services"][0]["next_elapse"], serde_json::Value::Null, "{status:#}");
    // -t narrows to the timers, and start brings the timer back.
    let out = tf(&["start", name, "-t"]);
    assert_eq!(stdout(&out), format!("start taskflows-{name}.timer: done\n"));
    assert_eq!(is_active(timer), "active");
    let out = tf(&["stop", name, "--services"]);
    assert_eq!(stdout(&out), format!("stop taskflows-{name}.service: done\n"));
    assert_eq!(is_active(timer), "active", "--services leaves the timer alone");
    assert!(tf(&["remove", name]).status.success());
}

//! Create, re-create, change and remove.

use std::time::Duration;

use taskflows_systemd::ActiveState;

use crate::{create, names, setup, state, wait_for};

const WORKER: &str = r#"
[[service]]
name = "lc-worker"
start_command = "/bin/sh -c 'echo version=$V; exec sleep 600'"
env = { V = "1" }
enabled = true
start_schedule = { period = "1h", start_on = "command" }
"#;

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn same_spec_twice_changes_nothing_and_a_change_reaches_the_running_unit() {
    let (systemd, _guard) = setup().await;
    let specs = create(&systemd, WORKER).await;
    let ctx = crate::context(systemd.version().await.unwrap());
    assert!(systemd.unit_dir().join("taskflows-lc-worker.service").exists());
    assert!(state(&systemd, "lc-worker").await.enabled);

    systemd.start(&names(&specs), taskflows_systemd::Targets::Services).await.unwrap();
    let first = wait_for("the worker to run", Duration::from_secs(10), || async {
        let s = state(&systemd, "lc-worker").await;
        (s.sub_state == "running").then_some(s)
    })
    .await;

    let (reloads, report) =
        systemd.reloads_during(Duration::from_millis(500), systemd.create(&specs, &ctx)).await.unwrap();
    let report = report.unwrap();
    assert_eq!(reloads, 0, "an identical spec must not reload: {report:?}");
    assert!(report.written.is_empty() && !report.reloaded, "{report:?}");
    assert_eq!(report.unchanged.len(), 2);
    assert_eq!(state(&systemd, "lc-worker").await.main_pid, first.main_pid, "the running unit was left alone");

    // A changed env value is in the service's values file, not its unit: no unit is rewritten and
    // systemd is not reloaded, but the running service restarts with it.
    let changed = crate::specs(&WORKER.replace("V = \"1\"", "V = \"2\""));
    let (reloads, report) =
        systemd.reloads_during(Duration::from_millis(500), systemd.create(&changed, &ctx)).await.unwrap();
    let report = report.unwrap();
    assert_eq!(reloads, 0, "only the values changed: {report:?}");
    assert!(report.written.is_empty(), "{report:?}");
    assert_eq!(report.jobs.len(), 1, "the running service is restarted: {report:?}");

    // A changed command rewrites the unit and reloads exactly once.
    let changed = crate::specs(&WORKER.replace("V = \"1\"", "V = \"2\"").replace("echo version", "echo Version"));
    let (reloads, report) =
        systemd.reloads_during(Duration::from_millis(500), systemd.create(&changed, &ctx)).await.unwrap();
    let report = report.unwrap();
    assert_eq!(reloads, 1, "a changed spec reloads exactly once: {report:?}");
    assert_eq!(report.written, ["taskflows-lc-worker.service"], "only the changed file is rewritten");
    wait_for("the new version in the logs", Duration::from_secs(10), || async {
        let logs = systemd.logs("taskflows-lc-worker.service", 20).await.unwrap();
        logs.iter().any(|l| l.message == "Version=2").then_some(())
    })
    .await;
    let now = state(&systemd, "lc-worker").await;
    assert_eq!(now.sub_state, "running");
    assert_ne!(now.main_pid, first.main_pid, "the running service was restarted with the change");

    let removed = systemd.remove(&names(&specs)).await.unwrap();
    assert_eq!(removed, ["taskflows-lc-worker.service", "taskflows-lc-worker.timer"]);
}

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn remove_leaves_no_files_no_loaded_units_nothing_failed() {
    let (systemd, _guard) = setup().await;
    let specs = create(
        &systemd,
        r#"
[[service]]
name = "rm-failing"
start_command = "/bin/false"
start_schedule = "*-*-* 03:00:00"
stop_schedule = "*-*-* 04:00:00"
restart_schedule = "*-*-* 05:00:00"
"#,
    )
    .await;
    systemd.start(&names(&specs), taskflows_systemd::Targets::Services).await.unwrap();
    wait_for("the service to fail", Duration::from_secs(10), || async {
        (state(&systemd, "rm-failing").await.active_state == ActiveState::Failed).then_some(())
    })
    .await;
    let removed = systemd.remove(&names(&specs)).await.unwrap();
    assert_eq!(removed.len(), 6, "{removed:?}");
    for unit in &removed {
        assert!(!systemd.unit_dir().join(unit).exists(), "{unit} still on disk");
    }
    assert!(systemd.installed().unwrap().iter().all(|n| n.as_str() != "rm-failing"));
    let out = std::process::Command::new("systemctl")
        .args(if crate::scope() == taskflows_core::Scope::User { vec!["--user"] } else { vec![] })
        .args(["list-units", "--all", "--no-legend", "--plain", "*rm-failing*"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.trim().is_empty(), "units still loaded:\n{listed}");
}

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn unknown_pattern_names_the_nearest_services() {
    let (systemd, _guard) = setup().await;
    let specs = create(&systemd, "[[service]]\nname = \"near-match\"\nstart_command = \"/bin/true\"\n").await;
    let err = systemd.select("near-matc").unwrap_err().to_string();
    assert_eq!(err, "no service matches \"near-matc\" (did you mean near-match?)");
    assert_eq!(systemd.select("near-*").unwrap(), names(&specs));
    systemd.remove(&names(&specs)).await.unwrap();
}

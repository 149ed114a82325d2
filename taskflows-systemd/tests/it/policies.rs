//! Restart policies, OnFailure=, stop-/restart- schedules and startup requirements, as systemd
//! carries them out.

use std::time::Duration;

use taskflows_systemd::{ActiveState, JobResult, ProcessExit, RunResult, Targets};

use crate::{create, names, setup, state, wait_for};

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn failing_service_is_restarted_then_on_failure_fires() {
    let (systemd, _guard) = setup().await;
    let specs = create(
        &systemd,
        r#"
[[service]]
name = "pol-alert"
start_command = "/bin/echo alert fired"

[[service]]
name = "pol-flaky"
start_command = "/bin/sh -c 'echo trying; exit 3'"
restart_policy = { condition = "on-failure", delay = "100ms", max_attempts = 3, window = "1min" }
on_failure = { service = "pol-alert" }
"#,
    )
    .await;
    let flaky = names(&specs)[1..].to_vec();
    systemd.start(&flaky, Targets::Services).await.unwrap();
    let failed = wait_for("the flaky service to give up", Duration::from_secs(20), || async {
        let s = state(&systemd, "pol-flaky").await;
        (s.active_state == ActiveState::Failed).then_some(s)
    })
    .await;
    assert!(failed.restarts >= 2, "systemd restarted it: {failed:?}");
    assert_eq!(failed.exit_status, Some(3));
    wait_for("the on_failure unit to run", Duration::from_secs(10), || async {
        let logs = systemd.logs("taskflows-pol-alert.service", 10).await.unwrap();
        logs.iter().any(|l| l.message == "alert fired").then_some(())
    })
    .await;
    let runs = systemd.history(&["taskflows-pol-flaky.service".to_owned()], None, 10).await.unwrap();
    assert!(runs.len() >= 3, "one record per run: {runs:?}");
    assert!(
        runs.iter().all(|r| r.result == RunResult::ExitCode && r.exit == Some(ProcessExit::Exited { status: 3 })),
        "{runs:?}"
    );
    systemd.remove(&names(&specs)).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn stop_and_restart_schedules_act_on_the_service() {
    let (systemd, _guard) = setup().await;
    let specs = create(
        &systemd,
        r#"
[[service]]
name = "pol-restarted"
start_command = "/bin/sleep 600"
restart_schedule = "*:*:0/3"

[[service]]
name = "pol-stopped"
start_command = "/bin/sleep 600"
stop_schedule = "*:*:0/4"
"#,
    )
    .await;
    let s = state(&systemd, "pol-restarted").await;
    assert_eq!(s.timer_active, None, "no start schedule, no main timer");
    systemd.start(&names(&specs), Targets::Services).await.unwrap();
    let first = wait_for("the service to run", Duration::from_secs(10), || async {
        state(&systemd, "pol-restarted").await.main_pid
    })
    .await;
    wait_for("the restart timer to restart it", Duration::from_secs(10), || async {
        state(&systemd, "pol-restarted").await.main_pid.filter(|p| *p != first)
    })
    .await;
    wait_for("the stop timer to stop the other", Duration::from_secs(10), || async {
        let s = state(&systemd, "pol-stopped").await;
        (s.active_state == ActiveState::Inactive && s.last_start.is_some() && s.result == Some(RunResult::Success))
            .then_some(())
    })
    .await;
    systemd.remove(&names(&specs)).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn silent_requirement_skips_and_loud_one_fails() {
    let (systemd, _guard) = setup().await;
    let specs = create(
        &systemd,
        r#"
[[service]]
name = "pol-skipped"
start_command = "/bin/echo should not run"
startup_requirements = [{ kind = "cpus", amount = 100000, constraint = ">=", silent = true }]

[[service]]
name = "pol-asserted"
start_command = "/bin/echo should not run"
startup_requirements = [{ kind = "memory", amount = "1000T", constraint = ">=" }]
"#,
    )
    .await;
    let outcomes = systemd.start(&names(&specs), Targets::Services).await.unwrap();
    let skipped = &outcomes[0];
    let asserted = &outcomes[1];
    assert_eq!(skipped.result, JobResult::Done, "a failed condition skips quietly: {skipped:?}");
    assert_ne!(asserted.result, JobResult::Done, "a failed assertion fails the start: {asserted:?}");
    let s = state(&systemd, "pol-skipped").await;
    assert_eq!((s.active_state, s.last_start), (ActiveState::Inactive, None), "{s:?}");
    let a = state(&systemd, "pol-asserted").await;
    assert_ne!(a.active_state, ActiveState::Active);
    for unit in ["taskflows-pol-skipped.service", "taskflows-pol-asserted.service"] {
        let logs = systemd.logs(unit, 20).await.unwrap();
        assert!(!logs.iter().any(|l| l.message == "should not run"), "{unit} ran: {logs:?}");
    }
    systemd.remove(&names(&specs)).await.unwrap();
}

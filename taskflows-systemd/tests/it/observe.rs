//! Timers, history, logs, the live watch and transient runs.

use std::time::Duration;

use taskflows_systemd::{ActiveState, Event, JobResult, ProcessExit, RunResult, Targets, TransientRun};

use crate::{create, names, now_us, setup, state, wait_for};

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn calendar_and_periodic_timers_run_and_are_recorded() {
    let (systemd, _guard) = setup().await;
    let specs = create(
        &systemd,
        r#"
[[service]]
name = "obs-nightly"
start_command = "/bin/echo nightly"
start_schedule = "*-*-* 03:00:00 UTC"

[[service]]
name = "obs-tick"
start_command = "/bin/sh -c 'echo tick from $0' taskflows"
start_schedule = { period = "2s", start_on = "boot", relative_to = "finish" }
"#,
    )
    .await;

    let nightly = state(&systemd, "obs-nightly").await;
    assert_eq!(nightly.timer_active, Some(ActiveState::Active));
    assert_eq!(nightly.timer_enabled, Some(true));
    assert_eq!(nightly.schedules, ["OnCalendar=*-*-* 03:00:00 UTC"]);
    let day = 86_400_000_000u64;
    let expected = (now_us() / day) * day + 3 * 3_600_000_000;
    let expected = if expected <= now_us() { expected + day } else { expected };
    assert_eq!(nightly.next_elapse.map(|t| t.as_microsecond() as u64), Some(expected), "next 03:00 UTC");
    // The public typed proxies read the same from systemd.
    use taskflows_systemd::proxies::{ManagerProxy, TimerProxy};
    let no_cache = zbus::proxy::CacheProperties::No;
    let manager = ManagerProxy::builder(systemd.connection()).cache_properties(no_cache).build().await.unwrap();
    let path = manager.load_unit("taskflows-obs-nightly.timer").await.unwrap();
    let timer = TimerProxy::builder(systemd.connection()).path(path).cache_properties(no_cache).build().await.unwrap();
    assert_eq!(timer.next_elapse_usec_realtime().await.unwrap(), expected);

    let runs = wait_for("two runs of the periodic service", Duration::from_secs(20), || async {
        let runs = systemd.history(&["taskflows-obs-tick.service".to_owned()], None, 10).await.unwrap();
        (runs.iter().filter(|r| r.result == RunResult::Success).count() >= 2).then_some(runs)
    })
    .await;
    let run = runs.iter().find(|r| r.result == RunResult::Success).unwrap();
    assert_eq!(run.exit, Some(ProcessExit::Exited { status: 0 }));
    assert!(run.start.is_some() && run.end >= run.start, "{run:?}");
    assert!(!run.invocation_id.is_empty());
    let tick = state(&systemd, "obs-tick").await;
    let next =
        tick.next_elapse.expect("a periodic timer's next elapse, converted to wall time").as_microsecond() as u64;
    assert!(next > now_us() - 3_000_000 && next < now_us() + 3_000_000, "within a period of now: {tick:?}");
    let mut schedules = tick.schedules.clone();
    schedules.sort();
    assert_eq!(schedules, ["OnBootSec=1s", "OnUnitInactiveSec=2s"]);
    let logs = systemd.logs("taskflows-obs-tick.service", 50).await.unwrap();
    assert!(logs.iter().any(|l| l.message == "tick from taskflows"), "{logs:?}");
    // Following shows new lines as the timer keeps firing.
    let mut follow = systemd.follow("taskflows-obs-tick.service", 0).unwrap();
    let started = now_us();
    let line = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let line = follow.next().await.unwrap().expect("journalctl keeps following");
            if line.message == "tick from taskflows" && line.timestamp.as_microsecond() as u64 > started {
                return line;
            }
        }
    })
    .await
    .expect("a new line within 10 s");
    assert!(line.pid.is_some(), "{line:?}");
    systemd.remove(&names(&specs)).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn watch_reports_state_changes_and_jobs() {
    let (systemd, _guard) = setup().await;
    let specs = create(&systemd, "[[service]]\nname = \"obs-watched\"\nstart_command = \"/bin/sleep 0.3\"\n").await;
    let mut watch = systemd.watch().await.unwrap();

    systemd.start(&names(&specs), Targets::Services).await.unwrap();
    // Collect until the job's end and the unit's return to inactive were seen. (Its first
    // transition to active comes as systemd's UnitNew when the start loads the unit.)
    let unit = "taskflows-obs-watched.service";
    let state = |e: &Event, want: ActiveState| matches!(e, Event::State { unit: u, active_state: Some(a), .. } if u == unit && *a == want);
    let mut seen = Vec::new();
    let all_seen = |seen: &[Event]| {
        seen.iter().any(|e| matches!(e, Event::Job { unit: u, result } if u == unit && *result == JobResult::Done))
            && seen.iter().any(|e| state(e, ActiveState::Inactive))
    };
    let done = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(event) = watch.next().await {
            seen.push(event);
            if all_seen(&seen) {
                break;
            }
        }
    })
    .await;
    assert!(done.is_ok(), "missing events; saw {seen:?}");
    systemd.remove(&names(&specs)).await.unwrap();
}

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn transient_runs_report_their_exit() {
    let (systemd, _guard) = setup().await;
    let ok = TransientRun {
        argv: vec!["/bin/sh".into(), "-c".into(), "echo from a transient run: $GREETING".into()],
        env: vec!["GREETING=hello".into()],
        ..TransientRun::default()
    };
    let outcome = systemd.run_transient("taskflows-run-test-ok.service", &ok).await.unwrap();
    assert!(outcome.ok(), "{outcome:?}");
    assert_eq!(outcome.exit_status, Some(0));
    let logs = systemd.logs("taskflows-run-test-ok.service", 10).await.unwrap();
    assert!(logs.iter().any(|l| l.message == "from a transient run: hello"), "{logs:?}");

    let failing =
        TransientRun { argv: vec!["/bin/sh".into(), "-c".into(), "exit 7".into()], ..TransientRun::default() };
    let outcome = systemd.run_transient("taskflows-run-test-fail.service", &failing).await.unwrap();
    assert_eq!((outcome.result.as_str(), outcome.exit_status), ("exit-code", Some(7)));
}

/// Needs no systemd: the error alone is under test.
#[tokio::test]
async fn an_unreachable_bus_is_one_clear_error() {
    let err = taskflows_systemd::Systemd::connect_to(taskflows_core::Scope::User, "unix:path=/nonexistent/bus")
        .await
        .err()
        .expect("connecting to a missing bus fails")
        .to_string();
    assert!(
        err.starts_with("cannot reach the systemd user manager on the session bus (unix:path=/nonexistent/bus): "),
        "{err}"
    );
    assert!(err.ends_with("use --system for system units"), "{err}");
}

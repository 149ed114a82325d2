//! The monitor's decisions, with injected times.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use super::{ProblemKind, TimerFacts, check, timer_slack};
use crate::ServiceState;
use crate::state::{ActiveState, LoadState, RunResult};

/// A UTC time `2026-11-26T…`.
fn at(time: &str) -> Timestamp {
    format!("2026-11-{time}Z").parse().unwrap()
}

const SEC: SignedDuration = SignedDuration::from_secs(1);

/// A healthy daily calendar job that last ran at 04:00 on the 26th, timer active since the 1st.
fn daily() -> (ServiceState, TimerFacts) {
    let state = ServiceState {
        name: "nightly".into(),
        load_state: LoadState::Loaded,
        active_state: ActiveState::Inactive,
        sub_state: "dead".into(),
        timer_enabled: Some(true),
        timer_active: Some(ActiveState::Active),
        last_start: Some(at("26T04:00:00.2")),
        last_finish: Some(at("26T04:00:05")),
        result: Some(RunResult::Success),
        exit_status: Some(0),
        schedules: vec!["OnCalendar=*-*-* 04:00:00 UTC".into()],
        ..ServiceState::default()
    };
    let facts = TimerFacts {
        load_state: LoadState::Loaded,
        active_since: Some(at("01T00:00:00")),
        slack: Duration::from_millis(1),
    };
    (state, facts)
}

fn kinds(state: &ServiceState, facts: &TimerFacts, now: Timestamp) -> Vec<ProblemKind> {
    check(state, facts, now, Duration::from_secs(600), &TimeZone::UTC).into_iter().map(|p| p.kind).collect()
}

#[test]
fn healthy_active_timers_report_nothing() {
    // The FIX: every healthy active timer is healthy, at any time of the day.
    let (state, facts) = daily();
    for now in ["26T04:00:06", "26T12:00:00", "27T03:59:59", "27T04:09:59"] {
        assert_eq!(kinds(&state, &facts, at(now)), [], "at {now}");
    }
}

#[test]
fn a_missed_run_is_overdue_after_the_grace() {
    let (mut state, facts) = daily();
    state.last_start = Some(at("25T04:00:00.2"));
    state.last_finish = Some(at("25T04:00:05"));
    assert_eq!(kinds(&state, &facts, at("26T04:09:00")), [], "within the grace");
    let problems = check(&state, &facts, at("26T04:20:00"), Duration::from_secs(600), &TimeZone::UTC);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].kind, ProblemKind::Overdue);
    assert_eq!(
        problems[0].detail,
        "the run due 2026-11-26 04:00:00 UTC did not start (20min 0s late); last start 2026-11-25 04:00:00 UTC"
    );
}

#[test]
fn a_run_hanging_from_before_is_overdue() {
    let (mut state, facts) = daily();
    state.active_state = ActiveState::Activating;
    state.last_start = Some(at("25T04:00:00"));
    state.last_finish = Some(at("24T04:00:03"));
    let problems = check(&state, &facts, at("26T05:00:00"), Duration::from_secs(600), &TimeZone::UTC);
    assert_eq!(problems.iter().map(|p| p.kind).collect::<Vec<_>>(), [ProblemKind::Overdue]);
    assert!(problems[0].detail.starts_with("the run started 2026-11-25 04:00:00 UTC is still running"), "{problems:?}");
}

#[test]
fn a_failed_last_run_is_reported_with_its_status() {
    let (mut state, facts) = daily();
    state.result = Some(RunResult::ExitCode);
    state.exit_status = Some(3);
    let problems = check(&state, &facts, at("26T12:00:00"), Duration::from_secs(600), &TimeZone::UTC);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].kind, ProblemKind::LastRunFailed);
    assert_eq!(problems[0].detail, "the run started 2026-11-26 04:00:00 UTC ended with exit-code, exit status 3");
}

#[test]
fn inactive_timers_are_problems_unless_paused_on_purpose() {
    let (mut state, facts) = daily();
    state.timer_active = Some(ActiveState::Inactive);
    assert_eq!(kinds(&state, &facts, at("26T12:00:00")), [ProblemKind::TimerInactive]);
    state.timer_active = Some(ActiveState::Failed);
    assert_eq!(kinds(&state, &facts, at("26T12:00:00")), [ProblemKind::TimerInactive]);
    // disabled and stopped: paused on purpose, not checked
    state.timer_active = Some(ActiveState::Inactive);
    state.timer_enabled = Some(false);
    state.result = Some(RunResult::ExitCode);
    assert_eq!(kinds(&state, &facts, at("28T12:00:00")), []);
}

#[test]
fn a_timer_that_is_not_loaded_is_reported() {
    let (state, mut facts) = daily();
    facts.load_state = LoadState::BadSetting;
    let problems = check(&state, &facts, at("26T12:00:00"), Duration::from_secs(600), &TimeZone::UTC);
    assert_eq!(problems[0].kind, ProblemKind::TimerNotLoaded);
    assert_eq!(problems[0].detail, "the timer's load state is bad-setting");
}

#[test]
fn a_new_timer_that_never_ran_is_healthy_until_its_first_elapse() {
    let (mut state, mut facts) = daily();
    state.last_start = None;
    state.last_finish = None;
    state.exit_status = None;
    facts.active_since = Some(at("26T10:00:00"));
    assert_eq!(kinds(&state, &facts, at("26T10:00:01")), []);
    assert_eq!(kinds(&state, &facts, at("27T04:05:00")), []);
    assert_eq!(kinds(&state, &facts, at("27T04:30:00")), [ProblemKind::Overdue]);
}

#[test]
fn periodic_timers_are_due_a_period_after_the_last_start() {
    let (mut state, mut facts) = daily();
    state.schedules = vec!["OnBootSec=1s".into(), "OnUnitActiveSec=2s".into()];
    let now = at("26T12:00:00");
    facts.active_since = Some(now - 60 * SEC);
    state.last_start = Some(now - SEC);
    state.last_finish = Some(now - SEC / 2);
    let grace = Duration::from_secs(3);
    assert!(check(&state, &facts, now, grace, &TimeZone::UTC).is_empty());
    state.last_start = Some(now - 4 * SEC);
    assert!(check(&state, &facts, now, grace, &TimeZone::UTC).is_empty(), "2s period + 3s grace + 1ms");
    state.last_start = Some(now - 20 * SEC);
    let problems = check(&state, &facts, now, grace, &TimeZone::UTC);
    assert_eq!(problems[0].kind, ProblemKind::Overdue, "{problems:?}");
    // never ran: due a second after the timer started
    state.last_start = None;
    state.last_finish = None;
    facts.active_since = Some(now - SEC / 2);
    assert!(check(&state, &facts, now, grace, &TimeZone::UTC).is_empty());
    facts.active_since = Some(now - 10 * SEC);
    assert_eq!(check(&state, &facts, now, grace, &TimeZone::UTC)[0].kind, ProblemKind::Overdue);
}

#[test]
fn relative_to_finish_counts_from_the_end_of_the_last_run() {
    let (mut state, mut facts) = daily();
    state.schedules = vec!["OnUnitInactiveSec=1min".into()];
    let now = at("26T12:00:00");
    facts.active_since = Some(now - 3600 * SEC);
    state.last_start = Some(now - 600 * SEC);
    state.last_finish = Some(now - 30 * SEC);
    assert!(check(&state, &facts, now, Duration::from_secs(10), &TimeZone::UTC).is_empty());
    state.last_finish = Some(now - 100 * SEC);
    assert_eq!(check(&state, &facts, now, Duration::from_secs(10), &TimeZone::UTC)[0].kind, ProblemKind::Overdue);
}

#[test]
fn slack_is_accuracy_plus_randomized_delay() {
    assert_eq!(timer_slack("[Timer]\nOnCalendar=daily\n"), Duration::from_secs(60));
    assert_eq!(timer_slack("[Timer]\nAccuracySec=1ms\nRandomizedDelaySec=5min\n"), Duration::from_millis(300_001));
}

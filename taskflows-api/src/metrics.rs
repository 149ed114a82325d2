//! Prometheus text exposition of the services' state: what `GET /metrics` serves (with the API's
//! own request metrics after it) and `tf metrics` writes for node_exporter's textfile collector.
//!
//! One series per service and metric, labelled only by `service` (and by `state` for the state
//! set): nothing of high cardinality such as invocation ids. Times are Unix seconds, durations
//! seconds.

use std::fmt::Write as _;

use crate::{ActiveState, RunResult, ServiceState};

/// The states `taskflows_service_state` has a series for.
const STATES: [ActiveState; 6] = [
    ActiveState::Active,
    ActiveState::Reloading,
    ActiveState::Inactive,
    ActiveState::Failed,
    ActiveState::Activating,
    ActiveState::Deactivating,
];

/// A label value, escaped as the exposition format requires.
pub fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
    }
}

fn seconds(t: jiff::Timestamp) -> String {
    let micros = t.as_microsecond();
    format!("{}.{:06}", micros.div_euclid(1_000_000), micros.rem_euclid(1_000_000))
}

/// The services' metrics, in the text format.
pub fn services(states: &[ServiceState]) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    let service = |s: &ServiceState| format!("service=\"{}\"", label(&s.name));

    f.header("taskflows_services", "gauge", "Installed taskflows services.");
    let _ = writeln!(f.out, "taskflows_services {}", states.len());

    f.header(
        "taskflows_service_up",
        "gauge",
        "1 while a run is under way (active, activating, reloading or deactivating).",
    );
    for s in states {
        f.sample("taskflows_service_up", &service(s), u8::from(s.is_running()));
    }
    f.header("taskflows_service_state", "gauge", "The service's active state: 1 for the current one.");
    for s in states {
        for state in STATES {
            let labels = format!("{},state=\"{}\"", service(s), state.as_str());
            f.sample("taskflows_service_state", &labels, u8::from(s.active_state == state));
        }
    }
    f.header("taskflows_service_enabled", "gauge", "1 when the service starts at boot or login.");
    for s in states {
        f.sample("taskflows_service_enabled", &service(s), u8::from(s.enabled));
    }
    f.header("taskflows_timer_enabled", "gauge", "1 when the service's timer is enabled (services with a timer only).");
    for s in states {
        if let Some(e) = s.timer_enabled {
            f.sample("taskflows_timer_enabled", &service(s), u8::from(e));
        }
    }
    f.header("taskflows_service_last_start_timestamp_seconds", "gauge", "When the last run started.");
    for s in states {
        if let Some(t) = s.last_start {
            f.sample("taskflows_service_last_start_timestamp_seconds", &service(s), seconds(t));
        }
    }
    f.header("taskflows_service_last_finish_timestamp_seconds", "gauge", "When the last run ended.");
    for s in states {
        if let Some(t) = s.last_finish {
            f.sample("taskflows_service_last_finish_timestamp_seconds", &service(s), seconds(t));
        }
    }
    f.header("taskflows_service_last_run_duration_seconds", "gauge", "How long the last finished run took.");
    for s in states {
        if let (Some(start), Some(end)) = (s.last_start, s.last_finish)
            && end >= start
        {
            let micros = end.as_microsecond() - start.as_microsecond();
            f.sample(
                "taskflows_service_last_run_duration_seconds",
                &service(s),
                format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000),
            );
        }
    }
    f.header(
        "taskflows_service_last_run_success",
        "gauge",
        "1 when the last run succeeded, 0 when it failed (after a run only).",
    );
    for s in states {
        if let Some(r) = s.result
            && s.last_finish.is_some()
        {
            f.sample("taskflows_service_last_run_success", &service(s), u8::from(r == RunResult::Success));
        }
    }
    f.header("taskflows_service_last_exit_status", "gauge", "The exit status of the last run's main process.");
    for s in states {
        if let (Some(code), Some(_)) = (s.exit_status, s.last_finish) {
            f.sample("taskflows_service_last_exit_status", &service(s), code);
        }
    }
    f.header(
        "taskflows_service_restarts_total",
        "counter",
        "Automatic restarts since the service was last started by hand.",
    );
    for s in states {
        f.sample("taskflows_service_restarts_total", &service(s), s.restarts);
    }
    f.header("taskflows_service_next_run_timestamp_seconds", "gauge", "When the timer next starts the service.");
    for s in states {
        if let Some(t) = s.next_elapse {
            f.sample("taskflows_service_next_run_timestamp_seconds", &service(s), seconds(t));
        }
    }
    out
}

/// The runs counted since counting began: `taskflows_service_runs_total{service, result}`,
/// `taskflows_task_runs_total{service, task, result}` and the tasks' durations (a summary).
pub fn runs(counts: &taskflows_systemd::RunCounts) -> String {
    let name =
        |unit: &str| label(unit.strip_prefix("taskflows-").and_then(|u| u.strip_suffix(".service")).unwrap_or(unit));
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    f.header("taskflows_service_runs_total", "counter", "Finished runs since the API server started, by result.");
    for (unit, by_result) in &counts.services {
        for (result, n) in by_result {
            f.sample(
                "taskflows_service_runs_total",
                &format!("service=\"{}\",result=\"{}\"", name(unit), label(result)),
                n,
            );
        }
    }
    f.header("taskflows_task_runs_total", "counter", "Finished task runs since the API server started, by result.");
    for ((unit, task), c) in &counts.tasks {
        for (result, n) in &c.by_result {
            let labels = format!("service=\"{}\",task=\"{}\",result=\"{}\"", name(unit), label(task), label(result));
            f.sample("taskflows_task_runs_total", &labels, n);
        }
    }
    f.header("taskflows_task_duration_seconds", "summary", "How long task runs took.");
    for ((unit, task), c) in &counts.tasks {
        let labels = format!("service=\"{}\",task=\"{}\"", name(unit), label(task));
        f.sample("taskflows_task_duration_seconds_sum", &labels, c.seconds);
        f.sample("taskflows_task_duration_seconds_count", &labels, c.timed);
    }
    out
}

/// The grace the metrics' monitor check allows a scheduled run (as `tf monitor check`'s default).
pub const MONITOR_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

/// What the missed-run monitor sees: `taskflows_monitor_problem{service, problem}` (1 per
/// problem now; a resolved one is gone), how many services with a timer were checked, and when.
pub fn monitor(problems: &[taskflows_systemd::monitor::Problem], checked: usize, at: jiff::Timestamp) -> String {
    let mut out = String::new();
    let mut f = Family { out: &mut out };
    f.header(
        "taskflows_monitor_problem",
        "gauge",
        "1 for each problem the missed-run monitor sees now: timer-not-loaded, timer-inactive, overdue, last-run-failed.",
    );
    for p in problems {
        let labels = format!("service=\"{}\",problem=\"{}\"", label(&p.service), p.kind.as_str());
        f.sample("taskflows_monitor_problem", &labels, 1);
    }
    f.header("taskflows_monitor_checked_services", "gauge", "Services with a timer the monitor checked.");
    let _ = writeln!(f.out, "taskflows_monitor_checked_services {checked}");
    f.header("taskflows_monitor_last_check_timestamp_seconds", "gauge", "When the monitor last checked.");
    let _ = writeln!(f.out, "taskflows_monitor_last_check_timestamp_seconds {}", seconds(at));
    out
}

/// Recorded states for the metrics' tests: a calendar job that failed, a running worker.
#[cfg(test)]
pub(crate) fn recorded_states() -> Vec<ServiceState> {
    let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
    vec![
        ServiceState {
            name: "nightly \"x\"".into(),
            active_state: ActiveState::Failed,
            enabled: false,
            timer_enabled: Some(true),
            last_start: Some(t("2026-11-26T02:30:00Z")),
            last_finish: Some(t("2026-11-26T02:31:05.5Z")),
            result: Some(RunResult::ExitCode),
            exit_status: Some(3),
            next_elapse: Some(t("2026-11-27T02:30:00Z")),
            ..ServiceState::default()
        },
        ServiceState {
            name: "web".into(),
            active_state: ActiveState::Active,
            enabled: true,
            restarts: 2,
            ..ServiceState::default()
        },
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn services_render_in_the_text_format() {
        insta::assert_snapshot!(super::services(&super::recorded_states()));
    }

    #[test]
    fn monitor_problems_render_one_series_each() {
        use taskflows_systemd::monitor::{Problem, ProblemKind};
        let problems = [
            Problem { service: "nightly \"x\"".into(), kind: ProblemKind::Overdue, detail: "late".into() },
            Problem { service: "web".into(), kind: ProblemKind::LastRunFailed, detail: "exit 3".into() },
        ];
        let text = super::monitor(&problems, 4, "2026-11-26T02:30:00Z".parse().unwrap());
        assert!(
            text.contains("taskflows_monitor_problem{service=\"nightly \\\"x\\\"\",problem=\"overdue\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("taskflows_monitor_problem{service=\"web\",problem=\"last-run-failed\"} 1\n"));
        assert!(text.contains("taskflows_monitor_checked_services 4\n"));
        assert!(text.contains("taskflows_monitor_last_check_timestamp_seconds 1795660200.000000\n"));
    }
}

//! The commands that talk to systemd: list, status, show, logs, history, next, start, stop,
//! restart, enable, disable, remove, run.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::Duration;

use taskflows_core::{Scope, ServiceName};
use taskflows_systemd::{JobOutcome, Systemd, Targets};

use crate::output::{Style, Table, short_duration, since};
use crate::{EXIT_NO_MATCH, Failure, print};

/// A current-thread runtime: `tf` does one thing at a time, and starts fast.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime").block_on(f)
}

pub(crate) async fn connect(scope: Scope) -> Result<Systemd, Failure> {
    // The error says which bus was tried and what to do.
    let systemd = Systemd::connect(scope).await.map_err(|e| Failure::new(1, e))?;
    // A progress line for bulk operations, on a terminal only.
    if !std::io::stderr().is_terminal() {
        return Ok(systemd);
    }
    Ok(systemd.with_progress(|done, total| {
        if total > 64 {
            let mut err = std::io::stderr().lock();
            let width = 30 * done / total;
            let _ = write!(err, "\r[{}{}] {done}/{total} jobs", "#".repeat(width), " ".repeat(30 - width));
            if done == total {
                let _ = writeln!(err);
            }
        }
    }))
}

/// The services a pattern names (all installed services without one).
pub(crate) fn select(systemd: &Systemd, pattern: Option<&str>) -> Result<Vec<ServiceName>, Failure> {
    match pattern {
        None => Ok(systemd.installed()?),
        Some(p) => systemd.select(p).map_err(|e| match e {
            taskflows_systemd::Error::NoMatch { .. } => {
                Failure::new(EXIT_NO_MATCH, e).hint("`tf list` shows the installed services")
            }
            other => Failure::from(other),
        }),
    }
}

impl From<taskflows_systemd::Error> for Failure {
    fn from(e: taskflows_systemd::Error) -> Failure {
        match e {
            taskflows_systemd::Error::Model(m) => Failure::new(crate::EXIT_INVALID, m),
            other => Failure::new(1, other),
        }
    }
}

fn json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Failure::new(1, e))?;
    text.push('\n');
    print(text.as_bytes())
}

/// `tf list [PATTERN]`.
pub(crate) async fn list(scope: Scope, pattern: Option<&str>, as_json: bool) -> Result<(), Failure> {
    let systemd = connect(scope).await?;
    let names = select(&systemd, pattern)?;
    let rows: Vec<serde_json::Value> = names
        .iter()
        .map(|n| serde_json::json!({ "name": n.as_str(), "units": taskflows_systemd::units_of(systemd.unit_dir(), n) }))
        .collect();
    if as_json {
        return json(&rows);
    }
    let style = Style::detect();
    let mut table = Table::new(&["SERVICE", "UNITS"]);
    for (n, row) in names.iter().zip(&rows) {
        let units: Vec<&str> = row["units"].as_array().into_iter().flatten().filter_map(|u| u.as_str()).collect();
        table.row(vec![n.to_string(), units.join(" ")]);
    }
    print(table.render(&style).as_bytes())
}

/// `tf status`.
pub(crate) async fn status(
    scope: Scope,
    pattern: Option<&str>,
    running: bool,
    all: bool,
    as_json: bool,
) -> Result<(), Failure> {
    let systemd = connect(scope).await?;
    let names = select(&systemd, pattern)?;
    let mut states = systemd.status(&names).await?;
    if running {
        states.retain(|s| s.active_state == "active" || s.active_state == "activating");
    }
    if as_json {
        return json(&states);
    }
    let now = jiff::Timestamp::now().as_microsecond() as u64;
    print(status_table(&states, all, &Style::detect(), now).as_bytes())
}

/// The `tf status` table, from states read at `now` (µs since the epoch).
pub(crate) fn status_table(states: &[taskflows_systemd::ServiceState], all: bool, style: &Style, now: u64) -> String {
    let mut header = vec![
        "SERVICE",
        "DESCRIPTION",
        "ENABLED",
        "TIMER",
        "LOAD",
        "STATE",
        "LAST START",
        "UPTIME",
        "LAST FINISH",
        "NEXT START",
        "RESULT",
        "SCHEDULE",
    ];
    if all {
        header.extend(["RESTARTS", "MAIN PID"]);
    }
    let mut table = Table::new(&header);
    for s in states {
        let state = format!("{} ({})", style.state(&s.active_state), style.state(&s.sub_state));
        let timer = s.timer_enabled.as_deref().map_or("-".to_owned(), |t| style.state(t));
        let result = match (s.result.as_str(), s.exit_status) {
            ("", _) => "-".to_owned(),
            (r, Some(code)) if s.last_finish.is_some() => format!("{} ({code})", style.state(r)),
            (r, _) => style.state(r),
        };
        // Long descriptions would push the table off the screen; --all shows them whole.
        let description = match s.description.char_indices().nth(32) {
            Some((i, _)) if !all => format!("{}…", &s.description[..i]),
            _ => s.description.clone(),
        };
        let mut row = vec![
            s.name.clone(),
            if description.is_empty() { "-".to_owned() } else { description },
            style.state(&s.enabled),
            timer,
            s.load_state.clone(),
            state,
            style.time(s.last_start),
            s.active_since.map_or("-".to_owned(), |t| short_duration(now.saturating_sub(t))),
            style.time(s.last_finish),
            style.time(s.next_elapse),
            result,
            if s.schedules.is_empty() { "-".to_owned() } else { s.schedules.join("; ") },
        ];
        if all {
            row.push(s.restarts.to_string());
            row.push(s.main_pid.map_or("-".to_owned(), |p| p.to_string()));
        }
        table.row(row);
    }
    table.render(style)
}

/// `tf show PATTERN`: the installed unit files.
pub(crate) async fn show(scope: Scope, pattern: &str, as_json: bool) -> Result<(), Failure> {
    let systemd = connect(scope).await?;
    let mut text = String::new();
    let mut units = Vec::new();
    for name in select(&systemd, Some(pattern))? {
        for unit in taskflows_systemd::units_of(systemd.unit_dir(), &name) {
            let path = systemd.unit_dir().join(&unit);
            let content = std::fs::read_to_string(&path).map_err(|e| Failure::new(1, e))?;
            if as_json {
                units.push(serde_json::json!({ "name": unit, "path": path, "content": content }));
                continue;
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!("# {}\n{content}", path.display()));
        }
    }
    if as_json {
        return json(&serde_json::json!({ "units": units }));
    }
    print(text.as_bytes())
}

/// `tf logs NAME`.
pub(crate) async fn logs(scope: Scope, name: &str, lines: usize, follow: bool, as_json: bool) -> Result<(), Failure> {
    let systemd = connect(scope).await?;
    let service = exactly_one(&systemd, name)?;
    let unit = format!("{}.service", service.unit_stem());
    let style = Style::detect();
    let line = |l: &taskflows_systemd::LogLine| {
        if as_json {
            serde_json::to_string(l).unwrap_or_default() + "\n"
        } else {
            format!("{}  {}\n", style.time(Some(l.timestamp)), l.message)
        }
    };
    if follow {
        let mut follower = systemd.follow(&unit, lines)?;
        while let Some(l) = follower.next().await? {
            print(line(&l).as_bytes())?;
        }
        return Ok(());
    }
    let text: String = systemd.logs(&unit, lines).await?.iter().map(line).collect();
    print(text.as_bytes())
}

fn exactly_one(systemd: &Systemd, name: &str) -> Result<ServiceName, Failure> {
    let mut names = select(systemd, Some(name))?;
    if names.len() > 1 {
        let listed: Vec<&str> = names.iter().map(ServiceName::as_str).collect();
        return Err(Failure::new(
            2,
            anyhow::anyhow!("{name:?} matches {} services: {}", names.len(), listed.join(", ")),
        )
        .hint("name one service"));
    }
    Ok(names.remove(0))
}

/// `tf history`.
pub(crate) async fn history(scope: Scope, pattern: Option<&str>, limit: usize, as_json: bool) -> Result<(), Failure> {
    let systemd = connect(scope).await?;
    let names = select(&systemd, pattern)?;
    let units: Vec<String> = names.iter().map(|n| format!("{}.service", n.unit_stem())).collect();
    let runs = systemd.history(&units, None, limit).await?;
    if as_json {
        return json(&runs);
    }
    let style = Style::detect();
    let mut table = Table::new(&["SERVICE", "TASK", "STARTED", "DURATION", "RESULT", "EXIT", "CPU", "INVOCATION"]);
    for r in &runs {
        let name =
            r.unit.strip_prefix("taskflows-").and_then(|u| u.strip_suffix(".service")).unwrap_or(&r.unit).to_owned();
        let duration = match (r.start, r.end) {
            (Some(s), Some(e)) => short_duration(e.saturating_sub(s)),
            (Some(_), None) if r.result == "running" => format!("{} so far", since(r.start)),
            _ => "-".to_owned(),
        };
        let task = match (&r.task_name, r.attempts) {
            (Some(t), Some(1)) => format!("{t} (1 attempt)"),
            (Some(t), Some(n)) => format!("{t} ({n} attempts)"),
            (Some(t), None) => t.clone(),
            (None, _) => "-".to_owned(),
        };
        table.row(vec![
            name,
            task,
            style.time(r.start),
            duration,
            style.state(&r.result),
            r.exit_status.clone().unwrap_or_else(|| "-".to_owned()),
            r.cpu_nsec.map_or("-".to_owned(), |ns| short_duration(ns / 1_000)),
            r.invocation_id.chars().take(12).collect(),
        ]);
    }
    print(table.render(&style).as_bytes())
}

/// `tf next [PATTERN] [-n N]`: upcoming runs. The timer's next elapse comes from systemd; more
/// of them from the native calendar engine.
pub(crate) async fn next(scope: Scope, pattern: Option<&str>, count: usize, as_json: bool) -> Result<(), Failure> {
    let systemd = connect(scope).await?;
    let names = select(&systemd, pattern)?;
    let states = systemd.status(&names).await?;
    let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    let mut rows: Vec<(String, u64, String)> = Vec::new();
    for s in states.iter().filter(|s| s.timer_active.is_some()) {
        let mut upcoming: Vec<(u64, String)> = Vec::new();
        for schedule in &s.schedules {
            let Some(expr) = schedule.strip_prefix("OnCalendar=") else { continue };
            let Ok(event) = taskflows_core::calendar::CalendarEvent::parse(expr) else { continue };
            let after = jiff::Timestamp::now();
            for t in event.elapses_after(after, &zone).take(count) {
                upcoming.push((t.as_microsecond() as u64, schedule.clone()));
            }
        }
        // systemd's own next elapse covers periodic schedules too (only the next one is known).
        if let Some(t) = s.next_elapse
            && !upcoming.iter().any(|(u, _)| u.abs_diff(t) < 1_000_000)
        {
            let periodic: Vec<&str> =
                s.schedules.iter().filter(|x| !x.starts_with("OnCalendar=")).map(String::as_str).collect();
            upcoming.push((t, if periodic.is_empty() { s.schedules.join("; ") } else { periodic.join("; ") }));
        }
        upcoming.sort();
        upcoming.truncate(count);
        rows.extend(upcoming.into_iter().map(|(t, sched)| (s.name.clone(), t, sched)));
    }
    rows.sort_by_key(|r| r.1);
    if as_json {
        let items: Vec<serde_json::Value> =
            rows.iter().map(|(n, t, s)| serde_json::json!({ "service": n, "next_us": t, "schedule": s })).collect();
        return json(&items);
    }
    let style = Style::detect();
    let mut table = Table::new(&["SERVICE", "NEXT RUN", "IN", "SCHEDULE"]);
    let now = jiff::Timestamp::now().as_microsecond() as u64;
    for (n, t, sched) in &rows {
        table.row(vec![n.clone(), style.time(Some(*t)), short_duration(t.saturating_sub(now)), sched.clone()]);
    }
    print(table.render(&style).as_bytes())
}

/// What a control command acts on.
pub(crate) enum Action {
    Start { wait: bool, timeout: Option<taskflows_core::Duration> },
    Stop,
    Restart,
    Enable,
    Disable,
    Remove,
}

/// `tf start|stop|restart|enable|disable|remove PATTERN`.
pub(crate) async fn control(
    scope: Scope,
    pattern: &str,
    action: Action,
    targets: Targets,
) -> Result<ExitCode, Failure> {
    let systemd = connect(scope).await?;
    let names = select(&systemd, Some(pattern))?;
    let style = Style::detect();
    let report_jobs = |outcomes: &[JobOutcome]| -> (String, bool) {
        let mut text = String::new();
        let mut ok = true;
        for o in outcomes {
            ok &= o.ok();
            text.push_str(&format!("{} {}: {}\n", o.job, o.unit, style.state(&o.result)));
        }
        (text, ok)
    };
    let (text, ok) = match action {
        Action::Start { wait, timeout } => {
            let outcomes = systemd.start(&names, targets).await?;
            let (mut text, mut ok) = report_jobs(&outcomes);
            if wait && ok {
                let waiting = wait_for_runs(&systemd, &names, &style);
                let (waited, all_ok) = match timeout {
                    None => waiting.await?,
                    Some(t) => match tokio::time::timeout(Duration::from_micros(t.as_micros()), waiting).await {
                        Ok(result) => result?,
                        Err(_) => (format!("still running after {t}; not waiting any longer\n"), false),
                    },
                };
                text.push_str(&waited);
                ok = all_ok;
            }
            (text, ok)
        }
        Action::Stop => report_jobs(&systemd.stop(&names, targets).await?),
        Action::Restart => report_jobs(&systemd.restart(&names, targets).await?),
        Action::Enable => {
            (systemd.enable(&names, targets).await?.iter().map(|u| format!("enabled {u}\n")).collect(), true)
        }
        Action::Disable => {
            (systemd.disable(&names, targets).await?.iter().map(|u| format!("disabled {u}\n")).collect(), true)
        }
        Action::Remove => {
            // Containers first: their specs are found through the services' names, so when the
            // engine is down this fails before the units are gone and a retry still finds them.
            let mut text = crate::container::remove_services(&crate::host::data_dir(scope), &names).await?;
            text.extend(systemd.remove(&names).await?.iter().map(|u| format!("removed {u}\n")));
            let store = crate::env::store(scope);
            for name in &names {
                store.remove_definition(name)?;
            }
            (text, true)
        }
    };
    print(text.as_bytes())?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Wait until every started service finished its run; say how each ended.
async fn wait_for_runs(systemd: &Systemd, names: &[ServiceName], style: &Style) -> Result<(String, bool), Failure> {
    loop {
        let states = systemd.status(names).await?;
        if states
            .iter()
            .all(|s| !matches!(s.active_state.as_str(), "active" | "activating" | "deactivating" | "reloading"))
        {
            let mut text = String::new();
            let mut ok = true;
            for s in &states {
                let success = s.active_state != "failed" && (s.result == "success" || s.result.is_empty());
                ok &= success;
                let exit = s.exit_status.map_or(String::new(), |c| format!(", exit status {c}"));
                text.push_str(&format!("run of {}: {}{exit}\n", s.name, style.state(&s.result)));
            }
            return Ok((text, ok));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `tf run -- COMMAND…`: once, as a transient unit; exits with the run's outcome.
pub(crate) async fn run(scope: Scope, name: Option<&str>, argv: Vec<String>) -> Result<ExitCode, Failure> {
    let systemd = connect(scope).await?;
    let stem = name.unwrap_or("run");
    let suffix = jiff::Timestamp::now().as_millisecond();
    let unit = format!("taskflows-run-{stem}-{suffix}.service");
    ServiceName::new(format!("run-{stem}")).map_err(|e| Failure::new(2, anyhow::anyhow!("--name: {e}")))?;
    let run = taskflows_systemd::TransientRun { argv, ..Default::default() };
    let outcome = systemd.run_transient(&unit, &run).await?;
    let style = Style::detect();
    let exit = outcome.exit_status.map_or(String::new(), |c| format!(", exit status {c}"));
    print(format!("{unit}: {}{exit}\n", style.state(&outcome.result)).as_bytes())?;
    Ok(if outcome.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

#[cfg(test)]
mod tests {
    use taskflows_systemd::ServiceState;

    use super::status_table;
    use crate::output::Style;

    /// A recorded status: a running worker, a calendar job that failed, one never run.
    fn recorded() -> Vec<ServiceState> {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap().as_microsecond() as u64;
        vec![
            ServiceState {
                name: "worker".into(),
                description: "Queue worker".into(),
                load_state: "loaded".into(),
                active_state: "active".into(),
                sub_state: "running".into(),
                enabled: "enabled".into(),
                last_start: Some(t("2026-11-26T08:00:00Z")),
                active_since: Some(t("2026-11-26T08:00:00Z")),
                restarts: 2,
                result: "success".into(),
                main_pid: Some(4242),
                ..ServiceState::default()
            },
            ServiceState {
                name: "nightly".into(),
                description: "Nightly report".into(),
                load_state: "loaded".into(),
                active_state: "failed".into(),
                sub_state: "failed".into(),
                enabled: "disabled".into(),
                timer_enabled: Some("enabled".into()),
                timer_active: Some("active".into()),
                last_start: Some(t("2026-11-26T02:30:00Z")),
                last_finish: Some(t("2026-11-26T02:31:05Z")),
                result: "exit-code".into(),
                exit_status: Some(3),
                next_elapse: Some(t("2026-11-27T02:30:00Z")),
                schedules: vec!["OnCalendar=*-*-* 02:30:00 UTC".into()],
                ..ServiceState::default()
            },
            ServiceState {
                name: "fresh".into(),
                load_state: "loaded".into(),
                active_state: "inactive".into(),
                sub_state: "dead".into(),
                enabled: "disabled".into(),
                ..ServiceState::default()
            },
        ]
    }

    #[test]
    fn status_table_from_recorded_states() {
        let now = "2026-11-26T11:30:00Z".parse::<jiff::Timestamp>().unwrap().as_microsecond() as u64;
        let style = Style::plain(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        insta::assert_snapshot!("status", status_table(&recorded(), false, &style, now));
        insta::assert_snapshot!("status-all", status_table(&recorded(), true, &style, now));
    }
}

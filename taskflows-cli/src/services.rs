//! The commands about installed services: list, status, show, logs, history, next, start, stop,
//! restart, enable, disable, remove, run, check — each one operation, and the printing of its
//! answer (which a remote answer will share).

use std::process::ExitCode;

use futures_util::StreamExt as _;
use jiff::Timestamp;
use taskflows_api::{
    Action, CheckReport, CheckTarget, ControlReport, ControlRequest, History, Local, NextRuns, Operations, RunKind,
    RunReport, RunRequest, ServiceList, ServiceState, UnitFiles, exit,
};

use crate::output::{Answer, Style, Table, between, short_duration, terminal_safe};
use crate::{Command, Failure, print};

/// The commands that are one operation on installed services, on this host.
pub(crate) async fn run(local: &Local, command: Command) -> Result<ExitCode, Failure> {
    let style = Style::detect();
    match command {
        Command::Logs(args) if args.follow => {
            let stream = local.follow(&args.name, &args.query()).await?;
            follow(stream, None, args.json, &style).await
        }
        Command::Run { name, timeout, json, command } => {
            run_once(local, &run_request(name.as_deref(), timeout, command)?, json, &style).await
        }
        command => {
            let json = command.json();
            answer(local, &command, &style).await?.print(json)
        }
    }
}

/// Print followed log lines (prefixed with the server's name on a fleet).
pub(crate) async fn follow(
    mut lines: taskflows_api::LogStream,
    host: Option<&str>,
    json: bool,
    style: &Style,
) -> Result<ExitCode, Failure> {
    while let Some(l) = lines.next().await {
        print(log_line(&l?, host, json, style).as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn log_line(l: &taskflows_api::LogLine, host: Option<&str>, json: bool, style: &Style) -> String {
    match (json, host) {
        (true, None) => serde_json::to_string(l).unwrap_or_default() + "\n",
        (true, Some(h)) => serde_json::json!({ "host": h, "line": l }).to_string() + "\n",
        (false, None) => format!("{}  {}\n", style.time(Some(l.timestamp)), terminal_safe(&l.message)),
        (false, Some(h)) => format!("{h}  {}  {}\n", style.time(Some(l.timestamp)), terminal_safe(&l.message)),
    }
}

/// One operation's answer on installed services, by any implementation of the operations (this
/// host, or a server).
pub(crate) async fn answer(
    ops: &(impl Operations + Sync),
    command: &Command,
    style: &Style,
) -> Result<Answer, Failure> {
    let control =
        |pattern: &str, action, targets: Targets, wait, timeout: Option<taskflows_core::Duration>| ControlRequest {
            pattern: pattern.to_owned(),
            action,
            targets,
            wait,
            timeout: timeout.map(|t| std::time::Duration::from_micros(t.as_micros())),
            force: false,
        };
    use taskflows_api::Targets;
    let request = match command {
        Command::List { pattern, .. } => {
            let list = ops.list(pattern.as_deref()).await?;
            return Ok(Answer::table(&list, list_table(&list)));
        }
        Command::Status { pattern, running, all, .. } => {
            let report = ops.status(pattern.as_deref(), *running).await?;
            return Ok(Answer::table(&report, status_table(&report.services, *all, style, Timestamp::now())));
        }
        Command::Show { pattern, .. } => {
            let units = ops.show(pattern).await?;
            return Ok(Answer::text(&units, unit_files(&units)));
        }
        Command::Logs(args) => {
            let logs = ops.logs(&args.name, &args.query()).await?;
            let text = logs.lines.iter().map(|l| log_line(l, None, args.json, style)).collect();
            return Ok(Answer::text(&logs, text));
        }
        Command::History { pattern, limit, .. } => {
            let history = ops.history(pattern.as_deref(), *limit).await?;
            return Ok(Answer::table(&history, history_table(&history, style)));
        }
        Command::Next { pattern, count, .. } => {
            let next = ops.next(pattern.as_deref(), *count).await?;
            return Ok(Answer::table(&next, next_table(&next, style)));
        }
        Command::Start { pattern, targets, wait, timeout, .. } => {
            control(pattern, Action::Start, targets.targets(), *wait, *timeout)
        }
        Command::Stop { pattern, targets, .. } => control(pattern, Action::Stop, targets.targets(), false, None),
        Command::Restart { pattern, targets, .. } => control(pattern, Action::Restart, targets.targets(), false, None),
        Command::Enable { pattern, targets, .. } => control(pattern, Action::Enable, targets.targets(), false, None),
        Command::Disable { pattern, targets, .. } => control(pattern, Action::Disable, targets.targets(), false, None),
        Command::Remove { pattern, force, .. } => {
            ControlRequest { force: *force, ..control(pattern, Action::Remove, Targets::Both, false, None) }
        }
        _ => unreachable!("main dispatches the other commands"),
    };
    let report = ops.control(&request).await?;
    let text = control_lines(&report, style, request.timeout);
    Ok(Answer { ok: report.ok, chatter: true, ..Answer::text(&report, text) })
}

/// `tf run`: Ctrl-C (or SIGTERM) stops the run and leaves no transient unit behind.
async fn run_once(local: &Local, request: &RunRequest, json: bool, style: &Style) -> Result<ExitCode, Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return Err(Failure::new(exit::FAILED, "cannot handle signals"));
    };
    let report: RunReport = tokio::select! {
        report = local.run(request) => report?,
        _ = int.recv() => return interrupted(local, &request.unit).await,
        _ = term.recv() => return interrupted(local, &request.unit).await,
    };
    run_answer(&report, style).print(json)
}

/// `tf run`'s request: a fresh unit for the run's name.
pub(crate) fn run_request(
    name: Option<&str>,
    timeout: Option<taskflows_core::Duration>,
    argv: Vec<String>,
) -> Result<RunRequest, Failure> {
    Ok(RunRequest {
        unit: RunRequest::unit_for(name)?,
        argv,
        timeout: timeout.map(|t| std::time::Duration::from_micros(t.as_micros())),
    })
}

/// How a run ended: one line (or the report as JSON); fails when the run did.
pub(crate) fn run_answer(report: &RunReport, style: &Style) -> Answer {
    let outcome = &report.outcome;
    let exit = outcome.exit_status.map_or(String::new(), |c| format!(", exit status {c}"));
    let text = format!("{}: {}{exit}\n", outcome.unit, style.state(outcome.result.as_str()));
    Answer { ok: outcome.ok(), ..Answer::text(report, text) }
}

async fn interrupted(local: &Local, unit: &str) -> Result<ExitCode, Failure> {
    local.abandon_run(unit).await?;
    Err(Failure::new(130, format!("interrupted; stopped {unit}")))
}

/// `tf check`: a service file, or installed services.
pub(crate) fn check_target(target: &str) -> Result<CheckTarget, Failure> {
    let path = std::path::Path::new(target);
    Ok(if path.exists() {
        CheckTarget::Files(crate::read_service_files(path)?)
    } else {
        CheckTarget::Installed(target.to_owned())
    })
}

/// `tf check` on this host.
pub(crate) async fn check(
    local: &Local,
    target: &str,
    wait: Option<std::time::Duration>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let target = check_target(target)?;
    let report = match local.check(&target, wait).await {
        Ok(report) => report,
        // As an ExecCondition= command, exit 1 would skip the start quietly: a requirement that
        // could not be measured fails it (255) instead.
        Err(e) if wait.is_some() => {
            let failure = Failure::from(e);
            return Err(Failure { code: 255, ..failure });
        }
        Err(e) => return Err(e.into()),
    };
    check_answer(&report).print(json)
}

/// A check's answer; its exit code as an `ExecCondition=` command reads it: 1 skips the start
/// quietly, 255 fails it.
pub(crate) fn check_answer(report: &CheckReport) -> Answer {
    let code = match (report.ok, report.fails_start) {
        (true, _) => 0,
        (false, true) => 255,
        (false, false) => 1,
    };
    Answer { ok: report.ok, code: Some(code), ..Answer::text(report, check_lines(report)) }
}

pub(crate) fn check_lines(report: &CheckReport) -> String {
    let mut text = String::new();
    for s in &report.services {
        text.push_str(&format!("{}:\n", s.service));
        if s.requirements.is_empty() {
            text.push_str("  no startup requirements\n");
        }
        if let Some(admission) = &s.admission {
            text.push_str(&format!("  {admission}\n"));
        }
        for r in &s.requirements {
            text.push_str(&format!("  {}\n", r.detail));
        }
    }
    text
}

pub(crate) fn list_table(list: &ServiceList) -> Table {
    let mut table = Table::new(&["SERVICE", "UNITS"]);
    for s in &list.services {
        table.row(vec![s.name.clone(), s.units.join(" ")]);
    }
    table
}

pub(crate) fn unit_files(units: &UnitFiles) -> String {
    let mut text = String::new();
    for u in &units.units {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&format!("# {}\n{}", u.path, terminal_safe(&u.content)));
    }
    text
}

/// The `tf status` table, from states read at `now`.
pub(crate) fn status_table(states: &[ServiceState], all: bool, style: &Style, now: Timestamp) -> Table {
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
    let enabled = |e: bool| style.state(if e { "enabled" } else { "disabled" });
    let mut table = Table::new(&header);
    for s in states {
        let state = format!("{} ({})", style.state(s.active_state.as_str()), style.state(&s.sub_state));
        let timer = s.timer_enabled.map_or("-".to_owned(), enabled);
        let result = match (s.result, s.exit_status) {
            (None, _) => "-".to_owned(),
            (Some(r), Some(code)) if s.last_finish.is_some() => format!("{} ({code})", style.state(r.as_str())),
            (Some(r), _) => style.state(r.as_str()),
        };
        let description = terminal_safe(&s.description);
        // Long descriptions would push the table off the screen; --all shows them whole.
        let description = match description.char_indices().nth(32) {
            Some((i, _)) if !all => format!("{}…", &description[..i]),
            _ => description.into_owned(),
        };
        let mut row = vec![
            s.name.clone(),
            if description.is_empty() { "-".to_owned() } else { description },
            enabled(s.enabled),
            timer,
            s.load_state.to_string(),
            state,
            style.time(s.last_start),
            s.active_since.map_or("-".to_owned(), |t| between(t, now)),
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
    table
}

pub(crate) fn history_table(history: &History, style: &Style) -> Table {
    let now = Timestamp::now();
    let mut table = Table::new(&["SERVICE", "TASK", "STARTED", "DURATION", "RESULT", "EXIT", "CPU", "INVOCATION"]);
    for r in &history.runs {
        let name =
            r.unit.strip_prefix("taskflows-").and_then(|u| u.strip_suffix(".service")).unwrap_or(&r.unit).to_owned();
        let duration = match (r.start, r.end) {
            (Some(s), Some(e)) => between(s, e),
            (Some(s), None) if r.result == taskflows_api::RunResult::Running => format!("{} so far", between(s, now)),
            _ => "-".to_owned(),
        };
        let task = match (&r.task_name, r.attempts) {
            (Some(t), Some(1)) => format!("{} (1 attempt)", terminal_safe(t)),
            (Some(t), Some(n)) => format!("{} ({n} attempts)", terminal_safe(t)),
            (Some(t), None) => terminal_safe(t).into_owned(),
            (None, _) => "-".to_owned(),
        };
        debug_assert!(r.kind == RunKind::Task || r.task_name.is_none());
        table.row(vec![
            name,
            task,
            style.time(r.start),
            duration,
            style.state(r.result.as_str()),
            r.exit.as_ref().map_or("-".to_owned(), ToString::to_string),
            r.cpu_nsec.map_or("-".to_owned(), |ns| short_duration(ns / 1_000)),
            r.invocation_id.chars().take(12).collect(),
        ]);
    }
    table
}

pub(crate) fn next_table(next: &NextRuns, style: &Style) -> Table {
    let now = Timestamp::now();
    let mut table = Table::new(&["SERVICE", "NEXT RUN", "IN", "SCHEDULE"]);
    for r in &next.runs {
        table.row(vec![r.service.clone(), style.time(Some(r.at)), between(now, r.at), r.schedule.clone()]);
    }
    table
}

/// One line per job, unit, container and waited-for run.
pub(crate) fn control_lines(report: &ControlReport, style: &Style, timeout: Option<std::time::Duration>) -> String {
    let mut text = String::new();
    for c in &report.containers {
        text.push_str(&crate::create::container_line(c));
    }
    for o in &report.jobs {
        text.push_str(&format!("{} {}: {}\n", o.job, o.unit, style.state(o.result.as_str())));
    }
    let verb = match report.action {
        Action::Enable => "enabled",
        Action::Disable => "disabled",
        Action::Remove => "removed",
        _ => "",
    };
    for u in &report.units {
        text.push_str(&format!("{verb} {u}\n"));
    }
    for r in &report.runs {
        let exit = r.exit_status.map_or(String::new(), |c| format!(", exit status {c}"));
        let result = r.result.map_or("never ran", |r| r.as_str());
        text.push_str(&format!("run of {}: {}{exit}\n", r.service, style.state(result)));
    }
    if report.wait_timed_out {
        let t = timeout.map_or(String::new(), |t| {
            format!(" after {}", taskflows_core::Duration::from_micros(t.as_micros() as u64))
        });
        text.push_str(&format!("still running{t}; not waiting any longer\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use taskflows_api::{ActiveState, LoadState, RunResult, ServiceState};

    use super::status_table;
    use crate::output::Style;

    /// A recorded status: a running worker, a calendar job that failed, one never run.
    fn recorded() -> Vec<ServiceState> {
        let t = |s: &str| s.parse::<jiff::Timestamp>().unwrap();
        vec![
            ServiceState {
                name: "worker".into(),
                description: "Queue worker".into(),
                load_state: LoadState::Loaded,
                active_state: ActiveState::Active,
                sub_state: "running".into(),
                enabled: true,
                last_start: Some(t("2026-11-26T08:00:00Z")),
                active_since: Some(t("2026-11-26T08:00:00Z")),
                restarts: 2,
                result: Some(RunResult::Success),
                main_pid: Some(4242),
                ..ServiceState::default()
            },
            ServiceState {
                name: "nightly".into(),
                description: "Nightly report".into(),
                load_state: LoadState::Loaded,
                active_state: ActiveState::Failed,
                sub_state: "failed".into(),
                enabled: false,
                timer_enabled: Some(true),
                timer_active: Some(ActiveState::Active),
                last_start: Some(t("2026-11-26T02:30:00Z")),
                last_finish: Some(t("2026-11-26T02:31:05Z")),
                result: Some(RunResult::ExitCode),
                exit_status: Some(3),
                next_elapse: Some(t("2026-11-27T02:30:00Z")),
                schedules: vec!["OnCalendar=*-*-* 02:30:00 UTC".into()],
                ..ServiceState::default()
            },
            ServiceState {
                name: "fresh".into(),
                load_state: LoadState::Loaded,
                active_state: ActiveState::Inactive,
                sub_state: "dead".into(),
                enabled: false,
                ..ServiceState::default()
            },
        ]
    }

    #[test]
    fn status_table_from_recorded_states() {
        let now = "2026-11-26T11:30:00Z".parse::<jiff::Timestamp>().unwrap();
        let style = Style::plain(jiff::tz::TimeZone::get("Europe/Berlin").unwrap());
        insta::assert_snapshot!("status", status_table(&recorded(), false, &style, now).render(&style));
        insta::assert_snapshot!("status-all", status_table(&recorded(), true, &style, now).render(&style));
    }
}

//! The read-only operations: list, status, show, logs (and follow), history, next.

use futures_util::StreamExt as _;
use taskflows_core::ServiceName;

use crate::{
    Error, History, InstalledUnit, Local, LogQuery, LogStream, Logs, NextRun, NextRuns, Result, RunSelector,
    ServiceList, ServiceUnits, StatusReport, UnitFiles, VERSION,
};

impl Local {
    /// The installed services a pattern names (all without one). A pattern that matches nothing
    /// is an error naming the nearest services.
    pub async fn select(&self, pattern: Option<&str>) -> Result<Vec<ServiceName>> {
        let systemd = self.systemd().await?;
        Ok(match pattern {
            None => systemd.installed()?,
            Some(p) => systemd.select(p)?,
        })
    }

    /// Exactly one installed service.
    pub(crate) async fn exactly_one(&self, name: &str) -> Result<ServiceName> {
        let mut names = self.select(Some(name)).await?;
        if names.len() > 1 {
            let listed: Vec<&str> = names.iter().map(ServiceName::as_str).collect();
            return Err(Error::usage(
                format!("{name:?} matches {} services: {}", names.len(), listed.join(", ")),
                Some("name one service"),
            ));
        }
        Ok(names.remove(0))
    }

    pub(crate) async fn list_services(&self, pattern: Option<&str>) -> Result<ServiceList> {
        let names = self.select(pattern).await?;
        let services = names
            .iter()
            .map(|n| ServiceUnits { name: n.to_string(), units: taskflows_systemd::units_of(&self.unit_dir, n) })
            .collect();
        Ok(ServiceList { version: VERSION, services })
    }

    pub(crate) async fn status_of(&self, pattern: Option<&str>, running: bool) -> Result<StatusReport> {
        let names = self.select(pattern).await?;
        let mut services = self.systemd().await?.status(&names).await?;
        if running {
            services.retain(|s| s.is_running());
        }
        Ok(StatusReport { version: VERSION, services })
    }

    pub(crate) async fn show_units(&self, pattern: &str) -> Result<UnitFiles> {
        let mut units = Vec::new();
        for name in self.select(Some(pattern)).await? {
            for unit in taskflows_systemd::units_of(&self.unit_dir, &name) {
                let path = self.unit_dir.join(&unit);
                let content = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
                units.push(InstalledUnit { name: unit, path: path.display().to_string(), content });
            }
        }
        Ok(UnitFiles { version: VERSION, units })
    }

    pub(crate) async fn logs_of(&self, name: &str, query: &LogQuery) -> Result<Logs> {
        // The filters are checked before systemd is asked anything.
        let mut filter = query.filter(jiff::Timestamp::now())?;
        let service = self.exactly_one(name).await?;
        let unit = format!("{}.service", service.unit_stem());
        let systemd = self.systemd().await?;
        let run = match &query.run {
            None => None,
            Some(selector) => Some(self.run_window(&unit, selector, &mut filter).await?),
        };
        let lines = systemd.logs_matching(&unit, query.lines, &filter).await.map_err(|e| grep_error(query, e))?;
        let lines = match run {
            None => lines,
            Some(run) => lines.into_iter().filter(|l| run.owns(l)).collect(),
        };
        Ok(Logs { version: VERSION, unit, lines })
    }

    /// Narrow `filter` to the run `selector` names, found in the unit's history.
    async fn run_window(
        &self,
        unit: &str,
        selector: &RunSelector,
        filter: &mut taskflows_systemd::LogFilter,
    ) -> Result<RunWindow> {
        const SEARCHED: usize = 1000;
        let limit = if *selector == RunSelector::Last { 20 } else { SEARCHED };
        let runs = self.systemd().await?.history(&[unit.to_owned()], None, limit).await?;
        let mut matching = runs.into_iter().filter(|r| r.kind == crate::RunKind::Service).filter(|r| match selector {
            RunSelector::Last => true,
            RunSelector::Id(id) => r.invocation_id.starts_with(id.as_str()),
        });
        let found = matching.next();
        if let (RunSelector::Id(id), Some(run)) = (selector, &found)
            && let Some(other) = matching.find(|r| r.invocation_id != run.invocation_id)
        {
            return Err(Error::usage(
                format!(
                    "run: {id} starts the ids of more than one run of {unit} ({} and {})",
                    run.invocation_id, other.invocation_id
                ),
                Some("give more of the id's digits"),
            ));
        }
        let Some(run) = found else {
            return Err(match selector {
                RunSelector::Last => Error::usage(format!("run: {unit} has not run yet"), None),
                RunSelector::Id(id) => Error::usage(
                    format!("run: no run {id} among the last {SEARCHED} runs of {unit}"),
                    Some("`tf history -m NAME` lists the runs and their invocation ids"),
                ),
            });
        };
        // journald's lines of a run fall between its start and its end; a second on each side
        // for the manager's own lines about it.
        let second = jiff::SignedDuration::from_secs(1);
        if let Some(start) = run.start.and_then(|s| s.checked_sub(second).ok()) {
            filter.since = Some(filter.since.map_or(start, |s| s.max(start)));
        }
        if let Some(end) = run.end.and_then(|e| e.checked_add(second).ok()) {
            filter.until = Some(filter.until.map_or(end, |u| u.min(end)));
        }
        Ok(RunWindow { id: run.invocation_id, start: run.start, end: run.end })
    }

    pub(crate) async fn follow_logs(&self, name: &str, query: &LogQuery) -> Result<LogStream> {
        if query.run.is_some() {
            return Err(Error::usage(
                "run: one run's lines are read, not followed; follow or run is allowed, not both",
                None,
            ));
        }
        let filter = query.filter(jiff::Timestamp::now())?;
        let service = self.exactly_one(name).await?;
        let unit = format!("{}.service", service.unit_stem());
        let follower = self.systemd().await?.follow_matching(&unit, query.lines, &filter)?;
        let stream = futures_util::stream::unfold(follower, |mut f| async move {
            match f.next().await {
                Ok(Some(line)) => Some((Ok(line), f)),
                Ok(None) => None,
                Err(e) => Some((Err(Error::from(e)), f)),
            }
        });
        Ok(stream.boxed())
    }

    pub(crate) async fn history_of(&self, pattern: Option<&str>, limit: usize) -> Result<History> {
        let names = self.select(pattern).await?;
        let units: Vec<String> = names.iter().map(|n| format!("{}.service", n.unit_stem())).collect();
        let runs = self.systemd().await?.history(&units, None, limit).await?;
        Ok(History { version: VERSION, runs })
    }

    /// Upcoming runs: the timer's next elapse comes from systemd; more of them from the native
    /// calendar engine.
    pub(crate) async fn next_runs(&self, pattern: Option<&str>, count: usize) -> Result<NextRuns> {
        let names = self.select(pattern).await?;
        let states = self.systemd().await?.status(&names).await?;
        let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
        let now = jiff::Timestamp::now();
        let mut runs: Vec<NextRun> = Vec::new();
        for s in states.iter().filter(|s| s.timer_active.is_some()) {
            let mut upcoming: Vec<NextRun> = Vec::new();
            for schedule in &s.schedules {
                let Some(expr) = schedule.strip_prefix("OnCalendar=") else { continue };
                let Ok(event) = taskflows_core::calendar::CalendarEvent::parse(expr) else { continue };
                for at in event.elapses_after(now, &zone).take(count) {
                    upcoming.push(NextRun { service: s.name.clone(), at, schedule: schedule.clone() });
                }
            }
            // systemd's own next elapse covers periodic schedules too (only the next one is known).
            if let Some(t) = s.next_elapse
                && !upcoming.iter().any(|u| u.at.duration_since(t).abs() < jiff::SignedDuration::from_secs(1))
            {
                let periodic: Vec<&str> =
                    s.schedules.iter().filter(|x| !x.starts_with("OnCalendar=")).map(String::as_str).collect();
                let schedule = if periodic.is_empty() { s.schedules.join("; ") } else { periodic.join("; ") };
                upcoming.push(NextRun { service: s.name.clone(), at: t, schedule });
            }
            upcoming.sort_by_key(|u| u.at);
            upcoming.truncate(count);
            runs.extend(upcoming);
        }
        runs.sort_by_key(|r| r.at);
        Ok(NextRuns { version: VERSION, runs })
    }
}

/// The run `tf logs --run` shows: its lines carry its invocation id; lines journald could not tie
/// to a run (a user unit's short-lived processes) count when they fall within it.
struct RunWindow {
    id: String,
    start: Option<jiff::Timestamp>,
    end: Option<jiff::Timestamp>,
}

impl RunWindow {
    fn owns(&self, line: &crate::LogLine) -> bool {
        match &line.invocation_id {
            Some(id) => *id == self.id,
            None => self.start.is_some_and(|s| line.timestamp >= s) && self.end.is_none_or(|e| line.timestamp <= e),
        }
    }
}

/// journalctl refusing a `--grep` pattern is the pattern's fault: a usage error naming it.
fn grep_error(query: &LogQuery, e: taskflows_systemd::Error) -> Error {
    let message = e.to_string();
    match &query.grep {
        Some(g) if message.contains("Bad pattern") => {
            Error::usage(format!("grep: {g:?} is not a valid PCRE2 pattern ({message})"), None)
        }
        _ => Error::from(e),
    }
}

//! The read-only operations: list, status, show, logs (and follow), history, next.

use futures_util::StreamExt as _;
use taskflows_core::ServiceName;

use crate::{
    Error, History, InstalledUnit, Local, LogStream, Logs, NextRun, NextRuns, Result, ServiceList, ServiceUnits,
    StatusReport, UnitFiles, VERSION,
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

    pub(crate) async fn logs_of(&self, name: &str, lines: usize) -> Result<Logs> {
        let service = self.exactly_one(name).await?;
        let unit = format!("{}.service", service.unit_stem());
        let lines = self.systemd().await?.logs(&unit, lines).await?;
        Ok(Logs { version: VERSION, unit, lines })
    }

    pub(crate) async fn follow_logs(&self, name: &str, lines: usize) -> Result<LogStream> {
        let service = self.exactly_one(name).await?;
        let unit = format!("{}.service", service.unit_stem());
        let follower = self.systemd().await?.follow(&unit, lines)?;
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

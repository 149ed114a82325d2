//! Selecting installed services by name or glob, and acting on them.

use std::path::Path;

use taskflows_core::{ServiceName, glob_match};

use crate::state::JobKind;
use crate::{Error, JobOutcome, Result, Systemd};

/// Which units of a service an action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Targets {
    /// The main services only.
    #[default]
    Services,
    /// The timers only (the service's and its stop-/restart- helpers').
    Timers,
    /// Both.
    Both,
}

/// The unit files installed in `dir` for the service `name`, in a fixed order: the service, its
/// timer, then the stop- and restart- helpers and their timers.
pub fn units_of(dir: &Path, name: &ServiceName) -> Vec<String> {
    let stem = name.unit_stem();
    [
        format!("{stem}.service"),
        format!("{stem}.timer"),
        format!("stop-{stem}.service"),
        format!("stop-{stem}.timer"),
        format!("restart-{stem}.service"),
        format!("restart-{stem}.timer"),
    ]
    .into_iter()
    .filter(|u| dir.join(u).exists())
    .collect()
}

impl Systemd {
    /// The services installed in this backend's unit folder, by name.
    pub fn installed(&self) -> Result<Vec<ServiceName>> {
        let entries = match std::fs::read_dir(&self.unit_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &self.unit_dir)(e)),
        };
        let mut names: Vec<ServiceName> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| ServiceName::new(f.strip_prefix("taskflows-")?.strip_suffix(".service")?).ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// The installed services a pattern selects: a plain name matches exactly that service, a
    /// glob (`*`, `?`) matches names. Nothing matching is an error naming the nearest services.
    pub fn select(&self, pattern: &str) -> Result<Vec<ServiceName>> {
        let installed = self.installed()?;
        let chosen: Vec<ServiceName> = installed.iter().filter(|n| glob_match(pattern, n.as_str())).cloned().collect();
        if chosen.is_empty() {
            return Err(Error::NoMatch { pattern: pattern.to_owned(), nearest: nearest(pattern, &installed) });
        }
        Ok(chosen)
    }

    /// The units of `services` that `targets` names, among those installed.
    pub fn target_units(&self, services: &[ServiceName], targets: Targets) -> Vec<String> {
        services
            .iter()
            .flat_map(|s| {
                let main = format!("{}.service", s.unit_stem());
                units_of(&self.unit_dir, s).into_iter().filter(move |u| match targets {
                    Targets::Services => *u == main,
                    Targets::Timers => u.ends_with(".timer"),
                    Targets::Both => *u == main || u.ends_with(".timer"),
                })
            })
            .collect()
    }

    /// Start units and wait for their jobs.
    pub async fn start(&self, services: &[ServiceName], targets: Targets) -> Result<Vec<JobOutcome>> {
        self.job_on(services, targets, JobKind::Start).await
    }

    /// Stop units and wait for their jobs.
    pub async fn stop(&self, services: &[ServiceName], targets: Targets) -> Result<Vec<JobOutcome>> {
        self.job_on(services, targets, JobKind::Stop).await
    }

    /// Restart units and wait for their jobs.
    pub async fn restart(&self, services: &[ServiceName], targets: Targets) -> Result<Vec<JobOutcome>> {
        self.job_on(services, targets, JobKind::Restart).await
    }

    async fn job_on(&self, services: &[ServiceName], targets: Targets, job: JobKind) -> Result<Vec<JobOutcome>> {
        let units = self.target_units(services, targets);
        if job != JobKind::Stop {
            let jobs: Vec<(JobKind, String)> = units.into_iter().map(|u| (job, u)).collect();
            return self.run_jobs(&jobs).await;
        }
        // Stopping: timers first, so none fires a service while it is being stopped.
        let (timers, others): (Vec<String>, Vec<String>) = units.into_iter().partition(|u| u.ends_with(".timer"));
        let mut outcomes = self.run_jobs(&timers.into_iter().map(|u| (job, u)).collect::<Vec<_>>()).await?;
        outcomes.extend(self.run_jobs(&others.into_iter().map(|u| (job, u)).collect::<Vec<_>>()).await?);
        Ok(outcomes)
    }

    /// Enable units (start at boot/login; timers armed at boot/login).
    pub async fn enable(&self, services: &[ServiceName], targets: Targets) -> Result<Vec<String>> {
        let units = self.target_units(services, targets);
        if !units.is_empty() {
            let names: Vec<&str> = units.iter().map(String::as_str).collect();
            self.manager.enable_unit_files(&names, false, true).await.map_err(Error::call("EnableUnitFiles"))?;
        }
        Ok(units)
    }

    /// Disable units.
    pub async fn disable(&self, services: &[ServiceName], targets: Targets) -> Result<Vec<String>> {
        let units = self.target_units(services, targets);
        self.disable_files(&units).await?;
        Ok(units)
    }

    /// Remove services: stop their timers and units, disable them, delete their files, forget
    /// their failed state, and reload once. Returns the unit files removed.
    pub async fn remove(&self, services: &[ServiceName]) -> Result<Vec<String>> {
        let units: Vec<String> = services.iter().flat_map(|s| units_of(&self.unit_dir, s)).collect();
        if units.is_empty() {
            return Ok(units);
        }
        // Timers first, so none fires a unit that is being stopped.
        let (timers, others): (Vec<&String>, Vec<&String>) = units.iter().partition(|u| u.ends_with(".timer"));
        let stops = |us: Vec<&String>| us.into_iter().map(|u| (JobKind::Stop, u.clone())).collect::<Vec<_>>();
        self.run_jobs(&stops(timers)).await?;
        self.run_jobs(&stops(others)).await?;
        self.disable_files(&units).await?;
        for u in &units {
            let path = self.unit_dir.join(u);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io("remove", &path)(e)),
            }
        }
        self.reload().await?;
        for u in &units {
            // Only fails for units systemd has already forgotten, which is the goal.
            let _ = self.manager.reset_failed_unit(u).await;
        }
        Ok(units)
    }
}

/// Up to three installed names closest to `pattern` (edit distance at most half its length).
pub fn nearest(pattern: &str, installed: &[ServiceName]) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = installed
        .iter()
        .map(|n| (edit_distance(pattern, n.as_str()), n.as_str()))
        .filter(|(d, _)| *d <= pattern.chars().count().div_ceil(2).max(2))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, n)| n.to_owned()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

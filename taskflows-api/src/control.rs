//! Start, stop, restart, enable, disable, remove; `start --wait`; one-off runs.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use taskflows_core::ServiceName;
use taskflows_systemd::ServiceState;

use crate::{Action, ControlReport, ControlRequest, Error, Local, Result, RunEnd, RunReport, RunRequest, VERSION};

impl Local {
    pub(crate) async fn control_services(&self, request: &ControlRequest) -> Result<ControlReport> {
        let names = self.select(Some(&request.pattern)).await?;
        let systemd = self.systemd().await?;
        let targets = request.targets.into();
        let mut report = ControlReport {
            version: VERSION,
            action: request.action,
            services: names.iter().map(ToString::to_string).collect(),
            jobs: Vec::new(),
            units: Vec::new(),
            containers: Vec::new(),
            runs: Vec::new(),
            wait_timed_out: false,
            ok: true,
        };
        match request.action {
            Action::Start => {
                // Watching before the start, so no change of the runs can slip by unseen.
                let watch = match request.wait {
                    true => Some(systemd.watch().await?),
                    false => None,
                };
                report.jobs = systemd.start(&names, targets).await?;
                if let Some(watch) = watch
                    && report.jobs.iter().all(|j| j.ok())
                {
                    let waiting = self.wait_for_runs(&names, watch);
                    match request.timeout {
                        None => report.runs = waiting.await?,
                        Some(t) => match tokio::time::timeout(t, waiting).await {
                            Ok(runs) => report.runs = runs?,
                            Err(_) => report.wait_timed_out = true,
                        },
                    }
                }
            }
            Action::Stop => report.jobs = systemd.stop(&names, targets).await?,
            Action::Restart => report.jobs = systemd.restart(&names, targets).await?,
            Action::Enable => report.units = systemd.enable(&names, targets).await?,
            Action::Disable => report.units = systemd.disable(&names, targets).await?,
            Action::Remove => (report.containers, report.units) = self.remove(&names, request.force).await?,
        }
        report.ok = report.jobs.iter().all(|j| j.ok()) && report.runs.iter().all(|r| r.ok) && !report.wait_timed_out;
        Ok(report)
    }

    /// Remove installed services: their containers, units and saved definitions, under the data
    /// folder's lock. Returns the container changes and the unit files removed. With `force`, a
    /// Docker engine that cannot be reached does not stop it (the containers left are reported).
    pub async fn remove(
        &self,
        names: &[ServiceName],
        force: bool,
    ) -> Result<(Vec<crate::ContainerChange>, Vec<String>)> {
        let _lock = self.lock().await?;
        // Containers first: their specs are found through the services' names, so when the
        // engine is down this fails before the units are gone and a retry still finds them.
        let containers = crate::create::remove_containers_of(&self.data_dir(), names, force).await?;
        let units = self.systemd().await?.remove(names).await?;
        let store = self.store();
        for name in names {
            store.remove_definition(name)?;
            let values = PathBuf::from(taskflows_core::env_values_file(self.ctx.data_dir.as_str(), name.as_str()));
            match std::fs::remove_file(&values) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io("remove", &values)(e)),
                _ => {}
            }
        }
        Ok((containers, units))
    }

    /// Wait until no started service is running any more, from systemd's signals (each change
    /// of a service's state is said as [`Progress::Run`](crate::Progress::Run)); say how each
    /// run ended.
    async fn wait_for_runs(&self, names: &[ServiceName], watch: taskflows_systemd::Watch) -> Result<Vec<RunEnd>> {
        // Not how changes arrive, only a net under a signal lost in a full queue.
        const RECHECK: Duration = Duration::from_secs(10);
        let systemd = self.systemd().await?;
        let units: HashSet<String> = names.iter().map(|n| format!("{}.service", n.unit_stem())).collect();
        let mut watch = Some(watch);
        let mut said: Vec<ServiceState> = Vec::new();
        loop {
            let states = systemd.status(names).await?;
            for s in &states {
                let before = said.iter().find(|b| b.name == s.name);
                if before.is_none_or(|b| b.active_state != s.active_state || b.sub_state != s.sub_state) {
                    let (service, state, ended) = (s.name.clone(), state_words(s), !s.is_running());
                    self.say(crate::Progress::Run { service, state, ended });
                }
            }
            if !states.iter().any(ServiceState::is_running) {
                return Ok(states
                    .iter()
                    .map(|s| RunEnd {
                        service: s.name.clone(),
                        result: s.result,
                        exit_status: s.exit_status,
                        ok: !s.last_run_failed(),
                    })
                    .collect());
            }
            said = states;
            // The next change of one of these services (or, should the bus close, a moment).
            match watch.as_mut() {
                None => tokio::time::sleep(Duration::from_millis(200)).await,
                Some(w) => loop {
                    match tokio::time::timeout(RECHECK, w.next()).await {
                        Err(_) => break,
                        Ok(None) => {
                            watch = None;
                            break;
                        }
                        Ok(Some(taskflows_systemd::Event::State { unit, .. })) if units.contains(&unit) => break,
                        Ok(Some(_)) => {}
                    }
                },
            }
        }
    }

    pub(crate) async fn run_once(&self, request: &RunRequest) -> Result<RunReport> {
        let systemd = self.systemd().await?;
        if request.argv.is_empty() {
            return Err(Error::usage("a run needs a command", Some("tf run -- COMMAND [ARG…]")));
        }
        let run = taskflows_systemd::TransientRun {
            argv: request.argv.clone(),
            timeout: request.timeout,
            ..Default::default()
        };
        let outcome = systemd.run_transient(&request.unit, &run).await?;
        Ok(RunReport { version: VERSION, outcome })
    }

    /// Stop a transient run and forget it (a front end interrupted while it waited).
    pub async fn abandon_run(&self, unit: &str) -> Result<()> {
        self.systemd().await?.stop_transient(unit).await?;
        Ok(())
    }
}

/// `active (running)`, as `systemctl status` words a state.
fn state_words(s: &ServiceState) -> String {
    format!("{} ({})", s.active_state.as_str(), s.sub_state)
}

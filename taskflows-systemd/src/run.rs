//! One-off runs as transient units, the way `systemd-run --wait` does it.

use std::time::Duration;

use zbus::Variant;

use crate::state::{ActiveState, RunResult, from_micros};
use crate::{Error, Result, Systemd};

/// A command to run once under systemd.
#[derive(Debug, Clone, Default)]
pub struct TransientRun {
    /// The program (an absolute path, or a name systemd finds on its search path) and arguments.
    pub argv: Vec<String>,
    /// The unit's description.
    pub description: Option<String>,
    /// `KEY=VALUE` environment entries.
    pub env: Vec<String>,
    /// The working directory.
    pub working_directory: Option<String>,
    /// The longest the run may take.
    pub timeout: Option<Duration>,
}

/// How a transient run ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RunOutcome {
    /// The transient unit's name.
    pub unit: String,
    /// How it ended.
    pub result: RunResult,
    /// The exit status, when the process exited.
    pub exit_status: Option<i32>,
    /// The invocation id, to find the run's logs.
    pub invocation_id: String,
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn ok(&self) -> bool {
        self.result == RunResult::Success
    }
}

impl Systemd {
    /// Run `run` once as the transient service `unit` (e.g. `taskflows-run-backup-1234.service`)
    /// and wait for it to finish.
    pub async fn run_transient(&self, unit: &str, run: &TransientRun) -> Result<RunOutcome> {
        let Some(program) = run.argv.first() else {
            return Err(Error::Invalid("a transient run needs a command".to_owned()));
        };
        let exec: Vec<(String, Vec<String>, bool)> = vec![(program.clone(), run.argv.clone(), false)];
        let mut props: Vec<(&str, Variant<'_>)> = vec![
            (
                "Description",
                Variant::from(run.description.clone().unwrap_or_else(|| format!("taskflows run of {program}"))),
            ),
            ("Type", Variant::from("oneshot")),
            // Stay loaded after success (failed units stay anyway) so the outcome can be read.
            ("RemainAfterExit", Variant::from(true)),
            ("ExecStart", Variant::from(exec)),
            ("SyslogIdentifier", Variant::from(unit.rsplit_once('.').map_or(unit, |(stem, _)| stem).to_owned())),
        ];
        if !run.env.is_empty() {
            props.push(("Environment", Variant::from(run.env.clone())));
        }
        if let Some(dir) = &run.working_directory {
            props.push(("WorkingDirectory", Variant::from(dir.clone())));
        }
        if let Some(t) = run.timeout {
            // A oneshot's run is its start job: RuntimeMaxSec= does not apply to it, the start
            // timeout does (its end is then result "timeout").
            props.push(("TimeoutStartUSec", Variant::from(u64::try_from(t.as_micros()).unwrap_or(u64::MAX))));
        }
        let mut removed = crate::proxies::job_removed(&self.conn).await.map_err(Error::call("JobRemoved"))?;
        let job = self
            .manager
            .start_transient_unit(unit, "fail", &props, &[])
            .await
            .map_err(Error::call(format!("StartTransientUnit {unit}")))?;
        // A oneshot's start job ends when its process does.
        use futures_util::StreamExt as _;
        let wait = async {
            while let Some(removed) = removed.next().await {
                if removed.job == job.as_str() {
                    break;
                }
            }
        };
        // Without a timeout the run may take as long as it takes; with one, systemd ends it
        // (RuntimeMaxSec=) and this waits a little longer for its end.
        match run.timeout {
            None => wait.await,
            Some(t) => {
                let limit = t + Duration::from_secs(30);
                if tokio::time::timeout(limit, wait).await.is_err() {
                    self.stop_transient(unit).await?;
                    return Err(Error::Timeout { what: format!("transient unit {unit}"), seconds: limit.as_secs() });
                }
            }
        }
        let state = self.unit_outcome(unit).await?;
        self.stop_transient(unit).await?;
        Ok(state)
    }

    /// Stop a transient unit and forget it (also its failed state), so nothing of it is left.
    pub async fn stop_transient(&self, unit: &str) -> Result<()> {
        // The stop is waited for: a process killed by it leaves the unit failed, and only then
        // can the failure be forgotten (a transient unit is gone once it is inactive).
        self.run_jobs(&[(crate::state::JobKind::Stop, unit.to_owned())]).await?;
        let _ = self.manager.reset_failed_unit(unit).await;
        Ok(())
    }

    /// The unit's current run: its invocation, whether it is running, and how it ended.
    pub(crate) async fn live_run(&self, unit: &str) -> Result<Option<LiveRun>> {
        let Ok(path) = self.manager.load_unit(unit).await else {
            return Ok(None);
        };
        let call = Error::call(format!("read {unit}"));
        let (unit_proxy, service) =
            crate::proxies::unit_proxies(&self.conn, path).await.map_err(Error::call(format!("read {unit}")))?;
        let outcome = outcome_of(unit, &unit_proxy, &service).await.map_err(call)?;
        let read = |e| Error::Call { call: format!("read {unit}"), source: e };
        let active = unit_proxy.active_state().await.map_err(read)?;
        Ok(Some(LiveRun {
            invocation_id: outcome.invocation_id,
            running: ActiveState::from_word(&active).is_running(),
            result: outcome.result,
            exit_status: outcome.exit_status,
            start: from_micros(service.exec_main_start_timestamp().await.map_err(read)?),
            end: from_micros(service.exec_main_exit_timestamp().await.map_err(read)?),
        }))
    }

    async fn unit_outcome(&self, unit: &str) -> Result<RunOutcome> {
        let path = self.manager.load_unit(unit).await.map_err(Error::call(format!("LoadUnit {unit}")))?;
        let (unit_proxy, service) =
            crate::proxies::unit_proxies(&self.conn, path).await.map_err(Error::call(format!("read {unit}")))?;
        outcome_of(unit, &unit_proxy, &service).await.map_err(Error::call(format!("read {unit}")))
    }
}

/// A unit's current run, as systemd holds it.
pub(crate) struct LiveRun {
    pub(crate) invocation_id: String,
    pub(crate) running: bool,
    pub(crate) result: RunResult,
    pub(crate) exit_status: Option<i32>,
    pub(crate) start: Option<jiff::Timestamp>,
    pub(crate) end: Option<jiff::Timestamp>,
}

async fn outcome_of(
    unit: &str,
    unit_proxy: &crate::proxies::UnitProxy<'_>,
    service: &crate::proxies::ServiceProxy<'_>,
) -> zbus::Result<RunOutcome> {
    // ExecMainCode is a CLD_* code: 1 = exited (then ExecMainStatus is the exit status).
    let exit_status = match service.exec_main_code().await? {
        1 => Some(service.exec_main_status().await?),
        _ => None,
    };
    let invocation_id = unit_proxy.invocation_id().await?.iter().map(|b| format!("{b:02x}")).collect();
    let result = RunResult::from_word(&service.result().await?);
    Ok(RunOutcome { unit: unit.to_owned(), result, exit_status, invocation_id })
}

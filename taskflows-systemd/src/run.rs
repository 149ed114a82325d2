//! One-off runs as transient units, the way `systemd-run --wait` does it.

use std::time::Duration;

use zbus::Variant;

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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RunOutcome {
    /// The transient unit's name.
    pub unit: String,
    /// systemd's result: success, exit-code, signal, timeout …
    pub result: String,
    /// The exit status, when the process exited.
    pub exit_status: Option<i32>,
    /// The invocation id, to find the run's logs.
    pub invocation_id: String,
}

impl RunOutcome {
    /// Whether the run succeeded.
    pub fn ok(&self) -> bool {
        self.result == "success"
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
            props.push(("RuntimeMaxUSec", Variant::from(t.as_micros() as u64)));
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
        let limit = run.timeout.map_or(crate::jobs::JOB_TIMEOUT, |t| t + Duration::from_secs(30));
        if tokio::time::timeout(limit, wait).await.is_err() {
            return Err(Error::Timeout { what: format!("transient unit {unit}"), seconds: limit.as_secs() });
        }
        let state = self.unit_outcome(unit).await?;
        // Clean up: stop the remaining unit and forget a failure.
        let _ = self.manager.stop_unit(unit, "replace").await;
        let _ = self.manager.reset_failed_unit(unit).await;
        Ok(state)
    }

    /// The unit's current run: its invocation, whether it is running, and how it ended.
    pub(crate) async fn live_run(&self, unit: &str) -> Result<Option<LiveRun>> {
        let Ok(path) = self.manager.load_unit(unit).await else {
            return Ok(None);
        };
        let service = crate::status::get_all(&self.conn, &path, "org.freedesktop.systemd1.Service").await?;
        let unit_props = crate::status::get_all(&self.conn, &path, "org.freedesktop.systemd1.Unit").await?;
        let outcome = outcome_of(unit, &unit_props, &service);
        let active = match unit_props.get("ActiveState").map(|v| &**v) {
            Some(Variant::Str(s)) => s.to_string(),
            _ => String::new(),
        };
        let stamp = |key: &str| match service.get(key).map(|v| &**v) {
            Some(Variant::U64(t)) if *t != 0 => Some(*t),
            _ => None,
        };
        let start = stamp("ExecMainStartTimestamp");
        let end = match service.get("ExecMainExitTimestamp").map(|v| &**v) {
            Some(Variant::U64(t)) if *t != 0 => Some(*t),
            _ => None,
        };
        Ok(Some(LiveRun {
            invocation_id: outcome.invocation_id,
            running: matches!(active.as_str(), "active" | "activating" | "deactivating" | "reloading"),
            result: outcome.result,
            exit_status: outcome.exit_status,
            start,
            end,
        }))
    }

    async fn unit_outcome(&self, unit: &str) -> Result<RunOutcome> {
        let path = self.manager.load_unit(unit).await.map_err(Error::call(format!("LoadUnit {unit}")))?;
        let service = crate::status::get_all(&self.conn, &path, "org.freedesktop.systemd1.Service").await?;
        let unit_props = crate::status::get_all(&self.conn, &path, "org.freedesktop.systemd1.Unit").await?;
        Ok(outcome_of(unit, &unit_props, &service))
    }
}

/// A unit's current run, as systemd holds it.
pub(crate) struct LiveRun {
    pub(crate) invocation_id: String,
    pub(crate) running: bool,
    pub(crate) result: String,
    pub(crate) exit_status: Option<i32>,
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
}

type Props = std::collections::HashMap<String, zbus::OwnedVariant>;

fn outcome_of(unit: &str, unit_props: &Props, service: &Props) -> RunOutcome {
    let result = match service.get("Result").map(|v| &**v) {
        Some(Variant::Str(s)) => s.to_string(),
        _ => String::new(),
    };
    let exit_status = match (service.get("ExecMainCode").map(|v| &**v), service.get("ExecMainStatus").map(|v| &**v)) {
        (Some(Variant::I32(1)), Some(Variant::I32(s))) => Some(*s),
        _ => None,
    };
    let invocation_id = match unit_props.get("InvocationID").map(|v| &**v) {
        Some(Variant::Array(bytes)) => bytes
            .inner()
            .iter()
            .filter_map(|b| if let Variant::U8(b) = b { Some(format!("{b:02x}")) } else { None })
            .collect(),
        _ => String::new(),
    };
    RunOutcome { unit: unit.to_owned(), result, exit_status, invocation_id }
}

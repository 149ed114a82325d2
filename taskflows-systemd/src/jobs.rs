//! systemd jobs: issue many, wait for each one's `JobRemoved`.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt as _;

use crate::state::{JobKind, JobResult};
use crate::{Error, Result, Systemd};

/// What happened to one job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct JobOutcome {
    /// The unit.
    pub unit: String,
    /// What was asked.
    pub job: JobKind,
    /// How it ended.
    pub result: JobResult,
}

impl JobOutcome {
    /// Whether the job did what was asked.
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// How many job calls are in flight at once.
const IN_FLIGHT: usize = 64;

/// How long to wait for a batch of jobs.
pub(crate) const JOB_TIMEOUT: Duration = Duration::from_secs(300);

impl Systemd {
    /// Run `(job, unit)` pairs concurrently and wait until systemd removed every job.
    pub(crate) async fn run_jobs(&self, jobs: &[(JobKind, String)]) -> Result<Vec<JobOutcome>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        // Subscribe first, so no JobRemoved can slip by between a call's reply and the wait.
        let mut removed = crate::proxies::job_removed(&self.conn).await.map_err(Error::call("JobRemoved"))?;
        let mut outcomes: Vec<JobOutcome> = Vec::with_capacity(jobs.len());
        // systemd tracks the client of every queued job with a bus match rule, and dbus-daemon
        // disconnects systemd past 512 of them; dbus-daemon also allows 128 pending replies per
        // connection. So jobs go in batches, each waited for before the next is queued.
        for batch in jobs.chunks(IN_FLIGHT) {
            let calls = batch.iter().map(|(job, unit)| async move {
                let m = &self.manager;
                let reply = match *job {
                    JobKind::Start => m.start_unit(unit, "replace").await,
                    JobKind::Stop => m.stop_unit(unit, "replace").await,
                    JobKind::Restart => m.restart_unit(unit, "replace").await,
                    JobKind::TryRestart | JobKind::Unknown => m.try_restart_unit(unit, "replace").await,
                };
                (*job, unit.clone(), reply)
            });
            // Collected first: a stream over the closure's map would make this future not `Send`
            // (rustc cannot prove the closure general over lifetimes).
            let calls: Vec<_> = calls.collect();
            let replies: Vec<_> = futures_util::stream::iter(calls).buffered(IN_FLIGHT).collect().await;
            let mut pending: HashMap<String, usize> = HashMap::new();
            for (job, unit, reply) in replies {
                match reply {
                    Ok(path) => {
                        pending.insert(path.as_str().to_owned(), outcomes.len());
                        outcomes.push(JobOutcome { unit, job, result: JobResult::Unknown });
                    }
                    Err(e) if job == JobKind::Stop && is_no_such_unit(&e) => {
                        outcomes.push(JobOutcome { unit, job, result: JobResult::NotLoaded });
                    }
                    Err(e) => {
                        return Err(Error::Call { call: format!("{job} {unit}"), source: e });
                    }
                }
            }
            let wait = async {
                while !pending.is_empty() {
                    let Some(removed) = removed.next().await else {
                        break;
                    };
                    if let Some(i) = pending.remove(&removed.job) {
                        outcomes[i].result = JobResult::from_word(&removed.result);
                    }
                }
            };
            if tokio::time::timeout(JOB_TIMEOUT, wait).await.is_err() {
                return Err(Error::Timeout { what: "systemd jobs".to_owned(), seconds: JOB_TIMEOUT.as_secs() });
            }
            if let Some(report) = &self.progress {
                report(outcomes.len(), jobs.len());
            }
        }
        Ok(outcomes)
    }
}

pub(crate) fn is_no_such_unit(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::MethodError(name, _, _) if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit")
}

//! Finished runs counted from the journal incrementally: each read starts after the cursor of
//! the last entry the previous one saw, so its cost depends on what was written since, not on the
//! journal's age. For counters (`/metrics`), which start at zero when the counting does.
//!
//! Failures are logged in both scopes. A user manager logs a successful end only at debug level,
//! so a run is also known to have ended well when its unit starts again, or when the unit is no
//! longer running and did not fail ([`RunCounts::settle`], with the live state).

use std::collections::BTreeMap;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;

use crate::journal::JOURNAL_TIMEOUT;
use crate::{Error, Result, Scope, Systemd};

/// systemd's "Starting …" (`UNIT_STARTING`): a run begins.
const UNIT_STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";
/// systemd's "Started …"/"Finished …" (`UNIT_STARTED`): a user manager logs only this one of the
/// two at info level.
const UNIT_STARTED: &str = "39f53479d3a045ac8e11786248231fbf";
/// systemd's "Deactivated successfully" (`UNIT_SUCCESS`).
const UNIT_SUCCESS: &str = "7ad2d189f7e94e70a38c781354912448";
/// systemd's "Failed with result …" (`UNIT_FAILURE_RESULT`, with `UNIT_RESULT`).
const UNIT_FAILURE_RESULT: &str = "d9b373ed55a64feb8242e02dbe79a49c";

/// The most entries one read takes; the rest wait for the next read.
const MAX_ENTRIES: usize = 200_000;

/// Task runs of one task: by result, and their total duration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskCounts {
    /// Runs by result word (`success`, `failed` …).
    pub by_result: BTreeMap<String, u64>,
    /// The runs' durations added up, in seconds.
    pub seconds: f64,
    /// Runs with a duration.
    pub timed: u64,
}

/// Runs finished since counting began.
#[derive(Debug, Clone, Default)]
pub struct RunCounts {
    cursor: Option<String>,
    since: Option<jiff::Timestamp>,
    /// Service runs by unit (`taskflows-NAME.service`), then by result (`success`, `exit-code`,
    /// `timeout`, `signal` …).
    pub services: BTreeMap<String, BTreeMap<String, u64>>,
    /// Task runs by unit and task name.
    pub tasks: BTreeMap<(String, String), TaskCounts>,
    /// Per unit, the run seen starting whose end is not known yet (its invocation id).
    open: BTreeMap<String, String>,
    /// Runs already counted as ended well, which a late `UNIT_SUCCESS` must not count again (the
    /// newest few thousand, oldest first, and the same as a set).
    ended: std::collections::VecDeque<String>,
    ended_set: std::collections::HashSet<String>,
}

/// The most services and tasks counted: a journal entry may name anything, and every name is a
/// series.
const MAX_KEYS: usize = 10_000;

impl RunCounts {
    /// Count runs that finish from `since` on.
    pub fn since(since: jiff::Timestamp) -> RunCounts {
        RunCounts { since: Some(since), ..RunCounts::default() }
    }

    /// Take one journal entry (JSON), written by `trusted_uid`.
    fn add(&mut self, v: &Value, scope: Scope, trusted_uid: u32) {
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        if let Some(c) = field("__CURSOR") {
            self.cursor = Some(c.to_owned());
        }
        if field("_UID").and_then(|u| u.parse::<u32>().ok()) != Some(trusted_uid) {
            return;
        }
        let (unit_field, task_unit_field) = match scope {
            Scope::System => ("UNIT", "TASKFLOWS_UNIT"),
            Scope::User => ("USER_UNIT", "TASKFLOWS_USER_UNIT"),
        };
        if let Some(task) = field("TASKFLOWS_TASK_NAME") {
            let Some(unit) = field(task_unit_field).filter(|u| ours(u)) else { return };
            if self.tasks.len() >= MAX_KEYS && !self.tasks.contains_key(&(unit.to_owned(), task.to_owned())) {
                return;
            }
            let status = field("TASKFLOWS_TASK_STATUS").unwrap_or("failed");
            let counts = self.tasks.entry((unit.to_owned(), task.to_owned())).or_default();
            *counts.by_result.entry(status.to_owned()).or_default() += 1;
            if let Some(us) = field("TASKFLOWS_TASK_DURATION_USEC").and_then(|d| d.parse::<u64>().ok()) {
                counts.seconds += us as f64 / 1e6;
                counts.timed += 1;
            }
            return;
        }
        let Some(unit) = field(unit_field).filter(|u| ours(u)) else { return };
        // The manager's own messages only: a service can write any MESSAGE_ID to the journal.
        if field("_COMM") != Some("systemd") {
            return;
        }
        let invocation = match scope {
            Scope::System => field("INVOCATION_ID"),
            Scope::User => field("USER_INVOCATION_ID").or(field("INVOCATION_ID")),
        }
        .unwrap_or_default();
        match field("MESSAGE_ID") {
            Some(UNIT_STARTING | UNIT_STARTED) if !invocation.is_empty() => {
                // A unit runs once at a time: a new run means the one before it ended, and
                // without a failure logged, it ended well.
                if let Some(before) = self.open.insert(unit.to_owned(), invocation.to_owned())
                    && before != invocation
                {
                    self.ended_well(unit, before);
                }
            }
            Some(UNIT_SUCCESS) => {
                if self.open.get(unit).is_some_and(|i| i == invocation) {
                    self.open.remove(unit);
                }
                if invocation.is_empty() || !self.ended_set.contains(invocation) {
                    self.count(unit, "success");
                    self.remember(invocation.to_owned());
                }
            }
            Some(UNIT_FAILURE_RESULT) => {
                if self.open.get(unit).is_some_and(|i| i == invocation) {
                    self.open.remove(unit);
                }
                self.count(unit, field("UNIT_RESULT").unwrap_or("failed"));
            }
            _ => {}
        }
    }

    fn count(&mut self, unit: &str, result: &str) {
        if self.services.len() >= MAX_KEYS && !self.services.contains_key(unit) {
            return;
        }
        let by_result = self.services.entry(unit.to_owned()).or_default();
        if by_result.len() < 64 || by_result.contains_key(result) {
            *by_result.entry(result.to_owned()).or_default() += 1;
        }
    }

    fn remember(&mut self, invocation: String) {
        if invocation.is_empty() {
            return;
        }
        if self.ended.len() >= 4096
            && let Some(old) = self.ended.pop_front()
        {
            self.ended_set.remove(&old);
        }
        self.ended_set.insert(invocation.clone());
        self.ended.push_back(invocation);
    }

    fn ended_well(&mut self, unit: &str, invocation: String) {
        if !self.ended_set.contains(&invocation) {
            self.count(unit, "success");
            self.remember(invocation);
        }
    }

    /// Count as ended well the open runs of units that are no longer running and did not fail,
    /// by their live state (`state_of` a unit: `None` when unknown).
    pub fn settle(&mut self, state_of: impl Fn(&str) -> Option<crate::ActiveState>) {
        let done: Vec<(String, String)> = self
            .open
            .iter()
            .filter(|(unit, _)| matches!(state_of(unit), Some(s) if !s.is_running() && s != crate::ActiveState::Failed))
            .map(|(u, i)| (u.clone(), i.clone()))
            .collect();
        for (unit, invocation) in done {
            self.open.remove(&unit);
            self.ended_well(&unit, invocation);
        }
    }
}

/// A taskflows service unit (not its helpers, not a one-off run).
fn ours(unit: &str) -> bool {
    unit.starts_with("taskflows-") && unit.ends_with(".service") && !unit.starts_with("taskflows-run-")
}

impl Systemd {
    /// Add the runs that finished since the last call (since `counts`' start on the first).
    pub async fn count_runs(&self, counts: &mut RunCounts) -> Result<()> {
        let trusted_uid = match self.scope {
            Scope::System => 0,
            Scope::User => crate::current_uid(),
        };
        let mut cmd = tokio::process::Command::new("journalctl");
        cmd.args(["--no-pager", "--output=json", "--quiet"]);
        cmd.arg(
            "--output-fields=MESSAGE_ID,UNIT,USER_UNIT,UNIT_RESULT,INVOCATION_ID,USER_INVOCATION_ID,_UID,_COMM,\
             TASKFLOWS_TASK_NAME,TASKFLOWS_TASK_STATUS,TASKFLOWS_TASK_DURATION_USEC,TASKFLOWS_UNIT,TASKFLOWS_USER_UNIT",
        );
        match (&counts.cursor, counts.since) {
            (Some(c), _) => {
                cmd.arg(format!("--after-cursor={c}"));
            }
            (None, Some(t)) => {
                cmd.arg(format!("--since=@{}.{:06}", t.as_second(), t.subsec_microsecond()));
            }
            (None, None) => {}
        }
        cmd.arg(format!("_UID={trusted_uid}"));
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null()).kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| Error::Journal(format!("cannot run journalctl: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| Error::Journal("journalctl has no output".to_owned()))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let scope = self.scope;
        let read = async {
            let mut n = 0;
            while let Some(line) = lines.next_line().await.map_err(|e| Error::Journal(e.to_string()))? {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    counts.add(&v, scope, trusted_uid);
                }
                n += 1;
                if n >= MAX_ENTRIES {
                    break;
                }
            }
            Ok::<(), Error>(())
        };
        tokio::time::timeout(JOURNAL_TIMEOUT, read).await.map_err(|_| {
            Error::Journal(format!("journalctl did not answer within {}s", JOURNAL_TIMEOUT.as_secs()))
        })??;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::RunCounts;
    use crate::Scope;

    #[test]
    fn finished_runs_and_tasks_are_counted_and_others_ignored() {
        let mut c = RunCounts::default();
        let entries = [
            json!({"__CURSOR": "c1", "_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_SUCCESS, "UNIT": "taskflows-web.service", "INVOCATION_ID": "i1"}),
            json!({"__CURSOR": "c2", "_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_FAILURE_RESULT, "UNIT": "taskflows-web.service", "UNIT_RESULT": "exit-code"}),
            json!({"__CURSOR": "c3", "_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_SUCCESS, "UNIT": "sshd.service"}),
            json!({"__CURSOR": "c4", "_UID": "1000", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_SUCCESS, "UNIT": "taskflows-web.service"}),
            json!({"__CURSOR": "c5", "_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_SUCCESS, "UNIT": "taskflows-run-x-1.service"}),
            json!({"__CURSOR": "c6", "_UID": "0", "TASKFLOWS_TASK_NAME": "load", "TASKFLOWS_UNIT": "taskflows-etl.service", "TASKFLOWS_TASK_STATUS": "success", "TASKFLOWS_TASK_DURATION_USEC": "1500000"}),
            json!({"__CURSOR": "c8", "_UID": "0", "_COMM": "sh", "MESSAGE_ID": super::UNIT_FAILURE_RESULT, "UNIT": "taskflows-web.service", "UNIT_RESULT": "forged"}),
            json!({"__CURSOR": "c7", "_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_SUCCESS, "UNIT": "stop-taskflows-web.service"}),
        ];
        for e in &entries {
            c.add(e, Scope::System, 0);
        }
        assert_eq!(c.cursor.as_deref(), Some("c7"));
        assert!(!c.services["taskflows-web.service"].contains_key("forged"), "only the manager's messages count");
        assert_eq!(c.services.len(), 1);
        let web = &c.services["taskflows-web.service"];
        assert_eq!((web["success"], web["exit-code"]), (1, 1));
        let task = &c.tasks[&("taskflows-etl.service".to_owned(), "load".to_owned())];
        assert_eq!((task.by_result["success"], task.seconds, task.timed), (1, 1.5, 1));
    }

    /// A user manager logs no success: a run ended well when its unit starts again, or is no
    /// longer running without having failed; a late success message does not count it twice.
    #[test]
    fn runs_without_a_success_message_end_well_by_the_next_start_or_the_live_state() {
        let mut c = RunCounts::default();
        let starting = |inv: &str| json!({"_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_STARTING, "USER_UNIT": "taskflows-job.service", "USER_INVOCATION_ID": inv});
        let failed = |inv: &str| json!({"_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_FAILURE_RESULT, "USER_UNIT": "taskflows-job.service", "USER_INVOCATION_ID": inv, "UNIT_RESULT": "timeout"});
        let success = |inv: &str| json!({"_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_SUCCESS, "USER_UNIT": "taskflows-job.service", "USER_INVOCATION_ID": inv});
        let started = |inv: &str| json!({"_UID": "0", "_COMM": "systemd", "MESSAGE_ID": super::UNIT_STARTED, "USER_UNIT": "taskflows-job.service", "USER_INVOCATION_ID": inv});
        for e in [starting("a"), started("a"), started("b"), failed("b"), starting("c")] {
            c.add(&e, Scope::User, 0);
        }
        let job = |c: &RunCounts, result: &str| c.services["taskflows-job.service"].get(result).copied();
        assert_eq!((job(&c, "success"), job(&c, "timeout")), (Some(1), Some(1)));
        // Still running: not settled.
        c.settle(|_| Some(crate::ActiveState::Active));
        assert_eq!(job(&c, "success"), Some(1));
        c.settle(|_| Some(crate::ActiveState::Inactive));
        assert_eq!(job(&c, "success"), Some(2));
        // A late success message of a run counted already, and settling again, change nothing.
        c.add(&success("c"), Scope::User, 0);
        c.settle(|_| Some(crate::ActiveState::Inactive));
        assert_eq!(job(&c, "success"), Some(2));
    }
}

//! Logs and run history, read from the journal with `journalctl --output=json`.
//!
//! History needs no database of its own: systemd logs structured messages about every run of a
//! unit (started, process exit, result, resources consumed) that carry the run's invocation id;
//! grouping them by that id gives one record per run. Task runs (`taskflows-alerts`' runner, in
//! a service's process) log one structured entry each (`TASKFLOWS_TASK_*` fields) naming their
//! unit and its invocation id; they come back as records of kind `task`, merged by time.

use std::collections::HashMap;
use std::process::Stdio;

use serde_json::Value;
use taskflows_core::Scope;
use tokio::io::{AsyncBufReadExt as _, BufReader};

use jiff::Timestamp;

use crate::state::{RunResult, from_micros};
use crate::{Error, Result, Systemd};

/// One journal line of a unit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct LogLine {
    /// When it was logged.
    pub timestamp: Timestamp,
    /// syslog priority, 0 (emerg) … 7 (debug).
    pub priority: Option<u8>,
    /// The logging process.
    pub pid: Option<u32>,
    /// The message.
    pub message: String,
}

/// What ran: a service (a unit's run) or a task inside one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunKind {
    /// One run of a unit, from systemd's messages.
    #[default]
    Service,
    /// One run of an in-process task (with all its attempts), from its own record.
    Task,
}

/// How a run's main process ended, when it did not exit cleanly (or when systemd said).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "how", rename_all = "lowercase")]
pub enum ProcessExit {
    /// It exited with this status.
    Exited {
        /// The exit status.
        status: i32,
    },
    /// A signal killed it.
    Killed {
        /// The signal's name, e.g. `TERM`.
        signal: String,
    },
    /// A signal killed it and it dumped core.
    Dumped {
        /// The signal's name, e.g. `SEGV`.
        signal: String,
    },
}

impl ProcessExit {
    /// From systemd's `EXIT_CODE` (exited, killed, dumped) and `EXIT_STATUS`.
    fn from_fields(code: &str, status: &str) -> Option<ProcessExit> {
        match code {
            "exited" => Some(ProcessExit::Exited { status: status.parse().ok()? }),
            "killed" => Some(ProcessExit::Killed { signal: status.to_owned() }),
            "dumped" => Some(ProcessExit::Dumped { signal: status.to_owned() }),
            _ => None,
        }
    }

    /// The exit status, when it exited.
    pub fn status(&self) -> Option<i32> {
        match self {
            ProcessExit::Exited { status } => Some(*status),
            _ => None,
        }
    }
}

impl std::fmt::Display for ProcessExit {
    /// `3`, `SIGTERM`, `SIGSEGV (core dumped)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessExit::Exited { status } => write!(f, "{status}"),
            ProcessExit::Killed { signal } => write!(f, "SIG{signal}"),
            ProcessExit::Dumped { signal } => write!(f, "SIG{signal} (core dumped)"),
        }
    }
}

/// One run of a service or of a task in it, from the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RunRecord {
    /// Service or task.
    pub kind: RunKind,
    /// The unit that ran (for a task: the unit it ran in).
    pub unit: String,
    /// systemd's invocation id of the run (for a task: of the service run it was part of).
    pub invocation_id: String,
    /// A task's name.
    pub task_name: Option<String>,
    /// A task's run id (`PID-N`).
    pub task_id: Option<String>,
    /// A task's attempts.
    pub attempts: Option<u32>,
    /// When the run started.
    pub start: Option<Timestamp>,
    /// When it ended; none while running.
    pub end: Option<Timestamp>,
    /// How it ended (`running` while it runs); for a task: success, failed or timeout.
    pub result: RunResult,
    /// A failed task's last error.
    pub error: Option<String>,
    /// How the main process ended, when known.
    pub exit: Option<ProcessExit>,
    /// CPU time used, in nanoseconds.
    pub cpu_nsec: Option<u64>,
    /// Bytes read from block devices.
    pub io_read_bytes: Option<u64>,
    /// Bytes written to block devices.
    pub io_write_bytes: Option<u64>,
    /// Peak memory use in bytes (systemd 255+ logs it).
    pub memory_peak: Option<u64>,
}

// Message ids from systemd's sd-messages.h.
const UNIT_STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";
const UNIT_STARTED: &str = "39f53479d3a045ac8e11786248231fbf";
const UNIT_FAILED: &str = "be02cf6855d2428ba40df7e9d022f03d";
const UNIT_SUCCESS: &str = "7ad2d189f7e94e70a38c781354912448";
const UNIT_FAILURE_RESULT: &str = "d9b373ed55a64feb8242e02dbe79a49c";
const UNIT_PROCESS_EXIT: &str = "98e322203f7a4ed290d09fe03c09fe15";
const UNIT_RESOURCES: &str = "ae8f7b866b0347b9af31fe1c80b127c0";

impl Systemd {
    /// `journalctl` reading this scope's unit: `-u` for system units, `--user-unit` for user ones.
    pub fn journal_command(&self, unit: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("journalctl");
        cmd.args(["--no-pager", "--output=json", "--quiet"]);
        match self.scope {
            Scope::System => {
                cmd.arg(format!("--unit={unit}"));
            }
            Scope::User => {
                // journald trusts the unit a user manager names only while the writing process
                // lives; lines of processes that exited quickly are found by their identifier.
                let uid = crate::current_uid();
                let stem = unit.rsplit_once('.').map_or(unit, |(stem, _)| stem);
                cmd.args([format!("_SYSTEMD_USER_UNIT={unit}"), format!("_UID={uid}"), "+".to_owned()]);
                cmd.args([format!("USER_UNIT={unit}"), format!("_UID={uid}"), "+".to_owned()]);
                cmd.args([format!("SYSLOG_IDENTIFIER={stem}"), format!("_UID={uid}")]);
            }
        }
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// The last `lines` journal lines of `unit`, oldest first.
    pub async fn logs(&self, unit: &str, lines: usize) -> Result<Vec<LogLine>> {
        let mut cmd = self.journal_command(unit);
        cmd.arg(format!("--lines={lines}"));
        let out = run(cmd).await?;
        Ok(out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).map(|v| log_line(&v)).collect())
    }

    /// Follow `unit`'s journal: the last `lines` lines, then new ones as they come. The returned
    /// reader ends when dropped (journalctl is killed).
    pub fn follow(&self, unit: &str, lines: usize) -> Result<LogFollower> {
        let mut cmd = self.journal_command(unit);
        cmd.args([format!("--lines={lines}"), "--follow".to_owned()]).stdout(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| Error::Journal(format!("cannot run journalctl: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| Error::Journal("journalctl has no output".to_owned()))?;
        Ok(LogFollower { _child: child, lines: BufReader::new(stdout).lines() })
    }

    /// Runs of `units` recorded since `since_us` (µs since the epoch), newest first, at most
    /// `limit` of them.
    pub async fn history(&self, units: &[String], since: Option<Timestamp>, limit: usize) -> Result<Vec<RunRecord>> {
        self.history_within(units, since, None, Runs::WithTasks, limit).await
    }

    /// [`Systemd::history`], reading at most the last `entries` matching journal entries, with
    /// or without the task runs.
    ///
    /// Only entries written by the manager's user (`_UID`, which journald sets from the sender's
    /// credentials) count: root for system units (taskflows renders no `User=`), the caller for
    /// user units. A task run counts only when it names a service run of its unit found in the
    /// same read, so an entry anyone can write with `TASKFLOWS_UNIT=` set is not a run.
    pub(crate) async fn history_within(
        &self,
        units: &[String],
        since: Option<Timestamp>,
        entries: Option<usize>,
        runs_of: Runs,
        limit: usize,
    ) -> Result<Vec<RunRecord>> {
        if units.is_empty() {
            return Ok(Vec::new());
        }
        let fields = Fields::of(self.scope);
        let trusted_uid = match self.scope {
            Scope::System => 0,
            Scope::User => crate::current_uid(),
        };
        let mut cmd = tokio::process::Command::new("journalctl");
        cmd.args(["--no-pager", "--output=json", "--quiet"]).stdin(Stdio::null());
        if let Some(since) = since {
            cmd.arg(format!("--since=@{}", since.as_second()));
        }
        if let Some(n) = entries {
            cmd.arg(format!("--lines={n}"));
        }
        // Same field: any of them; another field: all of them; `+`: or.
        cmd.args(units.iter().map(|u| format!("{}={u}", fields.unit)));
        cmd.arg(format!("_UID={trusted_uid}"));
        if runs_of == Runs::WithTasks {
            cmd.arg("+");
            cmd.args(units.iter().map(|u| format!("{}={u}", fields.task_unit)));
            cmd.arg(format!("_UID={trusted_uid}"));
        }
        let out = run(cmd).await?;
        let (mut runs, mut tasks) = parse_runs(&out, units, &fields, trusted_uid, runs_of);
        self.settle_open_runs(&mut runs).await?;
        for r in &mut runs {
            // systemd logs the main process's exit only when it is not a clean one.
            if r.result == RunResult::Success && r.exit.is_none() {
                r.exit = Some(ProcessExit::Exited { status: 0 });
            }
        }
        runs.append(&mut tasks);
        // Newest first; a task starts after its service run, so it comes first among equals.
        runs.sort_by_key(|r| std::cmp::Reverse((r.start.or(r.end), r.kind == RunKind::Task)));
        runs.truncate(limit);
        Ok(runs)
    }
}

/// Which runs a history read returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runs {
    /// Service runs only (status: a service's last run); task entries are not even read.
    ServicesOnly,
    /// Service runs and the task runs in them.
    WithTasks,
}

/// The journal fields that name a unit and its run in one scope.
struct Fields {
    /// Set by the manager on its messages about a unit.
    unit: &'static str,
    /// The run's invocation id on those messages.
    invocation: &'static str,
    /// Set by the task runner on a task record.
    task_unit: &'static str,
}

impl Fields {
    fn of(scope: Scope) -> Fields {
        match scope {
            Scope::System => Fields { unit: "UNIT", invocation: "INVOCATION_ID", task_unit: "TASKFLOWS_UNIT" },
            Scope::User => {
                Fields { unit: "USER_UNIT", invocation: "USER_INVOCATION_ID", task_unit: "TASKFLOWS_USER_UNIT" }
            }
        }
    }
}

impl Systemd {
    /// Decide runs without an end message. Failures are always logged (at warning level), but a
    /// user manager logs successful ends only at debug level: a run followed by a later run of
    /// its unit ended without failure; the latest run is compared with the unit's live state.
    async fn settle_open_runs(&self, runs: &mut [RunRecord]) -> Result<()> {
        let mut latest: HashMap<&str, (Option<Timestamp>, usize)> = HashMap::new();
        for (i, r) in runs.iter().enumerate() {
            let e = latest.entry(r.unit.as_str()).or_insert((r.start, i));
            if r.start >= e.0 {
                *e = (r.start, i);
            }
        }
        let latest: HashMap<String, usize> = latest.into_iter().map(|(u, (_, i))| (u.to_owned(), i)).collect();
        for (i, r) in runs.iter_mut().enumerate() {
            if r.result != RunResult::Running {
                continue;
            }
            if latest.get(&r.unit) != Some(&i) {
                r.result = RunResult::Success;
                continue;
            }
            match self.live_run(&r.unit).await? {
                Some(live) if live.invocation_id == r.invocation_id && live.running => {}
                Some(live) if live.invocation_id == r.invocation_id => {
                    r.result = live.result;
                    r.start = live.start.or(r.start);
                    r.end = live.end;
                    r.exit = live.exit_status.map(|status| ProcessExit::Exited { status });
                }
                _ => r.result = RunResult::Success,
            }
        }
        Ok(())
    }
}

/// The service runs and task runs in `out` (journalctl's JSON lines), unsettled, in journal
/// order. Entries not written by `trusted_uid` are skipped; a task run is kept only when a service
/// run of its unit with its invocation id is among them.
fn parse_runs(
    out: &str,
    units: &[String],
    fields: &Fields,
    trusted_uid: u32,
    runs_of: Runs,
) -> (Vec<RunRecord>, Vec<RunRecord>) {
    let mut runs: Vec<RunRecord> = Vec::new();
    let mut tasks: Vec<RunRecord> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        // journalctl filtered on it already; an entry of anyone else is never a run.
        if field("_UID").and_then(|u| u.parse::<u32>().ok()) != Some(trusted_uid) {
            continue;
        }
        if let Some(task) = task_run(&v, fields.task_unit) {
            if runs_of == Runs::WithTasks {
                tasks.push(task);
            }
            continue;
        }
        let (Some(id), Some(unit), Some(message_id)) =
            (field(fields.invocation).or(field("INVOCATION_ID")), field(fields.unit), field("MESSAGE_ID"))
        else {
            continue;
        };
        if !units.iter().any(|u| u == unit) {
            continue;
        }
        // A start skipped by a failed condition has no invocation: it is not a run.
        if id.is_empty() {
            continue;
        }
        let ts = field("__REALTIME_TIMESTAMP").and_then(|t| t.parse::<u64>().ok()).and_then(from_micros);
        let i = *by_id.entry(id.to_owned()).or_insert_with(|| {
            runs.push(RunRecord {
                unit: unit.to_owned(),
                invocation_id: id.to_owned(),
                result: RunResult::Running,
                ..RunRecord::default()
            });
            runs.len() - 1
        });
        let r = &mut runs[i];
        let num = |k: &str| field(k).and_then(|n| n.parse::<u64>().ok());
        match message_id {
            UNIT_STARTING => r.start = r.start.or(ts),
            UNIT_STARTED => {
                r.start = r.start.or(ts);
                // A oneshot's start job ends with its run: "Finished X."
                if field("MESSAGE").is_some_and(|m| m.starts_with("Finished ")) && r.result == RunResult::Running {
                    r.end = ts;
                    r.result = RunResult::Success;
                }
            }
            UNIT_SUCCESS => {
                r.end = ts;
                r.result = RunResult::Success;
            }
            UNIT_FAILURE_RESULT => {
                r.end = ts;
                r.result = field("UNIT_RESULT").map_or(RunResult::Failed, RunResult::from_word);
            }
            UNIT_FAILED => {
                r.end = r.end.or(ts);
                if r.result == RunResult::Running {
                    r.result = RunResult::Failed;
                }
            }
            UNIT_PROCESS_EXIT => {
                r.exit = ProcessExit::from_fields(field("EXIT_CODE").unwrap_or(""), field("EXIT_STATUS").unwrap_or(""));
            }
            UNIT_RESOURCES => {
                r.cpu_nsec = num("CPU_USAGE_NSEC");
                r.io_read_bytes = num("IO_METRIC_READ_BYTES");
                r.io_write_bytes = num("IO_METRIC_WRITE_BYTES");
                r.memory_peak = num("MEMORY_PEAK");
            }
            _ => {}
        }
    }
    // A task run belongs to a service run of its unit read here; anything else is not one.
    tasks.retain(|t| by_id.get(&t.invocation_id).is_some_and(|&i| runs[i].unit == t.unit));
    (runs, tasks)
}

/// A task run's record, when `v` is one (it has `TASKFLOWS_TASK_NAME`).
fn task_run(v: &Value, unit_field: &str) -> Option<RunRecord> {
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    let num = |k: &str| field(k).and_then(|n| n.parse::<u64>().ok());
    let name = field("TASKFLOWS_TASK_NAME")?;
    let start_us = num("TASKFLOWS_TASK_START_USEC");
    Some(RunRecord {
        kind: RunKind::Task,
        unit: field(unit_field).unwrap_or_default().to_owned(),
        invocation_id: field("TASKFLOWS_INVOCATION_ID").unwrap_or_default().to_owned(),
        task_name: Some(name.to_owned()),
        task_id: field("TASKFLOWS_TASK_ID").map(str::to_owned),
        attempts: num("TASKFLOWS_TASK_ATTEMPTS").and_then(|n| u32::try_from(n).ok()),
        start: start_us.and_then(from_micros),
        end: start_us.zip(num("TASKFLOWS_TASK_DURATION_USEC")).and_then(|(s, d)| from_micros(s.saturating_add(d))),
        result: field("TASKFLOWS_TASK_STATUS").map_or(RunResult::Failed, RunResult::from_word),
        error: field("TASKFLOWS_TASK_ERROR").map(str::to_owned),
        ..RunRecord::default()
    })
}

/// New journal lines of a followed unit.
pub struct LogFollower {
    _child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl LogFollower {
    /// The next line; `None` when journalctl ended.
    pub async fn next(&mut self) -> Result<Option<LogLine>> {
        loop {
            let line = self.lines.next_line().await.map_err(|e| Error::Journal(e.to_string()))?;
            let Some(line) = line else { return Ok(None) };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                return Ok(Some(log_line(&v)));
            }
        }
    }
}

async fn run(mut cmd: tokio::process::Command) -> Result<String> {
    let out = cmd.output().await.map_err(|e| Error::Journal(format!("cannot run journalctl: {e}")))?;
    if !out.status.success() {
        return Err(Error::Journal(format!(
            "journalctl exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    String::from_utf8(out.stdout).map_err(|e| Error::Journal(e.to_string()))
}

fn log_line(v: &Value) -> LogLine {
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    let message = match v.get("MESSAGE") {
        Some(Value::String(s)) => s.clone(),
        // Non-UTF-8 messages come as arrays of bytes.
        Some(Value::Array(bytes)) => {
            String::from_utf8_lossy(&bytes.iter().filter_map(|b| b.as_u64().map(|b| b as u8)).collect::<Vec<u8>>())
                .into_owned()
        }
        _ => String::new(),
    };
    LogLine {
        timestamp: field("__REALTIME_TIMESTAMP")
            .and_then(|t| t.parse::<u64>().ok())
            .and_then(from_micros)
            .unwrap_or(Timestamp::UNIX_EPOCH),
        priority: field("PRIORITY").and_then(|p| p.parse().ok()),
        pid: field("_PID").and_then(|p| p.parse().ok()),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_run_records_come_from_their_fields() {
        let entry = serde_json::json!({
            "MESSAGE": "task sync failed after 2 attempt(s) in 1.0s: disk full",
            "TASKFLOWS_TASK_NAME": "sync", "TASKFLOWS_TASK_ID": "41-1", "TASKFLOWS_TASK_STATUS": "failed",
            "TASKFLOWS_TASK_ATTEMPTS": "2", "TASKFLOWS_TASK_START_USEC": "1000000",
            "TASKFLOWS_TASK_DURATION_USEC": "1500", "TASKFLOWS_TASK_ERROR": "disk full",
            "TASKFLOWS_UNIT": "taskflows-sync.service", "TASKFLOWS_INVOCATION_ID": "abc",
        });
        let record = task_run(&entry, "TASKFLOWS_UNIT").expect("a task run");
        assert_eq!(
            record,
            RunRecord {
                kind: RunKind::Task,
                unit: "taskflows-sync.service".into(),
                invocation_id: "abc".into(),
                task_name: Some("sync".into()),
                task_id: Some("41-1".into()),
                attempts: Some(2),
                start: from_micros(1_000_000),
                end: from_micros(1_001_500),
                result: RunResult::Failed,
                error: Some("disk full".into()),
                ..RunRecord::default()
            }
        );
        let json = serde_json::to_value(&record).unwrap();
        assert_eq!((&json["kind"], &json["attempts"]), (&serde_json::json!("task"), &serde_json::json!(2)));
        assert_eq!(task_run(&serde_json::json!({ "MESSAGE": "Started x." }), "TASKFLOWS_UNIT"), None);
    }

    #[test]
    fn status_reads_no_task_runs() {
        let unit = "taskflows-sync.service";
        let out = [
            serde_json::json!({
                "MESSAGE_ID": UNIT_STARTING, "UNIT": unit, "INVOCATION_ID": "abc", "__REALTIME_TIMESTAMP": "1000", "_UID": "0",
            }),
            serde_json::json!({
                "TASKFLOWS_TASK_NAME": "side", "TASKFLOWS_TASK_STATUS": "failed", "TASKFLOWS_UNIT": unit,
                "TASKFLOWS_INVOCATION_ID": "abc", "TASKFLOWS_TASK_START_USEC": "2000", "_UID": "0",
            }),
        ]
        .map(|v| v.to_string())
        .join("\n");
        let fields = Fields::of(Scope::System);
        let (runs, tasks) = parse_runs(&out, &[unit.to_owned()], &fields, 0, Runs::WithTasks);
        assert_eq!((runs.len(), tasks.len()), (1, 1), "{runs:?} {tasks:?}");
        let (runs, tasks) = parse_runs(&out, &[unit.to_owned()], &fields, 0, Runs::ServicesOnly);
        assert_eq!((runs.len(), tasks.len()), (1, 0), "status reads service runs only: {tasks:?}");
        assert_eq!(runs[0].kind, RunKind::Service);
    }

    /// A JSON line of the journal.
    fn line(fields: serde_json::Value) -> String {
        fields.to_string()
    }

    #[test]
    fn only_the_managers_runs_and_the_tasks_in_them_count() {
        let unit = "taskflows-sync.service";
        let units = [unit.to_owned()];
        let service = |id: &str, uid: &str, ts: &str| {
            line(serde_json::json!({
                "MESSAGE_ID": UNIT_STARTING, "UNIT": unit, "INVOCATION_ID": id, "_UID": uid,
                "__REALTIME_TIMESTAMP": ts, "MESSAGE": "Starting sync...",
            }))
        };
        let task = |name: &str, id: &str, uid: &str| {
            line(serde_json::json!({
                "TASKFLOWS_TASK_NAME": name, "TASKFLOWS_TASK_STATUS": "failed", "TASKFLOWS_UNIT": unit,
                "TASKFLOWS_INVOCATION_ID": id, "TASKFLOWS_TASK_START_USEC": "2000", "_UID": uid,
            }))
        };
        let out = [
            service("real", "0", "1000"),
            task("in-the-run", "real", "0"),
            // Anyone can write these fields; journald sets `_UID` from the writer's credentials.
            task("by-another-user", "real", "65534"),
            task("no-such-run", "forged", "0"),
            service("forged", "65534", "1500"),
            task("in-a-forged-run", "forged", "0"),
        ]
        .join("\n");
        let fields = Fields::of(Scope::System);
        let (runs, tasks) = parse_runs(&out, &units, &fields, 0, Runs::WithTasks);
        let ids: Vec<&str> = runs.iter().map(|r| r.invocation_id.as_str()).collect();
        assert_eq!(ids, ["real"], "{runs:?}");
        let names: Vec<Option<&str>> = tasks.iter().map(|t| t.task_name.as_deref()).collect();
        assert_eq!(names, [Some("in-the-run")], "{tasks:?}");

        let (runs, tasks) = parse_runs(&out, &units, &fields, 0, Runs::ServicesOnly);
        assert_eq!((runs.len(), tasks.len()), (1, 0), "status reads service runs only: {tasks:?}");
    }
}

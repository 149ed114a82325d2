//! Logs and run history, read from the journal with `journalctl --output=json`.
//!
//! History needs no database of its own: systemd logs structured messages about every run of a
//! unit (started, process exit, result, resources consumed) that carry the run's invocation id;
//! grouping them by that id gives one record per run. Task runs (`taskflows-alerts`' runner, in
//! a service's process) log one structured entry each (`TASKFLOWS_TASK_*` fields) naming their
//! unit and its invocation id; they come back as records of kind `task`, merged by time.
//!
//! History reads newest first (`journalctl --reverse`, only the fields it parses) and kills
//! journalctl as soon as the newest runs asked for cannot change, so `tf history -l 20` costs
//! the same on a unit with a year of runs. Every journalctl run is bounded in time
//! ([`JOURNAL_TIMEOUT`]) and in entries.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
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
    #[schemars(with = "taskflows_core::schema::Timestamp")]
    pub timestamp: Timestamp,
    /// syslog priority, 0 (emerg) … 7 (debug).
    pub priority: Option<u8>,
    /// The logging process.
    pub pid: Option<u32>,
    /// The message.
    pub message: String,
    /// systemd's invocation id of the run that logged it, when journald knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
}

/// Which journal lines of a unit to read, handed to journalctl (`--since`, `--until`,
/// `--priority`, `--grep`): the values are checked by their callers (taskflows-api's `LogQuery`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Not before this.
    pub since: Option<Timestamp>,
    /// Not after this.
    pub until: Option<Timestamp>,
    /// Only lines of this syslog priority or a more severe one (0 emerg … 7 debug).
    pub max_priority: Option<u8>,
    /// Only lines whose message matches this PCRE2 pattern (journalctl's `--grep`; a pattern of
    /// lowercase letters only matches case-insensitively).
    pub grep: Option<String>,
}

impl LogFilter {
    fn add_to(&self, cmd: &mut tokio::process::Command) {
        // `@SECONDS.MICROS`: journalctl's own absolute form, free of time zones.
        let at = |t: Timestamp| format!("@{}.{:06}", t.as_second(), t.subsec_microsecond().max(0));
        if let Some(t) = self.since {
            cmd.arg(format!("--since={}", at(t)));
        }
        if let Some(t) = self.until {
            cmd.arg(format!("--until={}", at(t)));
        }
        if let Some(p) = self.max_priority {
            cmd.arg(format!("--priority={p}"));
        }
        if let Some(g) = &self.grep {
            cmd.arg(format!("--grep={g}"));
        }
    }
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
    #[schemars(with = "Option<taskflows_core::schema::Timestamp>")]
    pub start: Option<Timestamp>,
    /// When it ended; none while running.
    #[schemars(with = "Option<taskflows_core::schema::Timestamp>")]
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
        self.logs_matching(unit, lines, &LogFilter::default()).await
    }

    /// The last `lines` journal lines of `unit` that `filter` lets through, oldest first.
    pub async fn logs_matching(&self, unit: &str, lines: usize, filter: &LogFilter) -> Result<Vec<LogLine>> {
        let mut cmd = self.journal_command(unit);
        cmd.arg(format!("--lines={lines}"));
        filter.add_to(&mut cmd);
        let out = run(cmd).await?;
        Ok(out.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).map(|v| log_line(&v)).collect())
    }

    /// Follow `unit`'s journal: the last `lines` lines, then new ones as they come. The returned
    /// reader ends when dropped (journalctl is killed).
    pub fn follow(&self, unit: &str, lines: usize) -> Result<LogFollower> {
        self.follow_matching(unit, lines, &LogFilter::default())
    }

    /// [`Systemd::follow`], only the lines `filter` lets through.
    pub fn follow_matching(&self, unit: &str, lines: usize, filter: &LogFilter) -> Result<LogFollower> {
        let mut cmd = self.journal_command(unit);
        cmd.args([format!("--lines={lines}"), "--follow".to_owned()]).stdout(Stdio::piped()).stderr(Stdio::piped());
        filter.add_to(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| Error::Journal(format!("cannot run journalctl: {e}")))?;
        let stdout = child.stdout.take().ok_or_else(|| Error::Journal("journalctl has no output".to_owned()))?;
        let stderr = child.stderr.take().ok_or_else(|| Error::Journal("journalctl has no error output".to_owned()))?;
        Ok(LogFollower { child, stderr, lines: BufReader::new(stdout).lines(), ended: false })
    }

    /// Runs of `units` recorded since `since`, newest first, at most `limit` of them.
    ///
    /// Reads the journal newest first and stops as soon as the newest `limit` runs are known, so
    /// the time spent depends on what is shown, not on how long the units' journal is.
    pub async fn history(&self, units: &[String], since: Option<Timestamp>, limit: usize) -> Result<Vec<RunRecord>> {
        self.history_within(units, since, None, Runs::WithTasks, limit).await
    }

    /// [`Systemd::history`], reading at most the last `entries` matching journal entries
    /// (default [`MAX_HISTORY_ENTRIES`]), with or without the task runs.
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
        if units.is_empty() || limit == 0 {
            return Ok(Vec::new());
        }
        let fields = Fields::of(self.scope);
        let trusted_uid = match self.scope {
            Scope::System => 0,
            Scope::User => crate::current_uid(),
        };
        let mut cmd = tokio::process::Command::new("journalctl");
        cmd.args(["--no-pager", "--output=json", "--quiet", "--reverse"]);
        cmd.arg(format!("--output-fields={}", HISTORY_FIELDS.join(",")));
        // With --reverse, journalctl stops at the first entry older than --since, and --lines
        // counts from the newest entry.
        if let Some(since) = since {
            cmd.arg(format!("--since=@{}", since.as_second()));
        }
        cmd.arg(format!("--lines={}", entries.unwrap_or(MAX_HISTORY_ENTRIES)));
        // Same field: any of them; another field: all of them; `+`: or.
        cmd.args(units.iter().map(|u| format!("{}={u}", fields.unit)));
        cmd.arg(format!("_UID={trusted_uid}"));
        if runs_of == Runs::WithTasks {
            cmd.arg("+");
            cmd.args(units.iter().map(|u| format!("{}={u}", fields.task_unit)));
            cmd.arg(format!("_UID={trusted_uid}"));
        }
        let mut reader = RunsReader::new(units, &fields, trusted_uid, runs_of, limit);
        let stopped_early = read_newest_first(cmd, &mut reader).await?;
        let (mut runs, mut tasks) = reader.finish(stopped_early);
        self.settle_open_runs(&mut runs).await?;
        for r in &mut runs {
            // systemd logs the main process's exit only when it is not a clean one.
            if r.result == RunResult::Success && r.exit.is_none() {
                r.exit = Some(ProcessExit::Exited { status: 0 });
            }
        }
        runs.append(&mut tasks);
        runs.sort_by_key(newest_first);
        runs.truncate(limit);
        Ok(runs)
    }
}

/// How long one `journalctl` run may take.
pub(crate) const JOURNAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The most journal entries one history read looks at (about 100,000 runs).
pub(crate) const MAX_HISTORY_ENTRIES: usize = 1_000_000;

/// The fields history parses (journalctl adds `__CURSOR`, `__REALTIME_TIMESTAMP`,
/// `__MONOTONIC_TIMESTAMP` and `_BOOT_ID` anyway).
const HISTORY_FIELDS: &[&str] = &[
    "_UID",
    "MESSAGE_ID",
    "MESSAGE",
    "UNIT",
    "USER_UNIT",
    "INVOCATION_ID",
    "USER_INVOCATION_ID",
    "UNIT_RESULT",
    "EXIT_CODE",
    "EXIT_STATUS",
    "CPU_USAGE_NSEC",
    "IO_METRIC_READ_BYTES",
    "IO_METRIC_WRITE_BYTES",
    "MEMORY_PEAK",
    "TASKFLOWS_TASK_NAME",
    "TASKFLOWS_TASK_ID",
    "TASKFLOWS_TASK_STATUS",
    "TASKFLOWS_TASK_ATTEMPTS",
    "TASKFLOWS_TASK_START_USEC",
    "TASKFLOWS_TASK_DURATION_USEC",
    "TASKFLOWS_TASK_ERROR",
    "TASKFLOWS_UNIT",
    "TASKFLOWS_USER_UNIT",
    "TASKFLOWS_INVOCATION_ID",
];

/// History's order: newest first; a task starts after its service run, so it comes first among
/// equals.
fn newest_first(r: &RunRecord) -> Reverse<(Option<Timestamp>, bool)> {
    Reverse((sort_key(r), r.kind == RunKind::Task))
}

/// Feed `cmd`'s JSON lines (newest first) to `reader` until it knows the newest runs;
/// true when it stopped before journalctl's end (journalctl is then killed).
async fn read_newest_first(mut cmd: tokio::process::Command, reader: &mut RunsReader<'_>) -> Result<bool> {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| Error::Journal(format!("cannot run journalctl: {e}")))?;
    let stdout = child.stdout.take().ok_or_else(|| Error::Journal("journalctl has no output".to_owned()))?;
    let mut stderr = child.stderr.take().ok_or_else(|| Error::Journal("journalctl has no error output".to_owned()))?;
    let read = async {
        let mut lines = BufReader::new(stdout).lines();
        while let Some(line) = lines.next_line().await.map_err(|e| Error::Journal(e.to_string()))? {
            reader.push(&line);
            if reader.known() {
                return Ok(true);
            }
        }
        let mut message = String::new();
        let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut message).await;
        let status = child.wait().await.map_err(|e| Error::Journal(e.to_string()))?;
        if !status.success() {
            return Err(Error::Journal(format!("journalctl exited with {status}: {}", message.trim())));
        }
        Ok(false)
    };
    let stopped_early = tokio::time::timeout(JOURNAL_TIMEOUT, read).await.map_err(|_| journal_timeout());
    if !matches!(stopped_early, Ok(Ok(false))) {
        // Done early, failed or too slow: stop journalctl and reap it.
        let _ = child.kill().await;
    }
    stopped_early?
}

fn journal_timeout() -> Error {
    Error::Timeout { what: "journalctl".to_owned(), seconds: JOURNAL_TIMEOUT.as_secs() }
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

/// Service and task runs from journal entries read newest first.
///
/// A service run is complete once its start message was read, or an entry of an earlier run of
/// its unit: nothing older belongs to it. Entries not written by `trusted_uid` are skipped; a
/// task run is kept only when a service run of its unit with its invocation id is read too.
struct RunsReader<'a> {
    units: &'a [String],
    fields: &'a Fields,
    trusted_uid: u32,
    runs_of: Runs,
    limit: usize,
    runs: Vec<ReadRun>,
    by_id: HashMap<String, usize>,
    /// Per unit, its earliest run read so far.
    earliest: HashMap<String, usize>,
    tasks: Vec<RunRecord>,
    /// Tasks whose service run is not read yet, by its invocation id: their unit and sort key.
    waiting: HashMap<String, Vec<(String, Option<Timestamp>)>>,
    /// The sort keys of the waiting tasks, counted.
    waiting_keys: BTreeMap<Option<Timestamp>, usize>,
    /// The newest `limit` sort keys of the records that are final: whole runs, tasks with
    /// their run.
    newest: BinaryHeap<Reverse<Option<Timestamp>>>,
    /// The time of the oldest entry read: everything not read yet is older.
    position: Option<Timestamp>,
}

/// A service run being read.
struct ReadRun {
    unit: String,
    invocation_id: String,
    /// Its entries, newest first.
    entries: Vec<Value>,
    complete: bool,
    /// Its record, once complete (until another entry of it is read).
    record: Option<RunRecord>,
}

impl ReadRun {
    /// The run's record, unsettled: its entries replayed oldest first.
    fn record(&self) -> RunRecord {
        let mut r = RunRecord {
            unit: self.unit.clone(),
            invocation_id: self.invocation_id.clone(),
            result: RunResult::Running,
            ..RunRecord::default()
        };
        for v in self.entries.iter().rev() {
            apply(&mut r, v);
        }
        r
    }
}

/// Where a record goes in history's order (see [`newest_first`]).
fn sort_key(r: &RunRecord) -> Option<Timestamp> {
    r.start.or(r.end)
}

impl<'a> RunsReader<'a> {
    /// A reader that knows when the newest `limit` records are read.
    fn new(units: &'a [String], fields: &'a Fields, trusted_uid: u32, runs_of: Runs, limit: usize) -> RunsReader<'a> {
        RunsReader {
            units,
            fields,
            trusted_uid,
            runs_of,
            limit,
            runs: Vec::new(),
            by_id: HashMap::new(),
            earliest: HashMap::new(),
            tasks: Vec::new(),
            waiting: HashMap::new(),
            waiting_keys: BTreeMap::new(),
            newest: BinaryHeap::new(),
            position: None,
        }
    }

    /// Read the next (older) JSON line of journalctl.
    fn push(&mut self, line: &str) {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            return;
        };
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        if let Some(ts) = timestamp(&v) {
            self.position = Some(ts);
        }
        // journalctl filtered on it already; an entry of anyone else is never a run.
        if field("_UID").and_then(|u| u.parse::<u32>().ok()) != Some(self.trusted_uid) {
            return;
        }
        if let Some(task) = task_run(&v, self.fields.task_unit) {
            if self.runs_of == Runs::WithTasks {
                self.push_task(task);
            }
            return;
        }
        let (Some(id), Some(unit), Some(message_id)) =
            (field(self.fields.invocation).or(field("INVOCATION_ID")), field(self.fields.unit), field("MESSAGE_ID"))
        else {
            return;
        };
        // A start skipped by a failed condition has no invocation: it is not a run.
        if id.is_empty() || !self.units.iter().any(|u| u == unit) {
            return;
        }
        let starts = message_id == UNIT_STARTING;
        let (id, unit) = (id.to_owned(), unit.to_owned());
        let i = match self.by_id.get(&id) {
            Some(&i) => i,
            None => self.new_run(id, unit),
        };
        let run = &mut self.runs[i];
        run.entries.push(v);
        run.record = None;
        if starts {
            self.mark_complete(i);
        }
    }

    fn push_task(&mut self, task: RunRecord) {
        let key = sort_key(&task);
        match self.by_id.get(&task.invocation_id) {
            Some(&i) if self.runs[i].unit == task.unit => self.count(key),
            // Its invocation id is another unit's run: it is no run.
            Some(_) => {}
            None => {
                self.waiting.entry(task.invocation_id.clone()).or_default().push((task.unit.clone(), key));
                *self.waiting_keys.entry(key).or_default() += 1;
            }
        }
        self.tasks.push(task);
    }

    fn new_run(&mut self, id: String, unit: String) -> usize {
        let i = self.runs.len();
        // An entry of an earlier run: the later one is read whole.
        if let Some(later) = self.earliest.insert(unit.clone(), i) {
            self.mark_complete(later);
        }
        for (task_unit, key) in self.waiting.remove(&id).unwrap_or_default() {
            if let Some(n) = self.waiting_keys.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    self.waiting_keys.remove(&key);
                }
            }
            if task_unit == unit {
                self.count(key);
            }
        }
        self.by_id.insert(id.clone(), i);
        self.runs.push(ReadRun { unit, invocation_id: id, entries: Vec::new(), complete: false, record: None });
        i
    }

    fn mark_complete(&mut self, i: usize) {
        let run = &mut self.runs[i];
        if !run.complete {
            run.complete = true;
            let record = run.record();
            let key = sort_key(&record);
            run.record = Some(record);
            self.count(key);
        }
    }

    /// Count a final record with this sort key among the newest.
    fn count(&mut self, key: Option<Timestamp>) {
        self.newest.push(Reverse(key));
        if self.newest.len() > self.limit {
            self.newest.pop();
        }
    }

    /// Whether the newest `limit` records are known: reading further cannot change them.
    ///
    /// Everything not read yet is older than the read position, and so is the start of every
    /// run read only in part; a task counts once its service run is read.
    fn known(&self) -> bool {
        if self.newest.len() < self.limit {
            return false;
        }
        let (Some(position), Some(Reverse(Some(cutoff)))) = (self.position, self.newest.peek()) else {
            return false;
        };
        // A task whose run is not read yet may still count, and rank before the cutoff.
        *cutoff >= position && self.waiting_keys.last_key_value().is_none_or(|(key, _)| *key < Some(*cutoff))
    }

    /// The service runs (unsettled) and the task runs read. `partial`: reading stopped before
    /// the end, so runs read only in part are left out (they are older than those `known`).
    fn finish(self, partial: bool) -> (Vec<RunRecord>, Vec<RunRecord>) {
        let RunsReader { runs, by_id, mut tasks, .. } = self;
        // A task run belongs to a service run of its unit read here; anything else is not one.
        tasks.retain(|t| by_id.get(&t.invocation_id).is_some_and(|&i| runs[i].unit == t.unit));
        let runs = runs
            .into_iter()
            .filter(|r| r.complete || !partial)
            .map(|r| r.record.clone().unwrap_or_else(|| r.record()))
            .collect();
        (runs, tasks)
    }
}

fn timestamp(v: &Value) -> Option<Timestamp> {
    v.get("__REALTIME_TIMESTAMP").and_then(Value::as_str).and_then(|t| t.parse::<u64>().ok()).and_then(from_micros)
}

/// Apply one of systemd's messages about a run to its record (messages oldest first).
fn apply(r: &mut RunRecord, v: &Value) {
    let field = |k: &str| v.get(k).and_then(Value::as_str);
    let num = |k: &str| field(k).and_then(|n| n.parse::<u64>().ok());
    let ts = timestamp(v);
    match field("MESSAGE_ID").unwrap_or_default() {
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
    child: tokio::process::Child,
    stderr: tokio::process::ChildStderr,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    ended: bool,
}

impl LogFollower {
    /// The next line; `None` once journalctl ended. A journalctl that ended on its own (it only
    /// does on an error: a follow has no end) is an error naming what it said, once.
    pub async fn next(&mut self) -> Result<Option<LogLine>> {
        if self.ended {
            return Ok(None);
        }
        loop {
            let line = match self.lines.next_line().await {
                Ok(line) => line,
                Err(e) => {
                    self.ended = true;
                    return Err(Error::Journal(e.to_string()));
                }
            };
            let Some(line) = line else {
                self.ended = true;
                return Err(self.why_it_ended().await);
            };
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                return Ok(Some(log_line(&v)));
            }
        }
    }

    async fn why_it_ended(&mut self) -> Error {
        use tokio::io::AsyncReadExt as _;
        let mut said = String::new();
        let _ = (&mut self.stderr).take(4096).read_to_string(&mut said).await;
        let status = match tokio::time::timeout(std::time::Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => status.to_string(),
            _ => "no exit status".to_owned(),
        };
        Error::Journal(format!("journalctl stopped following ({status}): {}", said.trim()))
    }
}

async fn run(mut cmd: tokio::process::Command) -> Result<String> {
    cmd.kill_on_drop(true);
    let out = tokio::time::timeout(JOURNAL_TIMEOUT, cmd.output())
        .await
        .map_err(|_| journal_timeout())?
        .map_err(|e| Error::Journal(format!("cannot run journalctl: {e}")))?;
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
        invocation_id: field("_SYSTEMD_INVOCATION_ID").or_else(|| field("INVOCATION_ID")).map(str::to_owned),
    }
}

/// The journal parsers without journalctl, for the fuzz targets (`fuzz/`); not part of the API.
pub mod fuzzing {
    use jiff::Timestamp;
    use serde_json::Value;
    use taskflows_core::Scope;

    use super::{Fields, LogLine, RunRecord, Runs, RunsReader, newest_first};

    /// What history reads from `lines` (journalctl's JSON lines, newest first) for `units` in
    /// `scope`, trusting entries of `trusted_uid`: the service runs (unsettled) and task runs,
    /// newest first and at most `limit` of them, and the number of lines read before the newest
    /// `limit` were known (history stops journalctl there).
    pub fn history<'l>(
        lines: impl IntoIterator<Item = &'l str>,
        units: &[String],
        scope: Scope,
        trusted_uid: u32,
        with_tasks: bool,
        limit: usize,
    ) -> (Vec<RunRecord>, usize) {
        let fields = Fields::of(scope);
        let runs_of = if with_tasks { Runs::WithTasks } else { Runs::ServicesOnly };
        let mut reader = RunsReader::new(units, &fields, trusted_uid, runs_of, limit);
        let (mut read, mut stopped_early) = (0, false);
        for line in lines {
            reader.push(line);
            read += 1;
            if reader.known() {
                stopped_early = true;
                break;
            }
        }
        let (mut runs, mut tasks) = reader.finish(stopped_early);
        runs.append(&mut tasks);
        runs.sort_by_key(newest_first);
        runs.truncate(limit);
        (runs, read)
    }

    /// History's sort key of a record: when it started, or else ended.
    pub fn sort_key(record: &RunRecord) -> Option<Timestamp> {
        super::sort_key(record)
    }

    /// The log line `tf logs` shows for one line of `journalctl --output=json`; `None` when it
    /// is not JSON (such lines are skipped).
    pub fn log_line(line: &str) -> Option<LogLine> {
        serde_json::from_str::<Value>(line).ok().map(|v| super::log_line(&v))
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

    /// The runs in `lines` (journal order, oldest first), read newest first to the end.
    fn parse_runs(
        lines: &[String],
        units: &[String],
        fields: &Fields,
        trusted_uid: u32,
        runs_of: Runs,
    ) -> (Vec<RunRecord>, Vec<RunRecord>) {
        let mut reader = RunsReader::new(units, fields, trusted_uid, runs_of, usize::MAX);
        for line in lines.iter().rev() {
            reader.push(line);
        }
        reader.finish(false)
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
        .map(|v| v.to_string());
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
        ];
        let fields = Fields::of(Scope::System);
        let (runs, tasks) = parse_runs(&out, &units, &fields, 0, Runs::WithTasks);
        let ids: Vec<&str> = runs.iter().map(|r| r.invocation_id.as_str()).collect();
        assert_eq!(ids, ["real"], "{runs:?}");
        let names: Vec<Option<&str>> = tasks.iter().map(|t| t.task_name.as_deref()).collect();
        assert_eq!(names, [Some("in-the-run")], "{tasks:?}");

        let (runs, tasks) = parse_runs(&out, &units, &fields, 0, Runs::ServicesOnly);
        assert_eq!((runs.len(), tasks.len()), (1, 0), "status reads service runs only: {tasks:?}");
    }

    /// systemd's messages about one run of `unit` that starts at `t` (µs) and succeeds at `t + 10`.
    fn run_lines(unit: &str, id: &str, t: u64) -> Vec<String> {
        let msg = |message_id: &str, ts: u64, message: &str| {
            line(serde_json::json!({
                "MESSAGE_ID": message_id, "UNIT": unit, "INVOCATION_ID": id, "_UID": "0",
                "__REALTIME_TIMESTAMP": ts.to_string(), "MESSAGE": message,
                "__CURSOR": format!("s=1;i={ts}"), "_HOSTNAME": "not-asked-for",
            }))
        };
        vec![
            msg(UNIT_STARTING, t, "Starting x..."),
            msg(UNIT_STARTED, t + 1, "Started x."),
            msg(UNIT_RESOURCES, t + 10, "x: Consumed 1ms CPU time."),
            msg(UNIT_SUCCESS, t + 10, "x: Deactivated successfully."),
        ]
    }

    /// Feed `lines` (oldest first) newest first until `limit` runs are known: how many lines
    /// were read, and the runs.
    fn read_until_known(lines: &[String], units: &[String], limit: usize) -> (usize, Vec<RunRecord>, Vec<RunRecord>) {
        let fields = Fields::of(Scope::System);
        let mut reader = RunsReader::new(units, &fields, 0, Runs::WithTasks, limit);
        for (n, line) in lines.iter().rev().enumerate() {
            reader.push(line);
            if reader.known() {
                let (runs, tasks) = reader.finish(true);
                return (n + 1, runs, tasks);
            }
        }
        let (runs, tasks) = reader.finish(false);
        (lines.len(), runs, tasks)
    }

    fn ids(runs: &[RunRecord]) -> Vec<&str> {
        runs.iter().map(|r| r.invocation_id.as_str()).collect()
    }

    #[test]
    fn reading_stops_once_the_newest_runs_are_known() {
        let unit = "taskflows-a.service";
        let units = [unit.to_owned()];
        let lines: Vec<String> = (1..=5).flat_map(|n| run_lines(unit, &format!("r{n}"), n * 1000)).collect();
        let (read, runs, tasks) = read_until_known(&lines, &units, 2);
        // r5 and r4 whole, nothing of r3.
        assert_eq!(read, 8, "{runs:?}");
        assert_eq!(ids(&runs), ["r5", "r4"]);
        assert!(tasks.is_empty());
        let r4 = &runs[1];
        assert_eq!((r4.start, r4.end, r4.result), (from_micros(4000), from_micros(4010), RunResult::Success));
        assert_eq!(r4.cpu_nsec, None);

        // Asked for more runs than there are: everything is read, the same records as before.
        let (read, runs, _) = read_until_known(&lines, &units, 20);
        assert_eq!((read, ids(&runs)), (20, vec!["r5", "r4", "r3", "r2", "r1"]));
    }

    #[test]
    fn a_run_read_in_part_is_left_out_only_when_reading_stopped_early() {
        let unit = "taskflows-a.service";
        let units = [unit.to_owned()];
        // The oldest run's start is beyond what was read (--since, --lines): only its end.
        let mut lines = run_lines(unit, "old", 1000).split_off(2);
        lines.extend(run_lines(unit, "new", 2000));
        let fields = Fields::of(Scope::System);
        let (runs, _) = parse_runs(&lines, &units, &fields, 0, Runs::WithTasks);
        assert_eq!(ids(&runs), ["new", "old"]);
        assert_eq!((runs[1].start, runs[1].end), (None, from_micros(1010)));
        let (_, runs, _) = read_until_known(&lines, &units, 1);
        assert_eq!(ids(&runs), ["new"]);
    }

    #[test]
    fn runs_of_other_units_interleave() {
        let (a, b) = ("taskflows-a.service", "taskflows-b.service");
        let units = [a.to_owned(), b.to_owned()];
        let mut lines: Vec<String> =
            [run_lines(a, "a1", 1000), run_lines(b, "b1", 1005), run_lines(a, "a2", 3000)].concat();
        lines.sort_by_key(|l| {
            serde_json::from_str::<Value>(l).unwrap()["__REALTIME_TIMESTAMP"].as_str().unwrap().parse::<u64>().unwrap()
        });
        let (_, runs, _) = read_until_known(&lines, &units, 2);
        let mut runs = runs;
        runs.sort_by_key(newest_first);
        assert_eq!(ids(&runs)[..2], ["a2", "b1"]);
        assert_eq!(runs[1].start, from_micros(1005));
    }

    #[test]
    fn a_task_waits_for_its_service_run() {
        let unit = "taskflows-a.service";
        let units = [unit.to_owned()];
        // A long run, still running (no end yet), with a task that ended after the older run.
        let task = line(serde_json::json!({
            "TASKFLOWS_TASK_NAME": "sync", "TASKFLOWS_TASK_STATUS": "success", "TASKFLOWS_UNIT": unit,
            "TASKFLOWS_INVOCATION_ID": "r2", "TASKFLOWS_TASK_START_USEC": "2500",
            "TASKFLOWS_TASK_DURATION_USEC": "10", "_UID": "0", "__REALTIME_TIMESTAMP": "2510",
        }));
        // A long run, still running (only its start message so far), with a task in it.
        let mut lines = run_lines(unit, "r1", 1000);
        lines.extend(run_lines(unit, "r2", 2000).into_iter().take(1));
        lines.push(task.clone());
        // The task alone is not enough: its service run must be read with it.
        let (read, runs, tasks) = read_until_known(&lines, &units, 1);
        assert_eq!((read, ids(&runs), ids(&tasks)), (2, vec!["r2"], vec!["r2"]));
        assert_eq!((runs[0].start, runs[0].result), (from_micros(2000), RunResult::Running));

        // Once an entry of its run is read, the task is the newest record, whatever the run's start.
        lines.insert(lines.len() - 1, run_lines(unit, "r2", 2000).remove(1));
        let (read, runs, tasks) = read_until_known(&lines, &units, 1);
        assert_eq!((read, ids(&runs), ids(&tasks)), (2, vec![], vec!["r2"]));
        let (read, runs, tasks) = read_until_known(&lines, &units, 2);
        assert_eq!((read, ids(&runs), ids(&tasks)), (3, vec!["r2"], vec!["r2"]));
    }

    #[test]
    fn a_task_without_its_run_keeps_reading_only_while_it_could_rank() {
        let unit = "taskflows-a.service";
        let units = [unit.to_owned()];
        let task = |invocation: &str, start: u64| {
            line(serde_json::json!({
                "TASKFLOWS_TASK_NAME": "sync", "TASKFLOWS_TASK_STATUS": "success", "TASKFLOWS_UNIT": unit,
                "TASKFLOWS_INVOCATION_ID": invocation, "TASKFLOWS_TASK_START_USEC": start.to_string(),
                "_UID": "0", "__REALTIME_TIMESTAMP": (start + 1).to_string(),
            }))
        };
        let mut lines: Vec<String> = (1..=4).flat_map(|n| run_lines(unit, &format!("r{n}"), n * 1000)).collect();
        // Newer than every run, naming none read: it might belong to an older run, so all is read.
        lines.push(task("gone", 9000));
        let (read, runs, tasks) = read_until_known(&lines, &units, 2);
        assert_eq!((read, runs.len(), tasks.len()), (lines.len(), 4, 0));
        // Logged after r3 but started before it: it cannot rank, reading stops once r3 is whole.
        lines.pop();
        lines.insert(12, task("gone", 1500).replace("\"1501\"", "\"3500\""));
        let (read, runs, tasks) = read_until_known(&lines, &units, 2);
        assert_eq!((read, ids(&runs), tasks.len()), (9, vec!["r4", "r3"], 0));
    }

    #[test]
    fn the_fields_asked_for_are_all_the_parser_reads() {
        let unit = "taskflows-a.service";
        let units = [unit.to_owned()];
        let mut lines = run_lines(unit, "r1", 1000);
        lines.push(line(serde_json::json!({
            "MESSAGE_ID": UNIT_PROCESS_EXIT, "UNIT": unit, "INVOCATION_ID": "r1", "_UID": "0",
            "__REALTIME_TIMESTAMP": "1005", "EXIT_CODE": "exited", "EXIT_STATUS": "3",
        })));
        lines.push(line(serde_json::json!({
            "MESSAGE_ID": UNIT_FAILURE_RESULT, "UNIT": unit, "INVOCATION_ID": "r1", "_UID": "0",
            "__REALTIME_TIMESTAMP": "1006", "UNIT_RESULT": "exit-code",
        })));
        lines.push(line(serde_json::json!({
            "TASKFLOWS_TASK_NAME": "sync", "TASKFLOWS_TASK_STATUS": "failed", "TASKFLOWS_UNIT": unit,
            "TASKFLOWS_INVOCATION_ID": "r1", "TASKFLOWS_TASK_START_USEC": "1002", "TASKFLOWS_TASK_ID": "1-1",
            "TASKFLOWS_TASK_ATTEMPTS": "2", "TASKFLOWS_TASK_DURATION_USEC": "1", "TASKFLOWS_TASK_ERROR": "no",
            "_UID": "0", "__REALTIME_TIMESTAMP": "1004",
        })));
        // What `--output-fields=HISTORY_FIELDS` leaves of each entry.
        let asked: Vec<String> = lines
            .iter()
            .map(|l| {
                let Value::Object(map) = serde_json::from_str::<Value>(l).unwrap() else { unreachable!() };
                let kept = map.into_iter().filter(|(k, _)| k.starts_with("__") || HISTORY_FIELDS.contains(&k.as_str()));
                Value::Object(kept.collect()).to_string()
            })
            .collect();
        let fields = Fields::of(Scope::System);
        let whole = parse_runs(&lines, &units, &fields, 0, Runs::WithTasks);
        assert_eq!(parse_runs(&asked, &units, &fields, 0, Runs::WithTasks), whole);
        assert_eq!((whole.0.len(), whole.1.len()), (1, 1));
        assert_eq!(whole.0[0].exit, Some(ProcessExit::Exited { status: 3 }));
    }
}

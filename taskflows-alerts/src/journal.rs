//! Task-run records in the journal: when a task run ends (success or final failure), one
//! structured entry goes to journald over its native protocol, so `tf history` shows task runs
//! beside the runs of the service they ran in.
//!
//! Only a process that systemd started (`INVOCATION_ID` or `JOURNAL_STREAM` set) and that can
//! reach `/run/systemd/journal/socket` writes records (`TASKFLOWS_TASK_RECORDS=0` turns them
//! off); elsewhere this costs one atomic load per run. The socket is non-blocking and errors are ignored: a record never fails or delays a task.
//!
//! Fields (besides journald's own `_PID`, `_SYSTEMD_UNIT`, …):
//!
//! | field | value |
//! |---|---|
//! | `MESSAGE` | `task NAME succeeded after 2 attempt(s) in 1.2s` (or `failed` / `timed out`, with the error) |
//! | `PRIORITY` | 6 (info) on success, 3 (err) otherwise |
//! | `SYSLOG_IDENTIFIER` | the unit's name without `.service`, else the program's file name |
//! | `TASKFLOWS_TASK_ID` | the run's [`TaskId`](crate::TaskId) (`PID-N`) |
//! | `TASKFLOWS_TASK_NAME` | the policy's name |
//! | `TASKFLOWS_TASK_STATUS` | `success`, `failed` or `timeout` (the last attempt timed out) |
//! | `TASKFLOWS_TASK_ATTEMPTS` | attempts made |
//! | `TASKFLOWS_TASK_START_USEC`, `TASKFLOWS_TASK_DURATION_USEC` | start (µs since the epoch) and duration (µs) |
//! | `TASKFLOWS_TASK_ERROR` | the last attempt's error, when it failed |
//! | `TASKFLOWS_UNIT` or `TASKFLOWS_USER_UNIT` | the system or user service unit (from `/proc/self/cgroup`) |
//! | `TASKFLOWS_INVOCATION_ID` | the service run's invocation id (`$INVOCATION_ID`) |
//!
//! The unit fields and `TASKFLOWS_INVOCATION_ID` are written by the process itself because
//! journald attributes a datagram to a unit only while its sender lives, and a service's process
//! typically exits right after its task.

use std::fmt::Write as _;
use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

const SOCKET: &str = "/run/systemd/journal/socket";
/// journald's datagram limit is larger; an error text longer than this is cut.
const MAX_ERROR: usize = 8 * 1024;

/// How a task run ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RunStatus {
    Success,
    Failed,
    Timeout,
}

impl RunStatus {
    fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Failed => "failed",
            RunStatus::Timeout => "timeout",
        }
    }
}

/// One finished task run.
pub(crate) struct RunEnd<'a> {
    pub(crate) id: &'a str,
    pub(crate) name: &'a str,
    pub(crate) status: RunStatus,
    pub(crate) attempts: u32,
    pub(crate) start_us: u64,
    pub(crate) duration_us: u64,
    pub(crate) error: Option<String>,
}

/// Where this process's records go, found once.
pub(crate) struct Journal {
    socket: UnixDatagram,
    identifier: String,
    unit: Option<(String, bool)>,
    invocation_id: Option<String>,
}

/// The journal, when this process runs under systemd and journald listens.
pub(crate) fn journal() -> Option<&'static Journal> {
    static JOURNAL: OnceLock<Option<Journal>> = OnceLock::new();
    JOURNAL.get_or_init(Journal::detect).as_ref()
}

impl Journal {
    fn detect() -> Option<Journal> {
        if std::env::var_os("TASKFLOWS_TASK_RECORDS").is_some_and(|v| v == "0") {
            return None;
        }
        let invocation_id = std::env::var("INVOCATION_ID").ok().filter(|s| !s.is_empty());
        if invocation_id.is_none() && std::env::var_os("JOURNAL_STREAM").is_none() {
            return None;
        }
        let socket = UnixDatagram::unbound().ok()?;
        socket.connect(SOCKET).ok()?;
        socket.set_nonblocking(true).ok()?;
        let unit = std::fs::read_to_string("/proc/self/cgroup").ok().and_then(|c| unit_of_cgroup(&c));
        let program =
            std::env::current_exe().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
        let identifier = match &unit {
            Some((u, _)) => u.strip_suffix(".service").unwrap_or(u).to_owned(),
            None => program.unwrap_or_else(|| "taskflows".to_owned()),
        };
        Some(Journal { socket, identifier, unit, invocation_id })
    }

    /// Send the record of a finished run; errors are dropped.
    pub(crate) fn record(&self, end: &RunEnd<'_>) {
        let _ = self.socket.send(&self.entry(end));
    }

    fn entry(&self, end: &RunEnd<'_>) -> Vec<u8> {
        let mut message = format!(
            "task {} {} after {} attempt(s) in {:.1?}",
            end.name,
            match end.status {
                RunStatus::Success => "succeeded",
                RunStatus::Failed => "failed",
                RunStatus::Timeout => "timed out",
            },
            end.attempts,
            std::time::Duration::from_micros(end.duration_us)
        );
        let error = end.error.as_deref().map(|e| truncate(e, MAX_ERROR));
        if let Some(e) = error {
            let _ = write!(message, ": {e}");
        }
        let priority = if end.status == RunStatus::Success { "6" } else { "3" };
        let mut fields: Vec<(&str, &str)> = vec![
            ("MESSAGE", &message),
            ("PRIORITY", priority),
            ("SYSLOG_IDENTIFIER", &self.identifier),
            ("TASKFLOWS_TASK_ID", end.id),
            ("TASKFLOWS_TASK_NAME", end.name),
            ("TASKFLOWS_TASK_STATUS", end.status.as_str()),
        ];
        let (attempts, start, duration) =
            (end.attempts.to_string(), end.start_us.to_string(), end.duration_us.to_string());
        fields.extend([
            ("TASKFLOWS_TASK_ATTEMPTS", attempts.as_str()),
            ("TASKFLOWS_TASK_START_USEC", start.as_str()),
            ("TASKFLOWS_TASK_DURATION_USEC", duration.as_str()),
        ]);
        if let Some(e) = error {
            fields.push(("TASKFLOWS_TASK_ERROR", e));
        }
        match &self.unit {
            Some((u, false)) => fields.push(("TASKFLOWS_UNIT", u)),
            Some((u, true)) => fields.push(("TASKFLOWS_USER_UNIT", u)),
            None => {}
        }
        if let Some(i) = &self.invocation_id {
            fields.push(("TASKFLOWS_INVOCATION_ID", i));
        }
        encode(&fields)
    }
}

/// journald's native format: `KEY=value\n`, or for a value with a line break
/// `KEY\n`, its length as 64-bit little endian, the bytes, `\n`.
pub(crate) fn encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    for (key, value) in fields {
        out.extend_from_slice(key.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The service unit a process runs in, from `/proc/self/cgroup` (its cgroup's leaf, when that is a
/// service, e.g. `0::/system.slice/taskflows-x.service` → `taskflows-x.service`).
/// The flag says whether it is a user manager's unit (below `user@UID.service`).
pub(crate) fn unit_of_cgroup(cgroup: &str) -> Option<(String, bool)> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        let leaf = path.rsplit('/').next()?;
        leaf.ends_with(".service").then(|| (leaf.to_owned(), path.contains("/user@")))
    })
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

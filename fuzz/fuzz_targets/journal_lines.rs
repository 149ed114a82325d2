//! Journal lines (`journalctl --output=json`, read by `tf logs` and `tf history`): no line
//! panics the log-line or the history parser; history keeps only runs of the units asked for and
//! tasks whose service run it read; and when the lines are in the journal's order (newest
//! first, a task's start before its entry, runs of one unit one after another), stopping early
//! as history does gives the same newest runs as reading every line.
//!
//! Input: one byte of options (scope, tasks or not, the limit), then the lines.

#![no_main]

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use taskflows_core::Scope;
use taskflows_systemd::RunKind;
use taskflows_systemd::fuzzing::{history, log_line, sort_key};

fuzz_target!(|data: &[u8]| {
    let Some((&options, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let scope = if options & 1 == 0 { Scope::System } else { Scope::User };
    let with_tasks = options & 2 == 0;
    let limit = usize::from(options >> 2) % 8 + 1;
    let units = ["a.service".to_owned(), "b.timer".to_owned()];
    let lines: Vec<&str> = text.lines().collect();

    for line in &lines {
        let Some(log) = log_line(line) else { continue };
        if let Ok(Value::Object(v)) = serde_json::from_str::<Value>(line)
            && let Some(Value::String(message)) = v.get("MESSAGE")
        {
            assert_eq!(&log.message, message);
        }
    }

    let (all, read) = history(lines.iter().copied(), &units, scope, 0, with_tasks, usize::MAX);
    assert_eq!(read, lines.len(), "without a limit every line is read");
    for r in &all {
        assert!(units.contains(&r.unit), "a run of {:?}, not asked for", r.unit);
        match r.kind {
            RunKind::Service => assert!(!r.invocation_id.is_empty(), "a service run without an id"),
            RunKind::Task => {
                assert!(with_tasks, "a task read for status");
                assert!(
                    all.iter()
                        .any(|s| s.kind == RunKind::Service && s.unit == r.unit && s.invocation_id == r.invocation_id),
                    "a task without its service run: {r:?}"
                );
            }
        }
    }
    let (newest, _) = history(lines.iter().copied(), &units, scope, 0, with_tasks, limit);
    if in_journal_order(&lines, &units, scope) {
        let keys = |runs: &[taskflows_systemd::RunRecord]| runs.iter().map(sort_key).collect::<Vec<_>>();
        let expected = &keys(&all)[..all.len().min(limit)];
        assert_eq!(keys(&newest), expected, "stopping early changed the newest runs: {newest:#?}\nall: {all:#?}");
    }
});

/// systemd's "Starting …" message id (sd-messages.h).
const STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";

/// Whether `lines` could be journalctl's: every entry has a time, none newer than the one before;
/// a task started before it logged; and each run of a unit has a start message, its first entry,
/// and does not interleave with the unit's other runs. Only entries history reads count.
fn in_journal_order(lines: &[&str], units: &[String], scope: Scope) -> bool {
    let (unit_field, id_field) = match scope {
        Scope::System => ("UNIT", "INVOCATION_ID"),
        Scope::User => ("USER_UNIT", "USER_INVOCATION_ID"),
    };
    let micros = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<u64>().ok())
            .filter(|&t| t != 0 && t != u64::MAX)
            .and_then(|t| i64::try_from(t).ok())
            .and_then(|t| Timestamp::from_microsecond(t).ok())
    };
    let mut previous: Option<Timestamp> = None;
    let mut current: HashMap<String, String> = HashMap::new();
    let mut done: HashSet<String> = HashSet::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut started: HashSet<String> = HashSet::new();
    for line in lines {
        let Ok(v) = serde_json::from_str::<Value>(line) else { continue };
        let field = |k: &str| v.get(k).and_then(Value::as_str);
        let Some(at) = micros(&v, "__REALTIME_TIMESTAMP") else {
            if field("_UID") == Some("0") {
                return false;
            }
            continue;
        };
        if previous.is_some_and(|p| at > p) {
            return false;
        }
        previous = Some(at);
        if field("_UID").and_then(|u| u.parse::<u32>().ok()) != Some(0) {
            continue;
        }
        if field("TASKFLOWS_TASK_NAME").is_some() {
            if v.get("TASKFLOWS_TASK_START_USEC").is_some()
                && micros(&v, "TASKFLOWS_TASK_START_USEC").is_none_or(|start| start > at)
            {
                return false;
            }
            continue;
        }
        let (Some(unit), Some(id), Some(message_id)) =
            (field(unit_field), field(id_field).or(field("INVOCATION_ID")), field("MESSAGE_ID"))
        else {
            continue;
        };
        if id.is_empty() || !units.iter().any(|u| u == unit) {
            continue;
        }
        if done.contains(id) {
            return false;
        }
        seen.insert(id.to_owned());
        if let Some(before) = current.insert(unit.to_owned(), id.to_owned())
            && before != id
        {
            done.insert(before);
        }
        if message_id == STARTING {
            done.insert(id.to_owned());
            started.insert(id.to_owned());
        }
    }
    seen.is_subset(&started)
}

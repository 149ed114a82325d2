//! `tf logs`' filters: which lines of a service's journal ([`LogQuery`]), parsed once at the edge
//! (the command line, the API's query string) and carried over the API as text.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;

use crate::{Error, Result};

/// The query parameters of `GET /services/{name}/logs` besides `lines` and `follow`.
pub const LOG_QUERY_KEYS: [&str; 5] = ["since", "until", "grep", "priority", "run"];

/// Which lines of one service's journal: the last `lines` of those that pass every filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    /// At most this many lines (the newest).
    pub lines: usize,
    /// Not before this time.
    pub since: Option<LogTime>,
    /// Not after this time.
    pub until: Option<LogTime>,
    /// Only messages matching this pattern (PCRE2, journalctl's `--grep`).
    pub grep: Option<LogPattern>,
    /// Only lines of this priority or a more severe one.
    pub priority: Option<Priority>,
    /// Only the lines of one run.
    pub run: Option<RunSelector>,
}

impl LogQuery {
    /// The last `lines` lines, unfiltered.
    pub fn last(lines: usize) -> LogQuery {
        LogQuery { lines, since: None, until: None, grep: None, priority: None, run: None }
    }

    /// Set the filter `key` (one of [`LOG_QUERY_KEYS`]) from its text; an error names the key
    /// and what is allowed.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |e: String| Error::usage(format!("{key}: {e}"), None);
        match key {
            "since" => self.since = Some(value.parse().map_err(bad)?),
            "until" => self.until = Some(value.parse().map_err(bad)?),
            "grep" => self.grep = Some(value.parse().map_err(bad)?),
            "priority" => self.priority = Some(value.parse().map_err(bad)?),
            "run" => self.run = Some(value.parse().map_err(bad)?),
            _ => return Err(Error::usage(format!("{key}: not a log filter ({})", LOG_QUERY_KEYS.join(", ")), None)),
        }
        Ok(())
    }

    /// The filters as query parameters (the inverse of [`LogQuery::set`]).
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        let mut push = |k, v: Option<String>| {
            if let Some(v) = v {
                pairs.push((k, v));
            }
        };
        push("since", self.since.as_ref().map(ToString::to_string));
        push("until", self.until.as_ref().map(ToString::to_string));
        push("grep", self.grep.as_ref().map(ToString::to_string));
        push("priority", self.priority.as_ref().map(ToString::to_string));
        push("run", self.run.as_ref().map(ToString::to_string));
        pairs
    }

    /// journalctl's filter, its times resolved against `now`.
    pub(crate) fn filter(&self, now: Timestamp) -> Result<taskflows_systemd::LogFilter> {
        let since = self.since.as_ref().map(|t| t.resolve(now));
        let until = self.until.as_ref().map(|t| t.resolve(now));
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(Error::usage(format!("until: {u} is before since ({s}); a later time is allowed"), None));
        }
        Ok(taskflows_systemd::LogFilter {
            since,
            until,
            max_priority: self.priority.map(|p| p.0),
            grep: self.grep.as_ref().map(|g| g.0.clone()),
        })
    }
}

const TIME_ALLOWED: &str = "a time is allowed: RFC 3339 (2026-01-31T08:00:00Z, or with an offset), \
     YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS] in UTC, `now`, or a duration ago (30min, 2h, 1d)";

/// A point in time for `--since`/`--until`: absolute, or a duration before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTime {
    /// This moment.
    At(Timestamp),
    /// This long before the query runs.
    Ago(taskflows_core::Duration),
}

impl LogTime {
    fn resolve(&self, now: Timestamp) -> Timestamp {
        match self {
            LogTime::At(t) => *t,
            LogTime::Ago(d) => {
                let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
                now.checked_sub(jiff::SignedDuration::from_micros(micros)).unwrap_or(Timestamp::MIN)
            }
        }
    }
}

impl FromStr for LogTime {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<LogTime, String> {
        let t = s.trim();
        if t == "now" {
            return Ok(LogTime::Ago(taskflows_core::Duration::from_micros(0)));
        }
        if let Ok(at) = t.parse::<Timestamp>() {
            return Ok(LogTime::At(at));
        }
        let civil = t
            .parse::<jiff::civil::DateTime>()
            .ok()
            .or_else(|| t.parse::<jiff::civil::Date>().ok().map(|d| d.to_datetime(jiff::civil::Time::midnight())));
        if let Some(dt) = civil {
            return dt
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .map(|z| LogTime::At(z.timestamp()))
                .map_err(|e| e.to_string());
        }
        if t.chars().next().is_some_and(|c| c.is_ascii_digit())
            && !t.contains(['-', ':'])
            && let Ok(d) = taskflows_core::Duration::parse(t)
        {
            return Ok(LogTime::Ago(d));
        }
        Err(format!("{s:?} is not a time; {TIME_ALLOWED}"))
    }
}

impl fmt::Display for LogTime {
    /// The RFC 3339 time, or the duration (`now` for none), as [`LogTime::from_str`] reads it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogTime::At(t) => write!(f, "{t}"),
            LogTime::Ago(d) if d.is_zero() => f.write_str("now"),
            LogTime::Ago(d) => write!(f, "{}", d.to_string().replace(' ', "")),
        }
    }
}

/// A `--grep` pattern: non-empty, at most 1,000 characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPattern(String);

impl FromStr for LogPattern {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<LogPattern, String> {
        if s.is_empty() || s.chars().count() > 1000 || s.contains(['\n', '\0']) {
            return Err("a pattern (PCRE2) of 1 to 1000 characters on one line is allowed".to_owned());
        }
        Ok(LogPattern(s.to_owned()))
    }
}

impl fmt::Display for LogPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const PRIORITIES: [&str; 8] = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"];

/// A syslog priority: `--priority err` shows err and more severe lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority(u8);

impl Priority {
    /// 0 (emerg) … 7 (debug).
    pub fn level(self) -> u8 {
        self.0
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Priority, String> {
        let word = s.trim().to_ascii_lowercase();
        let word = match word.as_str() {
            "error" => "err",
            "warn" => "warning",
            "emergency" | "panic" => "emerg",
            "critical" => "crit",
            w => w,
        };
        if let Some(i) = PRIORITIES.iter().position(|p| *p == word) {
            return Ok(Priority(i as u8));
        }
        match word.parse::<u8>() {
            Ok(n) if n <= 7 => Ok(Priority(n)),
            _ => Err(format!("{s:?} is not a priority; 0 to 7 or {} is allowed", PRIORITIES.join(", "))),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PRIORITIES[usize::from(self.0.min(7))])
    }
}

/// `--run`: the service's last run, or one by its invocation id (as `tf history` shows it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunSelector {
    /// The newest run.
    Last,
    /// The run whose invocation id is or starts with this (8 to 32 lowercase hex digits: `tf
    /// history` shows the first 12).
    Id(String),
}

impl FromStr for RunSelector {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<RunSelector, String> {
        if s == "last" {
            return Ok(RunSelector::Last);
        }
        let id: String = s.chars().filter(|c| *c != '-').collect::<String>().to_ascii_lowercase();
        if (8..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(RunSelector::Id(id));
        }
        Err(format!(
            "{s:?} is not a run; `last` or an invocation id (32 hex digits, or its first 8 or more, as `tf history` shows) is allowed"
        ))
    }
}

impl fmt::Display for RunSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunSelector::Last => f.write_str("last"),
            RunSelector::Id(id) => f.write_str(id),
        }
    }
}

#[cfg(test)]
mod tests;

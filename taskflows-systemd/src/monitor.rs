//! The missed-run monitor (dead-man switch): for services with timers, find timers that are
//! not loaded or not active, runs overdue beyond a grace period, and failed last runs.
//!
//! [`check`] is the decision, a pure function of what systemd reported, the schedules, and an
//! injected "now"; [`Systemd::monitor`] reads those facts for installed services.
//!
//! Decisions:
//! - a timer whose unit file is *disabled* and that is *inactive* was paused on purpose
//!   (`tf disable -t` then `tf stop -t`): the service is not checked at all. A timer that is
//!   inactive or failed while still enabled is a problem.
//! - a run is due at the first elapse of any schedule after the later of the last start and the
//!   timer's activation (a timer that never ran and was just created is not due yet); it is
//!   overdue when that is longer ago than the grace plus the timer's `AccuracySec=` and
//!   `RandomizedDelaySec=`. A run still going from before the due time counts as overdue:
//!   systemd does not start an active service again. With `OnUnitInactiveSec=` (periodic,
//!   relative to the finish) a run that lasts longer than the period plus the grace is overdue.

use std::time::Duration;

use futures_util::StreamExt as _;
use jiff::Timestamp;
use jiff::tz::TimeZone;
use taskflows_core::ServiceName;
use taskflows_core::calendar::CalendarEvent;

use crate::state::{ActiveState, LoadState, RunResult};
use crate::status::{get, text, timestamp};
use crate::{Result, ServiceState, Systemd};

/// What can be wrong with a scheduled service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The timer's unit file is not loaded (not-found, bad-setting, masked …).
    TimerNotLoaded,
    /// The timer is inactive or failed although it is enabled.
    TimerInactive,
    /// A scheduled run did not start within the grace period.
    Overdue,
    /// The last run did not succeed.
    LastRunFailed,
}

impl ProblemKind {
    /// `timer-not-loaded`, `timer-inactive`, `overdue`, `last-run-failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::TimerNotLoaded => "timer-not-loaded",
            ProblemKind::TimerInactive => "timer-inactive",
            ProblemKind::Overdue => "overdue",
            ProblemKind::LastRunFailed => "last-run-failed",
        }
    }
}

impl std::fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem of one service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct Problem {
    /// The service's name.
    pub service: String,
    /// What is wrong.
    #[serde(rename = "problem")]
    pub kind: ProblemKind,
    /// One line for people, times in UTC.
    pub detail: String,
}

/// What the monitor needs to know about a service's timer besides [`ServiceState`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerFacts {
    /// The timer unit's load state.
    pub load_state: LoadState,
    /// Since when the timer is active, while it is.
    pub active_since: Option<Timestamp>,
    /// How late systemd may start a run on purpose: `AccuracySec=` plus `RandomizedDelaySec=`.
    pub slack: Duration,
}

/// The problems of one service with a timer at `now`; schedules without a zone are in `local`.
/// Empty when healthy or paused on purpose.
pub fn check(
    state: &ServiceState,
    timer: &TimerFacts,
    now: Timestamp,
    grace: Duration,
    local: &TimeZone,
) -> Vec<Problem> {
    let problem = |kind, detail: String| Problem { service: state.name.clone(), kind, detail };
    let now = us(now);
    let timer_active = state.timer_active.unwrap_or(ActiveState::Inactive);
    let timer_enabled = state.timer_enabled.unwrap_or(false);
    let enabled_word = if timer_enabled { "enabled" } else { "disabled" };
    let mut problems = Vec::new();
    if timer.load_state != LoadState::Loaded {
        problems.push(problem(ProblemKind::TimerNotLoaded, format!("the timer's load state is {}", timer.load_state)));
    } else if timer_active != ActiveState::Active {
        if !timer_enabled && timer_active == ActiveState::Inactive {
            return Vec::new(); // paused on purpose
        }
        problems.push(problem(
            ProblemKind::TimerInactive,
            format!("the timer is {timer_active} (enabled: {enabled_word}); no runs will start"),
        ));
    } else if let Some(due) = due(state, timer, local) {
        let allowed = due.saturating_add(micros(grace)).saturating_add(micros(timer.slack));
        if now > allowed {
            let late = format!("{} late", human(now - due));
            let detail = match last_start(state) {
                Some(start) if running(state) => format!(
                    "the run started {} is still running; the run due {} could not start ({late})",
                    utc(start),
                    utc(due)
                ),
                Some(start) => format!("the run due {} did not start ({late}); last start {}", utc(due), utc(start)),
                None => format!("the run due {} did not start ({late}); it never ran", utc(due)),
            };
            problems.push(problem(ProblemKind::Overdue, detail));
        }
    }
    if let (Some(start), Some(result)) = (last_start(state), state.result)
        && result != RunResult::Success
        && !running(state)
    {
        let status = state.exit_status.map(|s| format!(", exit status {s}")).unwrap_or_default();
        problems.push(problem(
            ProblemKind::LastRunFailed,
            format!("the run started {} ended with {result}{status}", utc(start)),
        ));
    }
    problems
}

/// When the next run after the last start (or the timer's activation) was due, in µs.
fn due(state: &ServiceState, timer: &TimerFacts, local: &TimeZone) -> Option<u64> {
    let since = us(timer.active_since?);
    let base = last_start(state).map_or(since, |s| s.max(since));
    let started_since_timer = last_start(state).is_some_and(|s| s >= since);
    state
        .schedules
        .iter()
        .filter_map(|schedule| {
            let (kind, value) = schedule.split_once('=')?;
            if kind == "OnCalendar" {
                let event = CalendarEvent::parse(value).ok()?;
                let after = Timestamp::from_microsecond(i64::try_from(base).ok()?).ok()?;
                return u64::try_from(event.next_elapse(after, local)?.as_microsecond()).ok();
            }
            let period = micros(Duration::from_micros(taskflows_core::Duration::parse(value).ok()?.as_micros()));
            match kind {
                "OnUnitActiveSec" => Some(last_start(state)?.saturating_add(period).max(since)),
                "OnUnitInactiveSec" => {
                    let from =
                        if running(state) { last_start(state) } else { last_finish(state).or(last_start(state)) };
                    Some(from?.saturating_add(period).max(since))
                }
                // Once after boot, login or the timer's start; at once when that is past.
                "OnBootSec" | "OnStartupSec" | "OnActiveSec" if !started_since_timer => {
                    Some(since.saturating_add(period))
                }
                _ => None,
            }
        })
        .min()
}

/// A run is under way: the unit is running and its last start is after its last finish.
fn running(state: &ServiceState) -> bool {
    state.is_running() && state.last_start.is_some() && state.last_finish.is_none_or(|f| Some(f) < state.last_start)
}

/// µs since the epoch (0 before it).
fn us(t: Timestamp) -> u64 {
    u64::try_from(t.as_microsecond()).unwrap_or(0)
}

fn last_start(state: &ServiceState) -> Option<u64> {
    state.last_start.map(us)
}

fn last_finish(state: &ServiceState) -> Option<u64> {
    state.last_finish.map(us)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// `2026-11-26 14:00:00 UTC`.
fn utc(us: u64) -> String {
    Timestamp::from_microsecond(i64::try_from(us).unwrap_or(i64::MAX))
        .map_or_else(|_| format!("@{us}µs"), |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// `3h 12min`, `45s`.
fn human(us: u64) -> String {
    let s = us / 1_000_000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}min {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}min", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// `AccuracySec=` plus `RandomizedDelaySec=` of a timer unit file (systemd's default accuracy is
/// one minute).
pub fn timer_slack(unit_file: &str) -> Duration {
    let value = |key: &str| {
        unit_file.lines().rev().find_map(|l| {
            let v = l.trim().strip_prefix(key)?.strip_prefix('=')?;
            taskflows_core::Duration::parse(v.trim()).ok().map(|d| Duration::from_micros(d.as_micros()))
        })
    };
    value("AccuracySec").unwrap_or(Duration::from_secs(60)) + value("RandomizedDelaySec").unwrap_or_default()
}

impl Systemd {
    /// The problems of `services` that have a timer at `now`, with the number of services checked.
    pub async fn monitor(
        &self,
        services: &[ServiceName],
        now: Timestamp,
        grace: Duration,
    ) -> Result<(usize, Vec<Problem>)> {
        let timed: Vec<ServiceName> = services
            .iter()
            .filter(|s| self.unit_dir.join(format!("{}.timer", s.unit_stem())).exists())
            .cloned()
            .collect();
        let states = self.status(&timed).await?;
        let reads: Vec<_> = timed.iter().map(|s| self.timer_facts(s)).collect();
        let facts = futures_util::stream::iter(reads).buffered(crate::status::CONCURRENCY).collect::<Vec<_>>().await;
        let local = TimeZone::system();
        let mut problems = Vec::new();
        for (state, facts) in states.iter().zip(facts) {
            problems.extend(check(state, &facts?, now, grace, &local));
        }
        Ok((timed.len(), problems))
    }

    async fn timer_facts(&self, service: &ServiceName) -> Result<TimerFacts> {
        const UNIT: &str = "org.freedesktop.systemd1.Unit";
        let unit = format!("{}.timer", service.unit_stem());
        let path = self.manager.load_unit(&unit).await.map_err(crate::Error::call(format!("LoadUnit {unit}")))?;
        let (load, since) = futures_util::future::join(
            get(&self.conn, &path, UNIT, "LoadState"),
            get(&self.conn, &path, UNIT, "ActiveEnterTimestamp"),
        )
        .await;
        let props: std::collections::HashMap<String, zbus::OwnedVariant> =
            [("LoadState".to_owned(), load?), ("ActiveEnterTimestamp".to_owned(), since?)].into_iter().collect();
        let content = std::fs::read_to_string(self.unit_dir.join(&unit)).unwrap_or_default();
        Ok(TimerFacts {
            load_state: LoadState::from_word(&text(&props, "LoadState")),
            active_since: timestamp(&props, "ActiveEnterTimestamp"),
            slack: timer_slack(&content),
        })
    }
}

#[cfg(test)]
#[path = "monitor_tests.rs"]
mod tests;

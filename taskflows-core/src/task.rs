//! In-process task behaviour as data: retries, backoff, timeout, whether a failure is an error.
//! The runner that follows it (`run_task`) is in `taskflows-alerts`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::Duration;

/// How a task runs: its name, how often it is retried, how long to wait between attempts, how
/// long one attempt may take, and whether its final failure is an error for the caller.
///
/// In a config file: `{ name = "sync", retries = 2, timeout = "30s", required = true }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskPolicy {
    /// The task's name, in logs and alerts.
    pub name: String,
    /// Attempts after the first one (default 0: run once).
    #[serde(default)]
    pub retries: u32,
    /// The wait between attempts (default: 100ms, doubling, at most 5s).
    #[serde(default)]
    pub backoff: Backoff,
    /// How long one attempt may take (default: no limit).
    #[serde(default)]
    pub timeout: Option<Duration>,
    /// Whether the caller gets the error after the last attempt; otherwise it is logged and the
    /// call yields no value.
    #[serde(default)]
    pub required: bool,
}

impl TaskPolicy {
    /// A task run once, with no timeout, whose failure is logged rather than returned.
    pub fn new(name: impl Into<String>) -> TaskPolicy {
        TaskPolicy { name: name.into(), retries: 0, backoff: Backoff::default(), timeout: None, required: false }
    }

    /// Attempts after the first one.
    pub fn retries(mut self, retries: u32) -> TaskPolicy {
        self.retries = retries;
        self
    }

    /// The wait between attempts.
    pub fn backoff(mut self, backoff: Backoff) -> TaskPolicy {
        self.backoff = backoff;
        self
    }

    /// How long one attempt may take.
    pub fn timeout(mut self, timeout: std::time::Duration) -> TaskPolicy {
        self.timeout = Some(to_core(timeout));
        self
    }

    /// Whether the caller gets the error after the last attempt.
    pub fn required(mut self, required: bool) -> TaskPolicy {
        self.required = required;
        self
    }

    /// The number of attempts in all.
    pub fn attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

/// The wait before each retry: `initial`, multiplied by `factor` after every failed attempt,
/// never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The growth per failure (1: a constant wait).
    #[serde(default = "default_factor")]
    pub factor: u32,
    /// The longest wait.
    pub max: Duration,
}

fn default_factor() -> u32 {
    2
}

impl Default for Backoff {
    /// 100ms, 200ms, 400ms … at most 5s.
    fn default() -> Backoff {
        Backoff { initial: Duration::from_millis(100), factor: 2, max: Duration::from_secs(5) }
    }
}

impl Backoff {
    /// No wait between attempts.
    pub fn none() -> Backoff {
        Backoff { initial: Duration::from_micros(0), factor: 1, max: Duration::from_micros(0) }
    }

    /// The same wait between all attempts.
    pub fn constant(wait: std::time::Duration) -> Backoff {
        Backoff { initial: to_core(wait), factor: 1, max: to_core(wait) }
    }

    /// Exponential: `initial`, `initial * factor`, … capped at `max`.
    pub fn exponential(initial: std::time::Duration, factor: u32, max: std::time::Duration) -> Backoff {
        Backoff { initial: to_core(initial), factor, max: to_core(max) }
    }

    /// The wait after the `failures`-th failed attempt (1-based).
    pub fn delay(&self, failures: u32) -> std::time::Duration {
        let mut micros = self.initial.as_micros();
        for _ in 1..failures {
            micros = micros.saturating_mul(u64::from(self.factor));
            if micros >= self.max.as_micros() {
                break;
            }
        }
        std::time::Duration::from_micros(micros.min(self.max.as_micros()))
    }
}

fn to_core(d: std::time::Duration) -> Duration {
    Duration::from_micros(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

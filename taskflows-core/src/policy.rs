//! Behaviour as data: restart policies and the watchdog.

use std::fmt;

use serde::Deserialize;

use crate::duration::Duration;
use crate::error::ValueError;

/// When systemd restarts a service (`Restart=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RestartCondition {
    /// Never.
    No,
    /// Whatever the exit (also accepted as `unless-stopped`).
    Always,
    /// After a clean exit.
    OnSuccess,
    /// After a non-zero exit, a signal, a timeout or a watchdog timeout.
    OnFailure,
    /// After a signal, a timeout or a watchdog timeout.
    OnAbnormal,
    /// After an uncaught signal.
    OnAbort,
    /// After a watchdog timeout.
    OnWatchdog,
}

impl RestartCondition {
    const ALLOWED: &str = "no, always, on-success, on-failure, on-abnormal, on-abort, on-watchdog";

    /// Read a condition; `unless-stopped` (Docker's word) means `always`.
    pub fn parse(s: &str) -> Result<RestartCondition, ValueError> {
        Ok(match s {
            "no" => RestartCondition::No,
            "always" | "unless-stopped" => RestartCondition::Always,
            "on-success" => RestartCondition::OnSuccess,
            "on-failure" => RestartCondition::OnFailure,
            "on-abnormal" => RestartCondition::OnAbnormal,
            "on-abort" => RestartCondition::OnAbort,
            "on-watchdog" => RestartCondition::OnWatchdog,
            other => {
                return Err(ValueError::new(format!(
                    "{other:?} is not a restart condition; use one of {}",
                    Self::ALLOWED
                )));
            }
        })
    }

    /// The `Restart=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            RestartCondition::No => "no",
            RestartCondition::Always => "always",
            RestartCondition::OnSuccess => "on-success",
            RestartCondition::OnFailure => "on-failure",
            RestartCondition::OnAbnormal => "on-abnormal",
            RestartCondition::OnAbort => "on-abort",
            RestartCondition::OnWatchdog => "on-watchdog",
        }
    }
}

impl fmt::Display for RestartCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RestartCondition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RestartCondition::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How systemd restarts a service and how often it may.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    /// When to restart.
    pub condition: RestartCondition,
    /// Wait this long before restarting (`RestartSec=`).
    pub delay: Option<Duration>,
    /// At most this many starts within `window` (`StartLimitBurst=`).
    pub max_attempts: Option<u32>,
    /// The window for `max_attempts` (`StartLimitIntervalSec=`); unset means no limit.
    pub window: Option<Duration>,
    /// Exponential backoff: grow the delay in this many steps (`RestartSteps=`, systemd 254+).
    pub steps: Option<u32>,
    /// Exponential backoff: up to this delay (`RestartMaxDelaySec=`, systemd 254+).
    pub max_delay: Option<Duration>,
}

impl RestartPolicy {
    /// Restart on `condition`, without delay or limits.
    pub fn new(condition: RestartCondition) -> RestartPolicy {
        RestartPolicy { condition, delay: None, max_attempts: None, window: None, steps: None, max_delay: None }
    }

    /// Whether this uses directives that need systemd 254 or newer.
    pub fn needs_backoff_support(&self) -> bool {
        self.steps.is_some() || self.max_delay.is_some()
    }
}

impl From<RestartCondition> for RestartPolicy {
    fn from(c: RestartCondition) -> RestartPolicy {
        RestartPolicy::new(c)
    }
}

/// A restart policy table in a service file.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "RestartPolicy")]
struct RestartPolicyTable {
    /// no, always, on-success, on-failure, on-abnormal, on-abort, on-watchdog.
    #[schemars(with = "RestartConditionSchema")]
    condition: RestartCondition,
    /// Wait before restarting (RestartSec=).
    delay: Option<Duration>,
    /// At most this many starts within `window` (StartLimitBurst=).
    max_attempts: Option<u32>,
    /// The window for `max_attempts` (StartLimitIntervalSec=).
    window: Option<Duration>,
    /// Exponential backoff steps up to `max_delay` (RestartSteps=, systemd 254+).
    steps: Option<u32>,
    /// Exponential backoff limit (RestartMaxDelaySec=, systemd 254+).
    max_delay: Option<Duration>,
}

#[derive(schemars::JsonSchema)]
#[allow(dead_code, reason = "only describes the schema")]
#[serde(rename_all = "kebab-case")]
enum RestartConditionSchema {
    No,
    Always,
    UnlessStopped,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnAbort,
    OnWatchdog,
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RestartPolicy;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a restart condition such as \"on-failure\" or a restart policy table")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RestartPolicy, E> {
                RestartCondition::parse(v).map(RestartPolicy::new).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RestartPolicy, A::Error> {
                let t = RestartPolicyTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RestartPolicy {
                    condition: t.condition,
                    delay: t.delay,
                    max_attempts: t.max_attempts,
                    window: t.window,
                    steps: t.steps,
                    max_delay: t.max_delay,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for RestartPolicy {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RestartPolicy".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let condition = generator.subschema_for::<RestartConditionSchema>();
        let table = generator.subschema_for::<RestartPolicyTable>();
        schemars::json_schema!({ "anyOf": [condition, table] })
    }
}

/// Who may send notifications to the service manager (`NotifyAccess=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NotifyAccess {
    /// Only the main process.
    #[default]
    Main,
    /// The main process and processes started by `Exec…=` lines.
    Exec,
    /// Every process of the service.
    All,
}

impl NotifyAccess {
    /// The `NotifyAccess=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyAccess::Main => "main",
            NotifyAccess::Exec => "exec",
            NotifyAccess::All => "all",
        }
    }
}

/// A watchdog: the service sends `WATCHDOG=1` at least every `timeout`, or systemd treats it
/// as hung.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Watchdog {
    /// The longest time between two keep-alive pings (`WatchdogSec=`); more than zero.
    pub timeout: Duration,
    /// Who may notify: main (default), exec or all.
    #[serde(default)]
    pub notify_access: NotifyAccess,
    /// Restart a hung service (`Restart=on-watchdog`) when no restart policy is set (default true).
    #[serde(default = "yes")]
    pub restart_on_hang: bool,
}

fn yes() -> bool {
    true
}

impl Watchdog {
    /// A watchdog with `timeout`, main-process notifications and restart on hang.
    pub fn new(timeout: Duration) -> Result<Watchdog, ValueError> {
        if timeout.is_zero() {
            return Err(ValueError::new("watchdog timeout must be more than zero"));
        }
        Ok(Watchdog { timeout, notify_access: NotifyAccess::Main, restart_on_hang: true })
    }
}

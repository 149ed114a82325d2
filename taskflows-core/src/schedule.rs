//! When a service starts, stops or restarts: calendar and periodic schedules.

use std::fmt;

use serde::Deserialize;

use crate::duration::Duration;
use crate::error::ValueError;
use crate::value::check_line;

/// A schedule: at calendar times, or periodically after a trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// `OnCalendar=`.
    Calendar(Calendar),
    /// `OnBootSec=` / `OnStartupSec=` plus `OnUnitActiveSec=` / `OnUnitInactiveSec=`.
    Periodic(Periodic),
}

impl From<Calendar> for Schedule {
    fn from(c: Calendar) -> Schedule {
        Schedule::Calendar(c)
    }
}

impl From<Periodic> for Schedule {
    fn from(p: Periodic) -> Schedule {
        Schedule::Periodic(p)
    }
}

/// A systemd calendar expression such as `Mon-Fri 09:00 America/New_York`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CalendarExpr(String);

impl CalendarExpr {
    /// Accept `s` if it is a calendar expression.
    pub fn new(s: impl Into<String>) -> Result<CalendarExpr, ValueError> {
        let s = s.into();
        check_line(&s).map_err(|e| ValueError::new(format!("calendar expression {}", e.0)))?;
        let trimmed = s.trim();
        if trimmed.is_empty() {
            return Err(ValueError::new("calendar expression must not be empty; e.g. \"daily\" or \"Mon-Fri 09:00\""));
        }
        // The native engine accepts exactly what systemd 252 accepts.
        let event = crate::calendar::CalendarEvent::parse(trimmed).map_err(|e| ValueError::new(e.to_string()))?;
        if event.uses_local_abbreviation() {
            // Valid or not depending on the host's zone: refuse, so a file means the same everywhere.
            return Err(ValueError::new(format!(
                "{trimmed:?} ends in a local time-zone abbreviation, which depends on the host's zone; use UTC or an IANA name such as America/New_York"
            )));
        }
        Ok(CalendarExpr(trimmed.to_owned()))
    }

    /// The expression as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CalendarExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Run at calendar times: `OnCalendar=`, with `Persistent=`, `AccuracySec=` and
/// `RandomizedDelaySec=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    /// The calendar expression.
    pub expr: CalendarExpr,
    /// Run a missed start as soon as possible after boot/wake (default true).
    pub persistent: bool,
    /// How far systemd may move the start to coalesce wake-ups (default 1ms).
    pub accuracy: Duration,
    /// A random delay added to each start, to spread load.
    pub randomized_delay: Option<Duration>,
}

impl Calendar {
    /// A one-time schedule at `when`, as an expression systemd accepts for any zone (the zone's
    /// name where the time is unambiguous there, else UTC).
    ///
    /// Fails for times systemd's calendar cannot express (years before 1970 or after 2199).
    pub fn from_datetime(when: &jiff::ZonedDateTime) -> Result<Calendar, ValueError> {
        Calendar::new(crate::calendar::CalendarEvent::from_zoned(when))
    }

    /// A persistent calendar schedule with 1 ms accuracy.
    pub fn new(expr: impl Into<String>) -> Result<Calendar, ValueError> {
        Ok(Calendar {
            expr: CalendarExpr::new(expr)?,
            persistent: true,
            accuracy: Duration::from_millis(1),
            randomized_delay: None,
        })
    }
}

/// What starts the first period of a [`Periodic`] schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StartOn {
    /// One second after boot (`OnBootSec=1`).
    Boot,
    /// One second after the service manager started, i.e. login for user units (`OnStartupSec=1`).
    Login,
    /// Only when the service is started by a command; then every period.
    Command,
}

/// What the period of a [`Periodic`] schedule is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RelativeTo {
    /// The last start (`OnUnitActiveSec=`).
    Start,
    /// The last finish (`OnUnitInactiveSec=`).
    Finish,
}

/// Run every `period` after a trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Periodic {
    /// The first trigger.
    pub start_on: StartOn,
    /// The time between runs; more than zero.
    pub period: Duration,
    /// Measure the period from the last start or the last finish.
    pub relative_to: RelativeTo,
    /// How far systemd may move the start (default 1ms).
    pub accuracy: Duration,
    /// A random delay added to each start.
    pub randomized_delay: Option<Duration>,
}

impl Periodic {
    /// A periodic schedule with 1 ms accuracy; `period` must be more than zero.
    pub fn new(start_on: StartOn, period: Duration, relative_to: RelativeTo) -> Result<Periodic, ValueError> {
        if period.is_zero() {
            return Err(ValueError::new("period must be more than zero, e.g. 300 or \"5min\""));
        }
        Ok(Periodic { start_on, period, relative_to, accuracy: Duration::from_millis(1), randomized_delay: None })
    }
}

/// A schedule table as written in a service file.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Schedule")]
struct ScheduleTable {
    /// A calendar expression (makes this a calendar schedule).
    calendar: Option<String>,
    /// Calendar only: run a missed start after boot/wake (default true).
    persistent: Option<bool>,
    /// The time between runs (makes this a periodic schedule).
    period: Option<Duration>,
    /// Periodic only: boot (default), login or command.
    start_on: Option<StartOn>,
    /// Periodic only: start (default) or finish.
    relative_to: Option<RelativeTo>,
    /// How far systemd may move a start (default 1ms).
    accuracy: Option<Duration>,
    /// A random delay added to each start.
    randomized_delay: Option<Duration>,
}

impl ScheduleTable {
    fn into_schedule(self) -> Result<Schedule, ValueError> {
        let accuracy = self.accuracy.unwrap_or(Duration::from_millis(1));
        match (self.calendar, self.period) {
            (Some(_), Some(_)) => Err(ValueError::new(
                "give either `calendar` (calendar schedule) or `period` (periodic schedule), not both",
            )),
            (None, None) => {
                Err(ValueError::new("a schedule needs `calendar` (e.g. \"Mon-Fri 09:00\") or `period` (e.g. \"5min\")"))
            }
            (Some(expr), None) => {
                if self.start_on.is_some() || self.relative_to.is_some() {
                    return Err(ValueError::new(
                        "`start_on` and `relative_to` belong to periodic schedules (with `period`), not calendar ones",
                    ));
                }
                let mut c = Calendar::new(expr)?;
                c.persistent = self.persistent.unwrap_or(true);
                c.accuracy = accuracy;
                c.randomized_delay = self.randomized_delay;
                Ok(c.into())
            }
            (None, Some(period)) => {
                if self.persistent.is_some() {
                    return Err(ValueError::new(
                        "`persistent` belongs to calendar schedules (with `calendar`), not periodic ones",
                    ));
                }
                let mut p = Periodic::new(
                    self.start_on.unwrap_or(StartOn::Boot),
                    period,
                    self.relative_to.unwrap_or(RelativeTo::Start),
                )?;
                p.accuracy = accuracy;
                p.randomized_delay = self.randomized_delay;
                Ok(p.into())
            }
        }
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Schedule;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a calendar expression or a schedule table")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Schedule, E> {
                Calendar::new(v).map(Schedule::Calendar).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Schedule, A::Error> {
                let table = ScheduleTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                table.into_schedule().map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// One schedule or a list of them, as a service file may write either.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schedules(pub Vec<Schedule>);

impl Schedules {
    /// Whether there is no schedule.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Schedule> for Schedules {
    fn from(s: Schedule) -> Schedules {
        Schedules(vec![s])
    }
}

impl From<Vec<Schedule>> for Schedules {
    fn from(v: Vec<Schedule>) -> Schedules {
        Schedules(v)
    }
}

impl<'de> Deserialize<'de> for Schedules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Schedules;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a calendar expression, a schedule table, or a list of them")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Schedules, E> {
                Schedule::deserialize(serde::de::value::StrDeserializer::new(v)).map(Schedules::from)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Schedules, A::Error> {
                Schedule::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Schedules::from)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Schedules, A::Error> {
                let mut all = Vec::new();
                while let Some(s) = seq.next_element::<Schedule>()? {
                    all.push(s);
                }
                Ok(Schedules(all))
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Schedules {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Schedules".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<ScheduleTable>();
        schemars::json_schema!({
            "description": "A calendar expression (\"Mon-Fri 09:00\"), a schedule table, or a list of them.",
            "anyOf": [
                { "type": "string" },
                table,
                { "type": "array", "items": { "anyOf": [ { "type": "string" }, table ] } }
            ]
        })
    }
}

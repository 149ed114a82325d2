//! Durations as users write them (`30s`, `5min`, `1h 30min`, or a number of seconds) and as
//! systemd reads them.

use std::fmt;

use crate::error::ValueError;

/// A non-negative duration with microsecond resolution, like systemd's time spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Duration {
    micros: u64,
}

const UNITS: [(&[&str], u64); 8] = [
    (&["us", "usec", "µs"], 1),
    (&["ms", "msec"], 1_000),
    (&["s", "sec", "second", "seconds"], 1_000_000),
    (&["m", "min", "minute", "minutes"], 60_000_000),
    (&["h", "hr", "hour", "hours"], 3_600_000_000),
    (&["d", "day", "days"], 86_400_000_000),
    (&["w", "week", "weeks"], 604_800_000_000),
    (&["y", "year", "years"], 31_557_600_000_000),
];

const ALLOWED: &str = "use a number of seconds or a duration such as \"30s\", \"5min\", \"1h 30min\" \
                       (units: us, ms, s, min, h, d, w)";

impl Duration {
    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Duration {
        Duration { micros: secs.saturating_mul(1_000_000) }
    }

    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Duration {
        Duration { micros: ms.saturating_mul(1_000) }
    }

    /// A duration of `us` microseconds.
    pub const fn from_micros(us: u64) -> Duration {
        Duration { micros: us }
    }

    /// Whole microseconds.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Whether this is zero.
    pub const fn is_zero(self) -> bool {
        self.micros == 0
    }

    /// A number of seconds, as in a service file's `timeout = 300`.
    pub fn from_secs_f64(secs: f64) -> Result<Duration, ValueError> {
        if !secs.is_finite() || secs < 0.0 {
            return Err(ValueError::new(format!("{secs} is not allowed; {ALLOWED}")));
        }
        let micros = secs * 1e6;
        if micros > u64::MAX as f64 {
            return Err(ValueError::new(format!("{secs} seconds is too long")));
        }
        Ok(Duration { micros: micros.round() as u64 })
    }

    /// Parse `30s`, `5min`, `1h 30min`, `1.5h` or a bare number of seconds.
    pub fn parse(s: &str) -> Result<Duration, ValueError> {
        let bad = || ValueError::new(format!("{s:?} is not a duration; {ALLOWED}"));
        let t = s.trim();
        if t.is_empty() {
            return Err(bad());
        }
        if let Ok(secs) = t.parse::<f64>() {
            return Duration::from_secs_f64(secs).map_err(|_| bad());
        }
        let mut total: u64 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            if num_len == 0 {
                return Err(bad());
            }
            let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
            rest = rest[num_len..].trim_start();
            let unit_len = rest.find(|c: char| !c.is_alphabetic()).unwrap_or(rest.len());
            let unit = &rest[..unit_len];
            rest = rest[unit_len..].trim_start();
            let factor = if unit.is_empty() {
                1_000_000
            } else {
                UNITS.iter().find(|(names, _)| names.contains(&unit)).map(|(_, f)| *f).ok_or_else(bad)?
            };
            let part = number * factor as f64;
            if part > u64::MAX as f64 {
                return Err(bad());
            }
            total = total.checked_add(part.round() as u64).ok_or_else(bad)?;
        }
        Ok(Duration { micros: total })
    }
}

/// The systemd way: `1h 30min`, `500ms`, `0`.
impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.micros == 0 {
            return f.write_str("0");
        }
        const PARTS: [(&str, u64); 7] = [
            ("w", 604_800_000_000),
            ("d", 86_400_000_000),
            ("h", 3_600_000_000),
            ("min", 60_000_000),
            ("s", 1_000_000),
            ("ms", 1_000),
            ("us", 1),
        ];
        let mut rest = self.micros;
        let mut first = true;
        for (unit, size) in PARTS {
            if rest >= size {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
                first = false;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Duration {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl serde::Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds or a duration such as \"5min\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                Ok(Duration::from_secs(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                u64::try_from(v).map(Duration::from_secs).map_err(|_| E::custom(format!("{v} is negative; {ALLOWED}")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Duration::from_secs_f64(v).map_err(E::custom)
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                Duration::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Seconds as a number, or a duration such as \"30s\", \"5min\", \"1h 30min\" (units: us, ms, s, min, h, d, w).",
            "anyOf": [
                { "type": "number", "minimum": 0 },
                { "type": "string", "pattern": "^\\s*([0-9.]+\\s*[a-zµ]*\\s*)+$" }
            ]
        })
    }
}

//! Startup requirements: what must hold for a service to start, as data.
//!
//! systemd enforces them at start time: a requirement renders as `Assert…=` (the start fails)
//! or, when `silent`, as `Condition…=` (the start is skipped quietly). Note that systemd does not
//! run `OnFailure=` units when an assertion fails (systemd#17443): a failed assertion shows as a
//! failed start job, not as a failed unit. The `taskflows-constraints` crate evaluates the same
//! requirements natively to explain why a service would not start.

use std::fmt;

use serde::Deserialize;

use crate::duration::Duration;
use crate::error::ValueError;
use crate::size::ByteSize;

/// A comparison, as systemd's `ConditionMemory=`/`ConditionCPUs=` accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Comparison {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `>=`
    #[default]
    GreaterOrEqual,
    /// `>`
    Greater,
}

impl Comparison {
    /// Read `<`, `<=`, `=`, `!=`, `>=` or `>`.
    pub fn parse(s: &str) -> Result<Comparison, ValueError> {
        Ok(match s {
            "<" => Comparison::Less,
            "<=" => Comparison::LessOrEqual,
            "=" | "==" => Comparison::Equal,
            "!=" => Comparison::NotEqual,
            ">=" => Comparison::GreaterOrEqual,
            ">" => Comparison::Greater,
            other => {
                return Err(ValueError::new(format!("{other:?} is not a comparison; use one of <, <=, =, !=, >=, >")));
            }
        })
    }

    /// The operator as systemd writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Equal => "=",
            Comparison::NotEqual => "!=",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Greater => ">",
        }
    }

    /// Whether `left OP right` holds.
    pub fn holds<T: PartialOrd>(self, left: T, right: T) -> bool {
        match self {
            Comparison::Less => left < right,
            Comparison::LessOrEqual => left <= right,
            Comparison::Equal => left == right,
            Comparison::NotEqual => left != right,
            Comparison::GreaterOrEqual => left >= right,
            Comparison::Greater => left > right,
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Comparison {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Comparison::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Comparison {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Comparison".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": ["<", "<=", "=", "==", "!=", ">=", ">"] })
    }
}

/// The window over which the kernel averages pressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, schemars::JsonSchema)]
pub enum Timespan {
    /// The last 10 seconds (`avg10`).
    #[serde(rename = "10sec")]
    Sec10,
    /// The last minute (`avg60`).
    #[serde(rename = "1min")]
    Min1,
    /// The last five minutes (`avg300`).
    #[default]
    #[serde(rename = "5min")]
    Min5,
}

impl Timespan {
    /// As systemd writes it: `10sec`, `1min`, `5min`.
    pub fn as_str(self) -> &'static str {
        match self {
            Timespan::Sec10 => "10sec",
            Timespan::Min1 => "1min",
            Timespan::Min5 => "5min",
        }
    }
}

/// Which resource's pressure a requirement limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PressureKind {
    /// `/proc/pressure/cpu`
    Cpu,
    /// `/proc/pressure/memory`
    Memory,
    /// `/proc/pressure/io`
    Io,
}

impl PressureKind {
    /// The directive stem: `CPUPressure`, `MemoryPressure`, `IOPressure`.
    pub fn directive(self) -> &'static str {
        match self {
            PressureKind::Cpu => "CPUPressure",
            PressureKind::Memory => "MemoryPressure",
            PressureKind::Io => "IOPressure",
        }
    }
}

/// A startup requirement.
#[derive(Debug, Clone, PartialEq)]
pub enum Requirement {
    /// Physical memory compared with `amount` (`AssertMemory=`).
    Memory {
        /// Bytes.
        amount: ByteSize,
        /// How memory must compare with `amount`.
        constraint: Comparison,
        /// Skip quietly instead of failing.
        silent: bool,
    },
    /// Usable CPUs compared with `amount` (`AssertCPUs=`).
    Cpus {
        /// Number of CPUs.
        amount: u32,
        /// How the CPU count must compare with `amount`.
        constraint: Comparison,
        /// Skip quietly instead of failing.
        silent: bool,
    },
    /// Pressure must be at most `max_percent` (`AssertCPUPressure=` …).
    Pressure {
        /// CPU, memory or IO.
        kind: PressureKind,
        /// The highest acceptable pressure, 0–100.
        max_percent: f64,
        /// The averaging window.
        timespan: Timespan,
        /// Skip quietly instead of failing.
        silent: bool,
        /// Wait up to this long for the pressure to drop before starting, instead of skipping or
        /// failing at once (an `ExecCondition=` that runs `tf check --wait`; when several
        /// requirements wait, all of them wait up to the longest).
        wait: Option<Duration>,
    },
}

impl Requirement {
    /// How long to wait for the requirement to hold before starting, if it says so.
    pub fn wait(&self) -> Option<Duration> {
        match self {
            Requirement::Pressure { wait, .. } => *wait,
            _ => None,
        }
    }

    /// Whether an unmet requirement skips the start instead of failing it.
    pub fn silent(&self) -> bool {
        match self {
            Requirement::Memory { silent, .. }
            | Requirement::Cpus { silent, .. }
            | Requirement::Pressure { silent, .. } => *silent,
        }
    }

    /// The directive and value, e.g. `("AssertMemory", ">=8589934592")`.
    pub fn directive(&self) -> (String, String) {
        let prefix = if self.silent() { "Condition" } else { "Assert" };
        match self {
            Requirement::Memory { amount, constraint, .. } => {
                (format!("{prefix}Memory"), format!("{constraint}{amount}"))
            }
            Requirement::Cpus { amount, constraint, .. } => (format!("{prefix}CPUs"), format!("{constraint}{amount}")),
            Requirement::Pressure { kind, max_percent, timespan, .. } => (
                format!("{prefix}{}", kind.directive()),
                format!("{}%/{}", format_percent(*max_percent), timespan.as_str()),
            ),
        }
    }

    /// Read back a line [`Requirement::directive`] wrote (`AssertMemory`, `>=8589934592`), e.g.
    /// from an installed unit file; `None` for other directives or values.
    pub fn from_directive(key: &str, value: &str) -> Option<Requirement> {
        let (silent, what) = match (key.strip_prefix("Condition"), key.strip_prefix("Assert")) {
            (Some(what), _) => (true, what),
            (_, Some(what)) => (false, what),
            _ => return None,
        };
        fn split(v: &str) -> Option<(Comparison, &str)> {
            let op_len = v.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
            Some((Comparison::parse(&v[..op_len]).ok()?, &v[op_len..]))
        }
        let kind = match what {
            "Memory" => {
                let (constraint, n) = split(value)?;
                return Some(Requirement::Memory { amount: ByteSize(n.parse().ok()?), constraint, silent });
            }
            "CPUs" => {
                let (constraint, n) = split(value)?;
                return Some(Requirement::Cpus { amount: n.parse().ok()?, constraint, silent });
            }
            "CPUPressure" => PressureKind::Cpu,
            "MemoryPressure" => PressureKind::Memory,
            "IOPressure" => PressureKind::Io,
            _ => return None,
        };
        let (percent, span) = value.split_once("%/").unwrap_or((value.trim_end_matches('%'), "5min"));
        let timespan = match span {
            "10sec" => Timespan::Sec10,
            "1min" => Timespan::Min1,
            "5min" => Timespan::Min5,
            _ => return None,
        };
        Some(Requirement::Pressure { kind, max_percent: percent.parse().ok()?, timespan, silent, wait: None })
    }

    fn check(&self) -> Result<(), ValueError> {
        if let Requirement::Pressure { max_percent, .. } = self
            && !(0.0..=100.0).contains(max_percent)
        {
            return Err(ValueError::new(format!("max_percent {max_percent} is out of range; use 0 to 100")));
        }
        Ok(())
    }
}

/// `80`, `12.5`, `12.34`: systemd takes percentages with up to two decimals.
pub(crate) fn format_percent(p: f64) -> String {
    let hundredths = (p * 100.0).round() as u64;
    match (hundredths / 100, hundredths % 100) {
        (whole, 0) => whole.to_string(),
        (whole, frac) if frac % 10 == 0 => format!("{whole}.{}", frac / 10),
        (whole, frac) => format!("{whole}.{frac:02}"),
    }
}

/// A requirement as written in a service file, tagged by `kind`.
#[derive(schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(title = "Requirement")]
#[allow(dead_code, reason = "only describes the schema; files are read through RequirementFields")]
enum RequirementTable {
    /// Physical memory, e.g. { kind = "memory", amount = "8G", constraint = ">=" }.
    Memory {
        amount: ByteSize,
        #[serde(default)]
        constraint: Comparison,
        #[serde(default)]
        silent: bool,
    },
    /// Usable CPUs, e.g. { kind = "cpus", amount = 4 }.
    Cpus {
        amount: u32,
        #[serde(default)]
        constraint: Comparison,
        #[serde(default)]
        silent: bool,
    },
    /// CPU pressure at most max_percent over timespan (10sec, 1min, 5min).
    CpuPressure {
        max_percent: f64,
        #[serde(default)]
        timespan: Timespan,
        #[serde(default)]
        silent: bool,
        /// Wait up to this long for the pressure to drop (e.g. "10min") instead of skipping or failing.
        wait: Option<Duration>,
    },
    /// Memory pressure at most max_percent over timespan.
    MemoryPressure {
        max_percent: f64,
        #[serde(default)]
        timespan: Timespan,
        #[serde(default)]
        silent: bool,
        /// Wait up to this long for the pressure to drop (e.g. "10min") instead of skipping or failing.
        wait: Option<Duration>,
    },
    /// IO pressure at most max_percent over timespan.
    IoPressure {
        max_percent: f64,
        #[serde(default)]
        timespan: Timespan,
        #[serde(default)]
        silent: bool,
        /// Wait up to this long for the pressure to drop (e.g. "10min") instead of skipping or failing.
        wait: Option<Duration>,
    },
}

/// Which requirement a table describes.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Memory,
    Cpus,
    CpuPressure,
    MemoryPressure,
    IoPressure,
}

/// Every field any requirement has, read flat so an error points at the field that is wrong
/// (an internally tagged enum would report only the table).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequirementFields {
    kind: Kind,
    amount: Option<ByteSize>,
    constraint: Option<Comparison>,
    max_percent: Option<f64>,
    timespan: Option<Timespan>,
    #[serde(default)]
    silent: bool,
    wait: Option<Duration>,
}

impl<'de> Deserialize<'de> for Requirement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let f = RequirementFields::deserialize(d)?;
        let not_for =
            |field: &str, what: &str| D::Error::custom(format!("`{field}` does not apply to {what} requirements"));
        let r = match f.kind {
            Kind::Memory | Kind::Cpus => {
                if f.max_percent.is_some() {
                    return Err(not_for("max_percent", "memory and cpus"));
                }
                if f.timespan.is_some() {
                    return Err(not_for("timespan", "memory and cpus"));
                }
                if f.wait.is_some() {
                    return Err(not_for("wait", "memory and cpus (they do not change by waiting)"));
                }
                let amount = f.amount.ok_or_else(|| D::Error::missing_field("amount"))?;
                let constraint = f.constraint.unwrap_or_default();
                if f.kind == Kind::Memory {
                    Requirement::Memory { amount, constraint, silent: f.silent }
                } else {
                    let amount = u32::try_from(amount.0)
                        .map_err(|_| D::Error::custom(format!("amount {} is too many CPUs", amount.0)))?;
                    Requirement::Cpus { amount, constraint, silent: f.silent }
                }
            }
            pressure => {
                if f.amount.is_some() {
                    return Err(not_for("amount", "pressure"));
                }
                if f.constraint.is_some() {
                    return Err(not_for("constraint", "pressure (the limit is max_percent)"));
                }
                let kind = match pressure {
                    Kind::CpuPressure => PressureKind::Cpu,
                    Kind::MemoryPressure => PressureKind::Memory,
                    _ => PressureKind::Io,
                };
                Requirement::Pressure {
                    kind,
                    max_percent: f.max_percent.ok_or_else(|| D::Error::missing_field("max_percent"))?,
                    timespan: f.timespan.unwrap_or_default(),
                    silent: f.silent,
                    wait: f.wait,
                }
            }
        };
        r.check().map_err(D::Error::custom)?;
        Ok(r)
    }
}

impl schemars::JsonSchema for Requirement {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Requirement".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RequirementTable::json_schema(generator)
    }
}

/// Check a requirement built in code (service files are checked as they are read).
pub(crate) fn check(r: &Requirement) -> Result<(), ValueError> {
    r.check()
}

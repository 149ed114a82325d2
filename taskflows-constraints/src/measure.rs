//! Measuring what a requirement compares, the way systemd's `Condition…=` checks do.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use taskflows_core::{PressureKind, Requirement, Timespan};

use crate::error::Error;

/// What was measured for a requirement.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Measured {
    /// Physical memory in bytes (clamped to the root cgroup's limit).
    Bytes(u64),
    /// CPUs in the affinity mask.
    Cpus(u32),
    /// A pressure average, in percent (0–100).
    Percent(f64),
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Measured::Bytes(b) => f.write_str(&human_bytes(*b)),
            Measured::Cpus(n) => write!(f, "{n}"),
            Measured::Percent(p) => write!(f, "{}%", percent(*p)),
        }
    }
}

/// A requirement, what was measured for it, and whether it holds.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Evaluation {
    /// The requirement that was checked.
    pub requirement: Requirement,
    /// The value on this machine now.
    pub measured: Measured,
    /// Whether systemd's check would pass with this value.
    pub holds: bool,
}

impl Evaluation {
    /// Compare `measured` with `requirement` as systemd does. A measurement of the wrong kind
    /// for the requirement never holds.
    pub fn new(requirement: Requirement, measured: Measured) -> Evaluation {
        let holds = match (&requirement, measured) {
            (Requirement::Memory { amount, constraint, .. }, Measured::Bytes(m)) => constraint.holds(m, amount.0),
            (Requirement::Cpus { amount, constraint, .. }, Measured::Cpus(n)) => constraint.holds(n, *amount),
            // systemd compares fixed-point hundredths: `current <= limit`
            (Requirement::Pressure { max_percent, .. }, Measured::Percent(p)) => {
                hundredths(p) <= hundredths(*max_percent)
            }
            _ => false,
        };
        Evaluation { requirement, measured, holds }
    }

    /// The requirement's name as service files spell its kind: `memory`, `cpus`, `cpu_pressure`,
    /// `memory_pressure`, `io_pressure`.
    pub fn name(&self) -> &'static str {
        requirement_name(&self.requirement)
    }

    /// Whether the measured value can change while waiting: pressure can, memory and CPUs are
    /// facts of the machine.
    pub fn can_change(&self) -> bool {
        matches!(self.requirement, Requirement::Pressure { .. })
    }
}

/// `memory_pressure 12.3% over 1min (limit 70%): ok`, `cpus 2 (limit >= 4): not met`.
impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.holds { "ok" } else { "not met" };
        match &self.requirement {
            Requirement::Memory { amount, constraint, .. } => {
                write!(f, "memory {} (limit {constraint} {}): {verdict}", self.measured, human_bytes(amount.0))
            }
            Requirement::Cpus { amount, constraint, .. } => {
                write!(f, "cpus {} (limit {constraint} {amount}): {verdict}", self.measured)
            }
            Requirement::Pressure { max_percent, timespan, .. } => write!(
                f,
                "{} {} over {} (limit {}%): {verdict}",
                self.name(),
                self.measured,
                timespan.as_str(),
                percent(*max_percent)
            ),
        }
    }
}

pub(crate) fn requirement_name(r: &Requirement) -> &'static str {
    match r {
        Requirement::Memory { .. } => "memory",
        Requirement::Cpus { .. } => "cpus",
        Requirement::Pressure { kind: PressureKind::Cpu, .. } => "cpu_pressure",
        Requirement::Pressure { kind: PressureKind::Memory, .. } => "memory_pressure",
        Requirement::Pressure { kind: PressureKind::Io, .. } => "io_pressure",
    }
}

/// Measure `requirement` on this machine and compare, as systemd's `Condition…=` would now.
pub fn evaluate(requirement: &Requirement) -> Result<Evaluation, Error> {
    evaluate_with(&mut Host, requirement)
}

/// [`evaluate`] each requirement, in order; the first measurement that fails is the error.
pub fn evaluate_all(requirements: &[Requirement]) -> Result<Vec<Evaluation>, Error> {
    requirements.iter().map(evaluate).collect()
}

pub(crate) fn evaluate_with(probe: &mut dyn Probe, requirement: &Requirement) -> Result<Evaluation, Error> {
    Ok(Evaluation::new(requirement.clone(), probe.measure(requirement)?))
}

/// Where measurements come from: the machine, or a script in tests.
pub(crate) trait Probe {
    fn measure(&mut self, requirement: &Requirement) -> Result<Measured, Error>;
}

/// This machine.
pub(crate) struct Host;

impl Probe for Host {
    fn measure(&mut self, requirement: &Requirement) -> Result<Measured, Error> {
        Ok(match requirement {
            Requirement::Memory { .. } => Measured::Bytes(physical_memory()?),
            Requirement::Cpus { .. } => Measured::Cpus(cpus_in_affinity_mask()?),
            Requirement::Pressure { kind, timespan, .. } => {
                Measured::Percent(read_pressure(&pressure_path(*kind), *kind, *timespan)?)
            }
        })
    }
}

/// `/proc/pressure/cpu` …
pub(crate) fn pressure_path(kind: PressureKind) -> PathBuf {
    Path::new("/proc/pressure").join(match kind {
        PressureKind::Cpu => "cpu",
        PressureKind::Memory => "memory",
        PressureKind::Io => "io",
    })
}

/// Which line systemd reads: `full` for memory and IO (falling back to `some` when a kernel has
/// no `full` line), `some` for CPU, whose system-wide `full` is always zero.
pub(crate) fn pressure_line(kind: PressureKind) -> &'static str {
    match kind {
        PressureKind::Cpu => "some",
        PressureKind::Memory | PressureKind::Io => "full",
    }
}

/// Read one average from a PSI file.
pub(crate) fn read_pressure(path: &Path, kind: PressureKind, timespan: Timespan) -> Result<f64, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| psi_error(path, e))?;
    parse_pressure(&text, kind, timespan).map_err(|detail| Error::Parse { path: path.to_owned(), detail })
}

fn psi_error(path: &Path, e: io::Error) -> Error {
    // ENOENT: no CONFIG_PSI; EOPNOTSUPP: built in but disabled (psi=0)
    if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(rustix::io::Errno::OPNOTSUPP.raw_os_error()) {
        Error::PsiUnavailable { path: path.to_owned() }
    } else {
        Error::Read { path: path.to_owned(), source: e }
    }
}

pub(crate) fn parse_pressure(text: &str, kind: PressureKind, timespan: Timespan) -> Result<f64, String> {
    let wanted = pressure_line(kind);
    let record = |name: &str| text.lines().find(|l| l.split_whitespace().next() == Some(name));
    let line = record(wanted).or_else(|| record("some")).ok_or_else(|| format!("no {wanted:?} line"))?;
    let r = procfs::parse_pressure_record(line).map_err(|e| format!("{line:?}: {e}"))?;
    Ok(f64::from(match timespan {
        Timespan::Sec10 => r.avg10,
        Timespan::Min1 => r.avg60,
        Timespan::Min5 => r.avg300,
    }))
}

/// The CPUs this process may run on, as `ConditionCPUs=` counts them.
fn cpus_in_affinity_mask() -> Result<u32, Error> {
    let set = rustix::thread::sched_getaffinity(None).map_err(|e| Error::Affinity { source: e.into() })?;
    Ok(set.count())
}

/// `MemTotal`, clamped to the root cgroup's memory limit like systemd's `physical_memory()`.
fn physical_memory() -> Result<u64, Error> {
    let mut system = sysinfo::System::new().map_err(|e| Error::Memory { detail: e.to_string() })?;
    system.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
    let total = system.total_memory();
    if total == 0 {
        return Err(Error::Memory { detail: "the kernel reports 0 bytes".into() });
    }
    Ok(clamp_to_limit(total, root_cgroup_memory_limit().as_deref(), rustix::param::page_size() as u64))
}

/// The memory limit of PID 1's cgroup (the root a container sees), as text; `None` when it
/// cannot be read, which systemd also ignores.
fn root_cgroup_memory_limit() -> Option<String> {
    let cgroups = std::fs::read_to_string("/proc/1/cgroup").ok()?;
    let unified = Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let root = root_cgroup_path(&cgroups)?;
    let file = if unified {
        format!("/sys/fs/cgroup{root}/memory.max")
    } else {
        format!("/sys/fs/cgroup/memory{root}/memory.limit_in_bytes")
    };
    std::fs::read_to_string(file).ok()
}

/// From `/proc/1/cgroup`: the unified (`0::`) path, else the `name=systemd` one, without a trailing
/// `/init.scope` (or the legacy `/system.slice`, `/system`, as systemd's `cg_get_root_path`); `/`
/// becomes the empty string so that it joins onto `/sys/fs/cgroup`.
pub(crate) fn root_cgroup_path(proc_cgroup: &str) -> Option<String> {
    let path_of = |pred: &dyn Fn(&str, &str) -> bool| {
        proc_cgroup.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            pred(id, controllers).then(|| path.to_owned())
        })
    };
    let path = path_of(&|id, c| id == "0" && c.is_empty()).or_else(|| path_of(&|_, c| c == "name=systemd"))?;
    let path = ["/init.scope", "/system.slice", "/system"].iter().find_map(|s| path.strip_suffix(s)).unwrap_or(&path);
    Some(path.trim_end_matches('/').to_owned())
}

/// `min(total, limit)`, the limit rounded down to whole pages; `max`, unparsable or `u64::MAX`
/// limits are no limit.
pub(crate) fn clamp_to_limit(total: u64, limit: Option<&str>, page: u64) -> u64 {
    match limit.map(str::trim).and_then(|l| l.parse::<u64>().ok()) {
        Some(l) if l != u64::MAX => total.min(l / page * page),
        _ => total,
    }
}

/// A percentage in the hundredths systemd compares.
fn hundredths(p: f64) -> i64 {
    (p * 100.0).round() as i64
}

/// `12.3`, `70`, `0.06`: at most two decimals, no trailing zeros.
pub(crate) fn percent(p: f64) -> String {
    let s = format!("{p:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_owned()
}

/// `23.59GiB`, `8GiB`, `512B`: the largest binary unit, at most two decimals.
pub(crate) fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    let mut value = b as f64;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{}{}", percent(value), UNITS[unit])
}

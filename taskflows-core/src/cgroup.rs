//! Resource limits as data, mapped to systemd's cgroup directives.
//!
//! The same [`CgroupConfig`] limits a plain service (systemd directives, see [`CgroupConfig::directives`])
//! or a Docker container (host-config fields, mapped by `taskflows-docker`).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::command::AbsPath;
use crate::constraints::format_percent;
use crate::duration::Duration;
use crate::error::{Error, ValueError};
use crate::size::ByteSize;

/// Resource limits for a service or a container. Every field is optional.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CgroupConfig {
    /// CPU time per period in microseconds; with `cpu_period` → `CPUQuota=N%` (50000 = half a CPU).
    pub cpu_quota: Option<u64>,
    /// The quota period in microseconds, 1000–1000000 (default 100000) → `CPUQuotaPeriodSec=`.
    pub cpu_period: Option<u64>,
    /// Relative CPU weight, 1–10000 → `CPUWeight=`.
    pub cpu_weight: Option<u64>,
    /// Docker-style CPU shares, 2–262144, converted to `CPUWeight=` the way runc does (1024 → 39).
    pub cpu_shares: Option<u64>,
    /// CPUs to run on, e.g. "0-3,6" → `AllowedCPUs=`.
    pub cpuset_cpus: Option<String>,
    /// Hard memory limit → `MemoryMax=`.
    pub memory_limit: Option<ByteSize>,
    /// Soft memory limit (throttling above it) → `MemoryHigh=`.
    pub memory_high: Option<ByteSize>,
    /// Memory protected unless there is no unprotected memory to reclaim → `MemoryLow=`.
    pub memory_low: Option<ByteSize>,
    /// Memory never reclaimed → `MemoryMin=`.
    pub memory_min: Option<ByteSize>,
    /// Swap limit → `MemorySwapMax=`.
    pub memory_swap_max: Option<ByteSize>,
    /// Docker-style memory plus swap; needs `memory_limit`, becomes `MemorySwapMax=` of the difference.
    pub memory_swap_limit: Option<ByteSize>,
    /// IO weight, 1–10000 → `IOWeight=`.
    pub io_weight: Option<u64>,
    /// Docker-style blkio weight, 10–1000, times 10 → `IOWeight=`.
    pub blkio_weight: Option<u64>,
    /// Read bandwidth per device, bytes per second → `IOReadBandwidthMax=DEV N`.
    #[serde(default)]
    pub device_read_bps: BTreeMap<AbsPath, ByteSize>,
    /// Write bandwidth per device, bytes per second → `IOWriteBandwidthMax=DEV N`.
    #[serde(default)]
    pub device_write_bps: BTreeMap<AbsPath, ByteSize>,
    /// Read operations per second per device → `IOReadIOPSMax=DEV N`.
    #[serde(default)]
    pub device_read_iops: BTreeMap<AbsPath, u64>,
    /// Write operations per second per device → `IOWriteIOPSMax=DEV N`.
    #[serde(default)]
    pub device_write_iops: BTreeMap<AbsPath, u64>,
    /// Most tasks (processes and threads) → `TasksMax=`.
    pub pids_limit: Option<u64>,
    /// Most open files → `LimitNOFILE=`.
    pub nofile_limit: Option<u64>,
    /// OOM killer preference, -1000–1000 → `OOMScoreAdjust=`.
    pub oom_score_adj: Option<i32>,
    /// What to do when the kernel OOM-kills a process: continue, stop or kill → `OOMPolicy=`.
    pub oom_policy: Option<OomPolicy>,
    /// systemd-oomd on swap exhaustion: auto or kill → `ManagedOOMSwap=`.
    pub managed_oom_swap: Option<ManagedOom>,
    /// systemd-oomd on memory pressure: auto or kill → `ManagedOOMMemoryPressure=`.
    pub managed_oom_memory_pressure: Option<ManagedOom>,
    /// Pressure limit for systemd-oomd, 0–100 (%) → `ManagedOOMMemoryPressureLimit=`.
    pub managed_oom_memory_pressure_limit: Option<f64>,
    /// systemd-oomd preference: none, avoid or omit → `ManagedOOMPreference=`.
    pub managed_oom_preference: Option<ManagedOomPreference>,
    /// Mount the file system read-only → `ProtectSystem=strict` and `ReadOnlyPaths=/`.
    #[serde(default)]
    pub read_only_rootfs: bool,
    /// Capabilities to drop; `ALL` drops all → `CapabilityBoundingSet=`.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Capabilities to keep after dropping ALL, or to grant (`AmbientCapabilities=`).
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Devices the service may use → `DeviceAllow=PATH PERMS`.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Start timeout → `TimeoutStartSec=`.
    pub timeout_start: Option<Duration>,
    /// Stop timeout → `TimeoutStopSec=` (instead of the default 120s).
    pub timeout_stop: Option<Duration>,
}

/// `OOMPolicy=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum OomPolicy {
    Continue,
    Stop,
    Kill,
}

/// `ManagedOOMSwap=` / `ManagedOOMMemoryPressure=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum ManagedOom {
    Auto,
    Kill,
}

/// `ManagedOOMPreference=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum ManagedOomPreference {
    None,
    Avoid,
    Omit,
}

/// A device the service may use.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The device node, e.g. /dev/fuse.
    pub path: AbsPath,
    /// Some of r, w, m (default rwm).
    #[serde(default = "rwm")]
    pub permissions: String,
}

fn rwm() -> String {
    "rwm".to_owned()
}

/// The capabilities systemd 252 knows, without the `CAP_` prefix.
const CAPABILITIES: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// `net_raw`, `CAP_NET_RAW` → `CAP_NET_RAW`.
fn capability(field: &str, name: &str) -> Result<String, Error> {
    let upper = name.to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    if CAPABILITIES.contains(&bare) {
        Ok(format!("CAP_{bare}"))
    } else {
        Err(Error::field(
            field,
            format!(
                "{name:?} is not a Linux capability; use names such as NET_RAW or CAP_SYS_ADMIN, or ALL in cap_drop"
            ),
        ))
    }
}

fn in_range<T: PartialOrd + std::fmt::Display>(field: &str, v: Option<T>, lo: T, hi: T) -> Result<(), Error> {
    match v {
        Some(v) if v < lo || v > hi => Err(Error::field(field, format!("{v} is out of range; use {lo} to {hi}"))),
        _ => Ok(()),
    }
}

fn check_cpuset(s: &str) -> Result<(), ValueError> {
    let number =
        |n: &str| (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then(|| n.parse::<u32>().ok()).flatten();
    let ok = !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            match (ends.next().and_then(number), ends.next()) {
                (Some(_), None) => true,
                (Some(lo), Some(hi)) => number(hi).is_some_and(|hi| hi >= lo),
                _ => false,
            }
        });
    if ok {
        Ok(())
    } else {
        Err(ValueError::new(format!("{s:?} is not a CPU list; use numbers and ranges such as \"0-3,6\"")))
    }
}

/// A device node path systemd can take in `DeviceAllow=` and the IO limits (which split on blanks).
fn is_device_path(p: &str) -> bool {
    p.starts_with("/dev/") && !p.contains(|c: char| c.is_whitespace() || c == '%')
}

/// Docker CPU shares to a cgroup v2 weight, the way runc converts them.
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

impl CgroupConfig {
    /// Check every field's range; messages name the field.
    pub fn check(&self) -> Result<(), Error> {
        if self.cpu_quota == Some(0) {
            return Err(Error::field(
                "cpu_quota",
                "0 is out of range; use a positive number of microseconds per period",
            ));
        }
        in_range("cpu_period", self.cpu_period, 1_000, 1_000_000)?;
        if self.cpu_period.is_some() && self.cpu_quota.is_none() {
            return Err(Error::field("cpu_period", "needs cpu_quota (the CPU time allowed per period)"));
        }
        in_range("cpu_weight", self.cpu_weight, 1, 10_000)?;
        in_range("cpu_shares", self.cpu_shares, 2, 262_144)?;
        if self.cpu_weight.is_some() && self.cpu_shares.is_some() {
            return Err(Error::field("cpu_shares", "give cpu_weight or cpu_shares, not both"));
        }
        if let Some(s) = &self.cpuset_cpus {
            check_cpuset(s).map_err(|e| e.at("cpuset_cpus"))?;
        }
        if let Some(total) = self.memory_swap_limit {
            let Some(mem) = self.memory_limit else {
                return Err(Error::field(
                    "memory_swap_limit",
                    "needs memory_limit (it is memory plus swap); or use memory_swap_max",
                ));
            };
            if total < mem {
                return Err(Error::field(
                    "memory_swap_limit",
                    format!("{} is less than memory_limit {}; it counts memory plus swap", total.0, mem.0),
                ));
            }
            if self.memory_swap_max.is_some() {
                return Err(Error::field("memory_swap_limit", "give memory_swap_max or memory_swap_limit, not both"));
            }
        }
        in_range("io_weight", self.io_weight, 1, 10_000)?;
        in_range("blkio_weight", self.blkio_weight, 10, 1_000)?;
        if self.io_weight.is_some() && self.blkio_weight.is_some() {
            return Err(Error::field("blkio_weight", "give io_weight or blkio_weight, not both"));
        }
        let devices = [
            ("device_read_bps", self.device_read_bps.keys().collect::<Vec<_>>()),
            ("device_write_bps", self.device_write_bps.keys().collect()),
            ("device_read_iops", self.device_read_iops.keys().collect()),
            ("device_write_iops", self.device_write_iops.keys().collect()),
        ];
        for (field, paths) in devices {
            if let Some(dev) = paths.iter().find(|d| !is_device_path(d.as_str())) {
                return Err(Error::field(
                    field,
                    format!("{:?} is not a device; use a path under /dev/ without blanks or '%'", dev.as_str()),
                ));
            }
        }
        if self.pids_limit == Some(0) {
            return Err(Error::field("pids_limit", "0 is out of range; use 1 or more"));
        }
        in_range("nofile_limit", self.nofile_limit, 1, 1 << 30)?;
        in_range("oom_score_adj", self.oom_score_adj, -1000, 1000)?;
        if let Some(p) = self.managed_oom_memory_pressure_limit
            && !(0.0..=100.0).contains(&p)
        {
            return Err(Error::field(
                "managed_oom_memory_pressure_limit",
                format!("{p} is out of range; use 0 to 100"),
            ));
        }
        for c in &self.cap_drop {
            if !c.eq_ignore_ascii_case("ALL") {
                capability("cap_drop", c)?;
            }
        }
        for c in &self.cap_add {
            if c.eq_ignore_ascii_case("ALL") {
                return Err(Error::field(
                    "cap_add",
                    "\"ALL\" is only allowed in cap_drop; list the capabilities to keep",
                ));
            }
            capability("cap_add", c)?;
        }
        for d in &self.devices {
            if !is_device_path(d.path.as_str()) {
                return Err(Error::field(
                    "devices",
                    format!("{:?} is not a device; use a path under /dev/ without blanks or '%'", d.path.as_str()),
                ));
            }
            if d.permissions.is_empty() || !d.permissions.chars().all(|c| "rwm".contains(c)) {
                return Err(Error::field(
                    "devices",
                    format!("permissions {:?} of {} are not allowed; use some of r, w, m", d.permissions, d.path),
                ));
            }
        }
        Ok(())
    }

    /// The systemd `[Service]` directives, in a fixed order. Call [`CgroupConfig::check`] first.
    pub fn directives(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<(&'static str, String)> = Vec::new();
        let mut put = |k: &'static str, v: String| out.push((k, v));
        if let Some(quota) = self.cpu_quota {
            let period = self.cpu_period.unwrap_or(100_000);
            put("CPUQuota", format!("{}%", format_percent(quota as f64 * 100.0 / period as f64)));
            if let Some(p) = self.cpu_period {
                put("CPUQuotaPeriodSec", Duration::from_micros(p).to_string());
            }
        }
        if let Some(w) = self.cpu_weight.or(self.cpu_shares.map(shares_to_weight)) {
            put("CPUWeight", w.to_string());
        }
        if let Some(cpus) = &self.cpuset_cpus {
            put("AllowedCPUs", cpus.clone());
        }
        for (k, v) in [
            ("MemoryMin", self.memory_min),
            ("MemoryLow", self.memory_low),
            ("MemoryHigh", self.memory_high),
            ("MemoryMax", self.memory_limit),
        ] {
            if let Some(v) = v {
                put(k, v.to_string());
            }
        }
        let swap = self.memory_swap_max.map(|s| s.0).or_else(|| Some(self.memory_swap_limit?.0 - self.memory_limit?.0));
        if let Some(s) = swap {
            put("MemorySwapMax", s.to_string());
        }
        if let Some(w) = self.io_weight.or(self.blkio_weight.map(|b| b * 10)) {
            put("IOWeight", w.to_string());
        }
        for (dev, n) in &self.device_read_bps {
            put("IOReadBandwidthMax", format!("{dev} {n}"));
        }
        for (dev, n) in &self.device_write_bps {
            put("IOWriteBandwidthMax", format!("{dev} {n}"));
        }
        for (dev, n) in &self.device_read_iops {
            put("IOReadIOPSMax", format!("{dev} {n}"));
        }
        for (dev, n) in &self.device_write_iops {
            put("IOWriteIOPSMax", format!("{dev} {n}"));
        }
        if let Some(n) = self.pids_limit {
            put("TasksMax", n.to_string());
        }
        if let Some(n) = self.nofile_limit {
            put("LimitNOFILE", n.to_string());
        }
        if let Some(n) = self.oom_score_adj {
            put("OOMScoreAdjust", n.to_string());
        }
        if let Some(p) = self.oom_policy {
            put("OOMPolicy", format!("{p:?}").to_ascii_lowercase());
        }
        if let Some(m) = self.managed_oom_swap {
            put("ManagedOOMSwap", format!("{m:?}").to_ascii_lowercase());
        }
        if let Some(m) = self.managed_oom_memory_pressure {
            put("ManagedOOMMemoryPressure", format!("{m:?}").to_ascii_lowercase());
        }
        if let Some(p) = self.managed_oom_memory_pressure_limit {
            put("ManagedOOMMemoryPressureLimit", format!("{}%", format_percent(p)));
        }
        if let Some(p) = self.managed_oom_preference {
            put("ManagedOOMPreference", format!("{p:?}").to_ascii_lowercase());
        }
        if self.read_only_rootfs {
            put("ProtectSystem", "strict".to_owned());
            put("ReadOnlyPaths", "/".to_owned());
        }
        let drop_all = self.cap_drop.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
        let caps = |names: &[String]| {
            let mut v: Vec<String> = names.iter().filter_map(|c| capability("", c).ok()).collect();
            v.sort();
            v.dedup();
            v.join(" ")
        };
        if drop_all {
            // An empty bounding set drops every capability; cap_add keeps the listed ones.
            put("CapabilityBoundingSet", caps(&self.cap_add));
        } else {
            if !self.cap_drop.is_empty() {
                put("CapabilityBoundingSet", format!("~{}", caps(&self.cap_drop)));
            }
            if !self.cap_add.is_empty() {
                put("AmbientCapabilities", caps(&self.cap_add));
            }
        }
        for d in &self.devices {
            put("DeviceAllow", format!("{} {}", d.path, d.permissions));
        }
        if let Some(t) = self.timeout_start {
            put("TimeoutStartSec", t.to_string());
        }
        if let Some(t) = self.timeout_stop {
            put("TimeoutStopSec", t.to_string());
        }
        out.push(("MemoryAccounting", "yes".to_owned()));
        out.push(("IOAccounting", "yes".to_owned()));
        out.push(("TasksAccounting", "yes".to_owned()));
        out
    }
}

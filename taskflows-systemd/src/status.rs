//! Status of many services at once: two listing calls, then the properties of every unit read
//! concurrently (one `GetAll` per unit and interface), never one round trip per property.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt as _;
use taskflows_core::ServiceName;
use zbus::{OwnedObjectPath, OwnedVariant, Variant};

use crate::{Error, Result, Systemd};

/// How many property reads are in flight at once.
const CONCURRENCY: usize = 64;

/// What systemd says about one service and its timer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServiceState {
    /// The service's name (without `taskflows-` and `.service`).
    pub name: String,
    /// The unit's description.
    pub description: String,
    /// loaded, not-found, bad-setting, error, masked.
    pub load_state: String,
    /// active, reloading, inactive, failed, activating, deactivating.
    pub active_state: String,
    /// The type-specific state: running, exited, dead, failed, auto-restart …
    pub sub_state: String,
    /// The service's unit-file state: enabled, disabled, static …
    pub enabled: String,
    /// The timer's unit-file state, when the service has a timer.
    pub timer_enabled: Option<String>,
    /// The timer's active state, when the service has a timer.
    pub timer_active: Option<String>,
    /// When the main process last started (µs since the epoch).
    pub last_start: Option<u64>,
    /// When the main process last exited (µs since the epoch).
    pub last_finish: Option<u64>,
    /// Since when the service is active, while it is (µs since the epoch).
    pub active_since: Option<u64>,
    /// How often systemd restarted it automatically (NRestarts).
    pub restarts: u32,
    /// The last run's result: success, exit-code, signal, timeout, core-dump, watchdog …
    pub result: String,
    /// The main process's exit status, when it exited.
    pub exit_status: Option<i32>,
    /// The main process, while running.
    pub main_pid: Option<u32>,
    /// When the timer next elapses (µs since the epoch).
    pub next_elapse: Option<u64>,
    /// When the timer last elapsed (µs since the epoch).
    pub last_trigger: Option<u64>,
    /// The timer's schedules as systemd normalized them, e.g. `OnCalendar=Mon..Fri *-*-* 09:00:00`.
    pub schedules: Vec<String>,
}

type Props = HashMap<String, OwnedVariant>;

impl Systemd {
    /// The state of `services` (those that are installed), in the given order.
    pub async fn status(&self, services: &[ServiceName]) -> Result<Vec<ServiceState>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .manager
            .list_units_by_patterns(&[], &["taskflows-*.service", "taskflows-*.timer"])
            .await
            .map_err(Error::call("ListUnitsByPatterns"))?;
        let mut paths: BTreeMap<String, OwnedObjectPath> = rows.into_iter().map(|r| (r.0, r.6)).collect();
        // systemd forgets the last run of a unit it garbage-collected; the journal remembers.
        let unloaded: Vec<String> =
            services.iter().map(|s| format!("{}.service", s.unit_stem())).filter(|u| !paths.contains_key(u)).collect();
        // Installed units systemd has not loaded (or garbage-collected): load them to read them.
        let mut wanted: Vec<(String, &'static str)> = Vec::new();
        for s in services {
            let stem = s.unit_stem();
            wanted.push((format!("{stem}.service"), "Service"));
            if self.unit_dir.join(format!("{stem}.timer")).exists() {
                wanted.push((format!("{stem}.timer"), "Timer"));
            }
        }
        for (unit, _) in &wanted {
            if !paths.contains_key(unit) {
                let path = self.manager.load_unit(unit).await.map_err(Error::call(format!("LoadUnit {unit}")))?;
                paths.insert(unit.clone(), path);
            }
        }
        let conn = &self.conn;
        let reads = futures_util::stream::iter(wanted.iter().map(|(unit, kind)| {
            let path = paths[unit].clone();
            async move {
                let unit_props = get_all(conn, &path, "org.freedesktop.systemd1.Unit").await;
                let kind_props = get_all(conn, &path, &format!("org.freedesktop.systemd1.{kind}")).await;
                (unit.clone(), unit_props.and_then(|u| Ok((u, kind_props?))))
            }
        }))
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
        let mut props: HashMap<String, (Props, Props)> = HashMap::with_capacity(reads.len());
        for (unit, r) in reads {
            props.insert(unit, r?);
        }
        let mut last_runs: HashMap<String, crate::RunRecord> = HashMap::new();
        if !unloaded.is_empty() {
            // Newest first: keep the first record of each unit.
            for run in self.history(&unloaded, None, usize::MAX).await? {
                last_runs.entry(run.unit.clone()).or_insert(run);
            }
        }
        Ok(services
            .iter()
            .map(|s| {
                let stem = s.unit_stem();
                let mut state = ServiceState { name: s.to_string(), ..ServiceState::default() };
                if let Some((unit, service)) = props.get(&format!("{stem}.service")) {
                    fill_service(&mut state, unit, service);
                }
                if let Some((unit, timer)) = props.get(&format!("{stem}.timer")) {
                    fill_timer(&mut state, unit, timer);
                }
                if let Some(run) = last_runs.get(&format!("{stem}.service")) {
                    state.last_start = state.last_start.or(run.start);
                    state.last_finish = state.last_finish.or(run.end);
                    if state.result.is_empty() || state.last_start == run.start {
                        state.result = run.result.clone();
                    }
                    state.exit_status = state.exit_status.or(run.exit_status.as_deref().and_then(|s| s.parse().ok()));
                }
                state
            })
            .collect())
    }
}

pub(crate) async fn get_all(conn: &zbus::Connection, path: &OwnedObjectPath, interface: &str) -> Result<Props> {
    let call = || format!("GetAll {interface} on {}", path.as_str());
    let proxy = zbus::fdo::PropertiesProxy::builder(conn)
        .destination("org.freedesktop.systemd1")
        .path(path.clone())
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .map_err(|e| Error::Call { call: call(), source: e })?;
    let name = zbus::names::InterfaceName::try_from(interface).map_err(|e| Error::Call { call: call(), source: e })?;
    proxy.get_all(name).await.map_err(|e| Error::Call { call: call(), source: e.into() })
}

fn text(p: &Props, key: &str) -> String {
    p.get(key).and_then(|v| <&str>::try_from(&**v).ok()).unwrap_or_default().to_owned()
}

fn number(p: &Props, key: &str) -> Option<u64> {
    match p.get(key).map(|v| &**v) {
        Some(Variant::U64(n)) => Some(*n),
        Some(Variant::U32(n)) => Some(u64::from(*n)),
        Some(Variant::I32(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// A timestamp in µs; systemd writes 0 for "never".
fn timestamp(p: &Props, key: &str) -> Option<u64> {
    number(p, key).filter(|t| *t != 0 && *t != u64::MAX)
}

fn fill_service(s: &mut ServiceState, unit: &Props, service: &Props) {
    s.description = text(unit, "Description");
    s.load_state = text(unit, "LoadState");
    s.active_state = text(unit, "ActiveState");
    s.sub_state = text(unit, "SubState");
    s.enabled = text(unit, "UnitFileState");
    s.active_since = timestamp(unit, "ActiveEnterTimestamp").filter(|_| s.active_state == "active");
    s.last_start = timestamp(service, "ExecMainStartTimestamp").or_else(|| timestamp(unit, "ActiveEnterTimestamp"));
    s.last_finish = timestamp(service, "ExecMainExitTimestamp");
    s.restarts = number(service, "NRestarts").unwrap_or(0) as u32;
    s.result = text(service, "Result");
    // ExecMainCode is a CLD_* code: 1 = exited (then ExecMainStatus is the exit status).
    if number(service, "ExecMainCode") == Some(1) {
        s.exit_status = match service.get("ExecMainStatus").map(|v| &**v) {
            Some(Variant::I32(n)) => Some(*n),
            _ => None,
        };
    }
    s.main_pid = number(service, "MainPID").filter(|p| *p != 0).map(|p| p as u32);
}

fn fill_timer(s: &mut ServiceState, unit: &Props, timer: &Props) {
    s.timer_enabled = Some(text(unit, "UnitFileState"));
    s.timer_active = Some(text(unit, "ActiveState"));
    s.next_elapse = timestamp(timer, "NextElapseUSecRealtime");
    s.last_trigger = timestamp(timer, "LastTriggerUSec");
    for key in ["TimersCalendar", "TimersMonotonic"] {
        let Some(Variant::Array(items)) = timer.get(key).map(|v| &**v) else {
            continue;
        };
        for item in items.inner() {
            let Variant::Structure(fields) = item else {
                continue;
            };
            match fields.fields() {
                [Variant::Str(base), Variant::Str(spec), ..] => s.schedules.push(format!("{base}={spec}")),
                // systemd names the monotonic bases OnBootUSec …; write them as in unit files.
                [Variant::Str(base), Variant::U64(us), ..] => s.schedules.push(format!(
                    "{}={}",
                    base.as_str().replace("USec", "Sec"),
                    taskflows_core::Duration::from_micros(*us)
                )),
                _ => {}
            }
        }
    }
}

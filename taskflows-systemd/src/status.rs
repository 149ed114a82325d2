//! Status of many services at once: two listing calls, then the properties of every unit read
//! concurrently (one `GetAll` per unit and interface), never one round trip per property.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt as _;
use taskflows_core::ServiceName;
use zbus::{OwnedObjectPath, OwnedVariant, Variant};

use jiff::Timestamp;

use crate::state::{ActiveState, LoadState, RunResult, from_micros};
use crate::{Error, Result, Systemd};

/// How many property reads are in flight at once.
pub(crate) const CONCURRENCY: usize = 64;

/// What systemd says about one service and its timer.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ServiceState {
    /// The service's name (without `taskflows-` and `.service`).
    pub name: String,
    /// The unit's description.
    pub description: String,
    /// Whether systemd read the unit file.
    pub load_state: LoadState,
    /// Whether it runs.
    pub active_state: ActiveState,
    /// The type-specific state: running, exited, dead, failed, auto-restart …
    pub sub_state: String,
    /// Whether the service starts at boot (or login): its `[Install]` symlink is in place.
    pub enabled: bool,
    /// Whether the timer is enabled, when the service has a timer.
    pub timer_enabled: Option<bool>,
    /// The timer's active state, when the service has a timer.
    pub timer_active: Option<ActiveState>,
    /// When the main process last started.
    #[schemars(with = "Option<taskflows_core::schema::Timestamp>")]
    pub last_start: Option<Timestamp>,
    /// When the main process last exited.
    #[schemars(with = "Option<taskflows_core::schema::Timestamp>")]
    pub last_finish: Option<Timestamp>,
    /// Since when the service is active, while it is.
    #[schemars(with = "Option<taskflows_core::schema::Timestamp>")]
    pub active_since: Option<Timestamp>,
    /// How often systemd restarted it automatically (NRestarts).
    pub restarts: u32,
    /// How the last run ended; none before the first run.
    pub result: Option<RunResult>,
    /// The main process's exit status, when it exited.
    pub exit_status: Option<i32>,
    /// The main process, while running.
    pub main_pid: Option<u32>,
    /// When the timer next elapses.
    #[schemars(with = "Option<taskflows_core::schema::Timestamp>")]
    pub next_elapse: Option<Timestamp>,
    /// When the timer last elapsed.
    #[schemars(with = "Option<taskflows_core::schema::Timestamp>")]
    pub last_trigger: Option<Timestamp>,
    /// The timer's schedules as systemd normalized them, e.g. `OnCalendar=Mon..Fri *-*-* 09:00:00`.
    pub schedules: Vec<String>,
}

impl ServiceState {
    /// Whether a run is under way ([`ActiveState::is_running`]).
    pub fn is_running(&self) -> bool {
        self.active_state.is_running()
    }

    /// Whether the last run failed: the unit is failed, or its last run ended with another result
    /// than success.
    pub fn last_run_failed(&self) -> bool {
        self.active_state == ActiveState::Failed || self.result.is_some_and(|r| !r.is_success())
    }
}

type Props = HashMap<String, OwnedVariant>;

const UNIT: &str = "org.freedesktop.systemd1.Unit";
const SERVICE: &str = "org.freedesktop.systemd1.Service";
const TIMER: &str = "org.freedesktop.systemd1.Timer";
/// Unit properties of a unit the listing did not have.
const UNIT_ALL: [&str; 4] = ["Description", "LoadState", "ActiveState", "SubState"];
/// Service properties of every service.
const SERVICE_PROPS: [&str; 2] = ["ExecMainStartTimestamp", "Result"];
/// Service properties of a service that ran.
const RUN_END_PROPS: [&str; 2] = ["ExecMainExitTimestamp", "ExecMainStatus"];
/// Properties only a running service has.
const RUNNING_PROPS: [(&str, &str); 2] = [(UNIT, "ActiveEnterTimestamp"), (SERVICE, "MainPID")];

/// A property to read: unit, object path, interface, property (empty: all of the interface).
type Request<'a> = (&'a str, &'a OwnedObjectPath, &'static str, &'static str);

impl Systemd {
    /// Read `requests` concurrently into `props` (unit → (Unit properties, Service or Timer ones)).
    async fn read(&self, requests: Vec<Request<'_>>, props: &mut HashMap<String, (Props, Props)>) -> Result<()> {
        let conn = &self.conn;
        // Collected first: a stream over the closure's map would make this future not `Send`.
        let reads: Vec<_> = requests
            .into_iter()
            .map(|(unit, path, iface, prop)| async move {
                let value = if prop.is_empty() {
                    get_all(conn, path, iface).await.map(PropsOrOne::All)
                } else {
                    get(conn, path, iface, prop).await.map(PropsOrOne::One)
                };
                (unit, iface, prop, value)
            })
            .collect();
        let replies = futures_util::stream::iter(reads).buffer_unordered(CONCURRENCY).collect::<Vec<_>>().await;
        for (unit, iface, prop, value) in replies {
            let entry = props.entry(unit.to_owned()).or_default();
            let target = if iface == UNIT { &mut entry.0 } else { &mut entry.1 };
            match value? {
                PropsOrOne::One(v) => {
                    target.insert(prop.to_owned(), v);
                }
                PropsOrOne::All(all) => target.extend(all),
            }
        }
        Ok(())
    }
}

enum PropsOrOne {
    One(OwnedVariant),
    All(Props),
}

/// One property, read with a plain method call (no proxy to build).
pub(crate) async fn get(
    conn: &zbus::Connection,
    path: &OwnedObjectPath,
    interface: &str,
    property: &str,
) -> Result<OwnedVariant> {
    let call = || format!("Get {interface}.{property} on {}", path.as_str());
    let reply = conn
        .call_method(
            Some("org.freedesktop.systemd1"),
            path,
            Some("org.freedesktop.DBus.Properties"),
            "Get",
            &(interface, property),
        )
        .await
        .map_err(|e| Error::Call { call: call(), source: e })?;
    reply.body().deserialize::<OwnedVariant>().map_err(|e| Error::Call { call: call(), source: e })
}

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
        let mut props: HashMap<String, (Props, Props)> = HashMap::with_capacity(rows.len());
        let mut paths: BTreeMap<String, OwnedObjectPath> = BTreeMap::new();
        for r in rows {
            // The listing already has these; read only what it lacks.
            let mut unit = Props::new();
            for (key, value) in [("Description", r.1), ("LoadState", r.2), ("ActiveState", r.3), ("SubState", r.4)] {
                if let Ok(v) = OwnedVariant::try_from(Variant::from(value)) {
                    unit.insert(key.to_owned(), v);
                }
            }
            props.insert(r.0.clone(), (unit, Props::new()));
            paths.insert(r.0, r.6);
        }
        // systemd forgets the last run of a unit it garbage-collected; the journal remembers.
        let unloaded: Vec<String> =
            services.iter().map(|s| format!("{}.service", s.unit_stem())).filter(|u| !paths.contains_key(u)).collect();
        let mut wanted: Vec<(String, &'static str)> = Vec::new();
        for s in services {
            let stem = s.unit_stem();
            wanted.push((format!("{stem}.service"), "Service"));
            if self.unit_dir.join(format!("{stem}.timer")).exists() {
                wanted.push((format!("{stem}.timer"), "Timer"));
            }
        }
        // Installed units systemd has not loaded (or garbage-collected): load them to read them.
        for (unit, _) in &wanted {
            if !paths.contains_key(unit) {
                let path = self.manager.load_unit(unit).await.map_err(Error::call(format!("LoadUnit {unit}")))?;
                paths.insert(unit.clone(), path);
                props.insert(unit.clone(), (Props::new(), Props::new()));
            }
        }
        // One request per property (small and cheap for systemd to answer), all pipelined; a
        // GetAll of the Service interface would serialize hundreds of properties per unit. Ask
        // only what can differ from the default: restarts only with a restart policy, how a run
        // ended only once there was a run.
        let mut requests: Vec<Request<'_>> = Vec::new();
        for (unit, kind) in &wanted {
            let path = &paths[unit];
            // Enablement comes from our own folder (see `is_enabled`), not from systemd.
            let listed = props
                .get(unit.as_str())
                .filter(|(u, _)| u.contains_key("ActiveState"))
                .map(|(u, _)| ActiveState::from_word(&text(u, "ActiveState")));
            if listed.is_none() {
                requests.extend(UNIT_ALL.map(|p| (unit.as_str(), path, UNIT, p)));
            }
            if *kind == "Service" {
                requests.extend(SERVICE_PROPS.map(|p| (unit.as_str(), path, SERVICE, p)));
                let content = std::fs::read_to_string(self.unit_dir.join(unit)).unwrap_or_default();
                if content.contains("\nRestart=") {
                    requests.push((unit, path, SERVICE, "NRestarts"));
                }
                if listed.is_none_or(|a| !matches!(a, ActiveState::Inactive | ActiveState::Failed)) {
                    requests.extend(RUNNING_PROPS.map(|(iface, p)| (unit.as_str(), path, iface, p)));
                }
            } else {
                requests.push((unit, path, TIMER, ""));
            }
        }
        self.read(requests, &mut props).await?;
        let ran: Vec<Request<'_>> = wanted
            .iter()
            .filter(|(unit, kind)| {
                *kind == "Service"
                    && props.get(unit).is_some_and(|(_, s)| micros(s, "ExecMainStartTimestamp").is_some())
            })
            .flat_map(|(unit, _)| RUN_END_PROPS.map(|p| (unit.as_str(), &paths[unit], SERVICE, p)))
            .collect();
        self.read(ran, &mut props).await?;
        let mut last_runs: HashMap<String, crate::RunRecord> = HashMap::new();
        if !unloaded.is_empty() {
            // Newest first: keep the first record of each unit.
            // Bounded: a few messages per run, a few runs per unit are plenty for the last one.
            // Service runs only: a task's record is not its service's run.
            let runs = self
                .history_within(
                    &unloaded,
                    None,
                    Some(64 * unloaded.len()),
                    crate::journal::Runs::ServicesOnly,
                    usize::MAX,
                )
                .await?;
            for run in runs.into_iter().filter(|r| r.kind == crate::RunKind::Service) {
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
                state.enabled = self.is_enabled(&format!("{stem}.service"));
                if let Some((unit, timer)) = props.get(&format!("{stem}.timer")) {
                    fill_timer(&mut state, unit, timer);
                    state.timer_enabled = Some(self.is_enabled(&format!("{stem}.timer")));
                }
                if let Some(run) = last_runs.get(&format!("{stem}.service")) {
                    state.last_start = state.last_start.or(run.start);
                    state.last_finish = state.last_finish.or(run.end);
                    if state.result.is_none() || state.last_start == run.start {
                        state.result = Some(run.result);
                    }
                    state.exit_status = state.exit_status.or(run.exit.as_ref().and_then(|e| e.status()));
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

pub(crate) fn text(p: &Props, key: &str) -> String {
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
pub(crate) fn micros(p: &Props, key: &str) -> Option<u64> {
    number(p, key).filter(|t| *t != 0 && *t != u64::MAX)
}

/// A timestamp; systemd writes 0 for "never".
pub(crate) fn timestamp(p: &Props, key: &str) -> Option<Timestamp> {
    number(p, key).and_then(from_micros)
}

fn fill_service(s: &mut ServiceState, unit: &Props, service: &Props) {
    s.description = text(unit, "Description");
    s.load_state = LoadState::from_word(&text(unit, "LoadState"));
    s.active_state = ActiveState::from_word(&text(unit, "ActiveState"));
    s.sub_state = text(unit, "SubState");
    s.active_since = timestamp(unit, "ActiveEnterTimestamp").filter(|_| s.active_state == ActiveState::Active);
    s.last_start = timestamp(service, "ExecMainStartTimestamp").or_else(|| timestamp(unit, "ActiveEnterTimestamp"));
    s.last_finish = timestamp(service, "ExecMainExitTimestamp");
    s.restarts = number(service, "NRestarts").map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let result = text(service, "Result");
    s.result = (!result.is_empty()).then(|| RunResult::from_word(&result));
    // ExecMainStatus is an exit status when the process exited, a signal number when it was
    // killed. The result tells which without another read: a non-zero status with result
    // "success" can only be the signal of a clean stop (taskflows sets no SuccessExitStatus=).
    let status = match service.get("ExecMainStatus").map(|v| &**v) {
        Some(Variant::I32(n)) => Some(*n),
        _ => None,
    };
    s.exit_status = match (s.result, status) {
        (Some(RunResult::ExitCode), Some(n)) => Some(n),
        (Some(RunResult::Success), Some(0)) if s.last_finish.is_some() => Some(0),
        _ => None,
    };
    s.main_pid = number(service, "MainPID").filter(|p| *p != 0).and_then(|p| u32::try_from(p).ok());
}

/// Wall-clock minus monotonic time now, in µs; the monotonic clock from `/proc/uptime` (which
/// also counts suspend: close enough for display).
fn realtime_minus_monotonic() -> Option<u64> {
    let uptime = std::fs::read_to_string("/proc/uptime").ok()?;
    let secs: f64 = uptime.split_whitespace().next()?.parse().ok()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_micros() as u64;
    now.checked_sub((secs * 1e6) as u64)
}

fn fill_timer(s: &mut ServiceState, unit: &Props, timer: &Props) {
    s.timer_active = Some(ActiveState::from_word(&text(unit, "ActiveState")));
    // Periodic timers elapse on the monotonic clock: convert to wall time with the offset
    // between the two clocks at the last trigger, else now.
    s.next_elapse = timestamp(timer, "NextElapseUSecRealtime").or_else(|| {
        let next = micros(timer, "NextElapseUSecMonotonic")?;
        let offset = match (micros(timer, "LastTriggerUSec"), micros(timer, "LastTriggerUSecMonotonic")) {
            (Some(real), Some(mono)) => real.checked_sub(mono)?,
            _ => realtime_minus_monotonic()?,
        };
        from_micros(next.checked_add(offset)?)
    });
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

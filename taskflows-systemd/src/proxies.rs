//! Typed proxies for the parts of systemd's D-Bus API taskflows uses
//! (org.freedesktop.systemd1(5)), public for callers that need more than [`crate::Systemd`]
//! offers: build them on [`crate::Systemd::connection`].

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use zbus::{OwnedObjectPath, Variant};

/// One row of `ListUnits`/`ListUnitsByPatterns`: name, description, load, active and sub state,
/// followed unit, object path, queued job id, job type, job path.
pub type UnitRow = (String, String, String, String, String, String, OwnedObjectPath, u32, String, OwnedObjectPath);

/// One change reported by `EnableUnitFiles`/`DisableUnitFiles`: type, symlink, destination.
pub type FileChange = (String, String, String);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    fn reload(&self) -> zbus::Result<()>;

    fn subscribe(&self) -> zbus::Result<()>;

    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn try_restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;

    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;

    fn load_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    fn enable_unit_files(&self, files: &[&str], runtime: bool, force: bool) -> zbus::Result<(bool, Vec<FileChange>)>;

    fn disable_unit_files(&self, files: &[&str], runtime: bool) -> zbus::Result<Vec<FileChange>>;

    fn list_units_by_patterns(&self, states: &[&str], patterns: &[&str]) -> zbus::Result<Vec<UnitRow>>;

    fn list_unit_files_by_patterns(&self, states: &[&str], patterns: &[&str]) -> zbus::Result<Vec<(String, String)>>;

    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: &[(&str, Variant<'_>)],
        aux: &[(&str, Vec<(&str, Variant<'_>)>)],
    ) -> zbus::Result<OwnedObjectPath>;

    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1",
    assume_defaults = false
)]
pub trait Unit {
    #[zbus(property(emits_changed_signal = "false"))]
    fn active_state(&self) -> zbus::Result<String>;

    #[zbus(property(emits_changed_signal = "false"))]
    fn sub_state(&self) -> zbus::Result<String>;

    #[zbus(property(emits_changed_signal = "false"), name = "InvocationID")]
    fn invocation_id(&self) -> zbus::Result<Vec<u8>>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1",
    assume_defaults = false
)]
pub trait Service {
    #[zbus(property(emits_changed_signal = "false"))]
    fn result(&self) -> zbus::Result<String>;

    #[zbus(property(emits_changed_signal = "false"))]
    fn exec_main_code(&self) -> zbus::Result<i32>;

    #[zbus(property(emits_changed_signal = "false"))]
    fn exec_main_status(&self) -> zbus::Result<i32>;

    #[zbus(property(emits_changed_signal = "false"))]
    fn exec_main_start_timestamp(&self) -> zbus::Result<u64>;

    #[zbus(property(emits_changed_signal = "false"))]
    fn exec_main_exit_timestamp(&self) -> zbus::Result<u64>;
}

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Timer",
    default_service = "org.freedesktop.systemd1",
    assume_defaults = false
)]
pub trait Timer {
    #[zbus(property(emits_changed_signal = "false"), name = "NextElapseUSecRealtime")]
    fn next_elapse_usec_realtime(&self) -> zbus::Result<u64>;
}

/// Typed proxies for one unit object, reading each property when asked (no cache, no signals).
pub(crate) async fn unit_proxies(
    conn: &zbus::Connection,
    path: OwnedObjectPath,
) -> zbus::Result<(UnitProxy<'static>, ServiceProxy<'static>)> {
    let unit =
        UnitProxy::builder(conn).path(path.clone()).cache_properties(zbus::proxy::CacheProperties::No).build().await?;
    let service =
        ServiceProxy::builder(conn).path(path).cache_properties(zbus::proxy::CacheProperties::No).build().await?;
    Ok((unit, service))
}

/// A finished systemd job, from the manager's `JobRemoved` signal.
pub(crate) struct JobRemoved {
    /// The job's object path.
    pub(crate) job: String,
    /// The unit.
    pub(crate) unit: String,
    /// done, failed, canceled, timeout, dependency, skipped …
    pub(crate) result: String,
}

/// The manager's `JobRemoved` signals.
///
/// Read straight from the connection rather than through the proxy's signal machinery; only
/// signals from the manager's unique name count.
pub(crate) async fn job_removed(conn: &zbus::Connection) -> zbus::Result<BoxStream<'static, JobRemoved>> {
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .path("/org/freedesktop/systemd1")
        .interface("org.freedesktop.systemd1.Manager")
        .member("JobRemoved")
        .build()?;
    let owner: Option<String> = if conn.is_bus() {
        let dbus = zbus::fdo::DBusProxy::new(conn).await?;
        let name = zbus::names::BusName::try_from("org.freedesktop.systemd1")?;
        Some(dbus.get_name_owner(name).await?.to_string())
    } else {
        None
    };
    let stream = zbus::MessageStream::for_match_rule(rule, conn, None).await?;
    Ok(stream
        .filter_map(move |msg| {
            let owner = owner.clone();
            async move {
                let msg = msg.ok()?;
                let header = msg.header();
                if let Some(owner) = &owner
                    && header.sender().map(|s| s.as_str()) != Some(owner.as_str())
                {
                    return None;
                }
                let (_, job, unit, result): (u32, OwnedObjectPath, String, String) = msg.body().deserialize().ok()?;
                Some(JobRemoved { job: job.as_str().to_owned(), unit, result })
            }
        })
        .boxed())
}

//! The systemd backend of taskflows: installs rendered units and drives and observes them through
//! systemd's D-Bus API (zbus, on tokio), for the user manager (session bus) or the system manager
//! (system bus).
//!
//! It owns unit files in the scope's unit folder, daemon reloads (one per batch), jobs
//! (start/stop/restart, waited for through `JobRemoved`), enablement, bulk status, logs and run
//! history read from the journal, live watching and one-off transient runs. It also keeps
//! taskflows' files under its data folder ([`Store`]): named environments, and the definitions
//! of created services, to re-create those that use an environment when it changes. It does not render
//! units (that is `taskflows-core`) and it builds no runtime: callers bring a tokio runtime.

mod control;
mod counts;
mod definitions;
mod environments;
mod error;
pub mod files;
pub mod host;
mod install;
mod jobs;
mod journal;
pub mod monitor;
pub mod proxies;
mod run;
pub mod state;
mod status;
mod watch;

use std::path::{Path, PathBuf};
use std::time::Duration;

use taskflows_core::Scope;

pub use control::{Targets, nearest, units_of};
pub use counts::{RunCounts, TaskCounts};
pub use environments::{Store, StoredEnvironment};
pub use error::{Error, Result};
pub use install::{InstallReport, check_env_file};
pub use jobs::JobOutcome;
#[doc(hidden)]
pub use journal::fuzzing;
pub use journal::{LogFilter, LogLine, ProcessExit, RunKind, RunRecord};
pub use run::{RunOutcome, TransientRun};
pub use state::{ActiveState, JobKind, JobResult, LoadState, RunResult};
pub use status::ServiceState;
pub use watch::{Event, Watch};

use proxies::ManagerProxy;

/// How long systemd may take to answer one D-Bus call, and to accept a connection.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// How long a daemon reload may take: it re-reads every unit file (1,000 units take seconds).
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(180);

/// A connection to one systemd service manager and the unit folder taskflows writes for it.
#[derive(Clone)]
pub struct Systemd {
    conn: zbus::Connection,
    manager: ManagerProxy<'static>,
    scope: Scope,
    /// The bus, for messages: `system bus unix:path=…`.
    bus: String,
    unit_dir: PathBuf,
    progress: Option<std::sync::Arc<dyn Fn(usize, usize) + Send + Sync>>,
}

impl Systemd {
    /// Connect to the manager of `scope`: the session bus for user units, the system bus for
    /// system units.
    ///
    /// Every call on the connection waits at most [`CALL_TIMEOUT`] for its answer (a daemon
    /// reload [`RELOAD_TIMEOUT`]), and so does connecting: a stopped bus or manager is an error,
    /// never a hang.
    pub async fn connect(scope: Scope) -> Result<Systemd> {
        let builder = match scope {
            Scope::User => zbus::conn::Builder::session(),
            Scope::System => zbus::conn::Builder::system(),
        };
        Systemd::connect_with(builder, scope, None).await
    }

    /// Connect to the manager of `scope` through the bus at `address`
    /// (e.g. `unix:path=/run/user/1000/bus`), bounded in time as [`Systemd::connect`] is.
    pub async fn connect_to(scope: Scope, address: &str) -> Result<Systemd> {
        Systemd::connect_with(zbus::conn::Builder::address(address), scope, Some(address)).await
    }

    async fn connect_with(builder: zbus::conn::Builder<'_>, scope: Scope, address: Option<&str>) -> Result<Systemd> {
        let bus = bus_name(scope, address);
        let conn = tokio::time::timeout(CALL_TIMEOUT, builder.method_timeout(CALL_TIMEOUT).build())
            .await
            .map_err(|_| no_answer(&bus, CALL_TIMEOUT, "connecting (is the bus stopped?)"))?
            .map_err(|source| connect_error(scope, address, source))?;
        Systemd::setup(conn, scope, bus).await
    }

    /// Use an existing bus connection for the manager of `scope`. Its calls are bounded by the
    /// connection's own method timeout, if it has one; setting up is bounded by [`CALL_TIMEOUT`].
    pub async fn with_connection(conn: zbus::Connection, scope: Scope) -> Result<Systemd> {
        Systemd::setup(conn, scope, bus_name(scope, None)).await
    }

    async fn setup(conn: zbus::Connection, scope: Scope, bus: String) -> Result<Systemd> {
        let setup = async {
            // No property cache: it would add a bus match and a name lookup we never use.
            let manager = ManagerProxy::builder(&conn)
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await
                .map_err(|source| connect_error(scope, None, source))?;
            // Without a subscriber systemd may not broadcast JobRemoved and friends.
            manager.subscribe().await.map_err(|source| {
                if timed_out(&source) {
                    no_answer(&bus, CALL_TIMEOUT, "Subscribe (is systemd or the bus stopped?)")
                } else {
                    connect_error(scope, None, source)
                }
            })?;
            Ok::<_, Error>(manager)
        };
        let manager = tokio::time::timeout(CALL_TIMEOUT, setup)
            .await
            .map_err(|_| no_answer(&bus, CALL_TIMEOUT, "Subscribe (is systemd or the bus stopped?)"))??;
        Ok(Systemd { conn, manager, scope, bus, unit_dir: default_unit_dir(scope), progress: None })
    }

    /// Write units into `dir` instead of the scope's usual folder (it must be on the manager's
    /// unit search path).
    pub fn with_unit_dir(mut self, dir: impl Into<PathBuf>) -> Systemd {
        self.unit_dir = dir.into();
        self
    }

    /// Call `report(done, total)` as the jobs of a bulk operation finish (after each batch), e.g.
    /// to draw a progress bar.
    pub fn with_progress(mut self, report: impl Fn(usize, usize) + Send + Sync + 'static) -> Systemd {
        self.progress = Some(std::sync::Arc::new(report));
        self
    }

    /// User or system.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The bus to the manager, with its address (`system bus unix:path=…`), e.g. to say which
    /// bus a failed call went over.
    pub fn bus(&self) -> &str {
        &self.bus
    }

    /// Where this backend writes unit files.
    pub fn unit_dir(&self) -> &Path {
        &self.unit_dir
    }

    /// The bus connection, for callers that need more of systemd's API.
    pub fn connection(&self) -> &zbus::Connection {
        &self.conn
    }

    /// The manager's version number, e.g. 252.
    pub async fn version(&self) -> Result<u32> {
        let v = self.manager.version().await.map_err(Error::call("Version"))?;
        Ok(v.split(|c: char| !c.is_ascii_digit()).next().and_then(|n| n.parse().ok()).unwrap_or(0))
    }

    /// Run `f` and count the daemon reloads the manager announces meanwhile (its
    /// `Reloading(true)` signals, from anyone), waiting `settle` afterwards for late signals.
    /// Shows, for instance, that re-creating unchanged services does not reload.
    pub async fn reloads_during<F: std::future::Future>(
        &self,
        settle: std::time::Duration,
        f: F,
    ) -> Result<(usize, F::Output)> {
        use futures_util::StreamExt as _;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.systemd1.Manager")
            .member("Reloading")
            .build()
            .map_err(Error::call("AddMatch Reloading"))?;
        let mut stream = zbus::MessageStream::for_match_rule(rule, &self.conn, None)
            .await
            .map_err(Error::call("AddMatch Reloading"))?;
        let out = f.await;
        let mut count = 0;
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(settle, stream.next()).await {
            if msg.body().deserialize::<bool>().unwrap_or(false) {
                count += 1;
            }
        }
        Ok((count, out))
    }

    /// Reload the manager's configuration (daemon-reload), waiting at most [`RELOAD_TIMEOUT`].
    pub async fn reload(&self) -> Result<()> {
        // Not `self.manager.reload()`: a proxy's plain call is cut at the connection's method
        // timeout, while `call_with_flags` awaits the reply without it (zbus 6); the bound here
        // is the only one (tests/it/stall.rs checks both).
        let call = self.manager.inner().call_with_flags::<_, _, ()>("Reload", zbus::proxy::MethodFlags::empty(), &());
        match tokio::time::timeout(RELOAD_TIMEOUT, call).await {
            Ok(reply) => reply.map(drop).map_err(Error::call("Reload")),
            Err(_) => Err(no_answer(&self.bus, RELOAD_TIMEOUT, "Reload")),
        }
    }
}

/// `system bus unix:path=/run/dbus/system_bus_socket`, `session bus unix:path=/run/user/1000/bus`.
fn bus_name(scope: Scope, address: Option<&str>) -> String {
    let (kind, var, default) = match scope {
        Scope::User => ("session bus", "DBUS_SESSION_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS is not set"),
        Scope::System => ("system bus", "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/dbus/system_bus_socket"),
    };
    let address = address.map_or_else(|| std::env::var(var).unwrap_or_else(|_| default.to_owned()), str::to_owned);
    format!("{kind} {address}")
}

fn no_answer(bus: &str, limit: Duration, what: &str) -> Error {
    Error::NoAnswer { bus: bus.to_owned(), seconds: limit.as_secs(), what: what.to_owned() }
}

/// Whether a call ended at the connection's method timeout.
fn timed_out(e: &zbus::Error) -> bool {
    matches!(e, zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut)
}

fn connect_error(scope: Scope, address: Option<&str>, source: zbus::Error) -> Error {
    let bus = |var: &str, default: &str| match address {
        Some(a) => a.to_owned(),
        None => std::env::var(var).unwrap_or_else(|_| default.to_owned()),
    };
    match scope {
        Scope::User => Error::Connect {
            scope: "user",
            bus: format!("session bus ({})", bus("DBUS_SESSION_BUS_ADDRESS", "DBUS_SESSION_BUS_ADDRESS is not set")),
            hint: "log in to a session, or run `loginctl enable-linger $USER` and set XDG_RUNTIME_DIR=/run/user/$(id -u); use --system for system units",
            source,
        },
        Scope::System => Error::Connect {
            scope: "system",
            bus: format!("system bus ({})", bus("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/dbus/system_bus_socket")),
            hint: "is systemd running as PID 1 with dbus? use --user for user units",
            source,
        },
    }
}

/// The scope a caller gets unless it asks: the system manager for root, the user's otherwise.
pub fn default_scope() -> Scope {
    if current_uid() == 0 { Scope::System } else { Scope::User }
}

/// The effective user id, from the owner of `/proc/self` (no libc call needed).
pub(crate) fn current_uid() -> u32 {
    std::fs::metadata("/proc/self").map_or(u32::MAX, |m| std::os::unix::fs::MetadataExt::uid(&m))
}

/// `/etc/systemd/system`, or `$XDG_CONFIG_HOME/systemd/user` (default `~/.config/systemd/user`).
pub fn default_unit_dir(scope: Scope) -> PathBuf {
    match scope {
        Scope::System => PathBuf::from("/etc/systemd/system"),
        Scope::User => {
            let config = std::env::var_os("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
                .unwrap_or_else(|| PathBuf::from("/root/.config"));
            config.join("systemd/user")
        }
    }
}

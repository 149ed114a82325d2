//! The service manager's notification protocol (`sd_notify(3)`): readiness and the watchdog.
//!
//! A service with a watchdog is `Type=notify`: systemd waits for `READY=1` before it counts the
//! service as started, and then for `WATCHDOG=1` at least every `WatchdogSec=`, or it kills the
//! service as hung. Both are datagrams of `KEY=VALUE` lines sent to the socket named by
//! `$NOTIFY_SOCKET` (a path, or an abstract name written `@name`); `$WATCHDOG_USEC` gives the
//! interval and `$WATCHDOG_PID`, when set, the process it is meant for.
//!
//! Spoken here with std's [`UnixDatagram`] (about 100 lines; libsystemd would need unsafe FFI,
//! and the crates that wrap the protocol do less or pull more). Every task run
//! ([`run_task`](crate::run_task) and the others) sends `READY=1` when it starts and, while it
//! runs, feeds the watchdog every half interval from a future polled beside the task's own — no
//! thread, no spawned task. A program that is a service for longer than its tasks run, or
//! that ends the service with its task (as `taskflows-app` does: `STOPPING=1`), uses
//! [`Notifier`] itself. Outside a `Type=notify` service `NOTIFY_SOCKET` is unset and nothing is
//! sent.

use std::convert::Infallible;
use std::ffi::OsStr;
use std::future::Future;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// A connection to the service manager's notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    watchdog: Option<Duration>,
}

/// What the environment says: where to notify, and the watchdog's timeout if it is ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NotifyEnv {
    /// A path, or an abstract name (without its `@`).
    pub(crate) address: Address,
    /// `WATCHDOG_USEC`, when set, above zero and meant for this process.
    pub(crate) watchdog: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl NotifyEnv {
    /// Read from the variables' values; `pid` is this process's. `Ok(None)` when there is no
    /// socket to notify; an error names an address this crate cannot use (e.g. `vsock:…`).
    pub(crate) fn parse(
        socket: Option<&OsStr>,
        watchdog_usec: Option<&OsStr>,
        watchdog_pid: Option<&OsStr>,
        pid: u32,
    ) -> Result<Option<NotifyEnv>, String> {
        let Some(socket) = socket.filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        let bytes = socket.as_bytes();
        let address = match bytes[0] {
            b'/' => Address::Path(socket.into()),
            b'@' if bytes.len() > 1 => Address::Abstract(bytes[1..].to_vec()),
            _ => {
                return Err(format!(
                    "NOTIFY_SOCKET={}: not a socket path or an @abstract name",
                    socket.to_string_lossy()
                ));
            }
        };
        let number = |v: Option<&OsStr>| v.and_then(|v| v.to_str()).and_then(|v| v.trim().parse::<u64>().ok());
        let ours = watchdog_pid.is_none() || number(watchdog_pid) == Some(u64::from(pid));
        let watchdog = number(watchdog_usec).filter(|&usec| usec > 0 && ours).map(Duration::from_micros);
        Ok(Some(NotifyEnv { address, watchdog }))
    }
}

/// A notification's text: one `KEY=VALUE` line per field. A key must be non-empty and hold no
/// `=`, and neither may hold a line break.
pub(crate) fn message(fields: &[(&str, &str)]) -> io::Result<String> {
    let mut text = String::new();
    for (key, value) in fields {
        if key.is_empty() || key.contains(['=', '\n']) || value.contains('\n') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("not a notification field: {key:?}")));
        }
        text.push_str(key);
        text.push('=');
        text.push_str(value);
        text.push('\n');
    }
    Ok(text)
}

impl Notifier {
    /// The service manager's socket from `NOTIFY_SOCKET` (and the watchdog from `WATCHDOG_USEC`
    /// and `WATCHDOG_PID`); `None` when this process is not asked to notify. An unusable
    /// address is logged.
    pub fn from_env() -> Option<Notifier> {
        let var = std::env::var_os;
        let parsed = NotifyEnv::parse(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
            std::process::id(),
        );
        let env = match parsed {
            Ok(env) => env?,
            Err(e) => {
                tracing::warn!(error = %e, "cannot notify the service manager");
                return None;
            }
        };
        Notifier::connect(&env).map_err(|e| tracing::warn!(error = %e, "cannot notify the service manager")).ok()
    }

    pub(crate) fn connect(env: &NotifyEnv) -> io::Result<Notifier> {
        let address = match &env.address {
            Address::Path(path) => SocketAddr::from_pathname(path)?,
            Address::Abstract(name) => SocketAddr::from_abstract_name(name)?,
        };
        let socket = UnixDatagram::unbound()?;
        // A full queue drops a notification rather than stall the async threads.
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, address, watchdog: env.watchdog })
    }

    /// How often to send `WATCHDOG=1`: half the watchdog's timeout, when systemd set one for
    /// this process.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|t| t / 2)
    }

    /// Send `fields` as one notification (`[("READY", "1"), ("STATUS", "…")]`).
    pub fn send(&self, fields: &[(&str, &str)]) -> io::Result<()> {
        let text = message(fields)?;
        self.socket.send_to_addr(text.as_bytes(), &self.address).map(|_| ())
    }

    /// `READY=1`, with a status line.
    pub fn ready(&self, status: &str) -> io::Result<()> {
        self.send(&[("READY", "1"), ("STATUS", status)])
    }

    /// `WATCHDOG=1`: still alive.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send(&[("WATCHDOG", "1")])
    }

    /// `STOPPING=1`: the service is ending (send it only when this process's work is done).
    pub fn stopping(&self) -> io::Result<()> {
        self.send(&[("STOPPING", "1")])
    }
}

fn logged(what: &str, sent: io::Result<()>) {
    if let Err(e) = sent {
        tracing::warn!(notification = what, error = %e, "failed to notify the service manager");
    }
}

/// Run `task` (the task named `name`), telling the service manager in `notifier` that the
/// service is ready and feeding its watchdog while `task` runs.
pub(crate) async fn while_running<F: Future>(notifier: Option<Notifier>, name: &str, task: F) -> F::Output {
    let Some(notifier) = notifier else {
        return task.await;
    };
    logged("READY=1", notifier.ready(&format!("running task {name}")));
    let Some(every) = notifier.watchdog_interval() else {
        return task.await;
    };
    tracing::debug!(interval = ?every, "feeding the service manager's watchdog");
    tokio::select! {
        biased;
        output = task => output,
        never = feed(&notifier, every) => match never {},
    }
}

async fn feed(notifier: &Notifier, every: Duration) -> Infallible {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        logged("WATCHDOG=1", notifier.watchdog());
    }
}

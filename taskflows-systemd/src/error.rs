//! The one error type of `taskflows-systemd`.

use std::path::PathBuf;

/// Everything that can go wrong while talking to systemd or writing unit files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service manager could not be reached.
    #[error("cannot reach the systemd {scope} manager on the {bus}: {source}; {hint}")]
    Connect {
        /// `user` or `system`.
        scope: &'static str,
        /// Which bus was tried, with its address.
        bus: String,
        /// What to do about it.
        hint: &'static str,
        /// The D-Bus error.
        #[source]
        source: zbus::Error,
    },
    /// systemd, or the bus on the way to it, did not answer in time.
    #[error("systemd ({bus}) did not answer within {seconds}s: {what}")]
    NoAnswer {
        /// Which bus, with its address: `system bus unix:path=…`.
        bus: String,
        /// How long was waited.
        seconds: u64,
        /// What was asked: connecting, `Subscribe`, `Reload` …
        what: String,
    },
    /// A D-Bus call failed.
    #[error("systemd {call} failed: {}", call_failure(.source))]
    Call {
        /// The call, e.g. `StartUnit taskflows-web.service`.
        call: String,
        /// The D-Bus error.
        #[source]
        source: zbus::Error,
    },
    /// A unit file could not be read, written or removed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// read, write, remove …
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A service could not be rendered.
    #[error(transparent)]
    Model(#[from] taskflows_core::Error),
    /// A job finished with another result than `done`.
    #[error("{job} of {unit} finished with result '{result}'")]
    Job {
        /// start, stop, restart …
        job: &'static str,
        /// The unit.
        unit: String,
        /// systemd's job result: failed, timeout, dependency, canceled, skipped, …
        result: String,
    },
    /// No installed service matches a pattern.
    #[error("no service matches {pattern:?}{}", nearest_hint(.nearest))]
    NoMatch {
        /// The pattern given.
        pattern: String,
        /// The installed services whose names are closest.
        nearest: Vec<String>,
    },
    /// A request that cannot be carried out as given.
    #[error("{0}")]
    Invalid(String),
    /// A file taskflows stored (an environment, a saved definition) does not parse.
    #[error("{source}; fix or remove this file")]
    StoredFile {
        /// Where and what: `FILE:LINE:COLUMN: field: message`.
        #[source]
        source: taskflows_core::Error,
    },
    /// No stored environment has this name.
    #[error("no stored environment named {name:?} ({})", stored_list(.stored))]
    NoEnvironment {
        /// The name asked for.
        name: String,
        /// The names that are stored.
        stored: Vec<String>,
    },
    /// A stored environment of this name exists already.
    #[error("a stored environment named {name:?} exists already; update it instead")]
    EnvironmentExists {
        /// The name.
        name: String,
    },
    /// A stored environment cannot be deleted while installed services use it.
    #[error("environment {name:?} is used by {}: {}; remove those services or change their environment first", if .services.len() == 1 { "1 service" } else { "services" }, .services.join(", "))]
    EnvironmentInUse {
        /// The environment.
        name: String,
        /// The services that use it.
        services: Vec<String>,
    },
    /// Reading the journal failed.
    #[error("cannot read the journal: {0}")]
    Journal(String),
    /// Waiting took longer than allowed.
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
}

/// A call's error; a method timeout says so plainly.
fn call_failure(source: &zbus::Error) -> String {
    match source {
        zbus::Error::InputOutput(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            format!("no answer within {}s (the D-Bus method timeout)", crate::CALL_TIMEOUT.as_secs())
        }
        _ => source.to_string(),
    }
}

fn stored_list(stored: &[String]) -> String {
    if stored.is_empty() { "none are stored".to_owned() } else { format!("stored: {}", stored.join(", ")) }
}

fn nearest_hint(nearest: &[String]) -> String {
    if nearest.is_empty() { String::new() } else { format!(" (did you mean {}?)", nearest.join(", ")) }
}

impl Error {
    pub(crate) fn call(call: impl Into<String>) -> impl FnOnce(zbus::Error) -> Error {
        let call = call.into();
        move |source| Error::Call { call, source }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

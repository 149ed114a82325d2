//! The one error type of the operations, and the one mapping from an error to an exit code.

/// Exit codes of every front end that exits (`tf`, a `taskflows-app` binary).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// The operation failed or was refused (a job or run failed, systemd or Docker unreachable,
    /// the data folder busy).
    pub const FAILED: u8 = 1;
    /// The request is wrong (command line, an option's value).
    pub const USAGE: u8 = 2;
    /// A service or environment definition is invalid (the message names file, field and what
    /// is allowed).
    pub const INVALID: u8 = 3;
    /// No installed service (or stored environment) matches.
    pub const NO_MATCH: u8 = 4;
}

/// Everything an operation can fail with. Each message is one line that says what failed; the
/// sources are part of it, never repeated after it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service definition or value is invalid.
    #[error(transparent)]
    Model(#[from] taskflows_core::Error),
    /// systemd, the unit files or the store.
    #[error(transparent)]
    Systemd(#[from] taskflows_systemd::Error),
    /// The Docker engine or a container spec.
    #[error(transparent)]
    Docker(#[from] taskflows_docker::Error),
    /// A startup requirement could not be measured.
    #[error(transparent)]
    Constraints(#[from] taskflows_constraints::Error),
    /// A definition is invalid in a way the model cannot say (two services share a name or a
    /// container, an env file does not parse …).
    #[error("{message}")]
    Invalid {
        /// What and where, naming the field.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// A request that cannot be carried out as given (a wrong option value, a name that matches
    /// several services where one is needed).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// Nothing to act on (no service in the files given).
    #[error("{message}")]
    Refused {
        /// Why.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
    /// A file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// read, write …
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another taskflows command holds the data folder's lock.
    #[error("the data folder {} is busy: another tf command is changing it (waited {seconds}s)", path.display())]
    Busy {
        /// The data folder.
        path: std::path::PathBuf,
        /// How long this one waited.
        seconds: u64,
    },
    /// An API server answered with an error, or could not be reached.
    #[error("{message}")]
    Remote {
        /// The server, as the user named it.
        server: String,
        /// What it said (or why it could not be asked).
        message: String,
        /// What to do about it.
        hint: Option<String>,
        /// The exit code `tf` exits with for it (the server's own mapping).
        exit_code: u8,
    },
    /// Waited longer than allowed.
    #[error("{what} did not finish within {seconds}s")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long.
        seconds: u64,
    },
}

impl Error {
    /// The exit code a front end exits with for this error ([`exit`]): the one mapping.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Model(_) | Error::Invalid { .. } => exit::INVALID,
            Error::Systemd(e) => Error::exit_code_of_systemd(e),
            Error::Docker(taskflows_docker::Error::Field { .. }) => exit::INVALID,
            Error::Usage { .. } => exit::USAGE,
            Error::Remote { exit_code, .. } => *exit_code,
            _ => exit::FAILED,
        }
    }

    /// The exit code of an error of the systemd backend.
    pub fn exit_code_of_systemd(e: &taskflows_systemd::Error) -> u8 {
        use taskflows_systemd::Error as S;
        match e {
            S::Model(_) | S::StoredFile { .. } | S::Invalid(_) => exit::INVALID,
            S::NoMatch { .. } | S::NoEnvironment { .. } => exit::NO_MATCH,
            _ => exit::FAILED,
        }
    }

    /// What the user can do about it, when there is something to say.
    pub fn hint(&self) -> Option<&str> {
        use taskflows_systemd::Error as S;
        match self {
            Error::Invalid { hint, .. }
            | Error::Usage { hint, .. }
            | Error::Refused { hint, .. }
            | Error::Remote { hint, .. } => hint.as_deref(),
            Error::Systemd(S::NoMatch { .. }) => Some("`tf list` shows the installed services"),
            Error::Systemd(S::NoEnvironment { .. }) => Some("`tf env list` shows the stored environments"),
            Error::Systemd(S::EnvironmentExists { .. }) => Some("`tf env update NAME FILE` replaces it"),
            Error::Docker(taskflows_docker::Error::Unreachable { .. }) => {
                Some("start dockerd, or point DOCKER_HOST at a running engine")
            }
            Error::Busy { .. } => Some("wait for the other command, or give it longer with --lock-timeout"),
            _ => None,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::Invalid { message: message.into(), hint: None }
    }

    pub(crate) fn usage(message: impl Into<String>, hint: Option<&str>) -> Error {
        Error::Usage { message: message.into(), hint: hint.map(str::to_owned) }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<std::path::PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { action, path, source }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

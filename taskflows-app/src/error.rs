//! What can go wrong in an app binary, and the exit code each maps to.

/// An app's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service was declared wrongly (bad name or field, duplicate name); the app refuses to do
    /// anything until it is fixed.
    #[error("{0}")]
    Declaration(String),
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
    /// `run` named a task the app does not declare.
    #[error("no task named {name:?}; the tasks are: {}", known.join(", "))]
    UnknownTask {
        /// The name given.
        name: String,
        /// The declared names.
        known: Vec<String>,
    },
    /// The binary's own path cannot go into a unit's `ExecStart=`.
    #[error("this program's path {path:?} cannot be used in a unit: {reason}")]
    Executable {
        /// The path, as far as it is known.
        path: String,
        /// Why not.
        reason: String,
    },
    /// What installing needs from this host is missing or unusable (`tf`, the data folder).
    #[error("{0}")]
    Host(String),
    /// The tokio runtime could not be built.
    #[error("failed to start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// Talking to systemd failed.
    #[error(transparent)]
    Systemd(#[from] taskflows_systemd::Error),
    /// An operation (install, remove) failed.
    #[error(transparent)]
    Operation(#[from] taskflows_api::Error),
    /// Installing started jobs that failed (e.g. a timer that could not start).
    #[error("jobs failed for {}", .0.join(", "))]
    JobsFailed(Vec<String>),
    /// A required task failed on its last attempt.
    #[error(transparent)]
    Task(#[from] taskflows_alerts::TaskError),
    /// A task that is not required failed on its last attempt (its errors were logged).
    #[error("task {name} failed after {attempts} attempt(s)")]
    TaskFailed {
        /// The task's name.
        name: String,
        /// The attempts made.
        attempts: u32,
    },
}

impl Error {
    /// The exit code, as `tf` uses them: 1 failed, 2 wrong command line, 3 invalid definition.
    pub fn exit_code(&self) -> u8 {
        use taskflows_api::exit;
        match self {
            Error::Usage(_) | Error::UnknownTask { .. } => exit::USAGE,
            Error::Declaration(_) => exit::INVALID,
            Error::Operation(e) => e.exit_code(),
            Error::Systemd(e) => taskflows_api::Error::exit_code_of_systemd(e),
            _ => exit::FAILED,
        }
    }
}

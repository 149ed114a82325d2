//! Errors: a task that failed for good, and alert destinations that could not be configured.

use std::error::Error as StdError;

/// Why one attempt of a task failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttemptError {
    /// The task returned an error.
    #[error("{source}")]
    Failed {
        /// The error's type, e.g. `io::Error`.
        type_name: &'static str,
        /// The error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The attempt took longer than the policy's timeout and was abandoned.
    #[error("timed out after {0:?}")]
    TimedOut(std::time::Duration),
    /// A blocking task panicked.
    #[error("panicked: {0}")]
    Panicked(String),
}

impl AttemptError {
    /// The short name of the error's type, as alerts show it: `Error`, `Timeout`, `Panic` ….
    pub fn kind(&self) -> &str {
        match self {
            AttemptError::Failed { type_name, .. } => short_type_name(type_name),
            AttemptError::TimedOut(_) => "Timeout",
            AttemptError::Panicked(_) => "Panic",
        }
    }
}

/// `std::io::error::Error` → `Error`, `alloc::boxed::Box<dyn core::error::Error>` → `Box`.
fn short_type_name(name: &str) -> &str {
    let head = name.split('<').next().unwrap_or(name);
    head.rsplit("::").next().unwrap_or(head)
}

/// A required task failed on its last attempt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// Every attempt failed; the last one's error is the source.
    #[error("task {name} failed after {attempts} attempt(s): {source}")]
    Failed {
        /// The task's name.
        name: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        source: AttemptError,
    },
}

/// An alert destination could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A required environment variable is missing or empty.
    #[error("environment variable {0} is not set")]
    MissingEnv(&'static str),
    /// An environment variable's value is not allowed.
    #[error("environment variable {name}: {allowed}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// What is allowed.
        allowed: &'static str,
    },
    /// An email address is malformed.
    #[cfg(feature = "email")]
    #[error("email.{field}: {address:?} is not an email address: {source}")]
    Address {
        /// `sender` or `receivers`.
        field: &'static str,
        /// The address as given.
        address: String,
        /// What is wrong with it.
        #[source]
        source: lettre::address::AddressError,
    },
    /// An email destination has no receivers.
    #[cfg(feature = "email")]
    #[error("email.receivers: at least one receiver is needed")]
    NoReceivers,
    /// A password would cross the network unencrypted.
    #[cfg(feature = "email")]
    #[error(
        "email: refusing to log in to {host} over a plain (unencrypted) connection: the password would cross the network in clear text; use tls or starttls, or allow it explicitly for a relay on this host"
    )]
    CleartextLogin {
        /// The SMTP server.
        host: String,
    },
    /// The SMTP transport could not be set up (TLS parameters).
    #[cfg(feature = "email")]
    #[error("email: failed to set up the SMTP transport: {0}")]
    Smtp(#[source] lettre::transport::smtp::Error),
    /// The HTTP client (TLS backend) could not be initialized.
    #[cfg(feature = "webhook")]
    #[error("failed to set up the HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The Slack client could not be set up (the system's root certificates).
    #[cfg(feature = "slack")]
    #[error("failed to set up the Slack client: {0}")]
    SlackClient(#[source] std::io::Error),
    /// The silences file could not be written.
    #[error("failed to write the silences file {}: {source}", path.display())]
    Silences {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

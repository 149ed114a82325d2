//! The one error type of `taskflows-core`.

use std::fmt;

/// Everything that can go wrong while building, checking or rendering a service.
///
/// Messages are one lowercase line that names the field and says what is allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of a spec holds a value that is not allowed.
    #[error("{field}: {message}")]
    Field {
        /// Dotted path of the field, e.g. `service[web].cgroup_config.cpu_weight`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A service file could not be read into specs.
    #[error("{file}:{line}:{column}: {field}{sep}{message}", sep = if field.is_empty() { "" } else { ": " })]
    File {
        /// The file's name as given by the caller.
        file: String,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column of the offending value.
        column: usize,
        /// Path of the offending field, e.g. `service[0].timeout`; empty for syntax errors.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl Error {
    pub(crate) fn field(field: impl Into<String>, message: impl fmt::Display) -> Error {
        Error::Field { field: field.into(), message: message.to_string() }
    }

    /// Prefix the field path, e.g. turn `timeout` into `service[web].timeout`.
    pub(crate) fn within(self, prefix: &str) -> Error {
        match self {
            Error::Field { field, message } => Error::Field { field: format!("{prefix}.{field}"), message },
            other => other,
        }
    }
}

/// A value that failed its own rules, before it is known which field it belongs to.
///
/// The message says what is wrong and what is allowed; callers attach the field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub(crate) String);

impl ValueError {
    pub(crate) fn new(message: impl Into<String>) -> ValueError {
        ValueError(message.into())
    }

    /// Attach the field name.
    pub(crate) fn at(self, field: impl Into<String>) -> Error {
        Error::Field { field: field.into(), message: self.0 }
    }
}

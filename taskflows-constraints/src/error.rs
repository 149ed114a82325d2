//! The one error type of this crate.

use std::path::PathBuf;

/// Why a requirement could not be measured. An unmet requirement is not an error: it is an
/// [`Evaluation`](crate::Evaluation) that does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `/proc/pressure` is missing or refuses reads: a kernel built without `CONFIG_PSI` or
    /// booted with `psi=0`. systemd itself treats pressure conditions as met on such a kernel.
    #[error(
        "pressure stall information is not available ({path}): the kernel was built without CONFIG_PSI or booted \
         with psi=0"
    )]
    PsiUnavailable {
        /// The file that could not be read.
        path: PathBuf,
    },
    /// A file under `/proc` could not be read.
    #[error("failed to read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The system call's error.
        #[source]
        source: std::io::Error,
    },
    /// A file under `/proc` did not have the expected format.
    #[error("failed to parse {path}: {detail}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
    },
    /// The total amount of memory could not be determined (sysinfo's error, as text).
    #[error("failed to read the amount of physical memory: {detail}")]
    Memory {
        /// What went wrong.
        detail: String,
    },
    /// The CPU affinity mask could not be read.
    #[error("failed to read the CPU affinity mask: {source}")]
    Affinity {
        /// The system call's error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting on PSI trigger file descriptors failed.
    #[error("failed to wait for pressure events: {source}")]
    Poll {
        /// The system call's error.
        #[source]
        source: std::io::Error,
    },
}

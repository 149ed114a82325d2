//! One lock for every mutation: an exclusive `flock` on `DATA_DIR/.lock`. A second command waits
//! (and says so once), then fails with [`Error::Busy`] after its timeout. The kernel drops the
//! lock when its holder exits, however it exits, so a killed command never leaves it held.

use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::fs::{FlockOperation, flock};

use crate::{Error, Result};

/// Held while it lives.
#[derive(Debug)]
pub struct DataLock {
    _file: std::fs::File,
}

impl DataLock {
    /// Take the lock of `data_dir` (created 0700 when missing), waiting at most `timeout`;
    /// `waiting` is called once if it has to wait.
    pub async fn acquire(data_dir: &Path, timeout: Duration, waiting: impl FnOnce()) -> Result<DataLock> {
        create_private_dir(data_dir)?;
        let path = data_dir.join(".lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(Error::io("open", &path))?;
        let started = Instant::now();
        let mut waiting = Some(waiting);
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(DataLock { _file: file }),
                Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::io("lock", &path)(e.into())),
            }
            if started.elapsed() >= timeout {
                return Err(Error::Busy { path: data_dir.to_owned(), seconds: timeout.as_secs() });
            }
            if let Some(say) = waiting.take() {
                say();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `dir` and its missing parents, the last one mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(Error::io("create", dir))
}

use std::os::unix::fs::DirBuilderExt as _;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_holder_waits_then_is_busy() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataLock::acquire(dir.path(), Duration::ZERO, || {}).await.unwrap();
        let mut said = false;
        let err = DataLock::acquire(dir.path(), Duration::from_millis(200), || said = true).await.unwrap_err();
        assert!(said, "it says it waits");
        assert!(matches!(err, Error::Busy { .. }), "{err}");
        assert_eq!(err.exit_code(), crate::exit::FAILED);
        assert!(err.to_string().contains("is busy: another tf command is changing it"), "{err}");
        drop(first);
        DataLock::acquire(dir.path(), Duration::ZERO, || panic!("free now")).await.unwrap();
    }
}

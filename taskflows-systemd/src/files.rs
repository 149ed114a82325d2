//! Private files under taskflows' data folder, written atomically: stored environments, saved
//! service definitions, the monitor's state and env file. They may hold secrets (environment
//! values, tokens), so files are 0600 in 0700 folders, and what an older `tf` left readable by
//! others is made private when it is written again.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::Path;

use crate::{Error, Result};

/// Write `content` to `path` (0600, in a 0700 folder created as needed) through a temporary file
/// renamed over it, so the file is never seen half-written and no temporary file is left behind.
/// An unchanged file is not rewritten, only made private. Returns whether it was written.
pub fn write_private(path: &Path, content: &[u8]) -> Result<bool> {
    private_dir(parent(path))?;
    if std::fs::read(path).is_ok_and(|old| old == content) {
        private_file(path)?;
        return Ok(false);
    }
    temp_with(path, content)?.persist(path).map_err(|e| Error::io("replace", path)(e.error))?;
    sync_dir(parent(path))?;
    Ok(true)
}

/// [`write_private`] for a file that must not exist yet: fails with `AlreadyExists` if it does,
/// and then leaves it as it was.
pub fn create_private(path: &Path, content: &[u8]) -> Result<()> {
    private_dir(parent(path))?;
    temp_with(path, content)?.persist_noclobber(path).map_err(|e| Error::io("create", path)(e.error))?;
    sync_dir(parent(path))
}

/// Make a folder's entries durable (after a rename into it): a crash after this keeps the new
/// name.
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(Error::io("sync", dir))
}

/// Remove what an interrupted write left in `dir`: its temporary files (`.tf-*.tmp`). Call it
/// only while holding the data folder's lock, when no other write can be under way there.
pub fn sweep_temporary(dir: &Path) -> Result<usize> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(0) };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with(".tf-") && name.ends_with(".tmp") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Create `dir` (and its missing parents) with mode 0700, and make it 0700 if an older `tf`
/// created it readable by others.
pub fn private_dir(dir: &Path) -> Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => other.map_err(Error::io("create", dir))?,
    }
    restrict(dir, 0o700)
}

/// Make an existing file 0600 if an older `tf` wrote it readable by others.
fn private_file(path: &Path) -> Result<()> {
    restrict(path, 0o600)
}

fn restrict(path: &Path, mode: u32) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(Error::io("read", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(Error::io("chmod", path))?;
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A temporary file beside `path` (tempfile creates it 0600) holding `content`, on disk.
fn temp_with(path: &Path, content: &[u8]) -> Result<tempfile::NamedTempFile> {
    let dir = parent(path);
    let mut temp =
        tempfile::Builder::new().prefix(".tf-").suffix(".tmp").tempfile_in(dir).map_err(Error::io("write", dir))?;
    temp.write_all(content).map_err(Error::io("write", temp.path()))?;
    temp.as_file().sync_all().map_err(Error::io("write", temp.path()))?;
    Ok(temp)
}

//! The checks of one path: an env file (opened without following a final link, a regular file
//! of at most [`ENV_FILE_MAX`] read from its descriptor), a folder, a program a system unit runs,
//! a Docker host path.

use std::io::Read as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags};

use super::{PathPolicy, Walked};
use crate::{Error, Result};

/// The largest env file accepted.
pub const ENV_FILE_MAX: u64 = 1 << 20;

/// Host paths that hand a container the host, refused unless the config lists them.
const SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];
const KERNEL: [&str; 3] = ["/proc", "/sys", "/dev"];

fn invalid(message: String, hint: Option<String>) -> Error {
    Error::Invalid { message, hint }
}

impl PathPolicy {
    /// An env file: under the roots, a regular file of at most 1 MiB that parses. With `strict`
    /// (a system unit's, which systemd reads as root at every start), the file and every folder
    /// above it are root's. Errors name the line, never quote the file.
    pub(crate) fn env_file(&self, field: &str, path: &Path, strict: bool) -> Result<()> {
        let walked = self.under_roots(field, path)?;
        let shown = path.display();
        if !walked.exists {
            return Err(invalid(format!("{field}: {shown} does not exist"), None));
        }
        let fix = "chown root:root PATH && chmod go-w PATH";
        if strict {
            self.owned_by_root(field, &walked, "a system unit's env_file", fix)?;
        }
        // O_NONBLOCK: opening a FIFO must not wait for a writer; O_NOFOLLOW: the walk resolved
        // every link, so one here was put there since.
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::open(&walked.resolved, flags, Mode::empty()).map_err(|e| {
            let why = if e == rustix::io::Errno::LOOP {
                "is a symbolic link".to_owned()
            } else {
                format!("cannot be opened: {e}")
            };
            invalid(format!("{field}: {shown} {why}"), None)
        })?;
        let stat =
            rustix::fs::fstat(&fd).map_err(|e| invalid(format!("{field}: {shown} cannot be read: {e}"), None))?;
        let kind = match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => None,
            FileType::Directory => Some("a folder"),
            FileType::Fifo => Some("a named pipe (FIFO)"),
            FileType::CharacterDevice => Some("a character device"),
            FileType::BlockDevice => Some("a block device"),
            FileType::Socket => Some("a socket"),
            _ => Some("not a file"),
        };
        if let Some(kind) = kind {
            return Err(invalid(format!("{field}: {shown} is {kind}; an env file must be a regular file"), None));
        }
        let too_big = |size: u64| {
            invalid(
                format!("{field}: {shown} is {size} bytes; an env file may be at most 1 MiB ({ENV_FILE_MAX} bytes)"),
                None,
            )
        };
        let size = u64::try_from(stat.st_size).unwrap_or(u64::MAX);
        if size > ENV_FILE_MAX {
            return Err(too_big(size));
        }
        // The file itself again, through the descriptor: it is the one read.
        if strict && (stat.st_uid != 0 || stat.st_mode & 0o022 != 0) {
            return Err(invalid(
                format!(
                    "{field}: {shown} must be owned by root and not writable by group or others (owner uid {}, mode {:04o})",
                    stat.st_uid,
                    stat.st_mode & 0o7777
                ),
                Some(fix.replace("PATH", &walked.resolved.display().to_string())),
            ));
        }
        let mut bytes = Vec::new();
        std::fs::File::from(fd)
            .take(ENV_FILE_MAX + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| invalid(format!("{field}: {shown} cannot be read: {e}"), None))?;
        if bytes.len() as u64 > ENV_FILE_MAX {
            return Err(too_big(bytes.len() as u64));
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let line = e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count() + 1;
            invalid(format!("{field}: {shown}: line {line} is not UTF-8 text"), None)
        })?;
        taskflows_core::parse_env_file(&text).map_err(|e| invalid(format!("{field}: {shown}: {e}"), None))?;
        Ok(())
    }

    /// A credential's file (systemd's `LoadCredential=`): under the roots, a regular file of at
    /// most 1 MiB (systemd's own limit) that others can neither read nor write; with `strict` (a
    /// system unit's) root's along the whole path. Never read here: systemd reads it at start.
    pub(crate) fn credential(&self, field: &str, path: &Path, strict: bool) -> Result<()> {
        let walked = self.under_roots(field, path)?;
        let shown = path.display();
        if !walked.exists {
            return Err(invalid(format!("{field}: {shown} does not exist"), None));
        }
        let fix = if strict { "chown root:root PATH && chmod 600 PATH" } else { "chmod 600 PATH" };
        let fix = fix.replace("PATH", &walked.resolved.display().to_string());
        if strict {
            self.owned_by_root(field, &walked, "a system unit's credential", &fix)?;
        }
        let meta = std::fs::symlink_metadata(&walked.resolved)
            .map_err(|e| invalid(format!("{field}: {shown} cannot be read: {e}"), None))?;
        if !meta.file_type().is_file() {
            return Err(invalid(format!("{field}: {shown} is not a regular file"), None));
        }
        if meta.len() > ENV_FILE_MAX {
            return Err(invalid(
                format!(
                    "{field}: {shown} is {} bytes; a credential may be at most 1 MiB ({ENV_FILE_MAX} bytes)",
                    meta.len()
                ),
                None,
            ));
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o007 != 0 || (strict && (meta.uid() != 0 || mode & 0o020 != 0)) {
            let owner = if strict { "owned by root, " } else { "" };
            return Err(invalid(
                format!(
                    "{field}: {shown} is a secret, so it must be {owner}neither writable by its group nor readable or writable by others (owner uid {}, mode {mode:04o})",
                    meta.uid()
                ),
                Some(fix),
            ));
        }
        Ok(())
    }

    /// A folder under the roots that exists now.
    pub(crate) fn folder(&self, field: &str, path: &Path) -> Result<()> {
        let walked = self.under_roots(field, path)?;
        is_folder(field, path, &walked)
    }

    /// A program a system unit runs: an executable file that no one but root can replace (the
    /// file and every folder above it root's, not writable by group or others).
    pub(crate) fn program(&self, field: &str, path: &Path, what: &str, fix: &str) -> Result<()> {
        // Programs need not be under the roots (tf is in /usr/local/bin), only root's.
        let walked = self.walk(field, path, false)?;
        let meta = std::fs::symlink_metadata(&walked.resolved).ok().filter(|_| walked.exists);
        if !meta.is_some_and(|m| m.is_file() && m.mode() & 0o111 != 0) {
            return Err(invalid(
                format!("{field}: {} is not an executable file", path.display()),
                Some(fix.to_owned()),
            ));
        }
        self.owned_by_root(field, &walked, what, fix)
    }

    /// A Docker host path (a volume's, a build context): no `:` or `,` (Docker's bind syntax
    /// splits on them), under the roots, and not one that hands the container the host unless
    /// the config lists it.
    pub(crate) fn docker_host_path(&self, field: &str, path: &Path, folder: bool) -> Result<()> {
        let text = path.to_string_lossy();
        if text.contains([':', ',']) {
            return Err(invalid(
                format!("{field}: {} contains ':' or ',', which Docker's bind syntax splits on", path.display()),
                Some("name a path without ':' or ',' (mount a folder above it, or link to it from one)".to_owned()),
            ));
        }
        let walked = self.walk(field, path, true)?;
        let resolved = &walked.resolved;
        // Where the path leads, not how it is spelled: a link under a listed folder to `/` is `/`.
        let listed = self.docker_host_paths.iter().any(|p| resolved.starts_with(p));
        if !listed {
            let what = if resolved == Path::new("/") {
                Some("the host's whole file system")
            } else if SOCKETS.iter().any(|s| Path::new(s).starts_with(resolved)) {
                Some("the Docker socket, which controls the host")
            } else if KERNEL.iter().any(|k| resolved.starts_with(k)) {
                Some("the host's kernel interfaces (/proc, /sys or /dev)")
            } else {
                None
            };
            if let Some(what) = what {
                let config =
                    self.config_file.as_ref().map_or_else(|| "the config file".to_owned(), |c| c.display().to_string());
                return Err(invalid(
                    format!("{field}: {} would give the container {what}", path.display()),
                    Some(format!(
                        "if it must, allow it explicitly: docker_host_paths = [\"{}\"] in {config}",
                        resolved.display()
                    )),
                ));
            }
            if !self.allows(resolved) {
                return Err(self.outside(field, path, &walked));
            }
        }
        if folder {
            is_folder(field, path, &walked)?;
        }
        Ok(())
    }
}

/// `path` (walked) exists and is a folder.
fn is_folder(field: &str, path: &Path, walked: &Walked) -> Result<()> {
    if !walked.exists {
        return Err(invalid(format!("{field}: {} does not exist", path.display()), None));
    }
    if !std::fs::metadata(&walked.resolved).is_ok_and(|m| m.is_dir()) {
        return Err(invalid(format!("{field}: {} is not a folder", path.display()), None));
    }
    Ok(())
}

//! Silences: services whose alerts are not sent until a time, kept in a small JSON file that
//! the Slack bot writes (the "Silence 1 h" button) and every task's alerts read.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The file's format version.
const VERSION: u32 = 1;

/// The silences file: `{"version":1,"services":{"NAME":"2026-…Z"}}`, each service silenced
/// until the time given.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SilencesFile {
    version: u32,
    services: BTreeMap<String, Timestamp>,
}

/// The services whose alerts are silenced, in a file shared by the processes of one host.
///
/// Reading never fails: a missing, unreadable or corrupt file silences nothing (a corrupt one
/// is logged once per process). Writes replace the file atomically (a temporary file in the
/// same folder, renamed over it), readable by all (0644): tasks running as other users read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silences {
    path: PathBuf,
}

impl Silences {
    /// The silences kept in the file at `path`.
    pub fn new(path: PathBuf) -> Silences {
        Silences { path }
    }

    /// `$TASKFLOWS_DATA_DIR/slack/silences.json`; else `/var/lib/taskflows/slack/silences.json`
    /// for root, `$HOME/.local/share/taskflows/slack/silences.json` for other users.
    pub fn default_path() -> PathBuf {
        default_path(|name| std::env::var_os(name), rustix::process::geteuid().is_root())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Until when `service`'s alerts are silenced; `None` when they are not (now).
    pub fn until(&self, service: &str) -> Option<Timestamp> {
        self.until_at(service, Timestamp::now())
    }

    pub(crate) fn until_at(&self, service: &str, now: Timestamp) -> Option<Timestamp> {
        self.read().services.get(service).copied().filter(|until| *until > now)
    }

    /// Silence `service` until `until` (replacing an earlier silence of it); expired silences
    /// are dropped from the file on the way.
    pub fn silence(&self, service: &str, until: Timestamp) -> Result<(), Error> {
        let now = Timestamp::now();
        let mut file = self.read();
        file.services.retain(|_, t| *t > now);
        file.services.insert(service.to_owned(), until);
        self.write(&file).map_err(|source| Error::Silences { path: self.path.clone(), source })
    }

    /// The silences in force at `now`, by service name.
    pub fn active(&self, now: Timestamp) -> Vec<(String, Timestamp)> {
        self.read().services.into_iter().filter(|(_, until)| *until > now).collect()
    }

    fn read(&self) -> SilencesFile {
        let empty = || SilencesFile { version: VERSION, services: BTreeMap::new() };
        let Ok(text) = std::fs::read_to_string(&self.path) else {
            return empty();
        };
        match serde_json::from_str::<SilencesFile>(&text) {
            Ok(file) if file.version == VERSION => file,
            Ok(file) => {
                warn_once(&self.path, &format!("unknown version {}", file.version));
                empty()
            }
            Err(error) => {
                warn_once(&self.path, &error.to_string());
                empty()
            }
        }
    }

    fn write(&self, file: &SilencesFile) -> std::io::Result<()> {
        let folder = match self.path.parent() {
            Some(folder) if !folder.as_os_str().is_empty() => folder,
            _ => Path::new("."),
        };
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(folder)?;
        let mut temp = tempfile::Builder::new().prefix(".silences.").suffix(".tmp").tempfile_in(folder)?;
        temp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
        let mut json = serde_json::to_vec(file).map_err(std::io::Error::other)?;
        json.push(b'\n');
        temp.write_all(&json)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

/// A corrupt silences file is logged once per process and path, not at every alert.
fn warn_once(path: &Path, problem: &str) {
    static WARNED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !warned.iter().any(|p| p == path) {
        warned.push(path.to_owned());
        tracing::warn!(path = %path.display(), problem, "the silences file is unreadable; nothing is silenced");
    }
}

fn default_path(var: impl Fn(&str) -> Option<std::ffi::OsString>, root: bool) -> PathBuf {
    let non_empty = |name| var(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let data = non_empty("TASKFLOWS_DATA_DIR").unwrap_or_else(|| {
        if root {
            PathBuf::from("/var/lib/taskflows")
        } else {
            non_empty("HOME").unwrap_or_else(|| PathBuf::from("/")).join(".local/share/taskflows")
        }
    });
    data.join("slack/silences.json")
}

#[cfg(test)]
mod tests;

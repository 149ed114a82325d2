//! What the monitor has alerted about: `DATA_DIR/monitor/state.json`, so each problem is
//! alerted once (and its resolution once), whatever how often `tf monitor check` runs.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use taskflows_systemd::monitor::ProblemKind;

/// The format's version; a file of another version is not touched.
const VERSION: u32 = 1;

/// One alerted problem: the scope's manager, the service, the problem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Alerted {
    pub(crate) scope: String,
    pub(crate) service: String,
    pub(crate) problem: ProblemKind,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    alerted: BTreeSet<Alerted>,
}

/// `DATA_DIR/monitor/state.json`.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("monitor").join("state.json")
}

/// The alerted problems; none when there is no file yet. An unreadable file is reported and
/// counted as empty (at worst a problem is alerted again); a file of another version is an error,
/// so a newer `tf`'s state is never overwritten.
pub(crate) fn load(path: &Path) -> anyhow::Result<BTreeSet<Alerted>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let version = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["version"].as_u64());
    if let Some(v) = version.filter(|v| *v != u64::from(VERSION)) {
        anyhow::bail!("{} has version {v}; this tf reads version {VERSION} (a newer tf wrote it?)", path.display());
    }
    match serde_json::from_str::<File>(&text) {
        Ok(file) => Ok(file.alerted),
        Err(e) => {
            eprintln!("warning: {} is unreadable ({e}); starting afresh", path.display());
            Ok(BTreeSet::new())
        }
    }
}

/// Write the alerted problems atomically (a temporary file renamed over the old one).
pub(crate) fn save(path: &Path, alerted: &BTreeSet<Alerted>) -> anyhow::Result<()> {
    let dir = path.parent().context("the state file has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut text = serde_json::to_string_pretty(&File { version: VERSION, alerted: alerted.clone() })?;
    text.push('\n');
    let temp = dir.join(format!(".state.json.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        anyhow::Error::new(e).context(format!("cannot write {}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_refuses_other_versions() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        assert!(load(&file).unwrap().is_empty(), "no file yet");
        let one = Alerted { scope: "system".into(), service: "nightly".into(), problem: ProblemKind::Overdue };
        save(&file, &BTreeSet::from([one.clone()])).unwrap();
        assert_eq!(load(&file).unwrap(), BTreeSet::from([one]));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("{\n  \"version\": 1,\n  \"alerted\": [\n"), "{text}");
        assert!(text.contains("\"problem\": \"overdue\""), "{text}");
        assert_eq!(std::fs::read_dir(file.parent().unwrap()).unwrap().count(), 1, "no temporary file left");

        std::fs::write(&file, "{\"version\": 2, \"alerted\": []}").unwrap();
        let err = load(&file).unwrap_err().to_string();
        assert!(err.ends_with("has version 2; this tf reads version 1 (a newer tf wrote it?)"), "{err}");
        std::fs::write(&file, "not json").unwrap();
        assert!(load(&file).unwrap().is_empty(), "unreadable: start afresh");
    }
}

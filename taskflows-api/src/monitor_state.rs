//! What the monitor has alerted about: `DATA_DIR/monitor/state.json`, so each problem is
//! alerted once to each destination (and its resolution once), whatever how often
//! `tf monitor check` runs. Read and written under the data folder's lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use taskflows_systemd::monitor::ProblemKind;

use crate::{Error, Result};

/// The format's version; a file of a newer version is not touched.
const VERSION: u32 = 2;

/// One problem: the scope's manager, the service, the problem.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Alerted {
    pub(crate) scope: String,
    pub(crate) service: String,
    pub(crate) problem: ProblemKind,
}

/// The alerted problems, each with the destinations (their keys) that took its alert and have
/// not yet taken its resolution.
pub(crate) type State = BTreeMap<Alerted, BTreeSet<String>>;

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    scope: String,
    service: String,
    problem: ProblemKind,
    destinations: BTreeSet<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    version: u32,
    alerted: Vec<Entry>,
}

/// Version 1: the problems every destination took.
#[derive(serde::Deserialize)]
struct FileV1 {
    alerted: BTreeSet<Alerted>,
}

/// `DATA_DIR/monitor/state.json`.
pub(crate) fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("monitor").join("state.json")
}

/// The alerted problems; none when there is no file yet. A version 1 file's problems count as
/// delivered to `destinations` (then, an alert counted only when every destination took it). An
/// unreadable file is reported through `warn` and counted as empty (at worst a problem is alerted again); a
/// file of a newer version is an error, so a newer `tf`'s state is never overwritten.
pub(crate) fn load(path: &Path, destinations: &BTreeSet<String>, warn: impl FnOnce(String)) -> Result<State> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new()),
        Err(e) => return Err(Error::io("read", path)(e)),
    };
    let version = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| v["version"].as_u64());
    let parsed = match version {
        Some(1) => serde_json::from_str::<FileV1>(&text)
            .map(|file| file.alerted.into_iter().map(|a| (a, destinations.clone())).collect()),
        Some(v) if v != u64::from(VERSION) => {
            return Err(Error::Refused {
                message: format!(
                    "{} has version {v}; this tf reads version {VERSION} (a newer tf wrote it?)",
                    path.display()
                ),
                hint: None,
            });
        }
        _ => serde_json::from_str::<File>(&text).map(|file| {
            file.alerted
                .into_iter()
                .map(|e| (Alerted { scope: e.scope, service: e.service, problem: e.problem }, e.destinations))
                .collect()
        }),
    };
    match parsed {
        Ok(state) => Ok(state),
        Err(e) => {
            warn(format!("{} is unreadable ({e}); starting afresh", path.display()));
            Ok(State::new())
        }
    }
}

/// Write the alerted problems atomically (a temporary file renamed over the old one).
pub(crate) fn save(path: &Path, state: &State) -> Result<()> {
    let alerted = state
        .iter()
        .map(|(a, d)| Entry {
            scope: a.scope.clone(),
            service: a.service.clone(),
            problem: a.problem,
            destinations: d.clone(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&File { version: VERSION, alerted }).expect("the state serializes");
    text.push('\n');
    taskflows_systemd::files::write_private(path, text.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_refuses_newer_versions() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        let all = BTreeSet::from(["slack:#ops".to_owned(), "webhook:00".to_owned()]);
        assert!(load(&file, &all, |_| {}).unwrap().is_empty(), "no file yet");
        let one = Alerted { scope: "system".into(), service: "nightly".into(), problem: ProblemKind::Overdue };
        let state = State::from([(one.clone(), BTreeSet::from(["slack:#ops".to_owned()]))]);
        save(&file, &state).unwrap();
        assert_eq!(load(&file, &all, |_| {}).unwrap(), state);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("{\n  \"version\": 2,\n  \"alerted\": [\n"), "{text}");
        assert!(text.contains("\"problem\": \"overdue\""), "{text}");
        assert!(text.contains("\"destinations\": [\n        \"slack:#ops\"\n      ]"), "{text}");
        assert_eq!(std::fs::read_dir(file.parent().unwrap()).unwrap().count(), 1, "no temporary file left");

        // version 1 counted a problem only when every destination took it
        std::fs::write(
            &file,
            "{\"version\": 1, \"alerted\": [{\"scope\": \"system\", \"service\": \"nightly\", \"problem\": \"overdue\"}]}",
        )
        .unwrap();
        assert_eq!(load(&file, &all, |_| {}).unwrap(), State::from([(one, all.clone())]));

        std::fs::write(&file, "{\"version\": 3, \"alerted\": []}").unwrap();
        let err = load(&file, &all, |_| {}).unwrap_err().to_string();
        assert!(err.ends_with("has version 3; this tf reads version 2 (a newer tf wrote it?)"), "{err}");
        std::fs::write(&file, "not json").unwrap();
        assert!(load(&file, &all, |_| {}).unwrap().is_empty(), "unreadable: start afresh");
    }
}

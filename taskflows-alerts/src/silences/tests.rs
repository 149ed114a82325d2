use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

use super::{Silences, default_path};

fn at(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap()
}

#[test]
fn default_paths() {
    let check = |vars: &[(&str, &str)], root: bool, expected: &str| {
        let var = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).into());
        assert_eq!(default_path(var, root), PathBuf::from(expected), "{vars:?} root={root}");
    };
    check(&[("TASKFLOWS_DATA_DIR", "/srv/tf"), ("HOME", "/home/a")], false, "/srv/tf/slack/silences.json");
    check(&[("TASKFLOWS_DATA_DIR", "/srv/tf")], true, "/srv/tf/slack/silences.json");
    check(&[("HOME", "/root")], true, "/var/lib/taskflows/slack/silences.json");
    check(&[("HOME", "/home/a")], false, "/home/a/.local/share/taskflows/slack/silences.json");
    check(
        &[("TASKFLOWS_DATA_DIR", ""), ("HOME", "/home/a")],
        false,
        "/home/a/.local/share/taskflows/slack/silences.json",
    );
}

#[test]
fn round_trip_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let silences = Silences::new(dir.path().join("slack/silences.json"));
    assert_eq!(silences.until("backup"), None, "no file: nothing is silenced");
    let later = Timestamp::now() + SignedDuration::from_hours(1);
    silences.silence("backup", later).unwrap();
    silences.silence("sync", later + SignedDuration::from_mins(5)).unwrap();
    assert_eq!(silences.until("backup"), Some(later));
    assert_eq!(silences.until("other"), None);
    let now = Timestamp::now();
    let active = silences.active(now);
    assert_eq!(active.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["backup", "sync"]);
    // after the time, a silence is over
    assert_eq!(silences.until_at("backup", later), None);
    assert!(silences.active(later + SignedDuration::from_mins(5)).is_empty());

    let text = std::fs::read_to_string(silences.path()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["services"]["backup"], later.to_string());
    // the file and its folder are readable by every user; no temporary file is left behind
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(silences.path()), 0o644);
    assert_eq!(mode(&dir.path().join("slack")), 0o755);
    assert_eq!(std::fs::read_dir(dir.path().join("slack")).unwrap().count(), 1);
}

#[test]
fn writes_drop_expired_silences() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silences.json");
    std::fs::write(&path, r#"{"version":1,"services":{"old":"2001-01-01T00:00:00Z","new":"2999-01-01T00:00:00Z"}}"#)
        .unwrap();
    let silences = Silences::new(path.clone());
    assert_eq!(silences.until("old"), None);
    silences.silence("x", Timestamp::now() + SignedDuration::from_hours(1)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let names: Vec<&String> = json["services"].as_object().unwrap().keys().collect();
    assert_eq!(names, ["new", "x"]);
}

#[test]
fn a_corrupt_file_silences_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for text in ["{not json", r#"{"version":2,"services":{"a":"2999-01-01T00:00:00Z"}}"#, r#"{"services":{}}"#, ""] {
        let path = dir.path().join("silences.json");
        std::fs::write(&path, text).unwrap();
        let silences = Silences::new(path);
        assert_eq!(silences.until("a"), None, "{text:?}");
        assert!(silences.active(at(0)).is_empty(), "{text:?}");
    }
    // a silence written over a corrupt file replaces it
    let silences = Silences::new(dir.path().join("silences.json"));
    silences.silence("a", Timestamp::now() + SignedDuration::from_hours(1)).unwrap();
    assert!(silences.until("a").is_some());
}

#[test]
fn an_unwritable_folder_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let silences = Silences::new(dir.path().join("file/silences.json"));
    let error = silences.silence("a", at(4_000_000_000)).unwrap_err().to_string();
    assert!(error.starts_with("failed to write the silences file ") && error.contains("file/silences.json"), "{error}");
}

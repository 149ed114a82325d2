use jiff::Timestamp;

use super::{Behind, Finding, Policy, Release, Version, index, judge, locked_versions};

fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

/// A release published at `day` (of December 2026), needing `rust`.
fn r(version: &str, day: u8, rust: &str) -> Release {
    Release {
        version: v(version),
        yanked: false,
        rust_version: Some(v(rust)),
        published: Some(format!("2026-12-{day:02}T12:00:00Z").parse().unwrap()),
    }
}

fn policy(cutoff_day: Option<u8>) -> Policy {
    Policy {
        cutoff: cutoff_day.map(|d| format!("2026-12-{d:02}T13:00:00Z").parse::<Timestamp>().unwrap()),
        toolchain: v("1.95.0"),
    }
}

fn check(wanted: &str, locked: &[&str], releases: &[Release], policy: Policy, expected: &[(&str, &str, Behind)]) {
    let locked: Vec<Version> = locked.iter().map(|l| v(l)).collect();
    let expected: Vec<Finding> = expected
        .iter()
        .map(|&(locked, newest, behind)| Finding { name: "c".to_owned(), locked: v(locked), newest: v(newest), behind })
        .collect();
    assert_eq!(judge("c", v(wanted), &locked, releases, &policy), expected);
}

#[test]
fn a_minor_release_behind_fails_a_patch_or_major_is_printed() {
    let releases = [r("1.2.0", 1, "1.70"), r("1.2.1", 2, "1.70"), r("1.3.0", 3, "1.70"), r("2.0.0", 3, "1.70")];
    check(
        "1",
        &["1.2.1"],
        &releases,
        policy(None),
        &[("1.2.1", "1.3.0", Behind::Minor), ("1.2.1", "2.0.0", Behind::Major)],
    );
    check("1", &["1.3.0"], &releases, policy(None), &[("1.3.0", "2.0.0", Behind::Major)]);
    check("1", &["1.2.0"], &releases, policy(Some(2)), &[("1.2.0", "1.2.1", Behind::Patch)]);
}

#[test]
fn in_a_zero_x_line_a_patch_is_a_minor_step() {
    let releases = [r("0.4.15", 1, "1.70"), r("0.4.16", 2, "1.70"), r("0.5.0", 2, "1.70")];
    check(
        "0.4",
        &["0.4.15"],
        &releases,
        policy(None),
        &[("0.4.15", "0.4.16", Behind::Minor), ("0.4.15", "0.5.0", Behind::Major)],
    );
}

#[test]
fn releases_after_the_cutoff_do_not_count() {
    // The lock file was committed on the 2nd: the 1.3.0 of the 3rd cannot fail that commit.
    let releases = [r("1.2.0", 1, "1.70"), r("1.3.0", 3, "1.70")];
    check("1", &["1.2.0"], &releases, policy(Some(2)), &[]);
    check("1", &["1.2.0"], &releases, policy(Some(3)), &[("1.2.0", "1.3.0", Behind::Minor)]);
}

#[test]
fn yanked_pre_releases_and_newer_toolchains_do_not_count() {
    let mut yanked = r("1.4.0", 1, "1.70");
    yanked.yanked = true;
    let releases = [r("1.2.0", 1, "1.70"), yanked, r("1.5.0-rc.1", 1, "1.70"), r("1.6.0", 1, "1.96")];
    check("1", &["1.2.0"], &releases, policy(None), &[]);
    // Old releases have no publication time: they always count.
    let old = Release { published: None, ..r("1.3.0", 1, "1.70") };
    check("1", &["1.2.0"], &[old], policy(Some(1)), &[("1.2.0", "1.3.0", Behind::Minor)]);
}

#[test]
fn only_the_copy_our_requirement_selects_is_judged() {
    // jiff 0.2 is ours; 1.0.2 is another crate's copy.
    let releases = [r("0.2.45", 1, "1.70"), r("0.2.46", 1, "1.70"), r("1.0.2", 1, "1.85"), r("1.0.3", 1, "1.85")];
    check("0.2", &["0.2.46", "1.0.2"], &releases, policy(None), &[("0.2.46", "1.0.3", Behind::Major)]);
    check("0.2", &[], &releases, policy(None), &[]);
}

#[test]
fn versions_parse_as_cargo_writes_them() {
    assert_eq!(v("6.0.0-rc.1").to_string(), "6.0.0-pre");
    assert!(v("6.0.0-rc.1").pre && !v("1.53.1+rc.29.3.1").pre);
    assert_eq!(v("1.53.1+rc.29.3.1").to_string(), "1.53.1");
    assert_eq!(v("4").to_string(), "4.0.0");
}

#[test]
fn the_lock_file_lists_registry_packages_only() {
    let lock = r#"version = 4

[[package]]
name = "jiff"
version = "0.2.46"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "jiff"
version = "1.0.3"
source = "registry+https://github.com/rust-lang/crates.io-index"
dependencies = [
 "jiff-core 1.0.2",
]

[[package]]
name = "taskflows-core"
version = "0.0.0"
"#;
    let locked = locked_versions(lock);
    assert_eq!(locked.keys().collect::<Vec<_>>(), ["jiff"]);
    assert_eq!(locked["jiff"], [v("0.2.46"), v("1.0.3")]);
}

#[test]
fn index_cache_files_are_read_as_cargo_writes_them() {
    assert_eq!(index::relative_path("a"), std::path::Path::new("1/a"));
    assert_eq!(index::relative_path("cc"), std::path::Path::new("2/cc"));
    assert_eq!(index::relative_path("url"), std::path::Path::new("3/u/url"));
    assert_eq!(index::relative_path("Serde_JSON"), std::path::Path::new("se/rd/serde_json"));

    let mut file = vec![3u8, 2, 0, 0, 0];
    file.extend_from_slice(b"etag: \"abc\"\0");
    for line in [
        r#"{"name":"c","vers":"1.0.0","deps":[],"cksum":"","features":{},"yanked":false}"#,
        r#"{"name":"c","vers":"1.1.0","deps":[],"cksum":"","features":{},"yanked":true,"rust_version":"1.80","pubtime":"2026-12-01T12:00:00Z","v":2}"#,
    ] {
        let vers: serde_json::Value = serde_json::from_str(line).unwrap();
        file.extend_from_slice(vers["vers"].as_str().unwrap().as_bytes());
        file.push(0);
        file.extend_from_slice(line.as_bytes());
        file.push(0);
    }
    let releases = index::parse(&file).unwrap();
    assert_eq!(
        releases,
        [
            Release { version: v("1.0.0"), yanked: false, rust_version: None, published: None },
            Release {
                version: v("1.1.0"),
                yanked: true,
                rust_version: Some(v("1.80")),
                published: Some("2026-12-01T12:00:00Z".parse().unwrap()),
            },
        ]
    );
    assert!(index::parse(&[1, 0, 0, 0, 0]).unwrap_err().to_string().contains("cache version 1"));
}

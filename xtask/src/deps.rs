//! `cargo xtask deps`: is every direct registry dependency of the workspace (and of `fuzz/`, a
//! workspace of its own) locked at the newest release of its compatible line? It fails when one
//! is a minor version behind: `1.2.x` when `1.3.0` exists, or `0.4.1` when `0.4.2` exists (in a
//! `0.x` line the third number is the one that adds features). A newer patch of a `1.x` line and
//! a newer incompatible release are printed, not failed: the latter needs a change to
//! `Cargo.toml` and usually to the code.
//!
//! It needs no network: the releases are read from cargo's local copy of the crates.io index
//! (`$CARGO_HOME/registry/index/index.crates.io-*/.cache/`), which cargo filled when it resolved
//! or fetched the lock file's crates. A release counts only if it was published (the index's
//! `pubtime`) before the lock files were last committed, is not yanked or a pre-release, and
//! builds with this toolchain (its `rust-version`): so a crate released after a commit cannot
//! turn that commit's CI red, and a lock file that was behind when it was committed always
//! fails. `--now` judges against everything in the local index instead (also the default while a
//! lock file has uncommitted changes); `--refresh` first brings the local index up to date with
//! `cargo update --dry-run` (that one needs the network).

mod index;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

pub(crate) const USAGE: &str = "usage: cargo xtask deps [--now] [--refresh]";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    /// A pre-release (`1.0.0-rc.1`); never a candidate, and ordered by its numbers only.
    pre: bool,
}

impl Version {
    pub(crate) fn parse(text: &str) -> Option<Version> {
        let text = text.strip_prefix('v').unwrap_or(text);
        let (core, pre) = match text.split_once('+').map_or(text, |(v, _)| v).split_once('-') {
            Some((core, _)) => (core, true),
            None => (text.split('+').next()?, false),
        };
        let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
        Some(Version {
            major: parts.next()??,
            minor: parts.next().flatten().unwrap_or(0),
            patch: parts.next().flatten().unwrap_or(0),
            pre,
        })
    }

    /// The semver-compatible line: `(major, 0)` from 1.0 on, `(0, minor)` before.
    fn line(self) -> (u64, u64) {
        if self.major == 0 { (0, self.minor) } else { (self.major, 0) }
    }

    fn numbers(self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}{}", self.major, self.minor, self.patch, if self.pre { "-pre" } else { "" })
    }
}

/// One release of a crate as the index lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Release {
    pub(crate) version: Version,
    pub(crate) yanked: bool,
    /// The toolchain it needs (`rust-version`), if it says.
    pub(crate) rust_version: Option<Version>,
    /// When it was published; the index has it for releases since 2025.
    pub(crate) published: Option<Timestamp>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behind {
    /// A minor release of the compatible line (the `0.x.y` y): fails the check.
    Minor,
    /// A patch of a `1.x` line: printed only.
    Patch,
    /// A newer incompatible release: printed only.
    Major,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) name: String,
    pub(crate) locked: Version,
    pub(crate) newest: Version,
    pub(crate) behind: Behind,
}

/// What releases count: published before `cutoff` (when known), not yanked, not a pre-release,
/// and building with `toolchain`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Policy {
    pub(crate) cutoff: Option<Timestamp>,
    pub(crate) toolchain: Version,
}

impl Policy {
    fn counts(&self, r: &Release) -> bool {
        !r.yanked
            && !r.version.pre
            && r.rust_version.is_none_or(|v| v.numbers() <= self.toolchain.numbers())
            && match (self.cutoff, r.published) {
                (Some(cutoff), Some(published)) => published <= cutoff,
                // Releases without a publication time are older than the field (2025).
                _ => true,
            }
    }
}

/// Compare the locked copy of `name` that its requirement `wanted` selects (other copies,
/// pulled in by other crates, are not ours to bump) with the releases that count.
pub(crate) fn judge(
    name: &str,
    wanted: Version,
    locked: &[Version],
    releases: &[Release],
    policy: &Policy,
) -> Vec<Finding> {
    let Some(&locked) = locked.iter().filter(|v| v.line() == wanted.line()).max() else {
        return Vec::new();
    };
    let counted: Vec<Version> = releases.iter().filter(|r| policy.counts(r)).map(|r| r.version).collect();
    let mut found = Vec::new();
    let newest_compatible = counted.iter().filter(|v| v.line() == locked.line()).max();
    if let Some(&newest) = newest_compatible.filter(|v| v.numbers() > locked.numbers()) {
        let behind = if (locked.major == 0 && newest.patch > locked.patch)
            || (locked.major > 0 && newest.minor > locked.minor)
        {
            Behind::Minor
        } else {
            Behind::Patch
        };
        found.push(Finding { name: name.to_owned(), locked, newest, behind });
    }
    if let Some(&newest) = counted.iter().filter(|v| v.line() > locked.line()).max() {
        found.push(Finding { name: name.to_owned(), locked, newest, behind: Behind::Major });
    }
    found
}

/// A workspace whose lock file is checked: its root manifest and lock file.
struct Workspace {
    manifest: PathBuf,
    lock: PathBuf,
}

fn workspaces() -> Vec<Workspace> {
    let root = crate::workspace_root();
    vec![
        Workspace { manifest: root.join("Cargo.toml"), lock: root.join("Cargo.lock") },
        Workspace { manifest: root.join("fuzz/Cargo.toml"), lock: root.join("fuzz/Cargo.lock") },
    ]
}

fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// The registry dependencies the workspace's members name, with their requirement's version.
fn direct_dependencies(manifest: &Path) -> Result<BTreeMap<String, Version>> {
    let out = Command::new(cargo())
        .current_dir(crate::workspace_root())
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline", "--manifest-path"])
        .arg(manifest)
        .output()
        .context("failed to run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).context("cargo metadata's JSON")?;
    let mut direct = BTreeMap::new();
    for dep in meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["dependencies"].as_array().into_iter().flatten())
    {
        if !dep["source"].as_str().is_some_and(|s| s.starts_with("registry+")) {
            continue;
        }
        let (Some(name), Some(req)) = (dep["name"].as_str(), dep["req"].as_str()) else { continue };
        if let Some(version) = Version::parse(req.trim_start_matches(['^', '=', '~', ' '])) {
            direct.insert(name.to_owned(), version);
        }
    }
    Ok(direct)
}

/// Every locked version of every registry package in a `Cargo.lock`.
pub(crate) fn locked_versions(lock: &str) -> BTreeMap<String, Vec<Version>> {
    let mut locked: BTreeMap<String, Vec<Version>> = BTreeMap::new();
    for package in lock.split("[[package]]").skip(1) {
        let field = |key: &str| {
            package.lines().find_map(|l| {
                l.strip_prefix(key)?.trim().strip_prefix("= ")?.trim().strip_prefix('"')?.strip_suffix('"')
            })
        };
        let registry = field("source").is_some_and(|s| s.starts_with("registry+"));
        if let (true, Some(name), Some(version)) = (registry, field("name"), field("version").and_then(Version::parse))
        {
            locked.entry(name.to_owned()).or_default().push(version);
        }
    }
    locked
}

/// When the lock files were last committed, or `None` (judge against everything) while one of
/// them has uncommitted changes or git cannot say.
fn lock_commit_time(locks: &[&Path]) -> Option<Timestamp> {
    let git = |args: &[&str]| {
        let out = Command::new("git").current_dir(crate::workspace_root()).args(args).args(locks).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if !git(&["status", "--porcelain", "--"])?.is_empty() {
        return None;
    }
    git(&["log", "-1", "--format=%cI", "--"])?.parse().ok()
}

/// rustc's version, the toolchain the releases must build with.
fn toolchain() -> Result<Version> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let out = Command::new(rustc).arg("--version").output().context("failed to run rustc --version")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().nth(1).and_then(Version::parse);
    version.with_context(|| format!("rustc --version said {text:?}"))
}

pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    let (mut now, mut refresh) = (false, false);
    for arg in args {
        match arg.as_str() {
            "--now" => now = true,
            "--refresh" => refresh = true,
            other => bail!("deps: unexpected argument {other:?}; {USAGE}"),
        }
    }
    let workspaces = workspaces();
    if refresh {
        for w in &workspaces {
            eprintln!(
                "xtask: deps: cargo update --dry-run --manifest-path {} (reads the registry)",
                w.manifest.display()
            );
            let status = Command::new(cargo())
                .args(["update", "--dry-run", "--quiet", "--manifest-path"])
                .arg(&w.manifest)
                .status()
                .context("failed to run cargo update --dry-run")?;
            if !status.success() {
                bail!("cargo update --dry-run failed (it needs the network)");
            }
        }
    }
    let locks: Vec<&Path> = workspaces.iter().map(|w| w.lock.as_path()).collect();
    let cutoff = if now { None } else { lock_commit_time(&locks) };
    let policy = Policy { cutoff, toolchain: toolchain()? };
    let index = index::Index::find()?;

    let (mut failing, mut direct_count, mut unknown) = (0, 0, Vec::new());
    for w in &workspaces {
        let direct = direct_dependencies(&w.manifest)?;
        let lock = std::fs::read_to_string(&w.lock).with_context(|| format!("read {}", w.lock.display()))?;
        let locked = locked_versions(&lock);
        for (name, wanted) in &direct {
            direct_count += 1;
            let Some(releases) = index.releases(name)? else {
                unknown.push(name.clone());
                continue;
            };
            for f in judge(name, *wanted, locked.get(name).map_or(&[][..], Vec::as_slice), &releases, &policy) {
                let what = match f.behind {
                    Behind::Minor => {
                        failing += 1;
                        "behind: run `cargo update` (FAILS)"
                    }
                    Behind::Patch => "a newer patch (not failing)",
                    Behind::Major => "a newer incompatible release (not failing; bump it in Cargo.toml)",
                };
                let lock_name = w.lock.strip_prefix(crate::workspace_root()).unwrap_or(&w.lock).display();
                println!(
                    "{:<20} {:>10} -> {:<10} {what} [{lock_name}]",
                    f.name,
                    f.locked.to_string(),
                    f.newest.to_string()
                );
            }
        }
    }
    let judged = match cutoff {
        Some(t) => format!("releases published before the lock files' last commit ({t})"),
        None => "every release in the local index".to_owned(),
    };
    if !unknown.is_empty() {
        // Not failing: the index copy holds what cargo needed; `--refresh` fetches the rest.
        eprintln!("xtask: deps: not in the local index (not judged; `--refresh` fetches them): {}", unknown.join(", "));
    }
    if failing > 0 {
        bail!(
            "{failing} of {direct_count} direct dependencies are a minor version behind their newest compatible \
             release (judged against {judged}, building with rustc {}); run `cargo update` and commit the lock file",
            policy.toolchain
        );
    }
    eprintln!(
        "xtask: deps: all {direct_count} direct dependencies are at the newest minor release of their compatible line \
         (judged against {judged}, building with rustc {})",
        policy.toolchain
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests;

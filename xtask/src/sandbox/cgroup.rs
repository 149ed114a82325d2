//! The sandbox's own cgroup: systemd builds its tree below the cgroup it starts in, so the
//! setup script joins a fresh `tf-sandbox-…` cgroup first. Teardown removes that subtree in
//! every hierarchy, which leaves the host's cgroup tree as it was.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::host::Mounts;

pub(super) struct Cgroups {
    /// Created for the setup script to join (systemd's hierarchy and the unified one).
    joined: Vec<PathBuf>,
    /// Where systemd may have created cgroups: `NAME` below our own path, in every hierarchy.
    cleanup: Vec<PathBuf>,
}

impl Cgroups {
    pub(super) fn create(name: &str) -> Result<Cgroups> {
        let own = fs::read_to_string("/proc/self/cgroup").context("failed to read /proc/self/cgroup")?;
        let mounts = Mounts::read()?;
        let mut joined = Vec::new();
        let mut relative = Vec::new();
        for line in own.lines() {
            // HIERARCHY-ID:CONTROLLERS:PATH; v2 is `0::PATH`.
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let mount = mounts.iter().find(|m| {
                if controllers.is_empty() {
                    m.fstype == "cgroup2"
                } else {
                    m.fstype == "cgroup" && controllers.split(',').all(|c| m.super_options.split(',').any(|o| o == c))
                }
            });
            let child = Path::new(path.trim_start_matches('/')).join(name);
            relative.push(child.clone());
            // systemd tracks its units in name=systemd (v1/hybrid) or the unified hierarchy.
            if controllers.is_empty() || controllers == "name=systemd" {
                let Some(mount) = mount else { continue };
                let dir = Path::new(&mount.target).join(&child);
                fs::create_dir(&dir).with_context(|| format!("failed to create cgroup {}", dir.display()))?;
                joined.push(dir);
            }
        }
        if joined.is_empty() {
            bail!("found no systemd or cgroup2 hierarchy in /proc/self/cgroup");
        }
        // systemd applies the path it found in its own hierarchy to every controller.
        let mut cleanup = Vec::new();
        for mount in mounts.iter().filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2") {
            for rel in &relative {
                let dir = Path::new(&mount.target).join(rel);
                if !cleanup.contains(&dir) {
                    cleanup.push(dir);
                }
            }
        }
        Ok(Cgroups { joined, cleanup })
    }

    /// For cleaning up after a run that died: only the removal list is known.
    pub(super) fn from_cleanup_dirs(cleanup: Vec<PathBuf>) -> Cgroups {
        Cgroups { joined: Vec::new(), cleanup }
    }

    pub(super) fn cleanup_dirs(&self) -> &[PathBuf] {
        &self.cleanup
    }

    pub(super) fn procs_files(&self) -> Vec<PathBuf> {
        self.joined.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Removes every cgroup of the sandbox; retries while the kernel still releases them.
    pub(super) fn remove(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut failed = Vec::new();
            for dir in &self.cleanup {
                if let Err(err) = remove_tree(dir) {
                    failed.push(format!("{}: {err}", dir.display()));
                }
            }
            if failed.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("could not remove the sandbox's cgroups:\n    {}", failed.join("\n    "));
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// rmdir, depth first: a cgroup goes away with rmdir once it has no children and no tasks.
fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(()),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            remove_tree(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Err(err) if err.kind() != ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

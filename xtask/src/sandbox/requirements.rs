//! What the sandbox needs from the machine, checked before booting so a missing package is
//! named instead of surfacing as a mount or D-Bus error.

use std::fs;
use std::path::Path;

use anyhow::{Result, bail};

/// The Debian packages the sandbox needs, by a file each installs.
const REQUIRED: [(&str, &str); 12] = [
    ("/lib/systemd/systemd", "systemd"),
    ("systemctl", "systemd"),
    ("loginctl", "systemd"),
    ("journalctl", "systemd"),
    ("dbus-daemon", "dbus"),
    ("/usr/lib/systemd/user/dbus.socket", "dbus-user-session"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("findmnt", "util-linux"),
    ("mount", "mount"),
    ("kill", "procps"),
    ("timeout", "coreutils"),
];

pub(super) fn check_tools() -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = |tool: &str| {
        if tool.starts_with('/') {
            Path::new(tool).exists()
        } else {
            std::env::split_paths(&path).any(|dir| dir.join(tool).is_file())
        }
    };
    let missing: Vec<_> = REQUIRED.iter().filter(|(tool, _)| !found(tool)).collect();
    if !missing.is_empty() {
        let mut packages: Vec<_> = missing.iter().map(|(_, package)| *package).collect();
        packages.dedup();
        bail!(
            "the sandbox needs {}; install them with `apt-get install -y {}` \
             (see docs/testing.md)",
            missing.iter().map(|(tool, _)| *tool).collect::<Vec<_>>().join(", "),
            packages.join(" ")
        );
    }
    if !Path::new("/proc/self/ns/pid").exists() {
        bail!("this kernel has no PID namespaces");
    }
    if !is_root() {
        bail!("the sandbox needs root (namespaces, mounts, cgroups)");
    }
    Ok(())
}

pub(crate) fn is_root() -> bool {
    fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|uids| uids.split_whitespace().nth(1)) == Some("0")
    })
}

//! The host's mount table, read before boot and compared after teardown.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Mount {
    pub(super) target: String,
    pub(super) fstype: String,
    pub(super) source: String,
    /// Superblock options: a change here is a change the whole host sees.
    pub(super) super_options: String,
}

/// The host's mounts by mount ID.
pub(super) struct Mounts(BTreeMap<u64, Mount>);

impl Mounts {
    pub(super) fn read() -> Result<Mounts> {
        let text = fs::read_to_string("/proc/self/mountinfo").context("failed to read /proc/self/mountinfo")?;
        Ok(Mounts(text.lines().filter_map(parse_line).collect()))
    }

    /// Problems that the sandbox may have caused: mounts referring to its folder, and
    /// superblock options that changed under the host. Mounts that other programs added or
    /// removed meanwhile are only reported as warnings.
    pub(super) fn compare(&self, after: &Mounts, sandbox_dir: &Path) -> Vec<String> {
        let dir = sandbox_dir.display().to_string();
        let mut problems = Vec::new();
        for (id, m) in &after.0 {
            if m.target.starts_with(&dir) || m.source.starts_with(&dir) {
                problems.push(format!("mount left on the host: {} ({})", m.target, m.fstype));
            } else if let Some(old) = self.0.get(id) {
                if old.super_options != m.super_options {
                    problems.push(format!(
                        "options of {} ({}) changed from {} to {}",
                        m.target, m.fstype, old.super_options, m.super_options
                    ));
                }
            } else {
                eprintln!("xtask: warning: a mount appeared on the host meanwhile: {} ({})", m.target, m.fstype);
            }
        }
        for (id, m) in &self.0 {
            if !after.0.contains_key(id) {
                eprintln!("xtask: warning: a mount disappeared from the host meanwhile: {} ({})", m.target, m.fstype);
            }
        }
        problems
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Mount> {
        self.0.values()
    }
}

fn parse_line(line: &str) -> Option<(u64, Mount)> {
    // ID PARENT MAJ:MIN ROOT TARGET OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    let (head, tail) = line.split_once(" - ")?;
    let mut head = head.split(' ');
    let id = head.next()?.parse().ok()?;
    let target = unescape(head.nth(3)?);
    let mut tail = tail.split(' ');
    let fstype = tail.next()?.to_owned();
    let source = unescape(tail.next()?);
    let super_options = tail.next().unwrap_or_default().to_owned();
    Some((id, Mount { target, fstype, source, super_options }))
}

/// mountinfo writes space, tab, newline and backslash as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            let s = std::str::from_utf8(d).ok()?;
            u8::from_str_radix(s, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

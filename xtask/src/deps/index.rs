//! cargo's local copy of the crates.io sparse index: one file per crate under
//! `$CARGO_HOME/registry/index/index.crates.io-HASH/.cache/`, at the index's own path
//! (`1/a`, `2/ab`, `3/a/abc`, `se/rd/serde`). A file is a cache version byte, a 4-byte index
//! format version, the HTTP validator (ETag or Last-Modified) and then, NUL-separated, pairs of a
//! version and that release's index line (JSON: `vers`, `yanked`, `rust_version`, `pubtime`, …).
//! Reading it needs no network; it holds what cargo last fetched.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{Release, Version};

pub(crate) struct Index {
    /// The `.cache` folders of crates.io's index, newest first (cargo versions may differ in
    /// the hash of the folder's name).
    caches: Vec<PathBuf>,
}

impl Index {
    pub(crate) fn find() -> Result<Index> {
        let home = match std::env::var_os("CARGO_HOME") {
            Some(home) => PathBuf::from(home),
            None => {
                PathBuf::from(std::env::var_os("HOME").context("neither CARGO_HOME nor HOME is set")?).join(".cargo")
            }
        };
        let root = home.join("registry/index");
        let mut caches: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(&root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("index.crates.io-"))
            .map(|e| e.path().join(".cache"))
            .filter(|p| p.is_dir())
            .map(|p| (p.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), p))
            .collect();
        if caches.is_empty() {
            bail!(
                "no local copy of the crates.io index in {}; build the workspace once (or run `cargo xtask deps --refresh`)",
                root.display()
            );
        }
        caches.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
        Ok(Index { caches: caches.into_iter().map(|(_, p)| p).collect() })
    }

    /// The releases of `name` in the newest cache that has it, or `None` if none has.
    pub(crate) fn releases(&self, name: &str) -> Result<Option<Vec<Release>>> {
        for cache in &self.caches {
            let path = cache.join(relative_path(name));
            match std::fs::read(&path) {
                Ok(bytes) => return parse(&bytes).with_context(|| format!("read {}", path.display())).map(Some),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("read {}", path.display())),
            }
        }
        Ok(None)
    }
}

/// Where the index keeps `name`: by its length, then its first letters (lowercase).
pub(crate) fn relative_path(name: &str) -> PathBuf {
    let name = name.to_lowercase();
    match name.len() {
        1 => Path::new("1").join(&name),
        2 => Path::new("2").join(&name),
        3 => Path::new("3").join(&name[..1]).join(&name),
        _ => Path::new(&name[..2]).join(&name[2..4]).join(&name),
    }
}

/// The releases in one cache file.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Release>> {
    const CACHE_VERSION: u8 = 3;
    let Some((&cache_version, rest)) = bytes.split_first() else { bail!("empty index file") };
    if cache_version != CACHE_VERSION || rest.len() < 4 {
        bail!("index cache version {cache_version}, not {CACHE_VERSION} (a cargo this check does not know)");
    }
    // The index format version, then the validator, then version/line pairs.
    let mut fields = rest[4..].split(|&b| b == 0);
    fields.next();
    let mut releases = Vec::new();
    while let (Some(_version), Some(line)) = (fields.next(), fields.next()) {
        if line.is_empty() {
            continue;
        }
        let entry: serde_json::Value = serde_json::from_slice(line).context("an index line is not JSON")?;
        let Some(version) = entry["vers"].as_str().and_then(Version::parse) else { continue };
        releases.push(Release {
            version,
            yanked: entry["yanked"].as_bool().unwrap_or(false),
            rust_version: entry["rust_version"].as_str().and_then(Version::parse),
            published: entry["pubtime"].as_str().and_then(|t| t.parse().ok()),
        });
    }
    Ok(releases)
}

//! The nonces of accepted requests, remembered until their timestamps leave the window, and
//! across restarts: a request replayed after the server restarted is refused as it would have
//! been before.
//!
//! Each nonce is kept as 16 bytes of its SHA-256 with its expiry. Accepting one is a single
//! step under a mutex (look up, insert, append a line to the file), so of two identical
//! requests racing exactly one wins. The file (`expiry hash` lines, 0600) is appended to as
//! requests arrive — the kernel has each line before the answer is sent — and rewritten with the
//! live entries when it holds many expired ones.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::{Error, Result};

type Hash = [u8; 16];

/// Why a nonce was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    /// It was seen within the window.
    Replay,
    /// The store is full of live nonces.
    Full,
    /// It could not be written to the file (so a restart would forget it).
    Unrecorded,
}

pub(super) struct Nonces {
    inner: Mutex<Inner>,
    max: usize,
    /// Told of every accepted nonce, so the sweeper ([`Nonces::sweep_while_busy`]) wakes only
    /// when there is something that will expire.
    inserted: tokio::sync::Notify,
}

struct Inner {
    seen: HashMap<Hash, u64>,
    file: std::fs::File,
    path: PathBuf,
    /// Lines in the file (live or expired).
    lines: usize,
    /// When full, the time (Unix seconds) before which expired entries are not looked for
    /// again: a sweep walks every entry, and a full store would otherwise sweep per request.
    next_sweep: u64,
}

fn hash(nonce: &str) -> Hash {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(nonce.as_bytes());
    let mut h = [0u8; 16];
    h.copy_from_slice(&digest[..16]);
    h
}

impl Nonces {
    /// The store of `path` (created 0600 when missing), keeping entries that expire after `now`.
    pub(super) fn open(path: &Path, now: u64, max: usize) -> Result<Nonces> {
        let mut seen = HashMap::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines() {
                    // A torn last line (a crash mid-write) is skipped; its request was not answered.
                    let Some((expiry, h)) = line.split_once(' ') else { continue };
                    let (Ok(expiry), Ok(bytes)) = (expiry.parse::<u64>(), hex::decode(h)) else { continue };
                    let Ok(h) = Hash::try_from(bytes.as_slice()) else { continue };
                    if expiry > now {
                        seen.insert(h, expiry);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("read", path)(e)),
        }
        let file = rewrite(path, &seen)?;
        let lines = seen.len();
        let inner = Inner { seen, file, path: path.to_owned(), lines, next_sweep: 0 };
        Ok(Nonces { inner: Mutex::new(inner), max, inserted: tokio::sync::Notify::new() })
    }

    /// Accept `nonce`, remembered until `expiry` (Unix seconds), unless it was seen.
    pub(super) fn accept(&self, nonce: &str, expiry: u64, now: u64) -> std::result::Result<(), Refusal> {
        let h = hash(nonce);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if inner.seen.get(&h).is_some_and(|&e| e > now) {
            return Err(Refusal::Replay);
        }
        if inner.seen.len() >= self.max {
            if now < inner.next_sweep {
                return Err(Refusal::Full);
            }
            inner.seen.retain(|_, e| *e > now);
            inner.next_sweep = now + 1;
            if inner.seen.len() >= self.max {
                return Err(Refusal::Full);
            }
        }
        let line = format!("{expiry} {}\n", hex::encode(h));
        if let Err(e) = inner.file.write_all(line.as_bytes()) {
            // Not remembered durably: refuse rather than risk a replay after a restart.
            tracing::error!(error = %e, "cannot record a nonce");
            return Err(Refusal::Unrecorded);
        }
        inner.seen.insert(h, expiry);
        inner.lines += 1;
        self.inserted.notify_one();
        Ok(())
    }

    /// Forget the nonces expired at `now` and give their memory back; the number left.
    pub(super) fn sweep(&self, now: u64) -> usize {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.seen.retain(|_, e| *e > now);
        if inner.seen.capacity() > 4 * inner.seen.len().max(1024) {
            inner.seen.shrink_to_fit();
        }
        // The file keeps every line appended; rewrite it with the live ones once it holds many
        // expired (here, off the requests' path).
        if inner.lines > 4 * inner.seen.len() + 100_000 {
            let path = inner.path.clone();
            match rewrite(&path, &inner.seen) {
                Ok(file) => {
                    inner.file = file;
                    inner.lines = inner.seen.len();
                }
                Err(e) => tracing::warn!(error = %e, "cannot compact the nonce file"),
            }
        }
        inner.seen.len()
    }

    /// Sweep once a minute while nonces are held, then sleep until the next one is taken: an
    /// idle server does nothing, and the memory of a burst is given back once its nonces expired
    /// (at most ten minutes after it). Runs as long as the server's runtime.
    pub(super) async fn sweep_while_busy(nonces: std::sync::Arc<Nonces>) {
        loop {
            let inserted = nonces.inserted.notified();
            let store = nonces.clone();
            let held = tokio::task::spawn_blocking(move || store.sweep(super::auth::now())).await.unwrap_or(1);
            if held == 0 {
                // Nothing to expire: wait for the next nonce, however long.
                inserted.await;
            }
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        }
    }

    /// How many nonces are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.inner.lock().unwrap().seen.len()
    }
}

/// Write the live entries to `path` afresh (atomically) and open it for appending.
fn rewrite(path: &Path, seen: &HashMap<Hash, u64>) -> Result<std::fs::File> {
    let text: String = seen.iter().map(|(h, e)| format!("{e} {}\n", hex::encode(h))).collect();
    taskflows_systemd::files::write_private(path, text.as_bytes())?;
    std::fs::OpenOptions::new().append(true).mode(0o600).open(path).map_err(Error::io("open", path))
}

#[cfg(test)]
mod tests {
    use super::{Nonces, Refusal};

    #[test]
    fn a_nonce_is_accepted_once_until_it_expires_and_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nonces");
        let store = Nonces::open(&path, 1000, 10).unwrap();
        assert_eq!(store.accept("aaaaaaaaaaaaaaaa", 1300, 1000), Ok(()));
        assert_eq!(store.accept("aaaaaaaaaaaaaaaa", 1300, 1001), Err(Refusal::Replay));
        assert_eq!(store.accept("bbbbbbbbbbbbbbbb", 1100, 1001), Ok(()));
        drop(store);
        // Restarted: still refused; the expired one is forgotten.
        let store = Nonces::open(&path, 1200, 10).unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(store.accept("aaaaaaaaaaaaaaaa", 1500, 1200), Err(Refusal::Replay));
        assert_eq!(store.accept("bbbbbbbbbbbbbbbb", 1500, 1200), Ok(()));
        // Full of live ones: refused, never forgotten early.
        for i in 0..8 {
            assert_eq!(store.accept(&format!("cccccccccccccc{i:02}"), 1500, 1200), Ok(()));
        }
        assert_eq!(store.accept("dddddddddddddddd", 1500, 1200), Err(Refusal::Full));
        assert_eq!(store.accept("aaaaaaaaaaaaaaaa", 1500, 1200), Err(Refusal::Replay));
        // Once they expire, a later second's sweep makes room.
        assert_eq!(store.accept("dddddddddddddddd", 1800, 1500), Ok(()));
        assert_eq!(store.len(), 1);
    }

    #[test]
    fn a_sweep_forgets_expired_nonces_and_gives_their_memory_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = Nonces::open(&dir.path().join("nonces"), 0, 1_000_000).unwrap();
        for i in 0..100_000 {
            assert_eq!(store.accept(&format!("nonce-{i:012}"), 100 + i % 2, 0), Ok(()));
        }
        let capacity = store.inner.lock().unwrap().seen.capacity();
        assert_eq!(store.sweep(100), 50_000, "the ones expiring at 101 are kept");
        assert_eq!(store.sweep(101), 0);
        assert!(store.inner.lock().unwrap().seen.capacity() < capacity / 10, "the table shrank");
        assert_eq!(store.accept("nonce-000000000001", 500, 200), Ok(()), "an expired nonce is a new one");
    }

    #[test]
    fn racing_identical_nonces_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Nonces::open(&dir.path().join("nonces"), 0, 1000).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                std::thread::spawn(move || store.accept("racing-racing-racing", 300, 0).is_ok())
            })
            .collect();
        let wins = handles.into_iter().filter(|_| true).map(|h| h.join().unwrap()).filter(|ok| *ok).count();
        assert_eq!(wins, 1);
    }
}

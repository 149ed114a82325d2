//! The login rate limit: at most [`PER_USER`] failed logins per address and user, and
//! [`PER_ADDRESS`] per address whatever the user, in any [`WINDOW`] seconds. A good login
//! forgets its pair's failures. Memory is bounded: past [`MAX_KEYS`] keys, the stale ones go,
//! then the oldest.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failed logins of one address and user a window allows.
pub(super) const PER_USER: usize = 5;
/// Failed logins of one address a window allows (guessing across user names).
pub(super) const PER_ADDRESS: usize = 20;
/// The window, in seconds.
pub(super) const WINDOW: u64 = 300;
const MAX_KEYS: usize = 100_000;

/// An address and a user, or the address alone (any user).
type Key = (IpAddr, Option<String>);

#[derive(Default)]
pub(super) struct Limiter {
    failures: Mutex<HashMap<Key, Vec<u64>>>,
    /// Check-and-count is one step.
    attempting: Mutex<()>,
}

impl Limiter {
    /// Ok when a login may be tried now; else how many seconds until one may.
    pub(super) fn check(&self, address: IpAddr, user: &str, now: u64) -> Result<(), u64> {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let wait = |key: &Key, limit: usize| -> Option<u64> {
            let times: Vec<u64> = map.get(key)?.iter().copied().filter(|t| t + WINDOW > now).collect();
            (times.len() >= limit).then(|| times[times.len() - limit] + WINDOW - now)
        };
        let by_user = wait(&(address, Some(user.to_owned())), PER_USER);
        let by_address = wait(&(address, None), PER_ADDRESS);
        match by_user.max(by_address) {
            Some(w) => Err(w.max(1)),
            None => Ok(()),
        }
    }

    /// Count an attempt before it is checked (so concurrent ones cannot pass the limit); Err
    /// with the seconds to wait when the limit is reached. A good login takes its count back.
    pub(super) fn attempt(&self, address: IpAddr, user: &str, now: u64) -> Result<(), u64> {
        let _one_at_a_time = self.attempting.lock().unwrap_or_else(|p| p.into_inner());
        self.check(address, user, now)?;
        self.failed(address, user, now);
        Ok(())
    }

    /// Take back the attempt counted last for `address` and `user` (it was not checked).
    pub(super) fn forget(&self, address: IpAddr, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in [(address, Some(user.to_owned())), (address, None)] {
            if let Some(times) = map.get_mut(&key) {
                times.pop();
            }
        }
    }

    pub(super) fn failed(&self, address: IpAddr, user: &str, now: u64) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            map.retain(|_, times| times.last().is_some_and(|t| t + WINDOW > now));
            while map.len() >= MAX_KEYS {
                let oldest = map.iter().min_by_key(|(_, t)| t.last().copied()).map(|(k, _)| k.clone());
                match oldest {
                    Some(k) => map.remove(&k),
                    None => break,
                };
            }
        }
        for key in [(address, Some(user.to_owned())), (address, None)] {
            let times = map.entry(key).or_default();
            times.retain(|t| t + WINDOW > now);
            times.push(now);
        }
    }

    /// A good login: its user's failures from this address are forgotten, and its own attempt
    /// no longer counts against the address.
    pub(super) fn succeeded(&self, address: IpAddr, user: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(address, Some(user.to_owned())));
        if let Some(times) = map.get_mut(&(address, None)) {
            times.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_per_user_and_twenty_per_address_in_five_minutes() {
        let l = Limiter::default();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for t in 0..5 {
            assert!(l.check(a, "ada", 100 + t).is_ok());
            l.failed(a, "ada", 100 + t);
        }
        assert_eq!(l.check(a, "ada", 105), Err(295));
        assert!(l.check(b, "ada", 105).is_ok(), "another address");
        assert!(l.check(a, "bob", 105).is_ok(), "another user");
        assert!(l.check(a, "ada", 400).is_ok(), "the window passed");
        for (i, user) in ["b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p"].iter().enumerate()
        {
            l.failed(a, user, 110 + i as u64);
        }
        assert!(l.check(a, "zed", 130).is_err(), "twenty from one address");
        l.succeeded(b, "ada");
        // Attempts count before they are checked: a sixth concurrent one is refused.
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        for _ in 0..5 {
            assert!(l.attempt(c, "eve", 500).is_ok());
        }
        assert!(l.attempt(c, "eve", 500).is_err());
        l.succeeded(c, "eve");
        assert!(l.attempt(c, "eve", 501).is_ok(), "a good login forgets its user's failures");
    }
}

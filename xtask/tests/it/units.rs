//! Scope-aware helpers: unit files, `systemctl` and `journalctl` for system or user scope.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// The manager under test, from `TF_TEST_SCOPE`.
pub(crate) struct Scope {
    user: bool,
}

impl Scope {
    /// Panics unless running inside the sandbox: these tests write to systemd's unit folders.
    pub(crate) fn from_env(why: &str) -> Scope {
        assert_eq!(
            std::env::var("TF_IN_SANDBOX").as_deref(),
            Ok("1"),
            "refusing to touch this machine's systemd; {why}"
        );
        match std::env::var("TF_TEST_SCOPE").as_deref() {
            Ok("system") => Scope { user: false },
            Ok("user") => Scope { user: true },
            other => panic!("TF_TEST_SCOPE must be `system` or `user`, not {other:?}"),
        }
    }

    /// `tf-it-STEM-PID-N.SUFFIX`: unique across tests running in parallel.
    pub(crate) fn unique_name(&self, stem: &str, suffix: &str) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        format!("tf-it-{stem}-{}-{n}.{suffix}", std::process::id())
    }

    pub(crate) fn unit_dir(&self) -> PathBuf {
        if self.user {
            let home = std::env::var_os("HOME").expect("HOME is set for user scope");
            PathBuf::from(home).join(".config/systemd/user")
        } else {
            PathBuf::from("/etc/systemd/system")
        }
    }

    fn tool(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        if self.user {
            cmd.arg("--user");
        }
        cmd
    }

    pub(crate) fn systemctl(&self, args: &[&str]) -> Output {
        self.tool("systemctl").args(args).output().expect("systemctl runs")
    }

    pub(crate) fn daemon_reload(&self) {
        let out = self.systemctl(&["daemon-reload"]);
        assert!(out.status.success(), "daemon-reload failed: {out:?}");
    }

    /// `systemctl show -p PROPS UNIT` as a map.
    pub(crate) fn show(&self, unit: &str, props: &str) -> HashMap<String, String> {
        let out = self.systemctl(&["show", "-p", props, unit]);
        assert!(out.status.success(), "systemctl show {unit}: {out:?}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    /// The unit's messages. Root's user manager logs into the system journal (journald only
    /// splits out journals of non-system users), where `--user-unit` finds them and
    /// `journalctl --user -u` does not.
    fn journal(&self, unit: &str) -> String {
        let filter = if self.user { "--user-unit" } else { "--unit" };
        let out = Command::new("journalctl")
            .args(["--no-pager", "-o", "cat", filter, unit])
            .output()
            .expect("journalctl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until `text` shows up in the unit's journal (journald writes asynchronously).
    pub(crate) fn wait_for_journal(&self, unit: &str, text: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let journal = self.journal(unit);
            if journal.contains(text) {
                return;
            }
            assert!(Instant::now() < deadline, "{text:?} not in the journal of {unit} within {timeout:?}:\n{journal}");
            thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Unit files a test wrote; [`UnitFiles::remove`] cleans up and checks, `Drop` cleans up
/// after a failed assertion.
pub(crate) struct UnitFiles<'a> {
    scope: &'a Scope,
    names: Vec<String>,
}

impl<'a> UnitFiles<'a> {
    pub(crate) fn new(scope: &'a Scope) -> UnitFiles<'a> {
        UnitFiles { scope, names: Vec::new() }
    }

    /// Writes atomically: a temporary file in the same folder, then rename.
    pub(crate) fn write(&mut self, name: &str, contents: &str) {
        let dir = self.scope.unit_dir();
        fs::create_dir_all(&dir).expect("unit folder can be created");
        let tmp = dir.join(format!(".{name}.tmp"));
        fs::write(&tmp, contents).expect("unit file can be written");
        fs::rename(&tmp, dir.join(name)).expect("unit file can be renamed into place");
        self.names.push(name.to_owned());
    }

    fn clean(&mut self) {
        let names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        if names.is_empty() {
            return;
        }
        let mut stop = vec!["stop"];
        stop.extend(&names);
        let _ = self.scope.systemctl(&stop);
        for name in &names {
            let _ = fs::remove_file(self.scope.unit_dir().join(name));
        }
        let _ = self.scope.systemctl(&["daemon-reload"]);
        let mut reset = vec!["reset-failed"];
        reset.extend(&names);
        let _ = self.scope.systemctl(&reset);
    }

    /// Stops the units, removes their files, reloads, and asserts systemd forgot them.
    pub(crate) fn remove(mut self) {
        self.clean();
        for name in std::mem::take(&mut self.names) {
            let props = self.scope.show(&name, "LoadState,ActiveState");
            assert_eq!(props["LoadState"], "not-found", "{name} still loaded: {props:?}");
            assert_eq!(props["ActiveState"], "inactive", "{name}: {props:?}");
        }
    }
}

impl Drop for UnitFiles<'_> {
    fn drop(&mut self) {
        self.clean();
    }
}

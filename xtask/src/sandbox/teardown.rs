//! Teardown: stop the sandbox, kill what is left, remove its cgroups and folder, and check
//! the host. Also the cleanup of sandboxes whose xtask died without tearing down.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use super::{ACTIVE, COMMAND_TIMEOUT, EXIT_TIMEOUT, Running, Shared, cgroup, host, lock};
use crate::proc;

impl Shared {
    /// Idempotent; holds the state lock throughout, so a signal arriving mid-teardown waits
    /// for it to finish instead of exiting under it.
    pub(super) fn teardown(&self) -> Result<()> {
        let mut state = lock(&self.state);
        let Some(mut running) = state.take() else {
            return Ok(());
        };
        let started = Instant::now();
        let mut problems = Vec::new();
        stop(&mut running, &self.name, &mut problems);
        check_host(&running, &mut problems);
        let _ = fs::rename(&running.console_log, running.dir.with_file_name("last-console.log"));
        let _ = fs::remove_file(running.dir.join("setup.sh"));
        let _ = fs::remove_file(running.dir.join("record"));
        if let Err(err) = fs::remove_dir(running.dir.join("mnt")).and_then(|()| fs::remove_dir(&running.dir)) {
            problems.push(format!("could not remove {}: {err}", running.dir.display()));
        }
        lock(&ACTIVE).retain(|s| !std::ptr::eq(Arc::as_ptr(s), self));
        if problems.is_empty() {
            eprintln!(
                "xtask: sandbox {} torn down in {:.1}s; nothing left on the host",
                self.name,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        } else {
            bail!("tearing down sandbox {} left problems:\n  {}", self.name, problems.join("\n  "))
        }
    }
}

/// Cleans up after runs that died without tearing down (SIGKILL, power loss): their
/// sandbox folders name an owner PID that is no longer an xtask process.
pub(super) fn recover_stale(state_dir: &Path) {
    let Ok(entries) = fs::read_dir(state_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let dir = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix("tf-sandbox-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if proc::stat(owner).is_some_and(|s| s.comm == "xtask" && s.state != 'Z') {
            continue; // a live run, maybe from another terminal
        }
        eprintln!("xtask: cleaning up stale sandbox {name}");
        let record = fs::read_to_string(dir.join("record")).unwrap_or_default();
        let script = dir.join("setup.sh").display().to_string();
        for line in record.lines() {
            if let Some(pid) = line.strip_prefix("unshare=").and_then(|p| p.parse().ok()) {
                // Only if that PID is still this sandbox's unshare, running this setup script.
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&script) {
                    for child in proc::children(pid) {
                        proc::kill(child, "KILL");
                    }
                    proc::kill(pid, "KILL");
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while proc::alive(pid) && Instant::now() < deadline {
                        thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        }
        let cgroups = cgroup::Cgroups::from_cleanup_dirs(
            record.lines().filter_map(|l| l.strip_prefix("cgroup=")).map(PathBuf::from).collect(),
        );
        if let Err(err) = cgroups.remove() {
            eprintln!("xtask: warning: {err:#}");
        }
        for file in ["setup.sh", "record", "console.log"] {
            let _ = fs::remove_file(dir.join(file));
        }
        if let Err(err) = fs::remove_dir(dir.join("mnt")).and_then(|()| fs::remove_dir(&dir)) {
            eprintln!("xtask: warning: could not remove {}: {err}", dir.display());
        }
    }
}

/// Asks systemd to exit, then kills whatever did not.
fn stop(running: &mut Running, name: &str, problems: &mut Vec<String>) {
    let unshare_pid = running.unshare.id();
    let still_ours = |pid: u32| proc::stat(pid).is_some_and(|s| s.ppid == unshare_pid);
    let mut exit_timeout = Duration::ZERO; // nothing to wait for unless systemd is up
    if let Some(pid) = running.systemd_pid.filter(|&pid| still_ours(pid)) {
        exit_timeout = EXIT_TIMEOUT;
        if let Some(ns) = &running.pid_namespace {
            kill_entered(ns, name);
        }
        let mut exit = Command::new("nsenter");
        exit.args(["--target", &pid.to_string(), "--all", "--root", "--"])
            .args(["systemctl", "exit"])
            .env_clear()
            .env("PATH", "/usr/bin:/bin:/usr/sbin:/sbin");
        if let Err(err) = run_quiet(&mut exit) {
            problems.push(format!("systemctl exit failed: {err:#}"));
        }
    }
    match proc::wait_timeout(&mut running.unshare, exit_timeout) {
        Ok(Some(_)) => {}
        _ => {
            if exit_timeout > Duration::ZERO {
                eprintln!("xtask: sandbox did not exit within {exit_timeout:?}; killing it");
            }
            // unshare's only child is PID 1 of the namespace (the setup script or systemd);
            // killing it kills everything in the namespace.
            for pid in proc::children(unshare_pid) {
                proc::kill(pid, "KILL");
            }
            let _ = running.unshare.kill();
            // The process group of the setup script, in case it never got to exec systemd.
            proc::kill_group(unshare_pid);
            if !matches!(proc::wait_timeout(&mut running.unshare, Duration::from_secs(10)), Ok(Some(_))) {
                problems.push(format!("unshare (PID {unshare_pid}) survived SIGKILL"));
            }
        }
    }
}

/// Kills the processes that entered the sandbox through `nsenter` (tests still running when a
/// signal arrived), and their descendants: they live in the sandbox's PID namespace but kept
/// xtask's cgroup, while everything systemd started is below the sandbox's own cgroup.
/// systemd's shutdown freezes every process with SIGSTOP; nsenter mirrors a stopped child by
/// stopping itself and then never reaps it, so the shutdown would wait its full 90 s for them.
fn kill_entered(ns: &str, sandbox_cgroup: &str) {
    let marker = format!("/{sandbox_cgroup}/");
    let entered: Vec<u32> = proc::pids_in_namespace(ns)
        .into_iter()
        .filter(|&pid| {
            fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|cgroups| !cgroups.contains(&marker))
        })
        .collect();
    if entered.is_empty() {
        return;
    }
    for &pid in &entered {
        proc::kill(pid, "KILL");
    }
    // Until reaped, not just dead: the shutdown waits 10 s for any process it cannot reap.
    let deadline = Instant::now() + Duration::from_secs(5);
    while entered.iter().any(|&pid| proc::stat(pid).is_some()) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
}

fn check_host(running: &Running, problems: &mut Vec<String>) {
    if let Some(ns) = &running.pid_namespace {
        // The kernel kills the namespace with its PID 1; give it a moment to reap.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut left = proc::pids_in_namespace(ns);
        while !left.is_empty() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(100));
            left = proc::pids_in_namespace(ns);
        }
        if !left.is_empty() {
            problems.push(format!("processes left in the sandbox: {left:?}"));
        }
    }
    if let Err(err) = running.cgroups.remove() {
        problems.push(format!("{err:#}"));
    }
    match host::Mounts::read() {
        Ok(after) => problems.extend(running.mounts_before.compare(&after, &running.dir)),
        Err(err) => problems.push(format!("{err:#}")),
    }
}

/// Runs `cmd` to completion; its stderr is the error if it fails.
fn run_quiet(cmd: &mut Command) -> Result<()> {
    let out = proc::output_bounded(cmd, COMMAND_TIMEOUT)?;
    if !out.status.success() {
        bail!("{}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

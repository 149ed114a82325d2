//! Process helpers on top of `/proc` and `std::process`: finding children, namespaces, and
//! running commands with a time bound. No `unsafe`: signals are sent with kill(1).

use std::fs;
use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// What `/proc/PID/stat` says about a process.
pub(crate) struct Stat {
    pub(crate) comm: String,
    /// `R`, `S`, `D`, `Z` (zombie: exited, not yet reaped), …
    pub(crate) state: char,
    pub(crate) ppid: u32,
}

pub(crate) fn stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses.
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?.to_owned();
    let mut rest = text.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.chars().next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some(Stat { comm, state, ppid })
}

/// Running (not exited, and not an unreaped zombie).
pub(crate) fn alive(pid: u32) -> bool {
    stat(pid).is_some_and(|s| s.state != 'Z')
}

fn all_pids() -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

pub(crate) fn children(ppid: u32) -> Vec<u32> {
    all_pids().into_iter().filter(|&pid| stat(pid).is_some_and(|s| s.ppid == ppid)).collect()
}

/// The PID namespace of `pid`, as `pid:[INODE]`.
pub(crate) fn pid_namespace(pid: u32) -> Option<String> {
    let link = fs::read_link(format!("/proc/{pid}/ns/pid")).ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// Every process (host PIDs) that lives in the PID namespace `ns`.
pub(crate) fn pids_in_namespace(ns: &str) -> Vec<u32> {
    all_pids().into_iter().filter(|&pid| pid_namespace(pid).as_deref() == Some(ns)).collect()
}

pub(crate) fn kill(pid: u32, signal: &str) {
    // Failure means the process is already gone, which is what we want.
    let _ =
        Command::new("kill").arg(format!("-{signal}")).arg("--").arg(pid.to_string()).stderr(Stdio::null()).status();
}

/// Waits up to `timeout` for `child` to exit; `None` if it is still running.
pub(crate) fn wait_timeout(child: &mut Child, timeout: Duration) -> Result<Option<std::process::ExitStatus>> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `cmd` to completion with its output captured, killing it after `timeout`.
pub(crate) fn output_bounded(cmd: &mut Command, timeout: Duration) -> Result<Output> {
    output_bounded_with(cmd, timeout, |cmd| Ok(cmd.spawn()?))
}

/// [`output_bounded`], starting the command with `spawn`.
pub(crate) fn output_bounded_with(
    cmd: &mut Command,
    timeout: Duration,
    spawn: impl FnOnce(&mut Command) -> Result<Child>,
) -> Result<Output> {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(cmd).with_context(|| format!("failed to start {what}"))?;
    // Drain both pipes on threads so a chatty command cannot block on a full pipe.
    let mut stdout = child.stdout.take().context("stdout is piped")?;
    let mut stderr = child.stderr.take().context("stderr is piped")?;
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = match wait_timeout(&mut child, timeout)? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not finish within {timeout:?}");
        }
    };
    Ok(Output { status, stdout: out.join().unwrap_or_default(), stderr: err.join().unwrap_or_default() })
}

/// Sends SIGKILL to the process group led by `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    let _ = Command::new("kill").args(["-KILL", "--"]).arg(format!("-{pgid}")).stderr(Stdio::null()).status();
}

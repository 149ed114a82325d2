//! A private systemd, booted as PID 1 of fresh namespaces over an overlay of the host's `/`
//! (the recipe in REAL-SYSTEMS.md; the mounts are in `sandbox/setup.sh`).
//!
//! [`Sandbox::boot`] starts it and waits until the system manager and root's user manager
//! run; [`Sandbox::command`] builds an `nsenter` command that runs inside; teardown stops
//! it, kills what is left, removes its cgroups and checks the host: it runs from
//! [`Sandbox::teardown`], from `Drop` (errors, panics) and from the Ctrl-C/SIGTERM handler
//! ([`install_signal_handler`]). The sandbox never modifies the host's file systems and
//! never kills a process it did not start: it knows its systemd by host PID, as the only child
//! of the `unshare` process it spawned.

mod cgroup;
mod host;
mod requirements;
mod teardown;

pub(crate) use requirements::is_root;

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::proc;

const SETUP_SCRIPT: &str = include_str!("sandbox/setup.sh");
const SYSTEMD_START_TIMEOUT: Duration = Duration::from_secs(10);
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
const USER_MANAGER_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(15);

/// The environment that makes `systemctl --user`, `journalctl --user` and D-Bus clients talk
/// to root's user manager inside the sandbox.
pub(crate) const USER_ENV: [(&str, &str); 2] =
    [("XDG_RUNTIME_DIR", "/run/user/0"), ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/0/bus")];

pub(crate) struct SandboxConfig {
    /// Host folders bind-mounted at the same path inside (the cargo target dir, the workspace).
    pub(crate) share: Vec<PathBuf>,
    /// Host folder for the sandbox's mount point, setup script and console log.
    pub(crate) state_dir: PathBuf,
}

pub(crate) struct Sandbox {
    shared: Arc<Shared>,
    /// Host PID of the sandbox's systemd.
    pid: u32,
    boot_time: Duration,
}

struct Shared {
    name: String,
    state: Mutex<Option<Running>>,
}

/// What teardown needs; `None` once torn down.
struct Running {
    unshare: Child,
    systemd_pid: Option<u32>,
    pid_namespace: Option<String>,
    dir: PathBuf,
    console_log: PathBuf,
    cgroups: cgroup::Cgroups,
    mounts_before: host::Mounts,
}

/// Sandboxes alive in this process, for the signal handler.
static ACTIVE: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Whether a signal arrived; the main thread then exits 130 instead of reporting the errors
/// that teardown caused under it.
pub(crate) fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// On SIGINT, SIGTERM or SIGHUP: tear down every live sandbox, then exit 130. Installed once per
/// process (`cargo xtask test` boots several sandboxes in turn); later calls return the first
/// call's outcome.
pub(crate) fn install_signal_handler() -> Result<()> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let installed = INSTALLED.get_or_init(|| install_handler().map_err(|e| format!("{e:#}")));
    installed.clone().map_err(anyhow::Error::msg)
}

fn install_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        INTERRUPTED.store(true, Ordering::SeqCst);
        eprintln!("\nxtask: interrupted; tearing the sandbox down");
        let live: Vec<_> = lock(&ACTIVE).clone();
        for shared in live {
            if let Err(err) = shared.teardown() {
                eprintln!("xtask: error: {err:#}");
            }
        }
        crate::dockerd::teardown_active();
        std::process::exit(130);
    })
    .context("failed to install the Ctrl-C handler")
}

impl Sandbox {
    pub(crate) fn boot(config: &SandboxConfig) -> Result<Sandbox> {
        let started = Instant::now();
        requirements::check_tools()?;
        teardown::recover_stale(&config.state_dir);
        let mounts_before = host::Mounts::read()?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.subsec_nanos();
        let name = format!("tf-sandbox-{}-{nanos:x}", std::process::id());
        let dir = config.state_dir.join(&name);
        fs::create_dir_all(dir.join("mnt")).with_context(|| format!("failed to create {}", dir.display()))?;
        let script = dir.join("setup.sh");
        fs::write(&script, SETUP_SCRIPT)?;
        let console_log = dir.join("console.log");
        let log = fs::File::create(&console_log)?;
        let cgroups = cgroup::Cgroups::create(&name)?;

        let mut share = config.share.clone();
        share.sort();
        share.dedup();
        let mut cmd = Command::new("/bin/sh");
        cmd.arg(&script)
            .arg("outer")
            .env("TF_SANDBOX_DIR", dir.join("mnt"))
            .env("TF_SANDBOX_CGROUPS", join_lines(&cgroups.procs_files()))
            .env("TF_SANDBOX_SHARE", join_lines(&share))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Out of the terminal's foreground group: Ctrl-C reaches xtask, which shuts the
            // sandbox down; it must not reach the sandbox's systemd (SIGINT means reboot).
            .process_group(0);
        let unshare = match cmd.spawn() {
            Ok(child) => child,
            Err(err) => {
                let _ = cgroups.remove();
                return Err(err).context("failed to start the sandbox's setup script");
            }
        };
        // What a later run needs to clean up if this process dies without tearing down.
        let record = format!(
            "unshare={}\n{}",
            unshare.id(),
            cgroups.cleanup_dirs().iter().map(|d| format!("cgroup={}\n", d.display())).collect::<String>()
        );
        let _ = fs::write(dir.join("record"), record);
        let shared = Arc::new(Shared {
            name,
            state: Mutex::new(Some(Running {
                unshare,
                systemd_pid: None,
                pid_namespace: None,
                dir,
                console_log,
                cgroups,
                mounts_before,
            })),
        });
        lock(&ACTIVE).push(Arc::clone(&shared));
        // From here on, dropping `sandbox` (early return, panic) tears it down.
        let mut sandbox = Sandbox { shared, pid: 0, boot_time: Duration::ZERO };
        sandbox.pid = sandbox.find_systemd()?;
        sandbox.wait_until_running()?;
        let system_up = started.elapsed();
        sandbox.start_user_manager()?;
        sandbox.boot_time = started.elapsed();
        eprintln!(
            "xtask: sandbox {} up in {:.1}s (system manager {:.1}s, then user manager {:.1}s; \
             systemd host PID {})",
            sandbox.shared.name,
            sandbox.boot_time.as_secs_f64(),
            system_up.as_secs_f64(),
            (sandbox.boot_time - system_up).as_secs_f64(),
            sandbox.pid
        );
        Ok(sandbox)
    }

    pub(crate) fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// A command that runs `program` inside the sandbox, as root, in `/`, with a minimal
    /// environment (add the test's own with `.env`). Use [`USER_ENV`] for the user manager.
    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.command_in(Path::new("/"), program)
    }

    pub(crate) fn command_in(&self, dir: &Path, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg("--target")
            .arg(self.pid.to_string())
            .args(["--all", "--root", "--wd", "--"])
            // nsenter's --wd=DIR resolves DIR before entering the mount namespace.
            .arg("env")
            .arg(format!("--chdir={}", dir.display()))
            .arg(program)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin")
            .env("HOME", "/root")
            .env("USER", "root")
            .env("LOGNAME", "root")
            .env("LANG", "C.UTF-8")
            .env("TF_IN_SANDBOX", "1");
        if let Some(term) = std::env::var_os("TERM") {
            cmd.env("TERM", term);
        }
        cmd
    }

    /// Starts `cmd` (from [`Sandbox::command`]) unless the sandbox is being or has been torn
    /// down: teardown holds the same lock, so nothing enters the sandbox while it shuts down.
    pub(crate) fn spawn(&self, cmd: &mut Command) -> Result<Child> {
        let state = lock(&self.shared.state);
        if state.is_none() {
            bail!("the sandbox was torn down");
        }
        let child = cmd.spawn().context("failed to run nsenter")?;
        drop(state);
        Ok(child)
    }

    /// Runs `cmd` in the sandbox with its output captured, bounded by a timeout.
    fn output(&self, cmd: &mut Command) -> Result<std::process::Output> {
        proc::output_bounded_with(cmd, COMMAND_TIMEOUT, |cmd| self.spawn(cmd))
    }

    /// Stops the sandbox and checks that nothing of it is left on the host.
    pub(crate) fn teardown(self) -> Result<Duration> {
        let started = Instant::now();
        self.shared.teardown()?;
        Ok(started.elapsed())
    }

    fn find_systemd(&self) -> Result<u32> {
        let deadline = Instant::now() + SYSTEMD_START_TIMEOUT;
        loop {
            {
                let mut state = lock(&self.shared.state);
                let running = state.as_mut().context("sandbox was torn down")?;
                if let Some(status) = running.unshare.try_wait()? {
                    bail!("the sandbox's setup failed ({status}); console:\n{}", read_tail(&running.console_log));
                }
                let unshare = running.unshare.id();
                // `unshare --fork` has one child: the setup script, which execs systemd.
                if let Some(pid) = proc::children(unshare)
                    .into_iter()
                    .find(|&pid| proc::stat(pid).is_some_and(|s| s.comm == "systemd"))
                {
                    running.systemd_pid = Some(pid);
                    running.pid_namespace = proc::pid_namespace(pid);
                    return Ok(pid);
                }
                if Instant::now() >= deadline {
                    bail!(
                        "systemd did not start within {SYSTEMD_START_TIMEOUT:?}; console:\n{}",
                        read_tail(&running.console_log)
                    );
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_until_running(&self) -> Result<()> {
        let state = self.wait_for_state(&mut self.command("systemctl"), BOOT_TIMEOUT)?;
        if state == "degraded" {
            eprintln!("xtask: warning: the sandbox booted degraded:\n{}", self.diagnostics(false));
        }
        Ok(())
    }

    fn start_user_manager(&self) -> Result<()> {
        let out = self.output(self.command("loginctl").args(["enable-linger", "root"]))?;
        if !out.status.success() {
            bail!("loginctl enable-linger root failed: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
        let bus = PathBuf::from(format!("/proc/{}/root/run/user/0/bus", self.pid));
        let deadline = Instant::now() + USER_MANAGER_TIMEOUT;
        while !bus.exists() {
            if Instant::now() >= deadline {
                bail!(
                    "root's session bus /run/user/0/bus did not appear within \
                     {USER_MANAGER_TIMEOUT:?}\n{}",
                    self.diagnostics(true)
                );
            }
            thread::sleep(Duration::from_millis(100));
        }
        let mut cmd = self.command("systemctl");
        cmd.envs(USER_ENV).arg("--user");
        self.wait_for_state(&mut cmd, USER_MANAGER_TIMEOUT)?;
        Ok(())
    }

    /// Polls `<cmd> is-system-running` until it answers running or degraded.
    fn wait_for_state(&self, cmd: &mut Command, timeout: Duration) -> Result<String> {
        cmd.arg("is-system-running");
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            if let Ok(out) = self.output(cmd) {
                last = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if last == "running" || last == "degraded" {
                    return Ok(last);
                }
                if last.is_empty() {
                    last = String::from_utf8_lossy(&out.stderr).trim().to_owned();
                }
            }
            if Instant::now() >= deadline {
                let user = cmd.get_args().any(|a| a == "--user");
                bail!(
                    "the sandbox's {} manager did not reach running/degraded within {timeout:?} \
                     (last answer: {last:?})\n{}",
                    if user { "user" } else { "system" },
                    self.diagnostics(user)
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Failed units and the journal's tail, for error messages.
    fn diagnostics(&self, user: bool) -> String {
        let mut text = String::new();
        let mut failed = self.command("systemctl");
        // Root's user manager logs into the system journal too.
        let mut journal = self.command("journalctl");
        if user {
            failed.envs(USER_ENV).arg("--user");
        }
        failed.args(["--failed", "--no-pager", "--no-legend"]);
        journal.args(["--no-pager", "-n", "60"]);
        let failed_title = if user { "systemctl --user --failed" } else { "systemctl --failed" };
        for (title, cmd) in [(failed_title, &mut failed), ("journalctl -n 60", &mut journal)] {
            text.push_str(&format!("--- {title}:\n"));
            match self.output(cmd) {
                Ok(out) => {
                    text.push_str(&String::from_utf8_lossy(&out.stdout));
                    text.push_str(&String::from_utf8_lossy(&out.stderr));
                }
                Err(err) => text.push_str(&format!("{err:#}\n")),
            }
        }
        text
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Err(err) = self.shared.teardown() {
            eprintln!("xtask: error: {err:#}");
        }
    }
}

fn join_lines<P: AsRef<Path>>(paths: &[P]) -> String {
    paths.iter().map(|p| p.as_ref().display().to_string()).collect::<Vec<_>>().join("\n")
}

fn read_tail(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<_> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// `cargo xtask sandbox [--user] [-- CMD...]`: boot, run one command inside, tear down.
pub(crate) fn run_command(cmd: &[String], user: bool) -> Result<ExitCode> {
    let meta = crate::test_systemd::Metadata::read()?;
    install_signal_handler()?;
    let sandbox = Sandbox::boot(&meta.sandbox_config())?;
    let (program, args) = match cmd.split_first() {
        Some((program, args)) => (program.as_str(), args),
        None => ("bash", &[][..]),
    };
    let mut inner = sandbox.command_in(&meta.workspace_root, program);
    inner.args(args);
    if user {
        inner.envs(USER_ENV);
    }
    let status = sandbox.spawn(&mut inner).and_then(|mut child| Ok(child.wait()?));
    sandbox.teardown()?;
    let status = status?;
    Ok(ExitCode::from(status.code().map_or(1, |c| u8::try_from(c).unwrap_or(1))))
}

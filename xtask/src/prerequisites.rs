//! What `cargo xtask test` needs from the machine: the Debian packages the tests use and the
//! cargo tools of the fuzz run. Missing packages are found with `dpkg-query` and installed with
//! `apt-get` (as root), or named in an error with `--no-install`. The tests themselves never
//! install or download anything; this step runs before them.

use std::ffi::OsString;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Every Debian package the tests need, with why. The one list: `.ci/run` and the README's
/// command 2 both come through here.
pub(crate) const PACKAGES: &[(&str, &str)] = &[
    // systemd-analyze (verify/calendar tests) and the pieces a private systemd needs to boot
    ("systemd", "the private systemd, systemctl, journalctl, systemd-analyze"),
    ("systemd-sysv", "the private systemd's init"),
    ("dbus", "the system bus"),
    ("dbus-user-session", "the user bus at /run/user/0/bus"),
    ("libpam-systemd", "the user manager's PAM session"),
    ("util-linux", "unshare, nsenter, findmnt for the sandbox"),
    ("mount", "the sandbox's mounts"),
    ("procps", "kill"),
    // Debian's python3 with aiosmtpd: the tests install nothing
    ("python3", "the alert tests' SMTP server"),
    ("python3-aiosmtpd", "the alert tests' SMTP server"),
    ("openssl", "the TLS certificates of the alert tests and of the Docker engine over TCP"),
    ("docker.io", "the Docker tests' private engine (dockerd)"),
    ("busybox-static", "the Docker tests' locally built image"),
    ("strace", "the convergence test's SIGKILLs at each step"),
    ("prometheus", "promtool checks the metrics' format, a real Prometheus scrapes the API"),
    // taskflows-cli/tests/it/browser.rs drives them with fantoccini
    ("chromium", "the browser tests' headless Chromium"),
    ("chromium-driver", "the browser tests' WebDriver server"),
];

/// What a private systemd needs to boot (`cargo xtask demo` and the real-systemd tests): the
/// first entries of [`PACKAGES`].
pub(crate) const SANDBOX_PACKAGES: &[(&str, &str)] = PACKAGES.split_at(8).0;

/// cargo-fuzz for the fuzz run; this release builds with the stable toolchain (docs/testing.md).
pub(crate) const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// Where the package tools are looked up, and whether installing is allowed.
pub(crate) struct Host {
    /// `PATH` for `dpkg-query` and `apt-get` (the tests put stand-ins first).
    pub(crate) path: OsString,
    pub(crate) root: bool,
}

impl Host {
    pub(crate) fn current() -> Host {
        Host { path: std::env::var_os("PATH").unwrap_or_default(), root: crate::sandbox::is_root() }
    }

    fn command(&self, program: &str) -> Command {
        // A PATH set on the command is also where the program is looked up.
        let mut cmd = Command::new(program);
        cmd.env("PATH", &self.path).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    }
}

/// The packages of `packages` that dpkg does not report as installed.
pub(crate) fn missing<'a>(host: &Host, packages: &[(&'a str, &'a str)]) -> Result<Vec<(&'a str, &'a str)>> {
    let mut missing = Vec::new();
    for &(package, why) in packages {
        let out = host
            .command("dpkg-query")
            .args(["-W", "-f=${Status}", package])
            .stderr(Stdio::null())
            .output()
            .context("failed to run dpkg-query (the tests need a Debian or Ubuntu machine)")?;
        if !String::from_utf8_lossy(&out.stdout).contains("install ok installed") {
            missing.push((package, why));
        }
    }
    Ok(missing)
}

/// Install the missing packages, or with `no_install` fail naming them.
/// `command` is what needs them (`cargo xtask test`), for the messages.
pub(crate) fn ensure_packages(host: &Host, command: &str, packages: &[(&str, &str)], no_install: bool) -> Result<()> {
    let missing = missing(host, packages)?;
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = missing.iter().map(|(p, _)| *p).collect();
    if no_install {
        bail!(
            "{command} needs {}, which are not installed (--no-install); install them with \
             `apt-get install -y --no-install-recommends {}`",
            names.join(", "),
            names.join(" ")
        );
    }
    if !host.root {
        bail!(
            "{command} needs {}; run `{command}` as root to install them, or install them \
             with `apt-get install -y --no-install-recommends {}`",
            names.join(", "),
            names.join(" ")
        );
    }
    let why: Vec<String> = missing.iter().map(|(p, why)| format!("{p} ({why})")).collect();
    eprintln!("xtask: installing {}", why.join(", "));
    run(host.command("apt-get").args(["update", "-qq"]))?;
    run(host.command("apt-get").args(["install", "-y", "-qq", "--no-install-recommends"]).args(&names))?;
    Ok(())
}

/// rustfmt and clippy (a minimal rustup profile lacks them) and cargo-fuzz at
/// [`CARGO_FUZZ_VERSION`].
pub(crate) fn ensure_cargo_tools(no_install: bool) -> Result<()> {
    let rustup = Command::new("rustup").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    if rustup.is_ok_and(|s| s.success()) && !no_install {
        let _ = Command::new("rustup")
            .args(["component", "add", "rustfmt", "clippy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let version = Command::new(&cargo).args(["fuzz", "--version"]).stderr(Stdio::null()).output();
    let wanted = format!("cargo-fuzz {CARGO_FUZZ_VERSION}");
    if version.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == wanted) {
        return Ok(());
    }
    if no_install {
        bail!(
            "the fuzz run needs {wanted} (--no-install); install it with \
             `cargo install cargo-fuzz --version {CARGO_FUZZ_VERSION} --locked`"
        );
    }
    eprintln!("xtask: installing {wanted} (the fuzz run)");
    run(Command::new(&cargo).args(["install", "cargo-fuzz", "--version", CARGO_FUZZ_VERSION, "--locked", "--quiet"]))
}

fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("failed to run {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! `cargo xtask demo`: build `tf`, boot a private systemd, and walk through the sample services
//! (`examples/hello.toml`): create, run, status, logs, history, next. Works on any Linux host as
//! root, also where systemd is not PID 1.

use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};

use crate::sandbox::{Sandbox, install_signal_handler};
use crate::test_systemd::Metadata;

const STEPS: &[&[&str]] = &[
    &["create", "examples/hello.toml"],
    &["start", "hello", "--wait"],
    &["status"],
    &["logs", "hello", "-n", "5"],
    &["history"],
    &["next", "-n", "2"],
];

pub(crate) fn run() -> Result<ExitCode> {
    // A fresh machine may lack what a private systemd boots with: install it (as root, saying
    // what and why), as `cargo xtask test` does.
    let host = crate::prerequisites::Host::current();
    crate::prerequisites::ensure_packages(&host, "cargo xtask demo", crate::prerequisites::SANDBOX_PACKAGES, false)?;
    let meta = Metadata::read()?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--quiet", "-p", "taskflows-cli"])
        .status()
        .context("failed to run cargo build")?;
    if !status.success() {
        bail!("building tf failed");
    }
    let tf = meta.target_dir.join("debug/tf");
    install_signal_handler()?;
    let sandbox = Sandbox::boot(&meta.sandbox_config())?;
    let mut failed = false;
    for step in STEPS {
        println!("\n$ tf {}", step.join(" "));
        let mut cmd = sandbox.command_in(&meta.workspace_root, &tf);
        cmd.args(*step).env("TASKFLOWS_DISPLAY_TIMEZONE", "UTC").stdin(Stdio::null());
        let ok = sandbox.spawn(&mut cmd).and_then(|mut c| Ok(c.wait()?)).map(|s| s.success());
        if !matches!(ok, Ok(true)) {
            failed = true;
            break;
        }
    }
    sandbox.teardown()?;
    if failed {
        bail!("a demo step failed");
    }
    println!("\nThe sandbox is gone. On a host where systemd runs, `tf create examples/hello.toml` does the same.");
    Ok(ExitCode::SUCCESS)
}

//! `cargo xtask bench-systemd`: build the backend's benchmark and run it inside a private
//! systemd, in system scope (and user scope with `--user`).

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

use crate::sandbox::{Sandbox, USER_ENV, install_signal_handler};
use crate::test_systemd::Metadata;

pub(crate) fn run(user: bool) -> Result<ExitCode> {
    let meta = Metadata::read()?;
    let bench = build()?;
    install_signal_handler()?;
    let sandbox = Sandbox::boot(&meta.sandbox_config())?;
    let mut inner = sandbox.command_in(&meta.workspace_root, &bench);
    inner.env("TF_IN_SANDBOX", "1").env("TF_BIN", build_tf()?);
    if user {
        inner.env("TF_TEST_SCOPE", "user").envs(USER_ENV);
    } else {
        inner.env("TF_TEST_SCOPE", "system");
    }
    let status = sandbox.spawn(&mut inner).and_then(|mut child| Ok(child.wait()?));
    sandbox.teardown()?;
    let status = status?;
    Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The release `tf`, which the benchmark also times as a whole command.
pub(crate) fn build_tf() -> Result<PathBuf> {
    let meta = Metadata::read()?;
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--release", "--quiet", "-p", "taskflows-cli"])
        .status()
        .context("failed to run cargo build")?;
    if !status.success() {
        bail!("building tf failed");
    }
    Ok(meta.target_dir.join("release/tf"))
}

/// `cargo bench --no-run` for the backend's benchmark, returning the executable.
fn build() -> Result<PathBuf> {
    let mut child = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args([
            "bench",
            "-p",
            "taskflows-systemd",
            "--bench",
            "systemd",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to run cargo bench --no-run")?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let mut executable = None;
    for line in BufReader::new(stdout).lines() {
        let msg: Value = serde_json::from_str(&line?).unwrap_or(Value::Null);
        if let Some(exe) = msg["executable"].as_str()
            && msg["target"]["name"] == "systemd"
        {
            executable = Some(PathBuf::from(exe));
        }
    }
    if !child.wait()?.success() {
        bail!("building the benchmark failed");
    }
    executable.context("cargo reported no benchmark executable")
}

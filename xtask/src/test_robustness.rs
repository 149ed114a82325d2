//! `cargo xtask test-robustness`: the tests that try to break taskflows — `tf create` killed at
//! every step and concurrent creates (kill -9 convergence, the lock), secret canaries, generated
//! env files read by tf and by systemd, generated services whose values systemd must hold as the
//! spec means them, path escapes, a stalled bus (in the sandbox and on the host) — and then the
//! fuzz targets, ending with one line of their figures.

use std::process::{Command, ExitCode};

use anyhow::{Context as _, Result};

use crate::test_systemd::{self, Metadata};

/// The real-systemd tests whose names contain one of these are the robustness tests;
/// `cargo xtask test-systemd -- --skip …` leaves them to this task.
pub(crate) const SANDBOX_TESTS: [&str; 5] = ["convergence::", "secrets::", "envfile::", "paths::", "changed::"];

pub(crate) fn run(fuzz_seconds: u64) -> Result<ExitCode> {
    let meta = Metadata::read()?;
    let filters: Vec<String> = SANDBOX_TESTS.iter().map(|f| (*f).to_owned()).collect();
    let sandbox = test_systemd::run(&filters)?;
    // test-systemd starts the figures afresh; the host's tests and the fuzz run add to them.
    let figures = test_systemd::figures_path(&meta);
    let host = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["test", "--workspace", "--locked", "--", "stall::", "stalled_bus", "generated_services"])
        .env("TF_FIGURES", &figures)
        .status()
        .context("failed to run cargo test")?;
    let fuzz = crate::fuzz::run_with(&["--seconds".to_owned(), fuzz_seconds.to_string()], Some(&figures))?;
    let lines = std::fs::read_to_string(&figures).unwrap_or_default();
    let summary: Vec<&str> = lines.lines().map(|l| l.trim_start_matches("figure ")).collect();
    let parts = [
        ("sandbox tests", sandbox == ExitCode::SUCCESS),
        ("host tests", host.success()),
        ("fuzz", fuzz == ExitCode::SUCCESS),
    ];
    let failed = parts.iter().filter(|(_, ok)| !ok).count();
    println!();
    println!("robustness: {}", summary.join(" · "));
    println!("robustness: {} passed, {failed} failed", parts.len() - failed);
    Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

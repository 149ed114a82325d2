//! `cargo xtask test`: the README's command 2 and CI's one step. Installs what the tests need
//! ([`prerequisites`]), then runs what CI runs: formatting, clippy, the dependency and feature
//! checks, the unit and integration tests, the real-systemd tests in a private systemd and the
//! robustness tests with a short fuzz run. Each step says how long it took; the first failure
//! ends the run, after the table of the steps so far.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{deps, features, prerequisites, test_robustness, test_systemd};

pub(crate) const USAGE: &str = "usage: cargo xtask test [--no-install] [--quick]";

pub(crate) struct Options {
    /// Fail naming the missing packages and tools instead of installing them.
    pub(crate) no_install: bool,
    /// Formatting, clippy and `cargo test` only: no dependency or feature check, no private
    /// systemd, no robustness or fuzz run.
    pub(crate) quick: bool,
}

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Options> {
        let mut options = Options { no_install: false, quick: false };
        for arg in args {
            match arg.as_str() {
                "--no-install" => options.no_install = true,
                "--quick" => options.quick = true,
                other => bail!("test: unexpected argument {other:?}; {USAGE}"),
            }
        }
        Ok(options)
    }
}

/// The steps run so far and how long each took.
#[derive(Default)]
struct Steps(Vec<(&'static str, Duration, bool)>);

impl Steps {
    /// Run one step, print how long it took, and keep its outcome.
    fn run(&mut self, title: &'static str, step: impl FnOnce() -> Result<ExitCode>) -> Result<()> {
        eprintln!("xtask: test: {title}");
        let start = Instant::now();
        let result = step();
        let took = start.elapsed();
        let ok = matches!(result, Ok(ExitCode::SUCCESS));
        eprintln!("xtask: test: {title}: {} in {}", if ok { "ok" } else { "FAILED" }, Secs(took));
        self.0.push((title, took, ok));
        match result {
            Ok(code) if code == ExitCode::SUCCESS => Ok(()),
            Ok(_) => bail!("{title} failed"),
            Err(e) => Err(e.context(format!("{title} failed"))),
        }
    }

    fn print(&self) {
        eprintln!("xtask: test: steps");
        for (title, took, ok) in &self.0 {
            eprintln!("  {:>8} {:<6} {title}", Secs(*took).to_string(), if *ok { "ok" } else { "FAILED" });
        }
        let total: Duration = self.0.iter().map(|(_, t, _)| *t).sum();
        eprintln!("  {:>8} total", Secs(total).to_string());
    }
}

/// A duration in whole seconds (`83 s`).
struct Secs(Duration);

impl std::fmt::Display for Secs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} s", self.0.as_secs_f64().round())
    }
}

pub(crate) fn run(options: &Options) -> Result<ExitCode> {
    let mut steps = Steps::default();
    let result = run_steps(options, &mut steps);
    steps.print();
    result.map(|()| ExitCode::SUCCESS)
}

fn run_steps(options: &Options, steps: &mut Steps) -> Result<()> {
    steps.run("prerequisites", || {
        let host = prerequisites::Host::current();
        prerequisites::ensure_packages(&host, "cargo xtask test", prerequisites::PACKAGES, options.no_install)?;
        if !options.quick {
            prerequisites::ensure_cargo_tools(options.no_install)?;
        }
        Ok(ExitCode::SUCCESS)
    })?;
    steps.run("cargo fmt --check", || {
        cargo(&[&["fmt", "--all", "--check"], &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--check"]])
    })?;
    steps.run("cargo clippy", || {
        cargo(&[
            &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"],
            // the fuzz crate is a workspace of its own; --locked also checks its committed Cargo.lock
            &["clippy", "--manifest-path", "fuzz/Cargo.toml", "--all-targets", "--locked", "--", "-D", "warnings"],
        ])
    })?;
    if !options.quick {
        // Offline: cargo's local copy of the index, releases up to the lock files' last commit.
        steps.run("cargo xtask deps", || deps::run(&[]))?;
        steps.run("cargo xtask features", features::run)?;
    }
    steps.run("cargo test --workspace", || cargo(&[&["test", "--workspace", "--locked"]]))?;
    if options.quick {
        eprintln!("xtask: test: --quick: the real-systemd, robustness and fuzz runs skipped");
        return Ok(());
    }
    // The robustness tests run once, in test-robustness (with their figures), not here.
    let skips: Vec<String> =
        test_robustness::SANDBOX_TESTS.iter().flat_map(|s| ["--skip".to_owned(), (*s).to_owned()]).collect();
    steps.run("cargo xtask test-systemd", || test_systemd::run(&skips))?;
    // Every fuzz target for 15 s (a crash fails the run); ends with the figures.
    steps.run("cargo xtask test-robustness --fuzz-seconds 15", || test_robustness::run(15))?;
    Ok(())
}

/// Run cargo with each argument list in turn, in the workspace's root; the first failure ends
/// the step.
fn cargo(runs: &[&[&str]]) -> Result<ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for args in runs {
        let status = Command::new(&cargo)
            .args(*args)
            .current_dir(crate::workspace_root())
            .status()
            .with_context(|| format!("failed to run cargo {}", args.join(" ")))?;
        if !status.success() {
            bail!("`cargo {}` failed", args.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

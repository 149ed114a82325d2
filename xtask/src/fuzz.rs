//! `cargo xtask fuzz`: build the cargo-fuzz targets of `fuzz/` and run each for a while.
//!
//! cargo-fuzz passes nightly-only flags (`-Zsanitizer`, `-Cpasses=sancov-module`); with the
//! stable toolchain they are accepted under `RUSTC_BOOTSTRAP=1`. Targets are built without a
//! sanitizer: the workspace forbids `unsafe`, and what the targets look for are panics and
//! broken round trips, which need no AddressSanitizer (it doubles the build and halves the
//! executions). Each target's working corpus is `fuzz/corpus/TARGET` (not committed), seeded
//! from the committed `fuzz/seeds/TARGET`, with the tokens of `fuzz/dicts/TARGET.dict` when there
//! is one; crash inputs go to `fuzz/artifacts/TARGET/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

/// The cargo-fuzz release `.ci/run` installs (keep the two equal); it builds with Rust 1.95.
pub(crate) const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// What one target's run gave.
struct Outcome {
    target: String,
    execs: u64,
    /// The input that crashed it (panic, timeout or out of memory), when one did.
    crash: Option<String>,
    ok: bool,
}

pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    run_with(args, None)
}

/// [`run`], appending the summary as a figure line to `figures` (`cargo xtask test-robustness`).
pub(crate) fn run_with(args: &[String], figures: Option<&Path>) -> Result<ExitCode> {
    let (seconds, mut targets) = parse_args(args)?;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let root = root.canonicalize().context("cannot find the workspace root")?;
    check_cargo_fuzz(&root)?;
    let all = list_targets(&root)?;
    if let Some(unknown) = targets.iter().find(|t| !all.contains(t)) {
        bail!("fuzz: no target {unknown:?}; the targets are {}", all.join(", "));
    }
    if targets.is_empty() {
        targets = all;
    }
    let started = Instant::now();
    eprintln!("fuzz: building {} targets", targets.len());
    let status = cargo_fuzz(&root)
        .args(["build", "--sanitizer=none"])
        .args(if targets.len() == 1 { &targets[..] } else { &[] })
        .status()
        .context("failed to run cargo fuzz build")?;
    if !status.success() {
        bail!("fuzz: building the targets failed");
    }
    let built = started.elapsed();
    let mut outcomes = Vec::new();
    for target in &targets {
        let outcome = run_target(&root, target, seconds)?;
        match (&outcome.crash, outcome.ok) {
            (_, true) => eprintln!("fuzz: {target}: {} execs in {seconds} s, no crash", outcome.execs),
            (Some(input), false) => eprintln!(
                "fuzz: {target}: CRASH after {} execs; input: {input}\n      reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer=none {target} {input}",
                outcome.execs
            ),
            (None, false) => eprintln!("fuzz: {target}: libFuzzer failed without a crash input (see the log above)"),
        }
        outcomes.push(outcome);
    }
    let execs: u64 = outcomes.iter().map(|o| o.execs).sum();
    let crashes = outcomes.iter().filter(|o| !o.ok).count();
    println!(
        "fuzz: {} target{} × {execs} execs, {crashes} crash{} ({} s build, {} s total)",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" },
        if crashes == 1 { "" } else { "es" },
        built.as_secs(),
        started.elapsed().as_secs()
    );
    for o in outcomes.iter().filter(|o| !o.ok) {
        println!("fuzz: crashed: {} {}", o.target, o.crash.as_deref().unwrap_or("(no input written)"));
    }
    // For `cargo xtask test-robustness`'s line of figures.
    if let Some(path) = figures {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            let _ =
                writeln!(file, "figure [host]: fuzz: {} targets × {execs} execs, {crashes} crashes", outcomes.len());
        }
    }
    Ok(if crashes == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// `[--seconds N] [TARGET…]`; 20 s per target by default.
fn parse_args(args: &[String]) -> Result<(u64, Vec<String>)> {
    let mut seconds = 20;
    let mut targets = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if let Some(value) = arg.strip_prefix("--seconds=") {
            seconds = value.parse().with_context(|| format!("fuzz: --seconds {value:?} is not a number"))?;
        } else if arg == "--seconds" {
            let value = args.next().context("fuzz: --seconds needs a number")?;
            seconds = value.parse().with_context(|| format!("fuzz: --seconds {value:?} is not a number"))?;
        } else if arg.starts_with('-') {
            bail!("fuzz: unexpected option {arg:?}; usage: cargo xtask fuzz [--seconds N] [TARGET...]");
        } else {
            targets.push(arg.clone());
        }
    }
    if seconds == 0 {
        bail!("fuzz: --seconds must be at least 1");
    }
    Ok((seconds, targets))
}

/// `cargo fuzz` in the workspace root, on the stable toolchain.
fn cargo_fuzz(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.arg("fuzz").current_dir(root).env("RUSTC_BOOTSTRAP", "1");
    cmd
}

fn check_cargo_fuzz(root: &Path) -> Result<()> {
    let found = cargo_fuzz(root)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        bail!(
            "fuzz: cargo-fuzz is not installed; install it with `cargo install cargo-fuzz --version {CARGO_FUZZ_VERSION} --locked`"
        );
    }
    Ok(())
}

fn list_targets(root: &Path) -> Result<Vec<String>> {
    let out = cargo_fuzz(root).arg("list").output().context("failed to run cargo fuzz list")?;
    if !out.status.success() {
        bail!("fuzz: cargo fuzz list failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Run one target for `seconds`; libFuzzer's output goes to `fuzz/target/xtask-TARGET.log`, and
/// its tail to stderr when the target fails.
fn run_target(root: &Path, target: &str, seconds: u64) -> Result<Outcome> {
    let fuzz = root.join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
    let log_path = fuzz.join("target").join(format!("xtask-{target}.log"));
    // With CARGO_TARGET_DIR set, cargo-fuzz builds elsewhere and fuzz/target may not exist.
    std::fs::create_dir_all(fuzz.join("target")).with_context(|| format!("cannot create {}/target", fuzz.display()))?;
    let log = std::fs::File::create(&log_path).with_context(|| format!("cannot create {}", log_path.display()))?;
    eprintln!("fuzz: running {target} for {seconds} s");
    let mut cmd = cargo_fuzz(root);
    cmd.args(["run", "--sanitizer=none", target]).arg(&corpus).arg(fuzz.join("seeds").join(target)).arg("--");
    let dict = fuzz.join("dicts").join(format!("{target}.dict"));
    if dict.exists() {
        cmd.arg(format!("-dict={}", dict.display()));
    }
    let status = cmd
        .arg(format!("-max_total_time={seconds}"))
        // One input may take this long before it counts as a hang.
        .arg("-timeout=30")
        .arg("-print_final_stats=1")
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("failed to run cargo fuzz run {target}"))?;
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let outcome = Outcome {
        target: target.to_owned(),
        execs: executions(&text),
        crash: crash_input(&text),
        ok: status.success(),
    };
    if !outcome.ok {
        let lines: Vec<&str> = text.lines().collect();
        eprintln!("fuzz: {target} failed ({status}); the end of {}:", log_path.display());
        for line in &lines[lines.len().saturating_sub(40)..] {
            eprintln!("  {line}");
        }
    }
    Ok(outcome)
}

/// libFuzzer's count of executions: `stat::number_of_executed_units: N`, else `Done N runs`,
/// else the last `#N` status line.
fn executions(log: &str) -> u64 {
    let number = |s: &str| s.split_whitespace().next().and_then(|n| n.parse::<u64>().ok());
    let last = |prefix: &str| log.lines().rev().find_map(|l| l.strip_prefix(prefix).and_then(number));
    last("stat::number_of_executed_units:").or_else(|| last("Done ")).or_else(|| last("#")).unwrap_or(0)
}

/// The input libFuzzer saved: `Test unit written to PATH`.
fn crash_input(log: &str) -> Option<String> {
    log.lines().rev().find_map(|l| l.split_once("Test unit written to ").map(|(_, path)| path.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzers_figures() {
        let log = "#1024\tpulse  cov: 10\nDone 219563 runs in 9 second(s)\nstat::number_of_executed_units: 219564\n";
        assert_eq!(executions(log), 219_564);
        assert_eq!(executions("#77\tNEW cov: 3\nDone 80 runs in 1 second(s)\n"), 80);
        assert_eq!(executions("#77\tNEW cov: 3\n"), 77);
        let crash = "artifact_prefix='/w/fuzz/artifacts/env_file/'; Test unit written to /w/fuzz/artifacts/env_file/crash-be7e\n";
        assert_eq!(crash_input(crash).as_deref(), Some("/w/fuzz/artifacts/env_file/crash-be7e"));
        assert_eq!(crash_input("Done 1 runs\n"), None);
    }

    #[test]
    fn arguments() {
        let args = |a: &[&str]| parse_args(&a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(args(&[]).unwrap(), (20, vec![]));
        assert_eq!(args(&["--seconds", "3600", "env_file"]).unwrap(), (3600, vec!["env_file".to_owned()]));
        assert_eq!(args(&["--seconds=5"]).unwrap(), (5, vec![]));
        assert!(args(&["--seconds", "x"]).is_err() && args(&["--bogus"]).is_err() && args(&["--seconds=0"]).is_err());
    }
}

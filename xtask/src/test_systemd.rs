//! `cargo xtask test-systemd`: runs the workspace's real-systemd tests in a [`Sandbox`].
//!
//! Convention: every `#[ignore = "needs real systemd: cargo xtask test-systemd"]` test is a
//! real-systemd test. This task builds every test binary on the host, boots one sandbox with
//! the workspace and the target dir shared at the same paths, and runs each binary with
//! `--ignored` twice: with `TF_TEST_SCOPE=system`, then with `TF_TEST_SCOPE=user` and the
//! user-bus environment. Both runs set `TF_IN_SANDBOX=1`. It ends with `N passed, N failed`.
//! Before the sandbox boots it starts a private dockerd on the host ([`Dockerd`]); the tests get
//! `DOCKER_HOST` and `TF_TEST_DOCKER_IMAGE`, and it is stopped after the sandbox's teardown.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::dockerd::{self, Dockerd};
use crate::proc;
use crate::sandbox::{self, Sandbox, SandboxConfig, USER_ENV};

/// Per test binary; `timeout` inside the sandbox enforces it, the host adds a grace period.
const BINARY_TIMEOUT: Duration = Duration::from_secs(600);
const SCOPES: [&str; 2] = ["system", "user"];

pub(crate) struct Metadata {
    pub(crate) workspace_root: PathBuf,
    pub(crate) target_dir: PathBuf,
}

impl Metadata {
    pub(crate) fn read() -> Result<Metadata> {
        let out = Command::new(cargo())
            .args(["metadata", "--format-version", "1", "--no-deps"])
            .stderr(Stdio::inherit())
            .output()
            .context("failed to run cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed");
        }
        let meta: Value = serde_json::from_slice(&out.stdout)?;
        let path = |key: &str| -> Result<PathBuf> {
            Ok(PathBuf::from(meta[key].as_str().with_context(|| format!("cargo metadata has no {key}"))?))
        };
        Ok(Metadata { workspace_root: path("workspace_root")?, target_dir: path("target_directory")? })
    }

    pub(crate) fn sandbox_config(&self) -> SandboxConfig {
        SandboxConfig {
            share: vec![self.workspace_root.clone(), self.target_dir.clone()],
            state_dir: self.target_dir.join("xtask-sandbox"),
        }
    }
}

/// One test executable, as cargo reported it.
struct TestBinary {
    executable: PathBuf,
    /// The package folder: cargo test's working directory.
    package_dir: PathBuf,
    /// `package::target (kind)`, for headings.
    label: String,
}

#[derive(Default, Clone, Copy)]
struct Tally {
    passed: u64,
    failed: u64,
}

pub(crate) fn run(filters: &[String]) -> Result<ExitCode> {
    // The UI benchmark runs only under `cargo xtask bench-ui`: elsewhere it would pass without
    // measuring anything.
    let mut filters = filters.to_vec();
    filters.extend(["--skip".to_owned(), BENCH_UI.to_owned()]);
    run_with(&filters, &[])
}

/// The UI benchmark's test (`cargo xtask bench-ui`).
pub(crate) const BENCH_UI: &str = "api::pages::bench_ui";

/// [`run`], with more variables for the tests (`cargo xtask bench-ui`).
pub(crate) fn run_with(filters: &[String], extra: &[(String, String)]) -> Result<ExitCode> {
    let started = Instant::now();
    let meta = Metadata::read()?;
    let binaries = build_tests()?;
    let build_time = started.elapsed();
    eprintln!("xtask: built {} test binaries in {:.1}s", binaries.len(), build_time.as_secs_f64());

    sandbox::install_signal_handler()?;
    // Started before the sandbox, on the host; the socket is in the shared target dir.
    let dockerd = Dockerd::start(&meta.target_dir.join("xtask-docker"))?;
    let env =
        [("DOCKER_HOST".to_owned(), dockerd.host()), ("TF_TEST_DOCKER_IMAGE".to_owned(), dockerd::IMAGE.to_owned())];
    let sandbox = Sandbox::boot(&meta.sandbox_config())?;
    // Tests append lines of figures here (kill points, canaries …); printed at the end.
    let figures = figures_path(&meta);
    let _ = std::fs::remove_file(&figures);
    let mut env = env.to_vec();
    env.push(("TF_FIGURES".to_owned(), figures.display().to_string()));
    env.extend(extra.iter().cloned());
    let tests_started = Instant::now();
    let mut total = Tally::default();
    let mut summaries = Vec::new();
    for scope in SCOPES {
        let mut tally = Tally::default();
        for binary in &binaries {
            let t = run_binary(&sandbox, binary, scope, filters, &env)?;
            tally.passed += t.passed;
            tally.failed += t.failed;
        }
        let line = format!(
            "scope {scope}: {} passed, {} failed ({} test binaries)",
            tally.passed,
            tally.failed,
            binaries.len()
        );
        eprintln!("xtask: {line}");
        summaries.push(line);
        total.passed += tally.passed;
        total.failed += tally.failed;
    }
    let test_time = tests_started.elapsed();
    let boot_time = sandbox.boot_time();
    let teardown = sandbox.teardown();
    let docker_teardown = dockerd.stop();

    println!();
    for line in &summaries {
        println!("{line}");
    }
    println!(
        "time: build {:.1}s, boot {:.1}s, tests {:.1}s, teardown {}",
        build_time.as_secs_f64(),
        boot_time.as_secs_f64(),
        test_time.as_secs_f64(),
        match &teardown {
            Ok(t) => format!("{:.1}s", t.as_secs_f64()),
            Err(_) => "failed".to_owned(),
        }
    );
    let figures = std::fs::read_to_string(&figures).unwrap_or_default();
    if !figures.is_empty() {
        println!("figures:");
        print!("{figures}");
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    teardown?;
    docker_teardown?;
    Ok(if total.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Where tests write their figures (`TF_FIGURES`): in the target dir, which the sandbox shares.
pub(crate) fn figures_path(meta: &Metadata) -> PathBuf {
    meta.target_dir.join("xtask-sandbox").join("figures.txt")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// `cargo test --workspace --no-run`, collecting the executables from cargo's JSON messages.
fn build_tests() -> Result<Vec<TestBinary>> {
    let mut child = Command::new(cargo())
        .args(["test", "--workspace", "--no-run", "--message-format=json-render-diagnostics"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to run cargo test --no-run")?;
    let stdout = child.stdout.take().context("stdout is piped")?;
    let mut binaries = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let msg: Value = match serde_json::from_str(&line?) {
            Ok(msg) => msg,
            Err(_) => continue,
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = msg["executable"].as_str() else {
            continue;
        };
        let manifest = Path::new(msg["manifest_path"].as_str().unwrap_or_default());
        let package = msg["package_id"].as_str().unwrap_or_default();
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        let kind = msg["target"]["kind"][0].as_str().unwrap_or_default();
        binaries.push(TestBinary {
            executable: PathBuf::from(executable),
            package_dir: manifest.parent().unwrap_or(Path::new("/")).to_path_buf(),
            label: format!("{}::{name} ({kind})", package_name(package)),
        });
    }
    if !child.wait()?.success() {
        bail!("building the tests failed");
    }
    binaries.sort_by(|a, b| a.label.cmp(&b.label));
    Ok(binaries)
}

/// `path+file:///work/x/xtask#0.0.0` or `registry…#name@1.0` → the package name.
fn package_name(id: &str) -> &str {
    let tail = id.rsplit('/').next().unwrap_or(id);
    let (before, after) = tail.split_once('#').unwrap_or((tail, ""));
    match after.split_once('@') {
        Some((name, _)) => name,
        None => before,
    }
}

/// Runs one binary's ignored tests in `scope`, streaming its output.
fn run_binary(
    sandbox: &Sandbox,
    binary: &TestBinary,
    scope: &str,
    filters: &[String],
    env: &[(String, String)],
) -> Result<Tally> {
    let mut cmd = sandbox.command_in(&binary.package_dir, "timeout");
    cmd.arg("--kill-after=10s")
        .arg(format!("{}s", BINARY_TIMEOUT.as_secs()))
        .arg(&binary.executable)
        .arg("--ignored")
        .args(filters)
        .env("TF_TEST_SCOPE", scope)
        .env("CARGO_MANIFEST_DIR", &binary.package_dir)
        .env("RUST_BACKTRACE", "1")
        // Tests keep env files, working folders and build contexts in temp folders, outside
        // the default allowed roots of the path policy.
        .env("TASKFLOWS_ALLOWED_PATHS", "/tmp")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        // Out of the terminal's foreground group: on Ctrl-C, xtask's handler stops the tests in
        // order; a nsenter killed by the terminal would orphan them inside the sandbox.
        .process_group(0);
    if scope == "user" {
        cmd.envs(USER_ENV);
    }
    let mut child = sandbox.spawn(&mut cmd)?;
    println!("\n=== [{scope}] {}", binary.label);
    let stdout = child.stdout.take().context("stdout is piped")?;
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + BINARY_TIMEOUT + Duration::from_secs(30);
    let mut result: Option<Tally> = None;
    let mut timed_out = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                println!("{line}");
                if let Some(t) = parse_result(&line) {
                    let r = result.get_or_insert_with(Tally::default);
                    r.passed += t.passed;
                    r.failed += t.failed;
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let status = match proc::wait_timeout(&mut child, Duration::from_secs(15))? {
        Some(status) => status,
        None => {
            let _ = child.kill();
            child.wait()?
        }
    };
    if !timed_out {
        let _ = reader.join();
    }
    let mut tally = result.unwrap_or_default();
    if !status.success() && tally.failed == 0 && !sandbox::interrupted() {
        // Crashed, timed out (timeout(1) exits 124) or never got to run its tests.
        let why = match status.code() {
            Some(124) => format!("timed out after {BINARY_TIMEOUT:?}"),
            _ if timed_out => "timed out".to_owned(),
            _ => format!("exited with {status}"),
        };
        eprintln!("xtask: [{scope}] {} {why}", binary.label);
        tally.failed += 1;
    }
    Ok(tally)
}

/// `test result: ok. 3 passed; 0 failed; 1 ignored; …`
fn parse_result(line: &str) -> Option<Tally> {
    let rest = line.strip_prefix("test result: ")?;
    let (_, counts) = rest.split_once(". ")?;
    let mut tally = Tally::default();
    for part in counts.split("; ") {
        let (n, what) = part.split_once(' ')?;
        match what {
            "passed" => tally.passed = n.parse().ok()?,
            "failed" => tally.failed = n.parse().ok()?,
            _ => {}
        }
    }
    Some(tally)
}

#[cfg(test)]
mod tests;

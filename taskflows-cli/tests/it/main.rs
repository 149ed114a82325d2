//! The real `tf` binary: what a user sees on stdout, stderr and in the exit code. Tests that
//! need systemd are `#[ignore]`d and run inside the private systemd of `cargo xtask test-systemd`.

mod api;
mod app;
mod browser;
mod changed;
mod conventions;
mod convergence;
mod docker;
mod envfile;
mod environments;
mod grafana;
mod metrics;
mod monitor;
mod offline;
mod paths;
mod sandbox;
mod secrets;
mod slack;
mod slack_fake;

use std::process::{Command, Output};

/// Run `tf` with `args` in the test's scope (`TF_TEST_SCOPE`, default system).
pub(crate) fn tf(args: &[&str]) -> Output {
    tf_env(args, &[])
}

/// [`tf`] with extra environment variables.
pub(crate) fn tf_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let scope = if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { "--user" } else { "--system" };
    Command::new(env!("CARGO_BIN_EXE_tf"))
        .arg(scope)
        .args(args)
        .env("NO_COLOR", "1")
        .env("TASKFLOWS_DISPLAY_TIMEZONE", "UTC")
        .env("TZ", "UTC")
        // Tests keep their files in temp folders, outside the default allowed roots.
        .env("TASKFLOWS_ALLOWED_PATHS", std::env::temp_dir())
        .envs(env.iter().copied())
        .output()
        .expect("tf runs")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The stdout of a command that must have succeeded (`what` names it in the failure).
pub(crate) fn ok(out: &Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}{}", stdout(out), stderr(out));
    stdout(out)
}

/// Poll `check` every `every` until it returns `Some`, failing after `limit` with `what` (which
/// may describe the last state seen).
pub(crate) fn wait_for<T>(
    limit: std::time::Duration,
    every: std::time::Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match check() {
            Ok(v) => return v,
            Err(what) => assert!(std::time::Instant::now() < deadline, "timed out after {limit:?}: {what}"),
        }
        std::thread::sleep(every);
    }
}

/// A line of figures for the run's output even when the test passes: written to the stderr
/// descriptor (past the test harness's capture), and appended to `TF_FIGURES` when set
/// (`cargo xtask test-systemd` collects them there and prints them at the end).
pub(crate) fn figure(line: &str) {
    use std::io::Write as _;
    // In the sandbox: the scope tested; a plain test runs on the host.
    let scope = std::env::var("TF_TEST_SCOPE").unwrap_or_else(|_| "host".to_owned());
    let line = format!("figure [{scope}]: {line}");
    let _ = writeln!(std::io::stderr(), "{line}");
    if let Some(path) = std::env::var_os("TF_FIGURES") {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        if let Ok(mut file) = file {
            let _ = writeln!(file, "{line}");
        }
    }
}

/// A service file in a temp folder.
pub(crate) fn service_file(content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("services.toml");
    std::fs::write(&path, content).expect("write service file");
    let path = path.display().to_string();
    (dir, path)
}

//! `cargo xtask`: the workspace's developer and CI tasks.
//!
//! It owns the real-systemd test harness: [`sandbox`] boots a private systemd in namespaces
//! over an overlay of the host's `/`, and [`test_systemd`] runs the workspace's
//! `#[ignore]`d tests inside it (see `docs/testing.md`). It does not own the product code, and
//! never touches the host's systemd configuration.

mod bench_api;
mod bench_systemd;
mod demo;
mod deps;
mod dockerd;
mod features;
mod fuzz;
mod prerequisites;
mod proc;
mod sandbox;
mod test_all;
mod test_robustness;
mod test_systemd;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [--no-install] [--quick]
                                everything CI runs (README command 2): as root, install the
                                Debian packages and cargo-fuzz the tests need (--no-install:
                                fail naming them), then fmt, clippy, deps, features, cargo
                                test, test-systemd and test-robustness; --quick: fmt, clippy
                                and cargo test only
  deps [--now] [--refresh]      fail when a direct dependency is a minor release behind the
                                newest of its compatible line published before the lock files'
                                last commit (--now: any), read offline from cargo's copy of the
                                index (--refresh: update that copy first, over the network)
  features                      cargo clippy -D warnings each library crate with
                                --no-default-features and with each of its features alone
  test-systemd [-- FILTER...]   build the workspace's tests, boot a private systemd and run
                                every #[ignore]d (real-systemd) test inside it, in system and
                                user scope; FILTERs are passed to the test binaries
  test-robustness [--fuzz-seconds N]
                                the tests that try to break taskflows (create killed at every
                                step, concurrent creates, secret canaries, env files against
                                systemd, path escapes, a stalled bus) and the fuzz targets (N s
                                each, default 15); ends with one line of their figures
  demo                          build tf and run the sample services in a private systemd
  bench-api [--seconds N] [--soak-seconds N]
                                the API server in a private systemd: signed GET /services (100
                                and 1,000 services) and /services/NAME/status at 64 connections
                                for N s each (default 30) against unsigned GET /health, idle
                                CPU and memory, and a soak at 200 req/s (default 60 s)
  bench-ui                      the web UI in headless Chromium, served by a release tf in a
                                private systemd with 1,000 services: the dashboard's first
                                contentful paint against a page without them, and how long a
                                state change takes to reach an open dashboard
  screenshots                   run the web UI's browser test in a private systemd and copy
                                its screenshots to docs/screenshots/ (the README shows them)
  man [DIR]                     write tf's man pages (tf.1, tf-logs.1, …) to DIR (default
                                target/man)
  bench-systemd [--user]        install 1,000 services in a private systemd and time create,
                                status and remove against systemctl as the baseline
  fuzz [--seconds N] [TARGET...]
                                build the cargo-fuzz targets of fuzz/ and run each for N
                                seconds (default 20; a long run: --seconds 3600); exits
                                non-zero on a crash and names the crash input
  sandbox [--user] [-- CMD...]  boot the same sandbox and run CMD in it (default: an
                                interactive shell); --user sets the user-bus environment
";

fn main() -> ExitCode {
    let result = run(std::env::args().skip(1).collect());
    if sandbox::interrupted() {
        // The signal handler tore the sandbox down (and exits 130 itself when it is done).
        return ExitCode::from(130);
    }
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<ExitCode> {
    let Some((task, rest)) = args.split_first() else {
        eprint!("{USAGE}");
        return Ok(ExitCode::from(2));
    };
    match task.as_str() {
        "test" => test_all::run(&test_all::Options::parse(rest)?),
        "deps" => deps::run(rest),
        "features" => features::run(),
        "test-systemd" => {
            let filters = strip_separator(rest);
            // `--skip NAME` passes through to the test binaries; other options are mistakes.
            let mut words = filters.iter();
            while let Some(word) = words.next() {
                if word == "--skip" {
                    words.next();
                } else if word.starts_with('-') {
                    bail!("test-systemd: unexpected option {word:?}; filters (and --skip NAME) go after `--`");
                }
            }
            test_systemd::run(filters)
        }
        "test-robustness" => {
            let seconds = match rest {
                [] => 15,
                [flag, n] if flag == "--fuzz-seconds" => {
                    n.parse().map_err(|_| anyhow::anyhow!("--fuzz-seconds {n:?}: a number of seconds"))?
                }
                _ => bail!("test-robustness: usage: cargo xtask test-robustness [--fuzz-seconds N]"),
            };
            test_robustness::run(seconds)
        }
        "demo" => demo::run(),
        "fuzz" => fuzz::run(rest),
        "bench-api" => bench_api::run(rest),
        // The load generator bench-api runs inside the sandbox.
        "bench-api-load" => bench_api::run_load(rest),
        "bench-systemd" => bench_systemd::run(rest.iter().any(|a| a == "--user")),
        "screenshots" => screenshots(),
        "man" => man(rest.first().map(String::as_str)),
        "bench-ui" => {
            let tf = bench_systemd::build_tf()?;
            let env =
                [("TF_BENCH_UI".to_owned(), "1".to_owned()), ("TF_SERVER_BIN".to_owned(), tf.display().to_string())];
            test_systemd::run_with(&[test_systemd::BENCH_UI.to_owned()], &env)
        }
        "sandbox" => {
            let (user, rest) = match rest.split_first() {
                Some((flag, rest)) if flag == "--user" => (true, rest),
                _ => (false, rest),
            };
            sandbox::run_command(strip_separator(rest), user)
        }
        "help" | "-h" | "--help" => {
            print!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        other => {
            eprint!("{USAGE}");
            bail!("unknown task {other:?}")
        }
    }
}

/// `cargo xtask man [DIR]`: tf's man pages, generated from its command definition by the `tf`
/// just built (`tf man-pages DIR`, a hidden command), so they never drift from `--help`.
fn man(dir: Option<&str>) -> Result<ExitCode> {
    let meta = test_systemd::Metadata::read()?;
    let dir = dir.map_or_else(|| meta.target_dir.join("man"), std::path::PathBuf::from);
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["run", "--quiet", "-p", "taskflows-cli", "--bin", "tf", "--", "man-pages"])
        .arg(&dir)
        .status()
        .context("failed to run cargo run")?;
    if !status.success() {
        bail!("writing the man pages failed");
    }
    let shown = dir.display();
    println!("man pages in {shown}; install: install -m 644 {shown}/*.1 /usr/local/share/man/man1/ && mandb");
    Ok(ExitCode::SUCCESS)
}

/// `cargo xtask screenshots`: the browser test saves its screenshots in the target folder; the
/// ones the README shows are copied to docs/screenshots/.
fn screenshots() -> Result<ExitCode> {
    let code = test_systemd::run(&["api::pages::the_web_ui_in_a_browser".to_owned()])?;
    if code != ExitCode::SUCCESS {
        bail!("the browser test failed; docs/screenshots/ is unchanged");
    }
    let meta = test_systemd::Metadata::read()?;
    let from = meta.target_dir.join("screenshots");
    let to = meta.workspace_root.join("docs/screenshots");
    std::fs::create_dir_all(&to)?;
    let mut copied = 0;
    for name in ["ui-dashboard", "ui-dashboard-phone", "ui-service", "ui-logs", "ui-environments", "ui-login-refused"] {
        let file = format!("{name}.png");
        std::fs::copy(from.join(&file), to.join(&file))
            .map_err(|e| anyhow::anyhow!("copy {}: {e}", from.join(&file).display()))?;
        copied += 1;
    }
    eprintln!("xtask: {copied} screenshots in {}", to.display());
    Ok(ExitCode::SUCCESS)
}

/// The workspace's root folder (xtask's parent), where the cargo commands of `test` run.
fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or(Path::new("."))
}

fn strip_separator(args: &[String]) -> &[String] {
    match args.split_first() {
        Some((sep, rest)) if sep == "--" => rest,
        _ => args,
    }
}

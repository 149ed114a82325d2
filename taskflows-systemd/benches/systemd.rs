//! The backend at scale, in a real systemd: `cargo xtask bench-systemd` runs this inside the
//! sandbox. It installs 1,000 services with timers and prints:
//! - the time to create them and how many daemon reloads that took (target: under 5 s, one);
//! - re-creating the same specs (target: nothing written, no reload);
//! - bulk status of all 1,000 against `systemctl list-units --all` plus
//!   `systemctl list-timers --all` for the same units, measured in the same run (target: at most
//!   1.0x that baseline through `tf status`, with every service run once);
//! - through `tf` (with `TF_BIN`): `tf create` again with nothing changed (target under 0.5 s),
//!   then with every file changed (target under 5 s);
//! - removing them all.

use std::time::{Duration, Instant};

use taskflows_core::{RenderContext, Scope, ServiceName, ServiceSpec};
use taskflows_systemd::Systemd;

const N: usize = 1_000;
const RUNS: usize = 5;

fn specs() -> Vec<ServiceSpec> {
    taskflows_core::file::parse_service_file("bench.toml", &specs_text()).expect("bench specs parse")
}

fn specs_text() -> String {
    let mut toml = String::new();
    for i in 0..N {
        let schedule = if i % 2 == 0 {
            format!("\"*-*-* {:02}:{:02}:00\"", i % 24, i % 60)
        } else {
            "{ period = \"1h\", start_on = \"command\" }".to_owned()
        };
        toml.push_str(&format!(
            "[[service]]\nname = \"bench-{i}\"\nstart_command = \"/bin/true\"\nstart_schedule = {schedule}\n\n"
        ));
    }
    toml
}

/// The same through the `tf` command, as a user runs it: `tf status` of all 1,000 against the
/// systemctl pair, and `tf create` of a 1,000-service file (re-created: nothing to write; then
/// with every file changed).
fn bench_tf(tf: &std::ffi::OsStr, scope: Scope, text: &str) {
    let flag = if scope == Scope::User { "--user" } else { "--system" };
    let run = |args: &[&str]| {
        let start = Instant::now();
        let out = std::process::Command::new(tf).arg(flag).args(args).output().expect("tf runs");
        assert!(out.status.success(), "tf {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        (start.elapsed(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let mut ours = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..RUNS {
        ours.push(run(&["status"]).0);
        baseline.push(systemctl(scope, &["list-units", "--all"]) + systemctl(scope, &["list-timers", "--all"]));
    }
    let (ours, baseline) = (median(ours), median(baseline));
    let ratio = ours.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "tf status: {:>6.1} ms  (systemctl pair {:.1} ms; ratio {ratio:.2}x, target at most 1.0x: {})",
        ours.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        if ratio <= 1.0 { "met" } else { "MISSED" }
    );
    let dir = std::env::temp_dir().join("tf-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("services.toml");
    std::fs::write(&file, text).unwrap();
    // The first create through tf records the definitions; the second is the one to measure.
    let _ = run(&["create", file.to_str().unwrap()]);
    let (t, out) = run(&["create", file.to_str().unwrap()]);
    println!(
        "tf create (1,000 unchanged): {:>6.2} s  ({}; target under 0.5 s: {})",
        t.as_secs_f64(),
        out.lines().last().unwrap_or(""),
        if t.as_secs_f64() < 0.5 { "met" } else { "MISSED" }
    );
    std::fs::write(&file, text.replace("/bin/true", "/bin/true --changed")).unwrap();
    let (t, out) = run(&["create", file.to_str().unwrap()]);
    println!(
        "tf create (1,000 changed): {:>6.2} s  ({}; target under 5 s: {})",
        t.as_secs_f64(),
        out.lines().last().unwrap_or(""),
        if t.as_secs_f64() < 5.0 { "met" } else { "MISSED" }
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn systemctl(scope: Scope, args: &[&str]) -> Duration {
    let start = Instant::now();
    let mut cmd = std::process::Command::new("systemctl");
    if scope == Scope::User {
        cmd.arg("--user");
    }
    let out = cmd.args(args).args(["--no-pager", "--no-legend"]).output().expect("systemctl runs");
    assert!(out.status.success(), "systemctl {args:?} failed");
    start.elapsed()
}

async fn measure_status(systemd: &Systemd, scope: Scope, names: &[ServiceName], case: &str) {
    let mut ours = Vec::new();
    let mut baseline = Vec::new();
    for _ in 0..RUNS {
        let start = Instant::now();
        let states = systemd.status(names).await.expect("status");
        ours.push(start.elapsed());
        assert_eq!(states.len(), N);
        assert!(
            states.iter().all(|s| s.timer_active == Some(taskflows_systemd::ActiveState::Active)),
            "every timer runs"
        );
        baseline.push(systemctl(scope, &["list-units", "--all"]) + systemctl(scope, &["list-timers", "--all"]));
    }
    let (ours, baseline) = (median(ours), median(baseline));
    let ratio = ours.as_secs_f64() / baseline.as_secs_f64();
    println!(
        "status ({case}): {:>6.1} ms  (systemctl list-units --all + list-timers --all: {:.1} ms; ratio {ratio:.2}x, target at most 1.0x: {})",
        ours.as_secs_f64() * 1e3,
        baseline.as_secs_f64() * 1e3,
        if ratio <= 1.0 { "met" } else { "MISSED" }
    );
}

fn main() {
    if std::env::var_os("TF_IN_SANDBOX").is_none() {
        eprintln!("this benchmark installs 1,000 units: run it with `cargo xtask bench-systemd`");
        std::process::exit(2);
    }
    let scope = if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { Scope::User } else { Scope::System };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(bench(scope));
}

async fn bench(scope: Scope) {
    let systemd = Systemd::connect(scope).await.expect("systemd is reachable");
    let specs = specs();
    let names: Vec<ServiceName> = specs.iter().map(|s| s.name.clone()).collect();
    let mut ctx = RenderContext::new(scope);
    ctx.systemd_version = Some(systemd.version().await.unwrap());
    println!("scope {scope:?}, systemd {}, {N} services with timers", ctx.systemd_version.unwrap());

    let start = Instant::now();
    let (reloads, report) =
        systemd.reloads_during(Duration::from_millis(300), systemd.create(&specs, &ctx)).await.expect("watch reloads");
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            let journal = std::process::Command::new("journalctl").args(["--no-pager", "-n", "3000"]).output().unwrap();
            panic!("create failed: {e}\n{}", String::from_utf8_lossy(&journal.stdout));
        }
    };
    let create = start.elapsed();
    println!(
        "create:   {:>8.2} s  ({} files written, {reloads} reload(s), {} jobs; target under 5 s and 1 reload: {})",
        create.as_secs_f64(),
        report.written.len(),
        report.jobs.len(),
        if create < Duration::from_secs(5) && reloads == 1 { "met" } else { "MISSED" }
    );

    let start = Instant::now();
    let (reloads, report) =
        systemd.reloads_during(Duration::from_millis(300), systemd.create(&specs, &ctx)).await.expect("watch reloads");
    let report = report.expect("re-create");
    println!(
        "re-create:{:>8.2} s  ({} files written, {reloads} reload(s))",
        start.elapsed().as_secs_f64(),
        report.written.len()
    );

    measure_status(&systemd, scope, &names, "never ran").await;
    // How a run ended is only read for services that ran: measure that case too.
    let start = Instant::now();
    let outcomes = systemd.start(&names, taskflows_systemd::Targets::Services).await.expect("start all");
    assert!(outcomes.iter().all(|o| o.ok()), "every run starts");
    println!("start:    {:>8.2} s  ({} services run once)", start.elapsed().as_secs_f64(), outcomes.len());
    measure_status(&systemd, scope, &names, "ran once").await;

    if let Some(tf) = std::env::var_os("TF_BIN") {
        bench_tf(&tf, scope, &specs_text());
    }

    let start = Instant::now();
    let removed = systemd.remove(&names).await.expect("remove");
    println!("remove:   {:>8.2} s  ({} files)", start.elapsed().as_secs_f64(), removed.len());
}

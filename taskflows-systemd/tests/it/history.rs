//! History of a unit with a long journal reads only what it shows.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use taskflows_core::Scope;
use taskflows_systemd::{ProcessExit, RunResult};

use crate::{scope, setup};

/// Lines the noisy run prints.
const LINES: u64 = 1_000_000;
/// Runs after it.
const RUNS: i32 = 24;

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn history_of_a_unit_with_a_million_journal_entries_reads_only_what_it_shows() {
    let (systemd, _guard) = setup().await;
    let unit = format!("tf-it-million-{}.service", std::process::id());
    let user = scope() == Scope::User;

    // One run that prints LINES lines, then RUNS short runs, every third one failing.
    journald_without_rate_limit();
    let start = Instant::now();
    let marker = format!("tf-it-million-done-{}", std::process::id());
    systemd_run(user, &unit, &format!("seq {LINES}; echo {marker}; sleep 0.5"));
    let ran = start.elapsed();
    // journald reads a stream behind its writer: wait for the last line.
    crate::wait_for("journald to store the last line", Duration::from_secs(120), || async {
        let mut cmd = Command::new("journalctl");
        cmd.args(["--no-pager", "--quiet", "--output=cat", &format!("MESSAGE={marker}")]);
        (!cmd.output().unwrap().stdout.is_empty()).then_some(())
    })
    .await;
    let written = start.elapsed();
    for i in 0..RUNS {
        systemd_run(user, &unit, &format!("exit {}", exit_status(i)));
    }
    let mut count = Command::new("journalctl");
    count.args(["--no-pager", "--quiet", "--output=cat", if user { "--user-unit" } else { "--unit" }, &unit]);
    let stored = count.output().unwrap().stdout.iter().filter(|&&b| b == b'\n').count();
    eprintln!(
        "{LINES} lines printed by one run of {unit} in {ran:.1?}, stored by journald in {written:.1?}; \
         journalctl -u counts {stored}"
    );
    assert!(stored as u64 >= LINES * 99 / 100, "journald kept {stored} of {LINES} lines");

    let peak = JournalctlPeak::start();
    let start = Instant::now();
    let runs = systemd.history(std::slice::from_ref(&unit), None, 20).await.unwrap();
    let took = start.elapsed();
    let (peak_kb, samples) = peak.stop();
    let start = Instant::now();
    let all = systemd.history(std::slice::from_ref(&unit), None, usize::MAX).await.unwrap();
    let took_all = start.elapsed();
    eprintln!(
        "history -l 20: {took:.1?}, journalctl peak RSS {} KiB ({samples} samples); all {} runs: {took_all:.1?}",
        peak_kb.map_or("not sampled".to_owned(), |k| k.to_string()),
        all.len()
    );

    let expected: Vec<i32> = (0..RUNS).rev().take(20).map(exit_status).collect();
    let got: Vec<Option<i32>> = runs.iter().map(|r| r.exit.as_ref().and_then(ProcessExit::status)).collect();
    assert_eq!(got, expected.iter().map(|&s| Some(s)).collect::<Vec<_>>(), "{runs:#?}");
    for (run, status) in runs.iter().zip(&expected) {
        let result = if *status == 0 { RunResult::Success } else { RunResult::ExitCode };
        assert_eq!((run.unit.as_str(), run.result), (unit.as_str(), result), "{run:?}");
        assert!(run.start.is_some() && run.end >= run.start, "{run:?}");
    }
    assert!(runs.windows(2).all(|w| w[0].start > w[1].start), "newest first: {runs:#?}");
    assert_eq!(all.len(), RUNS as usize + 1, "{all:#?}");
    assert_eq!(all[..20], runs[..], "the first 20 of a whole read");
    assert!(took <= Duration::from_secs(2), "{took:?}");
    assert!(peak_kb.is_none_or(|k| k <= 100 * 1024), "{peak_kb:?} KiB");
}

#[tokio::test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
async fn history_of_a_unit_with_thousands_of_runs_reads_only_the_newest() {
    let (systemd, _guard) = setup().await;
    let unit = format!("tf-it-many-runs-{}.service", std::process::id());
    let user = scope() == Scope::User;
    journald_without_rate_limit();

    // A service restarted as fast as systemd can, for a few seconds.
    let mut run = Command::new("systemd-run");
    if user {
        run.arg("--user");
    }
    run.args(["--quiet", "--collect", &format!("--unit={unit}")]).args([
        "-p",
        "Restart=always",
        "-p",
        "RestartSec=0",
        "-p",
        "StartLimitIntervalSec=0",
        "/bin/true",
    ]);
    assert!(run.status().unwrap().success());
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut stop = Command::new("systemctl");
    if user {
        stop.arg("--user");
    }
    assert!(stop.args(["stop", &unit]).status().unwrap().success());

    let start = Instant::now();
    let runs = systemd.history(std::slice::from_ref(&unit), None, 20).await.unwrap();
    let took = start.elapsed();
    let start = Instant::now();
    let all = systemd.history(std::slice::from_ref(&unit), None, usize::MAX).await.unwrap();
    let took_all = start.elapsed();
    eprintln!(
        "{} runs of {unit}: history -l 20 {took:.1?}, all {took_all:.1?} ({:.0}x)",
        all.len(),
        took_all.as_secs_f64() / took.as_secs_f64()
    );
    assert!(all.len() >= 500, "only {} runs", all.len());
    assert_eq!(runs.len(), 20);
    assert_eq!(all[..20], runs[..], "the first 20 of a whole read");
    assert!(runs.iter().all(|r| r.result == RunResult::Success && r.start.is_some()), "{runs:#?}");
    assert!(runs.windows(2).all(|w| w[0].start > w[1].start), "newest first: {runs:#?}");
    assert!(took <= Duration::from_secs(2), "{took:?}");
}

/// journald drops a unit's lines past its rate limit (10,000 per 30 s, scaled up with free disk
/// space); the sandbox's ignores `LogRateLimitIntervalSec=` (measured; cgroup xattrs, probably), so turn
/// the limit off for the whole (throwaway) sandbox. journald keeps its streams over a restart.
fn journald_without_rate_limit() {
    let dir = std::path::Path::new("/etc/systemd/journald.conf.d");
    let path = dir.join("tf-it-no-rate-limit.conf");
    if path.exists() {
        return;
    }
    std::fs::create_dir_all(dir).unwrap();
    let tmp = dir.join(format!(".tf-it-no-rate-limit.{}", std::process::id()));
    std::fs::write(&tmp, "[Journal]\nRateLimitIntervalSec=0\n").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let status = Command::new("systemctl").args(["restart", "systemd-journald.service"]).status().unwrap();
    assert!(status.success(), "restart journald");
}

fn exit_status(run: i32) -> i32 {
    if run % 3 == 0 { 3 } else { 0 }
}

/// Run `script` once as the transient service `unit` and wait for it; the unit is unloaded after.
fn systemd_run(user: bool, unit: &str, script: &str) {
    let mut cmd = Command::new("systemd-run");
    if user {
        cmd.arg("--user");
    }
    cmd.args(["--quiet", "--wait", "--collect", &format!("--unit={unit}")])
        .args(["-p", "LogRateLimitIntervalSec=0", "-p", "Type=oneshot", "/bin/sh", "-c", script])
        .stdout(Stdio::null());
    cmd.status().unwrap();
}

/// The peak RSS of the `journalctl` children of this process, sampled from /proc while they run
/// (their `VmHWM`).
struct JournalctlPeak {
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<(Option<u64>, usize)>,
}

impl JournalctlPeak {
    fn start() -> JournalctlPeak {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let me = std::process::id().to_string();
        let sampler = std::thread::spawn(move || {
            let (mut peak, mut samples) = (None, 0);
            while !flag.load(Ordering::Relaxed) {
                for entry in std::fs::read_dir("/proc").unwrap().flatten() {
                    let path = entry.path();
                    let Ok(status) = std::fs::read_to_string(path.join("status")) else { continue };
                    let value = |key: &str| {
                        status.lines().find_map(|l| l.strip_prefix(key)).map(|v| v.trim().trim_end_matches(" kB"))
                    };
                    if value("Name:") == Some("journalctl")
                        && value("PPid:") == Some(me.as_str())
                        && let Some(kb) = value("VmHWM:").and_then(|v| v.parse::<u64>().ok())
                    {
                        peak = peak.max(Some(kb));
                        samples += 1;
                    }
                }
            }
            (peak, samples)
        });
        JournalctlPeak { stop, sampler }
    }

    fn stop(self) -> (Option<u64>, usize) {
        self.stop.store(true, Ordering::Relaxed);
        self.sampler.join().unwrap()
    }
}

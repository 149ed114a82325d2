//! `cargo xtask bench-api`: the API server under load in a private systemd (system scope),
//! against issue #13's targets, with unsigned `GET /health` on the same server in the same run
//! as the baseline.
//!
//! It builds `tf` and xtask itself in release (the load generator, [`load`], is the hidden task
//! `xtask bench-api-load`, run inside the sandbox's namespaces), boots the sandbox, creates 100
//! services (ten of them running), turns signing on and starts `tf api serve` as a background
//! process whose RSS and CPU ticks it reads from `/proc`. Then, one line each:
//! - `GET /health`, unsigned, 64 connections: the baseline;
//! - signed `GET /services` with 100 services, 64 connections (target ≥ 5,000 req/s, p99 ≤ 20 ms,
//!   0 errors);
//! - signed `GET /services/{name}/status` over the 100 (target ≥ 10,000 req/s);
//! - 900 more services created while the server runs, and how soon it lists them;
//! - signed `GET /services` with 1,000 services (target ≥ 500 req/s);
//! - idle: before any request, CPU ticks and RSS over 10 s (target: no ticks, ≤ 20 MiB); after
//!   the load the same, reported: the nonces of the replay window are held until they expire;
//! - a soak at 200 req/s of signed `GET /services` (target: 0 errors, RSS flat within 10 %);
//!
//! and a summary line. After each signed full-speed run it prints the server's RSS and the
//! nonces it holds for the replay window, then restarts it with an empty nonce store: a run at
//! full speed holds millions, and the store refuses signed requests (503) beyond
//! [`MAX_NONCES`] until they expire, which would fail the next run for minutes.

mod load;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::Value;

pub(crate) use load::run as run_load;

use crate::proc;
use crate::sandbox::{Sandbox, install_signal_handler};
use crate::test_systemd::Metadata;

const ADDR: &str = "127.0.0.1:7777";
const SECURITY_FILE: &str = "/var/lib/taskflows/api/security.toml";
const NONCE_FILE: &str = "/var/lib/taskflows/api/nonces";
const CONNECTIONS: &str = "64";
const RUNNING: &str = "api-bench-?";
const SOAK_RATE: f64 = 200.0;
const SOAK_CONNECTIONS: &str = "8";
/// `taskflows_api::server::Limits::default().max_nonces` (xtask does not build the server).
const MAX_NONCES: u64 = 4_000_000;
const MIB: f64 = 1024.0 * 1024.0;
const TARGET_P99_MS: f64 = 20.0;
const TARGET_IDLE_MIB: f64 = 20.0;
/// A scrape of `/metrics` with 1,000 services (the observability issue).
const TARGET_METRICS_MS: f64 = 50.0;

pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    let (mut seconds, mut soak_seconds) = (30.0, 60.0);
    let mut words = args.iter();
    while let Some(flag) = words.next() {
        let value = words.next().and_then(|v| v.parse::<f64>().ok().filter(|&s| s > 0.0));
        match (flag.as_str(), value) {
            ("--seconds", Some(s)) => seconds = s,
            ("--soak-seconds", Some(s)) => soak_seconds = s,
            _ => bail!("bench-api: usage: cargo xtask bench-api [--seconds N] [--soak-seconds N]"),
        }
    }
    let meta = Metadata::read()?;
    let tf = crate::bench_systemd::build_tf()?;
    let xtask = build_load_generator(&meta)?;
    // Private copies: another build in the shared target folder must not swap them mid-run.
    let dir = meta.target_dir.join("xtask-bench-api").join(std::process::id().to_string());
    fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
    for (from, name) in [(&tf, "tf"), (&xtask, "xtask")] {
        fs::copy(from, dir.join(name)).with_context(|| format!("failed to copy {}", from.display()))?;
    }
    install_signal_handler()?;
    let sandbox = Sandbox::boot(&meta.sandbox_config())?;
    let mut bench = Bench { sandbox: &sandbox, dir: dir.clone(), server: None };
    let result = bench.run(seconds, soak_seconds);
    bench.stop_server();
    drop(bench);
    let down = sandbox.teardown();
    let _ = fs::remove_dir_all(&dir);
    result?;
    down?;
    Ok(ExitCode::SUCCESS)
}

/// xtask in release: the load generator must not be the bottleneck on a machine it shares.
fn build_load_generator(meta: &Metadata) -> Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["build", "--release", "--quiet", "-p", "xtask"])
        .status()
        .context("failed to run cargo build")?;
    if !status.success() {
        bail!("building xtask in release failed");
    }
    Ok(meta.target_dir.join("release/xtask"))
}

struct Server {
    /// The `nsenter` that started it.
    child: Child,
    /// The server's host PID.
    pid: u32,
}

struct Bench<'a> {
    sandbox: &'a Sandbox,
    /// Host folder shared with the sandbox: the binaries, service files, the server's log.
    dir: PathBuf,
    server: Option<Server>,
}

/// One load generator run, as it reported it, with the server's CPU time during it.
struct Run {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Body bytes received per second, in MiB.
    mib_per_s: f64,
    errors: u64,
    first_error: Option<String>,
    server_cores: f64,
    load_cores: f64,
}

/// A target, met or missed, for the summary.
struct Verdict {
    what: String,
    met: bool,
}

impl Bench<'_> {
    fn run(&mut self, seconds: f64, soak_seconds: f64) -> Result<()> {
        let started = Instant::now();
        self.create(100)?;
        self.inside(&self.tf(), &["--system", "start", RUNNING], Duration::from_secs(60))?;
        self.inside(&self.tf(), &["--system", "api", "security", "setup"], Duration::from_secs(30))?;
        self.start_server()?;
        let listed = self.wait_services(100)?;
        thread::sleep(Duration::from_secs(2));
        let rest = self.rss()?;
        println!(
            "tf api serve on {ADDR}: 100 services ({RUNNING} running), GET /services answers {} KiB; \
             RSS at rest before any request {:.1} MiB; load average {}",
            listed / 1024,
            rest / MIB,
            loadavg()
        );

        // Idle: a server that has served nothing for a while (signals only, no polling).
        let mut verdicts = Vec::new();
        thread::sleep(Duration::from_secs(5));
        let (ticks_before, rss_before) = (self.ticks()?, self.rss()?);
        thread::sleep(Duration::from_secs(10));
        let (ticks, idle) = (self.ticks()? - ticks_before, self.rss()?.max(rss_before));
        let (quiet, small) = (ticks == 0, idle / MIB <= TARGET_IDLE_MIB);
        println!(
            "idle (over 10 s, nothing asked): {ticks} CPU ticks, RSS {:.1} MiB (targets no CPU: {}, ≤ {TARGET_IDLE_MIB} MiB: {})",
            idle / MIB,
            met(quiet),
            met(small),
        );
        verdicts.push(Verdict { what: "idle CPU".into(), met: quiet });
        verdicts.push(Verdict { what: "idle RSS".into(), met: small });

        let health = self.measure(&["--path", "/health", "--connections", CONNECTIONS], seconds, false)?;
        println!("GET /health (unsigned, the baseline): {}", health.figures());
        let services = self.measure(&["--path", "/services", "--connections", CONNECTIONS], seconds, true)?;
        verdicts.push(self.report("GET /services (100)", &services, &health, 5_000.0, Some(TARGET_P99_MS)));
        self.memory(rest)?;
        self.restart_server(100)?;
        let status = self.measure(
            &["--path", "/services/api-bench-{i}/status", "--names", "100", "--connections", CONNECTIONS],
            seconds,
            true,
        )?;
        verdicts.push(self.report("GET /services/{name}/status (100)", &status, &health, 10_000.0, None));
        self.memory(rest)?;
        self.restart_server(100)?;

        let created = Instant::now();
        self.create(1_000)?;
        let listed = self.wait_services(1_000)?;
        println!(
            "created 900 more: the server lists 1,000 services {:.1} s after tf create began; GET /services \
             answers {} KiB",
            created.elapsed().as_secs_f64(),
            listed / 1024
        );
        let services_1000 = self.measure(&["--path", "/services", "--connections", CONNECTIONS], seconds, true)?;
        verdicts.push(self.report("GET /services (1,000)", &services_1000, &health, 500.0, None));
        self.memory(rest)?;

        // Prometheus' scrape of 1,000 services: one request after another on one connection,
        // unsigned from loopback (each one also reads the journal after the last one's cursor).
        let metrics = self.measure(&["--path", "/metrics", "--connections", "1"], seconds.min(10.0), false)?;
        let ok = metrics.p99_ms <= TARGET_METRICS_MS && metrics.errors == 0;
        println!(
            "GET /metrics (1,000 services, one connection): {} (target p99 ≤ {TARGET_METRICS_MS} ms, 0 errors: {}; \
             p50 {:.1}× /health's)",
            metrics.figures(),
            met(ok),
            metrics.p50_ms / health.p50_ms.max(0.001)
        );
        verdicts.push(Verdict { what: "GET /metrics (1,000)".into(), met: ok });

        // After the load the server holds the nonces of the last 300 s (replay protection) and
        // sweeps them a minute apart until they expired; reported, not judged.
        thread::sleep(Duration::from_secs(5));
        let (ticks_before, rss_before) = (self.ticks()?, self.rss()?);
        thread::sleep(Duration::from_secs(10));
        let (ticks, after) = (self.ticks()? - ticks_before, self.rss()?.max(rss_before));
        println!(
            "after the load (5 s later, over 10 s): {ticks} CPU ticks, RSS {:.1} MiB while it holds the load's nonces \
             for the replay window (given back once they expire, within 10 minutes)",
            after / MIB,
        );

        verdicts.push(self.soak(soak_seconds)?);

        let missed: Vec<&str> = verdicts.iter().filter(|v| !v.met).map(|v| v.what.as_str()).collect();
        println!(
            "bench-api: {} of {} targets met{}; {:.0} s; load average {}",
            verdicts.len() - missed.len(),
            verdicts.len(),
            if missed.is_empty() { String::new() } else { format!(" (MISSED: {})", missed.join(", ")) },
            started.elapsed().as_secs_f64(),
            loadavg()
        );
        Ok(())
    }

    /// The server's RSS and the nonces it holds after a run.
    fn memory(&self, rest: f64) -> Result<()> {
        let (rss, nonces) = (self.rss()?, self.nonces()?);
        println!(
            "  after it: RSS {:.1} MiB ({:+.1} MiB from rest), {} nonces held for the {} s replay window \
             (their table ≈ {:.1} MiB; the store refuses signed requests beyond {} until some expire)",
            rss / MIB,
            (rss - rest) / MIB,
            thousands(nonces),
            taskflows_api::signing::WINDOW_SECS,
            nonce_table_bytes(nonces) / MIB,
            thousands(MAX_NONCES),
        );
        Ok(())
    }

    /// A fresh server with an empty nonce store, so one full-speed run's nonces do not fill the
    /// store for the next (it holds each for the replay window).
    fn restart_server(&mut self, services: usize) -> Result<()> {
        self.stop_server();
        self.inside(Path::new("rm"), &["-f", NONCE_FILE], Duration::from_secs(30))?;
        self.start_server()?;
        self.wait_services(services)?;
        println!("  (restarted the server with an empty nonce store)");
        Ok(())
    }

    fn tf(&self) -> PathBuf {
        self.dir.join("tf")
    }

    fn xtask(&self) -> PathBuf {
        self.dir.join("xtask")
    }

    /// Runs `program args` in the sandbox; its stdout, or an error with its stderr.
    fn inside(&self, program: &Path, args: &[&str], timeout: Duration) -> Result<String> {
        let mut cmd = self.sandbox.command(program);
        cmd.args(args);
        let out = proc::output_bounded_with(&mut cmd, timeout, |c| self.sandbox.spawn(c))?;
        if !out.status.success() {
            bail!(
                "{} {} failed ({}): {}",
                program.display(),
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `tf create` of the services `api-bench-0` … `api-bench-{n-1}`: simple services that sleep.
    fn create(&self, n: usize) -> Result<()> {
        let mut toml = String::from("version = 1\n");
        for i in 0..n {
            toml.push_str(&format!(
                "\n[[service]]\nname = \"api-bench-{i}\"\ndescription = \"bench-api service {i}\"\n\
                 start_command = \"/bin/sleep infinity\"\n"
            ));
        }
        let file = self.dir.join(format!("services-{n}.toml"));
        fs::write(&file, toml)?;
        let file = file.to_str().context("the target folder's path is UTF-8")?;
        self.inside(&self.tf(), &["--system", "create", file], Duration::from_secs(300))?;
        Ok(())
    }

    fn start_server(&mut self) -> Result<()> {
        let log = fs::File::create(self.dir.join("server.log"))?;
        let mut cmd = self.sandbox.command(self.tf());
        cmd.args(["--system", "api", "serve", "--listen", ADDR]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let mut child = self.sandbox.spawn(&mut cmd)?;
        // nsenter forks into the sandbox's PID namespace; its child becomes tf.
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            if let Some(pid) =
                proc::children(child.id()).into_iter().find(|&p| proc::stat(p).is_some_and(|s| s.comm == "tf"))
            {
                break pid;
            }
            if child.try_wait()?.is_some() || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("tf api serve did not start: {}", self.server_log());
            }
            thread::sleep(Duration::from_millis(20));
        };
        self.server = Some(Server { child, pid });
        Ok(())
    }

    fn stop_server(&mut self) {
        if let Some(mut server) = self.server.take() {
            proc::kill(server.pid, "TERM");
            if !matches!(proc::wait_timeout(&mut server.child, Duration::from_secs(10)), Ok(Some(_))) {
                proc::kill(server.pid, "KILL");
                let _ = server.child.kill();
                let _ = server.child.wait();
            }
        }
    }

    fn server_log(&self) -> String {
        fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    fn pid(&self) -> Result<u32> {
        let server = self.server.as_ref().context("the server runs")?;
        if !proc::alive(server.pid) {
            bail!("tf api serve exited: {}", self.server_log());
        }
        Ok(server.pid)
    }

    fn rss(&self) -> Result<f64> {
        let pid = self.pid()?;
        let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .context("no VmRSS in /proc/PID/status")?;
        Ok(kib * 1024.0)
    }

    fn ticks(&self) -> Result<u64> {
        ticks(&self.pid()?.to_string()).context("cannot read the server's /proc/PID/stat")
    }

    /// The nonces the server holds: the lines of its nonce file, one per accepted signed request
    /// (none expires from memory before the store is full).
    fn nonces(&self) -> Result<u64> {
        let out = self.inside(Path::new("wc"), &["-l", NONCE_FILE], Duration::from_secs(30))?;
        out.split_whitespace().next().and_then(|n| n.parse().ok()).context("wc -l answered nothing")
    }

    /// Waits until `GET /services` lists `n` services; the size of that answer.
    fn wait_services(&self, n: usize) -> Result<u64> {
        let answer = self.load(&["--wait-services", &n.to_string(), "--secret-file", SECURITY_FILE], 150.0)?;
        answer["bytes"].as_u64().context("the load generator reported no size")
    }

    /// Runs the load generator in the sandbox; its JSON line.
    fn load(&self, args: &[&str], timeout: f64) -> Result<Value> {
        let mut words = vec!["bench-api-load", "--addr", ADDR];
        words.extend_from_slice(args);
        let out = self.inside(&self.xtask(), &words, Duration::from_secs_f64(timeout))?;
        serde_json::from_str(out.trim()).with_context(|| format!("the load generator printed {out:?}"))
    }

    fn measure(&self, args: &[&str], seconds: f64, signed: bool) -> Result<Run> {
        let seconds_text = seconds.to_string();
        let mut words = args.to_vec();
        words.extend(["--seconds", &seconds_text]);
        if signed {
            words.extend(["--secret-file", SECURITY_FILE]);
        }
        let before = self.ticks()?;
        let answer = self.load(&words, seconds + 60.0)?;
        let server_ticks = self.ticks()? - before;
        Ok(Run::from(&answer, server_ticks, seconds))
    }

    fn report(&self, what: &str, run: &Run, baseline: &Run, target: f64, p99: Option<f64>) -> Verdict {
        let ok = run.rate >= target && run.errors == 0 && p99.is_none_or(|p| run.p99_ms <= p);
        println!(
            "{what}: {} ({:.2}× the {} req/s target, {:.2}× /health; target ≥ {} req/s{}, 0 errors: {})",
            run.figures(),
            run.rate / target,
            thousands(target as u64),
            run.rate / baseline.rate,
            thousands(target as u64),
            p99.map(|p| format!(", p99 ≤ {p} ms")).unwrap_or_default(),
            met(ok)
        );
        Verdict { what: what.to_owned(), met: ok }
    }

    /// Signed `GET /services` at a fixed rate, the server's RSS sampled each second.
    fn soak(&self, seconds: f64) -> Result<Verdict> {
        let mut cmd = self.sandbox.command(self.xtask());
        let (rate, seconds_text) = (SOAK_RATE.to_string(), seconds.to_string());
        cmd.args(["bench-api-load", "--addr", ADDR, "--path", "/services", "--secret-file", SECURITY_FILE])
            .args(["--connections", SOAK_CONNECTIONS, "--rate", &rate, "--seconds", &seconds_text])
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        let before = self.ticks()?;
        let mut child = self.sandbox.spawn(&mut cmd)?;
        let mut samples = Vec::new();
        let deadline = Instant::now() + Duration::from_secs_f64(seconds + 60.0);
        // The load generator warms up for a second before it counts; so does the sampling.
        thread::sleep(Duration::from_millis(1100));
        while child.try_wait()?.is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!("the soak did not end within {} s", seconds + 60.0);
            }
            samples.push(self.rss()?);
            thread::sleep(Duration::from_secs(1));
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("the soak's load generator failed ({})", out.status);
        }
        let answer: Value = serde_json::from_slice(&out.stdout).context("the soak's load generator's answer")?;
        let run = Run::from(&answer, self.ticks()? - before, seconds);
        let (first, last) = (samples.first().copied().unwrap_or(0.0), samples.last().copied().unwrap_or(0.0));
        let max = samples.iter().copied().fold(0.0, f64::max);
        let min = samples.iter().copied().fold(f64::MAX, f64::min);
        let flat = first > 0.0 && max <= first * 1.1 && min >= first * 0.9;
        let ok = flat && run.errors == 0;
        println!(
            "soak ({seconds:.0} s of GET /services (1,000) at {SOAK_RATE:.0} req/s, {SOAK_CONNECTIONS} connections): \
             {}; RSS first {:.1} MiB, last {:.1} MiB, max {:.1} MiB over {} samples \
             (target 0 errors, RSS within 10 % of the first: {})",
            run.figures(),
            first / MIB,
            last / MIB,
            max / MIB,
            samples.len(),
            met(ok)
        );
        Ok(Verdict { what: "soak".into(), met: ok })
    }
}

impl Run {
    fn from(answer: &Value, server_ticks: u64, seconds: f64) -> Run {
        let ms = |key: &str| answer[key].as_f64().unwrap_or(0.0) / 1e3;
        Run {
            rate: answer["ok"].as_f64().unwrap_or(0.0) / seconds,
            p50_ms: ms("p50_us"),
            p99_ms: ms("p99_us"),
            max_ms: ms("max_us"),
            mib_per_s: answer["bytes"].as_f64().unwrap_or(0.0) / MIB / seconds,
            errors: answer["errors"].as_u64().unwrap_or(u64::MAX),
            first_error: answer["first_error"].as_str().map(str::to_owned),
            // The load generator counts `seconds` after a warm-up second; the server's ticks
            // span both.
            server_cores: server_ticks as f64 / 100.0 / (seconds + 1.1),
            load_cores: answer["cpu_seconds"].as_f64().unwrap_or(0.0) / seconds,
        }
    }

    fn figures(&self) -> String {
        let mut text = format!(
            "{} req/s ({:.0} MiB/s of bodies), p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {} errors; \
             server {:.2} cores, load generator {:.2}",
            thousands(self.rate.round() as u64),
            self.mib_per_s,
            self.p50_ms,
            self.p99_ms,
            self.max_ms,
            self.errors,
            self.server_cores,
            self.load_cores
        );
        if let Some(e) = &self.first_error {
            text.push_str(&format!(" [first error: {}]", e.chars().take(300).collect::<String>()));
        }
        text
    }
}

/// A process's CPU time in clock ticks (user + system, all threads) from `/proc/PID/stat`;
/// `pid` may be `self`.
fn ticks(pid: &str) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After `pid (comm)`: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 1..)?.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// What a hash map of `n` 16-byte hashes with a `u64` expiry takes: hashbrown keeps a power of
/// two of buckets at most 7/8 full, each entry 24 bytes and a control byte.
fn nonce_table_bytes(n: u64) -> f64 {
    let buckets = (n.saturating_mul(8) / 7).max(1).next_power_of_two();
    buckets as f64 * 25.0
}

fn loadavg() -> String {
    let text = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

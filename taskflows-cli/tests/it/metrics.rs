//! `/metrics` scraped by a real Prometheus (Debian's `prometheus`), in the sandbox: after a run
//! that succeeded and one that failed, PromQL finds them.

use std::io::{Read as _, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{ok, service_file, tf_env, wait_for};

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `path` from 127.0.0.1:`port`: status and body.
fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut text = String::new();
    s.read_to_string(&mut text).map_err(|e| e.to_string())?;
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).ok_or(format!("no status in {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    // Prometheus answers chunked; a chunk-size line is not JSON, so keep from the first brace.
    let body = body.find('{').map_or(body, |i| &body[i..]);
    Ok((status, body.to_owned()))
}

fn query(port: u16, promql: &str) -> Result<String, String> {
    let encoded: String = promql
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_-.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    let (status, body) = get(port, &format!("/api/v1/query?query={encoded}"))?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    Ok(body)
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn prometheus_scrapes_the_runs_and_states() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
    let prometheus = "/usr/bin/prometheus";
    assert!(std::path::Path::new(prometheus).exists(), "prometheus is missing: apt-get install prometheus");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_s = data.display().to_string();
    let env = [("TASKFLOWS_DATA_DIR", data_s.as_str())];
    ok(&tf_env(&["api", "security", "setup"], &env), "security setup");
    let (api_port, prom_port) = (free_port(), free_port());
    let scope = if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { "--user" } else { "--system" };
    let _api = Killed(
        Command::new(env!("CARGO_BIN_EXE_tf"))
            .args([scope, "api", "serve", "--listen", &format!("127.0.0.1:{api_port}")])
            .env("TASKFLOWS_DATA_DIR", &data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for(Duration::from_secs(20), Duration::from_millis(50), || get(api_port, "/health").map(|_| ()));
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: taskflows\n    static_configs:\n      - targets: ['127.0.0.1:{api_port}']\n"
        ),
    )
    .unwrap();
    let _prometheus = Killed(
        Command::new(prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let name = |what: &str| format!("tf-it-prom-{what}-{}", std::process::id());
    let (good, bad) = (name("good"), name("bad"));
    let (_files, path) = service_file(&format!(
        "[[service]]\nname = \"{good}\"\nstart_command = \"/bin/true\"\n\n[[service]]\nname = \"{bad}\"\nstart_command = \"/bin/sh -c 'exit 3'\"\nstart_schedule = \"*-*-* 03:00:00\"\n"
    ));
    ok(&tf_env(&["create", &path], &env), "create");
    let _ = tf_env(&["start", &good, "--wait"], &env);
    let _ = tf_env(&["start", &bad, "--wait"], &env);

    // Prometheus scraped them: a success of one and an exit-code failure of the other.
    let has = |promql: &str, want: &str| {
        let body = query(prom_port, promql)?;
        if body.contains(want) { Ok(()) } else { Err(format!("{promql}: {body}")) }
    };
    wait_for(Duration::from_secs(40), Duration::from_millis(500), || {
        has(&format!("taskflows_service_runs_total{{service=\"{good}\",result=\"success\"}}"), "\"1\"]")?;
        has(&format!("taskflows_service_runs_total{{service=\"{bad}\",result=\"exit-code\"}}"), "\"1\"]")?;
        has(&format!("taskflows_service_last_run_success{{service=\"{bad}\"}}"), "\"0\"]")?;
        has(&format!("taskflows_service_last_exit_status{{service=\"{bad}\"}}"), "\"3\"]")?;
        has(&format!("taskflows_service_state{{service=\"{bad}\",state=\"failed\"}}"), "\"1\"]")?;
        // The missed-run monitor sees the failed run of the scheduled one.
        has(&format!("taskflows_monitor_problem{{service=\"{bad}\",problem=\"last-run-failed\"}}"), "\"1\"]")?;
        has("taskflows_api_requests_total{route=\"/metrics\",status=\"200\"}", "\"result\":[{")
    });
    // The metrics are not signed but are not open either: the token file turns on bearer access,
    // and loopback is what Prometheus used here.
    ok(&tf_env(&["remove", &format!("tf-it-prom-*-{}", std::process::id())], &env), "remove");
}

/// The API server as a unit logs to the journal natively: each request line carries its fields.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn the_servers_log_lines_carry_their_fields_in_the_journal() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
    let user = std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user");
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    ok(&tf_env(&["api", "security", "setup"], &[("TASKFLOWS_DATA_DIR", data.as_str())]), "security setup");
    let port = free_port();
    let unit = format!("tf-it-log-{}-{port}.service", std::process::id());
    let scope = if user { "--user" } else { "--system" };
    let started = Command::new("systemd-run")
        .args(if user { &["--user"][..] } else { &[][..] })
        .arg(format!("--unit={unit}"))
        .arg(format!("--setenv=TASKFLOWS_DATA_DIR={data}"))
        .args(["--setenv=APP_NAME=billing", "--setenv=ENVIRONMENT=staging"])
        .args([env!("CARGO_BIN_EXE_tf"), scope, "api", "serve", "--listen", &format!("127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    wait_for(Duration::from_secs(20), Duration::from_millis(50), || get(port, "/health").map(|_| ()));
    // An unsigned change: refused, and logged at info with its fields.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST /services HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let entry = wait_for(Duration::from_secs(20), Duration::from_millis(200), || {
        let out = Command::new("journalctl")
            .args(["--no-pager", "-o", "json", if user { "--user-unit" } else { "--unit" }, &unit])
            .output()
            .map_err(|e| e.to_string())?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["MESSAGE"] == "api request")
            .ok_or_else(|| "no `api request` entry yet".to_owned())
    });
    assert_eq!(entry["ROUTE"], "/services", "{entry}");
    assert_eq!(entry["STATUS"], "401", "{entry}");
    assert_eq!(entry["METHOD"], "POST", "{entry}");
    assert_eq!(entry["PEER"], "127.0.0.1", "{entry}");
    assert_eq!(entry["PRIORITY"], "5", "info is journald's notice: {entry}");
    assert_eq!(
        (entry["APP_NAME"].as_str(), entry["ENVIRONMENT"].as_str()),
        (Some("billing"), Some("staging")),
        "{entry}"
    );
    let _ = Command::new("systemctl").args(if user { &["--user"][..] } else { &[][..] }).args(["stop", &unit]).output();
}

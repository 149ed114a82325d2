//! `tf api serve` and `tf … -s SERVER` inside a real systemd: each test starts its own servers
//! (the real `tf` binary, a free loopback port, a data folder of its own) and talks to them with
//! `tf -s` or with a tiny HTTP/1.1 client that sends exactly the bytes it is given, signed with
//! `taskflows_api::signing` — or not, or wrongly.

mod attacks;
mod endpoints;
mod pages;
mod serve;
mod slack;
mod streams;
mod ui;

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use taskflows_api::signing::{self, Signed};

use crate::{stderr, stdout, tf_env};

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

fn scope_flag() -> &'static str {
    if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { "--user" } else { "--system" }
}

/// A unique service name for this test process: `tf-it-api-WHAT-PID`.
fn unique(what: &str) -> String {
    format!("tf-it-api-{what}-{}", std::process::id())
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind a free port").local_addr().unwrap().port()
}

/// A server's data folder (its security file, nonces, stored definitions) and a client's
/// config folder (its server book).
struct Home {
    data: tempfile::TempDir,
    config: tempfile::TempDir,
    secret: String,
    secret_file: PathBuf,
}

impl Home {
    /// A data folder whose security file holds a fresh secret (`tf api security set-secret`).
    fn new() -> Home {
        let home = Home::without_security();
        let out = home.local(&["api", "security", "set-secret", &home.secret]);
        let said = crate::ok(&out, "tf api security set-secret");
        assert!(!said.contains(&home.secret), "the secret is never printed: {said}");
        home
    }

    /// A data folder without a security file.
    fn without_security() -> Home {
        let data = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let secret = signing::new_secret();
        let secret_file = config.path().join("secret");
        std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
        Home { data, config, secret, secret_file }
    }

    fn data_dir(&self) -> &str {
        self.data.path().to_str().unwrap()
    }

    /// `tf` on this host with this data folder. Not the client's config folder: in user scope
    /// `XDG_CONFIG_HOME` also moves the folder of user units, where the manager does not look.
    fn local(&self, args: &[&str]) -> Output {
        tf_env(args, &[("TASKFLOWS_DATA_DIR", self.data_dir())])
    }

    /// `tf` as a client: its server book in the config folder.
    fn client(&self, args: &[&str]) -> Output {
        tf_env(args, &[("XDG_CONFIG_HOME", self.config.path().to_str().unwrap())])
    }

    /// `tf server add NAME URL --secret-file …` (plus `more`).
    fn add_server(&self, name: &str, url: &str, more: &[&str]) {
        let file = self.secret_file.to_str().unwrap();
        let mut args = vec!["server", "add", name, url, "--secret-file", file];
        args.extend(more);
        crate::ok(&self.client(&args), "tf server add");
    }
}

/// A `tf api serve` child process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Server {
    /// Serve `home`'s data folder on a free loopback port; ready when GET /health answers.
    fn start(home: &Home) -> Server {
        Server::start_with(home, &[], &[])
    }

    /// [`Server::start`] with more arguments and variables.
    fn start_with(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Server {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        // Another test may take the port between our look and the server's bind: try again.
        for _ in 0..5 {
            let port = free_port();
            let mut server = Server::spawn(home.data.path(), port, args.clone(), env.clone());
            match server.wait_ready() {
                Ok(()) => return server,
                Err(log) if log.contains("in use") => continue,
                Err(log) => panic!("tf api serve did not start: {log}"),
            }
        }
        panic!("no free port after 5 tries");
    }

    fn spawn(data_dir: &Path, port: u16, args: Vec<String>, env: Vec<(String, String)>) -> Server {
        let log = data_dir.join(format!("serve-{port}.log"));
        let file = std::fs::File::create(&log).unwrap();
        // `cargo xtask bench-ui` measures a release build.
        let tf = std::env::var_os("TF_SERVER_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_tf").into());
        let mut command = Command::new(tf);
        command
            .args([scope_flag(), "api", "serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(&args)
            .env("TASKFLOWS_DATA_DIR", data_dir)
            .env("TASKFLOWS_ALLOWED_PATHS", std::env::temp_dir())
            .env("TZ", "UTC")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        for (k, v) in &env {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let child = command.spawn().expect("tf api serve starts");
        Server { child, port, data_dir: data_dir.to_owned(), log, args, env }
    }

    /// Wait for GET /health to answer 200; the log when the server ended first.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Err(format!("{status}: {}", self.log()));
            }
            let health = format!("GET /health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", self.host());
            if exchange(self.port, health.as_bytes()).is_ok_and(|r| r.status == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no answer to GET /health within 30 s: {}", self.log()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The Host a request to it is signed for.
    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kill it (SIGKILL: nothing is flushed on the way out) and start it again on the same port
    /// and data folder.
    fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut next = Server::spawn(&self.data_dir, self.port, self.args.clone(), self.env.clone());
            match next.wait_ready() {
                Ok(()) => {
                    std::mem::swap(self, &mut next);
                    return;
                }
                Err(log) if log.contains("in use") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(log) => panic!("tf api serve did not restart: {log}"),
            }
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What the server answered.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {} {}", self.status, String::from_utf8_lossy(&self.body)))
    }

    /// The error answer's message.
    fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Display for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, String::from_utf8_lossy(&self.body))
    }
}

/// Send `request` (exact bytes) to the loopback `port` and read the answer to the end (requests
/// say `Connection: close`).
fn exchange(port: u16, request: &[u8]) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    stream.write_all(request)?;
    read_reply(&mut stream)
}

fn read_reply(stream: &mut TcpStream) -> std::io::Result<Reply> {
    let mut raw = Vec::new();
    // A reset after the answer (the server closed with our bytes unread) ends the read.
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if !raw.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        }
    }
    parse_reply(&raw).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("no answer: {:?}", String::from_utf8_lossy(&raw)))
    })
}

fn parse_reply(raw: &[u8]) -> Option<Reply> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    } else if let Some(len) = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok()) {
        body.truncate(len);
    }
    Some(Reply { status, headers, body })
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..eol]).ok().and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else { break };
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = &data[(start + size + 2).min(data.len())..];
    }
    out
}

/// The signing headers of a request, with the timestamp and nonce given.
fn sign_at(
    secret: &str,
    timestamp: &str,
    nonce: &str,
    method: &str,
    host: &str,
    target: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let signed = Signed { timestamp, nonce, method, host, path, query, body };
    let signature = signed.sign(secret.as_bytes());
    vec![
        ("X-HMAC-Timestamp".to_owned(), timestamp.to_owned()),
        ("X-HMAC-Nonce".to_owned(), nonce.to_owned()),
        ("X-HMAC-Signature".to_owned(), signature),
    ]
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// The signing headers of a request signed now, with a fresh nonce.
fn sign(secret: &str, method: &str, host: &str, target: &str, body: &[u8]) -> Vec<(String, String)> {
    sign_at(secret, &now().to_string(), &signing::new_nonce(), method, host, target, body)
}

/// A request's bytes: the request line, `Host`, the headers given, `Content-Length` when there
/// is a body, `Connection: close`, the body.
fn request(method: &str, target: &str, host: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut text = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        text.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    text.push_str("Connection: close\r\n\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

impl Server {
    /// Send a request signed with `home`'s secret for this server.
    fn signed(&self, home: &Home, method: &str, target: &str, body: &[u8]) -> Reply {
        let headers = sign(&home.secret, method, &self.host(), target, body);
        self.send(&request(method, target, &self.host(), &headers, body))
    }

    /// Send exact bytes; the answer must come.
    fn send(&self, bytes: &[u8]) -> Reply {
        exchange(self.port, bytes).unwrap_or_else(|e| panic!("{e}; server log: {}", self.log()))
    }
}

/// The one host's answer of `tf … -s NAME --json`, which must have succeeded.
fn remote_answer(out: &Output, what: &str) -> serde_json::Value {
    assert!(out.status.success(), "{what}: {}{}", stdout(out), stderr(out));
    let json: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}: {}", stdout(out)));
    let hosts = json["hosts"].as_array().unwrap_or_else(|| panic!("{what}: no hosts: {json}"));
    assert_eq!(hosts.len(), 1, "{what}: {json}");
    hosts[0]["answer"].clone()
}

/// The JSON a local `tf … --json` printed, which must have succeeded.
fn local_answer(out: &Output, what: &str) -> serde_json::Value {
    assert!(out.status.success(), "{what}: {}{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}: {}", stdout(out)))
}

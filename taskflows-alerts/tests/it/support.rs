//! Real local components for the tests: an SMTP server (aiosmtpd), an HTTP server that records
//! requests, and a log capture.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A port nothing listens on (bound, then closed).
pub(crate) fn closed_port() -> u16 {
    free_port()
}

// ---------------------------------------------------------------- SMTP

/// `python3 -m aiosmtpd` on loopback with the JSON-lines handler; killed on drop.
pub(crate) struct SmtpServer {
    pub(crate) port: u16,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

/// A Python that has aiosmtpd: Debian's (`apt-get install python3-aiosmtpd`, which `.ci/run`
/// does), else the `python3` on PATH. Nothing is installed while the tests run.
fn python_with_aiosmtpd() -> &'static str {
    let has = |python: &str| {
        Command::new(python).args(["-c", "import aiosmtpd"]).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
    };
    ["/usr/bin/python3", "python3"].into_iter().find(|p| has(p)).unwrap_or_else(|| {
        panic!("the SMTP tests need aiosmtpd: apt-get install python3-aiosmtpd (or aiosmtpd from PyPI for the python3 on PATH)")
    })
}

impl SmtpServer {
    pub(crate) fn start() -> SmtpServer {
        SmtpServer::start_with(&[])
    }

    /// With more `python3 -m aiosmtpd` options (`--smtpscert`, `--tlscert` …).
    pub(crate) fn start_with(options: &[&str]) -> SmtpServer {
        let python = python_with_aiosmtpd();
        let port = free_port();
        let mut child = Command::new(python)
            .args(["-u", "-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "smtp_sink.JsonLines"])
            .args(options)
            .env("PYTHONPATH", concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("failed to start python3 -m aiosmtpd");
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        // plain TCP connects even to an SMTPS listener
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("aiosmtpd exited before listening: {status}");
            }
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on port {port} within 20s");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { port, child, lines }
    }

    /// The messages received so far, waiting up to 10s for `count` of them.
    pub(crate) fn messages(&self, count: usize) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let lines = self.lines.lock().unwrap().clone();
            if lines.len() >= count || Instant::now() > deadline {
                return lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------- HTTP

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    /// The query string, without its `?` (empty when none).
    pub(crate) query: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Recorded {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

/// How the HTTP server answers.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// 200 with this JSON body, `{url}` replaced by the server's URL.
    Json(&'static str),
    /// This status, empty body.
    Status(u16),
    /// Read the request, never answer.
    Hang,
}

/// An HTTP/1.1 server on loopback that records every request; one request per connection.
pub(crate) struct HttpServer {
    pub(crate) url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    pub(crate) fn start(answer: Answer) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (recorded, stopped, base) = (Arc::clone(&requests), Arc::clone(&stop), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (recorded, stopped, answer, base) =
                    (Arc::clone(&recorded), Arc::clone(&stopped), answer.clone(), base.clone());
                std::thread::spawn(move || serve(stream, &recorded, &stopped, &answer, &base));
            }
        });
        HttpServer { url, requests, stop }
    }

    pub(crate) fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn serve(stream: TcpStream, recorded: &Mutex<Vec<Recorded>>, stop: &AtomicBool, answer: &Answer, base: &str) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let target = parts.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_owned(), query.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    recorded.lock().unwrap().push(Recorded {
        method,
        path,
        query,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let mut stream = reader.into_inner();
    let (status, body) = match answer {
        Answer::Json(body) => (200, body.replace("{url}", base)),
        Answer::Status(status) => (*status, String::new()),
        Answer::Hang => {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}

// ---------------------------------------------------------------- logs

/// Captures this thread's `tracing` output while alive.
pub(crate) struct Logs {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    pub(crate) fn capture() -> Logs {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(Arc::clone(&buffer));
        let subscriber =
            tracing_subscriber::fmt().with_writer(move || sink.clone()).with_max_level(tracing::Level::DEBUG).finish();
        Logs { buffer, _guard: tracing::subscriber::set_default(subscriber) }
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.buffer.lock().unwrap()).into_owned()
    }
}

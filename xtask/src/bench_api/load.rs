//! The load generator of `cargo xtask bench-api`: the hidden task `xtask bench-api-load`, run
//! inside the sandbox (its network namespace) against `tf api serve`.
//!
//! Each of `--connections` workers holds one HTTP/1.1 keep-alive connection (hyper's client
//! connection, no pool) and sends one request at a time, signed with a fresh nonce through
//! `taskflows_api::signing` when `--secret-file` is given. As fast as answers come, or at
//! `--rate` requests per second in all. After a warm-up second it records each request's
//! latency and whether it failed (an I/O error or any status but 200), and prints one JSON line:
//! requests, errors, the first error, p50/p99/max, body bytes, its own CPU time.
//! With `--wait-services N` it instead polls `GET /services` until the server lists N services.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use http_body_util::{BodyExt as _, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;

const WARMUP: Duration = Duration::from_secs(1);
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// A request not answered within this counts as an error (and its connection is replaced).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

struct Options {
    addr: SocketAddr,
    /// The request path; `{i}` is replaced by a number below `names`, in turn.
    path: String,
    names: usize,
    connections: usize,
    seconds: f64,
    rate: Option<f64>,
    secret: Option<Vec<u8>>,
    wait_services: Option<usize>,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        addr: "127.0.0.1:7777".parse()?,
        path: "/health".into(),
        names: 1,
        connections: 64,
        seconds: 30.0,
        rate: None,
        secret: None,
        wait_services: None,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().with_context(|| format!("{flag}: a value is needed"))?;
        let number = || value.parse::<f64>().with_context(|| format!("{flag} {value:?}: a number"));
        match flag.as_str() {
            "--addr" => o.addr = value.parse().with_context(|| format!("--addr {value:?}"))?,
            "--path" => o.path = value.clone(),
            "--names" => o.names = number()? as usize,
            "--connections" => o.connections = number()? as usize,
            "--seconds" => o.seconds = number()?,
            "--rate" => o.rate = Some(number()?),
            "--wait-services" => o.wait_services = Some(number()? as usize),
            "--secret-file" => {
                let security = taskflows_api::security::Security::load(&PathBuf::from(value))?;
                let secret = security.secret().context("--secret-file: request signing is off in it")?;
                o.secret = Some(secret.as_bytes().to_vec());
            }
            other => bail!("bench-api-load: unknown option {other:?}"),
        }
    }
    if o.connections == 0 || o.names == 0 || o.seconds <= 0.0 {
        bail!("bench-api-load: --connections, --names and --seconds must be above 0");
    }
    Ok(o)
}

/// `xtask bench-api-load …`: see the module's documentation.
pub(crate) fn run(args: &[String]) -> Result<std::process::ExitCode> {
    let options = Arc::new(parse(args)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let line = runtime.block_on(async {
        match options.wait_services {
            Some(n) => wait_services(&options, n).await,
            None => measure(options.clone()).await,
        }
    })?;
    println!("{line}");
    Ok(std::process::ExitCode::SUCCESS)
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One request on `sender`: its status and body.
async fn get(sender: &mut SendRequest<Empty<Bytes>>, o: &Options, path: &str) -> Result<(u16, Bytes)> {
    let host = o.addr.to_string();
    let mut request = hyper::Request::get(path).header("host", &host);
    if let Some(secret) = &o.secret {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        for (name, value) in taskflows_api::signing::headers(secret, "GET", &host, path, query, b"") {
            request = request.header(name, value);
        }
    }
    sender.ready().await?;
    let answer = sender.send_request(request.body(Empty::new())?).await?;
    let status = answer.status().as_u16();
    let body = answer.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn no_answer() -> anyhow::Error {
    anyhow::anyhow!("no answer within {REQUEST_TIMEOUT:?}")
}

/// Poll `GET /services` until it lists `n` services (the server follows systemd's signals).
async fn wait_services(o: &Options, n: usize) -> Result<serde_json::Value> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let attempt = async {
            let mut sender = connect(o.addr).await?;
            get(&mut sender, o, "/services").await
        };
        let last = match tokio::time::timeout(REQUEST_TIMEOUT, attempt).await.unwrap_or_else(|_| Err(no_answer())) {
            Ok((200, body)) => {
                let report: serde_json::Value = serde_json::from_slice(&body)?;
                let listed = report["services"].as_array().map_or(0, Vec::len);
                if listed == n {
                    return Ok(json!({ "services": listed, "bytes": body.len() }));
                }
                format!("{listed} services listed")
            }
            Ok((status, body)) => format!("status {status}: {}", String::from_utf8_lossy(&body)),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("GET /services did not list {n} services within {READY_TIMEOUT:?} (last: {last})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    bytes: u64,
}

async fn measure(o: Arc<Options>) -> Result<serde_json::Value> {
    let start = Instant::now() + Duration::from_millis(100);
    let (from, until) = (start + WARMUP, start + WARMUP + Duration::from_secs_f64(o.seconds));
    let workers: Vec<_> = (0..o.connections).map(|w| tokio::spawn(worker(o.clone(), w, start, from, until))).collect();
    tokio::time::sleep_until(from.into()).await;
    let cpu_from = cpu_seconds();
    let mut all = Tally::default();
    for w in workers {
        let t = w.await?;
        all.latencies_us.extend(t.latencies_us);
        all.errors += t.errors;
        all.bytes += t.bytes;
        all.first_error = all.first_error.or(t.first_error);
    }
    let cpu = cpu_seconds() - cpu_from;
    let mut l = all.latencies_us;
    l.sort_unstable();
    let at = |q: f64| l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1))).copied().unwrap_or(0);
    Ok(json!({
        "requests": l.len() as u64 + all.errors,
        "ok": l.len(),
        "errors": all.errors,
        "first_error": all.first_error,
        "seconds": o.seconds,
        "p50_us": at(0.50),
        "p99_us": at(0.99),
        "max_us": l.last().copied().unwrap_or(0),
        "bytes": all.bytes,
        "cpu_seconds": cpu,
    }))
}

async fn worker(o: Arc<Options>, w: usize, start: Instant, from: Instant, until: Instant) -> Tally {
    let mut tally = Tally::default();
    // At a fixed rate, each connection sends every `connections / rate` seconds, offset from the
    // others so the requests spread evenly.
    let mut ticks = o.rate.map(|rate| {
        let period = Duration::from_secs_f64(o.connections as f64 / rate);
        let first = start + period.mul_f64(w as f64 / o.connections as f64);
        let mut i = tokio::time::interval_at(first.into(), period);
        i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        i
    });
    let mut sender = None;
    let mut n = w;
    loop {
        if let Some(ticks) = &mut ticks {
            ticks.tick().await;
        }
        let sent = Instant::now();
        if sent >= until {
            return tally;
        }
        let path = o.path.replace("{i}", &(n % o.names).to_string());
        n += o.connections;
        let result = async {
            if sender.is_none() {
                sender = Some(connect(o.addr).await?);
            }
            get(sender.as_mut().expect("connected above"), &o, &path).await
        };
        let result = tokio::time::timeout(REQUEST_TIMEOUT, result).await.unwrap_or_else(|_| Err(no_answer()));
        let done = Instant::now();
        let counted = sent >= from && done <= until;
        let failure = match result {
            Ok((200, body)) => {
                if counted {
                    let us = done.duration_since(sent).as_micros();
                    tally.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    tally.bytes += body.len() as u64;
                }
                None
            }
            Ok((status, body)) => Some(format!("GET {path}: status {status}: {}", String::from_utf8_lossy(&body))),
            Err(e) => {
                // A broken connection is replaced; wait a little so a dead server is not spun on.
                sender = None;
                tokio::time::sleep(Duration::from_millis(10)).await;
                Some(format!("GET {path}: {e:#}"))
            }
        };
        if let Some(message) = failure
            && sent >= from
        {
            tally.errors += 1;
            tally.first_error.get_or_insert(message);
        }
    }
}

/// This process's CPU time (user and system, all threads), from `/proc/self/stat` in clock
/// ticks of 1/100 s (`USER_HZ`, 100 on Linux whatever the kernel's `HZ`).
fn cpu_seconds() -> f64 {
    super::ticks("self").map_or(0.0, |t| t as f64 / 100.0)
}

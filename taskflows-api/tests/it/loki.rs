//! The push to Loki against a stand-in: a `TcpListener` thread that speaks enough HTTP/1.1 to
//! record each request and answer 204, 500 or never. In-process through the layer (a
//! subscriber set for the test's thread only), and through `logging::init` in a child process
//! (this test binary run again), where stderr can be read.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use taskflows_alerts::{Alerts, LogLinks, TaskPolicy, current_task_id, run_task};
use taskflows_api::logging::loki::{self, LokiConfig, LokiHandle, LokiLayer, PushPolicy};
use tracing_subscriber::layer::SubscriberExt as _;

/// One request as received.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Request {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// A stand-in for Loki on a loopback port. `answer` is the status it answers with (0: none,
/// the connection stays open until the client gives up).
struct FakeLoki {
    url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    answer: Arc<AtomicU16>,
}

impl FakeLoki {
    fn start() -> FakeLoki {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(AtomicU16::new(204));
        let (r, a) = (Arc::clone(&requests), Arc::clone(&answer));
        // Ends with the test binary.
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, a) = (Arc::clone(&r), Arc::clone(&a));
                std::thread::spawn(move || serve(stream, &r, &a));
            }
        });
        FakeLoki { url, requests, answer }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// Wait until `n` requests came (10 s at most).
    fn wait_for(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.requests.lock().unwrap().len() < n {
            assert!(Instant::now() < deadline, "{n} requests: {:?}", self.requests());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn answer(&self, status: u16) {
        self.answer.store(status, Ordering::SeqCst);
    }
}

/// Requests on one connection, one after the other, until the client closes it.
fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, answer: &AtomicU16) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut words = line.split_whitespace();
        let (method, path) = (words.next().unwrap_or("").to_owned(), words.next().unwrap_or("").to_owned());
        let mut headers = BTreeMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let Some((name, value)) = header.trim_end().split_once(':') else { break };
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
        let length = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.lock().unwrap().push(Request { method, path, headers, body });
        let answer = match answer.load(Ordering::SeqCst) {
            0 => continue,
            204 => "HTTP/1.1 204 No Content\r\n\r\n".to_owned(),
            status => format!("HTTP/1.1 {status} Oops\r\ncontent-length: 4\r\n\r\nboom"),
        };
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn config(url: &str) -> LokiConfig {
    let vars = [("TASKFLOWS_LOKI_URL", url), ("ENVIRONMENT", "prod"), ("APP_NAME", "reports")];
    LokiConfig::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())).unwrap().unwrap()
}

/// Batches only when flushed (or 1000 lines), so each test decides when requests go out.
fn on_flush() -> PushPolicy {
    PushPolicy { interval: Duration::from_secs(600), ..PushPolicy::default() }
}

fn start(config: LokiConfig, policy: PushPolicy) -> (LokiLayer, LokiHandle) {
    loki::layer(config, policy).unwrap()
}

/// Run `f` with the layer as this thread's subscriber.
fn with_layer<T>(layer: LokiLayer, f: impl FnOnce() -> T) -> T {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f)
}

fn now_nanos() -> u128 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()
}

/// Each pushed line: its stream's labels, its timestamp (checked to be a string of digits) and
/// its text.
fn lines(request: &Request) -> Vec<(BTreeMap<String, String>, u128, String)> {
    let body = request.json();
    let mut out = Vec::new();
    for stream in body["streams"].as_array().unwrap() {
        let labels: BTreeMap<String, String> = stream["stream"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        for value in stream["values"].as_array().unwrap() {
            let [ts, line] = value.as_array().unwrap().as_slice() else { panic!("{value}") };
            let ts = ts.as_str().unwrap_or_else(|| panic!("a timestamp is a string: {ts}"));
            assert!(ts.len() == 19 && ts.bytes().all(|b| b.is_ascii_digit()), "nanoseconds: {ts}");
            out.push((labels.clone(), ts.parse().unwrap(), line.as_str().unwrap().to_owned()));
        }
    }
    out
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Whether a stream with `labels` and the line `line` is selected by a LogQL query of the form
/// the alert links and the dashboard use: `{a="x", b=~"re"} |= "text"` (the regex only as
/// `prefix(alternatives)suffix`, literal otherwise).
fn selects(query: &str, labels: &BTreeMap<String, String>, line: &str) -> bool {
    let (selector, filter) = query.split_once('}').unwrap();
    let matchers = selector.trim_start_matches('{');
    let labels_match = matchers.split(", ").all(|m| {
        if let Some((k, v)) = m.split_once("=~") {
            let re = v.trim_matches('"').replace("\\\\.", ".");
            let (prefix, rest) = re.split_once('(').unwrap();
            let (alternatives, suffix) = rest.split_once(')').unwrap();
            alternatives.split('|').any(|a| labels.get(k).is_some_and(|l| *l == format!("{prefix}{a}{suffix}")))
        } else {
            let (k, v) = m.split_once('=').unwrap();
            labels.get(k).is_some_and(|l| l == v.trim_matches('"'))
        }
    });
    let filter = filter.trim();
    labels_match && (filter.is_empty() || line.contains(filter.trim_start_matches("|= ").trim_matches('"')))
}

/// The dashboard's LogQL queries (those that select by a label).
fn loki_exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(expr)) = map.get("expr")
                && expr.starts_with('{')
            {
                out.push(expr.clone());
            }
            map.values().for_each(|v| loki_exprs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| loki_exprs(v, out)),
        _ => {}
    }
}

/// `%XX` decoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// The query of an alert's Loki link.
fn link_query(links: &LogLinks, name: &str, id: taskflows_alerts::TaskId) -> String {
    let now = jiff::Timestamp::now();
    let link = links.explore(name, id, now, now).unwrap();
    let query = link.split("query=").nth(1).unwrap().split('&').next().unwrap();
    percent_decode(query)
}

#[test]
fn a_tasks_lines_carry_the_labels_that_alert_links_and_the_dashboard_query() {
    for unit in [None, Some("taskflows-nightly-sync.service")] {
        let loki = FakeLoki::start();
        let config = match unit {
            Some(unit) => config(&loki.url).unit(unit),
            None => config(&loki.url),
        };
        let (layer, handle) = start(config, on_flush());
        let before = now_nanos();
        let id = with_layer(layer, || {
            tracing::info!(rows = 3, "outside any task");
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let policy = TaskPolicy::new("nightly-sync").retries(1);
            let tries = std::cell::Cell::new(0);
            let id = runtime
                .block_on(run_task(&policy, &Alerts::none(), || {
                    tries.set(tries.get() + 1);
                    let first = tries.get() == 1;
                    async move {
                        tracing::info!(first, "fetching \"prices\"");
                        if first {
                            return Err(std::io::Error::other("refused"));
                        }
                        Ok(current_task_id().unwrap())
                    }
                }))
                .unwrap()
                .unwrap();
            assert!(handle.flush(Duration::from_secs(10)), "flushed");
            id
        });
        let after = now_nanos();
        let requests = loki.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        let request = &requests[0];
        assert_eq!((request.method.as_str(), request.path.as_str()), ("POST", "/loki/api/v1/push"));
        assert_eq!(request.headers.get("content-type").map(String::as_str), Some("application/json"));
        assert!(!request.headers.contains_key("authorization"), "{:?}", request.headers);

        let base = |more: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("job", "taskflows"), ("environment", "prod"), ("app", "reports")];
            pairs.extend(unit.map(|u| ("unit", u)));
            pairs.extend_from_slice(more);
            labels(&pairs)
        };
        let got = lines(request);
        let texts: Vec<(BTreeMap<String, String>, String)> =
            got.iter().map(|(l, _, t)| (l.clone(), t.clone())).collect();
        let task = [("task", "nightly-sync")];
        assert_eq!(
            texts,
            [
                (base(&[("level", "info")]), "msg=\"outside any task\" rows=3".to_owned()),
                (
                    base(&[task[0], ("level", "info")]),
                    format!("msg=\"fetching \\\"prices\\\"\" first=true task_id={id}")
                ),
                (
                    base(&[task[0], ("level", "info")]),
                    format!("msg=\"fetching \\\"prices\\\"\" first=false task_id={id}")
                ),
                (
                    base(&[task[0], ("level", "warn")]),
                    format!("msg=\"task attempt failed\" attempt=1 attempts=2 error=refused kind=Error task_id={id}")
                ),
            ]
        );
        // nanoseconds of the time each line was logged, in order within a stream
        for (_, ts, _) in &got {
            assert!((before..=after).contains(ts), "{before} <= {ts} <= {after}");
        }
        assert!(got[1].1 < got[2].1, "{got:?}");

        // the alert link's query finds the task's lines (by unit under one, else by name and run id)
        let links = LogLinks { grafana: None, loki: Some(loki.url.clone()), unit: unit.map(str::to_owned) };
        let query = link_query(&links, "nightly-sync", id);
        let found: Vec<&String> = got.iter().filter(|(l, _, t)| selects(&query, l, t)).map(|(_, _, t)| t).collect();
        assert_eq!(found.len(), if unit.is_some() { 4 } else { 3 }, "{query}: {found:?}");
        // the dashboard's logs panel finds them under a unit
        let mut exprs = Vec::new();
        loki_exprs(&taskflows_api::grafana::dashboard(), &mut exprs);
        assert_eq!(exprs.len(), 1, "{exprs:?}");
        let panel = exprs[0].replace("$service", "nightly-sync|other");
        let on_panel = got.iter().filter(|(l, _, t)| selects(&panel, l, t)).count();
        assert_eq!(on_panel, if unit.is_some() { 4 } else { 0 }, "{panel}");
    }
}

#[test]
fn a_full_queue_drops_lines_and_a_later_line_counts_them() {
    let loki = FakeLoki::start();
    let (layer, handle) = start(config(&loki.url), PushPolicy { capacity: 4, ..on_flush() });
    with_layer(layer, || {
        for n in 0..10 {
            tracing::info!(n, "line");
        }
        assert!(handle.flush(Duration::from_secs(10)));
        tracing::info!("after");
        assert!(handle.flush(Duration::from_secs(10)));
    });
    let requests = loki.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    let texts = |r: &Request| lines(r).into_iter().map(|(l, _, t)| format!("{} {t}", l["level"])).collect::<Vec<_>>();
    assert_eq!(
        texts(&requests[0]),
        [
            "info msg=line n=0",
            "info msg=line n=1",
            "info msg=line n=2",
            "info msg=line n=3",
            "warn msg=\"log lines did not reach Loki\" dropped=6 failed=0",
        ]
    );
    // counted once
    assert_eq!(texts(&requests[1]), ["info msg=after"]);
}

#[test]
fn a_failing_loki_is_retried_then_given_up_and_the_loss_reported_later() {
    let loki = FakeLoki::start();
    loki.answer(500);
    let retries = vec![Duration::from_millis(20), Duration::from_millis(20)];
    let (layer, handle) = start(config(&loki.url), PushPolicy { retry_delays: retries, ..on_flush() });
    with_layer(layer, || {
        tracing::info!("doomed");
        tracing::info!("doomed too");
        let started = Instant::now();
        assert!(handle.flush(Duration::from_secs(10)), "given up within the flush");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        // three tries of the same body, then no more
        let requests = loki.requests();
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert!(requests.iter().all(|r| r.body == requests[0].body));
        assert!(String::from_utf8_lossy(&requests[0].body).contains("msg=doomed"));

        loki.answer(204);
        tracing::info!("back");
        assert!(handle.flush(Duration::from_secs(10)));
    });
    let requests = loki.requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    let texts: Vec<String> = lines(&requests[3]).into_iter().map(|(_, _, t)| t).collect();
    // the warning went to stderr, not into the push
    assert_eq!(texts, ["msg=back", "msg=\"log lines did not reach Loki\" dropped=0 failed=2"]);
}

#[test]
fn a_loki_that_never_answers_does_not_hold_the_program_up() {
    let loki = FakeLoki::start();
    loki.answer(0);
    let timeout = Duration::from_millis(500);
    let policy = PushPolicy { timeout, retry_delays: vec![Duration::ZERO], ..on_flush() };
    let (layer, handle) = start(config(&loki.url), policy);
    with_layer(layer, || {
        tracing::info!("first");
        let started = Instant::now();
        assert!(!handle.flush(Duration::from_millis(100)), "not sent: Loki holds the request");
        assert!(started.elapsed() < timeout, "the flush is bounded: {:?}", started.elapsed());
        loki.wait_for(1);
        // while the push waits for its answer, logging goes on at full speed
        let started = Instant::now();
        for n in 0..2000 {
            tracing::info!(n, "meanwhile");
        }
        assert!(started.elapsed() < timeout, "logging waited for Loki: {:?}", started.elapsed());
        // the retry after the timeout is answered
        loki.answer(204);
        assert!(handle.flush(Duration::from_secs(10)));
    });
    let requests = loki.requests();
    assert!(requests.len() >= 2, "{requests:?}");
    let retried = lines(&requests[1]);
    assert_eq!(retried.len(), 1, "the held batch, tried again: {retried:?}");
    assert_eq!(retried[0].2, "msg=first");
    let rest: usize = requests[2..].iter().map(|r| lines(r).len()).sum();
    assert_eq!(rest, 2000, "every line logged meanwhile was sent after");
}

#[test]
fn a_token_or_the_urls_user_signs_the_requests() {
    let loki = FakeLoki::start();
    let vars = [("TASKFLOWS_LOKI_URL", loki.url.as_str()), ("TASKFLOWS_LOKI_TOKEN", "t0ken")];
    let config =
        LokiConfig::from_vars(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())).unwrap();
    let (layer, handle) = start(config.unwrap(), on_flush());
    with_layer(layer, || {
        tracing::info!("hello");
        assert!(handle.flush(Duration::from_secs(10)));
    });
    let requests = loki.requests();
    assert_eq!(requests[0].headers.get("authorization").map(String::as_str), Some("Bearer t0ken"));
    let with_user = FakeLoki::start();
    let url = with_user.url.replace("http://", "http://me:pa55@");
    let (layer, handle) = start(
        LokiConfig::from_vars(|n| (n == "TASKFLOWS_LOKI_URL").then(|| url.clone())).unwrap().unwrap(),
        on_flush(),
    );
    with_layer(layer, || {
        tracing::info!("hello");
        assert!(handle.flush(Duration::from_secs(10)));
    });
    // base64("me:pa55")
    assert_eq!(with_user.requests()[0].headers.get("authorization").map(String::as_str), Some("Basic bWU6cGE1NQ=="));
}

/// What the child process does, by `TASKFLOWS_TEST_CHILD`; nothing in a normal run.
#[test]
fn child() {
    let Ok(what) = std::env::var("TASKFLOWS_TEST_CHILD") else { return };
    match what.as_str() {
        "init" => {
            taskflows_api::logging::init("info");
            tracing::info!(n = 1, "from the child");
            tracing::debug!("filtered out");
            assert!(taskflows_api::logging::flush(), "flushed at exit");
        }
        "warn" => {
            let config = LokiConfig::from_env().unwrap().unwrap();
            let policy = PushPolicy { retry_delays: vec![], ..on_flush() };
            let (layer, handle) = start(config, policy);
            with_layer(layer, || {
                for n in 0..3 {
                    tracing::info!(n, "lost");
                    assert!(handle.flush(Duration::from_secs(10)));
                }
            });
        }
        other => panic!("unknown child {other}"),
    }
}

/// This test binary again, running only [`child`] as `what`, with `vars` and none of the log
/// variables of this process.
fn run_child(what: &str, vars: &[(&str, &str)]) -> std::process::Output {
    run_child_to(what, vars, None)
}

/// [`run_child`] with its stderr to `stderr` when given.
fn run_child_to(what: &str, vars: &[(&str, &str)], stderr: Option<std::fs::File>) -> std::process::Output {
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["loki::child", "--exact", "--nocapture", "--test-threads=1"]);
    for name in [
        "JOURNAL_STREAM",
        "TASKFLOWS_LOG",
        "RUST_LOG",
        "TASKFLOWS_LOG_FORMAT",
        "TASKFLOWS_LOKI_URL",
        "TASKFLOWS_LOKI_TOKEN",
        "LOKI_HOST",
        "LOKI_PORT",
        "ENVIRONMENT",
        "APP_NAME",
    ] {
        command.env_remove(name);
    }
    command.env("TASKFLOWS_TEST_CHILD", what).envs(vars.iter().copied());
    if let Some(file) = stderr {
        command.stderr(file);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "child {what}: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn init_pushes_beside_stderr_and_flush_sends_the_last_lines() {
    let loki = FakeLoki::start();
    let output = run_child("init", &[("TASKFLOWS_LOKI_URL", &loki.url), ("APP_NAME", "child")]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("from the child") && stderr.contains("n=1"), "stderr as before: {stderr}");
    let requests = loki.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let got = lines(&requests[0]);
    let mut expected = labels(&[("job", "taskflows"), ("app", "child"), ("level", "info")]);
    // the child runs in this process's cgroup: a unit label if this runs in a service
    if let Some(unit) = LogLinks::from_env().unit {
        expected.insert("unit".into(), unit);
    }
    assert_eq!(
        got.into_iter().map(|(l, _, t)| (l, t)).collect::<Vec<_>>(),
        [(expected, "msg=\"from the child\" n=1".into())]
    );
}

#[test]
fn a_bad_loki_url_is_one_error_line_and_nothing_is_pushed() {
    for url in ["ftp://me:secret@loki:3100", "http://", "loki:3100", "http://me:secret@loki:99999", "http://loki?x"] {
        let output = run_child("init", &[("TASKFLOWS_LOKI_URL", url)]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("TASKFLOWS_LOKI_URL")).collect();
        assert_eq!(errors.len(), 1, "{url}: {stderr}");
        assert!(errors[0].starts_with("error: TASKFLOWS_LOKI_URL "), "{}", errors[0]);
        assert!(
            errors[0].contains("http[s]://") && errors[0].ends_with("log lines are not pushed to Loki"),
            "{}",
            errors[0]
        );
        assert!(!stderr.contains("secret"), "{stderr}");
        assert!(stderr.contains("from the child"), "stderr as before: {stderr}");
    }
}

#[test]
fn nothing_is_pushed_when_stderr_is_the_journal() {
    use std::os::unix::fs::MetadataExt as _;
    // JOURNAL_STREAM names the child's stderr, as systemd sets it: the journal's pipelines ship
    // the lines (natively, or from the stream when journald's socket is not there)
    let loki = FakeLoki::start();
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("stderr")).unwrap();
    let meta = file.metadata().unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    run_child_to("init", &[("TASKFLOWS_LOKI_URL", &loki.url), ("JOURNAL_STREAM", &stream)], Some(file));
    let stderr = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(!stderr.contains("Loki"), "{stderr}");
    assert!(loki.requests().is_empty(), "{:?}", loki.requests());
    // the same child off the journal pushes (the test can fail)
    run_child("init", &[("TASKFLOWS_LOKI_URL", &loki.url)]);
    assert_eq!(loki.requests().len(), 1);
}

#[test]
fn a_failed_push_is_warned_about_on_stderr_at_most_once_a_minute() {
    let loki = FakeLoki::start();
    loki.answer(500);
    let url = loki.url.replace("http://", "http://me:secret@");
    let output = run_child("warn", &[("TASKFLOWS_LOKI_URL", &url)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("Loki")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    let expected = format!(
        "warning: cannot push log lines to Loki at {}/loki/api/v1/push: Loki answered 500 Internal Server Error: boom; 1 line(s) not sent (said at most once every 60s)",
        loki.url
    );
    assert_eq!(warnings[0], expected);
    assert_eq!(loki.requests().len(), 3, "three batches, no retries");
}

//! A real browser for tests: Debian's headless Chromium (`/usr/bin/chromium`), driven over
//! WebDriver by its `chromedriver` (`/usr/bin/chromedriver`, package `chromium-driver`) with the
//! `fantoccini` client.
//!
//! [`Browser::start`] starts a chromedriver of its own on a free loopback port, opens one
//! Chromium session with a fresh profile, and kills both (and every Chromium child) when dropped.
//! The tests of this crate are plain synchronous `#[test]` functions that build a tokio
//! current-thread runtime when they need async work; `Browser` owns such a runtime and offers a
//! synchronous API: each method runs one WebDriver command to completion (bounded by
//! [`COMMAND_TIMEOUT`]) and panics with what it was doing when it fails. For anything the helpers
//! do not cover, [`Browser::client`] is the fantoccini client and [`Browser::block_on`] runs a
//! future on the browser's runtime:
//!
//! ```ignore
//! let browser = Browser::start();
//! browser.goto(&url);
//! let title = browser.block_on(browser.client().title()).unwrap();
//! ```
//!
//! Chromium runs headless with `--no-sandbox` (the tests run as root, where Chromium's own
//! sandbox refuses to start) and without network services of its own (no sync, component
//! updates, background networking or QUIC): pages come from servers the tests start on
//! loopback.

use std::future::Future;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cookie::SameSite;
use fantoccini::cookies::Cookie;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use rustix::process::{Pid, Signal};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long chromedriver may take to listen and answer `/status`, and Chromium to start.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// The bound on any one WebDriver command (page loads and scripts also time out in the session
/// after 30 s, so a stuck page fails with WebDriver's own error first).
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// A phone's window (CSS pixels), for [`Browser::set_window_size`]: the viewport is as wide
/// (`innerWidth` 390), and less tall by what headless Chromium keeps of a window's frame.
pub(crate) const PHONE: (u32, u32) = (390, 844);
/// The window Chromium starts with (the viewport is 1280 wide).
pub(crate) const DESKTOP: (u32, u32) = (1280, 900);

pub(crate) struct Browser {
    /// `None` once closed (in `Drop`).
    client: Option<Client>,
    runtime: tokio::runtime::Runtime,
    driver: Child,
    /// Chromium's profile (`--user-data-dir`) and chromedriver's log, removed on drop.
    dir: tempfile::TempDir,
    started_in: Duration,
}

impl Browser {
    /// Starts chromedriver and one headless Chromium session. Panics, naming what is missing, if
    /// Chromium or chromedriver is not installed, and with chromedriver's log if either does not
    /// start within [`START_TIMEOUT`].
    pub(crate) fn start() -> Browser {
        let started = Instant::now();
        for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(path).exists(),
                "{path} is missing: the browser tests need Debian's headless Chromium and its WebDriver \
                 server (apt-get install -y chromium chromium-driver; .ci/run installs them); {package} \
                 is not installed"
            );
        }
        let dir = tempfile::Builder::new().prefix("tf-it-browser-").tempdir().expect("a temp folder for Chromium");
        let profile = dir.path().join("profile");
        let log = dir.path().join("chromedriver.log");
        // Its own process group: dropping the browser kills chromedriver and every Chromium
        // process it started, and only those. Chromium keeps more than its profile under HOME
        // (`~/.config/chromium/Crash Reports`, fontconfig's cache): a home in the temp folder
        // keeps the test's own home untouched and every file of the browser in one place.
        let driver = Command::new(CHROMEDRIVER)
            .arg("--port=0")
            .arg(format!("--log-path={}", log.display()))
            .env("HOME", dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join(".config"))
            .env("XDG_CACHE_HOME", dir.path().join(".cache"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("failed to start {CHROMEDRIVER}: {e}"));
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        // From here on, a panic drops `browser`, which kills chromedriver.
        let mut browser = Browser { client: None, runtime, driver, dir, started_in: Duration::ZERO };
        let deadline = started + START_TIMEOUT;
        let port = browser.driver_port(deadline);
        let url = format!("http://127.0.0.1:{port}");
        browser.wait_until_ready(&url, deadline);

        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // Debian's build starts two crash handlers that leave the process group (their own
            // session, adopted by init) and write to ~/.config/chromium/Crash Reports.
            "--disable-crash-reporter",
            &format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
            &format!("--user-data-dir={}", profile.display()),
        ];
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
            "timeouts": { "pageLoad": 30_000, "script": 30_000, "implicit": 0 },
        });
        let serde_json::Value::Object(capabilities) = capabilities else { unreachable!() };
        let mut builder = ClientBuilder::new(HttpConnector::new());
        let connect = builder.capabilities(capabilities).connect(&url);
        let client = match browser.block_on_within(deadline.saturating_duration_since(Instant::now()), connect) {
            Some(Ok(client)) => client,
            Some(Err(e)) => panic!("Chromium did not start through chromedriver: {e}\n{}", browser.driver_log()),
            None => panic!("Chromium did not start within {START_TIMEOUT:?}\n{}", browser.driver_log()),
        };
        browser.client = Some(client);
        browser.started_in = started.elapsed();
        browser
    }

    /// The port chromedriver says it listens on (`--port=0`: the kernel picks a free one, so no
    /// other process can take it between choosing and binding).
    fn driver_port(&mut self, deadline: Instant) -> u16 {
        let stdout = self.driver.stdout.take().expect("chromedriver's stdout is piped");
        let (tx, rx) = mpsc::channel();
        // Reads stdout to its end, so chromedriver never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // "ChromeDriver was started successfully on port 41235."
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    let _ = tx.send(rest.trim_end_matches('.').trim().parse::<u16>());
                }
            }
        });
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(port)) => port,
            Ok(Err(e)) => panic!("chromedriver named an unreadable port: {e}\n{}", self.driver_log()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.driver.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                panic!("chromedriver ended ({status}) before it said which port it listens on\n{}", self.driver_log())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "chromedriver did not say which port it listens on within {START_TIMEOUT:?}\n{}",
                self.driver_log()
            ),
        }
    }

    /// Polls `GET /status` until chromedriver answers `"ready": true`.
    fn wait_until_ready(&mut self, url: &str, deadline: Instant) {
        let address = url.trim_start_matches("http://").to_owned();
        loop {
            let last = match http_get(&address, "/status") {
                Ok((200, body)) if body.contains("\"ready\":true") => return,
                Ok((code, body)) => format!("{code} {body}"),
                Err(e) => e.to_string(),
            };
            if let Ok(Some(status)) = self.driver.try_wait() {
                panic!("chromedriver exited ({status}) before it answered /status\n{}", self.driver_log());
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer GET {url}/status with ready within {START_TIMEOUT:?} (last: \
                 {last})\n{}",
                self.driver_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// chromedriver's log, for a failure's message.
    fn driver_log(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("chromedriver.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("chromedriver's log (last lines):\n{}", tail.join("\n"))
    }

    /// How long [`Browser::start`] took: chromedriver up, then a Chromium session.
    pub(crate) fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The browser's processes, to check that none outlives it.
    pub(crate) fn processes(&self) -> Processes {
        Processes { group: self.driver.id(), folder: format!("{}/", self.dir.path().display()) }
    }

    /// The fantoccini client, for what the helpers do not cover (run its futures with
    /// [`Browser::block_on`]).
    pub(crate) fn client(&self) -> &Client {
        self.client.as_ref().expect("the browser is open")
    }

    /// Runs `future` on the browser's runtime, where the client's session lives.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// [`Browser::block_on`] bounded by `limit`: `None` if `future` did not end within it.
    fn block_on_within<F: Future>(&self, limit: Duration, future: F) -> Option<F::Output> {
        self.runtime.block_on(async { tokio::time::timeout(limit, future).await.ok() })
    }

    /// Runs one WebDriver command, panicking with `what` if it fails or takes longer than
    /// [`COMMAND_TIMEOUT`].
    fn run<T, E: std::fmt::Display>(&self, what: &str, command: impl Future<Output = Result<T, E>>) -> T {
        match self.block_on_within(COMMAND_TIMEOUT, command) {
            Some(Ok(value)) => value,
            Some(Err(e)) => panic!("browser: {what}: {e}"),
            None => panic!("browser: {what}: no answer within {COMMAND_TIMEOUT:?}"),
        }
    }

    /// Loads `url` and waits for its `load` event.
    pub(crate) fn goto(&self, url: &str) {
        self.run(&format!("go to {url}"), self.client().goto(url));
    }

    /// The text of the first element matching `css`.
    pub(crate) fn text(&self, css: &str) -> String {
        self.run(&format!("the text of {css}"), async { self.client().find(Locator::Css(css)).await?.text().await })
    }

    /// Waits until an element matching `css` holds `text` (a substring of its rendered text);
    /// returns that whole text. Panics after `timeout` with the last text seen.
    pub(crate) fn wait_for_text(&self, css: &str, text: &str, timeout: Duration) -> String {
        crate::wait_for(timeout, Duration::from_millis(50), || {
            let seen = self
                .block_on_within(COMMAND_TIMEOUT, async { self.client().find(Locator::Css(css)).await?.text().await });
            match seen {
                Some(Ok(seen)) if seen.contains(text) => Ok(seen),
                Some(Ok(seen)) => Err(format!("browser: {css} shows {seen:?}, not {text:?}")),
                Some(Err(e)) => Err(format!("browser: {css} shows no {text:?}: {e}")),
                None => Err(format!("browser: {css}: no answer within {COMMAND_TIMEOUT:?}")),
            }
        })
    }

    /// Clicks the first element matching `css`.
    pub(crate) fn click(&self, css: &str) {
        self.run(&format!("click {css}"), async { self.client().find(Locator::Css(css)).await?.click().await });
    }

    /// Replaces the value of the input matching `css` with `text`, typed as keys.
    pub(crate) fn fill(&self, css: &str, text: &str) {
        self.run(&format!("fill {css}"), async {
            let input = self.client().find(Locator::Css(css)).await?;
            input.clear().await?;
            input.send_keys(text).await
        });
    }

    /// Runs `js` as a function body in the page (`return …` gives the value) and returns its
    /// value as JSON.
    pub(crate) fn execute(&self, js: &str) -> serde_json::Value {
        self.run("run a script", self.client().execute(js, Vec::new()))
    }

    /// Sets a cookie for the current page's site: `("name", "value")` or a built [`Cookie`]
    /// (`HttpOnly`, `Secure`, an expiry…). Unless the cookie says otherwise, it is for the current
    /// page's host and path `/`, `SameSite=Lax` (fantoccini would send no domain, which
    /// chromedriver refuses, and `SameSite=None`, which Chromium drops without `Secure`).
    pub(crate) fn set_cookie(&self, cookie: impl Into<Cookie<'static>>) {
        let mut cookie = cookie.into();
        if cookie.domain().is_none() {
            let url = self.run("read the current URL", self.client().current_url());
            let host = url.host_str().unwrap_or_else(|| panic!("browser: set a cookie: {url} has no host"));
            cookie.set_domain(host.to_owned());
        }
        if cookie.path().is_none() {
            cookie.set_path("/");
        }
        if cookie.same_site().is_none() {
            cookie.set_same_site(SameSite::Lax);
        }
        self.run(&format!("set the cookie {}", cookie.name()), self.client().add_cookie(cookie.clone()));
    }

    /// The cookies the current page's site holds, `HttpOnly` ones included.
    pub(crate) fn cookies(&self) -> Vec<Cookie<'static>> {
        self.run("read the cookies", self.client().get_all_cookies())
    }

    /// Resizes the window, e.g. to [`PHONE`] for a phone-width layout or back to [`DESKTOP`].
    pub(crate) fn set_window_size(&self, (width, height): (u32, u32)) {
        self.run(&format!("resize the window to {width}×{height}"), self.client().set_window_size(width, height));
    }

    /// Saves a PNG of the viewport as `TARGET/screenshots/NAME.png` and returns its path.
    /// `TARGET` is `CARGO_TARGET_DIR` if set, else the target folder this test was built in (the
    /// workspace's `target/` unless the build had `CARGO_TARGET_DIR`); the sandbox shares it.
    pub(crate) fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.run("take a screenshot", self.client().screenshot());
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    /// The current page's first contentful paint, in milliseconds after its navigation started
    /// (`performance.getEntriesByName('first-contentful-paint')`). Waits up to 10 s for the
    /// entry: a page that paints no text or image never has one.
    pub(crate) fn first_contentful_paint_ms(&self) -> f64 {
        let js = "const e = performance.getEntriesByName('first-contentful-paint'); \
                  return e.length ? e[0].startTime : null;";
        crate::wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
            self.execute(js).as_f64().ok_or_else(|| "browser: no first-contentful-paint entry".to_owned())
        })
    }
}

impl Drop for Browser {
    /// Ends the session (chromedriver quits Chromium), then kills the whole process group and
    /// reaps chromedriver: nothing of the browser outlives it.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            let _ = self.block_on_within(Duration::from_secs(10), client.close());
        }
        if let Some(group) = Pid::from_raw(self.driver.id() as i32) {
            let _ = rustix::process::kill_process_group(group, Signal::KILL);
        }
        let _ = self.driver.wait();
        // A helper that left the group (Chromium's crash handler starts in a session of its own)
        // still names the browser's unique folder on its command line.
        for (pid, _) in self.processes().list() {
            if let Some(pid) = Pid::from_raw(pid as i32) {
                let _ = rustix::process::kill_process(pid, Signal::KILL);
            }
        }
    }
}

/// What identifies a [`Browser`]'s processes: chromedriver's process group (chromedriver and
/// the Chromium processes it starts) and the browser's temp folder, which the command line of
/// any Chromium helper that left the group names (its profile or crash-report folder).
pub(crate) struct Processes {
    group: u32,
    /// The temp folder's path and a `/`: what its files' paths begin with.
    folder: String,
}

impl Processes {
    /// The browser's processes alive now (PID, name); none once the browser is dropped.
    pub(crate) fn list(&self) -> Vec<(u32, String)> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").expect("read /proc").flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
            // pid (comm) state ppid pgrp …; comm may hold blanks and parentheses.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            let in_group = fields.get(2).and_then(|p| p.parse::<u32>().ok()) == Some(self.group);
            let names_folder = || {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&self.folder))
            };
            if in_group || names_folder() {
                found.push((pid, stat[open + 1..close].to_owned()));
            }
        }
        found
    }
}

/// Where the tests' artifacts go: `CARGO_TARGET_DIR` if set, else the target folder of this
/// build (`tf` is in `TARGET/debug/`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| Path::new(d).is_absolute()) {
        return PathBuf::from(dir);
    }
    let tf = Path::new(env!("CARGO_BIN_EXE_tf"));
    tf.parent().and_then(Path::parent).expect("tf is in TARGET/PROFILE/").to_path_buf()
}

/// A one-shot HTTP/1.1 GET on loopback: status code and body (chromedriver keeps the
/// connection open, so the body is read by its `Content-Length`).
fn http_get(address: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let code = status.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

/// A tiny web server on a free loopback port: answers `GET PATH` with the file of that path
/// (content type, body), anything else with 404, and records each request's path.
struct Site {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Site {
    fn serve(files: &'static [(&'static str, &'static str, &'static str)]) -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let seen = Arc::clone(&seen);
                // One thread a connection: Chromium opens connections it may never use.
                std::thread::spawn(move || answer(stream, files, &seen));
            }
        });
        Site { port, requests }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, files: &[(&str, &str, &str)], seen: &Mutex<Vec<String>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(&stream);
    // Keep-alive: answer requests on this connection until the browser closes it.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header.trim_end().is_empty() {
                break;
            }
        }
        let path = line.split(' ').nth(1).unwrap_or_default().to_owned();
        seen.lock().unwrap().push(path.clone());
        let (status, kind, body) = match files.iter().find(|(p, _, _)| *p == path) {
            Some((_, kind, body)) => ("200 OK", *kind, *body),
            None => ("404 Not Found", "text/plain", "not found"),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\r\n",
            body.len()
        );
        let mut out = &stream;
        if out.write_all(head.as_bytes()).and_then(|()| out.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>taskflows browser check</title>
<style>
  body { font-family: sans-serif; margin: 2rem; }
  #status { font-size: 2rem; }
  @media (max-width: 600px) { body { margin: 0.5rem; } #layout::after { content: "phone"; } }
  @media (min-width: 601px) { #layout::after { content: "desktop"; } }
</style>
<script src="/app.js" defer></script>
</head>
<body>
<h1 id="status">loading</h1>
<p id="layout"></p>
<input id="name" value="someone">
<button id="go">Greet</button>
</body>
</html>
"#;

const SCRIPT: &str = r#"
const status = document.getElementById('status');
status.textContent = 'ready';
document.getElementById('go').addEventListener('click', () => {
  status.textContent = 'hello ' + document.getElementById('name').value;
  document.cookie = 'greeted=yes; path=/';
});
"#;

/// Chromium works inside the sandbox, in both scopes, where the tests that drive `tf`'s pages
/// will run it: a page and its separate script served from loopback, a click that changes the
/// text, cookies both ways, desktop and phone widths, screenshots, first contentful paint; and
/// no process of the browser left once it is dropped.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn browser_renders_a_local_page_inside_the_sandbox() {
    in_sandbox();
    let site = Site::serve(&[("/", "text/html; charset=utf-8", PAGE), ("/app.js", "text/javascript", SCRIPT)]);
    let scope = std::env::var("TF_TEST_SCOPE").unwrap_or_else(|_| "host".to_owned());

    let browser = Browser::start();
    browser.goto(&site.url("/"));
    // The separate script ran: it replaced the page's own text.
    browser.wait_for_text("#status", "ready", Duration::from_secs(10));
    let title = browser.block_on(browser.client().title()).expect("the page's title");
    assert_eq!(title, "taskflows browser check");

    browser.fill("#name", "taskflows");
    browser.click("#go");
    browser.wait_for_text("#status", "hello", Duration::from_secs(10));
    assert_eq!(browser.text("#status"), "hello taskflows");

    // Cookies both ways: the one the page's script set, and one set through WebDriver.
    browser.set_cookie(("from_test", "1"));
    let cookies = browser.cookies();
    let value = |name: &str| cookies.iter().find(|c| c.name() == name).map(|c| c.value().to_owned());
    assert_eq!(value("greeted").as_deref(), Some("yes"), "{cookies:?}");
    assert_eq!(value("from_test").as_deref(), Some("1"), "{cookies:?}");
    let seen = browser.execute("return document.cookie;");
    assert!(seen.as_str().is_some_and(|c| c.contains("from_test=1")), "{seen}");

    // The page's media queries follow the window.
    let layout = || browser.execute("return getComputedStyle(document.getElementById('layout'), '::after').content;");
    assert_eq!(browser.execute("return window.innerWidth;"), DESKTOP.0);
    assert_eq!(layout(), "\"desktop\"");
    let desktop = browser.screenshot(&format!("browser-local-page-{scope}"));
    let png = std::fs::read(&desktop).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 1000, "{} is no PNG", desktop.display());
    browser.set_window_size(PHONE);
    assert_eq!(browser.execute("return window.innerWidth;"), PHONE.0);
    assert_eq!(layout(), "\"phone\"");
    let phone = browser.screenshot(&format!("browser-local-page-phone-{scope}"));
    assert!(std::fs::metadata(&phone).is_ok_and(|m| m.len() > 1000), "{}", phone.display());

    let fcp = browser.first_contentful_paint_ms();
    assert!(fcp > 0.0 && fcp < 10_000.0, "first contentful paint {fcp} ms");
    let requests = site.requests();
    assert!(requests.iter().any(|p| p == "/") && requests.iter().any(|p| p == "/app.js"), "{requests:?}");

    // Nothing of the browser outlives it.
    let processes = browser.processes();
    let running = processes.list();
    assert!(running.iter().filter(|(_, name)| name == "chromium").count() > 1, "{running:?}");
    let started_in = browser.started_in();
    let closing = Instant::now();
    drop(browser);
    let closed_in = closing.elapsed();
    crate::wait_for(Duration::from_secs(10), Duration::from_millis(50), || match processes.list()[..] {
        [] => Ok(()),
        ref left => Err(format!("left behind by the browser: {left:?}")),
    });
    crate::figure(&format!(
        "browser: Chromium up in {} ms (chromedriver, then a session), first contentful paint of a local \
         page {fcp:.0} ms, closed in {} ms; screenshots in {}",
        started_in.as_millis(),
        closed_in.as_millis(),
        desktop.parent().unwrap().display()
    ));
}

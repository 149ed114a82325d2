//! [`Remote`]: the operations of an API server, over HTTP(S) with signed requests — what
//! `tf -s HOST` calls. Answers are the same contract types [`crate::Local`] returns; a server's
//! error comes back as [`Error::Remote`] with the exit code the server gave it.
//!
//! Servers are named in the client's server book ([`ServerBook`],
//! `~/.config/taskflows/servers.toml`, 0600): a name, its URL, its secret, a CA file.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt as _;
use serde::de::DeserializeOwned;

use crate::wire::{CheckBody, ControlBody, EnvironmentBody, ErrorAnswer, Health, MonitorBody};
use crate::{
    Action, CheckReport, CheckTarget, ControlReport, ControlRequest, CreateReport, CreateRequest, EnvironmentChange,
    EnvironmentDetail, EnvironmentFile, EnvironmentList, Error, History, LogStream, Logs, MonitorReport,
    MonitorRequest, NextRuns, Operations, Plan, Result, RunReport, RunRequest, ServiceList, StatusReport, UnitFiles,
};

/// The book's format version.
const BOOK_VERSION: u32 = 1;

/// One server of the book.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerEntry {
    /// `https://host:port` (or `http://` to loopback).
    pub url: String,
    /// The server's signing secret; none when it does not sign (loopback only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Trust this CA (PEM) for its certificate, instead of the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Allow plain HTTP to an address other than loopback (a trusted network only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_plaintext: bool,
}

impl std::fmt::Debug for ServerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEntry")
            .field("url", &self.url)
            .field("secret", &self.secret.as_deref().map(crate::security::fingerprint))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// The client's servers, by name.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerBook {
    #[serde(default = "book_version")]
    version: u32,
    /// The servers.
    #[serde(default)]
    pub servers: BTreeMap<String, ServerEntry>,
}

fn book_version() -> u32 {
    BOOK_VERSION
}

impl Default for ServerBook {
    fn default() -> ServerBook {
        ServerBook { version: BOOK_VERSION, servers: BTreeMap::new() }
    }
}

impl ServerBook {
    /// `$XDG_CONFIG_HOME/taskflows/servers.toml` (or `~/.config/…`).
    pub fn default_path() -> PathBuf {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .unwrap_or_else(|| PathBuf::from("/root/.config"));
        config.join("taskflows").join("servers.toml")
    }

    /// The book at `path` (empty when there is none). A book others can read is refused: it
    /// holds secrets.
    pub fn load(path: &Path) -> Result<ServerBook> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ServerBook::default()),
            Err(e) => return Err(Error::io("read", path)(e)),
        };
        let meta = std::fs::metadata(path).map_err(Error::io("read", path))?;
        if meta.mode() & 0o077 != 0 {
            return Err(Error::Invalid {
                message: format!("{}: mode {:o} lets others read its secrets", path.display(), meta.mode() & 0o777),
                hint: Some(format!("chmod 600 {}", path.display())),
            });
        }
        let book: ServerBook = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(0, |s| text[..s.start].lines().count().max(1));
            Error::invalid(format!("{} line {line}: {}", path.display(), e.message()))
        })?;
        if book.version != BOOK_VERSION {
            return Err(Error::invalid(format!("{}: version {} is not known", path.display(), book.version)));
        }
        Ok(book)
    }

    /// Write the book to `path` (0600, atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string(self).map_err(|e| Error::invalid(format!("the server book: {e}")))?;
        taskflows_systemd::files::write_private(path, text.as_bytes())?;
        Ok(())
    }

    /// The server `name` names: an entry of the book, else a URL or `host[:port]` without a
    /// secret (a server that does not sign, on loopback).
    pub fn resolve(&self, name: &str) -> Result<(String, ServerEntry)> {
        if let Some(entry) = self.servers.get(name) {
            return Ok((name.to_owned(), entry.clone()));
        }
        let url = if name.contains("://") { name.to_owned() } else { format!("http://{name}") };
        let parsed = reqwest::Url::parse(&url).map_err(|e| Error::usage(format!("--server {name:?}: {e}"), None))?;
        let loopback = is_loopback(&parsed);
        if !loopback {
            return Err(Error::usage(
                format!("--server {name:?}: no server of that name in the server book"),
                Some("`tf server add NAME URL` adds one, with its secret"),
            ));
        }
        let url = if parsed.port().is_none() && !name.contains("://") {
            format!("http://{}:7777", parsed.host_str().unwrap_or("localhost"))
        } else {
            url
        };
        Ok((name.to_owned(), ServerEntry { url, secret: None, ca_file: None, allow_plaintext: false }))
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// An API server's operations.
#[derive(Clone)]
pub struct Remote {
    name: String,
    base: reqwest::Url,
    host: String,
    secret: Option<Vec<u8>>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({}, {})", self.name, self.base)
    }
}

/// Characters left as they are in a path segment or query value; everything else is
/// percent-encoded.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Remote {
    /// A client of `entry`, called `name` in messages.
    pub fn new(name: &str, entry: &ServerEntry) -> Result<Remote> {
        let bad = |why: String| Error::usage(format!("server {name}: {why}"), None);
        let base = reqwest::Url::parse(&entry.url).map_err(|e| bad(format!("url {:?}: {e}", entry.url)))?;
        match base.scheme() {
            "https" => {}
            "http" if is_loopback(&base) || entry.allow_plaintext => {}
            "http" => {
                return Err(bad("plain HTTP is allowed to loopback only; use https:// (or allow_plaintext)".into()));
            }
            other => return Err(bad(format!("scheme {other:?}: https or http is allowed"))),
        }
        if base.path() != "/" || base.query().is_some() || !base.username().is_empty() {
            return Err(bad(format!("url {:?}: scheme, host and port only", entry.url)));
        }
        let Some(host_str) = base.host_str() else { return Err(bad("the url has no host".into())) };
        let host = match base.port() {
            Some(port) => format!("{host_str}:{port}"),
            None => host_str.to_owned(),
        };
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none());
        if let Some(ca) = &entry.ca_file {
            let pem = std::fs::read(ca).map_err(|e| bad(format!("ca_file {}: {e}", ca.display())))?;
            let cert =
                reqwest::Certificate::from_pem(&pem).map_err(|e| bad(format!("ca_file {}: {e}", ca.display())))?;
            builder = builder.tls_built_in_root_certs(false).add_root_certificate(cert);
        }
        let client = builder.build().map_err(|e| bad(format!("cannot set up TLS: {e}")))?;
        Ok(Remote {
            name: name.to_owned(),
            base,
            host,
            secret: entry.secret.as_ref().map(|s| s.as_bytes().to_vec()),
            client,
        })
    }

    /// The server's name, as the user gave it.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn failed(&self, message: String, hint: Option<String>) -> Error {
        Error::Remote { server: self.name.clone(), message, hint, exit_code: crate::exit::FAILED }
    }

    /// Send a signed request; the answer's body when it succeeded.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let mut url = self.base.clone();
        url.set_path(path);
        let q: Vec<String> = query.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
        let q = q.join("&");
        url.set_query(if q.is_empty() { None } else { Some(&q) });
        let body = body.unwrap_or_default();
        let mut request = self.client.request(method.clone(), url.clone()).header("host", &self.host);
        if let Some(secret) = &self.secret {
            let headers = crate::signing::headers(
                secret,
                method.as_str(),
                &self.host,
                url.path(),
                url.query().unwrap_or(""),
                &body,
            );
            for (name, value) in headers {
                request = request.header(name, value);
            }
        }
        if !body.is_empty() {
            request = request.header("content-type", "application/json").body(body);
        }
        if let Some(t) = timeout {
            request = request.timeout(t);
        }
        let response = request.send().await.map_err(|e| {
            // The innermost cause says most (connection refused, certificate unknown …).
            let mut detail = String::new();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                detail = s.to_string();
                source = s.source();
            }
            let why = e.without_url().to_string();
            let why = if detail.is_empty() || why.contains(&detail) { why } else { format!("{why}: {detail}") };
            let hint = if why.contains("CaUsedAsEndEntity") {
                Some("the server's certificate is a CA certificate (a plain `openssl req -x509`); give the server a certificate signed by a CA, and `tf server add --ca-file` that CA".to_owned())
            } else if why.contains("UnknownIssuer") {
                Some("the server's certificate is not signed by a CA this machine trusts: `tf server add … --ca-file CA.pem`".to_owned())
            } else if why.contains("NotValidForName") {
                Some("the server's certificate does not name the host in the server's URL".to_owned())
            } else {
                None
            };
            Error::Remote {
                server: self.name.clone(),
                message: format!("cannot reach {} ({}): {why}", self.name, self.base),
                hint,
                exit_code: crate::exit::FAILED,
            }
        })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<ErrorAnswer>(&bytes) {
            Ok(answer) => {
                let e = answer.error;
                let hint = e
                    .hint
                    .or_else(|| (!e.nearest.is_empty()).then(|| format!("did you mean {}?", e.nearest.join(", "))));
                let hint = match (status.as_u16(), hint) {
                    (401, None) => {
                        Some(format!("check the secret of {} in the server book (`tf server list`)", self.name))
                    }
                    (_, hint) => hint,
                };
                Err(Error::Remote { server: self.name.clone(), message: e.message, hint, exit_code: e.exit_code })
            }
            Err(_) => Err(self.failed(format!("{} answered {status}", self.name), None)),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let response = self.send(reqwest::Method::GET, path, query, None, Some(Duration::from_secs(120))).await?;
        self.decode(response).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&impl serde::Serialize>,
    ) -> Result<T> {
        let body = body.map(|b| serde_json::to_vec(b).expect("a request serializes"));
        let response = self.send(method, path, query, body, None).await?;
        self.decode(response).await
    }

    async fn decode<T: DeserializeOwned>(&self, response: reqwest::Response) -> Result<T> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.failed(format!("{}: the answer broke off: {}", self.name, e.without_url()), None))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            self.failed(format!("{}: an answer this tf cannot read ({e}); are both the same version?", self.name), None)
        })
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health> {
        self.get("/health", &[]).await
    }
}

fn opt(key: &'static str, value: Option<&str>) -> Vec<(&'static str, String)> {
    value.map(|v| (key, v.to_owned())).into_iter().collect()
}

fn secs(d: Duration) -> u64 {
    d.as_secs().max(u64::from(d.subsec_nanos() > 0))
}

impl Operations for Remote {
    async fn list(&self, pattern: Option<&str>) -> Result<ServiceList> {
        self.get("/list", &opt("match", pattern)).await
    }

    async fn status(&self, pattern: Option<&str>, running: bool) -> Result<StatusReport> {
        let mut q = opt("match", pattern);
        if running {
            q.push(("running", "true".into()));
        }
        self.get("/services", &q).await
    }

    async fn show(&self, pattern: &str) -> Result<UnitFiles> {
        self.get("/units", &opt("match", Some(pattern))).await
    }

    async fn logs(&self, name: &str, query: &crate::LogQuery) -> Result<Logs> {
        let mut q = vec![("lines", query.lines.to_string())];
        q.extend(query.pairs());
        self.get(&format!("/services/{}/logs", encode(name)), &q).await
    }

    async fn follow(&self, name: &str, query: &crate::LogQuery) -> Result<LogStream> {
        let mut q = vec![("lines", query.lines.to_string()), ("follow", "true".to_owned())];
        q.extend(query.pairs());
        let query = q;
        let response =
            self.send(reqwest::Method::GET, &format!("/services/{}/logs", encode(name)), &query, None, None).await?;
        let this = self.clone();
        let chunks = response.bytes_stream();
        // Server-sent events: `data: JSON` lines, events apart by a blank line; `:` lines keep
        // the connection alive.
        let stream =
            futures_util::stream::unfold((chunks, Vec::<u8>::new(), this), |(mut chunks, mut buf, this)| async move {
                loop {
                    if let Some(end) = buf.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = buf.drain(..=end).collect();
                        let line = String::from_utf8_lossy(&line);
                        let Some(data) = line.trim_end_matches(['\r', '\n']).strip_prefix("data:") else { continue };
                        let data = data.strip_prefix(' ').unwrap_or(data);
                        let item =
                            match serde_json::from_str::<crate::LogLine>(data) {
                                Ok(l) => Ok(l),
                                Err(_) => match serde_json::from_str::<ErrorAnswer>(data) {
                                    Ok(a) => Err(Error::Remote {
                                        server: this.name.clone(),
                                        message: a.error.message,
                                        hint: None,
                                        exit_code: a.error.exit_code,
                                    }),
                                    Err(e) => Err(this
                                        .failed(format!("{}: a log event this tf cannot read: {e}", this.name), None)),
                                },
                            };
                        return Some((item, (chunks, buf, this)));
                    }
                    match chunks.next().await {
                        Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
                        Some(Err(e)) => {
                            let e = this
                                .failed(format!("{}: the log stream broke off: {}", this.name, e.without_url()), None);
                            return Some((Err(e), (chunks, Vec::new(), this)));
                        }
                        None => return None,
                    }
                }
            });
        Ok(stream.boxed())
    }

    async fn history(&self, pattern: Option<&str>, limit: usize) -> Result<History> {
        let mut q = opt("match", pattern);
        q.push(("limit", limit.to_string()));
        self.get("/history", &q).await
    }

    async fn next(&self, pattern: Option<&str>, count: usize) -> Result<NextRuns> {
        let mut q = opt("match", pattern);
        q.push(("count", count.to_string()));
        self.get("/next", &q).await
    }

    async fn plan(&self, request: &CreateRequest) -> Result<Plan> {
        self.call(reqwest::Method::POST, "/services", &[("dry_run", "true".into())], Some(request)).await
    }

    async fn create(&self, request: &CreateRequest) -> Result<CreateReport> {
        self.call(reqwest::Method::POST, "/services", &[], Some(request)).await
    }

    async fn control(&self, request: &ControlRequest) -> Result<ControlReport> {
        let name = encode(&request.pattern);
        if request.action == Action::Remove {
            let q: Vec<(&str, String)> = if request.force { vec![("force", "true".into())] } else { Vec::new() };
            return self.call(reqwest::Method::DELETE, &format!("/services/{name}"), &q, None::<&()>).await;
        }
        let action = match request.action {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Remove => unreachable!("handled above"),
        };
        let body =
            ControlBody { targets: request.targets, wait: request.wait, timeout_secs: request.timeout.map(secs) };
        self.call(reqwest::Method::POST, &format!("/services/{name}/{action}"), &[], Some(&body)).await
    }

    async fn run(&self, request: &RunRequest) -> Result<RunReport> {
        // The server names the unit; the stem of ours (`taskflows-run-NAME-MILLIS.service`) is the name.
        let name = request
            .unit
            .strip_prefix("taskflows-run-")
            .and_then(|u| u.strip_suffix(".service"))
            .and_then(|u| u.rsplit_once('-'))
            .map(|(name, _)| name.to_owned())
            .filter(|n| n != "run");
        let body = crate::wire::RunBody { name, argv: request.argv.clone(), timeout_secs: request.timeout.map(secs) };
        self.call(reqwest::Method::POST, "/runs", &[], Some(&body)).await
    }

    async fn check(&self, target: &CheckTarget, wait: Option<Duration>) -> Result<CheckReport> {
        let body = match target {
            CheckTarget::Files(files) => CheckBody { files: files.clone(), installed: None, wait_secs: wait.map(secs) },
            CheckTarget::Installed(p) => {
                CheckBody { files: Vec::new(), installed: Some(p.clone()), wait_secs: wait.map(secs) }
            }
        };
        self.call(reqwest::Method::POST, "/check", &[], Some(&body)).await
    }

    async fn env_list(&self) -> Result<EnvironmentList> {
        self.get("/environments", &[]).await
    }

    async fn env_show(&self, name: &taskflows_core::EnvName) -> Result<EnvironmentDetail> {
        self.get(&format!("/environments/{}", encode(name.as_str())), &[]).await
    }

    async fn env_create(&self, file: &EnvironmentFile) -> Result<EnvironmentChange> {
        let body = EnvironmentBody { name: Some(file.name.as_str().to_owned()), file: file.file.clone() };
        self.call(reqwest::Method::POST, "/environments", &[], Some(&body)).await
    }

    async fn env_update(&self, file: &EnvironmentFile) -> Result<EnvironmentChange> {
        let body = EnvironmentBody { name: None, file: file.file.clone() };
        self.call(reqwest::Method::PUT, &format!("/environments/{}", encode(file.name.as_str())), &[], Some(&body))
            .await
    }

    async fn env_delete(&self, name: &taskflows_core::EnvName) -> Result<EnvironmentChange> {
        self.call(reqwest::Method::DELETE, &format!("/environments/{}", encode(name.as_str())), &[], None::<&()>).await
    }

    async fn monitor_check(&self, request: &MonitorRequest) -> Result<MonitorReport> {
        if !request.destinations.is_empty() {
            return Err(Error::usage(
                format!("alert destinations are not sent to servers ({}): install the monitor there", self.name),
                None,
            ));
        }
        let body = MonitorBody { pattern: request.pattern.clone(), grace_secs: Some(secs(request.grace)) };
        self.call(reqwest::Method::POST, "/monitor/check", &[], Some(&body)).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_resolve_to_the_book_or_to_loopback_only() {
        let mut book = super::ServerBook::default();
        book.servers.insert(
            "prod".into(),
            super::ServerEntry {
                url: "https://prod.example.com:7777".into(),
                secret: None,
                ca_file: None,
                allow_plaintext: false,
            },
        );
        assert_eq!(book.resolve("prod").unwrap().1.url, "https://prod.example.com:7777");
        assert_eq!(book.resolve("localhost").unwrap().1.url, "http://localhost:7777");
        assert_eq!(book.resolve("127.0.0.1:8000").unwrap().1.url, "http://127.0.0.1:8000");
        let e = book.resolve("elsewhere").unwrap_err().to_string();
        assert!(e.contains("no server of that name"), "{e}");
        let plain = super::ServerEntry {
            url: "http://10.0.0.5:7777".into(),
            secret: None,
            ca_file: None,
            allow_plaintext: false,
        };
        assert!(super::Remote::new("x", &plain).unwrap_err().to_string().contains("loopback only"));
    }

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(super::encode("web-*"), "web-%2A");
        assert_eq!(super::encode("a/../b"), "a%2F..%2Fb");
    }
}

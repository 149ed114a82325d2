//! The API server: the operations of a [`Local`] over HTTP(S), every route but `/health` behind
//! signed requests ([`crate::signing`]).
//!
//! Each connection is HTTP/1.1 on hyper with a header read timeout; a request is checked
//! ([`auth`]) before its body is buffered (at most [`Limits::max_body`], within
//! [`Limits::body_timeout`]), then routed ([`routes`]). `GET /services` answers from a cache
//! that systemd's signals keep current ([`live`]), not from D-Bus per request.

mod auth;
mod cli;
mod live;
mod metrics;
mod nonces;
mod openapi;
mod query;
mod routes;
mod slack;
pub mod ui;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::security::Security;
use crate::{Error, Local, Result};

pub use cli::{BODY_TIMEOUT_VAR, ServeArgs, run};
pub use metrics::token_path;
pub use openapi::openapi;

/// The default address: loopback, port 7777.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7777";

/// Bounds on what a client can make the server hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest body (bytes); larger ones get 413 before they are read.
    pub max_body: usize,
    /// How long a client may take to send its request head.
    pub header_timeout: Duration,
    /// How long a client may take to send its body (`tf api serve` reads
    /// [`BODY_TIMEOUT_VAR`] for it).
    pub body_timeout: Duration,
    /// Open connections at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Open connections of one client address at once; more are closed.
    pub connections_per_client: usize,
    /// Log streams (`follow`) one client address may hold at once.
    pub streams_per_client: usize,
    /// Log streams of all clients at once.
    pub streams_total: usize,
    /// The most journal lines one request may ask for.
    pub max_lines: usize,
    /// The most runs one history request may ask for.
    pub max_history: usize,
    /// The most upcoming runs per service one request may ask for.
    pub max_next: usize,
    /// The most nonces remembered at once (one per signed request within the window); beyond it
    /// requests are refused (503) rather than a nonce forgotten.
    pub max_nonces: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_body: 2 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            max_connections: 1024,
            connections_per_client: 256,
            streams_per_client: 4,
            streams_total: 64,
            max_lines: 10_000,
            max_history: 10_000,
            max_next: 100,
            max_nonces: 4_000_000,
        }
    }
}

/// A certificate chain and its key, PEM files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// How a server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// HTTPS with these files; plain HTTP without.
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP on an address other than loopback.
    pub allow_plaintext: bool,
    /// Whether requests are signed (read from the security file).
    pub security: Security,
    /// Host names clients may sign requests for besides this machine's name and, on loopback,
    /// `localhost`/`127.0.0.1`/`[::1]` (each with the port; a name with a port is taken as is).
    pub names: Vec<String>,
    /// The bounds.
    pub limits: Limits,
    /// Where nonces are remembered across restarts.
    pub nonce_file: PathBuf,
    /// The bearer token `/metrics` takes from beyond loopback.
    pub metrics_token: Option<String>,
    /// The web UI, when it is served.
    pub ui: Option<ui::UiSettings>,
    /// The Slack bot's HTTP endpoints, when a signing secret is configured.
    pub slack: Option<SlackSettings>,
}

/// What the Slack endpoints need.
#[derive(Clone)]
pub struct SlackSettings {
    /// Checks Slack's signatures.
    pub signing_secret: String,
    /// Posts the answers.
    pub bot_token: String,
    /// The Web API's URL (none: Slack's).
    pub api_url: Option<String>,
    /// Where accepted signatures are remembered.
    pub nonce_file: PathBuf,
}

impl std::fmt::Debug for SlackSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackSettings").field("api_url", &self.api_url).finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// Refuse what would open the server: plain HTTP beyond loopback unless allowed, no signing
    /// beyond loopback.
    pub fn check(&self) -> Result<()> {
        let loopback = self.listen.ip().is_loopback();
        if !loopback && matches!(self.security, Security::Disabled { .. }) {
            return Err(Error::Refused {
                message: format!(
                    "request signing is disabled, so the API listens on loopback only, not on {}",
                    self.listen
                ),
                hint: Some("`tf api security setup` turns signing on".to_owned()),
            });
        }
        if !loopback && self.tls.is_none() && !self.allow_plaintext {
            return Err(Error::Refused {
                message: format!("plain HTTP is served on loopback only, not on {}", self.listen),
                hint: Some("give --tls-cert and --tls-key, or --allow-plaintext behind a TLS proxy".to_owned()),
            });
        }
        Ok(())
    }

    /// The `Host` values requests may be signed for.
    pub fn host_names(&self) -> Vec<String> {
        let port = self.listen.port();
        let mut bare: Vec<String> = Vec::new();
        if let Ok(name) = rustix::system::uname().nodename().to_str() {
            bare.push(name.to_owned());
            if let Some((short, _)) = name.split_once('.') {
                bare.push(short.to_owned());
            }
        }
        match self.listen.ip() {
            ip if ip.is_unspecified() => {}
            std::net::IpAddr::V4(ip) => bare.push(ip.to_string()),
            std::net::IpAddr::V6(ip) => bare.push(format!("[{ip}]")),
        }
        if self.listen.ip().is_loopback() || self.listen.ip().is_unspecified() {
            bare.extend(["localhost", "127.0.0.1", "[::1]"].map(str::to_owned));
        }
        let mut names: Vec<String> = Vec::new();
        for n in &self.names {
            // As given (a proxy's Host, a name with its port) and, without a port, with ours.
            names.push(n.to_ascii_lowercase());
            if !n.contains(':') || n.ends_with(']') {
                bare.push(n.clone());
            }
        }
        names.extend(bare.iter().map(|n| format!("{}:{port}", n.to_ascii_lowercase())));
        // A client leaves the port out of Host when it is the scheme's default.
        if port == 443 || port == 80 {
            names.extend(bare.iter().map(|n| n.to_ascii_lowercase()));
        }
        names.sort();
        names.dedup();
        names
    }
}

/// Equal bytes, compared in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Serve `local`'s operations until `shutdown` completes.
pub async fn serve(local: Local, config: ServerConfig, shutdown: impl Future<Output = ()>) -> Result<()> {
    config.check()?;
    let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = TcpListener::bind(config.listen).await.map_err(Error::io("listen on", config.listen.to_string()))?;
    let app = routes::App::start(local, &config).await?;
    tracing::info!(listen = %config.listen, tls = tls.is_some(), signed = config.security.secret().is_some(), "taskflows API listening");
    let connections = Arc::new(tokio::sync::Semaphore::new(config.limits.max_connections));
    let per_client: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>> = Arc::default();
    let header_timeout = config.limits.header_timeout;
    tokio::pin!(shutdown);
    let lost = app.lost();
    tokio::pin!(lost);
    loop {
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => permit.expect("the semaphore stays open"),
            () = &mut shutdown => break,
            () = &mut lost => return Err(lost_systemd()),
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
            () = &mut lost => return Err(lost_systemd()),
        };
        let Some(slot) = ClientSlot::take(&per_client, peer.ip(), config.limits.connections_per_client) else {
            // One address holding this many connections gets no more; the others still do.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app.service(peer);
        let tls = tls.clone();
        tokio::spawn(async move {
            let (_permit, _slot) = (permit, slot);
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new()).header_read_timeout(header_timeout).max_buf_size(64 * 1024);
            let result = match tls {
                Some(acceptor) => match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => http.serve_connection(TokioIo::new(stream), service).await,
                    _ => return,
                },
                None => http.serve_connection(TokioIo::new(stream), service).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
        });
    }
    Ok(())
}

/// The API's request metrics after one request, as `/metrics` shows them (for checks of what
/// the dashboard queries).
#[cfg(test)]
pub(crate) fn request_metrics_sample() -> String {
    let r = metrics::Requests::default();
    r.record("/services", &axum::http::Method::GET, 200, Duration::from_millis(1));
    r.render()
}

/// A connection counted against its client address; given back when dropped.
struct ClientSlot {
    counts: Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
    ip: std::net::IpAddr,
}

impl ClientSlot {
    fn take(
        counts: &Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>,
        ip: std::net::IpAddr,
        max: usize,
    ) -> Option<ClientSlot> {
        let mut map = counts.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot { counts: counts.clone(), ip })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

fn lost_systemd() -> Error {
    Error::Refused {
        message: "the connection to systemd closed: the services' state can no longer be followed".into(),
        hint: Some("the tf-api service restarts on failure; run `tf api serve` again".into()),
    }
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| Error::invalid(format!("--tls-cert {}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(Error::invalid(format!("--tls-cert {}: no certificate in it", files.cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| Error::invalid(format!("--tls-key {}: {e}", files.key.display())))?;
    // ring, not aws-lc-rs: no cmake/C build of aws-lc on every machine; the price is no
    // post-quantum key exchange, which rustls's ring provider does not offer.
    #[expect(deprecated, reason = "ring's provider is deprecated for lacking post-quantum key exchange; see above")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| Error::invalid(format!("--tls-cert/--tls-key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

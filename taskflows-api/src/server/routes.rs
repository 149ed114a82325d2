//! Each route: check the request, call one operation of [`Local`], answer with its typed JSON.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, Method, Request, Response, StatusCode, header};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;
use serde::Serialize;

use super::auth::{Denied, Verifier};
use super::live::Live;
use super::nonces::Nonces;
use super::query::Query;
use super::{Limits, ServerConfig};
use crate::wire::{CheckBody, ControlBody, EnvironmentBody, ErrorAnswer, ErrorDetail, Health, MonitorBody, RunBody};
use crate::{
    Action, CheckTarget, ControlRequest, CreateRequest, EnvironmentFile, Error, Local, MonitorRequest, Operations as _,
    VERSION,
};

/// Everything a request may need.
pub(super) struct App {
    pub(super) local: Local,
    pub(super) live: Arc<Live>,
    pub(super) verifier: Verifier,
    pub(super) limits: Limits,
    /// The web UI, when enabled.
    pub(super) ui: Option<super::ui::Ui>,
    /// The Slack bot's endpoints, when configured.
    slack: Option<super::slack::SlackRoutes>,
    router: axum::Router,
    streams: Mutex<HashMap<IpAddr, usize>>,
    requests: super::metrics::Requests,
    metrics_token: Option<String>,
    /// Plain HTTP beyond loopback was allowed: a TLS proxy forwards from loopback.
    loopback_is_a_proxy: bool,
    /// Bytes of bodies being read before their signature is checked (KiB permits): what
    /// clients without the secret can make the server hold, in all.
    body_budget: tokio::sync::Semaphore,
    /// When a refusal was last logged (Unix seconds), and how many since were not.
    refusals_logged: std::sync::atomic::AtomicU64,
    runs: tokio::sync::Mutex<taskflows_systemd::RunCounts>,
    /// The missed-run monitor's last check, for `/metrics` (see [`App::monitor_metrics`]).
    monitor: Mutex<Option<Arc<MonitorSeen>>>,
    /// A check of the monitor is under way in the background.
    monitor_busy: std::sync::atomic::AtomicBool,
}

/// One check of the missed-run monitor.
struct MonitorSeen {
    at: jiff::Timestamp,
    taken: std::time::Instant,
    checked: usize,
    problems: Vec<taskflows_systemd::monitor::Problem>,
}

/// How old the monitor's check may be before a scrape asks for a new one. Checking reads every
/// timer's properties over D-Bus; a scrape does not wait for it (but the first).
const MONITOR_EVERY: Duration = Duration::from_secs(30);

type Shared = Arc<App>;

impl App {
    pub(super) async fn start(local: Local, config: &ServerConfig) -> crate::Result<Arc<App>> {
        let live = Live::start(local.clone()).await?;
        let nonces = match config.security.secret() {
            Some(_) => {
                let nonces = Arc::new(Nonces::open(&config.nonce_file, super::auth::now(), config.limits.max_nonces)?);
                tokio::spawn(Nonces::sweep_while_busy(nonces.clone()));
                Some(nonces)
            }
            None => None,
        };
        let verifier = Verifier::new(config.security.secret(), config.host_names(), nonces);
        let slack = match &config.slack {
            Some(settings) => {
                let web = crate::slack::Web::new(settings.api_url.as_deref(), &settings.bot_token)?;
                let bot = crate::slack::Bot::new(local.clone(), web);
                Some(super::slack::SlackRoutes::new(
                    bot,
                    &settings.signing_secret,
                    &settings.nonce_file,
                    super::auth::now(),
                )?)
            }
            None => None,
        };
        Ok(Arc::new_cyclic(|app: &std::sync::Weak<App>| {
            let router = router(app.clone());
            App {
                local,
                live,
                verifier,
                limits: config.limits.clone(),
                ui: config
                    .ui
                    .as_ref()
                    .map(|settings| super::ui::Ui::new(settings, config.tls.is_some(), config.allow_plaintext)),
                slack,
                router,
                streams: Mutex::new(HashMap::new()),
                requests: super::metrics::Requests::default(),
                metrics_token: config.metrics_token.clone(),
                loopback_is_a_proxy: config.allow_plaintext,
                body_budget: tokio::sync::Semaphore::new(BODY_BUDGET_KIB),
                refusals_logged: std::sync::atomic::AtomicU64::new(0),
                runs: tokio::sync::Mutex::new(taskflows_systemd::RunCounts::since(jiff::Timestamp::now())),
                monitor: Mutex::new(None),
                monitor_busy: std::sync::atomic::AtomicBool::new(false),
            }
        }))
    }

    /// Wait until the live state can no longer be kept current.
    pub(super) async fn lost(&self) {
        self.live.lost().await;
    }

    /// The hyper service of one connection from `peer`.
    pub(super) fn service(self: &Arc<App>, peer: SocketAddr) -> Connection {
        Connection { app: self.clone(), peer }
    }

    /// Answer a request, and count it.
    async fn handle(self: Arc<App>, req: Request<hyper::body::Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = std::time::Instant::now();
        let route = super::metrics::route_of(req.uri().path());
        let method = req.method().clone();
        let response = self.clone().answer(req, peer).await;
        let (status, took) = (response.status().as_u16(), started.elapsed());
        self.requests.record(route, &method, status, took);
        // Changes and refusals are the audit trail; reads only at debug.
        let ms = took.as_secs_f64() * 1e3;
        let refused = matches!(status, 401 | 403);
        let changed = !matches!(method, Method::GET | Method::HEAD) && !refused;
        if changed || (refused && self.log_refusal_now()) {
            tracing::info!(peer = %peer.ip(), method = %method, route, status, ms, "api request");
        } else {
            tracing::debug!(peer = %peer.ip(), method = %method, route, status, ms, "api request");
        }
        response
    }

    /// Refusals are logged at most once a second, so a flood of them cannot flood the journal.
    fn log_refusal_now(&self) -> bool {
        use std::sync::atomic::Ordering;
        let now = super::auth::now();
        let last = self.refusals_logged.load(Ordering::Relaxed);
        last != now && self.refusals_logged.compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// The monitor's problems as metrics: from its last check, made again in the background when
    /// older than [`MONITOR_EVERY`] (the first scrape waits for one).
    async fn monitor_metrics(self: &Arc<App>) -> String {
        use std::sync::atomic::Ordering;
        let seen = self.monitor.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let seen = match seen {
            Some(seen) => {
                if seen.taken.elapsed() >= MONITOR_EVERY && !self.monitor_busy.swap(true, Ordering::AcqRel) {
                    let app = self.clone();
                    tokio::spawn(async move {
                        app.check_monitor().await;
                        app.monitor_busy.store(false, Ordering::Release);
                    });
                }
                Some(seen)
            }
            None => self.check_monitor().await,
        };
        seen.map_or_else(String::new, |s| crate::metrics::monitor(&s.problems, s.checked, s.at))
    }

    async fn check_monitor(&self) -> Option<Arc<MonitorSeen>> {
        let request = MonitorRequest { pattern: None, grace: crate::metrics::MONITOR_GRACE, destinations: Vec::new() };
        match self.local.monitor_check(&request).await {
            Ok(report) => {
                let seen = Arc::new(MonitorSeen {
                    at: jiff::Timestamp::now(),
                    taken: std::time::Instant::now(),
                    checked: report.checked,
                    problems: report.problems,
                });
                *self.monitor.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen.clone());
                Some(seen)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot check the missed-run monitor for /metrics");
                None
            }
        }
    }

    /// `GET /metrics`: from loopback, or with the metrics token.
    async fn metrics(self: &Arc<App>, parts: &axum::http::request::Parts, peer: SocketAddr) -> Answer {
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let token_ok = match (&self.metrics_token, bearer) {
            (Some(token), Some(given)) => super::constant_time_eq(token.as_bytes(), given.as_bytes()),
            _ => false,
        };
        // Behind a proxy (--allow-plaintext) every client comes from loopback: only the token.
        let trusted = peer.ip().is_loopback() && !self.loopback_is_a_proxy && self.verifier.host_ok(parts).is_ok();
        if !trusted && !token_ok {
            let mut r = error_answer(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "/metrics: from loopback, or with Authorization: Bearer and the metrics token".into(),
                None,
            );
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
        let snapshot = self.live.snapshot();
        let mut text = crate::metrics::services(&snapshot.report.services);
        {
            // Read what finished since the last scrape (one scrape at a time).
            let mut runs = self.runs.lock().await;
            match self.local.systemd().await {
                Ok(systemd) => {
                    if let Err(e) = systemd.count_runs(&mut runs).await {
                        tracing::warn!(error = %e, "cannot count runs from the journal");
                    }
                    let states: HashMap<String, crate::ActiveState> = snapshot
                        .report
                        .services
                        .iter()
                        .map(|s| (format!("taskflows-{}.service", s.name), s.active_state))
                        .collect();
                    runs.settle(|unit| states.get(unit).copied());
                }
                Err(e) => tracing::warn!(error = %e, "cannot count runs from the journal"),
            }
            text.push_str(&crate::metrics::runs(&runs));
        }
        text.push_str(&self.monitor_metrics().await);
        text.push_str(&self.requests.render());
        let mut r = Response::new(Body::from(text));
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
        secure(&mut r);
        r
    }

    /// Check the request (headers, then body and signature), then route it.
    async fn answer(self: Arc<App>, req: Request<hyper::body::Incoming>, peer: SocketAddr) -> Response<Body> {
        let (mut parts, body) = req.into_parts();
        if self.ui.is_some() && super::ui::is_ui_path(parts.uri.path()) {
            return super::ui::handle(self.clone(), parts, axum::body::Body::new(body), peer).await;
        }
        if parts.uri.path() == "/metrics" && parts.method == Method::GET {
            return self.metrics(&parts, peer).await;
        }
        if let Some(slack) = &self.slack
            && super::slack::is_slack_path(parts.uri.path())
        {
            let mut response = match self.slack_body(&parts, body).await {
                Ok(bytes) => slack.answer(&parts.method, parts.uri.path(), &parts.headers, &bytes, super::auth::now()),
                Err(response) => response,
            };
            secure(&mut response);
            return response;
        }
        let public = parts.uri.path() == "/health" && matches!(parts.method, Method::GET | Method::HEAD);
        let head = if public {
            None
        } else {
            match self.verifier.head(&parts) {
                Ok(head) => head,
                Err(denied) => return denied_answer(denied),
            }
        };
        let too_large = || {
            error_answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("body: larger than {} bytes", self.limits.max_body),
                None,
            )
        };
        let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.max_body as u64) {
            return too_large();
        }
        if public {
            // /health reads no body.
            drop(body);
            parts.extensions.insert(peer);
            let mut response = match tower::ServiceExt::oneshot(
                self.router.clone(),
                Request::from_parts(parts, Body::empty()),
            )
            .await
            {
                Ok(r) => r,
                Err(never) => match never {},
            };
            secure(&mut response);
            return response;
        }
        let has_body = declared.is_some_and(|n| n > 0) || parts.headers.contains_key(header::TRANSFER_ENCODING);
        let json =
            parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
            });
        if has_body && !json {
            return denied_answer(Denied { status: 415, message: "Content-Type: a body is application/json".into() });
        }
        // Until its signature is checked, a body counts against a budget shared by all clients.
        let kib = declared.map_or(self.limits.max_body, |n| n as usize).min(self.limits.max_body) / 1024 + 1;
        let Ok(_held) = self.body_budget.try_acquire_many(kib as u32) else {
            return denied_answer(Denied { status: 503, message: "too many bodies being received; try again".into() });
        };
        let limited = http_body_util::Limited::new(body, self.limits.max_body);
        let bytes = match tokio::time::timeout(self.limits.body_timeout, limited.collect()).await {
            Err(_) => {
                let message = format!("body: not received within {}s", self.limits.body_timeout.as_secs());
                return error_answer(StatusCode::REQUEST_TIMEOUT, "timeout", message, None);
            }
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
            Ok(Err(_)) => return error_answer(StatusCode::BAD_REQUEST, "bad_request", "body: cut short".into(), None),
            Ok(Ok(collected)) => collected.to_bytes(),
        };
        let (path, query) = (parts.uri.path(), parts.uri.query().unwrap_or(""));
        if let Err(denied) = self.verifier.finish(head, &parts.method, path, query, &bytes) {
            return denied_answer(denied);
        }
        drop(_held);
        parts.extensions.insert(peer);
        let req = Request::from_parts(parts, Body::from(bytes));
        let mut response = match tower::ServiceExt::oneshot(self.router.clone(), req).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        secure(&mut response);
        response
    }
}

impl App {
    /// A Slack endpoint's body: at most [`super::slack::MAX_BODY`], within the body timeout,
    /// counted against the budget of bodies not yet checked.
    async fn slack_body(
        &self,
        parts: &axum::http::request::Parts,
        body: hyper::body::Incoming,
    ) -> std::result::Result<Bytes, Response<Body>> {
        let max = super::slack::MAX_BODY;
        let too_large =
            || error_answer(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("body: larger than {max} bytes"), None);
        let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max as u64) {
            return Err(too_large());
        }
        let kib = declared.map_or(max, |n| n as usize).min(max) / 1024 + 1;
        let Ok(_held) = self.body_budget.try_acquire_many(kib as u32) else {
            return Err(denied_answer(Denied {
                status: 503,
                message: "too many bodies being received; try again".into(),
            }));
        };
        match tokio::time::timeout(self.limits.body_timeout, http_body_util::Limited::new(body, max).collect()).await {
            Err(_) => Err(error_answer(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                format!("body: not received within {}s", self.limits.body_timeout.as_secs()),
                None,
            )),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
            Ok(Err(_)) => Err(error_answer(StatusCode::BAD_REQUEST, "bad_request", "body: cut short".into(), None)),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }
}

/// The requests of one connection.
#[derive(Clone)]
pub(super) struct Connection {
    app: Shared,
    peer: SocketAddr,
}

impl hyper::service::Service<Request<hyper::body::Incoming>> for Connection {
    type Response = Answer;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Answer, std::convert::Infallible>> + Send>>;

    fn call(&self, req: Request<hyper::body::Incoming>) -> Self::Future {
        let (app, peer) = (self.app.clone(), self.peer);
        Box::pin(async move { Ok(app.handle(req, peer).await) })
    }
}

fn router(app: std::sync::Weak<App>) -> axum::Router {
    // The router holds the app weakly: the app owns the router.
    let state = app;
    axum::Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        .route("/services", get(services).post(create))
        .route("/services/{name}", axum::routing::delete(remove))
        .route("/services/{name}/status", get(status))
        .route("/services/{name}/logs", get(logs))
        .route("/services/{name}/units", get(units_of))
        .route("/services/{name}/{action}", post(control))
        .route("/list", get(list))
        .route("/units", get(units))
        .route("/history", get(history))
        .route("/next", get(next))
        .route("/check", post(check))
        .route("/runs", post(run))
        .route("/monitor/check", post(monitor_check))
        .route("/environments", get(env_list).post(env_create))
        .route("/environments/{name}", get(env_show).put(env_update).delete(env_delete))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

type AppState = State<std::sync::Weak<App>>;

fn app(state: &AppState) -> Shared {
    state.0.upgrade().expect("the app outlives its requests")
}

type Answer = Response<Body>;

/// Bodies held at once before their signatures are checked: 64 MiB, in KiB.
const BODY_BUDGET_KIB: usize = 64 * 1024;

/// Security headers on every answer.
fn secure(response: &mut Answer) {
    let h = response.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
        ("cache-control", "no-store"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
}

fn json_bytes(status: StatusCode, bytes: Bytes) -> Answer {
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn json(value: &impl Serialize) -> Answer {
    match serde_json::to_vec(value) {
        Ok(v) => json_bytes(StatusCode::OK, v.into()),
        Err(e) => {
            error_answer(StatusCode::INTERNAL_SERVER_ERROR, "failed", format!("cannot encode the answer: {e}"), None)
        }
    }
}

fn error_answer(status: StatusCode, kind: &str, message: String, hint: Option<String>) -> Answer {
    let exit_code = match status.as_u16() {
        400 | 413 => crate::exit::USAGE,
        404 => crate::exit::NO_MATCH,
        _ => crate::exit::FAILED,
    };
    let detail = ErrorDetail { kind: kind.to_owned(), message, hint, exit_code, nearest: Vec::new() };
    let mut r = json_bytes(
        status,
        serde_json::to_vec(&ErrorAnswer { version: VERSION, error: detail }).unwrap_or_default().into(),
    );
    secure(&mut r);
    r
}

fn denied_answer(denied: Denied) -> Answer {
    let (status, kind) = match denied.status {
        401 => (StatusCode::UNAUTHORIZED, "unauthorized"),
        403 => (StatusCode::FORBIDDEN, "forbidden"),
        415 => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "bad_request"),
        500 => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
        503 => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
        _ => (StatusCode::BAD_REQUEST, "bad_request"),
    };
    let mut r = error_answer(status, kind, denied.message, None);
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("TF-HMAC-SHA256"));
    }
    r
}

/// An operation's error as an answer: the status says whose fault, the body says it as `tf`
/// would.
fn failure(e: Error) -> Answer {
    use taskflows_systemd::Error as S;
    let nearest = match &e {
        Error::Systemd(S::NoMatch { nearest, .. }) => nearest.clone(),
        _ => Vec::new(),
    };
    let exit_code = e.exit_code();
    let (status, kind) = match (&e, exit_code) {
        (Error::Busy { .. }, _) => (StatusCode::CONFLICT, "busy"),
        (Error::Timeout { .. }, _) => (StatusCode::GATEWAY_TIMEOUT, "timeout"),
        (Error::Refused { .. }, _) => (StatusCode::CONFLICT, "refused"),
        (Error::Systemd(S::EnvironmentExists { .. }), _) => (StatusCode::CONFLICT, "exists"),
        (_, crate::exit::NO_MATCH) => (StatusCode::NOT_FOUND, "not_found"),
        (_, crate::exit::USAGE) => (StatusCode::BAD_REQUEST, "bad_request"),
        (_, crate::exit::INVALID) => (StatusCode::BAD_REQUEST, "invalid"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "failed"),
    };
    let detail = ErrorDetail {
        kind: kind.to_owned(),
        message: e.to_string(),
        hint: e.hint().map(str::to_owned),
        exit_code,
        nearest,
    };
    json_bytes(status, serde_json::to_vec(&ErrorAnswer { version: VERSION, error: detail }).unwrap_or_default().into())
}

fn answer<T: Serialize>(result: crate::Result<T>) -> Answer {
    match result {
        Ok(v) => json(&v),
        Err(e) => failure(e),
    }
}

/// A JSON body of type `T`, naming the field at fault (duplicate keys and unknown fields are
/// refused).
fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> crate::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let at = if path == "." { "body".to_owned() } else { format!("body.{path}") };
        Error::usage(format!("{at}: {}", e.inner()), None)
    })?;
    de.end().map_err(|_| Error::usage("body: more after the JSON value", None))?;
    Ok(value)
}

/// A service name or glob from the path or a parameter (`field` names it in the error): name
/// characters and glob characters only.
fn pattern<'a>(field: &str, name: &'a str) -> crate::Result<&'a str> {
    let ok = !name.is_empty()
        && name.len() <= 256
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-*?".contains(&b))
        && !name.contains("..");
    if ok {
        Ok(name)
    } else {
        Err(Error::usage(
            format!(
                "{field}: {name:?} is not a service name or glob (letters, digits, . _ - and the wildcards * and ? are allowed)"
            ),
            None,
        ))
    }
}

/// The `match` parameter.
fn matching(name: &str) -> crate::Result<&str> {
    pattern("match", name)
}

async fn not_found() -> Answer {
    error_answer(StatusCode::NOT_FOUND, "no_route", "no such route (GET /openapi.json lists them)".into(), None)
}

async fn method_not_allowed() -> Answer {
    error_answer(StatusCode::METHOD_NOT_ALLOWED, "method", "this route does not take this method".into(), None)
}

async fn health(state: AppState) -> Answer {
    let scope = crate::scope_name(app(&state).local.scope()).to_owned();
    json(&Health { status: "ok".into(), server: env!("CARGO_PKG_VERSION").into(), scope })
}

async fn openapi(RawQuery(q): RawQuery) -> Answer {
    match Query::parse(q.as_deref(), &[]) {
        Ok(_) => json_bytes(StatusCode::OK, super::openapi().into()),
        Err(e) => failure(e),
    }
}

/// `GET /services[?match=GLOB&running=true]`: the live state.
async fn services(state: AppState, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        let q = Query::parse(q.as_deref(), &["match", "running"])?;
        let running = q.flag("running")?;
        let pat = q.text("match").map(matching).transpose()?;
        if pat.is_none() && !running {
            return Ok(json_bytes(StatusCode::OK, app.live.snapshot().json.clone()));
        }
        let select = |snapshot: &super::live::Snapshot| -> Vec<crate::ServiceState> {
            snapshot
                .report
                .services
                .iter()
                .filter(|s| pat.is_none_or(|p| taskflows_core::glob_match(p, &s.name)))
                .filter(|s| !running || s.is_running())
                .cloned()
                .collect()
        };
        let mut snapshot = app.live.snapshot();
        let mut services = select(&snapshot);
        if let (true, Some(p)) = (services.is_empty(), pat) {
            if installed_but_unseen(&app, p).await {
                snapshot = app.live.snapshot();
                services = select(&snapshot);
            }
            if services.is_empty() && !running {
                return Err(no_match(&snapshot, p));
            }
        }
        Ok(json(&crate::StatusReport { version: VERSION, services }))
    };
    result.await.unwrap_or_else(failure)
}

/// Whether a service matching `pattern` is installed although the snapshot has none: created a
/// moment ago by another command, its signals not read yet. Then the snapshot is read again.
async fn installed_but_unseen(app: &App, pattern: &str) -> bool {
    let Ok(systemd) = app.local.systemd().await else { return false };
    let installed = systemd.installed().unwrap_or_default();
    if !installed.iter().any(|n| taskflows_core::glob_match(pattern, n.as_str())) {
        return false;
    }
    app.live.refresh_now().await;
    true
}

fn no_match(snapshot: &super::live::Snapshot, pattern: &str) -> Error {
    let names: Vec<taskflows_core::ServiceName> =
        snapshot.report.services.iter().filter_map(|s| taskflows_core::ServiceName::new(&s.name).ok()).collect();
    Error::Systemd(taskflows_systemd::Error::NoMatch {
        pattern: pattern.to_owned(),
        nearest: taskflows_systemd::nearest(pattern, &names),
    })
}

/// `GET /services/{name}/status`: one service's live state.
async fn status(state: AppState, Path(name): Path<String>, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let run = async {
        Query::parse(q.as_deref(), &[])?;
        let name = pattern("name", &name)?;
        if name.contains(['*', '?']) {
            return Err(Error::usage(
                format!(
                    "name: {name:?} is a glob; one service's name is needed here (GET /services?match= takes globs)"
                ),
                None,
            ));
        }
        let snapshot = app.live.snapshot();
        if let Some(bytes) = snapshot.one.get(name) {
            return Ok(json_bytes(StatusCode::OK, bytes.clone()));
        }
        if installed_but_unseen(&app, name).await {
            let snapshot = app.live.snapshot();
            if let Some(bytes) = snapshot.one.get(name) {
                return Ok(json_bytes(StatusCode::OK, bytes.clone()));
            }
        }
        Err(no_match(&app.live.snapshot(), name))
    };
    run.await.unwrap_or_else(failure)
}

async fn create(state: AppState, RawQuery(q): RawQuery, bytes: Bytes) -> Answer {
    let app = app(&state);
    let result = async {
        let q = Query::parse(q.as_deref(), &["dry_run"])?;
        let request: CreateRequest = body(&bytes)?;
        if q.flag("dry_run")? {
            return Ok(json(&app.local.plan(&request).await?));
        }
        let report = app.local.create(&request).await;
        app.live.refresh_now().await;
        Ok(json(&report?))
    };
    result.await.unwrap_or_else(failure)
}

async fn remove(state: AppState, Path(name): Path<String>, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        let q = Query::parse(q.as_deref(), &["force"])?;
        let request = ControlRequest {
            pattern: pattern("name", &name)?.to_owned(),
            action: Action::Remove,
            targets: crate::Targets::Both,
            wait: false,
            timeout: None,
            force: q.flag("force")?,
        };
        let report = app.local.control(&request).await;
        app.live.refresh_now().await;
        Ok::<_, Error>(json(&report?))
    };
    result.await.unwrap_or_else(failure)
}

async fn control(
    state: AppState,
    Path((name, action)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    bytes: Bytes,
) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        let action = Action::control(&action)?;
        let options: ControlBody = if bytes.is_empty() { ControlBody::default() } else { body(&bytes)? };
        if options.wait && action != Action::Start {
            return Err(Error::usage("body.wait: only a start can wait", None));
        }
        let request = ControlRequest {
            pattern: pattern("name", &name)?.to_owned(),
            action,
            targets: options.targets,
            wait: options.wait,
            timeout: options.timeout_secs.map(Duration::from_secs),
            force: false,
        };
        let report = app.local.control(&request).await;
        app.live.refresh_now().await;
        Ok(json(&report?))
    };
    result.await.unwrap_or_else(failure)
}

async fn list(state: AppState, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        let q = Query::parse(q.as_deref(), &["match"])?;
        let pat = q.text("match").map(matching).transpose()?;
        app.local.list(pat).await
    };
    answer(result.await)
}

async fn units(state: AppState, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        let q = Query::parse(q.as_deref(), &["match"])?;
        let pat =
            matching(q.text("match").ok_or_else(|| Error::usage("match: a service name or glob is needed", None))?)?;
        app.local.show(pat).await
    };
    answer(result.await)
}

async fn units_of(state: AppState, Path(name): Path<String>, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        app.local.show(pattern("name", &name)?).await
    };
    answer(result.await)
}

async fn history(state: AppState, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        let q = Query::parse(q.as_deref(), &["match", "limit"])?;
        let pat = q.text("match").map(matching).transpose()?;
        let limit = q.count("limit", 20, app.limits.max_history)?;
        app.local.history(pat, limit).await
    };
    answer(result.await)
}

async fn next(state: AppState, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        let q = Query::parse(q.as_deref(), &["match", "count"])?;
        let pat = q.text("match").map(matching).transpose()?;
        let count = q.count("count", 1, app.limits.max_next)?;
        app.local.next(pat, count).await
    };
    answer(result.await)
}

async fn check(state: AppState, RawQuery(q): RawQuery, bytes: Bytes) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        let request: CheckBody = body(&bytes)?;
        let target = match (request.files.is_empty(), request.installed) {
            (false, None) => CheckTarget::Files(request.files),
            (true, Some(p)) => CheckTarget::Installed(pattern("body.installed", &p)?.to_owned()),
            _ => return Err(Error::usage("body: give either files or installed", None)),
        };
        let wait = request.wait_secs.map(|s| Duration::from_secs(s.min(86_400)));
        app.local.check(&target, wait).await
    };
    answer(result.await)
}

/// `POST /runs`: the run's unit name is the server's; a client that goes away (the request's
/// future dropped) stops the run, as Ctrl-C does for `tf run`.
async fn run(state: AppState, RawQuery(q): RawQuery, bytes: Bytes) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        let request: RunBody = body(&bytes)?;
        let unit = crate::RunRequest::unit_for(request.name.as_deref())?;
        let run = crate::RunRequest {
            unit: unit.clone(),
            argv: request.argv,
            timeout: request.timeout_secs.map(Duration::from_secs),
        };
        struct Abandon(Option<(Local, String)>);
        impl Drop for Abandon {
            fn drop(&mut self) {
                if let Some((local, unit)) = self.0.take() {
                    tokio::spawn(async move {
                        let _ = local.abandon_run(&unit).await;
                    });
                }
            }
        }
        let mut guard = Abandon(Some((app.local.clone(), unit)));
        let report = app.local.run(&run).await;
        guard.0 = None;
        report
    };
    answer(result.await)
}

async fn monitor_check(state: AppState, RawQuery(q): RawQuery, bytes: Bytes) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        let request: MonitorBody = if bytes.is_empty() { MonitorBody::default() } else { body(&bytes)? };
        let pat = request.pattern.as_deref().map(|p| pattern("body.pattern", p)).transpose()?.map(str::to_owned);
        let grace = Duration::from_secs(request.grace_secs.unwrap_or(600).min(366 * 86_400));
        app.local.monitor_check(&MonitorRequest { pattern: pat, grace, destinations: Vec::new() }).await
    };
    answer(result.await)
}

fn env_name(name: &str) -> crate::Result<taskflows_core::EnvName> {
    taskflows_core::EnvName::new(name).map_err(|e| Error::usage(format!("name: {e}"), None))
}

async fn env_list(state: AppState, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        app.local.env_list().await
    };
    answer(result.await)
}

async fn env_show(state: AppState, Path(name): Path<String>, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        app.local.env_show(&env_name(&name)?).await
    };
    answer(result.await)
}

async fn env_create(state: AppState, RawQuery(q): RawQuery, bytes: Bytes) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        let request: EnvironmentBody = body(&bytes)?;
        let name = request.name.ok_or_else(|| Error::usage("body.name: the environment's name is needed", None))?;
        app.local.env_create(&EnvironmentFile { name: env_name(&name)?, file: request.file }).await
    };
    answer(result.await)
}

async fn env_update(state: AppState, Path(name): Path<String>, RawQuery(q): RawQuery, bytes: Bytes) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        let request: EnvironmentBody = body(&bytes)?;
        if request.name.as_deref().is_some_and(|n| n != name) {
            return Err(Error::usage("body.name: differs from the name in the path", None));
        }
        let report = app.local.env_update(&EnvironmentFile { name: env_name(&name)?, file: request.file }).await;
        app.live.refresh_now().await;
        report
    };
    answer(result.await)
}

async fn env_delete(state: AppState, Path(name): Path<String>, RawQuery(q): RawQuery) -> Answer {
    let app = app(&state);
    let result = async {
        Query::parse(q.as_deref(), &[])?;
        app.local.env_delete(&env_name(&name)?).await
    };
    answer(result.await)
}

/// `GET /services/{name}/logs[?lines=N&follow=true&since&until&grep&priority&run]`: the last
/// lines (that pass the filters of [`crate::LogQuery`]), or (follow) a stream of server-sent
/// events, one `LogLine` per event, ending when the client goes away.
async fn logs(
    state: AppState,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    axum::Extension(peer): axum::Extension<SocketAddr>,
) -> Answer {
    let app = app(&state);
    let result = async {
        let mut keys = vec!["lines", "follow"];
        keys.extend(crate::LOG_QUERY_KEYS);
        let q = Query::parse(q.as_deref(), &keys)?;
        let mut query = crate::LogQuery::last(q.count("lines", 50, app.limits.max_lines)?);
        for key in crate::LOG_QUERY_KEYS {
            if let Some(value) = q.text(key) {
                query.set(key, value)?;
            }
        }
        let name = pattern("name", &name)?;
        if !q.flag("follow")? {
            return Ok(json(&app.local.logs(name, &query).await?));
        }
        if query.run.is_some() {
            return Err(Error::usage(
                "run: one run's lines are read, not followed; follow or run is allowed, not both",
                None,
            ));
        }
        let Some(slot) = StreamSlot::take(&app, peer.ip()) else {
            return Ok(error_answer(
                StatusCode::TOO_MANY_REQUESTS,
                "busy",
                format!(
                    "too many log streams (at most {} per client and {} in all)",
                    app.limits.streams_per_client, app.limits.streams_total
                ),
                None,
            ));
        };
        let lines = app.local.follow(name, &query).await?;
        let events = lines.map(move |line| {
            let _held = &slot;
            let data = match line {
                Ok(l) => serde_json::to_string(&l).unwrap_or_default(),
                Err(e) => serde_json::to_string(&ErrorAnswer {
                    version: VERSION,
                    error: ErrorDetail {
                        kind: "failed".into(),
                        message: e.to_string(),
                        hint: None,
                        exit_code: 1,
                        nearest: Vec::new(),
                    },
                })
                .unwrap_or_default(),
            };
            Ok::<_, std::convert::Infallible>(axum::response::sse::Event::default().data(data))
        });
        let sse = axum::response::Sse::new(events)
            .keep_alive(axum::response::sse::KeepAlive::new().interval(Duration::from_secs(15)));
        Ok::<_, Error>(axum::response::IntoResponse::into_response(sse))
    };
    result.await.unwrap_or_else(failure)
}

/// A held log stream, counted per client address and in all; given back when dropped.
struct StreamSlot {
    app: Shared,
    ip: IpAddr,
}

impl StreamSlot {
    fn take(app: &Shared, ip: IpAddr) -> Option<StreamSlot> {
        let mut streams = app.streams.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = streams.values().sum();
        let mine = streams.get(&ip).copied().unwrap_or(0);
        if total >= app.limits.streams_total || mine >= app.limits.streams_per_client {
            return None;
        }
        streams.insert(ip, mine + 1);
        Some(StreamSlot { app: app.clone(), ip })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut streams = self.app.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = streams.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                streams.remove(&self.ip);
            }
        }
    }
}

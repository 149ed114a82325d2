//! The web UI, served by the API server when enabled (`--ui`, `TASKFLOWS_ENABLE_UI`): pages
//! rendered here (maud escapes every value), one small script and one stylesheet of our own,
//! all in the binary.
//!
//! Its requests never go through request signing; they go through a login instead
//! ([`accounts`], [`session`]): tokens in `HttpOnly; SameSite=Strict` cookies, a CSRF token and
//! the `Origin` checked on every change, the login rate-limited. Disabling signing never
//! disables the UI's login.
//!
//! Live updates come from the server's live state ([`super::live`]), which systemd's signals keep
//! current: one server-sent event stream per open dashboard, carrying only the rows that changed.

pub mod accounts;
mod limiter;
mod pages;
mod session;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderValue, Method, Response, StatusCode, header, request::Parts};
use futures_util::StreamExt as _;
use http_body_util::BodyExt as _;

use self::accounts::Accounts;
use self::limiter::Limiter;
use self::session::{Claims, Issued, Refreshed, Sessions};
use super::routes::App;

pub use accounts::{UiFile, ui_path};

/// The variable that turns the UI on (1/true/yes, 0/false/no).
pub const ENABLE_VAR: &str = "TASKFLOWS_ENABLE_UI";
/// The zone the UI shows times in (default UTC).
pub const TIMEZONE_VAR: &str = "TASKFLOWS_DISPLAY_TIMEZONE";

const ACCESS_COOKIE: &str = "tf_access";
const REFRESH_COOKIE: &str = "tf_refresh";
const LOGIN_COOKIE: &str = "tf_login";
/// The largest form or JSON body the UI takes.
const MAX_UI_BODY: usize = 256 * 1024;
/// Live streams (dashboards, followed logs) one session may hold at once.
const STREAMS_PER_SESSION: usize = 8;
/// A failed login answers no sooner than this after it began.
const FAILED_LOGIN_MIN: std::time::Duration = std::time::Duration::from_millis(400);
/// How often a live stream checks that its session still exists (logout, reuse, expiry end it).
const STREAM_SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(15);

/// How the UI runs.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// Users and the token secret.
    pub accounts: Arc<Accounts>,
    /// Where sessions are kept.
    pub sessions_file: std::path::PathBuf,
    /// Proxies whose `X-Forwarded-For` names the client (the login limit's address).
    pub trusted_proxies: Vec<IpAddr>,
    /// The zone times are shown in.
    pub zone: jiff::tz::TimeZone,
}

/// Whether `TASKFLOWS_ENABLE_UI` (read by `var`) turns the UI on; a value other than
/// 1/true/yes/0/false/no is refused.
pub fn enabled_by_env(var: impl Fn(&str) -> Option<String>) -> crate::Result<bool> {
    match var(ENABLE_VAR).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(false),
        Some(v) if ["1", "true", "yes"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", ""].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(crate::Error::invalid(format!("{ENABLE_VAR}={v:?}: 1, true, yes, 0, false or no are allowed"))),
    }
}

/// The display zone from `TASKFLOWS_DISPLAY_TIMEZONE` (an IANA name), UTC without it.
pub fn display_zone(var: impl Fn(&str) -> Option<String>) -> crate::Result<jiff::tz::TimeZone> {
    match var(TIMEZONE_VAR) {
        None => Ok(jiff::tz::TimeZone::UTC),
        Some(name) => jiff::tz::TimeZone::get(&name).map_err(|_| {
            crate::Error::invalid(format!("{TIMEZONE_VAR}={name:?}: an IANA time zone such as Europe/Paris is allowed"))
        }),
    }
}

/// The UI's state in a running server.
pub(super) struct Ui {
    accounts: Arc<Accounts>,
    sessions: Sessions,
    limiter: Limiter,
    /// Browsers reach it over HTTPS: its own TLS, or a TLS proxy (`--allow-plaintext`).
    tls: bool,
    /// Plain HTTP reaches it from a proxy too: an `http://` Origin is this server's as well.
    plain_too: bool,
    /// Password checks under way (each holds ~19 MiB and a blocking thread): bounded.
    hashing: tokio::sync::Semaphore,
    trusted_proxies: Vec<IpAddr>,
    zone: jiff::tz::TimeZone,
    streams: Mutex<HashMap<String, usize>>,
}

impl Ui {
    pub(super) fn new(settings: &UiSettings, tls: bool, behind_proxy: bool) -> Ui {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Ui {
            plain_too: behind_proxy && !tls,
            hashing: tokio::sync::Semaphore::new((2 * cores).clamp(2, 16)),
            sessions: Sessions::open(settings.accounts.jwt_secret(), settings.sessions_file.clone()),
            accounts: settings.accounts.clone(),
            limiter: Limiter::default(),
            tls: tls || behind_proxy,
            trusted_proxies: settings.trusted_proxies.clone(),
            zone: settings.zone.clone(),
            streams: Mutex::new(HashMap::new()),
        }
    }
}

/// Whether `path` is the UI's.
pub(super) fn is_ui_path(path: &str) -> bool {
    path == "/" || path == "/ui" || path.starts_with("/ui/")
}

type Answer = Response<Body>;
/// A refusal, boxed: an answer is large.
type Refusal = Box<Answer>;

/// A signed-in request.
struct Who {
    claims: Claims,
    /// Cookies to set with the answer (a renewed or rotated token).
    renewed: Option<Issued>,
}

/// Answer a UI request.
pub(super) async fn handle(app: Arc<App>, parts: Parts, body: Body, peer: SocketAddr) -> Answer {
    let ui = app.ui.as_ref().expect("the UI is enabled");
    let gzip = parts
        .headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let refused = parts
                .any(|p| p.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)));
            coding.eq_ignore_ascii_case("gzip") && !refused
        });
    let mut answer = match route(&app, ui, parts, body, peer).await {
        Ok(a) => a,
        Err(a) => *a,
    };
    if gzip {
        answer = compress(answer).await;
    }
    headers(&mut answer);
    answer
}

/// A page (HTML, script, stylesheet) gzipped: the dashboard of 1,000 services is about 500 KB of
/// HTML and 40 KB compressed. Streams (events) are left alone.
async fn compress(answer: Answer) -> Answer {
    use std::io::Write as _;
    let textual =
        answer.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|t| {
            t.starts_with("text/html") || t.starts_with("text/css") || t.starts_with("text/javascript")
        });
    if !textual || answer.headers().contains_key(header::CONTENT_ENCODING) {
        return answer;
    }
    let (mut parts, body) = answer.into_parts();
    let Ok(bytes) = body.collect().await.map(http_body_util::Collected::to_bytes) else {
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "cannot read the page");
    };
    if bytes.len() < 1024 {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 8), flate2::Compression::fast());
    if encoder.write_all(&bytes).is_err() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let Ok(zipped) = encoder.finish() else { return Response::from_parts(parts, Body::from(bytes)) };
    parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    parts.headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(zipped))
}

/// The security headers of every UI answer: no inline script, no framing, nothing cached.
fn headers(r: &mut Answer) {
    let h = r.headers_mut();
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        (
            "content-security-policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        ),
        ("cross-origin-opener-policy", "same-origin"),
        ("permissions-policy", "camera=(), microphone=(), geolocation=()"),
    ] {
        h.insert(name, HeaderValue::from_static(value));
    }
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}

async fn route(app: &Arc<App>, ui: &Ui, parts: Parts, body: Body, peer: SocketAddr) -> Result<Answer, Refusal> {
    let path = parts.uri.path().to_owned();
    // A browser led here by DNS rebinding names another host.
    if app.verifier.host_ok(&parts).is_err() {
        return Err(Box::new(plain(StatusCode::MISDIRECTED_REQUEST, "Host: not a name of this server")));
    }
    let method = parts.method.clone();
    if let Some(asset) = path.strip_prefix("/ui/assets/") {
        return Ok(pages::asset(asset));
    }
    match (&method, path.as_str()) {
        (&Method::GET, "/ui/login") => return Ok(login_page(ui, &parts, None, StatusCode::OK)),
        (&Method::POST, "/ui/login") => return login(ui, &parts, body, peer).await,
        _ => {}
    }
    let who = signed_in(ui, &parts)?;
    // A rotated refresh token reaches the browser whatever the answer: one it never got would
    // look like a reuse at its next request.
    let mut answer = match signed_route(app, ui, parts, body, &who).await {
        Ok(a) => a,
        Err(a) => *a,
    };
    if let Some(issued) = &who.renewed {
        set_cookies(ui, &mut answer, issued);
    }
    Ok(answer)
}

/// The pages and actions of a signed-in user.
async fn signed_route(app: &Arc<App>, ui: &Ui, parts: Parts, body: Body, who: &Who) -> Result<Answer, Refusal> {
    let path = parts.uri.path().to_owned();
    let method = parts.method.clone();
    let csrf = ui.sessions.csrf(&who.claims.sid);
    // Pages carry it masked afresh each time, so a compressed page never repeats it.
    let masked = mask(&csrf);
    let changes = !matches!(method, Method::GET | Method::HEAD);
    let answer = if changes {
        same_origin(ui, &parts)?;
        let bytes = read_body(app, body).await?;
        let given = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| form(&bytes).remove("csrf"));
        let unmasked = given.as_deref().and_then(unmask);
        if !unmasked.is_some_and(|g| super::constant_time_eq(g.as_bytes(), csrf.as_bytes())) {
            return Err(Box::new(plain(StatusCode::FORBIDDEN, "CSRF token: missing or wrong; reload the page")));
        }
        match path.as_str() {
            "/ui/logout" => {
                ui.sessions.logout(&who.claims.sid, super::auth::now());
                tracing::info!(user = who.claims.sub, "web UI: logged out");
                let mut r = redirect("/ui/login");
                clear_cookies(ui, &mut r);
                return Ok(r);
            }
            "/ui/actions" => pages::batch(app, &who.claims.sub, &bytes).await,
            "/ui/environments" => pages::env_create(app, ui, &masked, &who.claims.sub, &form(&bytes)).await,
            p => match p.strip_prefix("/ui/environments/") {
                Some(rest) => match rest.strip_suffix("/delete") {
                    Some(name) => pages::env_delete(app, ui, &masked, &who.claims.sub, name).await,
                    None => pages::env_update(app, ui, &masked, &who.claims.sub, rest, &form(&bytes)).await,
                },
                None => plain(StatusCode::NOT_FOUND, "no such page"),
            },
        }
    } else {
        let query = parts.uri.query().unwrap_or("");
        let page = pages::Page { ui, app, user: &who.claims.sub, csrf: &masked };
        match path.as_str() {
            "/" | "/ui" | "/ui/" => page.dashboard(),
            "/ui/events" => dashboard_events(app, ui, who),
            "/ui/environments" => page.environments(None, StatusCode::OK, None).await,
            p => match p.strip_prefix("/ui/services/") {
                Some(rest) => match rest.split_once('/') {
                    None => page.service(rest).await,
                    Some((name, "logs")) => page.logs(name, query).await,
                    Some((name, "logs/stream")) => log_events(app, ui, who, name).await,
                    _ => page.not_found(),
                },
                None => match p.strip_prefix("/ui/environments/") {
                    Some(name) => page.environment(name, None, StatusCode::OK, None).await,
                    None => page.not_found(),
                },
            },
        }
    };
    Ok(answer)
}

/// `token` (hex) masked with a random pad: the pad, then the token XOR the pad (hex).
fn mask(token: &str) -> String {
    let bytes = hex::decode(token).expect("CSRF tokens are hex");
    let mut pad = vec![0u8; bytes.len()];
    getrandom::fill(&mut pad).expect("the kernel's random source");
    let masked: Vec<u8> = bytes.iter().zip(&pad).map(|(b, p)| b ^ p).collect();
    format!("{}{}", hex::encode(&pad), hex::encode(masked))
}

/// The token a [`mask`]ed value carries.
fn unmask(given: &str) -> Option<String> {
    let bytes = hex::decode(given).ok()?;
    if bytes.len() != 32 {
        return None;
    }
    let (pad, masked) = bytes.split_at(16);
    Some(hex::encode(pad.iter().zip(masked).map(|(p, m)| p ^ m).collect::<Vec<u8>>()))
}

/// The session of the request's cookies: its access token, or its refresh token (rotated).
/// Pages send the browser to the login page; other requests get 401.
fn signed_in(ui: &Ui, parts: &Parts) -> Result<Who, Refusal> {
    let now = super::auth::now();
    let cookies = cookies(parts);
    let page =
        parts.method == Method::GET && !parts.uri.path().ends_with("/events") && !parts.uri.path().ends_with("/stream");
    let refuse = |ended: bool| {
        let mut r = if page { redirect("/ui/login") } else { plain(StatusCode::UNAUTHORIZED, "not logged in") };
        if ended {
            clear_cookies(ui, &mut r);
        }
        r
    };
    if let Some(claims) = cookies.get(ACCESS_COOKIE).and_then(|t| ui.sessions.access(t, now)) {
        let renewed = (now >= claims.iat + session::ACCESS_RENEW).then(|| ui.sessions.renew(&claims, now)).flatten();
        return Ok(Who { claims, renewed });
    }
    let Some(refresh) = cookies.get(REFRESH_COOKIE) else { return Err(Box::new(refuse(false))) };
    match ui.sessions.refresh(refresh, now) {
        Refreshed::Rotated(issued) => Ok(Who { claims: issued.claims.clone(), renewed: Some(issued) }),
        Refreshed::Reused => Err(Box::new(refuse(true))),
        Refreshed::Invalid => Err(Box::new(refuse(true))),
    }
}

/// A change must come from a page of this server: `Origin` is this server's.
fn same_origin(ui: &Ui, parts: &Parts) -> Result<(), Refusal> {
    let host = parts.headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let expected = format!("{}://{host}", if ui.tls { "https" } else { "http" });
    let plain_origin = format!("http://{host}");
    match parts.headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        Some(origin) if origin.eq_ignore_ascii_case(&expected) => Ok(()),
        Some(origin) if ui.plain_too && origin.eq_ignore_ascii_case(&plain_origin) => Ok(()),
        _ => Err(Box::new(plain(StatusCode::FORBIDDEN, "Origin: a change must come from this server's own pages"))),
    }
}

async fn read_body(app: &App, body: Body) -> Result<axum::body::Bytes, Refusal> {
    let limited = http_body_util::Limited::new(body, MAX_UI_BODY);
    match tokio::time::timeout(app.limits.body_timeout, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
            Err(Box::new(plain(StatusCode::PAYLOAD_TOO_LARGE, &format!("body: larger than {MAX_UI_BODY} bytes"))))
        }
        Ok(Err(_)) => Err(Box::new(plain(StatusCode::BAD_REQUEST, "body: cut short"))),
        Err(_) => Err(Box::new(plain(StatusCode::REQUEST_TIMEOUT, "body: not received in time"))),
    }
}

/// A form's fields (the last of a repeated name).
fn form(bytes: &[u8]) -> HashMap<String, String> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

fn cookies(parts: &Parts) -> HashMap<String, String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn cookie(ui: &Ui, name: &str, value: &str, max_age: u64) -> HeaderValue {
    let secure = if ui.tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"))
        .expect("tokens are visible ASCII")
}

fn set_cookies(ui: &Ui, r: &mut Answer, issued: &Issued) {
    let h = r.headers_mut();
    h.append(header::SET_COOKIE, cookie(ui, ACCESS_COOKIE, &issued.access, session::ACCESS_LIFETIME));
    if let Some(refresh) = &issued.refresh {
        h.append(header::SET_COOKIE, cookie(ui, REFRESH_COOKIE, refresh, session::REFRESH_LIFETIME));
    }
}

fn clear_cookies(ui: &Ui, r: &mut Answer) {
    for name in [ACCESS_COOKIE, REFRESH_COOKIE] {
        r.headers_mut().append(header::SET_COOKIE, cookie(ui, name, "", 0));
    }
}

fn plain(status: StatusCode, message: &str) -> Answer {
    let mut r = Response::new(Body::from(format!("{message}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

fn redirect(to: &'static str) -> Answer {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut().insert(header::LOCATION, HeaderValue::from_static(to));
    r
}

/// The client's address: the peer, or what a trusted proxy says it forwarded for.
fn client_address(ui: &Ui, parts: &Parts, peer: SocketAddr) -> IpAddr {
    if !ui.trusted_proxies.contains(&peer.ip()) {
        return peer.ip();
    }
    // The rightmost entry a trusted proxy did not add; one that is not an address (a port, a
    // bracket) is not skipped over, so a client cannot slip its own entry behind it.
    let forwarded: Vec<String> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().to_owned())
        .collect();
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>() {
            Ok(a) if ui.trusted_proxies.contains(&a) => continue,
            Ok(a) => return a,
            Err(_) => return peer.ip(),
        }
    }
    peer.ip()
}

fn login_page(ui: &Ui, parts: &Parts, error: Option<&str>, status: StatusCode) -> Answer {
    // A signed-in visitor goes to the dashboard, with the tokens a refresh just rotated (one it
    // never got would look like a reuse at its next request).
    if error.is_none()
        && let Ok(who) = signed_in(ui, parts)
    {
        let mut r = redirect("/");
        if let Some(issued) = &who.renewed {
            set_cookies(ui, &mut r, issued);
        }
        return r;
    }
    // Login CSRF: the form carries the value of a cookie only this site can set.
    let mut token = [0u8; 16];
    getrandom::fill(&mut token).expect("the kernel's random source");
    let token = hex::encode(token);
    let mut r = pages::login(&token, error);
    *r.status_mut() = status;
    r.headers_mut().append(header::SET_COOKIE, cookie(ui, LOGIN_COOKIE, &token, 3600));
    r
}

async fn login(ui: &Ui, parts: &Parts, body: Body, peer: SocketAddr) -> Result<Answer, Refusal> {
    same_origin(ui, parts)?;
    let limited = http_body_util::Limited::new(body, 8 * 1024);
    let bytes = match tokio::time::timeout(std::time::Duration::from_secs(10), limited.collect()).await {
        Ok(Ok(c)) => c.to_bytes(),
        _ => return Err(Box::new(plain(StatusCode::BAD_REQUEST, "login: the form is at most 8 KiB"))),
    };
    let fields = form(&bytes);
    let expected = cookies(parts).remove(LOGIN_COOKIE);
    let given = fields.get("csrf");
    if !matches!((&expected, given), (Some(e), Some(g)) if super::constant_time_eq(e.as_bytes(), g.as_bytes())) {
        return Ok(login_page(ui, parts, Some("The login form expired; please try again."), StatusCode::FORBIDDEN));
    }
    let given_user = fields.get("username").cloned().unwrap_or_default();
    let password = fields.get("password").cloned().unwrap_or_default();
    // A name that cannot be a user's is checked (against the dummy hash) but neither kept as a
    // limiter key nor logged: it may be a password typed in the wrong box.
    let user = if accounts::check_username(&given_user).is_ok() { given_user.clone() } else { "<invalid>".to_owned() };
    let address = client_address(ui, parts, peer);
    let now = super::auth::now();
    // The attempt is counted before it is checked, so concurrent attempts cannot pass the limit.
    if let Err(wait) = ui.limiter.attempt(address, &user, now) {
        tracing::warn!(peer = %address, user, "web UI: login refused, too many attempts");
        return Ok(login_page(
            ui,
            parts,
            Some(&format!("Too many login attempts; try again in {wait} s.")),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let Ok(_permit) = ui.hashing.try_acquire() else {
        ui.limiter.forget(address, &user);
        return Ok(login_page(
            ui,
            parts,
            Some("The server is busy checking logins; try again."),
            StatusCode::SERVICE_UNAVAILABLE,
        ));
    };
    let started = std::time::Instant::now();
    let accounts = ui.accounts.clone();
    let (name, pass) = (given_user, password);
    let good = tokio::task::spawn_blocking(move || accounts.verify(&name, &pass)).await.unwrap_or(false);
    if !good {
        // Every failure takes as long: a bcrypt hash left by the Python version is slower to
        // check than argon2id, and would tell who has one.
        tokio::time::sleep(FAILED_LOGIN_MIN.saturating_sub(started.elapsed())).await;
        tracing::info!(peer = %address, user, "web UI: login failed");
        return Ok(login_page(ui, parts, Some("Wrong username or password."), StatusCode::UNAUTHORIZED));
    }
    ui.limiter.succeeded(address, &user);
    tracing::info!(peer = %address, user, "web UI: logged in");
    let issued = ui.sessions.login(&user, now);
    let mut r = redirect("/");
    set_cookies(ui, &mut r, &issued);
    r.headers_mut().append(header::SET_COOKIE, cookie(ui, LOGIN_COOKIE, "", 0));
    Ok(r)
}

/// A live stream slot of one session, given back when dropped.
struct StreamSlot {
    app: Arc<App>,
    sid: String,
}

impl StreamSlot {
    fn take(app: &Arc<App>, ui: &Ui, sid: &str) -> Option<StreamSlot> {
        let mut streams = ui.streams.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = streams.values().sum();
        let mine = streams.get(sid).copied().unwrap_or(0);
        if total >= app.limits.streams_total || mine >= STREAMS_PER_SESSION {
            return None;
        }
        streams.insert(sid.to_owned(), mine + 1);
        Some(StreamSlot { app: app.clone(), sid: sid.to_owned() })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Some(ui) = &self.app.ui {
            let mut streams = ui.streams.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = streams.get_mut(&self.sid) {
                *n -= 1;
                if *n == 0 {
                    streams.remove(&self.sid);
                }
            }
        }
    }
}

fn streams_refused(app: &App) -> Answer {
    plain(
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "too many live pages open: at most {STREAMS_PER_SESSION} per session and {} in all",
            app.limits.streams_total
        ),
    )
}

/// Ends when the session `sid` ends (logout, a reused refresh token, its age).
async fn session_ended(app: Arc<App>, sid: String) {
    loop {
        tokio::time::sleep(STREAM_SESSION_CHECK).await;
        let alive = app.ui.as_ref().is_some_and(|ui| ui.sessions.alive(&sid, super::auth::now()));
        if !alive {
            return;
        }
    }
}

fn sse<S>(events: S) -> Answer
where
    S: futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>> + Send + 'static,
{
    let sse = axum::response::Sse::new(events)
        .keep_alive(axum::response::sse::KeepAlive::new().interval(std::time::Duration::from_secs(15)));
    axum::response::IntoResponse::into_response(sse)
}

/// `GET /ui/events`: every row first (`all`), then the rows that changed (`rows`) and the
/// services that went (`removed`), as the live state changes.
fn dashboard_events(app: &Arc<App>, ui: &Ui, who: &Who) -> Answer {
    let Some(slot) = StreamSlot::take(app, ui, &who.claims.sid) else {
        return streams_refused(app);
    };
    let changes = app.live.subscribe();
    let zone = ui.zone.clone();
    let live = app.live.clone();
    struct State {
        changes: tokio::sync::watch::Receiver<u64>,
        sent: HashMap<String, pages::Row>,
        first: bool,
        _slot: StreamSlot,
    }
    let state = State { changes, sent: HashMap::new(), first: true, _slot: slot };
    let ended = session_ended(app.clone(), who.claims.sid.clone());
    let events = futures_util::stream::unfold(state, move |mut s| {
        let (zone, live) = (zone.clone(), live.clone());
        async move {
            loop {
                if !s.first && s.changes.changed().await.is_err() {
                    return None;
                }
                s.changes.mark_unchanged();
                let snapshot = live.snapshot();
                let rows: HashMap<String, pages::Row> =
                    snapshot.report.services.iter().map(|st| (st.name.clone(), pages::Row::of(st, &zone))).collect();
                let changed: Vec<&pages::Row> = rows.values().filter(|r| s.sent.get(&r.name) != Some(*r)).collect();
                let removed: Vec<&String> = s.sent.keys().filter(|n| !rows.contains_key(*n)).collect();
                let event = if s.first {
                    let mut all: Vec<&pages::Row> = rows.values().collect();
                    all.sort_by(|a, b| a.name.cmp(&b.name));
                    Some(
                        axum::response::sse::Event::default()
                            .event("all")
                            .data(serde_json::to_string(&all).unwrap_or_default()),
                    )
                } else if !changed.is_empty() || !removed.is_empty() {
                    let body = serde_json::json!({ "rows": changed, "removed": removed });
                    Some(axum::response::sse::Event::default().event("rows").data(body.to_string()))
                } else {
                    None
                };
                s.first = false;
                s.sent = rows;
                if let Some(e) = event {
                    return Some((Ok(e), s));
                }
            }
        }
    });
    sse(events.take_until(Box::pin(ended)))
}

/// `GET /ui/services/NAME/logs/stream`: new lines of one service as they come.
async fn log_events(app: &Arc<App>, ui: &Ui, who: &Who, name: &str) -> Answer {
    if !pages::installed(app, name) {
        return plain(StatusCode::NOT_FOUND, "no such service");
    }
    let Some(slot) = StreamSlot::take(app, ui, &who.claims.sid) else {
        return streams_refused(app);
    };
    let lines = match crate::Operations::follow(&app.local, name, &crate::LogQuery::last(0)).await {
        Ok(lines) => lines,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let zone = ui.zone.clone();
    let events = lines.map(move |line| {
        let _held = &slot;
        let data = match line {
            Ok(l) => serde_json::to_string(&pages::LogRow::of(&l, &zone)).unwrap_or_default(),
            Err(e) => serde_json::json!({ "error": e.to_string() }).to_string(),
        };
        Ok::<_, std::convert::Infallible>(axum::response::sse::Event::default().data(data))
    });
    sse(events.take_until(Box::pin(session_ended(app.clone(), who.claims.sid.clone()))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_masked_csrf_token_differs_each_time_and_unmasks_to_the_token() {
        let token = "00112233445566778899aabbccddeeff";
        let (a, b) = (mask(token), mask(token));
        assert_ne!(a, b);
        assert_eq!(unmask(&a).as_deref(), Some(token));
        assert_eq!(unmask(&b).as_deref(), Some(token));
        assert_eq!(unmask(token), None, "the bare token is not a masked one");
        assert_eq!(unmask("zz"), None);
    }

    #[test]
    fn the_enable_variable_takes_the_documented_words_only() {
        let v = |s: &'static str| move |_: &str| Some(s.to_owned());
        assert!(enabled_by_env(v("1")).unwrap() && enabled_by_env(v("Yes")).unwrap());
        assert!(!enabled_by_env(v("0")).unwrap() && !enabled_by_env(v("false")).unwrap());
        assert!(!enabled_by_env(|_| None).unwrap());
        assert!(enabled_by_env(v("on")).unwrap_err().to_string().contains("TASKFLOWS_ENABLE_UI=\"on\""));
        assert!(display_zone(v("Mars/Base")).is_err());
        assert_eq!(display_zone(|_| None).unwrap(), jiff::tz::TimeZone::UTC);
    }
}

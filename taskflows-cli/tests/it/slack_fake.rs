//! A local stand-in for Slack's side of the Slack bot: the few Web API methods the bot calls
//! (answered the way Slack answers them, every request recorded) and a Socket Mode WebSocket
//! server that sends envelopes and collects their acknowledgements. Std threads only, so tests
//! need no runtime of their own to drive it; the self-test (`slack_fake/tests.rs`) proves
//! slack-morphism's own client and Socket Mode listener understand it.
//!
//! Tokens: the fake accepts [`SlackFake::BOT_TOKEN`] on the Web API and
//! [`SlackFake::APP_TOKEN`] on `apps.connections.open` only, as Slack does.
#![allow(dead_code)] // the bot's tests use most of this; today only the self-test does

use std::collections::HashMap;
use std::io::{BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One request the fake received.
#[derive(Clone, Debug)]
pub(crate) struct Call {
    /// The Web API method (`chat.postMessage`), `upload` for the upload URL, `response_url` for a
    /// response URL.
    pub(crate) method: String,
    /// The request path, query string excluded (`/api//chat.postMessage` from slack-morphism,
    /// `/respond/3`).
    pub(crate) path: String,
    /// The `Authorization` header, if any (`Bearer xoxb-…`).
    pub(crate) auth: Option<String>,
    /// A JSON body as sent; a form body or a query string decoded into an object of strings;
    /// an upload's bytes as a (lossy UTF-8) string.
    pub(crate) body: Value,
    /// What the fake answered (Web API methods; `null` for uploads and response URLs).
    pub(crate) answer: Value,
}

/// Slack's side, on two loopback ports: the Web API and the Socket Mode WebSocket server.
pub(crate) struct SlackFake {
    port: u16,
    state: Arc<State>,
}

#[derive(Default)]
struct State {
    calls: Mutex<Vec<Call>>,
    groups: Mutex<HashMap<String, Vec<String>>>,
    /// (method, error) answered once each, in order.
    failures: Mutex<Vec<(String, String)>>,
    counter: AtomicU64,
    ws_port: AtomicU64,
    connections: Mutex<Vec<Connection>>,
    envelopes: Mutex<HashMap<String, Envelope>>,
    /// Every text frame the bot sent over Socket Mode, for failure messages.
    frames: Mutex<Vec<Value>>,
}

struct Connection {
    outbox: mpsc::Sender<String>,
    alive: Arc<AtomicBool>,
}

struct Envelope {
    kind: String,
    /// When the frame was written to the socket.
    sent: Option<Instant>,
    /// The ack frame and how long after `sent` it was read.
    ack: Option<(Value, Duration)>,
}

impl SlackFake {
    pub(crate) const BOT_TOKEN: &str = "xoxb-fake-bot-token";
    pub(crate) const APP_TOKEN: &str = "xapp-1-fake-app-token";
    pub(crate) const TEAM_ID: &str = "T0FAKE";
    pub(crate) const APP_ID: &str = "A0FAKE";
    pub(crate) const BOT_USER_ID: &str = "U0BOT";
    pub(crate) const BOT_ID: &str = "B0BOT";

    /// Start both servers; they live until the test process ends.
    pub(crate) fn start() -> SlackFake {
        let state = Arc::new(State::default());
        let http = TcpListener::bind("127.0.0.1:0").expect("bind the fake's Web API");
        let ws = TcpListener::bind("127.0.0.1:0").expect("bind the fake's Socket Mode server");
        let port = http.local_addr().unwrap().port();
        state.ws_port.store(ws.local_addr().unwrap().port().into(), Ordering::SeqCst);
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in http.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve_http(stream, port, &s));
            }
        });
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in ws.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve_socket(stream, &s));
            }
        });
        SlackFake { port, state }
    }

    /// The base URL for `SlackClientHyperConnector::with_slack_api_url` (slack-morphism appends
    /// `/method`, so requests arrive as `/api//method`; the fake accepts both).
    pub(crate) fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}/api/", self.port)
    }

    /// A fresh response URL on the fake; POSTs to it are recorded as method `response_url`.
    pub(crate) fn response_url(&self) -> String {
        format!("http://127.0.0.1:{}/respond/{}", self.port, self.state.next())
    }

    /// Members of a user group, for `usergroups.users.list`.
    pub(crate) fn set_group(&self, group: &str, users: &[&str]) {
        let users = users.iter().map(|u| (*u).to_owned()).collect();
        self.state.groups.lock().unwrap().insert(group.to_owned(), users);
    }

    /// Answer the next call of `method` with `{"ok":false,"error":error}`.
    pub(crate) fn fail_next(&self, method: &str, error: &str) {
        self.state.failures.lock().unwrap().push((method.to_owned(), error.to_owned()));
    }

    /// Every request so far, in arrival order.
    pub(crate) fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    pub(crate) fn calls_of(&self, method: &str) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.method == method).collect()
    }

    /// The first call of `method` matching `matches`, waiting up to `timeout` for it; panics with
    /// the calls seen.
    pub(crate) fn wait_for(&self, method: &str, matches: impl Fn(&Call) -> bool, timeout: Duration) -> Call {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(call) = self.calls_of(method).into_iter().find(&matches) {
                return call;
            }
            if Instant::now() > deadline {
                panic!("no matching {method} call within {timeout:?}; calls seen: {:#?}", self.calls());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Wait until a Socket Mode connection is open (and greeted with `hello`).
    pub(crate) fn wait_connected(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.live_connections() == 0 {
            assert!(
                Instant::now() < deadline,
                "no Socket Mode connection within {timeout:?}; calls seen: {:#?}",
                self.calls()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Socket Mode connections open now.
    pub(crate) fn live_connections(&self) -> usize {
        let connections = self.state.connections.lock().unwrap();
        connections.iter().filter(|c| c.alive.load(Ordering::SeqCst)).count()
    }

    /// Send an envelope of `kind` (`slash_commands`, `interactive`, `events_api`) over the oldest
    /// live connection; returns its `envelope_id`.
    pub(crate) fn send_envelope(&self, kind: &str, payload: Value) -> String {
        let id = format!("00000000-0000-4000-8000-{:012}", self.state.next());
        let frame = envelope_frame(&id, kind, payload);
        let envelope = Envelope { kind: kind.to_owned(), sent: None, ack: None };
        self.state.envelopes.lock().unwrap().insert(id.clone(), envelope);
        let connections = self.state.connections.lock().unwrap();
        let live = connections.iter().find(|c| c.alive.load(Ordering::SeqCst));
        let live = live.unwrap_or_else(|| panic!("no live Socket Mode connection to send {kind} {id} over"));
        live.outbox.send(frame.to_string()).expect("the connection's thread runs");
        id
    }

    /// Tell every live connection to reconnect (`{"type":"disconnect"}`), as Slack does before
    /// it rotates a connection.
    pub(crate) fn send_disconnect(&self, reason: &str) {
        let frame = json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}});
        for c in self.state.connections.lock().unwrap().iter() {
            let _ = c.outbox.send(frame.to_string());
        }
    }

    /// The ack frame of an envelope (`{"envelope_id": …, "payload"?: …}`); panics naming the
    /// envelope if none arrives `within`.
    pub(crate) fn wait_ack(&self, envelope_id: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            {
                let envelopes = self.state.envelopes.lock().unwrap();
                let envelope =
                    envelopes.get(envelope_id).unwrap_or_else(|| panic!("no envelope {envelope_id} was sent"));
                if let Some((ack, _)) = &envelope.ack {
                    return ack.clone();
                }
                if Instant::now() > deadline {
                    panic!(
                        "no ack for the {} envelope {envelope_id} within {within:?}; frames received: {:#?}",
                        envelope.kind,
                        self.state.frames.lock().unwrap()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How long after the envelope was written its ack was read; panics if not acked yet.
    pub(crate) fn ack_latency(&self, envelope_id: &str) -> Duration {
        let envelopes = self.state.envelopes.lock().unwrap();
        let envelope = envelopes.get(envelope_id).unwrap_or_else(|| panic!("no envelope {envelope_id} was sent"));
        envelope.ack.as_ref().unwrap_or_else(|| panic!("envelope {envelope_id} is not acked")).1
    }
}

impl State {
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// A fresh message timestamp: "1700000000.000100", "1700000000.000200", …
    fn next_ts(&self) -> String {
        let micros = 1_700_000_000_000_000 + self.next() * 100;
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }
}

// ---- Web API ------------------------------------------------------------------------------

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Requests on one connection until the client closes it (hyper keeps connections alive).
fn serve_http(stream: TcpStream, port: u16, state: &State) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    while let Some(request) = read_request(&mut reader) {
        let (status, content_type, body) = answer(&request, port, state);
        let close = request.header("connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body.as_bytes())).is_err() || close {
            return;
        }
    }
}

/// One HTTP/1.1 request (Content-Length or chunked body); `None` at the end of the connection.
fn read_request(reader: &mut impl std::io::BufRead) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (path, query) = (path.to_owned(), query.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut request = Request { method, path, query, headers, body: Vec::new() };
    if request.header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; size + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break; // no trailers from hyper: the CRLF read was the end
            }
            request.body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(length) = request.header("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).ok()?;
        request.body = body;
    }
    Some(request)
}

/// Decode a request body: JSON, a form, or (empty body) the query string.
fn decode_body(request: &Request) -> Value {
    let content_type = request.header("content-type").unwrap_or_default();
    if content_type.starts_with("application/json") {
        return serde_json::from_slice(&request.body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&request.body).into_owned()));
    }
    let form = if request.body.is_empty() { request.query.as_bytes() } else { &request.body };
    let object = form_urlencoded::parse(form).map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())));
    Value::Object(object.collect())
}

fn answer(request: &Request, port: u16, state: &State) -> (&'static str, &'static str, String) {
    const JSON: &str = "application/json; charset=utf-8";
    let auth = request.header("authorization").map(str::to_owned);
    let path = request.path.clone();
    if path.starts_with("/upload/") {
        // Slack's upload URL answers in plain text.
        let body = Value::String(String::from_utf8_lossy(&request.body).into_owned());
        state.calls.lock().unwrap().push(Call { method: "upload".into(), path, auth, body, answer: Value::Null });
        return ("200 OK", "text/plain; charset=utf-8", format!("OK - {}", request.body.len()));
    }
    if path.starts_with("/respond/") {
        let body = decode_body(request);
        state.calls.lock().unwrap().push(Call { method: "response_url".into(), path, auth, body, answer: Value::Null });
        return ("200 OK", JSON, json!({"ok": true}).to_string());
    }
    let Some(method) = path.strip_prefix("/api/") else {
        return ("404 Not Found", "text/plain", "not found".into());
    };
    let method = method.trim_start_matches('/').to_owned();
    let body = decode_body(request);
    let reply = api_method(&method, auth.as_deref(), &body, port, state);
    state.calls.lock().unwrap().push(Call {
        method: method.clone(),
        path: path.clone(),
        auth: auth.clone(),
        body,
        answer: reply.clone(),
    });
    ("200 OK", JSON, reply.to_string())
}

fn api_method(method: &str, auth: Option<&str>, body: &Value, port: u16, state: &State) -> Value {
    let error = |e: &str| json!({"ok": false, "error": e});
    let token = auth.and_then(|a| a.strip_prefix("Bearer "));
    let wanted = if method == "apps.connections.open" { SlackFake::APP_TOKEN } else { SlackFake::BOT_TOKEN };
    match token {
        None => return error("not_authed"),
        Some(t) if t == wanted => {}
        Some(t) if t == SlackFake::APP_TOKEN || t == SlackFake::BOT_TOKEN => return error("not_allowed_token_type"),
        Some(_) => return error("invalid_auth"),
    }
    {
        let mut failures = state.failures.lock().unwrap();
        if let Some(i) = failures.iter().position(|(m, _)| m == method) {
            let (_, e) = failures.remove(i);
            return error(&e);
        }
    }
    let field = |name: &str| body.get(name).cloned().unwrap_or(Value::Null);
    let text = |name: &str| body.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    match method {
        "apps.connections.open" => {
            let ws_port = state.ws_port.load(Ordering::SeqCst);
            json!({"ok": true, "url": format!("ws://127.0.0.1:{ws_port}/link/?ticket={}", state.next())})
        }
        "auth.test" => json!({
            "ok": true,
            "url": "https://taskflows-fake.slack.com/",
            "team": "taskflows",
            "user": "taskflows",
            "team_id": SlackFake::TEAM_ID,
            "user_id": SlackFake::BOT_USER_ID,
            "bot_id": SlackFake::BOT_ID,
            "is_enterprise_install": false,
        }),
        "chat.postMessage" | "chat.update" => {
            let ts = if method == "chat.update" { text("ts") } else { state.next_ts() };
            let mut message = json!({
                "type": "message",
                "ts": ts,
                "user": SlackFake::BOT_USER_ID,
                "bot_id": SlackFake::BOT_ID,
                "app_id": SlackFake::APP_ID,
                "team": SlackFake::TEAM_ID,
                "text": field("text"),
            });
            for name in ["blocks", "attachments", "thread_ts"] {
                if let Some(v) = body.get(name) {
                    message[name] = v.clone();
                }
            }
            if method == "chat.update" {
                message.as_object_mut().unwrap().remove("ts");
                message["edited"] = json!({"user": SlackFake::BOT_USER_ID, "ts": state.next_ts()});
            }
            json!({"ok": true, "channel": field("channel"), "ts": ts, "text": field("text"), "message": message})
        }
        "chat.postEphemeral" => json!({"ok": true, "message_ts": state.next_ts()}),
        "files.getUploadURLExternal" => {
            if text("filename").is_empty() || text("length").parse::<u64>().is_err() {
                return error("invalid_arguments");
            }
            let file_id = format!("F{:08}", state.next());
            json!({"ok": true, "upload_url": format!("http://127.0.0.1:{port}/upload/{file_id}"), "file_id": file_id})
        }
        "files.completeUploadExternal" => {
            let files = body.get("files").and_then(Value::as_array).cloned().unwrap_or_default();
            let files: Vec<Value> = files
                .iter()
                .map(|f| json!({"id": f["id"], "title": f.get("title").cloned().unwrap_or(f["id"].clone())}))
                .collect();
            json!({"ok": true, "files": files})
        }
        "usergroups.users.list" => match state.groups.lock().unwrap().get(&text("usergroup")) {
            Some(users) => json!({"ok": true, "users": users}),
            None => error("no_such_subteam"),
        },
        "conversations.info" => {
            let channel = text("channel");
            json!({"ok": true, "channel": {
                "id": channel, "name": channel.to_lowercase(), "created": 1_700_000_000,
                "is_channel": true, "is_member": true, "is_private": false, "is_archived": false,
            }})
        }
        _ => error("unknown_method"),
    }
}

// ---- Socket Mode --------------------------------------------------------------------------

/// One WebSocket connection: `hello`, then envelopes out and acks in until it closes.
fn serve_socket(stream: TcpStream, state: &State) {
    let Ok(mut ws) = tungstenite::accept(stream) else { return };
    // A short read timeout lets one thread both read acks and write queued envelopes.
    ws.get_ref().set_read_timeout(Some(Duration::from_millis(5))).unwrap();
    if ws.send(tungstenite::Message::text(hello_frame().to_string())).is_err() {
        return;
    }
    let (outbox, inbox) = mpsc::channel::<String>();
    let alive = Arc::new(AtomicBool::new(true));
    state.connections.lock().unwrap().push(Connection { outbox, alive: alive.clone() });
    loop {
        while let Ok(frame) = inbox.try_recv() {
            let sent: Value = serde_json::from_str(&frame).unwrap_or_default();
            if let Some(id) = sent["envelope_id"].as_str()
                && let Some(envelope) = state.envelopes.lock().unwrap().get_mut(id)
            {
                envelope.sent = Some(Instant::now());
            }
            if ws.send(tungstenite::Message::text(frame)).is_err() {
                alive.store(false, Ordering::SeqCst);
                return;
            }
        }
        match ws.read() {
            Ok(tungstenite::Message::Text(text)) => {
                let read = Instant::now();
                let frame: Value = serde_json::from_str(text.as_str()).unwrap_or(Value::String(text.to_string()));
                if let Some(id) = frame["envelope_id"].as_str()
                    && let Some(envelope) = state.envelopes.lock().unwrap().get_mut(id)
                {
                    let latency = envelope.sent.map(|sent| read - sent).unwrap_or_default();
                    envelope.ack.get_or_insert((frame.clone(), latency));
                }
                state.frames.lock().unwrap().push(frame);
            }
            // Pings are answered by tungstenite itself (the pong goes out with the next write or
            // flush).
            Ok(tungstenite::Message::Close(_)) => break,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) =>
            {
                let _ = ws.flush();
            }
            Err(_) => break,
        }
    }
    alive.store(false, Ordering::SeqCst);
}

/// The frame Slack opens every Socket Mode connection with.
fn hello_frame() -> Value {
    json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": {
            "host": "fake",
            "started": "2026-01-01 00:00:00.000",
            "build_number": 1,
            "approximate_connection_time": 18060,
        },
        "connection_info": {"app_id": SlackFake::APP_ID},
    })
}

/// An envelope as Slack sends it.
fn envelope_frame(id: &str, kind: &str, payload: Value) -> Value {
    json!({
        "envelope_id": id,
        "type": kind,
        "payload": payload,
        "accepts_response_payload": true,
        "retry_attempt": 0,
        "retry_reason": "",
    })
}

// ---- Payloads -----------------------------------------------------------------------------

/// The payload of a `slash_commands` envelope: `/tf text` typed by `user` in `channel`.
pub(crate) fn slash_command(user: &str, channel: &str, text: &str, response_url: &str) -> Value {
    json!({
        "token": "deprecated-verification-token",
        "team_id": SlackFake::TEAM_ID,
        "team_domain": "taskflows",
        "channel_id": channel,
        "channel_name": channel.to_lowercase(),
        "user_id": user,
        "user_name": user.to_lowercase(),
        "command": "/tf",
        "text": text,
        "api_app_id": SlackFake::APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": "1700000000.1.fake-trigger",
    })
}

/// The payload of an `interactive` envelope: `user` pressed the button `action_id` (carrying
/// `value`) on the message `message_ts` in `channel`.
pub(crate) fn block_action(
    user: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
    response_url: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "team": {"id": SlackFake::TEAM_ID, "domain": "taskflows"},
        "user": {"id": user, "username": user.to_lowercase(), "name": user.to_lowercase(), "team_id": SlackFake::TEAM_ID},
        "api_app_id": SlackFake::APP_ID,
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": false},
        "trigger_id": "1700000000.2.fake-trigger",
        "channel": {"id": channel, "name": channel.to_lowercase()},
        "message": {
            "type": "message",
            "ts": message_ts,
            "user": SlackFake::BOT_USER_ID,
            "bot_id": SlackFake::BOT_ID,
            "text": "a message with buttons",
        },
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [{
            "type": "button",
            "action_id": action_id,
            "block_id": "fake-block",
            "text": {"type": "plain_text", "text": action_id, "emoji": true},
            "value": value,
            "action_ts": "1700000001.000200",
        }],
    })
}

/// The payload of an `events_api` envelope: `user` mentioned the bot in `channel`.
pub(crate) fn app_mention(user: &str, channel: &str, text: &str, ts: &str) -> Value {
    json!({
        "token": "deprecated-verification-token",
        "team_id": SlackFake::TEAM_ID,
        "api_app_id": SlackFake::APP_ID,
        "event": {
            "type": "app_mention",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        },
        "type": "event_callback",
        "event_id": "Ev0FAKE",
        "event_time": 1_700_000_000,
        "authorizations": [{
            "team_id": SlackFake::TEAM_ID,
            "user_id": SlackFake::BOT_USER_ID,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
        "event_context": "4-fake",
    })
}

/// Slack's request signature: `v0=` and the hex HMAC-SHA256 of `v0:{timestamp}:{body}` under the
/// signing secret (header `X-Slack-Signature`, with `X-Slack-Request-Timestamp`).
pub(crate) fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    use hmac::Mac as _;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

mod tests;

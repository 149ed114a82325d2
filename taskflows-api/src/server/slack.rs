//! `/slack/commands`, `/slack/interactivity` and `/slack/events`: the Slack bot over HTTP, for
//! teams that point their Slack app at the API server instead of using Socket Mode.
//!
//! Every request must carry Slack's signature (`X-Slack-Signature: v0=HMAC-SHA256(signing
//! secret, "v0:TIMESTAMP:BODY")`) with a timestamp within 5 minutes, checked by slack-morphism's
//! verifier; each signature is accepted once (remembered in `DATA_DIR/api/slack-nonces` across
//! restarts). Anything else is 401 before the body is parsed. Events are answered at once; the
//! bot's work follows.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Method, StatusCode, header};
use taskflows_alerts::slack_morphism::prelude::*;
use taskflows_alerts::slack_morphism::signature_verifier::SlackEventSignatureVerifier;

use super::nonces::{Nonces, Refusal};
use crate::slack::{Bot, events};

/// The largest body Slack sends here (its payloads are a few KiB).
pub(super) const MAX_BODY: usize = 256 * 1024;
/// How long an event id is remembered (Slack retries an event it thinks was not taken).
const EVENT_IDS_FOR: u64 = 600;
const MAX_EVENT_IDS: usize = 10_000;

/// The bot's HTTP side.
pub(super) struct SlackRoutes {
    bot: Bot,
    verifier: SlackEventSignatureVerifier,
    nonces: Nonces,
    events: Mutex<HashMap<String, u64>>,
}

/// Whether `path` is one of the Slack endpoints.
pub(super) fn is_slack_path(path: &str) -> bool {
    matches!(path, "/slack/commands" | "/slack/interactivity" | "/slack/events")
}

impl SlackRoutes {
    pub(super) fn new(
        bot: Bot,
        signing_secret: &str,
        nonce_file: &std::path::Path,
        now: u64,
    ) -> crate::Result<SlackRoutes> {
        Ok(SlackRoutes {
            bot,
            verifier: SlackEventSignatureVerifier::new(&SlackSigningSecret(signing_secret.to_owned())),
            nonces: Nonces::open(nonce_file, now, 100_000)?,
            events: Mutex::new(HashMap::new()),
        })
    }

    /// Check the signature of `body`, then hand the event to the bot.
    pub(super) fn answer(
        &self,
        method: &Method,
        path: &str,
        headers: &axum::http::HeaderMap,
        body: &Bytes,
        now: u64,
    ) -> axum::http::Response<Body> {
        if method != Method::POST {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "POST only");
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(timestamp)) = (
            header(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER),
            header(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP),
        ) else {
            return plain(StatusCode::UNAUTHORIZED, "X-Slack-Signature and X-Slack-Request-Timestamp are required");
        };
        if headers.get_all(SlackEventSignatureVerifier::SLACK_SIGNED_HASH_HEADER).iter().count() > 1
            || headers.get_all(SlackEventSignatureVerifier::SLACK_SIGNED_TIMESTAMP).iter().count() > 1
        {
            return plain(StatusCode::UNAUTHORIZED, "one X-Slack-Signature and one X-Slack-Request-Timestamp");
        }
        let Ok(text) = std::str::from_utf8(body) else {
            return plain(StatusCode::UNAUTHORIZED, "the signature does not match");
        };
        let Ok(ts) = timestamp.parse::<u64>() else {
            return plain(StatusCode::UNAUTHORIZED, "X-Slack-Request-Timestamp: Unix seconds");
        };
        if self.verifier.verify(signature, text, timestamp).is_err() {
            return plain(
                StatusCode::UNAUTHORIZED,
                "the signature does not match, or its timestamp is not within 5 minutes",
            );
        }
        match self.nonces.accept(&format!("slack {signature}"), ts + 300, now) {
            Ok(()) => {}
            Err(Refusal::Replay) => return plain(StatusCode::UNAUTHORIZED, "this request was seen before (replay)"),
            Err(Refusal::Full | Refusal::Unrecorded) => {
                return plain(StatusCode::SERVICE_UNAVAILABLE, "cannot remember the request; try again");
            }
        }
        match path {
            "/slack/commands" => {
                match form_json(body).and_then(|v| serde_json::from_value::<SlackCommandEvent>(v).ok()) {
                    Some(event) => {
                        self.bot.receive(events::command(&event));
                        // Nothing to show at once: the answer is posted when it is ready.
                        plain(StatusCode::OK, "")
                    }
                    None => plain(StatusCode::BAD_REQUEST, "not a slash command"),
                }
            }
            "/slack/interactivity" => {
                let payload = form_urlencoded::parse(body).find(|(k, _)| k == "payload").map(|(_, v)| v.into_owned());
                match payload.and_then(|p| serde_json::from_str::<SlackInteractionEvent>(&p).ok()) {
                    Some(event) => {
                        for inbound in events::interaction(&event) {
                            self.bot.receive(inbound);
                        }
                        plain(StatusCode::OK, "")
                    }
                    None => plain(StatusCode::BAD_REQUEST, "not an interaction payload"),
                }
            }
            _ => match serde_json::from_slice::<SlackPushEvent>(body) {
                Ok(SlackPushEvent::UrlVerification(v)) => plain(StatusCode::OK, &v.challenge),
                Ok(SlackPushEvent::EventCallback(event)) => {
                    if self.first_time(&event.event_id.0, now)
                        && let Some(inbound) = events::push(&event)
                    {
                        self.bot.receive(inbound);
                    }
                    plain(StatusCode::OK, "")
                }
                Ok(_) => plain(StatusCode::OK, ""),
                Err(_) => plain(StatusCode::BAD_REQUEST, "not a Slack event"),
            },
        }
    }

    /// Whether the event id is new (Slack retries events whose answer it did not see).
    fn first_time(&self, id: &str, now: u64) -> bool {
        let mut seen = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_EVENT_IDS {
            seen.retain(|_, until| *until > now);
        }
        if seen.get(id).is_some_and(|until| *until > now) {
            return false;
        }
        if seen.len() < MAX_EVENT_IDS {
            seen.insert(id.to_owned(), now + EVENT_IDS_FOR);
        }
        true
    }
}

/// A form body as a JSON object of strings.
fn form_json(body: &[u8]) -> Option<serde_json::Value> {
    let map: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    Some(serde_json::Value::Object(map))
}

fn plain(status: StatusCode, text: &str) -> axum::http::Response<Body> {
    let mut r = axum::http::Response::new(Body::from(text.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

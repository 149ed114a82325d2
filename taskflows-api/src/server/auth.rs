//! Checking a request's signature: its headers before the body is read, the signature and the
//! nonce after.

use std::time::SystemTime;

use axum::http::{HeaderMap, Method, request::Parts};

use super::nonces::{Nonces, Refusal};
use crate::signing::{self, NONCE_HEADER, SIGNATURE_HEADER, Signed, TIMESTAMP_HEADER, WINDOW_SECS};

/// Why a request was refused before it reached a route.
#[derive(Debug)]
pub(super) struct Denied {
    pub(super) status: u16,
    pub(super) message: String,
}

fn unauthorized(message: impl Into<String>) -> Denied {
    Denied { status: 401, message: message.into() }
}

/// The checked headers of a signed request.
pub(super) struct Head {
    timestamp: String,
    nonce: String,
    signature: String,
    host: String,
    ts: u64,
}

pub(super) struct Verifier {
    secret: Option<Vec<u8>>,
    names: Vec<String>,
    nonces: Option<std::sync::Arc<Nonces>>,
}

pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The one value of header `name`, refusing none or several.
fn one<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, Denied> {
    let shown = match name {
        TIMESTAMP_HEADER => "X-HMAC-Timestamp",
        NONCE_HEADER => "X-HMAC-Nonce",
        SIGNATURE_HEADER => "X-HMAC-Signature",
        _ => "Host",
    };
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        let n = headers.get_all(name).iter().count();
        return Err(unauthorized(if n == 0 {
            format!("{shown}: missing; every request but GET /health must be signed")
        } else {
            format!("{shown}: given {n} times; once is allowed")
        }));
    };
    value.to_str().map_err(|_| unauthorized(format!("{shown}: not visible ASCII")))
}

impl Verifier {
    pub(super) fn new(secret: Option<&str>, names: Vec<String>, nonces: Option<std::sync::Arc<Nonces>>) -> Verifier {
        Verifier { secret: secret.map(|s| s.as_bytes().to_vec()), names, nonces }
    }

    /// Whether the request's Host is one of this server's names (a request signed for another
    /// server, or a browser led here by DNS rebinding, names another).
    pub(super) fn host_ok(&self, parts: &Parts) -> Result<(), Denied> {
        let host = one(&parts.headers, "host")?;
        if !self.names.contains(&host.to_ascii_lowercase()) {
            return Err(unauthorized(format!(
                "Host: this server is not {host:?}; a request is signed for one server (--name adds names)"
            )));
        }
        Ok(())
    }

    /// Check what can be checked before the body: the host, the headers' presence and form,
    /// the window. Without signing (loopback only): the host, and no browser (a page must not
    /// drive the server with its visitor's loopback).
    pub(super) fn head(&self, parts: &Parts) -> Result<Option<Head>, Denied> {
        if parts.uri.authority().is_some() || parts.uri.scheme().is_some() {
            return Err(Denied { status: 400, message: "request target: a path is allowed, not a full URL".into() });
        }
        self.host_ok(parts)?;
        if self.secret.is_none() {
            if parts.headers.contains_key("origin") {
                return Err(Denied {
                    status: 403,
                    message: "Origin: requests from web pages are refused while signing is off".into(),
                });
            }
            return Ok(None);
        }
        let headers = &parts.headers;
        let timestamp = one(headers, TIMESTAMP_HEADER)?.to_owned();
        let nonce = one(headers, NONCE_HEADER)?.to_owned();
        let signature = one(headers, SIGNATURE_HEADER)?.to_owned();
        let host = one(headers, "host")?.to_owned();
        let signed = Signed {
            timestamp: &timestamp,
            nonce: &nonce,
            method: parts.method.as_str(),
            host: &host,
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            body: b"",
        };
        let ts = signed.check().map_err(|e| unauthorized(e.to_string()))?;
        let now = now();
        if ts.abs_diff(now) > WINDOW_SECS {
            return Err(unauthorized(format!(
                "X-HMAC-Timestamp: {}s from the server's clock; at most {WINDOW_SECS}s either way is allowed",
                ts as i128 - now as i128
            )));
        }
        Ok(Some(Head { timestamp, nonce, signature, host, ts }))
    }

    /// Check the signature over the whole request, then take its nonce.
    pub(super) fn finish(
        &self,
        head: Option<Head>,
        method: &Method,
        path: &str,
        query: &str,
        body: &[u8],
    ) -> Result<(), Denied> {
        let (Some(secret), Some(head)) = (&self.secret, head) else { return Ok(()) };
        let signed = Signed {
            timestamp: &head.timestamp,
            nonce: &head.nonce,
            method: method.as_str(),
            host: &head.host,
            path,
            query,
            body,
        };
        match signed.verify(secret, &head.signature) {
            Ok(true) => {}
            Ok(false) => return Err(unauthorized("X-HMAC-Signature: does not match the request")),
            Err(e) => return Err(unauthorized(e.to_string())),
        }
        // The window again, at the time the nonce is taken: a body sent slowly must not carry a
        // request past the window, where its nonce would count as expired.
        let now = now();
        if head.ts.abs_diff(now) > WINDOW_SECS {
            return Err(unauthorized("X-HMAC-Timestamp: the request's body arrived after its window closed"));
        }
        let nonces = self.nonces.as_ref().expect("a signing server keeps nonces");
        match nonces.accept(&head.nonce, head.ts + signing::WINDOW_SECS + 1, now) {
            Ok(()) => Ok(()),
            Err(Refusal::Replay) => Err(unauthorized("X-HMAC-Nonce: already used; a signed request is accepted once")),
            Err(Refusal::Full) => Err(Denied { status: 503, message: "too many requests within the window".into() }),
            Err(Refusal::Unrecorded) => {
                Err(Denied { status: 500, message: "the nonce could not be recorded; the request was not run".into() })
            }
        }
    }
}

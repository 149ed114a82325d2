//! The request-signing scheme of the API (HMAC-SHA256), shared by the server and the client.
//! It does no I/O and knows no HTTP library: a request is its parts as sent.
//!
//! The signed message is eight lines joined by `\n` (no trailing newline):
//!
//! ```text
//! TF-HMAC-SHA256-1
//! <timestamp>     X-HMAC-Timestamp: Unix seconds, 1–12 ASCII digits, no leading zero
//! <nonce>         X-HMAC-Nonce: 16–64 of A–Z a–z 0–9 _ -
//! <method>        the request method, as sent (GET, POST …)
//! <host>          the Host header, as sent (`server1:7777`): the server it was signed for
//! <path>          the request target's path, as sent (still percent-encoded)
//! <query>         the request target's query, as sent, without `?` (empty when none)
//! <body hash>     lowercase hex SHA-256 of the body's bytes (of nothing when none)
//! ```
//!
//! `X-HMAC-Signature` is the lowercase hex HMAC-SHA256 of the message, keyed with the secret's
//! bytes (the secret as written in the security file, e.g. 64 hex characters). No field can
//! hold a line break (each is restricted to characters HTTP allows in its place, or to its own
//! set) and the body enters as a fixed-length hash, so no field can shift into another.

use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};

/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "x-hmac-signature";
/// The header with the Unix time of signing.
pub const TIMESTAMP_HEADER: &str = "x-hmac-timestamp";
/// The header with the request's unique nonce.
pub const NONCE_HEADER: &str = "x-hmac-nonce";
/// The first line of every signed message: the scheme and its version.
pub const SCHEME: &str = "TF-HMAC-SHA256-1";
/// How far a timestamp may be from the server's clock, either way (seconds).
pub const WINDOW_SECS: u64 = 300;
/// The shortest secret accepted (bytes).
pub const MIN_SECRET_LEN: usize = 32;

/// The parts of a request that are signed.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    /// `X-HMAC-Timestamp`.
    pub timestamp: &'a str,
    /// `X-HMAC-Nonce`.
    pub nonce: &'a str,
    /// The method.
    pub method: &'a str,
    /// The Host header.
    pub host: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// The query without `?`, as sent.
    pub query: &'a str,
    /// The body.
    pub body: &'a [u8],
}

/// Why a request's signing fields are refused (before the signature is computed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The timestamp is not 1–12 digits without a leading zero.
    #[error("X-HMAC-Timestamp: not Unix seconds (1-12 digits, no leading zero)")]
    Timestamp,
    /// The nonce has the wrong length or characters.
    #[error("X-HMAC-Nonce: 16-64 characters of A-Z, a-z, 0-9, _ and - are allowed")]
    Nonce,
    /// The signature is not 64 lowercase hex digits.
    #[error("X-HMAC-Signature: 64 lowercase hex digits are allowed")]
    Signature,
    /// A field holds a character that could end a line of the message.
    #[error("{0}: control characters are not allowed")]
    Control(&'static str),
}

impl Signed<'_> {
    /// Check every field's form; the timestamp as a number.
    pub fn check(&self) -> Result<u64, FieldError> {
        let ts = self.timestamp;
        let digits = !ts.is_empty() && ts.len() <= 12 && ts.bytes().all(|b| b.is_ascii_digit());
        if !digits || (ts.len() > 1 && ts.starts_with('0')) {
            return Err(FieldError::Timestamp);
        }
        if !nonce_ok(self.nonce) {
            return Err(FieldError::Nonce);
        }
        for (name, value) in [("method", self.method), ("Host", self.host), ("path", self.path), ("query", self.query)]
        {
            if value.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err(FieldError::Control(name));
            }
        }
        ts.parse().map_err(|_| FieldError::Timestamp)
    }

    /// The message the signature is computed over.
    pub fn message(&self) -> String {
        let body = hex::encode(Sha256::digest(self.body));
        [SCHEME, self.timestamp, self.nonce, self.method, self.host, self.path, self.query, &body].join("\n")
    }

    /// The signature with `secret`, as lowercase hex.
    pub fn sign(&self, secret: &[u8]) -> String {
        hex::encode(mac(secret, &self.message()).finalize().into_bytes())
    }

    /// Whether `signature` (lowercase hex) is this request's signature with `secret`, compared in
    /// constant time.
    pub fn verify(&self, secret: &[u8], signature: &str) -> Result<bool, FieldError> {
        let valid_hex = signature.len() == 64 && signature.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid_hex {
            return Err(FieldError::Signature);
        }
        let bytes = hex::decode(signature).map_err(|_| FieldError::Signature)?;
        Ok(mac(secret, &self.message()).verify_slice(&bytes).is_ok())
    }
}

fn mac(secret: &[u8], message: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(message.as_bytes());
    mac
}

/// Whether `nonce` has the allowed form.
pub fn nonce_ok(nonce: &str) -> bool {
    (16..=64).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A fresh random nonce (32 hex characters).
pub fn new_nonce() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the kernel's random source");
    hex::encode(bytes)
}

/// A fresh secret: 32 random bytes as 64 hex characters.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the kernel's random source");
    hex::encode(bytes)
}

/// The headers of a request signed now with `secret`: (name, value) pairs to add.
pub fn headers(
    secret: &[u8],
    method: &str,
    host: &str,
    path: &str,
    query: &str,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let timestamp = jiff::Timestamp::now().as_second().to_string();
    let nonce = new_nonce();
    let signed = Signed { timestamp: &timestamp, nonce: &nonce, method, host, path, query, body };
    let signature = signed.sign(secret);
    [(TIMESTAMP_HEADER, timestamp), (NONCE_HEADER, nonce), (SIGNATURE_HEADER, signature)]
}

#[cfg(test)]
mod tests {
    use super::{FieldError, Signed};

    /// The README's test vector.
    pub(crate) const VECTOR_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn vector() -> Signed<'static> {
        Signed {
            timestamp: "1764892800",
            nonce: "3f2a9c0e5b7d4a1f8e6c2b9d0a7f5e31",
            method: "POST",
            host: "server1:7777",
            path: "/services/web/restart",
            query: "",
            body: b"{\"targets\":\"services\"}",
        }
    }

    #[test]
    fn the_readme_vector() {
        let v = vector();
        let expected = format!(
            "TF-HMAC-SHA256-1\n1764892800\n3f2a9c0e5b7d4a1f8e6c2b9d0a7f5e31\nPOST\nserver1:7777\n/services/web/restart\n\n{}",
            body_hash(v.body)
        );
        assert_eq!(v.message(), expected);
        let signature = v.sign(VECTOR_SECRET.as_bytes());
        insta::assert_snapshot!(format!("body sha256: {}\nsignature: {signature}", body_hash(v.body)));
        assert_eq!(v.verify(VECTOR_SECRET.as_bytes(), &signature), Ok(true));
    }

    fn body_hash(body: &[u8]) -> String {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(body))
    }

    #[test]
    fn any_changed_part_breaks_the_signature() {
        let secret = VECTOR_SECRET.as_bytes();
        let signature = vector().sign(secret);
        let changed = [
            Signed { timestamp: "1764892801", ..vector() },
            Signed { nonce: "3f2a9c0e5b7d4a1f8e6c2b9d0a7f5e32", ..vector() },
            Signed { method: "GET", ..vector() },
            Signed { host: "server2:7777", ..vector() },
            Signed { path: "/services/web/stop", ..vector() },
            Signed { query: "a=1", ..vector() },
            Signed { body: b"{}", ..vector() },
            // A field's end moved into the next one.
            Signed { host: "server1:7777\n/services/web", path: "/restart", ..vector() },
        ];
        for c in changed {
            assert_eq!(c.verify(secret, &signature), Ok(false), "{c:?}");
        }
        assert_eq!(vector().verify(b"another secret of at least thirty-two bytes", &signature), Ok(false));
    }

    #[test]
    fn malformed_fields_are_refused() {
        let ok = vector();
        assert_eq!(ok.check(), Ok(1_764_892_800));
        for ts in ["", "-1", "+1764892800", "01764892800", "1764892800.5", "1e9", "1234567890123", " 1"] {
            assert_eq!(Signed { timestamp: ts, ..ok }.check(), Err(FieldError::Timestamp), "{ts:?}");
        }
        for nonce in
            ["short", "3f2a9c0e5b7d4a1f\n8e6c2b9d0a7f5e31", "3f2a9c0e5b7d4a1f 8e6c2b9d0a7f5e31", &"a".repeat(65)]
        {
            assert_eq!(Signed { nonce, ..ok }.check(), Err(FieldError::Nonce), "{nonce:?}");
        }
        assert_eq!(Signed { host: "a\rb", ..ok }.check(), Err(FieldError::Control("Host")));
        let signature = ok.sign(VECTOR_SECRET.as_bytes());
        for bad in [signature.to_uppercase(), signature[..63].to_owned(), format!("{signature}0"), String::new()] {
            assert_eq!(ok.verify(VECTOR_SECRET.as_bytes(), &bad), Err(FieldError::Signature), "{bad:?}");
        }
    }
}

//! Login sessions: JWT (HS256 only) access and refresh tokens in cookies, and the sessions they
//! belong to, kept in `DATA_DIR/api/ui-sessions.json` (0600) so a restart logs nobody out.
//!
//! - An access token lives an hour and is re-issued on activity (when it is older than
//!   [`ACCESS_RENEW`]).
//! - A refresh token is good once: using it rotates it (the session's generation goes up). A
//!   refresh token of an older generation is a reuse, and ends the session, except within
//!   [`REUSE_GRACE`] of its rotation (two tabs refreshing at once).
//! - Logging out ends the session; every token of it is refused from then on.
//!
//! The tokens are plain JWTs, written here rather than with a JWT library: only HS256 is ever
//! accepted, and the header must say exactly that, so neither `alg: none` nor a key confusion
//! can get through.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How long an access token is good.
pub(super) const ACCESS_LIFETIME: u64 = 3600;
/// An access token older than this is replaced by a fresh one on the next request.
pub(super) const ACCESS_RENEW: u64 = 300;
/// How long a refresh token is good (each rotation starts it again).
pub(super) const REFRESH_LIFETIME: u64 = 7 * 24 * 3600;
/// The longest a session lasts, however active.
pub(super) const SESSION_MAX: u64 = 30 * 24 * 3600;
/// A refresh token one generation old is taken this long after its rotation.
pub(super) const REUSE_GRACE: u64 = 10;
/// The most sessions kept; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// The only header a token may have.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Claims {
    /// The user.
    pub sub: String,
    /// The session.
    pub sid: String,
    /// `access` or `refresh`.
    pub typ: String,
    /// A refresh token's generation.
    #[serde(default)]
    pub generation: u64,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
}

fn mac(secret: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length")
}

/// `claims` as a signed token.
pub(super) fn encode(secret: &[u8], claims: &Claims) -> String {
    let head = B64.encode(HEADER);
    let body = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signing_input = format!("{head}.{body}");
    let mut m = mac(secret);
    m.update(signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(m.finalize().into_bytes()))
}

/// The claims of `token` if its header is exactly HS256's, its signature is right (compared in
/// constant time) and it has not expired at `now`.
pub(super) fn decode(secret: &[u8], token: &str, now: u64) -> Option<Claims> {
    if token.len() > 4096 {
        return None;
    }
    let mut parts = token.split('.');
    let (head, body, signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let header: serde_json::Value = serde_json::from_slice(&B64.decode(head).ok()?).ok()?;
    let alg_ok = header.get("alg").and_then(|a| a.as_str()) == Some("HS256")
        && header.as_object().is_some_and(|o| o.keys().all(|k| k == "alg" || k == "typ"))
        && header.get("typ").is_none_or(|t| t.as_str() == Some("JWT"));
    if !alg_ok {
        return None;
    }
    let mut m = mac(secret);
    m.update(head.as_bytes());
    m.update(b".");
    m.update(body.as_bytes());
    m.verify_slice(&B64.decode(signature).ok()?).ok()?;
    let claims: Claims = serde_json::from_slice(&B64.decode(body).ok()?).ok()?;
    (claims.exp > now).then_some(claims)
}

/// One login.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    user: String,
    /// The generation of the one refresh token that is good now.
    generation: u64,
    created: u64,
    /// When the current refresh token was issued.
    rotated: u64,
}

/// Tokens to set as cookies.
#[derive(Debug)]
pub(super) struct Issued {
    pub access: String,
    pub refresh: Option<String>,
    pub claims: Claims,
}

/// What a refresh token got.
#[derive(Debug)]
pub(super) enum Refreshed {
    /// New tokens.
    Rotated(Issued),
    /// The token was used before: the session is over.
    Reused,
    /// Not a token of a live session.
    Invalid,
}

/// The sessions of one server.
pub(super) struct Sessions {
    secret: Vec<u8>,
    path: PathBuf,
    sessions: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// The sessions saved at `path` (none if it is missing or doubtful: that only logs users out).
    pub(super) fn open(secret: &[u8], path: PathBuf) -> Sessions {
        let sessions = match crate::security::read_private(&path) {
            Ok(Some(text)) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "web UI: sessions file unreadable; everyone logs in again");
                HashMap::new()
            }),
            Ok(None) => HashMap::new(),
            Err(why) => {
                tracing::warn!(path = %path.display(), why, "web UI: sessions file refused; everyone logs in again");
                HashMap::new()
            }
        };
        Sessions { secret: secret.to_vec(), path, sessions: Mutex::new(sessions) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, sessions: &mut HashMap<String, Session>, now: u64) {
        sessions.retain(|_, s| s.rotated + REFRESH_LIFETIME > now && s.created + SESSION_MAX > now);
        while sessions.len() > MAX_SESSIONS {
            let oldest = sessions.iter().min_by_key(|(_, s)| s.created).map(|(k, _)| k.clone());
            match oldest {
                Some(k) => sessions.remove(&k),
                None => break,
            };
        }
        let text = serde_json::to_vec(&*sessions).expect("sessions serialize");
        if let Err(e) = taskflows_systemd::files::write_private(&self.path, &text) {
            tracing::warn!(path = %self.path.display(), error = %e, "web UI: cannot save the sessions");
        }
    }

    fn issue(&self, sid: &str, session: &Session, now: u64, with_refresh: bool) -> Issued {
        let claims = Claims {
            sub: session.user.clone(),
            sid: sid.to_owned(),
            typ: "access".into(),
            generation: 0,
            iat: now,
            exp: now + ACCESS_LIFETIME,
        };
        let refresh = with_refresh.then(|| {
            encode(
                &self.secret,
                &Claims {
                    typ: "refresh".into(),
                    generation: session.generation,
                    iat: session.rotated,
                    exp: (session.rotated + REFRESH_LIFETIME).min(session.created + SESSION_MAX),
                    ..claims.clone()
                },
            )
        });
        Issued { access: encode(&self.secret, &claims), refresh, claims }
    }

    /// A new session of `user`.
    pub(super) fn login(&self, user: &str, now: u64) -> Issued {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).expect("the kernel's random source");
        let sid = hex::encode(id);
        let session = Session { user: user.to_owned(), generation: 1, created: now, rotated: now };
        let issued = self.issue(&sid, &session, now, true);
        let mut sessions = self.lock();
        sessions.insert(sid, session);
        self.save(&mut sessions, now);
        issued
    }

    /// The claims of a good access token of a live session.
    pub(super) fn access(&self, token: &str, now: u64) -> Option<Claims> {
        let claims = decode(&self.secret, token, now).filter(|c| c.typ == "access")?;
        let sessions = self.lock();
        let s = sessions.get(&claims.sid)?;
        (s.user == claims.sub && s.created + SESSION_MAX > now).then_some(claims)
    }

    /// Whether the session `sid` still exists and is young enough.
    pub(super) fn alive(&self, sid: &str, now: u64) -> bool {
        self.lock().get(sid).is_some_and(|s| s.created + SESSION_MAX > now)
    }

    /// A fresh access token for the session of `claims` (activity).
    pub(super) fn renew(&self, claims: &Claims, now: u64) -> Option<Issued> {
        let sessions = self.lock();
        let s = sessions.get(&claims.sid)?;
        Some(self.issue(&claims.sid, s, now, false))
    }

    /// Use a refresh token: rotate it, or end its session when it was used before.
    pub(super) fn refresh(&self, token: &str, now: u64) -> Refreshed {
        let Some(claims) = decode(&self.secret, token, now).filter(|c| c.typ == "refresh") else {
            return Refreshed::Invalid;
        };
        let mut sessions = self.lock();
        let Some(s) = sessions.get_mut(&claims.sid) else { return Refreshed::Invalid };
        if s.user != claims.sub || s.created + SESSION_MAX <= now {
            return Refreshed::Invalid;
        }
        if claims.generation == s.generation {
            s.generation += 1;
            s.rotated = now;
            let session = s.clone();
            let issued = self.issue(&claims.sid, &session, now, true);
            self.save(&mut sessions, now);
            return Refreshed::Rotated(issued);
        }
        if claims.generation + 1 == s.generation && now <= s.rotated + REUSE_GRACE {
            // Another tab rotated it a moment ago: it gets the same current token.
            let session = s.clone();
            return Refreshed::Rotated(self.issue(&claims.sid, &session, now, true));
        }
        let user = s.user.clone();
        sessions.remove(&claims.sid);
        self.save(&mut sessions, now);
        tracing::warn!(user, "web UI: a refresh token was used twice; the session is ended");
        Refreshed::Reused
    }

    /// End a session.
    pub(super) fn logout(&self, sid: &str, now: u64) {
        let mut sessions = self.lock();
        if sessions.remove(sid).is_some() {
            self.save(&mut sessions, now);
        }
    }

    /// The CSRF token of a session: it only comes with the pages of that session.
    pub(super) fn csrf(&self, sid: &str) -> String {
        let mut m = mac(&self.secret);
        m.update(b"taskflows csrf\n");
        m.update(sid.as_bytes());
        hex::encode(&m.finalize().into_bytes()[..16])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn sessions() -> (tempfile::TempDir, Sessions) {
        let dir = tempfile::tempdir().unwrap();
        let s = Sessions::open(SECRET, dir.path().join("ui-sessions.json"));
        (dir, s)
    }

    fn forge(header: &str, claims: &Claims, key: &[u8]) -> String {
        let input = format!("{}.{}", B64.encode(header), B64.encode(serde_json::to_vec(claims).unwrap()));
        let mut m = mac(key);
        m.update(input.as_bytes());
        format!("{input}.{}", B64.encode(m.finalize().into_bytes()))
    }

    #[test]
    fn only_hs256_with_the_secret_and_in_time_is_taken() {
        let (_d, s) = sessions();
        let issued = s.login("ada", 1000);
        assert_eq!(s.access(&issued.access, 1001).unwrap().sub, "ada");
        assert!(s.access(&issued.access, 1000 + ACCESS_LIFETIME).is_none(), "expired");
        let claims = issued.claims.clone();
        // alg none, another algorithm, extra header fields, another key, a refresh token as access.
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            B64.encode(serde_json::to_vec(&claims).unwrap())
        );
        assert!(s.access(&none, 1001).is_none());
        assert!(s.access(&forge(r#"{"alg":"HS512","typ":"JWT"}"#, &claims, SECRET), 1001).is_none());
        assert!(s.access(&forge(r#"{"alg":"HS256","kid":"x"}"#, &claims, SECRET), 1001).is_none());
        assert!(s.access(&forge(HEADER, &claims, b"another key entirely, 32 bytes.."), 1001).is_none());
        assert!(s.access(&forge(HEADER, &claims, SECRET), 1001).is_some(), "the forge helper is right");
        assert!(s.access(issued.refresh.as_ref().unwrap(), 1001).is_none());
        let mut tampered = issued.access.clone();
        tampered.insert(tampered.find('.').unwrap() + 3, 'A');
        assert!(s.access(&tampered, 1001).is_none());
    }

    #[test]
    fn refresh_rotates_and_a_reuse_ends_the_session() {
        let (_d, s) = sessions();
        let first = s.login("ada", 1000);
        let old = first.refresh.unwrap();
        let Refreshed::Rotated(second) = s.refresh(&old, 2000) else { panic!("rotated") };
        let new = second.refresh.clone().unwrap();
        assert_ne!(old, new);
        // Within the grace period, the old one gets the current token (two tabs).
        let Refreshed::Rotated(twin) = s.refresh(&old, 2000 + REUSE_GRACE) else { panic!("grace") };
        assert_eq!(twin.refresh.as_deref(), Some(new.as_str()));
        // Later, the old one is a reuse: the session ends, with every token of it.
        assert!(matches!(s.refresh(&old, 2000 + REUSE_GRACE + 1), Refreshed::Reused));
        assert!(matches!(s.refresh(&new, 2010), Refreshed::Invalid));
        assert!(s.access(&second.access, 2010).is_none());
    }

    #[test]
    fn logout_ends_the_session_and_sessions_survive_a_restart() {
        let (dir, s) = sessions();
        let a = s.login("ada", 1000);
        let b = s.login("bob", 1000);
        s.logout(&a.claims.sid, 1001);
        let reopened = Sessions::open(SECRET, dir.path().join("ui-sessions.json"));
        assert!(reopened.access(&a.access, 1002).is_none());
        assert_eq!(reopened.access(&b.access, 1002).unwrap().sub, "bob");
        assert_ne!(s.csrf(&a.claims.sid), s.csrf(&b.claims.sid));
        let mode =
            std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(dir.path().join("ui-sessions.json")).unwrap());
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! The web UI over plain HTTP (what a browser sends, byte for byte): what the server refuses to
//! start with, the login and its limit, the cookies, CSRF and Origin, token expiry, refresh
//! rotation and reuse, logout, and escaping. The browser tests are in `tests/it/ui.rs`.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::Mac as _;

use super::{Home, Reply, Server, exchange, in_sandbox, request, unique};

pub(crate) const PASSWORD: &str = "a long enough password";

/// `tf api setup-ui --username USER`, the password given twice on stdin.
pub(crate) fn setup_ui(home: &Home, user: &str, password: &str, again: &str) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tf"))
        .args([super::scope_flag(), "api", "setup-ui", "--username", user])
        .env("TASKFLOWS_DATA_DIR", home.data_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n{again}\n").as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The UI's token secret, read from its file as the server does.
pub(crate) fn jwt_secret(home: &Home) -> String {
    let text = std::fs::read_to_string(home.data.path().join("api/ui.toml")).unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    file["jwt_secret"].as_str().unwrap().to_owned()
}

/// A token with these claims, signed with `secret` under `header`.
pub(crate) fn forge(header: &str, claims: &serde_json::Value, secret: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims.to_string()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", B64.encode(mac.finalize().into_bytes()))
}

/// The claims of a token (not checked).
pub(crate) fn claims(token: &str) -> serde_json::Value {
    serde_json::from_slice(&B64.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// A browser's conversation with one server: its cookies, its Origin.
struct Client<'a> {
    server: &'a Server,
    cookies: HashMap<String, String>,
}

impl Client<'_> {
    fn send(&mut self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        let mut all: Vec<(String, String)> = headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            all.push(("Cookie".into(), jar.join("; ")));
        }
        let reply = exchange(self.server.port, &request(method, target, &self.server.host(), &all, body)).unwrap();
        for (name, value) in &reply.headers {
            if name == "set-cookie" {
                let pair = value.split(';').next().unwrap();
                let (k, v) = pair.split_once('=').unwrap();
                if v.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_owned(), v.to_owned());
                }
            }
        }
        reply
    }

    fn origin(&self) -> String {
        self.server.url()
    }

    fn get(&mut self, target: &str) -> Reply {
        self.send("GET", target, &[], b"")
    }

    /// A form posted from one of the server's pages.
    fn post_form(&mut self, target: &str, fields: &[(&str, &str)]) -> Reply {
        let body: String =
            form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter().copied()).finish();
        let origin = self.origin();
        self.send(
            "POST",
            target,
            &[("Origin", &origin), ("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    fn login(&mut self, user: &str, password: &str) -> Reply {
        let page = self.get("/ui/login");
        assert_eq!(page.status, 200, "{page}");
        let token = self.cookies.get("tf_login").cloned().expect("the login form's cookie");
        assert!(String::from_utf8_lossy(&page.body).contains(&token), "the form carries the cookie's value");
        self.post_form("/ui/login", &[("csrf", &token), ("username", user), ("password", password)])
    }

    /// The CSRF token of the signed-in session, from a page.
    fn csrf(&mut self) -> String {
        let page = self.get("/");
        assert_eq!(page.status, 200, "{page}");
        let html = String::from_utf8_lossy(&page.body).into_owned();
        let at = html.find("name=\"csrf-token\" content=\"").expect("the page's CSRF token") + 27;
        let end = at + html[at..].find('"').unwrap();
        html[at..end].to_owned()
    }
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn ui_login_tokens_csrf_and_escaping_over_http() {
    in_sandbox();
    let home = Home::new();

    // Without a login set up, the UI refuses to start; a bad TASKFLOWS_ENABLE_UI too.
    let out = home.local(&["api", "serve", "--ui", "--listen", "127.0.0.1:1"]);
    assert!(!out.status.success() && crate::stderr(&out).contains("needs a token secret"), "{}", crate::stderr(&out));
    let out = crate::tf_env(
        &["api", "serve", "--listen", "127.0.0.1:1"],
        &[("TASKFLOWS_DATA_DIR", home.data_dir()), ("TASKFLOWS_ENABLE_UI", "maybe")],
    );
    assert!(crate::stderr(&out).contains("TASKFLOWS_ENABLE_UI=\"maybe\": 1, true, yes"), "{}", crate::stderr(&out));

    // setup-ui: passwords that differ or are short write nothing.
    let out = setup_ui(&home, "ada", PASSWORD, "another password entirely");
    assert!(crate::stderr(&out).contains("differ; nothing was written"), "{}", crate::stderr(&out));
    assert!(!home.data.path().join("api/ui.toml").exists());
    let out = setup_ui(&home, "ada", "short", "short");
    assert!(crate::stderr(&out).contains("password: 10 to 1024 bytes"), "{}", crate::stderr(&out));
    let said = crate::ok(&setup_ui(&home, "ada", PASSWORD, PASSWORD), "tf api setup-ui");
    assert!(!said.contains(PASSWORD), "{said}");
    let file = std::fs::read_to_string(home.data.path().join("api/ui.toml")).unwrap();
    assert!(file.contains("$argon2id$") && !file.contains(PASSWORD));
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(home.data.path().join("api/ui.toml")).unwrap());
    assert_eq!(mode & 0o777, 0o600);
    // The token secret may not be the signing secret.
    let out = crate::tf_env(
        &["api", "serve", "--ui", "--listen", "127.0.0.1:1"],
        &[("TASKFLOWS_DATA_DIR", home.data_dir()), ("TF_JWT_SECRET", &home.secret)],
    );
    assert!(crate::stderr(&out).contains("must differ"), "{}", crate::stderr(&out));

    let name = unique("ui-xss");
    let (_dir, file) = crate::service_file(&format!(
        "[[service]]\nname = \"{name}\"\ndescription = \"<img src=x onerror=alert(1)>\"\nstart_command = \"/bin/true\"\n"
    ));
    crate::ok(&home.local(&["create", &file]), "create");

    crate::ok(&setup_ui(&home, "bob", PASSWORD, PASSWORD), "tf api setup-ui bob");
    let mut server = Server::start_with(&home, &["--ui"], &[]);
    let mut c = Client { server: &server, cookies: HashMap::new() };

    // Not logged in: pages go to the login page, the rest is 401; the API stays signed.
    let page = c.get("/");
    assert_eq!((page.status, page.header("location")), (303, Some("/ui/login")), "{page}");
    assert_eq!(c.get("/ui/events").status, 401);
    assert_eq!(c.get("/services").status, 401, "the API's routes still need a signature");
    let login_page = c.get("/ui/login");
    let csp = login_page.header("content-security-policy").unwrap().to_owned();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));

    // Wrong password, unknown user: the same answer. Five failures, then the limit.
    let wrong = c.login("ada", "not the password");
    let unknown = c.login("nobody", "not the password");
    assert_eq!((wrong.status, unknown.status), (401, 401));
    let said = |r: &Reply| String::from_utf8_lossy(&r.body).contains("Wrong username or password.");
    assert!(said(&wrong) && said(&unknown));
    for _ in 0..4 {
        assert_eq!(c.login("ada", "still not it").status, 401);
    }
    let limited = c.login("ada", PASSWORD);
    assert_eq!(limited.status, 429, "{limited}");
    assert!(String::from_utf8_lossy(&limited.body).contains("Too many login attempts"));
    // Another user from the same address is not locked out by ada's failures.
    // A login without its form token, or from another origin, is refused.
    let bare = c.send(
        "POST",
        "/ui/login",
        &[("Origin", &server.url()), ("Content-Type", "application/x-www-form-urlencoded")],
        format!("username=bob&password={}", PASSWORD.replace(' ', "+")).as_bytes(),
    );
    assert_eq!(bare.status, 403, "{bare}");

    let ok = c.login("bob", PASSWORD);
    assert_eq!((ok.status, ok.header("location")), (303, Some("/")), "{ok}");
    let set: Vec<&str> = ok.headers.iter().filter(|(n, _)| n == "set-cookie").map(|(_, v)| v.as_str()).collect();
    for cookie in ["tf_access=", "tf_refresh="] {
        let line = set.iter().find(|l| l.starts_with(cookie)).unwrap_or_else(|| panic!("{cookie} in {set:?}"));
        assert!(line.contains("HttpOnly") && line.contains("SameSite=Strict"), "{line}");
    }

    // The dashboard lists the service; its description is text, not markup.
    let page = c.get("/");
    let html = String::from_utf8_lossy(&page.body).into_owned();
    assert_eq!(page.status, 200);
    assert!(html.contains(&name) && html.contains("&lt;img src=x onerror=alert(1)&gt;") && !html.contains("<img"));
    assert!(!html.contains("<script>"), "no inline script");
    let zipped = c.send("GET", "/", &[("Accept-Encoding", "gzip, br")], b"");
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(zipped.body.starts_with(&[0x1f, 0x8b]) && zipped.body.len() < page.body.len());

    // Changes need the CSRF token and this server's Origin.
    let csrf = c.csrf();
    let body = format!("{{\"action\":\"restart\",\"names\":[\"{name}\"]}}");
    let origin = server.url();
    let json = ("Content-Type", "application/json");
    let no_token = c.send("POST", "/ui/actions", &[("Origin", &origin), json], body.as_bytes());
    assert_eq!(no_token.status, 403, "{no_token}");
    let foreign = c.send(
        "POST",
        "/ui/actions",
        &[("Origin", "http://evil.example"), ("x-csrf-token", &csrf), json],
        body.as_bytes(),
    );
    assert_eq!(foreign.status, 403, "{foreign}");
    let done = c.send("POST", "/ui/actions", &[("Origin", &origin), ("x-csrf-token", &csrf), json], body.as_bytes());
    assert_eq!(done.status, 200, "{done}");
    assert_eq!(done.json()["results"][0]["ok"], true, "{done}");

    // Tokens: none of alg none, another key, or an expired one gets in.
    let secret = jwt_secret(&home);
    let access = c.cookies["tf_access"].clone();
    let mut forged = claims(&access);
    let with = |token: String| {
        let mut other = Client { server: &server, cookies: HashMap::from([("tf_access".to_owned(), token)]) };
        other.get("/").status
    };
    forged["exp"] = serde_json::json!(super::now() + 600);
    assert_eq!(with(forge(r#"{"alg":"HS256","typ":"JWT"}"#, &forged, &secret)), 200, "the forge helper is right");
    let none = format!("{}.{}.", B64.encode(r#"{"alg":"none","typ":"JWT"}"#), B64.encode(forged.to_string()));
    assert_eq!(with(none), 303);
    assert_eq!(
        with(forge(r#"{"alg":"HS256","typ":"JWT"}"#, &forged, &home.secret)),
        303,
        "the HMAC secret is not the key"
    );
    assert_eq!(with(forge(r#"{"alg":"HS384","typ":"JWT"}"#, &forged, &secret)), 303);

    // An expired access token with a good refresh token: refreshed, the refresh token rotated.
    forged["exp"] = serde_json::json!(super::now() - 1);
    forged["iat"] = serde_json::json!(super::now() - 3601);
    let stale = forge(r#"{"alg":"HS256","typ":"JWT"}"#, &forged, &secret);
    c.cookies.insert("tf_access".into(), stale.clone());
    let first_refresh = c.cookies["tf_refresh"].clone();
    // The login page of a visitor so refreshed sends it on to the dashboard, with the new tokens.
    let on = c.get("/ui/login");
    assert_eq!((on.status, on.header("location")), (303, Some("/")), "{on}");
    assert_ne!(c.cookies["tf_refresh"], first_refresh, "the rotated refresh token came with the redirect");
    let page = c.get("/");
    assert_eq!(page.status, 200, "refreshed: {page}");
    assert_ne!(c.cookies["tf_access"], stale);
    assert!(claims(&c.cookies["tf_access"])["exp"].as_u64().unwrap() > super::now() + 3000, "a fresh hour");
    let second_refresh = c.cookies["tf_refresh"].clone();
    assert_ne!(second_refresh, first_refresh, "rotated");

    // The first refresh token again, after the grace period: the session ends for everyone.
    std::thread::sleep(std::time::Duration::from_millis(11_500));
    let mut thief = Client { server: &server, cookies: HashMap::from([("tf_refresh".to_owned(), first_refresh)]) };
    assert_eq!(thief.get("/").status, 303, "a reused refresh token");
    c.cookies.remove("tf_access");
    assert_eq!(c.get("/").status, 303, "the rotated token ended with its session");

    // Sessions outlive a restart of the server; logout ends one: its cookies no longer work.
    let mut c = Client { server: &server, cookies: HashMap::new() };
    assert_eq!(c.login("bob", PASSWORD).status, 303);
    let cookies = c.cookies.clone();
    drop(c);
    server.restart();
    let mut c = Client { server: &server, cookies };
    let csrf = c.csrf();
    let kept = c.cookies.clone();
    // A live page of the session is open while it logs out: its stream ends too.
    let jar: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut live = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    live.set_read_timeout(Some(std::time::Duration::from_secs(40))).unwrap();
    live.write_all(
        format!("GET /ui/events HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\r\n", server.host(), jar.join("; ")).as_bytes(),
    )
    .unwrap();
    let mut first = [0u8; 12];
    std::io::Read::read_exact(&mut live, &mut first).unwrap();
    assert!(first.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&first));
    let out = c.post_form("/ui/logout", &[("csrf", &csrf)]);
    assert_eq!((out.status, out.header("location")), (303, Some("/ui/login")));
    let mut replay = Client { server: &server, cookies: kept };
    assert_eq!(replay.get("/").status, 303, "a logged-out session's cookies");
    let logged_out = std::time::Instant::now();
    // Read until the stream's last chunk (the connection itself may stay open for another request).
    let mut rest = Vec::new();
    let mut buf = [0u8; 4096];
    while !rest.ends_with(b"\r\n0\r\n\r\n") {
        let n = std::io::Read::read(&mut live, &mut buf).unwrap_or(0);
        assert!(n > 0, "the stream ended without its last chunk: {:?}", String::from_utf8_lossy(&rest));
        rest.extend_from_slice(&buf[..n]);
    }
    crate::figure(&format!("ui: a live page's stream ended {:?} after its session logged out", logged_out.elapsed()));
    crate::ok(&home.local(&["remove", &name]), "remove");
}

/// Behind a TLS-terminating proxy (`--allow-plaintext`, `--trusted-proxy`): the browser's Origin
/// is `https://`, cookies are `Secure`, and the login limit counts the address the proxy names.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn ui_behind_a_tls_proxy() {
    in_sandbox();
    let home = Home::new();
    crate::ok(&setup_ui(&home, "ada", PASSWORD, PASSWORD), "tf api setup-ui");
    let server = Server::start_with(&home, &["--ui", "--allow-plaintext", "--trusted-proxy", "127.0.0.1"], &[]);
    let https = format!("https://{}", server.host());
    let mut c = Client { server: &server, cookies: HashMap::new() };
    let login = |c: &mut Client<'_>, forwarded: &str, password: &str| {
        let page = c.send("GET", "/ui/login", &[("X-Forwarded-For", forwarded)], b"");
        assert_eq!(page.status, 200, "{page}");
        let token = c.cookies["tf_login"].clone();
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("csrf", token.as_str()), ("username", "ada"), ("password", password)])
            .finish();
        let headers = [
            ("Origin", https.as_str()),
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Forwarded-For", forwarded),
        ];
        c.send("POST", "/ui/login", &headers, body.as_bytes())
    };
    // Five failures of one client (as the proxy names it, whatever it claims before that) …
    for _ in 0..5 {
        assert_eq!(login(&mut c, "6.6.6.6, 10.1.1.1", "wrong password!").status, 401);
    }
    assert_eq!(login(&mut c, "7.7.7.7, 10.1.1.1", PASSWORD).status, 429, "the same client, another claim");
    // … do not lock out another client behind the same proxy.
    let ok = login(&mut c, "10.1.1.2", PASSWORD);
    assert_eq!((ok.status, ok.header("location")), (303, Some("/")), "{ok}");
    let cookie = ok.headers.iter().find(|(n, v)| n == "set-cookie" && v.starts_with("tf_access=")).unwrap();
    assert!(cookie.1.contains("; Secure"), "{}", cookie.1);
    // Its pages' changes come with the https Origin.
    let csrf = c.csrf();
    let headers = [("Origin", https.as_str()), ("x-csrf-token", csrf.as_str()), ("Content-Type", "application/json")];
    let refused = c.send("POST", "/ui/actions", &headers, br#"{"action":"restart","names":[]}"#);
    assert_eq!(refused.status, 400, "past the Origin and CSRF checks, the body is judged: {refused}");
    assert!(String::from_utf8_lossy(&refused.body).contains("names: 1 to 1000"), "{refused}");
}

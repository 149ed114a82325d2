//! Requests a client should never get answered: unsigned, wrongly signed, replayed, signed for
//! another server, tricky paths and queries, bodies too large or too slow.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{Home, Reply, Server, exchange, now, read_reply, request, sign, sign_at};
use taskflows_api::signing;

/// The answer is 401 and its message says `says`.
#[track_caller]
fn refused(reply: &Reply, says: &str) {
    assert_eq!(reply.status, 401, "{reply}");
    assert!(reply.message().contains(says), "{says:?} not in {reply}");
    assert_eq!(reply.header("www-authenticate"), Some("TF-HMAC-SHA256"), "{reply:?}");
}

/// A request target that answers 200 with the server's data: the list of a pattern nothing has.
const TARGET: &str = "/environments";

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn headers_missing_repeated_or_malformed_are_refused() {
    super::in_sandbox();
    let home = Home::new();
    let server = Server::start(&home);
    let host = server.host();
    let good = || sign(&home.secret, "GET", &host, TARGET, b"");
    let send = |headers: &[(String, String)]| server.send(&request("GET", TARGET, &host, headers, b""));
    assert_eq!(send(&good()).status, 200, "a good request");

    let names = ["X-HMAC-Timestamp", "X-HMAC-Nonce", "X-HMAC-Signature"];
    for (i, name) in names.iter().enumerate() {
        // Missing.
        let mut headers = good();
        headers.remove(i);
        refused(&send(&headers), &format!("{name}: missing"));
        // Twice, the same value.
        let mut headers = good();
        headers.push(headers[i].clone());
        refused(&send(&headers), &format!("{name}: given 2 times"));
        // Twice, the second one right (the first wrong).
        let mut headers = good();
        let right = headers[i].clone();
        headers[i].1 = "1".to_owned();
        headers.push(right);
        refused(&send(&headers), &format!("{name}: given 2 times"));
    }
    // Host twice.
    let mut bytes = request("GET", TARGET, &host, &good(), b"");
    let at = bytes.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    bytes.splice(at..at, format!("Host: {host}\r\n").into_bytes());
    let twice = server.send(&bytes);
    assert!(matches!(twice.status, 400 | 401), "{twice}");

    // Malformed timestamps.
    let nonce = signing::new_nonce;
    let ts = now();
    for bad in [String::new(), "abc".into(), format!("0{ts}"), format!("{ts}.0"), format!("+{ts}"), "-5".into()] {
        let headers = sign_at(&home.secret, &bad, &nonce(), "GET", &host, TARGET, b"");
        refused(&send(&headers), "X-HMAC-Timestamp");
    }
    // Malformed nonces: short, long, a space, an encoded line break, other characters.
    let ts = ts.to_string();
    for bad in [
        "short".to_owned(),
        "a".repeat(65),
        "aaaaaaaa aaaaaaaaa".to_owned(),
        "aaaaaaaa%0aaaaaaaaaa".to_owned(),
        "aaaaaaaa.aaaaaaaaa".to_owned(),
        "aaaaaaaa\taaaaaaaaa".to_owned(),
    ] {
        let headers = sign_at(&home.secret, &ts, &bad, "GET", &host, TARGET, b"");
        refused(&send(&headers), "X-HMAC-Nonce");
    }
    // A nonce folded over two lines (obsolete line folding), or a bare line break in it: never
    // accepted, whatever is signed.
    for raw in ["aaaaaaaaaaaaaaaa\r\n bbbbbbbbbbbbbbbb", "aaaaaaaaaaaaaaaa\nbbbbbbbbbbbbbbbb"] {
        let joined = raw.replace("\r\n ", " ").replace('\n', "");
        let mut headers = sign_at(&home.secret, &ts, &joined, "GET", &host, TARGET, b"");
        headers[1].1 = raw.to_owned();
        let reply = exchange(server.port, &request("GET", TARGET, &host, &headers, b""));
        match reply {
            Ok(r) => assert!(matches!(r.status, 400 | 401), "{raw:?}: {r}"),
            Err(e) => assert!(e.kind() != std::io::ErrorKind::TimedOut, "{raw:?}: {e}"),
        }
    }
    // Malformed signatures.
    let signature = good()[2].1.clone();
    for bad in [signature.to_uppercase(), signature[..63].to_owned(), format!("{signature}0"), "zz".repeat(32)] {
        let mut headers = good();
        headers[2].1 = bad;
        refused(&send(&headers), "X-HMAC-Signature: 64 lowercase hex digits");
    }

    // A signature over another method, path, query, body or host than sent.
    let secret = &home.secret;
    let over = |method: &str, target: &str, body: &[u8], host: &str| sign(secret, method, host, target, body);
    let wrong = [
        ("POST", TARGET, &b""[..], host.as_str()),
        ("GET", "/list", &b""[..], host.as_str()),
        ("GET", "/environments?x=1", &b""[..], host.as_str()),
        ("GET", TARGET, &b"{}"[..], host.as_str()),
        ("GET", TARGET, &b""[..], "localhost:1"),
    ];
    for (method, target, body, signed_host) in wrong {
        let reply = send(&over(method, target, body, signed_host));
        refused(&reply, "X-HMAC-Signature: does not match");
    }
    // Signed for the other loopback name of the same server: accepted when sent with that Host.
    let localhost = format!("localhost:{}", server.port);
    let headers = sign(secret, "GET", &localhost, TARGET, b"");
    assert_eq!(server.send(&request("GET", TARGET, &localhost, &headers, b"")).status, 200);
    // Another secret.
    let other = signing::new_secret();
    refused(&send(&sign(&other, "GET", &host, TARGET, b"")), "X-HMAC-Signature: does not match");
}

/// Sleep to the start of the next second, so a request sent now arrives within the same second.
fn second_start() {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    std::thread::sleep(
        Duration::from_nanos(1_000_000_000 - u64::from(since.subsec_nanos())) + Duration::from_millis(5),
    );
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn timestamps_within_300_seconds_are_accepted_and_no_further() {
    super::in_sandbox();
    let home = Home::new();
    let server = Server::start(&home);
    let host = server.host();
    for (offset, accepted) in [(300, true), (-300, true), (301, false), (-301, false)] {
        second_start();
        let ts = (now() as i64 + offset).to_string();
        let headers = sign_at(&home.secret, &ts, &signing::new_nonce(), "GET", &host, TARGET, b"");
        let reply = server.send(&request("GET", TARGET, &host, &headers, b""));
        if accepted {
            assert_eq!(reply.status, 200, "now{offset:+}: {reply}");
        } else {
            // The message gives the distance the server saw: the same second as ours.
            refused(&reply, &format!("X-HMAC-Timestamp: {offset}s from the server's clock"));
        }
    }
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn a_signed_request_is_answered_once() {
    super::in_sandbox();
    let home = Home::new();
    let mut server = Server::start(&home);
    let host = server.host();
    let once = || request("GET", TARGET, &host, &sign(&home.secret, "GET", &host, TARGET, b""), b"");

    // In sequence.
    let bytes = once();
    assert_eq!(server.send(&bytes).status, 200);
    refused(&server.send(&bytes), "X-HMAC-Nonce: already used");

    // Eight at once: exactly one wins.
    let bytes = once();
    let port = server.port;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (bytes, barrier) = (bytes.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                exchange(port, &bytes).expect("an answer")
            })
        })
        .collect();
    let replies: Vec<Reply> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        refused(r, "X-HMAC-Nonce: already used");
    }

    // After the server was killed and started again on the same data folder.
    let bytes = once();
    assert_eq!(server.send(&bytes).status, 200);
    server.restart();
    refused(&server.send(&bytes), "X-HMAC-Nonce: already used");

    // On a second server with the same secret: signed for the first one's Host; with the second
    // one's Host the signature does not match.
    let second_home = Home::without_security();
    let out = second_home.local(&["api", "security", "set-secret", &home.secret]);
    crate::ok(&out, "set-secret");
    let second = Server::start(&second_home);
    let bytes = once();
    refused(&second.send(&bytes), "Host: this server is not");
    let moved = String::from_utf8(bytes.clone()).unwrap().replace(&host, &second.host());
    refused(&second.send(moved.as_bytes()), "X-HMAC-Signature: does not match");
    // The request itself was never used: the first server answers it.
    assert_eq!(server.send(&bytes).status, 200);
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn paths_queries_and_bodies_are_taken_as_signed_or_refused() {
    super::in_sandbox();
    let home = Home::new();
    let server = Server::start_with(&home, &[], &[(taskflows_api::server::BODY_TIMEOUT_VAR, "2")]);
    let host = server.host();
    let signed = |method: &str, target: &str, body: &[u8]| server.signed(&home, method, target, body);

    // Tricky paths, each signed as sent: never another route's answer.
    for target in [
        "/services/..%2fetc/status",
        "/services/..%2Fetc%2Fpasswd/status",
        "//services",
        "/services/%2e%2e/status",
        "/services/%2E%2E/units",
        "/services/",
        "/list/",
        "/services/x/../../list",
        "/./list",
        "/services/%00/status",
        "/services/a%20b/status",
    ] {
        let reply = signed("GET", target, b"");
        assert!(matches!(reply.status, 400 | 401 | 404), "{target}: {reply}");
    }
    // A full URL as the target.
    let absolute = format!("http://{host}/list");
    let reply = signed("GET", &absolute, b"");
    assert!(matches!(reply.status, 400 | 401), "{absolute}: {reply}");

    // The query as signed, not reordered.
    let headers = sign(&home.secret, "GET", &host, "/history?match=x&limit=1", b"");
    let reply = server.send(&request("GET", "/history?limit=1&match=x", &host, &headers, b""));
    refused(&reply, "X-HMAC-Signature: does not match");
    // A key given twice, signed: 400 naming it.
    let reply = signed("GET", "/history?limit=1&limit=2", b"");
    assert_eq!(reply.status, 400, "{reply}");
    assert!(reply.message().starts_with("limit: given twice"), "{reply}");
    let reply = signed("GET", "/history?limit=1&li%6dit=2", b"");
    assert_eq!(reply.status, 400, "{reply}");
    assert!(reply.message().contains("limit"), "{reply}");
    // An unknown key, counts beyond the limits.
    for target in ["/history?limits=1", "/history?limit=10001", "/next?count=101", "/services/x/logs?lines=10001"] {
        let reply = signed("GET", target, b"");
        assert_eq!(reply.status, 400, "{target}: {reply}");
    }
    // A bad pattern is named by its parameter.
    for target in
        ["/history?match=a%2Fb", "/list?match=", "/services?match=a%20b", "/next?match=..", "/units?match=%2F"]
    {
        let reply = signed("GET", target, b"");
        assert_eq!(reply.status, 400, "{target}: {reply}");
        assert!(reply.message().starts_with("match: "), "{target}: {reply}");
    }
    // `tf logs`' filters: a bad value is 400 naming its parameter and what is allowed, before
    // any service is looked up.
    for (target, says) in [
        ("/services/x/logs?since=yesterday", "since: \"yesterday\" is not a time; a time is allowed"),
        ("/services/x/logs?until=2026-13-01", "until: "),
        ("/services/x/logs?since=2026-01-02&until=2026-01-01", "until: "),
        ("/services/x/logs?priority=9", "priority: \"9\" is not a priority; 0 to 7 or emerg"),
        ("/services/x/logs?run=12", "run: \"12\" is not a run; `last` or an invocation id"),
        ("/services/x/logs?run=last&follow=true", "run: "),
    ] {
        let reply = signed("GET", target, b"");
        assert_eq!(reply.status, 400, "{target}: {reply}");
        assert!(reply.message().starts_with(says), "{target}: {reply}");
    }
    // One service's state takes a name, not a glob (which would answer "no match" for services
    // that match it).
    let reply = signed("GET", "/services/tf-it-api-%2A/status", b"");
    assert_eq!(reply.status, 400, "{reply}");
    assert!(reply.message().starts_with("name: "), "{reply}");
    // The asterisk and authority forms of the request target.
    let reply = signed("OPTIONS", "*", b"");
    assert!(matches!(reply.status, 400 | 401 | 404 | 405), "OPTIONS *: {reply}");
    let reply = exchange(
        server.port,
        &request("CONNECT", &host, &host, &sign(&home.secret, "CONNECT", &host, &host, b""), b""),
    );
    assert!(reply.as_ref().map_or(true, |r| matches!(r.status, 400 | 401 | 404 | 405)), "CONNECT: {reply:?}");

    // A JSON body with a key twice.
    let reply = signed("POST", "/monitor/check", br#"{"pattern":"a","pattern":"b"}"#);
    assert_eq!(reply.status, 400, "{reply}");
    assert!(reply.message().contains("duplicate field `pattern`"), "{reply}");
    let reply = signed("POST", "/monitor/check", br#"{"pattern":"a"} {}"#);
    assert_eq!(reply.status, 400, "{reply}");

    // More than 2 MiB: said in Content-Length (the body is never sent) …
    let limit = 2 * 1024 * 1024;
    let big = vec![b' '; limit + 1];
    let mut headers = sign(&home.secret, "POST", &host, "/check", &big);
    headers.push(("Content-Length".into(), (limit + 1).to_string()));
    let reply = server.send(&request("POST", "/check", &host, &headers, b""));
    assert_eq!(reply.status, 413, "{reply}");
    // … or sent in chunks without a length.
    let mut headers = sign(&home.secret, "POST", &host, "/check", &big);
    headers.push(("Transfer-Encoding".into(), "chunked".into()));
    headers.push(("Content-Type".into(), "application/json".into()));
    let head = request("POST", "/check", &host, &headers, b"");
    let reply = send_streaming(server.port, &head, limit + 64 * 1024);
    assert_eq!(reply.status, 413, "{reply}");

    // Headers, then a body that never comes: 408 (or closed) after the body timeout (2 s here).
    let mut headers = sign(&home.secret, "POST", &host, "/check", b"{}");
    headers.push(("Content-Length".into(), "2".into()));
    headers.push(("Content-Type".into(), "application/json".into()));
    let head = request("POST", "/check", &host, &headers, b"");
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(&head).unwrap();
    match read_reply(&mut stream) {
        Ok(reply) => assert_eq!(reply.status, 408, "{reply}"),
        Err(e) => {
            assert!(e.kind() != std::io::ErrorKind::WouldBlock && e.kind() != std::io::ErrorKind::TimedOut, "{e}")
        }
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(1900) && took < Duration::from_secs(10), "{took:?}");
}

/// Send `head`, then `size` bytes of body in 64 KiB chunks (writing stops when the server
/// closes), reading the answer meanwhile.
fn send_streaming(port: u16, head: &[u8], size: usize) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let head = head.to_vec();
    let writing = std::thread::spawn(move || -> std::io::Result<()> {
        writer.write_all(&head)?;
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < size {
            writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
            writer.write_all(&chunk)?;
            writer.write_all(b"\r\n")?;
            sent += chunk.len();
        }
        Ok(())
    });
    let reply = read_reply(&mut stream).expect("an answer");
    let _ = writing.join();
    reply
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn every_route_and_method_needs_a_signature() {
    super::in_sandbox();
    let home = Home::new();
    let server = Server::start(&home);
    let host = server.host();
    let document = server.signed(&home, "GET", "/openapi.json", b"");
    assert_eq!(document.status, 200, "{document}");
    let paths: Vec<String> = document.json()["paths"].as_object().expect("paths").keys().cloned().collect();
    assert!(paths.len() >= 12, "{paths:?}");
    let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"];
    let mut walked = 0;
    for path in &paths {
        let target = path.replace("{name}", "x").replace("{action}", "start");
        for method in methods {
            let body: &[u8] = if matches!(method, "POST" | "PUT" | "PATCH") { b"{}" } else { b"" };
            let reply = server.send(&request(method, &target, &host, &[], body));
            walked += 1;
            if target == "/health" && matches!(method, "GET" | "HEAD") {
                assert_eq!(reply.status, 200, "{method} {target}: {reply}");
                continue;
            }
            assert_eq!(reply.status, 401, "{method} {target} unsigned: {reply:?}");
            if method != "HEAD" {
                refused(&reply, "X-HMAC-Timestamp: missing");
            }
        }
    }
    // Routes that do not exist are no different.
    for target in ["/nothing", "/services/x/y/z", "/"] {
        let reply = server.send(&request("GET", target, &host, &[], b""));
        assert_eq!(reply.status, 401, "GET {target}: {reply}");
    }
    let health = server.send(&request("GET", "/health", &host, &[], b""));
    assert_eq!(health.json()["status"], "ok", "{health}");
    crate::figure(&format!(
        "api: {walked} unsigned requests over {} routes, only GET/HEAD /health answered",
        paths.len()
    ));
}

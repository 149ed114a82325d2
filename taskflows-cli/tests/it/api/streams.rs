//! Log streams: `tf logs -f -s`, the per-client cap, and each stream's `journalctl` ending when
//! its client goes away.

use std::io::{BufRead as _, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Home, Server, in_sandbox, request, sign, unique};

/// The first server-sent event's data on an open stream (through its chunked framing).
fn first_event(stream: &mut TcpStream) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let text = String::from_utf8_lossy(&seen).into_owned();
        if let Some(at) = text.find("data:")
            && let Some(end) = text[at..].find('\n')
        {
            return text[at + 5..at + end].trim().to_owned();
        }
        let n = stream.read(&mut buf).unwrap_or(0);
        assert!(n > 0, "the stream ended before its first event: {text}");
        seen.extend_from_slice(&buf[..n]);
    }
}

/// `journalctl --follow` processes reading `unit`.
fn followers(unit: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.starts_with("journalctl") && c.contains("--follow") && c.contains(unit))
        .count()
}

/// A follow request's open connection, once the server answered its head.
fn open_stream(server: &Server, home: &Home, target: &str) -> (u16, TcpStream) {
    let headers = sign(&home.secret, "GET", &server.host(), target, b"");
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(&request("GET", target, &server.host(), &headers, b"")).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "the answer's head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let status = String::from_utf8_lossy(&head).split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    (status, stream)
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn log_streams_are_capped_and_end_with_their_client() {
    in_sandbox();
    let home = Home::new();
    let server = Server::start(&home);
    home.add_server("a", &server.url(), &[]);
    let name = unique("ticker");
    let (_dir, file) = crate::service_file(&format!(
        "[[service]]\nname = \"{name}\"\nstart_command = \"/bin/sh -c 'while true; do echo tick; sleep 0.2; done'\"\n"
    ));
    crate::ok(&home.local(&["create", &file]), "create");
    crate::ok(&home.local(&["start", &name]), "start");
    let unit = format!("taskflows-{name}.service");
    let target = format!("/services/{name}/logs?follow=true&lines=1");

    // `tf logs -f -s`: lines prefixed with the server's name.
    let mut tf = Command::new(env!("CARGO_BIN_EXE_tf"))
        .args(["logs", &name, "-f", "-s", "a"])
        .env("XDG_CONFIG_HOME", home.config.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(tf.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("a  ") && first.contains("tick"), "{first}");
    let _ = tf.kill();
    let _ = tf.wait();

    // Four streams per client address; the fifth is refused.
    let mut streams: Vec<TcpStream> = Vec::new();
    crate::wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
        if followers(&unit) == 0 { Ok(()) } else { Err(format!("{} followers left by tf logs -f", followers(&unit))) }
    });
    for _ in 0..4 {
        let (status, mut stream) = open_stream(&server, &home, &target);
        assert_eq!(status, 200);
        let event = first_event(&mut stream);
        assert!(event.contains("tick") && !event.contains("\"error\""), "a stream's first event: {event}");
        streams.push(stream);
    }
    let (status, _refused) = open_stream(&server, &home, &target);
    assert_eq!(status, 429, "a fifth stream");
    assert_eq!(followers(&unit), 4, "each stream follows with its own journalctl");

    // Two clients go away: their journalctl ends, and their slots are free again.
    let started = Instant::now();
    streams.truncate(2);
    crate::wait_for(Duration::from_secs(20), Duration::from_millis(100), || {
        let n = followers(&unit);
        if n == 2 { Ok(()) } else { Err(format!("{n} journalctl --follow still running")) }
    });
    crate::figure(&format!("api: a log stream's journalctl ended {:?} after its client left", started.elapsed()));
    let (status, _again) = open_stream(&server, &home, &target);
    assert_eq!(status, 200, "a slot given back");
    drop(streams);
    crate::ok(&home.local(&["remove", &name]), "remove");
}

//! Serving: several servers at once with one down, the path policy on the server, refusing to
//! start unsafely, TLS, and the API installed as the service `tf-api`.

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Home, Server, exchange, free_port, request, scope_flag, unique};
use crate::{service_file, stderr, stdout, wait_for};

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn three_servers_one_down_answer_two_and_name_the_third() {
    super::in_sandbox();
    let (home_a, home_b) = (Home::new(), Home::new());
    let (a, b) = (Server::start(&home_a), Server::start(&home_b));
    // One client book: a, b, and down (nothing listens on its port).
    let client = &home_a;
    client.add_server("a", &a.url(), &[]);
    std::fs::copy(&home_b.secret_file, &client.secret_file).unwrap();
    client.add_server("b", &b.url(), &[]);
    client.add_server("down", &format!("http://127.0.0.1:{}", free_port()), &[]);

    let name = unique("fleet");
    let (_dir, file) = service_file(&format!("[[service]]\nname = \"{name}\"\nstart_command = \"/bin/true\"\n"));
    crate::ok(&home_a.local(&["create", &file]), "create");
    // Made here, not through them: the servers' live state shows it a moment later.
    for (server, home) in [(&a, &home_a), (&b, &home_b)] {
        wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
            let reply = server.signed(home, "GET", &format!("/services/{name}/status"), b"");
            if reply.status == 200 { Ok(()) } else { Err(format!("{reply}")) }
        });
    }

    let servers = ["-s", "a", "-s", "down", "-s", "b"];
    let mut args = vec!["status", "-m", name.as_str()];
    args.extend(servers);
    let out = client.client(&args);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let table = stdout(&out);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header.first(), Some(&"HOST"), "{table}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 2, "{table}");
    for (row, host) in rows.iter().zip(["a", "b"]) {
        assert_eq!(&row[..2], [host, name.as_str()], "{table}");
    }
    let err = stderr(&out);
    assert!(err.contains("error: down: cannot reach down"), "{err}");
    assert!(!err.contains("error: a:") && !err.contains("error: b:"), "{err}");

    args.push("--json");
    let out = client.client(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let hosts = json["hosts"].as_array().expect("hosts");
    let names: Vec<&str> = hosts.iter().map(|h| h["host"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "down", "b"], "{json}");
    assert_eq!(hosts[0]["answer"]["services"][0]["name"], name.as_str(), "{json}");
    assert_eq!(hosts[0]["answer"], hosts[2]["answer"], "{json}");
    assert!(hosts[1].get("answer").is_none(), "{json}");
    assert!(hosts[1]["error"]["message"].as_str().unwrap().contains("cannot reach down"), "{json}");
    assert_eq!(hosts[1]["error"]["exit_code"], 1, "{json}");

    crate::ok(&home_a.local(&["remove", &name]), "remove");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn the_server_keeps_the_path_policy_and_says_what_tf_create_says() {
    super::in_sandbox();
    let home = Home::new();
    // No TASKFLOWS_ALLOWED_PATHS: the scope's default roots only.
    let server = Server::start_with(&home, &[], &[("TASKFLOWS_ALLOWED_PATHS", "")]);
    let name = unique("policy");
    let content =
        format!("[[service]]\nname = \"{name}\"\nstart_command = \"/bin/true\"\nenv_file = \"/etc/passwd\"\n");
    let (_dir, file) = service_file(&content);
    let here = Command::new(env!("CARGO_BIN_EXE_tf"))
        .args([scope_flag(), "create", &file])
        .env("TASKFLOWS_DATA_DIR", home.data_dir())
        .env("NO_COLOR", "1")
        .env_remove("TASKFLOWS_ALLOWED_PATHS")
        .output()
        .unwrap();
    assert_eq!(here.status.code(), Some(3), "{}{}", stdout(&here), stderr(&here));
    let said = stderr(&here);
    let message = said.lines().next().unwrap().strip_prefix("error: ").expect("an error line").to_owned();
    assert!(message.contains("/etc/passwd"), "{said}");

    let body = serde_json::json!({ "files": [{ "label": file, "content": content }] });
    let body = serde_json::to_vec(&body).unwrap();
    for target in ["/services", "/services?dry_run=true"] {
        let reply = server.signed(&home, "POST", target, &body);
        assert_eq!(reply.status, 400, "{target}: {reply}");
        let error = &reply.json()["error"];
        assert_eq!(error["message"], message.as_str(), "{target}: {reply}");
        assert_eq!(error["exit_code"], 3, "{reply}");
        let hint = said.lines().find_map(|l| l.strip_prefix("hint: "));
        assert_eq!(error["hint"].as_str(), hint, "{reply}");
    }
    // Nothing was installed.
    let none = home.local(&["status", "-m", &name]);
    assert_eq!(none.status.code(), Some(4), "{}", stdout(&none));
}

/// `tf api serve` on a free port with `home`'s data folder: its exit code and stderr, within
/// 10 s.
fn serve_refused(home: &Home, listen: &str) -> (Option<i32>, String) {
    let log = home.config.path().join("refused.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tf"))
        .args([scope_flag(), "api", "serve", "--listen", listen])
        .env("TASKFLOWS_DATA_DIR", home.data_dir())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tf api serve --listen {listen} still runs after 10 s: {}", std::fs::read_to_string(&log).unwrap());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.code(), std::fs::read_to_string(&log).unwrap())
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn serve_refuses_to_start_unsafely() {
    super::in_sandbox();
    let home = Home::without_security();
    let file = home.data.path().join("api/security.toml");
    let listen = format!("127.0.0.1:{}", free_port());
    let check = |says: &str| {
        let (code, err) = serve_refused(&home, &listen);
        assert!(code.is_some_and(|c| c != 0), "{code:?}: {err}");
        assert!(err.contains(says), "{says:?} not in {err}");
        assert!(!err.contains(&home.secret), "{err}");
    };
    check("no security file at");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let write = |text: &str, mode: u32| {
        std::fs::write(&file, text).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let good = format!("version = 1\nsigning = \"enabled\"\nsecret = \"{}\"\n", home.secret);
    write(&good, 0o644);
    check("mode 644 lets others read it");
    write(&good[..good.len() - 10], 0o600);
    check("corrupt");
    write("version = 1\nsigning = \"enabled\"\nsecret = \"0123456789abcdef\"\n", 0o600);
    check("16 bytes long");
    write(&good, 0o600);
    let any = format!("0.0.0.0:{}", free_port());
    let (code, err) = serve_refused(&home, &any);
    assert!(code.is_some_and(|c| c != 0), "{code:?}: {err}");
    assert!(err.contains(&format!("plain HTTP is served on loopback only, not on {any}")), "{err}");
    // The sound file serves.
    let server = Server::start(&home);
    assert!(server.log().contains("signed=true"), "{}", server.log());
}

/// A throwaway CA and a certificate it signed for 127.0.0.1, made with the openssl command:
/// (CA, certificate, key). (rustls refuses a self-signed CA certificate as the server's own:
/// `CaUsedAsEndEntity`.)
fn certificate(dir: &std::path::Path) -> (String, String, String) {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the openssl command is needed for the TLS tests");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let (ca, ca_key, csr) = (path("ca.pem"), path("ca.key"), path("cert.csr"));
    let (cert, key, ext) = (path("cert.pem"), path("cert.key"), path("cert.ext"));
    let new_key = ["-newkey", "rsa:2048", "-nodes", "-keyout"];
    openssl(
        &[&["req", "-x509", "-days", "1", "-subj", "/CN=tf-it-api CA"][..], &new_key, &[&ca_key, "-out", &ca]].concat(),
    );
    openssl(&[&["req", "-new", "-subj", "/CN=127.0.0.1"][..], &new_key, &[&key, "-out", &csr]].concat());
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "1",
        "-out",
        &cert,
        "-extfile",
        &ext,
    ]);
    (ca, cert, key)
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn tls_with_the_servers_ca_and_not_without() {
    super::in_sandbox();
    let home = Home::new();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificate(certs.path());
    let server = tls_server(&home, &cert, &key);
    let url = format!("https://127.0.0.1:{}", server.port);
    home.add_server("trusted", &url, &["--ca-file", &ca]);
    home.add_server("untrusted", &url, &[]);
    let name = unique("tls");
    let out = home.client(&["status", "-m", &format!("{name}*"), "-s", "trusted"]);
    // Nothing of that name: the server's own answer, over TLS.
    assert_eq!(out.status.code(), Some(4), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains(&format!("error: trusted: no service matches \"{name}*\"")), "{}", stderr(&out));
    let out = home.client(&["status", "-s", "trusted", "--json"]);
    super::remote_answer(&out, "tf status -s trusted");
    let out = home.client(&["status", "-s", "untrusted"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).to_lowercase().contains("certificate"), "{}", stderr(&out));
    // Plain HTTP to a TLS port gets nothing.
    let plain = exchange(server.port, &request("GET", "/health", &server.host(), &[], b""));
    assert!(plain.map_or(true, |r| r.status != 200), "plain HTTP answered");
}

/// A TLS server: ready when it logs that it listens (the plain client cannot ask /health).
fn tls_server(home: &Home, cert: &str, key: &str) -> Server {
    for _ in 0..5 {
        let port = free_port();
        let args = vec!["--tls-cert".to_owned(), cert.to_owned(), "--tls-key".to_owned(), key.to_owned()];
        let mut server = Server::spawn(home.data.path(), port, args, Vec::new());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = server.log();
            if log.contains("taskflows API listening") {
                assert!(log.contains("tls=true"), "{log}");
                return server;
            }
            if let Some(status) = server.child.try_wait().unwrap() {
                assert!(log.contains("in use"), "tf api serve with TLS ended: {status}: {log}");
                break;
            }
            assert!(Instant::now() < deadline, "tf api serve with TLS did not start: {log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("no free port after 5 tries");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn tf_api_start_installs_the_service_with_its_secret_as_a_credential() {
    super::in_sandbox();
    let home = Home::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let out = home.local(&["api", "start", "--listen", &listen]);
    let cleanup = Cleanup(&home);
    assert!(out.status.success(), "tf api start: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("the API listens on http://{listen}")), "{}", stdout(&out));
    assert!(!stdout(&out).contains(&home.secret) && !stderr(&out).contains(&home.secret));

    // The unit file names the security file as a credential; the secret is nowhere in systemd.
    let shown = crate::ok(&home.local(&["show", "tf-api"]), "tf show tf-api");
    assert!(shown.contains("LoadCredential=security:"), "{shown}");
    assert!(shown.contains("security.toml"), "{shown}");
    assert!(!shown.contains(&home.secret), "{shown}");
    assert!(!shown.lines().any(|l| l.starts_with("Environment=") && l.contains("secret")), "{shown}");
    let user = scope_flag() == "--user";
    let mut systemctl = Command::new("systemctl");
    if user {
        systemctl.arg("--user");
    }
    let show = systemctl.args(["show", "taskflows-tf-api.service"]).output().unwrap();
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    assert!(!String::from_utf8_lossy(&show.stdout).contains(&home.secret), "systemctl show has the secret");

    // It answers, signed with the secret.
    let reply = wait_for(Duration::from_secs(30), Duration::from_millis(50), || {
        exchange(port, &request("GET", "/health", &listen, &[], b"")).map_err(|e| e.to_string())
    });
    assert_eq!(reply.status, 200, "{reply}");
    home.add_server("api", &format!("http://{listen}"), &[]);
    wait_for(Duration::from_secs(3), Duration::from_millis(20), || {
        let out = home.client(&["status", "-m", "tf-api", "-s", "api", "--json"]);
        let answer = super::remote_answer(&out, "tf status -m tf-api -s api");
        let state = &answer["services"][0]["active_state"];
        if state == "active" { Ok(()) } else { Err(format!("tf-api is {state} for itself")) }
    });

    let status = crate::ok(&home.local(&["api", "status"]), "tf api status");
    assert!(status.contains("tf-api") && status.contains("signing: on"), "{status}");
    assert!(!status.contains(&home.secret), "{status}");
    crate::ok(&home.local(&["api", "stop"]), "tf api stop");
    let out = home.local(&["status", "-m", "tf-api", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["services"][0]["active_state"], "inactive", "{json}");
    assert!(exchange(port, &request("GET", "/health", &listen, &[], b"")).is_err(), "still answers");
    drop(cleanup);
    let gone = home.local(&["status", "-m", "tf-api"]);
    assert_eq!(gone.status.code(), Some(4), "{}", stdout(&gone));
}

/// Removes `tf-api` at the end, even when the test failed.
struct Cleanup<'a>(&'a Home);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let out = self.0.local(&["remove", "tf-api"]);
        if !std::thread::panicking() {
            crate::ok(&out, "tf remove tf-api");
        }
    }
}

/// With signing off (`tf api security disable`): a system API refuses to start (loopback is every
/// local user's); a user API answers loopback clients that name it, and no web page (DNS
/// rebinding, cross-site form posts).
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn unsigned_serves_only_its_own_host_and_no_browser() {
    super::in_sandbox();
    let home = Home::new();
    crate::ok(&home.local(&["api", "security", "disable"]), "security disable");
    if super::scope_flag() == "--system" {
        let (code, err) = serve_refused(&home, &format!("127.0.0.1:{}", free_port()));
        assert!(code.is_some_and(|c| c != 0), "{code:?}: {err}");
        assert!(err.contains("would let every local user act as root"), "{err}");
        return;
    }
    let server = Server::start(&home);
    let get = |host: &str, extra: &str| {
        server.send(format!("GET /services HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n").as_bytes())
    };
    assert_eq!(get(&server.host(), "").status, 200);
    let rebound = get("attacker.example:80", "");
    assert_eq!(rebound.status, 401, "{rebound}");
    let page = get(&server.host(), "Origin: http://attacker.example\r\n");
    assert_eq!(page.status, 403, "{page}");
    let form = server.send(
        format!(
            "POST /runs HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{{\"argv\":[\"/bin/id\"]}}",
            server.host()
        )
        .as_bytes(),
    );
    assert_eq!(form.status, 415, "{form}");
}

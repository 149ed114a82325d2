//! Email alerts against a real SMTP server (aiosmtpd) on loopback.

use std::time::{Duration, Instant};

use taskflows_alerts::{
    AlertEvents, Alerts, Backoff, DeliveryPolicy, Email, EmailConfig, Error, SmtpSecurity, TaskPolicy, run_task,
};

use crate::support::{Logs, SmtpServer, closed_port};

fn config(port: u16, receivers: &[&str]) -> EmailConfig {
    EmailConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        security: SmtpSecurity::Plain,
        sender: "taskflows <tf@example.com>".into(),
        username: None,
        password: None,
        receivers: receivers.iter().map(|r| (*r).to_owned()).collect(),
        root_certificate: None,
        allow_cleartext_login: false,
    }
}

#[test]
fn a_login_over_a_plain_connection_is_refused_unless_allowed() {
    let mut plain = config(2525, &["ops@example.com"]);
    plain.password = Some("hunter2".into());
    let err = Email::new(plain.clone()).unwrap_err().to_string();
    assert!(err.starts_with("email: refusing to log in to 127.0.0.1 over a plain (unencrypted) connection"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    plain.allow_cleartext_login = true;
    assert!(Email::new(plain).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_receiver_gets_one_mail_with_plain_and_html_parts() {
    let server = SmtpServer::start();
    let email = Email::new(config(server.port, &["ops@example.com", "dev@example.com", "ops@example.com"])).unwrap();
    let alerts = Alerts::new([email.into()]).events(AlertEvents { start: false, error: true, finish: true });
    let policy = TaskPolicy::new("backup").retries(1).backoff(Backoff::none());
    let mut attempt = 0;
    let result = run_task(&policy, &alerts, || {
        attempt += 1;
        let fail = attempt == 1;
        async move { if fail { Err(std::io::Error::other("disk <full> & more")) } else { Ok("done") } }
    })
    .await;
    assert_eq!(result.unwrap(), Some("done"));

    let messages = server.messages(2);
    assert_eq!(messages.len(), 2, "one error and one finish mail: {messages:#?}");
    // lettre's `hostname` feature: the client greets with the host's name, not `localhost`
    // (which some relays refuse)
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for m in &messages {
        assert_eq!(m["helo"], host.trim());
        assert_eq!(m["mail_from"], "tf@example.com");
        // each receiver exactly once, in one transaction
        assert_eq!(m["rcpt_tos"], serde_json::json!(["ops@example.com", "dev@example.com"]));
        assert_eq!(m["from"], "taskflows <tf@example.com>");
        assert_eq!(m["tls"], false);
        assert_eq!(m["to"], "ops@example.com, dev@example.com");
        let types: Vec<&str> = m["parts"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["text/plain", "text/html"]);
    }
    let error = &messages[0];
    assert_eq!(error["subject"], "Error Error executing task backup: disk <full> & more");
    let plain = error["parts"][0]["content"].as_str().unwrap().replace("\r\n", "\n");
    assert!(plain.starts_with("Error Error executing task backup: disk <full> & more\n\nAttempt 1 of 2."), "{plain}");
    let html = error["parts"][1]["content"].as_str().unwrap();
    assert!(html.contains("<h3>Error Error executing task backup: disk &lt;full&gt; &amp; more</h3>"), "{html}");
    let finish = messages[1]["subject"].as_str().unwrap();
    assert!(finish.starts_with("Finished: backup | "), "{finish}");
    assert!(messages[1]["parts"][0]["content"].as_str().unwrap().contains("Result: succeeded on attempt 2 of 2."));
}

#[tokio::test]
async fn smtp_down_is_logged_and_the_task_finishes_in_bounded_time() {
    let logs = Logs::capture();
    let email = Email::new(config(closed_port(), &["ops@example.com"])).unwrap();
    let delivery = DeliveryPolicy {
        attempts: 3,
        attempt_timeout: Duration::from_millis(500),
        retry_delay: Duration::from_millis(50),
        total: Duration::from_secs(1),
    };
    let alerts = Alerts::new([email.into()]).delivery(delivery);
    let started = Instant::now();
    let result = run_task(&TaskPolicy::new("offline").required(true), &alerts, || async { Ok::<_, Error>(1) }).await;
    assert_eq!(result.unwrap(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(2 + 1), "{:?}", started.elapsed());
    let text = logs.text();
    assert!(text.contains("failed to send an alert") && text.contains("SMTP:"), "{text}");
    assert!(text.contains("destination=\"email\""), "{text}");
}

#[test]
fn bad_addresses_are_refused_with_the_field() {
    let err = Email::new(config(25, &["not an address"])).unwrap_err();
    assert!(err.to_string().starts_with("email.receivers: \"not an address\" is not an email address"), "{err}");
    let err = Email::new(config(25, &[])).unwrap_err();
    assert_eq!(err.to_string(), "email.receivers: at least one receiver is needed");
}

/// A self-signed certificate for 127.0.0.1, made with the openssl command. Not a CA certificate
/// (`req -x509` makes one by default): rustls, unlike OpenSSL, refuses a CA certificate as a
/// server's own.
fn certificate(dir: &std::path::Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("the openssl command is needed for the TLS tests");
    assert!(status.success());
    (cert.to_str().unwrap().to_owned(), key.to_str().unwrap().to_owned())
}

async fn send_over_tls(security: SmtpSecurity, password: Option<&str>) -> Vec<serde_json::Value> {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let options = match security {
        SmtpSecurity::ImplicitTls => ["--smtpscert", &cert, "--smtpskey", &key],
        _ => ["--tlscert", &cert, "--tlskey", &key],
    };
    let server = SmtpServer::start_with(&options);
    let mut config = config(server.port, &["ops@example.com"]);
    config.security = security;
    config.root_certificate = Some(std::fs::read_to_string(&cert).unwrap());
    config.password = password.map(str::to_owned);
    let delivery = DeliveryPolicy { attempts: 1, attempt_timeout: Duration::from_secs(2), ..DeliveryPolicy::default() };
    let alerts = Alerts::new([Email::new(config).unwrap().into()])
        .events(AlertEvents { start: true, error: false, finish: false })
        .delivery(delivery);
    let result = run_task(&TaskPolicy::new("tls").required(true), &alerts, || async { Ok::<_, Error>(()) }).await;
    assert_eq!(result.unwrap(), Some(()));
    if password == Some("wrong") {
        return server.messages(0);
    }
    let messages = server.messages(1);
    assert_eq!(messages.len(), 1, "{security:?}");
    assert_eq!(messages[0]["tls"], true, "{security:?}");
    assert_eq!(messages[0]["subject"], "Starting: tls");
    assert_eq!(messages[0]["rcpt_tos"], serde_json::json!(["ops@example.com"]));
    messages
}

#[tokio::test]
async fn implicit_tls() {
    let messages = send_over_tls(SmtpSecurity::ImplicitTls, None).await;
    assert_eq!(messages[0]["login"], serde_json::Value::Null);
}

#[tokio::test]
async fn starttls() {
    send_over_tls(SmtpSecurity::StartTls, None).await;
}

#[tokio::test]
async fn starttls_with_login() {
    // the login name is the sender's address when no username is given
    let messages = send_over_tls(SmtpSecurity::StartTls, Some("s3cret")).await;
    assert_eq!(messages[0]["login"], "tf@example.com");
}

#[tokio::test]
async fn a_wrong_password_is_logged() {
    let logs = Logs::capture();
    let messages = send_over_tls(SmtpSecurity::StartTls, Some("wrong")).await;
    assert!(messages.is_empty());
    let text = logs.text();
    assert!(text.contains("failed to send an alert") && text.contains("535"), "{text}");
    assert!(text.contains("alert not delivered"), "{text}");
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_logged() {
    let logs = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let server = SmtpServer::start_with(&["--smtpscert", &cert, "--smtpskey", &key]);
    let mut config = config(server.port, &["ops@example.com"]);
    config.security = SmtpSecurity::ImplicitTls;
    let delivery = DeliveryPolicy { attempts: 1, ..DeliveryPolicy::default() };
    let alerts = Alerts::new([Email::new(config).unwrap().into()])
        .events(AlertEvents { start: true, error: false, finish: false })
        .delivery(delivery);
    let result = run_task(&TaskPolicy::new("untrusted"), &alerts, || async { Ok::<_, Error>(5) }).await;
    assert_eq!(result.unwrap(), Some(5));
    assert!(server.messages(0).is_empty());
    assert!(logs.text().contains("alert not delivered"), "{}", logs.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_are_html_tables_and_fixed_width_text() {
    let server = SmtpServer::start();
    let email = Email::new(config(server.port, &["ops@example.com"])).unwrap();
    let alerts = Alerts::new([email.into()]);
    let mut table = taskflows_alerts::Table::new(["SERVICE", "PROBLEM"]);
    table.row(["nightly", "overdue"]).row(["a<b", "last-run-failed"]);
    let alert = taskflows_alerts::Alert::check("tf-monitor", "tf monitor: 2 problems", "on host", Some(table));
    assert!(alerts.deliver(&alert).await);
    let m = &server.messages(1)[0];
    let types: Vec<&str> = m["parts"].as_array().unwrap().iter().map(|p| p["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["text/plain", "text/html"]);
    let plain = m["parts"][0]["content"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(
        plain.trim_end(),
        "tf monitor: 2 problems\n\non host\n\nSERVICE  PROBLEM\n-------  ---------------\nnightly  overdue\na<b      last-run-failed"
    );
    let html = m["parts"][1]["content"].as_str().unwrap().replace("\r\n", "\n");
    assert!(
        html.contains("<thead><tr><th>SERVICE</th><th>PROBLEM</th></tr></thead><tbody><tr><td>nightly</td><td>overdue</td></tr><tr><td>a&lt;b</td>"),
        "{html}"
    );
}

//! The Slack bot's HTTP endpoints on the API server: Slack's signature checked (valid, invalid,
//! expired, replayed, missing, duplicated), a command answered, a restart confirmed through
//! `/slack/interactivity`, URL verification on `/slack/events`.

use std::time::{Duration, Instant};

use super::{Home, Server, exchange, in_sandbox, scope_flag, unique};
use crate::slack_fake::{SlackFake, block_action, sign};
use crate::{ok, service_file};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const CONTROLLER: &str = "U0CONTROL";
const CHANNEL: &str = "C0OPS";

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

/// POST `body` to `path` with a signature made at `ts` (`None`: no signature headers).
fn post(server: &Server, path: &str, content_type: &str, body: &str, signed: Option<(u64, &str)>) -> super::Reply {
    let mut text = format!("POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n", server.host());
    if let Some((ts, secret)) = signed {
        let signature = sign(secret, &ts.to_string(), body);
        text.push_str(&format!("X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()));
    exchange(server.port, text.as_bytes()).expect("an answer")
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn slack_endpoints_check_slacks_signature() {
    in_sandbox();
    let fake = SlackFake::start();
    let home = Home::new();
    std::fs::create_dir_all(home.data.path().join("slack")).unwrap();
    std::fs::write(
        home.data.path().join("slack/access.toml"),
        format!("version = 1\n[control]\nusers = [\"{CONTROLLER}\"]\n"),
    )
    .unwrap();
    let web = unique("slackweb");
    let (_dir, path) =
        service_file(&format!("[[service]]\nname = \"{web}\"\nstart_command = \"/bin/sleep infinity\"\n"));
    ok(&home.local(&["create", &path]), "tf create");
    ok(&home.local(&["start", &web]), "tf start");
    let api_url = fake.api_url();
    let config = home.config.path().to_str().unwrap().to_owned();
    let mut env = vec![
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
        ("SLACK_BOT_TOKEN", SlackFake::BOT_TOKEN),
        ("TASKFLOWS_SLACK_API_URL", api_url.as_str()),
    ];
    // The bot's server book (for -s) is the server's: in system scope it may live in the test's
    // config folder. In user scope that variable would also move the user units' folder.
    let system = scope_flag() == "--system";
    if system {
        env.push(("XDG_CONFIG_HOME", &config));
    }
    let server = Server::start_with(&home, &[], &env);

    let command = form(&[
        ("token", "deprecated"),
        ("team_id", "T0FAKE"),
        ("team_domain", "taskflows"),
        ("channel_id", CHANNEL),
        ("channel_name", "ops"),
        ("user_id", CONTROLLER),
        ("user_name", "control"),
        ("command", "/tf"),
        ("text", &format!("status {web}")),
        ("api_app_id", "A0FAKE"),
        ("response_url", &fake.response_url()),
        ("trigger_id", "1.2.3"),
    ]);
    let form_type = "application/x-www-form-urlencoded";

    // refusals, before anything is read as an event
    let refused = |reply: super::Reply, what: &str| {
        assert_eq!(reply.status, 401, "{what}: {reply}");
    };
    refused(post(&server, "/slack/commands", form_type, &command, None), "unsigned");
    refused(
        post(&server, "/slack/commands", form_type, &command, Some((now(), "another-secret-of-32-characters!"))),
        "wrong secret",
    );
    refused(post(&server, "/slack/commands", form_type, &command, Some((now() - 301, SIGNING_SECRET))), "301 s old");
    refused(post(&server, "/slack/commands", form_type, &command, Some((now() + 301, SIGNING_SECRET))), "301 s ahead");
    let ts = now();
    let signature = sign(SIGNING_SECRET, &ts.to_string(), &command);
    let tampered = command.replace("status", "restart");
    let forged = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: {}\r\nContent-Type: {form_type}\r\nX-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{tampered}",
        server.host(),
        tampered.len()
    );
    refused(exchange(server.port, forged.as_bytes()).unwrap(), "a body that is not the signed one");
    let doubled = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: {}\r\nContent-Type: {form_type}\r\nX-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}\r\nX-Slack-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{command}",
        server.host(),
        command.len()
    );
    refused(exchange(server.port, doubled.as_bytes()).unwrap(), "two signatures");
    assert!(fake.calls_of("chat.postMessage").is_empty(), "nothing refused was carried out");

    // valid: answered at once, the answer posted
    let started = Instant::now();
    let reply = post(&server, "/slack/commands", form_type, &command, Some((ts, SIGNING_SECRET)));
    assert_eq!(reply.status, 200, "{reply}");
    crate::figure(&format!("slack http: /slack/commands acknowledged in {} ms", started.elapsed().as_millis()));
    let answer =
        fake.wait_for("chat.postMessage", |c| c.body.to_string().contains("*status*"), Duration::from_secs(20));
    assert!(answer.body.to_string().contains(&web), "{}", answer.body);
    // the same request again: a replay, also after a restart of the server
    let replay = post_raw_again(&server, &command, ts, &signature);
    assert_eq!(replay.status, 401, "{replay}");
    assert!(String::from_utf8_lossy(&replay.body).contains("replay"), "{replay}");
    let mut server = server;
    server.restart();
    let replay = post_raw_again(&server, &command, ts, &signature);
    assert_eq!(replay.status, 401, "replayed after a restart: {replay}");

    // a restart, confirmed through /slack/interactivity
    let restart = form(&[
        ("team_id", "T0FAKE"),
        ("channel_id", CHANNEL),
        ("user_id", CONTROLLER),
        ("command", "/tf"),
        ("text", &format!("restart {web}")),
        ("response_url", &fake.response_url()),
        ("trigger_id", "1.2.4"),
    ]);
    assert_eq!(post(&server, "/slack/commands", form_type, &restart, Some((now(), SIGNING_SECRET))).status, 200);
    let prompt = fake.wait_for(
        "chat.postMessage",
        |c| c.body.to_string().contains("taskflows_confirm"),
        Duration::from_secs(20),
    );
    let ts_prompt = prompt.answer["ts"].as_str().unwrap().to_owned();
    let value =
        prompt.body["blocks"][1]["elements"][0]["value"].as_str().expect("the Confirm button's value").to_owned();
    let pid = |home: &Home| -> u64 {
        let out = home.local(&["status", "-m", &web, "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["services"][0]["main_pid"]
            .as_u64()
            .unwrap_or(0)
    };
    let before = pid(&home);
    let payload = block_action(CONTROLLER, CHANNEL, &ts_prompt, "taskflows_confirm", &value, &fake.response_url());
    let body = form(&[("payload", &payload.to_string())]);
    assert_eq!(post(&server, "/slack/interactivity", form_type, &body, Some((now(), SIGNING_SECRET))).status, 200);
    fake.wait_for("chat.update", |c| c.body.to_string().contains(": done (confirmed by"), Duration::from_secs(30));
    let after = pid(&home);
    assert!(after > 0 && after != before, "restarted: {before} → {after}");

    // -s: a server the access file allows is asked through its API; another is refused
    // A system API must sign (its book entry holds the secret); a user one may be named by its
    // loopback address alone when it does not.
    let other = Home::new();
    if !system {
        ok(&other.local(&["api", "security", "disable"]), "tf api security disable");
    }
    let second = Server::start(&other);
    let name = if system { "second".to_owned() } else { format!("localhost:{}", second.port) };
    if system {
        let url = format!("http://127.0.0.1:{}", second.port);
        let secret = other.secret_file.to_str().unwrap();
        ok(&home.client(&["server", "add", &name, &url, "--secret-file", secret]), "tf server add");
    }
    std::fs::write(
        home.data.path().join("slack/access.toml"),
        format!("version = 1\nservers = [\"{name}\"]\n[control]\nusers = [\"{CONTROLLER}\"]\n"),
    )
    .unwrap();
    let remote = form(&[
        ("team_id", "T0FAKE"),
        ("channel_id", CHANNEL),
        ("user_id", CONTROLLER),
        ("command", "/tf"),
        ("text", &format!("status {web} -s {name}")),
        ("response_url", &fake.response_url()),
        ("trigger_id", "1.2.5"),
    ]);
    assert_eq!(post(&server, "/slack/commands", form_type, &remote, Some((now(), SIGNING_SECRET))).status, 200);
    let answer = fake.wait_for(
        "chat.postMessage",
        |c| c.body.to_string().contains(&format!("*status* on {name}")),
        Duration::from_secs(20),
    );
    assert!(answer.body.to_string().contains(&web), "{}", answer.body);
    let refused = form(&[
        ("team_id", "T0FAKE"),
        ("channel_id", CHANNEL),
        ("user_id", CONTROLLER),
        ("command", "/tf"),
        ("text", "status -s db1"),
        ("response_url", &fake.response_url()),
        ("trigger_id", "1.2.6"),
    ]);
    assert_eq!(post(&server, "/slack/commands", form_type, &refused, Some((now(), SIGNING_SECRET))).status, 200);
    fake.wait_for(
        "chat.postEphemeral",
        |c| c.body.to_string().contains(&format!("-s db1: not a server this bot may ask ({name})")),
        Duration::from_secs(20),
    );

    // events: URL verification answers the challenge; an unsigned one is refused
    let challenge =
        r#"{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let reply = post(&server, "/slack/events", "application/json", challenge, Some((now(), SIGNING_SECRET)));
    assert_eq!(
        (reply.status, String::from_utf8_lossy(&reply.body).into_owned()),
        (200, "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P".to_owned())
    );
    assert_eq!(post(&server, "/slack/events", "application/json", challenge, None).status, 401);

    ok(&home.local(&["remove", &web]), "tf remove");
}

/// The command again, with its old timestamp and signature.
fn post_raw_again(server: &Server, command: &str, ts: u64, signature: &str) -> super::Reply {
    let text = format!(
        "POST /slack/commands HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nX-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{command}",
        server.host(),
        command.len()
    );
    exchange(server.port, text.as_bytes()).unwrap()
}

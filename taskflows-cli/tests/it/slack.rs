//! The Slack bot over Socket Mode, installed as `tf-slack-bot` in a real systemd, against a
//! local stand-in for Slack (`slack_fake`): every command, authorization, a restart confirmed by
//! a button, an alert's buttons, escaping, long output as a file, and the audit in the journal.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::slack_fake::{Call, SlackFake, app_mention, block_action, slash_command};
use crate::{ok, service_file, stderr, stdout, tf_env};

const READER: &str = "U0READER";
const CONTROLLER: &str = "U0CONTROL";
const MEMBER: &str = "U0MEMBER";
const STRANGER: &str = "U0STRANGER";
const CHANNEL: &str = "C0OPS";

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

/// A unique name for this test process.
fn unique(what: &str) -> String {
    format!("slk-{what}-{}", std::process::id())
}

/// `tf` with the bot's data folder and Slack's stand-in.
struct Bot<'a> {
    data: &'a tempfile::TempDir,
    fake: &'a SlackFake,
    /// Calls before the last command or click: answers are looked for after it.
    mark: std::cell::Cell<usize>,
}

impl Bot<'_> {
    fn tf(&self, args: &[&str]) -> std::process::Output {
        tf_env(
            args,
            &[
                ("TASKFLOWS_DATA_DIR", self.data.path().to_str().unwrap()),
                ("TASKFLOWS_SLACK_API_URL", &self.fake.api_url()),
                ("SLACK_BOT_TOKEN", SlackFake::BOT_TOKEN),
                ("SLACK_APP_TOKEN", SlackFake::APP_TOKEN),
            ],
        )
    }

    /// Send `/tf TEXT` as `user`; it must be acknowledged within Slack's 3 s.
    fn command(&self, user: &str, text: &str) {
        self.mark.set(self.fake.calls().len());
        let id =
            self.fake.send_envelope("slash_commands", slash_command(user, CHANNEL, text, &self.fake.response_url()));
        self.fake.wait_ack(&id, Duration::from_secs(3));
    }

    /// Click a button of message `ts` as `user`.
    fn click(&self, user: &str, ts: &str, action_id: &str, value: &str) {
        self.mark.set(self.fake.calls().len());
        let payload = block_action(user, CHANNEL, ts, action_id, value, &self.fake.response_url());
        let id = self.fake.send_envelope("interactive", payload);
        self.fake.wait_ack(&id, Duration::from_secs(3));
    }

    /// The first call of `method` since the last command or click whose body contains `needle`.
    fn posted(&self, method: &str, needle: &str) -> Call {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let calls = self.fake.calls();
            let found = calls[self.mark.get().min(calls.len())..]
                .iter()
                .find(|c| c.method == method && c.body.to_string().contains(needle));
            if let Some(call) = found {
                return call.clone();
            }
            assert!(Instant::now() < deadline, "no {method} with {needle:?} within 20 s; calls: {calls:#?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The button of a posted message with this action id: its value.
fn button_value(call: &Call, action_id: &str) -> String {
    let blocks = call.body["blocks"]
        .as_array()
        .cloned()
        .or_else(|| call.body["blocks"].as_str().and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok()));
    for block in blocks.unwrap_or_default() {
        for element in block["elements"].as_array().cloned().unwrap_or_default() {
            if element["action_id"] == action_id {
                return element["value"].as_str().unwrap().to_owned();
            }
        }
    }
    panic!("no button {action_id} in {}", call.body);
}

fn main_pid(bot: &Bot<'_>, name: &str) -> u64 {
    let out = bot.tf(&["status", "-m", name, "--json"]);
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    json["services"][0]["main_pid"].as_u64().unwrap_or(0)
}

/// The bot's journal, for failures (a system or a user unit).
fn bot_journal() -> String {
    let unit = "taskflows-tf-slack-bot.service";
    let out = std::process::Command::new("journalctl")
        .args(["--no-pager", "-n", "50", &format!("_SYSTEMD_UNIT={unit}"), "+", &format!("_SYSTEMD_USER_UNIT={unit}")])
        .output()
        .expect("journalctl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The audit entries of a Slack user's actions.
fn audit_lines(user: &str) -> String {
    let out = std::process::Command::new("journalctl")
        .args(["--no-pager", "-o", "verbose", &format!("SLACK_USER={user}")])
        .output()
        .expect("journalctl runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn the_slack_bot_over_socket_mode() {
    in_sandbox();
    let fake = SlackFake::start();
    fake.set_group("S0OPS", &[MEMBER]);
    let data = tempfile::tempdir().unwrap();
    let bot = Bot { data: &data, fake: &fake, mark: std::cell::Cell::new(0) };
    let (job, web, nightly) = (unique("job"), unique("web"), unique("nightly"));
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{job}"
description = "<!channel> *bold* ```"
start_command = "/bin/sh -c 'echo \"<!channel> hello <@U0BOSS>\"; seq 1 400'"

[[service]]
name = "{web}"
start_command = "/bin/sleep infinity"

[[service]]
name = "{nightly}"
start_command = "/bin/sh -c 'exit 3'"
start_schedule = "*-*-* 03:00:00 UTC"
"#
    ));
    ok(&bot.tf(&["create", &path]), "tf create");
    ok(&bot.tf(&["start", &web]), "tf start");
    ok(&bot.tf(&["start", &job, "--wait"]), "tf start --wait");
    let _ = bot.tf(&["start", &nightly, "--wait"]);
    std::fs::create_dir_all(data.path().join("slack")).unwrap();
    std::fs::write(
        data.path().join("slack/access.toml"),
        format!(
            "version = 1\n[read]\nusers = [\"{READER}\"]\ngroups = [\"S0OPS\"]\n[control]\nusers = [\"{CONTROLLER}\"]\nchannels = [\"{CHANNEL}\"]\n"
        ),
    )
    .unwrap();

    let out = bot.tf(&["slack-bot", "install"]);
    let said = ok(&out, "tf slack-bot install");
    assert!(!said.contains(SlackFake::BOT_TOKEN) && !said.contains(SlackFake::APP_TOKEN), "{said}");
    let unit = std::fs::read_dir(taskflows_unit_dir())
        .unwrap()
        .flatten()
        .find(|e| e.file_name() == "taskflows-tf-slack-bot.service")
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("the bot's unit");
    assert!(
        unit.contains("LoadCredential=slack_tokens:") && !unit.contains("xoxb-") && !unit.contains("xapp-"),
        "{unit}"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.live_connections() == 0 {
        assert!(Instant::now() < deadline, "the bot did not connect within 20 s: {}", bot_journal());
        std::thread::sleep(Duration::from_millis(20));
    }
    let opened = fake.calls_of("apps.connections.open");
    assert_eq!(opened[0].auth.as_deref(), Some(format!("Bearer {}", SlackFake::APP_TOKEN).as_str()));

    // help, to anyone
    bot.command(STRANGER, "help");
    let help = bot.posted("chat.postEphemeral", "restart NAME");
    assert_eq!(help.body["user"], STRANGER);

    // read commands
    let started = Instant::now();
    bot.command(READER, &format!("status {job}"));
    let status = bot.posted("chat.postMessage", "*status*");
    let took = started.elapsed();
    assert!(status.body.to_string().contains(&job), "{}", status.body);
    assert_eq!(status.auth.as_deref(), Some(format!("Bearer {}", SlackFake::BOT_TOKEN).as_str()));
    crate::figure(&format!("slack: /tf status answered in {} ms", took.as_millis()));
    bot.command(READER, &format!("list {job}"));
    bot.posted("chat.postMessage", "*list*");
    bot.command(READER, &format!("history {nightly}"));
    bot.posted("chat.postMessage", "*history*");
    bot.command(READER, "next");
    bot.posted("chat.postMessage", "*next runs*");
    bot.command(READER, &format!("check {job}"));
    bot.posted("chat.postMessage", "*check*");
    // a group member reads too
    bot.command(MEMBER, &format!("status {web}"));
    let member = bot.posted("chat.postMessage", &format!("by <@{MEMBER}>"));
    assert!(member.body.to_string().contains(&web));

    // a log line cannot ping or break out of its code block; long output is a file in the thread
    bot.command(READER, &format!("logs {job} -n 500"));
    let logs = bot.posted("chat.postMessage", "*logs of");
    let text = logs.body.to_string();
    assert!(!text.contains("<!channel>") && !text.contains("<@U0BOSS>"), "{text}");
    assert!(text.contains("&lt;!channel&gt; hello"), "{text}");
    let upload = fake.wait_for("files.completeUploadExternal", |_| true, Duration::from_secs(20));
    assert!(upload.body.to_string().contains(".log"), "{}", upload.body);
    let file =
        fake.wait_for("upload", |c| c.body.as_str().is_some_and(|b| b.contains(" 400\n")), Duration::from_secs(5));
    assert!(file.body.as_str().unwrap().contains("<!channel> hello"), "the file is the raw output");

    // refusals
    let before = fake.calls_of("chat.postMessage").len();
    bot.command(STRANGER, "status");
    let refused = bot.posted("chat.postEphemeral", "may not run `status`");
    assert_eq!(refused.body["user"], STRANGER);
    bot.command(READER, &format!("restart {web}"));
    bot.posted("chat.postEphemeral", "may not run `restart`");
    bot.command(READER, "remove everything");
    bot.posted("chat.postEphemeral", "is not a command");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.calls_of("chat.postMessage").len(), before, "a refusal posts nothing in the channel");

    // a restart, confirmed by a button
    let pid = main_pid(&bot, &web);
    assert!(pid > 0);
    bot.command(CONTROLLER, &format!("restart {web}"));
    let prompt = bot.posted("chat.postMessage", "asked by <@U0CONTROL>");
    let ts = prompt.answer["ts"].as_str().expect("the prompt's ts").to_owned();
    let confirm = button_value(&prompt, "taskflows_confirm");
    assert_eq!(main_pid(&bot, &web), pid, "nothing happens before the confirmation");
    // only the one who asked confirms
    bot.click(READER, &ts, "taskflows_confirm", &confirm);
    bot.posted("chat.postEphemeral", "only <@U0CONTROL> can answer this");
    let started = Instant::now();
    bot.click(CONTROLLER, &ts, "taskflows_confirm", &confirm);
    let done = bot.posted("chat.update", ": done (confirmed by <@U0CONTROL>)");
    crate::figure(&format!("slack: a confirmed restart was done and reported in {} ms", started.elapsed().as_millis()));
    assert_eq!(done.body["ts"], ts.as_str());
    let new_pid = main_pid(&bot, &web);
    assert!(new_pid > 0 && new_pid != pid, "restarted: {pid} → {new_pid}");
    bot.posted("chat.postMessage", "*Restart `");

    // an alert from the monitor carries buttons; its Restart button restarts the service
    let out = bot.tf(&["monitor", "check", &nightly, "--slack-channel", "C0ALERTS"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let alert = bot.posted("chat.postMessage", "taskflows_restart");
    let restart = button_value(&alert, "taskflows_restart");
    let alert_ts = alert.answer["ts"].as_str().unwrap().to_owned();
    let runs_before = bot.tf(&["history", "-m", &nightly, "--json"]);
    bot.click(CONTROLLER, &alert_ts, "taskflows_restart", &restart);
    bot.posted("chat.postMessage", &format!("*Restart `{nightly}`"));
    let runs_after = bot.tf(&["history", "-m", &nightly, "--json"]);
    let count = |o: &std::process::Output| {
        serde_json::from_slice::<Value>(&o.stdout).unwrap()["runs"].as_array().unwrap().len()
    };
    assert!(count(&runs_after) > count(&runs_before), "the alert's Restart ran it again");
    // Logs and Silence
    bot.click(READER, &alert_ts, "taskflows_logs", &button_value(&alert, "taskflows_logs"));
    bot.posted("chat.postMessage", &format!("*logs of `{nightly}`*"));
    bot.click(CONTROLLER, &alert_ts, "taskflows_silence", &button_value(&alert, "taskflows_silence"));
    bot.posted("chat.postMessage", "are silenced until");
    let silences = std::fs::read_to_string(data.path().join("slack/silences.json")).unwrap();
    assert!(silences.contains(&nightly), "{silences}");
    // a silenced service's problem is not alerted again
    let alerts = fake.calls_of("chat.postMessage").iter().filter(|c| c.body["channel"] == "C0ALERTS").count();
    let _ = bot.tf(&["monitor", "check", &nightly, "--slack-channel", "C0ALERTS"]);
    let again = fake.calls_of("chat.postMessage").iter().filter(|c| c.body["channel"] == "C0ALERTS").count();
    assert_eq!(again, alerts, "silenced");

    // a mention, answered in its thread
    let id = fake.send_envelope(
        "events_api",
        app_mention(READER, CHANNEL, &format!("<@U0BOT> status {web}"), "1700000100.000200"),
    );
    fake.wait_ack(&id, Duration::from_secs(3));
    let answer = bot.posted("chat.postMessage", "1700000100.000200");
    assert_eq!(answer.body["thread_ts"], "1700000100.000200");

    // the audit: who did what, with what result
    let audit = crate::wait_for(Duration::from_secs(10), Duration::from_millis(300), || {
        let lines = audit_lines(CONTROLLER) + &audit_lines(READER);
        if lines.contains("RESULT=done") && lines.contains("RESULT=refused") { Ok(lines) } else { Err(lines) }
    });
    assert!(audit.contains(&format!("COMMAND=restart {web}")) && audit.contains("SLACK_CHANNEL=C0OPS"), "{audit}");

    let status = bot.tf(&["slack-bot", "status"]);
    let text = ok(&status, "tf slack-bot status");
    assert!(text.contains("the bot token works") && !text.contains(SlackFake::BOT_TOKEN), "{text}");

    ok(&bot.tf(&["remove", "tf-slack-bot"]), "tf remove tf-slack-bot");
    ok(&bot.tf(&["remove", &format!("slk-*-{}", std::process::id())]), "tf remove");
}

/// Where the scope's unit files are.
fn taskflows_unit_dir() -> std::path::PathBuf {
    if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") {
        std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".config/systemd/user")
    } else {
        std::path::PathBuf::from("/etc/systemd/system")
    }
}

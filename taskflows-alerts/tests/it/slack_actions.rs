//! Slack alerts about services: their buttons, what cannot ping, the block limit, silences.

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;
use taskflows_alerts::actions::{self, ActionValue};
use taskflows_alerts::{Alert, Alerts, Silences, Table};

use crate::alerts::{SLACK_OK, problems, slack};
use crate::support::{Answer, HttpServer, Logs};

/// Alerts to the server's Slack, with silences in `dir`.
fn alerts(server: &HttpServer, dir: &tempfile::TempDir) -> Alerts {
    Alerts::new([slack(server)]).silences(Silences::new(dir.path().join("silences.json")))
}

/// The one message the server received.
async fn post(alert: &Alert) -> Vec<Value> {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let dir = tempfile::tempdir().unwrap();
    assert!(alerts(&server, &dir).deliver(alert).await);
    let json = server.requests()[0].json();
    json["blocks"].as_array().unwrap().clone()
}

fn of_type<'a>(blocks: &'a [Value], kind: &str) -> Vec<&'a Value> {
    blocks.iter().filter(|b| b["type"] == kind).collect()
}

#[tokio::test]
async fn an_alert_about_a_service_has_restart_logs_and_silence_buttons() {
    let alert = Alert::check("tf-monitor", "backup-db failed", "exit code 1", None)
        .about(vec!["backup-db".into()], Some("db1".into()));
    let blocks = post(&alert).await;
    let kinds: Vec<&str> = blocks.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["section", "section", "actions", "context"]);
    let buttons = blocks[2]["elements"].as_array().unwrap();
    let ids: Vec<&str> = buttons.iter().map(|b| b["action_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [actions::RESTART, actions::LOGS, actions::SILENCE]);
    let texts: Vec<&Value> = buttons.iter().map(|b| &b["text"]).collect();
    assert_eq!(texts[0], &serde_json::json!({ "type": "plain_text", "text": "Restart backup-db" }));
    assert_eq!(texts[1]["text"], "Logs");
    assert_eq!(texts[2]["text"], "Silence 1 h");
    assert_eq!(buttons[0]["style"], "danger");
    assert_eq!(buttons[0]["confirm"]["text"]["text"], "Restart backup-db on db1?");
    assert_eq!(buttons[0]["confirm"]["confirm"]["text"], "Restart");
    for button in buttons {
        let value = ActionValue::decode(button["value"].as_str().unwrap()).unwrap();
        assert_eq!(value, ActionValue { service: "backup-db".into(), host: Some("db1".into()) });
    }
}

/// Every text Slack reads as mrkdwn, and the notification text.
fn mrkdwn_texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) == Some("mrkdwn")
                && let Some(text) = map.get("text").and_then(Value::as_str)
            {
                out.push(text.to_owned());
            }
            map.values().for_each(|v| mrkdwn_texts(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| mrkdwn_texts(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn channel_mentions_in_names_titles_bodies_and_links_cannot_ping() {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let dir = tempfile::tempdir().unwrap();
    let mut alert = Alert::check("<!channel>", "<!channel> is down", "log: <!here> <@U123> ```", None)
        .about(vec!["<!channel>".into()], Some("<!everyone>".into()));
    alert.link = Some("https://grafana/x|<!channel>".into());
    assert!(alerts(&server, &dir).deliver(&alert).await);
    let json = server.requests()[0].json();
    let mut texts = vec![json["text"].as_str().unwrap().to_owned()];
    mrkdwn_texts(&json, &mut texts);
    assert!(texts.len() >= 4, "{texts:#?}");
    for text in &texts {
        assert!(!text.contains("<!") && !text.contains("<@"), "{text}");
    }
    assert!(texts.iter().any(|t| t.contains("&lt;!channel&gt; is down")), "{texts:#?}");
    // buttons and their confirmation are plain text, which Slack never reads as a mention
    let actions = &json["blocks"][2];
    assert_eq!(actions["type"], "actions");
    for button in actions["elements"].as_array().unwrap() {
        assert_eq!(button["text"]["type"], "plain_text");
        assert_eq!(button["confirm"]["text"]["type"].as_str().unwrap_or("plain_text"), "plain_text");
    }
    assert_eq!(actions["elements"][0]["confirm"]["text"]["text"], "Restart <!channel> on <!everyone>?");
}

fn services(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("svc-{i}")).collect()
}

#[tokio::test]
async fn eleven_services_get_ten_rows_of_buttons_and_a_note() {
    let alert = Alert::check("tf-monitor", "11 problems", "", None).about(services(11), None);
    let blocks = post(&alert).await;
    let actions = of_type(&blocks, "actions");
    assert_eq!(actions.len(), 10);
    let ids: std::collections::HashSet<&str> = actions.iter().map(|b| b["block_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 10, "unique block ids");
    let value = ActionValue::decode(actions[9]["elements"][1]["value"].as_str().unwrap()).unwrap();
    assert_eq!(value, ActionValue { service: "svc-9".into(), host: None });
    let contexts = of_type(&blocks, "context");
    assert_eq!(contexts[0]["elements"][0]["text"], "_1 more service not shown_");
}

#[tokio::test]
async fn buttons_and_a_big_table_stay_within_fifty_blocks() {
    // 200 rows of ~570 characters: 41 code blocks, which fit without buttons
    let alone = Alert::check("tf-monitor", "200 problems", "", Some(problems(200, 550)));
    let blocks = post(&alone).await;
    assert!(blocks.len() <= 50 && blocks.len() > 40, "{}", blocks.len());
    // with 11 services' buttons they do not: the table goes to the thread
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let dir = tempfile::tempdir().unwrap();
    let alert = alone.about(services(11), Some("h".into()));
    assert!(alerts(&server, &dir).deliver(&alert).await);
    let requests = server.requests();
    let blocks = requests[0].json()["blocks"].as_array().unwrap().clone();
    assert!(blocks.len() <= 50, "{}", blocks.len());
    assert_eq!(of_type(&blocks, "actions").len(), 10);
    assert_eq!(
        blocks[1]["text"]["text"],
        "_The table (200 rows) is attached as a file in the thread: it does not fit in a message._"
    );
    assert_eq!(requests.len(), 4, "the table uploaded into the thread");
}

#[tokio::test]
async fn a_silenced_service_alerts_nobody() {
    let logs = Logs::capture();
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let dir = tempfile::tempdir().unwrap();
    let silences = Silences::new(dir.path().join("silences.json"));
    silences.silence("backup-db", Timestamp::now() + SignedDuration::from_hours(1)).unwrap();
    let alerts = alerts(&server, &dir);
    let about = |services: &[&str]| {
        Alert::check("tf-monitor", "failed", "", None::<Table>)
            .about(services.iter().map(|s| (*s).to_owned()).collect(), None)
    };
    assert!(alerts.deliver(&about(&["backup-db"])).await, "silenced counts as delivered");
    assert!(server.requests().is_empty(), "{:#?}", server.requests());
    assert!(logs.text().contains("alert silenced"), "{}", logs.text());
    // not every service silenced, another service, or none: sent
    assert!(alerts.deliver(&about(&["backup-db", "sync"])).await);
    assert!(alerts.deliver(&about(&["sync"])).await);
    assert!(alerts.deliver(&about(&[])).await);
    assert_eq!(server.requests().len(), 3);
    // an expired silence silences nothing
    silences.silence("backup-db", Timestamp::now() - SignedDuration::from_mins(1)).unwrap();
    assert!(alerts.deliver(&about(&["backup-db"])).await);
    assert_eq!(server.requests().len(), 4);
}

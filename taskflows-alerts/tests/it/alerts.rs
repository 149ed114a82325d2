//! Slack and webhook alerts against a local HTTP server; delivery failures stay bounded.

use std::time::{Duration, Instant};

use taskflows_alerts::{
    Alert, AlertEvents, Alerts, Backoff, DeliveryPolicy, Destination, LogLinks, Slack, Table, TaskPolicy, Webhook,
    run_task, run_task_with_result,
};

use crate::support::{Answer, HttpServer, Logs};

fn quick_delivery() -> DeliveryPolicy {
    DeliveryPolicy {
        attempts: 2,
        attempt_timeout: Duration::from_millis(400),
        retry_delay: Duration::from_millis(50),
        total: Duration::from_millis(700),
    }
}

pub(crate) fn slack(server: &HttpServer) -> Destination {
    Slack::new("xoxb-test", "#alerts").unwrap().api_base(format!("{}/api", server.url)).into()
}

/// Fails `failures` times, then returns 7.
async fn flaky(policy: &TaskPolicy, alerts: &Alerts, failures: u32) -> Option<u32> {
    let mut attempt = 0;
    run_task(policy, alerts, || {
        attempt += 1;
        let fail = attempt <= failures;
        async move { if fail { Err(std::io::Error::other(format!("attempt {attempt} failed"))) } else { Ok(7) } }
    })
    .await
    .unwrap()
}

/// The requests of a message whose text is uploaded as a file into its thread.
const UPLOADED: [&str; 4] =
    ["/api/chat.postMessage", "/api/files.getUploadURLExternal", "/upload/v1/abc", "/api/files.completeUploadExternal"];

#[tokio::test]
async fn slack_messages_on_start_each_error_and_finish() {
    let server = HttpServer::start(Answer::Json(r#"{"ok":true,"channel":"C1","ts":"1.2","message":{"ts":"1.2"}}"#));
    let alerts = Alerts::new([slack(&server)]);
    let policy = TaskPolicy::new("nightly-sync").retries(2).backoff(Backoff::none());
    assert_eq!(flaky(&policy, &alerts, 2).await, Some(7));

    let requests = server.requests();
    assert_eq!(requests.len(), 4, "start, 2 errors, finish: {requests:#?}");
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/chat.postMessage"));
        assert_eq!(r.header("authorization"), Some("Bearer xoxb-test"));
        assert_eq!(r.header("content-type"), Some("application/json; charset=utf-8"));
    }
    let json: Vec<serde_json::Value> = requests.iter().map(|r| r.json()).collect();
    assert_eq!(json[0]["channel"], "#alerts");
    assert_eq!(json[0]["text"], "Starting: nightly-sync");
    assert_eq!(json[0]["blocks"][0]["text"]["text"], "*Starting: nightly-sync*");
    assert_eq!(json[1]["text"], "Error Error executing task nightly-sync: attempt 1 failed");
    assert_eq!(json[1]["blocks"][1]["text"]["text"], "```Attempt 1 of 3.\n\nattempt 1 failed```");
    assert_eq!(json[2]["text"], "Error Error executing task nightly-sync: attempt 2 failed");
    let finish = json[3]["text"].as_str().unwrap();
    assert!(
        finish.starts_with("Finished: nightly-sync | ") && finish.contains(" UTC - ") && finish.ends_with("s)"),
        "{finish}"
    );
    assert_eq!(json[3]["blocks"][1]["text"]["text"], "```Result: succeeded on attempt 3 of 3.```");
    let context = json[3]["blocks"][2]["elements"][0]["text"].as_str().unwrap();
    assert!(context.starts_with("task id "), "{context}");
}

pub(crate) const SLACK_OK: &str = r#"{"ok":true,"channel":"C123","ts":"1700000000.000100","message":{"ts":"1700000000.000100"},"upload_url":"{url}/upload/v1/abc","file_id":"F42","files":[]}"#;

#[tokio::test]
async fn slack_truncates_long_errors_and_uploads_the_full_text() {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let alerts = Alerts::new([slack(&server)]).events(AlertEvents { start: false, error: true, finish: false });
    let policy = TaskPolicy::new("long");
    let long = format!("{}END", "x".repeat(10_000));
    let result = run_task(&policy, &alerts, || async { Err::<(), _>(std::io::Error::other(long.clone())) }).await;
    assert!(matches!(result, Ok(None)));
    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, UPLOADED);
    let json = requests[0].json();
    for text in [&json["text"], &json["blocks"][0]["text"]["text"], &json["blocks"][1]["text"]["text"]] {
        let text = text.as_str().unwrap();
        assert!(text.chars().count() <= 3000, "{} characters", text.chars().count());
        assert!(text.contains("more characters)"), "{text}");
    }
    // the full text, uploaded into the message's thread
    let upload = &requests[2];
    assert!(
        upload.body.starts_with("Error Error executing task long: xxx")
            && upload.body.contains("xEND\n\nAttempt 1 of 1.")
    );
    // slack-morphism asks for the upload URL with a GET and the form in the query
    let form = &requests[1];
    assert_eq!(form.method, "GET");
    assert!(
        form.query.starts_with("filename=long-") && form.query.ends_with(&format!("&length={}", upload.body.len()))
    );
    assert_eq!(requests[1].header("authorization"), Some("Bearer xoxb-test"));
    let complete = requests[3].json();
    assert_eq!(complete["files"][0]["id"], "F42");
    assert_eq!(complete["channel_id"], "C123");
    assert_eq!(complete["thread_ts"], "1700000000.000100");
}

#[tokio::test]
async fn short_slack_alerts_upload_nothing() {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let alerts = Alerts::new([slack(&server)]).events(AlertEvents { start: false, error: true, finish: false });
    let result = run_task(&TaskPolicy::new("short"), &alerts, || async { Err::<(), _>("oops") }).await;
    assert!(matches!(result, Ok(None)));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn webhook_posts_discord_content_with_log_links() {
    let server = HttpServer::start(Answer::Status(204));
    let links = LogLinks {
        grafana: Some("https://grafana.example.com/".into()),
        loki: None,
        unit: Some("taskflows-report.service".into()),
    };
    let alerts = Alerts::new([Webhook::new(format!("{}/hook", server.url)).unwrap().into()])
        .events(AlertEvents { start: false, error: false, finish: true })
        .links(links);
    let policy = TaskPolicy::new("report");
    assert_eq!(flaky(&policy, &alerts, 0).await, Some(7));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/hook");
    let json = requests[0].json();
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["content"]);
    let content = json["content"].as_str().unwrap();
    assert!(content.starts_with("Finished: report | "), "{content}");
    assert!(content.contains("Result: succeeded on attempt 1 of 1."), "{content}");
    let link = content.split("Logs: ").nth(1).expect("a logs link");
    assert!(link.starts_with("https://grafana.example.com/explore?left=%7B%22datasource%22%3A%22loki%22"), "{link}");
    // The lines of the task's unit, as the shipped pipelines label them.
    assert!(
        link.contains("%7Bjob%3D%5C%22taskflows%5C%22%2C%20unit%3D%5C%22taskflows-report.service%5C%22%7D"),
        "{link}"
    );
}

/// The finish alert's text of a task that returns `value` on its second attempt.
async fn finish_alert_of(value: String) -> String {
    let server = HttpServer::start(Answer::Status(204));
    let alerts = Alerts::new([Webhook::new(server.url.clone()).unwrap().into()]).events(AlertEvents {
        start: false,
        error: false,
        finish: true,
    });
    let policy = TaskPolicy::new("report").retries(1).backoff(Backoff::constant(Duration::from_millis(1)));
    let mut attempt = 0;
    let got = run_task_with_result(&policy, &alerts, || {
        attempt += 1;
        let result = if attempt == 1 { Err(std::io::Error::other("not yet")) } else { Ok(value.clone()) };
        async move { result }
    })
    .await
    .unwrap();
    assert_eq!(got.as_deref(), Some(value.as_str()), "the value is returned as well");
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    requests[0].json()["content"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn finish_alerts_show_the_tasks_result() {
    let content = finish_alert_of("42 rows synced".to_owned()).await;
    assert!(content.starts_with("Finished: report | "), "{content}");
    assert!(content.contains("\n\nResult: 42 rows synced\n\nSucceeded on attempt 2 of 2."), "{content}");

    // A long value is cut (to 1000 characters) like other long text; the attempts line stays.
    let content = finish_alert_of("x".repeat(5000)).await;
    let shown = content.split("Result: ").nth(1).unwrap().split("\n\n").next().unwrap();
    assert_eq!(shown.chars().count(), 1000, "{shown}");
    assert!(shown.starts_with("xxxx") && shown.ends_with(" more characters)"), "{shown}");
    assert!(shown.ends_with(&format!("… ({} more characters)", 5000 - shown.matches('x').count())), "{shown}");
    assert!(content.contains("\n\nSucceeded on attempt 2 of 2."), "{content}");
}

#[tokio::test]
async fn loki_link_without_grafana() {
    let server = HttpServer::start(Answer::Status(200));
    let links = LogLinks { grafana: None, loki: Some("http://loki:3100".into()), unit: None };
    let alerts = Alerts::new([Webhook::new(server.url.clone()).unwrap().into()])
        .events(AlertEvents { start: false, error: true, finish: false })
        .links(links);
    assert_eq!(flaky(&TaskPolicy::new("q").retries(1).backoff(Backoff::none()), &alerts, 1).await, Some(7));
    let content = server.requests()[0].json()["content"].as_str().unwrap().to_owned();
    assert!(
        content.contains(
            "Logs: http://loki:3100/loki/api/v1/query_range?query=%7Bjob%3D%22taskflows%22%2C%20task%3D%22q%22%7D"
        ),
        "{content}"
    );
}

#[tokio::test]
async fn slack_500_is_retried_then_logged_and_the_task_returns() {
    let logs = Logs::capture();
    let server = HttpServer::start(Answer::Status(500));
    let alerts = Alerts::new([slack(&server)])
        .events(AlertEvents { start: true, error: false, finish: false })
        .delivery(quick_delivery());
    let started = Instant::now();
    assert_eq!(flaky(&TaskPolicy::new("t500").required(true), &alerts, 0).await, Some(7));
    assert!(started.elapsed() < Duration::from_millis(700 + 300), "{:?}", started.elapsed());
    assert_eq!(server.requests().len(), 2, "two tries");
    let text = logs.text();
    assert!(text.contains("failed to send an alert") && text.contains("slack: chat.postMessage: HTTP 500"), "{text}");
    assert!(text.contains("alert not delivered; giving up"), "{text}");
}

#[tokio::test]
async fn slack_not_ok_is_a_failure() {
    let logs = Logs::capture();
    let server = HttpServer::start(Answer::Json(r#"{"ok":false,"error":"channel_not_found"}"#));
    let alerts = Alerts::new([slack(&server)])
        .events(AlertEvents { start: true, error: false, finish: false })
        .delivery(quick_delivery());
    assert_eq!(flaky(&TaskPolicy::new("nf"), &alerts, 0).await, Some(7));
    assert!(logs.text().contains("slack: chat.postMessage: channel_not_found"), "{}", logs.text());
}

#[tokio::test]
async fn hanging_slack_is_abandoned_within_the_bound() {
    let logs = Logs::capture();
    let server = HttpServer::start(Answer::Hang);
    let alerts = Alerts::new([slack(&server)]).delivery(quick_delivery());
    let policy = TaskPolicy::new("hang").retries(1).backoff(Backoff::none()).required(true);
    let started = Instant::now();
    assert_eq!(flaky(&policy, &alerts, 1).await, Some(7));
    // start, one error, finish: each abandoned after at most 700ms
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(3 * 700 + 500), "{elapsed:?}");
    assert!(elapsed >= Duration::from_millis(3 * 400), "{elapsed:?}");
    let text = logs.text();
    assert!(text.contains("no answer within 400ms"), "{text}");
    assert!(text.contains("alert delivery abandoned"), "{text}");
}

#[tokio::test]
async fn blocking_task_alerts_name_a_panic() {
    let server = HttpServer::start(Answer::Status(200));
    let alerts = Alerts::new([Webhook::new(server.url.clone()).unwrap().into()]);
    let policy = TaskPolicy::new("crunch").retries(1).backoff(Backoff::none()).required(true);
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let seen = std::sync::Arc::clone(&calls);
    let result = taskflows_alerts::run_blocking_task(&policy, &alerts, move || {
        if seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            panic!("index out of bounds");
        }
        Ok::<_, std::io::Error>(99)
    })
    .await;
    assert_eq!(result.unwrap(), Some(99));
    let contents: Vec<String> =
        server.requests().iter().map(|r| r.json()["content"].as_str().unwrap().to_owned()).collect();
    assert_eq!(contents.len(), 3, "start, one error, finish: {contents:#?}");
    assert_eq!(contents[0], "Starting: crunch");
    assert!(
        contents[1].starts_with("Panic Error executing task crunch: panicked: index out of bounds"),
        "{}",
        contents[1]
    );
    assert!(contents[2].starts_with("Finished: crunch | ") && contents[2].contains("succeeded on attempt 2 of 2"));
}

pub(crate) fn problems(rows: usize, width: usize) -> Table {
    let mut table = Table::new(["SERVICE", "PROBLEM", "DETAIL"]);
    for i in 0..rows {
        table.row([format!("job-{i}"), "overdue".to_owned(), "x".repeat(width)]);
    }
    table
}

#[tokio::test]
async fn slack_tables_are_code_blocks() {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let alerts = Alerts::new([slack(&server)]);
    let mut table = Table::new(["SERVICE", "PROBLEM"]);
    table.row(["nightly", "overdue"]).row(["backup-db", "last-run-failed"]);
    let alert = Alert::check("tf-monitor", "tf monitor: 2 problems", "", Some(table));
    assert!(alerts.deliver(&alert).await);
    let requests = server.requests();
    assert_eq!(requests.len(), 1, "nothing uploaded: {requests:#?}");
    let json = requests[0].json();
    assert_eq!(json["text"], "tf monitor: 2 problems");
    assert_eq!(
        json["blocks"][1]["text"]["text"],
        "```SERVICE    PROBLEM\n---------  ---------------\nnightly    overdue\nbackup-db  last-run-failed```"
    );
    assert_eq!(json["blocks"][2]["elements"][0]["text"], "tf-monitor");
}

#[tokio::test]
async fn slack_tables_over_the_row_limit_are_uploaded_as_a_file() {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let alerts = Alerts::new([slack(&server)]);
    // 200 rows are inlined, in as many blocks as Slack's section limit needs
    let alert = Alert::check("tf-monitor", "200 problems", "", Some(problems(200, 10)));
    assert!(alerts.deliver(&alert).await);
    let json = server.requests()[0].json();
    let blocks = json["blocks"].as_array().unwrap();
    let inline: String =
        blocks.iter().filter_map(|b| b["text"]["text"].as_str()).filter(|t| t.starts_with("```")).collect();
    assert_eq!(inline.matches("job-").count(), 200);
    assert!(blocks.iter().all(|b| b["text"]["text"].as_str().is_none_or(|t| t.chars().count() <= 3000)));
    assert_eq!(server.requests().len(), 1);

    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let alerts = Alerts::new([slack(&server)]);
    let alert = Alert::check("tf-monitor", "250 problems", "", Some(problems(250, 10)));
    assert!(alerts.deliver(&alert).await);
    let requests = server.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, UPLOADED);
    let message = requests[0].json();
    assert!(!message.to_string().contains("job-0"), "not inlined: {message}");
    assert_eq!(
        message["blocks"][1]["text"]["text"],
        "_The table (250 rows) is attached as a file in the thread: more than 200 rows are not inlined._"
    );
    let file = &requests[2].body;
    assert!(file.starts_with("SERVICE  PROBLEM  DETAIL\n"), "{}", &file[..100]);
    assert_eq!(file.lines().count(), 252, "header, rule, 250 rows");
    assert!(requests[1].query.starts_with("filename=tf-monitor-") && requests[1].query.contains("-table.txt&length="));
    assert_eq!(requests[3].json()["thread_ts"], "1700000000.000100");
}

#[tokio::test]
async fn slack_uploads_are_cut_at_the_attachment_limit() {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let slack = Slack::new("xoxb-test", "#alerts")
        .unwrap()
        .api_base(format!("{}/api", server.url))
        .attachment_max_mb(1)
        .inline_table_max_rows(10);
    let alerts = Alerts::new([slack.into()]);
    // 250 rows of ~5 kB: 1.25 MB, over the 1 MiB limit
    let alert = Alert::check("tf-monitor", "big", "", Some(problems(250, 5000)));
    assert!(alerts.deliver(&alert).await);
    let requests = server.requests();
    let file = &requests[2].body;
    assert!(file.len() <= 1024 * 1024, "{} bytes", file.len());
    assert!(file.len() > 1024 * 1024 - 200, "{} bytes", file.len());
    assert!(file.ends_with("bytes shown (SLACK_ATTACHMENT_MAX_SIZE_MB)\n"), "{}", &file[file.len() - 100..]);
    assert!(file.contains("\n… truncated: "));
    assert!(requests[1].query.ends_with(&format!("&length={}", file.len())));
}

#[tokio::test]
async fn slack_text_is_escaped_so_it_cannot_mention_or_link() {
    let server = HttpServer::start(Answer::Json(SLACK_OK));
    let alerts = Alerts::new([slack(&server)]);
    let mut table = Table::new(["SERVICE", "DETAIL"]);
    table.row(["a&b", "<!here> ```x```"]);
    let alert = Alert::check("<!channel>", "failed: <https://evil.example|click> & more", "", Some(table));
    assert!(alerts.deliver(&alert).await);
    let json = server.requests()[0].json();
    assert_eq!(json["text"], "failed: &lt;https://evil.example|click&gt; &amp; more");
    assert_eq!(json["blocks"][0]["text"]["text"], "*failed: &lt;https://evil.example|click&gt; &amp; more*");
    let table = json["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(table.contains("a&amp;b") && table.contains("&lt;!here&gt; `\u{200b}``x`\u{200b}``"), "{table}");
    assert_eq!(table.matches("```").count(), 2, "only the block's own fences: {table}");
    assert_eq!(json["blocks"][2]["elements"][0]["text"], "&lt;!channel&gt;");
}

/// A webhook's URL is its secret: a failed delivery's log lines do not carry it (reqwest's
/// errors name the URL they failed for).
#[tokio::test]
async fn a_failing_webhook_logs_no_url() {
    let logs = Logs::capture();
    // A port nothing listens on: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/api/webhooks/1234/SECRET-WEBHOOK-TOKEN");
    let alerts = Alerts::new([Webhook::new(url).unwrap().into()])
        .events(AlertEvents { start: true, error: false, finish: false })
        .delivery(quick_delivery());
    assert_eq!(flaky(&TaskPolicy::new("hook"), &alerts, 0).await, Some(7));
    let text = logs.text();
    assert!(text.contains("failed to send an alert") && text.contains("webhook: error sending request"), "{text}");
    assert!(!text.contains("SECRET-WEBHOOK-TOKEN") && !text.contains("/api/webhooks"), "{text}");
}

use std::sync::Arc;

use serde_json::{Value, json};
use tracing::Level;

use super::{Entry, LokiConfig};

fn vars(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let pairs = pairs.to_vec();
    move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())
}

fn config(pairs: &[(&'static str, &'static str)]) -> LokiConfig {
    LokiConfig::from_vars(vars(pairs)).unwrap().unwrap()
}

fn error(pairs: &[(&'static str, &'static str)]) -> String {
    LokiConfig::from_vars(vars(pairs)).unwrap_err().to_string()
}

#[test]
fn the_push_url_comes_from_taskflows_loki_url_else_loki_host_and_port() {
    let check = |pairs: &[(&'static str, &'static str)], expected: &str| {
        assert_eq!(config(pairs).push_url(), expected, "{pairs:?}");
    };
    check(&[("TASKFLOWS_LOKI_URL", "http://loki:3100")], "http://loki:3100/loki/api/v1/push");
    check(&[("TASKFLOWS_LOKI_URL", " https://logs.example.com/ ")], "https://logs.example.com/loki/api/v1/push");
    check(
        &[("TASKFLOWS_LOKI_URL", "https://example.com/loki-proxy/")],
        "https://example.com/loki-proxy/loki/api/v1/push",
    );
    check(&[("TASKFLOWS_LOKI_URL", "http://[::1]:3100")], "http://[::1]:3100/loki/api/v1/push");
    // the user and password are sent, never shown
    check(&[("TASKFLOWS_LOKI_URL", "https://u:secret@logs.example.com")], "https://logs.example.com/loki/api/v1/push");
    check(&[("LOKI_HOST", "loki"), ("LOKI_PORT", "3101")], "http://loki:3101/loki/api/v1/push");
    check(&[("LOKI_HOST", "10.0.0.5")], "http://10.0.0.5:3100/loki/api/v1/push");
    check(
        &[("TASKFLOWS_LOKI_URL", "http://a:3100"), ("LOKI_HOST", "b"), ("LOKI_PORT", "1")],
        "http://a:3100/loki/api/v1/push",
    );
    assert!(LokiConfig::from_vars(vars(&[])).unwrap().is_none());
    assert!(LokiConfig::from_vars(vars(&[("TASKFLOWS_LOKI_URL", "  ")])).unwrap().is_none());
    let with_user = config(&[("TASKFLOWS_LOKI_URL", "https://u:secret@logs.example.com")]);
    assert_eq!(with_user.push_url.password(), Some("secret"));
    assert!(!format!("{with_user:?}").contains("secret"), "{with_user:?}");
}

#[test]
fn a_bad_loki_is_one_message_naming_the_variable_and_what_is_allowed() {
    let form = "http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH] (Loki's base URL) is allowed";
    let check = |pairs: &[(&'static str, &'static str)], expected: &str| {
        let message = error(pairs);
        assert_eq!(message, expected.replace("FORM", form), "{pairs:?}");
        assert!(!message.contains("secret") && !message.contains('\n'), "{message}");
    };
    check(
        &[("TASKFLOWS_LOKI_URL", "ftp://loki")],
        "TASKFLOWS_LOKI_URL \"ftp://loki\": the scheme \"ftp\" is not http or https; FORM",
    );
    check(
        &[("TASKFLOWS_LOKI_URL", "loki:3100")],
        "TASKFLOWS_LOKI_URL \"loki:3100\": the scheme \"loki\" is not http or https; FORM",
    );
    check(&[("TASKFLOWS_LOKI_URL", "loki")], "TASKFLOWS_LOKI_URL \"loki\": relative URL without a base; FORM");
    check(&[("TASKFLOWS_LOKI_URL", "http://")], "TASKFLOWS_LOKI_URL \"http://\": empty host; FORM");
    check(
        &[("TASKFLOWS_LOKI_URL", "http://u:secret@loki:99999")],
        "TASKFLOWS_LOKI_URL \"http://***@loki:99999\": invalid port number; FORM",
    );
    check(
        &[("TASKFLOWS_LOKI_URL", "ftp://u:sec/ret@loki")],
        "TASKFLOWS_LOKI_URL \"ftp://***@loki\": invalid port number; FORM",
    );
    check(
        &[("TASKFLOWS_LOKI_URL", "http://loki?x=1")],
        "TASKFLOWS_LOKI_URL \"http://loki?x=1\": a query or fragment; FORM",
    );
    check(&[("LOKI_HOST", "a b")], "LOKI_HOST: a host name or address is allowed");
    check(&[("LOKI_HOST", "loki"), ("LOKI_PORT", "http")], "LOKI_PORT: a port number is allowed");
    check(
        &[("TASKFLOWS_LOKI_URL", "http://loki"), ("APP_NAME", "my app")],
        "APP_NAME: letters, digits, - _ and . are allowed",
    );
    check(
        &[("TASKFLOWS_LOKI_URL", "http://loki"), ("ENVIRONMENT", "prod\"")],
        "ENVIRONMENT: letters, digits, - _ and . are allowed",
    );
    check(
        &[("TASKFLOWS_LOKI_URL", "http://u:secret@loki"), ("TASKFLOWS_LOKI_TOKEN", "secret")],
        "TASKFLOWS_LOKI_TOKEN is set and TASKFLOWS_LOKI_URL has a user: one way of signing in is allowed",
    );
    check(
        &[("TASKFLOWS_LOKI_URL", "http://loki"), ("TASKFLOWS_LOKI_TOKEN", "se\u{7f}cret")],
        "TASKFLOWS_LOKI_TOKEN: visible ASCII characters are allowed",
    );
}

#[test]
fn a_token_is_a_sensitive_bearer_header() {
    let c = config(&[("TASKFLOWS_LOKI_URL", "http://loki"), ("TASKFLOWS_LOKI_TOKEN", "secret")]);
    let value = c.authorization.as_ref().unwrap();
    assert_eq!(value.to_str().unwrap(), "Bearer secret");
    assert!(value.is_sensitive());
    assert!(!format!("{c:?}").contains("secret"), "{c:?}");
}

#[test]
fn labels_are_those_the_pipelines_set() {
    let c = config(&[("TASKFLOWS_LOKI_URL", "http://loki"), ("ENVIRONMENT", "prod"), ("APP_NAME", "reports")]);
    let labels = |c: &LokiConfig| c.labels().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
    assert_eq!(labels(&c), "job=taskflows,environment=prod,app=reports");
    let c = c.unit("taskflows-a.service").unit("taskflows-b.service");
    assert_eq!(labels(&c), "job=taskflows,environment=prod,app=reports,unit=taskflows-b.service");
    assert_eq!(labels(&config(&[("LOKI_HOST", "loki")])), "job=taskflows");
}

#[test]
fn values_are_bare_or_quoted_as_logfmt() {
    let check = |key: &str, value: &str, expected: &str| {
        let mut line = String::new();
        super::pair(&mut line, key, value);
        assert_eq!(line, expected, "{key:?} {value:?}");
    };
    check("rows", "3", "rows=3");
    check("path", "/srv/a\\b", "path=/srv/a\\b");
    check("msg", "", "msg=\"\"");
    check("msg", "two words", "msg=\"two words\"");
    check("msg", "say \"hi\"\\", "msg=\"say \\\"hi\\\"\\\\\"");
    check("msg", "a=b", "msg=\"a=b\"");
    check("msg", "line\nnext\r\tend", "msg=\"line\\nnext\\r\\tend\"");
    check("msg", "bell\u{7}", "msg=\"bell\\u{7}\"");
    check("msg", "ünïcode", "msg=ünïcode");
    check("a key=\"x\"", "v", "a_key__x_=v");
    let mut line = "msg=a".to_owned();
    super::pair(&mut line, "n", "1");
    assert_eq!(line, "msg=a n=1");
}

#[test]
fn long_lines_are_cut_at_a_character_boundary() {
    assert_eq!(super::cut("short".into()), "short");
    let long = "é".repeat(super::MAX_LINE); // two bytes each
    let cut = super::cut(long);
    assert!(cut.ends_with(" …(cut)"), "{}", &cut[cut.len() - 20..]);
    assert_eq!(cut.len(), super::MAX_LINE + " …(cut)".len());
}

#[test]
fn credentials_are_redacted_even_where_the_url_does_not_parse() {
    let check = |raw: &str, expected: &str| assert_eq!(super::redact(raw), expected, "{raw}");
    check("http://loki:3100", "http://loki:3100");
    check("http://u:p@loki:3100/x", "http://***@loki:3100/x");
    check("u:p@loki", "***@loki");
    check("http://u:p/@q@loki", "http://***@loki");
}

fn entry(nanos: u128, level: Level, task: Option<&str>, line: &str) -> Entry {
    Entry { nanos, level, task: task.map(Arc::from), line: line.to_owned() }
}

#[test]
fn the_body_has_one_stream_per_task_and_level_with_nanosecond_strings() {
    let labels = vec![("job", "taskflows".to_owned()), ("app", "reports".to_owned())];
    let entries = [
        entry(1_700_000_000_000_000_001, Level::INFO, None, "msg=started"),
        entry(1_700_000_000_000_000_002, Level::WARN, Some("sync"), "msg=slow task_id=7-1"),
        entry(1_700_000_000_000_000_003, Level::INFO, None, "msg=again"),
        entry(1_700_000_000_000_000_004, Level::ERROR, Some("sync"), "msg=\"it failed\" task_id=7-1"),
    ];
    let body: Value = serde_json::from_slice(&super::body(&labels, &entries)).unwrap();
    assert_eq!(
        body,
        json!({"streams": [
            {"stream": {"job": "taskflows", "app": "reports", "level": "info"},
             "values": [["1700000000000000001", "msg=started"], ["1700000000000000003", "msg=again"]]},
            {"stream": {"job": "taskflows", "app": "reports", "task": "sync", "level": "error"},
             "values": [["1700000000000000004", "msg=\"it failed\" task_id=7-1"]]},
            {"stream": {"job": "taskflows", "app": "reports", "task": "sync", "level": "warn"},
             "values": [["1700000000000000002", "msg=slow task_id=7-1"]]},
        ]})
    );
    let empty: Value = serde_json::from_slice(&super::body(&labels, &[])).unwrap();
    assert_eq!(empty, json!({"streams": []}));
}

#[test]
fn events_become_lines_with_their_spans_fields_and_the_task_as_a_label() {
    use tracing_subscriber::layer::SubscriberExt as _;

    // No Loki answers: the queue is read before anything is sent (a minute between batches).
    let config = config(&[("TASKFLOWS_LOKI_URL", "http://127.0.0.1:9")]);
    let policy = super::PushPolicy { interval: std::time::Duration::from_secs(60), ..Default::default() };
    let (layer, _handle) = super::layer(config, policy).unwrap();
    let queue = Arc::clone(&layer.queue);
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(rows = 3, path = "/a b", ok = true, "plain");
        let outer = tracing::info_span!("request", route = "/x");
        let _outer = outer.enter();
        let task =
            tracing::info_span!("task", task_id = %"42-1", task_name = %"nightly-sync", later = tracing::field::Empty);
        let _task = task.enter();
        task.record("later", 5);
        tracing::warn!(error = %std::io::Error::other("disk full"), "attempt {} failed", 1);
        let inner = tracing::info_span!("task", task_id = "42-2", task_name = "inner");
        inner.in_scope(|| tracing::error!("nested"));
    });
    let lines: Vec<(Level, Option<String>, String)> =
        queue.waiting().into_iter().map(|e| (e.level, e.task.as_deref().map(str::to_owned), e.line.clone())).collect();
    assert_eq!(
        lines,
        [
            (Level::INFO, None, "msg=plain rows=3 path=\"/a b\" ok=true".to_owned()),
            (
                Level::WARN,
                Some("nightly-sync".to_owned()),
                "msg=\"attempt 1 failed\" error=\"disk full\" route=/x task_id=42-1 later=5".to_owned()
            ),
            (
                Level::ERROR,
                Some("inner".to_owned()),
                "msg=nested route=/x task_id=42-1 later=5 task_id=42-2".to_owned()
            ),
        ]
    );
}

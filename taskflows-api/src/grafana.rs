//! The Grafana dashboard of taskflows: services' states, runs and failures over time, durations,
//! next runs, the API's requests (Prometheus, from `GET /metrics`) and each service's logs (Loki,
//! as the shipped pipelines label them). Generated as JSON for file provisioning, or pushed through
//! Grafana's HTTP API ([`push`]) under a fixed uid, so pushing again updates it in place.

use serde_json::{Value, json};

/// The dashboard's uid: the same on every push.
pub const UID: &str = "taskflows-services";

/// The Loki label the shipped pipelines give a log line: the unit (`taskflows-NAME.service`).
pub const LOKI_UNIT_LABEL: &str = "unit";

fn prometheus() -> Value {
    json!({ "type": "prometheus", "uid": "${prometheus}" })
}

fn target(expr: &str, legend: &str) -> Value {
    json!({ "datasource": prometheus(), "expr": expr, "legendFormat": legend, "refId": "A" })
}

fn panel(id: u32, kind: &str, title: &str, (x, y, w, h): (u32, u32, u32, u32), targets: Vec<Value>) -> Value {
    json!({
        "id": id,
        "type": kind,
        "title": title,
        "gridPos": { "x": x, "y": y, "w": w, "h": h },
        "datasource": prometheus(),
        "targets": targets,
    })
}

/// The dashboard (Grafana's JSON model).
pub fn dashboard() -> Value {
    let svc = "service=~\"$service\"";
    let panels = vec![
        panel(
            1,
            "stat",
            "Services running",
            (0, 0, 4, 4),
            vec![target(&format!("sum(taskflows_service_up{{{svc}}})"), "running")],
        ),
        panel(
            2,
            "stat",
            "Services failed",
            (4, 0, 4, 4),
            vec![target(&format!("sum(taskflows_service_state{{{svc},state=\"failed\"}})"), "failed")],
        ),
        panel(
            3,
            "stat",
            "Failed runs (24 h)",
            (8, 0, 4, 4),
            vec![target(
                &format!("sum(increase(taskflows_service_runs_total{{{svc},result!=\"success\"}}[24h]))"),
                "failed runs",
            )],
        ),
        panel(
            10,
            "stat",
            "Monitor problems (overdue, failed, timer stopped)",
            (0, 4, 12, 4),
            vec![target(
                &format!("count by (problem) (taskflows_monitor_problem{{{svc}}}) or vector(0)"),
                "{{problem}}",
            )],
        ),
        panel(
            4,
            "table",
            "Services",
            (12, 0, 12, 8),
            vec![
                target(&format!("taskflows_service_up{{{svc}}}"), "{{service}}"),
                target(&format!("taskflows_service_last_run_success{{{svc}}}"), "{{service}}"),
                target(&format!("taskflows_service_next_run_timestamp_seconds{{{svc}}} - time()"), "{{service}}"),
            ],
        ),
        panel(
            5,
            "timeseries",
            "Runs by result",
            (0, 8, 12, 8),
            vec![target(
                &format!(
                    "sum by (service, result) (increase(taskflows_service_runs_total{{{svc}}}[$__rate_interval]))"
                ),
                "{{service}} {{result}}",
            )],
        ),
        panel(
            6,
            "timeseries",
            "Last run duration",
            (12, 8, 12, 8),
            vec![target(&format!("taskflows_service_last_run_duration_seconds{{{svc}}}"), "{{service}}")],
        ),
        panel(
            7,
            "timeseries",
            "Task runs and mean duration",
            (0, 16, 12, 8),
            vec![
                target(
                    &format!(
                        "sum by (service, task, result) (increase(taskflows_task_runs_total{{{svc}}}[$__rate_interval]))"
                    ),
                    "{{service}}/{{task}} {{result}}",
                ),
                target(
                    &format!(
                        "rate(taskflows_task_duration_seconds_sum{{{svc}}}[$__rate_interval]) / rate(taskflows_task_duration_seconds_count{{{svc}}}[$__rate_interval])"
                    ),
                    "{{service}}/{{task}} mean s",
                ),
            ],
        ),
        panel(
            8,
            "timeseries",
            "API requests and p99 latency",
            (12, 16, 12, 8),
            vec![
                target(
                    "sum by (route, status) (rate(taskflows_api_requests_total[$__rate_interval]))",
                    "{{route}} {{status}}",
                ),
                target(
                    "histogram_quantile(0.99, sum by (le, route) (rate(taskflows_api_request_duration_seconds_bucket[$__rate_interval])))",
                    "p99 {{route}}",
                ),
            ],
        ),
        json!({
            "id": 9,
            "type": "logs",
            "title": "Logs: $service",
            "gridPos": { "x": 0, "y": 24, "w": 24, "h": 12 },
            "datasource": { "type": "loki", "uid": "${loki}" },
            "targets": [{
                "datasource": { "type": "loki", "uid": "${loki}" },
                "expr": format!("{{{LOKI_UNIT_LABEL}=~\"taskflows-($service)\\\\.service\"}}"),
                "refId": "A"
            }],
        }),
    ];
    json!({
        "uid": UID,
        "title": "taskflows services",
        "tags": ["taskflows"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "30s",
        "time": { "from": "now-24h", "to": "now" },
        "templating": { "list": [
            { "name": "prometheus", "type": "datasource", "query": "prometheus", "label": "Prometheus" },
            { "name": "loki", "type": "datasource", "query": "loki", "label": "Loki" },
            {
                "name": "service",
                "type": "query",
                "label": "Service",
                "datasource": prometheus(),
                "query": { "query": "label_values(taskflows_service_up, service)", "refId": "services" },
                "definition": "label_values(taskflows_service_up, service)",
                "includeAll": true,
                "multi": true,
                "allValue": ".*",
                "current": { "text": "All", "value": "$__all" },
                "refresh": 2
            }
        ]},
        "panels": panels,
    })
}

/// Create or update the dashboard in the Grafana at `url` with the API key (service account
/// token) `key`: `POST /api/dashboards/db` with `overwrite`, under [`UID`]. The answer's `url`.
#[cfg(feature = "client")]
pub async fn push(url: &str, key: &str) -> crate::Result<String> {
    let fail = |message: String| {
        crate::Error::Remote {
        server: "grafana".into(),
        message,
        hint: Some("TASKFLOWS_GRAFANA is Grafana's base URL, TASKFLOWS_GRAFANA_API_KEY a service account token with the Editor role".into()),
        exit_code: crate::exit::FAILED,
    }
    };
    let base = reqwest::Url::parse(url).map_err(|e| fail(format!("TASKFLOWS_GRAFANA {url:?}: {e}")))?;
    let endpoint = base.join("api/dashboards/db").map_err(|e| fail(e.to_string()))?;
    let body =
        json!({ "dashboard": dashboard(), "overwrite": true, "message": "taskflows: tf grafana dashboard --push" });
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let response = client
        .post(endpoint)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .map_err(|e| fail(format!("cannot reach Grafana: {}", e.without_url())))?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let said = answer.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(fail(format!("Grafana answered {status}: {said}")));
    }
    Ok(answer.get("url").and_then(Value::as_str).unwrap_or(UID).to_owned())
}

#[cfg(all(test, feature = "server"))]
mod tests {
    use std::collections::BTreeSet;

    /// Every metric the dashboard queries is one `/metrics` exposes.
    #[test]
    fn queries_use_only_exposed_metrics() {
        let text = super::dashboard().to_string();
        let used: BTreeSet<String> = text
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("taskflows_"))
            .map(str::to_owned)
            .collect();
        let mut counts = taskflows_systemd::RunCounts::default();
        counts.services.entry("taskflows-a.service".into()).or_default().insert("success".into(), 1);
        counts.tasks.entry(("taskflows-a.service".into(), "t".into())).or_default().timed = 1;
        let exposed = crate::metrics::services(&[crate::ServiceState { name: "a".into(), ..Default::default() }])
            + &crate::metrics::runs(&counts)
            + &crate::metrics::monitor(&[], 0, jiff::Timestamp::UNIX_EPOCH)
            + &crate::server::request_metrics_sample();
        // Every family declared, with the series names its type gives it.
        let mut names: BTreeSet<String> = BTreeSet::new();
        for line in exposed.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
            let (name, kind) = line.split_once(' ').unwrap();
            match kind {
                "histogram" => names.extend(["_bucket", "_sum", "_count"].map(|s| format!("{name}{s}"))),
                "summary" => names.extend(["_sum", "_count"].map(|s| format!("{name}{s}"))),
                _ => {
                    names.insert(name.to_owned());
                }
            }
        }
        let exposed: BTreeSet<&str> = names.iter().map(String::as_str).collect();
        let missing: Vec<&String> = used.iter().filter(|u| !exposed.contains(u.as_str())).collect();
        assert!(missing.is_empty(), "queried but not exposed: {missing:?} (exposed: {exposed:?})");
        assert!(used.len() >= 10, "{used:?}");
    }
}

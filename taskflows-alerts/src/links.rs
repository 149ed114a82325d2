//! Links to a task's logs in Grafana (Explore over Loki) or Loki itself.

use jiff::Timestamp;

use crate::task::TaskId;

/// Where alerts link for logs. With `grafana`, a Grafana Explore link over its Loki data source;
/// with only `loki`, a Loki `query_range` link. The query selects, over the run's time range, the
/// lines of the task's service unit by the labels the shipped pipelines set
/// (`tf observability config`: `job="taskflows"`, `unit`), or outside systemd the task's records
/// by its name (`task`) and run id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogLinks {
    /// Grafana's base URL, e.g. `https://grafana.example.com`.
    pub grafana: Option<String>,
    /// Loki's base URL, e.g. `http://loki:3100`.
    pub loki: Option<String>,
    /// The service unit this process runs in (`taskflows-NAME.service`), when under systemd.
    pub unit: Option<String>,
}

impl LogLinks {
    /// From `TASKFLOWS_GRAFANA` and `TASKFLOWS_LOKI_URL` (unset or empty: no link).
    pub fn from_env() -> LogLinks {
        LogLinks::from_vars(|name| std::env::var(name).ok())
    }

    /// As [`LogLinks::from_env`], with variables looked up by `var`.
    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> LogLinks {
        let var = |name| var(name).filter(|v: &String| !v.trim().is_empty());
        let unit = std::fs::read_to_string("/proc/self/cgroup")
            .ok()
            .and_then(|c| crate::journal::unit_of_cgroup(&c))
            .map(|(unit, _)| unit);
        let loki = var("TASKFLOWS_LOKI_URL").map(|url| without_userinfo(&url));
        LogLinks { grafana: var("TASKFLOWS_GRAFANA"), loki, unit }
    }

    /// The link for a run of task `name` between `from` and `to`, if configured.
    pub fn explore(&self, name: &str, id: TaskId, from: Timestamp, to: Timestamp) -> Option<String> {
        let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
        let expr = match &self.unit {
            Some(unit) => format!("{{job=\"taskflows\", unit=\"{}\"}}", quote(unit)),
            None => format!("{{job=\"taskflows\", task=\"{}\"}} |= \"{id}\"", quote(name)),
        };
        // a minute of margin on either side: clocks and log shipping lag
        let from_ms = from.as_millisecond() - 60_000;
        let to_ms = to.as_millisecond() + 60_000;
        if let Some(grafana) = &self.grafana {
            let left = serde_json::json!({
                "datasource": "loki",
                "queries": [{ "refId": "A", "expr": expr }],
                "range": { "from": from_ms.to_string(), "to": to_ms.to_string() },
            });
            return Some(format!("{}/explore?left={}", grafana.trim_end_matches('/'), encode(&left.to_string())));
        }
        let loki = self.loki.as_ref()?;
        Some(format!(
            "{}/loki/api/v1/query_range?query={}&start={}&end={}",
            loki.trim_end_matches('/'),
            encode(&expr),
            from_ms * 1_000_000,
            to_ms * 1_000_000
        ))
    }
}

/// `url` without a user and password (`http://USER:PASSWORD@HOST` → `http://HOST`): links go to
/// chat and mail, the credentials only to Loki (the logs' push). Everything before the last `@`
/// ahead of a query goes, so a password with a stray `/` goes too.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// Percent-encode everything but RFC 3986's unreserved characters.
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

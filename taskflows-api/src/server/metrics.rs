//! `GET /metrics`: the services' state ([`crate::metrics`]) and the API's own requests, for
//! Prometheus. Prometheus cannot sign requests, so the route has its own rule: a client on
//! loopback, or `Authorization: Bearer TOKEN` with the token of `DATA_DIR/api/metrics-token`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::Method;

/// Latency buckets (seconds).
const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The route a path belongs to: a fixed set of labels, never the path itself.
pub(super) fn route_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    match segments.as_slice() {
        ["health"] => "/health",
        ["metrics"] => "/metrics",
        ["openapi.json"] => "/openapi.json",
        ["services"] => "/services",
        ["services", _] => "/services/{name}",
        ["services", _, "status"] => "/services/{name}/status",
        ["services", _, "logs"] => "/services/{name}/logs",
        ["services", _, "units"] => "/services/{name}/units",
        ["services", _, _] => "/services/{name}/{action}",
        ["list"] => "/list",
        ["units"] => "/units",
        ["history"] => "/history",
        ["next"] => "/next",
        ["check"] => "/check",
        ["runs"] => "/runs",
        ["monitor", "check"] => "/monitor/check",
        ["environments"] => "/environments",
        ["environments", _] => "/environments/{name}",
        _ => "other",
    }
}

#[derive(Default)]
struct Latency {
    /// Counts per bucket (not cumulative), then the +Inf overflow.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

/// What the API served.
#[derive(Default)]
pub(super) struct Requests {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    counts: BTreeMap<(&'static str, &'static str, u16), u64>,
    latency: BTreeMap<&'static str, Latency>,
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

impl Requests {
    pub(super) fn record(&self, route: &'static str, method: &Method, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        *inner.counts.entry((route, method_label(method), status)).or_default() += 1;
        let l = inner.latency.entry(route).or_default();
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        l.buckets[i] += 1;
        l.sum += secs;
        l.count += 1;
    }

    /// The request metrics in the text format.
    pub(super) fn render(&self) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        out.push_str("# HELP taskflows_api_requests_total Requests answered, by route, method and status.\n");
        out.push_str("# TYPE taskflows_api_requests_total counter\n");
        for ((route, method, status), n) in &inner.counts {
            let _ = writeln!(
                out,
                "taskflows_api_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str("# HELP taskflows_api_request_duration_seconds How long requests took to answer, by route.\n");
        out.push_str("# TYPE taskflows_api_request_duration_seconds histogram\n");
        for (route, l) in &inner.latency {
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += l.buckets[i];
                let _ = writeln!(
                    out,
                    "taskflows_api_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "taskflows_api_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                l.count
            );
            let _ = writeln!(out, "taskflows_api_request_duration_seconds_sum{{route=\"{route}\"}} {}", l.sum);
            let _ = writeln!(out, "taskflows_api_request_duration_seconds_count{{route=\"{route}\"}} {}", l.count);
        }
        out
    }
}

/// `DATA_DIR/api/metrics-token`: the bearer token Prometheus scrapes from beyond loopback with.
pub fn token_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("api").join("metrics-token")
}

/// The token, when there is a sound one (its owner's alone, at least 32 bytes).
pub(super) fn load_token(path: &std::path::Path) -> crate::Result<Option<String>> {
    use std::os::unix::fs::MetadataExt as _;
    let Ok(meta) = std::fs::symlink_metadata(path) else { return Ok(None) };
    if !meta.is_file() || meta.mode() & 0o077 != 0 || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(crate::Error::invalid(format!(
            "the metrics token {} must be a regular file of this user's, mode 0600",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(crate::Error::io("read", path))?;
    let token = text.trim().to_owned();
    crate::security::check_secret(&token)
        .map_err(|e| crate::Error::invalid(format!("the metrics token {}: {e}", path.display())))?;
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_map_to_a_fixed_set_of_routes() {
        use super::route_of;
        assert_eq!(route_of("/services/web/start"), "/services/{name}/{action}");
        assert_eq!(route_of("/services/web/status"), "/services/{name}/status");
        assert_eq!(route_of("/services/a/b/c/d"), "other");
        assert_eq!(route_of("//services"), "other");
    }

    /// `promtool check metrics` (Debian's prometheus package) accepts the whole exposition.
    #[test]
    fn promtool_accepts_the_metrics() {
        use std::io::Write as _;
        let promtool =
            ["/usr/bin/promtool", "/usr/local/bin/promtool"].into_iter().find(|p| std::path::Path::new(p).exists());
        let promtool = promtool.expect("promtool is missing: apt-get install prometheus");
        let states = crate::metrics::recorded_states();
        let r = super::Requests::default();
        r.record("/services", &axum::http::Method::GET, 200, std::time::Duration::from_millis(2));
        let mut counts = taskflows_systemd::RunCounts::default();
        counts.services.entry("taskflows-nightly.service".into()).or_default().insert("exit-code".into(), 2);
        let task = counts.tasks.entry(("taskflows-nightly.service".into(), "load".into())).or_default();
        task.by_result.insert("success".into(), 3);
        task.seconds = 4.5;
        task.timed = 3;
        let text = crate::metrics::services(&states) + &crate::metrics::runs(&counts) + &r.render();
        let mut child = std::process::Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && said.trim().is_empty(), "promtool: {said}\n{text}");
    }

    #[test]
    fn latency_is_a_cumulative_histogram() {
        let r = super::Requests::default();
        let get = axum::http::Method::GET;
        r.record("/services", &get, 200, std::time::Duration::from_micros(800));
        r.record("/services", &get, 200, std::time::Duration::from_millis(30));
        r.record("/services", &get, 401, std::time::Duration::from_secs(20));
        let text = r.render();
        assert!(
            text.contains("taskflows_api_requests_total{route=\"/services\",method=\"GET\",status=\"200\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("le=\"0.001\"} 1\n") && text.contains("le=\"0.05\"} 2\n") && text.contains("le=\"10\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("le=\"+Inf\"} 3\n"), "{text}");
    }
}

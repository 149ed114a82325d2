//! Log lines pushed straight to Loki's HTTP API (`POST /loki/api/v1/push`), for a process whose
//! stderr is not the journal (a task run from a terminal, cron or a container): with
//! `TASKFLOWS_LOKI_URL` set (else `LOKI_HOST` and `LOKI_PORT`), [`super::init`] adds a
//! [`LokiLayer`] beside the stderr output. Under systemd the journal is shipped by the pipelines
//! of `tf observability config`, and nothing is pushed twice.
//!
//! Lines carry the labels those pipelines set, so the same queries find them (alert links,
//! the dashboard's logs panel): `job="taskflows"`, `environment` and `app` (`ENVIRONMENT`,
//! `APP_NAME`), `unit` when the process runs in a service unit (as [`LogLinks`] finds it),
//! `task` inside a task's span (its `task_name`), and `level`. Nothing with many values is a
//! label: the rest is in the line, as logfmt — `msg="…"`, the event's fields, then its spans'
//! fields from the outermost (a task's `task_id`), e.g. `msg="fetched" rows=3 task_id=4242-1`.
//! logfmt rather than JSON because it reads as text in Grafana, Loki's `| logfmt` parses it, and
//! it is the `key=value` form the Fluent Bit pipeline gives journal lines.
//!
//! Events wait in a bounded queue ([`PushPolicy`]); when it is full a line is dropped and
//! counted, and the count goes out in a later line (`dropped=N`, with `failed=N` for lines Loki
//! did not take). A thread of its own sends them in batches and retries; emitting an event
//! never waits for Loki.
//!
//! [`LogLinks`]: taskflows_alerts::LogLinks

mod ship;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The form `TASKFLOWS_LOKI_URL` must have.
const URL_FORM: &str = "http[s]://[USER:PASSWORD@]HOST[:PORT][/PATH] (Loki's base URL) is allowed";
/// A longer line is cut (Loki refuses lines over its `max_line_size`, 256 KiB by default).
const MAX_LINE: usize = 64 * 1024;

/// Where lines are pushed and the labels every line gets. Its `Debug` shows no credentials.
#[derive(Clone)]
pub struct LokiConfig {
    /// `…/loki/api/v1/push`, with the user and password of `TASKFLOWS_LOKI_URL` if it has them
    /// (reqwest sends them as basic auth).
    push_url: reqwest::Url,
    /// The same without user and password: what messages show.
    shown: String,
    /// `Bearer TASKFLOWS_LOKI_TOKEN`, marked sensitive.
    authorization: Option<reqwest::header::HeaderValue>,
    /// `job`, then `environment`, `app`, `unit` when known.
    labels: Vec<(&'static str, String)>,
}

impl fmt::Debug for LokiConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LokiConfig")
            .field("push_url", &self.shown)
            .field("token", &self.authorization.is_some())
            .field("labels", &self.labels)
            .finish()
    }
}

impl LokiConfig {
    /// From the process's variables, with the `unit` label of the service unit the process runs
    /// in, if any (from `/proc/self/cgroup`, as alert links find it). `None` when neither
    /// `TASKFLOWS_LOKI_URL` nor `LOKI_HOST` is set.
    pub fn from_env() -> crate::Result<Option<LokiConfig>> {
        let config = LokiConfig::from_vars(|name| std::env::var(name).ok())?;
        Ok(config.map(|c| match taskflows_alerts::LogLinks::from_env().unit {
            Some(unit) => c.unit(unit),
            None => c,
        }))
    }

    /// From variables looked up by `var`: `TASKFLOWS_LOKI_URL` (else `http://LOKI_HOST:LOKI_PORT`,
    /// port 3100 by default), `TASKFLOWS_LOKI_TOKEN` (a bearer token, optional), `ENVIRONMENT`
    /// and `APP_NAME` (labels when set). `None` when no Loki is named. An error names the variable
    /// and what is allowed, and never shows a password or the token.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> crate::Result<Option<LokiConfig>> {
        let var = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let mut url = match var("TASKFLOWS_LOKI_URL") {
            Some(raw) => base_url(&raw)?,
            None => match crate::observability::loki_host_port(&var)? {
                Some((host, port)) => reqwest::Url::parse(&format!("http://{host}:{port}"))
                    .map_err(|_| crate::Error::usage("LOKI_HOST: a host name or address is allowed", None))?,
                None => return Ok(None),
            },
        };
        let path = format!("{}/loki/api/v1/push", url.path().trim_end_matches('/'));
        url.set_path(&path);
        let mut shown = url.clone();
        let has_user = !url.username().is_empty() || url.password().is_some();
        // Cannot fail: the URL has a host (checked in `base_url`).
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        let authorization = match var("TASKFLOWS_LOKI_TOKEN") {
            None => None,
            Some(_) if has_user => {
                return Err(crate::Error::usage(
                    "TASKFLOWS_LOKI_TOKEN is set and TASKFLOWS_LOKI_URL has a user: one way of signing in is allowed",
                    None,
                ));
            }
            Some(token) => {
                let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
                    crate::Error::usage("TASKFLOWS_LOKI_TOKEN: visible ASCII characters are allowed", None)
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let mut labels = vec![("job", "taskflows".to_owned())];
        if let Some(environment) = crate::observability::label_var(&var, "ENVIRONMENT")? {
            labels.push(("environment", environment));
        }
        if let Some(app) = crate::observability::label_var(&var, "APP_NAME")? {
            labels.push(("app", app));
        }
        Ok(Some(LokiConfig { push_url: url, shown: shown.to_string(), authorization, labels }))
    }

    /// With the label `unit` (the service unit, `taskflows-NAME.service`).
    pub fn unit(mut self, unit: impl Into<String>) -> LokiConfig {
        self.labels.retain(|(name, _)| *name != "unit");
        self.labels.push(("unit", unit.into()));
        self
    }

    /// The push endpoint, without user or password.
    pub fn push_url(&self) -> &str {
        &self.shown
    }

    /// The labels every line gets (`task` and `level` come with each line).
    pub fn labels(&self) -> &[(&'static str, String)] {
        &self.labels
    }
}

/// `raw` as Loki's base URL: http or https, a host, no query or fragment.
fn base_url(raw: &str) -> crate::Result<reqwest::Url> {
    let bad = |why: &str| crate::Error::usage(format!("TASKFLOWS_LOKI_URL {:?}: {why}; {URL_FORM}", redact(raw)), None);
    let url = reqwest::Url::parse(raw).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(&format!("the scheme {:?} is not http or https", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a query or fragment"));
    }
    Ok(url)
}

/// `raw` without what may be a user and password: everything between `://` (or the start) and
/// the last `@` becomes `***`. Textual, so it works on what does not parse.
pub(crate) fn redact(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), raw),
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => raw.to_owned(),
    }
}

/// How lines are queued and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushPolicy {
    /// Lines that may wait (8192); past that a line is dropped and counted.
    pub capacity: usize,
    /// Lines per request (1000): as many waiting send at once.
    pub batch: usize,
    /// How long a line waits for more before it is sent (1 s).
    pub interval: Duration,
    /// How long one request may take (5 s).
    pub timeout: Duration,
    /// The waits before each retry of a request that failed (no answer, 429 or 5xx): 250 ms
    /// and 1 s, so three tries. Other answers (400: e.g. a line too old) are not retried.
    pub retry_delays: Vec<Duration>,
    /// How often at most a failed push is warned about on stderr (a minute).
    pub warn_every: Duration,
}

impl Default for PushPolicy {
    fn default() -> PushPolicy {
        PushPolicy {
            capacity: 8192,
            batch: 1000,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            retry_delays: vec![Duration::from_millis(250), Duration::from_secs(1)],
            warn_every: Duration::from_secs(60),
        }
    }
}

/// The tracing layer: each event becomes a line in the queue of a pushing thread. Dropping it
/// sends what waits and ends the thread.
pub struct LokiLayer {
    queue: Arc<ship::Queue>,
}

/// Waits for the queue to be sent; cloned freely.
#[derive(Debug, Clone)]
pub struct LokiHandle {
    queue: Arc<ship::Queue>,
}

impl LokiHandle {
    /// Send every line queued before this call now, and wait until that is done (delivered, or
    /// given up after the retries) or `timeout` passed. True when done.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.queue.flush(timeout)
    }
}

/// A layer pushing to `config` under `policy`, and its handle; starts the pushing thread.
pub fn layer(config: LokiConfig, policy: PushPolicy) -> std::io::Result<(LokiLayer, LokiHandle)> {
    let queue = ship::start(config, policy)?;
    Ok((LokiLayer { queue: Arc::clone(&queue) }, LokiHandle { queue }))
}

impl Drop for LokiLayer {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// One queued line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Nanoseconds since the epoch.
    pub(crate) nanos: u128,
    pub(crate) level: Level,
    /// The task's name, from the innermost `task` span.
    pub(crate) task: Option<Arc<str>>,
    pub(crate) line: String,
}

/// What a span adds to its events' lines.
struct SpanFields {
    /// `task_name` of a span named `task`.
    task: Option<Arc<str>>,
    /// Its other fields, logfmt.
    line: String,
}

impl<S> tracing_subscriber::Layer<S> for LokiLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if ship::in_pusher() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields { task: None, line: String::new() };
        let is_task = attrs.metadata().name() == "task";
        attrs.record(&mut Fields { line: &mut fields.line, message: None, task: is_task.then_some(&mut fields.task) });
        span.extensions_mut().insert(fields);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let is_task = span.name() == "task";
        let mut extensions = span.extensions_mut();
        if let Some(fields) = extensions.get_mut::<SpanFields>() {
            values.record(&mut Fields {
                line: &mut fields.line,
                message: None,
                task: is_task.then_some(&mut fields.task),
            });
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        // What the pushing thread's HTTP client logs would come back to it.
        if ship::in_pusher() {
            return;
        }
        let (mut message, mut fields) = (String::new(), String::new());
        event.record(&mut Fields { line: &mut fields, message: Some(&mut message), task: None });
        let mut line = String::with_capacity(message.len() + fields.len() + 32);
        if !message.is_empty() {
            pair(&mut line, "msg", &message);
        }
        append(&mut line, &fields);
        let mut task = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<SpanFields>() {
                    if fields.task.is_some() {
                        task.clone_from(&fields.task);
                    }
                    append(&mut line, &fields.line);
                }
            }
        }
        self.queue.push(*event.metadata().level(), task, cut(line));
    }
}

/// Records fields as logfmt pairs; `message` apart when asked, a task span's `task_name` apart.
struct Fields<'a> {
    line: &'a mut String,
    message: Option<&'a mut String>,
    task: Option<&'a mut Option<Arc<str>>>,
}

impl Fields<'_> {
    fn put(&mut self, name: &str, value: &str) {
        match (name, &mut self.message, &mut self.task) {
            ("message", Some(message), _) => message.push_str(value),
            ("task_name", _, Some(task)) => **task = Some(Arc::from(value)),
            _ => pair(self.line, name, value),
        }
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), &format!("{value:?}"));
    }
}

/// Append `more` (logfmt pairs) to `line`.
fn append(line: &mut String, more: &str) {
    if more.is_empty() {
        return;
    }
    if !line.is_empty() {
        line.push(' ');
    }
    line.push_str(more);
}

/// Append `key=value` to `line` (after a blank unless it is empty): the value bare when it has
/// no blank, `=`, `"` or control character, else quoted with `\"`, `\\`, `\n`, `\r`, `\t` and
/// `\u{…}` escapes. A key's blanks, `=` and `"` become `_`.
pub(crate) fn pair(line: &mut String, key: &str, value: &str) {
    if !line.is_empty() {
        line.push(' ');
    }
    line.extend(key.chars().map(|c| if c.is_whitespace() || c.is_control() || c == '=' || c == '"' { '_' } else { c }));
    line.push('=');
    let bare = !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '=' || c == '"');
    if bare {
        line.push_str(value);
        return;
    }
    line.push('"');
    for c in value.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c.is_control() => line.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => line.push(c),
        }
    }
    line.push('"');
}

/// `line` cut to [`MAX_LINE`] bytes (at a character's boundary), marked when cut.
pub(crate) fn cut(mut line: String) -> String {
    if line.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push_str(" …(cut)");
    }
    line
}

/// The level's label value, as Grafana recognizes it.
fn level_label(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

#[derive(serde::Serialize)]
struct Body<'a> {
    streams: Vec<Stream<'a>>,
}

/// `[nanoseconds as a string, line]` pairs.
type Values<'a> = Vec<(String, &'a str)>;

#[derive(serde::Serialize)]
struct Stream<'a> {
    stream: BTreeMap<&'a str, &'a str>,
    values: Values<'a>,
}

/// The push request's JSON body: one stream per task and level, each with `labels` and its
/// `task` and `level`, lines in queue order.
pub(crate) fn body(labels: &[(&'static str, String)], entries: &[Entry]) -> Vec<u8> {
    // by (task, level)
    let mut streams: BTreeMap<(Option<&str>, &str), Values<'_>> = BTreeMap::new();
    for entry in entries {
        let key = (entry.task.as_deref(), level_label(entry.level));
        streams.entry(key).or_default().push((entry.nanos.to_string(), entry.line.as_str()));
    }
    let streams = streams
        .into_iter()
        .map(|((task, level), values)| {
            let mut stream: BTreeMap<&str, &str> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
            if let Some(task) = task {
                stream.insert("task", task);
            }
            stream.insert("level", level);
            Stream { stream, values }
        })
        .collect();
    serde_json::to_vec(&Body { streams }).unwrap_or_default()
}

#[cfg(test)]
mod tests;

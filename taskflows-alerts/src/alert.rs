//! Alerts: what is sent (start, error, finish), to where, and how hard delivery tries.

use std::time::Instant;

use jiff::Timestamp;

use crate::destination::Destination;
use crate::error::AttemptError;
use crate::links::LogLinks;
use crate::silences::Silences;
use crate::table::Table;
use crate::task::TaskId;

/// Which events send an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlertEvents {
    /// `Starting: NAME`, before the first attempt.
    pub start: bool,
    /// One alert per failed attempt.
    pub error: bool,
    /// `Finished: NAME | …`, after the last attempt.
    pub finish: bool,
}

impl Default for AlertEvents {
    /// All of them.
    fn default() -> AlertEvents {
        AlertEvents { start: true, error: true, finish: true }
    }
}

/// How hard delivery of one alert tries. Every alert takes at most `total` in all, whatever
/// the destinations do; a destination is tried at most `attempts` times, each attempt at most
/// `attempt_timeout`, with `retry_delay` between attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryPolicy {
    /// Tries per destination (at least 1).
    pub attempts: u32,
    /// The limit of one try.
    pub attempt_timeout: std::time::Duration,
    /// The wait between tries.
    pub retry_delay: std::time::Duration,
    /// The limit for delivering one alert to all destinations.
    pub total: std::time::Duration,
}

impl Default for DeliveryPolicy {
    /// 3 tries of at most 5s, 500ms apart, 15s in all.
    fn default() -> DeliveryPolicy {
        DeliveryPolicy {
            attempts: 3,
            attempt_timeout: std::time::Duration::from_secs(5),
            retry_delay: std::time::Duration::from_millis(500),
            total: std::time::Duration::from_secs(15),
        }
    }
}

/// Where a task's alerts go, on which events, with which log links.
#[derive(Debug, Clone, Default)]
pub struct Alerts {
    destinations: Vec<Destination>,
    events: AlertEvents,
    links: LogLinks,
    delivery: DeliveryPolicy,
    service: Option<String>,
    silences: Option<Silences>,
}

impl Alerts {
    /// No alerts: the task only logs.
    pub fn none() -> Alerts {
        Alerts::default()
    }

    /// Alerts on every event to `destinations`, unless the service is silenced in
    /// [`Silences::default_path`].
    pub fn new(destinations: impl IntoIterator<Item = Destination>) -> Alerts {
        Alerts {
            destinations: destinations.into_iter().collect(),
            silences: Some(Silences::new(Silences::default_path())),
            ..Alerts::default()
        }
    }

    /// The taskflows service tasks' alerts are about (default: the one this process runs in,
    /// from its cgroup, if any).
    pub fn service(mut self, name: impl Into<String>) -> Alerts {
        self.service = Some(name.into());
        self
    }

    /// Where silenced services are looked up (default for [`Alerts::new`]: the file at
    /// [`Silences::default_path`]).
    pub fn silences(mut self, silences: Silences) -> Alerts {
        self.silences = Some(silences);
        self
    }

    /// What a task's alert is about: the service set, else this process's, and this host.
    fn about(&self) -> (Vec<String>, Option<String>) {
        let service = self.service.clone().or_else(|| crate::origin::current_service().map(str::to_owned));
        (service.into_iter().collect(), crate::origin::host().map(str::to_owned))
    }

    /// Which events send alerts.
    pub fn events(mut self, events: AlertEvents) -> Alerts {
        self.events = events;
        self
    }

    /// Links to the task's logs in alerts.
    pub fn links(mut self, links: LogLinks) -> Alerts {
        self.links = links;
        self
    }

    /// How hard delivery tries.
    pub fn delivery(mut self, delivery: DeliveryPolicy) -> Alerts {
        self.delivery = delivery;
        self
    }

    pub(crate) fn is_active(&self) -> bool {
        !self.destinations.is_empty() && (self.events.start || self.events.error || self.events.finish)
    }

    pub(crate) async fn on_start(&self, run: &TaskRun) {
        if self.events.start {
            let (services, host) = self.about();
            let alert = Alert {
                kind: AlertKind::Start,
                task_name: run.name.clone(),
                task_id: run.id,
                title: format!("Starting: {}", run.name),
                body: String::new(),
                link: None,
                table: None,
                services,
                host,
            };
            self.deliver(&alert).await;
        }
    }

    pub(crate) async fn on_error(&self, run: &TaskRun, error: &AttemptError, attempt: u32, attempts: u32) {
        if self.events.error {
            let (services, host) = self.about();
            let alert = Alert {
                kind: AlertKind::Error,
                task_name: run.name.clone(),
                task_id: run.id,
                title: format!("{} Error executing task {}: {}", error.kind(), run.name, error),
                body: format!("Attempt {attempt} of {attempts}.\n\n{}", error_chain(error)),
                link: self.links.explore(&run.name, run.id, run.started, Timestamp::now()),
                table: None,
                services,
                host,
            };
            self.deliver(&alert).await;
        }
    }

    pub(crate) async fn on_finish(&self, run: &TaskRun, outcome: &TaskOutcome<'_>) {
        if self.events.finish {
            let finished = Timestamp::now();
            let elapsed = run.clock.elapsed();
            let body = match outcome {
                TaskOutcome::Succeeded { attempt, attempts, result: None } => {
                    format!("Result: succeeded on attempt {attempt} of {attempts}.")
                }
                TaskOutcome::Succeeded { attempt, attempts, result: Some(value) } => format!(
                    "Result: {}\n\nSucceeded on attempt {attempt} of {attempts}.",
                    truncate(&value.to_string(), RESULT_MAX)
                ),
                TaskOutcome::Failed { attempts, error } => {
                    format!("Result: failed after {attempts} attempt(s).\n\n{}: {}", error.kind(), error_chain(error))
                }
            };
            let (services, host) = self.about();
            let alert = Alert {
                kind: AlertKind::Finish,
                task_name: run.name.clone(),
                task_id: run.id,
                title: format!(
                    "Finished: {} | {} - {} ({})",
                    run.name,
                    format_time(run.started),
                    format_time(finished),
                    format_elapsed(elapsed)
                ),
                body,
                link: self.links.explore(&run.name, run.id, run.started, finished),
                table: None,
                services,
                host,
            };
            self.deliver(&alert).await;
        }
    }

    /// Whether there is any destination.
    pub fn has_destinations(&self) -> bool {
        !self.destinations.is_empty()
    }

    /// Send `alert` to every destination at once, within the delivery bound; failures are
    /// logged. True when every destination took it.
    ///
    /// An alert about services that are all silenced now is not sent (and counts as delivered).
    pub async fn deliver(&self, alert: &Alert) -> bool {
        if let Some(silences) = &self.silences
            && !alert.services.is_empty()
            && alert.services.iter().all(|s| silences.until(s).is_some())
        {
            tracing::info!(alert = %alert.title, services = ?alert.services, "alert silenced");
            return true;
        }
        let all = futures_util::future::join_all(self.destinations.iter().map(|d| self.deliver_to(d, alert)));
        match tokio::time::timeout(self.delivery.total, all).await {
            Ok(delivered) => delivered.into_iter().all(|ok| ok),
            Err(_) => {
                tracing::warn!(
                    alert = %alert.title,
                    limit = ?self.delivery.total,
                    "alert delivery abandoned: it took longer than its limit"
                );
                false
            }
        }
    }

    async fn deliver_to(&self, destination: &Destination, alert: &Alert) -> bool {
        let attempts = self.delivery.attempts.max(1);
        for attempt in 1..=attempts {
            let error = match tokio::time::timeout(self.delivery.attempt_timeout, destination.send(alert)).await {
                Ok(Ok(())) => return true,
                Ok(Err(e)) => e,
                Err(_) => format!("no answer within {:?}", self.delivery.attempt_timeout),
            };
            tracing::warn!(destination = destination.kind(), attempt, attempts, %error, "failed to send an alert");
            if attempt < attempts {
                tokio::time::sleep(self.delivery.retry_delay).await;
            }
        }
        tracing::error!(destination = destination.kind(), alert = %alert.title, "alert not delivered; giving up");
        false
    }
}

/// One alert, as destinations render it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// Which event.
    pub kind: AlertKind,
    /// The task's name.
    pub task_name: String,
    /// The task's run.
    pub task_id: TaskId,
    /// The one-line summary (`Starting: NAME`, …); may be long, destinations truncate it.
    pub title: String,
    /// Details (attempts, the full error), possibly empty.
    pub body: String,
    /// A link to the task's logs, when configured.
    pub link: Option<String>,
    /// A table after the body (Slack: code blocks or a file; mail: an HTML table).
    pub table: Option<Table>,
    /// The taskflows services the alert is about (empty: none): Slack gives each buttons,
    /// and the alert is not sent while all of them are silenced.
    pub services: Vec<String>,
    /// The host those services run on, when known.
    pub host: Option<String>,
}

impl Alert {
    /// An alert from a check (e.g. the missed-run monitor) named `name`, not from a task run.
    pub fn check(name: &str, title: impl Into<String>, body: impl Into<String>, table: Option<Table>) -> Alert {
        Alert {
            kind: AlertKind::Check,
            task_name: name.to_owned(),
            task_id: TaskId::next(),
            title: title.into(),
            body: body.into(),
            link: None,
            table,
            services: Vec::new(),
            host: None,
        }
    }

    /// This alert, about `services` on `host`.
    pub fn about(mut self, services: Vec<String>, host: Option<String>) -> Alert {
        self.services = services;
        self.host = host;
        self
    }

    /// The full text: title, body, table and link, one paragraph each.
    pub fn full_text(&self) -> String {
        let mut text = self.title.clone();
        if !self.body.is_empty() {
            text.push_str("\n\n");
            text.push_str(&self.body);
        }
        if let Some(table) = &self.table {
            text.push_str("\n\n");
            text.push_str(table.to_text().trim_end());
        }
        if let Some(link) = &self.link {
            text.push_str("\n\nLogs: ");
            text.push_str(link);
        }
        text
    }
}

/// The event an alert reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// The task starts.
    Start,
    /// An attempt failed.
    Error,
    /// The task finished, successfully or not.
    Finish,
    /// A check found something (or found it resolved); not a task event.
    Check,
}

pub(crate) struct TaskRun {
    name: String,
    id: TaskId,
    started: Timestamp,
    clock: Instant,
}

impl TaskRun {
    pub(crate) fn start(name: &str, id: TaskId) -> TaskRun {
        TaskRun { name: name.to_owned(), id, started: Timestamp::now(), clock: Instant::now() }
    }
}

pub(crate) enum TaskOutcome<'a> {
    /// `result`: the task's value, when it can be shown.
    Succeeded {
        attempt: u32,
        attempts: u32,
        result: Option<&'a dyn std::fmt::Display>,
    },
    Failed {
        attempts: u32,
        error: &'a AttemptError,
    },
}

fn error_chain(error: &AttemptError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    // `Failed` shows its source already
    if matches!(error, AttemptError::Failed { .. }) {
        source = source.and_then(std::error::Error::source);
    }
    while let Some(e) = source {
        text.push_str("\ncaused by: ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn format_elapsed(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h {}min {}s", secs / 3600, secs % 3600 / 60, secs % 60)
    } else if secs >= 60 {
        format!("{}min {}s", secs / 60, secs % 60)
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

/// The most characters of a task's value a finish alert shows.
pub(crate) const RESULT_MAX: usize = 1000;

/// `text` cut to at most `max` characters, with a note of how much was cut.
pub(crate) fn truncate(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let count = text.chars().count();
    if count <= max {
        return text.into();
    }
    let note = |keep: usize| format!("… ({} more characters)", count - keep);
    // the note's length depends on the number in it: settle it in two rounds
    let keep = max.saturating_sub(note(max).chars().count());
    let keep = max.saturating_sub(note(keep).chars().count());
    let note = note(keep);
    let mut out: String = text.chars().take(keep).collect();
    out.push_str(&note);
    out.into()
}

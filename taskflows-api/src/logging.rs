//! How every taskflows binary logs (`tf`, the API server, `taskflows-app` programs): through
//! tracing-subscriber, filtered by `TASKFLOWS_LOG` (else `RUST_LOG`, else the binary's default,
//! e.g. `warn` for `tf`, `info` for the server), to the journal with structured fields when the
//! process's stderr is the journal (`JOURNAL_STREAM`, as systemd sets it for a unit), else as
//! text on stderr, or JSON with `TASKFLOWS_LOG_FORMAT=json`. Off the journal, with
//! `TASKFLOWS_LOKI_URL` (or `LOKI_HOST`) set, lines are also pushed to Loki ([`loki`]); a program
//! calls [`flush`] before it exits so that its last lines get there.

pub mod loki;

use std::sync::OnceLock;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// How log lines look on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `TASKFLOWS_LOG_FORMAT` (`json` or `text`; text otherwise).
    pub fn from_env() -> LogFormat {
        match std::env::var("TASKFLOWS_LOG_FORMAT").as_deref().map(str::trim) {
            Ok("json") => LogFormat::Json,
            _ => LogFormat::Text,
        }
    }
}

/// Where logs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The journal, natively: each event's fields become journal fields.
    Journal,
    /// stderr.
    Stderr(LogFormat),
}

/// Whether stderr is the journal's stream: `JOURNAL_STREAM` names its device and inode.
pub fn stderr_is_journal() -> bool {
    let Ok(stream) = std::env::var("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = stream.split_once(':') else { return false };
    let Ok(stat) = rustix::fs::fstat(std::io::stderr()) else { return false };
    dev.parse::<u64>().ok() == Some(stat.st_dev) && ino.parse::<u64>().ok() == Some(stat.st_ino)
}

/// The filter: `TASKFLOWS_LOG`, else `RUST_LOG`, else `default` (e.g. `warn`, `info`,
/// `taskflows_api=debug`). A filter that does not parse falls back to `default`.
pub fn filter(default: &str) -> EnvFilter {
    filter_from(|name| std::env::var(name).ok(), default)
}

/// [`filter`], with variables looked up by `var`.
fn filter_from(var: impl Fn(&str) -> Option<String>, default: &str) -> EnvFilter {
    let given = var("TASKFLOWS_LOG").or_else(|| var("RUST_LOG"));
    given
        .and_then(|g| EnvFilter::try_new(g).ok())
        .unwrap_or_else(|| EnvFilter::try_new(default).unwrap_or_else(|_| EnvFilter::new("warn")))
}

/// The fields every journal line of this process carries: `APP_NAME` and `ENVIRONMENT`, when
/// set to a value the pipelines can use as a label (a bad one is left out here; `tf
/// observability config` names it).
fn journal_fields(var: impl Fn(&str) -> Option<String>) -> Vec<(&'static str, String)> {
    ["APP_NAME", "ENVIRONMENT"]
        .into_iter()
        .filter_map(|name| crate::observability::label_var(&var, name).ok().flatten().map(|v| (name, v)))
        .collect()
}

/// How long [`flush`] waits for the last lines to reach Loki.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// The pushing thread of the installed subscriber, when it pushes to Loki.
static LOKI: OnceLock<loki::LokiHandle> = OnceLock::new();

/// Install the process's subscriber (unless the program installed one already) and say where
/// logs go. Off the journal, with a Loki named ([`loki::LokiConfig::from_env`]), events are
/// also pushed there; a Loki named wrongly is one error line on stderr, and nothing is pushed.
pub fn init(default: &str) -> Destination {
    init_with(default, None)
}

/// [`init`], with the format on stderr given (a command line's `--log-format`) rather than
/// read from `TASKFLOWS_LOG_FORMAT`.
pub fn init_with(default: &str, format: Option<LogFormat>) -> Destination {
    let filter = filter(default);
    let journal = stderr_is_journal();
    if journal && let Ok(journald) = tracing_journald::layer() {
        // Plain field names (SERVICE, ROUTE …), as the shipped log pipelines read them; every
        // line carries APP_NAME and ENVIRONMENT when they are set (and valid label values).
        let journald = journald.with_field_prefix(None).with_custom_fields(journal_fields(|name| {
            std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
        }));
        let _ = tracing_subscriber::registry().with(filter).with(journald).try_init();
        return Destination::Journal;
    }
    // On the journal's stream (tracing-journald unusable), the pipelines ship the lines already.
    let config = if journal { Ok(None) } else { loki::LokiConfig::from_env() };
    let (loki, handle, error) = match config {
        Ok(None) => (None, None, None),
        Ok(Some(config)) => match loki::layer(config, loki::PushPolicy::default()) {
            Ok((layer, handle)) => (Some(layer), Some(handle), None),
            Err(e) => (None, None, Some(format!("cannot start the thread that pushes logs to Loki: {e}"))),
        },
        Err(e) => (None, None, Some(format!("{e}; log lines are not pushed to Loki"))),
    };
    let format = format.unwrap_or_else(LogFormat::from_env);
    let stderr = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_target(false);
    let registry = tracing_subscriber::registry().with(filter).with(loki);
    let installed = match format {
        LogFormat::Json => registry.with(stderr.json()).try_init(),
        LogFormat::Text => registry.with(stderr).try_init(),
    };
    if installed.is_ok() {
        if let Some(error) = error {
            eprintln!("error: {error}");
        }
        if let Some(handle) = handle {
            let _ = LOKI.set(handle);
        }
    }
    Destination::Stderr(format)
}

/// Send the lines still waiting for Loki, waiting at most [`FLUSH_TIMEOUT`]: what a program
/// calls before it exits. True when they were sent (or given up), or nothing is pushed.
pub fn flush() -> bool {
    LOKI.get().is_none_or(|loki| loki.flush(FLUSH_TIMEOUT))
}

#[cfg(test)]
mod journal_field_tests {
    #[test]
    fn app_name_and_environment_become_fields_when_they_are_label_values() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            super::journal_fields(|n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()))
        };
        assert_eq!(vars(&[]), Vec::<(&str, String)>::new());
        assert_eq!(
            vars(&[("APP_NAME", "billing"), ("ENVIRONMENT", "prod")]),
            vec![("APP_NAME", "billing".to_owned()), ("ENVIRONMENT", "prod".to_owned())]
        );
        assert_eq!(vars(&[("APP_NAME", "bad name\n")]), Vec::<(&str, String)>::new());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn taskflows_log_wins_and_a_bad_filter_falls_back_to_the_default() {
        let from = |pairs: &'static [(&'static str, &'static str)]| {
            super::filter_from(|n| pairs.iter().find(|(k, _)| *k == n).map(|(_, v)| (*v).to_owned()), "info")
                .to_string()
        };
        assert_eq!(from(&[]), "info");
        assert_eq!(from(&[("RUST_LOG", "debug")]), "debug");
        assert_eq!(from(&[("RUST_LOG", "debug"), ("TASKFLOWS_LOG", "taskflows_api=trace")]), "taskflows_api=trace");
        assert_eq!(from(&[("TASKFLOWS_LOG", "[not a filter")]), "info");
    }
}

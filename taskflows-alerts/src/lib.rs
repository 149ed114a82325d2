//! In-process tasks and their alerts: run an async or blocking function as a named task with
//! retries, backoff, a timeout per attempt and a task id ([`run_task`], [`run_blocking_task`],
//! [`current_task_id`]), and send alerts when it starts, fails and finishes — to email (SMTP),
//! Slack (Web API) or a webhook (Discord-style JSON).
//!
//! Each destination is a cargo feature (`email`: lettre, `slack`: slack-morphism, `webhook`:
//! reqwest; all three by default). With `slack`, the crate is also the workspace's one Slack
//! client ([`slack_client`]), Slack text escaping ([`mrkdwn`]) and the alert buttons' contract
//! ([`actions`]) for the bot that answers them; [`Silences`] are read by every task's alerts.
//!
//! Alerts are best effort: delivery retries a bounded number of times within a bounded time,
//! failures are logged through `tracing`, and a task never fails because an alert did. This
//! crate depends on `taskflows-core` alone among taskflows crates: it knows nothing of systemd,
//! D-Bus or unit files. It does not build a runtime: call it from the caller's tokio runtime.
//!
//! ```
//! use std::time::Duration;
//! use taskflows_alerts::{Alerts, TaskPolicy, current_task_id, run_task};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = TaskPolicy::new("fetch-prices").retries(2).timeout(Duration::from_secs(30)).required(true);
//! // e.g. Alerts::new([Webhook::new("https://discord.com/api/webhooks/…")?.into()])
//! let alerts = Alerts::none();
//! let prices: Option<u32> = run_task(&policy, &alerts, || async {
//!     tracing::info!(id = ?current_task_id(), "fetching");
//!     Ok::<_, std::io::Error>(42)
//! })
//! .await?;
//! assert_eq!(prices, Some(42));
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "slack")]
pub mod actions;
mod alert;
mod destination;
#[cfg(feature = "email")]
mod email;
mod error;
mod journal;
mod links;
#[cfg(feature = "slack")]
pub mod mrkdwn;
mod notify;
mod origin;
mod silences;
#[cfg(feature = "slack")]
mod slack;
mod table;
mod task;
#[cfg(feature = "webhook")]
mod webhook;

pub use alert::{Alert, AlertEvents, AlertKind, Alerts, DeliveryPolicy};
pub use destination::Destination;
#[cfg(feature = "email")]
pub use email::{Email, EmailConfig, SmtpSecurity};
pub use error::{AttemptError, Error, TaskError};
pub use links::LogLinks;
pub use notify::Notifier;
pub use silences::Silences;
#[cfg(feature = "slack")]
pub use slack::{API_URL_VAR, SLACK_API_BASE, Slack, api_url_from_vars, slack_client, upload_to_thread};
/// The Slack client library, re-exported so that dependents use the version this crate does.
#[cfg(feature = "slack")]
pub use slack_morphism;
pub use table::Table;
pub use task::{TaskId, current_task_id, run_blocking_task, run_task, run_task_with_result};
pub use taskflows_core::{Backoff, TaskPolicy};
#[cfg(feature = "webhook")]
pub use webhook::Webhook;

#[cfg(test)]
mod tests;

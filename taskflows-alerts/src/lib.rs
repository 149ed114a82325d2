//! In-process tasks and their alerts: run an async or blocking function as a named task with
//! retries, backoff, a timeout per attempt and a task id ([`run_task`], [`run_blocking_task`],
//! [`current_task_id`]), and send alerts when it starts, fails and finishes — to email (SMTP),
//! Slack (Web API) or a webhook (Discord-style JSON).
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

mod alert;
mod destination;
mod email;
mod error;
mod journal;
mod links;
mod slack;
mod table;
mod task;
mod webhook;

pub use alert::{Alert, AlertEvents, AlertKind, Alerts, DeliveryPolicy};
pub use destination::Destination;
pub use email::{Email, EmailConfig, SmtpSecurity};
pub use error::{AttemptError, Error, TaskError};
pub use links::LogLinks;
pub use slack::{SLACK_API_BASE, Slack};
pub use table::Table;
pub use task::{TaskId, current_task_id, run_blocking_task, run_task};
pub use taskflows_core::{Backoff, TaskPolicy};
pub use webhook::Webhook;

#[cfg(test)]
mod tests;

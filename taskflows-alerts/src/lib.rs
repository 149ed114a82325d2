//! In-process tasks and their alerts: run an async or blocking function as a named task with
//! retries, backoff, a timeout per attempt and a task id ([`run_task`], [`run_blocking_task`],
//! [`current_task_id`]), and send alerts when it starts, fails and finishes — to email (SMTP),
//! Slack (Web API) or a webhook (Discord-style JSON).
//!
//! Alerts are best effort: delivery retries a bounded number of times within a bounded time,
//! failures are logged through `tracing`, and a task never fails because an alert did. This
//! crate depends on `taskflows-core` alone among taskflows crates: it knows nothing of systemd,
//! D-Bus or unit files. It does not build a runtime: call it from the caller's tokio runtime.

mod alert;
mod destination;
mod email;
mod error;
mod links;
mod policy;
mod slack;
mod task;
mod webhook;

pub use alert::{Alert, AlertEvents, AlertKind, Alerts, DeliveryPolicy};
pub use destination::Destination;
pub use email::{Email, EmailConfig, SmtpSecurity};
pub use error::{AttemptError, Error, TaskError};
pub use links::LogLinks;
pub use policy::{Backoff, TaskPolicy};
pub use slack::{SLACK_API_BASE, Slack};
pub use task::{TaskId, current_task_id, run_blocking_task, run_task};
pub use webhook::Webhook;

#[cfg(test)]
mod tests;

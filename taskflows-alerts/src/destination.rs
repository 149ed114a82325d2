//! Where alerts go: email, Slack, or a webhook.

use crate::alert::Alert;
use crate::email::Email;
use crate::slack::Slack;
use crate::webhook::Webhook;

/// One place alerts are sent to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Destination {
    /// Mail over SMTP, one message to all receivers.
    Email(Email),
    /// A Slack channel, through the Web API's `chat.postMessage`.
    Slack(Slack),
    /// A webhook taking Discord's `{"content": …}` JSON.
    Webhook(Webhook),
}

impl Destination {
    /// Send once; the error says why it failed. Retries and time limits are the caller's.
    pub async fn send(&self, alert: &Alert) -> Result<(), String> {
        match self {
            Destination::Email(email) => email.send(alert).await,
            Destination::Slack(slack) => slack.send(alert).await,
            Destination::Webhook(webhook) => webhook.send(alert).await,
        }
    }

    /// `email`, `slack` or `webhook`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Destination::Email(_) => "email",
            Destination::Slack(_) => "slack",
            Destination::Webhook(_) => "webhook",
        }
    }
}

impl From<Email> for Destination {
    fn from(email: Email) -> Destination {
        Destination::Email(email)
    }
}

impl From<Slack> for Destination {
    fn from(slack: Slack) -> Destination {
        Destination::Slack(slack)
    }
}

impl From<Webhook> for Destination {
    fn from(webhook: Webhook) -> Destination {
        Destination::Webhook(webhook)
    }
}

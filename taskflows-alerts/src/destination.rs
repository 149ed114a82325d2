//! Where alerts go: email, Slack, or a webhook (each behind the cargo feature of that name).

use crate::alert::Alert;
#[cfg(feature = "email")]
use crate::email::Email;
#[cfg(feature = "slack")]
use crate::slack::Slack;
#[cfg(feature = "webhook")]
use crate::webhook::Webhook;

/// One place alerts are sent to.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Destination {
    /// Mail over SMTP, one message to all receivers.
    #[cfg(feature = "email")]
    Email(Email),
    /// A Slack channel, through the Web API's `chat.postMessage`.
    #[cfg(feature = "slack")]
    Slack(Slack),
    /// A webhook taking Discord's `{"content": …}` JSON.
    #[cfg(feature = "webhook")]
    Webhook(Webhook),
}

impl Destination {
    /// Send once; the error says why it failed. Retries and time limits are the caller's.
    pub async fn send(&self, alert: &Alert) -> Result<(), String> {
        match self {
            #[cfg(feature = "email")]
            Destination::Email(email) => email.send(alert).await,
            #[cfg(feature = "slack")]
            Destination::Slack(slack) => slack.send(alert).await,
            #[cfg(feature = "webhook")]
            Destination::Webhook(webhook) => webhook.send(alert).await,
            #[cfg(not(any(feature = "email", feature = "slack", feature = "webhook")))]
            _ => {
                let _ = alert;
                match *self {}
            }
        }
    }

    /// `email`, `slack` or `webhook`, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            #[cfg(feature = "email")]
            Destination::Email(_) => "email",
            #[cfg(feature = "slack")]
            Destination::Slack(_) => "slack",
            #[cfg(feature = "webhook")]
            Destination::Webhook(_) => "webhook",
            #[cfg(not(any(feature = "email", feature = "slack", feature = "webhook")))]
            _ => match *self {},
        }
    }
}

#[cfg(feature = "email")]
impl From<Email> for Destination {
    fn from(email: Email) -> Destination {
        Destination::Email(email)
    }
}

#[cfg(feature = "slack")]
impl From<Slack> for Destination {
    fn from(slack: Slack) -> Destination {
        Destination::Slack(slack)
    }
}

#[cfg(feature = "webhook")]
impl From<Webhook> for Destination {
    fn from(webhook: Webhook) -> Destination {
        Destination::Webhook(webhook)
    }
}

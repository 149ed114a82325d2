//! Slack alerts through the Web API's `chat.postMessage`, over a plain HTTP client.

use std::fmt;

use serde_json::{Value, json};

use crate::alert::{Alert, truncate};
use crate::error::Error;

/// Slack's Web API, the production default.
pub const SLACK_API_BASE: &str = "https://slack.com/api/";

/// The most characters of a `section` block's text Slack accepts.
const SECTION_MAX: usize = 3000;

/// A Slack channel and the bot token that posts to it.
#[derive(Clone)]
pub struct Slack {
    client: reqwest::Client,
    token: String,
    channel: String,
    api_base: String,
}

impl fmt::Debug for Slack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slack").field("channel", &self.channel).field("api_base", &self.api_base).finish()
    }
}

impl Slack {
    /// Post to `channel` (a name like `#alerts` or an id) with a bot token (`xoxb-…`).
    pub fn new(token: impl Into<String>, channel: impl Into<String>) -> Result<Slack, Error> {
        Ok(Slack {
            client: crate::webhook::http_client()?,
            token: token.into(),
            channel: channel.into(),
            api_base: SLACK_API_BASE.to_owned(),
        })
    }

    /// With the token from `SLACK_BOT_TOKEN`.
    pub fn from_env(channel: impl Into<String>) -> Result<Slack, Error> {
        let token = std::env::var("SLACK_BOT_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or(Error::MissingEnv("SLACK_BOT_TOKEN"))?;
        Slack::new(token, channel)
    }

    /// Another Web API base URL (default [`SLACK_API_BASE`]), e.g. a local server in tests.
    pub fn api_base(mut self, base: impl Into<String>) -> Slack {
        let mut base = base.into();
        if !base.ends_with('/') {
            base.push('/');
        }
        self.api_base = base;
        self
    }

    /// The `chat.postMessage` request body for `alert`.
    pub fn message(&self, alert: &Alert) -> Value {
        let mut blocks = vec![section(&format!("*{}*", alert.title))];
        if !alert.body.is_empty() {
            // a code block keeps tracebacks and tables aligned
            blocks.push(section(&format!("```{}```", truncate(&alert.body, SECTION_MAX - 6))));
        }
        let mut context = format!("task id {}", alert.task_id);
        if let Some(link) = &alert.link {
            context.push_str(&format!(" · <{link}|Logs>"));
        }
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": context }] }));
        json!({
            "channel": self.channel,
            "text": truncate(&alert.title, SECTION_MAX),
            "blocks": blocks,
        })
    }

    pub(crate) async fn send(&self, alert: &Alert) -> Result<(), String> {
        let body = serde_json::to_vec(&self.message(alert)).map_err(|e| e.to_string())?;
        let response = self
            .client
            .post(format!("{}chat.postMessage", self.api_base))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body)
            .send()
            .await
            .map_err(|e| format!("slack: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| format!("slack: {e}"))?;
        if !status.is_success() {
            return Err(format!("slack: HTTP {status}"));
        }
        let answer: Value = serde_json::from_slice(&bytes).map_err(|e| format!("slack: unreadable answer: {e}"))?;
        if answer["ok"] == Value::Bool(true) {
            Ok(())
        } else {
            Err(format!("slack: {}", answer["error"].as_str().unwrap_or("not ok")))
        }
    }
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(text, SECTION_MAX) } })
}

//! Webhook alerts: a POST of Discord's `{"content": …}` JSON (Discord, Mattermost, many others).

use serde_json::json;

use crate::alert::{Alert, truncate};
use crate::error::Error;

/// Discord's limit on a message's content.
const CONTENT_MAX: usize = 2000;

/// A webhook URL.
#[derive(Debug, Clone)]
pub struct Webhook {
    client: reqwest::Client,
    url: String,
}

impl Webhook {
    /// POST alerts to `url`.
    pub fn new(url: impl Into<String>) -> Result<Webhook, Error> {
        Ok(Webhook { client: http_client()?, url: url.into() })
    }

    pub(crate) async fn send(&self, alert: &Alert) -> Result<(), String> {
        let body = json!({ "content": truncate(&alert.full_text(), CONTENT_MAX) });
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
            // A webhook's URL is its secret: reqwest's errors name it, so it is cut out.
            .map_err(|e| format!("webhook: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() { Ok(()) } else { Err(format!("webhook: HTTP {status}")) }
    }
}

pub(crate) fn http_client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder().build().map_err(Error::HttpClient)
}

//! The Web API methods the bot calls, through slack-morphism's client (the one Slack client of
//! the workspace, `taskflows_alerts::slack_client`). Errors name the method and Slack's error
//! code, never a response body (it can hold URLs with tickets) or a token.

use std::sync::Arc;

use serde_json::Value;
use taskflows_alerts::slack_morphism::errors::SlackClientError;
use taskflows_alerts::slack_morphism::prelude::*;

/// The most bytes of one uploaded answer (Slack accepts far more; a bot's answer is read).
pub(crate) const UPLOAD_MAX: usize = 8 * 1024 * 1024;

/// A Slack workspace as the bot's token sees it.
#[derive(Clone)]
pub struct Web {
    client: Arc<SlackHyperClient>,
    token: SlackApiToken,
}

impl std::fmt::Debug for Web {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Web")
    }
}

/// What went wrong calling Slack: the method and a short reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebError {
    /// e.g. `chat.postMessage`.
    pub method: &'static str,
    /// Slack's error code (`not_in_channel`, `invalid_auth` …) or what failed.
    pub reason: String,
}

impl std::fmt::Display for WebError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slack: {}: {}", self.method, self.reason)
    }
}

/// A slack-morphism error as a short reason, without bodies.
pub(crate) fn describe(e: &SlackClientError) -> String {
    match e {
        SlackClientError::ApiError(e) => e.code.clone(),
        SlackClientError::HttpError(e) => format!("HTTP {}", e.status_code),
        SlackClientError::HttpProtocolError(_) => "cannot reach Slack".to_owned(),
        SlackClientError::EndOfStream(_) => "the connection ended".to_owned(),
        SlackClientError::ProtocolError(_) => "an answer that is not Slack's JSON".to_owned(),
        SlackClientError::SocketModeProtocolError(_) => "a Socket Mode protocol error".to_owned(),
        SlackClientError::SystemError(_) => "a system error".to_owned(),
        SlackClientError::RateLimitError(_) => "rate limited".to_owned(),
    }
}

/// Blocks written as JSON, as slack-morphism's types.
pub(crate) fn blocks(json: Vec<Value>) -> Vec<SlackBlock> {
    json.into_iter()
        .filter_map(|b| match serde_json::from_value(b) {
            Ok(block) => Some(block),
            Err(e) => {
                tracing::error!(error = %e, "a Slack block the bot built does not parse; left out");
                None
            }
        })
        .collect()
}

impl Web {
    /// The Web API at `api_url` (none: Slack's) with the bot token.
    pub fn new(api_url: Option<&str>, bot_token: &str) -> crate::Result<Web> {
        let client = taskflows_alerts::slack_client(api_url)
            .map_err(|e| crate::Error::Invalid { message: format!("slack: {e}"), hint: None })?;
        Ok(Web { client, token: SlackApiToken::new(SlackApiTokenValue(bot_token.to_owned())) })
    }

    /// The client (for Socket Mode).
    pub fn client(&self) -> Arc<SlackHyperClient> {
        self.client.clone()
    }

    fn content(text: &str, blocks: Vec<Value>) -> SlackMessageContent {
        let mut content = SlackMessageContent::new().with_text(text.to_owned());
        if !blocks.is_empty() {
            content = content.with_blocks(self::blocks(blocks));
        }
        content
    }

    /// `chat.postMessage`: a message in `channel` (in the thread of `thread`); its ts.
    pub async fn post(
        &self,
        channel: &str,
        thread: Option<&str>,
        text: &str,
        blocks: Vec<Value>,
    ) -> Result<String, WebError> {
        let mut req = SlackApiChatPostMessageRequest::new(channel.into(), Web::content(text, blocks))
            .with_unfurl_links(false)
            .with_unfurl_media(false);
        if let Some(ts) = thread {
            req = req.with_thread_ts(ts.into());
        }
        let answer = self.client.open_session(&self.token).chat_post_message(&req).await;
        answer.map(|a| a.ts.0).map_err(|e| WebError { method: "chat.postMessage", reason: describe(&e) })
    }

    /// `chat.postEphemeral`: a message only `user` sees.
    pub async fn whisper(&self, channel: &str, user: &str, thread: Option<&str>, text: &str) -> Result<(), WebError> {
        let mut req =
            SlackApiChatPostEphemeralRequest::new(channel.into(), user.into(), Web::content(text, Vec::new()));
        if let Some(ts) = thread {
            req = req.with_thread_ts(ts.into());
        }
        let answer = self.client.open_session(&self.token).chat_post_ephemeral(&req).await;
        answer.map(drop).map_err(|e| WebError { method: "chat.postEphemeral", reason: describe(&e) })
    }

    /// `chat.update`: replace message `ts` of `channel`.
    pub async fn update(&self, channel: &str, ts: &str, text: &str, blocks: Vec<Value>) -> Result<(), WebError> {
        let req = SlackApiChatUpdateRequest::new(channel.into(), Web::content(text, blocks), ts.into());
        let answer = self.client.open_session(&self.token).chat_update(&req).await;
        answer.map(drop).map_err(|e| WebError { method: "chat.update", reason: describe(&e) })
    }

    /// Upload `content` as the file `filename` into the thread of `ts` (at most [`UPLOAD_MAX`]
    /// bytes, cut at a character boundary with a note).
    pub async fn upload(&self, channel: &str, ts: &str, filename: &str, content: String) -> Result<(), WebError> {
        let content = cut(content, UPLOAD_MAX).into_bytes();
        taskflows_alerts::upload_to_thread(&self.client, &self.token, channel.into(), ts.into(), filename, content)
            .await
            .map_err(|(method, e)| WebError { method, reason: describe(&e) })
    }

    /// `usergroups.users.list`: the members of a user group.
    pub async fn group_members(&self, group: &str) -> Result<Vec<String>, WebError> {
        let req = SlackApiUserGroupsUsersListRequest::new(group.into());
        let answer = self.client.open_session(&self.token).usergroups_users_list(&req).await;
        answer
            .map(|a| a.users.into_iter().map(|u| u.0).collect())
            .map_err(|e| WebError { method: "usergroups.users.list", reason: describe(&e) })
    }

    /// `auth.test`: the workspace and the bot's user, as `team (bot user)`.
    pub async fn whoami(&self) -> Result<String, WebError> {
        let answer = self.client.open_session(&self.token).auth_test().await;
        answer
            .map(|a| format!("{} (bot user {})", a.team, a.user.unwrap_or(a.user_id.0)))
            .map_err(|e| WebError { method: "auth.test", reason: describe(&e) })
    }
}

/// `text` as at most `max` bytes, cut at a character boundary with a note saying so.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let total = text.len();
    let mut keep = max.saturating_sub(100);
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    text.truncate(keep);
    text.push_str(&format!("\n… cut: {keep} of {total} bytes shown\n"));
    text
}

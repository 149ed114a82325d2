//! Slack alerts through the Web API's `chat.postMessage`, over a plain HTTP client.

use std::fmt;

use serde_json::{Value, json};

use crate::alert::{Alert, AlertKind, truncate};
use crate::error::Error;
use crate::table::Table;

/// Slack's Web API, the production default.
pub const SLACK_API_BASE: &str = "https://slack.com/api/";

/// The most characters of a `section` block's text Slack accepts.
const SECTION_MAX: usize = 3000;

/// The default limit on an uploaded file (`SLACK_ATTACHMENT_MAX_SIZE_MB`, 20).
const ATTACHMENT_MAX_MB: u64 = 20;

/// The default limit on the rows of a table inlined in a message (`SLACK_INLINE_TABLES_MAX_ROWS`).
const INLINE_TABLE_MAX_ROWS: usize = 200;

/// The most blocks a table may take in a message (Slack allows 50 blocks in all).
const TABLE_MAX_BLOCKS: usize = 45;

/// A Slack channel and the bot token that posts to it.
///
/// Each alert is one `chat.postMessage`; when its text had to be truncated to fit Slack's block
/// limits, the full text is uploaded as a file into the message's thread
/// (`files.getUploadURLExternal`, the upload, `files.completeUploadExternal`), cut at the
/// attachment size limit. A table is inlined as code blocks up to
/// `SLACK_INLINE_TABLES_MAX_ROWS` rows (and what fits in the message's blocks); a bigger one is
/// uploaded as a file into the thread, and the message says so. An upload over
/// `SLACK_ATTACHMENT_MAX_SIZE_MB` is cut to the limit with a note at its end; nothing larger is
/// sent. A failed upload is logged; the message counts as delivered.
#[derive(Clone)]
pub struct Slack {
    client: reqwest::Client,
    token: String,
    channel: String,
    api_base: String,
    attachment_max_bytes: u64,
    inline_table_max_rows: usize,
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
            attachment_max_bytes: ATTACHMENT_MAX_MB * 1024 * 1024,
            inline_table_max_rows: INLINE_TABLE_MAX_ROWS,
        })
    }

    /// With the token from `SLACK_BOT_TOKEN`, the attachment limit from
    /// `SLACK_ATTACHMENT_MAX_SIZE_MB` (default 20) and the inline table limit from
    /// `SLACK_INLINE_TABLES_MAX_ROWS` (default 200); an unreadable value keeps the default.
    pub fn from_env(channel: impl Into<String>) -> Result<Slack, Error> {
        Slack::from_vars(channel, |name| std::env::var(name).ok())
    }

    /// As [`Slack::from_env`], with variables looked up by `var`.
    pub(crate) fn from_vars(channel: impl Into<String>, var: impl Fn(&str) -> Option<String>) -> Result<Slack, Error> {
        let token =
            var("SLACK_BOT_TOKEN").filter(|t| !t.trim().is_empty()).ok_or(Error::MissingEnv("SLACK_BOT_TOKEN"))?;
        let max_mb = var("SLACK_ATTACHMENT_MAX_SIZE_MB").and_then(|v| v.trim().parse::<u64>().ok());
        let max_rows = var("SLACK_INLINE_TABLES_MAX_ROWS").and_then(|v| v.trim().parse::<usize>().ok());
        Ok(Slack::new(token, channel)?
            .attachment_max_mb(max_mb.unwrap_or(ATTACHMENT_MAX_MB))
            .inline_table_max_rows(max_rows.unwrap_or(INLINE_TABLE_MAX_ROWS)))
    }

    /// Tables with more rows than this are uploaded as a file instead of inlined (default 200).
    pub fn inline_table_max_rows(mut self, rows: usize) -> Slack {
        self.inline_table_max_rows = rows;
        self
    }

    #[cfg(test)]
    pub(crate) fn inline_table_max(&self) -> usize {
        self.inline_table_max_rows
    }

    #[cfg(test)]
    pub(crate) fn attachment_max_bytes(&self) -> u64 {
        self.attachment_max_bytes
    }

    /// The largest full-text upload, in MiB (default 20).
    pub fn attachment_max_mb(mut self, mb: u64) -> Slack {
        self.attachment_max_bytes = mb.saturating_mul(1024 * 1024);
        self
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
        let mut blocks = vec![section(&format!("*{}*", escape(&alert.title)))];
        if !alert.body.is_empty() {
            // a code block keeps tracebacks and tables aligned
            blocks.push(section(&format!("```{}```", truncate(&code(&alert.body), SECTION_MAX - 6))));
        }
        if let Some(table) = &alert.table {
            match self.table_blocks(table) {
                Some(inline) => blocks.extend(inline),
                None => blocks.push(section(&format!(
                    "_The table ({} rows) is attached as a file in the thread: {}._",
                    table.len(),
                    if table.len() > self.inline_table_max_rows {
                        format!("more than {} rows are not inlined", self.inline_table_max_rows)
                    } else {
                        "it does not fit in a message".to_owned()
                    }
                ))),
            }
        }
        let mut context = match alert.kind {
            AlertKind::Check => escape(&alert.task_name),
            _ => format!("task id {}", alert.task_id),
        };
        if let Some(link) = &alert.link {
            context.push_str(&format!(" · <{link}|Logs>"));
        }
        blocks.push(json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": context }] }));
        json!({
            "channel": self.channel,
            "text": truncate(&escape(&alert.title), SECTION_MAX),
            "blocks": blocks,
        })
    }

    /// The table as code-block sections, each within Slack's section limit; `None` when it is
    /// to be uploaded instead (too many rows, or more blocks than a message may have).
    fn table_blocks(&self, table: &Table) -> Option<Vec<Value>> {
        if table.len() > self.inline_table_max_rows {
            return None;
        }
        let mut chunks: Vec<String> = vec![String::new()];
        for line in table.lines() {
            let line = truncate(&code(&line), SECTION_MAX - 7).into_owned();
            let last = chunks.last_mut()?;
            if !last.is_empty() && last.chars().count() + line.chars().count() + 1 > SECTION_MAX - 6 {
                chunks.push(String::new());
            }
            let last = chunks.last_mut()?;
            if !last.is_empty() {
                last.push('\n');
            }
            last.push_str(&line);
        }
        if chunks.len() > TABLE_MAX_BLOCKS {
            return None;
        }
        Some(chunks.iter().map(|c| section(&format!("```{c}```"))).collect())
    }

    /// Whether the message for `alert` cuts some of its text.
    fn truncates(alert: &Alert) -> bool {
        alert.title.chars().count() + 2 > SECTION_MAX || alert.body.chars().count() + 6 > SECTION_MAX
    }

    pub(crate) async fn send(&self, alert: &Alert) -> Result<(), String> {
        let answer = self.call_json("chat.postMessage", &self.message(alert)).await?;
        let channel = answer["channel"].as_str().unwrap_or_default();
        let ts = answer["ts"].as_str().unwrap_or_default();
        if Slack::truncates(alert) {
            let filename = format!("{}-{}.txt", alert.task_name, alert.task_id);
            if let Err(error) = self.upload(&filename, alert.full_text(), channel, ts).await {
                tracing::warn!(%error, "slack: the message was sent, but not its full text");
            }
        }
        if let Some(table) = alert.table.as_ref().filter(|t| self.table_blocks(t).is_none()) {
            let filename = format!("{}-{}-table.txt", alert.task_name, alert.task_id);
            if let Err(error) = self.upload(&filename, table.to_text(), channel, ts).await {
                tracing::warn!(%error, "slack: the message was sent, but not its table");
            }
        }
        Ok(())
    }

    /// Upload `text` as `filename` into the thread of message `ts` in `channel` (an id), cut
    /// to the attachment limit.
    async fn upload(&self, filename: &str, text: String, channel: &str, ts: &str) -> Result<(), String> {
        let text = fit(text, usize::try_from(self.attachment_max_bytes).unwrap_or(usize::MAX));
        let form = format!("filename={}&length={}", crate::links::encode(filename), text.len());
        let answer =
            self.call("files.getUploadURLExternal", "application/x-www-form-urlencoded", form.into_bytes()).await?;
        let (Some(url), Some(file_id)) = (answer["upload_url"].as_str(), answer["file_id"].as_str()) else {
            return Err("slack: files.getUploadURLExternal gave no upload_url/file_id".to_owned());
        };
        let response = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(text)
            .send()
            .await
            .map_err(|e| format!("slack: upload: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("slack: upload: HTTP {}", response.status()));
        }
        let complete = json!({
            "files": [{ "id": file_id, "title": filename }],
            "channel_id": channel,
            "thread_ts": ts,
        });
        self.call_json("files.completeUploadExternal", &complete).await.map(drop)
    }

    async fn call_json(&self, method: &str, body: &Value) -> Result<Value, String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        self.call(method, "application/json; charset=utf-8", body).await
    }

    /// POST to a Web API method; an answer without `"ok": true` is an error.
    async fn call(&self, method: &str, content_type: &str, body: Vec<u8>) -> Result<Value, String> {
        let response = self
            .client
            .post(format!("{}{method}", self.api_base))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("slack: {method}: {}", e.without_url()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| format!("slack: {method}: {}", e.without_url()))?;
        if !status.is_success() {
            return Err(format!("slack: {method}: HTTP {status}"));
        }
        let answer: Value =
            serde_json::from_slice(&bytes).map_err(|e| format!("slack: {method}: unreadable answer: {e}"))?;
        if answer["ok"] == Value::Bool(true) {
            Ok(answer)
        } else {
            Err(format!("slack: {method}: {}", answer["error"].as_str().unwrap_or("not ok")))
        }
    }
}

/// `text` as at most `max` bytes: cut at a character boundary with a note at the end saying
/// how much was left out, when it is longer.
pub(crate) fn fit(text: String, max: usize) -> Vec<u8> {
    if text.len() <= max {
        return text.into_bytes();
    }
    let total = text.len();
    let note = |kept: usize| format!("\n… truncated: {kept} of {total} bytes shown (SLACK_ATTACHMENT_MAX_SIZE_MB)\n");
    // a limit too small for the note gets text only
    let room = if note(max).len() < max { note(max).len() } else { 0 };
    let mut keep = max - room;
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut out = text.as_bytes()[..keep].to_vec();
    let note = note(keep);
    if room > 0 {
        out.extend_from_slice(note.as_bytes());
    }
    out
}

/// `text` as Slack reads it back in mrkdwn: `&`, `<` and `>` escaped, so a message cannot
/// mention `<!channel>` or forge a link.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `text` escaped for the inside of a code block: also no ``` that would end it early.
fn code(text: &str) -> String {
    escape(text).replace("```", "`\u{200b}``")
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": truncate(text, SECTION_MAX) } })
}

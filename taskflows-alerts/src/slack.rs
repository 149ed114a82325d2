//! Slack alerts through slack-morphism's Web API client ([`slack_client`], the one constructor
//! of Slack clients in the workspace): `chat.postMessage`, files into the message's thread, and
//! the buttons of alerts about services (see [`crate::actions`]).

use std::fmt;
use std::sync::Arc;

use hyper_rustls::ConfigBuilderExt as _;
use slack_morphism::prelude::{
    SlackApiChatPostMessageRequest, SlackApiFilesComplete, SlackApiFilesCompleteUploadExternalRequest,
    SlackApiFilesGetUploadUrlExternalRequest, SlackApiFilesUploadViaUrlRequest, SlackApiToken, SlackApiTokenValue,
    SlackChannelId, SlackClient, SlackClientHyperConnector, SlackHyperClient, SlackMessageContent, SlackTs,
};

use slack_morphism::errors::SlackClientError;

use crate::alert::{Alert, truncate};
use crate::error::Error;
use crate::mrkdwn;

mod blocks;

/// Slack's Web API, the production default.
pub const SLACK_API_BASE: &str = "https://slack.com/api/";

/// The default limit on an uploaded file (`SLACK_ATTACHMENT_MAX_SIZE_MB`, 20).
const ATTACHMENT_MAX_MB: u64 = 20;

/// The default limit on the rows of a table inlined in a message (`SLACK_INLINE_TABLES_MAX_ROWS`).
const INLINE_TABLE_MAX_ROWS: usize = 200;

/// A Slack Web API client on slack-morphism's hyper connector, for `api_base` (`None`: Slack's,
/// [`SLACK_API_BASE`]). TLS is rustls on ring with the system's root certificates; only
/// HTTPS is spoken, unless `api_base` itself is a plain `http://` URL (a local test server).
/// Build one per process and share it: it holds the connection pool.
pub fn slack_client(api_base: Option<&str>) -> Result<Arc<SlackHyperClient>, Error> {
    Ok(client_with(tls_config()?, api_base))
}

/// The variable that points every Slack client (alerts, the bot) at another Web API, e.g. a
/// local stand-in in tests.
pub const API_URL_VAR: &str = "TASKFLOWS_SLACK_API_URL";

/// [`API_URL_VAR`] through `var`, checked: an `https://` URL, or `http://` to loopback; none
/// (unset or empty): Slack's own.
pub fn api_url_from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<String>, Error> {
    let Some(url) = var(API_URL_VAR) else { return Ok(None) };
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    let ok = url.starts_with("https://")
        || ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"].iter().any(|p| url.starts_with(p));
    if !ok || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidEnv { name: API_URL_VAR, allowed: "an https:// URL, or http:// to loopback" });
    }
    Ok(Some(url.to_owned()))
}

/// rustls on ring with the system's roots. The provider is named, not the process default
/// (`ClientConfig::builder()` panics once anything in a binary also enables aws-lc-rs).
/// Built here rather than by `SlackClientHyperConnector::new()`, which speaks HTTPS only and so
/// cannot reach a local test server.
fn tls_config() -> Result<rustls::ClientConfig, Error> {
    // ring, not aws-lc-rs: no cmake/C build of aws-lc (as the API server's TLS); the price is no
    // post-quantum key exchange, which rustls's ring provider does not offer.
    #[expect(deprecated, reason = "ring's provider is deprecated for lacking post-quantum key exchange; see above")]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::SlackClient(std::io::Error::other(e)))?
        .with_native_roots()
        .map_err(Error::SlackClient)?
        .with_no_client_auth())
}

fn client_with(tls: rustls::ClientConfig, api_base: Option<&str>) -> Arc<SlackHyperClient> {
    let base = api_base.unwrap_or(SLACK_API_BASE).trim_end_matches('/');
    let builder = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls);
    let builder = if base.starts_with("http://") { builder.https_or_http() } else { builder.https_only() };
    let connector = builder.enable_http1().enable_http2().build();
    Arc::new(SlackClient::new(SlackClientHyperConnector::with_connector(connector).with_slack_api_url(base)))
}

/// A Slack channel and the bot token that posts to it.
///
/// Each alert is one `chat.postMessage`; when its text had to be truncated to fit Slack's block
/// limits, the full text is uploaded as a file into the message's thread
/// (`files.getUploadURLExternal`, the upload, `files.completeUploadExternal`), cut at the
/// attachment size limit. A table is inlined as code blocks up to
/// `SLACK_INLINE_TABLES_MAX_ROWS` rows (and what fits in the message's 50 blocks); a bigger one
/// is uploaded as a file into the thread, and the message says so. An upload over
/// `SLACK_ATTACHMENT_MAX_SIZE_MB` is cut to the limit with a note at its end; nothing larger is
/// sent. A failed upload is logged; the message counts as delivered.
///
/// An alert about services ([`Alert::services`]) gets a row of buttons per service (at most
/// 10): restart (confirmed first), logs, and silence for an hour; the bot answers them
/// ([`crate::actions`]). All text from the alert is escaped: it cannot mention `<!channel>`,
/// forge a link or end a code block. Errors name the Web API method, never the token or a URL.
#[derive(Clone)]
pub struct Slack {
    client: Arc<SlackHyperClient>,
    tls: Arc<rustls::ClientConfig>,
    token: SlackApiToken,
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
        let tls = Arc::new(tls_config()?);
        Ok(Slack {
            client: client_with(rustls::ClientConfig::clone(&tls), None),
            tls,
            token: SlackApiToken::new(SlackApiTokenValue(token.into())),
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
        let mut slack = Slack::new(token, channel)?;
        if let Some(base) = api_url_from_vars(&var)? {
            slack = slack.api_base(base);
        }
        Ok(slack
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

    /// Another Web API base URL (default [`SLACK_API_BASE`]), e.g. a local server in tests
    /// (a plain `http://` base is spoken to without TLS).
    pub fn api_base(mut self, base: impl Into<String>) -> Slack {
        let mut base = base.into();
        if !base.ends_with('/') {
            base.push('/');
        }
        self.client = client_with(rustls::ClientConfig::clone(&self.tls), Some(&base));
        self.api_base = base;
        self
    }

    /// The `chat.postMessage` request body for `alert`, as JSON.
    pub fn message(&self, alert: &Alert) -> serde_json::Value {
        serde_json::to_value(self.request(alert).0).unwrap_or_default()
    }

    /// The `chat.postMessage` request for `alert`, and whether its table is to be uploaded.
    fn request(&self, alert: &Alert) -> (SlackApiChatPostMessageRequest, bool) {
        let (blocks, upload_table) = blocks::blocks(alert, self.inline_table_max_rows);
        let content = SlackMessageContent::new()
            .with_text(truncate(&mrkdwn::escape(&alert.title), blocks::SECTION_MAX).into_owned())
            .with_blocks(blocks);
        (SlackApiChatPostMessageRequest::new(SlackChannelId(self.channel.clone()), content), upload_table)
    }

    pub(crate) async fn send(&self, alert: &Alert) -> Result<(), String> {
        let session = self.client.open_session(&self.token);
        let (request, upload_table) = self.request(alert);
        let answer = session.chat_post_message(&request).await.map_err(|e| describe("chat.postMessage", &e))?;
        let (channel, ts) = (answer.channel, answer.ts);
        if blocks::truncates(alert) {
            let filename = format!("{}-{}.txt", alert.task_name, alert.task_id);
            if let Err(error) = self.upload(&filename, alert.full_text(), &channel, &ts).await {
                tracing::warn!(%error, "slack: the message was sent, but not its full text");
            }
        }
        if let Some(table) = alert.table.as_ref().filter(|_| upload_table) {
            let filename = format!("{}-{}-table.txt", alert.task_name, alert.task_id);
            if let Err(error) = self.upload(&filename, table.to_text(), &channel, &ts).await {
                tracing::warn!(%error, "slack: the message was sent, but not its table");
            }
        }
        Ok(())
    }

    /// Upload `text` as `filename` into the thread of message `ts` in `channel` (an id), cut
    /// to the attachment limit.
    async fn upload(&self, filename: &str, text: String, channel: &SlackChannelId, ts: &SlackTs) -> Result<(), String> {
        let content = fit(text, usize::try_from(self.attachment_max_bytes).unwrap_or(usize::MAX));
        upload_to_thread(&self.client, &self.token, channel.clone(), ts.clone(), filename, content)
            .await
            .map_err(|(method, e)| describe(method, &e))
    }
}

/// Upload `content` as the file `filename` into the thread of message `ts` in `channel`, in
/// Slack's three steps (`files.getUploadURLExternal`, the upload, `files.completeUploadExternal`).
/// An error names the step that failed; the bot's answers use this too.
pub async fn upload_to_thread(
    client: &SlackHyperClient,
    token: &SlackApiToken,
    channel: SlackChannelId,
    ts: SlackTs,
    filename: &str,
    content: Vec<u8>,
) -> Result<(), (&'static str, SlackClientError)> {
    let session = client.open_session(token);
    let url = session
        .get_upload_url_external(&SlackApiFilesGetUploadUrlExternalRequest::new(filename.to_owned(), content.len()))
        .await
        .map_err(|e| ("files.getUploadURLExternal", e))?;
    session
        .files_upload_via_url(&SlackApiFilesUploadViaUrlRequest::new(
            url.upload_url,
            content,
            "text/plain; charset=utf-8".to_owned(),
        ))
        .await
        .map_err(|e| ("upload", e))?;
    let complete = SlackApiFilesCompleteUploadExternalRequest::new(vec![
        SlackApiFilesComplete::new(url.file_id).with_title(filename.to_owned()),
    ])
    .with_channel_id(channel)
    .with_thread_ts(ts);
    session.files_complete_upload_external(&complete).await.map(drop).map_err(|e| ("files.completeUploadExternal", e))
}

/// Why a Web API call failed, without what slack-morphism's messages carry besides: answers'
/// bodies, and request URLs (an upload URL is a credential of its own).
fn describe(method: &str, error: &SlackClientError) -> String {
    let why = match error {
        SlackClientError::ApiError(e) => e.code.clone(),
        SlackClientError::HttpError(e) => format!("HTTP {}", e.status_code),
        SlackClientError::RateLimitError(e) => match e.retry_after {
            Some(after) => format!("rate limited (retry after {after:?})"),
            None => "rate limited".to_owned(),
        },
        SlackClientError::ProtocolError(e) => format!("unreadable answer: {}", e.json_error),
        SlackClientError::HttpProtocolError(e) => match &e.cause {
            Some(cause) => error_chain(cause.as_ref()),
            None => "connection failed".to_owned(),
        },
        SlackClientError::SystemError(e) => e.message.clone().unwrap_or_else(|| "failed".to_owned()),
        _ => "protocol error".to_owned(),
    };
    format!("slack: {method}: {}", strip_urls(&why))
}

/// `error: its source: …`, as hyper's connection errors tell the cause only in their sources.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

/// `text` with every word that looks like a URL replaced by `<url>`.
fn strip_urls(text: &str) -> String {
    text.split(' ').map(|word| if word.contains("://") { "<url>" } else { word }).collect::<Vec<_>>().join(" ")
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

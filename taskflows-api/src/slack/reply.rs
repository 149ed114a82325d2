//! Answers as Block Kit messages. Every piece of text from a service (names, descriptions, log
//! lines, errors) goes through [`esc`] or [`code`]: it cannot mention `<!channel>`, forge a link,
//! close a code block early or add blocks of its own.

use serde_json::{Value, json};
use taskflows_alerts::Table;

/// The most characters of a section's text (Slack's limit is 3,000).
const SECTION_MAX: usize = 2900;

/// Plain text, escaped for mrkdwn (and shown terminal-safe: no control characters or bidi
/// overrides).
pub(crate) fn esc(text: &str) -> String {
    taskflows_alerts::mrkdwn::escape(&taskflows_core::display_safe(text))
}

/// Text for the inside of a code block.
pub(crate) fn code(text: &str) -> String {
    taskflows_alerts::mrkdwn::code(&taskflows_core::display_safe(text))
}

/// A mrkdwn section block.
pub(crate) fn section(mrkdwn: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": cut_chars(mrkdwn, SECTION_MAX) } })
}

/// A context block (small grey text).
pub(crate) fn context(mrkdwn: &str) -> Value {
    json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": cut_chars(mrkdwn, SECTION_MAX) }] })
}

/// A button.
pub(crate) fn button(text: &str, action_id: &str, value: &str, style: Option<&str>) -> Value {
    let mut b = json!({
        "type": "button",
        "text": { "type": "plain_text", "text": cut_chars(text, 75), "emoji": true },
        "action_id": action_id,
        "value": value,
    });
    if let Some(style) = style {
        b["style"] = json!(style);
    }
    b
}

fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// One message of the bot: a fallback text (notifications), its blocks, and the full output
/// as a file for the thread when it did not fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The notification text.
    pub text: String,
    /// The blocks.
    pub blocks: Vec<Value>,
    /// `(filename, content)`: uploaded into the message's thread.
    pub file: Option<(String, String)>,
    /// Whether the command did what was asked.
    pub ok: bool,
}

impl Reply {
    /// A short message (mrkdwn, already escaped).
    pub(crate) fn note(mrkdwn: &str) -> Reply {
        Reply { text: cut_chars(mrkdwn, 300), blocks: vec![section(mrkdwn)], file: None, ok: true }
    }

    /// A refusal or failure: one line (plain text, escaped here).
    pub(crate) fn error(message: &str) -> Reply {
        let text = format!(":warning: {}", esc(message));
        Reply { ok: false, ..Reply::note(&text) }
    }

    /// `title` (mrkdwn) over preformatted `body`: in a code block when it fits, else its first
    /// lines there and the whole of it as `filename` in the thread.
    pub(crate) fn preformatted(title: &str, body: &str, filename: &str) -> Reply {
        let escaped = code(body.trim_end());
        let (shown, file) = if escaped.chars().count() + 6 <= SECTION_MAX {
            (escaped, None)
        } else {
            let mut shown = String::new();
            let mut lines = 0usize;
            for line in escaped.lines() {
                if shown.chars().count() + line.chars().count() + 1 > SECTION_MAX - 200 {
                    break;
                }
                shown.push_str(line);
                shown.push('\n');
                lines += 1;
            }
            let total = body.trim_end().lines().count();
            shown.push_str(&format!("… {} more lines", total.saturating_sub(lines)));
            (shown, Some((filename.to_owned(), body.to_owned())))
        };
        let mut blocks = vec![section(title)];
        if !shown.is_empty() {
            blocks.push(section(&format!("```{shown}```")));
        }
        if file.is_some() {
            blocks.push(context("The whole output is attached in the thread."));
        }
        Reply { text: cut_chars(title, 300), blocks, file, ok: true }
    }

    /// A table under `title`.
    pub(crate) fn table(title: &str, table: &Table, filename: &str) -> Reply {
        if table.is_empty() {
            return Reply::note(&format!("{title}\n_nothing to show_"));
        }
        Reply::preformatted(title, &table.to_text(), filename)
    }

    /// Add a context line (who asked, where).
    pub(crate) fn footer(mut self, mrkdwn: &str) -> Reply {
        self.blocks.push(context(mrkdwn));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_text_cannot_ping_close_code_or_add_blocks() {
        let evil = "<!channel> ``` *bold* <http://x|y> \u{202e}abc\u{1b}[31m";
        let reply = Reply::preformatted(&format!("*logs of* {}", esc(evil)), evil, "x.log");
        let all = serde_json::to_string(&reply.blocks).unwrap();
        assert!(!all.contains("<!channel>") && !all.contains("<http"), "{all}");
        let code_block = reply.blocks[1]["text"]["text"].as_str().unwrap();
        assert_eq!(code_block.matches("```").count(), 2, "{code_block}");
        assert!(!all.contains('\u{202e}') && !all.contains('\u{1b}'), "{all}");
        assert_eq!(reply.blocks.len(), 2);
    }

    #[test]
    fn long_output_is_cut_and_attached_whole() {
        let body: String = (0..500).map(|i| format!("line {i}\n")).collect();
        let reply = Reply::preformatted("*logs*", &body, "web.log");
        let shown = reply.blocks[1]["text"]["text"].as_str().unwrap();
        assert!(shown.chars().count() <= 3000 && shown.contains("more lines"), "{shown}");
        assert_eq!(reply.file, Some(("web.log".to_owned(), body)));
    }
}

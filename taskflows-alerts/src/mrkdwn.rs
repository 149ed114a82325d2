//! Text for Slack's `mrkdwn`: whatever an alert (or a bot's answer) quotes from services, logs
//! or errors is escaped, so it cannot mention `<!channel>`, forge a link or end a code block.

/// `text` as Slack reads it back in mrkdwn: `&`, `<` and `>` escaped, so a message cannot
/// mention `<!channel>` or forge a link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `text` escaped for the inside of a code block (between ```` ``` ```` fences): also no ```` ``` ````
/// that would end it early (a zero-width space goes between the backticks).
pub fn code(text: &str) -> String {
    escape(text).replace("```", "`\u{200b}``")
}

#[cfg(test)]
mod tests {
    fn check(f: fn(&str) -> String, input: &str, expected: &str) {
        assert_eq!(f(input), expected, "{input:?}");
    }

    #[test]
    fn escaping() {
        check(super::escape, "a & b", "a &amp; b");
        check(super::escape, "<!channel> <https://x|y>", "&lt;!channel&gt; &lt;https://x|y&gt;");
        check(super::escape, "&amp;", "&amp;amp;");
        check(super::code, "x ```y``` <!here>", "x `\u{200b}``y`\u{200b}`` &lt;!here&gt;");
        check(super::code, "````", "`\u{200b}```");
    }
}

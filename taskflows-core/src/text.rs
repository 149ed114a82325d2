//! Text from services shown to people.

/// `text` with control characters, escape sequences and bidirectional overrides shown as
/// `\u{…}` escapes, so text from services (descriptions, errors, log lines) cannot move a
/// terminal's cursor, recolour it or reorder what is shown, in a terminal or a chat message.
/// Line breaks and tabs are kept.
pub fn display_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars().map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect(),
    )
}

//! The one error a calendar expression can fail with.

use std::fmt;

/// A calendar expression that systemd would reject.
///
/// The message is one lowercase line naming the expression, the column (1-based, in
/// characters) and what was expected there, e.g.
/// `invalid calendar expression "Mon-Fry 09:00": unknown weekday "Fry" at column 5
/// (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid calendar expression {}: {detail}", Quoted(expression))]
pub struct CalendarError {
    expression: String,
    column: Option<usize>,
    detail: String,
}

impl CalendarError {
    /// The expression as the user wrote it.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    /// The 1-based column (in characters) the problem was found at, when it has one.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// What is wrong, without the expression (e.g. `unknown weekday "Fry" at column 5 ...`).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// Builds errors for one expression; `pos` arguments are byte offsets into it.
#[derive(Clone, Copy)]
pub(super) struct ErrorAt<'a> {
    pub(super) expr: &'a str,
}

impl ErrorAt<'_> {
    pub(super) fn column(&self, pos: usize) -> usize {
        let pos = pos.min(self.expr.len());
        let mut pos = pos;
        while !self.expr.is_char_boundary(pos) {
            pos -= 1;
        }
        self.expr[..pos].chars().count() + 1
    }

    /// `what` is a sentence fragment; " at column N" and then `tail` are appended.
    pub(super) fn at(&self, pos: usize, what: impl fmt::Display, tail: &str) -> CalendarError {
        let column = self.column(pos);
        CalendarError {
            expression: self.expr.to_owned(),
            column: Some(column),
            detail: format!("{what} at column {column}{tail}"),
        }
    }

    pub(super) fn whole(&self, what: impl fmt::Display) -> CalendarError {
        CalendarError { expression: self.expr.to_owned(), column: None, detail: what.to_string() }
    }

    /// The word (up to the next separator) starting at `pos`, for messages.
    pub(super) fn word(&self, pos: usize) -> &str {
        let rest = self.expr.get(pos..).unwrap_or("");
        let end = rest.find([' ', ',', '-', '.', ':', '~', '/']).unwrap_or(rest.len());
        let word = &rest[..end];
        if word.is_empty() { rest.get(..rest.chars().next().map_or(0, char::len_utf8)).unwrap_or("") } else { word }
    }
}

/// Shows an expression in double quotes with control characters escaped.
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                c if c.is_control() => write!(f, "{}", c.escape_default())?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// A fragment that quotes a word for messages: `"Fry"`.
pub(super) fn quoted(s: &str) -> String {
    Quoted(s).to_string()
}

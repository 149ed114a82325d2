//! Env files as systemd 252 reads them (`EnvironmentFile=`), so that what `tf` accepts is what
//! the service gets. The grammar is systemd's state machine: a key up to `=`; a value that is
//! unquoted (a backslash escapes the next character, a backslash-newline joins lines, trailing
//! blanks are dropped), or single-quoted (literal), or double-quoted (a backslash escapes only
//! `"`, `\`, `` ` `` and `$`, and is kept before anything else); quoted parts and unquoted parts
//! after them join; a value may span lines inside quotes; `#` and `;` start a comment line; `\r`
//! ends a line like `\n`.
//!
//! Where systemd would silently drop or change something, this refuses the file instead, naming
//! the line and saying what to write: a line without `=`, an invalid variable name (`export KEY`
//! included: systemd 252 has no `export`), a control character in a value, a NUL byte (systemd
//! stops reading there), a comment ending in a backslash (systemd 252 then also ignores the next
//! line), a quote left open at the end of the file. Errors never quote the file's content.

use crate::command::EnvKey;
use crate::error::ValueError;

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    PreKey,
    Key,
    PreValue,
    Value,
    ValueEscape,
    Single,
    Double,
    DoubleEscape,
    Comment,
    CommentEscape,
}

/// The characters a backslash escapes inside double quotes (systemd's `SHELL_NEED_ESCAPE`).
const DOUBLE_QUOTE_ESCAPES: &str = "\"\\`$";

/// The variables of an env file, in file order (a later assignment of a key replaces an earlier
/// one, as systemd does).
pub fn parse_env_file(content: &str) -> Result<Vec<(EnvKey, String)>, ValueError> {
    if let Some(at) = content.find('\0') {
        let line = content[..at].matches('\n').count() + 1;
        return Err(ValueError::new(format!("line {line}: a NUL byte (systemd stops reading the file there)")));
    }
    let mut vars: Vec<(EnvKey, String)> = Vec::new();
    let mut state = State::PreKey;
    let mut line = 1usize;
    // Where the entry being read started, for errors.
    let mut entry_line = 1usize;
    let mut key = String::new();
    let mut value = String::new();
    // The length of `key` / `value` before their trailing blanks.
    let mut key_end: Option<usize> = None;
    let mut value_end: Option<usize> = None;
    let is_newline = |c: char| c == '\n' || c == '\r';
    let is_blank = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');

    let mut push = |key: &mut String, key_end: Option<usize>, value: &mut String, at: usize| {
        let name = &key[..key_end.unwrap_or(key.len())];
        let entry = finish(name, value, at);
        key.clear();
        value.clear();
        let (k, v) = entry?;
        vars.retain(|(old, _)| *old != k);
        vars.push((k, v));
        Ok::<(), ValueError>(())
    };

    for c in content.chars() {
        match state {
            State::PreKey => {
                if c == '#' || c == ';' {
                    state = State::Comment;
                } else if !is_blank(c) {
                    state = State::Key;
                    entry_line = line;
                    key.push(c);
                    key_end = None;
                }
            }
            State::Key => {
                if is_newline(c) {
                    return Err(ValueError::new(format!(
                        "line {entry_line}: no '=' (systemd ignores a line without one); write KEY=VALUE"
                    )));
                } else if c == '=' {
                    state = State::PreValue;
                    value_end = None;
                } else {
                    if !is_blank(c) {
                        key_end = None;
                    } else if key_end.is_none() {
                        key_end = Some(key.len());
                    }
                    key.push(c);
                }
            }
            State::PreValue => {
                if is_newline(c) {
                    push(&mut key, key_end, &mut value, entry_line)?;
                    state = State::PreKey;
                } else if c == '\'' {
                    state = State::Single;
                } else if c == '"' {
                    state = State::Double;
                } else if c == '\\' {
                    state = State::ValueEscape;
                } else if !is_blank(c) {
                    state = State::Value;
                    value.push(c);
                }
            }
            State::Value => {
                if is_newline(c) {
                    if let Some(end) = value_end {
                        value.truncate(end);
                    }
                    push(&mut key, key_end, &mut value, entry_line)?;
                    state = State::PreKey;
                } else if c == '\\' {
                    state = State::ValueEscape;
                    value_end = None;
                } else {
                    if !is_blank(c) {
                        value_end = None;
                    } else if value_end.is_none() {
                        value_end = Some(value.len());
                    }
                    value.push(c);
                }
            }
            State::ValueEscape => {
                state = State::Value;
                // An escaped line break joins the lines.
                if !is_newline(c) {
                    value.push(c);
                }
            }
            State::Single => {
                if c == '\'' {
                    state = State::PreValue;
                } else {
                    value.push(c);
                }
            }
            State::Double => {
                if c == '"' {
                    state = State::PreValue;
                } else if c == '\\' {
                    state = State::DoubleEscape;
                } else {
                    value.push(c);
                }
            }
            State::DoubleEscape => {
                state = State::Double;
                if DOUBLE_QUOTE_ESCAPES.contains(c) {
                    value.push(c);
                } else if c != '\n' {
                    value.push('\\');
                    value.push(c);
                }
            }
            State::Comment => {
                if c == '\\' {
                    state = State::CommentEscape;
                } else if is_newline(c) {
                    state = State::PreKey;
                }
            }
            State::CommentEscape => {
                if is_newline(c) {
                    return Err(ValueError::new(format!(
                        "line {line}: a comment ends in a backslash, so systemd 252 ignores line {} too; remove the backslash",
                        line + 1
                    )));
                }
                state = State::Comment;
            }
        }
        if c == '\n' {
            line += 1;
        }
    }
    match state {
        State::Key => Err(ValueError::new(format!(
            "line {entry_line}: no '=' (systemd ignores a line without one); write KEY=VALUE"
        ))),
        State::Single | State::Double | State::DoubleEscape => {
            Err(ValueError::new(format!("line {entry_line}: a quote is not closed before the end of the file")))
        }
        State::PreValue | State::ValueEscape | State::Value => {
            if state == State::Value
                && let Some(end) = value_end
            {
                value.truncate(end);
            }
            push(&mut key, key_end, &mut value, entry_line)?;
            Ok(vars)
        }
        State::PreKey | State::Comment | State::CommentEscape => Ok(vars),
    }
}

/// One entry, checked as systemd checks what it loads (it would drop it silently).
fn finish(name: &str, value: &str, line: usize) -> Result<(EnvKey, String), ValueError> {
    if name.starts_with("export") && name.len() > 6 && name[6..].starts_with([' ', '\t']) {
        return Err(ValueError::new(format!("line {line}: systemd ignores `export KEY=VALUE` lines; write KEY=VALUE")));
    }
    let key = EnvKey::new(name).map_err(|_| {
        ValueError::new(format!(
            "line {line}: not a variable name systemd accepts; use letters, digits and '_', not starting with a digit"
        ))
    })?;
    if value.chars().any(|c| c.is_control() && c != '\t' && c != '\n') {
        return Err(ValueError::new(format!(
            "line {line}: the value of {key} has a control character (systemd drops such a variable)"
        )));
    }
    Ok((key, value.to_owned()))
}

//! Command lines, absolute paths and environment variables: the values a service runs with.

use std::fmt;

use crate::error::ValueError;
use crate::value::{check_line, string_newtype};

/// A command line as systemd's `ExecStart=` reads it: words separated by blanks, `"…"` and
/// `'…'` quoting, backslash escapes, optional `@`, `-`, `:`, `+`, `!` prefixes.
///
/// No shell is involved: write `sh -c '…'` for pipes and redirections. `$VAR` and `${VAR}` are
/// expanded by systemd from the service's environment (`$$` is a literal `$`); `%` is written
/// as `%%`, so it always means a literal percent sign.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CommandLine(String);

impl CommandLine {
    /// Accept `s` if it is one line with balanced quotes and a program to run.
    pub fn new(s: impl Into<String>) -> Result<CommandLine, ValueError> {
        let s = s.into();
        check_line(&s)?;
        let words = split_exec(&s)?;
        let program = words.first().map(|w| w.trim_start_matches(['@', '-', ':', '+', '!']));
        match program {
            None => Err(ValueError::new("must not be empty; give the program to run and its arguments")),
            Some("") => Err(ValueError::new(format!("{s:?} names no program after its prefixes"))),
            // systemd takes an absolute path, or a bare name it finds on its own search path.
            Some(p) if p.contains('/') && !p.starts_with('/') => Err(ValueError::new(format!(
                "program {p:?} must be an absolute path (e.g. /usr/bin/python3) or a bare name systemd finds on its search path"
            ))),
            Some(_) if words.iter().skip(1).any(|w| w == ";") => Err(ValueError::new(format!(
                "{s:?} has a lone ';': systemd runs one command per line; use /bin/sh -c '…' for several"
            ))),
            Some(_) => Ok(CommandLine(s)),
        }
    }

    /// The command line as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The words, unquoted.
    pub fn words(&self) -> Vec<String> {
        split_exec(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_newtype!(
    CommandLine,
    "CommandLine",
    "A command line as systemd's ExecStart= reads it (no shell: use sh -c '…' for pipes). $VAR is expanded by systemd; % is literal."
);

/// Split like systemd's `ExecStart=`: blanks separate words, quotes group, backslash escapes.
fn split_exec(s: &str) -> Result<Vec<String>, ValueError> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while let Some(c) = chars.next() {
            match (quote, c) {
                (_, '\\') => match chars.next() {
                    Some(n) => word.push(n),
                    None => return Err(ValueError::new("ends with a lone backslash")),
                },
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, c) if c.is_whitespace() => break,
                (_, c) => word.push(c),
            }
        }
        if let Some(q) = quote {
            return Err(ValueError::new(format!(
                "has an unterminated {q} quote in {s:?}; close it or escape it with a backslash"
            )));
        }
        words.push(word);
    }
}

/// An absolute, normalized path: no `..`, `.` or empty components, no line breaks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AbsPath(String);

impl AbsPath {
    /// Accept `s` if it is absolute, without `..`; `.` and repeated `/` are normalized away.
    pub fn new(s: impl Into<String>) -> Result<AbsPath, ValueError> {
        let s = s.into();
        check_line(&s)?;
        if !s.starts_with('/') {
            return Err(ValueError::new(format!("{s:?} is not an absolute path (it must start with '/')")));
        }
        let mut normalized = String::with_capacity(s.len());
        for part in s.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(ValueError::new(format!("{s:?} must not contain '..' components")));
                }
                part => {
                    normalized.push('/');
                    normalized.push_str(part);
                }
            }
        }
        if normalized.is_empty() {
            normalized.push('/');
        }
        Ok(AbsPath(normalized))
    }

    /// The normalized path.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_newtype!(
    AbsPath,
    "AbsPath",
    "An absolute path without '..' components.",
    { "pattern": "^/" }
);

/// An environment variable name: `^[A-Za-z_][A-Za-z0-9_]*$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvKey(String);

impl EnvKey {
    /// Accept `s` if it is a portable environment variable name.
    pub fn new(s: impl Into<String>) -> Result<EnvKey, ValueError> {
        let s = s.into();
        let mut chars = s.chars();
        let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            Ok(EnvKey(s))
        } else {
            Err(ValueError::new(format!(
                "{:?} is not a valid variable name; use letters, digits and '_', not starting with a digit",
                crate::name::truncate(&s, 40)
            )))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_newtype!(
    EnvKey,
    "EnvKey",
    "An environment variable name.",
    { "pattern": "^[A-Za-z_][A-Za-z0-9_]*$" }
);

/// Read an env file (`KEY=VALUE` lines, `export KEY=VALUE`, `#` comments, blank lines, values
/// optionally in single or double quotes) into checked pairs, in file order.
///
/// The caller reads the file; this checks every line so a bad one is reported before anything
/// is installed.
pub fn parse_env_file(content: &str) -> Result<Vec<(EnvKey, String)>, ValueError> {
    let mut vars = Vec::new();
    for (i, line) in content.lines().enumerate() {
        let at = |msg: String| ValueError::new(format!("line {}: {msg}", i + 1));
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, value)) = line.split_once('=') else {
            // The line may hold a secret: say what is wrong, never what it holds.
            return Err(at("not a KEY=VALUE line (it has no '=')".to_owned()));
        };
        let key = EnvKey::new(key.trim()).map_err(|_| {
            at("the name before '=' is not a valid variable name; use letters, digits and '_', not starting with a digit"
                .to_owned())
        })?;
        let value = value.trim();
        let value = match value.as_bytes().first() {
            Some(q @ (b'"' | b'\'')) => {
                let q = *q as char;
                let inner = &value[1..];
                match inner.strip_suffix(q) {
                    Some(v) if !v.is_empty() || inner.len() == 1 => v.to_owned(),
                    _ => return Err(at(format!("value of {key} has an unterminated {q} quote"))),
                }
            }
            _ => value.to_owned(),
        };
        check_line(&value).map_err(|e| at(format!("value of {key} {}", e.0)))?;
        vars.push((key, value));
    }
    Ok(vars)
}

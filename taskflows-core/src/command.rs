//! Command lines, absolute paths and environment variables: the values a service runs with.

use std::fmt;

use crate::error::ValueError;
use crate::value::{ARG_LEN_MAX, NAME_LEN_MAX, PATH_LEN_MAX, check_line, string_newtype};

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
        // systemd drops the blanks at both ends of the value first: `a\ ` would become `a\`.
        if split_exec(s.trim_matches([' ', '\t'])).ok().as_ref() != Some(&words) {
            return Err(ValueError::new(format!(
                "{:?} ends with an escaped blank, which systemd drops (it keeps the backslash); quote the word instead",
                crate::name::truncate(&s, 40)
            )));
        }
        let program = words.first().map(|w| w.trim_start_matches(['@', '-', ':', '+', '!']));
        match program {
            None => return Err(ValueError::new("must not be empty; give the program to run and its arguments")),
            Some("") => return Err(ValueError::new(format!("{s:?} names no program after its prefixes"))),
            // systemd takes an absolute path, or a bare name it finds on its own search path.
            Some(p) if p.contains('/') && !p.starts_with('/') => {
                return Err(ValueError::new(format!(
                    "program {p:?} must be an absolute path (e.g. /usr/bin/python3) or a bare name systemd finds on its search path"
                )));
            }
            Some(_) if words.iter().skip(1).any(|w| w == ";") => {
                return Err(ValueError::new(format!(
                    "{s:?} has a lone ';': systemd runs one command per line; use /bin/sh -c '…' for several"
                )));
            }
            Some(p) if p.starts_with('/') => check_path_limits(p)?,
            Some(p) if p.len() > NAME_LEN_MAX => {
                return Err(ValueError::new(format!(
                    "program {:?} is {} bytes; a program name is at most {NAME_LEN_MAX} bytes (NAME_MAX)",
                    crate::name::truncate(p, 40),
                    p.len()
                )));
            }
            Some(_) => {}
        }
        if let Some((i, w)) = words.iter().enumerate().find(|(_, w)| w.len() > ARG_LEN_MAX) {
            return Err(ValueError::new(format!(
                "word {} is {} bytes; a command-line word is at most {ARG_LEN_MAX} bytes (Linux's MAX_ARG_STRLEN)",
                i + 1,
                w.len()
            )));
        }
        Ok(CommandLine(s))
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

/// Check a path against systemd's and Linux's limits: at most [`PATH_LEN_MAX`] bytes, each
/// component at most [`NAME_LEN_MAX`]. systemd refuses a longer `ExecStart=` program or
/// `WorkingDirectory=` (the unit fails to load) and ignores a longer `EnvironmentFile=`.
fn check_path_limits(path: &str) -> Result<(), ValueError> {
    let shown = || crate::name::truncate(path, 40);
    if path.len() > PATH_LEN_MAX {
        return Err(ValueError::new(format!(
            "{:?} is {} bytes; a path is at most {PATH_LEN_MAX} bytes (PATH_MAX)",
            shown(),
            path.len()
        )));
    }
    if let Some(long) = path.split('/').map(str::len).find(|n| *n > NAME_LEN_MAX) {
        return Err(ValueError::new(format!(
            "{:?} has a component of {long} bytes; a path component is at most {NAME_LEN_MAX} bytes (NAME_MAX)",
            shown()
        )));
    }
    Ok(())
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
        check_path_limits(&normalized)?;
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

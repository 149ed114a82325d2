//! Single-line text values and the escaping rules for writing them into unit files.
//!
//! systemd reads a unit file line by line: a CR, LF or NUL inside a value would start a new
//! directive or section, and a trailing backslash would join the next line. Every value that
//! reaches a unit file therefore goes through [`check_line`] when it is built, and through one
//! of the escape functions when it is written. `%` is always written as `%%`, so specifiers such
//! as `%h` are never expanded by accident; `$VAR` in commands is left for systemd to expand
//! (write `$$` for a literal dollar sign).

use std::fmt;

use crate::error::ValueError;

/// The longest line systemd 252 reads from a unit file, without its line break: `read_line()`
/// with `LONG_LINE_MAX` (1 MiB) refuses a line of 1 MiB or more, and the unit fails to load.
pub const UNIT_LINE_MAX: usize = 1024 * 1024 - 1;

/// The longest path systemd and Linux take, in bytes: `PATH_MAX` (4096) counts the final NUL.
pub const PATH_LEN_MAX: usize = 4096 - 1;

/// The longest component of a path (and the longest bare program name), in bytes: `NAME_MAX`.
pub const NAME_LEN_MAX: usize = 255;

/// The longest string `execve()` passes as one argument or one `KEY=VALUE` variable, in bytes:
/// Linux's `MAX_ARG_STRLEN` (32 pages of 4 KiB) counts the final NUL. A longer one makes the
/// start fail (`E2BIG`), and systemd 252 drops a longer variable before that (`ARG_MAX - 3`).
pub const ARG_LEN_MAX: usize = 32 * 4096 - 1;

/// The largest env file systemd 252 reads (`READ_FULL_BYTES_MAX`, 64 MiB less one byte): it
/// reads the whole file at once, with no limit per line, and refuses a larger one.
pub const ENV_FILE_MAX: usize = 64 * 1024 * 1024 - 1;

/// Check that `key=written` fits on one unit-file line; `raw` is the value before escaping.
pub(crate) fn check_unit_line(key: &str, raw: &str, written: &str) -> Result<(), ValueError> {
    let line = key.len() + 1 + written.len();
    if line > UNIT_LINE_MAX {
        return Err(ValueError::new(format!(
            "{} bytes make a {line}-byte unit-file line ({key}=…, % written as %%); systemd reads lines of at most {UNIT_LINE_MAX} bytes",
            raw.len()
        )));
    }
    Ok(())
}

/// Check that systemd reads a value written alone on a unit-file line as it is: it drops the
/// blanks (spaces, tabs) at both ends of every value, and an empty `Description=` means the
/// unit's name.
pub(crate) fn check_unit_blanks(s: &str) -> Result<(), ValueError> {
    if s.is_empty() {
        return Err(ValueError::new("must not be empty (systemd would read no value)"));
    }
    if s.starts_with([' ', '\t']) || s.ends_with([' ', '\t']) {
        return Err(ValueError::new(format!(
            "{:?} starts or ends with a blank (space or tab), which systemd drops from a unit-file value; remove it",
            crate::name::truncate(s, 40)
        )));
    }
    Ok(())
}

/// Check that `KEY=VALUE` can reach a process's environment.
pub(crate) fn check_env_value(key: &str, value: &str) -> Result<(), ValueError> {
    let len = key.len() + 1 + value.len();
    if len > ARG_LEN_MAX {
        return Err(ValueError::new(format!(
            "{} bytes; a variable reaches the service only if KEY=VALUE is at most {ARG_LEN_MAX} bytes (Linux's MAX_ARG_STRLEN), here {len}",
            value.len()
        )));
    }
    Ok(())
}

/// Check that `s` can be written as one unit-file value.
pub(crate) fn check_line(s: &str) -> Result<(), ValueError> {
    if s.contains(['\n', '\r', '\0']) {
        return Err(ValueError::new("must not contain line breaks (CR, LF) or NUL characters"));
    }
    if s.ends_with('\\') {
        return Err(ValueError::new("must not end with a backslash (systemd would join it with the next line)"));
    }
    Ok(())
}

/// Write `s` with `%` doubled so systemd does not expand specifiers.
pub(crate) fn escape_specifiers(s: &str) -> String {
    s.replace('%', "%%")
}

/// A value for systemd's `EnvironmentFile=`, read back as is. Unquoted, systemd drops
/// backslashes, and quotes start quoting; inside double quotes `\` escapes some characters and
/// not others, and `$` expands earlier variables. Inside single quotes every character but `'` is
/// literal, and quoted parts next to each other join: `'` itself is written as `"'"` between
/// single-quoted parts (`it's` is `'it'"'"'s'`).
pub fn env_file_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\"'\"'"))
}

/// Write `s` inside double quotes (`\"` and `\\` escaped), as `Environment="K=V"` and command words
/// with blanks want. `%` is left to [`escape_specifiers`], applied once to the whole value.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A single line of free text, such as a description.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Text(String);

impl Text {
    /// Accept `s` if it is one line that cannot break out of its unit-file value.
    pub fn new(s: impl Into<String>) -> Result<Text, ValueError> {
        let s = s.into();
        check_line(&s)?;
        Ok(Text(s))
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Implement `FromStr`, `TryFrom<String>`, serde and JSON Schema for a string newtype with a
/// validating `new`.
macro_rules! string_newtype {
    ($ty:ident, $schema_name:literal, $description:literal) => {
        string_newtype!($ty, $schema_name, $description, {});
    };
    ($ty:ident, $schema_name:literal, $description:literal, { $($extra:tt)* }) => {
        impl std::str::FromStr for $ty {
            type Err = $crate::error::ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $ty::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::error::ValueError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                $ty::new(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = $crate::error::ValueError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                $ty::new(s)
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                $ty::new(s).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $ty {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $schema_name.into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": $description,
                    $($extra)*
                })
            }
        }
    };
}
pub(crate) use string_newtype;

string_newtype!(
    Text,
    "Text",
    "One line of text: no line breaks or NUL characters, no trailing backslash.",
    { "pattern": "^[^\\r\\n\\u0000]*$" }
);

//! Who may do what ([`Access`], `DATA_DIR/slack/access.toml`) and the bot's tokens ([`Tokens`],
//! `DATA_DIR/slack/tokens.toml`, 0600, or the environment).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The access file's format version.
const ACCESS_VERSION: u32 = 1;
/// The token file's format version.
const TOKENS_VERSION: u32 = 1;

/// The systemd credential an installed bot (or API server) reads the token file from.
pub const TOKENS_CREDENTIAL: &str = "slack_tokens";

/// `DATA_DIR/slack`.
pub fn slack_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("slack")
}

/// `DATA_DIR/slack/access.toml`.
pub fn access_path(data_dir: &Path) -> PathBuf {
    slack_dir(data_dir).join("access.toml")
}

/// `DATA_DIR/slack/tokens.toml`.
pub fn tokens_path(data_dir: &Path) -> PathBuf {
    slack_dir(data_dir).join("tokens.toml")
}

/// Who may run commands of one kind: members of `users` (`"*"`: everyone) or of one of the
/// user `groups`, in one of the `channels` (any channel when the list is left out).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Slack user ids (`U…`, `W…`), or `"*"`.
    #[serde(default)]
    pub users: BTreeSet<String>,
    /// Slack user group ids (`S…`).
    #[serde(default)]
    pub groups: BTreeSet<String>,
    /// Channel ids (`C…`, `G…`, `D…`); none: any channel.
    #[serde(default)]
    pub channels: Option<BTreeSet<String>>,
}

impl Rule {
    /// Whether the channel is one of the rule's.
    pub fn channel_ok(&self, channel: &str) -> bool {
        self.channels.as_ref().is_none_or(|c| c.contains(channel))
    }

    /// Whether the user is named (or everyone is).
    pub fn user_named(&self, user: &str) -> bool {
        self.users.contains("*") || self.users.contains(user)
    }

    /// Whether the rule lets anybody in at all.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.groups.is_empty()
    }
}

/// `access.toml`: who may read, who may control, which servers `-s` may name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// The format version (1).
    pub version: u32,
    /// status, list, logs, history, next, check (control implies read).
    #[serde(default)]
    pub read: Rule,
    /// start, stop, restart, and the buttons of alerts.
    #[serde(default)]
    pub control: Rule,
    /// The servers of `tf server list` that `-s` may name; none: only this host.
    #[serde(default)]
    pub servers: BTreeSet<String>,
}

impl Access {
    /// Read the access file. A missing one allows nobody (every command is refused, saying so).
    pub fn load(path: &Path) -> Result<Option<Access>> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("read", path)(e)),
        };
        Access::parse(&text).map(Some).map_err(|message| Error::Invalid {
            message: format!("{}: {message}", path.display()),
            hint: Some("see the README's Slack bot section for the access file's fields".to_owned()),
        })
    }

    /// Parse the access file's text; an error names the line and field.
    pub fn parse(text: &str) -> std::result::Result<Access, String> {
        let access: Access = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| text[..s.start].matches('\n').count() + 1);
            match line {
                Some(line) => format!("line {line}: {}", e.message()),
                None => e.message().to_owned(),
            }
        })?;
        if access.version != ACCESS_VERSION {
            return Err(format!("version: {} is not known (this tf reads {ACCESS_VERSION})", access.version));
        }
        for (section, rule) in [("read", &access.read), ("control", &access.control)] {
            for user in &rule.users {
                if user != "*" && !slack_id(user, &['U', 'W']) {
                    return Err(format!("{section}.users: {user:?} is not a Slack user id (U… or W…) or \"*\""));
                }
            }
            for group in &rule.groups {
                if !slack_id(group, &['S']) {
                    return Err(format!("{section}.groups: {group:?} is not a Slack user group id (S…)"));
                }
            }
            for channel in rule.channels.iter().flatten() {
                if !slack_id(channel, &['C', 'G', 'D']) {
                    return Err(format!("{section}.channels: {channel:?} is not a Slack channel id (C…, G… or D…)"));
                }
            }
        }
        Ok(access)
    }
}

/// Whether `id` looks like a Slack id starting with one of `first`: upper-case letters and
/// digits, 2 to 32 of them.
pub fn slack_id(id: &str, first: &[char]) -> bool {
    id.len() >= 2
        && id.len() <= 32
        && id.starts_with(first)
        && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The bot's secrets. Never printed: `Debug` shows their fingerprints.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    /// The format version (1).
    #[serde(default = "tokens_version")]
    pub version: u32,
    /// `xoxb-…`: the Web API (posting answers). `SLACK_BOT_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// `xapp-…`: Socket Mode. `SLACK_APP_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_token: Option<String>,
    /// Checks the requests of the HTTP endpoints. `SLACK_SIGNING_SECRET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

fn tokens_version() -> u32 {
    TOKENS_VERSION
}

impl Default for Tokens {
    /// None of them, in this format's version.
    fn default() -> Tokens {
        Tokens { version: TOKENS_VERSION, bot_token: None, app_token: None, signing_secret: None }
    }
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fp = |s: &Option<String>| s.as_deref().map(crate::security::fingerprint);
        f.debug_struct("Tokens")
            .field("bot_token", &fp(&self.bot_token))
            .field("app_token", &fp(&self.app_token))
            .field("signing_secret", &fp(&self.signing_secret))
            .finish()
    }
}

impl Tokens {
    /// The environment's `SLACK_BOT_TOKEN`, `SLACK_APP_TOKEN` and `SLACK_SIGNING_SECRET`.
    pub fn from_env() -> Tokens {
        Tokens::from_vars(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_vars(var: impl Fn(&str) -> Option<String>) -> Tokens {
        let get = |name: &str| var(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        Tokens {
            version: TOKENS_VERSION,
            bot_token: get("SLACK_BOT_TOKEN"),
            app_token: get("SLACK_APP_TOKEN"),
            signing_secret: get("SLACK_SIGNING_SECRET"),
        }
    }

    /// Each token of the environment, else of systemd's credential (an installed bot), else
    /// of the token file at `path`. A token file others can read, or a corrupt one, is refused.
    pub fn load(path: &Path) -> Result<Tokens> {
        let env = Tokens::from_env();
        let source = match std::env::var_os("CREDENTIALS_DIRECTORY") {
            Some(dir) if Path::new(&dir).join(TOKENS_CREDENTIAL).exists() => Path::new(&dir).join(TOKENS_CREDENTIAL),
            _ => path.to_owned(),
        };
        let stored = Tokens::read(&source)?.unwrap_or_default();
        let tokens = Tokens {
            version: TOKENS_VERSION,
            bot_token: env.bot_token.or(stored.bot_token),
            app_token: env.app_token.or(stored.app_token),
            signing_secret: env.signing_secret.or(stored.signing_secret),
        };
        tokens.check()?;
        Ok(tokens)
    }

    /// The token file at `path`, if there is one.
    pub fn read(path: &Path) -> Result<Option<Tokens>> {
        let fail = |why: &str| Error::Invalid {
            message: format!("the Slack token file {}: {why}", path.display()),
            hint: Some(
                "`tf slack-bot install` writes it again from SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_SIGNING_SECRET"
                    .into(),
            ),
        };
        let Some(text) = crate::security::read_private(path).map_err(|why| fail(&why))? else {
            return Ok(None);
        };
        let tokens: Tokens = crate::security::parse_private(&text).map_err(|why| fail(&why))?;
        if tokens.version != TOKENS_VERSION {
            return Err(fail(&format!("version {} is not known (this tf reads {TOKENS_VERSION})", tokens.version)));
        }
        Ok(Some(tokens))
    }

    /// Refuse tokens of the wrong kind, naming the variable (never the value).
    pub fn check(&self) -> Result<()> {
        let bad = |name: &str, what: &str| Error::Invalid { message: format!("{name}: {what}"), hint: None };
        if let Some(t) = &self.bot_token
            && (!t.starts_with("xoxb-") || !printable(t))
        {
            return Err(bad("SLACK_BOT_TOKEN", "not a bot token (xoxb-…)"));
        }
        if let Some(t) = &self.app_token
            && (!t.starts_with("xapp-") || !printable(t))
        {
            return Err(bad("SLACK_APP_TOKEN", "not an app-level token (xapp-…)"));
        }
        if let Some(s) = &self.signing_secret
            && (s.len() < 16 || !printable(s))
        {
            return Err(bad("SLACK_SIGNING_SECRET", "shorter than 16 characters or not printable"));
        }
        Ok(())
    }

    /// The TOML of the token file.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("tokens serialize")
    }
}

fn printable(s: &str) -> bool {
    s.len() <= 256 && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_file_names_a_wrong_field_and_line() {
        let ok = "version = 1\n[read]\nusers = [\"*\"]\nchannels = [\"C01\"]\n[control]\ngroups = [\"S9\"]\n";
        let access = Access::parse(ok).unwrap();
        assert!(access.read.user_named("U5") && access.read.channel_ok("C01") && !access.read.channel_ok("C02"));
        assert!(access.control.channel_ok("C02") && !access.control.user_named("U5"));
        let check = |text: &str, error: &str| assert_eq!(Access::parse(text).unwrap_err(), error, "{text}");
        check("version = 2", "version: 2 is not known (this tf reads 1)");
        check(
            "version = 1\n[read]\nusers = [\"bob\"]",
            "read.users: \"bob\" is not a Slack user id (U… or W…) or \"*\"",
        );
        check("version = 1\n[control]\ngroups = [\"U1\"]", "control.groups: \"U1\" is not a Slack user group id (S…)");
        check(
            "version = 1\n[read]\nchannels = [\"#ops\"]",
            "read.channels: \"#ops\" is not a Slack channel id (C…, G… or D…)",
        );
        let e = Access::parse("version = 1\n[read]\nuser = []").unwrap_err();
        assert!(e.starts_with("line 3: unknown field `user`"), "{e}");
    }

    #[test]
    fn tokens_of_the_wrong_kind_are_refused_without_their_value() {
        let vars = |bot: &'static str| move |name: &str| (name == "SLACK_BOT_TOKEN").then(|| bot.to_owned());
        assert!(Tokens::from_vars(vars("xoxb-1-2")).check().is_ok());
        let e = Tokens::from_vars(vars("xoxp-secret")).check().unwrap_err().to_string();
        assert_eq!(e, "SLACK_BOT_TOKEN: not a bot token (xoxb-…)");
        let debug = format!("{:?}", Tokens::from_vars(vars("xoxb-very-secret")));
        assert!(!debug.contains("very-secret"), "{debug}");
    }
}

//! Where `tf monitor` sends alerts: Slack, webhooks and email, from flags and the environment.

use taskflows_alerts::{Destination, Email, EmailConfig, Slack, SmtpSecurity, Webhook};

use crate::Failure;

/// Where alerts go. SMTP settings come from flags or `TF_SMTP_HOST`, `TF_SMTP_PORT`,
/// `TF_SMTP_SECURITY`, `TF_SMTP_USER`, `TF_EMAIL_FROM`; the password only from `TF_SMTP_PASSWORD`.
#[derive(clap::Args)]
pub(crate) struct AlertArgs {
    /// Post alerts to this Slack channel, with the bot token in SLACK_BOT_TOKEN.
    #[arg(long, value_name = "CHANNEL")]
    slack_channel: Option<String>,
    /// POST alerts to this webhook (Discord-style `{"content": …}`); repeatable. More from
    /// TF_MONITOR_WEBHOOKS (URLs separated by spaces): `tf monitor install` keeps them there, in
    /// its private env file, never in the unit or a command line.
    #[arg(long, value_name = "URL")]
    webhook: Vec<String>,
    /// Mail alerts to this address; repeatable (needs an SMTP host and a sender).
    #[arg(long, value_name = "ADDRESS")]
    email_to: Vec<String>,
    /// SMTP server [env: TF_SMTP_HOST].
    #[arg(long, value_name = "HOST")]
    smtp_host: Option<String>,
    /// SMTP port (default 465 for tls, 587 for starttls, 25 for plain) [env: TF_SMTP_PORT].
    #[arg(long, value_name = "PORT")]
    smtp_port: Option<u16>,
    /// tls, starttls (default) or plain [env: TF_SMTP_SECURITY].
    #[arg(long, value_name = "MODE")]
    smtp_security: Option<String>,
    /// SMTP login, when not the sender [env: TF_SMTP_USER].
    #[arg(long, value_name = "USER")]
    smtp_user: Option<String>,
    /// The sender address [env: TF_EMAIL_FROM].
    #[arg(long, value_name = "ADDRESS")]
    email_from: Option<String>,
    /// With --smtp-security plain: log in all the same (a relay on this host); otherwise a
    /// password over an unencrypted connection is refused.
    #[arg(long)]
    smtp_allow_cleartext_login: bool,
}

/// More webhook URLs, separated by white space; where `tf monitor install` puts `--webhook`.
pub(crate) const WEBHOOKS_VAR: &str = "TF_MONITOR_WEBHOOKS";

/// A variable by its `TF_` name or its `TASKFLOWS_` one ([`taskflows_api::env_var`]).
pub(crate) fn env(name: &str) -> Option<String> {
    taskflows_api::env_var(name)
}

/// 64-bit FNV-1a: a stable name for a webhook in the state file without its URL.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

pub(crate) fn usage(message: String) -> Failure {
    Failure::new(2, anyhow::anyhow!(message))
}

impl AlertArgs {
    fn smtp_host(&self) -> Option<String> {
        self.smtp_host.clone().or_else(|| env("TF_SMTP_HOST"))
    }
    fn smtp_port(&self) -> Result<Option<u16>, Failure> {
        match (self.smtp_port, env("TF_SMTP_PORT")) {
            (Some(p), _) => Ok(Some(p)),
            (None, Some(p)) => p
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| usage(format!("TF_SMTP_PORT={p:?} is not a port; give a number from 1 to 65535"))),
            (None, None) => Ok(None),
        }
    }
    fn smtp_security(&self) -> Option<String> {
        self.smtp_security.clone().or_else(|| env("TF_SMTP_SECURITY"))
    }
    fn smtp_user(&self) -> Option<String> {
        self.smtp_user.clone().or_else(|| env("TF_SMTP_USER"))
    }
    fn email_from(&self) -> Option<String> {
        self.email_from.clone().or_else(|| env("TF_EMAIL_FROM"))
    }

    /// The webhook URLs: `--webhook`, then those in TF_MONITOR_WEBHOOKS.
    pub(crate) fn webhooks(&self) -> Vec<String> {
        let from_env = env(WEBHOOKS_VAR).unwrap_or_default();
        let mut all = self.webhook.clone();
        for url in from_env.split_whitespace() {
            if !all.iter().any(|u| u == url) {
                all.push(url.to_owned());
            }
        }
        all
    }

    /// The destinations, each with the key the monitor's state records deliveries under
    /// (`slack:CHANNEL`, `webhook:HASH` (the URL is a secret), `email:RECEIVERS`); a missing
    /// setting is a usage error naming the flag and variable.
    pub(crate) fn destinations(&self) -> Result<Vec<(String, Destination)>, Failure> {
        let mut all: Vec<(String, Destination)> = Vec::new();
        if let Some(channel) = &self.slack_channel {
            let slack = Slack::from_env(channel.clone())
                .map_err(|e| usage(format!("--slack-channel: {e}; export the bot token (xoxb-…)")))?;
            all.push((format!("slack:{channel}"), slack.into()));
        }
        for url in &self.webhooks() {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(usage(format!("--webhook (or {WEBHOOKS_VAR}) {url:?}: give an http:// or https:// URL")));
            }
            let key = format!("webhook:{:016x}", fnv1a(url));
            all.push((key, Webhook::new(url.clone()).map_err(|e| Failure::new(1, e))?.into()));
        }
        if !self.email_to.is_empty() {
            let host = self
                .smtp_host()
                .ok_or_else(|| usage("--email-to needs an SMTP server: --smtp-host or TF_SMTP_HOST".into()))?;
            let sender = self
                .email_from()
                .ok_or_else(|| usage("--email-to needs a sender: --email-from or TF_EMAIL_FROM".into()))?;
            let security = match self.smtp_security().as_deref().map(str::to_ascii_lowercase).as_deref() {
                None | Some("starttls") => SmtpSecurity::StartTls,
                Some("tls") => SmtpSecurity::ImplicitTls,
                Some("plain") => SmtpSecurity::Plain,
                Some(other) => {
                    return Err(usage(format!(
                        "--smtp-security (or TF_SMTP_SECURITY) {other:?}: use tls, starttls or plain"
                    )));
                }
            };
            let config = EmailConfig {
                host,
                port: self.smtp_port()?,
                security,
                sender,
                username: self.smtp_user(),
                password: env("TF_SMTP_PASSWORD"),
                receivers: self.email_to.clone(),
                root_certificate: None,
                allow_cleartext_login: self.smtp_allow_cleartext_login,
            };
            let key = format!("email:{}", self.email_to.join(","));
            all.push((key, Email::new(config).map_err(|e| usage(format!("--email-to: {e}")))?.into()));
        }
        Ok(all)
    }

    /// The same settings as `tf` arguments, but for the secrets: the password, the token and the
    /// webhook URLs (bearer secrets) stay in the environment.
    pub(crate) fn to_args(&self) -> Result<Vec<String>, Failure> {
        let mut args = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(format!("--{name}"));
                args.push(v);
            }
        };
        flag("slack-channel", self.slack_channel.clone());
        for to in &self.email_to {
            flag("email-to", Some(to.clone()));
        }
        if !self.email_to.is_empty() {
            flag("smtp-host", self.smtp_host());
            flag("smtp-port", self.smtp_port()?.map(|p| p.to_string()));
            flag("smtp-security", self.smtp_security());
            flag("smtp-user", self.smtp_user());
            flag("email-from", self.email_from());
            if self.smtp_allow_cleartext_login {
                args.push("--smtp-allow-cleartext-login".to_owned());
            }
        }
        Ok(args)
    }
}

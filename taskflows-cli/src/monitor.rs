//! `tf monitor check` and `tf monitor install`: the missed-run monitor (dead-man switch) and
//! the alerts it sends, once per problem.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::Context as _;
use taskflows_alerts::{Alert, Alerts, Destination, Email, EmailConfig, Slack, SmtpSecurity, Table, Webhook};
use taskflows_core::{Periodic, RelativeTo, Scope, ServiceSpec, StartOn};
use taskflows_systemd::monitor::Problem;

use crate::monitor_state::{self, Alerted};
use crate::output::Style;
use crate::services::{connect, select};
use crate::{Failure, host, parse_duration, print};

/// The name `tf monitor install` installs the monitor as.
pub(crate) const MONITOR_SERVICE: &str = "tf-monitor";

/// Variables the installed monitor needs and the unit file must not show: written to a private
/// env file.
const SECRET_VARS: [&str; 4] =
    ["SLACK_BOT_TOKEN", "TF_SMTP_PASSWORD", "SLACK_ATTACHMENT_MAX_SIZE_MB", "SLACK_INLINE_TABLES_MAX_ROWS"];

#[derive(clap::Subcommand)]
pub(crate) enum MonitorCommand {
    /// Check services with timers: timer not loaded or inactive, runs overdue, failed last runs.
    /// Exit 1 when there is a problem; each problem is alerted once.
    Check(CheckArgs),
    /// Install the monitor as the periodic service `tf-monitor` running `tf monitor check`
    /// (remove it with `tf remove tf-monitor`).
    Install {
        /// How often to check.
        #[arg(long, default_value = "5min", value_parser = parse_duration)]
        every: taskflows_core::Duration,
        #[command(flatten)]
        check: CheckArgs,
    },
}

#[derive(clap::Args)]
pub(crate) struct CheckArgs {
    /// A service name or glob (default: all).
    pattern: Option<String>,
    /// How late a run may start before it counts as overdue (beyond the timer's own accuracy
    /// and randomized delay).
    #[arg(long, default_value = "10min", value_parser = parse_duration)]
    grace: taskflows_core::Duration,
    #[arg(long)]
    json: bool,
    /// Exit 0 even when there are problems (they are printed and alerted); exit 1 only when the
    /// check itself failed. The installed monitor runs with it, so its own last run fails only
    /// when it could not check.
    #[arg(long)]
    exit_zero: bool,
    #[command(flatten)]
    alerts: AlertArgs,
}

/// Where alerts go. SMTP settings come from flags or `TF_SMTP_HOST`, `TF_SMTP_PORT`,
/// `TF_SMTP_SECURITY`, `TF_SMTP_USER`, `TF_EMAIL_FROM`; the password only from `TF_SMTP_PASSWORD`.
#[derive(clap::Args)]
struct AlertArgs {
    /// Post alerts to this Slack channel, with the bot token in SLACK_BOT_TOKEN.
    #[arg(long, value_name = "CHANNEL")]
    slack_channel: Option<String>,
    /// POST alerts to this webhook (Discord-style `{"content": …}`); repeatable.
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
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn usage(message: String) -> Failure {
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

    /// The destinations; a missing setting is a usage error naming the flag and variable.
    fn destinations(&self) -> Result<Vec<Destination>, Failure> {
        let mut all: Vec<Destination> = Vec::new();
        if let Some(channel) = &self.slack_channel {
            let slack = Slack::from_env(channel.clone())
                .map_err(|e| usage(format!("--slack-channel: {e}; export the bot token (xoxb-…)")))?;
            all.push(slack.into());
        }
        for url in &self.webhook {
            if !url.starts_with("http://") && !url.starts_with("https://") {
                return Err(usage(format!("--webhook {url:?}: give an http:// or https:// URL")));
            }
            all.push(Webhook::new(url.clone()).map_err(|e| Failure::new(1, e))?.into());
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
            };
            all.push(Email::new(config).map_err(|e| usage(format!("--email-to: {e}")))?.into());
        }
        Ok(all)
    }

    /// The same settings as `tf` arguments (the password and token stay in the environment).
    fn to_args(&self) -> Result<Vec<String>, Failure> {
        let mut args = Vec::new();
        let mut flag = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(format!("--{name}"));
                args.push(v);
            }
        };
        flag("slack-channel", self.slack_channel.clone());
        for url in &self.webhook {
            flag("webhook", Some(url.clone()));
        }
        for to in &self.email_to {
            flag("email-to", Some(to.clone()));
        }
        if !self.email_to.is_empty() {
            flag("smtp-host", self.smtp_host());
            flag("smtp-port", self.smtp_port()?.map(|p| p.to_string()));
            flag("smtp-security", self.smtp_security());
            flag("smtp-user", self.smtp_user());
            flag("email-from", self.email_from());
        }
        Ok(args)
    }
}

pub(crate) fn run(command: MonitorCommand, scope: Scope) -> Result<ExitCode, Failure> {
    match command {
        MonitorCommand::Check(args) => crate::services::block_on(check(scope, &args)),
        MonitorCommand::Install { every, check } => install(scope, every, &check),
    }
}

/// `tf monitor check`.
async fn check(scope: Scope, args: &CheckArgs) -> Result<ExitCode, Failure> {
    let alerts = Alerts::new(args.alerts.destinations()?);
    let systemd = connect(scope).await?;
    let services = select(&systemd, args.pattern.as_deref())?;
    let now = jiff::Timestamp::now().as_microsecond() as u64;
    let grace = std::time::Duration::from_micros(args.grace.as_micros());
    let (checked, problems) = systemd.monitor(&services, now, grace).await?;
    if args.json {
        let value = serde_json::json!({ "checked": checked, "problems": problems });
        print(format!("{}\n", serde_json::to_string_pretty(&value).map_err(|e| Failure::new(1, e))?).as_bytes())?;
    } else if problems.is_empty() {
        print(format!("{checked} service(s) with timers checked: all healthy\n").as_bytes())?;
    } else {
        let mut table = crate::output::Table::new(&["SERVICE", "PROBLEM", "DETAIL"]);
        for p in &problems {
            table.row(vec![p.service.clone(), p.kind.to_string(), p.detail.clone()]);
        }
        print(table.render(&Style::detect()).as_bytes())?;
    }
    // after printing: a state file that cannot be read must not hide the report
    if alerts.has_destinations() {
        let names: BTreeSet<&str> = services.iter().map(|s| s.as_str()).collect();
        alert_once(scope, &alerts, &problems, &names).await?;
    }
    Ok(if problems.is_empty() || args.exit_zero { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Alert the problems not alerted yet and those resolved since, and remember what was
/// delivered. Only the `checked` services' entries are resolved.
async fn alert_once(
    scope: Scope,
    alerts: &Alerts,
    problems: &[Problem],
    checked: &BTreeSet<&str>,
) -> Result<(), Failure> {
    let path = monitor_state::path(&host::data_dir(scope));
    let mut state = monitor_state::load(&path)?;
    let before = state.clone();
    let scope_name = scope_name(scope).to_owned();
    let key = |p: &Problem| Alerted { scope: scope_name.clone(), service: p.service.clone(), problem: p.kind };
    let current: BTreeSet<Alerted> = problems.iter().map(key).collect();
    let new: Vec<&Problem> = problems.iter().filter(|p| !state.contains(&key(p))).collect();
    let resolved: Vec<Alerted> = state
        .iter()
        .filter(|a| a.scope == scope_name && checked.contains(a.service.as_str()) && !current.contains(a))
        .cloned()
        .collect();
    let host = hostname();
    if !new.is_empty() {
        let mut table = Table::new(["SERVICE", "PROBLEM", "DETAIL"]);
        for p in &new {
            table.row([p.service.clone(), p.kind.to_string(), p.detail.clone()]);
        }
        let title = format!("tf monitor: {} new problem(s) on {host} ({scope_name} services)", new.len());
        if alerts.deliver(&Alert::check(MONITOR_SERVICE, title, "", Some(table))).await {
            state.extend(new.iter().map(|p| key(p)));
        } else {
            eprintln!("warning: the alert was not delivered; the next check tries again");
        }
    }
    if !resolved.is_empty() {
        let mut table = Table::new(["SERVICE", "PROBLEM"]);
        for a in &resolved {
            table.row([a.service.clone(), a.problem.to_string()]);
        }
        let title = format!("tf monitor: {} problem(s) resolved on {host} ({scope_name} services)", resolved.len());
        if alerts.deliver(&Alert::check(MONITOR_SERVICE, title, "", Some(table))).await {
            for a in &resolved {
                state.remove(a);
            }
        }
    }
    if state != before {
        monitor_state::save(&path, &state)?;
    }
    Ok(())
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::System => "system",
        Scope::User => "user",
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "this host".to_owned(), |h| h.trim().into())
}

/// `tf monitor install`: the periodic service `tf-monitor` running `tf monitor check` with the
/// same options.
fn install(scope: Scope, every: taskflows_core::Duration, args: &CheckArgs) -> Result<ExitCode, Failure> {
    args.alerts.destinations()?; // refuse now what the service would refuse at each run
    let ctx = host::render_context(scope)?;
    let tf = ctx.tf_binary.to_string();
    let mut words = vec![tf, format!("--{}", scope_name(scope)), "monitor".into(), "check".into()];
    words.extend(args.pattern.clone());
    words.extend(["--grace".to_owned(), args.grace.to_string(), "--exit-zero".to_owned()]);
    words.extend(args.alerts.to_args()?);
    let command: Vec<String> = words.iter().map(|w| exec_quote(w)).collect();
    let schedule =
        Periodic::new(StartOn::Boot, every, RelativeTo::Start).map_err(|e| usage(format!("--every: {e}")))?;
    let mut builder = ServiceSpec::builder(MONITOR_SERVICE, &command.join(" "))
        .description("taskflows missed-run monitor (tf monitor check)")
        .start_schedule(schedule);
    if let Ok(dir) = std::env::var("TASKFLOWS_DATA_DIR") {
        builder = builder.env("TASKFLOWS_DATA_DIR", &dir);
    }
    let secrets: Vec<(&str, String)> = SECRET_VARS.iter().filter_map(|v| Some((*v, env(v)?))).collect();
    if !secrets.is_empty() {
        let file = host::data_dir(scope).join("monitor").join("monitor.env");
        write_private(&file, &secrets)?;
        builder = builder.env_file(&file.display().to_string());
    }
    let spec = builder.build()?;
    crate::services::block_on(crate::create::install(scope, &[spec], ctx))
}

/// `KEY=VALUE` lines, mode 0600, written atomically.
fn write_private(path: &std::path::Path, vars: &[(&str, String)]) -> Result<(), Failure> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().context("the env file has a folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temp = dir.join(format!(".monitor.env.{}.tmp", std::process::id()));
    let text: String = vars.iter().map(|(k, v)| format!("{k}={}\n", v.replace('\n', ""))).collect();
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().with_context(|| format!("cannot write {}", path.display())).map_err(Failure::from)
}

/// One word for systemd's `ExecStart=`: as is when plain, else double-quoted with `\` and `"`
/// escaped; `$` doubled so systemd does not expand it.
fn exec_quote(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_./:=@+,-%".contains(c));
    if plain {
        return word.to_owned();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn exec_words_are_quoted_for_systemd() {
        use super::exec_quote;
        assert_eq!(exec_quote("--grace"), "--grace");
        assert_eq!(exec_quote("https://h/x?a=1&b=2"), "\"https://h/x?a=1&b=2\"");
        assert_eq!(exec_quote("a \"b\" $HOME"), "\"a \\\"b\\\" $$HOME\"");
        assert_eq!(exec_quote("job-*"), "\"job-*\"");
        assert_eq!(exec_quote(""), "\"\"");
    }
}

//! `tf monitor check` and `tf monitor install`: the missed-run monitor (dead-man switch) and
//! the alerts it sends, once per problem (the operation is `taskflows_api`'s `monitor_check`).

use std::process::ExitCode;

use taskflows_alerts::Alerts;
use taskflows_api::{Local, MONITOR_SERVICE, MonitorRequest, Operations, scope_name};
use taskflows_core::{Periodic, RelativeTo, ServiceSpec, StartOn, env_file_quote};

use crate::monitor_alerts::{AlertArgs, WEBHOOKS_VAR, env, usage};
use crate::output::{Answer, Table, terminal_safe};
use crate::{Failure, exit_if, parse_duration, print, print_json};

/// Variables the installed monitor needs and the unit file must not show: written to a private
/// env file (with the webhook URLs, [`WEBHOOKS_VAR`]).
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
        /// (With --json: print what `create` did as JSON.)
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
    /// Print the answer as JSON (its schema: `tf schema --api`).
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

impl MonitorCommand {
    /// Whether the answer is asked for as JSON.
    pub(crate) fn json(&self) -> bool {
        match self {
            MonitorCommand::Check(args) | MonitorCommand::Install { check: args, .. } => args.json,
        }
    }
}

pub(crate) async fn run(local: &Local, command: MonitorCommand) -> Result<ExitCode, Failure> {
    match command {
        MonitorCommand::Check(args) => check(local, &args).await,
        MonitorCommand::Install { every, check } => install(local, every, &check).await,
    }
}

/// `tf monitor check`.
async fn check(local: &Local, args: &CheckArgs) -> Result<ExitCode, Failure> {
    // one `Alerts` per destination: each records its own deliveries
    let destinations: Vec<(String, Alerts)> =
        args.alerts.destinations()?.into_iter().map(|(key, d)| (key, Alerts::new([d]))).collect();
    let request = MonitorRequest {
        pattern: args.pattern.clone(),
        grace: std::time::Duration::from_micros(args.grace.as_micros()),
        destinations,
    };
    let report = local.monitor_check(&request).await?;
    let answer = problems(&report, args.exit_zero);
    let code = answer.print(args.json)?;
    for dest in &report.undelivered {
        eprintln!("warning: the alert was not delivered to {}; the next check tries again", kind(dest));
    }
    Ok(code)
}

/// The problems found, as a table (or a line when there are none).
fn problems(report: &taskflows_api::MonitorReport, exit_zero: bool) -> Answer {
    let answer = if report.problems.is_empty() {
        Answer::text(report, format!("{} service(s) with timers checked: all healthy\n", report.checked))
    } else {
        let mut table = Table::new(&["SERVICE", "PROBLEM", "DETAIL"]);
        for p in &report.problems {
            table.row(vec![p.service.clone(), p.kind.to_string(), terminal_safe(&p.detail).into_owned()]);
        }
        Answer::table(report, table)
    };
    Answer { ok: report.problems.is_empty() || exit_zero, ..answer }
}

/// `tf monitor check -s SERVER`: the server reports; it alerts nobody for this request.
pub(crate) async fn remote_check(remote: &impl Operations, command: &MonitorCommand) -> Result<Answer, Failure> {
    let MonitorCommand::Check(args) = command else {
        return Err(usage("tf monitor install acts on this host; drop -s (or install it on the server)".into()));
    };
    if !args.alerts.destinations()?.is_empty() {
        return Err(usage("alerts are sent by each server's own monitor; drop the alert options with -s".into()));
    }
    let grace = std::time::Duration::from_micros(args.grace.as_micros());
    let report = remote.monitor_check(&crate::fleet::monitor_request(args.pattern.clone(), grace)).await?;
    Ok(problems(&report, args.exit_zero))
}

/// `slack`, `webhook` or `email`: a destination's kind, from its key.
fn kind(key: &str) -> &str {
    key.split(':').next().unwrap_or(key)
}

/// `tf monitor install`: the periodic service `tf-monitor` running `tf monitor check` with the
/// same options.
async fn install(local: &Local, every: taskflows_core::Duration, args: &CheckArgs) -> Result<ExitCode, Failure> {
    args.alerts.destinations()?; // refuse now what the service would refuse at each run
    let ctx = crate::host::render_context(local.scope())?;
    let tf = ctx.tf_binary.to_string();
    let mut words = vec![tf, format!("--{}", scope_name(local.scope())), "monitor".into(), "check".into()];
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
    let mut secrets: Vec<(&str, String)> = SECRET_VARS.iter().filter_map(|v| Some((*v, env(v)?))).collect();
    let webhooks = args.alerts.webhooks();
    if !webhooks.is_empty() {
        secrets.push((WEBHOOKS_VAR, webhooks.join(" ")));
    }
    if !secrets.is_empty() {
        let file = local.data_dir().join("monitor").join("monitor.env");
        // Under the data folder's lock, like every write there.
        local.write_private(&file, env_file_text(&secrets).as_bytes()).await?;
        builder = builder.env_file(&file.display().to_string());
    }
    let spec = builder.build()?;
    let report = local.install(vec![spec], None).await?;
    if args.json {
        print_json(&report)?;
    } else {
        print(crate::create::report_lines(&report).as_bytes())?;
    }
    Ok(exit_if(report.ok))
}

/// `KEY='VALUE'` lines ([`env_file_quote`]).
fn env_file_text(vars: &[(&str, String)]) -> String {
    vars.iter().map(|(k, v)| format!("{k}={}\n", env_file_quote(v))).collect()
}

/// One word for systemd's `ExecStart=`: as is when plain, else double-quoted with `\` and `"`
/// escaped; `$` doubled so systemd does not expand it.
pub(crate) fn exec_quote(word: &str) -> String {
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

    /// Values systemd's `EnvironmentFile=` parser used to mangle: backslashes, quotes, `$`, `#`,
    /// white space at either end, line breaks.
    const TRICKY: [&str; 10] =
        ["p\\ss", "\"abc", "it's", "a b  ", "$HOME ${X}", "x'y\"z\\", "#not a comment", " lead", "two\nlines", "end\\"];

    #[test]
    fn env_file_values_are_single_quoted() {
        use taskflows_core::env_file_quote;
        assert_eq!(env_file_quote("p\\ss"), "'p\\ss'");
        assert_eq!(env_file_quote("\"abc"), "'\"abc'");
        assert_eq!(env_file_quote("it's"), "'it'\"'\"'s'");
        assert_eq!(env_file_quote("''"), "''\"'\"''\"'\"''");
    }

    /// Round trip through systemd 252's parser: a transient service reading the file prints each
    /// variable.
    #[test]
    #[ignore = "needs real systemd: cargo xtask test-systemd"]
    fn env_file_values_reach_a_service_unchanged() {
        assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("monitor").join("monitor.env");
        let keys: Vec<String> = (0..TRICKY.len()).map(|i| format!("TF_TRICKY_{i}")).collect();
        let vars: Vec<(&str, String)> = keys.iter().map(String::as_str).zip(TRICKY.map(str::to_owned)).collect();
        taskflows_systemd::files::write_private(&file, super::env_file_text(&vars).as_bytes()).unwrap();
        let user = std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user");
        for (key, value) in &vars {
            let out = std::process::Command::new("systemd-run")
                .args(if user { &["--user"][..] } else { &[][..] })
                .args(["--quiet", "--wait", "--pipe", "--collect"])
                .arg(format!("--property=EnvironmentFile={}", file.display()))
                .args(["/usr/bin/printenv", key])
                .output()
                .expect("systemd-run runs");
            assert!(out.status.success(), "{key}: {}", String::from_utf8_lossy(&out.stderr));
            assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{value}\n"), "{key}");
        }
    }
}

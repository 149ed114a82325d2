//! `tf monitor check` and `tf monitor install`: the missed-run monitor (dead-man switch) and
//! the alerts it sends, once per problem.

use std::collections::BTreeSet;
use std::process::ExitCode;

use taskflows_alerts::{Alert, Alerts, Table};
use taskflows_core::{Periodic, RelativeTo, Scope, ServiceSpec, StartOn};
use taskflows_systemd::monitor::Problem;

use crate::monitor_alerts::{AlertArgs, WEBHOOKS_VAR, env, usage};
use crate::monitor_state::{self, Alerted};
use crate::output::Style;
use crate::services::{connect, select};
use crate::{Failure, host, parse_duration, print};

/// The name `tf monitor install` installs the monitor as.
pub(crate) const MONITOR_SERVICE: &str = "tf-monitor";

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

pub(crate) fn run(command: MonitorCommand, scope: Scope) -> Result<ExitCode, Failure> {
    match command {
        MonitorCommand::Check(args) => crate::services::block_on(check(scope, &args)),
        MonitorCommand::Install { every, check } => install(scope, every, &check),
    }
}

/// `tf monitor check`.
async fn check(scope: Scope, args: &CheckArgs) -> Result<ExitCode, Failure> {
    // one `Alerts` per destination: each records its own deliveries
    let destinations: Vec<(String, Alerts)> =
        args.alerts.destinations()?.into_iter().map(|(key, d)| (key, Alerts::new([d]))).collect();
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
    if !destinations.is_empty() {
        let names: BTreeSet<&str> = services.iter().map(|s| s.as_str()).collect();
        let installed = systemd.installed()?;
        let installed: BTreeSet<&str> = installed.iter().map(|s| s.as_str()).collect();
        alert_once(scope, &destinations, &problems, &names, &installed).await?;
    }
    Ok(if problems.is_empty() || args.exit_zero { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Alert each destination the problems it was not alerted yet and those resolved since, and
/// remember what each one took: a destination that failed is tried again at the next check, the
/// others are not alerted twice. Only the `checked` services' entries are resolved; the entries
/// of services no longer `installed` are dropped (the service is gone: nothing to resolve, and a
/// service created again under its name is alerted afresh).
async fn alert_once(
    scope: Scope,
    destinations: &[(String, Alerts)],
    problems: &[Problem],
    checked: &BTreeSet<&str>,
    installed: &BTreeSet<&str>,
) -> Result<(), Failure> {
    let path = monitor_state::path(&host::data_dir(scope));
    let keys: BTreeSet<String> = destinations.iter().map(|(k, _)| k.clone()).collect();
    let mut state = monitor_state::load(&path, &keys)?;
    let before = state.clone();
    let scope_name = scope_name(scope).to_owned();
    state.retain(|a, _| a.scope != scope_name || installed.contains(a.service.as_str()));
    let key = |p: &Problem| Alerted { scope: scope_name.clone(), service: p.service.clone(), problem: p.kind };
    let current: BTreeSet<Alerted> = problems.iter().map(key).collect();
    let resolved: Vec<Alerted> = state
        .keys()
        .filter(|a| a.scope == scope_name && checked.contains(a.service.as_str()) && !current.contains(a))
        .cloned()
        .collect();
    let host = hostname();
    for (dest, alerts) in destinations {
        let new: Vec<&Problem> =
            problems.iter().filter(|p| !state.get(&key(p)).is_some_and(|d| d.contains(dest))).collect();
        if !new.is_empty() {
            let mut table = Table::new(["SERVICE", "PROBLEM", "DETAIL"]);
            for p in &new {
                table.row([p.service.clone(), p.kind.to_string(), p.detail.clone()]);
            }
            let title = format!("tf monitor: {} new problem(s) on {host} ({scope_name} services)", new.len());
            if alerts.deliver(&Alert::check(MONITOR_SERVICE, title, "", Some(table))).await {
                for p in &new {
                    state.entry(key(p)).or_default().insert(dest.clone());
                }
            } else {
                eprintln!("warning: the alert was not delivered to {}; the next check tries again", kind(dest));
            }
        }
        let gone: Vec<&Alerted> = resolved.iter().filter(|a| state.get(a).is_some_and(|d| d.contains(dest))).collect();
        if !gone.is_empty() {
            let mut table = Table::new(["SERVICE", "PROBLEM"]);
            for a in &gone {
                table.row([a.service.clone(), a.problem.to_string()]);
            }
            let title = format!("tf monitor: {} problem(s) resolved on {host} ({scope_name} services)", gone.len());
            if alerts.deliver(&Alert::check(MONITOR_SERVICE, title, "", Some(table))).await {
                for a in gone {
                    if let Some(d) = state.get_mut(a) {
                        d.remove(dest);
                    }
                }
            }
        }
    }
    // A resolved problem is forgotten once every destination here took its resolution (those not
    // configured any more cannot be told).
    for a in &resolved {
        if let Some(d) = state.get_mut(a) {
            d.retain(|k| keys.contains(k));
        }
    }
    state.retain(|_, d| !d.is_empty());
    if state != before {
        monitor_state::save(&path, &state)?;
    }
    Ok(())
}

/// `slack`, `webhook` or `email`: a destination's kind, from its key.
fn kind(key: &str) -> &str {
    key.split(':').next().unwrap_or(key)
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
    let mut secrets: Vec<(&str, String)> = SECRET_VARS.iter().filter_map(|v| Some((*v, env(v)?))).collect();
    let webhooks = args.alerts.webhooks();
    if !webhooks.is_empty() {
        secrets.push((WEBHOOKS_VAR, webhooks.join(" ")));
    }
    if !secrets.is_empty() {
        let file = host::data_dir(scope).join("monitor").join("monitor.env");
        write_private(&file, &secrets)?;
        builder = builder.env_file(&file.display().to_string());
    }
    let spec = builder.build()?;
    crate::services::block_on(crate::create::install(scope, &[spec], ctx))
}

/// `KEY='VALUE'` lines ([`env_file_quote`]), mode 0600, written atomically.
fn write_private(path: &std::path::Path, vars: &[(&str, String)]) -> Result<(), Failure> {
    let text: String = vars.iter().map(|(k, v)| format!("{k}={}\n", env_file_quote(v))).collect();
    taskflows_systemd::files::write_private(path, text.as_bytes())?;
    Ok(())
}

/// A value for systemd's `EnvironmentFile=`, read back as is. Unquoted, systemd drops
/// backslashes, and quotes start quoting; inside double quotes `\` escapes some characters and
/// not others. Inside single quotes every character but `'` is literal, line breaks included, and
/// quoted parts next to each other join: `'` itself is written as `"'"` between single-quoted
/// parts (`it's` is `'it'"'"'s'`).
fn env_file_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\"'\"'"))
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

    /// Values systemd's `EnvironmentFile=` parser used to mangle: backslashes, quotes, `$`, `#`,
    /// white space at either end, line breaks.
    const TRICKY: [&str; 10] =
        ["p\\ss", "\"abc", "it's", "a b  ", "$HOME ${X}", "x'y\"z\\", "#not a comment", " lead", "two\nlines", "end\\"];

    #[test]
    fn env_file_values_are_single_quoted() {
        use super::env_file_quote;
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
        super::write_private(&file, &vars).unwrap();
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

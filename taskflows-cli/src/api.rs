//! `tf api …`: serve the API, install it as the service `tf-api`, manage its signing secret.

use std::io::Read as _;
use std::process::ExitCode;

use taskflows_api::security::{Security, check_secret, fingerprint, security_path};
use taskflows_api::server::ServeArgs;
use taskflows_api::{Action, ControlRequest, Operations as _, Targets, exit, scope_name};
use taskflows_core::{RestartCondition, Scope, ServiceSpec};

use crate::output::Answer;
use crate::{Failure, print};

/// The service `tf api start` installs.
pub(crate) const API_SERVICE: &str = "tf-api";

#[derive(clap::Subcommand)]
pub(crate) enum ApiCommand {
    /// Serve the API in the foreground (what the `tf-api` service runs).
    Serve(ServeArgs),
    /// Install the API as the service `tf-api` and (re)start it; the security file reaches it
    /// through systemd's LoadCredential=, never its environment.
    Start {
        #[command(flatten)]
        serve: ServeArgs,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Stop the `tf-api` service.
    Stop {
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Restart the `tf-api` service.
    Restart {
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Show the `tf-api` service and whether requests are signed.
    Status {
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Request signing: the shared secret in the security file (DATA_DIR/api/security.toml).
    #[command(subcommand)]
    Security(SecurityCommand),
    /// Print a new random secret (32 bytes as 64 hex digits).
    GenerateSecret,
    /// Set up the web UI's login: add a user or set its password (asked twice, never echoed; read
    /// from stdin when it is not a terminal), and make the UI's token secret when there is none
    /// (DATA_DIR/api/ui.toml, 0600). TF_JWT_SECRET, TF_ADMIN_USER and TF_ADMIN_PASSWORD, when
    /// set where the server runs, take precedence over the file.
    SetupUi {
        /// The login name.
        #[arg(long)]
        username: String,
        /// Replace the token secret too (everyone logged in must log in again).
        #[arg(short = 'r', long)]
        regenerate_secret: bool,
    },
}

#[derive(clap::Subcommand)]
pub(crate) enum SecurityCommand {
    /// Turn signing on, with a new secret when there is none (or with -r).
    Setup {
        /// Replace the secret (clients need the new one), or a security file that cannot be read.
        #[arg(short = 'r', long)]
        regenerate_secret: bool,
    },
    /// Whether requests are signed, and the secret's fingerprint (never the secret).
    Status,
    /// Turn signing off: the API then listens on loopback only. The secret is kept.
    Disable,
    /// Create the bearer token Prometheus scrapes /metrics with from beyond loopback
    /// (DATA_DIR/api/metrics-token), and print it (-r: a new one).
    MetricsToken {
        /// Replace the token.
        #[arg(short = 'r', long)]
        regenerate: bool,
    },
    /// Sign with this secret (at least 32 bytes; `-` reads it from stdin).
    SetSecret {
        /// The secret, or `-`.
        secret: String,
    },
}

pub(crate) fn run(scope: Scope, command: ApiCommand, lock_timeout: std::time::Duration) -> Result<ExitCode, Failure> {
    let path = security_path(&taskflows_systemd::host::data_dir(scope));
    let local =
        || -> Result<taskflows_api::Local, Failure> { Ok(crate::host::local(scope)?.with_lock_timeout(lock_timeout)) };
    match command {
        ApiCommand::Serve(args) => {
            // main installed the subscriber, at info for the server.
            taskflows_api::server::run(&args, scope, std::env::current_exe().ok())?;
            Ok(ExitCode::SUCCESS)
        }
        ApiCommand::GenerateSecret => {
            print(format!("{}\n", taskflows_api::signing::new_secret()).as_bytes()).map(|()| ExitCode::SUCCESS)
        }
        ApiCommand::Security(command) => security(&path, command),
        ApiCommand::SetupUi { username, regenerate_secret } => setup_ui(scope, &username, regenerate_secret),
        ApiCommand::Start { serve, json } => crate::block_on(start(&local()?, scope, &serve, json)),
        ApiCommand::Stop { json } => crate::block_on(control(&local()?, Action::Stop, json)),
        ApiCommand::Restart { json } => crate::block_on(control(&local()?, Action::Restart, json)),
        ApiCommand::Status { json } => crate::block_on(status(&local()?, &path, json)),
    }
}

fn security(path: &std::path::Path, command: SecurityCommand) -> Result<ExitCode, Failure> {
    let say = |text: String| print(text.as_bytes()).map(|()| ExitCode::SUCCESS);
    match command {
        SecurityCommand::Setup { regenerate_secret } => {
            let current = match Security::load(path) {
                Ok(s) => Some(s),
                Err(_) if regenerate_secret || !path.exists() => None,
                // A broken file is never silently replaced.
                Err(e) => return Err(e.into()),
            };
            let secret = match current {
                Some(Security::Signed { secret } | Security::Disabled { secret: Some(secret) })
                    if !regenerate_secret =>
                {
                    secret
                }
                _ => taskflows_api::signing::new_secret(),
            };
            Security::Signed { secret: secret.clone() }.save(path)?;
            say(format!(
                "request signing is on; secret {} in {}\nclients: `tf server add NAME URL --secret-file FILE` with the secret (`sudo cat` the file's secret line)\n",
                fingerprint(&secret),
                path.display()
            ))
        }
        SecurityCommand::Status => match Security::load(path)? {
            Security::Signed { secret } => say(format!(
                "signing: on\nsecret: {} ({} bytes)\nfile: {}\n",
                fingerprint(&secret),
                secret.len(),
                path.display()
            )),
            Security::Disabled { .. } => {
                say(format!("signing: off (the API listens on loopback only)\nfile: {}\n", path.display()))
            }
        },
        SecurityCommand::Disable => {
            let secret = match Security::load(path) {
                Ok(Security::Signed { secret } | Security::Disabled { secret: Some(secret) }) => Some(secret),
                Ok(Security::Disabled { secret: None }) => None,
                Err(e) if path.exists() => return Err(e.into()),
                Err(_) => None,
            };
            Security::Disabled { secret }.save(path)?;
            say("request signing is off: the API now listens on loopback only (restart it: `tf api restart`)\n".into())
        }
        SecurityCommand::MetricsToken { regenerate } => {
            let token_path = taskflows_api::server::token_path(path.parent().and_then(|p| p.parent()).unwrap_or(path));
            let existing = std::fs::read_to_string(&token_path).ok().map(|t| t.trim().to_owned());
            let token = match existing {
                Some(t) if !regenerate && check_secret(&t).is_ok() => t,
                _ => {
                    let t = taskflows_api::signing::new_secret();
                    taskflows_systemd::files::write_private(&token_path, format!("{t}\n").as_bytes())?;
                    t
                }
            };
            say(format!("{token}\n"))
        }
        SecurityCommand::SetSecret { secret } => {
            let secret = if secret == "-" {
                let mut text = String::new();
                std::io::stdin().take(4096).read_to_string(&mut text)?;
                text.trim().to_owned()
            } else {
                secret
            };
            check_secret(&secret).map_err(Failure::from)?;
            Security::Signed { secret: secret.clone() }.save(path)?;
            say(format!("request signing is on; secret {} in {}\n", fingerprint(&secret), path.display()))
        }
    }
}

/// `tf api setup-ui`.
fn setup_ui(scope: Scope, username: &str, regenerate_secret: bool) -> Result<ExitCode, Failure> {
    use taskflows_api::server::ui::{UiFile, accounts};
    let data_dir = taskflows_systemd::host::data_dir(scope);
    let path = taskflows_api::server::ui::ui_path(&data_dir);
    // A file that cannot be read is refused, never replaced: it may hold other users.
    let mut file = UiFile::load(&path)?;
    accounts::check_username(username)?;
    let password = read_password("password: ")?;
    accounts::check_new_password(&password)?;
    if read_password("again: ")? != password {
        return Err(Failure::new(exit::USAGE, "the two passwords differ; nothing was written"));
    }
    let hmac = Security::load(&security_path(&data_dir)).ok().and_then(|s| match s {
        Security::Signed { secret } | Security::Disabled { secret: Some(secret) } => Some(secret),
        Security::Disabled { secret: None } => None,
    });
    let mut new_secret = false;
    if regenerate_secret || file.jwt_secret.is_none() || file.jwt_secret == hmac {
        file.jwt_secret = Some(taskflows_api::signing::new_secret());
        new_secret = true;
    }
    file.set_password(username, &password)?;
    file.save(&path)?;
    let secret = if new_secret { "a new token secret" } else { "its token secret kept" };
    print(
        format!(
            "web UI: user {username} set, {secret}, in {}
serve it with `tf api serve --ui` (or `tf api start --ui`), then open http://{}/
",
            path.display(),
            taskflows_api::server::DEFAULT_LISTEN
        )
        .as_bytes(),
    )
    .map(|()| ExitCode::SUCCESS)
}

/// A password: from the terminal without echo, or a line of stdin when it is not a terminal.
fn read_password(prompt: &str) -> Result<String, Failure> {
    use rustix::termios::{LocalModes, OptionalActions, isatty, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let mut line = String::new();
    if isatty(&stdin) {
        eprint!("{prompt}");
        let saved = tcgetattr(&stdin).map_err(std::io::Error::from)?;
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ECHONL);
        tcsetattr(&stdin, OptionalActions::Now, &quiet).map_err(std::io::Error::from)?;
        let read = stdin.read_line(&mut line);
        let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
        read?;
        restored.map_err(std::io::Error::from)?;
    } else {
        stdin.read_line(&mut line)?;
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

/// `tf api start`: install `tf-api` running `tf api serve` with these options, and (re)start it.
async fn start(local: &taskflows_api::Local, scope: Scope, serve: &ServeArgs, json: bool) -> Result<ExitCode, Failure> {
    // Refuse now what the service would refuse at its start.
    serve.config(scope)?.check()?;
    let path = security_path(&local.data_dir());
    let tf = crate::host::render_context(scope)?.tf_binary.to_string();
    let mut words = vec![tf, format!("--{}", scope_name(scope)), "api".into(), "serve".into()];
    words.extend(["--listen".to_owned(), serve.listen.to_string()]);
    for (flag, file) in [("--tls-cert", &serve.tls_cert), ("--tls-key", &serve.tls_key)] {
        if let Some(f) = file {
            let absolute = std::path::absolute(f)?;
            words.extend([flag.to_owned(), absolute.display().to_string()]);
        }
    }
    for name in &serve.names {
        words.extend(["--name".to_owned(), name.clone()]);
    }
    if serve.allow_plaintext {
        words.push("--allow-plaintext".into());
    }
    if serve.ui {
        words.push("--ui".into());
    }
    for proxy in &serve.trusted_proxies {
        words.extend(["--trusted-proxy".to_owned(), proxy.to_string()]);
    }
    let command: Vec<String> = words.iter().map(|w| crate::monitor::exec_quote(w)).collect();
    let mut builder = ServiceSpec::builder(API_SERVICE, &command.join(" "))
        .description("taskflows API server (tf api serve)")
        .restart_policy(RestartCondition::OnFailure)
        .credential(taskflows_api::security::CREDENTIAL, &path.display().to_string())
        .enabled(true);
    // The Slack endpoints' secrets, when `tf slack-bot install --http` stored them.
    let slack_tokens = taskflows_api::slack::config::tokens_path(&local.data_dir());
    if slack_tokens.exists() {
        builder =
            builder.credential(taskflows_api::slack::config::TOKENS_CREDENTIAL, &slack_tokens.display().to_string());
    }
    let (report, started, mut text) = crate::create::install_own_service(local, builder).await?;
    let scheme = if serve.tls_cert.is_some() { "https" } else { "http" };
    text.push_str(&format!("the API listens on {scheme}://{}\n", serve.listen));
    if serve.ui {
        text.push_str(&format!("the web UI is at {scheme}://{}/\n", serve.listen));
    }
    let answer = Answer {
        ok: report.ok && started.ok,
        ..Answer::text(&serde_json::json!({ "create": report, "start": started }), text)
    };
    answer.print(json)
}

async fn control(local: &taskflows_api::Local, action: Action, json: bool) -> Result<ExitCode, Failure> {
    let request = ControlRequest {
        pattern: API_SERVICE.into(),
        action,
        targets: Targets::Services,
        wait: false,
        timeout: None,
        force: false,
    };
    let report = local.control(&request).await?;
    let text = crate::services::control_lines(&report, &crate::output::Style::detect(), None);
    Answer { ok: report.ok, ..Answer::text(&report, text) }.print(json)
}

async fn status(local: &taskflows_api::Local, path: &std::path::Path, json: bool) -> Result<ExitCode, Failure> {
    let report = match local.status(Some(API_SERVICE), false).await {
        Ok(r) => r,
        Err(e) if e.exit_code() == exit::NO_MATCH => {
            return Err(Failure::new(exit::NO_MATCH, "the API is not installed here (`tf api start` installs it)"));
        }
        Err(e) => return Err(e.into()),
    };
    let signing = match Security::load(path) {
        Ok(Security::Signed { secret }) => format!("on (secret {})", fingerprint(&secret)),
        Ok(Security::Disabled { .. }) => "off (loopback only)".to_owned(),
        Err(e) => format!("the server will not start: {e}"),
    };
    let style = crate::output::Style::detect();
    let mut text =
        crate::services::status_table(&report.services, false, &style, jiff::Timestamp::now()).render(&style);
    text.push_str(&format!("signing: {signing}\n"));
    let value = serde_json::json!({ "status": report, "signing": signing });
    Answer::text(&value, text).print(json)
}

/// `tf metrics`: the services' metrics in the text format, to stdout or (atomically) a file.
pub(crate) async fn metrics(
    local: &taskflows_api::Local,
    output: Option<&std::path::Path>,
) -> Result<ExitCode, Failure> {
    let report = local.status(None, false).await?;
    let mut text = taskflows_api::metrics::services(&report.services);
    let monitor = taskflows_api::MonitorRequest {
        pattern: None,
        grace: taskflows_api::metrics::MONITOR_GRACE,
        destinations: Vec::new(),
    };
    let seen = local.monitor_check(&monitor).await?;
    text.push_str(&taskflows_api::metrics::monitor(&seen.problems, seen.checked, jiff::Timestamp::now()));
    match output {
        None => print(text.as_bytes())?,
        Some(path) => {
            // node_exporter reads the file while it may be rewritten: write beside it, rename.
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
            let mut tmp = tempfile::Builder::new().prefix(".taskflows-metrics").tempfile_in(dir)?;
            std::io::Write::write_all(&mut tmp, text.as_bytes())?;
            std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o644))?;
            tmp.persist(path)
                .map_err(|e| Failure::new(exit::FAILED, format!("cannot write {}: {}", path.display(), e.error)))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand)]
pub(crate) enum GrafanaCommand {
    /// Print the dashboard (services' states, runs and failures, durations, next runs, the API's
    /// requests, each service's logs from Loki), or push it to Grafana.
    Dashboard {
        /// Create or update it in the Grafana at TASKFLOWS_GRAFANA with the token in
        /// TASKFLOWS_GRAFANA_API_KEY (same uid every time: updated in place).
        #[arg(long)]
        push: bool,
        /// Write it to this file (for Grafana's file provisioning) instead of stdout.
        #[arg(long, short, conflicts_with = "push")]
        output: Option<std::path::PathBuf>,
    },
}

/// `tf grafana dashboard`.
pub(crate) async fn grafana(command: GrafanaCommand) -> Result<ExitCode, Failure> {
    let GrafanaCommand::Dashboard { push, output } = command;
    if push {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Failure::new(exit::USAGE, format!("--push needs {name}")))
        };
        let (url, key) = (var("TASKFLOWS_GRAFANA")?, var("TASKFLOWS_GRAFANA_API_KEY")?);
        let at = taskflows_api::grafana::push(&url, &key).await?;
        return print(format!("pushed dashboard {} to {url} ({at})\n", taskflows_api::grafana::UID).as_bytes())
            .map(|()| ExitCode::SUCCESS);
    }
    let text =
        serde_json::to_string_pretty(&taskflows_api::grafana::dashboard()).expect("the dashboard serializes") + "\n";
    match output {
        Some(path) => std::fs::write(&path, text)
            .map_err(|e| Failure::new(exit::FAILED, format!("cannot write {}: {e}", path.display())))?,
        None => print(text.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(clap::Subcommand)]
pub(crate) enum ObservabilityCommand {
    /// Print the configuration (Fluent Bit by default).
    Config {
        /// Grafana Alloy instead of Fluent Bit.
        #[arg(long)]
        alloy: bool,
    },
}

/// `tf observability config`.
pub(crate) fn observability(scope: Scope, command: ObservabilityCommand) -> Result<ExitCode, Failure> {
    let ObservabilityCommand::Config { alloy } = command;
    let target = taskflows_api::observability::LokiTarget::from_vars(|name| std::env::var(name).ok())?;
    let text = if alloy {
        taskflows_api::observability::alloy(&target, scope)
    } else {
        taskflows_api::observability::fluent_bit(&target, scope)
    };
    print(text.as_bytes()).map(|()| ExitCode::SUCCESS)
}

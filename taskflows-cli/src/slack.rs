//! `tf slack-bot run|install|status`: the Slack bot in the foreground, as the service
//! `tf-slack-bot`, and whether it works.

use std::process::ExitCode;

use taskflows_api::slack::config::{TOKENS_CREDENTIAL, access_path, tokens_path};
use taskflows_api::slack::{Access, Bot, Tokens, Web};
use taskflows_api::{Operations as _, exit, scope_name};
use taskflows_core::{RestartCondition, Scope, ServiceSpec};

use crate::Failure;
use crate::output::Answer;

/// The service `tf slack-bot install` installs.
pub(crate) const BOT_SERVICE: &str = "tf-slack-bot";

/// What a new access file says.
const ACCESS_TEMPLATE: &str = r#"# Who may use the taskflows Slack bot. Nobody may until a rule names them.
# A rule allows a user when `users` names them (or is ["*"]) or they are in one of the user
# `groups`, in one of the `channels` (any channel when `channels` is left out).
# Control (start, stop, restart, the Restart and Silence buttons of alerts) implies read.
version = 1

[read]
users = []            # e.g. ["U012ABCDEF"] or ["*"]
groups = []           # e.g. ["S012ABCDEF"]
# channels = []       # e.g. ["C012ABCDEF"]

[control]
users = []
groups = []
# channels = []

# Servers of `tf server list` that `-s SERVER` may name (none: only this host).
servers = []
"#;

#[derive(clap::Subcommand)]
pub(crate) enum SlackCommand {
    /// Serve Slack in the foreground over Socket Mode (what the `tf-slack-bot` service runs).
    /// Tokens: SLACK_BOT_TOKEN and SLACK_APP_TOKEN, else the token file
    /// (DATA_DIR/slack/tokens.toml); who may do what: DATA_DIR/slack/access.toml.
    Run,
    /// Store the tokens of SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_SIGNING_SECRET in the
    /// token file (0600; the service reads it through LoadCredential=, never its environment),
    /// write an access file allowing nobody when there is none, install `tf-slack-bot` and
    /// (re)start it.
    Install {
        /// Serve Slack through the API server's /slack endpoints instead of Socket Mode: store
        /// SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET only, and install no bot service (`tf api
        /// start` then serves them).
        #[arg(long)]
        http: bool,
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the bot's service, its tokens (fingerprints), who may use it, and whether Slack
    /// takes its bot token (`auth.test`).
    Status {
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(scope: Scope, command: SlackCommand, lock_timeout: std::time::Duration) -> Result<ExitCode, Failure> {
    let local =
        || -> Result<taskflows_api::Local, Failure> { Ok(crate::host::local(scope)?.with_lock_timeout(lock_timeout)) };
    match command {
        SlackCommand::Run => serve(local()?),
        SlackCommand::Install { http, json } => crate::block_on(install(&local()?, scope, http, json)),
        SlackCommand::Status { json } => crate::block_on(status(&local()?, json)),
    }
}

/// `tf slack-bot run`: until SIGTERM or SIGINT.
fn serve(local: taskflows_api::Local) -> Result<ExitCode, Failure> {
    let data_dir = local.data_dir();
    let tokens = Tokens::load(&tokens_path(&data_dir))?;
    let missing = |name: &str| {
        Failure::new(
            exit::USAGE,
            format!("{name} is not set (here, or in the token file `tf slack-bot install` writes)"),
        )
    };
    let bot_token = tokens.bot_token.clone().ok_or_else(|| missing("SLACK_BOT_TOKEN"))?;
    let app_token = tokens.app_token.clone().ok_or_else(|| missing("SLACK_APP_TOKEN"))?;
    match Access::load(&access_path(&data_dir))? {
        None => eprintln!(
            "warning: there is no access file ({}), so every command is refused",
            access_path(&data_dir).display()
        ),
        Some(access) if access.read.is_empty() && access.control.is_empty() => {
            eprintln!("warning: the access file allows nobody yet");
        }
        Some(_) => {}
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let web = Web::new(taskflows_api::slack::api_url_from_env()?.as_deref(), &bot_token)?;
        let bot = Bot::new(local, web);
        let stop = taskflows_api::terminated();
        taskflows_api::slack::socket::run(bot, &app_token, stop).await?;
        Ok::<(), Failure>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `tf slack-bot install [--http]`.
async fn install(local: &taskflows_api::Local, scope: Scope, http: bool, json: bool) -> Result<ExitCode, Failure> {
    let data_dir = local.data_dir();
    let path = tokens_path(&data_dir);
    let env = Tokens::from_env();
    env.check()?;
    let stored = Tokens::read(&path)?.unwrap_or_default();
    let tokens = Tokens {
        bot_token: env.bot_token.or(stored.bot_token),
        app_token: env.app_token.or(stored.app_token),
        signing_secret: env.signing_secret.or(stored.signing_secret),
        ..Tokens::default()
    };
    let need = |name: &str, what: &Option<String>| -> Result<(), Failure> {
        match what {
            Some(_) => Ok(()),
            None => Err(Failure::new(exit::USAGE, format!("{name} is not set (and not in {})", path.display()))),
        }
    };
    need("SLACK_BOT_TOKEN", &tokens.bot_token)?;
    if http {
        need("SLACK_SIGNING_SECRET", &tokens.signing_secret)?;
    } else {
        need("SLACK_APP_TOKEN", &tokens.app_token)?;
    }
    local.write_private(&path, tokens.to_toml().as_bytes()).await?;
    let access = access_path(&data_dir);
    let mut text = format!("tokens stored in {}\n", path.display());
    if !access.exists() {
        local.write_private(&access, ACCESS_TEMPLATE.as_bytes()).await?;
        text.push_str(&format!(
            "wrote {}: it allows nobody until you add users, groups or channels\n",
            access.display()
        ));
    }
    if http {
        text.push_str("the API server serves /slack/commands, /slack/interactivity and /slack/events once (re)started: `tf api start`\n");
        let value = serde_json::json!({ "tokens": path, "access": access });
        return Answer::text(&value, text).print(json);
    }
    let tf = crate::host::render_context(scope)?.tf_binary.to_string();
    let words = [tf, format!("--{}", scope_name(scope)), "slack-bot".into(), "run".into()];
    let command: Vec<String> = words.iter().map(|w| crate::monitor::exec_quote(w)).collect();
    let builder = ServiceSpec::builder(BOT_SERVICE, &command.join(" "))
        .description("taskflows Slack bot (tf slack-bot run)")
        .restart_policy(RestartCondition::OnFailure)
        .credential(TOKENS_CREDENTIAL, &path.display().to_string())
        .enabled(true);
    let (report, started, lines) = crate::create::install_own_service(local, builder).await?;
    text.push_str(&lines);
    let answer = Answer {
        ok: report.ok && started.ok,
        ..Answer::text(&serde_json::json!({ "create": report, "start": started }), text)
    };
    answer.print(json)
}

/// `tf slack-bot status`.
async fn status(local: &taskflows_api::Local, json: bool) -> Result<ExitCode, Failure> {
    let data_dir = local.data_dir();
    let mut text = String::new();
    let mut ok = true;
    let service = match local.status(Some(BOT_SERVICE), false).await {
        Ok(report) => {
            let style = crate::output::Style::detect();
            text.push_str(
                &crate::services::status_table(&report.services, false, &style, jiff::Timestamp::now()).render(&style),
            );
            ok &= report.services.iter().all(|s| !s.last_run_failed());
            Some(report)
        }
        Err(e) if e.exit_code() == exit::NO_MATCH => {
            text.push_str("the bot service is not installed (`tf slack-bot install`)\n");
            None
        }
        Err(e) => return Err(e.into()),
    };
    let tokens = Tokens::load(&tokens_path(&data_dir))?;
    let fp = |t: &Option<String>| t.as_deref().map_or("not set".to_owned(), taskflows_api::security::fingerprint);
    text.push_str(&format!(
        "bot token: {}\napp token: {}\nsigning secret: {}\n",
        fp(&tokens.bot_token),
        fp(&tokens.app_token),
        fp(&tokens.signing_secret)
    ));
    let access = Access::load(&access_path(&data_dir))?;
    let access_line = match &access {
        None => "no access file: every command is refused".to_owned(),
        Some(a) => format!(
            "access: read {} user(s) {} group(s), control {} user(s) {} group(s), {} server(s)",
            a.read.users.len(),
            a.read.groups.len(),
            a.control.users.len(),
            a.control.groups.len(),
            a.servers.len()
        ),
    };
    text.push_str(&access_line);
    text.push('\n');
    let slack = match &tokens.bot_token {
        Some(token) => {
            let web = Web::new(taskflows_api::slack::api_url_from_env()?.as_deref(), token)?;
            match web.whoami().await {
                Ok(who) => format!("slack: the bot token works: {who}"),
                Err(e) => {
                    ok = false;
                    format!("slack: the bot token does not work: {e}")
                }
            }
        }
        None => "slack: no bot token to check".to_owned(),
    };
    text.push_str(&crate::output::terminal_safe(&slack));
    text.push('\n');
    let value = serde_json::json!({
        "service": service,
        "tokens": {
            "bot_token": tokens.bot_token.as_deref().map(taskflows_api::security::fingerprint),
            "app_token": tokens.app_token.as_deref().map(taskflows_api::security::fingerprint),
            "signing_secret": tokens.signing_secret.as_deref().map(taskflows_api::security::fingerprint),
        },
        "access": access_line,
        "slack": slack,
    });
    Answer { ok, ..Answer::text(&value, text) }.print(json)
}

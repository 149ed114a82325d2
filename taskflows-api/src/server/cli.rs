//! The server's command line, shared by `taskflows-api` and `tf api serve`.

use std::net::SocketAddr;
use std::path::PathBuf;

use taskflows_core::Scope;

use super::{Limits, ServerConfig, TlsFiles};
use crate::security::{Security, security_path, security_source};
use crate::{Error, Local, Result};

/// Serve the API (signed requests; see the README's "Signed requests").
///
/// `TASKFLOWS_API_BODY_TIMEOUT` (whole seconds, 1–3600) replaces the default 30 s a client may
/// take to send a request's body ([`Limits::body_timeout`]); the sandbox tests shorten it.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Where to listen (plain HTTP on loopback only, unless --tls-cert/--tls-key or
    /// --allow-plaintext).
    #[arg(long, default_value = super::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP beyond loopback (behind a TLS-terminating proxy).
    #[arg(long)]
    pub allow_plaintext: bool,
    /// Another name clients reach this server by (the Host they sign for), e.g.
    /// `prod.example.com` or `prod.example.com:443` (repeatable).
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// Serve the web UI at / (also `TASKFLOWS_ENABLE_UI=1`); it needs `tf api setup-ui` first.
    #[arg(long)]
    pub ui: bool,
    /// A reverse proxy whose X-Forwarded-For names the client (the login limit counts by
    /// client); without one, X-Forwarded-For is ignored (repeatable).
    #[arg(long = "trusted-proxy", value_name = "IP")]
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl ServeArgs {
    /// The server's configuration for `scope`: the security file (from systemd's credential when
    /// started with one), the TLS files, the names.
    pub fn config(&self, scope: Scope) -> Result<ServerConfig> {
        let data_dir = taskflows_systemd::host::data_dir(scope);
        let security = Security::load(&security_source(&security_path(&data_dir)))?;
        if scope == Scope::System && matches!(security, Security::Disabled { .. }) {
            // Loopback is every local user's: an unsigned system API would run their requests as root.
            return Err(Error::Refused {
                message:
                    "request signing is disabled, and a system API without it would let every local user act as root"
                        .into(),
                hint: Some("`tf api security setup` turns signing on".into()),
            });
        }
        // TASKFLOWS_ names, or the Python tf's TF_ ones (TF_JWT_SECRET, TF_ADMIN_USER…).
        let var = |k: &str| crate::env_var(k);
        let ui = if self.ui || super::ui::enabled_by_env(var)? {
            let accounts = super::ui::accounts::Accounts::load(&super::ui::ui_path(&data_dir), security.secret(), var)
                .map_err(|e| match e {
                    Error::Invalid { message, hint } => {
                        Error::Invalid { message: format!("the web UI cannot start: {message}"), hint }
                    }
                    e => e,
                })?;
            Some(super::ui::UiSettings {
                accounts: std::sync::Arc::new(accounts),
                sessions_file: data_dir.join("api").join("ui-sessions.json"),
                trusted_proxies: self.trusted_proxies.clone(),
                zone: super::ui::display_zone(var)?,
            })
        } else {
            None
        };
        let slack = slack_settings(&data_dir)?;
        Ok(ServerConfig {
            ui,
            slack,
            listen: self.listen,
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
                _ => None,
            },
            allow_plaintext: self.allow_plaintext,
            security,
            names: self.names.clone(),
            limits: Limits { body_timeout: body_timeout()?, ..Limits::default() },
            nonce_file: data_dir.join("api").join("nonces"),
            metrics_token: super::metrics::load_token(&super::token_path(&data_dir))?,
        })
    }
}

/// The Slack endpoints' settings: on when a signing secret is configured (the environment's
/// `SLACK_SIGNING_SECRET`, else the bot's token file), which then needs the bot token too.
fn slack_settings(data_dir: &std::path::Path) -> Result<Option<super::SlackSettings>> {
    let tokens = crate::slack::Tokens::load(&crate::slack::config::tokens_path(data_dir))?;
    let Some(signing_secret) = tokens.signing_secret else { return Ok(None) };
    let Some(bot_token) = tokens.bot_token else {
        return Err(Error::Invalid {
            message: "the Slack endpoints need SLACK_BOT_TOKEN beside SLACK_SIGNING_SECRET".to_owned(),
            hint: Some("`tf slack-bot install --http` stores both".to_owned()),
        });
    };
    Ok(Some(super::SlackSettings {
        signing_secret,
        bot_token,
        api_url: crate::slack::api_url_from_env()?,
        nonce_file: data_dir.join("api").join("slack-nonces"),
    }))
}

/// The variable that shortens (or lengthens) [`Limits::body_timeout`].
pub const BODY_TIMEOUT_VAR: &str = "TASKFLOWS_API_BODY_TIMEOUT";

/// [`BODY_TIMEOUT_VAR`] as a duration, the default without it; refused unless 1–3600 seconds.
fn body_timeout() -> Result<std::time::Duration> {
    let Some(value) = std::env::var_os(BODY_TIMEOUT_VAR) else { return Ok(Limits::default().body_timeout) };
    match value.to_str().and_then(|v| v.parse::<u64>().ok()) {
        Some(secs @ 1..=3600) => Ok(std::time::Duration::from_secs(secs)),
        _ => Err(Error::invalid(format!("{BODY_TIMEOUT_VAR}: whole seconds from 1 to 3600 are allowed"))),
    }
}

/// Run the server for `scope` until SIGTERM or SIGINT, on a runtime of its own. `tf_binary` is
/// what Docker services' units call.
pub fn run(args: &ServeArgs, scope: Scope, tf_binary: Option<PathBuf>) -> Result<()> {
    let config = args.config(scope)?;
    config.check()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("start", "the runtime")(e))?;
    runtime.block_on(async {
        let local = Local::new(crate::host_context(scope, tf_binary)?);
        let shutdown = crate::terminated();
        super::serve(local, config, shutdown).await
    })
}

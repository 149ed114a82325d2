//! Email alerts over SMTP (lettre on tokio): one message, HTML and plain text, to all receivers;
//! a table is an HTML table in the HTML part and fixed-width in the plain-text part.

use std::fmt;
use std::sync::Arc;

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::alert::{Alert, truncate};
use crate::error::Error;
use crate::table::escape_html;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (SMTPS, usually port 465).
    ImplicitTls,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// No encryption: only for a relay on the same host or tests.
    Plain,
}

/// An SMTP server and who mails whom.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailConfig {
    /// The server's host name.
    pub host: String,
    /// The port; default 465 for implicit TLS, 587 for STARTTLS, 25 for plain.
    pub port: Option<u16>,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// The `From:` address; also the login name unless `username` is set.
    pub sender: String,
    /// The login name, when it is not the sender.
    pub username: Option<String>,
    /// The password; without one, no login.
    pub password: Option<String>,
    /// Who receives the alerts (duplicates are dropped: each receives one mail).
    pub receivers: Vec<String>,
    /// A CA certificate (PEM) to trust besides the system's, for a private relay.
    pub root_certificate: Option<String>,
    /// Send the password over a [`SmtpSecurity::Plain`] connection anyway (a relay on the same
    /// host); without it, a login over cleartext is refused.
    pub allow_cleartext_login: bool,
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("sender", &self.sender)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("receivers", &self.receivers)
            .field("root_certificate", &self.root_certificate.as_ref().map(|_| "…"))
            .field("allow_cleartext_login", &self.allow_cleartext_login)
            .finish()
    }
}

/// A ready email destination.
#[derive(Clone)]
pub struct Email {
    transport: Arc<AsyncSmtpTransport<Tokio1Executor>>,
    sender: Mailbox,
    receivers: Vec<Mailbox>,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email").field("sender", &self.sender).field("receivers", &self.receivers).finish()
    }
}

/// The longest subject line; the body has the full text.
const SUBJECT_MAX: usize = 200;

impl Email {
    /// Check the addresses and set up the transport (no connection is made yet).
    pub fn new(config: EmailConfig) -> Result<Email, Error> {
        let parse = |field, address: &str| {
            address.trim().parse::<Mailbox>().map_err(|source| Error::Address {
                field,
                address: address.to_owned(),
                source,
            })
        };
        let sender = parse("sender", &config.sender)?;
        let mut receivers: Vec<Mailbox> = Vec::new();
        for address in &config.receivers {
            let mailbox = parse("receivers", address)?;
            if !receivers.iter().any(|r| r.email == mailbox.email) {
                receivers.push(mailbox);
            }
        }
        if receivers.is_empty() {
            return Err(Error::NoReceivers);
        }
        if config.security == SmtpSecurity::Plain && config.password.is_some() && !config.allow_cleartext_login {
            return Err(Error::CleartextLogin { host: config.host });
        }
        let (mut builder, default_port) = match config.security {
            SmtpSecurity::ImplicitTls => {
                (AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host).map_err(Error::Smtp)?, 465)
            }
            SmtpSecurity::StartTls => {
                (AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host).map_err(Error::Smtp)?, 587)
            }
            SmtpSecurity::Plain => (AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host), 25),
        };
        builder = builder.port(config.port.unwrap_or(default_port));
        if let (Some(pem), SmtpSecurity::ImplicitTls | SmtpSecurity::StartTls) =
            (&config.root_certificate, config.security)
        {
            let params = TlsParameters::builder(config.host.clone())
                .add_root_certificate(Certificate::from_pem(pem.as_bytes()).map_err(Error::Smtp)?)
                .build()
                .map_err(Error::Smtp)?;
            builder = builder.tls(match config.security {
                SmtpSecurity::ImplicitTls => Tls::Wrapper(params),
                _ => Tls::Required(params),
            });
        }
        if let Some(password) = config.password {
            let user = config.username.unwrap_or_else(|| sender.email.to_string());
            builder = builder.credentials(Credentials::new(user, password));
        }
        Ok(Email { transport: Arc::new(builder.build()), sender, receivers })
    }

    pub(crate) async fn send(&self, alert: &Alert) -> Result<(), String> {
        let subject = alert.title.replace(['\r', '\n'], " ");
        let mut message = Message::builder().from(self.sender.clone()).subject(truncate(&subject, SUBJECT_MAX));
        for receiver in &self.receivers {
            message = message.to(receiver.clone());
        }
        let message = message
            .header(header::MIME_VERSION_1_0)
            .multipart(MultiPart::alternative_plain_html(alert.full_text(), html(alert)))
            .map_err(|e| format!("failed to build the message: {e}"))?;
        self.transport.send(message).await.map(drop).map_err(|e| format!("SMTP: {e}"))
    }
}

fn html(alert: &Alert) -> String {
    let mut out = format!("<h3>{}</h3>", escape_html(&alert.title));
    if !alert.body.is_empty() {
        out.push_str(&format!("<pre>{}</pre>", escape_html(&alert.body)));
    }
    if let Some(table) = &alert.table {
        out.push_str(&table.to_html());
    }
    if let Some(link) = &alert.link {
        out.push_str(&format!("<p><a href=\"{}\">Logs</a></p>", escape_html(link)));
    }
    out
}

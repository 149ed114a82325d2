//! `tf server add|list|remove`: the client's server book (`~/.config/taskflows/servers.toml`,
//! 0600), which `-s NAME` reads.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use taskflows_api::remote::{Remote, ServerBook, ServerEntry};
use taskflows_api::security::{check_secret, fingerprint};

use crate::output::{Answer, Table};
use crate::{Failure, exit, print};

#[derive(clap::Subcommand)]
pub(crate) enum ServerCommand {
    /// Add (or replace) a server: its URL and the secret it signs with.
    Add {
        /// The name `-s` will take.
        name: String,
        /// https://HOST:PORT (http:// to loopback only, unless --allow-plaintext).
        url: String,
        /// Read the secret from this file (its first line).
        #[arg(long, conflicts_with_all = ["secret_stdin", "no_secret"])]
        secret_file: Option<PathBuf>,
        /// Read the secret from stdin.
        #[arg(long, conflicts_with = "no_secret")]
        secret_stdin: bool,
        /// The server does not sign (signing disabled, loopback only).
        #[arg(long)]
        no_secret: bool,
        /// Trust this CA certificate (PEM) for the server, instead of the system's roots.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Allow plain HTTP to a server beyond loopback (a trusted network only).
        #[arg(long)]
        allow_plaintext: bool,
    },
    /// List the servers (secrets shown as fingerprints).
    List {
        /// Print the answer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a server.
    Remove {
        /// Its name.
        name: String,
    },
}

pub(crate) fn run(command: ServerCommand) -> Result<ExitCode, Failure> {
    let path = ServerBook::default_path();
    let mut book = ServerBook::load(&path)?;
    match command {
        ServerCommand::Add { name, url, secret_file, secret_stdin, no_secret, ca_file, allow_plaintext } => {
            taskflows_core::ServiceName::new(&name).map_err(|e| Failure::new(exit::USAGE, format!("NAME: {e}")))?;
            let secret = match (secret_file, secret_stdin, no_secret) {
                (Some(file), _, _) => {
                    let text = std::fs::read_to_string(&file)
                        .map_err(|e| Failure::new(exit::FAILED, format!("--secret-file {}: {e}", file.display())))?;
                    Some(text.lines().next().unwrap_or_default().trim().to_owned())
                }
                (None, true, _) => {
                    let mut text = String::new();
                    std::io::stdin().take(4096).read_to_string(&mut text)?;
                    Some(text.trim().to_owned())
                }
                (None, false, true) => None,
                (None, false, false) => {
                    return Err(Failure::new(
                        exit::USAGE,
                        "give the server's secret with --secret-file FILE or --secret-stdin (or --no-secret)",
                    ));
                }
            };
            if let Some(s) = &secret {
                check_secret(s).map_err(Failure::from)?;
            }
            let ca_file = ca_file.map(std::path::absolute).transpose()?;
            let entry = ServerEntry { url: url.trim_end_matches('/').to_owned(), secret, ca_file, allow_plaintext };
            // Refuse now what `-s` would refuse later.
            Remote::new(&name, &entry)?;
            book.servers.insert(name.clone(), entry);
            book.save(&path)?;
            print(format!("added server {name} to {}\n", path.display()).as_bytes()).map(|()| ExitCode::SUCCESS)
        }
        ServerCommand::List { json } => {
            let mut table = Table::new(&["SERVER", "URL", "SECRET", "CA"]);
            let mut list = Vec::new();
            for (name, e) in &book.servers {
                let secret = e.secret.as_deref().map_or("-".to_owned(), fingerprint);
                let ca = e.ca_file.as_ref().map_or("system roots".to_owned(), |p| p.display().to_string());
                table.row(vec![name.clone(), e.url.clone(), secret.clone(), ca.clone()]);
                list.push(serde_json::json!({ "name": name, "url": e.url, "secret_fingerprint": e.secret.as_deref().map(fingerprint), "ca_file": e.ca_file }));
            }
            Answer::table(&serde_json::json!({ "servers": list }), table).print(json)
        }
        ServerCommand::Remove { name } => {
            if book.servers.remove(&name).is_none() {
                return Err(Failure::new(exit::NO_MATCH, format!("no server named {name:?} (`tf server list`)")));
            }
            book.save(&path)?;
            print(format!("removed server {name}\n").as_bytes()).map(|()| ExitCode::SUCCESS)
        }
    }
}

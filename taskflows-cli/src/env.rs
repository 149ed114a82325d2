//! `tf env list|show|create|update|delete`: named environments stored under the data folder.

use std::path::PathBuf;
use std::process::ExitCode;

use taskflows_api::{EnvironmentChange, EnvironmentFile, Local, Operations};
use taskflows_core::EnvName;

use crate::Failure;
use crate::output::{Answer, Table, terminal_safe};

#[derive(clap::Subcommand)]
pub(crate) enum EnvCommand {
    /// List the stored environments and the services that use them.
    List {
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Show a stored environment's file and the services that use it.
    Show {
        /// A stored environment's name.
        #[arg(value_parser = parse_name, add = crate::complete::environments())]
        name: EnvName,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Store a new environment from an environment file (one [venv] or [docker] table).
    Create {
        /// The new environment's name: letters, digits, `.`, `_`, `-`.
        #[arg(value_parser = parse_name)]
        name: EnvName,
        /// The environment file (TOML).
        file: PathBuf,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Replace a stored environment and re-create the services that use it.
    Update {
        /// A stored environment's name.
        #[arg(value_parser = parse_name, add = crate::complete::environments())]
        name: EnvName,
        /// The environment file (TOML).
        file: PathBuf,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Delete a stored environment; refused while installed services use it.
    Delete {
        /// A stored environment's name.
        #[arg(value_parser = parse_name, add = crate::complete::environments())]
        name: EnvName,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
}

fn parse_name(s: &str) -> Result<EnvName, String> {
    EnvName::new(s).map_err(|e| e.to_string())
}

impl EnvCommand {
    pub(crate) fn json(&self) -> bool {
        match self {
            EnvCommand::List { json }
            | EnvCommand::Show { json, .. }
            | EnvCommand::Create { json, .. }
            | EnvCommand::Update { json, .. }
            | EnvCommand::Delete { json, .. } => *json,
        }
    }
}

pub(crate) async fn run(local: &Local, command: EnvCommand) -> Result<ExitCode, Failure> {
    let json = command.json();
    let answer = answer(local, &command).await?;
    let value: serde_json::Value = serde_json::from_str(&answer.json).unwrap_or_default();
    let hint = value.get("not_updated").and_then(|v| v.as_array()).is_some_and(|a| !a.is_empty());
    let code = answer.print(json)?;
    if hint && !json {
        eprintln!(
            "hint: services created before taskflows kept their definitions keep the old environment; run `tf create FILE` for them again"
        );
    }
    Ok(code)
}

/// One environment command with any implementation of the operations.
pub(crate) async fn answer(ops: &(impl Operations + Sync), command: &EnvCommand) -> Result<Answer, Failure> {
    let change = match command {
        EnvCommand::List { .. } => {
            let list = ops.env_list().await?;
            let mut table = Table::new(&["ENVIRONMENT", "KIND", "WHAT", "USED BY"]);
            for e in &list.environments {
                let used = if e.used_by.is_empty() { "-".to_owned() } else { e.used_by.join(" ") };
                table.row(vec![e.name.clone(), e.kind.clone(), e.what.clone(), used]);
            }
            return Ok(Answer::table(&list, table));
        }
        EnvCommand::Show { name, .. } => {
            let detail = ops.env_show(name).await?;
            let used = &detail.summary.used_by;
            let used = if used.is_empty() { "no installed service".to_owned() } else { used.join(", ") };
            let text =
                format!("# {}\n{}\n# used by: {used}\n", detail.summary.path, terminal_safe(detail.text.trim_end()));
            return Ok(Answer::text(&detail, text));
        }
        EnvCommand::Create { name, file, .. } => {
            ops.env_create(&EnvironmentFile { name: name.clone(), file: crate::read_file(file)? }).await?
        }
        EnvCommand::Update { name, file, .. } => {
            ops.env_update(&EnvironmentFile { name: name.clone(), file: crate::read_file(file)? }).await?
        }
        EnvCommand::Delete { name, .. } => ops.env_delete(name).await?,
    };
    let ok = change.create.as_ref().is_none_or(|c| c.ok);
    Ok(Answer { ok, chatter: true, ..Answer::text(&change, change_lines(&change)) })
}

fn change_lines(change: &EnvironmentChange) -> String {
    let mut text = String::new();
    if let Some(create) = &change.create {
        text.push_str(&crate::create::report_lines(create));
    }
    text.push_str(&match change.change.as_str() {
        "created" => format!("stored environment {} in {}\n", change.name, change.path),
        "deleted" => format!("deleted environment {} ({})\n", change.name, change.path),
        _ => format!("updated environment {} ({})\n", change.name, change.path),
    });
    for service in &change.updated {
        text.push_str(&format!("updated service {service}\n"));
    }
    for service in &change.not_updated {
        text.push_str(&format!("not updated: {service} (no saved definition)\n"));
    }
    text
}

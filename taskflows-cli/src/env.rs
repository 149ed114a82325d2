//! `tf env list|show|create|update|delete`: named environments stored under the data folder.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use taskflows_core::{EnvName, Environment, Scope};
use taskflows_systemd::{Error, Store, StoredEnvironment};

use crate::output::{Style, Table};
use crate::{EXIT_INVALID, EXIT_NO_MATCH, Failure, host, print};

#[derive(clap::Subcommand)]
pub(crate) enum EnvCommand {
    /// List the stored environments and the services that use them.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a stored environment's file and the services that use it.
    Show {
        #[arg(value_parser = parse_name)]
        name: EnvName,
        #[arg(long)]
        json: bool,
    },
    /// Store a new environment from an environment file (one [venv] or [docker] table).
    Create {
        #[arg(value_parser = parse_name)]
        name: EnvName,
        /// The environment file (TOML).
        file: PathBuf,
    },
    /// Replace a stored environment and re-create the services that use it.
    Update {
        #[arg(value_parser = parse_name)]
        name: EnvName,
        /// The environment file (TOML).
        file: PathBuf,
    },
    /// Delete a stored environment; refused while installed services use it.
    Delete {
        #[arg(value_parser = parse_name)]
        name: EnvName,
    },
}

fn parse_name(s: &str) -> Result<EnvName, String> {
    EnvName::new(s).map_err(|e| e.to_string())
}

/// The store of `scope`: environments under its data folder, users in its unit folder.
pub(crate) fn store(scope: Scope) -> Store {
    Store::new(host::data_dir(scope), taskflows_systemd::default_unit_dir(scope))
}

pub(crate) fn run(command: EnvCommand, scope: Scope) -> Result<ExitCode, Failure> {
    let store = store(scope);
    match command {
        EnvCommand::List { json } => list(&store, json)?,
        EnvCommand::Show { name, json } => show(&store, &name, json)?,
        EnvCommand::Create { name, file } => {
            let (label, content) = read(&file)?;
            let stored = store.create(&name, &label, &content).map_err(failure)?;
            print(format!("stored environment {} in {}\n", stored.name, stored.path.display()).as_bytes())?;
        }
        EnvCommand::Update { name, file } => return crate::services::block_on(update(scope, &store, &name, &file)),
        EnvCommand::Delete { name } => {
            let path = store.delete(&name).map_err(failure)?;
            print(format!("deleted environment {name} ({})\n", path.display()).as_bytes())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit codes: 3 for a file that does not parse, 4 for an unknown name, 1 for a refusal.
fn failure(e: Error) -> Failure {
    match e {
        Error::NoEnvironment { .. } => {
            Failure::new(EXIT_NO_MATCH, e).hint("`tf env list` shows the stored environments")
        }
        Error::EnvironmentExists { .. } => Failure::new(1, e).hint("`tf env update NAME FILE` replaces it"),
        Error::StoredFile { .. } => Failure::new(EXIT_INVALID, e),
        other => Failure::from(other),
    }
}

fn read(file: &Path) -> Result<(String, String), Failure> {
    let content = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    Ok((file.display().to_string(), content))
}

fn list(store: &Store, as_json: bool) -> Result<(), Failure> {
    let stored = store.list().map_err(failure)?;
    let mut users = store.all_users().map_err(failure)?;
    let rows: Vec<(StoredEnvironment, Vec<String>)> = stored
        .into_iter()
        .map(|s| {
            let used: Vec<String> = users.remove(&s.name).unwrap_or_default().iter().map(|n| n.to_string()).collect();
            (s, used)
        })
        .collect();
    if as_json {
        let json: Vec<serde_json::Value> = rows.iter().map(|(s, used)| summary(s, used)).collect();
        return json_out(&json);
    }
    let mut table = Table::new(&["ENVIRONMENT", "KIND", "WHAT", "USED BY"]);
    for (s, used) in &rows {
        let used = if used.is_empty() { "-".to_owned() } else { used.join(" ") };
        table.row(vec![s.name.to_string(), s.kind().to_owned(), what(&s.environment), used]);
    }
    print(table.render(&Style::detect()).as_bytes())
}

fn show(store: &Store, name: &EnvName, as_json: bool) -> Result<(), Failure> {
    let stored = store.get(name).map_err(failure)?;
    let used: Vec<String> = store.users(name).map_err(failure)?.iter().map(|n| n.to_string()).collect();
    if as_json {
        let mut json = summary(&stored, &used);
        let definition: serde_json::Value = toml::from_str(&stored.text).unwrap_or(serde_json::Value::Null);
        json["definition"] = definition;
        return json_out(&json);
    }
    let used = if used.is_empty() { "no installed service".to_owned() } else { used.join(", ") };
    let text = format!("# {}\n{}\n# used by: {used}\n", stored.path.display(), stored.text.trim_end());
    print(text.as_bytes())
}

/// `{"name", "kind", "path", "used_by"}`.
fn summary(s: &StoredEnvironment, used: &[String]) -> serde_json::Value {
    serde_json::json!({ "name": s.name.as_str(), "kind": s.kind(), "path": s.path, "used_by": used })
}

/// The environment in a few words: the conda env's name, or the container's image.
fn what(env: &Environment) -> String {
    match env {
        Environment::Venv(v) => format!("-n {}", v.name.as_str()),
        Environment::Docker(c) => c.image.reference().to_owned(),
        Environment::Named(n) => n.to_string(),
    }
}

fn json_out(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialize");
    text.push('\n');
    print(text.as_bytes())
}

async fn update(scope: Scope, store: &Store, name: &EnvName, file: &Path) -> Result<ExitCode, Failure> {
    let (label, content) = read(file)?;
    // Check the file before connecting: a bad file is exit 3 even without systemd.
    let (environment, _) = Store::check(&label, &content).map_err(failure)?;
    store.require(name).map_err(failure)?;
    let (specs, not_updated) = store.definitions_using(name).map_err(failure)?;
    // The services are re-created the way `tf create` does it (units, container specs, restarts
    // of running services whose container changed) before the file is replaced: a configuration a
    // service cannot run with changes nothing.
    let mut code = ExitCode::SUCCESS;
    if !specs.is_empty() {
        let mut ctx = host::render_context(scope)?;
        ctx.named_environments = std::collections::BTreeMap::from([(name.clone(), environment)]);
        code = crate::create::install(scope, &specs, ctx).await?;
    }
    let stored = store.replace(name, &label, &content).map_err(failure)?;
    let mut text = format!("updated environment {name} ({})\n", stored.path.display());
    for spec in &specs {
        text.push_str(&format!("updated service {}\n", spec.name));
    }
    for service in &not_updated {
        text.push_str(&format!("not updated: {service} (no saved definition)\n"));
    }
    print(text.as_bytes())?;
    if !not_updated.is_empty() {
        eprintln!(
            "hint: services created before taskflows kept their definitions keep the old environment; run `tf create FILE` for them again"
        );
    }
    Ok(code)
}

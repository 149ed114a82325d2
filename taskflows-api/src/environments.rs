//! Stored environments: list, show, create, update (re-creating the services that use one),
//! delete.

use taskflows_core::{EnvName, Environment};
use taskflows_systemd::{Store, StoredEnvironment};

use crate::{
    EnvironmentChange, EnvironmentDetail, EnvironmentFile, EnvironmentList, EnvironmentSummary, Local, Result, VERSION,
};

impl Local {
    pub(crate) async fn list_environments(&self) -> Result<EnvironmentList> {
        let store = self.store();
        let stored = store.list()?;
        let mut users = store.all_users()?;
        let environments = stored
            .into_iter()
            .map(|s| {
                let used = users.remove(&s.name).unwrap_or_default();
                summary(&s, used.iter().map(ToString::to_string).collect())
            })
            .collect();
        Ok(EnvironmentList { version: VERSION, environments })
    }

    pub(crate) async fn show_environment(&self, name: &EnvName) -> Result<EnvironmentDetail> {
        let store = self.store();
        let stored = store.get(name)?;
        let used = store.users(name)?.iter().map(ToString::to_string).collect();
        // A container's environment values may be secrets: shown as keys only.
        let mut table: toml::Table = toml::from_str(&stored.text).unwrap_or_default();
        if let Some(toml::Value::Table(values)) =
            table.get_mut("docker").and_then(|d| d.as_table_mut()).and_then(|d| d.get_mut("environment"))
        {
            for (_, value) in values.iter_mut() {
                *value = toml::Value::String(REDACTED.to_owned());
            }
        }
        let text = toml::to_string(&table).unwrap_or_default();
        let definition = serde_json::to_value(&table).unwrap_or(serde_json::Value::Null);
        Ok(EnvironmentDetail { version: VERSION, summary: summary(&stored, used), text, definition })
    }

    pub(crate) async fn create_environment(&self, file: &EnvironmentFile) -> Result<EnvironmentChange> {
        let (environment, _) = Store::check(&file.file.label, &file.file.content)?;
        crate::paths::check_environment(&*self.path_policy()?, file.name.as_str(), &environment)?;
        let _lock = self.lock().await?;
        let stored = self.store().create(&file.name, &file.file.label, &file.file.content)?;
        Ok(change("created", &stored.name, &stored.path))
    }

    /// Replace the environment's file and re-create the services that use it. The services are
    /// checked with the new environment first (rendered, containers mapped, images built), so a
    /// configuration they cannot run with changes nothing; then the file is replaced, then the
    /// services re-created — a run killed in between is finished by running it again.
    pub(crate) async fn update_environment(&self, file: &EnvironmentFile) -> Result<EnvironmentChange> {
        let EnvironmentFile { name, file } = file;
        // Check the file before connecting: a bad file is an error even without systemd.
        let (environment, _) = Store::check(&file.label, &file.content)?;
        crate::paths::check_environment(&*self.path_policy()?, name.as_str(), &environment)?;
        let _lock = self.lock().await?;
        let store = self.store();
        store.require(name)?;
        let (specs, not_updated) = store.definitions_using(name)?;
        let prepared = if specs.is_empty() {
            None
        } else {
            let mut ctx = self.ctx.clone();
            ctx.named_environments = std::collections::BTreeMap::from([(name.clone(), environment)]);
            Some(self.prepare(specs, ctx).await?)
        };
        let stored = store.replace(name, &file.label, &file.content)?;
        let mut answer = change("updated", name, &stored.path);
        answer.not_updated = not_updated.iter().map(ToString::to_string).collect();
        if let Some(prepared) = prepared {
            answer.updated = prepared.specs.iter().map(|s| s.name.to_string()).collect();
            answer.create = Some(self.apply(prepared, None).await?);
        }
        Ok(answer)
    }

    pub(crate) async fn delete_environment(&self, name: &EnvName) -> Result<EnvironmentChange> {
        let _lock = self.lock().await?;
        let path = self.store().delete(name)?;
        Ok(change("deleted", name, &path))
    }
}

/// What a secret value is shown as.
pub(crate) const REDACTED: &str = "<redacted>";

fn change(what: &str, name: &EnvName, path: &std::path::Path) -> EnvironmentChange {
    EnvironmentChange {
        version: VERSION,
        change: what.to_owned(),
        name: name.to_string(),
        path: path.display().to_string(),
        updated: Vec::new(),
        not_updated: Vec::new(),
        create: None,
    }
}

fn summary(s: &StoredEnvironment, used_by: Vec<String>) -> EnvironmentSummary {
    EnvironmentSummary {
        name: s.name.to_string(),
        kind: s.kind().to_owned(),
        what: what(&s.environment),
        path: s.path.display().to_string(),
        used_by,
    }
}

/// The environment in a few words: the conda env's name, or the container's image.
fn what(env: &Environment) -> String {
    match env {
        Environment::Venv(v) => format!("-n {}", v.name.as_str()),
        Environment::Docker(c) => c.image.reference().to_owned(),
        Environment::Named(n) => n.to_string(),
    }
}

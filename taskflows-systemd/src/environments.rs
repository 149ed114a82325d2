//! Named environments stored as files, `DATA_DIR/environments/NAME.toml` (a version and one
//! `[venv]` or `[docker]` table), and the installed services that use each of them.
//!
//! A service that references a stored environment names it in its unit
//! (`X-TaskflowsEnvironment=NAME`, see [`taskflows_core::ENVIRONMENT_KEY`]); the services that
//! use an environment are read back from the installed `taskflows-*.service` files, so there is
//! no second record to keep in step with systemd.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use taskflows_core::{ENVIRONMENT_KEY, EnvName, Environment, ServiceName};

use crate::{Error, Result};

/// taskflows' files under its data folder (stored environments, saved service definitions),
/// and the unit folder whose services use them.
#[derive(Debug, Clone)]
pub struct Store {
    data_dir: PathBuf,
    unit_dir: PathBuf,
}

/// One stored environment as read from its file.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEnvironment {
    /// Its name (the file's stem).
    pub name: EnvName,
    /// What it is.
    pub environment: Environment,
    /// Its file.
    pub path: PathBuf,
    /// The file's content (TOML).
    pub text: String,
}

impl StoredEnvironment {
    /// `venv` or `docker`.
    pub fn kind(&self) -> &'static str {
        match self.environment {
            Environment::Docker(_) => "docker",
            _ => "venv",
        }
    }
}

impl Store {
    /// The store under `data_dir`, for the services installed in `unit_dir`.
    pub fn new(data_dir: impl Into<PathBuf>, unit_dir: impl Into<PathBuf>) -> Store {
        Store { data_dir: data_dir.into(), unit_dir: unit_dir.into() }
    }

    /// The folder of environment files.
    pub fn environments_dir(&self) -> PathBuf {
        self.data_dir.join("environments")
    }

    pub(crate) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    fn path(&self, name: &EnvName) -> PathBuf {
        self.environments_dir().join(format!("{name}.toml"))
    }

    /// Every stored environment, by name. A file that does not parse is an error naming it,
    /// never skipped.
    pub fn list(&self) -> Result<Vec<StoredEnvironment>> {
        let dir = self.environments_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read", &dir)(e)),
        };
        let mut stored = Vec::new();
        for entry in entries {
            let path = entry.map_err(Error::io("read", &dir))?.path();
            let Some(file) = path.file_name().and_then(|f| f.to_str()) else { continue };
            // Dot files are our temporary files (and editors'); everything else is ours.
            if file.starts_with('.') || !file.ends_with(".toml") {
                continue;
            }
            let name = EnvName::new(file.trim_end_matches(".toml")).map_err(|e| {
                Error::Invalid(format!("{}: the file's name is not an environment name: {e}", path.display()))
            })?;
            stored.push(self.read(name, path)?);
        }
        stored.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(stored)
    }

    /// The stored environments as rendering wants them.
    pub fn named_environments(&self) -> Result<BTreeMap<EnvName, Environment>> {
        Ok(self.list()?.into_iter().map(|s| (s.name, s.environment)).collect())
    }

    /// One stored environment; a missing one is [`Error::NoEnvironment`].
    pub fn get(&self, name: &EnvName) -> Result<StoredEnvironment> {
        let path = self.require(name)?;
        self.read(name.clone(), path)
    }

    /// The file of the stored environment `name`, without reading it; a missing one is
    /// [`Error::NoEnvironment`].
    pub fn require(&self, name: &EnvName) -> Result<PathBuf> {
        let path = self.path(name);
        if path.exists() { Ok(path) } else { Err(self.no_environment(name)) }
    }

    fn read(&self, name: EnvName, path: PathBuf) -> Result<StoredEnvironment> {
        let text = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
        let environment = taskflows_core::file::parse_environment_file(&path.display().to_string(), &text)
            .map_err(|source| Error::StoredFile { source })?;
        Ok(StoredEnvironment { name, environment, path, text })
    }

    fn no_environment(&self, name: &EnvName) -> Error {
        let stored = self.list().map(|s| s.into_iter().map(|s| s.name.to_string()).collect()).unwrap_or_default();
        Error::NoEnvironment { name: name.to_string(), stored }
    }

    /// Check an environment file (`file` names it in errors): what it holds and the text that
    /// would be stored.
    pub fn check(file: &str, content: &str) -> Result<(Environment, String)> {
        let environment = taskflows_core::file::parse_environment_file(file, content)?;
        let text = taskflows_core::file::stored_environment_text(content)?;
        Ok((environment, text))
    }

    /// Store a new environment from the content of an environment file; an existing name is
    /// refused ([`Error::EnvironmentExists`]) and nothing is written for a file that does not parse.
    pub fn create(&self, name: &EnvName, file: &str, content: &str) -> Result<StoredEnvironment> {
        let (environment, text) = Store::check(file, content)?;
        let path = self.path(name);
        crate::files::create_private(&path, text.as_bytes()).map_err(|e| match e {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
                Error::EnvironmentExists { name: name.to_string() }
            }
            other => other,
        })?;
        Ok(StoredEnvironment { name: name.clone(), environment, path, text })
    }

    /// Replace a stored environment's file (the services that use it are not touched; re-create
    /// them from [`Store::definitions_using`] first). A missing name is refused; a stored file
    /// that no longer parses may be replaced.
    pub fn replace(&self, name: &EnvName, file: &str, content: &str) -> Result<StoredEnvironment> {
        let (environment, text) = Store::check(file, content)?;
        let path = self.require(name)?;
        crate::files::write_private(&path, text.as_bytes())?;
        Ok(StoredEnvironment { name: name.clone(), environment, path, text })
    }

    /// Delete a stored environment; refused ([`Error::EnvironmentInUse`]) while installed
    /// services use it. Returns the removed file.
    pub fn delete(&self, name: &EnvName) -> Result<PathBuf> {
        let stored = self.get(name)?;
        let users = self.users(name)?;
        if !users.is_empty() {
            return Err(Error::EnvironmentInUse {
                name: name.to_string(),
                services: users.iter().map(|s| s.to_string()).collect(),
            });
        }
        std::fs::remove_file(&stored.path).map_err(Error::io("remove", &stored.path))?;
        Ok(stored.path)
    }

    /// The installed services that use `name`, by name.
    pub fn users(&self, name: &EnvName) -> Result<Vec<ServiceName>> {
        Ok(self.all_users()?.remove(name).unwrap_or_default())
    }

    /// For each stored environment in use, the installed services that use it (one pass over
    /// the unit folder).
    pub fn all_users(&self) -> Result<BTreeMap<EnvName, Vec<ServiceName>>> {
        let mut users: BTreeMap<EnvName, Vec<ServiceName>> = BTreeMap::new();
        let entries = match std::fs::read_dir(&self.unit_dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(users),
            Err(e) => return Err(Error::io("read", &self.unit_dir)(e)),
        };
        let prefix = format!("{ENVIRONMENT_KEY}=");
        for entry in entries.filter_map(|e| e.ok()) {
            let file = entry.file_name().to_string_lossy().into_owned();
            let Some(service) = file.strip_prefix("taskflows-").and_then(|f| f.strip_suffix(".service")) else {
                continue;
            };
            let Ok(service) = ServiceName::new(service) else { continue };
            let path = entry.path();
            let content = match std::fs::read_to_string(&path) {
                Ok(c) => c,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::io("read", &path)(e)),
            };
            let env = content.lines().find_map(|l| l.strip_prefix(&prefix)).and_then(|n| EnvName::new(n.trim()).ok());
            if let Some(env) = env {
                users.entry(env).or_default().push(service);
            }
        }
        users.values_mut().for_each(|v| v.sort());
        Ok(users)
    }
}

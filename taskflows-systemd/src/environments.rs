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
        write_atomic(&path, &text, Replace::Never).map_err(|e| match e {
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
        write_atomic(&path, &text, Replace::Always)?;
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

/// Whether [`write_atomic`] may replace an existing file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replace {
    Always,
    Never,
}

/// Write `content` to `path` through a temporary file in the same folder (mode 0600, in a folder
/// of mode 0700: stored environments and definitions hold environment values, secrets
/// included): renamed over the target, or with [`Replace::Never`] linked to it, which fails if it
/// exists. The target is never seen half-written, and no temporary file is left behind.
pub(crate) fn write_atomic(path: &Path, content: &str, replace: Replace) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = path.parent().unwrap_or(Path::new("."));
    private_dir(dir)?;
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let temp = dir.join(format!(".{name}.tf-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)
            .map_err(Error::io("write", &temp))?;
        f.write_all(content.as_bytes()).map_err(Error::io("write", &temp))?;
        f.sync_all().map_err(Error::io("write", &temp))?;
        match replace {
            Replace::Always => std::fs::rename(&temp, path).map_err(Error::io("replace", path)),
            Replace::Never => std::fs::hard_link(&temp, path).map_err(Error::io("create", path)),
        }
    })();
    let _ = std::fs::remove_file(&temp);
    result
}

/// Create `dir` (and its missing parents) with mode 0700, and make it 0700 if an older `tf`
/// created it readable by others.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => other.map_err(Error::io("create", dir))?,
    }
    let meta = std::fs::metadata(dir).map_err(Error::io("read", dir))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(Error::io("chmod", dir))?;
    }
    Ok(())
}

/// Make an existing stored file 0600 if an older `tf` wrote it readable by others.
pub(crate) fn private_file(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let meta = std::fs::metadata(path).map_err(Error::io("read", path))?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(Error::io("chmod", path))?;
    }
    Ok(())
}

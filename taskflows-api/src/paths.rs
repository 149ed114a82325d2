//! The path policy: which files and folders a service may name (`env_file`,
//! `working_directory`, Docker host paths and build contexts), and which programs a system unit
//! may run. Checked before anything is written (`Local::prepare`, `Local::plan_create`).
//!
//! - A path must stay under an allowed root. The roots are the scope's defaults (user: `$HOME`
//!   and the data folder; system: `/etc/taskflows`, `/srv`, `/opt` and the data folder), unless
//!   the config file says `default_paths = false`, plus the config file's `allowed_paths`, plus
//!   the absolute folders of `TASKFLOWS_ALLOWED_PATHS` (colon-separated; it extends, never
//!   replaces). Never the current folder: a relative or empty entry is not a root.
//! - A path is resolved component by component (`lstat`, `readlink`): `..` is refused, and a
//!   symbolic link inside a root that leads out of every root is refused, naming the link.
//! - System scope: an `env_file` and every folder above it, and every program the units run,
//!   are owned by root and not writable by group or others (sshd's StrictModes; a sticky folder
//!   such as /tmp is accepted, since only root may replace root's entries in it).
//!
//! The config file is `/etc/taskflows/config.toml` (system) or
//! `$XDG_CONFIG_HOME/taskflows/config.toml`, else `~/.config/taskflows/config.toml` (user).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use taskflows_core::Scope;

use crate::{Error, Result};

mod files;
mod specs;

pub use files::ENV_FILE_MAX;
pub(crate) use specs::{check_environment, check_specs};

/// The variable whose folders are added to the allowed roots.
pub const ALLOWED_PATHS_VAR: &str = "TASKFLOWS_ALLOWED_PATHS";

/// The system scope's config file.
pub const SYSTEM_CONFIG: &str = "/etc/taskflows/config.toml";

/// The config file's format version.
pub const CONFIG_VERSION: u32 = 1;

/// The config file (`version = 1`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    version: u32,
    /// Folders added to the allowed roots.
    #[serde(default)]
    allowed_paths: Vec<PathBuf>,
    /// Whether the scope's default roots are allowed (default true).
    #[serde(default = "yes")]
    default_paths: bool,
    /// Host paths a container may mount although they hand it the host (`/`, the Docker socket,
    /// `/proc`, `/sys`, `/dev`, or a folder holding one).
    #[serde(default)]
    docker_host_paths: Vec<PathBuf>,
}

fn yes() -> bool {
    true
}

/// Where a policy is read from: the environment a front end runs in, or a test's.
#[derive(Debug, Clone, Default)]
pub struct PolicySources {
    /// `$HOME` (a user's default root).
    pub home: Option<PathBuf>,
    /// The config file to read, if it exists.
    pub config_file: Option<PathBuf>,
    /// `TASKFLOWS_ALLOWED_PATHS`.
    pub allowed_paths: Option<OsString>,
}

impl PolicySources {
    /// The sources of `scope` in this process's environment.
    pub fn from_env(scope: Scope) -> PolicySources {
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
        let xdg = std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
        let config_file = match scope {
            Scope::System => Some(PathBuf::from(SYSTEM_CONFIG)),
            Scope::User => {
                xdg.or_else(|| home.as_ref().map(|h| h.join(".config"))).map(|d| d.join("taskflows/config.toml"))
            }
        };
        PolicySources { home, config_file, allowed_paths: std::env::var_os(ALLOWED_PATHS_VAR) }
    }
}

/// An allowed root and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// The folder, resolved (its own symbolic links followed) when it exists.
    pub path: PathBuf,
    /// `default`, the config file, or `TASKFLOWS_ALLOWED_PATHS`.
    pub from: String,
}

/// What a service may touch on this host.
#[derive(Debug, Clone)]
pub struct PathPolicy {
    scope: Scope,
    roots: Vec<Root>,
    docker_host_paths: Vec<PathBuf>,
    config_file: Option<PathBuf>,
}

impl PathPolicy {
    /// The policy of `scope` from this process's environment and the scope's config file.
    pub fn from_env(scope: Scope, data_dir: &Path) -> Result<PathPolicy> {
        PathPolicy::load(scope, data_dir, &PolicySources::from_env(scope))
    }

    /// The policy of `scope` from `sources`; a config file that does not parse is an error
    /// naming it, the line and what is wrong.
    pub fn load(scope: Scope, data_dir: &Path, sources: &PolicySources) -> Result<PathPolicy> {
        let config = match &sources.config_file {
            Some(file) => read_config(scope, file)?,
            None => None,
        };
        let mut roots = Vec::new();
        let mut add = |path: &Path, from: String| {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
            if !roots.iter().any(|r: &Root| r.path == path) {
                roots.push(Root { path, from });
            }
        };
        if config.as_ref().is_none_or(|c| c.default_paths) {
            let defaults: Vec<PathBuf> = match scope {
                Scope::User => sources.home.iter().cloned().chain([data_dir.to_owned()]).collect(),
                Scope::System => ["/etc/taskflows", "/srv", "/opt"]
                    .map(PathBuf::from)
                    .into_iter()
                    .chain([data_dir.to_owned()])
                    .collect(),
            };
            for d in defaults.iter().filter(|d| d.is_absolute()) {
                add(d, "default".to_owned());
            }
        }
        let mut docker_host_paths = Vec::new();
        if let (Some(config), Some(file)) = (&config, &sources.config_file) {
            for p in &config.allowed_paths {
                check_root(p, &format!("{}: allowed_paths", file.display()))?;
                add(p, file.display().to_string());
            }
            for p in &config.docker_host_paths {
                check_root(p, &format!("{}: docker_host_paths", file.display()))?;
                docker_host_paths.push(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
            }
        }
        if let Some(var) = &sources.allowed_paths {
            for p in std::env::split_paths(var).filter(|p| !p.as_os_str().is_empty()) {
                check_root(&p, ALLOWED_PATHS_VAR)?;
                add(&p, ALLOWED_PATHS_VAR.to_owned());
            }
        }
        let config_file = sources.config_file.clone();
        Ok(PathPolicy { scope, roots, docker_host_paths, config_file })
    }

    /// The allowed roots.
    pub fn roots(&self) -> &[Root] {
        &self.roots
    }

    /// Whether programs and env files must be root's (the system scope).
    pub(crate) fn strict(&self) -> bool {
        self.scope == Scope::System
    }

    /// Whether `path` (resolved) is under an allowed root.
    fn allows(&self, path: &Path) -> bool {
        self.roots.iter().any(|r| path.starts_with(&r.path))
    }

    /// What is allowed and how to allow more: the hint of every "outside" error.
    fn roots_hint(&self) -> String {
        let roots: Vec<String> = self.roots.iter().map(|r| format!("{} ({})", r.path.display(), r.from)).collect();
        let roots = if roots.is_empty() { "none".to_owned() } else { roots.join(", ") };
        let config =
            self.config_file.as_ref().map_or_else(|| "the config file".to_owned(), |c| c.display().to_string());
        format!("allowed folders: {roots}; add one to allowed_paths in {config} or to {ALLOWED_PATHS_VAR}")
    }

    fn outside(&self, field: &str, path: &Path, walked: &Walked) -> Error {
        let resolved = if walked.resolved == path {
            String::new()
        } else {
            format!(" (it resolves to {})", walked.resolved.display())
        };
        Error::Invalid {
            message: format!("{field}: {} is outside the allowed folders{resolved}", path.display()),
            hint: Some(self.roots_hint()),
        }
    }

    /// `path` resolved, refused when it (or a link on the way) leaves the allowed roots.
    fn under_roots(&self, field: &str, path: &Path) -> Result<Walked> {
        let walked = self.walk(field, path, true)?;
        if !self.allows(&walked.resolved) {
            return Err(self.outside(field, path, &walked));
        }
        Ok(walked)
    }

    /// Resolve `path` one component at a time, following symbolic links by hand so that (with
    /// `contain`) a link that leaves the roots can be named. What does not exist is appended as
    /// written.
    fn walk(&self, field: &str, path: &Path, contain: bool) -> Result<Walked> {
        let invalid = |message: String| Error::Invalid { message, hint: None };
        if !path.is_absolute() {
            return Err(invalid(format!("{field}: {} is not an absolute path", path.display())));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(invalid(format!("{field}: {} must not contain '..' components", path.display())));
        }
        let mut queue: VecDeque<Next> = path.components().filter_map(|c| normal(c).map(Next::Name)).collect();
        let mut resolved = PathBuf::from("/");
        let mut steps = vec![Step::of(&resolved).map_err(Error::io("read", "/"))?];
        let mut exists = true;
        let mut links = 0;
        while let Some(next) = queue.pop_front() {
            let name = match next {
                Next::LinkEnd { link, target } => {
                    if !self.allows(&resolved) {
                        return Err(Error::Invalid {
                            message: format!(
                                "{field}: {} is a symbolic link to {}, which is outside the allowed folders ({} resolves to {})",
                                link.display(),
                                target.display(),
                                path.display(),
                                resolved.display()
                            ),
                            hint: Some(self.roots_hint()),
                        });
                    }
                    continue;
                }
                Next::Name(name) => name,
            };
            if name == ".." {
                resolved.pop();
                continue;
            }
            let candidate = resolved.join(&name);
            if !exists {
                resolved = candidate;
                continue;
            }
            let step = match Step::of(&candidate) {
                Ok(step) => step,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    exists = false;
                    resolved = candidate;
                    continue;
                }
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                    return Err(invalid(format!(
                        "{field}: {} is not a folder, so {} cannot exist",
                        resolved.display(),
                        path.display()
                    )));
                }
                Err(e) => return Err(Error::io("read", candidate)(e)),
            };
            if step.meta.file_type().is_symlink() {
                links += 1;
                if links > 40 {
                    return Err(invalid(format!("{field}: {} has too many levels of symbolic links", path.display())));
                }
                let target = std::fs::read_link(&candidate).map_err(Error::io("read the link", &candidate))?;
                if contain && self.allows(&candidate) {
                    queue.push_front(Next::LinkEnd { link: candidate.clone(), target: target.clone() });
                }
                for c in target.components().rev() {
                    match c {
                        Component::Normal(n) => queue.push_front(Next::Name(n.to_owned())),
                        Component::ParentDir => queue.push_front(Next::Name("..".into())),
                        Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
                    }
                }
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                steps.push(step);
                continue;
            }
            steps.push(step);
            resolved = candidate;
        }
        Ok(Walked { resolved, exists, steps })
    }

    /// System scope: every step of `walked` is root's and not writable by group or others (a
    /// sticky folder excepted), else an error saying which and how to fix it.
    fn owned_by_root(&self, field: &str, walked: &Walked, what: &str, hint: &str) -> Result<()> {
        for step in &walked.steps {
            let refuse = |why: String| Error::Invalid {
                message: format!(
                    "{field}: {} {why}; {what} and every folder above it must be owned by root and not writable by group or others",
                    step.path.display()
                ),
                hint: Some(hint.replace("PATH", &step.path.display().to_string())),
            };
            let meta = &step.meta;
            if meta.uid() != 0 {
                return Err(refuse(format!("is owned by uid {}", meta.uid())));
            }
            let sticky_dir = meta.is_dir() && meta.mode() & 0o1000 != 0;
            if !meta.file_type().is_symlink() && meta.mode() & 0o022 != 0 && !sticky_dir {
                return Err(refuse(format!("is writable by group or others (mode {:04o})", meta.mode() & 0o7777)));
            }
        }
        Ok(())
    }
}

/// A relative, empty or `..` entry is no root: never the current folder.
fn check_root(path: &Path, source: &str) -> Result<()> {
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(Error::Invalid {
            message: format!(
                "{source}: {:?} is not an absolute path without '..'; an allowed folder is never relative to the current folder",
                path.display().to_string()
            ),
            hint: None,
        });
    }
    Ok(())
}

fn normal(c: Component<'_>) -> Option<OsString> {
    match c {
        Component::Normal(n) => Some(n.to_owned()),
        _ => None,
    }
}

/// The config file at `file`, if there is one. Of the system scope, it must be root's like an
/// env file: it widens what root's units may read.
fn read_config(scope: Scope, file: &Path) -> Result<Option<ConfigFile>> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", file)(e)),
    };
    if scope == Scope::System {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(file).map_err(Error::io("read", file))?;
        if meta.uid() != 0 || meta.permissions().mode() & 0o022 != 0 {
            return Err(Error::Invalid {
                message: format!("{}: must be owned by root and not writable by group or others", file.display()),
                hint: Some(format!("chown root:root {0} && chmod 644 {0}", file.display())),
            });
        }
    }
    let config: ConfigFile = toml::from_str(&text).map_err(|e| {
        let message = e.message().trim_end();
        let mut at = String::new();
        if let Some(span) = e.span() {
            let before = &text[..span.start.min(text.len())];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            at = format!(":{}:{}", before.matches('\n').count() + 1, before.len() - line_start + 1);
            // A wrong value's message does not say whose: the key of its line does.
            let line = text[line_start..].lines().next().unwrap_or_default();
            if let Some((key, _)) = line.split_once('=')
                && !message.contains('`')
            {
                at = format!("{at}: {}", key.trim());
            }
        }
        Error::Invalid {
            message: format!("{}{at}: {message}", file.display()),
            hint: Some(format!(
                "the config file holds version = {CONFIG_VERSION}, allowed_paths = [...], default_paths = true|false and docker_host_paths = [...]"
            )),
        }
    })?;
    if config.version != CONFIG_VERSION {
        return Err(Error::Invalid {
            message: format!(
                "{}: version {} is not supported; this tf reads version {CONFIG_VERSION}",
                file.display(),
                config.version
            ),
            hint: None,
        });
    }
    Ok(Some(config))
}

/// The rest of a walk: a name, or the end of a link's target (where it must be back inside).
enum Next {
    Name(OsString),
    LinkEnd { link: PathBuf, target: PathBuf },
}

/// Something that exists on the way: a folder, a link, the file at the end.
struct Step {
    path: PathBuf,
    meta: std::fs::Metadata,
}

impl Step {
    fn of(path: &Path) -> std::io::Result<Step> {
        Ok(Step { path: path.to_owned(), meta: std::fs::symlink_metadata(path)? })
    }
}

/// A path resolved: where it leads, whether it exists, and what the walk went through.
struct Walked {
    resolved: PathBuf,
    exists: bool,
    steps: Vec<Step>,
}

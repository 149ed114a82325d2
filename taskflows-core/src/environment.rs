//! Where a service's command runs: a conda-style environment, a Docker container, or a named
//! environment stored by taskflows.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::cgroup::CgroupConfig;
use crate::command::{AbsPath, EnvKey};
use crate::error::{Error, ValueError};
use crate::size::ByteSize;
use crate::value::{Text, string_newtype};

/// The execution environment of a service.
#[derive(Debug, Clone, PartialEq)]
pub enum Environment {
    /// A conda/mamba/micromamba environment.
    Venv(Venv),
    /// A Docker container.
    Docker(Box<DockerContainer>),
    /// A reusable environment stored by name.
    Named(EnvName),
}

/// The name of a stored environment (same rules as service names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

impl EnvName {
    /// Accept `s` under the service-name rules.
    pub fn new(s: impl Into<String>) -> Result<EnvName, ValueError> {
        crate::name::ServiceName::new(s).map(|n| EnvName(n.as_str().to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_newtype!(EnvName, "EnvName", "The name of a stored environment.");

/// A conda, mamba or micromamba environment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(try_from = "VenvTable")]
pub struct Venv {
    /// The environment's name (`-n NAME`).
    pub name: Text,
    /// The conda/mamba/micromamba program; found on PATH or in the usual folders when absent.
    pub runner: Option<AbsPath>,
}

/// A venv table as written in a service file, checked by [`Venv::new`].
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct VenvTable {
    /// The environment's name (`-n NAME`): letters, digits, `.`, `_`, `-`, `+` (not `-` first).
    name: String,
    /// The conda/mamba/micromamba program; found on PATH or in the usual folders when absent.
    runner: Option<AbsPath>,
}

impl TryFrom<VenvTable> for Venv {
    type Error = ValueError;
    fn try_from(t: VenvTable) -> Result<Venv, ValueError> {
        Ok(Venv { runner: t.runner, ..Venv::new(t.name)? })
    }
}

impl Venv {
    /// The environment `name`, with the runner found at install time.
    pub fn new(name: impl Into<String>) -> Result<Venv, ValueError> {
        let name = Text::new(name)?;
        // The name is one word of an `ExecStart=` line: quotes, `$` (systemd expands it),
        // `;` or blanks would change the command systemd runs.
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
        if name.as_str().is_empty() || name.as_str().starts_with('-') || !name.as_str().chars().all(allowed) {
            return Err(ValueError::new(format!(
                "{:?} is not an environment name; use letters, digits, '.', '_', '-' and '+' (not first)",
                name.as_str()
            )));
        }
        Ok(Venv { name, runner: None })
    }

    /// `RUNNER run -n ENV [--no-capture-output] -- COMMAND`.
    pub fn wrap(&self, runner: &str, command: &str) -> String {
        let program = runner.rsplit('/').next().unwrap_or(runner);
        // conda (and mamba, which delegates to it) capture output unless told not to.
        let capture = if matches!(program, "conda" | "mamba") { " --no-capture-output" } else { "" };
        format!("{runner} run -n {}{capture} -- {command}", self.name)
    }
}

/// An image to run: a name, or one to build from a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerImage {
    /// An existing image, e.g. `python:3.11`.
    Name(Text),
    /// Build `tag` from the folder `path`.
    Build(DockerBuild),
}

/// How to build an image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerBuild {
    /// The tag of the built image.
    pub tag: Text,
    /// The build context folder.
    pub path: AbsPath,
    /// The Dockerfile, relative to `path` (default Dockerfile).
    #[serde(default = "dockerfile")]
    pub dockerfile: Text,
    /// Build arguments.
    #[serde(default)]
    pub build_args: BTreeMap<EnvKey, Text>,
}

fn dockerfile() -> Text {
    Text::new("Dockerfile").expect("a valid literal")
}

impl DockerImage {
    /// The image reference containers are created from.
    pub fn reference(&self) -> &str {
        match self {
            DockerImage::Name(n) => n.as_str(),
            DockerImage::Build(b) => b.tag.as_str(),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum DockerImageRepr {
    Name(Text),
    Build(DockerBuild),
}

impl<'de> Deserialize<'de> for DockerImage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match DockerImageRepr::deserialize(d)? {
            DockerImageRepr::Name(n) => DockerImage::Name(n),
            DockerImageRepr::Build(b) => DockerImage::Build(b),
        })
    }
}

impl schemars::JsonSchema for DockerImage {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "DockerImage".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let build = generator.subschema_for::<DockerBuild>();
        schemars::json_schema!({ "anyOf": [ { "type": "string" }, build ] })
    }
}

/// A bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Volume {
    /// The folder or file on the host.
    pub host_path: AbsPath,
    /// Where it appears in the container.
    pub container_path: AbsPath,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// A container the service runs, attached, so systemd sees its exit status and output.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerContainer {
    /// The image, or how to build it.
    pub image: DockerImage,
    /// The command, parsed with shell quoting (default: the service's start_command, else the image's).
    pub command: Option<Text>,
    /// Override the image's entrypoint (shell quoting).
    pub entrypoint: Option<Text>,
    /// The container's name (default taskflows-SERVICE).
    pub name: Option<crate::name::ServiceName>,
    /// Keep the container between runs (re-created when its configuration changes).
    #[serde(default)]
    pub persisted: bool,
    /// Published ports: "8080/tcp" = 8080 or "127.0.0.1:8080".
    #[serde(default)]
    pub ports: BTreeMap<Text, PortBinding>,
    /// Bind mounts.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// Variables set in the container.
    #[serde(default)]
    pub environment: BTreeMap<EnvKey, Text>,
    /// A file of KEY=VALUE lines for the container.
    pub env_file: Option<AbsPath>,
    /// bridge, host, none or a network's name.
    pub network_mode: Option<Text>,
    /// Run an init process as PID 1.
    #[serde(default)]
    pub init: bool,
    /// Size of /dev/shm.
    pub shm_size: Option<ByteSize>,
    /// Docker's restart policy; only "no" is allowed: systemd restarts the service.
    pub restart_policy: Option<Text>,
    /// Resource limits for the container.
    pub cgroup_config: Option<CgroupConfig>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<Text, Text>,
    /// User (and group) in the container.
    pub user: Option<Text>,
    /// Working directory in the container.
    pub working_dir: Option<AbsPath>,
    /// Host name of the container.
    pub hostname: Option<Text>,
    /// Give the container extended privileges.
    #[serde(default)]
    pub privileged: bool,
    /// Extra /etc/hosts lines, "name:ip".
    #[serde(default)]
    pub extra_hosts: Vec<Text>,
    /// DNS servers.
    #[serde(default)]
    pub dns: Vec<Text>,
}

/// Where a container port is published.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum PortBinding {
    /// A host port on all addresses.
    Port(u16),
    /// `IP:PORT` or `PORT`.
    Address(Text),
}

impl DockerContainer {
    /// A container of `image` with everything else at its default.
    pub fn new(image: impl Into<String>) -> Result<DockerContainer, ValueError> {
        Ok(DockerContainer {
            image: DockerImage::Name(Text::new(image)?),
            command: None,
            entrypoint: None,
            name: None,
            persisted: false,
            ports: BTreeMap::new(),
            volumes: Vec::new(),
            environment: BTreeMap::new(),
            env_file: None,
            network_mode: None,
            init: false,
            shm_size: None,
            restart_policy: None,
            cgroup_config: None,
            labels: BTreeMap::new(),
            user: None,
            working_dir: None,
            hostname: None,
            privileged: false,
            extra_hosts: Vec::new(),
            dns: Vec::new(),
        })
    }

    /// Check what serde cannot: image, quoting of command and entrypoint, restart policy, limits.
    pub fn check(&self) -> Result<(), Error> {
        if self.image.reference().trim().is_empty() {
            return Err(Error::field("image", "must not be empty; e.g. \"python:3.11\""));
        }
        for (field, v) in [("command", &self.command), ("entrypoint", &self.entrypoint)] {
            if let Some(v) = v {
                split_shell(v.as_str()).map_err(|e| e.at(field))?;
            }
        }
        if let Some(p) = &self.restart_policy
            && p.as_str() != "no"
        {
            return Err(Error::field(
                "restart_policy",
                format!(
                    "{:?} is not allowed: systemd restarts the service, so the container's policy must be \"no\"; set the service's restart_policy",
                    p.as_str()
                ),
            ));
        }
        for (k, v) in &self.environment {
            crate::value::check_env_value(k.as_str(), v.as_str()).map_err(|e| e.at(format!("environment.{k}")))?;
        }
        for (port, binding) in &self.ports {
            check_port(port.as_str(), binding).map_err(|e| e.at("ports"))?;
        }
        if let Some(c) = &self.cgroup_config {
            c.check().map_err(|e| e.within("cgroup_config"))?;
        }
        Ok(())
    }
}

/// Split a Docker command with shell quoting; malformed quoting is an error.
pub fn split_shell(s: &str) -> Result<Vec<String>, ValueError> {
    let words = shell_words::split(s).map_err(|_| {
        ValueError::new(format!("{s:?} has unbalanced quotes; close them or escape them with a backslash"))
    })?;
    if words.is_empty() {
        return Err(ValueError::new("must not be empty"));
    }
    Ok(words)
}

fn check_port(port: &str, binding: &PortBinding) -> Result<(), ValueError> {
    let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
    if number.parse::<u16>().map_or(true, |n| n == 0) || !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(ValueError::new(format!(
            "{port:?} is not a container port; use \"8080\" or \"8080/tcp\" (tcp, udp, sctp)"
        )));
    }
    if let PortBinding::Address(a) = binding {
        let host_port = a.as_str().rsplit(':').next().unwrap_or("");
        if host_port.parse::<u16>().is_err() {
            return Err(ValueError::new(format!(
                "{:?} is not a host port; use 8080 or \"127.0.0.1:8080\"",
                a.as_str()
            )));
        }
    }
    Ok(())
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
#[schemars(title = "EnvironmentTable")]
enum EnvironmentTable {
    /// A conda/mamba/micromamba environment.
    Venv(Venv),
    /// A Docker container.
    Docker(Box<DockerContainer>),
}

impl<'de> Deserialize<'de> for Environment {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Environment;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the name of a stored environment, { venv = { … } } or { docker = { … } }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Environment, E> {
                EnvName::new(v).map(Environment::Named).map_err(E::custom)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Environment, A::Error> {
                Ok(match EnvironmentTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))? {
                    EnvironmentTable::Venv(v) => Environment::Venv(v),
                    EnvironmentTable::Docker(c) => Environment::Docker(c),
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl schemars::JsonSchema for Environment {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Environment".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let table = generator.subschema_for::<EnvironmentTable>();
        schemars::json_schema!({
            "description": "The name of a stored environment, { venv = { name = \"ml\" } } or { docker = { image = \"python:3.11\" } }.",
            "anyOf": [ { "type": "string" }, table ]
        })
    }
}

//! What the API server and its client send besides the answers of [`crate::contract`]: request
//! bodies, the error answer, the health answer. Both sides use these types, and the OpenAPI
//! document is generated from them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{SourceFile, Targets};

/// `POST /services/{pattern}/{start|stop|restart|enable|disable}`: how (every field optional).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlBody {
    /// Which units: services, timers or both (default).
    #[serde(default)]
    pub targets: Targets,
    /// Start: answer when the runs have ended.
    #[serde(default)]
    pub wait: bool,
    /// Start with wait: stop waiting after this many seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// `POST /check`: the services to measure — files, or installed ones — and how long to wait.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// Service files (every requirement of their services).
    #[serde(default)]
    pub files: Vec<SourceFile>,
    /// Or installed services by name or glob.
    #[serde(default)]
    pub installed: Option<String>,
    /// Wait up to this many seconds for the requirements to hold.
    #[serde(default)]
    pub wait_secs: Option<u64>,
}

/// `POST /monitor/check`: report missed runs (the server alerts nobody for this request).
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorBody {
    /// A service name or glob (all without one).
    #[serde(default)]
    pub pattern: Option<String>,
    /// How late a run may start before it counts as missed, in seconds (default 600, as `tf
    /// monitor check --grace`).
    #[serde(default)]
    pub grace_secs: Option<u64>,
}

/// `POST /environments` and `PUT /environments/{name}`: an environment file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentBody {
    /// The environment's name (`POST` only; `PUT` takes it from the path).
    #[serde(default)]
    pub name: Option<String>,
    /// The file (TOML, one `[venv]` or `[docker]` table).
    pub file: SourceFile,
}

/// `POST /runs`: run a command once under systemd and answer when it ended (`tf run`). A
/// client that goes away stops the run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunBody {
    /// A name for the run's unit (`taskflows-run-NAME-MILLIS.service`).
    #[serde(default)]
    pub name: Option<String>,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// Stop the run after this many seconds.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Every error answer (4xx, 5xx).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorAnswer {
    /// The contract's version.
    pub version: u32,
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, as `tf` would say it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// `bad_request`, `unauthorized`, `not_found`, `too_large`, `busy`, `failed` …
    pub kind: String,
    /// One line, naming the field where one is at fault.
    pub message: String,
    /// What to do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The exit code `tf` exits with for it.
    pub exit_code: u8,
    /// Not found: the installed services whose names are closest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nearest: Vec<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Health {
    /// Always `ok` when it answers.
    pub status: String,
    /// The server's version.
    pub server: String,
    /// `user` or `system`: whose services it manages.
    pub scope: String,
}

//! The JSON contract: what every operation answers, as `tf … --json` prints it and as the API
//! server will send it. Each answer is an object with `version` ([`VERSION`]); a change that
//! could break a reader bumps it. `schema/taskflows-api.schema.json` is generated from these
//! types ([`json_schema`]) and a test fails when the committed copy is stale.

use jiff::Timestamp;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
pub use taskflows_systemd::monitor::{Problem, ProblemKind};
pub use taskflows_systemd::{
    ActiveState, JobKind, JobOutcome, JobResult, LoadState, LogLine, ProcessExit, RunKind, RunOutcome, RunRecord,
    RunResult, ServiceState,
};

/// The contract's version.
pub const VERSION: u32 = 1;

fn version() -> u32 {
    VERSION
}

/// `tf list`: installed services and their unit files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceList {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// By name.
    pub services: Vec<ServiceUnits>,
}

/// One installed service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceUnits {
    /// The service's name.
    pub name: String,
    /// Its installed unit files: the service, its timer, stop-/restart- helpers and timers.
    pub units: Vec<String>,
}

/// `tf status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct StatusReport {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// What systemd says about each service, by name.
    pub services: Vec<ServiceState>,
}

/// `tf show`: installed unit files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct UnitFiles {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// In the order of [`ServiceUnits::units`], service by service.
    pub units: Vec<InstalledUnit>,
}

/// One installed unit file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InstalledUnit {
    /// The unit's name.
    pub name: String,
    /// Where it is.
    pub path: String,
    /// Its content (`Environment=` values redacted when the operation is asked to).
    pub content: String,
}

/// `tf logs`: a service's journal lines, oldest first (`--json` prints one [`LogLine`] per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Logs {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// The unit read.
    pub unit: String,
    /// Oldest first.
    pub lines: Vec<LogLine>,
}

/// `tf history`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct History {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// Newest first.
    pub runs: Vec<RunRecord>,
}

/// `tf next`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NextRuns {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// Soonest first.
    pub runs: Vec<NextRun>,
}

/// One upcoming run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct NextRun {
    /// The service.
    pub service: String,
    /// When.
    #[schemars(with = "taskflows_core::schema::Timestamp")]
    pub at: Timestamp,
    /// The schedule that elapses then, as systemd normalized it.
    pub schedule: String,
}

/// What a control command did (`tf start|stop|restart|enable|disable|remove`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Start (with a wait, see [`crate::ControlRequest`]).
    Start,
    /// Stop.
    Stop,
    /// Restart.
    Restart,
    /// Enable at boot or login.
    Enable,
    /// Disable.
    Disable,
    /// Stop, disable and delete, with containers and saved definitions.
    Remove,
}

impl Action {
    /// The actions a front end offers on running services by name (not remove): `start`,
    /// `stop`, `restart`, `enable`, `disable`; anything else is refused naming them.
    pub fn control(word: &str) -> crate::Result<Action> {
        match word {
            "start" => Ok(Action::Start),
            "stop" => Ok(Action::Stop),
            "restart" => Ok(Action::Restart),
            "enable" => Ok(Action::Enable),
            "disable" => Ok(Action::Disable),
            other => Err(crate::Error::usage(
                format!("action: {other:?} is not one of start, stop, restart, enable, disable"),
                None,
            )),
        }
    }

    /// The command word: `start`, `stop`, `restart`, `enable`, `disable`, `remove`.
    pub fn word(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Restart => "restart",
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Remove => "remove",
        }
    }

    /// What was done: `started`, `stopped`, `restarted`, `enabled`, `disabled`, `removed`.
    pub fn done(self) -> &'static str {
        match self {
            Action::Start => "started",
            Action::Stop => "stopped",
            Action::Restart => "restarted",
            Action::Enable => "enabled",
            Action::Disable => "disabled",
            Action::Remove => "removed",
        }
    }
}

/// The answer to a control command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ControlReport {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// What was asked.
    pub action: Action,
    /// The services it applied to.
    pub services: Vec<String>,
    /// Jobs and their results, per unit.
    pub jobs: Vec<JobOutcome>,
    /// Units enabled, disabled or removed (per the action).
    pub units: Vec<String>,
    /// What happened to containers (remove).
    pub containers: Vec<ContainerChange>,
    /// How each waited-for run ended (`start --wait`).
    pub runs: Vec<RunEnd>,
    /// `start --wait` gave up waiting; the services keep running.
    pub wait_timed_out: bool,
    /// Every job (and waited-for run) did what was asked.
    pub ok: bool,
}

/// How a waited-for run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunEnd {
    /// The service.
    pub service: String,
    /// How it ended (none when it never ran).
    pub result: Option<RunResult>,
    /// The exit status, when it exited.
    pub exit_status: Option<i32>,
    /// Whether that is a success.
    pub ok: bool,
}

/// A container written, removed or kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ContainerChange {
    /// The container's name.
    pub container: String,
    /// The service it belongs (or belonged) to.
    pub service: String,
    /// What happened.
    pub change: ContainerChangeKind,
    /// The spec's file (spec written), the anonymous volumes kept (a removed persisted
    /// container's data, separated by spaces), or why it was kept.
    pub detail: Option<String>,
}

/// What happened to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerChangeKind {
    /// Its spec was written (new or changed).
    SpecWritten,
    /// Removed with its spec.
    Removed,
    /// Removed, its volumes kept.
    RemovedKeptVolumes,
    /// Not ours: left alone, its spec removed.
    KeptNotOurs,
    /// The engine could not be reached (`remove --force`): the container may still be there.
    LeftInEngine,
}

/// `tf create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CreateReport {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// The services created (or updated), in file order.
    pub services: Vec<String>,
    /// Unit files written (new or changed), full paths.
    pub written: Vec<String>,
    /// Unit files already installed with the same content.
    pub unchanged: Vec<String>,
    /// Helper units the new specs no longer have, removed.
    pub removed: Vec<String>,
    /// Whether systemd was reloaded (once at most).
    pub reloaded: bool,
    /// Whether this run finished an earlier one that was interrupted.
    pub resumed: bool,
    /// Timers started, changed running units restarted.
    pub jobs: Vec<JobOutcome>,
    /// Container specs written, stale containers removed.
    pub containers: Vec<ContainerChange>,
    /// Every job succeeded.
    pub ok: bool,
}

/// `tf create --dry-run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Plan {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// Every unit the services render to.
    pub units: Vec<PlannedUnit>,
}

/// A unit as it would be written, and as it is installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PlannedUnit {
    /// The unit's name.
    pub name: String,
    /// Where it would be written.
    pub path: String,
    /// Its new content.
    pub content: String,
    /// Its installed content, when installed.
    pub installed: Option<String>,
}

impl PlannedUnit {
    /// A unified diff from the installed file to the new one; `None` when new or unchanged.
    pub fn diff(&self) -> Option<String> {
        let old = self.installed.as_deref().filter(|old| *old != self.content)?;
        let diff = similar::TextDiff::from_lines(old, self.content.as_str());
        Some(diff.unified_diff().header(&self.path, &format!("{} (new)", self.path)).to_string())
    }
}

/// `tf run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RunReport {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// How the run ended.
    pub outcome: RunOutcome,
}

/// `tf check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// One entry per service.
    pub services: Vec<ServiceCheck>,
    /// Every requirement holds.
    pub ok: bool,
    /// A requirement that is not silent does not hold after waiting: the start must fail, not
    /// be skipped.
    pub fails_start: bool,
}

/// The startup requirements of one service, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ServiceCheck {
    /// The service.
    pub service: String,
    /// One line per requirement.
    pub requirements: Vec<RequirementCheck>,
    /// Why waiting ended without admission, when it did.
    pub admission: Option<String>,
}

/// One requirement, measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RequirementCheck {
    /// Whether it holds now.
    pub holds: bool,
    /// The requirement and the measurement, one line.
    pub detail: String,
}

/// `tf env list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentList {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// By name.
    pub environments: Vec<EnvironmentSummary>,
}

/// One stored environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentSummary {
    /// Its name.
    pub name: String,
    /// `venv` or `docker`.
    pub kind: String,
    /// The conda environment's name, or the container's image.
    pub what: String,
    /// Its file.
    pub path: String,
    /// The installed services that use it.
    pub used_by: Vec<String>,
}

/// `tf env show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentDetail {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// Name, kind, users.
    #[serde(flatten)]
    pub summary: EnvironmentSummary,
    /// The stored file's text.
    pub text: String,
    /// The stored file's content as data (its TOML as JSON).
    pub definition: serde_json::Value,
}

/// `tf env create|update|delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct EnvironmentChange {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// created, updated or deleted.
    pub change: String,
    /// The environment.
    pub name: String,
    /// Its file.
    pub path: String,
    /// The services re-created with it (update).
    pub updated: Vec<String>,
    /// Services that use it but have no saved definition: not re-created (update).
    pub not_updated: Vec<String>,
    /// The re-creation (update), when there were services to re-create.
    pub create: Option<CreateReport>,
}

/// `tf monitor check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MonitorReport {
    /// [`VERSION`].
    #[serde(default = "version")]
    pub version: u32,
    /// How many services with timers were checked.
    pub checked: usize,
    /// What is wrong now.
    pub problems: Vec<Problem>,
    /// Destinations that did not take an alert (tried again at the next check).
    pub undelivered: Vec<String>,
}

/// The contract's answers, for the schema.
#[derive(JsonSchema)]
#[allow(dead_code)]
enum Answer {
    ServiceList(ServiceList),
    StatusReport(StatusReport),
    UnitFiles(UnitFiles),
    Logs(Logs),
    LogLine(LogLine),
    History(History),
    NextRuns(NextRuns),
    ControlReport(ControlReport),
    CreateReport(CreateReport),
    Plan(Plan),
    RunReport(RunReport),
    CheckReport(CheckReport),
    EnvironmentList(EnvironmentList),
    EnvironmentDetail(EnvironmentDetail),
    EnvironmentChange(EnvironmentChange),
    MonitorReport(MonitorReport),
}

/// The JSON Schema of every answer (`schema/taskflows-api.schema.json`), pretty-printed.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(Answer);
    schema.insert("title".to_owned(), format!("taskflows API answers, version {VERSION}").into());
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    text.push('\n');
    text
}

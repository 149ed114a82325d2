//! The operations of taskflows, under every front end: `tf`, the API server (next), the Slack
//! bot and `taskflows-app` parse their input, call an [`Operations`] implementation and print or
//! send its typed answer ([`contract`]).
//!
//! [`Local`] carries them out on this host: it composes the backends (systemd over D-Bus,
//! Docker, the constraints, the alerts), holds their handles, takes the data folder's lock for
//! every mutation ([`DataLock`]) and makes `create` convergent (a rerun finishes an interrupted
//! one). It prints nothing and builds no runtime: what a front end may show while it works comes
//! through a [`Progress`] callback, and every answer is a value.
//!
//! It does not parse command lines or service-file paths (a request carries file contents, so a
//! remote caller can send them), does not render units (`taskflows-core`) and does not talk to
//! D-Bus or the Docker engine itself (the backends do).

pub mod contract;
mod control;
mod create;
mod environments;
mod error;
pub mod grafana;
mod lock;
pub mod logging;
mod logs;
pub mod metrics;
mod monitor;
mod monitor_state;
pub mod observability;
mod observe;
pub mod paths;
#[cfg(feature = "client")]
pub mod remote;
mod requirements;
pub mod security;
#[cfg(feature = "server")]
pub mod server;
mod shutdown;
pub mod signing;
#[cfg(feature = "slack")]
pub mod slack;
mod vars;
pub mod wire;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use taskflows_core::{EnvName, RenderContext, Scope};
use taskflows_systemd::{Store, Systemd};

pub use contract::*;
pub use create::pending_marker;
pub use error::{Error, Result, exit};
pub use lock::DataLock;
pub use logs::{LOG_QUERY_KEYS, LogPattern, LogQuery, LogTime, Priority, RunSelector};
pub use monitor::{MONITOR_SERVICE, MonitorRequest, monitor_state_path, scope_name, silences_path};
pub use paths::PathPolicy;
pub use shutdown::terminated;
pub use vars::env_var;

/// A service file's content, and the name its errors give it (a path, `<stdin>` …).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    /// How errors name the file.
    pub label: String,
    /// The TOML text.
    pub content: String,
}

/// `tf create`: services from files, filtered by name.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    /// The service files, in order.
    pub files: Vec<SourceFile>,
    /// Only services whose name matches one of these globs (all when empty).
    #[serde(default)]
    pub include: Vec<String>,
    /// Not the services whose name matches one of these globs.
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// Which units of a service a control command acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Targets {
    /// The services.
    Services,
    /// Their timers (and the stop-/restart- helpers' timers).
    Timers,
    /// Both (the default: stopping a service also stops it from firing again, as the Python
    /// `tf` did).
    #[default]
    Both,
}

impl From<Targets> for taskflows_systemd::Targets {
    fn from(t: Targets) -> taskflows_systemd::Targets {
        match t {
            Targets::Services => taskflows_systemd::Targets::Services,
            Targets::Timers => taskflows_systemd::Targets::Timers,
            Targets::Both => taskflows_systemd::Targets::Both,
        }
    }
}

/// `tf start|stop|restart|enable|disable|remove PATTERN`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ControlRequest {
    /// A service name or glob.
    pub pattern: String,
    /// What to do.
    pub action: Action,
    /// Which units (remove: always both).
    pub targets: Targets,
    /// Start: wait until the runs end.
    pub wait: bool,
    /// Start with wait: stop waiting after this long (the services keep running).
    pub timeout: Option<Duration>,
    /// Remove: go on when the Docker engine cannot be reached, reporting the containers left.
    #[serde(default)]
    pub force: bool,
}

/// `tf run -- COMMAND…`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunRequest {
    /// The transient unit's name (see [`RunRequest::unit_for`]).
    pub unit: String,
    /// The command and its arguments.
    pub argv: Vec<String>,
    /// Stop the run after this long (systemd's `RuntimeMaxSec=`); none: no limit.
    pub timeout: Option<Duration>,
}

impl RunRequest {
    /// `taskflows-run-NAME-MILLIS.service`: a fresh unit name for a run called `name`.
    pub fn unit_for(name: Option<&str>) -> Result<String> {
        let stem = name.unwrap_or("run");
        taskflows_core::ServiceName::new(format!("run-{stem}"))
            .map_err(|e| Error::usage(format!("--name: {e}"), None))?;
        // Milliseconds and a random part: two runs of one name in the same millisecond (two API
        // clients) get their own units.
        let mut salt = [0u8; 3];
        getrandom::fill(&mut salt).expect("the kernel's random source");
        Ok(format!("taskflows-run-{stem}-{}{}.service", jiff::Timestamp::now().as_millisecond(), hex::encode(salt)))
    }
}

/// What `tf check` measures.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum CheckTarget {
    /// The services of these files (every requirement).
    Files(Vec<SourceFile>),
    /// Installed services by name or glob (read from their unit files; with a wait, only the
    /// requirements the unit waits for).
    Installed(String),
}

/// A stored environment's file.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EnvironmentFile {
    /// The environment's name.
    pub name: EnvName,
    /// The file (TOML, one `[venv]` or `[docker]` table).
    pub file: SourceFile,
}

/// What a front end may show while an operation works. Operations never print.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress {
    /// `done` of `total` jobs finished (bulk operations).
    Jobs {
        /// Finished.
        done: usize,
        /// All.
        total: usize,
    },
    /// Another command holds the data folder's lock; this one waits.
    WaitingForLock {
        /// The data folder.
        data_dir: PathBuf,
    },
    /// An image is being built for a service.
    Building {
        /// The service.
        service: String,
        /// The image's tag.
        tag: String,
        /// The build context.
        path: String,
    },
    /// A line of an image build's output.
    BuildOutput(String),
    /// Something the user should know that does not fail the operation.
    Warning(String),
    /// `start --wait`: a started service's state, when it starts waiting and at each change
    /// systemd signals.
    Run {
        /// The service.
        service: String,
        /// Its state as systemd words it: `activating (start)`, `active (running)`,
        /// `inactive (dead)`, `failed (failed)`.
        state: String,
        /// Whether its run has ended.
        ended: bool,
    },
}

/// A stream of journal lines of `tf logs --follow`.
pub type LogStream = futures_util::stream::BoxStream<'static, Result<LogLine>>;

/// Every operation of taskflows. [`Local`] carries them out on this host; a remote
/// implementation (the API issue) sends them to a server, which answers with the same types.
pub trait Operations {
    /// Installed services and their unit files.
    fn list(&self, pattern: Option<&str>) -> impl Future<Output = Result<ServiceList>> + Send;
    /// The state of services (only running ones with `running`).
    fn status(&self, pattern: Option<&str>, running: bool) -> impl Future<Output = Result<StatusReport>> + Send;
    /// Installed unit files.
    fn show(&self, pattern: &str) -> impl Future<Output = Result<UnitFiles>> + Send;
    /// The last `query.lines` journal lines of one service that pass the query's filters.
    fn logs(&self, name: &str, query: &LogQuery) -> impl Future<Output = Result<Logs>> + Send;
    /// The last lines, then new ones as they come (a query with `run` is refused).
    fn follow(&self, name: &str, query: &LogQuery) -> impl Future<Output = Result<LogStream>> + Send;
    /// Past runs, newest first.
    fn history(&self, pattern: Option<&str>, limit: usize) -> impl Future<Output = Result<History>> + Send;
    /// Upcoming runs, `count` per service.
    fn next(&self, pattern: Option<&str>, count: usize) -> impl Future<Output = Result<NextRuns>> + Send;
    /// What `create` would write, beside what is installed; changes nothing.
    fn plan(&self, request: &CreateRequest) -> impl Future<Output = Result<Plan>> + Send;
    /// Create or update services.
    fn create(&self, request: &CreateRequest) -> impl Future<Output = Result<CreateReport>> + Send;
    /// Start, stop, restart, enable, disable or remove services.
    fn control(&self, request: &ControlRequest) -> impl Future<Output = Result<ControlReport>> + Send;
    /// Run a command once under systemd and wait for it.
    fn run(&self, request: &RunRequest) -> impl Future<Output = Result<RunReport>> + Send;
    /// Measure startup requirements (and wait for them with `wait`).
    fn check(&self, target: &CheckTarget, wait: Option<Duration>) -> impl Future<Output = Result<CheckReport>> + Send;
    /// Stored environments and their users.
    fn env_list(&self) -> impl Future<Output = Result<EnvironmentList>> + Send;
    /// One stored environment.
    fn env_show(&self, name: &EnvName) -> impl Future<Output = Result<EnvironmentDetail>> + Send;
    /// Store a new environment.
    fn env_create(&self, file: &EnvironmentFile) -> impl Future<Output = Result<EnvironmentChange>> + Send;
    /// Replace a stored environment and re-create the services that use it.
    fn env_update(&self, file: &EnvironmentFile) -> impl Future<Output = Result<EnvironmentChange>> + Send;
    /// Delete a stored environment no installed service uses.
    fn env_delete(&self, name: &EnvName) -> impl Future<Output = Result<EnvironmentChange>> + Send;
    /// The missed-run monitor: what is wrong now, each problem alerted once.
    fn monitor_check(&self, request: &MonitorRequest) -> impl Future<Output = Result<MonitorReport>> + Send;
}

/// Everything rendering needs to know about this host, for `scope`: the data folder, the `tf`
/// binary units call (Docker services, waits), a conda runner. Paths that cannot go into a unit
/// file (a line break in `TASKFLOWS_DATA_DIR`, say) are refused, not written.
pub fn host_context(scope: Scope, tf_binary: Option<PathBuf>) -> Result<RenderContext> {
    let path = |what: &str, p: PathBuf| {
        taskflows_core::AbsPath::new(p.display().to_string())
            .map_err(|e| Error::invalid(format!("{what} {}: {e}", p.display())))
    };
    let mut ctx = RenderContext::new(scope);
    ctx.conda_runner = taskflows_systemd::host::conda_runner().map(|p| path("conda runner", p)).transpose()?;
    if let Some(tf) = tf_binary {
        ctx.tf_binary = path("the tf binary", tf)?;
    }
    ctx.data_dir = path("TASKFLOWS_DATA_DIR", taskflows_systemd::host::data_dir(scope))?;
    Ok(ctx)
}

/// The operations on this host, for one scope.
#[derive(Clone)]
pub struct Local {
    scope: Scope,
    ctx: RenderContext,
    unit_dir: PathBuf,
    lock_timeout: Duration,
    systemd: Arc<tokio::sync::OnceCell<Systemd>>,
    progress: Option<Arc<dyn Fn(Progress) + Send + Sync>>,
    paths: Option<Arc<PathPolicy>>,
}

impl Local {
    /// The operations of `scope`, rendering with `ctx` (the data folder, `tf`, the conda runner:
    /// see `taskflows_systemd::host`). systemd is connected on first use.
    pub fn new(ctx: RenderContext) -> Local {
        let scope = ctx.scope;
        Local {
            scope,
            ctx,
            unit_dir: taskflows_systemd::default_unit_dir(scope),
            lock_timeout: Duration::from_secs(60),
            systemd: Arc::new(tokio::sync::OnceCell::new()),
            progress: None,
            paths: None,
        }
    }

    /// Check paths with `policy` rather than the one of this process's environment and the
    /// scope's config file ([`PathPolicy::from_env`], read at each create).
    pub fn with_path_policy(self, policy: PathPolicy) -> Local {
        Local { paths: Some(Arc::new(policy)), ..self }
    }

    /// The path policy creates are checked with.
    pub fn path_policy(&self) -> Result<Arc<PathPolicy>> {
        match &self.paths {
            Some(policy) => Ok(policy.clone()),
            None => Ok(Arc::new(PathPolicy::from_env(self.scope, &self.data_dir())?)),
        }
    }

    /// Use this connection to systemd (its unit folder too).
    pub fn with_systemd(self, systemd: Systemd) -> Local {
        let unit_dir = systemd.unit_dir().to_owned();
        Local { unit_dir, systemd: Arc::new(tokio::sync::OnceCell::new_with(Some(systemd))), ..self }
    }

    /// How long a mutation waits for another one's lock before it fails as busy (default 60 s).
    pub fn with_lock_timeout(mut self, timeout: Duration) -> Local {
        self.lock_timeout = timeout;
        self
    }

    /// Tell `report` what is going on (progress, waiting, builds, warnings).
    pub fn with_progress(mut self, report: impl Fn(Progress) + Send + Sync + 'static) -> Local {
        self.progress = Some(Arc::new(report));
        self
    }

    /// User or system.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// taskflows' data folder.
    pub fn data_dir(&self) -> PathBuf {
        PathBuf::from(self.ctx.data_dir.as_str())
    }

    /// The unit folder.
    pub fn unit_dir(&self) -> &std::path::Path {
        &self.unit_dir
    }

    /// The store of stored environments and saved definitions.
    pub fn store(&self) -> Store {
        Store::new(self.data_dir(), &self.unit_dir)
    }

    pub(crate) fn say(&self, event: Progress) {
        if let Some(report) = &self.progress {
            report(event);
        }
    }

    /// systemd, connected on first use.
    pub async fn systemd(&self) -> Result<&Systemd> {
        self.systemd
            .get_or_try_init(|| async {
                let mut systemd = Systemd::connect(self.scope).await?.with_unit_dir(&self.unit_dir);
                if let Some(report) = self.progress.clone() {
                    systemd = systemd.with_progress(move |done, total| report(Progress::Jobs { done, total }));
                }
                Ok::<Systemd, Error>(systemd)
            })
            .await
    }

    /// Write a private file of taskflows' (0600, atomically) under the data folder's lock, as
    /// every write there is: e.g. the monitor's secrets before `install` names them.
    pub async fn write_private(&self, path: &std::path::Path, content: &[u8]) -> Result<()> {
        let _lock = self.lock().await?;
        taskflows_systemd::files::write_private(path, content)?;
        Ok(())
    }

    /// The data folder's lock, for a mutation.
    pub async fn lock(&self) -> Result<DataLock> {
        let data_dir = self.data_dir();
        DataLock::acquire(&data_dir, self.lock_timeout, || {
            self.say(Progress::WaitingForLock { data_dir: data_dir.clone() })
        })
        .await
    }
}

impl Operations for Local {
    fn list(&self, pattern: Option<&str>) -> impl Future<Output = Result<ServiceList>> + Send {
        self.list_services(pattern)
    }
    fn status(&self, pattern: Option<&str>, running: bool) -> impl Future<Output = Result<StatusReport>> + Send {
        self.status_of(pattern, running)
    }
    fn show(&self, pattern: &str) -> impl Future<Output = Result<UnitFiles>> + Send {
        self.show_units(pattern)
    }
    fn logs(&self, name: &str, query: &LogQuery) -> impl Future<Output = Result<Logs>> + Send {
        self.logs_of(name, query)
    }
    fn follow(&self, name: &str, query: &LogQuery) -> impl Future<Output = Result<LogStream>> + Send {
        self.follow_logs(name, query)
    }
    fn history(&self, pattern: Option<&str>, limit: usize) -> impl Future<Output = Result<History>> + Send {
        self.history_of(pattern, limit)
    }
    fn next(&self, pattern: Option<&str>, count: usize) -> impl Future<Output = Result<NextRuns>> + Send {
        self.next_runs(pattern, count)
    }
    fn plan(&self, request: &CreateRequest) -> impl Future<Output = Result<Plan>> + Send {
        self.plan_create(request)
    }
    fn create(&self, request: &CreateRequest) -> impl Future<Output = Result<CreateReport>> + Send {
        self.create_services(request)
    }
    fn control(&self, request: &ControlRequest) -> impl Future<Output = Result<ControlReport>> + Send {
        self.control_services(request)
    }
    fn run(&self, request: &RunRequest) -> impl Future<Output = Result<RunReport>> + Send {
        self.run_once(request)
    }
    fn check(&self, target: &CheckTarget, wait: Option<Duration>) -> impl Future<Output = Result<CheckReport>> + Send {
        self.check_requirements(target, wait)
    }
    fn env_list(&self) -> impl Future<Output = Result<EnvironmentList>> + Send {
        self.list_environments()
    }
    fn env_show(&self, name: &EnvName) -> impl Future<Output = Result<EnvironmentDetail>> + Send {
        self.show_environment(name)
    }
    fn env_create(&self, file: &EnvironmentFile) -> impl Future<Output = Result<EnvironmentChange>> + Send {
        self.create_environment(file)
    }
    fn env_update(&self, file: &EnvironmentFile) -> impl Future<Output = Result<EnvironmentChange>> + Send {
        self.update_environment(file)
    }
    fn env_delete(&self, name: &EnvName) -> impl Future<Output = Result<EnvironmentChange>> + Send {
        self.delete_environment(name)
    }
    fn monitor_check(&self, request: &MonitorRequest) -> impl Future<Output = Result<MonitorReport>> + Send {
        self.check_monitor(request)
    }
}

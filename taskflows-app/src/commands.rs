//! What the app's commands do: install and remove units, list the services, run a task.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use taskflows_alerts::{Alerts, Notifier};
use taskflows_api::Local;
use taskflows_core::{
    AbsPath, CommandLine, EnvName, Environment, RenderContext, Schedule, Scope, ServiceName, ServiceSpec,
};

use crate::{App, AppService, Error, RUN_SUBCOMMAND};

/// Run `f` on a current-thread tokio runtime (the app owns the binary's runtime).
pub(crate) fn block_on<T>(f: impl std::future::Future<Output = Result<T, Error>>) -> Result<T, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
    runtime.block_on(f)
}

/// Log as every taskflows binary does ([`taskflows_api::logging`]): to the journal with fields
/// under systemd, to stderr otherwise (and to Loki with `TASKFLOWS_LOKI_URL`; the caller flushes
/// before returning), at info unless `TASKFLOWS_LOG`/`RUST_LOG` say otherwise. Keeps a subscriber
/// the program installed itself.
pub(crate) fn init_logging(_from_unit: bool) {
    taskflows_api::logging::init("info");
}

/// `spec` with the start command `EXE __taskflows-task NAME`.
pub(crate) fn with_start_command(spec: &ServiceSpec, exe: &Path) -> Result<ServiceSpec, Error> {
    let unusable = |reason: &str| Error::Executable { path: exe.display().to_string(), reason: reason.to_owned() };
    let path = exe.to_str().ok_or_else(|| unusable("it is not UTF-8"))?;
    if !exe.is_absolute() {
        return Err(unusable("it is not absolute"));
    }
    // systemd would split at blanks, unquote, unescape and expand `$`: refuse rather than quote.
    if let Some(c) = path.chars().find(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | '$' | ';')) {
        return Err(unusable(&format!("it contains {c:?}; install the binary under a plain path")));
    }
    let command =
        CommandLine::new(format!("{path} {RUN_SUBCOMMAND} {}", spec.name)).map_err(|e| unusable(&e.to_string()))?;
    let mut spec = spec.clone();
    spec.start_command = Some(command);
    Ok(spec)
}

fn current_exe() -> Result<std::path::PathBuf, Error> {
    std::env::current_exe().map_err(|e| Error::Executable { path: "/proc/self/exe".to_owned(), reason: e.to_string() })
}

/// What rendering needs from this host, as `tf` finds it.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// taskflows' data folder.
    pub(crate) data_dir: PathBuf,
    /// The `tf` binary, or why there is none.
    pub(crate) tf: Result<PathBuf, String>,
    /// conda, mamba or micromamba.
    pub(crate) conda_runner: Option<PathBuf>,
}

impl Host {
    pub(crate) fn find(scope: Scope) -> Host {
        Host {
            data_dir: taskflows_systemd::host::data_dir(scope),
            tf: taskflows_systemd::host::find_tf(),
            conda_runner: taskflows_systemd::host::conda_runner(),
        }
    }
}

/// The context `specs` render in on `host`. A service whose units run `tf` (a startup
/// requirement that waits, a Docker environment) cannot be installed without one.
pub(crate) fn render_context(scope: Scope, specs: &[ServiceSpec], host: &Host) -> Result<RenderContext, Error> {
    let path = |what: &str, p: &Path| {
        AbsPath::new(p.display().to_string()).map_err(|e| Error::Host(format!("{what} {}: {e}", p.display())))
    };
    let mut ctx = RenderContext::new(scope);
    ctx.data_dir = path("data folder (TASKFLOWS_DATA_DIR)", &host.data_dir)?;
    ctx.conda_runner = host.conda_runner.as_deref().map(|p| path("conda runner", p)).transpose()?;
    let needing: Vec<&str> =
        specs.iter().filter(|s| taskflows_core::runs_tf(s, &ctx)).map(|s| s.name.as_str()).collect();
    match &host.tf {
        Ok(tf) => ctx.tf_binary = path("tf binary (TF_BIN)", tf)?,
        Err(why) if !needing.is_empty() => {
            return Err(Error::Host(format!(
                "{} run(s) the tf binary (startup requirements that wait, Docker environments), and {why}: \
                 install tf or set TF_BIN to its absolute path",
                needing.join(", ")
            )));
        }
        Err(_) => {}
    }
    Ok(ctx)
}

/// A task service runs this program on the host: its function cannot run in a container (inline,
/// or through a stored environment), whose units would run `tf container run` instead.
pub(crate) fn refuse_containers(specs: &[ServiceSpec], stored: &BTreeMap<EnvName, Environment>) -> Result<(), Error> {
    for spec in specs {
        let docker = match &spec.environment {
            Some(Environment::Docker(_)) => true,
            Some(Environment::Named(n)) => matches!(stored.get(n), Some(Environment::Docker(_))),
            _ => false,
        };
        if docker {
            return Err(Error::Declaration(format!(
                "service[{}].environment: a Rust task runs this program on the host, not in a Docker container; \
                 use a conda environment or none",
                spec.name
            )));
        }
    }
    Ok(())
}

/// The operations of `scope` (the default scope without one), rendering with this host's facts.
fn local(scope: Option<Scope>, specs: &[ServiceSpec]) -> Result<(Local, RenderContext), Error> {
    let scope = scope.unwrap_or_else(taskflows_systemd::default_scope);
    let host = Host::find(scope);
    let ctx = render_context(scope, specs, &host)?;
    Ok((Local::new(ctx.clone()), ctx))
}

/// `install`: write the units, reload once, start the timers (through the operations layer: the
/// data folder's lock, convergence after an interrupted install).
pub(crate) async fn install(app: &App, scope: Option<Scope>) -> Result<(), Error> {
    let specs = app.specs(&current_exe()?)?;
    let (local, _) = local(scope, &specs)?;
    let mut stored = BTreeMap::new();
    if specs.iter().any(|s| matches!(s.environment, Some(Environment::Named(_)))) {
        stored = local.store().named_environments()?;
    }
    refuse_containers(&specs, &stored)?;
    let count = specs.len();
    let report = local.install(specs, None).await?;
    let mut out = String::new();
    for path in &report.written {
        let _ = writeln!(out, "wrote {path}");
    }
    if !report.unchanged.is_empty() {
        let _ = writeln!(out, "{} unit files unchanged", report.unchanged.len());
    }
    for job in &report.jobs {
        let _ = writeln!(out, "{} {}: {}", job.job, job.unit, job.result);
    }
    let failed: Vec<String> = report.jobs.iter().filter(|j| !j.ok()).map(|j| j.unit.clone()).collect();
    let _ = writeln!(out, "{count} service(s) of {} installed", app.name);
    print!("{out}");
    if failed.is_empty() { Ok(()) } else { Err(Error::JobsFailed(failed)) }
}

/// `remove`: stop and delete the units of the declared services that are installed.
pub(crate) async fn remove(app: &App, scope: Option<Scope>) -> Result<(), Error> {
    let (local, _) = local(scope, &[])?;
    let names: Vec<ServiceName> = app.services.iter().map(|s| s.spec.name.clone()).collect();
    let (_, removed) = local.remove(&names, false).await?;
    let mut out = String::new();
    for unit in &removed {
        let _ = writeln!(out, "removed {unit}");
    }
    let _ = writeln!(out, "{} unit file(s) of {} removed", removed.len(), app.name);
    print!("{out}");
    Ok(())
}

/// `list`: one line per service: name, retries, timeout, schedules.
pub(crate) fn list(services: &[AppService]) -> String {
    let width = services.iter().map(|s| s.policy.name.len()).max().unwrap_or(0).max(4);
    let mut out = format!("{:width$}  RETRIES  TIMEOUT  SCHEDULE\n", "NAME");
    for s in services {
        let timeout = s.policy.timeout.map_or_else(|| "-".to_owned(), |t| t.to_string());
        let schedules: Vec<String> = s.spec.start_schedule.0.iter().map(describe).collect();
        let schedule = if schedules.is_empty() { "-".to_owned() } else { schedules.join("; ") };
        let _ = writeln!(out, "{:width$}  {:<7}  {:<7}  {schedule}", s.policy.name, s.policy.retries, timeout);
    }
    out
}

fn describe(schedule: &Schedule) -> String {
    match schedule {
        Schedule::Calendar(c) => c.expr.to_string(),
        Schedule::Periodic(p) => format!(
            "every {} after the last {}",
            p.period,
            match p.relative_to {
                taskflows_core::RelativeTo::Start => "start",
                taskflows_core::RelativeTo::Finish => "finish",
            }
        ),
    }
}

/// `run NAME` and the units' subcommand: run the task under its policy and alerts; fail when
/// its last attempt failed.
pub(crate) async fn run_task(service: &AppService, alerts: &Alerts, from_unit: bool) -> Result<(), Error> {
    let name = &service.policy.name;
    // The task's runner sent READY=1 and fed the watchdog (under a Type=notify unit); the
    // service ends with its task, so systemd hears that it is stopping on purpose.
    let ran = (service.run)(&service.policy, alerts).await;
    if from_unit
        && let Some(notifier) = Notifier::from_env()
        && let Err(e) = notifier.stopping()
    {
        tracing::warn!(error = %e, "failed to notify the service manager (STOPPING=1)");
    }
    match ran {
        Ok(true) => {
            if !from_unit {
                println!("{name}: success");
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
        Ok(false) => Err(Error::TaskFailed { name: name.clone(), attempts: service.policy.attempts() }),
    }
}

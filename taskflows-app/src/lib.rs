//! Rust functions as systemd services: a binary declares services whose start command is one of
//! its own task functions, and [`App::main`] gives it `install`, `remove`, `list`, `run NAME` and
//! the internal subcommand (`__taskflows-task NAME`) that installed units run. Installed units
//! re-execute this very binary (its absolute path) with that subcommand, which runs the function
//! under its [`TaskPolicy`] (retries, backoff, timeout, alerts) and exits non-zero when it
//! failed, so systemd records the failure — the Rust analogue of Python's pickled callables,
//! without pickles.
//!
//! This crate is a front end, like `tf`: it owns the tokio runtime and the log output of the
//! binary, and depends on `taskflows-alerts` (the runner) and `taskflows-systemd` (installing),
//! which stay independent of each other.
//!
//! ```no_run
//! use std::time::Duration;
//! use taskflows_app::App;
//! use taskflows_core::{Periodic, RelativeTo, StartOn, TaskPolicy};
//!
//! async fn sync() -> Result<(), std::io::Error> {
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     let every_hour = Periodic::new(StartOn::Boot, taskflows_core::Duration::from_secs(3600), RelativeTo::Start);
//!     App::new("reports")
//!         .service(TaskPolicy::new("nightly-sync").retries(2).timeout(Duration::from_secs(600)), |s| {
//!             s.start_schedule(every_hour.expect("a valid period"))
//!         }, sync)
//!         .main()
//! }
//! ```

mod args;
mod commands;
mod error;

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;

use taskflows_alerts::{Alerts, TaskError};
use taskflows_core::{ServiceBuilder, ServiceSpec, TaskPolicy};

pub use args::{Command, RUN_SUBCOMMAND, parse, usage};
pub use error::Error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Runs the task under a policy and alerts: whether it succeeded, or a required task's error.
type RunFn =
    Box<dyn for<'a> Fn(&'a TaskPolicy, &'a Alerts) -> Pin<Box<dyn Future<Output = Result<bool, TaskError>> + 'a>>>;

/// A binary's services: each one a task function with its policy and its service settings.
pub struct App {
    name: String,
    services: Vec<AppService>,
    alerts: Alerts,
    error: Option<Error>,
}

struct AppService {
    policy: TaskPolicy,
    /// The declared spec; its start command is set when the units are written.
    spec: ServiceSpec,
    run: RunFn,
}

/// The start command a spec is declared with, until the binary's path is known.
const PLACEHOLDER: &str = "/bin/false";

impl App {
    /// An app called `name` (in its usage text and logs) with no services and no alerts.
    pub fn new(name: impl Into<String>) -> App {
        App { name: name.into(), services: Vec::new(), alerts: Alerts::none(), error: None }
    }

    /// Send these alerts for every task run.
    pub fn alerts(mut self, alerts: Alerts) -> App {
        self.alerts = alerts;
        self
    }

    /// Declare a service named after `policy.name` that runs `task` under `policy`; `configure`
    /// sets the rest of the service (schedules, description, limits, relations …) on a builder.
    ///
    /// A bad name or field, or a name declared twice, is kept as an error that [`App::main`]
    /// reports (exit code 3) before doing anything; [`App::specs`] returns it.
    pub fn service<F, Fut, T, E>(
        mut self,
        policy: TaskPolicy,
        configure: impl FnOnce(ServiceBuilder) -> ServiceBuilder,
        task: F,
    ) -> App
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = Result<T, E>> + 'static,
        E: Into<BoxError> + 'static,
    {
        if self.error.is_some() {
            return self;
        }
        if self.services.iter().any(|s| s.policy.name == policy.name) {
            self.error = Some(Error::Declaration(format!(
                "service[{}]: declared twice; each service needs its own name",
                policy.name
            )));
            return self;
        }
        match configure(ServiceSpec::builder(&policy.name, PLACEHOLDER)).build() {
            Ok(spec) => {
                // The runner is instantiated here, with the task's own error type (alerts name it).
                let task = std::rc::Rc::new(task);
                let run: RunFn = Box::new(move |policy, alerts| {
                    let task = std::rc::Rc::clone(&task);
                    Box::pin(async move {
                        let value = taskflows_alerts::run_task(policy, alerts, || task()).await;
                        value.map(|v| v.is_some())
                    })
                });
                self.services.push(AppService { policy, spec, run });
            }
            Err(e) => self.error = Some(Error::Declaration(e.to_string())),
        }
        self
    }

    /// The names of the declared services, in declaration order.
    pub fn names(&self) -> Vec<&str> {
        self.services.iter().map(|s| s.policy.name.as_str()).collect()
    }

    /// The service specs as they are installed when the binary lives at `exe`: each one's start
    /// command is `EXE __taskflows-task NAME`.
    pub fn specs(&self, exe: &std::path::Path) -> Result<Vec<ServiceSpec>, Error> {
        if let Some(e) = &self.error {
            return Err(Error::Declaration(e.to_string()));
        }
        self.services.iter().map(|s| commands::with_start_command(&s.spec, exe)).collect()
    }

    /// Parse the process's arguments, do what they say, and return the exit code: 0 done, 1
    /// failed (a task's last attempt failed, systemd unreachable), 2 wrong command line or
    /// unknown task, 3 a declaration error.
    pub fn main(self) -> ExitCode {
        let mut argv = std::env::args();
        let program = argv.next().unwrap_or_default();
        let program = std::path::Path::new(&program)
            .file_name()
            .map_or_else(|| self.name.clone(), |n| n.to_string_lossy().into_owned());
        let args: Vec<String> = argv.collect();
        match self.run(&program, &args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                if matches!(e, Error::Usage(_)) {
                    eprintln!("run `{program} help` for the commands");
                }
                ExitCode::from(e.exit_code())
            }
        }
    }

    /// [`App::main`] for given arguments (after the program name), printing what it did.
    pub fn run(self, program: &str, args: &[String]) -> Result<(), Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        match parse(args)? {
            Command::Help => {
                print!("{}", usage(program));
                Ok(())
            }
            Command::List => {
                print!("{}", commands::list(&self.services));
                Ok(())
            }
            Command::Install(scope) => commands::block_on(commands::install(&self, scope)),
            Command::Remove(scope) => commands::block_on(commands::remove(&self, scope)),
            Command::Run { name, from_unit } => {
                commands::init_logging(from_unit);
                let service =
                    self.services.iter().find(|s| s.policy.name == name).ok_or_else(|| Error::UnknownTask {
                        name: name.clone(),
                        known: self.names().into_iter().map(str::to_owned).collect(),
                    })?;
                let ran = commands::block_on(commands::run_task(service, &self.alerts, from_unit));
                // The task's last lines to Loki, when they are pushed there (bounded: 2 s).
                taskflows_api::logging::flush();
                ran
            }
        }
    }
}

#[cfg(test)]
mod tests;

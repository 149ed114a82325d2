//! `tf`, the taskflows command: a thin front end over the taskflows crates.
//!
//! It owns argument parsing, reading files, finding things on the host and printing; the model
//! and rendering live in `taskflows-core`.
//!
//! Exit codes: 0 success; 1 the operation failed (a job or run failed, systemd unreachable); 2 the
//! command line is wrong; 3 a service definition is invalid (the message names the file, line,
//! column and field); 4 no installed service matches the pattern (the message names the nearest
//! ones). A closed pipe (e.g. `tf … | head`) ends quietly with 0.

mod calendar;
mod check;
mod container;
mod create;
mod env;
mod host;
mod monitor;
mod monitor_alerts;
mod monitor_state;
mod output;
mod services;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use taskflows_systemd::Targets;

use services::{Action, block_on};

/// Exit code for an invalid service definition.
const EXIT_INVALID: u8 = 3;
/// Exit code when no installed service matches a pattern.
const EXIT_NO_MATCH: u8 = 4;

/// Manage scheduled jobs and long-running services as systemd units.
///
/// Exit codes: 0 success; 1 the operation failed (a job or run failed, systemd unreachable);
/// 2 wrong command line; 3 invalid service definition; 4 no service matches the pattern.
#[derive(Parser)]
#[command(name = "tf", version, about, max_term_width = 100)]
struct Cli {
    /// Act on the user's service manager (default for non-root users).
    #[arg(long, global = true, conflicts_with = "system")]
    user: bool,
    /// Act on the system service manager (default for root).
    #[arg(long, global = true)]
    system: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List installed services and their units.
    List {
        /// A service name or glob (default: all).
        pattern: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show services' state, last and next runs, schedules.
    Status {
        /// A service name or glob (default: all).
        #[arg(short = 'm', long = "match")]
        pattern: Option<String>,
        /// Only running services.
        #[arg(long)]
        running: bool,
        /// More columns: description, load state, restarts.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show a service's journal.
    Logs {
        /// The service.
        name: String,
        /// How many lines.
        #[arg(short = 'n', long, default_value_t = 50)]
        lines: usize,
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print the installed unit files of services.
    Show {
        /// A service name or glob.
        pattern: String,
        #[arg(long)]
        json: bool,
    },
    /// Create services from a service file or a folder of them.
    Create(create::CreateArgs),
    /// Start services (or, with -t, their timers).
    Start {
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
        /// Wait for the runs to finish; fail if one failed.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. 10min); the services keep running.
        #[arg(long, requires = "wait", value_parser = parse_duration)]
        timeout: Option<taskflows_core::Duration>,
    },
    /// Stop services (or, with -t, their timers).
    Stop {
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
    },
    /// Restart services (or, with -t, their timers).
    Restart {
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
    },
    /// Enable services (or, with -t, their timers) at boot or login.
    Enable {
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
    },
    /// Disable services (or, with -t, their timers).
    Disable {
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
    },
    /// Stop, disable and delete services and their timers.
    Remove { pattern: String },
    /// Show upcoming runs.
    Next {
        /// A service name or glob (default: all).
        pattern: Option<String>,
        /// How many runs per service.
        #[arg(short = 'n', long, default_value_t = 1)]
        count: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show past runs, from the journal.
    History {
        /// A service name or glob (default: all).
        #[arg(short = 'm', long = "match")]
        pattern: Option<String>,
        /// At most this many runs.
        #[arg(short, long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Run a command once under systemd and wait for it.
    Run {
        /// A name for the run's unit (taskflows-run-NAME-…).
        #[arg(long)]
        name: Option<String>,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Say whether services could start now: their startup requirements, measured.
    Check {
        /// A service file, or an installed service's name or glob.
        target: String,
        /// Wait until the requirements hold (exit 0), or give up after this long (exit 1, or 255
        /// when a requirement is not silent): for `ExecCondition=`.
        #[arg(long, value_parser = parse_duration)]
        wait: Option<taskflows_core::Duration>,
    },
    /// Check calendar expressions and show their next elapses (like `systemd-analyze calendar`).
    Calendar(calendar::CalendarArgs),
    /// The missed-run monitor (dead-man switch) for services with timers.
    Monitor {
        #[command(subcommand)]
        command: monitor::MonitorCommand,
    },
    /// Print the JSON Schema of service files.
    Schema,
    /// Manage named environments: stored Venv/Docker configurations services refer to by name.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Print shell completions.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// What Docker services' units run (internal).
    #[command(subcommand, hide = true)]
    Container(container::ContainerCommand),
}

/// Which units a control command acts on.
#[derive(clap::Args)]
struct TargetArgs {
    /// The timers (of the service and its stop-/restart- schedules).
    #[arg(short = 't', long)]
    timers: bool,
    /// The services too, with --timers.
    #[arg(long)]
    services: bool,
}

impl TargetArgs {
    fn targets(&self) -> Targets {
        match (self.timers, self.services) {
            (true, true) => Targets::Both,
            (true, false) => Targets::Timers,
            _ => Targets::Services,
        }
    }
}

/// An error with the exit code it maps to and an optional hint for the user.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    error: anyhow::Error,
    hint: Option<String>,
}

impl Failure {
    pub(crate) fn new(code: u8, error: impl Into<anyhow::Error>) -> Failure {
        Failure { code, error: error.into(), hint: None }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hint = Some(hint.into());
        self
    }
}

impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::new(1, error)
    }
}

impl From<std::io::Error> for Failure {
    fn from(error: std::io::Error) -> Failure {
        Failure::new(1, error)
    }
}

impl From<taskflows_core::Error> for Failure {
    fn from(error: taskflows_core::Error) -> Failure {
        Failure::new(EXIT_INVALID, error)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let scope = host::scope(cli.user, cli.system);
    let result = match cli.command {
        Command::List { pattern, json } => block_on(services::list(scope, pattern.as_deref(), json)).map(done),
        Command::Status { pattern, running, all, json } => {
            block_on(services::status(scope, pattern.as_deref(), running, all, json)).map(done)
        }
        Command::Logs { name, lines, follow, json } => {
            block_on(services::logs(scope, &name, lines, follow, json)).map(done)
        }
        Command::Show { pattern, json } => block_on(services::show(scope, &pattern, json)).map(done),
        Command::Create(args) => create::run(&args, scope),
        Command::Start { pattern, targets, wait, timeout } => {
            block_on(services::control(scope, &pattern, Action::Start { wait, timeout }, targets.targets()))
        }
        Command::Stop { pattern, targets } => {
            block_on(services::control(scope, &pattern, Action::Stop, targets.targets()))
        }
        Command::Restart { pattern, targets } => {
            block_on(services::control(scope, &pattern, Action::Restart, targets.targets()))
        }
        Command::Enable { pattern, targets } => {
            block_on(services::control(scope, &pattern, Action::Enable, targets.targets()))
        }
        Command::Disable { pattern, targets } => {
            block_on(services::control(scope, &pattern, Action::Disable, targets.targets()))
        }
        Command::Remove { pattern } => block_on(services::control(scope, &pattern, Action::Remove, Targets::Both)),
        Command::Next { pattern, count, json } => {
            block_on(services::next(scope, pattern.as_deref(), count, json)).map(done)
        }
        Command::History { pattern, limit, json } => {
            block_on(services::history(scope, pattern.as_deref(), limit, json)).map(done)
        }
        Command::Run { name, command } => block_on(services::run(scope, name.as_deref(), command)),
        Command::Check { target, wait } => {
            check::run(scope, &target, wait.map(|d| std::time::Duration::from_micros(d.as_micros())))
        }
        Command::Calendar(args) => calendar::run(&args).map_err(|e| Failure::new(1, e)),
        Command::Env(command) => env::run(command, scope),
        Command::Monitor { command } => monitor::run(command, scope),
        Command::Schema => print(taskflows_core::file::json_schema().as_bytes()).map(done),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "tf", &mut script);
            print(&script).map(done)
        }
        Command::Container(command) => container::run(&command),
    };
    match result {
        Ok(code) => code,
        Err(f) if is_broken_pipe(&f.error) => ExitCode::SUCCESS,
        Err(f) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {}", message(&f.error));
            if let Some(hint) = f.hint {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            ExitCode::from(f.code)
        }
    }
}

/// The error and its causes, each cause only if the message does not already say it (library
/// errors spell out their source).
fn message(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&cause);
        }
    }
    text
}

pub(crate) fn parse_duration(s: &str) -> Result<taskflows_core::Duration, String> {
    taskflows_core::Duration::parse(s).map_err(|e| e.to_string())
}

fn done(_: ()) -> ExitCode {
    ExitCode::SUCCESS
}

/// Write all of `bytes` to stdout.
pub(crate) fn print(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

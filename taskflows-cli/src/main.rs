//! `tf`, the taskflows command: a thin front end over the taskflows crates.
//!
//! It owns argument parsing, reading files, finding things on the host and printing; the model
//! and rendering live in `taskflows-core`.
//!
//! Exit codes: 0 success; 1 the operation failed; 2 the command line is wrong; 3 a service
//! definition is invalid (the message names the file, line, column and field). A closed pipe
//! (e.g. `tf … | head`) ends quietly with 0.

mod calendar;
mod create;
mod host;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code for an invalid service definition.
const EXIT_INVALID: u8 = 3;

/// Manage scheduled jobs and long-running services as systemd units.
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
    /// Create services from a service file or a folder of them.
    Create(create::CreateArgs),
    /// Print the JSON Schema of service files.
    Schema,
    /// Check calendar expressions and show their next elapses (like `systemd-analyze calendar`).
    Calendar(calendar::CalendarArgs),
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
        Command::Create(args) => create::run(&args, scope),
        Command::Schema => print(taskflows_core::file::json_schema().as_bytes()),
        Command::Calendar(args) => match calendar::run(&args) {
            Ok(code) => return code,
            Err(e) => Err(Failure::new(1, e)),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if is_broken_pipe(&f.error) => ExitCode::SUCCESS,
        Err(f) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {:#}", f.error);
            if let Some(hint) = f.hint {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            ExitCode::from(f.code)
        }
    }
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

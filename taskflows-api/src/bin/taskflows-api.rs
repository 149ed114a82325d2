//! `taskflows-api`: the API server on its own (the same as `tf api serve`).

use std::process::ExitCode;

use clap::Parser;

/// The taskflows API server: the operations of `tf` over HTTP(S), every route but /health
/// behind signed requests.
#[derive(Parser)]
#[command(name = "taskflows-api", version, about, max_term_width = 100)]
struct Cli {
    /// Serve the user's services (default for non-root users).
    #[arg(long, conflicts_with = "system")]
    user: bool,
    /// Serve the system's services (default for root).
    #[arg(long)]
    system: bool,
    #[command(flatten)]
    serve: taskflows_api::server::ServeArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    taskflows_api::logging::init("info");
    let scope = match (cli.user, cli.system) {
        (true, _) => taskflows_core::Scope::User,
        (_, true) => taskflows_core::Scope::System,
        _ => taskflows_systemd::default_scope(),
    };
    // Docker services' units call `tf`: the one beside this binary, else the one on PATH.
    let tf = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join("tf"))).filter(|p| p.exists());
    let served = taskflows_api::server::run(&cli.serve, scope, tf);
    taskflows_api::logging::flush();
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            if let Some(hint) = e.hint() {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(e.exit_code())
        }
    }
}

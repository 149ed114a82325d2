//! The Docker hooks: `tf container run|stop` (hidden; what Docker services' units run). The
//! container work of `create` and `remove` is the operations layer's (`taskflows-api`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use taskflows_docker::{ContainerSpec, Engine};

use crate::Failure;

#[derive(clap::Subcommand)]
pub(crate) enum ContainerCommand {
    /// Run a service's container attached; exit with its exit code.
    Run {
        /// taskflows' data folder, where `tf create` wrote the container's spec.
        #[arg(long)]
        data_dir: PathBuf,
        /// The container's name.
        name: String,
    },
    /// Stop a service's container (a missing one is fine).
    Stop {
        #[arg(long)]
        data_dir: PathBuf,
        name: String,
    },
}

pub(crate) fn run(command: &ContainerCommand) -> Result<ExitCode, Failure> {
    match command {
        ContainerCommand::Run { data_dir, name } => crate::block_on(run_container(data_dir, name)),
        ContainerCommand::Stop { data_dir, name } => crate::block_on(stop_container(data_dir, name)),
    }
}

async fn run_container(data_dir: &Path, name: &str) -> Result<ExitCode, Failure> {
    // Before anything slow (connect, pull, create): a stop asked for meanwhile is seen.
    let stop = stop_signal();
    let spec = ContainerSpec::read(data_dir, name)?;
    let engine = Engine::connect(spec.docker_host.as_deref()).await?;
    let outcome = engine.run_attached(&spec, stop).await?;
    let code = match outcome.exit_code {
        // Ended by the stop we asked for (SIGTERM, or SIGKILL after the timeout): a clean
        // stop for systemd, like a plain service's process ended by SIGTERM.
        0 | 137 | 143 if outcome.stop_requested => 0,
        c => u8::try_from(c).unwrap_or(255),
    };
    Ok(ExitCode::from(code))
}

/// Completes on the first SIGTERM or SIGINT. The handlers are installed now, not when the
/// future is first polled: a signal that arrives before is not fatal, the future sees it.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let handlers = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()));
    async move {
        let (Ok(mut term), Ok(mut int)) = handlers else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

async fn stop_container(data_dir: &Path, name: &str) -> Result<ExitCode, Failure> {
    // As ExecStop=, systemd tells us the main process (`tf container run`): it is told first, so
    // it knows the container's end was asked for.
    let main_pid = std::env::var("MAINPID").ok().and_then(|p| p.parse::<i32>().ok());
    if let Some(pid) =
        main_pid.filter(|&p| u32::try_from(p).ok() != Some(std::process::id())).and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    // Without its spec (removed with its service, or the service is no longer a Docker one) the
    // container was removed too: nothing to stop.
    let Ok(spec) = ContainerSpec::read(data_dir, name) else {
        return Ok(ExitCode::SUCCESS);
    };
    let engine = Engine::connect(spec.docker_host.as_deref()).await?;
    engine.stop(&spec).await?;
    Ok(ExitCode::SUCCESS)
}

//! The Docker hooks: `tf container run|stop` (hidden; what Docker services' units run), and the
//! container work of `tf create` and `tf remove`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use taskflows_core::{RenderContext, ServiceName, ServiceSpec};
use taskflows_docker::{ContainerSpec, Engine};

use crate::{EXIT_INVALID, Failure};

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
        ContainerCommand::Run { data_dir, name } => crate::services::block_on(run_container(data_dir, name)),
        ContainerCommand::Stop { data_dir, name } => crate::services::block_on(stop_container(data_dir, name)),
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
    engine.stop(name, &spec.service, spec.create.stop_timeout).await?;
    Ok(ExitCode::SUCCESS)
}

/// The container specs of the Docker services among `specs`: checked and mapped before anything
/// is written; with `build`, the engine is reached and images built from a Dockerfile are built.
pub(crate) async fn prepare(
    specs: &[ServiceSpec],
    ctx: &RenderContext,
    build: bool,
) -> Result<Vec<ContainerSpec>, Failure> {
    let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    let mut containers = Vec::new();
    let mut builds = Vec::new();
    for spec in specs {
        let Some(container) = taskflows_docker::docker_environment(spec, ctx) else { continue };
        let mapped = ContainerSpec::new(spec, container, host.clone()).map_err(invalid)?;
        if let Some(b) = ContainerSpec::build_of(container) {
            builds.push((spec.name.to_string(), b.clone()));
        }
        containers.push(mapped);
    }
    check_names(specs, ctx, &containers)?;
    if build && !containers.is_empty() {
        let engine = Engine::connect(host.as_deref()).await?;
        for (service, b) in &builds {
            eprintln!("building image {} for {service} from {}", b.tag, b.path);
            engine.build_image(service, b, |line| eprintln!("  {line}")).await?;
        }
        let mut with_ids = Vec::with_capacity(containers.len());
        for c in containers {
            let image = c.create.image.clone().unwrap_or_default();
            with_ids.push(match engine.image_id(&image).await? {
                Some(id) => c.with_image_id(&id),
                None => c,
            });
        }
        containers = with_ids;
    }
    Ok(containers)
}

/// Two services cannot share a container: neither two of `containers`, nor one of them and the
/// spec on disk of a service that is not re-created with them.
fn check_names(specs: &[ServiceSpec], ctx: &RenderContext, containers: &[ContainerSpec]) -> Result<(), Failure> {
    let field = |service: &str| {
        let spec = specs.iter().find(|s| s.name.as_str() == service);
        match spec.and_then(|s| s.environment.as_ref()) {
            Some(taskflows_core::Environment::Named(env)) => {
                format!("service[{service}].environment (stored environment {:?}: docker.name)", env.to_string())
            }
            _ => format!("service[{service}].environment.docker.name"),
        }
    };
    let on_disk = ContainerSpec::all(Path::new(ctx.data_dir.as_str()));
    for (i, c) in containers.iter().enumerate() {
        let other =
            containers[..i].iter().find(|o| o.container == c.container).map(|o| o.service.clone()).or_else(|| {
                on_disk
                    .iter()
                    .find(|o| {
                        o.container == c.container
                            && o.service != c.service
                            && !specs.iter().any(|s| s.name.as_str() == o.service)
                    })
                    .map(|o| format!("{} (created earlier)", o.service))
            });
        if let Some(other) = other {
            return Err(Failure::new(
                EXIT_INVALID,
                anyhow::anyhow!(
                    "{}: container name {:?} is also the container of service {other}; two services cannot share a container",
                    field(&c.service),
                    c.container
                ),
            )
            .hint("give each service its own container name (environment.docker.name)"));
        }
    }
    Ok(())
}

fn invalid(e: taskflows_docker::Error) -> Failure {
    match e {
        taskflows_docker::Error::Field { .. } => Failure::new(EXIT_INVALID, e),
        other => Failure::from(other),
    }
}

impl From<taskflows_docker::Error> for Failure {
    fn from(e: taskflows_docker::Error) -> Failure {
        match e {
            taskflows_docker::Error::Unreachable { .. } => {
                Failure::new(1, e).hint("start dockerd, or point DOCKER_HOST at a running engine")
            }
            other => Failure::new(1, other),
        }
    }
}

/// Write the container specs that changed (before the units, so a unit restarted by `create`
/// runs the new one). Returns the lines to print and the services whose spec changed.
pub(crate) fn write(data_dir: &Path, containers: &[ContainerSpec]) -> Result<(String, Vec<String>), Failure> {
    let mut changed = Vec::new();
    let mut text = String::new();
    for c in containers {
        if let Some(path) = c.write(data_dir)? {
            text.push_str(&format!("wrote {}\n", path.display()));
            changed.push(c.service.clone());
        }
    }
    Ok((text, changed))
}

/// After the units of `specs` are installed: remove the containers (and specs) these services no
/// longer have (a service that is no longer Docker, or whose container was renamed).
pub(crate) async fn remove_stale(
    data_dir: &Path,
    specs: &[ServiceSpec],
    containers: &[ContainerSpec],
) -> Result<String, Failure> {
    let stale: Vec<ContainerSpec> = ContainerSpec::all(data_dir)
        .into_iter()
        .filter(|old| specs.iter().any(|s| s.name.as_str() == old.service))
        .filter(|old| !containers.iter().any(|c| c.container == old.container))
        .collect();
    remove_containers(data_dir, &stale).await
}

/// After `tf remove`: remove the containers of the removed services and their specs.
pub(crate) async fn remove_services(data_dir: &Path, removed: &[ServiceName]) -> Result<String, Failure> {
    let gone: Vec<ContainerSpec> =
        ContainerSpec::all(data_dir).into_iter().filter(|c| removed.iter().any(|s| s.as_str() == c.service)).collect();
    remove_containers(data_dir, &gone).await
}

async fn remove_containers(data_dir: &Path, gone: &[ContainerSpec]) -> Result<String, Failure> {
    let mut text = String::new();
    for c in gone {
        let engine = Engine::connect(c.docker_host.as_deref()).await?;
        // A persisted container's anonymous volumes (e.g. a database's VOLUME) hold data: they
        // are kept, and named so the user can delete them.
        match engine.remove(&c.container, &c.service, !c.persisted).await {
            Ok(kept) if kept.is_empty() => text.push_str(&format!("removed container {}\n", c.container)),
            Ok(kept) => text.push_str(&format!(
                "removed container {}; kept its volumes {} (`docker volume rm {}` deletes them)\n",
                c.container,
                kept.join(", "),
                kept.join(" ")
            )),
            Err(e @ taskflows_docker::Error::NotOurs { .. }) => {
                text.push_str(&format!("kept container {}: {e}\n", c.container))
            }
            Err(e) => return Err(e.into()),
        }
        c.delete(data_dir)?;
    }
    Ok(text)
}

//! `create`: service files → checked specs → definitions, container specs, unit files, one
//! reload, jobs. Everything is checked (rendered against the manager's own version, containers
//! mapped, images built) before anything is written, and the steps are ordered so that a run
//! killed at any point is finished by the next one:
//!
//! 1. a marker, `DATA_DIR/.create-pending`, says a create is under way;
//! 2. the saved definitions (what `env update` re-creates from) — the intent, written first, so
//!    no later step can be newer than them and a rerun never brings back an older definition;
//! 3. the container specs;
//! 4. the unit files (each complete, renamed into place), one reload, enablement, jobs;
//! 5. running Docker services whose container changed are restarted; stale containers removed;
//! 6. the marker is removed.
//!
//! A run that finds the marker resumes: it reloads even when no file differs, and restarts the
//! running units and containers whose files changed after they started. The marker names the
//! services of the interrupted run; those this run does not create are re-created from their
//! saved definitions (the interrupted run's intent), so their restarts are not lost either.

use std::path::{Path, PathBuf};

use taskflows_core::{Environment, RenderContext, ServiceName, ServiceSpec, UnitFile};
use taskflows_docker::{ContainerSpec, Engine};
use taskflows_systemd::Targets as UnitTargets;

use crate::{
    ContainerChange, ContainerChangeKind, CreateReport, CreateRequest, Error, Local, Plan, PlannedUnit, Progress,
    Result, SourceFile, VERSION,
};

/// The services of `files` (in order) that `include`/`exclude` select, each with its definition:
/// a service file holding its table alone.
pub(crate) fn parse_files(request: &CreateRequest) -> Result<Vec<(ServiceSpec, String)>> {
    let mut specs: Vec<(ServiceSpec, String)> = Vec::new();
    for SourceFile { label, content } in &request.files {
        let parsed = taskflows_core::file::parse_service_file(label, content)?;
        let definitions = taskflows_core::file::service_definitions(content)?;
        for (spec, (_, definition)) in parsed.into_iter().zip(definitions) {
            if specs.iter().any(|(s, _)| s.name == spec.name) {
                return Err(Error::invalid(format!("{label}: service {:?} is defined twice", spec.name.as_str())));
            }
            specs.push((spec, definition));
        }
    }
    let glob = taskflows_core::glob_match;
    specs.retain(|(s, _)| request.include.is_empty() || request.include.iter().any(|g| glob(g, s.name.as_str())));
    specs.retain(|(s, _)| !request.exclude.iter().any(|g| glob(g, s.name.as_str())));
    Ok(specs)
}

/// Specs checked against this host, ready to be written.
pub(crate) struct Prepared {
    pub(crate) specs: Vec<ServiceSpec>,
    pub(crate) ctx: RenderContext,
    pub(crate) containers: Vec<ContainerSpec>,
}

const PENDING: &str = ".create-pending";

impl Local {
    /// The render context for `specs`: this front end's, with the stored environments they name.
    pub(crate) fn context_for(&self, specs: &[ServiceSpec]) -> Result<RenderContext> {
        let mut ctx = self.ctx.clone();
        if specs.iter().any(|s| matches!(s.environment, Some(Environment::Named(_)))) {
            ctx.named_environments = self.store().named_environments()?;
        }
        Ok(ctx)
    }

    pub(crate) async fn plan_create(&self, request: &CreateRequest) -> Result<Plan> {
        let specs: Vec<ServiceSpec> = selected(request)?.into_iter().map(|(s, _)| s).collect();
        let mut ctx = self.context_for(&specs)?;
        crate::paths::check_specs(&*self.path_policy()?, &specs, &ctx)?;
        // Installing asks systemd itself; a plan asks it when it can, else `systemctl --version`.
        ctx.systemd_version = match self.systemd().await {
            Ok(systemd) => Some(systemd.version().await?),
            Err(_) => systemd_version_from_systemctl(),
        };
        // Containers are checked like units (their limits, command quoting), without the engine.
        prepare_containers(self, &specs, &ctx, false).await?;
        let mut units: Vec<UnitFile> = Vec::new();
        for spec in &specs {
            units.extend(taskflows_core::render(spec, &ctx)?);
        }
        let units = units
            .into_iter()
            .map(|u| {
                let path = self.unit_dir.join(&u.name);
                let installed = std::fs::read_to_string(&path).ok();
                PlannedUnit { name: u.name, path: path.display().to_string(), content: u.content, installed }
            })
            .collect();
        Ok(Plan { version: VERSION, units })
    }

    pub(crate) async fn create_services(&self, request: &CreateRequest) -> Result<CreateReport> {
        let (specs, definitions): (Vec<ServiceSpec>, Vec<String>) = selected(request)?.into_iter().unzip();
        let _lock = self.lock().await?;
        let ctx = self.context_for(&specs)?;
        let prepared = self.prepare(specs, ctx).await?;
        self.apply(prepared, Some(&definitions)).await
    }

    /// `specs`, and after them the services an interrupted create (of any kind: `tf create`,
    /// `env update`, an app's or the monitor's install) was creating that are not among them,
    /// from their saved definitions: those that have one and still pass the checks and render
    /// (their stored environments added to `ctx`). One that does not is a warning, never a
    /// reason to refuse this create.
    fn with_interrupted(&self, mut specs: Vec<ServiceSpec>, ctx: &mut RenderContext) -> Vec<ServiceSpec> {
        let Ok(text) = std::fs::read_to_string(self.data_dir().join(PENDING)) else { return specs };
        let store = self.store();
        let missing: Vec<ServiceName> = text
            .lines()
            .filter_map(|l| ServiceName::new(l.trim()).ok())
            .filter(|n| !specs.iter().any(|s| s.name == *n))
            .collect();
        for name in &missing {
            let recovered = store.definition(name).map_err(Error::from).and_then(|spec| {
                let Some(spec) = spec else { return Ok(None) };
                let own = self.context_for(std::slice::from_ref(&spec))?;
                crate::paths::check_specs(&*self.path_policy()?, std::slice::from_ref(&spec), &own)?;
                taskflows_core::render(&spec, &own)?;
                Ok(Some((spec, own.named_environments)))
            });
            match recovered {
                Ok(Some((spec, environments))) => {
                    for (env, value) in environments {
                        ctx.named_environments.entry(env).or_insert(value);
                    }
                    specs.push(spec);
                }
                Ok(None) => {}
                Err(e) => self.say(Progress::Warning(format!(
                    "an interrupted create of {name} is not finished: its saved definition does not pass ({e}); run `tf create` for it again"
                ))),
            }
        }
        specs
    }

    /// Create (or update) `specs` built in code (`taskflows-app`, the monitor): the same checks,
    /// order and convergence as [`crate::Operations::create`], under the data folder's lock. With
    /// `definitions` (a service file of each spec's table), they are saved for `env update`.
    pub async fn install(&self, specs: Vec<ServiceSpec>, definitions: Option<&[String]>) -> Result<CreateReport> {
        let _lock = self.lock().await?;
        let ctx = self.context_for(&specs)?;
        let prepared = self.prepare(specs, ctx).await?;
        self.apply(prepared, definitions).await
    }

    /// Check everything against this host before anything is written: the path policy, rendering with
    /// the manager's own version (so systemd refuses nothing later), containers mapped, images
    /// built and their ids read.
    pub(crate) async fn prepare(&self, specs: Vec<ServiceSpec>, mut ctx: RenderContext) -> Result<Prepared> {
        let specs = self.with_interrupted(specs, &mut ctx);
        // The path policy (env files read from their descriptor, folders, programs, Docker
        // host paths) before systemd or the engine is asked anything.
        crate::paths::check_specs(&*self.path_policy()?, &specs, &ctx)?;
        let systemd = self.systemd().await?;
        if ctx.systemd_version.is_none() {
            ctx.systemd_version = Some(systemd.version().await?);
        }
        for spec in &specs {
            taskflows_core::render(spec, &ctx)?;
        }
        let containers = prepare_containers(self, &specs, &ctx, true).await?;
        Ok(Prepared { specs, ctx, containers })
    }

    /// Write what `prepare` checked, in the order that converges (see the module's doc). The
    /// caller holds the data folder's lock.
    pub(crate) async fn apply(&self, prepared: Prepared, definitions: Option<&[String]>) -> Result<CreateReport> {
        let Prepared { specs, ctx, containers } = prepared;
        let data_dir = self.data_dir();
        let systemd = self.systemd().await?;
        crate::lock::create_private_dir(&data_dir)?;
        sweep(&data_dir)?;
        let marker = data_dir.join(PENDING);
        let resumed = marker.exists();
        // The services under way, a name a line: a run that finds them finishes them.
        let names: String = specs.iter().map(|s| format!("{}\n", s.name)).collect();
        taskflows_systemd::files::write_private(&marker, names.as_bytes())?;

        if let Some(definitions) = definitions {
            let store = self.store();
            for (spec, definition) in specs.iter().zip(definitions) {
                store.save_definition(&spec.name, definition)?;
            }
        }
        let mut report = CreateReport { version: VERSION, resumed, ..CreateReport::default() };
        let mut changed: Vec<String> = Vec::new();
        for c in &containers {
            if let Some(path) = c.write(&data_dir)? {
                changed.push(c.service.clone());
                report.containers.push(ContainerChange {
                    container: c.container.clone(),
                    service: c.service.clone(),
                    change: ContainerChangeKind::SpecWritten,
                    detail: Some(path.display().to_string()),
                });
            }
        }
        let installed = systemd.create_resuming(&specs, &ctx, resumed).await?;
        report.services = specs.iter().map(|s| s.name.to_string()).collect();
        report.written = installed.written.iter().map(|u| systemd.unit_dir().join(u).display().to_string()).collect();
        report.unchanged = installed.unchanged;
        report.removed = installed.removed;
        report.reloaded = installed.reloaded;
        report.jobs = installed.jobs;

        // A running Docker service whose container changed but whose unit file did not (the unit
        // only names the container) is restarted too, like a running unit whose file changed;
        // resuming, so is one whose container spec was written after it started.
        let restarted = |name: &str| report.jobs.iter().any(|j| j.unit == format!("taskflows-{name}.service"));
        let docker: Vec<ServiceName> = specs
            .iter()
            .filter(|s| containers.iter().any(|c| c.service == s.name.as_str()))
            .filter(|s| (resumed || changed.contains(&s.name.to_string())) && !restarted(s.name.as_str()))
            .map(|s| s.name.clone())
            .collect();
        if !docker.is_empty() {
            let mut running = Vec::new();
            for state in systemd.status(&docker).await? {
                let changed_now = changed.contains(&state.name);
                let spec_newer = || {
                    let Some(c) = containers.iter().find(|c| c.service == state.name) else { return false };
                    let modified = std::fs::metadata(ContainerSpec::path(&data_dir, &c.container))
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|m| jiff::Timestamp::try_from(m).ok());
                    modified.zip(state.active_since).is_some_and(|(m, since)| m > since)
                };
                if state.is_running() && (changed_now || spec_newer()) {
                    running.extend(ServiceName::new(state.name.clone()).ok());
                }
            }
            if !running.is_empty() {
                report.jobs.extend(systemd.restart(&running, UnitTargets::Services).await?);
            }
        }
        report.containers.extend(remove_stale(&data_dir, &specs, &containers).await?);
        std::fs::remove_file(&marker).map_err(Error::io("remove", &marker))?;
        report.ok = report.jobs.iter().all(|j| j.ok());
        Ok(report)
    }
}

/// [`parse_files`], refusing an empty selection.
fn selected(request: &CreateRequest) -> Result<Vec<(ServiceSpec, String)>> {
    let specs = parse_files(request)?;
    if specs.is_empty() {
        let files: Vec<&str> = request.files.iter().map(|f| f.label.as_str()).collect();
        return Err(Error::Refused {
            message: format!("no services to create in {}", files.join(", ")),
            hint: Some("check the file's [[service]] tables and the -i/-e patterns".to_owned()),
        });
    }
    Ok(specs)
}

/// Temporary files a killed run left in the data folder's stores.
fn sweep(data_dir: &Path) -> Result<()> {
    for dir in ["services", "environments", "containers", "monitor", "env"] {
        taskflows_systemd::files::sweep_temporary(&data_dir.join(dir))?;
    }
    taskflows_systemd::files::sweep_temporary(data_dir)?;
    Ok(())
}

/// The installed systemd's version, from `systemctl --version` (`systemd 252 (…)`).
fn systemd_version_from_systemctl() -> Option<u32> {
    let out = std::process::Command::new("systemctl").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// The container specs of the Docker services among `specs`: checked and mapped before anything
/// is written; with `build`, the engine is reached and images built from a Dockerfile are built.
async fn prepare_containers(
    local: &Local,
    specs: &[ServiceSpec],
    ctx: &RenderContext,
    build: bool,
) -> Result<Vec<ContainerSpec>> {
    let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
    let mut containers = Vec::new();
    let mut builds = Vec::new();
    for spec in specs {
        let Some(container) = taskflows_docker::docker_environment(spec, ctx) else { continue };
        let uid = rustix::process::geteuid().as_raw();
        let mapped = ContainerSpec::new(spec, container, host.clone())?.owned_by(crate::scope_name(ctx.scope), uid);
        if let Some(b) = ContainerSpec::build_of(container) {
            builds.push((spec.name.to_string(), b.clone()));
        }
        containers.push(mapped);
    }
    check_names(specs, ctx, &containers)?;
    if build && !containers.is_empty() {
        let engine = Engine::connect(host.as_deref()).await?;
        for (service, b) in &builds {
            local.say(Progress::Building {
                service: service.clone(),
                tag: b.tag.to_string(),
                path: b.path.to_string(),
            });
            engine.build_image(service, b, |line| local.say(Progress::BuildOutput(line.to_owned()))).await?;
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
fn check_names(specs: &[ServiceSpec], ctx: &RenderContext, containers: &[ContainerSpec]) -> Result<()> {
    let field = |service: &str| {
        let spec = specs.iter().find(|s| s.name.as_str() == service);
        match spec.and_then(|s| s.environment.as_ref()) {
            Some(Environment::Named(env)) => {
                format!("service[{service}].environment (stored environment {:?}: docker.name)", env.to_string())
            }
            _ => format!("service[{service}].environment.docker.name"),
        }
    };
    let on_disk = ContainerSpec::all(Path::new(ctx.data_dir.as_str()))?;
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
            return Err(Error::Invalid {
                message: format!(
                    "{}: container name {:?} is also the container of service {other}; two services cannot share a container",
                    field(&c.service),
                    c.container
                ),
                hint: Some("give each service its own container name (environment.docker.name)".to_owned()),
            });
        }
    }
    Ok(())
}

/// After the units of `specs` are installed: remove the containers (and specs) these services no
/// longer have (a service that is no longer Docker, or whose container was renamed).
async fn remove_stale(
    data_dir: &Path,
    specs: &[ServiceSpec],
    containers: &[ContainerSpec],
) -> Result<Vec<ContainerChange>> {
    let stale: Vec<ContainerSpec> = ContainerSpec::all(data_dir)?
        .into_iter()
        .filter(|old| specs.iter().any(|s| s.name.as_str() == old.service))
        .filter(|old| !containers.iter().any(|c| c.container == old.container))
        .collect();
    remove_containers(data_dir, &stale, false).await
}

/// Remove the containers of removed services and their specs. With `force`, an engine that
/// cannot be reached does not stop the removal: its containers are reported as left there.
pub(crate) async fn remove_containers_of(
    data_dir: &Path,
    removed: &[ServiceName],
    force: bool,
) -> Result<Vec<ContainerChange>> {
    let gone: Vec<ContainerSpec> =
        ContainerSpec::all(data_dir)?.into_iter().filter(|c| removed.iter().any(|s| s.as_str() == c.service)).collect();
    remove_containers(data_dir, &gone, force).await
}

async fn remove_containers(data_dir: &Path, gone: &[ContainerSpec], force: bool) -> Result<Vec<ContainerChange>> {
    let mut changes = Vec::new();
    for c in gone {
        let change = |change, detail| ContainerChange {
            container: c.container.clone(),
            service: c.service.clone(),
            change,
            detail,
        };
        let engine = match Engine::connect(c.docker_host.as_deref()).await {
            Ok(engine) => engine,
            Err(e) if force => {
                changes.push(change(ContainerChangeKind::LeftInEngine, Some(e.to_string())));
                c.delete(data_dir)?;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // A persisted container's anonymous volumes (e.g. a database's VOLUME) hold data: they
        // are kept, and named so the user can delete them.
        match engine.remove(c, !c.persisted).await {
            Ok(kept) if kept.is_empty() => changes.push(change(ContainerChangeKind::Removed, None)),
            Ok(kept) => changes.push(change(ContainerChangeKind::RemovedKeptVolumes, Some(kept.join(" ")))),
            Err(e @ taskflows_docker::Error::NotOurs { .. }) => {
                changes.push(change(ContainerChangeKind::KeptNotOurs, Some(e.to_string())))
            }
            Err(e) => return Err(e.into()),
        }
        c.delete(data_dir)?;
    }
    Ok(changes)
}

/// Where the marker of a create under way is.
pub fn pending_marker(data_dir: &Path) -> PathBuf {
    data_dir.join(PENDING)
}

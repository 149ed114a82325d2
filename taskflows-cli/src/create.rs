//! `tf create FILE|DIR`: read service files and install (or, with `--dry-run`, show) their units.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use taskflows_core::{Environment, RenderContext, Scope, ServiceName, ServiceSpec, UnitFile};

use crate::{EXIT_INVALID, Failure, host, print};

#[derive(clap::Args)]
pub(crate) struct CreateArgs {
    /// A service file (TOML), or a folder whose *.toml files are read.
    path: PathBuf,
    /// Only services whose name matches this glob (repeatable).
    #[arg(short, long)]
    include: Vec<String>,
    /// Skip services whose name matches this glob (repeatable).
    #[arg(short, long)]
    exclude: Vec<String>,
    /// Print the unit files that would be written, and a diff against the installed ones; touch
    /// nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: print {"units":[{"name":…,"content":…,"installed":…}]}.
    #[arg(long, requires = "dry_run")]
    json: bool,
}

pub(crate) fn run(args: &CreateArgs, scope: Scope) -> Result<ExitCode, Failure> {
    let (specs, definitions): (Vec<ServiceSpec>, Vec<String>) = read_files(&args.path)?
        .into_iter()
        .filter(|(s, _)| {
            args.include.is_empty() || args.include.iter().any(|g| taskflows_core::glob_match(g, s.name.as_str()))
        })
        .filter(|(s, _)| !args.exclude.iter().any(|g| taskflows_core::glob_match(g, s.name.as_str())))
        .unzip();
    if specs.is_empty() {
        return Err(Failure::new(1, anyhow::anyhow!("no services to create in {}", args.path.display()))
            .hint("check the file's [[service]] tables and the -i/-e patterns"));
    }
    for spec in &specs {
        taskflows_systemd::check_env_file(spec).map_err(|e| Failure::new(EXIT_INVALID, e))?;
    }
    let mut ctx = host::render_context(scope)?;
    let store = crate::env::store(scope);
    if specs.iter().any(|s| matches!(s.environment, Some(Environment::Named(_)))) {
        ctx.named_environments = store.named_environments().map_err(|e| match e {
            taskflows_systemd::Error::StoredFile { .. } => Failure::new(EXIT_INVALID, e),
            other => Failure::from(other),
        })?;
    }
    if args.dry_run {
        // Installing asks systemd itself; without it, ask `systemctl --version`.
        ctx.systemd_version = host::systemd_version();
        // Containers are checked like units (their limits, command quoting), without the engine.
        crate::services::block_on(crate::container::prepare(&specs, &ctx, false))?;
        let mut units: Vec<UnitFile> = Vec::new();
        for spec in &specs {
            units.extend(taskflows_core::render(spec, &ctx)?);
        }
        dry_run(&units, &taskflows_systemd::default_unit_dir(scope), args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    let code = crate::services::block_on(install(scope, &specs, ctx))?;
    // Kept so that `tf env update` can re-create the services that use a stored environment.
    for (spec, definition) in specs.iter().zip(&definitions) {
        store.save_definition(&spec.name, definition)?;
    }
    Ok(code)
}

pub(crate) async fn install(scope: Scope, specs: &[ServiceSpec], mut ctx: RenderContext) -> Result<ExitCode, Failure> {
    let systemd = crate::services::connect(scope).await?;
    // Checked against the manager's own version here, so that `create` below does not refuse a
    // directive after the container specs were written.
    if ctx.systemd_version.is_none() {
        ctx.systemd_version = Some(systemd.version().await?);
    }
    // Every spec renders and every container maps before anything is built or written.
    for spec in specs {
        taskflows_core::render(spec, &ctx)?;
    }
    let containers = crate::container::prepare(specs, &ctx, true).await?;
    let (mut text, changed) = crate::container::write(Path::new(ctx.data_dir.as_str()), &containers)?;
    let mut report = systemd.create(specs, &ctx).await?;
    text.push_str(&crate::container::remove_stale(Path::new(ctx.data_dir.as_str()), specs, &containers).await?);
    // A running Docker service whose container changed but whose unit file did not (the unit
    // only names the container) is restarted too, like a running unit whose file changed.
    let restarted = |name: &str| report.jobs.iter().any(|j| j.unit == format!("taskflows-{name}.service"));
    let candidates: Vec<ServiceName> = specs
        .iter()
        .filter(|s| changed.contains(&s.name.to_string()) && !restarted(s.name.as_str()))
        .map(|s| s.name.clone())
        .collect();
    if !candidates.is_empty() {
        let running: Vec<ServiceName> = systemd
            .status(&candidates)
            .await?
            .into_iter()
            .filter(|s| matches!(s.active_state.as_str(), "active" | "activating" | "reloading"))
            .filter_map(|s| ServiceName::new(s.name).ok())
            .collect();
        if !running.is_empty() {
            report.jobs.extend(systemd.restart(&running, taskflows_systemd::Targets::Services).await?);
        }
    }
    for unit in &report.written {
        text.push_str(&format!("wrote {}\n", systemd.unit_dir().join(unit).display()));
    }
    for unit in &report.removed {
        text.push_str(&format!("removed {unit}\n"));
    }
    if !report.unchanged.is_empty() {
        text.push_str(&format!("{} unit files unchanged\n", report.unchanged.len()));
    }
    let mut ok = true;
    for job in &report.jobs {
        ok &= job.ok();
        text.push_str(&format!("{} {}: {}\n", job.job, job.unit, job.result));
    }
    text.push_str(&format!(
        "{} service(s) created{}\n",
        specs.len(),
        if report.reloaded { ", systemd reloaded once" } else { ", nothing changed" }
    ));
    print(text.as_bytes())?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Print the units that would be written, with a unified diff against the installed ones.
fn dry_run(units: &[UnitFile], unit_dir: &Path, as_json: bool) -> Result<(), Failure> {
    let installed: Vec<Option<String>> =
        units.iter().map(|u| std::fs::read_to_string(unit_dir.join(&u.name)).ok()).collect();
    if as_json {
        let units: Vec<serde_json::Value> = units
            .iter()
            .zip(&installed)
            .map(|(u, old)| serde_json::json!({ "name": u.name, "content": u.content, "installed": old }))
            .collect();
        let mut text = serde_json::to_string_pretty(&serde_json::json!({ "units": units }))
            .context("failed to encode units as JSON")?;
        text.push('\n');
        return print(text.as_bytes());
    }
    let mut text = String::new();
    for (i, (unit, old)) in units.iter().zip(&installed).enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&format!("# {}\n{}", unit.name, unit.content));
        match old {
            Some(old) if *old != unit.content => {
                let path = unit_dir.join(&unit.name).display().to_string();
                let diff = similar::TextDiff::from_lines(old.as_str(), unit.content.as_str());
                text.push_str(&format!("\n{}", diff.unified_diff().header(&path, &format!("{path} (new)"))));
            }
            _ => {}
        }
    }
    print(text.as_bytes())
}

/// Read one service file, or every `*.toml` in a folder (in name order).
pub(crate) fn read_specs(path: &Path) -> Result<Vec<ServiceSpec>, Failure> {
    Ok(read_files(path)?.into_iter().map(|(spec, _)| spec).collect())
}

/// The services of [`read_specs`], each with its definition: a service file of its table alone.
fn read_files(path: &Path) -> Result<Vec<(ServiceSpec, String)>, Failure> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read folder {}", path.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    let mut specs: Vec<(ServiceSpec, String)> = Vec::new();
    for file in files {
        let content = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let display = file.display().to_string();
        let parsed = taskflows_core::file::parse_service_file(&display, &content)?;
        let definitions = taskflows_core::file::service_definitions(&content)?;
        for (spec, (_, definition)) in parsed.into_iter().zip(definitions) {
            if specs.iter().any(|(s, _)| s.name == spec.name) {
                return Err(Failure::new(
                    EXIT_INVALID,
                    anyhow::anyhow!("{display}: service {:?} is defined twice", spec.name.as_str()),
                ));
            }
            specs.push((spec, definition));
        }
    }
    Ok(specs)
}

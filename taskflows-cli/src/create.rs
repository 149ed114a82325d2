//! `tf create FILE|DIR`: read service files and install (or, with `--dry-run`, show) their units.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use taskflows_core::{RenderContext, Scope, ServiceSpec, UnitFile};

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
    let specs = read_specs(&args.path)?;
    let specs: Vec<ServiceSpec> = specs
        .into_iter()
        .filter(|s| {
            args.include.is_empty() || args.include.iter().any(|g| taskflows_core::glob_match(g, s.name.as_str()))
        })
        .filter(|s| !args.exclude.iter().any(|g| taskflows_core::glob_match(g, s.name.as_str())))
        .collect();
    if specs.is_empty() {
        return Err(Failure::new(1, anyhow::anyhow!("no services to create in {}", args.path.display()))
            .hint("check the file's [[service]] tables and the -i/-e patterns"));
    }
    for spec in &specs {
        taskflows_systemd::check_env_file(spec).map_err(|e| Failure::new(EXIT_INVALID, e))?;
    }
    let mut ctx = host::render_context(scope)?;
    if args.dry_run {
        // Installing asks systemd itself; without it, ask `systemctl --version`.
        ctx.systemd_version = host::systemd_version();
        let mut units: Vec<UnitFile> = Vec::new();
        for spec in &specs {
            units.extend(taskflows_core::render(spec, &ctx)?);
        }
        dry_run(&units, &taskflows_systemd::default_unit_dir(scope), args.json)?;
        return Ok(ExitCode::SUCCESS);
    }
    crate::services::block_on(install(scope, &specs, ctx))
}

pub(crate) async fn install(scope: Scope, specs: &[ServiceSpec], ctx: RenderContext) -> Result<ExitCode, Failure> {
    let systemd = crate::services::connect(scope).await?;
    let report = systemd.create(specs, &ctx).await?;
    let mut text = String::new();
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
    let mut specs: Vec<ServiceSpec> = Vec::new();
    for file in files {
        let content = std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let display = file.display().to_string();
        for spec in taskflows_core::file::parse_service_file(&display, &content)? {
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(Failure::new(
                    EXIT_INVALID,
                    anyhow::anyhow!("{display}: service {:?} is defined twice", spec.name.as_str()),
                ));
            }
            specs.push(spec);
        }
    }
    Ok(specs)
}

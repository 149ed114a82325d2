//! `tf create FILE|DIR`: read service files and install (or, with `--dry-run`, show) their units.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use taskflows_core::{Scope, ServiceSpec, UnitFile};

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
    /// Print the unit files that would be written; touch nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: print {"units":[{"name":…,"content":…}]}.
    #[arg(long, requires = "dry_run")]
    json: bool,
}

pub(crate) fn run(args: &CreateArgs, scope: Scope) -> Result<(), Failure> {
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
        check_env_file(spec)?;
    }
    let ctx = host::render_context(scope);
    let mut units: Vec<UnitFile> = Vec::new();
    for spec in &specs {
        units.extend(taskflows_core::render(spec, &ctx)?);
    }
    if !args.dry_run {
        return Err(Failure::new(
            1,
            anyhow::anyhow!("installing units needs the systemd backend, which this build of tf does not include yet"),
        )
        .hint("use --dry-run to see the unit files that would be installed"));
    }
    if args.json {
        let mut text = serde_json::to_string_pretty(&serde_json::json!({ "units": units }))
            .context("failed to encode units as JSON")?;
        text.push('\n');
        return print(text.as_bytes());
    }
    let mut text = String::new();
    for (i, unit) in units.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&format!("# {}\n{}", unit.name, unit.content));
    }
    print(text.as_bytes())
}

/// Read one service file, or every `*.toml` in a folder (in name order).
fn read_specs(path: &Path) -> Result<Vec<ServiceSpec>, Failure> {
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

/// An env file must exist and every line must be KEY=VALUE, before anything is installed.
fn check_env_file(spec: &ServiceSpec) -> Result<(), Failure> {
    let Some(path) = &spec.env_file else {
        return Ok(());
    };
    let field = format!("service[{}].env_file", spec.name);
    let content = std::fs::read_to_string(path.as_str())
        .map_err(|e| Failure::new(EXIT_INVALID, anyhow::anyhow!("{field}: cannot read {path}: {e}")))?;
    taskflows_core::parse_env_file(&content)
        .map_err(|e| Failure::new(EXIT_INVALID, anyhow::anyhow!("{field}: {path}: {e}")))?;
    Ok(())
}

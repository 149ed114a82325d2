//! `tf create FILE|DIR`: read service files, then create their services (or, with `--dry-run`,
//! show the units and their diffs against the installed ones).

use std::path::PathBuf;
use std::process::ExitCode;

use taskflows_api::{
    Action, ContainerChange, ContainerChangeKind, ControlReport, ControlRequest, CreateReport, CreateRequest, Local,
    Operations, Plan, Targets,
};
use taskflows_core::ServiceBuilder;

use crate::Failure;
use crate::output::{Answer, terminal_safe};

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
    /// Print the answer as JSON (with --dry-run: the units, new and installed).
    #[arg(long)]
    json: bool,
}

impl CreateArgs {
    pub(crate) fn json(&self) -> bool {
        self.json
    }
}

pub(crate) async fn run(local: &Local, args: &CreateArgs) -> Result<ExitCode, Failure> {
    answer(local, args).await?.print(args.json)
}

/// Create (or plan) with any implementation of the operations.
pub(crate) async fn answer(ops: &(impl Operations + Sync), args: &CreateArgs) -> Result<Answer, Failure> {
    let request = CreateRequest {
        files: crate::read_service_files(&args.path)?,
        include: args.include.clone(),
        exclude: args.exclude.clone(),
    };
    if args.dry_run {
        let plan = ops.plan(&request).await?;
        return Ok(Answer::text(&plan, plan_text(&plan)));
    }
    let report = ops.create(&request).await?;
    Ok(Answer { ok: report.ok, chatter: true, ..Answer::text(&report, report_lines(&report)) })
}

/// Each unit as it would be written, with a unified diff against the installed one.
pub(crate) fn plan_text(plan: &Plan) -> String {
    let mut text = String::new();
    for (i, unit) in plan.units.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(&format!("# {}\n{}", unit.name, terminal_safe(&unit.content)));
        if let Some(diff) = unit.diff() {
            text.push_str(&format!("\n{}", terminal_safe(&diff)));
        }
    }
    text
}

/// Install one of tf's own long-running services (the API server, the Slack bot), pointed where
/// this `tf` points (`TASKFLOWS_DATA_DIR`, the Slack Web API), and restart it so the new
/// definition runs. Returns both answers and what was done, a line each.
pub(crate) async fn install_own_service(
    local: &Local,
    mut builder: ServiceBuilder,
) -> Result<(CreateReport, ControlReport, String), Failure> {
    for var in ["TASKFLOWS_DATA_DIR", taskflows_api::slack::API_URL_VAR] {
        if let Ok(value) = std::env::var(var) {
            builder = builder.env(var, &value);
        }
    }
    let spec = builder.build()?;
    let name = spec.name.to_string();
    let report = local.install(vec![spec], None).await?;
    let restart = ControlRequest {
        pattern: name,
        action: Action::Restart,
        targets: Targets::Services,
        wait: false,
        timeout: None,
        force: false,
    };
    let started = local.control(&restart).await?;
    let mut text = report_lines(&report);
    text.push_str(&crate::services::control_lines(&started, &crate::output::Style::detect(), None));
    Ok((report, started, text))
}

/// What `create` did, a line each.
pub(crate) fn report_lines(report: &CreateReport) -> String {
    let mut text = String::new();
    if report.resumed {
        text.push_str("finishing an earlier create that was interrupted\n");
    }
    for c in &report.containers {
        text.push_str(&container_line(c));
    }
    for path in &report.written {
        text.push_str(&format!("wrote {path}\n"));
    }
    for unit in &report.removed {
        text.push_str(&format!("removed {unit}\n"));
    }
    if !report.unchanged.is_empty() {
        text.push_str(&format!("{} unit files unchanged\n", report.unchanged.len()));
    }
    for job in &report.jobs {
        text.push_str(&format!("{} {}: {}\n", job.job, job.unit, job.result));
    }
    text.push_str(&format!(
        "{} service(s) created{}\n",
        report.services.len(),
        if report.reloaded { ", systemd reloaded once" } else { ", nothing changed" }
    ));
    text
}

/// One line about a container.
pub(crate) fn container_line(c: &ContainerChange) -> String {
    let detail = c.detail.as_deref().unwrap_or_default();
    match c.change {
        ContainerChangeKind::SpecWritten => format!("wrote {detail}\n"),
        ContainerChangeKind::Removed => format!("removed container {}\n", c.container),
        ContainerChangeKind::RemovedKeptVolumes => format!(
            "removed container {}; kept its volumes {} (`docker volume rm {detail}` deletes them)\n",
            c.container,
            detail.replace(' ', ", ")
        ),
        ContainerChangeKind::KeptNotOurs => format!("kept container {}: {detail}\n", c.container),
        ContainerChangeKind::LeftInEngine => format!(
            "left container {} in the engine ({detail}); `docker rm -f {}` removes it once the engine answers\n",
            c.container, c.container
        ),
    }
}

//! `tf check NAME|FILE`: could the services start right now, and if not, why not.

use std::path::Path;
use std::process::ExitCode;

use taskflows_constraints::{Requirement, WaitOptions};
use taskflows_core::Scope;

use crate::{Failure, print};

/// Evaluate the startup requirements of services (from a service file, or installed ones by name
/// or glob), one line each; with `wait`, block until they hold or `timeout` passes.
pub(crate) fn run(scope: Scope, target: &str, wait: Option<std::time::Duration>) -> Result<ExitCode, Failure> {
    // From a file, every requirement is measured (and waited for); for an installed unit that
    // waits, systemd has already checked the others before its ExecCondition= runs.
    let services: Vec<(String, Vec<Requirement>)> = if Path::new(target).exists() {
        crate::create::read_specs(Path::new(target))?
            .into_iter()
            .map(|s| (s.name.to_string(), s.startup_requirements))
            .collect()
    } else {
        installed(scope, target, wait.is_some())?
    };
    let mut text = String::new();
    let mut ok = true;
    let mut fails_start = false;
    for (name, requirements) in &services {
        text.push_str(&format!("{name}:\n"));
        if requirements.is_empty() {
            text.push_str("  no startup requirements\n");
            continue;
        }
        let evaluations = match wait {
            None => taskflows_constraints::evaluate_all(requirements).map_err(|e| Failure::new(1, e))?,
            Some(timeout) => {
                let admission =
                    taskflows_constraints::wait_until_admitted(requirements, timeout, &WaitOptions::default())
                        .map_err(|e| Failure::new(1, e))?;
                if !admission.is_admitted() {
                    text.push_str(&format!("  {admission}\n"));
                    fails_start |= admission.fails_start();
                }
                admission.evaluations
            }
        };
        for e in &evaluations {
            ok &= e.holds;
            text.push_str(&format!("  {e}\n"));
        }
    }
    print(text.as_bytes())?;
    // As an ExecCondition= command: 1 skips the start quietly, 255 fails it.
    Ok(match (ok, fails_start) {
        (true, _) => ExitCode::SUCCESS,
        (false, true) => ExitCode::from(255),
        (false, false) => ExitCode::FAILURE,
    })
}

/// Installed services' requirements, read back from their unit files (only those to wait for,
/// with `waiting`). No D-Bus: this also runs as a unit's `ExecCondition=`, early at boot.
fn installed(scope: Scope, pattern: &str, waiting: bool) -> Result<Vec<(String, Vec<Requirement>)>, Failure> {
    let dir = taskflows_systemd::default_unit_dir(scope);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| Failure::new(1, anyhow::anyhow!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| Some(f.strip_prefix("taskflows-")?.strip_suffix(".service")?.to_owned()))
        .filter(|n| taskflows_core::glob_match(pattern, n))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Failure::new(crate::EXIT_NO_MATCH, anyhow::anyhow!("no service matches {pattern:?}"))
            .hint("give a service file, or see `tf list` for the installed services"));
    }
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(format!("taskflows-{name}.service"));
        let content = std::fs::read_to_string(&path).map_err(|e| Failure::new(1, e))?;
        let requirements = content
            .lines()
            .filter_map(|l| l.split_once('='))
            .filter_map(|(k, v)| match (k, v.split_once('=')) {
                ("X-TaskflowsWait", Some((k, v))) => Requirement::from_directive(k, v),
                (k, _) if !waiting => Requirement::from_directive(k, v),
                _ => None,
            })
            .collect();
        out.push((name, requirements));
    }
    Ok(out)
}

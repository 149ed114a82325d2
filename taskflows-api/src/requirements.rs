//! `check`: could services start now? Their startup requirements, measured (and waited for).

use std::path::Path;
use std::time::Duration;

use taskflows_constraints::{Requirement, WaitOptions};

use crate::{CheckReport, CheckTarget, CreateRequest, Error, Local, RequirementCheck, Result, ServiceCheck, VERSION};

impl Local {
    pub(crate) async fn check_requirements(&self, target: &CheckTarget, wait: Option<Duration>) -> Result<CheckReport> {
        // From a file, every requirement is measured (and waited for); for an installed unit that
        // waits, systemd has already checked the others before its ExecCondition= runs.
        let services: Vec<(String, Vec<Requirement>)> = match target {
            CheckTarget::Files(files) => {
                let request = CreateRequest { files: files.clone(), ..CreateRequest::default() };
                crate::create::parse_files(&request)?
                    .into_iter()
                    .map(|(s, _)| (s.name.to_string(), s.startup_requirements))
                    .collect()
            }
            CheckTarget::Installed(pattern) => installed(&self.unit_dir, pattern, wait.is_some())?,
        };
        // Measuring and waiting block (reads of /proc, poll on PSI triggers): off the runtime.
        tokio::task::spawn_blocking(move || measure(services, wait))
            .await
            .map_err(|e| Error::Refused { message: format!("the check did not finish: {e}"), hint: None })?
    }
}

fn measure(services: Vec<(String, Vec<Requirement>)>, wait: Option<Duration>) -> Result<CheckReport> {
    let mut report = CheckReport { version: VERSION, services: Vec::new(), ok: true, fails_start: false };
    for (service, requirements) in services {
        let mut check = ServiceCheck { service, requirements: Vec::new(), admission: None };
        if !requirements.is_empty() {
            let evaluations = match wait {
                None => taskflows_constraints::evaluate_all(&requirements)?,
                Some(timeout) => {
                    let admission =
                        taskflows_constraints::wait_until_admitted(&requirements, timeout, &WaitOptions::default())?;
                    if !admission.is_admitted() {
                        check.admission = Some(admission.to_string());
                        report.fails_start |= admission.fails_start();
                    }
                    admission.evaluations
                }
            };
            for e in &evaluations {
                report.ok &= e.holds;
                check.requirements.push(RequirementCheck { holds: e.holds, detail: e.to_string() });
            }
        }
        report.services.push(check);
    }
    Ok(report)
}

/// Installed services' requirements, read back from their unit files (only those to wait for,
/// with `waiting`). No D-Bus: this also runs as a unit's `ExecCondition=`, early at boot.
fn installed(dir: &Path, pattern: &str, waiting: bool) -> Result<Vec<(String, Vec<Requirement>)>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(Error::io("read", dir))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| Some(f.strip_prefix("taskflows-")?.strip_suffix(".service")?.to_owned()))
        .filter(|n| taskflows_core::glob_match(pattern, n))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(taskflows_systemd::Error::NoMatch { pattern: pattern.to_owned(), nearest: Vec::new() }.into());
    }
    let mut out = Vec::new();
    for name in names {
        let path = dir.join(format!("taskflows-{name}.service"));
        let content = std::fs::read_to_string(&path).map_err(Error::io("read", &path))?;
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

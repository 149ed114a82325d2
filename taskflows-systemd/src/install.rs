//! Creating services: write their unit files atomically, reload once, enable, start timers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use taskflows_core::{RenderContext, ServiceSpec, UnitFile};

use crate::control::units_of;
use crate::state::{ActiveState, JobKind};
use crate::{Error, JobOutcome, Result, Systemd};

/// What `create` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InstallReport {
    /// Unit files written (new or changed).
    pub written: Vec<String>,
    /// Unit files already installed with the same content.
    pub unchanged: Vec<String>,
    /// Helper units of these services that their new specs no longer have, removed.
    pub removed: Vec<String>,
    /// Whether the manager was reloaded (once, when anything was written or removed).
    pub reloaded: bool,
    /// Jobs run: timers started, changed running units restarted.
    pub jobs: Vec<JobOutcome>,
}

impl Systemd {
    /// Create (or update) services: render every spec first (nothing is written if one fails),
    /// write the changed unit files atomically, reload once, enable timers and `enabled`
    /// services, start timers that are not running, and restart running units whose files
    /// changed. Creating the same specs twice writes nothing and does not reload.
    ///
    /// Every spec is checked first: its env file must exist and parse. A Docker service's unit runs
    /// `tf container run`; its container spec is the front end's to write (taskflows-docker). Without a systemd version in `ctx`, the manager's
    /// own is used, so directives it lacks are refused rather than silently ignored.
    pub async fn create(&self, specs: &[ServiceSpec], ctx: &RenderContext) -> Result<InstallReport> {
        self.create_resuming(specs, ctx, false).await
    }

    /// [`Systemd::create`], finishing an earlier create that was interrupted (`resume`): systemd
    /// is reloaded even when every file is already as rendered (the interrupted run may have
    /// renamed them into place without reloading), and a running unit whose file changed after
    /// it started is restarted (the interrupted run may have died before restarting it). Without
    /// `resume` only the files written now count as changed.
    pub async fn create_resuming(
        &self,
        specs: &[ServiceSpec],
        ctx: &RenderContext,
        resume: bool,
    ) -> Result<InstallReport> {
        let mut ctx = ctx.clone();
        if ctx.systemd_version.is_none() {
            ctx.systemd_version = Some(self.version().await?);
        }
        let mut rendered: Vec<(&ServiceSpec, Vec<UnitFile>)> = Vec::with_capacity(specs.len());
        for spec in specs {
            check_env_file(spec)?;
            rendered.push((spec, taskflows_core::render(spec, &ctx)?));
        }
        std::fs::create_dir_all(&self.unit_dir).map_err(Error::io("create", &self.unit_dir))?;
        sweep_unit_temporaries(&self.unit_dir);

        let mut report = InstallReport::default();
        let mut changes: Vec<(PathBuf, &UnitFile)> = Vec::new();
        let mut stale: Vec<String> = Vec::new();
        for (spec, units) in &rendered {
            for unit in units {
                let path = self.unit_dir.join(&unit.name);
                match std::fs::read_to_string(&path) {
                    Ok(old) if old == unit.content => report.unchanged.push(unit.name.clone()),
                    _ => changes.push((path, unit)),
                }
            }
            for old in units_of(&self.unit_dir, &spec.name) {
                if !units.iter().any(|u| u.name == old) {
                    stale.push(old);
                }
            }
        }

        // The services' env values, in their private files (see `taskflows_core::env_values`):
        // before the units that read them. A service whose values changed counts as changed.
        // A file no longer named is removed only after the reload: the loaded unit names it until
        // then, and a start meanwhile would fail without it.
        let mut values_changed: Vec<String> = Vec::new();
        let mut values_gone: Vec<PathBuf> = Vec::new();
        for (spec, _) in &rendered {
            let path = PathBuf::from(taskflows_core::env_values_path(spec, &ctx));
            let unit = format!("{}.service", spec.name.unit_stem());
            match taskflows_core::env_values(spec) {
                Some(text) => {
                    let written = crate::files::write_private(&path, text.as_bytes())?;
                    if written {
                        values_changed.push(unit);
                    }
                }
                None if path.exists() => {
                    values_gone.push(path);
                    values_changed.push(unit);
                }
                None => {}
            }
        }
        write_all(&changes)?;
        // Units that are going away, once the new files are in (a run killed before this left the
        // old configuration whole): stop and disable them while systemd still knows them.
        if !stale.is_empty() {
            let stops: Vec<(JobKind, String)> = stale.iter().map(|u| (JobKind::Stop, u.clone())).collect();
            self.run_jobs(&stops).await?;
            self.disable_files(&stale).await?;
        }
        for name in &stale {
            let path = self.unit_dir.join(name);
            std::fs::remove_file(&path).map_err(Error::io("remove", &path))?;
        }
        report.written = changes.iter().map(|(_, u)| u.name.clone()).collect();
        report.removed = stale;
        if !report.written.is_empty() || !report.removed.is_empty() || resume {
            self.reload().await?;
            report.reloaded = true;
        }
        for path in &values_gone {
            match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(Error::io("remove", path)(e)),
                _ => {}
            }
        }

        // Enablement follows the specs: timers always, services when `enabled`.
        let mut enable: Vec<String> = Vec::new();
        let mut disable: Vec<String> = Vec::new();
        for (spec, units) in &rendered {
            for unit in units {
                if unit.name.ends_with(".timer") {
                    enable.push(unit.name.clone());
                } else if unit.name == format!("{}.service", spec.name.unit_stem()) {
                    if spec.enabled { enable.push(unit.name.clone()) } else { disable.push(unit.name.clone()) }
                }
            }
        }
        // Read enablement from the symlinks in our own folder: asking systemd
        // (ListUnitFilesByPatterns) computes the state of every unit file on the system, which
        // takes seconds with a thousand of ours.
        enable.retain(|u| !self.is_enabled(u));
        disable.retain(|u| self.is_enabled(u));
        if !enable.is_empty() {
            let names: Vec<&str> = enable.iter().map(String::as_str).collect();
            self.manager.enable_unit_files(&names, false, true).await.map_err(Error::call("EnableUnitFiles"))?;
        }
        self.disable_files(&disable).await?;

        // Start timers that are not running; restart running units whose files changed.
        let mut written: BTreeSet<&str> = report.written.iter().map(String::as_str).collect();
        let all: Vec<String> = rendered.iter().flat_map(|(_, us)| us.iter().map(|u| u.name.clone())).collect();
        let active = self.active_states().await?;
        let stale_runs = if resume { self.changed_since_started(&all, &active, &ctx).await? } else { Vec::new() };
        written.extend(stale_runs.iter().map(String::as_str));
        written.extend(values_changed.iter().map(String::as_str));
        let mut jobs: Vec<(JobKind, String)> = Vec::new();
        for name in &all {
            let running = active.get(name).is_some_and(|s| ActiveState::from_word(s).is_running());
            let changed = written.contains(name.as_str());
            if name.ends_with(".timer") && (!running || changed) {
                jobs.push((if running { JobKind::Restart } else { JobKind::Start }, name.clone()));
            } else if name.ends_with(".service") && running && changed {
                jobs.push((JobKind::TryRestart, name.clone()));
            }
        }
        report.jobs = self.run_jobs(&jobs).await?;
        Ok(report)
    }

    pub(crate) async fn disable_files(&self, units: &[String]) -> Result<()> {
        if units.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = units.iter().map(String::as_str).collect();
        self.manager.disable_unit_files(&names, false).await.map_err(Error::call("DisableUnitFiles"))?;
        Ok(())
    }

    /// Whether `unit`, one of ours, is enabled: its `[Install]` symlink is in place
    /// (`timers.target.wants/` for timers, the scope's default target for services).
    pub(crate) fn is_enabled(&self, unit: &str) -> bool {
        let target = if unit.ends_with(".timer") { "timers.target" } else { self.scope.default_target() };
        self.unit_dir.join(format!("{target}.wants")).join(unit).symlink_metadata().is_ok()
    }

    /// `ActiveState` of every loaded taskflows unit.
    pub(crate) async fn active_states(&self) -> Result<BTreeMap<String, String>> {
        let rows =
            self.manager.list_units_by_patterns(&[], &OUR_UNITS).await.map_err(Error::call("ListUnitsByPatterns"))?;
        Ok(rows.into_iter().map(|r| (r.0, r.3)).collect())
    }

    /// Those of `units` that run and whose unit file (or env values file) was written after they
    /// became active.
    async fn changed_since_started(
        &self,
        units: &[String],
        active: &BTreeMap<String, String>,
        ctx: &RenderContext,
    ) -> Result<Vec<String>> {
        let mut changed = Vec::new();
        let mtime = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        for unit in units.iter().filter(|u| active.get(*u).is_some_and(|s| ActiveState::from_word(s).is_running())) {
            let values = unit
                .strip_prefix("taskflows-")
                .and_then(|u| u.strip_suffix(".service"))
                .map(|name| PathBuf::from(taskflows_core::env_values_file(ctx.data_dir.as_str(), name)));
            let Some(modified) = mtime(&self.unit_dir.join(unit)).max(values.as_deref().and_then(mtime)) else {
                continue;
            };
            let path = self.manager.load_unit(unit).await.map_err(Error::call(format!("LoadUnit {unit}")))?;
            let since =
                crate::status::get(&self.conn, &path, "org.freedesktop.systemd1.Unit", "ActiveEnterTimestamp").await?;
            let since = u64::try_from(&*since).ok().and_then(crate::state::from_micros);
            let modified = jiff::Timestamp::try_from(modified).ok();
            if let (Some(since), Some(modified)) = (since, modified)
                && modified > since
            {
                changed.push(unit.clone());
            }
        }
        Ok(changed)
    }
}

/// Globs that match every unit taskflows writes.
pub(crate) const OUR_UNITS: [&str; 3] = ["taskflows-*", "stop-taskflows-*", "restart-taskflows-*"];

/// An env file must exist and every line must be `KEY=VALUE`, before anything is installed.
///
/// The file is opened without blocking (a FIFO cannot hang this) and must be a regular file of at
/// most 1 MiB (`/dev/zero` is not read); front ends check it against their path policy first.
pub fn check_env_file(spec: &ServiceSpec) -> Result<()> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    const MAX: u64 = 1 << 20;
    let Some(path) = &spec.env_file else { return Ok(()) };
    let field = format!("service[{}].env_file", spec.name);
    let bad = |what: String| Error::Invalid(format!("{field}: {path}: {what}"));
    // O_NONBLOCK (0o4000 on Linux): opening a FIFO with no writer returns at once.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(path.as_str())
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    let meta = file.metadata().map_err(|e| bad(format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(bad("not a regular file".to_owned()));
    }
    if meta.len() > MAX {
        return Err(bad("larger than 1 MiB".to_owned()));
    }
    let mut content = String::new();
    file.take(MAX + 1).read_to_string(&mut content).map_err(|e| bad(format!("cannot read it: {e}")))?;
    taskflows_core::parse_env_file(&content).map_err(|e| bad(e.to_string()))?;
    Ok(())
}

/// Write every file atomically: all contents go to temporary files first, and only when all of
/// them are on disk are they renamed over the targets. A failure leaves the old files in place
/// and no temporary file behind.
fn write_all(changes: &[(PathBuf, &UnitFile)]) -> Result<()> {
    let mut temps: Vec<(PathBuf, &Path)> = Vec::with_capacity(changes.len());
    let result = (|| {
        for (path, unit) in changes {
            let temp = path.with_file_name(format!(".{}.tf-{}.tmp", unit.name, std::process::id()));
            temps.push((temp.clone(), path));
            // Inline variables may be secrets: keep such files private.
            let mode = if unit.content.contains("\nEnvironment=") { 0o600 } else { 0o644 };
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .open(&temp)
                .map_err(Error::io("write", &temp))?;
            f.write_all(unit.content.as_bytes()).map_err(Error::io("write", &temp))?;
            f.sync_all().map_err(Error::io("write", &temp))?;
        }
        for (temp, path) in &temps {
            std::fs::rename(temp, path).map_err(Error::io("replace", *path))?;
        }
        // The renames themselves are durable before systemd is told.
        if let Some((_, path)) = temps.first()
            && let Some(dir) = path.parent()
        {
            crate::files::sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        for (temp, _) in &temps {
            let _ = std::fs::remove_file(temp);
        }
    }
    result
}

/// Remove temporary unit files (`.NAME.tf-PID.tmp`) that a `tf` killed while writing left: those
/// whose process is gone.
fn sweep_unit_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix('.')?.strip_suffix(".tmp")?.rsplit_once(".tf-"))
        else {
            continue;
        };
        if pid
            .1
            .parse::<u32>()
            .is_ok_and(|pid| pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

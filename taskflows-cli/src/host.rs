//! What the CLI finds out about the host: scope, and the render context of its services.

use std::path::PathBuf;

use taskflows_api::Local;
use taskflows_core::{AbsPath, RenderContext, Scope};

use crate::Failure;

/// `--user`/`--system`, else user for non-root and system for root.
pub(crate) fn scope(user: bool, system: bool) -> Scope {
    match (user, system) {
        (true, _) => Scope::User,
        (_, true) => Scope::System,
        _ => taskflows_systemd::default_scope(),
    }
}

/// Everything rendering needs to know about this host: the data folder, this `tf` (units of
/// Docker services and waits run it), a conda runner. Paths that cannot go into a unit file (a
/// line break in `TASKFLOWS_DATA_DIR`, say) are refused, not written.
pub(crate) fn render_context(scope: Scope) -> Result<RenderContext, Failure> {
    let path = |what: &str, p: PathBuf| {
        AbsPath::new(p.display().to_string()).map_err(|e| Failure::new(1, format!("{what} {}: {e}", p.display())))
    };
    let mut ctx = RenderContext::new(scope);
    ctx.conda_runner = taskflows_systemd::host::conda_runner().map(|p| path("conda runner", p)).transpose()?;
    if let Ok(exe) = std::env::current_exe() {
        ctx.tf_binary = path("the tf binary", exe)?;
    }
    ctx.data_dir = path("TASKFLOWS_DATA_DIR", taskflows_systemd::host::data_dir(scope))?;
    Ok(ctx)
}

/// The operations of `scope` on this host, reporting progress on stderr.
pub(crate) fn local(scope: Scope) -> Result<Local, Failure> {
    Ok(Local::new(render_context(scope)?).with_progress(crate::services::report_progress))
}

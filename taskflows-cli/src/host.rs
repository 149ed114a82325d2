//! What the CLI finds out about the host: scope, and the render context of its services.

use taskflows_api::Local;
use taskflows_core::{RenderContext, Scope};

use crate::Failure;

/// `--user`/`--system`, else user for non-root and system for root.
pub(crate) fn scope(user: bool, system: bool) -> Scope {
    match (user, system) {
        (true, _) => Scope::User,
        (_, true) => Scope::System,
        _ => taskflows_systemd::default_scope(),
    }
}

/// Everything rendering needs to know about this host ([`taskflows_api::host_context`]), with
/// this `tf` as the binary units call.
pub(crate) fn render_context(scope: Scope) -> Result<RenderContext, Failure> {
    Ok(taskflows_api::host_context(scope, std::env::current_exe().ok())?)
}

/// The operations of `scope` on this host, reporting progress on stderr.
pub(crate) fn local(scope: Scope) -> Result<Local, Failure> {
    Ok(Local::new(render_context(scope)?).with_progress(crate::progress::report))
}

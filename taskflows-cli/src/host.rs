//! What the CLI finds out about the host: scope, systemd version, conda runner, data folder.

use std::path::PathBuf;

use taskflows_core::{AbsPath, RenderContext, Scope};

/// `--user`/`--system`, else user for non-root and system for root.
pub(crate) fn scope(user: bool, system: bool) -> Scope {
    match (user, system) {
        (true, _) => Scope::User,
        (_, true) => Scope::System,
        _ => taskflows_systemd::default_scope(),
    }
}

/// The installed systemd's version, from `systemctl --version` (`systemd 252 (…)`).
pub(crate) fn systemd_version() -> Option<u32> {
    let out = std::process::Command::new("systemctl").arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1)?.parse().ok()
}

/// Find conda, mamba or micromamba on PATH or in the usual install folders.
pub(crate) fn conda_runner() -> Option<PathBuf> {
    taskflows_systemd::host::conda_runner()
}

/// taskflows' data folder: `TASKFLOWS_DATA_DIR`, else /var/lib/taskflows (system) or
/// ~/.local/share/taskflows (user).
pub(crate) fn data_dir(scope: Scope) -> PathBuf {
    taskflows_systemd::host::data_dir(scope)
}

/// Everything rendering needs to know about this host. Paths that cannot go into a unit file
/// (a line break in `TASKFLOWS_DATA_DIR`, say) are refused, not written.
pub(crate) fn render_context(scope: Scope) -> anyhow::Result<RenderContext> {
    let path = |what: &str, p: PathBuf| {
        AbsPath::new(p.display().to_string()).map_err(|e| anyhow::anyhow!("{what} {}: {e}", p.display()))
    };
    let mut ctx = RenderContext::new(scope);
    ctx.conda_runner = conda_runner().map(|p| path("conda runner", p)).transpose()?;
    if let Ok(exe) = std::env::current_exe() {
        ctx.tf_binary = path("the tf binary", exe)?;
    }
    ctx.data_dir = path("TASKFLOWS_DATA_DIR", data_dir(scope))?;
    Ok(ctx)
}

//! `cargo xtask features`: every library crate builds with `--no-default-features` and with each
//! of its features alone, so a user who depends on one part compiles only that part. Each feature
//! set is checked with `cargo clippy -- -D warnings`, as the workspace is: a warning fails it
//! (an import only another feature uses), and clippy's artifacts are shared with the clippy step
//! (with `cargo check` they would be rebuilt after it).

use std::collections::BTreeMap;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

/// The crates a Rust user depends on.
pub(crate) const LIBRARIES: &[&str] = &[
    "taskflows-core",
    "taskflows-systemd",
    "taskflows-constraints",
    "taskflows-alerts",
    "taskflows-docker",
    "taskflows-api",
    "taskflows-app",
];

/// The features worth checking alone: the declared ones, not `default` nor the implicit
/// feature of an optional dependency (`foo = ["dep:foo"]`).
pub(crate) fn declared(features: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    features
        .iter()
        .filter(|(name, enables)| *name != "default" && **enables != [format!("dep:{name}")])
        .map(|(name, _)| name.clone())
        .collect()
}

pub(crate) fn run() -> Result<ExitCode> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(crate::workspace_root())
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .output()
        .context("failed to run cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).context("cargo metadata's JSON")?;
    let mut failed = Vec::new();
    let mut checked = 0;
    for name in LIBRARIES {
        let package = meta["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == *name)
            .with_context(|| format!("{name} is not a workspace member"))?;
        let features: BTreeMap<String, Vec<String>> = serde_json::from_value(package["features"].clone())?;
        let mut combos = vec![None];
        combos.extend(declared(&features).into_iter().map(Some));
        for feature in combos {
            let mut cmd = Command::new(&cargo);
            cmd.current_dir(crate::workspace_root());
            cmd.args(["clippy", "--quiet", "--locked", "-p", name, "--no-default-features"]);
            let label = match &feature {
                Some(f) => {
                    cmd.args(["--features", f]);
                    format!("{name} --no-default-features --features {f}")
                }
                None => format!("{name} --no-default-features"),
            };
            cmd.args(["--", "-D", "warnings"]);
            eprintln!("xtask: features: cargo clippy -p {label}");
            checked += 1;
            if !cmd.status().context("failed to run cargo clippy")?.success() {
                failed.push(label);
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} of {checked} feature sets do not build without warnings:\n  {}", failed.len(), failed.join("\n  "));
    }
    eprintln!("xtask: features: all {checked} feature sets of {} crates build", LIBRARIES.len());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    #[test]
    fn declared_features_leave_out_default_and_optional_dependencies() {
        let features: BTreeMap<String, Vec<String>> = [
            ("default", vec!["email"]),
            ("email", vec!["dep:lettre"]),
            ("lettre", vec!["dep:lettre"]),
            ("slack", vec!["client", "dep:shell-words"]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect();
        assert_eq!(super::declared(&features), ["email", "slack"]);
    }
}

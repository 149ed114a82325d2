//! The policy applied to services about to be created: each path a spec names, and the programs
//! its rendered units run.

use std::path::Path;

use taskflows_core::{DockerContainer, DockerImage, Environment, RenderContext, ServiceSpec};

use super::PathPolicy;
use crate::{Error, Result};

const TF_FIX: &str = "install tf where only root can replace it: `install -m 755 tf /usr/local/bin/`, \
                      then set TF_BIN=/usr/local/bin/tf or put /usr/local/bin first on PATH";
const RUNNER_FIX: &str = "install conda/mamba/micromamba where only root can replace it (e.g. under /opt, \
                          owned by root) and name it in environment.venv.runner";

/// Check every path of `specs` (their stored environments resolved through `ctx`) and, for
/// system units, every program they run, before anything is written.
pub(crate) fn check_specs(policy: &PathPolicy, specs: &[ServiceSpec], ctx: &RenderContext) -> Result<()> {
    let system = policy.strict();
    let mut tf_checked = false;
    for spec in specs {
        let name = &spec.name;
        if let Some(path) = &spec.env_file {
            policy.env_file(&format!("service[{name}].env_file"), Path::new(path.as_str()), system)?;
        }
        for (key, path) in &spec.credentials {
            policy.credential(&format!("service[{name}].credentials.{key}"), Path::new(path.as_str()), system)?;
        }
        if let Some(path) = &spec.working_directory {
            policy.folder(&format!("service[{name}].working_directory"), Path::new(path.as_str()))?;
        }
        let (env, stored) = match &spec.environment {
            Some(Environment::Named(n)) => (ctx.named_environments.get(n), Some(n.as_str())),
            env => (env.as_ref(), None),
        };
        // A field of the environment: inline, or in the stored environment the service names.
        let field = |key: &str| match stored {
            Some(env) => format!("service[{name}].environment (stored environment {env:?}: {key})"),
            None => format!("service[{name}].environment.{key}"),
        };
        match env {
            Some(Environment::Venv(v)) if system => {
                let (runner, field) = match (&v.runner, &ctx.conda_runner) {
                    (Some(r), _) => (r, field("venv.runner")),
                    (None, Some(r)) => (r, format!("{} (the conda runner found on this host)", field("venv.runner"))),
                    (None, None) => continue,
                };
                policy.program(&field, Path::new(runner.as_str()), "a program a system unit runs", RUNNER_FIX)?;
            }
            Some(Environment::Docker(c)) => check_container(policy, c, &field)?,
            _ => {}
        }
        if system && !tf_checked && taskflows_core::runs_tf(spec, ctx) {
            tf_checked = true;
            let field = format!("service[{name}]: the tf its units run (TF_BIN, else PATH)");
            policy.program(&field, Path::new(ctx.tf_binary.as_str()), "a program a system unit runs", TF_FIX)?;
        }
    }
    Ok(())
}

/// A stored environment about to be created or replaced (`tf env create|update NAME FILE`):
/// its paths and, for system units, its runner, so a bad one is refused before it is stored.
pub(crate) fn check_environment(policy: &PathPolicy, name: &str, env: &Environment) -> Result<()> {
    let field = |key: &str| format!("environment[{name}].{key}");
    match env {
        Environment::Venv(v) if policy.strict() => match &v.runner {
            Some(r) => {
                policy.program(&field("venv.runner"), Path::new(r.as_str()), "a program a system unit runs", RUNNER_FIX)
            }
            None => Ok(()),
        },
        Environment::Docker(c) => check_container(policy, c, &field),
        _ => Ok(()),
    }
}

/// A container's image reference, build context, volumes and env file.
fn check_container(policy: &PathPolicy, c: &DockerContainer, field: &dyn Fn(&str) -> String) -> Result<()> {
    let reference = |key: &str, r: &str| {
        taskflows_core::check_image_reference(r)
            .map_err(|e| Error::Invalid { message: format!("{}: {e}", field(key)), hint: None })
    };
    match &c.image {
        DockerImage::Name(n) => reference("docker.image", n.as_str())?,
        DockerImage::Build(b) => {
            reference("docker.image.tag", b.tag.as_str())?;
            policy.docker_host_path(&field("docker.image.path"), Path::new(b.path.as_str()), true)?;
        }
    }
    for (i, v) in c.volumes.iter().enumerate() {
        policy.docker_host_path(
            &field(&format!("docker.volumes[{i}].host_path")),
            Path::new(v.host_path.as_str()),
            false,
        )?;
    }
    if let Some(path) = &c.env_file {
        // Read once by `tf create` into the private container spec: no ownership rule.
        policy.env_file(&field("docker.env_file"), Path::new(path.as_str()), false)?;
    }
    Ok(())
}

//! Running a service's container attached: what `tf container run` does under systemd.

use std::future::Future;
use std::io::Write as _;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::errors::Error as ApiError;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, CreateImageOptions, RemoveContainerOptions, StopContainerOptions,
    WaitContainerOptions,
};
use futures_util::StreamExt as _;

use crate::engine::Engine;
use crate::error::Error;
use crate::mapping::{HASH_LABEL, SCOPE_LABEL, SERVICE_LABEL, UID_LABEL};
use crate::spec::ContainerSpec;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOutcome {
    /// The container's exit code (128+N when a signal N ended it).
    pub exit_code: i64,
    /// The run was asked to stop (the `stop` future completed) before the container exited.
    pub stop_requested: bool,
}

/// Seconds the engine waits after SIGTERM before it kills, when the spec sets none.
const DEFAULT_STOP_SECS: i64 = 10;

fn is_status(e: &ApiError, codes: &[u16]) -> bool {
    matches!(e, ApiError::DockerResponseServerError { status_code, .. } if codes.contains(status_code))
}

impl Engine {
    /// Run `spec`'s container attached: make sure the right container exists (a leftover
    /// non-persisted one is replaced, a persisted one is kept unless its config hash differs),
    /// attach its stdout and stderr before starting it, forward them to this process's stdout
    /// and stderr, and wait for it to exit. When `stop` completes first, the container is
    /// stopped (the engine kills it after the spec's stop timeout) and the run waits for its
    /// end; when it completes while the container is being prepared (an image pull), the run
    /// ends at once without starting it. A non-persisted container is removed afterwards, with
    /// its anonymous volumes (as `docker run --rm`).
    ///
    /// A container with the spec's name that is not this service's (label `taskflows.service`)
    /// is never touched: [`Error::NotOurs`].
    pub async fn run_attached(
        &self,
        spec: &ContainerSpec,
        stop: impl Future<Output = ()>,
    ) -> Result<RunOutcome, Error> {
        let name = spec.container.as_str();
        tokio::pin!(stop);
        tokio::select! {
            ready = self.ensure_container(spec) => ready?,
            () = &mut stop => {
                tracing::debug!(container = name, "stop requested before the container started");
                return Ok(RunOutcome { exit_code: 0, stop_requested: true });
            }
        }
        let attach = AttachContainerOptions { stream: true, stdout: true, stderr: true, ..Default::default() };
        let mut output = self
            .docker
            .attach_container(name, Some(attach))
            .await
            .map_err(Error::engine(format!("attach to container {name}")))?
            .output;
        match self.docker.start_container(name, None::<bollard::query_parameters::StartContainerOptions>).await {
            Err(e) if !is_status(&e, &[304]) => {
                return Err(Error::engine(format!("start container {name}"))(e));
            }
            _ => {}
        }
        let forward = async {
            while let Some(Ok(chunk)) = output.next().await {
                let _ = match chunk {
                    LogOutput::StdErr { message } => {
                        let mut err = std::io::stderr().lock();
                        err.write_all(&message).and_then(|()| err.flush())
                    }
                    LogOutput::StdOut { message } | LogOutput::Console { message } => {
                        let mut out = std::io::stdout().lock();
                        out.write_all(&message).and_then(|()| out.flush())
                    }
                    LogOutput::StdIn { .. } => Ok(()),
                };
            }
        };
        let wait = self.wait(name);
        tokio::pin!(forward, wait);
        let mut forwarding = true;
        let mut stop_requested = false;
        let exit_code = loop {
            tokio::select! {
                () = &mut forward, if forwarding => forwarding = false,
                code = &mut wait => break code?,
                () = &mut stop, if !stop_requested => {
                    stop_requested = true;
                    self.stop(spec).await?;
                }
            }
        };
        // The attach stream ends with the container; let it deliver the last lines.
        if forwarding {
            let _ = tokio::time::timeout(Duration::from_secs(2), forward).await;
        }
        if !spec.persisted {
            self.remove(spec, true).await?;
        }
        Ok(RunOutcome { exit_code, stop_requested })
    }

    async fn wait(&self, name: &str) -> Result<i64, Error> {
        let options = WaitContainerOptions { condition: "not-running".to_owned() };
        let mut stream = self.docker.wait_container(name, Some(options));
        match stream.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            Some(Err(ApiError::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(Error::engine(format!("wait for container {name}"))(e)),
            None => Err(Error::engine(format!("wait for container {name}"))(ApiError::RequestTimeoutError)),
        }
    }

    /// `spec`'s container if it exists; [`Error::NotOurs`] when its owner labels (service, scope,
    /// user) are not the spec's.
    async fn inspect_owned(&self, spec: &ContainerSpec) -> Result<Option<ContainerInspectResponse>, Error> {
        let name = spec.container.as_str();
        match self.docker.inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>).await {
            Ok(c) => {
                let labels = c.config.as_ref().and_then(|c| c.labels.as_ref());
                let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
                // A container an older tf created has the service label alone: it is adopted (its
                // next re-creation adds the scope and user).
                let legacy = label(SCOPE_LABEL).is_none() && label(UID_LABEL).is_none();
                let mismatch = spec.owner_labels().iter().any(|(key, value)| match label(key) {
                    Some(found) => found != *value,
                    None => !(legacy && *key != SERVICE_LABEL),
                });
                if mismatch {
                    let owner = label(SERVICE_LABEL).map(|service| {
                        let or_none = |v: Option<&str>| v.unwrap_or("none").to_owned();
                        format!(
                            "service {service:?}, scope {}, uid {}",
                            or_none(label(SCOPE_LABEL)),
                            or_none(label(UID_LABEL))
                        )
                    });
                    return Err(Error::NotOurs { container: name.to_owned(), service: spec.service.clone(), owner });
                }
                Ok(Some(c))
            }
            Err(e) if is_status(&e, &[404]) => Ok(None),
            Err(e) => Err(Error::engine(format!("inspect container {name}"))(e)),
        }
    }

    /// Create the container unless a persisted one with the same config hash, running the
    /// image its reference names now, exists. A replaced container's volumes are never
    /// deleted; a persisted one's are mounted into its replacement at the same paths (unless
    /// the new configuration binds something there), so data in e.g. an image's `VOLUME`
    /// survives a configuration change.
    async fn ensure_container(&self, spec: &ContainerSpec) -> Result<(), Error> {
        let name = spec.container.as_str();
        let image = spec.create.image.clone().unwrap_or_default();
        let mut create = spec.create.clone();
        if let Some(existing) = self.inspect_owned(spec).await? {
            if spec.persisted {
                let labels = existing.config.as_ref().and_then(|c| c.labels.as_ref());
                let hash = labels.and_then(|l| l.get(HASH_LABEL));
                let same_image = match self.image_id(&image).await? {
                    Some(id) => existing.image.as_deref() == Some(id.as_str()),
                    None => true,
                };
                if hash.map(String::as_str) == Some(spec.config_hash.as_str()) && same_image {
                    tracing::debug!(container = name, "keeping the persisted container");
                    return Ok(());
                }
                carry_volumes(&existing, &mut create);
            }
            self.remove(spec, false).await?;
        }
        let options = CreateContainerOptions { name: Some(name.to_owned()), ..Default::default() };
        match self.docker.create_container(Some(options.clone()), create.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if is_status(&e, &[404]) => {
                // The image is not here: pull it, as `docker run` would, then create again.
                self.pull(&image).await?;
                self.docker
                    .create_container(Some(options), create)
                    .await
                    .map(|_| ())
                    .map_err(Error::engine(format!("create container {name}")))
            }
            Err(e) => Err(Error::engine(format!("create container {name}"))(e)),
        }
    }

    async fn pull(&self, image: &str) -> Result<(), Error> {
        let mut stream = self.docker.create_image(Some(pull_options(image)), None, None);
        while let Some(item) = stream.next().await {
            item.map_err(Error::engine(format!("image {image} is not on the engine and pulling it failed")))?;
        }
        Ok(())
    }

    /// Stop `spec`'s container (SIGTERM, then SIGKILL after its stop timeout, default 10 s). A
    /// missing or already stopped container is fine; one that is not the spec's is left alone.
    pub async fn stop(&self, spec: &ContainerSpec) -> Result<(), Error> {
        let (name, timeout_secs) = (spec.container.as_str(), spec.create.stop_timeout);
        match self.inspect_owned(spec).await {
            Ok(Some(_)) => {}
            Ok(None) => return Ok(()),
            Err(e @ Error::NotOurs { .. }) => {
                tracing::warn!("{e}");
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        let t = timeout_secs.unwrap_or(DEFAULT_STOP_SECS);
        let options = StopContainerOptions { t: Some(i32::try_from(t).unwrap_or(i32::MAX)), signal: None };
        // The engine answers once the container is gone, up to `t` seconds after SIGTERM: the
        // request must outlive that (the client's usual timeout does not, for long timeouts).
        let docker = self.docker.clone().with_timeout(stop_request_timeout(t));
        match docker.stop_container(name, Some(options)).await {
            Err(e) if !is_status(&e, &[304, 404]) => Err(Error::engine(format!("stop container {name}"))(e)),
            _ => Ok(()),
        }
    }

    /// Remove `spec`'s container, running or not; with `volumes`, its anonymous volumes too.
    /// Returns the names of the volumes it had and that were kept (without `volumes`). A missing
    /// container is fine; one that is not the spec's is [`Error::NotOurs`] and stays.
    pub async fn remove(&self, spec: &ContainerSpec, volumes: bool) -> Result<Vec<String>, Error> {
        let name = spec.container.as_str();
        let Some(existing) = self.inspect_owned(spec).await? else {
            return Ok(Vec::new());
        };
        let options = RemoveContainerOptions { force: true, v: volumes, ..Default::default() };
        match self.docker.remove_container(name, Some(options)).await {
            // 409: a removal already in progress (e.g. by an earlier run).
            Err(e) if !is_status(&e, &[404, 409]) => {
                return Err(Error::engine(format!("remove container {name}"))(e));
            }
            _ => {}
        }
        Ok(if volumes { Vec::new() } else { volume_mounts(&existing).into_iter().map(|(v, _)| v).collect() })
    }

    /// Whether container `name` exists, and if so whether it runs, and its id.
    pub async fn container_state(&self, name: &str) -> Result<Option<(String, bool)>, Error> {
        match self.docker.inspect_container(name, None::<bollard::query_parameters::InspectContainerOptions>).await {
            Ok(c) => Ok(Some((c.id.unwrap_or_default(), c.state.and_then(|s| s.running).unwrap_or(false)))),
            Err(e) if is_status(&e, &[404]) => Ok(None),
            Err(e) => Err(Error::engine(format!("inspect container {name}"))(e)),
        }
    }
}

/// The volumes (not binds) mounted into a container: `(volume name, path in the container)`.
fn volume_mounts(c: &ContainerInspectResponse) -> Vec<(String, String)> {
    c.mounts
        .iter()
        .flatten()
        // The Engine API's mount type is a string since bollard 0.21 (`volume`, `bind`, `tmpfs`, …).
        .filter(|m| m.typ.as_deref() == Some("volume"))
        .filter_map(|m| Some((m.name.clone()?, m.destination.clone()?)))
        .collect()
}

/// Mount the volumes of `old` into `create` at the same paths, except where `create` binds
/// something itself.
fn carry_volumes(old: &ContainerInspectResponse, create: &mut bollard::models::ContainerCreateBody) {
    let host = create.host_config.get_or_insert_default();
    let binds = host.binds.get_or_insert_default();
    for (volume, path) in volume_mounts(old) {
        let taken = binds.iter().any(|b| b.split(':').nth(1) == Some(path.as_str()));
        if !taken {
            binds.push(format!("{volume}:{path}"));
        }
    }
    if binds.is_empty() {
        host.binds = None;
    }
}

/// How long to wait for the engine's answer to a stop with timeout `t` seconds.
fn stop_request_timeout(t: i64) -> Duration {
    Duration::from_secs(u64::try_from(t).unwrap_or(0).saturating_add(60).max(120))
}

/// `repo[:tag][@digest]` (the repository may start with `host:port/`) → the repository and
/// what to pull of it: the digest, else the tag, else `latest`.
pub(crate) fn split_reference(reference: &str) -> (&str, &str) {
    let (named, digest) = match reference.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (reference, None),
    };
    // A ':' after the last '/' starts the tag; one before it is a registry's port.
    let (repo, tag) = match named.rfind(':') {
        Some(i) if !named[i + 1..].contains('/') => (&named[..i], Some(&named[i + 1..])),
        _ => (named, None),
    };
    (repo, digest.or(tag).unwrap_or("latest"))
}

/// The pull of `image`: one tag (or digest), never the repository's every tag.
fn pull_options(image: &str) -> CreateImageOptions {
    let (repo, tag) = split_reference(image);
    CreateImageOptions { from_image: Some(repo.to_owned()), tag: Some(tag.to_owned()), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag_or_digest() {
        for (reference, repo, tag) in [
            ("redis", "redis", "latest"),
            ("redis:7", "redis", "7"),
            ("library/redis:7.2-alpine", "library/redis", "7.2-alpine"),
            ("localhost:5000/redis", "localhost:5000/redis", "latest"),
            ("localhost:5000/team/redis:7", "localhost:5000/team/redis", "7"),
            ("redis@sha256:abcd", "redis", "sha256:abcd"),
            ("redis:7@sha256:abcd", "redis", "sha256:abcd"),
            ("reg.example:443/a/b:t@sha256:ef", "reg.example:443/a/b", "sha256:ef"),
        ] {
            assert_eq!(split_reference(reference), (repo, tag), "{reference}");
        }
        let pull = pull_options("redis");
        assert_eq!((pull.from_image.as_deref(), pull.tag.as_deref()), (Some("redis"), Some("latest")));
    }

    #[test]
    fn a_long_stop_timeout_outlives_the_request() {
        assert_eq!(stop_request_timeout(10), Duration::from_secs(120));
        assert!(stop_request_timeout(300) > Duration::from_secs(300));
        assert!(stop_request_timeout(i64::MAX) > Duration::from_secs(3600));
        assert_eq!(stop_request_timeout(-1), Duration::from_secs(120));
    }

    #[test]
    fn a_replacement_keeps_the_old_volumes_where_nothing_else_is_bound() {
        use bollard::models::{ContainerCreateBody, HostConfig, MountPoint};
        let mount = |typ: &str, name: &str, dest: &str| MountPoint {
            typ: Some(typ.to_owned()),
            name: Some(name.to_owned()),
            destination: Some(dest.to_owned()),
            ..Default::default()
        };
        let old = ContainerInspectResponse {
            mounts: Some(vec![
                mount("volume", "abc123", "/var/lib/postgresql/data"),
                mount("volume", "def456", "/cache"),
                mount("bind", "", "/etc/app"),
            ]),
            ..Default::default()
        };
        let mut create = ContainerCreateBody {
            host_config: Some(HostConfig {
                binds: Some(vec!["/srv/cache:/cache:ro".to_owned()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        carry_volumes(&old, &mut create);
        assert_eq!(
            create.host_config.unwrap().binds.unwrap(),
            ["/srv/cache:/cache:ro", "abc123:/var/lib/postgresql/data"]
        );
    }
}

//! The connection to the engine, and image builds.

use std::collections::HashMap;
use std::path::Path;

use bollard::Docker;
use bollard::query_parameters::BuildImageOptions;
use futures_util::StreamExt as _;
use taskflows_core::DockerBuild;

use crate::error::Error;

/// Where the default engine listens.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// A connection to a Docker engine whose API version was negotiated.
#[derive(Debug, Clone)]
pub struct Engine {
    pub(crate) docker: Docker,
    host: String,
}

impl Engine {
    /// Connect to `host` (`unix://PATH`, `tcp://…`, `http://…`), or to `DOCKER_HOST`, or to the
    /// default socket, and negotiate the API version (the engine may be older than the client).
    /// An engine that does not answer is [`Error::Unreachable`].
    pub async fn connect(host: Option<&str>) -> Result<Engine, Error> {
        let host = match host {
            Some(h) => h.to_owned(),
            None => std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()).unwrap_or(DEFAULT_HOST.to_owned()),
        };
        let unreachable = |source| Error::Unreachable { host: host.clone(), source };
        // Requests other than attach/wait answer at once; a stuck engine is an error, not a hang.
        const TIMEOUT: u64 = 120;
        let docker = if host.starts_with("unix://") {
            Docker::connect_with_unix(&host, TIMEOUT, bollard::API_DEFAULT_VERSION)
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(&host, TIMEOUT, bollard::API_DEFAULT_VERSION)
        } else {
            Docker::connect_with_unix(&format!("unix://{host}"), TIMEOUT, bollard::API_DEFAULT_VERSION)
        }
        .map_err(unreachable)?;
        let docker = tokio::time::timeout(std::time::Duration::from_secs(10), docker.negotiate_version())
            .await
            .unwrap_or(Err(bollard::errors::Error::RequestTimeoutError))
            .map_err(unreachable)?;
        Ok(Engine { docker, host })
    }

    /// The address this engine was reached at.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The bollard client, for what this crate does not wrap.
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The id of image `reference` on this engine; `None` when it is not here (it is pulled at
    /// the first run).
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, Error> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(image.id),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
            Err(e) => Err(Error::engine(format!("inspect image {reference}"))(e)),
        }
    }

    /// Build `build.tag` from its folder. The build's output goes to `progress` line by line; a
    /// failed build is [`Error::Build`] with the build's message.
    pub async fn build_image(
        &self,
        service: &str,
        build: &DockerBuild,
        mut progress: impl FnMut(&str),
    ) -> Result<(), Error> {
        let context = tar_folder(Path::new(build.path.as_str()))?;
        let options = BuildImageOptions {
            dockerfile: build.dockerfile.to_string(),
            t: Some(build.tag.to_string()),
            rm: true,
            forcerm: true,
            buildargs: Some(
                build
                    .build_args
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
                    .collect::<HashMap<_, _>>(),
            ),
            ..BuildImageOptions::default()
        };
        let failed =
            |message: String| Error::Build { service: service.to_owned(), tag: build.tag.to_string(), message };
        let mut stream = self.docker.build_image(options, None, Some(bollard::body_full(context.into())));
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(error) = info.error_detail.and_then(|d| d.message).or(info.error) {
                        return Err(failed(error.trim_end().to_owned()));
                    }
                    if let Some(text) = info.stream {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            progress(line);
                        }
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => return Err(failed(error)),
                Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => return Err(failed(message)),
                Err(e) => return Err(failed(e.to_string())),
            }
        }
        Ok(())
    }
}

/// The folder as an uncompressed tar stream, paths relative to it (symlinks kept as links).
fn tar_folder(dir: &Path) -> Result<Vec<u8>, Error> {
    let io = |source| Error::Io { what: "cannot read the build context", path: dir.to_owned(), source };
    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(false);
    archive.append_dir_all(".", dir).map_err(io)?;
    archive.into_inner().map_err(io)
}

//! The one error type of `taskflows-docker`.

use std::path::PathBuf;

/// Everything that can go wrong while mapping, building, running or removing a container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine did not answer: not running, wrong socket, no permission.
    #[error("cannot reach the Docker engine at {host}: {source}; is dockerd running?")]
    Unreachable {
        /// `unix:///var/run/docker.sock`, `tcp://…`.
        host: String,
        /// What the client saw.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine's address is TCP without TLS.
    #[error(
        "refusing to reach the Docker engine at {host} without TLS: anyone on the network path could run containers as root; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (ca.pem, cert.pem, key.pem), use a unix socket (over SSH if remote), or set TASKFLOWS_DOCKER_ALLOW_PLAINTEXT=1 for a network you trust"
    )]
    Plaintext {
        /// The address.
        host: String,
    },
    /// A field of a container spec cannot be given to Docker.
    #[error("{field}: {message}")]
    Field {
        /// Dotted path of the field, e.g. `service[web].environment.docker.cgroup_config.memory_high`.
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// An image build failed; `message` is the build's own error.
    #[error("service[{service}]: building image {tag} failed: {message}")]
    Build {
        /// The service whose image it is.
        service: String,
        /// The tag being built.
        tag: String,
        /// What the build said.
        message: String,
    },
    /// A file of ours or of the user's could not be read or written.
    #[error("{what} {}: {source}", path.display())]
    Io {
        /// What the file is, e.g. "cannot write container spec".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A container spec file is not one this version understands.
    #[error("{}: {message}", path.display())]
    SpecFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// A container with the service's container name exists but is not this service's (its
    /// `taskflows.service`, `taskflows.scope` or `taskflows.uid` label says another service,
    /// scope or user, or it has none): taskflows leaves it alone.
    #[error(
        "container {container} exists but is not service {service}'s ({}); taskflows does not touch it: \
         remove or rename it, or give the service another environment.docker.name",
        match owner { Some(o) => format!("its labels say {o}"), None => "it has no taskflows.service label: not created by taskflows".to_owned() }
    )]
    NotOurs {
        /// The container's name.
        container: String,
        /// The service that wanted it.
        service: String,
        /// Whose its labels say it is (`service "web", scope user, uid 1000`), when it has a
        /// `taskflows.service` label.
        owner: Option<String>,
    },
    /// The engine refused or failed a request.
    #[error("docker engine: {what}: {source}")]
    Engine {
        /// The request, e.g. "create container taskflows-web".
        what: String,
        /// The engine's answer.
        #[source]
        source: bollard::errors::Error,
    },
}

impl Error {
    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Field { field: field.into(), message: message.into() }
    }

    pub(crate) fn engine(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> Error {
        let what = what.into();
        move |source| Error::Engine { what, source }
    }
}

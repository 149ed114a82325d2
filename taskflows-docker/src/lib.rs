//! The Docker backend of taskflows: a service's container as data on disk, and running it
//! attached under systemd, over the Docker Engine API (bollard) — no `docker` CLI needed.
//!
//! `tf create` maps each Docker service to a [`ContainerSpec`] (create body with container and
//! host configuration, cgroup limits, labels and a config hash; [`mapping`]), builds its image
//! when it is built from a Dockerfile ([`Engine::build_image`]) and writes the spec to
//! `DATA_DIR/containers/NAME.json`. The unit then runs `tf container run`, which calls
//! [`Engine::run_attached`]: systemd sees the container's exit status and its output.
//!
//! This crate does not render units or talk to systemd (that is `taskflows-systemd`), and it
//! builds no runtime: callers pass a connected [`Engine`] and await.

mod engine;
mod error;
pub mod mapping;
mod run;
mod spec;

pub use engine::{DEFAULT_HOST, Engine};
pub use error::Error;
pub use run::RunOutcome;
pub use spec::{ContainerSpec, SPEC_VERSION, container_name, docker_environment};

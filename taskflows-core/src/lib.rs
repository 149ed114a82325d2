//! The pure model of taskflows: services, schedules, restart policies, startup requirements,
//! resource limits and environments as typed data; the rendering of that data into systemd unit
//! files; and the reading of service files (TOML) with their JSON Schema.
//!
//! This crate does no I/O: it does not touch files, sockets, D-Bus or processes. What rendering
//! needs to know about the host (scope, systemd version, a conda runner, stored environments)
//! comes in through [`RenderContext`]; installing units is `taskflows-systemd`'s job.
//!
//! Values are checked when they are built (parse, don't validate): a [`ServiceName`], a
//! [`CommandLine`] or a [`Duration`] that exists is valid, and an invalid one is rejected with an
//! [`Error`] that names the field and says what is allowed.

pub mod calendar;
mod cgroup;
mod command;
mod constraints;
mod duration;
mod envfile;
mod environment;
mod error;
pub mod file;
mod image;
mod name;
mod policy;
mod render;
mod schedule;
pub mod schema;
mod service;
mod size;
mod task;
mod text;
mod value;

pub use cgroup::{CgroupConfig, Device, ManagedOom, ManagedOomPreference, OomPolicy, shares_to_weight};
pub use command::{AbsPath, CommandLine, EnvKey};
pub use constraints::{Comparison, PressureKind, Requirement, Timespan};
pub use duration::Duration;
pub use envfile::parse_env_file;
pub use environment::{
    DockerBuild, DockerContainer, DockerImage, EnvName, Environment, PortBinding, Venv, Volume, split_shell,
};
pub use error::{Error, ValueError};
pub use image::check_image_reference;
pub use name::{MAX_SERVICE_NAME_LEN, ServiceName, UnitName, glob_match};
pub use policy::{NotifyAccess, RestartCondition, RestartPolicy, Watchdog};
pub use render::{
    ENVIRONMENT_KEY, RenderContext, Scope, UnitFile, env_values, env_values_file, env_values_path, render, runs_tf,
};
pub use schedule::{Calendar, CalendarExpr, Periodic, RelativeTo, Schedule, Schedules, StartOn};
pub use service::{IntoUnitName, RELATION_DIRECTIVES, ServiceBuilder, ServiceSpec, Signal};
pub use size::ByteSize;
pub use task::{Backoff, TaskPolicy};
pub use text::display_safe;
pub use value::{ARG_LEN_MAX, ENV_FILE_MAX, NAME_LEN_MAX, PATH_LEN_MAX, Text, UNIT_LINE_MAX, env_file_quote};

#[cfg(test)]
mod tests;

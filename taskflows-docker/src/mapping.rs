//! A service's container spec mapped to the Engine API's create body: container and host
//! configuration, cgroup limits, labels and the config hash. Pure: the env file is read by the
//! caller and passed in.

use std::collections::{BTreeMap, HashMap};

use bollard::models::{
    ContainerCreateBody, DeviceMapping, HostConfig, PortBinding as ApiPortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum, ThrottleDevice,
};
use taskflows_core::{CgroupConfig, DockerContainer, PortBinding, ServiceSpec, split_shell};

use crate::error::Error;

/// Label naming the service a container belongs to.
pub const SERVICE_LABEL: &str = "taskflows.service";
/// Label naming the service manager (`system` or `user`) whose service owns a container.
pub const SCOPE_LABEL: &str = "taskflows.scope";
/// Label holding the uid of the user whose taskflows created a container.
pub const UID_LABEL: &str = "taskflows.uid";
/// The labels that together say whose a container is.
pub const OWNER_LABELS: [&str; 3] = [SERVICE_LABEL, SCOPE_LABEL, UID_LABEL];
/// Label holding the hash of the configuration a container was created from.
pub const HASH_LABEL: &str = "taskflows.config-hash";
/// Label holding the id of the image when `tf create` ran. Not part of the hash: the image may
/// be absent at the first `tf create` and pulled by the first run; `tf container run` compares
/// a kept container's image with the one its reference names on the engine instead.
pub const IMAGE_LABEL: &str = "taskflows.image-id";

/// The create body for `container`, the environment of `service`. `env_file` holds the pairs
/// read from the container's env file; `environment` wins over them. Fields Docker has no
/// equivalent for are refused with the field's path.
pub fn create_body(
    service: &ServiceSpec,
    container: &DockerContainer,
    env_file: &[(String, String)],
) -> Result<ContainerCreateBody, Error> {
    let field = |f: &str| format!("service[{}].environment.docker.{f}", service.name);
    let words = |f: &str, s: &str| split_shell(s).map_err(|e| Error::field(field(f), e.to_string()));
    let cmd = match (&container.command, &service.start_command) {
        (Some(c), _) => Some(words("command", c.as_str())?),
        (None, Some(c)) => Some(words("start_command", c.as_str())?),
        (None, None) => None,
    };
    let entrypoint = container.entrypoint.as_ref().map(|e| words("entrypoint", e.as_str())).transpose()?;

    let mut env: BTreeMap<String, String> = env_file.iter().cloned().collect();
    env.extend(container.environment.iter().map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned())));

    let mut labels: HashMap<String, String> =
        container.labels.iter().map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned())).collect();
    labels.insert(SERVICE_LABEL.to_owned(), service.name.as_str().to_owned());

    let mut exposed = Vec::new();
    let mut bindings = HashMap::new();
    for (port, binding) in &container.ports {
        let key = if port.as_str().contains('/') { port.to_string() } else { format!("{port}/tcp") };
        let (host_ip, host_port) = match binding {
            PortBinding::Port(p) => (None, p.to_string()),
            PortBinding::Address(a) => match a.as_str().rsplit_once(':') {
                Some((ip, p)) => (Some(ip.trim_matches(['[', ']']).to_owned()), p.to_owned()),
                None => (None, a.to_string()),
            },
        };
        exposed.push(key.clone());
        bindings.insert(key, Some(vec![ApiPortBinding { host_ip, host_port: Some(host_port) }]));
    }

    let mut host = HostConfig {
        binds: non_empty(
            container
                .volumes
                .iter()
                .map(|v| {
                    let ro = if v.read_only { ":ro" } else { "" };
                    format!("{}:{}{ro}", v.host_path, v.container_path)
                })
                .collect(),
        ),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        network_mode: container.network_mode.as_ref().map(ToString::to_string),
        init: container.init.then_some(true),
        shm_size: container.shm_size.map(|s| bytes(s.0)),
        restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::NO), maximum_retry_count: None }),
        privileged: container.privileged.then_some(true),
        extra_hosts: non_empty(container.extra_hosts.iter().map(ToString::to_string).collect()),
        dns: non_empty(container.dns.iter().map(ToString::to_string).collect()),
        ..HostConfig::default()
    };
    let mut stop_timeout = None;
    if let Some(c) = &container.cgroup_config {
        stop_timeout = limits(c, &mut host).map_err(|(f, m)| Error::field(field(&format!("cgroup_config.{f}")), m))?;
    }

    Ok(ContainerCreateBody {
        image: Some(container.image.reference().to_owned()),
        cmd,
        entrypoint,
        env: non_empty(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(labels),
        user: container.user.as_ref().map(ToString::to_string),
        working_dir: container.working_dir.as_ref().map(ToString::to_string),
        hostname: container.hostname.as_ref().map(ToString::to_string),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        stop_timeout,
        host_config: Some(host),
        ..ContainerCreateBody::default()
    })
}

/// Put the cgroup limits into `host`; returns the stop timeout in seconds, if set. An error is
/// `(field, message)`.
fn limits(c: &CgroupConfig, host: &mut HostConfig) -> Result<Option<i64>, (&'static str, String)> {
    let unsupported = |f: &'static str, instead: &str| (f, format!("has no Docker equivalent; {instead}"));
    if c.memory_high.is_some() {
        return Err(unsupported("memory_high", "use memory_limit (hard) or memory_low (reservation)"));
    }
    if c.memory_min.is_some() {
        return Err(unsupported("memory_min", "use memory_low (Docker's memory reservation)"));
    }
    if c.oom_policy.is_some() {
        return Err(unsupported("oom_policy", "set it on the service's own cgroup_config"));
    }
    if c.managed_oom_swap.is_some()
        || c.managed_oom_memory_pressure.is_some()
        || c.managed_oom_memory_pressure_limit.is_some()
        || c.managed_oom_preference.is_some()
    {
        return Err(unsupported(
            "managed_oom",
            "systemd-oomd acts on units; set it on the service's own cgroup_config",
        ));
    }
    if c.timeout_start.is_some() {
        return Err(unsupported("timeout_start", "set it on the service's own cgroup_config"));
    }
    host.cpu_quota = c.cpu_quota.map(to_i64);
    host.cpu_period = c.cpu_quota.map(|_| to_i64(c.cpu_period.unwrap_or(100_000)));
    host.cpu_shares = c.cpu_shares.or(c.cpu_weight.map(weight_to_shares)).map(to_i64);
    host.cpuset_cpus.clone_from(&c.cpuset_cpus);
    host.memory = c.memory_limit.map(|m| bytes(m.0));
    host.memory_reservation = c.memory_low.map(|m| bytes(m.0));
    host.memory_swap = match (c.memory_swap_limit, c.memory_swap_max, c.memory_limit) {
        (Some(total), _, _) => Some(bytes(total.0)),
        (None, Some(swap), Some(mem)) => Some(bytes(mem.0.saturating_add(swap.0))),
        (None, Some(_), None) => {
            return Err((
                "memory_swap_max",
                "needs memory_limit for a container (Docker limits memory plus swap)".to_owned(),
            ));
        }
        (None, None, _) => None,
    };
    host.blkio_weight = c.blkio_weight.or(c.io_weight.map(|w| (w / 10).clamp(10, 1000))).map(|w| w as u16);
    let throttle = |m: Vec<(String, u64)>| {
        non_empty(
            m.into_iter().map(|(path, rate)| ThrottleDevice { path: Some(path), rate: Some(to_i64(rate)) }).collect(),
        )
    };
    let bps = |m: &BTreeMap<taskflows_core::AbsPath, taskflows_core::ByteSize>| {
        throttle(m.iter().map(|(p, s)| (p.to_string(), s.0)).collect())
    };
    let iops =
        |m: &BTreeMap<taskflows_core::AbsPath, u64>| throttle(m.iter().map(|(p, n)| (p.to_string(), *n)).collect());
    host.blkio_device_read_bps = bps(&c.device_read_bps);
    host.blkio_device_write_bps = bps(&c.device_write_bps);
    host.blkio_device_read_iops = iops(&c.device_read_iops);
    host.blkio_device_write_iops = iops(&c.device_write_iops);
    host.pids_limit = c.pids_limit.map(to_i64);
    host.ulimits = c.nofile_limit.map(|n| {
        vec![ResourcesUlimits { name: Some("nofile".to_owned()), soft: Some(to_i64(n)), hard: Some(to_i64(n)) }]
    });
    host.oom_score_adj = c.oom_score_adj.map(i64::from);
    host.readonly_rootfs = c.read_only_rootfs.then_some(true);
    host.cap_drop = non_empty(c.cap_drop.iter().map(|s| s.to_ascii_uppercase()).collect());
    host.cap_add = non_empty(c.cap_add.iter().map(|s| s.to_ascii_uppercase()).collect());
    host.devices = non_empty(
        c.devices
            .iter()
            .map(|d| DeviceMapping {
                path_on_host: Some(d.path.to_string()),
                path_in_container: Some(d.path.to_string()),
                cgroup_permissions: Some(d.permissions.clone()),
            })
            .collect(),
    );
    Ok(c.timeout_stop.map(|t| to_i64(t.as_micros().div_ceil(1_000_000))))
}

/// A cgroup v2 weight (1–10000) to Docker CPU shares: the inverse of runc's conversion
/// ([`taskflows_core::shares_to_weight`]), so 100 (systemd's default) gives 1024-ish.
pub fn weight_to_shares(weight: u64) -> u64 {
    2 + (weight.saturating_sub(1) * 262_142).div_ceil(9999)
}

/// A stable hash of the body, without the hash and image-id labels: FNV-1a (64 bit) over its JSON with keys
/// in order (serde_json's map is sorted), in hex.
pub fn config_hash(body: &ContainerCreateBody) -> String {
    let mut body = body.clone();
    if let Some(labels) = &mut body.labels {
        labels.remove(HASH_LABEL);
        labels.remove(IMAGE_LABEL);
    }
    let canonical = serde_json::to_value(&body).map(|v| v.to_string()).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in canonical.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn bytes(n: u64) -> i64 {
    to_i64(n)
}

#[cfg(test)]
mod tests;

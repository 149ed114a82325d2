use taskflows_core::{RenderContext, Scope, ServiceSpec};

use super::*;
use crate::spec::{ContainerSpec, docker_environment};

fn service(toml: &str) -> ServiceSpec {
    let mut specs = taskflows_core::file::parse_service_file("test.toml", toml).expect("a valid service file");
    specs.remove(0)
}

fn spec(toml: &str) -> Result<ContainerSpec, Error> {
    let s = service(toml);
    let ctx = RenderContext::new(Scope::System);
    let c = docker_environment(&s, &ctx).expect("a Docker service");
    ContainerSpec::new(&s, c, None)
}

/// The create body as sorted JSON.
fn body(toml: &str) -> String {
    let s = spec(toml).expect("maps");
    serde_json::to_string_pretty(&serde_json::to_value(&s.create).unwrap()).unwrap()
}

/// `cgroup_config` (inline TOML) → the error message, or the HostConfig fields as JSON.
fn check(cgroup: &str, expected: &str) {
    let toml = format!(
        "[[service]]\nname = \"web\"\nstart_command = \"x\"\nenvironment = {{ docker = {{ image = \"img\", cgroup_config = {{ {cgroup} }} }} }}\n"
    );
    let got = match spec(&toml) {
        Ok(s) => {
            let mut host = serde_json::to_value(s.create.host_config.unwrap()).unwrap();
            host.as_object_mut().unwrap().remove("RestartPolicy");
            host.to_string()
        }
        Err(e) => e.to_string(),
    };
    assert_eq!(got, expected, "cgroup_config = {{ {cgroup} }}");
}

#[test]
fn every_option_maps_to_the_create_body() {
    insta::assert_snapshot!(body(
        r#"
[[service]]
name = "web"
start_command = "python -m http.server 'port 8000'"
[service.environment.docker]
image = "python:3.11"
entrypoint = "/usr/bin/env"
persisted = true
ports = { "8000" = 8080, "53/udp" = "127.0.0.1:5353" }
volumes = [{ host_path = "/srv/data", container_path = "/data", read_only = true }, { host_path = "/tmp", container_path = "/scratch" }]
environment = { MODE = "prod", B = "two words" }
network_mode = "host"
init = true
shm_size = "256M"
restart_policy = "no"
labels = { team = "infra" }
user = "1000:1000"
working_dir = "/app"
hostname = "web1"
privileged = true
extra_hosts = ["db:10.0.0.5"]
dns = ["9.9.9.9"]
[service.environment.docker.cgroup_config]
cpu_quota = 50000
cpu_weight = 100
cpuset_cpus = "0-1"
memory_limit = "512M"
memory_low = "128M"
memory_swap_max = "256M"
io_weight = 500
device_read_bps = { "/dev/sda" = "10M" }
device_write_iops = { "/dev/sda" = 100 }
pids_limit = 64
nofile_limit = 4096
oom_score_adj = 500
read_only_rootfs = true
cap_drop = ["ALL"]
cap_add = ["net_bind_service"]
devices = [{ path = "/dev/fuse" }]
timeout_stop = "30s"
"#
    ));
}

#[test]
fn limits() {
    check("memory_limit = \"64M\"", r#"{"Memory":67108864}"#);
    check("memory_limit = \"64M\", memory_swap_limit = \"128M\"", r#"{"Memory":67108864,"MemorySwap":134217728}"#);
    check("cpu_quota = 25000, cpu_period = 50000", r#"{"CpuPeriod":50000,"CpuQuota":25000}"#);
    check("cpu_shares = 512", r#"{"CpuShares":512}"#);
    check("blkio_weight = 300", r#"{"BlkioWeight":300}"#);
    check("pids_limit = 10", r#"{"PidsLimit":10}"#);
    let field = "service[web].environment.docker.cgroup_config";
    check(
        "memory_high = \"1G\"",
        &format!("{field}.memory_high: has no Docker equivalent; use memory_limit (hard) or memory_low (reservation)"),
    );
    check(
        "memory_swap_max = \"1G\"",
        &format!("{field}.memory_swap_max: needs memory_limit for a container (Docker limits memory plus swap)"),
    );
    check(
        "oom_policy = \"kill\"",
        &format!("{field}.oom_policy: has no Docker equivalent; set it on the service's own cgroup_config"),
    );
}

#[test]
fn command_comes_from_the_container_then_the_service_then_the_image() {
    let with = |extra: &str| {
        let s = spec(&format!("[[service]]\nname = \"w\"\n{extra}")).unwrap();
        s.create.cmd
    };
    let words = |w: &[&str]| Some(w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        with("start_command = \"a 'b c'\"\nenvironment = { docker = { image = \"i\", command = \"x \\\"y z\\\"\" } }"),
        words(&["x", "y z"])
    );
    assert_eq!(with("start_command = \"a 'b c'\"\nenvironment = { docker = { image = \"i\" } }"), words(&["a", "b c"]));
    assert_eq!(with("environment = { docker = { image = \"i\" } }"), None);
}

#[test]
fn the_hash_follows_the_configuration_only() {
    let a = "[[service]]\nname = \"w\"\nstart_command = \"echo 1\"\nenvironment = { docker = { image = \"i\", labels = { a = \"1\", b = \"2\", c = \"3\" } } }";
    let first = spec(a).unwrap();
    assert_eq!(spec(a).unwrap().config_hash, first.config_hash, "deterministic despite hash maps");
    assert_eq!(first.create.labels.as_ref().unwrap()[HASH_LABEL], first.config_hash);
    assert_eq!(first.create.labels.as_ref().unwrap()[SERVICE_LABEL], "w");
    assert_eq!(config_hash(&first.create), first.config_hash, "the label itself is not hashed");
    let changed = spec(&a.replace("echo 1", "echo 2")).unwrap();
    assert_ne!(changed.config_hash, first.config_hash);
    // The image may be absent at the first `tf create` (pulled by the first run) and known at
    // the next: the hash must not change with it, or a persisted container is re-created.
    let image = first.clone().with_image_id("sha256:1");
    assert_eq!(image.config_hash, first.config_hash, "the image id is not hashed");
    assert_eq!(image.create.labels.as_ref().unwrap()[IMAGE_LABEL], "sha256:1");
    assert_eq!(image.create.labels.as_ref().unwrap()[HASH_LABEL], image.config_hash);
    assert_eq!(config_hash(&image.clone().with_image_id("sha256:2").create), image.config_hash);
}

#[test]
fn weights_and_shares_convert_back_and_forth() {
    for w in [1, 39, 100, 5000, 10_000] {
        assert_eq!(taskflows_core::shares_to_weight(weight_to_shares(w)), w, "weight {w}");
    }
}

#[test]
fn spec_files_are_versioned_and_written_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec("[[service]]\nname = \"w\"\nstart_command = \"echo\"\nenvironment = { docker = { image = \"i\" } }")
        .unwrap();
    let path = s.write(dir.path()).unwrap().expect("written");
    assert_eq!(path, dir.path().join("containers/taskflows-w.json"));
    assert_eq!(s.write(dir.path()).unwrap(), None, "an unchanged spec is not rewritten");
    assert_eq!(ContainerSpec::read(dir.path(), "taskflows-w").unwrap(), s);
    assert_eq!(ContainerSpec::all(dir.path()).unwrap(), vec![s.clone()]);
    let text = std::fs::read_to_string(&path).unwrap().replace("\"version\": 1", "\"version\": 9");
    std::fs::write(&path, text).unwrap();
    let err = ContainerSpec::read(dir.path(), "taskflows-w").unwrap_err().to_string();
    assert!(
        err.ends_with("version Some(9) is not supported (this tf writes version 1); run `tf create` again"),
        "{err}"
    );
    // Listing fails closed, naming the file: skipping it would orphan its container.
    let err = ContainerSpec::all(dir.path()).unwrap_err().to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    s.delete(dir.path()).unwrap();
    s.delete(dir.path()).unwrap();
    assert!(ContainerSpec::all(dir.path()).unwrap().is_empty());

    // The owner labels: service, scope and user, all hashed (a container of another scope or
    // user is another container).
    let owned = s.clone().owned_by("user", 1000);
    assert_eq!(
        owned.owner_labels(),
        [("taskflows.service", "w"), ("taskflows.scope", "user"), ("taskflows.uid", "1000")]
    );
    assert_ne!(owned.config_hash, s.config_hash);
    assert_eq!(s.owner_labels(), [("taskflows.service", "w")], "an older spec names the service alone");
}

#[test]
fn a_stored_environment_is_resolved() {
    let s = service("[[service]]\nname = \"w\"\nstart_command = \"echo\"\nenvironment = \"boxes\"\n");
    let mut ctx = RenderContext::new(Scope::User);
    assert!(docker_environment(&s, &ctx).is_none(), "unknown name: not a Docker service");
    let env = taskflows_core::Environment::Docker(Box::new(taskflows_core::DockerContainer::new("img").unwrap()));
    ctx.named_environments.insert(taskflows_core::EnvName::new("boxes").unwrap(), env);
    let c = docker_environment(&s, &ctx).expect("resolved through the stored environments");
    assert_eq!(ContainerSpec::new(&s, c, None).unwrap().create.image.as_deref(), Some("img"));
}

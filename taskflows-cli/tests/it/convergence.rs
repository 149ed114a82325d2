//! Convergence and the lock, inside a real systemd: `tf create` killed (SIGKILL, injected by
//! strace) at every file rename, fsync, unlink and D-Bus message is finished by the next run;
//! concurrent creates of overlapping files each leave every service wholly from one file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{figure, service_file, stderr, stdout};

fn in_sandbox() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
}

fn user() -> bool {
    std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user")
}

/// `tf` in the test's scope with its own data folder (so its interrupted runs concern no other
/// test), optionally under `strace` injecting SIGKILL.
fn tf_in(data: &Path, args: &[&str], strace: Option<&str>) -> Output {
    let scope = if user() { "--user" } else { "--system" };
    let tf = env!("CARGO_BIN_EXE_tf");
    let mut cmd = match strace {
        Some(inject) => {
            let mut c = Command::new("strace");
            c.args(["-f", "-qq", "-o", "/dev/null", "-e", inject, tf]);
            c
        }
        None => Command::new(tf),
    };
    cmd.arg(scope).args(args).env("NO_COLOR", "1").env("TASKFLOWS_DATA_DIR", data).output().expect("tf runs")
}

fn unit_dir() -> PathBuf {
    if user() { PathBuf::from("/root/.config/systemd/user") } else { PathBuf::from("/etc/systemd/system") }
}

fn systemctl_show(unit: &str, property: &str) -> String {
    let mut cmd = Command::new("systemctl");
    if user() {
        cmd.arg("--user");
    }
    let out = cmd.args(["show", "-p", property, "--value", unit]).output().expect("systemctl runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The units a service file renders to, by name (from `tf create --dry-run --json`).
fn rendered(data: &Path, file: &str) -> Vec<(String, String)> {
    let out = tf_in(data, &["create", file, "--dry-run", "--json"], None);
    assert!(out.status.success(), "{}", stderr(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["name"].as_str().unwrap().to_owned(), u["content"].as_str().unwrap().to_owned()))
        .collect()
}

/// The value of `VERSION` in the running worker's environment.
fn worker_version(unit: &str) -> Option<String> {
    let pid = systemctl_show(unit, "MainPID");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|b| *b == 0).find_map(|kv| Some(String::from_utf8_lossy(kv.strip_prefix(b"VERSION=")?).into_owned()))
}

fn temporaries(dirs: &[&Path]) -> Vec<String> {
    let mut found = Vec::new();
    for dir in dirs {
        for entry in walk(dir) {
            let name = entry.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".tmp") || name == ".create-pending" {
                found.push(entry.display().to_string());
            }
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A Docker service whose container's environment changes (`VERSION`), when the test engine is
/// there: its container must run the new spec after the rerun (the config-hash label). `init`:
/// `sleep` as the container's PID 1 would ignore the stop's SIGTERM and wait out the timeout.
fn docker_service(version: &str) -> String {
    let Ok(image) = std::env::var("TF_TEST_DOCKER_IMAGE") else { return String::new() };
    let container = container();
    format!(
        "\n[[service]]\nname = \"conv-box\"\nstart_command = \"sleep 3600\"\nenvironment = {{ docker = {{ image = \"{image}\", name = \"{container}\", init = true, environment = {{ VERSION = \"{version}\" }} }} }}\n"
    )
}

/// The container's name: both scopes share the engine.
fn container() -> String {
    format!("conv-box-{}", std::process::id())
}

/// The `taskflows.config-hash` of the running container, and that of its spec on disk.
fn container_hashes(data: &Path) -> (Option<String>, Option<String>) {
    let spec: Option<serde_json::Value> =
        std::fs::read_to_string(data.join("containers").join(format!("{}.json", container())))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
    let on_disk = spec.and_then(|s| s["config_hash"].as_str().map(str::to_owned));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let running = rt.block_on(async {
        let engine = taskflows_docker::Engine::connect(None).await.ok()?;
        let inspect = engine
            .client()
            .inspect_container(&container(), None::<bollard::query_parameters::InspectContainerOptions>)
            .await
            .ok()?;
        if !inspect.state.as_ref()?.running? {
            return None;
        }
        inspect.config?.labels?.get("taskflows.config-hash").cloned()
    });
    (running, on_disk)
}

/// Whether, within 20 s, the container runs with its spec's config hash.
fn container_runs_its_spec(data: &Path) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (running, spec) = container_hashes(data);
        if running.is_some() && running == spec {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

const OLD: &str = r#"
[[service]]
name = "conv-worker"
start_command = "/bin/sleep infinity"
env = { VERSION = "old" }

[[service]]
name = "conv-job"
description = "old job"
start_command = "/bin/true"
start_schedule = "*-*-* 04:00:00 UTC"
stop_schedule = "*-*-* 05:00:00 UTC"
"#;

const NEW: &str = r#"
[[service]]
name = "conv-worker"
start_command = "/bin/sleep infinity"
env = { VERSION = "new" }

[[service]]
name = "conv-job"
description = "new job"
start_command = "/bin/true"
start_schedule = "*-*-* 06:00:00 UTC"

[[service]]
name = "conv-added"
start_command = "/bin/true"
start_schedule = "*-*-* 07:00:00 UTC"
"#;

/// `tf create` of a change set (a running service changed, a timer changed, a helper removed, a
/// service added) killed at each kill point, then run again without faults: every unit file is
/// the old or the new rendering after the kill and the new one after the rerun, no unit needs a
/// daemon-reload, the running worker runs the new configuration, nothing temporary is left. An
/// unrelated create in between already finishes the interrupted one (from its saved definitions).
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn create_killed_at_any_point_is_finished_by_the_next_run() {
    in_sandbox();
    let data = tempfile::tempdir().unwrap();
    let docker = std::env::var_os("TF_TEST_DOCKER_IMAGE").is_some();
    let (_old_dir, old) = service_file(&format!("{OLD}{}", docker_service("old")));
    let (_new_dir, new) = service_file(&format!("{NEW}{}", docker_service("new")));
    let (_other_dir, other_file) = service_file("[[service]]\nname = \"conv-other\"\nstart_command = \"/bin/true\"\n");
    let old_units = rendered(data.path(), &old);
    let new_units = rendered(data.path(), &new);
    let dir = unit_dir();
    let worker = "taskflows-conv-worker.service";
    let mut tried = 0;
    let mut failures: Vec<String> = Vec::new();
    for syscall in ["rename,renameat,renameat2", "fsync,fdatasync", "unlink,unlinkat", "sendmsg"] {
        for n in 1.. {
            // From the old state, the worker running it.
            let _ = tf_in(data.path(), &["remove", "conv-added"], None);
            let reset = tf_in(data.path(), &["create", &old], None);
            assert!(reset.status.success(), "{}{}", stdout(&reset), stderr(&reset));
            let start = tf_in(data.path(), &["start", "conv-*"], None);
            assert!(start.status.success(), "{}", stderr(&start));
            assert!(!docker || container_runs_its_spec(data.path()), "the old container runs");
            assert_eq!(worker_version(worker).as_deref(), Some("old"));

            let inject = format!("inject={syscall}:signal=KILL:when={n}");
            let killed = tf_in(data.path(), &["create", &new], Some(&inject));
            if killed.status.success() {
                break; // no such kill point: the run got through
            }
            tried += 1;
            let point = format!("{syscall} #{n}");
            for (name, content) in &new_units {
                let on_disk = std::fs::read_to_string(dir.join(name)).ok();
                let old_content = old_units.iter().find(|(o, _)| o == name).map(|(_, c)| c.clone());
                if on_disk.is_some() && on_disk != Some(content.clone()) && on_disk != old_content {
                    failures.push(format!("{point}: {name} is neither the old nor the new rendering"));
                }
            }
            // Any later create finishes the interrupted one: the worker runs what its installed
            // unit says, and no unit needs a reload.
            let other = tf_in(data.path(), &["create", &other_file], None);
            if !other.status.success() {
                failures.push(format!("{point}: an unrelated create failed: {}{}", stdout(&other), stderr(&other)));
            }
            let installed = std::fs::read_to_string(data.path().join("env/conv-worker.env")).unwrap_or_default();
            let wanted = if installed.contains("VERSION='new'") { "new" } else { "old" };
            if worker_version(worker).as_deref() != Some(wanted) {
                failures
                    .push(format!("{point}: after an unrelated create the worker does not run its unit ({wanted})"));
            }
            for (name, _) in new_units.iter().chain(&old_units) {
                if dir.join(name).exists() && systemctl_show(name, "NeedDaemonReload") != "no" {
                    failures.push(format!("{point}: {name} needs a daemon-reload after an unrelated create"));
                }
            }
            let rerun = tf_in(data.path(), &["create", &new], None);
            if !rerun.status.success() {
                failures.push(format!("{point}: the rerun failed: {}{}", stdout(&rerun), stderr(&rerun)));
                continue;
            }
            for (name, content) in &new_units {
                if std::fs::read_to_string(dir.join(name)).ok().as_ref() != Some(content) {
                    failures.push(format!("{point}: {name} is not the new rendering after the rerun"));
                }
                if systemctl_show(name, "NeedDaemonReload") != "no" {
                    failures.push(format!("{point}: {name} needs a daemon-reload after the rerun"));
                }
            }
            if dir.join("stop-taskflows-conv-job.timer").exists() {
                failures.push(format!("{point}: the removed helper timer is still installed"));
            }
            if worker_version(worker).as_deref() != Some("new") {
                failures.push(format!("{point}: the running worker was not restarted with its new unit"));
            }
            // The restarted unit re-creates its container from the new spec.
            if docker && !container_runs_its_spec(data.path()) {
                failures.push(format!("{point}: the running container's config hash is not its spec's"));
            }
            let left = temporaries(&[&dir, data.path()]);
            if !left.is_empty() {
                failures.push(format!("{point}: left behind: {left:?}"));
            }
        }
    }
    let _ = tf_in(data.path(), &["remove", "conv-*"], None);
    figure(&format!("convergence: {tried} kill points tried, {} failures", failures.len()));
    assert!(tried >= 10, "strace injected too few kill points ({tried}): is strace working here?");
    assert!(failures.is_empty(), "{tried} kill points, {} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Ten concurrent creates of two overlapping files: they take turns (the data folder's lock),
/// and every service's units come wholly from one of the files.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn concurrent_creates_take_turns() {
    in_sandbox();
    let data = tempfile::tempdir().unwrap();
    let file = |tag: &str, names: [&str; 2]| {
        service_file(&names.map(|n| format!(
            "[[service]]\nname = \"{n}\"\ndescription = \"from {tag}\"\nstart_command = \"/bin/true\"\nstart_schedule = \"*-*-* 0{}:00:00 UTC\"\nstop_schedule = \"*-*-* 0{}:30:00 UTC\"\n",
            if tag == "a" { 1 } else { 2 },
            if tag == "a" { 1 } else { 2 },
        )).join("\n"))
    };
    let (_a_dir, a) = file("a", ["lock-x", "lock-y"]);
    let (_b_dir, b) = file("b", ["lock-y", "lock-z"]);
    let runs: Vec<std::thread::JoinHandle<Output>> = (0..10)
        .map(|i| {
            let (file, data) = (if i % 2 == 0 { a.clone() } else { b.clone() }, data.path().to_owned());
            std::thread::spawn(move || tf_in(&data, &["create", &file], None))
        })
        .collect();
    let started = std::time::Instant::now();
    let outs: Vec<Output> = runs.into_iter().map(|r| r.join().unwrap()).collect();
    let waited = outs.iter().filter(|o| stderr(o).contains("waiting for another tf command")).count();
    figure(&format!(
        "concurrency: 10 creates of 2 overlapping files in {:.1}s, {waited} waited for the lock",
        started.elapsed().as_secs_f64()
    ));
    for out in &outs {
        assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    }
    assert!(waited > 0, "some create waited for another");
    let dir = unit_dir();
    for service in ["lock-x", "lock-y", "lock-z"] {
        let units = [
            format!("taskflows-{service}.service"),
            format!("taskflows-{service}.timer"),
            format!("stop-taskflows-{service}.timer"),
        ];
        let tags: Vec<&str> = units
            .iter()
            .map(|u| {
                let text = std::fs::read_to_string(dir.join(u)).unwrap_or_default();
                if text.contains("from a") || text.contains("01:") {
                    "a"
                } else if text.contains("from b") || text.contains("02:") {
                    "b"
                } else {
                    "?"
                }
            })
            .collect();
        assert!(tags.iter().all(|t| *t == tags[0] && *t != "?"), "{service}: units from {tags:?}");
    }
    let _ = tf_in(data.path(), &["remove", "lock-*"], None);
}

//! Docker services through `tf`, inside the sandbox's real systemd, against the private dockerd
//! `cargo xtask test-systemd` starts on the host (`DOCKER_HOST`) with a locally built busybox
//! image (`TF_TEST_DOCKER_IMAGE`). They run in both scopes: root's user manager runs containers
//! through the same engine as the system manager. Names carry the PID, since both scopes share
//! the engine.

use std::path::PathBuf;
use std::time::Duration;

use taskflows_docker::Engine;

use crate::{ok, service_file, stderr, stdout, tf, tf_env, wait_for};

fn image() -> String {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
    std::env::var("TF_TEST_DOCKER_IMAGE").expect("TF_TEST_DOCKER_IMAGE is set by cargo xtask test-systemd")
}

fn name(what: &str) -> String {
    format!("dk-{what}-{}", std::process::id())
}

/// The container spec `tf create` wrote, in the scope's data folder.
fn spec_file(container: &str) -> PathBuf {
    let data = if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") {
        PathBuf::from("/root/.local/share/taskflows")
    } else {
        PathBuf::from("/var/lib/taskflows")
    };
    data.join("containers").join(format!("{container}.json"))
}

/// What the engine says about a container: `Some((id, running))`, `None` when it does not exist.
fn engine_state(container: &str) -> Option<(String, bool)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let engine = Engine::connect(None).await.expect("the test engine answers");
        engine.container_state(container).await.expect("inspect")
    })
}

/// Run `f` with a connection to the test engine.
fn with_engine<T>(f: impl AsyncFnOnce(&Engine) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let engine = Engine::connect(None).await.expect("the test engine answers");
        f(&engine).await
    })
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_service_output_exit_status_and_memory_limit() {
    let image = image();
    let svc = name("out");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "sh -c 'echo hello from the container; echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max); sleep 0.5; exit 3'"
environment = {{ docker = {{ image = "{image}", cgroup_config = {{ memory_limit = "64M", pids_limit = 50 }} }} }}
"#
    ));
    let text = ok(&tf(&["create", &path]), "create");
    let container = format!("taskflows-{svc}");
    assert!(text.contains(&format!("{}", spec_file(&container).display())), "{text}");
    let spec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(spec_file(&container)).unwrap()).expect("JSON spec");
    assert_eq!(spec["version"], 1);
    assert_eq!(spec["service"], svc.as_str());
    assert_eq!(spec["create"]["HostConfig"]["Memory"], 64 << 20);

    let out = tf(&["start", &svc, "--wait"]);
    assert_eq!(out.status.code(), Some(1), "a failed run fails: {}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(&format!("run of {svc}: exit-code, exit status 3")), "{}", stdout(&out));

    let runs: serde_json::Value =
        serde_json::from_slice(&tf(&["history", "-m", &svc, "--json"]).stdout).expect("JSON history");
    let runs = &runs["runs"];
    assert_eq!(runs[0]["result"], "exit-code", "{runs}");
    assert_eq!(runs[0]["exit"]["status"], 3, "{runs}");

    let logs = stdout(&tf(&["logs", &svc, "-n", "50"]));
    assert!(logs.contains("hello from the container"), "{logs}");
    assert!(logs.contains(&format!("limit={}", 64u64 << 20)), "the container's cgroup has the limit: {logs}");
    assert_eq!(engine_state(&container), None, "a non-persisted container is removed after its run");

    let text = ok(&tf(&["remove", &svc]), "remove");
    assert!(text.contains(&format!("removed container {container}")), "{text}");
    assert!(!spec_file(&container).exists(), "remove deletes the container spec");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_stop_stops_the_container() {
    let image = image();
    let svc = name("stop");
    let container = format!("tf-it-{svc}");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "sleep 600"
environment = {{ docker = {{ image = "{image}", name = "{container}", persisted = true, init = true, cgroup_config = {{ timeout_stop = "5s" }} }} }}
"#
    ));
    ok(&tf(&["create", &path]), "create");
    ok(&tf(&["start", &svc]), "start");
    wait_for(Duration::from_secs(30), Duration::from_millis(200), || {
        engine_state(&container).filter(|(_, running)| *running).ok_or("the container never ran".to_owned())
    });
    // A changed container of a running service: the service is restarted on a new container.
    let (first, _) = engine_state(&container).unwrap();
    let (_dir2, changed) = service_file(
        &std::fs::read_to_string(&path).unwrap().replace("init = true", "init = true, labels = { v = \"2\" }"),
    );
    let text = ok(&tf(&["create", &changed]), "create changed");
    assert!(text.contains(&format!("restart taskflows-{svc}.service: done")), "{text}");
    wait_for(Duration::from_secs(30), Duration::from_millis(200), || match engine_state(&container) {
        Some((id, true)) if id != first => Ok(()),
        other => Err(format!("not re-created and running: {other:?}")),
    });

    let started = std::time::Instant::now();
    ok(&tf(&["stop", &svc]), "stop");
    let (_, running) = engine_state(&container).expect("a persisted container stays");
    assert!(!running, "the engine says the container stopped");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "stopped by SIGTERM, not the kill timeout");
    let runs: serde_json::Value =
        serde_json::from_slice(&tf(&["history", "-m", &svc, "--json"]).stdout).expect("JSON history");
    let runs = &runs["runs"];
    assert_eq!(runs[0]["result"], "success", "a requested stop is a clean end: {runs}");

    let text = ok(&tf(&["remove", &svc]), "remove");
    assert!(text.contains(&format!("removed container {container}")), "{text}");
    assert_eq!(engine_state(&container), None, "remove removes the persisted container");
    assert!(!spec_file(&container).exists());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_persisted_container_is_kept_or_recreated() {
    let image = image();
    let svc = name("keep");
    let container = format!("taskflows-{svc}");
    let file = |word: &str| {
        service_file(&format!(
            r#"
[[service]]
name = "{svc}"
start_command = "sh -c 'echo says {word}; sleep 0.3'"
environment = {{ docker = {{ image = "{image}", persisted = true }} }}
"#
        ))
    };
    let run = || {
        let out = tf(&["start", &svc, "--wait"]);
        assert!(stdout(&out).contains("success, exit status 0"), "{}{}", stdout(&out), stderr(&out));
        engine_state(&container).expect("a persisted container stays").0
    };
    let (_d1, v1) = file("one");
    ok(&tf(&["create", &v1]), "create");
    let first = run();
    let again = ok(&tf(&["create", &v1]), "create again");
    assert!(!again.contains("containers/"), "an unchanged container spec is not rewritten: {again}");
    assert_eq!(run(), first, "an unchanged persisted container is kept");

    let (_d2, v2) = file("two");
    ok(&tf(&["create", &v2]), "create changed");
    let second = run();
    assert_ne!(second, first, "a changed persisted container is re-created");
    let logs = stdout(&tf(&["logs", &svc, "-n", "20"]));
    assert!(logs.contains("says two"), "{logs}");

    // No longer a Docker service: its container and spec go.
    let (_d3, plain) = service_file(&format!("[[service]]\nname = \"{svc}\"\nstart_command = \"/bin/true\"\n"));
    let text = ok(&tf(&["create", &plain]), "create plain");
    assert!(text.contains(&format!("removed container {container}")), "{text}");
    assert_eq!(engine_state(&container), None);
    assert!(!spec_file(&container).exists());
    ok(&tf(&["remove", &svc]), "remove");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_image_built_from_a_dockerfile() {
    let image = image();
    let svc = name("build");
    let context = tempfile::tempdir().expect("temp dir");
    let tag = format!("tf-it-built-{}:latest", std::process::id());
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {image}\nRUN echo built by the engine > /built.txt\nCMD [\"sh\", \"-c\", \"cat /built.txt; sleep 0.3\"]\n"),
    )
    .unwrap();
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
environment = {{ docker = {{ image = {{ tag = "{tag}", path = "{}" }}, persisted = true }} }}
"#,
        context.path().display()
    ));
    let container = format!("taskflows-{svc}");
    let run = |expected: &str| {
        let out = tf(&["start", &svc, "--wait"]);
        assert!(stdout(&out).contains("success, exit status 0"), "{}{}", stdout(&out), stderr(&out));
        let logs = stdout(&tf(&["logs", &svc, "-n", "20"]));
        assert!(logs.contains(expected), "{logs}");
        engine_state(&container).expect("a persisted container stays").0
    };
    ok(&tf(&["create", &path]), "create");
    let first = run("built by the engine");
    // Rebuilt from a changed Dockerfile: same tag, new image, so the container is re-created.
    std::fs::write(
        context.path().join("Dockerfile"),
        format!("FROM {image}\nRUN echo rebuilt > /built.txt\nCMD [\"sh\", \"-c\", \"cat /built.txt; sleep 0.3\"]\n"),
    )
    .unwrap();
    ok(&tf(&["create", &path]), "create after the change");
    assert_ne!(run("rebuilt"), first, "a rebuilt image re-creates the persisted container");
    ok(&tf(&["remove", &svc]), "remove");
    assert_eq!(engine_state(&container), None);

    // A failing build is an error naming the service and the build's message; nothing is written.
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {image}\nRUN echo broken step; exit 7\n")).unwrap();
    let failed = name("badbuild");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{failed}"
environment = {{ docker = {{ image = {{ tag = "{tag}", path = "{}" }} }} }}
"#,
        context.path().display()
    ));
    let out = tf(&["create", &path]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("error: service[{failed}]: building image {tag} failed: ")), "{err}");
    assert!(err.contains("returned a non-zero code: 7"), "{err}");
    assert_eq!(tf(&["list", &failed]).status.code(), Some(4), "no unit written");
    assert!(!spec_file(&format!("taskflows-{failed}")).exists(), "no container spec written");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_engine_down_is_a_clear_error() {
    let image = image();
    let svc = name("down");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "echo never"
environment = {{ docker = {{ image = "{image}" }} }}
"#
    ));
    let out = tf_env(&["create", &path], &[("DOCKER_HOST", "unix:///run/no-such-docker.sock")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.starts_with("error: cannot reach the Docker engine at unix:///run/no-such-docker.sock: ")
            && err.contains("; is dockerd running?\nhint: start dockerd, or point DOCKER_HOST at a running engine\n"),
        "{err}"
    );
    assert_eq!(tf(&["list", &svc]).status.code(), Some(4), "no unit written");
    assert!(!spec_file(&format!("taskflows-{svc}")).exists(), "no container spec written");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_failures_are_restarted_by_the_service_policy() {
    let image = image();
    let svc = name("restart");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "sh -c 'echo attempt; sleep 0.2; exit 4'"
restart_policy = {{ condition = "on-failure", delay = "200ms", max_attempts = 3, window = "1min" }}
environment = {{ docker = {{ image = "{image}" }} }}
"#
    ));
    ok(&tf(&["create", &path]), "create");
    ok(&tf(&["start", &svc]), "start");
    let runs = wait_for(Duration::from_secs(30), Duration::from_millis(300), || {
        let runs: serde_json::Value =
            serde_json::from_slice(&tf(&["history", "-m", &svc, "--json"]).stdout).expect("JSON history");
        let ended: Vec<serde_json::Value> =
            runs["runs"].as_array().into_iter().flatten().filter(|r| r["result"] != "running").cloned().collect();
        if ended.len() >= 3 { Ok(ended) } else { Err(format!("systemd did not restart the container: {runs}")) }
    });
    for run in &runs {
        assert_eq!(run["exit"]["status"], 4, "{runs:?}");
    }
    ok(&tf(&["remove", &svc]), "remove");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_stored_environment_update_reaches_the_container() {
    let image = image();
    let svc = name("envsvc");
    let env = name("env");
    let container = format!("taskflows-{svc}");
    let env_file = |greeting: &str| {
        service_file(&format!(
            "version = 1\n[docker]\nimage = \"{image}\"\nenvironment = {{ GREETING = \"{greeting}\" }}\n"
        ))
    };
    let (_d1, v1) = env_file("first");
    ok(&tf(&["env", "create", &env, &v1]), "env create");
    let (_d2, path) = service_file(&format!(
        "[[service]]\nname = \"{svc}\"\nstart_command = \"sh -c 'echo greeting=$GREETING; sleep 0.5'\"\nenvironment = \"{env}\"\n"
    ));
    ok(&tf(&["create", &path]), "create");
    ok(&tf(&["start", &svc, "--wait"]), "first run");
    let logs = stdout(&tf(&["logs", &svc, "-n", "20"]));
    assert!(logs.contains("greeting=first"), "{logs}");

    // Updating the stored environment rewrites the container spec the unit runs.
    let (_d3, v2) = env_file("second");
    let text = ok(&tf(&["env", "update", &env, &v2]), "env update");
    assert!(text.contains(&format!("updated service {svc}\n")), "{text}");
    let spec = std::fs::read_to_string(spec_file(&container)).unwrap();
    assert!(spec.contains("GREETING=second"), "{spec}");
    ok(&tf(&["start", &svc, "--wait"]), "second run");
    let logs = stdout(&tf(&["logs", &svc, "-n", "20"]));
    assert!(logs.contains("greeting=second"), "{logs}");

    let refused = tf(&["env", "delete", &env]);
    assert_eq!(refused.status.code(), Some(1), "{}", stderr(&refused));
    assert!(stderr(&refused).contains(&svc), "{}", stderr(&refused));
    ok(&tf(&["remove", &svc]), "remove");
    assert!(!spec_file(&container).exists(), "remove deletes the container spec");
    ok(&tf(&["env", "delete", &env]), "env delete");
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_persisted_volume_survives_recreation_and_remove_keeps_it() {
    let image = image();
    let svc = name("vol");
    let container = format!("taskflows-{svc}");
    let context = tempfile::tempdir().expect("temp dir");
    let tag = format!("tf-it-vol-{}:latest", std::process::id());
    // Like a database image: its data lives in an anonymous volume declared by the image.
    std::fs::write(context.path().join("Dockerfile"), format!("FROM {image}\nVOLUME /data\n")).unwrap();
    let file = |word: &str| {
        service_file(&format!(
            r#"
[[service]]
name = "{svc}"
start_command = "sh -c 'test -f /data/first || echo {word} > /data/first; echo data=$(cat /data/first); sleep 0.3'"
environment = {{ docker = {{ image = {{ tag = "{tag}", path = "{}" }}, persisted = true }} }}
"#,
            context.path().display()
        ))
    };
    let run = || {
        let out = tf(&["start", &svc, "--wait"]);
        assert!(stdout(&out).contains("success, exit status 0"), "{}{}", stdout(&out), stderr(&out));
        engine_state(&container).expect("a persisted container stays").0
    };
    let (_d1, v1) = file("one");
    ok(&tf(&["create", &v1]), "create");
    let first = run();
    // A changed configuration re-creates the container; the volume's data is still there.
    let (_d2, v2) = file("two");
    ok(&tf(&["create", &v2]), "create changed");
    assert_ne!(run(), first, "a changed persisted container is re-created");
    let logs = stdout(&tf(&["logs", &svc, "-n", "20"]));
    assert!(logs.contains("data=one") && !logs.contains("data=two"), "the new container sees the old data: {logs}");

    let text = ok(&tf(&["remove", &svc]), "remove");
    let line = text.lines().find(|l| l.starts_with(&format!("removed container {container}; kept its volumes ")));
    let volume = line.and_then(|l| l.split("kept its volumes ").nth(1)).and_then(|l| l.split(' ').next());
    let volume = volume.unwrap_or_else(|| panic!("remove names the kept volume: {text}")).to_owned();
    assert_eq!(engine_state(&container), None);
    with_engine(async |e| {
        e.client().inspect_volume(&volume).await.expect("the persisted container's volume is kept");
        e.client().remove_volume(&volume, None::<bollard::query_parameters::RemoveVolumeOptions>).await.unwrap();
        let _ = e.client().remove_image(&tag, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
    });
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_image_arriving_after_create_keeps_the_persisted_container() {
    let image = image();
    let svc = name("late");
    let container = format!("taskflows-{svc}");
    let repo = format!("tf-it-late-{}", std::process::id());
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "sh -c 'echo late; sleep 0.3'"
environment = {{ docker = {{ image = "{repo}:latest", persisted = true }} }}
"#
    ));
    // Not on the engine at the first create (it would be pulled by the first run).
    ok(&tf(&["create", &path]), "create");
    with_engine(async |e| {
        let options =
            bollard::query_parameters::TagImageOptions { repo: Some(repo.clone()), tag: Some("latest".into()) };
        e.client().tag_image(&image, Some(options)).await.expect("tag");
    });
    let run = || {
        let out = tf(&["start", &svc, "--wait"]);
        assert!(stdout(&out).contains("success, exit status 0"), "{}{}", stdout(&out), stderr(&out));
        engine_state(&container).expect("a persisted container stays").0
    };
    let first = run();
    // The image's id is known now: the spec records it, the container is kept all the same.
    let text = ok(&tf(&["create", &path]), "create again");
    assert!(text.contains("containers/"), "the spec now has the image id: {text}");
    assert_eq!(run(), first, "the persisted container is kept");
    ok(&tf(&["remove", &svc]), "remove");
    with_engine(async |e| {
        let _ = e
            .client()
            .remove_image(&format!("{repo}:latest"), None::<bollard::query_parameters::RemoveImageOptions>, None)
            .await;
    });
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_leaves_a_container_it_did_not_create_alone() {
    leaves_alone("foreign", &[], "it has no taskflows.service label: not created by taskflows");
}

/// The same service's container name in the other scope's manager (both scopes share the test
/// engine): neither run, stopped nor removed by this one.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_leaves_another_scopes_container_alone() {
    let other = if std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user") { "system" } else { "user" };
    let svc = name("scoped");
    leaves_alone(
        "scoped",
        &[("taskflows.service", &svc), ("taskflows.scope", other), ("taskflows.uid", "0")],
        &format!("its labels say service \"{svc}\", scope {other}, uid 0"),
    );
}

/// A running container named as service `what`'s, with `labels`, that the service must not touch:
/// its run fails saying `reason`, and `tf remove` keeps it.
fn leaves_alone(what: &str, labels: &[(&str, &str)], reason: &str) {
    let image = image();
    let svc = name(what);
    let container = format!("tf-it-{what}-{}", std::process::id());
    // The user's own container, with the name the service asks for.
    let id = with_engine(async |e| {
        let body = bollard::models::ContainerCreateBody {
            image: Some(image.clone()),
            cmd: Some(vec!["sleep".into(), "600".into()]),
            labels: Some(labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()),
            ..Default::default()
        };
        let options =
            bollard::query_parameters::CreateContainerOptions { name: Some(container.clone()), ..Default::default() };
        let id = e.client().create_container(Some(options), body).await.expect("create").id;
        e.client().start_container(&container, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();
        id
    });
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "echo never"
environment = {{ docker = {{ image = "{image}", name = "{container}" }} }}
"#
    ));
    ok(&tf(&["create", &path]), "create");
    let out = tf(&["start", &svc, "--wait"]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let logs = stdout(&tf(&["logs", &svc, "-n", "20"]));
    assert!(logs.contains(&format!("container {container} exists but is not service {svc}'s ({reason})")), "{logs}");
    assert_eq!(engine_state(&container), Some((id.clone(), true)), "neither replaced nor stopped");
    let text = ok(&tf(&["remove", &svc]), "remove");
    assert!(text.contains(&format!("kept container {container}: ")), "{text}");
    assert!(!spec_file(&container).exists());
    assert_eq!(engine_state(&container), Some((id, true)), "remove leaves it alone too");
    with_engine(async |e| {
        let options = bollard::query_parameters::RemoveContainerOptions { force: true, ..Default::default() };
        e.client().remove_container(&container, Some(options)).await.unwrap();
    });
}

/// With the engine down, `tf remove --force` removes the units and says which containers may be
/// left in the engine.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_remove_force_with_the_engine_down_removes_the_units() {
    let image = image();
    let svc = name("rmforce");
    let container = format!("taskflows-{svc}");
    let (_dir, path) = service_file(&format!(
        "[[service]]\nname = \"{svc}\"\nstart_command = \"echo hi\"\nenvironment = {{ docker = {{ image = \"{image}\" }} }}\n"
    ));
    ok(&tf(&["create", &path]), "create");
    let spec = std::fs::read_to_string(spec_file(&container)).unwrap();
    let mut down: serde_json::Value = serde_json::from_str(&spec).unwrap();
    down["docker_host"] = "unix:///run/no-such-docker.sock".into();
    std::fs::write(spec_file(&container), down.to_string()).unwrap();
    let text = ok(&tf(&["remove", &svc, "--force"]), "remove --force");
    assert!(
        text.contains(&format!("left container {container} in the engine (cannot reach the Docker engine at unix:///run/no-such-docker.sock: "))
            && text.contains(&format!("`docker rm -f {container}` removes it once the engine answers")),
        "{text}"
    );
    assert!(text.contains(&format!("removed taskflows-{svc}.service")), "{text}");
    assert_eq!(tf(&["list", &svc]).status.code(), Some(4), "the units are gone");
    assert!(!spec_file(&container).exists());
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_remove_with_the_engine_down_can_be_retried() {
    let image = image();
    let svc = name("rmdown");
    let container = format!("taskflows-{svc}");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "echo hi"
environment = {{ docker = {{ image = "{image}" }} }}
"#
    ));
    ok(&tf(&["create", &path]), "create");
    // The engine the container was created on stops answering.
    let spec = std::fs::read_to_string(spec_file(&container)).unwrap();
    let mut down: serde_json::Value = serde_json::from_str(&spec).unwrap();
    down["docker_host"] = "unix:///run/no-such-docker.sock".into();
    std::fs::write(spec_file(&container), down.to_string()).unwrap();
    let out = tf(&["remove", &svc]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    // (A line saying it waited for another test's tf may come first.)
    let error = stderr(&out);
    assert!(
        error
            .lines()
            .any(|l| l.starts_with("error: cannot reach the Docker engine at unix:///run/no-such-docker.sock: ")),
        "{error}"
    );
    assert!(tf(&["list", &svc]).status.success(), "the service is still there to retry");
    // It answers again: the retry removes everything.
    std::fs::write(spec_file(&container), spec).unwrap();
    let text = ok(&tf(&["remove", &svc]), "remove again");
    assert!(text.contains(&format!("removed container {container}")), "{text}");
    assert!(!spec_file(&container).exists(), "the container spec is gone");
    assert_eq!(tf(&["list", &svc]).status.code(), Some(4));
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_build_context_honours_dockerignore() {
    let image = image();
    let svc = name("ignore");
    let context = tempfile::tempdir().expect("temp dir");
    let tag = format!("tf-it-ignore-{}:latest", std::process::id());
    let write = |rel: &str, text: &str| {
        let path = context.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write(
        "Dockerfile",
        &format!("FROM {image}\nCOPY . /ctx\nCMD find /ctx -type f | sort | tr '\\n' ' '; echo; sleep 0.3\n"),
    );
    write(".dockerignore", "secret.env\nlogs\n!logs/keep.log\n");
    write("app.sh", "echo app\n");
    write("secret.env", "TOKEN=hunter2\n");
    write("logs/a.log", "noise\n");
    write("logs/keep.log", "kept\n");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
environment = {{ docker = {{ image = {{ tag = "{tag}", path = "{}" }} }} }}
"#,
        context.path().display()
    ));
    ok(&tf(&["create", &path]), "create");
    let out = tf(&["start", &svc, "--wait"]);
    assert!(stdout(&out).contains("success, exit status 0"), "{}{}", stdout(&out), stderr(&out));
    let logs = stdout(&tf(&["logs", &svc, "-n", "20"]));
    assert!(logs.contains("/ctx/.dockerignore /ctx/Dockerfile /ctx/app.sh /ctx/logs/keep.log"), "{logs}");
    assert!(!logs.contains("secret.env") && !logs.contains("a.log"), "excluded files stay out: {logs}");
    ok(&tf(&["remove", &svc]), "remove");
    with_engine(async |e| {
        let _ = e.client().remove_image(&tag, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
    });
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn docker_create_the_manager_refuses_writes_no_container_spec() {
    let image = image();
    let svc = name("refused");
    let container = format!("taskflows-{svc}");
    let file = |extra: &str| {
        service_file(&format!(
            "[[service]]\nname = \"{svc}\"\nstart_command = \"echo hi\"\n{extra}environment = {{ docker = {{ image = \"{image}\", labels = {{ v = \"{}\" }} }} }}\n",
            if extra.is_empty() { "1" } else { "2" }
        ))
    };
    let (_d1, v1) = file("");
    ok(&tf(&["create", &v1]), "create");
    let before = std::fs::read_to_string(spec_file(&container)).unwrap();
    // systemd 252 has no RestartSteps=: refused, and the changed container spec is not written.
    let (_d2, v2) = file("restart_policy = { condition = \"on-failure\", steps = 3, max_delay = \"1min\" }\n");
    let out = tf(&["create", &v2]);
    assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
    assert!(stderr(&out).contains(&format!("service[{svc}].restart_policy: steps and max_delay")), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(spec_file(&container)).unwrap(), before, "the container spec is unchanged");
    ok(&tf(&["remove", &svc]), "remove");
}

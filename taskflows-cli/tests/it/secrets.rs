//! Secrets stay secret: a unique canary in every place a secret can go (a service's `env`, its
//! `env_file`, a container's `environment`, a stored environment, the monitor's Slack token, SMTP
//! password and webhook URL — with destinations that fail), then every command is run, failures,
//! `--dry-run` and `--json` included, and nothing else may show a canary: no command's output,
//! no world-readable file taskflows wrote, no `systemctl show` (as `nobody`, for system units),
//! no `/proc/*/cmdline` while the service runs, no line of the journal.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use crate::{service_file, stderr, stdout, tf_env};

fn user() -> bool {
    std::env::var("TF_TEST_SCOPE").as_deref() == Ok("user")
}

/// Whether others can reach and read `path`: it is readable by others, and every folder above
/// it searchable by others.
fn public(path: &Path) -> bool {
    let mode = |p: &Path| std::fs::metadata(p).map(|m| m.mode()).unwrap_or(0);
    mode(path) & 0o004 != 0 && path.ancestors().skip(1).all(|dir| mode(dir) & 0o001 != 0)
}

/// Every file under `dir` that others may read and that holds one of `canaries`.
fn readable_hits(dir: &Path, canaries: &[String], hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else { continue };
        if meta.is_dir() {
            readable_hits(&path, canaries, hits);
        } else if meta.is_file() && public(&path) {
            let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap_or_default()).into_owned();
            hits.extend(
                canaries.iter().filter(|c| text.contains(c.as_str())).map(|c| format!("{}: {c}", path.display())),
            );
        }
    }
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn secret_canaries_show_up_nowhere_public() {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
    let pid = std::process::id();
    let canary = |what: &str| format!("canary-{what}-{pid}-x9q");
    let canaries: Vec<String> =
        ["env", "envfile", "docker", "stored", "slack", "smtp", "webhook"].iter().map(|w| canary(w)).collect();
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let env_file = files.path().join("app.env");
    std::fs::write(&env_file, format!("FROM_FILE={}\n", canary("envfile"))).unwrap();
    std::fs::set_permissions(&env_file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let stored = files.path().join("stored.toml");
    let image = std::env::var("TF_TEST_DOCKER_IMAGE").unwrap_or_else(|_| "busybox".into());
    std::fs::write(
        &stored,
        format!("[docker]\nimage = \"{image}\"\nenvironment = {{ STORED = \"{}\" }}\n", canary("stored")),
    )
    .unwrap();
    let data_dir = data.path().to_str().unwrap().to_owned();
    let webhook = format!("http://127.0.0.1:9/{}", canary("webhook"));
    let env: Vec<(&str, &str)> = vec![
        ("TASKFLOWS_DATA_DIR", &data_dir),
        ("SLACK_BOT_TOKEN", Box::leak(canary("slack").into_boxed_str())),
        ("TF_SMTP_PASSWORD", Box::leak(canary("smtp").into_boxed_str())),
    ];
    let svc = format!("sec-{pid}");
    let (_dir, path) = service_file(&format!(
        r#"
[[service]]
name = "{svc}"
start_command = "/bin/sleep 3"
env = {{ TOKEN = "{}" }}
env_file = "{}"
start_schedule = "*-*-* 04:00:00 UTC"

[[service]]
name = "{svc}-box"
start_command = "echo boxed"
environment = {{ docker = {{ image = "{image}", name = "{svc}-box", environment = {{ DOCKER_SECRET = "{}" }} }} }}

[[service]]
name = "{svc}-stored"
start_command = "echo stored"
environment = "{svc}-env"
"#,
        canary("env"),
        env_file.display(),
        canary("docker"),
    ));
    // The inputs are the user's own files, private as a user keeps secrets: only what taskflows
    // writes is under test.
    for dir in [_dir.path(), files.path()] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let mut run = |args: &[&str]| {
        let out = tf_env(args, &env);
        outputs.push((args.join(" "), out.clone()));
        out
    };
    let stored_path = stored.to_str().unwrap().to_owned();
    run(&["env", "create", &format!("{svc}-env"), &stored_path]);
    run(&["env", "show", &format!("{svc}-env")]);
    run(&["env", "show", &format!("{svc}-env"), "--json"]);
    run(&["env", "list", "--json"]);
    run(&["create", &path, "--dry-run"]);
    run(&["create", &path, "--dry-run", "--json"]);
    let created = run(&["create", &path, "--json"]);
    assert!(created.status.success(), "{}{}", stdout(&created), stderr(&created));
    run(&["show", &format!("{svc}*")]);
    run(&["show", &format!("{svc}*"), "--json"]);
    run(&["status", "--json"]);
    run(&["list", "--json"]);
    let start = run(&["start", &svc]);
    assert!(start.status.success(), "{}", stderr(&start));
    // While the service runs: no process's command line has a canary.
    let mut hits: Vec<String> = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).into_owned();
            hits.extend(
                canaries
                    .iter()
                    .filter(|c| text.contains(c.as_str()))
                    .map(|c| format!("/proc/{:?}/cmdline: {c}", entry.file_name())),
            );
        }
    }
    if !user() {
        let unit = format!("taskflows-{svc}.service");
        let show = std::process::Command::new("runuser")
            .args(["-u", "nobody", "--", "systemctl", "show", &unit])
            .output()
            .expect("runuser runs");
        let text = stdout(&show);
        assert!(text.contains("EnvironmentFiles="), "nobody reads the unit: {}{}", text, stderr(&show));
        hits.extend(
            canaries.iter().filter(|c| text.contains(c.as_str())).map(|c| format!("systemctl show as nobody: {c}")),
        );
    }
    run(&["start", &format!("{svc}-box"), "--wait"]);
    run(&["logs", &svc, "--json"]);
    run(&["history", "--json"]);
    // Failing destinations: their errors must not carry the token, password or URL.
    run(&["monitor", "check", &format!("{svc}*"), "--json", "--webhook", &webhook, "--slack-channel", "#ops"]);
    run(&[
        "monitor",
        "check",
        &format!("{svc}*"),
        "--email-to",
        "ops@example.com",
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        "9",
        "--email-from",
        "tf@example.com",
    ]);
    run(&["monitor", "install", "--webhook", &webhook, "--slack-channel", "#ops", "--json"]);
    run(&["show", "tf-monitor", "--json"]);
    run(&["check", &svc, "--json"]);
    run(&["remove", "tf-monitor"]);
    run(&["create", "/no/such/file.toml"]);
    run(&["remove", &format!("{svc}*"), "--json"]);
    run(&["env", "delete", &format!("{svc}-env")]);

    for (command, out) in &outputs {
        for stream in [stdout(out), stderr(out)] {
            hits.extend(canaries.iter().filter(|c| stream.contains(c.as_str())).map(|c| format!("tf {command}: {c}")));
        }
    }
    let unit_dir =
        if user() { PathBuf::from("/root/.config/systemd/user") } else { PathBuf::from("/etc/systemd/system") };
    for dir in [unit_dir.as_path(), data.path(), Path::new("/run/systemd"), Path::new("/tmp")] {
        readable_hits(dir, &canaries, &mut hits);
    }
    let journal = std::process::Command::new("journalctl")
        .args(["--no-pager", "-o", "json", "--since", "-10min"])
        .output()
        .unwrap();
    let journal = stdout(&journal);
    hits.extend(canaries.iter().filter(|c| journal.contains(c.as_str())).map(|c| format!("the journal: {c}")));
    crate::figure(&format!(
        "secrets: {} canaries, {} commands, {} public hits",
        canaries.len(),
        outputs.len(),
        hits.len()
    ));
    assert!(hits.is_empty(), "secrets found in public places:\n{}", hits.join("\n"));
}

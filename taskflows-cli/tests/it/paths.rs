//! The path policy's ownership rules, inside a real systemd (as root, both scopes): a system
//! unit's env file and every folder above it are root's and not writable by group or others;
//! a user unit's are not held to that.

use std::os::unix::fs::PermissionsExt as _;

use std::process::Command;

use crate::{service_file, stderr, stdout, tf};

fn system_scope() -> bool {
    assert!(std::env::var_os("TF_IN_SANDBOX").is_some(), "run with `cargo xtask test-systemd`");
    std::env::var("TF_TEST_SCOPE").as_deref() != Ok("user")
}

fn chmod(path: &std::path::Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn a_system_units_env_file_must_be_roots_alone() {
    let system = system_scope();
    let svc = format!("paths-env-{}", std::process::id());
    // A folder of its own under /tmp (root's, sticky: only root may replace root's entries).
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("conf");
    std::fs::create_dir(&folder).unwrap();
    let env = folder.join("app.env");
    std::fs::write(&env, "GREETING=hello\n").unwrap();
    let (_d, path) = service_file(&format!(
        "[[service]]\nname = \"{svc}\"\nstart_command = \"/bin/sh -c 'echo $GREETING'\"\nenv_file = \"{}\"\n",
        env.display()
    ));

    // A group-writable folder above it.
    chmod(&folder, 0o775);
    chmod(&env, 0o644);
    let out = tf(&["create", &path]);
    if system {
        assert_eq!(out.status.code(), Some(3), "{}{}", stdout(&out), stderr(&out));
        assert!(
            stderr(&out).starts_with(&format!(
                "error: service[{svc}].env_file: {} is writable by group or others (mode 0775); a system unit's env_file and every folder above it must be owned by root and not writable by group or others\nhint: chown root:root {0} && chmod go-w {0}\n",
                folder.display()
            )),
            "{}",
            stderr(&out)
        );
        assert!(!std::path::Path::new(&format!("/etc/systemd/system/taskflows-{svc}.service")).exists());
        // The file itself, owned by someone else.
        chmod(&folder, 0o755);
        std::os::unix::fs::chown(&env, Some(65534), None).unwrap();
        let out = tf(&["create", &path]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(&format!("{} is owned by uid 65534", env.display())), "{}", stderr(&out));
        std::os::unix::fs::chown(&env, Some(0), None).unwrap();
    } else {
        assert!(out.status.success(), "a user unit's files are the user's: {}", stderr(&out));
    }

    // Root's 0644 file in a 0755 folder passes, and the unit reads it.
    chmod(&folder, 0o755);
    let out = tf(&["create", &path]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = tf(&["start", &svc, "--wait"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = tf(&["remove", &svc]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn a_system_unit_never_runs_a_program_another_user_can_replace() {
    let system = system_scope();
    let svc = format!("paths-runner-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let runner = bin.join("micromamba");
    std::fs::write(&runner, "#!/bin/sh\nexit 0\n").unwrap();
    chmod(&runner, 0o755);
    chmod(&bin, 0o777);
    let (_d, path) = service_file(&format!(
        "[[service]]\nname = \"{svc}\"\nstart_command = \"/bin/true\"\nenvironment = {{ venv = {{ name = \"ml\", runner = \"{}\" }} }}\n",
        runner.display()
    ));
    let out = tf(&["create", &path, "--dry-run"]);
    if system {
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.starts_with(&format!(
                "error: service[{svc}].environment.venv.runner: {} is writable by group or others (mode 0777)",
                bin.display()
            )),
            "{err}"
        );
        assert!(err.contains("hint: install conda/mamba/micromamba where only root can replace it"), "{err}");
    } else {
        assert!(out.status.success(), "{}", stderr(&out));
    }
    chmod(&bin, 0o755);
    let out = tf(&["create", &path, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A program need not be under the allowed folders: a link from one to /bin/true is fine.
    std::fs::remove_file(&runner).unwrap();
    std::os::unix::fs::symlink("/bin/true", &runner).unwrap();
    let out = tf(&["create", &path, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Generated paths for `env_file` and `working_directory`: inside the one allowed root, outside
/// it, through links (to a file, to a folder, chained, relative, dangling, looping), with `..`,
/// to a FIFO, a device, past `PATH_MAX` and `NAME_MAX`. `tf create --dry-run` (which applies the
/// path policy) must accept exactly the paths that stay in the root and are the right kind of
/// file, and answer every one in bounded time. The figure: cases, escapes, hangs, peak RSS.
#[test]
#[ignore = "needs real systemd: cargo xtask test-systemd"]
fn generated_paths_never_escape_the_roots() {
    use std::os::unix::fs::symlink;
    let _ = system_scope();
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    for d in [&root, &outside, &root.join("sub"), &outside.join("sub")] {
        std::fs::create_dir_all(d).unwrap();
        chmod(d, 0o755);
    }
    for d in [&root, &outside] {
        std::fs::write(d.join("app.env"), "A=1\n").unwrap();
        chmod(&d.join("app.env"), 0o600);
    }
    let r = |p: &str| root.join(p);
    symlink(r("app.env"), r("link-in")).unwrap();
    symlink(outside.join("app.env"), r("link-out")).unwrap();
    symlink(r("link-out"), r("chain-out")).unwrap();
    symlink(r("link-in"), r("chain-in")).unwrap();
    symlink("../outside/app.env", r("relative-out")).unwrap();
    symlink("sub/../app.env", r("relative-in")).unwrap();
    symlink(&outside, r("dir-out")).unwrap();
    symlink(r("sub"), r("dir-in")).unwrap();
    symlink(r("nowhere"), r("dangling")).unwrap();
    symlink(r("loop-b"), r("loop-a")).unwrap();
    symlink(r("loop-a"), r("loop-b")).unwrap();
    symlink("/dev/zero", r("zero")).unwrap();
    symlink("/", r("slash")).unwrap();
    std::fs::copy(r("app.env"), r("sub/app.env")).unwrap();
    chmod(&r("sub/app.env"), 0o600);
    let fifo = r("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());

    let rs = root.display().to_string();
    let os = outside.display().to_string();
    let long_name = "n".repeat(256);
    let long_path = format!("{rs}/{}", "d/".repeat(2100));
    let mut paths: Vec<String> = [
        "app.env",
        "link-in",
        "chain-in",
        "relative-in",
        "sub/app.env",
        "dir-in/app.env",
        "link-out",
        "chain-out",
        "relative-out",
        "dir-out/app.env",
        "dangling",
        "loop-a",
        "zero",
        "fifo",
        "slash/etc/passwd",
        "sub/../app.env",
        "sub/../../outside/app.env",
        "./app.env",
        "sub//app.env",
        "sub",
        "dir-in",
        "dir-out",
        "",
        ".",
    ]
    .iter()
    .map(|p| if p.is_empty() { rs.clone() } else { format!("{rs}/{p}") })
    .collect();
    paths.extend([
        format!("{os}/app.env"),
        os.clone(),
        "/etc/passwd".to_owned(),
        "/dev/zero".to_owned(),
        "/proc/self/environ".to_owned(),
        format!("{rs}/{long_name}"),
        long_path,
        format!("{rs}/app.env/"),
        "relative/app.env".to_owned(),
    ]);
    let in_root = |p: &str, want_dir: bool| -> bool {
        // What a correct policy accepts: absolute, no `..` component, resolving inside the root
        // to the right kind of file — the path as tf writes it into the unit, with `.`, repeated
        // and trailing `/` normalized away (as the service file format documents).
        if p.split('/').any(|c| c == "..") || !p.starts_with('/') {
            return false;
        }
        let normalized: String = p.split('/').filter(|c| !c.is_empty() && *c != ".").map(|c| format!("/{c}")).collect();
        let Ok(real) = std::fs::canonicalize(&normalized) else { return false };
        let Ok(meta) = std::fs::metadata(&real) else { return false };
        let root_real = std::fs::canonicalize(&root).unwrap();
        real.starts_with(&root_real) && if want_dir { meta.is_dir() } else { meta.is_file() && meta.len() <= 1 << 20 }
    };

    let (mut cases, mut escapes, mut hangs, mut wrong, mut peak_kib) = (0, 0, 0, Vec::new(), 0u64);
    for (field, want_dir) in [("env_file", false), ("working_directory", true)] {
        for p in &paths {
            cases += 1;
            let (_d, file) = service_file(&format!(
                "[[service]]\nname = \"paths-gen\"\nstart_command = \"/bin/true\"\n{field} = {}\n",
                serde_json::to_string(p).unwrap()
            ));
            let mut child = Command::new(env!("CARGO_BIN_EXE_tf"))
                .args([if system_scope() { "--system" } else { "--user" }, "create", &file, "--dry-run"])
                .env("TASKFLOWS_ALLOWED_PATHS", &root)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let status = loop {
                if let Ok(Some(s)) = child.try_wait() {
                    break Some(s);
                }
                // Sampled until it exits: a lower bound of its peak.
                let hwm = std::fs::read_to_string(format!("/proc/{}/status", child.id())).ok().and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix(" kB")?.trim().parse::<u64>().ok())
                });
                peak_kib = peak_kib.max(hwm.unwrap_or(0));
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            };
            let Some(status) = status else {
                hangs += 1;
                continue;
            };
            let accepted = status.success();
            let expected = in_root(p, want_dir);
            if accepted && !expected {
                escapes += 1;
            }
            if accepted != expected {
                wrong.push(format!("{field} = {p:?}: accepted {accepted}, expected {expected} (exit {status})"));
            }
        }
    }
    crate::figure(&format!(
        "paths: {cases} cases, {escapes} escapes, {hangs} hangs, max RSS {:.1} MiB",
        peak_kib as f64 / 1024.0
    ));
    assert_eq!((escapes, hangs), (0, 0), "{wrong:#?}");
    assert!(wrong.is_empty(), "{wrong:#?}");
}

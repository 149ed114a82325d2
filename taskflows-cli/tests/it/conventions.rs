//! The conventions of `tf`'s command line, no systemd needed: shell completion of installed
//! services and stored environments in a real bash, `--version`, man pages.

use std::path::Path;
use std::process::Command;

use crate::{ok, stderr, stdout};

/// Complete the last word of `line` (words after `tf`) in bash, with `tf completions bash`
/// sourced, the unit folder and the data folder under `root`.
fn complete_in_bash(root: &Path, words: &[&str]) -> Vec<String> {
    let tf = env!("CARGO_BIN_EXE_tf");
    let mut all = vec!["tf"];
    all.extend(words);
    let quoted: Vec<String> = all.iter().map(|w| format!("'{w}'")).collect();
    let current = words.last().copied().unwrap_or("");
    let previous = all[all.len().saturating_sub(2)];
    let script = format!(
        "source <('{tf}' completions bash) || exit 9
COMP_WORDS=({words})
COMP_CWORD={cword}
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
COMP_TYPE=9
_clap_complete_tf tf '{current}' '{previous}'
printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = quoted.join(" "),
        cword = all.len() - 1,
        line = all.join(" "),
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", root)
        .env("XDG_CONFIG_HOME", root.join("config"))
        .env("TASKFLOWS_DATA_DIR", root.join("data"))
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "bash: {}{}", stdout(&out), stderr(&out));
    stdout(&out).lines().map(|l| l.trim_end().to_owned()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn bash_completes_installed_services_and_stored_environments() {
    let root = tempfile::tempdir().unwrap();
    let units = root.path().join("config/systemd/user");
    std::fs::create_dir_all(&units).unwrap();
    for unit in [
        "taskflows-nightly-report.service",
        "taskflows-nightly-report.timer",
        "stop-taskflows-nightly-report.timer",
        "taskflows-nightly-sync.service",
        "taskflows-web.service",
        "other-nightly.service",
    ] {
        std::fs::write(units.join(unit), "[Unit]\n").unwrap();
    }
    let envs = root.path().join("data/environments");
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::write(envs.join("ml-env.toml"), "version = 1\n").unwrap();
    std::fs::write(envs.join("web.toml"), "version = 1\n").unwrap();

    let started = std::time::Instant::now();
    assert_eq!(complete_in_bash(root.path(), &["--user", "stop", "nigh"]), ["nightly-report", "nightly-sync"]);
    let took = started.elapsed();
    assert_eq!(complete_in_bash(root.path(), &["--user", "logs", "w"]), ["web"]);
    assert_eq!(complete_in_bash(root.path(), &["--user", "status", "-m", "nightly-r"]), ["nightly-report"]);
    assert_eq!(complete_in_bash(root.path(), &["--user", "env", "show", "m"]), ["ml-env"]);
    // Commands and options come from the command definition.
    assert_eq!(complete_in_bash(root.path(), &["--user", "res"]), ["restart"]);
    assert!(complete_in_bash(root.path(), &["--user", "logs", "web", "--si"]).contains(&"--since".to_owned()));
    crate::figure(&format!("completion: a service name in bash in {} ms", took.as_millis()));
}

#[test]
fn version_names_the_crate_version_and_the_commit_when_built_from_git() {
    let out = Command::new(env!("CARGO_BIN_EXE_tf")).arg("--version").output().expect("tf runs");
    let text = ok(&out, "tf --version");
    let version = text.strip_prefix("tf ").expect("tf VERSION").trim_end();
    assert!(version.starts_with(env!("CARGO_PKG_VERSION")), "{text}");
}

#[test]
fn man_pages_cover_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tf")).arg("man-pages").arg(dir.path()).output().expect("tf runs");
    ok(&out, "tf man-pages");
    for page in ["tf.1", "tf-logs.1", "tf-stop.1", "tf-env-create.1", "tf-api-serve.1"] {
        let text = std::fs::read_to_string(dir.path().join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie \\n(.g .ds Aq") || text.contains(".TH"), "{page}: {text}");
    }
    let logs = std::fs::read_to_string(dir.path().join("tf-logs.1")).unwrap();
    assert!(logs.contains("\\-\\-since"), "{logs}");
    assert!(!dir.path().join("tf-container.1").exists(), "hidden commands have no page");
}

#[test]
fn colour_follows_color_and_no_color() {
    // A table's header is bold when coloured; `tf env list` needs no systemd.
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str], no_color: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tf"));
        cmd.arg("--user").args(args).env("TASKFLOWS_DATA_DIR", data.path()).env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        stdout(&cmd.output().expect("tf runs"))
    };
    std::fs::create_dir_all(data.path().join("environments")).unwrap();
    std::fs::write(data.path().join("environments/ml.toml"), "version = 1\n[venv]\nname = \"ml\"\n").unwrap();
    assert!(run(&["--color", "always", "env", "list"], Some("1")).contains("\x1b["), "always wins over NO_COLOR");
    assert!(!run(&["env", "list"], None).contains("\x1b["), "not a terminal: no colour");
    assert!(!run(&["--color", "never", "env", "list"], None).contains("\x1b["));
}

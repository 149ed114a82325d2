//! `tf`'s command line as users read it: every `--help` page (snapshots), and the conventions
//! every command keeps.

use clap::CommandFactory as _;

use crate::Cli;

/// Every visible command, depth first, with its path (`tf env create`).
fn commands() -> Vec<(String, clap::Command)> {
    fn walk(path: String, cmd: &clap::Command, out: &mut Vec<(String, clap::Command)>) {
        out.push((path.clone(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            walk(format!("{path} {}", sub.get_name()), sub, out);
        }
    }
    let mut cmd = Cli::command().term_width(100);
    cmd.build();
    let mut out = Vec::new();
    walk("tf".to_owned(), &cmd, &mut out);
    out
}

#[test]
fn help_pages() {
    for (path, mut cmd) in commands() {
        let page = cmd.render_long_help().to_string();
        insta::assert_snapshot!(format!("help-{}", path.replace(' ', "-")), page, &format!("{path} --help"));
    }
}

#[test]
fn every_json_flag_and_pattern_says_what_it_is() {
    let mut missing = Vec::new();
    for (path, cmd) in commands() {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            let documented = arg.get_help().is_some() || arg.get_long_help().is_some();
            if matches!(id, "json" | "pattern" | "name") && !documented {
                missing.push(format!("{path} {id}"));
            }
        }
    }
    assert!(missing.is_empty(), "arguments without help: {missing:?}");
}

#[test]
fn pattern_commands_complete_service_names_and_show_examples() {
    let cmd = Cli::command();
    for name in
        ["list", "status", "logs", "show", "start", "stop", "restart", "enable", "disable", "remove", "next", "history"]
    {
        let sub = cmd.find_subcommand(name).expect(name);
        let pattern = sub.get_arguments().find(|a| matches!(a.get_id().as_str(), "pattern" | "name")).expect(name);
        assert!(
            pattern.get::<clap_complete::engine::ArgValueCompleter>().is_some(),
            "{name}: its PATTERN completes installed services"
        );
    }
}

#[test]
fn the_version_is_the_crates_and_the_commit_when_known() {
    let version = Cli::command().get_version().expect("a version").to_owned();
    assert!(version.starts_with(env!("CARGO_PKG_VERSION")), "{version}");
    if let Some(rest) = version.strip_prefix(concat!(env!("CARGO_PKG_VERSION"), " (git ")) {
        let hash = rest.strip_suffix(')').expect("closed");
        assert!(hash.len() == 12 && hash.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");
    } else {
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
    }
}

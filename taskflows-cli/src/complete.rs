//! Shell completion of installed service names and stored environment names, through
//! clap_complete's dynamic completion (`COMPLETE=bash tf` prints the shell's registration; the
//! shell then calls `tf` back with `COMPLETE` set and the words typed so far).
//!
//! Completion reads folders only (the unit folder of the scope, the data folder's
//! `environments/`), never systemd: it answers instantly, even with systemd unreachable.

use std::ffi::OsStr;

use clap_complete::engine::{ArgValueCompleter, CompletionCandidate};
use clap_complete::env::Shells;
use taskflows_core::Scope;

/// Completes a PATTERN with the installed services' names.
pub(crate) fn services() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let dir = taskflows_systemd::default_unit_dir(scope());
        candidates(current, names_in(&dir, "taskflows-", ".service"))
    })
}

/// Completes a stored environment's name.
pub(crate) fn environments() -> ArgValueCompleter {
    ArgValueCompleter::new(|current: &OsStr| {
        let dir = taskflows_systemd::host::data_dir(scope()).join("environments");
        candidates(current, names_in(&dir, "", ".toml"))
    })
}

/// The scope the command line being completed names (`--user`/`--system`), else the default.
fn scope() -> Scope {
    let args: Vec<String> = std::env::args().collect();
    crate::host::scope(args.iter().any(|a| a == "--user"), args.iter().any(|a| a == "--system"))
}

/// The names of the files in `dir` with that prefix and suffix, sorted.
fn names_in(dir: &std::path::Path, prefix: &str, suffix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| Some(f.strip_prefix(prefix)?.strip_suffix(suffix)?.to_owned()))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names
}

fn candidates(current: &OsStr, names: Vec<String>) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    names.into_iter().filter(|n| n.starts_with(current.as_ref())).map(CompletionCandidate::new).collect()
}

/// `tf completions SHELL`: the script `COMPLETE=SHELL tf` prints, calling this `tf` back.
pub(crate) fn registration(shell: clap_complete::Shell) -> Result<(), crate::Failure> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| crate::Failure::new(taskflows_api::exit::USAGE, format!("shell: {name} has no completion")))?;
    let program = std::env::args_os().next().map_or_else(|| "tf".into(), |p| p.to_string_lossy().into_owned());
    let mut script = Vec::new();
    completer.write_registration("COMPLETE", "tf", "tf", &program, &mut script)?;
    crate::print(&script)
}

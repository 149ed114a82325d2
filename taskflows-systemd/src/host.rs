//! Where taskflows' files and programs are on this host, as every front end finds them: the
//! data folder, the `tf` binary, a conda runner.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use taskflows_core::Scope;

/// taskflows' data folder: `TASKFLOWS_DATA_DIR`, else /var/lib/taskflows (system) or
/// ~/.local/share/taskflows (user).
pub fn data_dir(scope: Scope) -> PathBuf {
    data_dir_from(scope, std::env::var_os("TASKFLOWS_DATA_DIR"), std::env::var_os("HOME"))
}

pub(crate) fn data_dir_from(scope: Scope, data_dir: Option<OsString>, home: Option<OsString>) -> PathBuf {
    if let Some(dir) = data_dir.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match (scope, home) {
        (Scope::User, Some(home)) => PathBuf::from(home).join(".local/share/taskflows"),
        _ => PathBuf::from("/var/lib/taskflows"),
    }
}

/// The `tf` binary units run (`tf check --wait`, `tf container run`): `TASKFLOWS_BIN` (or its
/// alias from the Python `tf`, `TF_BIN`) when set, else the first executable `tf` in an absolute
/// folder of `PATH`. The error says why there is none.
pub fn find_tf() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH");
    match std::env::var_os("TASKFLOWS_BIN").filter(|b| !b.is_empty()) {
        Some(bin) => find_tf_in(Some(bin), path).map_err(|e| e.replacen("TF_BIN=", "TASKFLOWS_BIN=", 1)),
        None => find_tf_in(std::env::var_os("TF_BIN"), path),
    }
}

pub(crate) fn find_tf_in(tf_bin: Option<OsString>, path: Option<OsString>) -> Result<PathBuf, String> {
    if let Some(bin) = tf_bin.filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return if !bin.is_absolute() {
            Err(format!("TF_BIN={} is not an absolute path", bin.display()))
        } else if !is_executable(&bin) {
            Err(format!("TF_BIN={} is not an executable file", bin.display()))
        } else {
            Ok(bin)
        };
    }
    std::env::split_paths(&path.unwrap_or_default())
        .filter(|d| d.is_absolute())
        .map(|d| d.join("tf"))
        .find(|p| is_executable(p))
        .ok_or_else(|| "no tf on PATH and TF_BIN is not set".to_owned())
}

/// Find conda, mamba or micromamba on PATH or in the usual install folders.
pub fn conda_runner() -> Option<PathBuf> {
    const NAMES: [&str; 3] = ["micromamba", "mamba", "conda"];
    let path = std::env::var_os("PATH").unwrap_or_default();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(home) = &home {
        for d in ["miniforge3", "mambaforge", "miniconda3", "anaconda3", "micromamba", ".local"] {
            dirs.push(home.join(d).join("bin"));
        }
    }
    dirs.extend(["/opt/conda/bin", "/opt/miniforge3/bin", "/opt/miniconda3/bin"].map(PathBuf::from));
    NAMES.iter().flat_map(|name| dirs.iter().map(move |d| d.join(name))).find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn the_data_folder_is_the_variable_else_the_scopes_default() {
        let home = Some(OsString::from("/home/ann"));
        assert_eq!(data_dir_from(Scope::User, None, home.clone()), Path::new("/home/ann/.local/share/taskflows"));
        assert_eq!(data_dir_from(Scope::System, None, home.clone()), Path::new("/var/lib/taskflows"));
        assert_eq!(data_dir_from(Scope::User, Some("/srv/tf".into()), home.clone()), Path::new("/srv/tf"));
        assert_eq!(data_dir_from(Scope::User, Some("".into()), home), Path::new("/home/ann/.local/share/taskflows"));
    }

    #[test]
    fn tf_is_tf_bin_else_the_first_on_path() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, plain) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("plain"));
        for d in [&a, &b, &plain] {
            std::fs::create_dir(d).unwrap();
        }
        for d in [&a, &b] {
            std::fs::write(d.join("tf"), "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(d.join("tf"), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::write(plain.join("tf"), "not a program").unwrap();
        let path = |dirs: &[&PathBuf]| Some(std::env::join_paths(dirs).unwrap());

        assert_eq!(find_tf_in(None, path(&[&plain, &b, &a])), Ok(b.join("tf")), "an executable file");
        assert_eq!(find_tf_in(Some(a.join("tf").into()), path(&[&b])), Ok(a.join("tf")));
        assert_eq!(find_tf_in(None, path(&[&plain])), Err("no tf on PATH and TF_BIN is not set".to_owned()));
        assert_eq!(find_tf_in(None, Some("relative:".into())), Err("no tf on PATH and TF_BIN is not set".to_owned()));
        let not_executable = plain.join("tf");
        assert_eq!(
            find_tf_in(Some(not_executable.clone().into()), path(&[&a])),
            Err(format!("TF_BIN={} is not an executable file", not_executable.display()))
        );
        assert_eq!(find_tf_in(Some("tf".into()), None), Err("TF_BIN=tf is not an absolute path".to_owned()));
    }
}

//! The prerequisite step against stand-in `dpkg-query` and `apt-get` scripts first on PATH:
//! nothing is installed or downloaded.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::{Host, ensure_packages};

const PACKAGES: &[(&str, &str)] =
    &[("systemd", "the manager"), ("strace", "kill points"), ("prometheus", "promtool"), ("dbus", "the bus")];

/// A folder of stand-ins: `dpkg-query` reports every package installed except `missing`;
/// `apt-get` appends its arguments to `apt-get.log`. Returns the folder and the host to use.
fn stand_ins(missing: &[&str]) -> (tempfile::TempDir, Host) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("apt-get.log");
    let dpkg_query = format!(
        "#!/bin/sh\n# dpkg-query -W -f=${{Status}} PACKAGE\nfor p in {}; do\n  \
         [ \"$3\" = \"$p\" ] && {{ echo \"dpkg-query: no packages found matching $p\" >&2; exit 1; }}\ndone\n\
         printf 'install ok installed'\n",
        missing.join(" ")
    );
    write_script(&dir.path().join("dpkg-query"), &dpkg_query);
    write_script(&dir.path().join("apt-get"), &format!("#!/bin/sh\necho \"$*\" >> '{}'\n", log.display()));
    let path = std::env::join_paths(
        std::iter::once(dir.path().to_owned())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    (dir, Host { path, root: true })
}

fn write_script(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn apt_calls(dir: &tempfile::TempDir) -> Vec<String> {
    fs::read_to_string(dir.path().join("apt-get.log")).unwrap_or_default().lines().map(str::to_owned).collect()
}

#[test]
fn installs_only_the_missing_packages() {
    let (dir, host) = stand_ins(&["strace", "prometheus"]);
    ensure_packages(&host, "cargo xtask test", PACKAGES, false).unwrap();
    assert_eq!(apt_calls(&dir), ["update -qq", "install -y -qq --no-install-recommends strace prometheus"]);
}

#[test]
fn nothing_missing_calls_no_apt_get() {
    let (dir, host) = stand_ins(&[]);
    ensure_packages(&host, "cargo xtask test", PACKAGES, false).unwrap();
    assert_eq!(apt_calls(&dir), Vec::<String>::new());
}

#[test]
fn no_install_fails_naming_the_missing_packages() {
    let (dir, host) = stand_ins(&["strace", "prometheus"]);
    let err = ensure_packages(&host, "cargo xtask test", PACKAGES, true).unwrap_err().to_string();
    assert!(err.contains("strace, prometheus"), "{err}");
    assert!(err.contains("apt-get install -y --no-install-recommends strace prometheus"), "{err}");
    assert!(!err.contains("systemd") && !err.contains("dbus"), "{err}");
    assert_eq!(apt_calls(&dir), Vec::<String>::new());
}

#[test]
fn not_root_fails_instead_of_installing() {
    let (dir, mut host) = stand_ins(&["dbus"]);
    host.root = false;
    let err = ensure_packages(&host, "cargo xtask test", PACKAGES, false).unwrap_err().to_string();
    assert!(err.contains("as root") && err.contains("dbus"), "{err}");
    assert_eq!(apt_calls(&dir), Vec::<String>::new());
}

#[test]
fn the_package_list_needs_no_openssl_headers() {
    let names: Vec<&str> = super::PACKAGES.iter().map(|(p, _)| *p).collect();
    assert!(!names.contains(&"libssl-dev") && !names.contains(&"pkg-config"), "{names:?}");
}

#[test]
fn the_sandbox_packages_are_those_a_private_systemd_boots_with() {
    let names: Vec<&str> = super::SANDBOX_PACKAGES.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        names,
        ["systemd", "systemd-sysv", "dbus", "dbus-user-session", "libpam-systemd", "util-linux", "mount", "procps"]
    );
}

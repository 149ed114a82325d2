//! Which taskflows service this process runs as, and on which host: what an alert from a task
//! is about, when the caller did not say.

use std::sync::OnceLock;

use taskflows_core::ServiceName;

/// The taskflows service this process runs in, from `/proc/self/cgroup` (read once).
pub(crate) fn current_service() -> Option<&'static str> {
    static SERVICE: OnceLock<Option<String>> = OnceLock::new();
    SERVICE
        .get_or_init(|| std::fs::read_to_string("/proc/self/cgroup").ok().and_then(|c| service_of_cgroup(&c)))
        .as_deref()
}

/// The host's name (`/proc/sys/kernel/hostname`, read once), when readable and not empty.
pub(crate) fn host() -> Option<&'static str> {
    static HOST: OnceLock<Option<String>> = OnceLock::new();
    HOST.get_or_init(|| {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
        let name = name.trim();
        (!name.is_empty()).then(|| name.to_owned())
    })
    .as_deref()
}

/// NAME, when the process's cgroup (the text of `/proc/self/cgroup`) ends in a unit
/// `taskflows-NAME.service` and NAME is a valid service name.
pub(crate) fn service_of_cgroup(cgroup: &str) -> Option<String> {
    let (unit, _user) = crate::journal::unit_of_cgroup(cgroup)?;
    let name = unit.strip_prefix("taskflows-")?.strip_suffix(".service")?;
    ServiceName::new(name).ok().map(|_| name.to_owned())
}

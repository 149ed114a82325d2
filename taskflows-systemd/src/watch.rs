//! Live state changes of taskflows units, from systemd's signals instead of polling.

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use zbus::Variant;

use crate::state::{ActiveState, JobResult};
use crate::{Error, Result, Systemd};

/// A change systemd reported.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A unit's state changed.
    State {
        /// The unit.
        unit: String,
        /// Its new active state, when reported.
        active_state: Option<ActiveState>,
        /// Its new sub state, when reported.
        sub_state: Option<String>,
    },
    /// A job finished.
    Job {
        /// The unit.
        unit: String,
        /// How the job ended.
        result: JobResult,
    },
    /// systemd finished a reload, or unit files were enabled, disabled or linked: which units
    /// exist and which are enabled may have changed.
    Reloaded,
}

/// How many unread signals a watch keeps before dropping the oldest.
///
/// systemd announces a unit's first change after it was loaded with `UnitNew` rather than
/// `PropertiesChanged`, so a unit loaded by the start being watched reports its job and its later
/// changes (e.g. back to inactive), not the first transition.
const WATCH_QUEUE: std::num::NonZeroUsize = std::num::NonZeroUsize::new(16_384).unwrap();

/// A stream of [`Event`]s about taskflows units. Read it steadily (e.g. from its own task):
/// signals that arrive while nobody reads are queued, up to a limit.
pub struct Watch {
    events: BoxStream<'static, Option<Event>>,
}

impl Watch {
    /// The next event; `None` when the connection closed.
    pub async fn next(&mut self) -> Option<Event> {
        loop {
            match self.events.next().await {
                None => return None,
                Some(Some(e)) => return Some(e),
                Some(None) => continue,
            }
        }
    }
}

fn ours(unit: &str) -> bool {
    let stem = unit.trim_start_matches("stop-").trim_start_matches("restart-");
    stem.starts_with("taskflows-")
}

impl Systemd {
    /// Watch state changes and finished jobs of taskflows units.
    pub async fn watch(&self) -> Result<Watch> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender("org.freedesktop.systemd1")
            .interface("org.freedesktop.DBus.Properties")
            .member("PropertiesChanged")
            .path_namespace("/org/freedesktop/systemd1/unit")
            .arg(0, "org.freedesktop.systemd1.Unit")
            .build()
            .map_err(Error::call("AddMatch PropertiesChanged"))?;
        // Every unit's changes pass through here until the caller reads them: keep a deep queue
        // so a burst (a reload, a boot target) does not push ours out.
        let changes = zbus::MessageStream::for_match_rule(rule, &self.conn, Some(WATCH_QUEUE))
            .await
            .map_err(Error::call("AddMatch PropertiesChanged"))?
            .map(|msg| {
                let msg = msg.ok()?;
                let path = msg.header().path()?.as_str().to_owned();
                let unit = unescape_unit_path(&path)?;
                if !ours(&unit) {
                    return None;
                }
                let body = msg.body();
                let (iface, changed, _): (String, std::collections::HashMap<String, zbus::OwnedVariant>, Vec<String>) =
                    body.deserialize().ok()?;
                if iface != "org.freedesktop.systemd1.Unit" {
                    return None;
                }
                let get = |k: &str| match changed.get(k).map(|v| &**v) {
                    Some(Variant::Str(s)) => Some(s.to_string()),
                    _ => None,
                };
                let (active_state, sub_state) = (get("ActiveState"), get("SubState"));
                (active_state.is_some() || sub_state.is_some()).then_some(Event::State {
                    unit,
                    active_state: active_state.map(|a| ActiveState::from_word(&a)),
                    sub_state,
                })
            });
        let jobs = crate::proxies::job_removed(&self.conn)
            .await
            .map_err(Error::call("JobRemoved"))?
            .map(|r| ours(&r.unit).then_some(Event::Job { unit: r.unit, result: JobResult::from_word(&r.result) }));
        let manager = |member: &'static str| {
            zbus::MatchRule::builder()
                .msg_type(zbus::message::Type::Signal)
                // systemd's own, not any bus client's that sends a signal by that name.
                .sender("org.freedesktop.systemd1")
                .path("/org/freedesktop/systemd1")
                .interface("org.freedesktop.systemd1.Manager")
                .member(member)
                .build()
                .map_err(Error::call(format!("AddMatch {member}")))
        };
        let mut reloads = Vec::new();
        for member in ["Reloading", "UnitFilesChanged"] {
            let stream = zbus::MessageStream::for_match_rule(manager(member)?, &self.conn, None)
                .await
                .map_err(Error::call(format!("AddMatch {member}")))?
                .map(move |msg| {
                    let msg = msg.ok()?;
                    // Reloading(true) announces a reload; Reloading(false) says it is done.
                    if member == "Reloading" && msg.body().deserialize::<bool>().ok()? {
                        return None;
                    }
                    Some(Event::Reloaded)
                });
            reloads.push(stream.boxed());
        }
        let events = futures_util::stream::select_all([changes.boxed(), jobs.boxed()].into_iter().chain(reloads));
        Ok(Watch { events: events.boxed() })
    }
}

/// `/org/freedesktop/systemd1/unit/taskflows_2dweb_2eservice` → `taskflows-web.service`.
fn unescape_unit_path(path: &str) -> Option<String> {
    let escaped = path.strip_prefix("/org/freedesktop/systemd1/unit/")?;
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn unit_paths_unescape() {
        assert_eq!(
            super::unescape_unit_path("/org/freedesktop/systemd1/unit/taskflows_2dweb_2eservice").as_deref(),
            Some("taskflows-web.service")
        );
        assert_eq!(super::unescape_unit_path("/org/freedesktop/systemd1/unit/x_2"), None);
    }
}

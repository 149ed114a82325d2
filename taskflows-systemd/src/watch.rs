//! Live state changes of taskflows units, from systemd's signals instead of polling.

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use zbus::Variant;

use crate::{Error, Result, Systemd};

/// A change systemd reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A unit's state changed.
    State {
        /// The unit.
        unit: String,
        /// Its new active state, when reported.
        active_state: Option<String>,
        /// Its new sub state, when reported.
        sub_state: Option<String>,
    },
    /// A job finished.
    Job {
        /// The unit.
        unit: String,
        /// systemd's job result.
        result: String,
    },
}

/// A stream of [`Event`]s about taskflows units.
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
    let stem = unit
        .trim_start_matches("stop-")
        .trim_start_matches("restart-");
    stem.starts_with("taskflows-")
}

impl Systemd {
    /// Watch state changes and finished jobs of taskflows units.
    pub async fn watch(&self) -> Result<Watch> {
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface("org.freedesktop.DBus.Properties")
            .member("PropertiesChanged")
            .path_namespace("/org/freedesktop/systemd1/unit")
            .arg(0, "org.freedesktop.systemd1.Unit")
            .build()
            .map_err(Error::call("AddMatch PropertiesChanged"))?;
        let changes = zbus::MessageStream::for_match_rule(rule, &self.conn, None)
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
                let (_, changed, _): (
                    String,
                    std::collections::HashMap<String, zbus::OwnedVariant>,
                    Vec<String>,
                ) = body.deserialize().ok()?;
                let get = |k: &str| match changed.get(k).map(|v| &**v) {
                    Some(Variant::Str(s)) => Some(s.to_string()),
                    _ => None,
                };
                let (active_state, sub_state) = (get("ActiveState"), get("SubState"));
                (active_state.is_some() || sub_state.is_some()).then_some(Event::State {
                    unit,
                    active_state,
                    sub_state,
                })
            });
        let jobs = self
            .manager
            .receive_job_removed()
            .await
            .map_err(Error::call("JobRemoved"))?
            .map(|signal| {
                let args = signal.args().ok()?;
                ours(args.unit()).then(|| Event::Job {
                    unit: args.unit().to_string(),
                    result: args.result().to_string(),
                })
            });
        Ok(Watch {
            events: futures_util::stream::select(changes, jobs).boxed(),
        })
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
            super::unescape_unit_path("/org/freedesktop/systemd1/unit/taskflows_2dweb_2eservice")
                .as_deref(),
            Some("taskflows-web.service")
        );
        assert_eq!(
            super::unescape_unit_path("/org/freedesktop/systemd1/unit/x_2"),
            None
        );
    }
}

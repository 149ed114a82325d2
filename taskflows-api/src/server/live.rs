//! The live state of every installed service, kept current by systemd's signals: a unit's
//! change re-reads that service, a reload or a change of unit files re-reads all. Requests read
//! the last snapshot (and its JSON, serialized once per change); nothing polls.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use taskflows_systemd::Event;
use tokio::sync::{Notify, mpsc};

use crate::{Local, Result, ServiceState, StatusReport, VERSION};

/// One reading of every service.
pub(super) struct Snapshot {
    pub(super) report: StatusReport,
    /// `report` as JSON.
    pub(super) json: axum::body::Bytes,
    /// Each service's `StatusReport` of one, as JSON, by name.
    pub(super) one: HashMap<String, axum::body::Bytes>,
}

impl Snapshot {
    fn new(services: Vec<ServiceState>) -> Snapshot {
        let report = StatusReport { version: VERSION, services };
        let json = serde_json::to_vec(&report).expect("a status report serializes").into();
        let one = report
            .services
            .iter()
            .map(|s| {
                let single = StatusReport { version: VERSION, services: vec![s.clone()] };
                (s.name.clone(), serde_json::to_vec(&single).expect("a status report serializes").into())
            })
            .collect();
        Snapshot { report, json, one }
    }
}

enum Dirty {
    Services(BTreeSet<String>),
    All,
}

pub(super) struct Live {
    snapshot: RwLock<Arc<Snapshot>>,
    poke: mpsc::UnboundedSender<Option<Arc<Notify>>>,
    /// Sent once when systemd's signals stop coming (the bus connection closed): the state can
    /// no longer be kept current, so the server stops (and systemd restarts it).
    lost: tokio::sync::watch::Sender<bool>,
    /// Counts the snapshots: it changes when a new one is in place (the UI's live pages).
    generation: tokio::sync::watch::Sender<u64>,
}

impl Live {
    /// Read every service, then follow systemd's signals in a task of its own.
    pub(super) async fn start(local: Local) -> Result<Arc<Live>> {
        let systemd = local.systemd().await?;
        // Watch first, so no change between the first reading and the watch is missed. The
        // watch is drained into a channel by a task of its own: zbus stops reading the bus while
        // one of its signal queues is full, and reading 1,000 services makes more signals than
        // a queue holds, so a watch left unread while the services are read would hang the
        // reading for good.
        let mut watch = forward(systemd.watch().await?);
        let first = read_all(&local).await?;
        let (poke, mut pokes) = mpsc::unbounded_channel::<Option<Arc<Notify>>>();
        let (lost, _) = tokio::sync::watch::channel(false);
        let (generation, _) = tokio::sync::watch::channel(0);
        let live = Arc::new(Live { snapshot: RwLock::new(Arc::new(first)), poke, lost, generation });
        let weak = Arc::downgrade(&live);
        tokio::spawn(async move {
            let mut dirty: Option<Dirty> = None;
            let mut waiting: Vec<Arc<Notify>> = Vec::new();
            loop {
                tokio::select! {
                    event = watch.recv() => match event {
                        Some(e) => mark(&mut dirty, &e),
                        None => {
                            tracing::error!("the systemd connection closed; the live state can no longer be followed");
                            if let Some(live) = weak.upgrade() {
                                live.lost.send_replace(true);
                            }
                            return;
                        }
                    },
                    poked = pokes.recv() => match poked {
                        Some(done) => {
                            dirty = Some(Dirty::All);
                            waiting.extend(done);
                        }
                        None => return,
                    },
                }
                // Gather the rest of a burst before reading.
                let settle = tokio::time::sleep(Duration::from_millis(15));
                tokio::pin!(settle);
                loop {
                    tokio::select! {
                        () = &mut settle => break,
                        Some(e) = watch.recv() => mark(&mut dirty, &e),
                    }
                }
                // Changes made through the API meanwhile are served by this one reading.
                while let Ok(done) = pokes.try_recv() {
                    dirty = Some(Dirty::All);
                    waiting.extend(done);
                }
                let Some(live) = weak.upgrade() else { return };
                if let Some(d) = dirty.take()
                    && let Err(e) = live.refresh(&local, d).await
                {
                    tracing::warn!(error = %e, "cannot read the services' state");
                }
                for w in waiting.drain(..) {
                    w.notify_one();
                }
            }
        });
        Ok(live)
    }

    /// Wait until systemd's signals stop coming.
    pub(super) async fn lost(&self) {
        let mut lost = self.lost.subscribe();
        let _ = lost.wait_for(|l| *l).await;
    }

    /// Told of every new snapshot.
    pub(super) fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    pub(super) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Read everything again now, and return when the new snapshot is in place (after a change
    /// made through the API, so its next answer shows it).
    pub(super) async fn refresh_now(&self) {
        let done = Arc::new(Notify::new());
        if self.poke.send(Some(done.clone())).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(30), done.notified()).await;
        }
    }

    async fn refresh(&self, local: &Local, dirty: Dirty) -> Result<()> {
        let next = match dirty {
            Dirty::All => read_all(local).await?,
            Dirty::Services(names) => {
                let current = self.snapshot();
                let installed: Vec<taskflows_core::ServiceName> = local.systemd().await?.installed()?;
                let changed: Vec<_> = installed.iter().filter(|n| names.contains(n.as_str())).cloned().collect();
                let known: BTreeSet<&str> = current.report.services.iter().map(|s| s.name.as_str()).collect();
                if installed.len() != known.len() || installed.iter().any(|n| !known.contains(n.as_str())) {
                    read_all(local).await?
                } else {
                    let fresh = local.systemd().await?.status(&changed).await?;
                    let mut by_name: HashMap<String, ServiceState> =
                        fresh.into_iter().map(|s| (s.name.clone(), s)).collect();
                    let services = current
                        .report
                        .services
                        .iter()
                        .map(|s| by_name.remove(&s.name).unwrap_or_else(|| s.clone()))
                        .collect();
                    Snapshot::new(services)
                }
            }
        };
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }
}

/// The watch's events through a channel that a task fills as they come; it closes when the
/// systemd connection does.
fn forward(mut watch: taskflows_systemd::Watch) -> mpsc::UnboundedReceiver<Event> {
    let (events, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(e) = watch.next().await {
            if events.send(e).is_err() {
                return;
            }
        }
    });
    received
}

async fn read_all(local: &Local) -> Result<Snapshot> {
    let systemd = local.systemd().await?;
    let names = systemd.installed()?;
    Ok(Snapshot::new(systemd.status(&names).await?))
}

/// The service a unit belongs to: `taskflows-NAME.service`, `stop-taskflows-NAME.timer` … → NAME.
fn service_of(unit: &str) -> Option<&str> {
    let stem = unit.strip_suffix(".service").or_else(|| unit.strip_suffix(".timer"))?;
    let stem = stem.strip_prefix("stop-").or_else(|| stem.strip_prefix("restart-")).unwrap_or(stem);
    stem.strip_prefix("taskflows-")
}

fn mark(dirty: &mut Option<Dirty>, event: &Event) {
    let unit = match event {
        Event::State { unit, .. } | Event::Job { unit, .. } => unit,
        _ => {
            *dirty = Some(Dirty::All);
            return;
        }
    };
    let Some(name) = service_of(unit) else { return };
    match dirty {
        Some(Dirty::All) => {}
        Some(Dirty::Services(names)) => {
            names.insert(name.to_owned());
        }
        None => *dirty = Some(Dirty::Services(BTreeSet::from([name.to_owned()]))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn units_map_to_their_service() {
        use super::service_of;
        assert_eq!(service_of("taskflows-web.service"), Some("web"));
        assert_eq!(service_of("stop-taskflows-web.timer"), Some("web"));
        assert_eq!(service_of("restart-taskflows-a.b.service"), Some("a.b"));
        assert_eq!(service_of("sshd.service"), None);
    }
}

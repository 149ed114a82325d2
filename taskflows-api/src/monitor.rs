//! The missed-run monitor as an operation: check the services with timers, alert each
//! destination once per problem and once per resolution, remember what each one took.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use taskflows_alerts::{Alert, Alerts, Table};
use taskflows_core::Scope;
use taskflows_systemd::monitor::Problem;

use crate::monitor_state::{self, Alerted};
use crate::{Local, MonitorReport, Progress, Result, VERSION};

/// The name the monitor is installed as (`tf monitor install`), and its alerts' sender.
pub const MONITOR_SERVICE: &str = "tf-monitor";

/// `tf monitor check`.
pub struct MonitorRequest {
    /// A service name or glob (all without one).
    pub pattern: Option<String>,
    /// How late a run may start before it counts as overdue (beyond the timer's own accuracy and
    /// randomized delay).
    pub grace: Duration,
    /// Where alerts go, each with its key (`slack:#ops`, `webhook:…`, `email:…`): each remembers
    /// what it took.
    pub destinations: Vec<(String, Alerts)>,
}

/// `DATA_DIR/slack/silences.json`: the services whose alerts are silenced (the Slack bot's
/// "Silence 1 h"), read by every alert sender.
pub fn silences_path(data_dir: &Path) -> PathBuf {
    data_dir.join("slack").join("silences.json")
}

/// `DATA_DIR/monitor/state.json`: what was alerted, per destination.
pub fn monitor_state_path(data_dir: &Path) -> PathBuf {
    monitor_state::path(data_dir)
}

impl Local {
    pub(crate) async fn check_monitor(&self, request: &MonitorRequest) -> Result<MonitorReport> {
        let services = self.select(request.pattern.as_deref()).await?;
        let systemd = self.systemd().await?;
        let (checked, problems) = systemd.monitor(&services, jiff::Timestamp::now(), request.grace).await?;
        let mut report = MonitorReport { version: VERSION, checked, problems, undelivered: Vec::new() };
        if !request.destinations.is_empty() {
            let names: BTreeSet<&str> = services.iter().map(|s| s.as_str()).collect();
            let installed = systemd.installed()?;
            let installed: BTreeSet<&str> = installed.iter().map(|s| s.as_str()).collect();
            report.undelivered = self.alert_once(&request.destinations, &report.problems, &names, &installed).await?;
        }
        Ok(report)
    }

    /// Alert each destination the problems it was not alerted yet and those resolved since, and
    /// remember what each one took: a destination that failed is tried again at the next check,
    /// the others are not alerted twice. Only the `checked` services' entries are resolved; the
    /// entries of services no longer `installed` are dropped (the service is gone: nothing to
    /// resolve, and a service created again under its name is alerted afresh). Returns the
    /// destinations that did not take an alert.
    async fn alert_once(
        &self,
        destinations: &[(String, Alerts)],
        problems: &[Problem],
        checked: &BTreeSet<&str>,
        installed: &BTreeSet<&str>,
    ) -> Result<Vec<String>> {
        let path = monitor_state::path(&self.data_dir());
        let keys: BTreeSet<String> = destinations.iter().map(|(k, _)| k.clone()).collect();
        let mut state = monitor_state::load(&path, &keys, |w| self.say(Progress::Warning(w)))?;
        let before = state.clone();
        let scope_name = scope_name(self.scope).to_owned();
        state.retain(|a, _| a.scope != scope_name || installed.contains(a.service.as_str()));
        let key = |p: &Problem| Alerted { scope: scope_name.clone(), service: p.service.clone(), problem: p.kind };
        let current: BTreeSet<Alerted> = problems.iter().map(key).collect();
        let resolved: Vec<Alerted> = state
            .keys()
            .filter(|a| a.scope == scope_name && checked.contains(a.service.as_str()) && !current.contains(a))
            .cloned()
            .collect();
        let host = hostname();
        // A silenced service's problems wait until the silence ends (they are not remembered as
        // alerted, so they are alerted then if they are still there).
        let silences = taskflows_alerts::Silences::new(silences_path(&self.data_dir()));
        let mut undelivered = Vec::new();
        for (dest, alerts) in destinations {
            let new: Vec<&Problem> = problems
                .iter()
                .filter(|p| !state.get(&key(p)).is_some_and(|d| d.contains(dest)))
                .filter(|p| silences.until(&p.service).is_none())
                .collect();
            if !new.is_empty() {
                let mut table = Table::new(["SERVICE", "PROBLEM", "DETAIL"]);
                for p in &new {
                    table.row([p.service.clone(), p.kind.to_string(), p.detail.clone()]);
                }
                let services: BTreeSet<String> = new.iter().map(|p| p.service.clone()).collect();
                let title = format!("tf monitor: {} new problem(s) on {host} ({scope_name} services)", new.len());
                let alert = Alert::check(MONITOR_SERVICE, title, "", Some(table))
                    .about(services.into_iter().collect(), Some(host.clone()));
                if alerts.deliver(&alert).await {
                    for p in &new {
                        state.entry(key(p)).or_default().insert(dest.clone());
                    }
                } else {
                    undelivered.push(dest.clone());
                }
            }
            let gone: Vec<&Alerted> =
                resolved.iter().filter(|a| state.get(a).is_some_and(|d| d.contains(dest))).collect();
            if !gone.is_empty() {
                let mut table = Table::new(["SERVICE", "PROBLEM"]);
                for a in &gone {
                    table.row([a.service.clone(), a.problem.to_string()]);
                }
                let title = format!("tf monitor: {} problem(s) resolved on {host} ({scope_name} services)", gone.len());
                if alerts.deliver(&Alert::check(MONITOR_SERVICE, title, "", Some(table))).await {
                    for a in gone {
                        if let Some(d) = state.get_mut(a) {
                            d.remove(dest);
                        }
                    }
                }
            }
        }
        // A resolved problem is forgotten once every destination here took its resolution (those
        // not configured any more cannot be told).
        for a in &resolved {
            if let Some(d) = state.get_mut(a) {
                d.retain(|k| keys.contains(k));
            }
        }
        state.retain(|_, d| !d.is_empty());
        if state != before {
            // Only the write holds the data folder's lock: delivery can take minutes with the
            // network down, and creates must not wait for it.
            let _lock = self.lock().await?;
            monitor_state::save(&path, &state)?;
        }
        Ok(undelivered)
    }
}

/// `system` or `user`.
pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::System => "system",
        Scope::User => "user",
    }
}

/// This host's name, as alerts and the Slack bot name it.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or_else(|_| "this host".to_owned(), |h| h.trim().into())
}

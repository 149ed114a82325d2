//! The Slack bot: `/tf …` commands, `@taskflows …` mentions, confirmation buttons and the
//! buttons of alerts, answered through the operations ([`Local`], or a configured server's
//! [`Remote`]).
//!
//! Two transports feed one [`Bot`]: Socket Mode ([`socket`], `tf slack-bot run`) and the API
//! server's signed HTTP endpoints ([`http`]). Either way an event is acknowledged at once and
//! the work happens after: answers are posted with `chat.postMessage` (long output as a file in
//! the thread), confirmations are buttons, and a confirmed control command's message is
//! updated (`chat.update`) when its job ends.
//!
//! Everyone is refused until `DATA_DIR/slack/access.toml` allows them ([`Access`]); read and
//! control are allowed separately. Every control action, allowed or refused, is logged as an
//! audit event (target `taskflows::audit`: the journal, with fields, under systemd).

pub mod command;
pub mod config;
pub(crate) mod events;
pub mod reply;
pub mod socket;
pub mod web;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use taskflows_alerts::{Silences, Table, actions};

use crate::remote::{Remote, ServerBook};
use crate::{Action, CheckTarget, ControlRequest, Local, Operations, Targets};
use command::{Command, Request};
pub use config::{Access, Rule, Tokens};
use reply::{Reply, button, esc, section};
pub use web::Web;

/// The action id of a confirmation's Confirm button.
pub const CONFIRM: &str = "taskflows_confirm";
/// The action id of a confirmation's Cancel button.
pub const CANCEL: &str = "taskflows_cancel";
/// How long a confirmation can be confirmed.
const CONFIRM_FOR: Duration = Duration::from_secs(10 * 60);
/// How long "Silence 1 h" silences.
const SILENCE_FOR: Duration = Duration::from_secs(3600);
/// How long a user group's members are remembered.
const GROUPS_FOR: Duration = Duration::from_secs(5 * 60);
/// The most commands carried out at once; more wait, past [`MAX_WAITING`] they are refused.
const MAX_BUSY: usize = 4;
const MAX_WAITING: usize = 64;
/// The longest a control command's job is waited for before the bot says it is still going.
const CONTROL_LIMIT: Duration = Duration::from_secs(3600);

/// What Slack sent, as the bot needs it (from either transport).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// `/tf TEXT` or `@taskflows TEXT`.
    Command {
        /// Who.
        user: String,
        /// Where.
        channel: String,
        /// The words after `/tf` or the mention.
        text: String,
        /// Answer in this thread (a mention's message); none: in the channel.
        thread: Option<String>,
    },
    /// A button was clicked.
    Action {
        /// Who.
        user: String,
        /// Where.
        channel: String,
        /// The message with the button.
        message_ts: String,
        /// The thread the message is in, if any.
        thread: Option<String>,
        /// Which button.
        action_id: String,
        /// Its value.
        value: String,
    },
}

/// A control command waiting for its Confirm button: everything is in the button's value, so a
/// restarted bot still knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Pending {
    action: Action,
    pattern: String,
    #[serde(default)]
    servers: Vec<String>,
    /// Who asked: only they confirm.
    by: String,
    /// Unix seconds after which Confirm is refused.
    until: i64,
}

/// The variable that points the bot (and Slack alerts) at another Web API, e.g. a local
/// stand-in in tests: `TASKFLOWS_SLACK_API_URL` (https, or http to loopback).
pub use taskflows_alerts::API_URL_VAR;

/// [`API_URL_VAR`], checked; none: Slack's own.
pub fn api_url_from_env() -> crate::Result<Option<String>> {
    taskflows_alerts::api_url_from_vars(|name| std::env::var(name).ok())
        .map_err(|e| crate::Error::invalid(e.to_string()))
}

/// Where a command goes.
#[derive(Clone)]
enum Target {
    Local(Local),
    Remote(Remote),
}

/// The bot.
#[derive(Clone)]
pub struct Bot {
    inner: Arc<Inner>,
}

/// A user group's members, and when they were read.
type Members = (Instant, Arc<BTreeSet<String>>);

struct Inner {
    local: Local,
    web: Web,
    access_path: PathBuf,
    book_path: PathBuf,
    silences: Silences,
    hostname: String,
    groups: tokio::sync::Mutex<HashMap<String, Members>>,
    busy: tokio::sync::Semaphore,
    waiting: std::sync::atomic::AtomicUsize,
}

impl Bot {
    /// A bot acting on `local` (and the servers its access file allows), answering through
    /// `web`.
    pub fn new(local: Local, web: Web) -> Bot {
        let data_dir = local.data_dir();
        Bot {
            inner: Arc::new(Inner {
                access_path: config::access_path(&data_dir),
                book_path: ServerBook::default_path(),
                silences: Silences::new(crate::silences_path(&data_dir)),
                hostname: crate::monitor::hostname(),
                local,
                web,
                groups: tokio::sync::Mutex::new(HashMap::new()),
                busy: tokio::sync::Semaphore::new(MAX_BUSY),
                waiting: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    /// Read the servers `-s` may name from this book instead of `~/.config/taskflows/servers.toml`.
    pub fn with_server_book(self, path: PathBuf) -> Bot {
        let inner = Arc::into_inner(self.inner).expect("with_server_book before the bot is shared");
        Bot { inner: Arc::new(Inner { book_path: path, ..inner }) }
    }

    /// The Web API client.
    pub fn web(&self) -> &Web {
        &self.inner.web
    }

    /// Take an event: returns at once (Slack wants an acknowledgement within 3 s); the work
    /// and its answers follow.
    pub fn receive(&self, inbound: Inbound) {
        use std::sync::atomic::Ordering;
        let inner = self.inner.clone();
        if inner.waiting.fetch_add(1, Ordering::AcqRel) >= MAX_WAITING {
            inner.waiting.fetch_sub(1, Ordering::AcqRel);
            tracing::warn!("slack: too many commands waiting; one was refused");
            tokio::spawn(async move {
                let (user, channel) = match &inbound {
                    Inbound::Command { user, channel, .. } | Inbound::Action { user, channel, .. } => (user, channel),
                };
                let _ = inner.web.whisper(channel, user, None, "taskflows is busy; try again in a minute").await;
            });
            return;
        }
        tokio::spawn(async move {
            let _permit = inner.busy.acquire().await;
            inner.waiting.fetch_sub(1, Ordering::AcqRel);
            inner.handle(inbound).await;
        });
    }
}

impl Inner {
    async fn handle(&self, inbound: Inbound) {
        match inbound {
            Inbound::Command { user, channel, text, thread } => self.command(&user, &channel, &text, thread).await,
            Inbound::Action { user, channel, message_ts, thread, action_id, value } => {
                self.action(&user, &channel, &message_ts, thread, &action_id, &value).await;
            }
        }
    }

    async fn command(&self, user: &str, channel: &str, text: &str, thread: Option<String>) {
        let command = match command::parse(text) {
            Ok(c) => c,
            Err(e) => {
                let message = format!(":warning: {}. `/tf help` lists the commands.", esc(&e));
                return self.whisper(channel, user, thread.as_deref(), &message).await;
            }
        };
        if command.request == Request::Help {
            let message = format!("*taskflows* commands (`/tf …` or `@taskflows …`):\n```{}```", command::HELP);
            return self.whisper(channel, user, thread.as_deref(), &message).await;
        }
        let word = command.request.word();
        if let Err(why) = self.allowed(user, channel, command.request.is_control()).await {
            if command.request.is_control() {
                audit(user, channel, text, "refused");
            }
            let message = format!(":no_entry: <@{user}> may not run `{word}` here: {why}.");
            return self.whisper(channel, user, thread.as_deref(), &message).await;
        }
        let targets = match self.targets(&command.servers) {
            Ok(t) => t,
            Err(e) => return self.whisper(channel, user, thread.as_deref(), &format!(":warning: {}", esc(&e))).await,
        };
        match &command.request {
            Request::Control { action, pattern } => {
                self.confirm(user, channel, thread, &command, *action, pattern).await;
            }
            request => {
                let asked = format!("`/tf {}` by <@{user}>", esc(text.trim()));
                let answers = futures_util::future::join_all(
                    targets.iter().map(|(label, target)| self.read(target, label, request)),
                )
                .await;
                for reply in answers {
                    self.post(channel, thread.as_deref(), reply.footer(&asked)).await;
                }
            }
        }
    }

    /// Post a confirmation for a control command.
    async fn confirm(
        &self,
        user: &str,
        channel: &str,
        thread: Option<String>,
        command: &Command,
        action: Action,
        pattern: &str,
    ) {
        let pending = Pending {
            action,
            pattern: pattern.to_owned(),
            servers: command.servers.clone(),
            by: user.to_owned(),
            until: jiff::Timestamp::now().as_second() + CONFIRM_FOR.as_secs() as i64,
        };
        let value = serde_json::to_string(&pending).expect("a pending command serializes");
        let verb = verb(action);
        let question = format!(
            "*{verb} `{}` on {}?* (asked by <@{user}>; confirm within {} minutes)",
            esc(pattern),
            self.where_(&command.servers),
            CONFIRM_FOR.as_secs() / 60
        );
        let blocks = vec![
            section(&question),
            serde_json::json!({
                "type": "actions",
                "block_id": "taskflows_confirm",
                "elements": [
                    button(&format!("{verb} {pattern}"), CONFIRM, &value, Some("danger")),
                    button("Cancel", CANCEL, &value, None),
                ],
            }),
        ];
        if let Err(e) = self.inner_post(channel, thread.as_deref(), &question, blocks).await {
            tracing::warn!(error = %e, "slack: cannot post a confirmation");
            self.whisper(channel, user, thread.as_deref(), &format!(":warning: cannot post the confirmation ({e})"))
                .await;
        }
    }

    async fn action(
        &self,
        user: &str,
        channel: &str,
        message_ts: &str,
        thread: Option<String>,
        action_id: &str,
        value: &str,
    ) {
        // Answers to a message go into its thread.
        let thread = thread.unwrap_or_else(|| message_ts.to_owned());
        match action_id {
            CONFIRM | CANCEL => {
                let Ok(pending) = serde_json::from_str::<Pending>(value) else {
                    return self
                        .whisper(channel, user, Some(&thread), ":warning: this button is not one of taskflows'")
                        .await;
                };
                let asked = format!("{} {}", pending.action.word(), pending.pattern);
                if pending.by != user {
                    return self
                        .whisper(
                            channel,
                            user,
                            Some(&thread),
                            &format!(":no_entry: only <@{}> can answer this", pending.by),
                        )
                        .await;
                }
                if action_id == CANCEL {
                    let text = format!("~{} `{}`~ cancelled by <@{user}>", verb(pending.action), esc(&pending.pattern));
                    return self.update(channel, message_ts, &text).await;
                }
                if jiff::Timestamp::now().as_second() > pending.until {
                    let text = format!(
                        ":hourglass: this confirmation of {} `{}` expired; run the command again",
                        pending.action.word(),
                        esc(&pending.pattern)
                    );
                    return self.update(channel, message_ts, &text).await;
                }
                if let Err(why) = self.allowed(user, channel, true).await {
                    audit(user, channel, &asked, "refused");
                    let message = format!(":no_entry: <@{user}> may not run `{}` here: {why}.", pending.action.word());
                    return self.whisper(channel, user, Some(&thread), &message).await;
                }
                let targets = match self.targets(&pending.servers) {
                    Ok(t) => t,
                    Err(e) => {
                        return self.whisper(channel, user, Some(&thread), &format!(":warning: {}", esc(&e))).await;
                    }
                };
                let going = format!(
                    ":hourglass_flowing_sand: {} `{}` on {}… (confirmed by <@{user}>)",
                    ing(pending.action),
                    esc(&pending.pattern),
                    self.where_(&pending.servers)
                );
                self.update(channel, message_ts, &going).await;
                let replies = futures_util::future::join_all(
                    targets.iter().map(|(label, target)| self.control(target, label, pending.action, &pending.pattern)),
                )
                .await;
                let ok = replies.iter().all(|r| r.ok);
                audit(user, channel, &asked, if ok { "done" } else { "failed" });
                let icon = if ok { ":white_check_mark:" } else { ":x:" };
                let done = format!(
                    "{icon} {} `{}` on {}: {} (confirmed by <@{user}>)",
                    verb(pending.action),
                    esc(&pending.pattern),
                    self.where_(&pending.servers),
                    if ok { "done" } else { "failed" }
                );
                self.update(channel, message_ts, &done).await;
                for reply in replies {
                    self.post(channel, Some(&thread), reply).await;
                }
            }
            actions::RESTART | actions::LOGS | actions::SILENCE => {
                let Some(target) = taskflows_alerts::actions::ActionValue::decode(value) else {
                    return self
                        .whisper(channel, user, Some(&thread), ":warning: this button is not one of taskflows'")
                        .await;
                };
                let control = action_id != actions::LOGS;
                let word = match action_id {
                    actions::RESTART => "restart",
                    actions::LOGS => "logs",
                    _ => "silence",
                };
                let asked = format!("{word} {} (alert button)", target.service);
                if let Err(why) = self.allowed(user, channel, control).await {
                    if control {
                        audit(user, channel, &asked, "refused");
                    }
                    let message = format!(":no_entry: <@{user}> may not run `{word}` here: {why}.");
                    return self.whisper(channel, user, Some(&thread), &message).await;
                }
                if action_id == actions::SILENCE {
                    let until = jiff::Timestamp::now() + SILENCE_FOR;
                    let text = match self.silences.silence(&target.service, until) {
                        Ok(()) => {
                            audit(user, channel, &asked, "done");
                            format!(
                                ":mute: alerts about `{}` are silenced until {} UTC (by <@{user}>)",
                                esc(&target.service),
                                until.strftime("%Y-%m-%d %H:%M")
                            )
                        }
                        Err(e) => {
                            audit(user, channel, &asked, "failed");
                            format!(":warning: cannot silence `{}`: {}", esc(&target.service), esc(&e.to_string()))
                        }
                    };
                    return self.post(channel, Some(&thread), Reply::note(&text)).await;
                }
                let (label, target_ops) = match self.alert_target(target.host.as_deref()) {
                    Ok(t) => t,
                    Err(e) => {
                        return self.whisper(channel, user, Some(&thread), &format!(":warning: {}", esc(&e))).await;
                    }
                };
                let reply = if action_id == actions::LOGS {
                    let request = Request::Logs { name: target.service.clone(), lines: 50 };
                    self.read(&target_ops, &label, &request).await.footer(&format!("asked by <@{user}>"))
                } else {
                    let going = format!(
                        ":hourglass_flowing_sand: restarting `{}` on {label}… (<@{user}>)",
                        esc(&target.service)
                    );
                    self.post(channel, Some(&thread), Reply::note(&going)).await;
                    let reply = self.control(&target_ops, &label, Action::Restart, &target.service).await;
                    audit(user, channel, &asked, if reply.ok { "done" } else { "failed" });
                    reply
                };
                self.post(channel, Some(&thread), reply).await;
            }
            other => {
                tracing::debug!(action_id = other, "slack: an action that is not taskflows'");
            }
        }
    }

    /// Whether `user` may read (or, with `control`, control) in `channel`; the refusal says why
    /// without showing the access file.
    async fn allowed(&self, user: &str, channel: &str, control: bool) -> Result<(), String> {
        let access = match Access::load(&self.access_path) {
            Ok(Some(a)) => a,
            Ok(None) => return Err("this bot allows nobody yet (no access file)".into()),
            Err(e) => {
                tracing::error!(error = %e, "slack: the access file cannot be read; everyone is refused");
                return Err("the bot's access file is broken".into());
            }
        };
        let rules: Vec<&Rule> = if control { vec![&access.control] } else { vec![&access.read, &access.control] };
        let mut channel_refused = false;
        for rule in rules {
            if !rule.channel_ok(channel) {
                channel_refused = true;
                continue;
            }
            if rule.user_named(user) || self.in_groups(user, &rule.groups).await {
                return Ok(());
            }
        }
        let kind = if control { "control" } else { "read" };
        Err(if channel_refused {
            format!("{kind} commands are not allowed in this channel for this user")
        } else {
            format!("{kind} commands are not allowed for this user")
        })
    }

    async fn in_groups(&self, user: &str, groups: &BTreeSet<String>) -> bool {
        for group in groups {
            let members = {
                let cache = self.groups.lock().await;
                cache.get(group).filter(|(at, _)| at.elapsed() < GROUPS_FOR).map(|(_, m)| m.clone())
            };
            let members = match members {
                Some(m) => m,
                None => match self.web.group_members(group).await {
                    Ok(list) => {
                        let set = Arc::new(list.into_iter().collect::<BTreeSet<String>>());
                        self.groups.lock().await.insert(group.clone(), (Instant::now(), set.clone()));
                        set
                    }
                    Err(e) => {
                        tracing::warn!(group, error = %e, "slack: cannot read a user group's members");
                        continue;
                    }
                },
            };
            if members.contains(user) {
                return true;
            }
        }
        false
    }

    /// This host, or the named servers (each one allowed by the access file).
    fn targets(&self, servers: &[String]) -> Result<Vec<(String, Target)>, String> {
        if servers.is_empty() {
            return Ok(vec![(self.hostname.clone(), Target::Local(self.local.clone()))]);
        }
        let allowed = Access::load(&self.access_path).ok().flatten().map(|a| a.servers).unwrap_or_default();
        let book = ServerBook::load(&self.book_path).map_err(|e| e.to_string())?;
        servers
            .iter()
            .map(|name| {
                if !allowed.contains(name) {
                    let list = allowed.iter().cloned().collect::<Vec<_>>().join(", ");
                    return Err(if list.is_empty() {
                        format!("-s {name}: this bot may ask no other server")
                    } else {
                        format!("-s {name}: not a server this bot may ask ({list})")
                    });
                }
                let (name, entry) = book.resolve(name).map_err(|e| e.to_string())?;
                let remote = Remote::new(&name, &entry).map_err(|e| e.to_string())?;
                Ok((name, Target::Remote(remote)))
            })
            .collect()
    }

    /// Where an alert's services run: this host, or the allowed server named like its host.
    fn alert_target(&self, host: Option<&str>) -> Result<(String, Target), String> {
        match host {
            None => Ok((self.hostname.clone(), Target::Local(self.local.clone()))),
            Some(h) if h == self.hostname => Ok((self.hostname.clone(), Target::Local(self.local.clone()))),
            Some(h) => self.targets(&[h.to_owned()]).map(|mut t| t.remove(0)).map_err(|e| {
                format!("this alert came from {h}, which this bot cannot reach ({e}); add a server named {h}")
            }),
        }
    }

    fn where_(&self, servers: &[String]) -> String {
        if servers.is_empty() { esc(&self.hostname) } else { esc(&servers.join(", ")) }
    }

    async fn read(&self, target: &Target, label: &str, request: &Request) -> Reply {
        match target {
            Target::Local(ops) => read(ops, label, request).await,
            Target::Remote(ops) => read(ops, label, request).await,
        }
    }

    async fn control(&self, target: &Target, label: &str, action: Action, pattern: &str) -> Reply {
        let request = ControlRequest {
            pattern: pattern.to_owned(),
            action,
            // As `tf stop NAME`: the service and its timers.
            targets: Targets::Both,
            wait: false,
            timeout: None,
            force: false,
        };
        let run = async {
            match target {
                Target::Local(ops) => control(ops, label, &request).await,
                Target::Remote(ops) => control(ops, label, &request).await,
            }
        };
        match tokio::time::timeout(CONTROL_LIMIT, run).await {
            Ok(reply) => reply,
            Err(_) => Reply::error(&format!(
                "{} {pattern} on {label}: still going after {} minutes; see `/tf status {pattern}`",
                action.word(),
                CONTROL_LIMIT.as_secs() / 60
            )),
        }
    }

    async fn inner_post(
        &self,
        channel: &str,
        thread: Option<&str>,
        text: &str,
        blocks: Vec<serde_json::Value>,
    ) -> Result<String, web::WebError> {
        self.web.post(channel, thread, text, blocks).await
    }

    /// Post `reply` (and its file into the thread); a failure is logged.
    async fn post(&self, channel: &str, thread: Option<&str>, reply: Reply) {
        match self.web.post(channel, thread, &reply.text, reply.blocks).await {
            Ok(ts) => {
                if let Some((filename, content)) = reply.file
                    && let Err(e) = self.web.upload(channel, thread.unwrap_or(&ts), &filename, content).await
                {
                    tracing::warn!(error = %e, "slack: the answer was posted, but not its file");
                }
            }
            Err(e) => tracing::warn!(error = %e, "slack: cannot post an answer"),
        }
    }

    async fn update(&self, channel: &str, ts: &str, mrkdwn: &str) {
        if let Err(e) = self.web.update(channel, ts, mrkdwn, vec![section(mrkdwn)]).await {
            tracing::warn!(error = %e, "slack: cannot update a message");
        }
    }

    async fn whisper(&self, channel: &str, user: &str, thread: Option<&str>, mrkdwn: &str) {
        if let Err(e) = self.web.whisper(channel, user, thread, mrkdwn).await {
            tracing::warn!(error = %e, "slack: cannot answer a user");
        }
    }
}

/// Log a control action (or its refusal) as an audit event.
fn audit(user: &str, channel: &str, command: &str, result: &str) {
    let command = taskflows_core::display_safe(command);
    tracing::info!(
        target: "taskflows::audit",
        slack_user = user,
        slack_channel = channel,
        command = %command,
        result,
        "slack: {result}: {command} by {user} in {channel}"
    );
}

fn verb(action: Action) -> &'static str {
    match action {
        Action::Start => "Start",
        Action::Stop => "Stop",
        Action::Restart => "Restart",
        Action::Enable => "Enable",
        Action::Disable => "Disable",
        Action::Remove => "Remove",
    }
}

fn ing(action: Action) -> &'static str {
    match action {
        Action::Start => "starting",
        Action::Stop => "stopping",
        Action::Restart => "restarting",
        Action::Enable => "enabling",
        Action::Disable => "disabling",
        Action::Remove => "removing",
    }
}

fn when(t: Option<jiff::Timestamp>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
}

/// A read command's answer from `ops` (called `label`).
async fn read<O: Operations + Sync>(ops: &O, label: &str, request: &Request) -> Reply {
    let on = format!("on {}", esc(label));
    let answer = match request {
        Request::Status(pattern) => ops.status(pattern.as_deref(), false).await.map(|report| {
            let mut table = Table::new(["SERVICE", "STATE", "LAST START", "RESULT", "NEXT RUN"]);
            for s in &report.services {
                let result = match (s.result, s.exit_status) {
                    (Some(r), Some(code)) => format!("{r} ({code})"),
                    (Some(r), None) => r.to_string(),
                    _ => "-".to_owned(),
                };
                table.row([
                    s.name.clone(),
                    format!("{} ({})", s.active_state, s.sub_state),
                    when(s.last_start),
                    result,
                    when(s.next_elapse),
                ]);
            }
            let failed = report.services.iter().filter(|s| s.last_run_failed()).count();
            let title = format!("*status* {on}: {} service(s), {failed} failed", report.services.len());
            Reply::table(&title, &table, "status.txt")
        }),
        Request::List(pattern) => ops.list(pattern.as_deref()).await.map(|list| {
            let mut table = Table::new(["SERVICE", "UNITS"]);
            for s in &list.services {
                table.row([s.name.clone(), s.units.join(" ")]);
            }
            Reply::table(&format!("*list* {on}: {} service(s)", list.services.len()), &table, "list.txt")
        }),
        Request::Logs { name, lines } => ops.logs(name, &crate::LogQuery::last(*lines)).await.map(|logs| {
            let text: String = logs
                .lines
                .iter()
                .map(|l| format!("{} {}\n", l.timestamp.strftime("%Y-%m-%d %H:%M:%S"), l.message))
                .collect();
            let title = format!("*logs of `{}`* {on}: last {} line(s)", esc(name), logs.lines.len());
            if text.is_empty() {
                Reply::note(&format!("{title}\n_no lines_"))
            } else {
                Reply::preformatted(&title, &text, &format!("{name}.log"))
            }
        }),
        Request::History { pattern, limit } => ops.history(pattern.as_deref(), *limit).await.map(|history| {
            let mut table = Table::new(["UNIT", "STARTED", "ENDED", "RESULT", "INVOCATION"]);
            for r in &history.runs {
                let mut result = r.result.to_string();
                if let Some(exit) = &r.exit {
                    result.push_str(&format!(" ({exit})"));
                }
                table.row([r.unit.clone(), when(r.start), when(r.end), result, r.invocation_id.clone()]);
            }
            Reply::table(&format!("*history* {on}: {} run(s)", history.runs.len()), &table, "history.txt")
        }),
        Request::Next { pattern, count } => ops.next(pattern.as_deref(), *count).await.map(|next| {
            let mut table = Table::new(["SERVICE", "NEXT RUN", "SCHEDULE"]);
            for r in &next.runs {
                table.row([r.service.clone(), when(Some(r.at)), r.schedule.clone()]);
            }
            Reply::table(&format!("*next runs* {on}"), &table, "next.txt")
        }),
        Request::Check(name) => ops.check(&CheckTarget::Installed(name.clone()), None).await.map(|report| {
            let mut table = Table::new(["SERVICE", "REQUIREMENT", "HOLDS"]);
            for s in &report.services {
                if s.requirements.is_empty() {
                    table.row([s.service.clone(), "(none)".to_owned(), "yes".to_owned()]);
                }
                for r in &s.requirements {
                    table.row([s.service.clone(), r.detail.clone(), if r.holds { "yes" } else { "no" }.to_owned()]);
                }
            }
            let verdict = if report.ok { "every requirement holds" } else { "some requirements do not hold" };
            Reply {
                ok: report.ok,
                ..Reply::table(&format!("*check* `{}` {on}: {verdict}", esc(name)), &table, "check.txt")
            }
        }),
        Request::Help | Request::Control { .. } => Ok(Reply::note("_not a read command_")),
    };
    answer.unwrap_or_else(|e| Reply::error(&format!("{label}: {e}")))
}

/// A control command's answer from `ops`: what each job did, then the services' state.
async fn control<O: Operations + Sync>(ops: &O, label: &str, request: &ControlRequest) -> Reply {
    let report = match ops.control(request).await {
        Ok(r) => r,
        Err(e) => return Reply::error(&format!("{} {} on {label}: {e}", request.action.word(), request.pattern)),
    };
    let mut table = Table::new(["UNIT", "JOB", "RESULT"]);
    for job in &report.jobs {
        table.row([job.unit.clone(), job.job.to_string(), job.result.to_string()]);
    }
    let mut text = table.to_text();
    // The state now (a oneshot's start job ends with its run: its result is here).
    if let Ok(status) = ops.status(Some(&request.pattern), false).await {
        text.push('\n');
        for s in &status.services {
            let result = match (s.result, s.exit_status) {
                (Some(r), Some(code)) => format!(", last run {r} (exit status {code})"),
                (Some(r), None) => format!(", last run {r}"),
                _ => String::new(),
            };
            text.push_str(&format!("{}: {} ({}){result}\n", s.name, s.active_state, s.sub_state));
        }
    }
    let icon = if report.ok { ":white_check_mark:" } else { ":x:" };
    let title = format!(
        "{icon} *{} `{}`* on {}: {}",
        verb(request.action),
        esc(&request.pattern),
        esc(label),
        if report.ok { "done" } else { "failed" }
    );
    Reply { ok: report.ok, ..Reply::preformatted(&title, &text, "control.txt") }
}

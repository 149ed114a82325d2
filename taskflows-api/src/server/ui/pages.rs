//! The UI's pages and its few JSON answers. maud escapes every interpolated value; the script
//! writes only with `textContent`, so no user string (a name, a description, a log line, an
//! error) can become markup.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode, header};
use jiff::tz::TimeZone;
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;

use super::{Answer, Ui, plain};
use crate::server::routes::App;
use crate::{Action, ControlRequest, EnvironmentFile, Operations as _, ServiceState, SourceFile};

const SCRIPT: &str = include_str!("assets/ui.js");
const STYLE: &str = include_str!("assets/ui.css");
const ICON: &str = include_str!("assets/icon.svg");

/// A static asset; names carry a version so they can be cached for good.
pub(super) fn asset(name: &str) -> Answer {
    let (body, kind) = match name.split_once('?').map_or(name, |(n, _)| n) {
        "ui.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "ui.css" => (STYLE, "text/css; charset=utf-8"),
        "icon.svg" => (ICON, "image/svg+xml"),
        _ => return plain(StatusCode::NOT_FOUND, "no such asset"),
    };
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    r
}

/// The assets' version: changes when they do (so a cached old script is never used).
fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for part in [SCRIPT, STYLE, ICON] {
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())[..12].to_owned()
    })
}

fn html_answer(status: StatusCode, markup: Markup) -> Answer {
    let mut r = Response::new(Body::from(markup.into_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="color-scheme" content="light dark";
        title { (title) " · taskflows" }
        link rel="icon" href={ "/ui/assets/icon.svg?v=" (version()) };
        link rel="stylesheet" href={ "/ui/assets/ui.css?v=" (version()) };
        script src={ "/ui/assets/ui.js?v=" (version()) } defer {}
    }
}

/// The login page; `token` is the login form's CSRF value.
pub(super) fn login(token: &str, error: Option<&str>) -> Answer {
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    html_answer(
        status,
        html! {
            (DOCTYPE)
            html lang="en" {
                head { (head("Log in")) }
                body.login {
                    main {
                        form.card method="post" action="/ui/login" {
                            h1 { "taskflows" }
                            @if let Some(e) = error { p.error role="alert" { (e) } }
                            input type="hidden" name="csrf" value=(token);
                            label { "Username" input name="username" autocomplete="username" required autofocus; }
                            label { "Password" input name="password" type="password" autocomplete="current-password" required maxlength="1024"; }
                            button type="submit" { "Log in" }
                        }
                    }
                }
            }
        },
    )
}

/// Whether `name` is an installed service (by the live state).
pub(super) fn installed(app: &App, name: &str) -> bool {
    app.live.snapshot().one.contains_key(name)
}

fn when(t: Option<jiff::Timestamp>, zone: &TimeZone) -> String {
    t.map_or_else(|| "—".to_owned(), |t| t.to_zoned_datetime(zone.clone()).strftime("%Y-%m-%d %H:%M:%S").to_string())
}

/// One dashboard row, as the page renders it and the live stream sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(super) struct Row {
    pub name: String,
    pub description: String,
    /// systemd's active state (and sub-state).
    pub state: String,
    pub sub: String,
    /// ok, run, bad or idle: the state's colour.
    pub tone: &'static str,
    pub last: String,
    pub result: String,
    pub next: String,
    pub schedule: String,
    pub enabled: bool,
    pub failed: bool,
    pub timer: bool,
}

impl Row {
    pub(super) fn of(s: &ServiceState, zone: &TimeZone) -> Row {
        let failed = s.last_run_failed();
        let tone = if s.active_state == crate::ActiveState::Failed || failed {
            "bad"
        } else if s.is_running() {
            "run"
        } else if s.timer_active.is_some_and(|t| t.is_running()) {
            "ok"
        } else {
            "idle"
        };
        let schedule = s
            .schedules
            .iter()
            .map(|x| x.strip_prefix("OnCalendar=").map_or_else(|| x.replace("Sec=", " "), str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        Row {
            name: s.name.clone(),
            description: s.description.clone(),
            state: s.active_state.as_str().to_owned(),
            sub: s.sub_state.clone(),
            tone,
            last: when(s.last_start, zone),
            result: match (s.is_running(), s.result) {
                (true, _) => "running".to_owned(),
                (false, Some(r)) => r.as_str().to_owned(),
                (false, None) => "—".to_owned(),
            },
            next: when(s.next_elapse, zone),
            schedule: if schedule.is_empty() { "—".to_owned() } else { schedule },
            enabled: s.enabled || s.timer_enabled == Some(true),
            failed,
            timer: s.timer_active.is_some(),
        }
    }

    fn markup(&self) -> Markup {
        html! {
            tr data-name=(self.name) data-state=(self.state) data-failed=(self.failed) data-timer=(self.timer) {
                td.pick { input type="checkbox" aria-label={ "select " (self.name) }; }
                td.name { a href={ "/ui/services/" (self.name) } { (self.name) } div.desc { (self.description) } }
                td.state { span class={ "badge " (self.tone) } { (self.state) } " " span.sub { (self.sub) } }
                td.last { (self.last) }
                td.result { (self.result) }
                td.next { (self.next) }
                td.schedule { (self.schedule) }
            }
        }
    }
}

/// One log line, as the log viewer shows it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct LogRow {
    pub t: String,
    pub p: u8,
    pub m: String,
}

impl LogRow {
    pub(super) fn of(l: &crate::LogLine, zone: &TimeZone) -> LogRow {
        LogRow { t: when(Some(l.timestamp), zone), p: l.priority.unwrap_or(6), m: l.message.clone() }
    }
}

const LEVELS: [(&str, &str); 5] = [
    ("7", "all levels"),
    ("6", "info and worse"),
    ("5", "notice and worse"),
    ("4", "warnings and errors"),
    ("3", "errors"),
];

/// A page of a signed-in user.
pub(super) struct Page<'a> {
    pub ui: &'a Ui,
    pub app: &'a Arc<App>,
    pub user: &'a str,
    pub csrf: &'a str,
}

impl Page<'_> {
    fn layout(&self, title: &str, nav: &str, body: Markup) -> Markup {
        html! {
            (DOCTYPE)
            html lang="en" {
                head { meta name="csrf-token" content=(self.csrf); (head(title)) }
                body {
                    a.skip href="#main" { "Skip to content" }
                    header.top {
                        a.brand href="/" { "taskflows" }
                        nav aria-label="Sections" {
                            a href="/" aria-current=[(nav == "services").then_some("page")] { "Services" }
                            a href="/ui/environments" aria-current=[(nav == "environments").then_some("page")] { "Environments" }
                        }
                        form.logout method="post" action="/ui/logout" {
                            input type="hidden" name="csrf" value=(self.csrf);
                            span.user { (self.user) }
                            button type="submit" { "Log out" }
                        }
                    }
                    main #main { (body) }
                }
            }
        }
    }

    pub(super) fn not_found(&self) -> Answer {
        html_answer(
            StatusCode::NOT_FOUND,
            self.layout("Not found", "", html! { h1 { "Not found" } p { a href="/" { "Back to the services" } } }),
        )
    }

    fn failure(&self, title: &str, e: &crate::Error) -> Answer {
        html_answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            self.layout(title, "", html! { h1 { (title) } p.error role="alert" { (e) } }),
        )
    }

    /// `/`: every service, live.
    pub(super) fn dashboard(&self) -> Answer {
        let snapshot = self.app.live.snapshot();
        let rows: Vec<Row> = snapshot.report.services.iter().map(|s| Row::of(s, &self.ui.zone)).collect();
        let failed = rows.iter().filter(|r| r.failed).count();
        let running = rows.iter().filter(|r| r.tone == "run").count();
        let body = html! {
            div.heading {
                h1 { "Services" }
                p.summary #summary { (rows.len()) " services · " (running) " running · " (failed) " failed" }
            }
            div.toolbar role="search" {
                input #search type="search" placeholder="Search names and descriptions" aria-label="Search";
                select #state aria-label="State" {
                    option value="" { "Any state" }
                    option value="running" { "Running" }
                    option value="inactive" { "Not running" }
                    option value="failed" { "Failed state" }
                    option value="timer" { "Scheduled" }
                }
                label.check { input #failed-only type="checkbox"; " Failed only" }
            }
            div.batch #batch {
                span #picked { "0 selected" }
                @for action in ["start", "stop", "restart", "enable", "disable"] {
                    button type="button" data-action=(action) disabled { (action) }
                }
            }
            ul.results #results aria-live="polite" {}
            div.scroll {
                table.services #services {
                    thead { tr {
                        th.pick { input #pick-all type="checkbox" aria-label="select all shown"; }
                        th { "Service" } th { "State" } th { "Last run" } th { "Result" } th { "Next run" } th { "Schedule" }
                    } }
                    tbody { @for r in &rows { (r.markup()) } }
                }
            }
            @if rows.is_empty() { p.empty { "No services yet. " code { "tf create FILE" } " installs some." } }
            p.live #live data-state="connecting" { "Connecting to live updates…" }
        };
        html_answer(StatusCode::OK, self.layout("Services", "services", body))
    }

    /// `/ui/services/NAME`: state, run chart and history, next runs, requirements, unit files.
    pub(super) async fn service(&self, name: &str) -> Answer {
        let snapshot = self.app.live.snapshot();
        let Some(state) = snapshot.report.services.iter().find(|s| s.name == name) else { return self.not_found() };
        let row = Row::of(state, &self.ui.zone);
        let local = &self.app.local;
        let target = crate::CheckTarget::Installed(name.to_owned());
        let (history, next, check, units) = tokio::join!(
            local.history(Some(name), 100),
            local.next(Some(name), 5),
            local.check(&target, None),
            local.show(name),
        );
        let history = match history {
            Ok(h) => h.runs,
            Err(e) => return self.failure("History", &e),
        };
        let zone = &self.ui.zone;
        let body = html! {
            div.heading {
                h1 { (name) }
                span class={ "badge " (row.tone) } #state data-name=(name) { (row.state) } " " span.sub { (row.sub) }
            }
            @if !row.description.is_empty() { p.desc { (row.description) } }
            div.batch.single {
                @for action in ["start", "stop", "restart", "enable", "disable"] {
                    button type="button" data-action=(action) data-name=(name) { (action) }
                }
                a.button href={ "/ui/services/" (name) "/logs" } { "Logs" }
            }
            ul.results #results aria-live="polite" {}
            section {
                h2 { "Runs" }
                (chart(&history))
                table.runs {
                    thead { tr { th { "Started" } th { "Duration" } th { "Result" } th { "Exit" } th { "What" } th {} } }
                    tbody {
                        @for r in history.iter().take(30) {
                            tr {
                                td { (when(r.start, zone)) }
                                td { (duration(r)) }
                                td { span class={ "badge " (result_tone(r.result)) } { (r.result.as_str()) } }
                                td { (r.exit.as_ref().map_or_else(String::new, ToString::to_string)) }
                                td { @if let Some(t) = &r.task_name { "task " (t) } @else { "service" } }
                                td { @if !r.invocation_id.is_empty() {
                                    a href={ "/ui/services/" (name) "/logs?run=" (r.invocation_id) } { "logs" }
                                } }
                            }
                        }
                    }
                }
                @if history.is_empty() { p.empty { "No runs recorded yet." } }
            }
            section {
                h2 { "Next runs" }
                @match next {
                    Ok(n) if !n.runs.is_empty() => ul { @for r in &n.runs { li { (when(Some(r.at), zone)) " — " span.sub { (r.schedule) } } } },
                    Ok(_) => p.empty { "Not scheduled." },
                    Err(e) => p.error { (e) },
                }
            }
            section {
                h2 { "Startup requirements" }
                @match check {
                    Ok(c) => {
                        @let reqs: Vec<&crate::RequirementCheck> = c.services.iter().flat_map(|s| &s.requirements).collect();
                        @if reqs.is_empty() { p.empty { "None." } }
                        ul.checks { @for q in reqs { li class=(if q.holds { "ok" } else { "bad" }) { (if q.holds { "holds: " } else { "does not hold: " }) (q.detail) } } }
                    },
                    Err(e) => p.error { (e) },
                }
            }
            section {
                h2 { "Unit files" }
                @match units {
                    Ok(u) => { @for unit in &u.units { details { summary { (unit.path) } pre { (redact(&unit.content)) } } } },
                    Err(e) => p.error { (e) },
                }
            }
        };
        html_answer(StatusCode::OK, self.layout(name, "services", body))
    }

    /// `/ui/services/NAME/logs[?run=INVOCATION]`: the last lines (or one run's), searchable,
    /// filtered by level, followed live.
    pub(super) async fn logs(&self, name: &str, query: &str) -> Answer {
        if !installed(self.app, name) {
            return self.not_found();
        }
        let run: Option<String> =
            form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "run").map(|(_, v)| v.into_owned());
        if run.as_ref().is_some_and(|v| v.len() != 32 || !v.bytes().all(|b| b.is_ascii_hexdigit())) {
            return html_answer(
                StatusCode::BAD_REQUEST,
                self.layout("Logs", "services", html! { h1 { "Logs" } p.error role="alert" { "run: an invocation id (32 hex digits, as the run history links give) is allowed" } }),
            );
        }
        let wanted = if run.is_some() { self.app.limits.max_lines } else { 500 };
        let lines = match self.app.local.logs(name, &crate::LogQuery::last(wanted)).await {
            Ok(l) => l.lines,
            Err(e) => return self.failure("Logs", &e),
        };
        let lines: Vec<&crate::LogLine> = match &run {
            None => lines.iter().collect(),
            Some(id) => {
                let window = self.app.local.history(Some(name), 200).await.ok().and_then(|h| {
                    h.runs.into_iter().find(|r| &r.invocation_id == id && r.kind == crate::RunKind::Service)
                });
                lines
                    .iter()
                    .filter(|l| match (&l.invocation_id, &window) {
                        (Some(i), _) => i == id,
                        (None, Some(w)) => {
                            w.start.is_some_and(|s| l.timestamp >= s) && w.end.is_none_or(|e| l.timestamp <= e)
                        }
                        (None, None) => false,
                    })
                    .collect()
            }
        };
        let zone = &self.ui.zone;
        let body = html! {
            div.heading {
                h1 { a href={ "/ui/services/" (name) } { (name) } " · logs" }
                @if let Some(id) = &run { span.sub { "run " (id) " · " a href={ "/ui/services/" (name) "/logs" } { "all lines" } } }
            }
            div.toolbar role="search" {
                input #log-search type="search" placeholder="Search the lines" aria-label="Search the lines";
                select #level aria-label="Level" { @for (v, label) in LEVELS { option value=(v) { (label) } } }
                @if run.is_none() { label.check { input #follow type="checkbox" checked; " Follow" } }
            }
            div #log.log data-name=(name) data-follow=(run.is_none()) tabindex="0" {
                @for l in &lines {
                    @let row = LogRow::of(l, zone);
                    div.line data-p=(row.p) { span.t { (row.t) } " " span.m { (row.m) } }
                }
            }
            p.paused #paused hidden { "Paused while you read. " button type="button" #resume { "Jump to the newest lines" } }
            @if lines.is_empty() {
                p.empty #no-lines { @if run.is_some() { "No lines of this run among the last " (wanted) " lines of the service." } @else { "No lines." } }
            }
        };
        html_answer(StatusCode::OK, self.layout(&format!("{name} logs"), "services", body))
    }

    /// `/ui/environments`: every stored environment, who uses it, and a form for a new one.
    pub(super) async fn environments(
        &self,
        message: Option<&str>,
        status: StatusCode,
        draft: Option<(&str, &str)>,
    ) -> Answer {
        let list = match self.app.local.env_list().await {
            Ok(l) => l.environments,
            Err(e) => return self.failure("Environments", &e),
        };
        let (draft_name, draft_text) = draft.unwrap_or(("", ""));
        let body = html! {
            h1 { "Environments" }
            @if let Some(m) = message { p class=(if status.is_success() { "notice" } else { "error" }) role="alert" { (m) } }
            div.scroll {
                table.envs {
                    thead { tr { th { "Name" } th { "Kind" } th { "What" } th { "Used by" } th {} } }
                    tbody {
                        @for e in &list {
                            tr data-env=(e.name) {
                                td { a href={ "/ui/environments/" (e.name) } { (e.name) } }
                                td { (e.kind) }
                                td { (e.what) }
                                td.users { @for (i, s) in e.used_by.iter().enumerate() { @if i > 0 { ", " } a href={ "/ui/services/" (s) } { (s) } } }
                                td {
                                    form.inline method="post" action={ "/ui/environments/" (e.name) "/delete" } data-confirm={ "Delete environment " (e.name) "?" } {
                                        input type="hidden" name="csrf" value=(self.csrf);
                                        button.danger type="submit" { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if list.is_empty() { p.empty { "No stored environments." } }
            h2 { "New environment" }
            form.stack #new-env method="post" action="/ui/environments" {
                input type="hidden" name="csrf" value=(self.csrf);
                label { "Name" input name="name" required value=(draft_name) pattern="[A-Za-z0-9._-]+"; }
                label { "Definition (TOML: one [venv] or [docker] table)"
                    textarea name="text" rows="8" required spellcheck="false" placeholder="[venv]\nname = \"analytics\"" { (draft_text) } }
                button type="submit" { "Create" }
            }
        };
        html_answer(status, self.layout("Environments", "environments", body))
    }

    /// `/ui/environments/NAME`: its definition, editable, and who uses it.
    pub(super) async fn environment(
        &self,
        name: &str,
        message: Option<&str>,
        status: StatusCode,
        draft: Option<&str>,
    ) -> Answer {
        let Ok(env_name) = taskflows_core::EnvName::new(name) else { return self.not_found() };
        let detail = match self.app.local.env_show(&env_name).await {
            Ok(d) => d,
            Err(e) if e.exit_code() == crate::exit::NO_MATCH => return self.not_found(),
            Err(e) => return self.failure("Environment", &e),
        };
        let body = html! {
            h1 { a href="/ui/environments" { "Environments" } " · " (name) }
            @if let Some(m) = message { p class=(if status.is_success() { "notice" } else { "error" }) role="alert" { (m) } }
            p { (detail.summary.kind) " · " (detail.summary.what) }
            p { "Used by: " @if detail.summary.used_by.is_empty() { "no service" }
                @for (i, s) in detail.summary.used_by.iter().enumerate() { @if i > 0 { ", " } a href={ "/ui/services/" (s) } { (s) } } }
            form.stack #edit-env method="post" action={ "/ui/environments/" (name) } {
                input type="hidden" name="csrf" value=(self.csrf);
                label { "Definition" textarea name="text" rows="12" required spellcheck="false" { (draft.unwrap_or(&detail.text)) } }
                p.sub { "Saving re-creates the services that use it." }
                button type="submit" { "Save" }
            }
            form.inline method="post" action={ "/ui/environments/" (name) "/delete" } data-confirm={ "Delete environment " (name) "?" } {
                input type="hidden" name="csrf" value=(self.csrf);
                button.danger type="submit" { "Delete" }
            }
        };
        html_answer(status, self.layout(name, "environments", body))
    }
}

fn duration(r: &crate::RunRecord) -> String {
    match (r.start, r.end) {
        (Some(s), Some(e)) => {
            let ms = e.duration_since(s).as_millis().max(0) as u64;
            if ms < 1000 {
                format!("{ms} ms")
            } else if ms < 120_000 {
                format!("{:.1} s", ms as f64 / 1e3)
            } else {
                format!("{} min", ms / 60_000)
            }
        }
        (Some(_), None) if r.result == crate::RunResult::Running => "running".to_owned(),
        _ => "—".to_owned(),
    }
}

fn result_tone(r: crate::RunResult) -> &'static str {
    match r {
        crate::RunResult::Success => "ok",
        crate::RunResult::Running => "run",
        _ => "bad",
    }
}

/// `Environment=` lines are not shown (taskflows writes values to env files, but a unit or
/// drop-in written by hand may hold one, quoted with spaces and all).
fn redact(unit: &str) -> String {
    unit.lines()
        .map(|l| match l.split_once('=') {
            Some((k, _)) if k.trim() == "Environment" => format!("{k}=… (hidden)"),
            _ => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The runs as a picture: one bar per run, oldest left, its height the duration (square-root
/// scale), its colour the result; each bar's title says when, how long and how it ended.
fn chart(runs: &[crate::RunRecord]) -> Markup {
    let mut runs: Vec<&crate::RunRecord> = runs.iter().filter(|r| r.start.is_some()).take(60).collect();
    runs.reverse();
    if runs.is_empty() {
        return html! {};
    }
    let now = jiff::Timestamp::now();
    // A run under way counts until now.
    let secs = |r: &crate::RunRecord| match (r.start, r.end, r.result) {
        (Some(s), Some(e), _) => e.duration_since(s).as_secs_f64().max(0.0),
        (Some(s), None, crate::RunResult::Running) => now.duration_since(s).as_secs_f64().max(0.0),
        _ => 0.0,
    };
    let longest = runs.iter().map(|r| secs(r)).fold(0.0f64, f64::max).max(0.001);
    let (w, h, gap) = (600.0, 120.0, 2.0);
    let bar = ((w - gap * runs.len() as f64) / runs.len() as f64).clamp(2.0, 40.0);
    html! {
        figure.chart {
            svg viewBox={ "0 0 " (w) " " (h + 14.0) } role="img" aria-label={ "Durations and results of the last " (runs.len()) " runs" } {
                line x1="0" y1=(h) x2=(w) y2=(h) class="axis" {}
                @for (i, r) in runs.iter().enumerate() {
                    @let d = secs(r);
                    @let bh = ((d / longest).sqrt() * (h - 4.0)).max(3.0);
                    rect x=(format!("{:.1}", i as f64 * (bar + gap))) y=(format!("{:.1}", h - bh)) width=(format!("{bar:.1}")) height=(format!("{bh:.1}"))
                        class={ "bar " (result_tone(r.result)) } {
                        title { (r.start.map(|s| s.to_string()).unwrap_or_default()) " · " (format!("{d:.2}")) " s · " (r.result.as_str()) }
                    }
                }
                text x="0" y=(h + 12.0) class="label" { "oldest" }
                text x=(w) y=(h + 12.0) class="label end" { "newest · longest " (format!("{longest:.2}")) " s" }
            }
            figcaption { "Each bar is a run: height is its duration, colour its result (green success, red failure, blue running)." }
        }
    }
}

/// `POST /ui/actions` `{"action": "restart", "names": [...]}`: each service's result.
pub(super) async fn batch(app: &Arc<App>, user: &str, bytes: &[u8]) -> Answer {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Batch {
        action: String,
        names: Vec<String>,
    }
    #[derive(Serialize)]
    struct Outcome {
        name: String,
        ok: bool,
        message: String,
    }
    let Ok(request) = serde_json::from_slice::<Batch>(bytes) else {
        return plain(StatusCode::BAD_REQUEST, "body: {\"action\": ..., \"names\": [...]} is expected");
    };
    let action = match Action::control(&request.action) {
        Ok(a) => a,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if request.names.is_empty() || request.names.len() > 1000 {
        return plain(StatusCode::BAD_REQUEST, "names: 1 to 1000 services are allowed");
    }
    let snapshot = app.live.snapshot();
    let mut outcomes = Vec::new();
    for name in &request.names {
        if !snapshot.one.contains_key(name) {
            outcomes.push(Outcome { name: name.clone(), ok: false, message: "no such service".into() });
            continue;
        }
        let control = ControlRequest {
            pattern: name.clone(),
            action,
            targets: crate::Targets::default(),
            wait: false,
            timeout: None,
            force: false,
        };
        let outcome = match app.local.control(&control).await {
            Ok(report) => {
                let failed: Vec<String> =
                    report.jobs.iter().filter(|j| !j.ok()).map(|j| format!("{}: {}", j.unit, j.result)).collect();
                let message = if failed.is_empty() { action.done().to_owned() } else { failed.join("; ") };
                Outcome { name: name.clone(), ok: report.ok, message }
            }
            Err(e) => Outcome { name: name.clone(), ok: false, message: e.to_string() },
        };
        tracing::info!(user, service = name, action = request.action, ok = outcome.ok, "web UI: control");
        outcomes.push(outcome);
    }
    app.live.refresh_now().await;
    let mut r = Response::new(Body::from(serde_json::json!({ "results": outcomes }).to_string()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn env_file(name: &str, text: &str) -> crate::Result<EnvironmentFile> {
    let name = taskflows_core::EnvName::new(name).map_err(|e| crate::Error::invalid(format!("name: {e}")))?;
    let label = format!("environment {name}");
    Ok(EnvironmentFile { name, file: SourceFile { label, content: text.replace("\r\n", "\n") } })
}

fn status_of(e: &crate::Error) -> StatusCode {
    match e.exit_code() {
        crate::exit::NO_MATCH => StatusCode::NOT_FOUND,
        crate::exit::USAGE | crate::exit::INVALID => StatusCode::BAD_REQUEST,
        _ if matches!(e, crate::Error::Refused { .. } | crate::Error::Busy { .. }) => StatusCode::CONFLICT,
        _ if matches!(e, crate::Error::Systemd(taskflows_systemd::Error::EnvironmentExists { .. })) => {
            StatusCode::CONFLICT
        }
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn message_of(e: &crate::Error) -> String {
    match e.hint() {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    }
}

pub(super) async fn env_create(
    app: &Arc<App>,
    ui: &Ui,
    csrf: &str,
    user: &str,
    form: &std::collections::HashMap<String, String>,
) -> Answer {
    let page = Page { ui, app, user, csrf };
    let (name, text) = (form.get("name").map_or("", String::as_str), form.get("text").map_or("", String::as_str));
    let result = async { app.local.env_create(&env_file(name, text)?).await }.await;
    match result {
        Ok(c) => {
            tracing::info!(user, environment = c.name, "web UI: environment created");
            page.environments(Some(&format!("Created {}.", c.name)), StatusCode::OK, None).await
        }
        Err(e) => page.environments(Some(&message_of(&e)), status_of(&e), Some((name, text))).await,
    }
}

pub(super) async fn env_update(
    app: &Arc<App>,
    ui: &Ui,
    csrf: &str,
    user: &str,
    name: &str,
    form: &std::collections::HashMap<String, String>,
) -> Answer {
    let page = Page { ui, app, user, csrf };
    let text = form.get("text").map_or("", String::as_str);
    let result = async { app.local.env_update(&env_file(name, text)?).await }.await;
    app.live.refresh_now().await;
    match result {
        Ok(c) => {
            tracing::info!(user, environment = c.name, "web UI: environment updated");
            let also =
                if c.updated.is_empty() { String::new() } else { format!(" Re-created {}.", c.updated.join(", ")) };
            page.environment(name, Some(&format!("Saved.{also}")), StatusCode::OK, None).await
        }
        Err(e) => page.environment(name, Some(&message_of(&e)), status_of(&e), Some(text)).await,
    }
}

pub(super) async fn env_delete(app: &Arc<App>, ui: &Ui, csrf: &str, user: &str, name: &str) -> Answer {
    let page = Page { ui, app, user, csrf };
    let result = async {
        let n = taskflows_core::EnvName::new(name).map_err(|e| crate::Error::invalid(format!("name: {e}")))?;
        app.local.env_delete(&n).await
    }
    .await;
    match result {
        Ok(c) => {
            tracing::info!(user, environment = c.name, "web UI: environment deleted");
            page.environments(Some(&format!("Deleted {}.", c.name)), StatusCode::OK, None).await
        }
        Err(e) => page.environments(Some(&message_of(&e)), status_of(&e), None).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_values_are_redacted_and_markup_is_escaped() {
        let unit = "[Service]\nEnvironment=\"TOKEN=abc\" PLAIN=x\nExecStart=/bin/true\n";
        let shown = redact(unit);
        assert!(
            shown.contains("Environment=… (hidden)") && !shown.contains("abc") && !shown.contains("PLAIN"),
            "{shown}"
        );
        assert!(!redact("Environment=\"PASS=two words\"").contains("words"));
        let state = ServiceState {
            name: "x".into(),
            description: "<img src=x onerror=alert(1)>".into(),
            ..ServiceState::default()
        };
        let html = Row::of(&state, &TimeZone::UTC).markup().into_string();
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;") && !html.contains("<img"), "{html}");
    }

    #[test]
    fn the_assets_are_small() {
        // The page weight: at most 200 KB with the page itself.
        assert!(SCRIPT.len() + STYLE.len() + ICON.len() < 40_000);
    }
}

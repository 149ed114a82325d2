//! Rendering a [`ServiceSpec`] into systemd unit files.
//!
//! Output is deterministic: the same spec and context render byte-identical files. Every value
//! has been checked to be one line when it was built; here it is escaped (`%` → `%%`, quotes in
//! `Environment=`), so no input can add a directive or a section.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::command::AbsPath;
use crate::environment::{EnvName, Environment, Venv};
use crate::error::Error;
use crate::name::UnitName;
use crate::schedule::{RelativeTo, Schedule, StartOn};
use crate::service::ServiceSpec;
use crate::value::{escape_specifiers, quote};

/// Which service manager the units are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Scope {
    /// The user's manager (`systemctl --user`, `~/.config/systemd/user`).
    #[default]
    User,
    /// The system manager (`/etc/systemd/system`).
    System,
}

impl Scope {
    /// The target services are wanted by when enabled.
    pub fn default_target(self) -> &'static str {
        match self {
            Scope::User => "default.target",
            Scope::System => "multi-user.target",
        }
    }

    /// `systemctl` or `systemctl --user`.
    pub fn systemctl(self) -> &'static str {
        match self {
            Scope::User => "systemctl --user",
            Scope::System => "systemctl",
        }
    }
}

/// What rendering needs to know about the host; the front end fills it in (core does no I/O).
#[derive(Debug, Clone)]
pub struct RenderContext {
    /// User or system units.
    pub scope: Scope,
    /// The installed systemd's version, when known; directives newer than it are refused.
    pub systemd_version: Option<u32>,
    /// The conda/mamba/micromamba found on the host, for Venv environments without a runner.
    pub conda_runner: Option<AbsPath>,
    /// The `tf` binary Docker services run their container through.
    pub tf_binary: AbsPath,
    /// taskflows' data folder (container specs live under it).
    pub data_dir: AbsPath,
    /// Stored environments, for services that name one.
    pub named_environments: BTreeMap<EnvName, Environment>,
}

impl RenderContext {
    /// A context for `scope` with no host knowledge: no runner, unknown systemd version,
    /// `tf` at `/usr/local/bin/tf`, data in `/var/lib/taskflows`.
    pub fn new(scope: Scope) -> RenderContext {
        RenderContext {
            scope,
            systemd_version: None,
            conda_runner: None,
            tf_binary: AbsPath::new("/usr/local/bin/tf").expect("a valid literal"),
            data_dir: AbsPath::new("/var/lib/taskflows").expect("a valid literal"),
            named_environments: BTreeMap::new(),
        }
    }
}

/// Where a service's `env` values are kept: `DATA_DIR/env/NAME.env` (mode 0600, in a 0700
/// folder: they may be secrets).
pub fn env_values_path(spec: &ServiceSpec, ctx: &RenderContext) -> String {
    env_values_file(ctx.data_dir.as_str(), spec.name.as_str())
}

/// [`env_values_path`] of the service `name` with the data folder `data_dir`: for those that
/// have the name but not the spec (removing a service, comparing file times).
pub fn env_values_file(data_dir: &str, name: &str) -> String {
    format!("{}/env/{name}.env", data_dir.trim_end_matches('/'))
}

/// The content of a service's env values file (`KEY='value'` lines, quoted so systemd reads each
/// value back exactly), or `None` when it has no `env`.
pub fn env_values(spec: &ServiceSpec) -> Option<String> {
    if spec.env.is_empty() {
        return None;
    }
    Some(spec.env.iter().map(|(k, v)| format!("{k}={}\n", crate::value::env_file_quote(v.as_str()))).collect())
}

/// The `[Unit]` key that names the stored environment a service uses: `X-TaskflowsEnvironment=NAME`.
pub const ENVIRONMENT_KEY: &str = "X-TaskflowsEnvironment";

/// One unit file: its name (`taskflows-NAME.service`) and content.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnitFile {
    /// The file name.
    pub name: String,
    /// The file's content.
    pub content: String,
}

/// A unit file being written section by section.
struct Unit {
    out: String,
}

impl Unit {
    fn new() -> Unit {
        Unit { out: String::with_capacity(512) }
    }

    fn section(&mut self, name: &str) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
        let _ = writeln!(self.out, "[{name}]");
    }

    fn set(&mut self, key: &str, value: impl std::fmt::Display) {
        let _ = writeln!(self.out, "{key}={value}");
    }

    fn units(&mut self, key: &str, units: &[UnitName]) {
        if units.is_empty() {
            return;
        }
        let mut names: Vec<&str> = Vec::with_capacity(units.len());
        for u in units {
            if !names.contains(&u.as_str()) {
                names.push(u.as_str());
            }
        }
        self.set(key, names.join(" "));
    }
}

/// Render every unit of `spec`: the service, its timer, and the stop-/restart- helpers.
pub fn render(spec: &ServiceSpec, ctx: &RenderContext) -> Result<Vec<UnitFile>, Error> {
    spec.validate()?;
    let stem = spec.name.unit_stem();
    let mut files = Vec::with_capacity(6);
    files.push(UnitFile { name: format!("{stem}.service"), content: render_service(spec, ctx)? });
    if !spec.start_schedule.is_empty() {
        files.push(UnitFile {
            name: format!("{stem}.timer"),
            content: render_timer(spec.name.as_str(), &spec.start_schedule.0),
        });
    }
    for (action, schedules) in [("stop", &spec.stop_schedule), ("restart", &spec.restart_schedule)] {
        if schedules.is_empty() {
            continue;
        }
        let helper = format!("{action}-{stem}");
        files.push(UnitFile { name: format!("{helper}.service"), content: render_helper(action, &stem, ctx.scope) });
        files.push(UnitFile {
            name: format!("{helper}.timer"),
            content: render_timer(&format!("{action}-{}", spec.name), &schedules.0),
        });
    }
    Ok(files)
}

/// Whether `spec`'s units run the `tf` binary (`ctx.tf_binary`): a startup requirement that
/// waits (`ExecCondition=TF check --wait`) or a Docker environment, inline or stored
/// (`ExecStart=TF container run`).
pub fn runs_tf(spec: &ServiceSpec, ctx: &RenderContext) -> bool {
    spec.startup_requirements.iter().any(|r| r.wait().is_some())
        || matches!(resolve(spec, ctx), Ok(Some(Environment::Docker(_))))
}

fn resolve<'a>(spec: &'a ServiceSpec, ctx: &'a RenderContext) -> Result<Option<&'a Environment>, Error> {
    match &spec.environment {
        Some(Environment::Named(name)) => match ctx.named_environments.get(name) {
            Some(Environment::Named(_)) | None => {
                let known: Vec<&str> = ctx.named_environments.keys().map(EnvName::as_str).collect();
                let known = if known.is_empty() {
                    "none are stored".to_owned()
                } else {
                    format!("stored: {}", known.join(", "))
                };
                Err(Error::field(
                    format!("service[{}].environment", spec.name),
                    format!("no stored environment named {:?} ({known})", name.as_str()),
                ))
            }
            Some(env) => Ok(Some(env)),
        },
        other => Ok(other.as_ref()),
    }
}

fn render_service(spec: &ServiceSpec, ctx: &RenderContext) -> Result<String, Error> {
    let field = |f: &str| format!("service[{}].{f}", spec.name);
    let environment = resolve(spec, ctx)?;
    if matches!(spec.environment, Some(Environment::Named(_))) {
        // validate() checked an environment written inline; a stored one is checked now.
        spec.check_environment(environment).map_err(|e| e.within(&format!("service[{}]", spec.name)))?;
    }
    let docker = matches!(environment, Some(Environment::Docker(_)));
    let mut u = Unit::new();

    u.section("Unit");
    u.set("Description", escape_specifiers(&spec.description()));
    if let Some(Environment::Named(name)) = &spec.environment {
        // systemd ignores X- keys; the environment store reads them back to find its users.
        u.set(ENVIRONMENT_KEY, name);
    }
    for (key, units) in spec.relations() {
        u.units(key, units);
    }
    if let Some(p) = &spec.restart_policy {
        u.set("StartLimitIntervalSec", p.window.map_or("0".to_owned(), |w| w.to_string()));
        match (p.max_attempts, p.window) {
            (Some(n), _) => u.set("StartLimitBurst", n),
            (None, None) => u.set("StartLimitBurst", 0),
            (None, Some(_)) => {}
        }
    } else if !spec.start_schedule.is_empty() {
        // Its timer sets how often it starts: systemd's default start limit (5 in 10 s) would
        // fail a service scheduled every second or two with start-limit-hit.
        u.set("StartLimitIntervalSec", "0");
    }
    for r in &spec.startup_requirements {
        let (key, value) = r.directive();
        if r.wait().is_some() {
            // Checked (and waited for) by the ExecCondition= below; systemd ignores X- keys, and
            // `tf check` reads them back.
            u.set("X-TaskflowsWait", format!("{key}={value}"));
        } else {
            u.set(&key, value);
        }
    }

    u.section("Service");
    if let Some(w) = &spec.watchdog {
        u.set("Type", "notify");
        u.set("NotifyAccess", w.notify_access.as_str());
        u.set("WatchdogSec", w.timeout);
    }
    // Wait admission: exit 0 starts, 1 skips quietly (silent), 255 fails the start.
    let wait = spec.startup_requirements.iter().filter_map(|r| r.wait()).max();
    if let Some(wait) = wait {
        let tf = tf_word(spec, ctx)?;
        let scope = match ctx.scope {
            Scope::User => "--user",
            Scope::System => "--system",
        };
        u.set(
            "ExecCondition",
            escape_specifiers(&format!("{tf} {scope} check --wait {} {}", compact(wait), spec.name)),
        );
        let cgroup_start_timeout = spec.cgroup_config.as_ref().is_some_and(|c| c.timeout_start.is_some());
        if !cgroup_start_timeout {
            // The start job must outlive the wait.
            // A wait too long to add a minute to cannot end before systemd's own "never".
            match wait.as_micros().checked_add(60_000_000) {
                Some(us) => u.set("TimeoutStartSec", crate::duration::Duration::from_micros(us)),
                None => u.set("TimeoutStartSec", "infinity"),
            }
        }
    }
    match environment {
        Some(Environment::Docker(c)) => {
            let container = c.name.as_ref().map_or_else(|| spec.name.unit_stem(), |n| n.to_string());
            let tf = tf_word(spec, ctx)?;
            let data = exec_word(ctx.data_dir.as_str());
            u.set("ExecStart", escape_specifiers(&format!("{tf} container run --data-dir {data} {container}")));
            let stop = match &spec.stop_command {
                Some(cmd) => cmd.to_string(),
                None => format!("{tf} container stop --data-dir {data} {container}"),
            };
            u.set("ExecStop", escape_specifiers(&stop));
        }
        Some(Environment::Venv(v)) => {
            let runner = venv_runner(v, ctx).map_err(|m| Error::field(field("environment.venv.runner"), m))?;
            let wrap = |cmd: &str| escape_specifiers(&wrap_venv(v, &runner, cmd));
            if let Some(cmd) = &spec.start_command {
                u.set("ExecStart", wrap(cmd.as_str()));
            }
            if let Some(cmd) = &spec.stop_command {
                u.set("ExecStop", wrap(cmd.as_str()));
            }
        }
        _ => {
            if let Some(cmd) = &spec.start_command {
                u.set("ExecStart", escape_specifiers(cmd.as_str()));
            }
            if let Some(cmd) = &spec.stop_command {
                u.set("ExecStop", escape_specifiers(cmd.as_str()));
            }
        }
    }
    if let Some(cmd) = &spec.restart_command {
        let cmd = match environment {
            Some(Environment::Venv(v)) => {
                let runner = venv_runner(v, ctx).map_err(|m| Error::field(field("environment.venv.runner"), m))?;
                wrap_venv(v, &runner, cmd.as_str())
            }
            _ => cmd.to_string(),
        };
        u.set("ExecReload", escape_specifiers(&cmd));
    }
    if let Some(dir) = &spec.working_directory {
        u.set("WorkingDirectory", escape_specifiers(dir.as_str()));
    }
    // The values stay out of the unit (systemd shows a unit's Environment= to every local user
    // over D-Bus): they go in a private file of their own, which the front end writes
    // ([`env_values`]). It comes before the user's env file, which overrides it, as the
    // user's file overrode Environment= lines.
    if !spec.env.is_empty() {
        // systemd drops a variable whose value has a control character other than tab (it
        // would never reach the service): refused here instead.
        if let Some((k, _)) = spec.env.iter().find(|(_, v)| v.as_str().chars().any(|c| c.is_control() && c != '\t')) {
            return Err(Error::field(
                field(&format!("env.{k}")),
                "has a control character other than tab, which systemd would drop the variable for",
            ));
        }
        u.set("EnvironmentFile", escape_specifiers(&env_values_path(spec, ctx)));
    }
    if let Some(path) = &spec.env_file {
        u.set("EnvironmentFile", escape_specifiers(path.as_str()));
    }
    for (name, path) in &spec.credentials {
        u.set("LoadCredential", format!("{name}:{}", escape_specifiers(path.as_str())));
    }
    u.set("KillSignal", &spec.kill_signal);
    let cgroup_stop_timeout = spec.cgroup_config.as_ref().is_some_and(|c| c.timeout_stop.is_some());
    if !cgroup_stop_timeout {
        u.set("TimeoutStopSec", "120s");
    }
    if let Some(t) = spec.timeout {
        u.set("RuntimeMaxSec", t);
    }
    let restart = spec.restart_policy.as_ref();
    if let Some(p) = restart {
        u.set("Restart", p.condition);
        if let Some(d) = p.delay {
            u.set("RestartSec", d);
        }
        if p.needs_backoff_support() {
            if let Some(v) = ctx.systemd_version.filter(|v| *v < 254) {
                return Err(Error::field(
                    field("restart_policy"),
                    format!(
                        "steps and max_delay (exponential backoff: RestartSteps=, RestartMaxDelaySec=) need systemd 254 or newer; this host has systemd {v}"
                    ),
                ));
            }
            if let Some(n) = p.steps {
                u.set("RestartSteps", n);
            }
            if let Some(d) = p.max_delay {
                u.set("RestartMaxDelaySec", d);
            }
        }
    } else if spec.watchdog.as_ref().is_some_and(|w| w.restart_on_hang) {
        u.set("Restart", "on-watchdog");
    }
    // Run history reports the CPU time systemd logs when a run ends, which needs accounting.
    u.set("CPUAccounting", "yes");
    if let Some(c) = &spec.cgroup_config {
        for (k, v) in c.directives() {
            u.set(k, v);
        }
    }
    if !docker {
        u.set("StandardOutput", "journal");
        u.set("StandardError", "journal");
    }
    // Lets logs find the output of a process that exited before journald could tell its unit.
    u.set("SyslogIdentifier", spec.name.unit_stem());

    u.section("Install");
    u.set("WantedBy", ctx.scope.default_target());
    // Values were checked alone when the spec was built; a command wrapped for its venv is
    // longer than it was.
    if let Some(line) = u.out.lines().find(|l| l.len() > crate::value::UNIT_LINE_MAX) {
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        let name = match key {
            "ExecStart" => "start_command",
            "ExecStop" => "stop_command",
            "ExecReload" => "restart_command",
            "Description" => "description",
            other => other,
        };
        return Err(Error::field(
            field(name),
            format!(
                "written into the unit it makes a {}-byte line ({key}=…); systemd reads lines of at most {} bytes",
                line.len(),
                crate::value::UNIT_LINE_MAX
            ),
        ));
    }
    Ok(u.out)
}

/// A program's path as the first word of an `Exec…=` line. systemd runs that path as written
/// (`$$` stays `$$`) but expands `$` in the argv[0] it makes of the same word: a path with `$`
/// cannot be written faithfully, and is refused.
fn program_word(path: &str) -> Result<String, String> {
    if path.contains('$') {
        return Err(format!(
            "{path:?} has a '$': systemd runs a program's path as written but expands '$' in its argv[0]; use a path without '$'"
        ));
    }
    Ok(exec_word(path))
}

/// The `tf` binary as a program word.
fn tf_word(spec: &ServiceSpec, ctx: &RenderContext) -> Result<String, Error> {
    program_word(ctx.tf_binary.as_str()).map_err(|m| {
        Error::field(format!("service[{}]", spec.name), format!("the tf its units run (TF_BIN, else PATH): {m}"))
    })
}

/// The conda-style runner for `v`: its own, else the host's.
fn venv_runner(v: &Venv, ctx: &RenderContext) -> Result<String, String> {
    match (&v.runner, &ctx.conda_runner) {
        (Some(r), _) => program_word(r.as_str()).map(|_| r.to_string()),
        (None, Some(r)) => program_word(r.as_str())
            .map(|_| r.to_string())
            .map_err(|m| format!("the conda runner found on this host, {m}")),
        (None, None) => {
            Err("no conda, mamba or micromamba was found on PATH or in the usual folders; install one or set `runner`"
                .to_owned())
        }
    }
}

/// Wrap `cmd` to run inside the environment, keeping systemd's `@-:+!` prefixes in front.
fn wrap_venv(v: &Venv, runner: &str, cmd: &str) -> String {
    let body = cmd.trim_start_matches(['@', '-', ':', '+', '!']);
    let prefix = &cmd[..cmd.len() - body.len()];
    format!("{prefix}{}", v.wrap(&exec_word(runner), body))
}

/// A duration as one command-line word: `10min`, `1h30min`.
fn compact(d: crate::duration::Duration) -> String {
    d.to_string().replace(' ', "")
}

/// A path as one word of an `Exec…=` line: `$` doubled (systemd would expand a variable),
/// quoted when it has blanks, quotes or backslashes.
fn exec_word(s: &str) -> String {
    let s = s.replace('$', "$$");
    if s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == '\\') { quote(&s) } else { s }
}

fn render_timer(name: &str, schedules: &[Schedule]) -> String {
    let mut u = Unit::new();
    u.section("Unit");
    u.set("Description", escape_specifiers(&format!("timer for {name}")));
    u.section("Timer");
    let mut persistent = false;
    let mut accuracy = None;
    let mut randomized = None;
    for s in schedules {
        let (acc, rnd) = match s {
            Schedule::Calendar(c) => {
                u.set("OnCalendar", escape_specifiers(c.expr.as_str()));
                persistent |= c.persistent;
                (c.accuracy, c.randomized_delay)
            }
            Schedule::Periodic(p) => {
                match p.start_on {
                    StartOn::Boot => u.set("OnBootSec", 1),
                    StartOn::Login => u.set("OnStartupSec", 1),
                    StartOn::Command => {}
                }
                match p.relative_to {
                    RelativeTo::Start => u.set("OnUnitActiveSec", p.period),
                    RelativeTo::Finish => u.set("OnUnitInactiveSec", p.period),
                }
                (p.accuracy, p.randomized_delay)
            }
        };
        // One timer serves all schedules: the tightest accuracy and the longest delay win.
        accuracy = Some(accuracy.map_or(acc, |a: crate::duration::Duration| a.min(acc)));
        randomized = randomized.max(rnd);
    }
    if persistent {
        u.set("Persistent", "true");
    }
    if let Some(a) = accuracy {
        u.set("AccuracySec", a);
    }
    if let Some(r) = randomized {
        u.set("RandomizedDelaySec", r);
    }
    u.section("Install");
    u.set("WantedBy", "timers.target");
    u.out
}

fn render_helper(action: &str, stem: &str, scope: Scope) -> String {
    let mut u = Unit::new();
    u.section("Unit");
    u.set("Description", format!("{action} {stem}.service"));
    u.section("Service");
    u.set("Type", "oneshot");
    u.set("ExecStart", format!("{} {action} {stem}.service", scope.systemctl()));
    u.out
}

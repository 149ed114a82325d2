//! The service: a command systemd runs, optionally on schedules, with policies and limits.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

use crate::cgroup::CgroupConfig;
use crate::command::{AbsPath, CommandLine, EnvKey};
use crate::constraints::{self, Requirement};
use crate::duration::Duration;
use crate::environment::Environment;
use crate::error::{Error, ValueError};
use crate::name::{ServiceName, UnitName};
use crate::policy::{RestartPolicy, Watchdog};
use crate::schedule::{Schedule, Schedules};
use crate::value::{Text, string_newtype};

/// A declared service. Build one with [`ServiceSpec::builder`] or read it from a service file
/// ([`crate::file::parse_service_file`]); [`ServiceSpec::validate`] checks what no single field
/// can check alone, and rendering calls it again.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Service")]
pub struct ServiceSpec {
    /// The service's name: units are named taskflows-NAME.service and so on.
    pub name: ServiceName,
    /// A one-line description (default "Service for NAME").
    pub description: Option<Text>,
    /// The command to run (ExecStart=); for a Docker environment, the container's command.
    pub start_command: Option<CommandLine>,
    /// The command that stops the service (ExecStop=).
    pub stop_command: Option<CommandLine>,
    /// The command that reloads the service (ExecReload=).
    pub restart_command: Option<CommandLine>,
    /// Where the command runs: a stored environment's name, { venv = … } or { docker = … }.
    pub environment: Option<Environment>,
    /// When to start: a calendar expression, a schedule table, or a list of them.
    #[serde(default)]
    pub start_schedule: Schedules,
    /// When to stop.
    #[serde(default)]
    pub stop_schedule: Schedules,
    /// When to restart.
    #[serde(default)]
    pub restart_schedule: Schedules,
    /// The working directory (WorkingDirectory=).
    pub working_directory: Option<AbsPath>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<EnvKey, Text>,
    /// A file of KEY=VALUE lines (EnvironmentFile=), checked when the service is created.
    pub env_file: Option<AbsPath>,
    /// Secrets systemd hands the service as files (`LoadCredential=NAME:PATH`; the service reads
    /// `$CREDENTIALS_DIRECTORY/NAME`): never in the environment, where child processes and
    /// crash reports see them, nor in the unit. NAME: letters, digits and `_`; PATH: a file of at
    /// most 1 MiB under the allowed folders that others cannot read (and, for a system service,
    /// that only root can change). At most 64; not for Docker services.
    #[serde(default)]
    pub credentials: BTreeMap<EnvKey, AbsPath>,
    /// Start the service at boot (system) or login (user).
    #[serde(default)]
    pub enabled: bool,
    /// The longest a run may take (RuntimeMaxSec=); more than zero.
    pub timeout: Option<Duration>,
    /// The signal that stops the service (default SIGTERM).
    #[serde(default)]
    pub kill_signal: Signal,
    /// When systemd restarts the service: a condition such as "on-failure", or a table.
    pub restart_policy: Option<RestartPolicy>,
    /// A watchdog the service must ping (Type=notify, WatchdogSec=).
    pub watchdog: Option<Watchdog>,
    /// What must hold for the service to start (Assert…= / Condition…=).
    #[serde(default)]
    pub startup_requirements: Vec<Requirement>,
    /// Resource limits.
    pub cgroup_config: Option<CgroupConfig>,
    /// Start after these units (After=).
    #[serde(default, deserialize_with = "one_or_many")]
    pub start_after: Vec<UnitName>,
    /// Start before these units (Before=).
    #[serde(default, deserialize_with = "one_or_many")]
    pub start_before: Vec<UnitName>,
    /// Requires=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub requires: Vec<UnitName>,
    /// Requisite=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub requisite: Vec<UnitName>,
    /// Wants=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub wants: Vec<UnitName>,
    /// Upholds=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub upholds: Vec<UnitName>,
    /// BindsTo=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub binds_to: Vec<UnitName>,
    /// PartOf=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub part_of: Vec<UnitName>,
    /// Units started when this one fails (OnFailure=).
    #[serde(default, deserialize_with = "one_or_many")]
    pub on_failure: Vec<UnitName>,
    /// Units started when this one succeeds (OnSuccess=).
    #[serde(default, deserialize_with = "one_or_many")]
    pub on_success: Vec<UnitName>,
    /// Conflicts=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub conflicts: Vec<UnitName>,
    /// PropagatesStopTo=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub propagate_stop_to: Vec<UnitName>,
    /// StopPropagatedFrom=.
    #[serde(default, deserialize_with = "one_or_many")]
    pub propagate_stop_from: Vec<UnitName>,
}

/// The most credentials a service may name.
pub(crate) const CREDENTIALS_MAX: usize = 64;

/// The `[Unit]` directives relations render to, in the order of [`ServiceSpec::relations`].
pub const RELATION_DIRECTIVES: [&str; 13] = [
    "After",
    "Before",
    "Requires",
    "Requisite",
    "Wants",
    "Upholds",
    "BindsTo",
    "PartOf",
    "OnFailure",
    "OnSuccess",
    "Conflicts",
    "PropagatesStopTo",
    "StopPropagatedFrom",
];

/// Accept one value or a list.
fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    use serde::de::value::{MapAccessDeserializer, StrDeserializer};
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a unit name, { service = \"NAME\" }, or a list of them")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<T>, E> {
            T::deserialize(StrDeserializer::new(v)).map(|t| vec![t])
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map)).map(|t| vec![t])
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut all = Vec::new();
            while let Some(t) = seq.next_element()? {
                all.push(t);
            }
            Ok(all)
        }
    }
    d.deserialize_any(V(std::marker::PhantomData))
}

/// A signal name for `KillSignal=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Signal(String);

const SIGNALS: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
    "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",
    "PWR", "SYS",
];

impl Signal {
    /// Accept `SIGTERM`, `TERM`, `sigterm` … (written as `SIGTERM`), or `SIGRTMIN+N`.
    pub fn new(s: impl Into<String>) -> Result<Signal, ValueError> {
        let s = s.into();
        let upper = s.to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        let realtime = bare.strip_prefix("RTMIN+").and_then(|n| n.parse::<u8>().ok()).is_some_and(|n| n <= 30);
        if SIGNALS.contains(&bare) || bare == "RTMIN" || realtime {
            Ok(Signal(format!("SIG{bare}")))
        } else {
            Err(ValueError::new(format!(
                "{s:?} is not a signal; use a name such as SIGTERM, SIGINT, SIGKILL, SIGHUP or SIGRTMIN+N"
            )))
        }
    }

    /// `SIGTERM` and so on.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Signal {
    fn default() -> Signal {
        Signal("SIGTERM".to_owned())
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_newtype!(Signal, "Signal", "A signal name such as SIGTERM (default), SIGINT, SIGKILL.");

impl ServiceSpec {
    /// Start building a service named `name` that runs `start_command`.
    pub fn builder(name: &str, start_command: &str) -> ServiceBuilder {
        let spec = ServiceName::new(name).map_err(|e| e.at("name")).and_then(|name| {
            let start_command = CommandLine::new(start_command)
                .map_err(|e| e.at("start_command").within(&format!("service[{name}]")))?;
            Ok(ServiceSpec::minimal(name, Some(start_command)))
        });
        ServiceBuilder { spec }
    }

    /// A service with only a name and a command.
    pub fn minimal(name: ServiceName, start_command: Option<CommandLine>) -> ServiceSpec {
        ServiceSpec {
            name,
            description: None,
            start_command,
            stop_command: None,
            restart_command: None,
            environment: None,
            start_schedule: Schedules::default(),
            stop_schedule: Schedules::default(),
            restart_schedule: Schedules::default(),
            working_directory: None,
            env: BTreeMap::new(),
            env_file: None,
            credentials: BTreeMap::new(),
            enabled: false,
            timeout: None,
            kill_signal: Signal::default(),
            restart_policy: None,
            watchdog: None,
            startup_requirements: Vec::new(),
            cgroup_config: None,
            start_after: Vec::new(),
            start_before: Vec::new(),
            requires: Vec::new(),
            requisite: Vec::new(),
            wants: Vec::new(),
            upholds: Vec::new(),
            binds_to: Vec::new(),
            part_of: Vec::new(),
            on_failure: Vec::new(),
            on_success: Vec::new(),
            conflicts: Vec::new(),
            propagate_stop_to: Vec::new(),
            propagate_stop_from: Vec::new(),
        }
    }

    /// Check what no single field can: required combinations and exclusions, ranges of nested
    /// values. Field paths in errors start with `service[NAME]`.
    pub fn validate(&self) -> Result<(), Error> {
        self.validate_fields().map_err(|e| e.within(&format!("service[{}]", self.name)))
    }

    /// Check what depends on the environment the service runs in: `environment` as written, or
    /// a stored one once rendering has resolved its name. Field paths start at the service.
    pub(crate) fn check_environment(&self, environment: Option<&Environment>) -> Result<(), Error> {
        let docker = match environment {
            Some(Environment::Docker(c)) => {
                c.check().map_err(|e| e.within("environment.docker"))?;
                true
            }
            _ => false,
        };
        // A stored environment may turn out to be a container with its own command.
        let named = matches!(environment, Some(Environment::Named(_)));
        if self.start_command.is_none() && !docker && !named {
            return Err(Error::field("start_command", "is required (the command the service runs)"));
        }
        if docker && let Some(cmd) = &self.start_command {
            crate::environment::split_shell(cmd.as_str()).map_err(|e| e.at("start_command"))?;
        }
        if docker && !self.credentials.is_empty() {
            return Err(Error::field(
                "credentials",
                "are not allowed with a Docker environment (systemd hands them to the unit, not to the container); \
                 mount the file with docker.volumes instead",
            ));
        }
        if docker && self.watchdog.is_some() {
            return Err(Error::field(
                "watchdog",
                "is not allowed with a Docker environment (the container cannot notify systemd)",
            ));
        }
        Ok(())
    }

    fn validate_fields(&self) -> Result<(), Error> {
        self.check_environment(self.environment.as_ref())?;
        self.check_unit_values()?;
        if self.timeout.is_some_and(Duration::is_zero) {
            return Err(Error::field("timeout", "must be more than zero (seconds, or a duration such as \"5min\")"));
        }
        if self.watchdog.as_ref().is_some_and(|w| w.timeout.is_zero()) {
            return Err(Error::field("watchdog.timeout", "must be more than zero"));
        }
        for (field, schedules) in [
            ("start_schedule", &self.start_schedule),
            ("stop_schedule", &self.stop_schedule),
            ("restart_schedule", &self.restart_schedule),
        ] {
            for s in &schedules.0 {
                if let Schedule::Periodic(p) = s
                    && p.period.is_zero()
                {
                    return Err(Error::field(
                        format!("{field}.period"),
                        "must be more than zero, e.g. 300 or \"5min\"",
                    ));
                }
            }
        }
        for (i, r) in self.startup_requirements.iter().enumerate() {
            constraints::check(r).map_err(|e| e.at(format!("startup_requirements[{i}]")))?;
        }
        if let Some(c) = &self.cgroup_config {
            c.check().map_err(|e| e.within("cgroup_config"))?;
        }
        Ok(())
    }

    /// Check what systemd would change or refuse: blanks at the ends of a value written alone
    /// on a unit-file line, values too long for one, `env` variables too long to reach the
    /// service, an env values file too large to be read.
    /// (Paths and command words are checked when they are built; a command wrapped for a venv is
    /// checked again when it is rendered.)
    fn check_unit_values(&self) -> Result<(), Error> {
        use crate::value::{ENV_FILE_MAX, check_env_value, check_unit_blanks, check_unit_line, escape_specifiers};
        if let Some(d) = &self.description {
            check_unit_blanks(d.as_str()).map_err(|e| e.at("description"))?;
            check_unit_line("Description", d.as_str(), &escape_specifiers(d.as_str()))
                .map_err(|e| e.at("description"))?;
        }
        for (field, path) in [("working_directory", &self.working_directory), ("env_file", &self.env_file)] {
            if let Some(p) = path {
                check_unit_blanks(p.as_str()).map_err(|e| e.at(field))?;
            }
        }
        if self.credentials.len() > CREDENTIALS_MAX {
            return Err(Error::field("credentials", format!("at most {CREDENTIALS_MAX} are allowed")));
        }
        for (name, path) in &self.credentials {
            check_unit_blanks(path.as_str()).map_err(|e| e.at(format!("credentials.{name}")))?;
        }
        // A Docker service's start_command is the container's, not written into the unit.
        let docker = matches!(self.environment, Some(Environment::Docker(_)));
        for (field, key, cmd) in [
            ("start_command", "ExecStart", self.start_command.as_ref().filter(|_| !docker)),
            ("stop_command", "ExecStop", self.stop_command.as_ref()),
            ("restart_command", "ExecReload", self.restart_command.as_ref()),
        ] {
            if let Some(cmd) = cmd {
                check_unit_line(key, cmd.as_str(), &escape_specifiers(cmd.as_str())).map_err(|e| e.at(field))?;
            }
        }
        for (k, v) in &self.env {
            check_env_value(k.as_str(), v.as_str()).map_err(|e| e.at(format!("env.{k}")))?;
        }
        if let Some(file) = crate::render::env_values(self)
            && file.len() > ENV_FILE_MAX
        {
            return Err(Error::field(
                "env",
                format!(
                    "the values make a {}-byte env file; systemd reads env files of at most {ENV_FILE_MAX} bytes",
                    file.len()
                ),
            ));
        }
        Ok(())
    }

    /// The relations with the `[Unit]` directive each becomes, in rendering order.
    pub fn relations(&self) -> [(&'static str, &[UnitName]); 13] {
        let [a, b, c, d, e, f, g, h, i, j, k, l, m] = RELATION_DIRECTIVES;
        [
            (a, &self.start_after),
            (b, &self.start_before),
            (c, &self.requires),
            (d, &self.requisite),
            (e, &self.wants),
            (f, &self.upholds),
            (g, &self.binds_to),
            (h, &self.part_of),
            (i, &self.on_failure),
            (j, &self.on_success),
            (k, &self.conflicts),
            (l, &self.propagate_stop_to),
            (m, &self.propagate_stop_from),
        ]
    }

    /// The description, or `Service for NAME`.
    pub fn description(&self) -> String {
        match &self.description {
            Some(d) => d.to_string(),
            None => format!("Service for {}", self.name),
        }
    }
}

/// Builds a [`ServiceSpec`] from plain values; the first invalid value is reported by
/// [`ServiceBuilder::build`], naming its field.
#[derive(Debug, Clone)]
#[must_use]
pub struct ServiceBuilder {
    spec: Result<ServiceSpec, Error>,
}

/// Something that names a unit: a unit name (`"postgresql"`, `"network-online.target"`) or
/// another taskflows service.
pub trait IntoUnitName {
    /// The unit's full name.
    fn into_unit_name(self) -> Result<UnitName, ValueError>;
}

impl IntoUnitName for &str {
    fn into_unit_name(self) -> Result<UnitName, ValueError> {
        UnitName::new(self)
    }
}

impl IntoUnitName for &ServiceName {
    fn into_unit_name(self) -> Result<UnitName, ValueError> {
        Ok(UnitName::of_service(self))
    }
}

impl IntoUnitName for &ServiceSpec {
    fn into_unit_name(self) -> Result<UnitName, ValueError> {
        Ok(UnitName::of_service(&self.name))
    }
}

macro_rules! relation_setters {
    ($($field:ident),* $(,)?) => {$(
        #[doc = concat!("Add a unit to `", stringify!($field), "`.")]
        pub fn $field(self, unit: impl IntoUnitName) -> ServiceBuilder {
            self.with(stringify!($field), |s| {
                s.$field.push(unit.into_unit_name()?);
                Ok(())
            })
        }
    )*};
}

impl ServiceBuilder {
    fn with(mut self, field: &str, f: impl FnOnce(&mut ServiceSpec) -> Result<(), ValueError>) -> ServiceBuilder {
        if let Ok(spec) = &mut self.spec
            && let Err(e) = f(spec)
        {
            let prefix = format!("service[{}]", spec.name);
            self.spec = Err(e.at(field).within(&prefix));
        }
        self
    }

    /// One line describing the service.
    pub fn description(self, text: &str) -> ServiceBuilder {
        self.with("description", |s| {
            s.description = Some(Text::new(text)?);
            Ok(())
        })
    }

    /// The command that stops the service.
    pub fn stop_command(self, command: &str) -> ServiceBuilder {
        self.with("stop_command", |s| {
            s.stop_command = Some(CommandLine::new(command)?);
            Ok(())
        })
    }

    /// The command that reloads the service.
    pub fn restart_command(self, command: &str) -> ServiceBuilder {
        self.with("restart_command", |s| {
            s.restart_command = Some(CommandLine::new(command)?);
            Ok(())
        })
    }

    /// Where the command runs.
    pub fn environment(self, env: Environment) -> ServiceBuilder {
        self.with("environment", |s| {
            s.environment = Some(env);
            Ok(())
        })
    }

    /// Add a start schedule.
    pub fn start_schedule(self, schedule: impl Into<Schedule>) -> ServiceBuilder {
        self.with("start_schedule", |s| {
            s.start_schedule.0.push(schedule.into());
            Ok(())
        })
    }

    /// Add a stop schedule.
    pub fn stop_schedule(self, schedule: impl Into<Schedule>) -> ServiceBuilder {
        self.with("stop_schedule", |s| {
            s.stop_schedule.0.push(schedule.into());
            Ok(())
        })
    }

    /// Add a restart schedule.
    pub fn restart_schedule(self, schedule: impl Into<Schedule>) -> ServiceBuilder {
        self.with("restart_schedule", |s| {
            s.restart_schedule.0.push(schedule.into());
            Ok(())
        })
    }

    /// The working directory, an absolute path.
    pub fn working_directory(self, path: &str) -> ServiceBuilder {
        self.with("working_directory", |s| {
            s.working_directory = Some(AbsPath::new(path)?);
            Ok(())
        })
    }

    /// Set an environment variable.
    pub fn env(self, key: &str, value: &str) -> ServiceBuilder {
        self.with("env", |s| {
            s.env.insert(EnvKey::new(key)?, Text::new(value)?);
            Ok(())
        })
    }

    /// A file of KEY=VALUE lines.
    pub fn env_file(self, path: &str) -> ServiceBuilder {
        self.with("env_file", |s| {
            s.env_file = Some(AbsPath::new(path)?);
            Ok(())
        })
    }

    /// A credential systemd loads from `path` for the service, as `$CREDENTIALS_DIRECTORY/NAME`.
    pub fn credential(self, name: &str, path: &str) -> ServiceBuilder {
        self.with("credentials", |s| {
            s.credentials.insert(EnvKey::new(name)?, AbsPath::new(path)?);
            Ok(())
        })
    }

    /// Start at boot or login.
    pub fn enabled(self, enabled: bool) -> ServiceBuilder {
        self.with("enabled", |s| {
            s.enabled = enabled;
            Ok(())
        })
    }

    /// The longest a run may take.
    pub fn timeout(self, timeout: Duration) -> ServiceBuilder {
        self.with("timeout", |s| {
            s.timeout = Some(timeout);
            Ok(())
        })
    }

    /// The signal that stops the service.
    pub fn kill_signal(self, signal: &str) -> ServiceBuilder {
        self.with("kill_signal", |s| {
            s.kill_signal = Signal::new(signal)?;
            Ok(())
        })
    }

    /// When systemd restarts the service.
    pub fn restart_policy(self, policy: impl Into<RestartPolicy>) -> ServiceBuilder {
        self.with("restart_policy", |s| {
            s.restart_policy = Some(policy.into());
            Ok(())
        })
    }

    /// A watchdog the service must ping.
    pub fn watchdog(self, watchdog: Watchdog) -> ServiceBuilder {
        self.with("watchdog", |s| {
            s.watchdog = Some(watchdog);
            Ok(())
        })
    }

    /// Add a startup requirement.
    pub fn requirement(self, requirement: Requirement) -> ServiceBuilder {
        self.with("startup_requirements", |s| {
            s.startup_requirements.push(requirement);
            Ok(())
        })
    }

    /// Resource limits.
    pub fn cgroup_config(self, config: CgroupConfig) -> ServiceBuilder {
        self.with("cgroup_config", |s| {
            s.cgroup_config = Some(config);
            Ok(())
        })
    }

    relation_setters!(
        start_after,
        start_before,
        requires,
        requisite,
        wants,
        upholds,
        binds_to,
        part_of,
        on_failure,
        on_success,
        conflicts,
        propagate_stop_to,
        propagate_stop_from,
    );

    /// The service, if every value was valid.
    pub fn build(self) -> Result<ServiceSpec, Error> {
        let spec = self.spec?;
        spec.validate()?;
        Ok(spec)
    }
}

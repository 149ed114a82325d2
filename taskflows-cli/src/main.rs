//! `tf`, the taskflows command: a thin front end over the operations of `taskflows-api`.
//!
//! It parses the command line, reads files, calls one operation of [`taskflows_api::Local`] and
//! prints its answer: as a table or lines, or with `--json` as the answer itself (the JSON
//! contract, `schema/taskflows-api.schema.json`). No model or orchestration logic lives here.
//!
//! Exit codes ([`taskflows_api::exit`]): 0 success; 1 the operation failed (a job or run failed,
//! systemd unreachable, the data folder busy); 2 the command line is wrong; 3 a service
//! definition is invalid (the message names the file, line, column and field); 4 no installed
//! service matches the pattern (the message names the nearest ones). A closed pipe (e.g.
//! `tf … | head`) ends quietly with 0.

mod api;
mod calendar;
mod complete;
mod container;
mod create;
mod env;
mod fleet;
mod host;
mod monitor;
mod monitor_alerts;
mod output;
mod progress;
mod servers;
mod services;
mod slack;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{CommandFactory as _, Parser, Subcommand};
use taskflows_api::{Local, SourceFile, Targets, exit};

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Examples, at the end of `tf -h` and `tf --help`.
macro_rules! examples {
    () => {
        "Examples:
  tf create services.toml        install the services of a file (or a folder of them)
  tf status                      every service's state, last and next run
  tf stop nightly                stop a service and its timers (it does not fire again)
  tf start nightly --wait        run it now and wait for the run's result
  tf logs nightly --run last     the output of its last run
  tf logs web --since 2h -p err  errors of the last two hours
  tf status -s prod1 -s prod2    the same on two API servers"
    };
}

/// The environment, at the end of `tf --help`.
macro_rules! environment {
    () => {
        "Environment:
  TASKFLOWS_DATA_DIR          the data folder (default /var/lib/taskflows for system services,
                              ~/.local/share/taskflows for user services)
  TASKFLOWS_DISPLAY_TIMEZONE  the time zone times are shown in (an IANA name; default UTC)
  TASKFLOWS_LOG, RUST_LOG     tf's own log filter (e.g. debug, taskflows_api=trace); -v/-q
                              set the default
  TASKFLOWS_LOG_FORMAT        text or json: tf's own log lines (as --log-format)
  TASKFLOWS_LOKI_URL          push tf's log lines to Loki (TASKFLOWS_LOKI_TOKEN: its token)
  TASKFLOWS_SMTP_HOST, _PORT, _USER, _PASSWORD, _SECURITY, TASKFLOWS_EMAIL_FROM,
  TASKFLOWS_MONITOR_WEBHOOKS  the monitor's alerts (tf monitor check --help)
  TASKFLOWS_JWT_SECRET, TASKFLOWS_ADMIN_USER, TASKFLOWS_ADMIN_PASSWORD
                              the web UI's accounts (tf api serve)
  TASKFLOWS_BIN               the tf that units run (tf check --wait, Docker services);
                              default: tf on PATH
  TF_*                        the Python tf's names of the variables above (TF_SMTP_HOST …):
                              still read; the TASKFLOWS_ name wins when both are set
  NO_COLOR                    set and not empty: no colour (unless --color always)
  COMPLETE                    shell completion: `source <(COMPLETE=bash tf)` completes
                              installed services and environment names (zsh, fish, elvish too)

Exit codes: 0 success; 1 the operation failed (a job or run failed, systemd unreachable, the
data folder busy) or was refused; 2 wrong command line; 3 invalid service or environment
definition; 4 no service matches the pattern, or no stored environment has the name. A closed
pipe exits 0."
    };
}

/// Manage scheduled jobs and long-running services as systemd units.
#[derive(Parser)]
#[command(
    name = "tf",
    version = env!("TF_VERSION"),
    about,
    max_term_width = 100,
    after_help = concat!(examples!(), "\n\n`tf COMMAND --help` for one command; `tf --help` also lists the environment."),
    after_long_help = concat!(examples!(), "\n\n", environment!()),
)]
struct Cli {
    /// Act on the user's service manager (default for non-root users).
    #[arg(long, global = true, help_heading = GLOBAL, conflicts_with = "system")]
    user: bool,
    /// Act on the system service manager (default for root).
    #[arg(long, global = true, help_heading = GLOBAL)]
    system: bool,
    /// How long a change waits for another tf command changing the same data folder before it
    /// gives up as busy.
    #[arg(long, global = true, help_heading = GLOBAL, default_value = "60s", value_parser = parse_duration)]
    lock_timeout: taskflows_core::Duration,
    /// Act on this API server instead of this host: a name from `tf server list`, or
    /// localhost[:PORT] (repeatable; the servers are asked in parallel).
    #[arg(short = 's', long = "server", global = true, help_heading = GLOBAL, value_name = "SERVER")]
    servers: Vec<String>,
    /// How tf's own log lines look on stderr (default: TASKFLOWS_LOG_FORMAT, else text); under
    /// systemd they go to the journal with their fields.
    #[arg(long, global = true, help_heading = GLOBAL, value_enum)]
    log_format: Option<LogFormatArg>,
    /// When to colour the output: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, help_heading = GLOBAL, value_enum, default_value_t = output::ColourChoice::Auto, value_name = "WHEN")]
    color: output::ColourChoice,
    /// Print less: no progress, no lines about what a successful change did; errors and warnings
    /// still show.
    #[arg(short, long, global = true, help_heading = GLOBAL, conflicts_with = "verbose")]
    quiet: bool,
    /// Print more of tf's own log lines on stderr: -v info, -vv debug, -vvv trace.
    #[arg(short, long, global = true, help_heading = GLOBAL, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

/// `--log-format`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormatArg {
    /// Readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl From<LogFormatArg> for taskflows_api::logging::LogFormat {
    fn from(f: LogFormatArg) -> taskflows_api::logging::LogFormat {
        match f {
            LogFormatArg::Text => taskflows_api::logging::LogFormat::Text,
            LogFormatArg::Json => taskflows_api::logging::LogFormat::Json,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List installed services and their units.
    List {
        /// A service name, or a glob matching several (`web-*`, quoted); default: all.
        #[arg(add = complete::services())]
        pattern: Option<String>,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Show services' state, last and next runs, schedules.
    Status {
        /// A service name, or a glob matching several (`web-*`, quoted); default: all.
        #[arg(short = 'm', long = "match", value_name = "PATTERN", add = complete::services())]
        pattern: Option<String>,
        /// Only running services.
        #[arg(long)]
        running: bool,
        /// More columns: description, load state, restarts.
        #[arg(long)]
        all: bool,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Show a service's journal: the last lines, those of one run, or those matching filters.
    #[command(after_help = LOGS_EXAMPLES)]
    Logs(LogsArgs),
    /// Print the installed unit files of services.
    Show {
        /// A service name, or a glob matching several (`web-*`, quoted for the shell).
        #[arg(add = complete::services())]
        pattern: String,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Create services from a service file or a folder of them.
    Create(create::CreateArgs),
    /// Start services and their timers (-t: only the timers, --services: only the services).
    #[command(after_help = control_examples("start"))]
    Start {
        /// A service name, or a glob matching several (`web-*`, quoted for the shell).
        #[arg(add = complete::services())]
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
        /// Wait for the runs to finish; fail if one failed.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after this long (e.g. 10min); the services keep running.
        #[arg(long, requires = "wait", value_parser = parse_duration)]
        timeout: Option<taskflows_core::Duration>,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Stop services and their timers, so they do not fire again (-t: only the timers, --services:
    /// only the services).
    #[command(after_help = control_examples("stop"))]
    Stop {
        /// A service name, or a glob matching several (`web-*`, quoted for the shell).
        #[arg(add = complete::services())]
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Restart services and their timers (-t: only the timers, --services: only the services).
    #[command(after_help = control_examples("restart"))]
    Restart {
        /// A service name, or a glob matching several (`web-*`, quoted for the shell).
        #[arg(add = complete::services())]
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Enable services and their timers at boot or login (-t: only the timers, --services: only the
    /// services).
    #[command(after_help = control_examples("enable"))]
    Enable {
        /// A service name, or a glob matching several (`web-*`, quoted for the shell).
        #[arg(add = complete::services())]
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Disable services and their timers (-t: only the timers, --services: only the services).
    #[command(after_help = control_examples("disable"))]
    Disable {
        /// A service name, or a glob matching several (`web-*`, quoted for the shell).
        #[arg(add = complete::services())]
        pattern: String,
        #[command(flatten)]
        targets: TargetArgs,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Stop, disable and delete services and their timers.
    Remove {
        /// A service name, or a glob matching several (`web-*`, quoted for the shell).
        #[arg(add = complete::services())]
        pattern: String,
        /// Remove the units even when the Docker engine cannot be reached (the containers left
        /// in it are listed).
        #[arg(long)]
        force: bool,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Show upcoming runs.
    Next {
        /// A service name, or a glob matching several (`web-*`, quoted); default: all.
        #[arg(add = complete::services())]
        pattern: Option<String>,
        /// How many runs per service.
        #[arg(short = 'n', long, default_value_t = 1)]
        count: usize,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Show past runs, from the journal (newest first).
    History {
        /// A service name, or a glob matching several (`web-*`, quoted); default: all.
        #[arg(short = 'm', long = "match", value_name = "PATTERN", add = complete::services())]
        pattern: Option<String>,
        /// At most this many runs.
        #[arg(short, long, default_value_t = 20)]
        limit: usize,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Run a command once under systemd and wait for it (Ctrl-C stops it).
    Run {
        /// A name for the run's unit (taskflows-run-NAME-…).
        #[arg(long)]
        name: Option<String>,
        /// Stop the run after this long (e.g. 30min); default: no limit.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<taskflows_core::Duration>,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
        /// The command and its arguments.
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Say whether services could start now: their startup requirements, measured.
    Check {
        /// A service file, or an installed service's name or glob.
        target: String,
        /// Wait until the requirements hold (exit 0), or give up after this long (exit 1, or 255
        /// when a requirement is not silent or could not be measured): for `ExecCondition=`.
        #[arg(long, value_parser = parse_duration)]
        wait: Option<taskflows_core::Duration>,
        /// Print the answer as JSON (its schema: `tf schema --api`).
        #[arg(long)]
        json: bool,
    },
    /// Check calendar expressions and show their next elapses (like `systemd-analyze calendar`).
    Calendar(calendar::CalendarArgs),
    /// The missed-run monitor (dead-man switch) for services with timers.
    Monitor {
        #[command(subcommand)]
        command: monitor::MonitorCommand,
    },
    /// Print the JSON Schema of service files (or, with --api, of every --json answer).
    Schema {
        /// The schema of the JSON answers (`tf … --json`, the API).
        #[arg(long)]
        api: bool,
    },
    /// Manage named environments: stored Venv/Docker configurations services refer to by name.
    #[command(subcommand)]
    Env(env::EnvCommand),
    /// Print a shell's completion script: commands, options, installed service names and stored
    /// environment names (`tf` is asked as you type; the same as `COMPLETE=SHELL tf`).
    #[command(after_help = "Examples:
  source <(tf completions bash)                          in ~/.bashrc
  tf completions fish > ~/.config/fish/completions/tf.fish
  tf stop ni<TAB>                                        completes installed services")]
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Print the services' Prometheus metrics (or write them to a file for node_exporter's
    /// textfile collector, atomically).
    Metrics {
        /// Write here instead of stdout (e.g. /var/lib/node_exporter/textfile/taskflows.prom).
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Log shipping: print a Fluent Bit or Grafana Alloy configuration sending the journal of
    /// taskflows units to Loki (TASKFLOWS_LOKI_URL, or LOKI_HOST and LOKI_PORT; ENVIRONMENT and
    /// APP_NAME become labels).
    Observability {
        #[command(subcommand)]
        command: api::ObservabilityCommand,
    },
    /// Grafana: the taskflows dashboard.
    Grafana {
        #[command(subcommand)]
        command: api::GrafanaCommand,
    },
    /// The API server: serve it, install it as a service, manage its signing secret.
    Api {
        #[command(subcommand)]
        command: api::ApiCommand,
    },
    /// The API servers `-s` reaches: their URLs and secrets (~/.config/taskflows/servers.toml).
    Server {
        #[command(subcommand)]
        command: servers::ServerCommand,
    },
    /// The Slack bot: `/tf` commands, confirmation buttons and the buttons of alerts, over
    /// Socket Mode (or the API server's /slack endpoints).
    SlackBot {
        #[command(subcommand)]
        command: slack::SlackCommand,
    },
    /// Write tf's man pages into a folder (internal: `cargo xtask man`).
    #[command(hide = true)]
    ManPages {
        /// The folder (created when missing).
        dir: PathBuf,
    },
    /// What Docker services' units run (internal).
    #[command(subcommand, hide = true)]
    Container(container::ContainerCommand),
}

impl Command {
    /// Whether the answer is asked for as JSON.
    fn json(&self) -> bool {
        match self {
            Command::List { json, .. }
            | Command::Status { json, .. }
            | Command::Show { json, .. }
            | Command::Start { json, .. }
            | Command::Stop { json, .. }
            | Command::Restart { json, .. }
            | Command::Enable { json, .. }
            | Command::Disable { json, .. }
            | Command::Remove { json, .. }
            | Command::Next { json, .. }
            | Command::History { json, .. }
            | Command::Run { json, .. }
            | Command::Check { json, .. } => *json,
            Command::Logs(args) => args.json,
            Command::Create(args) => args.json(),
            Command::Env(command) => command.json(),
            Command::Monitor { command } => command.json(),
            _ => false,
        }
    }
}

/// The examples of `tf start|stop|restart|enable|disable --help`.
fn control_examples(verb: &str) -> String {
    format!(
        "Examples:
  tf {verb} nightly             the service nightly and its timers
  tf {verb} 'web-*'             every service whose name starts with web- (quoted for the shell)
  tf {verb} nightly --services  only the service
  tf {verb} nightly -t          only its timers (and those of its stop/restart schedules)"
    )
}

/// `tf logs`: which lines, and how to print them.
#[derive(clap::Args)]
pub(crate) struct LogsArgs {
    /// The service (its name; a glob must match exactly one).
    #[arg(add = complete::services())]
    pub(crate) name: String,
    /// At most this many lines (the newest).
    #[arg(short = 'n', long, default_value_t = 50)]
    pub(crate) lines: usize,
    /// Keep printing new lines.
    #[arg(short, long, conflicts_with = "run")]
    pub(crate) follow: bool,
    /// Lines since this time: RFC 3339, YYYY-MM-DD[ HH:MM[:SS]] (UTC), `now`, or a duration ago
    /// (30min, 2h, 1d).
    #[arg(long, value_name = "TIME")]
    pub(crate) since: Option<taskflows_api::LogTime>,
    /// Lines until this time (the same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<taskflows_api::LogTime>,
    /// Only messages matching this PCRE2 pattern (all lowercase: case-insensitive).
    #[arg(short = 'g', long, value_name = "PATTERN")]
    pub(crate) grep: Option<taskflows_api::LogPattern>,
    /// Only lines of this priority or more severe: 0-7, or emerg, alert, crit, err, warning,
    /// notice, info, debug.
    #[arg(short = 'p', long, value_name = "PRIORITY")]
    pub(crate) priority: Option<taskflows_api::Priority>,
    /// Only one run's lines: `last`, or an invocation id as `tf history` shows it.
    #[arg(long, value_name = "last|ID")]
    pub(crate) run: Option<taskflows_api::RunSelector>,
    /// One JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
}

impl LogsArgs {
    pub(crate) fn query(&self) -> taskflows_api::LogQuery {
        taskflows_api::LogQuery {
            lines: self.lines,
            since: self.since,
            until: self.until,
            grep: self.grep.clone(),
            priority: self.priority,
            run: self.run.clone(),
        }
    }
}

const LOGS_EXAMPLES: &str = "Examples:
  tf logs nightly --run last            the output of the last run
  tf logs nightly --since 2h -p warning warnings and worse of the last two hours
  tf logs web -g 'timeout|refused' -f   follow the lines that match";

/// Which units a control command acts on: without -t or --services, the services and their
/// timers.
#[derive(clap::Args)]
struct TargetArgs {
    /// Only the timers (of the service and its stop-/restart- schedules); with --services: both.
    #[arg(short = 't', long)]
    timers: bool,
    /// Only the services, not their timers; with --timers: both.
    #[arg(long)]
    services: bool,
}

impl TargetArgs {
    fn targets(&self) -> Targets {
        match (self.timers, self.services) {
            (true, false) => Targets::Timers,
            (false, true) => Targets::Services,
            _ => Targets::Both,
        }
    }
}

/// An error with the exit code it maps to and an optional hint for the user.
#[derive(Debug)]
pub(crate) struct Failure {
    code: u8,
    message: String,
    hint: Option<String>,
    broken_pipe: bool,
}

impl Failure {
    pub(crate) fn new(code: u8, error: impl std::fmt::Display) -> Failure {
        Failure { code, message: error.to_string(), hint: None, broken_pipe: false }
    }

    pub(crate) fn code(&self) -> u8 {
        self.code
    }

    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl From<taskflows_api::Error> for Failure {
    fn from(e: taskflows_api::Error) -> Failure {
        Failure { code: e.exit_code(), message: e.to_string(), hint: e.hint().map(str::to_owned), broken_pipe: false }
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure { broken_pipe: e.kind() == std::io::ErrorKind::BrokenPipe, ..Failure::new(exit::FAILED, e) }
    }
}

impl From<taskflows_core::Error> for Failure {
    fn from(e: taskflows_core::Error) -> Failure {
        taskflows_api::Error::from(e).into()
    }
}

impl From<taskflows_systemd::Error> for Failure {
    fn from(e: taskflows_systemd::Error) -> Failure {
        taskflows_api::Error::from(e).into()
    }
}

impl From<taskflows_docker::Error> for Failure {
    fn from(e: taskflows_docker::Error) -> Failure {
        taskflows_api::Error::from(e).into()
    }
}

fn main() -> ExitCode {
    // Called back by the shell to complete a word (COMPLETE set): answers and exits.
    clap_complete::CompleteEnv::with_factory(Cli::command).complete();
    let cli = Cli::parse();
    output::set_colour(cli.color);
    output::set_quiet(cli.quiet);
    // Library warnings reach the user (TASKFLOWS_LOG or RUST_LOG say more); `tf api serve` logs
    // at info; -q keeps warnings and errors, each -v shows one level more.
    let log_format = cli.log_format.map(taskflows_api::logging::LogFormat::from);
    const LEVELS: [&str; 4] = ["warn", "info", "debug", "trace"];
    let (base, extra) = match cli.command {
        Command::Api { command: api::ApiCommand::Serve(_) } => (1, ""),
        Command::SlackBot { command: slack::SlackCommand::Run } => (1, ",slack_morphism=warn"),
        _ => (0, ""),
    };
    let level = if cli.quiet { 0 } else { (base + usize::from(cli.verbose)).min(LEVELS.len() - 1) };
    let default = format!("{}{}", LEVELS[level], if cli.verbose == 0 { extra } else { "" });
    taskflows_api::logging::init_with(&default, log_format);
    let scope = host::scope(cli.user, cli.system);
    let result = run(cli, scope);
    // The last lines to Loki, when they are pushed there (off the journal, TASKFLOWS_LOKI_URL).
    taskflows_api::logging::flush();
    match result {
        Ok(code) => code,
        Err(f) if f.broken_pipe => ExitCode::SUCCESS,
        Err(f) => {
            let mut stderr = std::io::stderr().lock();
            let _ = writeln!(stderr, "error: {}", output::terminal_safe(&f.message));
            if let Some(hint) = f.hint {
                let _ = writeln!(stderr, "hint: {hint}");
            }
            ExitCode::from(f.code)
        }
    }
}

fn run(cli: Cli, scope: taskflows_core::Scope) -> Result<ExitCode, Failure> {
    if !cli.servers.is_empty() {
        return block_on(fleet::run(&cli.servers, cli.command));
    }
    let lock_timeout = std::time::Duration::from_micros(cli.lock_timeout.as_micros());
    let local = || -> Result<Local, Failure> { Ok(host::local(scope)?.with_lock_timeout(lock_timeout)) };
    match cli.command {
        Command::Calendar(args) => calendar::run(&args).map_err(|e| {
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            });
            Failure { broken_pipe, ..Failure::new(exit::FAILED, format!("{e:#}")) }
        }),
        Command::Schema { api } => {
            let schema = if api { taskflows_api::json_schema() } else { taskflows_core::file::json_schema() };
            print(schema.as_bytes()).map(done)
        }
        Command::Completions { shell } => complete::registration(shell).map(done),
        Command::ManPages { dir } => man_pages(&dir).map(done),
        Command::Container(command) => container::run(&command),
        Command::Api { command } => api::run(scope, command, lock_timeout),
        Command::Metrics { output } => block_on(api::metrics(&local()?, output.as_deref())),
        Command::Grafana { command } => block_on(api::grafana(command)),
        Command::Observability { command } => api::observability(scope, command),
        Command::Server { command } => servers::run(command),
        Command::SlackBot { command } => slack::run(scope, command, lock_timeout),
        Command::Env(command) => block_on(env::run(&local()?, command)),
        Command::Monitor { command } => block_on(monitor::run(&local()?, command)),
        Command::Create(args) => block_on(create::run(&local()?, &args)),
        Command::Check { target, wait, json } => {
            let wait = wait.map(|d| std::time::Duration::from_micros(d.as_micros()));
            block_on(services::check(&local()?, &target, wait, json))
        }
        command => block_on(services::run(&local()?, command)),
    }
}

/// `tf.1` and one page per command (`tf-logs.1`, `tf-env-create.1`), hidden commands left out.
fn man_pages(dir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)?;
    fn write(dir: &Path, cmd: &clap::Command, name: &str) -> Result<(), Failure> {
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.clone().display_name(name.to_owned())).render(&mut page)?;
        std::fs::write(dir.join(format!("{name}.1")), page)?;
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            write(dir, sub, &format!("{name}-{}", sub.get_name()))?;
        }
        Ok(())
    }
    let mut cmd = Cli::command();
    cmd.build();
    write(dir, &cmd, "tf")
}

/// A current-thread runtime: `tf` does one thing at a time, and starts fast.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime").block_on(f)
}

pub(crate) fn parse_duration(s: &str) -> Result<taskflows_core::Duration, String> {
    taskflows_core::Duration::parse(s).map_err(|e| e.to_string())
}

fn done(_: ()) -> ExitCode {
    ExitCode::SUCCESS
}

/// Exit 0 when `ok`, else 1.
pub(crate) fn exit_if(ok: bool) -> ExitCode {
    if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Write all of `bytes` to stdout.
pub(crate) fn print(bytes: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// An answer as pretty JSON.
pub(crate) fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Failure::new(exit::FAILED, e))?;
    text.push('\n');
    print(text.as_bytes())
}

/// Read service files: one file, or every `*.toml` in a folder (in name order).
pub(crate) fn read_service_files(path: &Path) -> Result<Vec<SourceFile>, Failure> {
    let files = if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Failure::new(exit::FAILED, format!("cannot read folder {}: {e}", path.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_owned()]
    };
    files.iter().map(|f| read_file(f)).collect()
}

/// One file's content, labelled with its path.
pub(crate) fn read_file(file: &Path) -> Result<SourceFile, Failure> {
    let content = std::fs::read_to_string(file)
        .map_err(|e| Failure::new(exit::FAILED, format!("cannot read {}: {e}", file.display())))?;
    Ok(SourceFile { label: file.display().to_string(), content })
}

#[cfg(test)]
mod tests;

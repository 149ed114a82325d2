//! The words after `/tf` (or `@taskflows`): one [`Command`], or one error naming what is allowed.

use crate::Action;

/// The most log lines `logs -n` shows.
pub const MAX_LOG_LINES: usize = 1000;
/// The most runs `history -n` shows.
pub const MAX_HISTORY: usize = 200;
/// The most runs per service `next -n` shows.
pub const MAX_NEXT: usize = 20;
/// The most servers one command may name with `-s`.
pub const MAX_SERVERS: usize = 8;
/// The longest command text read (Slack's own limit on a message is 40,000 characters).
const MAX_TEXT: usize = 4000;

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `help`.
    Help,
    /// `status [PATTERN]`.
    Status(Option<String>),
    /// `list [PATTERN]`.
    List(Option<String>),
    /// `logs NAME [-n N]`.
    Logs {
        /// The service.
        name: String,
        /// How many lines.
        lines: usize,
    },
    /// `history [NAME] [-n N]`.
    History {
        /// A service name or glob.
        pattern: Option<String>,
        /// How many runs.
        limit: usize,
    },
    /// `next [PATTERN] [-n N]`.
    Next {
        /// A service name or glob.
        pattern: Option<String>,
        /// Runs per service.
        count: usize,
    },
    /// `check NAME`: measure the startup requirements of installed services.
    Check(String),
    /// `start|stop|restart NAME`, after a confirmation.
    Control {
        /// What to do.
        action: Action,
        /// A service name or glob.
        pattern: String,
    },
}

impl Request {
    /// Whether the request changes something (it needs the control permission and a
    /// confirmation).
    pub fn is_control(&self) -> bool {
        matches!(self, Request::Control { .. })
    }

    /// The command word, as the audit and refusals name it.
    pub fn word(&self) -> &'static str {
        match self {
            Request::Help => "help",
            Request::Status(_) => "status",
            Request::List(_) => "list",
            Request::Logs { .. } => "logs",
            Request::History { .. } => "history",
            Request::Next { .. } => "next",
            Request::Check(_) => "check",
            Request::Control { action: Action::Start, .. } => "start",
            Request::Control { action: Action::Stop, .. } => "stop",
            Request::Control { .. } => "restart",
        }
    }
}

/// A request and the servers it goes to (none: this host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// What is asked.
    pub request: Request,
    /// `-s SERVER`, in order, without repeats.
    pub servers: Vec<String>,
}

/// What `help` shows.
pub const HELP: &str = "\
status [PATTERN]         state, last and next run of services
list [PATTERN]           installed services and their units
logs NAME [-n N]         the last N journal lines (default 50, at most 1000)
history [NAME] [-n N]    past runs, newest first (default 20, at most 200)
next [PATTERN] [-n N]    upcoming runs (default 1 per service, at most 20)
check NAME               measure a service's startup requirements now
start|stop|restart NAME  after a confirmation; the result is posted when the job ends
help                     this list
Add -s SERVER (repeatable) to ask a configured server instead of this host.";

/// Parse the text after `/tf` or the mention. Errors are one line naming the word at fault and
/// what is allowed.
pub fn parse(text: &str) -> Result<Command, String> {
    if text.chars().count() > MAX_TEXT {
        return Err(format!("the command is longer than {MAX_TEXT} characters"));
    }
    // Slack sends `&`, `<` and `>` escaped in text; a user's quotes are typographic when their
    // client "smartens" them.
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace(['“', '”'], "\"");
    let words = shell_words::split(&text).map_err(|_| "the command has an unclosed quote".to_owned())?;
    let mut servers: Vec<String> = Vec::new();
    let mut count: Option<usize> = None;
    let mut rest: Vec<String> = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "-s" | "--server" => {
                let server = words.next().ok_or("-s needs a server name (see `help`)")?;
                if !servers.contains(&server) {
                    servers.push(server);
                }
            }
            "-n" | "--lines" | "--limit" | "--count" => {
                let value = words.next().ok_or("-n needs a number")?;
                count = Some(value.parse().map_err(|_| format!("-n: {value:?} is not a whole number"))?);
            }
            w if w.starts_with('-') && w.len() > 1 => {
                return Err(format!("{w:?} is not an option; the options are -n N and -s SERVER"));
            }
            _ => rest.push(word),
        }
    }
    if servers.len() > MAX_SERVERS {
        return Err(format!("-s: at most {MAX_SERVERS} servers in one command"));
    }
    let mut rest = rest.into_iter();
    let word = rest.next().unwrap_or_else(|| "help".to_owned()).to_lowercase();
    let pattern = rest.next();
    if let Some(extra) = rest.next() {
        return Err(format!("{extra:?}: `{word}` takes one name or pattern"));
    }
    let needs = |what: &str| format!("`{word}` needs {what} (e.g. `{word} nightly-backup`)");
    let bounded = |default: usize, max: usize| -> Result<usize, String> {
        match count {
            None => Ok(default),
            Some(0) => Err("-n: at least 1".to_owned()),
            Some(n) if n > max => Err(format!("-n: at most {max} for `{word}`")),
            Some(n) => Ok(n),
        }
    };
    let no_count = |request: Request| match count {
        Some(_) => Err(format!("-n: `{word}` does not take a count")),
        None => Ok(request),
    };
    let request = match word.as_str() {
        "help" => no_count(Request::Help)?,
        "status" => no_count(Request::Status(pattern))?,
        "list" | "ls" => no_count(Request::List(pattern))?,
        "logs" | "log" => {
            Request::Logs { name: pattern.ok_or_else(|| needs("a service name"))?, lines: bounded(50, MAX_LOG_LINES)? }
        }
        "history" => Request::History { pattern, limit: bounded(20, MAX_HISTORY)? },
        "next" => Request::Next { pattern, count: bounded(1, MAX_NEXT)? },
        "check" => no_count(Request::Check(pattern.ok_or_else(|| needs("a service name"))?))?,
        "start" | "stop" | "restart" => {
            let action = Action::control(&word).map_err(|e| e.to_string())?;
            no_count(Request::Control { action, pattern: pattern.ok_or_else(|| needs("a service name"))? })?
        }
        other => {
            return Err(format!(
                "{other:?} is not a command; the commands are status, list, logs, history, next, check, start, \
                 stop, restart, help"
            ));
        }
    };
    Ok(Command { request, servers })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Result<Command, &str>) {
        assert_eq!(parse(text), expected.map_err(str::to_owned), "{text:?}");
    }

    fn local(request: Request) -> Result<Command, &'static str> {
        Ok(Command { request, servers: Vec::new() })
    }

    #[test]
    fn commands_and_their_options() {
        check("", local(Request::Help));
        check("help", local(Request::Help));
        check("STATUS web-*", local(Request::Status(Some("web-*".into()))));
        check("status", local(Request::Status(None)));
        check("logs web -n 5", local(Request::Logs { name: "web".into(), lines: 5 }));
        check("logs web", local(Request::Logs { name: "web".into(), lines: 50 }));
        check("history", local(Request::History { pattern: None, limit: 20 }));
        check("next -n 3 nightly", local(Request::Next { pattern: Some("nightly".into()), count: 3 }));
        check("check web", local(Request::Check("web".into())));
        check("restart web", local(Request::Control { action: Action::Restart, pattern: "web".into() }));
        check(
            "status -s a -s b -s a",
            Ok(Command { request: Request::Status(None), servers: vec!["a".into(), "b".into()] }),
        );
        check("status &lt;x&gt;", local(Request::Status(Some("<x>".into()))));
    }

    #[test]
    fn bad_input_gets_one_error_naming_what_is_allowed() {
        check("logs", Err("`logs` needs a service name (e.g. `logs nightly-backup`)"));
        check("restart", Err("`restart` needs a service name (e.g. `restart nightly-backup`)"));
        check("logs web -n 0", Err("-n: at least 1"));
        check("logs web -n 1001", Err("-n: at most 1000 for `logs`"));
        check("logs web -n x", Err("-n: \"x\" is not a whole number"));
        check("status -n 3", Err("-n: `status` does not take a count"));
        check(
            "remove web",
            Err(
                "\"remove\" is not a command; the commands are status, list, logs, history, next, check, start, stop, restart, help",
            ),
        );
        check("status a b", Err("\"b\": `status` takes one name or pattern"));
        check("status --all", Err("\"--all\" is not an option; the options are -n N and -s SERVER"));
        check("status -s", Err("-s needs a server name (see `help`)"));
        check("logs 'web", Err("the command has an unclosed quote"));
        check(&"x".repeat(4001), Err("the command is longer than 4000 characters"));
        let many = (0..9).map(|i| format!("-s h{i}")).collect::<Vec<_>>().join(" ");
        check(&format!("status {many}"), Err("-s: at most 8 servers in one command"));
    }
}

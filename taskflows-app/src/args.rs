//! The command line of an app binary: `install`, `remove`, `list`, `run NAME`, and the internal
//! subcommand its units run.

use taskflows_core::Scope;

use crate::Error;

/// The subcommand installed units run: `EXE __taskflows-task NAME`.
pub const RUN_SUBCOMMAND: &str = "__taskflows-task";

/// What the binary was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Write and enable the units of every declared service (`None`: the default scope).
    Install(Option<Scope>),
    /// Stop and remove them.
    Remove(Option<Scope>),
    /// Print the declared services.
    List,
    /// Run one task now, in the foreground (`run NAME`), or as a unit does (internal).
    Run {
        /// The task's name.
        name: String,
        /// Started by systemd through [`RUN_SUBCOMMAND`].
        from_unit: bool,
    },
    /// Print the usage.
    Help,
}

/// The usage text of the binary `program`.
pub fn usage(program: &str) -> String {
    format!(
        "usage: {program} <command>\n\n\
         commands:\n  \
         install [--user|--system]   install the declared services as systemd units (timers started)\n  \
         remove [--user|--system]    stop and remove them\n  \
         list                        the declared services, their policies and schedules\n  \
         run NAME                    run one task now, in the foreground\n  \
         help                        this text\n\n\
         Units run `{program} {RUN_SUBCOMMAND} NAME`. Without --user/--system: system for root, user otherwise.\n"
    )
}

/// Parse the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, Error> {
    let Some((first, rest)) = args.split_first() else {
        return Err(Error::Usage("a command is needed: install, remove, list, run NAME or help".to_owned()));
    };
    match first.as_str() {
        "install" => Ok(Command::Install(scope(first, rest)?)),
        "remove" => Ok(Command::Remove(scope(first, rest)?)),
        "list" => no_more(first, rest).map(|()| Command::List),
        "help" | "--help" | "-h" => Ok(Command::Help),
        "run" | RUN_SUBCOMMAND => match rest {
            [name] if !name.starts_with('-') => {
                Ok(Command::Run { name: name.clone(), from_unit: first == RUN_SUBCOMMAND })
            }
            [] => Err(Error::Usage(format!("{first}: give the task's name"))),
            _ => Err(Error::Usage(format!("{first}: takes exactly one task name, got {rest:?}"))),
        },
        other => Err(Error::Usage(format!(
            "unknown command {other:?}; the commands are install, remove, list, run NAME and help"
        ))),
    }
}

fn scope(command: &str, rest: &[String]) -> Result<Option<Scope>, Error> {
    match rest {
        [] => Ok(None),
        [flag] if flag == "--user" => Ok(Some(Scope::User)),
        [flag] if flag == "--system" => Ok(Some(Scope::System)),
        _ => Err(Error::Usage(format!("{command}: takes --user or --system, got {rest:?}"))),
    }
}

fn no_more(command: &str, rest: &[String]) -> Result<(), Error> {
    if rest.is_empty() { Ok(()) } else { Err(Error::Usage(format!("{command}: takes no arguments, got {rest:?}"))) }
}

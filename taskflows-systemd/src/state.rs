//! Typed words of systemd's observed state: a unit's active and load state, how a run ended, how
//! a job ended. systemd sends them as strings; each becomes an enum once, here, so "running" or
//! "failed" has one definition. A word this systemd version does not know yet is `Unknown`, never
//! an error: observing must not fail because systemd grew a new state.

/// Declares an enum of systemd's words: `as_str`, `Display`, `FromStr` (unknown words are
/// `Unknown`), serde as the word, and a JSON Schema listing the words.
macro_rules! words {
    ($(#[$meta:meta])* pub enum $name:ident default $default:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)* }) => {
        words! { $(#[$meta])* pub enum $name { $($(#[$vmeta])* $variant = $word,)* } }

        impl Default for $name {
            fn default() -> $name {
                $name::$default
            }
        }
    };
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A word this version of taskflows does not know.
            Unknown,
        }

        impl $name {
            /// Every known variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// systemd's word for it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                    $name::Unknown => "unknown",
                }
            }

            /// The variant systemd's `word` names; `Unknown` for any other word.
            pub fn from_word(word: &str) -> $name {
                match word {
                    $($word => $name::$variant,)*
                    _ => $name::Unknown,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<$name, Self::Err> {
                Ok($name::from_word(s))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let word = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Ok($name::from_word(&word))
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": [$($word,)* "unknown"] })
            }
        }
    };
}

words! {
    /// A unit's `ActiveState`.
    pub enum ActiveState default Inactive {
        /// Started and running (or a oneshot that remains after exit).
        Active = "active",
        /// Reloading its configuration.
        Reloading = "reloading",
        /// Not running.
        Inactive = "inactive",
        /// Not running, and its last run failed.
        Failed = "failed",
        /// Starting.
        Activating = "activating",
        /// Stopping.
        Deactivating = "deactivating",
        /// Being cleaned or frozen by the manager.
        Maintenance = "maintenance",
        /// Refreshing its mount namespace.
        Refreshing = "refreshing",
    }
}

impl ActiveState {
    /// Whether a run of the unit is under way: started or starting, reloading, or still stopping.
    /// The one definition of "running" in taskflows (`tf status --running`, `start --wait`,
    /// restarts after a change, the monitor, run history).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ActiveState::Active | ActiveState::Activating | ActiveState::Reloading | ActiveState::Deactivating
        )
    }
}

words! {
    /// A unit's `LoadState`.
    pub enum LoadState default NotFound {
        /// Its file was read.
        Loaded = "loaded",
        /// No file for it.
        NotFound = "not-found",
        /// Its file has a setting systemd refuses.
        BadSetting = "bad-setting",
        /// Its file could not be read.
        Error = "error",
        /// Masked.
        Masked = "masked",
        /// Referenced but not loaded yet.
        Stub = "stub",
        /// Merged into another unit.
        Merged = "merged",
    }
}

words! {
    /// How a run ended: a service's `Result`, the outcome of a run in the history, or of a task.
    pub enum RunResult default Running {
        /// It succeeded.
        Success = "success",
        /// It is still running (history only).
        Running = "running",
        /// The main process exited with a non-zero status.
        ExitCode = "exit-code",
        /// The main process was killed by a signal.
        Signal = "signal",
        /// A timeout was hit.
        Timeout = "timeout",
        /// The main process dumped core.
        CoreDump = "core-dump",
        /// The watchdog fired.
        Watchdog = "watchdog",
        /// Started too often.
        StartLimitHit = "start-limit-hit",
        /// A resource could not be set up.
        Resources = "resources",
        /// The service broke its protocol (e.g. no PID file).
        Protocol = "protocol",
        /// The kernel or systemd-oomd killed it for memory.
        OomKill = "oom-kill",
        /// An `ExecCondition=` command failed it.
        ExecCondition = "exec-condition",
        /// It failed without a more precise word (history, tasks).
        Failed = "failed",
    }
}

impl RunResult {
    /// Whether the run ended well (or has not ended).
    pub fn is_success(self) -> bool {
        matches!(self, RunResult::Success | RunResult::Running)
    }
}

words! {
    /// How a systemd job ended (`JobRemoved`'s result), or `not-loaded` for a stop that found
    /// nothing to stop.
    pub enum JobResult {
        /// Done as asked.
        Done = "done",
        /// Canceled before it ran.
        Canceled = "canceled",
        /// Timed out.
        Timeout = "timeout",
        /// Failed.
        Failed = "failed",
        /// A dependency failed.
        Dependency = "dependency",
        /// Not needed (e.g. a reload of a unit that is not running).
        Skipped = "skipped",
        /// Not applicable to the unit.
        Invalid = "invalid",
        /// Not supported by the unit.
        Unsupported = "unsupported",
        /// A stop of a unit systemd does not know: nothing to stop.
        NotLoaded = "not-loaded",
    }
}

impl JobResult {
    /// Whether the job did what was asked.
    pub fn is_ok(self) -> bool {
        matches!(self, JobResult::Done | JobResult::NotLoaded)
    }
}

words! {
    /// What a job asked systemd to do.
    pub enum JobKind {
        /// Start.
        Start = "start",
        /// Stop.
        Stop = "stop",
        /// Restart.
        Restart = "restart",
        /// Restart only if running.
        TryRestart = "try-restart",
    }
}

/// A timestamp from systemd (µs since the epoch, 0 or `u64::MAX` for "never").
pub(crate) fn from_micros(us: u64) -> Option<jiff::Timestamp> {
    if us == 0 || us == u64::MAX {
        return None;
    }
    jiff::Timestamp::from_microsecond(i64::try_from(us).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_ones_are_kept_apart() {
        for s in ActiveState::ALL {
            assert_eq!(ActiveState::from_word(s.as_str()), *s);
        }
        assert_eq!(ActiveState::from_word("frobnicating"), ActiveState::Unknown);
        assert_eq!(serde_json::to_string(&RunResult::ExitCode).unwrap(), "\"exit-code\"");
        assert_eq!(serde_json::from_str::<JobResult>("\"not-loaded\"").unwrap(), JobResult::NotLoaded);
        assert_eq!(serde_json::from_str::<JobResult>("\"new-word\"").unwrap(), JobResult::Unknown);
        let running: Vec<&str> = ActiveState::ALL.iter().filter(|s| s.is_running()).map(|s| s.as_str()).collect();
        assert_eq!(running, ["active", "reloading", "activating", "deactivating"]);
    }

    #[test]
    fn never_is_no_timestamp() {
        assert_eq!(from_micros(0), None);
        assert_eq!(from_micros(u64::MAX), None);
        assert_eq!(from_micros(1_000_000).map(|t| t.as_second()), Some(1));
    }
}

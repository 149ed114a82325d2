//! Printing: aligned tables, colour on a terminal only, times in the display zone.

use std::io::IsTerminal as _;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColourChoice {
    /// On a terminal, unless `NO_COLOR` is set (and not empty).
    Auto,
    /// Always, even into a pipe or with `NO_COLOR`.
    Always,
    /// Never.
    Never,
}

static COLOUR: std::sync::OnceLock<ColourChoice> = std::sync::OnceLock::new();
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The `--color` of this run (once, from `main`).
pub(crate) fn set_colour(choice: ColourChoice) {
    let _ = COLOUR.set(choice);
}

/// `-q`: leave out what is not essential (once, from `main`).
pub(crate) fn set_quiet(quiet: bool) {
    QUIET.store(quiet, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `-q` was given.
pub(crate) fn quiet() -> bool {
    QUIET.load(std::sync::atomic::Ordering::Relaxed)
}

/// Whether to colour stdout: `--color`, else a terminal without `NO_COLOR`.
fn colour_wanted(choice: ColourChoice, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    match choice {
        ColourChoice::Always => true,
        ColourChoice::Never => false,
        ColourChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// How output is styled.
pub(crate) struct Style {
    colour: bool,
    zone: TimeZone,
}

impl Style {
    /// Colour as `--color` says (by default when stdout is a terminal and `NO_COLOR` is unset or
    /// empty); times in `TASKFLOWS_DISPLAY_TIMEZONE` (default UTC).
    pub(crate) fn detect() -> Style {
        let choice = COLOUR.get().copied().unwrap_or(ColourChoice::Auto);
        let colour = colour_wanted(choice, std::io::stdout().is_terminal(), std::env::var_os("NO_COLOR").as_deref());
        let zone = match std::env::var("TASKFLOWS_DISPLAY_TIMEZONE") {
            Err(_) => TimeZone::UTC,
            Ok(name) => TimeZone::get(&name).unwrap_or_else(|_| {
                eprintln!("warning: TASKFLOWS_DISPLAY_TIMEZONE={name:?} is not a time zone; showing times in UTC");
                TimeZone::UTC
            }),
        };
        Style { colour, zone }
    }

    /// Colour a state word the way the Python tool does: green good, red bad, yellow in between.
    pub(crate) fn state(&self, word: &str) -> String {
        let code = match word {
            "active" | "running" | "enabled" | "success" | "done" | "waiting" | "exited" => "32",
            "failed" | "exit-code" | "signal" | "timeout" | "core-dump" | "watchdog" | "not-found" => "31",
            "activating" | "deactivating" | "reloading" | "auto-restart" | "start-limit-hit" => "33",
            _ => return word.to_owned(),
        };
        self.paint(code, word)
    }

    /// Bold, for headers.
    pub(crate) fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
    }

    /// No colour, times in `zone`: for tests.
    #[cfg(test)]
    pub(crate) fn plain(zone: TimeZone) -> Style {
        Style { colour: false, zone }
    }

    /// `2026-11-26 14:00:00` in the display zone.
    pub(crate) fn time(&self, t: Option<Timestamp>) -> String {
        let Some(t) = t else { return "-".to_owned() };
        t.to_zoned_datetime(self.zone.clone()).strftime("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// `3h 12min`, `45s`: the time from `from` to `to` (none when `to` is before `from`).
pub(crate) fn between(from: Timestamp, to: Timestamp) -> String {
    short_duration(u64::try_from(to.duration_since(from).as_micros()).unwrap_or(0))
}

/// A duration in µs, to two units: `1d 3h`, `12min 5s`, `250ms`.
pub(crate) fn short_duration(micros: u64) -> String {
    const UNITS: [(&str, u64); 5] =
        [("d", 86_400_000_000), ("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000), ("ms", 1_000)];
    let mut parts = Vec::new();
    let mut rest = micros;
    for (name, size) in UNITS {
        if rest >= size {
            parts.push(format!("{}{name}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 {
            break;
        }
    }
    if parts.is_empty() { "0s".to_owned() } else { parts.join(" ") }
}

/// Text from services, safe to print ([`taskflows_core::display_safe`]).
pub(crate) use taskflows_core::display_safe as terminal_safe;

/// An operation's answer, ready to print: as JSON (the contract) or as a view for people.
pub(crate) struct Answer {
    /// The answer itself, as pretty JSON (fields in the contract's order).
    pub(crate) json: String,
    /// A table or lines.
    pub(crate) view: View,
    /// Whether the operation did what was asked (jobs and runs succeeded).
    pub(crate) ok: bool,
    /// The exit code, when not 0 for ok and 1 otherwise.
    pub(crate) code: Option<u8>,
    /// The view only says what a change did: `-q` leaves it out when the change succeeded.
    pub(crate) chatter: bool,
}

/// How an answer shows.
pub(crate) enum View {
    /// Rows under a header (a fleet's get a HOST column).
    Table(Table),
    /// Lines (a fleet's are prefixed with the host).
    Text(String),
}

impl Answer {
    fn new(value: &impl serde::Serialize, view: View) -> Answer {
        let json = serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("\"cannot encode: {e}\""));
        Answer { json, view, ok: true, code: None, chatter: false }
    }

    pub(crate) fn table(value: &impl serde::Serialize, table: Table) -> Answer {
        Answer::new(value, View::Table(table))
    }

    pub(crate) fn text(value: &impl serde::Serialize, text: String) -> Answer {
        Answer::new(value, View::Text(text))
    }

    /// The exit code it maps to.
    pub(crate) fn exit_code(&self) -> u8 {
        self.code.unwrap_or(if self.ok { 0 } else { 1 })
    }

    /// Print it (as JSON with `json`) and say how to exit.
    pub(crate) fn print(self, json: bool) -> Result<std::process::ExitCode, crate::Failure> {
        if json {
            crate::print(format!("{}\n", self.json).as_bytes())?;
        } else if !(self.chatter && self.ok && quiet()) {
            match &self.view {
                View::Table(t) => crate::print(t.render(&Style::detect()).as_bytes())?,
                View::Text(text) => crate::print(text.as_bytes())?,
            }
        }
        Ok(std::process::ExitCode::from(self.exit_code()))
    }
}

/// A table whose columns are padded to their widest cell (counting characters, not escape codes).
#[derive(Clone)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Table {
        Table { header: header.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The rows of `tables`, each table's under its host's name in a first HOST column.
    pub(crate) fn with_hosts(tables: Vec<(String, Table)>) -> Option<Table> {
        let mut merged: Option<Table> = None;
        for (host, table) in tables {
            let t = merged.get_or_insert_with(|| {
                let mut header = vec!["HOST".to_owned()];
                header.extend(table.header.iter().cloned());
                Table { header, rows: Vec::new() }
            });
            for row in table.rows {
                let mut cells = vec![host.clone()];
                cells.extend(row);
                t.rows.push(cells);
            }
        }
        merged
    }

    /// The table as text: columns padded to their widest cell (two spaces between them); on a
    /// terminal, fitted to its width, long cells cut with `…` (one line per row, always).
    pub(crate) fn render(&self, style: &Style) -> String {
        self.render_within(style, None)
    }

    /// [`Table::render`] within `width` columns (`None`: the terminal's, when stdout is one).
    fn render_within(&self, style: &Style, width: Option<u16>) -> String {
        use comfy_table::{Cell, ContentArrangement, Row, presets};
        let mut table = comfy_table::Table::new();
        table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic);
        table.set_truncation_indicator("…");
        if let Some(width) = width {
            table.set_width(width);
        }
        let row = |cells: Vec<String>| {
            let mut row = Row::from(cells.into_iter().map(Cell::new).collect::<Vec<_>>());
            row.max_height(1);
            row
        };
        table.set_header(row(self.header.iter().map(|h| style.bold(h)).collect()));
        for cells in &self.rows {
            table.add_row(row(cells.clone()));
        }
        let last = table.column_count().saturating_sub(1);
        for (i, column) in table.column_iter_mut().enumerate() {
            column.set_padding((0, if i < last { 2 } else { 0 }));
        }
        let mut out = String::new();
        for line in table.lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_flag_then_the_terminal_and_no_color() {
        let check = |choice, terminal, no_color: Option<&str>, expected: bool| {
            let got = colour_wanted(choice, terminal, no_color.map(std::ffi::OsStr::new));
            assert_eq!(got, expected, "{choice:?} terminal={terminal} NO_COLOR={no_color:?}");
        };
        check(ColourChoice::Auto, true, None, true);
        check(ColourChoice::Auto, false, None, false);
        check(ColourChoice::Auto, true, Some("1"), false);
        check(ColourChoice::Auto, true, Some(""), true);
        check(ColourChoice::Always, false, Some("1"), true);
        check(ColourChoice::Never, true, None, false);
    }

    #[test]
    fn durations_show_two_units() {
        assert_eq!(short_duration(0), "0s");
        assert_eq!(short_duration(1_500_000), "1s 500ms");
        assert_eq!(short_duration(90_061_000_000), "1d 1h");
        assert_eq!(short_duration(125_000_000), "2min 5s");
    }

    #[test]
    fn tables_fit_the_width_and_cut_long_cells() {
        let plain = Style { colour: false, zone: TimeZone::UTC };
        let mut t = Table::new(&["SERVICE", "DESCRIPTION", "STATE"]);
        t.row(vec!["nightly".into(), "Build and mail the nightly report to everyone".into(), "active".into()]);
        t.row(vec!["web".into(), "-".into(), "failed".into()]);
        let wide = t.render_within(&plain, Some(200));
        assert_eq!(wide, t.render(&plain), "a table that fits is left as it is");
        let narrow = t.render_within(&plain, Some(40));
        assert!(narrow.lines().all(|l| l.chars().count() <= 40), "{narrow}");
        assert_eq!(narrow.lines().count(), 3, "one line per row: {narrow}");
        assert!(narrow.contains("Build and…") || narrow.contains('…'), "{narrow}");
        assert!(narrow.lines().nth(1).unwrap().ends_with("active"), "the short columns stay whole: {narrow}");
    }

    #[test]
    fn tables_align_on_visible_width() {
        let style = Style { colour: true, zone: TimeZone::UTC };
        let mut t = Table::new(&["A", "B"]);
        t.row(vec![style.state("active"), "x".into()]);
        t.row(vec!["failed-long".into(), "y".into()]);
        let plain = Style { colour: false, zone: TimeZone::UTC };
        let mut p = Table::new(&["A", "B"]);
        p.row(vec!["active".into(), "x".into()]);
        p.row(vec!["failed-long".into(), "y".into()]);
        assert_eq!(p.render(&plain), "A            B\nactive       x\nfailed-long  y\n");
        let coloured = t.render(&style);
        assert!(coloured.contains("\x1b[32mactive\x1b[0m       x"), "{coloured:?}");
    }
}

//! Generated service files with awkward values in the fields users write freely: descriptions,
//! commands and their quoting, env values, paths, signals, durations, a venv's name. Shared by
//! `verify.rs` (every service tf accepts passes `systemd-analyze verify`) and taskflows-cli's
//! `tests/it/changed.rs` (every value a real systemd holds for it is the spec's), which includes
//! this file with `#[path]`.

/// What values are made of: blanks, quotes, backslashes, `$` and `%` (which systemd expands),
/// `;` and `=` (which separate), non-ASCII, path pieces.
const PIECES: [&str; 24] = [
    "a", "b c", "\"", "'", "\\\\", "$", "${X}", "%", "%h", ";", "=", "\t", "é", "#", "&&", "|", "*", "~", "\\\"", "..",
    "/", "-", "x y", "$$",
];

/// A deterministic generator (xorshift64), so a failure names a reproducible case.
pub(crate) struct Generator(u64);

impl Generator {
    pub(crate) fn new() -> Generator {
        Generator(0x7f4a_7c15_9e37_79b9)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }

    /// One to `n` pieces.
    fn text(&mut self, n: u64) -> String {
        (0..1 + self.next() % n).map(|_| self.pick(&PIECES)).collect()
    }

    /// The `[[service]]` table of one generated service named `{prefix}{case}`, its working
    /// directory and env file under `root`.
    pub(crate) fn service(&mut self, prefix: &str, case: usize, root: &str) -> String {
        let signal = self.pick(&["SIGTERM", "SIGKILL", "SIGRTMIN+3", "HUP", "SIGINT", "term"]);
        let timeout = self.pick(&["30s", "1h 30min", "0", "1.5", "500ms", "4w"]);
        let description = self.text(4);
        let start = format!("/bin/echo {} {}", self.text(3), self.text(3));
        let dir = format!("{root}/{}", self.text(2));
        let (a, b) = (self.text(4), self.text(2));
        let mut toml = format!(
            "[[service]]\nname = \"{prefix}{case}\"\ndescription = {}\nstart_command = {}\nkill_signal = \"{signal}\"\ntimeout = \"{timeout}\"\nworking_directory = {}\nenv = {{ GEN_A = {}, GEN_B = {} }}\n",
            toml_str(&description),
            toml_str(&start),
            toml_str(&dir),
            toml_str(&a),
            toml_str(&b),
        );
        if self.next().is_multiple_of(3) {
            let name = self.text(2);
            toml.push_str(&format!(
                "environment = {{ venv = {{ name = {}, runner = \"/usr/bin/env\" }} }}\n",
                toml_str(&name)
            ));
        }
        if self.next().is_multiple_of(3) {
            let stop = format!("/bin/echo stop {}", self.text(3));
            toml.push_str(&format!("stop_command = {}\n", toml_str(&stop)));
        }
        if self.next().is_multiple_of(4) {
            let reload = format!("/bin/kill -HUP {}", self.text(2));
            toml.push_str(&format!("restart_command = {}\n", toml_str(&reload)));
        }
        if self.next().is_multiple_of(4) {
            // Named by case: a file of one case is never a folder of another.
            let file = format!("{root}/{case}.env-{}", self.text(2));
            toml.push_str(&format!("env_file = {}\n", toml_str(&file)));
        }
        toml
    }
}

/// `s` as a TOML basic string.
pub(crate) fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

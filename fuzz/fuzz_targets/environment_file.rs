//! Stored environment files (`tf env create`, what `taskflows_systemd::Store::check` runs):
//! parsing never panics; for a file that parses, the stored text parses back to the same
//! environment and storing it again gives the same text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use taskflows_core::file::{parse_environment_file, stored_environment_text};

fuzz_target!(|data: &[u8]| {
    let Ok(content) = std::str::from_utf8(data) else {
        return;
    };
    let environment = match parse_environment_file("fuzz.toml", content) {
        Ok(environment) => environment,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let stored = stored_environment_text(content).expect("a file that parsed is stored");
    let again = parse_environment_file("stored.toml", &stored)
        .unwrap_or_else(|e| panic!("stored text does not parse: {e}\n{stored}"));
    assert_eq!(again, environment, "stored text reads back different\n{stored}");
    assert_eq!(stored_environment_text(&stored).expect("stored text is stored"), stored, "storing is not stable");
});

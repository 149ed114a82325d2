//! Container spec files (`DATA_DIR/containers/NAME.json`, read by `tf container run|stop` and
//! `tf remove`): parsing never panics; a spec that parses, written as `tf create` writes it,
//! reads back the same and writes the same text again.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use taskflows_docker::ContainerSpec;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("fuzz.json");
    let spec = match ContainerSpec::parse(path, text) {
        Ok(spec) => spec,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let written = spec.to_json();
    let again =
        ContainerSpec::parse(path, &written).unwrap_or_else(|e| panic!("written spec does not parse: {e}\n{written}"));
    assert_eq!(again, spec, "written spec reads back different\n{written}");
    assert_eq!(again.to_json(), written, "writing is not stable");
});

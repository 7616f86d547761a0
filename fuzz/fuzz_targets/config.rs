//! Any bytes as a config file: compiling must return Ok or a list of errors,
//! never panic, and every error must carry a message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(errors) = outpost_config::load_str(text, std::path::Path::new("/nonexistent")) {
        assert!(!errors.is_empty());
        for e in errors {
            assert!(!e.message.is_empty());
        }
    }
});

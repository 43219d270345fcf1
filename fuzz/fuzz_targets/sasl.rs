//! SASL payloads: PLAIN (base64 of `authzid NUL authcid NUL password`), and a SCRAM-SHA-256
//! exchange (client-first, then client-final, split at the first newline) against fixed
//! keys. No panic; a made-up proof never passes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = teahouse_irc::fuzzing::sasl_plain(text);
    let (first, last) = text.split_once('\n').unwrap_or((text, ""));
    assert!(
        !teahouse_hub::fuzzing::scram(first, last),
        "a proof without the password passed: {text:?}"
    );
});

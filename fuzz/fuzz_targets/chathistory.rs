//! CHATHISTORY's arguments: a target (a room or a nick) and a message reference
//! (`msgid=`, `timestamp=`, `*`), split at the first space. No panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (target, reference) = text.split_once(' ').unwrap_or((text, "*"));
    let _ = teahouse_irc::fuzzing::chathistory(target, reference, flags & 1 == 1, flags & 2 == 2);
});

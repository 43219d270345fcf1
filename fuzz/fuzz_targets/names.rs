//! Names a client chooses: nicks (normalised, casefolded, mixed scripts refused, their
//! confusable skeleton), room names, and an operator's ban masks. No panic; a nick that
//! parses parses again from its own text to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teahouse_types::{Nick, RoomName};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(nick) = Nick::parse(text) {
        let again = Nick::parse(nick.as_str()).expect("a nick's own text parses");
        assert_eq!(again.key(), nick.key());
        let _ = nick.skeleton();
    }
    let _ = RoomName::parse(text);
    let _ = teahouse_hub::BanTarget::parse(text);
});

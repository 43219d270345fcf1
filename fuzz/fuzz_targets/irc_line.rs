//! One IRC line (tags, source, command, parameters) as a client sends it: parsing never
//! panics, and what parses and encodes parses again to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teahouse_wire::irc::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = Message::parse(line) else {
        return;
    };
    if let Ok(encoded) = message.encode() {
        let again = Message::parse(&encoded).expect("an encoded message parses");
        assert_eq!(again, message, "{encoded:?}");
    }
});

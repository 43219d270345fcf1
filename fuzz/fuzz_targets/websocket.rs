//! WebSocket frames from a client, read with the web face's limits (4608-byte messages and
//! frames, masked frames only): no panic, and reading ends at the first violation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = teahouse_server::fuzzing::websocket(data);
});

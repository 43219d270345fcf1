//! The line framing every face reads through, fed in arbitrary chunks: no panic, no line
//! over the limit, and the end of input drops a partial last line.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use teahouse_wire::text::{Frame, LineDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let max = usize::from(limit % 64) + 1;
    let mut decoder = LineDecoder::new(max);
    let mut buf = BytesMut::new();
    // The first bytes pick the chunk sizes; the rest is the stream.
    let (sizes, stream) = rest.split_at(rest.len().min(8));
    let mut at = 0;
    let mut round = 0;
    while at < stream.len() {
        let size = usize::from(*sizes.get(round % sizes.len().max(1)).unwrap_or(&7)) + 1;
        let end = (at + size).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        round += 1;
        while let Some(frame) = decoder.decode(&mut buf) {
            if let Frame::Line(line) = frame {
                assert!(
                    line.len() <= max,
                    "a line of {} bytes over {max}",
                    line.len()
                );
                assert!(!line.contains('\n'));
            }
        }
    }
    while let Some(frame) = decoder.decode_eof(&mut buf) {
        if let Frame::Line(line) = frame {
            assert!(line.len() <= max);
        }
    }
});

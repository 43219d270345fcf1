//! The accounting header every fan-out message carries.

use std::fmt::Write as _;

/// Marks a payload in a received line.
const MARK: &str = "TH1 ";

/// What a payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The run that sent it: a server that replays stored messages (the text face does, on
    /// entering a room) shows payloads of earlier runs, which are not this run's deliveries.
    pub(crate) run: u32,
    /// Sender index.
    pub(crate) sender: u32,
    /// Sequence number within that sender.
    pub(crate) seq: u32,
    /// Send (or scheduled) time, in nanoseconds since the run's clock base.
    pub(crate) sent_ns: u64,
}

/// `TH1 run sender seq ns ` then padding to `size` bytes.
pub(crate) fn encode(header: Header, size: usize, out: &mut String) {
    let start = out.len();
    let _ = write!(
        out,
        "{MARK}{} {} {} {} ",
        header.run, header.sender, header.seq, header.sent_ns
    );
    while out.len() - start < size {
        out.push('x');
    }
}

/// Finds and parses a payload anywhere in a line.
pub(crate) fn decode(line: &[u8]) -> Option<Header> {
    let at = find(line, MARK.as_bytes())?;
    let rest = std::str::from_utf8(&line[at + MARK.len()..]).ok()?;
    let mut parts = rest.split(' ');
    Some(Header {
        run: parts.next()?.parse().ok()?,
        sender: parts.next()?.parse().ok()?,
        seq: parts.next()?.parse().ok()?,
        sent_ns: parts.next()?.parse().ok()?,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let header = Header {
            run: 7,
            sender: 3,
            seq: 99,
            sent_ns: 123_456_789,
        };
        let mut s = String::from(":b3!u@h PRIVMSG #bench :");
        let before = s.len();
        encode(header, 64, &mut s);
        assert_eq!(s.len() - before, 64);
        assert_eq!(decode(s.as_bytes()), Some(header));
        assert_eq!(decode(b"no payload here"), None);
    }
}

//! The plain-text protocol's framing: one UTF-8 line per message, `\n` or `\r\n` ended.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};
use tokio_util::codec::{LinesCodec, LinesCodecError};

/// What a received frame turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A complete line, without its line ending.
    Line(String),
    /// A line longer than the limit: it was discarded up to its end.
    TooLong,
    /// A line that is not valid UTF-8: it was discarded.
    InvalidUtf8,
}

/// A newline-framed decoder with a hard limit on a line's length.
///
/// Wraps tokio-util's [`LinesCodec`] but reports an over-long or non-UTF-8 line as a
/// [`Frame`] value rather than an error, so that a session answers it and carries on (the
/// codec itself has discarded the offending line by then). It is driven directly on the
/// session's read buffer, not through `FramedRead`, so that an error is never mistaken for the
/// end of the stream.
#[derive(Debug)]
pub struct LineDecoder {
    codec: LinesCodec,
}

impl LineDecoder {
    /// A decoder that refuses lines longer than `max_line_bytes` (line ending excluded).
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            codec: LinesCodec::new_with_max_length(max_line_bytes),
        }
    }

    /// The next frame in `buf`, if a whole one is there; consumes what it returns.
    ///
    /// After [`Frame::TooLong`] the decoder discards the rest of that line as it arrives, so
    /// the buffer never holds more than the limit plus one read.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        use tokio_util::codec::Decoder;
        map(self.codec.decode(buf))
    }

    /// The longest line it takes, in bytes.
    pub fn max_line_bytes(&self) -> usize {
        self.codec.max_length()
    }

    /// Like [`LineDecoder::decode`], at the end of the stream: a last line without its line
    /// ending is returned too.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        use tokio_util::codec::Decoder;
        map(self.codec.decode_eof(buf))
    }
}

fn map(result: Result<Option<String>, LinesCodecError>) -> Option<Frame> {
    match result {
        Ok(line) => line.map(Frame::Line),
        Err(LinesCodecError::MaxLineLengthExceeded) => Some(Frame::TooLong),
        // LinesCodec's only I/O error from `decode` is its UTF-8 check.
        Err(LinesCodecError::Io(_)) => Some(Frame::InvalidUtf8),
    }
}

/// Encodes one line for the wire: the text followed by `\r\n` (telnet wants the CR, netcat
/// and our client ignore it).
pub fn encode_line(line: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(line.len() + 2);
    buf.put_slice(line.as_bytes());
    buf.put_slice(b"\r\n");
    buf.freeze()
}

/// Makes text that another user wrote safe to print on a terminal: every control character
/// (C0 but tab, DEL, C1) is removed, so no escape sequence can reach a terminal (what follows
/// a removed ESC is left as harmless printable text).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_terminal_control) {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.chars().filter(|c| !is_terminal_control(*c)).collect())
}

fn is_terminal_control(c: char) -> bool {
    c != '\t' && c.is_control()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frames(decoder: &mut LineDecoder, buf: &mut BytesMut) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = decoder.decode(buf) {
            out.push(frame);
        }
        out
    }

    #[test]
    fn splits_lf_and_crlf_lines() {
        let mut d = LineDecoder::new(16);
        let mut buf = BytesMut::from(&b"hello\r\nworld\npartial"[..]);
        assert_eq!(
            frames(&mut d, &mut buf),
            vec![Frame::Line("hello".into()), Frame::Line("world".into())]
        );
        assert_eq!(d.decode_eof(&mut buf), Some(Frame::Line("partial".into())));
    }

    #[test]
    fn too_long_line_is_reported_then_decoding_goes_on() {
        let mut d = LineDecoder::new(4);
        let mut buf = BytesMut::from(&b"abcdefgh"[..]);
        assert_eq!(frames(&mut d, &mut buf), vec![Frame::TooLong]);
        assert!(buf.len() <= 5, "buffer bounded, had {}", buf.len());
        buf.extend_from_slice(b"ijk\nok\n");
        assert_eq!(frames(&mut d, &mut buf), vec![Frame::Line("ok".into())]);
    }

    #[test]
    fn invalid_utf8_is_reported_and_skipped() {
        let mut d = LineDecoder::new(64);
        let mut buf = BytesMut::from(&b"\xff\xfe\nfine\n"[..]);
        assert_eq!(
            frames(&mut d, &mut buf),
            vec![Frame::InvalidUtf8, Frame::Line("fine".into())]
        );
    }

    #[test]
    fn terminal_safe_strips_controls_but_tab() {
        assert_eq!(terminal_safe("plain"), "plain");
        assert_eq!(
            terminal_safe("\u{1b}[31mred\u{7}\tx\u{9b}2J\u{7f}"),
            "[31mred\tx2J"
        );
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_frames(
            data in proptest::collection::vec(any::<u8>(), 0..200),
            cut in 0usize..200,
        ) {
            let cut = cut.min(data.len());
            let mut whole = LineDecoder::new(16);
            let mut buf = BytesMut::from(&data[..]);
            let mut expected = frames(&mut whole, &mut buf);
            expected.extend(whole.decode_eof(&mut buf));

            let mut split = LineDecoder::new(16);
            let mut buf = BytesMut::from(&data[..cut]);
            let mut got = frames(&mut split, &mut buf);
            buf.extend_from_slice(&data[cut..]);
            got.extend(frames(&mut split, &mut buf));
            got.extend(split.decode_eof(&mut buf));
            prop_assert!(buf.len() <= 17);
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn terminal_safe_output_has_no_controls(s in any::<String>()) {
            prop_assert!(!terminal_safe(&s).chars().any(is_terminal_control));
        }
    }
}

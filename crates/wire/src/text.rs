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
    /// Set one byte over the limit, for the `\r` of a `\r\n` (no field of its own for the
    /// limit: the decoder is part of every idle session's memory).
    codec: LinesCodec,
}

impl LineDecoder {
    /// A decoder that refuses lines longer than `max_line_bytes`, line ending (`\n` or
    /// `\r\n`) excluded.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            // The codec counts a `\r` before the `\n` as part of the line: one byte more
            // for it, and the line itself is checked against the limit below.
            codec: LinesCodec::new_with_max_length(max_line_bytes.saturating_add(1)),
        }
    }

    /// The next frame in `buf`, if a whole one is there; consumes what it returns.
    ///
    /// After [`Frame::TooLong`] the decoder discards the rest of that line as it arrives, so
    /// the buffer never holds more than the limit plus one read.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        use tokio_util::codec::Decoder;
        let result = self.codec.decode(buf);
        self.map(result)
    }

    /// The longest line it takes, in bytes.
    pub fn max_line_bytes(&self) -> usize {
        self.codec.max_length() - 1
    }

    /// Like [`LineDecoder::decode`], at the end of the stream: a last line without its line
    /// ending was cut off (the connection closed mid-line), so it is dropped, not taken as
    /// if it were complete.
    pub fn decode_eof(&mut self, buf: &mut BytesMut) -> Option<Frame> {
        let frame = self.decode(buf);
        if frame.is_none() {
            buf.clear();
        }
        frame
    }

    fn map(&self, result: Result<Option<String>, LinesCodecError>) -> Option<Frame> {
        match result {
            Ok(Some(line)) if line.len() > self.max_line_bytes() => Some(Frame::TooLong),
            Ok(line) => line.map(Frame::Line),
            Err(LinesCodecError::MaxLineLengthExceeded) => Some(Frame::TooLong),
            // LinesCodec's only I/O error from `decode` is its UTF-8 check.
            Err(LinesCodecError::Io(_)) => Some(Frame::InvalidUtf8),
        }
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
/// a removed ESC is left as harmless printable text); so are the bidi embeddings, overrides
/// and isolates (U+202A–U+202E, U+2066–U+2069), which would reorder the rest of the line
/// (a nick shown after a message, `exe.txt` shown as `txt.exe`), and the line and paragraph
/// separators (U+2028, U+2029), which some terminals break lines at.
///
/// IRC's formatting codes go whole: bold, italics and the like are control characters, and a
/// colour code takes its colour numbers with it (`\x0304,12red` is `red`, never `04,12red`).
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_terminal_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            // mIRC colours: `\x03` then up to two digits, optionally `,` and two more.
            '\x03' => skip_colour(&mut chars, 2, |c| c.is_ascii_digit()),
            // Hex colours: `\x04` then six hex digits, optionally `,` and six more.
            '\x04' => skip_colour(&mut chars, 6, |c| c.is_ascii_hexdigit()),
            c if is_terminal_control(c) => {}
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Skips the colour numbers after a colour code: up to `width` digits, then, if a comma and
/// a digit follow, the comma and up to `width` digits more.
fn skip_colour(chars: &mut std::str::Chars<'_>, width: usize, is_digit: impl Fn(char) -> bool) {
    let skip_digits = |chars: &mut std::str::Chars<'_>| {
        let mut taken = 0;
        while taken < width && chars.clone().next().is_some_and(&is_digit) {
            chars.next();
            taken += 1;
        }
        taken
    };
    if skip_digits(chars) == 0 {
        return;
    }
    let mut ahead = chars.clone();
    if ahead.next() == Some(',') && ahead.next().is_some_and(&is_digit) {
        chars.next();
        skip_digits(chars);
    }
}

fn is_terminal_control(c: char) -> bool {
    c != '\t'
        && (c.is_control()
            || matches!(
                c,
                '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}'
            ))
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
        // A last line the connection closed in the middle of is dropped.
        assert_eq!(d.decode_eof(&mut buf), None);
        assert!(buf.is_empty());
    }

    #[test]
    fn issue_14_a_line_of_exactly_the_limit_is_taken_with_either_ending() {
        let mut d = LineDecoder::new(4);
        let mut buf = BytesMut::from(&b"abcd\r\nefgh\nabcde\r\nok\n"[..]);
        assert_eq!(
            frames(&mut d, &mut buf),
            vec![
                Frame::Line("abcd".into()),
                Frame::Line("efgh".into()),
                Frame::TooLong,
                Frame::Line("ok".into()),
            ]
        );
        let mut buf = BytesMut::from(&b"abcde\n"[..]);
        assert_eq!(frames(&mut d, &mut buf), vec![Frame::TooLong]);
        assert_eq!(d.max_line_bytes(), 4);
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

    #[test]
    fn issue_14_irc_formatting_is_removed_whole() {
        assert_eq!(
            terminal_safe("\x0304red\x03 \x02bold\x02 \x0312,01blue\x0f \x1ditalic\x1d"),
            "red bold blue italic"
        );
        assert_eq!(
            terminal_safe("\x04FF0000hex\x04 \x04ff0000,00ff00two"),
            "hex two"
        );
        // Three digits: the third is text; a comma without a digit after it is text.
        assert_eq!(terminal_safe("\x031234"), "34");
        assert_eq!(terminal_safe("\x034,x"), ",x");
        assert_eq!(terminal_safe("\x03,5 no colour"), ",5 no colour");
        assert_eq!(terminal_safe("\x0399"), "");
    }

    #[test]
    fn issue_14_terminal_safe_strips_bidi_controls_and_separators() {
        assert_eq!(
            terminal_safe("a\u{202E}txt.exe\u{202C} b\u{2067}c\u{2069}\u{2028}d\u{2029}e"),
            "atxt.exe bcde"
        );
        // Other formatting characters (a zero-width joiner in an emoji) stay.
        assert_eq!(terminal_safe("👩\u{200D}💻"), "👩\u{200D}💻");
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

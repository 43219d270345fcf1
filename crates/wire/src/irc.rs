//! The IRC line format with IRCv3 message tags: parse, encode, and the helpers around it.
//!
//! [`Message::parse`] takes one line (without its `\r\n`) and never panics: anything it
//! cannot make sense of is a [`ParseError`]. [`Message::encode`] is its inverse for valid
//! messages. [`LineBuilder`] encodes server lines straight into one buffer, for the hot path.
//! [`split_source`] splits `nick!user@host`; [`mask_matches`] matches `*`/`?` host masks.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};

/// The longest IRC line without tags, `\r\n` included (RFC 1459).
pub const MAX_LINE_BYTES: usize = 512;

/// The longest tags section a client may send, `@` and the space after it included (IRCv3).
pub const MAX_CLIENT_TAGS_BYTES: usize = 4096;

/// The longest tags section of any line, `@` and the space included (IRCv3).
pub const MAX_TAGS_BYTES: usize = 8191;

/// One message tag, value unescaped (empty when the tag had no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// The key, e.g. `time`, `+typing`, `vendor/name`.
    pub key: String,
    /// The unescaped value; empty for a tag without one.
    pub value: String,
}

/// One IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Tags, in the order first seen (a repeated key keeps its last value).
    pub tags: Vec<Tag>,
    /// The source (prefix) without its `:`.
    pub source: Option<String>,
    /// The command or numeric, as sent.
    pub command: String,
    /// The parameters, the trailing one included, without its `:`.
    pub params: Vec<String>,
}

/// Why a line is not an IRC message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Nothing but spaces (or tags and a source) before the end.
    #[error("no command")]
    NoCommand,
    /// A NUL, CR or LF inside the line.
    #[error("line contains a NUL, CR or LF byte")]
    ForbiddenByte,
    /// A tag with an empty key (`@=x`).
    #[error("empty tag key")]
    EmptyTagKey,
}

/// Why a message cannot be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A parameter other than the last is empty, holds a space or starts with `:`.
    #[error("parameter {index} cannot be a middle parameter")]
    BadMiddleParam {
        /// Which parameter.
        index: usize,
    },
    /// A part holds NUL, CR or LF, or the command or source is empty or holds a space.
    #[error("message part holds a forbidden character")]
    Forbidden,
}

impl Message {
    /// Parses one line, without its line ending.
    ///
    /// Spaces between parts may repeat; a tag repeated keeps its last value.
    ///
    /// # Errors
    /// A [`ParseError`] for a line with no command, a NUL/CR/LF, or an empty tag key.
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        if line.bytes().any(|b| matches!(b, b'\0' | b'\r' | b'\n')) {
            return Err(ParseError::ForbiddenByte);
        }
        let mut rest = line;
        let mut tags = Vec::new();
        if let Some(after) = rest.strip_prefix('@') {
            let (raw, remainder) = after.split_once(' ').unwrap_or((after, ""));
            tags = parse_tags(raw)?;
            rest = remainder;
        }
        rest = rest.trim_start_matches(' ');
        let mut source = None;
        if let Some(after) = rest.strip_prefix(':') {
            let (raw, remainder) = after.split_once(' ').unwrap_or((after, ""));
            source = Some(raw.to_owned());
            rest = remainder.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() {
            return Err(ParseError::NoCommand);
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing.to_owned());
                break;
            }
            let (param, remainder) = rest.split_once(' ').unwrap_or((rest, ""));
            params.push(param.to_owned());
            rest = remainder;
        }
        Ok(Self {
            tags,
            source,
            command: command.to_owned(),
            params,
        })
    }

    /// The value of tag `key`, if present.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// Encodes the message as one line, without `\r\n`. A tag with an empty value is written
    /// without `=`; the last parameter gets a `:` only when it needs one.
    ///
    /// # Errors
    /// An [`EncodeError`] when a part cannot be represented.
    pub fn encode(&self) -> Result<String, EncodeError> {
        let forbidden = |s: &str| s.bytes().any(|b| matches!(b, b'\0' | b'\r' | b'\n'));
        let mut out = String::new();
        if !self.tags.is_empty() {
            out.push('@');
            for (i, tag) in self.tags.iter().enumerate() {
                if tag.key.is_empty() || tag.key.contains([' ', ';', '=']) || forbidden(&tag.key) {
                    return Err(EncodeError::Forbidden);
                }
                if i > 0 {
                    out.push(';');
                }
                out.push_str(&tag.key);
                if !tag.value.is_empty() {
                    out.push('=');
                    escape_tag_value(&tag.value, &mut out);
                }
            }
            out.push(' ');
        }
        if let Some(source) = &self.source {
            if source.is_empty() || source.contains(' ') || forbidden(source) {
                return Err(EncodeError::Forbidden);
            }
            out.push(':');
            out.push_str(source);
            out.push(' ');
        }
        if self.command.is_empty()
            || self.command.contains(' ')
            || self.command.starts_with([':', '@'])
            || forbidden(&self.command)
        {
            return Err(EncodeError::Forbidden);
        }
        out.push_str(&self.command);
        let last = self.params.len().saturating_sub(1);
        for (index, param) in self.params.iter().enumerate() {
            if forbidden(param) {
                return Err(EncodeError::Forbidden);
            }
            out.push(' ');
            if needs_colon(param) {
                if index != last {
                    return Err(EncodeError::BadMiddleParam { index });
                }
                out.push(':');
            }
            out.push_str(param);
        }
        Ok(out)
    }
}

/// Whether a parameter must be sent as the trailing one.
fn needs_colon(param: &str) -> bool {
    param.is_empty() || param.contains(' ') || param.starts_with(':')
}

fn parse_tags(raw: &str) -> Result<Vec<Tag>, ParseError> {
    let mut tags: Vec<Tag> = Vec::new();
    for item in raw.split(';').filter(|s| !s.is_empty()) {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        if key.is_empty() {
            return Err(ParseError::EmptyTagKey);
        }
        let value = unescape_tag_value(value);
        match tags.iter_mut().find(|t| t.key == key) {
            Some(existing) => existing.value = value,
            None => tags.push(Tag {
                key: key.to_owned(),
                value,
            }),
        }
    }
    Ok(tags)
}

/// Undoes tag-value escaping: `\:` `;`, `\s` space, `\\` `\`, `\r` CR, `\n` LF; a backslash
/// before any other character is dropped, and so is a trailing one.
pub fn unescape_tag_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

/// Escapes a tag value onto `out`.
pub fn escape_tag_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// The client-only tags (`+key`) of a message, escaped and joined with `;`, ready to pass on;
/// `None` when it has none.
pub fn client_only_tags(message: &Message) -> Option<String> {
    let mut out = String::new();
    for tag in message.tags.iter().filter(|t| t.key.starts_with('+')) {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(&tag.key);
        if !tag.value.is_empty() {
            out.push('=');
            escape_tag_value(&tag.value, &mut out);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Makes text safe to relay to IRC clients: keeps the IRC formatting codes (bold `\x02`,
/// colour `\x03`, hex colour `\x04`, reset `\x0f`, monospace `\x11`, reverse `\x16`,
/// italics `\x1d`, strikethrough `\x1e`, underline `\x1f`) and CTCP's `\x01`, and removes
/// every other control character (ESC, BEL, DEL, C1 …), so no terminal escape sequence
/// reaches a client that prints text raw.
pub fn irc_safe(text: &str) -> std::borrow::Cow<'_, str> {
    let is_unsafe = |c: char| {
        c.is_control()
            && !matches!(
                c,
                '\u{1}'
                    | '\u{2}'
                    | '\u{3}'
                    | '\u{4}'
                    | '\u{f}'
                    | '\u{11}'
                    | '\u{16}'
                    | '\u{1d}'
                    | '\u{1e}'
                    | '\u{1f}'
                    | '\t'
            )
    };
    if !text.chars().any(is_unsafe) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(text.chars().filter(|c| !is_unsafe(*c)).collect())
}

/// A source split into its parts: `nick!user@host`, `nick@host` or `nick`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceParts<'a> {
    /// The nick (or server name).
    pub nick: &'a str,
    /// The user, if given.
    pub user: Option<&'a str>,
    /// The host, if given.
    pub host: Option<&'a str>,
}

/// Splits a source into nick, user and host.
pub fn split_source(source: &str) -> SourceParts<'_> {
    let (rest, host) = match source.split_once('@') {
        Some((rest, host)) => (rest, Some(host)),
        None => (source, None),
    };
    let (nick, user) = match rest.split_once('!') {
        Some((nick, user)) => (nick, Some(user)),
        None => (rest, None),
    };
    SourceParts { nick, user, host }
}

pub use teahouse_types::mask_matches;

/// Encodes one server line straight into a buffer: tags, source, command, parameters,
/// `\r\n`. Call in that order; [`LineBuilder::trailing`] ends the parameters.
#[derive(Debug)]
pub struct LineBuilder {
    buf: BytesMut,
    has_tags: bool,
}

impl Default for LineBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LineBuilder {
    /// An empty line.
    pub fn new() -> Self {
        Self {
            buf: BytesMut::with_capacity(128),
            has_tags: false,
        }
    }

    /// Adds a tag (value escaped; `None` or empty writes the key alone).
    pub fn tag(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        self.buf.put_u8(if self.has_tags { b';' } else { b'@' });
        self.has_tags = true;
        self.buf.put_slice(key.as_bytes());
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            self.buf.put_u8(b'=');
            if value.contains([';', ' ', '\\', '\r', '\n']) {
                let mut escaped = String::with_capacity(value.len() + 8);
                escape_tag_value(value, &mut escaped);
                self.buf.put_slice(escaped.as_bytes());
            } else {
                self.buf.put_slice(value.as_bytes());
            }
        }
        self
    }

    /// Adds tags already escaped and joined with `;` (client-only tags passed through).
    pub fn tags_raw(&mut self, tags: &str) -> &mut Self {
        if tags.is_empty() {
            return self;
        }
        self.buf.put_u8(if self.has_tags { b';' } else { b'@' });
        self.has_tags = true;
        self.buf.put_slice(tags.as_bytes());
        self
    }

    /// Adds a tag whose value is written with `fmt::Display` (for numbers and times).
    pub fn tag_display(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let mut text = String::new();
        let _ = write!(text, "{value}");
        self.tag(key, Some(&text))
    }

    /// Sets the source (`:source `); ends the tags.
    pub fn source(&mut self, source: &str) -> &mut Self {
        self.end_tags();
        self.buf.put_u8(b':');
        self.buf.put_slice(source.as_bytes());
        self.buf.put_u8(b' ');
        self
    }

    /// Sets the source as `nick!user@host`.
    pub fn source_parts(&mut self, nick: &str, user: &str, host: &str) -> &mut Self {
        self.end_tags();
        self.buf.put_u8(b':');
        self.buf.put_slice(nick.as_bytes());
        self.buf.put_u8(b'!');
        self.buf.put_slice(user.as_bytes());
        self.buf.put_u8(b'@');
        self.buf.put_slice(host.as_bytes());
        self.buf.put_u8(b' ');
        self
    }

    /// Sets the command; ends the tags.
    pub fn command(&mut self, command: &str) -> &mut Self {
        self.end_tags();
        self.buf.put_slice(command.as_bytes());
        self
    }

    /// Adds a middle parameter; one that needs a `:` is written as the trailing one instead,
    /// so the caller must not add more after it.
    pub fn param(&mut self, param: &str) -> &mut Self {
        if needs_colon(param) {
            return self.trailing(param);
        }
        self.buf.put_u8(b' ');
        self.buf.put_slice(param.as_bytes());
        self
    }

    /// Adds the last parameter, always with `:`.
    pub fn trailing(&mut self, param: &str) -> &mut Self {
        self.buf.put_slice(b" :");
        self.buf.put_slice(param.as_bytes());
        self
    }

    /// The bytes written so far (no line ending).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Ends the line with `\r\n`.
    pub fn finish(&mut self) -> Bytes {
        self.buf.put_slice(b"\r\n");
        self.buf.split().freeze()
    }

    fn end_tags(&mut self) {
        if self.has_tags {
            self.buf.put_u8(b' ');
            self.has_tags = false;
        }
    }
}

#[cfg(test)]
#[path = "irc_tests.rs"]
mod tests;

//! Message bodies.

use std::fmt;
use std::sync::Arc;

/// Why a message body is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing to say.
    #[error("message is empty")]
    Empty,
    /// A NUL, CR or LF: they would break every line-based wire format.
    #[error("message contains the control character {ch:?}, which is not allowed")]
    ForbiddenChar {
        /// The offending character.
        ch: char,
    },
}

/// The body of a chat message: non-empty UTF-8 without NUL, CR or LF. Cloning is cheap.
///
/// Other control characters are kept as sent (IRC clients use C0 codes for bold and colour);
/// each renderer decides what is safe for its medium, and the text face strips every control
/// character before the text reaches a terminal.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MessageText(Arc<str>);

impl MessageText {
    /// Checks a message body.
    ///
    /// # Errors
    /// [`TextError::Empty`] for an empty string, [`TextError::ForbiddenChar`] for NUL, CR or LF.
    pub fn parse(input: &str) -> Result<Self, TextError> {
        if input.is_empty() {
            return Err(TextError::Empty);
        }
        if let Some(ch) = input.chars().find(|c| matches!(c, '\0' | '\r' | '\n')) {
            return Err(TextError::ForbiddenChar { ch });
        }
        Ok(Self(input.into()))
    }

    /// Checks a message body of several lines, separated by LF (IRCv3 `draft/multiline`):
    /// as [`Self::parse`], but LF is allowed between lines, which may be empty; it must not
    /// be all empty.
    ///
    /// # Errors
    /// [`TextError::Empty`] for no text at all, [`TextError::ForbiddenChar`] for NUL or CR.
    pub fn parse_multiline(input: &str) -> Result<Self, TextError> {
        if input.chars().all(|c| c == '\n') {
            return Err(TextError::Empty);
        }
        if let Some(ch) = input.chars().find(|c| matches!(c, '\0' | '\r')) {
            return Err(TextError::ForbiddenChar { ch });
        }
        Ok(Self(input.into()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it has more than one line (see [`Self::parse_multiline`]).
    pub fn is_multiline(&self) -> bool {
        self.0.contains('\n')
    }
}

impl fmt::Display for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for MessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageText({:?})", &*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_line_breaking_characters() {
        assert_eq!(MessageText::parse(""), Err(TextError::Empty));
        assert_eq!(
            MessageText::parse("a\nb"),
            Err(TextError::ForbiddenChar { ch: '\n' })
        );
        assert_eq!(
            MessageText::parse("a\0"),
            Err(TextError::ForbiddenChar { ch: '\0' })
        );
        assert_eq!(
            MessageText::parse("\u{2}bold\u{2}").unwrap().as_str(),
            "\u{2}bold\u{2}"
        );
        let lines = MessageText::parse_multiline("a\n\nb").unwrap();
        assert!(lines.is_multiline());
        assert_eq!(MessageText::parse_multiline("\n\n"), Err(TextError::Empty));
        assert_eq!(
            MessageText::parse_multiline("a\r\nb"),
            Err(TextError::ForbiddenChar { ch: '\r' })
        );
    }
}

//! Room names: validated, normalised, compared by their casefolded key.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use crate::error::NameError;
use crate::fold::casefold;
use crate::nick::is_forbidden_in_name;

/// The most characters a room name may have (IRC's `CHANNELLEN` is this plus the `#`).
pub const ROOM_MAX_CHARS: usize = 49;

/// Characters never allowed in a room name: list separators and wildcards in IRC.
const FORBIDDEN: &[char] = &[',', '*', '?'];

/// A room name that passed validation, without any IRC `#` prefix.
///
/// The IRC face shows room `lobby` as channel `#lobby`; the text face shows it as `lobby`.
/// Equality and hashing use the casefolded key. Cloning is cheap.
#[derive(Clone)]
pub struct RoomName {
    display: Arc<str>,
    key: Arc<str>,
}

impl RoomName {
    /// Validates and normalises a room name; one leading `#` is taken as the IRC prefix and
    /// removed, so `#lobby` and `lobby` name the same room.
    ///
    /// # Errors
    /// A [`NameError`]: empty, longer than [`ROOM_MAX_CHARS`], or containing whitespace, a
    /// control or invisible character, or one of `, * ?`, or a second leading `#`.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let bare = input.strip_prefix('#').unwrap_or(input);
        let display: String = bare.nfkc().collect();
        match display.chars().next() {
            None => return Err(NameError::Empty),
            Some('#') => return Err(NameError::ForbiddenFirstChar { ch: '#' }),
            Some(_) => {}
        }
        let mut count = 0;
        for ch in display.chars() {
            count += 1;
            if is_forbidden_in_name(ch) || FORBIDDEN.contains(&ch) {
                return Err(NameError::ForbiddenChar { ch });
            }
        }
        if count > ROOM_MAX_CHARS {
            return Err(NameError::TooLong {
                max: ROOM_MAX_CHARS,
            });
        }
        let key = casefold(&display);
        Ok(Self {
            display: display.into(),
            key: key.into(),
        })
    }

    /// The name as shown to users, without `#`.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The casefolded comparison key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The casefolded comparison key, shared: a map keyed by it costs no copy.
    pub fn shared_key(&self) -> Arc<str> {
        Arc::clone(&self.key)
    }
}

impl PartialEq for RoomName {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for RoomName {}

impl Hash for RoomName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for RoomName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomName({:?})", &*self.display)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn hash_prefix_is_optional_and_case_ignored() {
        let a = RoomName::parse("#Lobby").unwrap();
        let b = RoomName::parse("lobby").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "Lobby");
        assert_eq!(RoomName::parse("茶馆").unwrap().as_str(), "茶馆");
    }

    #[test]
    fn refuses_bad_names() {
        assert_eq!(RoomName::parse("#"), Err(NameError::Empty));
        assert_eq!(
            RoomName::parse("a b"),
            Err(NameError::ForbiddenChar { ch: ' ' })
        );
        assert_eq!(
            RoomName::parse("a,b"),
            Err(NameError::ForbiddenChar { ch: ',' })
        );
        assert_eq!(
            RoomName::parse(&"r".repeat(50)),
            Err(NameError::TooLong { max: 49 })
        );
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            if let Ok(room) = RoomName::parse(&s) {
                let again = RoomName::parse(room.as_str()).unwrap();
                prop_assert_eq!(again, room);
            }
        }
    }
}

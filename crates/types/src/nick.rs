//! Nicknames: validated, normalised, compared by their casefolded key.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use unicode_normalization::UnicodeNormalization;

use crate::error::NameError;
use crate::fold::casefold;

/// The most characters a nickname may have, after NFKC normalisation. Long enough for a
/// full name in most scripts, short enough to stay readable in a member list and well under
/// IRC's line limits.
pub const NICK_MAX_CHARS: usize = 32;

/// Characters never allowed in a nickname: they delimit nicks or masks in IRC
/// (`nick!user@host`, `a,b`, wildcards, channel prefix, server names) and in the text
/// protocol (`nick: text`).
const FORBIDDEN: &[char] = &[':', ',', '*', '?', '!', '@', '#', '.'];

/// Characters never allowed first: IRC channel and status prefixes, and `-`.
const FORBIDDEN_FIRST: &[char] = &['$', '&', '+', '%', '~', '-'];

/// Names kept for the server and its services, compared by casefolded key.
const RESERVED: &[&str] = &[
    "server",
    "system",
    "teahouse",
    "services",
    "nickserv",
    "chanserv",
    "operserv",
    "memoserv",
    "hostserv",
    "botserv",
    "histserv",
    "global",
    "anonymous",
];

/// A nickname that passed validation.
///
/// Keeps the display form (NFKC-normalised, as the user typed it otherwise) and the comparison
/// key ([`crate::casefold`]); equality and hashing use the key only. Cloning is cheap.
#[derive(Clone)]
pub struct Nick {
    display: Arc<str>,
    key: Arc<str>,
}

impl Nick {
    /// Validates and normalises a nickname.
    ///
    /// # Errors
    /// A [`NameError`] saying why the name is not acceptable: empty, longer than
    /// [`NICK_MAX_CHARS`], containing whitespace, a control or invisible formatting character or
    /// one of `: , * ? ! @ # .`, starting with a digit or one of `$ & + % ~ -`, or reserved.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let display: String = input.nfkc().collect();
        let mut chars = display.chars();
        let first = chars.next().ok_or(NameError::Empty)?;
        if FORBIDDEN_FIRST.contains(&first) || first.is_ascii_digit() {
            return Err(NameError::ForbiddenFirstChar { ch: first });
        }
        let mut count = 0;
        for ch in display.chars() {
            count += 1;
            if is_forbidden_in_name(ch) || FORBIDDEN.contains(&ch) {
                return Err(NameError::ForbiddenChar { ch });
            }
        }
        if count > NICK_MAX_CHARS {
            return Err(NameError::TooLong {
                max: NICK_MAX_CHARS,
            });
        }
        if !is_one_script(&display) {
            return Err(NameError::MixedScripts);
        }
        let key = casefold(&display);
        if RESERVED.contains(&key.as_str()) {
            return Err(NameError::Reserved);
        }
        let display: Arc<str> = display.into();
        // Most nicks are their own key (already lower case): one allocation serves both.
        let key = if *key == *display {
            Arc::clone(&display)
        } else {
            key.into()
        };
        Ok(Self { display, key })
    }

    /// The name as shown to users.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The confusable skeleton of the key (UTS #39): two names with the same skeleton look
    /// alike (`scope` and Cyrillic `ѕсоре`), so only one of them may be held.
    pub fn skeleton(&self) -> String {
        skeleton(&self.key)
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

/// Whitespace, controls (C0, DEL, C1) and invisible formatting characters (zero-width, bidi
/// overrides, BOM): none of them may hide inside a name, since two names that look the same
/// must not be two different names.
pub(crate) fn is_forbidden_in_name(ch: char) -> bool {
    ch.is_whitespace()
        || ch.is_control()
        || matches!(ch,
            '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
            | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
            | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFF}' | '\u{E0000}'..='\u{E0FFF}')
}

impl PartialEq for Nick {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Nick {}

impl Hash for Nick {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Nick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Nick({:?})", &*self.display)
    }
}

/// The confusable skeleton of a casefolded name (UTS #39).
pub fn skeleton(key: &str) -> String {
    unicode_security::skeleton(key).collect()
}

/// Whether a name's letters are of one script, or of the mixes UTS #39 calls highly
/// restrictive (Latin with Han, kana or Hangul: what Chinese, Japanese and Korean users
/// write). Digits, punctuation and emoji belong to every script and are not counted.
fn is_one_script(name: &str) -> bool {
    use unicode_security::{RestrictionLevel, RestrictionLevelDetection as _};
    let letters: String = name.chars().filter(|c| c.is_alphabetic()).collect();
    letters.as_str().detect_restriction_level() <= RestrictionLevel::HighlyRestrictive
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn mixed_scripts_are_refused_but_latin_with_han_is_not() {
        // `bоb` with a Cyrillic о.
        assert_eq!(Nick::parse("b\u{43e}b"), Err(NameError::MixedScripts));
        for ok in [
            "bob",
            "小明",
            "Ming小明",
            "ゆき_yuki",
            "bob_[away]",
            "Иван",
            "bob🍵",
        ] {
            assert!(Nick::parse(ok).is_ok(), "{ok}");
        }
        // One script, but a look-alike: the same skeleton as `scope`.
        let cyrillic = Nick::parse("\u{455}\u{441}\u{43e}\u{440}\u{435}").unwrap();
        assert_eq!(
            cyrillic.skeleton(),
            Nick::parse("scope").unwrap().skeleton()
        );
        assert_ne!(
            Nick::parse("bob").unwrap().skeleton(),
            Nick::parse("bib").unwrap().skeleton()
        );
    }

    #[test]
    fn accepts_unicode_nicks() {
        for ok in ["小明", "Zoë", "alice_2", "[bot]", "a", "Ωμέγα"] {
            assert_eq!(Nick::parse(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn refuses_bad_nicks_with_reason() {
        assert_eq!(Nick::parse(""), Err(NameError::Empty));
        assert_eq!(
            Nick::parse("a b"),
            Err(NameError::ForbiddenChar { ch: ' ' })
        );
        assert_eq!(
            Nick::parse("a:b"),
            Err(NameError::ForbiddenChar { ch: ':' })
        );
        for ch in [
            ',', '*', '!', '@', '#', '\u{7}', '\u{1b}', '\u{202e}', '\u{200b}',
        ] {
            assert_eq!(
                Nick::parse(&format!("x{ch}y")),
                Err(NameError::ForbiddenChar { ch }),
                "{ch:?}"
            );
        }
        assert_eq!(
            Nick::parse("9lives"),
            Err(NameError::ForbiddenFirstChar { ch: '9' })
        );
        assert_eq!(Nick::parse("System"), Err(NameError::Reserved));
        assert_eq!(Nick::parse("ＳＥＲＶＥＲ"), Err(NameError::Reserved));
        assert_eq!(Nick::parse(&"x".repeat(32)).unwrap().as_str().len(), 32);
        assert_eq!(
            Nick::parse(&"x".repeat(33)),
            Err(NameError::TooLong { max: 32 })
        );
        assert!(Nick::parse(&"字".repeat(32)).is_ok());
    }

    #[test]
    fn compares_by_casefolded_key() {
        assert_eq!(Nick::parse("Alice").unwrap(), Nick::parse("alice").unwrap());
        assert_eq!(
            Nick::parse("ＡＬＩＣＥ").unwrap(),
            Nick::parse("alice").unwrap()
        );
        // NFKC: fullwidth letters display as their plain forms.
        assert_eq!(Nick::parse("ＡＬＩＣＥ").unwrap().as_str(), "ALICE");
        assert_ne!(
            Nick::parse("alice").unwrap(),
            Nick::parse("alicia").unwrap()
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_valid_nicks_are_stable(s in "\\PC{0,40}") {
            if let Ok(nick) = Nick::parse(&s) {
                prop_assert!(nick.as_str().chars().count() <= NICK_MAX_CHARS);
                let again = Nick::parse(nick.as_str()).unwrap();
                prop_assert_eq!(again.as_str(), nick.as_str());
                prop_assert_eq!(again.key(), nick.key());
            }
        }

        #[test]
        fn arbitrary_strings_never_panic(s in any::<String>()) {
            let _ = Nick::parse(&s);
        }
    }
}

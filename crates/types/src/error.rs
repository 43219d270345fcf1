//! Why a name, a node id or a change was refused.

/// Why a nickname or room name is not acceptable; shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty (after trimming nothing is left).
    #[error("name is empty")]
    Empty,
    /// The name has more characters than allowed, after normalisation.
    #[error("name is longer than {max} characters")]
    TooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// The name contains a character that is not allowed anywhere in it.
    #[error("name contains the character {ch:?}, which is not allowed")]
    ForbiddenChar {
        /// The offending character.
        ch: char,
    },
    /// The name starts with a character that is not allowed first.
    #[error("name may not start with {ch:?}")]
    ForbiddenFirstChar {
        /// The offending character.
        ch: char,
    },
    /// The name mixes scripts that could make it pass for another (Latin with Cyrillic,
    /// say); Latin with Han, kana or Hangul is fine.
    #[error("name mixes scripts (such as Latin and Cyrillic letters); use one")]
    MixedScripts,
    /// The name is reserved for the server or its services.
    #[error("name is reserved")]
    Reserved,
}

/// A node id above [`crate::NodeId::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("node id {0} is above {max}", max = crate::NodeId::MAX)]
pub struct NodeIdError(pub u8);

/// A change written by a newer version of the catalogue than this one reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "change of catalogue version {found}; this build reads up to {}",
    crate::Change::VERSION
)]
pub struct NewerVersion {
    /// The version it was written in.
    pub found: u16,
}

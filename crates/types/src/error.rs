//! Why a name was refused.

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
    /// The name is reserved for the server or its services.
    #[error("name is reserved")]
    Reserved,
}

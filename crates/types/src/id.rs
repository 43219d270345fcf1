//! Identifier newtypes.

use std::fmt;

/// One connected client, unique for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(u64);

impl SessionId {
    /// Wraps a raw id; only the hub allocates them.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw number, for logs.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One message: unique, and increasing in time order across restarts, since it is
/// milliseconds since the Unix epoch shifted left by [`MessageId::SEQUENCE_BITS`], plus a
/// sequence number for messages in the same millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(u64);

impl MessageId {
    /// Bits of the id below the milliseconds: 65,536 ids per millisecond before the id runs
    /// ahead of the clock.
    pub const SEQUENCE_BITS: u32 = 16;

    /// The smallest id of millisecond `ms` since the Unix epoch (a bound for history
    /// queries by time).
    pub const fn first_at(ms: u64) -> Self {
        Self(ms << Self::SEQUENCE_BITS)
    }

    /// Wraps a raw id; only the hub allocates them.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

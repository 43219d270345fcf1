//! Identifier newtypes: nodes, sessions and messages.
//!
//! Every id a hub hands out is qualified by the node (server process) that made it, so that
//! several nodes sharing rooms and one database never hand out the same one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::NodeIdError;

/// One server process among those that share rooms and a database: part of every session
/// and message id it makes. Each server sharing a database needs its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(try_from = "u8", into = "u8")]
pub struct NodeId(u8);

impl NodeId {
    /// The largest node id: message ids keep [`MessageId::NODE_BITS`] bits for it.
    pub const MAX: u8 = (1 << MessageId::NODE_BITS) - 1;

    /// A node id, if it is at most [`NodeId::MAX`].
    pub const fn new(id: u8) -> Option<Self> {
        if id <= Self::MAX {
            Some(Self(id))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for NodeId {
    type Error = NodeIdError;

    fn try_from(id: u8) -> Result<Self, Self::Error> {
        Self::new(id).ok_or(NodeIdError(id))
    }
}

impl From<NodeId> for u8 {
    fn from(node: NodeId) -> Self {
        node.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One connected client: unique across the nodes that share rooms (the node that made it is
/// in its top bits) and for the life of that node's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(u64);

impl SessionId {
    /// Bits of the id below the node: the node's own sequence number.
    const SEQUENCE_BITS: u32 = 56;

    /// The session numbered `seq` (below 2^56) on `node`; only the hub allocates them.
    pub const fn new(node: NodeId, seq: u64) -> Self {
        Self(((node.0 as u64) << Self::SEQUENCE_BITS) | (seq & ((1 << Self::SEQUENCE_BITS) - 1)))
    }

    /// The node the session is connected to.
    pub const fn node(self) -> NodeId {
        NodeId((self.0 >> Self::SEQUENCE_BITS) as u8)
    }

    /// Its number on its node, for logs and for spreading work over tasks.
    pub const fn seq(self) -> u64 {
        self.0 & ((1 << Self::SEQUENCE_BITS) - 1)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.node(), self.seq())
    }
}

/// One message: unique across nodes and increasing in time order across restarts.
///
/// Milliseconds since the Unix epoch, shifted left by [`MessageId::SEQUENCE_BITS`]; below
/// them the node ([`MessageId::NODE_BITS`]) and a counter for the node's messages in the
/// same millisecond ([`MessageId::COUNTER_BITS`]). Ids made before nodes existed have the
/// same width and time base (milliseconds << 16, a plain sequence below), so old and new
/// ids sort together and both are valid references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(u64);

impl MessageId {
    /// Bits of the id below the milliseconds.
    pub const SEQUENCE_BITS: u32 = 16;

    /// Bits for the node, above the counter: 64 nodes.
    pub const NODE_BITS: u32 = 6;

    /// Bits for a node's messages within one millisecond: 1,024 ids per millisecond per
    /// node (a million a second) before its ids run ahead of the clock.
    pub const COUNTER_BITS: u32 = Self::SEQUENCE_BITS - Self::NODE_BITS;

    /// The smallest id of millisecond `ms` since the Unix epoch (a bound for history
    /// queries by time).
    pub const fn first_at(ms: u64) -> Self {
        Self(ms << Self::SEQUENCE_BITS)
    }

    /// The id of `node`'s message number `counter` (below 2^10) in millisecond `ms`.
    pub const fn new(ms: u64, node: NodeId, counter: u64) -> Self {
        Self(
            (ms << Self::SEQUENCE_BITS)
                | ((node.0 as u64) << Self::COUNTER_BITS)
                | (counter & ((1 << Self::COUNTER_BITS) - 1)),
        )
    }

    /// Wraps a raw id (a stored one, or one a client refers to).
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The millisecond it was made in.
    pub const fn millis(self) -> u64 {
        self.0 >> Self::SEQUENCE_BITS
    }

    /// Its counter within its node's millisecond.
    pub const fn counter(self) -> u64 {
        self.0 & ((1 << Self::COUNTER_BITS) - 1)
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_carry_their_node() {
        let node = NodeId::new(5).unwrap();
        let id = SessionId::new(node, 42);
        assert_eq!((id.node(), id.seq()), (node, 42));
        assert_eq!(id.to_string(), "5.42");
        assert_ne!(id, SessionId::new(NodeId::default(), 42));
        assert_eq!(NodeId::new(64), None);
        assert_eq!(NodeId::new(NodeId::MAX).map(NodeId::get), Some(63));
    }

    #[test]
    fn message_ids_sort_by_time_then_node_and_old_ids_sort_with_them() {
        let (a, b) = (NodeId::new(1).unwrap(), NodeId::new(2).unwrap());
        let early = MessageId::new(1_000, b, 1023);
        let later = MessageId::new(1_001, a, 0);
        assert!(early < later);
        assert!(MessageId::new(1_000, a, 7) < MessageId::new(1_000, b, 0));
        assert_eq!((later.millis(), later.counter()), (1_001, 0));
        // An id of the old layout (milliseconds << 16 | sequence) of the same millisecond
        // sorts among the new ones, and by time against every other millisecond.
        let old = MessageId::from_raw((1_000 << 16) | 3);
        assert_eq!(old.millis(), 1_000);
        assert!(old < later && MessageId::first_at(1_000) <= old);
    }

    #[test]
    fn ids_round_trip_through_serde_and_bad_nodes_are_refused() {
        let id = SessionId::new(NodeId::new(3).unwrap(), 9);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<NodeId>("64").is_err());
        assert_eq!(serde_json::from_str::<NodeId>("7").unwrap().get(), 7);
    }
}

//! The bus of changes between nodes, as the hub sees it: who the other nodes are now, and
//! a queue that takes each change this node decides, for the nodes that must hear of it.

use teahouse_types::{Change, NodeId};

/// A set of nodes, by their ids (there are at most 64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct NodeSet(u64);

impl NodeSet {
    /// No node.
    pub const EMPTY: Self = Self(0);

    /// The set of one node.
    pub const fn of(node: NodeId) -> Self {
        Self(1 << node.get())
    }

    /// Adds `node`.
    pub fn insert(&mut self, node: NodeId) {
        self.0 |= 1 << node.get();
    }

    /// Takes `node` out.
    pub fn remove(&mut self, node: NodeId) {
        self.0 &= !(1 << node.get());
    }

    /// Whether `node` is in.
    pub const fn contains(self, node: NodeId) -> bool {
        self.0 & (1 << node.get()) != 0
    }

    /// The nodes in both.
    #[must_use]
    pub const fn and(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether it has no node.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The bits, node `n` at bit `n`.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// A set from its bits.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The nodes in it, lowest first.
    pub fn iter(self) -> impl Iterator<Item = NodeId> {
        (0..=NodeId::MAX)
            .filter_map(move |n| (self.0 & (1 << n) != 0).then(|| NodeId::new(n)).flatten())
    }
}

/// Where the hub sends the changes it decides, for the other nodes to apply.
///
/// Calls come under the hub's lock, in the order the changes were applied; an
/// implementation keeps that order for each receiving node and never waits: its queue is
/// bounded, and a change that does not fit is dropped and counted (the nodes resynchronise
/// from snapshots when they reach each other again).
pub trait Bus: Send + Sync + 'static {
    /// The other nodes that are reachable now.
    fn peers(&self) -> NodeSet;

    /// Sends `change` to the nodes in `to`, encoded once.
    fn send(&self, to: NodeSet, change: Change);

    /// Sends `changes`, which rebuild this node's sessions and their rooms from nothing, to
    /// the nodes in `to`, which replace what they knew of this node's sessions with it.
    fn send_snapshot(&self, to: NodeSet, changes: Vec<Change>);

    /// Tells the nodes in `to` that the server bans in the shared database changed, so that
    /// they read them again (bans are policy beside the state, not changes of it).
    fn send_bans_changed(&self, to: NodeSet) {
        let _ = to;
    }

    /// Changes dropped so far (queue full, or the other nodes out of reach).
    fn dropped(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_sets_hold_each_node_once() {
        let (a, b) = (NodeId::new(1).unwrap(), NodeId::new(63).unwrap());
        let mut set = NodeSet::EMPTY;
        set.insert(a);
        set.insert(b);
        set.insert(a);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![a, b]);
        assert!(set.contains(b) && !set.contains(NodeId::new(2).unwrap()));
        set.remove(b);
        assert_eq!(set, NodeSet::of(a));
        assert!(set.and(NodeSet::of(b)).is_empty());
    }
}

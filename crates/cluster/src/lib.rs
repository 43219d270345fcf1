//! What the nodes of one teahouse share beyond the database: claims on the names that must
//! be unique across all of them, and the bus that carries every change a node decides to
//! the others.
//!
//! A nickname, a room's creation (and so who becomes its first operator) and an account's
//! registration must each be decided once for every node, not once per node. The hub asks
//! [`Claims`] before it applies such a change, and gives the claim back when the change is
//! undone (the nick dropped, the room emptied, the account deleted).
//!
//! [`LocalClaims`] is the implementation for one process: there, the hub's own state, read
//! and written under one lock, already decides every such name, so a claim is always
//! granted at once and nothing is kept. With the `nats` feature, [`nats`] implements the
//! claims on NATS JetStream's key-value store (create if absent, compare-and-set on the
//! revision) and the [`Bus`] on core NATS subjects, one inbox per node; those answer later,
//! which is why a claim is a future.
//!
//! This crate knows nothing of the hub, the wire or sockets.

mod bus;
mod error;
#[cfg(feature = "nats")]
pub mod nats;

pub use crate::bus::{Bus, NodeSet};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use teahouse_types::SessionId;

pub use crate::error::Refused;

/// A name that must be unique across every node, by its casefolded key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Claim {
    /// A nickname in use.
    Nick(Arc<str>),
    /// A room that exists: whoever creates it is its first operator.
    Room(Arc<str>),
    /// A registered account.
    Account(Arc<str>),
}

/// The answer to a claim: at once, or later.
///
/// # Cancel safety
/// Dropping a pending answer abandons the claim: an implementation that granted it
/// meanwhile gives it back.
pub enum Claiming {
    /// Decided at once (no allocation, no wait).
    Decided(Result<(), Refused>),
    /// Decided by the cluster, later.
    Later(Pin<Box<dyn Future<Output = Result<(), Refused>> + Send>>),
}

impl Future for Claiming {
    type Output = Result<(), Refused>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Decided(result) => Poll::Ready(*result),
            Self::Later(future) => future.as_mut().poll(cx),
        }
    }
}

/// Cluster-wide claims on names.
///
/// A claim is held by one session; claiming what the same session holds already is
/// granted. `release` never waits: it gives the claim back in the background.
pub trait Claims: Send + Sync + 'static {
    /// Claims `claim` for `owner`.
    fn claim(&self, claim: &Claim, owner: SessionId) -> Claiming;

    /// Gives back `claim` if `owner` holds it.
    fn release(&self, claim: &Claim, owner: SessionId);
}

/// Claims for one process: always granted, at once. The hub's state, decided under its one
/// lock, is the only registry there is (a nick in use is refused by the state itself).
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalClaims;

impl Claims for LocalClaims {
    fn claim(&self, _claim: &Claim, _owner: SessionId) -> Claiming {
        Claiming::Decided(Ok(()))
    }

    fn release(&self, _claim: &Claim, _owner: SessionId) {}
}

#[cfg(test)]
mod tests {
    use teahouse_types::NodeId;

    use super::*;

    #[tokio::test]
    async fn local_claims_are_granted_at_once() {
        let claims = LocalClaims;
        let owner = SessionId::new(NodeId::default(), 1);
        let claim = Claim::Nick("alice".into());
        let answer = claims.claim(&claim, owner);
        assert!(matches!(answer, Claiming::Decided(Ok(()))));
        assert_eq!(answer.await, Ok(()));
        claims.release(&claim, owner);
    }

    #[tokio::test]
    async fn a_later_answer_is_awaited() {
        let later = Claiming::Later(Box::pin(async { Err(Refused::Taken) }));
        assert_eq!(later.await, Err(Refused::Taken));
    }
}

//! Why a claim was refused.

/// Why a claim was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Someone else holds the claim.
    #[error("claimed by someone else")]
    Taken,
    /// The claim could not be decided now (the cluster's store is out of reach); asking
    /// again later may succeed.
    #[error("cannot be decided now")]
    Unreachable,
}

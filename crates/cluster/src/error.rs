//! Why a claim was refused.

/// Someone else holds the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("claimed by someone else")]
pub struct Taken;

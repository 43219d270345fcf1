//! How much work one task does before it lets the others run.

/// Bytes one task moves before it yields to the runtime: a few dozen lines. A session
/// yields after reading this much input, and the history writer after delivering this
/// much, so that one flooding sender (or one big batch) cannot fill a healthy reader's
/// queue within a single scheduling turn, while chat at human speed never reaches it.
/// Yielding is costly (it wakes the other runtime worker), so never per line.
pub const YIELD_AFTER_BYTES: usize = 16 * 1024;

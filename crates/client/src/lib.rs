//! The teahouse terminal clients.
//!
//! [`line::run`] is the line client behind `teahouse chat`: full duplex like the seed's
//! client (what arrives is printed while you type, above the line being edited, never
//! through it), interactive on a terminal and scriptable with stdin from a pipe.
//!
//! It speaks the plain-text protocol through `teahouse-wire` only and knows nothing of the
//! server's internals. Every text it prints itself is in `lang`, in English and Chinese.

mod error;
mod lang;
pub mod line;

pub use error::ClientError;
pub use lang::Lang;

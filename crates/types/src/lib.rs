//! The vocabulary of teahouse, shared by every other crate.
//!
//! Main types: the validated names [`Nick`] and [`RoomName`] (each keeps its display form and
//! its casefolded key), the ids [`SessionId`] and [`MessageId`], the message body
//! [`MessageText`], and [`HubEvent`], what the hub delivers to sessions.
//!
//! This crate does no I/O and knows no wire format: it is pure data and validation, so that the
//! hub, the front-ends, the clients and the load generator can all speak of the same things.

mod error;
mod event;
mod fold;
mod id;
mod mask;
mod mode;
mod nick;
mod profile;
mod room;
mod text;

pub use error::NameError;
pub use event::{EventKind, HubEvent, LeaveReason, MessageKind, MessageTarget, RenderCache};
pub use fold::casefold;
pub use id::{MessageId, SessionId};
pub use mask::mask_matches;
pub use mode::{MemberStatus, ModeChange, RoomMode, RoomModes};
pub use nick::{NICK_MAX_CHARS, Nick};
pub use profile::Profile;
pub use room::{ROOM_MAX_CHARS, RoomName};
pub use text::{MessageText, TextError};

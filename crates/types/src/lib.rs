//! The vocabulary of teahouse, shared by every other crate.
//!
//! Main types: the validated names [`Nick`] and [`RoomName`] (each keeps its display form and
//! its casefolded key), the ids [`NodeId`], [`SessionId`] and [`MessageId`], the message body
//! [`MessageText`], [`Change`] (every change of the hub's state, serializable) and
//! [`HubEvent`], what the hub delivers to sessions.
//!
//! This crate does no I/O and knows no wire format: it is pure data and validation, so that the
//! hub, the front-ends, the clients and the load generator can all speak of the same things.

mod change;
mod error;
mod event;
mod fold;
mod id;
mod mask;
mod mode;
mod nick;
pub mod pace;
mod profile;
mod room;
mod serial;
mod sink;
mod text;

pub use change::{Ban, Change, MessageTo, MetadataTarget, ModeEdit, Topic, Versioned};
pub use error::{NameError, NewerVersion, NodeIdError};
pub use event::{EventKind, HubEvent, Kill, LeaveReason, MessageKind, MessageTarget, RenderCache};
pub use fold::casefold;
pub use id::{MessageId, NodeId, SessionId};
pub use mask::mask_matches;
pub use mode::{MemberStatus, ModeChange, RoomMode, RoomModes, UserMode};
pub use nick::{NICK_MAX_CHARS, Nick, skeleton};
pub use profile::{Profile, host_of};
pub use room::{ROOM_MAX_CHARS, RoomName};
pub use sink::{EventSink, LocalSink, Overflow, ReplyPlace};
pub use text::{MessageText, TextError};

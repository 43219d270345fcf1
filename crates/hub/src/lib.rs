//! The protocol-agnostic core of teahouse.
//!
//! [`Hub`] is a cheap-to-clone handle on the chat state: sessions, the nick registry, rooms
//! and their members. A front-end attaches a session with an [`EventSink`] (its own bounded,
//! non-blocking outbound queue) and gets a [`SessionGuard`]; it then changes state only
//! through hub commands ([`Hub::set_nick`], [`Hub::join`], [`Hub::say`], …), which return an
//! outcome or a [`Refusal`], and receives what happens as [`HubEvent`]s through its sink.
//!
//! The hub never sees bytes, wire syntax or sockets, and never waits on a client: fan-out
//! hands each recipient's sink a shared `Arc<HubEvent>` outside the state lock, and a sink
//! whose queue is full gets its session removed with [`LeaveReason::SendQueueExceeded`].
//! [`ConnectionLimiter`] is the policy for how many connections may be open, in all and per
//! address.
//!
//! [`HubEvent`]: teahouse_types::HubEvent
//! [`LeaveReason::SendQueueExceeded`]: teahouse_types::LeaveReason::SendQueueExceeded

mod account;
mod error;
mod history;
mod hub;
mod limit;
mod sink;

pub use account::{AccountConfig, hash_new_password};
pub use error::{CannotSend, Error, Refusal};
pub use history::{HistoryConfig, HistoryTarget, HistoryWriter};
pub use hub::{
    Ban, Departed, Hub, HubConfig, Invitation, JoinOutcome, MAX_BANS, ModesOutcome, NickOutcome,
    RoomInfo, RoomMember, RoomSummary, SayTarget, Sent, SessionGuard, SessionOrigin, Stats,
    StoreSetup, Topic, UserInfo,
};
pub use limit::{ConnectionLimiter, ConnectionLimits, ConnectionPermit, LimitRefusal};
pub use sink::{EventSink, Overflow};
pub use teahouse_store::HistoryQuery;

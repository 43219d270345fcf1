//! The protocol-agnostic core of teahouse.
//!
//! [`Hub`] is a cheap-to-clone handle on the chat state: sessions, the nick registry, rooms
//! and their members. A front-end attaches a session with an [`EventSink`] (its own bounded,
//! non-blocking outbound queue) and gets a [`SessionGuard`]; it then changes state only
//! through hub commands ([`Hub::set_nick`], [`Hub::join`], [`Hub::say`], …), which return an
//! outcome or a [`Refusal`], and receives what happens as [`HubEvent`]s through its sink.
//!
//! Inside, every command is decided against the state into one [`Change`] (or refused),
//! and the state is written only by applying that change (`state`, `State::apply`), so the
//! same changes build the same state anywhere: the ground for several nodes sharing rooms.
//! Names that must be unique across nodes (nicks, a room's founding, accounts) are claimed
//! through [`teahouse_cluster::Claims`] first.
//!
//! The hub never sees bytes, wire syntax or sockets, and never waits on a client: fan-out
//! hands each recipient's sink a shared `Arc<HubEvent>` outside the state lock (but for a
//! command's own copy of its effect, queued under the lock in place among its replies), and
//! a sink whose queue is full gets its session removed with
//! [`LeaveReason::SendQueueExceeded`].
//! [`ConnectionLimiter`] is the policy for how many connections may be open, in all and per
//! address.
//!
//! [`HubEvent`]: teahouse_types::HubEvent
//! [`Change`]: teahouse_types::Change
//! [`LeaveReason::SendQueueExceeded`]: teahouse_types::LeaveReason::SendQueueExceeded

mod account;
mod error;
mod flood;
mod history;
mod hub;
mod limit;
mod metrics;
mod scram;
#[doc(hidden)]
pub mod fuzzing {
    //! Entry points for the fuzz targets (`fuzz/`). Not an API.

    /// A SCRAM-SHA-256 exchange against fixed keys: the client's first message, then its
    /// final one.
    pub fn scram(client_first: &str, client_final: &str) -> bool {
        crate::scram::fuzz_exchange(client_first, client_final)
    }
}
mod state;

pub use crate::metrics::HubMetrics;
pub use account::{AccountConfig, hash_new_password, is_password_hash};
pub use error::{CannotSend, Error, Refusal};
pub use flood::{FloodConfig, FloodLimiter};
pub use history::{HistoryConfig, HistoryTarget, HistoryWriter};
pub use hub::{BanTarget, OperatorConfig, ServerBan, ServerBans};
pub use hub::{
    Hub, HubConfig, Invitation, JoinOutcome, MAX_BANS, MAX_MONITOR, ModesOutcome, MonitorOutcome,
    NickOutcome, SayTarget, Sent, SessionGuard, SessionOrigin, StoreSetup,
};
pub use hub::{
    MAX_METADATA_KEYS, MAX_METADATA_SUBS, MAX_METADATA_VALUE_BYTES, MetadataName, Subscribed,
    is_metadata_key,
};
pub use limit::{ConnectionLimiter, ConnectionLimits, ConnectionPermit, LimitRefusal};
pub use scram::{ScramExchange, scram_keys};
pub use state::{Departed, RoomInfo, RoomMember, RoomSummary, Stats, UserInfo};
pub use teahouse_store::HistoryQuery;
pub use teahouse_types::{EventSink, Overflow};

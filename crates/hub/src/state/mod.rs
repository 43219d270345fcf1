//! The hub's chat state: sessions, nicks, rooms and their members, who left, which nicks
//! are registered.
//!
//! [`State`] changes only by [`State::apply`] of a [`Change`] (in `apply`): the fields are
//! private to this module, and `apply.rs` holds the only methods that take `&mut self`. A
//! command is first *decided* against the state (in `decide`: may it happen, and what
//! exactly happens) into one `Change` or a [`Refusal`]; `view` answers the read-only
//! queries. The state knows no wire syntax and no time of its own: every time it keeps came
//! with a change, so the same changes applied in the same order build the same state
//! anywhere. (A session connected to this node also has its sink here, carried by the change
//! that started it and never sent to other nodes: one table, not two, for what every idle
//! connection costs.)
//!
//! [`Refusal`]: crate::Refusal

mod apply;
mod cluster;
mod decide;
mod view;

/// The room caps a join is decided against (from the hub's settings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RoomLimits {
    /// Rooms one session may be in.
    pub(crate) per_user: usize,
    /// Rooms the server may hold.
    pub(crate) total: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        Self {
            per_user: usize::MAX,
            total: usize::MAX,
        }
    }
}

/// The index key of a name's confusable skeleton (UTS #39): a hash, so that the index
/// keeps no string (names that look alike share it; two that do not, sharing it by chance
/// of a 64-bit hash, would only refuse each other).
pub(crate) fn skeleton_hash(key: &str) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    teahouse_types::skeleton(key).hash(&mut hasher);
    hasher.finish()
}

impl State {
    /// Whether a held or registered name other than `key`, `own_nick` and `own_account`
    /// (the asking session's own) looks like `key`. The index counts holders, a connected
    /// nick and a registered account one each: those it holds for `key` itself and for the
    /// session's own names with the same skeleton are taken off, and anything left is a
    /// look-alike.
    pub(crate) fn has_look_alike(
        &self,
        key: &str,
        own_nick: Option<&str>,
        own_account: Option<&str>,
    ) -> bool {
        let hash = skeleton_hash(key);
        let Some(&count) = self.skeletons.get(&hash) else {
            return false;
        };
        let mut ours =
            u32::from(self.nicks.contains_key(key)) + u32::from(self.registered.contains(key));
        if let Some(own) = own_nick.filter(|own| *own != key && skeleton_hash(own) == hash) {
            ours += u32::from(self.nicks.contains_key(own));
        }
        if let Some(own) = own_account.filter(|own| *own != key && skeleton_hash(own) == hash) {
            ours += u32::from(self.registered.contains(own));
        }
        count > ours
    }
}

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{
    Ban, EventSink, LocalSink, MemberStatus, MessageText, Nick, Profile, RoomModes, RoomName,
    SessionId, Topic,
};

pub(crate) use apply::{Audience, Effect};
pub(crate) use decide::Redaction;
pub use view::{Departed, RoomInfo, RoomMember, RoomSummary, Stats, UserInfo};

/// How many departed users WHOWAS remembers: enough for "who was that just now", small
/// enough to be a few hundred kilobytes at most.
const WHOWAS_CAPACITY: usize = 1024;

/// The chat state. See the module documentation for who may change it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct State {
    /// Every session by id. Boxed: the table keeps spare slots (up to half of it after it
    /// grows), and an empty slot then costs a pointer rather than a whole record.
    sessions: HashMap<SessionId, Box<SessionRecord>>,
    /// Casefolded nick key to its session.
    nicks: HashMap<Arc<str>, SessionId>,
    /// Casefolded room key to the room.
    rooms: HashMap<Arc<str>, Room>,
    /// Recently departed users, newest last, at most [`WHOWAS_CAPACITY`].
    whowas: VecDeque<Departed>,
    /// Sessions that completed their registration ([`Change::Welcomed`]): the users.
    ///
    /// [`Change::Welcomed`]: teahouse_types::Change::Welcomed
    users: usize,
    /// The most users at once.
    max_users: usize,
    /// Casefolded names of registered accounts: their nicks are protected.
    registered: HashSet<Arc<str>>,
    /// Every held nick and registered name by its confusable skeleton (UTS #39), so that a
    /// look-alike of one is refused as taken without a scan. Kept by `apply` wherever
    /// `nicks` or `registered` change.
    skeletons: HashMap<u64, u32>,
    /// Server operators, by session, with their operator names: few, so a map of their
    /// own rather than a field every session pays for.
    opers: HashMap<SessionId, Arc<str>>,
    /// IRC `MONITOR`: by casefolded nick, the sessions watching it; and by session, the
    /// nicks it watches, as given. Maps of their own: most sessions watch nobody.
    watchers: HashMap<Arc<str>, Vec<SessionId>>,
    /// IRCv3 metadata of users and rooms: few have any, so a map of its own.
    metadata: HashMap<MetadataKey, BTreeMap<Arc<str>, Arc<str>>>,
    /// The metadata keys each session subscribed to (few do).
    metadata_subs: HashMap<SessionId, Vec<Arc<str>>>,
    /// The real addresses of sessions whose shown host an operator changed (`CHGHOST`).
    real_hosts: HashMap<SessionId, Arc<str>>,
    monitors: HashMap<SessionId, Vec<Nick>>,
    /// Counts membership changes: each changes its room's [`Room::epoch`] to the new count,
    /// so a cache of a room's recipients can tell that it is stale.
    epoch: u64,
}

/// One session, as the state knows it.
#[derive(Debug, PartialEq)]
struct SessionRecord {
    /// Who the session is: before its nick a boxed record, then the profile its events
    /// carry, so a named session holds its strings once.
    who: Who,
    /// Rooms this session is in (a handful at most for a person; no order needed).
    rooms: Vec<RoomName>,
    away: Option<MessageText>,
    is_invisible: bool,
    /// Registered: a user, not a connection still registering.
    is_welcomed: bool,
    /// Hears WALLOPS (user mode `+w`).
    is_wallops: bool,
    signon: SystemTime,
    last_active: SystemTime,
    /// Where a session connected to this node gets its events; `None` for a session of
    /// another node. Only delivery reads it.
    sink: Option<LocalSink>,
}

#[derive(Debug, PartialEq)]
enum Who {
    /// No nick yet.
    Unnamed(Box<Identity>),
    /// A nick: the profile is the whole record (never edited in place: a change makes a
    /// new one, as events in flight hold the old).
    Named(Arc<Profile>),
}

/// Who a session is, but for its nick: the record of one without, and what
/// [`SessionRecord::edit`] changes beside the nick.
#[derive(Debug, PartialEq)]
struct Identity {
    user: Arc<str>,
    host: Arc<str>,
    realname: Arc<str>,
    /// The account the session is logged in to.
    account: Option<Arc<str>>,
    /// A bot (user mode `+B`).
    is_bot: bool,
}

/// Whose metadata: a session, or a room by its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MetadataKey {
    User(SessionId),
    Room(Arc<str>),
}

/// A room.
#[derive(Debug, PartialEq)]
struct Room {
    name: RoomName,
    /// The session whose join created it: the holder of its claim.
    founder: SessionId,
    members: HashMap<SessionId, MemberStatus>,
    /// The state's epoch at the room's last membership change.
    epoch: u64,
    created: SystemTime,
    topic: Option<Topic>,
    modes: RoomModes,
    /// Bans, with each mask's casefolded form for matching.
    bans: Vec<(Ban, String)>,
    /// Sessions invited since the last time they joined.
    invited: HashSet<SessionId>,
}

impl SessionRecord {
    fn nick(&self) -> Option<&Nick> {
        self.named().map(|profile| &profile.nick)
    }

    fn host(&self) -> &Arc<str> {
        match &self.who {
            Who::Unnamed(identity) => &identity.host,
            Who::Named(profile) => &profile.host,
        }
    }

    fn account(&self) -> Option<&Arc<str>> {
        match &self.who {
            Who::Unnamed(identity) => identity.account.as_ref(),
            Who::Named(profile) => profile.account.as_ref(),
        }
    }

    /// A bot (user mode `+B`).
    fn is_bot(&self) -> bool {
        match &self.who {
            Who::Unnamed(identity) => identity.is_bot,
            Who::Named(profile) => profile.is_bot,
        }
    }

    /// The profile for events; `None` without a nick.
    fn named(&self) -> Option<&Arc<Profile>> {
        match &self.who {
            Who::Unnamed(_) => None,
            Who::Named(profile) => Some(profile),
        }
    }
}

impl Room {
    fn is_banned(&self, profile: &Profile) -> bool {
        if self.bans.is_empty() {
            return false;
        }
        let target = teahouse_types::casefold(&profile.mask());
        self.bans
            .iter()
            .any(|(_, folded)| teahouse_types::mask_matches(folded, &target))
    }
}

impl State {
    /// Every session, for shutdown.
    pub(crate) fn session_ids(&self) -> Vec<SessionId> {
        self.sessions.keys().copied().collect()
    }

    /// The members of the room with casefolded key `key`; `None` if there is no such room.
    pub(crate) fn room_members_by_key(
        &self,
        key: &str,
    ) -> Option<impl Iterator<Item = SessionId> + '_> {
        self.rooms.get(key).map(|room| room.members.keys().copied())
    }

    /// The room's casefolded key as the state keeps it (shared, not copied).
    pub(crate) fn room_shared_key(&self, key: &str) -> Option<Arc<str>> {
        self.rooms
            .get_key_value(key)
            .map(|(key, _)| Arc::clone(key))
    }

    /// The room's epoch, if it exists.
    pub(crate) fn room_epoch(&self, key: &str) -> Option<u64> {
        self.rooms.get(key).map(|room| room.epoch)
    }

    /// Where a session connected to this node gets its events.
    pub(crate) fn sink(&self, session: SessionId) -> Option<&Arc<dyn EventSink>> {
        self.sessions
            .get(&session)?
            .sink
            .as_ref()
            .map(|sink| &sink.0)
    }

    /// The newest profile of `session`, once it has a nick.
    pub(crate) fn registered_count(&self) -> usize {
        self.registered.len()
    }

    pub(crate) fn profile(&self, session: SessionId) -> Option<Arc<Profile>> {
        self.sessions.get(&session)?.named().cloned()
    }
}

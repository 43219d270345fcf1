//! The hub: sessions, nicks, rooms, and fan-out.
//!
//! The state lives behind one `std::sync::Mutex`, held only for short critical sections and
//! never across fan-out or an `.await`. Commands are split by family: `membership` (join,
//! part, kick, invite), `speech` (messages, topic, away, real name), `modes`, and `query`
//! (read-only views for NAMES, WHO, WHOIS, LIST and the like).

mod membership;
mod modes;
mod query;
mod speech;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use teahouse_types::{
    EventKind, HubEvent, LeaveReason, MemberStatus, MessageText, Nick, Profile, RoomModes,
    RoomName, SessionId,
};
use tracing::{debug, info};

pub use membership::{Invitation, JoinOutcome};
pub use modes::{MAX_BANS, ModesOutcome};
pub use query::{Departed, RoomInfo, RoomMember, RoomSummary, Stats, UserInfo};
pub use speech::{SayTarget, Sent};

use crate::account::{AccountConfig, Accounts};
use crate::error::{Error, Refusal};
use crate::history::{HistoryConfig, HistoryWriter, Item, Journal};
use crate::sink::EventSink;
use teahouse_store::Store;

/// How many departed users WHOWAS remembers: enough for "who was that just now", small
/// enough to be a few hundred kilobytes at most.
const WHOWAS_CAPACITY: usize = 1024;

/// Hub settings; plain values, filled by the server from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// The longest message body accepted, in bytes of UTF-8. The text protocol's line limit
    /// bounds it anyway; this keeps every face (and stored history, later) to one limit.
    pub max_message_bytes: usize,
    /// The longest topic, in bytes (IRC's `TOPICLEN`).
    pub max_topic_bytes: usize,
    /// The longest real name, in bytes.
    pub max_realname_bytes: usize,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            max_message_bytes: 4096,
            max_topic_bytes: 390,
            max_realname_bytes: 128,
        }
    }
}

/// What a hub with a store is built from.
pub struct StoreSetup {
    /// The store.
    pub store: Store,
    /// Account settings.
    pub accounts: AccountConfig,
    /// The casefolded names of every registered account (their nicks are protected).
    pub registered: Vec<String>,
    /// History settings; `None` stores no messages.
    pub history: Option<HistoryConfig>,
    /// The newest message id in the store, so ids keep increasing across restarts.
    pub last_message_id: Option<i64>,
}

/// Who a new session is before it chooses a nick: where it connects from and, for faces
/// that know it, a user name and real name. Shared strings: a face keeps the same host, and
/// shares one placeholder among all its sessions, at no cost per connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionOrigin {
    /// The host shown for the user (their address).
    pub host: Arc<str>,
    /// The user name (`*` until IRC's `USER` says otherwise).
    pub user: Arc<str>,
    /// The real name.
    pub realname: Arc<str>,
}

/// What [`Hub::set_nick`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NickOutcome {
    /// The session had no nick and now has one.
    Registered(Nick),
    /// The session's nick changed from `old`; sessions sharing a room were told.
    Changed {
        /// The nick before.
        old: Nick,
        /// The nick now.
        new: Nick,
    },
    /// The session already had exactly this nick.
    Unchanged(Nick),
}

/// A cheap-to-clone handle on the chat state.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: HubConfig,
    next_session: AtomicU64,
    /// The last message id handed out (see [`teahouse_types::MessageId`]).
    next_message: AtomicU64,
    /// Where messages go to be stored before delivery; `None` keeps no history.
    pub(crate) journal: Option<Journal>,
    /// Accounts, when the hub has a store.
    pub(crate) accounts: Option<Accounts>,
    /// Short critical sections only, never held across fan-out or an `.await`.
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Boxed: the table keeps spare slots (up to half of it after it grows), and an empty
    /// slot then costs a pointer rather than a whole entry.
    sessions: Sessions,
    /// Casefolded nick key to its session.
    nicks: HashMap<Arc<str>, SessionId>,
    /// Casefolded room key to the room.
    rooms: HashMap<Arc<str>, Room>,
    /// Recently departed users, newest last, at most [`WHOWAS_CAPACITY`].
    whowas: VecDeque<Departed>,
    /// The most sessions with a nick at once.
    max_users: usize,
    /// Casefolded names of registered accounts: their nicks are protected.
    registered: HashSet<Arc<str>>,
}

/// Every attached session by id.
type Sessions = HashMap<SessionId, Box<SessionEntry>>;

struct SessionEntry {
    /// Who the session is: before its nick a boxed record, then the profile its events
    /// carry, so a named session holds its strings once.
    who: Who,
    /// Rooms this session is in (a handful at most for a person; no order needed).
    rooms: Vec<RoomName>,
    sink: Arc<dyn EventSink>,
    away: Option<MessageText>,
    is_invisible: bool,
    signon: SystemTime,
    last_active: SystemTime,
}

enum Who {
    /// No nick yet.
    Unnamed(Box<Identity>),
    /// A nick: the profile is the whole record (never edited in place: a change makes a
    /// new one, as events in flight hold the old).
    Named(Arc<Profile>),
}

/// Who a session is, but for its nick: the record of one without, and what
/// [`SessionEntry::edit`] changes beside the nick.
struct Identity {
    user: Arc<str>,
    host: Arc<str>,
    realname: Arc<str>,
    /// The account the session is logged in to.
    account: Option<Arc<str>>,
}

impl SessionEntry {
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

    /// The profile for events; `None` without a nick.
    fn named(&self) -> Option<&Arc<Profile>> {
        match &self.who {
            Who::Unnamed(_) => None,
            Who::Named(profile) => Some(profile),
        }
    }

    fn profile(&self) -> Result<Arc<Profile>, Refusal> {
        self.named().cloned().ok_or(Refusal::NotRegistered)
    }

    /// Changes who the session is with `change`, which sees the nick and every other field.
    fn edit(&mut self, change: impl FnOnce(&mut Option<Nick>, &mut Identity)) {
        let (mut nick, mut identity) = match &self.who {
            Who::Unnamed(identity) => (
                None,
                Identity {
                    user: Arc::clone(&identity.user),
                    host: Arc::clone(&identity.host),
                    realname: Arc::clone(&identity.realname),
                    account: identity.account.clone(),
                },
            ),
            Who::Named(profile) => (
                Some(profile.nick.clone()),
                Identity {
                    user: Arc::clone(&profile.user),
                    host: Arc::clone(&profile.host),
                    realname: Arc::clone(&profile.realname),
                    account: profile.account.clone(),
                },
            ),
        };
        change(&mut nick, &mut identity);
        self.who = match nick {
            Some(nick) => Who::Named(Arc::new(Profile {
                nick,
                user: identity.user,
                host: identity.host,
                realname: identity.realname,
                account: identity.account,
            })),
            None => Who::Unnamed(Box::new(identity)),
        };
    }
}

/// One recipient of a fan-out.
pub(crate) type Recipient = (SessionId, Arc<dyn EventSink>);

/// The recipients of one fan-out, copied out so the state lock can be released.
pub(crate) type Recipients = Arc<[Recipient]>;

/// A topic with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The text.
    pub text: MessageText,
    /// Who set it (`nick!user@host`).
    pub set_by: Arc<str>,
    /// When.
    pub set_at: SystemTime,
}

/// A ban mask with who set it and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ban {
    /// The mask as given (`nick!user@host` with `*` and `?`).
    pub mask: Arc<str>,
    /// Who set it (nick).
    pub set_by: Arc<str>,
    /// When.
    pub set_at: SystemTime,
}

struct Room {
    name: RoomName,
    members: HashMap<SessionId, MemberStatus>,
    /// The members' sinks, rebuilt after a membership change by the next fan-out, so a busy
    /// room pays one copy per change rather than one per message.
    snapshot: Option<Recipients>,
    created: SystemTime,
    topic: Option<Topic>,
    modes: RoomModes,
    /// Bans, with each mask's casefolded form for matching.
    bans: Vec<(Ban, String)>,
    /// Sessions invited since the last time they joined.
    invited: HashSet<SessionId>,
}

impl Room {
    fn new(name: RoomName) -> Self {
        Self {
            name,
            members: HashMap::new(),
            snapshot: None,
            created: SystemTime::now(),
            topic: None,
            // Like most IRC networks: topic by operators, no messages from outside.
            modes: RoomModes {
                is_topic_locked: true,
                is_no_external: true,
                ..RoomModes::default()
            },
            bans: Vec::new(),
            invited: HashSet::new(),
        }
    }

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

/// One attached session; dropping it removes the session from the hub (as a lost connection)
/// if it was not removed already, so nothing is left behind whatever ends the session.
pub struct SessionGuard {
    hub: Hub,
    id: SessionId,
}

impl SessionGuard {
    /// This session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Removes the session now, telling everyone who shares a room why.
    pub fn quit(self, reason: LeaveReason) {
        self.hub.remove(self.id, reason);
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.hub.remove(self.id, LeaveReason::ConnectionLost);
    }
}

impl Hub {
    /// An empty hub that keeps no history.
    pub fn new(config: HubConfig) -> Self {
        Self::build(config, None, None, 0)
    }

    /// An empty hub with a store: accounts, and (if `setup.history` is set) every room and
    /// direct message stored before it is delivered. Run the returned writer as a task when
    /// there is one; nothing is delivered without it.
    ///
    /// # Errors
    /// [`Error::AccountConfig`] if the account settings cannot hash a password.
    pub fn with_store(
        config: HubConfig,
        setup: StoreSetup,
    ) -> Result<(Self, Option<HistoryWriter>), Error> {
        let accounts = Accounts::new(setup.store.clone(), setup.accounts)?;
        let (journal, receiver) = match &setup.history {
            Some(history) => {
                let (queue, receiver) = tokio::sync::mpsc::channel(history.queue_capacity.max(1));
                (Some(Journal { queue }), Some(receiver))
            }
            None => (None, None),
        };
        let last = setup
            .last_message_id
            .and_then(|id| u64::try_from(id).ok())
            .unwrap_or(0);
        let hub = Self::build(config, journal, Some(accounts), last);
        {
            let mut state = hub.lock();
            state.registered = setup.registered.into_iter().map(Arc::from).collect();
        }
        let writer = receiver.zip(setup.history).map(|(receiver, history)| {
            HistoryWriter::new(hub.clone(), setup.store, receiver, history)
        });
        Ok((hub, writer))
    }

    fn build(
        config: HubConfig,
        journal: Option<Journal>,
        accounts: Option<Accounts>,
        last_message: u64,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                next_session: AtomicU64::new(1),
                next_message: AtomicU64::new(last_message),
                journal,
                accounts,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Whether messages are stored (and replays can be asked for).
    pub fn has_history(&self) -> bool {
        self.inner.journal.is_some()
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Attaches a new session, without a nick and in no room; events for it go to `sink`.
    pub fn attach(&self, sink: Arc<dyn EventSink>, origin: SessionOrigin) -> SessionGuard {
        let id = SessionId::from_raw(self.inner.next_session.fetch_add(1, Ordering::Relaxed));
        let now = SystemTime::now();
        self.lock().sessions.insert(
            id,
            Box::new(SessionEntry {
                who: Who::Unnamed(Box::new(Identity {
                    user: origin.user,
                    host: origin.host,
                    realname: origin.realname,
                    account: None,
                })),
                rooms: Vec::new(),
                sink,
                away: None,
                is_invisible: false,
                signon: now,
                last_active: now,
            }),
        );
        SessionGuard {
            hub: self.clone(),
            id,
        }
    }

    /// Sets the user name and real name (IRC's `USER`); nobody is told.
    ///
    /// # Errors
    /// [`Refusal::MessageTooLong`] for an over-long real name, [`Refusal::SessionClosed`].
    pub fn set_user(
        &self,
        session: SessionId,
        user: Arc<str>,
        realname: Arc<str>,
    ) -> Result<(), Refusal> {
        let max_bytes = self.inner.config.max_realname_bytes;
        if realname.len() > max_bytes {
            return Err(Refusal::MessageTooLong { max_bytes });
        }
        let mut state = self.lock();
        let entry = state
            .sessions
            .get_mut(&session)
            .ok_or(Refusal::SessionClosed)?;
        entry.edit(|_, identity| {
            identity.user = user;
            identity.realname = realname;
        });
        Ok(())
    }

    /// Gives the session a nick (its first, or a new one).
    ///
    /// A rename is announced with [`EventKind::NickChanged`] to the session itself and to every
    /// session sharing a room with it.
    ///
    /// # Errors
    /// [`Refusal::NickInUse`] if another session has a nick with the same key;
    /// [`Refusal::SessionClosed`] if the session is gone.
    pub fn set_nick(&self, session: SessionId, nick: Nick) -> Result<NickOutcome, Refusal> {
        let (outcome, event, recipients) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
                max_users,
                registered,
                ..
            } = &mut *state;
            let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
            if let Some(&holder) = nicks.get(nick.key())
                && holder != session
            {
                return Err(Refusal::NickInUse(nick));
            }
            if registered.contains(nick.key())
                && entry
                    .account()
                    .is_none_or(|account| teahouse_types::casefold(account) != nick.key())
            {
                return Err(Refusal::NickRegistered(nick));
            }
            let old_profile = entry.named().cloned();
            let old = entry.nick().cloned();
            entry.edit(|slot, _| *slot = Some(nick.clone()));
            match (old, old_profile) {
                (Some(old), Some(_)) if old.as_str() == nick.as_str() => {
                    (NickOutcome::Unchanged(nick), None, Vec::new())
                }
                (Some(old), Some(old_profile)) => {
                    nicks.remove(old.key());
                    nicks.insert(nick.shared_key(), session);
                    let mut recipients = co_members(sessions, rooms, session);
                    recipients.push((session, Arc::clone(&sessions[&session].sink)));
                    let event = EventKind::NickChanged {
                        old: old_profile,
                        new: nick.clone(),
                    };
                    (
                        NickOutcome::Changed { old, new: nick },
                        Some(event),
                        recipients,
                    )
                }
                _ => {
                    nicks.insert(nick.shared_key(), session);
                    *max_users = (*max_users).max(nicks.len());
                    (NickOutcome::Registered(nick), None, Vec::new())
                }
            }
        };
        if let Some(event) = event {
            debug!(session_id = %session, "nick changed");
            self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        }
        Ok(outcome)
    }

    /// Sets or clears the invisible user mode (hidden from WHO by strangers).
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn set_invisible(&self, session: SessionId, is_invisible: bool) -> Result<(), Refusal> {
        let mut state = self.lock();
        let entry = state
            .sessions
            .get_mut(&session)
            .ok_or(Refusal::SessionClosed)?;
        entry.is_invisible = is_invisible;
        Ok(())
    }

    /// Removes a session: from its rooms, the nick registry and the hub. Every session that
    /// shared a room gets one [`EventKind::Quit`] with `reason` (none at server shutdown,
    /// when everyone leaves at once). Removing a session that is already gone does nothing.
    fn remove(&self, session: SessionId, reason: LeaveReason) {
        if let Some((recipients, event)) = self.detach(session, reason) {
            self.fan_out(session, &recipients, &event, None);
        }
    }

    /// Takes a session out of the state; returns who must hear of it, and the event, unless
    /// nobody must (it was gone, had no nick, or the server is shutting down).
    fn detach(
        &self,
        session: SessionId,
        reason: LeaveReason,
    ) -> Option<(Vec<Recipient>, Arc<HubEvent>)> {
        let (recipients, profile) = {
            let mut state = self.lock();
            let State {
                sessions,
                nicks,
                rooms,
                whowas,
                ..
            } = &mut *state;
            let entry = *sessions.remove(&session)?;
            let profile = entry.named().cloned()?;
            nicks.remove(profile.nick.key());
            if whowas.len() == WHOWAS_CAPACITY {
                whowas.pop_front();
            }
            whowas.push_back(Departed {
                profile: Arc::clone(&profile),
                at: SystemTime::now(),
            });
            let mut recipients = Vec::new();
            let mut seen = HashSet::new();
            for room in &entry.rooms {
                let Some(slot) = rooms.get_mut(room.key()) else {
                    continue;
                };
                slot.members.remove(&session);
                slot.snapshot = None;
                for member in slot.members.keys() {
                    if seen.insert(*member)
                        && let Some(other) = sessions.get(member)
                    {
                        recipients.push((*member, Arc::clone(&other.sink)));
                    }
                }
                if slot.members.is_empty() {
                    rooms.remove(room.key());
                }
            }
            for slot in rooms.values_mut() {
                slot.invited.remove(&session);
            }
            (recipients, profile)
        };
        info!(session_id = %session, nick = %profile.nick, reason = ?reason, "session left");
        if reason == LeaveReason::ServerShutdown {
            // Everyone is leaving at once and has been told why; nobody needs to hear of
            // each of the others.
            return None;
        }
        let event = Arc::new(HubEvent::new(EventKind::Quit {
            who: profile,
            reason,
        }));
        Some((recipients, event))
    }

    /// Hands `event` to every recipient but `skip`, with no lock held; sessions whose queue
    /// overflowed are removed afterwards.
    ///
    /// Removing a session tells its rooms, which may overflow more queues: the evictions are
    /// worked off in a loop, never by recursion, so a cascade of slow clients cannot exhaust
    /// the stack.
    pub(crate) fn nick_of(&self, session: SessionId) -> Result<Nick, Refusal> {
        let state = self.lock();
        let entry = state.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
        entry.nick().cloned().ok_or(Refusal::NotRegistered)
    }

    /// The session as a recipient, its nick, and whether it is in the target room.
    pub(crate) fn session_view(
        &self,
        session: SessionId,
        target: &crate::history::HistoryTarget,
    ) -> Result<(Recipient, Nick, bool), Refusal> {
        let state = self.lock();
        let entry = state.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
        let nick = entry.nick().cloned().ok_or(Refusal::NotRegistered)?;
        let is_member = match target {
            crate::history::HistoryTarget::Room(room) => state
                .rooms
                .get(room.key())
                .is_some_and(|slot| slot.members.contains_key(&session)),
            crate::history::HistoryTarget::Direct(_) => false,
        };
        Ok(((session, Arc::clone(&entry.sink)), nick, is_member))
    }

    pub(crate) fn nick_and_rooms(
        &self,
        session: SessionId,
    ) -> Result<(Nick, Vec<RoomName>), Refusal> {
        let state = self.lock();
        let entry = state.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
        let nick = entry.nick().cloned().ok_or(Refusal::NotRegistered)?;
        Ok((nick, entry.rooms.clone()))
    }

    pub(crate) fn host_of(&self, session: SessionId) -> Result<Arc<str>, Refusal> {
        let state = self.lock();
        let entry = state.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
        Ok(Arc::clone(entry.host()))
    }

    /// The account a session is logged in to.
    ///
    /// # Errors
    /// [`Refusal::SessionClosed`].
    pub fn account_of(&self, session: SessionId) -> Result<Option<Arc<str>>, Refusal> {
        let state = self.lock();
        let entry = state.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
        Ok(entry.account().cloned())
    }

    /// Whether `nick` is a registered account's.
    pub fn is_registered_name(&self, nick: &Nick) -> bool {
        self.lock().registered.contains(nick.key())
    }

    pub(crate) fn add_registered_name(&self, nick: &Nick) {
        self.lock().registered.insert(nick.key().into());
    }

    pub(crate) fn remove_registered_name(&self, nick: &Nick) {
        self.lock().registered.remove(nick.key());
    }

    /// Logs the session in to `account` (or out, `None`); the sessions sharing a room with
    /// it, and itself, get [`EventKind::AccountChanged`] once it has a nick.
    pub(crate) fn set_account(
        &self,
        session: SessionId,
        account: Option<Arc<str>>,
    ) -> Result<(), Refusal> {
        let (recipients, event) = {
            let mut state = self.lock();
            let State {
                sessions, rooms, ..
            } = &mut *state;
            let entry = sessions.get_mut(&session).ok_or(Refusal::SessionClosed)?;
            entry.edit(|_, identity| identity.account = account);
            let Some(profile) = entry.named().cloned() else {
                return Ok(());
            };
            let own = (session, Arc::clone(&entry.sink));
            let mut recipients = co_members(sessions, rooms, session);
            recipients.push(own);
            (recipients, EventKind::AccountChanged { who: profile })
        };
        self.fan_out(session, &recipients, &Arc::new(HubEvent::new(event)), None);
        Ok(())
    }

    /// Ends every session at server shutdown: each gets [`EventKind::ServerShutdown`] (its
    /// face says goodbye and closes the connection once that is written) and leaves the
    /// hub, with no notices to anyone, since everyone leaves. Sessions need no shutdown
    /// watch of their own, which keeps every idle connection smaller.
    pub fn shut_down(&self) {
        let sinks: Vec<Recipient> = {
            let mut state = self.lock();
            let sessions = std::mem::take(&mut state.sessions);
            state.nicks.clear();
            state.rooms.clear();
            sessions
                .into_iter()
                .map(|(id, entry)| (id, entry.sink))
                .collect()
        };
        info!(sessions = sinks.len(), "every session told to close");
        let event = Arc::new(HubEvent::new(EventKind::ServerShutdown));
        for (_, sink) in &sinks {
            // A full queue is closed already; the session ends either way.
            let _ = sink.deliver(&event);
        }
    }

    /// Disconnects the session using `nick` (IRC's NickServ `GHOST`), which must be the
    /// nick of the account `session` is logged in to; everyone sharing a room with it is
    /// told it quit, with who did it.
    ///
    /// # Errors
    /// [`Refusal::NotLoggedIn`] if `session` is not logged in to that nick's account,
    /// [`Refusal::NoSuchNick`] if nobody else uses it, [`Refusal::SessionClosed`].
    pub fn ghost(&self, session: SessionId, nick: &Nick) -> Result<(), Refusal> {
        let (ghost, sink, by) = {
            let state = self.lock();
            let entry = state.sessions.get(&session).ok_or(Refusal::SessionClosed)?;
            let is_owner = entry
                .account()
                .is_some_and(|account| teahouse_types::casefold(account) == nick.key());
            if !is_owner {
                return Err(Refusal::NotLoggedIn);
            }
            let by = entry
                .nick()
                .map_or_else(|| nick.as_str().to_owned(), |n| n.as_str().to_owned());
            let ghost = *state
                .nicks
                .get(nick.key())
                .filter(|id| **id != session)
                .ok_or_else(|| Refusal::NoSuchNick(nick.clone()))?;
            let sink = Arc::clone(
                &state
                    .sessions
                    .get(&ghost)
                    .ok_or(Refusal::SessionClosed)?
                    .sink,
            );
            (ghost, sink, by)
        };
        let reason = format!("GHOST command used by {by}");
        let event = Arc::new(HubEvent::new(EventKind::Disconnected {
            reason: reason.clone(),
        }));
        self.deliver_now(&[(ghost, sink)], &event, None);
        let text = MessageText::parse(&reason).ok();
        self.remove(ghost, LeaveReason::Requested(text));
        info!(session_id = %ghost, by = %session, "ghost disconnected");
        Ok(())
    }

    /// Delivers `event`, caused by `actor`, to every recipient but `skip`.
    ///
    /// With history on, the actor's own copy is delivered now (in order with the replies
    /// to its command, which its face queues next), and everyone else's goes through the
    /// journal, so it reaches them in order with the actor's messages around it (a last
    /// message before a quit, a message after a nick change). Only if the journal is full
    /// is everything delivered at once.
    pub(crate) fn fan_out(
        &self,
        actor: SessionId,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        event: &Arc<HubEvent>,
        skip: Option<SessionId>,
    ) {
        if let Some(journal) = &self.inner.journal {
            let item = Item::Deliver {
                event: Arc::clone(event),
                recipients: Arc::from(recipients),
                skip: Some(actor),
            };
            if journal.queue.try_send(item).is_ok() {
                if skip != Some(actor)
                    && let Some(own) = recipients.iter().find(|(id, _)| *id == actor)
                {
                    self.deliver_now(std::slice::from_ref(own), event, None);
                }
                return;
            }
            debug!("journal full or closed: delivering at once");
        }
        self.deliver_now(recipients, event, skip);
    }

    /// Delivers `event` now; sessions whose queue overflows are removed, and their rooms
    /// told, in a loop (never recursion).
    pub(crate) fn deliver_now(
        &self,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        event: &Arc<HubEvent>,
        skip: Option<SessionId>,
    ) {
        self.deliver_now_where(recipients, event, skip, |_| true);
    }

    /// [`Hub::deliver_now`] to the recipients `keep` picks (one part of a split delivery).
    pub(crate) fn deliver_now_where(
        &self,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        event: &Arc<HubEvent>,
        skip: Option<SessionId>,
        keep: impl Fn(SessionId) -> bool,
    ) {
        let mut overflowed = Vec::new();
        for (id, sink) in recipients {
            if Some(*id) != skip && keep(*id) && sink.deliver(event).is_err() {
                overflowed.push(*id);
            }
        }
        self.evict_overflowed(overflowed);
    }

    /// Delivers a run of messages, each `(event, sender)`, to the recipients `keep` picks,
    /// each of them getting the run but its own messages in one go; sessions whose queue
    /// overflows are removed as in [`Hub::deliver_now`].
    pub(crate) fn deliver_messages_where(
        &self,
        recipients: &[(SessionId, Arc<dyn EventSink>)],
        run: &[(&Arc<HubEvent>, SessionId)],
        keep: impl Fn(SessionId) -> bool,
    ) {
        let mut overflowed = Vec::new();
        let mut mine = Vec::with_capacity(run.len());
        for (id, sink) in recipients {
            if !keep(*id) {
                continue;
            }
            mine.clear();
            mine.extend(
                run.iter()
                    .filter(|(_, sender)| sender != id)
                    .map(|(event, _)| *event),
            );
            if !mine.is_empty() && sink.deliver_messages(&mine).is_err() {
                overflowed.push(*id);
            }
        }
        self.evict_overflowed(overflowed);
    }

    /// Removes the sessions whose queue overflowed in a delivery and tells their rooms,
    /// which may overflow more queues: worked off in a loop, never by recursion.
    fn evict_overflowed(&self, mut overflowed: Vec<SessionId>) {
        while let Some(id) = overflowed.pop() {
            info!(session_id = %id, "send queue exceeded");
            if let Some((recipients, event)) = self.detach(id, LeaveReason::SendQueueExceeded) {
                deliver_all(&recipients, &event, None, &mut overflowed);
            }
        }
    }

    /// The id bound of a replay asked for now: messages accepted from now on get larger
    /// ids. Call under the state lock, as message ids are handed out under it.
    pub(crate) fn replay_bound(&self) -> i64 {
        let last = self.inner.next_message.load(Ordering::Relaxed);
        i64::try_from(last.saturating_add(1)).unwrap_or(i64::MAX)
    }

    /// A new message id for a message made at `now`: the first id of its millisecond, or
    /// one more than the last id if that is larger (a burst, or a clock that went back).
    fn next_message_id(&self, now: SystemTime) -> teahouse_types::MessageId {
        let floor = teahouse_types::MessageId::first_at(crate::history::millis(now)).get();
        let previous = self
            .inner
            .next_message
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(floor.max(last + 1))
            })
            .unwrap_or_else(|last| last);
        teahouse_types::MessageId::from_raw(floor.max(previous + 1))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before anything that could
        // panic, so a poisoned lock still guards valid state.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The acting session's profile.
fn actor(sessions: &Sessions, session: SessionId) -> Result<Arc<Profile>, Refusal> {
    sessions
        .get(&session)
        .ok_or(Refusal::SessionClosed)?
        .profile()
}

/// The room, and the acting session's standing in it.
fn member_of<'a>(
    rooms: &'a mut HashMap<Arc<str>, Room>,
    room: &RoomName,
    session: SessionId,
) -> Result<(&'a mut Room, MemberStatus), Refusal> {
    let slot = rooms
        .get_mut(room.key())
        .ok_or_else(|| Refusal::NoSuchRoom(room.clone()))?;
    let status = *slot
        .members
        .get(&session)
        .ok_or_else(|| Refusal::NotInRoom(slot.name.clone()))?;
    Ok((slot, status))
}

/// The room, when the acting session is one of its operators.
fn operator_of<'a>(
    rooms: &'a mut HashMap<Arc<str>, Room>,
    room: &RoomName,
    session: SessionId,
) -> Result<&'a mut Room, Refusal> {
    let (slot, status) = member_of(rooms, room, session)?;
    if !status.is_operator {
        return Err(Refusal::NotOperator(slot.name.clone()));
    }
    Ok(slot)
}

/// Delivers `event` to every recipient but `skip`; collects those whose queue overflowed.
fn deliver_all(
    recipients: &[(SessionId, Arc<dyn EventSink>)],
    event: &Arc<HubEvent>,
    skip: Option<SessionId>,
    overflowed: &mut Vec<SessionId>,
) {
    for (id, sink) in recipients {
        if Some(*id) != skip && sink.deliver(event).is_err() {
            overflowed.push(*id);
        }
    }
}

/// The sinks of every session sharing at least one room with `session`, each once.
fn co_members(
    sessions: &Sessions,
    rooms: &HashMap<Arc<str>, Room>,
    session: SessionId,
) -> Vec<(SessionId, Arc<dyn EventSink>)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let Some(entry) = sessions.get(&session) else {
        return out;
    };
    for room in &entry.rooms {
        let Some(slot) = rooms.get(room.key()) else {
            continue;
        };
        for member in slot.members.keys() {
            if *member != session
                && seen.insert(*member)
                && let Some(other) = sessions.get(member)
            {
                out.push((*member, Arc::clone(&other.sink)));
            }
        }
    }
    out
}

/// The room's recipient list, rebuilt if membership changed since the last fan-out.
fn room_snapshot(sessions: &Sessions, room: &mut Room) -> Recipients {
    if let Some(snapshot) = &room.snapshot {
        return Arc::clone(snapshot);
    }
    let snapshot: Recipients = room
        .members
        .keys()
        .filter_map(|id| sessions.get(id).map(|s| (*id, Arc::clone(&s.sink))))
        .collect();
    room.snapshot = Some(Arc::clone(&snapshot));
    snapshot
}

/// The room's member list for NAMES and friends, sorted by nick key.
fn room_members(sessions: &Sessions, room: &Room) -> Vec<RoomMember> {
    let mut members: Vec<RoomMember> = room
        .members
        .iter()
        .filter_map(|(id, status)| {
            let entry = sessions.get(id)?;
            Some(RoomMember {
                profile: entry.named().cloned()?,
                status: *status,
                is_away: entry.away.is_some(),
            })
        })
        .collect();
    members.sort_by(|a, b| a.profile.nick.key().cmp(b.profile.nick.key()));
    members
}

#[cfg(test)]
#[path = "../hub_tests.rs"]
mod tests;

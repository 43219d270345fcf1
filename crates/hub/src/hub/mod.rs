//! The hub handle: sessions attach to it, commands go through it, events come out of it.
//!
//! Every command is decided against the state and applied as one [`Change`] under the one
//! lock (`commit`), so the state changes in one place only. What the change delivers is
//! routed in `delivery`; `local` keeps this node's sinks. Commands are split by family:
//! `membership` (join, part, kick, invite), `speech` (messages, topic, away, real name),
//! `modes`, `session` (nicks, user modes, leaving), and `query` (read-only views).

mod bans;
mod cluster;
mod delivery;
mod local;
mod membership;
mod metadata;
mod modes;
mod monitor;
mod oper;
mod query;
mod read_marker;
mod redact;
mod session;
mod speech;
mod targets;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use teahouse_cluster::{Bus, Claim, Claims, LocalClaims};
use teahouse_store::Store;
use teahouse_types::{Change, EventSink, LeaveReason, LocalSink, MessageId, NodeId, SessionId};

pub use bans::{BanTarget, ServerBan, ServerBans};
pub use membership::{Invitation, JoinOutcome};
pub use metadata::{
    MAX_METADATA_KEYS, MAX_METADATA_SUBS, MAX_METADATA_VALUE_BYTES, MetadataName, Subscribed,
    is_metadata_key,
};
pub use modes::{MAX_BANS, ModesOutcome};
pub use monitor::{MAX_MONITOR, MonitorOutcome};
pub use oper::OperatorConfig;
pub use session::NickOutcome;
pub use speech::{SayTarget, Sent};

pub(crate) use delivery::Resolved;
pub(crate) use local::{Local, Recipient, Recipients};

use crate::account::{AccountConfig, Accounts};
use crate::error::Error;
use crate::history::{HistoryConfig, HistoryWriter, Journal};
use crate::state::State;

/// Hub settings; plain values, filled by the server from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// This server among those sharing rooms and a database: part of every session and
    /// message id it makes.
    pub node: NodeId,
    /// The longest message body accepted, in bytes of UTF-8. The text protocol's line limit
    /// bounds it anyway; this keeps every face (and stored history) to one limit.
    pub max_message_bytes: usize,
    /// The longest topic, in bytes (IRC's `TOPICLEN`).
    pub max_topic_bytes: usize,
    /// The longest real name, in bytes.
    pub max_realname_bytes: usize,
    /// The most rooms one user may be in at once (IRC's `CHANLIMIT`).
    pub max_rooms_per_user: usize,
    /// The most rooms the server holds at once: a new room past it is refused.
    pub max_rooms: usize,
    /// The most different people one user may message directly within a minute (0: no
    /// cap); someone messaged within the minute does not count again.
    pub max_direct_targets_per_minute: usize,
    /// Who may become a server operator (`OPER`).
    pub operators: Vec<OperatorConfig>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            node: NodeId::default(),
            max_message_bytes: 4096,
            max_topic_bytes: 390,
            max_realname_bytes: 128,
            max_rooms_per_user: 100,
            max_rooms: 50_000,
            max_direct_targets_per_minute: 20,
            operators: Vec::new(),
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
    /// The server bans in the store.
    pub bans: Vec<teahouse_store::BanRecord>,
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

impl SessionOrigin {
    /// The origin of a client at `ip`, its host written the same way on every face
    /// ([`teahouse_types::host_of`]).
    pub fn at(ip: IpAddr, user: Arc<str>, realname: Arc<str>) -> Self {
        Self {
            host: teahouse_types::host_of(ip).into(),
            user,
            realname,
        }
    }
}

/// A cheap-to-clone handle on the chat state.
#[derive(Clone)]
pub struct Hub {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: HubConfig,
    /// The operator blocks in force: `config.operators` until a reload replaces them.
    pub(crate) operators: std::sync::RwLock<Arc<Vec<OperatorConfig>>>,
    /// Server bans in force.
    pub(crate) bans: bans::ServerBans,
    /// Each session's recent direct-message targets (a cap on how many).
    pub(crate) recent_targets: targets::RecentTargets,
    /// What the hub counts; set once by the server ([`Hub::set_metrics`]).
    metrics: std::sync::OnceLock<crate::metrics::HubMetrics>,
    /// The number of the next session on this node.
    next_session: AtomicU64,
    /// The newest message id handed out (see [`MessageId`]).
    last_message: AtomicU64,
    /// Where messages go to be stored before delivery; `None` keeps no history.
    pub(crate) journal: Option<Journal>,
    /// Accounts, when the hub has a store.
    pub(crate) accounts: Option<Accounts>,
    /// Names that must be unique across nodes.
    pub(crate) claims: Arc<dyn Claims>,
    /// Where the changes this node decides go for the other nodes; `None` alone.
    pub(crate) bus: Option<Arc<dyn Bus>>,
    /// Short critical sections only, never held across an `.await`.
    core: Mutex<Core>,
}

/// What the lock guards: the chat state, and where this node delivers.
pub(crate) struct Core {
    /// Written only by [`State::apply`].
    pub(crate) state: State,
    /// This node's sinks and the rooms' recipient lists.
    pub(crate) local: Local,
    /// The other nodes' connections, in all and by address: per-address caps count them.
    pub(crate) elsewhere: cluster::Elsewhere,
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
        Self::build(config, None, None, None, Arc::new(LocalClaims), None)
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
        Self::with_store_and_claims(config, setup, Arc::new(LocalClaims))
    }

    /// [`Hub::with_store`], with the claims of a cluster.
    ///
    /// # Errors
    /// As [`Hub::with_store`].
    pub fn with_store_and_claims(
        config: HubConfig,
        setup: StoreSetup,
        claims: Arc<dyn Claims>,
    ) -> Result<(Self, Option<HistoryWriter>), Error> {
        Self::in_cluster(config, setup, claims, None)
    }

    /// [`Hub::with_store`] as one node of a cluster: claims through `claims`, and every
    /// change it decides sent on `bus` (the other nodes' changes come in by
    /// [`Hub::apply_remote`] and its siblings).
    ///
    /// # Errors
    /// As [`Hub::with_store`].
    pub fn in_cluster(
        config: HubConfig,
        setup: StoreSetup,
        claims: Arc<dyn Claims>,
        bus: Option<Arc<dyn Bus>>,
    ) -> Result<(Self, Option<HistoryWriter>), Error> {
        let accounts = Accounts::new(setup.store.clone(), setup.accounts)?;
        let (journal, receiver) = match &setup.history {
            Some(history) => {
                let (queue, receiver) = tokio::sync::mpsc::channel(history.queue_capacity.max(1));
                (Some(Journal { queue }), Some(receiver))
            }
            None => (None, None),
        };
        let hub = Self::build(
            config,
            journal,
            Some(accounts),
            setup.last_message_id,
            claims,
            bus,
        );
        {
            let mut core = hub.lock();
            for key in setup.registered {
                core.state
                    .apply(&Change::AccountRegistered { key: key.into() });
            }
        }
        for record in &setup.bans {
            if let Some(ban) = bans::ServerBan::from_record(record) {
                hub.inner.bans.insert(ban);
            }
        }
        let writer = receiver.zip(setup.history).map(|(receiver, history)| {
            HistoryWriter::new(hub.clone(), setup.store, receiver, history)
        });
        Ok((hub, writer))
    }

    pub(crate) fn build(
        config: HubConfig,
        journal: Option<Journal>,
        accounts: Option<Accounts>,
        last_message_id: Option<i64>,
        claims: Arc<dyn Claims>,
        bus: Option<Arc<dyn Bus>>,
    ) -> Self {
        // The next id must be above the newest stored one, whichever node made it: start
        // from the end of that id's millisecond.
        let last = last_message_id
            .and_then(|id| u64::try_from(id).ok())
            .map_or(0, |id| {
                MessageId::new(
                    MessageId::from_raw(id).millis(),
                    config.node,
                    (1 << MessageId::COUNTER_BITS) - 1,
                )
                .get()
            });
        Self {
            inner: Arc::new(Inner {
                operators: std::sync::RwLock::new(Arc::new(config.operators.clone())),
                bans: bans::ServerBans::default(),
                metrics: std::sync::OnceLock::new(),
                recent_targets: targets::RecentTargets::default(),
                config,
                next_session: AtomicU64::new(1),
                last_message: AtomicU64::new(last),
                journal,
                accounts,
                claims,
                bus,
                core: Mutex::new(Core {
                    state: State::default(),
                    local: Local::default(),
                    elsewhere: cluster::Elsewhere::default(),
                }),
            }),
        }
    }

    /// Whether messages are stored (and replays can be asked for).
    pub fn has_history(&self) -> bool {
        self.inner.journal.is_some()
    }

    /// Counts on `metrics` from now on (once; later calls change nothing).
    pub fn set_metrics(&self, metrics: crate::metrics::HubMetrics) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// What the hub (and the faces) count on.
    pub fn metrics(&self) -> &crate::metrics::HubMetrics {
        self.inner
            .metrics
            .get()
            .unwrap_or_else(|| &crate::metrics::NOOP)
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// Attaches a new session, without a nick and in no room; events for it go to `sink`.
    pub fn attach(&self, sink: Arc<dyn EventSink>, origin: SessionOrigin) -> SessionGuard {
        let seq = self.inner.next_session.fetch_add(1, Ordering::Relaxed);
        let id = SessionId::new(self.inner.config.node, seq);
        let change = Change::SessionStarted {
            session: id,
            host: origin.host,
            user: origin.user,
            realname: origin.realname,
            at: SystemTime::now(),
            sink: Some(LocalSink(sink)),
        };
        {
            let mut core = self.lock();
            // A new session is heard of by nobody: nothing to deliver.
            let _ = self.commit(&mut core, &change);
        }
        SessionGuard {
            hub: self.clone(),
            id,
        }
    }

    /// Ends every session at server shutdown: each gets [`teahouse_types::EventKind::ServerShutdown`]
    /// (its face says goodbye and closes the connection once that is written) and leaves
    /// the hub, with no notices to anyone, since everyone leaves. Sessions need no shutdown
    /// watch of their own, which keeps every idle connection smaller.
    pub fn shut_down(&self) {
        let sinks: Vec<Arc<dyn EventSink>> = {
            let mut core = self.lock();
            let now = SystemTime::now();
            let mut sinks = Vec::new();
            // This node's sessions only: the other nodes hear of its end from its goodbye
            // on the bus, and tell their users themselves.
            for session in core.state.session_ids() {
                let Some(sink) = core.state.sink(session) else {
                    continue;
                };
                sinks.push(Arc::clone(sink));
                let change = Change::SessionEnded {
                    session,
                    reason: LeaveReason::ServerShutdown,
                    disconnect: None,
                    at: now,
                };
                let _ = self.commit_from(&mut core, &change, false);
            }
            sinks
        };
        tracing::info!(sessions = sinks.len(), "every session told to close");
        let event = Arc::new(teahouse_types::HubEvent::new(
            teahouse_types::EventKind::ServerShutdown,
        ));
        for sink in &sinks {
            // A full queue is closed already; the session ends either way.
            let _ = sink.deliver(&event);
        }
    }

    /// Applies `change` to the state under the lock and resolves what it delivers to this
    /// node's sinks; gives back the claims it ended (a nick dropped, a room emptied).
    ///
    /// The one path by which the state changes: every command decides a [`Change`] and
    /// comes here with it.
    pub(crate) fn commit(&self, core: &mut Core, change: &Change) -> Vec<Resolved> {
        self.commit_from(core, change, true)
    }

    /// [`Hub::commit`]; `publish` sends the change to the other nodes (a change this node
    /// decided), which one that came from another node, or that each node makes for
    /// itself, must not.
    pub(crate) fn commit_from(
        &self,
        core: &mut Core,
        change: &Change,
        publish: bool,
    ) -> Vec<Resolved> {
        let dropped_nick = match change {
            Change::SessionEnded { session, .. } => core
                .state
                .profile(*session)
                .map(|p| (p.nick.shared_key(), *session)),
            Change::NickSet { session, nick, .. } => core
                .state
                .profile(*session)
                .filter(|p| p.nick.key() != nick.key())
                .map(|p| (p.nick.shared_key(), *session)),
            _ => None,
        };
        let me = self.inner.config.node;
        let ended_elsewhere = match change {
            Change::SessionEnded { session, .. } if session.node() != me => {
                core.state.real_host(*session).cloned()
            }
            _ => None,
        };
        let started_elsewhere = match change {
            Change::SessionStarted { session, host, .. }
                if session.node() != me && core.state.real_host(*session).is_none() =>
            {
                Some(host)
            }
            _ => None,
        };
        let applied = core.state.apply(change);
        if let Some(host) = started_elsewhere {
            core.elsewhere.add(host);
        }
        if let Some(host) = ended_elsewhere {
            core.elsewhere.remove(&host);
        }
        if publish && let Some(bus) = &self.inner.bus {
            self.publish(bus.as_ref(), core, change);
        }
        let Core { state, local, .. } = core;
        let resolved = applied
            .effects
            .iter()
            .map(|effect| local.resolve(state, effect, applied.ended.as_ref()))
            .collect();
        for (key, founder) in &applied.deleted_rooms {
            local.forget_room(key);
            self.inner
                .claims
                .release(&Claim::Room(Arc::clone(key)), *founder);
        }
        if let Some((key, owner)) = dropped_nick {
            self.inner.claims.release(&Claim::Nick(key), owner);
        }
        resolved
    }

    /// A new message id for a message made at `now`: the first id of this node in its
    /// millisecond, or the next after the last id if that is larger (a burst, or a clock
    /// that went back).
    pub(crate) fn next_message_id(&self, now: SystemTime) -> MessageId {
        let node = self.inner.config.node;
        let floor = MessageId::new(crate::history::millis(now), node, 0).get();
        let next = |last: u64| {
            let last = MessageId::from_raw(last);
            let after = if last.counter() + 1 < 1 << MessageId::COUNTER_BITS {
                MessageId::new(last.millis(), node, last.counter() + 1)
            } else {
                MessageId::new(last.millis() + 1, node, 0)
            };
            floor.max(after.get())
        };
        let previous = self
            .inner
            .last_message
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(next(last))
            })
            .unwrap_or_else(|last| last);
        MessageId::from_raw(next(previous))
    }

    /// The id bound of a replay asked for now: messages accepted from now on get larger
    /// ids. Call under the state lock, as message ids are handed out under it.
    pub(crate) fn replay_bound(&self) -> i64 {
        let last = self.inner.last_message.load(Ordering::Relaxed);
        i64::try_from(last.saturating_add(1)).unwrap_or(i64::MAX)
    }

    /// The longest message text the hub takes, in bytes.
    pub fn max_message_bytes(&self) -> usize {
        self.inner.config.max_message_bytes
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        // Every critical section leaves the state consistent before anything that could
        // panic, so a poisoned lock still guards valid state.
        self.inner
            .core
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

#[cfg(test)]
#[path = "../hub_tests.rs"]
mod tests;

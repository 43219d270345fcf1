//! One node among several: what this node sends the others, and what it does with what
//! they send (their changes, their snapshots, their coming and going).
//!
//! Every node keeps the whole state (every node's sessions, every room) and applies the
//! same changes through the same [`Hub::commit_from`]: its own as it decides them, which it
//! then sends on the [`Bus`]; the others' as they arrive, delivered here to this node's
//! sessions only. A room's message goes only to the nodes with members in the room; every
//! other change goes to every peer. What each node does with the others' is local: their
//! sessions have no sink here, the claims they hold are theirs to give back.

use std::sync::Arc;
use std::time::SystemTime;

use teahouse_cluster::{Bus, NodeSet};
use teahouse_types::{Change, EventKind, HubEvent, LeaveReason, MessageTo, NodeId, SessionId};
use tracing::{info, warn};

use super::{Core, Hub, Resolved};
use crate::state::State;

/// The other nodes' connections, as this node's state has them: in all, and by address.
#[derive(Debug, Default)]
pub(crate) struct Elsewhere {
    total: usize,
    by_host: std::collections::HashMap<Arc<str>, u32>,
}

impl Elsewhere {
    pub(crate) fn add(&mut self, host: &Arc<str>) {
        self.total += 1;
        *self.by_host.entry(Arc::clone(host)).or_insert(0) += 1;
    }

    pub(crate) fn remove(&mut self, host: &str) {
        self.total = self.total.saturating_sub(1);
        if let Some(count) = self.by_host.get_mut(host) {
            *count -= 1;
            if *count == 0 {
                self.by_host.remove(host);
            }
        }
    }
}

impl Hub {
    /// Connections open on the other nodes: in all, and from `ip`; per-address caps count
    /// them with this node's own, so a client cannot get round them by spreading its
    /// connections over the nodes behind a balancer.
    pub fn connections_elsewhere(&self, ip: std::net::IpAddr) -> (usize, usize) {
        if self.inner.bus.is_none() {
            return (0, 0);
        }
        let host = teahouse_types::host_of(ip.to_canonical());
        let core = self.lock();
        let from = core
            .elsewhere
            .by_host
            .get(host.as_str())
            .copied()
            .unwrap_or(0);
        (core.elsewhere.total, from as usize)
    }

    /// Changes not sent to the other nodes so far (0 alone).
    pub fn bus_dropped(&self) -> u64 {
        self.inner.bus.as_ref().map_or(0, |bus| bus.dropped())
    }

    /// Sends `change`, just applied to `state`, to the nodes that must hear of it: with
    /// history, through the journal, so that it goes once everything this node accepted
    /// before it is stored (a message's own sending is queued by [`Hub::say`] behind the
    /// message, see [`Hub::publish_message`]); without, at once.
    pub(crate) fn publish(&self, bus: &dyn Bus, core: &mut Core, change: &Change) {
        let is_message = matches!(change, Change::Message { .. } | Change::Tags { .. });
        if is_message && self.inner.journal.is_some() {
            return;
        }
        self.publish_now_or_queued(bus, core, change);
    }

    /// Queues the sending of the message `change` behind its own journal item (call right
    /// after putting it there, under the same lock); without history it went at once.
    pub(crate) fn publish_message(&self, core: &mut Core, change: &Change) {
        if self.inner.journal.is_none() {
            return;
        }
        if let Some(bus) = &self.inner.bus {
            self.publish_now_or_queued(bus.as_ref(), core, change);
        }
    }

    fn publish_now_or_queued(&self, bus: &dyn Bus, core: &mut Core, change: &Change) {
        let me = self.inner.config.node;
        let mut to = match change {
            Change::Message { to, .. } | Change::Tags { to, .. } => match to {
                // From the room's recipient cache: no walk over its members per message.
                MessageTo::Room(room) => core.local.room_nodes(&core.state, room.key()),
                MessageTo::Session { session, .. } => NodeSet::of(session.node()),
            },
            _ => bus.peers(),
        }
        .and(bus.peers());
        to.remove(me);
        if to.is_empty() {
            return;
        }
        let item = crate::history::Item::Publish {
            to,
            change: Box::new(change.clone()),
        };
        match &self.inner.journal {
            Some(journal) => {
                if !journal.push(item, None) {
                    // Full: at once rather than never (ahead of what waits to be stored).
                    bus.send(to, change.clone());
                }
            }
            None => bus.send(to, change.clone()),
        }
    }

    /// Applies a change `origin` decided, and delivers what it makes to this node's
    /// sessions. A change that does not fit the state (of a session this node does not know
    /// yet, say) changes nothing.
    pub fn apply_remote(&self, origin: NodeId, change: &Change) {
        self.apply_remote_batch(origin, std::slice::from_ref(change));
    }

    /// Applies changes `origin` decided, in order, under one lock, and delivers what they
    /// make as [`Hub::apply_remote`] would; consecutive messages to the same recipients go
    /// as one run (each recipient gets them in one go, as from this node's own journal).
    pub fn apply_remote_batch(&self, origin: NodeId, changes: &[Change]) {
        let effects: Vec<Resolved> = {
            let mut core = self.lock();
            let mut effects = Vec::new();
            for change in changes {
                if let Change::SessionStarted { session, .. } = change
                    && session.node() != origin
                {
                    warn!(node = %origin, session_id = %session, "a node started another node's session: dropped");
                    continue;
                }
                if let Some(local) = self.collides(&core.state, change) {
                    self.resolve_collision(local, change.clone());
                    continue;
                }
                effects.extend(self.commit_from(&mut core, change, false));
            }
            effects
        };
        self.deliver_in_runs(&effects);
    }

    /// The session of this node holding the nick another node's `change` gives one of its
    /// sessions: two nodes each granted it while they could not reach each other.
    fn collides(&self, state: &State, change: &Change) -> Option<SessionId> {
        let Change::NickSet { session, nick, .. } = change else {
            return None;
        };
        let holder = state.nick_holder(nick.key())?;
        (holder != *session && holder.node() == self.inner.config.node).then_some(holder)
    }

    /// Settles a nick two nodes granted apart (a partition outlasted `dead_after`, and one
    /// took over the claim of a user of the other): the holder of the cluster's claim keeps
    /// it. If that is not `local`, `local` is renamed to a guest nick (as IRC servers do
    /// on a collision) and the other node's `change` applied; if it is, `change` is left
    /// out, and the other node renames its user the same way.
    fn resolve_collision(&self, local: SessionId, change: Change) {
        let Change::NickSet { nick, .. } = &change else {
            return;
        };
        let claim = teahouse_cluster::Claim::Nick(nick.shared_key());
        let hub = self.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            match hub.inner.claims.claim(&claim, local).await {
                Ok(()) => info!(session_id = %local, "nick collision: this node's user keeps it"),
                Err(teahouse_cluster::Refused::Unreachable) => {
                    warn!(session_id = %local, "nick collision left for the next resynchronisation");
                }
                Err(teahouse_cluster::Refused::Taken) => {
                    let guest = (0..8u64).find_map(|attempt| {
                        teahouse_types::Nick::parse(&format!(
                            "Guest{}",
                            (local.seq() + attempt * 7919) % 100_000
                        ))
                        .ok()
                    });
                    if let Some(guest) = guest {
                        info!(session_id = %local, %guest, "nick collision: renamed");
                        if hub.set_nick(local, guest).await.is_err() {
                            // Nothing free: the session goes rather than share a nick.
                            hub.remove(local, LeaveReason::NetSplit);
                        }
                    } else {
                        hub.remove(local, LeaveReason::NetSplit);
                    }
                    hub.apply_remote(change_origin(&change), &change);
                }
            }
        });
    }

    /// Delivers `effects` in order, consecutive messages to one recipient list as a run.
    fn deliver_in_runs(&self, effects: &[Resolved]) {
        let is_message = |e: &Resolved| matches!(e.event.kind, EventKind::Message { .. });
        let mut i = 0;
        while i < effects.len() {
            let first = &effects[i];
            let mut end = i + 1;
            if is_message(first) {
                while end < effects.len()
                    && is_message(&effects[end])
                    && Arc::ptr_eq(&effects[end].recipients, &first.recipients)
                {
                    end += 1;
                }
            }
            if end - i > 1 {
                // The sender is on another node, so no recipient here is left out.
                let nobody = SessionId::new(self.inner.config.node, u64::MAX);
                let run: Vec<(&Arc<HubEvent>, SessionId)> = effects[i..end]
                    .iter()
                    .map(|e| (&e.event, e.skip.unwrap_or(nobody)))
                    .collect();
                self.deliver_messages_where(&first.recipients, &run, |_| true);
            } else {
                self.deliver_now(&first.recipients, &first.event, first.skip);
            }
            i = end;
        }
    }

    /// `node` is gone (it stopped, died, or cannot be reached): its sessions end here, and
    /// this node's users who shared a room with them see them quit (a net split).
    pub fn end_node(&self, node: NodeId) {
        let effects = {
            let mut core = self.lock();
            let sessions = core.state.sessions_of(node);
            self.split_off(&mut core, sessions)
        };
        if !effects.is_empty() {
            info!(node = %node, "node's sessions ended");
        }
        self.deliver(&effects);
    }

    /// Ends `sessions` of another node here, as a net split (each node does it for
    /// itself, so nothing is sent).
    fn split_off(&self, core: &mut Core, sessions: Vec<SessionId>) -> Vec<Resolved> {
        let now = SystemTime::now();
        let mut effects = Vec::new();
        for session in sessions {
            if let Some(change) = core.state.decide_end(session, LeaveReason::NetSplit, now) {
                effects.extend(self.commit_from(core, &change, false));
            }
        }
        effects
    }

    /// Sends this node's snapshot to `to` (a node that has just heard of it, or that asks
    /// after a reconnection), in order with the changes sent before and after it.
    pub fn send_snapshot(&self, to: NodeSet) {
        let Some(bus) = &self.inner.bus else {
            return;
        };
        let mut to = to;
        to.remove(self.inner.config.node);
        if to.is_empty() {
            return;
        }
        let core = self.lock();
        bus.send_snapshot(to, core.state.snapshot_of(self.inner.config.node));
    }

    /// Sends this node's snapshot to every peer (changes of it may have been lost).
    pub fn resync(&self) {
        if let Some(bus) = &self.inner.bus {
            self.send_snapshot(bus.peers());
        }
    }

    /// Makes what this node knows of `origin`'s sessions what `snapshot` says: sessions it
    /// no longer has quit, new ones arrive, the others' nicks and rooms are brought up to
    /// date. Room topics and modes are taken for rooms new here, and a topic where it
    /// differs.
    pub fn apply_snapshot(&self, origin: NodeId, snapshot: &[Change]) {
        let effects = {
            let mut core = self.lock();
            let now = SystemTime::now();
            let known_in_order = core.state.sessions_of(origin);
            let known: std::collections::HashSet<SessionId> =
                known_in_order.iter().copied().collect();
            let listed: std::collections::HashSet<SessionId> = snapshot
                .iter()
                .filter_map(|change| match change {
                    Change::SessionStarted { session, .. } if session.node() == origin => {
                        Some(*session)
                    }
                    _ => None,
                })
                .collect();
            let gone = known_in_order
                .iter()
                .copied()
                .filter(|s| !listed.contains(s));
            let mut effects = self.split_off(&mut core, gone.collect());
            // The rooms each known session is in by the snapshot, to part the others.
            let mut rooms_now: std::collections::HashMap<SessionId, Vec<Arc<str>>> =
                std::collections::HashMap::new();
            let rooms_before: Vec<Arc<str>> = snapshot
                .iter()
                .filter_map(|change| match change {
                    Change::TopicSet { room, .. } | Change::ModesChanged { room, .. }
                        if core.state.has_room(room.key()) =>
                    {
                        Some(room.shared_key())
                    }
                    _ => None,
                })
                .collect();
            for change in snapshot {
                let fits = match change {
                    Change::SessionStarted { session, .. } => {
                        session.node() == origin && !known.contains(session)
                    }
                    Change::Joined { session, room, .. } => {
                        rooms_now
                            .entry(*session)
                            .or_default()
                            .push(room.shared_key());
                        true
                    }
                    Change::NickSet { session, nick, .. } if known.contains(session) => core
                        .state
                        .profile(*session)
                        .is_none_or(|p| p.nick.as_str() != nick.as_str()),
                    // A topic where it differs, if newer than the one here.
                    Change::TopicSet { room, topic, .. } => {
                        let here = core.state.room_topic(room.key());
                        !rooms_before.contains(&room.shared_key())
                            || (here != topic.as_ref()
                                && here
                                    .zip(topic.as_ref())
                                    .is_none_or(|(here, there)| there.set_at > here.set_at))
                    }
                    Change::ModesChanged { room, .. } => !rooms_before.contains(&room.shared_key()),
                    // What a session already known is, but its nick and rooms, stays.
                    other => subject(other).is_none_or(|s| !known.contains(&s)),
                };
                // A member known here whose standing there changed meanwhile (+o, +v).
                if let Change::Joined {
                    session,
                    room,
                    status,
                    at,
                    ..
                } = change
                    && known.contains(session)
                    && let Some(here) = core.state.member_status(room.key(), *session)
                    && here != *status
                    && let Some(profile) = core.state.profile(*session)
                {
                    let mut edits = Vec::new();
                    for (is_set, was, mode) in [
                        (
                            status.is_operator,
                            here.is_operator,
                            teahouse_types::RoomMode::Operator(profile.nick.clone()),
                        ),
                        (
                            status.is_voiced,
                            here.is_voiced,
                            teahouse_types::RoomMode::Voice(profile.nick.clone()),
                        ),
                    ] {
                        if is_set != was {
                            edits.push(teahouse_types::ModeEdit {
                                change: teahouse_types::ModeChange { is_set, mode },
                                member: Some(*session),
                            });
                        }
                    }
                    let modes = Change::ModesChanged {
                        by: *session,
                        room: room.clone(),
                        edits,
                        at: *at,
                    };
                    effects.extend(self.commit_from(&mut core, &modes, false));
                }
                if fits && let Some(local) = self.collides(&core.state, change) {
                    self.resolve_collision(local, change.clone());
                } else if fits {
                    effects.extend(self.commit_from(&mut core, change, false));
                }
            }
            for session in known_in_order.iter().filter(|s| listed.contains(s)) {
                let now_in = rooms_now.get(session);
                for room in core.state.rooms_of(*session) {
                    if now_in.is_none_or(|rooms| !rooms.contains(&room.shared_key())) {
                        let part = Change::Parted {
                            session: *session,
                            room,
                            message: None,
                            at: now,
                        };
                        effects.extend(self.commit_from(&mut core, &part, false));
                    }
                }
            }
            effects
        };
        self.deliver(&effects);
    }

    /// Tells every session on this node that the other nodes are out of reach (`false`)
    /// or back (`true`); back, this node sends them its snapshot, as they may have missed
    /// its changes meanwhile.
    pub fn peers_reachable(&self, reachable: bool) {
        let event = Arc::new(HubEvent::new(EventKind::PeersReachable { reachable }));
        let recipients: Vec<_> = {
            let core = self.lock();
            core.state
                .session_ids()
                .into_iter()
                .filter_map(|id| core.state.sink(id).map(|sink| (id, Arc::clone(sink))))
                .collect()
        };
        self.deliver_now(&recipients, &event, None);
        if reachable && let Some(bus) = &self.inner.bus {
            self.send_snapshot(bus.peers());
        }
    }
}

/// The session a snapshot's change of who a session is (but its nick) is about.
fn subject(change: &Change) -> Option<SessionId> {
    match change {
        Change::NickSet { session, .. }
        | Change::AccountSet { session, .. }
        | Change::UserModeSet { session, .. }
        | Change::InvisibleSet { session, .. }
        | Change::AwaySet { session, .. }
        | Change::OperatorSet { session, .. }
        | Change::HostSet { session, .. }
        | Change::Welcomed { session, .. } => Some(*session),
        _ => None,
    }
}

/// The node of the session a change is about (for a `NickSet`, its session's).
fn change_origin(change: &Change) -> NodeId {
    match change {
        Change::NickSet { session, .. } => session.node(),
        _ => NodeId::default(),
    }
}

//! [`State::apply`]: the one place the chat state is written.
//!
//! Every method here that takes `&mut self` is part of applying one [`Change`]; nothing
//! else in the crate can write the state (its fields are private to the `state` module).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use teahouse_types::{
    Ban, Change, EventKind, HubEvent, LeaveReason, LocalSink, MemberStatus, MessageTarget,
    MessageText, MessageTo, MetadataTarget, ModeChange, ModeEdit, Nick, Profile, RoomMode,
    RoomModes, RoomName, SessionId, Topic, UserMode,
};

use super::skeleton_hash;
use super::{Departed, Identity, MetadataKey, Room, SessionRecord, State, WHOWAS_CAPACITY, Who};

/// What applying a change asks the hub to do: deliver its events (at most two, in order),
/// and forget what the change ended.
#[derive(Debug, Default)]
pub(crate) struct Applied {
    /// The events to deliver, in order.
    pub(crate) effects: Vec<Effect>,
    /// A session that left, and its sink if it was connected here (for the effects that
    /// still reach it: a disconnect notice).
    pub(crate) ended: Option<(SessionId, Option<LocalSink>)>,
    /// Rooms the change emptied and deleted: casefolded key and founder (whose claim on
    /// the room ends with it).
    pub(crate) deleted_rooms: Vec<(Arc<str>, SessionId)>,
    /// A room the change created (casefolded key).
    pub(crate) created_room: Option<Arc<str>>,
}

/// One event and who gets it.
#[derive(Debug)]
pub(crate) struct Effect {
    /// The event.
    pub(crate) event: Arc<HubEvent>,
    /// Its recipients.
    pub(crate) audience: Audience,
}

/// Who gets an event, as session ids; the hub turns them into this node's sinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Audience {
    /// The room's members as they are after the change, but `except`, and `also` (who has
    /// just left it).
    Room {
        /// The room.
        room: RoomName,
        /// A member left out (a message's sender).
        except: Option<SessionId>,
        /// A session that is no longer a member but hears of it (the leaver, the kicked).
        also: Option<SessionId>,
    },
    /// These sessions.
    Sessions(Vec<SessionId>),
}

impl Applied {
    fn one(event: EventKind, at: SystemTime, audience: Audience) -> Self {
        Self {
            effects: vec![Effect {
                event: Arc::new(HubEvent::at(event, at)),
                audience,
            }],
            ..Self::default()
        }
    }
}

impl State {
    /// Applies `change`: the only code that writes the state. A change that does not fit
    /// the state (a session or room that is gone, a nick someone else holds) changes nothing
    /// and delivers nothing, so that a late change from elsewhere can never corrupt it. The
    /// events it makes carry the change's own time.
    ///
    /// One arm per kind of change, each handing over to its own method: long, but flat.
    pub(crate) fn apply(&mut self, change: &Change) -> Applied {
        match change {
            Change::SessionStarted {
                session,
                host,
                user,
                realname,
                at,
                sink,
            } => {
                let identity = Identity {
                    user: Arc::clone(user),
                    host: Arc::clone(host),
                    realname: Arc::clone(realname),
                    account: None,
                    is_bot: false,
                };
                self.apply_start(*session, identity, *at, sink.clone())
            }
            Change::UserSet {
                session,
                user,
                realname,
            } => {
                self.edit(*session, |_, identity| {
                    identity.user = Arc::clone(user);
                    identity.realname = Arc::clone(realname);
                });
                Applied::default()
            }
            Change::NickSet { session, nick, at } => self.apply_nick(*session, nick, *at),
            Change::OperatorSet { session, oper } => {
                match oper {
                    Some(oper) if self.sessions.contains_key(session) => {
                        self.opers.insert(*session, Arc::clone(oper));
                    }
                    _ => {
                        self.opers.remove(session);
                    }
                }
                Applied::default()
            }
            Change::UserModeSet {
                session,
                mode,
                is_set,
            } => {
                match mode {
                    UserMode::Wallops => {
                        if let Some(record) = self.sessions.get_mut(session) {
                            record.is_wallops = *is_set;
                        }
                    }
                    UserMode::Bot => self.edit(*session, |_, identity| identity.is_bot = *is_set),
                }
                Applied::default()
            }
            Change::HostSet {
                session,
                user,
                host,
                at,
            } => {
                let Some(old) = self.profile(*session) else {
                    return Applied::default();
                };
                self.real_hosts
                    .entry(*session)
                    .or_insert_with(|| Arc::clone(&old.host));
                self.edit(*session, |_, identity| {
                    identity.user = Arc::clone(user);
                    identity.host = Arc::clone(host);
                });
                let mut applied = self.to_self_and_co_members(*session, *at, |who| {
                    EventKind::HostChanged { old, who }
                });
                self.copy_to_watchers(&mut applied, *session, *at);
                applied
            }
            Change::Redacted {
                by,
                target,
                author,
                id,
                reason,
                at,
            } => {
                let Some(who) = self.profile(*by) else {
                    return Applied::default();
                };
                let audience = match target {
                    MessageTarget::Room(room) => Audience::Room {
                        room: room.clone(),
                        except: None,
                        also: None,
                    },
                    MessageTarget::Direct(recipient) => {
                        let mut sessions = vec![*by];
                        for nick in [recipient, author] {
                            if let Some(holder) = self.nicks.get(nick.key())
                                && !sessions.contains(holder)
                            {
                                sessions.push(*holder);
                            }
                        }
                        Audience::Sessions(sessions)
                    }
                };
                Applied::one(
                    EventKind::Redacted {
                        by: who,
                        target: target.clone(),
                        id: *id,
                        reason: reason.clone(),
                    },
                    *at,
                    audience,
                )
            }
            Change::MetadataSet {
                by,
                target,
                key,
                value,
                at,
            } => self.apply_metadata(*by, target, key, value.as_ref(), *at),
            Change::MetadataSubscribed {
                session,
                keys,
                is_subscribed,
            } => {
                if self.sessions.contains_key(session) {
                    let subs = self.metadata_subs.entry(*session).or_default();
                    if *is_subscribed {
                        for key in keys {
                            if !subs.contains(key) {
                                subs.push(Arc::clone(key));
                            }
                        }
                    } else {
                        subs.retain(|k| !keys.contains(k));
                    }
                    if subs.is_empty() {
                        self.metadata_subs.remove(session);
                    }
                }
                Applied::default()
            }
            Change::ReadMarked {
                account,
                target,
                at,
            } => {
                let sessions: Vec<SessionId> = self
                    .sessions
                    .iter()
                    .filter(|(_, r)| r.account().is_some_and(|a| a == account))
                    .map(|(id, _)| *id)
                    .collect();
                if sessions.is_empty() {
                    return Applied::default();
                }
                Applied::one(
                    EventKind::ReadMarked {
                        target: target.clone(),
                        at: *at,
                    },
                    *at,
                    Audience::Sessions(sessions),
                )
            }
            Change::MonitorAdded { session, nicks } => {
                if self.sessions.contains_key(session) {
                    let list = self.monitors.entry(*session).or_default();
                    for nick in nicks {
                        if list.iter().any(|n| n == nick) {
                            continue;
                        }
                        list.push(nick.clone());
                        self.watchers
                            .entry(nick.shared_key())
                            .or_default()
                            .push(*session);
                    }
                }
                Applied::default()
            }
            Change::MonitorRemoved { session, nicks } => {
                self.unmonitor(*session, nicks.as_deref());
                Applied::default()
            }
            Change::Wallops { from, text, at } => {
                let Some(who) = self.profile(*from) else {
                    return Applied::default();
                };
                let mut hearers: Vec<SessionId> = self
                    .sessions
                    .iter()
                    .filter(|(_, record)| record.is_wallops)
                    .map(|(id, _)| *id)
                    .collect();
                hearers.sort_unstable();
                Applied::one(
                    EventKind::Wallops {
                        from: who,
                        text: text.clone(),
                    },
                    *at,
                    Audience::Sessions(hearers),
                )
            }
            Change::Welcomed { session, at } => {
                if let Some(record) = self.sessions.get_mut(session)
                    && !record.is_welcomed
                {
                    record.is_welcomed = true;
                    self.users += 1;
                    self.max_users = self.max_users.max(self.users);
                    // A user now: those who monitor the nick hear it is online.
                    if let Some(who) = self.profile(*session) {
                        let mut applied = Applied::default();
                        self.tell_watchers(&mut applied, Some(&who), None, *at);
                        return applied;
                    }
                }
                Applied::default()
            }
            Change::RealnameSet {
                session,
                realname,
                at,
            } => {
                self.edit(*session, |_, identity| {
                    identity.realname = Arc::clone(realname)
                });
                let mut applied = self.to_self_and_co_members(*session, *at, |who| {
                    EventKind::RealnameChanged { who }
                });
                self.copy_to_watchers(&mut applied, *session, *at);
                applied
            }
            Change::InvisibleSet {
                session,
                is_invisible,
            } => {
                if let Some(record) = self.sessions.get_mut(session) {
                    record.is_invisible = *is_invisible;
                }
                Applied::default()
            }
            Change::AwaySet { session, away, at } => {
                let mut applied = self.apply_away(*session, away.as_ref(), *at);
                self.copy_to_watchers(&mut applied, *session, *at);
                applied
            }
            Change::AccountSet {
                session,
                account,
                at,
            } => {
                self.edit(*session, |_, identity| identity.account.clone_from(account));
                let mut applied = self
                    .to_self_and_co_members(*session, *at, |who| EventKind::AccountChanged { who });
                self.copy_to_watchers(&mut applied, *session, *at);
                applied
            }
            Change::AccountRegistered { key } => {
                if self.registered.insert(Arc::clone(key)) {
                    self.hold_skeleton(key);
                }
                Applied::default()
            }
            Change::AccountDropped { key } => {
                if self.registered.remove(key) {
                    self.release_skeleton(key);
                }
                Applied::default()
            }
            Change::Joined {
                session,
                room,
                status,
                creates,
                at,
            } => self.apply_join(*session, room, *status, *creates, *at),
            Change::Parted {
                session,
                room,
                message,
                at,
            } => self.apply_part(*session, room, message.as_ref(), *at),
            Change::Kicked {
                by,
                room,
                target,
                reason,
                at,
            } => self.apply_kick(*by, room, *target, reason.as_ref(), *at),
            Change::Invited {
                by,
                room,
                target,
                at,
            } => self.apply_invite(*by, room, *target, *at),
            Change::TopicSet {
                by,
                room,
                topic,
                at,
            } => self.apply_topic(*by, room, topic.as_ref(), *at),
            Change::ModesChanged {
                by,
                room,
                edits,
                at,
            } => self.apply_modes(*by, room, edits, *at),
            Change::Message {
                id,
                from,
                to,
                kind,
                text,
                client_tags,
                at,
            } => self.apply_message(*from, to, *at, |from, target| EventKind::Message {
                id: *id,
                from,
                target,
                kind: *kind,
                text: text.clone(),
                client_tags: client_tags.clone(),
            }),
            Change::Tags {
                id,
                from,
                to,
                client_tags,
                at,
            } => self.apply_message(*from, to, *at, |from, target| EventKind::Tags {
                id: *id,
                from,
                target,
                client_tags: Arc::clone(client_tags),
            }),
            Change::SessionEnded {
                session,
                reason,
                disconnect,
                at,
            } => self.apply_end(*session, reason, disconnect.as_ref(), *at),
        }
    }

    fn apply_start(
        &mut self,
        session: SessionId,
        identity: Identity,
        at: SystemTime,
        sink: Option<LocalSink>,
    ) -> Applied {
        // A session that exists already (the same change twice) is left as it is.
        if let std::collections::hash_map::Entry::Vacant(slot) = self.sessions.entry(session) {
            slot.insert(Box::new(SessionRecord {
                who: Who::Unnamed(Box::new(identity)),
                rooms: Vec::new(),
                away: None,
                is_invisible: false,
                is_welcomed: false,
                is_wallops: false,
                signon: at,
                last_active: at,
                sink,
            }));
        }
        Applied::default()
    }

    /// Changes who the session is with `change`, which sees the nick and every other field.
    fn edit(&mut self, session: SessionId, change: impl FnOnce(&mut Option<Nick>, &mut Identity)) {
        let Some(record) = self.sessions.get_mut(&session) else {
            return;
        };
        let (mut nick, mut identity) = match &record.who {
            Who::Unnamed(identity) => (
                None,
                Identity {
                    user: Arc::clone(&identity.user),
                    host: Arc::clone(&identity.host),
                    realname: Arc::clone(&identity.realname),
                    account: identity.account.clone(),
                    is_bot: identity.is_bot,
                },
            ),
            Who::Named(profile) => (
                Some(profile.nick.clone()),
                Identity {
                    user: Arc::clone(&profile.user),
                    host: Arc::clone(&profile.host),
                    realname: Arc::clone(&profile.realname),
                    account: profile.account.clone(),
                    is_bot: profile.is_bot,
                },
            ),
        };
        change(&mut nick, &mut identity);
        record.who = match nick {
            Some(nick) => Who::Named(Arc::new(Profile {
                nick,
                user: identity.user,
                host: identity.host,
                realname: identity.realname,
                account: identity.account,
                is_bot: identity.is_bot,
            })),
            None => Who::Unnamed(Box::new(identity)),
        };
    }

    fn apply_nick(&mut self, session: SessionId, nick: &Nick, at: SystemTime) -> Applied {
        let Some(record) = self.sessions.get(&session) else {
            return Applied::default();
        };
        if self
            .nicks
            .get(nick.key())
            .is_some_and(|holder| *holder != session)
        {
            return Applied::default();
        }
        let old = record.named().cloned();
        if let Some(old) = &old
            && self.nicks.get(old.nick.key()) == Some(&session)
        {
            self.nicks.remove(old.nick.key());
            self.release_skeleton(old.nick.key());
        }
        let key = nick.shared_key();
        self.hold_skeleton(&key);
        self.nicks.insert(key, session);
        self.edit(session, |slot, _| *slot = Some(nick.clone()));
        match old {
            None => Applied::default(),
            Some(old) => {
                let mut recipients = self.co_members(session);
                recipients.push(session);
                let mut applied = Applied::one(
                    EventKind::NickChanged {
                        old: Arc::clone(&old),
                        new: nick.clone(),
                    },
                    at,
                    Audience::Sessions(recipients),
                );
                // Watchers see the old nick go and the new one come (a change of case is
                // the same nick).
                let is_welcomed = self.sessions.get(&session).is_some_and(|r| r.is_welcomed);
                if is_welcomed
                    && old.nick.key() != nick.key()
                    && let Some(who) = self.profile(session)
                {
                    self.tell_watchers(&mut applied, Some(&who), Some(&old.nick), at);
                }
                applied
            }
        }
    }

    /// Tells those who monitor `online`'s nick that it came online, and those who monitor
    /// `offline` that it went: one event per watcher, addressed to its nick.
    fn tell_watchers(
        &self,
        applied: &mut Applied,
        online: Option<&Arc<Profile>>,
        offline: Option<&Nick>,
        at: SystemTime,
    ) {
        let watching = |key: &str| self.watchers.get(key).map_or(&[][..], Vec::as_slice);
        let gone = offline.map_or(&[][..], |nick| watching(nick.key()));
        let come = online.map_or(&[][..], |who| watching(who.nick.key()));
        if gone.is_empty() && come.is_empty() {
            return;
        }
        let mut everyone: Vec<SessionId> = gone.iter().chain(come).copied().collect();
        everyone.sort_unstable();
        everyone.dedup();
        for watcher in everyone {
            let Some(watcher_nick) = self.sessions.get(&watcher).and_then(|r| r.nick()) else {
                continue;
            };
            let event = EventKind::Monitored {
                watcher: watcher_nick.clone(),
                online: online
                    .filter(|_| come.contains(&watcher))
                    .map(|who| vec![Arc::clone(who)])
                    .unwrap_or_default(),
                offline: offline
                    .filter(|_| gone.contains(&watcher))
                    .map(|nick| vec![nick.clone()])
                    .unwrap_or_default(),
            };
            applied.effects.push(Effect {
                event: Arc::new(HubEvent::at(event, at)),
                audience: Audience::Sessions(vec![watcher]),
            });
        }
    }

    /// Copies the last effect of `applied` (news about `session`: away, account, real
    /// name) to those who monitor `session`'s nick and are not among its recipients, as
    /// [`EventKind::Watched`].
    fn copy_to_watchers(&self, applied: &mut Applied, session: SessionId, at: SystemTime) {
        let Some(nick) = self.sessions.get(&session).and_then(|r| r.nick()) else {
            return;
        };
        let Some(watchers) = self.watchers.get(nick.key()) else {
            return;
        };
        let Some(last) = applied.effects.last() else {
            return;
        };
        let told: &[SessionId] = match &last.audience {
            Audience::Sessions(sessions) => sessions,
            Audience::Room { .. } => &[],
        };
        let rest: Vec<SessionId> = watchers
            .iter()
            .filter(|w| **w != session && !told.contains(w))
            .copied()
            .collect();
        if rest.is_empty() {
            return;
        }
        let event = EventKind::Watched {
            event: Arc::clone(&last.event),
        };
        applied.effects.push(Effect {
            event: Arc::new(HubEvent::at(event, at)),
            audience: Audience::Sessions(rest),
        });
    }

    fn apply_metadata(
        &mut self,
        by: SessionId,
        target: &MetadataTarget,
        key: &Arc<str>,
        value: Option<&Arc<str>>,
        at: SystemTime,
    ) -> Applied {
        let is_subscribed = |s: &SessionId| {
            self.metadata_subs
                .get(s)
                .is_some_and(|keys| keys.contains(key))
        };
        let (slot, shown, mut hearers) = match target {
            MetadataTarget::User(session) => {
                let Some(who) = self.profile(*session) else {
                    return Applied::default();
                };
                let mut hearers = self.co_members(*session);
                hearers.push(*session);
                (
                    MetadataKey::User(*session),
                    MessageTarget::Direct(who.nick.clone()),
                    hearers,
                )
            }
            MetadataTarget::Room(room) => {
                let Some(slot) = self.rooms.get(room.key()) else {
                    return Applied::default();
                };
                (
                    MetadataKey::Room(room.shared_key()),
                    MessageTarget::Room(slot.name.clone()),
                    slot.members.keys().copied().collect(),
                )
            }
        };
        // Only those who subscribed to the key hear, and never the one who changed it.
        hearers.retain(|s| *s != by && is_subscribed(s));
        hearers.sort_unstable();
        let entry = self.metadata.entry(slot.clone()).or_default();
        match value {
            Some(value) => {
                entry.insert(Arc::clone(key), Arc::clone(value));
            }
            None => {
                entry.remove(key);
            }
        }
        if entry.is_empty() {
            self.metadata.remove(&slot);
        }
        let mut applied = Applied::one(
            EventKind::MetadataChanged {
                target: shown,
                key: Arc::clone(key),
                value: value.cloned(),
            },
            at,
            Audience::Sessions(hearers),
        );
        if let MetadataTarget::User(session) = target {
            self.copy_to_watchers(&mut applied, *session, at);
            // Watchers too hear only of keys they subscribed to.
            if let Some(last) = applied.effects.last_mut()
                && matches!(last.event.kind, EventKind::Watched { .. })
                && let Audience::Sessions(watchers) = &mut last.audience
            {
                watchers.retain(|s| *s != by && is_subscribed(s));
            }
        }
        applied.effects.retain(|e| match &e.audience {
            Audience::Sessions(s) => !s.is_empty(),
            Audience::Room { .. } => true,
        });
        applied
    }

    /// Stops `session` watching `nicks` (all of them for `None`).
    fn unmonitor(&mut self, session: SessionId, nicks: Option<&[Nick]>) {
        let Some(list) = self.monitors.get_mut(&session) else {
            return;
        };
        let dropped: Vec<Nick> = match nicks {
            None => std::mem::take(list),
            Some(nicks) => {
                let (gone, kept): (Vec<Nick>, Vec<Nick>) =
                    list.drain(..).partition(|n| nicks.contains(n));
                *list = kept;
                gone
            }
        };
        if list.is_empty() {
            self.monitors.remove(&session);
        }
        for nick in dropped {
            if let Some(watchers) = self.watchers.get_mut(nick.key()) {
                watchers.retain(|w| *w != session);
                if watchers.is_empty() {
                    self.watchers.remove(nick.key());
                }
            }
        }
    }

    /// The event `make` builds from the session's newest profile, for it and everyone
    /// sharing a room with it; nothing for a session without a nick.
    fn to_self_and_co_members(
        &self,
        session: SessionId,
        at: SystemTime,
        make: impl FnOnce(Arc<Profile>) -> EventKind,
    ) -> Applied {
        let Some(who) = self.profile(session) else {
            return Applied::default();
        };
        let mut recipients = self.co_members(session);
        recipients.push(session);
        Applied::one(make(who), at, Audience::Sessions(recipients))
    }

    fn apply_away(
        &mut self,
        session: SessionId,
        away: Option<&MessageText>,
        at: SystemTime,
    ) -> Applied {
        let Some(record) = self.sessions.get_mut(&session) else {
            return Applied::default();
        };
        record.away = away.cloned();
        let Some(who) = record.named().cloned() else {
            return Applied::default();
        };
        let recipients = self.co_members(session);
        Applied::one(
            EventKind::AwayChanged {
                who,
                away: away.cloned(),
            },
            at,
            Audience::Sessions(recipients),
        )
    }

    fn apply_join(
        &mut self,
        session: SessionId,
        room: &RoomName,
        status: MemberStatus,
        creates: bool,
        at: SystemTime,
    ) -> Applied {
        let Some(who) = self.profile(session) else {
            return Applied::default();
        };
        let mut applied = Applied::default();
        if !self.rooms.contains_key(room.key()) {
            // Only the join that creates a room makes it; a join to one that is gone does
            // not fit.
            if !creates {
                return applied;
            }
            let key = room.shared_key();
            self.rooms
                .insert(Arc::clone(&key), Room::new(room.clone(), at, session));
            applied.created_room = Some(key);
        }
        let slot = self.rooms.get_mut(room.key()).expect("room inserted above");
        if slot.members.contains_key(&session) {
            return applied;
        }
        slot.members.insert(session, status);
        self.epoch += 1;
        slot.epoch = self.epoch;
        slot.invited.remove(&session);
        let name = slot.name.clone();
        let mut away = None;
        if let Some(record) = self.sessions.get_mut(&session) {
            record.rooms.push(name.clone());
            away.clone_from(&record.away);
        }
        applied.effects.push(Effect {
            event: Arc::new(HubEvent::at(
                EventKind::Joined {
                    room: name,
                    who: Arc::clone(&who),
                    session,
                },
                at,
            )),
            audience: Audience::Room {
                room: room.clone(),
                except: None,
                also: None,
            },
        });
        // A newcomer who is away: the room is told so, as it would be had it been there
        // when they went away (IRC `away-notify`).
        if let Some(away) = away {
            applied.effects.push(Effect {
                event: Arc::new(HubEvent::at(
                    EventKind::AwayChanged {
                        who,
                        away: Some(away),
                    },
                    at,
                )),
                audience: Audience::Room {
                    room: room.clone(),
                    except: Some(session),
                    also: None,
                },
            });
        }
        applied
    }

    fn apply_part(
        &mut self,
        session: SessionId,
        room: &RoomName,
        message: Option<&MessageText>,
        at: SystemTime,
    ) -> Applied {
        let Some(who) = self.profile(session) else {
            return Applied::default();
        };
        let Some(name) = self.remove_member(session, room) else {
            return Applied::default();
        };
        let mut applied = Applied::one(
            EventKind::Left {
                room: name,
                who,
                reason: LeaveReason::Requested(message.cloned()),
            },
            at,
            Audience::Room {
                room: room.clone(),
                except: None,
                also: Some(session),
            },
        );
        self.delete_if_empty(room.key(), &mut applied);
        applied
    }

    fn apply_kick(
        &mut self,
        by: SessionId,
        room: &RoomName,
        target: SessionId,
        reason: Option<&MessageText>,
        at: SystemTime,
    ) -> Applied {
        let (Some(by_profile), Some(target_profile)) = (self.profile(by), self.profile(target))
        else {
            return Applied::default();
        };
        let Some(name) = self.remove_member(target, room) else {
            return Applied::default();
        };
        let mut applied = Applied::one(
            EventKind::Kicked {
                room: name,
                by: by_profile,
                target: target_profile.nick.clone(),
                reason: reason.cloned(),
            },
            at,
            Audience::Room {
                room: room.clone(),
                except: None,
                also: Some(target),
            },
        );
        self.delete_if_empty(room.key(), &mut applied);
        applied
    }

    /// Takes `session` out of `room`; the room's name, if it was a member.
    fn remove_member(&mut self, session: SessionId, room: &RoomName) -> Option<RoomName> {
        let slot = self.rooms.get_mut(room.key())?;
        slot.members.remove(&session)?;
        self.epoch += 1;
        slot.epoch = self.epoch;
        let name = slot.name.clone();
        if let Some(record) = self.sessions.get_mut(&session) {
            record.rooms.retain(|r| r != room);
        }
        Some(name)
    }

    fn delete_if_empty(&mut self, key: &str, applied: &mut Applied) {
        if let Some(slot) = self.rooms.get(key)
            && slot.members.is_empty()
            && let Some((key, slot)) = self.rooms.remove_entry(key)
        {
            self.metadata.remove(&MetadataKey::Room(Arc::clone(&key)));
            applied.deleted_rooms.push((key, slot.founder));
        }
    }

    fn apply_invite(
        &mut self,
        by: SessionId,
        room: &RoomName,
        target: SessionId,
        at: SystemTime,
    ) -> Applied {
        let (Some(by_profile), Some(target_profile)) = (self.profile(by), self.profile(target))
        else {
            return Applied::default();
        };
        let Some(slot) = self.rooms.get_mut(room.key()) else {
            return Applied::default();
        };
        slot.invited.insert(target);
        let mut recipients = vec![target];
        recipients.extend(
            slot.members
                .iter()
                .filter(|(id, status)| status.is_operator && **id != by && **id != target)
                .map(|(id, _)| *id),
        );
        Applied::one(
            EventKind::Invited {
                room: slot.name.clone(),
                by: by_profile,
                target: target_profile.nick.clone(),
                session: target,
            },
            at,
            Audience::Sessions(recipients),
        )
    }

    fn apply_topic(
        &mut self,
        by: SessionId,
        room: &RoomName,
        topic: Option<&Topic>,
        at: SystemTime,
    ) -> Applied {
        let Some(by_profile) = self.profile(by) else {
            return Applied::default();
        };
        let Some(slot) = self.rooms.get_mut(room.key()) else {
            return Applied::default();
        };
        slot.topic = topic.cloned();
        Applied::one(
            EventKind::TopicChanged {
                room: slot.name.clone(),
                by: by_profile,
                topic: topic.map(|t| t.text.clone()),
            },
            at,
            Audience::Room {
                room: room.clone(),
                except: None,
                also: None,
            },
        )
    }

    fn apply_modes(
        &mut self,
        by: SessionId,
        room: &RoomName,
        edits: &[ModeEdit],
        at: SystemTime,
    ) -> Applied {
        let Some(by_profile) = self.profile(by) else {
            return Applied::default();
        };
        let Some(slot) = self.rooms.get_mut(room.key()) else {
            return Applied::default();
        };
        for edit in edits {
            slot.apply_mode(edit, &by_profile.nick, at);
        }
        let changes: Vec<ModeChange> = edits.iter().map(|edit| edit.change.clone()).collect();
        Applied::one(
            EventKind::ModesChanged {
                room: slot.name.clone(),
                by: by_profile,
                changes,
            },
            at,
            Audience::Room {
                room: room.clone(),
                except: None,
                also: None,
            },
        )
    }

    fn apply_message(
        &mut self,
        from: SessionId,
        to: &MessageTo,
        at: SystemTime,
        make: impl FnOnce(Arc<Profile>, MessageTarget) -> EventKind,
    ) -> Applied {
        let Some(record) = self.sessions.get_mut(&from) else {
            return Applied::default();
        };
        record.last_active = at;
        let Some(profile) = record.named().cloned() else {
            return Applied::default();
        };
        let (target, audience) = match to {
            MessageTo::Room(room) => (
                MessageTarget::Room(room.clone()),
                Audience::Room {
                    room: room.clone(),
                    except: Some(from),
                    also: None,
                },
            ),
            MessageTo::Session { session, nick } => (
                MessageTarget::Direct(nick.clone()),
                Audience::Sessions(vec![*session]),
            ),
        };
        Applied::one(make(profile, target), at, audience)
    }

    fn apply_end(
        &mut self,
        session: SessionId,
        reason: &LeaveReason,
        disconnect: Option<&Arc<str>>,
        at: SystemTime,
    ) -> Applied {
        let mut applied = Applied::default();
        if !self.sessions.contains_key(&session) {
            return applied;
        }
        if let Some(text) = disconnect {
            applied.effects.push(Effect {
                event: Arc::new(HubEvent::at(
                    EventKind::Disconnected {
                        reason: text.to_string(),
                    },
                    at,
                )),
                audience: Audience::Sessions(vec![session]),
            });
        }
        let recipients = self.co_members(session);
        let Some(record) = self.sessions.remove(&session) else {
            return applied;
        };
        applied.ended = Some((session, record.sink.clone()));
        if record.is_welcomed {
            self.users -= 1;
            if let Some(profile) = record.named() {
                self.tell_watchers(&mut applied, None, Some(&profile.nick), at);
            }
        }
        self.opers.remove(&session);
        self.real_hosts.remove(&session);
        self.metadata.remove(&MetadataKey::User(session));
        self.metadata_subs.remove(&session);
        self.unmonitor(session, None);
        for room in &record.rooms {
            if let Some(slot) = self.rooms.get_mut(room.key()) {
                slot.members.remove(&session);
                self.epoch += 1;
                slot.epoch = self.epoch;
            }
            self.delete_if_empty(room.key(), &mut applied);
        }
        for slot in self.rooms.values_mut() {
            slot.invited.remove(&session);
        }
        let Some(profile) = record.named().cloned() else {
            return applied;
        };
        if self.nicks.get(profile.nick.key()) == Some(&session) {
            self.nicks.remove(profile.nick.key());
            self.release_skeleton(profile.nick.key());
        }
        if self.whowas.len() == WHOWAS_CAPACITY {
            self.whowas.pop_front();
        }
        self.whowas.push_back(Departed {
            profile: Arc::clone(&profile),
            at,
        });
        // At server shutdown everyone is leaving at once and has been told why; nobody
        // needs to hear of each of the others.
        if *reason != LeaveReason::ServerShutdown {
            applied.effects.push(Effect {
                event: Arc::new(HubEvent::at(
                    EventKind::Quit {
                        who: profile,
                        reason: reason.clone(),
                    },
                    at,
                )),
                audience: Audience::Sessions(recipients),
            });
        }
        applied
    }

    /// Every session sharing at least one room with `session`, each once, not itself.
    pub(crate) fn co_members(&self, session: SessionId) -> Vec<SessionId> {
        let Some(record) = self.sessions.get(&session) else {
            return Vec::new();
        };
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for room in &record.rooms {
            let Some(slot) = self.rooms.get(room.key()) else {
                continue;
            };
            for member in slot.members.keys() {
                if *member != session && seen.insert(*member) {
                    out.push(*member);
                }
            }
        }
        out
    }
}

impl Room {
    /// A new room, created at `created` by `founder`: like most IRC networks, topic by
    /// operators and no messages from outside.
    pub(super) fn new(name: RoomName, created: SystemTime, founder: SessionId) -> Self {
        Self {
            name,
            founder,
            members: std::collections::HashMap::new(),
            epoch: 0,
            created,
            topic: None,
            modes: RoomModes {
                is_topic_locked: true,
                is_no_external: true,
                ..RoomModes::default()
            },
            bans: Vec::new(),
            invited: HashSet::new(),
        }
    }

    /// Applies one effective mode edit by `by` at `at`.
    fn apply_mode(&mut self, edit: &ModeEdit, by: &Nick, at: SystemTime) {
        let is_set = edit.change.is_set;
        let modes = &mut self.modes;
        match &edit.change.mode {
            RoomMode::TopicLock => modes.is_topic_locked = is_set,
            RoomMode::NoExternal => modes.is_no_external = is_set,
            RoomMode::Moderated => modes.is_moderated = is_set,
            RoomMode::InviteOnly => modes.is_invite_only = is_set,
            RoomMode::Secret => modes.is_secret = is_set,
            RoomMode::Key(key) => modes.key = is_set.then(|| Arc::clone(key)),
            RoomMode::Limit(limit) => modes.limit = is_set.then_some(*limit),
            RoomMode::Ban(mask) => {
                let folded = teahouse_types::casefold(mask);
                self.bans.retain(|(_, f)| *f != folded);
                if is_set {
                    self.bans.push((
                        Ban {
                            mask: Arc::clone(mask),
                            set_by: by.as_str().into(),
                            set_at: at,
                        },
                        folded,
                    ));
                }
            }
            RoomMode::Operator(_) | RoomMode::Voice(_) => {
                let Some(status) = edit.member.and_then(|id| self.members.get_mut(&id)) else {
                    return;
                };
                if matches!(edit.change.mode, RoomMode::Operator(_)) {
                    status.is_operator = is_set;
                } else {
                    status.is_voiced = is_set;
                }
            }
        }
    }
}

/// The skeleton index (`State::skeletons`), kept beside `nicks` and `registered`.
impl State {
    /// Counts one more holder of `key` under its skeleton.
    pub(crate) fn hold_skeleton(&mut self, key: &str) {
        *self.skeletons.entry(skeleton_hash(key)).or_insert(0) += 1;
    }

    /// Counts one holder of `key` less.
    pub(crate) fn release_skeleton(&mut self, key: &str) {
        let hash = skeleton_hash(key);
        if let Some(count) = self.skeletons.get_mut(&hash) {
            *count -= 1;
            if *count == 0 {
                self.skeletons.remove(&hash);
            }
        }
    }
}

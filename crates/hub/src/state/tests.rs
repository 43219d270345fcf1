//! The state's own tests: each kind of change applied to a state, its effect on the state
//! and who hears of it; and a property test that replaying the changes a random session
//! script produced rebuilds the same state.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;
use teahouse_types::{
    Change, EventKind, LeaveReason, MemberStatus, MessageId, MessageKind, MessageTarget,
    MessageText, MessageTo, MetadataTarget, ModeChange, ModeEdit, Nick, NodeId, RoomMode, RoomName,
    SessionId, Topic, UserMode, Versioned,
};

use super::*;
use crate::error::Refusal;
use crate::hub::SayTarget;
use crate::state::Redaction;
use crate::state::apply::Applied;

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_764_000_000_000 + ms)
}

fn id(seq: u64) -> SessionId {
    SessionId::new(NodeId::new(1).unwrap(), seq)
}

fn nick(s: &str) -> Nick {
    Nick::parse(s).unwrap()
}

fn room(s: &str) -> RoomName {
    RoomName::parse(s).unwrap()
}

fn text(s: &str) -> MessageText {
    MessageText::parse(s).unwrap()
}

/// A session numbered `seq`, started at time `seq`, named `name` if given.
fn start(state: &mut State, seq: u64, name: Option<&str>) -> SessionId {
    let session = id(seq);
    let applied = state.apply(&Change::SessionStarted {
        session,
        host: "127.0.0.1".into(),
        user: "u".into(),
        realname: "Real".into(),
        at: at(seq),
        sink: None,
    });
    assert!(applied.effects.is_empty());
    if let Some(name) = name {
        state.apply(&Change::NickSet {
            session,
            nick: nick(name),
            at: at(3),
        });
        state.apply(&Change::Welcomed { session, at: at(3) });
    }
    session
}

/// `session` joins `name` as decided by the state (the creator of a room founds it).
fn join(state: &mut State, session: SessionId, name: &str) -> Applied {
    let change = state
        .decide_join(
            session,
            &room(name),
            None,
            true,
            RoomLimits::default(),
            at(100),
        )
        .unwrap();
    state.apply(&change)
}

/// The one effect's event and audience.
fn only(applied: &Applied) -> (&EventKind, &Audience) {
    assert_eq!(applied.effects.len(), 1, "{:?}", applied.effects);
    (&applied.effects[0].event.kind, &applied.effects[0].audience)
}

fn in_room(name: &str, except: Option<SessionId>, also: Option<SessionId>) -> Audience {
    Audience::Room {
        room: room(name),
        except,
        also,
    }
}

fn sorted(mut sessions: Vec<SessionId>) -> Vec<SessionId> {
    sessions.sort();
    sessions
}

/// The sessions of an audience of given sessions, sorted.
fn sessions_of(audience: &Audience) -> Vec<SessionId> {
    match audience {
        Audience::Sessions(sessions) => sorted(sessions.clone()),
        Audience::Room { .. } => panic!("a room audience: {audience:?}"),
    }
}

#[test]
fn session_started_adds_a_nameless_session_heard_by_nobody() {
    let mut state = State::default();
    let a = start(&mut state, 1, None);
    let record = &state.sessions[&a];
    assert!(record.nick().is_none());
    assert_eq!(&**record.host(), "127.0.0.1");
    assert_eq!((record.signon, record.last_active), (at(1), at(1)));
    assert_eq!(state.stats().unregistered, 1);
}

#[test]
fn user_set_gives_the_user_name_and_real_name() {
    let mut state = State::default();
    let a = start(&mut state, 1, None);
    let applied = state.apply(&Change::UserSet {
        session: a,
        user: "~al".into(),
        realname: "Alice L".into(),
    });
    assert!(applied.effects.is_empty());
    state.apply(&Change::NickSet {
        session: a,
        nick: nick("alice"),
        at: at(3),
    });
    let profile = state.profile(a).unwrap();
    assert_eq!((&*profile.user, &*profile.realname), ("~al", "Alice L"));
}

#[test]
fn nick_set_names_a_session_quietly_and_a_rename_is_told_to_it_and_its_rooms() {
    let mut state = State::default();
    let a = start(&mut state, 1, None);
    let applied = state.apply(&Change::NickSet {
        session: a,
        nick: nick("alice"),
        at: at(3),
    });
    assert!(applied.effects.is_empty());
    assert_eq!(state.nicks.get("alice"), Some(&a));
    let b = start(&mut state, 2, Some("bob"));
    let c = start(&mut state, 3, Some("carol"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let applied = state.apply(&Change::NickSet {
        session: a,
        nick: nick("Alicia"),
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::NickChanged { old, new } if old.nick == nick("alice") && *new == nick("alicia"))
    );
    assert_eq!(sessions_of(audience), [a, b]);
    assert!(!state.nicks.contains_key("alice"));
    assert_eq!(state.nicks.get("alicia"), Some(&a));
    assert!(!sessions_of(audience).contains(&c));
}

#[test]
fn welcomed_counts_a_named_session_as_a_user_once_and_ended_uncounts_it() {
    let mut state = State::default();
    let a = start(&mut state, 1, None);
    state.apply(&Change::NickSet {
        session: a,
        nick: nick("alice"),
        at: at(3),
    });
    let _no_nick = start(&mut state, 2, None);
    assert_eq!(state.stats().users, 0);
    assert_eq!(state.stats().unregistered, 2);
    for _ in 0..2 {
        let applied = state.apply(&Change::Welcomed {
            session: a,
            at: at(4),
        });
        assert!(applied.effects.is_empty());
    }
    assert_eq!(state.decide_welcome(a, at(5)), Ok(None));
    state.apply(&Change::InvisibleSet {
        session: a,
        is_invisible: true,
    });
    let stats = state.stats();
    assert_eq!(
        (
            stats.users,
            stats.invisible,
            stats.unregistered,
            stats.max_users
        ),
        (1, 1, 1, 1)
    );
    state.apply(&Change::SessionEnded {
        session: a,
        reason: LeaveReason::ConnectionLost,
        disconnect: None,
        at: at(9),
    });
    let stats = state.stats();
    assert_eq!((stats.users, stats.invisible, stats.max_users), (0, 0, 1));
}

#[test]
fn operator_set_and_user_modes_change_the_session_quietly() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    assert_eq!(state.decide_oper(a, None), Ok(None));
    let applied = state.apply(&Change::OperatorSet {
        session: a,
        oper: Some("admin".into()),
    });
    assert!(applied.effects.is_empty());
    assert_eq!(state.oper_of(a).map(|o| &**o), Some("admin"));
    let applied = state.apply(&Change::UserModeSet {
        session: a,
        mode: UserMode::Bot,
        is_set: true,
    });
    assert!(applied.effects.is_empty());
    assert!(
        state.profile(a).unwrap().is_bot,
        "events carry the bot flag"
    );
    state.apply(&Change::UserModeSet {
        session: a,
        mode: UserMode::Wallops,
        is_set: true,
    });
    assert!(state.sessions[&a].is_wallops);
    assert_eq!(state.decide_user_mode(a, UserMode::Bot, true), Ok(None));
    state.apply(&Change::OperatorSet {
        session: a,
        oper: None,
    });
    assert_eq!(state.oper_of(a), None);
    // Ending the session forgets its operator status.
    state.apply(&Change::OperatorSet {
        session: a,
        oper: Some("admin".into()),
    });
    state.apply(&Change::SessionEnded {
        session: a,
        reason: LeaveReason::ConnectionLost,
        disconnect: None,
        at: at(9),
    });
    assert!(state.opers.is_empty());
}

#[test]
fn wallops_is_heard_by_sessions_with_plus_w_only() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    let _c = start(&mut state, 3, Some("carol"));
    for session in [a, b] {
        state.apply(&Change::UserModeSet {
            session,
            mode: UserMode::Wallops,
            is_set: true,
        });
    }
    assert_eq!(
        state.decide_wallops(a, text("hi"), at(4)),
        Err(Refusal::NoPrivileges)
    );
    state.apply(&Change::OperatorSet {
        session: a,
        oper: Some("admin".into()),
    });
    let change = state.decide_wallops(a, text("hi"), at(4)).unwrap();
    let applied = state.apply(&change);
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::Wallops { from, text } if from.nick == nick("alice") && text.as_str() == "hi")
    );
    assert_eq!(sessions_of(audience), [a, b]);
}

#[test]
fn realname_set_is_told_to_the_session_and_its_rooms() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let applied = state.apply(&Change::RealnameSet {
        session: a,
        realname: "Alice Liddell".into(),
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::RealnameChanged { who } if &*who.realname == "Alice Liddell")
    );
    assert_eq!(sessions_of(audience), [a, b]);
    assert_eq!(&*state.profile(a).unwrap().realname, "Alice Liddell");
}

#[test]
fn invisible_set_changes_the_flag_quietly() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let applied = state.apply(&Change::InvisibleSet {
        session: a,
        is_invisible: true,
    });
    assert!(applied.effects.is_empty());
    assert!(state.sessions[&a].is_invisible);
    assert_eq!(state.stats().invisible, 1);
}

#[test]
fn monitor_added_tells_the_watcher_of_comings_goings_and_news_and_removed_stops_it() {
    let mut state = State::default();
    let w = start(&mut state, 1, Some("watcher"));
    let applied = state.apply(&Change::MonitorAdded {
        session: w,
        nicks: vec![nick("Bob"), nick("carol")],
    });
    assert!(applied.effects.is_empty());
    assert_eq!(state.monitored(w), [nick("Bob"), nick("carol")]);
    // bob connects: named, then welcomed; only the welcome makes him online.
    let b = start(&mut state, 2, None);
    state.apply(&Change::NickSet {
        session: b,
        nick: nick("bob"),
        at: at(3),
    });
    let applied = state.apply(&Change::Welcomed {
        session: b,
        at: at(4),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::Monitored { watcher, online, offline }
            if watcher.as_str() == "watcher" && online[0].nick.as_str() == "bob" && offline.is_empty())
    );
    assert_eq!(sessions_of(audience), [w]);
    // His away reaches the watcher, who shares no room with him, as news about him.
    let applied = state.apply(&Change::AwaySet {
        session: b,
        away: Some(text("out")),
        at: at(5),
    });
    assert_eq!(applied.effects.len(), 2);
    assert!(
        matches!(&applied.effects[1].event.kind, EventKind::Watched { event }
        if matches!(event.kind, EventKind::AwayChanged { .. }))
    );
    assert_eq!(sessions_of(&applied.effects[1].audience), [w]);
    // A rename to a watched nick: bob goes offline and carol comes online.
    let applied = state.apply(&Change::NickSet {
        session: b,
        nick: nick("Carol"),
        at: at(6),
    });
    let monitored = applied
        .effects
        .iter()
        .find(|e| matches!(e.event.kind, EventKind::Monitored { .. }))
        .unwrap();
    assert!(
        matches!(&monitored.event.kind, EventKind::Monitored { online, offline, .. }
            if online[0].nick.as_str() == "Carol" && offline[0].as_str() == "bob")
    );
    // Unwatched, carol's leaving is heard by nobody.
    let applied = state.apply(&Change::MonitorRemoved {
        session: w,
        nicks: Some(vec![nick("CAROL")]),
    });
    assert!(applied.effects.is_empty());
    assert_eq!(state.monitored(w), [nick("Bob")]);
    let applied = state.apply(&Change::SessionEnded {
        session: b,
        reason: LeaveReason::ConnectionLost,
        disconnect: None,
        at: at(7),
    });
    assert!(
        !applied
            .effects
            .iter()
            .any(|e| matches!(e.event.kind, EventKind::Monitored { .. }))
    );
    // The watcher's own end empties its lists.
    state.apply(&Change::MonitorRemoved {
        session: w,
        nicks: None,
    });
    assert!(state.monitors.is_empty() && state.watchers.is_empty());
}

#[test]
fn host_set_shows_a_new_host_to_the_rooms_and_keeps_the_real_address() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let applied = state.apply(&Change::HostSet {
        session: a,
        user: "al".into(),
        host: "tea.example".into(),
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(matches!(event, EventKind::HostChanged { old, who }
        if &*old.host == "127.0.0.1" && &*who.host == "tea.example" && &*who.user == "al"));
    assert_eq!(sessions_of(audience), [a, b]);
    assert_eq!(&*state.profile(a).unwrap().host, "tea.example");
    assert_eq!(state.host_of(a).as_deref(), Ok("127.0.0.1"));
}

#[test]
fn redacted_is_allowed_to_authors_and_operators_and_told_where_the_message_went() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    let c = start(&mut state, 3, Some("carol"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let redaction = |author: &str, is_author: bool, target: MessageTarget| Redaction {
        target,
        author: nick(author),
        is_author,
        id: MessageId::from_raw(7),
        reason: None,
    };
    let in_tea = || MessageTarget::Room(room("tea"));
    assert_eq!(
        state.decide_redact(b, redaction("alice", false, in_tea()), at(3)),
        Err(Refusal::NotOperator(room("tea")))
    );
    assert_eq!(
        state.decide_redact(c, redaction("carol", true, in_tea()), at(3)),
        Err(Refusal::NotInRoom(room("tea")))
    );
    // alice founded the room: she operates it.
    let change = state
        .decide_redact(a, redaction("bob", false, in_tea()), at(3))
        .unwrap();
    let applied = state.apply(&change);
    let (event, audience) = only(&applied);
    assert!(matches!(event, EventKind::Redacted { by, id, .. }
        if by.nick.as_str() == "alice" && id.get() == 7));
    assert_eq!(*audience, in_room("tea", None, None));
    // A direct message: its sender may, its recipient may not; both sides hear.
    let to_carol = || MessageTarget::Direct(nick("carol"));
    assert_eq!(
        state.decide_redact(c, redaction("bob", false, to_carol()), at(4)),
        Err(Refusal::NoPrivileges)
    );
    let change = state
        .decide_redact(b, redaction("bob", true, to_carol()), at(4))
        .unwrap();
    let applied = state.apply(&change);
    let (_, audience) = only(&applied);
    assert_eq!(sessions_of(audience), [b, c]);
}

#[test]
fn metadata_set_keeps_keys_tells_others_and_goes_with_its_owner() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    // Only subscribers hear: bob subscribes to avatars.
    let (change, subscribed) = state
        .decide_metadata_subscribe(b, &["avatar".into(), "url".into()], 1)
        .unwrap();
    assert_eq!(
        (subscribed.keys.len(), subscribed.refused.as_deref()),
        (1, Some("url"))
    );
    state.apply(&change.unwrap());
    let set = |state: &State, by, target, value: Option<&str>| {
        state.decide_metadata(by, target, "avatar".into(), value.map(Into::into), 1, at(3))
    };
    assert_eq!(
        set(&state, b, MetadataTarget::User(a), Some("x")),
        Err(Refusal::NoPrivileges)
    );
    assert_eq!(
        set(&state, b, MetadataTarget::Room(room("tea")), Some("x")),
        Err(Refusal::NotOperator(room("tea")))
    );
    let change = set(&state, a, MetadataTarget::User(a), Some("x"))
        .unwrap()
        .unwrap();
    let applied = state.apply(&change);
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::MetadataChanged { target: MessageTarget::Direct(n), value: Some(v), .. }
        if n.as_str() == "alice" && &**v == "x")
    );
    assert_eq!(sessions_of(audience), [b], "not the one who set it");
    assert_eq!(set(&state, a, MetadataTarget::User(a), Some("x")), Ok(None));
    let other = state.decide_metadata(
        a,
        MetadataTarget::User(a),
        "url".into(),
        Some("u".into()),
        1,
        at(4),
    );
    assert_eq!(other, Err(Refusal::MetadataLimit));
    let change = set(&state, a, MetadataTarget::Room(room("tea")), Some("y"))
        .unwrap()
        .unwrap();
    let applied = state.apply(&change);
    assert_eq!(sessions_of(only(&applied).1), [b]);
    assert_eq!(state.room_metadata(&room("tea")).len(), 2);
    state.apply(&Change::SessionEnded {
        session: a,
        reason: LeaveReason::ConnectionLost,
        disconnect: None,
        at: at(5),
    });
    assert!(state.metadata_of(&MetadataTarget::User(a)).is_empty());
    state.apply(&Change::SessionEnded {
        session: b,
        reason: LeaveReason::ConnectionLost,
        disconnect: None,
        at: at(6),
    });
    assert!(
        state.metadata.is_empty(),
        "the room went, and its metadata with it"
    );
}

#[test]
fn read_marked_is_told_to_every_session_of_the_account_only() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let phone = start(&mut state, 2, Some("phone"));
    let _bob = start(&mut state, 3, Some("bob"));
    for session in [a, phone] {
        state.apply(&Change::AccountSet {
            session,
            account: Some("Alice".into()),
            at: at(3),
        });
    }
    let applied = state.apply(&Change::ReadMarked {
        account: "Alice".into(),
        target: MessageTarget::Room(room("tea")),
        at: at(4),
    });
    let (event, audience) = only(&applied);
    assert!(matches!(event, EventKind::ReadMarked { at: t, .. } if *t == at(4)));
    assert_eq!(sessions_of(audience), [a, phone]);
    let nobody = state.apply(&Change::ReadMarked {
        account: "carol".into(),
        target: MessageTarget::Room(room("tea")),
        at: at(5),
    });
    assert!(nobody.effects.is_empty());
}

#[test]
fn away_set_is_told_to_the_rooms_but_not_the_session() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let applied = state.apply(&Change::AwaySet {
        session: a,
        away: Some(text("lunch")),
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(matches!(event, EventKind::AwayChanged { away: Some(t), .. } if t.as_str() == "lunch"));
    assert_eq!(sessions_of(audience), [b]);
    assert_eq!(state.sessions[&a].away, Some(text("lunch")));
}

#[test]
fn account_set_is_told_to_the_session_and_its_rooms_once_named() {
    let mut state = State::default();
    let unnamed = start(&mut state, 9, None);
    let applied = state.apply(&Change::AccountSet {
        session: unnamed,
        account: Some("zed".into()),
        at: at(3),
    });
    assert!(applied.effects.is_empty());
    assert_eq!(state.account_of(unnamed).unwrap().as_deref(), Some("zed"));
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let applied = state.apply(&Change::AccountSet {
        session: a,
        account: Some("alice".into()),
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::AccountChanged { who } if who.account.as_deref() == Some("alice"))
    );
    assert_eq!(sessions_of(audience), [a, b]);
}

#[test]
fn account_registered_and_dropped_protect_and_free_a_nick() {
    let mut state = State::default();
    let a = start(&mut state, 1, None);
    state.apply(&Change::AccountRegistered { key: "bob".into() });
    assert!(state.is_registered("bob"));
    assert_eq!(
        state.decide_nick(a, &nick("Bob"), at(3)),
        Err(Refusal::NickRegistered(nick("bob")))
    );
    let applied = state.apply(&Change::AccountDropped { key: "bob".into() });
    assert!(applied.effects.is_empty());
    assert!(!state.is_registered("bob"));
    assert!(state.decide_nick(a, &nick("Bob"), at(3)).unwrap().is_some());
}

#[test]
fn joined_creates_a_room_with_its_founder_as_operator_and_everyone_hears_of_joins() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    let applied = join(&mut state, a, "Tea");
    assert_eq!(applied.created_room.as_deref(), Some("tea"));
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::Joined { session, room: r, .. } if *session == a && r.as_str() == "Tea")
    );
    assert_eq!(*audience, in_room("tea", None, None));
    let slot = &state.rooms["tea"];
    assert_eq!(slot.created, at(100));
    assert_eq!(slot.founder, a);
    assert!(slot.members[&a].is_operator);
    let epoch = slot.epoch;
    // A later member is not an operator; an invitation is used up by the join.
    state.apply(&Change::Invited {
        by: a,
        room: room("tea"),
        target: b,
        at: at(3),
    });
    let applied = join(&mut state, b, "TEA");
    assert!(applied.created_room.is_none());
    let slot = &state.rooms["tea"];
    assert_eq!(slot.members[&b], MemberStatus::default());
    assert!(slot.invited.is_empty());
    assert!(slot.epoch > epoch, "a join changes the room's epoch");
    assert_eq!(state.sessions[&b].rooms, [room("Tea")]);
}

#[test]
fn parted_is_heard_by_the_room_and_the_leaver_and_an_emptied_room_goes() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let applied = state.apply(&Change::Parted {
        session: b,
        room: room("tea"),
        message: Some(text("bye")),
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::Left { reason: LeaveReason::Requested(Some(t)), .. } if t.as_str() == "bye")
    );
    assert_eq!(*audience, in_room("tea", None, Some(b)));
    assert!(state.sessions[&b].rooms.is_empty());
    assert!(applied.deleted_rooms.is_empty());
    let applied = state.apply(&Change::Parted {
        session: a,
        room: room("tea"),
        message: None,
        at: at(3),
    });
    assert_eq!(applied.deleted_rooms, [(Arc::from("tea"), a)]);
    assert!(state.rooms.is_empty());
}

#[test]
fn kicked_removes_the_target_and_it_hears_of_it_with_the_room() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let applied = state.apply(&Change::Kicked {
        by: a,
        room: room("tea"),
        target: b,
        reason: None,
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::Kicked { target, by, .. } if *target == nick("bob") && by.nick == nick("alice"))
    );
    assert_eq!(*audience, in_room("tea", None, Some(b)));
    assert!(!state.rooms["tea"].members.contains_key(&b));
}

#[test]
fn invited_is_heard_by_the_target_and_the_other_operators() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let op = start(&mut state, 2, Some("oscar"));
    let plain = start(&mut state, 3, Some("pat"));
    let c = start(&mut state, 4, Some("carol"));
    join(&mut state, a, "tea");
    join(&mut state, op, "tea");
    join(&mut state, plain, "tea");
    state.apply(&Change::ModesChanged {
        by: a,
        room: room("tea"),
        edits: vec![ModeEdit {
            change: ModeChange {
                is_set: true,
                mode: RoomMode::Operator(nick("oscar")),
            },
            member: Some(op),
        }],
        at: at(5),
    });
    let applied = state.apply(&Change::Invited {
        by: a,
        room: room("tea"),
        target: c,
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(matches!(event, EventKind::Invited { session, .. } if *session == c));
    assert_eq!(sessions_of(audience), sorted(vec![op, c]));
    assert!(state.rooms["tea"].invited.contains(&c));
}

#[test]
fn topic_set_keeps_who_and_when_and_the_room_hears() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    join(&mut state, a, "tea");
    let topic = Topic {
        text: text("tea time"),
        set_by: "alice!u@127.0.0.1".into(),
        set_at: at(7),
    };
    let applied = state.apply(&Change::TopicSet {
        by: a,
        room: room("tea"),
        topic: Some(topic.clone()),
        at: at(3),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::TopicChanged { topic: Some(t), .. } if t.as_str() == "tea time")
    );
    assert_eq!(*audience, in_room("tea", None, None));
    assert_eq!(state.rooms["tea"].topic, Some(topic));
}

#[test]
fn modes_changed_sets_flags_bans_with_who_and_when_and_member_status() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let edit = |is_set, mode, member| ModeEdit {
        change: ModeChange { is_set, mode },
        member,
    };
    let applied = state.apply(&Change::ModesChanged {
        by: a,
        room: room("tea"),
        edits: vec![
            edit(true, RoomMode::Moderated, None),
            edit(true, RoomMode::Key("sesame".into()), None),
            edit(true, RoomMode::Ban("*!*@evil".into()), None),
            edit(true, RoomMode::Voice(nick("bob")), Some(b)),
        ],
        at: at(9),
    });
    let (event, audience) = only(&applied);
    assert!(matches!(event, EventKind::ModesChanged { changes, .. } if changes.len() == 4));
    assert_eq!(*audience, in_room("tea", None, None));
    let slot = &state.rooms["tea"];
    assert!(slot.modes.is_moderated);
    assert_eq!(slot.modes.key.as_deref(), Some("sesame"));
    assert_eq!(
        slot.bans[0].0,
        Ban {
            mask: "*!*@evil".into(),
            set_by: "alice".into(),
            set_at: at(9),
        }
    );
    assert!(slot.members[&b].is_voiced);
}

#[test]
fn a_message_goes_to_the_room_but_its_sender_or_to_one_session() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    let message = |to| Change::Message {
        id: MessageId::new(1_764_000_000_042, NodeId::default(), 0),
        from: a,
        to,
        kind: MessageKind::Normal,
        text: text("hi"),
        client_tags: None,
        at: at(42),
    };
    let applied = state.apply(&message(MessageTo::Room(room("tea"))));
    let (event, audience) = only(&applied);
    assert!(matches!(event, EventKind::Message { text: t, .. } if t.as_str() == "hi"));
    assert_eq!(applied.effects[0].event.time, at(42));
    assert_eq!(*audience, in_room("tea", Some(a), None));
    assert_eq!(state.sessions[&a].last_active, at(42));
    let applied = state.apply(&message(MessageTo::Session {
        session: b,
        nick: nick("bob"),
    }));
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::Message { target: teahouse_types::MessageTarget::Direct(n), .. } if *n == nick("bob"))
    );
    assert_eq!(sessions_of(audience), [b]);
}

#[test]
fn tags_go_where_a_message_would() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    join(&mut state, a, "tea");
    let applied = state.apply(&Change::Tags {
        id: MessageId::new(1_764_000_000_043, NodeId::default(), 0),
        from: a,
        to: MessageTo::Room(room("tea")),
        client_tags: "+typing=active".into(),
        at: at(43),
    });
    let (event, audience) = only(&applied);
    assert!(
        matches!(event, EventKind::Tags { client_tags, .. } if &**client_tags == "+typing=active")
    );
    assert_eq!(*audience, in_room("tea", Some(a), None));
}

#[test]
fn session_ended_frees_everything_and_is_heard_by_who_shared_a_room() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    let c = start(&mut state, 3, Some("carol"));
    join(&mut state, a, "tea");
    join(&mut state, b, "tea");
    join(&mut state, a, "solo");
    state.apply(&Change::Invited {
        by: b,
        room: room("tea"),
        target: c,
        at: at(3),
    });
    let applied = state.apply(&Change::SessionEnded {
        session: a,
        reason: LeaveReason::ConnectionLost,
        disconnect: Some("GHOST command used by bob".into()),
        at: at(50),
    });
    assert_eq!(applied.ended, Some((a, None)));
    assert_eq!(applied.effects.len(), 2);
    assert!(
        matches!(&applied.effects[0].event.kind, EventKind::Disconnected { reason } if reason.starts_with("GHOST"))
    );
    assert_eq!(sessions_of(&applied.effects[0].audience), [a]);
    assert!(matches!(
        &applied.effects[1].event.kind,
        EventKind::Quit {
            reason: LeaveReason::ConnectionLost,
            ..
        }
    ));
    assert_eq!(sessions_of(&applied.effects[1].audience), [b]);
    assert_eq!(applied.deleted_rooms, [(Arc::from("solo"), a)]);
    assert!(!state.sessions.contains_key(&a) && !state.nicks.contains_key("alice"));
    assert_eq!(state.whowas.back().map(|d| d.at), Some(at(50)));
    // At shutdown nobody is told of anyone.
    let applied = state.apply(&Change::SessionEnded {
        session: b,
        reason: LeaveReason::ServerShutdown,
        disconnect: None,
        at: at(51),
    });
    assert!(applied.effects.is_empty());
    assert_eq!(state.session_count(), 1);
    let _ = c;
}

#[test]
fn a_change_that_no_longer_fits_changes_nothing() {
    let mut state = State::default();
    let a = start(&mut state, 1, Some("alice"));
    let b = start(&mut state, 2, Some("bob"));
    let before = format!("{state:?}");
    for change in [
        Change::Parted {
            session: a,
            room: room("nowhere"),
            message: None,
            at: at(3),
        },
        // A join to a room that is gone, not creating it.
        Change::Joined {
            session: a,
            room: room("gone"),
            status: MemberStatus::default(),
            creates: false,
            at: at(3),
        },
        // A nick someone else holds.
        Change::NickSet {
            session: b,
            nick: nick("Alice"),
            at: at(3),
        },
        // A session that exists already.
        Change::SessionStarted {
            session: a,
            host: "10.9.9.9".into(),
            user: "x".into(),
            realname: "x".into(),
            at: at(9),
            sink: None,
        },
        Change::NickSet {
            session: id(99),
            nick: nick("ghost"),
            at: at(3),
        },
        Change::SessionEnded {
            session: id(99),
            reason: LeaveReason::ConnectionLost,
            disconnect: None,
            at: at(1),
        },
    ] {
        let applied = state.apply(&change);
        assert!(applied.effects.is_empty());
    }
    assert_eq!(format!("{state:?}"), before);
}

/// One step of a random session script, by session number `who` (of a few).
#[derive(Debug, Clone)]
enum Step {
    Start,
    User,
    Nick(u8),
    Join(u8),
    Part(u8),
    Say(u8),
    Direct(u8),
    Tags(u8),
    Topic(u8),
    Away(bool),
    Realname,
    Invisible(bool),
    Oper(bool),
    Mode(bool, bool),
    Wallops,
    Account(bool),
    Register(u8),
    Modes(u8, u8),
    Invite(u8, u8),
    Kick(u8, u8),
    Ghost(u8),
    Welcome,
    Monitor(u8, bool),
    Host(u8),
    Metadata(u8, bool),
    Subscribe(u8, bool),
    End,
}

fn step() -> impl Strategy<Value = (u8, Step)> {
    let step = prop_oneof![
        Just(Step::Start),
        Just(Step::User),
        (0..6u8).prop_map(Step::Nick),
        (0..3u8).prop_map(Step::Join),
        (0..3u8).prop_map(Step::Part),
        (0..3u8).prop_map(Step::Say),
        (0..4u8).prop_map(Step::Direct),
        (0..3u8).prop_map(Step::Tags),
        (0..3u8).prop_map(Step::Topic),
        any::<bool>().prop_map(Step::Away),
        Just(Step::Realname),
        any::<bool>().prop_map(Step::Invisible),
        any::<bool>().prop_map(Step::Oper),
        (any::<bool>(), any::<bool>()).prop_map(|(m, s)| Step::Mode(m, s)),
        Just(Step::Wallops),
        any::<bool>().prop_map(Step::Account),
        (0..6u8).prop_map(Step::Register),
        ((0..3u8), (0..8u8)).prop_map(|(r, m)| Step::Modes(r, m)),
        ((0..4u8), (0..3u8)).prop_map(|(t, r)| Step::Invite(t, r)),
        ((0..4u8), (0..3u8)).prop_map(|(t, r)| Step::Kick(t, r)),
        (0..6u8).prop_map(Step::Ghost),
        Just(Step::Welcome),
        ((0..6u8), any::<bool>()).prop_map(|(i, a)| Step::Monitor(i, a)),
        (0..6u8).prop_map(Step::Host),
        ((0..3u8), any::<bool>()).prop_map(|(r, u)| Step::Metadata(r, u)),
        ((0..3u8), any::<bool>()).prop_map(|(k, s)| Step::Subscribe(k, s)),
        Just(Step::End),
    ];
    ((0..4u8), step)
}

const NICKS: [&str; 6] = ["alice", "Bob", "carol", "dave", "ALICE", "eve"];
const ROOMS: [&str; 3] = ["tea", "Coffee", "#juice"];

/// Decides one step against the state, as the hub would: the change it makes, if any.
fn decide(state: &State, who: u8, step: &Step, clock: u64) -> Option<Change> {
    let session = id(u64::from(who) + 1);
    let now = at(clock);
    let message_id = MessageId::new(1_764_000_000_000 + clock, NodeId::default(), 0);
    let nick_of = |i: u8| nick(NICKS[usize::from(i) % NICKS.len()]);
    let room_of = |i: u8| room(ROOMS[usize::from(i) % ROOMS.len()]);
    match step {
        Step::Start => (!state.sessions.contains_key(&session)).then(|| Change::SessionStarted {
            session,
            host: format!("10.0.0.{who}").into(),
            user: "*".into(),
            realname: "".into(),
            at: now,
            sink: None,
        }),
        Step::User => state
            .decide_user(session, "~u".into(), format!("user {who}").into())
            .ok(),
        Step::Nick(i) => state.decide_nick(session, &nick_of(*i), now).ok().flatten(),
        Step::Join(r) => state
            .decide_join(
                session,
                &room_of(*r),
                None,
                true,
                RoomLimits::default(),
                now,
            )
            .ok(),
        Step::Part(r) => state.decide_part(session, &room_of(*r), None, now).ok(),
        Step::Say(r) => state
            .decide_say(
                session,
                SayTarget::Room(room_of(*r)),
                MessageKind::Normal,
                text("hello"),
                None,
                message_id,
                now,
            )
            .ok()
            .map(|route| route.change),
        Step::Direct(t) => state
            .decide_say(
                session,
                SayTarget::Nick(nick_of(*t)),
                MessageKind::Action,
                text("waves"),
                Some("+draft/reply=1".into()),
                message_id,
                now,
            )
            .ok()
            .map(|route| route.change),
        Step::Tags(r) => state
            .decide_tags(
                session,
                SayTarget::Room(room_of(*r)),
                "+typing=active".into(),
                message_id,
                now,
            )
            .ok(),
        Step::Topic(r) => state
            .decide_topic(session, &room_of(*r), Some(text("a topic")), now)
            .ok(),
        Step::Away(is_away) => state
            .decide_away(session, is_away.then(|| text("out")), now)
            .ok(),
        Step::Realname => state
            .decide_realname(session, format!("real {clock}").into(), now)
            .ok(),
        Step::Invisible(is_invisible) => state.decide_invisible(session, *is_invisible).ok(),
        Step::Oper(is_oper) => state
            .decide_oper(session, is_oper.then(|| "admin".into()))
            .ok()
            .flatten(),
        Step::Mode(is_bot, is_set) => {
            let mode = if *is_bot {
                UserMode::Bot
            } else {
                UserMode::Wallops
            };
            state
                .decide_user_mode(session, mode, *is_set)
                .ok()
                .flatten()
        }
        Step::Wallops => state.decide_wallops(session, text("hear"), now).ok(),
        Step::Account(is_in) => {
            let name = state.nick_of(session).ok().flatten()?;
            state
                .decide_account(session, is_in.then(|| name.as_str().into()), now)
                .ok()
        }
        Step::Register(i) => Some(if state.is_registered(nick_of(*i).key()) {
            Change::AccountDropped {
                key: nick_of(*i).shared_key(),
            }
        } else {
            Change::AccountRegistered {
                key: nick_of(*i).shared_key(),
            }
        }),
        Step::Modes(r, m) => {
            let target = nick_of(*m % 4);
            let change = match m {
                0 => ModeChange {
                    is_set: true,
                    mode: RoomMode::Moderated,
                },
                1 => ModeChange {
                    is_set: false,
                    mode: RoomMode::TopicLock,
                },
                2 => ModeChange {
                    is_set: true,
                    mode: RoomMode::Ban("*!*@10.0.0.3".into()),
                },
                3 => ModeChange {
                    is_set: false,
                    mode: RoomMode::Ban("*!*@10.0.0.3".into()),
                },
                4 => ModeChange {
                    is_set: true,
                    mode: RoomMode::InviteOnly,
                },
                5 => ModeChange {
                    is_set: true,
                    mode: RoomMode::Limit(2),
                },
                6 => ModeChange {
                    is_set: true,
                    mode: RoomMode::Operator(target),
                },
                _ => ModeChange {
                    is_set: true,
                    mode: RoomMode::Voice(target),
                },
            };
            state
                .decide_modes(session, &room_of(*r), vec![change], now)
                .ok()?
                .change
        }
        Step::Invite(t, r) => state
            .decide_invite(session, &nick_of(*t), &room_of(*r), now)
            .ok()
            .map(|(change, _)| change),
        Step::Kick(t, r) => state
            .decide_kick(session, &room_of(*r), &nick_of(*t), None, now)
            .ok(),
        Step::Ghost(i) => state.decide_ghost(session, &nick_of(*i), now).ok(),
        Step::Welcome => state.decide_welcome(session, now).ok().flatten(),
        Step::Metadata(r, is_user) => {
            let target = if *is_user {
                MetadataTarget::User(session)
            } else {
                MetadataTarget::Room(room_of(*r))
            };
            let value = (!clock.is_multiple_of(3)).then(|| format!("v{clock}").into());
            state
                .decide_metadata(session, target, format!("k{r}").into(), value, 2, now)
                .ok()
                .flatten()
        }
        Step::Subscribe(k, true) => state
            .decide_metadata_subscribe(session, &[format!("k{k}").into()], 2)
            .ok()
            .and_then(|(change, _)| change),
        Step::Subscribe(k, false) => {
            state
                .sessions
                .contains_key(&session)
                .then(|| Change::MetadataSubscribed {
                    session,
                    keys: vec![format!("k{k}").into()],
                    is_subscribed: false,
                })
        }
        Step::Host(i) => state
            .decide_host(
                session,
                &nick_of(*i),
                "v".into(),
                format!("h{clock}.example").into(),
                now,
            )
            .ok(),
        Step::Monitor(i, is_add) => {
            if *is_add {
                state
                    .decide_monitor_add(session, &[nick_of(*i)], 2)
                    .ok()
                    .and_then(|(change, _)| change)
            } else if *i == 0 {
                state.decide_monitor_remove(session, None).ok().flatten()
            } else {
                state
                    .decide_monitor_remove(session, Some(vec![nick_of(*i)]))
                    .ok()
                    .flatten()
            }
        }
        Step::End => state.decide_end(session, LeaveReason::ConnectionLost, now),
    }
}

proptest! {
    /// Replaying the changes a random script produced, through their serialized form,
    /// on an empty state builds the same state: applying needs nothing but the state and
    /// the change.
    #[test]
    fn replaying_the_changes_of_a_script_rebuilds_the_same_state(
        script in proptest::collection::vec(step(), 1..120)
    ) {
        let mut live = State::default();
        let mut log = Vec::new();
        for (clock, (who, step)) in script.iter().enumerate() {
            let clock = u64::try_from(clock).unwrap_or(0);
            if let Some(change) = decide(&live, *who, step, clock) {
                live.apply(&change);
                log.push(serde_json::to_string(&Versioned::new(change)).unwrap());
            }
        }
        let mut replayed = State::default();
        for line in &log {
            let versioned: Versioned = serde_json::from_str(line).unwrap();
            replayed.apply(&versioned.into_change().unwrap());
        }
        prop_assert_eq!(&replayed, &live);
    }
}

#[test]
fn a_look_alike_of_a_held_or_registered_name_is_taken_but_not_of_ones_own() {
    let mut state = State::default();
    // `scope` is connected, `pace` registered (nobody holds it now).
    let scope = start(&mut state, 1, Some("scope"));
    state.apply(&Change::AccountRegistered { key: "pace".into() });
    let cyrillic_scope = nick("\u{455}\u{441}\u{43e}\u{440}\u{435}");
    let cyrillic_pace = nick("\u{440}\u{430}\u{441}\u{435}");
    let other = start(&mut state, 2, None);
    for look_alike in [&cyrillic_scope, &cyrillic_pace] {
        assert_eq!(
            state.decide_nick(other, look_alike, at(5)),
            Err(Refusal::NickInUse(look_alike.clone())),
            "{look_alike}"
        );
    }
    // Its holder may take it (the look-alike of its own nick), and once `scope` goes,
    // anyone may.
    assert!(state.decide_nick(scope, &cyrillic_scope, at(5)).is_ok());
    state.apply(&Change::SessionEnded {
        session: scope,
        reason: teahouse_types::LeaveReason::ConnectionLost,
        disconnect: None,
        at: at(6),
    });
    assert!(state.decide_nick(other, &cyrillic_scope, at(7)).is_ok());
    // The account's owner may take its look-alike too.
    state.apply(&Change::AccountSet {
        session: other,
        account: Some("pace".into()),
        at: at(8),
    });
    assert!(state.decide_nick(other, &cyrillic_pace, at(9)).is_ok());
}

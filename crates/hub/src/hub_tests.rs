//! Unit tests of the hub's rules, with a recording sink.

use std::sync::{Arc, Mutex};

use teahouse_types::{EventKind, HubEvent, LeaveReason, MessageKind, MessageText, Nick, RoomName};

use super::*;
use crate::sink::{EventSink, Overflow};

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<EventKind>>,
    capacity: Option<usize>,
}

impl EventSink for Recorder {
    fn deliver(&self, event: &Arc<HubEvent>) -> Result<(), Overflow> {
        let mut events = self.events.lock().unwrap();
        if self.capacity.is_some_and(|cap| events.len() >= cap) {
            return Err(Overflow);
        }
        events.push(event.kind.clone());
        Ok(())
    }
}

impl Recorder {
    fn take(&self) -> Vec<EventKind> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
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

fn user(hub: &Hub, name: &str) -> (SessionGuard, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let guard = hub.attach(rec.clone());
    hub.set_nick(guard.id(), nick(name)).unwrap();
    hub.join(guard.id(), room("lobby")).unwrap();
    (guard, rec)
}

#[test]
fn nick_is_unique_casefolded() {
    let hub = Hub::new(HubConfig::default());
    let a = hub.attach(Arc::new(Recorder::default()));
    let b = hub.attach(Arc::new(Recorder::default()));
    assert_eq!(
        hub.set_nick(a.id(), nick("Alice")),
        Ok(NickOutcome::Registered(nick("Alice")))
    );
    assert_eq!(
        hub.set_nick(b.id(), nick("ＡＬＩＣＥ")),
        Err(Refusal::NickInUse(nick("alice")))
    );
    drop(a);
    assert!(hub.set_nick(b.id(), nick("alice")).is_ok());
}

#[test]
fn join_tells_everyone_and_lists_members() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let rb = Arc::new(Recorder::default());
    let b = hub.attach(rb.clone());
    assert_eq!(hub.join(b.id(), room("lobby")), Err(Refusal::NotRegistered));
    hub.set_nick(b.id(), nick("bob")).unwrap();
    let outcome = hub.join(b.id(), room("Lobby")).unwrap();
    assert_eq!(outcome.room.as_str(), "lobby");
    assert_eq!(outcome.members, vec![nick("alice"), nick("bob")]);
    assert!(
        matches!(&ra.take()[..], [EventKind::Joined { nick: n, .. }, EventKind::Joined { nick: m, .. }] if *n == nick("alice") && *m == nick("bob"))
    );
    assert!(matches!(&rb.take()[..], [EventKind::Joined { nick: n, .. }] if *n == nick("bob")));
    assert_eq!(
        hub.join(a.id(), room("lobby")),
        Err(Refusal::AlreadyInRoom(room("lobby")))
    );
}

#[test]
fn messages_reach_others_not_sender() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let (_b, rb) = user(&hub, "bob");
    ra.take();
    rb.take();
    hub.say(
        a.id(),
        SayTarget::Room(room("lobby")),
        MessageKind::Normal,
        text("hi"),
    )
    .unwrap();
    assert!(ra.take().is_empty());
    assert!(
        matches!(&rb.take()[..], [EventKind::Message { from, text: t, .. }] if *from == nick("alice") && t.as_str() == "hi")
    );
    assert_eq!(
        hub.say(
            a.id(),
            SayTarget::Room(room("nowhere")),
            MessageKind::Normal,
            text("x")
        ),
        Err(Refusal::NoSuchRoom(room("nowhere")))
    );
    assert_eq!(
        hub.say(
            a.id(),
            SayTarget::Nick(nick("carol")),
            MessageKind::Normal,
            text("x")
        ),
        Err(Refusal::NoSuchNick(nick("carol")))
    );
}

#[test]
fn direct_message_reaches_only_its_target() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let (_b, rb) = user(&hub, "bob");
    let (_c, rc) = user(&hub, "carol");
    for r in [&ra, &rb, &rc] {
        r.take();
    }
    let sent = hub
        .say(
            a.id(),
            SayTarget::Nick(nick("BOB")),
            MessageKind::Normal,
            text("psst"),
        )
        .unwrap();
    assert_eq!(sent.target, MessageTarget::Direct(nick("bob")));
    assert_eq!(rb.take().len(), 1);
    assert!(ra.take().is_empty());
    assert!(rc.take().is_empty());
}

#[test]
fn quit_is_announced_once_and_frees_the_nick() {
    let hub = Hub::new(HubConfig::default());
    let (a, _ra) = user(&hub, "alice");
    let (b, rb) = user(&hub, "bob");
    hub.join(a.id(), room("games")).unwrap();
    hub.join(b.id(), room("games")).unwrap();
    rb.take();
    a.quit(LeaveReason::Requested(None));
    let events = rb.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(&events[0], EventKind::Quit { nick: n, .. } if *n == nick("alice")));
    assert_eq!(hub.members(&room("games")).unwrap(), vec![nick("bob")]);
    assert_eq!(hub.session_count(), 1);
    drop(b);
    assert!(hub.rooms().is_empty());
    assert_eq!(hub.session_count(), 0);
}

#[test]
fn dropped_guard_counts_as_connection_lost() {
    let hub = Hub::new(HubConfig::default());
    let (a, _ra) = user(&hub, "alice");
    let (_b, rb) = user(&hub, "bob");
    rb.take();
    drop(a);
    assert!(matches!(
        &rb.take()[..],
        [EventKind::Quit {
            reason: LeaveReason::ConnectionLost,
            ..
        }]
    ));
}

#[test]
fn overflowing_session_is_removed_and_others_still_get_everything() {
    let hub = Hub::new(HubConfig::default());
    let (a, _ra) = user(&hub, "alice");
    let (_b, rb) = user(&hub, "bob");
    let slow = Arc::new(Recorder {
        capacity: Some(3),
        ..Recorder::default()
    });
    let s = hub.attach(slow.clone());
    hub.set_nick(s.id(), nick("slow")).unwrap();
    hub.join(s.id(), room("lobby")).unwrap();
    rb.take();
    for i in 0..5 {
        hub.say(
            a.id(),
            SayTarget::Room(room("lobby")),
            MessageKind::Normal,
            text(&i.to_string()),
        )
        .unwrap();
    }
    let got = rb.take();
    let messages = got
        .iter()
        .filter(|e| matches!(e, EventKind::Message { .. }))
        .count();
    assert_eq!(messages, 5);
    assert!(got.iter().any(|e| matches!(e, EventKind::Quit { nick: n, reason: LeaveReason::SendQueueExceeded } if *n == nick("slow"))));
    assert_eq!(
        hub.members(&room("lobby")).unwrap(),
        vec![nick("alice"), nick("bob")]
    );
}

#[test]
fn rename_is_told_to_room_and_self() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let (_b, rb) = user(&hub, "bob");
    ra.take();
    rb.take();
    assert_eq!(
        hub.set_nick(a.id(), nick("Bob")),
        Err(Refusal::NickInUse(nick("bob")))
    );
    hub.set_nick(a.id(), nick("alicia")).unwrap();
    for r in [&ra, &rb] {
        assert!(
            matches!(&r.take()[..], [EventKind::NickChanged { old, new }] if *old == nick("alice") && *new == nick("alicia"))
        );
    }
    assert_eq!(
        hub.set_nick(a.id(), nick("alicia")),
        Ok(NickOutcome::Unchanged(nick("alicia")))
    );
}

#[test]
fn part_tells_leaver_and_members_and_deletes_empty_room() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let (b, rb) = user(&hub, "bob");
    ra.take();
    rb.take();
    hub.part(a.id(), &room("lobby"), None).unwrap();
    assert_eq!(ra.take().len(), 1);
    assert_eq!(rb.take().len(), 1);
    assert_eq!(
        hub.part(a.id(), &room("lobby"), None),
        Err(Refusal::NotInRoom(room("lobby")))
    );
    hub.part(b.id(), &room("lobby"), None).unwrap();
    assert!(hub.rooms().is_empty());
}

#[test]
fn too_long_message_is_refused() {
    let hub = Hub::new(HubConfig {
        max_message_bytes: 4,
    });
    let (a, _ra) = user(&hub, "alice");
    assert_eq!(
        hub.say(
            a.id(),
            SayTarget::Room(room("lobby")),
            MessageKind::Normal,
            text("hello")
        ),
        Err(Refusal::MessageTooLong { max_bytes: 4 })
    );
}

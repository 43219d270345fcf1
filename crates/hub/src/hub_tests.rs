//! Unit tests of the hub's rules, with a recording sink.

use std::sync::{Arc, Mutex};

use teahouse_types::{
    EventKind, HubEvent, LeaveReason, MessageKind, MessageTarget, MessageText, ModeChange, Nick,
    RoomMode, RoomName,
};

use super::*;
use crate::error::{CannotSend, Refusal};
use crate::state::RoomMember;
use teahouse_types::{EventSink, Overflow, ReplyPlace};

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

/// Runs a hub command that claims a name: with local claims it is done at its first poll.
fn now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a local claim waited"),
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

fn origin() -> SessionOrigin {
    SessionOrigin {
        host: "127.0.0.1".into(),
        user: "u".into(),
        realname: "Real".into(),
    }
}

fn user(hub: &Hub, name: &str) -> (SessionGuard, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let guard = hub.attach(rec.clone(), origin());
    now(hub.set_nick(guard.id(), nick(name))).unwrap();
    now(hub.join(guard.id(), room("lobby"), None)).unwrap();
    (guard, rec)
}

fn nicks(members: Vec<RoomMember>) -> Vec<Nick> {
    members
        .into_iter()
        .map(|m| m.profile.nick.clone())
        .collect()
}

#[test]
fn nick_is_unique_casefolded() {
    let hub = Hub::new(HubConfig::default());
    let a = hub.attach(Arc::new(Recorder::default()), origin());
    let b = hub.attach(Arc::new(Recorder::default()), origin());
    assert_eq!(
        now(hub.set_nick(a.id(), nick("Alice"))),
        Ok(NickOutcome::Registered(nick("Alice")))
    );
    assert_eq!(
        now(hub.set_nick(b.id(), nick("ＡＬＩＣＥ"))),
        Err(Refusal::NickInUse(nick("alice")))
    );
    drop(a);
    assert!(now(hub.set_nick(b.id(), nick("alice"))).is_ok());
}

#[test]
fn join_tells_everyone_and_lists_members() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let rb = Arc::new(Recorder::default());
    let b = hub.attach(rb.clone(), origin());
    assert_eq!(
        now(hub.join(b.id(), room("lobby"), None)),
        Err(Refusal::NotRegistered)
    );
    now(hub.set_nick(b.id(), nick("bob"))).unwrap();
    let outcome = now(hub.join(b.id(), room("Lobby"), None)).unwrap();
    assert_eq!(outcome.room.as_str(), "lobby");
    assert_eq!(nicks(outcome.members), vec![nick("alice"), nick("bob")]);
    assert!(
        matches!(&ra.take()[..], [EventKind::Joined { who: n, .. }, EventKind::Joined { who: m, .. }] if n.nick == nick("alice") && m.nick == nick("bob"))
    );
    assert!(matches!(&rb.take()[..], [EventKind::Joined { who: n, .. }] if n.nick == nick("bob")));
    assert_eq!(
        now(hub.join(a.id(), room("lobby"), None)),
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
        None,
    )
    .unwrap();
    assert!(ra.take().is_empty());
    assert!(
        matches!(&rb.take()[..], [EventKind::Message { from, text: t, .. }] if from.nick == nick("alice") && t.as_str() == "hi")
    );
    assert_eq!(
        hub.say(
            a.id(),
            SayTarget::Room(room("nowhere")),
            MessageKind::Normal,
            text("x"),
            None
        )
        .err(),
        Some(Refusal::NoSuchRoom(room("nowhere")))
    );
    assert_eq!(
        hub.say(
            a.id(),
            SayTarget::Nick(nick("carol")),
            MessageKind::Normal,
            text("x"),
            None
        )
        .err(),
        Some(Refusal::NoSuchNick(nick("carol")))
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
            None,
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
    now(hub.join(a.id(), room("games"), None)).unwrap();
    now(hub.join(b.id(), room("games"), None)).unwrap();
    rb.take();
    a.quit(LeaveReason::Requested(None));
    let events = rb.take();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(&events[0], EventKind::Quit { who: n, .. } if n.nick == nick("alice")));
    assert_eq!(
        nicks(hub.members(&room("games")).unwrap()),
        vec![nick("bob")]
    );
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
    let s = hub.attach(slow.clone(), origin());
    now(hub.set_nick(s.id(), nick("slow"))).unwrap();
    now(hub.join(s.id(), room("lobby"), None)).unwrap();
    rb.take();
    for i in 0..5 {
        hub.say(
            a.id(),
            SayTarget::Room(room("lobby")),
            MessageKind::Normal,
            text(&i.to_string()),
            None,
        )
        .unwrap();
    }
    let got = rb.take();
    let messages = got
        .iter()
        .filter(|e| matches!(e, EventKind::Message { .. }))
        .count();
    assert_eq!(messages, 5);
    assert!(got.iter().any(|e| matches!(e, EventKind::Quit { who: n, reason: LeaveReason::SendQueueExceeded } if n.nick == nick("slow"))));
    assert_eq!(
        nicks(hub.members(&room("lobby")).unwrap()),
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
        now(hub.set_nick(a.id(), nick("Bob"))),
        Err(Refusal::NickInUse(nick("bob")))
    );
    now(hub.set_nick(a.id(), nick("alicia"))).unwrap();
    for r in [&ra, &rb] {
        assert!(
            matches!(&r.take()[..], [EventKind::NickChanged { old, new }] if old.nick == nick("alice") && *new == nick("alicia"))
        );
    }
    assert_eq!(
        now(hub.set_nick(a.id(), nick("alicia"))),
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
        ..HubConfig::default()
    });
    let (a, _ra) = user(&hub, "alice");
    assert_eq!(
        hub.say(
            a.id(),
            SayTarget::Room(room("lobby")),
            MessageKind::Normal,
            text("hello"),
            None
        )
        .err(),
        Some(Refusal::MessageTooLong { max_bytes: 4 })
    );
}

fn mode(is_set: bool, mode: RoomMode) -> ModeChange {
    ModeChange { is_set, mode }
}

#[test]
fn creator_is_operator_and_modes_gate_joining_and_speaking() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let (b, rb) = user(&hub, "bob");
    let members = hub.members(&room("lobby")).unwrap();
    assert!(members[0].status.is_operator && !members[1].status.is_operator);
    assert_eq!(
        hub.change_modes(
            b.id(),
            &room("lobby"),
            vec![mode(true, RoomMode::Moderated)]
        ),
        Err(Refusal::NotOperator(room("lobby")))
    );
    ra.take();
    rb.take();
    let outcome = hub
        .change_modes(
            a.id(),
            &room("lobby"),
            vec![
                mode(true, RoomMode::Moderated),
                mode(true, RoomMode::TopicLock),
                mode(true, RoomMode::Voice(nick("nobody"))),
            ],
        )
        .unwrap();
    assert_eq!(outcome.applied, vec![mode(true, RoomMode::Moderated)]);
    assert_eq!(outcome.refused.len(), 1);
    assert!(
        matches!(&rb.take()[..], [EventKind::ModesChanged { changes, .. }] if changes.len() == 1)
    );
    let hi = || MessageText::parse("hi").unwrap();
    assert!(matches!(
        hub.say(
            b.id(),
            SayTarget::Room(room("lobby")),
            MessageKind::Normal,
            hi(),
            None
        ),
        Err(Refusal::CannotSend {
            reason: CannotSend::Moderated,
            ..
        })
    ));
    hub.change_modes(
        a.id(),
        &room("lobby"),
        vec![mode(true, RoomMode::Voice(nick("bob")))],
    )
    .unwrap();
    assert!(
        hub.say(
            b.id(),
            SayTarget::Room(room("lobby")),
            MessageKind::Normal,
            hi(),
            None
        )
        .is_ok()
    );

    // Invite-only, key, limit, ban: each refuses, an invitation lets one in once.
    let (c, _rc) = {
        let rec = Arc::new(Recorder::default());
        let g = hub.attach(rec.clone(), origin());
        now(hub.set_nick(g.id(), nick("carol"))).unwrap();
        (g, rec)
    };
    hub.change_modes(
        a.id(),
        &room("lobby"),
        vec![mode(true, RoomMode::InviteOnly)],
    )
    .unwrap();
    assert_eq!(
        now(hub.join(c.id(), room("lobby"), None)).unwrap_err(),
        Refusal::InviteOnly(room("lobby"))
    );
    assert_eq!(
        hub.invite(b.id(), &nick("carol"), &room("lobby")),
        Err(Refusal::NotOperator(room("lobby")))
    );
    let invitation = hub.invite(a.id(), &nick("carol"), &room("lobby")).unwrap();
    assert_eq!(invitation.target, nick("carol"));
    now(hub.join(c.id(), room("lobby"), None)).unwrap();
    hub.part(c.id(), &room("lobby"), None).unwrap();
    assert_eq!(
        now(hub.join(c.id(), room("lobby"), None)).unwrap_err(),
        Refusal::InviteOnly(room("lobby"))
    );
    hub.change_modes(
        a.id(),
        &room("lobby"),
        vec![
            mode(false, RoomMode::InviteOnly),
            mode(true, RoomMode::Key("sesame".into())),
        ],
    )
    .unwrap();
    assert_eq!(
        now(hub.join(c.id(), room("lobby"), Some("nope"))).unwrap_err(),
        Refusal::BadKey(room("lobby"))
    );
    hub.change_modes(
        a.id(),
        &room("lobby"),
        vec![
            mode(false, RoomMode::Key("sesame".into())),
            mode(true, RoomMode::Limit(2)),
        ],
    )
    .unwrap();
    assert_eq!(
        now(hub.join(c.id(), room("lobby"), None)).unwrap_err(),
        Refusal::RoomFull(room("lobby"))
    );
    hub.change_modes(
        a.id(),
        &room("lobby"),
        vec![
            mode(false, RoomMode::Limit(2)),
            mode(true, RoomMode::Ban("CAROL!*@*".into())),
        ],
    )
    .unwrap();
    assert_eq!(
        now(hub.join(c.id(), room("lobby"), None)).unwrap_err(),
        Refusal::Banned(room("lobby"))
    );
    assert_eq!(hub.room_info(&room("lobby")).unwrap().bans.len(), 1);
}

#[test]
fn kick_removes_and_tells_everyone() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let (b, rb) = user(&hub, "bob");
    assert_eq!(
        hub.kick(b.id(), &room("lobby"), &nick("alice"), None),
        Err(Refusal::NotOperator(room("lobby")))
    );
    assert_eq!(
        hub.kick(a.id(), &room("lobby"), &nick("zed"), None),
        Err(Refusal::NoSuchNick(nick("zed")))
    );
    ra.take();
    rb.take();
    hub.kick(
        a.id(),
        &room("lobby"),
        &nick("BOB"),
        MessageText::parse("bye").ok(),
    )
    .unwrap();
    assert!(matches!(&rb.take()[..], [EventKind::Kicked { target, .. }] if *target == nick("bob")));
    assert_eq!(ra.take().len(), 1);
    assert_eq!(
        nicks(hub.members(&room("lobby")).unwrap()),
        vec![nick("alice")]
    );
}

#[test]
fn topic_lock_and_topic_events() {
    let hub = Hub::new(HubConfig::default());
    let (a, _ra) = user(&hub, "alice");
    let (b, rb) = user(&hub, "bob");
    let topic = MessageText::parse("tea time").unwrap();
    assert_eq!(
        hub.set_topic(b.id(), &room("lobby"), Some(topic.clone())),
        Err(Refusal::NotOperator(room("lobby")))
    );
    rb.take();
    hub.set_topic(a.id(), &room("lobby"), Some(topic.clone()))
        .unwrap();
    assert!(
        matches!(&rb.take()[..], [EventKind::TopicChanged { topic: Some(t), .. }] if *t == topic)
    );
    let info = hub.room_info(&room("lobby")).unwrap();
    assert_eq!(info.topic.unwrap().set_by.as_ref(), "alice!u@127.0.0.1");
}

#[test]
fn away_is_told_and_returned_for_direct_messages() {
    let hub = Hub::new(HubConfig::default());
    let (a, ra) = user(&hub, "alice");
    let (b, rb) = user(&hub, "bob");
    rb.take();
    hub.set_away(a.id(), MessageText::parse("lunch").ok())
        .unwrap();
    assert!(matches!(
        &rb.take()[..],
        [EventKind::AwayChanged { away: Some(_), .. }]
    ));
    assert!(
        ra.take()
            .iter()
            .all(|e| !matches!(e, EventKind::AwayChanged { .. }))
    );
    let sent = hub
        .say(
            b.id(),
            SayTarget::Nick(nick("alice")),
            MessageKind::Normal,
            MessageText::parse("x").unwrap(),
            None,
        )
        .unwrap();
    assert_eq!(sent.away.unwrap().as_str(), "lunch");
    assert_eq!(sent.target, MessageTarget::Direct(nick("alice")));
}

#[test]
fn whowas_remembers_departed_users() {
    let hub = Hub::new(HubConfig::default());
    let (a, _ra) = user(&hub, "alice");
    a.quit(LeaveReason::Requested(None));
    let gone = hub.whowas(&nick("ALICE"), 10);
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].profile.realname.as_ref(), "Real");
    assert_eq!(hub.stats().users, 0);
}

/// A sink that takes events until told to stop, then overflows.
struct Stalling {
    is_stalled: std::sync::atomic::AtomicBool,
}

impl EventSink for Stalling {
    fn deliver(&self, _event: &Arc<HubEvent>) -> Result<(), Overflow> {
        if self.is_stalled.load(std::sync::atomic::Ordering::Relaxed) {
            Err(Overflow)
        } else {
            Ok(())
        }
    }
}

#[test]
fn a_cascade_of_overflowing_sessions_is_worked_off_without_recursion() {
    // Deep enough that one stack frame per eviction (the old recursion) would be a risk,
    // small enough for a quick debug-build test (joins are quadratic: everyone hears each).
    const SLOW: usize = 1000;
    let hub = Hub::new(HubConfig::default());
    let (a, _ra) = user(&hub, "alice");
    let (_b, rb) = user(&hub, "bob");
    let mut slow = Vec::new();
    for i in 0..SLOW {
        let sink = Arc::new(Stalling {
            is_stalled: false.into(),
        });
        let guard = hub.attach(sink.clone(), origin());
        now(hub.set_nick(guard.id(), nick(&format!("s{i}")))).unwrap();
        now(hub.join(guard.id(), room("lobby"), None)).unwrap();
        slow.push((guard, sink));
    }
    rb.take();
    for (_, sink) in &slow {
        sink.is_stalled
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    // Every slow member overflows on this message; each eviction tells the room, which
    // overflows the others still there: a cascade thousands deep.
    hub.say(
        a.id(),
        SayTarget::Room(room("lobby")),
        MessageKind::Normal,
        text("hi"),
        None,
    )
    .unwrap();
    let quits = rb
        .take()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                EventKind::Quit {
                    reason: LeaveReason::SendQueueExceeded,
                    ..
                }
            )
        })
        .count();
    assert_eq!(quits, SLOW);
    assert_eq!(
        nicks(hub.members(&room("lobby")).unwrap()),
        vec![nick("alice"), nick("bob")]
    );
    assert_eq!(hub.session_count(), 2);
}

/// A hub keeping history in SQLite in memory, its journal delivered by `delivery_tasks`
/// tasks; run the writer to store and deliver what was queued.
async fn with_history(delivery_tasks: usize) -> (Hub, Option<HistoryWriter>) {
    let store = teahouse_store::Store::open(&teahouse_store::Location::Memory)
        .await
        .unwrap();
    let setup = StoreSetup {
        store,
        accounts: crate::AccountConfig::default(),
        registered: Vec::new(),
        history: Some(crate::HistoryConfig {
            delivery_tasks,
            ..crate::HistoryConfig::default()
        }),
        last_message_id: None,
        bans: Vec::new(),
    };
    Hub::with_store(HubConfig::default(), setup).unwrap()
}

/// With history on, messages reach the others through the journal after they are stored,
/// as runs of consecutive messages to one room: every recipient gets every other sender's
/// messages in the order they were accepted, never its own, and a member who joins
/// mid-burst gets only what was said after.
#[tokio::test]
async fn stored_messages_reach_everyone_in_order_in_runs_of_mixed_senders() {
    let (hub, writer) = with_history(2).await;
    let (a, ra) = user(&hub, "alice");
    let (b, rb) = user(&hub, "bob");
    let (_c, rc) = user(&hub, "carol");
    let say = |who: &SessionGuard, line: &str| {
        hub.say(
            who.id(),
            SayTarget::Room(room("lobby")),
            MessageKind::Normal,
            text(line),
            None,
        )
        .unwrap();
    };
    for i in 0..3 {
        say(&a, &format!("a{i}"));
        say(&b, &format!("b{i}"));
    }
    let (_d, rd) = user(&hub, "dave");
    say(&b, "b3");
    say(&a, "a3");
    // The writer has not run yet (this runtime has one thread): everything is queued.
    // Shutting it down stores and delivers all of it, then it returns.
    writer.unwrap().run(std::future::ready(())).await;
    let said = |rec: &Recorder| -> Vec<String> {
        rec.take()
            .into_iter()
            .filter_map(|kind| match kind {
                EventKind::Message { text, .. } => Some(text.as_str().to_owned()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(said(&ra), ["b0", "b1", "b2", "b3"]);
    assert_eq!(said(&rb), ["a0", "a1", "a2", "a3"]);
    assert_eq!(said(&rc), ["a0", "b0", "a1", "b1", "a2", "b2", "b3", "a3"]);
    assert_eq!(said(&rd), ["b3", "a3"]);
}

/// Claims as a cluster would answer them: later (a future, not at once), refusing the
/// names in `taken`, and keeping what it granted until it is given back.
#[derive(Default)]
struct Cluster {
    taken: Vec<teahouse_cluster::Claim>,
    held: Mutex<Vec<(teahouse_cluster::Claim, SessionId)>>,
}

impl teahouse_cluster::Claims for Cluster {
    fn claim(
        &self,
        claim: &teahouse_cluster::Claim,
        owner: SessionId,
    ) -> teahouse_cluster::Claiming {
        let mut held = self.held.lock().unwrap();
        let granted =
            !self.taken.contains(claim) && held.iter().all(|(c, o)| c != claim || *o == owner);
        if granted && !held.contains(&(claim.clone(), owner)) {
            held.push((claim.clone(), owner));
        }
        let answer = if granted {
            Ok(())
        } else {
            Err(teahouse_cluster::Refused::Taken)
        };
        teahouse_cluster::Claiming::Later(Box::pin(async move {
            tokio::task::yield_now().await;
            answer
        }))
    }

    fn release(&self, claim: &teahouse_cluster::Claim, owner: SessionId) {
        self.held
            .lock()
            .unwrap()
            .retain(|(c, o)| !(c == claim && *o == owner));
    }
}

impl Cluster {
    fn holds(&self) -> Vec<teahouse_cluster::Claim> {
        let mut held: Vec<_> = self
            .held
            .lock()
            .unwrap()
            .iter()
            .map(|(c, _)| c.clone())
            .collect();
        held.sort_by_key(|c| format!("{c:?}"));
        held
    }
}

fn nick_claim(s: &str) -> teahouse_cluster::Claim {
    teahouse_cluster::Claim::Nick(s.into())
}

fn room_claim(s: &str) -> teahouse_cluster::Claim {
    teahouse_cluster::Claim::Room(s.into())
}

/// A nick another node holds is refused as in use, and nothing is left claimed; a rename
/// gives the old nick back, a case change claims nothing new, and leaving gives back the
/// nick and the rooms it emptied.
#[tokio::test]
async fn nicks_and_rooms_are_claimed_across_nodes_and_given_back() {
    let cluster = Arc::new(Cluster {
        taken: vec![nick_claim("bob"), room_claim("busy")],
        ..Cluster::default()
    });
    let hub = Hub::build(
        HubConfig::default(),
        None,
        None,
        None,
        cluster.clone(),
        None,
    );
    let a = hub.attach(Arc::new(Recorder::default()), origin());
    assert_eq!(
        hub.set_nick(a.id(), nick("Bob")).await,
        Err(Refusal::NickInUse(nick("bob")))
    );
    assert!(cluster.holds().is_empty());
    assert_eq!(
        hub.set_nick(a.id(), nick("alice")).await,
        Ok(NickOutcome::Registered(nick("alice")))
    );
    assert_eq!(cluster.holds(), [nick_claim("alice")]);
    hub.set_nick(a.id(), nick("Alice")).await.unwrap();
    hub.set_nick(a.id(), nick("alicia")).await.unwrap();
    assert_eq!(cluster.holds(), [nick_claim("alicia")]);
    // The founder of a new room is its operator once the cluster agrees; a room another
    // node founded (here: claimed elsewhere) is joined without operator status.
    let outcome = hub.join(a.id(), room("tea"), None).await.unwrap();
    assert!(outcome.is_new && outcome.members[0].status.is_operator);
    let outcome = hub.join(a.id(), room("busy"), None).await.unwrap();
    assert!(!outcome.members[0].status.is_operator);
    assert_eq!(cluster.holds(), [nick_claim("alicia"), room_claim("tea")]);
    a.quit(LeaveReason::Requested(None));
    assert!(cluster.holds().is_empty(), "{:?}", cluster.holds());
}

/// A session's own copy of its command's effect comes before the command's replies, and
/// a reply to a later command waits until the earlier command's effects have reached
/// everyone: here, a join behind a message that is not stored yet.
#[tokio::test]
async fn own_copies_come_in_place_and_later_replies_wait_for_earlier_effects() {
    let (hub, writer) = with_history(1).await;
    let outbox = Arc::new(held::Queue::default());
    let a = hub.attach(outbox.clone(), origin());
    let (_b, rb) = user(&hub, "bob");
    outbox.begin_command();
    now(hub.set_nick(a.id(), nick("alice"))).unwrap();
    now(hub.join(a.id(), room("lobby"), None)).unwrap();
    outbox.reply("names");
    // The join was the command's own: its replies did not wait for it.
    assert_eq!(outbox.seen(), ["joined lobby", "names"]);
    outbox.begin_command();
    hub.say(
        a.id(),
        SayTarget::Room(room("lobby")),
        MessageKind::Normal,
        text("hi"),
        None,
    )
    .unwrap();
    outbox.begin_command();
    outbox.reply("pong");
    assert_eq!(outbox.seen(), ["joined lobby", "names"], "a reply overtook");
    rb.take();
    writer.unwrap().run(std::future::ready(())).await;
    // Bob hears of alice's join, then of her message, both from the journal, before her
    // reply to the command after them goes.
    assert!(matches!(
        &rb.take()[..],
        [EventKind::Joined { .. }, EventKind::Message { .. }]
    ));
    assert_eq!(outbox.seen(), ["joined lobby", "names", "pong"]);
}

/// A stand-in for a face's outbox (the hub may not depend on the wire crate, whose
/// `Outbox` has its own tests): what it has queued for its client, with replies held behind
/// the session's effects the same way.
mod held {
    use super::*;

    #[derive(Default)]
    pub(super) struct Queue {
        state: Mutex<QueueState>,
    }

    #[derive(Default)]
    struct QueueState {
        seen: Vec<String>,
        issued: u32,
        released: u32,
        barrier: u32,
        waiting: Vec<(u32, String)>,
    }

    impl Queue {
        pub(super) fn begin_command(&self) {
            let mut state = self.state.lock().unwrap();
            state.barrier = state.issued;
        }

        pub(super) fn reply(&self, line: &str) {
            self.push(line.to_owned(), None);
        }

        pub(super) fn seen(&self) -> Vec<String> {
            self.state.lock().unwrap().seen.clone()
        }

        fn push(&self, line: String, after: Option<ReplyPlace>) {
            let mut state = self.state.lock().unwrap();
            let after = after.map_or(state.barrier, |place| place.0);
            if state.released.wrapping_sub(after) < 1 << 31 {
                state.seen.push(line);
            } else {
                state.waiting.push((after, line));
            }
        }
    }

    fn line(event: &HubEvent) -> String {
        match &event.kind {
            EventKind::Joined { room, .. } => format!("joined {room}"),
            other => format!("{other:?}"),
        }
    }

    impl EventSink for Queue {
        fn deliver(&self, event: &Arc<HubEvent>) -> Result<(), Overflow> {
            self.state.lock().unwrap().seen.push(line(event));
            Ok(())
        }

        fn deliver_own(
            &self,
            event: &Arc<HubEvent>,
            after: Option<ReplyPlace>,
        ) -> Result<(), Overflow> {
            self.push(line(event), after);
            Ok(())
        }

        fn hold(&self) -> ReplyPlace {
            let mut state = self.state.lock().unwrap();
            state.issued = state.issued.wrapping_add(1);
            ReplyPlace(state.barrier)
        }

        fn release(&self) {
            let mut state = self.state.lock().unwrap();
            state.released = state.released.wrapping_add(1);
            let released = state.released;
            let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut state.waiting)
                .into_iter()
                .partition(|(after, _)| released.wrapping_sub(*after) < 1 << 31);
            state.waiting = waiting;
            state.seen.extend(ready.into_iter().map(|(_, line)| line));
        }
    }
}

/// A bus that keeps what it is given, for a test to carry to another hub.
struct TestBus {
    peers: teahouse_cluster::NodeSet,
    sent: Mutex<Vec<(teahouse_cluster::NodeSet, Change)>>,
    snapshots: Mutex<Vec<(teahouse_cluster::NodeSet, Vec<Change>)>>,
}

impl teahouse_cluster::Bus for TestBus {
    fn peers(&self) -> teahouse_cluster::NodeSet {
        self.peers
    }

    fn send(&self, to: teahouse_cluster::NodeSet, change: Change) {
        self.sent.lock().unwrap().push((to, change));
    }

    fn send_snapshot(&self, to: teahouse_cluster::NodeSet, changes: Vec<Change>) {
        self.snapshots.lock().unwrap().push((to, changes));
    }
}

fn node(n: u8) -> NodeId {
    NodeId::new(n).unwrap()
}

/// A hub that is node `n` of a cluster of nodes 1, 2 and 3, with its bus.
fn cluster_node(n: u8) -> (Hub, Arc<TestBus>) {
    let mut peers = teahouse_cluster::NodeSet::EMPTY;
    for other in (1..=3).filter(|o| *o != n) {
        peers.insert(node(other));
    }
    let bus = Arc::new(TestBus {
        peers,
        sent: Mutex::default(),
        snapshots: Mutex::default(),
    });
    let config = HubConfig {
        node: node(n),
        ..HubConfig::default()
    };
    let hub = Hub::build(
        config,
        None,
        None,
        None,
        Arc::new(LocalClaims),
        Some(bus.clone()),
    );
    (hub, bus)
}

/// Carries what `from` (node `n`) sent to `to_node` over to `to`.
fn carry(from: &TestBus, n: u8, to: &Hub, to_node: u8) -> Vec<Change> {
    let changes: Vec<Change> = from
        .sent
        .lock()
        .unwrap()
        .drain(..)
        .filter(|(set, _)| set.contains(node(to_node)))
        .map(|(_, change)| change)
        .collect();
    to.apply_remote_batch(node(n), &changes);
    changes
}

#[test]
fn issue_15_a_room_message_goes_only_to_nodes_with_members_and_everything_else_to_all() {
    let (a, bus_a) = cluster_node(1);
    let (b, bus_b) = cluster_node(2);
    let (alice, alice_rec) = user(&a, "alice");
    let carried = carry(&bus_a, 1, &b, 2);
    assert!(carried.iter().any(|c| matches!(c, Change::Joined { .. })));
    let (bob, bob_rec) = user(&b, "bob");
    carry(&bus_b, 2, &a, 1);
    assert!(
        alice_rec
            .take()
            .iter()
            .any(|e| matches!(e, EventKind::Joined { who, .. } if who.nick == nick("bob")))
    );
    // Both nodes know both members, and NAMES says so on either.
    assert_eq!(
        nicks(a.members(&room("lobby")).unwrap()),
        [nick("alice"), nick("bob")]
    );
    assert_eq!(
        nicks(b.members(&room("lobby")).unwrap()),
        [nick("alice"), nick("bob")]
    );

    a.say(
        alice.id(),
        SayTarget::Room(room("lobby")),
        MessageKind::Normal,
        text("hi"),
        None,
    )
    .unwrap();
    let sent = bus_a.sent.lock().unwrap().clone();
    let message = sent
        .iter()
        .find(|(_, c)| matches!(c, Change::Message { .. }))
        .expect("the message was sent");
    // Node 3 has nobody in the lobby: the message is not sent there.
    assert_eq!(message.0, teahouse_cluster::NodeSet::of(node(2)));
    carry(&bus_a, 1, &b, 2);
    assert!(
        bob_rec
            .take()
            .iter()
            .any(|e| matches!(e, EventKind::Message { text: t, .. } if t.as_str() == "hi"))
    );

    // A rename goes to every peer, node 3 included.
    now(a.set_nick(alice.id(), nick("alicia"))).unwrap();
    let sent = bus_a.sent.lock().unwrap().clone();
    assert!(
        sent.iter()
            .any(|(to, c)| matches!(c, Change::NickSet { .. })
                && to.contains(node(2))
                && to.contains(node(3)))
    );
    drop(bob);
}

#[test]
fn issue_15_a_snapshot_brings_a_node_up_to_date() {
    let (a, bus_a) = cluster_node(1);
    let (b, _bus_b) = cluster_node(2);
    let (alice, _) = user(&a, "alice");
    let (_dave, _) = user(&a, "dave");
    carry(&bus_a, 1, &b, 2);
    let (_bob, bob_rec) = user(&b, "bob");
    bob_rec.take();
    // Node 2 misses what node 1 does next (NATS away): dave is made an operator, alice
    // leaves, carol comes.
    a.change_modes(
        alice.id(),
        &room("lobby"),
        vec![ModeChange {
            is_set: true,
            mode: RoomMode::Operator(nick("dave")),
        }],
    )
    .unwrap();
    alice.quit(LeaveReason::Requested(None));
    let (_carol, _) = user(&a, "carol");
    bus_a.sent.lock().unwrap().clear();
    // Back: node 1 sends its snapshot, and node 2 makes its view of node 1 what it says.
    a.send_snapshot(teahouse_cluster::NodeSet::of(node(2)));
    let (_, snapshot) = bus_a.snapshots.lock().unwrap().pop().expect("a snapshot");
    b.apply_snapshot(node(1), &snapshot);
    assert_eq!(
        nicks(b.members(&room("lobby")).unwrap()),
        [nick("bob"), nick("carol"), nick("dave")]
    );
    let seen = bob_rec.take();
    assert!(seen.iter().any(|e| matches!(e, EventKind::Quit { who, reason: LeaveReason::NetSplit } if who.nick == nick("alice"))), "{seen:?}");
    assert!(
        seen.iter()
            .any(|e| matches!(e, EventKind::Joined { who, .. } if who.nick == nick("carol"))),
        "{seen:?}"
    );
    // Dave, whom node 2 knew already, neither leaves nor comes: he is made an operator.
    assert!(
        !seen.iter().any(|e| matches!(e, EventKind::Joined { who, .. } | EventKind::Quit { who, .. } if who.nick == nick("dave"))),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|e| matches!(e, EventKind::ModesChanged { .. })),
        "{seen:?}"
    );
    let dave = b
        .members(&room("lobby"))
        .unwrap()
        .into_iter()
        .find(|m| m.profile.nick == nick("dave"))
        .expect("dave is there");
    assert!(dave.status.is_operator);
    // The same snapshot again changes nothing.
    b.apply_snapshot(node(1), &snapshot);
    assert!(bob_rec.take().is_empty());
}

#[tokio::test]
async fn issue_15_a_nick_granted_on_both_sides_of_a_partition_goes_to_the_claims_holder() {
    let claims = Arc::new(Cluster::default());
    let bus = Arc::new(TestBus {
        peers: teahouse_cluster::NodeSet::of(node(1)),
        sent: Mutex::default(),
        snapshots: Mutex::default(),
    });
    let config = HubConfig {
        node: node(2),
        ..HubConfig::default()
    };
    let hub = Hub::build(config, None, None, None, claims.clone(), Some(bus));
    let rec = Arc::new(Recorder::default());
    let local = hub.attach(rec.clone(), origin());
    hub.set_nick(local.id(), nick("bob")).await.unwrap();
    // Node 1, cut off from this node for longer than `dead_after`, took over the claim for
    // a user of its own; now the nodes meet again and its rename arrives.
    let remote = SessionId::new(node(1), 5);
    {
        let mut held = claims.held.lock().unwrap();
        held.clear();
        held.push((teahouse_cluster::Claim::Nick("bob".into()), remote));
    }
    let at = std::time::SystemTime::now();
    hub.apply_remote_batch(
        node(1),
        &[
            Change::SessionStarted {
                session: remote,
                host: "127.0.0.1".into(),
                user: "b".into(),
                realname: "B".into(),
                at,
                sink: None,
            },
            Change::NickSet {
                session: remote,
                nick: nick("bob"),
                at,
            },
        ],
    );
    // The claim's holder keeps the nick; this node's user is renamed, and told so.
    for _ in 0..1000 {
        if hub.profile_of(remote).is_some() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(
        hub.profile_of(remote).map(|p| p.nick.clone()),
        Some(nick("bob"))
    );
    let renamed = hub.profile_of(local.id()).expect("still here").nick.clone();
    assert!(renamed.as_str().starts_with("Guest"), "{renamed}");
    assert!(
        rec.take()
            .iter()
            .any(|e| matches!(e, EventKind::NickChanged { .. }))
    );
}

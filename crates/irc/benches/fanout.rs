//! The hot paths: one message said in a room of 1000, encoded once per capability set and
//! queued on every member's outbox (`say`, history off); and a run of stored messages
//! delivered to 1000 members as the history writer does it (`deliver_messages`, history on,
//! the default). A regression here shows as a slower iteration.
//!
//! Run: `cargo bench -p teahouse-irc --bench fanout`.

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use teahouse_hub::{EventSink, Hub, HubConfig, SayTarget, SessionOrigin};
use teahouse_irc::IrcSink;
use teahouse_types::{
    EventKind, HubEvent, MessageId, MessageKind, MessageTarget, MessageText, Nick, Profile,
    RoomName,
};
use teahouse_wire::Outbox;

const MEMBERS: usize = 1000;

/// Runs a hub command that claims a name: with local claims it is done at its first poll.
fn now<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let waker = std::task::Waker::noop();
    match future
        .as_mut()
        .poll(&mut std::task::Context::from_waker(waker))
    {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("a local claim waited"),
    }
}

fn fanout(c: &mut Criterion) {
    let hub = Hub::new(HubConfig::default());
    let room = RoomName::parse("bench").expect("valid room");
    let mut guards = Vec::new();
    let mut outboxes = Vec::new();
    for i in 0..MEMBERS {
        let outbox = Arc::new(Outbox::new(usize::MAX));
        // Half the members with IRCv3 tags, half without: two encodings per message.
        let caps = if i % 2 == 0 {
            "server-time message-tags"
        } else {
            ""
        };
        let sink = Arc::new(IrcSink::new(Arc::clone(&outbox), caps));
        let origin = SessionOrigin {
            host: "127.0.0.1".into(),
            user: "~b".into(),
            realname: "bench".into(),
        };
        let guard = hub.attach(sink, origin);
        now(hub.set_nick(
            guard.id(),
            Nick::parse(&format!("m{i}")).expect("valid nick"),
        ))
        .expect("free nick");
        now(hub.join(guard.id(), room.clone(), None)).expect("join");
        guards.push(guard);
        outboxes.push(outbox);
    }
    let text = MessageText::parse(&"x".repeat(64)).expect("valid text");
    let sender = guards[0].id();
    let mut batch = Vec::new();
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements((MEMBERS - 1) as u64));
    group.bench_function("say_to_1000_irc_members", |b| {
        b.iter(|| {
            hub.say(
                sender,
                SayTarget::Room(room.clone()),
                MessageKind::Normal,
                text.clone(),
                None,
            )
            .expect("say");
            // Drain the queues so they stay small, as writers would.
            for outbox in &outboxes[1..] {
                batch.clear();
                let _ = futures_lite_poll(outbox, &mut batch);
            }
            black_box(&batch);
        });
    });
    group.finish();
}

/// Takes what is queued without an async runtime: `next_batch` is ready at once when
/// something is queued, or at its second poll when it lets a few lines wait a turn.
fn futures_lite_poll(outbox: &Outbox, batch: &mut Vec<bytes::Bytes>) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut fut = std::pin::pin!(outbox.next_batch(batch));
    fut.as_mut().poll(&mut cx).is_ready() || fut.poll(&mut cx).is_ready()
}

use std::future::Future as _;

/// Messages in one run: what the history writer hands each recipient at once under load.
const RUN: usize = 64;

fn stored_run(c: &mut Criterion) {
    let room = RoomName::parse("bench").expect("valid room");
    let (sinks, outboxes): (Vec<IrcSink>, Vec<Arc<Outbox>>) = (0..MEMBERS)
        .map(|i| {
            let outbox = Arc::new(Outbox::new(usize::MAX));
            // Half the members with IRCv3 tags, half without: two encodings per message.
            let caps = if i % 2 == 0 {
                "server-time message-tags"
            } else {
                ""
            };
            (IrcSink::new(Arc::clone(&outbox), caps), outbox)
        })
        .unzip();
    let from = Arc::new(Profile {
        nick: Nick::parse("sender").expect("valid nick"),
        user: "~b".into(),
        host: "127.0.0.1".into(),
        realname: "bench".into(),
        account: None,
        is_bot: false,
    });
    let text = MessageText::parse(&"x".repeat(64)).expect("valid text");
    let mut next_id = 1;
    let mut batch = Vec::new();
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements((MEMBERS * RUN) as u64));
    group.bench_function("run_of_64_stored_to_1000_irc_members", |b| {
        b.iter(|| {
            // Fresh events each time, as each run is new messages: encoded once per
            // capability set, then shared.
            let run: Vec<Arc<HubEvent>> = (0..RUN)
                .map(|_| {
                    next_id += 1;
                    Arc::new(HubEvent::new(EventKind::Message {
                        id: MessageId::from_raw(next_id),
                        from: Arc::clone(&from),
                        target: MessageTarget::Room(room.clone()),
                        kind: MessageKind::Normal,
                        text: text.clone(),
                        client_tags: None,
                    }))
                })
                .collect();
            let run: Vec<&Arc<HubEvent>> = run.iter().collect();
            for sink in &sinks {
                sink.deliver_messages(&run).expect("unbounded outbox");
            }
            for outbox in &outboxes {
                batch.clear();
                let _ = futures_lite_poll(outbox, &mut batch);
            }
            black_box(&batch);
        });
    });
    group.finish();
}

criterion_group!(benches, fanout, stored_run);
criterion_main!(benches);

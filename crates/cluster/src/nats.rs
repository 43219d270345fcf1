//! The cluster on NATS: the bus of changes on core NATS subjects, claims and node numbers
//! on JetStream key-value buckets, membership by heartbeats.
//!
//! - Every node has one inbox subject, `{prefix}.to.{node}`, and one subscription to it, so
//!   that everything one node sends another arrives in the order it was sent (NATS keeps a
//!   publisher's order on a subscription). A change goes to the nodes that must hear of it,
//!   encoded once: a room's message to the nodes with members in the room, anything else to
//!   every peer. Nothing is sent per recipient.
//! - `{prefix}.hb` carries heartbeats (`Hello` at start and after a reconnection, `Beat`
//!   every `heartbeat`, `Bye` at shutdown). A node not heard from for `dead_after` is gone:
//!   [`Inbound::NodeDown`]. Every envelope names its sender's incarnation (its start time),
//!   so a node that restarted under the same number is told apart from its former self.
//! - Claims live in the bucket `{prefix}-claims`: a key per name, created if absent; the
//!   value names the holder (node, incarnation, session) and when it claimed. A claim held
//!   by a node that is gone (or by a former incarnation) is taken over by compare-and-set
//!   on its revision, so a node that dies leaves nothing that blocks anyone for long.
//! - Node numbers live in `{prefix}-nodes`: `id-N` holds the name of the node numbered `N`,
//!   so a node keeps its number across restarts.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use teahouse_types::{Change, NodeId, SessionId, Versioned};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::{Bus, Claim, Claiming, Claims, NodeSet, Refused};

/// How a node joins the cluster.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// This node's name, the same across its restarts; unique in the cluster.
    pub node_name: String,
    /// What the subjects and buckets of this cluster start with (letters, digits, `-`, `_`).
    pub prefix: String,
    /// How often a node says it is alive.
    pub heartbeat: Duration,
    /// A node not heard from for this long is gone: its users quit, its names are free.
    pub dead_after: Duration,
    /// Changes waiting to be published, at most; more are dropped and counted.
    pub publish_queue: usize,
    /// How long a claim waits for JetStream before it is refused.
    pub claim_timeout: Duration,
}

impl NatsConfig {
    /// The settings for `url` and `node_name`, the rest at their defaults (heartbeat 1 s,
    /// gone after 10 s, 65,536 changes queued, claims wait 3 s).
    pub fn new(url: impl Into<String>, node_name: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            node_name: node_name.into(),
            prefix: "teahouse".to_owned(),
            heartbeat: Duration::from_secs(1),
            dead_after: Duration::from_secs(10),
            publish_queue: 65_536,
            claim_timeout: Duration::from_secs(3),
        }
    }
}

/// Why the cluster could not be joined.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server could not be reached.
    #[error("cannot reach NATS at {url}: {reason}")]
    Connect {
        /// Where.
        url: String,
        /// What the client said.
        reason: String,
    },
    /// JetStream refused what the cluster needs (a bucket, a key).
    #[error("NATS JetStream: {0} (is the server started with -js?)")]
    JetStream(String),
    /// Every node number is taken.
    #[error("all {} node numbers of the cluster are taken", NodeId::MAX)]
    Full,
    /// The name or prefix cannot be used in subjects and bucket names.
    #[error("{0}: use letters, digits, '-' and '_' only")]
    BadName(String),
}

/// What the other nodes did, for the hub, in the order it happened for each of them.
#[derive(Debug)]
pub enum Inbound {
    /// A node was heard of for the first time (or under a new incarnation, after a
    /// [`Inbound::NodeDown`] of the old): send it this node's snapshot.
    NodeUp(NodeId),
    /// A node is gone: its sessions end.
    NodeDown(NodeId),
    /// A node asks for this node's snapshot (it reconnected, and may have missed changes).
    SnapshotWanted(NodeId),
    /// A change a node decided.
    Change(NodeId, Change),
    /// What a node's sessions and their rooms are now.
    Snapshot(NodeId, Vec<Change>),
    /// NATS is out of reach (`false`) or back (`true`).
    Reachable(bool),
    /// A node changed the server bans in the shared database: read them again.
    BansChanged(NodeId),
    /// Messages may have been lost (a slow subscription, a full queue, a short
    /// reconnection): send this node's snapshot to every peer (they are asked for theirs).
    ResyncWanted,
}

/// One message on the cluster's subjects.
#[derive(Debug, Serialize, Deserialize)]
struct Envelope {
    /// The sender.
    node: NodeId,
    /// The sender's start, in milliseconds: tells a restarted node from its former self.
    incarnation: u64,
    body: Body,
}

#[derive(Debug, Serialize, Deserialize)]
enum Body {
    Hello {
        name: String,
    },
    Beat {
        name: String,
    },
    Bye,
    /// Changes in the order they were applied (as many as were waiting together).
    Changes(Vec<Versioned>),
    /// The first parts of a snapshot too big for one NATS message; `Snapshot` ends it.
    SnapshotPart(Vec<Versioned>),
    Snapshot(Vec<Versioned>),
    BansChanged,
    /// Asks the receiver for its snapshot (it was just heard of, and may not know us).
    WantSnapshot,
}

/// The most changes of one node's snapshot a receiver gathers from parts.
const MAX_SNAPSHOT_CHANGES: usize = 4_000_000;

/// What waits in the publish queue: encoded by the publisher, not under the hub's lock.
enum Outgoing {
    Change(Change),
    Snapshot(Vec<Change>),
    BansChanged,
    WantSnapshot,
}

/// Changes sent together in one envelope, at most.
const BATCH: usize = 256;

/// One node's membership of the cluster, with its bus and claims.
pub struct NatsCluster {
    /// This node's number.
    pub node: NodeId,
    /// Claims on the `{prefix}-claims` bucket.
    pub claims: Arc<KvClaims>,
    /// The bus of changes.
    pub bus: Arc<NatsBus>,
    client: async_nats::Client,
    hb_subject: String,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Who is in the cluster, as this node heard.
#[derive(Default)]
struct Members {
    /// Live peers with their incarnation and when last heard from.
    peers: HashMap<NodeId, (u64, Instant)>,
}

/// The state the bus, the claims and the tasks share.
struct Shared {
    me: NodeId,
    incarnation: u64,
    started: Instant,
    dead_after: Duration,
    /// Live peers, by bit; read on every change sent.
    live: AtomicU64,
    /// Their incarnations, for telling a stale claim.
    incarnations: Mutex<HashMap<NodeId, u64>>,
    /// By node, the newest of its runs seen to end (it said goodbye, or a newer one
    /// started): its claims are free at once, and what it still sends is ignored.
    ended: Mutex<HashMap<NodeId, u64>>,
    /// Set when messages may have been lost (a reconnection, a slow subscription, a full
    /// publish queue): the next beat resynchronises.
    missed: Arc<AtomicBool>,
    /// Whether NATS is reachable now (kept by the client's event callback).
    connected: Arc<AtomicBool>,
    dropped: AtomicU64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn encode(envelope: &Envelope) -> Bytes {
    // Every field serializes; an error here would be a bug in a derive.
    Bytes::from(serde_json::to_vec(envelope).unwrap_or_default())
}

impl NatsCluster {
    /// Joins the cluster: connects, takes this node's number, gives back claims a former
    /// incarnation of it left, subscribes, and starts the heartbeat and the publisher.
    ///
    /// Gives back, beside the node, what the other nodes do: read it and apply it in order.
    ///
    /// # Errors
    /// [`ClusterError`] if NATS or JetStream cannot be reached or every number is taken.
    pub async fn join(
        config: &NatsConfig,
    ) -> Result<(Self, mpsc::Receiver<Inbound>), ClusterError> {
        if !valid_name(&config.node_name) {
            return Err(ClusterError::BadName(format!(
                "node name {:?}",
                config.node_name
            )));
        }
        if !valid_name(&config.prefix) {
            return Err(ClusterError::BadName(format!(
                "cluster prefix {:?}",
                config.prefix
            )));
        }
        let (inbound_tx, inbound) = mpsc::channel(65_536);
        let events = inbound_tx.clone();
        let connected_flag = Arc::new(AtomicBool::new(true));
        let missed_flag = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&connected_flag);
        let missed = Arc::clone(&missed_flag);
        let client = async_nats::ConnectOptions::new()
            .name(format!("teahouse {}", config.node_name))
            .connection_timeout(Duration::from_secs(5))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis((attempts as u64).saturating_mul(200).min(2_000))
            })
            .event_callback(move |event| {
                let events = events.clone();
                let flag = Arc::clone(&flag);
                let missed = Arc::clone(&missed);
                async move {
                    match event {
                        async_nats::Event::Disconnected => {
                            if flag.swap(false, Ordering::SeqCst) {
                                warn!("NATS out of reach: this node goes on alone");
                                let _ = events.send(Inbound::Reachable(false)).await;
                            }
                        }
                        async_nats::Event::Connected => {
                            if !flag.swap(true, Ordering::SeqCst) {
                                info!("NATS back in reach");
                                missed.store(true, Ordering::Release);
                                let _ = events.send(Inbound::Reachable(true)).await;
                            }
                        }
                        async_nats::Event::SlowConsumer(_) => {
                            warn!("cluster messages dropped by NATS (this node read too slowly): resynchronising");
                            missed.store(true, Ordering::Release);
                        }
                        other => debug!(event = %other, "NATS"),
                    }
                }
            })
            .connect(config.url.as_str())
            .await
            .map_err(|e| ClusterError::Connect {
                url: config.url.clone(),
                reason: e.to_string(),
            })?;
        let js = jetstream::new(client.clone());
        let js_err = |e: &dyn std::fmt::Display| ClusterError::JetStream(e.to_string());
        let nodes = bucket(&js, &format!("{}-nodes", config.prefix)).await?;
        let claims_kv = bucket(&js, &format!("{}-claims", config.prefix)).await?;
        let node = take_number(&nodes, &config.node_name).await?;
        let incarnation = now_ms();
        let shared = Arc::new(Shared {
            me: node,
            incarnation,
            started: Instant::now(),
            dead_after: config.dead_after,
            live: AtomicU64::new(0),
            incarnations: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
            missed: Arc::clone(&missed_flag),
            connected: Arc::clone(&connected_flag),
            dropped: AtomicU64::new(0),
        });
        let claims = Arc::new(KvClaims {
            kv: claims_kv,
            shared: Arc::clone(&shared),
            held: Arc::new(Mutex::new(HashMap::new())),
            timeout: config.claim_timeout,
        });
        claims.give_back_former().await;
        let inbox = format!("{}.to.{}", config.prefix, node);
        let hb_subject = format!("{}.hb", config.prefix);
        let sub_inbox = client.subscribe(inbox).await.map_err(|e| js_err(&e))?;
        let sub_hb = client
            .subscribe(hb_subject.clone())
            .await
            .map_err(|e| js_err(&e))?;
        let (queue, outgoing) = mpsc::channel(config.publish_queue.max(1));
        let queue_for_receive = queue.clone();
        let bus = Arc::new(NatsBus {
            shared: Arc::clone(&shared),
            queue,
        });
        let subjects: Vec<String> = (0..=NodeId::MAX)
            .map(|n| format!("{}.to.{}", config.prefix, n))
            .collect();
        let tasks = vec![
            tokio::spawn(publish(
                client.clone(),
                outgoing,
                subjects,
                Arc::clone(&shared),
            )),
            tokio::spawn(beat(
                Arc::clone(&shared),
                config.clone(),
                client.clone(),
                hb_subject.clone(),
                inbound_tx.clone(),
            )),
            tokio::spawn(receive(
                sub_inbox,
                sub_hb,
                inbound_tx,
                Arc::clone(&shared),
                config.clone(),
                queue_for_receive,
            )),
        ];
        info!(node = %node, name = %config.node_name, url = %config.url, "joined the cluster");
        Ok((
            Self {
                node,
                claims,
                bus,
                client,
                hb_subject,
                tasks,
            },
            inbound,
        ))
    }

    /// Says goodbye, so the others end this node's sessions at once, and stops.
    pub async fn leave(self) {
        let bye = encode_body(&self.bus.shared, Body::Bye);
        let _ = self.client.publish(self.hb_subject.clone(), bye).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Changes dropped because the publish queue was full or NATS out of reach.
    pub fn dropped(&self) -> u64 {
        self.bus.shared.dropped.load(Ordering::Relaxed)
    }
}

/// Deletes the buckets of the cluster `prefix` (tests clean up with it).
///
/// # Errors
/// [`ClusterError::Connect`] if NATS cannot be reached.
pub async fn remove_cluster(url: &str, prefix: &str) -> Result<(), ClusterError> {
    let client = async_nats::connect(url)
        .await
        .map_err(|e| ClusterError::Connect {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    let js = jetstream::new(client);
    for bucket in ["nodes", "claims"] {
        let _ = js.delete_key_value(format!("{prefix}-{bucket}")).await;
    }
    Ok(())
}

/// The key-value bucket `name`, made if missing.
///
/// A bucket is a stream (`KV_name` on `$KV.name.>`, one value per key, rollups, no deletes
/// but by marker, direct gets); it is made here as `create_key_value` would make it,
/// because that call first reads account fields that NATS 2.9 does not send.
async fn bucket(js: &jetstream::Context, name: &str) -> Result<kv::Store, ClusterError> {
    use jetstream::stream::{Config, DiscardPolicy, StorageType};
    js.get_or_create_stream(Config {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        storage: StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| ClusterError::JetStream(e.to_string()))?;
    js.get_key_value(name)
        .await
        .map_err(|e| ClusterError::JetStream(e.to_string()))
}

/// This node's number: the one its name holds already, else the lowest free one.
async fn take_number(nodes: &kv::Store, name: &str) -> Result<NodeId, ClusterError> {
    let js_err = |e: &dyn std::fmt::Display| ClusterError::JetStream(e.to_string());
    let mut free = Vec::new();
    for n in 1..=NodeId::MAX {
        match nodes.get(format!("id-{n}")).await.map_err(|e| js_err(&e))? {
            Some(holder) if holder.as_ref() == name.as_bytes() => {
                return NodeId::new(n).ok_or(ClusterError::Full);
            }
            Some(_) => {}
            None => free.push(n),
        }
    }
    for n in free {
        if nodes
            .create(format!("id-{n}"), Bytes::from(name.to_owned()))
            .await
            .is_ok()
        {
            return NodeId::new(n).ok_or(ClusterError::Full);
        }
    }
    Err(ClusterError::Full)
}

/// The bus: a bounded queue in front of the publisher task.
pub struct NatsBus {
    shared: Arc<Shared>,
    queue: mpsc::Sender<(NodeSet, Outgoing)>,
}

impl NatsBus {
    fn queue(&self, to: NodeSet, item: Outgoing) {
        if to.is_empty() {
            return;
        }
        if !self.shared.connected.load(Ordering::Relaxed) {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.queue.try_send((to, item)).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            self.shared.missed.store(true, Ordering::Release);
        }
    }
}

impl Bus for NatsBus {
    fn peers(&self) -> NodeSet {
        NodeSet::from_bits(self.shared.live.load(Ordering::Acquire))
    }

    fn send(&self, to: NodeSet, change: Change) {
        self.queue(to, Outgoing::Change(change));
    }

    fn send_snapshot(&self, to: NodeSet, changes: Vec<Change>) {
        self.queue(to, Outgoing::Snapshot(changes));
    }

    fn send_bans_changed(&self, to: NodeSet) {
        self.queue(to, Outgoing::BansChanged);
    }

    fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

/// Publishes what the hub queued, in order, to each node it is for: consecutive changes
/// for the same nodes that are waiting together go in one envelope, encoded once.
async fn publish(
    client: async_nats::Client,
    mut outgoing: mpsc::Receiver<(NodeSet, Outgoing)>,
    subjects: Vec<String>,
    shared: Arc<Shared>,
) {
    let subjects: Vec<async_nats::Subject> = subjects
        .into_iter()
        .map(async_nats::Subject::from)
        .collect();
    let mut held: Option<(NodeSet, Outgoing)> = None;
    loop {
        let next = match held.take() {
            Some(next) => next,
            None => match outgoing.recv().await {
                Some(next) => next,
                None => return,
            },
        };
        let max = client.server_info().max_payload.max(4096);
        let (to, frames) = match next {
            (to, Outgoing::BansChanged) => (to, vec![encode_body(&shared, Body::BansChanged)]),
            (to, Outgoing::WantSnapshot) => (to, vec![encode_body(&shared, Body::WantSnapshot)]),
            (to, Outgoing::Snapshot(changes)) => (
                to,
                encode_split(
                    &shared,
                    changes.into_iter().map(Versioned::new).collect(),
                    true,
                    &|items, last| {
                        if last {
                            Body::Snapshot(items)
                        } else {
                            Body::SnapshotPart(items)
                        }
                    },
                    max,
                ),
            ),
            (to, Outgoing::Change(change)) => {
                let mut changes = vec![Versioned::new(change)];
                while changes.len() < BATCH {
                    match outgoing.try_recv() {
                        Ok((same, Outgoing::Change(change))) if same == to => {
                            changes.push(Versioned::new(change));
                        }
                        Ok(other) => {
                            held = Some(other);
                            break;
                        }
                        Err(_) => break,
                    }
                }
                (
                    to,
                    encode_split(
                        &shared,
                        changes,
                        true,
                        &|items, _| Body::Changes(items),
                        max,
                    ),
                )
            }
        };
        for bytes in frames {
            for node in to.iter() {
                let subject = subjects[usize::from(node.get())].clone();
                if client.publish(subject, bytes.clone()).await.is_err() {
                    shared.dropped.fetch_add(1, Ordering::Relaxed);
                    shared.missed.store(true, Ordering::Release);
                }
            }
        }
    }
}

fn encode_body(shared: &Shared, body: Body) -> Bytes {
    encode(&Envelope {
        node: shared.me,
        incarnation: shared.incarnation,
        body,
    })
}

/// `items` in as few NATS messages of at most `max` bytes as halving them takes, in order;
/// `wrap` makes each message's body (`last` for the one that ends them). One item too big
/// alone is sent anyway, and refused by NATS (counted as dropped).
fn encode_split(
    shared: &Shared,
    mut items: Vec<Versioned>,
    last: bool,
    wrap: &dyn Fn(Vec<Versioned>, bool) -> Body,
    max: usize,
) -> Vec<Bytes> {
    if items.len() > 1 {
        // Whole first: batches of chat lines are far below the limit.
        let mut envelope = Envelope {
            node: shared.me,
            incarnation: shared.incarnation,
            body: wrap(items, last),
        };
        let bytes = encode(&envelope);
        if bytes.len() <= max {
            return vec![bytes];
        }
        items = match &mut envelope.body {
            Body::Changes(items) | Body::Snapshot(items) | Body::SnapshotPart(items) => {
                std::mem::take(items)
            }
            _ => Vec::new(),
        };
        let right = items.split_off(items.len() / 2);
        let mut frames = encode_split(shared, items, false, wrap, max);
        frames.extend(encode_split(shared, right, last, wrap, max));
        return frames;
    }
    vec![encode_body(shared, wrap(items, last))]
}

/// Says this node is alive every `heartbeat`, from a task of its own so that nothing else
/// (a busy inbox, a slow hub) can hold it up; after a reconnection, or anything else that
/// may have lost messages (`Shared::missed`), says `Hello` so the peers send their
/// snapshots, and asks the hub to send them its own.
async fn beat(
    shared: Arc<Shared>,
    config: NatsConfig,
    client: async_nats::Client,
    hb_subject: String,
    inbound: mpsc::Sender<Inbound>,
) {
    let hello = encode_body(
        &shared,
        Body::Hello {
            name: config.node_name.clone(),
        },
    );
    let beat = encode_body(
        &shared,
        Body::Beat {
            name: config.node_name.clone(),
        },
    );
    let _ = client.publish(hb_subject.clone(), hello.clone()).await;
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if !shared.connected.load(Ordering::Relaxed) {
            continue;
        }
        if shared.missed.swap(false, Ordering::AcqRel) {
            debug!("resynchronising with the other nodes");
            let _ = client.publish(hb_subject.clone(), hello.clone()).await;
            let _ = inbound.try_send(Inbound::ResyncWanted);
        }
        let _ = client.publish(hb_subject.clone(), beat.clone()).await;
    }
}

/// Reads the heartbeats and the inbox, keeps the membership, and hands the hub what the
/// other nodes did, in order.
async fn receive(
    mut inbox: async_nats::Subscriber,
    mut hb: async_nats::Subscriber,
    inbound: mpsc::Sender<Inbound>,
    shared: Arc<Shared>,
    config: NatsConfig,
    queue: mpsc::Sender<(NodeSet, Outgoing)>,
) {
    let mut members = Members::default();
    // Parts of snapshots still coming, by node.
    let mut parts: HashMap<NodeId, Vec<Change>> = HashMap::new();
    let mut tick = tokio::time::interval(config.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let message = tokio::select! {
            // Heartbeats are few: read them first, so a busy inbox cannot hide a live peer.
            biased;
            Some(message) = hb.next() => message,
            Some(message) = inbox.next() => message,
            _ = tick.tick() => {
                for node in members.expire(config.dead_after) {
                    warn!(node = %node, "node not heard from: gone");
                    shared.forget(node, false);
                    parts.remove(&node);
                    if inbound.send(Inbound::NodeDown(node)).await.is_err() {
                        return;
                    }
                }
                continue;
            }
            else => return,
        };
        let Ok(envelope) = serde_json::from_slice::<Envelope>(&message.payload) else {
            warn!(subject = %message.subject, "unreadable cluster message dropped");
            continue;
        };
        let node = envelope.node;
        if node == shared.me {
            if envelope.incarnation != shared.incarnation {
                warn!(node = %node, "another node runs under this node's name and number");
            }
            continue;
        }
        if shared.has_ended(node, envelope.incarnation) {
            // A run that said goodbye, or was followed by a newer one: late, and stale.
            continue;
        }
        let mut events = Vec::new();
        if matches!(envelope.body, Body::Bye) {
            if members.peers.remove(&node).is_some() {
                info!(node = %node, "node left the cluster");
                events.push(Inbound::NodeDown(node));
            }
            shared.forget(node, true);
            shared.end(node, envelope.incarnation);
            parts.remove(&node);
        } else {
            match members.peers.get(&node).map(|(inc, _)| *inc) {
                Some(inc) if inc == envelope.incarnation => {
                    if matches!(envelope.body, Body::Hello { .. }) {
                        events.push(Inbound::SnapshotWanted(node));
                    }
                }
                known => {
                    if let Some(old) = known {
                        info!(node = %node, "node restarted");
                        shared.forget(node, true);
                        shared.end(node, old);
                        parts.remove(&node);
                        events.push(Inbound::NodeDown(node));
                    } else {
                        info!(node = %node, "node joined the cluster");
                    }
                    shared.learn(node, envelope.incarnation);
                    events.push(Inbound::NodeUp(node));
                    // It may know us already and so not send us its snapshot unasked.
                    let _ = queue.try_send((NodeSet::of(node), Outgoing::WantSnapshot));
                }
            }
            members
                .peers
                .insert(node, (envelope.incarnation, Instant::now()));
            match envelope.body {
                Body::Changes(changes) => {
                    for versioned in changes {
                        match versioned.into_change() {
                            Ok(change) => events.push(Inbound::Change(node, change)),
                            Err(newer) => warn!(node = %node, %newer, "change dropped"),
                        }
                    }
                }
                Body::BansChanged => events.push(Inbound::BansChanged(node)),
                Body::WantSnapshot => events.push(Inbound::SnapshotWanted(node)),
                Body::SnapshotPart(changes) => {
                    let part = parts.entry(node).or_default();
                    if part.len() + changes.len() > MAX_SNAPSHOT_CHANGES {
                        warn!(node = %node, "snapshot too big: dropped");
                        parts.remove(&node);
                    } else {
                        part.extend(changes.into_iter().filter_map(|v| v.into_change().ok()));
                    }
                }
                Body::Snapshot(changes) => {
                    let mut whole = parts.remove(&node).unwrap_or_default();
                    whole.extend(changes.into_iter().filter_map(|v| v.into_change().ok()));
                    events.push(Inbound::Snapshot(node, whole));
                }
                Body::Hello { .. } | Body::Beat { .. } | Body::Bye => {}
            }
        }
        for event in events {
            if inbound.send(event).await.is_err() {
                return;
            }
        }
    }
}

impl Members {
    /// The peers not heard from for `dead_after`, taken out.
    fn expire(&mut self, dead_after: Duration) -> Vec<NodeId> {
        let now = Instant::now();
        let gone: Vec<NodeId> = self
            .peers
            .iter()
            .filter(|(_, (_, seen))| now.duration_since(*seen) > dead_after)
            .map(|(node, _)| *node)
            .collect();
        for node in &gone {
            self.peers.remove(node);
        }
        gone
    }
}

impl Shared {
    fn learn(&self, node: NodeId, incarnation: u64) {
        if let Ok(mut map) = self.incarnations.lock() {
            map.insert(node, incarnation);
        }
        self.live
            .fetch_or(NodeSet::of(node).bits(), Ordering::AcqRel);
    }

    /// Takes `node` out of the live peers (gone from sight; `ended` if for good).
    fn forget(&self, node: NodeId, ended: bool) {
        if let Ok(mut map) = self.incarnations.lock() {
            let incarnation = map.remove(&node);
            if ended && let Some(incarnation) = incarnation {
                self.end(node, incarnation);
            }
        }
        self.live
            .fetch_and(!NodeSet::of(node).bits(), Ordering::AcqRel);
    }

    /// Notes that `node`'s run `incarnation` (and every earlier one) is over.
    fn end(&self, node: NodeId, incarnation: u64) {
        if let Ok(mut ended) = self.ended.lock() {
            let newest = ended.entry(node).or_insert(incarnation);
            *newest = (*newest).max(incarnation);
        }
    }

    /// Whether `node`'s run `incarnation` is over.
    fn has_ended(&self, node: NodeId, incarnation: u64) -> bool {
        self.ended.lock().is_ok_and(|ended| {
            ended
                .get(&node)
                .is_some_and(|newest| incarnation <= *newest)
        })
    }

    /// Whether a claim made by `holder` at `at_ms` may be taken over: its node is gone (or
    /// it was a former incarnation), and it is old enough that a node just started would
    /// have been heard of by now.
    fn is_stale(&self, holder: &Holder) -> bool {
        if holder.node == self.me {
            return holder.incarnation != self.incarnation;
        }
        if self.has_ended(holder.node, holder.incarnation) {
            return true;
        }
        let live = self
            .incarnations
            .lock()
            .map(|map| map.get(&holder.node).copied())
            .unwrap_or(None);
        match live {
            Some(incarnation) => incarnation != holder.incarnation,
            None => {
                let age = Duration::from_millis(now_ms().saturating_sub(holder.at_ms));
                age > self.dead_after && self.started.elapsed() > self.dead_after
            }
        }
    }
}

/// Who holds a claim, as its value says: `node.incarnation.session.milliseconds`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    node: NodeId,
    incarnation: u64,
    session: u64,
    at_ms: u64,
}

impl Holder {
    fn value(&self) -> Bytes {
        Bytes::from(format!(
            "{}.{}.{}.{}",
            self.node, self.incarnation, self.session, self.at_ms
        ))
    }

    fn parse(value: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(value).ok()?;
        let mut parts = text.split('.');
        let node = NodeId::new(parts.next()?.parse().ok()?)?;
        Some(Self {
            node,
            incarnation: parts.next()?.parse().ok()?,
            session: parts.next()?.parse().ok()?,
            at_ms: parts.next()?.parse().ok()?,
        })
    }

    fn same_owner(&self, other: &Self) -> bool {
        (self.node, self.incarnation, self.session)
            == (other.node, other.incarnation, other.session)
    }
}

/// Claims on JetStream KV: created if absent, taken over from the dead by compare-and-set.
pub struct KvClaims {
    kv: kv::Store,
    shared: Arc<Shared>,
    /// The claims this node holds, with the revision that holds them.
    held: Arc<Mutex<HashMap<String, u64>>>,
    timeout: Duration,
}

/// A claim's key: its kind, then its casefolded name in hex (KV keys take few characters).
fn claim_key(claim: &Claim) -> String {
    use std::fmt::Write as _;
    let (kind, name) = match claim {
        Claim::Nick(name) => ("n", name),
        Claim::Room(name) => ("r", name),
        Claim::Account(name) => ("a", name),
    };
    let mut key = String::with_capacity(2 + name.len() * 2);
    key.push_str(kind);
    key.push('.');
    for byte in name.bytes() {
        let _ = write!(key, "{byte:02x}");
    }
    key
}

impl KvClaims {
    async fn try_claim(
        kv: kv::Store,
        shared: Arc<Shared>,
        held: Arc<Mutex<HashMap<String, u64>>>,
        key: String,
        me: Holder,
    ) -> Result<(), Refused> {
        for _ in 0..3 {
            match kv.create(&key, me.value()).await {
                Ok(revision) => {
                    if let Ok(mut held) = held.lock() {
                        held.insert(key, revision);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(e) => {
                    warn!(%key, error = %e, "claim not decided: JetStream unreachable");
                    return Err(Refused::Unreachable);
                }
            }
            let entry = match kv.entry(&key).await {
                Ok(Some(entry)) => entry,
                // Deleted meanwhile: try to create it again.
                Ok(None) => continue,
                Err(e) => {
                    warn!(%key, error = %e, "claim not decided: JetStream unreachable");
                    return Err(Refused::Unreachable);
                }
            };
            if !matches!(entry.operation, kv::Operation::Put) {
                continue;
            }
            let Some(holder) = Holder::parse(&entry.value) else {
                return Err(Refused::Taken);
            };
            if holder.same_owner(&me) {
                if let Ok(mut held) = held.lock() {
                    held.insert(key, entry.revision);
                }
                return Ok(());
            }
            if !shared.is_stale(&holder) {
                return Err(Refused::Taken);
            }
            match kv.update(&key, me.value(), entry.revision).await {
                Ok(revision) => {
                    debug!(%key, "stale claim taken over");
                    if let Ok(mut held) = held.lock() {
                        held.insert(key, revision);
                    }
                    return Ok(());
                }
                // Someone else was quicker.
                Err(_) => return Err(Refused::Taken),
            }
        }
        Err(Refused::Taken)
    }

    /// Deletes the claims a former incarnation of this node left (a crash, kill -9).
    async fn give_back_former(&self) {
        let Ok(mut keys) = self.kv.keys().await else {
            return;
        };
        let mut stale = Vec::new();
        while let Some(Ok(key)) = keys.next().await {
            stale.push(key);
        }
        let mut given = 0usize;
        for key in stale {
            let Ok(Some(entry)) = self.kv.entry(&key).await else {
                continue;
            };
            if let Some(holder) = Holder::parse(&entry.value)
                && holder.node == self.shared.me
                && holder.incarnation != self.shared.incarnation
                && self
                    .kv
                    .delete_expect_revision(&key, Some(entry.revision))
                    .await
                    .is_ok()
            {
                given += 1;
            }
        }
        if given > 0 {
            info!(
                claims = given,
                "gave back the claims of this node's former run"
            );
        }
    }
}

impl Claims for KvClaims {
    fn claim(&self, claim: &Claim, owner: SessionId) -> Claiming {
        let me = Holder {
            node: owner.node(),
            incarnation: self.shared.incarnation,
            session: owner.seq(),
            at_ms: now_ms(),
        };
        let key = claim_key(claim);
        let value = me.value();
        let future = Self::try_claim(
            self.kv.clone(),
            Arc::clone(&self.shared),
            Arc::clone(&self.held),
            key.clone(),
            me,
        );
        let (timeout, kv, held) = (self.timeout, self.kv.clone(), Arc::clone(&self.held));
        Claiming::Later(Box::pin(async move {
            match tokio::time::timeout(timeout, future).await {
                Ok(answer) => answer,
                Err(_) => {
                    warn!(%key, "claim not decided in time: JetStream unreachable");
                    // It may have been granted after all, with nobody to hold it: give it
                    // back once JetStream answers.
                    tokio::spawn(give_back(kv, key, None, value, held));
                    Err(Refused::Unreachable)
                }
            }
        }))
    }

    fn release(&self, claim: &Claim, owner: SessionId) {
        if owner.node() != self.shared.me {
            return;
        }
        let key = claim_key(claim);
        let Some(revision) = self.held.lock().ok().and_then(|mut held| held.remove(&key)) else {
            return;
        };
        let value = Holder {
            node: owner.node(),
            incarnation: self.shared.incarnation,
            session: owner.seq(),
            at_ms: 0,
        };
        tokio::spawn(give_back(
            self.kv.clone(),
            key,
            Some(revision),
            value.value(),
            Arc::clone(&self.held),
        ));
    }
}

/// Deletes the claim `key` if this node's session (`value`, its time aside) still holds it,
/// trying again for a few minutes while JetStream is out of reach; if the node claimed the
/// key again meanwhile (it is in `held`), leaves it.
async fn give_back(
    kv: kv::Store,
    key: String,
    revision: Option<u64>,
    value: Bytes,
    held: Arc<Mutex<HashMap<String, u64>>>,
) {
    let owner = Holder::parse(&value);
    let mut pause = Duration::from_millis(500);
    for _ in 0..20 {
        if held.lock().is_ok_and(|held| held.contains_key(&key)) {
            return;
        }
        let entry = match kv.entry(&key).await {
            Ok(Some(entry)) => entry,
            // Gone already.
            Ok(None) => return,
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        let ours = matches!(entry.operation, kv::Operation::Put)
            && Holder::parse(&entry.value)
                .zip(owner.as_ref())
                .is_some_and(|(holder, owner)| holder.same_owner(owner))
            && revision.is_none_or(|revision| revision == entry.revision);
        if !ours {
            // Taken over by someone else, or deleted: nothing of ours to give back.
            return;
        }
        match kv.delete_expect_revision(&key, Some(entry.revision)).await {
            Ok(()) => return,
            Err(e) => {
                debug!(%key, error = %e, "claim not given back yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
    }
    warn!(%key, "claim not given back: JetStream out of reach for minutes");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_round_trip_and_claim_keys_are_valid_kv_keys() {
        let holder = Holder {
            node: NodeId::new(3).unwrap(),
            incarnation: 1_700_000_000_000,
            session: 42,
            at_ms: 1_700_000_000_500,
        };
        assert_eq!(Holder::parse(&holder.value()), Some(holder.clone()));
        assert_eq!(Holder::parse(b"3.x.1.2"), None);
        let key = claim_key(&Claim::Nick("bób".into()));
        assert_eq!(key, "n.62c3b362");
        assert!(key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'));
    }

    #[test]
    fn a_snapshot_too_big_for_one_message_goes_in_parts_in_order() {
        let shared = Shared {
            me: NodeId::new(1).unwrap(),
            incarnation: 7,
            started: Instant::now(),
            dead_after: Duration::from_secs(10),
            live: AtomicU64::new(0),
            incarnations: Mutex::new(HashMap::new()),
            ended: Mutex::new(HashMap::new()),
            missed: Arc::new(AtomicBool::new(false)),
            connected: Arc::new(AtomicBool::new(true)),
            dropped: AtomicU64::new(0),
        };
        let changes: Vec<Versioned> = (0..300)
            .map(|i| {
                Versioned::new(Change::AccountRegistered {
                    key: format!("{i:04}{}", "x".repeat(5000)).into(),
                })
            })
            .collect();
        let wrap = |items, last| {
            if last {
                Body::Snapshot(items)
            } else {
                Body::SnapshotPart(items)
            }
        };
        let frames = encode_split(&shared, changes.clone(), true, &wrap, 65_536);
        assert!(frames.len() > 20, "{} frames", frames.len());
        let mut back = Vec::new();
        for (i, frame) in frames.iter().enumerate() {
            assert!(frame.len() <= 65_536);
            let envelope: Envelope = serde_json::from_slice(frame).unwrap();
            match envelope.body {
                Body::SnapshotPart(items) if i + 1 < frames.len() => back.extend(items),
                Body::Snapshot(items) if i + 1 == frames.len() => back.extend(items),
                other => panic!("frame {i}: {other:?}"),
            }
        }
        assert_eq!(back, changes);
        // A batch that fits is one message.
        let small = encode_split(&shared, changes[..3].to_vec(), true, &wrap, 65_536);
        assert_eq!(small.len(), 1);
    }

    #[test]
    fn names_for_subjects_are_checked() {
        assert!(valid_name("node-a_1"));
        assert!(!valid_name("a.b") && !valid_name("") && !valid_name("a b"));
    }
}

//! History: every room and direct message is committed to the store before anyone receives
//! it, many messages to one transaction (group commit).
//!
//! The hub, under its state lock, gives each message its id and puts it, with its
//! recipients, on the journal: a bounded queue in the order the hub accepted the messages.
//! One [`HistoryWriter`] takes everything queued, stores it in one transaction and only
//! then fans each message out, in queue order. A replay (the last messages of a room, for a
//! session that just entered it) goes through the same queue, so it holds exactly the
//! messages sent before the session entered, and nothing it then receives live.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use teahouse_store::{HistoryQuery, MessageRecord, NewMessage, Store};
use teahouse_types::pace::YIELD_AFTER_BYTES;
use teahouse_types::{
    EventKind, EventSink, HubEvent, MessageId, MessageKind, MessageTarget, MessageText, Nick,
    Profile, ReplyPlace, RoomName, SessionId,
};
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::hub::{Hub, Recipient, Recipients};

/// History settings; plain values, filled by the server from its config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Messages accepted but not yet stored, at most: a burst this big is absorbed while the
    /// store commits; past it, senders are told the server is busy.
    pub queue_capacity: usize,
    /// Messages stored in one transaction, at most.
    pub max_batch: usize,
    /// Delete messages older than this.
    pub max_age: Option<Duration>,
    /// Keep at most this many messages per room or conversation.
    pub max_per_target: Option<u32>,
    /// How often retention runs.
    pub prune_interval: Duration,
    /// Tasks that deliver a stored batch, each to its share of the recipients: the number
    /// of runtime workers, so delivery uses every core as it does without history.
    pub delivery_tasks: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 65_536,
            max_batch: 4_096,
            max_age: None,
            max_per_target: None,
            prune_interval: Duration::from_secs(3600),
            delivery_tasks: 1,
        }
    }
}

/// One thing for the writer to do, in the order the hub accepted it.
pub(crate) enum Item {
    /// Store a message, then deliver it.
    Message {
        event: Arc<HubEvent>,
        recipients: Recipients,
        sender: Recipient,
    },
    /// Deliver an event that is not stored (a join, a quit, …), in order with messages.
    Deliver {
        event: Arc<HubEvent>,
        recipients: Recipients,
        skip: Option<SessionId>,
    },
    /// Read stored messages and deliver them to one session as [`EventKind::History`].
    Replay {
        recipient: Recipient,
        target: MessageTarget,
        target_key: String,
        query: HistoryQuery,
        limit: u32,
        context: Option<Arc<str>>,
    },
    /// Nothing left to deliver (the echo of a message that could not be stored); the
    /// replies waiting for it are still released in order.
    Dropped,
    /// Send a change to the other nodes of a cluster, once everything before it on the
    /// journal is stored: so a message reaches no other node before it is on disk, and
    /// every change this node makes reaches them in the order it was made.
    Publish {
        to: teahouse_cluster::NodeSet,
        change: Box<teahouse_types::Change>,
    },
}

/// An item on the journal, and whose replies wait for it.
pub(crate) struct Queued {
    pub(crate) item: Item,
    /// The session whose command made the item, if its later replies wait for it.
    pub(crate) fence: Option<Fence>,
}

/// A session's replies waiting for one journal item of its own command: released once
/// every delivery task has delivered the item to its share of the recipients, or, if the
/// item never gets that far (dropped at shutdown, a delivery task that failed), when it is
/// dropped: a session's replies never wait for an item that will not come.
pub(crate) struct Fence {
    /// The session whose command made the item.
    pub(crate) session: SessionId,
    pub(crate) sink: Arc<dyn EventSink>,
    /// The command's place among the session's replies (from [`EventSink::hold`]): the
    /// item's delivery to the session itself goes there.
    pub(crate) after: ReplyPlace,
    /// Delivery tasks done with the item.
    parts_done: AtomicUsize,
    /// Whether the session's replies were released.
    is_released: AtomicBool,
}

impl Fence {
    /// Holds `session`'s later replies until the item is delivered.
    pub(crate) fn hold((session, sink): Recipient) -> Self {
        let after = sink.hold();
        Self {
            session,
            sink,
            after,
            parts_done: AtomicUsize::new(0),
            is_released: AtomicBool::new(false),
        }
    }

    /// One of `parts` delivery tasks is done with the item; the last one releases the
    /// session's replies.
    fn part_done(&self, parts: usize) {
        if self.parts_done.fetch_add(1, AtomicOrdering::AcqRel) + 1 == parts {
            self.release();
        }
    }

    fn release(&self) {
        if !self.is_released.swap(true, AtomicOrdering::AcqRel) {
            self.sink.release();
        }
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        self.release();
    }
}

/// The hub's end of the journal.
pub(crate) struct Journal {
    pub(crate) queue: mpsc::Sender<Queued>,
}

/// Stores and then delivers what the hub put on the journal; run it (once) as a task.
pub struct HistoryWriter {
    hub: Hub,
    store: Store,
    queue: mpsc::Receiver<Queued>,
    config: HistoryConfig,
    /// Ids of the latest messages that could not be stored, oldest first (at most
    /// [`FAILED_IDS_KEPT`]): their echoes, which may come a batch later, are dropped.
    failed: std::sync::Mutex<std::collections::VecDeque<MessageId>>,
}

/// How many unstored message ids the writer remembers for their echoes: far more than can
/// be queued between a message and its echo.
const FAILED_IDS_KEPT: usize = 4096;

impl HistoryWriter {
    pub(crate) fn new(
        hub: Hub,
        store: Store,
        queue: mpsc::Receiver<Queued>,
        config: HistoryConfig,
    ) -> Self {
        Self {
            hub,
            store,
            queue,
            config,
            failed: std::sync::Mutex::default(),
        }
    }

    /// Runs until `shutdown` completes, then stores and delivers everything already
    /// accepted (a graceful shutdown loses nothing) and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        // Two stages joined by a short queue: while one batch is delivered, the next is
        // being stored (its commit waits on the disk, not on this task).
        let (stored, mut to_deliver) = mpsc::channel::<Vec<Queued>>(2);
        let hub = self.hub.clone();
        let parts = self.config.delivery_tasks.max(1);
        let deliver = async move {
            while let Some(items) = to_deliver.recv().await {
                deliver_batch(&hub, items, parts).await;
            }
        };
        let store = async move {
            tokio::pin!(shutdown);
            // Retention first, before anything is stored or replayed, then every interval.
            self.prune().await;
            let period = self.config.prune_interval;
            let mut prune = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut batch = Vec::new();
            loop {
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    count = self.queue.recv_many(&mut batch, self.config.max_batch) => {
                        if count == 0 {
                            break;
                        }
                        let items = self.store_batch(std::mem::take(&mut batch)).await;
                        if stored.send(items).await.is_err() {
                            return;
                        }
                    }
                    _ = prune.tick() => self.prune().await,
                }
            }
            // No more messages are accepted; what was is stored and delivered.
            self.queue.close();
            while self
                .queue
                .recv_many(&mut batch, self.config.max_batch)
                .await
                > 0
            {
                let items = self.store_batch(std::mem::take(&mut batch)).await;
                if stored.send(items).await.is_err() {
                    return;
                }
            }
        };
        tokio::join!(store, deliver);
        info!("history writer stopped");
    }

    /// Stores every message of the batch in one transaction and runs its replays, in
    /// order; returns what is to be delivered: the stored messages, the events, the
    /// replays' results, and for messages that could not be stored, a word to their
    /// senders. A replay reads the store after everything queued before it was stored, and
    /// is bounded by the ids that existed when it was asked for, so it shows nothing its
    /// session also gets live.
    async fn store_batch(&self, batch: Vec<Queued>) -> Vec<Queued> {
        // Made here rather than under the hub's lock, where the message was queued.
        let records: Vec<NewMessage<'_>> = batch
            .iter()
            .filter_map(|queued| match &queued.item {
                Item::Message { event, .. } => record_of(event),
                _ => None,
            })
            .collect();
        let started = std::time::Instant::now();
        let appended = self.store.append(&records).await;
        if !records.is_empty() {
            let metrics = self.hub.metrics();
            metrics
                .store_commit_seconds
                .record(started.elapsed().as_secs_f64());
            metrics.store_batch_size.record(records.len() as f64);
        }
        let is_stored = match appended {
            Ok(()) => {
                if !records.is_empty() {
                    debug!(count = records.len(), "messages stored");
                }
                true
            }
            Err(error) => {
                // Nobody receives these; their senders are told, and the next batch tries
                // the store again.
                error!(%error, count = records.len(), "messages could not be stored");
                false
            }
        };
        // Which items are echoes of messages that could not be stored (in this batch or,
        // queued just after it, the one before): decided here, so the lock is not held
        // across the replays' awaits below.
        let unstored_echoes: Vec<bool> = {
            let mut failed = self
                .failed
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            if !is_stored {
                for queued in &batch {
                    if let Item::Message { event, .. } = &queued.item
                        && let Some((id, _)) = message_of(&event.kind)
                    {
                        if failed.len() == FAILED_IDS_KEPT {
                            failed.pop_front();
                        }
                        failed.push_back(id);
                    }
                }
            }
            batch
                .iter()
                .map(|queued| echoed_id(&queued.item).is_some_and(|id| failed.contains(&id)))
                .collect()
        };
        let mut out = Vec::with_capacity(batch.len());
        for (queued, is_unstored_echo) in batch.into_iter().zip(unstored_echoes) {
            let Queued { item, fence } = queued;
            let item = match item {
                // Its sender gets the failure instead.
                _ if is_unstored_echo => Item::Dropped,
                Item::Message { event, sender, .. } if !is_stored => {
                    let Some((id, target)) = message_of(&event.kind) else {
                        continue;
                    };
                    let failed = Arc::new(HubEvent::new(EventKind::NotDelivered {
                        id,
                        target: target.clone(),
                    }));
                    Item::Deliver {
                        event: failed,
                        recipients: Arc::from([sender]),
                        skip: None,
                    }
                }
                Item::Replay {
                    recipient,
                    target,
                    target_key,
                    query,
                    limit,
                    context,
                } => {
                    let messages = match self.store.history(&target_key, query, limit).await {
                        Ok(rows) => Some(rows.iter().filter_map(event_of).collect()),
                        Err(error) => {
                            warn!(%error, target = %target_key, "history unavailable");
                            None
                        }
                    };
                    let event = Arc::new(HubEvent::new(EventKind::History {
                        target,
                        messages,
                        context,
                    }));
                    Item::Deliver {
                        event,
                        recipients: Arc::from([recipient]),
                        skip: None,
                    }
                }
                Item::Publish { to, change } => {
                    let unstored = match &*change {
                        teahouse_types::Change::Message { id, .. }
                        | teahouse_types::Change::Tags { id, .. } => self
                            .failed
                            .lock()
                            .unwrap_or_else(|poison| poison.into_inner())
                            .contains(id),
                        _ => false,
                    };
                    // A message that could not be stored reaches nobody, here or elsewhere.
                    if !unstored && let Some(bus) = &self.hub.inner.bus {
                        bus.send(to, *change);
                    }
                    Item::Dropped
                }
                item => item,
            };
            out.push(Queued { item, fence });
        }
        out
    }

    async fn prune(&self) {
        if self.config.max_age.is_none() && self.config.max_per_target.is_none() {
            return;
        }
        let before = self
            .config
            .max_age
            .and_then(|age| SystemTime::now().checked_sub(age))
            .map(id_bound);
        match self.store.prune(before, self.config.max_per_target).await {
            Ok(count) => debug!(count, "history pruned"),
            Err(error) => warn!(%error, "history retention failed"),
        }
    }
}

/// The id of the message an item echoes to its sender, if it is an echo.
fn echoed_id(item: &Item) -> Option<MessageId> {
    let Item::Deliver { event, .. } = item else {
        return None;
    };
    let EventKind::Echo { message, .. } = &event.kind else {
        return None;
    };
    message_of(&message.kind).map(|(id, _)| id)
}

/// Delivers a stored batch: by one task per part when there are several, each to its share
/// of the recipients (so each recipient still gets everything in order), else here.
async fn deliver_batch(hub: &Hub, items: Vec<Queued>, parts: usize) {
    if parts <= 1 || items.len() <= 1 {
        deliver_part(hub, &items, None).await;
        return;
    }
    let items = Arc::new(items);
    let mut helpers = Vec::with_capacity(parts - 1);
    for part in 1..parts {
        let (hub, items) = (hub.clone(), Arc::clone(&items));
        helpers.push(tokio::spawn(async move {
            deliver_part(&hub, &items, Some((part, parts))).await;
        }));
    }
    deliver_part(hub, &items, Some((0, parts))).await;
    for helper in helpers {
        if let Err(error) = helper.await {
            error!(%error, "a delivery task failed");
        }
    }
}

/// Delivers the messages and events of `items` in order, to the recipients of one part
/// (`(part, parts)`: sessions whose number modulo `parts` is `part`), or to all; after each
/// item, tells its fence this part is done with it, so the replies that waited for it go
/// once every part has delivered it.
///
/// Consecutive messages to the same recipients (one room's snapshot) go as one run: each
/// recipient's queue is visited once per run rather than once per message.
async fn deliver_part(hub: &Hub, items: &[Queued], part: Option<(usize, usize)>) {
    let parts = part.map_or(1, |(_, parts)| parts);
    let is_mine = |session: SessionId| {
        part.is_none_or(|(part, parts)| {
            usize::try_from(session.seq() % parts as u64).unwrap_or(0) == part
        })
    };
    let release = |done: &[Queued]| {
        for queued in done {
            if let Some(fence) = &queued.fence {
                fence.part_done(parts);
            }
        }
    };
    let mut unyielded_bytes = 0;
    let mut run: Vec<(&Arc<HubEvent>, SessionId)> = Vec::new();
    let mut rest = items;
    while let Some((queued, after)) = rest.split_first() {
        // A batch can hold thousands of messages: delivering them all in one go would put
        // a burst on every member's queue faster than any socket drains it, and cut
        // readers that keep up. Yielding every so often lets their writers run, the pace
        // of a session delivering its own messages.
        if unyielded_bytes >= YIELD_AFTER_BYTES {
            unyielded_bytes = 0;
            tokio::task::yield_now().await;
        }
        let start = rest;
        rest = after;
        match &queued.item {
            Item::Message {
                event,
                recipients,
                sender,
            } => {
                run.clear();
                run.push((event, sender.0));
                unyielded_bytes += text_len(event);
                while unyielded_bytes < YIELD_AFTER_BYTES
                    && let Some((next, after)) = rest.split_first()
                    && let Item::Message {
                        event,
                        recipients: next_recipients,
                        sender,
                    } = &next.item
                    && Arc::ptr_eq(next_recipients, recipients)
                {
                    run.push((event, sender.0));
                    unyielded_bytes += text_len(event);
                    rest = after;
                }
                hub.deliver_messages_where(recipients, &run, is_mine);
                // One part records how long the messages took to reach everyone it serves.
                if part.is_none_or(|(part, _)| part == 0) {
                    let now = std::time::SystemTime::now();
                    let fanout = &hub.metrics().fanout_seconds;
                    for (event, _) in &run {
                        if let Ok(took) = now.duration_since(event.time) {
                            fanout.record(took.as_secs_f64());
                        }
                    }
                }
            }
            Item::Deliver {
                event,
                recipients,
                skip,
            } => {
                let own = queued.fence.as_ref().map(|f| (f.session, f.after));
                hub.deliver_now_where(recipients, event, *skip, own, is_mine);
            }
            Item::Replay { .. } | Item::Dropped | Item::Publish { .. } => {}
        }
        release(&start[..start.len() - rest.len()]);
    }
}

/// The bytes of a message's text, for pacing a delivery.
fn text_len(event: &HubEvent) -> usize {
    match &event.kind {
        EventKind::Message { text, .. } => text.as_str().len(),
        _ => 0,
    }
}

/// Milliseconds since the Unix epoch (0 before it).
pub(crate) fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The smallest message id at `time`, as stored.
pub(crate) fn id_bound(time: SystemTime) -> i64 {
    i64::try_from(MessageId::first_at(millis(time)).get()).unwrap_or(i64::MAX)
}

/// The store's key for a room.
pub(crate) fn room_key(room: &RoomName) -> String {
    format!("#{}", room.key())
}

/// The store's key for the direct conversation of two nicks (the same both ways).
pub(crate) fn direct_key(a: &Nick, b: &Nick) -> String {
    let (first, second) = if a.key() <= b.key() { (a, b) } else { (b, a) };
    format!("@{} @{}", first.key(), second.key())
}

/// The store's code for a reaction (`TAGMSG` with kept tags): no text, only its tags.
const KIND_TAGS: i32 = 3;

/// The stored form of a message event (or a reaction), borrowing its strings from the
/// event.
pub(crate) fn record_of(event: &HubEvent) -> Option<NewMessage<'_>> {
    let (id, from, target, kind, body, client_tags) = match &event.kind {
        EventKind::Message {
            id,
            from,
            target,
            kind,
            text,
            client_tags,
        } => {
            let kind = match kind {
                MessageKind::Normal => 0,
                MessageKind::Notice => 1,
                MessageKind::Action => 2,
            };
            (
                id,
                from,
                target,
                kind,
                text.as_str(),
                client_tags.as_deref(),
            )
        }
        EventKind::Tags {
            id,
            from,
            target,
            client_tags,
        } => (id, from, target, KIND_TAGS, "", Some(&**client_tags)),
        _ => return None,
    };
    let (target_key, target_name) = match target {
        MessageTarget::Room(room) => (room_key(room), room.as_str()),
        MessageTarget::Direct(to) => (direct_key(&from.nick, to), to.as_str()),
    };
    Some(NewMessage {
        id: i64::try_from(id.get()).ok()?,
        time_ms: i64::try_from(millis(event.time)).ok()?,
        target_key,
        target: target_name,
        kind,
        sender_nick: from.nick.as_str(),
        sender_user: &from.user,
        sender_host: &from.host,
        sender_account: from.account.as_deref(),
        body,
        tags: client_tags,
    })
}

/// The id and target of a message or reaction event.
fn message_of(kind: &EventKind) -> Option<(MessageId, &MessageTarget)> {
    match kind {
        EventKind::Message { id, target, .. } | EventKind::Tags { id, target, .. } => {
            Some((*id, target))
        }
        _ => None,
    }
}

/// A stored message as the event it was; `None` for a row that no longer parses (a name
/// rule that has since become stricter), which is skipped.
fn event_of(row: &MessageRecord) -> Option<Arc<HubEvent>> {
    let nick = Nick::parse(&row.sender_nick).ok()?;
    let target = if row.target_key.starts_with('#') {
        MessageTarget::Room(RoomName::parse(&row.target).ok()?)
    } else {
        MessageTarget::Direct(Nick::parse(&row.target).ok()?)
    };
    let kind = match row.kind {
        KIND_TAGS => None,
        1 => Some(MessageKind::Notice),
        2 => Some(MessageKind::Action),
        _ => Some(MessageKind::Normal),
    };
    let from = Arc::new(Profile {
        nick,
        user: row.sender_user.as_str().into(),
        host: row.sender_host.as_str().into(),
        realname: "".into(),
        account: row.sender_account.as_deref().map(Into::into),
        is_bot: false,
    });
    let time = UNIX_EPOCH + Duration::from_millis(u64::try_from(row.time_ms).ok()?);
    let id = MessageId::from_raw(u64::try_from(row.id).ok()?);
    let client_tags = row.tags.as_deref().filter(|t| !t.is_empty());
    let event = match kind {
        Some(kind) => EventKind::Message {
            id,
            from,
            target,
            kind,
            // A multi-line message keeps its line breaks in the store.
            text: MessageText::parse_multiline(&row.body).ok()?,
            client_tags: client_tags.map(Into::into),
        },
        None => EventKind::Tags {
            id,
            from,
            target,
            client_tags: client_tags?.into(),
        },
    };
    Some(Arc::new(HubEvent::at(event, time)))
}

/// Whose history a session asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryTarget {
    /// A room the session is in.
    Room(RoomName),
    /// The direct conversation with this nick.
    Direct(Nick),
}

impl Hub {
    /// Asks for stored messages of a room the session is in, or of its direct conversation
    /// with a nick; they arrive as one [`EventKind::History`] carrying `context`, after
    /// everything the session had been sent before asking.
    ///
    /// # Errors
    /// [`crate::Refusal::HistoryUnavailable`] without history (or with the journal full),
    /// [`crate::Refusal::NotInRoom`], [`crate::Refusal::NotRegistered`],
    /// [`crate::Refusal::SessionClosed`].
    pub fn request_history(
        &self,
        session: SessionId,
        target: HistoryTarget,
        query: HistoryQuery,
        limit: u32,
        context: Option<Arc<str>>,
    ) -> Result<(), crate::Refusal> {
        use crate::Refusal;
        let journal = self
            .inner
            .journal
            .as_ref()
            .ok_or(Refusal::HistoryUnavailable)?;
        let (recipient, nick, is_member) = self.session_view(session, &target)?;
        let (target, target_key) = match target {
            HistoryTarget::Room(room) => {
                if !is_member {
                    return Err(Refusal::NotInRoom(room));
                }
                let key = room_key(&room);
                (MessageTarget::Room(room), key)
            }
            HistoryTarget::Direct(other) => {
                let key = direct_key(&nick, &other);
                (MessageTarget::Direct(other), key)
            }
        };
        // The session's later replies wait for the answer, as for any effect of its own.
        let fence = recipient.clone();
        let item = Item::Replay {
            recipient,
            target,
            target_key,
            query,
            limit,
            context,
        };
        if journal.push(item, Some(fence)) {
            Ok(())
        } else {
            Err(Refusal::HistoryUnavailable)
        }
    }
}

impl Hub {
    /// The store history is kept in, for the reads that bypass the journal (CHATHISTORY
    /// TARGETS, a redaction's lookup).
    ///
    /// # Errors
    /// [`crate::Refusal::HistoryUnavailable`] when the hub keeps no history.
    pub(crate) fn history_store(&self) -> Result<teahouse_store::Store, crate::Refusal> {
        match (&self.inner.journal, self.inner.accounts.as_ref()) {
            (Some(_), Some(accounts)) => Ok(accounts.store().clone()),
            _ => Err(crate::Refusal::HistoryUnavailable),
        }
    }
}

impl Hub {
    /// The rooms the session is in and its direct conversations whose newest message lies
    /// between two ids (exclusive), each with that message's time, newest first if
    /// `newest_first`, else oldest first, at most `limit` (IRC `CHATHISTORY TARGETS`).
    ///
    /// # Errors
    /// [`crate::Refusal::HistoryUnavailable`], [`crate::Refusal::NotRegistered`],
    /// [`crate::Refusal::SessionClosed`].
    pub async fn history_targets(
        &self,
        session: SessionId,
        low: i64,
        high: i64,
        limit: u32,
        newest_first: bool,
    ) -> Result<Vec<(MessageTarget, SystemTime)>, crate::Refusal> {
        use crate::Refusal;
        let store = self.history_store()?;
        let (nick, rooms) = self.nick_and_rooms(session)?;
        let mut keys: Vec<String> = rooms.iter().map(room_key).collect();
        let directs = store.direct_targets(nick.key()).await.map_err(|error| {
            warn!(%error, "history targets unavailable");
            Refusal::HistoryUnavailable
        })?;
        keys.extend(directs);
        let found = store
            .targets(&keys, low, high, limit, newest_first)
            .await
            .map_err(|error| {
                warn!(%error, "history targets unavailable");
                Refusal::HistoryUnavailable
            })?;
        let own = format!("@{}", nick.key());
        Ok(found
            .into_iter()
            .filter_map(|(key, newest)| {
                let target = match key.strip_prefix('#') {
                    Some(_) => MessageTarget::Room(
                        rooms.iter().find(|room| room_key(room) == key)?.clone(),
                    ),
                    None => {
                        let other = key.split(' ').find(|party| *party != own).unwrap_or(&own);
                        MessageTarget::Direct(Nick::parse(other.trim_start_matches('@')).ok()?)
                    }
                };
                let ms = u64::try_from(newest).ok()? >> MessageId::SEQUENCE_BITS;
                Some((target, UNIX_EPOCH + Duration::from_millis(ms)))
            })
            .collect())
    }
}

//! The bounded queue of encoded lines between the hub's fan-out and one connection's writer.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use std::pin::Pin;

use teahouse_types::ReplyPlace;
use tokio::io::AsyncWrite;

/// At most this many buffers go into one vectored write: Linux's `IOV_MAX`. Big writes
/// matter on a busy connection: with 64 lines per write (~7 KB) the kernel spent 0.17
/// CPU-seconds per million deliveries in an open-loop fan-out, with up to 1024 (~110 KB)
/// 0.09, as it builds fewer, larger socket buffers.
const MAX_IOVECS: usize = 1024;

/// A queue this small keeps its allocation when its writer takes the lines (four lines:
/// 128 bytes); a bigger one is given back.
const KEPT_QUEUE_CAPACITY: usize = 4;

/// A write of at most this many buffers (the usual case for a connection that keeps up)
/// fills a small slice array, not the whole `MAX_IOVECS` one.
const FEW_IOVECS: usize = 16;

/// Why a push was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The queue would exceed its byte limit: the connection is too slow and is now closed.
    #[error("send queue exceeded")]
    Full,
    /// The outbox was already closed.
    #[error("connection is closing")]
    Closed,
}

/// Where queued lines come from, which decides whether they wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A reply to the session's current command: taken at once, unless held behind the
    /// effects of its earlier commands.
    Reply,
    /// A line of one of the session's commands that arrives later: held until as many of
    /// its effects as its place says are delivered, then taken at once.
    Own(ReplyPlace),
    /// One event from the hub: taken at once, never held.
    Event,
    /// A run of messages from others: taken a runtime turn later if it is small.
    Run,
}

/// How an outbox ended, once its writer has taken everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxClosed {
    /// Closed on purpose: everything queued before the close was handed out.
    Graceful,
    /// Closed because a push would have exceeded the byte limit; the queue was dropped.
    Overflow,
}

/// A queue of encoded lines for one connection, bounded in bytes.
///
/// Any thread pushes (the hub's fan-out, the session's replies); one writer takes everything
/// queued at once with [`Outbox::next_batch`] and writes it in one vectored write. A push that
/// would exceed the limit closes the outbox instead: a client that does not read is cut off
/// rather than allowed to grow the server's memory or slow anyone else. Pushing never blocks.
///
/// The outbox has one consumer, the connection's own task, so it keeps a single waker slot
/// (no waiter list): [`Outbox::poll_next_batch`] and [`Outbox::poll_overflowed`] both park that task's
/// waker there, and a push wakes it.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<State>,
}

/// The queue and its bookkeeping, packed: every idle connection has one (80 bytes, so the
/// outbox fits the allocator's size class it had before the holds).
#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Bytes>,
    /// The consumer task, waiting for a batch or an overflow.
    waker: Option<Waker>,
    /// Lines waiting for the session's effects. Boxed: almost always empty, so an idle
    /// connection pays a pointer.
    waiting: Option<Box<Waiting>>,
    /// The most bytes queued and waiting together.
    limit_bytes: u32,
    /// Bytes queued and waiting, together bounded by the limit.
    queued_bytes: u32,
    // The session's own effects that are still on their way to their recipients (a message
    // waiting for its commit, say), and the lines that must not overtake them: a reply, or
    // an own copy, of a command waits until every effect of the commands before it has been
    // delivered everywhere (never for its own command's effects). Counts run from the
    // outbox's start and wrap; only their differences matter.
    /// Effects announced with [`Outbox::hold`].
    issued: u32,
    /// Of those, delivered ([`Outbox::release`]), in order.
    released: u32,
    /// `issued` when the command being run began ([`Outbox::begin_command`]): what its
    /// replies wait for.
    barrier: u32,
    closed: Option<OutboxClosed>,
    /// The consumer found a few lines and let the runtime turn once before taking them.
    deferred: bool,
    /// A reply of the session's own is queued: the consumer takes the queue at once.
    has_reply: bool,
    /// Closed while lines waited: the outbox closes once they are released.
    is_closing: bool,
}

/// Lines waiting for the session's effects, in the order they go, each with the count of
/// effects it waits for; and an open group, if any.
#[derive(Debug, Default)]
struct Waiting {
    lines: VecDeque<(u32, Bytes)>,
    /// Their bytes, counted in the outbox's limit.
    bytes: usize,
    /// A command's replies being gathered ([`Outbox::open_group`]).
    group: Option<Group>,
}

/// The lines a command's own effects queued while its group is open, and the lines from
/// others that came meanwhile and go after the group. Both are counted in the limit.
#[derive(Debug, Default)]
struct Group {
    own: Vec<Bytes>,
    behind: Vec<Bytes>,
}

impl Waiting {
    fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.group.is_none()
    }

    /// The bytes held here: waiting lines and the open group's.
    fn held_bytes(&self) -> usize {
        let group = self.group.as_ref().map_or(0, |group| {
            group.own.iter().chain(&group.behind).map(Bytes::len).sum()
        });
        self.bytes + group
    }
}

impl State {
    /// Whether a line that waits for `count` effects may go now.
    fn is_released(&self, count: u32) -> bool {
        is_released(self.released, count)
    }

    /// What a line from `source` waits for, if anything: a reply, what the effects of the
    /// commands before its own; a late line of a command, what that command's replies wait
    /// for; a line from others, nothing, unless lines already wait (it goes after them,
    /// so that it never overtakes the session's own copy of an earlier effect).
    fn wait_for(&self, source: Source) -> Option<u32> {
        match source {
            Source::Reply => Some(self.barrier).filter(|count| !self.is_released(*count)),
            Source::Own(place) => Some(place.0).filter(|count| !self.is_released(*count)),
            Source::Event | Source::Run => self
                .waiting
                .as_ref()
                .and_then(|waiting| waiting.lines.back().map(|(count, _)| *count)),
        }
    }

    /// Puts a line among the waiting ones: after every line that waits for no more than it.
    fn hold_back(&mut self, count: u32, bytes: Bytes) {
        let released = self.released;
        let waiting = self.waiting.get_or_insert_default();
        let ahead = |c: u32| c.wrapping_sub(released);
        let position = waiting
            .lines
            .partition_point(|(c, _)| ahead(*c) <= ahead(count));
        waiting.bytes += bytes.len();
        waiting.lines.insert(position, (count, bytes));
    }
}

/// Whether a line that waits for `count` effects may go once `released` are delivered.
fn is_released(released: u32, count: u32) -> bool {
    // Wrapping: no count is ever 2^31 ahead of `released`.
    released.wrapping_sub(count) < 1 << 31
}

impl State {
    /// Queues `lines` from `source` under the lock; says whether the writer is to be woken.
    fn push_lines(
        &mut self,
        lines: impl IntoIterator<Item = Bytes>,
        source: Source,
    ) -> (Result<(), PushError>, bool) {
        // Closing behind lines that wait: only a late line of an earlier command still
        // comes in (its place is before the goodbye); anything else is dropped.
        let is_shut = self.is_closing && !matches!(source, Source::Own(_));
        if self.closed.is_some() || is_shut {
            return (Err(PushError::Closed), false);
        }
        // An open group gathers the command's own lines and holds others' behind them; a
        // late line of an earlier command goes as usual, before the group.
        let in_group = (self.waiting.as_ref().is_some_and(|w| w.group.is_some())
            && !matches!(source, Source::Own(_)))
        .then_some(source == Source::Reply);
        let wait_for = if in_group.is_some() {
            None
        } else {
            self.wait_for(source)
        };
        if in_group.is_none() {
            self.has_reply |= source != Source::Run && wait_for.is_none();
        }
        let mut result = Ok(());
        for bytes in lines {
            let queued = self.queued_bytes as usize + bytes.len();
            if queued > self.limit_bytes as usize {
                self.overflow();
                result = Err(PushError::Full);
                break;
            }
            // At most the limit, which fits.
            self.queued_bytes = u32::try_from(queued).unwrap_or(u32::MAX);
            match (in_group, wait_for) {
                (Some(is_own), _) => {
                    let group = self
                        .waiting
                        .as_mut()
                        .and_then(|w| w.group.as_mut())
                        .expect("the group is open");
                    if is_own {
                        group.own.push(bytes);
                    } else {
                        group.behind.push(bytes);
                    }
                }
                (None, Some(count)) => self.hold_back(count, bytes),
                (None, None) => self.queue.push_back(bytes),
            }
        }
        if (in_group.is_some() || wait_for.is_some()) && result.is_ok() {
            return (Ok(()), false);
        }
        // A writer waiting its turn is woken as usual once its batch is no longer
        // small: the wait gathers a few lines, never lets the queue grow to its bound.
        let is_waiting_turn = self.deferred && self.closed.is_none() && self.is_small();
        (result, !is_waiting_turn)
    }

    /// Closes on overflow: everything queued or held is dropped.
    fn overflow(&mut self) {
        self.closed = Some(OutboxClosed::Overflow);
        self.queue = VecDeque::new();
        self.waiting = None;
        self.queued_bytes = 0;
    }

    /// A batch worth waiting a turn for: a few lines from others, none of them a reply, and
    /// far from the byte limit. A writer takes a bigger one at once, and one waiting its
    /// turn is woken as soon as its batch stops being small.
    fn is_small(&self) -> bool {
        !self.has_reply && self.queue.len() < FEW_IOVECS && self.queued_bytes < self.limit_bytes / 4
    }
}

impl Outbox {
    /// An empty outbox that holds at most `limit_bytes` of queued lines (at most 4 GiB).
    pub fn new(limit_bytes: usize) -> Self {
        Self {
            state: Mutex::new(State {
                limit_bytes: u32::try_from(limit_bytes).unwrap_or(u32::MAX),
                ..State::default()
            }),
        }
    }

    /// Queues bytes for a session's sink: an outbox that is closing drops them quietly, and
    /// `is_last` closes it after them (its writer ends the connection once they are
    /// written). Returns `false` if they would exceed the limit (the outbox is then closed
    /// as [`OutboxClosed::Overflow`]).
    pub fn offer(&self, bytes: Bytes, is_last: bool) -> bool {
        let pushed = self.push_lines(std::iter::once(bytes), Source::Event);
        if is_last {
            self.close();
        }
        !matches!(pushed, Err(PushError::Full))
    }

    /// [`Outbox::offer`] for a line of the session's own command: `after` from
    /// [`Outbox::hold`] for one that arrives late (an echo once its message is stored), or
    /// `None` for one queued while the command runs (its own copy of a join): either way in
    /// its command's place among the replies ([`Outbox::push_own`], [`Outbox::push`]).
    pub fn offer_own(&self, bytes: Bytes, after: Option<ReplyPlace>) -> bool {
        let source = after.map_or(Source::Reply, Source::Own);
        !matches!(
            self.push_lines(std::iter::once(bytes), source),
            Err(PushError::Full)
        )
    }

    /// Queues one encoded line (or several, already joined).
    ///
    /// # Errors
    /// [`PushError::Full`] if it would exceed the limit (the outbox is then closed as
    /// [`OutboxClosed::Overflow`]), [`PushError::Closed`] if it was closed already.
    ///
    /// Meant for the session's own replies: they wait for the effects of its earlier
    /// commands still on their way ([`Outbox::begin_command`]), then are taken at the
    /// writer's next poll, without the turn's wait that lines from others get (see
    /// [`Outbox::poll_next_batch`]).
    pub fn push(&self, bytes: Bytes) -> Result<(), PushError> {
        self.push_lines(std::iter::once(bytes), Source::Reply)
    }

    /// Queues several encoded lines in order, under one lock and with one wake-up: a run
    /// of messages fanned out to the same recipients costs each outbox one visit.
    ///
    /// # Errors
    /// As [`Outbox::push`]: on [`PushError::Full`] nothing of this call stays queued.
    pub fn push_all(&self, lines: impl IntoIterator<Item = Bytes>) -> Result<(), PushError> {
        self.push_lines(lines, Source::Run)
    }

    fn push_lines(
        &self,
        lines: impl IntoIterator<Item = Bytes>,
        source: Source,
    ) -> Result<(), PushError> {
        let (result, waker) = {
            let mut state = self.lock();
            let (result, is_woken) = state.push_lines(lines, source);
            (result, if is_woken { state.waker.take() } else { None })
        };
        // Woken outside the lock, so the consumer never spins on it.
        if let Some(waker) = waker {
            waker.wake();
        }
        result
    }

    /// Starts gathering the replies of the session's current command (a labeled command,
    /// a join): what its own effects queue meanwhile ([`Outbox::offer_own`] without a place)
    /// is kept for the session to take ([`Outbox::take_group`]) and send among its replies,
    /// and lines from others wait behind them until [`Outbox::close_group`]. So a labeled
    /// command's own JOIN or NICK line joins its labeled reply, and nothing from the room
    /// comes between a JOIN and its NAMES. Opening an open group does nothing.
    pub fn open_group(&self) {
        let mut state = self.lock();
        if state.closed.is_some() {
            return;
        }
        let waiting = state.waiting.get_or_insert_default();
        if waiting.group.is_none() {
            waiting.group = Some(Group::default());
        }
    }

    /// Takes the lines the current command's own effects queued since the group opened
    /// (or since the last take), in order.
    pub fn take_group(&self) -> Vec<Bytes> {
        let mut state = self.lock();
        let State {
            waiting,
            queued_bytes,
            ..
        } = &mut *state;
        let Some(group) = waiting.as_mut().and_then(|w| w.group.as_mut()) else {
            return Vec::new();
        };
        let own = std::mem::take(&mut group.own);
        let bytes: usize = own.iter().map(Bytes::len).sum();
        *queued_bytes = queued_bytes.saturating_sub(u32::try_from(bytes).unwrap_or(u32::MAX));
        own
    }

    /// Ends the group: queues `replies` (the command's replies, own lines included) as
    /// [`Outbox::push`] would, then the lines from others that waited behind them, in one
    /// step, so nothing comes between. Returns `false` if they exceed the limit (the outbox
    /// is then closed as [`OutboxClosed::Overflow`]).
    pub fn close_group(&self, replies: impl IntoIterator<Item = Bytes>) -> bool {
        let (result, waker) = {
            let mut state = self.lock();
            let group = state.waiting.as_mut().and_then(|w| w.group.take());
            if state.waiting.as_ref().is_some_and(|w| w.is_empty()) {
                state.waiting = None;
            }
            let behind = match group {
                Some(group) => {
                    let bytes: usize = group.own.iter().chain(&group.behind).map(Bytes::len).sum();
                    state.queued_bytes = state
                        .queued_bytes
                        .saturating_sub(u32::try_from(bytes).unwrap_or(u32::MAX));
                    group.behind
                }
                None => Vec::new(),
            };
            // Closed meanwhile (the goodbye is behind): the group still goes before it.
            let is_closing = std::mem::take(&mut state.is_closing);
            let (mut result, mut is_woken) = state.push_lines(replies, Source::Reply);
            if result.is_ok() && !behind.is_empty() {
                let (more, woken) = state.push_lines(behind, Source::Event);
                result = more;
                is_woken |= woken;
            }
            if is_closing {
                if state.waiting.is_some() {
                    state.is_closing = true;
                } else {
                    if state.closed.is_none() {
                        state.closed = Some(OutboxClosed::Graceful);
                    }
                    is_woken = true;
                }
            }
            (result, if is_woken { state.waker.take() } else { None })
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        !matches!(result, Err(PushError::Full))
    }

    /// [`Outbox::offer`] for several lines, none of them the last: `false` if they would
    /// exceed the limit.
    pub fn offer_all(&self, lines: impl IntoIterator<Item = Bytes>) -> bool {
        !matches!(self.push_all(lines), Err(PushError::Full))
    }

    /// Closes the outbox: later pushes fail, and the writer gets what was queued, then the end.
    /// Closing twice keeps the first cause. With lines waiting for the session's effects
    /// ([`Outbox::hold`]), only late lines of earlier commands are still taken, and the
    /// outbox closes once everything that waits has been released.
    pub fn close(&self) {
        let waker = {
            let mut state = self.lock();
            if state.waiting.is_some() {
                state.is_closing = true;
                return;
            }
            if state.closed.is_none() {
                state.closed = Some(OutboxClosed::Graceful);
            }
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Marks the start of a command of the session's own (the next input line): its
    /// replies, and its own copies of what it does, wait for the effects of the commands
    /// before it ([`Outbox::hold`]) to be delivered, and for nothing else.
    pub fn begin_command(&self) {
        let mut state = self.lock();
        state.barrier = state.issued;
    }

    /// Announces an effect of the session's current command that is on its way to its
    /// recipients (a message waiting for its commit, a join queued behind it): the replies to
    /// its later commands wait until it is delivered, which [`Outbox::release`] says. Lines
    /// from others never wait. So no reply to a client's later command overtakes the effects
    /// of its earlier ones, in its own stream or in anyone else's.
    ///
    /// Returns the command's place among the replies, for its late lines
    /// ([`Outbox::push_own`]).
    pub fn hold(&self) -> ReplyPlace {
        let mut state = self.lock();
        state.issued = state.issued.wrapping_add(1);
        ReplyPlace(state.barrier)
    }

    /// Queues a line that belongs to one of the session's commands and arrives later (an
    /// echo once its message is stored, a history it asked for): it waits, like that
    /// command's replies, for `after` (from [`Outbox::hold`]), and goes before the replies
    /// of later commands.
    ///
    /// # Errors
    /// As [`Outbox::push`].
    pub fn push_own(&self, bytes: Bytes, after: ReplyPlace) -> Result<(), PushError> {
        self.push_lines(std::iter::once(bytes), Source::Own(after))
    }

    /// Says that the oldest effect announced with [`Outbox::hold`] has been delivered: the
    /// replies that waited for it (and for nothing later) are queued, in order.
    pub fn release(&self) {
        let waker = {
            let mut state = self.lock();
            let State {
                waiting,
                queue,
                released,
                ..
            } = &mut *state;
            *released = released.wrapping_add(1);
            let mut has_reply = false;
            if let Some(held) = waiting {
                while let Some((count, _)) = held.lines.front() {
                    if !is_released(*released, *count) {
                        break;
                    }
                    let (_, bytes) = held.lines.pop_front().expect("front exists");
                    held.bytes -= bytes.len();
                    queue.push_back(bytes);
                    has_reply = true;
                }
                if held.is_empty() {
                    *waiting = None;
                }
            }
            if state.waiting.is_none() && state.is_closing {
                state.is_closing = false;
                if state.closed.is_none() {
                    state.closed = Some(OutboxClosed::Graceful);
                }
            } else if !has_reply {
                return;
            }
            state.has_reply |= has_reply;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Ready once the outbox has been closed by an overflow; a writer blocked on a client
    /// that does not read polls this too, so it can give up at once. Parks the task's waker
    /// otherwise.
    pub fn poll_overflowed(&self, cx: &Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.closed == Some(OutboxClosed::Overflow) {
            return Poll::Ready(());
        }
        park(&mut state.waker, cx);
        Poll::Pending
    }

    /// Ready once something is queued or the outbox is closed: moves everything queued into
    /// `batch` (appending) and gives `Ok(())` with a non-empty batch, or `Err(cause)` once
    /// the outbox is closed and drained. Parks the task's waker otherwise. Meant for one
    /// writer at a time; nothing is taken while it is pending.
    ///
    /// A small queue (fewer than `FEW_IOVECS` lines, under a quarter of the byte limit, none
    /// of them a reply: [`Outbox::push`]) is taken one runtime turn later (tokio's
    /// `yield_now`: after the tasks already woken have run and the I/O driver has been
    /// polled), so the messages that arrived with this one join it in the same write, as in
    /// an event loop that flushes once it has read all its ready sockets. With one write
    /// per recipient per message, the kernel's per-write cost is most of the server's CPU
    /// (`docs/BENCHMARKS.md`, "Why the CPU targets are not met").
    /// The wait ends early, with the usual wake-up, once the queue stops being small: it
    /// gathers a few lines and never lets a burst fill the queue to its bound meanwhile.
    pub fn poll_next_batch(
        &self,
        cx: &Context<'_>,
        batch: &mut Vec<Bytes>,
    ) -> Poll<Result<(), OutboxClosed>> {
        let mut state = self.lock();
        if !state.queue.is_empty() {
            if !state.deferred && state.is_small() {
                state.deferred = true;
                // Kept too, so a push that makes the batch big wakes the writer at once.
                park(&mut state.waker, cx);
                drop(state);
                // A yield's first poll hands the waker to the runtime, to be woken once it
                // has turned (at once outside a runtime); it is always pending.
                let yielding = std::pin::pin!(tokio::task::yield_now());
                let _ = yielding.poll(&mut Context::from_waker(cx.waker()));
                return Poll::Pending;
            }
            state.deferred = false;
            state.has_reply = false;
            // What waits stays counted (it is at most the limit, which fits).
            let waiting = state
                .waiting
                .as_ref()
                .map_or(0, |waiting| waiting.held_bytes());
            state.queued_bytes = u32::try_from(waiting).unwrap_or(u32::MAX);
            if state.queue.capacity() > KEPT_QUEUE_CAPACITY {
                // Take the whole queue, allocation and all: a connection keeps no capacity
                // from its last burst.
                batch.extend(std::mem::take(&mut state.queue));
            } else {
                // A connection that gets a line or two per wake-up (a chat at human pace)
                // keeps its small queue rather than allocating one per line.
                batch.extend(state.queue.drain(..));
            }
            return Poll::Ready(Ok(()));
        }
        if let Some(cause) = state.closed {
            return Poll::Ready(Err(cause));
        }
        park(&mut state.waker, cx);
        Poll::Pending
    }

    /// [`Outbox::poll_next_batch`] as a future.
    ///
    /// # Cancel safety
    /// Cancel-safe: nothing is taken from the queue until the future completes.
    pub async fn next_batch(&self, batch: &mut Vec<Bytes>) -> Result<(), OutboxClosed> {
        std::future::poll_fn(|cx| self.poll_next_batch(cx, batch)).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The critical sections cannot panic half-way; a poisoned lock still holds valid state.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }
}

/// Keeps the task's waker, cloning only when it changed.
fn park(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Writes every buffer of `batch` to `writer` with vectored writes, removing each from
/// `batch` once it is written, then flushes; ready when `batch` is empty and flushed.
///
/// The slice array lives on the stack of one poll, never in a future: a session task stays
/// small however many buffers one write takes.
///
/// # Errors
/// The writer's I/O error; `batch` then holds what was not written.
pub fn poll_write_batch<W: AsyncWrite + Unpin>(
    writer: &mut W,
    cx: &mut Context<'_>,
    batch: &mut Vec<Bytes>,
) -> Poll<io::Result<()>> {
    while !batch.is_empty() {
        let mut written = std::task::ready!(if batch.len() <= FEW_IOVECS {
            poll_write_slices::<FEW_IOVECS, W>(writer, cx, batch)
        } else {
            poll_write_slices::<MAX_IOVECS, W>(writer, cx, batch)
        })?;
        if written == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        let mut done = 0;
        while written > 0 {
            let head = &mut batch[done];
            if written >= head.len() {
                written -= head.len();
                done += 1;
            } else {
                head.advance(written);
                written = 0;
            }
        }
        batch.drain(..done);
    }
    Pin::new(writer).poll_flush(cx)
}

/// One vectored write of the first `N` (at most) buffers of `batch`, from a slice array of
/// `N` on the stack.
fn poll_write_slices<const N: usize, W: AsyncWrite + Unpin>(
    writer: &mut W,
    cx: &mut Context<'_>,
    batch: &[Bytes],
) -> Poll<io::Result<usize>> {
    let count = batch.len().min(N);
    let mut slices = [IoSlice::new(&[]); N];
    for (slice, bytes) in slices.iter_mut().zip(&batch[..count]) {
        *slice = IoSlice::new(bytes);
    }
    Pin::new(writer).poll_write_vectored(cx, &slices[..count])
}

/// [`poll_write_batch`] as a future.
///
/// # Errors
/// The writer's I/O error; `batch` then holds what was not written.
///
/// # Cancel safety
/// Cancel-safe when the writer's `poll_write_vectored` is (as a `TcpStream`'s is): `batch`
/// always holds exactly what is still to be written, so a later call resumes.
pub async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batch: &mut Vec<Bytes>,
) -> io::Result<()> {
    std::future::poll_fn(|cx| poll_write_batch(writer, cx, batch)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every idle connection has an outbox: with its `Arc` header it stays within the
    /// allocator's 112-byte chunk it had before the holds (104 bytes asked for, at most).
    #[test]
    fn an_outbox_stays_small() {
        assert!(
            std::mem::size_of::<Outbox>() <= 88,
            "Outbox is {} bytes",
            std::mem::size_of::<Outbox>()
        );
    }

    #[tokio::test]
    async fn batches_everything_queued_and_ends_after_close() {
        let outbox = Outbox::new(100);
        outbox.push(Bytes::from_static(b"a\r\n")).unwrap();
        outbox.push(Bytes::from_static(b"b\r\n")).unwrap();
        let mut batch = Vec::new();
        outbox.next_batch(&mut batch).await.unwrap();
        assert_eq!(batch.len(), 2);
        outbox.close();
        assert_eq!(
            outbox.push(Bytes::from_static(b"c")),
            Err(PushError::Closed)
        );
        assert_eq!(
            outbox.next_batch(&mut Vec::new()).await,
            Err(OutboxClosed::Graceful)
        );
    }

    /// A line or two waits one runtime turn, and what is pushed meanwhile goes with it;
    /// a reply, or a long queue, is taken at once.
    #[tokio::test]
    async fn a_few_lines_wait_one_turn_for_more() {
        let outbox = Outbox::new(1000);
        outbox.push_all([Bytes::from_static(b"a")]).unwrap();
        let mut batch = Vec::new();
        {
            let mut taking = std::pin::pin!(outbox.next_batch(&mut batch));
            let first = std::future::poll_fn(|cx| Poll::Ready(taking.as_mut().poll(cx))).await;
            assert!(first.is_pending(), "a single line was taken at once");
            outbox.push_all([Bytes::from_static(b"b")]).unwrap();
            taking.await.unwrap();
        }
        assert_eq!(batch, [&b"a"[..], &b"b"[..]]);

        // A reply of the session's own goes at once.
        outbox.push(Bytes::from_static(b"reply")).unwrap();
        let mut batch = Vec::new();
        let mut taking = std::pin::pin!(outbox.next_batch(&mut batch));
        let first = std::future::poll_fn(|cx| Poll::Ready(taking.as_mut().poll(cx))).await;
        assert!(first.is_ready(), "a reply waited");

        let lines = (0..FEW_IOVECS).map(|_| Bytes::from_static(b"x"));
        outbox.push_all(lines).unwrap();
        let mut batch = Vec::new();
        let mut taking = std::pin::pin!(outbox.next_batch(&mut batch));
        let first = std::future::poll_fn(|cx| Poll::Ready(taking.as_mut().poll(cx))).await;
        assert!(first.is_ready(), "a full batch waited");
    }

    /// A writer waiting its turn is woken as soon as its batch is no longer small, so a
    /// burst cannot fill the queue to its bound while it waits.
    #[tokio::test]
    async fn a_writer_waiting_its_turn_is_woken_by_a_big_batch() {
        struct Count(std::sync::atomic::AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: std::sync::Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let count = std::sync::Arc::new(Count(std::sync::atomic::AtomicUsize::new(0)));
        let waker = Waker::from(std::sync::Arc::clone(&count));
        let cx = Context::from_waker(&waker);
        let outbox = Outbox::new(1_000_000);
        outbox.push_all([Bytes::from_static(b"0")]).unwrap();
        let mut batch = Vec::new();
        assert!(outbox.poll_next_batch(&cx, &mut batch).is_pending());
        let wakes = || count.0.load(std::sync::atomic::Ordering::SeqCst);
        for _ in 1..FEW_IOVECS - 1 {
            outbox.push_all([Bytes::from_static(b"x")]).unwrap();
        }
        assert_eq!(wakes(), 0, "woken before its batch was big");
        outbox.push_all([Bytes::from_static(b"x")]).unwrap();
        assert_eq!(wakes(), 1, "not woken by a big batch");
        assert!(outbox.poll_next_batch(&cx, &mut batch).is_ready());
        assert_eq!(batch.len(), FEW_IOVECS);
    }

    async fn take(outbox: &Outbox) -> Vec<Bytes> {
        let mut batch = Vec::new();
        outbox.next_batch(&mut batch).await.unwrap();
        batch
    }

    /// A reply waits for the effects of the session's earlier commands, never for its
    /// own command's; lines from others wait only behind lines that already wait.
    #[tokio::test]
    async fn replies_wait_for_the_effects_of_earlier_commands() {
        let outbox = Outbox::new(1000);
        outbox.begin_command();
        outbox.hold();
        outbox.push(Bytes::from_static(b"same-command")).unwrap();
        outbox.push_all([Bytes::from_static(b"other")]).unwrap();
        assert_eq!(take(&outbox).await, [&b"same-command"[..], &b"other"[..]]);
        outbox.begin_command();
        outbox.push(Bytes::from_static(b"pong1")).unwrap();
        outbox.hold();
        outbox.begin_command();
        outbox.push(Bytes::from_static(b"pong2")).unwrap();
        // Behind the waiting replies, in order, so it never overtakes an own copy held there.
        outbox.push_all([Bytes::from_static(b"later")]).unwrap();
        // The first command's effect delivered: the reply that waited for it alone goes.
        outbox.release();
        assert_eq!(take(&outbox).await, [&b"pong1"[..]]);
        outbox.release();
        assert_eq!(take(&outbox).await, [&b"pong2"[..], &b"later"[..]]);
        // Nothing on its way: a reply goes at once.
        outbox.begin_command();
        outbox.push(Bytes::from_static(b"now")).unwrap();
        assert!(outbox.offer(Bytes::from_static(b"event"), false));
        assert_eq!(take(&outbox).await, [&b"now"[..], &b"event"[..]]);
    }

    /// A line of an earlier command that arrives late (an echo) goes before the replies of
    /// later commands that wait, and after those of its own command.
    #[tokio::test]
    async fn a_late_line_of_a_command_goes_before_later_commands_replies() {
        let outbox = Outbox::new(1000);
        outbox.begin_command();
        let first = outbox.hold();
        outbox.begin_command();
        let second = outbox.hold();
        outbox.push(Bytes::from_static(b"reply2")).unwrap();
        outbox.begin_command();
        outbox.push(Bytes::from_static(b"reply3")).unwrap();
        // The first command's own line: nothing before it, so it goes at once.
        outbox
            .push_own(Bytes::from_static(b"echo1"), first)
            .unwrap();
        assert_eq!(take(&outbox).await, [&b"echo1"[..]]);
        assert!(outbox.offer_own(Bytes::from_static(b"echo2"), Some(second)));
        outbox.release();
        assert_eq!(take(&outbox).await, [&b"reply2"[..], &b"echo2"[..]]);
        outbox.release();
        assert_eq!(take(&outbox).await, [&b"reply3"[..]]);
    }

    /// An open group gathers the command's own lines for the session to take, holds lines
    /// from others behind its replies, lets a late line of an earlier command go first, and
    /// ends with the replies and then what waited, even when the goodbye is among them.
    #[tokio::test]
    async fn a_group_keeps_others_behind_a_commands_replies() {
        let outbox = Outbox::new(1000);
        outbox.begin_command();
        let earlier = outbox.hold();
        outbox.begin_command();
        outbox.open_group();
        assert!(outbox.offer_own(Bytes::from_static(b"own-join"), None));
        assert!(outbox.offer(Bytes::from_static(b"room-traffic"), false));
        assert_eq!(outbox.take_group(), [&b"own-join"[..]]);
        outbox.release();
        outbox
            .push_own(Bytes::from_static(b"echo"), earlier)
            .unwrap();
        assert_eq!(take(&outbox).await, [&b"echo"[..]]);
        assert!(outbox.offer_own(Bytes::from_static(b"own-2"), None));
        assert_eq!(outbox.take_group(), [&b"own-2"[..]]);
        assert!(outbox.offer(Bytes::from_static(b"kill"), true));
        assert!(outbox.close_group([
            Bytes::from_static(b"batch-start"),
            Bytes::from_static(b"own-join"),
            Bytes::from_static(b"names"),
            Bytes::from_static(b"batch-end"),
        ]));
        assert_eq!(
            take(&outbox).await,
            [
                &b"batch-start"[..],
                b"own-join",
                b"names",
                b"batch-end",
                b"room-traffic",
                b"kill"
            ]
        );
        assert_eq!(
            outbox.next_batch(&mut Vec::new()).await,
            Err(OutboxClosed::Graceful)
        );
        // Gathered lines count toward the limit until they are taken.
        let outbox = Outbox::new(4);
        outbox.open_group();
        assert!(outbox.offer_own(Bytes::from_static(b"abc"), None));
        assert!(!outbox.offer(Bytes::from_static(b"de"), false));
    }

    /// Closed with lines waiting, the outbox still takes the late lines of earlier
    /// commands, drops anything else, hands out what waited (the goodbye last) and ends.
    #[tokio::test]
    async fn a_close_waits_for_held_lines_and_the_goodbye_comes_last() {
        let outbox = Outbox::new(1000);
        let place = outbox.hold();
        outbox.begin_command();
        outbox.push(Bytes::from_static(b"reply")).unwrap();
        assert!(outbox.offer(Bytes::from_static(b"goodbye"), true));
        assert_eq!(
            outbox.push(Bytes::from_static(b"too late")),
            Err(PushError::Closed)
        );
        assert_eq!(
            outbox.push_all([Bytes::from_static(b"others")]),
            Err(PushError::Closed)
        );
        outbox.push_own(Bytes::from_static(b"echo"), place).unwrap();
        outbox.release();
        assert_eq!(
            take(&outbox).await,
            [&b"echo"[..], &b"reply"[..], &b"goodbye"[..]]
        );
        assert_eq!(
            outbox.next_batch(&mut Vec::new()).await,
            Err(OutboxClosed::Graceful)
        );
        // Held lines count toward the limit.
        let outbox = Outbox::new(4);
        outbox.hold();
        outbox.begin_command();
        outbox.push(Bytes::from_static(b"abc")).unwrap();
        assert_eq!(outbox.push(Bytes::from_static(b"de")), Err(PushError::Full));
    }

    #[tokio::test]
    async fn overflow_closes_and_drops_the_queue() {
        let outbox = Outbox::new(5);
        outbox.push(Bytes::from_static(b"abc")).unwrap();
        assert_eq!(
            outbox.push(Bytes::from_static(b"def")),
            Err(PushError::Full)
        );
        let mut batch = Vec::new();
        assert_eq!(
            outbox.next_batch(&mut batch).await,
            Err(OutboxClosed::Overflow)
        );
        assert!(batch.is_empty());
    }

    #[tokio::test]
    async fn push_all_queues_in_order_or_overflows_as_a_whole() {
        let outbox = Outbox::new(8);
        outbox
            .push_all([Bytes::from_static(b"ab"), Bytes::from_static(b"cd")])
            .unwrap();
        let mut batch = Vec::new();
        outbox.next_batch(&mut batch).await.unwrap();
        assert_eq!(batch, [&b"ab"[..], &b"cd"[..]]);
        // 3 + 3 fit, the third line would make 9 bytes: the queue goes, the outbox closes.
        assert!(!outbox.offer_all([b"abc", b"def", b"ghi"].map(|l| Bytes::from_static(l))));
        let mut batch = Vec::new();
        assert_eq!(
            outbox.next_batch(&mut batch).await,
            Err(OutboxClosed::Overflow)
        );
        assert!(batch.is_empty());
        assert_eq!(
            outbox.push_all([Bytes::from_static(b"x")]),
            Err(PushError::Closed)
        );
    }

    #[tokio::test]
    async fn write_batch_writes_all_bytes_in_order() {
        let (mut a, mut b) = tokio::io::duplex(7);
        let lines: Vec<Bytes> = (0..200).map(|i| Bytes::from(format!("{i}\n"))).collect();
        let expected: Vec<u8> = lines.iter().flat_map(|l| l.to_vec()).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut got)
                .await
                .unwrap();
            got
        });
        let mut batch = lines;
        write_batch(&mut a, &mut batch).await.unwrap();
        assert!(batch.is_empty());
        drop(a);
        assert_eq!(reader.await.unwrap(), expected);
    }

    /// Over a real socket, vectored writes of a few lines, of more than the small slice
    /// array and of more than `MAX_IOVECS` (with partial writes as the reader lags) keep
    /// every byte in order.
    #[tokio::test]
    async fn vectored_writes_of_every_size_keep_the_bytes_in_order() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut got)
                .await
                .unwrap();
            got
        });
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut expected = Vec::new();
        for count in [3, FEW_IOVECS + 1, MAX_IOVECS * 3 + 7] {
            let lines: Vec<Bytes> = (0..count)
                .map(|i| Bytes::from(format!("{count}:{i}:{}\n", "x".repeat(i % 300))))
                .collect();
            expected.extend(lines.iter().flat_map(|l| l.to_vec()));
            let mut batch = lines;
            write_batch(&mut stream, &mut batch).await.unwrap();
            assert!(batch.is_empty());
        }
        drop(stream);
        assert!(reader.await.unwrap() == expected, "bytes lost or reordered");
    }
}

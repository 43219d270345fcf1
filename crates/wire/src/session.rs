//! The session driver: the one loop every face's connection runs, whatever its protocol.
//!
//! A face plugs in a [`Handler`] (its session: what a line does, what it waits for, when it
//! must act on its own) and [`drive`] does the rest, the same for every face: it writes
//! what the outbox holds, runs the operation the session waits for, reads and frames input,
//! keeps one timer for the session's deadlines and for the close grace, yields after a
//! burst, and at the end leaves, says a last word to a client that stopped reading, and
//! shuts the connection down. It is generic over the byte stream, so TLS and WebSocket
//! connections run the same loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use teahouse_types::LeaveReason;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep, sleep_until};
use tracing::debug;

use crate::conn::{ReadPacer, poll_read_some, poll_write_step};
use crate::outbox::Outbox;
use crate::text::{Frame, LineDecoder};

/// Connection settings every face shares (the server's `[connection]` section).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The most bytes queued for one connection; a client that falls this far behind is
    /// disconnected ("send queue exceeded") and its rooms are told it left.
    pub sendq_bytes: usize,
    /// How long a closing connection gets to take its last lines (goodbye, shutdown notice).
    pub close_grace: Duration,
    /// TCP keepalive idle time: a peer that vanished without a FIN or RST (half-open) is
    /// detected about this long plus three probe intervals after its last packet, and
    /// announced as gone. Set on the socket by the accept loop.
    pub keepalive: Duration,
    /// How long lines may wait to be written without the client taking a byte of them:
    /// a client that reads a byte a second is cut after this, rather than by the kernel
    /// minutes later (its rooms are told it left, "send queue exceeded").
    pub write_timeout: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            sendq_bytes: 256 * 1024,
            close_grace: Duration::from_secs(2),
            keepalive: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
        }
    }
}

/// A session's input: the framing decoder over what has been read and not yet run.
pub struct Input<'a> {
    decoder: &'a mut LineDecoder,
    rbuf: &'a mut BytesMut,
    is_eof: bool,
}

impl Input<'_> {
    /// The next frame, if a whole one is there (at end of stream, the last line without its
    /// line ending too); consumes it.
    pub fn next_frame(&mut self) -> Option<Frame> {
        if self.is_eof {
            self.decoder.decode_eof(self.rbuf)
        } else {
            self.decoder.decode(self.rbuf)
        }
    }

    /// Whether a whole frame is there to take (or anything at all, at end of stream). A line
    /// over the limit counts too, so that its error reply is not held back.
    pub fn has_frame(&self) -> bool {
        (self.is_eof && !self.rbuf.is_empty())
            || self.rbuf.contains(&b'\n')
            || self.rbuf.len() > self.decoder.max_line_bytes()
    }

    /// How many bytes the next line takes with its line ending, if a whole one is there
    /// (for flood control, which charges a line by its size before it is run). `None` also
    /// while [`Input::has_frame`] holds for input with no line ending: the start of an
    /// over-long line, answered once, and the rest of it, discarded as it comes.
    pub fn next_frame_len(&self) -> Option<usize> {
        self.rbuf
            .iter()
            .position(|&b| b == b'\n')
            .map(|end| end + 1)
    }

    /// Whether what waits to be run opens with a TLS handshake record: a TLS client on a
    /// plain-text port. No line of a client can start so (0x16 is a control character).
    pub fn opens_with_tls_record(&self) -> bool {
        matches!(self.rbuf.get(..2), Some([0x16, 0x03]))
    }

    /// Bytes read and not yet run.
    pub fn buffered(&self) -> usize {
        self.rbuf.len()
    }

    /// Whether the client has closed its sending side.
    pub fn is_eof(&self) -> bool {
        self.is_eof
    }
}

/// What a face's session does with its connection; [`drive`] calls it.
///
/// Every method runs on the session's own task and must not block. A handler that wants the
/// session to end sets that aside for [`Handler::take_close`] rather than ending it itself.
pub trait Handler: Send {
    /// The outbox this connection's writer drains.
    fn outbox(&self) -> &Arc<Outbox>;

    /// Runs the frames `input` holds, as far as the session can now: it stops when it must
    /// wait ([`Handler::poll_wait`]), is slowed (flood control), or closes.
    fn on_input(&mut self, input: &mut Input<'_>);

    /// Polls the operation the session waits for (an account check, a claim across nodes);
    /// `Ready` once it is done and its continuation has run. `Pending` when nothing waits.
    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()>;

    /// Whether an operation is pending: input is not read meanwhile (output goes on).
    fn is_waiting(&self) -> bool;

    /// Whether to read more input now that `buffered` bytes wait to be run (flood control
    /// stops reading a slowed client).
    fn can_read(&self, buffered: usize) -> bool {
        let _ = buffered;
        true
    }

    /// When the session must next act on its own (a login deadline, a ping), if ever.
    fn deadline(&self) -> Option<Instant>;

    /// The deadline has come; `input` holds what was read and not yet run.
    fn on_deadline(&mut self, now: Instant, input: &mut Input<'_>);

    /// The reason to end the session, if something asked for it since the last call.
    fn take_close(&mut self) -> Option<LeaveReason>;

    /// Leaves the hub with `reason` (others are told) and closes the outbox after what is
    /// queued. Called whatever ends the session, perhaps again at the very end: only the
    /// first call counts.
    fn leave(&mut self, reason: LeaveReason);

    /// The last line for a client cut off because it stopped reading (sent once, best
    /// effort, never waited for).
    fn overflow_line(&self) -> Bytes;

    /// How long a closing connection gets to take its last lines.
    fn close_grace(&self) -> Duration;

    /// How long output may wait without the client taking any of it before the session
    /// is cut ([`SessionConfig::write_timeout`]).
    fn write_timeout(&self) -> Duration;
}

/// What woke the session.
enum Wake {
    Written(Result<(), crate::conn::WriteEnd>),
    /// A write could not finish its batch, which is not where it stood the last time (it
    /// shrank, or it is new): the write deadline moves.
    Stalled,
    Waited,
    Read(std::io::Result<usize>),
    Timer,
}

/// Runs one connection to its end: `session` is the face's handler, `stream` the
/// connection, lines up to `max_line_bytes` long (longer input is discarded up to its end
/// and reported as [`Frame::TooLong`]), and `keep` (a connection permit) is held until the
/// end.
///
/// An `async` block rather than an `async fn`: an `async fn` copies its arguments into
/// locals of its own, so the session state would take its room twice in every task. The
/// loop polls its steps in order (write, wait, read, timer) from one poll function over the
/// whole stream (`next_wake`), so it needs no split halves and holds no step future of its
/// own. Longer than most functions on purpose: its state lives in this future's own locals,
/// the biggest part of every idle connection's memory, and moving the end of a session into
/// a function of its own cost 56 bytes a connection (its future is laid out beside the
/// loop's, not over it).
pub fn drive<H, S, K>(
    mut session: H,
    mut stream: S,
    max_line_bytes: usize,
    keep: K,
) -> impl Future<Output = ()> + Send + 'static
where
    H: Handler + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    K: Send + 'static,
{
    // Made here, outside the future: what the future is built from keeps a slot of its own
    // for the whole session.
    let mut decoder = LineDecoder::new(max_line_bytes);
    async move {
        debug!("session started");
        // The loop's state in a block of its own: gone once the session ends.
        let end = 'session: {
            let outbox = Arc::clone(session.outbox());
            let mut rbuf = BytesMut::new();
            let mut wbatch: Vec<Bytes> = Vec::new();
            let mut close_at: Option<Instant> = None;
            // Since when the batch being written has not shrunk, and its shape then (lines
            // left, bytes left of the first): output that waits longer than the write
            // timeout cuts the session.
            let mut stalled: Option<(Instant, u32, u32)> = None;
            let mut pacer = ReadPacer::default();
            // Long-lived, so a wake-up re-registers nothing: one timer, only moved when its
            // deadline changes. (Shutdown arrives as a hub event on the outbox, not a watch.)
            let far = || Instant::now() + Duration::from_secs(86_400 * 365);
            let timer = sleep_until(session.deadline().unwrap_or_else(far));
            tokio::pin!(timer);
            loop {
                let write_deadline = stalled.map(|(since, ..)| since + session.write_timeout());
                let deadline = match (close_at.or_else(|| session.deadline()), write_deadline) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let has_deadline = match deadline {
                    Some(at) => {
                        if at != timer.deadline() || timer.is_elapsed() {
                            timer.as_mut().reset(at);
                        }
                        true
                    }
                    None => false,
                };
                let is_closing = close_at.is_some();
                let is_reading =
                    !is_closing && !session.is_waiting() && session.can_read(rbuf.len());
                let wake = next_wake(Steps {
                    stream: &mut stream,
                    session: &mut session,
                    rbuf: &mut rbuf,
                    timer: timer.as_mut(),
                    outbox: &outbox,
                    wbatch: &mut wbatch,
                    stalled: stalled.map(|(_, lines, bytes)| (lines, bytes)),
                    is_closing,
                    is_reading,
                    has_deadline,
                })
                .await;
                // Progress on the batch being written, or not.
                match wbatch.first() {
                    None => stalled = None,
                    Some(head) => {
                        let shape = (
                            u32::try_from(wbatch.len()).unwrap_or(u32::MAX),
                            u32::try_from(head.len()).unwrap_or(u32::MAX),
                        );
                        if stalled.is_none_or(|(_, lines, bytes)| (lines, bytes) != shape) {
                            stalled = Some((Instant::now(), shape.0, shape.1));
                        }
                    }
                }
                let mut input = Input {
                    decoder: &mut decoder,
                    rbuf: &mut rbuf,
                    is_eof: false,
                };
                let mut should_yield = false;
                match wake {
                    Wake::Written(Ok(())) | Wake::Stalled => continue,
                    Wake::Written(Err(end)) => {
                        debug!(?end, "writing ended");
                        break 'session end.leave_reason();
                    }
                    // The lines that arrived meanwhile are next, in order.
                    Wake::Waited => session.on_input(&mut input),
                    Wake::Read(Err(error)) => {
                        debug!(%error, "read failed");
                        break 'session Some(LeaveReason::ConnectionLost);
                    }
                    Wake::Read(Ok(read_bytes)) => {
                        input.is_eof = read_bytes == 0;
                        session.on_input(&mut input);
                        if input.is_eof {
                            // Nobody is left to read for, or to wait for.
                            let reason =
                                session.take_close().unwrap_or(LeaveReason::ConnectionLost);
                            session.leave(reason);
                            close_at = Some(Instant::now() + session.close_grace());
                        }
                        should_yield = pacer.after_read(&mut rbuf, read_bytes);
                    }
                    Wake::Timer => {
                        let now = Instant::now();
                        if close_at.is_some_and(|at| now >= at) {
                            debug!("closing connection did not take its last lines in time");
                            break 'session None;
                        }
                        // Against the batch as it is now: a slow reader may have taken a
                        // little of it meanwhile, and that is progress.
                        if stalled.is_some_and(|(since, ..)| now >= since + session.write_timeout())
                        {
                            debug!("the client took none of its output in time");
                            break 'session Some(LeaveReason::SendQueueExceeded);
                        }
                        if !is_closing {
                            session.on_deadline(now, &mut input);
                        }
                    }
                }
                // Lines run after a wait or a flood delay empty the buffer too: an idle
                // connection keeps none.
                if rbuf.is_empty() {
                    // Dropping it frees what the decoder's splits still share of the read.
                    rbuf = BytesMut::new();
                }
                if close_at.is_none()
                    && let Some(reason) = session.take_close()
                {
                    session.leave(reason);
                    close_at = Some(Instant::now() + session.close_grace());
                }
                if should_yield {
                    tokio::task::yield_now().await;
                }
            }
        };
        if end == Some(LeaveReason::SendQueueExceeded) {
            // The client is not reading: one best-effort line, never waited for.
            let line = session.overflow_line();
            let _ =
                std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut stream).poll_write(cx, &line)))
                    .await;
        }
        if let Some(reason) = end {
            session.leave(reason);
        }
        // The connection's place in the limits is given back before the close, so that a
        // client that sees the end finds it counted no more.
        drop(keep);
        let _ = stream.shutdown().await;
        debug!("session ended");
    }
}

/// What the loop waits on, for one wait.
struct Steps<'a, H, S> {
    stream: &'a mut S,
    session: &'a mut H,
    rbuf: &'a mut BytesMut,
    timer: Pin<&'a mut Sleep>,
    outbox: &'a Outbox,
    wbatch: &'a mut Vec<Bytes>,
    /// The shape of the stalled batch the loop knows of (lines, bytes of the first).
    stalled: Option<(u32, u32)>,
    is_closing: bool,
    is_reading: bool,
    has_deadline: bool,
}

/// The next thing the session must do: its steps polled in order (write what the outbox
/// holds, the operation it waits for, read, the timer) from one poll function, so what the
/// wait keeps is these references, not a future per step.
fn next_wake<H, S>(mut steps: Steps<'_, H, S>) -> impl Future<Output = Wake> + '_
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    std::future::poll_fn(move |cx| {
        let steps = &mut steps;
        if let Poll::Ready(written) = poll_write_step(steps.stream, cx, steps.outbox, steps.wbatch)
        {
            return Poll::Ready(Wake::Written(written));
        }
        if let Some(head) = steps.wbatch.first() {
            let shape = (
                u32::try_from(steps.wbatch.len()).unwrap_or(u32::MAX),
                u32::try_from(head.len()).unwrap_or(u32::MAX),
            );
            if steps.stalled != Some(shape) {
                return Poll::Ready(Wake::Stalled);
            }
        }
        if !steps.is_closing && steps.session.poll_wait(cx).is_ready() {
            return Poll::Ready(Wake::Waited);
        }
        if steps.is_reading
            && let Poll::Ready(read) = poll_read_some(steps.stream, cx, steps.rbuf)
        {
            return Poll::Ready(Wake::Read(read));
        }
        if steps.has_deadline && steps.timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        Poll::Pending
    })
}

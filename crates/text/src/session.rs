//! One plain-text connection: read lines, run them, write what the hub and the commands say.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use teahouse_hub::{ConnectionPermit, Hub, SessionGuard, SessionOrigin};
use teahouse_types::{LeaveReason, RoomName};
use teahouse_wire::Outbox;
use teahouse_wire::conn::{ReadPacer, read_some, write_step};
use teahouse_wire::outbox::PushError;
use teahouse_wire::text::{Frame, LineDecoder, encode_line};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};
use tracing::{Instrument, debug, debug_span};

use crate::TextConfig;
use crate::command;
use crate::lang::Lang;
use crate::render::TextSink;

/// What every session of one listener shares.
pub(crate) struct Shared {
    pub(crate) hub: Hub,
    pub(crate) config: TextConfig,
    /// The user name and real name every plain-text user has, shared by all of them.
    pub(crate) user: Arc<str>,
    pub(crate) realname: Arc<str>,
}

/// Where a session is in its life.
pub(crate) enum Phase {
    /// Connected, asked for a nickname, in no room.
    Login,
    /// Chose a registered nickname; asked for its password.
    Password {
        /// The nickname (and account) asked for.
        nick: teahouse_types::Nick,
        /// Wrong passwords so far.
        tries: u32,
    },
    /// Has a nickname and is in `room`.
    Chat {
        /// The current room: where plain lines go.
        room: RoomName,
    },
}

/// What the session does after a line.
pub(crate) enum Step {
    /// Keep reading.
    Continue,
    /// Stop reading, send what is queued, close; the hub is told why.
    Close(LeaveReason),
    /// Wait for an operation (an account check, a delay) before reading the next line;
    /// output goes on meanwhile. Its continuation then runs on the session.
    Wait(Pending),
}

/// What to do with the session once a [`Step::Wait`] operation has finished.
pub(crate) type Continuation = Box<dyn FnOnce(&mut Session) -> Step + Send>;

/// An operation a session waits for; boxed, so an idle session pays one pointer for it.
pub(crate) type Pending = std::pin::Pin<Box<dyn Future<Output = Continuation> + Send>>;

/// The state of one session, as commands see it.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) outbox: Arc<Outbox>,
    /// Present until the session leaves the hub.
    pub(crate) guard: Option<SessionGuard>,
    pub(crate) phase: Phase,
}

impl Session {
    pub(crate) fn lang(&self) -> Lang {
        self.shared.config.lang
    }

    pub(crate) fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// Queues one line for this connection. A reply that overflows the queue closes the
    /// outbox, which the writer notices.
    pub(crate) fn reply(&self, line: impl AsRef<str>) {
        self.push(encode_line(line.as_ref()));
    }

    fn push(&self, bytes: Bytes) {
        match self.outbox.push(bytes) {
            Ok(()) | Err(PushError::Closed | PushError::Full) => {}
        }
    }

    /// Leaves the hub with `reason` (others are told) and closes the outbox after what is
    /// queued.
    fn leave(&mut self, reason: LeaveReason) {
        if let Some(guard) = self.guard.take() {
            guard.quit(reason);
        }
        self.outbox.close();
    }
}

/// Sets up one connection and returns the future that runs it to its end.
///
/// The setup is done here, outside that future, and the future is the session loop itself:
/// a value moved into an awaited future keeps its own slot in the enclosing one, so a
/// wrapper would make every idle connection's task a few hundred bytes bigger.
pub(crate) fn run(
    stream: TcpStream,
    peer: SocketAddr,
    permit: ConnectionPermit,
    shared: Arc<Shared>,
) -> impl Future<Output = ()> + Send + 'static {
    let outbox = Arc::new(Outbox::new(shared.config.sendq_bytes));
    let sink = Arc::new(TextSink {
        outbox: Arc::clone(&outbox),
        lang: shared.config.lang,
    });
    let origin = SessionOrigin {
        host: peer.ip().to_canonical().to_string().into(),
        user: Arc::clone(&shared.user),
        realname: Arc::clone(&shared.realname),
    };
    let guard = shared.hub.attach(sink, origin);
    let span = debug_span!("session", session_id = %guard.id(), proto = "text", %peer);
    let session = Session {
        shared,
        outbox,
        guard: Some(guard),
        phase: Phase::Login,
    };
    drive(session, stream, permit).instrument(span)
}

/// The session loop; `permit` is held until the connection ends.
///
/// An `async` block rather than an `async fn`: an `async fn` copies its arguments into
/// locals of its own, so the session state would take its room twice in every task.
#[expect(
    clippy::manual_async_fn,
    reason = "an async fn would store the session twice in every task"
)]
fn drive(
    mut session: Session,
    mut stream: TcpStream,
    permit: ConnectionPermit,
) -> impl Future<Output = ()> + Send + 'static {
    async move {
        debug!("session started");
        let config = &session.shared.config;
        let login_deadline = Instant::now() + config.login_timeout;
        let mut close_deadline: Option<Instant> = None;
        let mut decoder = LineDecoder::new(config.max_line_bytes);
        let mut rbuf = BytesMut::new();
        let mut wbatch: Vec<Bytes> = Vec::new();
        let outbox = Arc::clone(&session.outbox);
        let (mut reader, mut writer) = stream.split();
        let login_timer = sleep_until(login_deadline);
        tokio::pin!(login_timer);
        let close_timer = sleep_until(login_deadline);
        tokio::pin!(close_timer);

        session.reply(session.lang().prompt());
        let mut is_close_timer_set = false;
        let mut pacer = ReadPacer::default();
        let mut should_yield = false;
        let mut pending: Option<Pending> = None;
        let end = loop {
            let is_closing = close_deadline.is_some();
            if let Some(at) = close_deadline
                && !is_close_timer_set
            {
                close_timer.as_mut().reset(at);
                is_close_timer_set = true;
            }
            let is_login = matches!(session.phase, Phase::Login | Phase::Password { .. });
            let is_waiting = pending.is_some();
            tokio::select! {
                biased;
                written = write_step(&mut writer, &outbox, &mut wbatch) => {
                    if let Err(end) = written {
                        debug!(?end, "writing ended");
                        break end.leave_reason();
                    }
                }
                then = std::future::poll_fn(|cx| match pending.as_mut() {
                    Some(operation) => operation.as_mut().poll(cx),
                    None => std::task::Poll::Pending,
                }), if is_waiting && !is_closing => {
                    pending = None;
                    let step = then(&mut session);
                    // The lines that arrived meanwhile are next, in order.
                    let step = match step {
                        Step::Continue => process(&mut session, &mut decoder, &mut rbuf, false),
                        step => step,
                    };
                    match step {
                        Step::Continue => {}
                        Step::Wait(operation) => pending = Some(operation),
                        Step::Close(reason) => {
                            session.leave(reason);
                            close_deadline = Some(Instant::now() + session.shared.config.close_grace);
                        }
                    }
                }
                read = read_some(&mut reader, &mut rbuf), if !is_closing && !is_waiting => {
                    let (is_eof, read_bytes) = match read {
                        Ok(0) => (true, 0),
                        Ok(n) => (false, n),
                        Err(error) => {
                            debug!(%error, "read failed");
                            break Some(LeaveReason::ConnectionLost);
                        }
                    };
                    let step = process(&mut session, &mut decoder, &mut rbuf, is_eof);
                    let step = match step {
                        // Nobody is left to wait for.
                        Step::Continue | Step::Wait(_) if is_eof => {
                            Step::Close(LeaveReason::ConnectionLost)
                        }
                        step => step,
                    };
                    match step {
                        Step::Continue => {}
                        Step::Wait(operation) => pending = Some(operation),
                        Step::Close(reason) => {
                            session.leave(reason);
                            close_deadline = Some(Instant::now() + session.shared.config.close_grace);
                        }
                    }
                    should_yield = pacer.after_read(&mut rbuf, read_bytes);
                }
                () = &mut login_timer, if is_login && !is_closing => {
                    session.reply(session.lang().login_timeout());
                    session.leave(LeaveReason::TimedOut);
                    close_deadline = Some(Instant::now() + session.shared.config.close_grace);
                }
                () = &mut close_timer, if is_closing => {
                    debug!("closing connection did not take its last lines in time");
                    break None;
                }
            }
            if should_yield {
                should_yield = false;
                tokio::task::yield_now().await;
            }
        };
        if end == Some(LeaveReason::SendQueueExceeded) {
            // The client is not reading: one best-effort line, never waited for.
            let line = encode_line(session.lang().send_queue_exceeded());
            let _ = writer.try_write(&line);
        }
        if let Some(reason) = end {
            session.leave(reason);
        }
        let _ = writer.shutdown().await;
        debug!("session ended");
        drop(permit);
    }
}

/// Runs every complete line in `rbuf` (and the last partial one at end of stream).
fn process(
    session: &mut Session,
    decoder: &mut LineDecoder,
    rbuf: &mut BytesMut,
    is_eof: bool,
) -> Step {
    loop {
        let frame = if is_eof {
            decoder.decode_eof(rbuf)
        } else {
            decoder.decode(rbuf)
        };
        let Some(frame) = frame else {
            return Step::Continue;
        };
        let step = match frame {
            Frame::Line(line) => command::handle_line(session, &line),
            Frame::TooLong => {
                let max = session.shared.config.max_line_bytes;
                session.reply(session.lang().line_too_long(max));
                Step::Continue
            }
            Frame::InvalidUtf8 => {
                session.reply(session.lang().invalid_utf8());
                Step::Continue
            }
        };
        if !matches!(step, Step::Continue) {
            return step;
        }
    }
}

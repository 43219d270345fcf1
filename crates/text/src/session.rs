//! One plain-text connection: the session the shared driver runs, and what its lines do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use teahouse_hub::{ConnectionPermit, FloodLimiter, Hub, SessionGuard, SessionOrigin};
use teahouse_types::{LeaveReason, RoomName};
use teahouse_wire::Outbox;
use teahouse_wire::outbox::PushError;
use teahouse_wire::session::{Handler, Input, drive};
use teahouse_wire::text::{Frame, encode_line};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::{Instrument, debug_span};

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
    /// Wait for an operation (an account check, a claim, a delay) before reading the next
    /// line; output goes on meanwhile. Its continuation then runs on the session.
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
    /// The operation the session waits for, if any.
    pending: Option<Pending>,
    /// Set by a line that ends the session.
    close: Option<LeaveReason>,
    /// When a session still choosing its nickname is closed.
    login_deadline: Instant,
    /// Flood control; `None` when it is off. Boxed: an idle session carries a pointer.
    flood: Option<Box<Flood>>,
}

/// A session's flood control: the limiter, and when slowed input may run again.
pub(crate) struct Flood {
    limiter: FloodLimiter,
    resume_at: Option<Instant>,
    recvq_bytes: usize,
}

/// Waits for `operation`, then runs `then` with its result on the session.
pub(crate) fn after<T: Send + 'static>(
    operation: impl Future<Output = T> + Send + 'static,
    then: impl FnOnce(&mut Session, T) -> Step + Send + 'static,
) -> Step {
    Step::Wait(Box::pin(async move {
        let result = operation.await;
        Box::new(move |session: &mut Session| then(session, result)) as Continuation
    }))
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

    fn take_step(&mut self, step: Step) {
        match step {
            Step::Continue => {}
            Step::Close(reason) => self.close = Some(reason),
            Step::Wait(operation) => self.pending = Some(operation),
        }
    }
}

impl Handler for Session {
    fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    fn on_input(&mut self, input: &mut Input<'_>) {
        if matches!(self.phase, Phase::Login)
            && self.close.is_none()
            && input.opens_with_tls_record()
        {
            self.reply(self.lang().tls_on_plain_port());
            self.close = Some(LeaveReason::ConnectionLost);
            return;
        }
        while self.close.is_none() && self.pending.is_none() {
            if let Some(flood) = self.flood.as_mut() {
                // Only charge a line when a whole one is there to spend it on; an
                // over-long line's discarded part is not a line (it costs no reply).
                match input.next_frame_len() {
                    Some(len) => {
                        if let Err(retry) = flood.limiter.check(len) {
                            flood.resume_at = Some(retry);
                            break;
                        }
                    }
                    None if input.has_frame() => {}
                    None => break,
                }
            }
            let Some(frame) = input.next_frame() else {
                break;
            };
            // A new command: its replies wait for the effects of those before it.
            self.outbox.begin_command();
            let step = match frame {
                Frame::Line(line) => command::handle_line(self, &line),
                Frame::TooLong => {
                    let max = self.shared.config.max_line_bytes;
                    self.reply(self.lang().line_too_long(max));
                    Step::Continue
                }
                Frame::InvalidUtf8 => {
                    self.reply(self.lang().invalid_utf8());
                    Step::Continue
                }
            };
            self.take_step(step);
        }
        if self.close.is_none()
            && let Some(flood) = &self.flood
            && flood.resume_at.is_some()
            && input.buffered() > flood.recvq_bytes
        {
            self.reply(self.lang().excess_flood());
            self.shared.hub.metrics().flood_cuts.increment(1);
            self.close = Some(LeaveReason::Requested(
                teahouse_types::MessageText::parse("Excess Flood").ok(),
            ));
        }
    }

    fn can_read(&self, buffered: usize) -> bool {
        self.flood
            .as_ref()
            .is_none_or(|flood| buffered <= flood.recvq_bytes)
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(operation) = self.pending.as_mut() else {
            return Poll::Pending;
        };
        let then = std::task::ready!(operation.as_mut().poll(cx));
        self.pending = None;
        let step = then(self);
        self.take_step(step);
        Poll::Ready(())
    }

    fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    fn deadline(&self) -> Option<Instant> {
        let login = matches!(self.phase, Phase::Login | Phase::Password { .. })
            .then_some(self.login_deadline);
        let resume = self.flood.as_ref().and_then(|f| f.resume_at);
        match (login, resume) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_deadline(&mut self, now: Instant, input: &mut Input<'_>) {
        if let Some(flood) = self.flood.as_mut()
            && flood.resume_at.is_some_and(|at| now >= at)
        {
            flood.resume_at = None;
            self.on_input(input);
            return;
        }
        let is_logging_in = matches!(self.phase, Phase::Login | Phase::Password { .. });
        if is_logging_in && now >= self.login_deadline {
            self.reply(self.lang().login_timeout());
            self.close = Some(LeaveReason::TimedOut);
        }
    }

    fn take_close(&mut self) -> Option<LeaveReason> {
        self.close.take()
    }

    /// Leaves the hub with `reason` (others are told) and closes the outbox after what is
    /// queued.
    fn leave(&mut self, reason: LeaveReason) {
        if let Some(guard) = self.guard.take() {
            guard.quit(reason);
        }
        self.outbox.close();
    }

    fn overflow_line(&self) -> Bytes {
        encode_line(self.lang().send_queue_exceeded())
    }

    fn close_grace(&self) -> std::time::Duration {
        self.shared.config.session.close_grace
    }

    fn write_timeout(&self) -> std::time::Duration {
        self.shared.config.session.write_timeout
    }
}

/// Sets up one connection and returns the future that runs it to its end.
///
/// The setup is done here, outside that future, and the future is the session loop itself:
/// a value moved into an awaited future keeps its own slot in the enclosing one, so a
/// wrapper would make every idle connection's task a few hundred bytes bigger.
pub(crate) fn run<S>(
    stream: S,
    peer: SocketAddr,
    permit: ConnectionPermit,
    shared: Arc<Shared>,
) -> impl Future<Output = ()> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let outbox = Arc::new(Outbox::new(shared.config.session.sendq_bytes));
    let sink = Arc::new(TextSink {
        outbox: Arc::clone(&outbox),
        lang: shared.config.lang,
    });
    let origin = SessionOrigin::at(
        peer.ip(),
        Arc::clone(&shared.user),
        Arc::clone(&shared.realname),
    );
    let guard = shared.hub.attach(sink, origin);
    let span = debug_span!("session", session_id = %guard.id(), proto = "text", %peer);
    let max_line_bytes = shared.config.max_line_bytes;
    let flood = shared.config.flood.as_ref().map(|config| {
        Box::new(Flood {
            limiter: FloodLimiter::new(config),
            resume_at: None,
            recvq_bytes: config.recvq_bytes,
        })
    });
    let session = Session {
        login_deadline: Instant::now() + shared.config.login_timeout,
        shared,
        outbox,
        guard: Some(guard),
        phase: Phase::Login,
        pending: None,
        close: None,
        flood,
    };
    session.reply(session.lang().prompt());
    drive(session, stream, max_line_bytes, permit).instrument(span)
}

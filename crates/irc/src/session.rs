//! One IRC connection: read lines under flood control, run them, write replies and events,
//! keep the client alive with PINGs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use std::task::{Context, Poll};

use bytes::Bytes;
use teahouse_hub::{ConnectionPermit, FloodLimiter, Hub, SessionGuard, SessionOrigin};
use teahouse_types::{LeaveReason, Nick, SessionId};
use teahouse_wire::Outbox;
use teahouse_wire::irc::{LineBuilder, MAX_CLIENT_TAGS_BYTES, MAX_LINE_BYTES, Message};
use teahouse_wire::outbox::PushError;
use teahouse_wire::session::{Handler, Input, drive};
use teahouse_wire::text::Frame;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tracing::{Instrument, debug_span, trace};

use crate::IrcConfig;
use crate::cap::{Cap, CapSet};
use crate::command;
use crate::render::{IrcSink, prefix_tags};
use crate::reply;

/// The longest line the decoder holds: a full tags section plus a full IRC line. Longer
/// input is discarded up to its end and answered with 417.
const MAX_FRAME_BYTES: usize = MAX_CLIENT_TAGS_BYTES + MAX_LINE_BYTES;

/// What every session of one listener shares.
pub(crate) struct Shared {
    pub(crate) hub: Hub,
    /// The server name, shared by every session's sink (for the lines it makes itself).
    pub(crate) source: Arc<str>,
    /// The user name and real name of a session before `USER`, shared by all of them.
    pub(crate) no_user: Arc<str>,
    pub(crate) no_realname: Arc<str>,
    pub(crate) config: IrcConfig,
    pub(crate) created: SystemTime,
}

/// The state of one session, as commands see it.
pub(crate) struct Session {
    pub(crate) shared: Arc<Shared>,
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) caps: Arc<CapSet>,
    /// Present until the session leaves the hub.
    pub(crate) guard: Option<SessionGuard>,
    pub(crate) id: SessionId,
    /// The host others see (shared with the hub's record of the session).
    pub(crate) host: Arc<str>,
    /// The nick, once NICK was accepted.
    pub(crate) nick: Option<Nick>,
    /// The user name, once USER was given (shared with the hub, which keeps the real name).
    pub(crate) user: Option<Arc<str>>,
    /// Whether the welcome burst was sent.
    pub(crate) is_registered: bool,
    /// Whether CAP negotiation holds registration back (between CAP LS/REQ and CAP END).
    pub(crate) is_negotiating: bool,
    /// Whether the session is a server operator (exempt from fake lag).
    pub(crate) is_oper: bool,
    /// Whether the right PASS was given (or none is needed).
    pub(crate) has_password: bool,
    /// The label of the command being run, for labeled-response.
    pub(crate) label: Option<Box<str>>,
    /// Replies of the command being run, sent together when it ends.
    pub(crate) pending: Vec<Bytes>,
    /// Set by a command that ends the session.
    pub(crate) close: Option<LeaveReason>,
    /// Set by a command that must wait (an account check): input is held, output flows,
    /// and the continuation then finishes the command.
    pub(crate) waiting: Option<Pending>,
    /// A SASL exchange in progress: its step and the client's payload so far. Boxed, like
    /// the next field: rare, so an idle session pays a pointer rather than the whole value.
    pub(crate) sasl: Option<Box<command::Sasl>>,
    /// A `draft/multiline` batch being received: rare, so boxed.
    pub(crate) multiline: Option<Box<command::Multiline>>,
    /// A registered nick asked for before registration: claimed at registration, once SASL
    /// may have logged the session in.
    pub(crate) wanted_nick: Option<Box<Nick>>,
    /// Whether the outbox gathers this command's own lines ([`Session::begin_group`]).
    is_grouping: bool,
    batch_counter: u64,
    /// Registration, liveness and flood deadlines.
    clock: Clock,
    /// Flood control; `None` when it is off. Boxed: it is two rate limiters, and every
    /// idle session would carry them.
    flood: Option<Box<FloodLimiter>>,
}

/// What finishes a command once its operation is done.
pub(crate) type Continuation = Box<dyn FnOnce(&mut Session) + Send>;

impl Session {
    /// Waits for `operation` (input is held, output flows), then finishes the command with
    /// `then` and its result; the command's replies go once it is done.
    pub(crate) fn wait_for<T: Send + 'static>(
        &mut self,
        operation: impl Future<Output = T> + Send + 'static,
        then: impl FnOnce(&mut Session, T) + Send + 'static,
    ) {
        self.waiting = Some(Box::pin(async move {
            let result = operation.await;
            Box::new(move |session: &mut Session| then(session, result)) as Continuation
        }));
    }
}

/// An operation a command waits for; boxed, so an idle session pays one pointer for it.
pub(crate) type Pending = std::pin::Pin<Box<dyn Future<Output = Continuation> + Send>>;

impl Session {
    pub(crate) fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    pub(crate) fn config(&self) -> &IrcConfig {
        &self.shared.config
    }

    pub(crate) fn server_name(&self) -> &str {
        &self.shared.config.server_name
    }

    /// The nick numerics are addressed to: the nick, or `*` before one is set.
    pub(crate) fn target(&self) -> String {
        self.nick
            .as_ref()
            .map_or_else(|| "*".to_owned(), |n| n.as_str().to_owned())
    }

    /// Gathers the command's own lines (its JOIN, its NICK) into its replies from here on,
    /// while lines from others wait behind them ([`Outbox::open_group`]): a labeled
    /// command's own lines get its label, and nothing comes between a JOIN and its NAMES.
    /// Ends when the replies are sent.
    pub(crate) fn begin_group(&mut self) {
        if !self.is_grouping {
            self.outbox.open_group();
            self.is_grouping = true;
        }
    }

    /// Moves the own lines gathered so far into the replies, so they keep their order.
    fn gather(&mut self) {
        if self.is_grouping {
            self.pending.extend(self.outbox.take_group());
        }
    }

    /// Queues a numeric reply `:server CODE target params…`; the last parameter is sent as
    /// the trailing one.
    pub(crate) fn numeric(&mut self, code: &str, params: &[&str]) {
        self.gather();
        let target = self.target();
        let mut b = LineBuilder::new();
        b.source(self.server_name()).command(code).param(&target);
        if let Some((last, middle)) = params.split_last() {
            for param in middle {
                b.param(param);
            }
            b.trailing(last);
        }
        self.pending.push(b.finish());
    }

    /// Queues a numeric reply whose parameters are all data (no text at the end), so the last
    /// one gets a `:` only if it needs one: `341 me nick #chan`.
    pub(crate) fn numeric_data(&mut self, code: &str, params: &[&str]) {
        self.gather();
        let target = self.target();
        let mut b = LineBuilder::new();
        b.source(self.server_name()).command(code).param(&target);
        for param in params {
            b.param(param);
        }
        self.pending.push(b.finish());
    }

    /// Queues a line as part of this command's replies.
    pub(crate) fn send(&mut self, line: Bytes) {
        self.gather();
        self.pending.push(line);
    }

    /// A standard reply: `FAIL command code [context…] :text`.
    pub(crate) fn fail(&mut self, command: &str, code: &str, context: &[&str], text: &str) {
        let mut b = self.server_line();
        b.command("FAIL").param(command).param(code);
        for param in context {
            b.param(param);
        }
        b.trailing(text);
        self.send(b.finish());
    }

    /// A failure no specification ties to a standard reply: [`Self::fail`] for a client with
    /// `standard-replies`, a server NOTICE with the text for others.
    pub(crate) fn standard_reply(
        &mut self,
        command: &str,
        code: &str,
        context: &[&str],
        text: &str,
    ) {
        if self.caps.has(Cap::STANDARD_REPLIES) {
            self.fail(command, code, context, text);
            return;
        }
        let target = self.target();
        let mut b = self.server_line();
        b.command("NOTICE").param(&target).trailing(text);
        self.send(b.finish());
    }

    /// A NOTICE from the server to this client.
    pub(crate) fn server_notice(&mut self, text: &str) {
        let target = self.target();
        let mut b = self.server_line();
        b.command("NOTICE").param(&target).trailing(text);
        self.send(b.finish());
    }

    /// A line with the server as source.
    pub(crate) fn server_line(&self) -> LineBuilder {
        let mut b = LineBuilder::new();
        b.source(self.server_name());
        b
    }

    /// Sends the command's replies: as they are, or labeled (one line: tagged; several: in a
    /// `labeled-response` batch; none: `ACK`).
    pub(crate) fn flush_replies(&mut self) {
        self.gather();
        let pending = std::mem::take(&mut self.pending);
        let lines = match self.label.take() {
            None => pending,
            Some(label) => self.labeled(&label, pending),
        };
        if std::mem::take(&mut self.is_grouping) {
            // Overflow closes the outbox; the session ends at its next turn.
            let _ = self.outbox.close_group(lines);
        } else {
            for line in lines {
                self.push(line);
            }
        }
    }

    /// `lines` in a batch (`BATCH +id kind…`, each line tagged with the id, `BATCH -id`), the
    /// opener labeled with `label` for a client with `labeled-response`; the lines alone for
    /// a client without `batch`.
    pub(crate) fn send_batch(&mut self, kind: &[&str], label: Option<&str>, lines: Vec<Bytes>) {
        if !self.caps.has(Cap::BATCH) {
            for line in lines {
                self.send(line);
            }
            return;
        }
        let id = self.next_batch_id(kind.first().map_or("b", |k| &k[..1]));
        let mut open = self.server_line();
        open.command("BATCH").param(&format!("+{id}"));
        for param in kind {
            open.param(param);
        }
        let open = open.finish();
        let open = match label {
            Some(label) if self.caps.has(Cap::LABELED_RESPONSE) => {
                prefix_tags(&open, &[("label", label)])
            }
            _ => open,
        };
        self.send(open);
        for line in lines {
            self.send(prefix_tags(&line, &[("batch", &id)]));
        }
        let mut close = self.server_line();
        close.command("BATCH").param(&format!("-{id}"));
        self.send(close.finish());
    }

    /// A batch id unique on this connection, starting with `prefix`.
    pub(crate) fn next_batch_id(&mut self, prefix: &str) -> String {
        self.batch_counter += 1;
        format!("{prefix}{}", self.batch_counter)
    }

    /// A command's replies under its label: one line tagged, several in a
    /// `labeled-response` batch (as they are, for a client without `batch`), none an `ACK`.
    fn labeled(&mut self, label: &str, mut pending: Vec<Bytes>) -> Vec<Bytes> {
        match pending.len() {
            0 => {
                let mut b = LineBuilder::new();
                b.tag("label", Some(label))
                    .source(self.server_name())
                    .command("ACK");
                vec![b.finish()]
            }
            1 => vec![prefix_tags(&pending[0], &[("label", label)])],
            _ if self.caps.has(Cap::BATCH) => {
                let id = self.next_batch_id("lr");
                let mut start = LineBuilder::new();
                start
                    .tag("label", Some(label))
                    .source(self.server_name())
                    .command("BATCH")
                    .param(&format!("+{id}"))
                    .param("labeled-response");
                let mut lines = Vec::with_capacity(pending.len() + 2);
                lines.push(start.finish());
                lines.extend(
                    pending
                        .drain(..)
                        .map(|line| prefix_tags(&line, &[("batch", &id)])),
                );
                let mut end = LineBuilder::new();
                end.source(self.server_name())
                    .command("BATCH")
                    .param(&format!("-{id}"));
                lines.push(end.finish());
                lines
            }
            _ => pending,
        }
    }

    pub(crate) fn push(&self, line: Bytes) {
        match self.outbox.push(line) {
            Ok(()) | Err(PushError::Closed | PushError::Full) => {}
        }
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
    let caps = Arc::new(CapSet::default());
    let sink = Arc::new(IrcSink {
        outbox: Arc::clone(&outbox),
        caps: Arc::clone(&caps),
        session: std::sync::OnceLock::new(),
        source: Arc::clone(&shared.source),
    });
    let origin = SessionOrigin::at(
        peer.ip(),
        Arc::clone(&shared.no_user),
        Arc::clone(&shared.no_realname),
    );
    let host = Arc::clone(&origin.host);
    let guard = shared.hub.attach(Arc::clone(&sink) as _, origin);
    let id = guard.id();
    let _ = sink.session.set(id);
    let span = debug_span!("session", session_id = %id, proto = "irc", %peer);
    let now = Instant::now();
    let config = &shared.config;
    let clock = Clock {
        registration_deadline: now + config.registration_timeout,
        last_activity: now,
        ping_sent: None,
        resume_at: None,
    };
    let flood = config
        .flood
        .as_ref()
        .map(|f| Box::new(FloodLimiter::new(f)));
    let session = Session {
        has_password: config.password.is_none(),
        shared,
        outbox,
        caps,
        guard: Some(guard),
        id,
        host,
        nick: None,
        user: None,
        is_registered: false,
        is_negotiating: false,
        is_oper: false,
        label: None,
        pending: Vec::new(),
        close: None,
        waiting: None,
        sasl: None,
        multiline: None,
        wanted_nick: None,
        is_grouping: false,
        batch_counter: 0,
        clock,
        flood,
    };
    drive(session, stream, MAX_FRAME_BYTES, permit).instrument(span)
}

/// When the session must next do something on its own.
pub(crate) struct Clock {
    registration_deadline: Instant,
    last_activity: Instant,
    ping_sent: Option<Instant>,
    /// Flood control: input is held until then.
    resume_at: Option<Instant>,
}

impl Handler for Session {
    fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }

    /// Runs the complete lines of `input` while the flood limiter allows; cuts a slowed
    /// client whose unprocessed input passes its limit (`Excess Flood`).
    fn on_input(&mut self, input: &mut Input<'_>) {
        if !self.is_registered && self.close.is_none() && input.opens_with_tls_record() {
            self.push(reply::error_line(
                "Closing link: this port speaks plain IRC, not TLS (use the TLS port, or turn TLS off)",
            ));
            self.close = Some(LeaveReason::ConnectionLost);
            return;
        }
        while self.close.is_none() && self.waiting.is_none() {
            // Operators are exempt from fake lag.
            if let Some(flood) = self.flood.as_mut().filter(|_| !self.is_oper) {
                // Only charge a line when a whole one is there to spend it on; an
                // over-long line's discarded part is not a line (it costs no reply).
                match input.next_frame_len() {
                    Some(len) => {
                        if let Err(retry) = flood.check(len) {
                            self.clock.resume_at = Some(retry);
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
            self.clock.last_activity = Instant::now();
            self.clock.ping_sent = None;
            match frame {
                Frame::Line(line) => handle_line(self, &line),
                Frame::TooLong => {
                    self.numeric(reply::ERR_INPUTTOOLONG, &["Input line was too long"]);
                    self.flush_replies();
                }
                Frame::InvalidUtf8 => {
                    self.fail(
                        "*",
                        "INVALID_UTF8",
                        &[],
                        "Message rejected: it is not valid UTF-8",
                    );
                    self.flush_replies();
                }
            }
        }
        if self.close.is_none()
            && self.clock.resume_at.is_some()
            && input.buffered() > self.recvq_bytes()
        {
            self.push(reply::error_line("Excess Flood"));
            self.shared.hub.metrics().flood_cuts.increment(1);
            self.close = Some(LeaveReason::Requested(
                teahouse_types::MessageText::parse("Excess Flood").ok(),
            ));
        }
    }

    fn poll_wait(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(operation) = self.waiting.as_mut() else {
            return Poll::Pending;
        };
        let then = std::task::ready!(operation.as_mut().poll(cx));
        self.waiting = None;
        then(self);
        // A command that waits again sends its replies (and answers its label) when it is
        // done.
        if self.waiting.is_none() {
            self.flush_replies();
        }
        Poll::Ready(())
    }

    fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    fn can_read(&self, buffered: usize) -> bool {
        buffered <= self.recvq_bytes()
    }

    fn deadline(&self) -> Option<Instant> {
        let config = &self.shared.config;
        let clock = &self.clock;
        let liveness = match clock.ping_sent {
            Some(sent) => sent + config.ping_timeout,
            None => clock.last_activity + config.ping_interval,
        };
        let mut next = liveness;
        if !self.is_registered {
            next = next.min(clock.registration_deadline);
        }
        if let Some(resume) = clock.resume_at {
            next = next.min(resume);
        }
        Some(next)
    }

    fn on_deadline(&mut self, now: Instant, input: &mut Input<'_>) {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        if self.clock.resume_at.is_some_and(|at| now >= at) {
            self.clock.resume_at = None;
            self.on_input(input);
        } else if !self.is_registered && now >= self.clock.registration_deadline {
            self.push(reply::error_line("Closing link: registration timed out"));
            self.close = Some(LeaveReason::TimedOut);
        } else if let Some(sent) = self.clock.ping_sent {
            if now >= sent + config.ping_timeout {
                let text = format!(
                    "Closing link: Ping timeout: {}",
                    humantime::format_duration(config.ping_timeout)
                );
                self.push(reply::error_line(&text));
                self.close = Some(LeaveReason::TimedOut);
            }
        } else if now >= self.clock.last_activity + config.ping_interval {
            let mut b = LineBuilder::new();
            b.command("PING").trailing(self.server_name());
            self.push(b.finish());
            self.clock.ping_sent = Some(now);
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
        reply::error_line("SendQ exceeded")
    }

    fn close_grace(&self) -> std::time::Duration {
        self.shared.config.session.close_grace
    }

    fn write_timeout(&self) -> std::time::Duration {
        self.shared.config.session.write_timeout
    }
}

impl Session {
    /// Unprocessed input held for a slowed client before it is cut off.
    fn recvq_bytes(&self) -> usize {
        self.shared
            .config
            .flood
            .map_or(usize::MAX, |f| f.recvq_bytes)
    }
}

/// A received line for the trace log, with its secrets hidden: a line that can carry a
/// password (PASS, AUTHENTICATE, REGISTER, OPER, anything to NickServ) shows only its
/// command.
struct Redacted<'a>(&'a str);

impl std::fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let words: Vec<&str> = self
            .0
            .split(' ')
            .filter(|w| !w.is_empty() && !w.starts_with(['@', ':']))
            .take(2)
            .collect();
        let command = words
            .first()
            .map_or(String::new(), |c| c.to_ascii_uppercase());
        let is_secret = matches!(
            command.as_str(),
            "PASS" | "AUTHENTICATE" | "REGISTER" | "OPER"
        ) || (matches!(command.as_str(), "PRIVMSG" | "NS" | "NICKSERV")
            && words
                .get(1)
                .is_some_and(|t| t.eq_ignore_ascii_case("NickServ") || command != "PRIVMSG"));
        if is_secret {
            write!(f, "{command} <redacted>")
        } else {
            f.write_str(self.0)
        }
    }
}

/// Parses and runs one line, then sends its replies.
fn handle_line(session: &mut Session, line: &str) {
    trace!(line = %Redacted(line), "received");
    if line.trim().is_empty() {
        return;
    }
    let message = match Message::parse(line) {
        Ok(message) => message,
        Err(error) => {
            let command = line
                .trim_start_matches(' ')
                .split(' ')
                .find(|w| !w.starts_with(['@', ':']))
                .unwrap_or("*")
                .to_owned();
            let text = format!("Malformed message: {error}");
            let command = if command.contains(['\0', '\r']) {
                "*".to_owned()
            } else {
                command
            };
            session.numeric(reply::ERR_UNKNOWNERROR, &[&command, &text]);
            session.flush_replies();
            return;
        }
    };
    // The tags section and the rest each have their own limit (IRCv3 message-tags).
    let tags_len = if line.starts_with('@') {
        line.find(' ').map_or(line.len(), |i| i + 1)
    } else {
        0
    };
    if tags_len > MAX_CLIENT_TAGS_BYTES || line.len() - tags_len + 2 > MAX_LINE_BYTES {
        session.numeric(reply::ERR_INPUTTOOLONG, &["Input line was too long"]);
        session.flush_replies();
        return;
    }
    if session.caps.has(Cap::LABELED_RESPONSE) {
        session.label = message
            .tag("label")
            .filter(|l| !l.is_empty() && l.len() <= 64)
            .map(Into::into);
        if session.label.is_some() {
            // Its own lines (a JOIN, a NICK) are part of its labeled reply.
            session.begin_group();
        }
    }
    command::dispatch(session, &message);
    // A command that waits sends its replies (and answers its label) when it is done.
    if session.waiting.is_none() {
        session.flush_replies();
    }
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn secrets_never_reach_the_trace_log() {
        for line in [
            "PASS hunter2",
            "AUTHENTICATE AGFsaWNlAHB3",
            "REGISTER * x :hunter2",
            "@label=1 privmsg nickserv :IDENTIFY hunter2",
            "OPER admin hunter2",
        ] {
            let shown = Redacted(line).to_string();
            assert!(
                !shown.contains("hunter2") && !shown.contains("AGFsaW"),
                "{shown}"
            );
            assert!(shown.ends_with("<redacted>"), "{shown}");
        }
        assert_eq!(
            Redacted("PRIVMSG #tea :hello").to_string(),
            "PRIVMSG #tea :hello"
        );
    }
}

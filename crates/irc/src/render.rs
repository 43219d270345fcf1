//! Hub events to IRC lines, encoded once per render-relevant capability set.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use teahouse_hub::{EventSink, Overflow};
use teahouse_types::{
    EventKind, HubEvent, LeaveReason, MessageKind, MessageTarget, ModeChange, Profile, ReplyPlace,
    RoomMode, SessionId,
};
use teahouse_wire::Outbox;
use teahouse_wire::irc::{LineBuilder, MAX_LINE_BYTES, irc_safe};

use crate::cap::{Cap, CapSet};

/// Render-cache keys of this face start here (the text face uses small numbers).
const RENDER_KEY_BASE: u32 = 0x1_0000;

/// A session's sink: filters what its capabilities ask to hear, renders each event once per
/// capability set through the event's cache, and queues the shared bytes.
pub struct IrcSink {
    pub(crate) outbox: Arc<Outbox>,
    pub(crate) caps: Arc<CapSet>,
    /// Set once the hub has given the session its id.
    pub(crate) session: OnceLock<SessionId>,
    /// The server name: the source of the lines the sink makes itself (history batches).
    pub(crate) source: Arc<str>,
}

impl IrcSink {
    /// A sink onto `outbox` for a client with the capabilities named in `caps` (as in
    /// `CAP REQ`); for benchmarks and tests of the fan-out path.
    pub fn new(outbox: Arc<Outbox>, caps: &str) -> Self {
        let set = CapSet::default();
        let _ = set.request(caps);
        Self {
            outbox,
            caps: Arc::new(set),
            session: OnceLock::new(),
            source: Arc::from("teahouse.local"),
        }
    }
}

impl EventSink for IrcSink {
    fn deliver(&self, event: &Arc<HubEvent>) -> Result<(), Overflow> {
        let Some(bytes) = self.line(event) else {
            return Ok(());
        };
        self.queue(bytes, event.kind.ends_session())
    }

    fn deliver_own(
        &self,
        event: &Arc<HubEvent>,
        after: Option<ReplyPlace>,
    ) -> Result<(), Overflow> {
        let Some(bytes) = self.line(event) else {
            return Ok(());
        };
        if self.outbox.offer_own(bytes, after) {
            Ok(())
        } else {
            Err(Overflow)
        }
    }

    fn deliver_messages(&self, events: &[&Arc<HubEvent>]) -> Result<(), Overflow> {
        // A message (or a stored reaction) is never special-cased above: its line is the
        // shared encoding for this client's capabilities.
        let lines = events.iter().filter_map(|event| {
            debug_assert!(matches!(
                event.kind,
                EventKind::Message { .. } | EventKind::Tags { .. }
            ));
            self.encoded(event)
        });
        if self.outbox.offer_all(lines) {
            Ok(())
        } else {
            Err(Overflow)
        }
    }
    fn hold(&self) -> ReplyPlace {
        self.outbox.hold()
    }

    fn release(&self) {
        self.outbox.release();
    }
}

impl IrcSink {
    /// What this client is sent for `event`, if anything: what its capabilities ask to
    /// hear, its own echo and history rendered for it alone, the rest through the event's
    /// cache.
    fn line(&self, event: &Arc<HubEvent>) -> Option<Bytes> {
        let has = |cap: Cap| self.caps.has(cap);
        let shared = match &event.kind {
            // For this session alone: rendered here, never through the shared cache.
            EventKind::Monitored {
                watcher,
                online,
                offline,
            } => return Some(monitored(&self.source, watcher.as_str(), online, offline)),
            EventKind::NotDelivered { target, .. } => return Some(self.not_delivered(target)),
            EventKind::PeersReachable { reachable } => {
                return Some(self.peers_reachable(*reachable));
            }
            // `draft/metadata-2`: the hub sends only keys the session subscribed to.
            EventKind::MetadataChanged { target, key, value } => {
                return has(Cap::METADATA)
                    .then(|| metadata_line(&self.source, target, key, value.as_deref()));
            }
            EventKind::ReadMarked { target, at } => {
                return has(Cap::READ_MARKER).then(|| {
                    let mut b = LineBuilder::new();
                    b.source(&self.source)
                        .command("MARKREAD")
                        .param(&target_name(target))
                        .param(&crate::command::marker_param(Some(*at)));
                    b.finish()
                });
            }
            // News about a monitored user one shares no room with: `extended-monitor` only.
            EventKind::Watched { event } => {
                return has(Cap::EXTENDED_MONITOR)
                    .then(|| self.line(event))
                    .flatten();
            }
            EventKind::Echo { message, label } => {
                // The sender's own copy, with its command's label.
                let line = render(message, self.render_bits(message))?;
                return Some(match label {
                    Some(label) if has(Cap::LABELED_RESPONSE) => {
                        prefix_tags(&line, &[("label", label)])
                    }
                    _ => line,
                });
            }
            EventKind::History {
                target,
                messages,
                context,
            } => {
                return Some(history(
                    &self.source,
                    self.caps.bits(),
                    target,
                    messages.as_deref(),
                    context.as_deref(),
                ));
            }
            // The same bytes for everyone with these capabilities: through the cache, if
            // this client asked to hear of it.
            EventKind::AwayChanged { .. } => has(Cap::AWAY_NOTIFY),
            EventKind::RealnameChanged { .. } => has(Cap::SETNAME),
            EventKind::HostChanged { .. } => has(Cap::CHGHOST),
            EventKind::Redacted { .. } => has(Cap::MESSAGE_REDACTION),
            EventKind::AccountChanged { .. } => has(Cap::ACCOUNT_NOTIFY),
            EventKind::Invited { session, .. } => {
                self.session.get() == Some(session) || has(Cap::INVITE_NOTIFY)
            }
            _ => true,
        };
        if shared { self.encoded(event) } else { None }
    }

    /// A message that could not be stored: `FAIL PRIVMSG TEMPORARILY_UNAVAILABLE` with
    /// `standard-replies`, a server NOTICE without.
    fn not_delivered(&self, target: &MessageTarget) -> Bytes {
        let mut b = LineBuilder::new();
        b.source(&self.source);
        let text = "Message not delivered: the server could not store it; try again";
        if self.caps.has(Cap::STANDARD_REPLIES) {
            b.command("FAIL")
                .param("PRIVMSG")
                .param("TEMPORARILY_UNAVAILABLE")
                .param(&target_name(target))
                .trailing(text);
        } else {
            b.command("NOTICE").param("*").trailing(text);
        }
        b.finish()
    }

    /// A server NOTICE that the cluster's other nodes went out of reach, or came back.
    fn peers_reachable(&self, reachable: bool) -> Bytes {
        let text = if reachable {
            "*** The other nodes are back in reach"
        } else {
            "*** The other nodes are out of reach: channels keep working here; people on them will be back when they are"
        };
        let mut b = LineBuilder::new();
        b.source(&self.source);
        b.command("NOTICE").param("*").trailing(text);
        b.finish()
    }

    /// The capabilities that decide how this client is shown `event`.
    fn render_bits(&self, event: &HubEvent) -> u32 {
        let mut bits = self.caps.bits() & Cap::RENDER_MASK;
        // Only a multi-line message looks different to a `draft/multiline` client: other
        // events share one rendering whatever that capability.
        // The capability first: most clients lack it, and then no text is scanned.
        if bits_have_multiline(self.caps.bits())
            && matches!(&event.kind, EventKind::Message { text, .. } if text.is_multiline())
        {
            bits |= Cap::MULTILINE.bits();
        }
        bits
    }

    /// The event as this client's capabilities show it: encoded once per capability set
    /// and shared through the event's cache.
    fn encoded(&self, event: &HubEvent) -> Option<Bytes> {
        let bits = self.render_bits(event);
        event
            .cache
            .get_or_render(RENDER_KEY_BASE | bits, || render(event, bits))
    }

    /// Hands rendered bytes to the outbox (see [`Outbox::offer`]).
    fn queue(&self, bytes: Bytes, is_last: bool) -> Result<(), Overflow> {
        if self.outbox.offer(bytes, is_last) {
            Ok(())
        } else {
            Err(Overflow)
        }
    }
}

/// Whether capability `bits` take `draft/multiline` batches (the capability and `batch`).
fn bits_have_multiline(bits: u32) -> bool {
    let wanted = Cap::MULTILINE.bits() | Cap::BATCH.bits();
    bits & wanted == wanted
}

/// Batch ids of history replies; unique for the life of the process, so per connection.
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);

/// A `CHATHISTORY` reply: the messages in a `chathistory` batch (plain lines for a client
/// without `batch`), each with its original time and id; the batch opener carries the
/// request's label. `None` messages: the store could not be read.
fn history(
    source: &str,
    bits: u32,
    target: &MessageTarget,
    messages: Option<&[Arc<HubEvent>]>,
    label: Option<&str>,
) -> Bytes {
    let has = |cap: Cap| bits & cap.bits() != 0;
    let target = target_name(target);
    let labelled = |line: Bytes| match label {
        Some(label) if has(Cap::LABELED_RESPONSE) => prefix_tags(&line, &[("label", label)]),
        _ => line,
    };
    let Some(messages) = messages else {
        let mut b = LineBuilder::new();
        b.source(source)
            .command("FAIL")
            .param("CHATHISTORY")
            .param("MESSAGE_ERROR")
            .param(&target)
            .trailing("Messages could not be retrieved");
        return labelled(b.finish());
    };
    let mut out = BytesMut::new();
    let batch = has(Cap::BATCH).then(|| format!("h{}", NEXT_BATCH.fetch_add(1, Ordering::Relaxed)));
    if let Some(id) = &batch {
        let mut b = LineBuilder::new();
        b.source(source)
            .command("BATCH")
            .param(&format!("+{id}"))
            .param("chathistory")
            .param(&target);
        out.extend_from_slice(&labelled(b.finish()));
    }
    let mut render_bits = bits & Cap::RENDER_MASK;
    if has(Cap::MULTILINE) && has(Cap::BATCH) {
        render_bits |= Cap::MULTILINE.bits();
    }
    for message in messages {
        let Some(line) = render(message, render_bits) else {
            continue;
        };
        match &batch {
            Some(id) => out.extend_from_slice(&prefix_tags(&line, &[("batch", id)])),
            None => out.extend_from_slice(&line),
        }
    }
    if let Some(id) = &batch {
        let mut b = LineBuilder::new();
        b.source(source).command("BATCH").param(&format!("-{id}"));
        out.extend_from_slice(&b.finish());
    }
    out.freeze()
}

/// `MONITOR` news for one watcher: `731 watcher :nick,...` for those gone, then
/// `730 watcher :nick!user@host,...` for those online (a rename: the old nick, then the new).
pub(crate) fn monitored(
    source: &str,
    watcher: &str,
    online: &[Arc<Profile>],
    offline: &[teahouse_types::Nick],
) -> Bytes {
    let mut out = BytesMut::new();
    if !offline.is_empty() {
        let list: Vec<&str> = offline.iter().map(teahouse_types::Nick::as_str).collect();
        let mut b = LineBuilder::new();
        b.source(source)
            .command(crate::reply::RPL_MONOFFLINE)
            .param(watcher)
            .trailing(&list.join(","));
        out.extend_from_slice(&b.finish());
    }
    if !online.is_empty() {
        let list: Vec<String> = online
            .iter()
            .map(|who| format!("{}!{}@{}", who.nick, who.user, who.host))
            .collect();
        let mut b = LineBuilder::new();
        b.source(source)
            .command(crate::reply::RPL_MONONLINE)
            .param(watcher)
            .trailing(&list.join(","));
        out.extend_from_slice(&b.finish());
    }
    out.freeze()
}

/// `:server METADATA target key * :value` (no value: the key was removed).
pub(crate) fn metadata_line(
    source: &str,
    target: &MessageTarget,
    key: &str,
    value: Option<&str>,
) -> Bytes {
    let mut b = LineBuilder::new();
    b.source(source)
        .command("METADATA")
        .param(&target_name(target))
        .param(key)
        .param("*");
    if let Some(value) = value {
        b.trailing(&irc_safe(value));
    }
    b.finish()
}

/// Adds tags to an already encoded line (or lines), merging with tags it has. Lines of a
/// batch nested in the lines (a multi-line message: they carry a `batch` tag) are left as
/// they are, and a label goes on a nested batch's opener, not its end.
pub(crate) fn prefix_tags(line: &[u8], tags: &[(&str, &str)]) -> Bytes {
    let mut head = String::from("@");
    for (i, (key, value)) in tags.iter().enumerate() {
        if i > 0 {
            head.push(';');
        }
        head.push_str(key);
        head.push('=');
        teahouse_wire::irc::escape_tag_value(value, &mut head);
    }
    let mut out = BytesMut::with_capacity(line.len() + head.len() + 1);
    let is_label = tags.iter().any(|(key, _)| *key == "label");
    // A message split over several lines gets the tags on each.
    for one in line.split_inclusive(|b| *b == b'\n') {
        if is_nested(one) || (is_label && is_batch_end(one)) {
            out.extend_from_slice(one);
            continue;
        }
        out.extend_from_slice(head.as_bytes());
        match one.strip_prefix(b"@") {
            Some(rest) => {
                out.extend_from_slice(b";");
                out.extend_from_slice(rest);
            }
            None => {
                out.extend_from_slice(b" ");
                out.extend_from_slice(one);
            }
        }
    }
    out.freeze()
}

/// The IRC lines for `event` for a recipient with capability `bits`.
pub(crate) fn render(event: &HubEvent, bits: u32) -> Option<Bytes> {
    let has = |cap: Cap| bits & cap.bits() != 0;
    let mut line = Tagged::new(event.time, has(Cap::SERVER_TIME));
    let bytes = match &event.kind {
        EventKind::Joined { room, who, .. } => {
            let b = line.start(who, has(Cap::ACCOUNT_TAG));
            b.command("JOIN").param(&channel(room.as_str()));
            if has(Cap::EXTENDED_JOIN) {
                b.param(who.account.as_deref().unwrap_or("*"))
                    .trailing(&who.realname);
            }
            b.finish()
        }
        EventKind::Left {
            room, who, reason, ..
        } => {
            let b = line.start(who, has(Cap::ACCOUNT_TAG));
            b.command("PART").param(&channel(room.as_str()));
            if let LeaveReason::Requested(Some(text)) = reason {
                b.trailing(&irc_safe(text.as_str()));
            }
            b.finish()
        }
        EventKind::Kicked {
            room,
            by,
            target,
            reason,
        } => line
            .start(by, has(Cap::ACCOUNT_TAG))
            .command("KICK")
            .param(&channel(room.as_str()))
            .param(target.as_str())
            .trailing(&irc_safe(
                reason.as_ref().map_or(by.nick.as_str(), |r| r.as_str()),
            ))
            .finish(),
        EventKind::Quit { who, reason } => line
            .start(who, has(Cap::ACCOUNT_TAG))
            .command("QUIT")
            .trailing(&irc_safe(&quit_reason(reason)))
            .finish(),
        EventKind::NickChanged { old, new } => line
            .start(old, has(Cap::ACCOUNT_TAG))
            .command("NICK")
            .trailing(new.as_str())
            .finish(),
        EventKind::Message {
            id,
            from,
            target,
            kind,
            text,
            client_tags,
        } => {
            let target = target_name(target);
            let has_tags = has(Cap::MESSAGE_TAGS);
            let msgid = has_tags.then(|| id.to_string());
            let line = MessageLine {
                time: event.time,
                has_server_time: has(Cap::SERVER_TIME),
                msgid: msgid.as_deref(),
                client_tags: client_tags.as_deref().filter(|_| has_tags),
                from,
                has_account_tag: has(Cap::ACCOUNT_TAG),
                target: &target,
                multiline: has(Cap::MULTILINE),
            };
            return Some(line.message(*kind, text.as_str()));
        }
        EventKind::Tags {
            id,
            from,
            target,
            client_tags,
        } => {
            // Only clients that asked for message tags understand TAGMSG.
            if !has(Cap::MESSAGE_TAGS) {
                return None;
            }
            let target = target_name(target);
            let msgid = id.to_string();
            let line = MessageLine {
                time: event.time,
                has_server_time: has(Cap::SERVER_TIME),
                msgid: Some(&msgid),
                client_tags: Some(client_tags),
                from,
                has_account_tag: has(Cap::ACCOUNT_TAG),
                target: &target,
                multiline: false,
            };
            return Some(line.tagmsg());
        }
        EventKind::TopicChanged { room, by, topic } => line
            .start(by, has(Cap::ACCOUNT_TAG))
            .command("TOPIC")
            .param(&channel(room.as_str()))
            .trailing(&irc_safe(topic.as_ref().map_or("", |t| t.as_str())))
            .finish(),
        EventKind::ModesChanged { room, by, changes } => {
            let b = line.start(by, has(Cap::ACCOUNT_TAG));
            b.command("MODE").param(&channel(room.as_str()));
            let (modestring, args) = mode_string(changes);
            b.param(&modestring);
            for arg in &args {
                b.param(arg);
            }
            b.finish()
        }
        EventKind::Invited {
            room, by, target, ..
        } => line
            .start(by, has(Cap::ACCOUNT_TAG))
            .command("INVITE")
            .param(target.as_str())
            .param(&channel(room.as_str()))
            .finish(),
        EventKind::AwayChanged { who, away } => {
            let b = line.start(who, has(Cap::ACCOUNT_TAG));
            b.command("AWAY");
            if let Some(away) = away {
                b.trailing(&irc_safe(away.as_str()));
            }
            b.finish()
        }
        // Rendered by the sink itself (see `history`, `monitored`), never through the
        // shared cache.
        EventKind::History { .. }
        | EventKind::Echo { .. }
        | EventKind::Monitored { .. }
        | EventKind::NotDelivered { .. }
        | EventKind::PeersReachable { .. }
        | EventKind::ReadMarked { .. }
        | EventKind::MetadataChanged { .. }
        | EventKind::Watched { .. } => return None,
        EventKind::AccountChanged { who } => line
            .start(who, has(Cap::ACCOUNT_TAG))
            .command("ACCOUNT")
            .param(who.account.as_deref().unwrap_or("*"))
            .finish(),
        EventKind::ServerShutdown => crate::reply::error_line("Server shutting down"),
        EventKind::Disconnected { reason } => {
            let mut b = LineBuilder::new();
            b.command("ERROR")
                .trailing(&format!("Closing link: {}", irc_safe(reason)));
            b.finish()
        }
        EventKind::RealnameChanged { who } => line
            .start(who, has(Cap::ACCOUNT_TAG))
            .command("SETNAME")
            .trailing(&who.realname)
            .finish(),
        EventKind::HostChanged { old, who } => line
            .start(old, has(Cap::ACCOUNT_TAG))
            .command("CHGHOST")
            .param(&who.user)
            .param(&who.host)
            .finish(),
        EventKind::Redacted {
            by,
            target,
            id,
            reason,
        } => {
            let b = line.start(by, has(Cap::ACCOUNT_TAG));
            b.command("REDACT")
                .param(&target_name(target))
                .param(&id.to_string());
            if let Some(reason) = reason {
                b.trailing(&irc_safe(reason.as_str()));
            }
            b.finish()
        }
        EventKind::Wallops { from, text } => line
            .start(from, has(Cap::ACCOUNT_TAG))
            .command("WALLOPS")
            .trailing(&irc_safe(text.as_str()))
            .finish(),
    };
    Some(bytes)
}

/// A line with the tags every event may carry.
struct Tagged {
    builder: LineBuilder,
    time: Option<SystemTime>,
}

impl Tagged {
    fn new(time: SystemTime, has_server_time: bool) -> Self {
        Self {
            builder: LineBuilder::new(),
            time: has_server_time.then_some(time),
        }
    }

    /// Writes the tags and `:nick!user@host `.
    fn start(&mut self, who: &Profile, has_account_tag: bool) -> &mut LineBuilder {
        if let Some(time) = self.time {
            self.builder
                .tag_display("time", humantime::format_rfc3339_millis(time));
        }
        if has_account_tag && let Some(account) = &who.account {
            self.builder.tag("account", Some(account));
        }
        self.builder
            .source_parts(who.nick.as_str(), &who.user, &who.host)
    }
}

/// `#room`.
pub(crate) fn channel(room: &str) -> String {
    let mut name = String::with_capacity(room.len() + 1);
    name.push('#');
    name.push_str(room);
    name
}

/// The text of a QUIT line.
pub(crate) fn quit_reason(reason: &LeaveReason) -> String {
    match reason {
        LeaveReason::Requested(Some(text)) => format!("Quit: {text}"),
        LeaveReason::Requested(None) => "Quit".to_owned(),
        LeaveReason::ConnectionLost => "Connection lost".to_owned(),
        LeaveReason::TimedOut => "Ping timeout".to_owned(),
        LeaveReason::SendQueueExceeded => "SendQ exceeded".to_owned(),
        LeaveReason::ServerShutdown => "Server shutting down".to_owned(),
        // What IRC clients know a netsplit by.
        LeaveReason::NetSplit => "*.net *.split".to_owned(),
        LeaveReason::Killed(kill) => format!("Killed ({} ({}))", kill.by, kill.reason),
    }
}

/// `+ov-b` and its arguments, for a MODE line.
pub(crate) fn mode_string(changes: &[ModeChange]) -> (String, Vec<String>) {
    let mut modes = String::new();
    let mut args = Vec::new();
    let mut sign = None;
    for change in changes {
        if sign != Some(change.is_set) {
            modes.push(if change.is_set { '+' } else { '-' });
            sign = Some(change.is_set);
        }
        let (letter, arg) = match &change.mode {
            RoomMode::Operator(nick) => ('o', Some(nick.as_str().to_owned())),
            RoomMode::Voice(nick) => ('v', Some(nick.as_str().to_owned())),
            RoomMode::TopicLock => ('t', None),
            RoomMode::NoExternal => ('n', None),
            RoomMode::Moderated => ('m', None),
            RoomMode::InviteOnly => ('i', None),
            RoomMode::Secret => ('s', None),
            RoomMode::Key(key) => ('k', Some(key.to_string())),
            RoomMode::Limit(limit) => ('l', change.is_set.then(|| limit.to_string())),
            RoomMode::Ban(mask) => ('b', Some(mask.to_string())),
        };
        modes.push(letter);
        args.extend(arg);
    }
    (modes, args)
}

/// Where a message went, as IRC names it.
pub(crate) fn target_name(target: &MessageTarget) -> String {
    match target {
        MessageTarget::Room(room) => channel(room.as_str()),
        MessageTarget::Direct(nick) => nick.as_str().to_owned(),
    }
}

/// Whether an encoded line has a `batch` tag.
fn is_nested(line: &[u8]) -> bool {
    let Some(tags) = line.strip_prefix(b"@") else {
        return false;
    };
    let end = tags.iter().position(|b| *b == b' ').unwrap_or(tags.len());
    tags[..end]
        .split(|b| *b == b';')
        .any(|tag| tag.starts_with(b"batch="))
}

/// Whether an encoded line is a `BATCH -id`.
fn is_batch_end(line: &[u8]) -> bool {
    line.windows(8).any(|w| w == b" BATCH -")
}

/// Ids of multi-line message batches (`draft/multiline`), unique for the process.
static NEXT_MULTILINE: AtomicU64 = AtomicU64::new(1);

/// The most lines and bytes of text a multi-line message may have (`draft/multiline`).
pub(crate) const MULTILINE_MAX_LINES: usize = 32;

/// The parts of a message line that the recipient's capabilities decide.
#[derive(Clone, Copy)]
pub(crate) struct MessageLine<'a> {
    pub(crate) time: SystemTime,
    pub(crate) has_server_time: bool,
    pub(crate) msgid: Option<&'a str>,
    pub(crate) client_tags: Option<&'a str>,
    pub(crate) from: &'a Profile,
    pub(crate) has_account_tag: bool,
    pub(crate) target: &'a str,
    /// The recipient takes multi-line messages as `draft/multiline` batches.
    pub(crate) multiline: bool,
}

impl MessageLine<'_> {
    /// Tags and source.
    fn start(&self, b: &mut LineBuilder) {
        if let Some(tags) = self.client_tags {
            b.tags_raw(tags);
        }
        if self.has_server_time {
            b.tag_display("time", humantime::format_rfc3339_millis(self.time));
        }
        if let Some(msgid) = self.msgid {
            b.tag("msgid", Some(msgid));
        }
        if self.has_account_tag
            && let Some(account) = &self.from.account
        {
            b.tag("account", Some(account));
        }
        // IRCv3 bot mode: a bot's messages say so to clients that read tags.
        if self.from.is_bot && self.msgid.is_some() {
            b.tag("bot", None);
        }
        b.source_parts(self.from.nick.as_str(), &self.from.user, &self.from.host);
    }

    /// PRIVMSG or NOTICE lines within the IRC limit of 512 bytes without tags. A text an
    /// IRC client could have sent in one line arrives in one line, cut at a character
    /// boundary if the source prefix makes it too long (as other servers do: a client
    /// knows its own prefix and keeps its lines short enough, and a line is never split
    /// in two). A longer text, which only the plain-text face accepts, becomes several
    /// lines, cut at character boundaries, so nothing of it is lost.
    pub(crate) fn message(&self, kind: MessageKind, text: &str) -> Bytes {
        if text.contains('\n') {
            return self.multiline_message(kind, text);
        }
        let command = if kind == MessageKind::Notice {
            "NOTICE"
        } else {
            "PRIVMSG"
        };
        let (open, close) = if kind == MessageKind::Action {
            ("\u{1}ACTION ", "\u{1}")
        } else {
            ("", "")
        };
        // ":nick!user@host PRIVMSG target :" + open + text + close + "\r\n" within 512 bytes.
        let overhead = self.prefix_bytes(command) + open.len() + close.len();
        let room = MAX_LINE_BYTES.saturating_sub(overhead).max(16);
        let text = irc_safe(text);
        // "PRIVMSG target :" + open + text + close + "\r\n" as a client sends it.
        let client_room = MAX_LINE_BYTES.saturating_sub(
            command.len() + 1 + self.target.len() + 2 + open.len() + close.len() + 2,
        );
        let text: &str = if text.len() <= client_room {
            chunks(&text, room).next().unwrap_or_default()
        } else {
            &text
        };
        let mut out = BytesMut::new();
        for chunk in chunks(text, room) {
            let mut b = LineBuilder::new();
            self.start(&mut b);
            b.command(command).param(self.target);
            let mut body = String::with_capacity(open.len() + chunk.len() + close.len());
            body.push_str(open);
            body.push_str(chunk);
            body.push_str(close);
            b.trailing(&body);
            out.extend_from_slice(&b.finish());
        }
        out.freeze()
    }

    /// The bytes of `:nick!user@host COMMAND target :` and the closing CR LF.
    fn prefix_bytes(&self, command: &str) -> usize {
        let from = self.from;
        1 + from.nick.as_str().len()
            + 1
            + from.user.len()
            + 1
            + from.host.len()
            + 1
            + command.len()
            + 1
            + self.target.len()
            + 2
            + 2
    }

    /// A message of several lines: a `draft/multiline` batch for a client that takes one
    /// (the message's tags on its opener, a line too long for IRC continued with
    /// `draft/multiline-concat`), else each line as a message of its own (the id on the
    /// first; empty lines, which IRC cannot carry, left out).
    fn multiline_message(&self, kind: MessageKind, text: &str) -> Bytes {
        let mut out = BytesMut::new();
        if !self.multiline {
            let mut first = true;
            for part in text.split('\n').filter(|p| !p.is_empty()) {
                let line = MessageLine {
                    msgid: self.msgid.filter(|_| first),
                    ..*self
                };
                first = false;
                out.extend_from_slice(&line.message(kind, part));
            }
            return out.freeze();
        }
        let command = if kind == MessageKind::Notice {
            "NOTICE"
        } else {
            "PRIVMSG"
        };
        let id = format!("ml{}", NEXT_MULTILINE.fetch_add(1, Ordering::Relaxed));
        let from = self.from;
        let mut b = LineBuilder::new();
        self.start(&mut b);
        b.command("BATCH")
            .param(&format!("+{id}"))
            .param("draft/multiline")
            .param(self.target);
        out.extend_from_slice(&b.finish());
        let room = MAX_LINE_BYTES
            .saturating_sub(self.prefix_bytes(command))
            .max(16);
        for part in text.split('\n') {
            let part = irc_safe(part);
            let pieces: Vec<&str> = if part.is_empty() {
                vec![""]
            } else {
                chunks(&part, room).collect()
            };
            for (i, piece) in pieces.iter().enumerate() {
                let mut b = LineBuilder::new();
                b.tag("batch", Some(&id));
                if i > 0 {
                    b.tag("draft/multiline-concat", None);
                }
                b.source_parts(from.nick.as_str(), &from.user, &from.host)
                    .command(command)
                    .param(self.target)
                    .trailing(piece);
                out.extend_from_slice(&b.finish());
            }
        }
        let mut b = LineBuilder::new();
        b.source_parts(from.nick.as_str(), &from.user, &from.host)
            .command("BATCH")
            .param(&format!("-{id}"));
        out.extend_from_slice(&b.finish());
        out.freeze()
    }

    /// A TAGMSG line.
    pub(crate) fn tagmsg(&self) -> Bytes {
        let mut b = LineBuilder::new();
        self.start(&mut b);
        b.command("TAGMSG").param(self.target);
        b.finish()
    }
}

/// Splits `text` into pieces of at most `max` bytes, at character boundaries.
fn chunks(text: &str, max: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(max);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

#[cfg(test)]
mod tests {
    use teahouse_types::{MessageId, MessageText, Nick, RoomName};

    use super::*;

    fn who() -> Arc<Profile> {
        Arc::new(Profile {
            nick: Nick::parse("alice").unwrap(),
            user: "al".into(),
            host: "127.0.0.1".into(),
            realname: "Alice A".into(),
            account: None,
            is_bot: false,
        })
    }

    fn text(bytes: Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn join_plain_and_extended() {
        let event = HubEvent::new(EventKind::Joined {
            room: RoomName::parse("lobby").unwrap(),
            who: who(),
            session: SessionId::new(teahouse_types::NodeId::default(), 1),
        });
        assert_eq!(
            text(render(&event, 0).unwrap()),
            ":alice!al@127.0.0.1 JOIN #lobby\r\n"
        );
        let ext = Cap::EXTENDED_JOIN.bits();
        assert_eq!(
            text(render(&event, ext).unwrap()),
            ":alice!al@127.0.0.1 JOIN #lobby * :Alice A\r\n"
        );
    }

    #[test]
    fn message_tags_and_long_text_split() {
        let long = "字".repeat(400);
        let event = HubEvent::new(EventKind::Message {
            id: MessageId::from_raw(42),
            from: who(),
            target: MessageTarget::Room(RoomName::parse("lobby").unwrap()),
            kind: MessageKind::Normal,
            text: MessageText::parse(&long).unwrap(),
            client_tags: None,
        });
        let bits = Cap::SERVER_TIME.bits() | Cap::MESSAGE_TAGS.bits();
        let out = text(render(&event, bits).unwrap());
        let lines: Vec<&str> = out.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 3);
        let mut joined = String::new();
        for line in &lines {
            assert!(line.starts_with("@time="), "{line}");
            assert!(line.contains(";msgid=42 :alice!al@127.0.0.1 PRIVMSG #lobby :"));
            let untagged = &line[line.find(" :").unwrap() + 1..];
            assert!(untagged.len() + 2 <= MAX_LINE_BYTES, "{}", untagged.len());
            joined.push_str(&line[line.rfind(" :").unwrap() + 2..]);
        }
        assert_eq!(joined, long);
    }

    #[test]
    fn modes_group_signs() {
        let changes = vec![
            ModeChange {
                is_set: true,
                mode: RoomMode::Operator(Nick::parse("bob").unwrap()),
            },
            ModeChange {
                is_set: true,
                mode: RoomMode::Moderated,
            },
            ModeChange {
                is_set: false,
                mode: RoomMode::Ban("x!*@*".into()),
            },
        ];
        assert_eq!(
            mode_string(&changes),
            (
                "+om-b".to_owned(),
                vec!["bob".to_owned(), "x!*@*".to_owned()]
            )
        );
    }
}

//! Every text the plain-text face shows a user, in each language: one table per language.
//!
//! In Chinese (`zh`) the seed's own texts are reproduced exactly (`请输入昵称:`,
//! `昵称设置成功`, `当前昵称已经存在,请重新输入`, `系统消息X进入了聊天室`,
//! `系统消息X退出了聊天室`, `X:message`, `退出`). English system notices start with `* `
//! and errors with `! `, so a person can tell them from chat at a glance.

use std::fmt::Write as _;

use teahouse_hub::{CannotSend, LimitRefusal, Refusal, RoomSummary};
use teahouse_types::{LeaveReason, ModeChange, NameError, Nick, RoomMode, RoomName, TextError};
use teahouse_wire::text::terminal_safe;

/// The language of the plain-text face.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Chinese, with the seed's exact texts.
    Zh,
}

impl Lang {
    /// Parses `en` or `zh`.
    pub fn parse(code: &str) -> Option<Self> {
        match code {
            "en" => Some(Self::En),
            "zh" => Some(Self::Zh),
            _ => None,
        }
    }

    /// The language code.
    pub fn code(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::Zh => "zh",
        }
    }

    /// The render-cache key of this language's encoding of events.
    pub(crate) fn render_key(self) -> u32 {
        match self {
            Self::En => 1,
            Self::Zh => 2,
        }
    }

    pub(crate) fn prompt(self) -> &'static str {
        match self {
            Self::En => "Enter a nickname:",
            Self::Zh => "请输入昵称:",
        }
    }

    pub(crate) fn nick_accepted(self, nick: &Nick) -> String {
        match self {
            Self::En => format!("Nickname set: {nick}"),
            Self::Zh => "昵称设置成功".to_owned(),
        }
    }

    pub(crate) fn nick_taken(self, nick: &Nick) -> String {
        match self {
            Self::En => format!("Nickname {nick} is already taken, please enter another:"),
            Self::Zh => "当前昵称已经存在,请重新输入".to_owned(),
        }
    }

    pub(crate) fn nick_invalid(self, error: &NameError) -> String {
        match self {
            Self::En => format!("Nickname not allowed ({error}), please enter another:"),
            Self::Zh => format!("昵称不可用({}),请重新输入", self.name_error(error)),
        }
    }

    pub(crate) fn choose_nick_first(self) -> &'static str {
        match self {
            Self::En => "! Choose a nickname first (or quit):",
            Self::Zh => "! 请先输入昵称(或输入quit退出):",
        }
    }

    pub(crate) fn entered(self, nick: &Nick) -> String {
        match self {
            Self::En => format!("* {nick} entered the room"),
            Self::Zh => format!("系统消息{nick}进入了聊天室"),
        }
    }

    pub(crate) fn left(self, nick: &Nick, reason: &LeaveReason) -> String {
        match self {
            Self::En => {
                let mut line = format!("* {nick} left the room");
                let why = match reason {
                    LeaveReason::Requested(None) => None,
                    LeaveReason::Requested(Some(text)) => {
                        Some(teahouse_wire::text::terminal_safe(text.as_str()).into_owned())
                    }
                    LeaveReason::ConnectionLost => Some("connection lost".to_owned()),
                    LeaveReason::TimedOut => Some("timed out".to_owned()),
                    LeaveReason::SendQueueExceeded => Some("send queue exceeded".to_owned()),
                    LeaveReason::ServerShutdown => Some("server shutting down".to_owned()),
                    LeaveReason::NetSplit => Some("their node was lost".to_owned()),
                    LeaveReason::Killed(kill) => Some(format!(
                        "disconnected by {}: {}",
                        kill.by,
                        teahouse_wire::text::terminal_safe(kill.reason.as_str())
                    )),
                };
                if let Some(why) = why {
                    let _ = write!(line, " ({why})");
                }
                line
            }
            // The seed's text, whatever the reason.
            Self::Zh => format!("系统消息{nick}退出了聊天室"),
        }
    }

    pub(crate) fn relayed(self, from: &Nick, text: &str) -> String {
        match self {
            Self::En => format!("{from}: {text}"),
            Self::Zh => format!("{from}:{text}"),
        }
    }

    pub(crate) fn action(self, from: &Nick, text: &str) -> String {
        format!("* {from} {text}")
    }

    pub(crate) fn notice(self, from: &Nick, text: &str) -> String {
        format!("-{from}- {text}")
    }

    pub(crate) fn direct_in(self, from: &Nick, text: &str) -> String {
        match self {
            Self::En => format!("[dm] {from}: {text}"),
            Self::Zh => format!("[私信]{from}:{text}"),
        }
    }

    pub(crate) fn direct_out(self, to: &Nick, text: &str) -> String {
        match self {
            Self::En => format!("[dm to {to}] {text}"),
            Self::Zh => format!("[私信给{to}]{text}"),
        }
    }

    /// Asked after a registered nickname was chosen at login.
    pub(crate) fn password_prompt(self, nick: &Nick) -> String {
        match self {
            Self::En => format!("Nickname {nick} is registered. Password (or /nick OTHER):"),
            Self::Zh => format!("昵称{nick}已注册,请输入密码(或 /nick 其他昵称):"),
        }
    }

    pub(crate) fn wrong_password(self, tries_left: u32) -> String {
        match self {
            Self::En => {
                format!("! Wrong nickname or password ({tries_left} tries left). Password:")
            }
            Self::Zh => format!("! 昵称或密码错误(还可尝试{tries_left}次),请输入密码:"),
        }
    }

    pub(crate) fn too_many_tries(self) -> &'static str {
        match self {
            Self::En => "! Too many wrong passwords; disconnecting",
            Self::Zh => "! 密码错误次数过多,即将断开连接",
        }
    }

    pub(crate) fn logged_in(self, account: &Nick) -> String {
        match self {
            Self::En => format!("* You are logged in to account {account}"),
            Self::Zh => format!("系统消息已登录账号{account}"),
        }
    }

    pub(crate) fn registered(self, account: &Nick) -> String {
        match self {
            Self::En => format!(
                "* Nickname {account} is now registered to you; next time, log in with its password"
            ),
            Self::Zh => format!("系统消息昵称{account}注册成功,下次请用密码登录"),
        }
    }

    pub(crate) fn logged_out(self) -> &'static str {
        match self {
            Self::En => {
                "* You are logged out (you keep your nickname until you change it or leave)"
            }
            Self::Zh => "系统消息已退出登录(在更换昵称或离开前仍保留当前昵称)",
        }
    }

    pub(crate) fn password_changed(self) -> &'static str {
        match self {
            Self::En => "* Password changed",
            Self::Zh => "系统消息密码已修改",
        }
    }

    pub(crate) fn unregistered(self, account: &Nick) -> String {
        match self {
            Self::En => format!("* Account {account} deleted; the nickname is free for anyone"),
            Self::Zh => format!("系统消息账号{account}已注销,该昵称可被任何人使用"),
        }
    }

    /// Opens a replay of stored messages (shown on entering a room).
    pub(crate) fn history_start(self, room: &RoomName, count: usize) -> String {
        match self {
            Self::En => format!("* earlier in {room} ({count}):"),
            Self::Zh => format!("* {room} 的最近消息（{count} 条）："),
        }
    }

    /// One stored message: the time it was sent (UTC) before the line as it was shown then.
    pub(crate) fn history_line(self, time: &str, line: &str) -> String {
        format!("[{time}] {line}")
    }

    /// Closes a replay.
    pub(crate) fn history_end(self) -> &'static str {
        match self {
            Self::En => "* end of earlier messages",
            Self::Zh => "* 以上为历史消息",
        }
    }

    pub(crate) fn history_unavailable(self) -> &'static str {
        match self {
            Self::En => "! earlier messages are not available right now",
            Self::Zh => "! 暂时无法读取历史消息",
        }
    }

    pub(crate) fn disconnected(self, reason: &str) -> String {
        match self {
            Self::En => format!("! You were disconnected: {reason}"),
            Self::Zh => format!("! 你已被断开连接:{reason}"),
        }
    }

    pub(crate) fn not_delivered(self) -> &'static str {
        match self {
            Self::En => {
                "! your message was not delivered: the server could not store it; try again"
            }
            Self::Zh => "! 消息未送达：服务器无法保存，请重试",
        }
    }

    pub(crate) fn renamed(self, old: &Nick, new: &Nick) -> String {
        match self {
            Self::En => format!("* {old} is now known as {new}"),
            Self::Zh => format!("系统消息{old}改名为{new}"),
        }
    }

    pub(crate) fn kicked(self, target: &Nick, by: &Nick, reason: Option<&str>) -> String {
        match (self, reason) {
            (Self::En, None) => format!("* {target} was kicked out by {by}"),
            (Self::En, Some(reason)) => format!("* {target} was kicked out by {by} ({reason})"),
            (Self::Zh, None) => format!("系统消息{target}被{by}请出了聊天室"),
            (Self::Zh, Some(reason)) => format!("系统消息{target}被{by}请出了聊天室({reason})"),
        }
    }

    pub(crate) fn topic_changed(self, by: &Nick, topic: Option<&str>) -> String {
        match (self, topic) {
            (Self::En, Some(topic)) => format!("* {by} set the topic: {topic}"),
            (Self::En, None) => format!("* {by} cleared the topic"),
            (Self::Zh, Some(topic)) => format!("系统消息{by}设置了话题:{topic}"),
            (Self::Zh, None) => format!("系统消息{by}清除了话题"),
        }
    }

    pub(crate) fn modes_changed(self, by: &Nick, changes: &[ModeChange]) -> String {
        let list = join(changes.iter().map(describe_mode));
        match self {
            Self::En => format!("* {by} set {list}"),
            Self::Zh => format!("系统消息{by}设置了{list}"),
        }
    }

    pub(crate) fn invited(self, by: &Nick, room: &RoomName) -> String {
        match self {
            Self::En => format!("* {by} invites you to {room} (/join {room})"),
            Self::Zh => format!("系统消息{by}邀请你进入聊天室{room}(/join {room})"),
        }
    }

    pub(crate) fn quit_ack(self) -> &'static str {
        match self {
            Self::En => "Bye!",
            Self::Zh => "退出",
        }
    }

    pub(crate) fn members(self, room: &RoomName, members: &[Nick]) -> String {
        let list = join(members.iter().map(Nick::as_str));
        match self {
            Self::En => format!("* In {room} ({}): {list}", members.len()),
            Self::Zh => format!("系统消息聊天室{room}中有{}人:{list}", members.len()),
        }
    }

    pub(crate) fn rooms(self, rooms: &[RoomSummary]) -> String {
        let list = join(rooms.iter().map(|r| format!("{} ({})", r.name, r.members)));
        match self {
            Self::En => format!("* Rooms: {list}"),
            Self::Zh => format!("系统消息聊天室列表:{list}"),
        }
    }

    pub(crate) fn help(self) -> &'static [&'static str] {
        match self {
            Self::En => &[
                "* Type a line to say it to the room. Commands:",
                "*   /who               who is in this room",
                "*   /rooms             the rooms and how many are in each",
                "*   /join ROOM [KEY]   move to another room (created if new)",
                "*   /nick NEW          change your nickname",
                "*   /me ACTION         say what you do (* you waves)",
                "*   /msg NICK TEXT     a private message to one person",
                "*   /register PASSWORD protect your nickname with a password",
                "*   /password NEW      change that password",
                "*   /logout            log out of your account",
                "*   /unregister PASSWORD  delete your account (the nickname becomes free)",
                "*   /oper NAME PASSWORD  become a server operator; then /kill NICK [REASON]",
                "*   /quit [REASON]     leave (or just type quit)",
                "*   //text             say a line that starts with /",
            ],
            Self::Zh => &[
                "系统消息输入文字即发送给聊天室所有人。命令:",
                "系统消息  /who               查看当前聊天室成员",
                "系统消息  /rooms             查看所有聊天室及人数",
                "系统消息  /join 聊天室       进入另一个聊天室(不存在则创建)",
                "系统消息  /nick 新昵称       修改昵称",
                "系统消息  /me 动作           发送动作(* 你 挥手)",
                "系统消息  /msg 昵称 内容     发送私信",
                "系统消息  /register 密码     注册当前昵称,用密码保护",
                "系统消息  /password 新密码   修改密码",
                "系统消息  /logout            退出登录",
                "系统消息  /unregister 密码   注销账号(昵称将可被他人使用)",
                "系统消息  /oper 名称 密码    成为服务器管理员;之后可用 /kill 昵称 [原因]",
                "系统消息  /quit [原因]       退出(或直接输入quit)",
                "系统消息  //文字             发送以/开头的文字",
            ],
        }
    }

    pub(crate) fn unknown_command(self, command: &str) -> String {
        let command = teahouse_wire::text::terminal_safe(command);
        match self {
            Self::En => format!("! Unknown command /{command} (try /help)"),
            Self::Zh => format!("! 未知命令/{command}(输入/help查看帮助)"),
        }
    }

    pub(crate) fn usage(self, usage: &str) -> String {
        match self {
            Self::En => format!("! Usage: {usage}"),
            Self::Zh => format!("! 用法:{usage}"),
        }
    }

    pub(crate) fn line_too_long(self, max_bytes: usize) -> String {
        match self {
            Self::En => format!("! Line too long (over {max_bytes} bytes), not sent"),
            Self::Zh => format!("! 消息过长(超过{max_bytes}字节),未发送"),
        }
    }

    pub(crate) fn invalid_utf8(self) -> &'static str {
        match self {
            Self::En => "! Line is not valid UTF-8, not sent",
            Self::Zh => "! 消息不是有效的UTF-8编码,未发送",
        }
    }

    pub(crate) fn bad_text(self, error: &TextError) -> String {
        match (self, error) {
            (Self::En, error) => format!("! Not sent: {error}"),
            (Self::Zh, TextError::Empty) => "! 未发送:消息为空".to_owned(),
            (Self::Zh, TextError::ForbiddenChar { ch }) => {
                format!("! 未发送:消息包含控制字符{ch:?}")
            }
        }
    }

    pub(crate) fn bad_room(self, error: &NameError) -> String {
        match self {
            Self::En => format!("! Room name not allowed ({error})"),
            Self::Zh => format!("! 聊天室名称不可用({})", self.name_error(error)),
        }
    }

    pub(crate) fn bad_nick(self, error: &NameError) -> String {
        match self {
            Self::En => format!("! Nickname not allowed ({error})"),
            Self::Zh => format!("! 昵称不可用({})", self.name_error(error)),
        }
    }

    pub(crate) fn login_timeout(self) -> &'static str {
        match self {
            Self::En => "! No nickname given in time, goodbye",
            Self::Zh => "! 超时未输入昵称,连接已关闭",
        }
    }

    pub(crate) fn peers_reachable(self, reachable: bool) -> &'static str {
        match (self, reachable) {
            (Self::En, false) => {
                "! The other nodes are out of reach: this room keeps working here; people on them will be back when they are"
            }
            (Self::En, true) => "* The other nodes are back in reach",
            (Self::Zh, false) => "系统消息其他节点暂时无法连接，本节点的聊天室照常工作",
            (Self::Zh, true) => "系统消息其他节点已恢复连接",
        }
    }

    pub(crate) fn shutting_down(self) -> &'static str {
        match self {
            Self::En => "* The server is shutting down, goodbye",
            Self::Zh => "系统消息服务器正在关闭",
        }
    }

    pub(crate) fn send_queue_exceeded(self) -> &'static str {
        match self {
            Self::En => "! Send queue exceeded (you are not reading fast enough), disconnecting",
            Self::Zh => "! 发送队列已满(接收过慢),连接已断开",
        }
    }

    /// A client cut off for sending too much too fast.
    pub(crate) fn excess_flood(self) -> &'static str {
        match self {
            Self::En => "! Excess flood: you sent too much too fast, goodbye",
            Self::Zh => "! 发送过快过多,连接已断开",
        }
    }

    /// A TLS client on this plain-text port, and a TCP client on a TLS port.
    pub(crate) fn tls_on_plain_port(self) -> &'static str {
        match self {
            Self::En => "! This port speaks plain text, not TLS: connect without TLS",
            Self::Zh => "! 此端口使用明文,不是TLS:请不用TLS连接",
        }
    }

    pub(crate) fn plaintext_on_tls_port(self) -> &'static str {
        match self {
            Self::En => "! This port speaks TLS only: connect with TLS",
            Self::Zh => "! 此端口只接受TLS:请用TLS连接",
        }
    }

    /// `/oper` succeeded.
    pub(crate) fn oper_ok(self) -> &'static str {
        match self {
            Self::En => "* You are now a server operator",
            Self::Zh => "系统消息你现在是服务器管理员",
        }
    }

    /// `/kill` succeeded.
    pub(crate) fn killed(self, nick: &Nick) -> String {
        match self {
            Self::En => format!("* {nick} was disconnected"),
            Self::Zh => format!("系统消息{nick}已被断开连接"),
        }
    }

    /// A connection from a banned address.
    pub(crate) fn address_banned(self, reason: &str) -> String {
        match self {
            Self::En => format!(
                "! You are banned from this server: {}",
                terminal_safe(reason)
            ),
            Self::Zh => format!("! 你已被禁止进入本服务器:{}", terminal_safe(reason)),
        }
    }

    pub(crate) fn limit(self, refusal: LimitRefusal) -> String {
        match (self, refusal) {
            (Self::En, LimitRefusal::ServerFull { .. }) => {
                "! The server is full, try again later".to_owned()
            }
            (Self::En, LimitRefusal::TooManyFromAddress { max }) => {
                format!("! Too many connections from your address (at most {max})")
            }
            (Self::Zh, LimitRefusal::ServerFull { .. }) => "! 服务器已满,请稍后再试".to_owned(),
            (Self::Zh, LimitRefusal::TooManyFromAddress { max }) => {
                format!("! 来自你的地址的连接过多(最多{max}个)")
            }
            (Self::En, LimitRefusal::TooFast { retry_after }) => format!(
                "! Too many new connections from your address; try again in {} s",
                retry_after.as_secs().max(1)
            ),
            (Self::Zh, LimitRefusal::TooFast { retry_after }) => format!(
                "! 你的地址新建连接过于频繁,请{}秒后再试",
                retry_after.as_secs().max(1)
            ),
        }
    }

    pub(crate) fn refusal(self, refusal: &Refusal) -> String {
        match self {
            Self::En => match refusal {
                Refusal::NickRegistered(nick) => {
                    format!("! Nickname {nick} is registered; log in to use it")
                }
                Refusal::AccountExists(nick) => format!("! {nick} is already registered"),
                Refusal::AuthFailed => "! Wrong nickname or password".to_owned(),
                Refusal::RateLimited => "! Too many failed logins; try again later".to_owned(),
                Refusal::TooManyRegistrations => {
                    "! Too many accounts registered from your address lately; try again later"
                        .to_owned()
                }
                Refusal::BadPassword {
                    min_bytes,
                    max_bytes,
                } => format!("! A password must be {min_bytes} to {max_bytes} bytes long"),
                Refusal::NotLoggedIn => "! You are not logged in".to_owned(),
                Refusal::HistoryUnavailable => self.history_unavailable().to_owned(),
                Refusal::AccountsUnavailable => {
                    "! Accounts are unavailable right now; try again later".to_owned()
                }
                Refusal::Busy => {
                    "! The server is busy; your message was not sent, try again".to_owned()
                }
                Refusal::NotRegistered => "! Choose a nickname first".to_owned(),
                Refusal::NickInUse(nick) => format!("! Nickname {nick} is already taken"),
                Refusal::NickUnavailable(nick) => format!(
                    "! Nickname {nick} cannot be checked with the other nodes right now; try again shortly"
                ),
                Refusal::NoSuchNick(nick) => self.no_such_nick(nick.as_str()),
                Refusal::NoSuchRoom(room) => format!("! No such room: {room}"),
                Refusal::NotInRoom(room) => format!("! You are not in {room}"),
                Refusal::AlreadyInRoom(room) => format!("! You are already in {room}"),
                Refusal::MessageTooLong { max_bytes } => {
                    format!("! Message too long (over {max_bytes} bytes), not sent")
                }
                Refusal::SessionClosed => "! Your connection is closing".to_owned(),
                Refusal::NoPrivileges => "! Only server operators may do that".to_owned(),
                Refusal::ServerBanned(reason) => {
                    format!(
                        "! You are banned from this server: {}",
                        terminal_safe(reason)
                    )
                }
                Refusal::BadBanMask => {
                    "! A ban is on an address or range, $a:account, or a nick!user@host mask"
                        .to_owned()
                }
                Refusal::TooManyRooms { room, max } => format!(
                    "! You are in as many rooms as you may be ({max}); leave one to join {room}"
                ),
                Refusal::TargetsTooFast { target, max } => format!(
                    "! You messaged {max} different people in the last minute; wait before messaging {target}"
                ),
                Refusal::ServerRoomLimit(room) => {
                    format!("! The server has as many rooms as it may; {room} cannot be made now")
                }
                Refusal::NoOperHost => "! No operator login for your address".to_owned(),
                Refusal::NoSuchMessage => "! No such message".to_owned(),
                Refusal::MetadataLimit => "! Too many metadata keys".to_owned(),
                Refusal::NotOperator(room) => format!("! You are not an operator of {room}"),
                Refusal::CannotSend { room, reason } => match reason {
                    CannotSend::NotMember => format!("! Not sent: you are not in {room}"),
                    CannotSend::Moderated => {
                        format!("! Not sent: {room} is moderated and you have no voice")
                    }
                    CannotSend::Banned => format!("! Not sent: you are banned from {room}"),
                },
                Refusal::InviteOnly(room) => format!("! {room} is invite-only"),
                Refusal::BadKey(room) => format!("! {room} needs a key: /join {room} KEY"),
                Refusal::RoomFull(room) => format!("! {room} is full"),
                Refusal::Banned(room) => format!("! You are banned from {room}"),
                Refusal::TargetNotInRoom { nick, room } => format!("! {nick} is not in {room}"),
                Refusal::TargetAlreadyInRoom { nick, room } => {
                    format!("! {nick} is already in {room}")
                }
            },
            Self::Zh => match refusal {
                Refusal::NickRegistered(nick) => format!("! 昵称{nick}已注册,请先登录"),
                Refusal::AccountExists(nick) => format!("! {nick}已经注册过了"),
                Refusal::AuthFailed => "! 昵称或密码错误".to_owned(),
                Refusal::RateLimited => "! 登录失败次数过多,请稍后再试".to_owned(),
                Refusal::TooManyRegistrations => {
                    "! 你的地址近期注册的账号过多,请稍后再试".to_owned()
                }
                Refusal::BadPassword {
                    min_bytes,
                    max_bytes,
                } => format!("! 密码长度须为{min_bytes}到{max_bytes}字节"),
                Refusal::NotLoggedIn => "! 你还没有登录".to_owned(),
                Refusal::HistoryUnavailable => self.history_unavailable().to_owned(),
                Refusal::AccountsUnavailable => "! 账号服务暂时不可用,请稍后再试".to_owned(),
                Refusal::Busy => "! 服务器繁忙，消息未发送，请重试".to_owned(),
                Refusal::NotRegistered => "! 请先输入昵称".to_owned(),
                Refusal::NickInUse(_) => "! 当前昵称已经存在".to_owned(),
                Refusal::NickUnavailable(_) => {
                    "! 暂时无法与其他节点确认该昵称，请稍后再试".to_owned()
                }
                Refusal::NoSuchNick(nick) => self.no_such_nick(nick.as_str()),
                Refusal::NoSuchRoom(room) => format!("! 聊天室{room}不存在"),
                Refusal::NotInRoom(room) => format!("! 你不在聊天室{room}中"),
                Refusal::AlreadyInRoom(room) => format!("! 你已经在聊天室{room}中"),
                Refusal::MessageTooLong { max_bytes } => {
                    format!("! 消息过长(超过{max_bytes}字节),未发送")
                }
                Refusal::SessionClosed => "! 连接正在关闭".to_owned(),
                Refusal::NoPrivileges => "! 只有服务器管理员可以这样做".to_owned(),
                Refusal::ServerBanned(reason) => {
                    format!("! 你已被禁止进入本服务器:{}", terminal_safe(reason))
                }
                Refusal::BadBanMask => {
                    "! 封禁对象须为地址或网段、$a:账号,或nick!user@host掩码".to_owned()
                }
                Refusal::TooManyRooms { room, max } => {
                    format!("! 你加入的聊天室已达上限({max}个),请先离开一个再加入{room}")
                }
                Refusal::TargetsTooFast { target, max } => {
                    format!("! 你在一分钟内已私信{max}个人,请稍后再私信{target}")
                }
                Refusal::ServerRoomLimit(room) => {
                    format!("! 服务器的聊天室数量已达上限,暂时无法创建{room}")
                }
                Refusal::NoOperHost => "! 你的地址不能以管理员身份登录".to_owned(),
                Refusal::NoSuchMessage => "! 没有这条消息".to_owned(),
                Refusal::MetadataLimit => "! 元数据键太多".to_owned(),
                Refusal::NotOperator(room) => format!("! 你不是聊天室{room}的管理员"),
                Refusal::CannotSend { room, reason } => match reason {
                    CannotSend::NotMember => format!("! 未发送:你不在聊天室{room}中"),
                    CannotSend::Moderated => format!("! 未发送:聊天室{room}已禁言"),
                    CannotSend::Banned => format!("! 未发送:你已被聊天室{room}封禁"),
                },
                Refusal::InviteOnly(room) => format!("! 聊天室{room}仅限受邀者进入"),
                Refusal::BadKey(room) => format!("! 聊天室{room}需要密码:/join {room} 密码"),
                Refusal::RoomFull(room) => format!("! 聊天室{room}已满"),
                Refusal::Banned(room) => format!("! 你已被聊天室{room}封禁"),
                Refusal::TargetNotInRoom { nick, room } => format!("! {nick}不在聊天室{room}中"),
                Refusal::TargetAlreadyInRoom { nick, room } => {
                    format!("! {nick}已经在聊天室{room}中")
                }
            },
        }
    }

    pub(crate) fn no_such_nick(self, name: &str) -> String {
        let name = teahouse_wire::text::terminal_safe(name);
        match self {
            Self::En => format!("! No such nickname: {name}"),
            Self::Zh => format!("! 用户{name}不存在"),
        }
    }

    fn name_error(self, error: &NameError) -> String {
        match self {
            Self::En => error.to_string(),
            Self::Zh => match error {
                NameError::Empty => "不能为空".to_owned(),
                NameError::TooLong { max } => format!("不能超过{max}个字符"),
                NameError::ForbiddenChar { ch } => format!("不能包含字符{ch:?}"),
                NameError::ForbiddenFirstChar { ch } => format!("不能以{ch:?}开头"),
                NameError::Reserved => "为系统保留".to_owned(),
                NameError::MixedScripts => "不能混用多种文字(如拉丁字母和西里尔字母)".to_owned(),
            },
        }
    }
}

/// A mode change as IRC writes it (`+o bob`, `-m`): short, and the same in every language.
fn describe_mode(change: &ModeChange) -> String {
    let sign = if change.is_set { '+' } else { '-' };
    match &change.mode {
        RoomMode::Operator(nick) => format!("{sign}o {nick}"),
        RoomMode::Voice(nick) => format!("{sign}v {nick}"),
        RoomMode::TopicLock => format!("{sign}t"),
        RoomMode::NoExternal => format!("{sign}n"),
        RoomMode::Moderated => format!("{sign}m"),
        RoomMode::InviteOnly => format!("{sign}i"),
        RoomMode::Secret => format!("{sign}s"),
        RoomMode::Key(_) => format!("{sign}k"),
        RoomMode::Limit(limit) if change.is_set => format!("+l {limit}"),
        RoomMode::Limit(_) => "-l".to_owned(),
        RoomMode::Ban(mask) => format!("{sign}b {}", teahouse_wire::text::terminal_safe(mask)),
    }
}

fn join<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    let mut out = String::new();
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item.as_ref());
    }
    out
}

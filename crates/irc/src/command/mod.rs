//! IRC commands: one dispatch table, preconditions checked once, one module per family.
//!
//! `registration` (CAP, PASS, NICK, USER, the welcome burst), `channel` (JOIN, PART, TOPIC,
//! NAMES, LIST, KICK, INVITE, MODE on channels), `message` (PRIVMSG, NOTICE, TAGMSG),
//! `user` (WHO, WHOIS, WHOWAS, AWAY, ISON, USERHOST, SETNAME, user MODE) and `server` (PING,
//! PONG, QUIT, VERSION, TIME, LUSERS, MOTD).

pub(crate) mod account;
mod channel;
mod help;
pub(crate) mod history;
mod message;
mod metadata;
mod monitor;
mod multiline;
mod oper;
mod read_marker;
mod redact;
mod registration;
mod server;
mod user;

use teahouse_hub::{CannotSend, Refusal};
use teahouse_wire::irc::Message;

use crate::render::channel as channel_name;
use crate::reply;
use crate::session::Session;

pub(crate) use account::Sasl;
pub(crate) use multiline::Multiline;
pub(crate) use read_marker::marker_param;
pub(crate) use registration::send_isupport;

/// Who may run a command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Before and after registration.
    Always,
    /// Only once registered (451 before).
    Registered,
}

/// One command: its name, who may run it, how many parameters it needs, and its handler.
struct Spec {
    name: &'static str,
    access: Access,
    min_params: usize,
    handler: fn(&mut Session, &Message),
}

/// Every command, by name.
const COMMANDS: &[Spec] = &[
    Spec {
        name: "CAP",
        access: Access::Always,
        min_params: 1,
        handler: registration::cap,
    },
    Spec {
        name: "PASS",
        access: Access::Always,
        min_params: 1,
        handler: registration::pass,
    },
    Spec {
        name: "NICK",
        access: Access::Always,
        min_params: 0,
        handler: registration::nick,
    },
    Spec {
        name: "USER",
        access: Access::Always,
        min_params: 4,
        handler: registration::user,
    },
    Spec {
        name: "PING",
        access: Access::Always,
        min_params: 1,
        handler: server::ping,
    },
    Spec {
        name: "PONG",
        access: Access::Always,
        min_params: 0,
        handler: server::pong,
    },
    Spec {
        name: "QUIT",
        access: Access::Always,
        min_params: 0,
        handler: server::quit,
    },
    Spec {
        name: "JOIN",
        access: Access::Registered,
        min_params: 1,
        handler: channel::join,
    },
    Spec {
        name: "PART",
        access: Access::Registered,
        min_params: 1,
        handler: channel::part,
    },
    Spec {
        name: "TOPIC",
        access: Access::Registered,
        min_params: 1,
        handler: channel::topic,
    },
    Spec {
        name: "NAMES",
        access: Access::Registered,
        min_params: 0,
        handler: channel::names,
    },
    Spec {
        name: "LIST",
        access: Access::Registered,
        min_params: 0,
        handler: channel::list,
    },
    Spec {
        name: "KICK",
        access: Access::Registered,
        min_params: 2,
        handler: channel::kick,
    },
    Spec {
        name: "INVITE",
        access: Access::Registered,
        min_params: 2,
        handler: channel::invite,
    },
    Spec {
        name: "MODE",
        access: Access::Registered,
        min_params: 1,
        handler: user::mode,
    },
    Spec {
        name: "PRIVMSG",
        access: Access::Registered,
        min_params: 0,
        handler: message::privmsg,
    },
    Spec {
        name: "NOTICE",
        access: Access::Registered,
        min_params: 0,
        handler: message::notice,
    },
    Spec {
        name: "TAGMSG",
        access: Access::Registered,
        min_params: 1,
        handler: message::tagmsg,
    },
    Spec {
        name: "WHO",
        access: Access::Registered,
        min_params: 0,
        handler: user::who,
    },
    Spec {
        name: "WHOIS",
        access: Access::Registered,
        min_params: 1,
        handler: user::whois,
    },
    Spec {
        name: "WHOWAS",
        access: Access::Registered,
        min_params: 1,
        handler: user::whowas,
    },
    Spec {
        name: "AWAY",
        access: Access::Registered,
        min_params: 0,
        handler: user::away,
    },
    Spec {
        name: "ISON",
        access: Access::Registered,
        min_params: 1,
        handler: user::ison,
    },
    Spec {
        name: "USERHOST",
        access: Access::Registered,
        min_params: 1,
        handler: user::userhost,
    },
    Spec {
        name: "AUTHENTICATE",
        access: Access::Always,
        min_params: 1,
        handler: account::authenticate,
    },
    Spec {
        name: "CHATHISTORY",
        access: Access::Registered,
        min_params: 1,
        handler: history::chathistory,
    },
    Spec {
        name: "REGISTER",
        // `before-connect`: also during connection registration, once there is a nick.
        access: Access::Always,
        min_params: 3,
        handler: account::register,
    },
    Spec {
        name: "SETNAME",
        access: Access::Registered,
        min_params: 1,
        handler: user::setname,
    },
    Spec {
        name: "VERSION",
        access: Access::Registered,
        min_params: 0,
        handler: server::version,
    },
    Spec {
        name: "TIME",
        access: Access::Registered,
        min_params: 0,
        handler: server::time,
    },
    Spec {
        name: "LUSERS",
        access: Access::Registered,
        min_params: 0,
        handler: server::lusers,
    },
    Spec {
        name: "OPER",
        access: Access::Registered,
        min_params: 2,
        handler: oper::oper,
    },
    Spec {
        name: "KILL",
        access: Access::Registered,
        min_params: 1,
        handler: oper::kill,
    },
    Spec {
        name: "KLINE",
        access: Access::Registered,
        min_params: 1,
        handler: oper::kline,
    },
    Spec {
        name: "DLINE",
        access: Access::Registered,
        min_params: 1,
        handler: oper::kline,
    },
    Spec {
        name: "UNKLINE",
        access: Access::Registered,
        min_params: 1,
        handler: oper::unkline,
    },
    Spec {
        name: "UNDLINE",
        access: Access::Registered,
        min_params: 1,
        handler: oper::unkline,
    },
    Spec {
        name: "STATS",
        access: Access::Registered,
        min_params: 1,
        handler: oper::stats,
    },
    Spec {
        name: "REHASH",
        access: Access::Registered,
        min_params: 0,
        handler: oper::rehash,
    },
    Spec {
        name: "WALLOPS",
        access: Access::Registered,
        min_params: 1,
        handler: oper::wallops,
    },
    Spec {
        name: "CHGHOST",
        access: Access::Registered,
        min_params: 2,
        handler: oper::chghost,
    },
    Spec {
        name: "INFO",
        access: Access::Registered,
        min_params: 0,
        handler: oper::info,
    },
    Spec {
        name: "MONITOR",
        access: Access::Registered,
        min_params: 1,
        handler: monitor::monitor,
    },
    Spec {
        name: "HELP",
        access: Access::Registered,
        min_params: 0,
        handler: help::help,
    },
    Spec {
        name: "HELPOP",
        access: Access::Registered,
        min_params: 0,
        handler: help::help,
    },
    Spec {
        name: "MARKREAD",
        access: Access::Registered,
        min_params: 0,
        handler: read_marker::markread,
    },
    Spec {
        name: "REDACT",
        access: Access::Registered,
        min_params: 2,
        handler: redact::redact,
    },
    Spec {
        name: "BATCH",
        access: Access::Registered,
        min_params: 1,
        handler: multiline::batch,
    },
    Spec {
        name: "METADATA",
        access: Access::Registered,
        min_params: 2,
        handler: metadata::metadata,
    },
    Spec {
        name: "MOTD",
        access: Access::Registered,
        min_params: 0,
        handler: server::motd,
    },
];

/// Runs one parsed message: checks access and parameter count, then calls its handler.
pub(crate) fn dispatch(session: &mut Session, message: &Message) {
    let name = message.command.to_ascii_uppercase();
    let Some(spec) = COMMANDS.iter().find(|spec| spec.name == name) else {
        if session.is_registered {
            session.numeric(
                reply::ERR_UNKNOWNCOMMAND,
                &[&message.command, "Unknown command"],
            );
        } else {
            session.numeric(reply::ERR_NOTREGISTERED, &["You have not registered"]);
        }
        return;
    };
    if spec.access == Access::Registered && !session.is_registered {
        session.numeric(reply::ERR_NOTREGISTERED, &["You have not registered"]);
        return;
    }
    // A line of a client's `draft/multiline` batch.
    if let Some(id) = message.tag("batch")
        && spec.name != "BATCH"
    {
        let id = id.to_owned();
        multiline::line(session, message, &id);
        return;
    }
    if message.params.len() < spec.min_params {
        need_more_params(session, spec.name);
        return;
    }
    (spec.handler)(session, message);
}

/// 461.
fn need_more_params(session: &mut Session, command: &str) {
    session.numeric(
        reply::ERR_NEEDMOREPARAMS,
        &[command, "Not enough parameters"],
    );
}

/// The numeric for a hub refusal.
fn refused(session: &mut Session, refusal: &Refusal) {
    match refusal {
        Refusal::NickRegistered(nick) => {
            session.numeric(
                reply::ERR_NICKNAMEINUSE,
                &[
                    nick.as_str(),
                    "Nickname is registered to an account; log in (SASL) to use it",
                ],
            );
        }
        Refusal::AccountExists(_)
        | Refusal::AuthFailed
        | Refusal::RateLimited
        | Refusal::TooManyRegistrations
        | Refusal::BadPassword { .. }
        | Refusal::NotLoggedIn
        | Refusal::HistoryUnavailable
        | Refusal::AccountsUnavailable => {
            let code = match refusal {
                Refusal::AccountExists(_) => "ACCOUNT_EXISTS",
                Refusal::AuthFailed => "INVALID_CREDENTIALS",
                Refusal::RateLimited | Refusal::TooManyRegistrations => "RATE_LIMITED",
                Refusal::BadPassword { .. } => "UNACCEPTABLE_PASSWORD",
                Refusal::NotLoggedIn => "ACCOUNT_REQUIRED",
                _ => "TEMPORARILY_UNAVAILABLE",
            };
            session.fail("*", code, &[], &refusal.to_string());
        }
        Refusal::Busy => session.standard_reply(
            "PRIVMSG",
            "TEMPORARILY_UNAVAILABLE",
            &[],
            "The server is busy; message not sent, try again",
        ),
        Refusal::NotRegistered | Refusal::SessionClosed => {
            session.numeric(reply::ERR_NOTREGISTERED, &["You have not registered"]);
        }
        Refusal::NickInUse(nick) => {
            session.numeric(
                reply::ERR_NICKNAMEINUSE,
                &[nick.as_str(), "Nickname is already in use"],
            );
        }
        Refusal::NickUnavailable(nick) => {
            session.numeric(
                reply::ERR_UNAVAILRESOURCE,
                &[nick.as_str(), "Nick/channel is temporarily unavailable"],
            );
        }
        Refusal::NoSuchNick(nick) => {
            session.numeric(
                reply::ERR_NOSUCHNICK,
                &[nick.as_str(), "No such nick/channel"],
            );
        }
        Refusal::NoSuchRoom(room) => {
            session.numeric(
                reply::ERR_NOSUCHCHANNEL,
                &[&channel_name(room.as_str()), "No such channel"],
            );
        }
        Refusal::NotInRoom(room) => {
            session.numeric(
                reply::ERR_NOTONCHANNEL,
                &[&channel_name(room.as_str()), "You're not on that channel"],
            );
        }
        Refusal::AlreadyInRoom(_) => {}
        Refusal::NotOperator(room) => {
            session.numeric(
                reply::ERR_CHANOPRIVSNEEDED,
                &[&channel_name(room.as_str()), "You're not channel operator"],
            );
        }
        Refusal::CannotSend { room, reason } => {
            let text = match reason {
                CannotSend::NotMember => "Cannot send to channel (no external messages)",
                CannotSend::Moderated => "Cannot send to channel (+m)",
                CannotSend::Banned => "Cannot send to channel (you are banned)",
            };
            session.numeric(
                reply::ERR_CANNOTSENDTOCHAN,
                &[&channel_name(room.as_str()), text],
            );
        }
        Refusal::InviteOnly(room) => {
            session.numeric(
                reply::ERR_INVITEONLYCHAN,
                &[&channel_name(room.as_str()), "Cannot join channel (+i)"],
            );
        }
        Refusal::BadKey(room) => {
            session.numeric(
                reply::ERR_BADCHANNELKEY,
                &[&channel_name(room.as_str()), "Cannot join channel (+k)"],
            );
        }
        Refusal::RoomFull(room) => {
            session.numeric(
                reply::ERR_CHANNELISFULL,
                &[&channel_name(room.as_str()), "Cannot join channel (+l)"],
            );
        }
        Refusal::Banned(room) => {
            session.numeric(
                reply::ERR_BANNEDFROMCHAN,
                &[&channel_name(room.as_str()), "Cannot join channel (+b)"],
            );
        }
        Refusal::TargetsTooFast { target, .. } => {
            session.numeric(
                reply::ERR_TARGETTOOFAST,
                &[
                    target.as_str(),
                    "Targets changing too fast, message dropped",
                ],
            );
        }
        Refusal::TooManyRooms { room, .. } => {
            session.numeric(
                reply::ERR_TOOMANYCHANNELS,
                &[
                    &channel_name(room.as_str()),
                    "You have joined too many channels",
                ],
            );
        }
        Refusal::ServerRoomLimit(room) => {
            session.numeric(
                reply::ERR_TOOMANYCHANNELS,
                &[
                    &channel_name(room.as_str()),
                    "The server has as many channels as it may; try an existing one",
                ],
            );
        }
        Refusal::TargetNotInRoom { nick, room } => {
            session.numeric(
                reply::ERR_USERNOTINCHANNEL,
                &[
                    nick.as_str(),
                    &channel_name(room.as_str()),
                    "They aren't on that channel",
                ],
            );
        }
        Refusal::TargetAlreadyInRoom { nick, room } => {
            session.numeric(
                reply::ERR_USERONCHANNEL,
                &[
                    nick.as_str(),
                    &channel_name(room.as_str()),
                    "is already on channel",
                ],
            );
        }
        Refusal::MessageTooLong { .. } => {
            session.numeric(reply::ERR_INPUTTOOLONG, &["Input line was too long"]);
        }
        Refusal::NoPrivileges => {
            session.numeric(
                reply::ERR_NOPRIVILEGES,
                &["Permission Denied- You're not an IRC operator"],
            );
        }
        Refusal::ServerBanned(reason) => {
            let text = format!("You are banned from this server: {reason}");
            session.fail("*", "BANNED", &[], truncate(&text, reply::TEXT_LEN));
        }
        Refusal::BadBanMask => {
            session.fail("*", "INVALID_PARAMS", &[], &refusal.to_string());
        }
        Refusal::NoOperHost => {
            session.numeric(reply::ERR_NOOPERHOST, &["No O-lines for your host"]);
        }
        Refusal::MetadataLimit => {
            session.fail("METADATA", "LIMIT_REACHED", &[], "Metadata limit reached");
        }
        Refusal::NoSuchMessage => session.fail(
            "*",
            "UNKNOWN_MSGID",
            &[],
            "This message does not exist or is too old",
        ),
    }
}

/// A mode string (`+ov-k`) as its letters, each with whether it is set (`+`, the start) or
/// unset (`-`): a sign holds until the next.
fn mode_letters(modestring: &str) -> impl Iterator<Item = (bool, char)> + '_ {
    let mut is_set = true;
    modestring.chars().filter_map(move |letter| match letter {
        '+' => {
            is_set = true;
            None
        }
        '-' => {
            is_set = false;
            None
        }
        letter => Some((is_set, letter)),
    })
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A channel parameter as a room name: it must start with `#` (the only `CHANTYPES`).
fn parse_channel(name: &str) -> Option<teahouse_types::RoomName> {
    if !name.starts_with('#') {
        return None;
    }
    teahouse_types::RoomName::parse(name).ok()
}

/// 403 for a channel name that is not one.
fn no_such_channel(session: &mut Session, name: &str) {
    session.numeric(reply::ERR_NOSUCHCHANNEL, &[name, "No such channel"]);
}

//! Connection registration: CAP, PASS, NICK, USER, and the welcome burst.

use std::sync::Arc;

use teahouse_hub::{NickOutcome, Refusal};
use teahouse_types::{LeaveReason, NICK_MAX_CHARS, Nick, ROOM_MAX_CHARS};
use teahouse_wire::irc::Message;

use super::{refused, server, truncate};
use crate::cap::{Cap, OFFERED};
use crate::reply::{self, MAX_MODES, MAX_TARGETS, TEXT_LEN};
use crate::session::Session;

/// The longest user name kept from USER (`USERLEN`); longer ones are cut.
const USER_LEN: usize = 16;

/// `CAP LS [302] | LIST | REQ :caps | END`.
pub(super) fn cap(session: &mut Session, message: &Message) {
    let sub = message.params[0].to_ascii_uppercase();
    match sub.as_str() {
        "LS" => {
            if !session.is_registered {
                session.is_negotiating = true;
            }
            if message
                .params
                .get(1)
                .is_some_and(|v| v.parse::<u32>().is_ok_and(|v| v >= 302))
            {
                session.caps.enable(Cap::CAP_NOTIFY);
            }
            let is_302 = session.caps.has(Cap::CAP_NOTIFY);
            let list: Vec<String> = OFFERED
                .iter()
                .map(|(name, _)| match *name {
                    // Version 302 lists values: the SASL mechanisms we take, how
                    // registration works.
                    "sasl" if is_302 => format!("sasl={}", super::account::SASL_MECHANISMS),
                    "draft/multiline" if is_302 => super::multiline::cap_value(session),
                    "draft/metadata-2" if is_302 => super::metadata::cap_value(),
                    "draft/account-registration" if is_302 => {
                        let mut value = "draft/account-registration=before-connect".to_owned();
                        if session.config().is_email_required {
                            value.push_str(",email-required");
                        }
                        value
                    }
                    name => name.to_owned(),
                })
                .chain(sts_value(session).filter(|_| is_302))
                .collect();
            if is_302 {
                // Version 302 may continue the list on more lines (`LS * :…`), which keeps
                // each line within 512 bytes however many values there are.
                let mut line = String::new();
                let mut lines = Vec::new();
                for cap in &list {
                    if !line.is_empty() && line.len() + 1 + cap.len() > CAP_LS_BYTES {
                        lines.push(std::mem::take(&mut line));
                    }
                    if !line.is_empty() {
                        line.push(' ');
                    }
                    line.push_str(cap);
                }
                lines.push(line);
                let last = lines.len() - 1;
                for (i, line) in lines.iter().enumerate() {
                    let sub = if i < last { "LS *" } else { "LS" };
                    cap_reply(session, sub, line);
                }
            } else {
                cap_reply(session, "LS", &list.join(" "));
            }
        }
        "LIST" => {
            let names = session.caps.names();
            cap_reply(session, "LIST", &names);
        }
        "REQ" => {
            if !session.is_registered {
                session.is_negotiating = true;
            }
            let list = message.params.get(1).map_or("", String::as_str);
            let verdict = if session.caps.request(list) {
                "ACK"
            } else {
                "NAK"
            };
            cap_reply(session, verdict, list);
        }
        "END" => {
            session.is_negotiating = false;
            try_register(session);
        }
        _ => {
            session.numeric(
                reply::ERR_INVALIDCAPCMD,
                &[&message.params[0], "Invalid CAP command"],
            );
        }
    }
}

/// The `sts` capability with its value, if the server has a TLS port: a plain connection
/// is told the port to upgrade to, a TLS one how long to keep to TLS. Values need `CAP LS
/// 302`, and `sts` is never requested (a `REQ` of it is refused: it is not in `OFFERED`).
fn sts_value(session: &Session) -> Option<String> {
    let config = session.config();
    let sts = config.sts?;
    Some(if config.is_secure {
        format!("sts=duration={}", sts.duration.as_secs())
    } else {
        format!("sts=port={}", sts.port)
    })
}

/// The most bytes of capabilities on one `CAP LS` line.
const CAP_LS_BYTES: usize = 400;

/// `CAP target sub :list`; `sub` may be `LS *` (a list continued on the next line).
fn cap_reply(session: &mut Session, sub: &str, list: &str) {
    let target = session.target();
    let mut b = session.server_line();
    b.command("CAP").param(&target);
    for word in sub.split(' ') {
        b.param(word);
    }
    b.trailing(list);
    session.send(b.finish());
}

/// `PASS password`: must come before registration ends.
pub(super) fn pass(session: &mut Session, message: &Message) {
    if session.is_registered {
        session.numeric(reply::ERR_ALREADYREGISTERED, &["You may not reregister"]);
        return;
    }
    session.has_password = match &session.config().password {
        Some(expected) => message.params[0] == *expected,
        None => true,
    };
}

/// `NICK nickname`: sets the nick before registration, changes it after.
pub(super) fn nick(session: &mut Session, message: &Message) {
    let Some(wanted) = message.params.first().filter(|n| !n.is_empty()) else {
        session.numeric(reply::ERR_NONICKNAMEGIVEN, &["No nickname given"]);
        return;
    };
    let nick = match Nick::parse(wanted) {
        Ok(nick) => nick,
        Err(error) => {
            let text = format!("Erroneous nickname: {error}");
            session.numeric(reply::ERR_ERRONEUSNICKNAME, &[wanted, &text]);
            return;
        }
    };
    let wanted = wanted.clone();
    let (hub, id) = (session.hub().clone(), session.id);
    session.wait_for(
        async move { hub.set_nick(id, nick).await },
        move |session, outcome| match outcome {
            Ok(NickOutcome::Registered(nick) | NickOutcome::Changed { new: nick, .. })
            | Ok(NickOutcome::Unchanged(nick)) => {
                session.nick = Some(nick);
                if !session.is_registered {
                    try_register(session);
                }
            }
            Err(Refusal::NickInUse(_)) => {
                session.numeric(
                    reply::ERR_NICKNAMEINUSE,
                    &[&wanted, "Nickname is already in use"],
                );
            }
            // Before registration a registered nick waits: SASL may yet log the session in
            // to it. It is claimed (or refused) when registration completes.
            Err(Refusal::NickRegistered(nick)) if !session.is_registered => {
                session.wanted_nick = Some(Box::new(nick));
                try_register(session);
            }
            Err(refusal) => refused(session, &refusal),
        },
    );
}

/// `USER username 0 * :realname`.
pub(super) fn user(session: &mut Session, message: &Message) {
    if session.is_registered || session.user.is_some() {
        session.numeric(reply::ERR_ALREADYREGISTERED, &["You may not reregister"]);
        return;
    }
    let name: String = message.params[0]
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '@' | '!' | ':' | ' '))
        .take(USER_LEN)
        .collect();
    let name = if name.is_empty() {
        "user".to_owned()
    } else {
        format!("~{name}")
    };
    let realname: String = message.params[3]
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    // An empty real name is a missing parameter (as an empty user name is).
    if realname.trim().is_empty() || message.params[0].is_empty() {
        super::need_more_params(session, "USER");
        return;
    }
    let name: Arc<str> = name.into();
    let realname = truncate(&realname, 128).into();
    if let Err(refusal) = session
        .hub()
        .set_user(session.id, Arc::clone(&name), realname)
    {
        refused(session, &refusal);
        return;
    }
    session.user = Some(name);
    try_register(session);
}

/// Completes registration once NICK, USER and CAP END (if negotiating) are in.
fn try_register(session: &mut Session) {
    if session.is_registered || session.is_negotiating || session.user.is_none() {
        return;
    }
    if session.nick.is_none() {
        let Some(wanted) = session.wanted_nick.take() else {
            return;
        };
        let (hub, id) = (session.hub().clone(), session.id);
        session.wait_for(
            async move { hub.set_nick(id, *wanted).await },
            |session, outcome| match outcome {
                Ok(NickOutcome::Registered(nick) | NickOutcome::Changed { new: nick, .. })
                | Ok(NickOutcome::Unchanged(nick)) => {
                    session.nick = Some(nick);
                    try_register(session);
                }
                Err(refusal) => refused(session, &refusal),
            },
        );
        return;
    }
    let Some(user) = session.user.clone() else {
        return;
    };
    // Registration ends an unfinished SASL exchange (IRCv3 `sasl`): the client is
    // connected without an account.
    if session.sasl.take().is_some() {
        session.numeric(reply::ERR_SASLABORTED, &["SASL authentication aborted"]);
    }
    if !session.has_password {
        session.numeric(reply::ERR_PASSWDMISMATCH, &["Password incorrect"]);
        session.send(reply::error_line("Closing link: bad password"));
        session.close = Some(LeaveReason::Requested(None));
        return;
    }
    // A user from now on (LUSERS counts it); gone already if its connection is. A banned
    // one is told why and closed.
    if let Err(Refusal::ServerBanned(reason)) = session.hub().welcome(session.id) {
        let text = format!("Closing link: Banned ({reason})");
        session.send(reply::error_line(truncate(&text, TEXT_LEN)));
        session.close = Some(LeaveReason::Requested(None));
        return;
    }
    session.is_registered = true;
    let nick = session.target();
    let server = session.server_name().to_owned();
    let network = session.config().network.clone();
    let welcome = format!(
        "Welcome to the {network} IRC network, {nick}!{user}@{}",
        session.host
    );
    session.numeric(reply::RPL_WELCOME, &[&welcome]);
    let yourhost = format!("Your host is {server}, running version {}", crate::VERSION);
    session.numeric(reply::RPL_YOURHOST, &[&yourhost]);
    let created = format!(
        "This server was created {}",
        humantime::format_rfc3339_seconds(session.shared.created)
    );
    session.numeric(reply::RPL_CREATED, &[&created]);
    let target = session.target();
    let mut b = session.server_line();
    b.command(reply::RPL_MYINFO)
        .param(&target)
        .param(&server)
        .param(crate::VERSION)
        .param("Biow")
        .param("biklmnostv")
        .param("bklov");
    session.send(b.finish());
    send_isupport(session);
    server::send_lusers(session);
    server::send_motd(session);
}

/// The ISUPPORT (005) lines: at most 13 tokens each.
pub(crate) fn send_isupport(session: &mut Session) {
    let network = format!("NETWORK={}", session.config().network);
    let tokens = [
        format!("AWAYLEN={TEXT_LEN}"),
        "BOT=B".to_owned(),
        "CASEMAPPING=rfc8265".to_owned(),
        "CHANMODES=b,k,l,imnst".to_owned(),
        format!("CHANNELLEN={}", ROOM_MAX_CHARS + 1),
        "CHANTYPES=#".to_owned(),
        format!("CHANLIMIT=#:{}", session.hub().config().max_rooms_per_user),
        format!("CHATHISTORY={}", super::history::MAX_LIMIT),
        "ELIST=CMNTU".to_owned(),
        format!("KEYLEN={}", reply::KEY_LEN),
        format!("KICKLEN={TEXT_LEN}"),
        format!("MAXLIST=b:{}", teahouse_hub::MAX_BANS),
        format!("MAXTARGETS={MAX_TARGETS}"),
        format!("MODES={MAX_MODES}"),
        format!("MONITOR={}", teahouse_hub::MAX_MONITOR),
        "MSGREFTYPES=msgid,timestamp".to_owned(),
        network,
        format!("NICKLEN={NICK_MAX_CHARS}"),
        "PREFIX=(ov)@+".to_owned(),
        format!(
            "TARGMAX=PRIVMSG:{MAX_TARGETS},NOTICE:{MAX_TARGETS},TAGMSG:{MAX_TARGETS},JOIN:,PART:,KICK:1,NAMES:1,LIST:,WHOIS:1"
        ),
        format!("TOPICLEN={TEXT_LEN}"),
        format!("USERLEN={}", USER_LEN + 1),
        "UTF8ONLY".to_owned(),
        "WHOX".to_owned(),
    ];
    for chunk in tokens.chunks(13) {
        let mut params: Vec<&str> = chunk.iter().map(String::as_str).collect();
        params.push("are supported by this server");
        session.numeric(reply::RPL_ISUPPORT, &params);
    }
}

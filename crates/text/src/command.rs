//! What a line does: a nickname attempt during login, then chat or a `/` command.

use std::sync::Arc;

use teahouse_hub::{JoinOutcome, NickOutcome, Refusal, SayTarget};
use teahouse_types::{LeaveReason, MessageKind, MessageText, Nick, RoomName};
use teahouse_wire::text::encode_line;

use crate::session::{Phase, Session, Step, after};

/// Runs one received line.
pub(crate) fn handle_line(session: &mut Session, line: &str) -> Step {
    if line.trim() == "quit" {
        return quit(session, None);
    }
    match session.phase {
        Phase::Login => login(session, line.trim()),
        Phase::Password { .. } => password(session, line.trim()),
        Phase::Chat { .. } => chat(session, line),
    }
}

/// A line during login: `/quit`, `/help`, `/nick NAME`, or the nickname itself.
fn login(session: &mut Session, line: &str) -> Step {
    let lang = session.lang();
    let attempt = match line.strip_prefix('/') {
        _ if line.is_empty() => {
            session.reply(lang.prompt());
            return Step::Continue;
        }
        Some(rest) => {
            let (name, args) = split_command(rest);
            match name {
                "quit" => return quit(session, args),
                "help" => {
                    help(session);
                    session.reply(lang.prompt());
                    return Step::Continue;
                }
                "nick" if args.is_some() => args.unwrap_or_default(),
                _ => {
                    session.reply(lang.choose_nick_first());
                    return Step::Continue;
                }
            }
        }
        None => line,
    };
    let nick = match Nick::parse(attempt) {
        Ok(nick) => nick,
        Err(error) => {
            session.reply(lang.nick_invalid(&error));
            return Step::Continue;
        }
    };
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Close(LeaveReason::ConnectionLost);
    };
    let hub = session.hub().clone();
    after(
        async move { hub.set_nick(id, nick).await },
        move |session, result| match result {
            Ok(NickOutcome::Registered(nick) | NickOutcome::Unchanged(nick)) => {
                // A user now, not a connection choosing a nick (LUSERS on IRC); unless
                // banned.
                if let Err(refusal @ Refusal::ServerBanned(_)) = session.hub().welcome(id) {
                    session.reply(lang.refusal(&refusal));
                    return Step::Close(LeaveReason::Requested(None));
                }
                session.reply(lang.nick_accepted(&nick));
                let room = session.shared.config.default_room.clone();
                enter(session, room, None, None)
            }
            Ok(NickOutcome::Changed { .. }) => Step::Continue,
            Err(Refusal::NickInUse(nick)) => {
                session.reply(lang.nick_taken(&nick));
                Step::Continue
            }
            Err(Refusal::NickRegistered(nick)) => {
                session.reply(lang.password_prompt(&nick));
                session.phase = Phase::Password { nick, tries: 0 };
                Step::Continue
            }
            Err(refusal) => refused(session, &refusal),
        },
    )
}

/// Wrong passwords allowed at login before the connection is closed.
const MAX_PASSWORD_TRIES: u32 = 3;

/// How long a connection that gave too many wrong passwords waits before it is closed, so
/// guessing costs time as well as connections.
const TOO_MANY_TRIES_DELAY: std::time::Duration = std::time::Duration::from_secs(2);

/// A line while a registered nickname's password is asked for: `/quit`, `/nick OTHER`
/// (back to choosing a nickname), or the password.
fn password(session: &mut Session, line: &str) -> Step {
    let Phase::Password { nick, tries } = &session.phase else {
        return Step::Continue;
    };
    let (nick, tries) = (nick.clone(), *tries);
    if let Some(rest) = line.strip_prefix('/') {
        let (name, args) = split_command(rest);
        return match (name, args) {
            ("quit", reason) => quit(session, reason),
            ("nick", Some(other)) => {
                session.phase = Phase::Login;
                login(session, other)
            }
            _ => {
                session.reply(session.lang().password_prompt(&nick));
                Step::Continue
            }
        };
    }
    if line.is_empty() {
        session.reply(session.lang().password_prompt(&nick));
        return Step::Continue;
    }
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Close(LeaveReason::ConnectionLost);
    };
    let hub = session.hub().clone();
    let password = line.to_owned();
    after(
        async move { (hub.log_in(id, &nick, &password).await, nick) },
        move |session, (result, nick)| after_login(session, nick, tries, result),
    )
}

fn after_login(
    session: &mut Session,
    nick: Nick,
    tries: u32,
    result: Result<Nick, Refusal>,
) -> Step {
    let lang = session.lang();
    match result {
        Ok(account) => {
            session.reply(lang.logged_in(&account));
            session.phase = Phase::Login;
            login(session, account.as_str())
        }
        Err(Refusal::AuthFailed) if tries + 1 >= MAX_PASSWORD_TRIES => {
            session.reply(lang.too_many_tries());
            after(tokio::time::sleep(TOO_MANY_TRIES_DELAY), |_, ()| {
                Step::Close(LeaveReason::Requested(None))
            })
        }
        Err(Refusal::AuthFailed) => {
            session.reply(lang.wrong_password(MAX_PASSWORD_TRIES - tries - 1));
            session.phase = Phase::Password {
                nick,
                tries: tries + 1,
            };
            Step::Continue
        }
        Err(refusal) => {
            refused_reply(session, &refusal);
            session.phase = Phase::Login;
            session.reply(lang.prompt());
            if let Refusal::SessionClosed = refusal {
                return Step::Close(LeaveReason::ConnectionLost);
            }
            Step::Continue
        }
    }
}

/// Runs an account operation of a logged-in (or chatting) session, then replies.
fn account_operation<F, T>(
    operation: F,
    reply: impl FnOnce(&mut Session, T) + Send + 'static,
) -> Step
where
    F: Future<Output = Result<T, Refusal>> + Send + 'static,
    T: Send + 'static,
{
    after(operation, move |session, result| match result {
        Ok(value) => {
            reply(session, value);
            Step::Continue
        }
        Err(refusal) => refused(session, &refusal),
    })
}

/// `/register PASSWORD`, `/password NEW`, `/logout`, `/unregister PASSWORD`.
fn account_command(session: &mut Session, name: &str, args: Option<&str>) -> Step {
    let lang = session.lang();
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Close(LeaveReason::ConnectionLost);
    };
    let hub = session.hub().clone();
    match (name, args) {
        ("register", Some(password)) => {
            let password = password.to_owned();
            account_operation(
                async move { hub.register_account(id, &password).await },
                move |session, account| session.reply(lang.registered(&account)),
            )
        }
        ("password", Some(password)) => {
            let password = password.to_owned();
            account_operation(
                async move { hub.change_password(id, &password).await },
                move |session, ()| session.reply(lang.password_changed()),
            )
        }
        ("unregister", Some(password)) => {
            let password = password.to_owned();
            let account = hub.account_of(id).ok().flatten();
            account_operation(
                async move { hub.drop_account(id, &password).await },
                move |session, ()| {
                    if let Some(account) = account.and_then(|a| Nick::parse(&a).ok()) {
                        session.reply(lang.unregistered(&account));
                    }
                },
            )
        }
        ("logout", _) => {
            match hub.log_out(id) {
                Ok(()) => session.reply(lang.logged_out()),
                Err(refusal) => return refused(session, &refusal),
            }
            Step::Continue
        }
        ("register", None) => {
            session.reply(lang.usage("/register PASSWORD"));
            Step::Continue
        }
        ("password", None) => {
            session.reply(lang.usage("/password NEW"));
            Step::Continue
        }
        _ => {
            session.reply(lang.usage("/unregister PASSWORD"));
            Step::Continue
        }
    }
}

/// Joins `room` (the hub tells everyone, the newcomer too) and lists who is there, then
/// shows its last messages; if the room refuses, goes back into `fallback` (the room the
/// user just left), if any.
fn enter(
    session: &mut Session,
    room: RoomName,
    key: Option<String>,
    fallback: Option<RoomName>,
) -> Step {
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Close(LeaveReason::ConnectionLost);
    };
    let replay = session.shared.config.history_lines;
    let hub = session.hub().clone();
    let (outbox, lang) = (Arc::clone(&session.outbox), session.lang());
    // The list of members goes out as the join is applied: between the user's own "entered"
    // line and the earlier messages, whatever else is happening in the room.
    let list_members = move |outcome: &JoinOutcome| {
        let nicks: Vec<Nick> = outcome
            .members
            .iter()
            .map(|m| m.profile.nick.clone())
            .collect();
        let line = encode_line(&lang.members(&outcome.room, &nicks));
        let _ = outbox.push(line);
    };
    after(
        async move {
            hub.join_with_replay(id, room, key.as_deref(), replay, list_members)
                .await
        },
        move |session, result| match result {
            Ok(outcome) => {
                session.phase = Phase::Chat { room: outcome.room };
                Step::Continue
            }
            Err(refusal) => {
                let step = refused(session, &refusal);
                match fallback {
                    Some(previous) if matches!(step, Step::Continue) => {
                        enter(session, previous, None, None)
                    }
                    _ => step,
                }
            }
        },
    )
}

/// A line once in a room: a command, or something to say.
fn chat(session: &mut Session, line: &str) -> Step {
    if line.trim().is_empty() {
        return Step::Continue;
    }
    match line.strip_prefix('/') {
        Some(rest) if rest.starts_with('/') => say(session, rest, MessageKind::Normal),
        Some(rest) => command(session, rest),
        None => say(session, line, MessageKind::Normal),
    }
}

/// Dispatches a `/` command (`rest` is what follows the slash).
fn command(session: &mut Session, rest: &str) -> Step {
    let lang = session.lang();
    let (name, args) = split_command(rest);
    match (name.to_lowercase().as_str(), args) {
        ("help", _) => help(session),
        ("quit", reason) => return quit(session, reason),
        ("who", _) => who(session),
        ("rooms", _) => {
            let rooms = session.hub().rooms();
            session.reply(lang.rooms(&rooms));
        }
        ("nick", Some(new)) => return nick(session, new),
        ("me", Some(action)) => return say(session, action, MessageKind::Action),
        ("msg", Some(args)) => return direct(session, args),
        ("join", Some(room)) => return join(session, room),
        (account @ ("register" | "password" | "logout" | "unregister"), args) => {
            let account = account.to_owned();
            return account_command(session, &account, args);
        }
        ("oper", Some(args)) => return oper(session, args),
        ("kill", Some(args)) => return kill(session, args),
        ("oper", None) => session.reply(lang.usage("/oper NAME PASSWORD")),
        ("kill", None) => session.reply(lang.usage("/kill NICK [REASON]")),
        ("nick", None) => session.reply(lang.usage("/nick NEW")),
        ("me", None) => session.reply(lang.usage("/me ACTION")),
        ("msg", None) => session.reply(lang.usage("/msg NICK TEXT")),
        ("join", None) => session.reply(lang.usage("/join ROOM [KEY]")),
        _ => session.reply(lang.unknown_command(name)),
    }
    Step::Continue
}

/// `/oper NAME PASSWORD`: become a server operator, against the config's operator blocks
/// (as IRC's `OPER`).
fn oper(session: &mut Session, args: &str) -> Step {
    let lang = session.lang();
    let Some((name, password)) = args.split_once(char::is_whitespace) else {
        session.reply(lang.usage("/oper NAME PASSWORD"));
        return Step::Continue;
    };
    let (name, password) = (name.to_owned(), password.trim().to_owned());
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Close(LeaveReason::ConnectionLost);
    };
    let hub = session.hub().clone();
    after(
        async move { hub.oper_up(id, &name, &password).await },
        move |session, result| match result {
            Ok(_) => {
                session.reply(lang.oper_ok());
                Step::Continue
            }
            Err(refusal) => refused(session, &refusal),
        },
    )
}

/// `/kill NICK [REASON]`: an operator disconnects a user (as IRC's `KILL`).
fn kill(session: &mut Session, args: &str) -> Step {
    let lang = session.lang();
    let (target, reason) = match args.split_once(char::is_whitespace) {
        Some((target, reason)) => (target, reason.trim()),
        None => (args, ""),
    };
    let Ok(nick) = Nick::parse(target) else {
        session.reply(lang.no_such_nick(target));
        return Step::Continue;
    };
    let reason = if reason.is_empty() {
        "no reason given"
    } else {
        reason
    };
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Close(LeaveReason::ConnectionLost);
    };
    match session.hub().kill(id, &nick, reason) {
        Ok(()) => {
            session.reply(lang.killed(&nick));
            Step::Continue
        }
        Err(refusal) => refused(session, &refusal),
    }
}

/// Splits `name args` at the first whitespace; `args` is `None` when empty.
fn split_command(rest: &str) -> (&str, Option<&str>) {
    let rest = rest.trim_start();
    match rest.split_once(char::is_whitespace) {
        Some((name, args)) => {
            let args = args.trim();
            (name, (!args.is_empty()).then_some(args))
        }
        None => (rest, None),
    }
}

/// `/help`: lists the commands.
fn help(session: &Session) {
    for line in session.lang().help() {
        session.reply(line);
    }
}

/// `/who`: the members of the current room.
fn who(session: &Session) {
    let Phase::Chat { room } = &session.phase else {
        return;
    };
    match session.hub().members(room) {
        Ok(members) => {
            let nicks: Vec<Nick> = members.iter().map(|m| m.profile.nick.clone()).collect();
            session.reply(session.lang().members(room, &nicks));
        }
        Err(refusal) => {
            refused_reply(session, &refusal);
        }
    }
}

/// `/nick NEW`: renames; everyone sharing the room is told.
fn nick(session: &Session, new: &str) -> Step {
    let lang = session.lang();
    let nick = match Nick::parse(new) {
        Ok(nick) => nick,
        Err(error) => {
            session.reply(lang.bad_nick(&error));
            return Step::Continue;
        }
    };
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Continue;
    };
    let hub = session.hub().clone();
    after(
        async move { hub.set_nick(id, nick).await },
        |session, result| {
            if let Err(refusal) = result {
                refused_reply(session, &refusal);
            }
            Step::Continue
        },
    )
}

/// `/join ROOM [KEY]`: enters `ROOM`, then leaves the current room.
///
/// Leaving first means the notices read in order; a refused join (invite-only, wrong key,
/// full, banned) then puts the user back where they were.
fn join(session: &mut Session, args: &str) -> Step {
    let lang = session.lang();
    let (room, key) = match args.split_once(char::is_whitespace) {
        Some((room, key)) => (room, Some(key.trim().to_owned())),
        None => (args, None),
    };
    let room = match RoomName::parse(room) {
        Ok(room) => room,
        Err(error) => {
            session.reply(lang.bad_room(&error));
            return Step::Continue;
        }
    };
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Continue;
    };
    let previous = match &session.phase {
        Phase::Chat { room: current }
            if *current == room && session.hub().is_member(id, current) =>
        {
            session.reply(lang.refusal(&Refusal::AlreadyInRoom(current.clone())));
            return Step::Continue;
        }
        Phase::Chat { room: current } => Some(current.clone()),
        Phase::Login | Phase::Password { .. } => None,
    };
    if let Some(previous) = &previous
        && session.hub().is_member(id, previous)
    {
        if let Err(refusal) = session.hub().part(id, previous, None) {
            refused_reply(session, &refusal);
            return Step::Continue;
        }
        return enter(session, room, key, Some(previous.clone()));
    }
    enter(session, room, key, None)
}

/// Says `text` to the current room.
fn say(session: &mut Session, text: &str, kind: MessageKind) -> Step {
    let Phase::Chat { room } = &session.phase else {
        return Step::Continue;
    };
    let target = SayTarget::Room(room.clone());
    send(session, target, text, kind)
}

/// `/msg NICK TEXT`: a direct message; the sender sees a copy.
fn direct(session: &mut Session, args: &str) -> Step {
    let lang = session.lang();
    let Some((to, text)) = args
        .split_once(char::is_whitespace)
        .map(|(to, text)| (to, text.trim_start()))
        .filter(|(_, text)| !text.is_empty())
    else {
        session.reply(lang.usage("/msg NICK TEXT"));
        return Step::Continue;
    };
    let Ok(to) = Nick::parse(to) else {
        // Nobody can hold a name that is not a valid nick.
        session.reply(lang.no_such_nick(to));
        return Step::Continue;
    };
    send(session, SayTarget::Nick(to), text, MessageKind::Normal)
}

fn send(session: &mut Session, target: SayTarget, text: &str, kind: MessageKind) -> Step {
    let lang = session.lang();
    let text = match MessageText::parse(text) {
        Ok(text) => text,
        Err(error) => {
            session.reply(lang.bad_text(&error));
            return Step::Continue;
        }
    };
    let Some(id) = session.guard.as_ref().map(|g| g.id()) else {
        return Step::Close(LeaveReason::ConnectionLost);
    };
    match session.hub().say(id, target, kind, text.clone(), None) {
        Ok(sent) => {
            if let teahouse_types::MessageTarget::Direct(to) = sent.target {
                let safe = teahouse_wire::text::terminal_safe(text.as_str());
                session.reply(lang.direct_out(&to, &safe));
            }
            Step::Continue
        }
        Err(refusal) => refused(session, &refusal),
    }
}

/// `quit` or `/quit [REASON]`: acknowledges, and leaves with the others told.
fn quit(session: &mut Session, reason: Option<&str>) -> Step {
    session.reply(session.lang().quit_ack());
    let reason = reason.and_then(|r| MessageText::parse(r).ok());
    Step::Close(LeaveReason::Requested(reason))
}

/// Tells the user why the hub said no; a closed session ends.
fn refused(session: &Session, refusal: &Refusal) -> Step {
    refused_reply(session, refusal);
    match refusal {
        Refusal::SessionClosed => Step::Close(LeaveReason::ConnectionLost),
        _ => Step::Continue,
    }
}

fn refused_reply(session: &Session, refusal: &Refusal) {
    session.reply(session.lang().refusal(refusal));
}

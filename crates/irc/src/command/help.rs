//! `HELP [subject]` and its alias `HELPOP`: what each command does, in 704/705/706, as
//! Modern IRC has it (524 for a subject with no help).

use teahouse_wire::irc::Message;

use crate::reply;
use crate::session::Session;

/// Each subject, with its lines: the first is its usage.
const TOPICS: &[(&str, &[&str])] = &[
    (
        "AUTHENTICATE",
        &[
            "AUTHENTICATE <mechanism|data>",
            "SASL login (PLAIN, SCRAM-SHA-256).",
        ],
    ),
    (
        "AWAY",
        &[
            "AWAY [:message]",
            "Marks you away with a message, or back without one.",
        ],
    ),
    (
        "CAP",
        &[
            "CAP LS [302] | LIST | REQ :caps | END",
            "Negotiates IRCv3 capabilities.",
        ],
    ),
    (
        "CHATHISTORY",
        &[
            "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN|TARGETS ...",
            "Replays stored messages of a channel or a conversation.",
        ],
    ),
    (
        "CHGHOST",
        &[
            "CHGHOST <nick> [user] <host>",
            "Changes the host a user shows (server operators).",
        ],
    ),
    (
        "HELP",
        &[
            "HELP [subject]",
            "Shows help on a command; HELP alone lists them.",
        ],
    ),
    ("INFO", &["INFO", "Shows what this server is."]),
    (
        "INVITE",
        &["INVITE <nick> <#channel>", "Invites a user into a channel."],
    ),
    (
        "ISON",
        &[
            "ISON <nick> [nick ...]",
            "Says which of the nicks are online.",
        ],
    ),
    (
        "JOIN",
        &[
            "JOIN <#channel>[,#channel] [key[,key]]",
            "Joins channels; JOIN 0 leaves them all.",
        ],
    ),
    (
        "KICK",
        &[
            "KICK <#channel> <nick> [:reason]",
            "Removes a user from a channel (channel operators).",
        ],
    ),
    (
        "KILL",
        &[
            "KILL <nick> [:reason]",
            "Disconnects a user (server operators).",
        ],
    ),
    (
        "LIST",
        &[
            "LIST [#channel,...|filters]",
            "Lists channels; filters: mask, !mask, <n, >n, C<m, C>m, T<m, T>m (minutes).",
        ],
    ),
    (
        "LUSERS",
        &["LUSERS", "Counts users, operators and channels."],
    ),
    (
        "MARKREAD",
        &[
            "MARKREAD <target> [timestamp=YYYY-MM-DDThh:mm:ss.sssZ]",
            "Gets or sets where you have read to in a channel or conversation (with an account).",
        ],
    ),
    (
        "METADATA",
        &[
            "METADATA <target|*> GET|LIST|SET|CLEAR|SUB|UNSUB|SUBS|SYNC ...",
            "Metadata of users and channels (an avatar, a display name).",
        ],
    ),
    (
        "MODE",
        &[
            "MODE <#channel|nick> [modes [args]]",
            "Channel modes: b k l i m n s t o v. User modes: i w B o.",
        ],
    ),
    (
        "MONITOR",
        &[
            "MONITOR + nicks | - nicks | C | L | S",
            "Tells you when the nicks come online and go offline.",
        ],
    ),
    ("MOTD", &["MOTD", "Shows the message of the day."]),
    ("NAMES", &["NAMES <#channel>", "Lists a channel's members."]),
    (
        "NICK",
        &["NICK <nick>", "Chooses or changes your nickname."],
    ),
    (
        "NOTICE",
        &[
            "NOTICE <target> :text",
            "Sends a notice: never answered automatically.",
        ],
    ),
    (
        "OPER",
        &[
            "OPER <name> <password>",
            "Logs you in as a server operator.",
        ],
    ),
    (
        "PART",
        &["PART <#channel>[,#channel] [:reason]", "Leaves channels."],
    ),
    (
        "PASS",
        &[
            "PASS <password>",
            "Gives the server password, before NICK and USER.",
        ],
    ),
    ("PING", &["PING <token>", "Asks the server to answer PONG."]),
    (
        "PRIVMSG",
        &["PRIVMSG <#channel|nick>[,target] :text", "Sends a message."],
    ),
    ("QUIT", &["QUIT [:reason]", "Leaves the server."]),
    (
        "REDACT",
        &[
            "REDACT <target> <msgid> [:reason]",
            "Deletes a message: your own, or any in a channel you operate.",
        ],
    ),
    (
        "REGISTER",
        &[
            "REGISTER <account|*> <email|*> <password>",
            "Registers your nick as an account.",
        ],
    ),
    ("SETNAME", &["SETNAME :realname", "Changes your real name."]),
    (
        "TAGMSG",
        &[
            "TAGMSG <target>",
            "Sends only tags (typing notices, reactions).",
        ],
    ),
    ("TIME", &["TIME", "Shows the server's time."]),
    (
        "TOPIC",
        &[
            "TOPIC <#channel> [:topic]",
            "Shows or sets a channel's topic.",
        ],
    ),
    (
        "USER",
        &[
            "USER <user> 0 * :realname",
            "Gives your user name and real name when connecting.",
        ],
    ),
    (
        "USERHOST",
        &["USERHOST <nick> [nick ...]", "Shows users' addresses."],
    ),
    (
        "VERSION",
        &["VERSION", "Shows the server's version and features."],
    ),
    (
        "WALLOPS",
        &[
            "WALLOPS :text",
            "Tells every user with mode +w (server operators).",
        ],
    ),
    (
        "WHO",
        &[
            "WHO <#channel|mask> [%fields[,token]]",
            "Lists users; %fields asks for WHOX replies.",
        ],
    ),
    ("WHOIS", &["WHOIS <nick>", "Shows who a user is."]),
    (
        "WHOWAS",
        &["WHOWAS <nick>", "Shows who recently had a nick."],
    ),
];

/// `HELP [subject]`.
pub(super) fn help(session: &mut Session, message: &Message) {
    let subject = message.params.first().map(|s| s.to_ascii_uppercase());
    let Some(subject) = subject.filter(|s| !s.is_empty() && s != "INDEX") else {
        let names: Vec<&str> = TOPICS.iter().map(|(name, _)| *name).collect();
        session.numeric(
            reply::RPL_HELPSTART,
            &["*", "Commands (HELP <command> for more):"],
        );
        for row in names.chunks(8) {
            session.numeric(reply::RPL_HELPTXT, &["*", &row.join(" ")]);
        }
        session.numeric(reply::RPL_ENDOFHELP, &["*", "End of /HELP"]);
        return;
    };
    let Some((name, lines)) = TOPICS.iter().find(|(name, _)| *name == subject) else {
        session.numeric(
            reply::ERR_HELPNOTFOUND,
            &[&subject, "No help available on this topic"],
        );
        return;
    };
    let (first, rest) = lines.split_first().unwrap_or((&"", &[]));
    session.numeric(reply::RPL_HELPSTART, &[name, first]);
    for line in rest {
        session.numeric(reply::RPL_HELPTXT, &[name, line]);
    }
    session.numeric(reply::RPL_ENDOFHELP, &[name, "End of /HELP"]);
}

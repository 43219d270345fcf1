//! Numerics and the fixed texts of IRC replies: one place for every reply text.

use bytes::Bytes;
use teahouse_wire::irc::LineBuilder;

pub(crate) const RPL_WELCOME: &str = "001";
pub(crate) const RPL_YOURHOST: &str = "002";
pub(crate) const RPL_CREATED: &str = "003";
pub(crate) const RPL_MYINFO: &str = "004";
pub(crate) const RPL_ISUPPORT: &str = "005";
pub(crate) const RPL_UMODEIS: &str = "221";
pub(crate) const RPL_LUSERCLIENT: &str = "251";
pub(crate) const RPL_LUSEROP: &str = "252";
pub(crate) const RPL_LUSERUNKNOWN: &str = "253";
pub(crate) const RPL_LUSERCHANNELS: &str = "254";
pub(crate) const RPL_LUSERME: &str = "255";
pub(crate) const RPL_LOCALUSERS: &str = "265";
pub(crate) const RPL_GLOBALUSERS: &str = "266";
pub(crate) const RPL_AWAY: &str = "301";
pub(crate) const RPL_USERHOST: &str = "302";
pub(crate) const RPL_ISON: &str = "303";
pub(crate) const RPL_UNAWAY: &str = "305";
pub(crate) const RPL_NOWAWAY: &str = "306";
pub(crate) const RPL_WHOISUSER: &str = "311";
pub(crate) const RPL_WHOISSERVER: &str = "312";
pub(crate) const RPL_WHOWASUSER: &str = "314";
pub(crate) const RPL_ENDOFWHO: &str = "315";
pub(crate) const RPL_WHOISIDLE: &str = "317";
pub(crate) const RPL_ENDOFWHOIS: &str = "318";
pub(crate) const RPL_WHOISOPERATOR: &str = "313";
pub(crate) const RPL_WHOISCHANNELS: &str = "319";
pub(crate) const RPL_WHOISBOT: &str = "335";
pub(crate) const RPL_WHOISACTUALLY: &str = "338";
pub(crate) const RPL_WHOISACCOUNT: &str = "330";
pub(crate) const RPL_LISTSTART: &str = "321";
pub(crate) const RPL_LIST: &str = "322";
pub(crate) const RPL_LISTEND: &str = "323";
pub(crate) const RPL_CHANNELMODEIS: &str = "324";
pub(crate) const RPL_CREATIONTIME: &str = "329";
pub(crate) const RPL_NOTOPIC: &str = "331";
pub(crate) const RPL_TOPIC: &str = "332";
pub(crate) const RPL_TOPICWHOTIME: &str = "333";
pub(crate) const RPL_INVITING: &str = "341";
pub(crate) const RPL_VERSION: &str = "351";
pub(crate) const RPL_WHOREPLY: &str = "352";
pub(crate) const RPL_NAMREPLY: &str = "353";
pub(crate) const RPL_ENDOFNAMES: &str = "366";
pub(crate) const RPL_BANLIST: &str = "367";
pub(crate) const RPL_ENDOFBANLIST: &str = "368";
pub(crate) const RPL_ENDOFWHOWAS: &str = "369";
pub(crate) const RPL_MOTD: &str = "372";
pub(crate) const RPL_MOTDSTART: &str = "375";
pub(crate) const RPL_ENDOFMOTD: &str = "376";
pub(crate) const RPL_INFO: &str = "371";
pub(crate) const RPL_ENDOFINFO: &str = "374";
pub(crate) const RPL_YOUREOPER: &str = "381";
pub(crate) const RPL_REHASHING: &str = "382";
pub(crate) const RPL_STATSKLINE: &str = "216";
pub(crate) const RPL_ENDOFSTATS: &str = "219";
pub(crate) const RPL_STATSDLINE: &str = "225";
pub(crate) const RPL_TIME: &str = "391";
pub(crate) const ERR_UNKNOWNERROR: &str = "400";
pub(crate) const ERR_NOSUCHNICK: &str = "401";
pub(crate) const ERR_NOSUCHCHANNEL: &str = "403";
pub(crate) const ERR_CANNOTSENDTOCHAN: &str = "404";
pub(crate) const ERR_WASNOSUCHNICK: &str = "406";
pub(crate) const ERR_TOOMANYTARGETS: &str = "407";
pub(crate) const ERR_INVALIDCAPCMD: &str = "410";
pub(crate) const ERR_NORECIPIENT: &str = "411";
pub(crate) const ERR_NOTEXTTOSEND: &str = "412";
pub(crate) const ERR_INPUTTOOLONG: &str = "417";
pub(crate) const ERR_UNKNOWNCOMMAND: &str = "421";
pub(crate) const ERR_NOMOTD: &str = "422";
pub(crate) const ERR_NONICKNAMEGIVEN: &str = "431";
pub(crate) const ERR_ERRONEUSNICKNAME: &str = "432";
pub(crate) const ERR_NICKNAMEINUSE: &str = "433";
pub(crate) const ERR_UNAVAILRESOURCE: &str = "437";
pub(crate) const ERR_USERNOTINCHANNEL: &str = "441";
pub(crate) const ERR_NOTONCHANNEL: &str = "442";
pub(crate) const ERR_USERONCHANNEL: &str = "443";
pub(crate) const ERR_NOTREGISTERED: &str = "451";
pub(crate) const ERR_NEEDMOREPARAMS: &str = "461";
pub(crate) const ERR_ALREADYREGISTERED: &str = "462";
pub(crate) const ERR_PASSWDMISMATCH: &str = "464";
pub(crate) const ERR_CHANNELISFULL: &str = "471";
pub(crate) const ERR_TOOMANYCHANNELS: &str = "405";
pub(crate) const ERR_TARGETTOOFAST: &str = "439";
pub(crate) const ERR_UNKNOWNMODE: &str = "472";
pub(crate) const ERR_INVITEONLYCHAN: &str = "473";
pub(crate) const ERR_BANNEDFROMCHAN: &str = "474";
pub(crate) const ERR_BADCHANNELKEY: &str = "475";
pub(crate) const ERR_NOPRIVILEGES: &str = "481";
pub(crate) const ERR_CHANOPRIVSNEEDED: &str = "482";
pub(crate) const ERR_NOOPERHOST: &str = "491";
pub(crate) const ERR_INVALIDKEY: &str = "525";
pub(crate) const ERR_UMODEUNKNOWNFLAG: &str = "501";
pub(crate) const ERR_USERSDONTMATCH: &str = "502";
pub(crate) const RPL_WHOSPCRPL: &str = "354";
pub(crate) const ERR_HELPNOTFOUND: &str = "524";
pub(crate) const RPL_HELPSTART: &str = "704";
pub(crate) const RPL_HELPTXT: &str = "705";
pub(crate) const RPL_ENDOFHELP: &str = "706";
pub(crate) const RPL_KEYVALUE: &str = "761";
pub(crate) const RPL_KEYNOTSET: &str = "766";
pub(crate) const RPL_METADATASUBOK: &str = "770";
pub(crate) const RPL_METADATAUNSUBOK: &str = "771";
pub(crate) const RPL_METADATASUBS: &str = "772";
pub(crate) const RPL_MONONLINE: &str = "730";
pub(crate) const RPL_MONOFFLINE: &str = "731";
pub(crate) const RPL_MONLIST: &str = "732";
pub(crate) const RPL_ENDOFMONLIST: &str = "733";
pub(crate) const ERR_MONLISTFULL: &str = "734";
pub(crate) const RPL_LOGGEDIN: &str = "900";
pub(crate) const RPL_LOGGEDOUT: &str = "901";
pub(crate) const RPL_SASLSUCCESS: &str = "903";
pub(crate) const ERR_SASLFAIL: &str = "904";
pub(crate) const ERR_SASLTOOLONG: &str = "905";
pub(crate) const ERR_SASLABORTED: &str = "906";
pub(crate) const ERR_SASLALREADY: &str = "907";
pub(crate) const RPL_SASLMECHS: &str = "908";

/// The longest text of a topic, away message or kick reason (`TOPICLEN`, `AWAYLEN`,
/// `KICKLEN`): what fits in one line with room for the prefix.
pub(crate) const TEXT_LEN: usize = 390;

/// The longest channel key (`KEYLEN`).
pub(crate) const KEY_LEN: usize = 32;

/// The most targets of one PRIVMSG or NOTICE (`TARGMAX`).
pub(crate) const MAX_TARGETS: usize = 4;

/// The most mode changes with a parameter in one MODE command (`MODES`).
pub(crate) const MAX_MODES: usize = 4;

/// `ERROR :text`, the last line before the server closes a connection.
pub(crate) fn error_line(text: &str) -> Bytes {
    LineBuilder::new().command("ERROR").trailing(text).finish()
}

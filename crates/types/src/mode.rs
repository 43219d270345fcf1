//! Room modes and member status.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::nick::Nick;

/// A member's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemberStatus {
    /// May change modes, the topic under `+t`, kick and invite (IRC `@`).
    pub is_operator: bool,
    /// May speak in a moderated room (IRC `+`).
    pub is_voiced: bool,
}

/// One room mode, with its argument where it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomMode {
    /// `o`: a member is an operator.
    Operator(Nick),
    /// `v`: a member has voice.
    Voice(Nick),
    /// `t`: only operators set the topic.
    TopicLock,
    /// `n`: only members may send to the room.
    NoExternal,
    /// `m`: only voiced members and operators may speak.
    Moderated,
    /// `i`: joining needs an invitation.
    InviteOnly,
    /// `s`: hidden from those outside it (LIST, WHOIS, NAMES).
    Secret,
    /// `k`: joining needs this key.
    Key(Arc<str>),
    /// `l`: at most this many members.
    Limit(usize),
    /// `b`: users matching this `nick!user@host` mask may not join or speak.
    Ban(Arc<str>),
}

/// A user mode a session sets on itself (besides `+i`, which has a change of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserMode {
    /// `w`: hears WALLOPS.
    Wallops,
    /// `B`: a bot (IRCv3 bot mode): its messages carry the `bot` tag.
    Bot,
}

/// One change of a room mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeChange {
    /// Set (`+`) or unset (`-`).
    pub is_set: bool,
    /// Which mode.
    pub mode: RoomMode,
}

/// The flag modes and parameters of a room.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoomModes {
    /// `+t`.
    pub is_topic_locked: bool,
    /// `+n`.
    pub is_no_external: bool,
    /// `+m`.
    pub is_moderated: bool,
    /// `+i`.
    pub is_invite_only: bool,
    /// `+s`.
    #[serde(default)]
    pub is_secret: bool,
    /// `+k`.
    pub key: Option<Arc<str>>,
    /// `+l`.
    pub limit: Option<usize>,
}

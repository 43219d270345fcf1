//! IRCv3 capabilities: what we offer, and each session's enabled set.

use std::sync::atomic::{AtomicU32, Ordering};

/// One capability, as a bit in a session's set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cap(u32);

impl Cap {
    pub(crate) const CAP_NOTIFY: Cap = Cap(1 << 0);
    pub(crate) const MESSAGE_TAGS: Cap = Cap(1 << 1);
    pub(crate) const SERVER_TIME: Cap = Cap(1 << 2);
    pub(crate) const ECHO_MESSAGE: Cap = Cap(1 << 3);
    pub(crate) const MULTI_PREFIX: Cap = Cap(1 << 4);
    pub(crate) const USERHOST_IN_NAMES: Cap = Cap(1 << 5);
    pub(crate) const AWAY_NOTIFY: Cap = Cap(1 << 6);
    pub(crate) const EXTENDED_JOIN: Cap = Cap(1 << 7);
    pub(crate) const ACCOUNT_TAG: Cap = Cap(1 << 8);
    pub(crate) const ACCOUNT_NOTIFY: Cap = Cap(1 << 9);
    pub(crate) const BATCH: Cap = Cap(1 << 10);
    pub(crate) const LABELED_RESPONSE: Cap = Cap(1 << 11);
    pub(crate) const SETNAME: Cap = Cap(1 << 12);
    pub(crate) const INVITE_NOTIFY: Cap = Cap(1 << 13);
    pub(crate) const SASL: Cap = Cap(1 << 14);
    pub(crate) const ACCOUNT_REGISTRATION: Cap = Cap(1 << 15);
    pub(crate) const CHATHISTORY: Cap = Cap(1 << 16);
    pub(crate) const EXTENDED_MONITOR: Cap = Cap(1 << 17);
    pub(crate) const STANDARD_REPLIES: Cap = Cap(1 << 18);
    pub(crate) const NO_IMPLICIT_NAMES: Cap = Cap(1 << 19);
    pub(crate) const CHGHOST: Cap = Cap(1 << 20);
    pub(crate) const READ_MARKER: Cap = Cap(1 << 21);
    pub(crate) const MESSAGE_REDACTION: Cap = Cap(1 << 22);
    pub(crate) const MULTILINE: Cap = Cap(1 << 23);
    pub(crate) const METADATA: Cap = Cap(1 << 24);

    /// The capability's bit.
    pub(crate) const fn bits(self) -> u32 {
        self.0
    }

    /// Capabilities whose presence changes how an event is encoded (not merely whether it
    /// is sent): they make up the render-cache key.
    pub(crate) const RENDER_MASK: u32 =
        Self::MESSAGE_TAGS.0 | Self::SERVER_TIME.0 | Self::ACCOUNT_TAG.0 | Self::EXTENDED_JOIN.0;
}

/// Every capability we offer, by name, in the order `CAP LS` lists them.
pub(crate) const OFFERED: &[(&str, Cap)] = &[
    ("account-notify", Cap::ACCOUNT_NOTIFY),
    ("account-tag", Cap::ACCOUNT_TAG),
    ("away-notify", Cap::AWAY_NOTIFY),
    ("draft/account-registration", Cap::ACCOUNT_REGISTRATION),
    ("draft/chathistory", Cap::CHATHISTORY),
    ("draft/message-redaction", Cap::MESSAGE_REDACTION),
    ("draft/metadata-2", Cap::METADATA),
    ("draft/multiline", Cap::MULTILINE),
    ("draft/read-marker", Cap::READ_MARKER),
    ("batch", Cap::BATCH),
    ("cap-notify", Cap::CAP_NOTIFY),
    ("chghost", Cap::CHGHOST),
    ("echo-message", Cap::ECHO_MESSAGE),
    ("extended-join", Cap::EXTENDED_JOIN),
    ("extended-monitor", Cap::EXTENDED_MONITOR),
    ("invite-notify", Cap::INVITE_NOTIFY),
    ("labeled-response", Cap::LABELED_RESPONSE),
    ("message-tags", Cap::MESSAGE_TAGS),
    ("multi-prefix", Cap::MULTI_PREFIX),
    ("no-implicit-names", Cap::NO_IMPLICIT_NAMES),
    ("sasl", Cap::SASL),
    ("server-time", Cap::SERVER_TIME),
    ("setname", Cap::SETNAME),
    ("standard-replies", Cap::STANDARD_REPLIES),
    ("userhost-in-names", Cap::USERHOST_IN_NAMES),
];

/// A session's enabled capabilities, shared between the session (which changes them) and
/// its sink (which renders by them).
#[derive(Debug, Default)]
pub(crate) struct CapSet(AtomicU32);

impl CapSet {
    pub(crate) fn has(&self, cap: Cap) -> bool {
        self.bits() & cap.0 != 0
    }

    pub(crate) fn bits(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    /// Applies a `CAP REQ` list atomically: all of it, or (on an unknown name) none.
    /// Returns whether it was applied.
    pub(crate) fn request(&self, list: &str) -> bool {
        let mut add = 0;
        let mut remove = 0;
        for item in list.split(' ').filter(|s| !s.is_empty()) {
            let (is_removal, name) = match item.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, item),
            };
            let Some((_, cap)) = OFFERED.iter().find(|(n, _)| *n == name) else {
                return false;
            };
            if is_removal {
                remove |= cap.0;
            } else {
                add |= cap.0;
            }
        }
        let bits = self.bits();
        self.0.store((bits | add) & !remove, Ordering::Relaxed);
        true
    }

    /// Enables one capability (`cap-notify` comes with `CAP LS 302`).
    pub(crate) fn enable(&self, cap: Cap) {
        self.0.fetch_or(cap.0, Ordering::Relaxed);
    }

    /// The enabled names, space-separated.
    pub(crate) fn names(&self) -> String {
        let bits = self.bits();
        OFFERED
            .iter()
            .filter(|(_, cap)| bits & cap.0 != 0)
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_all_or_nothing() {
        let caps = CapSet::default();
        assert!(caps.request("server-time echo-message"));
        assert!(caps.has(Cap::SERVER_TIME) && caps.has(Cap::ECHO_MESSAGE));
        assert!(!caps.request("batch no-such-cap"));
        assert!(!caps.has(Cap::BATCH));
        assert!(caps.request("-echo-message"));
        assert!(!caps.has(Cap::ECHO_MESSAGE));
        assert_eq!(caps.names(), "server-time");
    }
}

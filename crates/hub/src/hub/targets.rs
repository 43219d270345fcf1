//! How many different people one user may message directly within a minute: a spammer
//! who messages everyone on the server is stopped after a few, while a conversation with
//! the same people goes on unhindered. Local policy, not chat state: kept beside the
//! state, only for sessions that message someone directly, and forgotten with them.

use std::collections::HashMap;
use std::hash::{Hash as _, Hasher as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use teahouse_types::SessionId;

/// The window the cap counts in.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);

/// Each session's recent direct-message targets (a hash of the target's nick key) and when
/// each was last messaged.
#[derive(Debug, Default)]
pub(crate) struct RecentTargets {
    by_session: Mutex<HashMap<SessionId, Vec<(u64, Instant)>>>,
}

impl RecentTargets {
    /// Whether `session` may message `key` now: a target messaged within the window always
    /// may; a new one only while fewer than `max` were (0: no cap).
    pub(crate) fn admit(&self, session: SessionId, key: &str, max: usize) -> bool {
        if max == 0 {
            return true;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut hasher);
        let target = hasher.finish();
        let now = Instant::now();
        let mut by_session = self
            .by_session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recent = by_session.entry(session).or_default();
        recent.retain(|(_, at)| now.duration_since(*at) < WINDOW);
        if let Some(slot) = recent.iter_mut().find(|(t, _)| *t == target) {
            slot.1 = now;
            return true;
        }
        if recent.len() >= max {
            return false;
        }
        recent.push((target, now));
        true
    }

    /// Forgets a session that ended.
    pub(crate) fn forget(&self, session: SessionId) {
        self.by_session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&session);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teahouse_types::NodeId;

    #[test]
    fn new_targets_are_capped_and_old_ones_are_not() {
        let recent = RecentTargets::default();
        let s = SessionId::new(NodeId::default(), 1);
        assert!(["a", "b", "c"].iter().all(|t| recent.admit(s, t, 3)));
        assert!(!recent.admit(s, "d", 3));
        assert!(
            recent.admit(s, "a", 3),
            "a target of the last minute may be messaged"
        );
        assert!(recent.admit(s, "d", 0), "0 is no cap");
        recent.forget(s);
        assert!(recent.admit(s, "d", 3));
    }
}

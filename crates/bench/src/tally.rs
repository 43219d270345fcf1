//! Delivery accounting: every payload a receiver got, checked against what it should get.

use hdrhistogram::Histogram;

/// What one receiver (or, merged, all of them) got.
pub(crate) struct Tally {
    /// Per sender: one bit per sequence number seen.
    seen: Vec<Vec<u64>>,
    /// Per sender: the highest sequence number seen.
    highest: Vec<Option<u32>>,
    messages: usize,
    /// Payload lines received, duplicates included.
    pub(crate) received: u64,
    /// Distinct (sender, seq) pairs received.
    pub(crate) distinct: u64,
    /// Payloads received more than once.
    pub(crate) duplicates: u64,
    /// Payloads that arrived after a later one from the same sender.
    pub(crate) out_of_order: u64,
    /// Payloads naming a sender or sequence number that does not exist.
    pub(crate) foreign: u64,
    /// Latency in microseconds.
    pub(crate) latency_us: Histogram<u64>,
}

impl Tally {
    pub(crate) fn new(senders: usize, messages: usize) -> Self {
        Self {
            seen: vec![vec![0; messages.div_ceil(64)]; senders],
            highest: vec![None; senders],
            messages,
            received: 0,
            distinct: 0,
            duplicates: 0,
            out_of_order: 0,
            foreign: 0,
            latency_us: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid"),
        }
    }

    /// Records one payload from `sender` with `seq`, received `latency_us` after it was sent.
    pub(crate) fn record(&mut self, sender: u32, seq: u32, latency_us: u64) {
        let (s, q) = (sender as usize, seq as usize);
        if s >= self.seen.len() || q >= self.messages {
            self.foreign += 1;
            return;
        }
        self.received += 1;
        let (word, bit) = (q / 64, 1u64 << (q % 64));
        if self.seen[s][word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[s][word] |= bit;
        self.distinct += 1;
        match self.highest[s] {
            Some(high) if seq < high => self.out_of_order += 1,
            _ => self.highest[s] = Some(seq),
        }
        let _ = self.latency_us.record(latency_us.max(1));
    }

    /// Adds another receiver's counts (bitsets are per receiver and are not merged).
    pub(crate) fn merge(&mut self, other: &Tally) {
        self.received += other.received;
        self.distinct += other.distinct;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.foreign += other.foreign;
        let _ = self.latency_us.add(&other.latency_us);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_duplicates_reorders_and_strangers() {
        let mut t = Tally::new(2, 10);
        for seq in [0, 1, 3, 2, 3, 4] {
            t.record(0, seq, 5);
        }
        t.record(1, 0, 5);
        t.record(7, 0, 5);
        t.record(0, 99, 5);
        assert_eq!(t.received, 7);
        assert_eq!(t.distinct, 6);
        assert_eq!(t.duplicates, 1);
        assert_eq!(t.out_of_order, 1);
        assert_eq!(t.foreign, 2);
    }
}

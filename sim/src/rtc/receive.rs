//! What a receiver measures of one media stream: RFC 3550's loss (expected by sequence number
//! minus received, so reordering is not loss) and interarrival jitter. One type for both
//! backends: SimRtc numbers its packets itself, RealRtc extends RTP's 16-bit numbers first.

/// The receive statistics of one stream.
#[derive(Debug, Clone, Default)]
pub struct ReceiveStats {
    base: Option<u32>,
    max: u32,
    received: u64,
    last_transit: Option<f64>,
    jitter: f64,
}

impl ReceiveStats {
    /// Extends a 16-bit RTP sequence number to 32 bits next to the highest seen, across wraps
    /// either way.
    pub fn extend(&self, seq: u16) -> u32 {
        let cycles = self.max & !0xFFFF;
        let candidate = cycles | u32::from(seq);
        let max_low = self.max & 0xFFFF;
        if self.base.is_some() && u32::from(seq) < max_low && max_low - u32::from(seq) > 0x8000 {
            candidate.wrapping_add(0x1_0000)
        } else if self.base.is_some()
            && u32::from(seq) > max_low
            && u32::from(seq) - max_low > 0x8000
            && cycles > 0
        {
            candidate.wrapping_sub(0x1_0000)
        } else {
            candidate
        }
    }

    /// A packet with (extended) sequence number `seq` arrived; `counts` says whether it is one
    /// that loss is counted in. Returns how many more packets are missing than before.
    pub fn packet(&mut self, seq: u32, counts: bool) -> i64 {
        let before = self.lost();
        if self.base.is_none() {
            self.base = Some(seq);
            self.max = seq;
        }
        self.max = self.max.max(seq);
        if counts {
            self.received += 1;
        }
        i64::try_from(self.lost()).unwrap_or(i64::MAX) - i64::try_from(before).unwrap_or(i64::MAX)
    }

    /// A packet's transit time (arrival minus media time, ms): updates and returns the jitter
    /// estimate (RFC 3550 A.8).
    pub fn transit(&mut self, transit_ms: f64) -> f64 {
        if let Some(last) = self.last_transit {
            let d = (transit_ms - last).abs();
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.last_transit = Some(transit_ms);
        self.jitter
    }

    /// Packets missing so far.
    pub fn lost(&self) -> u64 {
        self.base.map_or(0, |base| {
            (u64::from(self.max.wrapping_sub(base)) + 1).saturating_sub(self.received)
        })
    }
}

/// Adds a change of missing packets to a total that never goes below zero.
pub fn add_lost(total: u64, change: i64) -> u64 {
    if change >= 0 {
        total.saturating_add(change.unsigned_abs())
    } else {
        total.saturating_sub(change.unsigned_abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(stream: &mut ReceiveStats, seq: u16) -> u32 {
        let extended = stream.extend(seq);
        stream.packet(extended, true);
        extended
    }

    #[test]
    fn sequence_numbers_extend_across_the_wrap_and_late_packets_stay_behind() {
        let mut stream = ReceiveStats::default();
        let seen: Vec<u32> = [65_534, 65_535, 0, 1, 65_535]
            .into_iter()
            .map(|seq| receive(&mut stream, seq))
            .collect();
        assert_eq!(seen, [65_534, 65_535, 65_536, 65_537, 65_535]);
        assert_eq!(stream.max, 65_537);
    }

    #[test]
    fn loss_is_expected_minus_received_so_reordering_is_not_loss() {
        let mut stream = ReceiveStats::default();
        for seq in [10, 12, 13] {
            stream.packet(seq, true);
        }
        assert_eq!(stream.lost(), 1);
        assert_eq!(stream.packet(11, true), -1);
        assert_eq!(stream.lost(), 0);
        assert_eq!(add_lost(3, -1), 2);
        assert_eq!(add_lost(0, -1), 0);
    }

    #[test]
    fn jitter_follows_the_spread_of_transit_times() {
        let mut stream = ReceiveStats::default();
        assert_eq!(stream.transit(20.0), 0.0);
        assert_eq!(stream.transit(20.0), 0.0);
        let j = stream.transit(36.0);
        assert!((j - 1.0).abs() < 1e-9, "{j}");
    }
}

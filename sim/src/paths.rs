//! The media paths between phones, as both worlds apply them: loss per direction, latency and
//! jitter per pair, and what a blocked path had before it was blocked. One place, so a packet
//! meets the same fate in the turmoil world, the in-memory world and the TURN server.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::loss::{Loss, LossState};
use crate::rtc::turn::MediaPath;

/// The latency of a media path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathLatency {
    /// One-way latency, ms.
    pub latency_ms: u64,
    /// Up to this much more, ms.
    pub jitter_ms: u64,
}

/// Every media path of a world, by the phones' addresses.
#[derive(Debug, Clone)]
pub struct MediaPaths {
    seed: u64,
    /// Loss of media from one address to another.
    loss: BTreeMap<(IpAddr, IpAddr), LossState>,
    /// Latency and jitter of the path between two addresses (lower first).
    latency: BTreeMap<(IpAddr, IpAddr), PathLatency>,
    default_latency_ms: u64,
    /// Draws the jitter of each packet.
    jitter_rng: ChaCha8Rng,
    /// Loss each blocked path had before it was blocked, to restore on unblock.
    blocked: BTreeMap<(IpAddr, IpAddr), Loss>,
}

fn pair(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    (a.min(b), a.max(b))
}

impl MediaPaths {
    /// Lossless paths of `default_latency_ms` one way; later loss and jitter draw from `seed`.
    pub fn new(seed: u64, default_latency_ms: u64) -> Self {
        MediaPaths {
            seed,
            loss: BTreeMap::new(),
            latency: BTreeMap::new(),
            default_latency_ms,
            jitter_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x4A49_5454),
            blocked: BTreeMap::new(),
        }
    }

    /// The latency of a path nobody changed.
    pub fn default_latency_ms(&self) -> u64 {
        self.default_latency_ms
    }

    /// Loss between two addresses, both ways (each direction draws from its own RNG).
    pub fn set_loss(&mut self, a: IpAddr, b: IpAddr, loss: Loss) {
        let seed = self.seed;
        for (from, to, salt) in [(a, b, 1u64), (b, a, 2)] {
            self.loss
                .entry((from, to))
                .or_insert_with(|| LossState::new(seed ^ (salt << 48) ^ 0x4D45))
                .set(loss);
        }
    }

    /// The loss from one address to another.
    pub fn loss(&self, from: IpAddr, to: IpAddr) -> Loss {
        self.loss
            .get(&(from, to))
            .map_or(Loss::None, LossState::loss)
    }

    /// The path drops everything (`true`) or gets back the loss it had (`false`).
    pub fn set_blocked(&mut self, a: IpAddr, b: IpAddr, blocked: bool) {
        if blocked {
            let before = self.loss(a, b);
            self.blocked.entry(pair(a, b)).or_insert(before);
            self.set_loss(a, b, Loss::Blocked);
        } else {
            let before = self.blocked.remove(&pair(a, b)).unwrap_or(Loss::None);
            self.set_loss(a, b, before);
        }
    }

    /// The latency and jitter of the path between two addresses.
    pub fn latency(&self, a: IpAddr, b: IpAddr) -> PathLatency {
        self.latency
            .get(&pair(a, b))
            .copied()
            .unwrap_or(PathLatency {
                latency_ms: self.default_latency_ms,
                jitter_ms: 0,
            })
    }

    /// Sets the latency and jitter of the path between two addresses.
    pub fn set_latency(&mut self, a: IpAddr, b: IpAddr, path: PathLatency) {
        self.latency.insert(pair(a, b), path);
    }

    /// Whether the next packet from one address to another is lost.
    pub fn drops(&mut self, from: IpAddr, to: IpAddr) -> bool {
        self.loss.get_mut(&(from, to)).is_some_and(LossState::drops)
    }

    /// What the path does to one packet from `from` to `to`: lost (`None`), or delayed by the
    /// pair's latency plus jitter drawn as turmoil draws it on a link (an exponential with
    /// rate 5 over the jitter range, capped at its top).
    pub fn delay(&mut self, from: IpAddr, to: IpAddr) -> Option<u64> {
        if self.drops(from, to) {
            return None;
        }
        let path = self.latency(from, to);
        if path.jitter_ms == 0 {
            return Some(path.latency_ms);
        }
        let u = (self.jitter_rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let mult = -(1.0 - u).ln() / 5.0;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let extra = ((path.jitter_ms as f64 * mult) as u64).min(path.jitter_ms);
        Some(path.latency_ms + extra)
    }
}

impl MediaPath for MediaPaths {
    fn delay(&mut self, from: IpAddr, to: IpAddr) -> Option<u64> {
        MediaPaths::delay(self, from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, n))
    }

    #[test]
    fn a_blocked_path_gets_its_loss_back() {
        let mut paths = MediaPaths::new(1, 20);
        paths.set_loss(ip(1), ip(2), Loss::Random { rate: 0.1 });
        paths.set_blocked(ip(2), ip(1), true);
        assert_eq!(paths.loss(ip(1), ip(2)), Loss::Blocked);
        assert_eq!(paths.delay(ip(2), ip(1)), None);
        paths.set_blocked(ip(1), ip(2), false);
        assert_eq!(paths.loss(ip(2), ip(1)), Loss::Random { rate: 0.1 });
        assert_eq!(paths.loss(ip(1), ip(3)), Loss::None);
    }

    #[test]
    fn jitter_stays_within_its_range_and_latency_is_per_pair() {
        let mut paths = MediaPaths::new(7, 20);
        paths.set_latency(
            ip(2),
            ip(1),
            PathLatency {
                latency_ms: 50,
                jitter_ms: 30,
            },
        );
        let delays: Vec<u64> = (0..1_000)
            .filter_map(|_| paths.delay(ip(1), ip(2)))
            .collect();
        assert_eq!(delays.len(), 1_000);
        assert!(delays.iter().all(|d| (50..=80).contains(d)));
        assert!(delays.iter().any(|d| *d > 50));
        assert_eq!(paths.delay(ip(1), ip(3)), Some(20));
    }
}

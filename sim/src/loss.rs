//! Packet loss drawn from a seeded RNG: random, bursty (Gilbert-Elliott), or TCP-like delays.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::Serialize;

/// How a path loses packets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Loss {
    /// Nothing is lost.
    None,
    /// Each packet is lost with probability `rate`, independently (Bernoulli).
    Random {
        /// Loss probability, 0 to 1.
        rate: f64,
    },
    /// Gilbert-Elliott: a good state that loses nothing and a bad state that loses everything,
    /// with a stationary loss `rate` and bursts of `mean_burst` packets on average.
    Bursty {
        /// Long-run loss probability, 0 to 1.
        rate: f64,
        /// Mean number of packets lost in a row.
        mean_burst: f64,
    },
    /// Everything is lost.
    Blocked,
}

/// A loss model's state on one path, with its own seeded RNG.
#[derive(Debug, Clone)]
pub struct LossState {
    loss: Loss,
    bad: bool,
    rng: ChaCha8Rng,
    /// Packets offered to the path.
    pub offered: u64,
    /// Packets the path dropped.
    pub dropped: u64,
}

impl LossState {
    /// A lossless path whose later loss draws from `seed`.
    pub fn new(seed: u64) -> Self {
        LossState {
            loss: Loss::None,
            bad: false,
            rng: ChaCha8Rng::seed_from_u64(seed),
            offered: 0,
            dropped: 0,
        }
    }

    /// The current model.
    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// Changes the model (a burst in progress ends).
    pub fn set(&mut self, loss: Loss) {
        self.loss = loss;
        self.bad = false;
    }

    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Whether the next packet is lost.
    pub fn drops(&mut self) -> bool {
        self.offered += 1;
        let lost = match self.loss {
            Loss::None => false,
            Loss::Blocked => true,
            Loss::Random { rate } => self.uniform() < rate,
            Loss::Bursty { rate, mean_burst } => {
                let leave_bad = 1.0 / mean_burst.max(1.0);
                let rate = rate.clamp(0.0, 0.999);
                let enter_bad = rate * leave_bad / (1.0 - rate);
                let lost = self.bad;
                let u = self.uniform();
                self.bad = if self.bad {
                    u >= leave_bad
                } else {
                    u < enter_bad
                };
                lost
            }
        };
        if lost {
            self.dropped += 1;
        }
        lost
    }

    /// The extra delay TCP adds to one segment on this path: each loss costs a retransmission
    /// timeout, doubling; a path that loses eight times in a row costs the sum of all eight.
    pub fn tcp_delay_ms(&mut self, rto_ms: u64) -> u64 {
        let (mut delay, mut rto) = (0, rto_ms);
        for _ in 0..8 {
            if !self.drops() {
                break;
            }
            delay += rto;
            rto *= 2;
        }
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(loss: Loss, seed: u64) -> f64 {
        let mut state = LossState::new(seed);
        state.set(loss);
        let lost = (0..100_000).filter(|_| state.drops()).count();
        lost as f64 / 100_000.0
    }

    #[test]
    fn random_and_bursty_loss_reach_their_configured_rates() {
        assert!((rate(Loss::Random { rate: 0.2 }, 1) - 0.2).abs() < 0.01);
        let bursty = Loss::Bursty {
            rate: 0.1,
            mean_burst: 5.0,
        };
        assert!((rate(bursty, 2) - 0.1).abs() < 0.01);
        assert_eq!(rate(Loss::None, 3), 0.0);
        assert_eq!(rate(Loss::Blocked, 4), 1.0);
    }

    #[test]
    fn bursty_loss_comes_in_runs_of_the_mean_length() {
        let mut state = LossState::new(9);
        state.set(Loss::Bursty {
            rate: 0.1,
            mean_burst: 5.0,
        });
        let (mut runs, mut lost, mut in_run) = (0, 0, false);
        for _ in 0..200_000 {
            let l = state.drops();
            if l {
                lost += 1;
                if !in_run {
                    runs += 1;
                }
            }
            in_run = l;
        }
        let mean = f64::from(lost) / f64::from(runs);
        assert!((mean - 5.0).abs() < 0.3, "mean burst {mean}");
    }

    #[test]
    fn the_same_seed_draws_the_same_losses() {
        let draws = |seed| {
            let mut s = LossState::new(seed);
            s.set(Loss::Random { rate: 0.3 });
            (0..64).map(|_| s.drops()).collect::<Vec<_>>()
        };
        assert_eq!(draws(5), draws(5));
        assert_ne!(draws(5), draws(6));
    }
}

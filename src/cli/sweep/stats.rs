//! What `callsim sweep` counts per cell: outcomes, failure causes, ring and connect times
//! (percentiles and histograms, as SIPp's repartitions), media statistics and an E-model MOS.

use serde::{Deserialize, Serialize};

use super::CallRecord;
use crate::cli::call::FailureCause;

/// The 50th, 90th and 99th percentiles of some times, ms (nearest rank; `None` if no value).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
}

impl Percentiles {
    /// Of `values` (sorted here).
    pub fn of(values: &mut [u64]) -> Self {
        values.sort_unstable();
        let rank = |p: f64| {
            if values.is_empty() {
                return None;
            }
            let i = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1;
            Some(values[i])
        };
        Percentiles {
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
        }
    }
}

/// Counts of values per bucket: bucket `i` holds values up to `buckets[i]` (and above the
/// one before); the last counts values above every bucket.
pub fn histogram(values: &[u64], buckets: &[u64]) -> Vec<u64> {
    let mut counts = vec![0; buckets.len() + 1];
    for &v in values {
        let i = buckets
            .iter()
            .position(|&b| v <= b)
            .unwrap_or(buckets.len());
        counts[i] += 1;
    }
    counts
}

/// One failure cause of a cell: how many calls, and their seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CauseCount {
    /// The cause.
    pub cause: FailureCause,
    /// The seeds of the calls that failed so, in order.
    pub seeds: Vec<u64>,
}

/// Everything a report says about one cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellStats {
    /// The cell's number in the grid.
    pub cell: usize,
    /// Its conditions.
    pub conditions: Vec<(String, String)>,
    /// Calls run.
    pub attempted: u64,
    /// Calls whose callee's phone rang.
    pub rang: u64,
    /// Calls that connected.
    pub connected: u64,
    /// Calls that did what was asked: connected, media flowed, and both phones went idle.
    pub ok: u64,
    /// Calls that did not.
    pub failed: u64,
    /// Calls whose simulation failed (a callsim bug; see `errors` in the per-call output).
    pub errors: u64,
    /// `ok / attempted`.
    pub success_rate: f64,
    /// Failures by cause, in [`FailureCause::ALL`] order.
    pub causes: Vec<CauseCount>,
    /// Call button to ringing.
    pub ring_ms: Percentiles,
    /// Call button to connected.
    pub connect_ms: Percentiles,
    /// Ring times per bucket (see [`histogram`]).
    pub ring_histogram: Vec<u64>,
    /// Connect times per bucket.
    pub connect_histogram: Vec<u64>,
    /// Media frames sent, both phones, all calls.
    pub frames_sent: u64,
    /// Media frames received and decrypted, both phones, all calls.
    pub frames_received: u64,
    /// RTP packets lost over packets expected, both phones, all connected calls, percent.
    pub media_loss_pct: f64,
    /// Mean interarrival jitter (RFC 3550) over connected calls, ms.
    pub jitter_ms: Option<f64>,
    /// Mean round-trip time where measured, ms.
    pub rtt_ms: Option<f64>,
    /// E-model (ITU-T G.107, simplified) mean opinion score from the measured delay, jitter
    /// and loss; `None` without connected calls.
    pub mos: Option<f64>,
}

/// The statistics of one cell's calls.
pub fn cell_stats(
    cell: usize,
    conditions: Vec<(String, String)>,
    calls: &[&CallRecord],
    buckets: &[u64],
    media_latency_ms: f64,
) -> CellStats {
    let mut ring = Vec::new();
    let mut connect = Vec::new();
    let (mut rang, mut connected, mut ok, mut errors) = (0, 0, 0, 0);
    let mut causes: Vec<CauseCount> = Vec::new();
    let (mut sent, mut received, mut lost, mut expected) = (0u64, 0u64, 0u64, 0u64);
    let (mut jitter, mut jitters) = (0.0, 0u64);
    let (mut rtt, mut rtts) = (0.0, 0u64);
    for call in calls {
        let Some(m) = &call.metrics else {
            errors += 1;
            continue;
        };
        if let Some(t) = m.ring_ms {
            rang += 1;
            ring.push(t);
        }
        if let Some(t) = m.connect_ms {
            connected += 1;
            connect.push(t);
            for s in [&m.caller, &m.callee] {
                lost += s.packets_lost;
                expected += s.packets_received + s.packets_lost;
                jitter += s.jitter_ms;
                jitters += 1;
                if let Some(r) = s.rtt_ms {
                    rtt += r as f64;
                    rtts += 1;
                }
            }
        }
        for s in [&m.caller, &m.callee] {
            sent += s.audio_frames_sent + s.video_frames_sent;
            received += s.audio_frames_received + s.video_frames_received;
        }
        match m.cause {
            None => ok += 1,
            Some(cause) => match causes.iter_mut().find(|c| c.cause == cause) {
                Some(c) => c.seeds.push(call.seed),
                None => causes.push(CauseCount {
                    cause,
                    seeds: vec![call.seed],
                }),
            },
        }
    }
    causes.sort_by_key(|c| FailureCause::ALL.iter().position(|a| *a == c.cause));
    let attempted = calls.len() as u64;
    let media_loss_pct = if expected > 0 {
        100.0 * lost as f64 / expected as f64
    } else {
        0.0
    };
    let jitter_ms = (jitters > 0).then(|| jitter / jitters as f64);
    let rtt_ms = (rtts > 0).then(|| rtt / rtts as f64);
    let one_way = rtt_ms.map_or(media_latency_ms, |r| r / 2.0);
    let mos =
        (connected > 0).then(|| e_model_mos(one_way, jitter_ms.unwrap_or(0.0), media_loss_pct));
    CellStats {
        cell,
        conditions,
        attempted,
        rang,
        connected,
        ok,
        failed: attempted - ok - errors,
        errors,
        success_rate: if attempted > 0 {
            ok as f64 / attempted as f64
        } else {
            0.0
        },
        causes,
        ring_histogram: histogram(&ring, buckets),
        connect_histogram: histogram(&connect, buckets),
        ring_ms: Percentiles::of(&mut ring),
        connect_ms: Percentiles::of(&mut connect),
        frames_sent: sent,
        frames_received: received,
        media_loss_pct,
        jitter_ms,
        rtt_ms,
        mos,
    }
}

/// The E-model (ITU-T G.107) with its default ratings, simplified to what a simulation
/// measures: R = 93.2 - Id - Ie,eff, with the delay impairment Id from the mouth-to-ear delay
/// (one-way network delay, 20 ms of packetisation and a jitter buffer of twice the jitter) and
/// the effective equipment impairment for random loss, Ie,eff = Ie + (95 - Ie) * Ppl /
/// (Ppl + Bpl), with Ie = 0 and Bpl = 25.1 (G.113 Appendix I, G.711 with packet loss
/// concealment: a conservative stand-in for Opus, which G.113 does not rate). MOS from R as
/// in G.107 Annex B. Rounded to 2 decimals.
pub fn e_model_mos(one_way_ms: f64, jitter_ms: f64, loss_pct: f64) -> f64 {
    let d = one_way_ms + 20.0 + 2.0 * jitter_ms;
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let (ie, bpl) = (0.0, 25.1);
    let ppl = loss_pct.clamp(0.0, 100.0);
    let ie_eff = ie + (95.0 - ie) * ppl / (ppl + bpl);
    let r = 93.2 - id - ie_eff;
    let mos = if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6
    };
    (mos * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!((p.p50, p.p90, p.p99), (Some(50), Some(90), Some(99)));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
        assert_eq!(Percentiles::of(&mut [7]).p99, Some(7));
    }

    #[test]
    fn histograms_count_up_to_each_bucket_and_above_the_last() {
        assert_eq!(
            histogram(&[0, 100, 101, 500, 9_000], &[100, 500, 1_000]),
            [2, 2, 0, 1]
        );
    }

    #[test]
    fn the_e_model_falls_with_delay_and_loss() {
        let clean = e_model_mos(20.0, 0.0, 0.0);
        assert!((4.3..=4.45).contains(&clean), "{clean}");
        assert!(e_model_mos(300.0, 0.0, 0.0) < clean);
        assert!(e_model_mos(20.0, 0.0, 5.0) < clean);
        assert!(e_model_mos(20.0, 0.0, 30.0) < e_model_mos(20.0, 0.0, 5.0));
        assert_eq!(e_model_mos(5_000.0, 0.0, 100.0), 1.0);
    }
}

//! `callsim bench`: throughput figures, measured on the wall clock (never in tests).

use std::io::{self, Write};

use callsim_engine::io::PhoneConfig;
use callsim_engine::io::UserAction;
use callsim_engine::protocol::CallMediaType;
use callsim_sim::memory::{MemoryWorld, Timing};
use callsim_sim::world::WorldBuilder;

/// Simulated talk time of every benchmarked call.
const TALK_MS: u64 = 10_000;

/// The figures of `callsim bench engine`.
#[derive(Debug, Clone, Copy)]
pub struct EngineFigures {
    /// Calls run in each mode.
    pub calls: u64,
    /// Complete calls per wall-clock second, with X25519 and media keys.
    pub encrypted_per_second: f64,
    /// Complete calls per wall-clock second, without call encryption.
    pub plain_per_second: f64,
    /// Simulated seconds per wall-clock second, encrypted run.
    pub sim_to_wall: f64,
}

/// Runs `calls` complete audio calls through the in-memory world on this thread, once
/// encrypted and once plain.
pub fn engine(calls: u64, progress: &mut impl Write) -> Result<EngineFigures, String> {
    let (encrypted_wall, sim_ms) = run_calls(calls, true, progress)?;
    let (plain_wall, _) = run_calls(calls, false, progress)?;
    Ok(EngineFigures {
        calls,
        encrypted_per_second: calls as f64 / encrypted_wall,
        plain_per_second: calls as f64 / plain_wall,
        sim_to_wall: sim_ms as f64 / 1000.0 / encrypted_wall,
    })
}

/// Returns wall seconds and simulated milliseconds.
fn run_calls(calls: u64, encrypted: bool, progress: &mut impl Write) -> Result<(f64, u64), String> {
    let mut world = MemoryWorld::new(Timing::default());
    let alice = world.add_phone(PhoneConfig::new("Alice", 1));
    let bob = world.add_phone(PhoneConfig::new("Bob", 2));
    world.connect(alice, bob);
    for id in [alice, bob] {
        world.set_encryption_support(id, encrypted);
    }
    world.run_for(1);
    let mode = if encrypted { "encrypted" } else { "plain" };
    let start_sim = world.now();
    let started = crate::wall::now();
    let step = (calls / 10).max(1);
    for n in 0..calls {
        world
            .complete_call(alice, bob, CallMediaType::Audio, TALK_MS)
            .map_err(|e| format!("{mode} call {n}: {e}"))?;
        if (n + 1) % step == 0 {
            let _ = writeln!(progress, "{mode}: {} of {calls} calls", n + 1);
        }
    }
    let wall = started.elapsed().as_secs_f64().max(1e-9);
    Ok((wall, world.now().ms_since(start_sim)))
}

/// Prints the figures one per line, as `name: value`.
pub fn print_engine(figures: &EngineFigures, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "calls: {}", figures.calls)?;
    writeln!(
        out,
        "calls_per_second_encrypted: {:.0}",
        figures.encrypted_per_second
    )?;
    writeln!(
        out,
        "calls_per_second_plain: {:.0}",
        figures.plain_per_second
    )?;
    writeln!(out, "sim_to_wall: {:.0}", figures.sim_to_wall)
}

/// The figures of `callsim bench turmoil`.
#[derive(Debug, Clone, Copy)]
pub struct TurmoilFigures {
    /// Calls run.
    pub calls: u64,
    /// Wall-clock seconds for all of them.
    pub wall_seconds: f64,
    /// Simulated seconds for all of them.
    pub sim_seconds: f64,
}

/// Runs `calls` complete audio calls under turmoil, a fresh simulation each, on this thread.
pub fn turmoil(calls: u64, progress: &mut impl Write) -> Result<TurmoilFigures, String> {
    let started = crate::wall::now();
    let mut sim_ms = 0;
    let step = (calls / 10).max(1);
    for n in 0..calls {
        let mut builder = WorldBuilder::new(n + 1).trace(false);
        builder.phone("Alice");
        builder.phone("Bob");
        let mut w = builder.build();
        let fail = |e: callsim_sim::world::WorldError| format!("call {n}: {e}");
        w.start_call(0, 1, CallMediaType::Audio);
        if !w.run_until(10_000, |w| w.ringing(1)).map_err(fail)? || !w.callkit_answer(1) {
            return Err(format!("call {n}: Bob did not ring"));
        }
        if !w.run_until(10_000, |w| w.connected(0, 1)).map_err(fail)? {
            return Err(format!("call {n}: the call did not connect"));
        }
        w.run_for(TALK_MS).map_err(fail)?;
        w.user(0, UserAction::EndCall);
        let idle =
            |w: &callsim_sim::world::World| w.call_state(0).is_none() && w.call_state(1).is_none();
        if !w.run_until(10_000, idle).map_err(fail)? {
            return Err(format!("call {n}: the phones did not go idle"));
        }
        sim_ms += w.now().0;
        if (n + 1) % step == 0 {
            let _ = writeln!(progress, "turmoil: {} of {calls} calls", n + 1);
        }
    }
    Ok(TurmoilFigures {
        calls,
        wall_seconds: started.elapsed().as_secs_f64().max(1e-9),
        sim_seconds: sim_ms as f64 / 1000.0,
    })
}

/// Prints the figures one per line, as `name: value`.
pub fn print_turmoil(figures: &TurmoilFigures, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "calls: {}", figures.calls)?;
    writeln!(out, "wall_seconds: {:.3}", figures.wall_seconds)?;
    writeln!(
        out,
        "calls_per_second: {:.1}",
        figures.calls as f64 / figures.wall_seconds
    )?;
    writeln!(out, "sim_seconds: {:.1}", figures.sim_seconds)?;
    writeln!(
        out,
        "sim_to_wall: {:.0}",
        figures.sim_seconds / figures.wall_seconds
    )
}

/// The figures of `callsim bench real-webrtc`, in milliseconds per call.
#[derive(Debug, Clone)]
pub struct RealWebrtcFigures {
    /// Calls connected.
    pub calls: u64,
    /// Wall-clock time from the call button to both phones connected, per call, sorted.
    pub connect_wall_ms: Vec<f64>,
    /// Simulated time from the call button to both phones connected, per call, sorted.
    pub connect_sim_ms: Vec<f64>,
}

/// Connects `calls` real webrtc-rs calls under turmoil, a fresh simulation each, on this
/// thread; the clock runs from the call button to both phones connected.
pub fn real_webrtc(calls: u64, progress: &mut impl Write) -> Result<RealWebrtcFigures, String> {
    let mut wall = Vec::new();
    let mut sim = Vec::new();
    let step = (calls / 10).max(1);
    for n in 0..calls {
        let mut builder = WorldBuilder::new(n + 1).trace(false);
        // The real stack has no TURN server in the world: these calls go peer to peer.
        for name in ["Alice", "Bob"] {
            let phone = builder.phone(name);
            phone.real_webrtc = true;
            phone.config.relay_policy = false;
        }
        let mut w = builder.build();
        let fail = |e: callsim_sim::world::WorldError| format!("call {n}: {e}");
        let (started, sim_started) = (crate::wall::now(), w.now());
        w.start_call(0, 1, CallMediaType::Audio);
        if !w.run_until(10_000, |w| w.ringing(1)).map_err(fail)? || !w.callkit_answer(1) {
            return Err(format!("call {n}: Bob did not ring"));
        }
        if !w.run_until(10_000, |w| w.connected(0, 1)).map_err(fail)? {
            return Err(format!(
                "call {n} (seed {}): the call did not connect",
                n + 1
            ));
        }
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
        sim.push((w.now().0 - sim_started.0) as f64);
        if (n + 1) % step == 0 {
            let _ = writeln!(progress, "real-webrtc: {} of {calls} calls", n + 1);
        }
    }
    wall.sort_by(f64::total_cmp);
    sim.sort_by(f64::total_cmp);
    Ok(RealWebrtcFigures {
        calls,
        connect_wall_ms: wall,
        connect_sim_ms: sim,
    })
}

/// The value below which `p` of the sorted values lie (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Prints the figures one per line, as `name: value`.
pub fn print_real_webrtc(figures: &RealWebrtcFigures, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "calls: {}", figures.calls)?;
    writeln!(
        out,
        "median_connect_wall_ms: {:.2}",
        percentile(&figures.connect_wall_ms, 0.5)
    )?;
    writeln!(
        out,
        "median_connect_sim_ms: {:.0}",
        percentile(&figures.connect_sim_ms, 0.5)
    )?;
    writeln!(
        out,
        "p90_connect_wall_ms: {:.2}",
        percentile(&figures.connect_wall_ms, 0.9)
    )?;
    writeln!(
        out,
        "p90_connect_sim_ms: {:.0}",
        percentile(&figures.connect_sim_ms, 0.9)
    )
}

/// The figures of `callsim bench bdd`.
#[derive(Debug, Clone, Copy)]
pub struct BddFigures {
    /// Scenarios run (all of them passed).
    pub scenarios: usize,
    /// Wall-clock seconds of the whole run.
    pub wall_seconds: f64,
    /// Simulated seconds of all scenarios together.
    pub sim_seconds: f64,
}

/// Runs the scenarios under `paths` as `callsim bdd` does, with every core, and times the run.
pub fn bdd(
    paths: Vec<std::path::PathBuf>,
    progress: &mut impl Write,
) -> Result<BddFigures, String> {
    let options = crate::bdd::BddOptions::new(paths);
    let _ = writeln!(
        progress,
        "running the scenarios on {} threads",
        options.concurrency
    );
    let started = crate::wall::now();
    let summary = crate::bdd::run(&options, &mut io::sink())?;
    let wall_seconds = started.elapsed().as_secs_f64().max(1e-9);
    if summary.scenarios.is_empty() {
        return Err("no scenario ran: check the paths".into());
    }
    if !summary.succeeded() {
        let failed: Vec<_> = summary
            .scenarios
            .iter()
            .filter(|s| !s.passed)
            .map(|s| s.name.as_str())
            .collect();
        return Err(format!(
            "the suite failed ({}); run `callsim bdd` to see why",
            failed.join(", ")
        ));
    }
    Ok(BddFigures {
        scenarios: summary.scenarios.len(),
        wall_seconds,
        sim_seconds: summary.scenarios.iter().map(|s| s.sim_ms).sum::<u64>() as f64 / 1000.0,
    })
}

/// Prints the figures one per line, as `name: value`.
pub fn print_bdd(figures: &BddFigures, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "scenarios: {}", figures.scenarios)?;
    writeln!(out, "wall_seconds: {:.3}", figures.wall_seconds)?;
    writeln!(out, "sim_seconds: {:.1}", figures.sim_seconds)?;
    writeln!(
        out,
        "sim_to_wall: {:.0}",
        figures.sim_seconds / figures.wall_seconds
    )
}

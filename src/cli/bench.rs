//! `callsim bench`: throughput figures, measured on the wall clock (never in tests).

use std::io::{self, Write};

use callsim_engine::io::PhoneConfig;
use callsim_engine::protocol::CallMediaType;
use callsim_sim::memory::{MemoryWorld, Timing, WebRtcModel};
use callsim_sim::world::WorldBuilder;
use callsim_sim::{PhoneId, World, complete_call};

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
        complete_call(&mut world, alice, bob, CallMediaType::Audio, TALK_MS)
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

const ALICE: PhoneId = PhoneId(0);
const BOB: PhoneId = PhoneId(1);

/// Complete calls per wall-clock second of one kind of run, and the simulated seconds run.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Calls run.
    pub calls: u64,
    /// Wall-clock seconds for all of them.
    pub wall_seconds: f64,
    /// Simulated seconds for all of them.
    pub sim_seconds: f64,
}

impl Rate {
    /// Calls per wall-clock second.
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.wall_seconds
    }
}

/// Runs `calls` calls of `one` (given the call's number, returning its simulated ms), timing
/// them and reporting progress as `label`.
fn timed(
    label: &str,
    calls: u64,
    progress: &mut impl Write,
    mut one: impl FnMut(u64) -> Result<u64, String>,
) -> Result<Rate, String> {
    let started = crate::wall::now();
    let mut sim_ms = 0;
    let step = (calls / 10).max(1);
    for n in 0..calls {
        sim_ms += one(n).map_err(|e| format!("{label} call {n} (seed {}): {e}", n + 1))?;
        if (n + 1) % step == 0 {
            let _ = writeln!(progress, "{label}: {} of {calls} calls", n + 1);
        }
    }
    Ok(Rate {
        calls,
        wall_seconds: started.elapsed().as_secs_f64().max(1e-9),
        sim_seconds: sim_ms as f64 / 1000.0,
    })
}

/// Two phones with the defaults of steps.md, seeded by the call's number, calling peer to
/// peer: the work of the raw flow (two phones and a relay). SimpleX's default, relaying
/// through TURN, adds a host to the turmoil world and a hop to every packet.
fn two_phones(n: u64) -> WorldBuilder {
    let mut builder = WorldBuilder::new(n + 1).trace(false);
    builder.phone("Alice").config.relay_policy = false;
    builder.phone("Bob").config.relay_policy = false;
    builder
}

/// One complete audio call of `TALK_MS` in a fresh world; the simulated ms it took.
fn one_call<W: World>(mut w: W) -> Result<u64, String> {
    let start = w.now();
    complete_call(&mut w, ALICE, BOB, CallMediaType::Audio, TALK_MS).map_err(|e| e.to_string())?;
    Ok(w.now().ms_since(start))
}

/// The figures of `callsim bench turmoil`.
#[derive(Debug, Clone, Copy)]
pub struct TurmoilFigures {
    /// callsim's turmoil world.
    pub world: Rate,
    /// The same call written by hand on raw turmoil ([`callsim_sim::baseline`]).
    pub raw: Rate,
    /// The turmoil world running as long as the calls took, with no call: what the ticks
    /// cost by themselves.
    pub idle: Rate,
    /// Turmoil alone: as many hosts (three), software that only sleeps, as long as the calls
    /// took ([`callsim_sim::baseline::idle`]): the floor under any turmoil flow of this shape.
    pub floor: Rate,
}

/// Runs `calls` complete audio calls under turmoil, a fresh simulation each, on this thread;
/// then the same calls hand-written on raw turmoil, then idle worlds for as long.
pub fn turmoil(calls: u64, progress: &mut impl Write) -> Result<TurmoilFigures, String> {
    let world = timed("turmoil", calls, progress, |n| {
        one_call(two_phones(n).build())
    })?;
    let raw = timed("raw turmoil", calls, progress, |n| {
        let frames = callsim_sim::baseline::call(n + 1, TALK_MS)?;
        if frames.iter().any(|f| *f < TALK_MS / 20) {
            return Err(format!("frames lost on a lossless path: {frames:?}"));
        }
        Ok(TALK_MS)
    })?;
    let per_call_ms = (world.sim_seconds * 1000.0 / calls.max(1) as f64) as u64;
    let idle = timed("idle turmoil", calls, progress, |n| {
        let mut w = two_phones(n).build();
        let start = w.now();
        w.advance(per_call_ms).map_err(|e| e.to_string())?;
        Ok(w.now().ms_since(start))
    })?;
    let floor = timed("turmoil floor", calls, progress, |_| {
        callsim_sim::baseline::idle(3, per_call_ms)?;
        Ok(per_call_ms)
    })?;
    Ok(TurmoilFigures {
        world,
        raw,
        idle,
        floor,
    })
}

/// Prints the figures one per line, as `name: value`.
pub fn print_turmoil(figures: &TurmoilFigures, out: &mut impl Write) -> io::Result<()> {
    let TurmoilFigures {
        world,
        raw,
        idle,
        floor,
    } = figures;
    writeln!(out, "calls: {}", world.calls)?;
    writeln!(out, "wall_seconds: {:.3}", world.wall_seconds)?;
    writeln!(out, "calls_per_second: {:.1}", world.per_second())?;
    writeln!(out, "sim_seconds: {:.1}", world.sim_seconds)?;
    writeln!(
        out,
        "sim_to_wall: {:.0}",
        world.sim_seconds / world.wall_seconds
    )?;
    writeln!(out, "raw_turmoil_calls_per_second: {:.1}", raw.per_second())?;
    writeln!(
        out,
        "idle_world_share: {:.2}",
        idle.wall_seconds / world.wall_seconds
    )?;
    writeln!(
        out,
        "turmoil_floor_calls_per_second: {:.1}",
        floor.per_second()
    )
}

/// The figures of `callsim bench memory`.
#[derive(Debug, Clone, Copy)]
pub struct MemoryFigures {
    /// Calls with SimRtc media.
    pub simrtc: Rate,
    /// The same calls with the scripted WebRTC (no packets): the phones, relay and
    /// signalling alone.
    pub scripted: Rate,
}

/// Runs `calls` complete audio calls in the in-memory world with SimRtc media, a fresh world
/// each, on this thread; then the same with the scripted WebRTC, for where the time goes.
pub fn memory(calls: u64, progress: &mut impl Write) -> Result<MemoryFigures, String> {
    let build = |n, webrtc| {
        two_phones(n)
            .build_memory(webrtc)
            .map_err(|e| e.to_string())
    };
    let simrtc = timed("memory", calls, progress, |n| {
        one_call(build(n, WebRtcModel::SimRtc)?)
    })?;
    let scripted = timed("memory (scripted WebRTC)", calls, progress, |n| {
        one_call(build(n, WebRtcModel::default())?)
    })?;
    Ok(MemoryFigures { simrtc, scripted })
}

/// Prints the figures one per line, as `name: value`.
pub fn print_memory(figures: &MemoryFigures, out: &mut impl Write) -> io::Result<()> {
    let MemoryFigures { simrtc, scripted } = figures;
    writeln!(out, "calls: {}", simrtc.calls)?;
    writeln!(out, "wall_seconds: {:.3}", simrtc.wall_seconds)?;
    writeln!(out, "calls_per_second: {:.1}", simrtc.per_second())?;
    writeln!(
        out,
        "sim_to_wall: {:.0}",
        simrtc.sim_seconds / simrtc.wall_seconds
    )?;
    writeln!(
        out,
        "scripted_calls_per_second: {:.1}",
        scripted.per_second()
    )?;
    writeln!(
        out,
        "media_share: {:.2}",
        1.0 - scripted.wall_seconds / simrtc.wall_seconds
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
/// thread; the clock runs from the call button to both phones connected. With `turn` both
/// phones are relay-only (SimpleX's default) and connect through the world's TURN server;
/// otherwise peer to peer.
pub fn real_webrtc(
    calls: u64,
    turn: bool,
    progress: &mut impl Write,
) -> Result<RealWebrtcFigures, String> {
    let mut wall = Vec::new();
    let mut sim = Vec::new();
    let step = (calls / 10).max(1);
    let how = if turn { "through TURN" } else { "peer to peer" };
    for n in 0..calls {
        let mut builder = WorldBuilder::new(n + 1).trace(false);
        for name in ["Alice", "Bob"] {
            let phone = builder.phone(name);
            phone.real_webrtc = true;
            phone.config.relay_policy = turn;
        }
        let mut w = builder.build();
        let fail = |e: callsim_sim::WorldError| format!("call {n}: {e}");
        let (started, sim_started) = (crate::wall::now(), w.now());
        w.start_call(ALICE, BOB, CallMediaType::Audio);
        if !w.advance_until(10_000, |w| w.ringing(BOB)).map_err(fail)? || !w.callkit_answer(BOB) {
            return Err(format!("call {n}: Bob did not ring"));
        }
        if !w
            .advance_until(10_000, |w| w.connected(ALICE, BOB))
            .map_err(fail)?
        {
            return Err(format!(
                "call {n} (seed {}): the call did not connect",
                n + 1
            ));
        }
        wall.push(started.elapsed().as_secs_f64() * 1000.0);
        sim.push((w.now().0 - sim_started.0) as f64);
        if (n + 1) % step == 0 {
            let _ = writeln!(progress, "real-webrtc: {} of {calls} calls {how}", n + 1);
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

/// Prints the figures one per line, as `name: value`: peer to peer, then through TURN (the
/// same names with `turn_` before them).
pub fn print_real_webrtc(
    direct: &RealWebrtcFigures,
    turn: &RealWebrtcFigures,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(out, "calls: {}", direct.calls)?;
    for (prefix, figures) in [("", direct), ("turn_", turn)] {
        let (wall, sim) = (&figures.connect_wall_ms, &figures.connect_sim_ms);
        writeln!(
            out,
            "{prefix}median_connect_wall_ms: {:.2}",
            percentile(wall, 0.5)
        )?;
        writeln!(
            out,
            "{prefix}median_connect_sim_ms: {:.0}",
            percentile(sim, 0.5)
        )?;
        writeln!(
            out,
            "{prefix}p90_connect_wall_ms: {:.2}",
            percentile(wall, 0.9)
        )?;
        writeln!(
            out,
            "{prefix}p90_connect_sim_ms: {:.0}",
            percentile(sim, 0.9)
        )?;
    }
    Ok(())
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
    let summary = crate::bdd::run(&options, &mut io::sink()).map_err(|e| e.to_string())?;
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

/// What turmoil alone costs for `calls` of `bench sweep`'s turmoil calls on `threads` threads,
/// in wall seconds: idle simulations of the hosts of a default call (the relay, the TURN
/// server and two phones) that sleep for as long as the sweep's first call took
/// ([`callsim_sim::baseline::idle`]). No turmoil world of this shape can sweep faster.
pub fn sweep_turmoil_floor(
    spec: &super::sweep::Spec,
    calls: u64,
    threads: usize,
    progress: &mut impl Write,
) -> Result<f64, String> {
    const HOSTS: usize = 4;
    let cells = spec.cells();
    let cell = cells.first().ok_or("no cell to sweep")?;
    let args = super::sweep::call_args(&spec.call_options(cell, spec.first_seed))?;
    let sim_ms = super::call::run_untraced(&args)
        .map_err(|e| e.to_string())?
        .sim_ms;
    let _ = writeln!(
        progress,
        "turmoil floor: {calls} idle simulations of {HOSTS} hosts, {sim_ms} ms each..."
    );
    let next = std::sync::atomic::AtomicU64::new(0);
    let started = crate::wall::now();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < calls {
                        callsim_sim::baseline::idle(HOSTS, sim_ms)?;
                    }
                    Ok::<(), String>(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| {
            w.join()
                .map_err(|_| "an idle simulation panicked".to_owned())?
        })
    })?;
    Ok(started.elapsed().as_secs_f64().max(1e-9))
}

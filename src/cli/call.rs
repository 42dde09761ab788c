//! `callsim call`: one simulated call between two phones under turmoil, from the command line.

use std::io::Write;
use std::path::PathBuf;

use callsim_engine::io::{MessageKind, UserAction};
use callsim_engine::protocol::CallMediaType;
use callsim_mocks::callkit::ActionOutcome;
use callsim_sim::loopback::{self, LoopbackCall};
use callsim_sim::memory::{MemoryWorld, WebRtcModel};
use callsim_sim::paths::PathLatency;
use callsim_sim::rtc::RtcStats;
use callsim_sim::world::{AppState, Loss, TICK_MS, TraceRecord, TurmoilWorld, WorldBuilder, trace};
use callsim_sim::{PhoneId, World};

use super::Media;

/// How the callee answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Answer {
    /// On the CallKit screen as soon as it rings.
    Callkit,
    /// On the in-app incoming call view (the callee has CallKit off).
    App,
    /// Never: the caller waits, then hangs up.
    None,
}

/// Which WebRTC backend the phones run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WebRtcBackend {
    /// SimRtc: a light model of ICE, DTLS and media timing (fast; byte-for-byte by seed).
    Sim,
    /// webrtc-rs 0.21: real ICE, DTLS-SRTP and RTP, relay-only through a real TURN server unless
    /// --direct (runs repeat byte for byte by seed).
    Real,
}

/// Which world a simulated call runs in.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum WorldKind {
    /// The turmoil world: host tasks over simulated TCP and UDP, 10 ms ticks.
    Turmoil,
    /// The in-memory world: an event queue, SimRtc media over the same loss models.
    Memory,
}

/// Where the callee's app is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppArg {
    /// On screen, chat running.
    Foreground,
    /// In the background.
    Background,
    /// Suspended: woken by a push.
    Suspended,
    /// Not running: woken by a VoIP push.
    NotRunning,
}

/// Which phones a setting applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Who {
    /// The caller.
    Caller,
    /// The callee.
    Callee,
    /// Both.
    Both,
}

impl Who {
    fn includes(self, id: PhoneId) -> bool {
        matches!(
            (self, id),
            (Who::Both, _) | (Who::Caller, CALLER) | (Who::Callee, CALLEE)
        )
    }
}

/// A partition of one phone's link to the relay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Partition {
    /// Whose link.
    pub who: PhoneId,
    /// When it goes down, seconds after the call button.
    pub at: f64,
    /// For how long.
    pub for_secs: f64,
}

fn parse_partition(text: &str) -> Result<Partition, String> {
    let bad = || {
        format!(
            "--partition takes WHO:AT:FOR (caller or callee, seconds), e.g. callee:2:5, not {text:?}"
        )
    };
    let mut parts = text.split(':');
    let who = match parts.next() {
        Some("caller") => CALLER,
        Some("callee") => CALLEE,
        _ => return Err(bad()),
    };
    let mut number = || {
        parts
            .next()
            .and_then(|p| non_negative(p).ok())
            .ok_or_else(bad)
    };
    let (at, for_secs) = (number()?, number()?);
    Ok(Partition { who, at, for_secs })
}

pub(crate) fn parse_kind(text: &str) -> Result<MessageKind, String> {
    MessageKind::from_tag(text).ok_or_else(|| {
        format!(
            "{text:?} is not a message kind; the kinds are {}",
            MessageKind::ALL
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// Everything `callsim call` takes.
#[derive(Debug, Clone, clap::Args)]
pub struct CallArgs {
    /// The caller's name.
    #[arg(long, default_value = "Alice")]
    pub from: String,
    /// The callee's name.
    #[arg(long, default_value = "Bob")]
    pub to: String,
    /// Media of the call.
    #[arg(long, value_enum, default_value_t = Media::Audio)]
    pub media: Media,
    /// Seconds of conversation once connected (or of waiting, with `--answer none`).
    #[arg(long, default_value_t = 10.0, value_parser = non_negative, allow_negative_numbers = true)]
    pub talk: f64,
    /// How the callee answers.
    #[arg(long, value_enum, default_value_t = Answer::Callkit)]
    pub answer: Answer,
    /// One-way latency between each phone and the relay, in ms.
    #[arg(long, default_value_t = 20)]
    pub relay_latency: u64,
    /// Packet loss on each phone's link to the relay, in percent (TCP: late, in order).
    #[arg(long, default_value_t = 0.0, value_parser = percent)]
    pub relay_loss: f64,
    /// One-way latency of the media path between the phones, in ms.
    #[arg(long, default_value_t = 20)]
    pub media_latency: u64,
    /// Random packet loss on the media path, in percent.
    #[arg(long, default_value_t = 0.0, value_parser = percent)]
    pub media_loss: f64,
    /// The WebRTC stack of both phones.
    #[arg(long, value_enum, default_value_t = WebRtcBackend::Sim)]
    pub webrtc: WebRtcBackend,
    /// The world: turmoil (real TCP/UDP stacks, ticks) or memory (event-driven, SimRtc media;
    /// faster, without relay-link faults).
    #[arg(long, value_enum, default_value_t = WorldKind::Turmoil)]
    pub world: WorldKind,
    /// Media jitter on top of the latency, in ms (each packet up to this much later).
    #[arg(long, default_value_t = 0)]
    pub media_jitter: u64,
    /// Media loss comes in bursts of this many packets on average (Gilbert-Elliott), at the
    /// --media-loss rate; 0 or 1: independent losses.
    #[arg(long, value_name = "PACKETS", default_value_t = 0.0, value_parser = non_negative, allow_negative_numbers = true)]
    pub media_burst: f64,
    /// Seconds between the callee's phone ringing and the answer (CallKit or in-app).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.0, value_parser = non_negative, allow_negative_numbers = true)]
    pub answer_delay: f64,
    /// Where the callee's app is when the call comes (SimpleX suspends the chat of an app in
    /// the background unless CallKit has an active call).
    #[arg(long, value_enum, default_value_t = AppArg::Foreground)]
    pub callee_app: AppArg,
    /// Seconds the callee's chat takes to start when a push wakes it (the CallKit answer
    /// waits for it up to 30 s).
    #[arg(long, value_name = "SECONDS", default_value_t = 0.5, value_parser = non_negative, allow_negative_numbers = true)]
    pub chat_start: f64,
    /// Seconds the push that wakes the callee takes.
    #[arg(long, value_name = "SECONDS", default_value_t = 0.3, value_parser = non_negative, allow_negative_numbers = true)]
    pub push_delay: f64,
    /// Whose phone is in China (App Store country CHN: no CallKit).
    #[arg(long, value_enum, value_name = "WHO")]
    pub china: Option<Who>,
    /// Who has turned CallKit off.
    #[arg(long, value_enum, value_name = "WHO")]
    pub callkit_off: Option<Who>,
    /// Who allows direct peer-to-peer calls ("Always use relay" off; by default media goes
    /// through TURN, SimpleX's default).
    #[arg(long, value_enum, value_name = "WHO")]
    pub direct: Option<Who>,
    /// A partition of one phone's link to the relay: WHO:AT:FOR, seconds after the call button
    /// (e.g. `callee:2:5`). May be given more than once.
    #[arg(long, value_name = "WHO:AT:FOR", value_parser = parse_partition)]
    pub partition: Vec<Partition>,
    /// The relay crashes and comes back this many seconds after the call button.
    #[arg(long, value_name = "AT", value_parser = non_negative, allow_negative_numbers = true)]
    pub relay_restart: Option<f64>,
    /// The relay holds every message of this kind (e.g. `x.call.answer`) until --release-at.
    #[arg(long, value_name = "EVENT", value_parser = parse_kind)]
    pub hold: Vec<MessageKind>,
    /// When the held messages go out, seconds after the call button (default: never).
    #[arg(long, value_name = "AT", value_parser = non_negative, allow_negative_numbers = true)]
    pub release_at: Option<f64>,
    /// Run on the real network instead of the simulator: both phones in this process, media
    /// over real UDP sockets on 127.0.0.1, real time (needs `--webrtc real`; the network
    /// options do not apply, and a call of `--talk N` takes N seconds).
    #[arg(long)]
    pub real_network: bool,
    /// The seed of the run: the same seed gives the same run, event for event.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the trace as JSON lines to this file.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Write a Mermaid sequence diagram to this file.
    #[arg(long, value_name = "FILE")]
    pub mermaid: Option<PathBuf>,
    /// Write an SVG sequence diagram to this file.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// A percentage from 0 to 100 (an option's value).
pub(crate) fn percent(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if (0.0..=100.0).contains(&value) {
        Ok(value)
    } else {
        Err(format!("{value} is not a percentage from 0 to 100"))
    }
}

fn non_negative(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .parse()
        .map_err(|_| format!("{text:?} is not a number"))?;
    if value >= 0.0 && value.is_finite() {
        Ok(value)
    } else {
        Err(format!("{value} must be zero or more"))
    }
}

/// What happened, in one line, and whether it is what was asked.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The line.
    pub summary: String,
    /// Whether the call connected.
    pub connected: bool,
    /// What was asked of the call, in words.
    pub asked: String,
    /// Whether the call did it: connected and ended on both phones (or, with `--answer
    /// none`, rang and ended when the caller hung up).
    pub ok: bool,
}

const CALLER: PhoneId = PhoneId(0);
const CALLEE: PhoneId = PhoneId(1);

/// A finished call: who took part, everything that happened, and the outcome.
#[derive(Debug, Clone)]
pub struct CallRun {
    /// The phones' names, caller first.
    pub names: Vec<String>,
    /// The trace, in time order.
    pub trace: Vec<TraceRecord>,
    /// The outcome.
    pub outcome: CallOutcome,
    /// What a sweep counts: times, the cause of a failure, WebRTC counters.
    pub metrics: CallMetrics,
    /// Simulated time from the world's start to the end of the run, in ms (0 on the real
    /// network): what `bench sweep` sets its turmoil floor by.
    pub sim_ms: u64,
}

/// The measurable side of a call, for `callsim sweep`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CallMetrics {
    /// From the call button to the callee's phone ringing, ms.
    pub ring_ms: Option<u64>,
    /// From the call button to both phones connected, ms.
    pub connect_ms: Option<u64>,
    /// Both phones went idle after the hang-up.
    pub ended: bool,
    /// Why the call did not do what was asked (`None`: it did).
    pub cause: Option<FailureCause>,
    /// The caller's WebRTC counters at the end.
    pub caller: RtcStats,
    /// The callee's WebRTC counters at the end.
    pub callee: RtcStats,
}

/// Why a call failed, from what the phones and their WebRTC saw.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FailureCause {
    /// The invitation never reached the callee's chat (relay unreachable, lost on the way).
    InvitationNotDelivered,
    /// The callee's chat has the invitation but the phone never rang (e.g. expired).
    NeverRang,
    /// The callee answered on CallKit and the answer action failed or timed out (the 30 s
    /// wait for the chat, or CallKit's own timeout).
    AnswerFailed,
    /// Nothing was ringing when the callee went to answer.
    NothingToAnswer,
    /// A phone ended the call before it connected.
    EndedBeforeConnect,
    /// ICE or DTLS failed.
    IceFailed,
    /// Answered, yet the peers did not connect within a minute.
    DidNotConnect,
    /// Connected, then the media path was lost (WebRTC disconnected).
    DroppedMidCall,
    /// Connected, and the callee received no media frame.
    NoMedia,
    /// A phone still had a call 10 s after the hang-up.
    NotIdleAfterEnd,
}

impl FailureCause {
    /// Every cause, in report order.
    pub const ALL: [FailureCause; 10] = [
        FailureCause::InvitationNotDelivered,
        FailureCause::NeverRang,
        FailureCause::AnswerFailed,
        FailureCause::NothingToAnswer,
        FailureCause::EndedBeforeConnect,
        FailureCause::IceFailed,
        FailureCause::DidNotConnect,
        FailureCause::DroppedMidCall,
        FailureCause::NoMedia,
        FailureCause::NotIdleAfterEnd,
    ];

    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::InvitationNotDelivered => "invitation-not-delivered",
            FailureCause::NeverRang => "never-rang",
            FailureCause::AnswerFailed => "answer-failed",
            FailureCause::NothingToAnswer => "nothing-to-answer",
            FailureCause::EndedBeforeConnect => "ended-before-connect",
            FailureCause::IceFailed => "ice-failed",
            FailureCause::DidNotConnect => "did-not-connect",
            FailureCause::DroppedMidCall => "dropped-mid-call",
            FailureCause::NoMedia => "no-media",
            FailureCause::NotIdleAfterEnd => "not-idle-after-end",
        }
    }
}

/// Why `callsim call` could not run its call (a call that ran and failed is a [`CallRun`]).
#[derive(Debug, thiserror::Error)]
pub enum CallCommandError {
    /// The options do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// The simulated world failed.
    #[error("the simulation failed: {0}")]
    World(#[from] callsim_sim::WorldError),
    /// The real-network call could not be set up (sockets, the real stack).
    #[error("the real-network call failed: {0}")]
    Network(String),
}

impl From<String> for CallCommandError {
    /// The option checks speak in plain messages.
    fn from(message: String) -> Self {
        CallCommandError::Usage(message)
    }
}

impl From<&str> for CallCommandError {
    fn from(message: &str) -> Self {
        CallCommandError::Usage(message.to_owned())
    }
}

/// Runs the call, in the simulator or on the real network.
pub fn run(args: &CallArgs) -> Result<CallRun, CallCommandError> {
    check_names(args)?;
    if args.real_network {
        return run_real_network(args);
    }
    simulated_on_its_thread(args, true)
}

/// Runs a simulated call without recording its trace (what `callsim sweep` needs: the
/// metrics only, the same as `run` gives for the same options).
pub fn run_untraced(args: &CallArgs) -> Result<CallRun, CallCommandError> {
    check_names(args)?;
    simulated_on_its_thread(args, false)
}

/// A real-stack call runs on a thread of its own, seeded first, so it repeats byte for byte
/// (`callsim_sim::seeded`); SimRtc's need nothing of the kind.
fn simulated_on_its_thread(args: &CallArgs, record: bool) -> Result<CallRun, CallCommandError> {
    if args.webrtc == WebRtcBackend::Real {
        callsim_sim::seeded::on_fresh_thread(args.seed, || run_simulated(args, record))
    } else {
        run_simulated(args, record)
    }
}

fn check_names(args: &CallArgs) -> Result<(), CallCommandError> {
    if args.from.trim().is_empty() || args.to.trim().is_empty() {
        return Err("--from and --to must be names".into());
    }
    if args.from == args.to {
        return Err(format!(
            "--from and --to are both {:?}: a call needs two people",
            args.from
        )
        .into());
    }
    Ok(())
}

fn media_of(args: &CallArgs) -> CallMediaType {
    match args.media {
        Media::Audio => CallMediaType::Audio,
        Media::Video => CallMediaType::Video,
    }
}

fn run_real_network(args: &CallArgs) -> Result<CallRun, CallCommandError> {
    if args.webrtc != WebRtcBackend::Real {
        return Err("--real-network runs the real WebRTC stack: add --webrtc real".into());
    }
    let simulated_only = [
        ("--world", args.world == WorldKind::Memory),
        ("--media-latency", args.media_latency != 20),
        ("--media-loss", args.media_loss > 0.0),
        ("--relay-loss", args.relay_loss > 0.0),
        ("--partition", !args.partition.is_empty()),
        ("--relay-restart", args.relay_restart.is_some()),
        ("--hold", !args.hold.is_empty()),
        ("--callee-app", args.callee_app != AppArg::Foreground),
        ("--china", args.china.is_some()),
        ("--callkit-off", args.callkit_off.is_some()),
        ("--answer-delay", args.answer_delay > 0.0),
    ];
    if let Some((flag, _)) = simulated_only.iter().find(|(_, set)| *set) {
        return Err(format!(
            "{flag} is for the simulated world; on --real-network both phones run in this \
             process on the kernel's loopback, as they are"
        )
        .into());
    }
    let call = LoopbackCall {
        names: [args.from.clone(), args.to.clone()],
        media: media_of(args),
        talk_ms: (args.talk * 1000.0).round() as u64,
        answer: match args.answer {
            Answer::Callkit => loopback::Answer::CallKit,
            Answer::App => loopback::Answer::App,
            Answer::None => loopback::Answer::Never,
        },
        seed: args.seed,
        relay_latency_ms: args.relay_latency,
        relay_only: [CALLER, CALLEE].map(|id| !args.direct.is_some_and(|d| d.includes(id))),
    };
    let done = call.run_blocking().map_err(CallCommandError::Network)?;
    let path = match (done.turn, done.connection_info(&args.from)) {
        (Some(turn), Some(info)) if info.relayed() => format!("through TURN at {turn}"),
        (_, Some(_)) => "peer to peer".to_owned(),
        (Some(turn), None) => format!("TURN server at {turn}"),
        (None, None) => "peer to peer allowed".to_owned(),
    };
    let how = if !done.rang {
        format!("{}'s phone never rang", args.to)
    } else if let Some(at) = done.connected_at {
        format!("connected at {at}, talked {:.1}s, ended", args.talk)
    } else {
        "did not connect".to_owned()
    };
    let item = |id: usize| {
        done.items[id]
            .clone()
            .unwrap_or_else(|| "no call item".into())
    };
    let summary = format!(
        "outcome: {how}; {}: {}; {}: {}; {} received {} audio frames ({} undecryptable); real network (127.0.0.1), {path}",
        args.from,
        item(0),
        args.to,
        item(1),
        args.to,
        done.stats[1].audio_frames_received,
        done.stats[1].undecryptable_frames,
    );
    let metrics = CallMetrics {
        ring_ms: None,
        connect_ms: None,
        ended: true,
        cause: if !done.rang {
            Some(FailureCause::NeverRang)
        } else if done.connected_at.is_none() && args.answer != Answer::None {
            Some(FailureCause::DidNotConnect)
        } else {
            None
        },
        caller: done.stats[0].clone(),
        callee: done.stats[1].clone(),
    };
    Ok(CallRun {
        names: vec![args.from.clone(), args.to.clone()],
        trace: done.trace,
        metrics,
        sim_ms: 0,
        outcome: CallOutcome {
            summary,
            connected: done.connected_at.is_some(),
            asked: match args.answer {
                Answer::None => format!("{}'s phone rings", args.to),
                _ => "the call connects".to_owned(),
            },
            ok: match args.answer {
                Answer::None => done.rang,
                _ => done.connected_at.is_some(),
            },
        },
    })
}

/// A fault that happens at a time of the run.
#[derive(Debug, Clone, Copy)]
enum Fault {
    RelayLink { who: PhoneId, up: bool },
    RelayRestart,
    Release,
}

/// What `callsim call` needs of a world beyond [`World`]: the relay-link faults. The in-memory
/// world has none; `check_world` refuses the flags that would need them there.
trait CallWorld: World + Sized {
    fn set_relay_link(&mut self, id: PhoneId, up: bool);
    fn relay_restart(&mut self);
}

impl CallWorld for TurmoilWorld {
    fn set_relay_link(&mut self, id: PhoneId, up: bool) {
        TurmoilWorld::set_relay_link(self, id, up);
    }

    fn relay_restart(&mut self) {
        TurmoilWorld::relay_restart(self);
    }
}

impl CallWorld for MemoryWorld {
    // Never called: `check_world` refuses --partition and --relay-restart on this world.
    fn set_relay_link(&mut self, _: PhoneId, _: bool) {}

    fn relay_restart(&mut self) {}
}

/// The run's timed faults, soonest first, applied as simulated time reaches them.
struct Timeline {
    start: u64,
    faults: Vec<(u64, Fault)>,
}

impl Timeline {
    fn new(args: &CallArgs, start: u64) -> Self {
        let ms = |s: f64| start + (s * 1000.0).round() as u64;
        let mut faults = Vec::new();
        for p in &args.partition {
            faults.push((
                ms(p.at),
                Fault::RelayLink {
                    who: p.who,
                    up: false,
                },
            ));
            faults.push((
                ms(p.at + p.for_secs),
                Fault::RelayLink {
                    who: p.who,
                    up: true,
                },
            ));
        }
        if let Some(at) = args.relay_restart {
            faults.push((ms(at), Fault::RelayRestart));
        }
        if let Some(at) = args.release_at {
            faults.push((ms(at), Fault::Release));
        }
        faults.sort_by_key(|(at, _)| *at);
        Timeline { start, faults }
    }

    fn apply_due<W: CallWorld>(&mut self, w: &mut W) {
        let now = w.now().0;
        while self.faults.first().is_some_and(|(at, _)| *at <= now) {
            let (_, fault) = self.faults.remove(0);
            match fault {
                Fault::RelayLink { who, up } => w.set_relay_link(who, up),
                Fault::RelayRestart => w.relay_restart(),
                Fault::Release => {
                    for id in [CALLER, CALLEE] {
                        w.release(id);
                    }
                }
            }
        }
    }

    /// Runs until `done` or `ms` have passed, faults applied on time, in the world's own steps
    /// (turmoil's ticks; the in-memory world's events, which stop where `done` first holds).
    fn advance_until<W: CallWorld>(
        &mut self,
        w: &mut W,
        ms: u64,
        done: impl Fn(&W) -> bool,
    ) -> Result<bool, callsim_sim::WorldError> {
        let end = w.now().0 + ms;
        loop {
            self.apply_due(w);
            if done(w) {
                return Ok(true);
            }
            let now = w.now().0;
            if now >= end {
                return Ok(false);
            }
            // Up to the next fault (at least one tick on), or the end.
            let until = self
                .faults
                .first()
                .map_or(end, |(at, _)| (*at).max(now + TICK_MS).min(end));
            if w.advance_until(until - now, &done)? {
                self.apply_due(w);
                return Ok(true);
            }
        }
    }

    fn since_start(&self, w: &impl World) -> u64 {
        w.now().0 - self.start
    }
}

/// The flags the chosen world cannot honour.
fn check_world(args: &CallArgs) -> Result<(), CallCommandError> {
    if args.world == WorldKind::Turmoil {
        return Ok(());
    }
    let turmoil_only = [
        ("--webrtc real", args.webrtc == WebRtcBackend::Real),
        ("--relay-loss", args.relay_loss > 0.0),
        ("--partition", !args.partition.is_empty()),
        ("--relay-restart", args.relay_restart.is_some()),
    ];
    if let Some((flag, _)) = turmoil_only.iter().find(|(_, set)| *set) {
        return Err(format!(
            "{flag} needs --world turmoil: the in-memory world has no relay link or real stack"
        )
        .into());
    }
    Ok(())
}

/// Whether the options of a simulated call go together, without running it.
pub fn check_simulated(args: &CallArgs) -> Result<(), CallCommandError> {
    check_names(args)?;
    check_world(args)
}

fn run_simulated(args: &CallArgs, record: bool) -> Result<CallRun, CallCommandError> {
    check_simulated(args)?;
    let real = args.webrtc == WebRtcBackend::Real;
    let mut builder = WorldBuilder::new(args.seed).trace(record);
    for (id, name) in [(CALLER, &args.from), (CALLEE, &args.to)] {
        let phone = builder.phone(name);
        phone.relay_latency_ms = args.relay_latency;
        phone.real_webrtc = real;
        phone.config.relay_policy = !args.direct.is_some_and(|d| d.includes(id));
        if args.china.is_some_and(|w| w.includes(id)) {
            phone.config.country = "CHN".into();
        }
        if args.callkit_off.is_some_and(|w| w.includes(id)) {
            phone.config.callkit_enabled = false;
        }
    }
    let callee = builder.setup(CALLEE);
    if args.answer == Answer::App {
        callee.config.callkit_enabled = false;
    }
    callee.app = match args.callee_app {
        AppArg::Foreground => AppState::Foreground,
        AppArg::Background => AppState::Background,
        AppArg::Suspended => AppState::Suspended,
        AppArg::NotRunning => AppState::NotRunning,
    };
    callee.chat_start_ms = (args.chat_start * 1000.0).round() as u64;
    callee.push_delay_ms = (args.push_delay * 1000.0).round() as u64;
    let in_app = !builder.phones()[CALLEE.index()].config.use_callkit();
    let loss = match (args.media_loss, args.media_burst) {
        (rate, _) if rate <= 0.0 => None,
        (rate, burst) if burst > 1.0 => Some(Loss::Bursty {
            rate: rate / 100.0,
            mean_burst: burst,
        }),
        (rate, _) => Some(Loss::Random { rate: rate / 100.0 }),
    };
    match args.world {
        WorldKind::Turmoil => {
            let mut w = builder.build();
            w.set_media_latency(CALLER, CALLEE, args.media_latency);
            if args.media_jitter > 0 {
                w.set_media_jitter(CALLER, CALLEE, args.media_jitter);
            }
            if let Some(loss) = loss {
                w.set_media_loss(CALLER, CALLEE, loss)?;
            }
            if args.relay_loss > 0.0 {
                for id in [CALLER, CALLEE] {
                    w.set_relay_loss(id, args.relay_loss / 100.0);
                }
            }
            script(w, args, in_app)
        }
        WorldKind::Memory => {
            let mut w = builder.build_memory(WebRtcModel::SimRtc)?;
            w.set_media_path(
                CALLER,
                CALLEE,
                PathLatency {
                    latency_ms: args.media_latency,
                    jitter_ms: args.media_jitter,
                },
            )?;
            if let Some(loss) = loss {
                w.set_media_loss(CALLER, CALLEE, loss)?;
            }
            script(w, args, in_app)
        }
    }
}

/// The call itself, in any world: call, ring, answer, connect, talk, hang up, go idle.
fn script<W: CallWorld>(
    mut w: W,
    args: &CallArgs,
    in_app: bool,
) -> Result<CallRun, CallCommandError> {
    for id in [CALLER, CALLEE] {
        for kind in &args.hold {
            w.hold(id, *kind);
        }
    }
    let media = media_of(args);
    let talk_ms = (args.talk * 1000.0).round() as u64;
    let mut timeline = Timeline::new(args, w.now().0);
    w.start_call(CALLER, CALLEE, media);
    let ring_limit = 60_000 + (args.push_delay * 1000.0) as u64;
    let rang = timeline.advance_until(&mut w, ring_limit, |w| w.ringing(CALLEE))?;
    let ring_ms = rang.then(|| timeline.since_start(&w));
    let mut answered = false;
    if rang && args.answer != Answer::None {
        let delay = (args.answer_delay * 1000.0).round() as u64;
        timeline.advance_until(&mut w, delay, |_| false)?;
        answered = if in_app || args.answer == Answer::App {
            let contact_id = CALLER.contact();
            let showing = w.with_phone(CALLEE, |p| p.app().incoming_view() == Some(contact_id));
            if showing {
                w.user(CALLEE, UserAction::AcceptCall { contact_id });
            }
            showing
        } else {
            w.callkit_answer(CALLEE)
        };
    }
    let connected =
        answered && timeline.advance_until(&mut w, 60_000, |w| w.connected(CALLER, CALLEE))?;
    let connected_at = w.now();
    let connect_ms = connected.then(|| timeline.since_start(&w));
    timeline.advance_until(&mut w, talk_ms, |_| false)?;
    let dropped = connected && !w.connected(CALLER, CALLEE);
    // The candidate pair the caller's WebRTC client reported, for the outcome line.
    let pair = w.with_phone(CALLER, |p| {
        p.app().active_call().and_then(|c| c.connection_info)
    });
    let via = match pair {
        Some(info) if info.relayed() => " through TURN",
        Some(info) if info.local_candidate.is_some() => " peer to peer",
        _ => "",
    };
    w.user(CALLER, UserAction::EndCall);
    let idle = |w: &W| {
        [CALLER, CALLEE]
            .iter()
            .all(|&id| w.call_state(id).is_none() && !w.ringing(id))
    };
    let ended = timeline.advance_until(&mut w, 10_000, idle)?;
    let ended_at = timeline.since_start(&w) as f64 / 1000.0;

    let item = |id, peer| {
        w.call_item(id, peer)
            .unwrap_or_else(|| "no call item".into())
    };
    let stats = w.rtc_stats(CALLEE);
    let how = if !rang {
        format!("{}'s phone never rang", args.to)
    } else if args.answer != Answer::None && !answered {
        format!(
            "{} could not answer: nothing was ringing to answer",
            args.to
        )
    } else if connected {
        format!(
            "connected at {connected_at}{via}, talked {:.1}s, ended",
            args.talk
        )
    } else {
        "did not connect".to_owned()
    };
    let (asked, ok) = match args.answer {
        Answer::None => (
            format!(
                "{}'s phone rings and the call ends when {} hangs up",
                args.to, args.from
            ),
            rang && ended,
        ),
        _ => (
            format!(
                "the call connects, then ends on both phones when {} hangs up",
                args.from
            ),
            connected && ended,
        ),
    };
    let ending = if ended {
        format!("both phones idle at {ended_at:.1}s")
    } else {
        "a phone still had a call 10 s after the hang-up".to_owned()
    };
    let summary = format!(
        "outcome: {how}; {ending}; {}: {}; {}: {}; {} received {} audio frames ({} undecryptable); seed {}",
        args.from,
        item(CALLER, CALLEE),
        args.to,
        item(CALLEE, CALLER),
        args.to,
        stats.audio_frames_received,
        stats.undecryptable_frames,
        args.seed
    );
    let caller_stats = w.rtc_stats(CALLER);
    let cause = failure_cause(
        &w,
        args,
        Seen {
            rang,
            answered,
            connected,
            dropped,
            ended,
        },
    );
    Ok(CallRun {
        names: vec![args.from.clone(), args.to.clone()],
        trace: w.trace(),
        sim_ms: w.now().0,
        outcome: CallOutcome {
            summary,
            connected,
            asked,
            ok,
        },
        metrics: CallMetrics {
            ring_ms,
            connect_ms,
            ended,
            cause,
            caller: caller_stats,
            callee: stats,
        },
    })
}

/// What the script saw happen.
struct Seen {
    rang: bool,
    answered: bool,
    connected: bool,
    dropped: bool,
    ended: bool,
}

/// The first thing that went wrong, read from the phones, CallKit and WebRTC.
fn failure_cause<W: World>(w: &W, args: &CallArgs, seen: Seen) -> Option<FailureCause> {
    let rtc = [w.rtc_stats(CALLER), w.rtc_stats(CALLEE)];
    if !seen.rang {
        let delivered = w.call_item(CALLEE, CALLER).is_some();
        return Some(if delivered {
            FailureCause::NeverRang
        } else {
            FailureCause::InvitationNotDelivered
        });
    }
    if args.answer == Answer::None {
        return (!seen.ended).then_some(FailureCause::NotIdleAfterEnd);
    }
    if !seen.answered {
        return Some(FailureCause::NothingToAnswer);
    }
    if !seen.connected {
        let answer_failed = w.with_callkit(CALLEE, |c| {
            c.last_answer().is_some_and(|a| {
                matches!(
                    a.outcome,
                    ActionOutcome::Failed(_) | ActionOutcome::TimedOut(_)
                )
            })
        });
        return Some(if rtc.iter().any(|s| s.failed > 0) {
            FailureCause::IceFailed
        } else if answer_failed {
            FailureCause::AnswerFailed
        } else if w.call_state(CALLER).is_none() || w.call_state(CALLEE).is_none() {
            FailureCause::EndedBeforeConnect
        } else {
            FailureCause::DidNotConnect
        });
    }
    if seen.dropped {
        return Some(FailureCause::DroppedMidCall);
    }
    if !seen.ended {
        return Some(FailureCause::NotIdleAfterEnd);
    }
    let frames = rtc[1].audio_frames_received + rtc[1].video_frames_received;
    (args.talk > 1.0 && frames == 0).then_some(FailureCause::NoMedia)
}

/// Prints the timeline and the outcome, and writes the files asked for.
pub fn print(args: &CallArgs, run: &CallRun, out: &mut impl Write) -> Result<(), super::CliError> {
    for line in trace::timeline(&run.trace) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", run.outcome.summary)?;
    if !run.outcome.ok {
        writeln!(out, "not as asked: {}", run.outcome.asked)?;
    }
    let jsonl: String = run
        .trace
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default() + "\n")
        .collect();
    let files = [
        (&args.trace, jsonl),
        (&args.mermaid, trace::mermaid(&run.names, &run.trace)),
        (&args.svg, trace::svg(&run.names, &run.trace)),
    ];
    for (path, text) in files {
        if let Some(path) = path {
            std::fs::write(path, text).map_err(|source| super::CliError::WriteFile {
                path: path.display().to_string(),
                source,
            })?;
        }
    }
    Ok(())
}

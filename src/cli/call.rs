//! `callsim call`: one simulated call between two phones under turmoil, from the command line.

use std::io::Write;
use std::path::PathBuf;

use callsim_engine::io::UserAction;
use callsim_engine::protocol::CallMediaType;
use callsim_sim::loopback::{self, LoopbackCall};
use callsim_sim::world::{Loss, TraceRecord, WorldBuilder, trace};

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
    /// webrtc-rs 0.21: real ICE, DTLS-SRTP and RTP (events and timing repeat, bytes do not).
    Real,
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

fn percent(text: &str) -> Result<f64, String> {
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

/// What happened, in one line.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The line.
    pub summary: String,
    /// Whether the call connected.
    pub connected: bool,
}

const CALLER: usize = 0;
const CALLEE: usize = 1;

/// A finished call: who took part, everything that happened, and the outcome.
#[derive(Debug, Clone)]
pub struct CallRun {
    /// The phones' names, caller first.
    pub names: Vec<String>,
    /// The trace, in time order.
    pub trace: Vec<TraceRecord>,
    /// The outcome.
    pub outcome: CallOutcome,
}

/// Runs the call, in the simulator or on the real network.
pub fn run(args: &CallArgs) -> Result<CallRun, String> {
    check_names(args)?;
    if args.real_network {
        return run_real_network(args);
    }
    run_simulated(args)
}

fn check_names(args: &CallArgs) -> Result<(), String> {
    if args.from.trim().is_empty() || args.to.trim().is_empty() {
        return Err("--from and --to must be names".into());
    }
    if args.from == args.to {
        return Err(format!(
            "--from and --to are both {:?}: a call needs two people",
            args.from
        ));
    }
    Ok(())
}

fn media_of(args: &CallArgs) -> CallMediaType {
    match args.media {
        Media::Audio => CallMediaType::Audio,
        Media::Video => CallMediaType::Video,
    }
}

fn run_real_network(args: &CallArgs) -> Result<CallRun, String> {
    if args.webrtc != WebRtcBackend::Real {
        return Err("--real-network runs the real WebRTC stack: add --webrtc real".into());
    }
    let simulated_only = [
        ("--media-latency", args.media_latency != 20),
        ("--media-loss", args.media_loss > 0.0),
        ("--relay-loss", args.relay_loss > 0.0),
    ];
    if let Some((flag, _)) = simulated_only.iter().find(|(_, set)| *set) {
        return Err(format!(
            "{flag} shapes the simulated network; on --real-network the kernel's loopback \
             carries the media"
        ));
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
    };
    let done = call.run_blocking()?;
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
        "outcome: {how}; {}: {}; {}: {}; {} received {} audio frames ({} undecryptable); real network (127.0.0.1)",
        args.from,
        item(0),
        args.to,
        item(1),
        args.to,
        done.stats[1].audio_frames_received,
        done.stats[1].undecryptable_frames,
    );
    Ok(CallRun {
        names: vec![args.from.clone(), args.to.clone()],
        trace: done.trace,
        outcome: CallOutcome {
            summary,
            connected: done.connected_at.is_some(),
        },
    })
}

fn run_simulated(args: &CallArgs) -> Result<CallRun, String> {
    let real = args.webrtc == WebRtcBackend::Real;
    let mut builder = WorldBuilder::new(args.seed);
    let caller = builder.phone(&args.from);
    caller.relay_latency_ms = args.relay_latency;
    caller.real_webrtc = real;
    // The real stack has no TURN server in the world: its calls go peer to peer.
    caller.config.relay_policy = !real;
    let callee = builder.phone(&args.to);
    callee.relay_latency_ms = args.relay_latency;
    callee.real_webrtc = real;
    callee.config.relay_policy = !real;
    if args.answer == Answer::App {
        callee.config.callkit_enabled = false;
    }
    let mut w = builder.build();
    w.set_media_latency(CALLER, CALLEE, args.media_latency);
    if args.media_loss > 0.0 {
        let rate = args.media_loss / 100.0;
        w.set_media_loss(CALLER, CALLEE, Loss::Random { rate });
    }
    for id in [CALLER, CALLEE] {
        if args.relay_loss > 0.0 {
            w.set_relay_loss(id, args.relay_loss / 100.0);
        }
    }
    let media = media_of(args);
    let talk_ms = (args.talk * 1000.0).round() as u64;
    let fail = |e: callsim_sim::world::WorldError| e.to_string();
    w.start_call(CALLER, CALLEE, media);
    let rang = w.run_until(60_000, |w| w.ringing(CALLEE)).map_err(fail)?;
    match args.answer {
        Answer::Callkit if rang => {
            w.callkit_answer(CALLEE);
        }
        Answer::App if rang => {
            let contact_id = w.contact_id(CALLER);
            w.user(CALLEE, UserAction::AcceptCall { contact_id });
        }
        _ => {}
    }
    let connected = args.answer != Answer::None
        && rang
        && w.run_until(60_000, |w| w.connected(CALLER, CALLEE))
            .map_err(fail)?;
    let connected_at = w.now();
    w.run_for(talk_ms).map_err(fail)?;
    w.user(CALLER, UserAction::EndCall);
    w.run_for(2_000).map_err(fail)?;

    let item = |id, peer| {
        w.call_item(id, peer)
            .unwrap_or_else(|| "no call item".into())
    };
    let stats = w.rtc_stats(CALLEE);
    let how = if !rang {
        format!("{}'s phone never rang", args.to)
    } else if connected {
        format!(
            "connected at {connected_at}, talked {:.1}s, ended",
            args.talk
        )
    } else {
        "did not connect".to_owned()
    };
    let summary = format!(
        "outcome: {how}; {}: {}; {}: {}; {} received {} audio frames ({} undecryptable); seed {}",
        args.from,
        item(CALLER, CALLEE),
        args.to,
        item(CALLEE, CALLER),
        args.to,
        stats.audio_frames_received,
        stats.undecryptable_frames,
        args.seed
    );
    Ok(CallRun {
        names: vec![args.from.clone(), args.to.clone()],
        trace: w.trace(),
        outcome: CallOutcome { summary, connected },
    })
}

/// Prints the timeline and the outcome, and writes the files asked for.
pub fn print(args: &CallArgs, run: &CallRun, out: &mut impl Write) -> Result<(), super::CliError> {
    for line in trace::timeline(&run.trace) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "{}", run.outcome.summary)?;
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

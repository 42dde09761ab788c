//! One phone on the real network whose relay connection is a line stream: `callsim phone`.
//!
//! The phone is the engine's `Phone` under its tokio driver, with [`RealRtc`] on real UDP and
//! real time. Every chat message it sends (`x.call.*` and delivery receipts, the core's exact
//! bytes) is one line on `output`; every line on `input` is a message from the peer. Events
//! go to `events` as JSON lines: the trace records callsim writes everywhere (inputs,
//! outputs, the relay's sends), `stats` every second, an `error` for each line that is not a
//! message and each message the core refuses, and a final `summary`. Nothing here is
//! reproducible by seed: it is the real network, on purpose.
//!
//! [`RealRtc`]: crate::rtc::real::RealRtc

use std::io::{BufRead, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use callsim_engine::app::AppCallState;
use callsim_engine::backend::{Inbox, SmpClient};
use callsim_engine::chat::CoreEvent;
use callsim_engine::driver::{self, Backends, Driver, Tracer};
use callsim_engine::ids::ContactId;
use callsim_engine::io::{Input, LifecycleEvent, MessageKind, Output, PhoneConfig, UserAction};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::{CallMediaType, Timestamp};
use callsim_mocks::backends::{
    CallKitBackend, FakePermissions, FakePlatform, PermissionsBackend, PlatformBackend, Shared,
};
use callsim_mocks::{FakeAudioSession, FakeRinger};
use serde::Serialize;

use crate::rtc::RtcStats;
use crate::rtc::real::{self as realrtc, Network, RealRtcTask};
use crate::rtc::real_turn::{TURN_PASSWORD, TURN_USERNAME, TurnServerConfig};
use crate::rtc::turn_serve::{TurnCounters, spawn_real};
use crate::trace::{TraceEvent, TraceRecord};

/// The peer's contact id in this phone's chat.
pub const PEER: ContactId = 1;

/// How this phone answers an incoming call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerWith {
    /// On the CallKit screen.
    CallKit,
    /// On the in-app incoming view.
    App,
    /// Declines (CallKit's decline, or reject in the app).
    Decline,
    /// Never answers.
    None,
}

/// What the phone is and does.
#[derive(Debug, Clone)]
pub struct PhoneOptions {
    /// Its owner's name.
    pub name: String,
    /// The peer's name, as this phone's contact.
    pub peer: String,
    /// Seeds the phone's keys and ids.
    pub seed: u64,
    /// Calls the peer at the start, with this media.
    pub call: Option<CallMediaType>,
    /// How it answers an incoming call.
    pub answer: AnswerWith,
    /// How long after ringing it answers, ms.
    pub answer_after_ms: u64,
    /// Hangs up this long after calling or answering, ms (`None`: waits for the peer).
    pub hang_up_after_ms: Option<u64>,
    /// CallKit on.
    pub callkit: bool,
    /// China mode (no CallKit).
    pub china: bool,
    /// Relay-only ICE, SimpleX's default: media goes through `turn`.
    pub relay_only: bool,
    /// The address to gather host candidates on.
    pub bind: IpAddr,
    /// How long to wait for the call to ring, connect or end before giving up, ms.
    pub timeout_ms: u64,
    /// The longest line accepted on the input, bytes.
    pub max_line: usize,
    /// Whether the call should connect (`None`: either way, as long as it ends).
    pub expect_connect: Option<bool>,
    /// A script of scenario steps; when given, `call`, `answer` and `hang_up_after_ms` are
    /// not used.
    pub script: Vec<(usize, ScriptStep)>,
    /// Faults on this phone's own sends.
    pub faults: Vec<SendFault>,
    /// Loss of the datagrams this phone's WebRTC sends, percent (independent losses drawn
    /// from the seed).
    pub media_loss_pct: f64,
    /// When held messages go, ms after the start.
    pub release_after_ms: Option<u64>,
    /// The UDP ports the media socket may take (`None`: any).
    pub ports: Option<(u16, u16)>,
    /// The TURN server relay-only calls use; `None`: with `relay_only`, the phone starts its
    /// own on `bind`.
    pub turn: Option<TurnServerConfig>,
}

/// One step of a phone's script, from the scenario language.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScriptStep {
    /// `When N seconds pass`.
    Wait(u64),
    /// `When Alice starts an audio call to Bob`.
    Call(CallMediaType),
    /// `When Alice answers the call through CallKit` / `accepts the call in the app` /
    /// `declines the call through CallKit` / `rejects the call in the app`.
    Answer(AnswerWith),
    /// `When Alice ends the call`.
    End,
    /// `Then Alice's phone rings within N seconds`.
    Rings(u64),
    /// `Then the call between Alice and Bob connects within N seconds`.
    Connects(u64),
    /// `Then Alice's call ends within N seconds`.
    Ends(u64),
}

/// Parses a script: one step per line in the scenario language's words, `me` being the
/// phone's owner and `peer` the other party; blank lines and `#` comments skipped. Errors
/// name the line.
pub fn parse_script(text: &str, me: &str, peer: &str) -> Result<Vec<(usize, ScriptStep)>, String> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let number = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words = ["Given ", "When ", "Then ", "And ", "But "]
            .iter()
            .find_map(|k| line.strip_prefix(k))
            .unwrap_or(line);
        let seconds = |text: &str| -> Result<u64, String> {
            let n: f64 = text
                .parse()
                .map_err(|_| format!("line {number}: {text:?} is not a number of seconds"))?;
            if n.is_finite() && (0.0..=86_400.0).contains(&n) {
                Ok((n * 1000.0).round() as u64)
            } else {
                Err(format!("line {number}: {text:?} seconds is out of range"))
            }
        };
        fn within(rest: &str) -> Option<&str> {
            rest.strip_prefix("within ").and_then(|r| {
                r.strip_suffix(" seconds")
                    .or_else(|| r.strip_suffix(" second"))
            })
        }
        let step = if let Some(n) = words
            .strip_suffix(" seconds pass")
            .or_else(|| words.strip_suffix(" second passes"))
        {
            ScriptStep::Wait(seconds(n)?)
        } else if words == format!("{me} starts an audio call to {peer}") {
            ScriptStep::Call(CallMediaType::Audio)
        } else if words == format!("{me} starts a video call to {peer}") {
            ScriptStep::Call(CallMediaType::Video)
        } else if words == format!("{me} answers the call through CallKit") {
            ScriptStep::Answer(AnswerWith::CallKit)
        } else if words == format!("{me} accepts the call in the app") {
            ScriptStep::Answer(AnswerWith::App)
        } else if words == format!("{me} declines the call through CallKit")
            || words == format!("{me} rejects the call in the app")
        {
            ScriptStep::Answer(AnswerWith::Decline)
        } else if words == format!("{me} ends the call") {
            ScriptStep::End
        } else if let Some(n) = words
            .strip_prefix(&format!("{me}'s phone rings "))
            .and_then(within)
        {
            ScriptStep::Rings(seconds(n)?)
        } else if let Some(n) = [
            format!("the call between {me} and {peer} connects "),
            format!("the call between {peer} and {me} connects "),
        ]
        .iter()
        .find_map(|p| words.strip_prefix(p.as_str()))
        .and_then(within)
        {
            ScriptStep::Connects(seconds(n)?)
        } else if let Some(n) = words
            .strip_prefix(&format!("{me}'s call ends "))
            .and_then(within)
        {
            ScriptStep::Ends(seconds(n)?)
        } else {
            return Err(format!(
                "line {number}: {line:?} is not a step this phone takes; it takes: N seconds pass, \
                 {me} starts an audio|video call to {peer}, {me} answers the call through CallKit, \
                 {me} accepts the call in the app, {me} declines the call through CallKit, {me} \
                 rejects the call in the app, {me} ends the call, {me}'s phone rings within N \
                 seconds, the call between {me} and {peer} connects within N seconds, {me}'s call \
                 ends within N seconds"
            ));
        };
        steps.push((number, step));
    }
    Ok(steps)
}

/// A fault on the phone's own sends, by message kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendFault {
    /// Messages of this kind are never sent.
    Drop(MessageKind),
    /// Messages of this kind are sent this many ms late.
    Delay(MessageKind, u64),
    /// Messages of this kind are held until [`PhoneOptions::release_after_ms`] (forever
    /// without it), then sent in order.
    Hold(MessageKind),
}

/// Messages a hold or delay fault keeps back, each with when it goes (ms since the start;
/// `None`: never), in the order the phone sent them. The run loop sends what is due.
#[derive(Default)]
struct KeptBack(Mutex<Vec<(Option<u64>, String)>>);

impl KeptBack {
    fn keep(&self, due: Option<u64>, body: String) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((due, body));
    }

    /// Takes what is due at `t`, in order.
    fn due(&self, t: u64) -> Vec<String> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *kept)
            .into_iter()
            .partition(|(at, _)| at.is_some_and(|at| at <= t));
        *kept = later;
        due.into_iter().map(|(_, body)| body).collect()
    }
}

impl Default for PhoneOptions {
    fn default() -> Self {
        PhoneOptions {
            name: "Alice".into(),
            peer: "Bob".into(),
            seed: 1,
            call: None,
            answer: AnswerWith::CallKit,
            answer_after_ms: 0,
            hang_up_after_ms: None,
            callkit: true,
            china: false,
            relay_only: true,
            bind: IpAddr::from([127, 0, 0, 1]),
            timeout_ms: 60_000,
            max_line: 1 << 20,
            expect_connect: None,
            script: Vec::new(),
            faults: Vec::new(),
            media_loss_pct: 0.0,
            release_after_ms: None,
            ports: None,
            turn: None,
        }
    }
}

/// How the call went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The phone rang (a callee) or called (a caller).
    pub rang: bool,
    /// The call connected.
    pub connected: bool,
    /// The phone was idle at the end (no call, no CallKit call, no incoming view).
    pub ended: bool,
    /// Input lines that were not messages.
    pub bad_lines: u64,
    /// Messages the chat core refused.
    pub refused_messages: u64,
    /// The last call item with the peer.
    pub item: Option<String>,
    /// WebRTC counters.
    pub stats: RtcStats,
    /// Whether the call did what was asked (connected and ended; declined or unanswered calls:
    /// ended without connecting).
    pub ok: bool,
    /// The outcome in words.
    pub outcome: String,
    /// How long the phone ran, ms.
    pub duration_ms: u64,
}

type Events = Arc<Mutex<Box<dyn Write + Send>>>;

fn emit(events: &Events, value: &impl Serialize) {
    let mut out = events.lock().unwrap_or_else(PoisonError::into_inner);
    if let Ok(line) = serde_json::to_string(value) {
        // An events sink that went away must not stop the call.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Event<'a> {
    Stats {
        t: u64,
        stats: &'a RtcStats,
    },
    Error {
        t: u64,
        line: u64,
        error: String,
    },
    Summary {
        t: u64,
        #[serde(flatten)]
        summary: &'a Summary,
    },
    Fault {
        t: u64,
        kind: &'a str,
        fault: String,
    },
    Step {
        t: u64,
        line: usize,
        result: &'a str,
    },
    /// The TURN server relay-only calls use; `started`: this phone's own.
    Turn {
        t: u64,
        url: String,
        started: bool,
    },
}

struct EventTracer {
    name: String,
    peer: String,
    events: Events,
    refused: Arc<Mutex<u64>>,
}

impl Tracer for EventTracer {
    fn input(&mut self, now: Timestamp, input: &Input) {
        let record = TraceRecord::new(
            now,
            TraceEvent::Input {
                phone: self.name.clone(),
                input: input.clone(),
            },
        );
        emit(&self.events, &record);
    }

    fn output(&mut self, now: Timestamp, output: &Output) {
        if matches!(output, Output::Timeout(_)) {
            return;
        }
        if let Output::Send {
            kind, body, notify, ..
        } = output
        {
            let sent = TraceEvent::RelaySend {
                from: self.name.clone(),
                to: self.peer.clone(),
                kind: *kind,
                notify: *notify,
                bytes: body.len(),
            };
            emit(&self.events, &TraceRecord::new(now, sent));
        }
        // A message the core refused: an error of its own, or a parse error saved as a
        // message-error item (CIRcvMsgError).
        let refused = match output {
            Output::Chat(CoreEvent::MessageError { text, .. }) => Some(text.clone()),
            Output::Chat(CoreEvent::NewChatItem(item)) => match &item.content {
                callsim_engine::chat::ItemContent::MsgError(text) => Some(text.clone()),
                _ => None,
            },
            _ => None,
        };
        if let Some(text) = refused {
            *self.refused.lock().unwrap_or_else(PoisonError::into_inner) += 1;
            let error = Event::Error {
                t: now.0,
                line: 0,
                error: format!("the chat core refused a message: {text}"),
            };
            emit(&self.events, &error);
        }
        let record = TraceRecord::new(
            now,
            TraceEvent::Output {
                phone: self.name.clone(),
                output: output.clone(),
            },
        );
        emit(&self.events, &record);
    }
}

/// The relay connection: each message a line on the output, after the phone's own faults.
struct LineSmp {
    name: String,
    peer: String,
    lines: std::sync::mpsc::Sender<String>,
    faults: Vec<SendFault>,
    events: Events,
    kept: Arc<KeptBack>,
    release_after_ms: Option<u64>,
}

impl SmpClient for LineSmp {
    fn send(
        &mut self,
        now: Timestamp,
        _: ContactId,
        body: String,
        notify: bool,
        kind: MessageKind,
    ) {
        for fault in &self.faults {
            match *fault {
                SendFault::Drop(k) if k == kind => {
                    emit(
                        &self.events,
                        &Event::Fault {
                            t: now.0,
                            kind: kind.as_str(),
                            fault: "dropped".into(),
                        },
                    );
                    return;
                }
                SendFault::Hold(k)
                    if k == kind && self.release_after_ms.is_none_or(|at| now.0 < at) =>
                {
                    emit(
                        &self.events,
                        &Event::Fault {
                            t: now.0,
                            kind: kind.as_str(),
                            fault: "held".into(),
                        },
                    );
                    self.kept.keep(self.release_after_ms, body);
                    return;
                }
                SendFault::Delay(k, ms) if k == kind => {
                    emit(
                        &self.events,
                        &Event::Fault {
                            t: now.0,
                            kind: kind.as_str(),
                            fault: format!("delayed {ms} ms"),
                        },
                    );
                    self.kept.keep(Some(now.0 + ms), body);
                    return;
                }
                _ => {}
            }
        }
        // Recorded as sent only when it goes now (not dropped, held or delayed).
        let sent = TraceEvent::RelaySend {
            from: self.name.clone(),
            to: self.peer.clone(),
            kind,
            notify,
            bytes: body.len(),
        };
        emit(&self.events, &TraceRecord::new(now, sent));
        // A closed output is the peer gone: the call finds out as it would on a dead link.
        let _ = self.lines.send(body);
    }
}

enum Line {
    Text(String),
    Bad(u64, String),
    End,
}

/// Reads lines, checks each is one JSON object within `max_line` bytes, and hands them on.
fn read_lines(
    mut input: Box<dyn BufRead + Send>,
    max_line: usize,
    to: tokio::sync::mpsc::UnboundedSender<Line>,
) {
    let mut number = 0;
    loop {
        let mut bytes = Vec::new();
        number += 1;
        match input.read_until(b'\n', &mut bytes) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                let _ = to.send(Line::Bad(number, format!("cannot read the input: {e}")));
                break;
            }
        }
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        if bytes.is_empty() {
            continue;
        }
        let line = if bytes.len() > max_line {
            Line::Bad(
                number,
                format!(
                    "line of {} bytes, longer than the {max_line} accepted",
                    bytes.len()
                ),
            )
        } else {
            match String::from_utf8(bytes) {
                Err(_) => Line::Bad(number, "not UTF-8".into()),
                Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(serde_json::Value::Object(_)) => Line::Text(text),
                    Ok(_) => Line::Bad(number, "not a JSON object (a chat message is one)".into()),
                    Err(e) => Line::Bad(number, format!("not JSON: {e}")),
                },
            }
        };
        if to.send(line).is_err() {
            return;
        }
    }
    let _ = to.send(Line::End);
}

/// Runs the phone until its call is over (or the input ends), on a runtime of its own.
pub fn run_blocking(
    options: &PhoneOptions,
    input: Box<dyn BufRead + Send>,
    output: Box<dyn Write + Send>,
    events: Box<dyn Write + Send>,
) -> Result<Summary, String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let events: Events = Arc::new(Mutex::new(events));
    let (line_tx, line_rx) = tokio::sync::mpsc::unbounded_channel();
    let max_line = options.max_line;
    std::thread::spawn(move || read_lines(input, max_line, line_tx));
    let (out_tx, out_rx) = std::sync::mpsc::channel::<String>();
    let writer = std::thread::spawn(move || {
        let mut output = output;
        for line in out_rx {
            if writeln!(output, "{line}")
                .and_then(|()| output.flush())
                .is_err()
            {
                return;
            }
        }
    });
    // SimpleX's relay-only policy needs a TURN server: this phone's own, unless one is given.
    let turn = match &options.turn {
        Some(turn) => Some(turn.clone()),
        None if options.relay_only => {
            let users = vec![(TURN_USERNAME.to_owned(), TURN_PASSWORD.to_owned())];
            let listen = SocketAddr::new(options.bind, 0);
            let (addr, _server) = runtime
                .block_on(async {
                    spawn_real(listen, options.bind, users, TurnCounters::default()).await
                })
                .map_err(|e| format!("cannot start the TURN server on {}: {e}", options.bind))?;
            Some(TurnServerConfig::simplex(addr))
        }
        None => None,
    };
    if let Some(turn) = turn.as_ref().filter(|_| options.relay_only) {
        emit(
            &events,
            &Event::Turn {
                t: 0,
                url: turn.url(),
                started: options.turn.is_none(),
            },
        );
    }
    let summary = runtime.block_on(run(options, turn, events.clone(), line_rx, out_tx));
    // The writer ends once every sender is gone; the input thread may still block on a read,
    // and is left to the process's end.
    let _ = writer.join();
    emit(
        &events,
        &Event::Summary {
            t: summary.duration_ms,
            summary: &summary,
        },
    );
    Ok(summary)
}

async fn run(
    options: &PhoneOptions,
    turn: Option<TurnServerConfig>,
    events: Events,
    mut lines: tokio::sync::mpsc::UnboundedReceiver<Line>,
    out: std::sync::mpsc::Sender<String>,
) -> Summary {
    // Real time on purpose: this phone runs on the real network, outside any simulation.
    let origin = tokio::time::Instant::now();
    let now = || Timestamp(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX));
    let (inbox, receiver) = driver::channel();
    let shared: Arc<dyn Inbox> = Arc::new(inbox.clone());
    let mut config = PhoneConfig::new(&options.name, options.seed);
    config.relay_policy = options.relay_only;
    config.callkit_enabled = options.callkit;
    let mut platform = FakePlatform {
        callkit_enabled: options.callkit,
        ..FakePlatform::default()
    };
    if options.china {
        config.country = "CHN".into();
        platform.country = "CHN".into();
    }
    let audio = Shared::new(FakeAudioSession::new(config.use_callkit()));
    let callkit = CallKitBackend::new(audio.clone(), shared.clone());
    let platform = PlatformBackend::new(platform, shared.clone());
    let stats = Shared::new(RtcStats::default());
    let (rtc, _control, engine) = realrtc::engine(RealRtcTask {
        name: options.name.clone(),
        seed: options.seed,
        inbox: shared.clone(),
        stats: stats.clone(),
        encryption: true,
        wrong_key: crate::rtc::WrongKey::default(),
        platform: callsim_engine::crypto::MediaPlatform::Ios,
        network: Network::Bound {
            ip: options.bind,
            faults: media_faults(options),
            ports: options.ports,
        },
        turn,
    });
    tokio::spawn(engine);
    let refused = Arc::new(Mutex::new(0));
    let kept = Arc::new(KeptBack::default());
    let backends = Backends {
        callkit: Box::new(callkit.clone()),
        audio: Box::new(audio),
        webrtc: Box::new(rtc),
        smp: Box::new(LineSmp {
            name: options.name.clone(),
            peer: options.peer.clone(),
            lines: out.clone(),
            kept: kept.clone(),
            release_after_ms: options.release_after_ms,
            faults: options.faults.clone(),
            events: events.clone(),
        }),
        ringer: Box::new(Shared::new(FakeRinger::new())),
        permissions: Box::new(PermissionsBackend::new(
            FakePermissions::default(),
            shared.clone(),
        )),
        platform: Box::new(platform.clone()),
    };
    let mut phone = Phone::new(config);
    phone.add_contact(PEER, &options.peer);
    let driver =
        Driver::new(phone, backends, receiver, Timestamp(0)).with_tracer(Box::new(EventTracer {
            name: options.name.clone(),
            peer: options.peer.clone(),
            events: events.clone(),
            refused: refused.clone(),
        }));
    let view = driver.phone();
    let task = tokio::spawn(driver.run());
    inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
    tokio::time::sleep(Duration::from_millis(50)).await;

    let state = || {
        let phone = view.lock().unwrap_or_else(PoisonError::into_inner);
        let call = phone.app().active_call().map(|c| c.state);
        let incoming = phone.app().incoming_view().is_some();
        (call, incoming)
    };
    let ringing = || callkit.fake.lock().ringing().is_some() || state().1;
    let idle = || {
        let (call, incoming) = state();
        call.is_none() && !incoming && callkit.fake.lock().live_calls() == 0
    };
    let mut started = options.call.is_some();
    if let Some(media) = options.call {
        inbox.deliver(
            0,
            Input::User(UserAction::StartCall {
                contact_id: PEER,
                media,
            }),
        );
    }
    let begun = now();
    let mut acted_at = started.then_some(begun);
    let mut rang_at: Option<Timestamp> = None;
    let (mut step_at, mut step_since) = (0usize, begun);
    let mut script_failed: Option<String> = None;
    let (mut rang, mut answered, mut connected, mut hung_up, mut input_over) =
        (false, false, false, false, false);
    let mut bad_lines = 0;
    let mut msg_id = 0;
    let mut next_stats = 1_000;
    let mut idle_since: Option<Timestamp> = None;
    loop {
        while let Ok(line) = lines.try_recv() {
            match line {
                Line::Text(body) => {
                    msg_id += 1;
                    let input = Input::Message {
                        contact_id: PEER,
                        broker_ts: now(),
                        msg_id,
                        body,
                    };
                    inbox.deliver(0, input);
                }
                Line::Bad(number, error) => {
                    bad_lines += 1;
                    emit(
                        &events,
                        &Event::Error {
                            t: now().0,
                            line: number,
                            error,
                        },
                    );
                }
                Line::End => {
                    input_over = true;
                    // The peer's stream is gone, as a dead relay link: end what is going on.
                    if !idle() && !hung_up {
                        hung_up = true;
                        end(&inbox, &callkit, now());
                    }
                }
            }
        }
        let t = now();
        let due = kept.due(t.0);
        if !due.is_empty() {
            emit(
                &events,
                &Event::Fault {
                    t: t.0,
                    kind: "",
                    fault: format!("released {} held message(s)", due.len()),
                },
            );
            for message in due {
                let _ = out.send(message);
            }
        }
        if t.0 >= next_stats {
            next_stats += 1_000;
            let snapshot = stats.lock().clone();
            emit(
                &events,
                &Event::Stats {
                    t: t.0,
                    stats: &snapshot,
                },
            );
        }
        if let Some(&(line, step)) = options.script.get(step_at) {
            let result = script_step(
                step, t, step_since, &inbox, &callkit, &ringing, &idle, &state,
            );
            match result {
                Some(Ok(())) => {
                    emit(
                        &events,
                        &Event::Step {
                            t: t.0,
                            line,
                            result: "done",
                        },
                    );
                    match step {
                        ScriptStep::Call(_) => {
                            started = true;
                            acted_at = Some(t);
                        }
                        ScriptStep::Answer(_) => answered = true,
                        ScriptStep::Rings(_) => {
                            started = true;
                            rang = true;
                        }
                        _ => {}
                    }
                    step_at += 1;
                    step_since = t;
                }
                Some(Err(why)) => {
                    emit(
                        &events,
                        &Event::Step {
                            t: t.0,
                            line,
                            result: "failed",
                        },
                    );
                    emit(
                        &events,
                        &Event::Error {
                            t: t.0,
                            line: 0,
                            error: format!("script line {line}: {why}"),
                        },
                    );
                    script_failed = Some(format!("script line {line}: {why}"));
                    step_at = options.script.len();
                }
                None => {}
            }
        }
        if options.script.is_empty() && options.call.is_none() && rang_at.is_none() && ringing() {
            rang_at = Some(t);
            rang = true;
            started = true;
        }
        if options.call.is_some() && state().0.is_some() {
            rang = true;
        }
        if options.script.is_empty() && ringing() {
            rang = true;
        }
        if !options.script.is_empty() && (ringing() || state().0.is_some()) {
            rang = true;
            started = true;
        }
        if let Some(at) = rang_at
            && options.script.is_empty()
            && !answered
            && t.0 >= at.0 + options.answer_after_ms
        {
            answered = true;
            acted_at = Some(t);
            answer(options.answer, &inbox, &callkit, t);
        }
        if state().0 == Some(AppCallState::Connected) {
            connected = true;
        }
        if let (Some(after), Some(at), false) = (options.hang_up_after_ms, acted_at, hung_up)
            && options.script.is_empty()
            && (options.call.is_some() || answered)
            && t.0 >= at.0 + after
        {
            hung_up = true;
            end(&inbox, &callkit, t);
        }
        let quiet = started && idle();
        match (quiet, idle_since) {
            (true, None) => idle_since = Some(t),
            (false, _) => idle_since = None,
            _ => {}
        }
        let settled = idle_since.is_some_and(|since| t.0 >= since.0 + 500);
        let waited_out = t.0 >= begun.0 + options.timeout_ms;
        // Done: the call is over and the phone idle; or the input ended before any call; or
        // the time is up.
        let script_over = step_at >= options.script.len();
        if (settled && script_over) || (input_over && !started) || waited_out {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ended = idle();
    inbox.shutdown();
    let report = task.await.ok();
    let item = report
        .as_ref()
        .and_then(|r| r.phone.core().last_call_item(PEER).map(|i| i.to_string()));
    let expect_connect = options.expect_connect;
    let refused_messages = *refused.lock().unwrap_or_else(PoisonError::into_inner);
    let ok = rang
        && ended
        && script_failed.is_none()
        && expect_connect.is_none_or(|expected| connected == expected);
    let outcome = if let Some(why) = script_failed {
        why
    } else if !rang {
        "no call: nothing rang and no call was made".to_owned()
    } else if connected {
        format!(
            "connected, then {}",
            if ended {
                "ended"
            } else {
                "still in the call at the timeout"
            }
        )
    } else {
        format!(
            "did not connect; {}",
            if ended {
                "ended"
            } else {
                "still in the call at the timeout"
            }
        )
    };
    Summary {
        rang,
        connected,
        ended,
        bad_lines,
        refused_messages,
        item,
        stats: stats.lock().clone(),
        ok,
        outcome,
        duration_ms: now().0,
    }
}

/// The loss of the phone's own media sends, if any.
fn media_faults(options: &PhoneOptions) -> Option<crate::rtc::real::runtime::MediaFaults> {
    if options.media_loss_pct <= 0.0 {
        return None;
    }
    let mut state = crate::loss::LossState::new(options.seed ^ 0x4C4F_5353);
    state.set(crate::loss::Loss::Random {
        rate: (options.media_loss_pct / 100.0).clamp(0.0, 1.0),
    });
    let state = Mutex::new(state);
    Some(Arc::new(move |_, _| {
        state.lock().unwrap_or_else(PoisonError::into_inner).drops()
    }))
}

/// One script step at `t`: `Some(Ok)` when done, `Some(Err)` when its check failed, `None`
/// while it waits.
#[allow(clippy::too_many_arguments)]
fn script_step(
    step: ScriptStep,
    t: Timestamp,
    since: Timestamp,
    inbox: &driver::DriverInbox,
    callkit: &CallKitBackend,
    ringing: &dyn Fn() -> bool,
    idle: &dyn Fn() -> bool,
    state: &dyn Fn() -> (Option<AppCallState>, bool),
) -> Option<Result<(), String>> {
    let waited = t.0.saturating_sub(since.0);
    let within = |ms: u64, done: bool, what: &str| {
        if done {
            Some(Ok(()))
        } else if waited > ms {
            Some(Err(format!("{what} within {} s", ms as f64 / 1000.0)))
        } else {
            None
        }
    };
    match step {
        ScriptStep::Wait(ms) => (waited >= ms).then_some(Ok(())),
        ScriptStep::Call(media) => {
            inbox.deliver(
                0,
                Input::User(UserAction::StartCall {
                    contact_id: PEER,
                    media,
                }),
            );
            Some(Ok(()))
        }
        ScriptStep::Answer(how) => {
            answer(how, inbox, callkit, t);
            Some(Ok(()))
        }
        ScriptStep::End => {
            end(inbox, callkit, t);
            Some(Ok(()))
        }
        ScriptStep::Rings(ms) => within(ms, ringing(), "the phone did not ring"),
        ScriptStep::Connects(ms) => within(
            ms,
            state().0 == Some(AppCallState::Connected),
            "the call did not connect",
        ),
        ScriptStep::Ends(ms) => within(ms, idle(), "the call did not end"),
    }
}

fn answer(how: AnswerWith, inbox: &driver::DriverInbox, callkit: &CallKitBackend, now: Timestamp) {
    let ringing_on_callkit = callkit.fake.lock().ringing().is_some();
    match how {
        AnswerWith::CallKit if ringing_on_callkit => {
            callkit.user_answers(now);
        }
        AnswerWith::CallKit | AnswerWith::App => {
            inbox.deliver(0, Input::User(UserAction::AcceptCall { contact_id: PEER }));
        }
        AnswerWith::Decline if ringing_on_callkit => {
            callkit.user_ends(now);
        }
        AnswerWith::Decline => {
            inbox.deliver(0, Input::User(UserAction::RejectCall { contact_id: PEER }));
        }
        AnswerWith::None => {}
    }
}

/// The end button of what shows: the app's call, or CallKit's own screen.
fn end(inbox: &driver::DriverInbox, callkit: &CallKitBackend, now: Timestamp) {
    inbox.deliver(0, Input::User(UserAction::EndCall));
    let ringing = callkit.fake.lock().ringing().is_some();
    if ringing {
        callkit.user_ends(now);
    }
}

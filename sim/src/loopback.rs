//! A call on the real network: two driven phones in one process, [`RealRtc`] over real UDP
//! sockets on 127.0.0.1 under the ambient tokio runtime, and an in-process relay.
//!
//! This is the world's call with the simulation taken away: the same phones, fakes and
//! engine, real time and the kernel's loopback. It shows the stack outside turmoil (its
//! timers and the operating system's sockets) and prints the same timeline; nothing in it is
//! reproducible by seed, and a call of `talk` seconds takes that long.
//!
//! [`RealRtc`]: crate::rtc::real::RealRtc

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use callsim_engine::app::AppCallState;
use callsim_engine::backend::{Inbox, SmpClient};
use callsim_engine::driver::{self, Backends, Driver, Tracer};
use callsim_engine::ids::ContactId;
use callsim_engine::io::webrtc::{ConnectionInfo, WebRtcResponse};
use callsim_engine::io::{
    Input, LifecycleEvent, MessageKind, Output, PhoneConfig, UiEvent, UserAction,
};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::{CallMediaType, Timestamp};
use callsim_mocks::backends::{
    CallKitBackend, FakePermissions, FakePlatform, InProcessRelay, PermissionsBackend,
    PlatformBackend, RelayClient, Shared,
};
use callsim_mocks::relay::contact_id;
use callsim_mocks::{FakeAudioSession, FakeRinger};

use std::net::{IpAddr, SocketAddr};

use crate::rtc::RtcStats;
use crate::rtc::real::{self as realrtc, Network, RealRtcTask};
use crate::rtc::real_turn::{TURN_PASSWORD, TURN_USERNAME, TurnServerConfig};
use crate::rtc::turn_serve::{TurnCounters, spawn_real};
use crate::trace::{TraceEvent, TraceRecord};

/// How the callee answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// On the CallKit screen as soon as it rings.
    CallKit,
    /// On the in-app incoming call view (the callee has CallKit off).
    App,
    /// Never: the caller waits `talk`, then hangs up.
    Never,
}

/// One call on the real network.
#[derive(Debug, Clone)]
pub struct LoopbackCall {
    /// The caller's and callee's names.
    pub names: [String; 2],
    /// Media of the call.
    pub media: CallMediaType,
    /// How long to talk once connected (or to wait, unanswered), in ms.
    pub talk_ms: u64,
    /// How the callee answers.
    pub answer: Answer,
    /// Seeds the phones (call ids, keys) and the engines' own choices.
    pub seed: u64,
    /// One-way latency of each phone's link to the in-process relay, in ms.
    pub relay_latency_ms: u64,
    /// Which phones use the relay-only ICE policy (SimpleX's default): their media goes
    /// through a real TURN server this call starts on 127.0.0.1.
    pub relay_only: [bool; 2],
}

/// What happened.
#[derive(Debug, Clone)]
pub struct LoopbackOutcome {
    /// Every phone input and output, and the relay's sends and deliveries, in time order.
    pub trace: Vec<TraceRecord>,
    /// The callee's phone rang.
    pub rang: bool,
    /// When both phones were connected, since the start.
    pub connected_at: Option<Timestamp>,
    /// Each phone's last call item with the other.
    pub items: [Option<String>; 2],
    /// Each phone's WebRTC counters.
    pub stats: [RtcStats; 2],
    /// Backend panics across both drivers (0 unless something is broken).
    pub backend_panics: u64,
    /// The TURN server's address, when a phone relayed.
    pub turn: Option<std::net::SocketAddr>,
    /// The TURN server's relayed addresses: handed out, and still held once both phones
    /// were idle (0: each client released its own when its call closed).
    pub turn_allocations: (usize, usize),
}

impl LoopbackOutcome {
    /// The candidate pair the phone's WebRTC client reported when the call connected.
    pub fn connection_info(&self, phone: &str) -> Option<ConnectionInfo> {
        self.trace
            .iter()
            .rev()
            .find_map(|record| match &record.event {
                TraceEvent::Input {
                    phone: name,
                    input:
                        Input::WebRtc {
                            response: WebRtcResponse::Connected { connection_info },
                            ..
                        },
                } if name == phone => Some(*connection_info),
                _ => None,
            })
    }
}

type Trace = Arc<Mutex<Vec<TraceRecord>>>;

fn record(trace: &Trace, t: Timestamp, event: TraceEvent) {
    trace
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(TraceRecord::new(t, event));
}

struct LoopbackTracer {
    name: String,
    peer: String,
    trace: Trace,
}

impl Tracer for LoopbackTracer {
    fn input(&mut self, now: Timestamp, input: &Input) {
        if let Input::Message { body, msg_id, .. } = input {
            // The relay's delivery, seen where it lands: a chat message names its event, and
            // anything else the agent sends is a receipt.
            let kind = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("event")
                        .and_then(|e| e.as_str())
                        .and_then(MessageKind::from_tag)
                })
                .unwrap_or(MessageKind::Receipt);
            let event = TraceEvent::RelayDeliver {
                from: self.peer.clone(),
                to: self.name.clone(),
                kind,
                id: *msg_id,
            };
            record(&self.trace, now, event);
        }
        let event = TraceEvent::Input {
            phone: self.name.clone(),
            input: input.clone(),
        };
        record(&self.trace, now, event);
    }

    fn output(&mut self, now: Timestamp, output: &Output) {
        if !matches!(output, Output::Timeout(_)) {
            let event = TraceEvent::Output {
                phone: self.name.clone(),
                output: output.clone(),
            };
            record(&self.trace, now, event);
        }
    }
}

/// The relay client, recording each send as the world's relay does.
struct TracedSmp {
    inner: RelayClient,
    name: String,
    peer: String,
    trace: Trace,
}

impl SmpClient for TracedSmp {
    fn send(
        &mut self,
        now: Timestamp,
        contact_id: ContactId,
        body: String,
        notify: bool,
        event: MessageKind,
    ) {
        let sent = TraceEvent::RelaySend {
            from: self.name.clone(),
            to: self.peer.clone(),
            kind: event,
            notify,
            bytes: body.len(),
        };
        record(&self.trace, now, sent);
        self.inner.send(now, contact_id, body, notify, event);
    }
}

struct PhoneParts {
    inbox: driver::DriverInbox,
    callkit: CallKitBackend,
    platform: PlatformBackend,
    stats: Shared<RtcStats>,
    task: tokio::task::JoinHandle<driver::DriverReport>,
}

impl PhoneParts {
    /// The call state the phone showed last: `None` before any call.
    fn call_state(&self) -> Option<Option<AppCallState>> {
        let platform = self.platform.fake.lock();
        platform.ui.iter().rev().find_map(|(_, e)| match e {
            UiEvent::CallState { state, .. } => Some(*state),
            _ => None,
        })
    }

    fn connected(&self) -> bool {
        self.call_state() == Some(Some(AppCallState::Connected))
    }

    fn idle(&self) -> bool {
        self.call_state().is_none_or(|state| state.is_none())
    }

    fn ringing(&self) -> bool {
        self.callkit.fake.lock().ringing().is_some()
            || self
                .platform
                .fake
                .lock()
                .ui
                .iter()
                .any(|(_, e)| matches!(e, UiEvent::IncomingCallShown { .. }))
    }
}

async fn wait_for(ms: u64, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..ms / 10 {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

impl LoopbackCall {
    /// Runs the call on a tokio runtime of its own (time and I/O on, one thread).
    pub fn run_blocking(&self) -> Result<LoopbackOutcome, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
        runtime.block_on(self.run())
    }

    /// Runs the call; needs a tokio runtime with time and I/O enabled.
    pub async fn run(&self) -> Result<LoopbackOutcome, String> {
        let trace: Trace = Arc::default();
        let relay = InProcessRelay::new(self.relay_latency_ms, 300);
        // Real time on purpose: this call runs on the real network, outside any simulation.
        let origin = tokio::time::Instant::now();
        let now = || Timestamp(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX));
        let counters = TurnCounters::default();
        let turn = if self.relay_only.contains(&true) {
            match start_turn(counters.clone()).await {
                Ok(config) => Some(config),
                Err(error) => return Err(format!("cannot start the TURN server: {error}")),
            }
        } else {
            None
        };
        let mut phones = Vec::new();
        for id in 0..2 {
            let (name, peer) = (&self.names[id], &self.names[1 - id]);
            let (inbox, receiver) = driver::channel();
            let shared: Arc<dyn Inbox> = Arc::new(inbox.clone());
            let mut config = PhoneConfig::new(name, self.seed.wrapping_add(id as u64));
            config.relay_policy = self.relay_only[id];
            let mut platform = FakePlatform::default();
            if id == 1 && self.answer == Answer::App {
                config.callkit_enabled = false;
                platform.callkit_enabled = false;
            }
            let audio = Shared::new(FakeAudioSession::new(config.use_callkit()));
            let callkit = CallKitBackend::new(audio.clone(), shared.clone());
            let platform = PlatformBackend::new(platform, shared.clone());
            let stats = Shared::new(RtcStats::default());
            let (rtc, _control, engine) = realrtc::engine(RealRtcTask {
                name: name.clone(),
                seed: self.seed.wrapping_add(id as u64),
                inbox: shared.clone(),
                stats: stats.clone(),
                encryption: true,
                wrong_key: crate::rtc::WrongKey::default(),
                platform: callsim_engine::crypto::MediaPlatform::Ios,
                network: Network::Loopback,
                turn: turn.clone(),
            });
            tokio::spawn(engine);
            let backends = Backends {
                callkit: Box::new(callkit.clone()),
                audio: Box::new(audio),
                webrtc: Box::new(rtc),
                smp: Box::new(TracedSmp {
                    inner: relay.client(id, shared.clone()),
                    name: name.clone(),
                    peer: peer.clone(),
                    trace: trace.clone(),
                }),
                ringer: Box::new(Shared::new(FakeRinger::new())),
                permissions: Box::new(PermissionsBackend::new(
                    FakePermissions::default(),
                    shared.clone(),
                )),
                platform: Box::new(platform.clone()),
            };
            let mut phone = Phone::new(config);
            phone.add_contact(contact_id(1 - id), peer);
            let driver = Driver::new(phone, backends, receiver, Timestamp(0)).with_tracer(
                Box::new(LoopbackTracer {
                    name: name.clone(),
                    peer: peer.clone(),
                    trace: trace.clone(),
                }),
            );
            let task = tokio::spawn(driver.run());
            inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
            phones.push(PhoneParts {
                inbox,
                callkit,
                platform,
                stats,
                task,
            });
        }
        // The phones subscribe and settle before the call, as in the world.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let start = UserAction::StartCall {
            contact_id: contact_id(1),
            media: self.media,
        };
        phones[0].inbox.deliver(0, Input::User(start));
        let rang = wait_for(10_000, || phones[1].ringing()).await;
        match self.answer {
            Answer::CallKit if rang => {
                phones[1].callkit.user_answers(now());
            }
            Answer::App if rang => {
                let accept = UserAction::AcceptCall {
                    contact_id: contact_id(0),
                };
                phones[1].inbox.deliver(0, Input::User(accept));
            }
            _ => {}
        }
        let connected = self.answer != Answer::Never
            && rang
            && wait_for(30_000, || phones[0].connected() && phones[1].connected()).await;
        let connected_at = connected.then(now);
        tokio::time::sleep(Duration::from_millis(self.talk_ms)).await;
        phones[0].inbox.deliver(0, Input::User(UserAction::EndCall));
        wait_for(5_000, || phones.iter().all(PhoneParts::idle)).await;
        // Late responses (the peer's end) land before the drivers stop.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut items = [None, None];
        let mut stats = [RtcStats::default(), RtcStats::default()];
        let mut backend_panics = 0;
        for (id, parts) in phones.into_iter().enumerate() {
            parts.inbox.shutdown();
            stats[id] = parts.stats.lock().clone();
            if let Ok(report) = parts.task.await {
                backend_panics += report.backend_panics;
                items[id] = report
                    .phone
                    .core()
                    .last_call_item(contact_id(1 - id))
                    .map(|i| i.to_string());
            }
        }
        let mut trace = std::mem::take(&mut *trace.lock().unwrap_or_else(PoisonError::into_inner));
        trace.sort_by_key(|r| r.t);
        Ok(LoopbackOutcome {
            trace,
            rang,
            connected_at,
            items,
            stats,
            backend_panics,
            turn: turn.map(|t| t.addr),
            turn_allocations: (counters.allocated(), counters.live()),
        })
    }
}

/// Starts a real TURN server on 127.0.0.1 (a port the system picks) on the ambient runtime.
pub async fn start_turn(counters: TurnCounters) -> std::io::Result<TurnServerConfig> {
    let loopback = IpAddr::from([127, 0, 0, 1]);
    let users = vec![(TURN_USERNAME.to_owned(), TURN_PASSWORD.to_owned())];
    let (addr, _server) =
        spawn_real(SocketAddr::new(loopback, 0), loopback, users, counters).await?;
    Ok(TurnServerConfig::simplex(addr))
}

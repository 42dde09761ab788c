//! A phone's host in the turmoil world: what runs inside it (the driver, the SMP client, the
//! WebRTC engine) and the platform pieces the world observes it through.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callsim_engine::backend::{Inbox as _, Platform};
use callsim_engine::chat::CoreEvent;
use callsim_engine::crypto::MediaPlatform;
use callsim_engine::driver::{self, Driver, DriverInbox, SharedPhone, Tracer};
use callsim_engine::io::{Input, LifecycleCommand, LifecycleEvent, Output, Permission, UiEvent};
use callsim_engine::protocol::Timestamp;
use callsim_mocks::backends::{CallKitBackend, PermissionsBackend, Shared};
use callsim_mocks::{FakeAudioSession, FakeRinger};
use tokio::sync::{mpsc, watch};

use super::rtc::SimRtcTask;
use super::shared::{self, SharedWorld, lock};
use super::{PhoneObservations, smp};
use crate::PhoneId;
use crate::rtc::{RtcControl, RtcStats, WrongKey};
use crate::trace::TraceEvent;

/// The platform of a phone in the world: starts and suspends the chat (and with it the SMP
/// connection), and records the UI.
pub(super) struct WorldPlatform {
    pub(super) chat: Arc<watch::Sender<bool>>,
    pub(super) chat_start_ms: Arc<AtomicU64>,
    /// How often the chat was suspended or the app killed: a start asked before is void.
    pub(super) suspensions: Arc<AtomicU64>,
    pub(super) inbox: DriverInbox,
    pub(super) seen: Shared<PhoneObservations>,
}

impl Platform for WorldPlatform {
    fn lifecycle(&mut self, _now: Timestamp, command: LifecycleCommand) {
        match command {
            LifecycleCommand::StartChat => {
                let (chat, inbox) = (Arc::clone(&self.chat), self.inbox.clone());
                let delay = self.chat_start_ms.load(Ordering::Relaxed);
                let suspensions = Arc::clone(&self.suspensions);
                let asked = suspensions.load(Ordering::Relaxed);
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    if suspensions.load(Ordering::Relaxed) == asked {
                        start_chat(&chat, &inbox);
                    }
                });
            }
            LifecycleCommand::SuspendChat => {
                self.suspensions.fetch_add(1, Ordering::Relaxed);
                self.chat.send_replace(false);
                self.inbox
                    .deliver(0, Input::Lifecycle(LifecycleEvent::ChatSuspended));
            }
        }
    }

    fn ui(&mut self, now: Timestamp, event: UiEvent) {
        let mut seen = self.seen.lock();
        if let UiEvent::Alert { title, message } = &event {
            seen.alerts.push((title.clone(), message.clone()));
        }
        seen.ui.push((now, event));
    }

    fn chat(&mut self, now: Timestamp, event: CoreEvent) {
        self.seen.lock().chat.push((now, event));
    }
}

pub(super) fn start_chat(chat: &watch::Sender<bool>, inbox: &DriverInbox) {
    if !*chat.borrow() {
        chat.send_replace(true);
        inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
    }
}

/// Records a phone's inputs and outputs in the world's trace.
struct WorldTracer {
    name: String,
    world: SharedWorld,
}

impl Tracer for WorldTracer {
    fn input(&mut self, now: Timestamp, input: &Input) {
        lock(&self.world).record(now.0, |_| TraceEvent::Input {
            phone: self.name.clone(),
            input: input.clone(),
        });
    }

    fn output(&mut self, now: Timestamp, output: &Output) {
        if !matches!(output, Output::Timeout(_)) {
            lock(&self.world).record(now.0, |_| TraceEvent::Output {
                phone: self.name.clone(),
                output: output.clone(),
            });
        }
    }
}

/// Permission prompts recorded for observation, answered as the setup says.
pub(super) struct RecordingPermissions {
    pub(super) inner: PermissionsBackend,
    pub(super) seen: Shared<PhoneObservations>,
}

impl callsim_engine::backend::Permissions for RecordingPermissions {
    fn request(&mut self, now: Timestamp, permission: Permission) {
        self.seen.lock().prompts.push(permission);
        self.inner.request(now, permission);
    }
}

/// Stops a phone's WebRTC engine as a dying process would: without a word.
#[derive(Debug, Clone)]
pub(super) struct RtcKill(mpsc::UnboundedSender<RtcControl>);

impl RtcKill {
    pub(super) fn kill(&self) {
        let _ = self.0.send(RtcControl::Kill);
    }
}

/// Everything a phone's host needs, moved into its software.
pub(super) struct HostParts {
    pub(super) id: PhoneId,
    pub(super) name: String,
    pub(super) seed: u64,
    pub(super) encryption: bool,
    pub(super) world: SharedWorld,
    pub(super) inbox: DriverInbox,
    pub(super) phone: SharedPhone,
    pub(super) receiver: driver::DriverReceiver,
    pub(super) callkit: CallKitBackend,
    pub(super) audio: Shared<FakeAudioSession>,
    pub(super) ringer: Shared<FakeRinger>,
    pub(super) permissions: RecordingPermissions,
    pub(super) platform: WorldPlatform,
    pub(super) chat_rx: watch::Receiver<bool>,
    pub(super) push_rx: mpsc::UnboundedReceiver<shared::Pushed>,
    pub(super) rtc_stats: Shared<RtcStats>,
    pub(super) rtc_control: Arc<Mutex<Option<RtcKill>>>,
    pub(super) wrong_key: WrongKey,
    pub(super) trace: bool,
    pub(super) turn: bool,
    pub(super) real_webrtc: bool,
    pub(super) media_platform: MediaPlatform,
}

impl HostParts {
    pub(super) async fn run(self) -> turmoil::Result {
        let smp_task = |chat| smp::SmpTask {
            me: self.id.index(),
            seed: self.seed,
            world: self.world.clone(),
            inbox: self.inbox.clone(),
            chat,
        };
        let (smp, smp_future) = smp::client(smp_task(self.chat_rx.clone()));
        tokio::spawn(smp_future);
        tokio::spawn(smp::receive_pushes(
            smp_task(self.chat_rx.clone()),
            self.push_rx,
        ));
        let my_ip = turmoil::lookup(self.name.as_str());
        let webrtc: Box<dyn callsim_engine::backend::WebRtc> = if self.real_webrtc {
            let world = self.world.clone();
            let faults: crate::rtc::real::runtime::MediaFaults =
                Arc::new(move |from, to| lock(&world).media.drops(from, to));
            let (rtc, control, rtc_future) =
                crate::rtc::real::engine(crate::rtc::real::RealRtcTask {
                    name: self.name.clone(),
                    seed: self.seed,
                    inbox: Arc::new(self.inbox.clone()),
                    stats: self.rtc_stats,
                    encryption: self.encryption,
                    wrong_key: self.wrong_key,
                    platform: self.media_platform,
                    network: crate::rtc::real::Network::Simulated { my_ip, faults },
                    turn: self.turn.then(|| {
                        crate::rtc::real_turn::TurnServerConfig::simplex(SocketAddr::new(
                            turmoil::lookup("turn"),
                            crate::rtc::real_turn::REAL_TURN_PORT,
                        ))
                    }),
                });
            if let Ok(mut slot) = self.rtc_control.lock() {
                *slot = Some(RtcKill(control));
            }
            tokio::spawn(rtc_future);
            Box::new(rtc)
        } else {
            let (rtc, control, rtc_future) = super::rtc::sim_rtc(SimRtcTask {
                seed: self.seed,
                my_ip,
                world: self.world.clone(),
                inbox: self.inbox.clone(),
                stats: self.rtc_stats,
                encryption: self.encryption,
                wrong_key: self.wrong_key,
                turn: self.turn,
                platform: self.media_platform,
            });
            if let Ok(mut slot) = self.rtc_control.lock() {
                *slot = Some(RtcKill(control));
            }
            tokio::spawn(rtc_future);
            Box::new(rtc)
        };
        let backends = driver::Backends {
            callkit: Box::new(self.callkit),
            audio: Box::new(self.audio),
            webrtc,
            smp: Box::new(smp),
            ringer: Box::new(self.ringer),
            permissions: Box::new(self.permissions),
            platform: Box::new(self.platform),
        };
        let mut driver =
            Driver::with_shared_phone(self.phone, backends, self.receiver, Timestamp(0));
        if self.trace {
            driver = driver.with_tracer(Box::new(WorldTracer {
                name: self.name,
                world: self.world,
            }));
        }
        driver.run().await;
        Ok(())
    }
}

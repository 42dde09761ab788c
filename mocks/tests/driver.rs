//! The driver under tokio's paused clock: whole minutes of simulated time in milliseconds.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callsim_engine::app::AppCallState;
use callsim_engine::backend::Inbox;
use callsim_engine::chat::{ChatConfig, ChatCore, Contact, CoreOutput};
use callsim_engine::driver::{self, Backends, Driver, DriverInbox, DriverReport};
use callsim_engine::ids::CallUuid;
use callsim_engine::io::callkit::{CallKitCommand, CallKitError, CallKitEvent};
use callsim_engine::io::webrtc::{
    ConnectionState, IceConnectionState, WebRtcCommand, WebRtcResponse,
};
use callsim_engine::io::{Input, LifecycleEvent, MessageKind, PhoneConfig, UiEvent, UserAction};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::{
    CallCapabilities, CallMediaType, CallType, ChatMessage, Timestamp, UserRef, WebRTCSession,
};
use callsim_mocks::backends::{
    CallKitBackend, FakePermissions, FakePlatform, InProcessRelay, PermissionsBackend,
    PlatformBackend, RtcHub, Shared, SharedInbox,
};
use callsim_mocks::callkit::ActionOutcome;
use callsim_mocks::mock::{MockCallKit, MockSmpClient, MockWebRtc};
use callsim_mocks::webrtc::{RtcTiming, ScriptedRtcNetwork};
use callsim_mocks::{FakeAudioSession, FakeRinger};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How Bob knows Alice, and Alice Bob (client n is contact n + 1).
const ALICE: i64 = 1;
const BOB: i64 = 2;

/// Simulated time of a driver started at `origin` with epoch 0.
fn sim_now(origin: Instant) -> Timestamp {
    Timestamp(u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX))
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A core for Alice, whose side these tests play by hand.
fn alice_core() -> ChatCore {
    let mut core = ChatCore::new(ChatConfig {
        user: UserRef {
            user_id: 1,
            local_display_name: "Alice".into(),
        },
        chat_version: callsim_engine::chat::CHAT_VERSION_RANGE,
        call_versions: None,
        send_receipts: true,
    });
    core.add_contact(
        BOB,
        Contact {
            name: "Bob".into(),
            calls_allowed: true,
        },
    );
    core
}

fn sent_bodies(core: &mut ChatCore) -> Vec<String> {
    std::iter::from_fn(|| core.poll_output())
        .filter_map(|o| match o {
            CoreOutput::Send { message, .. } => message.to_json().ok(),
            CoreOutput::Event(_) | CoreOutput::SendReceipt { .. } => None,
        })
        .collect()
}

fn invitation(core: &mut ChatCore, rng: &mut ChaCha8Rng, media: CallMediaType) -> String {
    core.api_send_call_invitation(Timestamp(0), rng, BOB, CallType::new(media, true))
        .expect("Alice invites");
    sent_bodies(core).pop().expect("x.call.inv")
}

/// Bob's phone with the given backends, driven on this runtime.
fn spawn_bob(
    config: PhoneConfig,
    backends: Backends,
    receiver: driver::DriverReceiver,
) -> JoinHandle<DriverReport> {
    let mut phone = Phone::new(config);
    phone.add_contact(ALICE, "Alice");
    tokio::spawn(Driver::new(phone, backends, receiver, Timestamp(0)).run())
}

/// Fakes for every backend but the ones a test mocks.
struct Fakes {
    inbox: DriverInbox,
    shared: SharedInbox,
    audio: Shared<FakeAudioSession>,
    ringer: Shared<FakeRinger>,
    platform: PlatformBackend,
}

fn fakes(inbox: &DriverInbox, platform: FakePlatform) -> Fakes {
    let shared: SharedInbox = Arc::new(inbox.clone());
    Fakes {
        inbox: inbox.clone(),
        audio: Shared::new(FakeAudioSession::new(platform.country != "CHN")),
        ringer: Shared::new(FakeRinger::new()),
        platform: PlatformBackend::new(platform, shared.clone()),
        shared,
    }
}

impl Fakes {
    fn backends(
        &self,
        callkit: Box<dyn callsim_engine::backend::CallKit>,
        webrtc: Box<dyn callsim_engine::backend::WebRtc>,
        smp: Box<dyn callsim_engine::backend::SmpClient>,
    ) -> Backends {
        Backends {
            callkit,
            audio: Box::new(self.audio.clone()),
            webrtc,
            smp,
            ringer: Box::new(self.ringer.clone()),
            permissions: Box::new(PermissionsBackend::new(
                FakePermissions::default(),
                self.shared.clone(),
            )),
            platform: Box::new(self.platform.clone()),
        }
    }

    fn deliver_invitation(&self, media: CallMediaType) {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let body = invitation(&mut alice_core(), &mut rng, media);
        self.inbox.deliver(
            20,
            Input::Message {
                contact_id: ALICE,
                broker_ts: Timestamp(10),
                msg_id: 1,
                body,
            },
        );
    }
}

/// What [`answer_with_slow_chat`] leaves for the test to check.
struct SlowChat {
    callkit: CallKitBackend,
    task: JoinHandle<DriverReport>,
    inbox: DriverInbox,
    origin: Instant,
    webrtc: Arc<Mutex<Vec<WebRtcCommand>>>,
}

/// Bob's app is suspended: Alice's invitation arrives as a push; he answers on CallKit 100 ms
/// later; his chat takes `chat_start` to start (`None`: never).
async fn answer_with_slow_chat(chat_start: Option<u64>) -> SlowChat {
    let (inbox, receiver) = driver::channel();
    let origin = Instant::now();
    let f = fakes(
        &inbox,
        FakePlatform {
            chat_start_ms: chat_start,
            ..FakePlatform::default()
        },
    );
    let callkit = CallKitBackend::new(f.audio.clone(), f.shared.clone());
    let commands = Arc::new(Mutex::new(Vec::new()));
    let mut webrtc = MockWebRtc::new();
    let seen = Arc::clone(&commands);
    webrtc.expect_execute().returning(move |_, _, command| {
        seen.lock().expect("lock").push(command);
    });
    let mut smp = MockSmpClient::new();
    smp.expect_send().returning(|_, _, _, _, _| ());
    let task = spawn_bob(
        PhoneConfig::new("Bob", 2),
        f.backends(Box::new(callkit.clone()), Box::new(webrtc), Box::new(smp)),
        receiver,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let body = invitation(&mut alice_core(), &mut rng, CallMediaType::Audio);
    inbox.deliver(
        0,
        Input::Push {
            contact_id: ALICE,
            broker_ts: Timestamp(0),
            msg_id: 1,
            body,
        },
    );
    sleep_ms(100).await;
    assert!(
        callkit.fake.lock().ringing().is_some(),
        "the VoIP push is reported to CallKit"
    );
    assert!(callkit.user_answers(sim_now(origin)));
    SlowChat {
        callkit,
        task,
        inbox,
        origin,
        webrtc: commands,
    }
}

fn answer_outcome(callkit: &CallKitBackend) -> ActionOutcome {
    callkit
        .fake
        .lock()
        .last_answer()
        .expect("an answer action")
        .outcome
}

#[tokio::test(start_paused = true)]
async fn a_callkit_answer_fails_at_exactly_30_seconds_when_the_chat_never_starts() {
    let run = answer_with_slow_chat(None).await;
    let answered = Instant::now();
    sleep_ms(29_999).await;
    assert_eq!(answer_outcome(&run.callkit), ActionOutcome::Open);
    sleep_ms(2).await;
    assert_eq!(
        answer_outcome(&run.callkit),
        ActionOutcome::Failed(Timestamp(30_100))
    );
    tokio_test::assert_elapsed!(answered, Duration::from_millis(30_001));
    assert!(
        run.webrtc.lock().expect("lock").is_empty(),
        "nothing was answered"
    );
    run.inbox.shutdown();
    let report = run.task.await.expect("the driver stops cleanly");
    assert_eq!(report.backend_panics, 0);
    let pending = report.phone.core().api_get_call_invitations();
    assert_eq!(pending.len(), 1, "the invitation stays pending");
    assert_eq!(sim_now(run.origin), Timestamp(30_101));
}

#[tokio::test(start_paused = true)]
async fn a_callkit_answer_goes_on_when_the_chat_starts_at_29_seconds() {
    let run = answer_with_slow_chat(Some(29_000)).await;
    sleep_ms(28_800).await;
    assert!(run.webrtc.lock().expect("lock").is_empty());
    sleep_ms(1_200).await;
    let commands = run.webrtc.lock().expect("lock").clone();
    assert!(
        matches!(commands.as_slice(), [WebRtcCommand::Start { .. }]),
        "{commands:?}"
    );
    assert_eq!(
        answer_outcome(&run.callkit),
        ActionOutcome::Open,
        "fulfilled only on connect"
    );
    run.inbox.shutdown();
    let report = run.task.await.expect("the driver stops cleanly");
    assert_eq!(report.backend_panics, 0);
    let call = report.phone.app().active_call().expect("the call");
    assert_eq!(call.state, AppCallState::InvitationAccepted);
}

#[tokio::test(start_paused = true)]
async fn the_answer_action_is_fulfilled_once_only_after_webrtc_connected() {
    let (inbox, receiver) = driver::channel();
    let origin = Instant::now();
    let f = fakes(&inbox, FakePlatform::default());
    let uuid = Arc::new(Mutex::new(CallUuid::from("")));
    // When WebRTC reports connected, in simulated ms (0 until it is scheduled).
    let connected_at = Arc::new(AtomicU64::new(0));

    let mut callkit = MockCallKit::new();
    let (report_inbox, reported) = (f.shared.clone(), Arc::clone(&uuid));
    callkit
        .expect_execute()
        .withf(|_, c| matches!(c, CallKitCommand::ReportNewIncomingCall { .. }))
        .times(1)
        .returning(move |_, command| {
            if let CallKitCommand::ReportNewIncomingCall { uuid, .. } = command {
                *reported.lock().expect("lock") = uuid.clone();
                let event = CallKitEvent::IncomingReported {
                    uuid,
                    result: Ok(()),
                };
                report_inbox.deliver(0, Input::CallKit(event));
            }
        });
    let connected = Arc::clone(&connected_at);
    callkit
        .expect_execute()
        .withf(|_, c| matches!(c, CallKitCommand::Fulfill { action: 7 }))
        .times(1)
        .returning(move |now, _| {
            let at = connected.load(Ordering::SeqCst);
            assert!(
                at > 0 && now.0 >= at,
                "fulfilled at {now} before connecting at {at}"
            );
        });
    callkit
        .expect_execute()
        .withf(|_, c| matches!(c, CallKitCommand::Fail { .. }))
        .never();

    let mut webrtc = MockWebRtc::new();
    let rtc_inbox = f.shared.clone();
    let connected = Arc::clone(&connected_at);
    webrtc
        .expect_execute()
        .returning(move |now, client, command| match command {
            WebRtcCommand::Start { .. } => {
                let offer = WebRtcResponse::Offer {
                    offer: "offer".into(),
                    ice_candidates: "[]".into(),
                    capabilities: CallCapabilities { encryption: true },
                };
                rtc_inbox.deliver(
                    100,
                    Input::WebRtc {
                        client,
                        response: offer,
                    },
                );
            }
            WebRtcCommand::Answer { .. } => {
                connected.store(now.0 + 500, Ordering::SeqCst);
                let state = ConnectionState::ice(IceConnectionState::Connected);
                let response = WebRtcResponse::Connection { state };
                rtc_inbox.deliver(500, Input::WebRtc { client, response });
            }
            _ => {}
        });

    // Bob's x.call.offer goes to Alice's core, whose answer comes back by hand.
    let offers = Arc::new(Mutex::new(Vec::new()));
    let mut smp = MockSmpClient::new();
    let sent = Arc::clone(&offers);
    smp.expect_send()
        .returning(move |_, _, body, _, _| sent.lock().expect("lock").push(body));

    let task = spawn_bob(
        PhoneConfig::new("Bob", 2),
        f.backends(Box::new(callkit), Box::new(webrtc), Box::new(smp)),
        receiver,
    );
    inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
    let mut alice = alice_core();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let body = invitation(&mut alice, &mut rng, CallMediaType::Audio);
    inbox.deliver(
        20,
        Input::Message {
            contact_id: ALICE,
            broker_ts: Timestamp(10),
            msg_id: 1,
            body,
        },
    );
    sleep_ms(50).await;
    let call_uuid = uuid.lock().expect("lock").clone();
    let answer = CallKitEvent::PerformAnswer {
        action: 7,
        uuid: call_uuid,
    };
    inbox.deliver(0, Input::CallKit(answer));
    sleep_ms(300).await;
    let offer = offers
        .lock()
        .expect("lock")
        .pop()
        .expect("Bob sent his offer");
    let offer = ChatMessage::from_json(offer.as_bytes()).expect("decodes");
    let now = sim_now(origin);
    alice.handle_message(now, &mut rng, BOB, now, offer);
    let session = WebRTCSession {
        rtc_session: "answer".into(),
        rtc_ice_candidates: "[]".into(),
    };
    alice
        .api_send_call_answer(now, &mut rng, BOB, session)
        .expect("Alice answers");
    let answer = sent_bodies(&mut alice).pop().expect("x.call.answer");
    inbox.deliver(
        40,
        Input::Message {
            contact_id: ALICE,
            broker_ts: now,
            msg_id: 2,
            body: answer,
        },
    );
    sleep_ms(2_000).await;
    inbox.shutdown();
    let report = task
        .await
        .expect("expectations are met when the mocks drop");
    assert_eq!(report.backend_panics, 0);
    let state = report.phone.app().active_call().map(|c| c.state);
    assert_eq!(state, Some(AppCallState::Connected));
}

#[tokio::test(start_paused = true)]
async fn china_mode_never_touches_callkit() {
    let (inbox, receiver) = driver::channel();
    let platform = FakePlatform {
        country: "CHN".into(),
        ..FakePlatform::default()
    };
    let config = platform.phone_config("Bob", 2);
    let f = fakes(&inbox, platform);
    let mut webrtc = MockWebRtc::new();
    webrtc
        .expect_execute()
        .withf(|_, _, c| matches!(c, WebRtcCommand::Start { .. }))
        .times(1)
        .return_const(());
    // Bob's agent confirms the invitation's delivery; nothing else goes out.
    let mut smp = MockSmpClient::new();
    smp.expect_send()
        .withf(|_, _, _, _, kind| *kind == MessageKind::Receipt)
        .times(1)
        .return_const(());
    // No expectations: any call to CallKit panics, and the driver counts it.
    let callkit = MockCallKit::new();
    let backends = f.backends(Box::new(callkit), Box::new(webrtc), Box::new(smp));
    let task = spawn_bob(config, backends, receiver);
    inbox.deliver(0, Input::Lifecycle(LifecycleEvent::AppLaunched));
    inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
    f.deliver_invitation(CallMediaType::Video);
    sleep_ms(100).await;
    assert!(f.platform.fake.lock().showed_incoming_view());
    assert!(f.ringer.lock().ringtone());
    inbox.deliver(0, Input::User(UserAction::AcceptCall { contact_id: ALICE }));
    sleep_ms(100).await;
    assert!(!f.ringer.lock().ringtone());
    assert!(!f.audio.lock().active(), "not before ICE checks");
    // The client starts its checks: the app configures and activates the audio session
    // itself (errata A14).
    let checking = ConnectionState::ice(IceConnectionState::Checking);
    // The call view's first client (ids count from 1).
    let response = WebRtcResponse::Connection { state: checking };
    inbox.deliver(
        0,
        Input::WebRtc {
            client: 1,
            response,
        },
    );
    sleep_ms(10).await;
    inbox.shutdown();
    let report = task.await.expect("the driver stops cleanly");
    assert_eq!(report.backend_panics, 0, "CallKit was never called");
    assert!(
        f.audio.lock().active(),
        "without CallKit the app activates the audio session itself"
    );
}

/// Errata A5/A6: when CallKit refuses a report, `activateCall` only clears the model copy's
/// call UUID: there is no fallback to the in-app view, and nothing rings
/// (`SimpleXAPI.swift` `activateCall`, SimpleX master 6bb1da9e).
#[tokio::test(start_paused = true)]
async fn a_refused_callkit_report_clears_the_invitations_uuid_and_nothing_rings() {
    let (inbox, receiver) = driver::channel();
    let f = fakes(&inbox, FakePlatform::default());
    let mut callkit = MockCallKit::new();
    let report_inbox = f.shared.clone();
    callkit
        .expect_execute()
        .withf(|_, c| matches!(c, CallKitCommand::ReportNewIncomingCall { .. }))
        .times(1)
        .returning(move |_, command| {
            if let CallKitCommand::ReportNewIncomingCall { uuid, .. } = command {
                let event = CallKitEvent::IncomingReported {
                    uuid,
                    result: Err(CallKitError::DuplicateUuid),
                };
                report_inbox.deliver(0, Input::CallKit(event));
            }
        });
    let mut smp = MockSmpClient::new();
    smp.expect_send()
        .withf(|_, _, _, _, kind| *kind == MessageKind::Receipt)
        .return_const(());
    let backends = f.backends(
        Box::new(callkit),
        Box::new(MockWebRtc::new()),
        Box::new(smp),
    );
    let task = spawn_bob(PhoneConfig::new("Bob", 2), backends, receiver);
    inbox.deliver(0, Input::Lifecycle(LifecycleEvent::AppLaunched));
    inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
    f.deliver_invitation(CallMediaType::Audio);
    sleep_ms(100).await;
    assert!(!f.platform.fake.lock().showed_incoming_view());
    assert!(f.ringer.lock().log().is_empty(), "nothing rings");
    inbox.shutdown();
    let report = task.await.expect("stops");
    assert_eq!(report.backend_panics, 0);
    let invitation = report.phone.app().invitations().next().cloned();
    assert_eq!(
        invitation.map(|i| i.call_uuid),
        Some(None),
        "the model's copy lost its UUID"
    );
}

#[tokio::test(start_paused = true)]
async fn two_driven_phones_call_over_the_in_process_relay_from_the_button_to_both_items() {
    let relay = InProcessRelay::new(20, 300);
    let rtc = RtcHub::new(ScriptedRtcNetwork::new(RtcTiming::default()));
    let origin = Instant::now();
    let mut phones = Vec::new();
    for (id, name, peer, peer_name) in [(0, "Alice", BOB, "Bob"), (1, "Bob", ALICE, "Alice")] {
        let (inbox, receiver) = driver::channel();
        let f = fakes(&inbox, FakePlatform::default());
        let callkit = CallKitBackend::new(f.audio.clone(), f.shared.clone());
        let backends = f.backends(
            Box::new(callkit.clone()),
            Box::new(rtc.engine(id, f.shared.clone())),
            Box::new(relay.client(id, f.shared.clone())),
        );
        let mut phone = Phone::new(PhoneConfig::new(name, id as u64 + 1));
        phone.add_contact(peer, peer_name);
        let task = tokio::spawn(Driver::new(phone, backends, receiver, Timestamp(0)).run());
        inbox.deliver(0, Input::Lifecycle(LifecycleEvent::AppLaunched));
        inbox.deliver(0, Input::Lifecycle(LifecycleEvent::ChatStarted));
        phones.push((f, callkit, task));
    }
    let connected = |f: &Fakes| {
        f.platform.fake.lock().ui.iter().any(|(_, e)| {
            matches!(
                e,
                UiEvent::CallState {
                    state: Some(AppCallState::Connected),
                    ..
                }
            )
        })
    };
    let start = UserAction::StartCall {
        contact_id: BOB,
        media: CallMediaType::Video,
    };
    phones[0].0.inbox.deliver(0, Input::User(start));
    let mut waited = 0;
    while phones[1].1.fake.lock().ringing().is_none() {
        sleep_ms(10).await;
        waited += 10;
        assert!(waited < 5_000, "Bob's phone never rang");
    }
    assert!(phones[1].1.user_answers(sim_now(origin)));
    while !(connected(&phones[0].0) && connected(&phones[1].0)) {
        sleep_ms(10).await;
        waited += 10;
        assert!(waited < 10_000, "the call never connected");
    }
    sleep_ms(10_000).await;
    phones[0]
        .0
        .inbox
        .deliver(0, Input::User(UserAction::EndCall));
    sleep_ms(2_000).await;
    let mut texts = Vec::new();
    for (f, callkit, task) in phones {
        f.inbox.shutdown();
        let report = task.await.expect("stops");
        assert_eq!(report.backend_panics, 0);
        let peer = if texts.is_empty() { BOB } else { ALICE };
        texts.push(
            report
                .phone
                .core()
                .last_call_item(peer)
                .map(|i| i.to_string()),
        );
        assert_eq!(callkit.fake.lock().live_calls(), 0);
        assert_eq!(callkit.fake.lock().open_actions().count(), 0);
        assert!(!f.audio.lock().active());
    }
    assert_eq!(
        texts,
        [
            Some("outgoing call: ended (00:10)".into()),
            Some("incoming call: ended (00:10)".into())
        ]
    );
    assert!(relay.seen().iter().any(|b| b.contains("x.call.end")));
}

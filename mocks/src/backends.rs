//! The fakes as backends of a driven phone: each reports back through the driver's inbox.
//!
//! A backend keeps its fake behind a shared handle ([`Shared`]), so a test hands one clone to
//! the driver and keeps another to read the fake's log or to script what the user does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use callsim_engine::backend::{
    AudioSession, CallKit, Inbox, Permissions, Platform, Ringer, SmpClient, WebRtc,
};
use callsim_engine::chat::CoreEvent;
use callsim_engine::ids::{ClientId as RtcClientId, ContactId};
use callsim_engine::io::audio::AudioCommand;
use callsim_engine::io::callkit::{CallKitCommand, CallKitEvent};
use callsim_engine::io::sound::SoundCommand;
use callsim_engine::io::webrtc::{ClientCall, WebRtcCommand};
use callsim_engine::io::{
    Input, LifecycleCommand, LifecycleEvent, MessageKind, Permission, PhoneConfig, UiEvent,
};
use callsim_engine::protocol::Timestamp;

use crate::relay::{ClientId, Relay, RelayAction, client_of, contact_id};
use crate::webrtc::{EndpointId, RtcAction, ScriptedRtcNetwork};
use crate::{FakeAudioSession, FakeCallKit, FakeRinger};

/// A fake shared between the driver and the test.
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    /// Shares `value`.
    pub fn new(value: T) -> Self {
        Shared(Arc::new(Mutex::new(value)))
    }

    /// Locks the fake. A test that panicked while holding it poisons nothing here: the
    /// poison is ignored, since the fake's state is still what it was.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

/// The inbox a backend reports to.
pub type SharedInbox = Arc<dyn Inbox>;

/// CallKit: a [`FakeCallKit`] whose audio activation reaches the [`FakeAudioSession`].
#[derive(Clone)]
pub struct CallKitBackend {
    /// The fake.
    pub fake: Shared<FakeCallKit>,
    audio: Shared<FakeAudioSession>,
    inbox: SharedInbox,
}

impl CallKitBackend {
    /// CallKit for a phone whose audio session is `audio`.
    pub fn new(audio: Shared<FakeAudioSession>, inbox: SharedInbox) -> Self {
        CallKitBackend {
            fake: Shared::new(FakeCallKit::new()),
            audio,
            inbox,
        }
    }

    /// The user answers the ringing call on the native screen (End & Accept during another
    /// call); false if nothing rings.
    pub fn user_answers(&self, now: Timestamp) -> bool {
        let events = self.fake.lock().user_answers(now);
        let answered = !events.is_empty();
        self.deliver(now, events);
        answered
    }

    /// Times out the actions whose time came (call it as time passes).
    pub fn poll(&self, now: Timestamp) {
        let due = self.fake.lock().next_timeout().is_some_and(|at| at <= now);
        if due {
            let events = self.fake.lock().fire_timeouts(now);
            self.deliver(now, events);
        }
    }

    /// Hands CallKit's events to the phone; audio activation reaches the audio session.
    fn deliver(&self, now: Timestamp, events: Vec<CallKitEvent>) {
        for event in events {
            match event {
                CallKitEvent::DidActivateAudioSession => {
                    self.audio.lock().set_active_by_callkit(now, true);
                }
                CallKitEvent::DidDeactivateAudioSession => {
                    self.audio.lock().set_active_by_callkit(now, false);
                }
                _ => {}
            }
            self.inbox.deliver(0, Input::CallKit(event));
        }
    }

    /// The user declines or ends on the native screen; false if CallKit has no call.
    pub fn user_ends(&self, now: Timestamp) -> bool {
        let event = self.fake.lock().user_ends(now);
        event.is_some_and(|e| {
            self.inbox.deliver(0, Input::CallKit(e));
            true
        })
    }
}

impl CallKit for CallKitBackend {
    fn execute(&mut self, now: Timestamp, command: CallKitCommand) {
        let events = self.fake.lock().handle_command(now, command);
        self.deliver(now, events);
    }
}

impl AudioSession for Shared<FakeAudioSession> {
    fn execute(&mut self, now: Timestamp, command: AudioCommand) {
        self.lock().handle_command(now, command);
    }
}

impl Ringer for Shared<FakeRinger> {
    fn execute(&mut self, now: Timestamp, command: SoundCommand) {
        self.lock().handle_command(now, command);
    }
}

/// Permission prompts, answered after a delay as the test decided (granted by default).
#[derive(Debug, Clone)]
pub struct FakePermissions {
    /// The user's answer per permission.
    pub answers: BTreeMap<Permission, bool>,
    /// How long the user takes to answer.
    pub delay_ms: u64,
    /// The prompts shown, in order.
    pub prompts: Vec<(Timestamp, Permission)>,
}

impl Default for FakePermissions {
    fn default() -> Self {
        FakePermissions {
            answers: BTreeMap::new(),
            delay_ms: 1_000,
            prompts: Vec::new(),
        }
    }
}

/// [`FakePermissions`] reporting to a phone.
#[derive(Clone)]
pub struct PermissionsBackend {
    /// The fake.
    pub fake: Shared<FakePermissions>,
    inbox: SharedInbox,
}

impl PermissionsBackend {
    /// Prompts answered as `fake` says.
    pub fn new(fake: FakePermissions, inbox: SharedInbox) -> Self {
        PermissionsBackend {
            fake: Shared::new(fake),
            inbox,
        }
    }
}

impl Permissions for PermissionsBackend {
    fn request(&mut self, now: Timestamp, permission: Permission) {
        let mut fake = self.fake.lock();
        fake.prompts.push((now, permission));
        let granted = fake.answers.get(&permission).copied().unwrap_or(true);
        self.inbox.deliver(
            fake.delay_ms,
            Input::PermissionAnswered {
                permission,
                granted,
            },
        );
    }
}

/// The device around the app: its store country, the CallKit setting, how long the chat takes
/// to start, and what the UI showed.
#[derive(Debug, Clone)]
pub struct FakePlatform {
    /// The App Store country; `CHN` turns CallKit off.
    pub country: String,
    /// The CallKit setting.
    pub callkit_enabled: bool,
    /// How long the chat takes to start when asked; `None`: it never does.
    pub chat_start_ms: Option<u64>,
    /// UI events, in order.
    pub ui: Vec<(Timestamp, UiEvent)>,
    /// Lifecycle requests, in order.
    pub lifecycle: Vec<(Timestamp, LifecycleCommand)>,
    /// Chat-core events, in order.
    pub chat: Vec<(Timestamp, CoreEvent)>,
}

impl Default for FakePlatform {
    /// The defaults of steps.md: outside China, CallKit on, the chat starts in half a second.
    fn default() -> Self {
        FakePlatform {
            country: "USA".into(),
            callkit_enabled: true,
            chat_start_ms: Some(500),
            ui: Vec::new(),
            lifecycle: Vec::new(),
            chat: Vec::new(),
        }
    }
}

impl FakePlatform {
    /// A phone configuration with this platform's country and CallKit setting.
    pub fn phone_config(&self, name: &str, seed: u64) -> PhoneConfig {
        let mut config = PhoneConfig::new(name, seed);
        config.country = self.country.clone();
        config.callkit_enabled = self.callkit_enabled;
        config
    }

    /// Whether the in-app incoming view was ever shown.
    pub fn showed_incoming_view(&self) -> bool {
        self.ui
            .iter()
            .any(|(_, e)| matches!(e, UiEvent::IncomingCallShown { .. }))
    }
}

/// [`FakePlatform`] reporting to a phone.
#[derive(Clone)]
pub struct PlatformBackend {
    /// The fake.
    pub fake: Shared<FakePlatform>,
    inbox: SharedInbox,
}

impl PlatformBackend {
    /// A platform as `fake` describes it.
    pub fn new(fake: FakePlatform, inbox: SharedInbox) -> Self {
        PlatformBackend {
            fake: Shared::new(fake),
            inbox,
        }
    }
}

impl Platform for PlatformBackend {
    fn lifecycle(&mut self, now: Timestamp, command: LifecycleCommand) {
        let mut fake = self.fake.lock();
        fake.lifecycle.push((now, command));
        match (command, fake.chat_start_ms) {
            (LifecycleCommand::StartChat, Some(after)) => {
                let started = Input::Lifecycle(LifecycleEvent::ChatStarted);
                self.inbox.deliver(after, started);
            }
            (LifecycleCommand::StartChat, None) => {}
            (LifecycleCommand::SuspendChat, _) => {
                let suspended = Input::Lifecycle(LifecycleEvent::ChatSuspended);
                self.inbox.deliver(0, suspended);
            }
        }
    }

    fn ui(&mut self, now: Timestamp, event: UiEvent) {
        self.fake.lock().ui.push((now, event));
    }

    fn chat(&mut self, now: Timestamp, event: CoreEvent) {
        self.fake.lock().chat.push((now, event));
    }
}

/// A relay inside the process, for driven phones: [`Relay`]'s rules, and each hop of
/// `latency_ms`. It records every body it sees ([`InProcessRelay::seen`]). Phones are clients `0, 1, ...`; a phone knows client `n` as contact `n + 1`.
#[derive(Clone)]
pub struct InProcessRelay {
    hub: Arc<Mutex<RelayHub>>,
}

struct RelayHub {
    relay: Relay,
    inboxes: BTreeMap<ClientId, SharedInbox>,
    latency_ms: u64,
    push_delay_ms: u64,
}

impl InProcessRelay {
    /// A relay whose links take `latency_ms` each way and whose pushes take `push_delay_ms`.
    pub fn new(latency_ms: u64, push_delay_ms: u64) -> Self {
        InProcessRelay {
            hub: Arc::new(Mutex::new(RelayHub {
                relay: Relay::recording(),
                inboxes: BTreeMap::new(),
                latency_ms,
                push_delay_ms,
            })),
        }
    }

    fn hub(&self) -> MutexGuard<'_, RelayHub> {
        self.hub.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// The client of phone `id`, subscribed, delivering to `inbox`.
    pub fn client(&self, id: ClientId, inbox: SharedInbox) -> RelayClient {
        let mut hub = self.hub();
        hub.inboxes.insert(id, inbox);
        let actions = hub.relay.subscribe(id);
        hub.apply(actions);
        RelayClient {
            id,
            relay: self.clone(),
        }
    }

    /// Connects or disconnects phone `id` (its chat running or not).
    pub fn set_subscribed(&self, id: ClientId, subscribed: bool) {
        let mut hub = self.hub();
        if subscribed {
            let actions = hub.relay.subscribe(id);
            hub.apply(actions);
        } else {
            hub.relay.unsubscribe(id);
        }
    }

    /// Every body the relay saw.
    pub fn seen(&self) -> Vec<String> {
        self.hub().relay.seen().to_vec()
    }
}

impl RelayHub {
    /// Hands deliveries to the recipients' inboxes (they arrive after the downlink latency)
    /// and acknowledges each at once, so the next one follows in order.
    fn apply(&mut self, mut actions: Vec<RelayAction>) {
        while let Some(action) = actions.pop() {
            match action {
                RelayAction::Deliver { to, message } => {
                    if let Some(inbox) = self.inboxes.get(&to) {
                        let input = Input::Message {
                            contact_id: contact_id(message.from),
                            broker_ts: message.ts,
                            msg_id: message.id,
                            body: message.body,
                        };
                        inbox.deliver(self.latency_ms, input);
                    }
                    actions.extend(self.relay.ack(message.from, to, message.id));
                }
                RelayAction::Push { to, from } => {
                    let Some(inbox) = self.inboxes.get(&to) else {
                        continue;
                    };
                    for message in self.relay.fetch_for_push(from, to) {
                        let input = Input::Push {
                            contact_id: contact_id(from),
                            broker_ts: message.ts,
                            msg_id: message.id,
                            body: message.body,
                        };
                        inbox.deliver(self.push_delay_ms, input);
                    }
                }
            }
        }
    }
}

/// One phone's connection to an [`InProcessRelay`].
#[derive(Clone)]
pub struct RelayClient {
    id: ClientId,
    relay: InProcessRelay,
}

impl SmpClient for RelayClient {
    fn send(
        &mut self,
        now: Timestamp,
        contact_id: ContactId,
        body: String,
        notify: bool,
        kind: MessageKind,
    ) {
        let mut hub = self.relay.hub();
        let arrival = now.add_ms(hub.latency_ms);
        let Some(to) = client_of(contact_id) else {
            return;
        };
        let actions = hub.relay.send(arrival, self.id, to, body, notify, kind);
        hub.apply(actions);
    }
}

/// The scripted WebRTC engines of several driven phones, sharing one [`ScriptedRtcNetwork`].
/// Its timers run as tokio tasks, so it needs a runtime (paused or not).
#[derive(Clone)]
pub struct RtcHub {
    inner: Arc<Mutex<RtcHubInner>>,
}

struct RtcHubInner {
    network: ScriptedRtcNetwork,
    inboxes: BTreeMap<EndpointId, SharedInbox>,
}

impl RtcHub {
    /// A hub over `network`.
    pub fn new(network: ScriptedRtcNetwork) -> Self {
        RtcHub {
            inner: Arc::new(Mutex::new(RtcHubInner {
                network,
                inboxes: BTreeMap::new(),
            })),
        }
    }

    fn inner(&self) -> MutexGuard<'_, RtcHubInner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// The engine of phone `id`, answering to `inbox`.
    pub fn engine(&self, id: EndpointId, inbox: SharedInbox) -> ScriptedWebRtc {
        self.inner().inboxes.insert(id, inbox);
        ScriptedWebRtc {
            id,
            hub: self.clone(),
        }
    }

    /// Runs `f` on the network and carries out what it asks.
    pub fn with_network(&self, f: impl FnOnce(&mut ScriptedRtcNetwork) -> Vec<RtcAction>) {
        let actions = f(&mut self.inner().network);
        self.apply(actions);
    }

    fn apply(&self, actions: Vec<RtcAction>) {
        for action in actions {
            match action {
                RtcAction::Respond {
                    to,
                    client,
                    after_ms,
                    response,
                } => {
                    let inbox = self.inner().inboxes.get(&to).cloned();
                    if let Some(inbox) = inbox {
                        inbox.deliver(after_ms, Input::WebRtc { client, response });
                    }
                }
                RtcAction::Wake { after_ms, event } => {
                    let hub = self.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(Duration::from_millis(after_ms)).await;
                        hub.with_network(|network| network.event(event));
                    });
                }
            }
        }
    }
}

/// One phone's scripted WebRTC engine (see [`ScriptedRtcNetwork`] for what it does).
#[derive(Clone)]
pub struct ScriptedWebRtc {
    id: EndpointId,
    hub: RtcHub,
}

impl WebRtc for ScriptedWebRtc {
    fn execute(&mut self, _now: Timestamp, client: RtcClientId, command: WebRtcCommand) {
        let id = self.id;
        self.hub
            .with_network(|network| network.command(id, client, command));
    }

    fn call(&mut self, _now: Timestamp, client: RtcClientId, call: ClientCall) {
        let id = self.id;
        self.hub
            .with_network(|network| network.client_call(id, client, call));
    }
}

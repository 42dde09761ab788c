//! `Phone`: one device, the app layer on top of the chat-core layer, as a sans-IO state machine.
//!
//! # The run loop
//!
//! ```text
//! phone.handle_input(now, input);          // one input at a time; `now` never goes back
//! loop {
//!     match phone.poll_output() {
//!         Output::Timeout(deadline) => break, // call handle_input(deadline, Input::Timeout) then
//!         other => dispatch(other),         // to the relay, CallKit, WebRTC, audio, ...
//!     }
//! }
//! ```
//!
//! Drain `poll_output` after every input until it returns [`Output::Timeout`]: it carries the
//! next deadline of the phone's timers (`None` when none is armed). When that time comes, feed
//! [`Input::Timeout`]; a timeout with nothing due is a no-op. Whatever a backend completes comes
//! back as another input, so a driver or a simulation decides when each thing happens.
//!
//! The phone reads no clock and no OS randomness: `now` is an argument and every random value
//! (call ids, UUIDs, keys, message ids) comes from a RNG seeded by [`PhoneConfig::seed`].

mod timers;

pub use timers::Timer;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use serde::Serialize;
use tracing::debug;

use crate::app::{App, AppCallState};
use crate::backend::audio::{AudioCommand, AudioDevice};
use crate::backend::callkit::{CallKitCommand, CallKitEvent};
use crate::backend::sound::SoundCommand;
use crate::backend::webrtc::{WebRtcCommand, WebRtcResponse};
use crate::chat::{ChatConfig, ChatCore, Contact, ContactId, CoreEvent, CoreOutput};
use crate::protocol::{CallMediaType, Timestamp, UserRef, VersionRange, VideoCamera};

/// A permission the phone needs for calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Permission {
    /// Microphone, for every call.
    Microphone,
    /// Camera, for video calls.
    Camera,
}

/// Whether a permission is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum PermissionStatus {
    /// Granted.
    Granted,
    /// Denied; asking again shows the system prompt in the simulation, and the answer decides.
    Denied,
    /// Never asked.
    NotDetermined,
}

/// How a phone is set up.
#[derive(Debug, Clone)]
pub struct PhoneConfig {
    /// The phone's owner, for logs and the peer's display (`Alice`).
    pub name: String,
    /// Seed of the phone's RNG.
    pub seed: u64,
    /// The App Store country (`SKStorefront().countryCode`); `CHN` turns CallKit off.
    pub country: String,
    /// The user's CallKit setting (`callKitEnabledGroupDefault`, default on).
    pub callkit_enabled: bool,
    /// Relay-only ICE policy (`DEFAULT_WEBRTC_POLICY_RELAY`).
    pub relay_policy: bool,
    /// Whether the user shows notifications (`user.showNotifications`).
    pub show_notifications: bool,
    /// Call versions the chat core announces; `None` keeps media key v1.
    pub call_versions: Option<VersionRange>,
    /// Microphone permission at start.
    pub microphone: PermissionStatus,
    /// Camera permission at start.
    pub camera: PermissionStatus,
}

impl PhoneConfig {
    /// The defaults of steps.md: outside China, CallKit on, permissions granted.
    pub fn new(name: &str, seed: u64) -> Self {
        PhoneConfig {
            name: name.to_owned(),
            seed,
            country: "USA".into(),
            callkit_enabled: true,
            relay_policy: false,
            show_notifications: true,
            call_versions: None,
            microphone: PermissionStatus::Granted,
            camera: PermissionStatus::Granted,
        }
    }

    /// `CallController.useCallKit()`: not in China and the setting is on.
    pub fn use_callkit(&self) -> bool {
        self.country != "CHN" && self.callkit_enabled
    }
}

/// What the user does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UserAction {
    /// Taps the audio or video call button in the chat with a contact.
    StartCall {
        /// Whom to call.
        contact_id: ContactId,
        /// Audio or video.
        media: CallMediaType,
    },
    /// Taps Accept on the in-app incoming call view (or on the call's chat item).
    AcceptCall {
        /// The caller.
        contact_id: ContactId,
    },
    /// Taps Reject on the in-app incoming call view.
    RejectCall {
        /// The caller.
        contact_id: ContactId,
    },
    /// Taps Ignore on the in-app incoming call view.
    IgnoreCall {
        /// The caller.
        contact_id: ContactId,
    },
    /// Taps End during a call or while calling.
    EndCall,
    /// Mutes or unmutes the microphone.
    SetMicrophone {
        /// Mute.
        muted: bool,
    },
    /// Turns the speaker on or off.
    SetSpeaker {
        /// Speaker on.
        on: bool,
    },
    /// Turns the camera on or off.
    SetCamera {
        /// Camera on.
        on: bool,
    },
    /// Flips the camera.
    SwitchCamera {
        /// The camera to use.
        camera: VideoCamera,
    },
    /// Picks an audio device in the call's device picker.
    PickAudioDevice {
        /// The device.
        device: AudioDevice,
    },
}

/// App and chat lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleEvent {
    /// The chat is running (after [`LifecycleCommand::StartChat`], or at launch).
    ChatStarted,
    /// The chat was suspended.
    ChatSuspended,
    /// The app came to the foreground.
    AppBecameActive,
    /// The app went to the background (the chat keeps running).
    AppEnteredBackground,
    /// The app's process ended: everything in memory is lost, received invitations survive.
    AppKilled,
    /// The app's process started again (in the foreground); the chat starts.
    AppLaunched,
}

/// Everything the phone reacts to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    content = "value",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Input {
    /// A user action.
    User(UserAction),
    /// A CallKit callback.
    CallKit(CallKitEvent),
    /// A chat message from the relay, received by the running chat.
    Message {
        /// The sender.
        contact_id: ContactId,
        /// The relay's timestamp.
        broker_ts: Timestamp,
        /// The relay's id of the message in its queue; a redelivery carries the same id, and
        /// the messaging agent drops it (see [`PhoneStats::redeliveries_dropped`]).
        msg_id: u64,
        /// The message, as the sender encoded it.
        body: String,
    },
    /// A push for a message with the notification flag, while the chat is not running: the
    /// notification service extension fetches the message, and the app gets a VoIP push.
    Push {
        /// The sender.
        contact_id: ContactId,
        /// The relay's timestamp.
        broker_ts: Timestamp,
        /// The relay's id of the message in its queue.
        msg_id: u64,
        /// The message.
        body: String,
    },
    /// App or chat lifecycle.
    Lifecycle(LifecycleEvent),
    /// A WebRTC engine response.
    WebRtc(WebRtcResponse),
    /// The user answered a permission prompt.
    PermissionAnswered {
        /// Which permission.
        permission: Permission,
        /// The answer.
        granted: bool,
    },
    /// A Bluetooth headset was connected or disconnected (a route change).
    BluetoothAvailable {
        /// Whether a headset is connected now.
        available: bool,
    },
    /// Time passed: fire the timers that are due.
    Timeout,
}

/// What the in-app UI shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum UiEvent {
    /// The in-app incoming call view appeared (no CallKit, or CallKit failed).
    IncomingCallShown {
        /// The caller.
        contact_id: ContactId,
        /// Audio or video.
        media: CallMediaType,
    },
    /// The in-app incoming call view disappeared.
    IncomingCallHidden {
        /// The caller.
        contact_id: ContactId,
    },
    /// A local notification about a call was posted.
    CallNotification {
        /// The caller.
        contact_id: ContactId,
        /// Audio or video.
        media: CallMediaType,
    },
    /// The active call's state changed (`None`: no active call any more).
    CallState {
        /// The other party.
        contact_id: ContactId,
        /// The new state.
        state: Option<AppCallState>,
    },
    /// An alert.
    Alert {
        /// Its text.
        text: String,
    },
}

/// What the phone asks of the app's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum LifecycleCommand {
    /// Start the chat (for a push-started call); answered by [`LifecycleEvent::ChatStarted`].
    StartChat,
    /// Suspend the chat again (3 s after a push-started call ends).
    SuspendChat,
}

/// Everything the phone does.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "value", rename_all = "camelCase")]
pub enum Output {
    /// Send a chat message through the relay.
    Send {
        /// The recipient.
        contact_id: ContactId,
        /// The encoded message.
        body: String,
        /// SMP's notification flag.
        notify: bool,
        /// The event tag (`x.call.inv`, ...). A real relay cannot see it; a simulation uses it
        /// to inject per-event faults and to label traces.
        event: &'static str,
    },
    /// A CallKit request.
    CallKit(CallKitCommand),
    /// An audio session command.
    Audio(AudioCommand),
    /// A WebRTC engine command.
    WebRtc(WebRtcCommand),
    /// A sound.
    Sound(SoundCommand),
    /// A UI change.
    Ui(UiEvent),
    /// A chat-core event: items, errors, and what the core told the app.
    Chat(CoreEvent),
    /// Show the system permission prompt.
    RequestPermission(Permission),
    /// A lifecycle request.
    Lifecycle(LifecycleCommand),
    /// Nothing more now; the next timer deadline, if any.
    Timeout(Option<Timestamp>),
}

/// Counters of what the phone dropped, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct PhoneStats {
    /// Messages the relay delivered again after the agent had processed them (a lost ACK, a
    /// reconnect): SimpleX's agent drops them before the chat core sees them.
    pub redeliveries_dropped: u64,
    /// Received messages that did not decode.
    pub undecodable_messages: u64,
    /// Core message errors (stale or out-of-state call messages).
    pub message_errors: u64,
    /// Commands the core refused (e.g. candidates sent before the answer).
    pub refused_commands: u64,
    /// WebRTC responses with no active call.
    pub stray_webrtc_responses: u64,
}

/// The part of SimpleX's messaging agent (simplexmq) that calls see: it drops a message the
/// relay delivers again after the chat processed and acknowledged it.
///
/// A redelivery carries the same relay message id; the agent's ratchet refuses to decrypt it
/// again (`A_DUPLICATE`), finds it as the last message received and already acknowledged by the
/// chat, and acknowledges it to the relay without telling the chat (`processSMPTransmissions`,
/// `Agent.hs`). Here every delivered message is processed at once, so it is always acknowledged
/// by the time a copy comes. The agent's store survives the app's process.
#[derive(Debug, Clone, Default)]
pub(crate) struct Agent {
    /// The relay message ids received from each contact, the newest [`Agent::WINDOW`] of them.
    /// A fault may reorder a queue (a held message released late), which the ratchet allows:
    /// only a message received before is a duplicate.
    received: BTreeMap<ContactId, BTreeSet<u64>>,
}

impl Agent {
    /// How many ids per contact are remembered; anything older counts as received.
    const WINDOW: usize = 256;

    /// Whether a delivered message is new (true) or a redelivery to drop (false).
    pub(crate) fn accept(&mut self, contact_id: ContactId, msg_id: u64) -> bool {
        let ids = self.received.entry(contact_id).or_default();
        let too_old = ids.len() == Self::WINDOW && ids.first().is_some_and(|first| msg_id < *first);
        if too_old || !ids.insert(msg_id) {
            return false;
        }
        if ids.len() > Self::WINDOW {
            ids.pop_first();
        }
        true
    }
}

/// One device: the app layer over the chat-core layer.
#[derive(Debug, Clone)]
pub struct Phone {
    pub(crate) config: PhoneConfig,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) now: Timestamp,
    pub(crate) core: ChatCore,
    pub(crate) agent: Agent,
    pub(crate) app: App,
    pub(crate) timers: timers::Timers,
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) stats: PhoneStats,
}

impl Phone {
    /// A phone with no contacts, its chat not yet running.
    pub fn new(config: PhoneConfig) -> Self {
        let core = ChatCore::new(ChatConfig {
            user: UserRef {
                user_id: 1,
                local_display_name: config.name.clone(),
            },
            chat_version: crate::chat::CHAT_VERSION_RANGE,
            call_versions: config.call_versions,
        });
        Phone {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            app: App::new(&config),
            config,
            now: Timestamp(0),
            core,
            agent: Agent::default(),
            timers: timers::Timers::default(),
            outputs: VecDeque::new(),
            stats: PhoneStats::default(),
        }
    }

    // ---- getters ----

    /// The phone's settings.
    pub fn config(&self) -> &PhoneConfig {
        &self.config
    }

    /// The chat-core layer, for observation.
    pub fn core(&self) -> &ChatCore {
        &self.core
    }

    /// The app layer, for observation.
    pub fn app(&self) -> &App {
        &self.app
    }

    /// What the phone dropped so far.
    pub fn stats(&self) -> PhoneStats {
        self.stats
    }

    /// The time of the last input.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    // ---- mutators ----

    /// Adds a contact with calls allowed.
    pub fn add_contact(&mut self, contact_id: ContactId, name: &str) {
        self.core.add_contact(
            contact_id,
            Contact {
                name: name.to_owned(),
                calls_allowed: true,
            },
        );
    }

    /// Feeds one input at time `now` (which must not be earlier than the last one).
    pub fn handle_input(&mut self, now: Timestamp, input: Input) {
        let span = tracing::debug_span!("phone", name = %self.config.name);
        let _entered = span.enter();
        if now < self.now {
            debug!(%now, last = %self.now, "time went back; using the last time");
        }
        self.now = self.now.max(now);
        match input {
            Input::User(action) => self.on_user_action(action),
            Input::CallKit(event) => self.on_callkit(event),
            Input::Message {
                contact_id,
                broker_ts,
                msg_id,
                body,
            } => {
                if self.agent.accept(contact_id, msg_id) {
                    self.on_message(contact_id, broker_ts, &body);
                } else {
                    self.stats.redeliveries_dropped += 1;
                }
            }
            Input::Push {
                contact_id,
                broker_ts,
                msg_id,
                body,
            } => {
                if self.agent.accept(contact_id, msg_id) {
                    self.on_push(contact_id, broker_ts, &body);
                } else {
                    self.stats.redeliveries_dropped += 1;
                }
            }
            Input::Lifecycle(event) => self.on_lifecycle(event),
            Input::WebRtc(response) => self.on_webrtc(response),
            Input::PermissionAnswered {
                permission,
                granted,
            } => self.on_permission(permission, granted),
            Input::BluetoothAvailable { available } => self.on_bluetooth(available),
            Input::Timeout => self.on_timeout(),
        }
        self.process_core_outputs();
    }

    /// The next output; [`Output::Timeout`] when there is nothing more until the next input.
    #[must_use]
    pub fn poll_output(&mut self) -> Output {
        self.outputs
            .pop_front()
            .unwrap_or_else(|| Output::Timeout(self.timers.next_deadline()))
    }

    // ---- internals shared by the app layer ----

    pub(crate) fn emit(&mut self, output: Output) {
        self.outputs.push_back(output);
    }

    fn on_message(&mut self, contact_id: ContactId, broker_ts: Timestamp, body: &str) {
        let (now, rng) = (self.now, &mut self.rng);
        if let Err(error) = self.core.receive(now, rng, contact_id, broker_ts, body) {
            self.stats.undecodable_messages += 1;
            debug!(contact_id, %error, "undecodable message");
        }
    }

    fn on_timeout(&mut self) {
        while let Some(timer) = self.timers.pop_due(self.now) {
            debug!(?timer, "timer fired");
            self.on_timer(timer);
            self.process_core_outputs();
        }
    }

    /// Hands the core's sends to the relay and its events to the app, until both are quiet.
    pub(crate) fn process_core_outputs(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                CoreOutput::Send {
                    contact_id,
                    message,
                    notify,
                } => match message.to_json() {
                    Ok(body) => self.emit(Output::Send {
                        contact_id,
                        body,
                        notify,
                        event: message.event.tag(),
                    }),
                    Err(error) => debug!(contact_id, %error, "message not sent"),
                },
                CoreOutput::Event(event) => {
                    if matches!(event, CoreEvent::MessageError { .. }) {
                        self.stats.message_errors += 1;
                    }
                    // Observers see the event before what the app did about it.
                    let at = self.outputs.len();
                    if self.app.chat_running() {
                        self.on_core_event(&event);
                    }
                    self.outputs.insert(at, Output::Chat(event));
                }
            }
        }
    }
}

//! The phone's platform edges: the traits a driver dispatches the phone's outputs to.
//!
//! A backend is a command sink: each method takes the simulated `now` and one command, and
//! returns at once. Whatever it completes later (a CallKit action, a WebRTC offer, a message
//! from the relay) it reports through the [`Inbox`] it was given, as an [`Input`] for the phone,
//! after a delay of its choosing. So a fake can stay pending for as long as a scenario needs,
//! a mockall mock can answer from a closure, and the engine never depends on a runtime. What
//! crosses these edges is in [`crate::io`].

use crate::chat::CoreEvent;
use crate::ids::{ClientId, ContactId};
use crate::io::audio::AudioCommand;
use crate::io::callkit::CallKitCommand;
use crate::io::sound::SoundCommand;
use crate::io::webrtc::{ClientCall, WebRtcCommand};
use crate::io::{Input, LifecycleCommand, MessageKind, Output, Permission, UiEvent};
use crate::protocol::Timestamp;

/// Where a backend reports what it completes.
pub trait Inbox: Send + Sync {
    /// Delivers `input` to the phone `after_ms` milliseconds of simulated time from now
    /// (0: next). Inputs with the same delivery time arrive in the order they were given.
    fn deliver(&self, after_ms: u64, input: Input);
}

/// CallKit: `CXProvider` and `CXCallController`.
pub trait CallKit: Send {
    /// Reports, transactions, fulfil and fail; completions come back as [`Input::CallKit`].
    fn execute(&mut self, now: Timestamp, command: CallKitCommand);
}

/// The audio session.
pub trait AudioSession: Send {
    /// Category, mode, routes and activation.
    fn execute(&mut self, now: Timestamp, command: AudioCommand);
}

/// The WebRTC engine: the clients the call views make (`WebRTCClient`), one at a time.
pub trait WebRtc: Send {
    /// A command of SimpleX's WebRTC protocol to a client; its responses come back as
    /// [`Input::WebRtc`] with the same client id.
    fn execute(&mut self, now: Timestamp, client: ClientId, command: WebRtcCommand);
    /// A direct call on a client, which answers nothing.
    fn call(&mut self, now: Timestamp, client: ClientId, call: ClientCall);
}

/// The chat's connection to its SMP relay.
pub trait SmpClient: Send {
    /// Sends a message to the contact's queue; received messages come back as
    /// [`Input::Message`] (or [`Input::Push`] while the chat is not running). `kind` names what
    /// the message carries, for simulated faults and traces; a real client ignores it.
    fn send(
        &mut self,
        now: Timestamp,
        contact_id: ContactId,
        body: String,
        notify: bool,
        kind: MessageKind,
    );
}

/// The ringtone, call sounds and haptics.
pub trait Ringer: Send {
    /// Starts or stops a sound.
    fn execute(&mut self, now: Timestamp, command: SoundCommand);
}

/// Camera and microphone permissions.
pub trait Permissions: Send {
    /// Shows the system prompt; the answer comes back as [`Input::PermissionAnswered`].
    fn request(&mut self, now: Timestamp, permission: Permission);
}

/// The rest of the device: the app's process and its UI.
pub trait Platform: Send {
    /// Starts or suspends the chat; a started chat reports [`Input::Lifecycle`].
    fn lifecycle(&mut self, now: Timestamp, command: LifecycleCommand);
    /// Shows a UI change.
    fn ui(&mut self, now: Timestamp, event: UiEvent);
    /// Sees a chat-core event (items, message errors); the default ignores it.
    fn chat(&mut self, _now: Timestamp, _event: CoreEvent) {}
}

/// The backends one phone runs against: where each of its outputs goes.
pub struct Backends {
    /// CallKit.
    pub callkit: Box<dyn CallKit>,
    /// The audio session.
    pub audio: Box<dyn AudioSession>,
    /// The WebRTC engine.
    pub webrtc: Box<dyn WebRtc>,
    /// The relay connection.
    pub smp: Box<dyn SmpClient>,
    /// Sounds.
    pub ringer: Box<dyn Ringer>,
    /// Permission prompts.
    pub permissions: Box<dyn Permissions>,
    /// The app's process and UI.
    pub platform: Box<dyn Platform>,
}

impl std::fmt::Debug for Backends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Backends")
    }
}

impl Backends {
    /// Hands one output of the phone to the backend it is for; a timeout is the caller's.
    pub fn dispatch(&mut self, now: Timestamp, output: Output) {
        match output {
            Output::Send {
                contact_id,
                body,
                notify,
                kind,
            } => self.smp.send(now, contact_id, body, notify, kind),
            Output::CallKit(command) => self.callkit.execute(now, command),
            Output::Audio(command) => self.audio.execute(now, command),
            Output::WebRtc { client, command } => self.webrtc.execute(now, client, command),
            Output::WebRtcClient { client, call } => self.webrtc.call(now, client, call),
            Output::Sound(command) => self.ringer.execute(now, command),
            Output::Ui(event) => self.platform.ui(now, event),
            Output::Chat(event) => self.platform.chat(now, event),
            Output::RequestPermission(p) => self.permissions.request(now, p),
            Output::Lifecycle(command) => self.platform.lifecycle(now, command),
            Output::Timeout(_) => {}
        }
    }
}

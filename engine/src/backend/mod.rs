//! The phone's platform edges: the traits a driver dispatches the phone's outputs to, and the
//! commands and events that cross them.
//!
//! A backend is a command sink: each method takes the simulated `now` and one command, and
//! returns at once. Whatever it completes later (a CallKit action, a WebRTC offer, a message
//! from the relay) it reports through the [`Inbox`] it was given, as a [`Input`] for the phone,
//! after a delay of its choosing. So a fake can stay pending for as long as a scenario needs,
//! a mockall mock can answer from a closure, and the engine never depends on a runtime.

pub mod audio;
pub mod callkit;
pub mod sound;
pub mod webrtc;

use crate::chat::{ContactId, CoreEvent};
use crate::phone::{Input, LifecycleCommand, Permission, UiEvent};
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
    fn execute(&mut self, now: Timestamp, command: callkit::CallKitCommand);
}

/// The audio session.
pub trait AudioSession: Send {
    /// Category, mode, routes and activation.
    fn execute(&mut self, now: Timestamp, command: audio::AudioCommand);
}

/// The WebRTC engine.
pub trait WebRtc: Send {
    /// A command; responses come back as [`Input::WebRtc`].
    fn execute(&mut self, now: Timestamp, command: webrtc::WebRtcCommand);
}

/// The chat's connection to its SMP relay.
pub trait SmpClient: Send {
    /// Sends a message to the contact's queue; received messages come back as
    /// [`Input::Message`] (or [`Input::Push`] while the chat is not running). `event` is the
    /// message's event tag, for simulated faults and traces; a real client ignores it.
    fn send(
        &mut self,
        now: Timestamp,
        contact_id: ContactId,
        body: String,
        notify: bool,
        event: &'static str,
    );
}

/// The ringtone, call sounds and haptics.
pub trait Ringer: Send {
    /// Starts or stops a sound.
    fn execute(&mut self, now: Timestamp, command: sound::SoundCommand);
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

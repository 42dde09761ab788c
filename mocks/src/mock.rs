//! mockall mocks of every backend trait: `MockCallKit`, `MockAudioSession`, `MockWebRtc`,
//! `MockSmpClient`, `MockRinger`, `MockPermissions`, `MockPlatform`.
//!
//! An expectation's closure can report back to the phone by capturing a clone of the driver's
//! inbox. A mock with no expectations fails on any call: the driver counts that panic in
//! [`callsim_engine::driver::DriverReport::backend_panics`], and a test asserts it is zero.

use callsim_engine::ids::{ClientId, ContactId};
use callsim_engine::io::audio::AudioCommand;
use callsim_engine::io::callkit::CallKitCommand;
use callsim_engine::io::sound::SoundCommand;
use callsim_engine::io::webrtc::{ClientCall, WebRtcCommand};
use callsim_engine::io::{LifecycleCommand, MessageKind, Permission, UiEvent};
use callsim_engine::protocol::Timestamp;
use mockall::mock;

mock! {
    /// A mock of [`callsim_engine::backend::CallKit`].
    pub CallKit {}
    impl callsim_engine::backend::CallKit for CallKit {
        fn execute(&mut self, now: Timestamp, command: CallKitCommand);
    }
}

mock! {
    /// A mock of [`callsim_engine::backend::AudioSession`].
    pub AudioSession {}
    impl callsim_engine::backend::AudioSession for AudioSession {
        fn execute(&mut self, now: Timestamp, command: AudioCommand);
    }
}

mock! {
    /// A mock of [`callsim_engine::backend::WebRtc`].
    pub WebRtc {}
    impl callsim_engine::backend::WebRtc for WebRtc {
        fn execute(&mut self, now: Timestamp, client: ClientId, command: WebRtcCommand);
        fn call(&mut self, now: Timestamp, client: ClientId, call: ClientCall);
    }
}

mock! {
    /// A mock of [`callsim_engine::backend::SmpClient`].
    pub SmpClient {}
    impl callsim_engine::backend::SmpClient for SmpClient {
        fn send(
            &mut self,
            now: Timestamp,
            contact_id: ContactId,
            body: String,
            notify: bool,
            kind: MessageKind,
        );
    }
}

mock! {
    /// A mock of [`callsim_engine::backend::Ringer`].
    pub Ringer {}
    impl callsim_engine::backend::Ringer for Ringer {
        fn execute(&mut self, now: Timestamp, command: SoundCommand);
    }
}

mock! {
    /// A mock of [`callsim_engine::backend::Permissions`].
    pub Permissions {}
    impl callsim_engine::backend::Permissions for Permissions {
        fn request(&mut self, now: Timestamp, permission: Permission);
    }
}

mock! {
    /// A mock of [`callsim_engine::backend::Platform`] (chat events use the default no-op).
    pub Platform {}
    impl callsim_engine::backend::Platform for Platform {
        fn lifecycle(&mut self, now: Timestamp, command: LifecycleCommand);
        fn ui(&mut self, now: Timestamp, event: UiEvent);
    }
}

//! callsim-sim: the simulated worlds phones run in.
//!
//! Two worlds run the same phones, behind one [`World`] trait:
//! - [`memory`]: an in-memory world (quinn's `Pair` is the model): phones, a relay with SMP's
//!   delivery rules, WebRTC (scripted, or SimRtc over loss models), the platform fakes, and
//!   virtual time that jumps to the next event. No network stack, so it runs thousands of
//!   calls per second; the explorer, the sweep and the engine benchmark build on it.
//! - [`world`]: the turmoil world: phones and a relay as hosts of a deterministic network
//!   simulation (TCP to the relay, UDP between phones), with network faults, seeds and traces.
//!
//! Both write the same typed trace ([`trace`]), from which the sequence diagrams are drawn.
//! [`rtc`] holds the WebRTC backends, [`loss`] the loss models.
#![forbid(unsafe_code)]

pub mod baseline;
mod e2e;
pub mod explore;
pub mod loopback;
pub mod loss;
pub mod memory;
pub mod paths;
pub mod rtc;
pub mod seeded;
pub mod setup;
pub mod standalone;
pub mod trace;
pub mod world;

use std::fmt;

use callsim_engine::app::AppCallState;
use callsim_engine::ids::ContactId;
use callsim_engine::io::{MessageKind, UserAction};
use callsim_engine::phone::Phone;
use callsim_engine::protocol::{CallMediaType, Timestamp};
use callsim_mocks::FakeCallKit;

use loss::Loss;
use rtc::RtcStats;
use trace::TraceRecord;

/// A phone of a world: its index, in the order phones were added.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct PhoneId(pub usize);

impl PhoneId {
    /// The index, for tables of phones.
    pub fn index(self) -> usize {
        self.0
    }

    /// The ids of a world of `count` phones, in order.
    pub fn all(count: usize) -> impl Iterator<Item = PhoneId> + Clone {
        (0..count).map(PhoneId)
    }

    /// The contact id under which the other phones know this one.
    pub fn contact(self) -> ContactId {
        callsim_mocks::relay::contact_id(self.0)
    }
}

impl fmt::Display for PhoneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "phone {}", self.0)
    }
}

/// What a world could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorldError {
    /// The simulator stopped with an error from a host's software.
    #[error("simulation failed: {0}")]
    Simulation(String),
    /// The world (or its WebRTC model) does not model what was asked.
    #[error("the {world} does not model {what}")]
    Unsupported {
        /// Which world, e.g. "in-memory world with scripted WebRTC".
        world: &'static str,
        /// What it was asked for.
        what: &'static str,
    },
}

/// A complete call did not go as it should: the step that did not happen, or the world's
/// failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The callee did not ring within a minute.
    #[error("{0} did not ring")]
    NoRing(String),
    /// CallKit had nothing ringing to answer.
    #[error("the answer found no ringing call")]
    NothingToAnswer,
    /// The phones were not connected within a minute of the answer.
    #[error("the call did not connect")]
    NotConnected,
    /// A phone still had a call, a CallKit call or an active audio session a minute after the
    /// end.
    #[error("the phones did not go idle after the end")]
    NotIdle,
    /// The world failed.
    #[error(transparent)]
    World(#[from] WorldError),
}

/// One complete call in any world: `caller` calls, `callee` answers on CallKit as soon as it
/// rings, they talk for `talk_ms`, the caller ends, and both phones go idle (no call, no
/// CallKit call, audio session inactive). Each step has a minute of simulated time.
pub fn complete_call<W: World>(
    w: &mut W,
    caller: PhoneId,
    callee: PhoneId,
    media: CallMediaType,
    talk_ms: u64,
) -> Result<(), CallError> {
    const LIMIT: u64 = 60_000;
    w.start_call(caller, callee, media);
    if !w.advance_until(LIMIT, |w| w.with_callkit(callee, |c| c.ringing().is_some()))? {
        return Err(CallError::NoRing(w.name(callee)));
    }
    if !w.callkit_answer(callee) {
        return Err(CallError::NothingToAnswer);
    }
    if !w.advance_until(LIMIT, |w| w.connected(caller, callee))? {
        return Err(CallError::NotConnected);
    }
    w.advance(talk_ms)?;
    w.user(caller, UserAction::EndCall);
    let idle = |w: &W| {
        [caller, callee].iter().all(|&id| {
            w.call_state(id).is_none()
                && w.with_callkit(id, |c| c.live_calls() == 0)
                && !w.audio_active(id)
        })
    };
    if !w.advance_until(LIMIT, idle)? {
        return Err(CallError::NotIdle);
    }
    Ok(())
}

/// What every world offers: people acting on phones, faults, observations and time. World
/// tests are written once against it and run against each world.
pub trait World {
    /// Simulated time now.
    fn now(&self) -> Timestamp;

    /// Runs `ms` of simulated time.
    fn advance(&mut self, ms: u64) -> Result<(), WorldError>;

    /// Runs until `done` holds or `ms` have passed; whether `done` held.
    fn advance_until(
        &mut self,
        ms: u64,
        done: impl FnMut(&Self) -> bool,
    ) -> Result<bool, WorldError>
    where
        Self: Sized;

    /// How many phones there are.
    fn phone_count(&self) -> usize;

    /// A phone's owner's name.
    fn name(&self, id: PhoneId) -> String;

    /// A user action on a phone, now.
    fn user(&mut self, id: PhoneId, action: UserAction);

    /// The user answers on CallKit's screen; false if nothing rings there.
    fn callkit_answer(&mut self, id: PhoneId) -> bool;

    /// The user declines or ends on CallKit's screen; false if CallKit has no call.
    fn callkit_end(&mut self, id: PhoneId) -> bool;

    /// The app goes to the background.
    fn to_background(&mut self, id: PhoneId);

    /// The app comes to the foreground.
    fn to_foreground(&mut self, id: PhoneId);

    /// The app's process ends.
    fn kill_app(&mut self, id: PhoneId);

    /// The app's process starts again, in the foreground.
    fn launch_app(&mut self, id: PhoneId);

    /// How long pushes to a phone take.
    fn set_push_delay(&mut self, id: PhoneId, ms: u64);

    /// How long a phone's chat takes to start when woken.
    fn set_chat_start_delay(&mut self, id: PhoneId, ms: u64);

    /// The relay holds every message of this kind to `to`.
    fn hold(&mut self, to: PhoneId, kind: MessageKind);

    /// The relay releases what it held for `to`, in order.
    fn release(&mut self, to: PhoneId);

    /// The relay delivers every message of this kind to `to` twice (a lost ACK).
    fn duplicate(&mut self, to: PhoneId, kind: MessageKind);

    /// Loss on the media path between two phones, both ways; an error if the world's WebRTC
    /// has no packets to lose.
    fn set_media_loss(&mut self, a: PhoneId, b: PhoneId, loss: Loss) -> Result<(), WorldError>;

    /// The media path between two phones drops everything (`true`) or recovers.
    fn set_media_blocked(&mut self, a: PhoneId, b: PhoneId, blocked: bool);

    /// Looks at a phone.
    fn with_phone<T>(&self, id: PhoneId, f: impl FnOnce(&Phone) -> T) -> T
    where
        Self: Sized;

    /// Looks at a phone's CallKit.
    fn with_callkit<T>(&self, id: PhoneId, f: impl FnOnce(&FakeCallKit) -> T) -> T
    where
        Self: Sized;

    /// Whether a phone's audio session is active.
    fn audio_active(&self, id: PhoneId) -> bool;

    /// Whether a phone's ringtone plays.
    fn ringtone(&self, id: PhoneId) -> bool;

    /// A phone's WebRTC counters.
    fn rtc_stats(&self, id: PhoneId) -> RtcStats;

    /// The trace so far (empty if the world does not record one).
    fn trace(&self) -> Vec<TraceRecord>;

    /// `id` taps the call button in the chat with `peer`.
    fn start_call(&mut self, id: PhoneId, peer: PhoneId, media: CallMediaType) {
        let contact_id = peer.contact();
        self.user(id, UserAction::StartCall { contact_id, media });
    }

    /// The app's call state (`None`: no active call).
    fn call_state(&self, id: PhoneId) -> Option<AppCallState>
    where
        Self: Sized,
    {
        self.with_phone(id, |p| p.app().active_call().map(|c| c.state))
    }

    /// Whether a phone rings: CallKit's incoming screen, or the in-app view with ringtone.
    fn ringing(&self, id: PhoneId) -> bool
    where
        Self: Sized,
    {
        self.with_callkit(id, |c| c.ringing().is_some())
            || (self.with_phone(id, |p| p.app().incoming_view().is_some()) && self.ringtone(id))
    }

    /// Whether two phones are connected to each other.
    fn connected(&self, a: PhoneId, b: PhoneId) -> bool
    where
        Self: Sized,
    {
        let with = |x: PhoneId, y: PhoneId| {
            self.with_phone(x, |p| {
                p.app().active_call().is_some_and(|c| {
                    c.contact_id == y.contact() && c.state == AppCallState::Connected
                })
            })
        };
        with(a, b) && with(b, a)
    }

    /// The last call item `id` shows in the chat with `peer`.
    fn call_item(&self, id: PhoneId, peer: PhoneId) -> Option<String>
    where
        Self: Sized,
    {
        self.with_phone(id, |p| {
            p.core()
                .last_call_item(peer.contact())
                .map(|i| i.to_string())
        })
    }

    /// Whether `id`'s chat core holds a pending invitation from `peer`.
    fn has_invitation(&self, id: PhoneId, peer: PhoneId) -> bool
    where
        Self: Sized,
    {
        self.with_phone(id, |p| {
            p.core()
                .api_get_call_invitations()
                .iter()
                .any(|i| i.contact.contact_id == peer.contact())
        })
    }
}

//! The chat-core call layer, row by row against spec §2.2-2.6, and the §6.2 test script: the
//! shared helpers here, one module per section.

use callsim_engine::Error;
use callsim_engine::chat::{
    CallState, CallStateTag, ChatConfig, ChatCore, Contact, CoreEvent, CoreOutput,
    call_status_item_content,
};
use callsim_engine::protocol::{
    CICallStatus, CallEvent, CallId, CallMediaType, CallType, ChatMessage, Timestamp, UserRef,
    VersionRange, WebRTCCallOffer, WebRTCCallStatus, WebRTCExtraInfo, WebRTCSession,
};
use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

/// Each side's contact id for the other.
pub(crate) const PEER: i64 = 2;

pub(crate) fn core(name: &str, call_versions: Option<VersionRange>) -> ChatCore {
    let mut core = ChatCore::new(ChatConfig {
        user: UserRef {
            user_id: 1,
            local_display_name: name.into(),
        },
        chat_version: callsim_engine::chat::CHAT_VERSION_RANGE,
        call_versions,
        send_receipts: false,
    });
    let peer = if name == "alice" { "bob" } else { "alice" };
    core.add_contact(
        PEER,
        Contact {
            name: peer.into(),
            calls_allowed: true,
        },
    );
    core
}

pub(crate) fn at(secs: u64) -> Timestamp {
    Timestamp(secs * 1000)
}

pub(crate) fn drain(core: &mut ChatCore) -> Vec<CoreOutput> {
    std::iter::from_fn(|| core.poll_output()).collect()
}

pub(crate) fn sent(outputs: &[CoreOutput]) -> Vec<(&ChatMessage, bool)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            CoreOutput::Send {
                message, notify, ..
            } => Some((message, *notify)),
            CoreOutput::Event(_) | CoreOutput::SendReceipt { .. } => None,
        })
        .collect()
}

pub(crate) fn events(outputs: &[CoreOutput]) -> Vec<&CoreEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            CoreOutput::Event(e) => Some(e),
            CoreOutput::Send { .. } | CoreOutput::SendReceipt { .. } => None,
        })
        .collect()
}

pub(crate) fn message_errors(outputs: &[CoreOutput]) -> Vec<String> {
    events(outputs)
        .into_iter()
        .filter_map(|e| match e {
            CoreEvent::MessageError { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

pub(crate) fn item_text(core: &ChatCore) -> String {
    core.last_call_item(PEER)
        .map(|i| i.to_string())
        .unwrap_or_default()
}

pub(crate) fn state(core: &ChatCore) -> Option<CallStateTag> {
    core.call(PEER).map(|c| c.state.tag())
}

pub(crate) fn session(tag: &str) -> WebRTCSession {
    WebRTCSession {
        rtc_session: format!("{tag}-sdp"),
        rtc_ice_candidates: format!("{tag}-ice"),
    }
}

pub(crate) fn video(encrypted: bool) -> CallType {
    CallType::new(CallMediaType::Video, encrypted)
}

/// Two cores and the messages between them, each sent through its wire JSON.
pub(crate) struct Pair {
    alice: ChatCore,
    bob: ChatCore,
    rng: ChaCha8Rng,
    now: Timestamp,
}

impl Pair {
    pub(crate) fn new() -> Self {
        Pair::with_versions(None, None)
    }

    pub(crate) fn with_versions(a: Option<VersionRange>, b: Option<VersionRange>) -> Self {
        Pair {
            alice: core("alice", a),
            bob: core("bob", b),
            rng: ChaCha8Rng::seed_from_u64(1),
            now: at(100),
        }
    }

    /// Delivers everything `from` sent to the other side; returns the receiver's outputs.
    pub(crate) fn deliver(&mut self, from_alice: bool) -> Vec<CoreOutput> {
        let (from, to) = if from_alice {
            (&mut self.alice, &mut self.bob)
        } else {
            (&mut self.bob, &mut self.alice)
        };
        for output in drain(from) {
            if let CoreOutput::Send { message, .. } = output {
                let wire = message.to_json().expect("encodes");
                let message = ChatMessage::from_json(wire.as_bytes()).expect("decodes");
                to.handle_message(self.now, &mut self.rng, PEER, self.now, message);
            }
        }
        drain(to)
    }

    pub(crate) fn invite(&mut self, call_type: CallType) {
        let (now, rng) = (self.now, &mut self.rng);
        self.alice
            .api_send_call_invitation(now, rng, PEER, call_type)
            .expect("invites");
        self.deliver(true);
    }

    pub(crate) fn offer(&mut self, call_type: CallType) {
        let offer = WebRTCCallOffer {
            call_type,
            rtc_session: session("offer"),
        };
        let (now, rng) = (self.now, &mut self.rng);
        self.bob
            .api_send_call_offer(now, rng, PEER, offer)
            .expect("offers");
        self.deliver(false);
    }

    pub(crate) fn answer(&mut self) {
        let (now, rng) = (self.now, &mut self.rng);
        self.alice
            .api_send_call_answer(now, rng, PEER, session("answer"))
            .expect("answers");
        self.deliver(true);
    }
}

mod api;
mod errata;
mod item_status;
mod keys;
mod persistence;
mod received;
mod script;

//! The WebRTC command queue and the mapping of WebRTC responses to the core's API (spec §3.5, §3.6).

use tracing::debug;

use super::{AppCallState, CallDirection};
use crate::backend::callkit::CallKitCommand;
use crate::backend::sound::SoundCommand;
use crate::backend::webrtc::{WebRtcCommand, WebRtcResponse};
use crate::phone::{Output, Phone, Timer};
use crate::protocol::{
    CallType, WebRTCCallOffer, WebRTCCallStatus, WebRTCExtraInfo, WebRTCSession,
};

impl Phone {
    /// `WebRTCCommandProcessor`: FIFO; only `capabilities`, `start`, `offer` and `end` run
    /// without a peer connection, the others wait at the head of the queue.
    pub(crate) fn queue_webrtc(&mut self, command: WebRtcCommand) {
        self.app.webrtc_queue.push_back(command);
        while let Some(next) = self.app.webrtc_queue.front() {
            if !(next.runs_without_connection() || self.app.webrtc_has_connection) {
                break;
            }
            let Some(next) = self.app.webrtc_queue.pop_front() else {
                break;
            };
            match next {
                WebRtcCommand::Start { .. } | WebRtcCommand::Offer { .. } => {
                    self.app.webrtc_has_connection = true;
                }
                WebRtcCommand::End => self.app.webrtc_has_connection = false,
                _ => {}
            }
            self.emit(Output::WebRtc(next));
        }
    }

    /// `ActiveCallView.processRtcMessage`.
    pub(crate) fn on_webrtc(&mut self, response: WebRtcResponse) {
        let Some(call) = self.app.active_call.clone() else {
            self.stats.stray_webrtc_responses += 1;
            debug!(?response, "WebRTC response without an active call ignored");
            return;
        };
        let contact_id = call.contact_id;
        let (now, rng) = (self.now, &mut self.rng);
        match response {
            WebRtcResponse::Capabilities { capabilities } => {
                let call_type = CallType {
                    media: call.local_media,
                    capabilities,
                };
                if let Some(c) = self.app.active_call.as_mut() {
                    c.local_capabilities = Some(capabilities);
                }
                match self
                    .core
                    .api_send_call_invitation(now, rng, contact_id, call_type)
                {
                    Ok(()) => {
                        self.set_call_state(AppCallState::InvitationSent);
                        self.app.calling_sound = true;
                        self.emit(Output::Sound(SoundCommand::StartConnectingSound));
                        let at = self.now.add_ms(super::calls::IN_CALL_SOUND_DELAY_MS);
                        self.timers.arm(Timer::InCallSound, at);
                    }
                    Err(error) => {
                        self.stats.refused_commands += 1;
                        self.alert(&format!("Error starting the call: {error}"));
                        self.end_active_call();
                    }
                }
            }
            WebRtcResponse::Offer {
                offer,
                ice_candidates,
                capabilities,
            } => {
                if let Some(c) = self.app.active_call.as_mut() {
                    c.local_capabilities = Some(capabilities);
                }
                let offer = WebRTCCallOffer {
                    call_type: CallType {
                        media: call.local_media,
                        capabilities,
                    },
                    rtc_session: WebRTCSession {
                        rtc_session: offer,
                        rtc_ice_candidates: ice_candidates,
                    },
                };
                match self.core.api_send_call_offer(now, rng, contact_id, offer) {
                    Ok(()) => self.set_call_state(AppCallState::OfferSent),
                    Err(error) => self.refused(&error),
                }
            }
            WebRtcResponse::Answer {
                answer,
                ice_candidates,
            } => {
                let session = WebRTCSession {
                    rtc_session: answer,
                    rtc_ice_candidates: ice_candidates,
                };
                match self
                    .core
                    .api_send_call_answer(now, rng, contact_id, session)
                {
                    Ok(()) => {
                        self.set_call_state(AppCallState::Negotiated);
                        self.stop_call_sounds();
                    }
                    Err(error) => self.refused(&error),
                }
            }
            WebRtcResponse::Ice { ice_candidates } => {
                let extra = WebRTCExtraInfo {
                    rtc_ice_candidates: ice_candidates,
                };
                if let Err(error) = self.core.api_send_call_extra_info(rng, contact_id, extra) {
                    // Race 3: candidates before the answer hit the core in offerReceived.
                    self.refused(&error);
                }
            }
            WebRtcResponse::Connection { state } => {
                if state.connection_state == "connected" {
                    self.on_connected(&call);
                }
                if state.connection_state == "closed" {
                    self.set_call_state(AppCallState::Ended);
                    self.close_call_view();
                    return;
                }
                // The iOS wrapper drops strings the core does not know before calling it.
                if let Ok(status) = state.connection_state.parse::<WebRTCCallStatus>() {
                    if let Err(error) = self.core.api_call_status(now, contact_id, status) {
                        self.refused(&error);
                    }
                }
            }
            WebRtcResponse::Connected { connection_info } => {
                if let Some(c) = self.app.active_call.as_mut() {
                    c.connection_info = Some(connection_info);
                }
                self.set_call_state(AppCallState::Connected);
            }
            WebRtcResponse::Ended => {
                self.set_call_state(AppCallState::Ended);
                match call.call_uuid {
                    Some(uuid) if self.app.callkit_calls.contains(&uuid) => {
                        self.emit(Output::CallKit(CallKitCommand::RequestEndCall { uuid }));
                    }
                    _ => {
                        self.end_active_call();
                        self.suspend_on_end_call();
                    }
                }
            }
            WebRtcResponse::Ok => {}
            WebRtcResponse::Error { message } => self.alert(&message),
        }
    }

    fn on_connected(&mut self, call: &super::AppCall) {
        if call.state == AppCallState::Connected {
            return;
        }
        match call.direction {
            CallDirection::Outgoing => {
                if let Some(uuid) = call.call_uuid.clone() {
                    if self.app.callkit_calls.contains(&uuid) {
                        self.emit(Output::CallKit(CallKitCommand::ReportOutgoingConnected {
                            uuid,
                        }));
                    }
                }
            }
            CallDirection::Incoming => {
                // fulfillOnConnect: only now may CallKit turn the audio on.
                if let Some(action) = self.app.fulfill_on_connect.take() {
                    self.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
                }
            }
        }
        if let Some(c) = self.app.active_call.as_mut() {
            c.connected_at = Some(self.now);
        }
        self.set_call_state(AppCallState::Connected);
        self.stop_call_sounds();
        self.emit(Output::Sound(SoundCommand::Vibrate));
    }

    fn refused(&mut self, error: &crate::Error) {
        self.stats.refused_commands += 1;
        debug!(%error, "the core refused a command");
    }

    pub(crate) fn stop_call_sounds(&mut self) {
        if std::mem::take(&mut self.app.calling_sound) {
            self.emit(Output::Sound(SoundCommand::StopCallSounds));
        }
    }
}

//! `ActiveCallView` (`ActiveCallView.swift`): what the call view does while it shows. It makes
//! the WebRTC client, asks for permissions, maps the client's responses to the core's `api*`
//! commands (`processRtcMessage`) and plays the call sounds (`CallSoundsPlayer`).

use tracing::debug;

use super::{App, AppCallState, CallDirection, Ctx};
use crate::ids::ClientId;
use crate::io::audio::{AudioCategory, AudioCommand, AudioMode};
use crate::io::callkit::CallKitCommand;
use crate::io::sound::SoundCommand;
use crate::io::webrtc::{ClientCall, CommandKind, IceConnectionState, WebRtcResponse};
use crate::io::{Output, Permission, PermissionStatus, UiEvent};
use crate::protocol::{
    CallMediaType, CallType, WebRTCCallOffer, WebRTCCallStatus, WebRTCExtraInfo, WebRTCSession,
};

/// `askRequiredPermissions`: the microphone first, then the camera for a video call; at the end
/// one alert if either is missing, the microphone's first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PermissionCheck {
    /// Waiting for the microphone prompt.
    Microphone,
    /// Waiting for the camera prompt; the microphone's answer.
    Camera {
        /// Whether the microphone is allowed.
        mic: bool,
    },
    /// Done.
    Done,
}

/// The call sounds of an outgoing call (`CallSoundsPlayer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sounds {
    /// Nothing plays.
    Silent,
    /// `connecting_call` loops until the invitation's delivery receipt.
    Connecting,
    /// `in_call` loops (the ringback).
    InCall,
}

/// The call view while it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    /// The WebRTC client the view made.
    client: ClientId,
    /// The call connected while the view showed (`wasConnected`): it vibrates long on close.
    was_connected: bool,
    permissions: PermissionCheck,
    sounds: Sounds,
}

impl CallView {
    /// Whether the call connected while the view showed.
    pub fn was_connected(&self) -> bool {
        self.was_connected
    }
}

/// The alert of a missing permission (`WebRTCClient.showUnauthorizedAlert`): title, message.
pub fn permission_alert(permission: Permission) -> (&'static str, &'static str) {
    match permission {
        Permission::Microphone => (
            "No permission to record speech",
            "To record speech please grant permission to use Microphone.",
        ),
        Permission::Camera => (
            "No permission to record video",
            "To record video please grant permission to use Camera.",
        ),
    }
}

impl App {
    /// `showCallView = true`: the view appears, makes its WebRTC client (queued commands run)
    /// and asks for the permissions the call needs, both at once.
    pub(crate) fn show_call_view(&mut self, cx: &mut Ctx<'_>) {
        if self.view.is_some() {
            return;
        }
        let Some(contact_id) = self.model.active.as_ref().map(|c| c.contact_id) else {
            return;
        };
        self.clients += 1;
        let client = self.clients;
        self.view = Some(CallView {
            client,
            was_connected: false,
            permissions: PermissionCheck::Done,
            sounds: Sounds::Silent,
        });
        cx.emit(Output::Ui(UiEvent::CallViewShown { contact_id }));
        self.sync_ringtone(cx);
        self.queue.set_client(client, cx.out);
        self.ask_microphone(cx);
    }

    /// `showCallView = false`: the view goes (`onDisappear`): the queue drops its client, the
    /// client ends its call, the sounds stop, the audio session goes back to its defaults, and
    /// a connected call's view vibrates long.
    pub(crate) fn close_call_view(&mut self, cx: &mut Ctx<'_>) {
        let Some(view) = self.view.take() else {
            return;
        };
        cx.emit(Output::Ui(UiEvent::CallViewHidden));
        self.sync_ringtone(cx);
        self.queue.drop_client();
        cx.emit(Output::WebRtcClient {
            client: view.client,
            call: ClientCall::EndCall,
        });
        self.audio_to_defaults(cx);
        if view.sounds != Sounds::Silent {
            cx.emit(Output::Sound(SoundCommand::StopCallSounds));
        }
        cx.emit(Output::Audio(AudioCommand::Configure {
            category: AudioCategory::SoloAmbient,
            mode: AudioMode::Default,
            default_to_speaker: false,
        }));
        if view.was_connected {
            cx.emit(Output::Sound(SoundCommand::Vibrate { long: true }));
        }
    }

    // ---- permissions (errata A7) ----

    fn ask_microphone(&mut self, cx: &mut Ctx<'_>) {
        match self.permissions.status(Permission::Microphone) {
            PermissionStatus::NotDetermined => {
                self.set_permission_check(PermissionCheck::Microphone);
                cx.emit(Output::RequestPermission(Permission::Microphone));
            }
            status => self.ask_camera(cx, status == PermissionStatus::Granted),
        }
    }

    fn ask_camera(&mut self, cx: &mut Ctx<'_>, mic: bool) {
        let video = self
            .model
            .active
            .as_ref()
            .is_some_and(|c| c.media == CallMediaType::Video);
        let status = self.permissions.status(Permission::Camera);
        if video && status == PermissionStatus::NotDetermined {
            self.set_permission_check(PermissionCheck::Camera { mic });
            cx.emit(Output::RequestPermission(Permission::Camera));
        } else {
            let camera = !video || status == PermissionStatus::Granted;
            self.permissions_checked(cx, mic, camera);
        }
    }

    /// The user answered a prompt the call view showed.
    pub(crate) fn permission_answered(
        &mut self,
        cx: &mut Ctx<'_>,
        permission: Permission,
        granted: bool,
    ) {
        let Some(check) = self.view.as_ref().map(|v| v.permissions) else {
            return;
        };
        match (check, permission) {
            (PermissionCheck::Microphone, Permission::Microphone) => self.ask_camera(cx, granted),
            (PermissionCheck::Camera { mic }, Permission::Camera) => {
                if granted {
                    self.client_call(cx, ClientCall::SetCameraEnabled { enabled: true });
                }
                self.permissions_checked(cx, mic, granted);
            }
            _ => {}
        }
    }

    /// The end of `askRequiredPermissions`: the call goes on with what is allowed; one alert if
    /// something is missing.
    fn permissions_checked(&mut self, cx: &mut Ctx<'_>, mic: bool, camera: bool) {
        self.set_permission_check(PermissionCheck::Done);
        if let Some(call) = self.model.active.as_mut() {
            call.mic = mic;
            call.camera = call.camera && camera;
        }
        if !mic {
            self.permission_alert(cx, Permission::Microphone);
        } else if !camera {
            self.permission_alert(cx, Permission::Camera);
        }
    }

    pub(crate) fn permission_alert(&mut self, cx: &mut Ctx<'_>, permission: Permission) {
        let (title, message) = permission_alert(permission);
        self.alert(cx, title, message);
    }

    fn set_permission_check(&mut self, check: PermissionCheck) {
        if let Some(view) = self.view.as_mut() {
            view.permissions = check;
        }
    }

    // ---- processRtcMessage ----

    /// A direct call on the call view's client, if a view shows.
    pub(crate) fn client_call(&mut self, cx: &mut Ctx<'_>, call: ClientCall) {
        if let Some(view) = &self.view {
            cx.emit(Output::WebRtcClient {
                client: view.client,
                call,
            });
        }
    }

    /// `processRtcMessage`: acted on only by the view whose client answered, for the active
    /// call.
    pub(crate) fn on_webrtc(
        &mut self,
        cx: &mut Ctx<'_>,
        client: ClientId,
        response: WebRtcResponse,
    ) {
        let ours = self.view.as_ref().is_some_and(|v| v.client == client);
        let Some(call) = self.model.active.clone().filter(|_| ours) else {
            cx.stats.stray_webrtc_responses += 1;
            debug!(
                client,
                ?response,
                "WebRTC response of no active call view ignored"
            );
            return;
        };
        let contact_id = call.contact_id;
        let (now, rng) = (cx.now, &mut *cx.rng);
        match response {
            WebRtcResponse::Capabilities { capabilities } => {
                let call_type = CallType {
                    media: call.media,
                    capabilities,
                };
                if let Err(error) = cx
                    .core
                    .api_send_call_invitation(now, rng, contact_id, call_type)
                {
                    cx.refused("apiSendCallInvitation", &error);
                }
                // The state moves on whatever the core said (errata A10).
                self.set_call_state(cx, AppCallState::InvitationSent);
                if let Some(c) = self.model.active.as_mut() {
                    c.local_capabilities = Some(capabilities);
                }
                if call.camera && !self.bluetooth {
                    // The ringback of a video call plays on the speaker.
                    cx.emit(Output::Audio(AudioCommand::Configure {
                        category: AudioCategory::Playback,
                        mode: AudioMode::Default,
                        default_to_speaker: false,
                    }));
                }
                self.set_sounds(cx, Sounds::Connecting);
            }
            WebRtcResponse::Offer {
                offer,
                ice_candidates,
                capabilities,
            } => {
                let offer = WebRTCCallOffer {
                    call_type: CallType {
                        media: call.media,
                        capabilities,
                    },
                    rtc_session: WebRTCSession {
                        rtc_session: offer,
                        rtc_ice_candidates: ice_candidates,
                    },
                };
                if let Err(error) = cx.core.api_send_call_offer(now, rng, contact_id, offer) {
                    cx.refused("apiSendCallOffer", &error);
                }
                self.set_call_state(cx, AppCallState::OfferSent);
                if let Some(c) = self.model.active.as_mut() {
                    c.local_capabilities = Some(capabilities);
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
                if let Err(error) = cx.core.api_send_call_answer(now, rng, contact_id, session) {
                    cx.refused("apiSendCallAnswer", &error);
                }
                self.set_call_state(cx, AppCallState::Negotiated);
                self.set_sounds(cx, Sounds::Silent);
            }
            WebRtcResponse::Ice { ice_candidates } => {
                let extra = WebRTCExtraInfo {
                    rtc_ice_candidates: ice_candidates,
                };
                if let Err(error) = cx.core.api_send_call_extra_info(rng, contact_id, extra) {
                    // Race 3: candidates before the answer meet the core in offerReceived.
                    cx.refused("apiSendCallExtraInfo", &error);
                }
            }
            WebRtcResponse::Connection { state } => {
                let ice = state.connection_state;
                if ice == IceConnectionState::Connected {
                    self.on_connected(cx, &call);
                }
                if ice == IceConnectionState::Closed {
                    self.close_call_view(cx);
                    if let Some(uuid) = call.call_uuid.clone() {
                        self.end_call_by_uuid(cx, uuid);
                    }
                    self.set_active_call(cx, None);
                }
                // `apiCallStatus` passes on only SimpleX's four statuses; ICE states give
                // `connected`, `disconnected` and `failed`, never `connecting` (errata A15).
                if let Ok(status) = ice.as_str().parse::<WebRTCCallStatus>()
                    && let Err(error) = cx.core.api_call_status(now, contact_id, status)
                {
                    cx.refused("apiCallStatus", &error);
                }
                self.client_saw_ice_state(cx, ice);
            }
            WebRtcResponse::Connected { connection_info } => {
                self.set_call_state(cx, AppCallState::Connected);
                if let Some(c) = self.model.active.as_mut() {
                    c.connection_info = Some(connection_info);
                    c.connected_at = Some(now);
                }
                self.vibrate_once(cx);
            }
            WebRtcResponse::Ended => {
                self.close_call_view(cx);
                self.set_call_state(cx, AppCallState::Ended);
                if let Some(uuid) = call.call_uuid.clone() {
                    self.end_call_by_uuid(cx, uuid);
                }
            }
            WebRtcResponse::Ok { command } => match command {
                CommandKind::Answer => self.set_call_state(cx, AppCallState::Negotiated),
                CommandKind::End => {
                    self.close_call_view(cx);
                    self.set_active_call(cx, None);
                }
                _ => {}
            },
            WebRtcResponse::Error { message } => self.alert(cx, "Error", &message),
        }
    }

    /// The `connection` response of `connected`: the CallKit report (outgoing) or the answer
    /// action fulfilled (incoming, `fulfillOnConnect`), the state, a short vibration.
    fn on_connected(&mut self, cx: &mut Ctx<'_>, call: &super::AppCall) {
        match call.direction {
            CallDirection::Outgoing => {
                if let Some(uuid) = call.call_uuid.clone().filter(|_| cx.config.use_callkit()) {
                    cx.emit(Output::CallKit(CallKitCommand::ReportOutgoingConnected {
                        uuid,
                    }));
                }
            }
            CallDirection::Incoming => {
                if cx.config.use_callkit()
                    && let Some(action) = self.callkit.fulfill_on_connect.take()
                {
                    cx.emit(Output::CallKit(CallKitCommand::Fulfill { action }));
                }
            }
        }
        self.set_call_state(cx, AppCallState::Connected);
        if let Some(c) = self.model.active.as_mut() {
            c.connected_at = Some(cx.now);
        }
        self.vibrate_once(cx);
    }

    fn vibrate_once(&mut self, cx: &mut Ctx<'_>) {
        if let Some(view) = self.view.as_mut()
            && !view.was_connected
        {
            view.was_connected = true;
            cx.emit(Output::Sound(SoundCommand::Vibrate { long: false }));
        }
    }

    /// What the native client does itself after reporting an ICE state: on `checking` it
    /// configures and activates the audio session for the call's local video (errata A14); on
    /// `disconnected` or `failed` it ends its call, so its next word is `closed`.
    fn client_saw_ice_state(&mut self, cx: &mut Ctx<'_>, ice: IceConnectionState) {
        match ice {
            IceConnectionState::Checking => {
                let video = self.model.active.as_ref().is_some_and(|c| c.camera);
                self.configure_session(cx, video);
            }
            IceConnectionState::Disconnected
            | IceConnectionState::Failed
            | IceConnectionState::Closed => self.queue.peer_connection_closed(),
            _ => {}
        }
    }

    // ---- sounds (errata A9) ----

    fn set_sounds(&mut self, cx: &mut Ctx<'_>, sounds: Sounds) {
        let Some(view) = self.view.as_mut() else {
            return;
        };
        if view.sounds == sounds {
            return;
        }
        let before = std::mem::replace(&mut view.sounds, sounds);
        cx.emit(Output::Sound(match sounds {
            Sounds::Connecting => SoundCommand::StartConnectingSound,
            Sounds::InCall => SoundCommand::StartInCallLoop,
            Sounds::Silent if before != Sounds::Silent => SoundCommand::StopCallSounds,
            Sounds::Silent => return,
        }));
    }

    /// `activeCallWaitDeliveryReceipt`: the invitation's delivery receipt turns the connecting
    /// sound into the ringback, while the call still waits for an answer.
    pub(crate) fn invitation_delivered(&mut self, cx: &mut Ctx<'_>, contact_id: i64) {
        let waiting =
            self.model.active.as_ref().is_some_and(|c| {
                c.contact_id == contact_id && c.state == AppCallState::InvitationSent
            });
        if waiting
            && self
                .view
                .as_ref()
                .is_some_and(|v| v.sounds == Sounds::Connecting)
        {
            self.set_sounds(cx, Sounds::InCall);
        }
    }
}

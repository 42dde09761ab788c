//! `IncomingCallView` (`IncomingCallView.swift`): the in-app banner of an incoming call when
//! CallKit is not used (`CallController.activeCallInvitation`), and its ringtone.

use super::{App, Ctx, Invitation, Scene};
use crate::ids::ContactId;
use crate::io::sound::SoundCommand;
use crate::io::{Output, UiEvent};
use crate::protocol::CallMediaType;

/// The banner: the invitation it shows, and whether its ringtone plays. The ringtone plays
/// while the banner shows and no call view does (the view's `onAppear` starts it only in that
/// branch), and only while the app is on screen, where the view appears.
#[derive(Debug, Clone, Default)]
pub struct IncomingCallView {
    showing: Option<(ContactId, CallMediaType)>,
    ringtone: bool,
}

impl IncomingCallView {
    /// The caller whose banner shows.
    pub fn contact(&self) -> Option<ContactId> {
        self.showing.map(|(contact_id, _)| contact_id)
    }

    /// Whether the ringtone plays.
    pub fn ringing(&self) -> bool {
        self.ringtone
    }
}

impl App {
    /// `activeCallInvitation = invitation`.
    pub(crate) fn show_incoming(&mut self, cx: &mut Ctx<'_>, invitation: &Invitation) {
        let shown = (
            invitation.contact_id(),
            invitation.invitation.call_type.media,
        );
        if self.incoming.showing == Some(shown) {
            return;
        }
        if self.incoming.showing.is_some() {
            self.hide_incoming(cx);
        }
        self.incoming.showing = Some(shown);
        cx.emit(Output::Ui(UiEvent::IncomingCallShown {
            contact_id: shown.0,
            media: shown.1,
        }));
        self.sync_ringtone(cx);
    }

    /// `activeCallInvitation = nil`.
    pub(crate) fn hide_incoming(&mut self, cx: &mut Ctx<'_>) {
        if let Some((contact_id, _)) = self.incoming.showing.take() {
            cx.emit(Output::Ui(UiEvent::IncomingCallHidden { contact_id }));
        }
        self.sync_ringtone(cx);
    }

    /// Starts or stops the ringtone as the banner, the call view and the app's visibility say.
    pub(crate) fn sync_ringtone(&mut self, cx: &mut Ctx<'_>) {
        let should = self.incoming.showing.is_some()
            && self.view.is_none()
            && self.lifecycle.scene() == Scene::Foreground;
        if should != self.incoming.ringtone {
            self.incoming.ringtone = should;
            cx.emit(Output::Sound(if should {
                SoundCommand::StartRingtone
            } else {
                SoundCommand::StopRingtone
            }));
        }
    }
}

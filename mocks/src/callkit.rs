//! `FakeCallKit`: CallKit with iOS's rules, as this app configures it (one group of one call).

use std::collections::{BTreeMap, BTreeSet};

use callsim_engine::backend::callkit::{
    ActionId, CallKitCommand, CallKitError, CallKitEvent, EndReason,
};
use callsim_engine::protocol::Timestamp;

/// Where a CallKit call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKitCallState {
    /// Incoming, the native screen is ringing.
    Ringing,
    /// Outgoing, started.
    Dialing,
    /// Outgoing, connecting reported.
    Connecting,
    /// Answered or connected.
    Active,
    /// Over.
    Ended(CallEnd),
}

/// How a CallKit call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnd {
    /// The app reported it ended (`reportCall(endedAt:reason:)`).
    Reported(EndReason),
    /// An end action was fulfilled.
    Local,
    /// An answer or start action failed.
    Failed,
}

/// A call CallKit knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallKitCall {
    /// Reported incoming (or started outgoing).
    pub incoming: bool,
    /// A video call.
    pub video: bool,
    /// The caller or callee name shown.
    pub handle: String,
    /// Where it is.
    pub state: CallKitCallState,
}

/// The kind of a CallKit action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// `CXStartCallAction`.
    Start,
    /// `CXAnswerCallAction`.
    Answer,
    /// `CXEndCallAction`.
    End,
    /// `CXSetMutedCallAction`.
    SetMuted,
}

/// What became of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOutcome {
    /// Neither fulfilled nor failed yet.
    Open,
    /// Fulfilled at this time.
    Fulfilled(Timestamp),
    /// Failed at this time.
    Failed(Timestamp),
}

/// One action and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRecord {
    /// Its kind.
    pub kind: ActionKind,
    /// The call.
    pub uuid: String,
    /// When CallKit performed it.
    pub performed_at: Timestamp,
    /// Its outcome.
    pub outcome: ActionOutcome,
}

/// One entry of CallKit's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallKitLog {
    /// A command from the phone.
    Command(CallKitCommand),
    /// The user answered this call on the native screen.
    UserAnswered(String),
    /// The user declined or ended this call on the native screen.
    UserEnded(String),
    /// The app's process died.
    AppKilled,
    /// The phone resolved an action that does not exist or was resolved already.
    BadAction(ActionId),
}

/// CallKit for one phone.
#[derive(Debug, Clone, Default)]
pub struct FakeCallKit {
    calls: BTreeMap<String, CallKitCall>,
    /// UUIDs of the calls not ended; a handful at most, so queries stay cheap in long runs.
    live: BTreeSet<String>,
    actions: BTreeMap<ActionId, ActionRecord>,
    audio_active: bool,
    log: Vec<(Timestamp, CallKitLog)>,
}

impl FakeCallKit {
    /// A CallKit with no calls.
    pub fn new() -> Self {
        FakeCallKit::default()
    }

    /// Every call CallKit has known, by UUID.
    pub fn calls(&self) -> &BTreeMap<String, CallKitCall> {
        &self.calls
    }

    /// Every action, by id.
    pub fn actions(&self) -> &BTreeMap<ActionId, ActionRecord> {
        &self.actions
    }

    /// Actions neither fulfilled nor failed.
    pub fn open_actions(&self) -> impl Iterator<Item = (&ActionId, &ActionRecord)> {
        self.actions
            .iter()
            .filter(|(_, a)| a.outcome == ActionOutcome::Open)
    }

    /// The newest answer action.
    pub fn last_answer(&self) -> Option<&ActionRecord> {
        self.actions
            .values()
            .rev()
            .find(|a| a.kind == ActionKind::Answer)
    }

    /// The incoming call whose native screen is ringing, if any.
    pub fn ringing(&self) -> Option<(&String, &CallKitCall)> {
        self.live
            .iter()
            .filter_map(|uuid| self.calls.get_key_value(uuid))
            .find(|(_, c)| c.state == CallKitCallState::Ringing)
    }

    /// Calls not ended.
    pub fn live_calls(&self) -> usize {
        self.live.len()
    }

    /// Whether CallKit has activated the audio session.
    pub fn audio_active(&self) -> bool {
        self.audio_active
    }

    /// What happened, in order.
    pub fn log(&self) -> &[(Timestamp, CallKitLog)] {
        &self.log
    }

    /// Applies a command from the phone; returns what CallKit reports back.
    pub fn handle_command(&mut self, now: Timestamp, command: CallKitCommand) -> Vec<CallKitEvent> {
        self.log.push((now, CallKitLog::Command(command.clone())));
        let mut events = Vec::new();
        match command {
            CallKitCommand::ReportNewIncomingCall {
                uuid,
                caller,
                video,
            } => {
                let result = self.admit(&uuid).map(|()| {
                    self.add_call(
                        &uuid,
                        CallKitCall {
                            incoming: true,
                            video,
                            handle: caller,
                            state: CallKitCallState::Ringing,
                        },
                    );
                });
                events.push(CallKitEvent::IncomingReported { uuid, result });
            }
            CallKitCommand::RequestStartCall {
                uuid,
                handle,
                video,
            } => match self.admit(&uuid) {
                Ok(()) => {
                    self.add_call(
                        &uuid,
                        CallKitCall {
                            incoming: false,
                            video,
                            handle,
                            state: CallKitCallState::Dialing,
                        },
                    );
                    let action = self.new_action(now, ActionKind::Start, &uuid);
                    events.push(CallKitEvent::PerformStart { action, uuid });
                }
                Err(error) => events.push(CallKitEvent::TransactionFailed { uuid, error }),
            },
            CallKitCommand::RequestEndCall { uuid } => {
                if self.is_live(&uuid) {
                    let action = self.new_action(now, ActionKind::End, &uuid);
                    events.push(CallKitEvent::PerformEnd { action, uuid });
                } else {
                    events.push(CallKitEvent::TransactionFailed {
                        uuid,
                        error: CallKitError::UnknownCall,
                    });
                }
            }
            CallKitCommand::ReportOutgoingStartedConnecting { uuid } => {
                self.set_state(&uuid, CallKitCallState::Connecting);
            }
            CallKitCommand::ReportOutgoingConnected { uuid } => {
                self.set_state(&uuid, CallKitCallState::Active);
            }
            CallKitCommand::ReportCallEnded { uuid, reason } => {
                self.end(&uuid, CallEnd::Reported(reason), &mut events);
            }
            CallKitCommand::Fulfill { action } => self.resolve(now, action, true, &mut events),
            CallKitCommand::Fail { action } => self.resolve(now, action, false, &mut events),
        }
        events
    }

    /// The user answers the ringing call on the native screen.
    pub fn user_answers(&mut self, now: Timestamp) -> Option<CallKitEvent> {
        let uuid = self.ringing()?.0.clone();
        self.log.push((now, CallKitLog::UserAnswered(uuid.clone())));
        let action = self.new_action(now, ActionKind::Answer, &uuid);
        Some(CallKitEvent::PerformAnswer { action, uuid })
    }

    /// The user declines the ringing call, or ends the live one, on the native screen.
    pub fn user_ends(&mut self, now: Timestamp) -> Option<CallKitEvent> {
        let uuid = self.live.first()?.clone();
        self.log.push((now, CallKitLog::UserEnded(uuid.clone())));
        let action = self.new_action(now, ActionKind::End, &uuid);
        Some(CallKitEvent::PerformEnd { action, uuid })
    }

    /// The user toggles mute on the native screen.
    pub fn user_mutes(&mut self, now: Timestamp, muted: bool) -> Option<CallKitEvent> {
        let uuid = self
            .live
            .iter()
            .find(|u| {
                self.calls
                    .get(*u)
                    .is_some_and(|c| c.state == CallKitCallState::Active)
            })?
            .clone();
        let action = self.new_action(now, ActionKind::SetMuted, &uuid);
        Some(CallKitEvent::PerformSetMuted {
            action,
            uuid,
            muted,
        })
    }

    /// The app's process died: its calls end and its open actions can never resolve.
    pub fn app_killed(&mut self, now: Timestamp) {
        self.log.push((now, CallKitLog::AppKilled));
        for uuid in std::mem::take(&mut self.live) {
            if let Some(call) = self.calls.get_mut(&uuid) {
                call.state = CallKitCallState::Ended(CallEnd::Failed);
            }
        }
        for action in self.actions.values_mut() {
            if action.outcome == ActionOutcome::Open {
                action.outcome = ActionOutcome::Failed(now);
            }
        }
        self.audio_active = false;
    }

    /// One group of one call: a second live call, or a UUID of a live call, is refused, as iOS
    /// does (`callUUIDAlreadyExists`). An ended call's UUID may be reported again.
    fn admit(&self, uuid: &str) -> Result<(), CallKitError> {
        if self.live.contains(uuid) {
            Err(CallKitError::DuplicateUuid)
        } else if self.live_calls() > 0 {
            Err(CallKitError::MaximumCallsExceeded)
        } else {
            Ok(())
        }
    }

    fn is_live(&self, uuid: &str) -> bool {
        self.live.contains(uuid)
    }

    fn add_call(&mut self, uuid: &str, call: CallKitCall) {
        self.calls.insert(uuid.to_owned(), call);
        self.live.insert(uuid.to_owned());
    }

    fn new_action(&mut self, now: Timestamp, kind: ActionKind, uuid: &str) -> ActionId {
        let id = self.actions.len() as ActionId + 1;
        self.actions.insert(
            id,
            ActionRecord {
                kind,
                uuid: uuid.to_owned(),
                performed_at: now,
                outcome: ActionOutcome::Open,
            },
        );
        id
    }

    fn set_state(&mut self, uuid: &str, state: CallKitCallState) {
        if !self.live.contains(uuid) {
            return;
        }
        if matches!(state, CallKitCallState::Ended(_)) {
            self.live.remove(uuid);
        }
        if let Some(call) = self.calls.get_mut(uuid) {
            call.state = state;
        }
    }

    fn end(&mut self, uuid: &str, how: CallEnd, events: &mut Vec<CallKitEvent>) {
        if !self.is_live(uuid) {
            return;
        }
        self.set_state(uuid, CallKitCallState::Ended(how));
        if self.audio_active && self.live_calls() == 0 {
            self.audio_active = false;
            events.push(CallKitEvent::DidDeactivateAudioSession);
        }
    }

    fn resolve(&mut self, now: Timestamp, id: ActionId, ok: bool, events: &mut Vec<CallKitEvent>) {
        let Some(action) = self.actions.get_mut(&id) else {
            self.log.push((now, CallKitLog::BadAction(id)));
            return;
        };
        if action.outcome != ActionOutcome::Open {
            self.log.push((now, CallKitLog::BadAction(id)));
            return;
        }
        action.outcome = if ok {
            ActionOutcome::Fulfilled(now)
        } else {
            ActionOutcome::Failed(now)
        };
        let (kind, uuid) = (action.kind, action.uuid.clone());
        match (kind, ok) {
            (ActionKind::Start | ActionKind::Answer, true) => {
                if kind == ActionKind::Answer {
                    self.set_state(&uuid, CallKitCallState::Active);
                }
                // CallKit activates the audio session only after the action is fulfilled.
                if !self.audio_active && self.is_live(&uuid) {
                    self.audio_active = true;
                    events.push(CallKitEvent::DidActivateAudioSession);
                }
            }
            (ActionKind::Start | ActionKind::Answer, false) => {
                self.end(&uuid, CallEnd::Failed, events);
            }
            (ActionKind::End, true) => self.end(&uuid, CallEnd::Local, events),
            (ActionKind::End | ActionKind::SetMuted, false) | (ActionKind::SetMuted, true) => {}
        }
    }
}

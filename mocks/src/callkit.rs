//! `FakeCallKit`: CallKit with iOS's rules, as this app configures it (one group of one call).
//!
//! - An incoming report is refused only for a UUID CallKit already has; during a call the new
//!   call rings with End & Accept (there is no "too many calls" error for incoming reports).
//! - A start transaction during a call is refused (`maximumCallGroupsReached`).
//! - An action the app neither fulfils nor fails times out after [`ACTION_TIMEOUT_MS`]
//!   (`provider(_:timedOutPerforming:)`); a timed-out answer or start ends its call, which CallKit
//!   does through an end action. Apple does not document the timeout; a minute is what
//!   developers report (voximplant/flutter_callkit#12). A resolve after the timeout is ignored.
//! - The app's call observer hears every change of the number of calls.

use std::collections::{BTreeMap, BTreeSet};

use callsim_engine::ids::{ActionId, CallUuid};
use callsim_engine::io::callkit::{CallKitCommand, CallKitError, CallKitEvent, EndReason};
use callsim_engine::protocol::Timestamp;

/// How long CallKit waits for an action to be fulfilled or failed.
pub const ACTION_TIMEOUT_MS: u64 = 60_000;

/// Where a CallKit call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKitCallState {
    /// Incoming, the native screen is ringing.
    Ringing,
    /// Incoming, answered by the user: the screen stopped ringing and shows the call
    /// connecting while the app has not fulfilled the answer action (SimpleX fulfils it on
    /// connect).
    Answering,
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
    /// An answer or start action timed out.
    TimedOut,
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
    /// CallKit gave up waiting at this time (`timedOutPerforming`).
    TimedOut(Timestamp),
}

impl ActionOutcome {
    /// Fulfilled, failed, or timed out.
    pub fn settled(self) -> bool {
        self != ActionOutcome::Open
    }
}

/// One action and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRecord {
    /// Its kind.
    pub kind: ActionKind,
    /// The call.
    pub uuid: CallUuid,
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
    UserAnswered(CallUuid),
    /// The user declined or ended this call on the native screen.
    UserEnded(CallUuid),
    /// The app's process died.
    AppKilled,
    /// An action timed out.
    TimedOut(ActionId),
    /// The phone resolved an action that had timed out: CallKit ignores it.
    LateResolve(ActionId),
    /// The phone resolved an action that does not exist or was resolved already.
    BadAction(ActionId),
}

/// CallKit for one phone.
#[derive(Debug, Clone, Default)]
pub struct FakeCallKit {
    calls: BTreeMap<CallUuid, CallKitCall>,
    /// UUIDs of the calls not ended; a handful at most, so queries stay cheap in long runs.
    live: BTreeSet<CallUuid>,
    /// Open actions by deadline.
    deadlines: BTreeSet<(Timestamp, ActionId)>,
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
    pub fn calls(&self) -> &BTreeMap<CallUuid, CallKitCall> {
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
    pub fn ringing(&self) -> Option<(&CallUuid, &CallKitCall)> {
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
        let before = self.live_calls();
        let mut events = Vec::new();
        match command {
            CallKitCommand::ReportNewIncomingCall {
                uuid,
                caller,
                video,
            } => {
                let result = if self.live.contains(&uuid) {
                    Err(CallKitError::DuplicateUuid)
                } else {
                    self.add_call(
                        &uuid,
                        CallKitCall {
                            incoming: true,
                            video,
                            handle: caller,
                            state: CallKitCallState::Ringing,
                        },
                    );
                    Ok(())
                };
                events.push(CallKitEvent::IncomingReported { uuid, result });
            }
            CallKitCommand::RequestStartCall {
                uuid,
                handle,
                video,
            } => {
                let refusal = if self.live.contains(&uuid) {
                    Some(CallKitError::DuplicateUuid)
                } else if self.live_calls() > 0 {
                    Some(CallKitError::MaximumCallGroupsReached)
                } else {
                    None
                };
                match refusal {
                    Some(error) => events.push(CallKitEvent::TransactionFailed { uuid, error }),
                    None => {
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
                }
            }
            CallKitCommand::RequestAnswerCall { uuid } => {
                let ringing = self
                    .calls
                    .get(&uuid)
                    .is_some_and(|c| c.state == CallKitCallState::Ringing)
                    && self.live.contains(&uuid);
                if ringing {
                    let action = self.new_action(now, ActionKind::Answer, &uuid);
                    self.set_state(&uuid, CallKitCallState::Answering);
                    events.push(CallKitEvent::PerformAnswer { action, uuid });
                } else {
                    events.push(CallKitEvent::TransactionFailed {
                        uuid,
                        error: CallKitError::UnknownCall,
                    });
                }
            }
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
        self.observe(before, &mut events);
        events
    }

    /// The user answers the ringing call on the native screen. During another call the screen
    /// offers End & Accept: CallKit ends the other call, then answers.
    pub fn user_answers(&mut self, now: Timestamp) -> Vec<CallKitEvent> {
        let Some(uuid) = self.ringing().map(|(uuid, _)| uuid.clone()) else {
            return Vec::new();
        };
        self.log.push((now, CallKitLog::UserAnswered(uuid.clone())));
        let mut events = Vec::new();
        let others: Vec<CallUuid> = self.live.iter().filter(|u| **u != uuid).cloned().collect();
        for other in others {
            let action = self.new_action(now, ActionKind::End, &other);
            events.push(CallKitEvent::PerformEnd {
                action,
                uuid: other,
            });
        }
        let action = self.new_action(now, ActionKind::Answer, &uuid);
        self.set_state(&uuid, CallKitCallState::Answering);
        events.push(CallKitEvent::PerformAnswer { action, uuid });
        events
    }

    /// The user declines the ringing call (or, with none ringing, ends the live one) on the
    /// native screen.
    pub fn user_ends(&mut self, now: Timestamp) -> Option<CallKitEvent> {
        let uuid = match self.ringing() {
            Some((uuid, _)) => uuid.clone(),
            None => self.live.first()?.clone(),
        };
        self.log.push((now, CallKitLog::UserEnded(uuid.clone())));
        let action = self.new_action(now, ActionKind::End, &uuid);
        Some(CallKitEvent::PerformEnd { action, uuid })
    }

    /// The user toggles mute on the native screen of the call that is not ringing (an
    /// outgoing call's screen has the button from the start).
    pub fn user_mutes(&mut self, now: Timestamp, muted: bool) -> Option<CallKitEvent> {
        let uuid = self
            .live
            .iter()
            .find(|u| {
                self.calls
                    .get(*u)
                    .is_some_and(|c| c.state != CallKitCallState::Ringing)
            })?
            .clone();
        let action = self.new_action(now, ActionKind::SetMuted, &uuid);
        Some(CallKitEvent::PerformSetMuted {
            action,
            uuid,
            muted,
        })
    }

    /// When the next open action times out.
    pub fn next_timeout(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Times out every open action whose time came: `timedOutPerforming`, and for an answer or
    /// a start, the end of its call through an end action.
    pub fn fire_timeouts(&mut self, now: Timestamp) -> Vec<CallKitEvent> {
        let before = self.live_calls();
        let mut events = Vec::new();
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.remove(&(at, id));
            let Some(action) = self.actions.get_mut(&id) else {
                continue;
            };
            if action.outcome != ActionOutcome::Open {
                continue;
            }
            action.outcome = ActionOutcome::TimedOut(now);
            let (kind, uuid) = (action.kind, action.uuid.clone());
            self.log.push((now, CallKitLog::TimedOut(id)));
            events.push(CallKitEvent::TimedOutPerforming { action: id });
            if matches!(kind, ActionKind::Answer | ActionKind::Start) && self.is_live(&uuid) {
                let end = self.new_action(now, ActionKind::End, &uuid);
                self.end(&uuid, CallEnd::TimedOut, &mut events);
                events.push(CallKitEvent::PerformEnd { action: end, uuid });
            }
        }
        self.observe(before, &mut events);
        events
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
        self.deadlines.clear();
        self.audio_active = false;
    }

    fn is_live(&self, uuid: &CallUuid) -> bool {
        self.live.contains(uuid)
    }

    fn add_call(&mut self, uuid: &CallUuid, call: CallKitCall) {
        self.calls.insert(uuid.clone(), call);
        self.live.insert(uuid.clone());
    }

    fn new_action(&mut self, now: Timestamp, kind: ActionKind, uuid: &CallUuid) -> ActionId {
        let id = self.actions.len() as ActionId + 1;
        self.actions.insert(
            id,
            ActionRecord {
                kind,
                uuid: uuid.clone(),
                performed_at: now,
                outcome: ActionOutcome::Open,
            },
        );
        self.deadlines.insert((now.add_ms(ACTION_TIMEOUT_MS), id));
        id
    }

    /// The call observer hears when the number of calls changed.
    fn observe(&self, before: usize, events: &mut Vec<CallKitEvent>) {
        let calls = self.live_calls();
        if calls != before {
            events.push(CallKitEvent::CallsChanged { calls });
        }
    }

    fn set_state(&mut self, uuid: &CallUuid, state: CallKitCallState) {
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

    fn end(&mut self, uuid: &CallUuid, how: CallEnd, events: &mut Vec<CallKitEvent>) {
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
        match action.outcome {
            ActionOutcome::Open => {}
            ActionOutcome::TimedOut(_) => {
                self.log.push((now, CallKitLog::LateResolve(id)));
                return;
            }
            _ => {
                self.log.push((now, CallKitLog::BadAction(id)));
                return;
            }
        }
        action.outcome = if ok {
            ActionOutcome::Fulfilled(now)
        } else {
            ActionOutcome::Failed(now)
        };
        let (kind, uuid, performed) = (action.kind, action.uuid.clone(), action.performed_at);
        self.deadlines
            .remove(&(performed.add_ms(ACTION_TIMEOUT_MS), id));
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
            // A failed end leaves the call as it was.
            (ActionKind::End | ActionKind::SetMuted, false) | (ActionKind::SetMuted, true) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uuid(s: &str) -> CallUuid {
        CallUuid::from(s)
    }

    fn report(ck: &mut FakeCallKit, id: &str, caller: &str) {
        ck.handle_command(
            Timestamp(0),
            CallKitCommand::ReportNewIncomingCall {
                uuid: uuid(id),
                caller: caller.to_owned(),
                video: false,
            },
        );
    }

    /// The native screen stops ringing when the user answers, though the app fulfils the
    /// answer only later (SimpleX fulfils on connect); a second answer goes to the call waiting.
    #[test]
    fn an_answered_call_stops_ringing_and_the_next_answer_takes_the_call_waiting() {
        let mut ck = FakeCallKit::new();
        report(&mut ck, "a", "Alice");
        let answered = ck.user_answers(Timestamp(10));
        assert!(
            matches!(&answered[..], [CallKitEvent::PerformAnswer { uuid, .. }] if uuid.as_str() == "a")
        );
        assert!(ck.ringing().is_none(), "answered, not ringing");
        assert_eq!(ck.calls()[&uuid("a")].state, CallKitCallState::Answering);
        report(&mut ck, "b", "Carol");
        assert_eq!(ck.ringing().map(|(u, _)| u.as_str()), Some("b"));
        let events = ck.user_answers(Timestamp(20));
        // End & Accept: the answered call ends, the waiting one is answered.
        assert!(
            events.iter().any(
                |e| matches!(e, CallKitEvent::PerformEnd { uuid, .. } if uuid.as_str() == "a")
            )
        );
        assert!(events.iter().any(
            |e| matches!(e, CallKitEvent::PerformAnswer { uuid, .. } if uuid.as_str() == "b")
        ));
        // Answering twice is not possible.
        let again = ck.handle_command(
            Timestamp(30),
            CallKitCommand::RequestAnswerCall { uuid: uuid("b") },
        );
        assert!(
            again
                .iter()
                .any(|e| matches!(e, CallKitEvent::TransactionFailed { .. }))
        );
    }
}

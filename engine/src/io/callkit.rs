//! CallKit: `CXProvider` (reports, actions, audio session) and `CXCallController` (transactions).

use serde::Serialize;

pub use crate::ids::ActionId;
use crate::ids::CallUuid;

/// What the phone asks of CallKit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CallKitCommand {
    /// `reportNewIncomingCall`: show the native incoming call screen. Answered by
    /// [`CallKitEvent::IncomingReported`].
    ReportNewIncomingCall {
        /// The call's UUID (lowercase).
        uuid: CallUuid,
        /// Who calls, as the screen shows it.
        caller: String,
        /// Whether it is a video call.
        video: bool,
    },
    /// A `CXStartCallAction` transaction; CallKit answers with [`CallKitEvent::PerformStart`].
    RequestStartCall {
        /// The new call's UUID.
        uuid: CallUuid,
        /// Who is called.
        handle: String,
        /// Whether it is a video call.
        video: bool,
    },
    /// A `CXAnswerCallAction` transaction (answering from the app); CallKit answers with
    /// [`CallKitEvent::PerformAnswer`].
    RequestAnswerCall {
        /// The call to answer.
        uuid: CallUuid,
    },
    /// A `CXEndCallAction` transaction; CallKit answers with [`CallKitEvent::PerformEnd`].
    RequestEndCall {
        /// The call to end.
        uuid: CallUuid,
    },
    /// `reportOutgoingCall(startedConnectingAt:)`.
    ReportOutgoingStartedConnecting {
        /// The outgoing call.
        uuid: CallUuid,
    },
    /// `reportOutgoingCall(connectedAt:)`.
    ReportOutgoingConnected {
        /// The outgoing call.
        uuid: CallUuid,
    },
    /// `reportCall(with:endedAt:reason:)`: the call ended without a local action.
    ReportCallEnded {
        /// The call.
        uuid: CallUuid,
        /// Why.
        reason: EndReason,
    },
    /// `action.fulfill()`.
    Fulfill {
        /// The action.
        action: ActionId,
    },
    /// `action.fail()`.
    Fail {
        /// The action.
        action: ActionId,
    },
}

/// Why a call ended, as reported to CallKit (`CXCallEndedReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum EndReason {
    /// The peer ended it.
    RemoteEnded,
    /// It failed.
    Failed,
    /// Nobody answered.
    Unanswered,
}

/// Why CallKit refused a report or a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum CallKitError {
    /// `callUUIDAlreadyExists`: a call with this UUID exists already.
    DuplicateUuid,
    /// `maximumCallGroupsReached`: a transaction would exceed the provider's one call group.
    /// Only transactions get it; an incoming report during a call rings with End & Accept.
    MaximumCallGroupsReached,
    /// `unknownCallUUID`: no call with this UUID.
    UnknownCall,
}

/// What CallKit reports to the phone (`CXProviderDelegate` and completion handlers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum CallKitEvent {
    /// The completion of `reportNewIncomingCall`.
    IncomingReported {
        /// The call reported.
        uuid: CallUuid,
        /// `Err` if CallKit refused it.
        result: Result<(), CallKitError>,
    },
    /// A requested transaction was refused.
    TransactionFailed {
        /// The call it was for.
        uuid: CallUuid,
        /// Why.
        error: CallKitError,
    },
    /// `perform CXStartCallAction`.
    PerformStart {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: CallUuid,
    },
    /// `perform CXAnswerCallAction`: the user answered on the native screen.
    PerformAnswer {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: CallUuid,
    },
    /// `perform CXEndCallAction`: the user declined or ended, or the app asked to end.
    PerformEnd {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: CallUuid,
    },
    /// `perform CXSetMutedCallAction`.
    PerformSetMuted {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: CallUuid,
        /// Mute or unmute.
        muted: bool,
    },
    /// `timedOutPerforming`: CallKit gave up waiting for an action.
    TimedOutPerforming {
        /// The action.
        action: ActionId,
    },
    /// `didActivate audioSession`.
    DidActivateAudioSession,
    /// `didDeactivate audioSession`.
    DidDeactivateAudioSession,
    /// `CXCallObserver`: how many calls CallKit holds changed (`hasActiveCalls()`).
    CallsChanged {
        /// Calls CallKit holds now.
        calls: usize,
    },
}

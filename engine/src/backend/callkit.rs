//! CallKit: `CXProvider` (reports, actions, audio session) and `CXCallController` (transactions).

use serde::Serialize;

/// Identifies one CallKit action (`CXAction`) so the phone can fulfil or fail it later.
pub type ActionId = u64;

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
        uuid: String,
        /// Who calls, as the screen shows it.
        caller: String,
        /// Whether it is a video call.
        video: bool,
    },
    /// A `CXStartCallAction` transaction; CallKit answers with [`CallKitEvent::PerformStart`].
    RequestStartCall {
        /// The new call's UUID.
        uuid: String,
        /// Who is called.
        handle: String,
        /// Whether it is a video call.
        video: bool,
    },
    /// A `CXEndCallAction` transaction; CallKit answers with [`CallKitEvent::PerformEnd`].
    RequestEndCall {
        /// The call to end.
        uuid: String,
    },
    /// `reportOutgoingCall(startedConnectingAt:)`.
    ReportOutgoingStartedConnecting {
        /// The outgoing call.
        uuid: String,
    },
    /// `reportOutgoingCall(connectedAt:)`.
    ReportOutgoingConnected {
        /// The outgoing call.
        uuid: String,
    },
    /// `reportCall(with:endedAt:reason:)`: the call ended without a local action.
    ReportCallEnded {
        /// The call.
        uuid: String,
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
    /// A call with this UUID exists already.
    DuplicateUuid,
    /// The provider allows no more calls (one group of one call).
    MaximumCallsExceeded,
    /// No call with this UUID.
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
        uuid: String,
        /// `Err` if CallKit refused it.
        result: Result<(), CallKitError>,
    },
    /// A requested transaction was refused.
    TransactionFailed {
        /// The call it was for.
        uuid: String,
        /// Why.
        error: CallKitError,
    },
    /// `perform CXStartCallAction`.
    PerformStart {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: String,
    },
    /// `perform CXAnswerCallAction`: the user answered on the native screen.
    PerformAnswer {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: String,
    },
    /// `perform CXEndCallAction`: the user declined or ended, or the app asked to end.
    PerformEnd {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: String,
    },
    /// `perform CXSetMutedCallAction`.
    PerformSetMuted {
        /// The action to fulfil or fail.
        action: ActionId,
        /// The call.
        uuid: String,
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
}

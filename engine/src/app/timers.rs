//! The app's timers: a named table of deadlines (SimpleX's `asyncAfter`s and `Task.sleep`s).

use std::collections::BTreeMap;

use crate::ids::{ActionId, CallUuid};
use crate::protocol::Timestamp;

/// Every timer the app arms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The next 500 ms step of a CallKit answer's `waitUntilChatStarted`.
    AnswerWait(ActionId),
    /// 3 s after a CallKit call ended (`suspendOnEndCall`): suspend the chat again.
    SuspendOnEndCall,
    /// 1 s after accepting a call while another was active (`answerIncomingCall`).
    DelayedAnswer,
    /// 1 s after reporting an expired VoIP push to CallKit (`reportExpiredCall`).
    ExpiredCallEnd(CallUuid),
    /// At once, after the current input: the `Task`s of `CallManager.endCall(call:)`.
    EndTasks,
}

/// Deadlines by timer; arming a timer again moves its deadline.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timers {
    deadlines: BTreeMap<Timer, Timestamp>,
}

impl Timers {
    pub(crate) fn arm(&mut self, timer: Timer, at: Timestamp) {
        self.deadlines.insert(timer, at);
    }

    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.values().min().copied()
    }

    /// The earliest timer due at `now` (ties in table order), removed.
    pub(crate) fn pop_due(&mut self, now: Timestamp) -> Option<Timer> {
        let (timer, _) = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .min_by_key(|(timer, at)| (**at, (*timer).clone()))?;
        let timer = timer.clone();
        self.deadlines.remove(&timer);
        Some(timer)
    }
}

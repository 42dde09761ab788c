//! The phone's timers: a named table of deadlines.

use std::collections::BTreeMap;

use crate::protocol::Timestamp;

/// Every timer the phone arms (spec §3.9).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// Poll every 500 ms, for at most 30 s, for the chat to run before answering through CallKit.
    AnswerPoll,
    /// 7 s after inviting: switch from the connecting sound to the in-call loop.
    InCallSound,
    /// 1 s after ending one call to accept another: start the new one.
    DelayedAnswer,
    /// 3 s after a push-started call ends: suspend the chat again.
    SuspendChat,
    /// 1 s after reporting an expired VoIP push to CallKit: end that dummy call.
    EndExpiredCall(String),
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

    pub(crate) fn cancel(&mut self, timer: &Timer) {
        self.deadlines.remove(timer);
    }

    pub(crate) fn clear(&mut self) {
        self.deadlines.clear();
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

//! A table of named deadlines, in quinn's style: each timer is set, cleared or moved by name,
//! and the owner asks for the earliest and for those that expired.

use callsim_engine::protocol::Timestamp;

/// Deadlines by timer name. A handful at most (an endpoint has nine), read at every packet and
/// timer: a flat list, which beats a tree at that size.
#[derive(Debug, Clone)]
pub struct Timers<T: Ord + Copy> {
    deadlines: Vec<(T, Timestamp)>,
}

impl<T: Ord + Copy> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            deadlines: Vec::new(),
        }
    }
}

impl<T: Ord + Copy> Timers<T> {
    fn slot(&self, timer: T) -> Option<usize> {
        self.deadlines.iter().position(|(t, _)| *t == timer)
    }

    /// Sets (or moves) `timer` to `at`.
    pub fn set(&mut self, timer: T, at: Timestamp) {
        match self.slot(timer) {
            Some(i) => self.deadlines[i].1 = at,
            None => self.deadlines.push((timer, at)),
        }
    }

    /// Clears `timer`.
    pub fn stop(&mut self, timer: T) {
        if let Some(i) = self.slot(timer) {
            self.deadlines.swap_remove(i);
        }
    }

    /// When `timer` is due, if it is set.
    pub fn get(&self, timer: T) -> Option<Timestamp> {
        self.slot(timer).map(|i| self.deadlines[i].1)
    }

    /// Whether `timer` is set and due at `now`.
    pub fn is_due(&self, timer: T, now: Timestamp) -> bool {
        self.get(timer).is_some_and(|at| at <= now)
    }

    /// Clears `timer` if it is due at `now`, and says whether it was.
    pub fn take_due(&mut self, timer: T, now: Timestamp) -> bool {
        let due = self.is_due(timer, now);
        if due {
            self.stop(timer);
        }
        due
    }

    /// The earliest deadline set.
    pub fn next(&self) -> Option<Timestamp> {
        self.deadlines.iter().map(|(_, at)| *at).min()
    }

    /// Clears every timer.
    pub fn clear(&mut self) {
        self.deadlines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum T {
        A,
        B,
    }

    #[test]
    fn the_earliest_deadline_and_due_timers() {
        let mut timers = Timers::default();
        timers.set(T::A, Timestamp(30));
        timers.set(T::B, Timestamp(10));
        assert_eq!(timers.next(), Some(Timestamp(10)));
        assert!(!timers.take_due(T::A, Timestamp(20)));
        assert!(timers.take_due(T::B, Timestamp(20)));
        assert_eq!(timers.next(), Some(Timestamp(30)));
        timers.set(T::A, Timestamp(5));
        assert_eq!(timers.next(), Some(Timestamp(5)));
        timers.clear();
        assert_eq!(timers.next(), None);
    }
}

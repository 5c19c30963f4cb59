//! CLIENT PAUSE for one database: until a deadline or CLIENT UNPAUSE, its clients' commands wait (all of
//! them, or those that may write: write commands, PUBLISH, PFCOUNT, scripts without `no-writes`, and EXEC of
//! such commands). A command waits after the gate has admitted it, so a malformed one is answered at once;
//! commands inside EXEC or a script are never held (a pause begins when the transaction ends). While
//! paused, keys past their TTL read as missing but are not deleted, by lookups or by the expiry cycle, as
//! Redis does so that nothing changes the dataset. A pause belongs to the database that asked for it: one
//! tenant cannot hold up another.
//!
//! A coordinated FAILOVER holds a database's writes the same way, for its own reasons and without a
//! deadline (`hold_for_failover`): CLIENT UNPAUSE does not lift it, and it does not end a CLIENT PAUSE.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::Notify;

/// What a pause holds back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    /// Commands that may write.
    Write,
    /// Every command.
    All,
}

#[derive(Default)]
pub struct Pause {
    /// Set while a pause may be in force (a fast check for every command).
    set: AtomicBool,
    state: Mutex<Option<(Instant, PauseMode)>>,
    ended: Notify,
    /// Clients whose command the pause holds (INFO's `blocked_clients` counts them, as Redis does).
    holding: AtomicUsize,
    /// Writes held while a FAILOVER hands this database over.
    failover: AtomicBool,
}

impl Pause {
    /// Pauses until `until`; a pause already in force keeps the later end and the stricter mode.
    pub fn start(&self, until: Instant, mode: PauseMode) {
        let mut state = self.state.lock();
        let next = match *state {
            Some((end, current)) => (end.max(until), current.max(mode)),
            None => (until, mode),
        };
        *state = Some(next);
        self.set.store(true, Ordering::Release);
        // Waiters re-read the deadline.
        self.ended.notify_waiters();
    }

    /// Ends the pause (CLIENT UNPAUSE); every waiting client goes on, unless a failover holds it.
    pub fn stop(&self) {
        let mut state = self.state.lock();
        *state = None;
        self.set.store(self.failover.load(Ordering::Acquire), Ordering::Release);
        self.ended.notify_waiters();
    }

    /// Holds (or releases) this database's writes for a FAILOVER, until released.
    pub fn hold_for_failover(&self, on: bool) {
        let state = self.state.lock();
        self.failover.store(on, Ordering::Release);
        self.set.store(on || state.is_some(), Ordering::Release);
        self.ended.notify_waiters();
    }

    /// Whether a FAILOVER holds this database's writes.
    pub fn held_for_failover(&self) -> bool {
        self.failover.load(Ordering::Acquire)
    }

    /// The pause in force now, if any.
    pub fn active(&self) -> Option<PauseMode> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.state.lock();
        let held = self.failover.load(Ordering::Acquire).then_some(PauseMode::Write);
        let paused = match *state {
            Some((end, mode)) if Instant::now() < end => Some(mode),
            Some(_) => {
                *state = None;
                None
            }
            None => None,
        };
        let mode = paused.max(held);
        self.set.store(mode.is_some(), Ordering::Release);
        mode
    }

    /// Clients waiting for the pause to end.
    pub fn holding(&self) -> usize {
        self.holding.load(Ordering::Relaxed)
    }

    /// Waits, counted as a held client, until no pause is in force.
    pub async fn wait(&self) {
        struct Held<'a>(&'a AtomicUsize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        self.holding.fetch_add(1, Ordering::Relaxed);
        let _held = Held(&self.holding);
        self.ended().await;
    }

    /// Resolves when no pause is in force.
    async fn ended(&self) {
        loop {
            let notified = self.ended.notified();
            let end = match *self.state.lock() {
                Some((end, _)) if Instant::now() < end => Some(end),
                _ if self.failover.load(Ordering::Acquire) => None,
                _ => return,
            };
            match end {
                Some(end) => tokio::select! {
                    _ = notified => {}
                    _ = tokio::time::sleep_until(end.into()) => {}
                },
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_failover_hold_and_a_client_pause_end_separately() {
        let pause = Pause::default();
        assert_eq!(pause.active(), None);
        pause.hold_for_failover(true);
        assert_eq!(pause.active(), Some(PauseMode::Write));
        pause.start(Instant::now() + Duration::from_secs(60), PauseMode::All);
        assert_eq!(pause.active(), Some(PauseMode::All));
        // CLIENT UNPAUSE ends the client's pause, not the failover's.
        pause.stop();
        assert_eq!(pause.active(), Some(PauseMode::Write));
        pause.start(Instant::now() + Duration::from_secs(60), PauseMode::Write);
        pause.hold_for_failover(false);
        assert_eq!(pause.active(), Some(PauseMode::Write));
        pause.stop();
        assert_eq!(pause.active(), None);
        // An expired pause under a hold leaves the hold.
        pause.hold_for_failover(true);
        pause.start(Instant::now(), PauseMode::All);
        assert_eq!(pause.active(), Some(PauseMode::Write));
    }
}

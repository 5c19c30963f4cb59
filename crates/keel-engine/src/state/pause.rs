//! CLIENT PAUSE for one database: until a deadline or CLIENT UNPAUSE, its clients' commands wait (all of
//! them, or those that may write: write commands, PUBLISH, PFCOUNT, scripts without `no-writes`, and EXEC of
//! such commands). A command waits after the gate has admitted it, so a malformed one is answered at once;
//! commands inside EXEC or a script are never held (a pause begins when the transaction ends). While
//! paused, keys past their TTL read as missing but are not deleted, by lookups or by the expiry cycle, as
//! Redis does so that nothing changes the dataset. A pause belongs to the database that asked for it: one
//! tenant cannot hold up another.

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

    /// Ends the pause (CLIENT UNPAUSE); every waiting client goes on.
    pub fn stop(&self) {
        *self.state.lock() = None;
        self.set.store(false, Ordering::Release);
        self.ended.notify_waiters();
    }

    /// The pause in force now, if any.
    pub fn active(&self) -> Option<PauseMode> {
        if !self.set.load(Ordering::Acquire) {
            return None;
        }
        let mut state = self.state.lock();
        match *state {
            Some((end, mode)) if Instant::now() < end => Some(mode),
            Some(_) => {
                *state = None;
                self.set.store(false, Ordering::Release);
                None
            }
            None => None,
        }
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
                Some((end, _)) if Instant::now() < end => end,
                _ => return,
            };
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep_until(end.into()) => {}
            }
        }
    }
}

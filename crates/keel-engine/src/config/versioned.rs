//! Settings behind a lock whose every write moves one process-wide generation, so that what is derived from
//! them per batch (the batch settings of `exec::dispatch`, which sits above this module) can be kept until a
//! write, instead of being rebuilt under three locks for every batch.
//!
//! Readers compare the generation they derived at with [`generation`]: equal, nothing was written since.
//! The generation is loaded before the settings are read, so a write racing a derivation leaves the derived
//! value marked with the older generation, and the next reader derives again.

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::sync::atomic::{AtomicU64, Ordering};

/// Moved by every write to any [`Versioned`] of the process (every server's, in tests that run several: a
/// write elsewhere only costs a fresh derivation).
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The generation as of now.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Moves the generation: for a change to what settings derive from other than a [`Versioned`] write (a new
/// database, whose address a dropped one's may have had).
pub fn bump() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// A read-write lock whose writes move the [generation](generation) when they end.
#[derive(Default)]
pub struct Versioned<T>(RwLock<T>);

impl<T> Versioned<T> {
    pub fn new(value: T) -> Versioned<T> {
        Versioned(RwLock::new(value))
    }

    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read()
    }

    pub fn write(&self) -> WriteGuard<'_, T> {
        WriteGuard(self.0.write())
    }
}

/// A write in progress: the generation moves when it ends, while the lock is still held, so that a reader
/// who sees the new generation reads the written value.
pub struct WriteGuard<'a, T>(RwLockWriteGuard<'a, T>);

impl<T> std::ops::Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> std::ops::DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        bump();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_write_moves_the_generation() {
        let settings = Versioned::new(1);
        let before = generation();
        assert_eq!(*settings.read(), 1);
        *settings.write() = 2;
        let after = generation();
        assert!(after > before);
        assert_eq!(*settings.read(), 2);
        settings.write();
        assert!(generation() > after, "even a write that changed nothing");
    }
}

//! Long work leaves its async worker.
//!
//! Keel serves every client from a few tokio workers, one per core, and a command runs on its worker to
//! the end. Most commands take microseconds, but one that walks a million keys (KEYS), writes a reply of
//! a million elements (LRANGE 0 -1) or runs a long script would keep that worker's other connections
//! (other databases' clients among them) waiting for its whole run: tokio cannot preempt a task.
//!
//! So work that may run long counts its steps: loops over a whole collection call [`step`] (or wrap
//! their iterator in [`paced`]), and so does the reply writer for every element it writes. Every
//! [`STEPS_PER_LOOK`] steps the thread looks at the clock; once the current stretch of work has held the
//! worker for [`HOLD`], the thread hands the worker (its queue of tasks and the I/O driver) to a fresh
//! thread with `block_in_place` and finishes the work alone, as a blocking thread. The operating system
//! then shares the cores between the long command and everyone else, as it would between processes.
//! Work that goes through many bytes in one go (counting the bits of a 100 MB string, parsing a big JSON
//! document) cannot count steps on the way: it leaves first when its size says it will be long
//! ([`bytes_ahead`]), and so does work known to be long before it starts ([`leave_worker`]).
//!
//! A stretch begins where a transport starts running a batch of commands ([`begin_stretch`]). Short
//! work never reads the clock: counting a step is an add and a compare on a thread-local counter.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How long a stretch of work may keep its worker before leaving it (counted from its first look at
/// the clock, so a little more in all).
pub const HOLD: Duration = Duration::from_millis(2);

/// Bytes that take about a millisecond to go through (copy, count, parse).
pub const LONG_BYTES: usize = 4 << 20;

/// Steps between two looks at the clock: about a tenth of a millisecond of the cheapest loop.
pub const STEPS_PER_LOOK: u32 = 1024;

thread_local! {
    /// Steps counted on this thread, wrapping.
    static STEPS: Cell<u32> = const { Cell::new(0) };
    /// When the current stretch was first seen running long, if it has been.
    static FIRST_LOOK: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The current stretch has left its worker, or this thread runs no stretch (it is no async worker:
    /// a snapshot thread, a test): nothing to leave.
    static LEFT: Cell<bool> = const { Cell::new(true) };
}

/// A transport starts running work for its clients on this thread (a batch of commands).
pub fn begin_stretch() {
    FIRST_LOOK.set(None);
    LEFT.set(false);
}

/// Work on a thread that has left its worker already (it runs inside `block_in_place`): nothing to leave
/// until the next stretch begins.
pub fn off_worker() {
    LEFT.set(true);
}

/// Work that goes through `bytes` bytes in one go (a copy, a count, a parse), which cannot count steps
/// on the way, is about to start: from [`LONG_BYTES`] on it leaves the worker first.
pub fn bytes_ahead(bytes: usize) {
    if bytes >= LONG_BYTES {
        leave_worker();
    }
}

/// One step of work that may run long.
#[inline]
pub fn step() {
    let steps = STEPS.get().wrapping_add(1);
    STEPS.set(steps);
    if steps.is_multiple_of(STEPS_PER_LOOK) {
        look();
    }
}

/// `iter`, counting a step for each item.
pub fn paced<I: IntoIterator>(iter: I) -> Paced<I::IntoIter> {
    Paced(iter.into_iter())
}

/// An iterator that counts a step of work for each item (see [`paced`]); double-ended and of exact size
/// when the iterator it wraps is.
pub struct Paced<I>(I);

impl<I: Iterator> Iterator for Paced<I> {
    type Item = I::Item;

    #[inline]
    fn next(&mut self) -> Option<I::Item> {
        step();
        self.0.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl<I: DoubleEndedIterator> DoubleEndedIterator for Paced<I> {
    #[inline]
    fn next_back(&mut self) -> Option<I::Item> {
        step();
        self.0.next_back()
    }
}

impl<I: ExactSizeIterator> ExactSizeIterator for Paced<I> {}

/// Leaves the worker if the current stretch has held it for [`HOLD`]. Also for code that looks at its
/// own pace (a script's instruction hook).
#[cold]
pub fn look() {
    if LEFT.get() {
        return;
    }
    let now = Instant::now();
    match FIRST_LOOK.get() {
        None => FIRST_LOOK.set(Some(now)),
        Some(first) if now.duration_since(first) >= HOLD => leave_worker(),
        Some(_) => {}
    }
}

/// Hands this thread's async worker to a fresh thread now (once per stretch); the caller goes on
/// running, without a worker. For work known to be long, or to wait, before it starts.
pub fn leave_worker() {
    if LEFT.replace(true) {
        return;
    }
    let on_worker_pool = tokio::runtime::Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if on_worker_pool {
        tokio::task::block_in_place(wait_for_another_worker);
    }
}

/// Waits (inside `block_in_place`) until some other worker runs a task. Handing the worker's core to a
/// new thread is not enough by itself: when `block_in_place` returns before that thread claims the core
/// (a busy machine), this thread takes it back, and if the only other worker sleeps on its condition
/// variable rather than in the I/O driver, nobody reads the sockets. A task spawned from here wakes a
/// sleeping worker, which then parks in the (free) driver.
fn wait_for_another_worker() {
    let (ran, waited) = std::sync::mpsc::sync_channel(1);
    tokio::runtime::Handle::current().spawn(async move {
        let _ = ran.send(());
    });
    let _ = waited.recv_timeout(Duration::from_millis(200));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    /// Steps until `done` is set or `limit` passes; whether `done` was set.
    fn step_until(done: &AtomicBool, limit: Duration) -> bool {
        let started = Instant::now();
        while !done.load(Ordering::Acquire) && started.elapsed() < limit {
            step();
        }
        done.load(Ordering::Acquire)
    }

    /// On a runtime of one worker, a task spawned while a long loop holds the worker runs before the
    /// loop ends: the loop left the worker. Without its steps, the task would wait for the loop.
    #[test]
    fn a_long_loop_lets_the_other_tasks_of_its_worker_run() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).build().unwrap();
        let served = runtime.block_on(async {
            tokio::spawn(async {
                begin_stretch();
                let done = Arc::new(AtomicBool::new(false));
                let flag = done.clone();
                tokio::spawn(async move { flag.store(true, Ordering::Release) });
                step_until(&done, Duration::from_secs(30))
            })
            .await
            .unwrap()
        });
        assert!(served, "the other task did not run while the loop held the only worker");
    }

    /// On a current-thread runtime there is no worker to hand over: steps are counted and nothing
    /// panics (`block_in_place` would).
    #[test]
    fn a_current_thread_runtime_is_left_alone() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            begin_stretch();
            let done = AtomicBool::new(false);
            assert!(!step_until(&done, Duration::from_millis(20)));
            assert!(LEFT.get());
        });
    }
}

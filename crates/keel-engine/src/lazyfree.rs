//! Freeing large values off the command path (Redis's lazyfree.c): UNLINK, and DEL under
//! `lazyfree-lazy-user-del`, hand a value whose freeing takes many steps to a background thread, so a
//! client deleting a million-member set does not hold up the others while it is freed. Small values are
//! freed at once, as freeing them costs less than the hand-over. FLUSHDB and FLUSHALL hand over a
//! database's whole contents: ASYNC answers at once, SYNC answers once it is freed (Redis 8 runs a SYNC
//! flush as a blocking ASYNC: its caller waits, the other clients do not). A plain DEL frees in place, as
//! Redis's does, but one that takes long leaves the async worker to the other clients first (`keel_pace`).

use keel_store::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Mutex, OnceLock};

/// Values with more parts to free than this go to the background (Redis's LAZYFREE_THRESHOLD).
const THRESHOLD: usize = 64;

/// A database's lazy-free figures (INFO memory's `lazyfree_pending_objects`, `lazyfreed_objects`).
#[derive(Debug, Default)]
pub struct LazyFreeStats {
    pub pending: AtomicU64,
    pub freed: AtomicU64,
}

/// Roughly how many allocations freeing `value` releases (Redis's lazyfreeGetFreeEffort).
fn effort(value: &Value) -> usize {
    match value {
        Value::Str(_) | Value::Int(_) => 1,
        Value::List(list) => list.len() / 128 + 1,
        Value::Hash(hash) if hash.is_packed() => 1,
        Value::Hash(hash) => hash.len(),
        Value::Set(set) if set.encoding() != "hashtable" => 1,
        Value::Set(set) => set.len(),
        Value::ZSet(zset) if zset.encoding() == "listpack" => 1,
        Value::ZSet(zset) => zset.len(),
        Value::Stream(stream) => stream.len() as usize,
        Value::Json(document) => document.bytes() / 64,
    }
}

/// What the thread frees (a value, or a flushed database's keys), and how many objects that is, as Redis
/// counts them: one per value, one per key of a flushed database.
struct Freed {
    _contents: Box<dyn Send>,
    objects: u64,
}

/// Tells a caller waiting for a flush (FLUSHALL SYNC) that what it took out is freed.
#[derive(Debug, Clone, Default)]
pub struct FreeDone(Arc<FreeSignal>);

#[derive(Debug, Default)]
struct FreeSignal {
    done: std::sync::atomic::AtomicBool,
    wake: tokio::sync::Notify,
}

impl FreeDone {
    fn finish(&self) {
        self.0.done.store(true, Ordering::Release);
        self.0.wake.notify_waiters();
    }

    pub fn is_done(&self) -> bool {
        self.0.done.load(Ordering::Acquire)
    }

    /// Returns once the freeing thread is done with the flush.
    pub async fn wait(&self) {
        loop {
            let woken = self.0.wake.notified();
            if self.is_done() {
                return;
            }
            woken.await;
        }
    }
}

impl PartialEq for FreeDone {
    fn eq(&self, other: &FreeDone) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

type Job = (Freed, Arc<LazyFreeStats>, Option<FreeDone>);

/// The one freeing thread, started on first use.
fn freer() -> &'static Mutex<Sender<Job>> {
    static FREER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    FREER.get_or_init(|| {
        let (send, receive) = channel::<Job>();
        let spawned = std::thread::Builder::new().name("keel-lazyfree".into()).spawn(move || {
            for (freed, stats, done) in receive {
                let objects = freed.objects;
                drop(freed);
                stats.pending.fetch_sub(objects, Ordering::Relaxed);
                stats.freed.fetch_add(objects, Ordering::Relaxed);
                if let Some(done) = done {
                    done.finish();
                }
            }
        });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the lazy-free thread ({e}): large values are freed in place");
        }
        Mutex::new(send)
    })
}

/// Frees `value` now, or in the background when that takes many steps.
pub fn free(value: Value, stats: &Arc<LazyFreeStats>) {
    if effort(&value) > THRESHOLD {
        hand_over(Freed { _contents: Box::new(value), objects: 1 }, stats, None);
    }
}

/// Values with more parts than this take long to walk (free, copy).
const LONG_TO_WALK: usize = 100_000;

/// Work that walks all of `value` (freeing it, copying it) is about to start: when that takes long, it
/// leaves the async worker to the other clients first (`keel_pace`).
pub fn before_walking(value: &Value) {
    match value {
        Value::Str(bytes) => keel_pace::bytes_ahead(bytes.len()),
        _ if effort(value) > LONG_TO_WALK => keel_pace::leave_worker(),
        _ => {}
    }
}

/// Frees `value` in place (DEL, which answers once the memory is free), leaving the async worker first
/// when that takes long.
pub fn free_in_place(value: Value) {
    before_walking(&value);
    drop(value);
}

/// Frees what SCRIPT FLUSH or FUNCTION FLUSH took out with ASYNC (an old Lua state with its scripts or
/// libraries) in the background when it holds more than [`THRESHOLD`] `items`, counted as `objects` (Redis
/// counts each script, or each function and the engine); a smaller one is freed here.
pub fn free_scripting<T: Send + 'static>(contents: T, items: usize, objects: u64, stats: &Arc<LazyFreeStats>) {
    if items > THRESHOLD {
        hand_over(Freed { _contents: Box::new(contents), objects }, stats, None);
    }
}

/// Frees what FLUSHDB/FLUSHALL took out of its databases in the background, whatever its size: freeing a
/// million keys in place would hold every other client of the database for that long. What it returns
/// tells when that is done.
pub fn free_flushed(flushed: Vec<keel_store::Flushed>, stats: &Arc<LazyFreeStats>) -> FreeDone {
    let done = FreeDone::default();
    let objects: u64 = flushed.iter().map(|f| f.keys as u64).sum();
    if objects == 0 {
        done.finish();
    } else {
        hand_over(Freed { _contents: Box::new(flushed), objects }, stats, Some(done.clone()));
    }
    done
}

fn hand_over(freed: Freed, stats: &Arc<LazyFreeStats>, done: Option<FreeDone>) {
    let objects = freed.objects;
    stats.pending.fetch_add(objects, Ordering::Relaxed);
    let sent = freer().lock().map(|sender| sender.send((freed, stats.clone(), done.clone())));
    if !matches!(sent, Ok(Ok(()))) {
        // No thread to take it: it was dropped here (or with the failed send).
        stats.pending.fetch_sub(objects, Ordering::Relaxed);
        if let Some(done) = done {
            done.finish();
        }
    }
}

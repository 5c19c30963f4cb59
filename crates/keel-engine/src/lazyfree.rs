//! Freeing large values off the command path (Redis's lazyfree.c): UNLINK, and DEL under
//! `lazyfree-lazy-user-del`, hand a value whose freeing takes many steps to a background thread, so a
//! client deleting a million-member set does not hold up the others while it is freed. Small values are
//! freed at once, as freeing them costs less than the hand-over.

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

type Job = (Value, Arc<LazyFreeStats>);

/// The one freeing thread, started on first use.
fn freer() -> &'static Mutex<Sender<Job>> {
    static FREER: OnceLock<Mutex<Sender<Job>>> = OnceLock::new();
    FREER.get_or_init(|| {
        let (send, receive) = channel::<Job>();
        let spawned = std::thread::Builder::new().name("keel-lazyfree".into()).spawn(move || {
            for (value, stats) in receive {
                drop(value);
                stats.pending.fetch_sub(1, Ordering::Relaxed);
                stats.freed.fetch_add(1, Ordering::Relaxed);
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
    if effort(&value) <= THRESHOLD {
        return;
    }
    stats.pending.fetch_add(1, Ordering::Relaxed);
    let sent = freer().lock().map(|sender| sender.send((value, stats.clone())));
    if !matches!(sent, Ok(Ok(()))) {
        // No thread to take it: the value was dropped here (or with the failed send).
        stats.pending.fetch_sub(1, Ordering::Relaxed);
    }
}

//! Keeping a database within its `maxmemory` (Redis's performEvictions): before a command runs, keys are
//! evicted by the database's policy until the dataset fits; if it cannot fit, commands that may grow it are
//! refused with Redis's OOM error while reads keep working. An eviction is a deletion like any other: the
//! log gets a DEL, `evicted` is published, and watchers and trackers see the key change.

use crate::notify::{self, Events};
use crate::state::tenant::Keyspace;
use keel_store::evict::{best_candidate, Policy};
use keel_store::AccessClock;

pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// A database's memory limit and how it makes room.
#[derive(Debug, Clone, Copy)]
pub struct MemoryLimit {
    /// Bytes; 0 means no limit.
    pub max: u64,
    pub policy: Policy,
    pub samples: usize,
}

/// Evicts until the dataset fits `limit` beside `clients`, the bytes its clients' buffers and push queues
/// take (Redis counts them too, and evicts keys to make room for output piling up); false when it still
/// does not (nothing more may be evicted).
pub fn make_room(ks: &mut Keyspace, limit: &MemoryLimit, clients: u64, clock: &AccessClock, events: Events) -> bool {
    if limit.max == 0 {
        return true;
    }
    let room = limit.max.saturating_sub(clients);
    if ks.fits_by_count(room) {
        return true;
    }
    let mut rng = rand::thread_rng();
    while ks.used_memory() as u64 > room {
        let best = (0..ks.dbs.len())
            .filter_map(|db| best_candidate(&ks.dbs[db], limit.policy, limit.samples, clock, &mut rng).map(|c| (db, c)))
            .max_by_key(|(_, c)| c.score);
        let Some((db, candidate)) = best else { return false };
        let (key, _, _) = ks.dbs[db].remove_slot(candidate.slot);
        ks.stats.evicted_keys += 1;
        if ks.log.enabled {
            ks.log.command(db, &[&b"DEL"[..], key.as_bytes()]);
        }
        ks.emit(events, notify::EVICTED, "evicted", db, key.as_bytes());
    }
    true
}

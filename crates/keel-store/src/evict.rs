//! Choosing keys to evict under `maxmemory` (Redis's evict.c): sampled approximations of LRU, LFU and
//! nearest-expiry order, or random choice, among all keys or only those with a TTL. Which keys are removed,
//! and what a removal causes, is the server's business.

use crate::keyspace::Db;
use crate::object::{lfu_decay, AccessClock};
use rand::Rng;

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    NoEviction,
    AllKeysLru,
    VolatileLru,
    AllKeysLfu,
    VolatileLfu,
    AllKeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    pub const NAMES: [(&'static str, Policy); 8] = [
        ("noeviction", Policy::NoEviction),
        ("allkeys-lru", Policy::AllKeysLru),
        ("volatile-lru", Policy::VolatileLru),
        ("allkeys-lfu", Policy::AllKeysLfu),
        ("volatile-lfu", Policy::VolatileLfu),
        ("allkeys-random", Policy::AllKeysRandom),
        ("volatile-random", Policy::VolatileRandom),
        ("volatile-ttl", Policy::VolatileTtl),
    ];

    pub fn parse(name: &str) -> Option<Policy> {
        Policy::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, p)| *p)
    }

    pub fn name(self) -> &'static str {
        Policy::NAMES.iter().find(|(_, p)| *p == self).map_or("noeviction", |(n, _)| n)
    }

    /// The policy ranks keys by access frequency: keys keep an LFU counter instead of an access time.
    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllKeysLfu | Policy::VolatileLfu)
    }

    /// The policy ranks keys by their own access record (LRU or LFU), so values cannot be shared objects
    /// (Redis's MAXMEMORY_FLAG_NO_SHARED_INTEGERS).
    pub fn ranks_by_access(self) -> bool {
        self.is_lfu() || matches!(self, Policy::AllKeysLru | Policy::VolatileLru)
    }

    /// The policy only considers keys with a TTL.
    pub fn volatile_only(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }
}

/// A key worth evicting: the higher its score, the better a victim it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub slot: usize,
    pub score: u64,
}

/// The best victim among `samples` keys drawn from `db` (none when the policy finds no key there).
pub fn best_candidate(
    db: &Db,
    policy: Policy,
    samples: usize,
    clock: &AccessClock,
    rng: &mut impl Rng,
) -> Option<Candidate> {
    let draw = |rng: &mut _| if policy.volatile_only() { db.random_volatile_slot(rng) } else { db.random_slot(rng) };
    if matches!(policy, Policy::NoEviction) {
        return None;
    }
    if matches!(policy, Policy::AllKeysRandom | Policy::VolatileRandom) {
        return draw(rng).map(|slot| Candidate { slot, score: 0 });
    }
    let mut best: Option<Candidate> = None;
    for _ in 0..samples.max(1) {
        let slot = draw(rng)?;
        let meta = db.access(slot);
        let score = match policy {
            Policy::AllKeysLru | Policy::VolatileLru => clock.idle_seconds(meta),
            Policy::AllKeysLfu | Policy::VolatileLfu => {
                let decay = clock.lfu.map_or(1, |(_, decay)| decay);
                255 - lfu_decay(meta, clock.now_ms, decay) as u64
            }
            // The sooner a key expires, the better a victim.
            _ => u64::MAX - db.expire_at(slot).unwrap_or(u64::MAX),
        };
        if best.is_none_or(|b| score > b.score) {
            best = Some(Candidate { slot, score });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Expiry, Value};

    #[test]
    fn volatile_policies_only_pick_keys_with_a_ttl_and_ttl_prefers_the_soonest() {
        let mut db = Db::new();
        let clock = AccessClock::lru(1_000_000);
        db.insert_new(b"plain", Value::Int(1), Expiry::Clear, &clock);
        db.insert_new(b"late", Value::Int(1), Expiry::At(9_000_000), &clock);
        db.insert_new(b"soon", Value::Int(1), Expiry::At(2_000_000), &clock);
        let mut rng = rand::thread_rng();
        for _ in 0..50 {
            let c = best_candidate(&db, Policy::VolatileRandom, 5, &clock, &mut rng).unwrap();
            assert_ne!(db.key(c.slot), b"plain");
        }
        let c = best_candidate(&db, Policy::VolatileTtl, 64, &clock, &mut rng).unwrap();
        assert_eq!(db.key(c.slot), b"soon");
        assert!(best_candidate(&db, Policy::NoEviction, 5, &clock, &mut rng).is_none());
        assert_eq!(Policy::parse("ALLKEYS-LFU"), Some(Policy::AllKeysLfu));
        assert_eq!(Policy::AllKeysLfu.name(), "allkeys-lfu");
    }

    #[test]
    fn lru_prefers_the_key_idle_longest() {
        let mut db = Db::new();
        let old = AccessClock::lru(1_000);
        let new = AccessClock::lru(500_000);
        db.insert_new(b"old", Value::Int(1), Expiry::Clear, &old);
        db.insert_new(b"new", Value::Int(1), Expiry::Clear, &new);
        let c = best_candidate(&db, Policy::AllKeysLru, 64, &new, &mut rand::thread_rng()).unwrap();
        assert_eq!(db.key(c.slot), b"old");
    }
}

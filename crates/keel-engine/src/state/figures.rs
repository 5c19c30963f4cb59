//! What the server's own readers (`/metrics`, the admin API, `/health/ready`, the usage meters, the cron
//! task) know of a database without waiting for its lock. A reader that finds the lock free takes fresh
//! figures and publishes them; one that finds it taken (a long script, a SAVE) gets the last published
//! figures at once. So no database's state can make a reader, or whatever else runs on the reader's
//! thread, wait: a long script in one database costs the others nothing but CPU share.

use crate::state::command_stats::CommandStats;
use crate::state::tenant::{Keyspace, Tenant};
use parking_lot::Mutex;
use std::sync::Arc;

/// A database's figures at one moment.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Unix milliseconds when they were taken.
    pub taken_ms: u64,
    pub used_memory: u64,
    pub lua_memory: u64,
    /// `(numbered database, keys, keys with a TTL)`, for the non-empty ones.
    pub keys: Vec<(usize, usize, usize)>,
    pub total_commands: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub total_error_replies: u64,
    pub rate_limited: u64,
    pub quota_refused: u64,
    /// By command id.
    pub commands: CommandStats,
    /// Channels, patterns and subscribed clients.
    pub pubsub: (usize, usize, usize),
}

impl Figures {
    pub fn of(ks: &Keyspace) -> Figures {
        let s = &ks.stats;
        Figures {
            taken_ms: crate::clock::unix_ms(),
            used_memory: ks.used_memory() as u64,
            lua_memory: ks.scripting.eval_memory() as u64,
            keys: ks
                .dbs
                .iter()
                .enumerate()
                .filter(|(_, db)| !db.is_empty())
                .map(|(i, db)| (i, db.len(), db.volatile_len()))
                .collect(),
            total_commands: s.total_commands,
            keyspace_hits: s.keyspace_hits,
            keyspace_misses: s.keyspace_misses,
            expired_keys: s.expired_keys,
            evicted_keys: s.evicted_keys,
            total_error_replies: s.total_error_replies,
            rate_limited: s.rate_limited,
            quota_refused: s.quota_refused,
            commands: s.commands.clone(),
            pubsub: ks.pubsub.counts(),
        }
    }

    pub fn total_keys(&self) -> u64 {
        self.keys.iter().map(|(_, keys, _)| *keys as u64).sum()
    }
}

/// The last figures published for a database.
#[derive(Default)]
pub struct Published(Mutex<Arc<Figures>>);

impl Tenant {
    /// Fresh figures when the database's lock is free this instant, else the last published ones; never
    /// waits for the lock.
    pub fn figures(&self) -> Arc<Figures> {
        match self.data.try_lock() {
            Some(ks) => self.publish(&ks),
            None => self.published.0.lock().clone(),
        }
    }

    /// Takes figures from the locked keyspace and publishes them.
    pub fn publish(&self, ks: &Keyspace) -> Arc<Figures> {
        let figures = Arc::new(Figures::of(ks));
        *self.published.0.lock() = figures.clone();
        figures
    }
}

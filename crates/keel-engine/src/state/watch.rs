//! WATCH bookkeeping for one database owner (tenant): which clients watch which keys, and which of them saw
//! a watched key change (their EXEC then fails). The numbered databases record changes to watched keys as
//! they happen, including expiry, FLUSHDB and SWAPDB; [`Watches::propagate`] turns those into marks.

use keel_store::Db;
use std::collections::{HashMap, HashSet};

#[derive(Default)]
pub struct Watches {
    /// (numbered database, key) → clients watching it.
    watchers: HashMap<(usize, Vec<u8>), Vec<u64>>,
    /// Client → the keys it watches.
    by_client: HashMap<u64, Vec<(usize, Vec<u8>)>>,
    /// Clients one of whose watched keys changed.
    dirty: HashSet<u64>,
}

impl Watches {
    pub fn is_active(&self) -> bool {
        !self.by_client.is_empty()
    }

    pub fn watch(&mut self, dbs: &mut [Db], client: u64, db: usize, key: &[u8]) {
        let keys = self.by_client.entry(client).or_default();
        if keys.iter().any(|(d, k)| *d == db && k == key) {
            return;
        }
        keys.push((db, key.to_vec()));
        self.watchers.entry((db, key.to_vec())).or_default().push(client);
        dbs[db].watch(key);
    }

    /// Forgets everything `client` watches (UNWATCH, EXEC, DISCARD, RESET, disconnect).
    pub fn unwatch_all(&mut self, dbs: &mut [Db], client: u64) {
        self.dirty.remove(&client);
        for (db, key) in self.by_client.remove(&client).unwrap_or_default() {
            dbs[db].unwatch(&key);
            let entry = (db, key);
            if let Some(clients) = self.watchers.get_mut(&entry) {
                clients.retain(|&c| c != client);
                if clients.is_empty() {
                    self.watchers.remove(&entry);
                }
            }
        }
    }

    /// Marks the watchers of a key that changed.
    pub fn changed(&mut self, db: usize, key: Vec<u8>) {
        if let Some(clients) = self.watchers.get(&(db, key)) {
            self.dirty.extend(clients.iter().copied());
        }
    }

    /// The whole dataset was replaced by `dbs` (a restore): every watcher saw its keys change, and the
    /// new databases learn which keys are watched.
    pub fn replaced(&mut self, dbs: &mut [Db]) {
        for ((db, key), clients) in &self.watchers {
            for _ in clients {
                dbs[*db].watch(key);
            }
            self.dirty.extend(clients.iter().copied());
        }
    }

    /// The keys `client` watches.
    pub fn keys_of(&self, client: u64) -> Vec<(usize, Vec<u8>)> {
        self.by_client.get(&client).cloned().unwrap_or_default()
    }

    pub fn is_dirty(&self, client: u64) -> bool {
        self.dirty.contains(&client)
    }
}

//! A tenant is one of the databases Keel hosts (what a user provisions and connects to). It owns Redis's
//! numbered databases (`SELECT 0..15`), its statistics, slow log and monitors, all behind one lock: the lock
//! is taken once per batch of pipelined commands, which makes every command, MULTI/EXEC and script atomic.

use crate::databases::TenantLimits;
use crate::notify::{self, Events};
use crate::persistence::{LogBuffer, Persistence};
use crate::state::command_stats::CommandStats;
use crate::state::slowlog::SlowLog;
use crate::state::tracking::NOBODY;
use keel_store::Db;
use parking_lot::Mutex;

pub struct Tenant {
    pub name: String,
    /// A database provisioned for a customer (with its own limits), not the server's own `default`, whose
    /// clients administer the server.
    provisioned: bool,
    pub data: Mutex<Keyspace>,
    /// The running script, as other connections see it without the lock (BUSY, SCRIPT KILL).
    pub scripts: std::sync::Arc<crate::exec::scripting::ScriptStatus>,
    /// Its log, snapshots and data directory.
    pub persistence: Persistence,
    /// A provisioned database's own limits; None for `default`, which follows the server's settings.
    pub limits: crate::config::versioned::Versioned<Option<TenantLimits>>,
    /// A provisioned database's own keyspace-event, slow-log and ACL-log settings (CONFIG SET in it).
    pub settings: crate::config::versioned::Versioned<crate::config::DatabaseSettings>,
    /// Connections authenticated to this database now, and the most there ever were.
    pub connections: std::sync::atomic::AtomicU64,
    pub peak_connections: std::sync::atomic::AtomicU64,
    /// Logins refused because the database was at its connection cap.
    pub refused_logins: std::sync::atomic::AtomicU64,
    /// The most memory the dataset used, as sampled by the cron task.
    pub peak_memory: std::sync::atomic::AtomicU64,
    /// Bytes its connections' query and reply buffers hold, kept by each connection as its buffers grow
    /// and shrink ([`Tenant::count_client_buffers`]): `maxmemory` counts them with the dataset, as Redis's
    /// does. A replica's feed leaves them when it becomes one, as Redis leaves replicas' buffers out.
    pub client_buffers: std::sync::atomic::AtomicU64,
    /// Bytes pushed to its clients and not yet written (a subscriber that does not read), as the cron last
    /// summed them: counted with the buffers.
    pub pushed_bytes: std::sync::atomic::AtomicU64,
    /// Its figures as last taken, for readers that must not wait for its lock.
    pub published: crate::state::figures::Published,
    /// Usage by day, kept in the database's directory.
    pub meters: crate::meters::Meters,
    /// ACL users of this database, and the log of denials.
    pub acl: parking_lot::RwLock<crate::state::acl::Acl>,
    /// The `default` user may do everything (checked once per ACL change, not per command).
    pub default_unrestricted: std::sync::atomic::AtomicBool,
    /// CLIENT PAUSE in force for this database.
    pub pause: crate::state::pause::Pause,
    /// Values being freed in the background, and how many were (UNLINK).
    pub lazyfree: std::sync::Arc<crate::lazyfree::LazyFreeStats>,
    /// Its role (primary, or replica of whom) and the replicas attached to it.
    pub replication: crate::replication::Replication,
    /// Its recent rates, sampled by the cron task (the stats endpoint).
    pub history: parking_lot::Mutex<crate::state::rates::History>,
}

/// An empty numbered database as a tenant keeps them: deletions by expiry are listed, for the log's DELs
/// and `expired` events.
pub fn new_db() -> Db {
    let mut db = Db::new();
    db.set_record_expired(true);
    db
}

#[derive(Debug, Default)]
pub struct TenantStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    /// Hash fields deleted because their TTL passed (INFO's `expired_subkeys`).
    pub expired_subkeys: u64,
    pub evicted_keys: u64,
    pub total_commands: u64,
    pub total_error_replies: u64,
    /// Commands refused past the database's commands-per-second limit (REST's 429s).
    pub rate_limited: u64,
    /// Commands refused because the dataset is at its memory limit (OOM errors).
    pub quota_refused: u64,
    pub commands: CommandStats,
    /// Error replies by their code (`ERR`, `WRONGTYPE`...), for `INFO errorstats`.
    pub errors: std::collections::BTreeMap<String, u64>,
    /// Recent ops/sec samples, taken by the cron task, for `instantaneous_ops_per_sec`.
    pub ops_samples: [u64; 16],
    pub ops_sample_index: usize,
    pub last_sample_commands: u64,
    pub last_sample_ms: u64,
}

impl TenantStats {
    pub fn instantaneous_ops(&self) -> u64 {
        self.ops_samples.iter().sum::<u64>() / self.ops_samples.len() as u64
    }

    /// Records one ops/sec sample (Redis's `trackInstantaneousMetric`).
    pub fn sample_ops(&mut self, now_ms: u64) {
        if self.last_sample_ms != 0 && now_ms > self.last_sample_ms {
            let ops = self.total_commands - self.last_sample_commands;
            self.ops_samples[self.ops_sample_index] = ops * 1000 / (now_ms - self.last_sample_ms);
            self.ops_sample_index = (self.ops_sample_index + 1) % self.ops_samples.len();
        }
        self.last_sample_ms = now_ms;
        self.last_sample_commands = self.total_commands;
    }

    pub fn reset(&mut self) {
        let mut commands = std::mem::take(&mut self.commands);
        commands.reset();
        *self = TenantStats { commands, ..TenantStats::default() };
    }
}

/// A connection in MONITOR mode, fed one line per command (its queue is bounded by the output limit).
pub struct Monitor {
    pub client: std::sync::Arc<crate::clients::ClientInfo>,
    pub feed: crate::state::pubsub::Feed,
}

/// Everything behind the tenant's lock.
pub struct Keyspace {
    pub dbs: Vec<Db>,
    pub stats: TenantStats,
    pub slowlog: SlowLog,
    pub monitors: Vec<Monitor>,
    /// Changes to the dataset since start (Redis's `server.dirty`).
    pub dirty: u64,
    /// Clients blocked on keys (BLPOP and friends).
    pub blocking: crate::state::blocking::Blocking,
    /// Keys clients WATCH.
    pub watches: crate::state::watch::Watches,
    /// Effective writes on their way to the append-only log.
    pub log: LogBuffer,
    /// Pub/sub subscriptions and fan-out.
    pub pubsub: crate::state::pubsub::Hub,
    /// Clients tracking keys for client-side caching.
    pub tracking: crate::state::tracking::Tracking,
    /// EVAL scripts and FUNCTION libraries.
    pub scripting: crate::exec::scripting::Scripting,
    /// The current second and the commands run in it, for `max_commands_per_second`.
    pub rate_window: (u64, u64),
    /// What reading a key past its TTL does now (CLIENT PAUSE, a replica: see `dispatch`).
    pub expired_keys: keel_store::ExpiredKeys,
    /// Latency events (LATENCY LATEST, HISTORY).
    pub latency: crate::state::latency::Latency,
    /// MIGRATE's kept connections (the server's own database only).
    pub migrate: crate::state::migrate_sockets::MigrateSockets,
    /// The running command looked keys up outside its client's database (see `note_other_dbs`).
    other_dbs: bool,
    /// Each numbered database's bytes as counted after the last command that ran in it, never fewer than
    /// it holds (see [`Keyspace::fits_by_count`]), unless `db_bytes_stale`.
    db_bytes: Vec<usize>,
    /// Databases changed other than by a command in each (MOVE, SWAPDB, loading), or no count was kept:
    /// count them all again.
    db_bytes_stale: bool,
    /// Keys deleted by expiry whose tracking clients have not been told yet (while tracking is on).
    expired_untold: Vec<(usize, Vec<u8>)>,
}

impl Tenant {
    pub fn new(
        name: &str,
        databases: usize,
        table: &crate::exec::commands::CommandTable,
        persistence: Persistence,
        limits: Option<TenantLimits>,
    ) -> Tenant {
        // Settings derived for a database dropped at this address are not this one's.
        crate::config::versioned::bump();
        let commands = table.len();
        let mut acl = crate::state::acl::Acl::new(table, None);
        if let Err(e) = acl.load(&persistence.dir, table) {
            tracing::warn!("{e}: starting with the default user only");
        }
        Tenant {
            name: name.to_string(),
            provisioned: limits.is_some(),
            default_unrestricted: std::sync::atomic::AtomicBool::new(
                acl.users.get("default").is_some_and(crate::state::acl::User::unrestricted),
            ),
            acl: parking_lot::RwLock::new(acl),
            pause: Default::default(),
            lazyfree: Default::default(),
            replication: Default::default(),
            history: Default::default(),
            meters: crate::meters::Meters::load(&persistence.dir),
            published: Default::default(),
            persistence,
            scripts: std::sync::Arc::new(crate::exec::scripting::ScriptStatus::for_database(name)),
            limits: crate::config::versioned::Versioned::new(limits),
            settings: Default::default(),
            connections: Default::default(),
            peak_connections: Default::default(),
            refused_logins: Default::default(),
            peak_memory: Default::default(),
            client_buffers: Default::default(),
            pushed_bytes: Default::default(),
            data: Mutex::new(Keyspace {
                // Deletions by expiry are listed, for the log's DELs and `expired` events.
                dbs: (0..databases).map(|_| new_db()).collect(),
                stats: TenantStats { commands: CommandStats::new(commands), ..Default::default() },
                slowlog: SlowLog::default(),
                monitors: Vec::new(),
                dirty: 0,
                blocking: Default::default(),
                watches: Default::default(),
                log: LogBuffer::default(),
                pubsub: Default::default(),
                tracking: Default::default(),
                scripting: Default::default(),
                rate_window: (0, 0),
                expired_keys: keel_store::ExpiredKeys::Delete,
                latency: Default::default(),
                migrate: Default::default(),
                other_dbs: false,
                db_bytes: vec![0; databases],
                db_bytes_stale: true,
                expired_untold: Vec::new(),
            }),
        }
    }

    /// Whether this is a provisioned database rather than the server's own.
    pub fn is_provisioned(&self) -> bool {
        self.provisioned
    }

    /// The server's settings as this database sees them: a provisioned database's own limits and settings
    /// stand where the server's would.
    pub fn settings_view(&self, server: &crate::config::Settings) -> crate::config::Settings {
        let mut view = server.clone();
        if self.provisioned {
            self.settings.read().apply_to(&mut view);
            if let Some(limits) = *self.limits.read() {
                limits.apply_to(&mut view);
            }
        }
        view
    }

    /// Bytes this database's Lua states may take: `lua-memory-limit`, and a provisioned database's quota.
    pub fn lua_memory_limit(&self, server: &crate::config::Settings) -> usize {
        let quota = self.limits.read().map_or(0, |l| l.max_memory);
        let limit = match quota {
            0 => server.lua_memory_limit,
            quota => server.lua_memory_limit.min(quota),
        };
        limit as usize
    }

    /// Who reads and changes settings from this database: a provisioned database, or the server's
    /// administrator (over RESP or REST).
    pub fn config_reader(&self, over_rest: bool) -> crate::config::Reader {
        if self.provisioned {
            crate::config::Reader::Database
        } else {
            crate::config::Reader::Administrator { over_rest }
        }
    }

    /// [`Keyspace::after_expiry`] with this database's current settings, for callers outside a batch (cron,
    /// compaction, shutdown).
    pub fn flush_expired(&self, server: &crate::server::Server, ks: &mut Keyspace) {
        let settings = crate::exec::dispatch::BatchSettings::read(server, self);
        ks.after_expiry(Events { flags: settings.notify, limit: settings.pubsub_limit });
    }

    /// A span naming this database, for every log line about it (work done for it outside a client's
    /// command: recovery, snapshots, the periodic duties, shutdown, replication).
    pub fn span(&self) -> tracing::Span {
        tracing::info_span!("db", database = %self.name)
    }

    /// Whether the `default` user may log in (`ACL SETUSER default off` locks it out).
    pub fn default_user_enabled(&self) -> bool {
        self.acl.read().users.get("default").is_some_and(|u| u.enabled)
    }

    /// Whether a new connection starts logged in as `default`: it is enabled and needs no password.
    pub fn default_user_open(&self) -> bool {
        self.acl.read().users.get("default").is_some_and(|u| u.enabled && u.nopass)
    }

    /// Re-reads whether the default user is unrestricted (after an ACL change) and saves the users.
    pub fn acl_changed(&self, table: &crate::exec::commands::CommandTable) -> Result<(), String> {
        let acl = self.acl.read();
        let open = acl.users.get("default").is_some_and(crate::state::acl::User::unrestricted);
        self.default_unrestricted.store(open, std::sync::atomic::Ordering::Release);
        acl.save(&self.persistence.dir, table)
    }

    /// Folds the running counters into today's meters (and saves them every few seconds, or `now`),
    /// from its figures: never waits for the database's lock.
    pub fn meter(&self, now: bool) {
        let unix = crate::clock::unix_ms() / 1000;
        let figures = self.figures();
        let sample = crate::meters::Sample {
            commands: figures.total_commands,
            hits: figures.keyspace_hits,
            misses: figures.keyspace_misses,
            storage: figures.used_memory,
            connections: self.connections.load(std::sync::atomic::Ordering::Relaxed),
        };
        self.meters.fold(&sample, unix);
        if now {
            self.meters.save(&self.persistence.dir);
        } else {
            self.meters.save_if_due(&self.persistence.dir, unix, 5);
        }
    }

    /// The largest request this database takes, when it has its own limit.
    pub fn max_request_size(&self) -> Option<u64> {
        self.limits.read().map(|l| l.max_request_size).filter(|m| *m > 0)
    }

    /// Counts a connection in; false (and not counted) when the database is at its connection cap.
    pub fn admit_connection(&self) -> bool {
        use std::sync::atomic::Ordering;
        let cap = self.limits.read().map_or(0, |l| l.max_connections);
        let admitted = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (cap == 0 || n < cap).then_some(n + 1));
        match admitted {
            Ok(before) => {
                self.peak_connections.fetch_max(before + 1, Ordering::AcqRel);
                self.meters.connections_received.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    /// What `maxmemory` and the quota count of its clients: their buffers and what waits in their push
    /// queues.
    pub fn clients_memory(&self) -> u64 {
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        self.client_buffers.load(relaxed).saturating_add(self.pushed_bytes.load(relaxed))
    }

    /// A client that leaves takes what waited in its push queue out of [`Tenant::pushed_bytes`] at once,
    /// rather than at the cron's next count: a database whose subscribers just went must not evict for them.
    pub fn forget_pushed(&self, bytes: u64) {
        let relaxed = std::sync::atomic::Ordering::Relaxed;
        let _ = self.pushed_bytes.fetch_update(relaxed, relaxed, |n| Some(n.saturating_sub(bytes)));
    }

    /// A connection's buffers went from `before` to `now` bytes (from 0 as it arrives, to 0 as it leaves).
    /// Each connection adds what it takes away, so the sum never goes below 0 (the wrapping add of a
    /// negative change is the subtraction).
    pub fn count_client_buffers(&self, before: u64, now: u64) {
        if before != now {
            self.client_buffers.fetch_add(now.wrapping_sub(before), std::sync::atomic::Ordering::Relaxed);
        }
    }

    pub fn release_connection(&self) {
        let _ = self.connections.fetch_update(
            std::sync::atomic::Ordering::AcqRel,
            std::sync::atomic::Ordering::Acquire,
            |n| Some(n.saturating_sub(1)),
        );
    }
}

/// How long a lock attempt spins before it tells the runtime it will block.
const LOCK_SPIN: std::time::Duration = std::time::Duration::from_millis(2);

impl Tenant {
    /// The keyspace lock. Holds are normally microseconds; when the lock stays taken (a long script,
    /// DEBUG SLEEP, a SAVE) the wait moves off the async worker with `block_in_place`, so that other
    /// connections and other tenants keep being served.
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, Keyspace> {
        match self.data.try_lock_for(LOCK_SPIN) {
            Some(guard) => guard,
            None => tokio::task::block_in_place(|| self.data.lock()),
        }
    }

    /// The keyspace lock, or the `BUSY` error when a script has held it past `busy-reply-threshold`.
    pub fn lock_unless_busy(&self) -> Result<parking_lot::MutexGuard<'_, Keyspace>, &'static str> {
        if let Some(guard) = self.data.try_lock_for(LOCK_SPIN) {
            return Ok(guard);
        }
        tokio::task::block_in_place(|| loop {
            if let Some(guard) = self.data.try_lock_for(std::time::Duration::from_millis(10)) {
                return Ok(guard);
            }
            if let Some(busy) = self.scripts.busy_error() {
                return Err(busy);
            }
        })
    }
}

impl Keyspace {
    /// Publishes one keyspace event, if its class is enabled: the event on `__keyspace@<db>__:<key>`, the
    /// key on `__keyevent@<db>__:<event>`.
    pub fn emit(&mut self, events: Events, class: u32, event: &str, db: usize, key: &[u8]) {
        let Events { flags, limit } = events;
        if flags & class == 0 {
            return;
        }
        if flags & notify::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.pubsub.publish(&channel, event.as_bytes(), false, limit);
        }
        if flags & notify::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.pubsub.publish(channel.as_bytes(), key, false, limit);
        }
    }

    /// What keys and hash fields deleted by expiry cause: a DEL (an HDEL of the fields) in the log when it
    /// is on, and an `expired` event (`hexpired`, and `del` when the hash went with its last field).
    pub fn after_expiry(&mut self, events: Events) {
        for db in 0..self.dbs.len() {
            self.after_expiry_in(events, db);
        }
    }

    /// [`Keyspace::after_expiry`] after a command that ran in `db`: only that database can hold keys the
    /// command found expired, unless it said it looked into others ([`Keyspace::note_other_dbs`]). Looking
    /// at one database instead of sixteen is a cache miss fewer per command.
    pub fn after_command_expiry(&mut self, events: Events, db: usize) {
        if std::mem::take(&mut self.other_dbs) {
            return self.after_expiry(events);
        }
        debug_assert!(
            self.dbs.iter().enumerate().all(|(i, other)| i == db || !other.has_expired()),
            "a command expired keys in another database without Keyspace::note_other_dbs"
        );
        self.after_expiry_in(events, db);
    }

    /// The running command looks keys up in databases other than its client's (MOVE, COPY, SWAPDB, EXEC's
    /// watched keys): keys it finds expired there are handled after it too.
    pub fn note_other_dbs(&mut self) {
        self.other_dbs = true;
        self.db_bytes_stale = true;
    }

    /// The counts no longer hold (the databases were loaded or replaced, or no memory limit keeps them):
    /// the next [`Keyspace::count_db_bytes`] counts every database.
    pub fn recount_db_bytes_later(&mut self) {
        self.db_bytes_stale = true;
    }

    /// Counts the bytes of `db`, where a command just ran (and of every database, if one reached others).
    /// Redis reads its allocator's counter before each command; summing every numbered database's figures
    /// instead touched three cache lines of each of them per command (4% of SET -P 16's CPU).
    pub fn count_db_bytes(&mut self, db: usize) {
        if std::mem::take(&mut self.db_bytes_stale) {
            self.db_bytes.resize(self.dbs.len(), 0);
            for (counted, db) in self.db_bytes.iter_mut().zip(&self.dbs) {
                *counted = db.memory();
            }
        } else if let Some(counted) = self.db_bytes.get_mut(db) {
            *counted = self.dbs[db].memory();
        }
        debug_assert!(
            self.db_bytes.iter().zip(&self.dbs).all(|(counted, db)| *counted >= db.memory()),
            "a database grew other than by a command run in it, with no note_other_dbs or recount_db_bytes_later"
        );
    }

    /// Whether the data fits in `max` bytes by the counts of [`Keyspace::count_db_bytes`], which are never
    /// fewer than the databases hold: true is sure, false means [`Keyspace::used_memory`] must say.
    pub fn fits_by_count(&self, max: u64) -> bool {
        if self.db_bytes_stale {
            return false;
        }
        let counted = self.startup_memory() + self.db_bytes.iter().sum::<usize>() + self.scripting.lua_memory();
        counted as u64 <= max
    }

    fn after_expiry_in(&mut self, events: Events, db: usize) {
        if !self.dbs[db].has_expired() {
            return;
        }
        for key in self.dbs[db].take_expired() {
            if self.log.enabled {
                self.log.command(db, &[&b"DEL"[..], key.as_bytes()]);
            }
            self.emit(events, notify::EXPIRED, "expired", db, key.as_bytes());
            if self.tracking.is_active() {
                self.expired_untold.push((db, key.as_bytes().to_vec()));
            }
        }
        for expired in self.dbs[db].take_expired_fields() {
            self.stats.expired_subkeys += expired.fields.len() as u64;
            if self.log.enabled {
                let mut hdel: Vec<&[u8]> = vec![b"HDEL", &expired.key];
                hdel.extend(expired.fields.iter().map(|f| &f[..]));
                self.log.command(db, &hdel);
            }
            self.emit(events, notify::HASH, "hexpired", db, &expired.key);
            if expired.key_gone {
                self.emit(events, notify::GENERIC, "del", db, &expired.key);
            }
        }
    }

    /// Hands the keys changed since the last call to WATCH and to tracking; `actor` made the changes and
    /// `clients` finds the clients still connected to this database (for tracking redirections).
    /// With `actor_out`, the actor's own invalidations are written there, ahead of its next reply.
    pub fn dispatch_changes(
        &mut self,
        actor: u64,
        clients: &crate::state::tracking::Connected<'_>,
        actor_out: Option<&mut keel_protocol::ReplyWriter>,
    ) {
        let expired_alone = self.expired_alone(actor);
        if !self.watches.is_active() && !self.tracking.is_active() {
            return;
        }
        let mut changed = Vec::new();
        let alone: std::collections::HashSet<(usize, &[u8])> =
            expired_alone.iter().map(|(db, key)| (*db, key.as_slice())).collect();
        for db in 0..self.dbs.len() {
            // One write can touch a key more than once (value, then TTL): one report each, in the order
            // the keys were first changed (invalidations follow it, as Redis's do).
            let mut touched = self.dbs[db].take_touched();
            if !alone.is_empty() {
                touched.retain(|key| !alone.contains(&(db, key.as_slice())));
            }
            if touched.len() > 1 {
                let mut seen = std::collections::HashSet::with_capacity(touched.len());
                touched.retain(|key| seen.insert(key.clone()));
            }
            for key in touched {
                if self.tracking.is_active() {
                    changed.push(key.clone());
                }
                self.watches.changed(db, key);
            }
        }
        if !expired_alone.is_empty() {
            let mut keys = Vec::with_capacity(expired_alone.len());
            for (db, key) in expired_alone {
                self.watches.changed(db, key.clone());
                keys.push(key);
            }
            self.tracking.invalidate(&keys, NOBODY, &self.pubsub, clients, None);
        }
        if !changed.is_empty() {
            self.tracking.invalidate(&changed, actor, &self.pubsub, clients, actor_out);
        }
    }

    /// The keys the command of `actor` found expired and did not change after: their deletion is nobody's
    /// change, so a NOLOOP client hears of it even when it is the actor (Redis signals an expiry with no
    /// client). Each takes one of its key's touches, the expiry's own.
    fn expired_alone(&mut self, actor: u64) -> Vec<(usize, Vec<u8>)> {
        let mut expired = std::mem::take(&mut self.expired_untold);
        if actor == NOBODY || expired.is_empty() {
            return Vec::new();
        }
        let mut dbs: Vec<usize> = expired.iter().map(|(db, _)| *db).collect();
        dbs.sort_unstable();
        dbs.dedup();
        let mut touches: std::collections::HashMap<(usize, &[u8]), usize> = std::collections::HashMap::new();
        for db in dbs {
            for key in self.dbs[db].touched() {
                *touches.entry((db, key.as_slice())).or_default() += 1;
            }
        }
        expired.retain(|(db, key)| touches.get(&(*db, key.as_slice())).is_none_or(|n| *n <= 1));
        expired
    }

    /// What `maxmemory` and a database's quota are measured against beside its clients' buffers
    /// ([`Tenant::client_buffers`]): the database's own structures, its dataset and its Lua states (INFO's
    /// `used_memory` adds those buffers, and its logs' beside them).
    pub fn used_memory(&self) -> usize {
        self.startup_memory() + self.dataset_memory()
    }

    /// The keys and values, and the Lua states (INFO's `used_memory_dataset`).
    pub fn dataset_memory(&self) -> usize {
        self.dbs.iter().map(Db::memory).sum::<usize>() + self.scripting.lua_memory()
    }

    /// What the database takes before it holds anything (INFO's `used_memory_startup`, about 1 MB in a
    /// fresh Redis): its keyspace, logical databases and per-command statistics. O(1).
    pub fn startup_memory(&self) -> usize {
        std::mem::size_of::<Tenant>()
            + self.dbs.capacity() * std::mem::size_of::<Db>()
            + self.stats.commands.heap_bytes()
    }
}

//! Replication, per database, over Redis's own protocol (PSYNC2). Each database is its own replication
//! stream with its own ID and offset ([`stream`]): a client logged in to a database that sends `SYNC` or
//! `PSYNC` becomes one of its replicas, and a database told `REPLICAOF host port` follows a primary.
//!
//! This module holds what both sides share without the database's lock: the role (primary, or replica of
//! whom and how its link is doing) and the replicas attached, with the offsets they acknowledged (`WAIT`,
//! `INFO replication`, `min-replicas-to-write`). The sockets are the server crate's: it feeds replicas
//! (full copy from a point-in-time capture, then the stream) and runs the link to a primary.
//!
//! Where the stream comes from: every effective write reaches the database's log buffer in the form that
//! replays the same (`persistence::propagate`); at the end of each batch the buffer goes to the append-only
//! log and to the stream. A replica applies its primary's stream through the same batch and admission as
//! any client (as the master client, which may write where clients may not) and mirrors the bytes into its
//! own stream, so a chain of replicas carries the primary's offsets.

pub mod stream;

use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub use stream::Stream;

/// The `READONLY` error a replica answers clients' writes with.
pub const READONLY: &str = "READONLY You can't write against a read only replica.";
/// The error a replica answers while its link is down and `replica-serve-stale-data` is off.
pub const MASTERDOWN: &str = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
/// The error writes get when too few replicas are in sync (`min-replicas-to-write`).
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
/// The error writes get on a clustered primary that may have lost its lease (fenced): another node may be
/// taking over, and a write acknowledged here could be lost.
pub const FENCED: &str =
    "TRYAGAIN this node cannot confirm it is still the database's primary (its cluster lease is expiring): retry shortly";

/// `REPLCONF GETACK *`, written into the stream (so that every replica counts it in its offset) when WAIT
/// wants fresh acknowledgements.
pub const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";

/// The link of a replica to its primary, as `INFO replication` and `ROLE` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected, about to try.
    Connect,
    Connecting,
    /// Connected, loading the primary's full copy.
    Sync,
    Connected,
}

impl LinkState {
    /// ROLE's name for the state.
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The primary a replica follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub host: String,
    pub port: u16,
    pub state: LinkState,
    /// Unix ms of the last byte from the primary.
    pub last_io_ms: u64,
    /// Unix ms when the link went down (0: never up or up now).
    pub down_since_ms: u64,
    /// Which link this is: REPLICAOF makes a new one, and an old link task stops when it sees it changed.
    pub generation: u64,
    /// The link has completed a sync since REPLICAOF (the data is the primary's, if maybe stale).
    pub synced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Primary,
    Replica(Upstream),
}

/// One replica attached to this database.
pub struct Attached {
    pub client_id: u64,
    pub ip: String,
    /// The port it says it listens on (`REPLCONF listening-port`).
    pub port: u16,
    /// `wait_bgsave`, `send_bulk` or `online`, as INFO shows.
    pub state: Mutex<&'static str>,
    /// The offset it last acknowledged (`REPLCONF ACK`), and when (unix ms).
    pub ack_offset: AtomicU64,
    pub ack_ms: AtomicU64,
    /// The offset its own log has fsynced (`REPLCONF ACK .. FACK offset`), for WAITAOF.
    pub fack_offset: AtomicU64,
    /// The offset of the last stream byte its feeder wrote (the backlog keeps what comes after).
    pub sent: AtomicU64,
    /// A Keel server following this one's default database, and with it every provisioned database
    /// (`REPLCONF capa keel`): a FAILOVER to it hands all of them over.
    pub keel_node: bool,
}

/// A coordinated FAILOVER under way (the command and its steps are exec's `failover`).
#[derive(Debug, Clone)]
pub struct Failover {
    pub phase: FailoverPhase,
    /// The replica handed the databases (`TO host port`, or the first found caught up).
    pub target: Option<(String, u16)>,
    /// When waiting for the replica ends (`TIMEOUT`), and whether it then fails over anyway (`FORCE`).
    pub deadline: Option<std::time::Instant>,
    pub force: bool,
    /// Provisioned databases whose writes are held with the default one's, to move with it.
    pub held: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailoverPhase {
    /// Writes are held until the target has acknowledged the whole stream.
    WaitForSync,
    /// The server follows the target and has asked it to take over (`PSYNC .. FAILOVER`).
    InProgress,
}

/// INFO's `master_failover_state` for `failover`.
pub fn failover_state_name(failover: Option<&Failover>) -> &'static str {
    match failover.map(|f| f.phase) {
        None => "no-failover",
        Some(FailoverPhase::WaitForSync) => "waiting-for-sync",
        Some(FailoverPhase::InProgress) => "failover-in-progress",
    }
}

/// A database's replication state outside its lock.
pub struct Replication {
    role: RwLock<Role>,
    /// Cached `role != Primary`, read on every write.
    replica: AtomicBool,
    pub attached: Mutex<Vec<Arc<Attached>>>,
    /// Woken by every acknowledgement (WAIT waits on it).
    pub acks: tokio::sync::Notify,
    generation: AtomicU64,
    /// When the primary last PINGed its replicas through the stream (unix ms).
    last_ping_ms: AtomicU64,
    /// Full copies sent, and continuations accepted and refused (INFO's `sync_full`, `sync_partial_ok`,
    /// `sync_partial_err`).
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Set on a clustered primary whose node may have lost its lease: writes are refused until the
    /// cluster confirms it (see keel-cluster's fencing).
    fenced: AtomicBool,
}

impl Default for Replication {
    fn default() -> Self {
        Replication {
            role: RwLock::new(Role::Primary),
            replica: AtomicBool::new(false),
            attached: Mutex::new(Vec::new()),
            acks: tokio::sync::Notify::new(),
            generation: AtomicU64::new(0),
            last_ping_ms: AtomicU64::new(0),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            fenced: AtomicBool::new(false),
        }
    }
}

impl Replication {
    /// Refuses (or again accepts) clients' writes: a clustered primary's fence.
    /// Returns whether that changed anything.
    pub fn fence(&self, on: bool) -> bool {
        self.fenced.swap(on, Ordering::Relaxed) != on
    }

    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    pub fn is_replica(&self) -> bool {
        self.replica.load(Ordering::Relaxed)
    }

    pub fn role(&self) -> Role {
        self.role.read().clone()
    }

    /// Follows `host:port` from now on; returns the link's generation (the link task's ticket).
    pub fn follow(&self, host: &str, port: u16) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.role.write() = Role::Replica(Upstream {
            host: host.to_string(),
            port,
            state: LinkState::Connect,
            last_io_ms: 0,
            down_since_ms: crate::clock::unix_ms(),
            generation,
            synced: false,
        });
        self.replica.store(true, Ordering::Relaxed);
        generation
    }

    /// Becomes a primary (REPLICAOF NO ONE); false when it already was one.
    pub fn become_primary(&self) -> bool {
        let mut role = self.role.write();
        if *role == Role::Primary {
            return false;
        }
        *role = Role::Primary;
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.replica.store(false, Ordering::Relaxed);
        true
    }

    /// Whether the link task of `generation` is still the one wanted.
    pub fn is_current(&self, generation: u64) -> bool {
        matches!(&*self.role.read(), Role::Replica(up) if up.generation == generation)
    }

    /// Updates the link's state, when `generation` is still current.
    pub fn set_link(&self, generation: u64, state: LinkState) {
        if let Role::Replica(up) = &mut *self.role.write() {
            if up.generation == generation {
                let now = crate::clock::unix_ms();
                if state == LinkState::Connected {
                    up.down_since_ms = 0;
                    up.synced = true;
                } else if up.state == LinkState::Connected {
                    up.down_since_ms = now;
                }
                up.state = state;
                up.last_io_ms = now;
            }
        }
    }

    /// Notes traffic from the primary.
    pub fn touch_link(&self, generation: u64) {
        if let Role::Replica(up) = &mut *self.role.write() {
            if up.generation == generation {
                up.last_io_ms = crate::clock::unix_ms();
            }
        }
    }

    /// A replica whose link is not up (reads may be refused: `replica-serve-stale-data no`).
    pub fn link_down(&self) -> bool {
        matches!(&*self.role.read(), Role::Replica(up) if up.state != LinkState::Connected)
    }

    /// Replicas attached now.
    pub fn replica_count(&self) -> usize {
        self.attached.lock().len()
    }

    /// How far behind replication is, in seconds: on a primary, the oldest last acknowledgement of an
    /// attached replica; on a replica, how long since its primary was last heard.
    pub fn lag_secs(&self, now_ms: u64) -> u64 {
        match &*self.role.read() {
            Role::Replica(up) => now_ms.saturating_sub(up.last_io_ms) / 1000,
            Role::Primary => {
                let attached = self.attached.lock();
                let oldest = attached.iter().map(|r| r.ack_ms.load(Ordering::Relaxed)).min();
                oldest.map_or(0, |ack| now_ms.saturating_sub(ack) / 1000)
            }
        }
    }

    /// Readiness of a replica's link: None on a primary; else its state, whether it ever completed a
    /// sync, and seconds since it went down (0 while up).
    pub fn link_health(&self, now_ms: u64) -> Option<(LinkState, bool, u64)> {
        match &*self.role.read() {
            Role::Primary => None,
            Role::Replica(up) => {
                let down =
                    if up.state == LinkState::Connected { 0 } else { now_ms.saturating_sub(up.down_since_ms) / 1000 };
                Some((up.state, up.synced, down))
            }
        }
    }

    /// Adds a replica; the first one starts the PING period (Redis counts it from its cron, never at once).
    pub fn attach(&self, replica: Arc<Attached>) {
        let mut attached = self.attached.lock();
        if attached.is_empty() {
            self.last_ping_ms.store(crate::clock::unix_ms(), Ordering::Relaxed);
        }
        attached.push(replica);
    }

    pub fn detach(&self, client_id: u64) {
        self.attached.lock().retain(|r| r.client_id != client_id);
        self.acks.notify_waiters();
    }

    /// Replicas online that acknowledged at least `offset`.
    pub fn acknowledged(&self, offset: u64) -> usize {
        self.attached
            .lock()
            .iter()
            .filter(|r| *r.state.lock() == "online" && r.ack_offset.load(Ordering::Relaxed) >= offset)
            .count()
    }

    /// Replicas online whose logs have fsynced at least `offset` (WAITAOF).
    pub fn fsynced(&self, offset: u64) -> usize {
        self.attached
            .lock()
            .iter()
            .filter(|r| *r.state.lock() == "online" && r.fack_offset.load(Ordering::Relaxed) >= offset)
            .count()
    }

    /// Replicas online whose last acknowledgement is at most `max_lag_secs` old (`min-replicas-max-lag`).
    pub fn good_replicas(&self, now_ms: u64, max_lag_secs: u64) -> usize {
        self.attached
            .lock()
            .iter()
            .filter(|r| {
                *r.state.lock() == "online"
                    && now_ms.saturating_sub(r.ack_ms.load(Ordering::Relaxed)) <= max_lag_secs * 1000
            })
            .count()
    }

    /// Replicas waiting for their full copy to start (`repl-diskless-sync-max-replicas`).
    pub fn waiting_for_copy(&self) -> usize {
        self.attached.lock().iter().filter(|r| *r.state.lock() == "wait_bgsave").count()
    }

    /// The least offset an attached replica has been sent, for trimming the backlog.
    pub fn slowest_sent(&self) -> Option<u64> {
        self.attached.lock().iter().map(|r| r.sent.load(Ordering::Relaxed)).min()
    }

    /// Whether `period_secs` have passed since the last PING to the replicas (and if so, notes one now).
    pub fn ping_due(&self, now_ms: u64, period_secs: u64) -> bool {
        let last = self.last_ping_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < period_secs * 1000 {
            return false;
        }
        self.last_ping_ms.store(now_ms, Ordering::Relaxed);
        true
    }
}

//! The client registry: what `CLIENT LIST`, `CLIENT KILL`, `INFO clients` and the idle-timeout sweep see of
//! every connection. A connection owns its session; it publishes here only what others need to read, in
//! atomics, so publishing costs nothing measurable per batch.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;
use tokio::sync::mpsc::UnboundedSender;

/// Client flags as `CLIENT LIST` prints them.
pub mod flag {
    pub const MONITOR: u32 = 1 << 0;
    pub const PUBSUB: u32 = 1 << 1;
    pub const MULTI: u32 = 1 << 2;
    pub const BLOCKED: u32 = 1 << 3;
    pub const NO_EVICT: u32 = 1 << 4;
    pub const CLOSE_ASAP: u32 = 1 << 5;
    pub const TRACKING: u32 = 1 << 6;
    pub const BCAST: u32 = 1 << 7;
    /// Connected from another machine while protected mode keeps the passwordless default database to
    /// loopback clients: it may log in to a provisioned database, never to the default one.
    pub const PROTECTED: u32 = 1 << 8;
    /// CLIENT NO-TOUCH: its commands leave keys' LRU/LFU access alone (TOUCH still touches).
    pub const NO_TOUCH: u32 = 1 << 9;
    /// Keel: the connection was asked to give its buffers back after [`super::TRIM_AFTER_IDLE_MS`] without
    /// input, and has read nothing since (not shown in CLIENT LIST).
    pub const TRIMMED: u32 = 1 << 10;
    /// A replica's connection, fed the replication stream after its SYNC or PSYNC (`S` in CLIENT LIST, and
    /// what CLIENT LIST/KILL TYPE replica select).
    pub const REPLICA: u32 = 1 << 11;
}

/// An idle connection gives its input and output buffers back after this long without input, as Redis
/// frees an idle client's query buffer after 2 seconds: thousands of idle connections then cost little more
/// than their sockets.
pub const TRIM_AFTER_IDLE_MS: u64 = 2000;

/// The queue a connection drains to its socket: MONITOR lines and pub/sub messages.
#[derive(Clone)]
pub struct Feed {
    pub tx: UnboundedSender<Bytes>,
    /// Bytes queued and not yet written.
    pub queued: Arc<AtomicUsize>,
}

impl Feed {
    /// Queues `bytes`; returns the bytes now queued, or None when the connection is gone.
    pub fn push(&self, bytes: Bytes) -> Option<usize> {
        let len = bytes.len();
        // Counted before it is sent: the connection may write it out (and subtract it) at once, and a count
        // that went below zero would wrap and read as a full queue.
        let queued = self.queued.fetch_add(len, Ordering::Relaxed) + len;
        if self.tx.send(bytes).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return None;
        }
        Some(queued)
    }
}

/// What woke a connection waiting on [`ClientInfo::signalled`].
#[derive(Debug, PartialEq, Eq)]
pub enum Signal {
    /// It must close: killed, or the server is shutting down.
    Kill,
    /// It has been idle: give the buffers back.
    Trim,
}

pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i64,
    /// The database the client is in (AUTH with a database's password moves it there).
    tenant: Mutex<String>,
    pub created_ms: u64,
    pub last_active_ms: AtomicU64,
    pub db: AtomicUsize,
    pub resp: AtomicU32,
    pub flags: AtomicU32,
    /// Command id of the last command run, for `cmd=`.
    pub last_command: AtomicUsize,
    pub query_buffer: AtomicUsize,
    /// Room left in the query buffer (`qbuf-free`) and the reply buffer's size (`rbs`), as of the last batch.
    pub query_buffer_free: AtomicUsize,
    pub reply_buffer: AtomicUsize,
    /// Channels, patterns and shard channels subscribed to (CLIENT LIST's sub, psub, ssub).
    pub subscriptions: [AtomicUsize; 3],
    /// Bytes pushed to the connection and not yet written (pub/sub messages, invalidations, MONITOR lines):
    /// its push feed's queue, shared with the feed (CLIENT LIST's `omem`).
    pub output_memory: Arc<AtomicUsize>,
    /// The runtime thread serving the connection (CLIENT LIST's `io-thread`): its database's home, once
    /// the connection moved there (keel-server's `homes`).
    pub io_thread: AtomicUsize,
    pub name: Mutex<Vec<u8>>,
    pub lib_name: Mutex<String>,
    pub lib_ver: Mutex<String>,
    pub user: Mutex<String>,
    /// The push feed of a RESP3 connection, which tracking clients of its database may redirect to
    /// without its tracking or subscribing itself (Redis pushes invalidations to any RESP3 target).
    push: Mutex<Option<Feed>>,
    killed: AtomicBool,
    trim: AtomicBool,
    /// The server is shutting down: the connection closes at its next wait, as a killed one does.
    stopped: AtomicBool,
    /// The connection's task, woken for a kill, a trim or the shutdown. One waker, not a list: only the
    /// connection's own task waits for its signals, and a waiting read registers it with two atomic
    /// operations (a `Notify` took and released its lock twice per read).
    wake: atomic_waker::AtomicWaker,
}

impl ClientInfo {
    pub fn in_tenant(&self, name: &str) -> bool {
        *self.tenant.lock() == name
    }

    /// The database the client is in now.
    pub fn tenant_name(&self) -> String {
        self.tenant.lock().clone()
    }

    pub fn set_tenant(&self, name: &str) {
        *self.tenant.lock() = name.to_string();
    }

    pub fn new(id: u64, addr: String, laddr: String, fd: i64, tenant: String, now_ms: u64) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            tenant: Mutex::new(tenant),
            created_ms: now_ms,
            last_active_ms: AtomicU64::new(now_ms),
            db: AtomicUsize::new(0),
            resp: AtomicU32::new(2),
            flags: AtomicU32::new(0),
            last_command: AtomicUsize::new(usize::MAX),
            query_buffer: AtomicUsize::new(0),
            query_buffer_free: AtomicUsize::new(0),
            reply_buffer: AtomicUsize::new(0),
            subscriptions: Default::default(),
            output_memory: Arc::default(),
            io_thread: AtomicUsize::new(0),
            name: Mutex::new(Vec::new()),
            lib_name: Mutex::new(String::new()),
            lib_ver: Mutex::new(String::new()),
            user: Mutex::new("default".to_string()),
            push: Mutex::new(None),
            killed: AtomicBool::new(false),
            trim: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            wake: atomic_waker::AtomicWaker::new(),
        }
    }

    pub fn has_flag(&self, flag: u32) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    pub fn set_flag(&self, flag: u32, on: bool) {
        if on {
            self.flags.fetch_or(flag, Ordering::Relaxed);
        } else {
            self.flags.fetch_and(!flag, Ordering::Relaxed);
        }
    }

    /// Records how many channels, patterns and shard channels it is subscribed to (CLIENT LIST's sub/psub/ssub).
    pub fn set_subscriptions(&self, channels: usize, patterns: usize, shard_channels: usize) {
        for (slot, n) in self.subscriptions.iter().zip([channels, patterns, shard_channels]) {
            slot.store(n, Ordering::Relaxed);
        }
    }

    /// Memory the client's buffers take: its query buffer, its reply buffer and its pending output (CLIENT
    /// LIST's `tot-mem`, client eviction, INFO's overhead).
    pub fn total_memory(&self) -> u64 {
        let buffers = [&self.query_buffer, &self.query_buffer_free, &self.reply_buffer, &*self.output_memory];
        buffers.iter().map(|b| b.load(Ordering::Relaxed) as u64).sum()
    }

    /// Publishes (or, back in RESP2, withdraws) the connection's push feed.
    pub fn set_push_feed(&self, feed: Option<Feed>) {
        *self.push.lock() = feed;
    }

    /// The push feed of a RESP3 connection.
    pub fn push_feed(&self) -> Option<Feed> {
        self.push.lock().clone()
    }

    /// Asks the connection to close (CLIENT KILL, idle timeout, client eviction; a shutdown stops it instead).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.wake.wake();
    }

    /// Asks an idle connection to give its buffers back (the cron, after [`TRIM_AFTER_IDLE_MS`]), once: the
    /// [`flag::TRIMMED`] it sets stays until the connection reads input again.
    pub fn ask_to_trim(&self) {
        self.set_flag(flag::TRIMMED, true);
        self.trim.store(true, Ordering::Release);
        self.wake.wake();
    }

    /// Tells the connection the server is shutting down ([`ClientRegistry::stop_all`]).
    fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        self.wake.wake();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    /// Resolves when the client is killed. Only the connection's own task may wait (see `wake`).
    pub fn killed(&self) -> impl std::future::Future<Output = ()> + '_ {
        self.wait_for(|client| client.is_killed().then_some(()))
    }

    /// Resolves when the client is killed, the server shuts down (both [`Signal::Kill`]), or the client is
    /// asked to trim its buffers. Only the connection's own task may wait (see `wake`).
    pub fn signalled(&self) -> impl std::future::Future<Output = Signal> + '_ {
        self.wait_for(|client| {
            if client.is_killed() || client.stopped.load(Ordering::Acquire) {
                return Some(Signal::Kill);
            }
            // Loaded before it is taken: the swap is a locked instruction, and almost every read finds none.
            let trim = client.trim.load(Ordering::Relaxed) && client.trim.swap(false, Ordering::AcqRel);
            trim.then_some(Signal::Trim)
        })
    }

    /// Resolves with what `signal` finds, checked again after the waker is registered, so that a signal
    /// given in between is not missed.
    fn wait_for<T: 'static>(&self, signal: fn(&Self) -> Option<T>) -> impl std::future::Future<Output = T> + '_ {
        std::future::poll_fn(move |cx| {
            if let Some(found) = signal(self) {
                return Poll::Ready(found);
            }
            self.wake.register(cx.waker());
            signal(self).map_or(Poll::Pending, Poll::Ready)
        })
    }

    pub fn name_string(&self) -> String {
        String::from_utf8_lossy(&self.name.lock()).into_owned()
    }

    /// The `flags=` letters of CLIENT LIST.
    pub fn flag_letters(&self) -> String {
        let flags = self.flags.load(Ordering::Relaxed);
        let mut letters = String::new();
        for (bit, letter) in [
            (flag::REPLICA, 'S'),
            (flag::MONITOR, 'O'),
            (flag::PUBSUB, 'P'),
            (flag::MULTI, 'x'),
            (flag::BLOCKED, 'b'),
            (flag::TRACKING, 't'),
            (flag::BCAST, 'B'),
            (flag::CLOSE_ASAP, 'A'),
            (flag::NO_EVICT, 'e'),
            (flag::NO_TOUCH, 'T'),
        ] {
            if flags & bit != 0 {
                letters.push(letter);
            }
        }
        if letters.is_empty() {
            letters.push('N');
        }
        letters
    }
}

#[derive(Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    /// Set once by [`ClientRegistry::stop_all`]: a client registered after it is stopped as it registers.
    stopped: AtomicBool,
}

impl ClientRegistry {
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub fn register(&self, info: Arc<ClientInfo>) {
        let mut clients = self.clients.lock();
        if self.stopped.load(Ordering::Relaxed) {
            info.stop();
        }
        clients.insert(info.id, info);
    }

    /// Tells every connection, and every one registered from now on, that the server is shutting down.
    pub fn stop_all(&self) {
        let clients = self.clients.lock();
        self.stopped.store(true, Ordering::Relaxed);
        clients.values().for_each(|client| client.stop());
    }

    /// Whether `id` is a connected client of the database `tenant`: to a database, another database's
    /// clients do not exist.
    pub fn is_in(&self, id: u64, tenant: &str) -> bool {
        self.get_in(id, tenant).is_some()
    }

    /// Client `id`, if it is connected to `tenant`.
    pub fn get_in(&self, id: u64, tenant: &str) -> Option<Arc<ClientInfo>> {
        self.clients.lock().get(&id).filter(|c| c.in_tenant(tenant)).cloned()
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    /// All clients, in id order.
    pub fn snapshot(&self) -> Vec<Arc<ClientInfo>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.clients.lock().get(&id).cloned()
    }

    pub fn count(&self) -> usize {
        self.clients.lock().len()
    }

    /// Number of connected clients of one tenant.
    pub fn count_in(&self, tenant: &str) -> usize {
        self.clients.lock().values().filter(|c| c.in_tenant(tenant)).count()
    }

    /// One tenant's clients grouped by address (without the port) and name, largest groups first: the
    /// view that shows which application leaks connections (INFO clients and the dashboard).
    pub fn groups(&self, tenant: &str, now_ms: u64) -> Vec<ClientGroup> {
        let mut groups: BTreeMap<(String, String), ClientGroup> = BTreeMap::new();
        for client in self.snapshot().iter().filter(|c| c.in_tenant(tenant)) {
            let ip = client.addr.rsplit_once(':').map_or(client.addr.as_str(), |(ip, _)| ip).to_string();
            let name = client.name_string();
            let age = now_ms.saturating_sub(client.created_ms) / 1000;
            let idle = now_ms.saturating_sub(client.last_active_ms.load(Ordering::Relaxed)) / 1000;
            let group = groups.entry((ip.clone(), name.clone())).or_insert_with(|| ClientGroup {
                addr: ip,
                name,
                connections: 0,
                oldest_age_secs: 0,
                max_idle_secs: 0,
            });
            group.connections += 1;
            group.oldest_age_secs = group.oldest_age_secs.max(age);
            group.max_idle_secs = group.max_idle_secs.max(idle);
        }
        let mut by_count: Vec<ClientGroup> = groups.into_values().collect();
        by_count.sort_by_key(|g| std::cmp::Reverse(g.connections));
        by_count
    }
}

/// Connections from one address with one name.
pub struct ClientGroup {
    pub addr: String,
    pub name: String,
    pub connections: usize,
    pub oldest_age_secs: u64,
    pub max_idle_secs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Wake, Waker};

    /// Counts its wakes.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn poll_once<F: Future>(future: F, waker: &Waker) -> Poll<F::Output> {
        std::pin::pin!(future).poll(&mut Context::from_waker(waker))
    }

    fn client(id: u64) -> Arc<ClientInfo> {
        Arc::new(ClientInfo::new(id, "127.0.0.1:1".into(), "127.0.0.1:2".into(), -1, "default".into(), 0))
    }

    #[test]
    fn signals_wake_the_waiting_connection_and_shutdown_reaches_late_clients() {
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let registry = ClientRegistry::default();
        let c = client(1);
        registry.register(c.clone());
        assert!(poll_once(c.signalled(), &waker).is_pending());
        c.ask_to_trim();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 1, "a trim wakes the waiting task");
        assert!(matches!(poll_once(c.signalled(), &waker), Poll::Ready(Signal::Trim)));
        assert!(poll_once(c.signalled(), &waker).is_pending(), "a trim is taken once");
        registry.stop_all();
        assert_eq!(wakes.0.load(Ordering::Relaxed), 2, "the shutdown wakes it");
        assert!(matches!(poll_once(c.signalled(), &waker), Poll::Ready(Signal::Kill)));
        assert!(poll_once(c.killed(), &waker).is_pending(), "a shutdown is not a kill");
        let late = client(2);
        registry.register(late.clone());
        assert!(matches!(poll_once(late.signalled(), &waker), Poll::Ready(Signal::Kill)), "registered after it");
        late.kill();
        assert!(poll_once(late.killed(), &waker).is_ready());
    }
}

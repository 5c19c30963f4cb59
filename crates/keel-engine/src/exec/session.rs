//! `Session`: the state of one connection that only that connection touches: selected database, protocol,
//! authentication, reply mode, and what the connection must do after the current command.

use crate::clients::ClientInfo;
use crate::state::pubsub::{Feed, Subscriptions};
use bytes::Bytes;
use keel_protocol::Resp;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc::UnboundedReceiver;

/// What a REST token may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestToken {
    Full,
    /// Only commands the command table flags `readonly` (MULTI and EXEC frame them).
    ReadOnly,
}

/// CLIENT REPLY modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Suppress the reply of the next command only.
    SkipNext,
    /// Suppressing the reply of the command now running.
    Skipping,
}

/// What the connection does once the current command's reply is written.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Wait for one of the keys to become ready (a blocking command found nothing).
    Block(crate::state::blocking::BlockRequest),
    /// Close the connection (QUIT, protocol errors).
    Close,
    /// Enter MONITOR mode.
    Monitor,
    /// Shut the server down (SHUTDOWN).
    Shutdown,
    /// Move to another database (AUTH with its password); the connection switches after this command.
    SwitchTenant(String),
    /// The database AUTH (or HELLO AUTH) named is served by another node of the cluster: the connection
    /// becomes a byte relay to it, starting with this very command, which had no reply here.
    Relay(crate::coordination::Remote),
    /// CLIENT PAUSE holds this command: it did not run, and runs again when the pause ends.
    Paused,
    /// SYNC or PSYNC: the connection becomes a replica of its database, fed the stream from here on.
    Replicate(ReplicaRequest),
    /// WAIT: reply once `replicas` replicas acknowledged `offset`, or the timeout passes.
    Wait { offset: u64, replicas: u64, timeout: Option<std::time::Duration> },
    /// WAITAOF: reply once the local log is fsynced up to `log_end` (when `local`) and `replicas` replicas
    /// report their logs fsynced up to stream `offset`, or the timeout passes.
    WaitAof(AofWait),
    /// FLUSHALL/FLUSHDB SYNC: the replies so far go out once what the flush took out is freed.
    AwaitFree(crate::lazyfree::FreeDone),
}

/// What a WAITAOF waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AofWait {
    /// The local log's end when the command ran (None when the log is off).
    pub log_end: Option<u64>,
    /// The replication stream's offset when the command ran.
    pub offset: u64,
    pub local: bool,
    pub replicas: u64,
    pub timeout: Option<std::time::Duration>,
}

impl AofWait {
    /// Whether `local` (1: the local log is fsynced) and `replicas` (replicas that fsynced) are enough.
    pub fn met(&self, local: u64, replicas: u64) -> bool {
        local >= self.local as u64 && replicas >= self.replicas
    }
}

/// What a replica asked for with SYNC or PSYNC, and what it said of itself before (REPLCONF).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReplicaRequest {
    /// `PSYNC replid offset` (None: the old SYNC, which wants a full copy and no `+FULLRESYNC` line).
    pub psync: Option<(String, u64)>,
    /// It reads a full copy in the `$EOF:` form (`REPLCONF capa eof`).
    pub capa_eof: bool,
    /// It is a Keel server, which follows every database of this one (`REPLCONF capa keel`).
    pub capa_keel: bool,
    /// The port it listens on (`REPLCONF listening-port`), and the address it names (`ip-address`).
    pub port: u16,
    pub ip: Option<String>,
    /// The provisioned database whose stream the server's administrator asks for (`REPLCONF database`):
    /// how a Keel replica follows every database of its primary.
    pub database: Option<String>,
}

/// A transaction being queued between MULTI and EXEC.
#[derive(Debug, Default)]
pub struct Transaction {
    pub queued: Vec<Vec<Vec<u8>>>,
    /// A command was rejected while queuing: EXEC will answer EXECABORT.
    pub aborted: bool,
    /// A queued command may grow the dataset (`denyoom`): EXEC is refused when memory is full.
    pub may_grow: bool,
    /// A queued command writes: EXEC is refused where writes are (a read-only replica, too few replicas).
    pub writes: bool,
    /// A queued command may not run on stale data: EXEC is refused while a replica's link is down
    /// (`replica-serve-stale-data no`).
    pub needs_fresh: bool,
}

pub struct Session {
    pub info: Arc<ClientInfo>,
    /// Set between MULTI and EXEC/DISCARD.
    pub transaction: Option<Transaction>,
    pub db: usize,
    pub resp: Resp,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    pub action: Option<Action>,
    /// Channels, patterns and shard channels this connection subscribes to.
    pub subscriptions: Subscriptions,
    /// The running command's reply is a push (subscription notifications), which CLIENT REPLY OFF does not
    /// silence (Redis's CLIENT_PUSHING).
    pub pushing: bool,
    /// CLIENT CACHING yes|no, for the next command of an OPTIN/OPTOUT tracking client.
    pub caching: Option<bool>,
    /// This is a script's client: MONITOR shows its commands as coming from `lua`.
    pub in_script: bool,
    /// The error this command is about to reply with was counted in the error statistics already: a
    /// script's error that a command it called raised (Redis's `ignore_error_stats_update`).
    pub error_counted: bool,
    /// A script flagged allow-oom runs in this session: its writes pass a full memory.
    pub allow_oom: bool,
    /// The ACL user the client authenticated as, when not `default`.
    pub acl_user: Option<String>,
    /// EXEC in a provisioned database met a write over the quota: it and the rest of the transaction are
    /// refused.
    pub exec_over_quota: bool,
    /// The client WATCHes keys (its database must forget them when it leaves).
    pub watching: bool,
    /// The commands come from a REST request (which never reads back a secret).
    pub over_rest: bool,
    /// The name this client last sent a command by, and the command (`CommandTable::lookup_after`).
    pub last_name: std::cell::Cell<crate::exec::commands::LastName>,
    /// The token a REST request's commands run with (None for a connection, and for a REST event stream,
    /// which runs only its own SUBSCRIBE or MONITOR): admission refuses what REST does not run.
    pub rest_token: Option<RestToken>,
    /// EXEC is running this session's queued commands (they were checked against maxmemory when queued).
    pub in_exec: bool,
    /// A blocked command is being served (run again now that its key is ready).
    pub unblocked: bool,
    /// The keys the read commands of the script running for this client read (client-side caching tracks
    /// them for the client, as Redis 7.2 does, rather than the script's declared keys).
    pub script_reads: Vec<Vec<u8>>,
    /// What the client said of itself as a replica (REPLCONF), before its SYNC or PSYNC.
    pub replica: ReplicaRequest,
    /// This is the link to the primary this database follows: its writes pass where clients' may not
    /// (a read-only replica, a full memory) and it is never refused for its ACL.
    pub master: bool,
    /// The sending end of this connection's push feed (MONITOR lines, pub/sub messages), once it has one.
    feed: Option<Feed>,
    /// The receiving end of a feed just created, for the connection to pick up after the command.
    pub new_feed: Option<(UnboundedReceiver<Bytes>, std::sync::Arc<std::sync::atomic::AtomicUsize>)>,
}

impl Session {
    pub fn new(info: Arc<ClientInfo>, authenticated: bool) -> Session {
        Session {
            info,
            transaction: None,
            db: 0,
            resp: Resp::V2,
            authenticated,
            reply_mode: ReplyMode::On,
            action: None,
            subscriptions: Subscriptions::default(),
            pushing: false,
            caching: None,
            in_script: false,
            error_counted: false,
            acl_user: None,
            allow_oom: false,
            in_exec: false,
            unblocked: false,
            over_rest: false,
            rest_token: None,
            last_name: Default::default(),
            watching: false,
            exec_over_quota: false,
            script_reads: Vec::new(),
            replica: ReplicaRequest::default(),
            master: false,
            feed: None,
            new_feed: None,
        }
    }

    /// This connection's push feed, created on first use.
    pub fn feed(&mut self) -> Feed {
        if let Some(feed) = &self.feed {
            return feed.clone();
        }
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // Its queue's bytes are the client's pending output, for CLIENT LIST, client eviction and maxmemory.
        let queued = self.info.output_memory.clone();
        let feed = Feed { tx, queued: queued.clone() };
        self.feed = Some(feed.clone());
        self.new_feed = Some((rx, queued));
        feed
    }

    /// In RESP2, a connection with subscriptions only takes subscription commands (Redis's subscriber mode).
    pub fn in_subscriber_mode(&self) -> bool {
        self.resp == Resp::V2 && !self.subscriptions.is_empty()
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.db.store(db, Ordering::Relaxed);
    }

    /// Switches the protocol; a RESP3 connection publishes its push feed, so that tracking clients of its
    /// database can redirect invalidations to it.
    pub fn set_resp(&mut self, resp: Resp) {
        self.resp = resp;
        self.info.resp.store(if resp == Resp::V3 { 3 } else { 2 }, Ordering::Relaxed);
        let feed = (resp == Resp::V3).then(|| self.feed());
        self.info.set_push_feed(feed);
    }

    pub fn id(&self) -> u64 {
        self.info.id
    }
}

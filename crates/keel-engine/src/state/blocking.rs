//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN..., XREAD, XREADGROUP), served as
//! Redis serves them.
//!
//! A command that finds nothing to pop registers its client as a waiter on each of its keys, in arrival
//! order. A write that creates one of those keys marks it ready; right after that write, still inside the
//! database's critical section and before any other command runs, [`serve_ready`] re-runs each waiter's
//! command on its behalf, first come first served, and hands the encoded reply to the waiting connection.
//! A waiter whose command still finds nothing stays blocked.

use crate::clients::ClientInfo;
use crate::exec::commands::CmdError;
use crate::exec::dispatch::{execute, BatchClock, Env};
use crate::exec::session::{Action, Session};
use crate::state::tenant::Keyspace;
use keel_protocol::{ReplyWriter, Resp};
use keel_store::number::parse_f64;
use keel_store::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// What a blocking command asks for when it has to wait.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRequest {
    pub keys: Vec<Vec<u8>>,
    /// None blocks forever (timeout 0).
    pub timeout: Option<Duration>,
    /// The command to re-run when a key is ready, when it is not the command as given.
    pub rerun: Option<Vec<Vec<u8>>>,
}

/// A blocked client, with the command to re-run for it.
pub struct Waiter {
    pub client: Arc<ClientInfo>,
    pub db: usize,
    pub resp: Resp,
    pub args: Vec<Vec<u8>>,
    pub keys: Vec<Vec<u8>>,
    pub reply: oneshot::Sender<Vec<u8>>,
}

impl Waiter {
    /// Completes the wait with `reply` (the connection writes it); a vanished connection is no error.
    pub fn finish(self, reply: Vec<u8>) {
        let _ = self.reply.send(reply);
    }

    /// Counts the waiting command as one call in `stats` (a failed one with `failed`) when its wait ends
    /// unserved, by timeout or CLIENT UNBLOCK, as a served one is counted (Redis's updateStatsOnUnblock).
    pub fn count_unserved(
        &self,
        table: &crate::exec::commands::CommandTable,
        stats: &mut crate::state::command_stats::CommandStats,
        failed: bool,
    ) {
        let args: Vec<&[u8]> = self.args.iter().map(Vec::as_slice).collect();
        if let crate::exec::commands::Lookup::Found(command) = table.lookup(&args) {
            let stat = stats.at(command.id);
            stat.record(0);
            stat.failed += u64::from(failed);
        }
    }

    /// The reply a blocked command gives when it times out: a null array, as in Redis.
    pub fn timeout_reply(resp: Resp) -> Vec<u8> {
        let mut out = ReplyWriter::with_capacity(resp, 8);
        out.null_array();
        out.as_bytes().to_vec()
    }
}

/// The waiters of one database owner (tenant), behind its lock.
#[derive(Default)]
pub struct Blocking {
    /// Client ids waiting on each key of each numbered database, in the order they blocked.
    queues: HashMap<usize, HashMap<Vec<u8>, VecDeque<u64>>>,
    waiters: HashMap<u64, Waiter>,
    /// Keys that became ready since the last serving round.
    ready: Vec<(usize, Vec<u8>)>,
    /// True while [`serve_ready`] runs, so commands it re-runs do not start another round.
    serving: bool,
    /// Waiters in XREADGROUP, whose stream vanishing must wake them.
    group_readers: usize,
    /// True while EXEC runs its queue: waiters are served once the whole transaction has run, as in Redis,
    /// so a key made ready and emptied again inside one transaction wakes nobody.
    held: bool,
}

impl Blocking {
    pub fn blocked_clients(&self) -> usize {
        self.waiters.len()
    }

    /// Keys clients are blocked on, and of those, keys a group reader waits on, which wake it when they are
    /// deleted too (INFO's `total_blocking_keys` and `total_blocking_keys_on_nokey`).
    pub fn blocking_keys(&self) -> (usize, usize) {
        let mut total = 0;
        let mut on_nokey = 0;
        for queue in self.queues.values().flat_map(HashMap::values) {
            total += 1;
            let wakes_on_delete =
                queue.iter().any(|id| self.waiters.get(id).is_some_and(|w| Wants::of(&w.args) == Wants::StreamGroup));
            on_nokey += wakes_on_delete as usize;
        }
        (total, on_nokey)
    }

    pub fn register(&mut self, waiter: Waiter) {
        if Wants::of(&waiter.args) == Wants::StreamGroup {
            self.group_readers += 1;
        }
        for key in &waiter.keys {
            self.queues.entry(waiter.db).or_default().entry(key.clone()).or_default().push_back(waiter.client.id);
        }
        self.waiters.insert(waiter.client.id, waiter);
    }

    /// Removes a waiter (served, timed out, unblocked or disconnected).
    pub fn remove(&mut self, client_id: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&client_id)?;
        if Wants::of(&waiter.args) == Wants::StreamGroup {
            self.group_readers -= 1;
        }
        if let Some(queues) = self.queues.get_mut(&waiter.db) {
            for key in &waiter.keys {
                if let Some(queue) = queues.get_mut(key) {
                    queue.retain(|&id| id != client_id);
                    if queue.is_empty() {
                        queues.remove(key);
                    }
                }
            }
            if queues.is_empty() {
                self.queues.remove(&waiter.db);
            }
        }
        Some(waiter)
    }

    /// Notes that `key` may now satisfy waiters (called when a list is created under it).
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        let waited = self.queues.get(&db).is_some_and(|q| q.contains_key(key));
        if waited && !self.ready.iter().any(|(d, k)| *d == db && k == key) {
            self.ready.push((db, key.to_vec()));
        }
    }

    /// The keys clients are blocked on in numbered database `db`.
    pub fn waited_keys(&self, db: usize) -> Vec<Vec<u8>> {
        self.queues.get(&db).map(|q| q.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty() && !self.serving && !self.held
    }

    /// Holds (or releases) serving while a transaction runs.
    pub fn hold(&mut self, held: bool) {
        self.held = held;
    }
}

/// What a blocked command waits for, from its name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wants {
    List,
    ZSet,
    Stream,
    StreamGroup,
}

impl Wants {
    fn of(args: &[Vec<u8>]) -> Wants {
        let name = args.first().map(Vec::as_slice).unwrap_or_default();
        if name.eq_ignore_ascii_case(b"xreadgroup") {
            Wants::StreamGroup
        } else if name.eq_ignore_ascii_case(b"xread") {
            Wants::Stream
        } else if name.len() > 2 && name[..2].eq_ignore_ascii_case(b"bz") {
            Wants::ZSet
        } else {
            Wants::List
        }
    }
}

impl Blocking {
    /// Wakes group readers whose stream was deleted or replaced by another type, so that they get their
    /// error (Redis does this wherever a key is deleted or overwritten).
    pub fn check_group_streams(&mut self, dbs: &[keel_store::Db], now_ms: u64) {
        let mut vanished = Vec::new();
        for waiter in self.waiters.values() {
            if Wants::of(&waiter.args) != Wants::StreamGroup {
                continue;
            }
            for key in &waiter.keys {
                if !matches!(dbs[waiter.db].peek(key, now_ms), Some(Value::Stream(_))) {
                    vanished.push((waiter.db, key.clone()));
                }
            }
        }
        for (db, key) in vanished {
            if !self.ready.iter().any(|(d, k)| *d == db && *k == key) {
                self.ready.push((db, key));
            }
        }
    }

    /// Whether any client waits in XREADGROUP.
    pub fn has_group_readers(&self) -> bool {
        self.group_readers > 0
    }
}

/// Parses a blocking timeout in seconds (decimals allowed); 0 means forever.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Duration>, CmdError> {
    let seconds = parse_f64(arg)
        .filter(|s| s.is_finite())
        .ok_or_else(|| CmdError::new("ERR timeout is not a float or out of range"))?;
    if seconds < 0.0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if seconds > 1e12 {
        return Err(CmdError::new("ERR timeout is out of range"));
    }
    Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
}

/// Serves waiters on keys that became ready, first come first served, until no ready key is left.
pub fn serve_ready(env: &Env, clock: &mut BatchClock, ks: &mut Keyspace) {
    ks.blocking.serving = true;
    while !ks.blocking.ready.is_empty() {
        for (db, key) in std::mem::take(&mut ks.blocking.ready) {
            let queue: Vec<u64> = ks
                .blocking
                .queues
                .get(&db)
                .and_then(|q| q.get(&key))
                .map(|q| q.iter().copied().collect())
                .unwrap_or_default();
            for id in queue {
                let Some(waiter) = ks.blocking.waiters.get(&id) else { continue };
                // Only a key holding what the waiter waits for serves it (Redis checks the type too): a key
                // that became, say, a string leaves it blocked. A group reader whose stream went away runs
                // again, and is answered what its command says now (NOGROUP, WRONGTYPE), as in Redis 7.2.
                let wants = Wants::of(&waiter.args);
                let ready = match ks.dbs[db].peek(&key, clock.now_ms()) {
                    Some(Value::List(_)) => wants == Wants::List,
                    Some(Value::ZSet(_)) => wants == Wants::ZSet,
                    Some(Value::Stream(_)) => matches!(wants, Wants::Stream | Wants::StreamGroup),
                    _ => wants == Wants::StreamGroup,
                };
                if !ready {
                    continue;
                }
                let mut session = Session::new(waiter.client.clone(), true);
                session.unblocked = true;
                session.db = waiter.db;
                session.resp = waiter.resp;
                let args_owned = waiter.args.clone();
                let args: Vec<&[u8]> = args_owned.iter().map(Vec::as_slice).collect();
                let mut out = ReplyWriter::with_capacity(waiter.resp, 256);
                execute(env, clock, ks, &mut session, &mut out, &args);
                if let Some(Action::Block(_)) = session.action {
                    // Still nothing for this waiter (another waiter took it): it stays blocked.
                    continue;
                }
                if let Some(waiter) = ks.blocking.remove(id) {
                    waiter.finish(out.as_bytes().to_vec());
                }
            }
        }
    }
    ks.blocking.serving = false;
}

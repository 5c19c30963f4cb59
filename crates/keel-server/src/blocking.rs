//! Blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP), served as Redis serves them.
//!
//! A command that finds nothing to pop registers its client as a waiter on each of its keys, in arrival
//! order. A write that creates one of those keys marks it ready; right after that write, still inside the
//! database's critical section and before any other command runs, [`serve_ready`] re-runs each waiter's
//! command on its behalf, first come first served, and hands the encoded reply to the waiting connection.
//! A waiter whose command still finds nothing stays blocked.

use crate::clients::ClientInfo;
use crate::commands::CmdError;
use crate::dispatch::{execute, BatchClock, Env};
use crate::session::{Action, Session};
use crate::tenant::Keyspace;
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
    /// True while EXEC runs its queue: waiters are served once the whole transaction has run, as in Redis,
    /// so a key made ready and emptied again inside one transaction wakes nobody.
    held: bool,
}

impl Blocking {
    pub fn blocked_clients(&self) -> usize {
        self.waiters.len()
    }

    pub fn register(&mut self, waiter: Waiter) {
        for key in &waiter.keys {
            self.queues.entry(waiter.db).or_default().entry(key.clone()).or_default().push_back(waiter.client.id);
        }
        self.waiters.insert(waiter.client.id, waiter);
    }

    /// Removes a waiter (served, timed out, unblocked or disconnected).
    pub fn remove(&mut self, client_id: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&client_id)?;
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
                // that became, say, a string leaves it blocked.
                let wants_zset =
                    waiter.args.first().is_some_and(|name| name.len() > 2 && name[..2].eq_ignore_ascii_case(b"bz"));
                let ready = match ks.dbs[db].peek(&key, clock.now_ms()) {
                    Some(Value::List(_)) => !wants_zset,
                    Some(Value::ZSet(_)) => wants_zset,
                    _ => false,
                };
                if !ready {
                    continue;
                }
                let mut session = Session::new(waiter.client.clone(), true);
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

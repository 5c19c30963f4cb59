//! A batch: the commands one transport hands over at once (what a RESP connection read, a REST pipeline),
//! run for one session on one database. Every transport drives the same type, so a command is admitted,
//! locked, run and made durable the same way whoever sent it:
//! - the server's state is read per command: while the dataset loads or another client's script holds the
//!   database past its threshold, the gate (`admission`) still decides, and what it admits is served by the
//!   command's unlocked handler (`commands::unlocked`);
//! - otherwise the database's lock is taken once and kept for the batch, offered to other clients every
//!   [`COMMANDS_PER_LOCK`] commands (fairness), and each command runs through `dispatch::execute`;
//! - [`Batch::finish`] hands the batch's writes to the log and says which offset must be durable before
//!   any reply is sent (`appendfsync always`).

use crate::exec::admission::ServerState;
use crate::exec::commands::unlocked::Unlocked;
use crate::exec::dispatch::{execute, BatchClock, BatchSettings, Env};
use crate::exec::session::Session;
use crate::server::Server;
use crate::state::tenant::{Keyspace, Tenant};
use keel_protocol::ReplyWriter;
use parking_lot::MutexGuard;

/// The lock is offered to other clients after this many commands of one batch.
pub const COMMANDS_PER_LOCK: usize = 64;

pub struct Batch<'a> {
    pub env: Env<'a>,
    pub clock: BatchClock,
    guard: Option<MutexGuard<'a, Keyspace>>,
    since_lock: usize,
    /// The batch waits for a busy script instead of answering BUSY (the primary's stream on a replica:
    /// none of it may be refused).
    patient: bool,
}

impl<'a> Batch<'a> {
    /// A batch starts a stretch of work on this thread: past `keel_pace`'s hold, its long loops and
    /// long replies leave the async worker to the other clients.
    pub fn new(server: &'a Server, tenant: &'a Tenant) -> Batch<'a> {
        keel_pace::begin_stretch();
        let env = Env { server, tenant, settings: BatchSettings::read(server, tenant) };
        Batch { env, clock: BatchClock::start(), guard: None, since_lock: 0, patient: false }
    }

    /// A batch of the primary's stream on a replica: it waits for the lock whatever holds it. Call where
    /// blocking is allowed (inside `block_in_place`, so its long work has no worker left to leave).
    pub fn from_primary(server: &'a Server, tenant: &'a Tenant) -> Batch<'a> {
        let batch = Batch { patient: true, ..Batch::new(server, tenant) };
        keel_pace::off_worker();
        batch
    }

    /// Runs one command for `session`, its reply into `out`; what it asks of the transport (close, block,
    /// switch database...) is left in `session.action`.
    pub fn run(&mut self, session: &mut Session, args: &[&[u8]], out: &mut ReplyWriter) {
        let state = self.state();
        if state != ServerState::Ready {
            return self.serve_unlocked(session, args, out, state);
        }
        let Some(ks) = self.guard.as_mut() else { return };
        if self.since_lock >= COMMANDS_PER_LOCK {
            MutexGuard::bump(ks);
            self.since_lock = 0;
            self.clock.restart_lap();
        }
        self.since_lock += 1;
        execute(&self.env, &mut self.clock, ks, session, out, args);
        // Commands pipelined after a CONFIG SET see what it set.
        if BatchSettings::changed_by(args) {
            self.env.settings = BatchSettings::read(self.env.server, self.env.tenant);
        }
    }

    /// Loading, busy, or ready (with the lock then held).
    fn state(&mut self) -> ServerState {
        if self.env.server.is_loading() {
            return ServerState::Loading;
        }
        if self.guard.is_some() {
            return ServerState::Ready;
        }
        let locked = if self.patient { Ok(self.env.tenant.lock()) } else { self.env.tenant.lock_unless_busy() };
        match locked {
            Ok(guard) => {
                self.guard = Some(guard);
                self.clock.restart_lap();
                ServerState::Ready
            }
            Err(busy) => ServerState::Busy(busy),
        }
    }

    /// The gate decides; what it admits is served by the command's unlocked handler, as Redis serves while
    /// loading or busy, and answered with the state's error when it has none.
    fn serve_unlocked(&self, session: &mut Session, args: &[&[u8]], out: &mut ReplyWriter, state: ServerState) {
        let command = match crate::exec::admission::admit(&self.env, session, args, state) {
            Ok(command) => command,
            Err(refusal) => return crate::exec::admission::answer_refusal(session, &refusal, out),
        };
        let mut unlocked = Unlocked { server: self.env.server, tenant: self.env.tenant, session, out, state };
        let outcome = match command.spec.unlocked {
            Some(handler) => handler(&mut unlocked, args),
            None => {
                if let Some(transaction) = &mut unlocked.session.transaction {
                    transaction.aborted = true;
                }
                Err(unlocked.state_error())
            }
        };
        if let Err(error) = outcome {
            unlocked.out.error(&error.0);
        }
    }

    /// Logical database `db` of the keyspace, when the batch holds its lock.
    fn locked_db(&self, db: usize) -> Option<&keel_store::Db> {
        self.guard.as_ref().and_then(|ks| ks.dbs.get(db))
    }

    /// Starts loading `key` of database `db` into the cache, ahead of the command that names it (the lock
    /// is taken here if the batch has not taken it yet; nothing happens while it cannot be). Returns the
    /// slot it probably has, for [`Batch::prefetch_contents`] once the entry has arrived.
    pub fn prefetch(&mut self, db: usize, key: &[u8]) -> Option<usize> {
        if self.state() != ServerState::Ready {
            return None;
        }
        self.locked_db(db).and_then(|db| db.prefetch(key))
    }

    /// Starts loading what the entry at `slot` of database `db` points to (see [`Batch::prefetch`]).
    pub fn prefetch_contents(&self, db: usize, slot: usize) {
        if let Some(db) = self.locked_db(db) {
            db.prefetch_contents(slot);
        }
    }

    /// Starts loading `member` of the collection at `slot` of database `db` (see [`Batch::prefetch`]);
    /// returns its probable position in the collection's member table.
    pub fn prefetch_member(&self, db: usize, slot: usize, member: &[u8]) -> Option<usize> {
        self.locked_db(db).and_then(|db| db.prefetch_member(slot, member))
    }

    /// Starts loading the bytes of the member at `pos` of the collection at `slot` of database `db`.
    pub fn prefetch_member_key(&self, db: usize, slot: usize, pos: usize) {
        if let Some(db) = self.locked_db(db) {
            db.prefetch_member_key(slot, pos);
        }
    }

    /// The locked keyspace, when the batch holds it (to register a waiter or a monitor after a command).
    pub fn keyspace(&mut self) -> Option<&mut Keyspace> {
        self.guard.as_deref_mut()
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// Ends the batch: broadcast invalidations gathered during it go out, its writes go to the log, and
    /// the lock is released. Says which log offset must be durable before any reply is sent.
    pub fn finish(mut self) -> Durability {
        let Some(mut guard) = self.guard.take() else { return Durability::default() };
        let ks = &mut *guard;
        if ks.tracking.has_pending() {
            let (clients, tenant) = (&self.env.server.clients, &self.env.tenant.name);
            ks.tracking.flush_bcast(&ks.pubsub, &|id| clients.get_in(id, tenant));
        }
        if !ks.log.enabled {
            return Durability::default();
        }
        let wrote = !ks.log.buf.is_empty();
        Durability { offset: self.env.tenant.persistence.submit(&mut ks.log), wrote }
    }
}

/// What must be durable before a batch's replies go out (`appendfsync always`): the log's offset, and
/// whether the batch itself wrote. Replies that only read may go out while the log cannot be written (a
/// full disk): they show nothing that was acknowledged and then lost.
#[derive(Debug, Clone, Copy, Default)]
pub struct Durability {
    pub offset: Option<u64>,
    pub wrote: bool,
}

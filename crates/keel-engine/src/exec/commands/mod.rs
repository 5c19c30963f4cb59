//! The command table and what handlers share. Every command is declared once in [`table`]: name, arity,
//! flags, ACL categories, key positions and handler. That one table feeds dispatch, `COMMAND`, ACL checks,
//! read-only tokens, key extraction and metering. Implementations are grouped as Redis groups them, one
//! file per group.

mod acl;
mod bitmaps;
mod client;
mod command_docs;
mod command_table;
mod connection;
pub mod failover;
mod geo;
mod hash_expiry;
mod hashes;
mod hyperloglog;
mod introspection;
mod json;
mod json_ops;
mod keys;
mod latency;
mod lists;
mod migrate;
mod persistence;
mod pubsub;
pub mod replication;
mod scripting;
mod server;
mod sets;
mod sort;
mod spec;
mod stream_deletion;
mod stream_groups;
mod stream_reads;
mod streams;
mod strings;
mod table;
mod transactions;
pub mod unlocked;
mod zset_ops;
mod zsets;

pub mod info;

pub use command_table::{Command, CommandTable, LastName, Lookup};
pub use spec::{cat, flags, key, Begin, Channels, CommandSpec, Find, FindKeys, Handler, KeySpec, Secrets, CATEGORIES};

pub use client::stop_tracking;
pub use connection::REDIS_VERSION;

use crate::exec::session::Session;
use crate::notify;
use crate::server::Server;
use crate::state::tenant::{Keyspace, Tenant};
use keel_protocol::ReplyWriter;
use keel_store::number::{parse_f64, parse_i64};
use keel_store::{AccessClock, Collection, Db, Expiry, Value};
use std::borrow::Cow;

pub type CmdResult = Result<(), CmdError>;

/// An error reply, with its code (`ERR`, `WRONGTYPE`, ...) at the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl CmdError {
    pub fn new(text: impl Into<String>) -> CmdError {
        CmdError(Cow::Owned(text.into()))
    }
}

pub const WRONGTYPE: CmdError =
    CmdError(Cow::Borrowed("WRONGTYPE Operation against a key holding the wrong kind of value"));
pub const SYNTAX: CmdError = CmdError(Cow::Borrowed("ERR syntax error"));
pub const NOT_INTEGER: CmdError = CmdError(Cow::Borrowed("ERR value is not an integer or out of range"));
pub const NOT_FLOAT: CmdError = CmdError(Cow::Borrowed("ERR value is not a valid float"));
pub const NO_SUCH_KEY: CmdError = CmdError(Cow::Borrowed("ERR no such key"));
pub const DB_OUT_OF_RANGE: CmdError = CmdError(Cow::Borrowed("ERR DB index is out of range"));

/// How many of a command's keys (or members) [`Ctx::prefetch_keys`] and [`Ctx::prefetch_members`] look up
/// ahead.
const KEYS_AHEAD: usize = 16;

/// The two passes of a look-ahead over the first [`KEYS_AHEAD`] names: `first` starts loading where each
/// lives and says where that is; `second`, once all are under way, starts loading what each place holds.
/// A single name is left alone: its lookup follows at once, with nothing to overlap.
fn look_ahead<'n>(
    names: impl Iterator<Item = &'n &'n [u8]>,
    first: impl Fn(&[u8]) -> Option<usize>,
    second: impl Fn(usize),
) {
    let mut named: [&[u8]; KEYS_AHEAD] = [&[]; KEYS_AHEAD];
    let count = named.iter_mut().zip(names).map(|(slot, name)| *slot = name).count();
    if count < 2 {
        return;
    }
    let mut ahead = [None; KEYS_AHEAD];
    ahead.iter_mut().zip(&named[..count]).for_each(|(place, name)| *place = first(name));
    ahead.iter().flatten().for_each(|&place| second(place));
}

/// What a handler works with: the locked keyspace of the client's database, its session and its output.
pub struct Ctx<'a> {
    pub server: &'a Server,
    pub tenant: &'a Tenant,
    pub ks: &'a mut Keyspace,
    pub session: &'a mut Session,
    pub out: &'a mut ReplyWriter,
    pub command: &'a Command,
    /// Access time and LFU parameters for this batch; `clock.now_ms` is the command's notion of "now".
    pub clock: AccessClock,
    /// Keyspace notifications on for this batch (for `keymiss`, which reads raise).
    pub events: crate::notify::Events,
    /// The batch's settings, as of its last CONFIG SET.
    pub settings: &'a crate::exec::dispatch::BatchSettings,
}

impl Ctx<'_> {
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms
    }

    /// The selected logical database.
    pub fn db(&mut self) -> &mut Db {
        &mut self.ks.dbs[self.session.db]
    }

    /// Starts loading the entries of a multi-key command's keys (the first [`KEYS_AHEAD`]), then what they
    /// point to, before the command waits for the first: its keys are as scattered as a pipeline's, and
    /// the loads overlap instead of following one another (MSET of 10 keys -P 16: 105k -> 200k/s).
    pub fn prefetch_keys<'k>(&self, keys: impl Iterator<Item = &'k &'k [u8]>) {
        let db = &self.ks.dbs[self.session.db];
        look_ahead(keys, |key| db.prefetch(key), |slot| db.prefetch_contents(slot));
    }

    /// Starts loading where `members` (the first [`KEYS_AHEAD`]) live in the collection at `slot`, then
    /// their bytes, for a command that names several members of one big collection (HSET of many fields,
    /// HMGET, HDEL, SADD, SREM, ZREM): as [`Ctx::prefetch_keys`] does for keys.
    pub fn prefetch_members<'m>(&self, slot: usize, members: impl Iterator<Item = &'m &'m [u8]>) {
        let db = &self.ks.dbs[self.session.db];
        look_ahead(members, |member| db.prefetch_member(slot, member), |pos| db.prefetch_member_key(slot, pos));
    }

    /// Looks a key up for reading: lazy expiry, access tracking, and hit/miss statistics.
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<usize> {
        let slot = self.lookup_write(key);
        self.count_lookup(key, slot)
    }

    /// A read that counts as a hit or miss but leaves the key's access time alone (TTL, EXISTS: Redis's
    /// LOOKUP_NOTOUCH), so that checking on a key does not keep it from being evicted.
    pub fn lookup_read_untouched(&mut self, key: &[u8]) -> Option<usize> {
        let slot = self.lookup_peek(key);
        self.count_lookup(key, slot)
    }

    fn count_lookup(&mut self, key: &[u8], slot: Option<usize>) -> Option<usize> {
        if slot.is_some() {
            self.ks.stats.keyspace_hits += 1;
        } else {
            self.ks.stats.keyspace_misses += 1;
            if self.events.flags & crate::notify::KEY_MISS != 0 {
                let db = self.session.db;
                self.ks.emit(self.events, crate::notify::KEY_MISS, "keymiss", db, key);
            }
        }
        slot
    }

    /// Looks a key up for writing: lazy expiry and access tracking, no hit/miss statistics.
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<usize> {
        let db = self.session.db;
        let (slot, expired) = self.ks.dbs[db].find_live(key, self.clock.now_ms);
        if expired {
            self.ks.stats.expired_keys += 1;
        }
        let slot = slot?;
        // A CLIENT NO-TOUCH client leaves the access time alone, except with TOUCH itself.
        if self.session.info.has_flag(crate::clients::flag::NO_TOUCH) && self.command.spec.name != "touch" {
            return Some(slot);
        }
        let dbref = &mut self.ks.dbs[db];
        dbref.set_access(slot, self.clock.touched(dbref.access(slot)));
        Some(slot)
    }

    /// Looks a key up without touching its access time or statistics (OBJECT, TTL-style introspection).
    pub fn lookup_peek(&mut self, key: &[u8]) -> Option<usize> {
        let (slot, expired) = self.ks.dbs[self.session.db].find_live(key, self.clock.now_ms);
        if expired {
            self.ks.stats.expired_keys += 1;
        }
        slot
    }

    /// Adds `key` (known absent) to numbered database `db`; a new list or sorted set wakes clients blocked
    /// on the key.
    pub fn add_key(&mut self, db: usize, key: &[u8], value: Value, expiry: Expiry) -> usize {
        let wakes_waiters = matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
        let slot = self.ks.dbs[db].insert_new(key, value, expiry, &self.clock);
        if wakes_waiters {
            self.ks.blocking.signal_ready(db, key);
        }
        self.notify_in(db, notify::NEW, "new", key);
        slot
    }

    /// Publishes `event` of `class` for `key` in the selected database, where the change happens (Redis's
    /// `notifyKeyspaceEvent`); free when that class is off.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &str, key: &[u8]) {
        let db = self.session.db;
        self.notify_in(db, class, event, key);
    }

    /// [`Ctx::notify`] for a key in numbered database `db`.
    #[inline]
    pub fn notify_in(&mut self, db: usize, class: u32, event: &str, key: &[u8]) {
        if self.events.flags & class != 0 {
            self.ks.emit(self.events, class, event, db, key);
        }
    }

    /// `del` for `key` when the command just emptied it away: Redis never keeps an empty collection, and
    /// says so after the command's own event.
    pub fn notify_if_gone(&mut self, key: &[u8]) {
        if self.events.flags & notify::GENERIC != 0 && self.lookup_peek(key).is_none() {
            self.notify(notify::GENERIC, "del", key);
        }
    }

    /// Logs and replicates `args` for what this command did, instead of its own arguments: what replaying
    /// gives the same result whenever it is replayed (Redis's `rewriteClientCommandVector` and
    /// `alsoPropagate`). Called several times, every form is kept, in order.
    pub fn propagate(&mut self, args: &[&[u8]]) {
        self.ks.log.rewrite(args);
    }

    /// Propagates a deletion the command made of `key` as a whole (SPOP of a whole set, RESTORE of an
    /// expired payload over a key): UNLINK under `lazyfree-lazy-server-del`, else DEL, as Redis does.
    pub fn propagate_deletion(&mut self, key: &[u8]) {
        let lazy = self.server.settings.read().lazyfree_lazy_server_del;
        self.propagate(&[if lazy { b"UNLINK" } else { b"DEL" }, key]);
    }

    /// Looks `key` up for writing and checks it holds a `T` (WRONGTYPE otherwise).
    pub fn find_typed<T: Collection>(&mut self, key: &[u8]) -> Result<Option<usize>, CmdError> {
        match self.lookup_write(key) {
            Some(slot) => {
                typed::<T>(self.db().value(slot))?;
                Ok(Some(slot))
            }
            None => Ok(None),
        }
    }

    /// The `T` at `key` for reading, with hit/miss statistics (WRONGTYPE for another type).
    pub fn read_typed<T: Collection>(&mut self, key: &[u8]) -> Result<Option<&T>, CmdError> {
        match self.lookup_read(key) {
            Some(slot) => Ok(Some(typed::<T>(self.ks.dbs[self.session.db].value(slot))?)),
            None => Ok(None),
        }
    }

    /// The slot of the `T` at `key`, created empty when missing.
    pub fn typed_for_write<T: Collection>(&mut self, key: &[u8]) -> Result<usize, CmdError> {
        match self.find_typed::<T>(key)? {
            Some(slot) => Ok(slot),
            None => {
                let db = self.session.db;
                Ok(self.add_key(db, key, T::default().into_value(), Expiry::Clear))
            }
        }
    }

    /// Runs `change` on the `T` at `slot` (memory accounting follows) and deletes the key if the collection
    /// became empty: Redis never keeps an empty collection (the caller tells, with [`Ctx::notify_if_gone`]
    /// after its own event).
    pub fn modify<T: Collection, R>(&mut self, slot: usize, change: impl FnOnce(&mut T) -> R) -> R {
        let db = self.db();
        let (result, empty) = db.update(slot, |value| {
            let Some(collection) = T::of_mut(value) else { unreachable!("callers check the type first") };
            let result = change(collection);
            (result, collection.is_empty())
        });
        if empty {
            db.remove_slot(slot);
        }
        result
    }

    /// Removes `members` from the `T` at `key` with `remove`, counts the removals as changes and replies with
    /// their number (HDEL, SREM, ZREM), publishing `event` of `class` (and `del` when the key went).
    pub fn remove_members<T: Collection>(
        &mut self,
        key: &[u8],
        members: &[&[u8]],
        remove: impl Fn(&mut T, &[u8]) -> bool,
        (class, event): (u32, &str),
    ) -> CmdResult {
        let removed = match self.find_typed::<T>(key)? {
            Some(slot) => {
                self.prefetch_members(slot, members.iter());
                self.modify::<T, _>(slot, |c| members.iter().filter(|m| remove(c, m)).count())
            }
            None => 0,
        };
        if removed > 0 {
            self.notify(class, event, key);
            self.notify_if_gone(key);
        }
        self.dirty(removed as u64);
        self.out.int(removed as i64);
        Ok(())
    }

    /// The STORE variants (Redis's setKey or dbDelete): replaces `key` with `value` and publishes `event`
    /// of `class`, or, with no value, deletes the key if it was there and publishes `del`.
    pub fn replace_key(&mut self, key: &[u8], value: Option<Value>, (class, event): (u32, &str)) {
        let existed = self.lookup_write(key).is_some();
        match value {
            Some(value) if existed => {
                let db = self.session.db;
                let wakes_waiters = matches!(value, Value::List(_) | Value::ZSet(_) | Value::Stream(_));
                self.db().remove(key);
                self.ks.dbs[db].insert_new(key, value, Expiry::Clear, &self.clock);
                if wakes_waiters {
                    self.ks.blocking.signal_ready(db, key);
                }
            }
            Some(value) => {
                let db = self.session.db;
                self.add_key(db, key, value, Expiry::Clear);
            }
            None if existed => {
                self.db().remove(key);
                self.notify(notify::GENERIC, "del", key);
                self.dirty(1);
                return;
            }
            None => return,
        }
        self.notify(class, event, key);
        self.dirty(1);
    }

    /// Asks the connection to block this client until one of `keys` is ready or `timeout` passes.
    pub fn block(&mut self, keys: &[&[u8]], timeout: Option<std::time::Duration>) {
        let keys = keys.iter().map(|k| k.to_vec()).collect();
        self.session.action = Some(crate::exec::session::Action::Block(crate::state::blocking::BlockRequest {
            keys,
            timeout,
            rerun: None,
        }));
    }

    /// [`Ctx::block`], re-running `rerun` instead of the command as given when a key is ready (XREAD's `$`
    /// is resolved to the ID it stood for when the client blocked).
    pub fn block_rerun(&mut self, keys: &[&[u8]], timeout: Option<std::time::Duration>, rerun: Vec<Vec<u8>>) {
        let keys = keys.iter().map(|k| k.to_vec()).collect();
        self.session.action = Some(crate::exec::session::Action::Block(crate::state::blocking::BlockRequest {
            keys,
            timeout,
            rerun: Some(rerun),
        }));
    }

    /// Counts one change to the dataset (for persistence and `rdb_changes_since_last_save`).
    pub fn dirty(&mut self, changes: u64) {
        self.ks.dirty += changes;
    }

    /// The protocol's limit on one string, which APPEND/SETRANGE results must also respect.
    pub fn max_string_len(&self) -> u64 {
        self.server.settings.read().proto_max_bulk_len
    }
}

/// The collection of type `T` in `value`, or WRONGTYPE.
pub fn typed<T: Collection>(value: &Value) -> Result<&T, CmdError> {
    T::of(value).ok_or(WRONGTYPE)
}

/// An integer argument, with Redis's error text.
pub fn int_arg(arg: &[u8]) -> Result<i64, CmdError> {
    parse_i64(arg).ok_or(NOT_INTEGER)
}

/// A float argument, with Redis's error text.
pub fn float_arg(arg: &[u8]) -> Result<f64, CmdError> {
    parse_f64(arg).ok_or(NOT_FLOAT)
}

/// The arguments of SCAN, HSCAN, SSCAN and ZSCAN: `cursor [MATCH pattern] [COUNT count] [TYPE type]
/// [NOVALUES]`.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub count: usize,
    /// None when absent or `*` (everything matches).
    pub pattern: Option<&'a [u8]>,
    /// The TYPE filter (SCAN only).
    pub kind: Option<&'a [u8]>,
    /// Fields without their values (HSCAN only, Redis 7.4).
    pub novalues: bool,
}

/// Which scan the options are for: SCAN takes TYPE, HSCAN takes NOVALUES.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ScanOf {
    Keys,
    Hash,
    Members,
}

/// Parses a cursor at `args[cursor_at]` and the options after it, with Redis's error texts.
pub fn scan_args<'a>(args: &[&'a [u8]], cursor_at: usize, of: ScanOf) -> Result<ScanArgs<'a>, CmdError> {
    let cursor = std::str::from_utf8(args[cursor_at])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::new("ERR invalid cursor"))?;
    let mut parsed = ScanArgs { cursor, count: 10, pattern: None, kind: None, novalues: false };
    let mut j = cursor_at + 1;
    while j < args.len() {
        if is(args[j], "novalues") {
            if of != ScanOf::Hash {
                return Err(CmdError::new("ERR NOVALUES option can only be used in HSCAN"));
            }
            parsed.novalues = true;
            j += 1;
            continue;
        }
        let value = args.get(j + 1).ok_or(SYNTAX)?;
        if is(args[j], "count") {
            let n = int_arg(value)?;
            if n < 1 {
                return Err(SYNTAX);
            }
            parsed.count = n as usize;
        } else if is(args[j], "match") {
            parsed.pattern = Some(*value).filter(|p| *p != b"*");
        } else if of == ScanOf::Keys && is(args[j], "type") {
            parsed.kind = Some(*value);
        } else {
            return Err(SYNTAX);
        }
        j += 2;
    }
    Ok(parsed)
}

/// Starts a SCAN-family reply: the next cursor, then an array of `items` replies the caller writes.
pub fn reply_scan_page(out: &mut keel_protocol::ReplyWriter, next: u64, items: usize) {
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(items);
}

/// The SCAN-family reply for a missing key: cursor 0, nothing found.
pub fn reply_empty_scan(out: &mut keel_protocol::ReplyWriter) {
    reply_scan_page(out, 0, 0);
}

/// The `[LIMIT n]` tail of SINTERCARD and ZINTERCARD from `args[at..]`; 0 or absent means no limit.
pub fn intercard_limit(args: &[&[u8]], at: usize) -> Result<usize, CmdError> {
    let mut limit = usize::MAX;
    let mut j = at;
    while j < args.len() {
        if is(args[j], "limit") && j + 1 < args.len() {
            let n = int_arg(args[j + 1]).map_err(|_| CmdError::new("ERR LIMIT can't be negative"))?;
            if n < 0 {
                return Err(CmdError::new("ERR LIMIT can't be negative"));
            }
            limit = if n == 0 { usize::MAX } else { n as usize };
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok(limit)
}

/// The count argument of HRANDFIELD, SRANDMEMBER and ZRANDMEMBER, with Redis's range check.
pub fn random_count(arg: Option<&&[u8]>) -> Result<Option<i64>, CmdError> {
    let count = arg.map(|a| int_arg(a)).transpose()?;
    if count.is_some_and(|n| !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&n)) {
        return Err(CmdError::new("ERR value is out of range"));
    }
    Ok(count)
}

/// What HRANDFIELD, SRANDMEMBER and ZRANDMEMBER answer for a missing key.
pub fn reply_missing_random(out: &mut keel_protocol::ReplyWriter, count: Option<i64>) {
    match count {
        Some(_) => out.array(0),
        None => out.null(),
    }
}

/// The arguments of LMPOP/BLMPOP/ZMPOP/BZMPOP from `numkeys` on: `numkeys key... <where> [COUNT n]`.
pub fn parse_mpop<'a, W>(
    args: &[&'a [u8]],
    parse_where: impl Fn(&[u8]) -> Result<W, CmdError>,
) -> Result<(Vec<&'a [u8]>, W, usize), CmdError> {
    let numkeys = int_arg(args[0]).ok().filter(|n| *n > 0);
    let numkeys = numkeys.ok_or_else(|| CmdError::new("ERR numkeys should be greater than 0"))? as usize;
    let where_at = 1 + numkeys;
    if where_at >= args.len() {
        return Err(SYNTAX);
    }
    let place = parse_where(args[where_at])?;
    let mut count = None;
    let mut j = where_at + 1;
    while j < args.len() {
        if is(args[j], "count") && j + 1 < args.len() && count.is_none() {
            let n = int_arg(args[j + 1]).ok().filter(|n| *n > 0);
            count = Some(n.ok_or_else(|| CmdError::new("ERR count should be greater than 0"))? as usize);
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok((args[1..where_at].to_vec(), place, count.unwrap_or(1)))
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}

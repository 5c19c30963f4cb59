//! Keyspace notifications (Redis's notify.c): what a write did, published on `__keyspace@<db>__:<key>` (the
//! event as message) and `__keyevent@<db>__:<event>` (the key as message) for the classes
//! `notify-keyspace-events` enables. Like the log's rewrites, events are derived in one place from the command
//! that ran, the keys it named and how they were before and after, rather than scattered through handlers.

use crate::commands::{flags, Command};
use crate::config::ClassLimit;
use crate::tenant::Keyspace;

/// Event classes, as Redis numbers them.
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
/// `A`: every class but key misses and new keys.
pub const ALL: u32 = GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const LETTERS: &[(char, u32)] = &[
    ('g', GENERIC),
    ('$', STRING),
    ('l', LIST),
    ('s', SET),
    ('h', HASH),
    ('z', ZSET),
    ('x', EXPIRED),
    ('e', EVICTED),
    ('t', STREAM),
    ('m', KEY_MISS),
    ('d', MODULE),
    ('n', NEW),
];

/// Parses the `notify-keyspace-events` letters.
pub fn parse(text: &str) -> Result<u32, String> {
    let mut flags = 0;
    for c in text.chars() {
        flags |= match c {
            'A' => ALL,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            _ => LETTERS
                .iter()
                .find(|(l, _)| *l == c)
                .map(|(_, f)| *f)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string())?,
        };
    }
    Ok(flags)
}

/// The letters CONFIG GET shows (Redis's canonical order: `A` when it applies, then K and E).
pub fn show(flags: u32) -> String {
    let mut text = String::new();
    if flags & ALL == ALL {
        text.push('A');
    }
    for (letter, flag) in LETTERS {
        if (flags & ALL != ALL || flag & ALL == 0) && flags & flag != 0 {
            text.push(*letter);
        }
    }
    if flags & KEYSPACE != 0 {
        text.push('K');
    }
    if flags & KEYEVENT != 0 {
        text.push('E');
    }
    text
}

/// What notifications are on, and the output limit their subscribers are held to.
#[derive(Debug, Clone, Copy)]
pub struct Events {
    pub flags: u32,
    pub limit: ClassLimit,
}

/// Publishes one event, if its class is enabled.
pub fn emit(ks: &mut Keyspace, events: Events, class: u32, event: &str, db: usize, key: &[u8]) {
    let Events { flags, limit } = events;
    if flags & class == 0 {
        return;
    }
    if flags & KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{db}__:").into_bytes();
        channel.extend_from_slice(key);
        ks.pubsub.publish(&channel, event.as_bytes(), false, limit);
    }
    if flags & KEYEVENT != 0 {
        let channel = format!("__keyevent@{db}__:{event}");
        ks.pubsub.publish(channel.as_bytes(), key, false, limit);
    }
}

/// What a write command's keys were before it ran (only gathered while notifications are on).
pub struct Before {
    existed: Vec<bool>,
}

/// Records which of the command's keys exist, before it runs.
pub fn before(ks: &Keyspace, db: usize, command: &Command, args: &[&[u8]], now_ms: u64) -> Before {
    let existed = command.key_positions(args).into_iter().map(|i| ks.dbs[db].contains(args[i], now_ms)).collect();
    Before { existed }
}

/// Publishes the events of the write that just ran in `db` (it changed the dataset).
pub fn after_command(
    ks: &mut Keyspace,
    ev: Events,
    db: usize,
    command: &Command,
    args: &[&[u8]],
    before: &Before,
    now_ms: u64,
) {
    if !command.has(flags::WRITE) {
        return;
    }
    let name = command.fullname.as_str();
    let positions = command.key_positions(args);
    let exists = |ks: &Keyspace, key: &[u8]| ks.dbs[db].contains(key, now_ms);
    let mut events: Vec<(u32, &str, usize)> = Vec::new();
    // The first key that held something: where a multi-key pop took from.
    let first_existing = || before.existed.iter().position(|e| *e);
    match name {
        "set" | "setnx" | "setex" | "psetex" | "getset" | "mset" | "msetnx" => {
            positions.iter().for_each(|&i| events.push((STRING, "set", i)));
        }
        "append" => events.push((STRING, "append", 1)),
        "setrange" => events.push((STRING, "setrange", 1)),
        "setbit" | "bitfield" => events.push((STRING, "setbit", 1)),
        "pfadd" | "pfmerge" => events.push((STRING, "pfadd", 1)),
        "geoadd" => events.push((ZSET, "zadd", 1)),
        "georadius" | "georadiusbymember" if positions.len() > 1 && exists(ks, args[positions[1]]) => {
            events.push((ZSET, "georadiusstore", positions[1]))
        }
        "geosearchstore" if exists(ks, args[1]) => events.push((ZSET, "geosearchstore", 1)),
        "sort" if positions.len() > 1 && exists(ks, args[positions[1]]) => {
            events.push((LIST, "sortstore", positions[1]))
        }
        "bitop" if exists(ks, args[2]) => events.push((STRING, "set", 2)),
        "incr" | "decr" | "incrby" | "decrby" => events.push((STRING, "incrby", 1)),
        "incrbyfloat" => events.push((STRING, "incrbyfloat", 1)),
        "getdel" | "del" | "unlink" => {
            for (n, &i) in positions.iter().enumerate() {
                if before.existed.get(n) == Some(&true) && !exists(ks, args[i]) {
                    events.push((GENERIC, "del", i));
                }
            }
        }
        "expire" | "pexpire" | "expireat" | "pexpireat" | "getex" => {
            let event = if !exists(ks, args[1]) {
                "del"
            } else if has_ttl(ks, db, args[1]) {
                "expire"
            } else {
                "persist"
            };
            events.push((GENERIC, event, 1));
        }
        "persist" => events.push((GENERIC, "persist", 1)),
        "rename" | "renamenx" => {
            events.push((GENERIC, "rename_from", 1));
            events.push((GENERIC, "rename_to", 2));
        }
        "copy" => events.push((GENERIC, "copy_to", 2)),
        "move" => {
            let target = std::str::from_utf8(args[2]).ok().and_then(|n| n.parse::<usize>().ok()).unwrap_or(db);
            emit(ks, ev, GENERIC, "move_from", db, args[1]);
            emit(ks, ev, GENERIC, "move_to", target, args[1]);
        }
        "restore" => events.push((GENERIC, "restore", 1)),
        "lpush" | "lpushx" => events.push((LIST, "lpush", 1)),
        "rpush" | "rpushx" => events.push((LIST, "rpush", 1)),
        "lpop" => events.push((LIST, "lpop", 1)),
        "rpop" => events.push((LIST, "rpop", 1)),
        "linsert" => events.push((LIST, "linsert", 1)),
        "lset" => events.push((LIST, "lset", 1)),
        "ltrim" => events.push((LIST, "ltrim", 1)),
        "lrem" => events.push((LIST, "lrem", 1)),
        "rpoplpush" | "brpoplpush" => {
            events.push((LIST, "rpop", 1));
            events.push((LIST, "lpush", 2));
        }
        "lmove" | "blmove" => {
            let from = if args[3].eq_ignore_ascii_case(b"left") { "lpop" } else { "rpop" };
            let to = if args[4].eq_ignore_ascii_case(b"left") { "lpush" } else { "rpush" };
            events.push((LIST, from, 1));
            events.push((LIST, to, 2));
        }
        "blpop" | "brpop" | "lmpop" | "blmpop" | "bzpopmin" | "bzpopmax" | "zmpop" | "bzmpop" => {
            let (class, event) = pop_event(name, args);
            if let Some(n) = first_existing() {
                events.push((class, event, positions[n]));
            }
        }
        "hset" | "hmset" | "hsetnx" => events.push((HASH, "hset", 1)),
        "hdel" => events.push((HASH, "hdel", 1)),
        "hincrby" => events.push((HASH, "hincrby", 1)),
        "hincrbyfloat" => events.push((HASH, "hincrbyfloat", 1)),
        "sadd" => events.push((SET, "sadd", 1)),
        "srem" => events.push((SET, "srem", 1)),
        "spop" => events.push((SET, "spop", 1)),
        "smove" => {
            events.push((SET, "srem", 1));
            events.push((SET, "sadd", 2));
        }
        "sinterstore" | "sunionstore" | "sdiffstore" | "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => {
            let class = if name.starts_with('s') { SET } else { ZSET };
            if exists(ks, args[1]) {
                events.push((class, name, 1));
            } else if before.existed.first() == Some(&true) {
                events.push((GENERIC, "del", 1));
            }
        }
        "zadd" => {
            let incr = args[2..].iter().any(|a| a.eq_ignore_ascii_case(b"incr"));
            events.push((ZSET, if incr { "zincr" } else { "zadd" }, 1));
        }
        "zincrby" => events.push((ZSET, "zincr", 1)),
        "zrem" => events.push((ZSET, "zrem", 1)),
        "zremrangebyscore" | "zremrangebyrank" | "zremrangebylex" | "zpopmin" | "zpopmax" => {
            events.push((ZSET, name, 1))
        }
        _ => {}
    }
    for &(class, event, at) in &events {
        emit(ks, ev, class, event, db, args[at]);
    }
    // A collection emptied by the command is deleted: "del" after the command's own events.
    for (n, &i) in positions.iter().enumerate() {
        let was = before.existed.get(n) == Some(&true);
        let named_del = events.iter().any(|&(_, e, at)| at == i && e == "del");
        if was && !exists(ks, args[i]) && !named_del && !matches!(name, "rename" | "renamenx" | "move") {
            emit(ks, ev, GENERIC, "del", db, args[i]);
        }
        if !was && exists(ks, args[i]) {
            emit(ks, ev, NEW, "new", db, args[i]);
        }
    }
}

fn has_ttl(ks: &Keyspace, db: usize, key: &[u8]) -> bool {
    ks.dbs[db].slot_of(key).is_some_and(|slot| ks.dbs[db].expire_at(slot).is_some())
}

fn pop_event(name: &str, args: &[&[u8]]) -> (u32, &'static str) {
    let side =
        |at: usize| args.get(at).is_some_and(|a| a.eq_ignore_ascii_case(b"left") || a.eq_ignore_ascii_case(b"min"));
    match name {
        "blpop" => (LIST, "lpop"),
        "brpop" => (LIST, "rpop"),
        "bzpopmin" => (ZSET, "zpopmin"),
        "bzpopmax" => (ZSET, "zpopmax"),
        _ => {
            // LMPOP numkeys key... LEFT|RIGHT, ZMPOP numkeys key... MIN|MAX (with the blocking forms'
            // timeout first).
            let skip = if name.starts_with('b') { 2 } else { 1 };
            let numkeys = std::str::from_utf8(args[skip]).ok().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0);
            let first = side(skip + 1 + numkeys);
            match (name.contains('l'), first) {
                (true, true) => (LIST, "lpop"),
                (true, false) => (LIST, "rpop"),
                (false, true) => (ZSET, "zpopmin"),
                (false, false) => (ZSET, "zpopmax"),
            }
        }
    }
}

/// What keys deleted by expiry cause: a DEL in the log (when it is on) and an `expired` event.
pub fn after_expiry(ks: &mut Keyspace, ev: Events) {
    for db in 0..ks.dbs.len() {
        if !ks.dbs[db].has_expired() {
            continue;
        }
        for key in ks.dbs[db].take_expired() {
            if ks.log.enabled {
                ks.log.command(db, &[&b"DEL"[..], key.as_bytes()]);
            }
            emit(ks, ev, EXPIRED, "expired", db, key.as_bytes());
        }
    }
}

/// [`after_expiry`] with the database's current settings, for callers outside a batch (cron, compaction,
/// shutdown).
pub fn flush_expired(server: &crate::server::Server, tenant: &crate::tenant::Tenant, ks: &mut Keyspace) {
    let settings = crate::dispatch::BatchSettings::read(server, tenant);
    after_expiry(ks, Events { flags: settings.notify, limit: settings.pubsub_limit });
}

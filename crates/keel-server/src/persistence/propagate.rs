//! What reaches the log for a command that changed the dataset: its own arguments when replaying them
//! gives the same result, or an equivalent that does (Redis's `rewriteClientCommandVector` calls, gathered
//! in one place). Relative TTLs become absolute (`PXAT`, `PEXPIREAT`), float increments become the value
//! they produced, blocking pops become the non-blocking pops they amounted to, and keys deleted by expiry
//! become `DEL`s, so that replaying the log never depends on when it is replayed.

use crate::commands::{flags, is, Command};
use crate::tenant::Keyspace;
use keel_store::{Hash, Value};

/// Records in the log what the command that just ran in `db` did (called only when the log is on).
pub fn after_command(ks: &mut Keyspace, db: usize, command: &Command, args: &[&[u8]], dirty_before: u64) {
    if let Some(bytes) = ks.log.take_rewritten() {
        ks.log.encoded(db, &bytes);
        return;
    }
    if !command.has(flags::WRITE) || ks.dirty == dirty_before {
        return;
    }
    let name = command.parent.map_or(command.spec.name, |_| command.fullname.as_str());
    match name {
        "set" if args.len() > 3 && args[3..].iter().any(|a| is(a, "ex") || is(a, "px") || is(a, "exat")) => {
            log_with_ttl(ks, db, args[1])
        }
        "setex" | "psetex" => log_with_ttl(ks, db, args[1]),
        "getex" => match current(ks, db, args[1]).map(|(_, at)| at) {
            Some(Some(at)) => ks.log.command(db, &[&b"PEXPIREAT"[..], args[1], at.to_string().as_bytes()]),
            Some(None) => ks.log.command(db, &[&b"PERSIST"[..], args[1]]),
            None => ks.log.command(db, &[&b"DEL"[..], args[1]]),
        },
        "expire" | "pexpire" | "expireat" | "pexpireat" => match current(ks, db, args[1]).map(|(_, at)| at) {
            Some(Some(at)) => ks.log.command(db, &[&b"PEXPIREAT"[..], args[1], at.to_string().as_bytes()]),
            _ => ks.log.command(db, &[&b"DEL"[..], args[1]]),
        },
        "incrbyfloat" => match current(ks, db, args[1]) {
            Some((Value::Str(s), _)) => {
                let value = s.as_bytes().to_vec();
                ks.log.command(db, &[&b"SET"[..], args[1], &value, b"KEEPTTL"]);
            }
            _ => ks.log.command(db, args),
        },
        "hincrbyfloat" => {
            let value = current(ks, db, args[1]).and_then(|(v, _)| match v {
                Value::Hash(h) => Hash::get(h, args[2]).map(<[u8]>::to_vec),
                _ => None,
            });
            match value {
                Some(value) => ks.log.command(db, &[&b"HSET"[..], args[1], args[2], &value]),
                None => ks.log.command(db, args),
            }
        }
        "restore" => {
            let at = current(ks, db, args[1]).and_then(|(_, at)| at).unwrap_or(0).to_string();
            ks.log.command(db, &[&b"RESTORE"[..], args[1], at.as_bytes(), args[3], b"ABSTTL", b"REPLACE"]);
        }
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" => {
            // `BLPOP k1 k2 0` took from the first non-empty key, as `LMPOP 2 k1 k2 LEFT COUNT 1` does.
            let (pop, side): (&[u8], &[u8]) = match name {
                "blpop" => (b"LMPOP", b"LEFT"),
                "brpop" => (b"LMPOP", b"RIGHT"),
                "bzpopmin" => (b"ZMPOP", b"MIN"),
                _ => (b"ZMPOP", b"MAX"),
            };
            let keys = &args[1..args.len() - 1];
            let numkeys = keys.len().to_string();
            let mut mpop: Vec<&[u8]> = vec![pop, numkeys.as_bytes()];
            mpop.extend_from_slice(keys);
            mpop.extend_from_slice(&[side, b"COUNT", b"1"]);
            ks.log.command(db, &mpop);
        }
        "blmove" => ks.log.command(db, &[&b"LMOVE"[..], args[1], args[2], args[3], args[4]]),
        "brpoplpush" => ks.log.command(db, &[&b"RPOPLPUSH"[..], args[1], args[2]]),
        "blmpop" | "bzmpop" => {
            let mut pop: Vec<&[u8]> = vec![if name == "blmpop" { b"LMPOP" } else { b"ZMPOP" }];
            pop.extend_from_slice(&args[2..]);
            ks.log.command(db, &pop);
        }
        _ => ks.log.command(db, args),
    }
}

/// The key's value and expiry, expired or not.
fn current<'k>(ks: &'k Keyspace, db: usize, key: &[u8]) -> Option<(&'k Value, Option<u64>)> {
    let d = &ks.dbs[db];
    let slot = d.slot_of(key)?;
    Some((d.value(slot), d.expire_at(slot)))
}

/// `SET key value PXAT at` for a SET-like command that gave the key a TTL.
fn log_with_ttl(ks: &mut Keyspace, db: usize, key: &[u8]) {
    match current(ks, db, key) {
        Some((value, expire)) => {
            let value = value.as_string().map(|s| s.to_bytes().into_owned()).unwrap_or_default();
            match expire {
                Some(at) => ks.log.command(db, &[&b"SET"[..], key, &value, b"PXAT", at.to_string().as_bytes()]),
                None => ks.log.command(db, &[&b"SET"[..], key, &value]),
            }
        }
        None => ks.log.command(db, &[&b"DEL"[..], key]),
    }
}

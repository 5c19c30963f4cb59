//! Stream commands (Redis's t_stream.c): XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID, and the helpers the
//! other stream files share. XREAD and XREADGROUP are in `stream_reads`, consumer-group management (XGROUP,
//! XACK, XPENDING, XCLAIM, XAUTOCLAIM) and XINFO in `stream_groups`. The data structure is
//! `keel_store::stream`.

use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX, WRONGTYPE};
use crate::notify;
use keel_protocol::ReplyWriter;
use keel_store::stream::{Entry, NodeLimits, Trim, TrimGuard};
use keel_store::stream_group::RefPolicy;
use keel_store::{Expiry, Stream, StreamId, Value};
use std::borrow::Cow;

pub(super) const INVALID_ID: CmdError =
    CmdError(Cow::Borrowed("ERR Invalid stream ID specified as stream command argument"));

/// Parses a stream ID argument (`strict` refuses `-` and `+`).
pub(super) fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, CmdError> {
    StreamId::parse(arg, missing_seq, strict, false).map(|(id, _)| id).ok_or(INVALID_ID)
}

/// Parses a range bound: `(` makes it exclusive, moved to the next (start) or previous (end) ID.
pub(super) fn parse_bound(arg: &[u8], start: bool) -> Result<StreamId, CmdError> {
    let missing_seq = if start { 0 } else { u64::MAX };
    if arg.len() > 1 && arg[0] == b'(' {
        let id = parse_id(&arg[1..], missing_seq, true)?;
        let moved = if start { id.incr() } else { id.decr() };
        let which = if start { "start" } else { "end" };
        return moved.ok_or_else(|| CmdError::new(format!("ERR invalid {which} ID for the interval")));
    }
    parse_id(arg, missing_seq, false)
}

pub(super) fn bulk_id(out: &mut ReplyWriter, id: StreamId) {
    out.bulk(id.to_string().as_bytes());
}

/// One entry as `[id, [field, value, ...]]`.
pub(super) fn reply_entry(out: &mut ReplyWriter, entry: &Entry) {
    out.array(2);
    bulk_id(out, entry.id);
    out.array(entry.fields.len() * 2);
    for (field, value) in &entry.fields {
        out.bulk(field);
        out.bulk(value);
    }
}

/// Looks `key` up and checks it holds a stream (WRONGTYPE otherwise).
pub(super) fn find_stream(ctx: &mut Ctx, key: &[u8], read: bool) -> Result<Option<usize>, CmdError> {
    let slot = if read { ctx.lookup_read(key) } else { ctx.lookup_write(key) };
    match slot {
        Some(slot) if matches!(ctx.db().value(slot), Value::Stream(_)) => Ok(Some(slot)),
        Some(_) => Err(WRONGTYPE),
        None => Ok(None),
    }
}

/// The stream at `slot` of the client's database.
pub(super) fn stream_at<'c>(ctx: &'c Ctx, slot: usize) -> &'c Stream {
    match ctx.ks.dbs[ctx.session.db].value(slot) {
        Value::Stream(s) => s,
        _ => unreachable!("callers check the type first"),
    }
}

/// Runs `change` on the stream at `slot` (memory accounting and WATCH follow).
pub(super) fn with_stream<R>(ctx: &mut Ctx, slot: usize, change: impl FnOnce(&mut Stream) -> R) -> R {
    ctx.db().update(slot, |value| match value {
        Value::Stream(s) => change(s),
        _ => unreachable!("callers check the type first"),
    })
}

/// The time consumer groups record (deliveries, consumers seen): the wall clock, also while the log is
/// replayed, when the batch clock stands still at 0 (Redis's mstime()).
pub(super) fn group_clock() -> u64 {
    crate::clock::unix_ms()
}

pub(super) fn node_limits(ctx: &Ctx) -> NodeLimits {
    ctx.settings.encodings.stream
}

/// The trimming part of XADD and XTRIM.
struct TrimArgs {
    trim: Trim,
    approx: bool,
    /// What trimming does to consumer groups' references (Redis 8.2's KEEPREF, DELREF, ACKED).
    policy: RefPolicy,
    /// 0: no limit.
    limit: u64,
    /// Where the threshold argument is (rewritten for the log after approximate trimming).
    arg_at: usize,
}

struct AddArgs {
    trim: Option<TrimArgs>,
    nomkstream: bool,
    /// The ID given (None for `*`) and whether its sequence was given.
    id: Option<(StreamId, bool)>,
    id_at: usize,
}

/// Redis's streamParseAddOrTrimArgsOrReply, for XADD (`xadd`) and XTRIM.
fn parse_add_or_trim(ctx: &Ctx, args: &[&[u8]], xadd: bool) -> Result<AddArgs, CmdError> {
    let mut parsed = AddArgs { trim: None, nomkstream: false, id: None, id_at: 0 };
    let mut limit: Option<i64> = None;
    let mut policy = None;
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = args[i];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if parsed.trim.is_some() {
                return Err(CmdError::new(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            let mut approx = false;
            if more >= 2 && (args[i + 1] == b"~" || args[i + 1] == b"=") {
                approx = args[i + 1] == b"~";
                i += 1;
            }
            let threshold = args[i + 1];
            let trim = if is(opt, "maxlen") {
                let n = int_arg(threshold)?;
                if n < 0 {
                    return Err(CmdError::new("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(parse_id(threshold, 0, true)?)
            };
            i += 1;
            parsed.trim = Some(TrimArgs { trim, approx, policy: RefPolicy::KeepRef, limit: 0, arg_at: i });
        } else if is(opt, "limit") && more > 0 {
            let n = int_arg(args[i + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            parsed.nomkstream = true;
        } else if let (Some(chosen), None) = (RefPolicy::parse(opt), policy) {
            policy = Some(chosen);
        } else if xadd {
            let (id, seq_given) = StreamId::parse(opt, 0, true, true).ok_or(INVALID_ID)?;
            parsed.id = Some((id, seq_given));
            break;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    parsed.id_at = i;
    if limit.is_some_and(|l| l != 0) && parsed.trim.is_none() {
        return Err(CmdError::new("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && parsed.trim.is_none() {
        return Err(CmdError::new("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if let Some(trim) = &mut parsed.trim {
        trim.policy = policy.unwrap_or(RefPolicy::KeepRef);
        trim.limit = match limit {
            Some(_) if !trim.approx => {
                return Err(CmdError::new("ERR syntax error, LIMIT cannot be used without the special ~ option"));
            }
            Some(n) => n as u64,
            // Approximate trimming does a bounded amount of work unless told otherwise.
            None if trim.approx => {
                let n = 100 * ctx.settings.encodings.stream.max_entries as u64;
                if n == 0 || n > 1_000_000 {
                    1_000_000
                } else {
                    n
                }
            }
            None => 0,
        };
    }
    Ok(parsed)
}

/// Trims the stream at `slot` (publishing `xtrim` when it removed entries); the number removed.
fn trim_stream(ctx: &mut Ctx, slot: usize, key: &[u8], trim: &TrimArgs) -> u64 {
    let removed = with_stream(ctx, slot, |s| {
        let mut guard = TrimGuard {
            keep_from: (trim.policy == RefPolicy::Acked).then(|| s.first_needed()).flatten(),
            removed: (trim.policy == RefPolicy::DelRef).then(Vec::new),
        };
        let removed = s.trim(trim.trim, trim.approx, trim.limit, &mut guard);
        if let Some(ids) = guard.removed {
            s.drop_references(&ids);
        }
        removed
    });
    if removed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    removed
}

/// `args` as the log records them after approximate trimming: the exact trim it amounted to
/// (`MAXLEN = <length>` or `MINID = <first id>`), so that replaying the log gives the same stream.
fn exact_trim_args(ctx: &Ctx, slot: usize, args: &[&[u8]], trim: &TrimArgs) -> Vec<Vec<u8>> {
    let mut logged: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    if trim.approx {
        let s = stream_at(ctx, slot);
        logged[trim.arg_at - 1] = b"=".to_vec();
        logged[trim.arg_at] = match trim.trim {
            Trim::MaxLen(_) => s.len().to_string().into_bytes(),
            Trim::MinId(_) => s.edge_id(false).unwrap_or(StreamId::MAX).to_string().into_bytes(),
        };
    }
    logged
}

pub fn xadd(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let parsed = parse_add_or_trim(ctx, args, true)?;
    let fields_at = parsed.id_at + 1;
    if args.len() < fields_at + 2 || !(args.len() - fields_at).is_multiple_of(2) {
        return Err(CmdError::new("ERR wrong number of arguments for 'xadd' command"));
    }
    if parsed.id == Some((StreamId::MIN, true)) {
        return Err(CmdError::new("ERR The ID specified in XADD must be greater than 0-0"));
    }
    let key = args[1];
    let slot = match find_stream(ctx, key, false)? {
        Some(slot) => slot,
        None if parsed.nomkstream => {
            ctx.out.null();
            return Ok(());
        }
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::Stream(Box::default()), Expiry::Clear)
        }
    };
    let last = stream_at(ctx, slot).last_id;
    if last == StreamId::MAX {
        return Err(CmdError::new("ERR The stream has exhausted the last possible ID, unable to add more items"));
    }
    let too_small =
        || CmdError::new("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    let id = match parsed.id {
        Some((id, true)) => id,
        // `ms-*`: the next sequence of the last ID when the time is the same.
        Some((id, false)) if id.ms == last.ms => {
            if last.seq == u64::MAX {
                return Err(too_small());
            }
            StreamId::new(last.ms, last.seq + 1)
        }
        Some((id, false)) => id,
        None => stream_at(ctx, slot).next_id(ctx.now_ms()).ok_or_else(too_small)?,
    };
    let fields: Vec<(&[u8], &[u8])> = args[fields_at..].chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let limits = node_limits(ctx);
    with_stream(ctx, slot, |s| s.add(id, &fields, limits)).map_err(|_| too_small())?;
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xadd", key);
    if let Some(trim) = &parsed.trim {
        trim_stream(ctx, slot, key, trim);
    }
    // The log gets the ID the entry got, and exact trimming.
    let approx = parsed.trim.as_ref().is_some_and(|t| t.approx);
    if ctx.ks.log.enabled && (parsed.id.is_none_or(|(_, seq_given)| !seq_given) || approx) {
        let mut logged = match &parsed.trim {
            Some(trim) => exact_trim_args(ctx, slot, args, trim),
            None => args.iter().map(|a| a.to_vec()).collect(),
        };
        logged[parsed.id_at] = id.to_string().into_bytes();
        ctx.ks.log.rewrite(&logged);
    }
    let db = ctx.session.db;
    ctx.ks.blocking.signal_ready(db, key);
    bulk_id(ctx.out, id);
    Ok(())
}

pub fn xtrim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let parsed = parse_add_or_trim(ctx, args, false)?;
    let Some(trim) = parsed.trim else { return Err(SYNTAX) };
    let Some(slot) = find_stream(ctx, args[1], false)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let removed = trim_stream(ctx, slot, args[1], &trim);
    if removed > 0 {
        ctx.dirty(removed);
        if trim.approx && ctx.ks.log.enabled {
            let logged = exact_trim_args(ctx, slot, args, &trim);
            ctx.ks.log.rewrite(&logged);
        }
    }
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn xlen(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let len = match find_stream(ctx, args[1], true)? {
        Some(slot) => stream_at(ctx, slot).len(),
        None => 0,
    };
    ctx.out.int(len as i64);
    Ok(())
}

fn range_generic(ctx: &mut Ctx, args: &[&[u8]], rev: bool) -> CmdResult {
    let (start_arg, end_arg) = if rev { (args[3], args[2]) } else { (args[2], args[3]) };
    let start = parse_bound(start_arg, true)?;
    let end = parse_bound(end_arg, false)?;
    let mut count: Option<i64> = None;
    let mut j = 4;
    while j < args.len() {
        if is(args[j], "count") && j + 1 < args.len() {
            count = Some(int_arg(args[j + 1])?.max(0));
            j += 2;
        } else {
            return Err(SYNTAX);
        }
    }
    let Some(slot) = find_stream(ctx, args[1], true)? else {
        ctx.out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        ctx.out.null_array();
        return Ok(());
    }
    let db = ctx.session.db;
    let Value::Stream(s) = ctx.ks.dbs[db].value(slot) else { return Err(WRONGTYPE) };
    let entries = s.range(start, end, count.unwrap_or(0) as usize, rev);
    ctx.out.array(entries.len());
    entries.iter().for_each(|e| reply_entry(ctx.out, e));
    Ok(())
}

pub fn xrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, false)
}

pub fn xrevrange(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    range_generic(ctx, args, true)
}

pub fn xdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(slot) = find_stream(ctx, args[1], false)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = args[2..].iter().map(|a| parse_id(a, 0, true)).collect::<Result<Vec<_>, _>>()?;
    let deleted = with_stream(ctx, slot, |s| ids.iter().filter(|id| s.delete(**id)).count());
    if deleted > 0 {
        ctx.dirty(deleted as u64);
        ctx.notify(notify::STREAM, "xdel", args[1]);
    }
    ctx.out.int(deleted as i64);
    Ok(())
}

pub fn xsetid(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let id = parse_id(args[2], 0, true)?;
    let (mut entries_added, mut max_deleted) = (None, StreamId::MIN);
    let mut i = 3;
    while i < args.len() {
        let more = args.len() - 1 - i;
        if is(args[i], "entriesadded") && more > 0 {
            let n = int_arg(args[i + 1])?;
            if n < 0 {
                return Err(CmdError::new("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(args[i], "maxdeletedid") && more > 0 {
            max_deleted = parse_id(args[i + 1], 0, true)?;
            if id < max_deleted {
                return Err(CmdError::new(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
        } else {
            return Err(SYNTAX);
        }
        i += 2;
    }
    let Some(slot) = find_stream(ctx, args[1], false)? else { return Err(super::NO_SUCH_KEY) };
    let s = stream_at(ctx, slot);
    if id < s.max_deleted_entry_id {
        return Err(CmdError::new("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"));
    }
    if !s.is_empty() {
        if s.edge_id(true).is_some_and(|top| id < top) {
            return Err(CmdError::new("ERR The ID specified in XSETID is smaller than the target stream top item"));
        }
        if entries_added.is_some_and(|n| s.len() > n) {
            return Err(CmdError::new(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    with_stream(ctx, slot, |s| {
        s.last_id = id;
        if let Some(n) = entries_added {
            s.entries_added = n;
        }
        if max_deleted != StreamId::MIN {
            s.max_deleted_entry_id = max_deleted;
        }
    });
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xsetid", args[1]);
    ctx.out.ok();
    Ok(())
}

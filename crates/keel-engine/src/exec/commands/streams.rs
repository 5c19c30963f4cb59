//! Stream commands (Redis's t_stream.c): XADD XLEN XRANGE XREVRANGE XDEL XTRIM XSETID, and XREAD /
//! XREADGROUP, which block on the machinery lists use. Consumer-group management (XGROUP, XACK, XPENDING,
//! XCLAIM, XAUTOCLAIM) and XINFO are in `stream_groups`. The data structure is `keel_store::stream`.

use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX, WRONGTYPE};
use crate::notify;
use keel_protocol::ReplyWriter;
use keel_store::stream::{Entry, NodeLimits, Trim, TrimGuard};
use keel_store::stream_group::RefPolicy;
use keel_store::{Expiry, Stream, StreamId, Value};
use std::borrow::Cow;
use std::time::Duration;

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
    let s = ctx.server.settings.read();
    NodeLimits { max_bytes: s.stream_node_max_bytes as usize, max_entries: s.stream_node_max_entries as usize }
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
                let n = 100 * ctx.server.settings.read().stream_node_max_entries;
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

/// What XREAD / XREADGROUP was asked.
struct ReadArgs<'a> {
    timeout: Option<Option<Duration>>,
    count: usize,
    count_given: bool,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    streams_at: usize,
    keys: Vec<&'a [u8]>,
    ids: Vec<&'a [u8]>,
}

fn parse_read<'a>(ctx: &Ctx, args: &[&'a [u8]], group_command: bool) -> Result<ReadArgs<'a>, CmdError> {
    let mut r = ReadArgs {
        timeout: None,
        count: 0,
        count_given: false,
        group: None,
        noack: false,
        streams_at: 0,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let opt = args[i];
        if is(opt, "block") && more > 0 {
            let ms =
                int_arg(args[i + 1]).map_err(|_| CmdError::new("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::new("ERR timeout is negative"));
            }
            r.timeout = Some((ms > 0).then(|| Duration::from_millis(ms as u64)));
            i += 1;
        } else if is(opt, "count") && more > 0 {
            r.count = int_arg(args[i + 1])?.max(0) as usize;
            r.count_given = true;
            i += 1;
        } else if is(opt, "streams") && more > 0 {
            r.streams_at = i + 1;
            let n = args.len() - r.streams_at;
            if !n.is_multiple_of(2) {
                let symbol = if group_command { "ID or '>'" } else { "ID, '+', or '$'" };
                return Err(CmdError::new(format!(
                    "ERR Unbalanced '{}' list of streams: for each stream key an {symbol} must be specified.",
                    ctx.command.fullname
                )));
            }
            r.keys = args[r.streams_at..r.streams_at + n / 2].to_vec();
            r.ids = args[r.streams_at + n / 2..].to_vec();
            break;
        } else if is(opt, "group") && more >= 2 {
            if !group_command {
                return Err(CmdError::new(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.group = Some((args[i + 1], args[i + 2]));
            i += 2;
        } else if is(opt, "noack") {
            if !group_command {
                return Err(CmdError::new(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            r.noack = true;
        } else {
            return Err(SYNTAX);
        }
        i += 1;
    }
    if r.streams_at == 0 {
        return Err(SYNTAX);
    }
    if group_command && r.group.is_none() {
        return Err(CmdError::new("ERR Missing GROUP option for XREADGROUP"));
    }
    Ok(r)
}

/// What to read from one stream: entries after an ID, new entries for a group (`>`), or the consumer's
/// own pending history from an ID.
#[derive(Clone, Copy, PartialEq)]
enum ReadFrom {
    After(StreamId),
    New,
    History(StreamId),
}

pub fn xread(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    read_generic(ctx, args, false)
}

pub fn xreadgroup(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    read_generic(ctx, args, true)
}

fn read_generic(ctx: &mut Ctx, args: &[&[u8]], group_command: bool) -> CmdResult {
    let r = parse_read(ctx, args, group_command)?;
    let mut from = Vec::with_capacity(r.keys.len());
    let mut slots = Vec::with_capacity(r.keys.len());
    for (key, id) in r.keys.iter().zip(&r.ids) {
        let slot = find_stream(ctx, key, true)?;
        if let Some((group, _)) = r.group {
            if slot.is_none_or(|s| !stream_at(ctx, s).groups.contains_key(group)) {
                return Err(CmdError::new(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(group)
                )));
            }
        }
        let read = if *id == b"$" {
            if group_command {
                return Err(CmdError::new("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
            }
            ReadFrom::After(slot.map_or(StreamId::MIN, |s| stream_at(ctx, s).last_id))
        } else if *id == b"+" {
            // Redis 7.4: the stream's last entry (what comes after the ID just before it).
            if group_command {
                return Err(CmdError::new("ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set."));
            }
            let last = slot.and_then(|s| stream_at(ctx, s).edge_id(true));
            ReadFrom::After(last.and_then(StreamId::decr).unwrap_or(StreamId::MIN))
        } else if *id == b">" {
            if !group_command {
                return Err(CmdError::new(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ));
            }
            ReadFrom::New
        } else {
            let id = parse_id(id, 0, true)?;
            if group_command {
                ReadFrom::History(id)
            } else {
                ReadFrom::After(id)
            }
        };
        from.push(read);
        slots.push(slot);
    }
    // Serve what can be served now.
    let now = group_clock();
    let mut served: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, key) in r.keys.iter().enumerate() {
        let Some(slot) = slots[i] else { continue };
        let s = stream_at(ctx, slot);
        let start = match from[i] {
            // Both kinds of start are exclusive.
            ReadFrom::History(id) => id.incr(),
            ReadFrom::New => {
                let last = r.group.and_then(|(g, _)| s.groups.get(g)).map_or(StreamId::MIN, |g| g.last_id);
                (s.edge_id(true).is_some_and(|top| top > last)).then(|| last.incr()).flatten()
            }
            ReadFrom::After(id) => (s.edge_id(true).is_some_and(|top| top > id)).then(|| id.incr()).flatten(),
        };
        if let Some((group, consumer)) = r.group {
            let claims_follow = start.is_some() && !r.noack && matches!(from[i], ReadFrom::New);
            see_consumer(ctx, slot, key, group, consumer, claims_follow, now);
        }
        let Some(start) = start else { continue };
        let mut reply = ReplyWriter::new(ctx.out.resp());
        match r.group {
            None => {
                let entries = stream_at(ctx, slot).range(start, StreamId::MAX, r.count, false);
                reply.array(entries.len());
                entries.iter().for_each(|e| reply_entry(&mut reply, e));
            }
            Some((group, consumer)) => {
                let history = matches!(from[i], ReadFrom::History(_));
                read_group(ctx, slot, key, group, consumer, start, history, r.count, r.noack, now, &mut reply);
            }
        }
        served.push((i, reply.as_bytes().to_vec()));
    }
    if !served.is_empty() {
        if ctx.out.is_resp3() {
            ctx.out.map(served.len());
        } else {
            ctx.out.array(served.len());
        }
        for (i, reply) in served {
            if !ctx.out.is_resp3() {
                ctx.out.array(2);
            }
            ctx.out.bulk(r.keys[i]);
            ctx.out.raw(&reply);
        }
        return Ok(());
    }
    let Some(timeout) = r.timeout else {
        ctx.out.null_array();
        return Ok(());
    };
    // Block. `$` is resolved now (new entries are those after the current last one), and a wait without
    // COUNT is served at most 1000 entries, as Redis does.
    let mut rerun: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
    for (i, read) in from.iter().enumerate() {
        if let ReadFrom::After(id) = read {
            rerun[r.streams_at + r.keys.len() + i] = id.to_string().into_bytes();
        }
    }
    if !r.count_given {
        rerun.splice(1..1, [b"COUNT".to_vec(), b"1000".to_vec()]);
    }
    let keys = r.keys.clone();
    ctx.block_rerun(&keys, timeout, rerun);
    Ok(())
}

/// An entry copied out of its stream, so that the group can be updated while it is replied.
type OwnedEntry = (StreamId, Vec<(Vec<u8>, Vec<u8>)>);

/// Serves one stream of an XREADGROUP into `reply`: new entries (recorded as delivered to `consumer`
/// unless NOACK) or the consumer's pending history. The log gets Redis's XCLAIM / XGROUP SETID form.
/// Counts as a change (Redis's dirty) once if new entries were served and once if the consumer was
/// created; serving history does not, though it updates delivery counts, as in Redis.
#[allow(clippy::too_many_arguments)]
fn read_group(
    ctx: &mut Ctx,
    slot: usize,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    start: StreamId,
    history: bool,
    count: usize,
    noack: bool,
    now: u64,
    reply: &mut ReplyWriter,
) {
    let mut log: Vec<Vec<Vec<u8>>> = Vec::new();
    let limit = if count == 0 { usize::MAX } else { count };
    let served_new = with_stream(ctx, slot, |s| {
        if history {
            let Some(g) = s.groups.get(group) else { return false };
            let ids: Vec<StreamId> = g
                .consumers
                .get(consumer)
                .map(|c| c.pending.range(start..).take(limit).copied().collect())
                .unwrap_or_default();
            reply.array(ids.len());
            let mut delivered = Vec::new();
            for id in ids {
                match s.get(id) {
                    Some(entry) => {
                        reply_entry(reply, &entry);
                        delivered.push(id);
                    }
                    None => {
                        // Acknowledge-less entry deleted meanwhile: its ID with no fields.
                        reply.array(2);
                        bulk_id(reply, id);
                        reply.null_array();
                    }
                }
            }
            if let Some(g) = s.groups.get_mut(group) {
                for id in delivered {
                    if let Some(p) = g.pel.get_mut(&id) {
                        p.delivery_time = now;
                        p.delivery_count += 1;
                    }
                }
            }
            return false;
        }
        let entries: Vec<OwnedEntry> = s
            .range(start, StreamId::MAX, count, false)
            .into_iter()
            .map(|e| (e.id, e.fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect()))
            .collect();
        reply.array(entries.len());
        let mut advanced = false;
        for (id, fields) in &entries {
            let read = s
                .groups
                .get(group)
                .filter(|g| *id > g.last_id)
                .map(|g| s.entries_read_after(g.last_id, g.entries_read, *id));
            let Some(g) = s.groups.get_mut(group) else { return false };
            if let Some(read) = read {
                g.entries_read = read;
                g.last_id = *id;
                advanced = true;
            }
            reply.array(2);
            bulk_id(reply, *id);
            reply.array(fields.len() * 2);
            for (f, v) in fields {
                reply.bulk(f);
                reply.bulk(v);
            }
            if !noack {
                g.deliver(*id, consumer, now);
                log.push(claim_log(key, group, consumer, *id, now, 1, g.last_id));
            }
        }
        // The group's new position after the deliveries, whether or not they were acknowledged at once: XCLAIM's
        // LASTID carries no `entries_read`, and replicas must count as the primary does (Redis 7.2, #9127).
        if advanced {
            if let Some(g) = s.groups.get(group) {
                log.push(setid_log(key, group, g.last_id, g.entries_read));
            }
        }
        !entries.is_empty()
    });
    log.iter().for_each(|command| ctx.ks.log.rewrite(command));
    ctx.dirty(u64::from(served_new));
}

/// Marks `consumer` of `group` as seen by an XREADGROUP, creating it if missing (a change, as in Redis, which
/// creates it even when nothing is served). Its creation is logged unless the XCLAIMs of the deliveries
/// that follow create it where it is replayed, that is unless `claims_follow`.
fn see_consumer(ctx: &mut Ctx, slot: usize, key: &[u8], group: &[u8], consumer: &[u8], claims_follow: bool, now: u64) {
    let created = with_stream(ctx, slot, |s| {
        let Some(g) = s.groups.get_mut(group) else { return false };
        let (c, created) = g.consumer(consumer, now);
        c.seen_time = now;
        created
    });
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        ctx.dirty(1);
        if !claims_follow {
            ctx.ks.log.rewrite(&[&b"XGROUP"[..], b"CREATECONSUMER", key, group, consumer]);
        }
    }
}

/// `XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last`: how Redis logs a delivery.
pub(super) fn claim_log(
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    id: StreamId,
    time: u64,
    count: u64,
    last_id: StreamId,
) -> Vec<Vec<u8>> {
    vec![
        b"XCLAIM".to_vec(),
        key.to_vec(),
        group.to_vec(),
        consumer.to_vec(),
        b"0".to_vec(),
        id.to_string().into_bytes(),
        b"TIME".to_vec(),
        time.to_string().into_bytes(),
        b"RETRYCOUNT".to_vec(),
        count.to_string().into_bytes(),
        b"FORCE".to_vec(),
        b"JUSTID".to_vec(),
        b"LASTID".to_vec(),
        last_id.to_string().into_bytes(),
    ]
}

/// `XGROUP SETID key group last ENTRIESREAD n`: how Redis logs a group's new position.
pub(super) fn setid_log(key: &[u8], group: &[u8], last_id: StreamId, entries_read: Option<u64>) -> Vec<Vec<u8>> {
    let read = entries_read.map_or(-1, |n| n as i64);
    vec![
        b"XGROUP".to_vec(),
        b"SETID".to_vec(),
        key.to_vec(),
        group.to_vec(),
        last_id.to_string().into_bytes(),
        b"ENTRIESREAD".to_vec(),
        read.to_string().into_bytes(),
    ]
}

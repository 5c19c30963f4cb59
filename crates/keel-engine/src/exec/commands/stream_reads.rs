//! XREAD and XREADGROUP (Redis's t_stream.c): reading one or more streams from given IDs, or a consumer
//! group's new entries or a consumer's pending history, blocking on the machinery lists use. A group read
//! reaches the log as Redis propagates it: an XCLAIM per delivery, then the group's new position.

use super::streams::{bulk_id, find_stream, group_clock, parse_id, reply_entry, stream_at, with_stream};
use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX};
use crate::notify;
use keel_protocol::ReplyWriter;
use keel_store::StreamId;
use std::time::Duration;

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
        let read = read_from(ctx, id, slot, group_command)?;
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
    block_for_more(ctx, args, &r, &from, timeout);
    Ok(())
}

/// Where an ID argument starts a read: `$` (after the stream's last entry), `+` (its last entry), `>` (a
/// group's new entries), or an ID (after it, or a consumer's history from it for XREADGROUP).
fn read_from(ctx: &Ctx, id: &[u8], slot: Option<usize>, group_command: bool) -> Result<ReadFrom, CmdError> {
    Ok(if id == b"$" {
        if group_command {
            return Err(CmdError::new("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."));
        }
        ReadFrom::After(slot.map_or(StreamId::MIN, |s| stream_at(ctx, s).last_id))
    } else if id == b"+" {
        // Redis 7.4: the stream's last entry (what comes after the ID just before it).
        if group_command {
            return Err(CmdError::new("ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set."));
        }
        let last = slot.and_then(|s| stream_at(ctx, s).edge_id(true));
        ReadFrom::After(last.and_then(StreamId::decr).unwrap_or(StreamId::MIN))
    } else if id == b">" {
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
    })
}

/// Blocks the client until the streams have more. `$` is resolved now (new entries are those after the
/// current last one), and a wait without COUNT is served at most 1000 entries, as Redis does.
fn block_for_more(ctx: &mut Ctx, args: &[&[u8]], r: &ReadArgs, from: &[ReadFrom], timeout: Option<Duration>) {
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

//! Stream consumer groups and introspection (Redis's t_stream.c): XGROUP, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM and XINFO. Claims reach the log as Redis propagates them (one XCLAIM per entry with its
//! delivery time and count), so that replaying the log rebuilds the same pending entries.

use super::stream_reads::{claim_log, setid_log};
use super::streams::{bulk_id, find_stream, group_clock, parse_bound, parse_id, reply_entry, stream_at, with_stream};
use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX};
use crate::notify;
use keel_protocol::ReplyWriter;
use keel_store::stream_group::{ConsumerGroup, Pending};
use keel_store::{Expiry, Stream, StreamId, Value};

fn text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Redis's addReplySubcommandSyntaxError.
fn subcommand_error(args: &[&[u8]]) -> CmdError {
    CmdError::new(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        text(args[1]),
        text(args[0]).to_uppercase()
    ))
}

fn no_group(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::new(format!("NOGROUP No such key '{}' or consumer group '{}'", text(key), text(group)))
}

fn no_group_for_key(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::new(format!("NOGROUP No such consumer group '{}' for key name '{}'", text(group), text(key)))
}

/// The slot of the stream at `key` holding `group`, or NOGROUP.
fn group_slot(ctx: &mut Ctx, key: &[u8], group: &[u8]) -> Result<usize, CmdError> {
    match find_stream(ctx, key, true)? {
        Some(slot) if stream_at(ctx, slot).groups.contains_key(group) => Ok(slot),
        _ => Err(no_group(key, group)),
    }
}

/// Runs `change` on `group` of the stream at `slot` (which holds it).
fn with_group<R>(ctx: &mut Ctx, slot: usize, group: &[u8], change: impl FnOnce(&mut ConsumerGroup, &Stream) -> R) -> R {
    with_stream(ctx, slot, |s| {
        let mut g = s.groups.remove(group).unwrap_or_default();
        let result = change(&mut g, s);
        s.groups.insert(group.to_vec(), g);
        result
    })
}

/// The stream at `slot` and the reply writer, borrowed together.
fn stream_and_out<'c>(ctx: &'c mut Ctx, slot: usize) -> (&'c Stream, &'c mut ReplyWriter) {
    let db = ctx.session.db;
    match ctx.ks.dbs[db].value(slot) {
        Value::Stream(s) => (s, &mut *ctx.out),
        _ => unreachable!("callers check the type first"),
    }
}

/// The ENTRIESREAD option of XGROUP CREATE and SETID.
fn entries_read_option(args: &[&[u8]], create: bool) -> Result<(Option<u64>, bool), CmdError> {
    let (mut entries_read, mut mkstream) = (None, false);
    let mut i = 5;
    while i < args.len() {
        if create && is(args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if is(args[i], "entriesread") && i + 1 < args.len() {
            let n = int_arg(args[i + 1])?;
            if n < -1 {
                return Err(CmdError::new("ERR value for ENTRIESREAD must be positive or -1"));
            }
            entries_read = (n >= 0).then_some(n as u64);
            i += 2;
        } else {
            return Err(subcommand_error(args));
        }
    }
    Ok((entries_read, mkstream))
}

const NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

/// The stream an XGROUP subcommand works on, which must exist (CREATE may make it with MKSTREAM).
fn xgroup_stream(ctx: &mut Ctx, args: &[&[u8]], mkstream: bool) -> Result<Option<usize>, CmdError> {
    let slot = find_stream(ctx, args[2], false)?;
    if slot.is_none() && !mkstream {
        return Err(CmdError::new(NEEDS_KEY));
    }
    Ok(slot)
}

/// The slot of the stream holding the XGROUP subcommand's group, or NOGROUP.
fn xgroup_group(ctx: &mut Ctx, args: &[&[u8]]) -> Result<usize, CmdError> {
    let Some(slot) = xgroup_stream(ctx, args, false)? else { return Err(CmdError::new(NEEDS_KEY)) };
    if !stream_at(ctx, slot).groups.contains_key(args[3]) {
        return Err(no_group_for_key(args[3], args[2]));
    }
    Ok(slot)
}

pub fn xgroup_create(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() > 8 {
        return Err(subcommand_error(args));
    }
    let (entries_read, mkstream) = entries_read_option(args, true)?;
    let (key, group) = (args[2], args[3]);
    let slot = xgroup_stream(ctx, args, mkstream)?;
    let id = if args[4] == b"$" {
        slot.map_or(StreamId::MIN, |s| stream_at(ctx, s).last_id)
    } else {
        parse_id(args[4], 0, true)?
    };
    let slot = match slot {
        Some(slot) => slot,
        None => {
            let db = ctx.session.db;
            ctx.add_key(db, key, Value::Stream(Box::default()), Expiry::Clear)
        }
    };
    if stream_at(ctx, slot).groups.contains_key(group) {
        return Err(CmdError::new("BUSYGROUP Consumer Group name already exists"));
    }
    with_stream(ctx, slot, |s| s.groups.insert(group.to_vec(), ConsumerGroup::new(id, entries_read)));
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xgroup-create", key);
    ctx.out.ok();
    Ok(())
}

pub fn xgroup_setid(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() != 5 && args.len() != 7 {
        return Err(subcommand_error(args));
    }
    let (entries_read, _) = entries_read_option(args, false)?;
    let slot = xgroup_group(ctx, args)?;
    let id = if args[4] == b"$" { stream_at(ctx, slot).last_id } else { parse_id(args[4], 0, false)? };
    with_group(ctx, slot, args[3], |g, _| {
        g.last_id = id;
        g.entries_read = entries_read;
    });
    ctx.dirty(1);
    ctx.notify(notify::STREAM, "xgroup-setid", args[2]);
    ctx.out.ok();
    Ok(())
}

pub fn xgroup_destroy(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let Some(slot) = xgroup_stream(ctx, args, false)? else { return Err(CmdError::new(NEEDS_KEY)) };
    let removed = with_stream(ctx, slot, |s| s.groups.remove(args[3]).is_some());
    if removed {
        ctx.dirty(1);
        ctx.notify(notify::STREAM, "xgroup-destroy", args[2]);
        // Clients blocked reading the group get NOGROUP.
        let db = ctx.session.db;
        ctx.ks.blocking.signal_ready(db, args[2]);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

pub fn xgroup_createconsumer(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let slot = xgroup_group(ctx, args)?;
    let now = group_clock();
    let created = with_group(ctx, slot, args[3], |g, _| g.consumer(args[4], now).1);
    if created {
        ctx.dirty(1);
        ctx.notify(notify::STREAM, "xgroup-createconsumer", args[2]);
    }
    ctx.out.int(created as i64);
    Ok(())
}

pub fn xgroup_delconsumer(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let slot = xgroup_group(ctx, args)?;
    let pending = with_group(ctx, slot, args[3], |g, _| g.remove_consumer(args[4]));
    if pending.is_some() {
        ctx.dirty(1);
        ctx.notify(notify::STREAM, "xgroup-delconsumer", args[2]);
    }
    ctx.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

pub fn xgroup_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    super::introspection::help_reply(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

pub fn xack(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let slot = find_stream(ctx, args[1], true)?;
    let Some(slot) = slot.filter(|s| stream_at(ctx, *s).groups.contains_key(args[2])) else {
        ctx.out.int(0);
        return Ok(());
    };
    let ids = args[3..].iter().map(|a| parse_id(a, 0, true)).collect::<Result<Vec<_>, _>>()?;
    let acked = with_group(ctx, slot, args[2], |g, _| ids.iter().filter(|id| g.ack(**id)).count());
    ctx.dirty(acked as u64);
    ctx.out.int(acked as i64);
    Ok(())
}

pub fn xpending(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() != 3 && !(6..=9).contains(&args.len()) {
        return Err(SYNTAX);
    }
    let mut range = None;
    if args.len() >= 6 {
        let (mut at, mut min_idle) = (3, 0i64);
        if is(args[3], "idle") {
            min_idle = int_arg(args[4])?;
            if args.len() < 8 {
                return Err(SYNTAX);
            }
            at += 2;
        }
        let count = int_arg(args[at + 2])?.max(0) as usize;
        let start = parse_bound(args[at], true)?;
        let end = parse_bound(args[at + 1], false)?;
        range = Some((min_idle, start, end, count, args.get(at + 3).copied()));
    }
    let slot = group_slot(ctx, args[1], args[2])?;
    let now = group_clock();
    let (s, out) = stream_and_out(ctx, slot);
    let group = &s.groups[args[2]];
    let Some((min_idle, start, end, count, consumer)) = range else {
        // The summary: count, smallest and greatest ID, and entries per consumer.
        let pel = &group.pel;
        let owners: Vec<(&[u8], usize)> = group
            .consumers
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(n, c)| (&**n, c.pending.len()))
            .collect();
        out.array(4);
        out.int(pel.len() as i64);
        match (pel.keys().next(), pel.keys().next_back()) {
            (Some(first), Some(last)) => {
                bulk_id(out, *first);
                bulk_id(out, *last);
                out.array(owners.len());
                for (name, n) in owners {
                    out.array(2);
                    out.bulk(name);
                    out.bulk(n.to_string().as_bytes());
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    };
    // From START on, as far as END or until COUNT entries passed the IDLE test (each visit a step of work).
    let pel = &group.pel;
    let idle_enough =
        |(_, p): &(StreamId, &Pending)| min_idle == 0 || (now as i64 - p.delivery_time as i64) >= min_idle;
    let rows: Vec<(StreamId, &Pending)> = match consumer {
        Some(name) => match group.consumers.get(name) {
            Some(c) => keel_pace::paced(c.pending.range(start..))
                .take_while(|id| **id <= end)
                .filter_map(|id| pel.get(id).map(|p| (*id, p)))
                .filter(idle_enough)
                .take(count)
                .collect(),
            None => Vec::new(),
        },
        None => keel_pace::paced(pel.range(start..))
            .take_while(|(id, _)| **id <= end)
            .map(|(id, p)| (*id, p))
            .filter(idle_enough)
            .take(count)
            .collect(),
    };
    out.array(rows.len());
    for (id, p) in rows {
        out.array(4);
        bulk_id(out, id);
        out.bulk(&p.consumer);
        out.int((now as i64 - p.delivery_time as i64).max(0));
        out.int(p.delivery_count as i64);
    }
    Ok(())
}

/// One claimed entry's reply: its ID (JUSTID) or the whole entry.
fn reply_claimed(ctx: &mut Ctx, slot: usize, id: StreamId, justid: bool) {
    let (s, out) = stream_and_out(ctx, slot);
    if justid {
        bulk_id(out, id);
    } else {
        match s.get(id) {
            Some(entry) => reply_entry(out, &entry),
            None => out.null_array(),
        }
    }
}

/// XCLAIM's options after the IDs.
struct ClaimOptions {
    force: bool,
    justid: bool,
    /// The claimed entries' new delivery time (IDLE or TIME; now when neither, or out of range).
    delivery_time: u64,
    retry_count: Option<i64>,
    last_id: StreamId,
}

impl ClaimOptions {
    fn parse(args: &[&[u8]], now: u64) -> Result<ClaimOptions, CmdError> {
        let (mut force, mut justid) = (false, false);
        let (mut delivery_time, mut retry_count, mut last_id) = (None::<i64>, None::<i64>, StreamId::MIN);
        let mut j = 0;
        while j < args.len() {
            let more = args.len() - 1 - j;
            let opt = args[j];
            let number = |arg: &[u8], what: &str| {
                int_arg(arg).map_err(|_| CmdError::new(format!("ERR Invalid {what} option argument for XCLAIM")))
            };
            if is(opt, "force") {
                force = true;
            } else if is(opt, "justid") {
                justid = true;
            } else if is(opt, "idle") && more > 0 {
                j += 1;
                delivery_time = Some(now as i64 - number(args[j], "IDLE")?);
            } else if is(opt, "time") && more > 0 {
                j += 1;
                delivery_time = Some(number(args[j], "TIME")?);
            } else if is(opt, "retrycount") && more > 0 {
                j += 1;
                retry_count = Some(number(args[j], "RETRYCOUNT")?);
            } else if is(opt, "lastid") && more > 0 {
                j += 1;
                last_id = parse_id(args[j], 0, true)?;
            } else {
                return Err(CmdError::new(format!("ERR Unrecognized XCLAIM option '{}'", text(opt))));
            }
            j += 1;
        }
        let delivery_time = match delivery_time {
            Some(t) if t >= 0 && t <= now as i64 => t as u64,
            _ => now,
        };
        Ok(ClaimOptions { force, justid, delivery_time, retry_count, last_id })
    }
}

pub fn xclaim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let slot = group_slot(ctx, key, group)?;
    let min_idle =
        int_arg(args[4]).map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XCLAIM"))?.max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < args.len() {
        match StreamId::parse(args[j], 0, true, false) {
            Some((id, _)) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let now = group_clock();
    let ClaimOptions { force, justid, delivery_time, retry_count, last_id } = ClaimOptions::parse(&args[j..], now)?;
    let mut log: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut claimed = Vec::new();
    let mut consumer_created = false;
    let propagate_last = with_group(ctx, slot, group, |g, s| {
        let mut propagate_last = false;
        if last_id > g.last_id {
            g.last_id = last_id;
            propagate_last = true;
        }
        for id in &ids {
            let exists = s.get(*id).is_some();
            if !exists {
                if let Some(p) = g.pel.get(id) {
                    log.push(claim_log(
                        key,
                        group,
                        &p.consumer.clone(),
                        *id,
                        p.delivery_time,
                        p.delivery_count,
                        g.last_id,
                    ));
                    propagate_last = false;
                    g.ack(*id);
                }
                continue;
            }
            if force && !g.pel.contains_key(id) {
                // A FORCEd entry has no owner yet, so no idle time to check.
                g.pel.insert(*id, Pending { consumer: Box::default(), delivery_time: now, delivery_count: 0 });
            }
            let Some(p) = g.pel.get(id) else { continue };
            if !p.consumer.is_empty() && min_idle > 0 && now.saturating_sub(p.delivery_time) < min_idle {
                continue;
            }
            let (c, created) = g.consumer(consumer, now);
            c.seen_time = now;
            c.active_time = Some(now);
            consumer_created |= created;
            g.transfer(*id, consumer);
            if let Some(p) = g.pel.get_mut(id) {
                p.delivery_time = delivery_time;
                match retry_count {
                    Some(n) if n >= 0 => p.delivery_count = n as u64,
                    _ if !justid => p.delivery_count += 1,
                    _ => {}
                }
                log.push(claim_log(key, group, consumer, *id, p.delivery_time, p.delivery_count, g.last_id));
            }
            propagate_last = false;
            claimed.push(*id);
        }
        if propagate_last {
            log.push(setid_log(key, group, g.last_id, g.entries_read));
        }
        propagate_last
    });
    if consumer_created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty(log.len() as u64 + propagate_last as u64);
    log.iter().for_each(|command| ctx.ks.log.rewrite(command));
    ctx.out.array(claimed.len());
    for id in claimed {
        reply_claimed(ctx, slot, id, justid);
    }
    Ok(())
}

pub fn xautoclaim(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, group, consumer) = (args[1], args[2], args[3]);
    let min_idle =
        int_arg(args[4]).map_err(|_| CmdError::new("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?.max(0) as u64;
    let start = parse_bound(args[5], true)?;
    let (mut count, mut justid) = (100usize, false);
    let mut j = 6;
    while j < args.len() {
        if is(args[j], "count") && j + 1 < args.len() {
            let max = i64::MAX / 16;
            count = int_arg(args[j + 1])
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| CmdError::new("ERR COUNT must be > 0"))? as usize;
            j += 2;
        } else if is(args[j], "justid") {
            justid = true;
            j += 1;
        } else {
            return Err(SYNTAX);
        }
    }
    let slot = group_slot(ctx, key, group)?;
    let now = group_clock();
    let mut log: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut claimed = Vec::new();
    let mut deleted = Vec::new();
    let mut consumer_created = false;
    let next = with_group(ctx, slot, group, |g, s| {
        let mut attempts = count * 10;
        let mut left = count;
        let mut cursor = start;
        let mut next = StreamId::MIN;
        while attempts > 0 && left > 0 {
            let Some((&id, p)) = g.pel.range(cursor..).next() else { return StreamId::MIN };
            attempts -= 1;
            cursor = match id.incr() {
                Some(c) => c,
                None => StreamId::MAX,
            };
            if s.get(id).is_none() {
                log.push(claim_log(key, group, &p.consumer.clone(), id, p.delivery_time, p.delivery_count, g.last_id));
                g.ack(id);
                deleted.push(id);
                left -= 1;
                continue;
            }
            if min_idle > 0 && now.saturating_sub(p.delivery_time) < min_idle {
                continue;
            }
            let (c, created) = g.consumer(consumer, now);
            c.seen_time = now;
            c.active_time = Some(now);
            consumer_created |= created;
            g.transfer(id, consumer);
            if let Some(p) = g.pel.get_mut(&id) {
                p.delivery_time = now;
                if !justid {
                    p.delivery_count += 1;
                }
                log.push(claim_log(key, group, consumer, id, p.delivery_time, p.delivery_count, g.last_id));
            }
            claimed.push(id);
            left -= 1;
        }
        if let Some((&id, _)) = g.pel.range(cursor..).next() {
            next = id;
        }
        next
    });
    if consumer_created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    ctx.dirty(log.len() as u64);
    log.iter().for_each(|command| ctx.ks.log.rewrite(command));
    ctx.out.array(3);
    bulk_id(ctx.out, next);
    ctx.out.array(claimed.len());
    for id in claimed {
        reply_claimed(ctx, slot, id, justid);
    }
    ctx.out.array(deleted.len());
    deleted.iter().for_each(|id| bulk_id(ctx.out, *id));
    Ok(())
}

fn lag(out: &mut ReplyWriter, s: &Stream, g: &ConsumerGroup) {
    match s.lag(g.last_id, g.entries_read) {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

fn entries_read(out: &mut ReplyWriter, g: &ConsumerGroup) {
    match g.entries_read {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

/// The stream XINFO asks about, which must exist.
fn xinfo_stream_slot(ctx: &mut Ctx, key: &[u8]) -> Result<usize, CmdError> {
    find_stream(ctx, key, true)?.ok_or(super::NO_SUCH_KEY)
}

pub fn xinfo_consumers(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let slot = xinfo_stream_slot(ctx, args[2])?;
    let now = group_clock();
    let (s, out) = stream_and_out(ctx, slot);
    let Some(g) = s.groups.get(args[3]) else { return Err(no_group_for_key(args[3], args[2])) };
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(4);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pending.len() as i64);
        out.bulk(b"idle");
        out.int((now as i64 - c.seen_time as i64).max(0));
        out.bulk(b"inactive");
        out.int(c.active_time.map_or(-1, |active| now as i64 - active as i64));
    }
    Ok(())
}

pub fn xinfo_groups(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let slot = xinfo_stream_slot(ctx, args[2])?;
    let (s, out) = stream_and_out(ctx, slot);
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        reply_position(out, s, g);
    }
    Ok(())
}

/// A group's place in its stream, as XINFO GROUPS and XINFO STREAM FULL both list it: `last-delivered-id`,
/// `entries-read` and `lag`.
fn reply_position(out: &mut ReplyWriter, s: &Stream, g: &ConsumerGroup) {
    out.bulk(b"last-delivered-id");
    bulk_id(out, g.last_id);
    out.bulk(b"entries-read");
    entries_read(out, g);
    out.bulk(b"lag");
    lag(out, s, g);
}

/// One group in XINFO STREAM FULL: its position and lag, its pending entries and its consumers (at most
/// `limit` pending entries each).
fn reply_full_group(out: &mut ReplyWriter, s: &Stream, name: &[u8], g: &ConsumerGroup, limit: usize) {
    out.map(7);
    out.bulk(b"name");
    out.bulk(name);
    reply_position(out, s, g);
    out.bulk(b"pel-count");
    out.int(g.pel.len() as i64);
    out.bulk(b"pending");
    let rows: Vec<_> = g.pel.iter().take(limit).collect();
    out.array(rows.len());
    for (id, p) in rows {
        out.array(4);
        bulk_id(out, *id);
        out.bulk(&p.consumer);
        out.int(p.delivery_time as i64);
        out.int(p.delivery_count as i64);
    }
    out.bulk(b"consumers");
    out.array(g.consumers.len());
    for (cname, c) in &g.consumers {
        out.map(5);
        out.bulk(b"name");
        out.bulk(cname);
        out.bulk(b"seen-time");
        out.int(c.seen_time as i64);
        out.bulk(b"active-time");
        out.int(c.active_time.map_or(-1, |active| active as i64));
        out.bulk(b"pel-count");
        out.int(c.pending.len() as i64);
        out.bulk(b"pending");
        let rows: Vec<_> = c.pending.iter().take(limit).collect();
        out.array(rows.len());
        for id in rows {
            let p = g.pel.get(id);
            out.array(3);
            bulk_id(out, *id);
            out.int(p.map_or(0, |p| p.delivery_time) as i64);
            out.int(p.map_or(0, |p| p.delivery_count) as i64);
        }
    }
}

pub fn xinfo_stream(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let mut full = None;
    match args.len() {
        3 => {}
        4 | 6 if is(args[3], "full") => {
            let mut count = 10i64;
            if args.len() == 6 {
                if !is(args[4], "count") {
                    return Err(subcommand_error(args));
                }
                count = int_arg(args[5])?;
                if count < 0 {
                    count = 10;
                }
            }
            full = Some(count as usize);
        }
        _ => return Err(subcommand_error(args)),
    }
    let slot = xinfo_stream_slot(ctx, args[2])?;
    let (s, out) = stream_and_out(ctx, slot);
    out.map(if full.is_some() { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.radix_tree_nodes() as i64);
    out.bulk(b"last-generated-id");
    bulk_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    bulk_id(out, s.max_deleted_entry_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    bulk_id(out, s.first_id);
    let Some(count) = full else {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        for (label, last) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
            out.bulk(label);
            match s.range(StreamId::MIN, StreamId::MAX, 1, last).first() {
                Some(entry) => reply_entry(out, entry),
                None => out.null(),
            }
        }
        return Ok(());
    };
    out.bulk(b"entries");
    let entries = s.range(StreamId::MIN, StreamId::MAX, count, false);
    out.array(entries.len());
    entries.iter().for_each(|e| reply_entry(out, e));
    out.bulk(b"groups");
    out.array(s.groups.len());
    let limit = if count == 0 { usize::MAX } else { count };
    for (name, g) in &s.groups {
        reply_full_group(out, s, name, g, limit);
    }
    Ok(())
}

pub fn xinfo_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    super::introspection::help_reply(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

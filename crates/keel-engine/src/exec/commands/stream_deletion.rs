//! XDELEX and XACKDEL (Redis 8.2): deleting stream entries with a say over consumer groups' references to
//! them. KEEPREF (the default) leaves the groups' pending-entries lists alone; DELREF takes the entry out
//! of every group's PEL too; ACKED deletes only an entry no group still needs, one that no group has
//! pending and every group has already delivered. Each ID gets its own code: -1 when there was nothing
//! to act on, 1 when the entry is gone, 2 when ACKED kept it for a group that still needs it. Replaying
//! either command on the same data does the same, so both are logged as they came. XADD and XTRIM take the
//! same policies for what their trimming removes (`streams.rs`).

use super::streams::{find_stream, parse_id, stream_at, with_stream};
use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX};
use crate::notify;
use keel_store::stream_group::RefPolicy;
use keel_store::{Stream, StreamId};

const NOT_FOUND: i64 = -1;
const DELETED: i64 = 1;
const STILL_REFERENCED: i64 = 2;

/// `[KEEPREF | DELREF | ACKED] IDS numids id...` from `args[from..]`.
fn parse_policy_and_ids(args: &[&[u8]], from: usize) -> Result<(RefPolicy, Vec<StreamId>), CmdError> {
    let (mut policy, mut ids) = (None, None);
    let mut i = from;
    while i < args.len() {
        if let (Some(chosen), None) = (RefPolicy::parse(args[i]), policy) {
            policy = Some(chosen);
            i += 1;
        } else if is(args[i], "ids") && ids.is_none() && i + 1 < args.len() {
            let count = int_arg(args[i + 1]).ok().filter(|n| *n >= 1);
            let count = count.ok_or_else(|| CmdError::new("ERR Number of IDs must be a positive integer"))? as usize;
            let listed = args
                .get(i + 2..i + 2 + count)
                .ok_or_else(|| CmdError::new("ERR The `numids` parameter must match the number of arguments"))?;
            ids = Some(listed.iter().map(|a| parse_id(a, 0, true)).collect::<Result<Vec<_>, _>>()?);
            i += 2 + count;
        } else {
            return Err(SYNTAX);
        }
    }
    Ok((policy.unwrap_or(RefPolicy::KeepRef), ids.ok_or(SYNTAX)?))
}

/// Deletes entry `id` as `policy` says, the group references that policy drops with it.
fn delete_entry(stream: &mut Stream, id: StreamId, policy: RefPolicy) -> i64 {
    if policy == RefPolicy::Acked && stream.still_needed(id) {
        return STILL_REFERENCED;
    }
    if policy == RefPolicy::DelRef {
        stream.drop_references(&[id]);
    }
    stream.delete(id);
    DELETED
}

fn reply_codes(ctx: &mut Ctx, key: &[u8], codes: &[i64]) {
    let changed = codes.iter().filter(|c| **c != NOT_FOUND).count();
    if codes.contains(&DELETED) {
        ctx.notify(notify::STREAM, "xdel", key);
    }
    ctx.dirty(changed as u64);
    ctx.out.array(codes.len());
    codes.iter().for_each(|c| ctx.out.int(*c));
}

/// XDELEX key [KEEPREF|DELREF|ACKED] IDS numids id...
pub fn xdelex(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (policy, ids) = parse_policy_and_ids(args, 2)?;
    let codes = match find_stream(ctx, args[1], false)? {
        Some(slot) => with_stream(ctx, slot, |s| {
            ids.iter().map(|id| if s.get(*id).is_some() { delete_entry(s, *id, policy) } else { NOT_FOUND }).collect()
        }),
        None => vec![NOT_FOUND; ids.len()],
    };
    reply_codes(ctx, args[1], &codes);
    Ok(())
}

/// XACKDEL key group [KEEPREF|DELREF|ACKED] IDS numids id...: acknowledges each ID in `group` (-1 when it
/// was not pending there), then deletes the entry as XDELEX does.
pub fn xackdel(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (policy, ids) = parse_policy_and_ids(args, 3)?;
    let slot = find_stream(ctx, args[1], false)?.filter(|slot| stream_at(ctx, *slot).groups.contains_key(args[2]));
    let codes = match slot {
        Some(slot) => with_stream(ctx, slot, |s| {
            let mut ack_and_delete = |id: &StreamId| match s.groups.get_mut(args[2]).is_some_and(|g| g.ack(*id)) {
                true => delete_entry(s, *id, policy),
                false => NOT_FOUND,
            };
            ids.iter().map(&mut ack_and_delete).collect()
        }),
        None => vec![NOT_FOUND; ids.len()],
    };
    reply_codes(ctx, args[1], &codes);
    Ok(())
}

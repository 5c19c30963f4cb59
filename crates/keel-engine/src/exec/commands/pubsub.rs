//! Pub/sub commands (Redis's pubsub.c): (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, (S)PUBLISH and PUBSUB. Replies to
//! subscription changes are pushes (arrays in RESP2); messages reach subscribers through their feed.

use super::{CmdResult, Ctx};
use crate::clients::flag;
use crate::state::pubsub::Kind;

fn subscribe(ctx: &mut Ctx, names: &[&[u8]], kind: Kind) -> CmdResult {
    let feed = ctx.session.feed();
    let (client, resp) = (ctx.session.info.clone(), ctx.session.resp);
    let verb = match kind {
        Kind::Channel => "subscribe",
        Kind::Pattern => "psubscribe",
        Kind::Shard => "ssubscribe",
    };
    for name in names {
        if ctx.ks.pubsub.subscribe(&client, &feed, resp, kind, name) {
            ctx.session.subscriptions.of(kind).push(name.to_vec());
        }
        ctx.out.push(3);
        ctx.out.bulk(verb.as_bytes());
        ctx.out.bulk(name);
        ctx.out.int(ctx.session.subscriptions.count(kind) as i64);
    }
    ctx.session.info.set_flag(flag::PUBSUB, true);
    publish_counts(ctx);
    ctx.session.pushing = true;
    Ok(())
}

fn unsubscribe(ctx: &mut Ctx, names: &[&[u8]], kind: Kind) -> CmdResult {
    let verb: &[u8] = match kind {
        Kind::Channel => b"unsubscribe",
        Kind::Pattern => b"punsubscribe",
        Kind::Shard => b"sunsubscribe",
    };
    let targets: Vec<Vec<u8>> = if names.is_empty() {
        ctx.session.subscriptions.of(kind).clone()
    } else {
        names.iter().map(|n| n.to_vec()).collect()
    };
    if targets.is_empty() {
        ctx.out.push(3);
        ctx.out.bulk(verb);
        ctx.out.null();
        ctx.out.int(ctx.session.subscriptions.count(kind) as i64);
    }
    let id = ctx.session.id();
    for name in targets {
        if ctx.ks.pubsub.unsubscribe(id, kind, &name) {
            ctx.session.subscriptions.of(kind).retain(|n| *n != name);
        }
        ctx.out.push(3);
        ctx.out.bulk(verb);
        ctx.out.bulk(&name);
        ctx.out.int(ctx.session.subscriptions.count(kind) as i64);
    }
    if ctx.session.subscriptions.is_empty() {
        ctx.ks.pubsub.forget(id);
        ctx.session.info.set_flag(flag::PUBSUB, false);
    }
    publish_counts(ctx);
    ctx.session.pushing = true;
    Ok(())
}

/// Ends every subscription of the session (RESET).
pub fn unsubscribe_all(ctx: &mut Ctx) {
    if !ctx.session.subscriptions.is_empty() {
        let subscriptions = std::mem::take(&mut ctx.session.subscriptions);
        ctx.ks.pubsub.remove_client(ctx.session.id(), &subscriptions);
        ctx.session.info.set_flag(flag::PUBSUB, false);
        publish_counts(ctx);
    }
}

pub fn cmd_subscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    subscribe(ctx, &args[1..], Kind::Channel)
}

pub fn cmd_psubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    subscribe(ctx, &args[1..], Kind::Pattern)
}

pub fn cmd_ssubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    subscribe(ctx, &args[1..], Kind::Shard)
}

pub fn cmd_unsubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    unsubscribe(ctx, &args[1..], Kind::Channel)
}

pub fn cmd_punsubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    unsubscribe(ctx, &args[1..], Kind::Pattern)
}

pub fn cmd_sunsubscribe(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    unsubscribe(ctx, &args[1..], Kind::Shard)
}

fn publish_to(ctx: &mut Ctx, args: &[&[u8]], shard: bool) -> CmdResult {
    let limit = ctx.server.settings.read().client_output_buffer_limit.pubsub;
    let receivers = ctx.ks.pubsub.publish(args[1], args[2], shard, limit);
    ctx.ks.log.publish(ctx.session.db, args);
    ctx.out.int(receivers as i64);
    Ok(())
}

pub fn publish(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    publish_to(ctx, args, false)
}

pub fn spublish(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    publish_to(ctx, args, true)
}

fn channels(ctx: &mut Ctx, args: &[&[u8]], shard: bool) -> CmdResult {
    let names: Vec<Vec<u8>> =
        ctx.ks.pubsub.channel_names(shard, args.get(2).copied()).into_iter().map(<[u8]>::to_vec).collect();
    ctx.out.array(names.len());
    names.iter().for_each(|n| ctx.out.bulk(n));
    Ok(())
}

pub fn pubsub_channels(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    channels(ctx, args, false)
}

pub fn pubsub_shardchannels(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    channels(ctx, args, true)
}

fn numsub(ctx: &mut Ctx, args: &[&[u8]], shard: bool) -> CmdResult {
    // A flat array of channel, count pairs, in RESP3 too (as Redis 7.0 replies).
    ctx.out.array((args.len() - 2) * 2);
    for channel in &args[2..] {
        ctx.out.bulk(channel);
        ctx.out.int(ctx.ks.pubsub.subscriber_count(shard, channel) as i64);
    }
    Ok(())
}

pub fn pubsub_numsub(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    numsub(ctx, args, false)
}

pub fn pubsub_shardnumsub(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    numsub(ctx, args, true)
}

pub fn pubsub_numpat(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.ks.pubsub.pattern_count() as i64);
    Ok(())
}

pub fn pubsub_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    super::introspection::help_reply(
        ctx,
        "PUBSUB",
        &[
            "CHANNELS [<pattern>]",
            "    Return the currently active channels matching a <pattern> (default: '*').",
            "NUMPAT",
            "    Return number of subscriptions to patterns.",
            "NUMSUB [<channel> ...]",
            "    Return the number of subscribers for the specified channels, excluding",
            "    pattern subscriptions(default: no channels).",
            "SHARDCHANNELS [<pattern>]",
            "    Return the currently active shard level channels matching a <pattern> (default: '*').",
            "SHARDNUMSUB [<shardchannel> ...]",
            "    Return the number of subscribers for the specified shard level channel(s)",
        ],
    );
    Ok(())
}

/// What CLIENT LIST shows of this client's subscriptions.
fn publish_counts(ctx: &mut Ctx) {
    let s = &ctx.session.subscriptions;
    ctx.session.info.set_subscriptions(s.channels.len(), s.patterns.len(), s.shard.len());
}

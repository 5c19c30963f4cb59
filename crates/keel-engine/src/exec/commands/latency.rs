//! LATENCY (Redis's latency.c): the events the latency monitor recorded (LATEST, HISTORY, GRAPH, DOCTOR,
//! RESET) and the per-command latency histograms (HISTOGRAM), all of the caller's database.

use super::{CmdResult, Command, Ctx};
use crate::state::command_stats::LATENCY_BOUNDS_US;

/// LATENCY LATEST: each event's name, last sample time and latency, and its worst.
pub fn latest(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let events: Vec<(String, u64, u64, u64)> = ctx
        .ks
        .latency
        .events()
        .filter_map(|(name, e)| e.samples.back().map(|&(time, ms)| (name.clone(), time, ms, e.max)))
        .collect();
    ctx.out.array(events.len());
    for (name, time, ms, max) in events {
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(max as i64);
    }
    Ok(())
}

/// LATENCY HISTORY event: its samples, oldest first.
pub fn history(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(args[2]);
    let samples: Vec<(u64, u64)> =
        ctx.ks.latency.event(&name).map(|e| e.samples.iter().copied().collect()).unwrap_or_default();
    ctx.out.array(samples.len());
    for (time, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

/// LATENCY RESET [event ...]: how many events were forgotten.
pub fn reset(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let names: Vec<String> = args[2..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let count = ctx.ks.latency.reset(&names);
    ctx.out.int(count as i64);
    Ok(())
}

/// LATENCY GRAPH event: the samples as a text chart, one column per sample, highest latency on top.
pub fn graph(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(args[2]).into_owned();
    let Some(event) = ctx.ks.latency.event(&name) else {
        return Err(super::CmdError::new(format!("ERR No samples available for event '{name}'")));
    };
    let (min, max) = event.samples.iter().fold((u64::MAX, 0), |(lo, hi), &(_, ms)| (lo.min(ms), hi.max(ms)));
    let mut text = format!("{name} - high {max} ms, low {min} ms (all time high {} ms)\n", event.max);
    text.push_str(&"-".repeat(80));
    text.push('\n');
    const ROWS: u64 = 4;
    for row in (1..=ROWS).rev() {
        let line: String =
            event.samples.iter().map(|&(_, ms)| if max > 0 && ms * ROWS >= row * max { '#' } else { ' ' }).collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// LATENCY DOCTOR: a human report of the events.
pub fn doctor(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let mut text = String::new();
    let events: Vec<_> = ctx.ks.latency.events().collect();
    if events.is_empty() {
        text.push_str(
            "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest \
             bit. I honestly think you ought to sleep tonight.\n",
        );
    } else {
        text.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, event)) in events.iter().enumerate() {
            let total: u64 = event.samples.iter().map(|&(_, ms)| ms).sum();
            let average = total / event.samples.len().max(1) as u64;
            text.push_str(&format!(
                "{}. {name}: {} latency spikes (average {average}ms, worst all time {}ms).\n",
                i + 1,
                event.samples.len(),
                event.max
            ));
        }
        text.push_str(
            "\nI have a few advices for you:\n\n- Check the slow log (SLOWLOG GET) for the slowest commands.\n",
        );
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// LATENCY HISTOGRAM [command ...]: for each command that ran (all, or those named; a container names its
/// subcommands), its calls and the cumulative count of calls up to each bucket's bound in microseconds.
pub fn histogram(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let table = &ctx.server.commands;
    let mut chosen: Vec<&Command> = Vec::new();
    if args.len() == 2 {
        chosen.extend(table.all().filter(|c| c.subcommands.is_empty()));
    } else {
        for name in &args[2..] {
            let name = String::from_utf8_lossy(name).to_ascii_lowercase();
            let found = match name.split_once('|') {
                Some((parent, sub)) => table.find(parent.as_bytes()).and_then(|p| {
                    p.subcommands.iter().map(|&id| table.get(id)).find(|c| c.spec.name.eq_ignore_ascii_case(sub))
                }),
                None => table.find(name.as_bytes()),
            };
            match found {
                Some(cmd) if !cmd.subcommands.is_empty() => {
                    chosen.extend(cmd.subcommands.iter().map(|&id| table.get(id)))
                }
                Some(cmd) => chosen.push(cmd),
                None => {}
            }
        }
    }
    chosen.sort_by_key(|c| c.id);
    chosen.dedup_by_key(|c| c.id);
    let stats = &ctx.ks.stats.commands;
    let ran: Vec<&Command> = chosen.into_iter().filter(|c| stats.get(c.id).calls > 0).collect();
    ctx.out.map(ran.len());
    for cmd in ran {
        let stat = stats.get(cmd.id);
        ctx.out.bulk(cmd.fullname.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(stat.calls as i64);
        ctx.out.bulk(b"histogram_usec");
        let mut cumulative = 0;
        let buckets: Vec<(u64, u64)> = LATENCY_BOUNDS_US
            .iter()
            .chain(std::iter::once(&u64::MAX))
            .zip(stat.latency.iter())
            .filter(|&(_, &count)| count > 0)
            .map(|(&bound, &count)| {
                cumulative += count;
                (bound, cumulative)
            })
            .collect();
        ctx.out.map(buckets.len());
        for (bound, count) in buckets {
            ctx.out.int(bound.min(i64::MAX as u64) as i64);
            ctx.out.int(count as i64);
        }
    }
    Ok(())
}

/// LATENCY HELP
pub fn help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let lines = [
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
        "HELP",
        "    Print this help.",
    ];
    ctx.out.array(lines.len());
    lines.iter().for_each(|l| ctx.out.simple(l));
    Ok(())
}

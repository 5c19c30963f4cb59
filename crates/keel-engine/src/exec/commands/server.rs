//! Server commands: DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, TIME, CONFIG, SLOWLOG, DEBUG, SHUTDOWN, MONITOR, INFO.

use super::unlocked::Unlocked;
use super::{float_arg, info, int_arg, is, CmdError, CmdResult, Ctx, DB_OUT_OF_RANGE, SYNTAX};
use crate::config::find_param;
use crate::exec::admission::ServerState;
use crate::exec::session::Action;
use keel_store::{Expiry, Value};
use std::time::Duration;

pub fn dbsize(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let len = ctx.db().len();
    ctx.out.int(len as i64);
    Ok(())
}

/// Whether FLUSHDB/FLUSHALL answer before what they took out is freed: ASYNC, or no mode under
/// `lazyfree-lazy-user-flush`. Either way the database is empty when the command answers.
fn flush_async(ctx: &Ctx, args: &[&[u8]]) -> Result<bool, CmdError> {
    match args.get(1) {
        None => Ok(ctx.server.settings.read().lazyfree_lazy_user_flush),
        Some(mode) if args.len() == 2 && is(mode, "async") => Ok(true),
        Some(mode) if args.len() == 2 && is(mode, "sync") => Ok(false),
        Some(_) => Err(SYNTAX),
    }
}

/// Frees what a flush took out of its databases. ASYNC frees it in the background; so does SYNC, as Redis
/// 8 runs it, but its caller's reply waits for the freeing (the other clients do not). Inside MULTI or a
/// script, where nothing waits, SYNC frees it here.
fn dispose(ctx: &mut Ctx, flushed: Vec<keel_store::Flushed>, answer_at_once: bool) {
    if !answer_at_once && (ctx.session.in_exec || ctx.session.in_script) {
        return;
    }
    let done = crate::lazyfree::free_flushed(flushed, &ctx.tenant.lazyfree);
    if !answer_at_once && !done.is_done() {
        ctx.session.action = Some(Action::AwaitFree(done));
    }
}

pub fn flushdb(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let answer_at_once = flush_async(ctx, args)?;
    let removed = ctx.db().len() as u64;
    let flushed = ctx.db().clear();
    dispose(ctx, vec![flushed], answer_at_once);
    ctx.dirty(removed.max(1));
    invalidate_tracked(ctx);
    ctx.out.ok();
    Ok(())
}

/// A flush changed everything: every tracking client hears so (Redis's trackingInvalidateKeysOnFlush).
fn invalidate_tracked(ctx: &mut Ctx) {
    if ctx.ks.tracking.is_active() {
        let (clients, tenant, me) = (&ctx.server.clients, &ctx.tenant.name, ctx.session.id());
        ctx.ks.tracking.flush(me, &ctx.ks.pubsub, &|id| clients.get_in(id, tenant));
    }
}

pub fn flushall(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let answer_at_once = flush_async(ctx, args)?;
    let removed: u64 = ctx.ks.dbs.iter().map(|db| db.len() as u64).sum();
    let flushed: Vec<keel_store::Flushed> = ctx.ks.dbs.iter_mut().map(|db| db.clear()).collect();
    dispose(ctx, flushed, answer_at_once);
    ctx.dirty(removed.max(1));
    invalidate_tracked(ctx);
    ctx.out.ok();
    Ok(())
}

pub fn swapdb(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let first = int_arg(args[1]).map_err(|_| CmdError::new("ERR invalid first DB index"))?;
    let second = int_arg(args[2]).map_err(|_| CmdError::new("ERR invalid second DB index"))?;
    let count = ctx.ks.dbs.len() as i64;
    if !(0..count).contains(&first) || !(0..count).contains(&second) {
        return Err(DB_OUT_OF_RANGE);
    }
    let (low, high) = (first.min(second) as usize, first.max(second) as usize);
    if low != high {
        let (left, right) = ctx.ks.dbs.split_at_mut(high);
        left[low].swap_data(&mut right[0]);
    }
    // Clients blocked in either database may now find a list under their key (Redis does the same).
    let now = ctx.now_ms();
    ctx.ks.note_other_dbs();
    for db in [first as usize, second as usize] {
        for key in ctx.ks.blocking.waited_keys(db) {
            let (slot, _) = ctx.ks.dbs[db].find_live(&key, now);
            if slot.is_some_and(|s| matches!(ctx.ks.dbs[db].value(s), keel_store::Value::List(_))) {
                ctx.ks.blocking.signal_ready(db, &key);
            }
        }
    }
    ctx.dirty(1);
    ctx.out.ok();
    Ok(())
}

pub fn time(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let us = crate::clock::unix_us();
    ctx.out.array(2);
    ctx.out.bulk((us / 1_000_000).to_string().as_bytes());
    ctx.out.bulk((us % 1_000_000).to_string().as_bytes());
    Ok(())
}

pub fn info(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let text = info::render(ctx, &args[1..]);
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

pub fn config_get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let reader = ctx.tenant.config_reader(ctx.session.over_rest);
    let view = ctx.tenant.settings_view(&ctx.server.settings.read());
    let found = view.matching(&args[2..], reader);
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// CONFIG SET: all pairs or none. The administrator changes the server's settings; a provisioned database
/// changes only its own (`Scope::PerDatabase`) and sees the server's layout as if it did not exist.
pub fn config_set(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::new("ERR wrong number of arguments for 'config|set' command"));
    }
    let reader = ctx.tenant.config_reader(ctx.session.over_rest);
    // Applied to a copy, committed only if every pair is valid.
    let mut settings = ctx.tenant.settings_view(&ctx.server.settings.read());
    let mut seen: Vec<&'static str> = Vec::new();
    for pair in args[2..].chunks_exact(2) {
        let name = String::from_utf8_lossy(pair[0]);
        let failed =
            |why: &str| CmdError::new(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
        let unknown = || CmdError::new(format!("ERR Unknown option or number of arguments for CONFIG SET - '{name}'"));
        let param = find_param(&name).filter(|p| p.scope.readable_by(reader) || p.scope.settable_by(reader));
        let param = param.ok_or_else(unknown)?;
        if !param.mutable {
            return Err(failed("can't set immutable config"));
        }
        if !param.scope.settable_by(reader) {
            return Err(failed("can't set protected config"));
        }
        if seen.contains(&param.name) {
            return Err(failed("duplicate parameter"));
        }
        seen.push(param.name);
        let value = std::str::from_utf8(pair[1]).map_err(|_| failed("argument must be valid UTF-8"))?;
        (param.set)(&mut settings, value).map_err(|why| failed(&why))?;
    }
    if reader == crate::config::Reader::Database {
        *ctx.tenant.settings.write() = crate::config::DatabaseSettings::from(&settings);
        ctx.out.ok();
        return Ok(());
    }
    rebind_if_moved(ctx, &settings)?;
    let tls_swap = read_tls_if_named(ctx, &settings, &seen)?;
    let before = std::mem::replace(&mut *ctx.server.settings.write(), settings.clone());
    if let Err(why) = crate::persistence::apply_settings(ctx.ks, &ctx.tenant.persistence, &before, &settings) {
        *ctx.server.settings.write() = before;
        return Err(CmdError::new(format!("ERR CONFIG SET failed - {why}")));
    }
    if let Some(swap) = tls_swap {
        swap();
    }
    // A lower maxmemory (or another policy) evicts now, not at the next command (Redis starts its eviction
    // timer); in a transaction only after it, as Redis's timer runs after EXEC: the commands queued after
    // the CONFIG SET still find what was there.
    let changed = settings.maxmemory != before.maxmemory || settings.maxmemory_policy != before.maxmemory_policy;
    if changed && !ctx.session.in_exec {
        let limits = crate::exec::dispatch::BatchSettings::read(ctx.server, ctx.tenant);
        let clients = ctx.tenant.clients_memory();
        crate::state::eviction::make_room(ctx.ks, &limits.memory, clients, &ctx.clock, ctx.events);
    }
    ctx.out.ok();
    Ok(())
}

/// CONFIG SET bind/port: listens at the new address before anything is committed, so that a port that is
/// taken leaves every setting as it was (Redis's rollback on an apply error). A cluster node keeps its
/// address: the cluster routes to it there.
fn rebind_if_moved(ctx: &Ctx, settings: &crate::config::Settings) -> CmdResult {
    let (bind, port) = {
        let current = ctx.server.settings.read();
        (current.bind.clone(), current.port)
    };
    if settings.bind == bind && settings.port == port {
        return Ok(());
    }
    let name = if settings.port != port { "port" } else { "bind" };
    let failed =
        |why: &str| CmdError::new(format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"));
    if ctx.server.coordinator.get().is_some() {
        return Err(failed("can't move a cluster node: the cluster knows it by its address, restart it instead"));
    }
    let Some(rebind) = ctx.server.rebinder.get() else { return Ok(()) };
    let bound =
        rebind(&settings.bind, settings.port).map_err(|e| failed(&format!("Unable to listen on this port: {e}")))?;
    ctx.server.tcp_port.store(u64::from(bound), std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// CONFIG SET of a TLS file or its password: reads the files again (a certificate rotated in place too)
/// before anything is committed, and returns what puts them in place once it is; a file that cannot be
/// read or used leaves the running TLS, and every setting, as it was.
fn read_tls_if_named(
    ctx: &Ctx,
    settings: &crate::config::Settings,
    named: &[&'static str],
) -> Result<Option<crate::server::TlsSwap>, CmdError> {
    const TLS_FILES: [&str; 4] = ["tls-cert-file", "tls-key-file", "tls-key-file-pass", "tls-ca-cert-file"];
    let Some(name) = named.iter().find(|name| TLS_FILES.contains(name)) else { return Ok(None) };
    let Some(reload) = ctx.server.tls_reloader.get() else { return Ok(None) };
    reload(settings).map(Some).map_err(|why| {
        CmdError::new(format!(
            "ERR CONFIG SET failed (possibly related to argument '{name}') - Unable to update TLS configuration: {why}"
        ))
    })
}

pub fn config_resetstat(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.ks.stats.reset();
    ctx.tenant.lazyfree.freed.store(0, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

pub fn config_rewrite(_ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    Err(CmdError::new("ERR The server is running without a config file"))
}

pub fn slowlog_get(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let count = match args.get(2) {
        Some(arg) => {
            let n = int_arg(arg)?;
            if n < -1 {
                return Err(CmdError::new("ERR count should be greater than or equal to -1"));
            }
            if n == -1 {
                usize::MAX
            } else {
                n as usize
            }
        }
        None => 10,
    };
    let entries: Vec<_> = ctx.ks.slowlog.entries.iter().take(count).collect();
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time_unix as i64);
        ctx.out.int(e.duration_us as i64);
        ctx.out.array(e.args.len());
        for arg in &e.args {
            ctx.out.bulk(arg);
        }
        ctx.out.bulk(e.client_addr.as_bytes());
        ctx.out.bulk(e.client_name.as_bytes());
    }
    Ok(())
}

pub fn slowlog_len(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.ks.slowlog.entries.len() as i64);
    Ok(())
}

pub fn slowlog_reset(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.ks.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

pub fn slowlog_help(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    super::introspection::help_reply(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

pub fn shutdown(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    shutdown_unlocked(&mut ctx.unlocked(), args)
}

/// SHUTDOWN, with or without the lock. While a script is busy only SHUTDOWN NOSAVE is served (Redis's
/// rule), and it stops the script first.
pub fn shutdown_unlocked(u: &mut Unlocked, args: &[&[u8]]) -> CmdResult {
    for arg in &args[1..] {
        if !["nosave", "save", "now", "force", "abort"].iter().any(|o| is(arg, o)) {
            return Err(SYNTAX);
        }
        if is(arg, "abort") {
            return Err(CmdError::new("ERR No shutdown in progress."));
        }
    }
    let flag = |name| args[1..].iter().any(|a| is(a, name));
    if let ServerState::Busy(_) = u.state {
        if !flag("nosave") {
            return Err(u.state_error());
        }
        u.tenant.scripts.force_kill();
    }
    let p = &u.tenant.persistence;
    p.skip_final_save.store(flag("nosave"), std::sync::atomic::Ordering::Relaxed);
    p.force_final_save.store(flag("save"), std::sync::atomic::Ordering::Relaxed);
    u.session.action = Some(Action::Shutdown);
    Ok(())
}

/// INFO while the dataset loads: how far loading has come.
pub fn info_unlocked(u: &mut Unlocked, _args: &[&[u8]]) -> CmdResult {
    if u.state != ServerState::Loading {
        return Err(u.state_error());
    }
    u.out.verbatim("txt", crate::persistence::loading_info(&u.tenant.persistence).as_bytes());
    Ok(())
}

pub fn monitor(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    ctx.session.action = Some(Action::Monitor);
    ctx.out.ok();
    Ok(())
}

pub fn debug(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let sub = args[1];
    if is(sub, "sleep") && args.len() == 3 {
        // Like Redis, DEBUG SLEEP blocks the whole database: it holds the lock while it sleeps.
        let secs = float_arg(args[2])?;
        let pause = Duration::from_secs_f64(secs.clamp(0.0, 3600.0));
        tokio::task::block_in_place(|| std::thread::sleep(pause));
        ctx.out.ok();
    } else if is(sub, "error") && args.len() == 3 {
        // The argument as the error line, as Redis writes it (no `ERR` added).
        return Err(CmdError::new(String::from_utf8_lossy(args[2]).into_owned()));
    } else if is(sub, "populate") && (3..=5).contains(&args.len()) {
        debug_populate(ctx, args)?;
    } else if is(sub, "pause-cron") && args.len() == 3 {
        let paused = int_arg(args[2])? != 0;
        ctx.server.cron_paused.store(paused, std::sync::atomic::Ordering::Relaxed);
        ctx.out.ok();
    } else if is(sub, "set-active-expire") && args.len() == 3 {
        let on = int_arg(args[2])? != 0;
        ctx.server.settings.write().active_expire_enabled = on;
        ctx.out.ok();
    } else if is(sub, "object") && args.len() == 3 {
        let Some(slot) = ctx.lookup_peek(args[2]) else {
            return Err(CmdError::new("ERR no such key"));
        };
        let db = &ctx.ks.dbs[ctx.session.db];
        let value = db.value(slot);
        let length = value.as_string().map_or(0, |s| s.len());
        let idle = ctx.clock.idle_seconds(db.access(slot));
        let text = format!(
            "Value at:0x0 refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
            value.encoding(),
            length,
            db.access(slot),
            idle
        );
        ctx.out.simple(&text);
    } else if is(sub, "reload") {
        super::persistence::debug_reload(ctx, &args[2..])?;
    } else if is(sub, "loadaof") && args.len() == 2 {
        super::persistence::debug_loadaof(ctx)?;
    } else if is(sub, "help") {
        super::introspection::help_reply(
            ctx,
            "DEBUG",
            &[
                "OBJECT <key>",
                "    Show low level info about the key and associated value.",
                "LOADAOF",
                "    Flush the AOF buffers on disk and reload the AOF in memory.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Options: NOSAVE, NOFLUSH.",
                "PAUSE-CRON <0|1>",
                "    Stop periodic cron job processing.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
    } else {
        return Err(CmdError::new(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try DEBUG HELP.",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

fn debug_populate(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let positive = |arg: &[u8]| {
        int_arg(arg)
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| CmdError::new("ERR value is out of range, must be positive"))
    };
    let count = positive(args[2])?;
    let prefix = args.get(3).copied().unwrap_or(b"key");
    let size = args.get(4).map(|a| positive(a)).transpose()?;
    let clock = ctx.clock;
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for i in keel_pace::paced(0..count) {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(i.to_string().as_bytes());
        if ctx.lookup_write(&key).is_some() {
            continue;
        }
        let mut value = format!("value:{i}").into_bytes();
        if let Some(size) = size {
            value.resize(size as usize, 0);
        }
        ctx.db().insert(&key, Value::string_from_vec(value), Expiry::Clear, &clock);
    }
    ctx.dirty(count as u64);
    ctx.out.ok();
    Ok(())
}

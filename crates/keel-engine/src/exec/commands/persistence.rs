//! Commands about the disk: SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF, and DUMP/RESTORE (a value in RDB form).

use super::{int_arg, is, CmdError, CmdResult, Ctx, SYNTAX};
use crate::persistence::snapshot::{save_now, Job};
use crate::persistence::{load, start_job, JobStart};
use keel_persist::dump::{dump as dump_value, restore as restore_value};
use keel_store::Expiry;

pub fn save(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let p = &ctx.tenant.persistence;
    if p.status.lock().rdb_in_progress {
        return Err(CmdError::new("ERR Background save already in progress"));
    }
    let (path, compress) = {
        let s = ctx.server.settings.read();
        (ctx.tenant.persistence.dump_path(&s), s.rdbcompression)
    };
    save_now(ctx.ks, &path, false, compress).map_err(|e| {
        tracing::error!(database = %ctx.tenant.name, "SAVE failed: {e}");
        CmdError::new("ERR")
    })?;
    let mut status = p.status.lock();
    status.rdb_last_save_unix = crate::clock::unix_ms() / 1000;
    status.dirty_at_last_save = ctx.ks.dirty;
    status.rdb_last_bgsave_ok = true;
    status.rdb_saves += 1;
    p.snapshot_failing.store(false, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

pub fn bgsave(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let schedule = match args.get(1) {
        None => false,
        Some(a) if is(a, "schedule") && args.len() == 2 => true,
        Some(_) => return Err(SYNTAX),
    };
    match start_job(ctx.server, ctx.tenant, Job::Rdb, schedule) {
        JobStart::Started => ctx.out.simple("Background saving started"),
        JobStart::Scheduled => ctx.out.simple("Background saving scheduled"),
        JobStart::AlreadyRunning => return Err(CmdError::new("ERR Background save already in progress")),
        JobStart::Busy => {
            return Err(CmdError::new(
                "ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to \
                 schedule a BGSAVE whenever possible.",
            ))
        }
    }
    Ok(())
}

pub fn bgrewriteaof(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    match start_job(ctx.server, ctx.tenant, Job::Rewrite, true) {
        JobStart::Started => ctx.out.simple("Background append only file rewriting started"),
        JobStart::Scheduled => ctx.out.simple("Background append only file rewriting scheduled"),
        JobStart::AlreadyRunning | JobStart::Busy => {
            return Err(CmdError::new("ERR Background append only file rewriting already in progress"))
        }
    }
    Ok(())
}

pub fn lastsave(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let at = ctx.tenant.persistence.status.lock().rdb_last_save_unix;
    ctx.out.int(at as i64);
    Ok(())
}

pub fn dump(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    match ctx.lookup_read(args[1]) {
        Some(slot) => {
            let payload = dump_value(ctx.ks.dbs[ctx.session.db].value(slot));
            ctx.out.bulk(&payload);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`
pub fn restore(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let (key, payload) = (args[1], args[3]);
    keel_pace::bytes_ahead(payload.len());
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, None, None);
    let mut j = 4;
    while j < args.len() {
        if is(args[j], "replace") {
            replace = true;
        } else if is(args[j], "absttl") {
            absttl = true;
        } else if is(args[j], "idletime") && j + 1 < args.len() && freq.is_none() {
            j += 1;
            let n = int_arg(args[j])?;
            if n < 0 {
                return Err(CmdError::new("ERR Invalid IDLETIME value, must be >= 0"));
            }
            idle = Some(n as u64);
        } else if is(args[j], "freq") && j + 1 < args.len() && idle.is_none() {
            j += 1;
            let n = int_arg(args[j])?;
            if !(0..=255).contains(&n) {
                return Err(CmdError::new("ERR Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = Some(n as u8);
        } else {
            return Err(SYNTAX);
        }
        j += 1;
    }
    let ttl = int_arg(args[2])?;
    if ttl < 0 {
        return Err(CmdError::new("ERR Invalid TTL value, must be >= 0"));
    }
    let exists = ctx.lookup_write(key).is_some();
    if exists && !replace {
        return Err(CmdError::new("BUSYKEY Target key name already exists."));
    }
    let value = match restore_value(payload, &load::limits(ctx.server)) {
        Ok(Some(value)) => value,
        Ok(None) => return Err(CmdError::new("ERR Bad data format")),
        Err(e) => return Err(CmdError::new(e.message())),
    };
    let now = ctx.now_ms() as i64;
    let expire_at = match ttl {
        0 => None,
        ttl if absttl => Some(ttl),
        ttl => Some(now.saturating_add(ttl)),
    };
    if exists {
        ctx.db().remove(key);
    }
    if expire_at.is_some_and(|at| at <= now) {
        // Already expired: the key is gone (deleted, when it was replaced).
        if exists {
            ctx.dirty(1);
            ctx.notify(crate::notify::GENERIC, "del", key);
            ctx.propagate_deletion(key);
        }
        ctx.out.ok();
        return Ok(());
    }
    let db = ctx.session.db;
    let slot = ctx.add_key(db, key, value, expire_at.map_or(Expiry::Clear, |at| Expiry::At(at as u64)));
    if let Some(idle) = idle {
        let meta = ctx.clock.idle_since(idle);
        ctx.db().set_access(slot, meta);
    } else if let Some(freq) = freq {
        let meta = ctx.clock.with_counter(freq);
        ctx.db().set_access(slot, meta);
    }
    ctx.dirty(1);
    ctx.notify(crate::notify::GENERIC, "restore", key);
    // A relative TTL is logged absolute (ABSTTL added), so that replaying does not extend it; the other
    // arguments go as given (Redis's form).
    if let (Some(at), false) = (expire_at, absttl) {
        let at = at.to_string();
        let mut logged: Vec<&[u8]> = args.to_vec();
        logged[2] = at.as_bytes();
        logged.push(b"ABSTTL");
        ctx.propagate(&logged);
    }
    ctx.out.ok();
    Ok(())
}

/// `DEBUG RELOAD [NOSAVE] [NOFLUSH]`: saves the dataset, empties memory and loads it back from the file.
pub(super) fn debug_reload(ctx: &mut Ctx, options: &[&[u8]]) -> CmdResult {
    let (mut save, mut flush) = (true, true);
    for option in options {
        if is(option, "nosave") {
            save = false;
        } else if is(option, "noflush") {
            flush = false;
        } else {
            return Err(CmdError::new("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."));
        }
    }
    let (path, compress) = {
        let s = ctx.server.settings.read();
        (ctx.tenant.persistence.dump_path(&s), s.rdbcompression)
    };
    if save {
        save_now(ctx.ks, &path, false, compress)
            .map_err(|e| CmdError::new(format!("ERR Error trying to save the DB: {e}")))?;
    }
    if flush {
        ctx.ks.dbs.iter_mut().for_each(|db| drop(db.clear()));
    }
    let limits = load::limits(ctx.server);
    load::load_rdb(ctx.ks, &ctx.tenant.scripts, &path, &limits, false)
        .map_err(|e| CmdError::new(format!("ERR Error trying to load the RDB dump: {e}")))?;
    ctx.out.ok();
    Ok(())
}

/// `DEBUG LOADAOF`: writes out the log, empties memory and replays the log from its files.
pub(super) fn debug_loadaof(ctx: &mut Ctx) -> CmdResult {
    let p = &ctx.tenant.persistence;
    let Some(m) = p.manifest.lock().clone() else {
        return Err(CmdError::new("ERR Append only file is not enabled"));
    };
    if !p.log_enabled() {
        return Err(CmdError::new("ERR Append only file is not enabled"));
    }
    ctx.tenant.flush_expired(ctx.server, ctx.ks);
    p.submit(&mut ctx.ks.log);
    p.wait_written();
    let (log_dir, truncate_ok) = {
        let s = ctx.server.settings.read();
        (ctx.tenant.persistence.log_dir(&s), s.aof_load_truncated)
    };
    ctx.ks.dbs.iter_mut().for_each(|db| drop(db.clear()));
    load::enable_log_buffer(ctx.ks, false);
    let loaded = load::load_log(ctx.server, ctx.tenant, ctx.ks, &log_dir, &m, truncate_ok);
    load::enable_log_buffer(ctx.ks, true);
    loaded.map_err(|e| CmdError::new(format!("ERR Error trying to load the AOF files: {e}")))?;
    ctx.out.ok();
    Ok(())
}

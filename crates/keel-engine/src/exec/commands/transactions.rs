//! Transactions (Redis's multi.c): MULTI queues commands, EXEC runs them back to back inside the database's
//! critical section, so no other client's command runs in between; DISCARD drops them; WATCH makes EXEC
//! fail when a watched key changed before it. Queuing itself
//! happens in dispatch, which knows which commands control the transaction.

use super::unlocked::Unlocked;
use super::{CmdError, CmdResult, Ctx};
use crate::clients::flag;
use crate::exec::dispatch::{execute, BatchClock, BatchSettings, Env};
use crate::exec::session::{Action, Transaction};

pub fn multi(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    multi_unlocked(&mut ctx.unlocked(), args)
}

/// MULTI needs no data: it is served while a script is busy too.
pub fn multi_unlocked(u: &mut Unlocked, _args: &[&[u8]]) -> CmdResult {
    if u.session.transaction.is_some() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    u.session.transaction = Some(Transaction::default());
    u.session.info.set_flag(flag::MULTI, true);
    u.out.ok();
    Ok(())
}

/// DISCARD while a script is busy: served unless the client watches keys, which only the lock can forget.
pub fn discard_unlocked(u: &mut Unlocked, _args: &[&[u8]]) -> CmdResult {
    if u.session.watching {
        return Err(u.state_error());
    }
    if u.session.transaction.take().is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    u.session.info.set_flag(flag::MULTI, false);
    u.out.ok();
    Ok(())
}

pub fn discard(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.session.transaction.take().is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    ctx.session.info.set_flag(flag::MULTI, false);
    unwatch_all(ctx);
    ctx.out.ok();
    Ok(())
}

pub fn exec(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let Some(transaction) = ctx.session.transaction.take() else {
        return Err(CmdError::new("ERR EXEC without MULTI"));
    };
    ctx.session.info.set_flag(flag::MULTI, false);
    // A watched key that expired since WATCH counts as changed: reclaiming it records the change.
    let now = ctx.now_ms();
    ctx.ks.note_other_dbs();
    for (db, key) in ctx.ks.watches.keys_of(ctx.session.id()) {
        ctx.ks.dbs[db].find_live(&key, now);
    }
    let ks = &mut *ctx.ks;
    ks.dispatch_changes(ctx.session.id(), &|id| ctx.server.clients.get_in(id, &ctx.tenant.name), None);
    let watched_changed = ks.watches.is_dirty(ctx.session.id());
    unwatch_all(ctx);
    if transaction.aborted {
        return Err(CmdError::new("EXECABORT Transaction discarded because of previous errors."));
    }
    if watched_changed {
        ctx.out.null_array();
        return Ok(());
    }
    let mut env = Env { server: ctx.server, tenant: ctx.tenant, settings: BatchSettings::read(ctx.server, ctx.tenant) };
    let mut clock = BatchClock::starting_at(ctx.now_ms());
    ctx.out.array(transaction.queued.len());
    // EXEC's own dispatch serves blocked clients once the whole transaction has run.
    ctx.ks.blocking.hold(true);
    // The log gets the transaction's effects as one MULTI/EXEC block, which a crash cannot split.
    let log_mark = ctx.ks.log.enabled.then(|| ctx.ks.log.begin_transaction());
    ctx.session.in_exec = true;
    for command in &transaction.queued {
        let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
        execute(&env, &mut clock, ctx.ks, ctx.session, ctx.out, &args);
        if BatchSettings::changed_by(&args) {
            env.settings = BatchSettings::read(ctx.server, ctx.tenant);
        }
        // Inside a transaction a blocking command never blocks: it answers as if it had timed out.
        if let Some(Action::Block(_)) = ctx.session.action {
            ctx.session.action = None;
            ctx.out.null_array();
        }
    }
    ctx.session.in_exec = false;
    ctx.session.exec_over_quota = false;
    if let Some(mark) = log_mark {
        ctx.ks.log.end_transaction(mark);
    }
    ctx.ks.blocking.hold(false);
    Ok(())
}

pub fn watch(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.session.transaction.is_some() {
        return Err(CmdError::new("ERR WATCH inside MULTI is not allowed"));
    }
    let (client, db) = (ctx.session.id(), ctx.session.db);
    for key in &args[1..] {
        let ks = &mut *ctx.ks;
        ks.watches.watch(&mut ks.dbs, client, db, key);
    }
    ctx.session.watching = true;
    ctx.out.ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx);
    ctx.out.ok();
    Ok(())
}

/// Forgets every key the client watches.
pub fn unwatch_all(ctx: &mut Ctx) {
    let ks = &mut *ctx.ks;
    if std::mem::take(&mut ctx.session.watching) {
        ks.watches.unwatch_all(&mut ks.dbs, ctx.session.id());
    }
}

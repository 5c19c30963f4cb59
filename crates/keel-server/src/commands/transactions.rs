//! Transactions (Redis's multi.c): MULTI queues commands, EXEC runs them back to back inside the database's
//! critical section, so no other client's command runs in between; DISCARD drops them. Queuing itself
//! happens in dispatch, which knows which commands control the transaction.

use super::{CmdError, CmdResult, Ctx};
use crate::clients::flag;
use crate::dispatch::{execute, BatchClock, BatchSettings, Env};
use crate::session::{Action, Transaction};

pub fn multi(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.session.transaction.is_some() {
        return Err(CmdError::new("ERR MULTI calls can not be nested"));
    }
    ctx.session.transaction = Some(Transaction::default());
    ctx.session.info.set_flag(flag::MULTI, true);
    ctx.out.ok();
    Ok(())
}

pub fn discard(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    if ctx.session.transaction.take().is_none() {
        return Err(CmdError::new("ERR DISCARD without MULTI"));
    }
    ctx.session.info.set_flag(flag::MULTI, false);
    ctx.out.ok();
    Ok(())
}

pub fn exec(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let Some(transaction) = ctx.session.transaction.take() else {
        return Err(CmdError::new("ERR EXEC without MULTI"));
    };
    ctx.session.info.set_flag(flag::MULTI, false);
    if transaction.aborted {
        return Err(CmdError::new("EXECABORT Transaction discarded because of previous errors."));
    }
    let env = Env { server: ctx.server, tenant: ctx.tenant, settings: BatchSettings::read(ctx.server) };
    let mut clock = BatchClock::start();
    ctx.out.array(transaction.queued.len());
    for command in &transaction.queued {
        let args: Vec<&[u8]> = command.iter().map(Vec::as_slice).collect();
        execute(&env, &mut clock, ctx.ks, ctx.session, ctx.out, &args);
        // Inside a transaction a blocking command never blocks: it answers as if it had timed out.
        if let Some(Action::Block(_)) = ctx.session.action {
            ctx.session.action = None;
            ctx.out.null_array();
        }
    }
    Ok(())
}

//! What a command asks of its connection beyond its reply (Session's `Action`): close, block for a key,
//! wait for replicas or the log, replicate, relay to another node, switch database, monitor. Carried out
//! between two commands of a batch; those that end the batch say what the connection does next.

use super::{Next, Waiting};
use keel_engine::clients::flag;
use keel_engine::exec::batch::Batch;
use keel_engine::exec::session::{Action, Session};
use keel_engine::server::Server;
use keel_engine::state::blocking::Waiter;
use keel_engine::state::tenant::{Monitor, Tenant};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Carries out what a command asked of the connection; Some when the batch must stop here.
pub(super) fn act(
    server: &Server,
    session: &mut Session,
    switch_to: &mut Option<Arc<Tenant>>,
    batch: &mut Batch,
    action: Action,
    args: &[&[u8]],
) -> Option<Next> {
    match action {
        Action::Close => Some(Next::Close),
        Action::Paused => Some(Next::Paused),
        Action::Replicate(request) => Some(Next::Replicate(request)),
        Action::Relay(remote) => Some(Next::Relay(remote, args.iter().map(|a| a.to_vec()).collect())),
        Action::Wait { offset, replicas, timeout } => {
            let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
            Some(Next::Wait(Waiting::Replicas { offset, replicas }, deadline))
        }
        Action::WaitAof(wait) => {
            let deadline = wait.timeout.map(|t| tokio::time::Instant::now() + t);
            Some(Next::Wait(Waiting::Aof(wait), deadline))
        }
        Action::AwaitFree(done) => Some(Next::Wait(Waiting::Freed(done), None)),
        Action::Shutdown => {
            server.begin_shutdown();
            Some(Next::Close)
        }
        Action::Block(request) => {
            let ks = batch.keyspace()?;
            let (reply, waiting) = oneshot::channel();
            let owned = request.rerun.unwrap_or_else(|| args.iter().map(|a| a.to_vec()).collect());
            ks.blocking.register(Waiter {
                client: session.info.clone(),
                db: session.db,
                resp: session.resp,
                args: owned,
                keys: request.keys,
                reply,
            });
            session.info.set_flag(flag::BLOCKED, true);
            let deadline = request.timeout.map(|t| tokio::time::Instant::now() + t);
            Some(Next::Block(waiting, deadline))
        }
        Action::SwitchTenant(name) => {
            // The commands after AUTH run in the new database: stop this batch here.
            *switch_to = server.tenants.read().get(&name).cloned();
            Some(Next::Continue)
        }
        Action::Monitor => {
            let feed = session.feed();
            let ks = batch.keyspace()?;
            ks.monitors.push(Monitor { client: session.info.clone(), feed });
            session.info.set_flag(flag::MONITOR, true);
            None
        }
    }
}

//! FAILOVER: a primary hands its databases to one of its replicas without losing an acknowledged write
//! (Redis 6.2's coordinated failover), in Redis's steps:
//!
//! 1. `FAILOVER [TO host port [FORCE]] [TIMEOUT ms]` holds the writes of the databases that move (as a
//!    CLIENT PAUSE WRITE would, reads go on), asks their replicas to acknowledge now (`REPLCONF GETACK`,
//!    where Redis waits for their next periodic ACK) and answers `+OK`: INFO shows `waiting-for-sync`.
//! 2. The cron ([`tick`]) waits until the target (or, without `TO`, any replica) has acknowledged the whole
//!    stream; past `TIMEOUT` it gives up, or with `FORCE` goes on anyway.
//! 3. The server follows the target (`failover-in-progress`), and its link asks it to take over with
//!    `PSYNC <replid> <offset> FAILOVER`: a replica whose stream is that ID becomes a primary (see
//!    `replication::psync`) and answers `+CONTINUE`.
//! 4. That answer ends the failover ([`completed`]): held writers go on and, now on a replica, are told
//!    READONLY. A refusal, or a link that fails first, aborts it ([`abort`]): the server is a primary again
//!    and its held writers go on there.
//!
//! Which databases move: the default one always. When the target is a Keel server following this one's
//! every database (`REPLCONF capa keel`), the provisioned databases move with it: their writes are held from
//! the start too, the target must have acknowledged each of their streams, and once it took over they
//! follow its copies of them. A redis-server target follows only the default database, and only that moves.
//!
//! Lock order: the default database's lock, then `Server::failover`, never the other way round; no two
//! databases' locks are held at once.

use super::{is, CmdError, CmdResult, Ctx};
use crate::replication::{Attached, Failover, FailoverPhase};
use crate::server::Server;
use crate::state::tenant::{Keyspace, Tenant};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `FAILOVER` was asked, once parsed.
struct Request {
    timeout_ms: i64,
    target: Option<(String, i64)>,
    force: bool,
}

/// `FAILOVER [TO host port] [TIMEOUT ms] [FORCE] | ABORT`: Redis's checks and errors, in Redis's order.
pub fn failover(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len() == 2 && is(args[1], "abort") {
        if ctx.server.failover.lock().is_none() {
            return Err(CmdError::new("ERR No failover in progress."));
        }
        abort(ctx.server, ctx.tenant, ctx.ks, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let request = parse(args)?;
    if ctx.server.failover.lock().is_some() {
        return Err(CmdError::new("ERR FAILOVER already in progress."));
    }
    let repl = &ctx.tenant.replication;
    if repl.is_replica() {
        return Err(CmdError::new("ERR FAILOVER is not valid when server is a replica."));
    }
    let attached = repl.attached.lock().clone();
    if attached.is_empty() {
        return Err(CmdError::new("ERR FAILOVER requires connected replicas."));
    }
    if request.force && (request.timeout_ms == 0 || request.target.is_none()) {
        return Err(CmdError::new("ERR FAILOVER with force option requires both a timeout and target HOST and IP."));
    }
    let mut target = None;
    let mut keel_target = attached.iter().any(|r| r.keel_node);
    if let Some((host, port)) = &request.target {
        let found = attached.iter().find(|r| r.ip == *host && i64::from(r.port) == *port);
        let Some(replica) = found else {
            return Err(CmdError::new("ERR FAILOVER target HOST and PORT is not a replica."));
        };
        if *replica.state.lock() != "online" {
            return Err(CmdError::new("ERR FAILOVER target replica is not online."));
        }
        keel_target = replica.keel_node;
        target = Some((replica.ip.clone(), replica.port));
        tracing::info!("FAILOVER requested to {host}:{port}.");
    } else {
        tracing::info!("FAILOVER requested to any replica.");
    }
    let moving: Vec<Arc<Tenant>> = match keel_target {
        true => ctx.server.tenants.read().values().filter(|t| t.is_provisioned()).cloned().collect(),
        false => Vec::new(),
    };
    // Writes held, each moving stream asks its replicas to acknowledge it at once (REPLCONF GETACK), rather
    // than in up to a second: the hand-over holds writes for milliseconds, not a second.
    for tenant in &moving {
        tenant.pause.hold_for_failover(true);
        tenant.persistence.stream.append(crate::replication::GETACK);
    }
    let held = moving.iter().map(|t| t.name.clone()).collect();
    ctx.tenant.pause.hold_for_failover(true);
    ctx.tenant.persistence.submit(&mut ctx.ks.log);
    ctx.tenant.persistence.stream.append(crate::replication::GETACK);
    let deadline = (request.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(request.timeout_ms as u64));
    *ctx.server.failover.lock() =
        Some(Failover { phase: FailoverPhase::WaitForSync, target, deadline, force: request.force, held });
    ctx.out.ok();
    Ok(())
}

fn parse(args: &[&[u8]]) -> Result<Request, CmdError> {
    let mut request = Request { timeout_ms: 0, target: None, force: false };
    let mut j = 1;
    while j < args.len() {
        if is(args[j], "timeout") && j + 1 < args.len() && request.timeout_ms == 0 {
            request.timeout_ms = super::int_arg(args[j + 1])?;
            if request.timeout_ms <= 0 {
                return Err(CmdError::new("ERR FAILOVER timeout must be greater than 0"));
            }
            j += 1;
        } else if is(args[j], "to") && j + 2 < args.len() && request.target.is_none() {
            let port = super::int_arg(args[j + 2])?;
            request.target = Some((String::from_utf8_lossy(args[j + 1]).into_owned(), port));
            j += 2;
        } else if is(args[j], "force") && !request.force {
            request.force = true;
        } else {
            return Err(super::SYNTAX);
        }
        j += 1;
    }
    Ok(request)
}

/// The cron's step of a failover waiting for its target: past the deadline, give up (or with FORCE go on);
/// once a replica has acknowledged everything, follow it and ask it to take over.
pub fn tick(server: &Server) {
    if server.failover.lock().as_ref().is_none_or(|f| f.phase != FailoverPhase::WaitForSync) {
        return;
    }
    let default = server.default_tenant();
    // A database held by a long script is left for the next tick, as the cron leaves it for everything else.
    let Some(mut ks) = default.data.try_lock_for(Duration::from_millis(2)) else { return };
    let mut state = server.failover.lock();
    let Some(failover) = state.as_mut().filter(|f| f.phase == FailoverPhase::WaitForSync) else { return };
    if failover.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        if let (true, Some((host, port))) = (failover.force, failover.target.clone()) {
            tracing::info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
            failover.phase = FailoverPhase::InProgress;
            drop(state);
            hand_over(server, &default, &mut ks, &host, port);
        } else {
            drop(state);
            abort(server, &default, &mut ks, "Replica never caught up before timeout");
        }
        return;
    }
    let offset = default.persistence.stream.offset();
    let attached = default.replication.attached.lock().clone();
    let caught_up = attached.iter().find(|replica| {
        let named = failover.target.as_ref().is_none_or(|(host, port)| replica.ip == *host && replica.port == *port);
        named && acknowledged(replica, offset) && (!replica.keel_node || held_caught_up(server, failover, replica))
    });
    let Some(replica) = caught_up else { return };
    let (host, port) = (replica.ip.clone(), replica.port);
    if !replica.keel_node {
        // A redis-server follows the default database alone: the provisioned databases stay here.
        release(server, &std::mem::take(&mut failover.held));
    }
    tracing::info!("Failover target {host}:{port} is synced, failing over.");
    failover.target = Some((host.clone(), port));
    failover.phase = FailoverPhase::InProgress;
    drop(state);
    hand_over(server, &default, &mut ks, &host, port);
}

fn acknowledged(replica: &Attached, offset: u64) -> bool {
    *replica.state.lock() == "online" && replica.ack_offset.load(Ordering::Relaxed) == offset
}

/// Whether the Keel server behind `replica` has acknowledged the whole stream of every held database.
fn held_caught_up(server: &Server, failover: &Failover, replica: &Attached) -> bool {
    let tenants = server.tenants.read();
    failover.held.iter().filter_map(|name| tenants.get(name)).all(|tenant| {
        let offset = tenant.persistence.stream.offset();
        let attached = tenant.replication.attached.lock();
        attached.iter().any(|r| r.ip == replica.ip && r.port == replica.port && acknowledged(r, offset))
    })
}

/// The default database (locked by the caller as `ks`) follows the target, whose link sends the failover
/// request; its replicas reconnect to follow the new history, as REPLICAOF makes them.
fn hand_over(server: &Server, default: &Arc<Tenant>, ks: &mut Keyspace, host: &str, port: u16) {
    let generation = super::replication::follow(default, ks, host, port);
    super::replication::disconnect_replicas(server, default);
    server.start_link(default, generation);
}

/// Whether the server's link should ask its primary to take over (`PSYNC .. FAILOVER`).
pub fn in_progress(server: &Server) -> bool {
    server.failover.lock().as_ref().is_some_and(|f| f.phase == FailoverPhase::InProgress)
}

/// The target took over (it answered the failover's PSYNC): the held provisioned databases follow its
/// copies of them, and every held writer goes on (to be told READONLY). Nothing when no failover is in
/// progress.
pub fn completed(server: &Server) {
    let default = server.default_tenant();
    let (failover, upstream) = {
        let _ks = default.lock();
        let mut state = server.failover.lock();
        if state.as_ref().is_none_or(|f| f.phase != FailoverPhase::InProgress) {
            return;
        }
        (state.take(), default.replication.role())
    };
    let Some(failover) = failover else { return };
    let crate::replication::Role::Replica(upstream) = upstream else { return };
    for name in &failover.held {
        let Some(tenant) = server.tenants.read().get(name).cloned() else { continue };
        let following = matches!(tenant.replication.role(), crate::replication::Role::Replica(up) if up.host == upstream.host && up.port == upstream.port);
        if !following {
            let generation = super::replication::follow(&tenant, &mut tenant.lock(), &upstream.host, upstream.port);
            server.start_link(&tenant, generation);
        }
        // The target's copy followed this one: cut that link, so the two never follow each other.
        super::replication::disconnect_replicas(server, &tenant);
        tenant.pause.hold_for_failover(false);
    }
    default.pause.hold_for_failover(false);
}

/// Ends the failover with `why` in the log: a server that already followed the target is a primary again
/// (its provisioned databases too, when their link task sees it), and held writers go on here.
/// `ks` is the default database's, locked by the caller.
pub fn abort(server: &Server, default: &Tenant, ks: &mut Keyspace, why: &str) {
    let Some(failover) = server.failover.lock().take() else { return };
    match &failover.target {
        Some((host, port)) => tracing::info!("FAILOVER to {host}:{port} aborted: {why}"),
        None => tracing::info!("FAILOVER to any replica aborted: {why}"),
    }
    if failover.phase == FailoverPhase::InProgress && default.replication.become_primary() {
        super::replication::promote(default, ks);
    }
    release(server, &failover.held);
    default.pause.hold_for_failover(false);
}

/// Lets the writes of the provisioned databases `held` go on.
fn release(server: &Server, held: &[String]) {
    for name in held {
        if let Some(tenant) = server.tenants.read().get(name) {
            tenant.pause.hold_for_failover(false);
        }
    }
}

/// The default database's link failed before its primary answered the failover's PSYNC: the failover is
/// aborted (no-op when none is in progress).
pub fn link_failed(server: &Server, why: &str) {
    if !in_progress(server) {
        return;
    }
    let default = server.default_tenant();
    let mut ks = default.lock();
    abort(server, &default, &mut ks, why);
}

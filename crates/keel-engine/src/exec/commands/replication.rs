//! Replication commands: SYNC and PSYNC (a client becomes a replica of its database), REPLCONF (what a
//! replica says of itself, and its acknowledgements), WAIT, ROLE, REPLICAOF/SLAVEOF, and the
//! `# Replication` section of INFO. The streams and links themselves are in `crate::replication` and the
//! server crate.

use super::{is, CmdError, CmdResult, Ctx};
use crate::exec::session::{Action, AofWait, ReplicaRequest};
use crate::replication::{Role, Upstream};
use crate::state::tenant::{Keyspace, Tenant};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// `SYNC`: a full copy, then the stream (the old protocol: no `+FULLRESYNC` line first).
pub fn sync(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    start_replica(ctx, None)
}

/// `PSYNC replid offset [FAILOVER]`: continue from `offset` of stream `replid` when the backlog still holds
/// it, else a full copy. With `FAILOVER`, sent by a primary handing its database over (see `failover`), a
/// replica whose stream is `replid` first becomes a primary, so that the sender continues as its replica.
pub fn psync(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let replid = String::from_utf8_lossy(args[1]).into_owned();
    // `PSYNC ? -1` asks for a full copy; an offset that is not a number does too.
    let offset = std::str::from_utf8(args[2]).ok().and_then(|o| o.parse::<i64>().ok()).unwrap_or(-1);
    if args.len() > 3 && is(args[3], "failover") && !ctx.session.master {
        // Which server is whose primary is the operator's to change, as REPLICAOF is.
        if ctx.tenant.is_provisioned() {
            return Err(CmdError::new(
                "ERR 'psync|failover' acts on the whole server and is not available to a database",
            ));
        }
        tracing::info!(database = %ctx.tenant.name, "Failover request received for replid {replid}.");
        if !ctx.tenant.replication.is_replica() {
            return Err(CmdError::new("ERR PSYNC FAILOVER can't be sent to a master."));
        }
        if replid != ctx.tenant.persistence.stream.position().0 {
            return Err(CmdError::new("ERR PSYNC FAILOVER replid must match my replid."));
        }
        if ctx.tenant.replication.become_primary() {
            promote(ctx.tenant, ctx.ks);
        }
        let from = &ctx.session.info.addr;
        tracing::info!(database = %ctx.tenant.name, "MASTER MODE enabled (failover request from '{from}')");
    }
    start_replica(ctx, Some((replid, u64::try_from(offset).unwrap_or(0))))
}

fn start_replica(ctx: &mut Ctx, psync: Option<(String, u64)>) -> CmdResult {
    if ctx.session.master {
        return Ok(());
    }
    if ctx.tenant.pause.held_for_failover() {
        return Err(CmdError::new("NOMASTERLINK Can't SYNC while failing over"));
    }
    if ctx.tenant.replication.is_replica() && ctx.tenant.replication.link_down() {
        return Err(CmdError::new("NOMASTERLINK Can't SYNC while not connected with my master"));
    }
    let request = ReplicaRequest { psync, ..ctx.session.replica.clone() };
    ctx.session.action = Some(Action::Replicate(request));
    Ok(())
}

/// `REPLCONF option value [option value ...]`.
pub fn replconf(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(super::SYNTAX);
    }
    for pair in args[1..].chunks_exact(2) {
        let (option, value) = (pair[0], pair[1]);
        if is(option, "listening-port") {
            let port = std::str::from_utf8(value).ok().and_then(|v| v.parse::<u16>().ok());
            let Some(port) = port else { return Err(super::NOT_INTEGER) };
            ctx.session.replica.port = port;
        } else if is(option, "ip-address") {
            ctx.session.replica.ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(option, "capa") {
            ctx.session.replica.capa_eof |= is(value, "eof");
            ctx.session.replica.capa_keel |= is(value, "keel");
        } else if is(option, "ack") || is(option, "getack") || is(option, "fack") {
            // Meaningful only on a replication link, whose feeder reads them: no reply here, as in Redis.
            return Ok(());
        } else if is(option, "database") || is(option, "keel-databases") {
            if ctx.tenant.is_provisioned() {
                return Err(CmdError::new("ERR only the server's administrator follows other databases"));
            }
            if is(option, "keel-databases") {
                return list_databases(ctx);
            }
            let name = String::from_utf8_lossy(value).into_owned();
            if !ctx.server.tenants.read().contains_key(&name) || name == "default" {
                return Err(CmdError::new(format!("ERR no database named '{name}'")));
            }
            ctx.session.replica.database = Some(name);
        } else if is(option, "rdb-only") || is(option, "rdb-filter-only") {
            // Accepted; Keel always streams the whole copy and then the stream.
        } else {
            let name = String::from_utf8_lossy(option);
            return Err(CmdError::new(format!("ERR Unrecognized REPLCONF option: {name}")));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `REPLCONF keel-databases *`: the provisioned databases' definitions (hashed secrets, limits) and ACL
/// users, as JSON, for a Keel replica of this server, which opens the same databases and follows each
/// one's stream.
fn list_databases(ctx: &mut Ctx) -> CmdResult {
    let defs: Vec<crate::databases::DatabaseDef> = ctx.server.databases.lock().list().cloned().collect();
    let copies: Vec<crate::databases::DatabaseCopy> = defs
        .into_iter()
        .map(|definition| {
            let tenant = ctx.server.tenants.read().get(&definition.name).cloned();
            let users = tenant.map(|t| t.acl.read().file_text(&ctx.server.commands)).unwrap_or_default();
            crate::databases::DatabaseCopy { definition, users }
        })
        .collect();
    let json = serde_json::to_vec(&copies).map_err(|e| CmdError::new(format!("ERR {e}")))?;
    ctx.out.bulk(&json);
    Ok(())
}

/// `WAIT numreplicas timeout`: blocks until that many replicas acknowledged this database's stream up to
/// now (the client's writes included), or the timeout (milliseconds, 0 for ever) passes; answers how many
/// did.
pub fn wait(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.tenant.replication.is_replica() {
        return Err(CmdError::new(
            "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is \
             configured to be writable (which is not the default) writes to replicas are just local and are not \
             propagated.",
        ));
    }
    let replicas = super::int_arg(args[1])?;
    let timeout = std::str::from_utf8(args[2]).ok().and_then(|t| t.parse::<i64>().ok());
    let Some(timeout) = timeout else { return Err(CmdError::new("ERR timeout is not an integer or out of range")) };
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    // What this client (and everyone before it) wrote reaches the stream now, so its offset is known.
    let p = &ctx.tenant.persistence;
    p.submit(&mut ctx.ks.log);
    let offset = p.stream.offset();
    let acked = ctx.tenant.replication.acknowledged(offset) as i64;
    let nonblocking = ctx.session.in_exec || ctx.session.in_script;
    if acked >= replicas || nonblocking {
        ctx.out.int(acked);
        return Ok(());
    }
    let timeout = (timeout > 0).then(|| std::time::Duration::from_millis(timeout as u64));
    ctx.session.action = Some(Action::Wait { offset, replicas: replicas.max(0) as u64, timeout });
    Ok(())
}

/// `WAITAOF numlocal numreplicas timeout`: blocks until what this client (and everyone before it) wrote is
/// fsynced in the local log (numlocal 1) and in the logs of `numreplicas` replicas (their `REPLCONF ACK ..
/// FACK offset`), or the timeout passes; replies with both counts.
pub fn waitaof(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let numlocal = super::int_arg(args[1])?;
    if !(0..=1).contains(&numlocal) {
        return Err(CmdError::new("ERR value is out of range, value must between 0 and 1"));
    }
    let positive = || CmdError::new("ERR value is out of range, must be positive");
    let numreplicas =
        super::int_arg(args[2]).map_err(|_| positive()).and_then(|n| u64::try_from(n).map_err(|_| positive()))?;
    let timeout =
        super::int_arg(args[3]).map_err(|_| CmdError::new("ERR timeout is not an integer or out of range"))?;
    if timeout < 0 {
        return Err(CmdError::new("ERR timeout is negative"));
    }
    if ctx.tenant.replication.is_replica() {
        return Err(CmdError::new(
            "ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just local \
             and are not propagated.",
        ));
    }
    let p = &ctx.tenant.persistence;
    if numlocal == 1 && !p.log_enabled() {
        return Err(CmdError::new("ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."));
    }
    p.submit(&mut ctx.ks.log);
    let wait = AofWait {
        log_end: p.log_sync_state().map(|(end, _)| end),
        offset: p.stream.offset(),
        local: numlocal == 1,
        replicas: numreplicas,
        timeout: (timeout > 0).then(|| std::time::Duration::from_millis(timeout as u64)),
    };
    let (local, replicas) = aof_acks(ctx.tenant, &wait);
    let nonblocking = ctx.session.in_exec || ctx.session.in_script;
    if wait.met(local, replicas) || nonblocking {
        ctx.out.array(2);
        ctx.out.int(local as i64);
        ctx.out.int(replicas as i64);
        return Ok(());
    }
    ctx.session.action = Some(Action::WaitAof(wait));
    Ok(())
}

/// How far `wait` is met: whether the local log is fsynced to its end (1 or 0), and how many replicas have
/// fsynced its offset.
pub fn aof_acks(tenant: &Tenant, wait: &AofWait) -> (u64, u64) {
    let synced = tenant.persistence.log_sync_state().map(|(_, synced)| synced);
    let local = matches!((wait.log_end, synced), (Some(end), Some(synced)) if synced >= end);
    (local as u64, tenant.replication.fsynced(wait.offset) as u64)
}

/// `ROLE`: `master` with its offset and replicas, or `slave` with its primary and link.
pub fn role(ctx: &mut Ctx, _args: &[&[u8]]) -> CmdResult {
    let repl = &ctx.tenant.replication;
    let offset = ctx.tenant.persistence.stream.offset() as i64;
    match repl.role() {
        Role::Primary => {
            let attached = repl.attached.lock().clone();
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(offset);
            ctx.out.array(attached.len());
            for replica in attached {
                ctx.out.array(3);
                ctx.out.bulk(replica.ip.as_bytes());
                ctx.out.bulk(replica.port.to_string().as_bytes());
                ctx.out.bulk(replica.ack_offset.load(Ordering::Relaxed).to_string().as_bytes());
            }
        }
        Role::Replica(up) => {
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(up.host.as_bytes());
            ctx.out.int(up.port as i64);
            ctx.out.bulk(up.state.role_name().as_bytes());
            let synced = up.state == crate::replication::LinkState::Connected;
            ctx.out.int(if synced { offset } else { -1 });
        }
    }
    Ok(())
}

/// `REPLICAOF host port` (and `SLAVEOF`): this database follows that primary from now on, dropping its
/// data for the primary's; `REPLICAOF NO ONE` makes it a primary again, keeping its data and its stream
/// (replicas of it continue).
pub fn replicaof(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    if ctx.server.failover.lock().is_some() {
        return Err(CmdError::new("ERR REPLICAOF not allowed while failing over."));
    }
    let repl = &ctx.tenant.replication;
    if is(args[1], "no") && is(args[2], "one") {
        if repl.become_primary() {
            promote(ctx.tenant, ctx.ks);
            tracing::info!(database = %ctx.tenant.name, "MASTER MODE enabled (user request)");
        }
        ctx.out.ok();
        return Ok(());
    }
    let port = std::str::from_utf8(args[2]).ok().and_then(|p| p.parse::<i64>().ok());
    let Some(port) = port.and_then(|p| u16::try_from(p).ok()) else {
        return Err(CmdError::new("ERR Invalid master port"));
    };
    let host = String::from_utf8_lossy(args[1]).into_owned();
    if let Role::Replica(Upstream { host: h, port: current, .. }) = repl.role() {
        if h.eq_ignore_ascii_case(&host) && current == port {
            ctx.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    let generation = follow(ctx.tenant, ctx.ks, &host, port);
    disconnect_replicas(ctx.server, ctx.tenant);
    ctx.server.start_link(ctx.tenant, generation);
    tracing::info!(database = %ctx.tenant.name, %host, port, "REPLICAOF: following a primary");
    ctx.out.ok();
    Ok(())
}

/// Replicas of `tenant`, which now follows a primary, follow its new history: they reconnect and continue
/// or copy again.
pub(crate) fn disconnect_replicas(server: &crate::server::Server, tenant: &Tenant) {
    for replica in tenant.replication.attached.lock().iter() {
        if let Some(client) = server.clients.get(replica.client_id) {
            client.kill();
        }
    }
}

/// Makes `tenant` (locked by the caller as `ks`) a primary of its own stream again, after its role was
/// set so: it takes a new ID, keeps the old one valid up to here, and feeds its replicas its own writes.
pub fn promote(tenant: &Tenant, ks: &mut Keyspace) {
    let p = &tenant.persistence;
    p.submit(&mut ks.log);
    p.stream.promote();
    ks.log.set_replicas(p.stream.is_active());
    ks.log.forget_db();
}

/// Sets `tenant` (locked by the caller as `ks`) to follow `host:port`: from now on its stream mirrors the
/// primary's. Returns the generation of the link the caller must start.
pub fn follow(tenant: &Tenant, ks: &mut Keyspace, host: &str, port: u16) -> u64 {
    tenant.persistence.submit(&mut ks.log);
    ks.log.set_replicas(false);
    tenant.persistence.stream.start_mirroring();
    tenant.replication.follow(host, port)
}

/// The `# Replication` section of INFO for this database.
pub fn info_section(out: &mut String, tenant: &Tenant, backlog_size: u64, failover_state: &str) {
    let repl = &tenant.replication;
    let stream = &tenant.persistence.stream;
    let (replid, offset) = stream.position();
    let (replid2, second_offset) = stream.previous();
    let now = crate::clock::unix_ms();
    let mut line = |name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(out, "{name}:{value}\r\n");
    };
    match repl.role() {
        Role::Primary => line("role", &"master"),
        Role::Replica(up) => {
            line("role", &"slave");
            line("master_host", &up.host);
            line("master_port", &up.port);
            let up_now = up.state == crate::replication::LinkState::Connected;
            line("master_link_status", &if up_now { "up" } else { "down" });
            let last_io = if up.last_io_ms == 0 { -1 } else { (now.saturating_sub(up.last_io_ms) / 1000) as i64 };
            line("master_last_io_seconds_ago", &last_io);
            line("master_sync_in_progress", &((up.state == crate::replication::LinkState::Sync) as u8));
            line("slave_read_repl_offset", &offset);
            line("slave_repl_offset", &offset);
            if !up_now {
                line("master_link_down_since_seconds", &(now.saturating_sub(up.down_since_ms) / 1000));
            }
            line("slave_priority", &100);
            line("slave_read_only", &1);
            line("replica_announced", &1);
        }
    }
    let attached = repl.attached.lock().clone();
    line("connected_slaves", &attached.len());
    for (i, replica) in attached.iter().enumerate() {
        let ack = replica.ack_offset.load(Ordering::Relaxed);
        let lag = now.saturating_sub(replica.ack_ms.load(Ordering::Relaxed)) / 1000;
        let state = *replica.state.lock();
        line(
            &format!("slave{i}"),
            &format!("ip={},port={},state={state},offset={ack},lag={lag}", replica.ip, replica.port),
        );
    }
    line("master_failover_state", &failover_state);
    line("master_replid", &replid);
    line("master_replid2", &replid2);
    line("master_repl_offset", &offset);
    line("second_repl_offset", &second_offset);
    let (first, held) = stream.backlog_span();
    line("repl_backlog_active", &(stream.is_active() as u8));
    line("repl_backlog_size", &backlog_size);
    line("repl_backlog_first_byte_offset", &first);
    line("repl_backlog_histlen", &held);
}

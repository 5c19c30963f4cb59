//! The periodic task (Redis's `serverCron`), `hz` times a second on a thread of its own: active expiry in
//! short, time-bounded steps, ops/sec sampling, published figures and meters, snapshot rules, closing
//! clients idle longer than `timeout`, and asking idle connections to give their buffers back. It never waits for a database's lock for more than [`LOCK_WAIT`]:
//! a database that is busy gets its turn at the next tick, and the others theirs now.

use crate::clients::flag;
use crate::clock::unix_ms;
use crate::server::Server;
use crate::state::tenant::Tenant;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys sampled per step, and the share of expired samples that makes the cycle go on (Redis's numbers).
const SAMPLES_PER_STEP: usize = 20;
/// Hash fields an expiry step deletes at most (per pass of its loop).
const FIELDS_PER_STEP: usize = 200;
const REPEAT_IF_EXPIRED_PERCENT: usize = 10;
/// The lock is held for at most this long per step, so clients wait at most that long for it.
const STEP_BUDGET: Duration = Duration::from_millis(1);

/// How long the cron waits for a database's lock before leaving that database for the next tick: a
/// database held by a long script or a SAVE must not hold up the others' expiry, meters and snapshots.
const LOCK_WAIT: Duration = Duration::from_millis(2);

/// Runs on a thread of its own (not an async worker), until shutdown.
pub fn run(server: Arc<Server>) {
    while !server.is_shutting_down() {
        let period = Duration::from_millis(1000 / server.settings.read().hz.max(1));
        std::thread::sleep(period);
        if !server.cron_paused.load(std::sync::atomic::Ordering::Relaxed) {
            tick(&server, period);
        }
    }
}

fn tick(server: &Server, period: Duration) {
    let (active_expire, timeout, max_tracked) = {
        let s = server.settings.read();
        (s.active_expire_enabled, s.timeout, s.tracking_table_max_keys as usize)
    };
    let tenants: Vec<_> = server.tenants.read().values().cloned().collect();
    // Redis gives active expiry up to 25% of each period.
    let cycle_budget = period / 4;
    let now_unix = unix_ms() / 1000;
    for tenant in &tenants {
        let _span = tenant.span().entered();
        let started = Instant::now();
        {
            let Some(mut ks) = tenant.data.try_lock_for(LOCK_WAIT) else { continue };
            ks.stats.sample_ops(unix_ms());
            let figures = tenant.publish(&ks);
            tenant.peak_memory.fetch_max(figures.used_memory, Ordering::Relaxed);
            tenant.history.lock().record(
                now_unix,
                crate::state::rates::Counters {
                    commands: figures.total_commands,
                    hits: figures.keyspace_hits,
                    misses: figures.keyspace_misses,
                    evicted: figures.evicted_keys,
                    bytes_in: tenant.meters.bytes_in.load(Ordering::Relaxed),
                    bytes_out: tenant.meters.bytes_out.load(Ordering::Relaxed),
                },
            );
            if ks.tracking.is_active() {
                let ks = &mut *ks;
                ks.tracking.limit(max_tracked, &ks.pubsub, &|id| server.clients.get_in(id, &tenant.name), None);
            }
            crate::persistence::cron(server, tenant, &mut ks, now_unix);
            replication_tick(server, tenant, &mut ks);
            if !ks.migrate.is_empty() {
                ks.migrate.close_idle();
            }
        }
        tenant.meter(false);
        // A replica's keys expire when its primary's DELs arrive (reads hide them meanwhile).
        if active_expire && tenant.pause.active().is_none() && !tenant.replication.is_replica() {
            expire_cycle(server, tenant, started, cycle_budget);
        }
    }
    crate::exec::commands::failover::tick(server);
    evict_clients(server);
    let now = unix_ms();
    let mut pushed: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for client in server.clients.snapshot() {
        let waiting = client.output_memory.load(Ordering::Relaxed) as u64;
        if waiting > 0 {
            *pushed.entry(client.tenant_name()).or_default() += waiting;
        }
        let idle_ms = now.saturating_sub(client.last_active_ms.load(Ordering::Relaxed));
        let exempt = client.has_flag(flag::PUBSUB | flag::MONITOR | flag::BLOCKED);
        if timeout > 0 && idle_ms / 1000 > timeout && !exempt {
            client.kill();
        } else if idle_ms >= crate::clients::TRIM_AFTER_IDLE_MS && !client.has_flag(flag::TRIMMED | flag::BLOCKED) {
            client.ask_to_trim();
        }
    }
    for tenant in &tenants {
        tenant.pushed_bytes.store(pushed.get(&tenant.name).copied().unwrap_or(0), Ordering::Relaxed);
    }
}

/// A replica's connection (it sent SYNC or PSYNC): never evicted, as Redis never evicts replicas.
fn is_replica_feed(server: &Server, client: &crate::clients::ClientInfo) -> bool {
    let command = client.last_command.load(Ordering::Relaxed);
    command < server.commands.len() && matches!(server.commands.get(command).spec.name, "psync" | "sync")
}

/// Client eviction (Redis's `maxmemory-clients`): while all clients' buffers together take more than the
/// limit, the client taking most is closed, except clients marked CLIENT NO-EVICT and replicas. Checked every tick
/// rather than on every command, so a burst can pass the limit for up to one period.
fn evict_clients(server: &Server) {
    let limit = {
        let s = server.settings.read();
        match s.maxmemory_clients.strip_suffix('%') {
            Some(percent) => s.maxmemory.saturating_mul(percent.parse().unwrap_or(0)) / 100,
            None => s.maxmemory_clients.parse().unwrap_or(0),
        }
    };
    if limit == 0 {
        return;
    }
    let mut clients: Vec<_> = server
        .clients
        .snapshot()
        .into_iter()
        .filter(|c| !c.is_killed() && !c.has_flag(flag::NO_EVICT) && !is_replica_feed(server, c))
        .map(|c| (c.total_memory(), c))
        .collect();
    let mut total: u64 = clients.iter().map(|(memory, _)| memory).sum();
    if total <= limit {
        return;
    }
    clients.sort_by_key(|(memory, _)| std::cmp::Reverse(*memory));
    for (memory, client) in clients {
        if total <= limit {
            break;
        }
        client.kill();
        total -= memory;
        server.stats.evicted_clients.fetch_add(1, Ordering::Relaxed);
    }
}

/// The stream's periodic duties: PING the replicas every `repl-ping-replica-period` (through the stream,
/// so they count it in their offsets), trim the backlog to `repl-backlog-size` while keeping what an
/// attached replica has not been sent (up to the replica output limit), and drop the backlog once no
/// replica has been attached for `repl-backlog-ttl`.
fn replication_tick(server: &Server, tenant: &Tenant, ks: &mut crate::state::tenant::Keyspace) {
    let stream = &tenant.persistence.stream;
    if !stream.is_active() {
        return;
    }
    let (size, ttl, ping_secs, hard) = {
        let s = server.settings.read();
        let hard = s.client_output_buffer_limit.replica.hard;
        (s.repl_backlog_size, s.repl_backlog_ttl, s.repl_ping_replica_period, if hard == 0 { u64::MAX } else { hard })
    };
    let repl = &tenant.replication;
    let now = unix_ms();
    let slowest = repl.slowest_sent();
    // A failover waits for its target to acknowledge the stream's end: a PING would move it.
    let held = tenant.pause.held_for_failover();
    if slowest.is_some() && !repl.is_replica() && !held && repl.ping_due(now, ping_secs) {
        tenant.persistence.submit(&mut ks.log);
        stream.append(b"*1\r\n$4\r\nPING\r\n");
    }
    stream.trim(size as usize, slowest, usize::try_from(hard).unwrap_or(usize::MAX));
    stream.note_idle(if slowest.is_some() { 0 } else { now }, ttl);
    ks.log.set_replicas(stream.takes_writes());
}

/// Active expiry for one database: sampled steps of at most [`STEP_BUDGET`] each, the lock released
/// between them, until `budget` is spent or too few sampled keys were expired to go on.
fn expire_cycle(server: &Server, tenant: &Tenant, started: Instant, budget: Duration) {
    // Read before any lock is taken: a cycle step slower than this is a latency event.
    let threshold = match tenant.is_provisioned() {
        true => tenant.settings.read().latency_monitor_threshold,
        false => server.settings.read().latency_monitor_threshold,
    };
    let databases = match tenant.data.try_lock_for(LOCK_WAIT) {
        Some(ks) => ks.dbs.len(),
        None => return,
    };
    for db in 0..databases {
        while started.elapsed() < budget {
            let Some(mut ks) = tenant.data.try_lock_for(LOCK_WAIT) else { return };
            let step_started = Instant::now();
            let mut rng = rand::thread_rng();
            let (mut sampled, mut expired, mut fields_expired) = (0, 0, 0);
            while step_started.elapsed() < STEP_BUDGET {
                let (s, e) = ks.dbs[db].expire_sample(unix_ms(), SAMPLES_PER_STEP, &mut rng, |_| {});
                // Hash fields past their TTL, from the hashes whose earliest one is due (HDELs in the log).
                let (_, fields) = ks.dbs[db].expire_fields_step(unix_ms(), FIELDS_PER_STEP);
                sampled += s;
                expired += e;
                fields_expired += fields;
                let keys_done = s == 0 || e * 100 <= s * REPEAT_IF_EXPIRED_PERCENT;
                if keys_done && fields < FIELDS_PER_STEP {
                    break;
                }
            }
            ks.stats.expired_keys += expired as u64;
            let took_ms = step_started.elapsed().as_millis() as u64;
            if threshold > 0 && took_ms >= threshold {
                ks.latency.add("expire-cycle", took_ms, unix_ms() / 1000);
            }
            if expired + fields_expired > 0 {
                // The deletions reach the log and `expired` subscribers now, not at the next command.
                tenant.flush_expired(server, &mut ks);
                if ks.log.enabled {
                    tenant.persistence.submit(&mut ks.log);
                }
            }
            ks.dispatch_changes(crate::state::tracking::NOBODY, &|id| server.clients.get_in(id, &tenant.name), None);
            if ks.tracking.has_pending() {
                let ks = &mut *ks;
                ks.tracking.flush_bcast(&ks.pubsub, &|id| server.clients.get_in(id, &tenant.name));
            }
            drop(ks);
            let keys_done = sampled == 0 || expired * 100 <= sampled * REPEAT_IF_EXPIRED_PERCENT;
            if keys_done && fields_expired < FIELDS_PER_STEP {
                break;
            }
        }
    }
}

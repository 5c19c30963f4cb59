//! The periodic task (Redis's `serverCron`), `hz` times a second: active expiry in short, time-bounded
//! steps, ops/sec sampling, and closing clients idle longer than `timeout`.

use crate::clients::flag;
use crate::server::{unix_ms, Server};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Keys sampled per step, and the share of expired samples that makes the cycle go on (Redis's numbers).
const SAMPLES_PER_STEP: usize = 20;
const REPEAT_IF_EXPIRED_PERCENT: usize = 10;
/// The lock is held for at most this long per step, so clients wait at most that long for it.
const STEP_BUDGET: Duration = Duration::from_millis(1);

pub async fn run(server: Arc<Server>) {
    let mut shutdown = server.shutdown_signal();
    loop {
        let period = Duration::from_millis(1000 / server.settings.read().hz.max(1));
        tokio::select! {
            _ = crate::server::stopping(&mut shutdown) => return,
            _ = tokio::time::sleep(period) => {}
        }
        tick(&server, period);
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
    for tenant in tenants {
        crate::persistence::cron(server, &tenant, now_unix);
        tenant.meter(false);
        let started = Instant::now();
        {
            let mut ks = tenant.lock();
            ks.stats.sample_ops(unix_ms());
            tenant.peak_memory.fetch_max(ks.used_memory() as u64, std::sync::atomic::Ordering::Relaxed);
            if ks.tracking.is_active() {
                let ks = &mut *ks;
                ks.tracking.limit(max_tracked, &ks.pubsub, &|id| server.clients.contains(id));
            }
        }
        if !active_expire {
            continue;
        }
        let databases = tenant.lock().dbs.len();
        for db in 0..databases {
            while started.elapsed() < cycle_budget {
                let mut ks = tenant.lock();
                let step_started = Instant::now();
                let mut rng = rand::thread_rng();
                let (mut sampled, mut expired) = (0, 0);
                while step_started.elapsed() < STEP_BUDGET {
                    let (s, e) = ks.dbs[db].expire_sample(unix_ms(), SAMPLES_PER_STEP, &mut rng, |_| {});
                    sampled += s;
                    expired += e;
                    if s == 0 || e * 100 <= s * REPEAT_IF_EXPIRED_PERCENT {
                        break;
                    }
                }
                ks.stats.expired_keys += expired as u64;
                if expired > 0 {
                    // The deletions reach the log and `expired` subscribers now, not at the next command.
                    crate::notify::flush_expired(server, &tenant, &mut ks);
                    if ks.log.enabled {
                        tenant.persistence.submit(&mut ks.log);
                    }
                }
                ks.dispatch_changes(0, &server.clients);
                if ks.tracking.has_pending() {
                    let ks = &mut *ks;
                    ks.tracking.flush_bcast(&ks.pubsub, &|id| server.clients.contains(id));
                }
                drop(ks);
                if sampled == 0 || expired * 100 <= sampled * REPEAT_IF_EXPIRED_PERCENT {
                    break;
                }
            }
        }
    }
    if timeout > 0 {
        let now = unix_ms();
        for client in server.clients.snapshot() {
            let idle = now.saturating_sub(client.last_active_ms.load(Ordering::Relaxed)) / 1000;
            let exempt = client.has_flag(flag::PUBSUB | flag::MONITOR | flag::BLOCKED);
            if idle > timeout && !exempt {
                client.kill();
            }
        }
    }
}

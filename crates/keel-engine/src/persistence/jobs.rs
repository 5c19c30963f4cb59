//! When snapshots run: `BGSAVE`/`BGREWRITEAOF` requests (started, scheduled behind the other job, or refused
//! with Redis's texts), the runner that executes them (one at a time per database), and the periodic check
//! of the `save` rules and of the log's growth.

use super::snapshot::{self, Job};
use crate::server::Server;
use crate::state::tenant::{Keyspace, Tenant};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How asking for a background job went, for the command's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStart {
    Started,
    Scheduled,
    /// The same job is already running.
    AlreadyRunning,
    /// The other job is running and scheduling was not asked for (BGSAVE without SCHEDULE).
    Busy,
}

/// Starts (or schedules) a background snapshot job for `tenant`.
pub fn start_job(server: &Server, tenant: &Tenant, job: Job, schedule: bool) -> JobStart {
    let mut status = tenant.persistence.status.lock();
    let (same, other) = match job {
        Job::Rdb => (status.rdb_in_progress, status.aof_rewrite_in_progress),
        Job::Rewrite => (status.aof_rewrite_in_progress, status.rdb_in_progress),
    };
    if same {
        return JobStart::AlreadyRunning;
    }
    if other {
        // Redis always schedules a rewrite behind a running save; a save waits only when asked to.
        if job == Job::Rewrite || schedule {
            match job {
                Job::Rdb => status.rdb_bgsave_scheduled = true,
                Job::Rewrite => status.aof_rewrite_scheduled = true,
            }
            return JobStart::Scheduled;
        }
        return JobStart::Busy;
    }
    match job {
        Job::Rdb => status.rdb_in_progress = true,
        Job::Rewrite => status.aof_rewrite_in_progress = true,
    }
    drop(status);
    server.request_job(tenant, job);
    JobStart::Started
}

/// Runs background jobs for the life of the server: each database's one at a time (its status says which
/// runs), different databases' side by side, so that one database's snapshot (or its wait for a lock a
/// long script holds) never delays another's. Jobs running at shutdown are finished first.
pub async fn run_jobs(server: Arc<Server>) {
    let Some(mut queue) = server.job_queue.lock().take() else { return };
    let mut shutdown = server.shutdown_signal();
    let mut running = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = crate::server::stopping(&mut shutdown) => break,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            next = queue.recv() => match next {
                Some((tenant, job)) => {
                    let span = tenant.span();
                    running.spawn(tracing::Instrument::instrument(run_job(server.clone(), tenant, job), span));
                }
                None => break,
            },
        }
    }
    while running.join_next().await.is_some() {}
}

/// Runs one job, records how it went, and starts the job scheduled behind it.
async fn run_job(server: Arc<Server>, tenant: Arc<Tenant>, job: Job) {
    let result = snapshot::run(&server, &tenant, job).await;
    let p = &tenant.persistence;
    let stop_writes = {
        let s = server.settings.read();
        s.stop_writes_on_bgsave_error && !s.save.trim().is_empty()
    };
    if let Err(e) = &result {
        tracing::error!(?job, "background snapshot failed: {e}");
    }
    if job == Job::Rdb {
        p.snapshot_failing.store(result.is_err() && stop_writes, Ordering::Relaxed);
    }
    let next = {
        let mut status = p.status.lock();
        match job {
            Job::Rdb => status.rdb_in_progress = false,
            Job::Rewrite => status.aof_rewrite_in_progress = false,
        }
        take_scheduled(&mut status)
    };
    if let Some(next) = next {
        start_job(&server, &tenant, next, true);
    }
}

/// The job scheduled behind the one that just ended, if any.
fn take_scheduled(status: &mut super::Status) -> Option<Job> {
    if std::mem::take(&mut status.aof_rewrite_scheduled) {
        Some(Job::Rewrite)
    } else if std::mem::take(&mut status.rdb_bgsave_scheduled) {
        Some(Job::Rdb)
    } else {
        None
    }
}

/// Ends a capture that held the snapshot slot outside the job runner (a full copy for a replica), and
/// starts the job scheduled behind it.
pub fn release_rdb_slot(server: &Server, tenant: &Tenant) {
    let next = {
        let mut status = tenant.persistence.status.lock();
        status.rdb_in_progress = false;
        take_scheduled(&mut status)
    };
    if let Some(next) = next {
        start_job(server, tenant, next, true);
    }
}

/// Parses `save` ("3600 1 300 100"): pairs of seconds and changes.
fn save_points(save: &str) -> Vec<(u64, u64)> {
    let numbers: Vec<u64> = save.split_whitespace().filter_map(|n| n.parse().ok()).collect();
    numbers.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// Redis waits this long after a failed background save before the save rules try again.
const BGSAVE_RETRY_SECS: u64 = 5;

/// The periodic persistence duties of one tenant: hand expiry deletions to the log, and start snapshots
/// the `save` rules or the log's growth (`auto-aof-rewrite-percentage`) call for.
pub fn cron(server: &Server, tenant: &Tenant, ks: &mut Keyspace, now_unix: u64) {
    if ks.log.enabled {
        tenant.flush_expired(server, ks);
        tenant.persistence.submit(&mut ks.log);
    }
    let (save, percentage, min_size) = {
        let s = server.settings.read();
        (s.save.clone(), s.auto_aof_rewrite_percentage, s.auto_aof_rewrite_min_size)
    };
    let p = &tenant.persistence;
    let changes = snapshot::changes_since_save(ks, &p.status.lock());
    let (due_save, due_rewrite) = {
        let status = p.status.lock();
        if status.rdb_in_progress || status.aof_rewrite_in_progress || status.loading {
            return;
        }
        let since = now_unix.saturating_sub(status.rdb_last_save_unix);
        let may_retry = status.rdb_last_bgsave_ok || since >= BGSAVE_RETRY_SECS;
        let due_save =
            may_retry && save_points(&save).iter().any(|&(secs, min_changes)| changes >= min_changes && since >= secs);
        let current = status.aof_base_file_size + p.log.read().as_ref().map_or(0, |l| l.file_size());
        let base = status.aof_base_size.max(1);
        let due_rewrite = percentage > 0
            && p.log_enabled()
            && current > min_size
            && (current * 100 / base).saturating_sub(100) >= percentage;
        (due_save, due_rewrite)
    };
    if due_save {
        tracing::info!(changes, "save rule reached: background saving started");
        start_job(server, tenant, Job::Rdb, false);
    } else if due_rewrite {
        tracing::info!("the log has grown past auto-aof-rewrite-percentage: compacting it");
        start_job(server, tenant, Job::Rewrite, false);
    }
}

//! Running one command: lookup in the table, arity and authentication checks, the handler, and what every
//! command feeds (statistics, slow log, monitors). Every transport runs commands through [`execute`].

use crate::clock::{unix_ms, unix_us};
use crate::exec::admission::ServerState;
use crate::exec::commands::{cat, flags, CmdError, Command, Ctx};
use crate::exec::session::{ReplyMode, Session};
use crate::server::Server;
use crate::state::pause::PauseMode;
use crate::state::tenant::{Keyspace, Tenant};
use keel_protocol::ReplyWriter;
use keel_store::AccessClock;
use std::fmt::Write;

/// Batch settings as derived for one server and database at one settings generation.
#[derive(Clone, Copy)]
struct Derived {
    /// The addresses of the server and the database.
    at: (usize, usize),
    generation: u64,
    settings: BatchSettings,
}

/// How many derivations a thread keeps: a thread serving connections of a few databases in turn finds
/// each one's settings without deriving them again.
const DERIVED_PER_THREAD: usize = 4;

thread_local! {
    /// The settings this thread derived last, and the slot the next derivation replaces.
    static DERIVED: std::cell::RefCell<([Option<Derived>; DERIVED_PER_THREAD], usize)> =
        const { std::cell::RefCell::new(([None; DERIVED_PER_THREAD], 0)) };
}

/// Settings read once per batch, so the per-command path takes no settings lock.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    pub slowlog_slower_than: i64,
    pub slowlog_max_len: usize,
    /// Milliseconds from which a command is a latency event (0: off).
    pub latency_threshold_ms: u64,
    pub acllog_max_len: usize,
    pub lfu: Option<(u32, u32)>,
    pub max_bulk_len: usize,
    pub query_buffer_limit: usize,
    /// A provisioned database's largest request in bytes (0: no limit beyond `query_buffer_limit`).
    pub max_request_size: u64,
    /// `client-output-buffer-limit normal`: what a connection's pending output is held to.
    pub output_limit: crate::config::ClassLimit,
    /// Bytes a MONITOR client may have queued: the normal class's hard limit, or the pub/sub class's when
    /// normal clients are unlimited (Redis's default), so a monitor that never reads cannot grow without end.
    pub monitor_queue_limit: usize,
    /// `notify-keyspace-events` class flags (0: off).
    pub notify: u32,
    pub pubsub_limit: crate::config::ClassLimit,
    pub memory: crate::state::eviction::MemoryLimit,
    /// A provisioned database's commands-per-second limit (0: none).
    pub max_commands_per_second: u64,
    /// `replica-read-only`, `replica-serve-stale-data`, `min-replicas-to-write`, `min-replicas-max-lag`.
    pub replica_read_only: bool,
    pub serve_stale_data: bool,
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    /// `tracking-table-max-keys` (0: no limit).
    pub tracking_max_keys: usize,
    /// The encodings values are built with (`hash-max-listpack-entries` and the like).
    pub encodings: keel_persist::Limits,
}

impl BatchSettings {
    /// Whether the command may have changed them (CONFIG SET): the commands after it read them again.
    pub fn changed_by(args: &[&[u8]]) -> bool {
        args.len() > 1 && args[0].eq_ignore_ascii_case(b"config") && args[1].eq_ignore_ascii_case(b"set")
    }

    /// The settings for a batch on `tenant`: the server's, with a provisioned database's own memory limit,
    /// eviction policy, commands-per-second and request size limits. Derived once per thread, database and
    /// settings [generation](crate::config::versioned), and kept for the thread's last few databases: a
    /// caller that finds a current derivation copies it.
    pub fn read(server: &Server, tenant: &Tenant) -> BatchSettings {
        BatchSettings::with(server, tenant, |settings| *settings)
    }

    /// What `f` makes of the settings [`read`](BatchSettings::read) returns, without copying them. `f` runs
    /// while the thread's derivations are borrowed: it must not read settings itself.
    pub fn with<R>(server: &Server, tenant: &Tenant, f: impl FnOnce(&BatchSettings) -> R) -> R {
        let at = (std::ptr::from_ref(server) as usize, std::ptr::from_ref(tenant) as usize);
        let generation = crate::config::versioned::generation();
        let missed = DERIVED.with_borrow(|(kept, _)| {
            match kept.iter().flatten().find(|d| d.at == at && d.generation == generation) {
                Some(current) => Ok(f(&current.settings)),
                None => Err(f),
            }
        });
        let f = match missed {
            Ok(found) => return found,
            Err(f) => f,
        };
        // Derived outside the borrow: deriving takes locks, and nothing here may run while it is held.
        let settings = BatchSettings::derive(server, tenant);
        DERIVED.with_borrow_mut(|(kept, next)| {
            let slot = kept.iter().position(|d| d.is_some_and(|d| d.at == at)).unwrap_or(*next);
            kept[slot] = Some(Derived { at, generation, settings });
            if slot == *next {
                *next = (*next + 1) % DERIVED_PER_THREAD;
            }
        });
        f(&settings)
    }

    fn derive(server: &Server, tenant: &Tenant) -> BatchSettings {
        // Copied out first, so that no two of these locks are ever held together.
        let limits = *tenant.limits.read();
        let own = tenant.is_provisioned().then(|| *tenant.settings.read());
        let s = server.settings.read();
        let mut memory = crate::state::eviction::MemoryLimit {
            max: s.maxmemory,
            policy: keel_store::evict::Policy::parse(&s.maxmemory_policy)
                .unwrap_or(keel_store::evict::Policy::NoEviction),
            samples: s.maxmemory_samples as usize,
        };
        let (mut max_commands_per_second, mut max_request_size) = (0, 0);
        if let Some(limits) = limits {
            memory.max = limits.max_memory;
            memory.policy = limits.policy;
            max_commands_per_second = limits.max_commands_per_second;
            max_request_size = limits.max_request_size;
        }
        let per_database = own.unwrap_or_else(|| crate::config::DatabaseSettings::from(&*s));
        BatchSettings {
            slowlog_slower_than: per_database.slowlog_log_slower_than,
            slowlog_max_len: per_database.slowlog_max_len as usize,
            latency_threshold_ms: per_database.latency_monitor_threshold,
            acllog_max_len: per_database.acllog_max_len as usize,
            lfu: memory.policy.is_lfu().then_some((s.lfu_log_factor as u32, s.lfu_decay_time as u32)),
            max_bulk_len: s.proto_max_bulk_len as usize,
            query_buffer_limit: s.client_query_buffer_limit as usize,
            max_request_size,
            output_limit: s.client_output_buffer_limit.normal,
            notify: per_database.notify_keyspace_events,
            pubsub_limit: s.client_output_buffer_limit.pubsub,
            memory,
            max_commands_per_second,
            replica_read_only: s.replica_read_only,
            tracking_max_keys: s.tracking_table_max_keys as usize,
            encodings: s.encoding_limits(),
            serve_stale_data: s.replica_serve_stale_data,
            min_replicas_to_write: s.min_replicas_to_write,
            min_replicas_max_lag: s.min_replicas_max_lag,
            monitor_queue_limit: {
                let limits = s.client_output_buffer_limit;
                let cap = if limits.normal.hard > 0 { limits.normal.hard } else { limits.pubsub.hard };
                if cap == 0 {
                    usize::MAX
                } else {
                    cap as usize
                }
            },
        }
    }
}

/// Time for a batch of commands. Reading the wall clock is costly on virtual machines (it was 12% of a
/// GET benchmark's CPU), so it is read once per batch; command durations come from the TSC-based `quanta`
/// clock, and "now" advances by what those durations add up to.
///
/// Even the TSC costs (`rdtsc` is trapped or slow on many hypervisors: two reads were 5% of a PING
/// benchmark's CPU), so it is read once per command, when the command ends: a command's lap starts where
/// the previous one ended, and so includes the little that runs between two commands of a batch (parsing
/// the next one, admitting it). Waits that belong to no command start a fresh lap
/// ([`BatchClock::restart_lap`]), and so does a script's call, whose lap would otherwise hold the Lua code
/// that ran before it.
pub struct BatchClock {
    wall_ms: u64,
    started: quanta::Instant,
    last: quanta::Instant,
}

impl BatchClock {
    pub fn start() -> BatchClock {
        Self::starting_at(unix_ms())
    }

    /// A clock whose "now" starts at `wall_ms` (0 while replaying the log: nothing expires).
    pub fn starting_at(wall_ms: u64) -> BatchClock {
        let now = quanta::Instant::now();
        BatchClock { wall_ms, started: now, last: now }
    }

    /// Unix milliseconds as of the end of the last command.
    pub fn now_ms(&self) -> u64 {
        self.wall_ms + (self.last - self.started).as_millis() as u64
    }

    /// Starts the next command's lap now, after a wait that is no command's (for the database's lock, or
    /// a fairness hand-over of it).
    pub fn restart_lap(&mut self) {
        self.last = quanta::Instant::now();
    }

    /// Microseconds since the previous lap (or the start), and starts the next lap.
    fn lap_us(&mut self) -> u64 {
        let now = quanta::Instant::now();
        let elapsed = (now - self.last).as_micros() as u64;
        self.last = now;
        elapsed
    }
}

/// The shared pieces a command runs against.
pub struct Env<'a> {
    pub server: &'a Server,
    pub tenant: &'a Tenant,
    pub settings: BatchSettings,
}

/// Runs one command and writes its reply (unless CLIENT REPLY suppresses it).
pub fn execute(
    env: &Env,
    clock: &mut BatchClock,
    ks: &mut Keyspace,
    session: &mut Session,
    out: &mut ReplyWriter,
    args: &[&[u8]],
) {
    // Every command, even one MULTI queues, first brings the tracking table within its limit (Redis's
    // processCommand), so that a lowered limit takes effect at once.
    if ks.tracking.is_active() {
        let clients = |id| env.server.clients.get_in(id, &env.tenant.name);
        let own = (session.reply_mode == ReplyMode::On).then_some((session.id(), &mut *out));
        ks.tracking.limit(env.settings.tracking_max_keys, &ks.pubsub, &clients, own);
    }
    let reply_start = out.len();
    if session.reply_mode == ReplyMode::SkipNext {
        session.reply_mode = ReplyMode::Skipping;
    }
    run(env, clock, ks, session, out, args);
    ks.dispatch_changes(session.id(), &|id| env.server.clients.get_in(id, &env.tenant.name), None);
    if ks.blocking.has_group_readers() {
        ks.blocking.check_group_streams(&ks.dbs, clock.now_ms());
    }
    if ks.blocking.has_ready() {
        crate::state::blocking::serve_ready(env, clock, ks);
    }
    // The counts serve a memory limit alone; debug builds keep them anyway, to check them after every command.
    if env.settings.memory.max > 0 || cfg!(debug_assertions) {
        ks.count_db_bytes(session.db);
    } else {
        ks.recount_db_bytes_later();
    }
    // Subscription notifications are pushes, which CLIENT REPLY OFF and SKIP do not silence.
    let pushed = std::mem::take(&mut session.pushing);
    match session.reply_mode {
        ReplyMode::Off if !pushed => out.truncate(reply_start),
        ReplyMode::Skipping => {
            if !pushed {
                out.truncate(reply_start);
            }
            session.reply_mode = ReplyMode::On;
        }
        ReplyMode::Off | ReplyMode::On | ReplyMode::SkipNext => {}
    }
}

/// What a key past its TTL does for this command: on a replica the primary decides when keys expire (its
/// stream reads them as live, clients read them as missing, nobody deletes them); while the database is
/// paused they stay and read as missing; otherwise reading deletes them.
fn expiry_mode(env: &Env, session: &Session, paused: bool) -> keel_store::ExpiredKeys {
    use keel_store::ExpiredKeys;
    if session.master {
        ExpiredKeys::Live
    } else if paused || env.tenant.replication.is_replica() {
        ExpiredKeys::Hide
    } else {
        ExpiredKeys::Delete
    }
}

fn hold_expired_keys(ks: &mut Keyspace, mode: keel_store::ExpiredKeys) {
    if ks.expired_keys != mode {
        ks.expired_keys = mode;
        ks.dbs.iter_mut().for_each(|db| db.expired_keys(mode));
    }
}

/// The error past a database's `max_commands_per_second` (REST answers it with 429).
pub const RATE_LIMITED: &str = "ERR max commands per second reached for this database, try again shortly";

/// A command rejected while a transaction is being queued makes its EXEC fail (Redis's `flagTransaction`).
fn flag_transaction(session: &mut Session) {
    if let Some(transaction) = &mut session.transaction {
        transaction.aborted = true;
    }
}

/// Refuses a command: its rejected count, the error statistics (a script's command too, as Redis counts
/// it when it is refused, whether or not the script then catches it), and the error reply.
fn reject(ks: &mut Keyspace, out: &mut ReplyWriter, command: Option<&Command>, error: &str) {
    count_rejection(ks, command, error);
    out.error(error);
}

/// Counts a refused command (when it is known) and its error, as Redis counts a command refused by the
/// gate or, from a script, by the script's own checks (scriptCall's `incrCommandStatsOnError`).
pub(crate) fn count_rejection(ks: &mut Keyspace, command: Option<&Command>, error: &str) {
    if let Some(cmd) = command {
        ks.stats.commands.at(cmd.id).rejected += 1;
    }
    count_error(ks, error);
}

fn count_error(ks: &mut Keyspace, error: &str) {
    ks.stats.total_error_replies += 1;
    let code = error.split(' ').next().unwrap_or("ERR");
    if code == "OOM" || error.ends_with(crate::state::eviction::OOM) {
        ks.stats.quota_refused += 1;
    }
    match ks.stats.errors.get_mut(code) {
        Some(count) => *count += 1,
        None => {
            ks.stats.errors.insert(code.to_string(), 1);
        }
    }
}

/// The arguments as MONITOR and SLOWLOG may show them: from where a command's table entry says its secrets
/// begin (AUTH's password, ACL SETUSER's rules), `(redacted)`, as Redis does.
fn redacted<'a>(command: &Command, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
    let secrets = command.spec.secrets;
    args.iter().enumerate().map(|(i, a)| if secrets.covers(args, i) { &b"(redacted)"[..] } else { *a }).collect()
}

fn run(
    env: &Env,
    clock: &mut BatchClock,
    ks: &mut Keyspace,
    session: &mut Session,
    out: &mut ReplyWriter,
    args: &[&[u8]],
) {
    let command = match crate::exec::admission::admit(env, session, args, ServerState::Ready) {
        Ok(command) => command,
        Err(refusal) => {
            // EXEC refused discards its transaction (Redis's execCommandAbort).
            let aborts = refusal.command.is_some_and(|c| c.spec.name == "exec") && session.transaction.is_some();
            if !aborts {
                return reject(ks, out, refusal.command, &refusal.error);
            }
            crate::exec::admission::answer_refusal(session, &refusal, out);
            if let Some(cmd) = refusal.command {
                ks.stats.commands.at(cmd.id).rejected += 1;
            }
            return count_error(ks, "EXECABORT");
        }
    };
    if held_back(env, clock, ks, session, out, command, args) {
        return;
    }
    let Some(handler) = command.spec.handler else {
        let error = format!("ERR wrong number of arguments for '{}' command", command.fullname);
        return reject(ks, out, Some(command), &error);
    };
    // CLIENT LIST's `cmd` is what the client sent: EXEC or EVAL, not the commands they ran.
    if !session.in_exec && !session.in_script {
        session.info.last_command.store(command.id, std::sync::atomic::Ordering::Relaxed);
    }
    if session.in_script {
        clock.restart_lap();
    }
    let access = AccessClock { now_ms: clock.now_ms(), lfu: env.settings.lfu };
    let dirty_before = ks.dirty;
    let events = crate::notify::Events { flags: env.settings.notify, limit: env.settings.pubsub_limit };
    let result = {
        let (server, tenant, settings) = (env.server, env.tenant, &env.settings);
        let mut ctx = Ctx { server, tenant, ks, session, out, command, clock: access, events, settings };
        handler(&mut ctx, args)
    };
    // Keys found expired while the command ran are deleted: their DELs reach the log before the command.
    ks.after_command_expiry(events, session.db);
    if ks.log.enabled {
        crate::persistence::propagate::after_command(ks, session.db, command, args, dirty_before);
    }
    if ks.tracking.is_active() {
        track(ks, session, command, args);
    }
    // Monitors see a command once it ran (as Redis's call() feeds them): EXEC after what it executed, and a
    // blocking command once, when it first ran, not again when it is served.
    if !ks.monitors.is_empty() && !command.has(flags::ADMIN | flags::SKIP_MONITOR) && !session.unblocked {
        let shown = redacted(command, args);
        feed_monitors(ks, session, &shown, env.settings.monitor_queue_limit);
    }
    let elapsed_us = clock.lap_us();
    // A command that blocked is counted when it is served (Redis's updateStatsOnUnblock), not twice.
    if !matches!(session.action, Some(crate::exec::session::Action::Block(_))) {
        ks.stats.commands.at(command.id).record(elapsed_us);
        let threshold = env.settings.latency_threshold_ms;
        if threshold > 0 && elapsed_us / 1000 >= threshold {
            let event = if command.has(flags::FAST) { "fast-command" } else { "command" };
            ks.latency.add(event, elapsed_us / 1000, unix_ms() / 1000);
        }
    }
    ks.stats.total_commands += 1;
    if let Err(CmdError(error)) = result {
        ks.stats.commands.at(command.id).failed += 1;
        // Counted once: a script's error raised by a command it called was counted when that command
        // failed.
        if !std::mem::take(&mut session.error_counted) {
            count_error(ks, &error);
        }
        out.error(&error);
    }
    // The slow log has a blocking command once it is served, not while it waits (Redis 7.2).
    let blocked = matches!(session.action, Some(crate::exec::session::Action::Block(_)));
    // Redis reads the threshold after the command ran: a CONFIG SET of it applies to itself.
    let threshold = match command.fullname.as_str() {
        "config|set" => BatchSettings::read(env.server, env.tenant).slowlog_slower_than,
        _ => env.settings.slowlog_slower_than,
    };
    if threshold >= 0 && elapsed_us >= threshold as u64 && !command.has(flags::SKIP_SLOWLOG) && !blocked {
        let client = (session.info.addr.clone(), session.info.name_string());
        ks.slowlog.record(&redacted(command, args), elapsed_us, client, env.settings.slowlog_max_len);
    }
}

/// The checks between admission and the handler, in Redis's order: CLIENT PAUSE holding the command, a
/// log that cannot be written, the commands-per-second limit, memory (evicting to make room, refusing what
/// would grow past it), and MULTI queueing the command instead of running it. True when the command was
/// answered (or held) here and must not run now.
fn held_back(
    env: &Env,
    clock: &mut BatchClock,
    ks: &mut Keyspace,
    session: &mut Session,
    out: &mut ReplyWriter,
    command: &Command,
    args: &[&[u8]],
) -> bool {
    let paused = env.tenant.pause.active();
    hold_expired_keys(ks, expiry_mode(env, session, paused.is_some()));
    // Nothing inside EXEC or a script waits: a pause begins when they end.
    if let Some(mode) = paused.filter(|_| !session.in_exec && !session.in_script && !session.master) {
        if mode == PauseMode::All || crate::exec::pausing::may_write(env.server, ks, session, command, args) {
            session.action = Some(crate::exec::session::Action::Paused);
            return true;
        }
    }
    if command.has(flags::WRITE) {
        if let Some(refusal) = env.tenant.persistence.write_refusal() {
            flag_transaction(session);
            reject(ks, out, Some(command), &refusal);
            return true;
        }
    }
    // Commands a script runs count too; a transaction's were counted as they were queued.
    if env.settings.max_commands_per_second > 0 && !session.in_exec && !session.master {
        let second = clock.now_ms() / 1000;
        let (window, count) = &mut ks.rate_window;
        if *window != second {
            (*window, *count) = (second, 0);
        }
        *count += 1;
        if *count > env.settings.max_commands_per_second {
            flag_transaction(session);
            ks.stats.rate_limited += 1;
            reject(ks, out, Some(command), RATE_LIMITED);
            return true;
        }
    }
    // Memory: evict to make room before any command; refuse what may grow the dataset when it cannot fit
    // (EXEC counts as such when it queued such a command). Redis checks a transaction's commands only as
    // they are queued; a provisioned database also checks them as EXEC runs them, so that one transaction
    // cannot take it past its quota: the first write that does not fit and everything after it get the
    // OOM error (Keel's one deliberate difference from Redis's transactions).
    if session.exec_over_quota {
        reject(ks, out, Some(command), crate::state::eviction::OOM);
        return true;
    }
    // A replica never evicts (Redis's replica-ignore-maxmemory): its keys go when its primary's DELs say.
    let evicts = !env.tenant.replication.is_replica();
    if env.settings.memory.max > 0 && evicts && (!session.in_exec || env.tenant.is_provisioned()) {
        let access = AccessClock { now_ms: clock.now_ms(), lfu: env.settings.lfu };
        let events = crate::notify::Events { flags: env.settings.notify, limit: env.settings.pubsub_limit };
        let evicted_before = ks.stats.evicted_keys;
        let clients = env.tenant.clients_memory();
        let fits = crate::state::eviction::make_room(ks, &env.settings.memory, clients, &access, events);
        if ks.stats.evicted_keys != evicted_before {
            // Keys evicted before the command ran: a client tracking them hears of it before the command's
            // reply (Redis evicts before it starts the command), unless its replies are switched off.
            let own = (session.reply_mode == ReplyMode::On).then_some(&mut *out);
            ks.dispatch_changes(session.id(), &|id| env.server.clients.get_in(id, &env.tenant.name), own);
        }
        let grows = command.has(flags::DENYOOM)
            || (command.spec.name == "exec" && session.transaction.as_ref().is_some_and(|t| t.may_grow));
        if !fits && grows && !session.allow_oom && !session.master {
            flag_transaction(session);
            if command.spec.name == "exec" {
                session.transaction = None;
                session.info.set_flag(crate::clients::flag::MULTI, false);
                let error = format!("EXECABORT Transaction discarded because of: {}", crate::state::eviction::OOM);
                reject(ks, out, Some(command), &error);
                return true;
            }
            session.exec_over_quota = session.in_exec;
            reject(ks, out, Some(command), crate::state::eviction::OOM);
            return true;
        }
    }
    if let Some(transaction) = &mut session.transaction {
        let top_level = command.parent.map_or(command, |p| env.server.commands.get(p));
        if !top_level.has(flags::NOT_QUEUED) {
            if command.has(flags::NO_MULTI) {
                transaction.aborted = true;
                reject(ks, out, Some(command), "ERR Command not allowed inside a transaction");
                return true;
            }
            transaction.queued.push(args.iter().map(|a| a.to_vec()).collect());
            transaction.may_grow |= command.has(flags::DENYOOM);
            transaction.writes |= command.has(flags::WRITE);
            transaction.needs_fresh |= !command.has(flags::STALE);
            out.simple("QUEUED");
            return true;
        }
    }
    false
}

/// Client-side caching: remembers the keys a tracking client read (flushes tell every tracker themselves).
fn track(ks: &mut Keyspace, session: &mut Session, command: &Command, args: &[&[u8]]) {
    let keys_of = || command.key_positions(args).into_iter().map(|i| args[i].to_vec());
    // A script's read commands note the keys they read; the script's caller tracks those (Redis 7.2), so a
    // script that reads nothing tracks nothing, whatever keys it declared. Only a tracking caller's are noted.
    if session.in_script {
        if command.has(flags::READONLY) && ks.tracking.get(session.id()).is_some() {
            session.script_reads.extend(keys_of());
        }
        return;
    }
    let caching = if command.fullname == "client|caching" { session.caching } else { session.caching.take() };
    let scripted = command.categories & cat::SCRIPTING != 0;
    if !scripted && !command.has(flags::READONLY) {
        return;
    }
    let script_reads = if scripted { std::mem::take(&mut session.script_reads) } else { Vec::new() };
    let Some(t) = ks.tracking.get(session.id()) else { return };
    let wanted = !t.bcast && (!t.optin || caching == Some(true)) && (!t.optout || caching != Some(false));
    if !wanted {
        return;
    }
    if scripted {
        if !script_reads.is_empty() {
            ks.tracking.remember(session.id(), script_reads.into_iter());
        }
    } else {
        ks.tracking.remember(session.id(), keys_of());
    }
}

/// Sends a MONITOR line for this command to every monitoring client, dropping the ones that went away.
pub fn feed_monitors(ks: &mut Keyspace, session: &Session, args: &[&[u8]], queue_limit: usize) {
    let us = unix_us();
    let source = if session.in_script { "lua" } else { session.info.addr.as_str() };
    let mut line = format!("+{}.{:06} [{} {}]", us / 1_000_000, us % 1_000_000, session.db, source);
    for arg in args {
        line.push_str(" \"");
        for &b in *arg {
            match b {
                b'\\' => line.push_str("\\\\"),
                b'"' => line.push_str("\\\""),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                0x07 => line.push_str("\\a"),
                0x08 => line.push_str("\\b"),
                0x20..=0x7e => line.push(b as char),
                _ => {
                    let _ = write!(line, "\\x{b:02x}");
                }
            }
        }
        line.push('"');
    }
    line.push_str("\r\n");
    let bytes = bytes::Bytes::from(line.into_bytes());
    ks.monitors.retain(|m| match m.feed.push(bytes.clone()) {
        Some(queued) if queued > queue_limit => {
            let database = m.client.tenant_name();
            tracing::info!(client = m.client.id, database, "closing MONITOR client over its output buffer limit");
            m.client.kill();
            false
        }
        Some(_) => true,
        None => false,
    });
}

#[cfg(test)]
mod tests {
    use super::BatchSettings;
    use crate::databases::TenantLimits;
    use crate::persistence::Persistence;
    use crate::server::Server;
    use crate::state::tenant::Tenant;

    fn limits(max_request_size: u64) -> Option<TenantLimits> {
        let policy = keel_store::evict::Policy::NoEviction;
        Some(TenantLimits { max_memory: 0, policy, max_connections: 0, max_commands_per_second: 0, max_request_size })
    }

    /// One thread serving more databases than it keeps derivations for: each read gets its own database's
    /// settings, and a change to one database's limits reaches its next read.
    #[test]
    fn a_thread_keeps_each_databases_settings_apart() {
        let dir = std::env::temp_dir().join(format!("keel-batch-settings-{}", std::process::id()));
        let settings = crate::config::Settings { dir: dir.clone(), ..Default::default() };
        let server = Server::new(settings).unwrap();
        let tenants: Vec<Tenant> = (1..=6u64)
            .map(|i| {
                let persistence = Persistence::open(&dir.join(i.to_string())).unwrap();
                Tenant::new(&format!("t{i}"), 1, &server.commands, persistence, limits(i))
            })
            .collect();
        let sizes = || tenants.iter().map(|t| BatchSettings::read(&server, t).max_request_size).collect::<Vec<_>>();
        assert_eq!(sizes(), [1, 2, 3, 4, 5, 6]);
        assert_eq!(sizes(), [1, 2, 3, 4, 5, 6]);
        *tenants[5].limits.write() = limits(60);
        assert_eq!(BatchSettings::read(&server, &tenants[4]).max_request_size, 5);
        assert_eq!(BatchSettings::read(&server, &tenants[5]).max_request_size, 60);
        drop(server);
        std::fs::remove_dir_all(dir).unwrap();
    }
}

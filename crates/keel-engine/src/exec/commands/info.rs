//! INFO: Redis's sections, reporting the caller's own database (tenant). The server's administrator also
//! sees the process's figures (RSS, CPU, connections and bytes of every database); a provisioned database
//! sees its own in their place, and its own limits as `maxmemory` and `maxclients`.
//! `redis_version` says 8.2.0, the Redis whose commands Keel answers (clients gate features on it);
//! `keel_version` says what this really is.

use super::connection::REDIS_VERSION;
use super::Ctx;
use std::fmt::Write;

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
    "keysizes",
];

/// Renders the sections asked for (`default`, `all`, `everything` or names), as INFO's text.
pub fn render(ctx: &Ctx, args: &[&[u8]]) -> String {
    let mut wanted: Vec<String> = Vec::new();
    if args.is_empty() {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }
    for arg in args {
        let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
        match name.as_str() {
            "default" => wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string())),
            "all" | "everything" => {
                wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
                wanted.push("commandstats".into());
                wanted.push("latencystats".into());
            }
            _ => wanted.push(name),
        }
    }
    let mut out = String::new();
    let order = DEFAULT_SECTIONS.iter().copied().chain(["commandstats", "latencystats"]);
    for section in order.filter(|s| wanted.iter().any(|w| w == s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section_text(ctx, section, &mut out);
    }
    out
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{n}B")
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

/// Resident set size in bytes, from /proc (0 where unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

/// User and system CPU seconds of the process, from /proc (zeros where unavailable).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces and ends with ')').
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) / 100.0;
    (ticks(11), ticks(12))
}

/// Which database is asking, as every section needs it.
struct View {
    /// The caller's settings: a provisioned database's own limits in place of the server's.
    settings: crate::config::Settings,
    /// A provisioned database sees its own limits, counters and memory, never the process's.
    own: bool,
}

fn section_text(ctx: &Ctx, section: &str, out: &mut String) {
    let view =
        View { settings: ctx.tenant.settings_view(&ctx.server.settings.read()), own: ctx.tenant.is_provisioned() };
    match section {
        "server" => server_section(ctx, &view, out),
        "clients" => clients_section(ctx, &view, out),
        "memory" => memory_section(ctx, &view, out),
        "stats" => stats_section(ctx, &view, out),
        "replication" => replication_section(ctx, out),
        "cpu" => cpu_section(view.own, out),
        "errorstats" => errorstats_section(ctx, out),
        "cluster" => cluster_section(out),
        "keyspace" => keyspace_section(ctx, out),
        "keysizes" => keysizes_section(ctx, out),
        "commandstats" => commandstats_section(ctx, out),
        "persistence" => crate::persistence::info(out, ctx.ks, &ctx.tenant.persistence, &view.settings),
        "modules" => out.push_str("# Modules\r\n"),
        "latencystats" => out.push_str("# Latencystats\r\n"),
        _ => {}
    }
}

/// One `key:value` line of a section.
fn line(out: &mut String, key: &str, value: &dyn std::fmt::Display) {
    let _ = write!(out, "{key}:{value}\r\n");
}

/// `# Server`: versions, process and uptime (a provisioned database is not shown the executable).
fn server_section(ctx: &Ctx, view: &View, out: &mut String) {
    let server = ctx.server;
    let settings = &view.settings;
    let own = view.own;
    out.push_str("# Server\r\n");
    line(out, "redis_version", &REDIS_VERSION);
    line(out, "keel_version", &env!("CARGO_PKG_VERSION"));
    line(out, "redis_git_sha1", &"00000000");
    line(out, "redis_git_dirty", &0);
    line(out, "redis_build_id", &"0");
    line(out, "redis_mode", &"standalone");
    line(out, "os", &std::env::consts::OS);
    line(out, "arch_bits", &64);
    line(out, "multiplexing_api", &"epoll");
    line(out, "process_id", &std::process::id());
    line(out, "process_supervised", &"no");
    line(out, "run_id", &server.run_id);
    line(out, "tcp_port", &server.port());
    line(out, "server_time_usec", &crate::clock::unix_us());
    line(out, "uptime_in_seconds", &server.uptime_secs());
    line(out, "uptime_in_days", &(server.uptime_secs() / 86400));
    line(out, "hz", &settings.hz);
    line(out, "configured_hz", &settings.hz);
    line(out, "lru_clock", &((ctx.now_ms() / 1000) & 0xff_ffff));
    let executable = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    line(out, "executable", if own { &"" } else { &executable });
    line(out, "config_file", &"");
    line(out, "io_threads_active", &0);
}

/// `# Clients`: the database's connections, blocked and tracking clients.
fn clients_section(ctx: &Ctx, view: &View, out: &mut String) {
    let server = ctx.server;
    let settings = &view.settings;
    out.push_str("# Clients\r\n");
    line(out, "connected_clients", &server.clients.count_in(&ctx.tenant.name));
    line(out, "cluster_connections", &0);
    line(out, "maxclients", &settings.maxclients);
    line(out, "client_recent_max_input_buffer", &0);
    line(out, "client_recent_max_output_buffer", &0);
    line(out, "blocked_clients", &(ctx.ks.blocking.blocked_clients() + ctx.tenant.pause.holding()));
    line(out, "tracking_clients", &ctx.ks.tracking.counts().clients);
    line(out, "clients_in_timeout_table", &0);
    let (blocking_keys, on_nokey) = ctx.ks.blocking.blocking_keys();
    line(out, "total_blocking_keys", &blocking_keys);
    line(out, "total_blocking_keys_on_nokey", &on_nokey);
    client_groups(out, server, &ctx.tenant.name, ctx.now_ms());
}

/// `# Memory`: the database's structures, its dataset and Lua, and its clients' buffers (what maxmemory and
/// quotas count), plus what its replication backlog and its pending log take beside them.
fn memory_section(ctx: &Ctx, view: &View, out: &mut String) {
    let settings = &view.settings;
    let own = view.own;
    out.push_str("# Memory\r\n");
    let dataset = ctx.ks.dataset_memory() as u64;
    let startup = ctx.ks.startup_memory() as u64;
    let buffers = memory_overhead(ctx);
    let overhead = startup + buffers;
    let used = dataset + overhead;
    let rss = if own { used } else { rss_bytes() };
    line(out, "used_memory", &used);
    line(out, "used_memory_human", &human_bytes(used));
    line(out, "used_memory_rss", &rss);
    line(out, "used_memory_rss_human", &human_bytes(rss));
    line(out, "used_memory_peak", &used);
    line(out, "used_memory_peak_human", &human_bytes(used));
    line(out, "used_memory_overhead", &overhead);
    line(out, "used_memory_startup", &startup);
    line(out, "used_memory_dataset", &dataset);
    let scripting = &ctx.ks.scripting;
    let (eval_vm, functions_vm) = (scripting.eval_memory() as u64, scripting.functions.lua_memory() as u64);
    line(out, "used_memory_lua", &eval_vm);
    line(out, "used_memory_vm_eval", &eval_vm);
    line(out, "used_memory_lua_human", &human_bytes(eval_vm));
    line(out, "used_memory_scripts_eval", &(scripting.scripts.bytes as u64));
    line(out, "number_of_cached_scripts", &scripting.scripts.len());
    line(out, "number_of_functions", &scripting.functions.function_count());
    line(out, "number_of_libraries", &scripting.functions.libraries.len());
    line(out, "used_memory_vm_functions", &functions_vm);
    line(out, "used_memory_vm_total", &(eval_vm + functions_vm));
    line(out, "used_memory_vm_total_human", &human_bytes(eval_vm + functions_vm));
    line(out, "maxmemory", &settings.maxmemory);
    line(out, "maxmemory_human", &human_bytes(settings.maxmemory));
    line(out, "maxmemory_policy", &settings.maxmemory_policy);
    // Eviction (and a database's quota) counts the database's structures, its dataset and its clients'
    // buffers; its replication backlog and its pending log are outside it, as Redis leaves them out.
    line(out, "mem_not_counted_for_evict", &not_counted_for_evict(ctx));
    // Normal clients' buffers and push queues, as maxmemory counts them (replicas' feeds aside).
    line(out, "mem_clients_normal", &ctx.tenant.clients_memory());
    let ratio = if used > 0 { rss as f64 / used as f64 } else { 0.0 };
    line(out, "mem_fragmentation_ratio", &format!("{ratio:.2}"));
    line(out, "mem_allocator", &"mimalloc");
    let lazyfree = &ctx.tenant.lazyfree;
    line(out, "lazyfree_pending_objects", &lazyfree.pending.load(std::sync::atomic::Ordering::Relaxed));
    line(out, "lazyfreed_objects", &lazyfree.freed.load(std::sync::atomic::Ordering::Relaxed));
}

/// `# Stats`: the database's counters; the server's administrator sees the process's connections and bytes.
fn stats_section(ctx: &Ctx, view: &View, out: &mut String) {
    let server = ctx.server;
    let own = view.own;
    let stats = &ctx.ks.stats;
    out.push_str("# Stats\r\n");
    let (s, m) = (&server.stats, &ctx.tenant.meters);
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    let (received, input, output, rejected) = if own {
        (&m.connections_received, &m.bytes_in, &m.bytes_out, &ctx.tenant.refused_logins)
    } else {
        (&s.connections_received, &s.net_input_bytes, &s.net_output_bytes, &s.rejected_connections)
    };
    line(out, "total_connections_received", &load(received));
    line(out, "total_commands_processed", &stats.total_commands);
    line(out, "instantaneous_ops_per_sec", &stats.instantaneous_ops());
    line(out, "total_net_input_bytes", &load(input));
    line(out, "total_net_output_bytes", &load(output));
    line(out, "rejected_connections", &load(rejected));
    let repl = &ctx.tenant.replication;
    line(out, "sync_full", &load(&repl.sync_full));
    line(out, "sync_partial_ok", &load(&repl.sync_partial_ok));
    line(out, "sync_partial_err", &load(&repl.sync_partial_err));
    line(out, "expired_subkeys", &stats.expired_subkeys);
    line(out, "expired_keys", &stats.expired_keys);
    line(out, "evicted_keys", &stats.evicted_keys);
    // Client eviction is the server's (maxmemory-clients): a provisioned database sees 0.
    line(out, "evicted_clients", &if own { 0 } else { load(&s.evicted_clients) });
    line(out, "keyspace_hits", &stats.keyspace_hits);
    line(out, "keyspace_misses", &stats.keyspace_misses);
    let tracking = ctx.ks.tracking.counts();
    line(out, "tracking_total_keys", &tracking.keys);
    line(out, "tracking_total_items", &tracking.items);
    line(out, "tracking_total_prefixes", &tracking.prefixes);
    let (channels, patterns, _) = ctx.ks.pubsub.counts();
    line(out, "pubsub_channels", &channels);
    line(out, "pubsub_patterns", &patterns);
    line(out, "total_error_replies", &stats.total_error_replies);
    line(out, "migrate_cached_sockets", &ctx.ks.migrate.len());
}

/// `# Replication`: the database's role, link and offsets.
fn replication_section(ctx: &Ctx, out: &mut String) {
    let server = ctx.server;
    out.push_str("# Replication\r\n");
    let backlog_size = server.settings.read().repl_backlog_size;
    let failover_state = {
        let failover = server.failover.lock();
        let moving = failover.as_ref().filter(|f| !ctx.tenant.is_provisioned() || f.held.contains(&ctx.tenant.name));
        crate::replication::failover_state_name(moving)
    };
    super::replication::info_section(out, ctx.tenant, backlog_size, failover_state);
}

/// `# CPU`: the process's CPU time is every database's, so a provisioned one is not shown it.
fn cpu_section(own: bool, out: &mut String) {
    out.push_str("# CPU\r\n");
    let (user, sys) = if own { (0.0, 0.0) } else { cpu_seconds() };
    line(out, "used_cpu_sys", &format!("{sys:.6}"));
    line(out, "used_cpu_user", &format!("{user:.6}"));
}

/// `# Errorstats`: error replies by code.
fn errorstats_section(ctx: &Ctx, out: &mut String) {
    let stats = &ctx.ks.stats;
    out.push_str("# Errorstats\r\n");
    for (code, count) in &stats.errors {
        let _ = write!(out, "errorstat_{code}:count={count}\r\n");
    }
}

/// `# Cluster`: cluster mode is off.
fn cluster_section(out: &mut String) {
    out.push_str("# Cluster\r\n");
    line(out, "cluster_enabled", &0);
}

/// `# Keyspace`: keys per logical database.
fn keyspace_section(ctx: &Ctx, out: &mut String) {
    out.push_str("# Keyspace\r\n");
    for (i, db) in ctx.ks.dbs.iter().enumerate().filter(|(_, db)| !db.is_empty()) {
        let (keys, volatile, hashes) = (db.len(), db.volatile_len(), db.field_volatile_len());
        let _ = write!(out, "db{i}:keys={keys},expires={volatile},avg_ttl=0,subexpiry={hashes}\r\n");
    }
}

/// `# Keysizes`: Redis 8's histograms of key sizes, per database and type: `bin=keys` where a bin's
/// label is the least size it holds.
fn keysizes_section(ctx: &Ctx, out: &mut String) {
    out.push_str("# Keysizes\r\n");
    for (i, db) in ctx.ks.dbs.iter().enumerate().filter(|(_, db)| !db.is_empty()) {
        for (kind, name) in keel_store::SIZE_KINDS.iter().enumerate() {
            let bins: Vec<String> =
                db.key_sizes(kind).map(|(bin, keys)| format!("{}={keys}", keel_store::bin_label(bin))).collect();
            if !bins.is_empty() {
                let _ = write!(out, "db{i}_{name}:{}\r\n", bins.join(","));
            }
        }
    }
}

/// `# Commandstats`: calls, time and failures per command that ran.
fn commandstats_section(ctx: &Ctx, out: &mut String) {
    let server = ctx.server;
    let stats = &ctx.ks.stats;
    out.push_str("# Commandstats\r\n");
    for cmd in server.commands.all() {
        let s = stats.commands.get(cmd.id);
        if s.calls == 0 && s.rejected == 0 && s.failed == 0 {
            continue;
        }
        let per_call = if s.calls > 0 { s.usec as f64 / s.calls as f64 } else { 0.0 };
        let _ = write!(
            out,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            cmd.fullname, s.calls, s.usec, per_call, s.rejected, s.failed
        );
    }
}

/// Memory of the database beside its dataset: its clients' buffers (as CLIENT LIST's `tot-mem` counts
/// them), its replication backlog and the log buffer not yet written.
fn memory_overhead(ctx: &Ctx) -> u64 {
    let clients = ctx.server.clients.snapshot().into_iter().filter(|c| c.in_tenant(&ctx.tenant.name));
    let buffers: u64 = clients.map(|c| c.total_memory()).sum();
    buffers + not_counted_for_evict(ctx)
}

/// The replication backlog and the log's pending buffer: memory `maxmemory` does not count.
fn not_counted_for_evict(ctx: &Ctx) -> u64 {
    let (_, backlog) = ctx.tenant.persistence.stream.backlog_span();
    backlog as u64 + ctx.ks.log.buf.capacity() as u64
}

/// Keel's addition to `# Clients`: connections grouped by client address (without port) and name, with
/// the oldest age and longest idle time, so that an application leaking connections is named in one look.
fn client_groups(out: &mut String, server: &crate::Server, tenant: &str, now_ms: u64) {
    for (i, g) in server.clients.groups(tenant, now_ms).iter().take(20).enumerate() {
        let _ = write!(
            out,
            "client_group_{i}:addr={},name={},connections={},oldest_age={},max_idle={}\r\n",
            g.addr, g.name, g.connections, g.oldest_age_secs, g.max_idle_secs
        );
    }
}

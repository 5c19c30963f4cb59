//! Settings: one table of parameters, named as Redis names them, that feeds `CONFIG GET/SET`, the `keel.toml`
//! file, `KEEL_*` environment variables and command-line flags (flags win over env, env over the file).

use keel_store::{glob, HashLimits, SetLimits, ZSetLimits};
use std::path::PathBuf;

/// Every setting Keel has. Settings that later subsystems read (persistence, encodings) are accepted and
/// kept now so that clients and Redis's test suite can set them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    /// The host name or address clients reach this Keel at, for the URLs it hands out (empty: the bound
    /// address, or the machine's name when bound to every interface).
    pub advertise: String,
    /// The etcd this node coordinates through (`etcd://host:port`; empty: not clustered).
    pub cluster: String,
    /// This node's name in the cluster (default: the host name) and its region (a placement label).
    pub node_name: String,
    pub region: String,
    /// Seconds a node's and a primary's etcd lease lasts without renewal.
    pub cluster_lease: u64,
    /// Whether nodes move their databases to spread primaries evenly within a region (off by default).
    pub cluster_rebalance: bool,
    pub port: u16,
    pub http_port: u16,
    pub dir: PathBuf,
    /// Where database backups go (empty: `<dir>/backups`); a volume of its own in production.
    pub backup_dir: PathBuf,
    pub requirepass: String,
    /// The default database's REST token (generated at first start when none is set).
    pub rest_token: String,
    /// Authorizes `/metrics` besides the admin token (none when empty).
    pub metrics_token: String,
    /// `/metrics` answers anyone (for a scraper on a private network); off by default.
    pub metrics_public: bool,
    /// Authorizes the admin API (`/v1/databases`, `keel db`); generated at first start when not set.
    pub admin_token: String,
    /// TLS: certificate chain and key (PEM). With them RESP speaks TLS on `tls-port` beside the plain port,
    /// or on the main port when `tls-port` is 0; HTTPS is served on `tls-http-port` beside plain HTTP.
    /// CONFIG SET of any of these four reads the files again (a rotated certificate at the same path too)
    /// and new connections use them.
    pub tls_cert_file: String,
    pub tls_key_file: String,
    /// The password of a key file encrypted as PKCS#8.
    pub tls_key_file_pass: String,
    /// Client certificates must be signed by this CA (mutual TLS).
    pub tls_ca_cert_file: String,
    /// Redis's password for `tls-client-key-file`, the key of outgoing TLS connections: Keel makes none, so
    /// it is kept (and redacted) only so that Redis's configurations and tools can set it.
    pub tls_client_key_file_pass: String,
    pub tls_port: u64,
    pub tls_http_port: u64,
    /// A REST token that may run only read-only commands (none when empty).
    pub rest_readonly_token: String,
    /// HTTP connections served at once; more are answered 503 and closed.
    pub http_max_connections: u64,
    /// Seconds an HTTP connection may take to send a request's headers (or sit idle between requests), and
    /// a request its body and handler.
    pub http_timeout: u64,
    /// How often an idle SSE stream sends a heartbeat comment (platform proxies close idle streams).
    pub rest_sse_heartbeat_ms: u64,
    pub maxclients: u64,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub protected_mode: bool,
    pub databases: u64,
    pub hz: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: String,
    pub maxmemory_samples: u64,
    /// `maxmemory-clients`: bytes, or a percentage of `maxmemory`, all clients' buffers together may take
    /// before the largest are closed (client eviction); "0" for no limit.
    pub maxmemory_clients: String,
    /// Accepted for Redis's configuration files and suites: Keel always checks a RESTORE payload whole.
    pub sanitize_dump_payload: String,
    /// Redis's test-only delays, accepted and ignored.
    pub key_load_delay: i64,
    pub rdb_key_save_delay: i64,
    /// Keel runs in the foreground (systemd, containers): `daemonize` can only be `no`.
    pub daemonize: bool,
    /// Redis's I/O threads: Keel's connections run on the async runtime's workers; reported as 1, as Redis
    /// reports a server without I/O threads.
    pub io_threads: u64,
    /// Turn transparent huge pages off for the process at start (Redis 6.2+'s `disable-thp`): the
    /// allocator asks for them, and a huge page faulted in whole costs latency and memory.
    pub disable_thp: bool,
    /// Accepted for Redis's clients and tests; Keel evicts until memory fits, however long that takes.
    pub maxmemory_eviction_tenacity: u64,
    pub lfu_log_factor: u64,
    pub lfu_decay_time: u64,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    /// Milliseconds from which a command or an expiry cycle is a latency event (0: off).
    pub latency_monitor_threshold: u64,
    /// Entries ACL LOG keeps per database.
    pub acllog_max_len: u64,
    pub proto_max_bulk_len: u64,
    pub client_query_buffer_limit: u64,
    pub active_expire_enabled: bool,
    pub save: String,
    pub appendonly: bool,
    pub appendfsync: String,
    pub dbfilename: String,
    pub appendfilename: String,
    pub appenddirname: String,
    pub aof_load_truncated: bool,
    pub aof_use_rdb_preamble: bool,
    pub auto_aof_rewrite_percentage: u64,
    pub auto_aof_rewrite_min_size: u64,
    pub rdbcompression: bool,
    pub rdbchecksum: bool,
    pub stop_writes_on_bgsave_error: bool,
    pub tracking_table_max_keys: u64,
    pub list_max_listpack_size: i64,
    pub list_compress_depth: u64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    /// How large a sparse HyperLogLog may grow before it turns dense.
    pub hll_sparse_max_bytes: u64,
    pub stream_node_max_bytes: u64,
    pub stream_node_max_entries: u64,
    /// `notify-keyspace-events`, as class flags (see `notify`).
    pub notify_keyspace_events: u32,
    pub lazyfree_lazy_user_flush: bool,
    /// DEL frees large values in the background, as UNLINK does.
    pub lazyfree_lazy_user_del: bool,
    /// Accepted for Redis's configuration files and suites: Keel frees what eviction, expiry, implicit
    /// deletes and a replica's full sync drop the way it frees everything else.
    pub lazyfree_lazy_eviction: bool,
    pub lazyfree_lazy_expire: bool,
    pub lazyfree_lazy_server_del: bool,
    pub replica_lazy_flush: bool,
    /// Redis 7.2's set listpack thresholds: accepted; Keel's small sets use the intset and table encodings.
    pub set_max_listpack_entries: u64,
    pub set_max_listpack_value: u64,
    pub busy_reply_threshold: u64,
    /// Keel: bytes a database's Lua states may take (a provisioned database: at most its quota too); past it
    /// the allocation fails and the script ends with Lua's "not enough memory".
    pub lua_memory_limit: u64,
    pub loglevel: String,
    pub latency_tracking: bool,
    pub client_output_buffer_limit: OutputLimits,
    /// The primary this server follows from start-up, `host port` (empty: none; REPLICAOF changes it).
    pub replicaof: String,
    /// The password (and user) a replica logs in to its primary with.
    pub masterauth: String,
    pub masteruser: String,
    /// Bytes of the replication stream kept for replicas that reconnect (partial resynchronisation).
    pub repl_backlog_size: u64,
    /// Seconds a primary keeps its backlog once no replica is connected.
    pub repl_backlog_ttl: u64,
    /// Seconds between the PINGs a primary sends its replicas.
    pub repl_ping_replica_period: u64,
    /// Seconds without traffic after which a replication link is considered lost.
    pub repl_timeout: u64,
    /// A replica refuses clients' writes (`READONLY`).
    pub replica_read_only: bool,
    /// A replica whose link is down still answers reads (else `MASTERDOWN`).
    pub replica_serve_stale_data: bool,
    /// Writes are refused unless this many replicas acknowledged within `min-replicas-max-lag` seconds.
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    /// Accepted for Redis's tools: Keel always streams full synchronisations without touching its disk,
    /// at once (no delay gathering replicas).
    pub repl_diskless_sync: bool,
    /// Seconds a copy streamed in the `$EOF:` form waits before it starts (Redis's default is 5; Keel's is
    /// 0, because each replica gets its own copy and waiting for others gains nothing).
    pub repl_diskless_sync_delay: u64,
    pub repl_diskless_sync_max_replicas: u64,
    pub repl_diskless_load: String,
    pub replica_priority: u64,
    pub replica_announce_ip: String,
    /// Milliseconds a REST read carrying a sync token waits on a replica for the token's offset.
    pub repl_sync_token_timeout: u64,
    /// The plans provisioned databases bill under (`[plans.<name>]` in `keel.toml`).
    pub plans: crate::meters::Plans,
}

/// `client-output-buffer-limit` for one class of clients: a hard byte limit, and a soft byte limit that may
/// be exceeded for at most `soft_seconds`. Zero disables a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClassLimit {
    pub hard: u64,
    pub soft: u64,
    pub soft_seconds: u64,
}

/// The limits of Redis's three client classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    pub normal: ClassLimit,
    pub replica: ClassLimit,
    pub pubsub: ClassLimit,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits {
            normal: ClassLimit { hard: 0, soft: 0, soft_seconds: 0 },
            replica: ClassLimit { hard: 256 << 20, soft: 64 << 20, soft_seconds: 60 },
            pubsub: ClassLimit { hard: 32 << 20, soft: 8 << 20, soft_seconds: 60 },
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1".into(),
            advertise: String::new(),
            cluster: String::new(),
            node_name: String::new(),
            region: "local".into(),
            cluster_lease: 5,
            cluster_rebalance: false,
            port: 6379,
            http_port: 8080,
            dir: PathBuf::from("./keel-data"),
            backup_dir: PathBuf::new(),
            requirepass: String::new(),
            rest_token: String::new(),
            metrics_token: String::new(),
            metrics_public: false,
            admin_token: String::new(),
            tls_cert_file: String::new(),
            tls_key_file: String::new(),
            tls_key_file_pass: String::new(),
            tls_ca_cert_file: String::new(),
            tls_client_key_file_pass: String::new(),
            tls_port: 0,
            tls_http_port: 0,
            rest_readonly_token: String::new(),
            rest_sse_heartbeat_ms: 15_000,
            http_max_connections: 1024,
            http_timeout: 30,
            maxclients: 10000,
            timeout: 0,
            tcp_keepalive: 300,
            protected_mode: true,
            databases: 16,
            hz: 10,
            maxmemory: 0,
            maxmemory_policy: "noeviction".into(),
            maxmemory_samples: 5,
            maxmemory_clients: "0".into(),
            sanitize_dump_payload: "no".into(),
            key_load_delay: 0,
            rdb_key_save_delay: 0,
            daemonize: false,
            io_threads: 1,
            disable_thp: true,
            maxmemory_eviction_tenacity: 10,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            acllog_max_len: 128,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            active_expire_enabled: true,
            save: "3600 1 300 100 60 10000".into(),
            // Unlike Redis, the log is on by default: an acknowledged write survives a crash.
            appendonly: true,
            appendfsync: "everysec".into(),
            dbfilename: "dump.rdb".into(),
            appendfilename: "appendonly.aof".into(),
            appenddirname: "appendonlydir".into(),
            aof_load_truncated: true,
            aof_use_rdb_preamble: true,
            auto_aof_rewrite_percentage: 100,
            auto_aof_rewrite_min_size: 64 * 1024 * 1024,
            rdbcompression: true,
            rdbchecksum: true,
            stop_writes_on_bgsave_error: true,
            tracking_table_max_keys: 1_000_000,
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            hash_max_listpack_entries: 128,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            hll_sparse_max_bytes: 3000,
            stream_node_max_bytes: 4096,
            stream_node_max_entries: 100,
            notify_keyspace_events: 0,
            lazyfree_lazy_user_flush: false,
            lazyfree_lazy_user_del: false,
            lazyfree_lazy_eviction: false,
            lazyfree_lazy_expire: false,
            lazyfree_lazy_server_del: false,
            replica_lazy_flush: false,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
            busy_reply_threshold: 5000,
            lua_memory_limit: 256 * 1024 * 1024,
            loglevel: "notice".into(),
            latency_tracking: true,
            client_output_buffer_limit: OutputLimits::default(),
            replicaof: String::new(),
            masterauth: String::new(),
            masteruser: String::new(),
            repl_backlog_size: 1024 * 1024,
            repl_backlog_ttl: 3600,
            repl_ping_replica_period: 10,
            repl_timeout: 60,
            replica_read_only: true,
            replica_serve_stale_data: true,
            min_replicas_to_write: 0,
            min_replicas_max_lag: 10,
            repl_diskless_sync: true,
            repl_diskless_sync_delay: 0,
            repl_diskless_sync_max_replicas: 0,
            repl_diskless_load: "disabled".into(),
            replica_priority: 100,
            replica_announce_ip: String::new(),
            repl_sync_token_timeout: 1000,
            plans: crate::meters::default_plans(),
        }
    }
}

/// Who may read and change a parameter. The server's administrator is a client of the `default` database;
/// a provisioned database sees the server through [`Scope`] only: its own limits, its own settings, and the
/// harmless server-wide values, never a secret or a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Server-wide and harmless to show: every database reads it, only the administrator changes it.
    Shared,
    /// Each provisioned database has its own value, which it reads and changes (keyspace events, slow
    /// log, ACL log).
    PerDatabase,
    /// A provisioned database reads its own limit here (its quota, its eviction, its connection cap), set
    /// by whoever provisioned it; only the administrator changes the server's value.
    Limit,
    /// How the server is laid out (addresses, files): the administrator's alone.
    Server,
    /// A password the administrator reads back over RESP (as Redis shows `requirepass`), never over REST
    /// and never to a database.
    Password,
    /// Never read back by anyone (tokens, key files): set only in the configuration.
    Secret,
}

/// One parameter: its Redis name, an alias, whether it can change at runtime, who sees it, and how to read
/// and write it.
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub mutable: bool,
    pub scope: Scope,
    pub get: fn(&Settings) -> String,
    pub set: fn(&mut Settings, &str) -> Result<(), String>,
}

const POLICIES: &[&str] = &[
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-lfu",
    "volatile-lfu",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
];
const FSYNC: &[&str] = &["always", "everysec", "no"];
const DISKLESS_LOAD: &[&str] = &["disabled", "on-empty-db", "swapdb"];
const LOGLEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

macro_rules! param {
    ($name:literal, $scope:ident, $field:ident, $kind:ident $(($($arg:expr),*))?) => {
        param!(@make $name, None, true, $scope, $field, $kind $(($($arg),*))?)
    };
    ($name:literal alias $alias:literal, $scope:ident, $field:ident, $kind:ident $(($($arg:expr),*))?) => {
        param!(@make $name, Some($alias), true, $scope, $field, $kind $(($($arg),*))?)
    };
    ($name:literal alias $alias:literal immutable, $scope:ident, $field:ident, $kind:ident $(($($arg:expr),*))?) => {
        param!(@make $name, Some($alias), false, $scope, $field, $kind $(($($arg),*))?)
    };
    ($name:literal immutable, $scope:ident, $field:ident, $kind:ident $(($($arg:expr),*))?) => {
        param!(@make $name, None, false, $scope, $field, $kind $(($($arg),*))?)
    };
    (@make $name:expr, $alias:expr, $mutable:expr, $scope:ident, $field:ident, $kind:ident $(($($arg:expr),*))?) => {
        Param {
            name: $name,
            alias: $alias,
            mutable: $mutable,
            scope: Scope::$scope,
            get: |s| kinds::$kind::show(&s.$field),
            set: |s, v| {
                s.$field = kinds::$kind::parse(v $(, $($arg),*)?)?;
                Ok(())
            },
        }
    };
}

mod kinds;
pub mod versioned;

const MAX: i128 = i64::MAX as i128;

/// Settings CONFIG GET shows only when asked for by name: Redis's HIDDEN_CONFIG test-only knobs, and Keel's
/// own start-up settings (ports, tokens, the cluster), which Redis has not and CONFIG SET cannot change, so
/// that `CONFIG GET *` lists what a Redis tool expects to find and set.
const HIDDEN: &[&str] = &[
    "key-load-delay",
    "rdb-key-save-delay",
    "advertise",
    "cluster",
    "node-name",
    "region",
    "cluster-lease",
    "cluster-rebalance",
    "http-port",
    "tls-http-port",
    "http-max-connections",
    "http-timeout",
    "backup-dir",
    "rest-token",
    "rest-readonly-token",
    "metrics-token",
    "metrics-public",
    "admin-token",
];

pub static PARAMS: &[Param] = &[
    param!("bind", Server, bind, string),
    param!("advertise" immutable, Shared, advertise, string),
    param!("cluster" immutable, Server, cluster, string),
    param!("node-name" immutable, Server, node_name, string),
    param!("region" immutable, Shared, region, string),
    param!("cluster-lease" immutable, Server, cluster_lease, int(1, 3600)),
    param!("cluster-rebalance" immutable, Server, cluster_rebalance, boolean),
    param!("port", Shared, port, int(0, 65535)),
    param!("http-port" immutable, Shared, http_port, int(0, 65535)),
    param!("dir" immutable, Server, dir, path),
    param!("backup-dir" immutable, Server, backup_dir, path),
    param!("requirepass", Password, requirepass, string),
    param!("rest-token" immutable, Secret, rest_token, string),
    param!("metrics-token" immutable, Secret, metrics_token, string),
    param!("metrics-public" immutable, Shared, metrics_public, boolean),
    param!("admin-token" immutable, Secret, admin_token, string),
    param!("tls-cert-file", Server, tls_cert_file, string),
    param!("tls-key-file", Server, tls_key_file, string),
    param!("tls-key-file-pass", Password, tls_key_file_pass, string),
    param!("tls-ca-cert-file", Server, tls_ca_cert_file, string),
    param!("tls-client-key-file-pass", Password, tls_client_key_file_pass, string),
    param!("tls-port" immutable, Shared, tls_port, int(0, 65535)),
    param!("tls-http-port" immutable, Shared, tls_http_port, int(0, 65535)),
    param!("rest-readonly-token" immutable, Secret, rest_readonly_token, string),
    param!("rest-sse-heartbeat-ms", Shared, rest_sse_heartbeat_ms, int(100, MAX)),
    param!("http-max-connections" immutable, Shared, http_max_connections, int(1, 1_000_000)),
    param!("http-timeout" immutable, Shared, http_timeout, int(1, 3600)),
    param!("maxclients", Limit, maxclients, int(1, MAX)),
    param!("timeout", Shared, timeout, int(0, MAX)),
    param!("tcp-keepalive", Shared, tcp_keepalive, int(0, MAX)),
    param!("protected-mode", Shared, protected_mode, boolean),
    param!("databases" immutable, Shared, databases, int(1, 1024)),
    param!("hz", Shared, hz, int(1, 500)),
    param!("maxmemory", Limit, maxmemory, memory),
    param!("maxmemory-clients", Server, maxmemory_clients, memory_or_percent),
    param!("sanitize-dump-payload", Shared, sanitize_dump_payload, choice(&["no", "yes", "clients"])),
    param!("key-load-delay", Shared, key_load_delay, int(i32::MIN as i128, i32::MAX as i128)),
    param!("rdb-key-save-delay", Shared, rdb_key_save_delay, int(i32::MIN as i128, i32::MAX as i128)),
    param!("daemonize" immutable, Server, daemonize, boolean),
    param!("io-threads" immutable, Server, io_threads, int(1, 128)),
    param!("disable-thp" immutable, Server, disable_thp, boolean),
    param!("maxmemory-policy", Limit, maxmemory_policy, choice(POLICIES)),
    param!("maxmemory-samples", Shared, maxmemory_samples, int(1, 64)),
    param!("maxmemory-eviction-tenacity", Shared, maxmemory_eviction_tenacity, int(0, 100)),
    param!("lfu-log-factor", Shared, lfu_log_factor, int(0, MAX)),
    param!("lfu-decay-time", Shared, lfu_decay_time, int(0, MAX)),
    param!("slowlog-log-slower-than", PerDatabase, slowlog_log_slower_than, int(-1, MAX)),
    param!("slowlog-max-len", PerDatabase, slowlog_max_len, int(0, MAX)),
    param!("latency-monitor-threshold", PerDatabase, latency_monitor_threshold, int(0, MAX)),
    param!("acllog-max-len", PerDatabase, acllog_max_len, int(0, MAX)),
    param!("proto-max-bulk-len", Shared, proto_max_bulk_len, int(1024 * 1024, MAX)),
    param!("client-query-buffer-limit", Shared, client_query_buffer_limit, memory_range(1024 * 1024, i64::MAX as u64)),
    param!("active-expire-enabled", Shared, active_expire_enabled, boolean),
    param!("save", Shared, save, save),
    param!("appendonly", Shared, appendonly, boolean),
    param!("appendfsync", Shared, appendfsync, choice(FSYNC)),
    param!("dbfilename", Shared, dbfilename, string),
    param!("appendfilename" immutable, Shared, appendfilename, string),
    param!("appenddirname" immutable, Shared, appenddirname, string),
    param!("aof-load-truncated", Shared, aof_load_truncated, boolean),
    param!("aof-use-rdb-preamble", Shared, aof_use_rdb_preamble, boolean),
    param!("auto-aof-rewrite-percentage", Shared, auto_aof_rewrite_percentage, int(0, MAX)),
    param!("auto-aof-rewrite-min-size", Shared, auto_aof_rewrite_min_size, memory),
    param!("rdbcompression", Shared, rdbcompression, boolean),
    param!("rdbchecksum", Shared, rdbchecksum, boolean),
    param!("stop-writes-on-bgsave-error", Shared, stop_writes_on_bgsave_error, boolean),
    param!("tracking-table-max-keys", Shared, tracking_table_max_keys, int(0, MAX)),
    param!("list-max-listpack-size" alias "list-max-ziplist-size", Shared, list_max_listpack_size, int(i32::MIN as i128, i32::MAX as i128)),
    param!("list-compress-depth", Shared, list_compress_depth, int(0, MAX)),
    param!("hash-max-listpack-entries" alias "hash-max-ziplist-entries", Shared, hash_max_listpack_entries, int(0, MAX)),
    param!("hash-max-listpack-value" alias "hash-max-ziplist-value", Shared, hash_max_listpack_value, int(0, MAX)),
    param!("set-max-intset-entries", Shared, set_max_intset_entries, int(0, MAX)),
    param!("set-max-listpack-entries", Shared, set_max_listpack_entries, int(0, MAX)),
    param!("set-max-listpack-value", Shared, set_max_listpack_value, int(0, MAX)),
    param!("zset-max-listpack-entries" alias "zset-max-ziplist-entries", Shared, zset_max_listpack_entries, int(0, MAX)),
    param!("zset-max-listpack-value" alias "zset-max-ziplist-value", Shared, zset_max_listpack_value, int(0, MAX)),
    param!("hll-sparse-max-bytes", Shared, hll_sparse_max_bytes, memory),
    param!("stream-node-max-bytes", Shared, stream_node_max_bytes, memory),
    param!("stream-node-max-entries", Shared, stream_node_max_entries, int(0, MAX)),
    param!("notify-keyspace-events", PerDatabase, notify_keyspace_events, events),
    param!("lazyfree-lazy-user-flush", Shared, lazyfree_lazy_user_flush, boolean),
    param!("lazyfree-lazy-user-del", Shared, lazyfree_lazy_user_del, boolean),
    param!("lazyfree-lazy-eviction", Shared, lazyfree_lazy_eviction, boolean),
    param!("lazyfree-lazy-expire", Shared, lazyfree_lazy_expire, boolean),
    param!("lazyfree-lazy-server-del", Shared, lazyfree_lazy_server_del, boolean),
    param!("replica-lazy-flush" alias "slave-lazy-flush", Shared, replica_lazy_flush, boolean),
    param!("busy-reply-threshold" alias "lua-time-limit", Shared, busy_reply_threshold, int(0, MAX)),
    param!("lua-memory-limit", Limit, lua_memory_limit, memory),
    param!("loglevel", Shared, loglevel, choice(LOGLEVELS)),
    param!("latency-tracking", Shared, latency_tracking, boolean),
    param!("replicaof" alias "slaveof" immutable, Server, replicaof, string),
    param!("masterauth", Password, masterauth, string),
    param!("masteruser", Password, masteruser, string),
    param!("repl-backlog-size", Shared, repl_backlog_size, memory),
    param!("repl-backlog-ttl", Shared, repl_backlog_ttl, int(0, MAX)),
    param!("repl-ping-replica-period" alias "repl-ping-slave-period", Shared, repl_ping_replica_period, int(1, MAX)),
    param!("repl-timeout", Shared, repl_timeout, int(1, MAX)),
    param!("replica-read-only" alias "slave-read-only", Shared, replica_read_only, boolean),
    param!("replica-serve-stale-data" alias "slave-serve-stale-data", Shared, replica_serve_stale_data, boolean),
    param!("min-replicas-to-write" alias "min-slaves-to-write", Shared, min_replicas_to_write, int(0, MAX)),
    param!("min-replicas-max-lag" alias "min-slaves-max-lag", Shared, min_replicas_max_lag, int(0, MAX)),
    param!("repl-diskless-sync", Shared, repl_diskless_sync, boolean),
    param!("repl-diskless-sync-delay", Shared, repl_diskless_sync_delay, int(0, MAX)),
    param!("repl-diskless-sync-max-replicas", Shared, repl_diskless_sync_max_replicas, int(0, MAX)),
    param!("repl-diskless-load", Shared, repl_diskless_load, choice(DISKLESS_LOAD)),
    param!("replica-priority" alias "slave-priority", Shared, replica_priority, int(0, MAX)),
    param!("replica-announce-ip" alias "slave-announce-ip", Server, replica_announce_ip, string),
    param!("repl-sync-token-timeout", Shared, repl_sync_token_timeout, int(0, 60_000)),
    Param {
        name: "client-output-buffer-limit",
        alias: None,
        mutable: true,
        scope: Scope::Shared,
        get: |s| kinds::output_limits::show(&s.client_output_buffer_limit),
        set: |s, v| {
            s.client_output_buffer_limit = kinds::output_limits::parse(v, &s.client_output_buffer_limit)?;
            Ok(())
        },
    },
];

/// Finds a parameter by name or alias, case-insensitively.
pub fn find_param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name) || p.alias.is_some_and(|a| a.eq_ignore_ascii_case(name)))
}

/// Redis's memory units: `100`, `1k` (1000), `1kb` (1024), `m`, `mb`, `g`, `gb`, case-insensitive.
pub fn parse_memory(text: &str) -> Option<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let split = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (digits, unit) = lower.split_at(split);
    let factor: u64 = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(factor)
}

impl Settings {
    /// Where snapshots go: `dir/dbfilename`.
    pub fn dump_path(&self) -> PathBuf {
        self.dir.join(&self.dbfilename)
    }

    /// Where the log's files and manifest live: `dir/appenddirname`.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join(&self.appenddirname)
    }

    /// The encodings hashes are built with (`hash-max-listpack-*`).
    pub fn hash_limits(&self) -> HashLimits {
        HashLimits {
            max_listpack_entries: self.hash_max_listpack_entries as usize,
            max_listpack_value: self.hash_max_listpack_value as usize,
        }
    }

    /// Every encoding threshold values are built with: hashes', sorted sets', sets' and streams' nodes, and
    /// the longest string accepted.
    pub fn encoding_limits(&self) -> keel_persist::Limits {
        keel_persist::Limits {
            hash: self.hash_limits(),
            zset: self.zset_limits(),
            set: self.set_limits(),
            stream: keel_store::stream::NodeLimits {
                max_bytes: self.stream_node_max_bytes as usize,
                max_entries: self.stream_node_max_entries as usize,
            },
            max_string: self.proto_max_bulk_len,
        }
    }

    /// The encodings sorted sets are built with (`zset-max-listpack-*`).
    pub fn zset_limits(&self) -> ZSetLimits {
        ZSetLimits {
            max_listpack_entries: self.zset_max_listpack_entries as usize,
            max_listpack_value: self.zset_max_listpack_value as usize,
        }
    }

    /// The encodings sets are built with (`set-max-intset-entries`, `set-max-listpack-*`).
    pub fn set_limits(&self) -> SetLimits {
        SetLimits {
            max_intset_entries: self.set_max_intset_entries as usize,
            max_listpack_entries: self.set_max_listpack_entries as usize,
            max_listpack_value: self.set_max_listpack_value as usize,
        }
    }

    /// Applies one `name value` setting, as CONFIG SET, the file, the environment and flags all do.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), String> {
        let param = find_param(name).ok_or_else(|| format!("unknown setting '{name}'"))?;
        (param.set)(self, value).map_err(|e| format!("'{name}': {e}"))
    }

    /// Builds the settings from, in rising precedence, the defaults, the TOML file, `KEEL_*` variables and flags.
    pub fn load(
        file: Option<&str>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &[(String, String)],
    ) -> Result<Settings, String> {
        let mut settings = Settings::default();
        if let Some(text) = file {
            let table: toml::Table = text.parse().map_err(|e| format!("config file: {e}"))?;
            for (name, value) in table {
                if name == "plans" {
                    let plans: crate::meters::Plans =
                        value.try_into().map_err(|e| format!("config file: 'plans': {e}"))?;
                    settings.plans.extend(plans);
                    continue;
                }
                let value = match value {
                    toml::Value::String(s) => s,
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Boolean(b) => if b { "yes" } else { "no" }.to_string(),
                    other => return Err(format!("config file: '{name}' has an unsupported value {other}")),
                };
                settings.apply(&name, &value).map_err(|e| format!("config file: {e}"))?;
            }
        }
        for (var, value) in env {
            let Some(name) = var.strip_prefix("KEEL_") else {
                continue;
            };
            let name = name.to_ascii_lowercase().replace('_', "-");
            if find_param(&name).is_some() {
                settings.apply(&name, &value).map_err(|e| format!("environment {var}: {e}"))?;
            }
        }
        for (name, value) in flags {
            settings.apply(name, value).map_err(|e| format!("--{name}: {e}"))?;
        }
        Ok(settings)
    }

    /// `(name, value)` of every parameter whose name matches one of the glob `patterns` and that `reader`
    /// may see, as CONFIG GET.
    pub fn matching(&self, patterns: &[&[u8]], reader: Reader) -> Vec<(&'static str, String)> {
        let mut found = Vec::new();
        for param in PARAMS.iter().filter(|p| p.scope.readable_by(reader)) {
            for name in std::iter::once(param.name).chain(param.alias) {
                // Redis's hidden (test-only) settings answer only when named.
                let hidden = HIDDEN.contains(&name);
                let named = |p: &&[u8]| p.eq_ignore_ascii_case(name.as_bytes());
                let hit = patterns
                    .iter()
                    .any(|p| named(p) || (!hidden && (*p == b"*" || glob::matches(p, name.as_bytes(), true))));
                if hit && !found.iter().any(|(n, _)| *n == name) {
                    found.push((name, (param.get)(self)));
                }
            }
        }
        found
    }
}

/// Who reads or changes the settings: the server's administrator (a client of the `default` database),
/// over RESP or over REST, or a provisioned database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Administrator { over_rest: bool },
    Database,
}

impl Scope {
    /// Whether a value of this scope is a credential: MONITOR and the slow log show it as `(redacted)`
    /// (Redis's SENSITIVE_CONFIG).
    pub fn is_sensitive(self) -> bool {
        matches!(self, Scope::Password | Scope::Secret)
    }

    pub fn readable_by(self, reader: Reader) -> bool {
        match (self, reader) {
            (Scope::Secret, _) => false,
            (Scope::Password, Reader::Administrator { over_rest }) => !over_rest,
            (Scope::Shared | Scope::PerDatabase | Scope::Limit, _) => true,
            (Scope::Server, Reader::Administrator { .. }) => true,
            (Scope::Password | Scope::Server, Reader::Database) => false,
        }
    }

    /// Whether `reader` may CONFIG SET a parameter of this scope (mutability aside).
    pub fn settable_by(self, reader: Reader) -> bool {
        match reader {
            Reader::Administrator { .. } => self != Scope::Secret,
            Reader::Database => self == Scope::PerDatabase,
        }
    }
}

/// A provisioned database's own values of the [`Scope::PerDatabase`] parameters (the server's are the
/// `default` database's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseSettings {
    pub notify_keyspace_events: u32,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: u64,
    pub latency_monitor_threshold: u64,
    pub acllog_max_len: u64,
}

impl DatabaseSettings {
    /// A new database starts from the defaults, not from whatever the server's administrator set.
    pub fn new() -> DatabaseSettings {
        DatabaseSettings::from(&Settings::default())
    }

    /// Puts these values into `settings` (the database's view of the server).
    pub fn apply_to(&self, settings: &mut Settings) {
        settings.notify_keyspace_events = self.notify_keyspace_events;
        settings.slowlog_log_slower_than = self.slowlog_log_slower_than;
        settings.slowlog_max_len = self.slowlog_max_len;
        settings.latency_monitor_threshold = self.latency_monitor_threshold;
        settings.acllog_max_len = self.acllog_max_len;
    }
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings::new()
    }
}

impl From<&Settings> for DatabaseSettings {
    fn from(s: &Settings) -> Self {
        DatabaseSettings {
            notify_keyspace_events: s.notify_keyspace_events,
            slowlog_log_slower_than: s.slowlog_log_slower_than,
            slowlog_max_len: s.slowlog_max_len,
            latency_monitor_threshold: s.latency_monitor_threshold,
            acllog_max_len: s.acllog_max_len,
        }
    }
}

#[cfg(test)]
mod tests;

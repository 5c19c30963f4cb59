//! The `keel` command line: `keel serve` runs the server; settings come from flags, `KEEL_*` environment
//! variables and an optional `keel.toml`, in that order of precedence. `keel check` inspects and repairs
//! data files; `keel db` provisions databases on a running Keel.

mod db;

use clap::{Args, Parser, Subcommand};
use keel_server::Settings;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "keel", version, about = "A Redis-compatible data service for serverless and edge applications")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text, or as one JSON object each for platforms that ingest structured logs.
    #[arg(long, global = true, env = "KEEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to stderr, filtered by `KEEL_LOG` (default `info`): text (coloured only on a terminal) or JSON.
fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEEL_LOG").unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (RESP on --port).
    Serve(Box<ServeArgs>),
    /// Check an RDB file, an append-only log or a log manifest (like redis-check-rdb and redis-check-aof).
    Check {
        /// The file to check.
        file: std::path::PathBuf,
        /// Truncate a damaged log to its last complete command.
        #[arg(long)]
        fix: bool,
    },
    /// Provision databases on a running Keel (through its admin API).
    Db {
        #[command(subcommand)]
        command: Box<db::DbCommand>,
    },
    /// A cluster of nodes coordinated by etcd, seen from one of them (through its admin API).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
    },
    /// TLS helpers.
    Tls {
        #[command(subcommand)]
        command: TlsCommand,
    },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// The nodes: region, addresses, the databases each serves, memory; and etcd as this node sees it.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TlsCommand {
    /// Write a self-signed certificate and key for development (cert.pem and key.pem).
    SelfSigned {
        /// Directory to write them into.
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
        /// Host names and addresses the certificate is for (repeatable).
        #[arg(long = "host", default_values = ["localhost", "127.0.0.1"])]
        hosts: Vec<String>,
    },
}

/// Flags of `keel serve`. Each maps to the setting of the same name (see `CONFIG GET *`).
#[derive(Args)]
struct ServeArgs {
    /// A keel.toml file with settings named as in CONFIG GET (port = 6380, requirepass = "...").
    #[arg(long)]
    config: Option<String>,
    /// Address to listen on. [env: KEEL_BIND] [default: 127.0.0.1]
    #[arg(long)]
    bind: Option<String>,
    /// RESP port. [env: KEEL_PORT] [default: 6379]
    #[arg(long)]
    port: Option<String>,
    /// HTTP port (REST API, health and metrics). [env: KEEL_HTTP_PORT] [default: 8080]
    #[arg(long)]
    http_port: Option<String>,
    /// The default database's REST token (generated at first start when not set). [env: KEEL_REST_TOKEN]
    #[arg(long)]
    rest_token: Option<String>,
    /// The admin API's token (generated at first start when not set). [env: KEEL_ADMIN_TOKEN]
    #[arg(long)]
    admin_token: Option<String>,
    /// TLS certificate chain (PEM); with --tls-key, RESP speaks TLS (on --tls-port, or on --port). [env: KEEL_TLS_CERT_FILE]
    #[arg(long)]
    tls_cert: Option<String>,
    /// TLS private key (PEM). [env: KEEL_TLS_KEY_FILE]
    #[arg(long)]
    tls_key: Option<String>,
    /// Require client certificates signed by this CA (mutual TLS). [env: KEEL_TLS_CA_CERT_FILE]
    #[arg(long)]
    tls_ca_cert: Option<String>,
    /// Serve RESP over TLS on this port, beside plain RESP on --port. [env: KEEL_TLS_PORT] [default: 0: none]
    #[arg(long)]
    tls_port: Option<String>,
    /// Serve HTTPS on this port, beside plain HTTP on --http-port. [env: KEEL_TLS_HTTP_PORT] [default: 0: none]
    #[arg(long)]
    tls_http_port: Option<String>,
    /// Data directory. [env: KEEL_DIR] [default: ./keel-data]
    #[arg(long)]
    dir: Option<String>,
    /// Join the cluster coordinated by this etcd (etcd://host:port). [env: KEEL_CLUSTER] [default: none]
    #[arg(long)]
    cluster: Option<String>,
    /// This node's name in the cluster. [env: KEEL_NODE_NAME] [default: the host name]
    #[arg(long)]
    node_name: Option<String>,
    /// This node's region, for placement (--region on keel db create). [env: KEEL_REGION] [default: local]
    #[arg(long)]
    region: Option<String>,
    /// Where database backups go (a volume of its own in production). [env: KEEL_BACKUP_DIR] [default: <dir>/backups]
    #[arg(long)]
    backup_dir: Option<String>,
    /// Password of the default user. [env: KEEL_REQUIREPASS] [default: none]
    #[arg(long)]
    requirepass: Option<String>,
    /// Maximum number of connected clients. [env: KEEL_MAXCLIENTS] [default: 10000]
    #[arg(long)]
    maxclients: Option<String>,
    /// Close clients idle for this many seconds (0: never). [env: KEEL_TIMEOUT] [default: 0]
    #[arg(long)]
    timeout: Option<String>,
    /// Accept non-loopback clients without a password ("no") or not ("yes"). [env: KEEL_PROTECTED_MODE] [default: yes]
    #[arg(long)]
    protected_mode: Option<String>,
    /// Memory limit (e.g. 256mb). [env: KEEL_MAXMEMORY] [default: 0: no limit]
    #[arg(long)]
    maxmemory: Option<String>,
    /// Eviction policy. [env: KEEL_MAXMEMORY_POLICY] [default: noeviction]
    #[arg(long)]
    maxmemory_policy: Option<String>,
    /// Keep the append-only log ("yes", the default) or not. [env: KEEL_APPENDONLY] [default: yes]
    #[arg(long)]
    appendonly: Option<String>,
    /// When the log is fsynced: always, everysec (the default) or no. [env: KEEL_APPENDFSYNC] [default: everysec]
    #[arg(long)]
    appendfsync: Option<String>,
    /// Snapshot rules: "SECONDS CHANGES ..." ("" turns them off). [env: KEEL_SAVE] [default: 3600 1 300 100 60 10000]
    #[arg(long)]
    save: Option<String>,
    /// Snapshot file name, inside --dir. [env: KEEL_DBFILENAME] [default: dump.rdb]
    #[arg(long)]
    dbfilename: Option<String>,
    /// Follow this primary (HOST:PORT, or "HOST PORT"): the default database replicates it. [env: KEEL_REPLICAOF] [default: none]
    #[arg(long)]
    replicaof: Option<String>,
    /// Password this replica logs in to its primary with. [env: KEEL_MASTERAUTH] [default: none]
    #[arg(long)]
    masterauth: Option<String>,
    /// Any other setting, as NAME=VALUE (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
}

impl ServeArgs {
    fn flags(&self) -> Result<Vec<(String, String)>, String> {
        let named = [
            ("bind", &self.bind),
            ("port", &self.port),
            ("http-port", &self.http_port),
            ("rest-token", &self.rest_token),
            ("admin-token", &self.admin_token),
            ("tls-cert-file", &self.tls_cert),
            ("tls-key-file", &self.tls_key),
            ("tls-ca-cert-file", &self.tls_ca_cert),
            ("tls-port", &self.tls_port),
            ("tls-http-port", &self.tls_http_port),
            ("dir", &self.dir),
            ("backup-dir", &self.backup_dir),
            ("cluster", &self.cluster),
            ("node-name", &self.node_name),
            ("region", &self.region),
            ("requirepass", &self.requirepass),
            ("maxclients", &self.maxclients),
            ("timeout", &self.timeout),
            ("protected-mode", &self.protected_mode),
            ("maxmemory", &self.maxmemory),
            ("maxmemory-policy", &self.maxmemory_policy),
            ("appendonly", &self.appendonly),
            ("appendfsync", &self.appendfsync),
            ("save", &self.save),
            ("dbfilename", &self.dbfilename),
            ("replicaof", &self.replicaof),
            ("masterauth", &self.masterauth),
        ];
        let mut flags: Vec<(String, String)> =
            named.iter().filter_map(|(n, v)| v.as_ref().map(|v| (n.to_string(), v.clone()))).collect();
        for pair in &self.set {
            let (name, value) = pair.split_once('=').ok_or_else(|| format!("--set {pair}: expected NAME=VALUE"))?;
            flags.push((name.to_string(), value.to_string()));
        }
        Ok(flags)
    }
}

/// mimalloc's `mi_option_purge_delay` (its position in mimalloc.h v2; the Rust bindings do not name it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Makes mimalloc give freed memory back to the OS at once rather than after a delay measured in later
/// allocator activity: an idle server would otherwise keep a dropped table's pages, and its RSS would
/// overstate its data by up to half (measured with bench/run.sh: 109 vs 59 bytes per key). An operator's
/// MIMALLOC_PURGE_DELAY still wins.
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting a documented option to a documented value; mimalloc allows it at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
}

fn main() -> ExitCode {
    return_freed_memory_promptly();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => match serve(*args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("keel: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Db { command } => match db::run(*command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("keel db: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Cluster { command: ClusterCommand::Status { json } } => match db::cluster_status(json) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("keel cluster: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Tls { command: TlsCommand::SelfSigned { out, hosts } } => match self_signed(&out, &hosts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("keel tls: {message}");
                ExitCode::FAILURE
            }
        },
        Command::Check { file, fix } => {
            let report = keel_persist::check::check_reporting(&file, fix, &mut check_progress());
            if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
                eprint!("\r\x1b[K");
            }
            for line in &report.lines {
                println!("{line}");
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// A progress line for `keel check` on a terminal (nothing otherwise), at most a few times a second.
fn check_progress() -> impl FnMut(&std::path::Path, u64, u64) {
    use std::io::{IsTerminal, Write};
    let terminal = std::io::stderr().is_terminal();
    let mut last = std::time::Instant::now();
    move |path, done, size| {
        if terminal && size > 0 && last.elapsed() >= std::time::Duration::from_millis(200) {
            last = std::time::Instant::now();
            let percent = done as f64 * 100.0 / size as f64;
            eprint!("\rchecking {}: {percent:.0}% of {size} bytes\x1b[K", path.display());
            let _ = std::io::stderr().flush();
        }
    }
}

/// Writes a self-signed pair for development; the key is readable by its owner only.
fn self_signed(out: &std::path::Path, hosts: &[String]) -> Result<(), String> {
    let (cert, key) = keel_server::tls::self_signed(hosts)?;
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let write = |name: &str, text: &str, mode: u32| -> Result<(), String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = out.join(name);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        file.write_all(text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    write("cert.pem", &cert, 0o644)?;
    write("key.pem", &key, 0o600)?;
    println!(
        "wrote {0}/cert.pem and {0}/key.pem for {1}; start with: keel serve --tls-cert {0}/cert.pem --tls-key {0}/key.pem",
        out.display(),
        hosts.join(", ")
    );
    Ok(())
}

fn serve(args: ServeArgs) -> Result<(), String> {
    let file = match &args.config {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?),
        None => None,
    };
    let settings = Settings::load(file.as_deref(), std::env::vars(), &args.flags()?)?;
    // One single-worker runtime per core: the first runs the listeners, HTTP and the background tasks, and
    // each database's RESP clients run on its home among them (keel_server::Homes). Multi-threaded
    // schedulers even so: a long command, script or wait for a database leaves its worker with
    // `block_in_place` (keel_pace), which only that scheduler supports, so that the others keep being
    // served and can get BUSY and send SCRIPT KILL. More workers than cores would only have the kernel
    // slice them: a client whose task waits in the queue of a worker that is off the CPU waits for the
    // other's whole time slice.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (runtimes, homes) =
        keel_server::Homes::one_runtime_per_core(cores).map_err(|e| format!("cannot start the runtime: {e}"))?;
    let runtime = &runtimes[0];
    runtime.block_on(async move {
        survive_file_size_limit();
        let running = keel_server::start_on(settings, homes).await.map_err(|e| format!("cannot start: {e}"))?;
        let server = running.server.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("received a shutdown signal: finishing commands in flight and closing clients");
            server.begin_shutdown();
        });
        running.wait().await;
        tracing::info!("Keel is now ready to exit, bye bye...");
        Ok(())
    })
}

/// A write past the file-size limit (RLIMIT_FSIZE) raises SIGXFSZ, whose default action kills the process.
/// Handling it instead makes such a write fail with EFBIG, which the log treats like a full disk: writes are
/// refused with MISCONF until the limit is raised, and no acknowledged write is lost.
fn survive_file_size_limit() {
    use tokio::signal::unix::{signal, SignalKind};
    const SIGXFSZ: i32 = 25;
    if let Ok(mut stream) = signal(SignalKind::from_raw(SIGXFSZ)) {
        tokio::spawn(async move { while stream.recv().await.is_some() {} });
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
        (Ok(mut interrupt), Ok(mut terminate)) => {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

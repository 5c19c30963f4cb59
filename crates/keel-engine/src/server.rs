//! `Server`: what every connection and background task shares: settings, the registry of databases
//! (tenants), the client registry, the command table, process-wide counters and the shutdown signal.

use crate::clients::ClientRegistry;
use crate::config::Settings;
use crate::exec::commands::CommandTable;
use crate::persistence::snapshot::Job;
use crate::persistence::Persistence;
use crate::state::tenant::Tenant;
use parking_lot::RwLock;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// Databases told to follow a primary (REPLICAOF), with the link's generation, for the server crate's
/// link runner.
pub type LinkQueue = tokio::sync::mpsc::UnboundedReceiver<(Arc<Tenant>, u64)>;

/// Background snapshot requests waiting for the job runner.
pub type JobQueue = tokio::sync::mpsc::UnboundedReceiver<(Arc<Tenant>, Job)>;

/// Counters that belong to the process rather than to one database.
#[derive(Default)]
pub struct ServerStats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Clients closed because all clients' buffers passed `maxmemory-clients` (INFO's `evicted_clients`).
    pub evicted_clients: AtomicU64,
}

pub struct Server {
    pub settings: crate::config::versioned::Versioned<Settings>,
    /// Databases by name. Keel starts with one, `default`.
    pub tenants: RwLock<BTreeMap<String, Arc<Tenant>>>,
    /// The database a new connection starts in (also in `tenants`).
    default_tenant: Arc<Tenant>,
    /// Provisioned databases' definitions (each also has its tenant in `tenants`).
    pub databases: parking_lot::Mutex<crate::databases::Registry>,
    pub clients: ClientRegistry,
    pub commands: CommandTable,
    pub stats: ServerStats,
    /// HTTP requests by route and status code, for `/metrics`.
    pub http_requests: parking_lot::Mutex<BTreeMap<String, BTreeMap<u16, u64>>>,
    pub started: Instant,
    pub run_id: String,
    /// The RESP port actually bound (differs from the setting when it was 0).
    pub tcp_port: AtomicU64,
    /// The HTTP port actually bound.
    pub http_port: AtomicU64,
    shutdown: watch::Sender<bool>,
    loading: std::sync::atomic::AtomicBool,
    /// DEBUG PAUSE-CRON 1: the cron skips its work until DEBUG PAUSE-CRON 0 (tests only, as in Redis).
    pub cron_paused: std::sync::atomic::AtomicBool,
    /// Background snapshot requests, and their receiving end until the runner takes it.
    jobs: tokio::sync::mpsc::UnboundedSender<(Arc<Tenant>, Job)>,
    pub job_queue: parking_lot::Mutex<Option<JobQueue>>,
    /// Replication links to start, and their receiving end until the link runner takes it.
    links: tokio::sync::mpsc::UnboundedSender<(Arc<Tenant>, u64)>,
    pub link_queue: parking_lot::Mutex<Option<LinkQueue>>,
    /// A coordinated FAILOVER under way (see exec's `failover`). Taken after the default database's lock,
    /// never before it.
    pub failover: parking_lot::Mutex<Option<crate::replication::Failover>>,
    /// The cluster's coordinator, on a node started with `--cluster` (set once, at start).
    pub coordinator: std::sync::OnceLock<Arc<dyn crate::coordination::Coordinator>>,
    /// Moves the RESP listener to a new `bind` address and port (CONFIG SET bind/port): binds there and
    /// returns the port bound, or why it could not. Set once, by the listener's owner.
    pub rebinder: std::sync::OnceLock<Rebinder>,
    /// Reads the TLS files the settings name (CONFIG SET of a `tls-*` file or password) and returns what
    /// makes new TLS connections use them, to run once the settings are committed; or says why it could
    /// not read them. Set once, when TLS listeners run.
    pub tls_reloader: std::sync::OnceLock<TlsReloader>,
}

/// See [`Server::rebinder`].
pub type Rebinder = Box<dyn Fn(&str, u16) -> Result<u16, String> + Send + Sync>;

/// See [`Server::tls_reloader`].
pub type TlsReloader = Box<dyn Fn(&Settings) -> Result<TlsSwap, String> + Send + Sync>;

/// Puts TLS material already read in place (see [`Server::tls_reloader`]).
pub type TlsSwap = Box<dyn FnOnce() + Send>;

impl Server {
    /// Builds the server state and takes the data directory (refused when another Keel holds it).
    pub fn new(settings: Settings) -> Result<Arc<Server>, String> {
        let databases = settings.databases as usize;
        let commands = CommandTable::build();
        let persistence = Persistence::open(&settings.dir)?;
        let default = Arc::new(Tenant::new("default", databases, &commands, persistence, None));
        let mut tenants = BTreeMap::new();
        tenants.insert("default".to_string(), default.clone());
        let registry = crate::databases::Registry::load(&settings.dir)?;
        for def in registry.list() {
            let tenant = provisioned_tenant(&settings, def, &commands)?;
            tenants.insert(def.name.clone(), Arc::new(tenant));
        }
        let run_id: String = {
            use rand::Rng;
            let mut rng = rand::thread_rng();
            (0..40).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0')).collect()
        };
        let (jobs, job_queue) = tokio::sync::mpsc::unbounded_channel();
        let (links, link_queue) = tokio::sync::mpsc::unbounded_channel();
        Ok(Arc::new(Server {
            tcp_port: AtomicU64::new(settings.port as u64),
            http_port: AtomicU64::new(settings.http_port as u64),
            settings: crate::config::versioned::Versioned::new(settings),
            tenants: RwLock::new(tenants),
            default_tenant: default,
            databases: parking_lot::Mutex::new(registry),
            clients: ClientRegistry::default(),
            commands,
            stats: ServerStats::default(),
            started: Instant::now(),
            http_requests: Default::default(),
            run_id,
            shutdown: watch::channel(false).0,
            loading: std::sync::atomic::AtomicBool::new(false),
            cron_paused: std::sync::atomic::AtomicBool::new(false),
            jobs,
            job_queue: parking_lot::Mutex::new(Some(job_queue)),
            links,
            link_queue: parking_lot::Mutex::new(Some(link_queue)),
            failover: parking_lot::Mutex::new(None),
            coordinator: std::sync::OnceLock::new(),
            rebinder: std::sync::OnceLock::new(),
            tls_reloader: std::sync::OnceLock::new(),
        }))
    }

    /// Asks the background job runner to snapshot `tenant` (see `persistence::snapshot`).
    pub fn request_job(&self, tenant: &Tenant, job: Job) {
        if let Some(tenant) = self.tenants.read().get(&tenant.name) {
            let _ = self.jobs.send((tenant.clone(), job));
        }
    }

    /// Asks the link runner to connect `tenant` to the primary it now follows (link `generation`).
    pub fn start_link(&self, tenant: &Tenant, generation: u64) {
        if let Some(tenant) = self.tenants.read().get(&tenant.name) {
            let _ = self.links.send((tenant.clone(), generation));
        }
    }

    /// The database a new connection starts in.
    pub fn default_tenant(&self) -> Arc<Tenant> {
        self.default_tenant.clone()
    }

    /// Whether a new (or RESET) connection starts logged in: no `requirepass`, and the default database's
    /// `default` user enabled without a password.
    pub fn opens_without_auth(&self) -> bool {
        self.settings.read().requirepass.is_empty() && self.default_tenant.default_user_open()
    }

    /// Asks every listener and connection to stop. A script still running is stopped as SHUTDOWN NOSAVE
    /// stops one (its effects never reach the log), and its database skips the final snapshot, which
    /// would otherwise keep half a script: what was acknowledged is in the log already.
    pub fn begin_shutdown(&self) {
        self.shutdown.send_replace(true);
        self.clients.stop_all();
        for tenant in self.tenants.read().values() {
            if tenant.scripts.running().is_some() {
                tenant.scripts.force_kill();
                tenant.persistence.skip_final_save.store(true, Ordering::Relaxed);
            }
        }
    }

    /// True while the data is being loaded from disk at start-up.
    pub fn is_loading(&self) -> bool {
        self.loading.load(Ordering::Acquire)
    }

    pub fn set_loading(&self, loading: bool) {
        self.loading.store(loading, Ordering::Release);
    }

    pub fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    pub fn port(&self) -> u16 {
        self.tcp_port.load(Ordering::Relaxed) as u16
    }

    pub fn http_port(&self) -> u16 {
        self.http_port.load(Ordering::Relaxed) as u16
    }
}

/// The data directory of a provisioned database: `<dir>/databases/<name>`.
pub fn database_dir(settings: &Settings, name: &str) -> std::path::PathBuf {
    settings.dir.join("databases").join(name)
}

/// The tenant for a provisioned database: its own data directory and limits.
pub fn provisioned_tenant(
    settings: &Settings,
    def: &crate::databases::DatabaseDef,
    commands: &CommandTable,
) -> Result<Tenant, String> {
    let persistence = Persistence::open(&database_dir(settings, &def.name))?;
    Ok(Tenant::new(&def.name, settings.databases as usize, commands, persistence, Some(def.limits())))
}

/// Resolves once shutdown has begun, including when it began before the receiver was made (waiting for
/// the next change alone would miss that, and wait forever).
pub async fn stopping(signal: &mut watch::Receiver<bool>) {
    let _ = signal.wait_for(|stop| *stop).await;
}

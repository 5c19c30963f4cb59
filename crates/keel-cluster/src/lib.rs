//! keel-cluster: Keel nodes coordinated by etcd. A node started with `--cluster etcd://host:port` registers
//! itself under a lease (`membership`), watches the cluster's nodes and databases (`catalog`), serves the
//! databases placed on it and stops serving those removed from it, and provisions new databases on the
//! node that `placement` chooses. It gives the rest of Keel a `keel_engine::coordination::Coordinator`, so
//! the admin API provisions across the cluster and connections for a database served elsewhere are relayed
//! to its node. Coordination state lives in etcd, never in a node: a node that restarts finds its
//! databases there.

pub mod catalog;
mod coordinator;
pub mod etcd;
pub mod membership;
mod moves;
pub mod placement;
mod roles;

use catalog::{Entry, View};
use etcd::Etcd;
use keel_engine::coordination::{Coordinator, Remote};
use keel_engine::databases::{DatabaseDef, ProvisionError};
use keel_engine::server::Server;
use membership::NodeRecord;
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long provisioning waits for the chosen node to serve (or stop serving) a database.
const PLACEMENT_WAIT: Duration = Duration::from_secs(15);

/// This node's part in the cluster.
pub struct Cluster {
    server: Arc<Server>,
    etcd: Etcd,
    endpoint: String,
    me: NodeRecord,
    lease: AtomicI64,
    /// When etcd last answered (unix ms), and whether its last call failed.
    last_answer_ms: AtomicU64,
    failing: std::sync::atomic::AtomicBool,
    view: RwLock<View>,
    /// The databases this node holds because the catalog placed them here (as primary or replica), and
    /// those it is the primary of (announced in `/keel/serving/`).
    hosting: Mutex<BTreeSet<String>>,
    serving: Mutex<BTreeSet<String>>,
    /// When the node's lease was last renewed (unix ms): a primary is fenced once that is half a lease ago.
    renewed_ms: AtomicU64,
    ttl_ms: u64,
    /// Each database's published ACL users as last parsed, beside the text they were parsed from: a login
    /// by user name asks every database of the cluster, and parsing each one's users per login made every
    /// such login (and every wrong one) cost as much as parsing them all.
    parsed_users: Mutex<std::collections::HashMap<String, (String, Option<keel_engine::state::acl::Acl>)>>,
}

fn unavailable(e: String) -> ProvisionError {
    ProvisionError { status: 503, message: format!("the cluster cannot be changed now: {e}") }
}

/// Joins the cluster named by the `cluster` setting as a node reachable at `resp` and `http` (`host:port`),
/// and installs it as the server's coordinator. Refused when etcd cannot be reached or the node name is
/// another live node's.
pub fn join(server: Arc<Server>, resp: String, http: String) -> Result<Arc<Cluster>, String> {
    let (endpoint, name, region, ttl) = {
        let s = server.settings.read();
        (s.cluster.clone(), s.node_name.clone(), s.region.clone(), s.cluster_lease)
    };
    if name.is_empty() {
        return Err("a clustered node needs a name (node-name)".into());
    }
    let etcd = Etcd::new(&endpoint)?;
    let started_unix = keel_engine::clock::unix_ms() / 1000;
    let blank = NodeRecord {
        name,
        region,
        resp,
        http,
        databases: 0,
        used_memory: 0,
        max_memory: 0,
        started_unix,
        replica_offsets: Default::default(),
        primary_offsets: Default::default(),
    };
    let me = blank.refreshed(&server);
    let lease = membership::register(&etcd, &me, ttl)?;
    let cluster = Arc::new(Cluster {
        server: server.clone(),
        etcd,
        endpoint,
        me,
        lease: AtomicI64::new(lease),
        last_answer_ms: AtomicU64::new(keel_engine::clock::unix_ms()),
        failing: std::sync::atomic::AtomicBool::new(false),
        view: RwLock::new(View::default()),
        hosting: Mutex::new(BTreeSet::new()),
        serving: Mutex::new(BTreeSet::new()),
        renewed_ms: AtomicU64::new(keel_engine::clock::unix_ms()),
        ttl_ms: ttl * 1000,
        parsed_users: Mutex::new(std::collections::HashMap::new()),
    });
    cluster.adopt_local_databases()?;
    let coordinator: Arc<dyn Coordinator> = cluster.clone();
    let _ = server.coordinator.set(coordinator);
    let (renewing, watching, guarding) = (cluster.clone(), cluster.clone(), cluster.clone());
    spawn("keel-membership", move || renewing.keep_membership(ttl));
    spawn("keel-catalog", move || watching.follow_catalog());
    spawn("keel-fence", move || guarding.guard_lease());
    if server.settings.read().cluster_rebalance {
        let balancing = cluster.clone();
        spawn("keel-rebalance", move || balancing.keep_balanced(ttl));
    }
    tracing::info!(node = %cluster.me.name, region = %cluster.me.region, etcd = %cluster.endpoint, "joined the cluster");
    Ok(cluster)
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(work) {
        tracing::error!("cannot start {name}: {e}");
    }
}

impl Cluster {
    pub fn node_name(&self) -> &str {
        &self.me.name
    }

    fn reachable(&self, reached: bool) {
        if reached {
            self.last_answer_ms.store(keel_engine::clock::unix_ms(), Ordering::Relaxed);
        }
        self.failing.store(!reached, Ordering::Relaxed);
    }

    /// Databases this node served before it was clustered (or while etcd lost them) join the catalog as
    /// placed here, so that joining a cluster never deletes a database.
    fn adopt_local_databases(&self) -> Result<(), String> {
        let (existing, _) = self.etcd.list(catalog::DATABASES)?;
        let known: BTreeSet<String> =
            existing.iter().filter_map(|kv| kv.key.strip_prefix(catalog::DATABASES).map(String::from)).collect();
        let local: Vec<DatabaseDef> = self.server.databases.lock().list().cloned().collect();
        for def in local {
            if known.contains(&def.name) {
                continue;
            }
            let name = def.name.clone();
            let entry = Entry { definition: def, node: self.me.name.clone(), replicas: Vec::new(), epoch: 1 };
            let value = serde_json::to_vec(&entry).map_err(|e| e.to_string())?;
            if self.etcd.create(&catalog::database_key(&name), &value, 0)? {
                tracing::info!(database = %name, "a database of this node joined the cluster's catalog");
            }
        }
        Ok(())
    }

    /// Renews the node's lease three times per lease and refreshes its record; re-registers after the
    /// lease was lost (etcd unreachable for longer than it); revokes it when the server stops.
    fn keep_membership(&self, ttl: u64) {
        let period = Duration::from_millis((ttl * 1000 / 3).max(100));
        let mut last_publish = std::time::Instant::now();
        while !self.server.is_shutting_down() {
            std::thread::sleep(period);
            let lease = self.lease.load(Ordering::Relaxed);
            let renewed = self.etcd.keep_alive(lease);
            self.reachable(renewed.is_ok());
            if matches!(renewed, Ok(ttl) if ttl > 0) {
                self.renewed_ms.store(keel_engine::clock::unix_ms(), Ordering::Release);
            }
            let record = self.me.refreshed(&self.server);
            match renewed {
                Ok(0) => match membership::register(&self.etcd, &record, ttl) {
                    Ok(lease) => {
                        // The catalog may have moved this node's databases meanwhile: none counts as this
                        // node's primary (so none is unfenced) until a fresh listing says so (never a view
                        // from before the lease ended); reconcile then announces them again.
                        self.serving.lock().clear();
                        self.lease.store(lease, Ordering::Relaxed);
                        self.renewed_ms.store(keel_engine::clock::unix_ms(), Ordering::Release);
                        match self.etcd.list("/keel/") {
                            Ok((kvs, _)) => {
                                *self.view.write() = View::from_listing(&kvs);
                                self.reconcile();
                            }
                            Err(e) => tracing::warn!("cannot read the catalog after registering again: {e}"),
                        }
                        tracing::warn!(node = %self.me.name, "the node's lease had expired: registered again");
                    }
                    Err(e) => tracing::warn!("cannot register the node again: {e}"),
                },
                Ok(_) if last_publish.elapsed() >= Duration::from_secs(2) => {
                    last_publish = std::time::Instant::now();
                    let _ = membership::publish(&self.etcd, &record, lease);
                    self.publish_users();
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("cannot renew the node's lease: {e}"),
            }
        }
        let _ = self.etcd.revoke(self.lease.load(Ordering::Relaxed));
    }

    /// Every two leases, moves one database when this node serves too many of its region's primaries.
    fn keep_balanced(&self, ttl: u64) {
        while !self.server.is_shutting_down() {
            std::thread::sleep(Duration::from_secs(ttl * 2));
            if self.problem().is_none() {
                self.rebalance_once();
            }
        }
    }

    /// Lists `/keel/` and watches it, keeping the view and reconciling after every change; starts over
    /// when the watch breaks.
    fn follow_catalog(&self) {
        while !self.server.is_shutting_down() {
            let listed = self.etcd.list("/keel/");
            self.reachable(listed.is_ok());
            let (kvs, revision) = match listed {
                Ok(listed) => listed,
                Err(e) => {
                    tracing::debug!("cannot read the cluster's catalog: {e}");
                    std::thread::sleep(Duration::from_secs(1));
                    continue;
                }
            };
            *self.view.write() = View::from_listing(&kvs);
            self.reconcile();
            let watched = self.etcd.watch("/keel/", revision, |event| {
                // Catalog changes, and a node's departure (its databases may need a new primary).
                let ours = match &event {
                    etcd::Event::Put(kv) => {
                        kv.key.starts_with(catalog::DATABASES) || kv.key.starts_with(catalog::USERS)
                    }
                    etcd::Event::Delete(key) => {
                        key.starts_with(catalog::DATABASES) || key.starts_with(membership::NODES)
                    }
                };
                self.view.write().apply(&event);
                if ours {
                    self.reconcile();
                }
                !self.server.is_shutting_down()
            });
            if let Err(e) = watched {
                tracing::debug!("the cluster watch ended: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    /// Waits until `name` is served by `node` (Some) or by nobody (None).
    fn wait_serving(&self, name: &str, node: Option<&str>) -> Result<(), String> {
        let deadline = std::time::Instant::now() + PLACEMENT_WAIT;
        loop {
            let serving =
                self.etcd.get(&catalog::serving_key(name))?.map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
            if serving.as_deref() == node {
                return Ok(());
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "database '{name}' is not {} yet",
                    node.map_or("stopped".into(), |n| format!("served by {n}"))
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where to relay a database's clients; a node that is not live has no address (the relay then tells
    /// the client to retry).
    fn remote(&self, view: &View, entry: &Entry) -> Option<Remote> {
        if entry.node == self.me.name {
            return None;
        }
        let (resp, http) = view.nodes.get(&entry.node).map(|n| (n.resp.clone(), n.http.clone())).unwrap_or_default();
        Some(Remote { database: entry.definition.name.clone(), node: entry.node.clone(), resp, http })
    }
}

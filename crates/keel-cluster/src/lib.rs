//! keel-cluster: Keel nodes coordinated by etcd. A node started with `--cluster etcd://host:port` registers
//! itself under a lease (`membership`), watches the cluster's nodes and databases (`catalog`), serves the
//! databases placed on it and stops serving those removed from it, and provisions new databases on the
//! node that `placement` chooses. It gives the rest of Keel a `keel_engine::coordination::Coordinator`, so
//! the admin API provisions across the cluster and connections for a database served elsewhere are relayed
//! to its node. Coordination state lives in etcd, never in a node: a node that restarts finds its
//! databases there.

pub mod catalog;
pub mod etcd;
pub mod membership;
pub mod placement;

use catalog::{Entry, View};
use etcd::Etcd;
use keel_engine::coordination::{Coordinator, Placed, Remote};
use keel_engine::databases::{CreateRequest, DatabaseDef, ProvisionError, SecretHash, Secrets, TokenAccess};
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
    /// The databases this node serves because the catalog placed them here.
    hosting: Mutex<BTreeSet<String>>,
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
        let name = if s.node_name.is_empty() { host_name() } else { s.node_name.clone() };
        (s.cluster.clone(), name, s.region.clone(), s.cluster_lease)
    };
    let etcd = Etcd::new(&endpoint)?;
    let started_unix = keel_engine::clock::unix_ms() / 1000;
    let blank = NodeRecord { name, region, resp, http, databases: 0, used_memory: 0, max_memory: 0, started_unix };
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
    });
    cluster.adopt_local_databases()?;
    let coordinator: Arc<dyn Coordinator> = cluster.clone();
    let _ = server.coordinator.set(coordinator);
    let (renewing, watching) = (cluster.clone(), cluster.clone());
    spawn("keel-membership", move || renewing.keep_membership(ttl));
    spawn("keel-catalog", move || watching.follow_catalog());
    tracing::info!(node = %cluster.me.name, region = %cluster.me.region, etcd = %cluster.endpoint, "joined the cluster");
    Ok(cluster)
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(work) {
        tracing::error!("cannot start {name}: {e}");
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "node".into())
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
            let entry = Entry { definition: def, node: self.me.name.clone(), epoch: 1 };
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
            let record = self.me.refreshed(&self.server);
            match renewed {
                Ok(0) => match membership::register(&self.etcd, &record, ttl) {
                    Ok(lease) => {
                        self.lease.store(lease, Ordering::Relaxed);
                        self.hosting.lock().iter().for_each(|name| self.announce(name));
                        tracing::warn!(node = %self.me.name, "the node's lease had expired: registered again");
                    }
                    Err(e) => tracing::warn!("cannot register the node again: {e}"),
                },
                Ok(_) if last_publish.elapsed() >= Duration::from_secs(2) => {
                    last_publish = std::time::Instant::now();
                    let _ = membership::publish(&self.etcd, &record, lease);
                }
                Ok(_) => {}
                Err(e) => tracing::debug!("cannot renew the node's lease: {e}"),
            }
        }
        let _ = self.etcd.revoke(self.lease.load(Ordering::Relaxed));
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
                let ours = match &event {
                    etcd::Event::Put(kv) => kv.key.starts_with(catalog::DATABASES),
                    etcd::Event::Delete(key) => key.starts_with(catalog::DATABASES),
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

    /// Serves exactly the databases placed on this node: opens new ones (and announces them), takes new
    /// limits, and deletes those removed from the catalog or placed elsewhere.
    fn reconcile(&self) {
        let mine = self.view.read().placed_on(&self.me.name);
        let names: BTreeSet<String> = mine.iter().map(|d| d.name.clone()).collect();
        for def in &mine {
            match keel_engine::provisioning::host(&self.server, def) {
                Ok(Some(_)) => {
                    if self.hosting.lock().insert(def.name.clone()) {
                        self.announce(&def.name);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(database = %def.name, "cannot serve a database placed here: {e}"),
            }
        }
        let gone: Vec<String> = self.hosting.lock().iter().filter(|n| !names.contains(*n)).cloned().collect();
        for name in gone {
            self.hosting.lock().remove(&name);
            if let Err(e) = keel_engine::provisioning::delete(&self.server, &name) {
                tracing::warn!(database = %name, "cannot remove a database: {}", e.message);
            }
            let _ = self.etcd.delete(&catalog::serving_key(&name));
        }
    }

    /// Says in etcd that this node serves `name` (under its lease: it goes with the node).
    fn announce(&self, name: &str) {
        let lease = self.lease.load(Ordering::Relaxed);
        if let Err(e) = self.etcd.put(&catalog::serving_key(name), self.me.name.as_bytes(), lease) {
            tracing::warn!(database = name, "cannot announce a database: {e}");
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

impl Coordinator for Cluster {
    fn node_name(&self) -> String {
        self.me.name.clone()
    }

    fn status(&self) -> Result<serde_json::Value, ProvisionError> {
        let nodes = membership::nodes(&self.etcd);
        self.reachable(nodes.is_ok());
        let nodes = nodes.unwrap_or_else(|_| self.view.read().nodes.values().cloned().collect());
        let view = self.view.read();
        let listed: Vec<serde_json::Value> = nodes
            .iter()
            .map(|n| {
                let serving: Vec<&String> =
                    view.serving.iter().filter(|(_, node)| **node == n.name).map(|(db, _)| db).collect();
                serde_json::json!({
                    "name": n.name, "region": n.region, "resp": n.resp, "http": n.http,
                    "databases": serving, "used_memory": n.used_memory, "max_memory": n.max_memory,
                    "started_unix": n.started_unix,
                })
            })
            .collect();
        Ok(serde_json::json!({
            "node": self.me.name,
            "region": self.me.region,
            "etcd": { "endpoint": self.endpoint, "reachable": self.problem().is_none(), "problem": self.problem() },
            "nodes": listed,
        }))
    }

    fn problem(&self) -> Option<String> {
        let secs = keel_engine::clock::unix_ms().saturating_sub(self.last_answer_ms.load(Ordering::Relaxed)) / 1000;
        self.failing.load(Ordering::Relaxed).then(|| format!("etcd unreachable since {secs} s"))
    }

    fn create(&self, request: CreateRequest) -> Result<(DatabaseDef, Secrets, String), ProvisionError> {
        let region = request.region.clone();
        let nodes = membership::nodes(&self.etcd).map_err(unavailable)?;
        let node = placement::choose(&nodes, region.as_deref()).ok_or_else(|| ProvisionError {
            status: 503,
            message: match &region {
                Some(region) => format!("no live node in region '{region}'"),
                None => "no live node".into(),
            },
        })?;
        let plans = self.server.settings.read().plans.clone();
        let taken = |name: &str| self.view.read().databases.contains_key(name);
        let (mut def, secrets) =
            keel_engine::databases::define(request, &plans, keel_engine::clock::unix_ms() / 1000, &taken)?;
        def.region = node.region.clone();
        let entry = Entry { definition: def.clone(), node: node.name.clone(), epoch: 1 };
        let value = serde_json::to_vec(&entry).map_err(|e| unavailable(e.to_string()))?;
        if !self.etcd.create(&catalog::database_key(&def.name), &value, 0).map_err(unavailable)? {
            return Err(ProvisionError {
                status: 409,
                message: format!("a database named '{}' already exists", def.name),
            });
        }
        self.wait_serving(&def.name, Some(&node.name)).map_err(|e| ProvisionError { status: 504, message: e })?;
        tracing::info!(database = %def.name, node = %node.name, "placed a database");
        Ok((def, secrets, node.name.clone()))
    }

    fn list(&self) -> Result<Vec<Placed>, ProvisionError> {
        let (kvs, _) = self.etcd.list(catalog::DATABASES).map_err(unavailable)?;
        Ok(kvs
            .iter()
            .filter_map(|kv| serde_json::from_slice::<Entry>(&kv.value).ok())
            .map(|e| Placed { definition: e.definition, node: e.node })
            .collect())
    }

    fn delete(&self, name: &str) -> Result<DatabaseDef, ProvisionError> {
        let key = catalog::database_key(name);
        let Some(kv) = self.etcd.get(&key).map_err(unavailable)? else {
            return Err(ProvisionError { status: 404, message: format!("no database named '{name}'") });
        };
        let entry: Entry = serde_json::from_slice(&kv.value).map_err(|e| unavailable(e.to_string()))?;
        self.etcd.delete(&key).map_err(unavailable)?;
        self.wait_serving(name, None).map_err(|e| ProvisionError { status: 504, message: e })?;
        Ok(entry.definition)
    }

    fn locate_by_password(&self, password: &[u8]) -> Option<Remote> {
        let hash = SecretHash::of(password)?;
        let view = self.view.read();
        let entry = view.databases.values().find(|e| e.definition.opened_by_password(&hash))?;
        self.remote(&view, entry)
    }

    fn locate_by_token(&self, token: &str) -> Option<(Remote, TokenAccess)> {
        let hash = SecretHash::of(token.as_bytes())?;
        let view = self.view.read();
        view.databases.values().find_map(|e| Some((self.remote(&view, e)?, e.definition.token_access(&hash)?)))
    }
}

//! Moving a database to another node while its clients are served (`keel db move NAME --to n3`), run by the
//! node serving its primary (a request that reaches another node is forwarded there): the target joins the
//! database's replicas and catches up; then the primary pauses writes (CLIENT PAUSE WRITE's semantics),
//! asks its replicas for acknowledgements, waits until the target has every byte, and swaps the catalog
//! entry (compare-and-swap, epoch bumped) so the target becomes the primary and this copy is retired. The
//! clients it held are disconnected, never served by the retired copy, and reconnect (through any node) to
//! the new primary: at most one reconnect each. The pause lasts about one acknowledgement round trip and
//! one etcd transaction.

use crate::catalog::{self, Entry};
use crate::{unavailable, Cluster};
use keel_engine::databases::ProvisionError;
use keel_engine::state::pause::PauseMode;
use keel_engine::state::tenant::Tenant;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// How long the target may take to catch up before the move gives up (nothing changed but its replica).
const CATCH_UP: Duration = Duration::from_secs(60);
/// How far behind (bytes) the target may be when writes are paused for the final catch-up.
const NEAR: u64 = 64 * 1024;
/// The longest pause: if the target has not acknowledged everything by then, writes resume here.
const FINAL_WAIT: Duration = Duration::from_secs(2);

fn error(status: u16, message: impl Into<String>) -> ProvisionError {
    ProvisionError { status, message: message.into() }
}

impl Cluster {
    /// Moves `name` to node `target`; what happened, with the pause's length.
    pub(crate) fn move_database(&self, name: &str, target: &str) -> Result<Value, ProvisionError> {
        let (entry, _) = self.entry(name)?;
        if entry.node != self.me.name {
            return self.forward_move(&entry, name, target);
        }
        if target == self.me.name {
            return Err(error(409, format!("'{name}' is already served by {target}")));
        }
        let target_resp = self.view.read().nodes.get(target).map(|n| n.resp.clone());
        let target_port = target_resp
            .as_deref()
            .and_then(|a| a.rsplit_once(':')?.1.parse::<u16>().ok())
            .ok_or_else(|| error(503, format!("no live node named '{target}'")))?;
        let tenant = self.server.tenants.read().get(name).cloned().ok_or_else(|| error(503, "not served here yet"))?;
        self.add_replica(name, target)?;
        self.catch_up(&tenant, target_port, NEAR, CATCH_UP)
            .map_err(|e| error(504, format!("{target} did not catch up with '{name}': {e}")))?;
        let paused = Instant::now();
        tenant.pause.start(paused + FINAL_WAIT + Duration::from_secs(8), PauseMode::Write);
        let switched = self.final_switch(&tenant, name, target, target_port);
        let pause_ms = paused.elapsed().as_secs_f64() * 1000.0;
        match switched {
            Ok(epoch) => {
                // The retired copy serves no one: writes it would take are refused, its clients go.
                tenant.replication.fence(true);
                for client in self.server.clients.snapshot() {
                    if client.in_tenant(name) {
                        client.kill();
                    }
                }
                tracing::info!(database = name, to = target, pause_ms, "moved a database");
                Ok(json!({ "moved": name, "from": self.me.name, "to": target, "epoch": epoch, "pause_ms": pause_ms }))
            }
            Err(e) => {
                tenant.pause.stop();
                Err(e)
            }
        }
    }

    /// With `cluster-rebalance` on: when this node is the primary of at least two databases more than
    /// another live node of a database's region, it moves one of them there (one move per call).
    pub(crate) fn rebalance_once(&self) -> Option<Value> {
        let (name, target) = {
            let view = self.view.read();
            let primaries = |node: &str| view.databases.values().filter(|e| e.node == node).count();
            let mine = primaries(&self.me.name);
            view.databases.values().filter(|e| e.node == self.me.name).find_map(|e| {
                let region = &e.definition.region;
                let target = view
                    .nodes
                    .values()
                    .filter(|n| n.name != self.me.name && &n.region == region)
                    .min_by_key(|n| (primaries(&n.name), n.name.clone()))?;
                (primaries(&target.name) + 2 <= mine).then(|| (e.definition.name.clone(), target.name.clone()))
            })?
        };
        match self.move_database(&name, &target) {
            Ok(report) => Some(report),
            Err(e) => {
                tracing::warn!(database = %name, to = %target, "rebalancing could not move a database: {}", e.message);
                None
            }
        }
    }

    /// The catalog entry of `name` and its revision.
    fn entry(&self, name: &str) -> Result<(Entry, i64), ProvisionError> {
        let kv = self.etcd.get(&catalog::database_key(name)).map_err(unavailable)?;
        let kv = kv.ok_or_else(|| error(404, format!("no database named '{name}'")))?;
        let entry = serde_json::from_slice(&kv.value).map_err(|e| unavailable(e.to_string()))?;
        Ok((entry, kv.mod_revision))
    }

    /// Adds `target` to the database's replicas (its node starts following).
    fn add_replica(&self, name: &str, target: &str) -> Result<(), ProvisionError> {
        let (mut entry, revision) = self.entry(name)?;
        if entry.replicas.iter().any(|r| r == target) {
            return Ok(());
        }
        entry.replicas.push(target.to_string());
        let value = serde_json::to_vec(&entry).map_err(|e| unavailable(e.to_string()))?;
        match self.etcd.replace(&catalog::database_key(name), &value, revision).map_err(unavailable)? {
            true => Ok(()),
            false => Err(error(409, format!("'{name}' changed meanwhile: try the move again"))),
        }
    }

    /// Waits until the replica listening on `port` acknowledged all but `slack` bytes of the stream.
    fn catch_up(&self, tenant: &Tenant, port: u16, slack: u64, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let mut asked = Instant::now() - Duration::from_secs(1);
        loop {
            let offset = tenant.persistence.stream.offset();
            let acked = tenant
                .replication
                .attached
                .lock()
                .iter()
                .find(|r| r.port == port)
                .map(|r| (*r.state.lock() == "online", r.ack_offset.load(std::sync::atomic::Ordering::Relaxed)));
            if let Some((true, acked)) = acked {
                if acked + slack >= offset {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("acknowledged {acked:?} of {offset}"));
            }
            if asked.elapsed() >= Duration::from_millis(100) {
                tenant.persistence.stream.append(keel_engine::replication::GETACK);
                asked = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// With writes paused: the target acknowledges everything, then the catalog makes it the primary.
    fn final_switch(&self, tenant: &Tenant, name: &str, target: &str, port: u16) -> Result<u64, ProvisionError> {
        // A batch running now finishes (and its writes reach the stream) before this takes the lock; every
        // later batch sees the pause and holds its writes.
        drop(tenant.lock());
        self.catch_up(tenant, port, 0, FINAL_WAIT)
            .map_err(|e| error(504, format!("{target} did not acknowledge the last writes: {e}")))?;
        let (entry, revision) = self.entry(name)?;
        let replicas = entry.replicas.iter().filter(|r| *r != target).cloned().collect();
        let moved = Entry { definition: entry.definition, node: target.to_string(), replicas, epoch: entry.epoch + 1 };
        let value = serde_json::to_vec(&moved).map_err(|e| unavailable(e.to_string()))?;
        match self.etcd.replace(&catalog::database_key(name), &value, revision).map_err(unavailable)? {
            true => Ok(moved.epoch),
            false => Err(error(409, format!("'{name}' changed meanwhile: try the move again"))),
        }
    }

    /// Asks the node serving the database's primary to move it (the admin token is the cluster's).
    fn forward_move(&self, entry: &Entry, name: &str, target: &str) -> Result<Value, ProvisionError> {
        let http = self.view.read().nodes.get(&entry.node).map(|n| n.http.clone());
        let http = http.ok_or_else(|| error(503, format!("the node serving '{name}' ({}) is not live", entry.node)))?;
        let token = self.server.settings.read().admin_token.clone();
        let url = format!("http://{http}/v1/databases/{name}/move");
        let reply = ureq::post(&url)
            .set("Authorization", &format!("Bearer {token}"))
            .timeout(CATCH_UP + Duration::from_secs(10))
            .send_json(json!({ "to": target }));
        match reply {
            Ok(r) => r.into_json().map_err(|e| unavailable(e.to_string())),
            Err(ureq::Error::Status(status, r)) => {
                let body: Value = r.into_json().unwrap_or(Value::Null);
                Err(error(status, body["error"].as_str().unwrap_or("the move failed").to_string()))
            }
            Err(e) => Err(unavailable(e.to_string())),
        }
    }
}

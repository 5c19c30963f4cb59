//! Provisioning on a running Keel, what the admin API (`/v1/databases`) and `keel db` do: a new database
//! gets its definition saved, its own data directory and log, and a tenant that serves it at once; a
//! deleted one loses its clients, its log and its files; changed limits apply live.

use crate::clock::unix_ms;
use crate::databases::{CreateRequest, DatabaseDef, ProvisionError, Secrets, UpdateRequest};
use crate::server::{database_dir, provisioned_tenant, Server};
use std::sync::Arc;

pub fn create(server: &Arc<Server>, request: CreateRequest) -> Result<(DatabaseDef, Secrets), ProvisionError> {
    let plans = server.settings.read().plans.clone();
    let (def, secrets) = server.databases.lock().create(request, &plans, unix_ms() / 1000)?;
    let undo = |why: String| {
        let _ = server.databases.lock().delete(&def.name);
        ProvisionError { status: 500, message: why }
    };
    let settings = server.settings.read().clone();
    let tenant = Arc::new(provisioned_tenant(&settings, &def, &server.commands).map_err(undo)?);
    crate::persistence::load::recover(server, &tenant).map_err(undo)?;
    server.tenants.write().insert(def.name.clone(), tenant);
    tracing::info!(database = %def.name, "provisioned a database");
    Ok((def, secrets))
}

pub fn delete(server: &Arc<Server>, name: &str) -> Result<DatabaseDef, ProvisionError> {
    let def = server.databases.lock().delete(name)?;
    if let Some(tenant) = server.tenants.write().remove(name) {
        for client in server.clients.snapshot() {
            if client.in_tenant(name) {
                client.kill();
            }
        }
        tenant.persistence.stop_log();
        let dir = database_dir(&server.settings.read(), name);
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(database = name, "could not remove {}: {e}", dir.display());
        }
    }
    tracing::info!(database = name, "deleted a database");
    Ok(def)
}

/// Changes a database's limits, saved and applied at once.
pub fn update(server: &Arc<Server>, name: &str, change: UpdateRequest) -> Result<DatabaseDef, ProvisionError> {
    let def = server.databases.lock().update(name, change)?;
    if let Some(tenant) = server.tenants.read().get(name) {
        *tenant.limits.write() = Some(def.limits());
    }
    Ok(def)
}

//! Replication's sockets (the engine's `replication` module holds the streams and roles): [`feeder`]
//! serves a replica that sent SYNC or PSYNC, [`link`] follows a primary.

pub(crate) mod feeder;
pub(crate) mod link;

use keel_engine::server::Server;
use std::sync::Arc;

/// Follows the primary named by `replicaof` ("host port", or "host:port") at start-up, in the default
/// database.
pub(crate) fn follow_configured(server: &Arc<Server>) -> Result<(), String> {
    let configured = server.settings.read().replicaof.clone();
    if configured.trim().is_empty() {
        return Ok(());
    }
    let words: Vec<&str> = configured.split_whitespace().collect();
    let (host, port) = match words.as_slice() {
        [host, port] => (*host, *port),
        [address] => {
            address.rsplit_once(':').ok_or_else(|| format!("replicaof: expected HOST:PORT, got '{configured}'"))?
        }
        _ => return Err(format!("replicaof: expected HOST:PORT, got '{configured}'")),
    };
    let host = host.trim_matches(['[', ']']);
    let port: u16 = port.parse().map_err(|_| format!("replicaof: '{port}' is not a port"))?;
    let tenant = server.default_tenant();
    let generation = keel_engine::exec::commands::replication::follow(&tenant, &mut tenant.lock(), host, port);
    server.start_link(&tenant, generation);
    Ok(())
}

//! keel-server: Keel's network face. RESP listeners and connections (plain and TLS) and the HTTP server
//! (health, readiness, metrics, the REST and admin APIs, the dashboard) turn bytes into commands for
//! `keel-engine`'s batches and its replies back into bytes; `backups` takes and restores databases'
//! backups.
//!
//! [`start`] takes the data directory, binds the listeners and runs Keel until shutdown.

mod backups;
mod connection;
mod homes;
mod http;
mod listener;
mod lookahead;
mod push_feed;
mod query_buffer;
mod relay;
mod replication;
pub mod tls;
mod waits;

pub use homes::Homes;
pub use keel_engine::{config, provisioning, Server, Settings};
use keel_engine::{cron, persistence};

use std::sync::Arc;
use tokio::net::TcpListener;

/// A running Keel: its shared state and the address its RESP listener is bound to.
pub struct Running {
    pub server: Arc<Server>,
    pub addr: std::net::SocketAddr,
    /// Where the HTTP face (health, readiness) listens.
    pub http_addr: std::net::SocketAddr,
    /// Where RESP over TLS listens beside plain RESP (`tls-port`), if it does.
    pub tls_addr: Option<std::net::SocketAddr>,
    /// Where HTTPS listens beside plain HTTP (`tls-http-port`), if it does.
    pub tls_http_addr: Option<std::net::SocketAddr>,
    tasks: tokio::task::JoinSet<()>,
}

impl Running {
    /// Resolves when Keel has shut down (SHUTDOWN, or [`Server::begin_shutdown`] from a signal handler).
    pub async fn wait(mut self) {
        while self.tasks.join_next().await.is_some() {}
        persistence::shutdown(&self.server);
        let tenants: Vec<_> = self.server.tenants.read().values().cloned().collect();
        tenants.iter().for_each(|tenant| tenant.meter(true));
    }
}

/// Takes the data directory, recovers the data, binds the RESP listener and starts the background tasks,
/// all on the runtime it is called on. Call inside a multi-threaded tokio runtime: long commands and long
/// waits for a database leave their worker with `block_in_place` (keel_pace), which the current-thread
/// scheduler does not support.
pub async fn start(settings: Settings) -> std::io::Result<Running> {
    start_on(settings, Homes::here()).await
}

/// [`start`], with RESP connections served on their database's home among `homes` (the first of which
/// must be the runtime this is called on; each one multi-threaded, for the reason above).
pub async fn start_on(settings: Settings, homes: Homes) -> std::io::Result<Running> {
    let homes = Arc::new(homes);
    if settings.disable_thp {
        listener::disable_transparent_huge_pages();
    }
    let bind = format!("{}:{}", settings.bind, settings.port);
    let http_bind = format!("{}:{}", settings.bind, settings.http_port);
    let tls = tls::acceptor_for(&settings).map_err(std::io::Error::other)?.map(tls::TlsSlot::new);
    // RESP: with TLS and no separate `tls-port`, the main port speaks TLS. HTTP stays plain on `http-port`
    // (platform health checks and `keel db` use it) and HTTPS is served on `tls-http-port`.
    let (tls_port, tls_http_port) = (settings.tls_port, settings.tls_http_port);
    let main_resp_tls = tls.clone().filter(|_| tls_port == 0);
    let tls_listener = tls_side_listener(&settings.bind, tls_port, tls.is_some()).await?;
    let tls_http_listener = tls_side_listener(&settings.bind, tls_http_port, tls.is_some()).await?;
    let server = Server::new(settings).map_err(std::io::Error::other)?;
    let databases = server.tenants.read().len();
    listener::fit_open_files_limit(&mut server.settings.write(), databases).map_err(std::io::Error::other)?;
    let listener = TcpListener::bind(&bind)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen for RESP on {bind}: {e}")))?;
    let addr = listener.local_addr()?;
    let http_listener = TcpListener::bind(&http_bind)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen for HTTP on {http_bind}: {e}")))?;
    let http_addr = http_listener.local_addr()?;
    let tls_addr = tls_listener.as_ref().and_then(|l| l.local_addr().ok());
    let tls_http_addr = tls_http_listener.as_ref().and_then(|l| l.local_addr().ok());
    http::settle_rest_token(&server)?;
    http::settle_admin_token(&server)?;
    server.tcp_port.store(addr.port() as u64, std::sync::atomic::Ordering::Relaxed);
    server.http_port.store(http_addr.port() as u64, std::sync::atomic::Ordering::Relaxed);
    // Clients may connect while the data loads: they are told so (LOADING) rather than left waiting.
    server.set_loading(true);
    let mut tasks = tokio::task::JoinSet::new();
    let (moves, moved) = tokio::sync::mpsc::unbounded_channel();
    let _ = server.rebinder.set(listener::rebinder(moves));
    if let Some(slot) = &tls {
        let _ = server.tls_reloader.set(tls::reloader(slot.clone()));
    }
    tasks.spawn(listener::run(server.clone(), listener, main_resp_tls, Some(moved), homes.clone()));
    if let Some(side) = tls_listener {
        tasks.spawn(listener::run(server.clone(), side, tls.clone(), None, homes.clone()));
    }
    // Health checks answer while the data loads: readiness says so.
    tasks.spawn(http::run(server.clone(), http_listener, None, homes.clone()));
    if let Some(side) = tls_http_listener {
        tasks.spawn(http::run(server.clone(), side, tls.clone(), homes));
    }
    let recovering = server.clone();
    let recovered = tokio::task::spawn_blocking(move || {
        let tenants: Vec<_> = recovering.tenants.read().values().cloned().collect();
        tenants.iter().try_for_each(|tenant| persistence::load::recover(&recovering, tenant))
    })
    .await
    .map_err(std::io::Error::other)?;
    if let Err(e) = recovered {
        server.begin_shutdown();
        while tasks.join_next().await.is_some() {}
        return Err(std::io::Error::other(e));
    }
    server.set_loading(false);
    let cron_server = server.clone();
    tasks.spawn_blocking(move || cron::run(cron_server));
    tasks.spawn(persistence::run_jobs(server.clone()));
    tasks.spawn(replication::link::run_links(server.clone()));
    tasks.spawn(backups::schedule(server.clone()));
    if !server.settings.read().cluster.is_empty() {
        let host = http::advertised_host(&server);
        // A node is named by its host unless told otherwise.
        if server.settings.read().node_name.is_empty() {
            let name = http::host_name().unwrap_or_else(|| "node".into());
            server.settings.write().node_name = name;
        }
        let (resp, http) = (format!("{host}:{}", addr.port()), format!("{host}:{}", http_addr.port()));
        let joining = server.clone();
        let joined = tokio::task::spawn_blocking(move || keel_cluster::join(joining, resp, http)).await;
        if let Err(e) = joined.map_err(|e| e.to_string()).and_then(|r| r.map(|_| ())) {
            server.begin_shutdown();
            while tasks.join_next().await.is_some() {}
            return Err(std::io::Error::other(format!("cannot join the cluster: {e}")));
        }
    }
    if let Err(e) = replication::follow_configured(&server) {
        server.begin_shutdown();
        while tasks.join_next().await.is_some() {}
        return Err(std::io::Error::other(e));
    }
    tracing::info!(%addr, %http_addr, "Keel is ready to accept RESP connections and HTTP requests");
    Ok(Running { server, addr, http_addr, tls_addr, tls_http_addr, tasks })
}

/// A TLS listener beside a plain one (`tls-port`, `tls-http-port`): bound when TLS is on and the port set.
async fn tls_side_listener(bind: &str, port: u64, tls: bool) -> std::io::Result<Option<TcpListener>> {
    if !tls || port == 0 {
        return Ok(None);
    }
    let address = format!("{bind}:{port}");
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen for TLS on {address}: {e}")))?;
    Ok(Some(listener))
}

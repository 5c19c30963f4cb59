//! Accepting RESP connections: enforces `maxclients` and protected mode, sets socket options, registers the
//! client and starts its task.

use crate::clients::ClientInfo;
use crate::server::{unix_ms, Server};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

const DENIED: &str = "-DENIED Keel is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. Set a password with --requirepass, or disable protected mode with --protected-mode no.\r\n";

/// Accepts connections until shutdown, then waits (bounded) for open connections to finish.
/// With `tls`, each connection completes a TLS handshake before it is served.
pub async fn run(server: Arc<Server>, listener: TcpListener, tls: Option<tokio_rustls::TlsAcceptor>) {
    let mut shutdown = server.shutdown_signal();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = crate::server::stopping(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => accept(&server, stream, peer, tls.as_ref(), &mut connections).await,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Connections see the same signal and stop after the batch they are running.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
        connections.abort_all();
    }
}

async fn accept(
    server: &Arc<Server>,
    mut stream: TcpStream,
    peer: SocketAddr,
    tls: Option<&tokio_rustls::TlsAcceptor>,
    connections: &mut JoinSet<()>,
) {
    server.stats.connections_received.fetch_add(1, Ordering::Relaxed);
    let (maxclients, protected, keepalive) = {
        let s = server.settings.read();
        (s.maxclients as usize, s.protected_mode && s.requirepass.is_empty(), s.tcp_keepalive)
    };
    if server.clients.count() >= maxclients {
        server.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
        return;
    }
    if protected && !peer.ip().is_loopback() {
        server.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(DENIED.as_bytes()).await;
        return;
    }
    let _ = stream.set_nodelay(true);
    if keepalive > 0 {
        let options = socket2::TcpKeepalive::new().with_time(Duration::from_secs(keepalive));
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&options);
    }
    let local = stream.local_addr().map(|a| a.to_string()).unwrap_or_default();
    let fd = {
        use std::os::fd::AsRawFd;
        stream.as_raw_fd() as i64
    };
    let id = server.clients.next_id();
    let info = Arc::new(ClientInfo::new(id, peer.to_string(), local, fd, "default".to_string(), unix_ms()));
    server.clients.register(info.clone());
    let server = server.clone();
    match tls.cloned() {
        None => {
            connections.spawn(crate::connection::serve(server, stream, info));
        }
        Some(acceptor) => {
            connections.spawn(async move {
                match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => crate::connection::serve(server, tls, info).await,
                    _ => {
                        tracing::debug!(client = info.id, addr = %info.addr, "TLS handshake failed");
                        server.clients.unregister(info.id);
                    }
                }
            });
        }
    }
}

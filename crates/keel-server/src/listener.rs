//! Accepting RESP connections: enforces `maxclients` and protected mode, sets socket options, registers the
//! client and starts its task.

use keel_engine::clients::ClientInfo;
use keel_engine::clock::unix_ms;
use keel_engine::server::Server;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// File descriptors Keel keeps for itself beside its clients' (Redis's `CONFIG_MIN_RESERVED_FDS`), and per
/// database (its log, its directory lock, a snapshot being written).
const RESERVED_FDS: u64 = 32;
const FDS_PER_DATABASE: u64 = 4;

/// Turns transparent huge pages off for the whole process, as Redis does under `disable-thp yes`. mimalloc
/// asks for them on its arenas (`MADV_HUGEPAGE`), and the kernel then faults in 2 MiB at once, compacting
/// memory first when none is free: writes into a growing keyspace stalled for milliseconds, and RSS
/// grew by whole huge pages (100k small hashes: 249 bytes each with them, 229 without). Linux only; a
/// refusal is logged, not fatal.
pub fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE reads its integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot disable transparent huge pages");
    }
}

/// Raises the open-files limit as far as `maxclients`, the HTTP connection cap and `databases` need, and
/// where the system does not allow that, lowers both caps to what fits (HTTP keeps at most a quarter) with
/// Redis's log line (`adjustOpenFilesLimit`), so that a client past the limit is told `max number of
/// clients reached` instead of waiting in the listen queue forever. Err when not even one client fits.
pub fn fit_open_files_limit(settings: &mut keel_engine::config::Settings, databases: usize) -> Result<(), String> {
    let reserved = RESERVED_FDS + FDS_PER_DATABASE * databases as u64;
    let needed = settings.maxclients + settings.http_max_connections + reserved;
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Ok(());
    }
    let current = limit.rlim_cur;
    if current >= needed {
        return Ok(());
    }
    // Try what is needed, then less, 16 at a time, down to what there already is.
    let mut candidate = needed;
    let mut error = None;
    let granted = loop {
        if candidate <= current {
            break current;
        }
        let wanted = libc::rlimit {
            rlim_cur: candidate as libc::rlim_t,
            rlim_max: limit.rlim_max.max(candidate as libc::rlim_t),
        };
        // SAFETY: setrlimit reads the struct it is given, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } == 0 {
            break candidate;
        }
        error.get_or_insert_with(std::io::Error::last_os_error);
        candidate = candidate.saturating_sub(16);
    };
    if granted >= needed {
        tracing::info!(limit = granted, "increased maximum number of open files");
        return Ok(());
    }
    let available = granted.saturating_sub(reserved);
    let http = settings.http_max_connections.min(available / 4).max(1);
    let fitting = available.saturating_sub(http).min(settings.maxclients);
    if fitting < 1 {
        return Err(format!(
            "the open-files limit of {granted} is not enough for Keel to start (it keeps {reserved} for itself): raise 'ulimit -n'"
        ));
    }
    let why = error.map_or_else(String::new, |e| format!(" because of OS error: {e}"));
    tracing::warn!(
        "You requested maxclients of {} requiring at least {needed} max file descriptors. Server can't set maximum open files to {needed}{why}. Current maximum open files is {granted}. maxclients has been reduced to {fitting} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.",
        settings.maxclients
    );
    if http < settings.http_max_connections {
        tracing::warn!("http-max-connections has been reduced to {http} to compensate for low ulimit");
    }
    settings.maxclients = fitting;
    settings.http_max_connections = http;
    Ok(())
}

/// Failed accepts (out of file descriptors, mostly), logged at most once a second with how many there were:
/// a flood of them must not flood the log too.
#[derive(Default)]
pub struct AcceptErrors {
    last_logged: Option<std::time::Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    pub fn failed(&mut self, listener: &str, error: &std::io::Error) {
        self.unlogged += 1;
        if self.last_logged.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
            return;
        }
        tracing::warn!(%error, failures = self.unlogged, "{listener} accept failed");
        self.last_logged = Some(std::time::Instant::now());
        self.unlogged = 0;
    }
}

/// Accepts connections until shutdown, then waits (bounded) for open connections to finish.
/// With `tls`, each connection completes a TLS handshake before it is served.
pub async fn run(
    server: Arc<Server>,
    mut listener: TcpListener,
    tls: Option<Arc<crate::tls::TlsSlot>>,
    mut moves: Option<mpsc::UnboundedReceiver<TcpListener>>,
    homes: Arc<crate::homes::Homes>,
) {
    let mut shutdown = server.shutdown_signal();
    let mut connections = JoinSet::new();
    let mut accept_errors = AcceptErrors::default();
    loop {
        tokio::select! {
            _ = keel_engine::server::stopping(&mut shutdown) => break,
            // CONFIG SET bind/port: new connections arrive at the new address, those open stay.
            Some(moved) = next_move(&mut moves) => listener = moved,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => accept(&server, stream, peer, tls.as_ref(), &homes, &mut connections).await,
                Err(error) => {
                    accept_errors.failed("RESP", &error);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Connections are told by the client registry (`stop_all`) and stop after the batch they are running.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
        connections.abort_all();
    }
}

async fn next_move(moves: &mut Option<mpsc::UnboundedReceiver<TcpListener>>) -> Option<TcpListener> {
    match moves {
        Some(moves) => moves.recv().await,
        None => std::future::pending().await,
    }
}

/// The rebinder CONFIG SET bind/port calls (see `Server::rebinder`): binds the new address at once, so that
/// the command can answer whether it could, and hands the listener to the accept loop.
pub fn rebinder(moves: mpsc::UnboundedSender<TcpListener>) -> keel_engine::server::Rebinder {
    Box::new(move |bind: &str, port: u16| {
        let listener = std::net::TcpListener::bind((bind, port)).map_err(|e| e.to_string())?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?.port();
        moves.send(listener).map_err(|_| "the server is stopping".to_string())?;
        tracing::info!(bind, port = bound, "listening for RESP at a new address (CONFIG SET)");
        Ok(bound)
    })
}

async fn accept(
    server: &Arc<Server>,
    mut stream: TcpStream,
    peer: SocketAddr,
    tls: Option<&Arc<crate::tls::TlsSlot>>,
    homes: &Arc<crate::homes::Homes>,
    connections: &mut JoinSet<()>,
) {
    server.stats.connections_received.fetch_add(1, Ordering::Relaxed);
    let (maxclients, protected_mode, keepalive) = {
        let s = server.settings.read();
        (s.maxclients as usize, s.protected_mode, s.tcp_keepalive)
    };
    // Protected mode keeps a passwordless default database to loopback clients; a client from elsewhere
    // is still served, to log in to a provisioned database with its password (the gate answers DENIED
    // to anything else it sends).
    let protected = protected_mode && server.opens_without_auth() && !peer.ip().is_loopback();
    if server.clients.count() >= maxclients {
        server.stats.rejected_connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
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
    info.set_flag(keel_engine::clients::flag::PROTECTED, protected);
    server.clients.register(info.clone());
    let (server, homes) = (server.clone(), homes.clone());
    let stream = crate::homes::Socket::InDriver(stream);
    match tls.map(|slot| slot.current()) {
        None => {
            connections.spawn(crate::connection::serve(server, stream, info, homes));
        }
        Some(acceptor) => {
            connections.spawn(async move {
                match tokio::time::timeout(crate::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => crate::connection::serve(server, tls, info, homes).await,
                    _ => {
                        tracing::debug!(client = info.id, addr = %info.addr, "TLS handshake failed");
                        server.clients.unregister(info.id);
                    }
                }
            });
        }
    }
}

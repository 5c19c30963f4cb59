//! A client connection relayed to the node of the cluster that serves its database: once AUTH (or HELLO
//! AUTH) named a database served elsewhere, this node opens a connection to that node, sends it that very
//! command and whatever the client pipelined after it, and from then on copies bytes both ways. So
//! pipelining, blocking commands, pub/sub, MULTI and RESP3 work unchanged, whichever node a client's URL
//! names. The relay ends when either side closes or this node stops.

use bytes::BytesMut;
use keel_engine::clients::ClientInfo;
use keel_engine::coordination::Remote;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long reaching the database's node may take before the client is told to retry.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Opens the connection to the node serving `remote`'s database, or the error its client gets instead
/// (the client then stays here, logged out, and may retry).
pub async fn connect(remote: &Remote) -> Result<TcpStream, String> {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&remote.resp)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        _ => {
            tracing::debug!(database = %remote.database, node = %remote.node, addr = %remote.resp, "cannot reach the node serving a database");
            Err(format!(
                "TRYAGAIN database '{}' is served by node '{}', which cannot be reached from here now",
                remote.database, remote.node
            ))
        }
    }
}

/// Relays `client` to `upstream`, starting with `command` and the input after it.
pub async fn serve<S>(
    mut client: S,
    mut upstream: TcpStream,
    command: &[Vec<u8>],
    pending: BytesMut,
    info: Arc<ClientInfo>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut first = Vec::with_capacity(pending.len() + 64);
    keel_persist::aof::encode_command(&mut first, command);
    first.extend_from_slice(&pending);
    if upstream.write_all(&first).await.is_err() {
        return;
    }
    tracing::debug!(client = info.id, "relaying a client");
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
        _ = keel_engine::server::stopping(&mut shutdown) => {}
        _ = info.killed() => {}
    }
}

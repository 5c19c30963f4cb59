//! A replica's connection, after its SYNC or PSYNC: it is sent what it lacks (`+CONTINUE` and the bytes the
//! backlog still holds after its offset, or `+FULLRESYNC`, a point-in-time RDB copy and the stream from the
//! copy's instant), then every byte of the database's stream as it is written. What the replica sends back
//! is read for its `REPLCONF ACK <offset>`, which `WAIT` and `INFO replication` count on.

use bytes::BytesMut;
use keel_engine::clients::ClientInfo;
use keel_engine::exec::session::ReplicaRequest;
use keel_engine::persistence::snapshot::{copy_for_replica, CopyPart};
use keel_engine::replication::stream::{Continue, Pending};
use keel_engine::replication::Attached;
use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use keel_protocol::{Parsed, RequestParser};
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Serves one replica until it leaves, falls too far behind, stops acknowledging, or the server stops.
pub(crate) async fn serve<S>(
    server: Arc<Server>,
    tenant: Arc<Tenant>,
    mut socket: S,
    info: Arc<ClientInfo>,
    request: ReplicaRequest,
    input: BytesMut,
) where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let ip = request.ip.clone().unwrap_or_else(|| peer_ip(&info.addr));
    let attached = Arc::new(Attached {
        client_id: info.id,
        ip,
        port: request.port,
        state: parking_lot::Mutex::new("wait_bgsave"),
        ack_offset: Default::default(),
        fack_offset: Default::default(),
        ack_ms: Default::default(),
        sent: Default::default(),
        keel_node: request.capa_keel && request.database.is_none(),
    });
    info.set_flag(keel_engine::clients::flag::REPLICA, true);
    tenant.replication.attach(attached.clone());
    let outcome = feed(&server, &tenant, &mut socket, &info, &request, &attached, input).await;
    tenant.replication.detach(info.id);
    match outcome {
        Ok(()) => tracing::info!(database = %tenant.name, replica = %info.addr, "replica disconnected"),
        Err(why) => tracing::warn!(database = %tenant.name, replica = %info.addr, "replica dropped: {why}"),
    }
}

fn peer_ip(addr: &str) -> String {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip).trim_matches(['[', ']']).to_string()
}

async fn feed<S>(
    server: &Arc<Server>,
    tenant: &Arc<Tenant>,
    socket: &mut S,
    info: &ClientInfo,
    request: &ReplicaRequest,
    attached: &Attached,
    mut input: BytesMut,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + AsyncWrite + Unpin,
{
    let stream = &tenant.persistence.stream;
    let wanted = match &request.psync {
        Some((replid, offset)) => stream.can_continue(replid, *offset),
        None => Continue::Full,
    };
    let repl = &tenant.replication;
    let wanted_full = wanted == Continue::Full;
    match (&wanted, &request.psync) {
        (Continue::From { .. }, _) => repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed),
        (Continue::Full, Some((replid, _))) if replid != "?" => {
            repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
            repl.sync_full.fetch_add(1, Ordering::Relaxed)
        }
        (Continue::Full, _) => repl.sync_full.fetch_add(1, Ordering::Relaxed),
    };
    let mut sent = match wanted {
        Continue::From { replid, from } => {
            write(socket, format!("+CONTINUE {replid}\r\n").as_bytes()).await?;
            tracing::info!(database = %tenant.name, replica = %info.addr, from, "partial resynchronisation accepted");
            from
        }
        Continue::Full => {
            diskless_delay(server, tenant, socket, request, info).await?;
            send_copy(server, tenant, socket, request, attached).await?
        }
    };
    attached.sent.store(sent, Ordering::Relaxed);
    if request.psync.is_some() && request.capa_eof && wanted_full {
        // After a copy in the `$EOF:` form the stream waits for the replica's first acknowledgement, as
        // Redis's does: a replica looks for the end mark in the last bytes it read, which stream bytes
        // arriving right behind the mark would hide.
        wait_first_ack(socket, &mut input, tenant, attached, info, server).await?;
    }
    *attached.state.lock() = "online";
    attached.ack_ms.store(keel_engine::clock::unix_ms(), Ordering::Relaxed);
    let mut parser = RequestParser::new();
    let mut shutdown = server.shutdown_signal();
    let mut check = tokio::time::interval(Duration::from_secs(1));
    loop {
        read_acks(&mut parser, &mut input, tenant, attached)?;
        tokio::select! {
            _ = info.killed() => return Ok(()),
            _ = keel_engine::server::stopping(&mut shutdown) => return Ok(()),
            _ = stream.wait_past(sent) => {
                // Let the batches running now land too: one wake-up and one write for all of them.
                tokio::task::yield_now().await;
                match stream.pending(sent) {
                    Pending::Bytes(chunks, end) => {
                        // One write for everything pending (each chunk is one batch of one client).
                        write_chunks(socket, &chunks).await?;
                        sent = end;
                        attached.sent.store(sent, Ordering::Relaxed);
                    }
                    Pending::Lost => return Err("it fell behind past the replication backlog".into()),
                }
            }
            read = socket.read_buf(&mut input) => match read {
                Ok(0) | Err(_) => return Ok(()),
                Ok(n) => { server.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed); }
            },
            _ = check.tick() => {
                // A replica of the old SYNC protocol never acknowledges (Redis exempts it too).
                let timeout_ms = server.settings.read().repl_timeout * 1000;
                let last = attached.ack_ms.load(Ordering::Relaxed);
                if request.psync.is_some() && keel_engine::clock::unix_ms().saturating_sub(last) > timeout_ms {
                    return Err("no acknowledgement within repl-timeout".into());
                }
            }
        }
    }
}

/// Reads what the replica sends until its first `REPLCONF ACK`.
async fn wait_first_ack<S>(
    socket: &mut S,
    input: &mut BytesMut,
    tenant: &Tenant,
    attached: &Attached,
    info: &ClientInfo,
    server: &Server,
) -> Result<(), String>
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut parser = RequestParser::new();
    let timeout = Duration::from_secs(server.settings.read().repl_timeout.max(1));
    let started = attached.ack_ms.load(Ordering::Relaxed);
    loop {
        read_acks(&mut parser, input, tenant, attached)?;
        if attached.ack_ms.load(Ordering::Relaxed) != started {
            return Ok(());
        }
        tokio::select! {
            _ = info.killed() => return Err("killed".into()),
            read = tokio::time::timeout(timeout, socket.read_buf(input)) => match read {
                Ok(Ok(0)) | Ok(Err(_)) => return Err("the replica left before acknowledging its copy".into()),
                Ok(Ok(_)) => {}
                Err(_) => return Err("the replica did not acknowledge its copy within repl-timeout".into()),
            },
        }
    }
}

/// Takes every complete command the replica sent: `REPLCONF ACK <offset>` records its progress.
fn read_acks(
    parser: &mut RequestParser,
    input: &mut BytesMut,
    tenant: &Tenant,
    attached: &Attached,
) -> Result<(), String> {
    let mut pos = 0;
    let mut args = Vec::new();
    loop {
        let parsed = match parser.parse(&input[pos..], 1 << 20, true) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => break,
            Err(e) => return Err(format!("protocol error from the replica: {}", e.0)),
        };
        if let Parsed::Command { .. } = parsed {
            parser.args(&input[pos..], &mut args);
            let ack =
                args.len() >= 3 && args[0].eq_ignore_ascii_case(b"replconf") && args[1].eq_ignore_ascii_case(b"ack");
            let number = |arg: &[u8]| std::str::from_utf8(arg).ok()?.parse::<u64>().ok();
            if let Some(offset) = ack.then(|| number(args[2])).flatten() {
                attached.ack_offset.fetch_max(offset, Ordering::Relaxed);
                // `REPLCONF ACK offset FACK fsynced`: how far the replica's own log is fsynced (WAITAOF).
                if args.len() >= 5 && args[3].eq_ignore_ascii_case(b"fack") {
                    if let Some(fsynced) = number(args[4]) {
                        attached.fack_offset.fetch_max(fsynced, Ordering::Relaxed);
                    }
                }
                attached.ack_ms.store(keel_engine::clock::unix_ms(), Ordering::Relaxed);
                tenant.replication.acks.notify_waiters();
            }
        }
        pos += parsed.consumed();
    }
    drop(args);
    let _ = input.split_to(pos);
    Ok(())
}

/// Redis's `repl-diskless-sync-delay`: a copy the replica reads in the `$EOF:` form starts once the delay
/// has passed, or once `repl-diskless-sync-max-replicas` replicas wait for one; a newline a second keeps
/// the link alive meanwhile, as Redis's cron sends it.
async fn diskless_delay<S>(
    server: &Server,
    tenant: &Tenant,
    socket: &mut S,
    request: &ReplicaRequest,
    info: &ClientInfo,
) -> Result<(), String>
where
    S: AsyncWrite + Unpin,
{
    let (diskless, delay, enough) = {
        let s = server.settings.read();
        (s.repl_diskless_sync, s.repl_diskless_sync_delay, s.repl_diskless_sync_max_replicas as usize)
    };
    if !diskless || !request.capa_eof || delay == 0 {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(delay);
    while tokio::time::Instant::now() < deadline {
        if enough > 0 && tenant.replication.waiting_for_copy() >= enough {
            break;
        }
        let tick = deadline.min(tokio::time::Instant::now() + Duration::from_secs(1));
        tokio::select! {
            _ = info.killed() => return Err("killed while waiting for its copy".into()),
            _ = tokio::time::sleep_until(tick) => write(socket, b"\n").await?,
        }
    }
    Ok(())
}

/// Sends a full copy: `+FULLRESYNC <replid> <offset>` (for PSYNC), then the RDB, streamed in the `$EOF:`
/// form when the replica reads it (`capa eof`), else gathered and sent with its length. Returns the stream
/// offset of the copy's instant.
async fn send_copy<S>(
    server: &Arc<Server>,
    tenant: &Arc<Tenant>,
    socket: &mut S,
    request: &ReplicaRequest,
    attached: &Attached,
) -> Result<u64, String>
where
    S: AsyncWrite + Unpin,
{
    let (parts, mut received) = tokio::sync::mpsc::channel(4);
    let (copy_server, copy_tenant) = (server.clone(), tenant.clone());
    let copy = tokio::spawn(async move { copy_for_replica(&copy_server, &copy_tenant, parts).await });
    let Some(CopyPart::Start { replid, offset }) = received.recv().await else {
        return Err(copy_error(copy).await);
    };
    tracing::info!(database = %tenant.name, offset, "full resynchronisation: streaming a copy");
    // The backlog keeps what comes after the copy's instant until this replica has been sent it.
    attached.sent.store(offset, Ordering::Relaxed);
    if request.psync.is_some() {
        write(socket, format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes()).await?;
    }
    *attached.state.lock() = "send_bulk";
    let streamed = request.psync.is_some() && request.capa_eof;
    let mark = keel_engine::replication::stream::new_replid();
    let mut gathered = Vec::new();
    if streamed {
        write(socket, format!("$EOF:{mark}\r\n").as_bytes()).await?;
    }
    while let Some(part) = received.recv().await {
        let CopyPart::Bytes(bytes) = part else { continue };
        if streamed {
            write(socket, &bytes).await?;
        } else {
            gathered.extend_from_slice(&bytes);
        }
    }
    match copy.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(e) => return Err(e.to_string()),
    }
    if streamed {
        write(socket, mark.as_bytes()).await?;
    } else {
        write(socket, format!("${}\r\n", gathered.len()).as_bytes()).await?;
        write(socket, &gathered).await?;
    }
    Ok(offset)
}

async fn copy_error(copy: tokio::task::JoinHandle<Result<(), String>>) -> String {
    match copy.await {
        Ok(Err(e)) => e,
        Ok(Ok(())) => "the copy ended before it began".into(),
        Err(e) => e.to_string(),
    }
}

/// Slices per vectored write (the kernel takes at most 1,024).
const MAX_SLICES: usize = 64;

/// Writes the stream's chunks whole, as one vectored write when the socket takes them. Most writes complete
/// at once: the 60-second deadline is armed only when one has to wait, since a timer per write cost more
/// than the rest of the write's bookkeeping.
async fn write_chunks<S: AsyncWrite + Unpin>(socket: &mut S, chunks: &[bytes::Bytes]) -> Result<(), String> {
    let mut slices: Vec<IoSlice<'_>> = chunks.iter().map(|chunk| IoSlice::new(chunk)).collect();
    let mut rest = &mut slices[..];
    while !rest.is_empty() {
        let batch = rest.len().min(MAX_SLICES);
        let mut poll_write = |cx: &mut Context<'_>| Pin::new(&mut *socket).poll_write_vectored(cx, &rest[..batch]);
        let at_once = std::future::poll_fn(|cx| Poll::Ready(poll_write(cx))).await;
        let written = match at_once {
            Poll::Ready(written) => written,
            Poll::Pending => {
                match tokio::time::timeout(Duration::from_secs(60), std::future::poll_fn(poll_write)).await {
                    Ok(written) => written,
                    Err(_) => return Err("a write did not complete within 60 seconds".into()),
                }
            }
        };
        match written {
            Ok(0) => return Err("write failed: the connection is closed".into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) => return Err(format!("write failed: {e}")),
        }
    }
    Ok(())
}

/// Writes to the replica; one that takes more than a minute to take a piece is gone.
async fn write<S: AsyncWrite + Unpin>(socket: &mut S, bytes: &[u8]) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(60), socket.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("write failed: {e}")),
        Err(_) => Err("a write did not complete within 60 seconds".into()),
    }
}

//! A database's link to the primary it follows (REPLICAOF, `replicaof` at start-up): connect, log in with
//! `masterauth`, announce itself (`REPLCONF listening-port`, `capa eof psync2`), ask to continue where its
//! stream stands (`PSYNC <replid> <offset+1>`) or for a full copy, load the copy, then apply the primary's
//! stream through the same batches as any client, as the master client, mirroring its bytes into this
//! database's own stream. It acknowledges its offset every second and when asked (`REPLCONF GETACK`), with
//! how far its own log is fsynced when it has one (`FACK`, for the primary's WAITAOF), and reconnects after a
//! second when the link breaks, for as long as the database follows that primary.

use bytes::{Buf, BytesMut};
use keel_engine::clients::ClientInfo;
use keel_engine::exec::batch::{Batch, COMMANDS_PER_LOCK};
use keel_engine::exec::commands::failover;
use keel_engine::exec::session::Session;
use keel_engine::replication::LinkState;
use keel_engine::server::Server;
use keel_engine::state::tenant::Tenant;
use keel_protocol::{Parsed, ReplyWriter, RequestParser, Resp};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Starts a link for every database told to follow a primary, for the life of the server.
pub(crate) async fn run_links(server: Arc<Server>) {
    let Some(mut queue) = server.link_queue.lock().take() else { return };
    let mut shutdown = server.shutdown_signal();
    loop {
        tokio::select! {
            _ = keel_engine::server::stopping(&mut shutdown) => break,
            next = queue.recv() => match next {
                Some((tenant, generation)) => {
                    if !tenant.is_provisioned() {
                        tokio::spawn(follow_databases(server.clone(), generation));
                    }
                    tokio::spawn(follow(server.clone(), tenant, generation));
                }
                None => break,
            },
        }
    }
}

/// Keeps the link of `generation` up until REPLICAOF replaces it or the server stops.
async fn follow(server: Arc<Server>, tenant: Arc<Tenant>, generation: u64) {
    let repl = &tenant.replication;
    while repl.is_current(generation) && !server.is_shutting_down() {
        let Some((host, port)) = upstream(&tenant) else { return };
        match sync_and_stream(&server, &tenant, generation, &host, port).await {
            Ok(()) => tracing::info!(database = %tenant.name, %host, port, "replication link closed"),
            Err(why) => {
                tracing::warn!(database = %tenant.name, %host, port, "replication link failed: {why}");
                if !tenant.is_provisioned() {
                    failover::link_failed(&server, &why);
                }
            }
        }
        repl.set_link(generation, LinkState::Connect);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// While the default database follows a Keel, its provisioned databases are the primary's: every second
/// the definitions are fetched (`REPLCONF keel-databases *`), new databases opened and set to follow their
/// own streams, and those the primary dropped deleted. A primary that does not know the option (a
/// redis-server) has none to follow. When the default database stops following (REPLICAOF NO ONE), so do
/// they.
async fn follow_databases(server: Arc<Server>, generation: u64) {
    let default = server.default_tenant();
    let timeout = Duration::from_secs(server.settings.read().repl_timeout.max(1));
    let mut link: Option<Reader> = None;
    while default.replication.is_current(generation) && !server.is_shutting_down() {
        let Some((host, port)) = upstream(&default) else { break };
        if link.is_none() {
            link = connect(&server, &host, port, timeout, None).await.ok();
        }
        if let Some(connection) = link.as_mut() {
            match fetch_databases(connection, timeout).await {
                Ok(Some(defs)) => adopt(&server, defs, &host, port),
                Ok(None) => return,
                Err(why) => {
                    tracing::debug!("fetching the primary's databases failed: {why}");
                    link = None;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for tenant in server.tenants.read().values().filter(|t| t.is_provisioned()) {
        if tenant.replication.become_primary() {
            let mut ks = tenant.lock();
            keel_engine::exec::commands::replication::promote(tenant, &mut ks);
        }
    }
}

/// Connects to the primary and completes the handshake (for `database`'s stream, when given).
async fn connect(
    server: &Server,
    host: &str,
    port: u16,
    timeout: Duration,
    database: Option<&str>,
) -> Result<Reader, String> {
    let socket = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| "connecting timed out".to_string())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = socket.set_nodelay(true);
    let mut link = BufReader::with_capacity(64 * 1024, socket);
    handshake(server, &mut link, timeout, database).await?;
    Ok(link)
}

/// The primary's database definitions; None when it is not a Keel.
async fn fetch_databases(
    link: &mut Reader,
    timeout: Duration,
) -> Result<Option<Vec<keel_engine::databases::DatabaseCopy>>, String> {
    send(link, &["REPLCONF", "keel-databases", "*"]).await?;
    let header = read_line(link, timeout).await?;
    if header.starts_with("-ERR Unrecognized REPLCONF option") {
        return Ok(None);
    }
    let Some(len) = header.strip_prefix('$').and_then(|l| l.parse::<usize>().ok()) else {
        return Err(format!("the primary answered {header}"));
    };
    let mut body = vec![0u8; len + 2];
    tokio::time::timeout(timeout, link.read_exact(&mut body))
        .await
        .map_err(|_| "the primary stopped sending".to_string())?
        .map_err(|e| format!("read failed: {e}"))?;
    body.truncate(len);
    serde_json::from_slice(&body).map(Some).map_err(|e| format!("the primary's definitions: {e}"))
}

/// Opens what the primary has and sets every provisioned database to follow its stream there.
fn adopt(server: &Arc<Server>, defs: Vec<keel_engine::databases::DatabaseCopy>, host: &str, port: u16) {
    if let Err(why) = keel_engine::provisioning::adopt(server, defs) {
        tracing::warn!("following the primary's databases: {why}");
    }
    let tenants: Vec<Arc<Tenant>> = server.tenants.read().values().filter(|t| t.is_provisioned()).cloned().collect();
    for tenant in tenants {
        let following = matches!(tenant.replication.role(), keel_engine::replication::Role::Replica(up) if up.host == host && up.port == port);
        if !following {
            let generation = keel_engine::exec::commands::replication::follow(&tenant, &mut tenant.lock(), host, port);
            server.start_link(&tenant, generation);
        }
    }
}

fn upstream(tenant: &Tenant) -> Option<(String, u16)> {
    match tenant.replication.role() {
        keel_engine::replication::Role::Replica(up) => Some((up.host, up.port)),
        keel_engine::replication::Role::Primary => None,
    }
}

type Reader = BufReader<TcpStream>;

async fn sync_and_stream(
    server: &Server,
    tenant: &Tenant,
    generation: u64,
    host: &str,
    port: u16,
) -> Result<(), String> {
    let repl = &tenant.replication;
    repl.set_link(generation, LinkState::Connecting);
    let timeout = Duration::from_secs(server.settings.read().repl_timeout.max(1));
    let database = tenant.is_provisioned().then_some(tenant.name.as_str());
    let mut link = connect(server, host, port, timeout, database).await?;
    let stream = &tenant.persistence.stream;
    let (replid, offset) = stream.position();
    let ask = if stream.is_active() { replid.clone() } else { "?".into() };
    let from = if stream.is_active() { (offset + 1).to_string() } else { "-1".into() };
    // A server handing its databases over asks its new primary to take over first.
    let failing_over = !tenant.is_provisioned() && failover::in_progress(server);
    let psync: &[&str] = if failing_over { &["PSYNC", &ask, &from, "FAILOVER"] } else { &["PSYNC", &ask, &from] };
    send(&mut link, psync).await?;
    let answer = read_line(&mut link, timeout).await?;
    let taken_over = answer.starts_with("+FULLRESYNC") || answer.starts_with("+CONTINUE");
    if failing_over && taken_over {
        failover::completed(server);
    } else if failing_over {
        failover::link_failed(server, "Failover target rejected psync request");
    }
    let mut early = Vec::new();
    let mut words = answer.split_whitespace();
    match words.next() {
        Some("+FULLRESYNC") => {
            let replid = words.next().ok_or("FULLRESYNC without an ID")?.to_string();
            let offset: u64 = words.next().and_then(|o| o.parse().ok()).ok_or("FULLRESYNC without an offset")?;
            repl.set_link(generation, LinkState::Sync);
            let (path, behind) = receive_copy(&mut link, tenant, timeout).await?;
            early = behind;
            let loaded = tokio::task::block_in_place(|| {
                keel_engine::persistence::load::replace_with_copy(server, tenant, &path, (&replid, offset))
            });
            let _ = std::fs::remove_file(&path);
            let keys = loaded?;
            tracing::info!(database = %tenant.name, keys, offset, "loaded the primary's copy");
        }
        Some("+CONTINUE") => {
            let replid = words.next().unwrap_or(&replid).to_string();
            stream.continue_with(&replid);
            tracing::info!(database = %tenant.name, offset, "continuing the primary's stream");
        }
        _ => return Err(format!("the primary refused PSYNC: {answer}")),
    }
    if !repl.is_current(generation) {
        return Ok(());
    }
    repl.set_link(generation, LinkState::Connected);
    apply_stream(server, tenant, generation, link, early, timeout).await
}

/// PING, AUTH with `masterauth`, and REPLCONF (with the provisioned database to follow, if any): each
/// answered before the next is sent.
async fn handshake(
    server: &Server,
    link: &mut Reader,
    timeout: Duration,
    database: Option<&str>,
) -> Result<(), String> {
    let (user, password, my_port) = {
        let s = server.settings.read();
        (s.masteruser.clone(), s.masterauth.clone(), server.port())
    };
    send(link, &["PING"]).await?;
    let pong = read_line(link, timeout).await?;
    if pong.starts_with('-') && !pong.starts_with("-NOAUTH") && !pong.starts_with("-NOPERM") {
        return Err(format!("the primary answered PING with {pong}"));
    }
    if !password.is_empty() {
        if user.is_empty() {
            send(link, &["AUTH", &password]).await?;
        } else {
            send(link, &["AUTH", &user, &password]).await?;
        }
        expect_ok(link, timeout, "AUTH").await?;
    }
    send(link, &["REPLCONF", "listening-port", &my_port.to_string()]).await?;
    expect_ok(link, timeout, "REPLCONF listening-port").await?;
    send(link, &["REPLCONF", "capa", "eof", "capa", "psync2", "capa", "keel"]).await?;
    expect_ok(link, timeout, "REPLCONF capa").await?;
    if let Some(name) = database {
        send(link, &["REPLCONF", "database", name]).await?;
        expect_ok(link, timeout, "REPLCONF database").await?;
    }
    Ok(())
}

async fn expect_ok(link: &mut Reader, timeout: Duration, what: &str) -> Result<(), String> {
    let answer = read_line(link, timeout).await?;
    if answer.starts_with('+') {
        Ok(())
    } else {
        Err(format!("the primary answered {what} with {answer}"))
    }
}

async fn send(link: &mut Reader, args: &[&str]) -> Result<(), String> {
    let mut bytes = Vec::new();
    keel_persist::aof::encode_command(&mut bytes, args);
    link.get_mut().write_all(&bytes).await.map_err(|e| format!("write failed: {e}"))
}

/// One line from the primary, without its CRLF; the newlines a primary sends while it prepares a copy
/// are skipped.
async fn read_line(link: &mut Reader, timeout: Duration) -> Result<String, String> {
    loop {
        let mut line = Vec::new();
        let read = tokio::time::timeout(timeout, link.read_until(b'\n', &mut line)).await;
        match read {
            Err(_) => return Err("the primary did not answer within repl-timeout".into()),
            Ok(Err(e)) => return Err(format!("read failed: {e}")),
            Ok(Ok(0)) => return Err("the primary closed the connection".into()),
            Ok(Ok(_)) => {}
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        if !text.is_empty() {
            return Ok(text);
        }
    }
}

/// Receives the primary's RDB (`$<len>` or `$EOF:<mark>` form) into a file in the database's directory.
/// Returns the file, and the stream bytes that arrived behind the copy.
async fn receive_copy(
    link: &mut Reader,
    tenant: &Tenant,
    timeout: Duration,
) -> Result<(std::path::PathBuf, Vec<u8>), String> {
    let header = read_line(link, timeout).await?;
    let Some(size) = header.strip_prefix('$') else {
        return Err(format!("expected the copy, the primary sent {header}"));
    };
    let path = tenant.persistence.dir.join(format!("temp-replica-{}.rdb", std::process::id()));
    // Written as it arrives (a local file, in pieces of at most 64 KiB), readable only by Keel.
    let mut file = keel_persist::private_file::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    match receive_into(link, &mut file, size, timeout).await {
        Ok(leftover) => Ok((path, leftover)),
        Err(e) => {
            // A copy cut off (the primary gone mid-transfer, a truncated stream) leaves nothing behind.
            let _ = std::fs::remove_file(&path);
            Err(e)
        }
    }
}

/// Writes the copy's bytes (`size` is what followed `$`: a length, or `EOF:<mark>`) into `file`; returns
/// the stream bytes that arrived behind it.
async fn receive_into(
    link: &mut Reader,
    file: &mut std::fs::File,
    size: &str,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let mut leftover = Vec::new();
    let fail = |e: std::io::Error| format!("receiving the copy: {e}");
    let mut chunk = vec![0u8; 64 * 1024];
    if let Some(mark) = size.strip_prefix("EOF:") {
        let mark = mark.as_bytes();
        // The copy ends with the mark: hold back its length until more arrives.
        let mut held: Vec<u8> = Vec::new();
        loop {
            let n = read_some(link, &mut chunk, timeout).await?;
            held.extend_from_slice(&chunk[..n]);
            if let Some(at) = held.windows(mark.len()).position(|w| w == mark) {
                std::io::Write::write_all(file, &held[..at]).map_err(fail)?;
                // Whatever came behind the mark is the stream's beginning.
                leftover = held.split_off(at + mark.len());
                break;
            }
            let keep = held.len().saturating_sub(mark.len());
            std::io::Write::write_all(file, &held[..keep]).map_err(fail)?;
            held.drain(..keep);
        }
    } else {
        let mut left: u64 = size.parse().map_err(|_| format!("bad copy length {size}"))?;
        while left > 0 {
            let want = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = read_some(link, &mut chunk[..want], timeout).await?;
            std::io::Write::write_all(file, &chunk[..n]).map_err(fail)?;
            left -= n as u64;
        }
    }
    file.sync_all().map_err(fail)?;
    Ok(leftover)
}

async fn read_some(link: &mut Reader, buf: &mut [u8], timeout: Duration) -> Result<usize, String> {
    match tokio::time::timeout(timeout, link.read(buf)).await {
        Err(_) => Err("the primary stopped sending within repl-timeout".into()),
        Ok(Err(e)) => Err(format!("read failed: {e}")),
        Ok(Ok(0)) => Err("the primary closed the connection".into()),
        Ok(Ok(n)) => Ok(n),
    }
}

/// Applies the primary's stream, command by command, as the master client; every byte applied is
/// mirrored into this database's stream and counted in the offset it acknowledges.
async fn apply_stream(
    server: &Server,
    tenant: &Tenant,
    generation: u64,
    link: Reader,
    early: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let stream = &tenant.persistence.stream;
    let buffered = link.buffer().to_vec();
    let mut socket = link.into_inner();
    let mut input = BytesMut::with_capacity(64 * 1024);
    input.extend_from_slice(&early);
    input.extend_from_slice(&buffered);
    let info = Arc::new(ClientInfo::new(0, "master".into(), String::new(), -1, tenant.name.clone(), 0));
    let mut session = Session::new(info, true);
    session.master = true;
    let mut parser = RequestParser::new();
    let mut out = ReplyWriter::new(Resp::V2);
    let mut ack_timer = tokio::time::interval(Duration::from_secs(1));
    let mut last_io = tokio::time::Instant::now();
    let mut fsyncs = FsyncTracker::default();
    loop {
        let (consumed, ack_now) = tokio::task::block_in_place(|| {
            apply_buffered(server, tenant, &mut session, &mut parser, &input, &mut out)
        })?;
        input.advance(consumed);
        fsyncs.note(tenant);
        if ack_now {
            send_ack(&mut socket, stream.offset(), fsyncs.fsynced(tenant)).await?;
        }
        if !tenant.replication.is_current(generation) {
            return Ok(());
        }
        tokio::select! {
            read = socket.read_buf(&mut input) => match read {
                Ok(0) => return Err("the primary closed the connection".into()),
                Err(e) => return Err(format!("read failed: {e}")),
                Ok(_) => {
                    last_io = tokio::time::Instant::now();
                    tenant.replication.touch_link(generation);
                }
            },
            _ = ack_timer.tick() => {
                if last_io.elapsed() > timeout {
                    return Err("no data from the primary within repl-timeout".into());
                }
                send_ack(&mut socket, stream.offset(), fsyncs.fsynced(tenant)).await?;
            }
        }
    }
}

/// Runs every complete command in `input`, in batches short enough never to offer the lock to others
/// midway ([`COMMANDS_PER_LOCK`]): each batch's bytes are mirrored into the database's stream, and its
/// changes marked in the log with the position they bring the data to, under the lock that applied them
/// (so the stream's offset always names the data: a shutdown saves the two together, a crash recovers
/// them together). Returns the bytes consumed and whether the primary asked for an acknowledgement
/// (REPLCONF GETACK).
fn apply_buffered(
    server: &Server,
    tenant: &Tenant,
    session: &mut Session,
    parser: &mut RequestParser,
    input: &[u8],
    out: &mut ReplyWriter,
) -> Result<(usize, bool), String> {
    let mut pos = 0;
    let mut ack = false;
    loop {
        let (end, more, asked) = apply_batch(server, tenant, session, parser, input, pos, out)?;
        pos = end;
        ack |= asked;
        if !more {
            return Ok((pos, ack));
        }
    }
}

/// One batch of [`apply_buffered`], from `start`: the end of what it applied, whether complete commands
/// remain, and whether one was a GETACK.
fn apply_batch(
    server: &Server,
    tenant: &Tenant,
    session: &mut Session,
    parser: &mut RequestParser,
    input: &[u8],
    start: usize,
    out: &mut ReplyWriter,
) -> Result<(usize, bool, bool), String> {
    let mut batch = Batch::from_primary(server, tenant);
    let max_bulk = batch.env.settings.max_bulk_len;
    let (mut pos, mut ack, mut commands, mut more) = (start, false, 0, false);
    let mut args = Vec::new();
    loop {
        if commands == COMMANDS_PER_LOCK - 1 {
            more = true;
            break;
        }
        let parsed = match parser.parse(&input[pos..], max_bulk, true) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => break,
            Err(e) => return Err(format!("protocol error in the primary's stream: {}", e.0)),
        };
        if let Parsed::Command { .. } = parsed {
            parser.args(&input[pos..], &mut args);
            let getack =
                args.len() >= 2 && args[0].eq_ignore_ascii_case(b"replconf") && args[1].eq_ignore_ascii_case(b"getack");
            if getack {
                ack = true;
            } else {
                batch.run(session, &args, out);
                session.action = None;
                out.clear();
            }
        }
        pos += parsed.consumed();
        commands += 1;
    }
    drop(args);
    let p = &tenant.persistence;
    p.stream.append(&input[start..pos]);
    if let Some(ks) = batch.keyspace() {
        if !ks.log.buf.is_empty() && p.log_enabled() && p.markers_valid.load(std::sync::atomic::Ordering::Relaxed) {
            let (replid, offset) = p.stream.position();
            ks.log.mark_position(&replid, offset);
        }
    }
    batch.finish();
    Ok((pos, more, ack))
}

async fn send_ack(socket: &mut TcpStream, offset: u64, fsynced: Option<u64>) -> Result<(), String> {
    let mut bytes = Vec::new();
    let offset = offset.to_string();
    match fsynced.map(|f| f.to_string()) {
        Some(fsynced) => keel_persist::aof::encode_command(&mut bytes, &["REPLCONF", "ACK", &offset, "FACK", &fsynced]),
        None => keel_persist::aof::encode_command(&mut bytes, &["REPLCONF", "ACK", &offset]),
    }
    socket.write_all(&bytes).await.map_err(|e| format!("write failed: {e}"))
}

/// How far this replica's own log is fsynced, in the primary's stream offsets: the log's end after each
/// applied batch, paired with the stream offset it reached, until the log has fsynced that far.
#[derive(Default)]
struct FsyncTracker {
    pending: std::collections::VecDeque<(u64, u64)>,
    fsynced: u64,
}

impl FsyncTracker {
    /// Notes where the log ends now that the stream is at its current offset.
    fn note(&mut self, tenant: &Tenant) {
        let Some((end, _)) = tenant.persistence.log_sync_state() else { return };
        let offset = tenant.persistence.stream.offset();
        match self.pending.back_mut() {
            Some(last) if last.0 == end => last.1 = offset,
            Some(last) if last.0 > end => {
                // A new log file (a rewrite) starts from a fsynced snapshot of everything noted before it.
                self.fsynced = last.1;
                self.pending.clear();
                self.pending.push_back((end, offset));
            }
            _ => self.pending.push_back((end, offset)),
        }
    }

    /// The stream offset up to which the log is fsynced (None when the log is off).
    fn fsynced(&mut self, tenant: &Tenant) -> Option<u64> {
        let (_, synced) = tenant.persistence.log_sync_state()?;
        while self.pending.front().is_some_and(|p| p.0 <= synced) {
            self.fsynced = self.pending.pop_front().map_or(self.fsynced, |p| p.1);
        }
        Some(self.fsynced)
    }
}

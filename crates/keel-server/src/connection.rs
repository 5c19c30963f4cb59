//! One task per client connection: read whatever arrived, parse every complete command, run them under the
//! database's lock (taken once per batch, so pipelines batch themselves), and write all replies with one
//! write. A protocol error answers that client and closes only its connection.

mod actions;

use crate::homes::{Homes, Movable, Moved};
use crate::lookahead;
use crate::push_feed::{next_pushed, PushFeed, Pushed};
use crate::query_buffer::{self, Arrived, SharedInput, SHARED_INPUT_BYTES};
use crate::waits::{wait_and_reply, wait_blocked, Waiting};
use bytes::{Buf, BytesMut};
use keel_engine::clients::{flag, ClientInfo, Signal};
use keel_engine::config::ClassLimit;
use keel_engine::exec::batch::Batch;
use keel_engine::exec::dispatch::BatchSettings;
use keel_engine::exec::session::{Action, Session};
use keel_engine::server::Server;
use keel_engine::state::blocking::Waiter;
use keel_engine::state::tenant::Tenant;
use keel_protocol::{Parsed, ReplyWriter, RequestParser, Resp, KEPT_CAPACITY};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

/// What a connection's output buffer starts with, and its private input returns to after a huge request:
/// 4 KiB. Buffers grow with what a client sends and receives, and are given back when the connection has
/// been idle for a while ([`keel_engine::clients::TRIM_AFTER_IDLE_MS`]). A connection starts with no input
/// buffer: it reads into its thread's ([`crate::query_buffer`]).
const IDLE_BUFFER: usize = 4 * 1024;

/// Replies are flushed once a batch has produced this much, so a pipelining client that does not read
/// cannot make the server buffer without bound.
const FLUSH_AT: usize = 64 * 1024;
/// A connection whose output makes no progress for this long is closed, whatever the configured limits:
/// a peer that never reads must not hold a connection (and its buffers) forever.
const WRITE_STALL_LIMIT: Duration = Duration::from_secs(60);

/// A pipelined batch's replies up to this size wait for other busy connections' (see `serve`): past it, the
/// reader's own work on them outweighs the wake a write saves (LRANGE of 100 items -P 16 lost 12% to waiting).
const GATHER_REPLIES_UP_TO: usize = 4096;

/// What waiting for the client's input came to.
enum Input {
    /// Bytes arrived: into the connection's own buffer, or (Some) into its thread's shared one.
    Arrived(Option<SharedInput>),
    /// Something else was done (a pushed message written, buffers trimmed): wait again.
    Again,
    Closed,
}

/// What a batch of input asked the connection to do next.
enum Next {
    /// Read more input.
    Read,
    /// Replies were flushed early: process the rest of the buffer before reading.
    Continue,
    /// A blocking command is waiting; its reply arrives on the channel (or the deadline passes).
    Block(oneshot::Receiver<Vec<u8>>, Option<tokio::time::Instant>),
    /// CLIENT PAUSE holds the next command, still in the input: run it when the pause ends.
    Paused,
    /// SYNC/PSYNC: the connection becomes a replica's feed.
    Replicate(keel_engine::exec::session::ReplicaRequest),
    /// AUTH for a database another node serves: the connection becomes a relay to it, starting with the
    /// command (its arguments here).
    Relay(keel_engine::coordination::Remote, Vec<Vec<u8>>),
    /// WAIT or WAITAOF: answer once what they wait for happened, or at the deadline.
    Wait(Waiting, Option<tokio::time::Instant>),
    Close,
}

/// What processing the input buffer did.
struct Processed {
    next: Next,
    /// The time as of the last command.
    now_ms: u64,
    durability: keel_engine::exec::batch::Durability,
    /// Commands that wrote a reply.
    replies: usize,
}

/// The refusal when the log's own error is not known.
const MISCONF: &str = "MISCONF Errors writing to the AOF file: the write could not be made durable";

struct Connection {
    server: Arc<Server>,
    tenant: Arc<Tenant>,
    session: Session,
    parser: RequestParser,
    /// Parses ahead of `parser`, for [`lookahead::prefetch_keys`], and keeps what it parsed for the batch.
    lookahead: lookahead::Lookahead,
    /// Batches to run without looking ahead: one of several commands that found fewer than two keys to
    /// prefetch (a client pipelining on one key) makes the next [`lookahead::PREFETCH_PAUSE`] skip it.
    lookahead_pause: u8,
    input: BytesMut,
    out: ReplyWriter,
    /// The receiving end of the push feed (MONITOR lines, pub/sub messages), once the session made one.
    feed: Option<PushFeed>,
    /// The database AUTH moved this connection to, switched to before the next command.
    switch_to: Option<Arc<Tenant>>,
    /// The cron asked it to give its buffers back while idle: the next read goes into what is left (a few
    /// bytes when they were given back).
    trimmed: bool,
    /// This worker thread's [`READS`] as of the connection's last read.
    reads_mark: u64,
    /// Other connections read on this thread between the connection's last two reads: it shares the
    /// thread with other busy clients.
    shares_thread: bool,
    /// The bytes of its buffers its database counts ([`Tenant::count_client_buffers`]), as last published.
    counted_buffers: u64,
}

thread_local! {
    /// Reads of input done on this worker thread, by any connection.
    static READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Serves one client over `stream` (plain TCP or TLS) until it leaves or the server shuts down: here, and
/// from its login on, on its database's home ([`crate::homes`]). The connection is built before the task
/// starts, and the task holds only the boxed future serving it: a future's state keeps the room of every
/// local that lives across an await, moved or not, and a connection is a few hundred bytes.
pub fn serve<S>(
    server: Arc<Server>,
    stream: S,
    info: Arc<ClientInfo>,
    homes: Arc<Homes>,
) -> impl std::future::Future<Output = ()> + Send
where
    S: Stream,
{
    let tenant = server.default_tenant();
    let authenticated = server.opens_without_auth() && !info.has_flag(flag::PROTECTED);
    let conn = Connection {
        tenant,
        session: Session::new(info.clone(), authenticated),
        parser: RequestParser::new(),
        lookahead: lookahead::Lookahead::default(),
        lookahead_pause: 0,
        // None to start: the connection reads into its thread's reusable buffer while it has nothing pending.
        input: BytesMut::new(),
        out: ReplyWriter::with_capacity(Resp::V2, IDLE_BUFFER),
        feed: None,
        switch_to: None,
        trimmed: false,
        reads_mark: 0,
        shares_thread: false,
        counted_buffers: 0,
        server,
    };
    conn.tenant.admit_connection();
    let shutdown = conn.server.shutdown_signal();
    let first = run(conn, stream, info, shutdown, Next::Read, Place { homes, here: 0 });
    async move { crate::homes::follow(first.await).await }
}

/// A connection's stream: plain TCP or TLS.
pub(crate) trait Stream:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Movable + Send + 'static
{
}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Movable + Send + 'static> Stream for S {}

/// The runtimes a connection may run on, and which one it runs on.
struct Place {
    homes: Arc<Homes>,
    here: usize,
}

/// The connection's task: serves it until it closes, or until it moves to its database's home, where the
/// task that goes on is returned. (Boxed by hand, so that the task it spawns may be this function again.)
fn run<S: Stream>(
    mut conn: Connection,
    mut stream: S,
    info: Arc<ClientInfo>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
    mut next: Next,
    place: Place,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Moved> + Send>> {
    Box::pin(async move {
        // Whether the connection runs on its database's home (or cannot move), until it logs in elsewhere.
        let mut settled = place.homes.count() == 1;
        loop {
            let mut shared = None;
            if let Next::Read = next {
                match conn.read(&mut stream, &info).await {
                    Input::Arrived(input) => {
                        shared = input;
                        conn.count_read();
                    }
                    Input::Again => continue,
                    Input::Closed => break,
                }
            }
            if let Next::Block(reply, deadline) = next {
                next = Next::Continue;
                // Boxed, as every rarely taken wait is: the connection's task stays small.
                if !Box::pin(conn.answer_blocked(&mut stream, &info, &mut shutdown, reply, deadline)).await {
                    break;
                }
                continue;
            }
            let mut processed = conn.process_input(shared);
            next = std::mem::replace(&mut processed.next, Next::Continue);
            // A SYNC flush's caller hears nothing, its flush's reply included, until the flush is freed.
            let held = matches!(next, Next::Wait(Waiting::Freed(_), _));
            if !conn.answer(&mut stream, &info, &processed, held).await {
                break;
            }
            info.last_active_ms.store(processed.now_ms, Ordering::Relaxed);
            conn.publish_buffers(&info);
            if let Next::Close = next {
                break;
            }
            if let Next::Replicate(request) = next {
                // A replica's feed is not a normal client: its buffers leave what maxmemory counts now.
                conn.uncount_buffers();
                let input = std::mem::take(&mut conn.input);
                let server = conn.server.clone();
                // The administrator may ask for a provisioned database's stream (REPLCONF database).
                let named = request.database.as_ref().and_then(|name| server.tenants.read().get(name).cloned());
                let tenant = named.unwrap_or_else(|| conn.tenant.clone());
                Box::pin(crate::replication::feeder::serve(server, tenant, stream, info.clone(), request, input)).await;
                conn.close(&info);
                return Moved(None);
            }
            if let Next::Relay(remote, command) = next {
                match Box::pin(crate::relay::connect(&remote)).await {
                    Ok(upstream) => {
                        let input = std::mem::take(&mut conn.input);
                        conn.close(&info);
                        Box::pin(crate::relay::serve(stream, upstream, &command, input, info.clone(), shutdown)).await;
                        return Moved(None);
                    }
                    Err(refusal) => {
                        conn.out.error(&refusal);
                        if write_output(&mut stream, conn.out.as_bytes(), &conn.server, conn.output_limit())
                            .await
                            .is_err()
                        {
                            break;
                        }
                        conn.out.clear();
                        next = Next::Continue;
                    }
                }
            }
            if let Next::Wait(..) | Next::Paused = next {
                // Boxed, as every rarely taken wait is: the connection's task stays small.
                let resumed =
                    conn.wait(&mut stream, &info, &mut shutdown, std::mem::replace(&mut next, Next::Continue));
                if !Box::pin(resumed).await {
                    break;
                }
            }
            if (!settled || conn.switch_to.is_some()) && matches!(next, Next::Read | Next::Continue) {
                settled = true;
                let home = place.homes.of(conn.switch_to.as_ref().unwrap_or(&conn.tenant));
                if home != place.here {
                    if !stream.socket().unplug() {
                        break;
                    }
                    return conn.move_home(stream, info, shutdown, next, place, home);
                }
            }
        }
        conn.close(&info);
        Moved(None)
    })
}

/// Writes a client's pending output under `client-output-buffer-limit normal`: over the hard limit the
/// client is closed at once; over the soft limit the output must drain within the soft seconds; in any case
/// a write that makes no progress for [`WRITE_STALL_LIMIT`] closes the client.
async fn write_output<S: tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    output: &[u8],
    server: &Server,
    limit: ClassLimit,
) -> Result<(), String> {
    let pending = output.len() as u64;
    if limit.hard > 0 && pending > limit.hard {
        return Err(format!("output of {pending} bytes is over the hard limit of {} bytes", limit.hard));
    }
    let soft_exceeded = limit.soft > 0 && limit.soft_seconds > 0 && pending >= limit.soft;
    let stall = if soft_exceeded { Duration::from_secs(limit.soft_seconds) } else { WRITE_STALL_LIMIT };
    if output.is_empty() {
        return Ok(());
    }
    // Most writes go out at once: the stall's timer (and the clock it reads) starts only for one that waits.
    let tried = std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut *stream).poll_write(cx, output))).await;
    let mut written = match tried {
        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Err("connection lost while writing".into()),
        Poll::Ready(Ok(n)) => n,
        Poll::Pending => 0,
    };
    while written < output.len() {
        match tokio::time::timeout(stall, stream.write(&output[written..])).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Err("connection lost while writing".into()),
            Ok(Ok(n)) => written += n,
            Err(_) => return Err(format!("output did not drain for {} seconds", stall.as_secs())),
        }
    }
    server.stats.net_output_bytes.fetch_add(written as u64, Ordering::Relaxed);
    Ok(())
}

impl Connection {
    /// `client-output-buffer-limit normal`, as the thread last derived the settings (no lock unless a
    /// setting changed since).
    fn output_limit(&self) -> ClassLimit {
        BatchSettings::with(&self.server, &self.tenant, |settings| settings.output_limit)
    }

    /// Answers a blocked command once served, timed out or unblocked; false when the connection must close
    /// (killed, shutdown, a failed write or log).
    async fn answer_blocked<S>(
        &mut self,
        stream: &mut S,
        info: &ClientInfo,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
        mut reply: oneshot::Receiver<Vec<u8>>,
        deadline: Option<tokio::time::Instant>,
    ) -> bool
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let blocked = wait_blocked(stream, &mut self.input, &self.server, info, shutdown, &mut reply, deadline);
        let Some(served) = blocked.await else { return false };
        // Timed out: unregister, unless a writer (or CLIENT UNBLOCK) completed the wait meanwhile.
        let bytes = match served {
            Some(bytes) => bytes,
            None => self.unblock_timed_out().unwrap_or_else(|| reply.try_recv().unwrap_or_default()),
        };
        info.set_flag(flag::BLOCKED, false);
        if let Some(offset) = self.tenant.persistence.log_queued() {
            if self.tenant.persistence.wait_durable(offset).await.is_err() {
                return false;
            }
        }
        write_output(stream, &bytes, &self.server, self.output_limit()).await.is_ok()
    }

    /// Writes a batch's replies (unless `held`), once the log holds its writes where `appendfsync always`
    /// asks; false when the connection must close.
    async fn answer<S>(&mut self, stream: &mut S, info: &ClientInfo, processed: &Processed, held: bool) -> bool
    where
        S: tokio::io::AsyncWrite + Unpin,
    {
        if let Some(offset) = processed.durability.offset {
            // `appendfsync always`: nothing is acknowledged before the log holds it on disk. When it cannot
            // be written, a batch that wrote answers MISCONF in place of every reply (its writes stay
            // queued for when there is room); one that only read answers as usual.
            if self.tenant.persistence.wait_durable(offset).await.is_err() && processed.durability.wrote {
                let refusal = self.tenant.persistence.write_refusal().unwrap_or_else(|| MISCONF.into());
                self.out.clear();
                (0..processed.replies).for_each(|_| self.out.error(&refusal));
            }
        }
        if self.out.is_empty() || held {
            return true;
        }
        self.tenant.meters.bytes_out.fetch_add(self.out.len() as u64, Ordering::Relaxed);
        // Among other busy clients, a pipeline's replies wait for the connections that are ready to run
        // theirs first, so that replies go out together, as Redis writes them at the end of its event
        // loop's round: a reader woken by one write then finds the next already there, where each write
        // alone would wake it again (on a virtual machine, an interrupt to another CPU each time). Alone,
        // a client gains nothing from it and pays the runtime's wake of its other worker; and large
        // replies go at once, for their reader to start on while the next batch runs.
        if processed.replies > 1 && self.shares_thread && self.out.len() <= GATHER_REPLIES_UP_TO {
            tokio::task::yield_now().await;
        } else if self.out.len() > GATHER_REPLIES_UP_TO {
            // A large reply may wait for a client that does not read: CLIENT LIST and maxmemory see it.
            self.publish_buffers(info);
        }
        let written = write_output(stream, self.out.as_bytes(), &self.server, self.output_limit()).await;
        self.out.clear();
        match written {
            Ok(()) => true,
            Err(why) => {
                tracing::info!(client = info.id, addr = %info.addr, database = %self.tenant.name, "closing client: {why}");
                false
            }
        }
    }

    /// Waits for the client's next bytes, writing pushed messages (pub/sub, tracking) meanwhile, and checks
    /// what is pending against the request size limits. The shutdown arrives as the client's own signal
    /// ([`keel_engine::clients::ClientRegistry::stop_all`]): no watch of the server's is polled per read.
    async fn read<S>(&mut self, stream: &mut S, info: &ClientInfo) -> Input
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut shared = None;
        // Part of a command is pending: make room for the rest of the argument it is in, as Redis does.
        let spare = self.input.capacity() - self.input.len();
        let missing = self.parser.bulk_bytes_missing(self.input.len());
        if !self.input.is_empty() && !self.trimmed && (spare < IDLE_BUFFER / 2 || missing > spare) {
            self.input.reserve(missing.clamp(SHARED_INPUT_BYTES, 64 * 1024 * 1024));
            self.publish_buffers(info);
        }
        tokio::select! {
            biased;
            signal = info.signalled() => match signal {
                Signal::Kill => return Input::Closed,
                Signal::Trim => {
                    self.trim(info);
                    return Input::Again;
                }
            },
            pushed = next_pushed(&mut self.feed) => {
                let Some(message) = pushed else { return Input::Closed };
                // Everything already queued goes out with it, in one write.
                let batch = match self.feed.as_mut() {
                    Some(feed) => feed.drain_after(message),
                    None => Pushed::One(message),
                };
                // A subscriber cut off for not reading must not keep its connection while a write stalls.
                let written = tokio::select! {
                    _ = info.killed() => return Input::Closed,
                    written = write_output(stream, batch.bytes(), &self.server, self.output_limit()) => written,
                };
                if written.is_err() {
                    return Input::Closed;
                }
                return Input::Again;
            }
            read = query_buffer::read(stream, &mut self.input) => match read {
                Ok(Arrived::Closed) | Err(_) => return Input::Closed,
                Ok(arrived) => {
                    let n = arrived.len() as u64;
                    self.server.stats.net_input_bytes.fetch_add(n, Ordering::Relaxed);
                    self.tenant.meters.bytes_in.fetch_add(n, Ordering::Relaxed);
                    if self.trimmed {
                        self.untrim(info);
                    }
                    if let Arrived::Shared(input) = arrived {
                        shared = Some(input);
                    }
                }
            },
        }
        let pending = self.input.len() + shared.as_ref().map_or(0, |input| input.bytes().len());
        let (max, query_buffer_limit) =
            BatchSettings::with(&self.server, &self.tenant, |s| (s.max_request_size, s.query_buffer_limit));
        if max > 0 && pending as u64 > max {
            tracing::info!(client = info.id, addr = %info.addr, database = %self.tenant.name, max, "closing client over its database's max request size");
            let _ =
                write_output(stream, b"-ERR max request size exceeded\r\n", &self.server, self.output_limit()).await;
            return Input::Closed;
        }
        if pending > query_buffer_limit {
            tracing::warn!(client = info.id, addr = %info.addr, database = %self.tenant.name, "closing client that reached max query buffer length");
            return Input::Closed;
        }
        Input::Arrived(shared)
    }

    /// A WAIT's or WAITAOF's wait, then its reply written; or, for a command CLIENT PAUSE holds, the pause's
    /// end. False when the connection must close (killed, server stopping, a write failed).
    async fn wait<S>(
        &mut self,
        stream: &mut S,
        info: &ClientInfo,
        shutdown: &mut tokio::sync::watch::Receiver<bool>,
        next: Next,
    ) -> bool
    where
        S: tokio::io::AsyncWrite + Unpin,
    {
        match next {
            Next::Wait(waiting, deadline) => {
                tokio::select! {
                    biased;
                    _ = info.killed() => return false,
                    _ = keel_engine::server::stopping(shutdown) => return false,
                    () = Box::pin(wait_and_reply(&self.tenant, waiting, deadline, &mut self.out)) => {}
                };
                self.tenant.meters.bytes_out.fetch_add(self.out.len() as u64, Ordering::Relaxed);
                let written = write_output(stream, self.out.as_bytes(), &self.server, self.output_limit()).await;
                self.out.clear();
                written.is_ok()
            }
            Next::Paused => {
                // Counted as blocked while the pause holds its command, as Redis counts postponed clients.
                info.set_flag(flag::BLOCKED, true);
                let ended = tokio::select! {
                    biased;
                    _ = info.killed() => false,
                    _ = keel_engine::server::stopping(shutdown) => false,
                    _ = self.tenant.pause.wait() => true,
                };
                info.set_flag(flag::BLOCKED, false);
                ended
            }
            _ => true,
        }
    }

    /// Counts a read in this thread's [`READS`], noting whether others read since this connection's last.
    fn count_read(&mut self) {
        let now = READS.with(|reads| {
            let now = reads.get() + 1;
            reads.set(now);
            now
        });
        // A task moved from another thread compares counts of different threads: it counts as sharing.
        self.shares_thread = now != self.reads_mark + 1;
        self.reads_mark = now;
    }

    /// Gives the buffers back while the connection is idle: an empty input buffer entirely (the next read
    /// goes into the thread's), one holding part of a command down to that part, as Redis's cron does.
    fn trim(&mut self, info: &ClientInfo) {
        self.trimmed = true;
        if self.input.is_empty() {
            self.input = BytesMut::new();
        } else if self.input.capacity() > self.input.len() {
            self.input = BytesMut::from(&self.input[..]);
        }
        if self.out.is_empty() {
            self.out.release();
        }
        self.publish_buffers(info);
    }

    /// What CLIENT LIST shows of the buffers (`qbuf`, `qbuf-free`, `rbs`), and what the database counts of
    /// them for `maxmemory`.
    fn publish_buffers(&mut self, info: &ClientInfo) {
        info.query_buffer.store(self.input.len(), Ordering::Relaxed);
        info.query_buffer_free.store(self.input.capacity() - self.input.len(), Ordering::Relaxed);
        info.reply_buffer.store(self.out.capacity(), Ordering::Relaxed);
        let now = (self.input.capacity() + self.out.capacity()) as u64;
        self.tenant.count_client_buffers(std::mem::replace(&mut self.counted_buffers, now), now);
    }

    /// Takes the connection's buffers out of what its database counts (it leaves, or becomes a replica's feed).
    fn uncount_buffers(&mut self) {
        self.tenant.count_client_buffers(std::mem::take(&mut self.counted_buffers), 0);
    }

    /// Input arrived after a trim: the output buffer grows to its starting size again (the input is the
    /// thread's, or holds what the read took).
    fn untrim(&mut self, info: &ClientInfo) {
        self.trimmed = false;
        info.set_flag(flag::TRIMMED, false);
        if self.out.capacity() < IDLE_BUFFER {
            self.out.reserve(IDLE_BUFFER);
        }
    }

    /// Parses and runs every complete command in the input: the connection's own buffer, or what a read left
    /// in the thread's (`shared`, when the connection had nothing pending), whose unfinished command, if
    /// any, moves to the connection's own buffer.
    fn process_input(&mut self, shared: Option<SharedInput>) -> Processed {
        if let Some(tenant) = self.switch_to.take() {
            self.switch_tenant(tenant);
        }
        let mut batch = Batch::new(&self.server, &self.tenant);
        let max_bulk = batch.env.settings.max_bulk_len;
        let buf = match &shared {
            Some(shared) => shared.bytes(),
            None => &self.input[..],
        };
        // The commands up to `looked_to` had their keys prefetched (lookahead::prefetch_keys).
        let mut looking = self.session.authenticated && self.lookahead_pause == 0;
        self.lookahead_pause = self.lookahead_pause.saturating_sub(1);
        let mut looked_to = 0;
        let mut pos = 0;
        let mut next = Next::Read;
        let mut args: Vec<&[u8]> = Vec::new();
        let mut replies = 0;
        loop {
            if looking && pos >= looked_to {
                let db = self.session.db;
                let ahead = lookahead::prefetch_keys(&mut self.lookahead, &mut batch, db, buf, pos, max_bulk);
                looked_to = pos + ahead.bytes;
                looking = ahead.go_on;
                if !ahead.worth {
                    self.lookahead_pause = lookahead::PREFETCH_PAUSE;
                }
            }
            let authenticated = self.session.authenticated;
            let request = (&mut self.parser, &mut self.lookahead, authenticated);
            let parsed = match lookahead::next_request(request, buf, pos, max_bulk, &mut args) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => break,
                Err(error) => {
                    self.out.error(&error.0);
                    tracing::debug!(client = self.session.id(), error = %error.0, "protocol error");
                    next = Next::Close;
                    break;
                }
            };
            // The arguments of an inline command are owned (quotes were resolved).
            let inline: Vec<&[u8]>;
            let command: &[&[u8]] = match &parsed {
                Parsed::Empty { consumed } => {
                    pos += consumed;
                    continue;
                }
                Parsed::Command { .. } => &args,
                Parsed::Inline { args: owned, .. } => {
                    inline = owned.iter().map(Vec::as_slice).collect();
                    &inline
                }
            };
            let consumed = parsed.consumed();
            pos += consumed;
            // CLIENT LIST during the command shows the query buffer still holding it, as Redis's does.
            self.session.info.query_buffer.store(buf.len() - pos + consumed, Ordering::Relaxed);
            let before = self.out.len();
            batch.run(&mut self.session, command, &mut self.out);
            replies += (self.out.len() > before) as usize;
            if let Some(Action::Paused) = self.session.action {
                // The command stays in the input, to run when the pause ends.
                self.session.action = None;
                pos -= consumed;
                next = Next::Paused;
                break;
            }
            if let Some(action) = self.session.action.take() {
                if let Some(stop) =
                    actions::act(&self.server, &mut self.session, &mut self.switch_to, &mut batch, action, command)
                {
                    next = stop;
                    break;
                }
            }
            if let Some((messages, queued)) = self.session.new_feed.take() {
                self.feed = Some(PushFeed { messages, queued });
            }
            if self.out.len() >= FLUSH_AT {
                next = Next::Continue;
                break;
            }
        }
        let now_ms = batch.now_ms();
        let durability = batch.finish();
        drop(args);
        self.lookahead.forget();
        match shared {
            Some(shared) => self.keep_unfinished(&shared.bytes()[pos..]),
            None => self.consume_input(pos),
        }
        Processed { next, now_ms, durability, replies }
    }

    /// A read into the thread's buffer ended inside a command: its start moves to a buffer of the
    /// connection's own, sized as the thread's.
    fn keep_unfinished(&mut self, unfinished: &[u8]) {
        if !unfinished.is_empty() {
            self.input.reserve(unfinished.len().max(SHARED_INPUT_BYTES));
            self.input.extend_from_slice(unfinished);
        }
    }

    /// Drops the first `pos` bytes of the connection's own buffer, which the batch ran.
    fn consume_input(&mut self, pos: usize) {
        // A buffer that grew for a large request is given back once a batch takes less than half of it, as
        // the reply buffer is: what a connection keeps follows its recent traffic, not its peak. (Its
        // capacity is counted before `advance`, which moves its start.)
        let held = self.input.capacity();
        self.input.advance(pos);
        if self.input.is_empty() {
            if held > KEPT_CAPACITY && held > 2 * pos {
                self.input = BytesMut::with_capacity(IDLE_BUFFER);
            } else {
                // Empty: the next read may use the whole buffer again (no copy: nothing is left in it).
                self.input.reserve(held);
            }
        }
    }

    /// Unregisters a waiter whose wait ended unserved and returns the timeout reply, counting the command as
    /// one call in its statistics, as one served is (Redis's updateStatsOnUnblock); None when a writer (or
    /// CLIENT UNBLOCK) already completed the wait, whose reply is then waiting in the channel.
    fn unblock_timed_out(&mut self) -> Option<Vec<u8>> {
        let mut ks = self.tenant.lock();
        let waiter = ks.blocking.remove(self.session.id())?;
        waiter.count_unserved(&self.server.commands, &mut ks.stats.commands, false);
        Some(Waiter::timeout_reply(self.session.resp))
    }

    /// Goes on serving on the runtime of `home`, where `stream`'s socket (out of this runtime's I/O driver)
    /// joins that runtime's.
    fn move_home<S: Stream>(
        self,
        mut stream: S,
        info: Arc<ClientInfo>,
        shutdown: tokio::sync::watch::Receiver<bool>,
        next: Next,
        place: Place,
        home: usize,
    ) -> Moved {
        let runtime = place.homes.runtime(home).clone();
        let moving = async move {
            if stream.socket().plug().is_err() {
                self.close(&info);
                return Moved(None);
            }
            info.io_thread.store(home, Ordering::Relaxed);
            run(self, stream, info, shutdown, next, Place { here: home, ..place }).await
        };
        Moved(Some(runtime.spawn(moving)))
    }

    fn close(mut self, info: &ClientInfo) {
        if self.server.is_loading() {
            // Nothing this client did while loading touched the data (every command was refused).
            self.uncount_buffers();
            self.tenant.release_connection();
            self.server.clients.unregister(info.id);
            return;
        }
        self.leave_tenant();
        if let Some(pending) = self.switch_to.take() {
            pending.release_connection();
        }
        self.server.clients.unregister(info.id);
    }

    /// Gives up everything the connection holds in its database (watches, waits, monitor, subscriptions,
    /// tracking) and its place in the connection count.
    fn leave_tenant(&mut self) {
        let info = self.session.info.clone();
        // Only what the client holds in its database needs the database's lock (a client that merely logs
        // in elsewhere must not wait for a script running here).
        if std::mem::take(&mut self.session.watching) {
            let mut ks = self.tenant.lock();
            let ks = &mut *ks;
            ks.watches.unwatch_all(&mut ks.dbs, info.id);
        }
        if info.has_flag(flag::BLOCKED) {
            self.tenant.lock().blocking.remove(info.id);
        }
        if info.has_flag(flag::MONITOR) {
            self.tenant.lock().monitors.retain(|m| m.client.id != info.id);
            info.set_flag(flag::MONITOR, false);
        }
        if !self.session.subscriptions.is_empty() {
            self.tenant.lock().pubsub.remove_client(info.id, &self.session.subscriptions);
        }
        if info.has_flag(flag::TRACKING) {
            keel_engine::exec::commands::stop_tracking(&mut self.tenant.lock(), info.id);
        }
        self.uncount_buffers();
        self.tenant.forget_pushed(info.output_memory.load(Ordering::Relaxed) as u64);
        self.tenant.release_connection();
    }

    /// Moves the connection to `tenant` (already counted in), as a fresh client of it.
    fn switch_tenant(&mut self, tenant: Arc<Tenant>) {
        self.leave_tenant();
        self.session.subscriptions = Default::default();
        self.session.transaction = None;
        self.session.db = 0;
        self.session.info.set_tenant(&tenant.name);
        self.tenant = tenant;
    }
}

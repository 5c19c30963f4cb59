//! Which thread serves a database's RESP connections. On a machine of several cores Keel runs one
//! single-worker runtime per core (the first also runs the listeners and the background tasks), and
//! each database has a home among them: a connection is accepted on the first and moves to its database's
//! home once it has logged in. Every client of one database then runs on one thread, so the database's
//! lock is never contended and its data stays in one core's caches, while the databases spread over the
//! cores. (With every client on any worker, two workers serving one database's clients fought over its
//! lock: one database under load lost a fifth of its throughput to the second worker, and two databases
//! gained nothing from it.)
//!
//! A database's home is given the first time one of its connections moves: the next runtime in turn, the
//! `default` database's being the first. The connection's socket leaves one runtime's I/O driver and joins
//! the other's; a TLS session's state moves with the stream around it. HTTP connections have no home (a
//! REST request names its database in its token): they are served on the runtimes in turn.

use keel_engine::state::tenant::Tenant;
use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::runtime::Handle;

thread_local! {
    /// The runtime this thread works for (set as each runtime's threads start).
    static RUNTIME: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The index of the runtime the calling thread works for: 0 for the first (and for threads of none).
pub(crate) fn current() -> usize {
    RUNTIME.with(std::cell::Cell::get)
}

/// The runtimes connections run on: index 0 is the one that accepts them.
pub struct Homes {
    runtimes: Vec<Handle>,
    /// Each database's home, by name, as given so far, and the next to give.
    given: parking_lot::Mutex<(HashMap<String, usize>, usize)>,
    /// HTTP connections served so far: the next goes to the next runtime in turn.
    http_served: std::sync::atomic::AtomicUsize,
}

impl Homes {
    /// `runtimes[0]` accepts connections and is the `default` database's home; the others each serve the
    /// databases whose home they become.
    pub fn new(runtimes: Vec<Handle>) -> Homes {
        let given = HashMap::from([("default".to_string(), 0)]);
        Homes { runtimes, given: parking_lot::Mutex::new((given, 1)), http_served: Default::default() }
    }

    /// One single-worker runtime per core (multi-threaded schedulers still: long work leaves its worker with
    /// `block_in_place`), and the homes over them. [`crate::start_on`] runs on the first.
    pub fn one_runtime_per_core(cores: usize) -> std::io::Result<(Vec<tokio::runtime::Runtime>, Homes)> {
        let runtimes = (0..cores.max(1))
            .map(|core| {
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name(if core == 0 { "keel".to_string() } else { format!("keel-home-{core}") })
                    .on_thread_start(move || RUNTIME.with(|runtime| runtime.set(core)))
                    .enable_all()
                    .build()
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let homes = Homes::new(runtimes.iter().map(|r| r.handle().clone()).collect());
        Ok((runtimes, homes))
    }

    /// Only the runtime this is called on: connections never move.
    pub fn here() -> Homes {
        Homes::new(vec![Handle::current()])
    }

    /// The runtime to serve the next HTTP connection on, all of them in turn: None for the accepting one
    /// (the first, where the HTTP listener runs), which serves it where it is.
    pub(crate) fn next_for_http(&self) -> Option<usize> {
        let next = self.http_served.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.runtimes.len();
        (next != 0).then_some(next)
    }

    pub(crate) fn count(&self) -> usize {
        self.runtimes.len()
    }

    /// The home of `tenant`'s connections, given now if it had none.
    pub(crate) fn of(&self, tenant: &Tenant) -> usize {
        let mut given = self.given.lock();
        let (homes, next) = &mut *given;
        if let Some(home) = homes.get(&tenant.name) {
            return *home;
        }
        let home = *next % self.runtimes.len();
        *next += 1;
        homes.insert(tenant.name.clone(), home);
        home
    }

    pub(crate) fn runtime(&self, home: usize) -> &Handle {
        &self.runtimes[home]
    }
}

/// A connection's TCP socket, which can leave one runtime's I/O driver and join another's (plain, or
/// under a TLS session, whose state stays in the stream around it).
pub(crate) enum Socket {
    InDriver(tokio::net::TcpStream),
    /// Between runtimes.
    Out(std::net::TcpStream),
    /// The driver could not let it go: closed.
    Lost,
}

impl Socket {
    /// Takes the socket out of this runtime's driver; false when it is lost.
    pub(crate) fn unplug(&mut self) -> bool {
        match std::mem::replace(self, Socket::Lost) {
            Socket::InDriver(stream) => match stream.into_std() {
                Ok(socket) => {
                    *self = Socket::Out(socket);
                    true
                }
                Err(_) => false,
            },
            other => {
                *self = other;
                false
            }
        }
    }

    /// Puts the socket in the driver of the runtime this is called on (one in a driver already stays).
    pub(crate) fn plug(&mut self) -> std::io::Result<()> {
        match std::mem::replace(self, Socket::Lost) {
            Socket::Out(socket) => *self = Socket::InDriver(tokio::net::TcpStream::from_std(socket)?),
            other => *self = other,
        }
        Ok(())
    }

    /// Polls the stream in this runtime's driver with `poll`; a socket out of the driver is not connected.
    fn poll_in_driver<R>(
        self: Pin<&mut Self>,
        poll: impl FnOnce(Pin<&mut tokio::net::TcpStream>) -> Poll<std::io::Result<R>>,
    ) -> Poll<std::io::Result<R>> {
        match self.get_mut() {
            Socket::InDriver(stream) => poll(Pin::new(stream)),
            _ => Poll::Ready(Err(std::io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.poll_in_driver(|stream| stream.poll_read(cx, buf))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.poll_in_driver(|stream| stream.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        self.poll_in_driver(|stream| stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_in_driver(|stream| stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_in_driver(|stream| stream.poll_shutdown(cx))
    }
}

/// A connection's stream, as it may move to another runtime: its socket.
pub(crate) trait Movable {
    fn socket(&mut self) -> &mut Socket;
}

impl Movable for Socket {
    fn socket(&mut self) -> &mut Socket {
        self
    }
}

impl Movable for tokio_rustls::server::TlsStream<Socket> {
    fn socket(&mut self) -> &mut Socket {
        self.get_mut().0
    }
}

/// Where a connection's task went on: the task serving it on its home, if it moved there.
pub(crate) struct Moved(pub(crate) Option<tokio::task::JoinHandle<Moved>>);

/// Waits while the connection is served elsewhere, so that the task that accepted it stays the listener's
/// to wait for at shutdown; aborting this wait aborts the connection's task wherever it runs.
pub(crate) async fn follow(mut moved: Moved) {
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    while let Some(task) = moved.0.take() {
        let _abort = AbortOnDrop(task.abort_handle());
        moved = task.await.unwrap_or(Moved(None));
    }
}

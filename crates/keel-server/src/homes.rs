//! Which thread serves a database's RESP connections. On a machine of several cores Keel runs one
//! single-worker runtime per core (the first also runs the listeners, HTTP and the background tasks), and
//! each database has a home among them: a connection is accepted on the first and moves to its database's
//! home once it has logged in. Every client of one database then runs on one thread, so the database's
//! lock is never contended and its data stays in one core's caches, while the databases spread over the
//! cores. (With every client on any worker, two workers serving one database's clients fought over its
//! lock: one database under load lost a fifth of its throughput to the second worker, and two databases
//! gained nothing from it.)
//!
//! A database's home is given the first time one of its connections moves: the next runtime in turn, the
//! `default` database's being the first. Plain TCP connections move (the socket leaves one runtime's I/O
//! driver and joins the other's); a TLS connection stays where its handshake ran.

use keel_engine::state::tenant::Tenant;
use std::collections::HashMap;
use tokio::runtime::Handle;

/// The runtimes connections run on: index 0 is the one that accepts them.
pub struct Homes {
    runtimes: Vec<Handle>,
    /// Each database's home, by name, as given so far, and the next to give.
    given: parking_lot::Mutex<(HashMap<String, usize>, usize)>,
}

impl Homes {
    /// `runtimes[0]` accepts connections and is the `default` database's home; the others each serve the
    /// databases whose home they become.
    pub fn new(runtimes: Vec<Handle>) -> Homes {
        let given = HashMap::from([("default".to_string(), 0)]);
        Homes { runtimes, given: parking_lot::Mutex::new((given, 1)) }
    }

    /// Only the runtime this is called on: connections never move.
    pub fn here() -> Homes {
        Homes::new(vec![Handle::current()])
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

/// A connection's stream, as it may move to another runtime.
pub(crate) trait Movable: Sized {
    /// The socket, out of this runtime's I/O driver, or the stream itself when it cannot move.
    fn unplug(self) -> Unplugged<Self>;
    /// The socket, in the I/O driver of the runtime this is called on.
    fn plug(socket: std::net::TcpStream) -> std::io::Result<Self>;
}

/// What unplugging a stream gave.
pub(crate) enum Unplugged<S> {
    Socket(std::net::TcpStream),
    Stays(S),
    /// The driver could not let the socket go: it is closed, and the client reconnects as after any lost
    /// connection.
    Lost,
}

impl Movable for tokio::net::TcpStream {
    fn unplug(self) -> Unplugged<Self> {
        match self.into_std() {
            Ok(socket) => Unplugged::Socket(socket),
            Err(_) => Unplugged::Lost,
        }
    }

    fn plug(socket: std::net::TcpStream) -> std::io::Result<Self> {
        tokio::net::TcpStream::from_std(socket)
    }
}

/// The TLS session's state lives in the stream's user space, beside the socket: it stays where the
/// handshake ran.
impl Movable for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn unplug(self) -> Unplugged<Self> {
        Unplugged::Stays(self)
    }

    fn plug(_: std::net::TcpStream) -> std::io::Result<Self> {
        Err(std::io::Error::other("a TLS connection does not move"))
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

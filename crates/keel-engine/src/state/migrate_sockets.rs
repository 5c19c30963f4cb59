//! The connections MIGRATE keeps open to where it sends keys (Redis's `migrate_cached_sockets`): one per
//! `host:port`, at most [`CACHE_ITEMS`], each closed after [`CACHE_TTL`] unused, with the database it last
//! selected there so that the next MIGRATE to the same database sends no SELECT.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Connections kept at most (Redis's MIGRATE_SOCKET_CACHE_ITEMS).
const CACHE_ITEMS: usize = 64;
/// A connection unused this long is closed (Redis's MIGRATE_SOCKET_CACHE_TTL).
const CACHE_TTL: Duration = Duration::from_secs(10);

/// One kept connection: replies are read through its buffer, commands written to its stream.
pub struct CachedSocket {
    pub conn: BufReader<TcpStream>,
    /// The database selected there last (None: unknown, SELECT next time).
    pub selected: Option<i64>,
    last_use: Instant,
}

#[derive(Default)]
pub struct MigrateSockets {
    sockets: HashMap<String, CachedSocket>,
}

impl MigrateSockets {
    /// The connection to `addr`, opened with `timeout` when there is none (Err: it could not be).
    pub fn get(&mut self, addr: &str, timeout: Duration) -> std::io::Result<&mut CachedSocket> {
        if !self.sockets.contains_key(addr) {
            if self.sockets.len() >= CACHE_ITEMS {
                // Redis drops a random one; any will do.
                if let Some(victim) = self.sockets.keys().next().cloned() {
                    self.sockets.remove(&victim);
                }
            }
            let stream = connect(addr, timeout)?;
            let socket = CachedSocket { conn: BufReader::new(stream), selected: None, last_use: Instant::now() };
            self.sockets.insert(addr.to_string(), socket);
        }
        let socket = self.sockets.get_mut(addr).ok_or(std::io::ErrorKind::NotFound)?;
        socket.last_use = Instant::now();
        socket.conn.get_ref().set_read_timeout(Some(timeout))?;
        socket.conn.get_ref().set_write_timeout(Some(timeout))?;
        Ok(socket)
    }

    /// Closes the connection to `addr` (after an error on it).
    pub fn close(&mut self, addr: &str) {
        self.sockets.remove(addr);
    }

    /// Closes the connections unused for [`CACHE_TTL`] (from the cron).
    pub fn close_idle(&mut self) {
        self.sockets.retain(|_, s| s.last_use.elapsed() <= CACHE_TTL);
    }

    pub fn len(&self) -> usize {
        self.sockets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sockets.is_empty()
    }
}

fn connect(addr: &str, timeout: Duration) -> std::io::Result<TcpStream> {
    use std::net::ToSocketAddrs;
    let mut last = std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
    for resolved in addr.to_socket_addrs()? {
        match TcpStream::connect_timeout(&resolved, timeout) {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

//! What the replication and failover tests share: INFO fields, a write workload of several types, the
//! dataset as comparable text (to tell that two servers hold the same data), and a link that can be cut.

use super::run;

/// The value of `field` in INFO's `section` (empty when absent).
pub fn info_field(con: &mut redis::Connection, section: &str, field: &str) -> String {
    let info: String = run(con, &["INFO", section]);
    info.lines().find_map(|line| line.strip_prefix(&format!("{field}:"))).unwrap_or_default().to_string()
}

/// Writes of several types, with the forms propagation rewrites (relative TTLs, float increments,
/// random pops, a transaction).
pub fn write_workload(con: &mut redis::Connection, tag: &str) {
    run::<()>(con, &["SET", &format!("{tag}:s"), "v"]);
    run::<()>(con, &["SET", &format!("{tag}:ttl"), "v", "EX", "1000"]);
    run::<()>(con, &["RPUSH", &format!("{tag}:l"), "a", "b", "c"]);
    run::<()>(con, &["HSET", &format!("{tag}:h"), "f", "1", "g", "2"]);
    run::<()>(con, &["ZADD", &format!("{tag}:z"), "1", "x", "2", "y"]);
    run::<()>(con, &["SADD", &format!("{tag}:set"), "p", "q", "r"]);
    run::<String>(con, &["INCRBYFLOAT", &format!("{tag}:f"), "1.5"]);
    run::<Option<String>>(con, &["SPOP", &format!("{tag}:set")]);
    run::<()>(con, &["MULTI"]);
    run::<()>(con, &["INCR", &format!("{tag}:n")]);
    run::<()>(con, &["LPOP", &format!("{tag}:l")]);
    run::<()>(con, &["EXEC"]);
}

/// The dataset as comparable text: every key with its type, value and whether it has a TTL.
pub fn dataset(con: &mut redis::Connection) -> Vec<String> {
    let mut keys: Vec<String> = run(con, &["KEYS", "*"]);
    keys.sort();
    keys.into_iter()
        .map(|key| {
            let kind: String = run(con, &["TYPE", &key]);
            let value = match kind.as_str() {
                "string" => run::<String>(con, &["GET", &key]),
                "list" => run::<Vec<String>>(con, &["LRANGE", &key, "0", "-1"]).join(","),
                "hash" => {
                    let mut pairs: Vec<String> = run(con, &["HGETALL", &key]);
                    pairs.sort();
                    pairs.join(",")
                }
                "set" => {
                    let mut members: Vec<String> = run(con, &["SMEMBERS", &key]);
                    members.sort();
                    members.join(",")
                }
                "zset" => run::<Vec<String>>(con, &["ZRANGE", &key, "0", "-1", "WITHSCORES"]).join(","),
                other => other.to_string(),
            };
            let ttl: i64 = run(con, &["TTL", &key]);
            format!("{key} {kind} {value} ttl={}", ttl > 0)
        })
        .collect()
}

pub fn wait_until_in_sync(primary: &mut redis::Connection, replica: &mut redis::Connection) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while dataset(primary) != dataset(replica) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(dataset(primary), dataset(replica));
}

/// A link that can be partitioned: while `cut` is set nothing passes either way (connections stall, new
/// ones wait), as when a network drops packets; nothing is lost or reordered.
pub fn partitionable_proxy(upstream: std::net::SocketAddr, cut: std::sync::Arc<std::sync::atomic::AtomicBool>) -> u16 {
    use std::io::{Read, Write};
    use std::sync::atomic::Ordering;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let pump = |mut from: std::net::TcpStream,
                mut to: std::net::TcpStream,
                cut: std::sync::Arc<std::sync::atomic::AtomicBool>| {
        std::thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                while cut.load(Ordering::Relaxed) {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        while cut.load(Ordering::Relaxed) {
                            std::thread::sleep(std::time::Duration::from_millis(10));
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown(std::net::Shutdown::Both);
        });
    };
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            while cut.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let Ok(server) = std::net::TcpStream::connect(upstream) else { continue };
            pump(client.try_clone().unwrap(), server.try_clone().unwrap(), cut.clone());
            pump(server, client, cut.clone());
        }
    });
    port
}

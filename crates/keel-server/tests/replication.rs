//! Replication over real sockets, both ways with Debian's redis-server and between Keels: a full copy then
//! the stream, a continuation after a broken link, a provisioned database replicated on its own with its
//! password, WAIT, ROLE, INFO replication, and the refusals a replica and a primary answer.

mod common;
use common::replicas::{dataset, info_field, partitionable_proxy, wait_until_in_sync, write_workload};
use common::{error_of, run, wait_for, RealRedis, TestServer};

#[test]
fn redis_server_replicates_keel_and_continues_after_a_broken_link() {
    let keel = TestServer::start();
    let mut primary = keel.client();
    write_workload(&mut primary, "before");
    let port = keel.addr.port().to_string();
    let Some(redis) = RealRedis::start(&["--replicaof", "127.0.0.1", &port, "--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let mut replica = redis.client();
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    write_workload(&mut primary, "after");
    wait_until_in_sync(&mut primary, &mut replica);
    assert_eq!(run::<i64>(&mut primary, &["WAIT", "1", "5000"]), 1);
    assert!(info_field(&mut primary, "replication", "slave0").contains("state=online"));
    assert_eq!(info_field(&mut primary, "stats", "sync_full"), "1");

    // The replica loses its link and continues from its offset: no second copy.
    run::<()>(&mut replica, &["CLIENT", "KILL", "TYPE", "master"]);
    write_workload(&mut primary, "while-away");
    wait_until_in_sync(&mut primary, &mut replica);
    assert_eq!(info_field(&mut primary, "stats", "sync_partial_ok"), "1");
    assert_eq!(info_field(&mut primary, "stats", "sync_full"), "1");
    let offset = info_field(&mut primary, "replication", "master_repl_offset");
    wait_for(|| info_field(&mut replica, "replication", "slave_repl_offset") == offset);
}

#[test]
fn keel_follows_redis_server_read_only_until_promoted() {
    let Some(redis) = RealRedis::start(&["--repl-diskless-sync-delay", "0"]) else { return };
    let mut primary = redis.client();
    run::<()>(&mut primary, &["CONFIG", "SET", "requirepass", "upstream-secret"]);
    write_workload(&mut primary, "before");
    let port = redis.port;
    let keel = TestServer::with(move |s| {
        s.replicaof = format!("127.0.0.1 {port}");
        s.masterauth = "upstream-secret".into();
    });
    let mut replica = keel.client();
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    write_workload(&mut primary, "after");
    wait_until_in_sync(&mut primary, &mut replica);
    assert_eq!(error_of(&mut replica, &["SET", "k", "v"]), "READONLY You can't write against a read only replica.");
    assert!(error_of(&mut replica, &["EVAL", "return redis.call('SET', 'k', 'v')", "0"]).contains("READONLY"));
    let role: redis::Value = run(&mut replica, &["ROLE"]);
    assert!(format!("{role:?}").contains("connected"), "{role:?}");
    assert!(error_of(&mut replica, &["WAIT", "0", "0"]).starts_with("ERR WAIT cannot be used with replica instances"));

    run::<()>(&mut replica, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(info_field(&mut replica, "replication", "role"), "master");
    run::<()>(&mut replica, &["SET", "k", "v"]);
    assert_eq!(run::<String>(&mut replica, &["GET", "before:s"]), "v");
}

#[test]
fn a_keel_replica_continues_after_its_link_breaks_and_after_its_primary_moves() {
    let primary_server = TestServer::with(|s| s.requirepass = "secret".into());
    let url = format!("redis://:secret@{}/", primary_server.addr);
    let mut primary = redis::Client::open(url).unwrap().get_connection().unwrap();
    write_workload(&mut primary, "before");
    let port = primary_server.addr.port();
    let keel = TestServer::with(move |s| {
        s.replicaof = format!("127.0.0.1:{port}");
        s.masterauth = "secret".into();
    });
    let mut replica = keel.client();
    wait_until_in_sync(&mut primary, &mut replica);

    // Drop the replica's connection on the primary, by type as redis-cli's tests do (regression: a replica
    // was of no CLIENT type, so TYPE replica found nothing): it reconnects and continues.
    let replicas: String = run(&mut primary, &["CLIENT", "LIST", "TYPE", "replica"]);
    let listed = replicas.lines().collect::<Vec<_>>();
    assert!(listed.len() == 1 && listed[0].contains("flags=S ") && listed[0].contains("cmd=psync"), "{replicas}");
    let normal: String = run(&mut primary, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert!(!normal.contains("cmd=psync"), "{normal}");
    assert_eq!(run::<i64>(&mut primary, &["CLIENT", "KILL", "TYPE", "slave"]), 1);
    write_workload(&mut primary, "while-away");
    wait_until_in_sync(&mut primary, &mut replica);
    wait_for(|| info_field(&mut primary, "stats", "sync_partial_ok") == "1");
    assert_eq!(info_field(&mut primary, "stats", "sync_full"), "1");

    // Promoted, the replica keeps the old history as its second ID.
    let old_id = info_field(&mut primary, "replication", "master_replid");
    run::<()>(&mut replica, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(info_field(&mut replica, "replication", "master_replid2"), old_id);
}

#[test]
fn a_provisioned_database_is_its_own_stream() {
    let keel = TestServer::with(|s| s.admin_token = "admin-secret".into());
    let db = common::create_database(&keel, "admin-secret", r#"{"name":"tenant-a"}"#);
    let password = db["password"].as_str().unwrap().to_string();
    let mut default = keel.client();
    run::<()>(&mut default, &["SET", "server-secret", "x"]);
    let url = format!("redis://default:{password}@{}/", keel.addr);
    let mut tenant = redis::Client::open(url).unwrap().get_connection().unwrap();
    write_workload(&mut tenant, "tenant");
    assert!(error_of(&mut tenant, &["REPLICAOF", "127.0.0.1", "1"]).contains("not available to a database"));
    let port = keel.addr.port().to_string();
    let Some(redis) = RealRedis::start(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--masterauth",
        &password,
        "--repl-diskless-sync-delay",
        "0",
    ]) else {
        return;
    };
    let mut replica = redis.client();
    wait_until_in_sync(&mut tenant, &mut replica);
    run::<()>(&mut default, &["SET", "server-later", "y"]);
    write_workload(&mut tenant, "later");
    wait_until_in_sync(&mut tenant, &mut replica);
    let keys: Vec<String> = run(&mut replica, &["KEYS", "server-*"]);
    assert!(keys.is_empty(), "the default database's keys reached a tenant's replica: {keys:?}");
    assert_eq!(info_field(&mut default, "replication", "connected_slaves"), "0");
    assert_eq!(info_field(&mut tenant, "replication", "connected_slaves"), "1");
}

#[test]
fn wait_and_min_replicas_answer_as_redis_does() {
    let keel = TestServer::start();
    let mut con = keel.client();
    run::<()>(&mut con, &["SET", "k", "v"]);
    assert_eq!(run::<i64>(&mut con, &["WAIT", "0", "0"]), 0);
    assert_eq!(run::<i64>(&mut con, &["WAIT", "1", "50"]), 0);
    assert_eq!(error_of(&mut con, &["WAIT", "1", "-1"]), "ERR timeout is negative");
    assert_eq!(error_of(&mut con, &["WAIT", "1", "x"]), "ERR timeout is not an integer or out of range");
    assert_eq!(error_of(&mut con, &["WAIT", "x", "0"]), "ERR value is not an integer or out of range");
    assert_eq!(error_of(&mut con, &["REPLICAOF", "localhost", "70000"]), "ERR Invalid master port");
    assert_eq!(error_of(&mut con, &["REPLCONF", "nonsense", "1"]), "ERR Unrecognized REPLCONF option: nonsense");
    run::<()>(&mut con, &["CONFIG", "SET", "min-replicas-to-write", "1"]);
    assert_eq!(error_of(&mut con, &["SET", "k", "v"]), "NOREPLICAS Not enough good replicas to write.");
    assert_eq!(run::<String>(&mut con, &["GET", "k"]), "v");
    run::<()>(&mut con, &["CONFIG", "SET", "min-replicas-to-write", "0"]);
    let role: Vec<redis::Value> = run(&mut con, &["ROLE"]);
    assert_eq!(role.len(), 3);
}

#[test]
fn a_keel_replica_follows_every_database_of_its_primary() {
    let primary_server = TestServer::with(|s| {
        s.admin_token = "admin-secret".into();
        s.requirepass = "server-secret".into();
    });
    let first = common::create_database(&primary_server, "admin-secret", r#"{"name":"first","max_memory":1048576}"#);
    let connect = |server: &TestServer, password: &str| {
        let url = format!("redis://default:{password}@{}/", server.addr);
        redis::Client::open(url).unwrap().get_connection().unwrap()
    };
    let first_password = first["password"].as_str().unwrap().to_string();
    let mut first_primary = connect(&primary_server, &first_password);
    write_workload(&mut first_primary, "first");
    run::<()>(&mut first_primary, &["ACL", "SETUSER", "reader", "on", ">reader-pass", "~*", "+get"]);
    let port = primary_server.addr.port();
    let replica_server = TestServer::with(move |s| {
        s.replicaof = format!("127.0.0.1:{port}");
        s.masterauth = "server-secret".into();
    });
    // The database appears on the replica with the primary's password, data and limits.
    wait_for(|| replica_server.server.tenants.read().contains_key("first"));
    let mut first_replica = connect(&replica_server, &first_password);
    wait_until_in_sync(&mut first_primary, &mut first_replica);
    assert_eq!(info_field(&mut first_replica, "replication", "role"), "slave");
    assert_eq!(info_field(&mut first_replica, "memory", "maxmemory"), "1048576");
    assert!(error_of(&mut first_replica, &["SET", "k", "v"]).starts_with("READONLY"));
    // Its ACL users too.
    let reader_url = format!("redis://reader:reader-pass@{}/", replica_server.addr);
    wait_for(|| redis::Client::open(reader_url.as_str()).unwrap().get_connection().is_ok());
    let mut reader = redis::Client::open(reader_url.as_str()).unwrap().get_connection().unwrap();
    assert_eq!(run::<String>(&mut reader, &["GET", "first:s"]), "v");
    assert!(error_of(&mut reader, &["DBSIZE"]).starts_with("NOPERM"));
    write_workload(&mut first_primary, "later");
    wait_until_in_sync(&mut first_primary, &mut first_replica);

    // Databases provisioned and deleted on the primary are provisioned and deleted on the replica.
    let second = common::create_database(&primary_server, "admin-secret", r#"{"name":"second"}"#);
    let second_password = second["password"].as_str().unwrap().to_string();
    let mut second_primary = connect(&primary_server, &second_password);
    run::<()>(&mut second_primary, &["SET", "in-second", "1"]);
    wait_for(|| replica_server.server.tenants.read().contains_key("second"));
    let mut second_replica = connect(&replica_server, &second_password);
    wait_until_in_sync(&mut second_primary, &mut second_replica);
    let auth = "Authorization: Bearer admin-secret";
    let (status, _) = common::http_with(primary_server.http_addr, "DELETE", "/v1/databases/second", &[auth], b"");
    assert_eq!(status, 200);
    wait_for(|| !replica_server.server.tenants.read().contains_key("second"));

    // Promoting the replica's server promotes its databases.
    let url = format!("redis://:server-secret@{}/", replica_server.addr);
    let mut admin = redis::Client::open(url).unwrap().get_connection().unwrap();
    run::<()>(&mut admin, &["REPLICAOF", "NO", "ONE"]);
    wait_for(|| info_field(&mut first_replica, "replication", "role") == "master");
    run::<()>(&mut first_replica, &["SET", "k", "v"]);
}

#[test]
fn replicas_continue_across_a_graceful_restart_of_either_side() {
    let (primary_dir, replica_dir) = (common::TestDir::new(), common::TestDir::new());
    let start_primary = |port: u16| {
        let dir = primary_dir.0.clone();
        TestServer::with(move |s| {
            s.dir = dir;
            s.port = port;
        })
    };
    let start_replica = |primary_port: u16| {
        let dir = replica_dir.0.clone();
        TestServer::with(move |s| {
            s.dir = dir;
            s.replicaof = format!("127.0.0.1:{primary_port}");
        })
    };
    let primary_server = start_primary(0);
    let port = primary_server.addr.port();
    let mut primary = primary_server.client();
    write_workload(&mut primary, "before");
    let replica_server = start_replica(port);
    wait_until_in_sync(&mut primary, &mut replica_server.client());

    // The replica restarts: it continues from the offset it saved with its data.
    drop(replica_server);
    write_workload(&mut primary, "replica-away");
    let replica_server = start_replica(port);
    wait_until_in_sync(&mut primary, &mut replica_server.client());
    assert_eq!(info_field(&mut primary, "stats", "sync_full"), "1");
    assert_eq!(info_field(&mut primary, "stats", "sync_partial_ok"), "1");

    // The primary restarts on its port: its replica continues from it.
    drop(primary);
    drop(primary_server);
    let primary_server = start_primary(port);
    let mut primary = primary_server.client();
    let mut replica = replica_server.client();
    wait_for(|| info_field(&mut primary, "stats", "sync_partial_ok") == "1");
    assert_eq!(info_field(&mut primary, "stats", "sync_full"), "0");
    write_workload(&mut primary, "after-restart");
    wait_until_in_sync(&mut primary, &mut replica);
}

/// A link that delivers what the primary sends `delay` late (a slow network between two machines).
fn delaying_proxy(upstream: std::net::SocketAddr, delay: std::time::Duration) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(server) = std::net::TcpStream::connect(upstream) else { return };
            let (mut client_in, mut server_out) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || std::io::copy(&mut client_in, &mut server_out));
            let (mut server_in, mut client_out) = (server, client);
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                while let Ok(n) = server_in.read(&mut buf) {
                    if n == 0 || client_out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(delay);
                }
            });
        }
    });
    port
}

/// A REST command: the status, the body and the `upstash-sync-token` of the response.
fn rest(addr: std::net::SocketAddr, token: &str, command: &str, sync: Option<&str>) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let sync = sync.map(|s| format!("Upstash-Sync-Token: {s}\r\n")).unwrap_or_default();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: keel\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n{sync}\
         Content-Length: {}\r\n\r\n{command}",
        command.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
    let token = head
        .lines()
        .find_map(|line| line.to_ascii_lowercase().strip_prefix("upstash-sync-token: ").map(str::to_string))
        .unwrap_or_default();
    (status, body.to_string(), token)
}

#[test]
fn rest_reads_on_a_replica_wait_for_the_writes_their_sync_token_names() {
    let primary_server = TestServer::with(|s| s.rest_token = "rest-secret".into());
    let delay = std::time::Duration::from_millis(300);
    let proxy = delaying_proxy(primary_server.addr, delay);
    let replica_server = TestServer::with(move |s| {
        s.rest_token = "rest-secret".into();
        s.replicaof = format!("127.0.0.1:{proxy}");
    });
    let mut replica = replica_server.client();
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    let (_, _, token) = rest(primary_server.http_addr, "rest-secret", r#"["SET","k","first"]"#, None);
    wait_for(|| run::<Option<String>>(&mut replica, &["GET", "k"]).is_some());

    let (status, _, token) = rest(primary_server.http_addr, "rest-secret", r#"["SET","k","second"]"#, Some(&token));
    assert_eq!(status, 200);
    // Without the token a replica answers what it has (the write is still on its way)...
    let (_, body, _) = rest(replica_server.http_addr, "rest-secret", r#"["GET","k"]"#, None);
    assert_eq!(body, r#"{"result":"first"}"#);
    // ...with it, the read waits for the write; a token of another history is ignored.
    let (_, body, _) = rest(replica_server.http_addr, "rest-secret", r#"["GET","k"]"#, Some(&token));
    assert_eq!(body, r#"{"result":"second"}"#);
    let forged = format!("{}-999999999", "0".repeat(40));
    let (status, _, _) = rest(replica_server.http_addr, "rest-secret", r#"["GET","k"]"#, Some(&forged));
    assert_eq!(status, 200);
    let (status, body, _) = rest(replica_server.http_addr, "rest-secret", r#"["SET","k","x"]"#, None);
    assert_eq!((status, body.as_str()), (400, r#"{"error":"READONLY You can't write against a read only replica."}"#));
}

#[test]
fn a_replica_leaves_expiry_to_its_primary() {
    let primary_server = TestServer::start();
    let mut primary = primary_server.client();
    run::<()>(&mut primary, &["CONFIG", "SET", "active-expire-enabled", "no"]);
    let port = primary_server.addr.port();
    let replica_server = TestServer::with(move |s| s.replicaof = format!("127.0.0.1:{port}"));
    let mut replica = replica_server.client();
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    run::<()>(&mut primary, &["SET", "short", "v", "PX", "100"]);
    run::<()>(&mut primary, &["SET", "kept", "v"]);
    wait_for(|| run::<i64>(&mut replica, &["DBSIZE"]) == 2);
    std::thread::sleep(std::time::Duration::from_millis(150));
    // Past its TTL the key reads as missing on the replica, which does not delete it...
    assert_eq!(run::<Option<String>>(&mut replica, &["GET", "short"]), None);
    assert_eq!(run::<i64>(&mut replica, &["EXISTS", "short"]), 0);
    assert_eq!(run::<i64>(&mut replica, &["DBSIZE"]), 2);
    // ...until the primary expires it and its DEL arrives.
    assert_eq!(run::<Option<String>>(&mut primary, &["GET", "short"]), None);
    wait_for(|| run::<i64>(&mut replica, &["DBSIZE"]) == 1);
}

/// Writes from another thread until `stop` is set: counters, lists and hashes over a few hundred keys.
fn write_until(url: String, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let mut n = 0u64;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let key = n % 300;
            let mut pipe = redis::pipe();
            pipe.cmd("INCR").arg(format!("counter:{key}")).ignore();
            pipe.cmd("RPUSH").arg(format!("list:{}", key % 50)).arg(n).ignore();
            pipe.cmd("HSET").arg(format!("hash:{}", key % 20)).arg(key).arg(n).ignore();
            pipe.cmd("SET").arg(format!("ttl:{key}")).arg(n).arg("EX").arg(1000).ignore();
            pipe.query::<()>(&mut con).unwrap();
            n += 1;
        }
        n
    })
}

#[test]
fn replicas_that_attach_and_reconnect_under_writes_end_with_the_same_data() {
    let primary_server = TestServer::start();
    let mut primary = primary_server.client();
    write_workload(&mut primary, "before");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = write_until(primary_server.url(), stop.clone());
    std::thread::sleep(std::time::Duration::from_millis(200));
    let port = primary_server.addr.port();
    let keel = TestServer::with(move |s| s.replicaof = format!("127.0.0.1:{port}"));
    let mut keel_replica = keel.client();
    let redis = RealRedis::start(&["--replicaof", "127.0.0.1", &port.to_string(), "--repl-diskless-sync-delay", "0"]);
    wait_for(|| info_field(&mut keel_replica, "replication", "master_link_status") == "up");
    std::thread::sleep(std::time::Duration::from_millis(300));
    // Break the Keel replica's link while writes go on: it continues from the backlog.
    run::<()>(&mut primary, &["CONFIG", "SET", "repl-backlog-size", "64mb"]);
    let clients: String = run(&mut primary, &["CLIENT", "LIST"]);
    for id in clients
        .lines()
        .filter(|l| l.contains("cmd=psync"))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("id=")))
    {
        run::<()>(&mut primary, &["CLIENT", "KILL", "ID", id]);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(writer.join().unwrap() > 100, "the writer wrote too little to test anything");
    let offset = info_field(&mut primary, "replication", "master_repl_offset");
    wait_for(|| info_field(&mut keel_replica, "replication", "slave_repl_offset") == offset);
    assert_eq!(dataset(&mut primary), dataset(&mut keel_replica));
    if let Some(redis) = redis {
        let mut redis_replica = redis.client();
        wait_for(|| info_field(&mut redis_replica, "replication", "slave_repl_offset") == offset);
        assert_eq!(dataset(&mut primary), dataset(&mut redis_replica));
    }
    assert!(info_field(&mut primary, "stats", "sync_partial_ok").parse::<u64>().unwrap() >= 1);
}

/// A primary that answers the handshake and then sends a broken copy: cut off mid-transfer on the first
/// connection, whole but corrupt on the next ones. Returns its port and how many copies it sent.
fn broken_primary() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let copies = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sent = copies.clone();
    std::thread::spawn(move || {
        for socket in listener.incoming() {
            let Ok(mut socket) = socket else { return };
            let copies = sent.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = socket.read(&mut buf) {
                    if n == 0 {
                        return;
                    }
                    let request = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                    if request.contains("keel-databases") {
                        let _ = socket.write_all(b"-ERR Unrecognized REPLCONF option: keel-databases\r\n");
                    } else if request.contains("psync") {
                        let rdb = b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xfb\x01\x00\x00\x01k\x01v\xff";
                        let first = copies.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0;
                        let mut reply =
                            format!("+FULLRESYNC {} 0\r\n${}\r\n", "a".repeat(40), rdb.len() + 8).into_bytes();
                        reply.extend_from_slice(if first { &rdb[..10] } else { &rdb[..] });
                        if !first {
                            reply.extend_from_slice(b"BADCRC!!");
                        }
                        let _ = socket.write_all(&reply);
                        return;
                    } else {
                        let _ = socket.write_all(b"+OK\r\n");
                    }
                }
            });
        }
    });
    (port, copies)
}

#[test]
fn a_copy_cut_off_or_corrupt_leaves_the_replica_as_it_was() {
    let keel = TestServer::start();
    let mut con = keel.client();
    write_workload(&mut con, "mine");
    let before = dataset(&mut con);
    let (port, copies) = broken_primary();
    run::<()>(&mut con, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    wait_for(|| copies.load(std::sync::atomic::Ordering::Relaxed) >= 3);
    assert_eq!(dataset(&mut con), before, "a broken copy changed the replica's data");
    assert_eq!(info_field(&mut con, "replication", "master_link_status"), "down");
    let leftovers: Vec<_> = std::fs::read_dir(&keel.server.settings.read().dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("temp-replica"))
        .collect();
    assert!(leftovers.is_empty(), "a broken copy left {leftovers:?}");
    run::<()>(&mut con, &["REPLICAOF", "NO", "ONE"]);
}

#[test]
fn readiness_and_metrics_tell_a_replicas_link() {
    let primary_server = TestServer::with(|s| s.admin_token = "admin-secret".into());
    let port = primary_server.addr.port();
    let replica_server = TestServer::with(move |s| {
        s.admin_token = "admin-secret".into();
        s.replicaof = format!("127.0.0.1:{port}");
    });
    let mut replica = replica_server.client();
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    let (status, body) = common::http(replica_server.http_addr, "GET", "/health/ready");
    assert_eq!(status, 200, "{body}");
    let ready: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["components"]["replication"]["link"], "ok", "{body}");
    assert!(!body.contains(&port.to_string()), "readiness names the primary's address: {body}");
    let auth = "Authorization: Bearer admin-secret";
    let (_, metrics) = common::http_with(primary_server.http_addr, "GET", "/metrics", &[auth], b"");
    assert!(metrics.contains("keel_database_connected_replicas{database=\"default\"} 1"), "{metrics}");
    let (_, metrics) = common::http_with(replica_server.http_addr, "GET", "/metrics", &[auth], b"");
    assert!(metrics.contains("keel_database_replica{database=\"default\"} 1"));
    assert!(metrics.contains("keel_database_replication_link_up{database=\"default\"} 1"));

    // The primary goes away: the link is reported down, and readiness fails after repl-timeout.
    run::<()>(&mut replica, &["CONFIG", "SET", "repl-timeout", "1"]);
    drop(primary_server);
    wait_for(|| {
        let (status, body) = common::http(replica_server.http_addr, "GET", "/health/ready");
        status == 503 && body.contains("down (since")
    });
}

#[test]
fn a_partition_ends_in_a_continuation_not_a_different_dataset() {
    let primary_server = TestServer::with(|s| {
        s.repl_timeout = 2;
        s.repl_ping_replica_period = 1;
    });
    let mut primary = primary_server.client();
    write_workload(&mut primary, "before");
    let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let proxy = partitionable_proxy(primary_server.addr, cut.clone());
    let replica_server = TestServer::with(move |s| {
        s.repl_timeout = 2;
        s.replicaof = format!("127.0.0.1:{proxy}");
    });
    let mut replica = replica_server.client();
    wait_until_in_sync(&mut primary, &mut replica);

    cut.store(true, std::sync::atomic::Ordering::Relaxed);
    write_workload(&mut primary, "during");
    // Both sides give up on the silent link.
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "down");
    wait_for(|| info_field(&mut primary, "replication", "connected_slaves") == "0");
    write_workload(&mut primary, "still-during");
    cut.store(false, std::sync::atomic::Ordering::Relaxed);
    wait_until_in_sync(&mut primary, &mut replica);
    let offset = info_field(&mut primary, "replication", "master_repl_offset");
    wait_for(|| info_field(&mut replica, "replication", "slave_repl_offset") == offset);
    assert_eq!(info_field(&mut primary, "stats", "sync_full"), "1");
    assert!(info_field(&mut primary, "stats", "sync_partial_ok").parse::<u64>().unwrap() >= 1);
}

#[test]
fn a_replica_does_not_evict_what_its_primary_keeps() {
    let primary_server = TestServer::start();
    let mut primary = primary_server.client();
    let port = primary_server.addr.port();
    let replica_server = TestServer::with(move |s| {
        s.replicaof = format!("127.0.0.1:{port}");
        s.maxmemory = 1 << 20;
        s.maxmemory_policy = "allkeys-lru".into();
    });
    let mut replica = replica_server.client();
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    let value = "x".repeat(1000);
    for i in 0..3000 {
        run::<()>(&mut primary, &["SET", &format!("big:{i}"), &value]);
    }
    let offset = info_field(&mut primary, "replication", "master_repl_offset");
    wait_for(|| info_field(&mut replica, "replication", "slave_repl_offset") == offset);
    assert_eq!(run::<i64>(&mut replica, &["DBSIZE"]), 3000);
    assert_eq!(info_field(&mut replica, "stats", "evicted_keys"), "0");
}

#[test]
fn a_publish_on_the_primary_reaches_subscribers_of_its_replicas_and_not_its_log() {
    let primary_server = TestServer::start();
    let mut primary = primary_server.client();
    let port = primary_server.addr.port();
    let replica_server = TestServer::with(move |s| s.replicaof = format!("127.0.0.1:{port}"));
    let mut replica = replica_server.client();
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    let mut subscriber = replica_server.client();
    subscriber.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("news").unwrap();
    run::<i64>(&mut primary, &["PUBLISH", "news", "hello replicas"]);
    let message = pubsub.get_message().unwrap();
    assert_eq!(message.get_payload::<String>().unwrap(), "hello replicas");
    drop(pubsub);
    // The primary's log has the stream's writes but not the publish.
    run::<()>(&mut primary, &["SET", "after", "1"]);
    let dir = primary_server.server.settings.read().dir.clone();
    wait_for(|| {
        let text = common::incremental_log_text(&dir);
        text.contains("AFTER") && !text.contains("HELLO REPLICAS")
    });
}

#[test]
fn a_sync_reader_that_never_acknowledges_keeps_its_stream() {
    let keel = TestServer::start();
    let mut con = keel.client();
    run::<()>(&mut con, &["CONFIG", "SET", "repl-timeout", "1"]);
    let mut raw = keel.raw();
    raw.send(b"SYNC\r\n");
    // The copy comes with its length (the old protocol), then the stream.
    let mut header = Vec::new();
    while !header.ends_with(b"\r\n") {
        header.extend(raw.read_exact_len(1));
    }
    let length: usize = String::from_utf8_lossy(&header[1..header.len() - 2]).parse().unwrap();
    raw.read_exact_len(length);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    run::<()>(&mut con, &["SET", "late", "1"]);
    let expected = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$4\r\nlate\r\n$1\r\n1\r\n";
    assert_eq!(raw.read_exact_len(expected.len()), expected.to_vec());
}

/// `repl-diskless-sync-delay` holds a copy in the `$EOF:` form back, with a newline keeping the link alive
/// meanwhile (Redis's keep-alive), until the delay passes or `repl-diskless-sync-max-replicas` wait; a copy
/// sent with its length (SYNC) starts at once.
#[test]
fn a_diskless_copy_waits_for_the_sync_delay() {
    let keel = TestServer::start();
    let mut con = keel.client();
    let first_byte_of_psync = || {
        let mut raw = keel.raw();
        raw.send(b"REPLCONF capa eof capa psync2\r\n");
        assert_eq!(raw.read_exact_len(5), b"+OK\r\n".to_vec());
        raw.send(b"PSYNC ? -1\r\n");
        raw.read_exact_len(1)[0]
    };
    assert_eq!(first_byte_of_psync(), b'+', "Keel's default delay is 0");
    run::<()>(&mut con, &["CONFIG", "SET", "repl-diskless-sync-delay", "2"]);
    assert_eq!(first_byte_of_psync(), b'\n', "the keep-alive comes before +FULLRESYNC");
    assert_eq!(info_field(&mut con, "replication", "connected_slaves"), "1");
    let slave0 = info_field(&mut con, "replication", "slave0");
    assert!(slave0.contains("state=wait_bgsave"), "{slave0}");
    let mut raw = keel.raw();
    raw.send(b"SYNC\r\n");
    assert_eq!(raw.read_exact_len(1), b"$".to_vec(), "SYNC reads the copy with its length, at once");
    run::<()>(&mut con, &["CONFIG", "SET", "repl-diskless-sync-max-replicas", "1"]);
    assert_eq!(first_byte_of_psync(), b'+', "enough replicas are waiting");
}

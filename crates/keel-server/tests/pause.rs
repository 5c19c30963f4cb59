//! CLIENT PAUSE and UNPAUSE over real sockets: what WRITE and ALL hold back and what they let through,
//! scripts by their flags, EXEC by what it queued, expiry held while paused, the timeout, REST requests
//! waiting like RESP clients, and a pause that stays inside the database that asked for it.

mod common;

use common::{error_of, http_with, run, wait_for, TestServer};
use std::thread;
use std::time::{Duration, Instant};

fn blocked_clients(con: &mut redis::Connection) -> i64 {
    let info: String = run(con, &["INFO", "clients"]);
    info.lines().find_map(|l| l.strip_prefix("blocked_clients:")).unwrap().trim().parse().unwrap()
}

/// Runs `args` on a new connection in a thread; the reply (or error text) arrives when it is answered.
fn deferred(server: &TestServer, args: &[&str]) -> thread::JoinHandle<String> {
    let mut con = server.client();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    thread::spawn(move || {
        let mut cmd = redis::cmd(&args[0]);
        args[1..].iter().for_each(|a| {
            cmd.arg(a);
        });
        match cmd.query::<redis::Value>(&mut con) {
            Ok(value) => format!("{value:?}"),
            Err(e) => e.to_string(),
        }
    })
}

#[test]
fn write_pause_holds_writes_and_lets_reads_through() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "k", "v"]);
    run::<()>(&mut con, &["PFADD", "hll", "a"]);
    run::<()>(&mut con, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    // Reads, and scripts that declare no-writes, are answered.
    let mut reader = server.client();
    assert_eq!(run::<String>(&mut reader, &["GET", "k"]), "v");
    assert_eq!(run::<i64>(&mut reader, &["EVAL", "#!lua flags=no-writes\nreturn 7", "0"]), 7);
    assert_eq!(run::<String>(&mut reader, &["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "k"]), "v");
    // Malformed commands get their error at once.
    assert_eq!(error_of(&mut reader, &["SET", "k"]), "ERR wrong number of arguments for 'set' command");
    // Writes, PUBLISH, PFCOUNT and scripts without no-writes wait, counted as blocked clients.
    let waiting = [
        deferred(&server, &["SET", "k", "w"]),
        deferred(&server, &["PUBLISH", "ch", "m"]),
        deferred(&server, &["PFCOUNT", "hll"]),
        deferred(&server, &["EVAL", "return 1", "0"]),
    ];
    wait_for(|| blocked_clients(&mut con) == 4);
    assert_eq!(run::<String>(&mut con, &["GET", "k"]), "v", "the write has not run");
    run::<()>(&mut con, &["CLIENT", "UNPAUSE"]);
    let replies: Vec<String> = waiting.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(replies, ["ok", "int(0)", "int(1)", "int(1)"]);
    assert_eq!(run::<String>(&mut con, &["GET", "k"]), "w");
    assert_eq!(blocked_clients(&mut con), 0);
}

#[test]
fn exec_waits_only_when_it_queued_a_write_and_a_pause_starts_after_the_transaction() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "k", "v"]);
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("SET").arg("a").arg("1").cmd("CLIENT").arg("PAUSE").arg("60000").arg("WRITE");
    pipe.cmd("SET").arg("b").arg("2");
    pipe.query::<()>(&mut con).unwrap();
    assert_eq!(run::<Vec<String>>(&mut con, &["MGET", "a", "b"]), ["1", "2"], "the whole transaction ran");
    // A read-only transaction runs; one that writes waits.
    let mut reads = redis::pipe();
    reads.atomic().cmd("GET").arg("k").cmd("PING");
    assert_eq!(reads.query::<(String, String)>(&mut server.client()).unwrap(), ("v".into(), "PONG".into()));
    let mut writer = server.client();
    let handle = thread::spawn(move || {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("INCR").arg("n");
        pipe.query::<(i64,)>(&mut writer).unwrap()
    });
    wait_for(|| blocked_clients(&mut con) == 1);
    run::<()>(&mut con, &["CLIENT", "UNPAUSE"]);
    assert_eq!(handle.join().unwrap(), (1,));
}

#[test]
fn all_holds_everything_until_the_timeout_and_expiry_waits_too() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["SET", "soon", "v", "PX", "50"]);
    let expired_before = expired_keys(&mut con);
    run::<()>(&mut con, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    thread::sleep(Duration::from_millis(300));
    // Past its TTL the key reads as missing, but nothing deleted it.
    assert_eq!(run::<Option<String>>(&mut con, &["GET", "soon"]), None);
    assert_eq!(expired_keys(&mut con), expired_before);
    run::<()>(&mut con, &["CLIENT", "UNPAUSE"]);
    assert_eq!(run::<Option<String>>(&mut con, &["GET", "soon"]), None);
    assert_eq!(expired_keys(&mut con), expired_before + 1);
    // ALL holds reads too, until the timeout ends the pause by itself.
    let started = Instant::now();
    run::<()>(&mut con, &["CLIENT", "PAUSE", "400", "ALL"]);
    assert_eq!(run::<String>(&mut server.client(), &["PING"]), "PONG");
    assert!(started.elapsed() >= Duration::from_millis(400), "the PING waited for the timeout");
    assert_eq!(error_of(&mut con, &["CLIENT", "PAUSE", "x"]), "ERR timeout is not an integer or out of range");
    assert_eq!(error_of(&mut con, &["CLIENT", "PAUSE", "-1"]), "ERR timeout is negative");
    assert_eq!(error_of(&mut con, &["CLIENT", "PAUSE", "1", "SOME"]), "ERR CLIENT PAUSE mode must be WRITE or ALL");
}

fn expired_keys(con: &mut redis::Connection) -> i64 {
    let info: String = run(con, &["INFO", "stats"]);
    info.lines().find_map(|l| l.strip_prefix("expired_keys:")).unwrap().trim().parse().unwrap()
}

#[test]
fn a_pause_holds_rest_requests_and_stays_inside_its_database() {
    let server = TestServer::with(|s| {
        s.admin_token = "admin-secret".into();
        s.rest_token = "rest-token".into();
    });
    let mut con = server.client();
    let other = common::create_database(&server, "admin-secret", r#"{"name": "other"}"#);
    run::<()>(&mut con, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    // Another database writes as usual.
    let url = format!("redis://default:{}@{}/", other["password"].as_str().unwrap(), server.addr);
    let mut elsewhere = redis::Client::open(url).unwrap().get_connection().unwrap();
    run::<()>(&mut elsewhere, &["SET", "k", "v"]);
    // A REST write to the paused database waits for the pause like a RESP client.
    let http = server.http_addr;
    let rest = thread::spawn(move || {
        http_with(http, "POST", "/", &["Authorization: Bearer rest-token"], br#"["SET", "r", "1"]"#)
    });
    thread::sleep(Duration::from_millis(200));
    assert_eq!(run::<Option<String>>(&mut con, &["GET", "r"]), None, "the REST write waits");
    run::<()>(&mut con, &["CLIENT", "UNPAUSE"]);
    let (status, body) = rest.join().unwrap();
    assert_eq!((status, body.as_str()), (200, r#"{"result":"OK"}"#));
    assert_eq!(run::<String>(&mut con, &["GET", "r"]), "1");
}

/// RANDOMKEY while a pause holds expiry: an expired key is neither deleted nor lost from view for good (after
/// 100 draws RANDOMKEY answers with it, as Redis does, rather than loop); once the pause ends, the key is
/// expired as any read would, its deletion logged.
#[test]
fn randomkey_during_a_pause_leaves_expired_keys_in_place() {
    let dir = common::TestDir::new();
    {
        let server = TestServer::on_dir(&dir.0, |s| s.save = String::new());
        let mut con = server.client();
        run::<()>(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        run::<()>(&mut con, &["SET", "key", "value", "PX", "3"]);
        run::<()>(&mut con, &["CLIENT", "PAUSE", "10000", "WRITE"]);
        thread::sleep(Duration::from_millis(10));
        assert_eq!(run::<Option<String>>(&mut con, &["RANDOMKEY"]).as_deref(), Some("key"));
        assert_eq!(run::<i64>(&mut con, &["DBSIZE"]), 1);
        run::<()>(&mut con, &["CLIENT", "UNPAUSE"]);
        assert_eq!(run::<Option<String>>(&mut con, &["RANDOMKEY"]), None);
        assert_eq!(run::<i64>(&mut con, &["DBSIZE"]), 0);
    }
    let log = common::incremental_log_text(&dir.0);
    assert!(log.contains("$3\r\nDEL\r\n$3\r\nKEY\r\n"), "{log}");
}

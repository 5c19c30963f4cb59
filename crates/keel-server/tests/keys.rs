//! Generic key commands over real sockets: deletion, renames, copies, TTLs, KEYS/SCAN, OBJECT.

mod common;
use common::{error_of, run, TestServer};
use std::collections::HashSet;

#[test]
fn exists_del_type_touch() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "a", "a", "b", "zz"]), 3);
    assert_eq!(run::<String>(&mut c, &["TYPE", "a"]), "string");
    assert_eq!(run::<String>(&mut c, &["TYPE", "zz"]), "none");
    assert_eq!(run::<i64>(&mut c, &["TOUCH", "a", "zz"]), 1);
    assert_eq!(run::<i64>(&mut c, &["DEL", "a", "b", "zz"]), 2);
    assert_eq!(run::<i64>(&mut c, &["UNLINK", "a"]), 0);
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 0);
}

#[test]
fn rename_copy_move() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(error_of(&mut c, &["RENAME", "nope", "x"]), "ERR no such key");
    run::<String>(&mut c, &["SET", "a", "1", "EX", "100"]);
    assert_eq!(run::<String>(&mut c, &["RENAME", "a", "b"]), "OK");
    assert!(run::<i64>(&mut c, &["TTL", "b"]) > 0, "RENAME keeps the TTL");
    assert_eq!(run::<String>(&mut c, &["RENAME", "b", "b"]), "OK");
    run::<String>(&mut c, &["SET", "c", "3"]);
    assert_eq!(run::<i64>(&mut c, &["RENAMENX", "b", "c"]), 0);
    assert_eq!(run::<i64>(&mut c, &["RENAMENX", "b", "d"]), 1);
    assert_eq!(run::<i64>(&mut c, &["COPY", "d", "c"]), 0);
    assert_eq!(run::<i64>(&mut c, &["COPY", "d", "c", "REPLACE"]), 1);
    assert_eq!(run::<String>(&mut c, &["GET", "c"]), "1");
    assert_eq!(run::<i64>(&mut c, &["COPY", "d", "d2", "DB", "3"]), 1);
    assert_eq!(error_of(&mut c, &["COPY", "d", "d"]), "ERR source and destination objects are the same");
    assert_eq!(error_of(&mut c, &["COPY", "d", "x", "DB", "16"]), "ERR DB index is out of range");
    assert_eq!(run::<i64>(&mut c, &["MOVE", "d", "1"]), 1);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "d"]), 0);
    assert_eq!(error_of(&mut c, &["MOVE", "c", "0"]), "ERR source and destination objects are the same");
    assert_eq!(run::<String>(&mut c, &["SELECT", "1"]), "OK");
    assert_eq!(run::<String>(&mut c, &["GET", "d"]), "1");
    assert!(run::<i64>(&mut c, &["TTL", "d"]) > 0, "MOVE keeps the TTL");
    run::<String>(&mut c, &["SELECT", "3"]);
    assert_eq!(run::<String>(&mut c, &["GET", "d2"]), "1");
}

#[test]
fn expire_options_and_errors() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["SET", "k", "v"]);
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "100", "GT"]), 0, "no TTL counts as infinite for GT");
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "100", "NX"]), 1);
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "50", "GT"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "200", "GT"]), 1);
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "300", "LT"]), 0);
    assert_eq!(run::<i64>(&mut c, &["PEXPIRE", "k", "150000", "LT"]), 1);
    assert_eq!(run::<i64>(&mut c, &["PERSIST", "k"]), 1);
    assert_eq!(run::<i64>(&mut c, &["PERSIST", "k"]), 0);
    assert_eq!(run::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(run::<i64>(&mut c, &["TTL", "nope"]), -2);
    assert_eq!(run::<i64>(&mut c, &["EXPIRETIME", "k"]), -1);
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "nope", "10"]), 0);
    assert_eq!(
        error_of(&mut c, &["EXPIRE", "k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        error_of(&mut c, &["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(error_of(&mut c, &["EXPIRE", "k", "10", "ZZ"]), "ERR Unsupported option ZZ");
    assert_eq!(
        error_of(&mut c, &["EXPIRE", "k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(run::<i64>(&mut c, &["EXPIRE", "k", "-1"]), 1, "a past TTL deletes the key");
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "k"]), 0);
    run::<String>(&mut c, &["SET", "k", "v"]);
    assert_eq!(run::<i64>(&mut c, &["PEXPIREAT", "k", "4102444800000"]), 1);
    assert_eq!(run::<i64>(&mut c, &["PEXPIRETIME", "k"]), 4102444800000);
    assert_eq!(run::<i64>(&mut c, &["EXPIRETIME", "k"]), 4102444800);
}

#[test]
fn expired_keys_vanish_lazily_and_actively() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["SET", "lazy", "v", "PX", "50"]);
    for i in 0..100 {
        run::<String>(&mut c, &["SET", &format!("active:{i}"), "v", "PX", "50"]);
    }
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(run::<Option<String>>(&mut c, &["GET", "lazy"]), None);
    // No reads of the others: the active cycle must reclaim them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while run::<i64>(&mut c, &["DBSIZE"]) > 0 {
        assert!(std::time::Instant::now() < deadline, "active expiry did not reclaim keys");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let info: String = run(&mut c, &["INFO", "stats"]);
    assert!(info.contains("expired_keys:101"), "{info}");
}

#[test]
fn keys_and_glob_patterns() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "h*llo", "1"]);
    let mut got: Vec<String> = run(&mut c, &["KEYS", "h?llo"]);
    got.sort();
    assert_eq!(got, vec!["h*llo", "hallo", "hello", "hxllo"]);
    let mut got: Vec<String> = run(&mut c, &["KEYS", "h[ae]llo"]);
    got.sort();
    assert_eq!(got, vec!["hallo", "hello"]);
    let got: Vec<String> = run(&mut c, &["KEYS", "h[^ae]llo"]);
    assert_eq!(got.len(), 2);
    assert_eq!(run::<Vec<String>>(&mut c, &["KEYS", "h\\*llo"]), vec!["h*llo"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["KEYS", "*"]).len(), 5);
}

fn scan_all(c: &mut redis::Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, batch): (String, Vec<String>) = run(c, &args);
        keys.extend(batch);
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

#[test]
fn scan_options_and_guarantee() {
    let s = TestServer::start();
    let mut c = s.client();
    for i in 0..1000 {
        run::<String>(&mut c, &["SET", &format!("key:{i}"), "v"]);
    }
    run::<String>(&mut c, &["SET", "other", "v"]);
    let all: HashSet<String> = scan_all(&mut c, &["COUNT", "7"]).into_iter().collect();
    assert_eq!(all.len(), 1001);
    assert_eq!(scan_all(&mut c, &["MATCH", "key:1*"]).len(), 111);
    assert_eq!(scan_all(&mut c, &["TYPE", "string", "MATCH", "oth*"]), vec!["other"]);
    assert!(scan_all(&mut c, &["TYPE", "list"]).is_empty());
    assert_eq!(error_of(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(error_of(&mut c, &["SCAN", "0", "COUNT", "0"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["SCAN", "0", "BOGUS", "1"]), "ERR syntax error");

    // Keys present for the whole scan are returned even while the table shrinks and grows.
    let mut d = s.client();
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut step = 0;
    loop {
        let (next, batch): (String, Vec<String>) = run(&mut c, &["SCAN", &cursor, "COUNT", "10"]);
        seen.extend(batch);
        for j in 0..5 {
            run::<i64>(&mut d, &["DEL", &format!("key:{}", 500 + step * 5 + j)]);
            run::<String>(&mut d, &["SET", &format!("new:{step}:{j}"), "v"]);
        }
        step += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in (0..500).chain(500 + step * 5..1000) {
        assert!(seen.contains(&format!("key:{i}")), "SCAN missed key:{i}");
    }
}

#[test]
fn randomkey_object_memory() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<Option<String>>(&mut c, &["RANDOMKEY"]), None);
    run::<String>(&mut c, &["MSET", "a", "1", "b", "hello", "c", &"x".repeat(50)]);
    let key: String = run(&mut c, &["RANDOMKEY"]);
    assert!(["a", "b", "c"].contains(&key.as_str()));
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "a"]), "int");
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "b"]), "embstr");
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "c"]), "raw");
    assert_eq!(run::<Option<String>>(&mut c, &["OBJECT", "ENCODING", "zz"]), None);
    assert!(run::<i64>(&mut c, &["OBJECT", "REFCOUNT", "b"]) >= 1);
    assert_eq!(run::<i64>(&mut c, &["OBJECT", "IDLETIME", "b"]), 0);
    assert!(error_of(&mut c, &["OBJECT", "FREQ", "b"]).starts_with("ERR An LFU maxmemory policy is not selected"));
    run::<String>(&mut c, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    assert!(run::<i64>(&mut c, &["OBJECT", "FREQ", "b"]) >= 0);
    assert!(run::<i64>(&mut c, &["MEMORY", "USAGE", "c"]) > 50);
    assert_eq!(run::<Option<i64>>(&mut c, &["MEMORY", "USAGE", "zz"]), None);
    assert_eq!(error_of(&mut c, &["OBJECT", "NOPE", "x"]), "ERR unknown subcommand 'NOPE'. Try OBJECT HELP.");
}

/// Regression: TTL and EXISTS counted as accesses, so checking on a key kept it from being evicted.
#[test]
fn ttl_and_exists_leave_the_access_record_alone() {
    let s = TestServer::start();
    let mut c = s.client();
    // Under LFU with log factor 0 every access raises the counter, so any touch shows.
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]);
    run::<()>(&mut c, &["CONFIG", "SET", "lfu-log-factor", "0"]);
    run::<()>(&mut c, &["SET", "foo", "bar"]);
    let before: i64 = run(&mut c, &["OBJECT", "FREQ", "foo"]);
    for _ in 0..5 {
        run::<i64>(&mut c, &["TTL", "foo"]);
        run::<i64>(&mut c, &["PTTL", "foo"]);
        run::<i64>(&mut c, &["EXISTS", "foo"]);
        run::<String>(&mut c, &["TYPE", "foo"]);
    }
    assert_eq!(run::<i64>(&mut c, &["OBJECT", "FREQ", "foo"]), before);
    run::<String>(&mut c, &["GET", "foo"]);
    assert!(run::<i64>(&mut c, &["OBJECT", "FREQ", "foo"]) > before);
}

fn memory_field(con: &mut redis::Connection, field: &str) -> i64 {
    let info: String = run(con, &["INFO", "memory"]);
    let prefix = format!("{field}:");
    info.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("{field}")).trim().parse().unwrap()
}

#[test]
fn unlink_frees_large_values_in_the_background_and_small_ones_at_once() {
    let server = TestServer::start();
    let mut con = server.client();
    let members: Vec<String> = (0..100_000).map(|i| format!("m{i}")).collect();
    let _: () = redis::cmd("SADD").arg("big").arg(&members).query(&mut con).unwrap();
    run::<()>(&mut con, &["SET", "small", "v"]);
    assert_eq!(run::<i64>(&mut con, &["UNLINK", "big", "small", "missing"]), 2);
    common::wait_for(|| memory_field(&mut con, "lazyfree_pending_objects") == 0);
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1, "only the large set went to the background");
    // DEL frees in place, unless lazyfree-lazy-user-del asks it to act as UNLINK.
    let _: () = redis::cmd("SADD").arg("big").arg(&members).query(&mut con).unwrap();
    run::<i64>(&mut con, &["DEL", "big"]);
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1);
    run::<()>(&mut con, &["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
    let _: () = redis::cmd("SADD").arg("big").arg(&members).query(&mut con).unwrap();
    run::<i64>(&mut con, &["DEL", "big"]);
    common::wait_for(|| memory_field(&mut con, "lazyfreed_objects") == 2);
    run::<()>(&mut con, &["CONFIG", "RESETSTAT"]);
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 0);
    assert_eq!(run::<i64>(&mut con, &["EXISTS", "big"]), 0);
}

/// FLUSHALL/FLUSHDB ASYNC (and no mode under `lazyfree-lazy-user-flush`) empty the database at once and free
/// its keys in the background, counted as lazy-freed objects one per key, as Redis counts them; SYNC frees
/// them before answering.
#[test]
fn async_flushes_free_the_keys_in_the_background() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["DEBUG", "POPULATE", "1000"]);
    run::<()>(&mut con, &["FLUSHALL", "ASYNC"]);
    assert_eq!(run::<i64>(&mut con, &["DBSIZE"]), 0);
    common::wait_for(|| memory_field(&mut con, "lazyfree_pending_objects") == 0);
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1000);
    run::<()>(&mut con, &["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]);
    run::<()>(&mut con, &["DEBUG", "POPULATE", "10"]);
    run::<()>(&mut con, &["FLUSHDB"]);
    common::wait_for(|| memory_field(&mut con, "lazyfreed_objects") == 1010);
    assert_eq!(common::error_of(&mut con, &["FLUSHALL", "LATER"]), "ERR syntax error");
}

/// A SYNC flush runs as Redis 8 runs it, as a blocking ASYNC: the keys are freed in the background and
/// the caller's reply (and the replies of what it pipelined after) waits until they are, over RESP and
/// REST alike. Inside MULTI, where nothing can wait, the keys are freed in place.
#[test]
fn sync_flushes_free_in_the_background_while_their_caller_waits() {
    let server = TestServer::with(|s| s.rest_token = "secret-token".into());
    let mut con = server.client();
    run::<()>(&mut con, &["DEBUG", "POPULATE", "1000"]);
    run::<()>(&mut con, &["FLUSHALL"]);
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1000, "freed before the reply");
    assert_eq!(memory_field(&mut con, "lazyfree_pending_objects"), 0);

    run::<()>(&mut con, &["SET", "x", "1"]);
    run::<()>(&mut con, &["SET", "y", "2"]);
    let mut raw = server.raw();
    raw.send(b"FLUSHALL SYNC\r\nFLUSHDB\r\nPING\r\n");
    raw.expect(b"+OK\r\n+OK\r\n+PONG\r\n");
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1002);

    run::<()>(&mut con, &["SET", "x", "1"]);
    let (status, body) = common::http_with(
        server.http_addr,
        "POST",
        "/",
        &["Authorization: Bearer secret-token"],
        br#"["FLUSHALL", "SYNC"]"#,
    );
    assert_eq!((status, body.as_str()), (200, r#"{"result":"OK"}"#));
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1003);

    run::<()>(&mut con, &["SET", "x", "1"]);
    let replies: Vec<String> = redis::pipe().atomic().cmd("FLUSHALL").query(&mut con).unwrap();
    assert_eq!(replies, ["OK"]);
    assert_eq!(memory_field(&mut con, "lazyfreed_objects"), 1003, "freed in place inside MULTI");
}

/// CLIENT NO-TOUCH (Redis 7.2): the client's reads leave a key's idle time alone; TOUCH still touches it.
/// CLIENT LIST shows the flag, and how many keys a client watches (Redis 7.4's `watch=`).
#[test]
fn no_touch_clients_leave_idle_times_alone() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["SET", "k", "v"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    run::<()>(&mut c, &["CLIENT", "NO-TOUCH", "ON"]);
    run::<String>(&mut c, &["GET", "k"]);
    assert!(run::<i64>(&mut c, &["OBJECT", "IDLETIME", "k"]) >= 1, "GET did not touch it");
    run::<()>(&mut c, &["WATCH", "k", "other"]);
    let me: String = run(&mut c, &["CLIENT", "INFO"]);
    assert!(me.contains(" flags=T ") && me.contains(" watch=2 ") && me.ends_with("io-thread=0\n"), "{me}");
    run::<i64>(&mut c, &["TOUCH", "k"]);
    assert_eq!(run::<i64>(&mut c, &["OBJECT", "IDLETIME", "k"]), 0);
    assert_eq!(error_of(&mut c, &["CLIENT", "KILL", "MAXAGE", "-1"]), "ERR maxage should be greater than 0");
    assert_eq!(error_of(&mut c, &["CLIENT", "KILL", "MAXAGE", "x"]), "ERR maxage is not an integer or out of range");
}

/// A key MOVE, COPY, SWAPDB or EXEC finds expired in another database is deleted as any expired key is: its
/// DEL reaches the log before the command, so that the log replays to the same data.
#[test]
fn keys_found_expired_in_other_databases_are_logged_before_the_command() {
    let dir = common::TestDir::new();
    let start = || TestServer::on_dir(&dir.0, |s| s.save = String::new());
    {
        let s = start();
        let mut c = s.client();
        run::<()>(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        for (db, key) in [("1", "moved"), ("2", "copied"), ("3", "watched")] {
            run::<()>(&mut c, &["SELECT", db]);
            run::<()>(&mut c, &["SET", key, "old", "PX", "1"]);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        run::<()>(&mut c, &["SELECT", "0"]);
        run::<()>(&mut c, &["SET", "moved", "new"]);
        run::<()>(&mut c, &["SET", "copied", "new"]);
        assert_eq!(run::<i64>(&mut c, &["MOVE", "moved", "1"]), 1);
        assert_eq!(run::<i64>(&mut c, &["COPY", "copied", "copied", "DB", "2"]), 1);
        run::<()>(&mut c, &["SELECT", "3"]);
        run::<()>(&mut c, &["WATCH", "watched"]);
        run::<()>(&mut c, &["SELECT", "0"]);
        let replies: Option<Vec<String>> =
            redis::pipe().atomic().cmd("SET").arg("after").arg("1").query(&mut c).unwrap();
        assert_eq!(replies, None, "the watched key expired: the transaction is discarded");
        run::<()>(&mut c, &["SWAPDB", "0", "4"]);
    }
    let s = start();
    let mut c = s.client();
    run::<()>(&mut c, &["SELECT", "1"]);
    assert_eq!(run::<String>(&mut c, &["GET", "moved"]), "new");
    run::<()>(&mut c, &["SELECT", "2"]);
    assert_eq!(run::<String>(&mut c, &["GET", "copied"]), "new");
    run::<()>(&mut c, &["SELECT", "3"]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "watched"]), 0);
    run::<()>(&mut c, &["SELECT", "4"]);
    assert_eq!(run::<String>(&mut c, &["GET", "copied"]), "new");
}

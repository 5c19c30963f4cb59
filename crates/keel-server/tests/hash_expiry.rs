//! Hash-field expiration (HEXPIRE and its family, HGETEX, HSETEX) over real sockets: the reply codes,
//! lazy and active expiry with their events and INFO count, and TTLs kept by snapshots and the log.

mod common;
use common::{error_of, run, TestDir, TestServer};
use std::time::Duration;

const FAR: &str = "4102444800000";

fn codes(con: &mut redis::Connection, args: &[&str]) -> Vec<i64> {
    run(con, args)
}

#[test]
fn reply_codes_follow_conditions_and_time() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(codes(&mut c, &["HPEXPIREAT", "h", FAR, "FIELDS", "3", "a", "b", "zz"]), [1, 1, -2]);
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "h"]), "listpackex");
    assert_eq!(codes(&mut c, &["HPEXPIREAT", "h", FAR, "NX", "FIELDS", "2", "a", "c"]), [0, 1]);
    assert_eq!(codes(&mut c, &["HPEXPIREAT", "h", "4102444000000", "GT", "FIELDS", "1", "a"]), [0]);
    assert_eq!(codes(&mut c, &["HPEXPIREAT", "h", "4102444000000", "LT", "FIELDS", "1", "a"]), [1]);
    assert_eq!(codes(&mut c, &["HPEXPIRETIME", "h", "FIELDS", "2", "a", "b"]), [4102444000000, 4102444800000]);
    assert_eq!(codes(&mut c, &["HEXPIRETIME", "h", "FIELDS", "1", "b"]), [4102444800]);
    let ttl = codes(&mut c, &["HTTL", "h", "FIELDS", "1", "b"])[0];
    assert!(ttl > 1_000_000_000, "{ttl}");
    assert_eq!(codes(&mut c, &["HPERSIST", "h", "FIELDS", "3", "a", "a", "zz"]), [1, -1, -2]);
    assert_eq!(codes(&mut c, &["HTTL", "h", "FIELDS", "1", "a"]), [-1]);
    // A time not in the future deletes the field, and the last field takes the key.
    assert_eq!(codes(&mut c, &["HEXPIRE", "h", "0", "FIELDS", "2", "a", "b"]), [2, 2]);
    assert_eq!(codes(&mut c, &["HPEXPIREAT", "h", "1", "FIELDS", "1", "c"]), [2]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "h"]), 0);
    assert_eq!(codes(&mut c, &["HEXPIRE", "h", "10", "FIELDS", "1", "a"]), [-2]);
    // HINCRBY keeps a field's TTL, HSET drops it.
    run::<()>(&mut c, &["HSET", "n", "x", "1"]);
    codes(&mut c, &["HPEXPIREAT", "n", FAR, "FIELDS", "1", "x"]);
    run::<i64>(&mut c, &["HINCRBY", "n", "x", "2"]);
    assert_eq!(codes(&mut c, &["HPEXPIRETIME", "n", "FIELDS", "1", "x"]), [4102444800000]);
    run::<()>(&mut c, &["HSET", "n", "x", "1"]);
    assert_eq!(codes(&mut c, &["HPEXPIRETIME", "n", "FIELDS", "1", "x"]), [-1]);
    for (args, error) in [
        (&["HEXPIRE", "n", "10", "FIELDS", "0", "x"][..], "ERR Parameter `numFields` should be greater than 0"),
        (
            &["HEXPIRE", "n", "10", "FIELDS", "2", "x"],
            "ERR The `numfields` parameter must match the number of arguments",
        ),
        (
            &["HEXPIRE", "n", "10", "FIELD", "1", "x"],
            "ERR Mandatory argument FIELDS is missing or not at the right position",
        ),
        (&["HEXPIRE", "n", "-1", "FIELDS", "1", "x"], "ERR invalid expire time, must be >= 0"),
        (&["HEXPIRE", "n", "281474976710655", "FIELDS", "1", "x"], "ERR invalid expire time in 'hexpire' command"),
        (&["HTTL", "n", "FIELDS", "x", "x"], "ERR Number of fields must be a positive integer"),
        (
            &["HSETEX", "n", "FNX", "FXX", "FIELDS", "1", "x", "1"],
            "ERR Only one of FXX or FNX arguments can be specified",
        ),
        (
            &["HSETEX", "n", "EX", "1", "KEEPTTL", "FIELDS", "1", "x", "1"],
            "ERR Only one of EX, PX, EXAT, PXAT or KEEPTTL arguments can be specified",
        ),
        (&["HSETEX", "n", "BOGUS", "FIELDS", "1", "x", "1"], "ERR unknown argument: BOGUS"),
        (&["HSETEX", "n", "FIELDS", "2", "x", "1"], "ERR wrong number of arguments for 'hsetex' command"),
    ] {
        assert_eq!(error_of(&mut c, args), error, "{args:?}");
    }
    run::<()>(&mut c, &["SET", "s", "v"]);
    assert!(error_of(&mut c, &["HTTL", "s", "FIELDS", "1", "x"]).starts_with("WRONGTYPE"));
}

#[test]
fn hsetex_and_hgetex_set_read_and_clear_ttls() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<i64>(&mut c, &["HSETEX", "h", "PXAT", FAR, "FIELDS", "2", "a", "1", "b", "2"]), 1);
    assert_eq!(codes(&mut c, &["HPEXPIRETIME", "h", "FIELDS", "2", "a", "b"]), [4102444800000, 4102444800000]);
    assert_eq!(run::<i64>(&mut c, &["HSETEX", "h", "FNX", "FIELDS", "1", "a", "9"]), 0);
    assert_eq!(run::<i64>(&mut c, &["HSETEX", "h", "FXX", "KEEPTTL", "FIELDS", "1", "a", "9"]), 1);
    assert_eq!(codes(&mut c, &["HPEXPIRETIME", "h", "FIELDS", "1", "a"]), [4102444800000]);
    assert_eq!(run::<i64>(&mut c, &["HSETEX", "missing", "FXX", "FIELDS", "1", "a", "1"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "missing"]), 0);
    let got: Vec<Option<String>> = run(&mut c, &["HGETEX", "h", "PERSIST", "FIELDS", "2", "a", "zz"]);
    assert_eq!(got, [Some("9".to_string()), None]);
    assert_eq!(codes(&mut c, &["HPEXPIRETIME", "h", "FIELDS", "2", "a", "b"]), [-1, 4102444800000]);
    run::<Vec<Option<String>>>(&mut c, &["HGETEX", "h", "EX", "100", "FIELDS", "1", "a"]);
    let ttl = codes(&mut c, &["HTTL", "h", "FIELDS", "1", "a"])[0];
    assert!((99..=100).contains(&ttl), "{ttl}");
    // A time in the past: the value is returned, and the field is gone after.
    let got: Vec<Option<String>> = run(&mut c, &["HGETEX", "h", "PXAT", "1", "FIELDS", "1", "b"]);
    assert_eq!(got, [Some("2".to_string())]);
    assert_eq!(run::<Option<String>>(&mut c, &["HGET", "h", "b"]), None);
}

fn expired_subkeys(con: &mut redis::Connection) -> u64 {
    let info: String = run(con, &["INFO", "stats"]);
    let line = info.lines().find_map(|l| l.strip_prefix("expired_subkeys:")).unwrap_or("0");
    line.trim().parse().unwrap()
}

#[test]
fn due_fields_go_lazily_and_actively_with_hexpired_events() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Khg"]);
    let mut listener = s.client();
    let mut pubsub = listener.as_pubsub();
    pubsub.psubscribe("__keyspace@0__:*").unwrap();
    pubsub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();

    // Active: nobody reads the hash, the cron deletes the due fields.
    run::<()>(&mut c, &["HSET", "active", "a", "1", "b", "2", "keep", "3"]);
    codes(&mut c, &["HPEXPIRE", "active", "30", "FIELDS", "2", "a", "b"]);
    common::wait_for(|| expired_subkeys(&mut c) == 2);
    assert_eq!(run::<Vec<String>>(&mut c, &["HKEYS", "active"]), ["keep"]);
    // Lazy (active expiry off): the read after the TTL finds the field gone, and the hash with its last field.
    run::<()>(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    run::<()>(&mut c, &["HSET", "lazy", "x", "1"]);
    codes(&mut c, &["HPEXPIRE", "lazy", "5", "FIELDS", "1", "x"]);
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(expired_subkeys(&mut c), 2, "nothing deletes it before it is read");
    assert_eq!(run::<Option<String>>(&mut c, &["HGET", "lazy", "x"]), None);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "lazy"]), 0);
    assert_eq!(expired_subkeys(&mut c), 3);

    let events: Vec<String> = (0..7)
        .map(|_| {
            let message = pubsub.get_message().unwrap();
            let key = message.get_channel_name().trim_start_matches("__keyspace@0__:").to_string();
            format!("{key} {}", message.get_payload::<String>().unwrap())
        })
        .collect();
    let expected =
        ["active hset", "active hexpire", "active hexpired", "lazy hset", "lazy hexpire", "lazy hexpired", "lazy del"];
    assert_eq!(events, expected);
}

#[test]
fn field_ttls_survive_a_snapshot_and_the_log() {
    for mode in ["snapshot", "log"] {
        let dir = TestDir::new();
        let start = || {
            TestServer::on_dir(&dir.0, |s| {
                s.save = String::new();
                s.appendonly = mode == "log";
                s.appendfsync = "always".into();
            })
        };
        {
            let s = start();
            let mut c = s.client();
            run::<()>(&mut c, &["HSET", "small", "a", "1", "b", "2", "c", "3"]);
            codes(&mut c, &["HEXPIRE", "small", "100000", "FIELDS", "1", "a"]);
            codes(&mut c, &["HPEXPIREAT", "small", FAR, "FIELDS", "1", "b"]);
            for i in 0..300 {
                run::<()>(&mut c, &["HSET", "big", &format!("f{i}"), "v"]);
            }
            codes(&mut c, &["HPEXPIREAT", "big", FAR, "FIELDS", "2", "f1", "f2"]);
            codes(&mut c, &["HPEXPIRE", "big", "1", "FIELDS", "1", "f3"]);
            std::thread::sleep(Duration::from_millis(10));
            if mode == "snapshot" {
                run::<()>(&mut c, &["SAVE"]);
            }
        }
        let s = start();
        let mut c = s.client();
        let small = codes(&mut c, &["HPEXPIRETIME", "small", "FIELDS", "3", "a", "b", "c"]);
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        assert!((now_ms + 90_000_000..=now_ms + 100_000_000).contains(&small[0]), "{mode}: {small:?}");
        assert_eq!(small[1..], [4102444800000, -1], "{mode}");
        assert_eq!(
            codes(&mut c, &["HPEXPIRETIME", "big", "FIELDS", "3", "f1", "f2", "f4"]),
            [FAR.parse().unwrap(), 4102444800000, -1]
        );
        assert_eq!(run::<i64>(&mut c, &["HEXISTS", "big", "f3"]), 0, "{mode}: the expired field stays gone");
        assert_eq!(run::<i64>(&mut c, &["HLEN", "big"]), 299, "{mode}");
    }
}

/// As in Redis, a field past its TTL goes when a command names it: commands on the whole key (EXISTS,
/// RENAME) and HLEN, HDEL and HSCAN see it until then (HSCAN skips it), and INFO keyspace counts the hashes
/// with field TTLs.
#[test]
fn whole_key_commands_see_expired_fields_until_a_field_command_names_them() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    run::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    codes(&mut c, &["HPEXPIRE", "h", "1", "FIELDS", "2", "a", "b"]);
    run::<()>(&mut c, &["HSET", "g", "x", "1"]);
    codes(&mut c, &["HPEXPIREAT", "g", FAR, "FIELDS", "1", "x"]);
    let keyspace: String = run(&mut c, &["INFO", "keyspace"]);
    assert!(keyspace.contains("db0:keys=2,expires=0,avg_ttl=0,subexpiry=2"), "{keyspace}");
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "h"]), 1);
    assert_eq!(run::<i64>(&mut c, &["HLEN", "h"]), 2);
    let (cursor, page): (String, Vec<String>) = run(&mut c, &["HSCAN", "h", "0"]);
    assert_eq!((cursor.as_str(), page.len()), ("0", 0), "HSCAN skips them");
    assert_eq!(run::<i64>(&mut c, &["HDEL", "h", "a"]), 1);
    run::<()>(&mut c, &["RENAME", "h", "h2"]);
    assert_eq!(run::<Option<String>>(&mut c, &["HGET", "h2", "b"]), None);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "h2"]), 0, "the last field took the key with it");
    let keyspace: String = run(&mut c, &["INFO", "keyspace"]);
    assert!(keyspace.contains("subexpiry=1"), "{keyspace}");
}

/// Regression: a read of one field deleted every due field of its hash, so HLEN and `expired_subkeys`
/// differed from Redis's and one command paid for all the hash's due fields. Replies checked against
/// Redis 8.0.2.
#[test]
fn naming_a_due_field_deletes_that_field_only() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    run::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]);
    codes(&mut c, &["HPEXPIRE", "h", "1", "FIELDS", "4", "a", "b", "c", "e"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(run::<Option<String>>(&mut c, &["HGET", "h", "a"]), None);
    assert_eq!((run::<i64>(&mut c, &["HLEN", "h"]), expired_subkeys(&mut c)), (4, 1), "only a went");
    let all: Vec<String> = run(&mut c, &["HGETALL", "h"]);
    assert_eq!(all, ["d", "4"], "due fields are skipped");
    assert_eq!(run::<i64>(&mut c, &["HLEN", "h"]), 4, "and not deleted");
    assert_eq!(run::<i64>(&mut c, &["HSET", "h", "b", "9"]), 0, "HSET overwrites a due field");
    assert_eq!(codes(&mut c, &["HTTL", "h", "FIELDS", "2", "b", "c"]), [-1, -2]);
    assert_eq!(run::<i64>(&mut c, &["HINCRBY", "h", "c", "5"]), 5, "a due field counts from nothing");
    assert_eq!(run::<i64>(&mut c, &["HSETNX", "h", "e", "new"]), 1);
    assert_eq!((run::<i64>(&mut c, &["HLEN", "h"]), expired_subkeys(&mut c)), (4, 3));
    let all: std::collections::BTreeMap<String, String> = run(&mut c, &["HGETALL", "h"]);
    let expected = [("b", "9"), ("c", "5"), ("d", "4"), ("e", "new")].map(|(f, v)| (f.to_string(), v.to_string()));
    assert_eq!(all, expected.into());
}

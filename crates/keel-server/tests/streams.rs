//! Streams over real sockets: entries, trimming, blocking reads, consumer groups, persistence through the
//! log and snapshots, and the same replies and RDB payloads as a real redis-server.

mod common;
use common::{changes, error_of, run, same_replies, words, RealRedis, TestDir, TestServer};
use redis::Value;
use std::time::Duration;

/// XREAD's reply: per stream, its name and its entries (ID, fields and values).
type StreamReply = (String, Vec<(String, Vec<String>)>);

#[test]
fn entries_ranges_trimming_and_errors() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(run::<String>(&mut c, &["XADD", "s", "1-1", "f", "a"]), "1-1");
    assert_eq!(run::<String>(&mut c, &["XADD", "s", "1-*", "f", "b"]), "1-2");
    let auto: String = run(&mut c, &["XADD", "s", "*", "f", "c", "g", "d"]);
    assert!(auto.ends_with("-0") && auto.len() > 10, "{auto}");
    assert_eq!(run::<i64>(&mut c, &["XLEN", "s"]), 3);
    let first: Vec<(String, Vec<String>)> = run(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "1"]);
    assert_eq!(first, [("1-1".to_string(), vec!["f".to_string(), "a".to_string()])]);
    let rev: Vec<(String, Vec<String>)> = run(&mut c, &["XREVRANGE", "s", "+", "(1-1"]);
    assert_eq!(rev.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), [auto.as_str(), "1-2"]);
    assert_eq!(run::<i64>(&mut c, &["XDEL", "s", "1-2", "9-9"]), 1);
    let too_small = "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    for (args, error) in [
        (&["XADD", "s", "1-1", "f", "x"][..], too_small),
        (&["XADD", "s", "0-0", "f", "x"], "ERR The ID specified in XADD must be greater than 0-0"),
        (&["XADD", "s", "*", "f"], "ERR wrong number of arguments for 'xadd' command"),
        (&["XADD", "s", "bad", "f", "x"], "ERR Invalid stream ID specified as stream command argument"),
        (&["XADD", "s", "MAXLEN", "-1", "*", "f", "x"], "ERR The MAXLEN argument must be >= 0."),
        (
            &["XADD", "s", "MAXLEN", "1", "LIMIT", "1", "*", "f", "x"],
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ),
        (
            &["XTRIM", "s", "LIMIT", "1"],
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ),
        (&["XRANGE", "s", "(18446744073709551615-18446744073709551615", "+"], "ERR invalid start ID for the interval"),
    ] {
        assert_eq!(error_of(&mut c, args), error, "{args:?}");
    }
    // IDs never go back, even when the clock does (here: an entry from the future).
    assert_eq!(run::<String>(&mut c, &["XADD", "future", "99999999999999-5", "f", "x"]), "99999999999999-5");
    assert_eq!(run::<String>(&mut c, &["XADD", "future", "*", "f", "y"]), "99999999999999-6");
    assert_eq!(run::<Option<String>>(&mut c, &["XADD", "absent", "NOMKSTREAM", "*", "f", "x"]), None);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "absent"]), 0);
    for i in 0..1000 {
        run::<String>(&mut c, &["XADD", "big", "MAXLEN", "~", "555", "*", "item", &i.to_string()]);
    }
    // Approximate trimming removes whole nodes of 100 entries only.
    assert_eq!(run::<i64>(&mut c, &["XLEN", "big"]), 600);
    assert_eq!(run::<i64>(&mut c, &["XTRIM", "big", "MAXLEN", "=", "10"]), 590);
    assert_eq!(run::<i64>(&mut c, &["XLEN", "big"]), 10);
    // An emptied stream stays, with its last ID.
    run::<i64>(&mut c, &["XTRIM", "big", "MAXLEN", "0"]);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "big"]), 1);
    run::<()>(&mut c, &["SET", "str", "x"]);
    assert!(error_of(&mut c, &["XADD", "str", "*", "f", "v"]).starts_with("WRONGTYPE"));
    assert_eq!(run::<String>(&mut c, &["TYPE", "s"]), "stream");
    assert_eq!(run::<String>(&mut c, &["OBJECT", "ENCODING", "s"]), "stream");
}

#[test]
fn blocking_reads_wake_on_new_entries() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["XADD", "events", "1-0", "old", "x"]);
    let mut reader = s.client();
    let waiting =
        std::thread::spawn(move || -> Value { run(&mut reader, &["XREAD", "BLOCK", "0", "STREAMS", "events", "$"]) });
    common::wait_for(|| {
        let info: String = run(&mut c, &["INFO", "clients"]);
        info.contains("blocked_clients:1")
    });
    run::<String>(&mut c, &["XADD", "events", "2-0", "new", "y"]);
    let got = waiting.join().unwrap();
    let expected = Value::Array(vec![Value::Array(vec![
        Value::BulkString(b"events".to_vec()),
        Value::Array(vec![Value::Array(vec![
            Value::BulkString(b"2-0".to_vec()),
            Value::Array(vec![Value::BulkString(b"new".to_vec()), Value::BulkString(b"y".to_vec())]),
        ])]),
    ])]);
    assert_eq!(got, expected);
    // A timeout answers with a null array.
    let timed_out: Value = run(&mut c, &["XREAD", "BLOCK", "50", "STREAMS", "events", "$"]);
    assert_eq!(timed_out, Value::Nil);
    // A group reader whose stream is deleted runs again and is told the group is gone (Redis 7.2).
    run::<()>(&mut c, &["XGROUP", "CREATE", "events", "g", "$"]);
    let mut grouped = s.client();
    let waiting = std::thread::spawn(move || {
        redis::cmd("XREADGROUP")
            .arg(&["GROUP", "g", "alice", "BLOCK", "0", "STREAMS", "events", ">"])
            .query::<Value>(&mut grouped)
            .unwrap_err()
            .to_string()
    });
    common::wait_for(|| run::<String>(&mut c, &["INFO", "clients"]).contains("blocked_clients:1"));
    run::<i64>(&mut c, &["DEL", "events"]);
    let error = waiting.join().unwrap();
    assert!(error.starts_with("NOGROUP") && error.contains("No such key 'events' or consumer group 'g'"), "{error}");
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn consumer_groups_deliver_acknowledge_and_claim() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(error_of(&mut c, &["XGROUP", "CREATE", "q", "workers", "$"]), "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
    run::<()>(&mut c, &["XGROUP", "CREATE", "q", "workers", "$", "MKSTREAM"]);
    assert_eq!(
        error_of(&mut c, &["XGROUP", "CREATE", "q", "workers", "$"]),
        "BUSYGROUP Consumer Group name already exists"
    );
    for i in 1..=4 {
        run::<String>(&mut c, &["XADD", "q", &format!("{i}-0"), "job", &i.to_string()]);
    }
    let got: Vec<StreamReply> =
        run(&mut c, &["XREADGROUP", "GROUP", "workers", "alice", "COUNT", "3", "STREAMS", "q", ">"]);
    assert_eq!(got[0].1.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["1-0", "2-0", "3-0"]);
    let summary: Value = run(&mut c, &["XPENDING", "q", "workers"]);
    assert_eq!(
        summary,
        Value::Array(vec![
            Value::Int(3),
            Value::BulkString(b"1-0".to_vec()),
            Value::BulkString(b"3-0".to_vec()),
            Value::Array(vec![Value::Array(vec![
                Value::BulkString(b"alice".to_vec()),
                Value::BulkString(b"3".to_vec())
            ])]),
        ])
    );
    assert_eq!(run::<i64>(&mut c, &["XACK", "q", "workers", "1-0", "1-0", "9-0"]), 1);
    // Alice's history: what she has not acknowledged.
    let history: Vec<StreamReply> = run(&mut c, &["XREADGROUP", "GROUP", "workers", "alice", "STREAMS", "q", "0"]);
    assert_eq!(history[0].1.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), ["2-0", "3-0"]);
    let claimed: Vec<String> = run(&mut c, &["XCLAIM", "q", "workers", "bob", "0", "2-0", "JUSTID"]);
    assert_eq!(claimed, ["2-0"]);
    let auto: Value = run(&mut c, &["XAUTOCLAIM", "q", "workers", "carol", "0", "0-0", "COUNT", "10", "JUSTID"]);
    let Value::Array(parts) = auto else { panic!() };
    assert_eq!(parts[0], Value::BulkString(b"0-0".to_vec()));
    let detail: Vec<(String, String, i64, i64)> = run(&mut c, &["XPENDING", "q", "workers", "-", "+", "10"]);
    assert_eq!(
        detail.iter().map(|(id, who, _, _)| (id.as_str(), who.as_str())).collect::<Vec<_>>(),
        [("2-0", "carol"), ("3-0", "carol")]
    );
    assert_eq!(run::<i64>(&mut c, &["XGROUP", "DELCONSUMER", "q", "workers", "carol"]), 2);
    let groups: Value = run(&mut c, &["XINFO", "GROUPS", "q"]);
    let text = format!("{groups:?}");
    assert!(text.contains("last-delivered-id") && text.contains("3-0"), "{text}");
    assert!(error_of(&mut c, &["XREADGROUP", "GROUP", "nope", "x", "STREAMS", "q", ">"]).starts_with("NOGROUP"));
    assert_eq!(
        error_of(&mut c, &["XREADGROUP", "GROUP", "workers", "x", "STREAMS", "q", "$"]),
        "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
    );
}

/// `value` with Unix-millisecond timestamps (consumers' seen and active times, which a replay renews)
/// blanked out.
fn without_consumer_times(value: Value) -> Value {
    match value {
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut after_time_name = false;
            for item in items {
                let item = if after_time_name { Value::Nil } else { without_consumer_times(item) };
                after_time_name =
                    [&b"seen-time"[..], b"active-time"].iter().any(|name| item == Value::BulkString(name.to_vec()));
                out.push(item);
            }
            Value::Array(out)
        }
        other => other,
    }
}

#[test]
fn streams_and_groups_survive_restarts_through_the_log_and_snapshots() {
    let dir = TestDir::new();
    let script = |c: &mut redis::Connection| {
        run::<String>(c, &["XADD", "s", "*", "a", "1"]);
        run::<String>(c, &["XADD", "s", "MAXLEN", "~", "1", "*", "b", "2"]);
        run::<()>(c, &["XGROUP", "CREATE", "s", "g", "0"]);
        run::<Value>(c, &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", ">"]);
        run::<Value>(c, &["XREADGROUP", "GROUP", "g", "bob", "NOACK", "STREAMS", "s", ">"]);
    };
    let before = {
        let server = TestServer::with(|st| st.dir = dir.0.clone());
        let mut c = server.client();
        script(&mut c);
        without_consumer_times(run::<Value>(&mut c, &["XINFO", "STREAM", "s", "FULL"]))
    };
    let after_log = {
        let server = TestServer::with(|st| st.dir = dir.0.clone());
        let mut c = server.client();
        let info = without_consumer_times(run::<Value>(&mut c, &["XINFO", "STREAM", "s", "FULL"]));
        run::<()>(&mut c, &["BGREWRITEAOF"]);
        common::wait_for(|| run::<String>(&mut c, &["INFO", "persistence"]).contains("aof_rewrite_in_progress:0"));
        info
    };
    assert_eq!(before, after_log, "replaying the log rebuilds the same stream, PEL and consumers");
    let server = TestServer::with(|st| st.dir = dir.0.clone());
    let mut c = server.client();
    let from_base = without_consumer_times(run::<Value>(&mut c, &["XINFO", "STREAM", "s", "FULL"]));
    assert_eq!(from_base, before, "and so does the compacted base");
}

#[test]
fn replies_and_dump_payloads_interoperate_with_redis() {
    let Some(real) = RealRedis::start(&[]) else { return };
    let dir = TestDir::new();
    let server = TestServer::with(|st| st.dir = dir.0.clone());
    let (mut keel, mut redis) = (server.client(), real.client());
    let mut script: Vec<Vec<String>> = Vec::new();
    for i in 1..=150 {
        let fields = if i % 10 == 0 { format!("other {i}") } else { format!("f {i} g x") };
        script.push(words(&format!("XADD s {i}-0 {fields}")));
    }
    for line in [
        "XDEL s 5-0 6-0 149-0",
        "XRANGE s 90 (120 COUNT 5",
        "XREVRANGE s + - COUNT 3",
        "XLEN s",
        "XTRIM s MINID 20",
        "XTRIM s MAXLEN ~ 50",
        "XLEN s",
        "XADD s MAXLEN 100 200-5 k v",
        "XRANGE s - + COUNT 2",
        "XGROUP CREATE s g 0 ENTRIESREAD 0",
        "XREADGROUP GROUP g a COUNT 2 STREAMS s >",
        "XPENDING s g",
        "XSETID s 300-0 ENTRIESADDED 500 MAXDELETEDID 250-0",
        "XINFO STREAM s",
        "XADD s 300-0 x y",
        "XADD s 301-* x y",
        "XINFO GROUPS s",
        "XREAD COUNT 2 STREAMS s 250",
        "XREAD STREAMS s missing 0 0",
    ] {
        script.push(words(line));
    }
    same_replies(&mut keel, &mut redis, &script);
    // Payloads cross both ways.
    let from_redis: Vec<u8> = run(&mut redis, &["DUMP", "s"]);
    let from_keel: Vec<u8> = run(&mut keel, &["DUMP", "s"]);
    redis::cmd("RESTORE").arg("copy").arg(0).arg(&from_redis).query::<()>(&mut keel).unwrap();
    redis::cmd("RESTORE").arg("copy").arg(0).arg(&from_keel).query::<()>(&mut redis).unwrap();
    same_replies(&mut keel, &mut redis, &[words("XRANGE copy - +"), words("XINFO GROUPS copy"), words("XLEN copy")]);
    // Keel's snapshot with these streams passes Redis's own checker.
    run::<()>(&mut keel, &["SAVE"]);
    let checker = common::which("redis-check-rdb").expect("redis-check-rdb comes with redis-server");
    let check = std::process::Command::new(checker).arg(dir.0.join("dump.rdb")).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
}

/// XDELEX and XACKDEL (Redis 8.2), after Redis's own tests of them.
#[test]
fn xdelex_and_xackdel_follow_their_reference_policies() {
    let s = TestServer::start();
    let mut c = s.client();
    let codes = |c: &mut redis::Connection, line: &str| -> Vec<i64> {
        run(c, &words(line).iter().map(String::as_str).collect::<Vec<_>>())
    };
    let setup = |c: &mut redis::Connection| {
        for line in [
            "DEL mystream",
            "XADD mystream 1-0 f v",
            "XADD mystream 2-0 f v",
            "XGROUP CREATE mystream group1 0",
            "XGROUP CREATE mystream group2 0",
            "XREADGROUP GROUP group1 consumer1 STREAMS mystream >",
            "XREADGROUP GROUP group2 consumer2 STREAMS mystream >",
        ] {
            run::<Value>(c, &words(line).iter().map(String::as_str).collect::<Vec<_>>());
        }
    };
    let pending = |c: &mut redis::Connection, group: &str| -> i64 {
        let summary: Vec<Value> = run(c, &["XPENDING", "mystream", group]);
        redis::from_redis_value(&summary[0]).unwrap()
    };
    assert_eq!(codes(&mut c, "XACKDEL nokey g IDS 2 1-1 2-2"), [-1, -1]);
    assert_eq!(codes(&mut c, "XDELEX nokey IDS 1 1-1"), [-1]);

    setup(&mut c);
    assert_eq!(codes(&mut c, "XACKDEL mystream group1 DELREF IDS 2 1-0 2-0"), [1, 1]);
    assert_eq!(run::<i64>(&mut c, &["XLEN", "mystream"]), 0);
    assert_eq!((pending(&mut c, "group1"), pending(&mut c, "group2")), (0, 0), "DELREF empties every PEL");
    assert_eq!(codes(&mut c, "XACKDEL mystream group2 DELREF IDS 2 1-0 2-0"), [-1, -1]);

    setup(&mut c);
    assert_eq!(codes(&mut c, "XACKDEL mystream group1 ACKED IDS 2 1-0 2-0"), [2, 2], "group2 still has them");
    assert_eq!(run::<i64>(&mut c, &["XLEN", "mystream"]), 2);
    assert_eq!(codes(&mut c, "XACKDEL mystream group2 ACKED IDS 2 1-0 2-0"), [1, 1]);
    assert_eq!(run::<i64>(&mut c, &["XLEN", "mystream"]), 0);

    setup(&mut c);
    assert_eq!(codes(&mut c, "XACKDEL mystream group1 KEEPREF IDS 2 1-0 2-0"), [1, 1]);
    assert_eq!((pending(&mut c, "group1"), pending(&mut c, "group2")), (0, 2), "KEEPREF leaves group2's PEL");
    assert_eq!(codes(&mut c, "XACKDEL mystream group2 IDS 2 1-0 2-0"), [1, 1]);

    setup(&mut c);
    run::<Value>(&mut c, &["XADD", "mystream", "3-0", "f", "v"]);
    assert_eq!(codes(&mut c, "XDELEX mystream ACKED IDS 3 1-0 3-0 9-0"), [2, 2, -1], "pending, and not delivered yet");
    run::<i64>(&mut c, &["XACK", "mystream", "group1", "1-0"]);
    run::<i64>(&mut c, &["XACK", "mystream", "group2", "1-0"]);
    assert_eq!(codes(&mut c, "XDELEX mystream ACKED IDS 1 1-0"), [1]);
    assert_eq!(codes(&mut c, "XDELEX mystream IDS 1 2-0"), [1]);
    assert_eq!(pending(&mut c, "group1"), 1, "KEEPREF by default");
    assert_eq!(codes(&mut c, "XDELEX mystream DELREF IDS 1 3-0"), [1]);
    assert_eq!(run::<i64>(&mut c, &["XLEN", "mystream"]), 0);

    for (line, error) in [
        ("XACKDEL mystream group1 IDS abc 1-1", "ERR Number of IDs must be a positive integer"),
        ("XACKDEL mystream group1 IDS 0 1-1", "ERR Number of IDs must be a positive integer"),
        ("XACKDEL mystream group1 IDS 3 1-1 2-2", "ERR The `numids` parameter must match the number of arguments"),
        ("XACKDEL mystream group1 IDS 1 1-1 2-2", "ERR syntax error"),
        ("XACKDEL mystream group1 KEEPREF DELREF IDS 1 1-1", "ERR syntax error"),
        ("XDELEX mystream BOGUS IDS 1 1-1", "ERR syntax error"),
        ("XDELEX mystream IDS 1 not-an-id", "ERR Invalid stream ID specified as stream command argument"),
        ("XACKDEL mystream g", "ERR wrong number of arguments for 'xackdel' command"),
    ] {
        assert_eq!(error_of(&mut c, &words(line).iter().map(String::as_str).collect::<Vec<_>>()), error, "{line}");
    }
}

/// Redis 7.2-7.4 changes to stream reads: `+` reads the last entry, the unbalanced-list error names the
/// command, XSETID keeps below the max deleted ID, and INFO counts the keys clients block on.
#[test]
fn newer_stream_reads_and_checks_answer_as_redis_8_does() {
    let s = TestServer::start();
    let mut c = s.client();
    for id in ["1-0", "2-0", "3-0"] {
        run::<String>(&mut c, &["XADD", "le", id, "k", id]);
    }
    let last: Vec<StreamReply> = run(&mut c, &["XREAD", "COUNT", "3", "STREAMS", "le", "nope", "+", "+"]);
    assert_eq!(last, [("le".to_string(), vec![("3-0".to_string(), vec!["k".to_string(), "3-0".to_string()])])]);
    run::<()>(&mut c, &["XGROUP", "CREATE", "le", "g", "$"]);
    for (args, error) in [
        (&["XREAD", "STREAMS", "le", "x", "+"][..], "ERR Unbalanced 'xread' list of streams: for each stream key an ID, '+', or '$' must be specified."),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "le", "x", ">"], "ERR Unbalanced 'xreadgroup' list of streams: for each stream key an ID or '>' must be specified."),
        (&["XREADGROUP", "GROUP", "g", "c", "STREAMS", "le", "+"], "ERR The + ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The + ID would just return an empty result set."),
    ] {
        assert_eq!(error_of(&mut c, args), error, "{args:?}");
    }
    run::<i64>(&mut c, &["XDEL", "le", "2-0", "3-0"]);
    assert_eq!(
        error_of(&mut c, &["XSETID", "le", "2-5"]),
        "ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"
    );
    let mut waiter = s.client();
    let blocked = std::thread::spawn(move || {
        run::<Value>(&mut waiter, &["XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "STREAMS", "le", ">"])
    });
    common::wait_for(|| run::<String>(&mut c, &["INFO", "clients"]).contains("total_blocking_keys_on_nokey:1"));
    assert!(run::<String>(&mut c, &["INFO", "clients"]).contains("total_blocking_keys:1"));
    run::<String>(&mut c, &["XADD", "le", "4-0", "k", "v"]);
    assert_ne!(blocked.join().unwrap(), Value::Nil);
}

/// Redis 8.2's trimming policies on XADD and XTRIM: KEEPREF (the default) leaves pending lists alone,
/// DELREF takes the trimmed entries out of them, ACKED keeps what a consumer group still needs.
#[test]
fn trimming_follows_its_reference_policy() {
    let s = TestServer::start();
    let mut c = s.client();
    for id in ["1-0", "2-0", "3-0", "4-0"] {
        run::<String>(&mut c, &["XADD", "s", id, "f", "v"]);
    }
    run::<()>(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
    run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", "s", ">"]);
    run::<i64>(&mut c, &["XACK", "s", "g", "1-0"]);
    // 2-0 is pending, 3-0 and 4-0 not delivered yet: ACKED may only take 1-0.
    assert_eq!(run::<i64>(&mut c, &["XTRIM", "s", "MAXLEN", "0", "ACKED"]), 1);
    assert_eq!(run::<i64>(&mut c, &["XLEN", "s"]), 3);
    run::<String>(&mut c, &["XADD", "s", "ACKED", "MAXLEN", "1", "5-0", "f", "v"]);
    assert_eq!(run::<i64>(&mut c, &["XLEN", "s"]), 4, "XADD's ACKED keeps what the group needs too");
    // DELREF takes 2-0 out of the pending list with the entry; KEEPREF would leave it there.
    assert_eq!(run::<i64>(&mut c, &["XTRIM", "s", "MINID", "3-0", "DELREF"]), 1);
    let pending: Vec<Value> = run(&mut c, &["XPENDING", "s", "g"]);
    assert_eq!(pending[0], Value::Int(0));
    assert_eq!(error_of(&mut c, &["XTRIM", "s", "MAXLEN", "0", "ACKED", "DELREF"]), "ERR syntax error");
}

/// XREADGROUP's deliveries are logged as XCLAIMs followed by the group's new position with its read count
/// (`XGROUP SETID .. ENTRIESREAD`), acknowledged at once or not, as Redis 7.2 propagates them; replayed,
/// the group is where it was, its read count and lag included.
#[test]
fn xreadgroup_logs_the_groups_position_after_its_claims() {
    let dir = common::TestDir::new();
    let start = || TestServer::on_dir(&dir.0, |s| s.save = String::new());
    let group_info = |c: &mut redis::Connection| -> Vec<Value> { run(c, &["XINFO", "GROUPS", "s"]) };
    let before = {
        let s = start();
        let mut c = s.client();
        for id in ["1-0", "2-0", "3-0"] {
            run::<String>(&mut c, &["XADD", "s", id, "f", "v"]);
        }
        run::<()>(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
        run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"]);
        group_info(&mut c)
    };
    let log = common::incremental_log_text(&dir.0);
    let claims = log.find("XCLAIM").expect("deliveries logged as XCLAIM");
    let setid = log.find("SETID\r\n$1\r\nS\r\n$1\r\nG\r\n$3\r\n2-0\r\n$11\r\nENTRIESREAD\r\n$1\r\n2");
    assert!(setid.is_some_and(|at| at > claims), "{log}");
    let s = start();
    assert_eq!(group_info(&mut s.client()), before);
}

/// A group's lag as `XINFO GROUPS` reports it (nil when unknowable).
fn group_lag(c: &mut redis::Connection, key: &str) -> Option<i64> {
    let groups: Vec<std::collections::HashMap<String, Value>> = run(c, &["XINFO", "GROUPS", key]);
    match &groups[0]["lag"] {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

/// A group's lag after deletions and trims is what Redis 8 reports (its stream-cgroups unit): once both the
/// group's position and the newest deleted entry are behind the first entry, the lag is the stream's length;
/// a deleted entry ahead of the group makes it unknowable, and reading past it counts the group afresh.
#[test]
fn group_lag_after_deletions_and_trims_is_redis_8s() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["XGROUP", "CREATE", "x", "g", "$", "MKSTREAM"]);
    for id in ["1-0", "2-0", "3-0", "4-0", "5-0"] {
        run::<String>(&mut c, &["XADD", "x", id, "d", "v"]);
    }
    run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "COUNT", "1", "STREAMS", "x", ">"]);
    assert_eq!(group_lag(&mut c, "x"), Some(4));
    run::<i64>(&mut c, &["XTRIM", "x", "MAXLEN", "1"]);
    assert_eq!(group_lag(&mut c, "x"), Some(1), "trimmed past the group: the entries left");
    run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "x", ">"]);
    assert_eq!(group_lag(&mut c, "x"), Some(0));

    run::<i64>(&mut c, &["DEL", "y"]);
    run::<()>(&mut c, &["XGROUP", "CREATE", "y", "g", "$", "MKSTREAM"]);
    run::<String>(&mut c, &["XADD", "y", "1-0", "d", "a"]);
    run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "y", ">"]);
    run::<String>(&mut c, &["XADD", "y", "2-0", "d", "b"]);
    run::<String>(&mut c, &["XADD", "y", "3-0", "d", "c"]);
    run::<i64>(&mut c, &["XDEL", "y", "2-0"]);
    assert_eq!(group_lag(&mut c, "y"), None, "a deleted entry lies ahead of the group");
    run::<i64>(&mut c, &["XDEL", "y", "1-0"]);
    assert_eq!(group_lag(&mut c, "y"), Some(1), "both the group and the deletion are behind the first entry");
    run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "y", ">"]);
    let groups: Vec<std::collections::HashMap<String, Value>> = run(&mut c, &["XINFO", "GROUPS", "y"]);
    assert_eq!(groups[0]["entries-read"], Value::Int(3));
    assert_eq!(group_lag(&mut c, "y"), Some(0));
}

/// A consumer's field in `XINFO CONSUMERS`.
fn consumer_field(c: &mut redis::Connection, key: &str, field: &str) -> i64 {
    let consumers: Vec<std::collections::HashMap<String, Value>> = run(c, &["XINFO", "CONSUMERS", key, "g"]);
    match consumers[0][field] {
        Value::Int(n) => n,
        ref other => panic!("{field} is {other:?}"),
    }
}

/// Redis 7.2's consumer active time: none until a consumer is handed entries (`inactive` -1), kept through
/// DUMP/RESTORE in the `_3` stream type, while a stream whose consumers' active and seen times agree is
/// still written as Redis 7.0's `_2`, which redis-server 7.0 restores.
#[test]
fn consumers_active_time_is_kept_and_written_only_when_needed() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
    assert_eq!(consumer_field(&mut c, "s", "inactive"), -1, "created by a read that served nothing");
    let dump: Vec<u8> = run(&mut c, &["DUMP", "s"]);
    assert_eq!(dump[0], 21, "an active time unlike the seen time needs Redis 7.2's type");
    redis::cmd("RESTORE").arg("copy").arg(0).arg(&dump).query::<()>(&mut c).unwrap();
    assert_eq!(consumer_field(&mut c, "copy", "inactive"), -1);

    run::<String>(&mut c, &["XADD", "t", "*", "f", "v"]);
    run::<()>(&mut c, &["XGROUP", "CREATE", "t", "g", "0"]);
    run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "t", ">"]);
    assert!((0..60_000).contains(&consumer_field(&mut c, "t", "inactive")));
    let dump: Vec<u8> = run(&mut c, &["DUMP", "t"]);
    assert_eq!(dump[0], 19, "seen and handed entries at once: Redis 7.0's type holds it");
    if let Some(real) = RealRedis::start(&[]) {
        redis::cmd("RESTORE").arg("t").arg(0).arg(&dump).query::<()>(&mut real.client()).unwrap();
    }
}

/// XREADGROUP counts as a change (`rdb_changes_since_last_save`) when it serves new entries or creates its
/// consumer, not when it serves the consumer's history (Redis's rule); a consumer created by a read that
/// served nothing is logged, so it outlives a restart.
#[test]
fn xreadgroup_changes_only_what_it_delivers_or_creates() {
    let dir = TestDir::new();
    let start = || TestServer::on_dir(&dir.0, |s| s.save = String::new());
    {
        let s = start();
        let mut c = s.client();
        run::<String>(&mut c, &["XADD", "x", "1-0", "d", "a"]);
        run::<()>(&mut c, &["XGROUP", "CREATE", "x", "g", "0"]);
        run::<i64>(&mut c, &["XGROUP", "CREATECONSUMER", "x", "g", "alice"]);
        let before = changes(&mut c);
        run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "x", ">"]);
        assert_eq!(changes(&mut c), before + 1);
        run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "x", "0"]);
        assert_eq!(changes(&mut c), before + 1, "serving history is not a change");
        run::<Value>(&mut c, &["XREADGROUP", "GROUP", "g", "bob", "STREAMS", "x", ">"]);
        assert_eq!(changes(&mut c), before + 2, "creating the consumer is");
    }
    let s = start();
    let consumers: Vec<std::collections::HashMap<String, Value>> =
        run(&mut s.client(), &["XINFO", "CONSUMERS", "x", "g"]);
    let names: Vec<&Value> = consumers.iter().map(|c| &c["name"]).collect();
    assert_eq!(names, [&Value::BulkString(b"alice".to_vec()), &Value::BulkString(b"bob".to_vec())]);
}

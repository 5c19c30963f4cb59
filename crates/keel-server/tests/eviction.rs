//! maxmemory over real sockets: every eviction policy keeps the dataset within the limit under a write load
//! and evicts only what its policy allows; `noeviction` refuses growing commands with Redis's OOM error and
//! keeps reads and deletions working. The limit counts clients' buffers with the dataset, as Redis's does.

mod common;
use common::{error_of, run, wait_for, TestServer};

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

fn field_of(info: &str, field: &str) -> u64 {
    let line = info.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("{field}"));
    line.split(':').nth(1).unwrap().trim().parse().unwrap()
}

fn info_field(c: &mut redis::Connection, field: &str) -> u64 {
    field_of(&run::<String>(c, &["INFO", "all"]), field)
}

/// Sets a limit 256 KiB above what the server uses now, and returns it.
/// What eviction counts: used memory but what it leaves out (clients' buffers, the backlog).
fn counted(c: &mut redis::Connection) -> u64 {
    // From one INFO: clients' buffers change between two.
    let info: String = run(c, &["INFO", "memory"]);
    field_of(&info, "used_memory") - field_of(&info, "mem_not_counted_for_evict")
}

fn limit_above_current(c: &mut redis::Connection, policy: &str) -> u64 {
    let limit = counted(c) + 256 * 1024;
    run::<()>(c, &["CONFIG", "SET", "maxmemory-policy", policy]);
    run::<()>(c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    limit
}

/// 50 keys of 10 KB, evictable, and a limit 256 KiB above what the server then uses (allkeys-lru).
fn fill_under_a_limit(c: &mut redis::Connection) {
    let value = "v".repeat(10 * 1024);
    for i in 0..50 {
        run::<()>(c, &["SET", &format!("k:{i}"), &value]);
    }
    limit_above_current(c, "allkeys-lru");
}

/// Once `c` is the only client left, writes that fit evict nothing: what the others held no longer counts.
fn gone_and_counted_no_more(c: &mut redis::Connection) {
    wait_for(|| info_field(c, "connected_clients") == 1);
    let evicted = info_field(c, "evicted_keys");
    for i in 0..5 {
        run::<()>(c, &["SET", &format!("small:{i}"), "x"]);
    }
    assert_eq!(info_field(c, "evicted_keys"), evicted);
    run::<()>(c, &["CONFIG", "SET", "maxmemory", "0"]);
}

#[test]
fn every_policy_keeps_memory_within_the_limit_and_evicts_only_what_it_may() {
    for policy in [
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let s = TestServer::start();
        let mut c = s.client();
        // Keys without a TTL, which volatile policies must never evict.
        for i in 0..50 {
            run::<()>(&mut c, &["SET", &format!("keep:{i}"), "x"]);
        }
        let limit = limit_above_current(&mut c, policy);
        let value = "v".repeat(200);
        let mut pipe = redis::pipe();
        for i in 0..6000 {
            pipe.cmd("SET").arg(format!("k:{i}")).arg(&value).arg("EX").arg(10_000).ignore();
            if i % 500 == 499 {
                pipe.query::<()>(&mut c).unwrap_or_else(|e| panic!("{policy}: {e}"));
                pipe = redis::pipe();
                // Within Redis's own test's margin: INFO counts the INFO command itself in the query
                // buffer, and the limit was checked against the buffers as of the connection's last batch.
                let used = counted(&mut c);
                assert!(used <= limit + 4096, "{policy}: used {used} > limit {limit}");
            }
        }
        assert!(info_field(&mut c, "evicted_keys") > 1000, "{policy} evicted too little");
        let kept = (0..50).filter(|i| run::<i64>(&mut c, &["EXISTS", &format!("keep:{i}")]) == 1).count();
        if policy.starts_with("volatile") {
            assert_eq!(kept, 50, "{policy} evicted keys without a TTL");
        }
    }
}

#[test]
fn noeviction_refuses_writes_that_grow_and_keeps_reads_and_deletes() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["SET", "first", "1"]);
    limit_above_current(&mut c, "noeviction");
    let value = "v".repeat(1000);
    let mut refused_at = None;
    for i in 0..2000 {
        if let Err(e) = redis::cmd("SET").arg(format!("k:{i}")).arg(&value).query::<()>(&mut c) {
            assert!(e.to_string().contains("command not allowed when used memory > 'maxmemory'"), "{e}");
            refused_at = Some(i);
            break;
        }
    }
    assert!(refused_at.is_some(), "writes were never refused");
    assert_eq!(error_of(&mut c, &["LPUSH", "list", "x"]), OOM);
    assert_eq!(run::<String>(&mut c, &["GET", "first"]), "1");
    assert_eq!(info_field(&mut c, "evicted_keys"), 0);
    // A transaction that queued a growing command fails as a whole.
    run::<()>(&mut c, &["MULTI"]);
    assert_eq!(error_of(&mut c, &["SET", "t", "1"]), OOM);
    assert_eq!(error_of(&mut c, &["EXEC"]), "EXECABORT Transaction discarded because of previous errors.");
    // Scripts are held to it too.
    let script_error = error_of(&mut c, &["EVAL", "return redis.call('set', 'from-script', 'x')", "0"]);
    assert!(script_error.contains("OOM command not allowed"), "{script_error}");
    // Deleting makes room again.
    for i in 0..refused_at.unwrap() {
        run::<i64>(&mut c, &["DEL", &format!("k:{i}")]);
    }
    run::<()>(&mut c, &["SET", "again", "1"]);
}

/// Regression: the key table's memory was counted by capacity, so when it doubled at the limit used memory
/// jumped by half the table and a write evicted thousands of keys for room nothing needed.
#[test]
fn the_key_table_growing_at_the_limit_does_not_evict() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut pipe = redis::pipe();
    for i in 0..4096 {
        pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let limit = info_field(&mut c, "used_memory") + 10 * 1024;
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory-policy", "allkeys-random"]);
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    run::<()>(&mut c, &["SET", "k1", "v1"]);
    run::<()>(&mut c, &["SET", "k2", "v2"]);
    assert_eq!(run::<u64>(&mut c, &["DBSIZE"]), 4098);
    assert_eq!(info_field(&mut c, "evicted_keys"), 0);
    // Small integers are shared objects in Redis, except under LRU or LFU, where each keeps its access time.
    assert!(run::<i64>(&mut c, &["OBJECT", "REFCOUNT", "key:7"]) > 1);
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    assert_eq!(run::<i64>(&mut c, &["OBJECT", "REFCOUNT", "key:7"]), 1);
}

/// Lowering maxmemory evicts at once, as Redis's CONFIG SET does, with the `evicted` event, rather than at
/// the next write.
#[test]
fn lowering_maxmemory_evicts_at_once() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Ee", "maxmemory-policy", "allkeys-lru"]);
    run::<()>(&mut c, &["SET", "foo", "bar"]);
    let mut listener = s.client();
    let mut pubsub = listener.as_pubsub();
    pubsub.psubscribe("*").unwrap();
    pubsub.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    let message = pubsub.get_message().unwrap();
    assert_eq!(message.get_channel_name(), "__keyevent@0__:evicted");
    assert_eq!(message.get_payload::<String>().unwrap(), "foo");
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
}

/// The limit holds whichever numbered database the data sits in: after SWAPDB, MOVE and COPY into another
/// database, writes past the limit are refused (the count of each database's bytes,
/// which spares summing every database before each command, must follow these commands).
#[test]
fn the_limit_counts_data_moved_or_copied_into_other_databases() {
    let s = TestServer::start();
    let mut c = s.client();
    let big = "b".repeat(200 * 1024);
    let write = "w".repeat(64 * 1024);
    let steps: [&[&str]; 3] = [&["SWAPDB", "0", "1"], &["MOVE", "big", "2"], &["COPY", "big", "copy", "DB", "3"]];
    for step in steps {
        run::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
        run::<()>(&mut c, &["FLUSHALL"]);
        run::<()>(&mut c, &["SET", "big", &big]);
        // Room for 32 KiB more, anywhere.
        run::<()>(&mut c, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
        let limit = counted(&mut c) + 32 * 1024;
        run::<()>(&mut c, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
        redis::cmd(step[0]).arg(&step[1..]).query::<redis::Value>(&mut c).unwrap();
        // A write is refused once the data is past the limit (the one that crosses it runs, as in Redis).
        let _ = redis::cmd("SET").arg("more").arg(&write).query::<redis::Value>(&mut c);
        assert_eq!(error_of(&mut c, &["SET", "again", &write]), OOM, "after {}", step[0]);
    }
}

/// Clients' buffers count toward maxmemory, as in Redis: connections holding the start of a large command
/// make room for it by evicting keys (the database counts its connections' buffers as they grow), and once
/// they are gone their bytes no longer count.
#[test]
fn clients_buffers_count_toward_the_limit_and_leave_with_them() {
    let s = TestServer::start();
    let mut c = s.client();
    fill_under_a_limit(&mut c);
    let before = info_field(&mut c, "used_memory");
    // Four clients each send the first 200 KB of a 1 MB argument: each query buffer makes room for all of it.
    let mut senders: Vec<_> = (0..4).map(|_| s.raw()).collect();
    for sender in &mut senders {
        sender.send(b"*2\r\n$4\r\nECHO\r\n$1000000\r\n");
        sender.send(&[b'x'; 200 * 1024]);
    }
    wait_for(|| info_field(&mut c, "used_memory") > before + 3 * 1024 * 1024);
    assert!(run::<i64>(&mut c, &["DBSIZE"]) < 50, "no key was evicted for the clients' buffers");
    assert!(info_field(&mut c, "evicted_keys") > 0);
    // Their buffers went with them.
    drop(senders);
    gone_and_counted_no_more(&mut c);
}

/// CONFIG SET maxmemory inside MULTI evicts after EXEC, not between the transaction's commands (Redis
/// evicts from a timer that runs after the command): the commands after it still find the data.
#[test]
fn lowering_maxmemory_in_a_transaction_evicts_after_it() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    let replies: Vec<redis::Value> = redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("x")
        .cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1")
        .cmd("INCR")
        .arg("x")
        .query(&mut c)
        .unwrap();
    assert_eq!(replies[2], redis::Value::Int(2), "{replies:?}");
    assert_eq!(run::<i64>(&mut c, &["DBSIZE"]), 0);
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
}

/// Messages waiting for a subscriber that does not read count toward maxmemory, as Redis counts its
/// output buffers: publishing to it evicts keys, and CLIENT LIST shows its queue in `omem`.
#[test]
fn a_subscribers_unwritten_messages_count_toward_the_limit() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 0 0", "hz", "1"]);
    fill_under_a_limit(&mut c);
    let mut subscriber = s.raw();
    subscriber.send_command(&[b"SUBSCRIBE", b"news"]);
    subscriber.read_frame();
    let message = "m".repeat(100 * 1024);
    // The socket's buffers take the first few megabytes; the rest waits in the subscriber's queue.
    wait_for(|| {
        run::<i64>(&mut c, &["PUBLISH", "news", &message]);
        info_field(&mut c, "evicted_keys") > 0
    });
    let list: String = run(&mut c, &["CLIENT", "LIST"]);
    let omem = list
        .lines()
        .filter(|l| l.contains("cmd=subscribe"))
        .find_map(|l| l.split(' ').find_map(|f| f.strip_prefix("omem=")).and_then(|v| v.parse::<u64>().ok()));
    assert!(omem.is_some_and(|bytes| bytes >= 100 * 1024), "{list}");
    // Once the subscriber is gone its queue no longer counts, at once (the cron, which sums the queues,
    // runs once a second here): writes that fit evict nothing more.
    drop(subscriber);
    gone_and_counted_no_more(&mut c);
}

/// A large reply waiting for a client that does not read counts toward maxmemory while it waits (its
/// buffer is published before the write that stalls, not once it is written).
#[test]
fn a_large_reply_waiting_for_its_reader_counts_toward_the_limit() {
    let s = TestServer::start();
    let mut c = s.client();
    // Larger than the socket's buffers take: most of it waits in the connection's reply buffer.
    run::<()>(&mut c, &["SET", "big", &"b".repeat(32 * 1024 * 1024)]);
    fill_under_a_limit(&mut c);
    let mut reader = s.raw();
    reader.send_command(&[b"GET", b"big"]);
    wait_for(|| {
        run::<()>(&mut c, &["PING"]);
        info_field(&mut c, "evicted_keys") > 0
    });
    drop(reader);
    run::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
}

/// A connection that becomes a replica's feed (SYNC) leaves what maxmemory counts of clients at once
/// (INFO's `mem_clients_normal`), as Redis leaves replicas' buffers out: here one whose reply buffer grew
/// to 2 MB for the GET before its SYNC.
#[test]
fn a_replica_s_feed_is_not_counted_as_a_client() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["SET", "big", &"b".repeat(2 * 1024 * 1024)]);
    let mut replica = s.raw();
    replica.send(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n*1\r\n$4\r\nSYNC\r\n");
    replica.read_frame();
    wait_for(|| info_field(&mut c, "mem_clients_normal") < 1024 * 1024);
    drop(replica);
}

//! Pub/sub over real sockets: exact RESP2 replies and subscriber mode, RESP3 pushes on a normal connection,
//! patterns and shard channels, PUBSUB introspection, cleanup when a subscriber leaves, and a subscriber that
//! never reads being cut off by `client-output-buffer-limit pubsub` while the others get every message.

mod common;

use common::{run, wait_for, TestServer};
use std::time::{Duration, Instant};

/// A RESP3 connection subscribed to `channel`, its confirmation read.
fn resp3_subscriber(server: &TestServer, channel: &str) -> common::Raw {
    let mut sub = server.raw();
    sub.send(b"HELLO 3\r\n");
    sub.read_frame();
    sub.send(format!("SUBSCRIBE {channel}\r\n").as_bytes());
    sub.expect(format!(">3\r\n$9\r\nsubscribe\r\n${}\r\n{channel}\r\n:1\r\n", channel.len()).as_bytes());
    sub
}

#[test]
fn resp2_subscribe_publish_unsubscribe_on_the_wire() {
    let server = TestServer::start();
    let mut sub = server.raw();
    sub.send(b"SUBSCRIBE news sport\r\n");
    sub.expect(b"*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n");
    let mut publisher = server.client();
    assert_eq!(run::<i64>(&mut publisher, &["PUBLISH", "news", "hello"]), 1);
    assert_eq!(run::<i64>(&mut publisher, &["PUBLISH", "nobody", "hello"]), 0);
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n");
    // Subscriber mode: only subscription commands, PING in message shape.
    sub.send(b"GET x\r\n");
    sub.expect(
        b"-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    sub.send(b"PING\r\n");
    sub.expect(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    sub.send(b"UNSUBSCRIBE\r\n");
    sub.expect(b"*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:0\r\n");
    sub.send(b"UNSUBSCRIBE\r\n");
    sub.expect(b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    sub.send(b"GET x\r\n");
    sub.expect(b"$-1\r\n");
}

#[test]
fn patterns_and_shard_channels() {
    let server = TestServer::start();
    let mut sub = server.raw();
    sub.send(b"PSUBSCRIBE news.*\r\n");
    sub.expect(b"*3\r\n$10\r\npsubscribe\r\n$6\r\nnews.*\r\n:1\r\n");
    let mut publisher = server.client();
    assert_eq!(run::<i64>(&mut publisher, &["PUBLISH", "news.tech", "x"]), 1);
    sub.expect(b"*4\r\n$8\r\npmessage\r\n$6\r\nnews.*\r\n$9\r\nnews.tech\r\n$1\r\nx\r\n");
    let mut shard = server.raw();
    shard.send(b"SSUBSCRIBE orders\r\n");
    shard.expect(b"*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n");
    assert_eq!(run::<i64>(&mut publisher, &["SPUBLISH", "orders", "42"]), 1);
    assert_eq!(run::<i64>(&mut publisher, &["PUBLISH", "orders", "42"]), 0, "shard and plain channels are apart");
    shard.expect(b"*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$2\r\n42\r\n");
    assert_eq!(run::<i64>(&mut publisher, &["PUBSUB", "NUMPAT"]), 1);
    assert_eq!(run::<Vec<String>>(&mut publisher, &["PUBSUB", "SHARDCHANNELS"]), ["orders"]);
    assert_eq!(
        run::<Vec<String>>(&mut publisher, &["PUBSUB", "SHARDNUMSUB", "orders", "none"]),
        ["orders", "1", "none", "0"]
    );
}

#[test]
fn resp3_pushes_arrive_on_a_normal_connection() {
    let server = TestServer::start();
    let mut sub = resp3_subscriber(&server, "ch");
    sub.send(b"SET k v\r\nGET k\r\n");
    sub.expect(b"+OK\r\n$1\r\nv\r\n");
    run::<i64>(&mut server.client(), &["PUBLISH", "ch", "payload"]);
    sub.expect(b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$7\r\npayload\r\n");
}

#[test]
fn introspection_and_cleanup_when_a_subscriber_leaves() {
    let server = TestServer::start();
    let mut con = server.client();
    {
        let mut sub = server.raw();
        sub.send(b"SUBSCRIBE a b\r\n");
        sub.read_frame();
        sub.read_frame();
        let mut channels: Vec<String> = run(&mut con, &["PUBSUB", "CHANNELS"]);
        channels.sort();
        assert_eq!(channels, ["a", "b"]);
        assert_eq!(run::<Vec<String>>(&mut con, &["PUBSUB", "CHANNELS", "a*"]), ["a"]);
        assert_eq!(run::<Vec<String>>(&mut con, &["PUBSUB", "NUMSUB", "a", "c"]), ["a", "1", "c", "0"]);
        let list: String = run(&mut con, &["CLIENT", "LIST"]);
        assert!(list.lines().any(|l| l.contains("sub=2") && l.contains("flags=P")), "{list}");
    }
    wait_for(|| run::<Vec<String>>(&mut con, &["PUBSUB", "CHANNELS"]).is_empty());
    assert_eq!(run::<i64>(&mut con, &["PUBLISH", "a", "x"]), 0);
}

#[test]
fn reset_leaves_subscriber_mode() {
    let server = TestServer::start();
    let mut sub = server.raw();
    sub.send(b"SUBSCRIBE a\r\n");
    sub.read_frame();
    sub.send(b"RESET\r\nGET x\r\n");
    sub.expect(b"+RESET\r\n$-1\r\n");
    assert_eq!(run::<i64>(&mut server.client(), &["PUBLISH", "a", "x"]), 0);
}

#[test]
fn a_real_client_receives_messages() {
    let server = TestServer::start();
    let mut con = server.client();
    let mut pubsub = con.as_pubsub();
    pubsub.subscribe("events").unwrap();
    pubsub.psubscribe("user:*").unwrap();
    let mut publisher = server.client();
    assert_eq!(run::<i64>(&mut publisher, &["PUBLISH", "events", "one"]), 1);
    assert_eq!(run::<i64>(&mut publisher, &["PUBLISH", "user:7", "two"]), 1);
    let first = pubsub.get_message().unwrap();
    assert_eq!((first.get_channel_name(), first.get_payload::<String>().unwrap()), ("events", "one".to_string()));
    let second = pubsub.get_message().unwrap();
    assert_eq!(second.get_pattern::<String>().unwrap(), "user:*");
    assert_eq!(second.get_payload::<String>().unwrap(), "two");
}

#[test]
fn a_subscriber_that_never_reads_is_cut_off_and_the_others_get_everything() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 256kb 1"]);
    let mut stuck = server.raw();
    stuck.send(b"SUBSCRIBE firehose\r\n");
    stuck.read_frame();
    let mut reader = server.raw();
    reader.send(b"SUBSCRIBE firehose\r\n");
    reader.read_frame();
    let payload = "x".repeat(10_000);
    const MESSAGES: usize = 600;
    let reading = std::thread::spawn(move || {
        let mut got = 0;
        while got < MESSAGES {
            reader.read_frame();
            got += 1;
        }
        (got, reader)
    });
    let started = Instant::now();
    let mut received = Vec::new();
    for _ in 0..MESSAGES {
        received.push(run::<i64>(&mut con, &["PUBLISH", "firehose", &payload]));
    }
    assert!(started.elapsed() < Duration::from_secs(20), "the publisher was not held up");
    let (got, _reader) = reading.join().unwrap();
    assert_eq!(got, MESSAGES, "the reading subscriber got every message");
    assert_eq!(received[0], 2);
    assert_eq!(*received.last().unwrap(), 1, "the stuck subscriber was dropped");
    wait_for(|| run::<Vec<String>>(&mut con, &["PUBSUB", "NUMSUB", "firehose"])[1] == "1");
    let list: String = run(&mut con, &["CLIENT", "LIST"]);
    assert_eq!(list.lines().filter(|l| l.contains("sub=1")).count(), 1, "{list}");
    let _ = stuck.drain_until_closed();
}

#[test]
fn subscription_notifications_are_pushes_that_client_reply_off_does_not_silence() {
    let server = TestServer::start();
    let mut sub = server.raw();
    sub.send(b"CLIENT REPLY OFF\r\nSUBSCRIBE ch\r\nPING\r\n");
    sub.expect(b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    run::<i64>(&mut server.client(), &["PUBLISH", "ch", "m"]);
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n");
}

#[test]
fn keyspace_notifications_follow_the_enabled_classes() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    assert_eq!(run::<Vec<String>>(&mut con, &["CONFIG", "GET", "notify-keyspace-events"])[1], "AKE");
    let mut sub = server.raw();
    sub.send(b"PSUBSCRIBE *\r\n");
    sub.read_frame();
    let mut next = || match sub.read_frame() {
        keel_protocol::Frame::Array(parts) => parts
            .into_iter()
            .skip(2)
            .map(|p| match p {
                keel_protocol::Frame::Bulk(b) => String::from_utf8(b).unwrap(),
                other => panic!("{other:?}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => panic!("{other:?}"),
    };
    run::<()>(&mut con, &["SET", "foo", "bar"]);
    assert_eq!(next(), "__keyspace@0__:foo set");
    assert_eq!(next(), "__keyevent@0__:set foo");
    run::<()>(&mut con, &["RPUSH", "l", "a"]);
    run::<String>(&mut con, &["LPOP", "l"]);
    assert_eq!(next(), "__keyspace@0__:l rpush");
    assert_eq!(next(), "__keyevent@0__:rpush l");
    assert_eq!(next(), "__keyspace@0__:l lpop");
    assert_eq!(next(), "__keyevent@0__:lpop l");
    assert_eq!(next(), "__keyspace@0__:l del", "the emptied list is deleted");
    assert_eq!(next(), "__keyevent@0__:del l");
    run::<()>(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Ex"]);
    run::<()>(&mut con, &["PSETEX", "short", "50", "v"]);
    assert_eq!(next(), "__keyevent@0__:expired short", "background expiry");
    run::<()>(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Kh"]);
    run::<()>(&mut con, &["HSET", "h", "f", "1"]);
    run::<()>(&mut con, &["SET", "ignored", "x"]);
    run::<i64>(&mut con, &["HINCRBY", "h", "f", "2"]);
    assert_eq!(next(), "__keyspace@0__:h hset");
    assert_eq!(next(), "__keyspace@0__:h hincrby");
    // `m`: reads of missing keys (not in `A`, as in Redis).
    run::<()>(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "Em"]);
    run::<Option<String>>(&mut con, &["GET", "ignored"]);
    run::<Option<String>>(&mut con, &["GET", "nothing-here"]);
    assert_eq!(next(), "__keyevent@0__:keymiss nothing-here");
}

#[test]
fn a_subscriber_that_switches_protocol_gets_messages_in_the_new_one() {
    let server = TestServer::start();
    let mut sub = resp3_subscriber(&server, "ch");
    sub.send(b"HELLO 2\r\n");
    sub.read_frame();
    run::<i64>(&mut server.client(), &["PUBLISH", "ch", "m"]);
    sub.expect(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n");
}

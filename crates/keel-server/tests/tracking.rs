//! Client-side caching over real sockets: default-mode invalidations as RESP3 pushes, redirection to a RESP2
//! subscriber of `__redis__:invalidate`, BCAST with prefixes, NOLOOP, OPTIN with CLIENT CACHING, flushes, and
//! Redis's error texts.

mod common;

use common::{run, TestServer};

fn tracking_client(server: &TestServer, options: &str) -> common::Raw {
    let mut c = server.raw();
    c.send(b"HELLO 3\r\n");
    c.read_frame();
    c.send(format!("CLIENT TRACKING on {options}\r\n").as_bytes());
    c.expect(b"+OK\r\n");
    c
}

#[test]
fn a_read_key_is_invalidated_once_when_another_client_writes_it() {
    let server = TestServer::start();
    let mut cache = tracking_client(&server, "");
    cache.send(b"GET foo\r\n");
    cache.expect(b"_\r\n");
    let mut writer = server.client();
    run::<()>(&mut writer, &["SET", "foo", "1"]);
    cache.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nfoo\r\n");
    // Invalidated keys are forgotten until read again.
    run::<()>(&mut writer, &["SET", "foo", "2"]);
    cache.send(b"GET foo\r\n");
    cache.expect(b"$1\r\n2\r\n");
    run::<()>(&mut writer, &["DEL", "foo"]);
    cache.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nfoo\r\n");
}

#[test]
fn invalidations_redirect_to_a_resp2_subscriber() {
    let server = TestServer::start();
    let mut listener = server.raw();
    listener.send(b"CLIENT ID\r\n");
    let keel_protocol::Frame::Integer(listener_id) = listener.read_frame() else { panic!() };
    listener.send(b"SUBSCRIBE __redis__:invalidate\r\n");
    listener.read_frame();
    let mut cache = server.raw();
    cache.send(format!("CLIENT TRACKING on REDIRECT {listener_id}\r\nGET k\r\nCLIENT GETREDIR\r\n").as_bytes());
    cache.expect(format!("+OK\r\n$-1\r\n:{listener_id}\r\n").as_bytes());
    run::<()>(&mut server.client(), &["SET", "k", "v"]);
    listener.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n");
    run::<()>(&mut server.client(), &["FLUSHALL"]);
    listener.expect(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*-1\r\n");
}

#[test]
fn bcast_prefixes_noloop_and_optin() {
    let server = TestServer::start();
    let mut bcast = tracking_client(&server, "BCAST PREFIX user: NOLOOP");
    let mut writer = server.client();
    run::<()>(&mut writer, &["SET", "other:1", "x"]);
    run::<()>(&mut writer, &["SET", "user:1", "x"]);
    bcast.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:1\r\n");
    // NOLOOP: its own write is not reported back to it.
    bcast.send(b"SET user:2 mine\r\nPING\r\n");
    bcast.expect(b"+OK\r\n+PONG\r\n");
    run::<()>(&mut writer, &["SET", "user:3", "x"]);
    bcast.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:3\r\n");
    let mut optin = tracking_client(&server, "OPTIN");
    optin.send(b"GET a\r\nCLIENT CACHING yes\r\nGET b\r\n");
    optin.expect(b"_\r\n+OK\r\n_\r\n");
    run::<()>(&mut writer, &["MSET", "a", "1", "b", "1"]);
    optin.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nb\r\n");
    optin.send(b"PING\r\n");
    optin.expect(b"+PONG\r\n");
}

#[test]
fn tracking_options_are_checked_with_redis_texts() {
    let server = TestServer::start();
    let mut c = server.client();
    let err = |c: &mut redis::Connection, args: &[&str]| common::error_of(c, args);
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "on", "PREFIX", "a"]),
        "ERR PREFIX option requires BCAST mode to be enabled"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"]),
        "ERR You can't use OPTIN and OPTOUT at the same time"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "TRACKING", "on", "REDIRECT", "9999"]),
        "ERR The client ID you want redirect to does not exist"
    );
    assert_eq!(
        err(&mut c, &["CLIENT", "CACHING", "yes"]),
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"
    );
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "GETREDIR"]), -1);
    run::<()>(&mut c, &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b"]);
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "GETREDIR"]), 0);
    assert!(err(&mut c, &["CLIENT", "TRACKING", "on"]).starts_with("ERR You can't switch BCAST mode on/off"));
    let list: String = run(&mut c, &["CLIENT", "INFO"]);
    assert!(list.contains("flags=tB"), "{list}");
    run::<()>(&mut c, &["CLIENT", "TRACKING", "off"]);
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "GETREDIR"]), -1);
}

#[test]
fn the_tracking_table_is_kept_within_its_limit_and_a_broken_redirection_is_reported() {
    let server = TestServer::start();
    let mut cache = tracking_client(&server, "");
    cache.send(b"MGET k1 k2 k3\r\n");
    cache.read_frame();
    run::<()>(&mut server.client(), &["CONFIG", "SET", "tracking-table-max-keys", "1"]);
    // Two of the three keys are evicted from the table, each with an invalidation.
    for _ in 0..2 {
        let keel_protocol::Frame::Push(parts) = cache.read_frame() else { panic!("expected a push") };
        assert_eq!(parts[0], keel_protocol::Frame::Bulk(b"invalidate".to_vec()));
    }
    run::<()>(&mut server.client(), &["CONFIG", "SET", "tracking-table-max-keys", "0"]);
    // A redirection whose target left: the client is told its redirection broke.
    let mut target = server.raw();
    target.send(b"CLIENT ID\r\n");
    let keel_protocol::Frame::Integer(target_id) = target.read_frame() else { panic!() };
    let mut redirected = server.raw();
    redirected.send(format!("HELLO 3\r\nCLIENT TRACKING on REDIRECT {target_id}\r\nGET x\r\n").as_bytes());
    redirected.read_frame();
    redirected.expect(b"+OK\r\n_\r\n");
    drop(target);
    common::wait_for(|| {
        !run::<String>(&mut server.client(), &["CLIENT", "LIST"]).contains(&format!("id={target_id} "))
    });
    run::<()>(&mut server.client(), &["SET", "x", "1"]);
    redirected.expect(format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{target_id}\r\n").as_bytes());
}

#[test]
fn info_reports_the_tracking_table() {
    let server = TestServer::start();
    let mut cache = tracking_client(&server, "");
    cache.send(b"MGET a b\r\n");
    cache.read_frame();
    let _bcast = tracking_client(&server, "BCAST PREFIX x:");
    let mut c = server.client();
    let info: String = run(&mut c, &["INFO"]);
    for field in ["tracking_clients:2", "tracking_total_keys:2", "tracking_total_items:2", "tracking_total_prefixes:1"]
    {
        assert!(info.contains(field), "{field} in {info}");
    }
}

#[test]
fn a_script_tracks_the_keys_its_reads_read() {
    let server = TestServer::start();
    let mut cache = tracking_client(&server, "");
    let mut writer = server.client();
    // Only writes: nothing tracked, whatever keys the script declared.
    cache.send(b"EVAL \"redis.call('set', 'k3', 'x')\" 2 k1 k2\r\n");
    cache.expect(b"_\r\n");
    run::<()>(&mut writer, &["MSET", "k1", "1", "k2", "1"]);
    // A read: the key it read (not the declared ones) is tracked for the caller, as in Redis 7.2.
    cache.send(b"EVAL \"return redis.call('get', 'k3')\" 2 k1 k2\r\n");
    cache.expect(b"$1\r\nx\r\n");
    run::<()>(&mut writer, &["MSET", "k2", "2", "k1", "2", "k3", "2"]);
    cache.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk3\r\n");
    cache.send(b"PING\r\n");
    cache.expect(b"+PONG\r\n");
}

/// Regression: an invalidation for a key evicted before a command ran came after that command's reply;
/// Redis evicts before it starts the command, so the client hears of the eviction first.
#[test]
fn an_eviction_is_announced_before_the_reply_of_the_command_it_made_room_for() {
    let server = TestServer::start();
    let mut admin = server.client();
    let mut cache = tracking_client(&server, "");
    cache.send(b"SETEX volatile-key 10000 x\r\n");
    cache.expect(b"+OK\r\n");
    cache.send(b"GET volatile-key\r\n");
    cache.expect(b"$1\r\nx\r\n");
    let info: String = run(&mut admin, &["INFO", "memory"]);
    let field = |name: &str| -> u64 {
        info.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap().trim().parse().unwrap()
    };
    let limit = field("used_memory") - field("mem_not_counted_for_evict") + 100 * 1024;
    run::<()>(&mut admin, &["CONFIG", "SET", "maxmemory-policy", "volatile-random"]);
    run::<()>(&mut admin, &["CONFIG", "SET", "maxmemory", &limit.to_string()]);
    // 200 KB in one key takes memory past the limit; the next command evicts the volatile key first.
    cache.send(b"SETBIT big-key 1600000 0\r\n");
    cache.expect(b":0\r\n");
    cache.send(b"GETBIT big-key 0\r\n");
    cache.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$12\r\nvolatile-key\r\n:0\r\n");
}

/// Regression: invalidations redirected to a RESP3 connection that neither tracks nor subscribes itself
/// were lost; Redis pushes them to it, and so does Keel, until it goes back to RESP2 or leaves.
#[test]
fn invalidations_redirect_to_a_resp3_connection_that_does_not_track() {
    let server = TestServer::start();
    let mut target = server.raw();
    target.send(b"HELLO 3\r\n");
    target.read_frame();
    target.send(b"CLIENT ID\r\n");
    let keel_protocol::Frame::Integer(id) = target.read_frame() else { panic!("an id") };
    let mut cache = server.raw();
    cache.send(format!("CLIENT TRACKING on REDIRECT {id}\r\n").as_bytes());
    cache.expect(b"+OK\r\n");
    cache.send(b"GET foo\r\n");
    cache.expect(b"$-1\r\n");
    let mut writer = server.client();
    run::<()>(&mut writer, &["SET", "foo", "1"]);
    target.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nfoo\r\n");
    // Back in RESP2, and not subscribed: nothing can reach it (and nothing is kept for it).
    target.send(b"HELLO 2\r\n");
    target.read_frame();
    cache.send(b"GET foo\r\n");
    cache.expect(b"$1\r\n1\r\n");
    run::<()>(&mut writer, &["SET", "foo", "2"]);
    target.send(b"PING\r\n");
    target.expect(b"+PONG\r\n");
}

/// A connection that switched to RESP3 while a script held the database busy (HELLO is served without the
/// lock then) is a redirection target like any other.
#[test]
fn a_connection_that_said_hello_3_while_busy_is_a_redirection_target() {
    let server = TestServer::with(|s| s.busy_reply_threshold = 100);
    let mut script_client = server.client();
    let script = std::thread::spawn(move || {
        redis::cmd("EVAL").arg("while true do end").arg(0).query::<redis::Value>(&mut script_client)
    });
    let mut admin = server.client();
    common::wait_for(|| redis::cmd("PING").query::<String>(&mut admin).is_err_and(|e| e.code() == Some("BUSY")));
    let mut target = server.raw();
    target.send(b"HELLO 3\r\n");
    assert!(matches!(target.read_frame(), keel_protocol::Frame::Map(_)), "served while busy");
    run::<()>(&mut admin, &["SCRIPT", "KILL"]);
    let _ = script.join();
    target.send(b"CLIENT ID\r\n");
    let keel_protocol::Frame::Integer(id) = target.read_frame() else { panic!("an id") };
    let mut cache = server.raw();
    cache.send(format!("CLIENT TRACKING on REDIRECT {id}\r\nGET foo\r\n").as_bytes());
    cache.expect(b"+OK\r\n$-1\r\n");
    run::<()>(&mut admin, &["SET", "foo", "1"]);
    target.expect(b">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nfoo\r\n");
}

/// A key the NOLOOP client's own read finds expired is announced to it: the deletion is the expiry's, not
/// the client's change (Redis signals it with no client). A key it writes over after finding it expired is
/// its own change, and is not.
#[test]
fn noloop_hears_of_keys_its_own_reads_found_expired() {
    let server = TestServer::start();
    run::<()>(&mut server.client(), &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let mut bcast = tracking_client(&server, "BCAST NOLOOP");
    bcast.send(b"SET gone v PX 1\r\nSET rewritten v PX 1\r\n");
    bcast.expect(b"+OK\r\n+OK\r\n");
    std::thread::sleep(std::time::Duration::from_millis(20));
    // The reply first: broadcast invalidations go out once the batch is done, as Redis sends them before it
    // sleeps.
    bcast.send(b"GET gone\r\n");
    bcast.expect(b"_\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$4\r\ngone\r\n");
    bcast.send(b"SET rewritten again\r\nPING\r\n");
    bcast.expect(b"+OK\r\n+PONG\r\n");
}

/// A lowered `tracking-table-max-keys` takes effect at the next command, even one MULTI queues, and a
/// client told on its own connection hears of the keys let go before that command's reply (Redis #11715).
#[test]
fn a_lowered_table_limit_applies_at_the_next_command_even_a_queued_one() {
    let server = TestServer::start();
    let mut admin = server.client();
    run::<()>(&mut admin, &["DEBUG", "PAUSE-CRON", "1"]);
    let mut cache = tracking_client(&server, "");
    cache.send(b"MGET a b\r\nMULTI\r\n");
    cache.expect(b"*2\r\n_\r\n_\r\n+OK\r\n");
    run::<()>(&mut admin, &["CONFIG", "SET", "tracking-table-max-keys", "1"]);
    cache.send(b"PING\r\n");
    use keel_protocol::Frame;
    let Frame::Push(push) = cache.read_frame() else { panic!("no invalidation before the reply") };
    let Frame::Array(keys) = &push[1] else { panic!("{push:?}") };
    assert!(matches!(&keys[..], [Frame::Bulk(k)] if k == b"a" || k == b"b"), "{push:?}");
    cache.expect(b"+QUEUED\r\n");
    run::<()>(&mut admin, &["DEBUG", "PAUSE-CRON", "0"]);
}

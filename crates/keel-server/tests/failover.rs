//! FAILOVER over real sockets: a Keel primary hands its databases to a Keel replica (the default one and
//! every provisioned one), to Debian's redis-server, and takes over from a redis-server that fails over to
//! it; a failover waits for its target with writes held, gives up at its timeout, goes on with FORCE, can
//! be aborted, and ends with the primary still a primary when the target refuses.

mod common;
use common::replicas::{dataset, info_field, partitionable_proxy, wait_until_in_sync, write_workload};
use common::{error_of, run, wait_for, RealRedis, TestServer};

fn role(con: &mut redis::Connection) -> String {
    info_field(con, "replication", "role")
}

fn failover_state(con: &mut redis::Connection) -> String {
    info_field(con, "replication", "master_failover_state")
}

/// A Keel primary and Debian's redis-server as its replica, online (None without redis-server).
fn keel_with_a_redis_replica() -> Option<(TestServer, RealRedis)> {
    let keel = TestServer::start();
    let port = keel.addr.port().to_string();
    let redis = RealRedis::start(&["--replicaof", "127.0.0.1", &port, "--repl-diskless-sync-delay", "0"])?;
    let mut k = keel.client();
    wait_for(|| info_field(&mut k, "replication", "slave0").contains("state=online"));
    Some((keel, redis))
}

#[test]
fn a_failover_hands_every_database_to_a_keel_replica() {
    let a = TestServer::with(|s| s.admin_token = "admin-secret".into());
    let app = common::create_database(&a, "admin-secret", r#"{"name":"app"}"#);
    let password = app["password"].as_str().unwrap().to_string();
    let connect = |server: &TestServer| {
        let url = format!("redis://default:{password}@{}/", server.addr);
        redis::Client::open(url).unwrap().get_connection().unwrap()
    };
    let mut a_default = a.client();
    let mut a_app = connect(&a);
    write_workload(&mut a_default, "default");
    write_workload(&mut a_app, "app");
    let a_port = a.addr.port();
    let b = TestServer::with(move |s| s.replicaof = format!("127.0.0.1:{a_port}"));
    wait_for(|| b.server.tenants.read().contains_key("app"));
    let mut b_default = b.client();
    let mut b_app = connect(&b);
    wait_until_in_sync(&mut a_default, &mut b_default);
    wait_until_in_sync(&mut a_app, &mut b_app);
    wait_for(|| info_field(&mut a_app, "replication", "slave0").contains("state=online"));

    let b_port = b.addr.port().to_string();
    run::<()>(&mut a_default, &["FAILOVER", "TO", "127.0.0.1", &b_port]);
    wait_for(|| failover_state(&mut a_default) == "no-failover");
    assert_eq!(role(&mut a_default), "slave");
    assert_eq!(role(&mut b_default), "master");
    // A database's own client cannot promote its copy on a replica server.
    let replid = info_field(&mut a_app, "replication", "master_replid");
    let refused = error_of(&mut a_app, &["PSYNC", &replid, "1", "FAILOVER"]);
    assert_eq!(refused, "ERR 'psync|failover' acts on the whole server and is not available to a database");
    wait_for(|| role(&mut b_app) == "master" && role(&mut a_app) == "slave");
    // Both databases continued their streams: no full copy either way.
    wait_for(|| info_field(&mut b_app, "stats", "sync_partial_ok") == "1");
    assert_eq!(info_field(&mut b_default, "stats", "sync_partial_ok"), "1");
    assert_eq!(info_field(&mut b_default, "stats", "sync_full"), "0");
    assert_eq!(info_field(&mut b_app, "stats", "sync_full"), "0");

    // The old primary now refuses writes and follows the new one.
    assert!(error_of(&mut a_default, &["SET", "k", "v"]).starts_with("READONLY"));
    assert!(error_of(&mut a_app, &["SET", "k", "v"]).starts_with("READONLY"));
    write_workload(&mut b_default, "after");
    write_workload(&mut b_app, "after");
    wait_until_in_sync(&mut b_default, &mut a_default);
    wait_until_in_sync(&mut b_app, &mut a_app);
    assert_eq!(run::<String>(&mut a_app, &["GET", "app:s"]), "v");
    assert!(dataset(&mut a_default).iter().all(|line| !line.starts_with("app:")));
}

#[test]
fn keel_fails_over_to_redis_server_and_takes_over_from_it() {
    let Some((keel, redis)) = keel_with_a_redis_replica() else { return };
    let (mut k, mut r) = (keel.client(), redis.client());
    write_workload(&mut k, "before");
    wait_until_in_sync(&mut k, &mut r);
    let port = keel.addr.port().to_string();

    // To any replica: redis-server is the only one.
    run::<()>(&mut k, &["FAILOVER"]);
    wait_for(|| failover_state(&mut k) == "no-failover");
    assert_eq!(role(&mut k), "slave");
    assert_eq!(role(&mut r), "master");
    assert_eq!(info_field(&mut r, "stats", "sync_partial_ok"), "1");
    write_workload(&mut r, "on-redis");
    wait_until_in_sync(&mut r, &mut k);
    let refused = error_of(&mut keel.client(), &["PSYNC", "another-stream", "1", "FAILOVER"]);
    assert_eq!(refused, "ERR PSYNC FAILOVER replid must match my replid.");

    // And back: redis-server asks Keel to take over with PSYNC .. FAILOVER.
    wait_for(|| info_field(&mut r, "replication", "slave0").contains("state=online"));
    run::<()>(&mut r, &["FAILOVER", "TO", "127.0.0.1", &port]);
    wait_for(|| failover_state(&mut r) == "no-failover");
    assert_eq!(role(&mut r), "slave");
    assert_eq!(role(&mut k), "master");
    wait_for(|| info_field(&mut r, "replication", "master_link_status") == "up");
    // No full copy: the one full sync is redis-server's first. (Partial ones may be two: redis-server's own
    // reconnection, after Keel's hand-over cut its link, can reach Keel just after Keel followed it, and is
    // accepted as a sub-replica's would be, as redis-server accepts it in Keel's place.)
    assert!(info_field(&mut k, "stats", "sync_partial_ok").parse::<u64>().is_ok_and(|n| n >= 1));
    assert_eq!(info_field(&mut k, "stats", "sync_full"), "1");
    write_workload(&mut k, "on-keel");
    wait_until_in_sync(&mut k, &mut r);
}

#[test]
fn a_failover_holds_writes_until_it_gives_up_is_aborted_or_forced() {
    let Some((keel, redis)) = keel_with_a_redis_replica() else { return };
    let (mut k, mut r) = (keel.client(), redis.client());
    let target = redis.port.to_string();
    assert_eq!(error_of(&mut k, &["FAILOVER", "ABORT"]), "ERR No failover in progress.");
    assert_eq!(
        error_of(&mut k, &["FAILOVER", "TO", "127.0.0.1", "1"]),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );

    // The replica never catches up: after its timeout the failover gives up and held writes go on here.
    redis.signal("STOP");
    run::<()>(&mut k, &["SET", "case", "1"]);
    run::<()>(&mut k, &["FAILOVER", "TO", "127.0.0.1", &target, "TIMEOUT", "500"]);
    let mut held = keel.raw();
    held.send(b"SET held yes\r\n");
    wait_for(|| info_field(&mut k, "clients", "blocked_clients") == "1");
    assert_eq!(failover_state(&mut k), "waiting-for-sync");
    assert_eq!(run::<String>(&mut k, &["GET", "case"]), "1");
    assert_eq!(error_of(&mut k, &["FAILOVER"]), "ERR FAILOVER already in progress.");
    assert_eq!(error_of(&mut k, &["REPLICAOF", "NO", "ONE"]), "ERR REPLICAOF not allowed while failing over.");
    held.expect(b"+OK\r\n");
    assert_eq!(failover_state(&mut k), "no-failover");
    assert_eq!(role(&mut k), "master");

    // Aborted by hand.
    run::<()>(&mut k, &["FAILOVER", "TO", "127.0.0.1", &target, "TIMEOUT", "60000"]);
    assert_eq!(failover_state(&mut k), "waiting-for-sync");
    held.send(b"SET held again\r\n");
    wait_for(|| info_field(&mut k, "clients", "blocked_clients") == "1");
    run::<()>(&mut k, &["FAILOVER", "ABORT"]);
    held.expect(b"+OK\r\n");
    assert_eq!(failover_state(&mut k), "no-failover");
    redis.signal("CONT");
    wait_until_in_sync(&mut k, &mut r);

    // Forced past its timeout: the primary follows its target whether or not it caught up.
    wait_for(|| info_field(&mut k, "replication", "slave0").contains("state=online"));
    redis.signal("STOP");
    run::<()>(&mut k, &["SET", "case", "2"]);
    run::<()>(&mut k, &["FAILOVER", "TO", "127.0.0.1", &target, "TIMEOUT", "100", "FORCE"]);
    wait_for(|| failover_state(&mut k) == "failover-in-progress");
    assert_eq!(role(&mut k), "slave");
    redis.signal("CONT");
    wait_for(|| failover_state(&mut k) == "no-failover");
    assert_eq!(role(&mut r), "master");
    wait_for(|| info_field(&mut k, "replication", "master_link_status") == "up");
    run::<()>(&mut r, &["SET", "on-redis", "1"]);
    wait_until_in_sync(&mut r, &mut k);
}

#[test]
fn a_failover_the_target_refuses_leaves_the_primary_a_primary() {
    let Some((keel, redis)) = keel_with_a_redis_replica() else { return };
    let (mut k, mut r) = (keel.client(), redis.client());
    run::<()>(&mut r, &["ACL", "SETUSER", "default", "-psync"]);
    run::<()>(&mut k, &["FAILOVER"]);
    wait_for(|| failover_state(&mut k) == "no-failover");
    assert_eq!(role(&mut k), "master");
    run::<()>(&mut k, &["SET", "after", "1"]);
    // The replica copied nothing new from a server that was briefly its replica: it continues.
    run::<()>(&mut r, &["ACL", "SETUSER", "default", "+psync"]);
    wait_until_in_sync(&mut k, &mut r);
    assert_eq!(role(&mut r), "slave");

    // PSYNC .. FAILOVER to a primary, or naming another stream, is refused.
    assert_eq!(error_of(&mut k, &["PSYNC", "x", "1", "FAILOVER"]), "ERR PSYNC FAILOVER can't be sent to a master.");
}

/// With a Keel replica (which would take every database) cut off and a redis-server replica caught up, a
/// FAILOVER to any replica picks the redis-server, which takes the default database alone: the provisioned
/// database's writes, held while the choice was open, go on here.
#[test]
fn provisioned_databases_stay_when_the_chosen_replica_is_a_redis_server() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let a = TestServer::with(|s| s.admin_token = "admin-secret".into());
    let app = common::create_database(&a, "admin-secret", r#"{"name":"app"}"#);
    let url = format!("redis://default:{}@{}/", app["password"].as_str().unwrap(), a.addr);
    let mut a_app = redis::Client::open(url).unwrap().get_connection().unwrap();
    run::<()>(&mut a_app, &["SET", "before", "1"]);
    let cut = std::sync::Arc::new(AtomicBool::new(false));
    let proxy = partitionable_proxy(a.addr, cut.clone());
    let _b = TestServer::with(move |s| s.replicaof = format!("127.0.0.1:{proxy}"));
    let mut k = a.client();
    wait_for(|| info_field(&mut a_app, "replication", "slave0").contains("state=online"));
    let port = a.addr.port().to_string();
    let Some(redis) = RealRedis::start(&["--replicaof", "127.0.0.1", &port, "--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let mut r = redis.client();
    let online = |k: &mut redis::Connection| run::<String>(k, &["INFO", "replication"]).matches("state=online").count();
    wait_for(|| online(&mut k) == 2);
    cut.store(true, Ordering::Relaxed);
    run::<()>(&mut k, &["SET", "while-cut", "1"]);
    run::<()>(&mut k, &["FAILOVER"]);
    wait_for(|| failover_state(&mut k) == "no-failover");
    assert_eq!(role(&mut k), "slave");
    assert_eq!(role(&mut r), "master");
    assert_eq!(role(&mut a_app), "master");
    run::<()>(&mut a_app, &["SET", "after", "1"]);
    cut.store(false, Ordering::Relaxed);
}

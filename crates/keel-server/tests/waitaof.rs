//! WAITAOF (Redis 7.2) over real sockets: it waits for the local log's fsync, and for Keel replicas whose own
//! logs report, with `REPLCONF ACK .. FACK`, that they fsynced the primary's writes.

mod common;
use common::replicas::info_field;
use common::{error_of, run, wait_for, TestServer};

fn waitaof(con: &mut redis::Connection, numlocal: &str, numreplicas: &str, timeout: &str) -> (i64, i64) {
    run(con, &["WAITAOF", numlocal, numreplicas, timeout])
}

#[test]
fn waitaof_answers_for_the_local_log_and_checks_its_arguments() {
    let keel = TestServer::start();
    let mut con = keel.client();
    run::<()>(&mut con, &["SET", "k", "v"]);
    // `appendfsync everysec`: the reply comes once the next fsync covered the write.
    assert_eq!(waitaof(&mut con, "1", "0", "0"), (1, 0));
    assert_eq!(waitaof(&mut con, "0", "1", "50"), (1, 0), "no replica: the timeout ends it");
    for (args, error) in [
        (["WAITAOF", "2", "0", "0"], "ERR value is out of range, value must between 0 and 1"),
        (["WAITAOF", "x", "0", "0"], "ERR value is not an integer or out of range"),
        (["WAITAOF", "0", "-1", "0"], "ERR value is out of range, must be positive"),
        (["WAITAOF", "0", "0", "-1"], "ERR timeout is negative"),
        (["WAITAOF", "0", "0", "x"], "ERR timeout is not an integer or out of range"),
    ] {
        assert_eq!(error_of(&mut con, &args), error, "{args:?}");
    }
    // Inside a transaction it never blocks.
    run::<()>(&mut con, &["MULTI"]);
    run::<()>(&mut con, &["WAITAOF", "0", "5", "0"]);
    let replies: Vec<(i64, i64)> = run(&mut con, &["EXEC"]);
    assert_eq!(replies, [(1, 0)]);

    let no_log = TestServer::with(|s| s.appendonly = false);
    let mut con = no_log.client();
    assert_eq!(
        error_of(&mut con, &["WAITAOF", "1", "0", "0"]),
        "ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled."
    );
    assert_eq!(waitaof(&mut con, "0", "0", "0"), (0, 0));
}

#[test]
fn waitaof_counts_the_replicas_whose_own_logs_fsynced_the_writes() {
    let primary_server = TestServer::start();
    let mut primary = primary_server.client();
    let port = primary_server.addr.port();
    let logged = TestServer::with(move |s| s.replicaof = format!("127.0.0.1:{port}"));
    let unlogged = TestServer::with(move |s| {
        s.replicaof = format!("127.0.0.1:{port}");
        s.appendonly = false;
    });
    let mut replica = logged.client();
    wait_for(|| info_field(&mut primary, "replication", "connected_slaves") == "2");
    wait_for(|| info_field(&mut replica, "replication", "master_link_status") == "up");
    run::<()>(&mut primary, &["SET", "k", "v"]);
    assert_eq!(waitaof(&mut primary, "1", "1", "10000"), (1, 1));
    // The replica without a log never reports an fsync: asking for both runs into the timeout, with the one
    // that did counted. (The logged replica's fsync of the write is awaited first: it fsyncs once a second
    // and reports on its own cadence, which on a loaded machine can outlast the short timeout below.)
    run::<()>(&mut primary, &["SET", "k", "w"]);
    assert_eq!(waitaof(&mut primary, "1", "1", "10000"), (1, 1));
    assert_eq!(waitaof(&mut primary, "1", "2", "1500"), (1, 1));
    assert_eq!(
        error_of(&mut replica, &["WAITAOF", "0", "0", "0"]),
        "ERR WAITAOF cannot be used with replica instances. Please also note that writes to replicas are just \
         local and are not propagated."
    );
    drop(unlogged);
}

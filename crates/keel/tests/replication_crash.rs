//! Replication across SIGKILLs: a replica killed and restarted continues its primary's stream from the
//! position its own log vouches for (`+CONTINUE`, counted in the primary's `sync_partial_ok`), and a write
//! that `WAIT 1` acknowledged survives the SIGKILL of its primary on the replica.

mod common;

use common::{connect, free_port, keel, temp_dir};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A running Keel, killed with SIGKILL when dropped.
struct Keel(Child);

impl Drop for Keel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, port: u16, replicaof: Option<u16>) -> Keel {
    let mut command = keel();
    command.args(["serve", "--http-port", "0", "--port", &port.to_string(), "--save", ""]).arg("--dir").arg(dir);
    if let Some(primary) = replicaof {
        command.args(["--replicaof", &format!("127.0.0.1:{primary}")]);
    }
    Keel(command.env("KEEL_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap())
}

fn field(con: &mut redis::Connection, section: &str, name: &str) -> String {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_default().to_string()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write(con: &mut redis::Connection, from: u64, to: u64) {
    for i in from..to {
        redis::pipe()
            .cmd("INCR")
            .arg("counter")
            .ignore()
            .cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .ignore()
            .cmd("RPUSH")
            .arg("list")
            .arg(i)
            .ignore()
            .query::<()>(con)
            .unwrap();
    }
}

fn in_sync(primary: &mut redis::Connection, replica: &mut redis::Connection) -> bool {
    let offset = field(primary, "replication", "master_repl_offset");
    field(replica, "replication", "slave_repl_offset") == offset
        && field(replica, "replication", "master_link_status") == "up"
}

#[test]
fn a_replica_killed_with_sigkill_continues_from_its_log() {
    let (primary_dir, replica_dir) = (temp_dir("repl-crash-primary"), temp_dir("repl-crash-replica"));
    let (primary_port, replica_port) = (free_port(), free_port());
    let _primary_process = start(&primary_dir, primary_port, None);
    let mut primary = connect(primary_port, None);
    write(&mut primary, 0, 500);
    let replica_process = start(&replica_dir, replica_port, Some(primary_port));
    let mut replica = connect(replica_port, None);
    wait_until("the replica is in sync", || in_sync(&mut primary, &mut replica));
    // Its log's base becomes the copy (a compaction after the full sync); from then on its log is marked.
    wait_until("the replica's log holds the copy", || {
        field(&mut replica, "persistence", "aof_rewrites") == "1"
            && field(&mut replica, "persistence", "aof_rewrite_in_progress") == "0"
    });
    write(&mut primary, 500, 1000);
    wait_until("the replica is in sync again", || in_sync(&mut primary, &mut replica));

    drop(replica_process);
    write(&mut primary, 1000, 1500);
    let _replica_process = start(&replica_dir, replica_port, Some(primary_port));
    let mut replica = connect(replica_port, None);
    wait_until("the restarted replica is in sync", || in_sync(&mut primary, &mut replica));
    assert_eq!(field(&mut primary, "stats", "sync_partial_ok"), "1", "the restarted replica copied everything again");
    assert_eq!(field(&mut primary, "stats", "sync_full"), "1");
    let counter: i64 = redis::cmd("GET").arg("counter").query(&mut replica).unwrap();
    assert_eq!(counter, 1500);
    let length: i64 = redis::cmd("LLEN").arg("list").query(&mut replica).unwrap();
    assert_eq!(length, 1500, "a command was applied twice or lost across the crash");
    let _ = std::fs::remove_dir_all(&primary_dir);
    let _ = std::fs::remove_dir_all(&replica_dir);
}

#[test]
fn what_wait_acknowledged_survives_the_sigkill_of_the_primary() {
    let (primary_dir, replica_dir) = (temp_dir("wait-primary"), temp_dir("wait-replica"));
    let (primary_port, replica_port) = (free_port(), free_port());
    let primary_process = start(&primary_dir, primary_port, None);
    let mut primary = connect(primary_port, None);
    let _replica_process = start(&replica_dir, replica_port, Some(primary_port));
    let mut replica = connect(replica_port, None);
    wait_until("the replica is in sync", || in_sync(&mut primary, &mut replica));
    let mut acknowledged = Vec::new();
    for i in 0..200 {
        let key = format!("acked:{i}");
        let _: () = redis::cmd("SET").arg(&key).arg(i).query(&mut primary).unwrap();
        let replicas: i64 = redis::cmd("WAIT").arg(1).arg(0).query(&mut primary).unwrap();
        assert_eq!(replicas, 1);
        acknowledged.push(key);
    }
    drop(primary_process);
    for key in &acknowledged {
        let value: Option<String> = redis::cmd("GET").arg(key).query(&mut replica).unwrap();
        assert!(value.is_some(), "{key} was acknowledged by WAIT and lost with the primary");
    }
    let _ = std::fs::remove_dir_all(&primary_dir);
    let _ = std::fs::remove_dir_all(&replica_dir);
}

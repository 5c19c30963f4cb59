//! The etcd client against a real etcd (Debian's etcd-server, started on free loopback ports): reads,
//! writes, compare-and-swap, leases that keep keys alive until revoked, and a prefix watch.

use keel_cluster::etcd::{Etcd, Event};
use std::time::Duration;

#[path = "support/local_etcd.rs"]
mod local_etcd;

fn start() -> Option<(local_etcd::LocalEtcd, Etcd, std::path::PathBuf)> {
    let dir = std::env::temp_dir().join(format!("keel-etcd-client-{}", std::process::id()));
    let local = local_etcd::LocalEtcd::start(&dir)?;
    let etcd = Etcd::new(&format!("etcd://127.0.0.1:{}", local.client)).unwrap();
    Some((local, etcd, dir))
}

#[test]
fn reads_writes_swaps_leases_and_watches() {
    let Some((_local, etcd, dir)) = start() else { return };
    etcd.put("/t/a", b"1", 0).unwrap();
    etcd.put("/t/b", b"2", 0).unwrap();
    etcd.put("/u/c", b"3", 0).unwrap();
    assert_eq!(etcd.get("/t/a").unwrap().map(|kv| kv.value), Some(b"1".to_vec()));
    assert_eq!(etcd.get("/t/none").unwrap(), None);
    let (listed, revision) = etcd.list("/t/").unwrap();
    assert_eq!(listed.iter().map(|kv| kv.key.as_str()).collect::<Vec<_>>(), ["/t/a", "/t/b"]);
    assert!(revision >= 3);
    // Create only if absent; replace only from the revision read.
    assert!(!etcd.create("/t/a", b"again", 0).unwrap());
    assert!(etcd.create("/t/new", b"x", 0).unwrap());
    let read = etcd.get("/t/a").unwrap().unwrap();
    assert!(etcd.replace("/t/a", b"10", read.mod_revision).unwrap());
    assert!(!etcd.replace("/t/a", b"11", read.mod_revision).unwrap(), "a stale revision loses");
    assert!(!etcd.delete_if("/t/a", b"1").unwrap(), "another value stays");
    assert!(etcd.delete_if("/t/new", b"x").unwrap());
    assert_eq!(etcd.get("/t/new").unwrap(), None);
    // A lease keeps its keys while renewed and removes them when revoked.
    let lease = etcd.grant(5).unwrap();
    etcd.put("/t/leased", b"alive", lease).unwrap();
    assert!(etcd.keep_alive(lease).unwrap() > 0);
    assert_eq!(etcd.get("/t/leased").unwrap().map(|kv| kv.lease), Some(lease));
    // A watch from the revision read sees what follows, in order.
    let (_, from) = etcd.list("/t/").unwrap();
    let watcher = etcd.clone();
    let seen = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let _ = watcher.watch("/t/", from, |event| {
            seen.push(event);
            seen.len() < 2
        });
        seen
    });
    std::thread::sleep(Duration::from_millis(200));
    etcd.revoke(lease).unwrap();
    etcd.put("/u/ignored", b"not watched", 0).unwrap();
    etcd.put("/t/b", b"20", 0).unwrap();
    let seen = seen.join().unwrap();
    assert_eq!(seen[0], Event::Delete("/t/leased".into()));
    assert!(matches!(&seen[1], Event::Put(kv) if kv.key == "/t/b" && kv.value == b"20"), "{seen:?}");
    assert_eq!(etcd.keep_alive(lease).unwrap(), 0, "a revoked lease is gone");
    assert!(etcd.get("/t/leased").unwrap().is_none());
    let _ = std::fs::remove_dir_all(dir);
}

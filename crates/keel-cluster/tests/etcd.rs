//! The etcd client against a real etcd (Debian's etcd-server, started on free loopback ports): reads,
//! writes, compare-and-swap, leases that keep keys alive until revoked, and a prefix watch.

use keel_cluster::etcd::{Etcd, Event};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct EtcdProcess(Child, std::path::PathBuf);

impl Drop for EtcdProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start() -> Option<(EtcdProcess, Etcd)> {
    let found = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("etcd").is_file()));
    assert!(found || std::env::var_os("CI").is_none(), "etcd is missing, and CI is set: .ci/run installs etcd-server");
    if !found {
        eprintln!("not run here: etcd is missing (apt-get install etcd-server)");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("keel-etcd-client-{}", std::process::id()));
    let (client, peer) = (free_port(), free_port());
    let child = Command::new("etcd")
        .arg("--data-dir")
        .arg(&dir)
        .args(["--listen-client-urls", &format!("http://127.0.0.1:{client}")])
        .args(["--advertise-client-urls", &format!("http://127.0.0.1:{client}")])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-cluster", &format!("default=http://127.0.0.1:{peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let process = EtcdProcess(child, dir);
    let etcd = Etcd::new(&format!("etcd://127.0.0.1:{client}")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while etcd.get("probe").is_err() {
        assert!(Instant::now() < deadline, "etcd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some((process, etcd))
}

#[test]
fn reads_writes_swaps_leases_and_watches() {
    let Some((_process, etcd)) = start() else { return };
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
}

//! A real etcd (Debian's etcd-server) for tests: started on free loopback ports with its data in a test
//! directory, killed when dropped, restartable on the same ports and data. Shared by keel-cluster's tests
//! and the keel binary's cluster tests (included by path). Without etcd a test says it did not run, and
//! fails instead when `CI` is set.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalEtcd {
    child: Child,
    dir: PathBuf,
    pub client: u16,
    peer: u16,
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl LocalEtcd {
    /// Starts etcd with its data under `dir`; None (a test that did not run) when etcd is not installed.
    pub fn start(dir: &Path) -> Option<LocalEtcd> {
        let found =
            std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("etcd").is_file()));
        assert!(
            found || std::env::var_os("CI").is_none(),
            "etcd is missing, and CI is set: .ci/run installs etcd-server"
        );
        if !found {
            eprintln!("not run here: etcd is missing (apt-get install etcd-server)");
            return None;
        }
        let (client, peer) = (free_port(), free_port());
        let child = spawn(dir, client, peer);
        Some(LocalEtcd { child, dir: dir.to_path_buf(), client, peer })
    }

    /// Stops etcd (SIGKILL) and starts it again on the same ports with the same data.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.dir, self.client, self.peer);
    }

    pub fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

fn spawn(dir: &Path, client: u16, peer: u16) -> Child {
    let child = Command::new("etcd")
        .arg("--data-dir")
        .arg(dir.join("etcd"))
        .args(["--listen-client-urls", &format!("http://127.0.0.1:{client}")])
        .args(["--advertise-client-urls", &format!("http://127.0.0.1:{client}")])
        .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-advertise-peer-urls", &format!("http://127.0.0.1:{peer}")])
        .args(["--initial-cluster", &format!("default=http://127.0.0.1:{peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = format!("http://127.0.0.1:{client}/v3/kv/range");
    while ureq::post(&url).send_string(r#"{"key":"AA=="}"#).is_err() {
        assert!(Instant::now() < deadline, "etcd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

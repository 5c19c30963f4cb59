//! What the binary's test files share: running `keel`, free ports, scratch directories, connecting.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

pub fn keel() -> Command {
    Command::new(env!("CARGO_BIN_EXE_keel"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Waits until the server answers PING (with `password` if given).
pub fn connect(port: u16, password: Option<&str>) -> redis::Connection {
    let url = match password {
        Some(pw) => format!("redis://default:{pw}@127.0.0.1:{port}/"),
        None => format!("redis://127.0.0.1:{port}/"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut con) = redis::Client::open(url.as_str()).unwrap().get_connection() {
            if redis::cmd("PING").query::<String>(&mut con).is_ok() {
                return con;
            }
        }
        assert!(Instant::now() < deadline, "keel did not start on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

//! Resource exhaustion degrades cleanly: under a low open-files limit Keel lowers `maxclients` to fit (as
//! Redis does) so a client past it is told so instead of hanging, and the HTTP server cuts connections that
//! never send a request and refuses those past its cap.

mod common;

use common::{free_port, keel, temp_dir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

/// A running Keel, killed when dropped.
struct Keel(Child);

impl Drop for Keel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The first line a server sends on `stream` after `request`.
fn first_line(stream: &mut TcpStream, request: &[u8]) -> String {
    stream.write_all(request).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

/// Keel started under an open-files limit of 1024, once it listens: itself, its first client, and the
/// `maxclients` it lowered to. A port another test took between `free_port` and Keel's bind (the suite's
/// tests run at once, and their clients' ephemeral ports come from the same range) is tried again with
/// another; any other exit fails with what Keel printed.
fn keel_under_fd_limit(dir: &std::path::Path) -> (Keel, u16, TcpStream, usize) {
    for _ in 0..5 {
        let port = free_port();
        let mut child = std::process::Command::new("prlimit")
            .args(["--nofile=1024:1024", "--"])
            .arg(env!("CARGO_BIN_EXE_keel"))
            .args(["serve", "--port", &port.to_string(), "--http-port", "0", "--save", ""])
            .arg("--dir")
            .arg(dir)
            .env("KEEL_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("prlimit (util-linux) runs keel");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (lines, printed) = std::sync::mpsc::channel();
        std::thread::spawn(move || stderr.lines().map_while(Result::ok).try_for_each(|line| lines.send(line)));
        let mut keel = Keel(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline && keel.0.try_wait().unwrap().is_none() {
            let Ok(first) = TcpStream::connect(("127.0.0.1", port)) else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            // Keel warns before it listens, so the line is on its way.
            let mut said = std::iter::from_fn(|| printed.recv_timeout(Duration::from_secs(10)).ok());
            let reduced = said.find_map(|line| Some(line.split("reduced to ").nth(1)?.to_string()));
            let maxclients = reduced.and_then(|r| r.split(' ').next()?.parse().ok()).expect("maxclients lowered");
            return (keel, port, first, maxclients);
        }
        let _ = keel.0.kill();
        let said: Vec<String> = printed.iter().collect();
        assert!(said.iter().any(|line| line.contains("Address already in use")), "keel did not start: {said:?}");
    }
    panic!("every port tried was taken");
}

#[test]
fn a_low_open_files_limit_lowers_maxclients_and_the_client_past_it_is_told() {
    let dir = temp_dir("fd-limit");
    let (_keel, port, mut first, maxclients) = keel_under_fd_limit(&dir);
    assert!(maxclients > 100 && maxclients < 1024, "{maxclients}");
    first.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(first_line(&mut first, b"PING\r\n"), "+PONG\r\n");
    // Every client up to the cap is served; the next ones are told, not left waiting.
    let mut clients = Vec::new();
    for _ in 0..maxclients - 1 {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(first_line(&mut c, b"PING\r\n"), "+PONG\r\n");
        clients.push(c);
    }
    for _ in 0..20 {
        let mut late = TcpStream::connect(("127.0.0.1", port)).unwrap();
        late.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        assert_eq!(first_line(&mut late, b"PING\r\n"), "-ERR max number of clients reached\r\n");
    }
    drop(clients);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn http_connections_that_send_nothing_are_cut_and_the_cap_holds() {
    let dir = temp_dir("http-limits");
    let (port, http_port) = (free_port(), free_port());
    let child = keel()
        .args(["serve", "--port", &port.to_string(), "--http-port", &http_port.to_string(), "--save", ""])
        .args(["--set", "http-timeout=1", "--set", "http-max-connections=8"])
        .arg("--dir")
        .arg(&dir)
        .env("KEEL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _keel = Keel(child);
    common::connect(port, None);
    // Eight connections that never finish their headers take every slot...
    let mut silent: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", http_port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: k").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    // ...so the ninth is refused at once rather than queued...
    let mut ninth = TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    ninth.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut refused = String::new();
    ninth.read_to_string(&mut refused).unwrap();
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    // ...and the silent ones are cut after http-timeout, freeing the slots.
    for s in &mut silent {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    let mut fresh = TcpStream::connect(("127.0.0.1", http_port)).unwrap();
    fresh.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let line = first_line(&mut fresh, b"GET /health HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n");
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    let _ = std::fs::remove_dir_all(dir);
}

//! Test harness: a real Keel listening on a free loopback port, driven over real sockets.

#![allow(dead_code)]

pub mod replicas;

use keel_server::Settings;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub struct TestServer {
    pub addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub server: Arc<keel_server::Server>,
    runtime: Option<tokio::runtime::Runtime>,
    /// The other cores' runtimes, homes of databases' connections (see `keel_server::Homes`).
    homes: Vec<tokio::runtime::Runtime>,
    /// Resolves when the server has shut down, its log closed and its final snapshot saved.
    stopped: Option<tokio::task::JoinHandle<()>>,
    /// The data directory the harness made for this server, removed when it stops.
    _dir: Option<TestDir>,
}

/// A fresh directory under the system's temporary directory, removed on drop.
pub struct TestDir(pub std::path::PathBuf);

impl TestDir {
    pub fn new() -> TestDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("keel-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TestDir(path)
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::with(|_| {})
    }

    /// Starts a server after letting `configure` adjust its settings.
    pub fn with(configure: impl FnOnce(&mut Settings)) -> TestServer {
        Self::with_workers(2, configure)
    }

    /// Starts a server on `workers` cores, as `keel serve` runs on a machine of that many: a runtime of one
    /// worker per core, the databases' connections spread over them (one: a one-core machine).
    pub fn with_workers(workers: usize, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = TestDir::new();
        let mut settings = Settings { port: 0, http_port: 0, dir: dir.0.clone(), ..Settings::default() };
        configure(&mut settings);
        let own_dir = (settings.dir == dir.0).then_some(dir);
        let (mut runtimes, homes) = keel_server::Homes::one_runtime_per_core(workers).unwrap();
        let runtime = runtimes.remove(0);
        let running = runtime.block_on(keel_server::start_on(settings, homes)).unwrap();
        let (addr, http_addr, server) = (running.addr, running.http_addr, running.server.clone());
        let stopped = runtime.spawn(running.wait());
        TestServer {
            addr,
            http_addr,
            server,
            runtime: Some(runtime),
            homes: runtimes,
            stopped: Some(stopped),
            _dir: own_dir,
        }
    }

    /// Starts a server on `dir`, which outlives it, so a test can stop the server and start another on
    /// the same data.
    pub fn on_dir(dir: &std::path::Path, configure: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = dir.to_path_buf();
        TestServer::with(move |s| {
            s.dir = dir;
            configure(s);
        })
    }

    pub fn url(&self) -> String {
        format!("redis://{}/", self.addr)
    }

    /// A `redis` crate connection. Its reads time out, so that a server that stops answering fails the
    /// test instead of hanging the suite.
    pub fn client(&self) -> redis::Connection {
        let con = redis::Client::open(self.url()).unwrap().get_connection().unwrap();
        con.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        con
    }

    pub fn raw(&self) -> Raw {
        let stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { stream, pending: Vec::new() }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.begin_shutdown();
        if let (Some(rt), Some(stopped)) = (&self.runtime, self.stopped.take()) {
            let _ = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), stopped).await });
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        for home in self.homes.drain(..) {
            home.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// A raw connection for checking exact bytes on the wire. Bytes read past one reply are kept for the next.
pub struct Raw {
    pub stream: TcpStream,
    pending: Vec<u8>,
}

impl Raw {
    /// A raw connection to any server on a loopback port (a real redis-server, say).
    pub fn connect(port: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Raw { stream, pending: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads more bytes into the pending buffer; false once the server closed the connection.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Reads until `expected.len()` bytes arrived and checks them.
    pub fn expect(&mut self, expected: &[u8]) {
        let got = self.read_exact_len(expected.len());
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(expected));
    }

    pub fn read_exact_len(&mut self, len: usize) -> Vec<u8> {
        while self.pending.len() < len {
            assert!(self.fill(), "connection closed before {len} bytes arrived");
        }
        self.pending.drain(..len).collect()
    }

    /// Reads one complete reply frame.
    pub fn read_frame(&mut self) -> keel_protocol::Frame {
        loop {
            if let Some((frame, used)) = keel_protocol::parse_frame(&self.pending).unwrap() {
                self.pending.drain(..used);
                return frame;
            }
            assert!(self.fill(), "connection closed before a full reply");
        }
    }

    /// True once the server has closed the connection (after any replies still pending).
    pub fn is_closed(&mut self) -> bool {
        self.pending.clear();
        while self.fill() {
            self.pending.clear();
        }
        true
    }

    /// Reads until the server closes the connection; returns how many bytes arrived in all.
    pub fn drain_until_closed(&mut self) -> usize {
        let mut total = std::mem::take(&mut self.pending).len();
        while self.fill() {
            total += std::mem::take(&mut self.pending).len();
        }
        total
    }

    pub fn command(&mut self, args: &[&[u8]]) -> keel_protocol::Frame {
        self.send_command(args);
        self.read_frame()
    }

    /// Sends a command without waiting for its reply.
    pub fn send_command(&mut self, args: &[&[u8]]) {
        let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            bytes.extend(format!("${}\r\n", a.len()).as_bytes());
            bytes.extend_from_slice(a);
            bytes.extend(b"\r\n");
        }
        self.send(&bytes);
    }
}

/// Runs a command and returns the error text it failed with.
pub fn error_of(con: &mut redis::Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let err = cmd.query::<redis::Value>(con).expect_err("expected an error reply");
    let code = err.code().unwrap_or("").to_string();
    let detail = err.detail().unwrap_or("").to_string();
    if code.is_empty() {
        err.to_string()
    } else {
        format!("{code} {detail}")
    }
}

/// Runs a command given as words and returns its reply.
pub fn run<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

/// Polls `done` until it holds (failing the test after 30 seconds).
pub fn wait_for(mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for a condition");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Changes since the last save (`rdb_changes_since_last_save`): what a command counts as writes.
pub fn changes(c: &mut redis::Connection) -> i64 {
    let info: String = run(c, &["INFO", "persistence"]);
    let line = info.lines().find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"));
    line.and_then(|n| n.trim().parse().ok()).expect("INFO persistence reports changes")
}

/// One HTTP/1.1 request over a fresh connection: the status code and the body.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    http_with(addr, method, path, &[], b"")
}

/// [`http`] with extra headers and a body.
pub fn http_with(addr: SocketAddr, method: &str, path: &str, headers: &[&str], body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut request = request.into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or("", |(_, body)| body).to_string();
    (status, body)
}

/// Provisions a database (`body`: the admin API's JSON) with `admin_token`; its definition, secrets included.
pub fn create_database(server: &TestServer, admin_token: &str, body: &str) -> serde_json::Value {
    let auth = format!("Authorization: Bearer {admin_token}");
    let (status, reply) = http_with(
        server.http_addr,
        "POST",
        "/v1/databases",
        &[&auth, "Content-Type: application/json"],
        body.as_bytes(),
    );
    assert_eq!(status, 201, "{reply}");
    serde_json::from_str(&reply).unwrap()
}

/// A real `redis-server` started for a test, to compare Keel with or to load Keel's files; killed when
/// dropped. `start` gives None when redis-server is not installed (CI installs it).
pub struct RealRedis {
    child: std::process::Child,
    pub port: u16,
    /// Its working directory (a replica writes the copy it receives there).
    _dir: TestDir,
}

impl RealRedis {
    /// Starts `redis-server` with `args` after Redis's defaults for tests (no snapshots, no log).
    pub fn start(args: &[&str]) -> Option<RealRedis> {
        let Some(binary) = which("redis-server") else {
            skip_without("redis-server is not installed (CI installs it)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = TestDir::new();
        let child = std::process::Command::new(binary)
            .args(["--port", &port.to_string(), "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir.0)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let redis = RealRedis { child, port, _dir: dir };
        wait_for(|| {
            redis::Client::open(redis.url())
                .unwrap()
                .get_connection()
                .is_ok_and(|mut c| redis::cmd("PING").query::<String>(&mut c).is_ok())
        });
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url()).unwrap().get_connection().unwrap()
    }

    /// Stops (`STOP`) or resumes (`CONT`) the process, as Redis's tests pause a server.
    pub fn signal(&self, signal: &str) {
        let status =
            std::process::Command::new("kill").arg(format!("-{signal}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{signal} failed");
    }
}

impl Drop for RealRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that a client smoke script succeeded and printed "ok" last, showing what it printed if not.
pub fn assert_printed_ok(output: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.trim_end().ends_with("ok"),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Says a test skips because a tool it needs is missing; under CI (the `CI` variable set, as `.ci/run`
/// runs) a missing tool fails the test instead, so a CI machine without it cannot pass by checking nothing.
pub fn skip_without(what: &str) {
    assert!(std::env::var_os("CI").is_none(), "{what}, and CI is set: .ci/run should have installed it");
    eprintln!("not run here: {what}");
}

/// The full path of a program on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
}

/// The incremental append-only logs in `dir`'s `appendonlydir`, as upper-case text (to look for commands).
pub fn incremental_log_text(dir: &std::path::Path) -> String {
    incremental_log(dir).to_ascii_uppercase()
}

/// The incremental append-only logs in `dir`'s `appendonlydir`, as they are.
pub fn incremental_log(dir: &std::path::Path) -> String {
    let log: Vec<u8> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".incr.aof"))
        .flat_map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    String::from_utf8_lossy(&log).into_owned()
}

/// A command given as owned words.
pub fn command_of(args: &[String]) -> redis::Cmd {
    let mut cmd = redis::cmd(&args[0]);
    args[1..].iter().for_each(|a| {
        cmd.arg(a);
    });
    cmd
}

/// Runs `script` on Keel and on Redis and asserts that every reply, or error text, is the same.
pub fn same_replies(keel: &mut redis::Connection, redis: &mut redis::Connection, script: &[Vec<String>]) {
    same_replies_as(keel, redis, script, |reply| reply);
}

/// [`same_replies`], comparing replies as `seen` presents them (a reply read the way a client reads it,
/// where Keel and Debian's Redis write the same value differently).
pub fn same_replies_as(
    keel: &mut redis::Connection,
    redis: &mut redis::Connection,
    script: &[Vec<String>],
    seen: fn(redis::Value) -> redis::Value,
) {
    for args in script {
        let ours = command_of(args).query::<redis::Value>(keel).map(seen).map_err(|e| e.to_string());
        let theirs = command_of(args).query::<redis::Value>(redis).map(seen).map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{args:?}");
    }
}

/// A command line split into words.
pub fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(String::from).collect()
}

//! The engine in process, without a socket: commands go through a `Batch` as a transport would hand them
//! over, and the tests look at the reply bytes, at the keyspace events the hub publishes, and at what the
//! log buffer would write. Dispatch, the ACL gate, notifications and propagation each get theirs here.

use keel_engine::exec::batch::Batch;
use keel_engine::exec::dispatch::{execute, BatchClock, BatchSettings, Env};
use keel_engine::exec::session::Session;
use keel_engine::state::pubsub::{Feed, Kind};
use keel_engine::{Server, Settings};
use keel_protocol::{ReplyWriter, Resp};
use std::sync::Arc;

/// A server on a scratch directory, with no log and no snapshots; removed when dropped.
struct Engine {
    server: Arc<Server>,
    dir: std::path::PathBuf,
}

impl Engine {
    fn new(name: &str) -> Engine {
        let dir = std::env::temp_dir().join(format!("keel-engine-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let settings = Settings { dir: dir.clone(), appendonly: false, save: String::new(), ..Settings::default() };
        Engine { server: Server::new(settings).unwrap(), dir }
    }

    fn session(&self) -> Session {
        let id = self.server.clients.next_id();
        let info = keel_engine::clients::ClientInfo::new(id, "test".into(), String::new(), -1, "default".into(), 0);
        Session::new(Arc::new(info), true)
    }

    /// Runs `words` as one command in a batch of its own; the reply's bytes.
    fn run(&self, session: &mut Session, words: &[&str]) -> String {
        let tenant = self.server.default_tenant();
        let mut batch = Batch::new(&self.server, &tenant);
        let mut out = ReplyWriter::new(Resp::V2);
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        batch.run(session, &args, &mut out);
        batch.finish();
        String::from_utf8_lossy(out.as_bytes()).into_owned()
    }

    /// Runs `words` with the log buffer on and returns what it would write.
    fn logged(&self, session: &mut Session, words: &[&str]) -> String {
        let tenant = self.server.default_tenant();
        let env = Env { server: &self.server, tenant: &tenant, settings: BatchSettings::read(&self.server, &tenant) };
        let mut ks = tenant.lock();
        ks.log.set_log(true);
        let mut out = ReplyWriter::new(Resp::V2);
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        execute(&env, &mut BatchClock::start(), &mut ks, session, &mut out, &args);
        let logged = String::from_utf8_lossy(&ks.log.buf).into_owned();
        ks.log.buf.clear();
        ks.log.set_log(false);
        logged
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn dispatch_answers_with_redis_s_texts() {
    let engine = Engine::new("dispatch");
    let mut s = engine.session();
    assert_eq!(engine.run(&mut s, &["SET", "k", "v"]), "+OK\r\n");
    assert_eq!(engine.run(&mut s, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(engine.run(&mut s, &["GET"]), "-ERR wrong number of arguments for 'get' command\r\n");
    assert_eq!(engine.run(&mut s, &["NOPE", "a"]), "-ERR unknown command 'NOPE', with args beginning with: 'a' \r\n");
    assert_eq!(
        engine.run(&mut s, &["LPUSH", "k", "x"]),
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
    );
    assert_eq!(engine.run(&mut s, &["CLIENT", "NOPE"]), "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n");
    assert_eq!(engine.run(&mut s, &["MULTI"]), "+OK\r\n");
    assert_eq!(engine.run(&mut s, &["INCR", "n"]), "+QUEUED\r\n");
    assert_eq!(engine.run(&mut s, &["EXEC"]), "*1\r\n:1\r\n");
}

#[test]
fn the_acl_gate_checks_each_key_as_its_spec_says() {
    let engine = Engine::new("acl");
    let mut admin = engine.session();
    let setuser = ["ACL", "SETUSER", "split", "on", "nopass", "+@all", "%R~src*", "%W~dst*"];
    assert_eq!(engine.run(&mut admin, &setuser), "+OK\r\n");
    let mut user = engine.session();
    user.acl_user = Some("split".into());
    assert_eq!(engine.run(&mut user, &["SUNIONSTORE", "dst", "src"]), ":0\r\n");
    assert_eq!(engine.run(&mut user, &["SET", "dst", "v"]), "+OK\r\n");
    let denied = engine.run(&mut user, &["GET", "dst"]);
    assert!(denied.starts_with("-NOPERM"), "{denied}");
    let log = engine.run(&mut admin, &["ACL", "LOG", "1"]);
    assert!(log.contains("dst") && log.contains("key"), "{log}");
}

#[test]
fn writes_publish_their_keyspace_events_in_redis_s_order() {
    let engine = Engine::new("events");
    let mut s = engine.session();
    engine.run(&mut s, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let feed = Feed { tx, queued: Default::default() };
    let listener = engine.session();
    engine.server.default_tenant().lock().pubsub.subscribe(
        &listener.info,
        &feed,
        Resp::V2,
        Kind::Pattern,
        b"__keyevent@*",
    );
    engine.run(&mut s, &["SET", "k", "v", "EX", "100"]);
    engine.run(&mut s, &["RPUSH", "l", "a"]);
    engine.run(&mut s, &["LMOVE", "l", "m", "LEFT", "RIGHT"]);
    let mut events = Vec::new();
    while let Ok(message) = rx.try_recv() {
        let text = String::from_utf8_lossy(&message).into_owned();
        events.push(text.split("\r\n").nth(6).unwrap_or_default().to_string());
    }
    let names: Vec<&str> = events.iter().map(|e| e.rsplit(':').next().unwrap_or_default()).collect();
    assert_eq!(names, ["set", "expire", "rpush", "rpush", "lpop", "del"]);
}

#[test]
fn writes_log_what_replays_the_same() {
    let engine = Engine::new("propagation");
    let mut s = engine.session();
    let set_ex = engine.logged(&mut s, &["SET", "k", "v", "EX", "100"]);
    assert!(set_ex.contains("$4\r\nPXAT\r\n") && !set_ex.contains("$2\r\nEX\r\n"), "{set_ex}");
    let float = engine.logged(&mut s, &["INCRBYFLOAT", "f", "0.1"]);
    assert!(float.contains("$3\r\nSET\r\n$1\r\nf\r\n$3\r\n0.1\r\n$7\r\nKEEPTTL"), "{float}");
    assert_eq!(engine.logged(&mut s, &["GET", "k"]), "", "a read logs nothing");
    assert_eq!(engine.logged(&mut s, &["DEL", "missing"]), "", "a write that changed nothing logs nothing");
    engine.run(&mut s, &["SADD", "set", "a", "b", "c"]);
    let spop = engine.logged(&mut s, &["SPOP", "set"]);
    assert!(spop.contains("$4\r\nSREM\r\n$3\r\nset\r\n"), "{spop}");
}

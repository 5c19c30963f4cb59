//! The adversarial isolation suite, generated from the command table so that a command is attacked the
//! day it is added. Database A's client runs every command and subcommand with arguments that name
//! database B's keys, channels, client ids, script and user, over RESP, over REST, inside MULTI and inside
//! a script, and again over RESP while a script holds B busy. After each command the suite checks that no
//! reply (nor anything pushed to A's connection while B worked) carried a secret of B or of the server, and
//! that nothing of B (keys and values, clients, subscriptions, scripts and functions, ACL users, settings,
//! limits, meters) or of the server (settings, the registry, being up) changed. It prints how many
//! attempts it made and fails on the first leak or change.

mod common;
use common::{http_with, run, TestDir, TestServer};
use keel_engine::exec::commands::flags;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const ADMIN: &str = "Authorization: Bearer admin-secret";

/// Words no reply to A may contain: B's values, names and credentials, and the server's secrets.
struct Secrets(Vec<String>);

impl Secrets {
    fn leaked_in(&self, bytes: &[u8]) -> Option<&str> {
        let text = String::from_utf8_lossy(bytes);
        self.0.iter().find(|s| text.contains(s.as_str())).map(String::as_str)
    }
}

/// What A's attempts pass as arguments: names of B's things, and harmless numbers and patterns.
struct Targets {
    words: Vec<String>,
}

impl Targets {
    /// `count` argument words for attempt number `variant` (a blocking command never waits long).
    fn args(&self, count: usize, variant: usize, blocking: bool) -> Vec<String> {
        (0..count)
            .map(|i| {
                let word = &self.words[(i + variant * 3) % self.words.len()];
                if blocking && word == "0" {
                    "0.01".to_string()
                } else {
                    word.clone()
                }
            })
            .collect()
    }
}

/// A raw RESP connection to A, logged in, with a short read timeout.
fn raw_login(s: &TestServer, password: &str) -> TcpStream {
    let mut stream = TcpStream::connect(s.addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    stream.write_all(&encode(&["AUTH".into(), password.into()])).unwrap();
    let mut got = Vec::new();
    read_available(&mut stream, &mut got, Duration::from_secs(5), true);
    assert!(got.starts_with(b"+OK"), "A's login failed: {}", String::from_utf8_lossy(&got));
    stream
}

fn encode(args: &[String]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        bytes.extend(format!("${}\r\n", a.len()).as_bytes());
        bytes.extend_from_slice(a.as_bytes());
        bytes.extend(b"\r\n");
    }
    bytes
}

/// Reads what arrives within `window` (or, with `first_frame`, until one whole reply arrived).
fn read_available(stream: &mut TcpStream, into: &mut Vec<u8>, window: Duration, first_frame: bool) {
    let deadline = Instant::now() + window;
    let mut chunk = [0u8; 64 * 1024];
    while Instant::now() < deadline {
        if first_frame && keel_protocol::parse_frame(into).ok().flatten().is_some() {
            return;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => into.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if first_frame {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Everything of database `name` that another database must not change, as text.
fn fingerprint(s: &TestServer, name: &str) -> String {
    let tenant = s.server.tenants.read()[name].clone();
    let mut parts = Vec::new();
    {
        let ks = tenant.data.lock();
        for (i, db) in ks.dbs.iter().enumerate() {
            let mut entries: Vec<String> = db
                .slots()
                .map(|slot| {
                    let dump = keel_persist::dump::dump(db.value(slot));
                    format!("{i}:{:?}={dump:?}@{:?}", db.key(slot), db.expire_at(slot).is_some())
                })
                .collect();
            entries.sort();
            parts.extend(entries);
        }
        parts.push(format!("scripts={}", ks.scripting.scripts.len()));
        parts.push(format!("libraries={:?}", ks.scripting.functions.libraries.keys().collect::<Vec<_>>()));
        parts.push(format!("pubsub={:?} monitors={}", ks.pubsub.counts(), ks.monitors.len()));
        parts.push(format!("commands={}", ks.stats.total_commands));
    }
    parts.push(tenant.acl.read().file_text(&s.server.commands));
    parts.push(format!("settings={:?} limits={:?}", *tenant.settings.read(), *tenant.limits.read()));
    let clients: Vec<String> = s
        .server
        .clients
        .snapshot()
        .iter()
        .filter(|c| c.in_tenant(name))
        .map(|c| format!("{}:{}:{}", c.id, c.name_string(), c.is_killed()))
        .collect();
    parts.push(format!("clients={clients:?}"));
    parts.join("\n")
}

/// The server's own state a database must not change. Every connection starts in the `default` database
/// and logs in from there, so its command count and clients move with A's logins: they are left out.
fn server_fingerprint(s: &TestServer, dir: &TestDir) -> String {
    let settings = format!("{:?}", *s.server.settings.read());
    let registry = std::fs::read_to_string(dir.0.join("databases.json")).unwrap_or_default();
    let default = fingerprint(s, "default");
    let own: Vec<&str> =
        default.lines().filter(|l| !l.starts_with("commands=") && !l.starts_with("clients=")).collect();
    format!("{settings}\n{registry}\n{}", own.join("\n"))
}

/// The words of one command: `client|kill` is CLIENT KILL.
fn command_words(fullname: &str) -> Vec<String> {
    fullname.split('|').map(str::to_ascii_uppercase).collect()
}

/// How one attempt reached the server.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Resp,
    RespWhileBusy,
    Rest,
    Multi,
    Script,
}

struct Suite<'a> {
    s: &'a TestServer,
    a_password: String,
    a_token: String,
    secrets: Secrets,
    /// B's own client, which works while A listens.
    b: redis::Connection,
    /// Commands B's own client ran (B's meters count those and nothing of A's).
    b_commands: u64,
    attempts: usize,
}

impl Suite<'_> {
    /// One attempt: runs `args` as A in `mode` and returns everything A received.
    fn attempt(&mut self, mode: Mode, args: &[String], listens: bool) -> Vec<u8> {
        self.attempts += 1;
        let mut received = Vec::new();
        if mode == Mode::Rest {
            let body = serde_json::to_vec(&Value::from(args.to_vec())).unwrap();
            let token = format!("Authorization: Bearer {}", self.a_token);
            let addr = self.s.http_addr;
            let answer = std::panic::catch_unwind(|| http_with(addr, "POST", "/", &[&token], &body));
            let Ok((_, text)) = answer else { panic!("REST {args:?} did not answer") };
            received.extend(text.into_bytes());
            return received;
        }
        let mut a = raw_login(self.s, &self.a_password);
        let sent = match mode {
            Mode::Multi => {
                let mut bytes = encode(&["MULTI".into()]);
                bytes.extend(encode(args));
                bytes.extend(encode(&["EXEC".into()]));
                bytes
            }
            Mode::Script => {
                let mut words = vec!["EVAL".into(), "return redis.pcall(unpack(ARGV))".into(), "0".into()];
                words.extend(args.iter().cloned());
                encode(&words)
            }
            _ => encode(args),
        };
        a.write_all(&sent).unwrap();
        let replies = if mode == Mode::Multi { 3 } else { 1 };
        for _ in 0..replies {
            read_available(&mut a, &mut received, Duration::from_secs(3), true);
        }
        if listens && mode == Mode::Resp {
            // A may now be a subscriber, a monitor or a tracker: B works, and A must hear nothing of it.
            run::<()>(&mut self.b, &["SET", "canary-b-key", "b-secret-value-3141"]);
            let _: i64 = run(&mut self.b, &["PUBLISH", "canary-b-chan", "b-secret-message-2718"]);
            self.b_commands += 2;
            read_available(&mut a, &mut received, Duration::from_millis(100), false);
        }
        received
    }

    /// A's default user back on, in case an attempt (ACL SETUSER default off) locked A out of itself.
    fn restore_a(&self) {
        let tenant = self.s.server.tenants.read()["alpha"].clone();
        let rules = ["on", "nopass", "+@all", "~*", "&*"];
        tenant.acl.write().set_user("default", &rules, &self.s.server.commands).unwrap();
        tenant.acl_changed(&self.s.server.commands).unwrap();
    }
}

/// B's fingerprint without its command count, which B's own work moves.
fn state_of_b(s: &TestServer) -> String {
    fingerprint(s, "beta").lines().filter(|l| !l.starts_with("commands=")).collect::<Vec<_>>().join("\n")
}

fn b_commands(s: &TestServer) -> u64 {
    s.server.tenants.read()["beta"].data.lock().stats.total_commands
}

#[test]
fn no_command_of_one_database_reaches_another_or_the_server() {
    let dir = TestDir::new();
    let path = dir.0.clone();
    let s = TestServer::with(move |s| {
        s.dir = path;
        s.admin_token = "admin-secret".into();
        s.rest_token = "default-rest-token-5772".into();
        s.metrics_token = "metrics-token-1618".into();
        s.requirepass = "default-pass-1414".into();
        s.busy_reply_threshold = 50;
    });
    let create = |name: &str| {
        let body = format!(r#"{{"name": "{name}"}}"#);
        let (status, text) = http_with(
            s.http_addr,
            "POST",
            "/v1/databases",
            &[ADMIN, "Content-Type: application/json"],
            body.as_bytes(),
        );
        assert_eq!(status, 201, "{text}");
        serde_json::from_str::<Value>(&text).unwrap()
    };
    let (a, b) = (create("alpha"), create("beta"));
    let field = |db: &Value, name: &str| db[name].as_str().unwrap().to_string();
    let connect = |password: &str| {
        let url = format!("redis://default:{password}@{}/", s.addr);
        let con = redis::Client::open(url).unwrap().get_connection().unwrap();
        con.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        con
    };
    // B's things, named by the attempts and holding the secrets.
    let mut b_con = connect(&field(&b, "password"));
    run::<()>(&mut b_con, &["CLIENT", "SETNAME", "b-secret-client-name-1732"]);
    run::<()>(&mut b_con, &["SET", "canary-b-key", "b-secret-value-3141"]);
    run::<()>(&mut b_con, &["SELECT", "1"]);
    run::<()>(&mut b_con, &["HSET", "canary-b-hash", "field", "b-secret-hash-value-1234"]);
    run::<()>(&mut b_con, &["SELECT", "0"]);
    run::<()>(&mut b_con, &["RPUSH", "canary-b-list", "b-secret-list-item-4669"]);
    let sha: String = run(&mut b_con, &["SCRIPT", "LOAD", "return 'b-secret-script-2236'"]);
    let library =
        "#!lua name=canaryblib\nredis.register_function('canaryfn', function() return 'b-secret-fn-2449' end)";
    let _: String = run(&mut b_con, &["FUNCTION", "LOAD", library]);
    run::<()>(&mut b_con, &["ACL", "SETUSER", "canaryuser", "on", ">b-secret-user-pass-1202", "+@all", "~*"]);
    run::<()>(&mut b_con, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let b_id: i64 = run(&mut b_con, &["CLIENT", "ID"]);
    let mut b_subscriber = connect(&field(&b, "password"));
    run::<()>(&mut b_subscriber, &["SUBSCRIBE", "canary-b-chan"]);
    let secrets = Secrets(
        [
            "b-secret-client-name-1732",
            "b-secret-value-3141",
            "b-secret-hash-value-1234",
            "b-secret-list-item-4669",
            "b-secret-script-2236",
            "b-secret-fn-2449",
            "b-secret-message-2718",
            "b-secret-user-pass-1202",
            "admin-secret",
            "default-rest-token-5772",
            "metrics-token-1618",
            "default-pass-1414",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(["password", "rest_token", "readonly_rest_token"].iter().map(|f| field(&b, f)))
        .collect(),
    );
    let targets = Targets {
        words: [
            "canary-b-key",
            "0",
            "canary-b-chan",
            &b_id.to_string(),
            &sha,
            "*",
            "canaryuser",
            "canaryblib",
            "canary-b-hash",
            "1",
            "canaryfn",
            "canary-b-list",
            "beta",
            "field",
        ]
        .iter()
        .map(|w| w.to_string())
        .collect(),
    };
    let mut suite = Suite {
        s: &s,
        a_password: field(&a, "password"),
        a_token: field(&a, "rest_token"),
        secrets,
        b: b_con,
        b_commands: 0,
        attempts: 0,
    };
    // The clients and the script that will hold B busy later, in place before B's state is taken.
    let mut busy = connect(&field(&b, "password"));
    let mut probe = connect(&field(&b, "password"));
    let busy_sha: String = run(&mut probe, &["SCRIPT", "LOAD", "while true do end"]);
    let b_before = state_of_b(&s);
    let b_commands_before = b_commands(&s);
    let server_before = server_fingerprint(&s, &dir);
    let commands: Vec<(String, i32, bool, bool)> = s
        .server
        .commands
        .all()
        .filter(|c| !c.is_container() || c.spec.handler.is_some())
        .map(|c| {
            let listens = c.has(flags::PUBSUB) || c.fullname == "monitor" || c.fullname == "client|tracking";
            (c.fullname.clone(), c.spec.arity, c.has(flags::BLOCKING), listens)
        })
        .collect();
    let attack = |suite: &mut Suite, modes: &[Mode]| {
        for (fullname, arity, blocking, listens) in &commands {
            let words = command_words(fullname);
            let fixed = arity.unsigned_abs() as usize;
            let counts = if *arity > 0 { vec![fixed] } else { vec![fixed, fixed + 2, fixed + 5] };
            for (variant, count) in counts.iter().enumerate() {
                let mut args = words.clone();
                args.extend(suite_targets_args(&targets, count.saturating_sub(words.len()), variant, *blocking));
                for &mode in modes {
                    let received = suite.attempt(mode, &args, *listens);
                    if let Some(secret) = suite.secrets.leaked_in(&received) {
                        panic!("{mode:?} {args:?} leaked {secret}: {}", String::from_utf8_lossy(&received));
                    }
                }
            }
            suite.restore_a();
            if !modes.contains(&Mode::RespWhileBusy) {
                assert_eq!(state_of_b(&s), b_before, "{fullname} from database A changed database B");
                assert_eq!(
                    server_fingerprint(&s, &dir),
                    server_before,
                    "{fullname} from database A changed the server"
                );
            }
        }
    };
    attack(&mut suite, &[Mode::Resp, Mode::Rest, Mode::Multi, Mode::Script]);
    // Again while a script holds B busy: the gate still keeps A to A.
    let script = std::thread::spawn(move || {
        let ended = redis::cmd("EVALSHA").arg(&busy_sha).arg(0).query::<redis::Value>(&mut busy);
        (ended, busy)
    });
    // PINGs answered before the script took B count as B's commands; those refused BUSY do not.
    let mut answered = 0;
    common::wait_for(|| {
        let pong = redis::cmd("PING").query::<String>(&mut probe).is_ok();
        answered += pong as u64;
        !pong
    });
    attack(&mut suite, &[Mode::RespWhileBusy]);
    run::<()>(&mut probe, &["SCRIPT", "KILL"]);
    let (ended, _busy) = script.join().unwrap();
    assert!(ended.is_err());
    // EVALSHA counts when it ends; SCRIPT KILL, answered without the lock, does not.
    suite.b_commands += answered + 1;
    assert_eq!(state_of_b(&s), b_before, "database B changed while it was busy");
    assert_eq!(server_fingerprint(&s, &dir), server_before);
    // B's meters count B's own commands only.
    assert_eq!(b_commands(&s) - b_commands_before, suite.b_commands, "A's commands were counted in B's meters");
    // B's subscriber heard B's messages and nothing else; B's client is still there.
    assert_eq!(run::<String>(&mut suite.b, &["CLIENT", "GETNAME"]), "b-secret-client-name-1732");
    eprintln!(
        "isolation: {} attack attempts from database A over {} commands, 0 leaks, database B and the server unchanged",
        suite.attempts,
        commands.len()
    );
}

fn suite_targets_args(targets: &Targets, count: usize, variant: usize, blocking: bool) -> Vec<String> {
    targets.args(count, variant, blocking)
}

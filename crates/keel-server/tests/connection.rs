//! Connections over real sockets: auth, HELLO and RESP3, CLIENT, pipelining, inline commands, protocol
//! errors that close only the offending connection, maxclients and idle timeouts.

mod common;
use common::{error_of, run, TestServer};
use keel_protocol::Frame;
use std::time::Duration;

fn bulk(s: &str) -> Frame {
    Frame::Bulk(s.as_bytes().to_vec())
}

#[test]
fn auth_with_password_and_default_user() {
    let s = TestServer::with(|s| s.requirepass = "secret".into());
    let mut raw = s.raw();
    assert_eq!(raw.command(&[b"GET", b"k"]), Frame::Error(b"NOAUTH Authentication required.".to_vec()));
    assert_eq!(
        raw.command(&[b"AUTH", b"wrong"]),
        Frame::Error(b"WRONGPASS invalid username-password pair or user is disabled.".to_vec())
    );
    assert_eq!(
        raw.command(&[b"AUTH", b"someone", b"secret"]),
        Frame::Error(b"WRONGPASS invalid username-password pair or user is disabled.".to_vec())
    );
    assert_eq!(raw.command(&[b"AUTH", b"secret"]), Frame::Simple(b"OK".to_vec()));
    assert_eq!(raw.command(&[b"SET", b"k", b"v"]), Frame::Simple(b"OK".to_vec()));
    let mut other = s.raw();
    assert_eq!(raw.command(&[b"RESET"]), Frame::Simple(b"RESET".to_vec()));
    assert_eq!(raw.command(&[b"GET", b"k"]), Frame::Error(b"NOAUTH Authentication required.".to_vec()));
    assert_eq!(other.command(&[b"AUTH", b"default", b"secret"]), Frame::Simple(b"OK".to_vec()));
    let url = format!("redis://default:secret@{}/", s.addr);
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    assert_eq!(run::<String>(&mut con, &["GET", "k"]), "v");
}

#[test]
fn auth_without_password_configured() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(
        error_of(&mut c, &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    assert_eq!(run::<String>(&mut c, &["AUTH", "default", "anything"]), "OK");
    assert_eq!(error_of(&mut c, &["AUTH", "a", "b", "c"]), "ERR syntax error");
}

#[test]
fn hello_negotiates_resp3() {
    let s = TestServer::with(|s| s.requirepass = "pw".into());
    let mut raw = s.raw();
    assert!(matches!(raw.command(&[b"HELLO", b"3"]), Frame::Error(e) if e.starts_with(b"NOAUTH HELLO must be called")));
    let reply = raw.command(&[b"hello", b"3", b"AUTH", b"default", b"pw", b"SETNAME", b"myapp"]);
    let Frame::Map(pairs) = reply else { panic!("expected a map, got {reply:?}") };
    let get = |k: &str| pairs.iter().find(|(key, _)| *key == bulk(k)).map(|(_, v)| v.clone());
    assert_eq!(get("server"), Some(bulk("redis")));
    assert_eq!(get("version"), Some(bulk("8.2.0")));
    assert_eq!(get("proto"), Some(Frame::Integer(3)));
    assert_eq!(get("mode"), Some(bulk("standalone")));
    assert_eq!(get("role"), Some(bulk("master")));
    assert_eq!(get("modules"), Some(Frame::Array(vec![])));
    assert!(matches!(get("id"), Some(Frame::Integer(_))));
    assert_eq!(raw.command(&[b"CLIENT", b"GETNAME"]), bulk("myapp"));
    assert_eq!(raw.command(&[b"GET", b"missing"]), Frame::Null);
    assert_eq!(raw.command(&[b"HELLO", b"4"]), Frame::Error(b"NOPROTO unsupported protocol version".to_vec()));
    assert_eq!(
        raw.command(&[b"HELLO", b"x"]),
        Frame::Error(b"ERR Protocol version is not an integer or out of range".to_vec())
    );
    assert_eq!(
        raw.command(&[b"HELLO", b"3", b"BOGUS"]),
        Frame::Error(b"ERR Syntax error in HELLO option 'BOGUS'".to_vec())
    );
    let reply = raw.command(&[b"HELLO", b"2"]);
    assert!(matches!(reply, Frame::Array(ref items) if items.len() == 14));
    assert_eq!(raw.command(&[b"GET", b"missing"]), Frame::Null);
}

#[test]
fn select_and_databases_are_separate() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["SET", "k", "zero"]);
    assert_eq!(run::<String>(&mut c, &["SELECT", "15"]), "OK");
    assert_eq!(run::<Option<String>>(&mut c, &["GET", "k"]), None);
    assert_eq!(error_of(&mut c, &["SELECT", "16"]), "ERR DB index is out of range");
    assert_eq!(error_of(&mut c, &["SELECT", "x"]), "ERR value is not an integer or out of range");
}

#[test]
fn client_commands() {
    let s = TestServer::start();
    let mut c = s.client();
    let id: i64 = run(&mut c, &["CLIENT", "ID"]);
    assert_eq!(run::<Option<String>>(&mut c, &["CLIENT", "GETNAME"]), None);
    assert_eq!(run::<String>(&mut c, &["CLIENT", "SETNAME", "worker-1"]), "OK");
    assert_eq!(
        error_of(&mut c, &["CLIENT", "SETNAME", "has space"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    assert_eq!(run::<String>(&mut c, &["CLIENT", "SETINFO", "LIB-NAME", "keel-tests"]), "OK");
    assert_eq!(error_of(&mut c, &["CLIENT", "SETINFO", "COLOR", "x"]), "ERR Unrecognized option 'COLOR'");
    let info: String = run(&mut c, &["CLIENT", "INFO"]);
    assert!(info.starts_with(&format!("id={id} ")), "{info}");
    assert!(info.contains("name=worker-1") && info.contains("cmd=client|info") && info.contains("lib-name=keel-tests"));
    let mut other = s.client();
    run::<String>(&mut other, &["CLIENT", "SETNAME", "victim"]);
    let other_id: i64 = run(&mut other, &["CLIENT", "ID"]);
    let list: String = run(&mut c, &["CLIENT", "LIST"]);
    assert_eq!(list.lines().count(), 2);
    let list: String = run(&mut c, &["CLIENT", "LIST", "ID", &other_id.to_string()]);
    assert!(list.contains("name=victim") && list.lines().count() == 1);
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "KILL", "ID", &other_id.to_string()]), 1);
    std::thread::sleep(Duration::from_millis(100));
    assert!(redis::cmd("PING").query::<String>(&mut other).is_err(), "killed client must be disconnected");
    assert_eq!(error_of(&mut c, &["CLIENT", "KILL", "1.2.3.4:5"]), "ERR No such client");
    assert_eq!(run::<i64>(&mut c, &["CLIENT", "KILL", "ID", &id.to_string()]), 0, "SKIPME defaults to yes");
    assert_eq!(run::<String>(&mut c, &["CLIENT", "NO-EVICT", "on"]), "OK");
    assert_eq!(error_of(&mut c, &["CLIENT", "NO-EVICT", "maybe"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["CLIENT", "BOGUS"]), "ERR unknown subcommand 'BOGUS'. Try CLIENT HELP.");
    assert_eq!(error_of(&mut c, &["CLIENT"]), "ERR wrong number of arguments for 'client' command");
    assert_eq!(error_of(&mut c, &["CLIENT", "SETNAME"]), "ERR wrong number of arguments for 'client|setname' command");
}

#[test]
fn client_reply_modes() {
    let s = TestServer::start();
    let mut raw = s.raw();
    raw.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n*1\r\n$4\r\nPING\r\n");
    raw.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n");
    raw.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n*2\r\n$4\r\nECHO\r\n$1\r\na\r\n");
    raw.expect(b"+OK\r\n$1\r\na\r\n");
    raw.send(b"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n*2\r\n$4\r\nECHO\r\n$1\r\nb\r\n*2\r\n$4\r\nECHO\r\n$1\r\nc\r\n");
    raw.expect(b"$1\r\nc\r\n");
}

#[test]
fn pipelines_of_thousands_answer_in_order() {
    let s = TestServer::start();
    let mut raw = s.raw();
    let mut batch = Vec::new();
    for i in 0..5000 {
        let v = i.to_string();
        batch.extend(format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n{}\r\n", v.len(), v).as_bytes());
        batch.extend(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    }
    raw.send(&batch);
    for i in 0..5000 {
        raw.expect(b"+OK\r\n");
        let v = i.to_string();
        raw.expect(format!("${}\r\n{}\r\n", v.len(), v).as_bytes());
    }
}

/// RESP for one command.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// The look-ahead parses a pipeline's next commands and the batch runs what it parsed: a read that ends
/// inside a command, a protocol error after good commands, and a client that stops being authenticated
/// mid-pipeline are each answered as a parser reading one command at a time answers them.
#[test]
fn pipelines_answer_as_parsed_one_command_at_a_time() {
    let s = TestServer::with(|s| s.requirepass = "pw".into());
    let mut raw = s.raw();
    raw.send(&resp(&["AUTH", "pw"]));
    raw.expect(b"+OK\r\n");
    let sets: Vec<u8> = (0..40).flat_map(|i| resp(&["SET", &format!("k{i}"), &format!("v{i}")])).collect();
    let gets: Vec<u8> = (0..40).flat_map(|i| resp(&["GET", &format!("k{i}")])).collect();
    for pipeline in [&sets, &gets] {
        // Cut inside the twentieth command's value: the first read ends with half a command. An inline
        // command, which the look-ahead leaves to the batch, ends the second.
        let cut = pipeline.len() / 2 + 3;
        raw.send(&pipeline[..cut]);
        std::thread::sleep(std::time::Duration::from_millis(50));
        raw.send(&[&pipeline[cut..], b"PING\r\n"].concat());
    }
    for _ in 0..40 {
        raw.expect(b"+OK\r\n");
    }
    raw.expect(b"+PONG\r\n");
    for i in 0..40 {
        let value = format!("v{i}");
        raw.expect(format!("${}\r\n{value}\r\n", value.len()).as_bytes());
    }
    raw.expect(b"+PONG\r\n");
    // RESET mid-pipeline: the commands after it are read as an unauthenticated client's, who may not send
    // more than ten arguments.
    let mut pipeline: Vec<u8> = (0..8).flat_map(|i| resp(&["SET", &format!("r{i}"), "1"])).collect();
    pipeline.extend(resp(&["RESET"]));
    pipeline.extend(resp(&["SET", "after", "1"]));
    pipeline.extend(resp(&["MSET", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]));
    raw.send(&pipeline);
    for _ in 0..8 {
        raw.expect(b"+OK\r\n");
    }
    raw.expect(b"+RESET\r\n-NOAUTH Authentication required.\r\n");
    raw.expect(b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    assert!(raw.is_closed());
    // A protocol error after good commands: they are answered, then the error, and the connection closes.
    let mut raw = s.raw();
    let mut pipeline = resp(&["AUTH", "pw"]);
    pipeline.extend((0..8).flat_map(|i| resp(&["SET", &format!("e{i}"), "1"])));
    pipeline.extend(b"*1\r\n$x\r\n");
    raw.send(&pipeline);
    for _ in 0..9 {
        raw.expect(b"+OK\r\n");
    }
    raw.expect(b"-ERR Protocol error: invalid bulk length\r\n");
    assert!(raw.is_closed());
}

#[test]
fn inline_commands_work() {
    let s = TestServer::start();
    let mut raw = s.raw();
    raw.send(b"PING\r\nSET greeting \"hello world\"\r\nGET greeting\nhello 3\r\n");
    raw.expect(b"+PONG\r\n+OK\r\n$11\r\nhello world\r\n");
    assert!(matches!(raw.read_frame(), Frame::Map(_)));
}

#[test]
fn protocol_errors_close_only_that_connection() {
    let s = TestServer::start();
    let mut bystander = s.client();
    run::<String>(&mut bystander, &["SET", "safe", "1"]);
    let cases: &[(&[u8], &str)] = &[
        (b"*1\r\n$x\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"),
        (b"*1\r\n+OK\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"),
        (b"*1\r\n$1000000000000\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (b"SET k \"unbalanced\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
    ];
    for (input, expected) in cases {
        let mut raw = s.raw();
        raw.send(input);
        raw.expect(expected.as_bytes());
        assert!(raw.is_closed(), "connection must close after {:?}", String::from_utf8_lossy(input));
    }
    let mut raw = s.raw();
    raw.send(&vec![b'a'; 70 * 1024]);
    raw.expect(b"-ERR Protocol error: too big inline request\r\n");
    assert_eq!(run::<String>(&mut bystander, &["GET", "safe"]), "1");
}

#[test]
fn unauthenticated_clients_cannot_send_big_requests() {
    let s = TestServer::with(|s| s.requirepass = "pw".into());
    let mut raw = s.raw();
    raw.send(b"*100\r\n");
    raw.expect(b"-ERR Protocol error: unauthenticated multibulk length\r\n");
    assert!(raw.is_closed());
}

#[test]
fn quit_replies_then_closes() {
    let s = TestServer::start();
    let mut raw = s.raw();
    raw.send(b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n");
    raw.expect(b"+OK\r\n");
    assert!(raw.is_closed());
}

#[test]
fn maxclients_refuses_the_next_connection() {
    let s = TestServer::with(|s| s.maxclients = 2);
    let mut a = s.raw();
    let mut b = s.raw();
    a.command(&[b"PING"]);
    b.command(&[b"PING"]);
    let mut c = s.raw();
    c.expect(b"-ERR max number of clients reached\r\n");
    assert!(c.is_closed());
    drop(a);
    std::thread::sleep(Duration::from_millis(200));
    let mut d = s.raw();
    assert_eq!(d.command(&[b"PING"]), Frame::Simple(b"PONG".to_vec()));
    let info = d.command(&[b"INFO", b"stats"]);
    let Frame::Bulk(info) = info else { panic!("{info:?}") };
    assert!(String::from_utf8_lossy(&info).contains("rejected_connections:1"));
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let s = TestServer::with(|s| s.timeout = 1);
    let mut idle = s.raw();
    idle.command(&[b"PING"]);
    std::thread::sleep(Duration::from_millis(2600));
    assert!(idle.is_closed(), "idle client must be closed");
}

/// Buffer sizes in one `CLIENT LIST` line: (qbuf + qbuf-free, rbs).
fn buffers_of(line: &str) -> (u64, u64) {
    let field = |name: &str| -> u64 {
        let start = line.find(&format!(" {name}=")).unwrap() + name.len() + 2;
        line[start..].split(' ').next().unwrap().parse().unwrap()
    };
    (field("qbuf") + field("qbuf-free"), field("rbs"))
}

/// The `CLIENT LIST` line of the client named `name`.
fn client_line(admin: &mut redis::Connection, name: &str) -> String {
    let list: String = run(admin, &["CLIENT", "LIST"]);
    list.lines().find(|l| l.contains(&format!("name={name} "))).unwrap().to_string()
}

/// An idle connection gives its reply buffer back (as Redis frees an idle client's buffers after 2 s),
/// takes it again when a command arrives, and answers as before.
#[test]
fn idle_connections_give_their_buffers_back() {
    let s = TestServer::start();
    let mut idle = s.client();
    run::<()>(&mut idle, &["CLIENT", "SETNAME", "sleeper"]);
    let mut admin = s.client();
    let (_, rbs) = buffers_of(&client_line(&mut admin, "sleeper"));
    assert!(rbs > 0, "{}", client_line(&mut admin, "sleeper"));
    common::wait_for(|| buffers_of(&client_line(&mut admin, "sleeper")) == (0, 0));
    let tot_mem = client_line(&mut admin, "sleeper");
    assert!(tot_mem.contains(" tot-mem=0 "), "{tot_mem}");
    let value = "v".repeat(10_000);
    run::<()>(&mut idle, &["SET", "k", &value]);
    assert_eq!(run::<String>(&mut idle, &["GET", "k"]), value);
    let (_, rbs) = buffers_of(&client_line(&mut admin, "sleeper"));
    assert!(rbs >= 10_000, "{}", client_line(&mut admin, "sleeper"));
}

/// Between commands a connection holds no input buffer: it reads into its thread's reusable one (Redis 8's
/// reusable query buffer). Only a read that ends inside a command makes it keep one of its own (16 KiB, or
/// the size of the argument it waits for), which it gives back once idle.
#[test]
fn connections_keep_an_input_buffer_only_for_an_unfinished_command() {
    let s = TestServer::start();
    let mut raw = s.raw();
    raw.command(&[b"CLIENT", b"SETNAME", b"partial"]);
    let mut admin = s.client();
    assert_eq!(buffers_of(&client_line(&mut admin, "partial")).0, 0);
    raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhel");
    common::wait_for(|| buffers_of(&client_line(&mut admin, "partial")).0 >= 16 * 1024);
    raw.send(b"lo\r\n");
    raw.expect(b"+OK\r\n");
    assert_eq!(run::<String>(&mut admin, &["GET", "k"]), "hello");
    common::wait_for(|| buffers_of(&client_line(&mut admin, "partial")).0 == 0);
    raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n");
    common::wait_for(|| buffers_of(&client_line(&mut admin, "partial")).0 > 1_000_000);
    raw.send(&[b'v'; 1_000_000]);
    raw.send(b"\r\n");
    raw.expect(b"+OK\r\n");
    assert_eq!(run::<i64>(&mut admin, &["STRLEN", "k"]), 1_000_000);
    raw.command(&[b"PING"]);
    common::wait_for(|| buffers_of(&client_line(&mut admin, "partial")).0 == 0);
}

#[test]
fn unknown_commands_and_arity_errors() {
    let s = TestServer::start();
    let mut c = s.client();
    assert_eq!(
        error_of(&mut c, &["FOOBAR", "a", "b"]),
        "ERR unknown command 'FOOBAR', with args beginning with: 'a' 'b' "
    );
    assert_eq!(error_of(&mut c, &["GET"]), "ERR wrong number of arguments for 'get' command");
    assert_eq!(error_of(&mut c, &["GET", "a", "b"]), "ERR wrong number of arguments for 'get' command");
    assert_eq!(error_of(&mut c, &["PING", "a", "b"]), "ERR wrong number of arguments for 'ping' command");
    assert_eq!(run::<String>(&mut c, &["ping"]), "PONG");
    assert_eq!(run::<String>(&mut c, &["PiNg", "hi"]), "hi");
    assert_eq!(run::<String>(&mut c, &["ECHO", "x"]), "x");
}

/// Reads until the server closes the connection; returns how many bytes arrived (panics on a long wait).
fn drain_until_closed(raw: &mut common::Raw) -> usize {
    raw.stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    raw.drain_until_closed()
}

#[test]
fn output_over_the_hard_limit_closes_the_client() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["CONFIG", "SET", "client-output-buffer-limit", "normal 100kb 0 0"]);
    redis::cmd("SET").arg("big").arg(vec![b'x'; 1 << 20]).query::<()>(&mut c).unwrap();
    let mut raw = s.raw();
    raw.send(b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n");
    assert_eq!(drain_until_closed(&mut raw), 0, "the reply over the limit is never sent");
    assert_eq!(run::<i64>(&mut c, &["STRLEN", "big"]), 1 << 20, "other clients are unaffected");
}

/// `client-query-buffer-limit` holds from the moment it is set, for connections already open too.
#[test]
fn a_query_buffer_past_its_limit_closes_the_client() {
    let s = TestServer::start();
    let mut c = s.client();
    let mut raw = s.raw();
    raw.send(b"PING\r\n");
    raw.expect(b"+PONG\r\n");
    run::<String>(&mut c, &["CONFIG", "SET", "client-query-buffer-limit", "1mb"]);
    raw.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4194304\r\n");
    raw.send(&vec![b'x'; 2 << 20]);
    assert_eq!(drain_until_closed(&mut raw), 0, "closed without a reply");
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "k"]), 0);
}

#[test]
fn a_client_that_never_reads_is_disconnected() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["CONFIG", "SET", "client-output-buffer-limit", "normal 0 1kb 1"]);
    redis::cmd("SET").arg("v").arg(vec![b'x'; 1 << 20]).query::<()>(&mut c).unwrap();
    let mut raw = s.raw();
    let requests = 200;
    raw.send(&b"*2\r\n$3\r\nGET\r\n$1\r\nv\r\n".repeat(requests));
    std::thread::sleep(Duration::from_secs(3));
    let received = drain_until_closed(&mut raw);
    assert!(received < requests << 20, "the stalled client was served everything ({received} bytes)");
    assert_eq!(run::<String>(&mut c, &["PING"]), "PONG");
}

#[test]
fn a_monitor_that_never_reads_is_disconnected() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<String>(&mut c, &["CONFIG", "SET", "client-output-buffer-limit", "normal 64kb 0 0"]);
    let mut monitor = s.raw();
    monitor.send(b"MONITOR\r\n");
    monitor.expect(b"+OK\r\n");
    let value = vec![b'y'; 100 * 1024];
    for _ in 0..200 {
        redis::cmd("SET").arg("k").arg(&value).query::<()>(&mut c).unwrap();
    }
    let received = drain_until_closed(&mut monitor);
    assert!(received < 200 * value.len(), "the monitor was fed everything ({received} bytes)");
    let list: String = run(&mut c, &["CLIENT", "LIST"]);
    assert!(!list.contains("flags=O"), "{list}");
}

/// Client eviction (Redis 7's `maxmemory-clients`): past the limit, the client whose buffers take most is
/// closed, not one marked CLIENT NO-EVICT; the setting answers with Redis's errors.
#[test]
fn clients_past_maxmemory_clients_are_evicted_largest_first() {
    let s = TestServer::start();
    let mut admin = s.client();
    assert_eq!(
        common::error_of(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "101%"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100"
    );
    assert_eq!(
        common::error_of(&mut admin, &["CONFIG", "SET", "daemonize", "yes"]),
        "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"
    );
    run::<()>(&mut admin, &["CLIENT", "NO-EVICT", "ON"]);
    let mut protected = s.raw();
    protected.send(b"CLIENT NO-EVICT ON\r\n");
    protected.expect(b"+OK\r\n");
    // Both start a 1 MB argument and stop halfway: their query buffers hold what came so far.
    let half = vec![b'x'; 512 * 1024];
    let mut big = s.raw();
    for raw in [&mut protected, &mut big] {
        raw.send(b"*2\r\n$3\r\nGET\r\n$1048576\r\n");
        raw.send(&half);
    }
    run::<()>(&mut admin, &["CONFIG", "SET", "maxmemory-clients", "256kb"]);
    common::wait_for(|| run::<String>(&mut admin, &["INFO", "stats"]).contains("evicted_clients:1"));
    assert!(big.is_closed(), "the largest client went");
    protected.send(&half);
    protected.send(b"\r\n");
    protected.expect(b"$-1\r\n");
}

/// CONFIG SET port/bind moves the RESP listener at once: new clients connect at the new address, open
/// connections stay, and a port that is taken leaves every setting of the command as it was.
#[test]
fn config_set_port_moves_the_listener_and_a_taken_port_changes_nothing() {
    let s = TestServer::start();
    let mut c = s.client();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    run::<()>(&mut c, &["CONFIG", "SET", "port", &free.to_string(), "bind", "127.0.0.1"]);
    let mut moved = redis::Client::open(format!("redis://127.0.0.1:{free}/")).unwrap().get_connection().unwrap();
    assert_eq!(run::<String>(&mut moved, &["PING"]), "PONG");
    assert_eq!(run::<String>(&mut c, &["PING"]), "PONG", "the open connection stays");
    common::wait_for(|| std::net::TcpStream::connect(s.addr).is_err());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let error = error_of(&mut c, &["CONFIG", "SET", "maxmemory", "10000001", "port", &taken_port]);
    assert!(
        error
            .starts_with("ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port"),
        "{error}"
    );
    let kept: Vec<String> = run(&mut c, &["CONFIG", "GET", "port"]);
    assert_eq!(kept[1], free.to_string());
    let memory: Vec<String> = run(&mut c, &["CONFIG", "GET", "maxmemory"]);
    assert_eq!(memory[1], "0", "nothing of the failed command was applied");
}

/// A connection's buffers follow its recent traffic, not its peak: after a 600 KB request and its reply, the
/// next small command leaves both buffers small again, without waiting for the connection to go idle.
#[test]
fn buffers_grown_for_a_large_request_are_given_back_by_the_next_one() {
    let s = TestServer::start();
    let mut c = s.client();
    let members: Vec<String> = (0..50_000).map(|i| i.to_string()).collect();
    redis::cmd("SADD").arg("big").arg(&members).query::<i64>(&mut c).unwrap();
    let listed: Vec<String> = run(&mut c, &["SMEMBERS", "big"]);
    assert_eq!(listed.len(), 50_000);
    run::<String>(&mut c, &["PING"]);
    let me: String = run(&mut c, &["CLIENT", "INFO"]);
    let field = |name: &str| -> usize {
        let value = me.split(' ').find_map(|f| f.strip_prefix(&format!("{name}="))).unwrap();
        value.trim().parse().unwrap()
    };
    assert!(field("qbuf") + field("qbuf-free") <= 64 * 1024, "{me}");
    assert!(field("rbs") <= 64 * 1024, "{me}");
}

/// Pipelined commands whose keys are prefetched ahead of running them answer exactly as run one by one,
/// whichever byte a read ends at (the look-ahead meets cut-off commands, other databases and inline
/// commands).
#[test]
fn pipelines_cut_anywhere_answer_as_commands_run_one_by_one() {
    let s = TestServer::start();
    let mut pipeline = Vec::new();
    for i in 0..40 {
        pipeline.extend_from_slice(format!("*3\r\n$3\r\nSET\r\n$4\r\nk{i:03}\r\n$1\r\n{}\r\n", i % 10).as_bytes());
        pipeline.extend_from_slice(format!("*2\r\n$4\r\nINCR\r\n$4\r\nk{i:03}\r\n").as_bytes());
    }
    pipeline.extend_from_slice(b"*2\r\n$6\r\nSELECT\r\n$1\r\n1\r\n*2\r\n$3\r\nGET\r\n$4\r\nk001\r\nPING\r\n");
    let mut expected = Vec::new();
    for i in 0..40 {
        expected.extend_from_slice(format!("+OK\r\n:{}\r\n", i % 10 + 1).as_bytes());
    }
    expected.extend_from_slice(b"+OK\r\n$-1\r\n+PONG\r\n");
    for cut in [1, 7, 33, 100, 301] {
        let mut raw = s.raw();
        for piece in pipeline.chunks(cut) {
            raw.send(piece);
        }
        raw.expect(&expected);
    }
}

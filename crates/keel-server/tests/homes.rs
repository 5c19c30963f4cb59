//! Databases' homes: on a server of two cores, a connection moves after its login to the runtime that
//! serves its database (CLIENT LIST's `io-thread`), and keeps working there: input pipelined behind the
//! AUTH, a second login elsewhere, waits woken from another runtime, pub/sub, CLIENT KILL and shutdown.
//! HTTP connections are served on the runtimes in turn.

mod common;
use common::{create_database, http_with, Raw, TestServer};
use keel_protocol::Frame;
use serde_json::Value;

fn server() -> TestServer {
    TestServer::with_workers(2, |s| {
        s.admin_token = "admin-secret".into();
        s.requirepass = "default-pass".into();
    })
}

fn text(frame: Frame) -> String {
    match frame {
        Frame::Simple(b) | Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        Frame::Integer(n) => n.to_string(),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// The `io-thread` of the connection's CLIENT INFO line.
fn io_thread(raw: &mut Raw) -> String {
    let info = text(raw.command(&[b"CLIENT", b"INFO"]));
    let field = info.split_whitespace().find_map(|f| f.strip_prefix("io-thread="));
    field.unwrap_or_else(|| panic!("no io-thread in {info}")).to_string()
}

fn rest(s: &TestServer, db: &Value, command: &str) -> (u16, String) {
    let auth = format!("Authorization: Bearer {}", db["rest_token"].as_str().unwrap());
    http_with(s.http_addr, "POST", "/", &[&auth, "Content-Type: application/json"], command.as_bytes())
}

#[test]
fn a_connection_moves_to_its_database_s_home_and_works_there() {
    let s = server();
    let (a, b) = (
        create_database(&s, "admin-secret", r#"{"name":"a"}"#),
        create_database(&s, "admin-secret", r#"{"name":"b"}"#),
    );
    let (pa, pb) = (a["password"].as_str().unwrap().as_bytes(), b["password"].as_str().unwrap().as_bytes());

    let mut default = s.raw();
    default.command(&[b"AUTH", b"default-pass"]);
    assert_eq!(io_thread(&mut default), "0", "the default database's home is the accepting runtime");

    // The SET and GET arrive in the AUTH's read: they run after the move, on the new home.
    let mut in_a = s.raw();
    let mut pipelined = Vec::new();
    for args in [&[&b"AUTH"[..], pa][..], &[b"SET", b"k", b"in-a"], &[b"GET", b"k"]] {
        pipelined.extend(format!("*{}\r\n", args.len()).into_bytes());
        for arg in args {
            pipelined.extend(format!("${}\r\n", arg.len()).into_bytes());
            pipelined.extend_from_slice(arg);
            pipelined.extend(b"\r\n");
        }
    }
    in_a.send(&pipelined);
    assert_eq!(text(in_a.read_frame()), "OK");
    assert_eq!(text(in_a.read_frame()), "OK");
    assert_eq!(text(in_a.read_frame()), "in-a");
    assert_eq!(io_thread(&mut in_a), "1", "the first database to move gets the next runtime");

    let mut in_b = s.raw();
    in_b.command(&[b"AUTH", pb]);
    assert_eq!(io_thread(&mut in_b), "0", "homes are given in turn");
    assert_eq!(in_b.command(&[b"GET", b"k"]), Frame::Null);

    // A second login moves the connection again, and it sees only the database it is in.
    in_a.command(&[b"AUTH", pb]);
    assert_eq!(io_thread(&mut in_a), "0");
    assert_eq!(in_a.command(&[b"GET", b"k"]), Frame::Null);
    in_a.command(&[b"AUTH", pa]);
    assert_eq!(io_thread(&mut in_a), "1");
    assert_eq!(text(in_a.command(&[b"GET", b"k"])), "in-a");
}

#[test]
fn waits_and_messages_reach_a_moved_connection_from_other_runtimes() {
    let s = server();
    let a = create_database(&s, "admin-secret", r#"{"name":"a"}"#);
    let pa = a["password"].as_str().unwrap().as_bytes();

    // A BLPOP on home 1, served by an LPUSH over REST, which runs on the accepting runtime.
    let mut waiting = s.raw();
    waiting.command(&[b"AUTH", pa]);
    assert_eq!(io_thread(&mut waiting), "1");
    waiting.send_command(&[b"BLPOP", b"queue", b"0"]);
    common::wait_for(|| rest(&s, &a, r#"["CLIENT","LIST"]"#).1.contains("cmd=blpop"));
    assert_eq!(rest(&s, &a, r#"["LPUSH","queue","job"]"#).0, 200);
    assert_eq!(waiting.read_frame(), Frame::Array(vec![Frame::Bulk("queue".into()), Frame::Bulk("job".into())]));

    // A subscriber on home 1 hears a message published over REST.
    let mut subscriber = s.raw();
    subscriber.command(&[b"AUTH", pa]);
    subscriber.command(&[b"SUBSCRIBE", b"news"]);
    let (_, published) = rest(&s, &a, r#"["PUBLISH","news","hello"]"#);
    assert!(published.contains(":1"), "{published}");
    let message =
        Frame::Array(vec![Frame::Bulk("message".into()), Frame::Bulk("news".into()), Frame::Bulk("hello".into())]);
    assert_eq!(subscriber.read_frame(), message);

    // CLIENT KILL from REST closes the moved connection; shutdown (when the server drops) closes the rest.
    let id = text(waiting.command(&[b"CLIENT", b"ID"]));
    let (_, killed) = rest(&s, &a, &format!(r#"["CLIENT","KILL","ID","{id}"]"#));
    assert!(killed.contains(":1"), "{killed}");
    assert!(waiting.is_closed());
}

/// HTTP connections have no home (a REST request names its database in its token): they are served on
/// the runtimes in turn, so that REST traffic is not held to one core. CLIENT INFO over REST names the
/// runtime serving the request's connection.
#[test]
fn http_connections_are_served_on_the_runtimes_in_turn() {
    let s = server();
    let a = create_database(&s, "admin-secret", r#"{"name":"a"}"#);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let (status, body) = rest(&s, &a, r#"["CLIENT", "INFO"]"#);
        assert_eq!(status, 200, "{body}");
        let line = serde_json::from_str::<Value>(&body).unwrap()["result"].as_str().unwrap_or_default().to_string();
        let field = line.split_whitespace().find_map(|f| f.strip_prefix("io-thread=")).map(str::to_string);
        seen.insert(field.unwrap_or_else(|| panic!("no io-thread in {body}")));
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["0", "1"]);
    // Served on either runtime, a write is seen by the next request wherever that runs.
    for _ in 0..4 {
        assert_eq!(rest(&s, &a, r#"["INCR", "n"]"#).0, 200);
    }
    assert_eq!(rest(&s, &a, r#"["GET", "n"]"#), (200, r#"{"result":"4"}"#.to_string()));
}

//! JSON documents over real sockets: RedisJSON's replies and error texts for every JSON command, with
//! legacy and JSONPath paths; keyspace events; snapshots, the log, DUMP/RESTORE and a snapshot Redis
//! reads as the `ReJSON-RL` module type; scripts, MULTI, REST (text and base64), ACL's @json, quotas and
//! the generic key commands.

mod common;

use common::{error_of, run, TestDir, TestServer};
use redis::Value;

/// A reply as one line: strings as they are, arrays in brackets, nil as `nil`.
fn show(value: Value) -> String {
    match value {
        Value::Nil => "nil".into(),
        Value::Int(n) => n.to_string(),
        Value::BulkString(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Value::SimpleString(text) => text,
        Value::Okay => "OK".into(),
        Value::Array(items) => format!("[{}]", items.into_iter().map(show).collect::<Vec<_>>().join(" | ")),
        other => format!("{other:?}"),
    }
}

/// Runs each `(command, reply)` line: the reply as [`show`] prints it, or `!error text` for an error.
fn check(con: &mut redis::Connection, script: &[(&str, &str)]) {
    for (line, expected) in script {
        let args = words(line);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = match expected.strip_prefix('!') {
            Some(_) => format!("!{}", error_of(con, &args)),
            None => show(run::<Value>(con, &args)),
        };
        assert_eq!(&got, expected, "{line}");
    }
}

/// Words of a command line; single quotes group words (JSON and paths carry spaces and double quotes).
fn words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').unwrap();
            words.push(quoted[..end].to_string());
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    words
}

#[test]
fn setting_and_reading_documents() {
    let server = TestServer::start();
    let mut con = server.client();
    check(
        &mut con,
        &[
            (r#"JSON.SET doc $ '{"a":1,"b":{"a":2.5,"c":"x"},"arr":[1,2,3],"t":true}'"#, "OK"),
            ("JSON.GET doc", r#"{"a":1,"b":{"a":2.5,"c":"x"},"arr":[1,2,3],"t":true}"#),
            ("JSON.GET doc $..a", "[1,2.5]"),
            ("JSON.GET doc .b", r#"{"a":2.5,"c":"x"}"#),
            ("JSON.GET doc b.c", r#""x""#),
            ("JSON.GET doc $.a $.b.c", r#"{"$.a":[1],"$.b.c":["x"]}"#),
            ("JSON.GET doc .a .t", r#"{".a":1,".t":true}"#),
            ("JSON.GET doc INDENT _ NEWLINE ~ SPACE + .b", r#"{~_"a":+2.5,~_"c":+"x"~}"#),
            ("JSON.GET doc .nope", "!ERR Path does not exist"),
            ("JSON.GET doc $.nope", "[]"),
            ("JSON.GET doc $[", "!Error at position 2: parsing error"),
            ("JSON.GET missing", "nil"),
            ("JSON.MGET doc missing $.b.c", r#"[["x"] | nil]"#),
            ("JSON.MGET doc missing .a", "[1 | nil]"),
            ("JSON.TYPE doc", "object"),
            ("JSON.TYPE doc $..a", "[integer | number]"),
            ("JSON.TYPE doc .nope", "nil"),
            ("JSON.TYPE missing", "nil"),
            ("JSON.RESP doc .b", "[{ | a | 2.5 | c | x]"),
            ("JSON.RESP doc $.arr", "[[[ | 1 | 2 | 3]]"),
            ("TYPE doc", "ReJSON-RL"),
            ("OBJECT ENCODING doc", "raw"),
            // Setting: only at the root for a new key; NX and XX; new members at the end of a static path.
            ("JSON.SET fresh $.a 1", "!ERR new objects must be created at the root"),
            ("JSON.SET fresh $ '{bad'", "!key must be a string at line 1 column 2"),
            ("JSON.SET doc $ {} NX", "nil"),
            ("JSON.SET doc $.new 7 XX", "nil"),
            ("JSON.SET doc $.new 7 NX", "OK"),
            ("JSON.SET doc $.new 8 NX", "nil"),
            ("JSON.SET doc $..a 0", "OK"),
            ("JSON.SET doc $..zz 0", "!Err wrong static path"),
            ("JSON.SET doc $.arr[9] 0", "!ERR array index out of range"),
            ("JSON.SET doc $.a 1 NX XX", "!ERR syntax error"),
            ("JSON.GET doc", r#"{"a":0,"b":{"a":0,"c":"x"},"arr":[1,2,3],"t":true,"new":7}"#),
            ("JSON.MSET doc $.new 8 other $ [true]", "OK"),
            ("JSON.MSET doc $.new 9 third $.x 1", "!ERR new objects must be created at the root"),
            ("JSON.GET doc $.new", "[8]"),
            ("JSON.GET other", "[true]"),
            (r#"JSON.MERGE doc $ '{"a":null,"b":{"d":[1]},"t":false}'"#, "OK"),
            ("JSON.GET doc", r#"{"b":{"a":0,"c":"x","d":[1]},"arr":[1,2,3],"t":false,"new":8}"#),
            // Deleting: each match once; the key goes with its root.
            ("JSON.DEL doc $..a", "1"),
            ("JSON.DEL doc .nope", "0"),
            ("JSON.FORGET doc $.arr[0,2]", "2"),
            ("JSON.GET doc $.arr", "[[2]]"),
            ("JSON.DEL doc", "1"),
            ("EXISTS doc", "0"),
            ("JSON.DEL doc", "0"),
            ("SET plain v", "OK"),
            ("JSON.GET plain", "!WRONGTYPE Operation against a key holding the wrong kind of value"),
            ("JSON.SET plain $ 1", "!WRONGTYPE Operation against a key holding the wrong kind of value"),
        ],
    );
}

#[test]
fn per_type_operations_answer_per_match_or_for_the_one_value() {
    let server = TestServer::start();
    let mut con = server.client();
    // MEMORY USAGE counts the size each edit tracked; JSON.DEBUG MEMORY measures the document afresh.
    let untracked = |con: &mut redis::Connection| {
        run::<i64>(con, &["MEMORY", "USAGE", "d"]) - run::<i64>(con, &["JSON.DEBUG", "MEMORY", "d"])
    };
    run::<()>(&mut con, &["JSON.SET", "d", "$", "{}"]);
    let overhead = untracked(&mut con);
    check(
        &mut con,
        &[
            (r#"JSON.SET d $ '{"n":1,"m":{"n":2.5},"s":"ab","arr":[1,2,3],"t":true,"o":{"x":1,"y":[]}}'"#, "OK"),
            ("JSON.NUMINCRBY d $..n 2", "[3,4.5]"),
            ("JSON.NUMINCRBY d .n 1.5", "4.5"),
            ("JSON.NUMMULTBY d $.m.n 2", "[9.0]"),
            ("JSON.NUMINCRBY d $.s 1", "[null]"),
            ("JSON.NUMINCRBY d .s 1", "!ERR Path does not exist or does not contains a number"),
            ("JSON.NUMINCRBY d .n x", "!expected value at line 1 column 1"),
            ("JSON.NUMINCRBY missing .n 1", "!ERR could not perform this operation on a key that doesn't exist"),
            ("JSON.SET big $ 9223372036854775807", "OK"),
            ("JSON.NUMINCRBY big $ 1", "!ERR numeric overflow"),
            ("JSON.STRAPPEND d $.s '\"cd\"'", "[4]"),
            ("JSON.STRAPPEND d .s '\"e\"'", "5"),
            ("JSON.STRAPPEND d .n '\"e\"'", "!ERR Path does not exist or not a string"),
            ("JSON.STRAPPEND d .s 1", "!WRONGTYPE wrong type of path value - expected string"),
            ("JSON.STRLEN d .s", "5"),
            ("JSON.STRLEN d $.*", "[nil | nil | 5 | nil | nil | nil]"),
            ("JSON.STRLEN d .n", "!WRONGTYPE wrong type of path value - expected string"),
            ("JSON.STRLEN missing", "nil"),
            ("JSON.ARRAPPEND d $.arr 4 '\"five\"'", "[5]"),
            ("JSON.ARRAPPEND d .s 1", "!ERR Path does not exist or not an array"),
            ("JSON.ARRINSERT d .arr 0 0", "6"),
            ("JSON.ARRINSERT d $.arr -1 9", "[7]"),
            ("JSON.ARRINSERT d .arr 99 1", "!ERR index out of bounds"),
            ("JSON.GET d .arr", r#"[0,1,2,3,4,9,"five"]"#),
            ("JSON.ARRINDEX d $.arr 3", "[3]"),
            ("JSON.ARRINDEX d .arr 3 4", "-1"),
            ("JSON.ARRINDEX d .arr '\"five\"' -1", "6"),
            ("JSON.ARRINDEX d $.* 1", "[nil | nil | nil | 1 | nil | nil]"),
            ("JSON.ARRLEN d", "!ERR Path does not exist or not an array"),
            ("JSON.ARRLEN d $.arr", "[7]"),
            ("JSON.ARRLEN missing", "nil"),
            ("JSON.ARRPOP d .arr", r#""five""#),
            ("JSON.ARRPOP d $.arr 0", "[0]"),
            ("JSON.ARRPOP d $.o.y", "[nil]"),
            ("JSON.ARRTRIM d .arr 1 2", "2"),
            ("JSON.GET d .arr", "[2,3]"),
            ("JSON.ARRTRIM d $.arr 5 9", "[0]"),
            ("JSON.OBJKEYS d .o", "[x | y]"),
            ("JSON.OBJKEYS d $.*", "[nil | [n] | nil | nil | nil | [x | y]]"),
            ("JSON.OBJKEYS d .s", "!ERR Path does not exist or not an object"),
            ("JSON.OBJLEN d", "6"),
            ("JSON.OBJLEN d $.o", "[2]"),
            ("JSON.TOGGLE d .t", "false"),
            ("JSON.TOGGLE d $.t", "[1]"),
            ("JSON.TOGGLE d .n", "!ERR Path does not exist or not a bool"),
            ("JSON.CLEAR d $.*", "3"),
            ("JSON.GET d", r#"{"n":0,"m":{},"s":"abcde","arr":[],"t":true,"o":{}}"#),
            ("JSON.ARRAPPEND d $.arr 1 2 3 '[4,{\"k\":\"v\"}]'", "[4]"),
            ("JSON.ARRTRIM d .arr 1 -1", "3"),
            ("JSON.SET d $.o.z '\"new\"'", "OK"),
            ("JSON.DEL d $.o.z", "1"),
            ("JSON.MERGE d $.o '{\"w\":[1,2]}'", "OK"),
            ("JSON.CLEAR d", "1"),
            ("JSON.GET d", "{}"),
            ("JSON.DEBUG MEMORY missing", "0"),
            ("JSON.DEBUG NOPE", "!ERR unknown subcommand 'NOPE'. Try JSON.DEBUG HELP."),
        ],
    );
    let memory: i64 = run(&mut con, &["JSON.DEBUG", "MEMORY", "d"]);
    assert!(memory > 0);
    assert_eq!(untracked(&mut con), overhead, "the tracked size drifted from the document's");
}

#[test]
fn bad_input_gets_redisjsons_errors_and_changes_nothing() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["JSON.SET", "k", "$", r#"{"a":[1]}"#]);
    let deep = format!("{}1{}", "[".repeat(129), "]".repeat(129));
    assert!(error_of(&mut con, &["JSON.SET", "k", "$", &deep]).contains("recursion limit exceeded"));
    let deep_enough = format!("{}1{}", "[".repeat(127), "]".repeat(127));
    assert_eq!(error_of(&mut con, &["JSON.ARRAPPEND", "k", "$.a", &deep_enough]), "ERR recursion limit exceeded");
    assert_eq!(error_of(&mut con, &["JSON.SET", "k", "$", "[1,]"]), "trailing comma at line 1 column 4");
    assert_eq!(error_of(&mut con, &["JSON.SET", "k", "$.a[", "1"]), "Error at position 4: parsing error");
    assert_eq!(error_of(&mut con, &["JSON.SET", "k", "$", "1e999"]), "number out of range at line 1 column 5");
    let max = i64::MAX.to_string();
    assert_eq!(error_of(&mut con, &["JSON.NUMINCRBY", "k", "$.a[0]", &max]), "ERR numeric overflow");
    assert_eq!(run::<String>(&mut con, &["JSON.GET", "k"]), r#"{"a":[1]}"#, "nothing changed");
}

#[test]
fn changes_publish_json_keyspace_events() {
    let server = TestServer::start();
    let mut con = server.client();
    run::<()>(&mut con, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut listener = server.client();
    let mut pubsub = listener.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    for line in ["JSON.SET e $ [1]", "JSON.ARRAPPEND e $ 2", "JSON.GET e", "JSON.NUMINCRBY e $[0] 1", "JSON.DEL e"] {
        let args = words(line);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run::<Value>(&mut con, &args);
    }
    let events: Vec<String> = (0..4).map(|_| pubsub.get_message().unwrap().get_channel_name().to_string()).collect();
    assert_eq!(
        events,
        ["json.set", "json.arrappend", "json.numincrby", "json.del"].map(|e| format!("__keyevent@0__:{e}"))
    );
}

const DOC: &str = r#"{"name":"Keel","tags":["a","b"],"n":1.5,"big":12345678901234,"none":null,"yes":true}"#;

#[test]
fn documents_survive_snapshots_the_log_and_dump() {
    let dir = TestDir::new();
    let start = || TestServer::on_dir(&dir.0, |s| s.appendonly = true);
    {
        let server = start();
        let mut con = server.client();
        run::<()>(&mut con, &["JSON.SET", "snap", "$", DOC]);
        run::<()>(&mut con, &["SAVE"]);
        run::<()>(&mut con, &["JSON.SET", "logged", "$", DOC]);
        run::<Value>(&mut con, &["JSON.ARRAPPEND", "logged", "$.tags", "\"c\""]);
        let payload: Vec<u8> = run(&mut con, &["DUMP", "snap"]);
        redis::cmd("RESTORE").arg("copy").arg(0).arg(&payload).query::<()>(&mut con).unwrap();
    }
    let server = start();
    let mut con = server.client();
    assert_eq!(run::<String>(&mut con, &["JSON.GET", "snap"]), DOC);
    assert_eq!(run::<String>(&mut con, &["JSON.GET", "copy"]), DOC);
    assert_eq!(run::<String>(&mut con, &["JSON.GET", "logged", "$.tags"]), r#"[["a","b","c"]]"#);
}

#[test]
fn redis_reads_keels_snapshot_as_the_rejson_module_type() {
    let Some(redis_server) = common::which("redis-server") else {
        return common::skip_without("redis-server is not installed (CI installs it)");
    };
    let dir = TestDir::new();
    {
        let path = dir.0.clone();
        let server = TestServer::with(move |s| s.dir = path);
        let mut con = server.client();
        run::<()>(&mut con, &["JSON.SET", "doc", "$", DOC]);
        run::<()>(&mut con, &["SAVE"]);
    }
    // A Redis without RedisJSON reads the snapshot up to the value and names the module type it would need:
    // the type id decodes to RedisJSON's name. redis-check-rdb walks the module value's opcodes to the end.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = std::process::Command::new(redis_server)
        .args(["--port", &port.to_string(), "--dir"])
        .arg(&dir.0)
        .args(["--dbfilename", "dump.rdb", "--save", ""])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(log.contains("no matching module type 'ReJSON-RL'"), "{log}");
    if let Some(check) = common::which("redis-check-rdb") {
        let output = std::process::Command::new(check).arg(dir.0.join("dump.rdb")).output().unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(report.contains("RDB looks OK"), "{report}");
    }
}

#[test]
fn scripts_transactions_and_key_commands_see_documents() {
    let server = TestServer::start();
    let mut con = server.client();
    check(
        &mut con,
        &[
            ("JSON.SET s $ '{\"a\":[1,2]}'", "OK"),
            ("EVAL 'return redis.call(\"JSON.GET\", KEYS[1], \"$.a[1]\")' 1 s", "[2]"),
            ("EVAL 'return redis.call(\"JSON.ARRAPPEND\", KEYS[1], \".a\", \"3\")' 1 s", "3"),
            ("COPY s s2", "1"),
            ("RENAME s2 s3", "OK"),
            ("JSON.GET s3 .a", "[1,2,3]"),
            ("EXPIRE s3 100", "1"),
            ("JSON.SET s3 $.a[0] 0", "OK"),
            ("TTL s3", "100"),
            ("SCAN 0 TYPE ReJSON-RL", "[0 | [s3 | s]]"),
        ],
    );
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("JSON.SET").arg("m").arg("$").arg("[]").cmd("JSON.ARRAPPEND").arg("m").arg("$").arg("1");
    let (set, append): (String, Vec<i64>) = pipe.query(&mut con).unwrap();
    assert_eq!((set.as_str(), append), ("OK", vec![1]));
    let usage: i64 = run(&mut con, &["MEMORY", "USAGE", "m"]);
    assert!(usage > 0);
}

#[test]
fn documents_count_against_maxmemory_and_acl_has_a_json_category() {
    let server = TestServer::start();
    let mut con = server.client();
    let big = format!("[{}]", vec!["\"0123456789abcdef\""; 20_000].join(","));
    run::<()>(&mut con, &["JSON.SET", "big", "$", &big]);
    let used: i64 = run::<String>(&mut con, &["INFO", "memory"])
        .lines()
        .find_map(|l| l.strip_prefix("used_memory_dataset:").map(|v| v.trim().parse().unwrap()))
        .unwrap();
    let usage: i64 = run(&mut con, &["MEMORY", "USAGE", "big"]);
    assert!(usage > 20_000 * 16, "the document's strings are counted: {usage}");
    run::<()>(&mut con, &["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    run::<()>(&mut con, &["CONFIG", "SET", "maxmemory", &(used - usage / 2).to_string()]);
    assert!(error_of(&mut con, &["JSON.SET", "more", "$", &big]).starts_with("OOM"));
    run::<()>(&mut con, &["CONFIG", "SET", "maxmemory", "0"]);

    let categories: Vec<String> = run(&mut con, &["ACL", "CAT"]);
    assert!(categories.contains(&"json".to_string()));
    let json_commands: Vec<String> = run(&mut con, &["ACL", "CAT", "json"]);
    assert!(json_commands.contains(&"json.get".to_string()) && json_commands.len() >= 24);
    run::<()>(&mut con, &["ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@json", "-@write"]);
    let mut reader = server.client();
    run::<()>(&mut reader, &["AUTH", "reader", "pw"]);
    assert_eq!(run::<String>(&mut reader, &["JSON.GET", "big", "$[0]"]), r#"["0123456789abcdef"]"#);
    assert!(error_of(&mut reader, &["JSON.SET", "big", "$", "1"]).starts_with("NOPERM"));
    assert!(error_of(&mut reader, &["GET", "big"]).starts_with("NOPERM"));
}

#[test]
fn rest_serves_json_commands_with_both_encodings() {
    let server = TestServer::with(|s| s.rest_token = "t".into());
    let auth = "Authorization: Bearer t";
    let body = br#"["JSON.SET", "r", "$", "{\"a\":[1,\"x\"]}"]"#;
    let (status, reply) = common::http_with(server.http_addr, "POST", "/", &[auth], body);
    assert_eq!((status, reply.as_str()), (200, r#"{"result":"OK"}"#));
    let (_, reply) = common::http_with(server.http_addr, "POST", "/", &[auth], br#"["JSON.GET", "r", "$.a"]"#);
    assert_eq!(reply, r#"{"result":"[[1,\"x\"]]"}"#);
    let base64 = "Upstash-Encoding: base64";
    let (_, reply) =
        common::http_with(server.http_addr, "POST", "/", &[auth, base64], br#"["JSON.GET", "r", ".a[1]"]"#);
    assert_eq!(reply, r#"{"result":"Ingi"}"#, "base64 of \"x\" with its quotes");
    let pipeline =
        br#"[["JSON.ARRAPPEND", "r", "$.a", "2"], ["JSON.TYPE", "r", "$.a[*]"], ["JSON.GET", "r", ".nope"]]"#;
    let (_, reply) = common::http_with(server.http_addr, "POST", "/pipeline", &[auth], pipeline);
    assert_eq!(
        reply,
        r#"[{"result":[3]},{"result":["integer","string","integer"]},{"error":"ERR Path does not exist"}]"#
    );
}

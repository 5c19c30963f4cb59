//! What the log holds replays to the dataset clients saw: every write of the events corpus, plus what is
//! not deterministic (random pops, float increments, relative TTLs of keys and hash fields, fields that
//! expired, blocked pops served later, scripts, transactions), runs against a Keel with the append-only log and no snapshots; a second Keel then starts
//! on the same directory, replaying the log, and every key's DUMP and absolute expiry must be the same.

mod common;
use common::{run, TestDir, TestServer};
use std::time::Duration;

/// Every key of every numbered database: (db, key, DUMP payload, PEXPIRETIME).
fn dataset(con: &mut redis::Connection) -> Vec<(usize, Vec<u8>, Vec<u8>, i64)> {
    let mut all = Vec::new();
    for db in 0..16 {
        run::<()>(con, &["SELECT", &db.to_string()]);
        let keys: Vec<Vec<u8>> = run(con, &["KEYS", "*"]);
        for key in keys {
            let dump: Vec<u8> = redis::cmd("DUMP").arg(&key).query(con).unwrap();
            let at: i64 = redis::cmd("PEXPIRETIME").arg(&key).query(con).unwrap();
            all.push((db, key, dump, at));
        }
    }
    run::<()>(con, &["SELECT", "0"]);
    all.sort();
    all
}

fn server(dir: &TestDir) -> TestServer {
    let path = dir.0.clone();
    TestServer::with(move |s| {
        s.dir = path;
        s.save = String::new();
        s.appendfsync = "always".into();
        s.auto_aof_rewrite_percentage = 0;
    })
}

#[test]
fn replaying_the_log_gives_the_dataset_clients_saw() {
    let dir = TestDir::new();
    let before = {
        let keel = server(&dir);
        let mut con = keel.client();
        for line in include_str!("data/events.txt")
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#') && !l.starts_with("FLUSH"))
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            let _ = redis::cmd(words[0]).arg(&words[1..]).query::<redis::Value>(&mut con);
        }
        // What a replay could not redo by itself.
        run::<()>(&mut con, &["SADD", "random", "a", "b", "c", "d", "e", "f"]);
        run::<redis::Value>(&mut con, &["SPOP", "random", "2"]);
        run::<redis::Value>(&mut con, &["SPOP", "random"]);
        run::<String>(&mut con, &["INCRBYFLOAT", "float", "0.1"]);
        run::<String>(&mut con, &["INCRBYFLOAT", "float", "1e-17"]);
        run::<String>(&mut con, &["HINCRBYFLOAT", "hf", "f", "3.3333333333333335"]);
        run::<()>(&mut con, &["SET", "ttl", "v", "EX", "1000"]);
        run::<()>(&mut con, &["SET", "ttl2", "v"]);
        run::<i64>(&mut con, &["EXPIRE", "ttl2", "2000"]);
        run::<redis::Value>(&mut con, &["GETEX", "ttl2", "PX", "3000000"]);
        run::<()>(&mut con, &["HSET", "fields", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5"]);
        run::<Vec<i64>>(&mut con, &["HEXPIRE", "fields", "1000", "FIELDS", "1", "a"]);
        run::<Vec<i64>>(&mut con, &["HPEXPIRE", "fields", "1", "FIELDS", "1", "b"]);
        run::<i64>(&mut con, &["HSETEX", "fields", "EX", "500", "FIELDS", "1", "f", "6"]);
        run::<Vec<Option<String>>>(&mut con, &["HGETEX", "fields", "PX", "3000000", "FIELDS", "2", "c", "d"]);
        run::<Vec<Option<String>>>(&mut con, &["HGETEX", "fields", "PERSIST", "FIELDS", "1", "d"]);
        run::<()>(&mut con, &["HSET", "onefield", "a", "1"]);
        run::<Vec<i64>>(&mut con, &["HPEXPIRE", "onefield", "1", "FIELDS", "1", "a"]);
        run::<()>(&mut con, &["SET", "gone", "v", "PX", "1"]);
        std::thread::sleep(Duration::from_millis(20));
        run::<Option<String>>(&mut con, &["GET", "gone"]);
        run::<Option<String>>(&mut con, &["HGET", "fields", "b"]);
        run::<Option<String>>(&mut con, &["HGET", "onefield", "a"]);
        let script = "redis.call('SET', KEYS[1], ARGV[1]); redis.call('SPOP', KEYS[2]); return redis.call('INCRBYFLOAT', KEYS[3], '2.5')";
        run::<String>(&mut con, &["EVAL", script, "3", "fromscript", "random", "float", "v"]);
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("RPUSH").arg("tx").arg("1").cmd("SPOP").arg("random").cmd("EXPIRE").arg("tx").arg("500");
        pipe.query::<redis::Value>(&mut con).unwrap();
        // JSON documents: their commands replay as they are.
        for command in [
            &["JSON.SET", "json", "$", r#"{"a":[1,2],"n":1.5,"o":{"k":"v"}}"#][..],
            &["JSON.ARRAPPEND", "json", "$.a", "3", r#"{"x":null}"#],
            &["JSON.NUMMULTBY", "json", "$.n", "3"],
            &["JSON.ARRPOP", "json", "$.a", "0"],
            &["JSON.MERGE", "json", "$.o", r#"{"k":null,"j":[true]}"#],
            &["JSON.DEL", "json", "$..x"],
        ] {
            run::<redis::Value>(&mut con, command);
        }
        // A pop that blocks, served by a later push.
        let url = keel.url();
        let waiter = std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            redis::cmd("BLMOVE").arg("feed").arg("fed").arg("LEFT").arg("RIGHT").arg(5).query::<Option<String>>(&mut c)
        });
        common::wait_for(|| {
            let clients: String = run(&mut con, &["CLIENT", "LIST"]);
            clients.contains("cmd=blmove")
        });
        run::<i64>(&mut con, &["RPUSH", "feed", "x", "y"]);
        assert_eq!(waiter.join().unwrap().unwrap().as_deref(), Some("x"));
        dataset(&mut con)
    };
    assert!(before.len() > 30, "the corpus left only {} keys", before.len());
    let keel = server(&dir);
    let after = dataset(&mut keel.client());
    for (was, is) in before.iter().zip(&after) {
        assert_eq!(is, was, "the log replays key {} to another value", String::from_utf8_lossy(&was.1));
    }
    assert_eq!(after, before, "the log replays to another dataset");
}

//! Unit tests of settings: parsing, precedence, validation and who may read what.

use super::*;

#[test]
fn precedence_is_flags_then_env_then_file() {
    let file = "port = 7000\nmaxclients = 5\nrequirepass = \"file\"\nappendonly = true\n";
    let env = vec![("KEEL_MAXCLIENTS".to_string(), "6".to_string()), ("PATH".into(), "/bin".into())];
    let flags = vec![("requirepass".to_string(), "flag".to_string())];
    let s = Settings::load(Some(file), env, &flags).unwrap();
    assert_eq!(s.port, 7000);
    assert_eq!(s.maxclients, 6);
    assert_eq!(s.requirepass, "flag");
    assert!(s.appendonly);
}

#[test]
fn plans_come_from_the_file_over_the_defaults() {
    let file = "[plans.payg]\nper_100k_commands = 0.4\n[plans.pro]\nper_day = 9.5\n";
    let s = Settings::load(Some(file), vec![], &[]).unwrap();
    assert_eq!(s.plans["payg"].per_100k_commands, 0.4);
    assert_eq!((s.plans["pro"].per_day, s.plans["pro"].per_100k_commands), (9.5, 0.0));
    assert!(s.plans.contains_key("free"));
    assert!(Settings::load(Some("[plans.x]\nper_command = 1.0\n"), vec![], &[]).is_err());
}

#[test]
fn values_are_validated() {
    let mut s = Settings::default();
    assert!(s.apply("maxmemory", "100mb").is_ok());
    assert_eq!(s.maxmemory, 100 * 1024 * 1024);
    assert!(s.apply("maxmemory", "lots").is_err());
    assert!(s.apply("maxmemory-policy", "ALLKEYS-LRU").is_ok());
    assert_eq!(s.maxmemory_policy, "allkeys-lru");
    assert!(s.apply("maxmemory-policy", "bogus").is_err());
    assert!(s.apply("save", "900 1 300").is_err());
    assert!(s.apply("save", "").is_ok());
    assert!(s.apply("list-max-ziplist-size", "16").is_ok());
    assert_eq!(s.list_max_listpack_size, 16);
    assert!(Settings::load(Some("port = \"x\""), vec![], &[]).is_err());
}

#[test]
fn output_buffer_limits_use_redis_format() {
    let mut s = Settings::default();
    s.apply("client-output-buffer-limit", "normal 1mb 512kb 10").unwrap();
    assert_eq!(s.client_output_buffer_limit.normal, ClassLimit { hard: 1 << 20, soft: 512 << 10, soft_seconds: 10 });
    assert_eq!(s.client_output_buffer_limit.pubsub, OutputLimits::default().pubsub);
    assert!(s.apply("client-output-buffer-limit", "normal 1mb").is_err());
    assert!(s.apply("client-output-buffer-limit", "vip 1 1 1").is_err());
    let shown = (find_param("client-output-buffer-limit").unwrap().get)(&s);
    assert_eq!(shown, "normal 1048576 524288 10 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
}

#[test]
fn config_get_globs_names_and_aliases() {
    let s = Settings::default();
    let admin = Reader::Administrator { over_rest: false };
    let got = s.matching(&[b"maxmemory*"], admin);
    let names: Vec<_> = got.iter().map(|(n, _)| *n).collect();
    let expected =
        ["maxmemory", "maxmemory-clients", "maxmemory-policy", "maxmemory-samples", "maxmemory-eviction-tenacity"];
    assert_eq!(names, expected);
    assert_eq!(s.matching(&[b"list-max-ziplist-size"], admin)[0].1, "-2");
}

#[test]
fn secrets_are_never_read_back_and_databases_see_no_server_layout() {
    let s = Settings {
        requirepass: "hunter2".into(),
        admin_token: "admin-secret".into(),
        rest_token: "rest-secret".into(),
        tls_key_file: "/etc/keel/key.pem".into(),
        tls_key_file_pass: "key-secret".into(),
        ..Settings::default()
    };
    let values = |reader| s.matching(&[b"*"], reader).into_iter().map(|(_, v)| v).collect::<Vec<_>>();
    for reader in
        [Reader::Administrator { over_rest: false }, Reader::Administrator { over_rest: true }, Reader::Database]
    {
        let seen = values(reader);
        for secret in ["admin-secret", "rest-secret"] {
            assert!(!seen.iter().any(|v| v == secret), "{secret} shown to {reader:?}");
        }
        for password in ["hunter2", "key-secret"] {
            let shown = seen.iter().any(|v| v == password);
            assert_eq!(shown, reader == Reader::Administrator { over_rest: false }, "{password} to {reader:?}");
        }
        // A key file's path is the server's layout: its administrator's, not a database's.
        let path_shown = seen.iter().any(|v| v == "/etc/keel/key.pem");
        assert_eq!(path_shown, reader != Reader::Database, "{reader:?}");
    }
    let database = s.matching(&[b"*"], Reader::Database);
    assert!(!database.iter().any(|(n, _)| *n == "dir" || *n == "bind"));
    assert!(database.iter().any(|(n, _)| *n == "maxmemory"));
    // Every secret-bearing parameter is one nobody can read.
    for name in ["requirepass", "admin-token", "rest-token", "rest-readonly-token", "tls-key-file-pass", "masteruser"] {
        let scope = find_param(name).unwrap().scope;
        assert!(!scope.readable_by(Reader::Database) && scope.is_sensitive(), "{name}");
    }
    assert!(Scope::PerDatabase.settable_by(Reader::Database));
    assert!(!Scope::Limit.settable_by(Reader::Database) && !Scope::Shared.settable_by(Reader::Database));
}

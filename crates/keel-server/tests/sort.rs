//! SORT and SORT_RO over real sockets: numeric and ALPHA order, BY keys and hash fields, GET, LIMIT,
//! STORE, and their errors.

mod common;
use common::{error_of, run, TestServer};

#[test]
fn sorts_lists_sets_and_sorted_sets() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["RPUSH", "l", "3", "10", "1", "2.5", "-4"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "l"]), ["-4", "1", "2.5", "3", "10"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "l", "DESC", "LIMIT", "1", "2"]), ["3", "2.5"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "l", "ALPHA"]), ["-4", "1", "10", "2.5", "3"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "l", "LIMIT", "10", "5"]), Vec::<String>::new());
    run::<()>(&mut c, &["SADD", "s", "b", "a", "c"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "s", "ALPHA", "DESC"]), ["c", "b", "a"]);
    assert_eq!(error_of(&mut c, &["SORT", "s"]), "ERR One or more scores can't be converted into double");
    run::<()>(&mut c, &["ZADD", "z", "1", "x", "2", "y", "3", "w"]);
    // BY a constant: no sorting, the sorted set's own order (reversed by DESC).
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "z", "BY", "nosort"]), ["x", "y", "w"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]), ["w", "y"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "missing"]), Vec::<String>::new());
    run::<()>(&mut c, &["SET", "str", "x"]);
    assert!(error_of(&mut c, &["SORT", "str"]).starts_with("WRONGTYPE"));
    assert_eq!(error_of(&mut c, &["SORT", "l", "LIMIT", "1"]), "ERR syntax error");
    assert_eq!(error_of(&mut c, &["SORT", "l", "LIMIT", "a", "1"]), "ERR value is not an integer or out of range");
}

#[test]
fn by_and_get_patterns_reach_other_keys_and_hash_fields() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["RPUSH", "users", "1", "2", "3"]);
    run::<()>(&mut c, &["MSET", "w_1", "30", "w_2", "10", "w_3", "20", "name_1", "ann", "name_3", "cid"]);
    run::<()>(&mut c, &["HSET", "h_1", "age", "50"]);
    run::<()>(&mut c, &["HSET", "h_2", "age", "40"]);
    run::<()>(&mut c, &["HSET", "h_3", "age", "60"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "users", "BY", "w_*"]), ["2", "3", "1"]);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "users", "BY", "h_*->age", "DESC"]), ["3", "1", "2"]);
    let got: Vec<Option<String>> =
        run(&mut c, &["SORT", "users", "BY", "w_*", "GET", "#", "GET", "name_*", "GET", "h_*->age"]);
    let expected =
        [Some("2"), None, Some("40"), Some("3"), Some("cid"), Some("60"), Some("1"), Some("ann"), Some("50")];
    assert_eq!(got, expected.map(|v| v.map(String::from)));
    assert_eq!(run::<Vec<Option<String>>>(&mut c, &["SORT", "users", "GET", "fixed"]), [None, None, None]);
    // ALPHA with BY: elements whose key is missing come first.
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT", "users", "BY", "name_*", "ALPHA"]), ["2", "1", "3"]);
}

#[test]
fn store_writes_a_list_and_sort_ro_refuses_it() {
    let s = TestServer::start();
    let mut c = s.client();
    run::<()>(&mut c, &["RPUSH", "l", "2", "1"]);
    run::<()>(&mut c, &["SET", "n_1", "one"]);
    assert_eq!(run::<i64>(&mut c, &["SORT", "l", "GET", "n_*", "STORE", "dst"]), 2);
    assert_eq!(run::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]), ["one", ""]);
    assert_eq!(run::<i64>(&mut c, &["SORT", "missing", "STORE", "dst"]), 0);
    assert_eq!(run::<i64>(&mut c, &["EXISTS", "dst"]), 0);
    assert_eq!(run::<Vec<String>>(&mut c, &["SORT_RO", "l"]), ["1", "2"]);
    assert_eq!(error_of(&mut c, &["SORT_RO", "l", "STORE", "dst"]), "ERR syntax error");
    let keys: Vec<String> =
        run(&mut c, &["COMMAND", "GETKEYS", "SORT", "l", "LIMIT", "0", "1", "STORE", "a", "STORE", "b"]);
    assert_eq!(keys, ["l", "b"]);
}

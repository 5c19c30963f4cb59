//! Every command Redis 7.0 also has answers `COMMAND INFO` with exactly the bytes Redis does (arity, flags,
//! first/last/step, ACL categories, tips and key specs), read off a running redis-server. (The walk over the
//! table's promises is keel-engine's own test.)

mod common;
use common::{RealRedis, TestServer};
use keel_engine::exec::commands::CommandTable;

/// Commands whose COMMAND INFO changed after 7.0: ZRANK/ZREVRANK took WITHSCORE (7.2), and the blocking
/// commands lost `noscript` when scripts could call them without blocking (7.2).
const NEWER_THAN_7_0: &[&str] =
    &["zrank", "zrevrank", "blpop", "brpop", "brpoplpush", "blmove", "bzpopmin", "bzpopmax", "wait"];

#[test]
fn command_info_is_redis_s_byte_for_byte() {
    let Some(redis) = RealRedis::start(&[]) else { return };
    let keel = TestServer::start();
    let table = CommandTable::build();
    let (mut ours, mut theirs) = (keel.raw(), common::Raw::connect(redis.port));
    let mut compared = 0;
    for cmd in table.all().filter(|c| !c.is_container()) {
        let name = cmd.fullname.as_bytes();
        let redis_says = theirs.command(&[b"COMMAND", b"INFO", name]);
        if redis_says == keel_protocol::Frame::Array(vec![keel_protocol::Frame::Null]) {
            continue; // Keel's own (ACL RESTTOKEN)
        }
        if NEWER_THAN_7_0.contains(&cmd.fullname.as_str()) {
            continue;
        }
        assert_eq!(ours.command(&[b"COMMAND", b"INFO", name]), redis_says, "COMMAND INFO {}", cmd.fullname);
        compared += 1;
    }
    assert!(compared > 250, "only {compared} commands compared");
}

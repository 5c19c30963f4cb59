//! The command table keeps its promises: a walk over every command fails when one lacks what its flags
//! promise (a handler or subcommands, an unlocked handler a state admits, keys a blocking command waits on,
//! key specs that say how each key is touched and never name an argument that is not there).

use keel_engine::exec::commands::{flags, key, Channels, CommandTable, Lookup};

#[test]
fn every_command_has_what_its_flags_promise() {
    let table = CommandTable::build();
    let mut problems = Vec::new();
    for cmd in table.all() {
        let name = &cmd.fullname;
        let mut fail = |why: &str| problems.push(format!("{name}: {why}"));
        if cmd.is_container() == cmd.subcommands.is_empty() || (!cmd.is_container() && cmd.spec.handler.is_none()) {
            fail("a command runs a handler, a container its subcommands");
        }
        if cmd.has(flags::READONLY) && cmd.has(flags::WRITE) {
            fail("both readonly and write");
        }
        if cmd.has(flags::DENYOOM) && !cmd.has(flags::WRITE) {
            fail("denyoom but not write");
        }
        if cmd.spec.unlocked.is_some() && !cmd.has(flags::LOADING | flags::ALLOW_BUSY) {
            fail("an unlocked handler no state admits (neither loading nor allow_busy)");
        }
        if cmd.spec.channels != Channels::None && !cmd.has(flags::PUBSUB) {
            fail("names channels but is not pubsub");
        }
        for spec in cmd.spec.keys {
            let how = spec.flags & (key::RO | key::RW | key::OW | key::RM);
            if spec.flags & key::NOT_KEY == 0 && how.count_ones() != 1 {
                fail("a key spec says not exactly one of RO, RW, OW, RM");
            }
            let read_only_command = cmd.has(flags::READONLY) && !cmd.has(flags::MAY_REPLICATE);
            if read_only_command && spec.flags & (key::RW | key::OW | key::RM) != 0 {
                fail("a read-only command with a key it writes");
            }
        }
        // A blocking command waits on keys, or (WAIT, WAITAOF) on replicas and the log.
        let waits_on_acks = ["wait", "waitaof"].contains(&cmd.spec.name);
        if cmd.has(flags::BLOCKING) && cmd.spec.keys.is_empty() && !waits_on_acks {
            fail("blocking on no key");
        }
        // Any arguments at all resolve to keys without panicking, and name only arguments that exist.
        let arity = cmd.spec.arity.unsigned_abs() as usize;
        for extra in 0..6 {
            let words: Vec<Vec<u8>> = (0..arity + extra).map(|i| format!("{}", i % 3).into_bytes()).collect();
            let args: Vec<&[u8]> = words.iter().map(Vec::as_slice).collect();
            if cmd.keys(&args).iter().any(|(at, _)| *at >= args.len() || *at == 0) {
                fail("a key position outside the arguments");
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Names and subcommands resolve as clients write them.
    assert!(matches!(table.lookup(&[&b"GeT"[..], b"k"]), Lookup::Found(c) if c.fullname == "get"));
    assert!(matches!(table.lookup(&[&b"client"[..], b"LIST"]), Lookup::Found(c) if c.fullname == "client|list"));
}

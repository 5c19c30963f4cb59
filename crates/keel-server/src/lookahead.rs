//! A pipeline's look-ahead: before a batch of commands runs, the keys they name (and the members of the
//! collections those keys hold) start loading into the cache, so that the batch's cache misses overlap
//! instead of following one another.

use keel_engine::exec::batch::Batch;
use keel_protocol::{Parsed, RequestParser};

/// Pipelined commands at most looked ahead at to prefetch their keys.
const PREFETCH_AHEAD: usize = 32;
/// Batches run without looking ahead after one where looking ahead found nothing to gain.
pub(crate) const PREFETCH_PAUSE: u8 = 16;

/// What looking ahead at the next commands of a batch covered.
pub(crate) struct LookedAhead {
    /// Bytes of the buffer holding the commands looked at: the next look starts past them.
    pub(crate) bytes: usize,
    /// Whether to look at the commands after them: false when fewer than two complete commands were left,
    /// or when they held fewer than two things to prefetch (see `worth`).
    pub(crate) go_on: bool,
    /// False when several commands held fewer than two things to prefetch: looking ahead costs more than
    /// it saves for this client's pipelines.
    pub(crate) worth: bool,
}

/// When `buf` holds several complete commands, starts loading the keys the next [`PREFETCH_AHEAD`] name
/// (their first argument, where nearly every command names one) into the cache before the first runs, so
/// that their cache misses overlap rather than follow one another. A single command gains nothing from it
/// and is left alone, and a key named again right after is fetched once. Later passes load, once the
/// entries have arrived, what they point to (keys and strings past 15 bytes live on the heap), then each
/// command's second argument as a member of the collection its key holds (a hash's field, a set's or
/// sorted set's member), then that member's bytes: a pipeline of HSETs into one big hash waits for its
/// fields together. A longer pipeline is looked at again once its batch reaches the commands after those.
pub(crate) fn prefetch_keys(
    parser: &mut RequestParser,
    batch: &mut Batch,
    db: usize,
    buf: &[u8],
    max_bulk: usize,
) -> LookedAhead {
    parser.reset();
    let mut pos = 0;
    let mut named: [Option<KeyAndMember>; PREFETCH_AHEAD] = [None; PREFETCH_AHEAD];
    let mut seen = 0;
    while seen < PREFETCH_AHEAD {
        // Inline commands (a person typing) are not worth parsing twice.
        if buf.get(pos) != Some(&b'*') {
            break;
        }
        let Ok(Some(parsed)) = parser.parse(&buf[pos..], max_bulk, true) else { break };
        if let Parsed::Command { .. } = parsed {
            let command = &buf[pos..];
            named[seen] = key_and_member(parser, command);
        }
        pos += parsed.consumed();
        seen += 1;
    }
    if seen < 2 {
        return LookedAhead { bytes: pos, go_on: false, worth: true };
    }
    let named = &named[..seen];
    let mut slots = [None; PREFETCH_AHEAD];
    let mut fresh = [false; PREFETCH_AHEAD];
    let mut fetched = 0;
    let mut last: Option<(&[u8], Option<usize>)> = None;
    for (i, (key, _)) in named.iter().enumerate().filter_map(|(i, n)| n.map(|n| (i, n))) {
        slots[i] = match last {
            Some((previous, slot)) if previous == key => slot,
            _ => {
                let slot = batch.prefetch(db, key);
                (fresh[i], fetched) = (true, fetched + 1);
                last = Some((key, slot));
                slot
            }
        };
    }
    for (i, slot) in slots[..seen].iter().enumerate() {
        if let (Some(slot), true) = (slot, fresh[i]) {
            batch.prefetch_contents(db, *slot);
        }
    }
    let mut members = [None; PREFETCH_AHEAD];
    for (i, name) in named.iter().enumerate() {
        if let (Some(slot), Some((_, Some(member)))) = (slots[i], name) {
            members[i] = batch.prefetch_member(db, slot, member);
            fetched += usize::from(members[i].is_some());
        }
    }
    for (slot, member) in slots[..seen].iter().zip(&members[..seen]) {
        if let (Some(slot), Some(member)) = (slot, member) {
            batch.prefetch_member_key(db, *slot, *member);
        }
    }
    let worth = fetched >= 2;
    LookedAhead { bytes: pos, go_on: worth && seen == PREFETCH_AHEAD, worth }
}

/// The key the command just parsed names first, and the member of its collection it may name: its first
/// argument and [`member_of`] for nearly every command; for a script (EVAL, EVALSHA, FCALL and their _RO
/// forms) the first of its KEYS, after the script and the key count, and no member.
fn key_and_member<'a>(parser: &RequestParser, command: &'a [u8]) -> Option<KeyAndMember<'a>> {
    let name = parser.arg(command, 0)?;
    let scripted = matches!(name.first(), Some(b'e' | b'E' | b'f' | b'F'))
        && [&b"EVALSHA"[..], b"EVAL", b"FCALL", b"EVALSHA_RO", b"EVAL_RO", b"FCALL_RO"]
            .iter()
            .any(|script| name.eq_ignore_ascii_case(script));
    if !scripted {
        return parser.arg(command, 1).map(|key| (key, member_of(parser, command)));
    }
    let has_keys = parser.arg(command, 2).is_some_and(|numkeys| numkeys != b"0");
    parser.arg(command, 3).filter(|_| has_keys).map(|key| (key, None))
}

/// A command's first argument (the key, for nearly every command) and the argument that may be a member
/// of the collection the key holds (see [`member_of`]).
type KeyAndMember<'a> = (&'a [u8], Option<&'a [u8]>);

/// The argument of the command just parsed that names a member of its key's collection, if it has one:
/// the second for most (HSET key field, SADD key member, ZSCORE key member), the last for ZADD and ZINCRBY,
/// whose members follow a score. A guess only costs a lookup that finds nothing.
fn member_of<'a>(parser: &RequestParser, command: &'a [u8]) -> Option<&'a [u8]> {
    let name = parser.arg(command, 0)?;
    let scored = name.eq_ignore_ascii_case(b"ZADD") || name.eq_ignore_ascii_case(b"ZINCRBY");
    let at = if scored { parser.arg_count().checked_sub(1)? } else { 2 };
    parser.arg(command, at).filter(|_| at >= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the look-ahead would fetch for one command written as RESP.
    fn named(args: &[&str]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
        let mut command = format!("*{}\r\n", args.len());
        for arg in args {
            command.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        let mut parser = RequestParser::new();
        let parsed = parser.parse(command.as_bytes(), 1 << 20, true);
        assert!(matches!(parsed, Ok(Some(Parsed::Command { .. }))));
        key_and_member(&parser, command.as_bytes()).map(|(key, member)| (key.to_vec(), member.map(<[u8]>::to_vec)))
    }

    #[test]
    fn commands_name_their_first_argument_and_maybe_a_member() {
        assert_eq!(named(&["GET", "k"]), Some((b"k".to_vec(), None)));
        assert_eq!(named(&["HSET", "h", "f", "v"]), Some((b"h".to_vec(), Some(b"f".to_vec()))));
        assert_eq!(named(&["ZADD", "z", "1", "m"]), Some((b"z".to_vec(), Some(b"m".to_vec()))));
        assert_eq!(named(&["PING"]), None);
    }

    /// `count` commands `words`, each with its number appended to the last word, as RESP.
    fn pipeline(words: &[&str], count: usize, numbered: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for i in 0..count {
            let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
            if numbered {
                if let Some(last) = args.last_mut() {
                    last.push_str(&i.to_string());
                }
            }
            out.extend(format!("*{}\r\n", args.len()).bytes());
            for arg in &args {
                out.extend(format!("${}\r\n{arg}\r\n", arg.len()).bytes());
            }
        }
        out
    }

    #[test]
    fn a_long_pipeline_is_looked_at_window_after_window() {
        let dir = std::env::temp_dir().join(format!("keel-lookahead-{}", std::process::id()));
        let settings = keel_engine::Settings {
            dir: dir.clone(),
            appendonly: false,
            save: String::new(),
            ..keel_engine::Settings::default()
        };
        let server = keel_engine::Server::new(settings).unwrap();
        let tenant = server.default_tenant();
        let mut batch = Batch::new(&server, &tenant);
        let mut parser = RequestParser::new();
        let window = pipeline(&["GET", "key:"], PREFETCH_AHEAD, true);
        let buf = pipeline(&["GET", "key:"], PREFETCH_AHEAD + 8, true);
        let first = prefetch_keys(&mut parser, &mut batch, 0, &buf, 1 << 20);
        assert_eq!((first.bytes, first.go_on, first.worth), (window.len(), true, true));
        // The last eight: the pipeline's end, so no look after them.
        let rest = prefetch_keys(&mut parser, &mut batch, 0, &buf[first.bytes..], 1 << 20);
        assert_eq!((rest.bytes, rest.go_on, rest.worth), (buf.len() - window.len(), false, true));
        // One key over and over is fetched once: not worth looking ahead for.
        let same = pipeline(&["GET", "key"], PREFETCH_AHEAD + 8, false);
        let once = prefetch_keys(&mut parser, &mut batch, 0, &same, 1 << 20);
        assert_eq!((once.go_on, once.worth), (false, false));
        // A lone command is left alone, and no pause follows.
        let lone = prefetch_keys(&mut parser, &mut batch, 0, &buf[..window.len() / PREFETCH_AHEAD], 1 << 20);
        assert_eq!((lone.go_on, lone.worth), (false, true));
        batch.finish();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn scripts_name_their_first_key_and_no_member() {
        let sha = "a".repeat(40);
        assert_eq!(named(&["evalsha", &sha, "2", "k1", "k2", "60"]), Some((b"k1".to_vec(), None)));
        assert_eq!(named(&["EVAL", "return 1", "1", "k"]), Some((b"k".to_vec(), None)));
        assert_eq!(named(&["FCALL_RO", "f", "1", "k", "a"]), Some((b"k".to_vec(), None)));
        assert_eq!(named(&["EVALSHA", &sha, "0", "arg"]), None);
        assert_eq!(named(&["EVAL", "return 1", "0"]), None);
    }
}

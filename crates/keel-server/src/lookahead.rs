//! A pipeline's look-ahead: before a batch of commands runs, the keys they name (and the members of the
//! collections those keys hold) start loading into the cache, so that the batch's cache misses overlap
//! instead of following one another. The commands it parsed to find them are kept ([`Lookahead::take`]), so
//! that the batch runs them without parsing them again.

use keel_engine::exec::batch::Batch;
use keel_protocol::{Parsed, ProtocolError, RequestParser};

/// Argument spans kept at most for the commands of one look: enough for a window of short commands (SET,
/// HSET), so that what a connection keeps stays small; the commands past them are parsed again.
const KEPT_SPANS: usize = 4 * PREFETCH_AHEAD;

/// The look-ahead of one connection: its parser, and the commands its last look parsed.
#[derive(Default)]
pub(crate) struct Lookahead {
    parser: RequestParser,
    /// Commands parsed, in order: where each starts in the input, the bytes it takes, and where its
    /// arguments' spans end in `spans`.
    commands: Vec<(usize, usize, usize)>,
    /// Arguments' spans, `(start, len)` in the input.
    spans: Vec<(usize, usize)>,
    /// The next command of `commands` to hand to the batch.
    next: usize,
}

impl Lookahead {
    /// Forgets the commands parsed (the input they point into is about to change).
    pub(crate) fn forget(&mut self) {
        self.commands.clear();
        self.spans.clear();
        self.next = 0;
    }

    /// The command parsed ahead that starts at `pos` of the input `buf`, if the last look parsed it: its
    /// arguments into `args` (none for an empty request), and the bytes it takes. The commands are taken in
    /// order; asking for any other position forgets them.
    pub(crate) fn take<'a>(&mut self, buf: &'a [u8], pos: usize, args: &mut Vec<&'a [u8]>) -> Option<usize> {
        let &(start, consumed, spans_end) = self.commands.get(self.next)?;
        if start != pos {
            self.forget();
            return None;
        }
        let spans_start = match self.next {
            0 => 0,
            n => self.commands[n - 1].2,
        };
        args.clear();
        args.extend(self.spans[spans_start..spans_end].iter().map(|&(at, len)| &buf[at..at + len]));
        self.next += 1;
        Some(consumed)
    }

    /// Keeps the command the parser just parsed, which starts at `start` of the input; false when there is
    /// no room for its arguments.
    fn keep(&mut self, start: usize, consumed: usize, command: bool) -> bool {
        let spans = if command { self.parser.spans() } else { &[] };
        if self.spans.len() + spans.len() > KEPT_SPANS {
            return false;
        }
        self.spans.extend(spans.iter().map(|&(at, len)| (start + at, len)));
        self.commands.push((start, consumed, self.spans.len()));
        true
    }
}

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

/// The request at `pos` of the input `buf`, a command's arguments put in `args`: the command the look-ahead
/// parsed there, when it did and the client is authenticated (it parses as for one), or else parsed now by
/// the connection's `parser` (what it holds of an earlier read's part of the command is then done with).
pub(crate) fn next_request<'a>(
    (parser, ahead, authenticated): (&mut RequestParser, &mut Lookahead, bool),
    buf: &'a [u8],
    pos: usize,
    max_bulk: usize,
    args: &mut Vec<&'a [u8]>,
) -> Result<Option<Parsed>, ProtocolError> {
    if let Some(consumed) = authenticated.then(|| ahead.take(buf, pos, args)).flatten() {
        parser.reset();
        return Ok(Some(match args.is_empty() {
            true => Parsed::Empty { consumed },
            false => Parsed::Command { consumed },
        }));
    }
    let parsed = parser.parse(&buf[pos..], max_bulk, authenticated)?;
    if let Some(Parsed::Command { .. }) = parsed {
        parser.args(&buf[pos..], args);
    }
    Ok(parsed)
}

/// When the input `input` holds several complete commands from `from` on, starts loading the keys the next
/// [`PREFETCH_AHEAD`] name
/// (their first argument, where nearly every command names one) into the cache before the first runs, so
/// that their cache misses overlap rather than follow one another. A single command gains nothing from it
/// and is left alone, and a key named again right after is fetched once. Later passes load, once the
/// entries have arrived, what they point to (keys and strings past 15 bytes live on the heap), then each
/// command's second argument as a member of the collection its key holds (a hash's field, a set's or
/// sorted set's member), then that member's bytes: a pipeline of HSETs into one big hash waits for its
/// fields together. A longer pipeline is looked at again once its batch reaches the commands after those.
/// The commands parsed are kept for [`Lookahead::take`] (those an earlier look kept are forgotten). Only an authenticated client's commands are looked at: they are parsed
/// as such.
pub(crate) fn prefetch_keys(
    ahead: &mut Lookahead,
    batch: &mut Batch,
    db: usize,
    input: &[u8],
    from: usize,
    max_bulk: usize,
) -> LookedAhead {
    let buf = &input[from..];
    ahead.forget();
    ahead.parser.reset();
    let mut pos = 0;
    let mut named: [Option<KeyAndMember>; PREFETCH_AHEAD] = [None; PREFETCH_AHEAD];
    let mut seen = 0;
    let mut keeping = true;
    while seen < PREFETCH_AHEAD {
        // Inline commands (a person typing) are left to the batch's parser.
        if buf.get(pos) != Some(&b'*') {
            break;
        }
        let Ok(Some(parsed)) = ahead.parser.parse(&buf[pos..], max_bulk, true) else { break };
        let command = matches!(parsed, Parsed::Command { .. });
        if command {
            named[seen] = key_and_member(&ahead.parser, &buf[pos..]);
        }
        keeping = keeping && ahead.keep(from + pos, parsed.consumed(), command);
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
        let mut ahead = Lookahead::default();
        let window = pipeline(&["GET", "key:"], PREFETCH_AHEAD, true);
        let buf = pipeline(&["GET", "key:"], PREFETCH_AHEAD + 8, true);
        let first = prefetch_keys(&mut ahead, &mut batch, 0, &buf, 0, 1 << 20);
        assert_eq!((first.bytes, first.go_on, first.worth), (window.len(), true, true));
        // The last eight: the pipeline's end, so no look after them.
        let rest = prefetch_keys(&mut ahead, &mut batch, 0, &buf, first.bytes, 1 << 20);
        assert_eq!((rest.bytes, rest.go_on, rest.worth), (buf.len() - window.len(), false, true));
        // One key over and over is fetched once: not worth looking ahead for.
        let same = pipeline(&["GET", "key"], PREFETCH_AHEAD + 8, false);
        let once = prefetch_keys(&mut ahead, &mut batch, 0, &same, 0, 1 << 20);
        assert_eq!((once.go_on, once.worth), (false, false));
        // A lone command is left alone, and no pause follows.
        let lone = prefetch_keys(&mut ahead, &mut batch, 0, &buf[..window.len() / PREFETCH_AHEAD], 0, 1 << 20);
        assert_eq!((lone.go_on, lone.worth), (false, true));
        batch.finish();
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_commands_looked_at_are_taken_in_order_without_parsing_them_again() {
        let dir = std::env::temp_dir().join(format!("keel-lookahead-take-{}", std::process::id()));
        let settings =
            keel_engine::Settings { dir: dir.clone(), appendonly: false, ..keel_engine::Settings::default() };
        let server = keel_engine::Server::new(settings).unwrap();
        let tenant = server.default_tenant();
        let mut batch = Batch::new(&server, &tenant);
        let mut ahead = Lookahead::default();
        // Two commands with an empty request between them, after 5 bytes the batch already ran.
        let mut buf = b"xxxxx".to_vec();
        buf.extend(pipeline(&["SET", "k", "v"], 1, false));
        buf.extend(b"*0\r\n");
        buf.extend(pipeline(&["HSET", "h", "f", "v"], 1, false));
        prefetch_keys(&mut ahead, &mut batch, 0, &buf, 5, 1 << 20);
        let mut args = Vec::new();
        let mut pos = 5;
        let mut taken = Vec::new();
        while let Some(consumed) = ahead.take(&buf, pos, &mut args) {
            taken.push(args.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>());
            pos += consumed;
        }
        assert_eq!(taken, vec![vec!["SET", "k", "v"], vec![], vec!["HSET", "h", "f", "v"]]);
        assert_eq!(pos, buf.len());
        // Asked for another position (the batch parsed on its own), the look-ahead forgets what it kept.
        prefetch_keys(&mut ahead, &mut batch, 0, &buf, 5, 1 << 20);
        assert_eq!(ahead.take(&buf, 6, &mut args), None);
        assert_eq!(ahead.take(&buf, 5, &mut args), None);
        // A window of long commands keeps only what fits; the rest is parsed again.
        let long = pipeline(&["MSET", "a", "1", "b", "2", "c", "3", "d"], PREFETCH_AHEAD, true);
        prefetch_keys(&mut ahead, &mut batch, 0, &long, 0, 1 << 20);
        let mut kept = 0;
        pos = 0;
        while let Some(consumed) = ahead.take(&long, pos, &mut args) {
            (kept, pos) = (kept + 1, pos + consumed);
        }
        assert_eq!(kept, KEPT_SPANS / 8);
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

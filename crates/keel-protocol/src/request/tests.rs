//! Unit tests of the request parser: every framing rule and error text of Redis's request parsing.

use super::*;

const MAX: usize = 512 * 1024 * 1024;

fn parse_all(input: &[u8]) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
    let mut parser = RequestParser::new();
    let mut pos = 0;
    let mut commands = Vec::new();
    while let Some(parsed) = parser.parse(&input[pos..], MAX, true)? {
        match parsed {
            Parsed::Command { consumed } => {
                let mut args = Vec::new();
                parser.args(&input[pos..], &mut args);
                commands.push(args.iter().map(|a| a.to_vec()).collect());
                pos += consumed;
            }
            Parsed::Inline { args, consumed } => {
                commands.push(args);
                pos += consumed;
            }
            Parsed::Empty { consumed } => pos += consumed,
        }
    }
    Ok(commands)
}

fn words(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|w| w.as_bytes().to_vec()).collect()
}

#[test]
fn multibulk_and_pipeline() {
    let input = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*1\r\n$4\r\nPING\r\n";
    assert_eq!(parse_all(input).unwrap(), vec![words(&["GET", "k"]), words(&["PING"])]);
}

#[test]
fn binary_safe_bulk() {
    let input = b"*2\r\n$4\r\nECHO\r\n$4\r\n\r\n\0\xff\r\n";
    assert_eq!(parse_all(input).unwrap(), vec![vec![b"ECHO".to_vec(), b"\r\n\0\xff".to_vec()]]);
}

#[test]
fn incomplete_at_every_split_then_complete() {
    let input = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
    for split in 0..input.len() {
        let mut parser = RequestParser::new();
        assert_eq!(parser.parse(&input[..split], MAX, true).unwrap(), None, "split {split}");
        let parsed = parser.parse(input, MAX, true).unwrap();
        assert_eq!(parsed, Some(Parsed::Command { consumed: input.len() }));
        let mut args = Vec::new();
        parser.args(input, &mut args);
        assert_eq!(args, vec![&b"SET"[..], b"key", b"value"]);
    }
}

#[test]
fn empty_requests_are_consumed() {
    assert_eq!(parse_all(b"*0\r\n*-1\r\n\r\n   \n").unwrap(), Vec::<Vec<Vec<u8>>>::new());
}

#[test]
fn inline_commands() {
    assert_eq!(parse_all(b"SET k v\r\n").unwrap(), vec![words(&["SET", "k", "v"])]);
    assert_eq!(parse_all(b"PING\n").unwrap(), vec![words(&["PING"])]);
    assert_eq!(
        parse_all(b"SET \"a b\" 'c d' \"\\x41\\n\"\r\n").unwrap(),
        vec![vec![b"SET".to_vec(), b"a b".to_vec(), b"c d".to_vec(), b"A\n".to_vec()]]
    );
}

#[test]
fn error_texts_match_redis() {
    let err = |input: &[u8]| parse_all(input).unwrap_err().0;
    assert_eq!(err(b"*x\r\n"), "ERR Protocol error: invalid multibulk length");
    assert_eq!(err(b"*3000000000\r\n"), "ERR Protocol error: invalid multibulk length");
    assert_eq!(err(b"*1\r\n$-1\r\n"), "ERR Protocol error: invalid bulk length");
    assert_eq!(err(b"*1\r\n$abc\r\n"), "ERR Protocol error: invalid bulk length");
    assert_eq!(err(b"*1\r\n$999999999999\r\n"), "ERR Protocol error: invalid bulk length");
    // A length line longer than any well-formed one ends where its CR is, wherever that is.
    assert_eq!(err(b"*1\r\n$1111111111111111111111111111111\r\n"), "ERR Protocol error: invalid bulk length");
    assert_eq!(err(b"*1111111111111111111111111111111\r\n"), "ERR Protocol error: invalid multibulk length");
    assert_eq!(err(b"*1\r\n:1\r\n"), "ERR Protocol error: expected '$', got ':'");
    assert_eq!(err(b"SET \"k v\r\n"), "ERR Protocol error: unbalanced quotes in request");
    assert_eq!(err(b"SET \"k\"v\r\n"), "ERR Protocol error: unbalanced quotes in request");
    let long = vec![b'a'; INLINE_MAX_SIZE + 1];
    assert_eq!(err(&long), "ERR Protocol error: too big inline request");
    let mut header = b"*".to_vec();
    header.extend(vec![b'1'; INLINE_MAX_SIZE + 1]);
    assert_eq!(err(&header), "ERR Protocol error: too big mbulk count string");
}

#[test]
fn unauthenticated_limits() {
    let mut parser = RequestParser::new();
    let err = parser.parse(b"*11\r\n", MAX, false).unwrap_err();
    assert_eq!(err.0, "ERR Protocol error: unauthenticated multibulk length");
    let mut parser = RequestParser::new();
    let err = parser.parse(b"*1\r\n$16385\r\n", MAX, false).unwrap_err();
    assert_eq!(err.0, "ERR Protocol error: unauthenticated bulk length");
}

#[test]
fn resumes_without_rescanning() {
    let mut parser = RequestParser::new();
    let input = b"*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n";
    assert_eq!(parser.parse(&input[..20], MAX, true).unwrap(), None);
    assert_eq!(parser.bulk_bytes_missing(20), 10);
    assert!(parser.parse(input, MAX, true).unwrap().is_some());
}

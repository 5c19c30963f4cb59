//! Reading replies back into a tree: scripts turn a command's encoded reply into Lua values, REST's event
//! stream reads pub/sub messages, and tests check what the encoder wrote. Both RESP2 and RESP3 types are
//! understood.

use memchr::memchr;

/// One decoded reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    Bulk(Vec<u8>),
    /// RESP2 `$-1`/`*-1` and RESP3 `_`.
    Null,
    Array(Vec<Frame>),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    /// The double's text as sent (`1.5`, `inf`).
    Double(Vec<u8>),
    Boolean(bool),
    BigNumber(Vec<u8>),
    Verbatim(Vec<u8>, Vec<u8>),
}

/// A reply that is not valid RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

/// Parses one reply at the start of `buf`: `Ok(None)` if incomplete, else the frame and bytes consumed.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let mut pos = 0;
    match parse_at(buf, &mut pos, 0)? {
        Some(frame) => Ok(Some((frame, pos))),
        None => Ok(None),
    }
}

const MAX_DEPTH: usize = 512;

fn parse_at(buf: &[u8], pos: &mut usize, depth: usize) -> Result<Option<Frame>, FrameError> {
    if depth > MAX_DEPTH {
        return Err(FrameError("nesting too deep".into()));
    }
    let Some(&kind) = buf.get(*pos) else {
        return Ok(None);
    };
    let Some(line) = read_line(buf, *pos + 1) else {
        return Ok(None);
    };
    let (text, after_line) = line;
    let frame = match kind {
        b'+' => {
            *pos = after_line;
            Frame::Simple(text.to_vec())
        }
        b'-' => {
            *pos = after_line;
            Frame::Error(text.to_vec())
        }
        b':' => {
            *pos = after_line;
            Frame::Integer(parse_int(text)?)
        }
        b',' => {
            *pos = after_line;
            Frame::Double(text.to_vec())
        }
        b'(' => {
            *pos = after_line;
            Frame::BigNumber(text.to_vec())
        }
        b'#' => {
            *pos = after_line;
            match text {
                b"t" => Frame::Boolean(true),
                b"f" => Frame::Boolean(false),
                _ => return Err(FrameError("bad boolean".into())),
            }
        }
        b'_' => {
            *pos = after_line;
            Frame::Null
        }
        b'$' | b'=' | b'!' => {
            let len = parse_int(text)?;
            if len < 0 {
                *pos = after_line;
                return Ok(Some(Frame::Null));
            }
            let end = after_line + len as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            let data = buf[after_line..end].to_vec();
            *pos = end + 2;
            match kind {
                b'$' => Frame::Bulk(data),
                b'!' => Frame::Error(data),
                _ => {
                    if data.len() < 4 || data[3] != b':' {
                        return Err(FrameError("bad verbatim string".into()));
                    }
                    Frame::Verbatim(data[..3].to_vec(), data[4..].to_vec())
                }
            }
        }
        b'*' | b'~' | b'>' | b'%' => {
            let len = parse_int(text)?;
            if len < 0 {
                *pos = after_line;
                return Ok(Some(Frame::Null));
            }
            let mut cursor = after_line;
            let count = if kind == b'%' { 2 * len as usize } else { len as usize };
            let mut items = Vec::with_capacity(count.min(4096));
            for _ in 0..count {
                match parse_at(buf, &mut cursor, depth + 1)? {
                    Some(item) => items.push(item),
                    None => return Ok(None),
                }
            }
            *pos = cursor;
            match kind {
                b'*' => Frame::Array(items),
                b'~' => Frame::Set(items),
                b'>' => Frame::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(items.len() / 2);
                    let mut iter = items.into_iter();
                    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
                        pairs.push((k, v));
                    }
                    Frame::Map(pairs)
                }
            }
        }
        other => return Err(FrameError(format!("unknown reply type byte {other:#04x}"))),
    };
    Ok(Some(frame))
}

fn read_line(buf: &[u8], start: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(start..)?;
    let cr = memchr(b'\r', rest)?;
    if rest.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    Some((&rest[..cr], start + cr + 2))
}

fn parse_int(text: &[u8]) -> Result<i64, FrameError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| FrameError(format!("bad integer {:?}", String::from_utf8_lossy(text))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ReplyWriter, Resp};
    use proptest::prelude::*;

    /// What the writer can express, as a model to encode and then parse back.
    #[derive(Debug, Clone)]
    enum Model {
        Int(i64),
        Bulk(Vec<u8>),
        Simple(String),
        Error(String),
        Null,
        Array(Vec<Model>),
        Map(Vec<(Model, Model)>),
        Bool(bool),
    }

    fn model() -> impl Strategy<Value = Model> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Model::Int),
            proptest::collection::vec(any::<u8>(), 0..64).prop_map(Model::Bulk),
            "[a-zA-Z0-9 ]{0,20}".prop_map(Model::Simple),
            "ERR [a-z ]{0,20}".prop_map(Model::Error),
            Just(Model::Null),
            any::<bool>().prop_map(Model::Bool),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Model::Array),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Model::Map),
            ]
        })
    }

    fn encode(w: &mut ReplyWriter, m: &Model) {
        match m {
            Model::Int(i) => w.int(*i),
            Model::Bulk(b) => w.bulk(b),
            Model::Simple(s) => w.simple(s),
            Model::Error(s) => w.error(s),
            Model::Null => w.null(),
            Model::Bool(b) => w.boolean(*b),
            Model::Array(items) => {
                w.array(items.len());
                items.iter().for_each(|i| encode(w, i));
            }
            Model::Map(pairs) => {
                w.map(pairs.len());
                for (k, v) in pairs {
                    encode(w, k);
                    encode(w, v);
                }
            }
        }
    }

    fn expected(m: &Model) -> Frame {
        match m {
            Model::Int(i) => Frame::Integer(*i),
            Model::Bulk(b) => Frame::Bulk(b.clone()),
            Model::Simple(s) => Frame::Simple(s.as_bytes().to_vec()),
            Model::Error(s) => Frame::Error(s.as_bytes().to_vec()),
            Model::Null => Frame::Null,
            Model::Bool(b) => Frame::Boolean(*b),
            Model::Array(items) => Frame::Array(items.iter().map(expected).collect()),
            Model::Map(pairs) => Frame::Map(pairs.iter().map(|(k, v)| (expected(k), expected(v))).collect()),
        }
    }

    proptest! {
        /// Encoding a reply in RESP3 and parsing it back gives the same reply, and every strict prefix of the
        /// encoding is reported incomplete rather than misread.
        #[test]
        fn encode_then_parse_is_identity(m in model()) {
            let mut w = ReplyWriter::new(Resp::V3);
            encode(&mut w, &m);
            let bytes = w.as_bytes();
            let (frame, used) = parse_frame(bytes).unwrap().unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(frame, expected(&m));
            for cut in 0..bytes.len() {
                prop_assert_eq!(parse_frame(&bytes[..cut]).unwrap(), None);
            }
        }
    }

    proptest! {
        /// Any list of arguments encoded as a multibulk request parses back to the same arguments.
        #[test]
        fn request_roundtrip(args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..10)) {
            let mut bytes = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                bytes.extend(format!("${}\r\n", a.len()).as_bytes());
                bytes.extend(a);
                bytes.extend(b"\r\n");
            }
            let mut parser = crate::RequestParser::new();
            let parsed = parser.parse(&bytes, usize::MAX, true).unwrap();
            prop_assert_eq!(parsed, Some(crate::Parsed::Command { consumed: bytes.len() }));
            let mut out = Vec::new();
            parser.args(&bytes, &mut out);
            let got: Vec<Vec<u8>> = out.iter().map(|a| a.to_vec()).collect();
            prop_assert_eq!(got, args);
        }

        /// Arbitrary bytes never make the request parser panic.
        #[test]
        fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut parser = crate::RequestParser::new();
            let _ = parser.parse(&bytes, 1024, false);
        }
    }
}

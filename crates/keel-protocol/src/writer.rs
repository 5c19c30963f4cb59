//! Encoding replies. Commands write their reply through [`ReplyWriter`] straight into the connection's
//! output buffer, in the protocol the client chose (RESP2, or RESP3 after `HELLO 3`). RESP3-only shapes
//! degrade to their RESP2 forms exactly as Redis does: maps become flat arrays, doubles bulk strings,
//! booleans integers, nulls `$-1`/`*-1`. A writer made with [`ReplyWriter::json`] writes the same calls as
//! Upstash's JSON instead (see `json.rs`), for the REST API. Each element written is a step of work for
//! `keel_pace`, so that a reply of a million elements does not keep its worker from other clients.

use crate::double::format_double;
use crate::json::{JsonShape, JsonStrings};
use crate::{parse_frame, Frame};

/// A reply buffer up to this size is kept whatever the last replies took: the buffer a pipelining client
/// needs between flushes (Redis's PROTO_RESIZE_THRESHOLD is 32 KiB).
pub const KEPT_CAPACITY: usize = 64 * 1024;

/// The protocol version a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resp {
    V2,
    V3,
}

/// Appends encoded replies to a byte buffer.
#[derive(Debug)]
pub struct ReplyWriter {
    buf: Vec<u8>,
    resp: Resp,
    /// Set when the replies are written as JSON rather than RESP.
    json: Option<Box<JsonShape>>,
}

impl ReplyWriter {
    pub fn new(resp: Resp) -> Self {
        Self::with_capacity(resp, 16 * 1024)
    }

    pub fn with_capacity(resp: Resp, capacity: usize) -> Self {
        ReplyWriter { buf: Vec::with_capacity(capacity), resp, json: None }
    }

    /// A writer of Upstash JSON: commands see a RESP2 client; `outcome_depth` is where each value is one
    /// command's outcome (`{"result": ...}` or `{"error": ...}`): 0 for commands, 1 inside EXEC's array.
    pub fn json(strings: JsonStrings, outcome_depth: usize) -> Self {
        ReplyWriter {
            buf: Vec::with_capacity(1024),
            resp: Resp::V2,
            json: Some(Box::new(JsonShape::new(strings, outcome_depth))),
        }
    }

    pub fn resp(&self) -> Resp {
        self.resp
    }

    /// Changes the protocol (after `HELLO`); a JSON writer keeps RESP2's shapes.
    pub fn set_resp(&mut self, resp: Resp) {
        if self.json.is_none() {
            self.resp = resp;
        }
    }

    pub fn is_resp3(&self) -> bool {
        self.resp == Resp::V3
    }

    /// The encoded bytes not yet taken.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets everything written after `len`, a boundary between whole replies (used to drop a reply that
    /// must not be sent).
    pub fn truncate(&mut self, len: usize) {
        self.buf.truncate(len);
        if let Some(json) = &mut self.json {
            json.reset();
        }
    }

    /// Empties the buffer once its replies are sent. A buffer that grew for a large reply is given back
    /// when the replies it held take less than half of it, so what a connection keeps follows its recent
    /// traffic, not its peak (Redis resizes its buffers likewise, in its cron).
    pub fn clear(&mut self) {
        let used = self.buf.len();
        self.buf.clear();
        if let Some(json) = &mut self.json {
            json.reset();
        }
        if self.buf.capacity() > KEPT_CAPACITY && self.buf.capacity() > 2 * used {
            self.buf = Vec::with_capacity(16 * 1024);
        }
    }

    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Makes room for `additional` more bytes of replies.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }

    /// Gives the buffer's memory back (an idle connection's); it grows again with the next reply.
    pub fn release(&mut self) {
        debug_assert!(self.buf.is_empty(), "released with replies unsent");
        self.buf = Vec::new();
    }

    /// `+OK`-style status reply. `text` must not contain CR or LF.
    pub fn simple(&mut self, text: &str) {
        if let Some(json) = &mut self.json {
            return json.status(&mut self.buf, text.as_bytes());
        }
        self.line(b'+', text.as_bytes());
    }

    pub fn ok(&mut self) {
        if let Some(json) = &mut self.json {
            return json.status(&mut self.buf, b"OK");
        }
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// Error reply; `text` carries its code (`ERR ...`, `WRONGTYPE ...`). Newlines are replaced by spaces,
    /// as Redis does, so that an error can never break the framing.
    pub fn error(&mut self, text: &str) {
        if let Some(json) = &mut self.json {
            return json.error(&mut self.buf, text.as_bytes());
        }
        self.buf.push(b'-');
        let start = self.buf.len();
        self.buf.extend_from_slice(text.as_bytes());
        for b in &mut self.buf[start..] {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, value: i64) {
        keel_pace::step();
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(value);
        if let Some(json) = &mut self.json {
            return json.int(&mut self.buf, digits);
        }
        self.line(b':', digits);
    }

    pub fn bulk(&mut self, value: &[u8]) {
        keel_pace::step();
        keel_pace::bytes_ahead(value.len());
        if let Some(json) = &mut self.json {
            return json.string(&mut self.buf, value);
        }
        self.header(b'$', value.len() as i64);
        self.buf.extend_from_slice(value);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `value` (as Redis replies to GET on an integer-encoded string).
    pub fn bulk_int(&mut self, value: i64) {
        self.bulk(itoa::Buffer::new().format(value).as_bytes());
    }

    /// The null reply: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        keel_pace::step();
        if let Some(json) = &mut self.json {
            return json.null(&mut self.buf);
        }
        match self.resp {
            Resp::V2 => self.buf.extend_from_slice(b"$-1\r\n"),
            Resp::V3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    /// The null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        if let Some(json) = &mut self.json {
            return json.null(&mut self.buf);
        }
        match self.resp {
            Resp::V2 => self.buf.extend_from_slice(b"*-1\r\n"),
            Resp::V3 => self.buf.extend_from_slice(b"_\r\n"),
        }
    }

    pub fn array(&mut self, len: usize) {
        if let Some(json) = &mut self.json {
            return json.array(&mut self.buf, len);
        }
        self.header(b'*', len as i64);
    }

    /// A map of `len` pairs: `%` in RESP3, a flat array of `2 * len` in RESP2.
    pub fn map(&mut self, len: usize) {
        match self.resp {
            Resp::V2 => self.header(b'*', 2 * len as i64),
            Resp::V3 => self.header(b'%', len as i64),
        }
    }

    /// A set: `~` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        match self.resp {
            Resp::V2 => self.header(b'*', len as i64),
            Resp::V3 => self.header(b'~', len as i64),
        }
    }

    /// An out-of-band push (pub/sub messages, invalidations): `>` in RESP3, an array in RESP2.
    pub fn push(&mut self, len: usize) {
        match self.resp {
            Resp::V2 => self.header(b'*', len as i64),
            Resp::V3 => self.header(b'>', len as i64),
        }
    }

    /// A double: `,` in RESP3, a bulk string in RESP2, formatted as Redis 7.2+ does ([`format_double`]).
    pub fn double(&mut self, value: f64) {
        let text = format_double(value);
        match self.resp {
            // A step of work for keel_pace, counted by `bulk` in RESP2.
            Resp::V2 => self.bulk(text.as_bytes()),
            Resp::V3 => {
                keel_pace::step();
                self.line(b',', text.as_bytes());
            }
        }
    }

    /// A boolean: `#t`/`#f` in RESP3, `:1`/`:0` in RESP2.
    pub fn boolean(&mut self, value: bool) {
        match (self.resp, value) {
            (Resp::V2, v) => self.int(v as i64),
            (Resp::V3, true) => self.buf.extend_from_slice(b"#t\r\n"),
            (Resp::V3, false) => self.buf.extend_from_slice(b"#f\r\n"),
        }
    }

    /// Verbatim text (`=` with a three-letter format in RESP3, a bulk string in RESP2), e.g. for INFO.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        match self.resp {
            Resp::V2 => self.bulk(text),
            Resp::V3 => {
                self.header(b'=', (text.len() + 4) as i64);
                self.buf.extend_from_slice(format.as_bytes());
                self.buf.push(b':');
                self.buf.extend_from_slice(text);
                self.buf.extend_from_slice(b"\r\n");
            }
        }
    }

    /// Appends bytes that are already a complete encoded reply.
    pub fn raw(&mut self, encoded: &[u8]) {
        if self.json.is_none() {
            return self.buf.extend_from_slice(encoded);
        }
        let mut rest = encoded;
        while let Ok(Some((frame, used))) = parse_frame(rest) {
            self.frame(&frame);
            rest = &rest[used..];
        }
    }

    /// Writes a decoded reply back through the reply calls (how a JSON writer takes pre-encoded bytes).
    fn frame(&mut self, frame: &Frame) {
        match frame {
            Frame::Simple(text) => match &mut self.json {
                Some(json) => json.status(&mut self.buf, text),
                None => self.line(b'+', text),
            },
            Frame::Error(text) => self.error(&String::from_utf8_lossy(text)),
            Frame::Integer(n) => self.int(*n),
            Frame::Bulk(bytes) | Frame::Double(bytes) | Frame::BigNumber(bytes) | Frame::Verbatim(_, bytes) => {
                self.bulk(bytes)
            }
            Frame::Null => self.null(),
            Frame::Boolean(value) => self.boolean(*value),
            Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
                self.array(items.len());
                items.iter().for_each(|item| self.frame(item));
            }
            Frame::Map(pairs) => {
                self.map(pairs.len());
                for (key, value) in pairs {
                    self.frame(key);
                    self.frame(value);
                }
            }
        }
    }

    /// Starts an array whose length is not known yet; finish it with [`ReplyWriter::end_array`].
    pub fn begin_array(&mut self) -> DeferredLen {
        let at = self.buf.len();
        if let Some(json) = &mut self.json {
            json.begin_deferred(&mut self.buf);
            return DeferredLen { at };
        }
        // Room for the largest header we may write, patched (and compacted) at the end.
        self.buf.extend_from_slice(&[0; DEFERRED_ROOM]);
        DeferredLen { at }
    }

    pub fn end_array(&mut self, deferred: DeferredLen, len: usize) {
        if let Some(json) = &mut self.json {
            return json.end_deferred(&mut self.buf);
        }
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(len).as_bytes();
        let mut header = [0u8; DEFERRED_ROOM];
        let end = 1 + digits.len() + 2;
        header[0] = b'*';
        header[1..end - 2].copy_from_slice(digits);
        header[end - 2..end].copy_from_slice(b"\r\n");
        self.buf.splice(deferred.at..deferred.at + DEFERRED_ROOM, header[..end].iter().copied());
    }

    fn header(&mut self, kind: u8, len: i64) {
        // A JSON writer shapes replies as RESP2 does, so every aggregate (map, set, push) arrives as `*`.
        if let (Some(json), b'*') = (&mut self.json, kind) {
            return json.array(&mut self.buf, usize::try_from(len).unwrap_or(0));
        }
        self.line(kind, itoa::Buffer::new().format(len));
    }

    fn line(&mut self, kind: u8, text: impl AsRef<[u8]>) {
        self.buf.push(kind);
        self.buf.extend_from_slice(text.as_ref());
        self.buf.extend_from_slice(b"\r\n");
    }
}

const DEFERRED_ROOM: usize = 24;

/// A placeholder for an array header written before its length is known.
#[must_use]
pub struct DeferredLen {
    at: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(resp: Resp, f: impl FnOnce(&mut ReplyWriter)) -> Vec<u8> {
        let mut w = ReplyWriter::new(resp);
        f(&mut w);
        w.as_bytes().to_vec()
    }

    #[test]
    fn scalar_shapes() {
        assert_eq!(written(Resp::V2, |w| w.int(i64::MIN)), b":-9223372036854775808\r\n");
        assert_eq!(written(Resp::V2, |w| w.bulk(b"hi")), b"$2\r\nhi\r\n");
        assert_eq!(written(Resp::V2, |w| w.null()), b"$-1\r\n");
        assert_eq!(written(Resp::V3, |w| w.null()), b"_\r\n");
        assert_eq!(written(Resp::V2, |w| w.double(1.5)), b"$3\r\n1.5\r\n");
        assert_eq!(written(Resp::V3, |w| w.double(1.5)), b",1.5\r\n");
        assert_eq!(written(Resp::V3, |w| w.boolean(true)), b"#t\r\n");
        assert_eq!(written(Resp::V2, |w| w.boolean(false)), b":0\r\n");
        assert_eq!(written(Resp::V2, |w| w.error("ERR a\r\nb")), b"-ERR a  b\r\n");
    }

    #[test]
    fn aggregate_shapes() {
        assert_eq!(written(Resp::V2, |w| w.map(2)), b"*4\r\n");
        assert_eq!(written(Resp::V3, |w| w.map(2)), b"%2\r\n");
        assert_eq!(written(Resp::V3, |w| w.set(1)), b"~1\r\n");
        assert_eq!(written(Resp::V3, |w| w.verbatim("txt", b"ab")), b"=6\r\ntxt:ab\r\n");
    }

    #[test]
    fn deferred_array() {
        let out = written(Resp::V2, |w| {
            let d = w.begin_array();
            w.int(1);
            w.int(2);
            w.end_array(d, 2);
        });
        assert_eq!(out, b"*2\r\n:1\r\n:2\r\n");
    }
}

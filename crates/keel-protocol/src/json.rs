//! Upstash's JSON encoding of replies, written as the handler makes its reply calls (no RESP in between).
//!
//! The shapes follow RESP2's conventions, as Upstash's REST API does: statuses and bulk strings become
//! JSON strings, integers numbers, nulls `null`, arrays arrays (maps flattened to key, value, ...), booleans
//! 0/1 and doubles strings. Strings are UTF-8 text (invalid bytes replaced by U+FFFD) or, with
//! `Upstash-Encoding: base64`, the base64 of their exact bytes, except the `OK` status, which stays `"OK"`.
//! An error is its text as a string, except at the *outcome depth*, where each value is one command's
//! outcome: `{"result": ...}` or `{"error": "..."}`. A single command or a pipeline has its outcomes at depth
//! 0; `/multi-exec` has them at depth 1, inside EXEC's array.
//!
//! RESP announces an aggregate's length before its elements; the encoder keeps a stack of the open arrays
//! with the elements each still expects, and closes an array (and any parent it completes) after its last
//! element.

use base64::Engine as _;

/// How strings travel in JSON replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStrings {
    /// As UTF-8 text, invalid bytes replaced.
    Text,
    /// As the base64 of their exact bytes (`Upstash-Encoding: base64`).
    Base64,
}

/// An array still waiting for elements.
#[derive(Debug)]
struct Open {
    /// Elements still to come; `None` for an array whose length is given at its end.
    remaining: Option<usize>,
    /// No element written yet (so no comma before the next).
    empty: bool,
    /// The array is an outcome, so closing it also closes `{"result": ...}`.
    wrapped: bool,
}

/// The encoder's state between reply calls.
#[derive(Debug)]
pub(crate) struct JsonShape {
    strings: JsonStrings,
    outcome_depth: usize,
    open: Vec<Open>,
}

impl JsonShape {
    pub(crate) fn new(strings: JsonStrings, outcome_depth: usize) -> Self {
        JsonShape { strings, outcome_depth, open: Vec::new() }
    }

    /// Forgets open arrays: the buffer was cut back to a boundary between whole replies.
    pub(crate) fn reset(&mut self) {
        self.open.clear();
    }

    pub(crate) fn int(&mut self, buf: &mut Vec<u8>, digits: &str) {
        let wrapped = self.begin_value(buf);
        buf.extend_from_slice(digits.as_bytes());
        self.end_value(buf, wrapped);
    }

    pub(crate) fn null(&mut self, buf: &mut Vec<u8>) {
        let wrapped = self.begin_value(buf);
        buf.extend_from_slice(b"null");
        self.end_value(buf, wrapped);
    }

    /// A status reply: `OK` is always the text `"OK"`; other statuses are strings like any other.
    pub(crate) fn status(&mut self, buf: &mut Vec<u8>, text: &[u8]) {
        if text == b"OK" {
            let wrapped = self.begin_value(buf);
            buf.extend_from_slice(b"\"OK\"");
            self.end_value(buf, wrapped);
        } else {
            self.string(buf, text);
        }
    }

    pub(crate) fn string(&mut self, buf: &mut Vec<u8>, bytes: &[u8]) {
        let wrapped = self.begin_value(buf);
        match self.strings {
            JsonStrings::Text => quote_text(buf, bytes),
            JsonStrings::Base64 => quote_base64(buf, bytes),
        }
        self.end_value(buf, wrapped);
    }

    /// An error: `{"error": "..."}` where outcomes are (or above them), else its text as a string, never
    /// base64-encoded.
    pub(crate) fn error(&mut self, buf: &mut Vec<u8>, text: &[u8]) {
        self.separate(buf);
        if self.open.len() <= self.outcome_depth {
            buf.extend_from_slice(b"{\"error\":");
            quote_text(buf, text);
            buf.push(b'}');
        } else {
            quote_text(buf, text);
        }
        self.count_down(buf);
    }

    pub(crate) fn array(&mut self, buf: &mut Vec<u8>, len: usize) {
        let wrapped = self.begin_value(buf);
        buf.push(b'[');
        if len == 0 {
            buf.push(b']');
            self.end_value(buf, wrapped);
        } else {
            self.open.push(Open { remaining: Some(len), empty: true, wrapped });
        }
    }

    /// Opens an array whose length is given when it ends ([`JsonShape::end_deferred`]).
    pub(crate) fn begin_deferred(&mut self, buf: &mut Vec<u8>) {
        let wrapped = self.begin_value(buf);
        buf.push(b'[');
        self.open.push(Open { remaining: None, empty: true, wrapped });
    }

    pub(crate) fn end_deferred(&mut self, buf: &mut Vec<u8>) {
        if let Some(open) = self.open.pop() {
            buf.push(b']');
            self.end_value(buf, open.wrapped);
        }
    }

    /// The comma before any element but an array's first.
    fn separate(&mut self, buf: &mut Vec<u8>) {
        if let Some(parent) = self.open.last_mut() {
            if !parent.empty {
                buf.push(b',');
            }
            parent.empty = false;
        }
    }

    /// Starts a value; true when it is an outcome, opened with `{"result":`.
    fn begin_value(&mut self, buf: &mut Vec<u8>) -> bool {
        self.separate(buf);
        let wrapped = self.open.len() == self.outcome_depth;
        if wrapped {
            buf.extend_from_slice(b"{\"result\":");
        }
        wrapped
    }

    fn end_value(&mut self, buf: &mut Vec<u8>, wrapped: bool) {
        if wrapped {
            buf.push(b'}');
        }
        self.count_down(buf);
    }

    /// One more element of the innermost array is complete: close every array that this completes.
    fn count_down(&mut self, buf: &mut Vec<u8>) {
        while let Some(parent) = self.open.last_mut() {
            let Some(remaining) = parent.remaining.as_mut() else {
                return;
            };
            *remaining -= 1;
            if *remaining > 0 {
                return;
            }
            let wrapped = parent.wrapped;
            self.open.pop();
            buf.push(b']');
            if wrapped {
                buf.push(b'}');
            }
        }
    }
}

/// `bytes` as a quoted JSON string, escaped as serde_json escapes (so the two agree byte for byte).
fn quote_text(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.push(b'"');
    for chunk in bytes.utf8_chunks() {
        escape(buf, chunk.valid());
        if !chunk.invalid().is_empty() {
            buf.extend_from_slice(char::REPLACEMENT_CHARACTER.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
    buf.push(b'"');
}

fn escape(buf: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut plain_from = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let short = match byte {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0..=0x1f => b'u',
            _ => continue,
        };
        buf.extend_from_slice(&bytes[plain_from..at]);
        plain_from = at + 1;
        buf.push(b'\\');
        buf.push(short);
        if short == b'u' {
            buf.extend_from_slice(&[b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]]);
        }
    }
    buf.extend_from_slice(&bytes[plain_from..]);
}

fn quote_base64(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.push(b'"');
    let start = buf.len();
    let engine = &base64::engine::general_purpose::STANDARD;
    buf.resize(start + base64::encoded_len(bytes.len(), true).unwrap_or(0), 0);
    let written = engine.encode_slice(bytes, &mut buf[start..]).unwrap_or(0);
    buf.truncate(start + written);
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::JsonStrings;
    use crate::ReplyWriter;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn written(strings: JsonStrings, outcome_depth: usize, f: impl FnOnce(&mut ReplyWriter)) -> String {
        let mut w = ReplyWriter::json(strings, outcome_depth);
        f(&mut w);
        String::from_utf8(w.as_bytes().to_vec()).unwrap()
    }

    fn text(f: impl FnOnce(&mut ReplyWriter)) -> String {
        written(JsonStrings::Text, 0, f)
    }

    #[test]
    fn outcomes_of_scalars() {
        assert_eq!(text(|w| w.ok()), r#"{"result":"OK"}"#);
        assert_eq!(text(|w| w.int(-7)), r#"{"result":-7}"#);
        assert_eq!(text(|w| w.null()), r#"{"result":null}"#);
        assert_eq!(text(|w| w.bulk(b"a\"b\n\x01")), r#"{"result":"a\"b\n\u0001"}"#);
        assert_eq!(text(|w| w.error("ERR no")), r#"{"error":"ERR no"}"#);
        assert_eq!(text(|w| w.double(1.5)), r#"{"result":"1.5"}"#);
        assert_eq!(text(|w| w.boolean(true)), r#"{"result":1}"#);
        assert_eq!(text(|w| w.bulk(b"\xff")), "{\"result\":\"\u{fffd}\"}");
    }

    #[test]
    fn arrays_close_after_their_last_element() {
        let out = text(|w| {
            w.array(3);
            w.bulk(b"a");
            w.array(2);
            w.int(1);
            w.array(0);
            w.map(1);
            w.bulk(b"k");
            w.null_array();
        });
        assert_eq!(out, r#"{"result":["a",[1,[]],["k",null]]}"#);
        let out = text(|w| {
            let d = w.begin_array();
            w.array(1);
            w.int(1);
            w.error("ERR inside");
            w.end_array(d, 2);
        });
        assert_eq!(out, r#"{"result":[[1],"ERR inside"]}"#);
    }

    #[test]
    fn exec_outcomes_sit_inside_its_array() {
        let out = written(JsonStrings::Text, 1, |w| {
            w.array(3);
            w.ok();
            w.error("ERR bad");
            w.array(1);
            w.int(2);
        });
        assert_eq!(out, r#"[{"result":"OK"},{"error":"ERR bad"},{"result":[2]}]"#);
        assert_eq!(written(JsonStrings::Text, 1, |w| w.error("EXECABORT x")), r#"{"error":"EXECABORT x"}"#);
    }

    #[test]
    fn base64_strings_keep_ok_and_errors_as_text() {
        let b64 = |f: &dyn Fn(&mut ReplyWriter)| written(JsonStrings::Base64, 0, f);
        assert_eq!(b64(&|w| w.bulk(b"hi")), r#"{"result":"aGk="}"#);
        assert_eq!(b64(&|w| w.ok()), r#"{"result":"OK"}"#);
        assert_eq!(b64(&|w| w.simple("QUEUED")), r#"{"result":"UVVFVUVE"}"#);
        assert_eq!(b64(&|w| w.error("ERR x")), r#"{"error":"ERR x"}"#);
        assert_eq!(b64(&|w| w.bulk(b"")), r#"{"result":""}"#);
    }

    #[test]
    fn a_truncated_reply_leaves_no_open_array() {
        let out = text(|w| {
            w.array(2);
            w.int(1);
            w.truncate(0);
            w.int(5);
        });
        assert_eq!(out, r#"{"result":5}"#);
    }

    /// A reply tree, and the JSON Upstash gives for it.
    #[derive(Debug, Clone)]
    enum Reply {
        Ok,
        Int(i64),
        Bulk(Vec<u8>),
        Error(String),
        Null,
        Array(Vec<Reply>),
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let leaf = prop_oneof![
            Just(Reply::Ok),
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Reply::Bulk),
            "[ -~]{0,10}".prop_map(|t| Reply::Error(format!("ERR {t}"))),
            Just(Reply::Null),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| proptest::collection::vec(inner, 0..6).prop_map(Reply::Array))
    }

    fn write(w: &mut ReplyWriter, reply: &Reply) {
        match reply {
            Reply::Ok => w.ok(),
            Reply::Int(n) => w.int(*n),
            Reply::Bulk(b) => w.bulk(b),
            Reply::Error(e) => w.error(e),
            Reply::Null => w.null(),
            Reply::Array(items) => {
                w.array(items.len());
                items.iter().for_each(|item| write(w, item));
            }
        }
    }

    fn expected(reply: &Reply, depth: usize, outcome_depth: usize) -> Value {
        let value = match reply {
            Reply::Error(e) if depth <= outcome_depth => return json!({ "error": e }),
            Reply::Error(e) => json!(e),
            Reply::Ok => json!("OK"),
            Reply::Int(n) => json!(n),
            Reply::Bulk(b) => json!(String::from_utf8_lossy(b)),
            Reply::Null => Value::Null,
            Reply::Array(items) => Value::Array(items.iter().map(|i| expected(i, depth + 1, outcome_depth)).collect()),
        };
        if depth == outcome_depth {
            json!({ "result": value })
        } else {
            value
        }
    }

    proptest! {
        #[test]
        fn strings_escape_as_serde_json_does(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut buf = Vec::new();
            super::quote_text(&mut buf, &bytes);
            let serde = serde_json::to_string(&String::from_utf8_lossy(&bytes)).unwrap();
            prop_assert_eq!(String::from_utf8(buf).unwrap(), serde);
        }

        #[test]
        fn any_reply_tree_is_valid_json_of_its_shape(tree in reply(), outcome_depth in 0usize..2) {
            let mut w = ReplyWriter::json(JsonStrings::Text, outcome_depth);
            write(&mut w, &tree);
            let parsed: Value = serde_json::from_slice(w.as_bytes()).unwrap();
            prop_assert_eq!(parsed, expected(&tree, 0, outcome_depth));
        }

        #[test]
        fn pre_encoded_resp_writes_as_the_calls_would(tree in reply()) {
            let mut resp = ReplyWriter::new(crate::Resp::V2);
            write(&mut resp, &tree);
            let mut direct = ReplyWriter::json(JsonStrings::Base64, 0);
            write(&mut direct, &tree);
            let mut via_raw = ReplyWriter::json(JsonStrings::Base64, 0);
            via_raw.raw(resp.as_bytes());
            prop_assert_eq!(direct.as_bytes(), via_raw.as_bytes());
        }
    }
}

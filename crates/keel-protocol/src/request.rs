//! Parsing client requests: RESP multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) and inline commands (`GET k\r\n`),
//! following Redis's `processMultibulkBuffer` and `processInlineBuffer`, including their error texts.
//!
//! The parser remembers how far it got inside an incomplete command, so a command with a million arguments
//! that arrives in many reads is scanned once, not once per read.

use memchr::memchr;

/// The longest inline command, and the longest `*<n>`/`$<n>` header line, Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX_SIZE: usize = 64 * 1024;
/// Redis's limits for clients that have not authenticated yet.
const UNAUTH_MAX_ARGS: i64 = 10;
const UNAUTH_MAX_BULK: i64 = 16384;

/// A protocol violation. The connection replies with the text (already prefixed with `ERR`) and closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    fn new(text: &str) -> Self {
        ProtocolError(format!("ERR Protocol error: {text}"))
    }
}

/// One complete request found at the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A multibulk command; read its arguments with [`RequestParser::args`].
    Command { consumed: usize },
    /// An inline command, whose arguments had quotes and escapes resolved and so are owned.
    Inline { args: Vec<Vec<u8>>, consumed: usize },
    /// A request with no arguments (`*0`, `*-1` or an empty line): consumed, nothing to run.
    Empty { consumed: usize },
}

impl Parsed {
    /// Bytes of input the request took.
    pub fn consumed(&self) -> usize {
        match self {
            Parsed::Command { consumed } | Parsed::Inline { consumed, .. } | Parsed::Empty { consumed } => *consumed,
        }
    }
}

/// Incremental request parser; one per connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Argument spans `(start, len)` relative to the start of the command being parsed.
    spans: Vec<(usize, usize)>,
    /// Arguments announced by the multibulk header; `None` until the header is read.
    expected: Option<usize>,
    /// Where parsing resumes, relative to the start of the command.
    cursor: usize,
    /// The length of the bulk whose `$<n>` header was read but whose payload is incomplete.
    pending_bulk: Option<usize>,
}

impl RequestParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses the request at the start of `buf`. `Ok(None)` means more bytes are needed; call again with the
    /// same request at the start of a longer buffer.
    pub fn parse(
        &mut self,
        buf: &[u8],
        max_bulk_len: usize,
        authenticated: bool,
    ) -> Result<Option<Parsed>, ProtocolError> {
        if buf.is_empty() {
            return Ok(None);
        }
        if self.expected.is_none() && buf[0] != b'*' {
            return parse_inline(buf);
        }
        self.parse_multibulk(buf, max_bulk_len, authenticated)
    }

    /// The arguments of the command last returned as [`Parsed::Command`], borrowed from the same `buf`.
    pub fn args<'a>(&self, buf: &'a [u8], out: &mut Vec<&'a [u8]>) {
        out.clear();
        out.extend(self.spans.iter().map(|&(start, len)| &buf[start..start + len]));
    }

    /// The arguments of the command last returned as [`Parsed::Command`] as `(start, len)` spans of its
    /// `buf`, for a caller that keeps them to read later.
    pub fn spans(&self) -> &[(usize, usize)] {
        &self.spans
    }

    /// Argument `index` of the command last returned as [`Parsed::Command`], borrowed from the same `buf`.
    /// How many arguments the last command parsed has, its name included.
    pub fn arg_count(&self) -> usize {
        self.spans.len()
    }

    pub fn arg<'a>(&self, buf: &'a [u8], index: usize) -> Option<&'a [u8]> {
        self.spans.get(index).map(|&(start, len)| &buf[start..start + len])
    }

    /// How many more bytes the pending bulk argument needs, as a hint for sizing the next read.
    pub fn bulk_bytes_missing(&self, buffered: usize) -> usize {
        match self.pending_bulk {
            Some(len) => (self.cursor + len + 2).saturating_sub(buffered),
            None => 0,
        }
    }

    /// Forgets a partly parsed request: the next call parses afresh from its buffer's start.
    pub fn reset(&mut self) {
        self.expected = None;
        self.cursor = 0;
        self.pending_bulk = None;
    }

    fn parse_multibulk(
        &mut self,
        buf: &[u8],
        max_bulk_len: usize,
        authenticated: bool,
    ) -> Result<Option<Parsed>, ProtocolError> {
        let expected = match self.expected {
            Some(n) => n,
            None => {
                let Some((count, next)) = header_line(buf, 0, "too big mbulk count string")? else {
                    return Ok(None);
                };
                let count = match count {
                    Some(c) if c <= i32::MAX as i64 => c,
                    _ => return Err(ProtocolError::new("invalid multibulk length")),
                };
                if count > UNAUTH_MAX_ARGS && !authenticated {
                    return Err(ProtocolError::new("unauthenticated multibulk length"));
                }
                if count <= 0 {
                    self.reset();
                    return Ok(Some(Parsed::Empty { consumed: next }));
                }
                self.spans.clear();
                // Do not trust the client's count for the allocation: grow as arguments really arrive.
                self.spans.reserve((count as usize).min(1024));
                self.cursor = next;
                self.expected = Some(count as usize);
                count as usize
            }
        };
        while self.spans.len() < expected {
            let len = match self.pending_bulk {
                Some(len) => len,
                None => {
                    if self.cursor >= buf.len() {
                        return Ok(None);
                    }
                    if buf[self.cursor] != b'$' {
                        // Redis reports the offending byte as a character.
                        let got = buf[self.cursor] as char;
                        return Err(ProtocolError(format!("ERR Protocol error: expected '$', got '{got}'")));
                    }
                    let Some((len, next)) = header_line(buf, self.cursor, "too big bulk count string")? else {
                        return Ok(None);
                    };
                    let len = match len {
                        Some(l) if l >= 0 && (l as u64) <= max_bulk_len as u64 => l,
                        _ => return Err(ProtocolError::new("invalid bulk length")),
                    };
                    if len > UNAUTH_MAX_BULK && !authenticated {
                        return Err(ProtocolError::new("unauthenticated bulk length"));
                    }
                    self.cursor = next;
                    self.pending_bulk = Some(len as usize);
                    len as usize
                }
            };
            // The payload is followed by CRLF, which Redis skips without checking (as we do).
            if buf.len() < self.cursor + len + 2 {
                return Ok(None);
            }
            self.spans.push((self.cursor, len));
            self.cursor += len + 2;
            self.pending_bulk = None;
        }
        let consumed = self.cursor;
        self.reset();
        Ok(Some(Parsed::Command { consumed }))
    }
}

/// Reads a `*<n>\r\n` or `$<n>\r\n` line starting at `at`. Returns the number (None if malformed) and the
/// offset after the line, or `Ok(None)` when the line is incomplete.
fn header_line(buf: &[u8], at: usize, too_big: &str) -> Result<Option<(Option<i64>, usize)>, ProtocolError> {
    let rest = &buf[at..];
    let Some(cr) = line_end(rest) else {
        if rest.len() > INLINE_MAX_SIZE {
            return Err(ProtocolError::new(too_big));
        }
        return Ok(None);
    };
    if cr + 1 >= rest.len() {
        return Ok(None);
    }
    Ok(Some((parse_length(&rest[1..cr]), at + cr + 2)))
}

/// Where the first `\r` in `rest` is. A well-formed header line is a few bytes long, and a byte loop reaches
/// its end before a vectorized search has got going; past those bytes (a malformed line), memchr looks.
fn line_end(rest: &[u8]) -> Option<usize> {
    const SHORT: usize = 24;
    let head = &rest[..rest.len().min(SHORT)];
    match head.iter().position(|&b| b == b'\r') {
        Some(cr) => Some(cr),
        None => Some(SHORT + memchr(b'\r', rest.get(SHORT..)?)?),
    }
}

/// Redis's `string2ll` for protocol lengths: optional `-`, no leading `+`, no leading zeros, fits in i64.
fn parse_length(digits: &[u8]) -> Option<i64> {
    let (negative, digits) = match digits.first() {
        Some(b'-') => (true, &digits[1..]),
        _ => (false, digits),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add((d - b'0') as i64)?;
    }
    Some(if negative { -value } else { value })
}

fn parse_inline(buf: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
    let Some(newline) = memchr(b'\n', buf) else {
        if buf.len() > INLINE_MAX_SIZE {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line_end = if newline > 0 && buf[newline - 1] == b'\r' { newline - 1 } else { newline };
    let consumed = newline + 1;
    let args = split_args(&buf[..line_end]).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
    if args.is_empty() {
        return Ok(Some(Parsed::Empty { consumed }));
    }
    Ok(Some(Parsed::Inline { args, consumed }))
}

/// Redis's `sdssplitargs`: whitespace-separated words, with "double quotes" (supporting `\n`, `\xHH`, ...)
/// and 'single quotes'. A closing quote must be followed by whitespace or the end. `None` on unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut p = 0;
    // C walks a NUL-terminated string: a NUL byte ends the line.
    let line = match memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied();
    loop {
        while matches!(at(p), Some(c) if is_space(c)) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let mut current = Vec::new();
        let (mut in_double, mut in_single) = (false, false);
        loop {
            let c = at(p);
            if in_double {
                match c {
                    None => return None,
                    Some(b'\\') if at(p + 1) == Some(b'x') && hex_pair(at(p + 2), at(p + 3)).is_some() => {
                        current.push(hex_pair(at(p + 2), at(p + 3))?);
                        p += 3;
                    }
                    Some(b'\\') if at(p + 1).is_some() => {
                        p += 1;
                        current.push(match line[p] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 0x08,
                            b'a' => 0x07,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if matches!(at(p + 1), Some(n) if !is_space(n)) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else if in_single {
                match c {
                    None => return None,
                    Some(b'\\') if at(p + 1) == Some(b'\'') => {
                        p += 1;
                        current.push(b'\'');
                    }
                    Some(b'\'') => {
                        if matches!(at(p + 1), Some(n) if !is_space(n)) {
                            return None;
                        }
                        p += 1;
                        break;
                    }
                    Some(other) => current.push(other),
                }
            } else {
                match c {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => current.push(other),
                }
            }
            p += 1;
        }
        args.push(current);
    }
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_pair(hi: Option<u8>, lo: Option<u8>) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(hi?)? * 16 + digit(lo?)?) as u8)
}

#[cfg(test)]
mod tests;

//! The commands of a REST request (Upstash's `POST /` and `/pipeline` bodies), read from JSON and held
//! flat: every argument's bytes in one buffer, so that a pipeline of many small commands costs a few
//! allocations rather than one per argument.
//!
//! A body is `["SET","k","v"]` (one command) or `[["SET","k","v"], ...]` (many). Arguments are strings
//! (unescaped), numbers (their lexeme as written, so `1.50` stays `1.50`) or booleans (`true`/`false`);
//! `null`, arrays and objects are refused, and so is an empty command. The reader takes exactly what a
//! JSON parser (serde_json) takes for that shape, in one pass over the body with no tree built: the unit
//! tests compare it with serde_json on arbitrary bodies, and `fuzz/` runs the same comparison.

/// Commands, each a non-empty list of arguments, name first.
#[derive(Default, Debug)]
pub struct Commands {
    bytes: Vec<u8>,
    /// Where each argument ends in `bytes`.
    arg_ends: Vec<usize>,
    /// Where each command's arguments end in `arg_ends`.
    command_ends: Vec<usize>,
}

impl Commands {
    /// Adds an argument to the command being built (see [`Commands::end_command`]).
    pub fn push_arg(&mut self, arg: &[u8]) {
        self.bytes.extend_from_slice(arg);
        self.arg_ends.push(self.bytes.len());
    }

    /// Ends the command being built; false (and nothing ended) when it has no argument.
    pub fn end_command(&mut self) -> bool {
        if self.arg_ends.len() == self.started() {
            return false;
        }
        self.command_ends.push(self.arg_ends.len());
        true
    }

    /// Where the command being built starts in `arg_ends`.
    fn started(&self) -> usize {
        self.command_ends.last().copied().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.command_ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.command_ends.is_empty()
    }

    /// Bytes of every argument together (what the same commands would meter over RESP).
    pub fn arg_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Where command `i` starts: the index of its first argument, and that argument's first byte.
    fn start_of(&self, i: usize) -> (usize, usize) {
        let first = if i == 0 { 0 } else { self.command_ends[i - 1] };
        (first, if first == 0 { 0 } else { self.arg_ends[first - 1] })
    }

    /// Command `i`'s arguments into `out` (cleared first), borrowed from here.
    pub fn args<'a>(&'a self, i: usize, out: &mut Vec<&'a [u8]>) {
        out.clear();
        let (first, mut start) = self.start_of(i);
        for &end in &self.arg_ends[first..self.command_ends[i]] {
            out.push(&self.bytes[start..end]);
            start = end;
        }
    }

    /// Command `i`'s name.
    pub fn name(&self, i: usize) -> &[u8] {
        let (first, start) = self.start_of(i);
        &self.bytes[start..self.arg_ends[first]]
    }

    /// These commands between MULTI and EXEC: what `/multi-exec` runs.
    pub fn as_transaction(&self) -> Commands {
        let mut transaction = Commands::default();
        transaction.push_arg(b"MULTI");
        transaction.end_command();
        let mut args = Vec::new();
        for i in 0..self.len() {
            self.args(i, &mut args);
            args.iter().for_each(|arg| transaction.push_arg(arg));
            transaction.end_command();
        }
        transaction.push_arg(b"EXEC");
        transaction.end_command();
        transaction
    }

    /// One command from a JSON array of arguments (`POST /`); None when malformed or empty.
    pub fn from_json_command(body: &[u8]) -> Option<Commands> {
        let mut commands = Commands { bytes: Vec::with_capacity(body.len()), ..Commands::default() };
        let mut reader = Reader::new(body)?;
        reader.command(&mut commands)?;
        reader.end()?;
        Some(commands)
    }

    /// A JSON array of commands (`/pipeline`, `/multi-exec`); None when malformed or empty.
    pub fn from_json_commands(body: &[u8]) -> Option<Commands> {
        // The arguments take fewer bytes than the JSON that holds them; an argument takes some eight bytes
        // of JSON and a command some three arguments, guessed up to a bound so that the lists rarely grow.
        let mut commands = Commands {
            bytes: Vec::with_capacity(body.len()),
            arg_ends: Vec::with_capacity((body.len() / 8).min(1024)),
            command_ends: Vec::with_capacity((body.len() / 24).min(256)),
        };
        let mut reader = Reader::new(body)?;
        reader.open_array()?;
        if !reader.close_array() {
            loop {
                reader.command(&mut commands)?;
                if reader.close_array() {
                    break;
                }
                reader.comma()?;
            }
        }
        reader.end()?;
        (!commands.is_empty()).then_some(commands)
    }
}

/// A position in a body known to be UTF-8 (so strings copied from it are too).
struct Reader<'b> {
    body: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    /// None when the body is not UTF-8, which no JSON text may be.
    fn new(body: &'b [u8]) -> Option<Reader<'b>> {
        std::str::from_utf8(body).ok()?;
        Some(Reader { body, at: 0 })
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, consumed when it is `byte`.
    fn take(&mut self, byte: u8) -> bool {
        self.skip_whitespace();
        let found = self.body.get(self.at) == Some(&byte);
        self.at += found as usize;
        found
    }

    fn open_array(&mut self) -> Option<()> {
        self.take(b'[').then_some(())
    }

    fn close_array(&mut self) -> bool {
        self.take(b']')
    }

    fn comma(&mut self) -> Option<()> {
        self.take(b',').then_some(())
    }

    /// Nothing but whitespace is left.
    fn end(&mut self) -> Option<()> {
        self.skip_whitespace();
        (self.at == self.body.len()).then_some(())
    }

    /// `[arg, ...]` with at least one argument, ended as a command.
    fn command(&mut self, commands: &mut Commands) -> Option<()> {
        self.open_array()?;
        loop {
            self.argument(commands)?;
            if self.close_array() {
                return commands.end_command().then_some(());
            }
            self.comma()?;
        }
    }

    /// One argument, pushed: a string, a number or a boolean.
    fn argument(&mut self, commands: &mut Commands) -> Option<()> {
        self.skip_whitespace();
        match self.body.get(self.at)? {
            b'"' => {
                self.at += 1;
                self.string(&mut commands.bytes)?;
            }
            b't' => self.literal(b"true", commands)?,
            b'f' => self.literal(b"false", commands)?,
            b'-' | b'0'..=b'9' => {
                let start = self.at;
                self.number()?;
                commands.bytes.extend_from_slice(&self.body[start..self.at]);
            }
            _ => return None,
        }
        commands.arg_ends.push(commands.bytes.len());
        Some(())
    }

    fn literal(&mut self, word: &[u8], commands: &mut Commands) -> Option<()> {
        self.body[self.at..].starts_with(word).then_some(())?;
        self.at += word.len();
        commands.bytes.extend_from_slice(word);
        Some(())
    }

    /// A number's lexeme, checked against JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        self.at += (self.body[self.at] == b'-') as usize;
        match self.body.get(self.at)? {
            b'0' => self.at += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.body.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.body.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.body.get(self.at) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.body.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.at;
        self.digits();
        (self.at > start).then_some(())
    }

    /// A string's content after its opening quote, unescaped onto `out`, through its closing quote.
    fn string(&mut self, out: &mut Vec<u8>) -> Option<()> {
        loop {
            let rest = &self.body[self.at..];
            let stop = plain_run(rest)?;
            // JSON strings hold no raw control characters.
            if rest[stop] < 0x20 {
                return None;
            }
            out.extend_from_slice(&rest[..stop]);
            self.at += stop + 1;
            if rest[stop] == b'"' {
                return Some(());
            }
            self.escape(out)?;
        }
    }

    /// The escape after a backslash, unescaped onto `out`.
    fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let byte = match self.body.get(self.at)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => b'\x08',
            b'f' => b'\x0c',
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                self.at += 1;
                let c = self.unicode_escape()?;
                out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                return Some(());
            }
            _ => return None,
        };
        self.at += 1;
        out.push(byte);
        Some(())
    }

    /// A `\u` escape's character after the `\u`: surrogates only in pairs (`\uD83D\uDE00`), as a JSON parser
    /// reading into text requires.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xDC00).contains(&first) {
            return char::from_u32(first);
        }
        self.body[self.at..].starts_with(b"\\u").then_some(())?;
        self.at += 2;
        let second = self.hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.body.get(self.at..self.at + 4)?;
        self.at += 4;
        digits.iter().try_fold(0, |n, &d| Some(n * 16 + (d as char).to_digit(16)?))
    }
}

/// How long a string's plain run is: where the first quote, backslash or control character in `bytes` is.
/// Most arguments are short, and a byte loop finds their end sooner than a vectorized search gets going;
/// past the first bytes, memchr finds the quote or backslash and one pass checks what comes before it.
fn plain_run(bytes: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let special = |b: &u8| matches!(b, b'"' | b'\\' | 0..=0x1f);
    let head = &bytes[..bytes.len().min(SHORT)];
    if let Some(at) = head.iter().position(special) {
        return Some(at);
    }
    let tail = bytes.get(SHORT..)?;
    let stop = memchr::memchr2(b'"', b'\\', tail)?;
    let control = tail[..stop].iter().position(|&b| b < 0x20);
    Some(SHORT + control.unwrap_or(stop))
}

#[cfg(test)]
mod tests;

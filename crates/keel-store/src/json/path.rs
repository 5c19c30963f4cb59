//! JSON paths, as RedisJSON reads them. A path that starts with `$` is JSONPath: `$.a.b`, `$['a']`,
//! `$..a` (recursive descent), `$.*`/`[*]`, `[0]`, `[-1]`, `[0,2]`, `['a','b']`, slices `[1:3]`,
//! `[::2]`, and filters `[?(@.price < 10 && @.tag == "x")]` with `== != < <= > >= =~`, `&& || !` and
//! parentheses, comparing the current element (`@...`) or the document (`$...`) with literals. Anything
//! else is a legacy path (`.`, `.a.b`, `a[0]`): it selects at most one value and commands answer it with
//! a single reply instead of an array.

use super::Json;
use regex::Regex;

/// A parsed path.
#[derive(Debug, Clone)]
pub struct Path {
    pub(crate) steps: Vec<Step>,
    legacy: bool,
}

/// One step from a set of values to the next.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Key(String),
    /// `.*` and `[*]`: every member or element.
    All,
    Indexes(Vec<i64>),
    Keys(Vec<String>),
    Slice {
        start: Option<i64>,
        end: Option<i64>,
        step: i64,
    },
    Filter(Filter),
    /// `..step`: the step applied to the value and to every value below it.
    Descend(Box<Step>),
}

#[derive(Debug, Clone)]
pub(crate) enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Exists(Operand),
    Compare(Operand, Op, Operand),
}

#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// `@...`: relative to the element being filtered.
    Current(Vec<Step>),
    /// `$...`: relative to the document.
    Root(Vec<Step>),
    Literal(Json),
}

#[derive(Debug, Clone)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// `=~`, with the pattern compiled when it is a literal.
    Matches(Option<Regex>),
}

/// A path that does not parse: RedisJSON's text, `Error at position N: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub String);

impl Path {
    /// Parses a path argument.
    pub fn parse(text: &[u8]) -> Result<Path, PathError> {
        let text = std::str::from_utf8(text).map_err(|_| PathError("Error at position 0: parsing error".into()))?;
        if text.starts_with('$') {
            let mut parser = Parser { text, at: 1 };
            let steps = parser.steps()?;
            parser.skip_spaces();
            if parser.at < text.len() {
                return Err(parser.error());
            }
            return Ok(Path { steps, legacy: false });
        }
        let jsonpath = match text {
            "" | "." => String::from("$"),
            t if t.starts_with('.') || t.starts_with('[') => format!("${t}"),
            t => format!("$.{t}"),
        };
        let mut parser = Parser { text: &jsonpath, at: 1 };
        let steps = parser.steps()?;
        if parser.at < jsonpath.len() {
            return Err(parser.error());
        }
        Ok(Path { steps, legacy: true })
    }

    /// The legacy root, `.`.
    pub fn root() -> Path {
        Path { steps: Vec::new(), legacy: true }
    }

    /// A legacy path: commands answer with a single value and an error where it selects nothing.
    pub fn is_legacy(&self) -> bool {
        self.legacy
    }

    /// `$` or `.`: the whole document.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// The path without its last step, and that step when it names one object member or one index
    /// (what `JSON.SET` needs to add a member that does not exist yet).
    pub fn split_last(&self) -> Option<(Path, Last)> {
        let (last, parent) = self.steps.split_last()?;
        let last = match last {
            Step::Key(key) => Last::Key(key.clone()),
            Step::Keys(keys) if keys.len() == 1 => Last::Key(keys[0].clone()),
            Step::Indexes(indexes) if indexes.len() == 1 => Last::Index,
            _ => Last::Other,
        };
        Some((Path { steps: parent.to_vec(), legacy: self.legacy }, last))
    }

    /// Every step names exactly one member or index (no wildcard, descent, slice or filter).
    pub fn is_static(&self) -> bool {
        self.steps.iter().all(|step| match step {
            Step::Key(_) => true,
            Step::Keys(keys) => keys.len() == 1,
            Step::Indexes(indexes) => indexes.len() == 1,
            _ => false,
        })
    }
}

/// What a path's last step names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Last {
    Key(String),
    Index,
    Other,
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

/// The characters of an unquoted member name (RedisJSON's `literal`).
fn literal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_`+#%$^/:".contains(c)
}

impl Parser<'_> {
    fn error(&self) -> PathError {
        PathError(format!("Error at position {}: parsing error", self.at))
    }

    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(' ') {
            self.at += 1;
        }
    }

    /// Steps until something that is not a step.
    fn steps(&mut self) -> Result<Vec<Step>, PathError> {
        let mut steps = Vec::new();
        loop {
            if self.eat("..") {
                let inner = if self.eat("*") {
                    Step::All
                } else if self.eat("[") {
                    self.bracket()?
                } else {
                    Step::Key(self.literal()?)
                };
                steps.push(Step::Descend(Box::new(inner)));
            } else if self.eat(".") {
                if self.eat("*") {
                    steps.push(Step::All);
                } else if self.eat("[") {
                    steps.push(self.bracket()?);
                } else {
                    steps.push(Step::Key(self.literal()?));
                }
            } else if self.eat("[") {
                steps.push(self.bracket()?);
            } else {
                return Ok(steps);
            }
        }
    }

    fn literal(&mut self) -> Result<String, PathError> {
        let len = self.rest().find(|c: char| !literal_char(c)).unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error());
        }
        let name = self.rest()[..len].to_owned();
        self.at += len;
        Ok(name)
    }

    /// What follows `[`, up to and including `]`.
    fn bracket(&mut self) -> Result<Step, PathError> {
        self.skip_spaces();
        let step = if self.eat("*") {
            Step::All
        } else if self.eat("?") {
            self.skip_spaces();
            Step::Filter(self.filter()?)
        } else if matches!(self.peek(), Some('\'' | '"')) {
            let mut keys = vec![self.string()?];
            while self.comma() {
                keys.push(self.string()?);
            }
            Step::Keys(keys)
        } else {
            self.numbers()?
        };
        self.skip_spaces();
        if !self.eat("]") {
            return Err(self.error());
        }
        Ok(step)
    }

    fn comma(&mut self) -> bool {
        self.skip_spaces();
        let found = self.eat(",");
        self.skip_spaces();
        found
    }

    fn numbers(&mut self) -> Result<Step, PathError> {
        let first = self.integer();
        self.skip_spaces();
        if self.eat(":") {
            self.skip_spaces();
            let end = self.integer();
            self.skip_spaces();
            let mut step = 1;
            if self.eat(":") {
                self.skip_spaces();
                if let Some(n) = self.integer() {
                    if n <= 0 {
                        return Err(self.error());
                    }
                    step = n;
                }
            }
            return Ok(Step::Slice { start: first, end, step });
        }
        let mut indexes = vec![first.ok_or_else(|| self.error())?];
        while self.comma() {
            indexes.push(self.integer().ok_or_else(|| self.error())?);
        }
        Ok(Step::Indexes(indexes))
    }

    fn integer(&mut self) -> Option<i64> {
        let rest = self.rest();
        let sign = usize::from(rest.starts_with('-'));
        let digits = rest[sign..].find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len() - sign);
        if digits == 0 {
            return None;
        }
        let value = rest[..sign + digits].parse().ok()?;
        self.at += sign + digits;
        Some(value)
    }

    /// A quoted string: `'...'` or `"..."`, with `\'`, `\"` and `\\` escapes.
    fn string(&mut self) -> Result<String, PathError> {
        let Some(quote) = self.peek().filter(|c| *c == '\'' || *c == '"') else {
            return Err(self.error());
        };
        self.at += 1;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                c if c == quote => {
                    self.at += i + 1;
                    return Ok(value);
                }
                c => value.push(c),
            }
        }
        Err(self.error())
    }

    /// `a || b`, `a && b` (binding tighter), `!a`, `(a)`, and comparisons.
    fn filter(&mut self) -> Result<Filter, PathError> {
        let mut left = self.conjunction()?;
        loop {
            self.skip_spaces();
            if !self.eat("||") {
                return Ok(left);
            }
            self.skip_spaces();
            left = Filter::Or(Box::new(left), Box::new(self.conjunction()?));
        }
    }

    fn conjunction(&mut self) -> Result<Filter, PathError> {
        let mut left = self.unary()?;
        loop {
            self.skip_spaces();
            if !self.eat("&&") {
                return Ok(left);
            }
            self.skip_spaces();
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Filter, PathError> {
        self.skip_spaces();
        if self.eat("!") && !self.rest().starts_with('=') {
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.eat("(") {
            let inner = self.filter()?;
            self.skip_spaces();
            if !self.eat(")") {
                return Err(self.error());
            }
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_spaces();
        let op = match () {
            _ if self.eat("==") => Op::Eq,
            _ if self.eat("!=") => Op::Ne,
            _ if self.eat("<=") => Op::Le,
            _ if self.eat(">=") => Op::Ge,
            _ if self.eat("<") => Op::Lt,
            _ if self.eat(">") => Op::Gt,
            _ if self.eat("=~") => Op::Matches(None),
            _ => return Ok(Filter::Exists(left)),
        };
        self.skip_spaces();
        let right = self.operand()?;
        let op = match (op, &right) {
            (Op::Matches(_), Operand::Literal(Json::Str(pattern))) => {
                Op::Matches(Some(Regex::new(pattern).map_err(|_| self.error())?))
            }
            (op, _) => op,
        };
        Ok(Filter::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, PathError> {
        if self.eat("@") {
            return Ok(Operand::Current(self.steps()?));
        }
        if self.eat("$") {
            return Ok(Operand::Root(self.steps()?));
        }
        if matches!(self.peek(), Some('\'' | '"')) {
            return Ok(Operand::Literal(Json::Str(self.string()?)));
        }
        for (word, value) in [("true", Json::Bool(true)), ("false", Json::Bool(false)), ("null", Json::Null)] {
            if self.eat(word) {
                return Ok(Operand::Literal(value));
            }
        }
        let len = self.rest().find(|c: char| !(c.is_ascii_digit() || "-+.eE".contains(c))).unwrap_or(self.rest().len());
        let number = super::number(&self.rest()[..len]).ok_or_else(|| self.error())?;
        self.at += len;
        Ok(Operand::Literal(number))
    }
}

//! Redis's glob-style matching (`stringmatchlen` in util.c), used by KEYS, SCAN MATCH, CONFIG GET and pub/sub
//! patterns: `*`, `?`, `[abc]`, `[^a-z]`, `\` escapes, optional case folding. Matching is linear in practice:
//! once a `*` fails to match the rest anywhere, earlier stars are not retried (Redis's CVE-2022-36021 fix), and
//! nesting is bounded so a pattern of many stars cannot exhaust the stack.

const MAX_NESTING: usize = 1000;

/// Does `text` match the glob `pattern`?
pub fn matches(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    match_impl(pattern, text, nocase, &mut skip_longer, 0)
}

fn match_impl(pattern: &[u8], text: &[u8], nocase: bool, skip_longer: &mut bool, nesting: usize) -> bool {
    if nesting > MAX_NESTING {
        return false;
    }
    // Indexing past the end reads 0, as the C code reads the NUL terminator.
    let pat = |i: usize| pattern.get(i).copied().unwrap_or(0);
    let fold = |c: u8| if nocase { c.to_ascii_lowercase() } else { c };
    let (mut p, mut s) = (0usize, 0usize);
    while p < pattern.len() && s < text.len() {
        match pattern[p] {
            b'*' => {
                while p + 1 < pattern.len() && pattern[p + 1] == b'*' {
                    p += 1;
                }
                if p + 1 == pattern.len() {
                    return true;
                }
                while s < text.len() {
                    if match_impl(&pattern[p + 1..], &text[s..], nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let negate = pat(p) == b'^';
                if negate {
                    p += 1;
                }
                let c = text[s];
                let mut matched = false;
                loop {
                    if pat(p) == b'\\' && pattern.len() - p >= 2 {
                        p += 1;
                        if pattern[p] == c {
                            matched = true;
                        }
                    } else if pat(p) == b']' {
                        break;
                    } else if p >= pattern.len() {
                        // Unterminated class: step back so the outer loop ends on the last byte.
                        p -= 1;
                        break;
                    } else if pattern.len() - p >= 3 && pattern[p + 1] == b'-' {
                        let (mut start, mut end) = (fold(pattern[p]), fold(pattern[p + 2]));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        p += 2;
                        if (start..=end).contains(&fold(c)) {
                            matched = true;
                        }
                    } else if fold(pattern[p]) == fold(c) {
                        matched = true;
                    }
                    p += 1;
                }
                if matched == negate {
                    return false;
                }
                s += 1;
            }
            first => {
                let literal = if first == b'\\' && pattern.len() - p >= 2 {
                    p += 1;
                    pattern[p]
                } else {
                    first
                };
                if fold(literal) != fold(text[s]) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == text.len() {
            while pat(p) == b'*' {
                p += 1;
            }
            break;
        }
    }
    p >= pattern.len() && s == text.len()
}

#[cfg(test)]
mod tests {
    use super::matches;

    fn m(p: &str, t: &str) -> bool {
        matches(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn redis_glob_rules() {
        assert!(m("*", "anything"));
        // As in Redis, the matcher itself does not match an empty string against "*"; callers shortcut "*".
        assert!(!m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("h\\*llo", "h*llo"));
        assert!(!m("h\\*llo", "hallo"));
        assert!(m("a*", "a"));
        assert!(m("a**", "a"));
        assert!(!m("a?", "a"));
        assert!(m("[\\]]", "]"));
        assert!(m("*key*", "mykey1"));
        assert!(!m("", "a"));
        assert!(m("", ""));
        assert!(matches(b"HELLO", b"hello", true));
        assert!(!matches(b"HELLO", b"hello", false));
    }

    #[test]
    fn pathological_patterns_finish() {
        let pattern = "a*".repeat(5000) + "b";
        let text = "a".repeat(5000);
        assert!(!m(&pattern, &text));
        let stars = "*".repeat(100_000);
        assert!(m(&stars, "abc"));
    }
}

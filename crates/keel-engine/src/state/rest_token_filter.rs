//! A process-wide filter of the REST tokens ACL users were ever given (ACL RESTTOKEN, or a `rest#` rule
//! from SETUSER, ACL LOAD or a primary): a REST request whose token the filter has never seen holds no
//! ACL token in any database, and is refused without asking every database's ACL in turn (which an
//! unauthenticated client sending wrong tokens could otherwise make every request of every tenant wait
//! behind). A fixed array of bits, one set per token's hash and never cleared: a token removed since, or
//! two tokens sharing a bit, only send a request on to the search in every database, as before.

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

/// 2^20 bits (128 KiB): with a few thousand tokens nearly every wrong token is refused here.
const WORDS: usize = 1 << 14;

static SEEN: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];

/// The word and bit of a token as stored in a `rest#` rule (its SHA-256 in hex).
fn slot(token_sha256: &str) -> (usize, u64) {
    let mut hasher = std::hash::DefaultHasher::new();
    token_sha256.hash(&mut hasher);
    let bits = hasher.finish();
    ((bits >> 6) as usize % WORDS, 1 << (bits & 63))
}

/// Notes a token an ACL user was given.
pub fn note(token_sha256: &str) {
    let (word, bit) = slot(token_sha256);
    SEEN[word].fetch_or(bit, Ordering::Relaxed);
}

/// False when no ACL user in any database was ever given this token; true when one may have been.
pub fn may_hold(token_sha256: &str) -> bool {
    let (word, bit) = slot(token_sha256);
    SEEN[word].load(Ordering::Relaxed) & bit != 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_noted_token_may_be_held_and_others_mostly_not() {
        let token = crate::secrets::sha256_hex(b"a token for the filter's test");
        assert!(!super::may_hold(&token));
        super::note(&token);
        assert!(super::may_hold(&token));
        let others = (0..1000).filter(|i| super::may_hold(&crate::secrets::sha256_hex(format!("{i}").as_bytes())));
        assert!(others.count() < 10, "a near-empty filter passes almost nothing");
    }
}

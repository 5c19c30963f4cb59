//! Secrets in one place: how they are made (the operating system's CSPRNG), how they are kept (SHA-256,
//! never the secret itself) and how they are compared (in constant time, so that timing tells nothing).

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A secret of `bytes` random bytes from the operating system's CSPRNG, in hex.
pub fn new_secret(bytes: usize) -> String {
    let mut raw = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of a secret, in hex: what is stored instead of it.
pub fn sha256_hex(secret: &[u8]) -> String {
    Sha256::digest(secret).iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether two secrets (or their hashes) are equal, compared without an early exit.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_hashed_and_compared_whole() {
        let (a, b) = (new_secret(16), new_secret(16));
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert!(secrets_equal(b"same", b"same"));
        assert!(!secrets_equal(b"same", b"sam") && !secrets_equal(b"same", b"sane"));
    }
}

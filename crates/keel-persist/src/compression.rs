//! LZF compression (Marc Lehmann's liblzf, as Redis's `lzf_c.c`), for RDB strings. Redis keeps its hash
//! table without clearing it between calls: a stale entry only proposes a match that the byte comparison
//! then rejects or confirms, so the output is always valid. Keel does the same with one table per thread,
//! where the `lzf` crate allocated and zeroed 512 KiB for every string it compressed (snapshots of 300k
//! keys took a minute). Decompression stays with the crate.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

thread_local! {
    /// Positions (plus one; 0 is empty) of the last 3-byte sequences seen, by hash.
    static TABLE: RefCell<Vec<u32>> = RefCell::new(vec![0; HSIZE]);
    /// Where [`with_compressed`] puts the compressed bytes.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Runs `use_it` on the LZF form of `data` when that is at most `limit` bytes (None otherwise), without
/// allocating once the thread's buffers are warm.
pub fn with_compressed<R>(data: &[u8], limit: usize, use_it: impl FnOnce(&[u8]) -> R) -> Option<R> {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        scratch.clear();
        let result = compress_into(data, &mut scratch, limit).then(|| use_it(&scratch));
        if scratch.capacity() > 1 << 20 {
            *scratch = Vec::new();
        }
        result
    })
}

fn hash(v: u32) -> usize {
    // liblzf's IDX for HLOG 16: ((h >> (3*8 - HLOG)) - h*5) & (HSIZE - 1).
    ((v >> (24 - HLOG)).wrapping_sub(v.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// Appends the LZF form of `data` to `out` when it is at most `limit` bytes; otherwise leaves `out` as
/// it was and returns false.
pub fn compress_into(data: &[u8], out: &mut Vec<u8>, limit: usize) -> bool {
    if data.len() < 4 || limit == 0 {
        return false;
    }
    let start = out.len();
    let fits = TABLE.with(|table| encode(data, out, start + limit, &mut table.borrow_mut()));
    if !fits {
        out.truncate(start);
    }
    fits
}

fn encode(data: &[u8], out: &mut Vec<u8>, end: usize, table: &mut [u32]) -> bool {
    let len = data.len();
    // Each literal run starts with a length byte, patched when the run ends.
    let mut run_at = out.len();
    out.push(0);
    let mut lit = 0usize;
    let mut at = 0usize;
    let mut seq = (u32::from(data[0]) << 8) | u32::from(data[1]);
    while at + 2 < len {
        seq = (seq << 8) | u32::from(data[at + 2]);
        let slot = hash(seq);
        let candidate = table[slot] as usize;
        table[slot] = (at + 1) as u32;
        let matched = candidate > 0 && {
            let from = candidate - 1;
            from < at && at - from - 1 < MAX_OFF && at + 4 < len && data[from..from + 3] == data[at..at + 3]
        };
        if !matched {
            lit += 1;
            out.push(data[at]);
            at += 1;
            if lit == MAX_LIT {
                out[run_at] = (MAX_LIT - 1) as u8;
                lit = 0;
                run_at = out.len();
                out.push(0);
            }
            if out.len() >= end {
                return false;
            }
            continue;
        }
        let from = candidate - 1;
        let off = at - from - 1;
        let max = (len - at - 2).min(MAX_REF);
        let mut matched_len = 3;
        while matched_len < max && data[from + matched_len] == data[at + matched_len] {
            matched_len += 1;
        }
        // Close the literal run (or drop its length byte when it is empty).
        if lit > 0 {
            out[run_at] = (lit - 1) as u8;
        } else {
            out.pop();
        }
        let code = matched_len - 2;
        if code < 7 {
            out.push(((off >> 8) + (code << 5)) as u8);
        } else {
            out.push(((off >> 8) + (7 << 5)) as u8);
            out.push((code - 7) as u8);
        }
        out.push(off as u8);
        if out.len() + 1 >= end {
            return false;
        }
        lit = 0;
        run_at = out.len();
        out.push(0);
        // Hash the two positions before where the match ends, as liblzf does (at + matched_len <= len - 2).
        let p = at + matched_len - 2;
        let mut rolling = (u32::from(data[p]) << 16) | (u32::from(data[p + 1]) << 8) | u32::from(data[p + 2]);
        table[hash(rolling)] = (p + 1) as u32;
        rolling = (rolling << 8) | u32::from(data[p + 3]);
        table[hash(rolling)] = (p + 2) as u32;
        at += matched_len;
        seq = rolling;
    }
    while at < len {
        lit += 1;
        out.push(data[at]);
        at += 1;
        if lit == MAX_LIT {
            out[run_at] = (MAX_LIT - 1) as u8;
            lit = 0;
            run_at = out.len();
            out.push(0);
        }
    }
    if lit > 0 {
        out[run_at] = (lit - 1) as u8;
    } else {
        out.pop();
    }
    out.len() <= end
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(data: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![7];
        if !compress_into(data, &mut out, data.len() - 4) {
            assert_eq!(out, [7], "a failed compression leaves the buffer as it was");
            return None;
        }
        assert_eq!(out[0], 7);
        Some(lzf::decompress(&out[1..], data.len()).unwrap())
    }

    #[test]
    fn repetitive_text_compresses_and_comes_back() {
        let text = "Lorem ipsum dolor sit amet, consetetur sadipscing elitr, sed diam nonumy ".repeat(20);
        let mut out = Vec::new();
        assert!(compress_into(text.as_bytes(), &mut out, text.len() - 4));
        assert!(out.len() < text.len() / 4, "{}", out.len());
        assert_eq!(lzf::decompress(&out, text.len()).unwrap(), text.as_bytes());
        assert_eq!(round_trip(&[b'a'; 1000]).unwrap(), vec![b'a'; 1000]);
    }

    proptest! {
        #[test]
        fn anything_it_compresses_decompresses_to_the_input(
            data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 5..3000)
        ) {
            if let Some(back) = round_trip(&data) {
                prop_assert_eq!(back, data);
            }
        }
    }
}

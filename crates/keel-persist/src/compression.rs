//! LZF compression (Marc Lehmann's liblzf, as Redis's `lzf_c.c`), for RDB strings. The `lzf` crate
//! allocated and zeroed a 512 KiB hash table for every string it compressed (a snapshot of 300k keys took a
//! minute and a half). Keel keeps one table per thread and tags each entry with the call that wrote it, so
//! entries of earlier calls read as empty without clearing anything: the output is the same as from a
//! freshly zeroed table, which is what makes `DUMP` byte for byte Redis's. Decompression stays with the
//! crate.

use std::cell::RefCell;

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
const MAX_LIT: usize = 1 << 5;

/// The hash table: for each hash, the call that wrote the entry (high half) and the position (low half).
struct Table {
    entries: Vec<u64>,
    call: u32,
}

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table { entries: vec![0; HSIZE], call: 0 });
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
    let fits = TABLE.with(|table| {
        let mut table = table.borrow_mut();
        table.call = table.call.wrapping_add(1);
        if table.call == 0 {
            // Once every 2^32 calls, the tags start over: clear what older calls wrote.
            table.entries.fill(0);
            table.call = 1;
        }
        let call = table.call;
        encode(data, out, start + limit, &mut Slots { entries: &mut table.entries, call })
    });
    if !fits {
        out.truncate(start);
    }
    fits
}

/// This call's view of the table: entries other calls wrote read as empty.
struct Slots<'a> {
    entries: &'a mut [u64],
    call: u32,
}

impl Slots<'_> {
    /// The position last stored under `slot` by this call.
    fn get(&self, slot: usize) -> Option<usize> {
        let entry = self.entries[slot];
        ((entry >> 32) as u32 == self.call).then_some(entry as u32 as usize)
    }

    fn set(&mut self, slot: usize, pos: usize) {
        self.entries[slot] = (u64::from(self.call) << 32) | pos as u64;
    }
}

/// The literal run being written: each starts with a length byte, patched when the run ends.
struct LiteralRun {
    at: usize,
    len: usize,
}

impl LiteralRun {
    fn open(out: &mut Vec<u8>) -> LiteralRun {
        out.push(0);
        LiteralRun { at: out.len() - 1, len: 0 }
    }

    /// Adds one literal byte, starting a new run when this one is full.
    fn push(&mut self, out: &mut Vec<u8>, byte: u8) {
        self.len += 1;
        out.push(byte);
        if self.len == MAX_LIT {
            out[self.at] = (MAX_LIT - 1) as u8;
            *self = LiteralRun::open(out);
        }
    }

    /// Ends the run: patches its length byte, or drops the byte when the run is empty.
    fn close(self, out: &mut Vec<u8>) {
        if self.len > 0 {
            out[self.at] = (self.len - 1) as u8;
        } else {
            out.pop();
        }
    }
}

fn encode(data: &[u8], out: &mut Vec<u8>, end: usize, table: &mut Slots) -> bool {
    let len = data.len();
    let mut run = LiteralRun::open(out);
    let mut at = 0usize;
    let mut seq = (u32::from(data[0]) << 8) | u32::from(data[1]);
    while at + 2 < len {
        seq = (seq << 8) | u32::from(data[at + 2]);
        let slot = hash(seq);
        let candidate = table.get(slot);
        table.set(slot, at);
        // As liblzf: never a reference to the very first byte, nor further back than MAX_OFF.
        let matched = candidate.is_some_and(|from| {
            from > 0 && from < at && at - from - 1 < MAX_OFF && at + 4 < len && data[from..from + 3] == data[at..at + 3]
        });
        if !matched {
            run.push(out, data[at]);
            at += 1;
            if out.len() > end + 1 {
                return false;
            }
            continue;
        }
        let Some(from) = candidate else { return false };
        let off = at - from - 1;
        let max = (len - at - 2).min(MAX_REF);
        let mut matched_len = 3;
        while matched_len < max && data[from + matched_len] == data[at + matched_len] {
            matched_len += 1;
        }
        run.close(out);
        let code = matched_len - 2;
        if code < 7 {
            out.push(((off >> 8) + (code << 5)) as u8);
        } else {
            out.push(((off >> 8) + (7 << 5)) as u8);
            out.push((code - 7) as u8);
        }
        out.push(off as u8);
        if out.len() > end + 1 {
            return false;
        }
        run = LiteralRun::open(out);
        // Hash the two positions before where the match ends, as liblzf does (at + matched_len <= len - 2).
        let p = at + matched_len - 2;
        let mut rolling = (u32::from(data[p]) << 16) | (u32::from(data[p + 1]) << 8) | u32::from(data[p + 2]);
        table.set(hash(rolling), p);
        rolling = (rolling << 8) | u32::from(data[p + 3]);
        table.set(hash(rolling), p + 1);
        at += matched_len;
        seq = rolling;
    }
    while at < len {
        run.push(out, data[at]);
        at += 1;
    }
    run.close(out);
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
        /// Byte for byte what liblzf with a zeroed table writes (the crate is a port of it), so that DUMP
        /// payloads equal Redis's.
        #[test]
        fn output_is_liblzfs(
            data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c'), any::<u8>()], 5..2000)
        ) {
            let mut out = Vec::new();
            let ours = compress_into(&data, &mut out, data.len() - 4).then_some(out);
            let theirs = lzf::compress(&data).ok().filter(|packed| packed.len() <= data.len() - 4);
            prop_assert_eq!(ours, theirs);
        }

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

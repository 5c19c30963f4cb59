//! HyperLogLog on string values, in Redis's format byte for byte (hyperloglog.c): a 16-byte header
//! (`HYLL`, encoding, 3 unused bytes, cached cardinality with its validity bit), then 16384 six-bit
//! registers either dense (12288 bytes) or sparse (ZERO, XZERO and VAL opcodes). Elements are hashed with
//! MurmurHash64A and the cardinality comes from Ertl's estimator, so that an HLL written by Redis reads the
//! same here, and the reverse; the same additions give the same bytes.

pub const REGISTERS: usize = 1 << P;
const P: u32 = 14;
/// Hash bits left once the register index is taken.
const Q: usize = 64 - P as usize;
const HEADER: usize = 16;
const REGISTER_MAX: u8 = 63;
/// The length of a dense HLL.
pub const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
/// 0.5 / ln(2).
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

/// The value is not an HLL at all (wrong magic, encoding or length): Redis answers WRONGTYPE.
#[derive(Debug, PartialEq, Eq)]
pub struct NotHll;

/// The value looks like an HLL but its sparse opcodes do not add up: Redis answers INVALIDOBJ.
#[derive(Debug, PartialEq, Eq)]
pub struct Corrupt;

/// Whether `bytes` is an HLL (Redis's isHLLObjectOrReply).
pub fn check(bytes: &[u8]) -> Result<(), NotHll> {
    if bytes.len() < HEADER || &bytes[..4] != b"HYLL" || bytes[4] > SPARSE {
        return Err(NotHll);
    }
    if bytes[4] == DENSE && bytes.len() != DENSE_SIZE {
        return Err(NotHll);
    }
    Ok(())
}

/// A new, empty HLL: sparse, all registers in XZERO runs.
pub fn new_sparse() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(HEADER + 2 * REGISTERS.div_ceil(SPARSE_XZERO_MAX_LEN));
    bytes.extend_from_slice(b"HYLL");
    bytes.push(SPARSE);
    bytes.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        push_xzero(&mut bytes, run);
        left -= run;
    }
    bytes
}

pub fn is_sparse(bytes: &[u8]) -> bool {
    bytes[4] == SPARSE
}

/// The cached cardinality, when valid.
pub fn cached(bytes: &[u8]) -> Option<u64> {
    (bytes[15] & 0x80 == 0).then(|| u64::from_le_bytes(bytes[8..16].try_into().unwrap_or_default()))
}

pub fn set_cached(bytes: &mut [u8], card: u64) {
    bytes[8..16].copy_from_slice(&card.to_le_bytes());
}

pub fn invalidate_cache(bytes: &mut [u8]) {
    bytes[15] |= 0x80;
}

/// Redis's MurmurHash64A, endian-neutral.
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for chunk in chunks.by_ref() {
        let mut k = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= (*b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the length of its `000..1` pattern (Redis's hllPatLen).
fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(registers: &[u8], i: usize) -> u8 {
    let (byte, fb) = (i * 6 / 8, (i * 6) & 7);
    let b0 = registers[byte] as u32;
    let b1 = registers.get(byte + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX as u32) as u8
}

fn dense_set(registers: &mut [u8], i: usize, value: u8) {
    let (byte, fb) = (i * 6 / 8, (i * 6) & 7);
    let v = value as u32;
    registers[byte] &= !((REGISTER_MAX as u32) << fb) as u8;
    registers[byte] |= (v << fb) as u8;
    if let Some(next) = registers.get_mut(byte + 1) {
        *next &= !((REGISTER_MAX as u32) >> (8 - fb)) as u8;
        *next |= (v >> (8 - fb)) as u8;
    }
}

/// Raises a dense register to `count`; whether it changed.
fn dense_raise(registers: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(registers, i) {
        dense_set(registers, i, count);
        true
    } else {
        false
    }
}

/// A sparse opcode: a run of zero registers, or of registers holding one value.
enum Op {
    Zero(usize),
    XZero(usize),
    Val(u8, usize),
}

impl Op {
    /// The opcode at `at`, if it is complete.
    fn at(bytes: &[u8], at: usize) -> Option<Op> {
        let b = *bytes.get(at)?;
        Some(match b & 0xc0 {
            0x00 => Op::Zero((b & 0x3f) as usize + 1),
            0x40 => Op::XZero(((((b & 0x3f) as usize) << 8) | *bytes.get(at + 1)? as usize) + 1),
            _ => Op::Val(((b >> 2) & 0x1f) + 1, (b & 0x3) as usize + 1),
        })
    }

    fn registers(&self) -> usize {
        match *self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    fn bytes(&self) -> usize {
        if matches!(self, Op::XZero(_)) {
            2
        } else {
            1
        }
    }
}

fn val_byte(value: u8, len: usize) -> u8 {
    0x80 | ((value - 1) << 2) | (len as u8 - 1)
}

fn push_xzero(bytes: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    bytes.push(0x40 | (l >> 8) as u8);
    bytes.push((l & 0xff) as u8);
}

/// A run of `len` zero registers, as ZERO or XZERO.
fn push_zeros(bytes: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        push_xzero(bytes, len);
    } else {
        bytes.push(len as u8 - 1);
    }
}

/// Calls `run(first, len, value)` for each run of a sparse HLL's registers; Corrupt when the runs do not
/// cover exactly all registers.
fn sparse_runs(bytes: &[u8], mut run: impl FnMut(usize, usize, u8)) -> Result<(), Corrupt> {
    let mut at = HEADER;
    let mut index = 0;
    while at < bytes.len() {
        let op = Op::at(bytes, at).ok_or(Corrupt)?;
        let len = op.registers();
        if index + len > REGISTERS {
            return Err(Corrupt);
        }
        if let Op::Val(value, _) = op {
            run(index, len, value);
        } else {
            run(index, len, 0);
        }
        index += len;
        at += op.bytes();
    }
    if index == REGISTERS {
        Ok(())
    } else {
        Err(Corrupt)
    }
}

/// Converts a sparse HLL to dense (Redis's hllSparseToDense); false when it already was dense.
pub fn to_dense(bytes: &mut Vec<u8>) -> Result<bool, Corrupt> {
    if bytes[4] == DENSE {
        return Ok(false);
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HEADER].copy_from_slice(&bytes[..HEADER]);
    dense[4] = DENSE;
    sparse_runs(bytes, |first, len, value| {
        if value > 0 {
            (first..first + len).for_each(|i| dense_set(&mut dense[HEADER..], i, value));
        }
    })?;
    *bytes = dense;
    Ok(true)
}

/// Raises register `index` of a sparse HLL to `count`, editing the opcodes in place as Redis does (so the
/// bytes come out the same), or promoting to dense when the value does not fit the sparse form or the
/// string would pass `sparse_max` bytes. Whether the register changed.
fn sparse_raise(bytes: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(bytes, index, count);
    }
    // Step 1: find the opcode covering the register.
    let (mut at, mut first, mut prev) = (HEADER, 0usize, None);
    let op = loop {
        let op = Op::at(bytes, at).ok_or(Corrupt)?;
        if index < first + op.registers() {
            break op;
        }
        prev = Some(at);
        first += op.registers();
        at += op.bytes();
    };
    let last = first + op.registers() - 1;
    // Step 2: the trivial updates in place, or the sequence replacing the opcode.
    let mut seq: Vec<u8> = Vec::with_capacity(5);
    match op {
        Op::Val(value, _) if value >= count => return Ok(false),
        Op::Val(_, 1) | Op::Zero(1) => bytes[at] = val_byte(count, 1),
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_byte(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        Op::Val(value, _) => {
            if index != first {
                seq.push(val_byte(value, index - first));
            }
            seq.push(val_byte(count, 1));
            if index != last {
                seq.push(val_byte(value, last - index));
            }
        }
    }
    // Step 3: put the new sequence in place of the opcode.
    if !seq.is_empty() {
        if seq.len() > op.bytes() && bytes.len() + seq.len() - op.bytes() > sparse_max {
            return promote(bytes, index, count);
        }
        bytes.splice(at..at + op.bytes(), seq);
    }
    // Step 4: merge adjacent VAL opcodes of the same value, scanning up to 5 opcodes from the previous one.
    let mut p = prev.unwrap_or(HEADER);
    let mut scan = 5;
    while p < bytes.len() && scan > 0 {
        scan -= 1;
        match bytes[p] & 0xc0 {
            0x40 => {
                p += 2;
                continue;
            }
            0x00 => {
                p += 1;
                continue;
            }
            _ => {}
        }
        if let (Some(Op::Val(v1, l1)), Some(Op::Val(v2, l2))) = (Op::at(bytes, p), Op::at(bytes, p + 1)) {
            if v1 == v2 && l1 + l2 <= SPARSE_VAL_MAX_LEN {
                bytes[p + 1] = val_byte(v1, l1 + l2);
                bytes.remove(p);
                continue;
            }
        }
        p += 1;
    }
    invalidate_cache(bytes);
    Ok(true)
}

fn promote(bytes: &mut Vec<u8>, index: usize, count: u8) -> Result<bool, Corrupt> {
    to_dense(bytes)?;
    Ok(dense_raise(&mut bytes[HEADER..], index, count))
}

/// Raises register `index` to `count` in either encoding.
fn raise(bytes: &mut Vec<u8>, index: usize, count: u8, sparse_max: usize) -> Result<bool, Corrupt> {
    if bytes[4] == DENSE {
        Ok(dense_raise(&mut bytes[HEADER..], index, count))
    } else {
        sparse_raise(bytes, index, count, sparse_max)
    }
}

/// Adds an element (PFADD); whether a register changed.
pub fn add(bytes: &mut Vec<u8>, element: &[u8], sparse_max: usize) -> Result<bool, Corrupt> {
    let (index, count) = pattern(element);
    raise(bytes, index, count, sparse_max)
}

/// Takes the register-wise maximum of `max` and the HLL in `bytes` (Redis's hllMerge).
pub fn merge_into(max: &mut [u8; REGISTERS], bytes: &[u8]) -> Result<(), Corrupt> {
    if bytes[4] == DENSE {
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(&bytes[HEADER..], i));
        }
        Ok(())
    } else {
        sparse_runs(bytes, |first, len, value| max[first..first + len].iter_mut().for_each(|m| *m = (*m).max(value)))
    }
}

/// Writes the merged registers `max` into the HLL in `bytes` (PFMERGE's destination), dense first when
/// `dense` asks for it.
pub fn store_merged(bytes: &mut Vec<u8>, max: &[u8; REGISTERS], dense: bool, sparse_max: usize) -> Result<(), Corrupt> {
    if dense {
        to_dense(bytes)?;
    }
    for (i, &value) in max.iter().enumerate() {
        if value != 0 {
            raise(bytes, i, value, sparse_max)?;
        }
    }
    invalidate_cache(bytes);
    Ok(())
}

/// Every register's value (PFDEBUG GETREG).
pub fn registers(bytes: &[u8]) -> Result<Vec<u8>, Corrupt> {
    let mut all = [0u8; REGISTERS];
    merge_into(&mut all, bytes)?;
    Ok(all.to_vec())
}

/// The cardinality estimate of the HLL in `bytes`, ignoring the cache.
pub fn count(bytes: &[u8]) -> Result<u64, Corrupt> {
    let mut histogram = [0u32; 64];
    if bytes[4] == DENSE {
        (0..REGISTERS).for_each(|i| histogram[dense_get(&bytes[HEADER..], i) as usize] += 1);
    } else {
        sparse_runs(bytes, |_, len, value| histogram[value as usize] += len as u32)?;
    }
    Ok(estimate(&histogram))
}

/// The cardinality estimate of plain registers (PFCOUNT over several keys).
pub fn count_registers(registers: &[u8; REGISTERS]) -> u64 {
    let mut histogram = [0u32; 64];
    registers.iter().for_each(|&r| histogram[(r & 63) as usize] += 1);
    estimate(&histogram)
}

/// Ertl's estimator ("New cardinality estimation algorithms for HyperLogLog sketches") over the register
/// histogram, as Redis's hllCount computes it.
fn estimate(histogram: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histogram[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histogram[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histogram[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The sparse opcodes as PFDEBUG DECODE prints them (`z:<len>`, `Z:<len>`, `v:<value>,<len>`).
pub fn decode_sparse(bytes: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut at = HEADER;
    while let Some(op) = Op::at(bytes, at) {
        parts.push(match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        });
        at += op.bytes();
    }
    parts.join(" ")
}

/// Redis's PFSELFTEST: register access, then the estimate's error on up to 10 million elements with
/// dense and sparse HLLs agreeing.
pub fn self_test(mut random: impl FnMut() -> u64, sparse_max: usize) -> Result<(), String> {
    let mut dense = vec![0u8; DENSE_SIZE - HEADER];
    let mut expected = [0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, e) in expected.iter_mut().enumerate() {
            *e = (random() & REGISTER_MAX as u64) as u8;
            dense_set(&mut dense, i, *e);
        }
        if let Some(i) = (0..REGISTERS).find(|&i| dense_get(&dense, i) != expected[i]) {
            return Err(format!("TESTFAILED Register {i} should be {} but is {}", expected[i], dense_get(&dense, i)));
        }
    }
    let mut dense = new_sparse();
    to_dense(&mut dense).map_err(|_| "TESTFAILED dense conversion".to_string())?;
    let mut sparse = new_sparse();
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let seed = random();
    let mut checkpoint = 1u64;
    for j in 1..=10_000_000u64 {
        let element = (j ^ seed).to_ne_bytes();
        let corrupt = |_| "TESTFAILED corrupt HLL".to_string();
        add(&mut dense, &element, sparse_max).map_err(corrupt)?;
        add(&mut sparse, &element, sparse_max).map_err(corrupt)?;
        if j != checkpoint {
            continue;
        }
        if (j as usize) < sparse_max / 2 && !is_sparse(&sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let estimate = count(&dense).map_err(corrupt)?;
        if Ok(estimate) != count(&sparse) {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let max_error = if j == 10 { 1 } else { (relative_error * 6.0 * j as f64).ceil() as u64 };
        let error = j.abs_diff(estimate);
        if error > max_error {
            return Err(format!("TESTFAILED Too big error. card:{j} abserr:{error}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_hll_is_redis_s_empty_sparse_value() {
        let hll = new_sparse();
        assert_eq!(hll, b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff");
        assert_eq!(count(&hll), Ok(0));
        assert_eq!(decode_sparse(&hll), "Z:16384");
    }

    #[test]
    fn murmur_matches_redis() {
        // Register and run length Redis computes for "a" (PFDEBUG GETREG after PFADD hll a).
        let (index, count) = pattern(b"a");
        assert!(index < REGISTERS && (1..=51).contains(&count));
        assert_eq!(murmur64a(b"", 0), 0);
    }

    #[test]
    fn sparse_and_dense_agree_and_promotion_keeps_registers() {
        let mut sparse = new_sparse();
        let mut dense = new_sparse();
        to_dense(&mut dense).unwrap();
        for i in 0..5000u32 {
            let e = i.to_string();
            assert_eq!(add(&mut sparse, e.as_bytes(), 3000), add(&mut dense, e.as_bytes(), 3000));
            if i % 97 == 0 {
                assert_eq!(registers(&sparse), registers(&dense));
                assert_eq!(count(&sparse), count(&dense));
            }
        }
        assert!(!is_sparse(&sparse), "5000 elements pass 3000 bytes of sparse opcodes");
        let estimate = count(&dense).unwrap() as f64;
        assert!((estimate - 5000.0).abs() < 5000.0 * 0.05, "{estimate}");
    }

    #[test]
    fn corrupt_sparse_values_are_detected_not_trusted() {
        let mut hll = new_sparse();
        add(&mut hll, b"x", 3000).unwrap();
        hll.extend_from_slice(b"hello");
        assert_eq!(count(&hll), Err(Corrupt));
        let mut truncated = new_sparse();
        truncated.pop();
        assert_eq!(count(&truncated), Err(Corrupt));
        assert_eq!(check(b"HYLL\x00"), Err(NotHll));
        assert_eq!(check(&[b"HYLL\x00".as_slice(), &[0; 11]].concat()), Err(NotHll));
    }
}

//! Unit and property tests of `Db` against a simple model (a BTreeMap), including SCAN's guarantee.

use super::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};

fn clock(now: u64) -> AccessClock {
    AccessClock::lru(now)
}

#[test]
fn access_metadata_and_ttl_share_a_word_without_touching() {
    let mut db = Db::new();
    let slot = db.insert(b"k", Value::Int(1), Expiry::At(5_000), &clock(0));
    db.set_access(slot, u32::MAX);
    assert_eq!((db.access(slot), db.expire_at(slot)), (0xff_ffff, Some(5_000)), "access keeps to its 24 bits");
    db.set_access(slot, 7);
    db.set_expire(slot, None);
    assert_eq!((db.access(slot), db.expire_at(slot), db.volatile_len()), (7, None, 0));
}

#[test]
fn insert_lookup_remove() {
    let mut db = Db::new();
    let c = clock(1000);
    db.insert(b"a", Value::string(b"1"), Expiry::Clear, &c);
    db.insert(b"b", Value::string(b"some longer value here"), Expiry::Clear, &c);
    let slot = db.lookup(b"a", &c).unwrap();
    assert!(matches!(db.value(slot), Value::Int(1)));
    assert!(matches!(db.remove(b"a"), Some(Value::Int(1))));
    assert!(db.lookup(b"a", &c).is_none());
    assert_eq!(db.len(), 1);
    let slot = db.lookup(b"b", &c).unwrap();
    assert_eq!(db.key(slot), b"b");
}

#[test]
fn lazy_expiry_and_ttl_rules() {
    let mut db = Db::new();
    db.insert(b"k", Value::string(b"v"), Expiry::At(2000), &clock(1000));
    assert!(db.lookup(b"k", &clock(1999)).is_some());
    assert_eq!(db.volatile_len(), 1);
    assert!(db.lookup(b"k", &clock(2000)).is_none());
    assert_eq!(db.len(), 0);
    assert_eq!(db.volatile_len(), 0);
    // Overwriting an expired key with KEEPTTL must not resurrect the old TTL.
    db.insert(b"k", Value::string(b"v"), Expiry::At(2000), &clock(1000));
    db.insert(b"k", Value::string(b"w"), Expiry::Keep, &clock(3000));
    let slot = db.lookup(b"k", &clock(3000)).unwrap();
    assert_eq!(db.expire_at(slot), None);
}

#[test]
fn active_expiry_reclaims_without_reads() {
    let mut db = Db::new();
    let c = clock(0);
    for i in 0..1000u32 {
        let expiry = if i % 2 == 0 { Expiry::At(10) } else { Expiry::Clear };
        db.insert(&i.to_be_bytes(), Value::Int(i as i64), expiry, &c);
    }
    let mut rng = rand::thread_rng();
    let mut total = 0;
    while db.volatile_len() > 0 {
        total += db.expire_sample(100, 20, &mut rng, |_| {}).1;
    }
    assert_eq!(total, 500);
    assert_eq!(db.len(), 500);
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, Option<u64>),
    Del(u8),
    Persist(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<u8>(), proptest::option::of(1u64..100)).prop_map(|(k, t)| Op::Set(k, t)),
        any::<u8>().prop_map(Op::Del),
        any::<u8>().prop_map(Op::Persist),
    ]
}

fn key(k: u8) -> Vec<u8> {
    // Mix inline and heap keys.
    if k.is_multiple_of(3) {
        format!("a-rather-long-key-name-{k}").into_bytes()
    } else {
        vec![k]
    }
}

/// The key sizes a database reports (INFO keysizes) equal those counted afresh from its values.
fn sizes_recounted(db: &Db) -> bool {
    let mut fresh = super::KeySizes::default();
    for slot in db.slots() {
        fresh.moved(None, super::sizes::size_of(db.value(slot)));
    }
    (0..super::SIZE_KINDS.len()).all(|kind| fresh.of(kind).eq(db.key_sizes(kind)))
}

proptest! {
    /// The Db behaves like a map from key to (value, ttl), and its volatile list and memory stay consistent.
    #[test]
    fn behaves_like_a_map(ops in proptest::collection::vec(op(), 0..300)) {
        let mut db = Db::new();
        let mut model: BTreeMap<Vec<u8>, (i64, Option<u64>)> = BTreeMap::new();
        let c = clock(0);
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Set(k, ttl) => {
                    let expiry = ttl.map_or(Expiry::Clear, Expiry::At);
                    db.insert(&key(k), Value::Int(n as i64), expiry, &c);
                    model.insert(key(k), (n as i64, ttl));
                }
                Op::Del(k) => {
                    prop_assert_eq!(db.remove(&key(k)).is_some(), model.remove(&key(k)).is_some());
                }
                Op::Persist(k) => {
                    if let Some(slot) = db.lookup(&key(k), &c) {
                        db.set_expire(slot, None);
                        model.get_mut(&key(k)).unwrap().1 = None;
                    }
                }
            }
        }
        prop_assert_eq!(db.len(), model.len());
        prop_assert_eq!(db.volatile_len(), model.values().filter(|v| v.1.is_some()).count());
        for (pos, listed) in db.volatile.iter().enumerate() {
            prop_assert_eq!(db.entries.get(listed.slot as usize).volatile_pos(), Some(pos));
        }
        for (k, (v, ttl)) in &model {
            let slot = db.lookup(k, &c).unwrap();
            prop_assert!(matches!(db.value(slot), Value::Int(n) if n == v));
            prop_assert_eq!(db.expire_at(slot), *ttl);
        }
        let heap: usize = db.slots().map(|s| db.slot_memory(s) - ENTRY_OVERHEAD).sum();
        prop_assert_eq!(heap, db.heap_bytes);
        prop_assert!(sizes_recounted(&db));
    }

    /// A key present for the whole scan is returned at least once, however the table changes meanwhile.
    #[test]
    fn scan_never_skips_stable_keys(
        initial in 1usize..300,
        changes in proptest::collection::vec((any::<bool>(), 0u16..600), 0..400),
        count in 1usize..20,
    ) {
        let mut db = Db::new();
        let c = clock(0);
        for i in 0..initial {
            db.insert(format!("k{i}").as_bytes(), Value::Int(i as i64), Expiry::Clear, &c);
        }
        let mut touched: HashSet<Vec<u8>> = HashSet::new();
        let mut seen: HashSet<Vec<u8>> = HashSet::new();
        let mut changes = changes.into_iter();
        let mut cursor = 0;
        loop {
            cursor = db.scan(cursor, count, |slot| { seen.insert(db.key(slot).to_vec()); });
            if cursor == 0 {
                break;
            }
            for (add, k) in changes.by_ref().take(3) {
                let k = format!("k{k}").into_bytes();
                touched.insert(k.clone());
                if add {
                    db.insert(&k, Value::Int(0), Expiry::Clear, &c);
                } else {
                    db.remove(&k);
                }
            }
        }
        for i in 0..initial {
            let k = format!("k{i}").into_bytes();
            if !touched.contains(&k) {
                prop_assert!(seen.contains(&k), "missed {:?}", String::from_utf8_lossy(&k));
            }
        }
    }
}

/// What a capture hands out, shared with the test.
#[derive(Clone, Default)]
struct Collected(std::sync::Arc<std::sync::Mutex<Vec<KeyAndText>>>);

type KeyAndText = (Vec<u8>, Vec<u8>);

impl CaptureSink for Collected {
    fn capture(&mut self, key: &[u8], value: &Value, _expire_at: Option<u64>) {
        let text = value.as_string().map(|s| s.to_bytes().into_owned()).unwrap_or_default();
        self.0.lock().unwrap().push((key.to_vec(), text));
    }
}

#[derive(Debug, Clone)]
enum CaptureOp {
    Set(u8, u16),
    Del(u8),
    Step(u8),
    Expire(u8),
}

fn capture_op() -> impl Strategy<Value = CaptureOp> {
    prop_oneof![
        (any::<u8>(), any::<u16>()).prop_map(|(k, v)| CaptureOp::Set(k % 64, v)),
        any::<u8>().prop_map(|k| CaptureOp::Del(k % 64)),
        any::<u8>().prop_map(|n| CaptureOp::Step(n % 8)),
        any::<u8>().prop_map(|k| CaptureOp::Expire(k % 64)),
    ]
}

proptest! {
    /// A capture taken while writes continue holds exactly the keys and values present when it began,
    /// each once.
    #[test]
    fn capture_is_point_in_time(
        initial in proptest::collection::btree_map(0u8..64, any::<u16>(), 0..48),
        ops in proptest::collection::vec(capture_op(), 0..200),
    ) {
        let c = clock(1000);
        let mut db = Db::new();
        for (k, v) in &initial {
            db.insert(&[*k], Value::string(v.to_string().as_bytes()), Expiry::Clear, &c);
        }
        let collected = Collected::default();
        db.begin_capture(Box::new(collected.clone()));
        for op in ops {
            match op {
                CaptureOp::Set(k, v) => {
                    db.insert(&[k], Value::string(v.to_string().as_bytes()), Expiry::Keep, &c);
                }
                CaptureOp::Del(k) => {
                    db.remove(&[k]);
                }
                CaptureOp::Step(n) => {
                    db.capture_step(n as usize);
                }
                CaptureOp::Expire(k) => {
                    if let Some(slot) = db.lookup(&[k], &c) {
                        db.set_expire(slot, Some(5000));
                    }
                }
            }
        }
        while !db.capture_step(3) {}
        db.end_capture();
        let mut got = collected.0.lock().unwrap().clone();
        got.sort();
        let expected: Vec<(Vec<u8>, Vec<u8>)> =
            initial.iter().map(|(k, v)| (vec![*k], v.to_string().into_bytes())).collect();
        prop_assert_eq!(got, expected);
    }
}

#[test]
fn flush_during_a_capture_writes_out_the_rest_first() {
    let c = clock(1000);
    let mut db = Db::new();
    for k in 0..10u8 {
        db.insert(&[k], Value::string(b"v"), Expiry::Clear, &c);
    }
    let collected = Collected::default();
    db.begin_capture(Box::new(collected.clone()));
    db.capture_step(3);
    db.clear();
    db.insert(b"new", Value::string(b"v"), Expiry::Clear, &c);
    assert!(db.capture_step(100));
    assert_eq!(collected.0.lock().unwrap().len(), 10);
}

#[test]
fn a_string_rewritten_in_place_reaches_a_capture_as_it_was() {
    let c = clock(1000);
    let mut db = Db::new();
    let slot = db.insert(b"k", Value::string(b"the old sixteen!"), Expiry::Clear, &c);
    let collected = Collected::default();
    db.begin_capture(Box::new(collected.clone()));
    db.overwrite_string(slot, b"the new sixteen!", Expiry::Clear, &c);
    assert!(db.capture_step(100));
    assert_eq!(*collected.0.lock().unwrap(), vec![(b"k".to_vec(), b"the old sixteen!".to_vec())]);
    assert_eq!(db.value(slot).as_string(), Some(crate::StrRef::Raw(b"the new sixteen!")));
}

#[test]
fn members_are_prefetched_in_tables_only() {
    let c = clock(1000);
    let mut db = Db::new();
    let limits = crate::HashLimits { max_listpack_entries: 4, max_listpack_value: 64 };
    let mut big = crate::Hash::new();
    for i in 0..100 {
        big.set(format!("f{i}").as_bytes(), b"v", &limits);
    }
    let mut small = crate::Hash::new();
    small.set(b"f1", b"v", &limits);
    let table = db.insert(b"big", Value::Hash(Box::new(big)), Expiry::Clear, &c);
    let packed = db.insert(b"small", Value::Hash(Box::new(small)), Expiry::Clear, &c);
    let string = db.insert(b"s", Value::string(b"v"), Expiry::Clear, &c);
    let pos = db.prefetch_member(table, b"f1").expect("a field of a table-encoded hash");
    db.prefetch_member_key(table, pos);
    assert_eq!((db.prefetch_member(packed, b"f1"), db.prefetch_member(string, b"f1")), (None, None));
    assert_eq!(db.prefetch_member(99, b"f1"), None, "a slot past the end is ignored");
    db.prefetch_member_key(99, 0);
    db.prefetch_member_key(table, 1_000_000);
}

#[test]
fn expired_keys_are_recorded_only_when_asked() {
    let mut db = Db::new();
    db.insert(b"a", Value::string(b"v"), Expiry::At(2000), &clock(1000));
    db.insert(b"b", Value::string(b"v"), Expiry::At(2000), &clock(1000));
    assert!(db.lookup(b"a", &clock(3000)).is_none());
    assert!(db.take_expired().is_empty());
    db.set_record_expired(true);
    assert!(db.lookup(b"b", &clock(3000)).is_none());
    assert_eq!(db.take_expired(), vec![CompactBytes::new(b"b")]);
}

fn hash_with_ttls(fields: &[(&str, Option<u64>)]) -> Value {
    let limits = crate::HashLimits { max_listpack_entries: 128, max_listpack_value: 64 };
    let mut hash = crate::Hash::new();
    for (field, at) in fields {
        hash.set(field.as_bytes(), b"v", &limits);
        hash.set_field_expire_at(field.as_bytes(), *at);
    }
    Value::Hash(Box::new(hash))
}

#[test]
fn due_fields_go_when_asked_for_and_the_key_with_the_last_one() {
    let mut db = Db::new();
    db.set_record_expired(true);
    db.insert(b"h", hash_with_ttls(&[("a", Some(2000)), ("b", Some(3000)), ("c", None)]), Expiry::Clear, &clock(0));
    let memory = db.memory();
    let slot = db.lookup(b"h", &clock(2500)).unwrap();
    assert!(!db.has_expired(), "a lookup alone leaves fields to the commands that read them");
    assert!(!db.expire_due_fields(slot, 2500));
    let Value::Hash(hash) = db.value(slot) else { panic!("a hash") };
    assert_eq!((hash.len(), hash.encoding()), (2, "listpackex"));
    assert!(db.memory() < memory, "memory follows the deletion");
    let expired = db.take_expired_fields();
    assert_eq!(expired, vec![ExpiredFields { key: b"h".to_vec(), fields: vec![b"a"[..].into()], key_gone: false }]);

    db.insert(b"g", hash_with_ttls(&[("x", Some(2000))]), Expiry::Clear, &clock(0));
    let slot = db.lookup(b"g", &clock(2500)).unwrap();
    db.expired_keys(ExpiredKeys::Hide);
    assert!(!db.expire_due_fields(slot, 2500), "a replica leaves fields to its primary");
    db.expired_keys(ExpiredKeys::Delete);
    assert!(db.expire_due_fields(slot, 2500));
    assert!(db.lookup(b"g", &clock(2500)).is_none());
    assert!(db.take_expired_fields()[0].key_gone);
    assert!(!db.has_expired());
    assert_eq!(db.field_volatile_len(), 1, "h still has a field with a TTL, g is gone");
}

#[test]
fn naming_a_due_field_deletes_that_field_only() {
    let mut db = Db::new();
    db.set_record_expired(true);
    db.insert(b"h", hash_with_ttls(&[("a", Some(2000)), ("b", Some(2000)), ("c", None)]), Expiry::Clear, &clock(0));
    let slot = db.lookup(b"h", &clock(2500)).unwrap();
    assert!(!db.expire_field(slot, b"c", 2500), "a field without a TTL stays");
    assert!(!db.expire_field(slot, b"a", 1999), "a field not yet due stays");
    db.expired_keys(ExpiredKeys::Hide);
    assert!(!db.expire_field(slot, b"a", 2500), "a replica leaves fields to its primary");
    db.expired_keys(ExpiredKeys::Live);
    assert_eq!(db.field_clock(2500), 0, "its primary's stream reads every field as live");
    db.expired_keys(ExpiredKeys::Delete);
    assert!(!db.expire_field(slot, b"a", 2500));
    let Value::Hash(hash) = db.value(slot) else { panic!("a hash") };
    assert_eq!((hash.len(), hash.live_len(2500)), (2, 1), "b is due but was not named");
    let expired = db.take_expired_fields();
    assert_eq!(expired, vec![ExpiredFields { key: b"h".to_vec(), fields: vec![b"a"[..].into()], key_gone: false }]);

    db.insert(b"g", hash_with_ttls(&[("x", Some(2000))]), Expiry::Clear, &clock(0));
    let slot = db.lookup(b"g", &clock(2500)).unwrap();
    assert!(db.expire_field(slot, b"x", 2500), "the key goes with its last field");
    assert!(db.lookup(b"g", &clock(2500)).is_none());
    assert!(db.take_expired_fields()[0].key_gone);
}

#[test]
fn active_field_expiry_takes_due_hashes_first_within_its_budget() {
    let mut db = Db::new();
    db.set_record_expired(true);
    for i in 0..50 {
        let key = format!("h{i}");
        db.insert(
            key.as_bytes(),
            hash_with_ttls(&[("a", Some(1000)), ("b", Some(1000)), ("c", None)]),
            Expiry::Clear,
            &clock(0),
        );
    }
    db.insert(b"renamed", hash_with_ttls(&[("a", Some(9000))]), Expiry::Clear, &clock(0));
    db.remove(b"renamed");
    assert_eq!(db.field_volatile_len(), 50, "a removed hash is no longer filed");
    assert_eq!(db.expire_fields_step(999, 1000), (0, 0), "nothing is due yet");
    let (visited, expired) = db.expire_fields_step(5000, 7);
    assert_eq!((visited, expired), (4, 7), "two fields from each hash taken, within the budget");
    let (_, rest) = db.expire_fields_step(5000, 1000);
    assert_eq!(expired + rest, 100);
    assert_eq!(db.expire_fields_step(10_000, 1000), (0, 0));
    assert_eq!(db.field_volatile_len(), 0, "no hash has field TTLs left");
    assert_eq!(db.len(), 50);
    assert_eq!(db.take_expired_fields().iter().map(|e| e.fields.len()).sum::<usize>(), 100);
}

proptest! {
    /// Field TTLs against a model: whatever sequence of sets, TTLs, removals, lookups and active steps runs,
    /// the database holds exactly the model's hashes after every full active step, and files exactly the
    /// hashes that have a field with a TTL (INFO's `subexpiry`).
    #[test]
    fn field_expiry_matches_a_model(ops in proptest::collection::vec((0u8..6, 0u8..3, 0u8..4, 0u64..40), 0..200)) {
        use std::collections::BTreeMap;
        let limits = crate::HashLimits { max_listpack_entries: 2, max_listpack_value: 64 };
        let mut db = Db::new();
        // key -> field -> expiry (0: none)
        let mut model: BTreeMap<u8, BTreeMap<u8, u64>> = BTreeMap::new();
        let mut now = 0u64;
        for (op, key, field, t) in ops {
            now += 1;
            let name = [b'h', key];
            let fname = [b'f', field];
            // What a command on the hash finds: the model after lazy expiry.
            let expire = |m: &mut BTreeMap<u8, BTreeMap<u8, u64>>, now: u64| {
                for fields in m.values_mut() {
                    fields.retain(|_, at| *at == 0 || *at > now);
                }
                m.retain(|_, f| !f.is_empty());
            };
            match op {
                0 | 1 => {
                    // HSET (drops the TTL) or HINCRBY-like set (keeps it).
                    let slot = match db.lookup(&name, &clock(now)) {
                        Some(slot) if db.expire_due_fields(slot, now) => None,
                        found => found,
                    };
                    expire(&mut model, now);
                    let slot = slot.unwrap_or_else(|| db.insert(&name, Value::Hash(Box::default()), Expiry::Clear, &clock(now)));
                    db.update(slot, |v| {
                        let Value::Hash(h) = v else { unreachable!() };
                        if op == 0 { h.set(&fname, b"v", &limits) } else { h.set_keeping_ttl(&fname, b"v", &limits) }
                    });
                    let at = model.entry(key).or_default().entry(field).or_insert(0);
                    if op == 0 {
                        *at = 0;
                    }
                }
                2 => {
                    // HPEXPIREAT in the future, on a field that exists.
                    if let Some(slot) = db.lookup(&name, &clock(now)) {
                        if !db.expire_due_fields(slot, now) {
                            expire(&mut model, now);
                            let at = now + 1 + t;
                            let has = model.get(&key).is_some_and(|f| f.contains_key(&field));
                            db.update(slot, |v| {
                                let Value::Hash(h) = v else { unreachable!() };
                                if h.contains(&fname) { h.set_field_expire_at(&fname, Some(at)); }
                            });
                            if has {
                                model.get_mut(&key).unwrap().insert(field, at);
                            }
                        } else {
                            expire(&mut model, now);
                        }
                    }
                }
                3 => {
                    // HDEL, which sees expired fields too.
                    if let Some(slot) = db.lookup(&name, &clock(now)) {
                        let gone = db.update(slot, |v| {
                            let Value::Hash(h) = v else { unreachable!() };
                            h.remove(&fname);
                            h.is_empty()
                        });
                        if gone {
                            db.remove(&name);
                        }
                        if let Some(fields) = model.get_mut(&key) {
                            fields.remove(&field);
                            if fields.is_empty() { model.remove(&key); }
                        }
                    }
                }
                4 => {
                    // An active step with a budget.
                    db.expire_fields_step(now, 1 + t as usize % 3);
                }
                _ => {
                    db.remove(&name);
                    model.remove(&key);
                }
            }
            // Now and then (so that lookups also meet due fields), a full step: every due field gone, and
            // the filing exact.
            if t % 3 == 0 {
                db.expire_fields_step(now, usize::MAX);
                expire(&mut model, now);
                let with_ttls = model.values().filter(|f| f.values().any(|at| *at != 0)).count();
                prop_assert_eq!(db.field_volatile_len(), with_ttls);
                prop_assert_eq!(db.len(), model.len());
                prop_assert!(sizes_recounted(&db), "key sizes follow every change");
            }
        }
        db.expire_fields_step(now, usize::MAX);
        for key in 0..3 {
            db.remove(&[b'h', key]);
        }
        prop_assert_eq!((db.len(), db.field_volatile_len()), (0, 0), "a removed hash is unfiled");
    }
}

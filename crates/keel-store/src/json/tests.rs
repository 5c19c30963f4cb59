//! The JSON value, its text and its paths, on the examples RedisJSON and Goessner's JSONPath article use.

use super::path::Path;
use super::{outermost, Document, Json, Layout};
use proptest::prelude::*;

const STORE: &str = r#"{"store":{"book":[
  {"category":"reference","author":"Nigel Rees","title":"Sayings of the Century","price":8.95},
  {"category":"fiction","author":"Evelyn Waugh","title":"Sword of Honour","price":12.99},
  {"category":"fiction","author":"Herman Melville","title":"Moby Dick","isbn":"0-553-21311-3","price":8.99},
  {"category":"fiction","author":"J. R. R. Tolkien","title":"The Lord of the Rings","isbn":"0-395-19395-8","price":22.99}],
  "bicycle":{"color":"red","price":19.95}}}"#;

fn doc(text: &str) -> Json {
    Json::parse(text.as_bytes()).unwrap()
}

/// The compact text of what `path` selects in `text`, as one JSON array.
fn select(text: &str, path: &str) -> String {
    let doc = doc(text);
    let found = Path::parse(path.as_bytes()).unwrap().select(&doc);
    let mut out = Vec::new();
    super::write_list(&mut out, &found, &Layout::default());
    String::from_utf8(out).unwrap()
}

#[test]
fn text_keeps_member_order_integers_and_float_forms() {
    let text = r#"{"z":1,"a":[1.5,-0.25,3.0,1e2,12345678901234567890],"s":"\u00e9\n\"","n":null,"t":true}"#;
    assert_eq!(
        String::from_utf8(doc(text).to_text()).unwrap(),
        r#"{"z":1,"a":[1.5,-0.25,3.0,100.0,1.2345678901234567e+19],"s":"é\n\"","n":null,"t":true}"#
    );
    assert_eq!(doc("9223372036854775807"), Json::Int(i64::MAX));
    assert!(Json::parse(b"{bad").unwrap_err().contains("line 1 column 2"));
    assert!(Json::parse(b"[1] 2").is_err());
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert!(Json::parse(deep.as_bytes()).is_err(), "past the recursion limit");
}

#[test]
fn layout_puts_indent_newline_and_space_where_redisjson_does() {
    let layout = Layout { indent: b"\t", newline: b"\n", space: b" " };
    let mut out = Vec::new();
    doc(r#"{"a":[1,{}],"b":[]}"#).write(&mut out, &layout);
    assert_eq!(String::from_utf8(out).unwrap(), "{\n\t\"a\": [\n\t\t1,\n\t\t{}\n\t],\n\t\"b\": []\n}");
}

#[test]
fn jsonpath_selects_as_in_goessners_examples() {
    assert_eq!(
        select(STORE, "$.store.book[*].author"),
        r#"["Nigel Rees","Evelyn Waugh","Herman Melville","J. R. R. Tolkien"]"#
    );
    assert_eq!(select(STORE, "$..author"), select(STORE, "$.store.book[*].author"));
    assert_eq!(select(STORE, "$.store..price"), "[8.95,12.99,8.99,22.99,19.95]");
    assert_eq!(select(STORE, "$..book[2].title"), r#"["Moby Dick"]"#);
    assert_eq!(select(STORE, "$..book[-1].title"), r#"["The Lord of the Rings"]"#);
    assert_eq!(select(STORE, "$..book[-1:].price"), "[22.99]");
    assert_eq!(select(STORE, "$..book[0,1].price"), "[8.95,12.99]");
    assert_eq!(select(STORE, "$..book[:2].price"), "[8.95,12.99]");
    assert_eq!(select(STORE, "$..book[::2].price"), "[8.95,8.99]");
    assert_eq!(select(STORE, "$..book[?(@.isbn)].price"), "[8.99,22.99]");
    assert_eq!(select(STORE, "$..book[?(@.price<10)].price"), "[8.95,8.99]");
    assert_eq!(select(STORE, r#"$..book[?(@.price > 10 && @.category == "fiction")].price"#), "[12.99,22.99]");
    assert_eq!(select(STORE, "$..book[?(@.price < 9 || @.price > 20)].price"), "[8.95,8.99,22.99]");
    assert_eq!(select(STORE, "$..book[?(!(@.price < 20))].price"), "[22.99]");
    assert_eq!(select(STORE, r#"$..book[?(@.author =~ "^J")].price"#), "[22.99]");
    assert_eq!(select(STORE, "$..book[?(@.price < $.store.bicycle.price)].price"), "[8.95,12.99,8.99]");
    assert_eq!(select(STORE, "$.store['bicycle']['color']"), r#"["red"]"#);
    assert_eq!(select(STORE, "$.store.*.color"), r#"["red"]"#);
    assert_eq!(select(STORE, "$.nothing"), "[]");
}

#[test]
fn legacy_paths_are_dot_paths_from_the_root() {
    let path = Path::parse(b".store.bicycle.color").unwrap();
    assert!(path.is_legacy());
    assert_eq!(path.select(&doc(STORE)), vec![&Json::Str("red".into())]);
    for root in [&b"."[..], b"$"] {
        assert!(Path::parse(root).unwrap().is_root());
    }
    assert_eq!(Path::parse(b"store.book[0].price").unwrap().select(&doc(STORE)), vec![&Json::Float(8.95)]);
    assert!(!Path::parse(b"$.a").unwrap().is_legacy());
    assert_eq!(Path::parse(b"$[").unwrap_err().0, "Error at position 2: parsing error");
    assert!(Path::parse(b"$.a b").is_err());
}

#[test]
fn outermost_keeps_one_location_per_nesting_and_removes_safely() {
    let mut document = Document::new(doc(r#"{"a":{"a":1},"b":[{"a":2},{"a":3}]}"#));
    let mut locs = Path::parse(b"$..a").unwrap().locate(document.root());
    assert_eq!(locs.len(), 4);
    outermost(&mut locs);
    assert_eq!(locs.len(), 3, "the inner a goes with the outer");
    for loc in &locs {
        assert!(document.remove(loc));
    }
    assert_eq!(document.root(), &doc(r#"{"b":[{},{}]}"#));
    let mut array = Document::new(doc("[0,1,2,3]"));
    let mut locs = Path::parse(b"$[0,2,3]").unwrap().locate(array.root());
    outermost(&mut locs);
    locs.iter().for_each(|loc| assert!(array.remove(loc)));
    assert_eq!(array.root(), &doc("[1]"));
}

#[test]
fn merge_patch_follows_rfc_7396() {
    let mut target = doc(r#"{"a":"b","c":{"d":"e","f":"g"}}"#);
    target.merge_patch(doc(r#"{"a":"z","c":{"f":null}}"#));
    assert_eq!(target, doc(r#"{"a":"z","c":{"d":"e"}}"#));
    let mut target = doc(r#"[1]"#);
    target.merge_patch(doc(r#"{"a":{"b":null}}"#));
    assert_eq!(target, doc(r#"{"a":{}}"#));
}

fn json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        any::<i64>().prop_map(Json::Int),
        (-1e12f64..1e12).prop_map(Json::Float),
        ".{0,8}".prop_map(Json::Str),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Json::Array),
            proptest::collection::vec(("[a-z]{0,4}", inner), 0..6)
                .prop_map(|members| Json::Object(Box::new(members.into_iter().collect()))),
        ]
    })
}

/// Edits whose sizes the document tracks, as the JSON commands make them.
#[derive(Debug, Clone)]
enum Edit {
    Set(usize, Json),
    Remove(usize),
    Insert(usize, String, Json),
    Rebuild(usize, Json),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), json()).prop_map(|(at, v)| Edit::Set(at, v)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), "[a-z]{1,3}", json()).prop_map(|(at, k, v)| Edit::Insert(at, k, v)),
        (any::<usize>(), json()).prop_map(|(at, v)| Edit::Rebuild(at, v)),
    ]
}

proptest! {
    #[test]
    fn a_documents_tracked_size_follows_its_edits(root in json(), edits in proptest::collection::vec(edit(), 0..12)) {
        let mut document = Document::new(root);
        for edit in edits {
            let locs = Path::parse(b"$..*").unwrap().locate(document.root());
            let pick = |at: usize| locs.get(at % locs.len().max(1)).cloned().unwrap_or_default();
            match edit {
                Edit::Set(at, v) => { document.set(&pick(at), v); }
                Edit::Remove(at) => { document.remove(&pick(at)); }
                Edit::Insert(at, k, v) => { document.insert_member(&pick(at), &k, v); }
                Edit::Rebuild(at, v) => { document.rebuild(&pick(at), |place| place.merge_patch(v)); }
            }
            prop_assert_eq!(document.bytes(), document.root().memory());
        }
    }

    #[test]
    fn text_parses_back_to_the_same_value(value in json()) {
        let text = value.to_text();
        prop_assert_eq!(Json::parse(&text).unwrap(), value.clone());
        let layout = Layout { indent: b"  ", newline: b"\n", space: b" " };
        let mut pretty = Vec::new();
        value.write(&mut pretty, &layout);
        prop_assert_eq!(Json::parse(&pretty).unwrap(), value);
    }

    #[test]
    fn any_path_text_parses_or_fails_cleanly(text in "[$.@\\[\\]*?()'\"a-c0-9:,<=>!&| -]{0,24}") {
        if let Ok(path) = Path::parse(text.as_bytes()) {
            let _ = path.select(&doc(STORE));
        }
    }

    #[test]
    fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Json::parse(&bytes);
    }

    #[test]
    fn every_location_leads_to_what_was_selected(path in "\\$(\\.\\.?(store|book|price|\\*)|\\[(\\*|-?[0-3]|1:3)\\]){1,4}") {
        let document = doc(STORE);
        let path = Path::parse(path.as_bytes()).unwrap();
        let selected = path.select(&document);
        let located: Vec<&Json> = path.locate(&document).iter().map(|loc| document.at(loc).unwrap()).collect();
        prop_assert_eq!(selected, located);
    }
}

#[test]
fn a_value_is_as_small_as_a_string() {
    assert_eq!(std::mem::size_of::<Json>(), 32);
}

//! The command reader against serde_json: the same bodies accepted, the same arguments read.

use super::Commands;
use proptest::prelude::*;
use serde_json::value::RawValue;

fn listed(commands: &Commands) -> Vec<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    (0..commands.len())
        .map(|i| {
            commands.args(i, &mut args);
            args.iter().map(|a| a.to_vec()).collect()
        })
        .collect()
}

fn words(command: &[&str]) -> Vec<Vec<u8>> {
    command.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// What serde_json reads from one command's items: strings as text, numbers and booleans as written.
fn by_serde(items: &[&RawValue]) -> Option<Vec<Vec<u8>>> {
    let read = |item: &&RawValue| {
        let text = item.get();
        match text.as_bytes().first()? {
            b'"' => serde_json::from_str::<String>(text).ok().map(String::into_bytes),
            b't' | b'f' | b'-' | b'0'..=b'9' => Some(text.as_bytes().to_vec()),
            _ => None,
        }
    };
    let args = items.iter().map(read).collect::<Option<Vec<_>>>()?;
    (!args.is_empty()).then_some(args)
}

fn one_by_serde(body: &[u8]) -> Option<Vec<Vec<Vec<u8>>>> {
    let items: Vec<&RawValue> = serde_json::from_slice(body).ok()?;
    Some(vec![by_serde(&items)?])
}

fn many_by_serde(body: &[u8]) -> Option<Vec<Vec<Vec<u8>>>> {
    let commands: Vec<Vec<&RawValue>> = serde_json::from_slice(body).ok()?;
    let read = commands.iter().map(|items| by_serde(items)).collect::<Option<Vec<_>>>()?;
    (!read.is_empty()).then_some(read)
}

#[test]
fn a_pipeline_reads_into_one_buffer() {
    let body = br#"[["SET","k","v\n",12,-1.5e3,true],["GET","k"],["PING"]]"#;
    let commands = Commands::from_json_commands(body).expect("parsed");
    assert_eq!(
        listed(&commands),
        vec![words(&["SET", "k", "v\n", "12", "-1.5e3", "true"]), words(&["GET", "k"]), words(&["PING"])]
    );
    assert_eq!(commands.name(1), b"GET");
    assert_eq!(commands.arg_bytes(), "SETkv\n12-1.5e3trueGETkPING".len());
    let transaction = listed(&commands.as_transaction());
    assert_eq!(transaction.first(), Some(&words(&["MULTI"])));
    assert_eq!(transaction.last(), Some(&words(&["EXEC"])));
    assert_eq!(transaction.len(), 5);
}

#[test]
fn malformed_or_empty_bodies_are_refused() {
    for body in [
        &b"[]"[..],
        b"[[]]",
        b"[[\"GET\",null]]",
        b"[[\"GET\",[1]]]",
        b"[[\"GET\",{}]]",
        b"[\"GET\",\"k\"]",
        b"[[\"GET\"]] trailing",
        b"[[\"GET\"]",
        b"[[\"GET\"],]",
        b"[[\"GET\",]]",
        b"{}",
    ] {
        assert!(Commands::from_json_commands(body).is_none(), "{}", String::from_utf8_lossy(body));
    }
    for body in [&b"[]"[..], b"[null]", b"[\"GET\"] x", b"[[\"GET\"]]", b"\"GET\""] {
        assert!(Commands::from_json_command(body).is_none(), "{}", String::from_utf8_lossy(body));
    }
    let one = Commands::from_json_command(br#"["GET","\u00e9"]"#).expect("parsed");
    assert_eq!(listed(&one), vec![words(&["GET", "é"])]);
}

#[test]
fn escapes_numbers_and_literals_read_as_serde_json_reads_them() {
    let bodies: [&[u8]; 27] = [
        br#" [ "SET" , "k" , "v" ] "#,
        br#"["SET","\"\\\/\b\f\n\r\t"]"#,
        br#"["SET","\ud83d\ude00"]"#,
        br#"["SET","\ud83d"]"#,
        br#"["SET","\ude00"]"#,
        br#"["SET","\ud83d\u0041"]"#,
        br#"["SET","\ud83d\ue000"]"#,
        br#"["SET","\ud83dx"]"#,
        br#"["SET","\u00"]"#,
        br#"["SET","\uZZZZ"]"#,
        br#"["SET","\x"]"#,
        b"[\"SET\",\"a\x01b\"]",
        b"[\"SET\",\"a\x1fb\"]",
        b"[\"SET\",\"\xff\"]",
        "[\"SET\",\"caf\u{e9}\"]".as_bytes(),
        br#"["SET",0,-0,1.5,1e5,1E+5,-2.5e-3]"#,
        br#"["SET",01]"#,
        br#"["SET",1.]"#,
        br#"["SET",-]"#,
        br#"["SET",1e]"#,
        br#"["SET",.5]"#,
        br#"["SET",+1]"#,
        br#"["SET",true,false]"#,
        br#"["SET","k"}"#,
        br#"["SET",tru]"#,
        br#"["SET",truex]"#,
        br#"["SET","unterminated]"#,
    ];
    for body in bodies {
        let ours = Commands::from_json_command(body).map(|c| listed(&c));
        assert_eq!(ours, one_by_serde(body), "{}", String::from_utf8_lossy(body));
    }
}

/// One argument as a client might write it, now and then with a mistake a reader must catch (mistakes are
/// rare, so that one in a body is often the only one): numbers near JSON's grammar, strings with every
/// escape (surrogates paired, unpaired and mispaired) and raw control bytes, what is not an argument.
fn argument() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "-?(0|[1-9][0-9]{0,3})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
        8 => "\"([a-z é\u{1F600}]|\\\\[\"\\\\/bfnrt]|\\\\u[0-9a-cA-Ce-fE-F][0-9a-fA-F]{3}|\\\\u[dD][89abAB][0-9a-f]{2}\\\\u[dD][c-fC-F][0-9a-f]{2}){0,6}\"",
        2 => "true|false",
        2 => "\"[a-z]{10,40}(\\\\n[a-z]{0,20})?\"",
        1 => "\"[a-z]{10,40}[\u{0}-\u{1f}\"][a-z]{0,20}\"",
        1 => "[-+.eE0-9]{1,4}",
        1 => "\"[a-z]?(\\\\[x0u]|\\\\u[dD][89a-fA-F][0-9a-f]{2}|\\\\u[dD][89abAB][0-9a-f]{2}\\\\u([dD][0-9a-fA-F]|[eE0]0)[0-9a-f]{2}|[\u{0}-\u{1f}])\"",
        1 => "null|tru|falsey|\\{\\}|\\[\\]",
    ]
}

/// JSON whitespace, or none.
fn space() -> impl Strategy<Value = String> {
    "[ \t\r\n]{0,2}"
}

/// A pipeline body of `commands`, then maybe broken: a byte of `[],"` put in or one taken out at `at`.
fn pipeline(commands: Vec<Vec<(String, String)>>, breaking: Option<(usize, u8)>) -> String {
    let command = |args: &Vec<(String, String)>| {
        format!("[{}]", args.iter().map(|(arg, space)| format!("{space}{arg}{space}")).collect::<Vec<_>>().join(","))
    };
    let mut body = format!("[{}]", commands.iter().map(command).collect::<Vec<_>>().join(",")).into_bytes();
    if let Some((at, byte)) = breaking {
        let at = at % body.len();
        match byte {
            0 => drop(body.remove(at)),
            _ => body.insert(at, b"[],\""[byte as usize % 4]),
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

proptest! {
    #[test]
    fn pipelines_read_as_serde_json_reads_them(
        commands in proptest::collection::vec(proptest::collection::vec((argument(), space()), 1..4), 1..4),
        breaking in proptest::option::of((any::<usize>(), 0u8..5)),
    ) {
        let body = pipeline(commands, breaking);
        let many = Commands::from_json_commands(body.as_bytes()).map(|c| listed(&c));
        prop_assert_eq!(many, many_by_serde(body.as_bytes()), "{}", body);
    }

    #[test]
    fn commands_read_as_serde_json_reads_them(
        args in proptest::collection::vec((argument(), space()), 1..5),
        breaking in proptest::option::of((any::<usize>(), 0u8..5)),
    ) {
        let body = pipeline(vec![args], breaking);
        let one = body.strip_prefix('[').and_then(|b| b.strip_suffix(']')).unwrap_or(&body);
        let read = Commands::from_json_command(one.as_bytes()).map(|c| listed(&c));
        prop_assert_eq!(read, one_by_serde(one.as_bytes()), "{}", one);
    }

    #[test]
    fn arbitrary_bytes_read_as_serde_json_reads_them(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        prop_assert_eq!(Commands::from_json_commands(&bytes).map(|c| listed(&c)), many_by_serde(&bytes));
        prop_assert_eq!(Commands::from_json_command(&bytes).map(|c| listed(&c)), one_by_serde(&bytes));
    }
}

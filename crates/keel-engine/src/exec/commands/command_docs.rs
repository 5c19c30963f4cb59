//! COMMAND DOCS: what each command's documentation says, in Redis 8's reply layout. The summary and group
//! come from the command table; the rest (since, complexity, doc flags, deprecation, history, arguments)
//! from `data/command-docs.json`, generated from Redis 7.0.15's command files and Keel's own for newer
//! commands (see `data/generate-command-docs.py`). redis-cli builds its argument hints from `arguments`.

use super::command_table::{Command, CommandTable};
use super::{CmdResult, Ctx};
use keel_protocol::ReplyWriter;
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::LazyLock;

/// The documentation beyond summary and group, by command full name (`set`, `config|get`).
#[derive(Deserialize, Default)]
struct Docs {
    since: Option<String>,
    complexity: Option<String>,
    #[serde(default)]
    doc_flags: Vec<String>,
    deprecated_since: Option<String>,
    replaced_by: Option<String>,
    #[serde(default)]
    history: Vec<(String, String)>,
    #[serde(default)]
    arguments: Vec<Argument>,
}

/// One argument of a command: a value, a token, or a block or choice of further arguments.
#[derive(Deserialize)]
struct Argument {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    display: Option<String>,
    key_spec_index: Option<i64>,
    token: Option<String>,
    summary: Option<String>,
    since: Option<String>,
    deprecated_since: Option<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    multiple: bool,
    #[serde(default)]
    multiple_token: bool,
    #[serde(default)]
    arguments: Vec<Argument>,
}

static DOCS: LazyLock<HashMap<String, Docs>> =
    LazyLock::new(|| serde_json::from_str(include_str!("../../../data/command-docs.json")).unwrap_or_default());

pub fn command_docs(ctx: &mut Ctx, args: &[&[u8]]) -> CmdResult {
    let table = &ctx.server.commands;
    let chosen: Vec<&Command> = if args.len() == 2 {
        table.top_level().collect()
    } else {
        args[2..].iter().filter_map(|name| super::introspection::find_by_fullname(table, name)).collect()
    };
    ctx.out.map(chosen.len());
    for cmd in chosen {
        ctx.out.bulk(cmd.fullname.as_bytes());
        write_docs(ctx.out, table, cmd);
    }
    Ok(())
}

/// One command's documentation map, its subcommands' within it (Redis's addReplyCommandDocs).
fn write_docs(out: &mut ReplyWriter, table: &CommandTable, cmd: &Command) {
    let empty = Docs::default();
    let docs = DOCS.get(cmd.fullname.as_str()).unwrap_or(&empty);
    let has_subs = !cmd.subcommands.is_empty();
    let fields = 2
        + docs.since.is_some() as usize
        + docs.complexity.is_some() as usize
        + !docs.doc_flags.is_empty() as usize
        + docs.deprecated_since.is_some() as usize
        + docs.replaced_by.is_some() as usize
        + !docs.history.is_empty() as usize
        + !docs.arguments.is_empty() as usize
        + has_subs as usize;
    out.map(fields);
    out.bulk(b"summary");
    out.bulk(cmd.spec.summary.as_bytes());
    bulk_field(out, "since", &docs.since);
    out.bulk(b"group");
    out.bulk(cmd.spec.group.as_bytes());
    bulk_field(out, "complexity", &docs.complexity);
    if !docs.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(docs.doc_flags.len());
        docs.doc_flags.iter().for_each(|flag| out.simple(&flag.to_ascii_lowercase()));
    }
    bulk_field(out, "deprecated_since", &docs.deprecated_since);
    bulk_field(out, "replaced_by", &docs.replaced_by);
    if !docs.history.is_empty() {
        out.bulk(b"history");
        out.set(docs.history.len());
        for (since, change) in &docs.history {
            out.array(2);
            out.bulk(since.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !docs.arguments.is_empty() {
        out.bulk(b"arguments");
        write_arguments(out, &docs.arguments);
    }
    if has_subs {
        out.bulk(b"subcommands");
        out.map(cmd.subcommands.len());
        for &sub in &cmd.subcommands {
            let sub = table.get(sub);
            out.bulk(sub.fullname.as_bytes());
            write_docs(out, table, sub);
        }
    }
}

fn bulk_field(out: &mut ReplyWriter, name: &str, value: &Option<String>) {
    if let Some(value) = value {
        out.bulk(name.as_bytes());
        out.bulk(value.as_bytes());
    }
}

/// Arguments as Redis 8's addReplyCommandArgList lists them: a value or token has a `display_text` (its
/// display name, else its name); a block or choice has its own `arguments` instead.
fn write_arguments(out: &mut ReplyWriter, arguments: &[Argument]) {
    out.array(arguments.len());
    for arg in arguments {
        let nested = arg.kind == "oneof" || arg.kind == "block";
        let flags = [("optional", arg.optional), ("multiple", arg.multiple), ("multiple_token", arg.multiple_token)];
        let flag_count = flags.iter().filter(|(_, set)| *set).count();
        let fields = 3
            + arg.key_spec_index.is_some() as usize
            + arg.token.is_some() as usize
            + arg.summary.is_some() as usize
            + arg.since.is_some() as usize
            + arg.deprecated_since.is_some() as usize
            + (flag_count > 0) as usize;
        out.map(fields);
        out.bulk(b"name");
        out.bulk(arg.name.as_bytes());
        out.bulk(b"type");
        out.bulk(arg.kind.as_bytes());
        if !nested {
            out.bulk(b"display_text");
            out.bulk(arg.display.as_deref().unwrap_or(&arg.name).as_bytes());
        }
        if let Some(index) = arg.key_spec_index {
            out.bulk(b"key_spec_index");
            out.int(index);
        }
        bulk_field(out, "token", &arg.token);
        bulk_field(out, "summary", &arg.summary);
        bulk_field(out, "since", &arg.since);
        bulk_field(out, "deprecated_since", &arg.deprecated_since);
        if flag_count > 0 {
            out.bulk(b"flags");
            out.set(flag_count);
            flags.iter().filter(|(_, set)| *set).for_each(|(name, _)| out.simple(name));
        }
        if nested {
            out.bulk(b"arguments");
            write_arguments(out, &arg.arguments);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DOCS;
    use crate::exec::commands::command_table::CommandTable;

    /// The embedded file parses, and documents every command but the JSON module's (which, like Redis's
    /// module commands, list only summary and group).
    #[test]
    fn every_command_has_docs() {
        assert!(DOCS.len() > 300, "{}", DOCS.len());
        let table = CommandTable::build();
        let missing: Vec<&str> = table
            .all()
            .map(|c| c.fullname.as_str())
            .filter(|name| !name.starts_with("json.") && !DOCS.contains_key(*name))
            .collect();
        assert!(missing.is_empty(), "{missing:?}");
        let set = &DOCS["set"];
        assert_eq!(set.since.as_deref(), Some("1.0.0"));
        assert_eq!(set.arguments.iter().map(|a| a.name.as_str()).collect::<Vec<_>>()[..2], ["key", "value"]);
    }
}

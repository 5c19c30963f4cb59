#!/usr/bin/env python3
"""Writes command-docs.json, what COMMAND DOCS says of each command beyond its summary and group (which the
command table holds): since, complexity, doc flags, deprecation, history and the arguments redis-cli's hints
are built from.

Usage: generate-command-docs.py REDIS_7_0_SRC_COMMANDS_DIR

The source is Redis 7.0.15's src/commands/*.json (BSD-3-Clause, Copyright (c) 2006-2020, Salvatore Sanfilippo),
from Debian's source package as conformance/redis-suite.sh unpacks it (/opt/redis-src/redis-src/src/commands);
commands newer than 7.0 come from command-docs-newer.json, written for Keel from the commands' public syntax.
Run it again when either changes."""
import glob
import json
import os
import sys

ARGUMENT_FIELDS = ("name", "type", "display", "key_spec_index", "token", "summary", "since", "deprecated_since",
                   "optional", "multiple", "multiple_token")
COMMAND_FIELDS = ("since", "complexity", "doc_flags", "deprecated_since", "replaced_by", "history")


def argument(arg, in_oneof=False):
    kept = {field: arg[field] for field in ARGUMENT_FIELDS if field in arg}
    # Redis 7.2 documents every token in upper case (M|KM|FT|MI, NORMAL|MASTER|...), and the choices of a
    # oneof as plain (MIGRATE's [AUTH password|AUTH2 username password]): Keel follows the newer syntax.
    if "token" in kept:
        kept["token"] = kept["token"].upper()
    if in_oneof:
        kept.pop("optional", None)
    if "arguments" in arg:
        kept["arguments"] = arguments(arg["arguments"], arg["type"] == "oneof")
    return kept


def arguments(args, in_oneof=False):
    kept = [argument(a, in_oneof) for a in args]
    # GEORADIUS's STORE and STOREDIST are one choice since Redis 7.2: [STORE key|STOREDIST key].
    tokens = [a.get("token") for a in kept]
    if "STORE" in tokens and "STOREDIST" in tokens:
        at = tokens.index("STORE")
        store, storedist = kept[at], kept[tokens.index("STOREDIST")]
        for choice, name in ((store, "storekey"), (storedist, "storedistkey")):
            choice.pop("optional", None)
            choice["display"], choice["name"] = choice["name"], name
        kept = [a for a in kept if a is not storedist]
        kept[at] = {"name": "store", "type": "oneof", "optional": True, "arguments": [store, storedist]}
    return kept


def command(spec):
    kept = {field: spec[field] for field in COMMAND_FIELDS if spec.get(field)}
    if spec.get("arguments"):
        kept["arguments"] = arguments(spec["arguments"])
    return kept


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    docs = {}
    for path in glob.glob(os.path.join(sys.argv[1], "*.json")):
        with open(path) as f:
            for name, spec in json.load(f).items():
                full = name.lower()
                if "container" in spec:
                    full = spec["container"].lower() + "|" + full
                docs[full] = command(spec)
    with open(os.path.join(here, "command-docs-newer.json")) as f:
        docs.update(json.load(f))
    with open(os.path.join(here, "command-docs.json"), "w") as f:
        f.write("{\n")
        f.write(",\n".join(f"{json.dumps(name)}: {json.dumps(docs[name], separators=(',', ':'))}"
                           for name in sorted(docs)))
        f.write("\n}\n")


main()

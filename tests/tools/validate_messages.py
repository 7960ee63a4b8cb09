#!/usr/bin/python3
"""validate_messages.py: check TDS messages against schemas/ (JSON Schema
draft 2020-12), with Debian's python3-jsonschema.  Run it with
/usr/bin/python3, not a python that lacks the package.

    validate_messages.py SCHEMAS_DIR FILE...
        FILE ('-' for stdin) holds one message per line, as Kafka values
        (kcat -e -f '%s\\n' prints that); a FILE ending in .md instead
        contributes every ```json block it contains (docs/protocol.md).  Each message is checked against
        <type>.schema.json and envelope.schema.json, or, when it has a
        "reason" and no "type", against dead-letter.schema.json.  Prints
        a count per type; exits 1 if any message fails.

    validate_messages.py --cases CASES_DIR [--allowlist FILE] SCHEMAS_DIR
        Runs the codec's data-driven cases (tests/proto-cases): every case
        expected "ok" must validate; every case expected "error
        bad_schema" must fail its type's schema (the envelope schema if
        the type is unknown), unless the allowlist names it: cases where
        a schema cannot say what the codec checks (lengths in bytes,
        calendar dates, 4.0 read as an integer).  An allowlisted case
        that fails its schema after all is reported as stale.  Cases of
        other codes (bad_json, too_large) are the parser's business and
        skipped.

The schemas' patterns are ECMA-262 regular expressions, in which '$'
matches only at the very end; Python's re also matches '$' before a
final newline, so this script translates '$' to '\\Z' (otherwise
"alice\\n" would pass as a user).
"""

import collections
import json
import os
import re
import sys

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

_pattern_cache = {}


def _ecma_to_python(pattern):
    """'$' outside a character class and not escaped becomes '\\Z'."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
        elif c == "$":
            c = "\\Z"
        out.append(c)
        i += 1
    return "".join(out)


def _ecma_pattern(validator, patrn, instance, schema):
    if not validator.is_type(instance, "string"):
        return
    rx = _pattern_cache.get(patrn)
    if rx is None:
        rx = _pattern_cache[patrn] = re.compile(_ecma_to_python(patrn))
    if not rx.search(instance):
        yield ValidationError("%r does not match %r" % (instance, patrn))


Validator = jsonschema.validators.extend(Draft202012Validator,
                                         {"pattern": _ecma_pattern})


def load_schemas(schemas_dir):
    """{name without .schema.json: validator}; checks each schema too."""
    out = {}
    for fn in sorted(os.listdir(schemas_dir)):
        if not fn.endswith(".schema.json"):
            continue
        with open(os.path.join(schemas_dir, fn), encoding="utf-8") as f:
            schema = json.load(f)
        Draft202012Validator.check_schema(schema)
        out[fn[:-len(".schema.json")]] = Validator(schema)
    for need in ("envelope", "dead-letter"):
        if need not in out:
            raise SystemExit("%s: no %s.schema.json" % (schemas_dir, need))
    return out


def schema_names(msg, schemas):
    """The schemas `msg` must satisfy, and the kind to count it under."""
    if isinstance(msg, dict) and "type" not in msg and "reason" in msg:
        return ["dead-letter"], "dead-letter"
    t = msg.get("type") if isinstance(msg, dict) else None
    if isinstance(t, str) and t in schemas and t not in ("envelope",
                                                         "dead-letter"):
        return [t, "envelope"], t
    return ["envelope"], "(unknown type)"


def errors_of(msg, names, schemas):
    out = []
    for n in names:
        for e in schemas[n].iter_errors(msg):
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            out.append("%s.schema.json: %s: %s" % (n, where, e.message))
    return out


def messages_of(path):
    """(line number, text) of every message in `path`."""
    if path == "-":
        return list(enumerate(sys.stdin, 1))
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".md"):
        return list(enumerate(text.splitlines(), 1))
    out = []
    for m in re.finditer(r"^```json\n(.*?)^```", text, re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))
    return out


def validate_files(schemas, files):
    counts = collections.Counter()
    failures = 0
    for path in files:
        for lineno, line in messages_of(path):
            if not line.strip():
                continue
            try:
                msg = json.loads(line)
            except ValueError as e:
                print("%s:%d: not JSON: %s" % (path, lineno, e))
                failures += 1
                continue
            names, kind = schema_names(msg, schemas)
            errs = errors_of(msg, names, schemas)
            counts[kind] += 1
            if errs:
                failures += 1
                for e in errs[:5]:
                    print("%s:%d: %s" % (path, lineno, e))
    for kind in sorted(counts):
        print("%-20s %d" % (kind, counts[kind]))
    print("%d messages, %d failed" % (sum(counts.values()), failures))
    return 1 if failures or not counts else 0


def read_allowlist(path):
    """{case: reason} from lines "case  reason"; '#' starts a comment."""
    out = {}
    if path is None:
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, _, why = line.partition(" ")
                out[name] = why.strip()
    return out


def validate_cases(schemas, cases_dir, allowlist):
    counts = collections.Counter()
    failures = 0
    seen = set()
    for case in sorted(os.listdir(cases_dir)):
        d = os.path.join(cases_dir, case)
        if case.startswith(".") or not os.path.isdir(d):
            continue
        with open(os.path.join(d, "expected"), encoding="utf-8") as f:
            expected = f.readline().split()
        with open(os.path.join(d, "input.json"), "rb") as f:
            data = f.read()
        if expected not in (["ok"], ["error", "bad_schema"]):
            counts["skipped (" + " ".join(expected) + ")"] += 1
            continue
        try:
            msg = json.loads(data.decode("utf-8"))
        except ValueError as e:
            print("case %s: not JSON to Python: %s" % (case, e))
            failures += 1
            continue
        names, _ = schema_names(msg, schemas)
        errs = errors_of(msg, names, schemas)
        if expected == ["ok"]:
            counts["ok, valid"] += 1
            if errs:
                failures += 1
                print("case %s: expected ok, schema says:" % case)
                for e in errs[:5]:
                    print("    " + e)
            continue
        if case in allowlist:
            seen.add(case)
            counts["bad_schema, allowlisted"] += 1
            if errs:
                failures += 1
                print("case %s: allowlisted but its schema refuses it: "
                      "remove it from the allowlist" % case)
            continue
        counts["bad_schema, refused"] += 1
        if not errs:
            failures += 1
            print("case %s: the codec refuses it (bad_schema), the schema "
                  "%s.schema.json accepts it" % (case, names[0]))
    for name in sorted(set(allowlist) - seen):
        failures += 1
        print("allowlist: no bad_schema case %s" % name)
    for kind in sorted(counts):
        print("%-28s %d" % (kind, counts[kind]))
    print("%d cases, %d failed" % (sum(counts.values()), failures))
    return 1 if failures or not counts else 0


def main(argv):
    args = argv[1:]
    cases_dir = allowlist = None
    if args[:1] == ["--cases"] and len(args) >= 3:
        cases_dir, args = args[1], args[2:]
        if args[:1] == ["--allowlist"] and len(args) >= 2:
            allowlist, args = args[1], args[2:]
        if len(args) != 1:
            args = []
    if not args or (cases_dir is None and len(args) < 2):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    schemas = load_schemas(args[0])
    if cases_dir is not None:
        return validate_cases(schemas, cases_dir, read_allowlist(allowlist))
    return validate_files(schemas, args[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))

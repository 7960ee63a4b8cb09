#!/usr/bin/python3
"""gen_bundle_schemas.py: write schemas/tree-head.schema.json and
schemas/bundle.schema.json, the JSON Schemas (draft 2020-12) of the files
of the evidence log (libtds/bundle.h, docs/evidence.md).

A bundle holds an evidence object and a tree head object; rather than
copy their definitions by hand, they are taken from
schemas/evidence.schema.json and from the tree head schema made here,
with the field kinds of gen_schemas.py (the same as the log.* messages).
Each output file stands alone (its own $defs).

    gen_bundle_schemas.py SCHEMAS_DIR            write the two files
    gen_bundle_schemas.py --check SCHEMAS_DIR    exit 1 if either differs

The code (libtds/bundle.c) stays the authority: a schema cannot say that
the signatures verify, that the proof leads to the root, or that a
certificate is DER; it checks forms only.
"""

import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_schemas import BASE_ID, DRAFT, KINDS, render  # noqa: E402

HEAD_FIELDS = [
    ("log_id", "key_id",
     "the key id of the TTP key (lowercase hex SHA-256 of its SPKI DER): "
     "which log this is"),
    ("tree_size", "count", "the number of leaves of the tree"),
    ("root_hash", "sha256", "the RFC 9162 Merkle tree hash of the tree"),
    ("time", "time", "when the TTP signed the head"),
    ("ttp_sig", "sig",
     "the TTP's signature over the tree_head TBS: tds/1 tree_head, log_id, "
     "tree_size, root_hash, time"),
    ("timestamp_token", "token",
     "RFC 3161 TimeStampToken over SHA-256 of the same TBS bytes"),
    ("tsa_chain", "chain",
     "the TSA's certificate, then its issuers up to the trust anchor (by "
     "default the TTP's own CA certificate, which holds the TTP key)"),
]


def head_object(file):
    props, required = {}, []
    if file:
        props["tds_tree_head"] = {"description": "format version",
                                  "type": "integer", "const": 1}
        required.append("tds_tree_head")
    for name, kind, desc in HEAD_FIELDS:
        props[name] = {"$ref": "#/$defs/" + kind, "description": desc}
        required.append(name)
    return {"type": "object", "additionalProperties": False,
            "required": required, "properties": props}


def head_defs():
    return {kind: copy.deepcopy(KINDS[kind])
            for kind in sorted({k for _, k, _ in HEAD_FIELDS})}


def tree_head_schema():
    s = {"$schema": DRAFT, "$id": BASE_ID + "tree-head.schema.json",
         "title": "TDS tree head file, version 1",
         "description": "A signed tree head of the TDS evidence log, as "
                        "an auditor keeps it (tds log head; "
                        "libtds/bundle.h, docs/evidence.md). The schema "
                        "checks forms; only tds verify checks the "
                        "signature and the token."}
    s.update(head_object(True))
    s["$defs"] = head_defs()
    return s


def bundle_schema(evidence):
    ev = {k: v for k, v in evidence.items()
          if k not in ("$schema", "$id", "title", "$defs")}
    defs = copy.deepcopy(evidence["$defs"])
    for name, d in head_defs().items():
        if name in defs and defs[name].get("pattern") != d.get("pattern"):
            raise SystemExit("definition %s differs between the evidence "
                             "schema and the head's" % name)
        defs.setdefault(name, d)
    defs["hashes"] = copy.deepcopy(KINDS["hashes"])
    defs["evidence"] = ev
    defs["tree_head"] = head_object(False)
    return {
        "$schema": DRAFT, "$id": BASE_ID + "bundle.schema.json",
        "title": "TDS evidence bundle, version 1",
        "description": "Everything a judge needs to check an upload or an "
                       "exchange and its place in the TTP's evidence log, "
                       "offline (tds bundle, tds verify; libtds/bundle.h, "
                       "docs/evidence.md). The leaf is not stored: it is "
                       "rebuilt from the evidence. The schema checks "
                       "forms; only tds verify checks signatures, proof "
                       "and token.",
        "type": "object", "additionalProperties": False,
        "required": ["tds_bundle", "evidence", "leaf_index",
                     "inclusion_proof", "tree_head"],
        "properties": {
            "tds_bundle": {"description": "format version",
                           "type": "integer", "const": 1},
            "evidence": {"$ref": "#/$defs/evidence",
                         "description": "the evidence file's object "
                                        "(schemas/evidence.schema.json)"},
            "leaf_index": {"$ref": "#/$defs/count",
                           "description": "the index of the evidence's "
                                          "leaf in the log"},
            "inclusion_proof": {"$ref": "#/$defs/hashes",
                                "description": "RFC 9162 inclusion proof "
                                               "of the leaf in the tree "
                                               "of tree_head"},
            "tree_head": {"$ref": "#/$defs/tree_head",
                          "description": "the signed head (a tree head "
                                         "object without tds_tree_head)"},
        },
        "$defs": defs,
    }


def main(argv):
    check = len(argv) == 3 and argv[1] == "--check"
    if not (check or len(argv) == 2):
        print(__doc__.strip().split("\n\n")[2], file=sys.stderr)
        return 2
    outdir = argv[-1]
    with open(os.path.join(outdir, "evidence.schema.json"),
              encoding="utf-8") as f:
        evidence = json.load(f)
    out = {"tree-head.schema.json": tree_head_schema(),
           "bundle.schema.json": bundle_schema(evidence)}
    bad = 0
    for name, schema in out.items():
        path = os.path.join(outdir, name)
        text = render(schema)
        if check:
            try:
                with open(path, encoding="utf-8") as f:
                    same = f.read() == text
            except OSError:
                same = False
            if not same:
                print("out of date: " + path + " (run tests/tools/"
                      "gen_bundle_schemas.py " + outdir + ")")
                bad = 1
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if check and not bad:
        print("%d schemas up to date" % len(out))
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))

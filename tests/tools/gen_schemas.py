#!/usr/bin/python3
"""gen_schemas.py: write schemas/*.schema.json, the JSON Schemas (draft
2020-12) of the TDS wire protocol, version 1.

The schemas are generated so that the 17 message types share one
definition per kind of field, exactly as libtds/proto.c does with its
tables; edit the tables here, run this script, commit both.  Each output
file stands alone (its own $defs) so that a client team can use any one
of them without the others.

    gen_schemas.py SCHEMAS_DIR            write the files
    gen_schemas.py --check SCHEMAS_DIR    exit 1 if any file differs

The codec (libtds/proto.c) stays the authority; where a schema cannot
say as much (lengths in bytes, calendar dates, a decimal integer written
as 4.0), tests/tools/schema-allowlist.txt lists the cases and why.
"""

import json
import os
import sys

BASE_ID = "https://tds.example/schemas/"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

CODES = [
    "bad_json", "bad_schema", "bad_signature", "unknown_user",
    "unknown_file", "nonce_invalid", "nonce_expired", "hash_mismatch",
    "bad_path", "not_owner", "file_aborted", "file_exists", "key_conflict",
    "too_large", "internal", "unknown_leaf", "bad_range",
]

# Canonical padded base64 (RFC 4648 section 4): the unused bits of the last
# character are zero, as libtds/base64.c insists.
B64 = ("^(?:[A-Za-z0-9+/]{4})*"
       "(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)?$")
NO_CONTROL = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"

# One definition per kind of field (libtds/proto.c, enum proto_kind).
KINDS = {
    "msg_id": {
        "description": "32 lowercase hex digits (16 random bytes)",
        "type": "string", "pattern": "^[0-9a-f]{32}$"},
    "user": {
        "description": "1 to 64 of [a-z0-9._-], not \".\" or \"..\"",
        "type": "string", "pattern": "^[a-z0-9._-]{1,64}$",
        "not": {"enum": [".", ".."]}},
    "file_id": {
        "description": "1 to 64 of [A-Za-z0-9._-], not \".\" or \"..\"",
        "type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$",
        "not": {"enum": [".", ".."]}},
    "name": {
        "description": "1 to 1024 bytes of UTF-8 without control characters "
                       "(C0, DEL, C1); the limit is in bytes, maxLength "
                       "counts characters",
        "type": "string", "minLength": 1, "maxLength": 1024,
        "pattern": NO_CONTROL},
    "text": {
        "description": "0 to 1024 bytes of UTF-8 without control characters",
        "type": "string", "maxLength": 1024, "pattern": NO_CONTROL},
    "size": {
        "description": "bytes, an integer written without fraction or "
                       "exponent, 0 to 2^40",
        "type": "integer", "minimum": 0, "maximum": 1099511627776},
    "nonce": {
        "description": "base64 of exactly 32 bytes",
        "type": "string",
        "pattern": "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"},
    "sha256": {
        "description": "SHA-256, 64 lowercase hex digits",
        "type": "string", "pattern": "^[0-9a-f]{64}$"},
    "key_id": {
        "description": "SHA-256 of the SubjectPublicKeyInfo DER, 64 "
                       "lowercase hex digits",
        "type": "string", "pattern": "^[0-9a-f]{64}$"},
    "sig": {
        "description": "base64 of a DER ECDSA P-256 signature, 8 to 72 bytes",
        "type": "string", "minLength": 12, "maxLength": 96, "pattern": B64},
    "public_key": {
        "description": "base64 of a SubjectPublicKeyInfo DER, 1 to 200 bytes",
        "type": "string", "minLength": 4, "maxLength": 268, "pattern": B64},
    "commit_path": {
        "description": "the path A claims to have written, 1 to 255 bytes "
                       "without control characters; whether it is the "
                       "issued one is the TTP's verdict (bad_path), not "
                       "the schema's",
        "type": "string", "minLength": 1, "maxLength": 255,
        "pattern": NO_CONTROL},
    "store_path": {
        "description": "a path relative to the store root: 1 to 255 of "
                       "[A-Za-z0-9._/-], no leading '/', no empty, \".\" "
                       "or \"..\" component",
        "type": "string", "minLength": 1, "maxLength": 255,
        "pattern": "^(?!\\.\\.?(?:/|$))(?!.*/\\.\\.?(?:/|$))"
                   "[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$"},
    "time": {
        "description": "RFC 3339 UTC, exactly YYYY-MM-DDTHH:MM:SSZ (a real "
                       "calendar date; no fraction, no offset)",
        "type": "string",
        "pattern": "^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
                   "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"},
    "bool": {"type": "boolean"},
    "abort": {
        "description": "1: upload was ongoing, dropped; 2: completed, never "
                       "downloaded, deleted; 3: downloaded, flagged aborted "
                       "and kept",
        "type": "integer", "minimum": 1, "maximum": 3},
    "code": {"description": "an error code of the contract",
             "enum": CODES},
    "count": {
        "description": "a tree size or leaf index, 0 to 2^53",
        "type": "integer", "minimum": 0, "maximum": 9007199254740992},
    "token": {
        "description": "base64 of a DER RFC 3161 TimeStampToken, at most "
                       "8192 bytes",
        "type": "string", "minLength": 4, "maxLength": 10924,
        "pattern": B64},
    "chain": {
        "description": "the TSA's certificate chain, base64 DER, the TSA's "
                       "certificate first and the trust anchor last",
        "type": "array", "minItems": 1, "maxItems": 4,
        "items": {"type": "string", "minLength": 4, "maxLength": 5464,
                  "pattern": B64}},
    "hashes": {
        "description": "a Merkle proof (RFC 9162): SHA-256 node hashes, "
                       "64 lowercase hex digits each",
        "type": "array", "maxItems": 128,
        "items": {"type": "string", "pattern": "^[0-9a-f]{64}$"}},
}

# Body fields and their kinds (libtds/proto.c, proto_fields).
FIELDS = {
    "file_id": "file_id", "name": "name", "size": "size", "nonce": "nonce",
    "key_id": "key_id", "incoming_path": "store_path",
    "expires_at": "time", "path": "commit_path", "sha256": "sha256",
    "nro": "sig", "verified": "bool", "reason": "code", "time": "time",
    "ttp_sig": "sig", "uploader": "user",
    "uploader_public_key": "public_key", "upload_nonce": "nonce",
    "nrr": "sig", "downloader": "user",
    "downloader_public_key": "public_key", "nro_sha256": "sha256",
    "object_path": "store_path", "abort": "abort", "files": "files",
    "in_reply_to": "msg_id", "code": "code", "message": "text",
    "public_key": "public_key", "tree_size": "count",
    "root_hash": "sha256", "timestamp_token": "token", "tsa_chain": "chain",
    "leaf_hash": "sha256", "leaf_index": "count", "proof": "hashes",
    "first": "count", "second": "count",
}

CATALOG_ENTRY = [("file_id", "file_id"), ("name", "name"),
                 ("uploader", "user"), ("sha256", "sha256"),
                 ("size", "size"), ("uploaded_at", "time")]

REQ_TOPIC = "client to TTP, topic tds.requests, key: the file_id"
REQ_TOPIC_USER = "client to TTP, topic tds.requests, key: the user"
REPLY_TOPIC = "TTP to client, topic tds.replies, key: the recipient user"

# The exchange diagram: type, signed envelope, direction, what it is,
# body fields ("?" marks optional ones).
TYPES = [
    ("register", True, REQ_TOPIC_USER,
     "register a user's P-256 public key (the sig proves possession)",
     ["public_key"]),
    ("register.result", False, REPLY_TOPIC,
     "the user's key is registered", ["key_id"]),
    ("upload.request", True, REQ_TOPIC,
     "step 1: A asks to upload a file", ["file_id", "name", "size"]),
    ("upload.challenge", False, REPLY_TOPIC,
     "step 2: the nonce and where to place the file",
     ["file_id", "nonce", "key_id", "incoming_path", "expires_at"]),
    ("upload.commit", False, REQ_TOPIC,
     "step 3: A claims the file is in place and signs the NRO",
     ["file_id", "nonce", "path", "sha256", "size", "nro"]),
    ("upload.result", False, REPLY_TOPIC,
     "step 3 verdict: verified with ttp_sig, or not with a reason",
     ["file_id", "verified", "reason?", "sha256", "time", "ttp_sig?"]),
    ("download.request", True, REQ_TOPIC,
     "step 4: B asks for a file", ["file_id"]),
    ("download.challenge", False, REPLY_TOPIC,
     "step 5: the NRO and the nonce B must sign the NRR over",
     ["file_id", "nonce", "key_id", "uploader", "uploader_public_key",
      "sha256", "size", "nro", "upload_nonce", "expires_at"]),
    ("download.receipt", False, REQ_TOPIC,
     "step 6: B signs the NRR", ["file_id", "nonce", "nrr"]),
    ("receipt", False, REPLY_TOPIC,
     "step 7: A gets the NRR, countersigned",
     ["file_id", "downloader", "downloader_public_key", "sha256",
      "nro_sha256", "nonce", "nrr", "time", "ttp_sig"]),
    ("delivery", False, REPLY_TOPIC,
     "step 8: B gets the NRO and the object path, countersigned",
     ["file_id", "nonce", "uploader", "sha256", "size", "nro",
      "upload_nonce", "object_path", "time", "ttp_sig"]),
    ("abort", True, REQ_TOPIC, "A withdraws a file", ["file_id"]),
    ("abort.result", False, REPLY_TOPIC,
     "the abort's outcome, countersigned",
     ["file_id", "abort", "time", "ttp_sig"]),
    ("download.cancelled", False, REPLY_TOPIC,
     "a pending download of an aborted file is cancelled",
     ["file_id", "reason"]),
    ("catalog.request", True, REQ_TOPIC_USER,
     "ask for the list of files", []),
    ("catalog", False, REPLY_TOPIC,
     "at most 1000 files, newest first, aborted ones left out", ["files"]),
    ("error", False, REPLY_TOPIC,
     "a rejected message: in_reply_to is its msg_id", [
         "in_reply_to", "code", "message"]),
    ("log.head.request", True, REQ_TOPIC_USER,
     "ask for the latest signed tree head of the evidence log", []),
    ("log.head", False, REPLY_TOPIC,
     "a signed tree head: the TTP's signature over the tree_head TBS and "
     "an RFC 3161 token over its SHA-256",
     ["tree_size", "root_hash", "time", "ttp_sig", "timestamp_token",
      "tsa_chain"]),
    ("log.proof.request", True, REQ_TOPIC_USER,
     "ask for the inclusion proof of a leaf of the evidence log",
     ["leaf_hash"]),
    ("log.proof", False, REPLY_TOPIC,
     "the leaf's index, its inclusion proof and the signed head it leads to",
     ["leaf_hash", "leaf_index", "proof", "tree_size", "root_hash", "time",
      "ttp_sig", "timestamp_token", "tsa_chain"]),
    ("log.consistency.request", True, REQ_TOPIC_USER,
     "ask for the consistency proof between two tree sizes",
     ["first", "second"]),
    ("log.consistency", False, REPLY_TOPIC,
     "the consistency proof (RFC 9162) between two tree sizes",
     ["first", "second", "proof"]),
]

SIGNED = [t for t, signed, _, _, _ in TYPES if signed]


def files_def():
    return {
        "description": "at most 1000 entries, each exactly these fields",
        "type": "array", "maxItems": 1000,
        "items": {
            "type": "object", "additionalProperties": False,
            "required": [k for k, _ in CATALOG_ENTRY],
            "properties": {k: ref(kind) for k, kind in CATALOG_ENTRY},
        },
    }


def ref(kind):
    return {"$ref": "#/$defs/" + kind}


def defs_for(kinds):
    out = {}
    for k in sorted(kinds):
        if k == "files":
            out[k] = files_def()
            for _, kind in CATALOG_ENTRY:
                out[kind] = KINDS[kind]
        else:
            out[k] = KINDS[k]
    return dict(sorted(out.items()))


def type_schema(name, signed, direction, what, fields):
    required = [f for f in fields if not f.endswith("?")]
    names = [f.rstrip("?") for f in fields]
    kinds = {"msg_id", "user"} | {FIELDS[f] for f in names}
    if signed:
        kinds.add("sig")
    body = {
        "type": "object", "additionalProperties": False,
        "required": required,
        "properties": {f: ref(FIELDS[f]) for f in names},
    }
    if name == "upload.result":
        # Decision 6: verified carries ttp_sig, not verified the reason.
        body["if"] = {"properties": {"verified": {"const": True}}}
        body["then"] = {"required": ["ttp_sig"],
                        "not": {"required": ["reason"]}}
        body["else"] = {
            "required": ["reason"], "not": {"required": ["ttp_sig"]},
            "properties": {"reason": {"enum": ["bad_path",
                                               "hash_mismatch"]}}}
    if name == "download.cancelled":
        # Decision 10.
        body["properties"]["reason"] = {"const": "file_aborted"}
    props = {
        "v": {"const": 1},
        "type": {"const": name},
        "msg_id": ref("msg_id"),
        "user": dict(ref("user"), description=(
            "the sender" if direction.startswith("client")
            else "the recipient")),
        "body": body,
    }
    req = ["v", "type", "msg_id", "user", "body"]
    if signed:
        props["sig"] = dict(ref("sig"), description=(
            "over the request TBS: tds/1 request, type, msg_id, user, "
            "file_id, public_key_sha256"))
        req.append("sig")
    return {
        "$schema": DRAFT,
        "$id": BASE_ID + name + ".schema.json",
        "title": "TDS " + name + ", protocol version 1",
        "description": what[0].upper() + what[1:] + " (" + direction + "). " + (
            "The envelope carries sig." if signed
            else "The envelope carries no sig."),
        "type": "object", "additionalProperties": False,
        "required": req,
        "properties": props,
        "$defs": defs_for(kinds),
    }


def envelope_schema():
    return {
        "$schema": DRAFT,
        "$id": BASE_ID + "envelope.schema.json",
        "title": "TDS message envelope, protocol version 1",
        "description": "Every Kafka message value on tds.requests and "
                       "tds.replies is one such object. The body of each "
                       "type has its own schema, <type>.schema.json.",
        "type": "object", "additionalProperties": False,
        "required": ["v", "type", "msg_id", "user", "body"],
        "properties": {
            "v": {"const": 1},
            "type": {"enum": [t[0] for t in TYPES]},
            "msg_id": ref("msg_id"),
            "user": ref("user"),
            "body": {"type": "object"},
            "sig": dict(ref("sig"), description=(
                "base64 of a DER ECDSA P-256 signature over the request "
                "TBS; present exactly on the signed requests")),
        },
        "if": {"properties": {"type": {"enum": SIGNED}}},
        "then": {"required": ["sig"]},
        "else": {"not": {"required": ["sig"]}},
        "$defs": defs_for({"msg_id", "user", "sig"}),
    }


def dead_letter_schema():
    return {
        "$schema": DRAFT,
        "$id": BASE_ID + "dead-letter.schema.json",
        "title": "TDS dead-letter record, protocol version 1",
        "description": "What the TTP writes to tds.dead-letter for an "
                       "input it cannot answer: not JSON, or no valid user "
                       "and msg_id to send an error to (decision 5).",
        "type": "object", "additionalProperties": False,
        "required": ["v", "reason", "message", "topic", "partition",
                     "offset", "key_b64", "value_b64"],
        "properties": {
            "v": {"const": 1},
            "reason": {"description": "why the input was refused",
                       "enum": ["bad_json", "bad_schema", "too_large"]},
            "message": ref("text"),
            "topic": {"description": "where the input was read",
                      "type": "string",
                      "pattern": "^[A-Za-z0-9._-]{1,249}$"},
            "partition": {"type": "integer", "minimum": 0,
                          "maximum": 2147483647},
            "offset": {"type": "integer", "minimum": 0},
            "key_b64": {
                "description": "the first 64 KiB of the Kafka key, base64, "
                               "null if none (decision 27)",
                "oneOf": [{"type": "null"},
                          {"type": "string", "maxLength": 87384,
                           "pattern": B64}]},
            "value_b64": {
                "description": "the first 64 KiB of the Kafka value, base64",
                "type": "string", "maxLength": 87384, "pattern": B64},
        },
        "$defs": defs_for({"text"}),
    }


def all_schemas():
    out = {"envelope.schema.json": envelope_schema(),
           "dead-letter.schema.json": dead_letter_schema()}
    for t in TYPES:
        out[t[0] + ".schema.json"] = type_schema(*t)
    return out


def _render(value, indent):
    """JSON with 2-space indentation; a container that fits on its line
    (79 columns) stays on one line, so the files read like hand-written
    ones."""
    flat = json.dumps(value, ensure_ascii=True, separators=(", ", ": "))
    if not isinstance(value, (dict, list)) or indent + len(flat) <= 79:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + _render(v, indent + 2) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = []
    for k, v in value.items():
        key = json.dumps(k, ensure_ascii=True) + ": "
        items.append(pad + key + _render(v, indent + 2 + len(key)
                                         if not isinstance(v, (dict, list))
                                         else indent + 2))
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def render(schema):
    return _render(schema, 0) + "\n"


def main(argv):
    check = len(argv) == 3 and argv[1] == "--check"
    if not (check or len(argv) == 2):
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    outdir = argv[-1]
    bad = 0
    for name, schema in all_schemas().items():
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
                      "gen_schemas.py " + outdir + ")")
                bad = 1
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    if check and not bad:
        print("%d schemas up to date" % len(all_schemas()))
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))

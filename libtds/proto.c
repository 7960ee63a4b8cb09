/*
 * proto: the wire format as data.  Two tables carry the whole schema:
 * proto_fields gives every body field its name and kind, proto_types
 * gives every message type its name, its direction, whether the envelope
 * is signed, and its body fields in the contract's order.  One validator
 * per kind does the rest, so a rule (say "a nonce is 32 bytes") is
 * written once and holds in every message that carries the field.
 *
 * Errors are written for the sender: they name the field ("body.nonce:
 * ...") and never echo raw input, because the text may travel back in an
 * `error` message whose `message` must be printable UTF-8 of at most
 * PROTO_REASON_MAX bytes.  Anything quoted from the input goes through
 * proto_quote() first.
 */
#include "proto.h"

#include "base64.h"
#include "crypto.h"
#include "errbuf.h"
#include "hex.h"
#include "ids.h"
#include "tbs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/*
 * An oversized message is still parsed, so that its sender can be told
 * (too_large to `user`, decision 5), but only up to this size: beyond it
 * the parse itself would be the attack.
 */
#define PROTO_PARSE_MAX (16 * 1024 * 1024)

/* The most body fields of one type (download.challenge, delivery). */
#define PROTO_TYPE_FIELDS_MAX 10

/* Bytes of input quoted in an error message, and room for it. */
#define PROTO_QUOTE_MAX 40
#define PROTO_QUOTE_LEN (PROTO_QUOTE_MAX + 4)

/* Room for a field's path in messages: "body.files[999].uploaded_at". */
#define PROTO_WHERE_LEN 48

/*
 * The kinds of values.  Paths come in two strengths on purpose:
 * `upload.commit.path` is a claim by the uploader that the engine must
 * judge (a wrong one is the verdict bad_path, decision 6, not a schema
 * error), while the paths the TTP hands out (incoming_path, object_path)
 * are held to the strict store form, so a client never follows a path
 * that could leave the store.
 */
enum proto_kind {
        PK_FILE_ID,    /* ids_check_file_id */
        PK_USER,       /* ids_check_user */
        PK_MSG_ID,     /* 32 lowercase hex */
        PK_NAME,       /* 1..PROTO_NAME_MAX bytes, no control character */
        PK_TEXT,       /* 0..PROTO_REASON_MAX bytes, no control character */
        PK_SIZE,       /* integer 0..PROTO_SIZE_MAX */
        PK_NONCE,      /* base64 of exactly PROTO_NONCE_LEN bytes */
        PK_SHA256,     /* 64 lowercase hex, decoded */
        PK_KEY_ID,     /* 64 lowercase hex, decoded */
        PK_SIG,        /* base64 of 8..PROTO_SIG_MAX bytes (DER) */
        PK_PUBKEY,     /* base64 of 1..PROTO_PUBKEY_MAX bytes (SPKI DER) */
        PK_PATH,       /* 1..PROTO_PATH_MAX bytes, no control character */
        PK_STORE_PATH, /* a relative path confined to the store */
        PK_TIME,       /* "YYYY-MM-DDTHH:MM:SSZ" */
        PK_BOOL,       /* true or false */
        PK_ABORT,      /* abort outcome, integer 1..3 */
        PK_CODE,       /* an error code name of the contract */
        PK_FILES,      /* the catalog: an array of entries */
        PK_COUNT,      /* integer 0..PROTO_COUNT_MAX (tree sizes, indexes) */
        PK_TOKEN,      /* base64 of 1..PROTO_TOKEN_MAX bytes, not kept */
        PK_CHAIN,      /* array of 1..PROTO_CHAIN_MAX base64 certificates */
        PK_HASHES,     /* array of 0..PROTO_PROOF_MAX 64-hex digests */
        PK_CERT        /* base64 of 1..PROTO_CERT_MAX bytes (an element) */
};

/* Smallest DER ECDSA signature: SEQUENCE { INTEGER 1 byte, INTEGER ... }. */
#define PROTO_SIG_MIN 8

static const struct {
        const char *name;
        enum proto_kind kind;
} proto_fields[PF_COUNT] = {
    [PF_FILE_ID] = {"file_id", PK_FILE_ID},
    [PF_NAME] = {"name", PK_NAME},
    [PF_SIZE] = {"size", PK_SIZE},
    [PF_NONCE] = {"nonce", PK_NONCE},
    [PF_KEY_ID] = {"key_id", PK_KEY_ID},
    [PF_INCOMING_PATH] = {"incoming_path", PK_STORE_PATH},
    [PF_EXPIRES_AT] = {"expires_at", PK_TIME},
    [PF_PATH] = {"path", PK_PATH},
    [PF_SHA256] = {"sha256", PK_SHA256},
    [PF_NRO] = {"nro", PK_SIG},
    [PF_VERIFIED] = {"verified", PK_BOOL},
    [PF_REASON] = {"reason", PK_CODE},
    [PF_TIME] = {"time", PK_TIME},
    [PF_TTP_SIG] = {"ttp_sig", PK_SIG},
    [PF_UPLOADER] = {"uploader", PK_USER},
    [PF_UPLOADER_PUBLIC_KEY] = {"uploader_public_key", PK_PUBKEY},
    [PF_UPLOAD_NONCE] = {"upload_nonce", PK_NONCE},
    [PF_NRR] = {"nrr", PK_SIG},
    [PF_DOWNLOADER] = {"downloader", PK_USER},
    [PF_DOWNLOADER_PUBLIC_KEY] = {"downloader_public_key", PK_PUBKEY},
    [PF_NRO_SHA256] = {"nro_sha256", PK_SHA256},
    [PF_OBJECT_PATH] = {"object_path", PK_STORE_PATH},
    [PF_ABORT] = {"abort", PK_ABORT},
    [PF_FILES] = {"files", PK_FILES},
    [PF_IN_REPLY_TO] = {"in_reply_to", PK_MSG_ID},
    [PF_CODE] = {"code", PK_CODE},
    [PF_MESSAGE] = {"message", PK_TEXT},
    [PF_PUBLIC_KEY] = {"public_key", PK_PUBKEY},
    [PF_TREE_SIZE] = {"tree_size", PK_COUNT},
    [PF_ROOT_HASH] = {"root_hash", PK_SHA256},
    [PF_TIMESTAMP_TOKEN] = {"timestamp_token", PK_TOKEN},
    [PF_TSA_CHAIN] = {"tsa_chain", PK_CHAIN},
    [PF_LEAF_HASH] = {"leaf_hash", PK_SHA256},
    [PF_LEAF_INDEX] = {"leaf_index", PK_COUNT},
    [PF_PROOF] = {"proof", PK_HASHES},
    [PF_FIRST] = {"first", PK_COUNT},
    [PF_SECOND] = {"second", PK_COUNT},
};

/* A body field of a type; `used` ends the list (PF_FILE_ID is 0). */
struct proto_slot {
        unsigned char used;
        unsigned char optional;
        enum proto_field field;
};

#define REQ(f)                                                                 \
        {                                                                      \
                1, 0, (f)                                                      \
        }
#define OPT(f)                                                                 \
        {                                                                      \
                1, 1, (f)                                                      \
        }

/* The exchange diagram of the contract, one row per message type. */
static const struct {
        const char *name;
        int request; /* client to TTP */
        int sig;     /* the envelope carries `sig` */
        struct proto_slot body[PROTO_TYPE_FIELDS_MAX];
} proto_types[PROTO_TYPE_COUNT] = {
    [PROTO_REGISTER] = {"register", 1, 1, {REQ(PF_PUBLIC_KEY)}},
    [PROTO_REGISTER_RESULT] = {"register.result", 0, 0, {REQ(PF_KEY_ID)}},
    [PROTO_UPLOAD_REQUEST] = {"upload.request",
                              1,
                              1,
                              {REQ(PF_FILE_ID), REQ(PF_NAME), REQ(PF_SIZE)}},
    [PROTO_UPLOAD_CHALLENGE] = {"upload.challenge",
                                0,
                                0,
                                {REQ(PF_FILE_ID), REQ(PF_NONCE), REQ(PF_KEY_ID),
                                 REQ(PF_INCOMING_PATH), REQ(PF_EXPIRES_AT)}},
    [PROTO_UPLOAD_COMMIT] = {"upload.commit",
                             1,
                             0,
                             {REQ(PF_FILE_ID), REQ(PF_NONCE), REQ(PF_PATH),
                              REQ(PF_SHA256), REQ(PF_SIZE), REQ(PF_NRO)}},
    [PROTO_UPLOAD_RESULT] = {"upload.result",
                             0,
                             0,
                             {REQ(PF_FILE_ID), REQ(PF_VERIFIED), OPT(PF_REASON),
                              REQ(PF_SHA256), REQ(PF_TIME), OPT(PF_TTP_SIG)}},
    [PROTO_DOWNLOAD_REQUEST] = {"download.request", 1, 1, {REQ(PF_FILE_ID)}},
    [PROTO_DOWNLOAD_CHALLENGE] = {"download.challenge",
                                  0,
                                  0,
                                  {REQ(PF_FILE_ID), REQ(PF_NONCE),
                                   REQ(PF_KEY_ID), REQ(PF_UPLOADER),
                                   REQ(PF_UPLOADER_PUBLIC_KEY), REQ(PF_SHA256),
                                   REQ(PF_SIZE), REQ(PF_NRO),
                                   REQ(PF_UPLOAD_NONCE), REQ(PF_EXPIRES_AT)}},
    [PROTO_DOWNLOAD_RECEIPT] = {"download.receipt",
                                1,
                                0,
                                {REQ(PF_FILE_ID), REQ(PF_NONCE), REQ(PF_NRR)}},
    [PROTO_RECEIPT] = {"receipt",
                       0,
                       0,
                       {REQ(PF_FILE_ID), REQ(PF_DOWNLOADER),
                        REQ(PF_DOWNLOADER_PUBLIC_KEY), REQ(PF_SHA256),
                        REQ(PF_NRO_SHA256), REQ(PF_NONCE), REQ(PF_NRR),
                        REQ(PF_TIME), REQ(PF_TTP_SIG)}},
    [PROTO_DELIVERY] = {"delivery",
                        0,
                        0,
                        {REQ(PF_FILE_ID), REQ(PF_NONCE), REQ(PF_UPLOADER),
                         REQ(PF_SHA256), REQ(PF_SIZE), REQ(PF_NRO),
                         REQ(PF_UPLOAD_NONCE), REQ(PF_OBJECT_PATH),
                         REQ(PF_TIME), REQ(PF_TTP_SIG)}},
    [PROTO_ABORT] = {"abort", 1, 1, {REQ(PF_FILE_ID)}},
    [PROTO_ABORT_RESULT] = {"abort.result",
                            0,
                            0,
                            {REQ(PF_FILE_ID), REQ(PF_ABORT), REQ(PF_TIME),
                             REQ(PF_TTP_SIG)}},
    [PROTO_DOWNLOAD_CANCELLED] = {"download.cancelled",
                                  0,
                                  0,
                                  {REQ(PF_FILE_ID), REQ(PF_REASON)}},
    [PROTO_CATALOG_REQUEST] = {"catalog.request", 1, 1, {{0, 0, 0}}},
    [PROTO_CATALOG] = {"catalog", 0, 0, {REQ(PF_FILES)}},
    [PROTO_ERROR] = {"error",
                     0,
                     0,
                     {REQ(PF_IN_REPLY_TO), REQ(PF_CODE), REQ(PF_MESSAGE)}},
    [PROTO_LOG_HEAD_REQUEST] = {"log.head.request", 1, 1, {{0, 0, 0}}},
    [PROTO_LOG_HEAD] = {"log.head",
                        0,
                        0,
                        {REQ(PF_TREE_SIZE), REQ(PF_ROOT_HASH), REQ(PF_TIME),
                         REQ(PF_TTP_SIG), REQ(PF_TIMESTAMP_TOKEN),
                         REQ(PF_TSA_CHAIN)}},
    [PROTO_LOG_PROOF_REQUEST] = {"log.proof.request",
                                 1,
                                 1,
                                 {REQ(PF_LEAF_HASH)}},
    [PROTO_LOG_PROOF] = {"log.proof",
                         0,
                         0,
                         {REQ(PF_LEAF_HASH), REQ(PF_LEAF_INDEX), REQ(PF_PROOF),
                          REQ(PF_TREE_SIZE), REQ(PF_ROOT_HASH), REQ(PF_TIME),
                          REQ(PF_TTP_SIG), REQ(PF_TIMESTAMP_TOKEN),
                          REQ(PF_TSA_CHAIN)}},
    [PROTO_LOG_CONSISTENCY_REQUEST] = {"log.consistency.request",
                                       1,
                                       1,
                                       {REQ(PF_FIRST), REQ(PF_SECOND)}},
    [PROTO_LOG_CONSISTENCY] = {"log.consistency",
                               0,
                               0,
                               {REQ(PF_FIRST), REQ(PF_SECOND), REQ(PF_PROOF)}},
};

/* The one entry shape of `catalog.files`, in the contract's order. */
static const struct {
        const char *name;
        enum proto_kind kind;
} proto_catalog_entry[] = {
    {"file_id", PK_FILE_ID}, {"name", PK_NAME}, {"uploader", PK_USER},
    {"sha256", PK_SHA256},   {"size", PK_SIZE}, {"uploaded_at", PK_TIME},
};

#define PROTO_CATALOG_KEYS                                                     \
        (sizeof(proto_catalog_entry) / sizeof(proto_catalog_entry[0]))

static const char *const proto_codes[PROTO_CODE_COUNT] = {
    [PROTO_OK] = "ok",
    [PROTO_BAD_JSON] = "bad_json",
    [PROTO_BAD_SCHEMA] = "bad_schema",
    [PROTO_BAD_SIGNATURE] = "bad_signature",
    [PROTO_UNKNOWN_USER] = "unknown_user",
    [PROTO_UNKNOWN_FILE] = "unknown_file",
    [PROTO_NONCE_INVALID] = "nonce_invalid",
    [PROTO_NONCE_EXPIRED] = "nonce_expired",
    [PROTO_HASH_MISMATCH] = "hash_mismatch",
    [PROTO_BAD_PATH] = "bad_path",
    [PROTO_NOT_OWNER] = "not_owner",
    [PROTO_FILE_ABORTED] = "file_aborted",
    [PROTO_FILE_EXISTS] = "file_exists",
    [PROTO_KEY_CONFLICT] = "key_conflict",
    [PROTO_TOO_LARGE] = "too_large",
    [PROTO_INTERNAL] = "internal",
    [PROTO_UNKNOWN_LEAF] = "unknown_leaf",
    [PROTO_BAD_RANGE] = "bad_range",
};

/* The envelope's keys, in the order proto_envelope_dump() writes them. */
static const char *const proto_envelope_keys[] = {"v",    "type", "msg_id",
                                                  "user", "body", "sig"};

/*
 * A printable excerpt of untrusted text for an error message: at most
 * PROTO_QUOTE_MAX bytes, every byte outside printable ASCII (and the
 * quote and backslash) replaced by '?', "..." when cut.  Keeps error
 * messages ASCII, so truncating them never splits a UTF-8 sequence.
 */
static const char *proto_quote(const char *s, char *buf, size_t bufsize)
{
        size_t i, n = 0;

        for (i = 0; s[i] != '\0' && n + 4 < bufsize && i < PROTO_QUOTE_MAX;
             i++) {
                unsigned char c = (unsigned char)s[i];

                buf[n++] = c >= 0x20 && c < 0x7f && c != '"' && c != '\\'
                               ? (char)c
                               : '?';
        }
        if (s[i] != '\0') {
                memcpy(buf + n, "...", 3);
                n += 3;
        }
        buf[n] = '\0';
        return buf;
}

const char *proto_type_name(enum proto_type type)
{
        if ((unsigned)type >= PROTO_TYPE_COUNT)
                return NULL;
        return proto_types[type].name;
}

int proto_type_from_name(const char *name, enum proto_type *type)
{
        int i;

        if (name == NULL)
                return -1;
        for (i = 0; i < PROTO_TYPE_COUNT; i++) {
                if (strcmp(name, proto_types[i].name) == 0) {
                        *type = (enum proto_type)i;
                        return 0;
                }
        }
        return -1;
}

int proto_type_is_request(enum proto_type type)
{
        return (unsigned)type < PROTO_TYPE_COUNT && proto_types[type].request;
}

int proto_type_is_signed(enum proto_type type)
{
        return (unsigned)type < PROTO_TYPE_COUNT && proto_types[type].sig;
}

const char *proto_code_name(enum proto_code code)
{
        if ((unsigned)code >= PROTO_CODE_COUNT)
                return NULL;
        return proto_codes[code];
}

const char *proto_field_name(enum proto_field field)
{
        if ((unsigned)field >= PF_COUNT)
                return NULL;
        return proto_fields[field].name;
}

/* The code named `s`; PROTO_OK ("ok") is no code of the contract. */
static int proto_code_from_name(const char *s, enum proto_code *code)
{
        int i;

        for (i = PROTO_OK + 1; i < PROTO_CODE_COUNT; i++) {
                if (strcmp(s, proto_codes[i]) == 0) {
                        *code = (enum proto_code)i;
                        return 0;
                }
        }
        return -1;
}

/*
 * 1 if the `len` bytes of UTF-8 at `s` (valid: jansson checked) hold a
 * control character: C0 (U+0000-U+001F), DEL (U+007F) or C1
 * (U+0080-U+009F, encoded C2 80 to C2 9F).  Such characters let a name
 * rewrite a terminal or a log line, and none belongs in a name or path.
 */
static int proto_has_control(const char *s, size_t len)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t i;

        for (i = 0; i < len; i++) {
                if (p[i] < 0x20 || p[i] == 0x7f)
                        return 1;
                if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80 &&
                    p[i + 1] <= 0x9f)
                        return 1;
        }
        return 0;
}

/*
 * A store path the TTP hands out: 1..PROTO_PATH_MAX bytes of
 * [A-Za-z0-9._/-], relative, every component non-empty and neither "."
 * nor "..".  Returns the reason or NULL.
 */
static const char *proto_store_path_check(const char *s, size_t len)
{
        size_t i, start = 0;

        if (len == 0 || len > PROTO_PATH_MAX)
                return "not 1 to 255 bytes";
        for (i = 0; i < len; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-' || c == '/'))
                        return "a character outside [A-Za-z0-9._/-]";
        }
        for (i = 0; i <= len; i++) {
                size_t n;

                if (i < len && s[i] != '/')
                        continue;
                n = i - start;
                if (n == 0)
                        return start == 0 ? "absolute or empty component"
                                          : "an empty component";
                if ((n == 1 && s[start] == '.') ||
                    (n == 2 && s[start] == '.' && s[start + 1] == '.'))
                        return "a \".\" or \"..\" component";
                start = i + 1;
        }
        return NULL;
}

/*
 * Decode base64 `s` (`len` characters) of min..max bytes into out->bin.
 * The length is checked before decoding so that no input makes us
 * allocate more than a field can hold.
 */
static int proto_base64(const char *where, const char *s, size_t len,
                        size_t min, size_t max, struct proto_value *out,
                        char *err, size_t errlen)
{
        unsigned char *bin = NULL;
        size_t binlen = 0;
        char why[128];
        int ret = -1;

        if (len > (max + 2) / 3 * 4) {
                if (min == max)
                        errbuf_set(err, errlen, "%s: not %zu bytes of base64",
                                   where, min);
                else
                        errbuf_set(err, errlen,
                                   "%s: more than %zu bytes of base64", where,
                                   max);
                goto done;
        }
        if (base64_decode(s, len, &bin, &binlen, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "%s: %s", where, why);
                goto done;
        }
        if (binlen < min || binlen > max) {
                if (min == max)
                        errbuf_set(err, errlen,
                                   "%s: not %zu bytes of base64 (%zu)", where,
                                   min, binlen);
                else
                        errbuf_set(err, errlen,
                                   "%s: %zu bytes of base64, not %zu to %zu",
                                   where, binlen, min, max);
                goto done;
        }
        /* Values larger than `bin` (tokens) are validated, not kept:
         * their readers decode `str` themselves. */
        if (binlen <= sizeof(out->bin)) {
                memcpy(out->bin, bin, binlen);
                out->bin_len = binlen;
        }
        ret = 0;
done:
        /* Nonces are single-use secrets until consumed. */
        if (bin != NULL)
                OPENSSL_cleanse(bin, binlen);
        free(bin);
        return ret;
}

static int proto_value_decode(const char *where, enum proto_kind kind,
                              json_t *v, struct proto_value *out, char *err,
                              size_t errlen);

/*
 * `catalog.files`: at most PROTO_CATALOG_MAX entries, each an object of
 * exactly the keys of proto_catalog_entry, each valid.  The array itself
 * is handed to the caller in out->json.
 */
static int proto_files_decode(const char *where, json_t *v, char *err,
                              size_t errlen)
{
        char sub[PROTO_WHERE_LEN + 32], q[PROTO_QUOTE_LEN];
        struct proto_value tmp;
        size_t i, k;
        const char *key;
        json_t *entry, *val;

        if (!json_is_array(v)) {
                errbuf_set(err, errlen, "%s: not an array", where);
                return -1;
        }
        if (json_array_size(v) > PROTO_CATALOG_MAX) {
                errbuf_set(err, errlen, "%s: more than %d entries", where,
                           PROTO_CATALOG_MAX);
                return -1;
        }
        json_array_foreach(v, i, entry)
        {
                if (!json_is_object(entry)) {
                        errbuf_set(err, errlen, "%s[%zu]: not an object", where,
                                   i);
                        return -1;
                }
                json_object_foreach(entry, key, val)
                {
                        for (k = 0; k < PROTO_CATALOG_KEYS; k++)
                                if (strcmp(key, proto_catalog_entry[k].name) ==
                                    0)
                                        break;
                        if (k == PROTO_CATALOG_KEYS) {
                                errbuf_set(err, errlen,
                                           "%s[%zu]: unknown field \"%s\"",
                                           where, i,
                                           proto_quote(key, q, sizeof(q)));
                                return -1;
                        }
                }
                for (k = 0; k < PROTO_CATALOG_KEYS; k++) {
                        snprintf(sub, sizeof(sub), "%s[%zu].%s", where, i,
                                 proto_catalog_entry[k].name);
                        val =
                            json_object_get(entry, proto_catalog_entry[k].name);
                        if (val == NULL) {
                                errbuf_set(err, errlen, "%s: missing", sub);
                                return -1;
                        }
                        memset(&tmp, 0, sizeof(tmp));
                        if (proto_value_decode(sub, proto_catalog_entry[k].kind,
                                               val, &tmp, err, errlen) == -1)
                                return -1;
                }
        }
        return 0;
}

/*
 * An array of `min`..`max` values of kind `elem`.  The array itself is
 * handed to the caller in out->json.
 */
static int proto_array_decode(const char *where, json_t *v, size_t min,
                              size_t max, enum proto_kind elem, char *err,
                              size_t errlen)
{
        char sub[PROTO_WHERE_LEN + 32];
        struct proto_value tmp;
        json_t *item;
        size_t i;

        if (!json_is_array(v)) {
                errbuf_set(err, errlen, "%s: not an array", where);
                return -1;
        }
        if (json_array_size(v) < min || json_array_size(v) > max) {
                errbuf_set(err, errlen, "%s: not %zu to %zu entries", where,
                           min, max);
                return -1;
        }
        json_array_foreach(v, i, item)
        {
                snprintf(sub, sizeof(sub), "%s[%zu]", where, i);
                memset(&tmp, 0, sizeof(tmp));
                if (proto_value_decode(sub, elem, item, &tmp, err, errlen) ==
                    -1)
                        return -1;
        }
        return 0;
}

/* A JSON integer in min..max (never a real, even 1.0). */
static int proto_integer(const char *where, json_t *v, uint64_t min,
                         uint64_t max, struct proto_value *out, char *err,
                         size_t errlen)
{
        json_int_t n;

        if (!json_is_integer(v)) {
                errbuf_set(err, errlen, "%s: not an integer", where);
                return -1;
        }
        n = json_integer_value(v);
        if (n < 0 || (uint64_t)n < min || (uint64_t)n > max) {
                errbuf_set(err, errlen, "%s: not in %llu to %llu", where,
                           (unsigned long long)min, (unsigned long long)max);
                return -1;
        }
        out->num = (uint64_t)n;
        return 0;
}

/*
 * Validate `v` as a value of `kind` and fill `out` (see struct
 * proto_value).  `where` names the field in messages.
 */
static int proto_value_decode(const char *where, enum proto_kind kind,
                              json_t *v, struct proto_value *out, char *err,
                              size_t errlen)
{
        char why[128];
        const char *s, *bad;
        size_t len, binlen;
        enum proto_code code;
        time_t t;

        out->present = 1;
        out->json = v;
        switch (kind) {
        case PK_SIZE:
                return proto_integer(where, v, 0, PROTO_SIZE_MAX, out, err,
                                     errlen);
        case PK_ABORT:
                return proto_integer(where, v, 1, 3, out, err, errlen);
        case PK_BOOL:
                if (!json_is_boolean(v)) {
                        errbuf_set(err, errlen, "%s: not true or false", where);
                        return -1;
                }
                out->boolean = json_is_true(v);
                return 0;
        case PK_FILES:
                return proto_files_decode(where, v, err, errlen);
        case PK_COUNT:
                return proto_integer(where, v, 0, PROTO_COUNT_MAX, out, err,
                                     errlen);
        case PK_CHAIN:
                return proto_array_decode(where, v, 1, PROTO_CHAIN_MAX, PK_CERT,
                                          err, errlen);
        case PK_HASHES:
                return proto_array_decode(where, v, 0, PROTO_PROOF_MAX,
                                          PK_SHA256, err, errlen);
        default:
                break;
        }

        /* Every other kind is a string. */
        if (!json_is_string(v)) {
                errbuf_set(err, errlen, "%s: not a string", where);
                return -1;
        }
        s = json_string_value(v);
        len = json_string_length(v);
        /* jansson refuses \u0000 without JSON_ALLOW_NUL; stay safe if a
         * caller ever loads with it: C string functions would stop early. */
        if (strlen(s) != len) {
                errbuf_set(err, errlen, "%s: contains NUL", where);
                return -1;
        }
        out->str = s;
        switch (kind) {
        case PK_FILE_ID:
                if (ids_check_file_id(s, why, sizeof(why)) == -1)
                        goto bad_why;
                return 0;
        case PK_USER:
                if (ids_check_user(s, why, sizeof(why)) == -1)
                        goto bad_why;
                return 0;
        case PK_MSG_ID:
                if (ids_check_msg_id(s, why, sizeof(why)) == -1)
                        goto bad_why;
                return 0;
        case PK_NAME:
                if (len == 0 || len > PROTO_NAME_MAX) {
                        errbuf_set(err, errlen, "%s: not 1 to %d bytes", where,
                                   PROTO_NAME_MAX);
                        return -1;
                }
                if (proto_has_control(s, len)) {
                        errbuf_set(err, errlen,
                                   "%s: contains a control character", where);
                        return -1;
                }
                return 0;
        case PK_TEXT:
                if (len > PROTO_REASON_MAX) {
                        errbuf_set(err, errlen, "%s: longer than %d bytes",
                                   where, PROTO_REASON_MAX);
                        return -1;
                }
                if (proto_has_control(s, len)) {
                        errbuf_set(err, errlen,
                                   "%s: contains a control character", where);
                        return -1;
                }
                return 0;
        case PK_PATH:
                if (len == 0 || len > PROTO_PATH_MAX) {
                        errbuf_set(err, errlen, "%s: not 1 to %d bytes", where,
                                   PROTO_PATH_MAX);
                        return -1;
                }
                if (proto_has_control(s, len)) {
                        errbuf_set(err, errlen,
                                   "%s: contains a control character", where);
                        return -1;
                }
                return 0;
        case PK_STORE_PATH:
                if ((bad = proto_store_path_check(s, len)) != NULL) {
                        errbuf_set(err, errlen, "%s: not a store path (%s)",
                                   where, bad);
                        return -1;
                }
                return 0;
        case PK_NONCE:
                return proto_base64(where, s, len, PROTO_NONCE_LEN,
                                    PROTO_NONCE_LEN, out, err, errlen);
        case PK_SIG:
                return proto_base64(where, s, len, PROTO_SIG_MIN, PROTO_SIG_MAX,
                                    out, err, errlen);
        case PK_PUBKEY:
                return proto_base64(where, s, len, 1, PROTO_PUBKEY_MAX, out,
                                    err, errlen);
        case PK_TOKEN:
                return proto_base64(where, s, len, 1, PROTO_TOKEN_MAX, out, err,
                                    errlen);
        case PK_CERT:
                return proto_base64(where, s, len, 1, PROTO_CERT_MAX, out, err,
                                    errlen);
        case PK_SHA256:
        case PK_KEY_ID:
                if (!hex_is_lower(s, CRYPTO_SHA256_HEX_LEN) ||
                    hex_decode(s, len, HEX_LOWER_ONLY, out->bin,
                               sizeof(out->bin), &binlen, NULL, 0) == -1) {
                        errbuf_set(err, errlen,
                                   "%s: not %d lowercase hex digits", where,
                                   CRYPTO_SHA256_HEX_LEN);
                        return -1;
                }
                out->bin_len = binlen;
                return 0;
        case PK_TIME:
                if (ids_time_parse(s, &t, why, sizeof(why)) == -1)
                        goto bad_why;
                /* num holds the time when it fits (from 1970 on). */
                out->num = t >= 0 ? (uint64_t)t : 0;
                return 0;
        case PK_CODE:
                if (proto_code_from_name(s, &code) == -1) {
                        errbuf_set(err, errlen, "%s: not an error code", where);
                        return -1;
                }
                out->num = (uint64_t)code;
                return 0;
        default:
                errbuf_set(err, errlen, "%s: internal: no validator", where);
                return -1;
        }
bad_why:
        errbuf_set(err, errlen, "%s: %s", where, why);
        return -1;
}

/*
 * The body of `type`: only its fields, every required one present, each
 * valid, decoded into msg->f.
 */
static int proto_body_decode(struct proto_msg *msg, json_t *body, char *err,
                             size_t errlen)
{
        const struct proto_slot *slots = proto_types[msg->type].body;
        char where[PROTO_WHERE_LEN], q[PROTO_QUOTE_LEN];
        const char *key;
        json_t *val;
        size_t i;

        json_object_foreach(body, key, val)
        {
                for (i = 0; i < PROTO_TYPE_FIELDS_MAX && slots[i].used; i++)
                        if (strcmp(key, proto_fields[slots[i].field].name) == 0)
                                break;
                if (i == PROTO_TYPE_FIELDS_MAX || !slots[i].used) {
                        errbuf_set(err, errlen,
                                   "body: unknown field \"%s\" for %s",
                                   proto_quote(key, q, sizeof(q)),
                                   proto_types[msg->type].name);
                        return -1;
                }
        }
        for (i = 0; i < PROTO_TYPE_FIELDS_MAX && slots[i].used; i++) {
                enum proto_field f = slots[i].field;

                snprintf(where, sizeof(where), "body.%s", proto_fields[f].name);
                if ((val = json_object_get(body, proto_fields[f].name)) ==
                    NULL) {
                        if (slots[i].optional)
                                continue;
                        errbuf_set(err, errlen, "%s: missing", where);
                        return -1;
                }
                if (proto_value_decode(where, proto_fields[f].kind, val,
                                       &msg->f[f], err, errlen) == -1)
                        return -1;
        }
        return 0;
}

/*
 * Rules between fields (decision 6 and 10): a verified upload.result
 * carries ttp_sig and no reason, an unverified one the reason (bad_path
 * or hash_mismatch) and no ttp_sig; download.cancelled says file_aborted.
 */
static int proto_rules_check(const struct proto_msg *msg, char *err,
                             size_t errlen)
{
        const struct proto_value *reason = &msg->f[PF_REASON];

        switch (msg->type) {
        case PROTO_UPLOAD_RESULT:
                if (msg->f[PF_VERIFIED].boolean) {
                        if (reason->present) {
                                errbuf_set(err, errlen,
                                           "body.reason: not allowed when "
                                           "verified");
                                return -1;
                        }
                        if (!msg->f[PF_TTP_SIG].present) {
                                errbuf_set(err, errlen,
                                           "body.ttp_sig: missing (required "
                                           "when verified)");
                                return -1;
                        }
                        return 0;
                }
                if (!reason->present) {
                        errbuf_set(err, errlen,
                                   "body.reason: missing (required when not "
                                   "verified)");
                        return -1;
                }
                if (reason->num != PROTO_BAD_PATH &&
                    reason->num != PROTO_HASH_MISMATCH) {
                        errbuf_set(err, errlen,
                                   "body.reason: not bad_path or "
                                   "hash_mismatch");
                        return -1;
                }
                if (msg->f[PF_TTP_SIG].present) {
                        errbuf_set(err, errlen,
                                   "body.ttp_sig: not allowed when not "
                                   "verified");
                        return -1;
                }
                return 0;
        case PROTO_DOWNLOAD_CANCELLED:
                if (reason->num != PROTO_FILE_ABORTED) {
                        errbuf_set(err, errlen,
                                   "body.reason: not file_aborted");
                        return -1;
                }
                return 0;
        default:
                return 0;
        }
}

/*
 * Read msg_id and user first and on their own: whatever is wrong
 * elsewhere, an error can then go back to its sender (decision 5).
 */
static void proto_attribute(struct proto_msg *msg, json_t *root)
{
        json_t *id = json_object_get(root, "msg_id");
        json_t *user = json_object_get(root, "user");
        const char *ids, *us;

        if (!json_is_string(id) || !json_is_string(user))
                return;
        ids = json_string_value(id);
        us = json_string_value(user);
        if (strlen(ids) != json_string_length(id) ||
            strlen(us) != json_string_length(user) ||
            ids_check_msg_id(ids, NULL, 0) == -1 ||
            ids_check_user(us, NULL, 0) == -1)
                return;
        /* Both validated: they fit msg_id[33] and user[65]. */
        memcpy(msg->msg_id, ids, IDS_MSG_ID_LEN + 1);
        memcpy(msg->user, us, strlen(us) + 1);
        msg->attributable = 1;
}

/* The envelope, then the body; *code is BAD_SCHEMA for any failure. */
static int proto_envelope_decode(struct proto_msg *msg, json_t *root, char *err,
                                 size_t errlen)
{
        char why[128], q[PROTO_QUOTE_LEN];
        const char *key;
        json_t *val, *v, *type, *id, *user, *body, *sig;
        size_t i;

        json_object_foreach(root, key, val)
        {
                for (i = 0; i < sizeof(proto_envelope_keys) /
                                    sizeof(proto_envelope_keys[0]);
                     i++)
                        if (strcmp(key, proto_envelope_keys[i]) == 0)
                                break;
                if (i == sizeof(proto_envelope_keys) /
                             sizeof(proto_envelope_keys[0])) {
                        errbuf_set(err, errlen, "unknown envelope field \"%s\"",
                                   proto_quote(key, q, sizeof(q)));
                        return -1;
                }
        }
        /* v first: with another version nothing else is ours to judge. */
        v = json_object_get(root, "v");
        if (v == NULL) {
                errbuf_set(err, errlen, "v: missing");
                return -1;
        }
        if (!json_is_integer(v) || json_integer_value(v) != PROTO_VERSION) {
                errbuf_set(err, errlen, "v: not the integer %d", PROTO_VERSION);
                return -1;
        }
        type = json_object_get(root, "type");
        if (type == NULL) {
                errbuf_set(err, errlen, "type: missing");
                return -1;
        }
        if (!json_is_string(type)) {
                errbuf_set(err, errlen, "type: not a string");
                return -1;
        }
        if (strlen(json_string_value(type)) != json_string_length(type) ||
            proto_type_from_name(json_string_value(type), &msg->type) == -1) {
                errbuf_set(err, errlen, "type: unknown type \"%s\"",
                           proto_quote(json_string_value(type), q, sizeof(q)));
                return -1;
        }
        id = json_object_get(root, "msg_id");
        if (id == NULL) {
                errbuf_set(err, errlen, "msg_id: missing");
                return -1;
        }
        if (!json_is_string(id) ||
            strlen(json_string_value(id)) != json_string_length(id) ||
            ids_check_msg_id(json_string_value(id), why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "msg_id: not %d lowercase hex digits",
                           IDS_MSG_ID_LEN);
                return -1;
        }
        user = json_object_get(root, "user");
        if (user == NULL) {
                errbuf_set(err, errlen, "user: missing");
                return -1;
        }
        if (!json_is_string(user) ||
            strlen(json_string_value(user)) != json_string_length(user) ||
            ids_check_user(json_string_value(user), why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "user: %s",
                           json_is_string(user) ? why : "not a string");
                return -1;
        }
        body = json_object_get(root, "body");
        if (body == NULL) {
                errbuf_set(err, errlen, "body: missing");
                return -1;
        }
        if (!json_is_object(body)) {
                errbuf_set(err, errlen, "body: not an object");
                return -1;
        }
        sig = json_object_get(root, "sig");
        if (proto_types[msg->type].sig && sig == NULL) {
                errbuf_set(err, errlen, "sig: missing (required for %s)",
                           proto_types[msg->type].name);
                return -1;
        }
        if (!proto_types[msg->type].sig && sig != NULL) {
                errbuf_set(err, errlen, "sig: not allowed for %s",
                           proto_types[msg->type].name);
                return -1;
        }
        if (proto_body_decode(msg, body, err, errlen) == -1)
                return -1;
        if (proto_rules_check(msg, err, errlen) == -1)
                return -1;
        if (sig != NULL && proto_value_decode("sig", PK_SIG, sig, &msg->sig,
                                              err, errlen) == -1)
                return -1;
        return 0;
}

int proto_decode(const void *buf, size_t len, struct proto_msg *msg,
                 enum proto_code *code, char *err, size_t errlen)
{
        char q[PROTO_QUOTE_LEN];
        json_error_t jerr;
        json_t *root = NULL;
        int ret = -1;

        memset(msg, 0, sizeof(*msg));
        *code = PROTO_BAD_JSON;
        if (len > PROTO_PARSE_MAX) {
                *code = PROTO_TOO_LARGE;
                errbuf_set(err, errlen,
                           "message of %zu bytes is over the limit of %d", len,
                           PROTO_MESSAGE_MAX);
                goto done;
        }
        /*
         * Without JSON_DECODE_ANY only an object or array is accepted,
         * without JSON_ALLOW_NUL "\u0000" is refused, and jansson checks
         * UTF-8 (no overlong forms, no surrogates) and bounds the depth.
         */
        root = json_loadb(buf != NULL ? buf : "", len, JSON_REJECT_DUPLICATES,
                          &jerr);
        if (root == NULL) {
                if (len > PROTO_MESSAGE_MAX) {
                        *code = PROTO_TOO_LARGE;
                        errbuf_set(err, errlen,
                                   "message of %zu bytes is over the limit of "
                                   "%d",
                                   len, PROTO_MESSAGE_MAX);
                } else {
                        errbuf_set(err, errlen,
                                   "not JSON: line %d column %d: %s", jerr.line,
                                   jerr.column,
                                   proto_quote(jerr.text, q, sizeof(q)));
                }
                goto done;
        }
        msg->root = root;
        if (!json_is_object(root)) {
                errbuf_set(err, errlen, "not a JSON object");
                goto done;
        }
        proto_attribute(msg, root);
        if (len > PROTO_MESSAGE_MAX) {
                *code = PROTO_TOO_LARGE;
                errbuf_set(err, errlen,
                           "message of %zu bytes is over the limit of %d", len,
                           PROTO_MESSAGE_MAX);
                goto done;
        }
        *code = PROTO_BAD_SCHEMA;
        if (proto_envelope_decode(msg, root, err, errlen) == -1)
                goto done;
        *code = PROTO_OK;
        ret = 0;
done:
        return ret;
}

void proto_msg_fini(struct proto_msg *msg)
{
        if (msg == NULL)
                return;
        json_decref(msg->root);
        /* The decoded nonces sit in the bin buffers. */
        OPENSSL_cleanse(msg, sizeof(*msg));
}

int proto_request_tbs(const struct proto_msg *msg, char **out, size_t *outlen,
                      char *err, size_t errlen)
{
        char keyhash[CRYPTO_SHA256_HEX_LEN + 1];
        struct tbs_request req;

        *out = NULL;
        *outlen = 0;
        if (!proto_type_is_request(msg->type)) {
                errbuf_set(err, errlen, "request tbs: %s is not a request",
                           proto_type_name(msg->type) != NULL
                               ? proto_type_name(msg->type)
                               : "(invalid type)");
                return -1;
        }
        if (ids_check_msg_id(msg->msg_id, NULL, 0) == -1 ||
            ids_check_user(msg->user, NULL, 0) == -1) {
                errbuf_set(err, errlen,
                           "request tbs: message has no valid msg_id/user");
                return -1;
        }
        memset(&req, 0, sizeof(req));
        req.type = proto_types[msg->type].name;
        req.msg_id = msg->msg_id;
        req.user = msg->user;
        req.file_id =
            msg->f[PF_FILE_ID].present ? msg->f[PF_FILE_ID].str : NULL;
        if (msg->type == PROTO_REGISTER) {
                if (!msg->f[PF_PUBLIC_KEY].present) {
                        errbuf_set(err, errlen,
                                   "request tbs: register without public_key");
                        return -1;
                }
                if (crypto_sha256_hex(msg->f[PF_PUBLIC_KEY].bin,
                                      msg->f[PF_PUBLIC_KEY].bin_len, keyhash,
                                      err, errlen) == -1)
                        return -1;
                req.public_key_sha256 = keyhash;
        }
        return tbs_request(&req, out, outlen, err, errlen);
}

char *proto_envelope_dump(enum proto_type type, const char *msg_id,
                          const char *user, json_t *body, const char *sig_b64,
                          size_t *len, char *err, size_t errlen)
{
        struct proto_value sigval;
        char why[128];
        json_t *env = NULL;
        char *out = NULL;
        size_t n;
        int rc;

        if (len != NULL)
                *len = 0;
        if ((unsigned)type >= PROTO_TYPE_COUNT) {
                errbuf_set(err, errlen, "envelope: invalid type %d", (int)type);
                goto done;
        }
        if (ids_check_msg_id(msg_id, why, sizeof(why)) == -1 ||
            ids_check_user(user, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "envelope: %s", why);
                goto done;
        }
        if (!json_is_object(body)) {
                errbuf_set(err, errlen, "envelope: body is not an object");
                goto done;
        }
        /* Never send what proto_decode() would refuse for want of sig. */
        if (proto_types[type].sig != (sig_b64 != NULL)) {
                errbuf_set(err, errlen, "envelope: %s %s a sig",
                           proto_types[type].name,
                           proto_types[type].sig ? "needs" : "takes no");
                goto done;
        }
        if (sig_b64 != NULL) {
                memset(&sigval, 0, sizeof(sigval));
                if (proto_base64("sig", sig_b64, strlen(sig_b64), PROTO_SIG_MIN,
                                 PROTO_SIG_MAX, &sigval, err, errlen) == -1)
                        goto done;
        }
        /* Built in the contract's key order; jansson keeps insertion
         * order. */
        if ((env = json_object()) == NULL ||
            json_object_set_new(env, "v", json_integer(PROTO_VERSION)) == -1 ||
            json_object_set_new(env, "type",
                                json_string(proto_types[type].name)) == -1 ||
            json_object_set_new(env, "msg_id", json_string(msg_id)) == -1 ||
            json_object_set_new(env, "user", json_string(user)) == -1) {
                errbuf_set(err, errlen, "envelope: out of memory");
                goto done;
        }
        /* set_new steals body even when it fails. */
        rc = json_object_set_new(env, "body", body);
        body = NULL;
        if (rc == -1 ||
            (sig_b64 != NULL &&
             json_object_set_new(env, "sig", json_string(sig_b64)) == -1)) {
                errbuf_set(err, errlen, "envelope: out of memory");
                goto done;
        }
        if ((out = json_dumps(env, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
            NULL) {
                errbuf_set(err, errlen,
                           "envelope: cannot encode (invalid UTF-8 in a "
                           "string?)");
                goto done;
        }
        n = strlen(out);
        if (n > PROTO_MESSAGE_MAX) {
                errbuf_set(err, errlen,
                           "envelope: %zu bytes, over the limit of %d", n,
                           PROTO_MESSAGE_MAX);
                free(out);
                out = NULL;
                goto done;
        }
        if (len != NULL)
                *len = n;
done:
        json_decref(body);
        json_decref(env);
        return out;
}

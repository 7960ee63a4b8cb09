/*
 * evidence: the evidence files a party keeps, and their offline check.
 *
 * One table, evidence_fields, says every field's name, JSON type and
 * place in struct evidence; the reader, the writer and the schema
 * (schemas/evidence.schema.json) follow it, so the three cannot drift on
 * which keys exist.  The forms of the values are checked in one place,
 * evidence_check_forms(), used both when reading a file and at the start
 * of evidence_verify(), because a struct can also be filled by code.
 *
 * Messages name the field or the signature that failed: they are what a
 * judge reads.  They quote evidence values only after the forms check,
 * when every quoted value is known to be short printable ASCII.
 */
#include "evidence.h"

#include "atomicfile.h"
#include "base64.h"
#include "crypto.h"
#include "errbuf.h"
#include "hex.h"
#include "ids.h"
#include "tbs.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EVIDENCE_VERSION   1
#define EVIDENCE_SIZE_MAX  ((uint64_t)1 << 40) /* decision 8 */
#define EVIDENCE_NAME_MAX  1024                /* bytes, decision 8 */
#define EVIDENCE_NONCE_LEN 32
#define EVIDENCE_SIG_MIN   8   /* the shortest DER ECDSA signature */
#define EVIDENCE_SIG_MAX   72  /* decision 8 */
#define EVIDENCE_KEY_MAX   200 /* SPKI DER bytes, decision 8 */
/* An evidence file is about 2 KiB; anything far larger is not one. */
#define EVIDENCE_FILE_MAX (1024 * 1024)

enum evidence_type { ET_VERSION, ET_KIND, ET_SIZE, ET_STR };

/*
 * Every key of the JSON object, in the order files are written.  For
 * ET_STR, `offset` places the string in struct evidence; `optional`
 * marks the one key that may be absent (name, not covered by any
 * signature: it is the uploader's label, kept for the reader's sake).
 */
static const struct evidence_field {
        const char *name;
        enum evidence_type type;
        size_t offset;
        int optional;
} evidence_fields[] = {
    {"tds_evidence", ET_VERSION, 0, 0},
    {"kind", ET_KIND, 0, 0},
    {"file_id", ET_STR, offsetof(struct evidence, file_id), 0},
    {"name", ET_STR, offsetof(struct evidence, name), 1},
    {"uploader", ET_STR, offsetof(struct evidence, uploader), 0},
    {"downloader", ET_STR, offsetof(struct evidence, downloader), 0},
    {"sha256", ET_STR, offsetof(struct evidence, sha256), 0},
    {"size", ET_SIZE, 0, 0},
    {"upload_nonce", ET_STR, offsetof(struct evidence, upload_nonce), 0},
    {"download_nonce", ET_STR, offsetof(struct evidence, download_nonce), 0},
    {"nro", ET_STR, offsetof(struct evidence, nro), 0},
    {"nro_sha256", ET_STR, offsetof(struct evidence, nro_sha256), 0},
    {"nrr", ET_STR, offsetof(struct evidence, nrr), 0},
    {"nrr_sha256", ET_STR, offsetof(struct evidence, nrr_sha256), 0},
    {"uploader_public_key", ET_STR,
     offsetof(struct evidence, uploader_public_key), 0},
    {"downloader_public_key", ET_STR,
     offsetof(struct evidence, downloader_public_key), 0},
    {"ttp_public_key", ET_STR, offsetof(struct evidence, ttp_public_key), 0},
    {"time", ET_STR, offsetof(struct evidence, time), 0},
    {"ttp_sig", ET_STR, offsetof(struct evidence, ttp_sig), 0},
};

#define EVIDENCE_NFIELDS (sizeof(evidence_fields) / sizeof(evidence_fields[0]))

/* The string member of `ev` that `f` describes (ET_STR only). */
static const char **evidence_slot(struct evidence *ev,
                                  const struct evidence_field *f)
{
        return (const char **)(void *)((char *)ev + f->offset);
}

static const char *evidence_str(const struct evidence *ev,
                                const struct evidence_field *f)
{
        const char *s = *evidence_slot((struct evidence *)ev, f);

        return s != NULL ? s : "";
}

/* NULL and "" both mean "does not apply" in a struct filled by code. */
static const char *nz(const char *s)
{
        return s != NULL ? s : "";
}

static const char *evidence_kind_name(enum evidence_kind kind)
{
        switch (kind) {
        case EVIDENCE_UPLOAD:
                return "upload";
        case EVIDENCE_EXCHANGE:
                return "exchange";
        }
        return NULL;
}

/*
 * Decode the base64 `text` of `field` into `*out` (caller frees) and
 * check its length is within [min, max] bytes.
 */
static int evidence_b64(const char *field, const char *text, size_t min,
                        size_t max, unsigned char **out, size_t *outlen,
                        char *err, size_t errlen)
{
        char why[256];

        *out = NULL;
        if (base64_decode(text, strlen(text), out, outlen, why, sizeof(why)) ==
            -1) {
                errbuf_set(err, errlen,
                           "field \"%s\": not canonical padded base64 (%s)",
                           field, why);
                return -1;
        }
        if (*outlen < min || *outlen > max) {
                if (min == max)
                        errbuf_set(err, errlen,
                                   "field \"%s\": %zu bytes, expected %zu",
                                   field, *outlen, min);
                else
                        errbuf_set(err, errlen,
                                   "field \"%s\": %zu bytes, expected %zu "
                                   "to %zu",
                                   field, *outlen, min, max);
                free(*out);
                *out = NULL;
                return -1;
        }
        return 0;
}

/* Only the form: the bytes are decoded again where they are used. */
static int evidence_check_b64(const char *field, const char *text, size_t min,
                              size_t max, char *err, size_t errlen)
{
        unsigned char *buf = NULL;
        size_t len;

        if (evidence_b64(field, text, min, max, &buf, &len, err, errlen) == -1)
                return -1;
        free(buf);
        return 0;
}

static int evidence_check_hex(const char *field, const char *s, char *err,
                              size_t errlen)
{
        if (hex_is_lower(s, CRYPTO_SHA256_HEX_LEN))
                return 0;
        errbuf_set(err, errlen,
                   "field \"%s\": not 64 lowercase hex digits (a SHA-256)",
                   field);
        return -1;
}

/* Fields an upload does not have must be empty, not merely ignored. */
static int evidence_check_empty(const char *field, const char *s, char *err,
                                size_t errlen)
{
        if (s[0] == '\0')
                return 0;
        errbuf_set(err, errlen,
                   "field \"%s\" must be empty (\"\") in evidence of kind "
                   "upload",
                   field);
        return -1;
}

/*
 * The name is no signed value, but it is printed to judges' terminals:
 * the same rule as on the wire (decision 8), no control characters.
 */
static int evidence_check_name(const char *name, char *err, size_t errlen)
{
        size_t len = strlen(name);

        if (len > EVIDENCE_NAME_MAX) {
                errbuf_set(err, errlen, "field \"name\": %zu bytes, at most %d",
                           len, EVIDENCE_NAME_MAX);
                return -1;
        }
        for (size_t i = 0; i < len; i++) {
                const unsigned char *c = (const unsigned char *)name + i;
                /* C0, DEL and C1 (C2 80 to C2 9F), as proto.c on the wire. */
                if (c[0] < 0x20 || c[0] == 0x7f ||
                    (c[0] == 0xc2 && i + 1 < len && c[1] >= 0x80 &&
                     c[1] <= 0x9f)) {
                        errbuf_set(err, errlen,
                                   "field \"name\": control character at "
                                   "byte %zu",
                                   i);
                        return -1;
                }
        }
        return 0;
}

/* Every field's form, in table order; the first failure is reported. */
static int evidence_check_forms(const struct evidence *ev, char *err,
                                size_t errlen)
{
        int upload = ev->kind == EVIDENCE_UPLOAD;
        char why[256];
        time_t t;

        if (evidence_kind_name(ev->kind) == NULL) {
                errbuf_set(err, errlen, "field \"kind\": unknown kind %d",
                           (int)ev->kind);
                return -1;
        }
        if (ids_check_file_id(nz(ev->file_id), why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "field \"file_id\": %s", why);
                return -1;
        }
        if (evidence_check_name(nz(ev->name), err, errlen) == -1)
                return -1;
        if (ids_check_user(nz(ev->uploader), why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "field \"uploader\": %s", why);
                return -1;
        }
        if (upload) {
                if (evidence_check_empty("downloader", nz(ev->downloader), err,
                                         errlen) == -1)
                        return -1;
        } else if (ids_check_user(nz(ev->downloader), why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "field \"downloader\": %s", why);
                return -1;
        }
        if (evidence_check_hex("sha256", nz(ev->sha256), err, errlen) == -1)
                return -1;
        if (ev->size > EVIDENCE_SIZE_MAX) {
                errbuf_set(err, errlen,
                           "field \"size\": %" PRIu64 " is over 2^40",
                           ev->size);
                return -1;
        }
        if (evidence_check_b64("upload_nonce", nz(ev->upload_nonce),
                               EVIDENCE_NONCE_LEN, EVIDENCE_NONCE_LEN, err,
                               errlen) == -1)
                return -1;
        if (upload ? evidence_check_empty("download_nonce",
                                          nz(ev->download_nonce), err, errlen)
                   : evidence_check_b64(
                         "download_nonce", nz(ev->download_nonce),
                         EVIDENCE_NONCE_LEN, EVIDENCE_NONCE_LEN, err, errlen))
                return -1;
        if (evidence_check_b64("nro", nz(ev->nro), EVIDENCE_SIG_MIN,
                               EVIDENCE_SIG_MAX, err, errlen) == -1 ||
            evidence_check_hex("nro_sha256", nz(ev->nro_sha256), err, errlen) ==
                -1)
                return -1;
        if (upload) {
                if (evidence_check_empty("nrr", nz(ev->nrr), err, errlen) ||
                    evidence_check_empty("nrr_sha256", nz(ev->nrr_sha256), err,
                                         errlen))
                        return -1;
        } else if (evidence_check_b64("nrr", nz(ev->nrr), EVIDENCE_SIG_MIN,
                                      EVIDENCE_SIG_MAX, err, errlen) == -1 ||
                   evidence_check_hex("nrr_sha256", nz(ev->nrr_sha256), err,
                                      errlen) == -1) {
                return -1;
        }
        if (evidence_check_b64("uploader_public_key",
                               nz(ev->uploader_public_key), 1, EVIDENCE_KEY_MAX,
                               err, errlen) == -1)
                return -1;
        if (upload ? evidence_check_empty("downloader_public_key",
                                          nz(ev->downloader_public_key), err,
                                          errlen)
                   : evidence_check_b64("downloader_public_key",
                                        nz(ev->downloader_public_key), 1,
                                        EVIDENCE_KEY_MAX, err, errlen))
                return -1;
        if (evidence_check_b64("ttp_public_key", nz(ev->ttp_public_key), 1,
                               EVIDENCE_KEY_MAX, err, errlen) == -1)
                return -1;
        if (ids_time_parse(nz(ev->time), &t, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "field \"time\": %s", why);
                return -1;
        }
        if (evidence_check_b64("ttp_sig", nz(ev->ttp_sig), EVIDENCE_SIG_MIN,
                               EVIDENCE_SIG_MAX, err, errlen) == -1)
                return -1;
        return 0;
}

json_t *evidence_to_json(const struct evidence *ev, char *err, size_t errlen)
{
        json_t *obj = NULL, *v;
        const struct evidence_field *f;

        /* Never write a file that evidence_from_json() would refuse. */
        if (evidence_check_forms(ev, err, errlen) == -1)
                return NULL;
        if ((obj = json_object()) == NULL)
                goto nomem;
        for (size_t i = 0; i < EVIDENCE_NFIELDS; i++) {
                f = &evidence_fields[i];
                switch (f->type) {
                case ET_VERSION:
                        v = json_integer(EVIDENCE_VERSION);
                        break;
                case ET_KIND:
                        v = json_string(evidence_kind_name(ev->kind));
                        break;
                case ET_SIZE:
                        v = json_integer((json_int_t)ev->size);
                        break;
                default:
                        if (f->optional && evidence_str(ev, f)[0] == '\0')
                                continue;
                        v = json_string(evidence_str(ev, f));
                        if (v == NULL) {
                                /* Only the name can be non-ASCII. */
                                errbuf_set(err, errlen,
                                           "field \"%s\": not valid UTF-8",
                                           f->name);
                                json_decref(obj);
                                return NULL;
                        }
                        break;
                }
                if (json_object_set_new(obj, f->name, v) == -1)
                        goto nomem;
        }
        return obj;
nomem:
        json_decref(obj);
        errbuf_set(err, errlen, "out of memory");
        return NULL;
}

static const struct evidence_field *evidence_field_find(const char *name)
{
        for (size_t i = 0; i < EVIDENCE_NFIELDS; i++)
                if (strcmp(evidence_fields[i].name, name) == 0)
                        return &evidence_fields[i];
        return NULL;
}

/* One value of `obj` into `ev`, with its JSON type checked. */
static int evidence_read_field(json_t *v, const struct evidence_field *f,
                               struct evidence *ev, char *err, size_t errlen)
{
        const char *s;
        json_int_t n;

        switch (f->type) {
        case ET_VERSION:
                if (!json_is_integer(v) ||
                    json_integer_value(v) != EVIDENCE_VERSION) {
                        errbuf_set(err, errlen,
                                   "field \"tds_evidence\": must be the "
                                   "integer %d",
                                   EVIDENCE_VERSION);
                        return -1;
                }
                return 0;
        case ET_SIZE:
                if (!json_is_integer(v)) {
                        errbuf_set(err, errlen,
                                   "field \"size\": must be an integer");
                        return -1;
                }
                n = json_integer_value(v);
                if (n < 0 || (uint64_t)n > EVIDENCE_SIZE_MAX) {
                        errbuf_set(err, errlen,
                                   "field \"size\": %lld is not in 0 to "
                                   "2^40",
                                   (long long)n);
                        return -1;
                }
                ev->size = (uint64_t)n;
                return 0;
        default:
                break;
        }
        if (!json_is_string(v)) {
                errbuf_set(err, errlen, "field \"%s\": must be a string",
                           f->name);
                return -1;
        }
        s = json_string_value(v);
        /* "\u0000" would cut the C string short of what the JSON says. */
        if (strlen(s) != json_string_length(v)) {
                errbuf_set(err, errlen, "field \"%s\": contains a NUL",
                           f->name);
                return -1;
        }
        if (f->type == ET_KIND) {
                if (strcmp(s, "upload") == 0)
                        ev->kind = EVIDENCE_UPLOAD;
                else if (strcmp(s, "exchange") == 0)
                        ev->kind = EVIDENCE_EXCHANGE;
                else {
                        errbuf_set(err, errlen,
                                   "field \"kind\": must be \"upload\" or "
                                   "\"exchange\"");
                        return -1;
                }
                return 0;
        }
        *evidence_slot(ev, f) = s;
        return 0;
}

int evidence_from_json(json_t *obj, struct evidence *ev, char *err,
                       size_t errlen)
{
        const struct evidence_field *f;
        const char *key;
        json_t *v;

        memset(ev, 0, sizeof(*ev));
        if (!json_is_object(obj)) {
                errbuf_set(err, errlen, "evidence must be a JSON object");
                return -1;
        }
        /*
         * Unknown keys first: a file with a field we do not know may mean
         * something we would silently ignore, so it is refused outright.
         * The key is quoted only if it is short and printable.
         */
        json_object_foreach(obj, key, v)
        {
                if (evidence_field_find(key) != NULL)
                        continue;
                int printable = strlen(key) <= 64;
                for (const char *p = key; printable && *p != '\0'; p++)
                        printable = *p > 0x20 && *p < 0x7f && *p != '"';
                errbuf_set(err, errlen, "unknown field \"%s\"",
                           printable ? key : "(unprintable)");
                return -1;
        }
        for (size_t i = 0; i < EVIDENCE_NFIELDS; i++) {
                f = &evidence_fields[i];
                if ((v = json_object_get(obj, f->name)) == NULL) {
                        if (f->optional) {
                                *evidence_slot(ev, f) = "";
                                continue;
                        }
                        errbuf_set(err, errlen, "missing field \"%s\"",
                                   f->name);
                        return -1;
                }
                if (evidence_read_field(v, f, ev, err, errlen) == -1)
                        return -1;
        }
        /* Present but empty is not the same as absent, and means nothing. */
        if (json_object_get(obj, "name") != NULL && ev->name[0] == '\0') {
                errbuf_set(err, errlen,
                           "field \"name\": empty (omit it instead)");
                return -1;
        }
        return evidence_check_forms(ev, err, errlen);
}

/* Parse the base64 SPKI of `field` into a key and its key id. */
static int evidence_pubkey(const char *field, const char *b64,
                           struct crypto_key **key, char *key_id, char *err,
                           size_t errlen)
{
        unsigned char *der = NULL;
        size_t derlen;
        char why[512];
        int ret = -1;

        *key = NULL;
        if (evidence_b64(field, b64, 1, EVIDENCE_KEY_MAX, &der, &derlen, err,
                         errlen) == -1)
                goto done;
        if (crypto_pubkey_from_der(der, derlen, key, why, sizeof(why)) == -1 ||
            crypto_key_id(*key, key_id, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen,
                           "%s is not a canonical P-256 public key "
                           "(SPKI DER): %s",
                           field, why);
                crypto_key_free(*key);
                *key = NULL;
                goto done;
        }
        ret = 0;
done:
        free(der);
        return ret;
}

/*
 * `digest_field` (hex) must be the SHA-256 of the bytes of `sig_field`
 * (base64): the chain NRR -> NRO and TTP -> NRR/NRO goes through these
 * digests, so a digest that is not the signature's would unlink them.
 */
static int evidence_check_digest(const char *sig_field, const char *sig_b64,
                                 const char *digest_field, const char *digest,
                                 unsigned char **sig, size_t *siglen, char *err,
                                 size_t errlen)
{
        char hex[CRYPTO_SHA256_HEX_LEN + 1], why[256];

        if (evidence_b64(sig_field, sig_b64, EVIDENCE_SIG_MIN, EVIDENCE_SIG_MAX,
                         sig, siglen, err, errlen) == -1)
                return -1;
        if (crypto_sha256_hex(*sig, *siglen, hex, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "hashing %s: %s", sig_field, why);
                goto fail;
        }
        if (strcmp(hex, digest) != 0) {
                errbuf_set(err, errlen,
                           "%s does not match SHA-256 of %s (which is %s)",
                           digest_field, sig_field, hex);
                goto fail;
        }
        return 0;
fail:
        free(*sig);
        *sig = NULL;
        return -1;
}

/*
 * Verify `sig` over `tbs` under `key`; on failure the message is `what`
 * followed by the key id and crypto's reason.
 */
static int evidence_check_sig(const struct crypto_key *key, const char *key_id,
                              const char *tbs, size_t tbslen,
                              const unsigned char *sig, size_t siglen,
                              const char *what, char *err, size_t errlen)
{
        char why[512];

        if (crypto_verify(key, tbs, tbslen, sig, siglen, why, sizeof(why)) == 0)
                return 0;
        errbuf_set(err, errlen, "%s (key id %s): %s", what, key_id, why);
        return -1;
}

/* The document at `path` must have the evidence's size and SHA-256. */
static int evidence_check_document(const struct evidence *ev, const char *path,
                                   char *err, size_t errlen)
{
        unsigned char digest[CRYPTO_SHA256_LEN];
        char hex[CRYPTO_SHA256_HEX_LEN + 1], why[512];
        uint64_t size;

        if (crypto_sha256_path(path, digest, &size, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "document %s: %s", path, why);
                return -1;
        }
        if (size != ev->size) {
                errbuf_set(err, errlen,
                           "document size %" PRIu64
                           " differs from evidence size %" PRIu64,
                           size, ev->size);
                return -1;
        }
        hex_encode(digest, sizeof(digest), hex, sizeof(hex));
        if (strcmp(hex, ev->sha256) != 0) {
                errbuf_set(err, errlen,
                           "document SHA-256 %s differs from evidence "
                           "sha256 %s",
                           hex, ev->sha256);
                return -1;
        }
        return 0;
}

int evidence_verify(const struct evidence *ev, const char *expected_ttp_key_id,
                    const char *doc_path, char *err, size_t errlen)
{
        int exchange = ev->kind == EVIDENCE_EXCHANGE;
        struct crypto_key *a_key = NULL, *b_key = NULL, *ttp_key = NULL;
        unsigned char *nro = NULL, *nrr = NULL, *ttp_sig = NULL;
        size_t nrolen, nrrlen, ttp_siglen, tbslen;
        char a_id[CRYPTO_KEY_ID_LEN + 1], b_id[CRYPTO_KEY_ID_LEN + 1];
        char ttp_id[CRYPTO_KEY_ID_LEN + 1], size[24], why[256];
        char *tbs = NULL;
        int ret = -1;

        if (evidence_check_forms(ev, err, errlen) == -1)
                goto done;
        if (expected_ttp_key_id != NULL &&
            !hex_is_lower(expected_ttp_key_id, CRYPTO_KEY_ID_LEN)) {
                errbuf_set(err, errlen,
                           "expected TTP key id is not 64 lowercase hex "
                           "digits");
                goto done;
        }

        /* A's NRO: origin of M (hash, size) for this file and nonce. */
        if (evidence_check_digest("nro", ev->nro, "nro_sha256", ev->nro_sha256,
                                  &nro, &nrolen, err, errlen) == -1 ||
            evidence_pubkey("uploader_public_key", ev->uploader_public_key,
                            &a_key, a_id, err, errlen) == -1)
                goto done;
        snprintf(size, sizeof(size), "%" PRIu64, ev->size);
        if (tbs_nro(&(struct tbs_nro){ev->file_id, ev->uploader, ev->sha256,
                                      size, ev->upload_nonce},
                    &tbs, &tbslen, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "building the NRO TBS: %s", why);
                goto done;
        }
        if (evidence_check_sig(a_key, a_id, tbs, tbslen, nro, nrolen,
                               "NRO signature does not verify under "
                               "uploader_public_key",
                               err, errlen) == -1)
                goto done;
        free(tbs);
        tbs = NULL;

        /* B's NRR: receipt of M, bound to A's NRO through nro_sha256. */
        if (exchange) {
                if (evidence_check_digest("nrr", ev->nrr, "nrr_sha256",
                                          ev->nrr_sha256, &nrr, &nrrlen, err,
                                          errlen) == -1 ||
                    evidence_pubkey("downloader_public_key",
                                    ev->downloader_public_key, &b_key, b_id,
                                    err, errlen) == -1)
                        goto done;
                if (tbs_nrr(&(struct tbs_nrr){ev->file_id, ev->downloader,
                                              ev->sha256, ev->nro_sha256,
                                              ev->download_nonce},
                            &tbs, &tbslen, why, sizeof(why)) == -1) {
                        errbuf_set(err, errlen, "building the NRR TBS: %s",
                                   why);
                        goto done;
                }
                if (evidence_check_sig(b_key, b_id, tbs, tbslen, nrr, nrrlen,
                                       "NRR signature does not verify under "
                                       "downloader_public_key",
                                       err, errlen) == -1)
                        goto done;
                free(tbs);
                tbs = NULL;
        }

        /*
         * The TTP's countersignature.  The pinned key id is checked before
         * the signature: anyone can make a file whose ttp_sig verifies
         * under a key of their own, so "not the TTP's key" is the finding
         * that matters when both would fail.
         */
        if (evidence_pubkey("ttp_public_key", ev->ttp_public_key, &ttp_key,
                            ttp_id, err, errlen) == -1)
                goto done;
        if (expected_ttp_key_id != NULL &&
            strcmp(ttp_id, expected_ttp_key_id) != 0) {
                errbuf_set(err, errlen, "TTP key id %s is not the expected %s",
                           ttp_id, expected_ttp_key_id);
                goto done;
        }
        if (evidence_b64("ttp_sig", ev->ttp_sig, EVIDENCE_SIG_MIN,
                         EVIDENCE_SIG_MAX, &ttp_sig, &ttp_siglen, err,
                         errlen) == -1)
                goto done;
        if (tbs_evidence(&(struct tbs_evidence){evidence_kind_name(ev->kind),
                                                ev->file_id, ev->uploader,
                                                nz(ev->downloader), ev->sha256,
                                                ev->nro_sha256,
                                                nz(ev->nrr_sha256), ev->time},
                         &tbs, &tbslen, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "building the evidence TBS: %s", why);
                goto done;
        }
        if (evidence_check_sig(ttp_key, ttp_id, tbs, tbslen, ttp_sig,
                               ttp_siglen,
                               "TTP signature (ttp_sig) does not verify under "
                               "ttp_public_key",
                               err, errlen) == -1)
                goto done;

        if (doc_path != NULL &&
            evidence_check_document(ev, doc_path, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        free(tbs);
        free(nro);
        free(nrr);
        free(ttp_sig);
        crypto_key_free(a_key);
        crypto_key_free(b_key);
        crypto_key_free(ttp_key);
        return ret;
}

int evidence_save(const struct evidence *ev, const char *path, char *err,
                  size_t errlen)
{
        char *text = NULL, *file = NULL;
        json_t *obj = NULL;
        size_t len;
        int ret = -1;

        if ((obj = evidence_to_json(ev, err, errlen)) == NULL)
                goto done;
        /* Stable order (the table's), two-space indent, final newline. */
        if ((text = json_dumps(obj, JSON_INDENT(2))) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        len = strlen(text);
        if ((file = malloc(len + 1)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        memcpy(file, text, len);
        file[len] = '\n';
        /* Evidence is meant to be shown: exactly 0644 whatever the umask. */
        if (atomicfile_write(path, file, len + 1, 0644, 0, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        free(file);
        free(text);
        json_decref(obj);
        return ret;
}

int evidence_load(const char *path, json_t **root, struct evidence *ev,
                  char *err, size_t errlen)
{
        char *buf = NULL, why[512];
        json_error_t jerr;
        struct stat st;
        size_t got = 0;
        ssize_t n;
        int fd = -1, ret = -1;

        *root = NULL;
        memset(ev, 0, sizeof(*ev));
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
                errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (fstat(fd, &st) == -1) {
                errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                errbuf_set(err, errlen, "%s: not a regular file", path);
                goto done;
        }
        if (st.st_size > EVIDENCE_FILE_MAX) {
                errbuf_set(err, errlen,
                           "%s: %lld bytes, too large for an evidence file "
                           "(at most %d)",
                           path, (long long)st.st_size, EVIDENCE_FILE_MAX);
                goto done;
        }
        if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        /* Read to end of file, but never past the size we allocated for. */
        while (got < (size_t)st.st_size + 1) {
                n = read(fd, buf + got, (size_t)st.st_size + 1 - got);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n == -1) {
                        errbuf_set(err, errlen, "%s: %s", path,
                                   strerror(errno));
                        goto done;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        if (got > (size_t)st.st_size) {
                errbuf_set(err, errlen, "%s: grew while being read", path);
                goto done;
        }
        /* Duplicate keys would let two readers see two different files. */
        *root = json_loadb(buf, got, JSON_REJECT_DUPLICATES, &jerr);
        if (*root == NULL) {
                errbuf_set(err, errlen,
                           "%s: not valid JSON: line %d column %d: %s", path,
                           jerr.line, jerr.column, jerr.text);
                goto done;
        }
        if (evidence_from_json(*root, ev, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "%s: %s", path, why);
                goto done;
        }
        ret = 0;
done:
        if (ret == -1) {
                json_decref(*root);
                *root = NULL;
                memset(ev, 0, sizeof(*ev));
        }
        if (fd != -1)
                close(fd);
        free(buf);
        return ret;
}

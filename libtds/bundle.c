/*
 * bundle: evidence bundles and signed tree heads, read strictly and
 * checked offline (docs/evidence.md, "The evidence log").
 *
 * The pieces are checked by the modules that own them: evidence_verify
 * for the evidence, merkle_verify_* for the proofs, tsa_verify for the
 * token, crypto_verify for the head's signature.  What this file adds is
 * how they hang together (the leaf is rebuilt from the evidence, the
 * head must be signed by the evidence's TTP, the token must be over the
 * head and chain to the TTP, the evidence must be older than the token)
 * and messages that say which piece failed: they are what a judge reads.
 * Every message starts with the piece: "bundle:", "evidence:", "tree
 * head:", "timestamp token:", "inclusion proof:", "consistency proof:",
 * "trust:".
 */
#include "bundle.h"

#include "atomicfile.h"
#include "base64.h"
#include "crypto.h"
#include "errbuf.h"
#include "hex.h"
#include "ids.h"
#include "tbs.h"
#include "tsa.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define BUNDLE_VERSION   1
#define BUNDLE_COUNT_MAX ((uint64_t)1 << 53) /* exact in every JSON reader */
#define BUNDLE_SIG_MIN   8
#define BUNDLE_SIG_MAX   72
#define BUNDLE_TOKEN_MAX 8192
#define BUNDLE_CERT_MAX  4096
#define BUNDLE_SKEW      300 /* seconds: 5 minutes of clock skew */
#define BUNDLE_FILE_MAX  (1024 * 1024)

/* The keys of a head object, in the order files are written. */
static const char *const head_keys[] = {
    "tds_tree_head", "log_id",          "tree_size", "root_hash",
    "time",          "timestamp_token", "ttp_sig",   "tsa_chain"};
static const char *const bundle_keys[] = {
    "tds_bundle", "evidence", "leaf_index", "inclusion_proof", "tree_head"};

#define NKEYS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- small helpers ------------------------------------------------------ */

/* A JSON key, quoted in a message only when short and printable. */
static const char *printable_key(const char *key)
{
        if (strlen(key) > 64)
                return "(unprintable)";
        for (const char *p = key; *p != '\0'; p++)
                if (*p <= 0x20 || *p >= 0x7f || *p == '"')
                        return "(unprintable)";
        return key;
}

/* Every key of `obj` must be one of `keys`; `what` prefixes the message. */
static int check_keys(json_t *obj, const char *const *keys, size_t n,
                      const char *what, char *err, size_t errlen)
{
        const char *key;
        json_t *v;
        size_t i;

        json_object_foreach(obj, key, v)
        {
                for (i = 0; i < n; i++)
                        if (strcmp(keys[i], key) == 0)
                                break;
                if (i == n) {
                        errbuf_set(err, errlen, "%s: unknown field \"%s\"",
                                   what, printable_key(key));
                        return -1;
                }
        }
        return 0;
}

/* A string member: present, a string, no NUL inside. */
static int get_str(json_t *obj, const char *name, const char *what,
                   const char **out, char *err, size_t errlen)
{
        json_t *v = json_object_get(obj, name);

        if (v == NULL) {
                errbuf_set(err, errlen, "%s: missing field \"%s\"", what, name);
                return -1;
        }
        if (!json_is_string(v)) {
                errbuf_set(err, errlen, "%s: field \"%s\": must be a string",
                           what, name);
                return -1;
        }
        if (strlen(json_string_value(v)) != json_string_length(v)) {
                errbuf_set(err, errlen, "%s: field \"%s\": contains a NUL",
                           what, name);
                return -1;
        }
        *out = json_string_value(v);
        return 0;
}

/* An integer member in 0..2^53. */
static int get_count(json_t *obj, const char *name, const char *what,
                     uint64_t *out, char *err, size_t errlen)
{
        json_t *v = json_object_get(obj, name);
        json_int_t n;

        if (v == NULL) {
                errbuf_set(err, errlen, "%s: missing field \"%s\"", what, name);
                return -1;
        }
        if (!json_is_integer(v)) {
                errbuf_set(err, errlen, "%s: field \"%s\": must be an integer",
                           what, name);
                return -1;
        }
        n = json_integer_value(v);
        if (n < 0 || (uint64_t)n > BUNDLE_COUNT_MAX) {
                errbuf_set(err, errlen,
                           "%s: field \"%s\": %lld is not in 0 to 2^53", what,
                           name, (long long)n);
                return -1;
        }
        *out = (uint64_t)n;
        return 0;
}

/* Decode base64 `text` of field `name` into `*out` (caller frees). */
static int b64_field(const char *what, const char *name, const char *text,
                     size_t min, size_t max, unsigned char **out,
                     size_t *outlen, char *err, size_t errlen)
{
        char why[256];

        *out = NULL;
        if (base64_decode(text, strlen(text), out, outlen, why, sizeof(why)) ==
            -1) {
                errbuf_set(err, errlen,
                           "%s: field \"%s\": not canonical padded base64 "
                           "(%s)",
                           what, name, why);
                return -1;
        }
        if (*outlen < min || *outlen > max) {
                errbuf_set(err, errlen,
                           "%s: field \"%s\": %zu bytes, expected %zu to %zu",
                           what, name, *outlen, min, max);
                free(*out);
                *out = NULL;
                return -1;
        }
        return 0;
}

static int check_b64(const char *what, const char *name, const char *text,
                     size_t min, size_t max, char *err, size_t errlen)
{
        unsigned char *buf = NULL;
        size_t len;

        if (b64_field(what, name, text, min, max, &buf, &len, err, errlen) ==
            -1)
                return -1;
        free(buf);
        return 0;
}

static int check_hex(const char *what, const char *name, const char *s,
                     char *err, size_t errlen)
{
        if (s != NULL && hex_is_lower(s, CRYPTO_SHA256_HEX_LEN))
                return 0;
        errbuf_set(err, errlen, "%s: field \"%s\": not 64 lowercase hex digits",
                   what, name);
        return -1;
}

/* The message of another module without its own "merkle: " prefix. */
static const char *unprefix(const char *msg, const char *prefix)
{
        size_t n = strlen(prefix);

        return strncmp(msg, prefix, n) == 0 ? msg + n : msg;
}

/* The drained OpenSSL error queue, for messages. */
static const char *ssl_reason(char *buf, size_t len)
{
        unsigned long e = ERR_get_error();

        if (e == 0)
                snprintf(buf, len, "no PEM object found");
        else
                ERR_error_string_n(e, buf, len);
        ERR_clear_error();
        return buf;
}

/* ---- keys and certificates ---------------------------------------------- */

/* A TTP public key from SPKI PEM bytes, and its key id. */
static int pem_pubkey(const char *pem, size_t len, struct crypto_key **key,
                      char *key_id, char *err, size_t errlen)
{
        unsigned char *der = NULL;
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        char why[512];
        int derlen, ret = -1;

        *key = NULL;
        ERR_clear_error();
        if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
            (pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
                errbuf_set(err, errlen,
                           "trust: TTP key: not a PEM public key (\"BEGIN "
                           "PUBLIC KEY\"): %s",
                           ssl_reason(why, sizeof(why)));
                goto done;
        }
        if ((derlen = i2d_PUBKEY(pkey, &der)) <= 0) {
                errbuf_set(err, errlen, "trust: TTP key: %s",
                           ssl_reason(why, sizeof(why)));
                goto done;
        }
        if (crypto_pubkey_from_der(der, (size_t)derlen, key, why,
                                   sizeof(why)) == -1 ||
            crypto_key_id(*key, key_id, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "trust: TTP key: %s", why);
                crypto_key_free(*key);
                *key = NULL;
                goto done;
        }
        ret = 0;
done:
        OPENSSL_free(der);
        EVP_PKEY_free(pkey);
        BIO_free(bio);
        return ret;
}

/* The first certificate of PEM bytes, as DER (tsa_cert_clear frees). */
static int pem_cert(const char *pem, size_t len, struct tsa_cert *out,
                    char *err, size_t errlen)
{
        unsigned char *der = NULL;
        X509 *x = NULL;
        BIO *bio = NULL;
        char why[512];
        int derlen, ret = -1;

        memset(out, 0, sizeof(*out));
        ERR_clear_error();
        if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL ||
            (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL ||
            (derlen = i2d_X509(x, &der)) <= 0) {
                errbuf_set(err, errlen,
                           "trust: TSA trust anchor: not a PEM certificate "
                           "(\"BEGIN CERTIFICATE\"): %s",
                           ssl_reason(why, sizeof(why)));
                goto done;
        }
        if ((out->der = malloc((size_t)derlen)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        memcpy(out->der, der, (size_t)derlen);
        out->len = (size_t)derlen;
        ret = 0;
done:
        OPENSSL_free(der);
        X509_free(x);
        BIO_free(bio);
        return ret;
}

/*
 * The public key of DER certificate `c` as a crypto key, if it is a
 * P-256 key (else `*key` NULL, which is no error: a certificate may hold
 * any key), and its key id ("" then).  -1 only when `c` does not parse.
 */
static int cert_key(const struct tsa_cert *c, struct crypto_key **key,
                    char *key_id, char *err, size_t errlen)
{
        const unsigned char *p = c->der;
        unsigned char *spki = NULL;
        X509 *x = NULL;
        char why[256];
        int len, ret = -1;

        *key = NULL;
        key_id[0] = '\0';
        ERR_clear_error();
        if (c->len > INT32_MAX ||
            (x = d2i_X509(NULL, &p, (long)c->len)) == NULL ||
            p != c->der + c->len) {
                errbuf_set(err, errlen, "not a DER certificate: %s",
                           ssl_reason(why, sizeof(why)));
                goto done;
        }
        if ((len = i2d_PUBKEY(X509_get0_pubkey(x), &spki)) > 0 &&
            crypto_pubkey_from_der(spki, (size_t)len, key, NULL, 0) == 0 &&
            crypto_key_id(*key, key_id, NULL, 0) == -1) {
                crypto_key_free(*key);
                *key = NULL;
                key_id[0] = '\0';
        }
        ERR_clear_error();
        ret = 0;
done:
        OPENSSL_free(spki);
        X509_free(x);
        return ret;
}

/* ---- heads -------------------------------------------------------------- */

/* The forms of every field of `head` (also when filled by code). */
static int head_check_forms(const struct bundle_head *h, int need_chain,
                            char *err, size_t errlen)
{
        static const char *what = "tree head";
        char why[128];
        time_t t;

        if (check_hex(what, "log_id", h->log_id, err, errlen) == -1)
                return -1;
        if (h->tree_size > BUNDLE_COUNT_MAX) {
                errbuf_set(err, errlen,
                           "tree head: field \"tree_size\": over 2^53");
                return -1;
        }
        if (check_hex(what, "root_hash", h->root_hash, err, errlen) == -1)
                return -1;
        if (h->time == NULL || ids_time_parse(h->time, &t, why, sizeof(why))) {
                errbuf_set(err, errlen, "tree head: field \"time\": %s",
                           h->time == NULL ? "missing" : why);
                return -1;
        }
        if (h->ttp_sig == NULL || h->timestamp_token == NULL) {
                errbuf_set(err, errlen, "tree head: field \"%s\": missing",
                           h->ttp_sig == NULL ? "ttp_sig" : "timestamp_token");
                return -1;
        }
        if (check_b64(what, "ttp_sig", h->ttp_sig, BUNDLE_SIG_MIN,
                      BUNDLE_SIG_MAX, err, errlen) == -1 ||
            check_b64(what, "timestamp_token", h->timestamp_token, 1,
                      BUNDLE_TOKEN_MAX, err, errlen) == -1)
                return -1;
        if (h->tsa_chain_len > BUNDLE_CHAIN_MAX ||
            (need_chain && h->tsa_chain_len == 0)) {
                errbuf_set(err, errlen,
                           "tree head: field \"tsa_chain\": %zu "
                           "certificates, expected 1 to %d",
                           h->tsa_chain_len, BUNDLE_CHAIN_MAX);
                return -1;
        }
        for (size_t i = 0; i < h->tsa_chain_len; i++) {
                char name[32];

                snprintf(name, sizeof(name), "tsa_chain[%zu]", i);
                if (h->tsa_chain[i] == NULL) {
                        errbuf_set(err, errlen,
                                   "tree head: field \"%s\": missing", name);
                        return -1;
                }
                if (check_b64(what, name, h->tsa_chain[i], 1, BUNDLE_CERT_MAX,
                              err, errlen) == -1)
                        return -1;
        }
        return 0;
}

int bundle_head_from_json(json_t *obj, struct bundle_head *head, char *err,
                          size_t errlen)
{
        static const char *what = "tree head";
        json_t *v, *chain;
        size_t i;

        memset(head, 0, sizeof(*head));
        if (!json_is_object(obj)) {
                errbuf_set(err, errlen, "tree head: must be a JSON object");
                return -1;
        }
        if (check_keys(obj, head_keys, NKEYS(head_keys), what, err, errlen) ==
            -1)
                return -1;
        if ((v = json_object_get(obj, "tds_tree_head")) != NULL &&
            (!json_is_integer(v) || json_integer_value(v) != BUNDLE_VERSION)) {
                errbuf_set(err, errlen,
                           "tree head: field \"tds_tree_head\": must be the "
                           "integer %d",
                           BUNDLE_VERSION);
                return -1;
        }
        if (get_str(obj, "log_id", what, &head->log_id, err, errlen) == -1 ||
            get_count(obj, "tree_size", what, &head->tree_size, err, errlen) ==
                -1 ||
            get_str(obj, "root_hash", what, &head->root_hash, err, errlen) ==
                -1 ||
            get_str(obj, "time", what, &head->time, err, errlen) == -1 ||
            get_str(obj, "ttp_sig", what, &head->ttp_sig, err, errlen) == -1 ||
            get_str(obj, "timestamp_token", what, &head->timestamp_token, err,
                    errlen) == -1)
                goto fail;
        if ((chain = json_object_get(obj, "tsa_chain")) == NULL) {
                errbuf_set(err, errlen,
                           "tree head: missing field \"tsa_chain\"");
                goto fail;
        }
        if (!json_is_array(chain) || json_array_size(chain) == 0 ||
            json_array_size(chain) > BUNDLE_CHAIN_MAX) {
                errbuf_set(err, errlen,
                           "tree head: field \"tsa_chain\": must be an array "
                           "of 1 to %d base64 certificates",
                           BUNDLE_CHAIN_MAX);
                goto fail;
        }
        json_array_foreach(chain, i, v)
        {
                if (!json_is_string(v) ||
                    strlen(json_string_value(v)) != json_string_length(v)) {
                        errbuf_set(err, errlen,
                                   "tree head: field \"tsa_chain[%zu]\": "
                                   "must be a string without NUL",
                                   i);
                        goto fail;
                }
                head->tsa_chain[i] = json_string_value(v);
        }
        head->tsa_chain_len = json_array_size(chain);
        if (head_check_forms(head, 1, err, errlen) == -1)
                goto fail;
        return 0;
fail:
        memset(head, 0, sizeof(*head));
        return -1;
}

json_t *bundle_head_to_json(const struct bundle_head *head, int file, char *err,
                            size_t errlen)
{
        json_t *obj = NULL, *chain = NULL;

        if (head_check_forms(head, 1, err, errlen) == -1)
                return NULL;
        if ((chain = json_array()) == NULL)
                goto nomem;
        for (size_t i = 0; i < head->tsa_chain_len; i++)
                if (json_array_append_new(
                        chain, json_string(head->tsa_chain[i])) == -1)
                        goto nomem;
        if ((obj = json_object()) == NULL ||
            (file && json_object_set_new(obj, "tds_tree_head",
                                         json_integer(BUNDLE_VERSION)) == -1) ||
            json_object_set_new(obj, "log_id", json_string(head->log_id)) ==
                -1 ||
            json_object_set_new(obj, "tree_size",
                                json_integer((json_int_t)head->tree_size)) ==
                -1 ||
            json_object_set_new(obj, "root_hash",
                                json_string(head->root_hash)) == -1 ||
            json_object_set_new(obj, "time", json_string(head->time)) == -1 ||
            json_object_set_new(obj, "ttp_sig", json_string(head->ttp_sig)) ==
                -1 ||
            json_object_set_new(obj, "timestamp_token",
                                json_string(head->timestamp_token)) == -1)
                goto nomem;
        if (json_object_set_new(obj, "tsa_chain", chain) == -1) {
                chain = NULL;
                goto nomem;
        }
        return obj;
nomem:
        json_decref(chain);
        json_decref(obj);
        errbuf_set(err, errlen, "out of memory");
        return NULL;
}

/* The head's TBS and its SHA-256. */
static int head_tbs(const struct bundle_head *h, char **tbs, size_t *tbslen,
                    unsigned char digest[CRYPTO_SHA256_LEN], char *err,
                    size_t errlen)
{
        char size[24], why[256];

        snprintf(size, sizeof(size), "%" PRIu64, h->tree_size);
        if (tbs_tree_head(
                &(struct tbs_tree_head){h->log_id, size, h->root_hash, h->time},
                tbs, tbslen, why, sizeof(why)) == -1 ||
            crypto_sha256(*tbs, *tbslen, digest, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "tree head: building the TBS: %s", why);
                free(*tbs);
                *tbs = NULL;
                return -1;
        }
        return 0;
}

/* The decoded certificates of a head's chain. */
struct chain {
        struct tsa_cert cert[BUNDLE_CHAIN_MAX];
        size_t n;
};

static void chain_fini(struct chain *c)
{
        for (size_t i = 0; i < c->n; i++)
                tsa_cert_clear(&c->cert[i]);
        c->n = 0;
}

static int chain_decode(const struct bundle_head *h, struct chain *c, char *err,
                        size_t errlen)
{
        char name[32];

        memset(c, 0, sizeof(*c));
        for (size_t i = 0; i < h->tsa_chain_len; i++) {
                snprintf(name, sizeof(name), "tsa_chain[%zu]", i);
                if (b64_field("tree head", name, h->tsa_chain[i], 1,
                              BUNDLE_CERT_MAX, &c->cert[i].der, &c->cert[i].len,
                              err, errlen) == -1) {
                        chain_fini(c);
                        return -1;
                }
                c->n++;
        }
        return 0;
}

/*
 * The TTP key of a head that neither the trust nor evidence gives: the
 * certificate of its chain that holds the key log_id names.
 */
static int chain_find_key(const struct chain *c, const char *log_id,
                          struct crypto_key **key, char *err, size_t errlen)
{
        char id[CRYPTO_KEY_ID_LEN + 1], why[256];

        for (size_t i = 0; i < c->n; i++) {
                if (cert_key(&c->cert[i], key, id, why, sizeof(why)) == -1) {
                        errbuf_set(err, errlen,
                                   "tree head: field \"tsa_chain[%zu]\": %s", i,
                                   why);
                        return -1;
                }
                if (*key != NULL && strcmp(id, log_id) == 0)
                        return 0;
                crypto_key_free(*key);
                *key = NULL;
        }
        errbuf_set(err, errlen,
                   "tree head: cannot check ttp_sig: no TTP key was given "
                   "and no certificate of tsa_chain holds the key log_id %s "
                   "names (pass the TTP's public key)",
                   log_id);
        return -1;
}

/*
 * bundle_head_verify with the TTP key already chosen: `ttp_key` (id
 * `ttp_id`, equal to log_id as the caller checked) or NULL to take it
 * from the chain.
 */
static int head_verify(const struct bundle_head *h,
                       const struct crypto_key *ttp_key,
                       const struct bundle_trust *trust,
                       struct bundle_verdict *verdict, char *err, size_t errlen)
{
        unsigned char digest[CRYPTO_SHA256_LEN], imprint[CRYPTO_SHA256_LEN];
        unsigned char *sig = NULL, *token = NULL;
        size_t tbslen, siglen, token_len, n_inter;
        struct crypto_key *found = NULL, *anchor_key = NULL;
        const struct tsa_cert *root, *inter;
        struct tsa_cert trust_root = {NULL, 0};
        char anchor_id[CRYPTO_KEY_ID_LEN + 1], why[1024];
        char t1[IDS_TIME_LEN + 1];
        time_t head_time, gen_time;
        struct chain c = {0};
        char *tbs = NULL;
        int has_root = trust != NULL && trust->tsa_root_pem != NULL;
        int ret = -1;

        if (head_check_forms(h, !has_root, err, errlen) == -1 ||
            chain_decode(h, &c, err, errlen) == -1)
                goto done;
        if (ttp_key == NULL) {
                if (chain_find_key(&c, h->log_id, &found, err, errlen) == -1)
                        goto done;
                ttp_key = found;
        }

        /* The TTP's signature over the head. */
        if (head_tbs(h, &tbs, &tbslen, digest, err, errlen) == -1 ||
            b64_field("tree head", "ttp_sig", h->ttp_sig, BUNDLE_SIG_MIN,
                      BUNDLE_SIG_MAX, &sig, &siglen, err, errlen) == -1)
                goto done;
        if (crypto_verify(ttp_key, tbs, tbslen, sig, siglen, why,
                          sizeof(why)) == -1) {
                errbuf_set(err, errlen,
                           "tree head: ttp_sig does not verify under the TTP "
                           "key (key id %s): %s",
                           h->log_id, why);
                goto done;
        }

        /* The trust anchor of the token, and the untrusted helpers. */
        if (has_root) {
                if (pem_cert(trust->tsa_root_pem, trust->tsa_root_pem_len,
                             &trust_root, err, errlen) == -1)
                        goto done;
                root = &trust_root;
                inter = c.cert;
                n_inter = c.n;
        } else {
                root = &c.cert[c.n - 1];
                inter = c.cert;
                n_inter = c.n - 1;
                /* The TTP is its own CA: the anchor must hold its key. */
                if (cert_key(root, &anchor_key, anchor_id, why, sizeof(why)) ==
                    -1) {
                        errbuf_set(err, errlen,
                                   "tree head: field \"tsa_chain[%zu]\": %s",
                                   c.n - 1, why);
                        goto done;
                }
                if (anchor_key == NULL || strcmp(anchor_id, h->log_id) != 0) {
                        errbuf_set(err, errlen,
                                   "timestamp token: the TSA chain ends at a "
                                   "certificate whose key (key id %s) is not "
                                   "the TTP's (%s): the TSA does not chain "
                                   "to the TTP",
                                   anchor_key == NULL ? "not P-256" : anchor_id,
                                   h->log_id);
                        goto done;
                }
        }

        /* The token: over this head, then signed, chained, at genTime. */
        if (b64_field("tree head", "timestamp_token", h->timestamp_token, 1,
                      BUNDLE_TOKEN_MAX, &token, &token_len, err, errlen) == -1)
                goto done;
        if (tsa_token_info(token, token_len, NULL, NULL, imprint, why,
                           sizeof(why)) == -1) {
                errbuf_set(err, errlen,
                           "timestamp token: not an RFC 3161 token: %s", why);
                goto done;
        }
        if (memcmp(imprint, digest, sizeof(digest)) != 0) {
                char have[CRYPTO_SHA256_HEX_LEN + 1];
                char want[CRYPTO_SHA256_HEX_LEN + 1];

                hex_encode(imprint, sizeof(imprint), have, sizeof(have));
                hex_encode(digest, sizeof(digest), want, sizeof(want));
                errbuf_set(err, errlen,
                           "timestamp token: message imprint does not match "
                           "the tree head (the token stamps %s, the head's "
                           "TBS hashes to %s)",
                           have, want);
                goto done;
        }
        if (tsa_verify(token, token_len, digest, root, inter, n_inter,
                       &gen_time, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "timestamp token: %s", why);
                goto done;
        }
        if (ids_time_parse(h->time, &head_time, NULL, 0) == -1)
                goto done; /* the forms check parsed it already */
        if (gen_time > head_time + BUNDLE_SKEW ||
            gen_time < head_time - BUNDLE_SKEW) {
                if (ids_time_format(gen_time, t1, NULL, 0) == -1)
                        snprintf(t1, sizeof(t1), "(out of range)");
                errbuf_set(err, errlen,
                           "timestamp token: genTime %s is %lld seconds from "
                           "the head's time %s (more than 5 minutes)",
                           t1, (long long)(gen_time - head_time), h->time);
                goto done;
        }
        if (verdict != NULL) {
                verdict->stamped_at = gen_time;
                verdict->tree_size = h->tree_size;
                snprintf(verdict->ttp_key_id, sizeof(verdict->ttp_key_id), "%s",
                         h->log_id);
        }
        ret = 0;
done:
        free(tbs);
        free(sig);
        free(token);
        tsa_cert_clear(&trust_root);
        chain_fini(&c);
        crypto_key_free(found);
        crypto_key_free(anchor_key);
        return ret;
}

/*
 * The pin of `trust`: the PEM key (`*key`, caller frees) and its id, or
 * only the id, or nothing ("" in `pin`).
 */
static int trust_pin(const struct bundle_trust *trust, struct crypto_key **key,
                     char *pin, char *err, size_t errlen)
{
        *key = NULL;
        pin[0] = '\0';
        if (trust == NULL)
                return 0;
        if (trust->ttp_key_pem != NULL)
                return pem_pubkey(trust->ttp_key_pem, trust->ttp_key_pem_len,
                                  key, pin, err, errlen);
        if (trust->ttp_key_id != NULL) {
                if (!hex_is_lower(trust->ttp_key_id, CRYPTO_KEY_ID_LEN)) {
                        errbuf_set(err, errlen,
                                   "trust: the TTP key id is not 64 "
                                   "lowercase hex digits");
                        return -1;
                }
                snprintf(pin, CRYPTO_KEY_ID_LEN + 1, "%s", trust->ttp_key_id);
        }
        return 0;
}

int bundle_head_verify(const struct bundle_head *head,
                       const struct bundle_trust *trust,
                       struct bundle_verdict *verdict, char *err, size_t errlen)
{
        char pin[CRYPTO_KEY_ID_LEN + 1];
        struct crypto_key *key = NULL;
        int ret = -1;

        if (verdict != NULL)
                memset(verdict, 0, sizeof(*verdict));
        if (trust_pin(trust, &key, pin, err, errlen) == -1)
                goto done;
        if (check_hex("tree head", "log_id", head->log_id, err, errlen) == -1)
                goto done;
        if (pin[0] != '\0' && strcmp(pin, head->log_id) != 0) {
                errbuf_set(err, errlen,
                           "tree head: signed by another TTP than the pinned "
                           "one (log_id %s, the pinned TTP key id is %s)",
                           head->log_id, pin);
                goto done;
        }
        if (head_verify(head, key, trust, verdict, err, errlen) == -1)
                goto done;
        if (verdict != NULL)
                verdict->ttp_key_pinned = pin[0] != '\0';
        ret = 0;
done:
        crypto_key_free(key);
        return ret;
}

/* ---- leaves and bundles ------------------------------------------------- */

/*
 * The key of base64 SPKI `b64` (into `*key` when not NULL, caller frees)
 * and its key id ("" for an empty `b64`).
 */
static int b64_key(const char *field, const char *b64, struct crypto_key **key,
                   char *id, char *err, size_t errlen)
{
        struct crypto_key *k = NULL;
        unsigned char *der = NULL;
        size_t derlen;
        char why[256];
        int ret = -1;

        id[0] = '\0';
        if (key != NULL)
                *key = NULL;
        if (b64 == NULL || b64[0] == '\0')
                return 0;
        if (base64_decode(b64, strlen(b64), &der, &derlen, why, sizeof(why)) ==
                -1 ||
            crypto_pubkey_from_der(der, derlen, &k, why, sizeof(why)) == -1 ||
            crypto_key_id(k, id, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "evidence: %s: %s", field, why);
                goto done;
        }
        if (key != NULL) {
                *key = k;
                k = NULL;
        }
        ret = 0;
done:
        crypto_key_free(k);
        free(der);
        return ret;
}

int bundle_leaf(const struct evidence *ev, char **leaf, size_t *leaf_len,
                merkle_hash leaf_hash, char *err, size_t errlen)
{
        char a_id[CRYPTO_KEY_ID_LEN + 1], b_id[CRYPTO_KEY_ID_LEN + 1];
        char sig_sha[CRYPTO_SHA256_HEX_LEN + 1], size[24], why[256];
        int exchange = ev->kind == EVIDENCE_EXCHANGE;
        unsigned char *sig = NULL;
        char *tbs = NULL;
        size_t siglen, tbslen;
        int ret = -1;

        if (leaf != NULL)
                *leaf = NULL;
        if (ev->kind != EVIDENCE_UPLOAD && !exchange) {
                errbuf_set(err, errlen, "evidence: unknown kind %d",
                           (int)ev->kind);
                goto done;
        }
        if (b64_key("uploader_public_key", ev->uploader_public_key, NULL, a_id,
                    err, errlen) == -1 ||
            (exchange &&
             b64_key("downloader_public_key", ev->downloader_public_key, NULL,
                     b_id, err, errlen) == -1))
                goto done;
        if (!exchange)
                b_id[0] = '\0';
        if (ev->ttp_sig == NULL ||
            base64_decode(ev->ttp_sig, strlen(ev->ttp_sig), &sig, &siglen, why,
                          sizeof(why)) == -1) {
                errbuf_set(err, errlen, "evidence: ttp_sig: %s",
                           ev->ttp_sig == NULL ? "missing" : why);
                goto done;
        }
        if (crypto_sha256_hex(sig, siglen, sig_sha, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "evidence: hashing ttp_sig: %s", why);
                goto done;
        }
        snprintf(size, sizeof(size), "%" PRIu64, ev->size);
        /* The fields the TTP's log_leaf() gives each event (ttp/engine.c). */
        if (tbs_leaf(
                &(struct tbs_leaf){
                    exchange ? "exchange" : "upload", ev->file_id, ev->uploader,
                    a_id, exchange ? ev->downloader : "", b_id, ev->sha256,
                    size, ev->upload_nonce, exchange ? ev->download_nonce : "",
                    ev->nro_sha256, exchange ? ev->nrr_sha256 : "", "",
                    ev->time, sig_sha},
                &tbs, &tbslen, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "evidence: building the leaf: %s", why);
                goto done;
        }
        merkle_leaf_hash(tbs, tbslen, leaf_hash);
        if (leaf != NULL) {
                *leaf = tbs;
                tbs = NULL;
        }
        if (leaf_len != NULL)
                *leaf_len = tbslen;
        ret = 0;
done:
        free(tbs);
        free(sig);
        return ret;
}

int bundle_proof_from_json(json_t *arr, const char *what, merkle_hash *proof,
                           size_t *len, char *err, size_t errlen)
{
        json_t *v;
        size_t i, n;

        *len = 0;
        if (!json_is_array(arr) || json_array_size(arr) > MERKLE_MAX_PROOF) {
                errbuf_set(err, errlen,
                           "%s: must be an array of at most %d hashes", what,
                           MERKLE_MAX_PROOF);
                return -1;
        }
        json_array_foreach(arr, i, v)
        {
                const char *s = json_string_value(v);

                if (s == NULL ||
                    json_string_length(v) != CRYPTO_SHA256_HEX_LEN ||
                    !hex_is_lower(s, CRYPTO_SHA256_HEX_LEN) ||
                    hex_decode(s, CRYPTO_SHA256_HEX_LEN, HEX_LOWER_ONLY,
                               proof[i], MERKLE_HASH_LEN, &n, NULL, 0) == -1 ||
                    n != MERKLE_HASH_LEN) {
                        errbuf_set(err, errlen,
                                   "%s: hash %zu is not 64 lowercase hex "
                                   "digits",
                                   what, i);
                        return -1;
                }
        }
        *len = json_array_size(arr);
        return 0;
}

/* The length of the inclusion proof of leaf `index` of `size` (RFC 9162). */
static size_t inclusion_len(uint64_t index, uint64_t size)
{
        uint64_t fn = index, sn = size - 1;
        size_t n = 0;

        while (sn != 0) {
                if ((fn & 1) == 1 || fn == sn) {
                        if ((fn & 1) == 0)
                                while ((fn & 1) == 0 && fn != 0) {
                                        fn >>= 1;
                                        sn >>= 1;
                                }
                }
                fn >>= 1;
                sn >>= 1;
                n++;
        }
        return n;
}

/* The inclusion of the leaf of `ev` at `index` under the head's root. */
static int check_inclusion(const struct evidence *ev, uint64_t index,
                           const merkle_hash *proof, size_t len,
                           const struct bundle_head *h, char *err,
                           size_t errlen)
{
        merkle_hash leaf_hash, root;
        char why[512];
        size_t n;

        if (bundle_leaf(ev, NULL, NULL, leaf_hash, err, errlen) == -1)
                return -1;
        if (index >= h->tree_size) {
                errbuf_set(err, errlen,
                           "inclusion proof: leaf_index %" PRIu64
                           " is not below the head's tree_size %" PRIu64,
                           index, h->tree_size);
                return -1;
        }
        if ((n = inclusion_len(index, h->tree_size)) != len) {
                errbuf_set(err, errlen,
                           "inclusion proof: %zu hashes, but leaf %" PRIu64
                           " of a tree of %" PRIu64 " needs %zu",
                           len, index, h->tree_size, n);
                return -1;
        }
        if (hex_decode(h->root_hash, CRYPTO_SHA256_HEX_LEN, HEX_LOWER_ONLY,
                       root, sizeof(root), &n, NULL, 0) == -1)
                return -1; /* forms checked */
        if (merkle_verify_inclusion(index, h->tree_size, leaf_hash, proof, len,
                                    root, why, sizeof(why)) == -1) {
                /* The length is right (above): only the root can differ. */
                errbuf_set(err, errlen,
                           "inclusion proof: root mismatch: the leaf rebuilt "
                           "from the evidence, at index %" PRIu64
                           ", and this proof do not lead to the head's "
                           "root_hash",
                           index);
                return -1;
        }
        return 0;
}

int bundle_from_json(json_t *obj, struct bundle *b, char *err, size_t errlen)
{
        static const char *what = "bundle";
        char why[1024];
        json_t *val;

        memset(b, 0, sizeof(*b));
        if (!json_is_object(obj)) {
                errbuf_set(err, errlen, "bundle: must be a JSON object");
                goto fail;
        }
        if (check_keys(obj, bundle_keys, NKEYS(bundle_keys), what, err,
                       errlen) == -1)
                goto fail;
        for (size_t i = 0; i < NKEYS(bundle_keys); i++)
                if (json_object_get(obj, bundle_keys[i]) == NULL) {
                        errbuf_set(err, errlen, "bundle: missing field \"%s\"",
                                   bundle_keys[i]);
                        goto fail;
                }
        val = json_object_get(obj, "tds_bundle");
        if (!json_is_integer(val) ||
            json_integer_value(val) != BUNDLE_VERSION) {
                errbuf_set(err, errlen,
                           "bundle: field \"tds_bundle\": must be the "
                           "integer %d",
                           BUNDLE_VERSION);
                goto fail;
        }
        if (evidence_from_json(json_object_get(obj, "evidence"), &b->ev, why,
                               sizeof(why)) == -1) {
                errbuf_set(err, errlen, "evidence: %s", why);
                goto fail;
        }
        if (get_count(obj, "leaf_index", what, &b->leaf_index, err, errlen) ==
                -1 ||
            bundle_proof_from_json(json_object_get(obj, "inclusion_proof"),
                                   "inclusion proof", b->proof, &b->proof_len,
                                   err, errlen) == -1)
                goto fail;
        val = json_object_get(obj, "tree_head");
        if (json_is_object(val) &&
            json_object_get(val, "tds_tree_head") != NULL) {
                errbuf_set(err, errlen,
                           "tree head: unknown field \"tds_tree_head\" (a "
                           "head inside a bundle has none)");
                goto fail;
        }
        if (bundle_head_from_json(val, &b->head, err, errlen) == -1)
                goto fail;
        return 0;
fail:
        memset(b, 0, sizeof(*b));
        return -1;
}

int bundle_verify(json_t *obj, const struct bundle_trust *trust,
                  const char *doc_path, struct bundle_verdict *verdict,
                  char *err, size_t errlen)
{
        char pin[CRYPTO_KEY_ID_LEN + 1], ev_ttp_id[CRYPTO_KEY_ID_LEN + 1];
        char why[1024], t1[IDS_TIME_LEN + 1];
        struct crypto_key *pinned = NULL, *ev_ttp = NULL;
        struct bundle_verdict v;
        struct bundle *b = NULL;
        time_t ev_time;
        int ret = -1;

        memset(&v, 0, sizeof(v));
        if (verdict != NULL)
                memset(verdict, 0, sizeof(*verdict));
        /* About 4 KiB of proof: not for the stack of every caller. */
        if ((b = malloc(sizeof(*b))) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        if (bundle_from_json(obj, b, err, errlen) == -1)
                goto done;

        /* The evidence, against the pin if there is one. */
        if (trust_pin(trust, &pinned, pin, err, errlen) == -1)
                goto done;
        if (evidence_verify(&b->ev, pin[0] != '\0' ? pin : NULL, doc_path, why,
                            sizeof(why)) == -1) {
                errbuf_set(err, errlen, "evidence: %s", why);
                goto done;
        }

        /* The head: by the evidence's TTP, signed and time-stamped. */
        if (b64_key("ttp_public_key", b->ev.ttp_public_key, &ev_ttp, ev_ttp_id,
                    err, errlen) == -1)
                goto done;
        if (check_hex("tree head", "log_id", b->head.log_id, err, errlen) == -1)
                goto done;
        if (strcmp(b->head.log_id, ev_ttp_id) != 0) {
                errbuf_set(err, errlen,
                           "tree head: signed by another TTP than the "
                           "evidence (log_id %s, the evidence's TTP key id "
                           "is %s)",
                           b->head.log_id, ev_ttp_id);
                goto done;
        }
        if (head_verify(&b->head, ev_ttp, trust, &v, err, errlen) == -1)
                goto done;

        /* The leaf, rebuilt from the evidence, under the head's root. */
        if (check_inclusion(&b->ev, b->leaf_index, b->proof, b->proof_len,
                            &b->head, err, errlen) == -1)
                goto done;

        /* The log stamped the head after the event, not before. */
        if (ids_time_parse(b->ev.time, &ev_time, NULL, 0) == -1)
                goto done; /* forms checked */
        if (ev_time > v.stamped_at + BUNDLE_SKEW) {
                if (ids_time_format(v.stamped_at, t1, NULL, 0) == -1)
                        snprintf(t1, sizeof(t1), "(out of range)");
                errbuf_set(err, errlen,
                           "evidence: time %s is after the timestamp token's "
                           "genTime %s: the head that holds the evidence was "
                           "time-stamped before the time the evidence claims",
                           b->ev.time, t1);
                goto done;
        }
        v.leaf_index = b->leaf_index;
        v.ttp_key_pinned = pin[0] != '\0';
        if (verdict != NULL)
                *verdict = v;
        ret = 0;
done:
        free(b);
        crypto_key_free(pinned);
        crypto_key_free(ev_ttp);
        return ret;
}

json_t *bundle_to_json(const struct evidence *ev, uint64_t leaf_index,
                       const merkle_hash *proof, size_t proof_len,
                       const struct bundle_head *head, char *err, size_t errlen)
{
        json_t *obj = NULL, *evj = NULL, *headj = NULL, *arr = NULL;
        char hex[2 * MERKLE_HASH_LEN + 1];

        if (proof_len > MERKLE_MAX_PROOF || leaf_index > BUNDLE_COUNT_MAX) {
                errbuf_set(err, errlen,
                           "bundle: proof over %d hashes or index over 2^53",
                           MERKLE_MAX_PROOF);
                return NULL;
        }
        if ((evj = evidence_to_json(ev, err, errlen)) == NULL ||
            (headj = bundle_head_to_json(head, 0, err, errlen)) == NULL)
                goto fail;
        if ((arr = json_array()) == NULL)
                goto nomem;
        for (size_t i = 0; i < proof_len; i++) {
                hex_encode(proof[i], MERKLE_HASH_LEN, hex, sizeof(hex));
                if (json_array_append_new(arr, json_string(hex)) == -1)
                        goto nomem;
        }
        obj =
            json_pack("{s:i, s:o, s:I, s:o, s:o}", "tds_bundle", BUNDLE_VERSION,
                      "evidence", evj, "leaf_index", (json_int_t)leaf_index,
                      "inclusion_proof", arr, "tree_head", headj);
        /* json_pack's "o" steals even on failure. */
        evj = headj = arr = NULL;
        if (obj == NULL)
                goto nomem;
        return obj;
nomem:
        errbuf_set(err, errlen, "out of memory");
fail:
        json_decref(evj);
        json_decref(headj);
        json_decref(arr);
        return NULL;
}

int bundle_heads_consistent(const struct bundle_head *old_head,
                            const struct bundle_head *new_head,
                            const merkle_hash *proof, size_t proof_len,
                            const struct bundle_trust *trust, char *err,
                            size_t errlen)
{
        merkle_hash r1, r2;
        char why[1024];
        size_t n;

        if (bundle_head_verify(old_head, trust, NULL, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "old head: %s", why);
                return -1;
        }
        if (bundle_head_verify(new_head, trust, NULL, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "new head: %s", why);
                return -1;
        }
        if (strcmp(old_head->log_id, new_head->log_id) != 0) {
                errbuf_set(err, errlen,
                           "the heads are of two different logs (log_id %s "
                           "and %s)",
                           old_head->log_id, new_head->log_id);
                return -1;
        }
        if (old_head->tree_size > new_head->tree_size) {
                errbuf_set(err, errlen,
                           "the old head has more leaves (%" PRIu64
                           ") than the new one (%" PRIu64 ")",
                           old_head->tree_size, new_head->tree_size);
                return -1;
        }
        if (hex_decode(old_head->root_hash, CRYPTO_SHA256_HEX_LEN,
                       HEX_LOWER_ONLY, r1, sizeof(r1), &n, NULL, 0) == -1 ||
            hex_decode(new_head->root_hash, CRYPTO_SHA256_HEX_LEN,
                       HEX_LOWER_ONLY, r2, sizeof(r2), &n, NULL, 0) == -1)
                return -1; /* forms checked */
        if (old_head->tree_size == new_head->tree_size &&
            memcmp(r1, r2, sizeof(r1)) != 0) {
                errbuf_set(err, errlen,
                           "consistency: two signed heads of %" PRIu64
                           " leaves with different roots (%s and %s): the "
                           "log's history was rewritten",
                           old_head->tree_size, old_head->root_hash,
                           new_head->root_hash);
                return -1;
        }
        if (merkle_verify_consistency(old_head->tree_size, new_head->tree_size,
                                      r1, r2, proof, proof_len, why,
                                      sizeof(why)) == -1) {
                errbuf_set(err, errlen,
                           "consistency proof: %s: the tree of %" PRIu64
                           " leaves is not shown to be a prefix of the tree "
                           "of %" PRIu64 " (the log's history was rewritten, "
                           "or the proof is wrong)",
                           unprefix(why, "merkle: "), old_head->tree_size,
                           new_head->tree_size);
                return -1;
        }
        return 0;
}

/* ---- files -------------------------------------------------------------- */

int bundle_json_load(const char *path, json_t **root, char *err, size_t errlen)
{
        json_error_t jerr;
        struct stat st;
        char *buf = NULL;
        size_t got = 0;
        ssize_t n;
        int fd = -1, ret = -1;

        *root = NULL;
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
            fstat(fd, &st) == -1) {
                errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                errbuf_set(err, errlen, "%s: not a regular file", path);
                goto done;
        }
        if (st.st_size > BUNDLE_FILE_MAX) {
                errbuf_set(err, errlen,
                           "%s: %lld bytes, too large for an evidence, bundle "
                           "or head file (at most %d)",
                           path, (long long)st.st_size, BUNDLE_FILE_MAX);
                goto done;
        }
        if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
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
        if ((*root = json_loadb(buf, got, JSON_REJECT_DUPLICATES, &jerr)) ==
            NULL) {
                errbuf_set(err, errlen,
                           "%s: not valid JSON: line %d column %d: %s", path,
                           jerr.line, jerr.column, jerr.text);
                goto done;
        }
        ret = 0;
done:
        if (fd != -1)
                close(fd);
        free(buf);
        return ret;
}

int bundle_json_save(json_t *obj, const char *path, char *err, size_t errlen)
{
        char *text = NULL, *file = NULL;
        size_t len;
        int ret = -1;

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
        return ret;
}

/*
 * corpus: the dispute corpus (corpus.h).  Everything is made here the way
 * the daemon makes it; the tamperings are applied afterwards, to the
 * JSON, or by signing on purpose something the daemon never would.
 */
#include "corpus.h"

#include "base64.h"
#include "bundle.h"
#include "crypto.h"
#include "evidence.h"
#include "hex.h"
#include "ids.h"
#include "merkle.h"
#include "tbs.h"
#include "tsa.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define DOC_M    "The document M: the contract as signed, version 3.\n"
#define DOC_N    "The document N: the contract as B read it, vers 2.\n"
#define FILE_ID  "contract-2026.pdf"
#define TREE_MAX 16

/* ---- failure ------------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        fprintf(stderr, "corpus: ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
        exit(1);
}

/* A libtds call that must succeed; `err` holds its reason. */
#define MUST(call)                                                             \
        do {                                                                   \
                if ((call) != 0)                                               \
                        die("%s:%d: %s: %s", __FILE__, __LINE__, #call, err);  \
        } while (0)
#define MUST_PTR(p)                                                            \
        do {                                                                   \
                if ((p) == NULL)                                               \
                        die("%s:%d: %s is NULL: %s", __FILE__, __LINE__, #p,   \
                            err);                                              \
        } while (0)

static char err[2048];

/* ---- the world ---------------------------------------------------------- */

struct party {
        struct crypto_key *key;
        char *pub; /* base64 SPKI DER */
        char id[CRYPTO_KEY_ID_LEN + 1];
};

/* A TTP's log: its key, its CA certificate, its TSA. */
struct log {
        struct party ttp;
        struct crypto_key *tsa_key;
        struct tsa_cert ca, tsa;
        struct tsa_signer *signer;
        char *chain[2]; /* base64: the TSA's certificate, the CA's */
};

static struct world {
        struct party a, b, c;
        struct log log, log2, rogue; /* rogue: a CA that is no TTP */
        char sha_m[CRYPTO_SHA256_HEX_LEN + 1], sha_n[CRYPTO_SHA256_HEX_LEN + 1];
        char *upload_nonce, *download_nonce, *nonce_alt;
        time_t now;
        char t_event[IDS_TIME_LEN + 1], t_head[IDS_TIME_LEN + 1];
        uint64_t serial;
} w;

static char *b64(const unsigned char *buf, size_t len)
{
        char *s = base64_encode(buf, len);

        if (s == NULL)
                die("out of memory");
        return s;
}

static void party_new(struct party *p)
{
        unsigned char *der = NULL;
        size_t len;

        MUST(crypto_key_generate(&p->key, err, sizeof(err)));
        MUST(crypto_pubkey_to_der(p->key, &der, &len, err, sizeof(err)));
        p->pub = b64(der, len);
        MUST(crypto_key_id(p->key, p->id, err, sizeof(err)));
        free(der);
}

static void party_free(struct party *p)
{
        crypto_key_free(p->key);
        free(p->pub);
}

static void log_new(struct log *l, const char *ca_cn)
{
        party_new(&l->ttp);
        MUST(crypto_key_generate(&l->tsa_key, err, sizeof(err)));
        MUST(tsa_ca_cert_create(l->ttp.key, ca_cn, 3660, &l->ca, err,
                                sizeof(err)));
        MUST(tsa_cert_issue(l->ttp.key, &l->ca, l->tsa_key, "TDS TSA", 3660,
                            &l->tsa, err, sizeof(err)));
        MUST(tsa_signer_new(l->tsa_key, &l->tsa, &l->signer, err, sizeof(err)));
        l->chain[0] = b64(l->tsa.der, l->tsa.len);
        l->chain[1] = b64(l->ca.der, l->ca.len);
}

static void log_free(struct log *l)
{
        party_free(&l->ttp);
        crypto_key_free(l->tsa_key);
        tsa_cert_clear(&l->ca);
        tsa_cert_clear(&l->tsa);
        tsa_signer_free(l->signer);
        free(l->chain[0]);
        free(l->chain[1]);
}

static char *random_b64(size_t n)
{
        unsigned char buf[512];

        if (n > sizeof(buf))
                die("random_b64: %zu bytes", n);
        MUST(crypto_random(buf, n, err, sizeof(err)));
        return b64(buf, n);
}

static void random_hex(char out[CRYPTO_SHA256_HEX_LEN + 1])
{
        unsigned char buf[32];

        MUST(crypto_random(buf, sizeof(buf), err, sizeof(err)));
        hex_encode(buf, sizeof(buf), out, CRYPTO_SHA256_HEX_LEN + 1);
}

static void time_str(time_t t, char out[IDS_TIME_LEN + 1])
{
        MUST(ids_time_format(t, out, err, sizeof(err)));
}

/* ---- evidence, as the protocol makes it --------------------------------- */

struct ev_spec {
        enum evidence_kind kind;
        const char *uploader, *downloader, *sha256, *time;
        uint64_t size;
        const char *upload_nonce, *download_nonce;
        const struct crypto_key *nro_signer, *nrr_signer, *ttp_signer;
        const char *a_pub, *b_pub, *ttp_pub;
        const char *nrr_over_nro_sha256; /* NULL: the real nro_sha256 */
};

static void spec_honest(struct ev_spec *s, enum evidence_kind kind)
{
        int x = kind == EVIDENCE_EXCHANGE;

        *s = (struct ev_spec){kind,
                              "alice",
                              x ? "bob" : "",
                              w.sha_m,
                              w.t_event,
                              sizeof(DOC_M) - 1,
                              w.upload_nonce,
                              x ? w.download_nonce : "",
                              w.a.key,
                              w.b.key,
                              w.log.ttp.key,
                              w.a.pub,
                              x ? w.b.pub : "",
                              w.log.ttp.pub,
                              NULL};
}

/* Sign `tbs` with `key`: the base64 signature and its SHA-256 hex. */
static char *sign(const struct crypto_key *key, const char *tbs, size_t len,
                  char sha[CRYPTO_SHA256_HEX_LEN + 1])
{
        unsigned char *sig = NULL;
        size_t siglen;
        char *s;

        MUST(crypto_sign(key, tbs, len, &sig, &siglen, err, sizeof(err)));
        if (sha != NULL)
                MUST(crypto_sha256_hex(sig, siglen, sha, err, sizeof(err)));
        s = b64(sig, siglen);
        free(sig);
        return s;
}

static json_t *ev_build(const struct ev_spec *s)
{
        char size[24], nro_sha[65], nrr_sha[65] = "";
        char *tbs = NULL, *nro, *nrr = NULL, *ttp_sig;
        int x = s->kind == EVIDENCE_EXCHANGE;
        struct evidence ev;
        size_t len;
        json_t *obj;

        snprintf(size, sizeof(size), "%" PRIu64, s->size);
        MUST(tbs_nro(&(struct tbs_nro){FILE_ID, s->uploader, s->sha256, size,
                                       s->upload_nonce},
                     &tbs, &len, err, sizeof(err)));
        nro = sign(s->nro_signer, tbs, len, nro_sha);
        free(tbs);
        if (x) {
                MUST(
                    tbs_nrr(&(struct tbs_nrr){FILE_ID, s->downloader, s->sha256,
                                              s->nrr_over_nro_sha256 != NULL
                                                  ? s->nrr_over_nro_sha256
                                                  : nro_sha,
                                              s->download_nonce},
                            &tbs, &len, err, sizeof(err)));
                nrr = sign(s->nrr_signer, tbs, len, nrr_sha);
                free(tbs);
        }
        MUST(tbs_evidence(&(struct tbs_evidence){x ? "exchange" : "upload",
                                                 FILE_ID, s->uploader,
                                                 x ? s->downloader : NULL,
                                                 s->sha256, nro_sha,
                                                 x ? nrr_sha : NULL, s->time},
                          &tbs, &len, err, sizeof(err)));
        ttp_sig = sign(s->ttp_signer, tbs, len, NULL);
        free(tbs);
        ev = (struct evidence){s->kind,     FILE_ID,         "contract.pdf",
                               s->uploader, s->downloader,   s->sha256,
                               s->size,     s->upload_nonce, s->download_nonce,
                               nro,         nro_sha,         x ? nrr : "",
                               nrr_sha,     s->a_pub,        s->b_pub,
                               s->ttp_pub,  s->time,         ttp_sig};
        obj = evidence_to_json(&ev, err, sizeof(err));
        MUST_PTR(obj);
        free(nro);
        free(nrr);
        free(ttp_sig);
        return obj;
}

static void ev_leaf(json_t *evj, merkle_hash out)
{
        struct evidence ev;

        MUST(evidence_from_json(evj, &ev, err, sizeof(err)));
        MUST(bundle_leaf(&ev, NULL, NULL, out, err, sizeof(err)));
}

/* ---- trees -------------------------------------------------------------- */

struct tree {
        merkle_hash leaf[TREE_MAX];
        size_t n;
};

/* Node (level, index) computed from the leaves: a store of every node. */
static int tree_node(void *ctx, unsigned level, uint64_t index, merkle_hash out,
                     char *e, size_t elen)
{
        const struct tree *t = ctx;
        merkle_hash l, r;

        if (level == 0) {
                if (index >= t->n) {
                        snprintf(e, elen, "no leaf %" PRIu64, index);
                        return -1;
                }
                memcpy(out, t->leaf[index], MERKLE_HASH_LEN);
                return 0;
        }
        if (tree_node(ctx, level - 1, 2 * index, l, e, elen) == -1 ||
            tree_node(ctx, level - 1, 2 * index + 1, r, e, elen) == -1)
                return -1;
        merkle_node_hash(l, r, out);
        return 0;
}

/* Other events of the log around the evidence: uploads and aborts. */
static void filler_leaf(size_t i, merkle_hash out)
{
        char kid[65], sha[65], nro[65], sig[65], fid[32], *nonce, *tbs = NULL;
        size_t len;

        random_hex(kid);
        random_hex(sha);
        random_hex(nro);
        random_hex(sig);
        nonce = random_b64(32);
        snprintf(fid, sizeof(fid), "other-%zu", i);
        MUST(tbs_leaf(&(struct tbs_leaf){i % 3 == 2 ? "abort" : "upload", fid,
                                         "carol", kid, "", "", sha,
                                         i % 3 == 2 ? "" : "4096",
                                         i % 3 == 2 ? "" : nonce, "", nro, "",
                                         i % 3 == 2 ? "2" : "", w.t_event, sig},
                      &tbs, &len, err, sizeof(err)));
        merkle_leaf_hash(tbs, len, out);
        free(tbs);
        free(nonce);
}

/* A tree of `n` leaves with evidence `ev[k]` at `pos[k]`, fillers else. */
static void tree_make(struct tree *t, size_t n, json_t *const *ev,
                      const size_t *pos, size_t nev)
{
        size_t i, k;

        if (n > TREE_MAX)
                die("tree too large");
        t->n = n;
        for (i = 0; i < n; i++) {
                for (k = 0; k < nev && pos[k] != i; k++)
                        ;
                if (k < nev)
                        ev_leaf(ev[k], t->leaf[i]);
                else
                        filler_leaf(i, t->leaf[i]);
        }
}

static void tree_root(const struct tree *t, size_t size, merkle_hash root)
{
        MUST(merkle_root(size, tree_node, (void *)t, root, err, sizeof(err)));
}

static void tree_proof(const struct tree *t, size_t index, merkle_hash *proof,
                       size_t *len)
{
        MUST(merkle_inclusion_proof(index, t->n, tree_node, (void *)t, proof,
                                    len, err, sizeof(err)));
}

/* ---- heads -------------------------------------------------------------- */

struct head_spec {
        const struct crypto_key *key; /* signs ttp_sig */
        const char *log_id;
        uint64_t size;
        const unsigned char *root; /* MERKLE_HASH_LEN */
        const char *time;
        struct tsa_signer *signer;  /* stamps SHA-256 of the TBS ... */
        const unsigned char *token; /* ... unless this token is given */
        size_t token_len;
        char *const *chain;
        size_t chain_len;
};

static char *head_tbs(const char *log_id, uint64_t size,
                      const unsigned char *root, const char *time, size_t *len)
{
        char sz[24], hex[65], *tbs = NULL;

        snprintf(sz, sizeof(sz), "%" PRIu64, size);
        hex_encode(root, MERKLE_HASH_LEN, hex, sizeof(hex));
        MUST(tbs_tree_head(&(struct tbs_tree_head){log_id, sz, hex, time}, &tbs,
                           len, err, sizeof(err)));
        return tbs;
}

/* A token over SHA-256 of `tbs` from `signer` (caller frees). */
static unsigned char *stamp(struct tsa_signer *signer, const char *tbs,
                            size_t len, size_t *token_len)
{
        unsigned char digest[32], *token = NULL;

        MUST(crypto_sha256(tbs, len, digest, err, sizeof(err)));
        MUST(tsa_stamp(signer, digest, ++w.serial, &token, token_len, NULL, err,
                       sizeof(err)));
        return token;
}

/* The head object (without "tds_tree_head") of `s`. */
static json_t *head_build(const struct head_spec *s)
{
        unsigned char *token = NULL;
        char hex[65], *tbs, *sig, *tok;
        size_t len, token_len;
        json_t *chain, *obj;

        tbs = head_tbs(s->log_id, s->size, s->root, s->time, &len);
        sig = sign(s->key, tbs, len, NULL);
        if (s->token != NULL) {
                tok = b64(s->token, s->token_len);
        } else {
                token = stamp(s->signer, tbs, len, &token_len);
                tok = b64(token, token_len);
        }
        hex_encode(s->root, MERKLE_HASH_LEN, hex, sizeof(hex));
        chain = json_array();
        for (size_t i = 0; i < s->chain_len; i++)
                json_array_append_new(chain, json_string(s->chain[i]));
        obj = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:o}", "log_id",
                        s->log_id, "tree_size", (json_int_t)s->size,
                        "root_hash", hex, "time", s->time, "ttp_sig", sig,
                        "timestamp_token", tok, "tsa_chain", chain);
        if (obj == NULL)
                die("json_pack head");
        free(tbs);
        free(sig);
        free(tok);
        free(token);
        return obj;
}

/* The head of the first `size` leaves of `t` in `l`'s log at `time`. */
static json_t *log_head(const struct log *l, const struct tree *t, size_t size,
                        const char *time)
{
        merkle_hash root;

        tree_root(t, size, root);
        return head_build(&(struct head_spec){l->ttp.key, l->ttp.id, size, root,
                                              time, l->signer, NULL, 0,
                                              l->chain, 2});
}

/* ---- bundles ------------------------------------------------------------ */

/* Assemble with bundle_to_json, as `tds bundle` does. */
static json_t *bundle_make(json_t *evj, uint64_t index,
                           const merkle_hash *proof, size_t len, json_t *headj)
{
        struct bundle_head head;
        struct evidence ev;
        json_t *obj;

        MUST(evidence_from_json(evj, &ev, err, sizeof(err)));
        MUST(bundle_head_from_json(headj, &head, err, sizeof(err)));
        obj = bundle_to_json(&ev, index, proof, len, &head, err, sizeof(err));
        MUST_PTR(obj);
        return obj;
}

/* A bundle of `evj` at `pos` of a tree of `n` leaves in the TTP's log. */
static json_t *bundle_at(json_t *evj, size_t pos, size_t n)
{
        merkle_hash proof[MERKLE_MAX_PROOF];
        struct tree t;
        json_t *head, *b;
        size_t len;

        tree_make(&t, n, &evj, &pos, 1);
        tree_proof(&t, pos, proof, &len);
        head = log_head(&w.log, &t, n, w.t_head);
        b = bundle_make(evj, pos, proof, len, head);
        json_decref(head);
        return b;
}

/* ---- raw OpenSSL, for what tsa.h rightly cannot do: backdating ---------- */

static EVP_PKEY *pkey_of(const struct crypto_key *key)
{
        char *pem = NULL;
        size_t len;
        EVP_PKEY *p;
        BIO *bio;

        MUST(crypto_key_to_pem(key, NULL, &pem, &len, err, sizeof(err)));
        bio = BIO_new_mem_buf(pem, (int)len);
        p = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        crypto_secret_free(pem, len);
        if (p == NULL)
                die("PEM_read_bio_PrivateKey");
        return p;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
        X509V3_CTX ctx;
        X509_EXTENSION *ext;

        X509V3_set_ctx_nodb(&ctx);
        X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (ext == NULL || !X509_add_ext(x, ext, -1))
                die("extension %d", nid);
        X509_EXTENSION_free(ext);
}

/*
 * A certificate of `subject`'s key valid from `nb` to `na`, issued by
 * `issuer_key` with certificate `issuer` (NULL: self-signed CA), as
 * tsa.h makes them otherwise.
 */
static X509 *cert_make(EVP_PKEY *subject, const char *cn, EVP_PKEY *issuer_key,
                       X509 *issuer, time_t nb, time_t na)
{
        static long serial = 1000;
        X509 *x = X509_new();
        X509_NAME *name = X509_NAME_new();

        if (x == NULL || name == NULL || !X509_set_version(x, X509_VERSION_3) ||
            !ASN1_INTEGER_set(X509_get_serialNumber(x), ++serial) ||
            !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                        (const unsigned char *)cn, -1, -1, 0) ||
            !X509_set_subject_name(x, name) ||
            !X509_set_issuer_name(
                x, issuer != NULL ? X509_get_subject_name(issuer) : name) ||
            X509_time_adj_ex(X509_getm_notBefore(x), 0, 0, &nb) == NULL ||
            X509_time_adj_ex(X509_getm_notAfter(x), 0, 0, &na) == NULL ||
            !X509_set_pubkey(x, subject))
                die("building certificate %s", cn);
        X509_NAME_free(name);
        if (issuer == NULL) {
                add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
                add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
                add_ext(x, x, NID_subject_key_identifier, "hash");
        } else {
                add_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
                add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
                add_ext(x, issuer, NID_ext_key_usage, "critical,timeStamping");
                add_ext(x, issuer, NID_subject_key_identifier, "hash");
                add_ext(x, issuer, NID_authority_key_identifier,
                        "keyid:always");
        }
        if (X509_sign(x, issuer_key, EVP_sha256()) <= 0)
                die("signing certificate %s", cn);
        return x;
}

static char *cert_b64(X509 *x)
{
        unsigned char *der = NULL;
        int len = i2d_X509(x, &der);
        char *s;

        if (len <= 0)
                die("i2d_X509");
        s = b64(der, (size_t)len);
        OPENSSL_free(der);
        return s;
}

static int fixed_time(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
        (void)ctx;
        *sec = (long)*(const time_t *)data;
        *usec = 0;
        return 1;
}

/* A token over `digest` dated `at`, otherwise as tsa_stamp() makes it. */
static unsigned char *stamp_at(EVP_PKEY *key, X509 *cert,
                               const unsigned char digest[32], time_t at,
                               size_t *token_len)
{
        TS_RESP_CTX *ctx = TS_RESP_CTX_new();
        ASN1_OBJECT *policy = OBJ_txt2obj(TSA_POLICY_OID, 1);
        TS_MSG_IMPRINT *imprint = TS_MSG_IMPRINT_new();
        X509_ALGOR *alg = X509_ALGOR_new();
        TS_REQ *req = TS_REQ_new();
        unsigned char *token = NULL, *p;
        BIO *bio = BIO_new(BIO_s_mem());
        TS_RESP *resp = NULL;
        int len;

        if (ctx == NULL || policy == NULL || imprint == NULL || alg == NULL ||
            req == NULL || bio == NULL ||
            !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
            !TS_MSG_IMPRINT_set_algo(imprint, alg) ||
            !TS_MSG_IMPRINT_set_msg(imprint, (unsigned char *)digest, 32) ||
            !TS_REQ_set_version(req, 1) ||
            !TS_REQ_set_msg_imprint(req, imprint) ||
            !TS_REQ_set_cert_req(req, 1) || !i2d_TS_REQ_bio(bio, req) ||
            !TS_RESP_CTX_set_signer_cert(ctx, cert) ||
            !TS_RESP_CTX_set_signer_key(ctx, key) ||
            !TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) ||
            !TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) ||
            !TS_RESP_CTX_set_def_policy(ctx, policy) ||
            !TS_RESP_CTX_add_md(ctx, EVP_sha256()) ||
            !TS_RESP_CTX_set_clock_precision_digits(ctx, 0))
                die("setting up a backdated stamp");
        TS_RESP_CTX_set_time_cb(ctx, fixed_time, &at);
        if ((resp = TS_RESP_create_response(ctx, bio)) == NULL ||
            ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(
                TS_RESP_get_status_info(resp))) != TS_STATUS_GRANTED ||
            (len = i2d_PKCS7(TS_RESP_get_token(resp), NULL)) <= 0 ||
            (token = malloc((size_t)len)) == NULL)
                die("backdated stamp refused");
        p = token;
        i2d_PKCS7(TS_RESP_get_token(resp), &p);
        *token_len = (size_t)len;
        TS_RESP_free(resp);
        TS_REQ_free(req);
        TS_MSG_IMPRINT_free(imprint);
        X509_ALGOR_free(alg);
        ASN1_OBJECT_free(policy);
        TS_RESP_CTX_free(ctx);
        BIO_free(bio);
        return token;
}

/*
 * A bundle from another time: CA certificate of the TTP key valid from
 * `ca_nb`, TSA certificate valid from `tsa_nb` to `tsa_na`, the event,
 * the head and its token all at `at`.
 */
static json_t *bundle_backdated(time_t ca_nb, time_t tsa_nb, time_t tsa_na,
                                time_t at)
{
        EVP_PKEY *ttp = pkey_of(w.log.ttp.key), *tsa = pkey_of(w.log.tsa_key);
        X509 *ca = cert_make(ttp, "TDS TTP CA", ttp, NULL, ca_nb,
                             ca_nb + 20L * 366 * 86400);
        X509 *tc = cert_make(tsa, "TDS TSA", ttp, ca, tsa_nb, tsa_na);
        char t_ev[IDS_TIME_LEN + 1], t_head[IDS_TIME_LEN + 1];
        char *chain[2] = {cert_b64(tc), cert_b64(ca)};
        merkle_hash proof[MERKLE_MAX_PROOF], root;
        unsigned char digest[32], *token;
        size_t len, tbslen, token_len, pos = 2;
        struct ev_spec s;
        struct tree t;
        json_t *evj, *head, *b;
        char *tbs;

        time_str(at - 60, t_ev);
        time_str(at, t_head);
        spec_honest(&s, EVIDENCE_EXCHANGE);
        s.time = t_ev;
        evj = ev_build(&s);
        tree_make(&t, 5, &evj, &pos, 1);
        tree_root(&t, 5, root);
        tree_proof(&t, pos, proof, &len);
        tbs = head_tbs(w.log.ttp.id, 5, root, t_head, &tbslen);
        MUST(crypto_sha256(tbs, tbslen, digest, err, sizeof(err)));
        token = stamp_at(tsa, tc, digest, at, &token_len);
        head = head_build(&(struct head_spec){w.log.ttp.key, w.log.ttp.id, 5,
                                              root, t_head, NULL, token,
                                              token_len, chain, 2});
        b = bundle_make(evj, pos, proof, len, head);
        free(tbs);
        free(token);
        free(chain[0]);
        free(chain[1]);
        json_decref(evj);
        json_decref(head);
        X509_free(ca);
        X509_free(tc);
        EVP_PKEY_free(ttp);
        EVP_PKEY_free(tsa);
        return b;
}

/* ---- tampering helpers -------------------------------------------------- */

static json_t *ev_of(json_t *bundle)
{
        return json_object_get(bundle, "evidence");
}

static json_t *head_of(json_t *bundle)
{
        return json_object_get(bundle, "tree_head");
}

static void set_str(json_t *obj, const char *key, const char *value)
{
        if (json_object_set_new(obj, key, json_string(value)) == -1)
                die("set %s", key);
}

/* Flip one bit of byte `at` (from the end when negative) of base64 `key`. */
static void flip(json_t *obj, const char *key, long at, unsigned char bit)
{
        const char *s = json_string_value(json_object_get(obj, key));
        unsigned char *buf = NULL;
        size_t len;
        char *out;

        if (s == NULL ||
            base64_decode(s, strlen(s), &buf, &len, err, sizeof(err)) == -1)
                die("flip %s: %s", key, err);
        buf[at < 0 ? (long)len + at : at] ^= bit;
        out = b64(buf, len);
        set_str(obj, key, out);
        free(out);
        free(buf);
}

/* ---- PEM ---------------------------------------------------------------- */

static char *bio_text(BIO *bio)
{
        char *data, *s;
        long n = BIO_get_mem_data(bio, &data);

        if (n <= 0 || (s = malloc((size_t)n + 1)) == NULL)
                die("PEM");
        memcpy(s, data, (size_t)n);
        s[n] = '\0';
        return s;
}

static char *pub_pem(const struct party *p)
{
        unsigned char *der = NULL;
        const unsigned char *q;
        EVP_PKEY *pk;
        size_t len;
        BIO *bio = BIO_new(BIO_s_mem());
        char *s;

        MUST(crypto_pubkey_to_der(p->key, &der, &len, err, sizeof(err)));
        q = der;
        if (bio == NULL || (pk = d2i_PUBKEY(NULL, &q, (long)len)) == NULL ||
            !PEM_write_bio_PUBKEY(bio, pk))
                die("public key PEM");
        s = bio_text(bio);
        EVP_PKEY_free(pk);
        BIO_free(bio);
        free(der);
        return s;
}

static char *cert_pem(const struct tsa_cert *c)
{
        const unsigned char *q = c->der;
        BIO *bio = BIO_new(BIO_s_mem());
        X509 *x = d2i_X509(NULL, &q, (long)c->len);
        char *s;

        if (bio == NULL || x == NULL || !PEM_write_bio_X509(bio, x))
                die("certificate PEM");
        s = bio_text(bio);
        X509_free(x);
        BIO_free(bio);
        return s;
}

/* ---- the cases ---------------------------------------------------------- */

static struct corpus_case *add(struct corpus *c, const char *name,
                               json_t *bundle, unsigned trust,
                               const char *expected)
{
        struct corpus_case *k;

        if (c->n == CORPUS_MAX)
                die("too many cases");
        k = &c->cases[c->n];
        snprintf(k->name, sizeof(k->name), "%02zu-%s", c->n + 1, name);
        snprintf(k->expected, sizeof(k->expected), "%s", expected);
        k->bundle = bundle;
        k->trust = trust;
        c->n++;
        return k;
}

#define PIN CORPUS_TRUST_TTP

static void world_init(void)
{
        memset(&w, 0, sizeof(w));
        party_new(&w.a);
        party_new(&w.b);
        party_new(&w.c);
        log_new(&w.log, "TDS TTP CA");
        log_new(&w.log2, "TDS TTP CA");
        log_new(&w.rogue, "Rogue CA");
        MUST(crypto_sha256_hex(DOC_M, sizeof(DOC_M) - 1, w.sha_m, err,
                               sizeof(err)));
        MUST(crypto_sha256_hex(DOC_N, sizeof(DOC_N) - 1, w.sha_n, err,
                               sizeof(err)));
        w.upload_nonce = random_b64(32);
        w.download_nonce = random_b64(32);
        w.nonce_alt = random_b64(32);
        w.now = time(NULL);
        time_str(w.now - 60, w.t_event);
        time_str(w.now, w.t_head);
}

static void world_fini(void)
{
        party_free(&w.a);
        party_free(&w.b);
        party_free(&w.c);
        log_free(&w.log);
        log_free(&w.log2);
        log_free(&w.rogue);
        free(w.upload_nonce);
        free(w.download_nonce);
        free(w.nonce_alt);
}

/* A valid exchange bundle at 5 of 7, with the upload at 2 beside it. */
struct main_tree {
        json_t *up, *ex;
        struct tree t;
        json_t *head;
};

static void main_tree_make(struct main_tree *m)
{
        struct ev_spec s;
        json_t *ev[2];
        size_t pos[2] = {2, 5};

        spec_honest(&s, EVIDENCE_UPLOAD);
        m->up = ev_build(&s);
        spec_honest(&s, EVIDENCE_EXCHANGE);
        m->ex = ev_build(&s);
        ev[0] = m->up;
        ev[1] = m->ex;
        tree_make(&m->t, 7, ev, pos, 2);
        m->head = log_head(&w.log, &m->t, 7, w.t_head);
}

/* The bundle of `evj` claimed at `index` with the proof of `proof_of`. */
static json_t *main_bundle(struct main_tree *m, json_t *evj, size_t index,
                           size_t proof_of, json_t *head)
{
        merkle_hash proof[MERKLE_MAX_PROOF];
        size_t len;

        tree_proof(&m->t, proof_of, proof, &len);
        return bundle_make(evj, index, proof, len,
                           head != NULL ? head : m->head);
}

static void cases_valid(struct corpus *c, struct main_tree *m)
{
        time_t y2019 = 1546300800, y2020 = 1577836800; /* Jan 1st */
        struct corpus_case *k;
        struct ev_spec s;
        json_t *ex;

        add(c, "valid-upload", main_bundle(m, m->up, 2, 2, NULL), PIN, "valid");
        add(c, "valid-exchange", main_bundle(m, m->ex, 5, 5, NULL), PIN,
            "valid");
        spec_honest(&s, EVIDENCE_EXCHANGE);
        ex = ev_build(&s);
        add(c, "valid-leaf-first", bundle_at(ex, 0, 5), PIN, "valid");
        add(c, "valid-leaf-middle", bundle_at(ex, 6, 13), PIN, "valid");
        add(c, "valid-leaf-last", bundle_at(ex, 5, 6), PIN, "valid");
        add(c, "valid-tree-size-1", bundle_at(ex, 0, 1), PIN, "valid");
        add(c, "valid-tree-power-of-two", bundle_at(ex, 3, 8), PIN, "valid");
        json_decref(ex);
        k = add(c, "valid-with-document", main_bundle(m, m->ex, 5, 5, NULL),
                PIN, "valid");
        k->doc = CORPUS_DOC_M;
        add(c, "valid-unpinned", main_bundle(m, m->ex, 5, 5, NULL), 0, "valid");
        add(c, "valid-tsa-ca-given", main_bundle(m, m->ex, 5, 5, NULL),
            PIN | CORPUS_TRUST_TSA_CA, "valid");
        /* The TSA certificate expired long ago: checked at genTime. */
        add(c, "valid-expired-tsa-certificate",
            bundle_backdated(y2019, y2019 + 150L * 86400, y2020 + 300L * 86400,
                             y2020 + 152L * 86400 + 43200),
            PIN, "valid");
}

static void cases_evidence(struct corpus *c, struct main_tree *m)
{
        struct ev_spec s;
        json_t *b, *evj;
        char *nrr_other;
        size_t len;

        b = main_bundle(m, m->ex, 5, 5, NULL);
        set_str(ev_of(b), "sha256", w.sha_n);
        add(c, "file-hash", b, PIN,
            "invalid evidence: NRO signature does not verify under "
            "uploader_public_key");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_object_set_new(ev_of(b), "size",
                            json_integer((json_int_t)sizeof(DOC_M)));
        add(c, "size", b, PIN,
            "invalid evidence: NRO signature does not verify");

        b = main_bundle(m, m->up, 2, 2, NULL);
        set_str(ev_of(b), "upload_nonce", w.nonce_alt);
        add(c, "upload-nonce", b, PIN,
            "invalid evidence: NRO signature does not verify");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        set_str(ev_of(b), "download_nonce", w.nonce_alt);
        add(c, "download-nonce", b, PIN,
            "invalid evidence: NRR signature does not verify under "
            "downloader_public_key");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        set_str(ev_of(b), "uploader_public_key", w.b.pub);
        set_str(ev_of(b), "downloader_public_key", w.a.pub);
        add(c, "swapped-party-keys", b, PIN,
            "invalid evidence: NRO signature does not verify under "
            "uploader_public_key");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        set_str(ev_of(b), "downloader_public_key", w.c.pub);
        add(c, "another-users-key", b, PIN,
            "invalid evidence: NRR signature does not verify under "
            "downloader_public_key");

        /* Countersigned by someone else with their own key, consistently. */
        spec_honest(&s, EVIDENCE_EXCHANGE);
        s.ttp_signer = w.log2.ttp.key;
        s.ttp_pub = w.log2.ttp.pub;
        evj = ev_build(&s);
        add(c, "forged-ttp-signature", main_bundle(m, evj, 5, 5, NULL), PIN,
            "invalid evidence: TTP key id");
        json_decref(evj);

        b = main_bundle(m, m->ex, 5, 5, NULL);
        flip(ev_of(b), "ttp_sig", -1, 0x01);
        add(c, "altered-ttp-signature", b, PIN,
            "invalid evidence: TTP signature (ttp_sig) does not verify");

        spec_honest(&s, EVIDENCE_UPLOAD);
        s.upload_nonce = w.nonce_alt; /* another upload of the same file */
        evj = ev_build(&s);
        nrr_other =
            json_is_string(json_object_get(evj, "nro_sha256"))
                ? strdup(json_string_value(json_object_get(evj, "nro_sha256")))
                : NULL;
        json_decref(evj);
        spec_honest(&s, EVIDENCE_EXCHANGE);
        s.nrr_over_nro_sha256 = nrr_other;
        evj = ev_build(&s);
        add(c, "nrr-over-another-nro", main_bundle(m, evj, 5, 5, NULL), PIN,
            "invalid evidence: NRR signature does not verify");
        json_decref(evj);
        free(nrr_other);

        spec_honest(&s, EVIDENCE_EXCHANGE);
        s.nro_signer = w.c.key;
        evj = ev_build(&s);
        add(c, "nro-by-another-key", main_bundle(m, evj, 5, 5, NULL), PIN,
            "invalid evidence: NRO signature does not verify under "
            "uploader_public_key");
        json_decref(evj);

        b = main_bundle(m, m->ex, 5, 5, NULL);
        {
                char hex[65];

                random_hex(hex);
                set_str(ev_of(b), "nro_sha256", hex);
        }
        add(c, "nro-digest", b, PIN,
            "invalid evidence: nro_sha256 does not match SHA-256 of nro");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        {
                char t[IDS_TIME_LEN + 1];

                time_str(w.now - 59, t);
                set_str(ev_of(b), "time", t);
        }
        add(c, "evidence-time", b, PIN,
            "invalid evidence: TTP signature (ttp_sig) does not verify");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        add(c, "other-document", b, PIN, "invalid evidence: document SHA-256")
            ->doc = CORPUS_DOC_N;

        add(c, "pinned-to-another-ttp", main_bundle(m, m->ex, 5, 5, NULL),
            CORPUS_TRUST_OTHER_TTP, "invalid evidence: TTP key id");

        /* A whole world forged by another TTP: only the pin catches it. */
        spec_honest(&s, EVIDENCE_EXCHANGE);
        s.ttp_signer = w.log2.ttp.key;
        s.ttp_pub = w.log2.ttp.pub;
        evj = ev_build(&s);
        {
                merkle_hash proof[MERKLE_MAX_PROOF];
                struct tree t;
                size_t pos = 1;
                json_t *head;

                tree_make(&t, 4, &evj, &pos, 1);
                tree_proof(&t, pos, proof, &len);
                head = log_head(&w.log2, &t, 4, w.t_head);
                add(c, "forged-world-pinned",
                    bundle_make(evj, pos, proof, len, head), PIN,
                    "invalid evidence: TTP key id");
                json_decref(head);
        }
        json_decref(evj);
}

static void cases_proof(struct corpus *c, struct main_tree *m)
{
        json_t *b, *arr;
        char hex[65];

        add(c, "proof-for-another-leaf", main_bundle(m, m->ex, 2, 2, NULL), PIN,
            "invalid inclusion proof: root mismatch");
        add(c, "leaf-index-off-by-one", main_bundle(m, m->ex, 4, 5, NULL), PIN,
            "invalid inclusion proof: root mismatch");
        add(c, "evidence-of-another-leaf", main_bundle(m, m->up, 5, 5, NULL),
            PIN, "invalid inclusion proof: root mismatch");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        arr = json_object_get(b, "inclusion_proof");
        json_array_remove(arr, json_array_size(arr) - 1);
        add(c, "truncated-proof", b, PIN,
            "invalid inclusion proof: 2 hashes, but leaf 5 of a tree of 7 "
            "needs 3");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        random_hex(hex);
        json_array_append_new(json_object_get(b, "inclusion_proof"),
                              json_string(hex));
        add(c, "extra-proof-hash", b, PIN,
            "invalid inclusion proof: 4 hashes, but leaf 5 of a tree of 7 "
            "needs 3");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_object_set_new(b, "leaf_index", json_integer(7));
        add(c, "leaf-index-beyond-tree", b, PIN,
            "invalid inclusion proof: leaf_index 7 is not below the head's "
            "tree_size 7");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        random_hex(hex);
        json_array_set_new(json_object_get(b, "inclusion_proof"), 1,
                           json_string(hex));
        add(c, "proof-hash-altered", b, PIN,
            "invalid inclusion proof: root mismatch");
}

static void cases_head(struct corpus *c, struct main_tree *m)
{
        unsigned char *token;
        size_t token_len, tbslen;
        json_t *b, *head;
        char hex[65], t[IDS_TIME_LEN + 1], *tbs;
        merkle_hash root;

        /* The same tree, headed by another TTP's log. */
        head = log_head(&w.log2, &m->t, 7, w.t_head);
        add(c, "head-from-another-log", main_bundle(m, m->ex, 5, 5, head), PIN,
            "invalid tree head: signed by another TTP than the evidence");
        json_decref(head);

        b = main_bundle(m, m->ex, 5, 5, NULL);
        random_hex(hex);
        set_str(head_of(b), "root_hash", hex);
        add(c, "head-root-altered", b, PIN,
            "invalid tree head: ttp_sig does not verify under the TTP key");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_object_set_new(head_of(b), "tree_size", json_integer(8));
        add(c, "head-tree-size-altered", b, PIN,
            "invalid tree head: ttp_sig does not verify under the TTP key");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        time_str(w.now + 1, t);
        set_str(head_of(b), "time", t);
        add(c, "head-time-altered", b, PIN,
            "invalid tree head: ttp_sig does not verify under the TTP key");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        set_str(head_of(b), "log_id", w.log2.ttp.id);
        add(c, "head-log-id-altered", b, PIN,
            "invalid tree head: signed by another TTP than the evidence");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        flip(head_of(b), "ttp_sig", -1, 0x01);
        add(c, "head-signature-altered", b, PIN,
            "invalid tree head: ttp_sig does not verify under the TTP key");

        /* Signed for an hour later, stamped now. */
        tree_root(&m->t, 7, root);
        time_str(w.now + 3600, t);
        head = head_build(&(struct head_spec){w.log.ttp.key, w.log.ttp.id, 7,
                                              root, t, w.log.signer, NULL, 0,
                                              w.log.chain, 2});
        add(c, "head-time-far-from-token", main_bundle(m, m->ex, 5, 5, head),
            PIN, "invalid timestamp token: genTime");
        json_decref(head);

        b = main_bundle(m, m->ex, 5, 5, NULL);
        flip(head_of(b), "timestamp_token", -3, 0x10);
        add(c, "token-bit-flip", b, PIN,
            "invalid timestamp token: time-stamp token does not verify: "
            "signature failure");

        /* The token of the head of 6 leaves, under the head of 7. */
        tree_root(&m->t, 6, root);
        tbs = head_tbs(w.log.ttp.id, 6, root, w.t_head, &tbslen);
        token = stamp(w.log.signer, tbs, tbslen, &token_len);
        tree_root(&m->t, 7, root);
        head = head_build(&(struct head_spec){w.log.ttp.key, w.log.ttp.id, 7,
                                              root, w.t_head, NULL, token,
                                              token_len, w.log.chain, 2});
        add(c, "token-over-another-head", main_bundle(m, m->ex, 5, 5, head),
            PIN,
            "invalid timestamp token: message imprint does not match the "
            "tree head");
        json_decref(head);
        free(token);
        free(tbs);

        /* A TSA that the TTP never certified, with its own CA. */
        head = head_build(&(struct head_spec){w.log.ttp.key, w.log.ttp.id, 7,
                                              root, w.t_head, w.rogue.signer,
                                              NULL, 0, w.rogue.chain, 2});
        add(c, "token-by-foreign-tsa", main_bundle(m, m->ex, 5, 5, head), PIN,
            "invalid timestamp token: the TSA chain ends at a certificate "
            "whose key");
        json_decref(head);

        /* The same foreign TSA, claiming the TTP's CA as its anchor. */
        {
                char *chain[2] = {w.rogue.chain[0], w.log.chain[1]};

                head = head_build(&(struct head_spec){
                    w.log.ttp.key, w.log.ttp.id, 7, root, w.t_head,
                    w.rogue.signer, NULL, 0, chain, 2});
                add(c, "token-foreign-tsa-ttp-anchor",
                    main_bundle(m, m->ex, 5, 5, head), PIN,
                    "invalid timestamp token: time-stamp token does not "
                    "verify: "
                    "certificate verify error");
                json_decref(head);
        }

        /* The right token, but the judge was given another anchor. */
        add(c, "token-under-another-anchor", main_bundle(m, m->ex, 5, 5, NULL),
            PIN | CORPUS_TRUST_ROGUE_CA,
            "invalid timestamp token: time-stamp token does not verify: "
            "certificate verify error");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        {
                char *junk = random_b64(300);

                set_str(head_of(b), "timestamp_token", junk);
                free(junk);
        }
        add(c, "token-not-a-token", b, PIN,
            "invalid timestamp token: not an RFC 3161 token");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_array_set_new(json_object_get(head_of(b), "tsa_chain"), 1,
                           json_string(w.log2.chain[1]));
        add(c, "tsa-chain-anchor-swapped", b, PIN,
            "invalid timestamp token: the TSA chain ends at a certificate "
            "whose key");
}

static void cases_time_and_form(struct corpus *c, struct main_tree *m)
{
        time_t y2018 = 1514764800, y2019 = 1546300800;
        struct ev_spec s;
        json_t *b, *evj;
        char t[IDS_TIME_LEN + 1];

        /* Countersigned an hour after the head that holds it was stamped. */
        spec_honest(&s, EVIDENCE_EXCHANGE);
        time_str(w.now + 3600, t);
        s.time = t;
        evj = ev_build(&s);
        add(c, "evidence-after-token", bundle_at(evj, 3, 7), PIN,
            "invalid evidence: time");
        json_decref(evj);

        /* Stamped before the TSA certificate was valid. */
        add(c, "token-before-tsa-certificate",
            bundle_backdated(y2018, y2019, y2019 + 3660L * 86400,
                             y2018 + 100L * 86400),
            PIN,
            "invalid timestamp token: time-stamp token does not verify: "
            "certificate verify error (Verify error:certificate is not "
            "yet valid)");

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_object_set_new(b, "note", json_string("trust me"));
        add(c, "form-unknown-field", b, PIN, "malformed bundle: unknown field")
            ->form_error = 1;

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_object_del(b, "inclusion_proof");
        add(c, "form-missing-proof", b, PIN,
            "malformed bundle: missing field \"inclusion_proof\"")
            ->form_error = 1;

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_object_set_new(head_of(b), "tds_tree_head", json_integer(1));
        add(c, "form-head-file-inside", b, PIN,
            "malformed tree head: unknown field \"tds_tree_head\"")
            ->form_error = 1;

        b = main_bundle(m, m->ex, 5, 5, NULL);
        json_array_clear(json_object_get(head_of(b), "tsa_chain"));
        add(c, "form-empty-chain", b, PIN,
            "malformed tree head: field \"tsa_chain\"")
            ->form_error = 1;
}

/* Heads of one log at 3 and 7 leaves, and a rewritten history at 7. */
static void heads_make(struct corpus *c, struct main_tree *m)
{
        merkle_hash proof[MERKLE_MAX_PROOF];
        struct tree fork = m->t;
        char hex[65];
        size_t len;
        json_t *h;

        h = log_head(&w.log, &m->t, 3, w.t_head);
        json_object_set_new(h, "tds_tree_head", json_integer(1));
        c->head_old = h;
        h = log_head(&w.log, &m->t, 7, w.t_head);
        json_object_set_new(h, "tds_tree_head", json_integer(1));
        c->head_new = h;
        filler_leaf(99, fork.leaf[1]); /* leaf 1 replaced: history changed */
        h = log_head(&w.log, &fork, 7, w.t_head);
        json_object_set_new(h, "tds_tree_head", json_integer(1));
        c->head_fork = h;
        MUST(merkle_consistency_proof(3, 7, tree_node, &m->t, proof, &len, err,
                                      sizeof(err)));
        c->consistency = json_array();
        for (size_t i = 0; i < len; i++) {
                hex_encode(proof[i], MERKLE_HASH_LEN, hex, sizeof(hex));
                json_array_append_new(c->consistency, json_string(hex));
        }
}

void corpus_build(struct corpus *c)
{
        struct main_tree m;

        memset(c, 0, sizeof(*c));
        world_init();
        main_tree_make(&m);
        cases_valid(c, &m);
        cases_evidence(c, &m);
        cases_proof(c, &m);
        cases_head(c, &m);
        cases_time_and_form(c, &m);
        heads_make(c, &m);
        c->ttp_pem = pub_pem(&w.log.ttp);
        c->other_ttp_pem = pub_pem(&w.log2.ttp);
        c->ca_pem = cert_pem(&w.log.ca);
        c->rogue_ca_pem = cert_pem(&w.rogue.ca);
        c->doc_m = DOC_M;
        c->doc_n = DOC_N;
        json_decref(m.up);
        json_decref(m.ex);
        json_decref(m.head);
        world_fini();
}

void corpus_free(struct corpus *c)
{
        for (size_t i = 0; i < c->n; i++)
                json_decref(c->cases[i].bundle);
        free(c->ttp_pem);
        free(c->other_ttp_pem);
        free(c->ca_pem);
        free(c->rogue_ca_pem);
        json_decref(c->head_old);
        json_decref(c->head_new);
        json_decref(c->head_fork);
        json_decref(c->consistency);
        memset(c, 0, sizeof(*c));
}

const char *corpus_trust_pem(const struct corpus *c, unsigned bit)
{
        switch (bit) {
        case CORPUS_TRUST_TTP:
                return c->ttp_pem;
        case CORPUS_TRUST_OTHER_TTP:
                return c->other_ttp_pem;
        case CORPUS_TRUST_TSA_CA:
                return c->ca_pem;
        case CORPUS_TRUST_ROGUE_CA:
                return c->rogue_ca_pem;
        }
        return NULL;
}

/* ---- files -------------------------------------------------------------- */

/* `dir`/`name` into `out`, which must hold it. */
static void join(char *out, size_t outlen, const char *dir, const char *name)
{
        if ((size_t)snprintf(out, outlen, "%s/%s", dir, name) >= outlen)
                die("path too long: %s/%s", dir, name);
}

static void mkdir_p(const char *path)
{
        if (mkdir(path, 0755) == -1 && errno != EEXIST)
                die("mkdir %s: %s", path, strerror(errno));
}

static void put(const char *dir, const char *name, const char *text)
{
        char path[4096];
        FILE *f;

        join(path, sizeof(path), dir, name);
        if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
            fclose(f) != 0)
                die("%s: %s", path, strerror(errno));
}

static void put_json(const char *dir, const char *name, json_t *obj)
{
        char path[4096];

        join(path, sizeof(path), dir, name);
        if (bundle_json_save(obj, path, err, sizeof(err)) == -1)
                die("%s", err);
}

void corpus_write(const struct corpus *c, const char *dir)
{
        static const struct {
                unsigned bit;
                const char *opt, *file;
        } trust[] = {
            {CORPUS_TRUST_TTP, "--ttp-key", "ttp.pem"},
            {CORPUS_TRUST_OTHER_TTP, "--ttp-key", "other-ttp.pem"},
            {CORPUS_TRUST_TSA_CA, "--tsa-ca", "ttp-ca.pem"},
            {CORPUS_TRUST_ROGUE_CA, "--tsa-ca", "rogue-ca.pem"},
        };
        char sub[4096], line[512], opts[1024];
        size_t i, j;

        mkdir_p(dir);
        join(sub, sizeof(sub), dir, "keys");
        mkdir_p(sub);
        for (j = 0; j < sizeof(trust) / sizeof(trust[0]); j++)
                put(sub, trust[j].file, corpus_trust_pem(c, trust[j].bit));
        join(sub, sizeof(sub), dir, "heads");
        mkdir_p(sub);
        put_json(sub, "head-3.json", c->head_old);
        put_json(sub, "head-7.json", c->head_new);
        put_json(sub, "head-7-rewritten.json", c->head_fork);
        put_json(sub, "consistency-3-7.json", c->consistency);
        for (i = 0; i < c->n; i++) {
                const struct corpus_case *k = &c->cases[i];

                join(sub, sizeof(sub), dir, k->name);
                mkdir_p(sub);
                put_json(sub, "bundle.json", k->bundle);
                snprintf(line, sizeof(line), "%s\n", k->expected);
                put(sub, "expected", line);
                if (k->doc != CORPUS_DOC_NONE)
                        put(sub, "doc",
                            k->doc == CORPUS_DOC_M ? c->doc_m : c->doc_n);
                opts[0] = '\0';
                for (j = 0; j < sizeof(trust) / sizeof(trust[0]); j++) {
                        if (!(k->trust & trust[j].bit))
                                continue;
                        snprintf(line, sizeof(line), "%s ../keys/%s\n",
                                 trust[j].opt, trust[j].file);
                        strncat(opts, line, sizeof(opts) - strlen(opts) - 1);
                }
                if (opts[0] != '\0')
                        put(sub, "trust", opts);
        }
}

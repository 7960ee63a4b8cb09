/*
 * evidence: real evidence, made the way the TTP and the parties make it
 * (fresh P-256 keys for A, B and the TTP, real TBS strings signed with
 * crypto.h), is accepted and survives the JSON round trip; then every
 * tampering of a table of cases is refused with a message that names
 * what failed.  The cases need fresh keys and signatures, so they live
 * here as data rather than as files under tests/evidence-cases.
 *
 * Usage: test_evidence [SCHEMA]: with the path of
 * schemas/evidence.schema.json, valid and invalid evidence is also checked
 * against the schema with Debian's python3-jsonschema (skipped, with a
 * message, when it is missing).  With $TDS_EVIDENCE_OUT set to a
 * directory, one valid upload and exchange evidence, the document and the
 * three TBS strings are written there for tests/integration/
 * evidence_openssl.sh and audit_verify.sh.
 */
#include "base64.h"
#include "crypto.h"
#include "evidence.h"
#include "ids.h"
#include "tbs.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FILE_ID "report-2024.pdf"
#define DOC     "The document M: contents of the exchanged file.\n"
#define DOC_ALT "The document N: contents of the exchanged file.\n"

static char tmpdir[] = "/tmp/tds-unit-evidence.XXXXXX";
static char doc_path[PATH_MAX], doc_alt_path[PATH_MAX], doc_long_path[PATH_MAX];

/* The parties' keys and everything derived from them, made once. */
static struct fixture {
        struct crypto_key *a, *b, *ttp, *other;
        char *a_pub, *b_pub, *ttp_pub, *other_pub; /* base64 SPKI */
        char ttp_id[CRYPTO_KEY_ID_LEN + 1];
        char other_id[CRYPTO_KEY_ID_LEN + 1];
        char sha256[CRYPTO_SHA256_HEX_LEN + 1];
        uint64_t size;
        char *upload_nonce, *download_nonce, *nonce_alt; /* base64 */
        char time[IDS_TIME_LEN + 1], time_plus1[IDS_TIME_LEN + 1];
} fx;

/*
 * What to sign: the honest values, unless a case changes one.  Every
 * field is signed consistently from these, so that a case can reach the
 * check it aims at (an NRO signed by B still has a matching nro_sha256,
 * NRR and TTP signature over it).
 */
struct spec {
        enum evidence_kind kind;
        const char *file_id, *uploader, *downloader, *sha256, *time;
        uint64_t size;
        const char *upload_nonce, *download_nonce;
        const struct crypto_key *nro_signer, *nrr_signer, *ttp_signer;
        const char *a_pub, *b_pub, *ttp_pub;
        const char *nrr_over_nro_sha256; /* NULL: the real nro_sha256 */
};

static void spec_honest(struct spec *s, enum evidence_kind kind)
{
        *s = (struct spec){kind,
                           FILE_ID,
                           "alice",
                           kind == EVIDENCE_EXCHANGE ? "bob" : "",
                           fx.sha256,
                           fx.time,
                           fx.size,
                           fx.upload_nonce,
                           kind == EVIDENCE_EXCHANGE ? fx.download_nonce : "",
                           fx.a,
                           fx.b,
                           fx.ttp,
                           fx.a_pub,
                           kind == EVIDENCE_EXCHANGE ? fx.b_pub : "",
                           fx.ttp_pub,
                           NULL};
}

static char *pub_b64(const struct crypto_key *key)
{
        unsigned char *der = NULL;
        size_t derlen;
        char err[256], *b64;

        REQUIRE(crypto_pubkey_to_der(key, &der, &derlen, err, sizeof(err)) ==
                0);
        b64 = base64_encode(der, derlen);
        REQUIRE(b64 != NULL);
        free(der);
        return b64;
}

static char *nonce_b64(void)
{
        unsigned char n[32];

        REQUIRE(crypto_random(n, sizeof(n), NULL, 0) == 0);
        return base64_encode(n, sizeof(n));
}

/* Sign `tbs`: the base64 signature (caller frees) and its SHA-256 hex. */
static char *sign_b64(const struct crypto_key *key, const char *tbs,
                      size_t tbslen, char *sha_hex)
{
        unsigned char *sig = NULL;
        size_t siglen;
        char err[256], *b64;

        REQUIRE(crypto_sign(key, tbs, tbslen, &sig, &siglen, err,
                            sizeof(err)) == 0);
        REQUIRE(crypto_sha256_hex(sig, siglen, sha_hex, err, sizeof(err)) == 0);
        b64 = base64_encode(sig, siglen);
        REQUIRE(b64 != NULL);
        free(sig);
        return b64;
}

/* The TBS strings of one evidence, kept for the openssl recipe. */
struct tbs_set {
        char *nro, *nrr, *ev;
        size_t nrolen, nrrlen, evlen;
};

static void tbs_set_free(struct tbs_set *t)
{
        free(t->nro);
        free(t->nrr);
        free(t->ev);
}

/*
 * Build the evidence JSON of `s` as the protocol does: A signs the NRO,
 * B signs the NRR over the NRO's digest, the TTP countersigns.
 */
static json_t *build(const struct spec *s, struct tbs_set *keep)
{
        char size[24], nro_sha[65], nrr_sha[65] = "", other_sha[65], err[256];
        char *nro = NULL, *nrr = NULL, *ttp_sig = NULL;
        struct tbs_set t = {0};
        struct evidence ev;
        json_t *obj;
        int exchange = s->kind == EVIDENCE_EXCHANGE;

        snprintf(size, sizeof(size), "%" PRIu64, s->size);
        REQUIRE(tbs_nro(&(struct tbs_nro){s->file_id, s->uploader, s->sha256,
                                          size, s->upload_nonce},
                        &t.nro, &t.nrolen, err, sizeof(err)) == 0);
        nro = sign_b64(s->nro_signer, t.nro, t.nrolen, nro_sha);
        if (exchange) {
                const char *over = nro_sha;
                if (s->nrr_over_nro_sha256 != NULL) {
                        snprintf(other_sha, sizeof(other_sha), "%s",
                                 s->nrr_over_nro_sha256);
                        over = other_sha;
                }
                REQUIRE(tbs_nrr(&(struct tbs_nrr){s->file_id, s->downloader,
                                                  s->sha256, over,
                                                  s->download_nonce},
                                &t.nrr, &t.nrrlen, err, sizeof(err)) == 0);
                nrr = sign_b64(s->nrr_signer, t.nrr, t.nrrlen, nrr_sha);
        }
        REQUIRE(
            tbs_evidence(
                &(struct tbs_evidence){exchange ? "exchange" : "upload",
                                       s->file_id, s->uploader, s->downloader,
                                       s->sha256, nro_sha, nrr_sha, s->time},
                &t.ev, &t.evlen, err, sizeof(err)) == 0);
        {
                char ttp_sha[65];
                ttp_sig = sign_b64(s->ttp_signer, t.ev, t.evlen, ttp_sha);
        }
        ev = (struct evidence){
            s->kind,     s->file_id,      "Quarterly report.pdf",
            s->uploader, s->downloader,   s->sha256,
            s->size,     s->upload_nonce, s->download_nonce,
            nro,         nro_sha,         exchange ? nrr : "",
            nrr_sha,     s->a_pub,        s->b_pub,
            s->ttp_pub,  s->time,         ttp_sig};
        obj = evidence_to_json(&ev, err, sizeof(err));
        if (obj == NULL)
                fprintf(stderr, "evidence_to_json: %s\n", err);
        REQUIRE(obj != NULL);
        free(nro);
        free(nrr);
        free(ttp_sig);
        if (keep != NULL)
                *keep = t;
        else
                tbs_set_free(&t);
        return obj;
}

/* Read back with the strict reader and verify: 0, or -1 with `err`. */
static int check(json_t *obj, const char *pin, const char *doc, char *err,
                 size_t errlen)
{
        struct evidence ev;

        if (evidence_from_json(obj, &ev, err, errlen) == -1)
                return -1;
        return evidence_verify(&ev, pin, doc, err, errlen);
}

static void write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");

        REQUIRE(f != NULL);
        REQUIRE(fputs(text, f) >= 0);
        REQUIRE(fclose(f) == 0);
}

static void setup(void)
{
        unsigned char digest[32];
        char err[256];
        time_t now = time(NULL);

        REQUIRE(mkdtemp(tmpdir) != NULL);
        snprintf(doc_path, sizeof(doc_path), "%s/document", tmpdir);
        snprintf(doc_alt_path, sizeof(doc_alt_path), "%s/document-alt", tmpdir);
        snprintf(doc_long_path, sizeof(doc_long_path), "%s/document-long",
                 tmpdir);
        write_file(doc_path, DOC);
        write_file(doc_alt_path, DOC_ALT);
        write_file(doc_long_path, DOC "!");

        REQUIRE(crypto_key_generate(&fx.a, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_generate(&fx.b, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_generate(&fx.ttp, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_generate(&fx.other, err, sizeof(err)) == 0);
        fx.a_pub = pub_b64(fx.a);
        fx.b_pub = pub_b64(fx.b);
        fx.ttp_pub = pub_b64(fx.ttp);
        fx.other_pub = pub_b64(fx.other);
        REQUIRE(crypto_key_id(fx.ttp, fx.ttp_id, err, sizeof(err)) == 0);
        REQUIRE(crypto_key_id(fx.other, fx.other_id, err, sizeof(err)) == 0);
        REQUIRE(crypto_sha256_path(doc_path, digest, &fx.size, err,
                                   sizeof(err)) == 0);
        REQUIRE(crypto_sha256_hex(DOC, strlen(DOC), fx.sha256, err,
                                  sizeof(err)) == 0);
        REQUIRE(fx.size == strlen(DOC));
        fx.upload_nonce = nonce_b64();
        fx.download_nonce = nonce_b64();
        fx.nonce_alt = nonce_b64();
        REQUIRE(ids_time_format(now, fx.time, err, sizeof(err)) == 0);
        REQUIRE(ids_time_format(now + 1, fx.time_plus1, err, sizeof(err)) == 0);
}

static void teardown(void)
{
        DIR *d = opendir(tmpdir);
        struct dirent *e;
        char path[PATH_MAX + 256];

        while (d != NULL && (e = readdir(d)) != NULL) {
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", tmpdir, e->d_name);
                unlink(path);
        }
        if (d != NULL)
                closedir(d);
        rmdir(tmpdir);
        crypto_key_free(fx.a);
        crypto_key_free(fx.b);
        crypto_key_free(fx.ttp);
        crypto_key_free(fx.other);
        free(fx.a_pub);
        free(fx.b_pub);
        free(fx.ttp_pub);
        free(fx.other_pub);
        free(fx.upload_nonce);
        free(fx.download_nonce);
        free(fx.nonce_alt);
}

/* ---- the valid evidence and its round trips ---------------------------- */

static void check_same(const struct evidence *x, const struct evidence *y)
{
        CHECK(x->kind == y->kind);
        CHECK(x->size == y->size);
        CHECK_STR_EQ(x->file_id, y->file_id);
        CHECK_STR_EQ(x->name, y->name);
        CHECK_STR_EQ(x->uploader, y->uploader);
        CHECK_STR_EQ(x->downloader, y->downloader);
        CHECK_STR_EQ(x->sha256, y->sha256);
        CHECK_STR_EQ(x->upload_nonce, y->upload_nonce);
        CHECK_STR_EQ(x->download_nonce, y->download_nonce);
        CHECK_STR_EQ(x->nro, y->nro);
        CHECK_STR_EQ(x->nro_sha256, y->nro_sha256);
        CHECK_STR_EQ(x->nrr, y->nrr);
        CHECK_STR_EQ(x->nrr_sha256, y->nrr_sha256);
        CHECK_STR_EQ(x->uploader_public_key, y->uploader_public_key);
        CHECK_STR_EQ(x->downloader_public_key, y->downloader_public_key);
        CHECK_STR_EQ(x->ttp_public_key, y->ttp_public_key);
        CHECK_STR_EQ(x->time, y->time);
        CHECK_STR_EQ(x->ttp_sig, y->ttp_sig);
}

static int count_entries(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int n = 0;

        if (d == NULL)
                return -1;
        while ((e = readdir(d)) != NULL)
                if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

static void test_valid(enum evidence_kind kind)
{
        struct evidence ev, ev2, ev3;
        struct spec s;
        json_t *obj, *back = NULL, *loaded = NULL, *again;
        json_error_t jerr;
        char err[512] = "", path[PATH_MAX + 32], *text;
        struct stat st;
        int before;

        spec_honest(&s, kind);
        obj = build(&s, NULL);
        CHECK_MSG(evidence_from_json(obj, &ev, err, sizeof(err)) == 0, err);
        CHECK(ev.kind == kind);
        CHECK_MSG(evidence_verify(&ev, NULL, NULL, err, sizeof(err)) == 0, err);
        CHECK_MSG(evidence_verify(&ev, fx.ttp_id, doc_path, err, sizeof(err)) ==
                      0,
                  err);

        /* to_json -> dump -> load -> from_json gives the same evidence. */
        again = evidence_to_json(&ev, err, sizeof(err));
        CHECK_MSG(again != NULL, err);
        text = json_dumps(again, JSON_INDENT(2));
        REQUIRE(text != NULL);
        back = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
        CHECK_MSG(back != NULL, jerr.text);
        if (back != NULL) {
                CHECK(json_equal(back, obj));
                CHECK_MSG(evidence_from_json(back, &ev2, err, sizeof(err)) == 0,
                          err);
                check_same(&ev, &ev2);
                CHECK_MSG(evidence_verify(&ev2, fx.ttp_id, doc_path, err,
                                          sizeof(err)) == 0,
                          err);
        }

        /* evidence_save -> evidence_load: the same, mode 0644, no debris. */
        snprintf(path, sizeof(path), "%s/%s.json", tmpdir,
                 kind == EVIDENCE_UPLOAD ? "saved-upload" : "saved-exchange");
        before = count_entries(tmpdir);
        CHECK_MSG(evidence_save(&ev, path, err, sizeof(err)) == 0, err);
        CHECK(count_entries(tmpdir) == before + 1);
        CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
        /* A second save replaces the file in place. */
        CHECK_MSG(evidence_save(&ev, path, err, sizeof(err)) == 0, err);
        CHECK(count_entries(tmpdir) == before + 1);
        CHECK_MSG(evidence_load(path, &loaded, &ev3, err, sizeof(err)) == 0,
                  err);
        if (loaded != NULL) {
                check_same(&ev, &ev3);
                CHECK(json_equal(loaded, obj));
                CHECK_MSG(evidence_verify(&ev3, fx.ttp_id, doc_path, err,
                                          sizeof(err)) == 0,
                          err);
        }
        free(text);
        json_decref(again);
        json_decref(back);
        json_decref(loaded);
        json_decref(obj);
}

/* ---- tamperings, data-driven ------------------------------------------- */

static void set_str(json_t *o, const char *k, const char *v)
{
        REQUIRE(json_object_set_new(o, k, json_string(v)) == 0);
}

/* Replace the first character of field `k` by another hex digit. */
static void flip_hex(json_t *o, const char *k)
{
        char buf[65];

        snprintf(buf, sizeof(buf), "%s",
                 json_string_value(json_object_get(o, k)));
        buf[0] = buf[0] == '0' ? '1' : '0';
        set_str(o, k, buf);
}

static void m_flip_sha256(json_t *o)
{
        flip_hex(o, "sha256");
}
static void m_size_plus1(json_t *o)
{
        json_object_set_new(o, "size", json_integer((json_int_t)fx.size + 1));
}
static void m_file_id(json_t *o)
{
        set_str(o, "file_id", "report-2025.pdf");
}
static void m_uploader(json_t *o)
{
        set_str(o, "uploader", "mallory");
}
static void m_downloader(json_t *o)
{
        set_str(o, "downloader", "mallory");
}
static void m_swap_keys(json_t *o)
{
        set_str(o, "uploader_public_key", fx.b_pub);
        set_str(o, "downloader_public_key", fx.a_pub);
}
static void m_nrr_sha(json_t *o)
{
        flip_hex(o, "nrr_sha256");
}
static void m_nro_sha(json_t *o)
{
        flip_hex(o, "nro_sha256");
}
static void m_ttp_key(json_t *o)
{
        set_str(o, "ttp_public_key", fx.other_pub);
}
static void m_time(json_t *o)
{
        set_str(o, "time", fx.time_plus1);
}
static void m_upload_nonce(json_t *o)
{
        set_str(o, "upload_nonce", fx.nonce_alt);
}
static void m_download_nonce(json_t *o)
{
        set_str(o, "download_nonce", fx.nonce_alt);
}
/* Padding dropped: "...=" becomes "...". */
static void m_b64_unpadded(json_t *o)
{
        char buf[64];

        snprintf(buf, sizeof(buf), "%s", fx.upload_nonce);
        buf[strlen(buf) - 1] = '\0';
        set_str(o, "upload_nonce", buf);
}
/* The unused low bits of the last character set: decodes, not canonical. */
static void m_b64_trailing_bits(json_t *o)
{
        static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij"
                                       "klmnopqrstuvwxyz0123456789+/";
        char buf[64];
        size_t n;

        snprintf(buf, sizeof(buf), "%s", fx.upload_nonce);
        n = strlen(buf) - 2; /* 32 bytes: 43 characters and one '=' */
        buf[n] = alphabet[(strchr(alphabet, buf[n]) - alphabet) | 1];
        set_str(o, "upload_nonce", buf);
}
static void m_b64_newline(json_t *o)
{
        char buf[256];
        const char *sig = json_string_value(json_object_get(o, "ttp_sig"));

        snprintf(buf, sizeof(buf), "%.20s\n%s", sig, sig + 20);
        set_str(o, "ttp_sig", buf);
}
static void m_unknown(json_t *o)
{
        set_str(o, "comment", "signed by the TTP, honest");
}
static void m_missing(json_t *o)
{
        json_object_del(o, "nrr_sha256");
}
static void m_no_name(json_t *o)
{
        json_object_del(o, "name");
}
static void m_empty_name(json_t *o)
{
        set_str(o, "name", "");
}
static void m_name_control(json_t *o)
{
        set_str(o, "name", "report\x1b[2J.pdf");
}
static void m_upload_nrr(json_t *o)
{
        set_str(o, "nrr", json_string_value(json_object_get(o, "nro")));
}
static void m_upload_downloader(json_t *o)
{
        set_str(o, "downloader", "bob");
}
static void m_exchange_no_nrr(json_t *o)
{
        set_str(o, "nrr", "");
}
static void m_sha_upper(json_t *o)
{
        char buf[65];

        for (size_t i = 0; i <= 64; i++)
                buf[i] = (char)(fx.sha256[i] >= 'a' && fx.sha256[i] <= 'f'
                                    ? fx.sha256[i] - 'a' + 'A'
                                    : fx.sha256[i]);
        set_str(o, "sha256", buf);
}
static void m_size_huge(json_t *o)
{
        json_object_set_new(o, "size", json_integer(((json_int_t)1 << 40) + 1));
}
static void m_size_negative(json_t *o)
{
        json_object_set_new(o, "size", json_integer(-1));
}
static void m_size_string(json_t *o)
{
        set_str(o, "size", "49");
}
static void m_size_real(json_t *o)
{
        json_object_set_new(o, "size", json_real((double)fx.size));
}
static void m_version(json_t *o)
{
        json_object_set_new(o, "tds_evidence", json_integer(2));
}
static void m_kind(json_t *o)
{
        set_str(o, "kind", "abort");
}
static void m_bad_file_id(json_t *o)
{
        set_str(o, "file_id", "../etc/passwd");
}
static void m_bad_time(json_t *o)
{
        char buf[32];

        snprintf(buf, sizeof(buf), "%.19s+00:00", fx.time);
        set_str(o, "time", buf);
}
static void m_nul(json_t *o)
{
        json_object_set_new(o, "uploader", json_stringn("alice\0x", 7));
}
static void m_not_a_key(json_t *o)
{
        unsigned char junk[65];
        char *b64;

        memset(junk, 4, sizeof(junk));
        b64 = base64_encode(junk, sizeof(junk));
        set_str(o, "uploader_public_key", b64);
        free(b64);
}
static void m_short_nonce(json_t *o)
{
        unsigned char n[31] = {1};
        char *b64 = base64_encode(n, sizeof(n));

        set_str(o, "upload_nonce", b64);
        free(b64);
}
static void m_sig_integer(json_t *o)
{
        json_object_set_new(o, "ttp_sig", json_integer(7));
}

static void s_nro_by_b(struct spec *s)
{
        s->nro_signer = fx.b;
}
static void s_nrr_by_a(struct spec *s)
{
        s->nrr_signer = fx.a;
}
static void s_ttp_by_other(struct spec *s)
{
        s->ttp_signer = fx.other;
}
static void s_forged_ttp(struct spec *s)
{
        s->ttp_signer = fx.other;
        s->ttp_pub = fx.other_pub;
}
/* B's receipt names the digest of another NRO of A (another nonce). */
static void s_nrr_other_nro(struct spec *s)
{
        static char other_sha[65];
        char size[24], err[256], *tbs = NULL, *sig;
        size_t len;

        snprintf(size, sizeof(size), "%" PRIu64, fx.size);
        REQUIRE(tbs_nro(&(struct tbs_nro){FILE_ID, "alice", fx.sha256, size,
                                          fx.nonce_alt},
                        &tbs, &len, err, sizeof(err)) == 0);
        sig = sign_b64(fx.a, tbs, len, other_sha);
        free(tbs);
        free(sig);
        s->nrr_over_nro_sha256 = other_sha;
}

enum pin { NO_PIN, PIN_TTP };
enum doc { NO_DOC, DOC_SAME, DOC_OTHER_CONTENT, DOC_OTHER_SIZE };

static const struct tcase {
        const char *name;
        enum evidence_kind kind;
        void (*spec_mod)(struct spec *);
        void (*mutate)(json_t *);
        enum pin pin;
        enum doc doc;
        const char *want; /* NULL: accepted */
} cases[] = {
    {"honest upload, pinned, document", EVIDENCE_UPLOAD, NULL, NULL, PIN_TTP,
     DOC_SAME, NULL},
    {"honest exchange, pinned, document", EVIDENCE_EXCHANGE, NULL, NULL,
     PIN_TTP, DOC_SAME, NULL},
    {"name omitted", EVIDENCE_EXCHANGE, NULL, m_no_name, PIN_TTP, NO_DOC, NULL},

    /* Signed values changed after signing. */
    {"flipped byte in sha256", EVIDENCE_EXCHANGE, NULL, m_flip_sha256, NO_PIN,
     NO_DOC, "NRO signature does not verify under uploader_public_key"},
    {"flipped byte in sha256 (upload)", EVIDENCE_UPLOAD, NULL, m_flip_sha256,
     NO_PIN, NO_DOC, "NRO signature does not verify"},
    {"size + 1", EVIDENCE_EXCHANGE, NULL, m_size_plus1, NO_PIN, NO_DOC,
     "NRO signature does not verify"},
    {"other file_id", EVIDENCE_EXCHANGE, NULL, m_file_id, NO_PIN, NO_DOC,
     "NRO signature does not verify"},
    {"other uploader", EVIDENCE_UPLOAD, NULL, m_uploader, NO_PIN, NO_DOC,
     "NRO signature does not verify"},
    {"other downloader", EVIDENCE_EXCHANGE, NULL, m_downloader, NO_PIN, NO_DOC,
     "NRR signature does not verify under downloader_public_key"},
    {"A's and B's public keys swapped", EVIDENCE_EXCHANGE, NULL, m_swap_keys,
     NO_PIN, NO_DOC, "NRO signature does not verify under uploader_public_key"},
    {"upload_nonce changed", EVIDENCE_EXCHANGE, NULL, m_upload_nonce, NO_PIN,
     NO_DOC, "NRO signature does not verify"},
    {"download_nonce changed", EVIDENCE_EXCHANGE, NULL, m_download_nonce,
     NO_PIN, NO_DOC, "NRR signature does not verify"},
    {"time one second later", EVIDENCE_EXCHANGE, NULL, m_time, NO_PIN, NO_DOC,
     "TTP signature (ttp_sig) does not verify under ttp_public_key"},
    {"time one second later (upload)", EVIDENCE_UPLOAD, NULL, m_time, NO_PIN,
     NO_DOC, "TTP signature (ttp_sig) does not verify"},

    /* The digests that chain the signatures. */
    {"nro_sha256 mismatch", EVIDENCE_EXCHANGE, NULL, m_nro_sha, NO_PIN, NO_DOC,
     "nro_sha256 does not match SHA-256 of nro"},
    {"nro_sha256 mismatch (upload)", EVIDENCE_UPLOAD, NULL, m_nro_sha, NO_PIN,
     NO_DOC, "nro_sha256 does not match SHA-256 of nro"},
    {"nrr_sha256 mismatch", EVIDENCE_EXCHANGE, NULL, m_nrr_sha, NO_PIN, NO_DOC,
     "nrr_sha256 does not match SHA-256 of nrr"},
    {"NRR made over another NRO", EVIDENCE_EXCHANGE, s_nrr_other_nro, NULL,
     NO_PIN, NO_DOC,
     "NRR signature does not verify under downloader_public_key"},

    /* Signatures by the wrong party, consistently re-signed otherwise. */
    {"NRO signed by B", EVIDENCE_EXCHANGE, s_nro_by_b, NULL, NO_PIN, NO_DOC,
     "NRO signature does not verify under uploader_public_key"},
    {"NRR signed by A", EVIDENCE_EXCHANGE, s_nrr_by_a, NULL, NO_PIN, NO_DOC,
     "NRR signature does not verify under downloader_public_key"},
    {"TTP signature by another key", EVIDENCE_EXCHANGE, s_ttp_by_other, NULL,
     NO_PIN, NO_DOC, "TTP signature (ttp_sig) does not verify"},
    {"TTP key replaced by another key", EVIDENCE_EXCHANGE, NULL, m_ttp_key,
     NO_PIN, NO_DOC, "TTP signature (ttp_sig) does not verify"},
    {"TTP key replaced by another key, pinned", EVIDENCE_EXCHANGE, NULL,
     m_ttp_key, PIN_TTP, NO_DOC, "is not the expected"},
    /*
     * A forger's own "TTP": consistent, so only the pin can tell.  This
     * is why `tds verify` warns when no TTP key is pinned.
     */
    {"forged TTP key and signature, unpinned", EVIDENCE_EXCHANGE, s_forged_ttp,
     NULL, NO_PIN, NO_DOC, NULL},
    {"forged TTP key and signature, pinned", EVIDENCE_EXCHANGE, s_forged_ttp,
     NULL, PIN_TTP, NO_DOC, "TTP key id"},
    {"forged TTP (upload), pinned", EVIDENCE_UPLOAD, s_forged_ttp, NULL,
     PIN_TTP, NO_DOC, "is not the expected"},

    /* The document a judge is shown. */
    {"document content different", EVIDENCE_EXCHANGE, NULL, NULL, PIN_TTP,
     DOC_OTHER_CONTENT, "document SHA-256"},
    {"document size different", EVIDENCE_UPLOAD, NULL, NULL, NO_PIN,
     DOC_OTHER_SIZE, "document size 49 differs from evidence size 48"},

    /* Forms and strictness of the reader. */
    {"base64 without padding", EVIDENCE_EXCHANGE, NULL, m_b64_unpadded, NO_PIN,
     NO_DOC, "field \"upload_nonce\": not canonical"},
    {"base64 with non-zero trailing bits", EVIDENCE_EXCHANGE, NULL,
     m_b64_trailing_bits, NO_PIN, NO_DOC,
     "field \"upload_nonce\": not canonical"},
    {"base64 with a line break", EVIDENCE_EXCHANGE, NULL, m_b64_newline, NO_PIN,
     NO_DOC, "field \"ttp_sig\": not canonical"},
    {"unknown field", EVIDENCE_EXCHANGE, NULL, m_unknown, NO_PIN, NO_DOC,
     "unknown field \"comment\""},
    {"missing field", EVIDENCE_EXCHANGE, NULL, m_missing, NO_PIN, NO_DOC,
     "missing field \"nrr_sha256\""},
    {"upload with a non-empty nrr", EVIDENCE_UPLOAD, NULL, m_upload_nrr, NO_PIN,
     NO_DOC, "field \"nrr\" must be empty"},
    {"upload with a downloader", EVIDENCE_UPLOAD, NULL, m_upload_downloader,
     NO_PIN, NO_DOC, "field \"downloader\" must be empty"},
    {"exchange without nrr", EVIDENCE_EXCHANGE, NULL, m_exchange_no_nrr, NO_PIN,
     NO_DOC, "field \"nrr\""},
    {"upper-case sha256", EVIDENCE_EXCHANGE, NULL, m_sha_upper, NO_PIN, NO_DOC,
     "field \"sha256\": not 64 lowercase hex"},
    {"size over 2^40", EVIDENCE_UPLOAD, NULL, m_size_huge, NO_PIN, NO_DOC,
     "field \"size\""},
    {"negative size", EVIDENCE_UPLOAD, NULL, m_size_negative, NO_PIN, NO_DOC,
     "field \"size\""},
    {"size as a string", EVIDENCE_UPLOAD, NULL, m_size_string, NO_PIN, NO_DOC,
     "field \"size\": must be an integer"},
    {"size as a real", EVIDENCE_UPLOAD, NULL, m_size_real, NO_PIN, NO_DOC,
     "field \"size\": must be an integer"},
    {"version 2", EVIDENCE_EXCHANGE, NULL, m_version, NO_PIN, NO_DOC,
     "field \"tds_evidence\""},
    {"kind abort", EVIDENCE_EXCHANGE, NULL, m_kind, NO_PIN, NO_DOC,
     "field \"kind\""},
    {"file_id with a slash", EVIDENCE_EXCHANGE, NULL, m_bad_file_id, NO_PIN,
     NO_DOC, "field \"file_id\""},
    {"time with an offset", EVIDENCE_EXCHANGE, NULL, m_bad_time, NO_PIN, NO_DOC,
     "field \"time\""},
    {"NUL in a string", EVIDENCE_EXCHANGE, NULL, m_nul, NO_PIN, NO_DOC,
     "field \"uploader\": contains a NUL"},
    {"uploader_public_key not a P-256 key", EVIDENCE_EXCHANGE, NULL,
     m_not_a_key, NO_PIN, NO_DOC,
     "uploader_public_key is not a canonical P-256 public key"},
    {"31-byte nonce", EVIDENCE_UPLOAD, NULL, m_short_nonce, NO_PIN, NO_DOC,
     "field \"upload_nonce\": 31 bytes, expected 32"},
    {"ttp_sig as an integer", EVIDENCE_UPLOAD, NULL, m_sig_integer, NO_PIN,
     NO_DOC, "field \"ttp_sig\": must be a string"},
    {"empty name present", EVIDENCE_UPLOAD, NULL, m_empty_name, NO_PIN, NO_DOC,
     "field \"name\": empty"},
    {"control character in name", EVIDENCE_UPLOAD, NULL, m_name_control, NO_PIN,
     NO_DOC, "field \"name\": control character"},
};

static void test_cases(void)
{
        static const char *docs[] = {NULL, doc_path, doc_alt_path,
                                     doc_long_path};
        char err[1024];
        struct spec s;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct tcase *c = &cases[i];
                json_t *obj;
                int rc;

                spec_honest(&s, c->kind);
                if (c->spec_mod != NULL)
                        c->spec_mod(&s);
                obj = build(&s, NULL);
                if (c->mutate != NULL)
                        c->mutate(obj);
                err[0] = '\0';
                rc = check(obj, c->pin == PIN_TTP ? fx.ttp_id : NULL,
                           docs[c->doc], err, sizeof(err));
                if (c->want == NULL) {
                        CHECK_MSG(rc == 0, c->name);
                        if (rc != 0)
                                fprintf(stderr, "  %s: %s\n", c->name, err);
                } else {
                        CHECK_MSG(rc == -1, c->name);
                        CHECK_MSG(strstr(err, c->want) != NULL, c->name);
                        if (rc != -1 || strstr(err, c->want) == NULL)
                                fprintf(stderr,
                                        "  %s\n  got:  %s\n  want: %s\n",
                                        c->name, err, c->want);
                }
                json_decref(obj);
        }
        printf("%zu tampering and form cases\n",
               sizeof(cases) / sizeof(cases[0]));
}

/* ---- the API's other edges --------------------------------------------- */

static void test_edges(void)
{
        struct evidence ev;
        struct spec s;
        json_t *obj, *arr = json_array(), *root = (json_t *)1;
        char err[512], path[PATH_MAX + 32], big[2048];
        int fd;

        /* The struct-side check refuses what the JSON side would. */
        spec_honest(&s, EVIDENCE_EXCHANGE);
        obj = build(&s, NULL);
        REQUIRE(evidence_from_json(obj, &ev, err, sizeof(err)) == 0);
        ev.sha256 = "ABC";
        CHECK(evidence_to_json(&ev, err, sizeof(err)) == NULL);
        CHECK_MSG(strstr(err, "field \"sha256\"") != NULL, err);
        CHECK(evidence_verify(&ev, NULL, NULL, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "field \"sha256\"") != NULL, err);
        ev.sha256 = fx.sha256;
        CHECK(evidence_verify(&ev, "NOT-HEX", NULL, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "expected TTP key id") != NULL, err);
        CHECK(evidence_verify(&ev, fx.other_id, NULL, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, fx.other_id) != NULL &&
                      strstr(err, fx.ttp_id) != NULL,
                  err);
        snprintf(path, sizeof(path), "%s/no-such-document", tmpdir);
        CHECK(evidence_verify(&ev, NULL, path, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "document") != NULL, err);
        /* A save that cannot happen leaves nothing behind. */
        snprintf(path, sizeof(path), "%s/no-such-dir/e.json", tmpdir);
        CHECK(evidence_save(&ev, path, err, sizeof(err)) == -1);

        CHECK(evidence_from_json(arr, &ev, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "JSON object") != NULL, err);

        /* evidence_load: missing, not JSON, duplicate keys, too big. */
        snprintf(path, sizeof(path), "%s/missing.json", tmpdir);
        CHECK(evidence_load(path, &root, &ev, err, sizeof(err)) == -1);
        CHECK(root == NULL);
        CHECK_MSG(strstr(err, "missing.json") != NULL, err);
        snprintf(path, sizeof(path), "%s/bad.json", tmpdir);
        write_file(path, "{\"tds_evidence\": 1,");
        CHECK(evidence_load(path, &root, &ev, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not valid JSON") != NULL, err);
        write_file(path, "{\"tds_evidence\": 1, \"tds_evidence\": 1}");
        CHECK(evidence_load(path, &root, &ev, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "duplicate") != NULL, err);
        CHECK(evidence_load(tmpdir, &root, &ev, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "not a regular file") != NULL, err);
        fd = open(path, O_WRONLY | O_TRUNC);
        REQUIRE(fd != -1);
        memset(big, ' ', sizeof(big));
        for (int i = 0; i < 600; i++)
                REQUIRE(write(fd, big, sizeof(big)) == (ssize_t)sizeof(big));
        close(fd);
        CHECK(evidence_load(path, &root, &ev, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "too large") != NULL, err);
        CHECK(root == NULL);

        json_decref(arr);
        json_decref(obj);
}

/* ---- files for the schema and the openssl recipe ------------------------ */

static void dump(json_t *obj, const char *dir, const char *name)
{
        char path[PATH_MAX + 64];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        REQUIRE(json_dump_file(obj, path, JSON_INDENT(2)) == 0);
}

static void dump_bytes(const char *dir, const char *name, const char *buf,
                       size_t len)
{
        char path[PATH_MAX + 64];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        REQUIRE((f = fopen(path, "wb")) != NULL);
        REQUIRE(fwrite(buf, 1, len, f) == len);
        REQUIRE(fclose(f) == 0);
}

static int run(char *const argv[])
{
        int status;
        pid_t pid;

        fflush(stdout);
        pid = fork();
        REQUIRE(pid != -1);
        if (pid == 0) {
                execv(argv[0], argv);
                _exit(127);
        }
        REQUIRE(waitpid(pid, &status, 0) == pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * The schema must accept what the code writes and refuse what the code
 * refuses (those refusals a schema can express).  Files named ok-* must
 * validate, bad-* must not.
 */
static const char schema_py[] =
    "import json, sys\n"
    "from jsonschema import Draft202012Validator\n"
    "schema = json.load(open(sys.argv[1]))\n"
    "Draft202012Validator.check_schema(schema)\n"
    "v = Draft202012Validator(schema)\n"
    "bad = 0\n"
    "for p in sys.argv[2:]:\n"
    "    errs = list(v.iter_errors(json.load(open(p))))\n"
    "    want_ok = p.rsplit('/', 1)[-1].startswith('ok-')\n"
    "    if bool(errs) == want_ok:\n"
    "        bad = 1\n"
    "        print('schema disagrees on %s: %s' % (p, errs[:1]))\n"
    "print('%d files checked against the schema' % (len(sys.argv) - 2))\n"
    "sys.exit(bad)\n";

static void test_schema(const char *schema)
{
        static const struct {
                const char *name;
                enum evidence_kind kind;
                void (*mutate)(json_t *);
        } files[] = {
            {"ok-upload.json", EVIDENCE_UPLOAD, NULL},
            {"ok-exchange.json", EVIDENCE_EXCHANGE, NULL},
            {"ok-no-name.json", EVIDENCE_EXCHANGE, m_no_name},
            {"bad-unknown.json", EVIDENCE_EXCHANGE, m_unknown},
            {"bad-missing.json", EVIDENCE_EXCHANGE, m_missing},
            {"bad-upload-nrr.json", EVIDENCE_UPLOAD, m_upload_nrr},
            {"bad-upload-downloader.json", EVIDENCE_UPLOAD,
             m_upload_downloader},
            {"bad-exchange-no-nrr.json", EVIDENCE_EXCHANGE, m_exchange_no_nrr},
            {"bad-unpadded.json", EVIDENCE_EXCHANGE, m_b64_unpadded},
            {"bad-trailing-bits.json", EVIDENCE_EXCHANGE, m_b64_trailing_bits},
            {"bad-sha-upper.json", EVIDENCE_EXCHANGE, m_sha_upper},
            {"bad-size-huge.json", EVIDENCE_UPLOAD, m_size_huge},
            {"bad-size-string.json", EVIDENCE_UPLOAD, m_size_string},
            {"bad-version.json", EVIDENCE_UPLOAD, m_version},
            {"bad-kind.json", EVIDENCE_UPLOAD, m_kind},
            {"bad-time.json", EVIDENCE_UPLOAD, m_bad_time},
            {"bad-file-id.json", EVIDENCE_UPLOAD, m_bad_file_id},
            {"bad-empty-name.json", EVIDENCE_UPLOAD, m_empty_name},
            {"bad-name-control.json", EVIDENCE_UPLOAD, m_name_control},
        };
        enum { NFILES = sizeof(files) / sizeof(files[0]) };
        char paths[NFILES][PATH_MAX + 64];
        char *argv[NFILES + 5];
        char *probe[] = {"/usr/bin/python3", "-c", "import jsonschema", NULL};
        struct spec s;
        int argc = 0;

        if (schema == NULL) {
                printf("schema check skipped: no schema path given\n");
                return;
        }
        if (access("/usr/bin/python3", X_OK) != 0 || run(probe) != 0) {
                printf("schema check SKIPPED: /usr/bin/python3 with "
                       "jsonschema is not available (apt-get install "
                       "python3-jsonschema)\n");
                return;
        }
        argv[argc++] = "/usr/bin/python3";
        argv[argc++] = "-c";
        argv[argc++] = (char *)schema_py;
        argv[argc++] = (char *)schema;
        for (size_t i = 0; i < NFILES; i++) {
                json_t *obj;

                spec_honest(&s, files[i].kind);
                obj = build(&s, NULL);
                if (files[i].mutate != NULL)
                        files[i].mutate(obj);
                dump(obj, tmpdir, files[i].name);
                json_decref(obj);
                snprintf(paths[i], sizeof(paths[i]), "%s/%s", tmpdir,
                         files[i].name);
                argv[argc++] = paths[i];
        }
        argv[argc] = NULL;
        CHECK_MSG(run(argv) == 0, "evidence JSON against the JSON Schema");
}

/* For the shell tests: evidence, document and TBS strings in `dir`. */
static void write_out(const char *dir)
{
        struct tbs_set t;
        struct spec s;
        json_t *obj;

        spec_honest(&s, EVIDENCE_EXCHANGE);
        obj = build(&s, &t);
        dump(obj, dir, "exchange.json");
        json_decref(obj);
        dump_bytes(dir, "exchange.nro.tbs", t.nro, t.nrolen);
        dump_bytes(dir, "exchange.nrr.tbs", t.nrr, t.nrrlen);
        dump_bytes(dir, "exchange.evidence.tbs", t.ev, t.evlen);
        tbs_set_free(&t);

        spec_honest(&s, EVIDENCE_UPLOAD);
        obj = build(&s, &t);
        dump(obj, dir, "upload.json");
        json_decref(obj);
        dump_bytes(dir, "upload.evidence.tbs", t.ev, t.evlen);
        tbs_set_free(&t);

        /* The same evidence with a forged TTP, and the key it needs. */
        spec_honest(&s, EVIDENCE_EXCHANGE);
        s_forged_ttp(&s);
        obj = build(&s, NULL);
        dump(obj, dir, "forged-ttp.json");
        json_decref(obj);
        spec_honest(&s, EVIDENCE_EXCHANGE);
        obj = build(&s, NULL);
        m_time(obj);
        dump(obj, dir, "tampered-time.json");
        json_decref(obj);
        spec_honest(&s, EVIDENCE_EXCHANGE);
        obj = build(&s, NULL);
        m_unknown(obj);
        dump(obj, dir, "malformed-unknown-field.json");
        json_decref(obj);

        dump_bytes(dir, "document", DOC, strlen(DOC));
        dump_bytes(dir, "document-alt", DOC_ALT, strlen(DOC_ALT));
        dump_bytes(dir, "ttp_key_id", fx.ttp_id, strlen(fx.ttp_id));
        dump_bytes(dir, "ttp_public_key.b64", fx.ttp_pub, strlen(fx.ttp_pub));
        printf("evidence files written to %s\n", dir);
}

int main(int argc, char **argv)
{
        const char *out = getenv("TDS_EVIDENCE_OUT");

        setup();
        test_valid(EVIDENCE_UPLOAD);
        test_valid(EVIDENCE_EXCHANGE);
        test_cases();
        test_edges();
        test_schema(argc > 1 ? argv[1] : NULL);
        if (out != NULL && out[0] != '\0')
                write_out(out);
        teardown();
        return unit_done("test_evidence");
}

/*
 * protocol_test: black-box scenarios of the TDS protocol against a running
 * stack (scripts/tds-stack up; eval "$(scripts/tds-stack env)").  The client
 * is proto_client.c, written from ../shared/PROTOCOL.md and
 * docs/protocol.md (sec. 11) alone; the TTP is only seen through Kafka,
 * the store and (read-only) its database.
 *
 *   protocol_test all | list | NAME... | exchange-send FILE_ID |
 *                 exchange-check FILE_ID
 *
 * Environment: TDS_BOOTSTRAP, TDS_STORE, TDS_DB_ADMIN_CNF, TDS_RUN_DIR
 * (from tds-stack env); optional TDS_TOPIC_PREFIX (default tds),
 * TDS_TEST_TIMEOUT_MS (default 15000 per awaited reply),
 * TDS_TEST_SHORT_TTL (the stack's nonce_ttl in seconds, when it was started
 * with a short one: enables nonce-expired), and TDS_TEST_EXPECT_DUPS ("0"
 * or "1+": the duplicates exchange-check must see after a crash).
 *
 * Every scenario uses fresh random users and file ids, so scenarios are
 * independent and can share one stack.  Output: "ok N - name" or
 * "not ok N - name" with "# why" lines, then "N passed, N failed"; the exit
 * status is 1 if anything failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "base64.h"
#include "crypto.h"
#include "hex.h"
#include "ids.h"
#include "merkle.h"
#include "proto_client.h"
#include "tbs.h"
#include "tsa.h"

#define T_MIB             (1024 * 1024)
#define T_DEFAULT_TIMEOUT 15000
#define T_QUIET_MS        400
#define T_CHECKSUM_SQL                                                         \
        "CHECKSUM TABLE users, uploads_ongoing, uploads_completed, "           \
        "downloads_ongoing, downloads_completed, used_nonces, aborts, "        \
        "log_leaves, log_nodes, log_state"

struct t {
        struct pc *pc;
        const char *run_dir;
        const char *store;
        const char *admin_cnf;
        const char *bootstrap;
        struct crypto_key *ttp;
        char ttp_err[256];
        int timeout_ms;
        int short_ttl; /* 0: not available */
        char err[PC_ERR_MAX];
        char trace[256];
};

struct party {
        struct pc_user u;
        struct pc_reader *r;
};

struct upload {
        char file_id[IDS_FILE_ID_MAX + 1];
        char name[1100];
        unsigned char *data;
        size_t size;
        char size_dec[24];
        char sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char nonce[64];
        char incoming_path[300];
        char nro[128];
        char nro_sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char time[32];
};

struct download {
        char nonce[64];
        char nrr[128];
        char nrr_sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char time[32];
        char ttp_sig[128];
        char object_path[300];
};

/* --- failure reporting ---------------------------------------------------
 */

static void t_fail(struct t *t, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keep the first failure's text; every level adds its line to the trace. */
static void t_fail(struct t *t, int line, const char *fmt, ...)
{
        va_list ap;
        size_t len = strlen(t->trace);

        if (t->err[0] == '\0' && fmt != NULL) {
                va_start(ap, fmt);
                vsnprintf(t->err, sizeof(t->err), fmt, ap);
                va_end(ap);
        }
        if (len < sizeof(t->trace))
                snprintf(t->trace + len, sizeof(t->trace) - len, " %d", line);
}

#define FAIL(...)                                                              \
        do {                                                                   \
                t_fail(t, __LINE__, __VA_ARGS__);                              \
                goto done;                                                     \
        } while (0)
#define CHECK(cond, ...)                                                       \
        do {                                                                   \
                if (!(cond))                                                   \
                        FAIL(__VA_ARGS__);                                     \
        } while (0)
/* A call that already wrote t->err (directly or through pc_*). */
#define TRY(expr)                                                              \
        do {                                                                   \
                if ((expr) == -1) {                                            \
                        t_fail(t, __LINE__, "%s failed", #expr);               \
                        goto done;                                             \
                }                                                              \
        } while (0)
#define TRYP(expr)                                                             \
        do {                                                                   \
                if ((expr) == NULL) {                                          \
                        t_fail(t, __LINE__, "%s failed", #expr);               \
                        goto done;                                             \
                }                                                              \
        } while (0)
#define STREQ(a, b) ((a) != NULL && (b) != NULL && strcmp((a), (b)) == 0)
#define SHOW(s)     ((s) != NULL ? (s) : "(absent)")

#define ERR t->err, sizeof(t->err)

/* --- small tools ---------------------------------------------------------
 */

static void t_sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

static int t_random_id(struct t *t, const char *prefix, char *out,
                       size_t outlen)
{
        char uuid[IDS_UUID_LEN + 1];

        if (ids_uuid_new(uuid, ERR) == -1)
                return -1;
        snprintf(out, outlen, "%s%s", prefix, uuid);
        return 0;
}

static char *t_b64(const void *buf, size_t len)
{
        return base64_encode(buf, len);
}

/* A random base64 nonce of 32 bytes into out. */
static int t_random_nonce(struct t *t, char *out, size_t outlen)
{
        unsigned char rnd[32];
        char *b64;

        if (crypto_random(rnd, sizeof(rnd), ERR) == -1)
                return -1;
        if ((b64 = t_b64(rnd, sizeof(rnd))) == NULL)
                return -1;
        snprintf(out, outlen, "%s", b64);
        free(b64);
        return 0;
}

static int t_time_of(const char *s, time_t *out)
{
        return s != NULL ? ids_time_parse(s, out, NULL, 0) : -1;
}

/* `bytes` bytes of UTF-8: two-byte characters, then 'x' if odd. */
static void long_name(char *out, size_t bytes)
{
        size_t i;

        for (i = 0; i + 2 <= bytes; i += 2)
                memcpy(out + i, "\xc3\xa9", 2); /* U+00E9 */
        if (i < bytes)
                out[i++] = 'x';
        out[i] = '\0';
}

/* The same bytes as base64 `b64` but with non-zero unused bits. */
static void b64_noncanonical(char *b64)
{
        static const char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t len = strlen(b64);
        size_t last = len;
        const char *p;

        while (last > 0 && b64[last - 1] == '=')
                last--;
        if (last == len || last == 0)
                return; /* no padding: every bit is used */
        p = strchr(alphabet, b64[last - 1]);
        if (p != NULL)
                b64[last - 1] = alphabet[(p - alphabet) | 1];
}

/*
 * The other valid signature of the same (r, s): (r, n - s), DER encoded.
 * The contract's verifiers accept both low-S and high-S.  Returns a new
 * base64 string (caller frees) or NULL.
 */
static char *sig_flip_s(const char *b64)
{
        /* The order of the P-256 group. */
        static const char order_hex[] = "FFFFFFFF00000000FFFFFFFFFFFFFFFF"
                                        "BCE6FAADA7179E84F3B9CAC2FC632551";
        unsigned char *der = NULL, *out = NULL;
        const unsigned char *p;
        size_t len = 0;
        ECDSA_SIG *sig = NULL, *flipped = NULL;
        const BIGNUM *r, *sv;
        BIGNUM *n = NULL, *r2 = NULL, *s2 = NULL;
        char *ret = NULL;
        int outlen;

        if (base64_decode(b64, strlen(b64), &der, &len, NULL, 0) == -1)
                goto done;
        p = der;
        if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
                goto done;
        ECDSA_SIG_get0(sig, &r, &sv);
        if (BN_hex2bn(&n, order_hex) == 0 || (r2 = BN_dup(r)) == NULL ||
            (s2 = BN_new()) == NULL || !BN_sub(s2, n, sv) ||
            (flipped = ECDSA_SIG_new()) == NULL ||
            !ECDSA_SIG_set0(flipped, r2, s2))
                goto done;
        r2 = s2 = NULL; /* owned by flipped */
        if ((outlen = i2d_ECDSA_SIG(flipped, &out)) <= 0)
                goto done;
        ret = t_b64(out, (size_t)outlen);
done:
        OPENSSL_free(out);
        ECDSA_SIG_free(sig);
        ECDSA_SIG_free(flipped);
        BN_free(n);
        BN_free(r2);
        BN_free(s2);
        free(der);
        return ret;
}

/*
 * The same signature in BER that is not DER: the SEQUENCE length in the
 * long form (0x81 LEN).  One byte longer; NULL unless that still fits the
 * 72-byte limit, so that only the encoding is wrong.
 */
static char *sig_long_form(const char *b64)
{
        unsigned char *der = NULL, *out = NULL;
        size_t len = 0;
        char *ret = NULL;

        if (base64_decode(b64, strlen(b64), &der, &len, NULL, 0) == -1 ||
            len < 8 || len + 1 > 72 || der[0] != 0x30 || der[1] >= 0x80 ||
            (out = malloc(len + 1)) == NULL)
                goto done;
        out[0] = 0x30;
        out[1] = 0x81;
        memcpy(out + 2, der + 1, len - 1);
        ret = t_b64(out, len + 1);
done:
        free(der);
        free(out);
        return ret;
}

/* --- database (read-only, through the admin account) ---------------------
 */

/* The first line of the output of `sql` (no single quotes) into out. */
static int db_query(struct t *t, const char *sql, char *out, size_t outlen)
{
        char cmd[4096];
        FILE *p = NULL;
        size_t n = 0;
        int ret = -1, status;

        if (strchr(sql, '\'') != NULL) {
                t_fail(t, __LINE__, "db_query: quote in SQL");
                goto done;
        }
        snprintf(cmd, sizeof(cmd),
                 "mariadb --defaults-file='%s' tds -N -B -e '%s' 2>&1",
                 t->admin_cnf, sql);
        if ((p = popen(cmd, "r")) == NULL) {
                t_fail(t, __LINE__, "popen mariadb: %s", strerror(errno));
                goto done;
        }
        n = fread(out, 1, outlen - 1, p);
        out[n] = '\0';
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
                out[--n] = '\0';
        status = pclose(p);
        p = NULL;
        if (status != 0) {
                t_fail(t, __LINE__, "mariadb -e \"%s\": status %d: %s", sql,
                       status, out);
                goto done;
        }
        ret = 0;
done:
        if (p != NULL)
                pclose(p);
        return ret;
}

static int db_long(struct t *t, long *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int db_long(struct t *t, long *v, const char *fmt, ...)
{
        char sql[1024], out[256], *end;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(sql, sizeof(sql), fmt, ap);
        va_end(ap);
        if (db_query(t, sql, out, sizeof(out)) == -1)
                return -1;
        errno = 0;
        *v = strtol(out, &end, 10);
        if (errno != 0 || end == out || *end != '\0') {
                t_fail(t, __LINE__, "\"%s\" gave \"%s\", not a number", sql,
                       out);
                return -1;
        }
        return 0;
}

static int db_checksum(struct t *t, char *out, size_t outlen)
{
        return db_query(t, T_CHECKSUM_SQL, out, outlen);
}

/* --- parties -------------------------------------------------------------
 */

static int party_new(struct t *t, struct party *p, const char *prefix)
{
        memset(p, 0, sizeof(*p));
        if (pc_user_init(&p->u, prefix, ERR) == -1)
                return -1;
        p->r = pc_reader_new(t->bootstrap, pc_topics(t->pc)->replies, p->u.name,
                             ERR);
        return p->r != NULL ? 0 : -1;
}

static void party_fini(struct party *p)
{
        pc_reader_free(p->r);
        pc_user_fini(&p->u);
        memset(p, 0, sizeof(*p));
}

static json_t *await(struct t *t, struct party *p, const char *type,
                     const char *file_id, const char *req_msg_id)
{
        struct pc_match m = {type, file_id, NULL, NULL};

        return pc_reader_wait(p->r, &m, req_msg_id, t->timeout_ms, ERR);
}

/* No message for any of the parties beyond those already awaited. */
static int quiet(struct t *t, struct party *first, ...)
{
        char got[2048];
        va_list ap;
        struct party *p;
        int ret = -1, n, ms = T_QUIET_MS;

        va_start(ap, first);
        for (p = first; p != NULL; p = va_arg(ap, struct party *)) {
                if (pc_reader_poll(p->r, ms, ERR) == -1)
                        goto done;
                ms = 50;
                if ((n = pc_reader_unconsumed(p->r, got, sizeof(got))) > 0) {
                        t_fail(t, __LINE__,
                               "%s received %d unexpected message(s): %s",
                               p->u.name, n, got);
                        goto done;
                }
        }
        ret = 0;
done:
        va_end(ap);
        return ret;
}

static json_t *req_new(struct t *t, struct party *p, const char *type,
                       json_t *body)
{
        return pc_request_new(&p->u, type, body, 0, ERR);
}

static int send_env(struct t *t, const json_t *env)
{
        return pc_send_json(t->pc, env, NULL, ERR);
}

static const char *msg_id_of(const json_t *env)
{
        return pc_str(env, "msg_id");
}

/*
 * What a request of `env` may be answered with: an error in reply to its
 * msg_id, or anything else about its file (or its type's result): a wait
 * for the one fails fast on the other.
 */
struct t_answer {
        const char *msg_id;
        const char *file_id;
        const char *result_type;
};

static int answer_pred(const json_t *msg, void *arg)
{
        const struct t_answer *a = arg;
        const char *type = pc_str(msg, "type");
        const json_t *body = pc_body(msg);

        if (STREQ(type, "error"))
                return STREQ(pc_str(body, "in_reply_to"), a->msg_id);
        if (a->file_id != NULL && STREQ(pc_str(body, "file_id"), a->file_id))
                return 1;
        return a->result_type != NULL && STREQ(type, a->result_type);
}

static json_t *await_answer(struct t *t, struct party *p, const json_t *env)
{
        const char *type = pc_str(env, "type");
        struct t_answer a = {msg_id_of(env), pc_str(pc_body(env), "file_id"),
                             NULL};
        char got[2048];
        json_t *m;

        if (STREQ(type, "register"))
                a.result_type = "register.result";
        else if (STREQ(type, "catalog.request"))
                a.result_type = "catalog";
        m = pc_reader_wait_fn(p->r, answer_pred, &a, t->timeout_ms, ERR);
        if (m == NULL) {
                pc_reader_unconsumed(p->r, got, sizeof(got));
                t_fail(t, __LINE__,
                       "%s: no answer to %s %s within %d ms (%s); other "
                       "messages: %s",
                       p->u.name, SHOW(type), SHOW(a.msg_id), t->timeout_ms,
                       t->err, got[0] ? got : "none");
        }
        return m;
}

static void describe(const json_t *env, char *out, size_t outlen)
{
        char *text = json_dumps(env, JSON_COMPACT);

        snprintf(out, outlen, "%.700s", text != NULL ? text : "?");
        free(text);
}

/* Wait for the answer to the already sent `env` and require error `code`. */
static int await_error(struct t *t, struct party *p, const json_t *env,
                       const char *code)
{
        char got[1024];
        json_t *m;
        const char *gcode;

        if ((m = await_answer(t, p, env)) == NULL)
                return -1;
        gcode = pc_str(pc_body(m), "code");
        if (!STREQ(pc_str(m, "type"), "error") || !STREQ(gcode, code)) {
                describe(m, got, sizeof(got));
                t_fail(t, __LINE__, "%s %s: expected error %s, got %s",
                       pc_str(env, "type"), msg_id_of(env), code, got);
                return -1;
        }
        return 0;
}

/*
 * Send `env` from `p` and require error `code` in reply and, with
 * `check_db`, the protocol tables unchanged.
 */
static int expect_error(struct t *t, struct party *p, const json_t *env,
                        const char *code, int check_db)
{
        char before[1024], after[1024];

        if (check_db && db_checksum(t, before, sizeof(before)) == -1)
                return -1;
        if (send_env(t, env) == -1 || await_error(t, p, env, code) == -1)
                return -1;
        if (check_db && db_checksum(t, after, sizeof(after)) == -1)
                return -1;
        if (check_db && strcmp(before, after) != 0) {
                t_fail(t, __LINE__,
                       "error %s to %s %s changed the database: before [%s] "
                       "after [%s]",
                       code, pc_str(env, "type"), msg_id_of(env), before,
                       after);
                return -1;
        }
        return 0;
}

/* expect_error for a type and body (stolen) signed by p. */
static int expect_error_req(struct t *t, struct party *p, const char *type,
                            json_t *body, const char *code)
{
        json_t *env = req_new(t, p, type, body);
        int ret;

        if (env == NULL)
                return -1;
        ret = expect_error(t, p, env, code, 1);
        json_decref(env);
        return ret;
}

static int party_register(struct t *t, struct party *p)
{
        json_t *env = NULL, *res;
        int ret = -1;

        TRYP(env = req_new(t, p, "register",
                           json_pack("{s:s}", "public_key", p->u.spki_b64)));
        TRY(send_env(t, env));
        TRYP(res = await(t, p, "register.result", NULL, msg_id_of(env)));
        CHECK(STREQ(pc_str(pc_body(res), "key_id"), p->u.key_id),
              "register.result key_id %s, expected %s (SHA-256 of our SPKI)",
              SHOW(pc_str(pc_body(res), "key_id")), p->u.key_id);
        ret = 0;
done:
        json_decref(env);
        return ret;
}

static int parties_new(struct t *t, int registered, struct party *p,
                       const char *prefix, ...)
{
        va_list ap;
        int ret = -1;

        /* Arguments come in pairs (party, prefix) up to a NULL party. */
        va_start(ap, prefix);
        while (p != NULL) {
                TRY(party_new(t, p, prefix));
                if (registered)
                        TRY(party_register(t, p));
                if ((p = va_arg(ap, struct party *)) != NULL)
                        prefix = va_arg(ap, const char *);
        }
        ret = 0;
done:
        va_end(ap);
        return ret;
}

/* --- evidence ------------------------------------------------------------
 */

static int verify_evidence(struct t *t, const char *event, const char *file_id,
                           const char *uploader, const char *downloader,
                           const char *sha256, const char *nro_sha256,
                           const char *nrr_sha256, const char *time,
                           const char *ttp_sig)
{
        struct tbs_evidence f = {event,  file_id,    uploader,   downloader,
                                 sha256, nro_sha256, nrr_sha256, time};
        char *tbs = NULL, why[512];
        size_t len = 0;
        int ret = -1;

        if (t->ttp == NULL) {
                t_fail(t, __LINE__, "cannot check ttp_sig: no TTP key: %s",
                       t->ttp_err);
                goto done;
        }
        TRY(tbs_evidence(&f, &tbs, &len, ERR));
        if (pc_verify_b64(t->ttp, tbs, len, ttp_sig, why, sizeof(why)) == -1)
                FAIL("ttp_sig does not verify under the TTP key over the "
                     "evidence TBS [%.*s]: %s",
                     (int)len, tbs, why);
        ret = 0;
done:
        free(tbs);
        return ret;
}

/* --- uploads -------------------------------------------------------------
 */

static int up_init(struct t *t, struct upload *up, size_t size)
{
        int ret = -1;

        memset(up, 0, sizeof(*up));
        TRY(t_random_id(t, "f-", up->file_id, sizeof(up->file_id)));
        snprintf(up->name, sizeof(up->name), "document %.12s.bin",
                 up->file_id + 2);
        up->size = size;
        snprintf(up->size_dec, sizeof(up->size_dec), "%zu", size);
        CHECK((up->data = malloc(size ? size : 1)) != NULL, "out of memory");
        if (size > 0)
                TRY(crypto_random(up->data, size, ERR));
        TRY(crypto_sha256_hex(up->data, size, up->sha256, ERR));
        ret = 0;
done:
        return ret;
}

static void up_fini(struct upload *up)
{
        free(up->data);
        memset(up, 0, sizeof(*up));
}

static json_t *up_request_body(const struct upload *up)
{
        return json_pack("{s:s, s:s, s:I}", "file_id", up->file_id, "name",
                         up->name, "size", (json_int_t)up->size);
}

/* Step 1 and 2: upload.request and its challenge, checked. */
static int up_request(struct t *t, struct party *a, struct upload *up)
{
        json_t *env = NULL, *ch, *body;
        char want_path[300];
        time_t exp;
        int ret = -1;

        TRYP(env = req_new(t, a, "upload.request", up_request_body(up)));
        TRY(send_env(t, env));
        TRYP(ch = await(t, a, "upload.challenge", up->file_id, msg_id_of(env)));
        body = pc_body(ch);
        CHECK(STREQ(pc_str(body, "key_id"), a->u.key_id),
              "upload.challenge key_id %s, expected the uploader's %s",
              SHOW(pc_str(body, "key_id")), a->u.key_id);
        snprintf(want_path, sizeof(want_path), "incoming/%s/%s", a->u.name,
                 up->file_id);
        CHECK(STREQ(pc_str(body, "incoming_path"), want_path),
              "upload.challenge incoming_path %s, expected %s",
              SHOW(pc_str(body, "incoming_path")), want_path);
        CHECK(t_time_of(pc_str(body, "expires_at"), &exp) == 0 &&
                  exp > time(NULL),
              "upload.challenge expires_at %s is not in the future",
              SHOW(pc_str(body, "expires_at")));
        snprintf(up->nonce, sizeof(up->nonce), "%s", pc_str(body, "nonce"));
        snprintf(up->incoming_path, sizeof(up->incoming_path), "%s", want_path);
        ret = 0;
done:
        json_decref(env);
        return ret;
}

/* Nothing at <store>/<rel> any more (`what` names it in the message). */
static int store_gone(struct t *t, const char *rel, const char *what)
{
        char path[1024];
        struct stat st;

        snprintf(path, sizeof(path), "%s/%s", t->store, rel);
        if (lstat(path, &st) == 0 || errno != ENOENT) {
                t_fail(t, __LINE__, "%s %s is still there", what, path);
                return -1;
        }
        return 0;
}

/* Write `len` bytes at <store>/<rel> (replacing what is there). */
static int store_write(struct t *t, const char *rel, const void *data,
                       size_t len)
{
        char path[1024];
        int fd = -1, ret = -1;
        ssize_t n;
        size_t off = 0;

        snprintf(path, sizeof(path), "%s/%s", t->store, rel);
        unlink(path);
        if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
            -1)
                FAIL("cannot write %s: %s", path, strerror(errno));
        while (off < len) {
                if ((n = write(fd, (const char *)data + off, len - off)) <= 0)
                        FAIL("write %s: %s", path, strerror(errno));
                off += (size_t)n;
        }
        ret = 0;
done:
        if (fd != -1)
                close(fd);
        return ret;
}

static int up_place(struct t *t, const struct upload *up)
{
        return store_write(t, up->incoming_path, up->data, up->size);
}

/* A's NRO (base64) over the nro TBS of these values into `out`. */
static int sign_nro(struct t *t, const struct crypto_key *key,
                    const char *file_id, const char *uploader,
                    const char *sha256, const char *size_dec, const char *nonce,
                    char *out, size_t outlen)
{
        struct tbs_nro f = {file_id, uploader, sha256, size_dec, nonce};
        char *tbs = NULL, *sig = NULL;
        size_t len = 0;
        int ret = -1;

        TRY(tbs_nro(&f, &tbs, &len, ERR));
        TRYP(sig = pc_sign_b64(key, tbs, len, ERR));
        snprintf(out, outlen, "%s", sig);
        ret = 0;
done:
        free(tbs);
        free(sig);
        return ret;
}

static int up_sign(struct t *t, struct party *a, struct upload *up)
{
        int ret = -1;

        TRY(sign_nro(t, a->u.key, up->file_id, a->u.name, up->sha256,
                     up->size_dec, up->nonce, up->nro, sizeof(up->nro)));
        TRY(pc_sha256_hex_b64(up->nro, up->nro_sha256, ERR));
        ret = 0;
done:
        return ret;
}

/* The upload.commit envelope of `up` with these path, nonce and nro. */
static json_t *up_commit_env(struct t *t, struct party *a,
                             const struct upload *up, const char *path,
                             const char *nonce, const char *nro)
{
        return req_new(t, a, "upload.commit",
                       json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "file_id",
                                 up->file_id, "nonce", nonce, "path", path,
                                 "sha256", up->sha256, "size",
                                 (json_int_t)up->size, "nro", nro));
}

/* Check a verified upload.result for `up` and keep its time. */
static int up_check_result(struct t *t, struct party *a, struct upload *up,
                           const json_t *res)
{
        const json_t *body = pc_body(res);
        int ret = -1;

        CHECK(json_is_true(json_object_get(body, "verified")),
              "upload.result for %s: verified false (reason %s), expected "
              "true",
              up->file_id, SHOW(pc_str(body, "reason")));
        CHECK(STREQ(pc_str(body, "sha256"), up->sha256),
              "upload.result sha256 %s, expected %s",
              SHOW(pc_str(body, "sha256")), up->sha256);
        snprintf(up->time, sizeof(up->time), "%s", pc_str(body, "time"));
        TRY(verify_evidence(t, "upload", up->file_id, a->u.name, NULL,
                            up->sha256, up->nro_sha256, NULL, up->time,
                            pc_str(body, "ttp_sig")));
        ret = 0;
done:
        return ret;
}

/* Step 3 with the right values: verified true, ttp_sig checked. */
static int up_commit(struct t *t, struct party *a, struct upload *up)
{
        json_t *env = NULL, *res;
        int ret = -1;

        TRY(up_sign(t, a, up));
        TRYP(env = up_commit_env(t, a, up, up->incoming_path, up->nonce,
                                 up->nro));
        TRY(send_env(t, env));
        TRYP(res = await(t, a, "upload.result", up->file_id, msg_id_of(env)));
        TRY(up_check_result(t, a, up, res));
        /* The document moved to its object. */
        TRY(store_gone(t, up->incoming_path,
                       "after upload.result the incoming "
                       "file"));
        ret = 0;
done:
        json_decref(env);
        return ret;
}

static int do_upload(struct t *t, struct party *a, struct upload *up,
                     size_t size)
{
        int ret = -1;

        TRY(up_init(t, up, size));
        TRY(up_request(t, a, up));
        TRY(up_place(t, up));
        TRY(up_commit(t, a, up));
        ret = 0;
done:
        return ret;
}

/*
 * Send a commit that the document check must refuse: upload.result
 * verified false with `reason`, the claimed hash, no ttp_sig, and no
 * change in the database.
 */
static int expect_verdict(struct t *t, struct party *a, const json_t *env,
                          const char *reason, char *reply_id)
{
        char before[1024], after[1024], got[1024];
        const json_t *res, *body;
        int ret = -1;

        TRY(db_checksum(t, before, sizeof(before)));
        TRY(send_env(t, env));
        TRYP(res = await_answer(t, a, env));
        body = pc_body(res);
        describe(res, got, sizeof(got));
        CHECK(STREQ(pc_str(res, "type"), "upload.result"),
              "commit %s (path %s): expected upload.result verified false "
              "reason %s, got %s",
              msg_id_of(env), SHOW(pc_str(pc_body(env), "path")), reason, got);
        CHECK(json_is_false(json_object_get(body, "verified")) &&
                  STREQ(pc_str(body, "reason"), reason),
              "commit (path %s): expected verified false reason %s, got %s",
              SHOW(pc_str(pc_body(env), "path")), reason, got);
        CHECK(STREQ(pc_str(body, "sha256"), pc_str(pc_body(env), "sha256")),
              "refused upload.result sha256 is not the claimed one: %s", got);
        CHECK(json_object_get(body, "ttp_sig") == NULL,
              "refused upload.result carries a ttp_sig: %s", got);
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0,
              "a refused commit (%s) changed the database: before [%s] after "
              "[%s]",
              reason, before, after);
        if (reply_id != NULL)
                snprintf(reply_id, IDS_MSG_ID_LEN + 1, "%s", msg_id_of(res));
        ret = 0;
done:
        return ret;
}

/* --- downloads -----------------------------------------------------------
 */

/* Steps 4 and 5: download.request and its challenge, every field checked,
 * A's NRO verified from the challenge alone as B would. */
static int dl_request(struct t *t, struct party *b, struct party *a,
                      const struct upload *up, struct download *dl)
{
        json_t *env = NULL, *ch, *body;
        struct crypto_key *akey = NULL;
        struct tbs_nro f;
        char *tbs = NULL, size_dec[24], why[512];
        size_t len = 0;
        time_t exp;
        int ret = -1;

        memset(dl, 0, sizeof(*dl));
        TRYP(env = req_new(t, b, "download.request",
                           json_pack("{s:s}", "file_id", up->file_id)));
        TRY(send_env(t, env));
        TRYP(ch = await(t, b, "download.challenge", up->file_id,
                        msg_id_of(env)));
        body = pc_body(ch);
        CHECK(STREQ(pc_str(body, "key_id"), b->u.key_id),
              "download.challenge key_id %s, expected the downloader's %s",
              SHOW(pc_str(body, "key_id")), b->u.key_id);
        CHECK(STREQ(pc_str(body, "uploader"), a->u.name),
              "download.challenge uploader %s, expected %s",
              SHOW(pc_str(body, "uploader")), a->u.name);
        CHECK(STREQ(pc_str(body, "uploader_public_key"), a->u.spki_b64),
              "download.challenge uploader_public_key is not %s's key",
              a->u.name);
        CHECK(STREQ(pc_str(body, "sha256"), up->sha256),
              "download.challenge sha256 %s, expected %s",
              SHOW(pc_str(body, "sha256")), up->sha256);
        CHECK(json_integer_value(json_object_get(body, "size")) ==
                  (json_int_t)up->size,
              "download.challenge size %lld, expected %zu",
              (long long)json_integer_value(json_object_get(body, "size")),
              up->size);
        CHECK(STREQ(pc_str(body, "nro"), up->nro),
              "download.challenge nro is not the NRO A committed");
        CHECK(STREQ(pc_str(body, "upload_nonce"), up->nonce),
              "download.challenge upload_nonce %s, expected %s",
              SHOW(pc_str(body, "upload_nonce")), up->nonce);
        CHECK(!STREQ(pc_str(body, "nonce"), up->nonce),
              "download nonce equals the upload nonce");
        CHECK(t_time_of(pc_str(body, "expires_at"), &exp) == 0 &&
                  exp > time(NULL),
              "download.challenge expires_at %s is not in the future",
              SHOW(pc_str(body, "expires_at")));
        /* B's check of the NRO, from the challenge's own fields. */
        TRYP(akey = pc_key_from_b64(pc_str(body, "uploader_public_key"), ERR));
        snprintf(size_dec, sizeof(size_dec), "%lld",
                 (long long)json_integer_value(json_object_get(body, "size")));
        f.file_id = pc_str(body, "file_id");
        f.uploader = pc_str(body, "uploader");
        f.sha256 = pc_str(body, "sha256");
        f.size = size_dec;
        f.nonce = pc_str(body, "upload_nonce");
        TRY(tbs_nro(&f, &tbs, &len, ERR));
        CHECK(pc_verify_b64(akey, tbs, len, pc_str(body, "nro"), why,
                            sizeof(why)) == 0,
              "the challenge's NRO does not verify under "
              "uploader_public_key: %s",
              why);
        snprintf(dl->nonce, sizeof(dl->nonce), "%s", pc_str(body, "nonce"));
        ret = 0;
done:
        crypto_key_free(akey);
        free(tbs);
        json_decref(env);
        return ret;
}

static int sign_nrr(struct t *t, const struct crypto_key *key,
                    const char *file_id, const char *downloader,
                    const char *sha256, const char *nro_sha256,
                    const char *nonce, char *out, size_t outlen)
{
        struct tbs_nrr f = {file_id, downloader, sha256, nro_sha256, nonce};
        char *tbs = NULL, *sig = NULL;
        size_t len = 0;
        int ret = -1;

        TRY(tbs_nrr(&f, &tbs, &len, ERR));
        TRYP(sig = pc_sign_b64(key, tbs, len, ERR));
        snprintf(out, outlen, "%s", sig);
        ret = 0;
done:
        free(tbs);
        free(sig);
        return ret;
}

static json_t *dl_receipt_env(struct t *t, struct party *b,
                              const struct upload *up, const char *nonce,
                              const char *nrr)
{
        return req_new(t, b, "download.receipt",
                       json_pack("{s:s, s:s, s:s}", "file_id", up->file_id,
                                 "nonce", nonce, "nrr", nrr));
}

static int dl_sign(struct t *t, struct party *b, const struct upload *up,
                   struct download *dl)
{
        int ret = -1;

        TRY(sign_nrr(t, b->u.key, up->file_id, b->u.name, up->sha256,
                     up->nro_sha256, dl->nonce, dl->nrr, sizeof(dl->nrr)));
        TRY(pc_sha256_hex_b64(dl->nrr, dl->nrr_sha256, ERR));
        ret = 0;
done:
        return ret;
}

/* The object at <store>/<path>: a regular file, mode 0444, holding M. */
static int check_object(struct t *t, const char *path, const struct upload *up)
{
        char full[1024], hex[CRYPTO_SHA256_HEX_LEN + 1];
        unsigned char sha[CRYPTO_SHA256_LEN];
        struct stat st;
        uint64_t size = 0;
        int ret = -1;

        CHECK(strncmp(path, "objects/", 8) == 0 && hex_is_lower(path + 8, 32),
              "object_path %s is not objects/<32 lowercase hex>", path);
        CHECK(strncmp(path + 8, up->sha256, 8) != 0,
              "object_path %s looks derived from the content hash %s", path,
              up->sha256);
        snprintf(full, sizeof(full), "%s/%s", t->store, path);
        CHECK(lstat(full, &st) == 0, "object %s: %s", full, strerror(errno));
        CHECK(S_ISREG(st.st_mode), "object %s is not a regular file", full);
        CHECK((st.st_mode & 07777) == 0444, "object %s has mode %04o, not 0444",
              full, (unsigned)(st.st_mode & 07777));
        TRY(crypto_sha256_path(full, sha, &size, ERR));
        hex_encode(sha, sizeof(sha), hex, sizeof(hex));
        CHECK(size == up->size && strcmp(hex, up->sha256) == 0,
              "object %s holds %llu bytes with SHA-256 %s, expected %zu bytes "
              "with %s",
              full, (unsigned long long)size, hex, up->size, up->sha256);
        ret = 0;
done:
        return ret;
}

/* A's receipt for B's download `dl`: every field, B's NRR as A would check
 * it, the TTP's signature. */
static int check_receipt(struct t *t, const json_t *rc, const char *uploader,
                         const char *downloader, const char *downloader_spki,
                         const struct upload *up, const struct download *dl)
{
        const json_t *body = pc_body(rc);
        struct crypto_key *bkey = NULL;
        struct tbs_nrr f;
        char *tbs = NULL, why[512];
        size_t len = 0;
        int ret = -1;

        CHECK(STREQ(pc_str(body, "downloader"), downloader),
              "receipt downloader %s, expected %s",
              SHOW(pc_str(body, "downloader")), downloader);
        if (downloader_spki != NULL)
                CHECK(STREQ(pc_str(body, "downloader_public_key"),
                            downloader_spki),
                      "receipt downloader_public_key is not %s's key",
                      downloader);
        CHECK(STREQ(pc_str(body, "sha256"), up->sha256),
              "receipt sha256 %s, expected %s", SHOW(pc_str(body, "sha256")),
              up->sha256);
        CHECK(STREQ(pc_str(body, "nro_sha256"), up->nro_sha256),
              "receipt nro_sha256 %s, expected %s",
              SHOW(pc_str(body, "nro_sha256")), up->nro_sha256);
        if (dl->nrr[0] != '\0')
                CHECK(STREQ(pc_str(body, "nrr"), dl->nrr),
                      "receipt nrr is not the NRR B sent");
        CHECK(STREQ(pc_str(body, "nonce"), dl->nonce),
              "receipt nonce %s, expected B's download nonce %s",
              SHOW(pc_str(body, "nonce")), dl->nonce);
        TRYP(bkey =
                 pc_key_from_b64(pc_str(body, "downloader_public_key"), ERR));
        f.file_id = pc_str(body, "file_id");
        f.downloader = pc_str(body, "downloader");
        f.sha256 = pc_str(body, "sha256");
        f.nro_sha256 = pc_str(body, "nro_sha256");
        f.nonce = pc_str(body, "nonce");
        TRY(tbs_nrr(&f, &tbs, &len, ERR));
        CHECK(pc_verify_b64(bkey, tbs, len, pc_str(body, "nrr"), why,
                            sizeof(why)) == 0,
              "receipt nrr does not verify under downloader_public_key: %s",
              why);
        {
                char nrr_sha[CRYPTO_SHA256_HEX_LEN + 1];
                TRY(pc_sha256_hex_b64(pc_str(body, "nrr"), nrr_sha, ERR));
                TRY(verify_evidence(t, "exchange", up->file_id, uploader,
                                    downloader, up->sha256, up->nro_sha256,
                                    nrr_sha, pc_str(body, "time"),
                                    pc_str(body, "ttp_sig")));
        }
        ret = 0;
done:
        crypto_key_free(bkey);
        free(tbs);
        return ret;
}

/* B's delivery: every field, the TTP's signature, the object itself. */
static int check_delivery(struct t *t, const json_t *dv, const char *uploader,
                          const char *downloader, const struct upload *up,
                          const struct download *dl, const char *nrr_sha256)
{
        const json_t *body = pc_body(dv);
        int ret = -1;

        CHECK(STREQ(pc_str(body, "nonce"), dl->nonce),
              "delivery nonce %s, expected B's download nonce %s",
              SHOW(pc_str(body, "nonce")), dl->nonce);
        CHECK(STREQ(pc_str(body, "uploader"), uploader),
              "delivery uploader %s, expected %s",
              SHOW(pc_str(body, "uploader")), uploader);
        CHECK(STREQ(pc_str(body, "sha256"), up->sha256),
              "delivery sha256 %s, expected %s", SHOW(pc_str(body, "sha256")),
              up->sha256);
        CHECK(json_integer_value(json_object_get(body, "size")) ==
                  (json_int_t)up->size,
              "delivery size %lld, expected %zu",
              (long long)json_integer_value(json_object_get(body, "size")),
              up->size);
        CHECK(STREQ(pc_str(body, "nro"), up->nro),
              "delivery nro is not A's NRO");
        CHECK(STREQ(pc_str(body, "upload_nonce"), up->nonce),
              "delivery upload_nonce %s, expected %s",
              SHOW(pc_str(body, "upload_nonce")), up->nonce);
        TRY(verify_evidence(t, "exchange", up->file_id, uploader, downloader,
                            up->sha256, up->nro_sha256, nrr_sha256,
                            pc_str(body, "time"), pc_str(body, "ttp_sig")));
        TRY(check_object(t, pc_str(body, "object_path"), up));
        ret = 0;
done:
        return ret;
}

static json_t *await_nonce(struct t *t, struct party *p, const char *type,
                           const char *file_id, const char *nonce,
                           const char *req_msg_id)
{
        struct pc_match m = {type, file_id, NULL, nonce};

        return pc_reader_wait(p->r, &m, req_msg_id, t->timeout_ms, ERR);
}

/* A's receipt and B's delivery for `dl`, checked and cross-checked. */
static int dl_await_both(struct t *t, struct party *a, struct party *b,
                         const struct upload *up, struct download *dl,
                         const char *req_msg_id)
{
        json_t *rc, *dv;
        const json_t *rb, *db;
        int ret = -1;

        TRYP(dv = await_nonce(t, b, "delivery", up->file_id, dl->nonce,
                              req_msg_id));
        TRYP(rc = await_nonce(t, a, "receipt", up->file_id, dl->nonce, NULL));
        TRY(check_receipt(t, rc, a->u.name, b->u.name, b->u.spki_b64, up, dl));
        TRY(check_delivery(t, dv, a->u.name, b->u.name, up, dl,
                           dl->nrr_sha256));
        rb = pc_body(rc);
        db = pc_body(dv);
        CHECK(STREQ(pc_str(rb, "time"), pc_str(db, "time")) &&
                  STREQ(pc_str(rb, "ttp_sig"), pc_str(db, "ttp_sig")),
              "receipt (time %s) and delivery (time %s) do not carry the same "
              "evidence",
              SHOW(pc_str(rb, "time")), SHOW(pc_str(db, "time")));
        snprintf(dl->time, sizeof(dl->time), "%s", pc_str(rb, "time"));
        snprintf(dl->ttp_sig, sizeof(dl->ttp_sig), "%s", pc_str(rb, "ttp_sig"));
        snprintf(dl->object_path, sizeof(dl->object_path), "%s",
                 pc_str(db, "object_path"));
        ret = 0;
done:
        return ret;
}

/* Step 6 and its outcome 7 + 8. */
static int dl_receipt(struct t *t, struct party *a, struct party *b,
                      const struct upload *up, struct download *dl)
{
        json_t *env = NULL;
        int ret = -1;

        TRY(dl_sign(t, b, up, dl));
        TRYP(env = dl_receipt_env(t, b, up, dl->nonce, dl->nrr));
        TRY(send_env(t, env));
        TRY(dl_await_both(t, a, b, up, dl, msg_id_of(env)));
        ret = 0;
done:
        json_decref(env);
        return ret;
}

static int do_download(struct t *t, struct party *a, struct party *b,
                       const struct upload *up, struct download *dl)
{
        int ret = -1;

        TRY(dl_request(t, b, a, up, dl));
        TRY(dl_receipt(t, a, b, up, dl));
        ret = 0;
done:
        return ret;
}

/* Poll until `msg_id` was seen again at `p` (a re-published reply). */
static int await_dup(struct t *t, struct party *p, const char *msg_id)
{
        int waited = 0;

        while (pc_reader_dups(p->r, msg_id) == 0) {
                if (waited >= t->timeout_ms) {
                        t_fail(t, __LINE__,
                               "%s: reply %s was not re-published within %d "
                               "ms after the retry",
                               p->u.name, msg_id, t->timeout_ms);
                        return -1;
                }
                if (pc_reader_poll(p->r, 200, ERR) == -1)
                        return -1;
                waited += 200;
        }
        return 0;
}

/* Signature encodings: high-S accepted (and kept verbatim as evidence),
 * BER that is not DER refused. */
static int sc_sig_encoding(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        json_t *env = NULL, *res;
        char *flip = NULL, *ber = NULL;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "sea", &b, "seb", NULL));
        TRY(up_init(t, &up, 600));
        /* upload.request with a high-S envelope sig. */
        TRYP(env = req_new(t, &a, "upload.request", up_request_body(&up)));
        TRYP(flip = sig_flip_s(pc_str(env, "sig")));
        json_object_set_new(env, "sig", json_string(flip));
        TRY(send_env(t, env));
        TRYP(res =
                 await(t, &a, "upload.challenge", up.file_id, msg_id_of(env)));
        snprintf(up.nonce, sizeof(up.nonce), "%s",
                 pc_str(pc_body(res), "nonce"));
        snprintf(up.incoming_path, sizeof(up.incoming_path), "%s",
                 pc_str(pc_body(res), "incoming_path"));
        TRY(up_place(t, &up));
        /* A high-S NRO: verified, and B gets exactly those bytes. */
        TRY(up_sign(t, &a, &up));
        free(flip);
        TRYP(flip = sig_flip_s(up.nro));
        snprintf(up.nro, sizeof(up.nro), "%s", flip);
        TRY(pc_sha256_hex_b64(up.nro, up.nro_sha256, ERR));
        json_decref(env);
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(send_env(t, env));
        TRYP(res = await(t, &a, "upload.result", up.file_id, msg_id_of(env)));
        TRY(up_check_result(t, &a, &up, res));
        TRY(dl_request(t, &b, &a, &up, &dl)); /* checks nro == up.nro */
        /* A high-S NRR: the exchange completes, A gets those bytes. */
        TRY(dl_sign(t, &b, &up, &dl));
        free(flip);
        TRYP(flip = sig_flip_s(dl.nrr));
        snprintf(dl.nrr, sizeof(dl.nrr), "%s", flip);
        TRY(pc_sha256_hex_b64(dl.nrr, dl.nrr_sha256, ERR));
        json_decref(env);
        TRYP(env = dl_receipt_env(t, &b, &up, dl.nonce, dl.nrr));
        TRY(send_env(t, env));
        TRY(dl_await_both(t, &a, &b, &up, &dl, msg_id_of(env)));
        /* A request sig in BER long form: bad_signature. */
        for (int i = 0; i < 50 && ber == NULL; i++) {
                json_decref(env);
                TRYP(env = req_new(t, &b, "download.request",
                                   json_pack("{s:s}", "file_id", up.file_id)));
                ber = sig_long_form(pc_str(env, "sig"));
        }
        CHECK(ber != NULL, "no signature short enough for the BER case");
        json_object_set_new(env, "sig", json_string(ber));
        TRY(expect_error(t, &b, env, "bad_signature", 1));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        free(flip);
        free(ber);
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/* Commit `up` with `nonce` and an NRO made over that nonce. */
static json_t *commit_with_nonce(struct t *t, struct party *a,
                                 const struct upload *up, const char *nonce)
{
        char nro[128];

        if (sign_nro(t, a->u.key, up->file_id, a->u.name, up->sha256,
                     up->size_dec, nonce, nro, sizeof(nro)) == -1)
                return NULL;
        return up_commit_env(t, a, up, up->incoming_path, nonce, nro);
}

/* Receipt for `up` by b with `nonce` and an NRR made over that nonce. */
static json_t *receipt_with_nonce(struct t *t, struct party *b,
                                  const struct upload *up, const char *nonce)
{
        char nrr[128];

        if (sign_nrr(t, b->u.key, up->file_id, b->u.name, up->sha256,
                     up->nro_sha256, nonce, nrr, sizeof(nrr)) == -1)
                return NULL;
        return dl_receipt_env(t, b, up, nonce, nrr);
}

static int expect_nonce_error(struct t *t, struct party *p, json_t *env,
                              const char *code)
{
        int ret;

        if (env == NULL)
                return -1;
        ret = expect_error(t, p, env, code, 1);
        json_decref(env);
        return ret;
}

/* --- scenarios: registration ---------------------------------------------
 */

static int sc_register(struct t *t, int arg)
{
        struct party a;
        long n;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        TRY(party_new(t, &a, "reg"));
        TRY(party_register(t, &a));
        TRY(db_long(t, &n,
                    "SELECT COUNT(*) FROM users WHERE user_id = \"%s\" AND "
                    "LOWER(HEX(key_id)) = \"%s\"",
                    a.u.name, a.u.key_id));
        CHECK(n == 1, "users has %ld rows for %s with key id %s, expected 1", n,
              a.u.name, a.u.key_id);
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        party_fini(&a);
        return ret;
}

static int sc_register_retry(struct t *t, int arg)
{
        struct party a;
        json_t *env = NULL, *res;
        char before[1024], after[1024], first_id[40];
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        TRY(party_new(t, &a, "regr"));
        TRYP(env = req_new(t, &a, "register",
                           json_pack("{s:s}", "public_key", a.u.spki_b64)));
        TRY(send_env(t, env));
        TRYP(res = await(t, &a, "register.result", NULL, msg_id_of(env)));
        snprintf(first_id, sizeof(first_id), "%s", msg_id_of(res));
        /* The same bytes again: the same reply, re-published. */
        TRY(db_checksum(t, before, sizeof(before)));
        TRY(send_env(t, env));
        TRY(await_dup(t, &a, first_id));
        json_decref(env);
        /* A new register with the same key: a retry in the contract's
         * sense, register.result again. */
        TRYP(env = req_new(t, &a, "register",
                           json_pack("{s:s}", "public_key", a.u.spki_b64)));
        TRY(send_env(t, env));
        TRYP(res = await(t, &a, "register.result", NULL, msg_id_of(env)));
        CHECK(STREQ(pc_str(pc_body(res), "key_id"), a.u.key_id),
              "second register.result key_id %s, expected %s",
              SHOW(pc_str(pc_body(res), "key_id")), a.u.key_id);
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0,
              "registering the same key again changed the database");
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        json_decref(env);
        party_fini(&a);
        return ret;
}

static int sc_register_key_conflict(struct t *t, int arg)
{
        struct party a, c;
        json_t *env = NULL;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&c, 0, sizeof(c));
        TRY(parties_new(t, 1, &a, "regk", NULL));
        TRY(party_new(t, &c, "regc"));
        /* C claims A's key (signing with it: C stole it): key_conflict. */
        TRYP(env = pc_request_new(
                 &c.u, "register",
                 json_pack("{s:s}", "public_key", a.u.spki_b64), 0, ERR));
        TRY(pc_request_sign(env, a.u.key, a.u.key_id, ERR));
        TRY(expect_error(t, &c, env, "key_conflict", 1));
        json_decref(env);
        env = NULL;
        /* A with another key: key_conflict. */
        TRY(pc_user_new_key(&a.u, ERR));
        TRYP(env = req_new(t, &a, "register",
                           json_pack("{s:s}", "public_key", a.u.spki_b64)));
        TRY(expect_error(t, &a, env, "key_conflict", 1));
        TRY(quiet(t, &a, &c, NULL));
        ret = 0;
done:
        json_decref(env);
        party_fini(&a);
        party_fini(&c);
        return ret;
}

static int sc_register_bad_signature(struct t *t, int arg)
{
        struct party a, other;
        json_t *env = NULL;
        long n;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&other, 0, sizeof(other));
        TRY(party_new(t, &a, "regs"));
        TRY(party_new(t, &other, "rego"));
        /* Signed by a key that is not the one registered. */
        TRYP(env = req_new(t, &a, "register",
                           json_pack("{s:s}", "public_key", a.u.spki_b64)));
        TRY(pc_request_sign(env, other.u.key, a.u.key_id, ERR));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        json_decref(env);
        /* The right key over a TBS naming another public key. */
        TRYP(env = req_new(t, &a, "register",
                           json_pack("{s:s}", "public_key", a.u.spki_b64)));
        TRY(pc_request_sign(env, a.u.key, other.u.key_id, ERR));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        TRY(db_long(t, &n, "SELECT COUNT(*) FROM users WHERE user_id = \"%s\"",
                    a.u.name));
        CHECK(n == 0, "%s is registered after bad signatures", a.u.name);
        TRY(quiet(t, &a, &other, NULL));
        ret = 0;
done:
        json_decref(env);
        party_fini(&a);
        party_fini(&other);
        return ret;
}

/* --- scenarios: exchanges ------------------------------------------------
 */

static int sc_exchange(struct t *t, int size)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        long n;
        int ret = -1;

        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "xa", &b, "xb", NULL));
        TRY(do_upload(t, &a, &up, (size_t)size));
        TRY(do_download(t, &a, &b, &up, &dl));
        TRY(db_long(t, &n,
                    "SELECT COUNT(*) FROM downloads_completed WHERE file_id = "
                    "\"%s\" AND downloader = \"%s\"",
                    up.file_id, b.u.name));
        CHECK(n == 1, "downloads_completed has %ld rows for %s, expected 1", n,
              up.file_id);
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_two_downloaders(struct t *t, int arg)
{
        struct party a, b, c;
        struct upload up;
        struct download d1, d2;
        int ret = -1, n;
        struct pc_match m = {"receipt", NULL, NULL, NULL};

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "2a", &b, "2b", &c, "2c", NULL));
        TRY(do_upload(t, &a, &up, 4096));
        /* Both challenges out before either receipt. */
        TRY(dl_request(t, &b, &a, &up, &d1));
        TRY(dl_request(t, &c, &a, &up, &d2));
        CHECK(strcmp(d1.nonce, d2.nonce) != 0,
              "two downloaders got the same nonce");
        TRY(dl_receipt(t, &a, &c, &up, &d2));
        TRY(dl_receipt(t, &a, &b, &up, &d1));
        m.file_id = up.file_id;
        CHECK((n = pc_reader_count(a.r, &m)) == 2,
              "A has %d receipts for %s, expected 2", n, up.file_id);
        TRY(quiet(t, &a, &b, &c, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        party_fini(&c);
        return ret;
}

static int sc_download_twice(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download d1, d2, d3;
        struct pc_match m = {"receipt", NULL, NULL, NULL};
        long rows;
        int ret = -1, n;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "ta", &b, "tb", NULL));
        TRY(do_upload(t, &a, &up, 777));
        /* Two pending downloads of one B, answered in reverse order. */
        TRY(dl_request(t, &b, &a, &up, &d1));
        TRY(dl_request(t, &b, &a, &up, &d2));
        CHECK(strcmp(d1.nonce, d2.nonce) != 0,
              "two download requests got the same nonce");
        TRY(dl_receipt(t, &a, &b, &up, &d2));
        TRY(dl_receipt(t, &a, &b, &up, &d1));
        /* And once more after both completed. */
        TRY(do_download(t, &a, &b, &up, &d3));
        m.file_id = up.file_id;
        CHECK((n = pc_reader_count(a.r, &m)) == 3,
              "A has %d receipts for %s, expected 3", n, up.file_id);
        TRY(db_long(t, &rows,
                    "SELECT COUNT(*) FROM downloads_completed WHERE file_id = "
                    "\"%s\"",
                    up.file_id));
        CHECK(rows == 3, "downloads_completed has %ld rows, expected 3", rows);
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/* A user may download their own file (decision 13). */
static int sc_download_own(struct t *t, int arg)
{
        struct party a;
        struct upload up;
        struct download dl;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "own", NULL));
        TRY(do_upload(t, &a, &up, 100));
        TRY(do_download(t, &a, &a, &up, &dl));
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        return ret;
}

/* Object names are not derived from the content: the same M uploaded
 * twice gets two objects. */
static int sc_same_content(struct t *t, int arg)
{
        struct party a, b;
        struct upload u1, u2;
        struct download d1, d2;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&u1, 0, sizeof(u1));
        memset(&u2, 0, sizeof(u2));
        TRY(parties_new(t, 1, &a, "sca", &b, "scb", NULL));
        TRY(do_upload(t, &a, &u1, 2000));
        TRY(up_init(t, &u2, 2000));
        memcpy(u2.data, u1.data, u1.size);
        snprintf(u2.sha256, sizeof(u2.sha256), "%s", u1.sha256);
        TRY(up_request(t, &a, &u2));
        TRY(up_place(t, &u2));
        TRY(up_commit(t, &a, &u2));
        TRY(do_download(t, &a, &b, &u1, &d1));
        TRY(do_download(t, &a, &b, &u2, &d2));
        CHECK(strcmp(d1.object_path, d2.object_path) != 0,
              "two uploads of the same content share the object %s",
              d1.object_path);
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        up_fini(&u1);
        up_fini(&u2);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static const json_t *catalog_find(const json_t *files, const char *file_id,
                                  size_t *index)
{
        for (size_t i = 0; i < json_array_size(files); i++) {
                const json_t *e = json_array_get(files, i);
                if (STREQ(pc_str(e, "file_id"), file_id)) {
                        *index = i;
                        return e;
                }
        }
        return NULL;
}

static int check_catalog_entry(struct t *t, const json_t *e,
                               const struct upload *up, const char *uploader)
{
        time_t got, want;
        int ret = -1;

        CHECK(STREQ(pc_str(e, "name"), up->name),
              "catalog name of %s: %s, expected %s", up->file_id,
              SHOW(pc_str(e, "name")), up->name);
        CHECK(STREQ(pc_str(e, "uploader"), uploader),
              "catalog uploader of %s: %s, expected %s", up->file_id,
              SHOW(pc_str(e, "uploader")), uploader);
        CHECK(STREQ(pc_str(e, "sha256"), up->sha256),
              "catalog sha256 of %s: %s, expected %s", up->file_id,
              SHOW(pc_str(e, "sha256")), up->sha256);
        CHECK(json_integer_value(json_object_get(e, "size")) ==
                  (json_int_t)up->size,
              "catalog size of %s: %lld, expected %zu", up->file_id,
              (long long)json_integer_value(json_object_get(e, "size")),
              up->size);
        CHECK(t_time_of(pc_str(e, "uploaded_at"), &got) == 0 &&
                  t_time_of(up->time, &want) == 0 && got - want <= 1 &&
                  want - got <= 1,
              "catalog uploaded_at of %s: %s, upload.result time %s",
              up->file_id, SHOW(pc_str(e, "uploaded_at")), up->time);
        ret = 0;
done:
        return ret;
}

static json_t *catalog_get(struct t *t, struct party *p)
{
        json_t *env = NULL, *res = NULL;

        if ((env = req_new(t, p, "catalog.request", json_object())) == NULL)
                return NULL;
        if (send_env(t, env) == 0)
                res = await(t, p, "catalog", NULL, msg_id_of(env));
        json_decref(env);
        return res;
}

static int sc_catalog(struct t *t, int arg)
{
        struct party a, c;
        struct upload u1, u2, u3;
        const json_t *files, *e1, *e2, *e3;
        json_t *res;
        size_t i1 = 0, i2 = 0, i3 = 0;
        time_t prev = 0, cur;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&c, 0, sizeof(c));
        memset(&u1, 0, sizeof(u1));
        memset(&u2, 0, sizeof(u2));
        memset(&u3, 0, sizeof(u3));
        TRY(parties_new(t, 1, &a, "ca", &c, "cc", NULL));
        /* Names travel as exact UTF-8 bytes: 1024 bytes is the limit. */
        TRY(up_init(t, &u1, 10));
        long_name(u1.name, 1024);
        TRY(up_request(t, &a, &u1));
        TRY(up_place(t, &u1));
        TRY(up_commit(t, &a, &u1));
        t_sleep_ms(1100); /* so that "newest first" is visible in seconds */
        TRY(up_init(t, &u2, 20));
        snprintf(u2.name, sizeof(u2.name),
                 "r\xc3\xa9sum\xc3\xa9 "
                 "\xe2\x9c\x93 \\ \"q\".pdf");
        TRY(up_request(t, &a, &u2));
        TRY(up_place(t, &u2));
        TRY(up_commit(t, &a, &u2));
        TRY(up_init(t, &u3, 30));
        TRY(up_request(t, &a, &u3)); /* ongoing: not in the catalog */
        TRYP(res = catalog_get(t, &c));
        files = json_object_get(pc_body(res), "files");
        CHECK((e1 = catalog_find(files, u1.file_id, &i1)) != NULL,
              "the catalog (%zu entries) does not list %s",
              json_array_size(files), u1.file_id);
        CHECK((e2 = catalog_find(files, u2.file_id, &i2)) != NULL,
              "the catalog (%zu entries) does not list %s",
              json_array_size(files), u2.file_id);
        e3 = catalog_find(files, u3.file_id, &i3);
        CHECK(e3 == NULL, "the catalog lists the ongoing upload %s",
              u3.file_id);
        TRY(check_catalog_entry(t, e1, &u1, a.u.name));
        TRY(check_catalog_entry(t, e2, &u2, a.u.name));
        CHECK(i2 < i1, "catalog lists %s (older) before %s (newer)", u1.file_id,
              u2.file_id);
        for (size_t i = 0; i < json_array_size(files); i++) {
                CHECK(t_time_of(pc_str(json_array_get(files, i), "uploaded_at"),
                                &cur) == 0 &&
                          (i == 0 || cur <= prev),
                      "catalog is not newest first at entry %zu", i);
                prev = cur;
        }
        TRY(quiet(t, &a, &c, NULL));
        ret = 0;
done:
        up_fini(&u1);
        up_fini(&u2);
        up_fini(&u3);
        party_fini(&a);
        party_fini(&c);
        return ret;
}

/* --- scenarios: aborts ---------------------------------------------------
 */

static json_t *abort_env(struct t *t, struct party *a, const char *file_id)
{
        return req_new(t, a, "abort", json_pack("{s:s}", "file_id", file_id));
}

/* Abort `up` as `a` and check abort.result {abort: outcome} with its
 * evidence; sha/nro_sha NULL for outcome 1. */
static int do_abort(struct t *t, struct party *a, const struct upload *up,
                    int outcome)
{
        json_t *env = NULL, *res;
        const json_t *body;
        int ret = -1, with_hash = outcome != 1;

        TRYP(env = abort_env(t, a, up->file_id));
        TRY(send_env(t, env));
        TRYP(res = await(t, a, "abort.result", up->file_id, msg_id_of(env)));
        body = pc_body(res);
        CHECK(json_integer_value(json_object_get(body, "abort")) == outcome,
              "abort.result abort %lld, expected %d",
              (long long)json_integer_value(json_object_get(body, "abort")),
              outcome);
        TRY(verify_evidence(t, "abort", up->file_id, a->u.name, NULL,
                            with_hash ? up->sha256 : NULL,
                            with_hash ? up->nro_sha256 : NULL, NULL,
                            pc_str(body, "time"), pc_str(body, "ttp_sig")));
        ret = 0;
done:
        json_decref(env);
        return ret;
}

static int object_path_of(struct t *t, const char *file_id, char *out,
                          size_t outlen)
{
        char sql[512];

        snprintf(sql, sizeof(sql),
                 "SELECT object_path FROM uploads_completed WHERE file_id = "
                 "\"%s\"",
                 file_id);
        return db_query(t, sql, out, outlen);
}

static int sc_abort_ongoing(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        json_t *env = NULL, *res;
        long n;
        int ret = -1;
        char got[1024];

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "ab1", &b, "ab1b", NULL));
        TRY(up_init(t, &up, 64));
        TRY(up_request(t, &a, &up));
        TRY(up_place(t, &up));
        TRY(do_abort(t, &a, &up, 1));
        TRY(store_gone(t, up.incoming_path, "after abort 1 the incoming file"));
        TRY(db_long(t, &n,
                    "SELECT (SELECT COUNT(*) FROM uploads_ongoing WHERE "
                    "file_id = \"%s\") * 10 + (SELECT COUNT(*) FROM aborts "
                    "WHERE file_id = \"%s\" AND outcome = 1)",
                    up.file_id, up.file_id));
        CHECK(n == 1,
              "after abort 1: %ld ongoing rows and %ld aborts rows with "
              "outcome 1, expected 0 and 1",
              n / 10, n % 10);
        /* The dropped upload cannot be committed any more. */
        TRY(up_place(t, &up));
        TRY(up_sign(t, &a, &up));
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(send_env(t, env));
        TRYP(res = await_answer(t, &a, env));
        describe(res, got, sizeof(got));
        CHECK(STREQ(pc_str(res, "type"), "error") &&
                  (STREQ(pc_str(pc_body(res), "code"), "file_aborted") ||
                   STREQ(pc_str(pc_body(res), "code"), "nonce_invalid")),
              "commit after abort 1: expected error file_aborted or "
              "nonce_invalid, got %s",
              got);
        json_decref(env);
        env = NULL;
        /* The file_id stays taken (decision 11). */
        TRY(expect_error_req(t, &a, "upload.request", up_request_body(&up),
                             "file_exists"));
        TRY(expect_error_req(t, &b, "download.request",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "file_aborted"));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_abort_uploaded(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        json_t *env = NULL, *res;
        char obj[300], full[1024], got[1024];
        struct stat st;
        long n;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "ab2", &b, "ab2b", NULL));
        TRY(do_upload(t, &a, &up, 5000));
        TRY(object_path_of(t, up.file_id, obj, sizeof(obj)));
        TRY(check_object(t, obj, &up));
        TRY(dl_request(t, &b, &a, &up, &dl)); /* pending: cancelled */
        TRY(do_abort(t, &a, &up, 2));
        TRYP(res = await(t, &b, "download.cancelled", up.file_id, NULL));
        CHECK(STREQ(pc_str(pc_body(res), "reason"), "file_aborted"),
              "download.cancelled reason %s, expected file_aborted",
              SHOW(pc_str(pc_body(res), "reason")));
        snprintf(full, sizeof(full), "%s/%s", t->store, obj);
        CHECK(lstat(full, &st) == -1 && errno == ENOENT,
              "after abort 2 the object %s is still there", full);
        TRY(db_long(t, &n,
                    "SELECT (SELECT COUNT(*) FROM uploads_completed WHERE "
                    "file_id = \"%s\") * 10 + (SELECT COUNT(*) FROM aborts "
                    "WHERE file_id = \"%s\" AND outcome = 2)",
                    up.file_id, up.file_id));
        CHECK(n == 1,
              "after abort 2: %ld completed rows and %ld aborts rows with "
              "outcome 2, expected 0 and 1",
              n / 10, n % 10);
        TRY(expect_error_req(t, &b, "download.request",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "file_aborted"));
        TRY(expect_error_req(t, &b, "upload.request", up_request_body(&up),
                             "file_exists"));
        /* The cancelled download's receipt: refused, nothing released. */
        TRY(dl_sign(t, &b, &up, &dl));
        TRYP(env = dl_receipt_env(t, &b, &up, dl.nonce, dl.nrr));
        TRY(send_env(t, env));
        TRYP(res = await_answer(t, &b, env));
        describe(res, got, sizeof(got));
        CHECK(STREQ(pc_str(res, "type"), "error") &&
                  (STREQ(pc_str(pc_body(res), "code"), "file_aborted") ||
                   STREQ(pc_str(pc_body(res), "code"), "nonce_invalid")),
              "receipt for a download cancelled by abort 2: expected error "
              "file_aborted or nonce_invalid, got %s",
              got);
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_abort_downloaded(struct t *t, int arg)
{
        struct party a, b, c, d;
        struct upload up;
        struct download db, dc;
        json_t *env = NULL, *res, *cat;
        char got[1024];
        size_t idx;
        long n;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&c, 0, sizeof(c));
        memset(&d, 0, sizeof(d));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "ab3", &b, "ab3b", &c, "ab3c", &d, "ab3d",
                        NULL));
        TRY(do_upload(t, &a, &up, 3000));
        TRY(do_download(t, &a, &b, &up, &db));
        TRY(dl_request(t, &c, &a, &up, &dc)); /* pending */
        TRY(do_abort(t, &a, &up, 3));
        TRYP(res = await(t, &c, "download.cancelled", up.file_id, NULL));
        CHECK(STREQ(pc_str(pc_body(res), "reason"), "file_aborted"),
              "download.cancelled reason %s, expected file_aborted",
              SHOW(pc_str(pc_body(res), "reason")));
        TRY(check_object(t, db.object_path, &up));
        TRY(db_long(t, &n,
                    "SELECT COUNT(*) FROM uploads_completed WHERE file_id = "
                    "\"%s\" AND aborted_at IS NOT NULL",
                    up.file_id));
        CHECK(n == 1, "after abort 3 the upload is not flagged aborted");
        TRY(db_long(t, &n,
                    "SELECT COUNT(*) FROM downloads_completed WHERE file_id = "
                    "\"%s\"",
                    up.file_id));
        CHECK(n == 1, "after abort 3: %ld completed downloads, expected 1", n);
        TRY(expect_error_req(t, &d, "download.request",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "file_aborted"));
        /* C answers its cancelled challenge anyway: refused. */
        TRY(dl_sign(t, &c, &up, &dc));
        TRYP(env = dl_receipt_env(t, &c, &up, dc.nonce, dc.nrr));
        TRY(send_env(t, env));
        TRYP(res = await_answer(t, &c, env));
        describe(res, got, sizeof(got));
        CHECK(STREQ(pc_str(res, "type"), "error") &&
                  (STREQ(pc_str(pc_body(res), "code"), "file_aborted") ||
                   STREQ(pc_str(pc_body(res), "code"), "nonce_invalid")),
              "receipt for a cancelled download: expected error "
              "file_aborted or nonce_invalid, got %s",
              got);
        TRYP(cat = catalog_get(t, &d));
        CHECK(catalog_find(json_object_get(pc_body(cat), "files"), up.file_id,
                           &idx) == NULL,
              "the catalog lists the aborted file %s", up.file_id);
        /* Nothing else: no receipt for A, no delivery for C, no
         * download.cancelled for B whose download was complete. */
        TRY(quiet(t, &a, &b, &c, &d, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        party_fini(&c);
        party_fini(&d);
        return ret;
}

static int sc_abort_not_owner(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "ano", &b, "anob", NULL));
        /* While ongoing, and once completed. */
        TRY(up_init(t, &up, 10));
        TRY(up_request(t, &a, &up));
        TRY(expect_error_req(t, &b, "abort",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "not_owner"));
        TRY(up_place(t, &up));
        TRY(up_commit(t, &a, &up));
        TRY(expect_error_req(t, &b, "abort",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "not_owner"));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_abort_unknown_file(struct t *t, int arg)
{
        struct party a;
        char fid[80];
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        TRY(parties_new(t, 1, &a, "anf", NULL));
        TRY(t_random_id(t, "nofile-", fid, sizeof(fid)));
        TRY(expect_error_req(t, &a, "abort", json_pack("{s:s}", "file_id", fid),
                             "unknown_file"));
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        party_fini(&a);
        return ret;
}

static int sc_abort_twice(struct t *t, int arg)
{
        struct party a;
        struct upload up;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "a2x", NULL));
        TRY(do_upload(t, &a, &up, 10));
        TRY(do_abort(t, &a, &up, 2));
        TRY(expect_error_req(t, &a, "abort",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "file_aborted"));
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        return ret;
}

/*
 * Receipt and abort back to back, in both orders, without waiting: they
 * share the file's partition, so the TTP sees them in that order.
 * Receipt first: the exchange completes, then abort 3.  Abort first:
 * abort 2 cancels B's download and the receipt releases nothing.
 */
static int sc_abort_race(struct t *t, int arg)
{
        struct party a, b;
        struct upload u1, u2;
        struct download d1, d2;
        json_t *rcpt = NULL, *abrt = NULL, *res;
        char got[1024];
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&u1, 0, sizeof(u1));
        memset(&u2, 0, sizeof(u2));
        TRY(parties_new(t, 1, &a, "ara", &b, "arb", NULL));
        TRY(do_upload(t, &a, &u1, 100));
        TRY(do_upload(t, &a, &u2, 100));
        TRY(dl_request(t, &b, &a, &u1, &d1));
        TRY(dl_request(t, &b, &a, &u2, &d2));
        /* Receipt, then abort. */
        TRY(dl_sign(t, &b, &u1, &d1));
        TRYP(rcpt = dl_receipt_env(t, &b, &u1, d1.nonce, d1.nrr));
        TRYP(abrt = abort_env(t, &a, u1.file_id));
        TRY(send_env(t, rcpt));
        TRY(send_env(t, abrt));
        TRY(dl_await_both(t, &a, &b, &u1, &d1, msg_id_of(rcpt)));
        TRYP(res = await(t, &a, "abort.result", u1.file_id, msg_id_of(abrt)));
        CHECK(json_integer_value(json_object_get(pc_body(res), "abort")) == 3,
              "abort right after a receipt: outcome %lld, expected 3",
              (long long)json_integer_value(
                  json_object_get(pc_body(res), "abort")));
        json_decref(rcpt);
        json_decref(abrt);
        rcpt = abrt = NULL;
        /* Abort, then receipt. */
        TRY(dl_sign(t, &b, &u2, &d2));
        TRYP(rcpt = dl_receipt_env(t, &b, &u2, d2.nonce, d2.nrr));
        TRYP(abrt = abort_env(t, &a, u2.file_id));
        TRY(send_env(t, abrt));
        TRY(send_env(t, rcpt));
        TRYP(res = await(t, &a, "abort.result", u2.file_id, msg_id_of(abrt)));
        CHECK(json_integer_value(json_object_get(pc_body(res), "abort")) == 2,
              "abort before any receipt: outcome %lld, expected 2",
              (long long)json_integer_value(
                  json_object_get(pc_body(res), "abort")));
        TRYP(res = await(t, &b, "download.cancelled", u2.file_id, NULL));
        TRYP(res = await_answer(t, &b, rcpt));
        describe(res, got, sizeof(got));
        CHECK(STREQ(pc_str(res, "type"), "error") &&
                  (STREQ(pc_str(pc_body(res), "code"), "file_aborted") ||
                   STREQ(pc_str(pc_body(res), "code"), "nonce_invalid")),
              "receipt right after the abort: expected error file_aborted or "
              "nonce_invalid, got %s",
              got);
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        json_decref(rcpt);
        json_decref(abrt);
        up_fini(&u1);
        up_fini(&u2);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static void sent_count_failure(void *arg, const char *failure)
{
        if (failure != NULL)
                (*(int *)arg)++;
}

/*
 * A download request and its file's abort back to back (one partition,
 * usually one batch): the abort must find the pending download the
 * request just queued (a batch writes those rows in bulk at its end,
 * and before any abort reads them), cancel it (outcome 2) and tell B.
 */
static int sc_abort_race_request(struct t *t, int arg)
{
        struct party a, b;
        struct upload u;
        json_t *req = NULL, *abrt = NULL, *res;
        int ret = -1, failed = 0;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&u, 0, sizeof(u));
        TRY(parties_new(t, 1, &a, "aqa", &b, "aqb", NULL));
        TRY(do_upload(t, &a, &u, 100));
        TRYP(req = req_new(t, &b, "download.request",
                           json_pack("{s:s}", "file_id", u.file_id)));
        TRYP(abrt = abort_env(t, &a, u.file_id));
        TRY(pc_send_json_async(t->pc, req, sent_count_failure, &failed, ERR));
        TRY(send_env(t, abrt)); /* after the request: same key, in order */
        CHECK(failed == 0, "the download.request was not delivered");
        TRYP(await(t, &b, "download.challenge", u.file_id, msg_id_of(req)));
        TRYP(res = await(t, &a, "abort.result", u.file_id, msg_id_of(abrt)));
        CHECK(json_integer_value(json_object_get(pc_body(res), "abort")) == 2,
              "abort right after a download request: outcome %lld, expected "
              "2 (a download cancelled)",
              (long long)json_integer_value(
                  json_object_get(pc_body(res), "abort")));
        TRYP(await(t, &b, "download.cancelled", u.file_id, NULL));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        pc_poll(t->pc, 0);
        json_decref(req);
        json_decref(abrt);
        up_fini(&u);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/* File ids that are legal but look like paths to a careless check. */
static int sc_odd_file_ids(struct t *t, int arg)
{
        static const char *const shapes[] = {"..%s", "%s..",  "-%s",
                                             "%s.",  "_.-%s", "a..%s"};
        struct party a, b;
        struct upload up;
        struct download dl;
        unsigned char rnd[8];
        char hex[17];
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "..oa", &b, "-ob", NULL));
        for (size_t i = 0; i < sizeof(shapes) / sizeof(*shapes); i++) {
                TRY(crypto_random(rnd, sizeof(rnd), ERR));
                hex_encode(rnd, sizeof(rnd), hex, sizeof(hex));
                TRY(up_init(t, &up, 50));
                snprintf(up.file_id, sizeof(up.file_id), shapes[i], hex);
                TRY(up_request(t, &a, &up));
                TRY(up_place(t, &up));
                TRY(up_commit(t, &a, &up));
                TRY(do_download(t, &a, &b, &up, &dl));
                up_fini(&up);
        }
        /* The longest: 64 characters. */
        TRY(up_init(t, &up, 50));
        TRY(crypto_random(rnd, sizeof(rnd), ERR));
        hex_encode(rnd, sizeof(rnd), hex, sizeof(hex));
        snprintf(up.file_id, sizeof(up.file_id), "%s%048d", hex, 0);
        TRY(up_request(t, &a, &up));
        TRY(up_place(t, &up));
        TRY(up_commit(t, &a, &up));
        TRY(do_download(t, &a, &b, &up, &dl));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/*
 * A commit whose (consistent) size and hash differ from the size given
 * in upload.request.  The TTP may refuse it; if it accepts it, every later
 * message must describe the object it holds.
 */
static int sc_size_differs(struct t *t, int arg)
{
        struct party a, b, c;
        struct upload up;
        struct download dl;
        json_t *env = NULL, *res, *cat;
        const json_t *e;
        size_t idx;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "sda", &b, "sdb", &c, "sdc", NULL));
        TRY(up_init(t, &up, 150));
        up.size = 100; /* what upload.request announces */
        TRY(up_request(t, &a, &up));
        up.size = 150;
        TRY(up_place(t, &up));
        TRY(up_sign(t, &a, &up));
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(send_env(t, env));
        TRYP(res = await_answer(t, &a, env));
        if (!STREQ(pc_str(res, "type"), "upload.result") ||
            !json_is_true(json_object_get(pc_body(res), "verified"))) {
                printf("# size-differs: refused: %s %s\n",
                       SHOW(pc_str(res, "type")),
                       SHOW(pc_str(pc_body(res), "code")
                                ? pc_str(pc_body(res), "code")
                                : pc_str(pc_body(res), "reason")));
                TRY(quiet(t, &a, NULL));
                ret = 0;
                goto done;
        }
        TRY(up_check_result(t, &a, &up, res));
        TRY(do_download(t, &a, &b, &up, &dl)); /* sizes checked: 150 */
        TRYP(cat = catalog_get(t, &c));
        CHECK((e = catalog_find(json_object_get(pc_body(cat), "files"),
                                up.file_id, &idx)) != NULL,
              "the catalog does not list %s", up.file_id);
        CHECK(json_integer_value(json_object_get(e, "size")) == 150,
              "the catalog says %lld bytes for an object of 150",
              (long long)json_integer_value(json_object_get(e, "size")));
        TRY(quiet(t, &a, &b, &c, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        party_fini(&c);
        return ret;
}

/* --- scenarios: errors ---------------------------------------------------
 */

static int sc_unknown_user(struct t *t, int arg)
{
        struct party a, u;
        struct upload up;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&u, 0, sizeof(u));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "uua", NULL));
        TRY(party_new(t, &u, "nobody"));
        TRY(do_upload(t, &a, &up, 10));
        TRY(expect_error_req(t, &u, "upload.request", up_request_body(&up),
                             "unknown_user"));
        TRY(expect_error_req(t, &u, "download.request",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "unknown_user"));
        TRY(expect_error_req(t, &u, "abort",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "unknown_user"));
        TRY(expect_error_req(t, &u, "catalog.request", json_object(),
                             "unknown_user"));
        /* The unsigned types: the sender is checked first. */
        TRY(expect_nonce_error(t, &u, commit_with_nonce(t, &u, &up, up.nonce),
                               "unknown_user"));
        TRY(expect_nonce_error(t, &u, receipt_with_nonce(t, &u, &up, up.nonce),
                               "unknown_user"));
        TRY(quiet(t, &a, &u, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&u);
        return ret;
}

static int sc_unknown_file(struct t *t, int arg)
{
        struct party b;
        struct upload up;
        char fid[80], nonce[64];
        int ret = -1;

        (void)arg;
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &b, "ufb", NULL));
        TRY(t_random_id(t, "nofile-", fid, sizeof(fid)));
        TRY(expect_error_req(t, &b, "download.request",
                             json_pack("{s:s}", "file_id", fid),
                             "unknown_file"));
        /* A commit for a file never requested. */
        TRY(up_init(t, &up, 10));
        snprintf(up.incoming_path, sizeof(up.incoming_path), "incoming/%s/%s",
                 b.u.name, up.file_id);
        TRY(t_random_nonce(t, nonce, sizeof(nonce)));
        TRY(expect_nonce_error(t, &b, commit_with_nonce(t, &b, &up, nonce),
                               "unknown_file"));
        /* An upload still ongoing cannot be downloaded. */
        TRY(up_request(t, &b, &up));
        TRY(expect_error_req(t, &b, "download.request",
                             json_pack("{s:s}", "file_id", up.file_id),
                             "unknown_file"));
        TRY(quiet(t, &b, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&b);
        return ret;
}

static int sc_file_exists(struct t *t, int arg)
{
        struct party a, c;
        struct upload up;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "fea", &c, "fec", NULL));
        TRY(up_init(t, &up, 99));
        TRY(up_request(t, &a, &up));
        /* Taken by an ongoing upload... */
        TRY(expect_error_req(t, &c, "upload.request", up_request_body(&up),
                             "file_exists"));
        TRY(up_place(t, &up));
        TRY(up_commit(t, &a, &up));
        /* ...and by a completed one, for anyone. */
        TRY(expect_error_req(t, &c, "upload.request", up_request_body(&up),
                             "file_exists"));
        TRY(expect_error_req(t, &a, "upload.request", up_request_body(&up),
                             "file_exists"));
        TRY(quiet(t, &a, &c, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&c);
        return ret;
}

/* C commits A's ongoing upload (with A's nonce, C's own NRO). */
static int sc_commit_not_owner(struct t *t, int arg)
{
        struct party a, c;
        struct upload up;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "cna", &c, "cnc", NULL));
        TRY(up_init(t, &up, 10));
        TRY(up_request(t, &a, &up));
        TRY(up_place(t, &up));
        TRY(expect_nonce_error(t, &c, commit_with_nonce(t, &c, &up, up.nonce),
                               "not_owner"));
        TRY(up_commit(t, &a, &up));
        TRY(quiet(t, &a, &c, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&c);
        return ret;
}

/* A rejected message sent again (same msg_id): the same error again. */
static int sc_retry_error(struct t *t, int arg)
{
        struct party b;
        json_t *env = NULL, *res;
        char fid[80], before[1024], after[1024], reply_id[40];
        int ret = -1;

        (void)arg;
        memset(&b, 0, sizeof(b));
        TRY(parties_new(t, 1, &b, "reb", NULL));
        TRY(t_random_id(t, "nofile-", fid, sizeof(fid)));
        TRYP(env = req_new(t, &b, "download.request",
                           json_pack("{s:s}", "file_id", fid)));
        TRY(db_checksum(t, before, sizeof(before)));
        TRY(send_env(t, env));
        TRYP(res = await(t, &b, "error", NULL, NULL));
        CHECK(STREQ(pc_str(pc_body(res), "code"), "unknown_file") &&
                  STREQ(pc_str(pc_body(res), "in_reply_to"), msg_id_of(env)),
              "expected error unknown_file in reply to %s", msg_id_of(env));
        snprintf(reply_id, sizeof(reply_id), "%s", msg_id_of(res));
        TRY(send_env(t, env));
        TRY(await_dup(t, &b, reply_id));
        TRY(quiet(t, &b, NULL));
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0, "a rejected retry changed the "
                                          "database");
        ret = 0;
done:
        json_decref(env);
        party_fini(&b);
        return ret;
}

static int sc_sig_request(struct t *t, int arg)
{
        struct party a, c;
        struct upload up;
        json_t *env = NULL;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "sra", &c, "src", NULL));
        TRY(up_init(t, &up, 10));
        /* upload.request, download.request, abort, catalog.request signed
         * by C for A. */
        TRYP(env = req_new(t, &a, "upload.request", up_request_body(&up)));
        TRY(pc_request_sign(env, c.u.key, NULL, ERR));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        json_decref(env);
        TRY(up_request(t, &a, &up));
        TRY(up_place(t, &up));
        TRY(up_commit(t, &a, &up));
        TRYP(env = req_new(t, &a, "download.request",
                           json_pack("{s:s}", "file_id", up.file_id)));
        TRY(pc_request_sign(env, c.u.key, NULL, ERR));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        json_decref(env);
        TRYP(env = req_new(t, &a, "abort",
                           json_pack("{s:s}", "file_id", up.file_id)));
        TRY(pc_request_sign(env, c.u.key, NULL, ERR));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        json_decref(env);
        TRYP(env = req_new(t, &a, "catalog.request", json_object()));
        TRY(pc_request_sign(env, c.u.key, NULL, ERR));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        json_decref(env);
        /* A's key, but over another msg_id (a replayed signature). */
        TRYP(env = req_new(t, &a, "abort",
                           json_pack("{s:s}", "file_id", up.file_id)));
        {
                json_t *other = req_new(
                    t, &a, "abort", json_pack("{s:s}", "file_id", up.file_id));
                CHECK(other != NULL, "req_new");
                json_object_set(env, "sig", json_object_get(other, "sig"));
                json_decref(other);
        }
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        TRY(quiet(t, &a, &c, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&c);
        return ret;
}

static int sc_sig_nro(struct t *t, int arg)
{
        struct party a, c;
        struct upload up;
        json_t *env = NULL;
        char nro[128];
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "sna", &c, "snc", NULL));
        TRY(up_init(t, &up, 1234));
        TRY(up_request(t, &a, &up));
        TRY(up_place(t, &up));
        /* NRO by C's key. */
        TRY(sign_nro(t, c.u.key, up.file_id, a.u.name, up.sha256, up.size_dec,
                     up.nonce, nro, sizeof(nro)));
        TRYP(env = up_commit_env(t, &a, &up, up.incoming_path, up.nonce, nro));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        json_decref(env);
        /* A's key over another size than the one claimed. */
        TRY(sign_nro(t, a.u.key, up.file_id, a.u.name, up.sha256, "1235",
                     up.nonce, nro, sizeof(nro)));
        TRYP(env = up_commit_env(t, &a, &up, up.incoming_path, up.nonce, nro));
        TRY(expect_error(t, &a, env, "bad_signature", 1));
        /* The upload stayed ongoing: the right NRO now succeeds. */
        TRY(up_commit(t, &a, &up));
        TRY(quiet(t, &a, &c, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&c);
        return ret;
}

static int sc_sig_nrr(struct t *t, int arg)
{
        struct party a, b, c;
        struct upload up;
        struct download dl;
        json_t *env = NULL;
        char nrr[128], other_sha[CRYPTO_SHA256_HEX_LEN + 1];
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "sxa", &b, "sxb", &c, "sxc", NULL));
        TRY(do_upload(t, &a, &up, 321));
        TRY(dl_request(t, &b, &a, &up, &dl));
        /* NRR over another NRO. */
        TRY(crypto_sha256_hex("another nro", 11, other_sha, ERR));
        TRY(sign_nrr(t, b.u.key, up.file_id, b.u.name, up.sha256, other_sha,
                     dl.nonce, nrr, sizeof(nrr)));
        TRYP(env = dl_receipt_env(t, &b, &up, dl.nonce, nrr));
        TRY(expect_error(t, &b, env, "bad_signature", 1));
        json_decref(env);
        /* NRR by C's key. */
        TRY(sign_nrr(t, c.u.key, up.file_id, b.u.name, up.sha256, up.nro_sha256,
                     dl.nonce, nrr, sizeof(nrr)));
        TRYP(env = dl_receipt_env(t, &b, &up, dl.nonce, nrr));
        TRY(expect_error(t, &b, env, "bad_signature", 1));
        /* Nothing completed; the right NRR still works. */
        TRY(quiet(t, &a, NULL));
        TRY(dl_receipt(t, &a, &b, &up, &dl));
        TRY(quiet(t, &a, &b, &c, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        party_fini(&c);
        return ret;
}

static int sc_nonce_made_up(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        char nonce[64];
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "nma", &b, "nmb", NULL));
        TRY(up_init(t, &up, 50));
        TRY(up_request(t, &a, &up));
        TRY(up_place(t, &up));
        TRY(t_random_nonce(t, nonce, sizeof(nonce)));
        TRY(expect_nonce_error(t, &a, commit_with_nonce(t, &a, &up, nonce),
                               "nonce_invalid"));
        TRY(up_commit(t, &a, &up));
        TRY(dl_request(t, &b, &a, &up, &dl));
        TRY(t_random_nonce(t, nonce, sizeof(nonce)));
        TRY(expect_nonce_error(t, &b, receipt_with_nonce(t, &b, &up, nonce),
                               "nonce_invalid"));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_nonce_other_user(struct t *t, int arg)
{
        struct party a, b, c;
        struct upload up, uc;
        struct download db, dc;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        memset(&uc, 0, sizeof(uc));
        TRY(parties_new(t, 1, &a, "noa", &b, "nob", &c, "noc", NULL));
        /* A commits with the nonce C got for C's upload. */
        TRY(up_init(t, &up, 70));
        TRY(up_request(t, &a, &up));
        TRY(up_place(t, &up));
        TRY(up_init(t, &uc, 70));
        TRY(up_request(t, &c, &uc));
        TRY(expect_nonce_error(t, &a, commit_with_nonce(t, &a, &up, uc.nonce),
                               "nonce_invalid"));
        TRY(up_commit(t, &a, &up));
        /* B answers with C's download nonce for the same file. */
        TRY(dl_request(t, &b, &a, &up, &db));
        TRY(dl_request(t, &c, &a, &up, &dc));
        TRY(expect_nonce_error(t, &b, receipt_with_nonce(t, &b, &up, dc.nonce),
                               "nonce_invalid"));
        /* Both nonces are still good for their owners. */
        TRY(dl_receipt(t, &a, &c, &up, &dc));
        TRY(dl_receipt(t, &a, &b, &up, &db));
        TRY(quiet(t, &a, &b, &c, NULL));
        ret = 0;
done:
        up_fini(&up);
        up_fini(&uc);
        party_fini(&a);
        party_fini(&b);
        party_fini(&c);
        return ret;
}

static int sc_nonce_other_file(struct t *t, int arg)
{
        struct party a, b;
        struct upload u1, u2;
        struct download d1, d2;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&u1, 0, sizeof(u1));
        memset(&u2, 0, sizeof(u2));
        TRY(parties_new(t, 1, &a, "nfa", &b, "nfb", NULL));
        TRY(up_init(t, &u1, 80));
        TRY(up_init(t, &u2, 80));
        TRY(up_request(t, &a, &u1));
        TRY(up_request(t, &a, &u2));
        TRY(up_place(t, &u1));
        TRY(up_place(t, &u2));
        TRY(expect_nonce_error(t, &a, commit_with_nonce(t, &a, &u1, u2.nonce),
                               "nonce_invalid"));
        TRY(up_commit(t, &a, &u1));
        TRY(up_commit(t, &a, &u2));
        TRY(dl_request(t, &b, &a, &u1, &d1));
        TRY(dl_request(t, &b, &a, &u2, &d2));
        TRY(expect_nonce_error(t, &b, receipt_with_nonce(t, &b, &u1, d2.nonce),
                               "nonce_invalid"));
        /* An upload nonce is no download nonce. */
        TRY(expect_nonce_error(t, &b, receipt_with_nonce(t, &b, &u1, u1.nonce),
                               "nonce_invalid"));
        TRY(dl_receipt(t, &a, &b, &u1, &d1));
        TRY(dl_receipt(t, &a, &b, &u2, &d2));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        up_fini(&u1);
        up_fini(&u2);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/* Sleep until `expires_at` has passed by 1.5 s. */
static void sleep_past(const char *expires_at)
{
        time_t exp = 0;

        if (t_time_of(expires_at, &exp) == 0 && exp >= time(NULL))
                t_sleep_ms((int)(exp - time(NULL)) * 1000 + 1500);
}

static int sc_nonce_expired(struct t *t, int arg)
{
        struct party a, b;
        struct upload up, u2;
        struct download dl;
        json_t *env = NULL, *ch;
        char exp_up[32];
        time_t exp;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        memset(&u2, 0, sizeof(u2));
        if (t->short_ttl <= 0) {
                snprintf(t->err, sizeof(t->err),
                         "TDS_TEST_SHORT_TTL is not set (needs a stack "
                         "started with a short nonce_ttl)");
                return 1;
        }
        TRY(parties_new(t, 1, &a, "nea", &b, "neb", NULL));
        TRY(up_init(t, &up, 60));
        TRYP(env = req_new(t, &a, "upload.request", up_request_body(&up)));
        TRY(send_env(t, env));
        TRYP(ch = await(t, &a, "upload.challenge", up.file_id, msg_id_of(env)));
        snprintf(up.nonce, sizeof(up.nonce), "%s",
                 pc_str(pc_body(ch), "nonce"));
        snprintf(up.incoming_path, sizeof(up.incoming_path), "%s",
                 pc_str(pc_body(ch), "incoming_path"));
        snprintf(exp_up, sizeof(exp_up), "%s",
                 pc_str(pc_body(ch), "expires_at"));
        CHECK(t_time_of(exp_up, &exp) == 0 &&
                  exp - time(NULL) <= t->short_ttl + 1 &&
                  exp - time(NULL) >= t->short_ttl - 2,
              "expires_at %s is not about nonce_ttl (%d s) from now", exp_up,
              t->short_ttl);
        /* A download challenge, issued quickly, left to expire too. */
        TRY(do_upload(t, &a, &u2, 60));
        TRY(dl_request(t, &b, &a, &u2, &dl));
        TRY(up_place(t, &up));
        /* Past the upload's expiry, and then past the download's, issued
         * at most a TTL later. */
        sleep_past(exp_up);
        t_sleep_ms(1000 * (t->short_ttl + 1));
        TRY(up_sign(t, &a, &up));
        json_decref(env);
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(send_env(t, env));
        TRY(await_error(t, &a, env, "nonce_expired"));
        TRY(dl_sign(t, &b, &u2, &dl));
        json_decref(env);
        TRYP(env = dl_receipt_env(t, &b, &u2, dl.nonce, dl.nrr));
        TRY(send_env(t, env));
        TRY(await_error(t, &b, env, "nonce_expired"));
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        up_fini(&u2);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_nonce_replay(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        struct pc_match m = {NULL, NULL, NULL, NULL};
        json_t *env = NULL;
        int ret = -1, n;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "rpa", &b, "rpb", NULL));
        TRY(do_upload(t, &a, &up, 90));
        /* The same commit again under a new msg_id: the nonce is used. */
        TRY(up_place(t, &up));
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(expect_error(t, &a, env, "nonce_invalid", 1));
        json_decref(env);
        TRY(do_download(t, &a, &b, &up, &dl));
        TRYP(env = dl_receipt_env(t, &b, &up, dl.nonce, dl.nrr));
        TRY(expect_error(t, &b, env, "nonce_invalid", 1));
        TRY(quiet(t, &a, &b, NULL));
        m.file_id = up.file_id;
        m.type = "receipt";
        CHECK((n = pc_reader_count(a.r, &m)) == 1,
              "A has %d receipts after a replayed receipt, expected 1", n);
        m.type = "delivery";
        CHECK((n = pc_reader_count(b.r, &m)) == 1,
              "B has %d deliveries after a replayed receipt, expected 1", n);
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/*
 * A message whose handler wrote and then rejected, in one batch with
 * messages that succeed: only its own effects are undone (the daemon
 * applies such a message again in a savepoint, docs/architecture.md,
 * "Batches").  To make a receipt reject after a write, its nonce is put
 * into used_nonces behind the daemon's back: the receipt deletes the
 * pending download, then finds the nonce used and answers nonce_invalid.
 * C's two download.requests, sent in the same burst, must still be
 * answered and recorded; B's pending download must still be there.
 */
static int sc_batch_reject_after_write(struct t *t, int arg)
{
        struct party a, b, c;
        struct upload up;
        struct download dl;
        struct pc_match m = {"download.challenge", NULL, NULL, NULL};
        json_t *env[3] = {NULL, NULL, NULL};
        char sql[512], out[64];
        long pending_b, pending_c, done, size_before, size_after;
        int ret = -1, n;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "bra", &b, "brb", &c, "brc", NULL));
        TRY(do_upload(t, &a, &up, 77));
        TRY(dl_request(t, &b, &a, &up, &dl));
        TRY(dl_sign(t, &b, &up, &dl));
        snprintf(sql, sizeof(sql),
                 "INSERT INTO used_nonces (nonce, used_at) SELECT nonce, "
                 "UTC_TIMESTAMP(6) FROM downloads_ongoing WHERE file_id = "
                 "\"%s\" AND downloader = \"%s\"",
                 up.file_id, b.u.name);
        TRY(db_query(t, sql, out, sizeof(out)));
        TRY(db_long(t, &size_before,
                    "SELECT tree_size FROM log_state WHERE id = 1"));
        TRYP(env[0] = req_new(t, &c, "download.request",
                              json_pack("{s:s}", "file_id", up.file_id)));
        TRYP(env[1] = dl_receipt_env(t, &b, &up, dl.nonce, dl.nrr));
        TRYP(env[2] = req_new(t, &c, "download.request",
                              json_pack("{s:s}", "file_id", up.file_id)));
        /* One burst: the daemon fetches them together. */
        for (int i = 0; i < 3; i++)
                TRY(send_env(t, env[i]));
        TRY(await_error(t, &b, env[1], "nonce_invalid"));
        TRYP(await(t, &c, "download.challenge", up.file_id, msg_id_of(env[0])));
        TRYP(await(t, &c, "download.challenge", up.file_id, msg_id_of(env[2])));
        TRY(quiet(t, &a, &b, &c, NULL));
        m.file_id = up.file_id;
        CHECK((n = pc_reader_count(c.r, &m)) == 2,
              "C has %d download.challenges for two requests", n);
        TRY(db_long(t, &pending_b,
                    "SELECT COUNT(*) FROM downloads_ongoing WHERE file_id = "
                    "\"%s\" AND downloader = \"%s\"",
                    up.file_id, b.u.name));
        TRY(db_long(t, &pending_c,
                    "SELECT COUNT(*) FROM downloads_ongoing WHERE file_id = "
                    "\"%s\" AND downloader = \"%s\"",
                    up.file_id, c.u.name));
        TRY(db_long(t, &done,
                    "SELECT COUNT(*) FROM downloads_completed WHERE "
                    "file_id = \"%s\"",
                    up.file_id));
        TRY(db_long(t, &size_after,
                    "SELECT tree_size FROM log_state WHERE id = 1"));
        CHECK(pending_b == 1,
              "B's pending download: %ld rows after the rejected receipt, "
              "expected 1 (its delete undone)",
              pending_b);
        CHECK(pending_c == 2, "C's pending downloads: %ld rows, expected 2",
              pending_c);
        CHECK(done == 0, "%ld completed downloads, expected none", done);
        CHECK(size_after == size_before,
              "the evidence log grew from %ld to %ld leaves", size_before,
              size_after);
        ret = 0;
done:
        for (int i = 0; i < 3; i++)
                json_decref(env[i]);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        party_fini(&c);
        return ret;
}

static int sc_hash_mismatch(struct t *t, int arg)
{
        struct party a;
        struct upload up;
        json_t *env = NULL;
        unsigned char *other = NULL;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "hma", NULL));
        TRY(up_init(t, &up, 2048));
        TRY(up_request(t, &a, &up));
        TRY(up_sign(t, &a, &up));
        CHECK((other = malloc(up.size + 1)) != NULL, "out of memory");
        memcpy(other, up.data, up.size);
        other[100] ^= 1; /* same size, one bit off */
        TRY(store_write(t, up.incoming_path, other, up.size));
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(expect_verdict(t, &a, env, "hash_mismatch", NULL));
        json_decref(env);
        /* M plus one byte: the size differs. */
        memcpy(other, up.data, up.size);
        other[up.size] = 'x';
        TRY(store_write(t, up.incoming_path, other, up.size + 1));
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(expect_verdict(t, &a, env, "hash_mismatch", NULL));
        /* The right M with the same nonce: accepted. */
        TRY(up_place(t, &up));
        TRY(up_commit(t, &a, &up));
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        free(other);
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        return ret;
}

enum bad_path_case {
        BP_NOT_ISSUED,
        BP_DOTDOT,
        BP_ESCAPE,
        BP_ABSOLUTE,
        BP_SYMLINK,
        BP_SYMLINK_DIR,
        BP_FIFO,
        BP_DIRECTORY,
        BP_MISSING
};

static int sc_bad_path(struct t *t, int which)
{
        struct party a;
        struct upload up;
        json_t *env = NULL;
        char path[1024], full[1024], dir[1024], aux[2200], real[2200];
        int ret = -1, moved = 0;

        memset(&a, 0, sizeof(a));
        memset(&up, 0, sizeof(up));
        aux[0] = '\0';
        TRY(parties_new(t, 1, &a, "bpa", NULL));
        TRY(up_init(t, &up, 512));
        TRY(up_request(t, &a, &up));
        TRY(up_sign(t, &a, &up));
        snprintf(path, sizeof(path), "%s", up.incoming_path);
        snprintf(full, sizeof(full), "%s/%s", t->store, up.incoming_path);
        snprintf(dir, sizeof(dir), "%s/incoming/%s", t->store, a.u.name);
        switch (which) {
        case BP_NOT_ISSUED: /* M there too: only the path is wrong */
                TRY(up_place(t, &up));
                snprintf(path, sizeof(path), "%s.copy", up.incoming_path);
                TRY(store_write(t, path, up.data, up.size));
                snprintf(aux, sizeof(aux), "%s/%s", t->store, path);
                break;
        case BP_DOTDOT: /* names the issued file, but not as issued */
                TRY(up_place(t, &up));
                snprintf(path, sizeof(path), "incoming/%s/../%s/%s", a.u.name,
                         a.u.name, up.file_id);
                break;
        case BP_ESCAPE:
                TRY(up_place(t, &up));
                snprintf(path, sizeof(path), "../escape-%s", up.file_id);
                snprintf(aux, sizeof(aux), "%s/../escape-%s", t->store,
                         up.file_id);
                TRY(store_write(t, path, up.data, up.size));
                break;
        case BP_ABSOLUTE:
                TRY(up_place(t, &up));
                snprintf(path, sizeof(path), "%s", full);
                break;
        case BP_SYMLINK: /* the issued name is a link to a good copy */
                snprintf(aux, sizeof(aux), "%s.real", full);
                snprintf(real, sizeof(real), "%s.real", up.incoming_path);
                TRY(store_write(t, real, up.data, up.size));
                CHECK(symlink(aux, full) == 0, "symlink %s: %s", full,
                      strerror(errno));
                break;
        case BP_SYMLINK_DIR: /* incoming/<A> itself is a link */
                TRY(up_place(t, &up));
                snprintf(real, sizeof(real), "%s.real", dir);
                CHECK(rename(dir, real) == 0, "rename %s: %s", dir,
                      strerror(errno));
                moved = 1;
                CHECK(symlink(real, dir) == 0, "symlink %s: %s", dir,
                      strerror(errno));
                break;
        case BP_FIFO:
                unlink(full);
                CHECK(mkfifo(full, 0644) == 0, "mkfifo %s: %s", full,
                      strerror(errno));
                break;
        case BP_DIRECTORY:
                unlink(full);
                CHECK(mkdir(full, 0755) == 0, "mkdir %s: %s", full,
                      strerror(errno));
                break;
        case BP_MISSING:
                unlink(full);
                break;
        }
        TRYP(env = up_commit_env(t, &a, &up, path, up.nonce, up.nro));
        TRY(expect_verdict(t, &a, env, "bad_path", NULL));
        /* Repair and commit again with the same nonce: accepted. */
        if (moved) {
                CHECK(unlink(dir) == 0 && rename(real, dir) == 0,
                      "cannot restore %s", dir);
                moved = 0;
        }
        if (which == BP_DIRECTORY)
                rmdir(full);
        unlink(full);
        TRY(up_place(t, &up));
        TRY(up_commit(t, &a, &up));
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        if (moved) {
                unlink(dir);
                rename(real, dir);
        }
        if (aux[0] != '\0')
                unlink(aux);
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        return ret;
}

enum bad_schema_case {
        BS_UNKNOWN_TYPE,
        BS_V2,
        BS_V_STRING,
        BS_BODY_FIELD,
        BS_TOP_FIELD,
        BS_MISSING_FIELD,
        BS_MISSING_SIG,
        BS_SIZE_STRING,
        BS_SIZE_NEGATIVE,
        BS_SIZE_HUGE,
        BS_FILE_ID,
        BS_NONCE_SHORT,
        BS_SIG_ON_COMMIT,
        BS_MSG_ID_OTHER_USER,
        BS_TTP_TYPE,
        BS_NAME_CONTROL,
        BS_NAME_LONG,
        BS_SIZE_REAL,
        BS_NONCE_NONCANONICAL,
        BS_SHA_UPPER,
        BS_PUBKEY_NOT_P256
};

static int sc_bad_schema(struct t *t, int which)
{
        struct party a, c;
        struct upload up;
        json_t *env = NULL, *body;
        int ret = -1, resign = 1;

        memset(&a, 0, sizeof(a));
        memset(&c, 0, sizeof(c));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "bsa", &c, "bsc", NULL));
        TRY(up_init(t, &up, 10));
        TRYP(env = req_new(t, &a, "upload.request", up_request_body(&up)));
        body = pc_body(env);
        switch (which) {
        case BS_UNKNOWN_TYPE:
                json_object_set_new(env, "type",
                                    json_string("upload.requestx"));
                break;
        case BS_V2:
                json_object_set_new(env, "v", json_integer(2));
                break;
        case BS_V_STRING:
                json_object_set_new(env, "v", json_string("1"));
                break;
        case BS_BODY_FIELD:
                json_object_set_new(body, "colour", json_string("red"));
                break;
        case BS_TOP_FIELD:
                json_object_set_new(env, "colour", json_string("red"));
                break;
        case BS_MISSING_FIELD:
                json_object_del(body, "size");
                break;
        case BS_MISSING_SIG:
                json_object_del(env, "sig");
                resign = 0;
                break;
        case BS_SIZE_STRING:
                json_object_set_new(body, "size", json_string("10"));
                break;
        case BS_SIZE_NEGATIVE:
                json_object_set_new(body, "size", json_integer(-1));
                break;
        case BS_SIZE_HUGE:
                json_object_set_new(body, "size",
                                    json_integer(((json_int_t)1 << 40) + 1));
                break;
        case BS_FILE_ID: /* a file_id that is also a path */
                json_object_set_new(body, "file_id", json_string("../x"));
                break;
        case BS_NONCE_SHORT: {
                /* upload.commit with a 31-byte nonce */
                unsigned char n31[31] = {0};
                char *b64 = t_b64(n31, sizeof(n31));
                json_decref(env);
                env = up_commit_env(t, &a, &up, "incoming/x/y",
                                    b64 != NULL ? b64 : "", "MEUCIQ==");
                free(b64);
                TRYP(env);
                resign = 0;
                break;
        }
        case BS_SIG_ON_COMMIT: /* upload.commit carries no envelope sig */
                json_decref(env);
                TRYP(env = up_commit_env(t, &a, &up, "incoming/x/y",
                                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                         "AAAAAAA=",
                                         "MEUCIQ=="));
                break;
        case BS_TTP_TYPE: /* a type only the TTP sends */
                json_object_set_new(env, "type", json_string("receipt"));
                break;
        case BS_NAME_CONTROL:
                json_object_set_new(body, "name", json_string("a\x01b"));
                break;
        case BS_NAME_LONG: {
                char name[1100];
                long_name(name, 1025);
                json_object_set_new(body, "name", json_string(name));
                break;
        }
        case BS_SIZE_REAL:
                json_object_set_new(body, "size", json_real(10.0));
                break;
        case BS_NONCE_NONCANONICAL:
        case BS_SHA_UPPER: {
                char nonce[64], sha[CRYPTO_SHA256_HEX_LEN + 1];
                json_decref(env);
                env = NULL;
                TRY(up_request(t, &a, &up));
                TRY(up_place(t, &up));
                TRY(up_sign(t, &a, &up));
                snprintf(nonce, sizeof(nonce), "%s", up.nonce);
                snprintf(sha, sizeof(sha), "%s", up.sha256);
                if (which == BS_NONCE_NONCANONICAL)
                        b64_noncanonical(nonce);
                else
                        for (char *h = sha; *h; h++)
                                if (*h >= 'a' && *h <= 'f')
                                        *h = (char)(*h - 'a' + 'A');
                TRYP(env = up_commit_env(t, &a, &up, up.incoming_path, nonce,
                                         up.nro));
                json_object_set_new(pc_body(env), "sha256", json_string(sha));
                resign = 0;
                break;
        }
        case BS_PUBKEY_NOT_P256: {
                /* 91 bytes like a P-256 SPKI, but not one. */
                unsigned char junk[91];
                char *b64;
                json_decref(env);
                env = NULL;
                TRY(crypto_random(junk, sizeof(junk), ERR));
                TRYP(b64 = t_b64(junk, sizeof(junk)));
                env = pc_request_new(&c.u, "register",
                                     json_pack("{s:s}", "public_key", b64), 0,
                                     ERR);
                free(b64);
                TRYP(env);
                resign = 0;
                /* sent as C, who is registered already: the key is
                 * checked before anything else */
                TRY(expect_error(t, &c, env, "bad_schema", 1));
                TRY(quiet(t, &a, &c, NULL));
                ret = 0;
                goto done;
        }
        case BS_MSG_ID_OTHER_USER: {
                /* C's msg_id, already processed for C, reused by A. */
                json_t *cenv = req_new(t, &c, "catalog.request", json_object());
                CHECK(cenv != NULL, "req_new");
                if (send_env(t, cenv) == -1 ||
                    await(t, &c, "catalog", NULL, msg_id_of(cenv)) == NULL) {
                        json_decref(cenv);
                        FAIL("C's catalog.request failed");
                }
                json_object_set(env, "msg_id", json_object_get(cenv, "msg_id"));
                json_decref(cenv);
                break;
        }
        }
        if (resign)
                TRY(pc_request_sign(env, a.u.key, NULL, ERR));
        TRY(expect_error(t, &a, env, "bad_schema", 1));
        TRY(quiet(t, &a, &c, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&c);
        return ret;
}

/* --- dead letters and size -----------------------------------------------
 */

struct dl_want {
        const char *topic;
        int32_t partition;
        int64_t offset;
};

static int dead_letter_pred(const json_t *msg, void *arg)
{
        const struct dl_want *w = arg;
        const json_t *p = json_object_get(msg, "partition");
        const json_t *o = json_object_get(msg, "offset");

        return STREQ(pc_str(msg, "topic"), w->topic) && json_is_integer(p) &&
               json_integer_value(p) == w->partition && json_is_integer(o) &&
               json_integer_value(o) == w->offset;
}

/* The dead letter for the record at `sent`: every field checked. */
static int check_dead_letter(struct t *t, struct pc_reader *r,
                             const struct pc_sent *sent, const char *reason,
                             const void *key, size_t keylen, const void *value,
                             size_t len)
{
        static const char *const keys[] = {"v",       "reason",    "message",
                                           "topic",   "partition", "offset",
                                           "key_b64", "value_b64"};
        struct dl_want w = {pc_topics(t->pc)->requests, sent->partition,
                            sent->offset};
        const json_t *dlm;
        const char *k;
        json_t *v;
        unsigned char *bin = NULL;
        size_t binlen = 0, want_len = len > 65536 ? 65536 : len;
        char got[1024];
        int ret = -1;

        dlm = pc_reader_wait_fn(r, dead_letter_pred, &w, t->timeout_ms, ERR);
        CHECK(dlm != NULL,
              "no dead letter for tds.requests [%d] offset %lld within %d ms "
              "(%s)",
              (int)sent->partition, (long long)sent->offset, t->timeout_ms,
              t->err);
        describe(dlm, got, sizeof(got));
        json_object_foreach((json_t *)dlm, k, v)
        {
                size_t i;
                for (i = 0; i < sizeof(keys) / sizeof(*keys); i++)
                        if (strcmp(k, keys[i]) == 0)
                                break;
                CHECK(i < sizeof(keys) / sizeof(*keys),
                      "dead letter has the extra key %s: %s", k, got);
        }
        CHECK(json_integer_value(json_object_get(dlm, "v")) == 1 &&
                  json_is_integer(json_object_get(dlm, "v")),
              "dead letter v is not 1: %s", got);
        CHECK(STREQ(pc_str(dlm, "reason"), reason),
              "dead letter reason %s, expected %s", SHOW(pc_str(dlm, "reason")),
              reason);
        CHECK(pc_str(dlm, "message") != NULL, "dead letter without message");
        if (key == NULL) {
                CHECK(json_is_null(json_object_get(dlm, "key_b64")),
                      "dead letter key_b64 is not null for a record without "
                      "key: %s",
                      got);
        } else {
                CHECK(pc_b64_decode(json_object_get(dlm, "key_b64"), &bin,
                                    &binlen) == 0 &&
                          binlen == keylen && memcmp(bin, key, keylen) == 0,
                      "dead letter key_b64 is not the record's key: %s", got);
                free(bin);
                bin = NULL;
        }
        CHECK(pc_b64_decode(json_object_get(dlm, "value_b64"), &bin, &binlen) ==
                      0 &&
                  binlen == want_len && memcmp(bin, value, want_len) == 0,
              "dead letter value_b64 holds %zu bytes, expected the first %zu "
              "of the record",
              binlen, want_len);
        ret = 0;
done:
        free(bin);
        return ret;
}

static int sc_bad_json(struct t *t, int arg)
{
        static const char garbage[] = "this is {not JSON";
        struct pc_reader *r = NULL;
        struct pc_sent s1, s2;
        struct party a;
        char key[80], before[1024], after[1024];
        char *big = NULL;
        size_t biglen = 100 * 1024;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        TRYP(r = pc_reader_new(t->bootstrap, pc_topics(t->pc)->dead_letter,
                               NULL, ERR));
        TRY(t_random_id(t, "junk-", key, sizeof(key)));
        CHECK((big = malloc(biglen)) != NULL, "out of memory");
        for (size_t i = 0; i < biglen; i++)
                big[i] = (char)('a' + i % 26);
        big[0] = '<';
        TRY(db_checksum(t, before, sizeof(before)));
        /* With a key, and without one; the long one is cut at 64 KiB. */
        TRY(pc_send_raw(t->pc, key, strlen(key), garbage, strlen(garbage), &s1,
                        ERR));
        TRY(pc_send_raw(t->pc, NULL, 0, big, biglen, &s2, ERR));
        TRY(check_dead_letter(t, r, &s1, "bad_json", key, strlen(key), garbage,
                              strlen(garbage)));
        TRY(check_dead_letter(t, r, &s2, "bad_json", NULL, 0, big, biglen));
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0,
              "dead-lettered input changed the database");
        /* The TTP goes on with valid input. */
        TRY(parties_new(t, 1, &a, "bja", NULL));
        ret = 0;
done:
        party_fini(&a);
        free(big);
        pc_reader_free(r);
        return ret;
}

/* JSON that cannot be attributed (no valid user or msg_id). */
static int sc_dead_letter_unattributable(struct t *t, int arg)
{
        struct pc_reader *r = NULL;
        struct pc_sent s1, s2, s3;
        char key[80], before[1024], after[1024];
        const char *v1 = "[1,2,3]";
        char v2[256], v3[256];
        int ret = -1;

        (void)arg;
        TRYP(r = pc_reader_new(t->bootstrap, pc_topics(t->pc)->dead_letter,
                               NULL, ERR));
        TRY(t_random_id(t, "unattr-", key, sizeof(key)));
        snprintf(v2, sizeof(v2),
                 "{\"v\":1,\"type\":\"catalog.request\",\"msg_id\":"
                 "\"0123456789abcdef0123456789abcdef\",\"user\":\"Not/A "
                 "User\",\"body\":{},\"sig\":\"AA==\"}");
        snprintf(v3, sizeof(v3),
                 "{\"v\":1,\"type\":\"catalog.request\",\"msg_id\":\"xyz\","
                 "\"user\":\"someone\",\"body\":{},\"sig\":\"AA==\"}");
        TRY(db_checksum(t, before, sizeof(before)));
        TRY(pc_send_raw(t->pc, key, strlen(key), v1, strlen(v1), &s1, ERR));
        TRY(pc_send_raw(t->pc, key, strlen(key), v2, strlen(v2), &s2, ERR));
        TRY(pc_send_raw(t->pc, key, strlen(key), v3, strlen(v3), &s3, ERR));
        /* Valid JSON but not an object: bad_json (docs/protocol.md 2). */
        TRY(check_dead_letter(t, r, &s1, "bad_json", key, strlen(key), v1,
                              strlen(v1)));
        TRY(check_dead_letter(t, r, &s2, "bad_schema", key, strlen(key), v2,
                              strlen(v2)));
        TRY(check_dead_letter(t, r, &s3, "bad_schema", key, strlen(key), v3,
                              strlen(v3)));
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0,
              "dead-lettered input changed the database");
        ret = 0;
done:
        pc_reader_free(r);
        return ret;
}

/*
 * JSON the contract's strict decoding refuses although `user` and
 * `msg_id` can be read in it.  Whether such input is attributable is the
 * decoder's business: either an `error` bad_json to the user or a dead
 * letter bad_json is right; anything else (a challenge, another code,
 * silence, a change in the database) is wrong.
 */
static int sc_bad_json_attributable(struct t *t, int arg)
{
        /* %1$s user, %2$s msg_id, %3$s file_id */
        static const char *const cases[] = {
            "{\"v\":1,\"v\":1,\"type\":\"upload.request\",\"msg_id\":\"%2$s\","
            "\"user\":\"%1$s\",\"body\":{\"file_id\":\"%3$s\",\"name\":\"n\","
            "\"size\":1},\"sig\":\"AAAAAAAAAAA=\"}",
            "{\"v\":1,\"type\":\"upload.request\",\"msg_id\":\"%2$s\","
            "\"user\":\"%1$s\",\"body\":{\"file_id\":\"%3$s\",\"name\":"
            "\"a\\u0000b\",\"size\":1},\"sig\":\"AAAAAAAAAAA=\"}",
            "{\"v\":1,\"type\":\"upload.request\",\"msg_id\":\"%2$s\","
            "\"user\":\"%1$s\",\"body\":{\"file_id\":\"%3$s\",\"name\":"
            "\"a\xff\xfe b\",\"size\":1},\"sig\":\"AAAAAAAAAAA=\"}",
            "{\"v\":1,\"type\":\"upload.request\",\"msg_id\":\"%2$s\","
            "\"user\":\"%1$s\",\"body\":{\"file_id\":\"%3$s\",\"name\":\"n\","
            "\"size\":1},\"sig\":\"AAAAAAAAAAA=\"} trailing",
            "{\"v\":1,\"type\":\"upload.request\",\"msg_id\":\"%2$s\","
            "\"user\":\"%1$s\",\"body\":{\"file_id\":\"%3$s\",\"name\":\"n\","
            "\"size\":NaN},\"sig\":\"AAAAAAAAAAA=\"}",
        };
        static const char *const names[] = {"duplicate key", "\\u0000",
                                            "invalid UTF-8", "trailing data",
                                            "NaN"};
        struct party a;
        struct pc_reader *dlr = NULL;
        struct pc_sent sent;
        char text[1024], msg_id[IDS_MSG_ID_LEN + 1], fid[80], before[1024],
            after[1024], why[256], got[1024];
        const json_t *hit;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        TRY(parties_new(t, 1, &a, "bjx", NULL));
        TRYP(dlr = pc_reader_new(t->bootstrap, pc_topics(t->pc)->dead_letter,
                                 NULL, ERR));
        for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
                struct pc_match m = {"error", NULL, NULL, NULL};
                struct dl_want w = {pc_topics(t->pc)->requests, 0, 0};
                int waited;

                TRY(ids_msg_id_new(msg_id, ERR));
                TRY(t_random_id(t, "f-", fid, sizeof(fid)));
                snprintf(text, sizeof(text), cases[i], a.u.name, msg_id, fid);
                TRY(db_checksum(t, before, sizeof(before)));
                TRY(pc_send_raw(t->pc, fid, strlen(fid), text, strlen(text),
                                &sent, ERR));
                w.partition = sent.partition;
                w.offset = sent.offset;
                m.in_reply_to = msg_id;
                for (waited = 0, hit = NULL; hit == NULL; waited += 200) {
                        CHECK(waited < t->timeout_ms,
                              "%s: neither an error to %s nor a dead letter "
                              "within %d ms",
                              names[i], a.u.name, t->timeout_ms);
                        TRY(pc_reader_poll(a.r, 100, ERR));
                        TRY(pc_reader_poll(dlr, 100, ERR));
                        if ((hit = pc_reader_wait(a.r, &m, NULL, 0, why,
                                                  sizeof(why))) != NULL)
                                break;
                        hit = pc_reader_wait_fn(dlr, dead_letter_pred, &w, 0,
                                                why, sizeof(why));
                }
                describe(hit, got, sizeof(got));
                CHECK(STREQ(pc_str(pc_body(hit), "code"), "bad_json") ||
                          STREQ(pc_str(hit, "reason"), "bad_json"),
                      "%s: expected bad_json, got %s", names[i], got);
                TRY(db_checksum(t, after, sizeof(after)));
                CHECK(strcmp(before, after) == 0,
                      "%s: refused input changed the database", names[i]);
                printf("# %s: %s\n", names[i],
                       pc_str(hit, "reason") ? "dead letter" : "error");
        }
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        pc_reader_free(dlr);
        party_fini(&a);
        return ret;
}

/* A signed upload.request padded with blanks to exactly `total` bytes. */
static char *padded_request(struct t *t, struct party *a, struct upload *up,
                            size_t total, json_t **env_out)
{
        json_t *env = NULL;
        char *text = NULL, *out = NULL;
        size_t len;

        if ((env = req_new(t, a, "upload.request", up_request_body(up))) ==
            NULL)
                goto done;
        if ((text = json_dumps(env, JSON_COMPACT)) == NULL)
                goto done;
        len = strlen(text);
        if (len + 1 > total || (out = malloc(total)) == NULL)
                goto done;
        /* {"v":1,...}: blanks between the last value and the final '}'. */
        memcpy(out, text, len - 1);
        memset(out + len - 1, ' ', total - len);
        out[total - 1] = '}';
        *env_out = env;
        env = NULL;
done:
        free(text);
        json_decref(env);
        return out;
}

static int sc_too_large(struct t *t, int arg)
{
        struct party a;
        struct upload u1, u2;
        json_t *env = NULL, *ch;
        char *big = NULL, before[1024], after[1024];
        const char *key;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&u1, 0, sizeof(u1));
        memset(&u2, 0, sizeof(u2));
        TRY(parties_new(t, 1, &a, "tla", NULL));
        TRY(up_init(t, &u1, 10));
        TRY(up_init(t, &u2, 10));
        /* 1 MiB + 1: too_large, nothing changes. */
        CHECK((big = padded_request(t, &a, &u1, T_MIB + 1, &env)) != NULL,
              "cannot build the padded request");
        key = u1.file_id;
        TRY(db_checksum(t, before, sizeof(before)));
        if (pc_send_raw(t->pc, key, strlen(key), big, T_MIB + 1, NULL, ERR) ==
            -1)
                FAIL("the 1 MiB + 1 byte request could not be produced, the "
                     "TTP's limit is untested: %s",
                     t->err);
        TRY(await_error(t, &a, env, "too_large"));
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0, "a too_large message changed the "
                                          "database");
        free(big);
        json_decref(env);
        env = NULL;
        /* Exactly 1 MiB is not over the limit. */
        CHECK((big = padded_request(t, &a, &u2, T_MIB, &env)) != NULL,
              "cannot build the padded request");
        key = u2.file_id;
        TRY(pc_send_raw(t->pc, key, strlen(key), big, T_MIB, NULL, ERR));
        TRYP(ch = await(t, &a, "upload.challenge", u2.file_id, msg_id_of(env)));
        TRY(quiet(t, &a, NULL));
        ret = 0;
done:
        free(big);
        json_decref(env);
        up_fini(&u1);
        up_fini(&u2);
        party_fini(&a);
        return ret;
}

/* --- scenarios: retries --------------------------------------------------
 */

static int sc_retry_upload_request(struct t *t, int arg)
{
        struct party a;
        struct upload up;
        json_t *env = NULL, *ch;
        struct pc_match m = {"upload.challenge", NULL, NULL, NULL};
        char reply_id[40], before[1024], after[1024];
        long rows;
        int ret = -1, n, waited = 0;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "rua", NULL));
        TRY(up_init(t, &up, 333));
        TRYP(env = req_new(t, &a, "upload.request", up_request_body(&up)));
        TRY(send_env(t, env));
        TRY(send_env(t, env)); /* the same bytes, the same msg_id */
        TRYP(ch = await(t, &a, "upload.challenge", up.file_id, msg_id_of(env)));
        snprintf(reply_id, sizeof(reply_id), "%s", msg_id_of(ch));
        snprintf(up.nonce, sizeof(up.nonce), "%s",
                 pc_str(pc_body(ch), "nonce"));
        snprintf(up.incoming_path, sizeof(up.incoming_path), "%s",
                 pc_str(pc_body(ch), "incoming_path"));
        TRY(await_dup(t, &a, reply_id));
        TRY(quiet(t, &a, NULL)); /* no second challenge, no error */
        m.file_id = up.file_id;
        CHECK((n = pc_reader_count(a.r, &m)) == 1,
              "%d distinct upload.challenges for one request sent twice", n);
        CHECK(pc_reader_dups(a.r, reply_id) == 1,
              "the challenge came %d more times, expected exactly one "
              "re-publication",
              pc_reader_dups(a.r, reply_id));
        TRY(db_long(t, &rows,
                    "SELECT COUNT(*) FROM uploads_ongoing WHERE file_id = "
                    "\"%s\"",
                    up.file_id));
        CHECK(rows == 1, "uploads_ongoing has %ld rows for %s, expected 1",
              rows, up.file_id);
        TRY(up_place(t, &up));
        TRY(up_commit(t, &a, &up));
        /* Even after the upload completed, the request's retry gets the
         * first answer again (not file_exists) and changes nothing. */
        TRY(db_checksum(t, before, sizeof(before)));
        TRY(send_env(t, env));
        while (pc_reader_dups(a.r, reply_id) < 2) {
                CHECK(waited < t->timeout_ms,
                      "the challenge was not re-published for a retry after "
                      "the commit (%d copies)",
                      pc_reader_dups(a.r, reply_id));
                TRY(pc_reader_poll(a.r, 200, ERR));
                waited += 200;
        }
        TRY(quiet(t, &a, NULL));
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0,
              "a late retry of upload.request changed the database");
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        return ret;
}

/* The daemon's count `name` under "msg_id_checks" in its state file. */
static int state_checks(struct t *t, const char *name, long long *v)
{
        char path[4096];
        json_t *st, *checks;
        json_error_t jerr;

        snprintf(path, sizeof(path), "%s/ttp/state.json", t->run_dir);
        if ((st = json_load_file(path, 0, &jerr)) == NULL) {
                t_fail(t, __LINE__, "%s: %s", path, jerr.text);
                return -1;
        }
        checks = json_object_get(st, "msg_id_checks");
        if (!json_is_integer(json_object_get(checks, name))) {
                t_fail(t, __LINE__, "%s has no msg_id_checks.%s", path, name);
                json_decref(st);
                return -1;
        }
        *v = json_integer_value(json_object_get(checks, name));
        json_decref(st);
        return 0;
}

#define BURST_FILLERS 8

/*
 * A retry in a burst of new requests: the daemon looks a batch's
 * msg_ids up together before applying it (engine_batch_prefetch()), and
 * the retry must still be known as one (its challenge published again,
 * no second upload) while the new requests are answered.  The state
 * file must show that the look-up found a processed msg_id, or the path
 * under test was not taken: up to five bursts, for batches are formed by
 * timing.
 */
static int sc_retry_in_burst(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        json_t *env = NULL, *ch, *fill[BURST_FILLERS] = {NULL};
        struct pc_match m = {"upload.challenge", NULL, NULL, NULL};
        char reply_id[40];
        long long before = 0, after = 0;
        long rows;
        int ret = -1, n, failed = 0, attempt, found = 0, waited;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "rba", &b, "rbb", NULL));
        TRY(up_init(t, &up, 444));
        TRYP(env = req_new(t, &a, "upload.request", up_request_body(&up)));
        TRY(send_env(t, env));
        TRYP(ch = await(t, &a, "upload.challenge", up.file_id, msg_id_of(env)));
        snprintf(reply_id, sizeof(reply_id), "%s", msg_id_of(ch));
        for (attempt = 1; attempt <= 5 && !found; attempt++) {
                TRY(state_checks(t, "processed_looked_up", &before));
                for (int i = 0; i < BURST_FILLERS; i++) {
                        TRYP(fill[i] = req_new(t, &b, "catalog.request",
                                               json_object()));
                        TRY(pc_send_json_async(
                            t->pc, fill[i], sent_count_failure, &failed, ERR));
                        if (i == BURST_FILLERS / 2)
                                TRY(pc_send_json_async(t->pc, env,
                                                       sent_count_failure,
                                                       &failed, ERR));
                }
                pc_poll(t->pc, 0);
                for (int i = 0; i < BURST_FILLERS; i++) {
                        TRYP(await(t, &b, "catalog", NULL, msg_id_of(fill[i])));
                        json_decref(fill[i]);
                        fill[i] = NULL;
                }
                CHECK(failed == 0, "%d request(s) of the burst not delivered",
                      failed);
                for (waited = 0; pc_reader_dups(a.r, reply_id) < attempt;
                     waited += 200) {
                        CHECK(waited < t->timeout_ms,
                              "the challenge was not re-published for the "
                              "retry of burst %d (%d copies)",
                              attempt, pc_reader_dups(a.r, reply_id));
                        TRY(pc_reader_poll(a.r, 200, ERR));
                }
                /* the state file is rewritten every second */
                for (waited = 0; waited <= 2500 && after <= before;
                     waited += 250) {
                        TRY(state_checks(t, "processed_looked_up", &after));
                        if (after <= before)
                                t_sleep_ms(250);
                }
                found = after > before;
        }
        CHECK(found,
              "in 5 bursts the retry was never found by the batch's msg_id "
              "look-up (msg_id_checks.processed_looked_up stayed %lld)",
              after);
        TRY(quiet(t, &a, &b, NULL)); /* no second challenge, no error */
        m.file_id = up.file_id;
        CHECK((n = pc_reader_count(a.r, &m)) == 1,
              "%d distinct upload.challenges for one request", n);
        TRY(db_long(t, &rows,
                    "SELECT COUNT(*) FROM uploads_ongoing WHERE file_id = "
                    "\"%s\"",
                    up.file_id));
        CHECK(rows == 1, "uploads_ongoing has %ld rows for %s, expected 1",
              rows, up.file_id);
        ret = 0;
done:
        pc_poll(t->pc, 0);
        for (int i = 0; i < BURST_FILLERS; i++)
                json_decref(fill[i]);
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_retry_commit(struct t *t, int arg)
{
        struct party a;
        struct upload up;
        json_t *env = NULL, *res;
        struct pc_match m = {"upload.result", NULL, NULL, NULL};
        char reply_id[40], verdict_id[40], before[1024], after[1024];
        int ret = -1, n;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "rca", NULL));
        TRY(up_init(t, &up, 444));
        TRY(up_request(t, &a, &up));
        TRY(up_sign(t, &a, &up));
        /* A verdict stands too: the commit before the file is there gets
         * bad_path, and its retry after placing the file gets the same
         * verdict again (the first answer), not a new verification. */
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(expect_verdict(t, &a, env, "bad_path", verdict_id));
        TRY(up_place(t, &up));
        TRY(db_checksum(t, before, sizeof(before)));
        TRY(send_env(t, env));
        TRY(await_dup(t, &a, verdict_id));
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0,
              "the retry of a refused commit changed the database");
        json_decref(env);
        /* The same commit under a new msg_id: accepted. */
        TRYP(env =
                 up_commit_env(t, &a, &up, up.incoming_path, up.nonce, up.nro));
        TRY(send_env(t, env));
        TRYP(res = await(t, &a, "upload.result", up.file_id, msg_id_of(env)));
        TRY(up_check_result(t, &a, &up, res));
        snprintf(reply_id, sizeof(reply_id), "%s", msg_id_of(res));
        /* A lost the result and sends the same commit again: the same
         * result, not nonce_invalid. */
        TRY(send_env(t, env));
        TRY(await_dup(t, &a, reply_id));
        TRY(quiet(t, &a, NULL));
        m.file_id = up.file_id;
        CHECK((n = pc_reader_count(a.r, &m)) == 2,
              "%d distinct upload.results, expected 2 (the verdict and the "
              "success)",
              n);
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        return ret;
}

static int sc_retry_receipt(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        json_t *env = NULL;
        const json_t *dv;
        struct pc_match m = {NULL, NULL, NULL, NULL};
        char delivery_id[40];
        long rows;
        int ret = -1, n, waited;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "rra", &b, "rrb", NULL));
        TRY(do_upload(t, &a, &up, 555));
        TRY(dl_request(t, &b, &a, &up, &dl));
        TRY(dl_sign(t, &b, &up, &dl));
        TRYP(env = dl_receipt_env(t, &b, &up, dl.nonce, dl.nrr));
        TRY(send_env(t, env));
        TRY(send_env(t, env));
        TRY(dl_await_both(t, &a, &b, &up, &dl, msg_id_of(env)));
        TRY(pc_reader_poll(a.r, 1500, ERR));
        TRY(quiet(t, &a, &b, NULL));
        m.file_id = up.file_id;
        m.type = "receipt";
        CHECK((n = pc_reader_count(a.r, &m)) == 1,
              "A has %d distinct receipts for one receipt sent twice", n);
        m.type = "delivery";
        CHECK((n = pc_reader_count(b.r, &m)) == 1,
              "B has %d distinct deliveries for one receipt sent twice", n);
        TRY(db_long(t, &rows,
                    "SELECT COUNT(*) FROM downloads_completed WHERE file_id = "
                    "\"%s\"",
                    up.file_id));
        CHECK(rows == 1, "downloads_completed has %ld rows, expected 1", rows);
        printf("# retry-receipt: duplicates dropped: A %d, B %d\n",
               pc_reader_dups(a.r, NULL), pc_reader_dups(b.r, NULL));
        /* After an abort, the receipt's retry still gets its first answer
         * (the delivery again), not file_aborted. */
        m.type = "delivery";
        CHECK((dv = pc_reader_find(b.r, &m)) != NULL, "no delivery kept");
        snprintf(delivery_id, sizeof(delivery_id), "%s", msg_id_of(dv));
        n = pc_reader_dups(b.r, delivery_id);
        TRY(do_abort(t, &a, &up, 3));
        TRY(send_env(t, env));
        for (waited = 0; pc_reader_dups(b.r, delivery_id) == n; waited += 200) {
                CHECK(waited < t->timeout_ms,
                      "the delivery was not re-published for a retry of "
                      "its receipt after an abort");
                TRY(pc_reader_poll(b.r, 200, ERR));
        }
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/* The same msg_id with other content: the first answer stands and the
 * new content is not applied (a retry is judged by its msg_id). */
static int sc_retry_other_content(struct t *t, int arg)
{
        struct party a;
        struct upload u1, u2;
        json_t *e1 = NULL, *e2 = NULL, *ch;
        char reply_id[40], before[1024], after[1024];
        long rows;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&u1, 0, sizeof(u1));
        memset(&u2, 0, sizeof(u2));
        TRY(parties_new(t, 1, &a, "roa", NULL));
        TRY(up_init(t, &u1, 10));
        TRY(up_init(t, &u2, 10));
        TRYP(e1 = req_new(t, &a, "upload.request", up_request_body(&u1)));
        TRY(send_env(t, e1));
        TRYP(ch = await(t, &a, "upload.challenge", u1.file_id, msg_id_of(e1)));
        snprintf(reply_id, sizeof(reply_id), "%s", msg_id_of(ch));
        /* u2's request, validly signed, under e1's msg_id. */
        TRYP(e2 = req_new(t, &a, "upload.request", up_request_body(&u2)));
        json_object_set(e2, "msg_id", json_object_get(e1, "msg_id"));
        TRY(pc_request_sign(e2, a.u.key, NULL, ERR));
        TRY(db_checksum(t, before, sizeof(before)));
        TRY(send_env(t, e2));
        TRY(await_dup(t, &a, reply_id));
        TRY(quiet(t, &a, NULL));
        TRY(db_checksum(t, after, sizeof(after)));
        CHECK(strcmp(before, after) == 0,
              "a reused msg_id with new content changed the database");
        TRY(db_long(t, &rows,
                    "SELECT COUNT(*) FROM uploads_ongoing WHERE file_id = "
                    "\"%s\"",
                    u2.file_id));
        CHECK(rows == 0, "the new content under a reused msg_id was applied");
        ret = 0;
done:
        json_decref(e1);
        json_decref(e2);
        up_fini(&u1);
        up_fini(&u2);
        party_fini(&a);
        return ret;
}

/* --- crash-test halves ---------------------------------------------------
 */

static int state_path(struct t *t, const char *file_id, char *out,
                      size_t outlen)
{
        if (t->run_dir == NULL) {
                t_fail(t, __LINE__, "TDS_RUN_DIR is not set");
                return -1;
        }
        snprintf(out, outlen, "%s/protocol-exchange-%s.state", t->run_dir,
                 file_id);
        return 0;
}

static const char *state_get(char *text, const char *name, char *out,
                             size_t outlen)
{
        char pat[64];
        const char *p, *e;

        snprintf(pat, sizeof(pat), "\n%s=", name);
        if ((p = strstr(text, pat)) == NULL)
                return NULL;
        p += strlen(pat);
        e = strchr(p, '\n');
        snprintf(out, outlen, "%.*s", e ? (int)(e - p) : (int)strlen(p), p);
        return out;
}

/* The state file of exchange FILE_ID into `text` (starting with '\n' so
 * that state_get finds the first line too). */
static int state_read(struct t *t, const char *file_id, char *text,
                      size_t textlen)
{
        char path[1024];
        FILE *f = NULL;
        size_t n;
        int ret = -1;

        TRY(state_path(t, file_id, path, sizeof(path)));
        CHECK((f = fopen(path, "r")) != NULL, "%s: %s", path, strerror(errno));
        text[0] = '\n';
        n = fread(text + 1, 1, textlen - 2, f);
        text[n + 1] = '\0';
        ret = 0;
done:
        if (f != NULL)
                fclose(f);
        return ret;
}

/* The FILE_ID argument of exchange-send and exchange-check. */
static const char *exchange_file_id;

/*
 * Everything up to download.receipt, which is written to the state file
 * (with what exchange-check needs) and, unless `prepare_only`, sent; then
 * return without waiting.  The crash test prepares with a healthy daemon
 * and sends with one set to crash, so that the first thing that daemon
 * commits and publishes is step 6 and its receipt + delivery batch.
 */
static int sc_exchange_nowait(struct t *t, int prepare_only)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        json_t *env = NULL;
        char path[1024], last[1024], *text = NULL;
        FILE *f = NULL;
        int ret = -1, rc;

        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "cra", &b, "crb", NULL));
        TRY(do_upload(t, &a, &up, 4321));
        TRY(dl_request(t, &b, &a, &up, &dl));
        TRY(dl_sign(t, &b, &up, &dl));
        TRYP(env = dl_receipt_env(t, &b, &up, dl.nonce, dl.nrr));
        TRYP(text = json_dumps(env, JSON_COMPACT));
        TRY(state_path(t, up.file_id, path, sizeof(path)));
        CHECK((f = fopen(path, "w")) != NULL, "%s: %s", path, strerror(errno));
        fprintf(f,
                "file_id=%s\nuploader=%s\ndownloader=%s\ndownloader_key=%s"
                "\nsha256=%s\nsize=%zu\nnro=%s\nnro_sha256=%s\n"
                "upload_nonce=%s\nnonce=%s\nnrr=%s\nnrr_sha256=%s\n"
                "receipt=%s\n",
                up.file_id, a.u.name, b.u.name, b.u.spki_b64, up.sha256,
                up.size, up.nro, up.nro_sha256, up.nonce, dl.nonce, dl.nrr,
                dl.nrr_sha256, text);
        rc = fclose(f);
        f = NULL;
        CHECK(rc == 0, "%s: %s", path, strerror(errno));
        snprintf(last, sizeof(last), "%s/protocol-last-exchange", t->run_dir);
        CHECK((f = fopen(last, "w")) != NULL, "%s: %s", last, strerror(errno));
        fprintf(f, "%s\n", up.file_id);
        rc = fclose(f);
        f = NULL;
        CHECK(rc == 0, "%s: %s", last, strerror(errno));
        if (!prepare_only)
                TRY(send_env(t, env));
        printf("# file_id=%s\n", up.file_id);
        ret = 0;
done:
        if (f != NULL)
                fclose(f);
        free(text);
        json_decref(env);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

/* Send the download.receipt that exchange-prepare left for FILE_ID. */
static int sc_exchange_send(struct t *t, int arg)
{
        char text[16384], receipt[8192];
        int ret = -1;

        (void)arg;
        CHECK(exchange_file_id != NULL,
              "usage: protocol_test exchange-send FILE_ID");
        TRY(state_read(t, exchange_file_id, text, sizeof(text)));
        CHECK(state_get(text, "receipt", receipt, sizeof(receipt)) != NULL,
              "no receipt in the state of %s", exchange_file_id);
        TRY(pc_send_raw(t->pc, exchange_file_id, strlen(exchange_file_id),
                        receipt, strlen(receipt), NULL, ERR));
        ret = 0;
done:
        return ret;
}

static int sc_exchange_check(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        char path[1024], text[16384], uploader[IDS_USER_MAX + 1],
            downloader[IDS_USER_MAX + 1], dkey[300], size[32];
        struct pc_match m = {NULL, NULL, NULL, NULL};
        json_t *rc, *dv;
        const char *expect_dups = getenv("TDS_TEST_EXPECT_DUPS");
        long rows;
        int ret = -1, cnt, waited, dups;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        memset(&dl, 0, sizeof(dl));
        CHECK(exchange_file_id != NULL,
              "usage: protocol_test exchange-check FILE_ID");
        TRY(state_read(t, exchange_file_id, text, sizeof(text)));
        snprintf(path, sizeof(path), "the state of %s", exchange_file_id);
        CHECK(
            state_get(text, "uploader", uploader, sizeof(uploader)) &&
                state_get(text, "downloader", downloader, sizeof(downloader)) &&
                state_get(text, "downloader_key", dkey, sizeof(dkey)) &&
                state_get(text, "sha256", up.sha256, sizeof(up.sha256)) &&
                state_get(text, "size", size, sizeof(size)) &&
                state_get(text, "nro", up.nro, sizeof(up.nro)) &&
                state_get(text, "nro_sha256", up.nro_sha256,
                          sizeof(up.nro_sha256)) &&
                state_get(text, "upload_nonce", up.nonce, sizeof(up.nonce)) &&
                state_get(text, "nonce", dl.nonce, sizeof(dl.nonce)) &&
                state_get(text, "nrr", dl.nrr, sizeof(dl.nrr)) &&
                state_get(text, "nrr_sha256", dl.nrr_sha256,
                          sizeof(dl.nrr_sha256)),
            "%s lacks a field", path);
        snprintf(up.file_id, sizeof(up.file_id), "%s", exchange_file_id);
        up.size = (size_t)strtoull(size, NULL, 10);
        /* Readers of the two users' partitions; no keys needed to read. */
        snprintf(a.u.name, sizeof(a.u.name), "%s", uploader);
        snprintf(b.u.name, sizeof(b.u.name), "%s", downloader);
        TRYP(a.r = pc_reader_new(t->bootstrap, pc_topics(t->pc)->replies,
                                 uploader, ERR));
        TRYP(b.r = pc_reader_new(t->bootstrap, pc_topics(t->pc)->replies,
                                 downloader, ERR));
        TRYP(rc = await(t, &a, "receipt", up.file_id, NULL));
        TRYP(dv = await(t, &b, "delivery", up.file_id, NULL));
        TRY(check_receipt(t, rc, uploader, downloader, dkey, &up, &dl));
        TRY(check_delivery(t, dv, uploader, downloader, &up, &dl,
                           dl.nrr_sha256));
        CHECK(STREQ(pc_str(pc_body(rc), "ttp_sig"),
                    pc_str(pc_body(dv), "ttp_sig")),
              "receipt and delivery carry different ttp_sigs");
        /* Anything that would come late. */
        TRY(pc_reader_poll(a.r, 3000, ERR));
        TRY(pc_reader_poll(b.r, 200, ERR));
        m.file_id = up.file_id;
        m.type = "receipt";
        CHECK((cnt = pc_reader_count(a.r, &m)) == 1,
              "%s has %d distinct receipts for %s, expected 1", uploader, cnt,
              up.file_id);
        m.type = "delivery";
        CHECK((cnt = pc_reader_count(b.r, &m)) == 1,
              "%s has %d distinct deliveries for %s, expected 1", downloader,
              cnt, up.file_id);
        dups = pc_reader_dups(a.r, NULL) + pc_reader_dups(b.r, NULL);
        printf("# exchange-check: duplicates dropped: uploader %d, "
               "downloader %d\n",
               pc_reader_dups(a.r, NULL), pc_reader_dups(b.r, NULL));
        /* The crash test says how many re-publications its crash point
         * implies: "0" (nothing was published before the crash) or "1+"
         * (something was, and came again). */
        if (expect_dups != NULL && strcmp(expect_dups, "0") == 0)
                CHECK(dups == 0,
                      "%d duplicate(s) after a crash before publishing", dups);
        if (expect_dups != NULL && strcmp(expect_dups, "1+") == 0)
                CHECK(dups >= 1,
                      "no duplicate after a crash after publishing: did the "
                      "daemon die where it should?");
        TRY(db_long(t, &rows,
                    "SELECT COUNT(*) FROM downloads_completed WHERE file_id = "
                    "\"%s\"",
                    up.file_id));
        CHECK(rows == 1, "downloads_completed has %ld rows for %s, expected 1",
              rows, up.file_id);
        for (waited = 0;; waited += 500) {
                TRY(db_long(t, &rows,
                            "SELECT COUNT(*) FROM outbox WHERE sent_at IS "
                            "NULL"));
                if (rows == 0)
                        break;
                CHECK(waited < 10000, "%ld outbox rows still unsent after 10 s",
                      rows);
                t_sleep_ms(500);
        }
        ret = 0;
done:
        up_fini(&up);
        pc_reader_free(a.r);
        pc_reader_free(b.r);
        return ret;
}

/* --- the client's own strictness ----------------------------------------
 */

enum selfcheck_case {
        SC_OK,
        SC_DUP,
        SC_DUP_DIFFERENT,
        SC_EXTRA_BODY,
        SC_ENVELOPE_SIG,
        SC_MISSING_FIELD,
        SC_V2,
        SC_SHORT_NONCE,
        SC_UPPER_HEX,
        SC_UNKNOWN_TYPE,
        SC_COUNT
};

/*
 * One case of client-self-check: this test plays the TTP and publishes an
 * upload.challenge for a made-up user on tds.replies (keyed by the user,
 * so the partitioner must agree with kafka_reply_partition); the reader
 * must take the well-formed one, count an exact duplicate, and refuse
 * every message the contract does not allow.
 */
static int selfcheck_one(struct t *t, int which)
{
        struct pc_user u;
        struct pc_reader *r = NULL;
        json_t *env = NULL, *got;
        char msg_id[IDS_MSG_ID_LEN + 1], fid[80], path[200], nonce[64],
            key_id[CRYPTO_KEY_ID_LEN + 1], exp[IDS_TIME_LEN + 1],
            *text = NULL, why[PC_ERR_MAX];
        struct pc_match m = {"upload.challenge", NULL, NULL, NULL};
        int ret = -1, violation = which > SC_DUP;

        memset(&u, 0, sizeof(u));
        why[0] = '\0';
        TRY(pc_user_init(&u, "self", ERR));
        TRYP(r = pc_reader_new(t->bootstrap, pc_topics(t->pc)->replies, u.name,
                               ERR));
        TRY(ids_msg_id_new(msg_id, ERR));
        TRY(t_random_id(t, "f-", fid, sizeof(fid)));
        TRY(t_random_nonce(t, nonce, sizeof(nonce)));
        TRY(ids_time_format(time(NULL) + 600, exp, ERR));
        snprintf(path, sizeof(path), "incoming/%s/%s", u.name, fid);
        snprintf(key_id, sizeof(key_id), "%s", u.key_id);
        if (which == SC_UPPER_HEX)
                key_id[0] = 'A';
        if (which == SC_SHORT_NONCE)
                snprintf(nonce, sizeof(nonce), "%s",
                         "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==");
        TRYP(env = json_pack("{s:i, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, "
                             "s:s}}",
                             "v", which == SC_V2 ? 2 : 1, "type",
                             which == SC_UNKNOWN_TYPE ? "upload.challenged"
                                                      : "upload.challenge",
                             "msg_id", msg_id, "user", u.name, "body",
                             "file_id", fid, "nonce", nonce, "key_id", key_id,
                             "incoming_path", path, "expires_at", exp));
        if (which == SC_EXTRA_BODY)
                json_object_set_new(pc_body(env), "extra", json_true());
        if (which == SC_ENVELOPE_SIG)
                json_object_set_new(env, "sig", json_string("MEUCIQ=="));
        if (which == SC_MISSING_FIELD)
                json_object_del(pc_body(env), "expires_at");
        TRYP(text = json_dumps(env, JSON_COMPACT));
        TRY(pc_send_raw_to(t->pc, pc_topics(t->pc)->replies, u.name,
                           strlen(u.name), text, strlen(text), NULL, ERR));
        if (which == SC_DUP || which == SC_DUP_DIFFERENT) {
                if (which == SC_DUP_DIFFERENT) {
                        free(text);
                        text = NULL;
                        TRY(t_random_nonce(t, nonce, sizeof(nonce)));
                        json_object_set_new(pc_body(env), "nonce",
                                            json_string(nonce));
                        TRYP(text = json_dumps(env, JSON_COMPACT));
                }
                TRY(pc_send_raw_to(t->pc, pc_topics(t->pc)->replies, u.name,
                                   strlen(u.name), text, strlen(text), NULL,
                                   ERR));
        }
        got = pc_reader_wait(r, &m, NULL, 5000, why, sizeof(why));
        if (!violation) {
                CHECK(got != NULL,
                      "self-check %d: a well-formed message was "
                      "refused: %s",
                      which, why);
                if (which == SC_DUP) {
                        TRY(pc_reader_poll(r, 1000, ERR));
                        CHECK(pc_reader_dups(r, msg_id) == 1 &&
                                  pc_reader_total(r) == 1,
                              "self-check: a duplicate was not dropped and "
                              "counted (%d dups, %d kept)",
                              pc_reader_dups(r, msg_id), pc_reader_total(r));
                }
        } else {
                /* The second copy is the violation; it may come after
                 * the first was returned. */
                if (got != NULL && which == SC_DUP_DIFFERENT &&
                    pc_reader_poll(r, 1000, why, sizeof(why)) == -1)
                        got = NULL;
                CHECK(got == NULL && (strstr(why, "breaks the contract") ||
                                      strstr(why, "different contents")),
                      "self-check %d: the reader took a message the contract "
                      "forbids (%s): %s",
                      which, got != NULL ? "accepted" : "refused", why);
        }
        ret = 0;
done:
        free(text);
        json_decref(env);
        pc_reader_free(r);
        pc_user_fini(&u);
        return ret;
}

/* --- the evidence log ----------------------------------------------------
 */

/* A JSON array of 64-hex hashes into `out` (MERKLE_MAX_PROOF). */
static int hashes_of(struct t *t, const json_t *arr, merkle_hash *out,
                     size_t *len)
{
        size_t i, n;
        const json_t *v;

        CHECK(json_is_array(arr) && json_array_size(arr) <= MERKLE_MAX_PROOF,
              "proof is not an array of at most %d hashes", MERKLE_MAX_PROOF);
        json_array_foreach(arr, i, v)
        {
                CHECK(json_is_string(v) &&
                          hex_decode(json_string_value(v), 64, HEX_LOWER_ONLY,
                                     out[i], MERKLE_HASH_LEN, &n, NULL,
                                     0) == 0 &&
                          n == MERKLE_HASH_LEN,
                      "proof[%zu] is not a SHA-256 in hex", i);
        }
        *len = json_array_size(arr);
        return 0;
done:
        return -1;
}

/* A DER value given as base64 into a tsa_cert (caller clears). */
static int der_of(struct t *t, const json_t *v, struct tsa_cert *c)
{
        CHECK(pc_b64_decode(v, &c->der, &c->len) == 0,
              "not base64 where DER was expected");
        return 0;
done:
        return -1;
}

/*
 * Check a signed tree head (the head fields of log.head / log.proof)
 * from first principles: the tree_head TBS written out here, the TTP's
 * signature over it, and the RFC 3161 token over its SHA-256 by a TSA
 * whose chain ends in a CA certificate of the TTP key.
 */
static int check_head(struct t *t, const json_t *body, merkle_hash root)
{
        struct tsa_cert chain[4];
        unsigned char digest[32];
        unsigned char *token = NULL;
        size_t token_len = 0, n = 0, nchain = 0;
        char tbs[512], log_id[CRYPTO_KEY_ID_LEN + 1];
        const json_t *arr = json_object_get(body, "tsa_chain");
        time_t gen_time, head_time;
        int ret = -1;

        memset(chain, 0, sizeof(chain));
        TRY(crypto_key_id(t->ttp, log_id, ERR));
        snprintf(
            tbs, sizeof(tbs),
            "tds/1 tree_head\nlog_id=%s\ntree_size=%lld\nroot_hash=%s\n"
            "time=%s\n",
            log_id,
            (long long)json_integer_value(json_object_get(body, "tree_size")),
            SHOW(pc_str(body, "root_hash")), SHOW(pc_str(body, "time")));
        CHECK(pc_verify_b64(t->ttp, tbs, strlen(tbs), pc_str(body, "ttp_sig"),
                            ERR) == 0,
              "tree head ttp_sig does not verify under the TTP key: %s",
              t->err);
        CHECK(hex_decode(pc_str(body, "root_hash"), 64, HEX_LOWER_ONLY, root,
                         MERKLE_HASH_LEN, &n, NULL, 0) == 0,
              "root_hash not hex");
        CHECK(json_array_size(arr) == 2, "tsa_chain has %zu certificates",
              json_array_size(arr));
        for (nchain = 0; nchain < 2; nchain++)
                TRY(der_of(t, json_array_get(arr, nchain), &chain[nchain]));
        CHECK(tsa_cert_matches_key(&chain[1], t->ttp, ERR) == 0,
              "the TSA chain's anchor is not a certificate of the TTP key");
        CHECK(pc_b64_decode(json_object_get(body, "timestamp_token"), &token,
                            &token_len) == 0,
              "timestamp_token is not base64");
        TRY(crypto_sha256(tbs, strlen(tbs), digest, ERR));
        CHECK(tsa_verify(token, token_len, digest, &chain[1], &chain[0], 1,
                         &gen_time, ERR) == 0,
              "timestamp token does not verify: %s", t->err);
        TRY(ids_time_parse(pc_str(body, "time"), &head_time, ERR));
        CHECK(gen_time >= head_time - 5 && gen_time <= head_time + 300,
              "token time %lld far from head time %lld", (long long)gen_time,
              (long long)head_time);
        /* Another digest must not verify: the check is not vacuous. */
        digest[0] ^= 1;
        CHECK(tsa_verify(token, token_len, digest, &chain[1], &chain[0], 1,
                         NULL, ERR) == -1,
              "timestamp token verifies over another digest");
        t->err[0] = '\0';
        ret = 0;
done:
        free(token);
        for (size_t i = 0; i < nchain; i++)
                tsa_cert_clear(&chain[i]);
        return ret;
}

/*
 * An exchange is logged as a leaf whose bytes this test writes out on
 * its own; log.proof proves it into a signed, time-stamped head; a later
 * head is consistent with it; and the log's errors change nothing.
 */
static int sc_evidence_log(struct t *t, int arg)
{
        struct party a, b;
        struct upload up;
        struct download dl;
        char hex[8192], want[4096], sig_sha[65], leaf_hex[65];
        unsigned char leaf[4096], sig_hash[32];
        unsigned char *sig = NULL;
        size_t leaf_len, sig_len, plen, n;
        merkle_hash leaf_hash, root, root2, proof[MERKLE_MAX_PROOF];
        json_t *env = NULL, *res, *body;
        long index, count;
        uint64_t size1, size2;
        int ret = -1;

        (void)arg;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        memset(&up, 0, sizeof(up));
        TRY(parties_new(t, 1, &a, "la", &b, "lb", NULL));
        TRY(do_upload(t, &a, &up, 1000));
        TRY(do_download(t, &a, &b, &up, &dl));
        TRY(db_long(t, &count,
                    "SELECT COUNT(*) FROM log_leaves WHERE file_id = \"%s\"",
                    up.file_id));
        CHECK(count == 2, "%ld leaves for %s, expected 2 (upload, exchange)",
              count, up.file_id);
        {
                char sql[256];
                snprintf(sql, sizeof(sql),
                         "SELECT HEX(leaf) FROM log_leaves WHERE file_id = "
                         "\"%s\" AND event = \"exchange\"",
                         up.file_id);
                TRY(db_query(t, sql, hex, sizeof(hex)));
        }
        TRY(db_long(t, &index,
                    "SELECT leaf_index FROM log_leaves WHERE file_id = \"%s\" "
                    "AND event = \"exchange\"",
                    up.file_id));
        CHECK(hex_decode(hex, strlen(hex), 0, leaf, sizeof(leaf), &leaf_len,
                         NULL, 0) == 0,
              "leaf is not hex: %.80s", hex);
        {
                json_t *v = json_string(dl.ttp_sig);
                int rc = pc_b64_decode(v, &sig, &sig_len);

                json_decref(v);
                CHECK(rc == 0, "ttp_sig not base64");
        }
        TRY(crypto_sha256(sig, sig_len, sig_hash, ERR));
        hex_encode(sig_hash, 32, sig_sha, sizeof(sig_sha));
        snprintf(want, sizeof(want),
                 "tds/1 leaf\nevent=exchange\nfile_id=%s\nuploader=%s\n"
                 "uploader_key_id=%s\ndownloader=%s\ndownloader_key_id=%s\n"
                 "sha256=%s\nsize=%s\nupload_nonce=%s\ndownload_nonce=%s\n"
                 "nro_sha256=%s\nnrr_sha256=%s\nabort=\ntime=%s\n"
                 "ttp_sig_sha256=%s\n",
                 up.file_id, a.u.name, a.u.key_id, b.u.name, b.u.key_id,
                 up.sha256, up.size_dec, up.nonce, dl.nonce, up.nro_sha256,
                 dl.nrr_sha256, dl.time, sig_sha);
        CHECK(leaf_len == strlen(want) && memcmp(leaf, want, leaf_len) == 0,
              "exchange leaf is\n%.*s\nexpected\n%s", (int)leaf_len,
              (const char *)leaf, want);
        merkle_leaf_hash(leaf, leaf_len, leaf_hash);
        hex_encode(leaf_hash, 32, leaf_hex, sizeof(leaf_hex));

        /* Inclusion into a signed head. */
        TRYP(env = req_new(t, &b, "log.proof.request",
                           json_pack("{s:s}", "leaf_hash", leaf_hex)));
        TRY(send_env(t, env));
        TRYP(res = await(t, &b, "log.proof", NULL, msg_id_of(env)));
        body = pc_body(res);
        CHECK(
            json_integer_value(json_object_get(body, "leaf_index")) == index,
            "log.proof leaf_index %lld, the database says %ld",
            (long long)json_integer_value(json_object_get(body, "leaf_index")),
            index);
        size1 =
            (uint64_t)json_integer_value(json_object_get(body, "tree_size"));
        TRY(check_head(t, body, root));
        TRY(hashes_of(t, json_object_get(body, "proof"), proof, &plen));
        CHECK(merkle_verify_inclusion((uint64_t)index, size1, leaf_hash, proof,
                                      plen, root, ERR) == 0,
              "inclusion proof of leaf %ld in %llu does not verify: %s", index,
              (unsigned long long)size1, t->err);
        leaf_hash[0] ^= 1;
        CHECK(merkle_verify_inclusion((uint64_t)index, size1, leaf_hash, proof,
                                      plen, root, ERR) == -1,
              "inclusion proof verifies for another leaf");
        json_decref(env);

        /* Another exchange, then the latest head and consistency. */
        TRY(do_download(t, &a, &b, &up, &dl));
        TRYP(env = req_new(t, &a, "log.head.request", json_object()));
        TRY(send_env(t, env));
        TRYP(res = await(t, &a, "log.head", NULL, msg_id_of(env)));
        body = pc_body(res);
        size2 =
            (uint64_t)json_integer_value(json_object_get(body, "tree_size"));
        CHECK(size2 > size1, "head size %llu after a new exchange, was %llu",
              (unsigned long long)size2, (unsigned long long)size1);
        TRY(check_head(t, body, root2));
        json_decref(env);
        TRYP(env = req_new(t, &a, "log.consistency.request",
                           json_pack("{s:I, s:I}", "first", (json_int_t)size1,
                                     "second", (json_int_t)size2)));
        TRY(send_env(t, env));
        TRYP(res = await(t, &a, "log.consistency", NULL, msg_id_of(env)));
        TRY(hashes_of(t, json_object_get(pc_body(res), "proof"), proof, &plen));
        CHECK(merkle_verify_consistency(size1, size2, root, root2, proof, plen,
                                        ERR) == 0,
              "consistency %llu -> %llu does not verify: %s",
              (unsigned long long)size1, (unsigned long long)size2, t->err);
        root[5] ^= 1;
        CHECK(merkle_verify_consistency(size1, size2, root, root2, proof, plen,
                                        ERR) == -1,
              "consistency proof verifies for a rewritten old root");

        /* Errors: nothing changes. */
        TRY(expect_error_req(t, &a, "log.proof.request",
                             json_pack("{s:s}", "leaf_hash", up.sha256),
                             "unknown_leaf"));
        TRY(expect_error_req(t, &a, "log.consistency.request",
                             json_pack("{s:i, s:i}", "first", 0, "second", 1),
                             "bad_range"));
        TRY(expect_error_req(t, &a, "log.consistency.request",
                             json_pack("{s:I, s:I}", "first", (json_int_t)size2,
                                       "second", (json_int_t)size1),
                             "bad_range"));
        TRY(expect_error_req(t, &a, "log.consistency.request",
                             json_pack("{s:i, s:I}", "first", 1, "second",
                                       (json_int_t)(size2 + 1000000)),
                             "bad_range"));
        (void)n;
        TRY(quiet(t, &a, &b, NULL));
        ret = 0;
done:
        json_decref(env);
        free(sig);
        up_fini(&up);
        party_fini(&a);
        party_fini(&b);
        return ret;
}

static int sc_client_self_check(struct t *t, int arg)
{
        int ret = -1;

        (void)arg;
        for (int i = 0; i < SC_COUNT; i++)
                TRY(selfcheck_one(t, i));
        ret = 0;
done:
        return ret;
}

/* --- the table -----------------------------------------------------------
 */

struct scenario {
        const char *name;
        int (*fn)(struct t *t, int arg);
        int arg;
        int in_all;
};

static const struct scenario scenarios[] = {
    {"client-self-check", sc_client_self_check, 0, 1},
    {"register", sc_register, 0, 1},
    {"register-retry", sc_register_retry, 0, 1},
    {"register-key-conflict", sc_register_key_conflict, 0, 1},
    {"register-bad-signature", sc_register_bad_signature, 0, 1},
    {"exchange", sc_exchange, 100000, 1},
    {"evidence-log", sc_evidence_log, 0, 1},
    {"exchange-empty", sc_exchange, 0, 1},
    {"exchange-large", sc_exchange, 3 * T_MIB + 17, 1},
    {"two-downloaders", sc_two_downloaders, 0, 1},
    {"download-twice", sc_download_twice, 0, 1},
    {"download-own", sc_download_own, 0, 1},
    {"same-content", sc_same_content, 0, 1},
    {"catalog", sc_catalog, 0, 1},
    {"abort-ongoing", sc_abort_ongoing, 0, 1},
    {"abort-uploaded", sc_abort_uploaded, 0, 1},
    {"abort-downloaded", sc_abort_downloaded, 0, 1},
    {"abort-not-owner", sc_abort_not_owner, 0, 1},
    {"abort-unknown-file", sc_abort_unknown_file, 0, 1},
    {"abort-twice", sc_abort_twice, 0, 1},
    {"abort-race", sc_abort_race, 0, 1},
    {"abort-race-request", sc_abort_race_request, 0, 1},
    {"odd-file-ids", sc_odd_file_ids, 0, 1},
    {"size-differs", sc_size_differs, 0, 1},
    {"unknown-user", sc_unknown_user, 0, 1},
    {"unknown-file", sc_unknown_file, 0, 1},
    {"file-exists", sc_file_exists, 0, 1},
    {"commit-not-owner", sc_commit_not_owner, 0, 1},
    {"bad-signature-request", sc_sig_request, 0, 1},
    {"bad-signature-nro", sc_sig_nro, 0, 1},
    {"bad-signature-nrr", sc_sig_nrr, 0, 1},
    {"signature-encoding", sc_sig_encoding, 0, 1},
    {"nonce-made-up", sc_nonce_made_up, 0, 1},
    {"nonce-other-user", sc_nonce_other_user, 0, 1},
    {"nonce-other-file", sc_nonce_other_file, 0, 1},
    {"nonce-expired", sc_nonce_expired, 0, 1},
    {"nonce-replay", sc_nonce_replay, 0, 1},
    {"batch-reject-after-write", sc_batch_reject_after_write, 0, 1},
    {"hash-mismatch", sc_hash_mismatch, 0, 1},
    {"bad-path-not-issued", sc_bad_path, BP_NOT_ISSUED, 1},
    {"bad-path-dotdot", sc_bad_path, BP_DOTDOT, 1},
    {"bad-path-escape", sc_bad_path, BP_ESCAPE, 1},
    {"bad-path-absolute", sc_bad_path, BP_ABSOLUTE, 1},
    {"bad-path-symlink", sc_bad_path, BP_SYMLINK, 1},
    {"bad-path-symlink-dir", sc_bad_path, BP_SYMLINK_DIR, 1},
    {"bad-path-fifo", sc_bad_path, BP_FIFO, 1},
    {"bad-path-directory", sc_bad_path, BP_DIRECTORY, 1},
    {"bad-path-missing", sc_bad_path, BP_MISSING, 1},
    {"bad-schema-unknown-type", sc_bad_schema, BS_UNKNOWN_TYPE, 1},
    {"bad-schema-v2", sc_bad_schema, BS_V2, 1},
    {"bad-schema-v-string", sc_bad_schema, BS_V_STRING, 1},
    {"bad-schema-body-field", sc_bad_schema, BS_BODY_FIELD, 1},
    {"bad-schema-top-field", sc_bad_schema, BS_TOP_FIELD, 1},
    {"bad-schema-missing-field", sc_bad_schema, BS_MISSING_FIELD, 1},
    {"bad-schema-missing-sig", sc_bad_schema, BS_MISSING_SIG, 1},
    {"bad-schema-size-string", sc_bad_schema, BS_SIZE_STRING, 1},
    {"bad-schema-size-negative", sc_bad_schema, BS_SIZE_NEGATIVE, 1},
    {"bad-schema-size-huge", sc_bad_schema, BS_SIZE_HUGE, 1},
    {"bad-schema-file-id", sc_bad_schema, BS_FILE_ID, 1},
    {"bad-schema-nonce-short", sc_bad_schema, BS_NONCE_SHORT, 1},
    {"bad-schema-sig-on-commit", sc_bad_schema, BS_SIG_ON_COMMIT, 1},
    {"bad-schema-msg-id-other-user", sc_bad_schema, BS_MSG_ID_OTHER_USER, 1},
    {"bad-schema-ttp-type", sc_bad_schema, BS_TTP_TYPE, 1},
    {"bad-schema-name-control", sc_bad_schema, BS_NAME_CONTROL, 1},
    {"bad-schema-name-long", sc_bad_schema, BS_NAME_LONG, 1},
    {"bad-schema-size-real", sc_bad_schema, BS_SIZE_REAL, 1},
    {"bad-schema-nonce-noncanonical", sc_bad_schema, BS_NONCE_NONCANONICAL, 1},
    {"bad-schema-sha256-upper", sc_bad_schema, BS_SHA_UPPER, 1},
    {"bad-schema-public-key", sc_bad_schema, BS_PUBKEY_NOT_P256, 1},
    {"bad-json", sc_bad_json, 0, 1},
    {"dead-letter-unattributable", sc_dead_letter_unattributable, 0, 1},
    {"bad-json-attributable", sc_bad_json_attributable, 0, 1},
    {"too-large", sc_too_large, 0, 1},
    {"retry-upload-request", sc_retry_upload_request, 0, 1},
    {"retry-commit", sc_retry_commit, 0, 1},
    {"retry-receipt", sc_retry_receipt, 0, 1},
    {"retry-error", sc_retry_error, 0, 1},
    {"retry-other-content", sc_retry_other_content, 0, 1},
    {"retry-in-burst", sc_retry_in_burst, 0, 1},
    {"exchange-nowait", sc_exchange_nowait, 0, 0},
    {"exchange-prepare", sc_exchange_nowait, 1, 0},
    {"exchange-send", sc_exchange_send, 0, 0},
    {"exchange-check", sc_exchange_check, 0, 0},
};

#define N_SCENARIOS (sizeof(scenarios) / sizeof(*scenarios))

static const char *env_need(const char *name, int *missing)
{
        const char *v = getenv(name);

        if (v == NULL || *v == '\0') {
                fprintf(stderr,
                        "protocol_test: %s is not set (eval \"$(scripts/"
                        "tds-stack env)\")\n",
                        name);
                *missing = 1;
        }
        return v;
}

static int run_one(struct t *t, const struct scenario *s, int number,
                   int *passed, int *failed)
{
        int r;

        t->err[0] = '\0';
        t->trace[0] = '\0';
        r = s->fn(t, s->arg);
        if (r == 1) {
                printf("ok %d - %s # SKIP %s\n", number, s->name, t->err);
                (*passed)++;
        } else if (r == 0) {
                printf("ok %d - %s\n", number, s->name);
                (*passed)++;
        } else {
                printf("not ok %d - %s\n# ", number, s->name);
                for (const char *c = t->err[0] ? t->err : "failed"; *c; c++)
                        if (*c == '\n')
                                fputs("\n#   ", stdout);
                        else
                                putchar(*c);
                printf("\n# (at protocol_test.c lines%s)\n", t->trace);
                (*failed)++;
        }
        fflush(stdout);
        return r;
}

int main(int argc, char **argv)
{
        struct t t;
        char path[1024];
        const char *prefix, *timeout, *ttl;
        int missing = 0, passed = 0, failed = 0, number = 0, ret = 2;

        memset(&t, 0, sizeof(t));
        if (argc < 2 || strcmp(argv[1], "-h") == 0) {
                fprintf(stderr, "usage: protocol_test all | list | NAME... | "
                                "exchange-send FILE_ID | exchange-check "
                                "FILE_ID\n");
                return 2;
        }
        if (strcmp(argv[1], "list") == 0) {
                for (size_t i = 0; i < N_SCENARIOS; i++)
                        printf("%s%s\n", scenarios[i].name,
                               scenarios[i].in_all ? "" : " (not in all)");
                return 0;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        t.bootstrap = env_need("TDS_BOOTSTRAP", &missing);
        t.store = env_need("TDS_STORE", &missing);
        t.admin_cnf = env_need("TDS_DB_ADMIN_CNF", &missing);
        t.run_dir = env_need("TDS_RUN_DIR", &missing);
        if (missing)
                return 2;
        prefix = getenv("TDS_TOPIC_PREFIX");
        timeout = getenv("TDS_TEST_TIMEOUT_MS");
        ttl = getenv("TDS_TEST_SHORT_TTL");
        t.timeout_ms = timeout != NULL ? atoi(timeout) : T_DEFAULT_TIMEOUT;
        if (t.timeout_ms <= 0)
                t.timeout_ms = T_DEFAULT_TIMEOUT;
        t.short_ttl = ttl != NULL ? atoi(ttl) : 0;
        if ((t.pc = pc_new(t.bootstrap, prefix ? prefix : "tds", t.err,
                           sizeof(t.err))) == NULL) {
                fprintf(stderr, "protocol_test: %s\n", t.err);
                goto done;
        }
        snprintf(path, sizeof(path), "%s/ttp/ttp_key.pem.pub", t.run_dir);
        if ((t.ttp = pc_key_from_pem_file(path, t.ttp_err,
                                          sizeof(t.ttp_err))) == NULL)
                printf("# warning: no TTP public key, every ttp_sig check "
                       "will fail: %s\n",
                       t.ttp_err);
        if (strcmp(argv[1], "exchange-check") == 0 ||
            strcmp(argv[1], "exchange-send") == 0) {
                if (argc != 3) {
                        fprintf(stderr, "usage: protocol_test %s FILE_ID\n",
                                argv[1]);
                        goto done;
                }
                exchange_file_id = argv[2];
                for (size_t i = 0; i < N_SCENARIOS; i++)
                        if (strcmp(scenarios[i].name, argv[1]) == 0)
                                run_one(&t, &scenarios[i], ++number, &passed,
                                        &failed);
        } else {
                for (int a = 1; a < argc; a++) {
                        int all = strcmp(argv[a], "all") == 0, found = 0;
                        for (size_t i = 0; i < N_SCENARIOS; i++) {
                                if (all ? !scenarios[i].in_all
                                        : strcmp(scenarios[i].name, argv[a]) !=
                                              0)
                                        continue;
                                found = 1;
                                run_one(&t, &scenarios[i], ++number, &passed,
                                        &failed);
                        }
                        if (!found) {
                                fprintf(stderr,
                                        "protocol_test: no scenario %s "
                                        "(protocol_test list)\n",
                                        argv[a]);
                                goto done;
                        }
                }
        }
        printf("%d passed, %d failed\n", passed, failed);
        ret = failed > 0 ? 1 : 0;
done:
        crypto_key_free(t.ttp);
        pc_free(t.pc);
        return ret;
}

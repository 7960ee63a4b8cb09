/*
 * driver: one thread, one event loop.  Each turn starts what the load
 * model allows (closed loop: up to N in flight; open loop: every start
 * that is due), reads the replies that arrived, fails what timed out,
 * and serves the producer's delivery reports.  Operations in flight are
 * kept in start order, so the oldest is the first to time out, and in a
 * map from dispatch key to operation:
 *
 *   "r" US user               a register
 *   "u" US user US file_id    an upload
 *   "x" US downloader US file_id   an exchange (one per pair at a time)
 *   "m" US msg_id             the last request an operation sent
 *
 * (US: the unit separator 0x1f, which neither user names nor file ids
 * may contain.)
 */
#include "driver.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <openssl/evp.h>

#include "base64.h"
#include "bmap.h"
#include "crypto.h"
#include "hex.h"
#include "ids.h"
#include "kafka.h"
#include "log.h"
#include "procstat.h"
#include "tbs.h"

#define DRIVER_CHUNK      (64 * 1024) /* bytes written per write(2) */
#define DRIVER_POLL_BATCH 512         /* replies handled per turn */
#define DRIVER_POLL_MS    5
#define DRIVER_KEY_MAX    (2 * IDS_USER_MAX + IDS_FILE_ID_MAX + 8)
#define DRIVER_LOG_ERRORS 10 /* failures logged one by one, then silence */
#define US                "\x1f"

struct buser {
        char name[IDS_USER_MAX + 1];
        struct crypto_key *key;
        char key_id[CRYPTO_KEY_ID_LEN + 1]; /* = public_key_sha256 */
        char *spki_b64;
};

/* A document as its uploader knows it once the TTP verified it. */
struct bfile {
        char file_id[IDS_FILE_ID_MAX + 1];
        unsigned uploader;
        uint64_t size;
        char sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char *nro_b64;
        char nro_sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char *upload_nonce_b64;
};

enum op_kind { OP_REGISTER, OP_UPLOAD, OP_EXCHANGE };
enum op_state { OP_WAIT_CHALLENGE, OP_WAIT_RESULT, OP_WAIT_EVIDENCE };

struct op {
        enum op_kind kind;
        enum op_state state;
        unsigned user; /* register: the user; upload: A; exchange: B */
        unsigned file; /* exchange: the file; setup upload: its slot */
        int setup;     /* a setup upload: keep the file */
        struct bfile up;
        char key[DRIVER_KEY_MAX];
        char msg_id[IDS_MSG_ID_LEN + 1]; /* the last request sent */
        uint64_t t_start;                /* due (open loop) or sent, us */
        uint64_t t_sent;
        uint64_t t_delivery, t_receipt;
        int got_delivery, got_receipt;
        char nonce[64]; /* B's download nonce, base64 */
        char *nrr_b64;
        char nrr_sha256[CRYPTO_SHA256_HEX_LEN + 1];
        struct op *prev, *next;
};

enum phase { PH_REGISTER, PH_UPLOAD, PH_STEP };

struct driver {
        struct driver_conf conf;
        struct kafka_topics topics;
        rd_kafka_t *producer;
        rd_kafka_t *consumer;
        int32_t nparts;
        struct crypto_key *ttp_key;
        struct buser *users;
        struct bfile *files;
        unsigned nfiles_ready;
        struct bmap *ops;
        struct bmap *by_name;
        struct op *head, *tail;
        size_t inflight;
        char run_id[9];
        uint64_t upload_seq;
        unsigned char *pattern; /* DRIVER_CHUNK random bytes */
        unsigned char *scratch; /* the first chunk of a document */
        uint64_t rng;
        uint64_t produce_failed; /* delivery reports with an error */
        /* where the current phase counts */
        enum phase phase;
        struct driver_errors *err;
        struct step_stats *st;
        unsigned setup_done;
        int in_window;
        unsigned step;  /* steps run so far */
        pid_t hook_pid; /* the on_window command, until reaped */
        uint64_t sec_start;
        uint64_t sec_completed;
        struct hist sec_hist;
};

static volatile sig_atomic_t driver_stop;

void driver_interrupt(void)
{
        driver_stop = 1;
}

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t rng_next(struct driver *d)
{
        /* xorshift64*: the choice of file and downloader only. */
        d->rng ^= d->rng >> 12;
        d->rng ^= d->rng << 25;
        d->rng ^= d->rng >> 27;
        return d->rng * 2685821657736338717ULL;
}

/* ---- failures ----------------------------------------------------------- */

enum fail_kind { F_TIMEOUT, F_TTP, F_VERIFY, F_REFUSED, F_TRANSPORT };

static void count_failure(struct driver *d, enum fail_kind kind,
                          enum proto_code code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void count_failure(struct driver *d, enum fail_kind kind,
                          enum proto_code code, const char *fmt, ...)
{
        struct driver_errors *e = d->err;
        va_list ap;

        e->total++;
        switch (kind) {
        case F_TIMEOUT:
                e->timeouts++;
                break;
        case F_TTP:
                e->ttp[(unsigned)code < PROTO_CODE_COUNT ? code : 0]++;
                break;
        case F_VERIFY:
                e->verify++;
                break;
        case F_REFUSED:
                e->refused++;
                break;
        case F_TRANSPORT:
                e->transport++;
                break;
        }
        va_start(ap, fmt);
        vsnprintf(e->last, sizeof(e->last), fmt, ap);
        va_end(ap);
        if (e->total <= DRIVER_LOG_ERRORS)
                log_warnx("%s", e->last);
        else if (e->total == DRIVER_LOG_ERRORS + 1)
                log_warnx("more failures: counted, not logged");
}

/* ---- operations in flight ----------------------------------------------- */

static struct op *op_new(struct driver *d, enum op_kind kind, unsigned user,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static struct op *op_new(struct driver *d, enum op_kind kind, unsigned user,
                         const char *fmt, ...)
{
        struct op *op = calloc(1, sizeof(*op));
        va_list ap;

        if (op == NULL)
                return NULL;
        op->kind = kind;
        op->user = user;
        va_start(ap, fmt);
        vsnprintf(op->key, sizeof(op->key), fmt, ap);
        va_end(ap);
        if (bmap_put(d->ops, op->key, op) == -1) {
                free(op);
                return NULL;
        }
        op->t_sent = op->t_start = now_us();
        op->prev = d->tail;
        if (d->tail != NULL)
                d->tail->next = op;
        else
                d->head = op;
        d->tail = op;
        d->inflight++;
        return op;
}

static void bfile_fini(struct bfile *f)
{
        free(f->nro_b64);
        free(f->upload_nonce_b64);
        f->nro_b64 = f->upload_nonce_b64 = NULL;
}

static void op_end(struct driver *d, struct op *op)
{
        char mkey[IDS_MSG_ID_LEN + 4];

        bmap_del(d->ops, op->key);
        if (op->msg_id[0] != '\0') {
                snprintf(mkey, sizeof(mkey), "m" US "%s", op->msg_id);
                bmap_del(d->ops, mkey);
        }
        if (op->prev != NULL)
                op->prev->next = op->next;
        else
                d->head = op->next;
        if (op->next != NULL)
                op->next->prev = op->prev;
        else
                d->tail = op->prev;
        d->inflight--;
        bfile_fini(&op->up);
        free(op->nrr_b64);
        free(op);
}

static const char *op_what(const struct driver *d, const struct op *op,
                           char *buf, size_t len)
{
        switch (op->kind) {
        case OP_REGISTER:
                snprintf(buf, len, "register of %s", d->users[op->user].name);
                break;
        case OP_UPLOAD:
                snprintf(buf, len, "upload of %s by %s", op->up.file_id,
                         d->users[op->user].name);
                break;
        case OP_EXCHANGE:
                snprintf(buf, len, "exchange of %s to %s",
                         d->files[op->file].file_id, d->users[op->user].name);
                break;
        }
        return buf;
}

/* ---- requests ----------------------------------------------------------- */

static int produce(struct driver *d, const char *key, const void *value,
                   size_t len, char *err, size_t errlen)
{
        rd_kafka_resp_err_t kerr;

        for (;;) {
                kerr = rd_kafka_producev(
                    d->producer, RD_KAFKA_V_TOPIC(d->topics.requests),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_KEY(key, strlen(key)),
                    RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_END);
                if (kerr != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        break;
                rd_kafka_poll(d->producer, 10);
        }
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(err, errlen, "produce to %s: %s", d->topics.requests,
                         rd_kafka_err2str(kerr));
                return -1;
        }
        return 0;
}

/*
 * Send `type` from user `u` for `op` (NULL: none), signed as the
 * contract says; `body` is stolen.  The Kafka key is the file_id, or the
 * user for register.
 */
static int send_request(struct driver *d, struct op *op, const struct buser *u,
                        enum proto_type type, const char *file_id, json_t *body,
                        char *err, size_t errlen)
{
        char msg_id[IDS_MSG_ID_LEN + 1], mkey[IDS_MSG_ID_LEN + 4];
        char *tbs = NULL, *sig_b64 = NULL, *payload = NULL;
        unsigned char *sig = NULL;
        size_t tbslen, siglen, len;
        int ret = -1;

        if (ids_msg_id_new(msg_id, err, errlen) == -1)
                goto done;
        if (proto_type_is_signed(type)) {
                struct tbs_request f = {
                    proto_type_name(type), msg_id, u->name, file_id,
                    type == PROTO_REGISTER ? u->key_id : NULL};

                if (tbs_request(&f, &tbs, &tbslen, err, errlen) == -1 ||
                    crypto_sign(u->key, tbs, tbslen, &sig, &siglen, err,
                                errlen) == -1)
                        goto done;
                if ((sig_b64 = base64_encode(sig, siglen)) == NULL) {
                        snprintf(err, errlen, "out of memory");
                        goto done;
                }
        }
        payload = proto_envelope_dump(type, msg_id, u->name, body, sig_b64,
                                      &len, err, errlen);
        body = NULL;
        if (payload == NULL ||
            produce(d, type == PROTO_REGISTER ? u->name : file_id, payload, len,
                    err, errlen) == -1)
                goto done;
        if (op != NULL) {
                if (op->msg_id[0] != '\0') {
                        snprintf(mkey, sizeof(mkey), "m" US "%s", op->msg_id);
                        bmap_del(d->ops, mkey);
                }
                memcpy(op->msg_id, msg_id, sizeof(msg_id));
                snprintf(mkey, sizeof(mkey), "m" US "%s", op->msg_id);
                if (bmap_put(d->ops, mkey, op) == -1) {
                        op->msg_id[0] = '\0';
                        snprintf(err, errlen, "out of memory");
                        goto done;
                }
        }
        ret = 0;
done:
        json_decref(body);
        free(payload);
        free(sig_b64);
        free(sig);
        free(tbs);
        return ret;
}

/* Sign `tbs` with `key`: base64 into `*b64` (caller frees), and the hex
 * SHA-256 of the DER into `sha_hex` when not NULL. */
static int sign_b64(const struct crypto_key *key, const char *tbs,
                    size_t tbslen, char **b64, char *sha_hex, char *err,
                    size_t errlen)
{
        unsigned char *sig = NULL;
        size_t siglen;
        int ret = -1;

        *b64 = NULL;
        if (crypto_sign(key, tbs, tbslen, &sig, &siglen, err, errlen) == -1)
                goto done;
        if (sha_hex != NULL &&
            crypto_sha256_hex(sig, siglen, sha_hex, err, errlen) == -1)
                goto done;
        if ((*b64 = base64_encode(sig, siglen)) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        ret = 0;
done:
        free(sig);
        return ret;
}

/* The TTP's ttp_sig (decoded in `sig`) over the evidence TBS `ev`. */
static int verify_ttp_sig(struct driver *d, const struct tbs_evidence *ev,
                          const struct proto_value *sig, char *err,
                          size_t errlen)
{
        char *tbs = NULL;
        size_t tbslen;
        int ret = -1;

        if (!sig->present) {
                snprintf(err, errlen, "no ttp_sig");
                return -1;
        }
        if (tbs_evidence(ev, &tbs, &tbslen, err, errlen) == 0 &&
            crypto_verify(d->ttp_key, tbs, tbslen, sig->bin, sig->bin_len, err,
                          errlen) == 0)
                ret = 0;
        free(tbs);
        return ret;
}

static int same(const struct proto_value *v, const char *want)
{
        return v->present && v->str != NULL && want != NULL &&
               strcmp(v->str, want) == 0;
}

/* ---- register ----------------------------------------------------------- */

static int start_register(struct driver *d, unsigned user)
{
        struct buser *u = &d->users[user];
        char err[512];
        struct op *op;

        if ((op = op_new(d, OP_REGISTER, user, "r" US "%s", u->name)) == NULL) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "out of memory");
                return -1;
        }
        op->state = OP_WAIT_RESULT;
        if (send_request(d, op, u, PROTO_REGISTER, NULL,
                         json_pack("{s:s}", "public_key", u->spki_b64), err,
                         sizeof(err)) == -1) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "register of %s: %s",
                              u->name, err);
                op_end(d, op);
                return -1;
        }
        return 0;
}

static void on_register_result(struct driver *d, const struct proto_msg *m)
{
        char key[DRIVER_KEY_MAX];
        struct op *op;

        snprintf(key, sizeof(key), "r" US "%s", m->user);
        if ((op = bmap_get(d->ops, key)) == NULL) {
                if (d->st != NULL)
                        d->st->stray++;
                return;
        }
        if (!same(&m->f[PF_KEY_ID], d->users[op->user].key_id))
                count_failure(d, F_VERIFY, PROTO_OK,
                              "register.result for %s: key_id is not mine",
                              m->user);
        else
                d->setup_done++;
        op_end(d, op);
}

/* ---- upload ------------------------------------------------------------- */

static int start_upload(struct driver *d, unsigned user, int setup,
                        unsigned slot, uint64_t t_start)
{
        struct buser *u = &d->users[user];
        char file_id[IDS_FILE_ID_MAX + 1], name[IDS_FILE_ID_MAX + 8];
        char err[512];
        struct op *op;

        snprintf(file_id, sizeof(file_id), "%s-%llu", d->run_id,
                 (unsigned long long)++d->upload_seq);
        snprintf(name, sizeof(name), "%s.bin", file_id);
        if ((op = op_new(d, OP_UPLOAD, user, "u" US "%s" US "%s", u->name,
                         file_id)) == NULL) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "out of memory");
                return -1;
        }
        if (t_start != 0)
                op->t_start = t_start;
        op->setup = setup;
        op->file = slot;
        op->state = OP_WAIT_CHALLENGE;
        snprintf(op->up.file_id, sizeof(op->up.file_id), "%s", file_id);
        op->up.uploader = user;
        op->up.size = d->conf.upload_size;
        if (send_request(d, op, u, PROTO_UPLOAD_REQUEST, file_id,
                         json_pack("{s:s, s:s, s:I}", "file_id", file_id,
                                   "name", name, "size",
                                   (json_int_t)op->up.size),
                         err, sizeof(err)) == -1) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "upload of %s: %s",
                              file_id, err);
                op_end(d, op);
                return -1;
        }
        return 0;
}

/* snprintf into an error buffer; paths may be long and are cut. */
static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static int write_all(int fd, const unsigned char *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = write(fd, buf, len);

                if (n == -1 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return -1;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

static int fsync_dir_of(const char *path)
{
        char dir[4096], *slash;
        int fd, rc;

        snprintf(dir, sizeof(dir), "%s", path);
        if ((slash = strrchr(dir, '/')) == NULL)
                return 0;
        *slash = '\0';
        if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
                return -1;
        rc = fsync(fd);
        close(fd);
        return rc;
}

/*
 * Write the document of `op` to <store>/<incoming> as the client does: a
 * temporary name beside it, SHA-256 over exactly the bytes written,
 * (fsync,) rename into place.  Its hex SHA-256 goes into op->up.sha256.
 */
static int write_document(struct driver *d, struct op *op, const char *incoming,
                          char *err, size_t errlen)
{
        char path[4096], tmp[4200];
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int dlen;
        uint64_t left = op->up.size;
        EVP_MD_CTX *md = NULL;
        int fd = -1, ret = -1, first = 1;

        snprintf(path, sizeof(path), "%s/%s", d->conf.store, incoming);
        snprintf(tmp, sizeof(tmp), "%s.bench-%s", path, op->msg_id);
        if ((md = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                snprintf(err, errlen, "SHA-256 context");
                goto done;
        }
        if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) ==
            -1) {
                seterr(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        while (left > 0 || first) {
                size_t n = left < DRIVER_CHUNK ? (size_t)left : DRIVER_CHUNK;
                const unsigned char *buf = d->pattern;

                if (first) {
                        /* Every document differs: its first bytes are the
                         * msg_id of the request that announced it. */
                        memcpy(d->scratch, d->pattern, n);
                        memcpy(d->scratch, op->msg_id,
                               n < IDS_MSG_ID_LEN ? n : IDS_MSG_ID_LEN);
                        buf = d->scratch;
                        first = 0;
                }
                if (n > 0 && (write_all(fd, buf, n) == -1 ||
                              EVP_DigestUpdate(md, buf, n) != 1)) {
                        seterr(err, errlen, "%s: %s", tmp, strerror(errno));
                        goto done;
                }
                left -= n;
        }
        if ((d->conf.client_fsync && fsync(fd) == -1) || close(fd) == -1) {
                fd = -1;
                seterr(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        fd = -1;
        if (rename(tmp, path) == -1 ||
            (d->conf.client_fsync && fsync_dir_of(path) == -1)) {
                seterr(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != 32) {
                snprintf(err, errlen, "SHA-256 final");
                goto done;
        }
        hex_encode(digest, 32, op->up.sha256, sizeof(op->up.sha256));
        ret = 0;
done:
        if (fd != -1)
                close(fd);
        if (ret == -1)
                unlink(tmp);
        EVP_MD_CTX_free(md);
        return ret;
}

static void on_upload_challenge(struct driver *d, struct op *op,
                                const struct proto_msg *m)
{
        struct buser *u = &d->users[op->user];
        const char *incoming = m->f[PF_INCOMING_PATH].str;
        const char *nonce = m->f[PF_NONCE].str;
        char size_str[32], err[512], what[256], *tbs = NULL;
        size_t tbslen;
        struct tbs_nro f;

        if (!same(&m->f[PF_KEY_ID], u->key_id)) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: challenge names another key",
                              op_what(d, op, what, sizeof(what)));
                goto fail;
        }
        if (write_document(d, op, incoming, err, sizeof(err)) == -1) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "%s: %s",
                              op_what(d, op, what, sizeof(what)), err);
                goto fail;
        }
        snprintf(size_str, sizeof(size_str), "%llu",
                 (unsigned long long)op->up.size);
        f = (struct tbs_nro){op->up.file_id, u->name, op->up.sha256, size_str,
                             nonce};
        if (tbs_nro(&f, &tbs, &tbslen, err, sizeof(err)) == -1 ||
            sign_b64(u->key, tbs, tbslen, &op->up.nro_b64, op->up.nro_sha256,
                     err, sizeof(err)) == -1 ||
            (op->up.upload_nonce_b64 = strdup(nonce)) == NULL ||
            send_request(d, op, u, PROTO_UPLOAD_COMMIT, op->up.file_id,
                         json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "file_id",
                                   op->up.file_id, "nonce", nonce, "path",
                                   incoming, "sha256", op->up.sha256, "size",
                                   (json_int_t)op->up.size, "nro",
                                   op->up.nro_b64),
                         err, sizeof(err)) == -1) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "%s: commit: %s",
                              op_what(d, op, what, sizeof(what)), err);
                goto fail;
        }
        free(tbs);
        op->state = OP_WAIT_RESULT;
        return;
fail:
        free(tbs);
        op_end(d, op);
}

static void window_complete(struct driver *d, struct op *op, uint64_t now);

static void on_upload_result(struct driver *d, struct op *op,
                             const struct proto_msg *m)
{
        struct buser *u = &d->users[op->user];
        char err[512], what[256];
        struct tbs_evidence ev;

        op_what(d, op, what, sizeof(what));
        if (!m->f[PF_VERIFIED].boolean) {
                count_failure(
                    d, F_REFUSED, PROTO_OK, "%s: not verified: %s", what,
                    m->f[PF_REASON].present ? m->f[PF_REASON].str : "?");
                goto done;
        }
        ev = (struct tbs_evidence){
            "upload",      op->up.file_id,    u->name, "",
            op->up.sha256, op->up.nro_sha256, "",      m->f[PF_TIME].str};
        if (!same(&m->f[PF_SHA256], op->up.sha256)) {
                count_failure(d, F_VERIFY, PROTO_OK, "%s: sha256 differs",
                              what);
                goto done;
        }
        if (verify_ttp_sig(d, &ev, &m->f[PF_TTP_SIG], err, sizeof(err)) == -1) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: ttp_sig does not verify: %s", what, err);
                goto done;
        }
        if (op->setup) {
                d->files[op->file] = op->up;
                memset(&op->up, 0, sizeof(op->up));
                d->nfiles_ready++;
                d->setup_done++;
        } else {
                window_complete(d, op, now_us());
        }
done:
        op_end(d, op);
}

/* ---- exchange ----------------------------------------------------------- */

static int start_exchange(struct driver *d, uint64_t t_start)
{
        unsigned nusers = d->conf.users, file = 0, b = 0;
        char key[DRIVER_KEY_MAX], err[512];
        struct bfile *f = NULL;
        struct op *op;
        int tries;

        for (tries = 0; tries < 32; tries++) {
                file = (unsigned)(rng_next(d) % d->nfiles_ready);
                f = &d->files[file];
                b = (unsigned)(rng_next(d) % (nusers - 1));
                if (b >= f->uploader)
                        b++;
                snprintf(key, sizeof(key), "x" US "%s" US "%s",
                         d->users[b].name, f->file_id);
                if (bmap_get(d->ops, key) == NULL)
                        break;
        }
        if (tries == 32)
                return 1; /* every pair tried is busy: try again later */
        if ((op = op_new(d, OP_EXCHANGE, b, "%s", key)) == NULL) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "out of memory");
                return -1;
        }
        if (t_start != 0)
                op->t_start = t_start;
        op->file = file;
        op->state = OP_WAIT_CHALLENGE;
        if (send_request(d, op, &d->users[b], PROTO_DOWNLOAD_REQUEST,
                         f->file_id, json_pack("{s:s}", "file_id", f->file_id),
                         err, sizeof(err)) == -1) {
                count_failure(d, F_TRANSPORT, PROTO_OK,
                              "download.request of %s: %s", f->file_id, err);
                op_end(d, op);
                return -1;
        }
        return 0;
}

/* Step 5 checked as B's client checks it, then step 6. */
static void on_download_challenge(struct driver *d, struct op *op,
                                  const struct proto_msg *m)
{
        struct bfile *f = &d->files[op->file];
        struct buser *a = &d->users[f->uploader], *b = &d->users[op->user];
        char size_str[32], err[512], what[256], *tbs = NULL;
        size_t tbslen;
        struct tbs_nro nro;
        struct tbs_nrr nrr;

        op_what(d, op, what, sizeof(what));
        if (!same(&m->f[PF_KEY_ID], b->key_id) ||
            !same(&m->f[PF_UPLOADER], a->name) ||
            !same(&m->f[PF_UPLOADER_PUBLIC_KEY], a->spki_b64) ||
            !same(&m->f[PF_SHA256], f->sha256) ||
            m->f[PF_SIZE].num != f->size || !same(&m->f[PF_NRO], f->nro_b64) ||
            !same(&m->f[PF_UPLOAD_NONCE], f->upload_nonce_b64)) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: the challenge does not repeat what A "
                              "signed",
                              what);
                goto fail;
        }
        snprintf(size_str, sizeof(size_str), "%llu",
                 (unsigned long long)f->size);
        nro = (struct tbs_nro){f->file_id, a->name, f->sha256, size_str,
                               f->upload_nonce_b64};
        if (tbs_nro(&nro, &tbs, &tbslen, err, sizeof(err)) == -1 ||
            crypto_verify(a->key, tbs, tbslen, m->f[PF_NRO].bin,
                          m->f[PF_NRO].bin_len, err, sizeof(err)) == -1) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: A's NRO does not verify: %s", what, err);
                goto fail;
        }
        free(tbs);
        tbs = NULL;
        snprintf(op->nonce, sizeof(op->nonce), "%s", m->f[PF_NONCE].str);
        nrr = (struct tbs_nrr){f->file_id, b->name, f->sha256, f->nro_sha256,
                               op->nonce};
        if (tbs_nrr(&nrr, &tbs, &tbslen, err, sizeof(err)) == -1 ||
            sign_b64(b->key, tbs, tbslen, &op->nrr_b64, op->nrr_sha256, err,
                     sizeof(err)) == -1 ||
            send_request(d, op, b, PROTO_DOWNLOAD_RECEIPT, f->file_id,
                         json_pack("{s:s, s:s, s:s}", "file_id", f->file_id,
                                   "nonce", op->nonce, "nrr", op->nrr_b64),
                         err, sizeof(err)) == -1) {
                count_failure(d, F_TRANSPORT, PROTO_OK, "%s: receipt: %s", what,
                              err);
                goto fail;
        }
        free(tbs);
        op->state = OP_WAIT_EVIDENCE;
        return;
fail:
        free(tbs);
        op_end(d, op);
}

static void exchange_evidence(struct driver *d, struct op *op, int receipt)
{
        uint64_t now = now_us();

        if (receipt) {
                op->got_receipt = 1;
                op->t_receipt = now;
        } else {
                op->got_delivery = 1;
                op->t_delivery = now;
        }
        if (op->got_receipt && op->got_delivery) {
                window_complete(d, op, now);
                op_end(d, op);
        }
}

/* The exchange a receipt or delivery belongs to, or NULL (a stray). */
static struct op *evidence_op(struct driver *d, const char *downloader,
                              const struct proto_msg *m, int receipt)
{
        char key[DRIVER_KEY_MAX];
        struct op *op;

        snprintf(key, sizeof(key), "x" US "%s" US "%s", downloader,
                 m->f[PF_FILE_ID].str);
        op = bmap_get(d->ops, key);
        if (op == NULL || op->state != OP_WAIT_EVIDENCE ||
            (receipt ? op->got_receipt : op->got_delivery) ||
            !same(&m->f[PF_NONCE], op->nonce)) {
                if (d->st != NULL)
                        d->st->stray++;
                return NULL;
        }
        return op;
}

/* Step 7, as A's client checks it. */
static void on_receipt(struct driver *d, const struct proto_msg *m)
{
        struct bfile *f;
        struct buser *a, *b;
        char err[512], what[256];
        struct tbs_evidence ev;
        struct op *op;

        if (!m->f[PF_DOWNLOADER].present ||
            (op = evidence_op(d, m->f[PF_DOWNLOADER].str, m, 1)) == NULL)
                return;
        f = &d->files[op->file];
        a = &d->users[f->uploader];
        b = &d->users[op->user];
        op_what(d, op, what, sizeof(what));
        if (strcmp(m->user, a->name) != 0 ||
            !same(&m->f[PF_DOWNLOADER_PUBLIC_KEY], b->spki_b64) ||
            !same(&m->f[PF_SHA256], f->sha256) ||
            !same(&m->f[PF_NRO_SHA256], f->nro_sha256) ||
            !same(&m->f[PF_NRR], op->nrr_b64)) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: the receipt does not repeat what was "
                              "signed",
                              what);
                op_end(d, op);
                return;
        }
        ev = (struct tbs_evidence){
            "exchange", f->file_id,    a->name,        b->name,
            f->sha256,  f->nro_sha256, op->nrr_sha256, m->f[PF_TIME].str};
        if (verify_ttp_sig(d, &ev, &m->f[PF_TTP_SIG], err, sizeof(err)) == -1) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: ttp_sig of the receipt: %s", what, err);
                op_end(d, op);
                return;
        }
        exchange_evidence(d, op, 1);
}

/* Step 8, as B's client checks it.  The NRO it carries must be the very
 * bytes B verified under A's key at step 5. */
static void on_delivery(struct driver *d, const struct proto_msg *m)
{
        struct bfile *f;
        struct buser *a, *b;
        char err[512], what[256];
        struct tbs_evidence ev;
        struct op *op;

        if ((op = evidence_op(d, m->user, m, 0)) == NULL)
                return;
        f = &d->files[op->file];
        a = &d->users[f->uploader];
        b = &d->users[op->user];
        op_what(d, op, what, sizeof(what));
        if (!same(&m->f[PF_UPLOADER], a->name) ||
            !same(&m->f[PF_SHA256], f->sha256) ||
            m->f[PF_SIZE].num != f->size || !same(&m->f[PF_NRO], f->nro_b64) ||
            !same(&m->f[PF_UPLOAD_NONCE], f->upload_nonce_b64) ||
            !m->f[PF_OBJECT_PATH].present) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: the delivery does not repeat what was "
                              "signed",
                              what);
                op_end(d, op);
                return;
        }
        ev = (struct tbs_evidence){
            "exchange", f->file_id,    a->name,        b->name,
            f->sha256,  f->nro_sha256, op->nrr_sha256, m->f[PF_TIME].str};
        if (verify_ttp_sig(d, &ev, &m->f[PF_TTP_SIG], err, sizeof(err)) == -1) {
                count_failure(d, F_VERIFY, PROTO_OK,
                              "%s: ttp_sig of the delivery: %s", what, err);
                op_end(d, op);
                return;
        }
        exchange_evidence(d, op, 0);
}

/* ---- replies ------------------------------------------------------------ */

static struct op *op_for(struct driver *d, char kind, const char *user,
                         const struct proto_msg *m, enum op_state state)
{
        char key[DRIVER_KEY_MAX];
        struct op *op;

        snprintf(key, sizeof(key), "%c" US "%s" US "%s", kind, user,
                 m->f[PF_FILE_ID].str);
        op = bmap_get(d->ops, key);
        if (op == NULL || op->state != state) {
                if (d->st != NULL)
                        d->st->stray++;
                return NULL;
        }
        return op;
}

static void on_error(struct driver *d, const struct proto_msg *m)
{
        const char *code = m->f[PF_CODE].str, *irt = m->f[PF_IN_REPLY_TO].str;
        char key[IDS_MSG_ID_LEN + 4], what[256] = "unknown request";
        enum proto_code c = PROTO_INTERNAL;
        struct op *op;

        for (int i = 1; i < PROTO_CODE_COUNT; i++)
                if (strcmp(proto_code_name((enum proto_code)i), code) == 0)
                        c = (enum proto_code)i;
        snprintf(key, sizeof(key), "m" US "%s", irt);
        if ((op = bmap_get(d->ops, key)) != NULL)
                op_what(d, op, what, sizeof(what));
        count_failure(d, F_TTP, c, "%s (msg_id %s) to %s: error %s: %s", what,
                      irt, m->user, code,
                      m->f[PF_MESSAGE].present ? m->f[PF_MESSAGE].str : "");
        if (op != NULL)
                op_end(d, op);
}

static void on_reply(struct driver *d, const rd_kafka_message_t *km)
{
        enum proto_code code;
        char err[512];
        struct proto_msg m;
        struct op *op;

        if (km->err) {
                if (km->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        count_failure(d, F_TRANSPORT, PROTO_OK,
                                      "consume [%d]: %s", km->partition,
                                      rd_kafka_message_errstr(km));
                return;
        }
        if (proto_decode(km->payload, km->len, &m, &code, err, sizeof(err)) ==
            -1) {
                if (m.attributable && bmap_get(d->by_name, m.user) != NULL)
                        count_failure(d, F_TRANSPORT, PROTO_OK,
                                      "a reply to %s does not decode: %s",
                                      m.user, err);
                else if (d->st != NULL)
                        d->st->foreign++;
                proto_msg_fini(&m);
                return;
        }
        if (bmap_get(d->by_name, m.user) == NULL) {
                if (d->st != NULL)
                        d->st->foreign++;
                goto done;
        }
        if (km->partition != kafka_reply_partition(m.user, d->nparts)) {
                count_failure(d, F_TRANSPORT, PROTO_OK,
                              "%s to %s arrived on partition %d, not %d",
                              proto_type_name(m.type), m.user, km->partition,
                              kafka_reply_partition(m.user, d->nparts));
                goto done;
        }
        switch (m.type) {
        case PROTO_REGISTER_RESULT:
                on_register_result(d, &m);
                break;
        case PROTO_UPLOAD_CHALLENGE:
                if ((op = op_for(d, 'u', m.user, &m, OP_WAIT_CHALLENGE)))
                        on_upload_challenge(d, op, &m);
                break;
        case PROTO_UPLOAD_RESULT:
                if ((op = op_for(d, 'u', m.user, &m, OP_WAIT_RESULT)))
                        on_upload_result(d, op, &m);
                break;
        case PROTO_DOWNLOAD_CHALLENGE:
                if ((op = op_for(d, 'x', m.user, &m, OP_WAIT_CHALLENGE)))
                        on_download_challenge(d, op, &m);
                break;
        case PROTO_RECEIPT:
                on_receipt(d, &m);
                break;
        case PROTO_DELIVERY:
                on_delivery(d, &m);
                break;
        case PROTO_ERROR:
                on_error(d, &m);
                break;
        default:
                count_failure(d, F_TRANSPORT, PROTO_OK, "unexpected %s to %s",
                              proto_type_name(m.type), m.user);
                break;
        }
done:
        proto_msg_fini(&m);
}

static void on_delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *m,
                               void *opaque)
{
        struct driver *d = opaque;

        (void)rk;
        if (m->err && d != NULL) {
                d->produce_failed++;
                count_failure(d, F_TRANSPORT, PROTO_OK,
                              "a request was not delivered: %s",
                              rd_kafka_err2str(m->err));
        }
}

/* ---- the measured window ------------------------------------------------ */

static void window_complete(struct driver *d, struct op *op, uint64_t now)
{
        struct step_stats *st = d->st;
        uint64_t a;

        if (st == NULL || !d->in_window)
                return;
        st->completed++;
        if (op->kind == OP_UPLOAD) {
                a = now - op->t_start;
                st->bytes += op->up.size;
        } else {
                a = op->t_delivery - op->t_start;
                hist_record(&st->lat_b, op->t_receipt - op->t_start);
        }
        hist_record(&st->lat_a, a);
        hist_record(&d->sec_hist, a);
        d->sec_completed++;
}

/* The memory of `n` processes (a group of daemons: summed). */
static void sample_mem(const pid_t *pids, size_t n, struct proc_sample *p,
                       int first)
{
        char err[256];
        long rss = 0, hwm = 0;

        for (size_t i = 0; i < n; i++) {
                long r, h;

                if (pids[i] <= 0 ||
                    procstat_mem(pids[i], &r, &h, err, sizeof(err)) == -1)
                        return;
                rss += r;
                hwm += h;
        }
        if (n == 0)
                return;
        if (first)
                p->rss_start_kb = rss;
        p->rss_end_kb = rss;
        if (rss > p->rss_max_kb)
                p->rss_max_kb = rss;
        p->hwm_kb = hwm;
}

/*
 * CPU seconds and main-thread waits of `n` processes, summed (the TTP
 * daemons of one group: the TTP's cost is all of theirs).  -1 if one
 * cannot be read (logged).
 */
static int sample_cpu(const pid_t *pids, size_t n, double *cpu,
                      long long *waits)
{
        char err[256];

        *cpu = 0;
        *waits = 0;
        for (size_t i = 0; i < n; i++) {
                double c;
                long long w;

                if (procstat_cpu(pids[i], &c, err, sizeof(err)) == -1) {
                        log_warnx("%s", err);
                        return -1;
                }
                if (procstat_waits(pids[i], &w, err, sizeof(err)) == -1)
                        w = 0;
                *cpu += c;
                *waits += w;
        }
        return 0;
}

/* At the window's start (`end` 0) and end: CPU and memory. */
static void sample_procs(struct driver *d, int end)
{
        const pid_t *pids[3] = {d->conf.ttpd_pids, &d->conf.db_pid,
                                &d->conf.broker_pid};
        const size_t npids[3] = {d->conf.nttpd, d->conf.db_pid > 0,
                                 d->conf.broker_pid > 0};
        struct proc_sample *ps[3] = {&d->st->ttpd, &d->st->db, &d->st->broker};
        long long waits;
        double cpu;

        for (int i = 0; i < 3; i++) {
                if (npids[i] == 0)
                        continue;
                if (sample_cpu(pids[i], npids[i], &cpu, &waits) == -1) {
                        ps[i]->valid = 0;
                        continue;
                }
                if (!end) {
                        ps[i]->valid = 1;
                        ps[i]->cpu_s = -cpu;
                        ps[i]->waits = -waits;
                } else {
                        ps[i]->cpu_s += cpu;
                        ps[i]->waits += waits;
                }
                sample_mem(pids[i], npids[i], ps[i], !end);
        }
        if (!end)
                d->st->bench_cpu_s = -procstat_self_cpu();
        else
                d->st->bench_cpu_s += procstat_self_cpu();
}

static int push_second(struct driver *d, double t)
{
        struct step_stats *st = d->st;
        struct step_second *n;

        n = realloc(st->seconds, (st->nseconds + 1) * sizeof(*n));
        if (n == NULL)
                return -1;
        st->seconds = n;
        n[st->nseconds++] = (struct step_second){
            t, d->sec_completed, hist_quantile(&d->sec_hist, 0.5),
            hist_quantile(&d->sec_hist, 0.99)};
        hist_reset(&d->sec_hist);
        d->sec_completed = 0;
        return 0;
}

/* Start the on_window command for the window that begins now. */
static void hook_start(struct driver *d, double window_s)
{
        char step[16], secs[32];
        pid_t pid;

        if (d->conf.on_window == NULL)
                return;
        snprintf(step, sizeof(step), "%u", d->step);
        snprintf(secs, sizeof(secs), "%.0f", window_s < 1 ? 1 : window_s);
        if ((pid = fork()) == -1) {
                log_warn("on-window: fork");
                return;
        }
        if (pid == 0) {
                setenv("TDS_BENCH_STEP", step, 1);
                setenv("TDS_BENCH_WINDOW_S", secs, 1);
                execl("/bin/sh", "sh", "-c", d->conf.on_window, (char *)NULL);
                _exit(127);
        }
        d->hook_pid = pid;
}

/* Wait for the on_window command (a profiler writing its data). */
static void hook_wait(struct driver *d)
{
        int status;

        if (d->hook_pid <= 0)
                return;
        while (waitpid(d->hook_pid, &status, 0) == -1 && errno == EINTR)
                ;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                log_warnx("on-window command exited with status %d",
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        d->hook_pid = 0;
}

/* ---- the loop ----------------------------------------------------------- */

struct load {
        enum phase phase;
        const struct step_conf *sc;
        unsigned total; /* setup: operations to run */
        unsigned next;  /* setup: next one to start */
        uint64_t w0, w1, stop_at;
        double next_due; /* open loop, us */
        int stopping;
};

/* Start what the load model allows now. */
static void load_start(struct driver *d, struct load *l, uint64_t now)
{
        const struct step_conf *sc = l->sc;
        unsigned limit;
        int rc;

        if (l->phase != PH_STEP) {
                limit = d->conf.setup_concurrency;
                while (d->inflight < limit && l->next < l->total) {
                        if (l->phase == PH_REGISTER)
                                rc = start_register(d, l->next);
                        else
                                rc = start_upload(d, l->next % d->conf.users, 1,
                                                  l->next, 0);
                        l->next++;
                        if (rc == -1)
                                break;
                }
                if (l->next >= l->total)
                        l->stopping = 1;
                return;
        }
        if (sc->mode == DRIVER_CLOSED) {
                while (d->inflight < sc->concurrency) {
                        rc = sc->scenario == DRIVER_EXCHANGE
                                 ? start_exchange(d, 0)
                                 : start_upload(
                                       d,
                                       (unsigned)(rng_next(d) % d->conf.users),
                                       0, 0, 0);
                        if (rc != 0)
                                break;
                        if (d->in_window)
                                d->st->started++;
                }
                return;
        }
        while (l->next_due <= (double)now) {
                uint64_t due = (uint64_t)l->next_due;

                l->next_due += 1e6 / sc->rate;
                if (d->inflight >= sc->max_inflight) {
                        if (d->in_window)
                                d->st->shed++;
                        continue;
                }
                if (now - due > 1000 && d->in_window)
                        d->st->late_starts++;
                rc = sc->scenario == DRIVER_EXCHANGE
                         ? start_exchange(d, due)
                         : start_upload(d,
                                        (unsigned)(rng_next(d) % d->conf.users),
                                        0, 0, due);
                if (rc == 0 && d->in_window)
                        d->st->started++;
        }
}

static int load_run(struct driver *d, struct load *l, char *err, size_t errlen)
{
        uint64_t tmo = (uint64_t)(d->conf.timeout * 1e6), now, next_mem = 0;
        int32_t nmsgs;

        for (;;) {
                now = now_us();
                if (l->phase == PH_STEP) {
                        if (!d->in_window && !l->stopping && now >= l->w0) {
                                d->in_window = 1;
                                l->w0 = now;
                                d->sec_start = now;
                                sample_procs(d, 0);
                                hook_start(d, l->sc->duration);
                        }
                        if (d->in_window && (now >= l->w1 || driver_stop)) {
                                d->in_window = 0;
                                d->st->window_s = (double)(now - l->w0) / 1e6;
                                sample_procs(d, 1);
                                l->stopping = 1;
                                l->stop_at = now;
                        }
                        if (d->in_window && now >= d->sec_start + 1000000) {
                                d->sec_start += 1000000;
                                if (push_second(d,
                                                (double)(d->sec_start - l->w0) /
                                                    1e6) == -1) {
                                        snprintf(err, errlen, "out of memory");
                                        return -1;
                                }
                        }
                        if (d->in_window && now >= next_mem) {
                                sample_mem(d->conf.ttpd_pids, d->conf.nttpd,
                                           &d->st->ttpd, 0);
                                sample_mem(&d->conf.db_pid, 1, &d->st->db, 0);
                                sample_mem(&d->conf.broker_pid, 1,
                                           &d->st->broker, 0);
                                next_mem = now + 1000000;
                        }
                        if (!l->stopping && driver_stop) {
                                l->stopping = 1;
                                l->stop_at = now;
                        }
                }
                if (!l->stopping)
                        load_start(d, l, now);
                if (l->stopping && d->inflight == 0)
                        break;
                while (d->head != NULL && now > d->head->t_sent &&
                       now - d->head->t_sent > tmo) {
                        char what[256];

                        count_failure(d, F_TIMEOUT, PROTO_OK,
                                      "%s: no answer within %.0f s (state %d)",
                                      op_what(d, d->head, what, sizeof(what)),
                                      d->conf.timeout, (int)d->head->state);
                        op_end(d, d->head);
                }
                if (l->phase != PH_STEP && driver_stop) {
                        snprintf(err, errlen, "setup interrupted");
                        return -1;
                }
                if (l->phase != PH_STEP && d->err->total > 0) {
                        snprintf(err, errlen, "setup failed: %s", d->err->last);
                        return -1;
                }
                {
                        int ms = DRIVER_POLL_MS;
                        rd_kafka_message_t *km;

                        if (l->phase == PH_STEP && !l->stopping &&
                            l->sc->mode == DRIVER_OPEN) {
                                double wait =
                                    (l->next_due - (double)now_us()) / 1000.0;
                                ms = wait < 0 ? 0 : wait > ms ? ms : (int)wait;
                        }
                        nmsgs = 0;
                        while (nmsgs < DRIVER_POLL_BATCH &&
                               (km = rd_kafka_consumer_poll(
                                    d->consumer, nmsgs == 0 ? ms : 0)) !=
                                   NULL) {
                                on_reply(d, km);
                                rd_kafka_message_destroy(km);
                                nmsgs++;
                        }
                }
                rd_kafka_poll(d->producer, 0);
        }
        return 0;
}

/* ---- setup and steps ---------------------------------------------------- */

int driver_setup(struct driver *d, struct setup_stats *out, char *err,
                 size_t errlen)
{
        struct load l;
        uint64_t t0 = now_us(), t1;

        memset(out, 0, sizeof(*out));
        d->err = &out->err;
        d->st = NULL;
        memset(&l, 0, sizeof(l));
        l.phase = PH_REGISTER;
        l.total = d->conf.users;
        d->setup_done = 0;
        if (load_run(d, &l, err, errlen) == -1)
                return -1;
        out->registered = d->setup_done;
        if (out->registered != d->conf.users) {
                snprintf(err, errlen, "setup: %u of %u users registered",
                         out->registered, d->conf.users);
                return -1;
        }
        t1 = now_us();
        memset(&l, 0, sizeof(l));
        l.phase = PH_UPLOAD;
        l.total = d->conf.files;
        d->setup_done = 0;
        if (load_run(d, &l, err, errlen) == -1)
                return -1;
        out->uploaded = d->setup_done;
        out->seconds = (double)(now_us() - t0) / 1e6;
        if (out->uploaded > 0)
                out->uploads_per_s =
                    out->uploaded / ((double)(now_us() - t1) / 1e6);
        if (out->uploaded != d->conf.files) {
                snprintf(err, errlen, "setup: %u of %u files uploaded",
                         out->uploaded, d->conf.files);
                return -1;
        }
        return 0;
}

int driver_step(struct driver *d, const struct step_conf *conf,
                struct step_stats *out, char *err, size_t errlen)
{
        struct load l;
        uint64_t now = now_us();
        int rc;

        memset(out, 0, sizeof(*out));
        out->conf = *conf;
        hist_reset(&out->lat_a);
        hist_reset(&out->lat_b);
        hist_reset(&d->sec_hist);
        d->sec_completed = 0;
        d->err = &out->err;
        d->st = out;
        d->in_window = 0;
        if (conf->scenario == DRIVER_EXCHANGE && d->nfiles_ready == 0) {
                snprintf(err, errlen, "no files to download");
                return -1;
        }
        memset(&l, 0, sizeof(l));
        l.phase = PH_STEP;
        l.sc = conf;
        l.w0 = now + (uint64_t)(conf->warmup * 1e6);
        l.w1 = l.w0 + (uint64_t)(conf->duration * 1e6);
        l.next_due = (double)now;
        d->step++;
        rc = load_run(d, &l, err, errlen);
        hook_wait(d);
        if (rc == -1) {
                d->st = NULL;
                return -1;
        }
        if (out->window_s <= 0) {
                /* Interrupted during the warmup. */
                out->window_s = 0;
        }
        d->st = NULL;
        return 0;
}

void driver_step_fini(struct step_stats *s)
{
        free(s->seconds);
        s->seconds = NULL;
        s->nseconds = 0;
}

/* ---- construction ------------------------------------------------------- */

static rd_kafka_t *kafka_client(struct driver *d, rd_kafka_type_t type,
                                char *err, size_t errlen)
{
        char group[64], tmo[32], errstr[512];
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        rd_kafka_t *rk;

        snprintf(group, sizeof(group), "tds-bench-%s", d->run_id);
        snprintf(tmo, sizeof(tmo), "%d", (int)(d->conf.timeout * 1000));
        kafka_conf_log_to_tds(kc);
        if (kafka_conf_set(kc, "bootstrap.servers", d->conf.bootstrap, err,
                           errlen) == -1 ||
            kafka_conf_set(kc, "client.id", group, err, errlen) == -1)
                goto fail;
        if (type == RD_KAFKA_PRODUCER) {
                rd_kafka_conf_set_dr_msg_cb(kc, on_delivery_report);
                rd_kafka_conf_set_opaque(kc, d);
                if (kafka_conf_set(kc, "enable.idempotence", "true", err,
                                   errlen) == -1 ||
                    kafka_conf_set(kc, "partitioner", "murmur2_random", err,
                                   errlen) == -1 ||
                    kafka_conf_set(kc, "linger.ms", "1", err, errlen) == -1 ||
                    kafka_conf_set(kc, "message.timeout.ms", tmo, err,
                                   errlen) == -1)
                        goto fail;
        } else {
                if (kafka_conf_set(kc, "group.id", group, err, errlen) == -1 ||
                    kafka_conf_set(kc, "enable.auto.commit", "false", err,
                                   errlen) == -1 ||
                    kafka_conf_set(kc, "enable.auto.offset.store", "false", err,
                                   errlen) == -1 ||
                    kafka_conf_set(kc, "auto.offset.reset", "error", err,
                                   errlen) == -1 ||
                    kafka_conf_set(kc, "fetch.wait.max.ms", "1", err, errlen) ==
                        -1)
                        goto fail;
        }
        for (size_t i = 0; i < d->conf.nprops; i++) {
                char prop[512], *eq;
                const char *p = d->conf.props[i];

                snprintf(prop, sizeof(prop), "%s", p);
                if ((eq = strchr(prop, '=')) == NULL) {
                        snprintf(err, errlen, "-X %s: expected key=value", p);
                        goto fail;
                }
                *eq = '\0';
                /* Producer-only or consumer-only keys: the other ignores. */
                if (rd_kafka_conf_set(kc, prop, eq + 1, errstr,
                                      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
                        snprintf(err, errlen, "-X %s: %s", p, errstr);
                        goto fail;
                }
        }
        if ((rk = rd_kafka_new(type, kc, errstr, sizeof(errstr))) == NULL) {
                snprintf(err, errlen, "rd_kafka_new: %s", errstr);
                goto fail;
        }
        return rk;
fail:
        rd_kafka_conf_destroy(kc);
        return NULL;
}

/* Every partition of the reply topic, from its current end. */
static int assign_replies(struct driver *d, char *err, size_t errlen)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_topic_t *rkt = NULL;
        rd_kafka_resp_err_t kerr;
        int ret = -1;

        rkt = rd_kafka_topic_new(d->consumer, d->topics.replies, NULL);
        if (rkt == NULL ||
            (kerr = rd_kafka_metadata(d->consumer, 0, rkt, &md, 10000)) !=
                RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(err, errlen, "metadata of %s: %s", d->topics.replies,
                         rkt ? rd_kafka_err2str(kerr) : "no topic handle");
                md = NULL;
                goto done;
        }
        if (md->topic_cnt != 1 || md->topics[0].err ||
            md->topics[0].partition_cnt < 1) {
                snprintf(err, errlen, "%s: no partitions (is the broker up?)",
                         d->topics.replies);
                goto done;
        }
        d->nparts = md->topics[0].partition_cnt;
        parts = rd_kafka_topic_partition_list_new(d->nparts);
        for (int32_t p = 0; p < d->nparts; p++) {
                int64_t lo, hi;

                kerr = rd_kafka_query_watermark_offsets(
                    d->consumer, d->topics.replies, p, &lo, &hi, 10000);
                if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                        snprintf(err, errlen, "watermarks of %s [%d]: %s",
                                 d->topics.replies, p, rd_kafka_err2str(kerr));
                        goto done;
                }
                rd_kafka_topic_partition_list_add(parts, d->topics.replies, p)
                    ->offset = hi;
        }
        if ((kerr = rd_kafka_assign(d->consumer, parts)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
                snprintf(err, errlen, "assign: %s", rd_kafka_err2str(kerr));
                goto done;
        }
        ret = 0;
done:
        if (parts != NULL)
                rd_kafka_topic_partition_list_destroy(parts);
        if (md != NULL)
                rd_kafka_metadata_destroy(md);
        if (rkt != NULL)
                rd_kafka_topic_destroy(rkt);
        return ret;
}

/* The TTP's public key from its SPKI PEM file. */
static int load_ttp_key(struct driver *d, char *err, size_t errlen)
{
        char *text = NULL, *b64 = NULL, *line, *save = NULL, why[512] = "";
        unsigned char *der = NULL;
        size_t n = 0, derlen;
        long len;
        FILE *f = NULL;
        int ret = -1;

        if ((f = fopen(d->conf.ttp_key_path, "r")) == NULL) {
                snprintf(why, sizeof(why), "%s", strerror(errno));
                goto done;
        }
        if (fseek(f, 0, SEEK_END) == -1 || (len = ftell(f)) < 0 ||
            len > 16384 || fseek(f, 0, SEEK_SET) == -1 ||
            (text = calloc(1, (size_t)len + 1)) == NULL ||
            (b64 = calloc(1, (size_t)len + 1)) == NULL ||
            fread(text, 1, (size_t)len, f) != (size_t)len) {
                snprintf(why, sizeof(why), "cannot read it");
                goto done;
        }
        for (line = strtok_r(text, "\r\n", &save); line != NULL;
             line = strtok_r(NULL, "\r\n", &save)) {
                if (strncmp(line, "-----", 5) == 0)
                        continue;
                memcpy(b64 + n, line, strlen(line));
                n += strlen(line);
        }
        if (base64_decode(b64, n, &der, &derlen, why, sizeof(why)) == -1 ||
            crypto_pubkey_from_der(der, derlen, &d->ttp_key, why,
                                   sizeof(why)) == -1)
                goto done;
        ret = 0;
done:
        if (ret == -1)
                snprintf(err, errlen, "TTP public key %s: %s",
                         d->conf.ttp_key_path, why);
        if (f != NULL)
                fclose(f);
        free(der);
        free(b64);
        free(text);
        return ret;
}

static int make_users(struct driver *d, char *err, size_t errlen)
{
        d->users = calloc(d->conf.users, sizeof(*d->users));
        if (d->users == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        for (unsigned i = 0; i < d->conf.users; i++) {
                struct buser *u = &d->users[i];
                unsigned char *spki = NULL;
                size_t spki_len;

                snprintf(u->name, sizeof(u->name), "bench-%s-%u", d->run_id, i);
                if (crypto_key_generate(&u->key, err, errlen) == -1 ||
                    crypto_key_id(u->key, u->key_id, err, errlen) == -1 ||
                    crypto_pubkey_to_der(u->key, &spki, &spki_len, err,
                                         errlen) == -1)
                        return -1;
                u->spki_b64 = base64_encode(spki, spki_len);
                free(spki);
                if (u->spki_b64 == NULL ||
                    bmap_put(d->by_name, u->name, u) == -1) {
                        snprintf(err, errlen, "out of memory");
                        return -1;
                }
        }
        return 0;
}

struct driver *driver_new(const struct driver_conf *conf, char *err,
                          size_t errlen)
{
        struct driver *d = calloc(1, sizeof(*d));
        unsigned char id[4];

        if (d == NULL) {
                snprintf(err, errlen, "out of memory");
                return NULL;
        }
        d->conf = *conf;
        if (conf->users < 2) {
                snprintf(err, errlen, "at least 2 users are needed");
                goto fail;
        }
        if (crypto_random(id, sizeof(id), err, errlen) == -1 ||
            crypto_random(&d->rng, sizeof(d->rng), err, errlen) == -1)
                goto fail;
        d->rng |= 1;
        hex_encode(id, sizeof(id), d->run_id, sizeof(d->run_id));
        if (kafka_topics_init(&d->topics, conf->prefix, err, errlen) == -1)
                goto fail;
        d->ops = bmap_new();
        d->by_name = bmap_new();
        d->files = calloc(conf->files ? conf->files : 1, sizeof(*d->files));
        d->pattern = malloc(DRIVER_CHUNK);
        d->scratch = malloc(DRIVER_CHUNK);
        if (d->ops == NULL || d->by_name == NULL || d->files == NULL ||
            d->pattern == NULL || d->scratch == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
        }
        if (crypto_random(d->pattern, DRIVER_CHUNK, err, errlen) == -1 ||
            load_ttp_key(d, err, errlen) == -1 ||
            make_users(d, err, errlen) == -1)
                goto fail;
        if ((d->producer = kafka_client(d, RD_KAFKA_PRODUCER, err, errlen)) ==
                NULL ||
            (d->consumer = kafka_client(d, RD_KAFKA_CONSUMER, err, errlen)) ==
                NULL ||
            assign_replies(d, err, errlen) == -1)
                goto fail;
        return d;
fail:
        driver_free(d);
        return NULL;
}

int driver_reply_partitions(const struct driver *d)
{
        return d->nparts;
}

void driver_free(struct driver *d)
{
        if (d == NULL)
                return;
        while (d->head != NULL)
                op_end(d, d->head);
        if (d->consumer != NULL) {
                rd_kafka_consumer_close(d->consumer);
                rd_kafka_destroy(d->consumer);
        }
        if (d->producer != NULL) {
                rd_kafka_flush(d->producer, 5000);
                rd_kafka_destroy(d->producer);
        }
        if (d->users != NULL)
                for (unsigned i = 0; i < d->conf.users; i++) {
                        crypto_key_free(d->users[i].key);
                        free(d->users[i].spki_b64);
                }
        if (d->files != NULL)
                for (unsigned i = 0; i < d->conf.files; i++)
                        bfile_fini(&d->files[i]);
        free(d->users);
        free(d->files);
        free(d->pattern);
        free(d->scratch);
        bmap_free(d->ops);
        bmap_free(d->by_name);
        crypto_key_free(d->ttp_key);
        free(d);
}

/*
 * checks: the campaign's invariants, once the system has drained.
 *
 * From the database (read as administrator) and from what every party
 * received, after dropping duplicate msg_ids:
 *   - for every exchange, A got a receipt if and only if B got a
 *     delivery, each exactly once, and they agree (same nonce, time and
 *     TTP signature, which verifies over the exchange evidence);
 *   - nothing was delivered for an exchange the database does not hold
 *     as completed (a downloads_completed row, the upload not deleted);
 *   - no nonce was accepted twice: every consumed nonce is in used_nonces
 *     once, no pending nonce is spent, no nonce serves two purposes, no
 *     two deliveries or uploads share one;
 *   - every request the broker acknowledged has a durable outcome: its
 *     msg_id is a processed message of its sender with a reply in the
 *     outbox, and the party got exactly one answer, of the right type;
 *   - objects still match their hashes (size, SHA-256, read-only), and
 *     what B was delivered is what A uploaded;
 *   - only legal states and transitions: abort outcomes agree with what
 *     happened before them (1 before the commit, 2 with no completed
 *     download, 3 after one), a pending download is cancelled when its
 *     file is aborted, and only then, an aborted file gets no delivery,
 *     and the only errors are the file_aborted of a lost race;
 *   - the outbox drained: every row is marked sent;
 *   - and at the source: the outbox holds exactly one receipt and one
 *     delivery per completed download.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "campaign.h"
#include "cdb.h"
#include "hex.h"
#include "tbs.h"

#define HEX_NONCE 65 /* 32 bytes as hex, NUL */
#define HEX_ID    33 /* 16 bytes */

/* --- sorted string sets ----------------------------------------------------
 */

struct sset {
        char **v;
        size_t n, cap;
        int sorted;
};

static void sset_add(struct sset *s, const char *str)
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? s->cap * 2 : 256;
                char **v = realloc(s->v, cap * sizeof(*v));
                if (v == NULL)
                        campaign_fatal("out of memory");
                s->v = v;
                s->cap = cap;
        }
        if ((s->v[s->n++] = strdup(str)) == NULL)
                campaign_fatal("out of memory");
        s->sorted = 0;
}

static int sset_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

static int sset_has(struct sset *s, const char *str)
{
        if (s->n == 0) /* qsort and bsearch want a base even for nothing */
                return 0;
        if (!s->sorted) {
                qsort(s->v, s->n, sizeof(*s->v), sset_cmp);
                s->sorted = 1;
        }
        return str != NULL &&
               bsearch(&str, s->v, s->n, sizeof(*s->v), sset_cmp) != NULL;
}

/* Strings present more than once (sorted first); calls `dup` for each. */
static void sset_dups(struct sset *s, void (*dup)(void *arg, const char *str),
                      void *arg)
{
        sset_has(s, "");
        for (size_t i = 1; i < s->n; i++)
                if (strcmp(s->v[i], s->v[i - 1]) == 0)
                        dup(arg, s->v[i]);
}

static void sset_free(struct sset *s)
{
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        memset(s, 0, sizeof(*s));
}

/* --- what the database holds -----------------------------------------------
 */

/* Per exchange, from the tables. */
struct xdb {
        int ongoing;
        int completed;
        int completed_aborted;
        char object_path[256];
        long long size;
        char sha256[65], upload_nonce[HEX_NONCE], nro_sha256[65];
        double aborted_at; /* uploads_completed.aborted_at */
        int abort_outcome; /* aborts row, 0 if none */
        int dl_ongoing;
        int dl_completed;
        char dl_nonce[HEX_NONCE], dl_downloader[IDS_USER_MAX + 1];
        double dl_completed_at;
        int ob_receipt, ob_delivery; /* outbox rows, any nonce */
};

struct db_state {
        struct campaign *c;
        struct xdb *x; /* c->nx of them */
        struct sset used, up_nonces, dl_nonces, pending_nonces;
        struct sset processed;   /* "msg_id user" */
        struct sset answered;    /* request msg_ids with an outbox row */
        struct sset ob_exchange; /* "receipt|delivery nonce recipient" */
        struct sset objects;     /* object paths of completed uploads */
        struct sset reserved;    /* object paths of ongoing uploads */
        long unsent;
        long foreign; /* rows of files no exchange of this run made */
};

/* The exchange of a file id of this run, or NULL. */
static struct exchange *xof(struct campaign *c, const char *file_id)
{
        size_t taglen = strlen(c->tag);
        char *end;
        long id;

        if (file_id == NULL || strncmp(file_id, c->tag, taglen) != 0 ||
            file_id[taglen] != '-')
                return NULL;
        errno = 0;
        id = strtol(file_id + taglen + 1, &end, 10);
        if (errno != 0 || *end != '\0' || id < 0 || (size_t)id >= c->nx ||
            strcmp(c->x[id]->file_id, file_id) != 0)
                return NULL;
        return c->x[id];
}

static struct xdb *xdb_of(struct db_state *st, const char *file_id)
{
        struct exchange *x = xof(st->c, file_id);

        if (x == NULL) {
                st->foreign++;
                return NULL;
        }
        return &st->x[x->id];
}

static const char *col(char **cols, unsigned ncols, unsigned i)
{
        return i < ncols && cols[i] != NULL ? cols[i] : "";
}

static int row_ongoing(void *arg, char **cols, unsigned long *lens,
                       unsigned ncols)
{
        struct db_state *st = arg;
        struct xdb *d = xdb_of(st, col(cols, ncols, 0));

        (void)lens;
        sset_add(&st->pending_nonces, col(cols, ncols, 1));
        sset_add(&st->reserved, col(cols, ncols, 2));
        if (d != NULL)
                d->ongoing++;
        return 0;
}

static int row_completed(void *arg, char **cols, unsigned long *lens,
                         unsigned ncols)
{
        struct db_state *st = arg;
        struct xdb *d = xdb_of(st, col(cols, ncols, 0));

        (void)lens;
        sset_add(&st->up_nonces, col(cols, ncols, 4));
        sset_add(&st->objects, col(cols, ncols, 5));
        if (d == NULL)
                return 0;
        d->completed++;
        d->size = atoll(col(cols, ncols, 2));
        snprintf(d->sha256, sizeof(d->sha256), "%s", col(cols, ncols, 3));
        snprintf(d->upload_nonce, sizeof(d->upload_nonce), "%s",
                 col(cols, ncols, 4));
        snprintf(d->object_path, sizeof(d->object_path), "%s",
                 col(cols, ncols, 5));
        d->completed_aborted = cols[6] != NULL;
        d->aborted_at = cols[6] != NULL ? atof(cols[6]) : 0;
        snprintf(d->nro_sha256, sizeof(d->nro_sha256), "%s",
                 col(cols, ncols, 7));
        return 0;
}

static int row_dl_ongoing(void *arg, char **cols, unsigned long *lens,
                          unsigned ncols)
{
        struct db_state *st = arg;
        struct xdb *d = xdb_of(st, col(cols, ncols, 1));

        (void)lens;
        sset_add(&st->pending_nonces, col(cols, ncols, 0));
        if (d != NULL)
                d->dl_ongoing++;
        return 0;
}

static int row_dl_completed(void *arg, char **cols, unsigned long *lens,
                            unsigned ncols)
{
        struct db_state *st = arg;
        struct xdb *d = xdb_of(st, col(cols, ncols, 1));

        (void)lens;
        sset_add(&st->dl_nonces, col(cols, ncols, 0));
        if (d == NULL)
                return 0;
        d->dl_completed++;
        snprintf(d->dl_nonce, sizeof(d->dl_nonce), "%s", col(cols, ncols, 0));
        snprintf(d->dl_downloader, sizeof(d->dl_downloader), "%s",
                 col(cols, ncols, 2));
        d->dl_completed_at = atof(col(cols, ncols, 3));
        return 0;
}

static int row_used(void *arg, char **cols, unsigned long *lens, unsigned ncols)
{
        struct db_state *st = arg;

        (void)lens;
        sset_add(&st->used, col(cols, ncols, 0));
        return 0;
}

static int row_abort(void *arg, char **cols, unsigned long *lens,
                     unsigned ncols)
{
        struct db_state *st = arg;
        struct xdb *d = xdb_of(st, col(cols, ncols, 0));

        (void)lens;
        if (d != NULL)
                d->abort_outcome = atoi(col(cols, ncols, 1));
        return 0;
}

static int row_processed(void *arg, char **cols, unsigned long *lens,
                         unsigned ncols)
{
        struct db_state *st = arg;
        char key[HEX_ID + IDS_USER_MAX + 2];

        (void)lens;
        snprintf(key, sizeof(key), "%s %s", col(cols, ncols, 0),
                 col(cols, ncols, 1));
        sset_add(&st->processed, key);
        return 0;
}

/* Base64 text to lowercase hex (nonces): "" if it is not base64. */
static void b64_to_hex(const char *b64, char *hex, size_t hexlen)
{
        unsigned char *bin = NULL;
        size_t len = 0;

        hex[0] = '\0';
        if (b64 != NULL &&
            base64_decode(b64, strlen(b64), &bin, &len, NULL, 0) == 0 &&
            len * 2 + 1 <= hexlen)
                hex_encode(bin, len, hex, hexlen);
        free(bin);
}

static int row_outbox(void *arg, char **cols, unsigned long *lens,
                      unsigned ncols)
{
        struct db_state *st = arg;
        const char *type, *file_id;
        char key[HEX_NONCE + 128], nonce[HEX_NONCE];
        json_t *env, *body;
        struct xdb *d;

        if (cols[1] != NULL)
                sset_add(&st->answered, cols[1]);
        if (col(cols, ncols, 2)[0] == '1')
                st->unsent++;
        if (ncols < 4 || cols[3] == NULL ||
            (env = json_loadb(cols[3], lens[3], 0, NULL)) == NULL)
                return 0; /* dead letters and the like: not ours */
        type = json_string_value(json_object_get(env, "type"));
        body = json_object_get(env, "body");
        file_id = json_string_value(json_object_get(body, "file_id"));
        if (type != NULL &&
            (strcmp(type, "receipt") == 0 || strcmp(type, "delivery") == 0)) {
                b64_to_hex(json_string_value(json_object_get(body, "nonce")),
                           nonce, sizeof(nonce));
                snprintf(key, sizeof(key), "%s %s %s", type, nonce,
                         json_string_value(json_object_get(env, "user")));
                sset_add(&st->ob_exchange, key);
                if ((d = xdb_of(st, file_id)) != NULL) {
                        if (type[0] == 'r')
                                d->ob_receipt++;
                        else
                                d->ob_delivery++;
                }
        }
        json_decref(env);
        return 0;
}

static int db_load(struct db_state *st, char *err, size_t errlen)
{
        static const struct {
                const char *sql;
                int (*row)(void *, char **, unsigned long *, unsigned);
        } q[] = {
            {"SELECT file_id, LOWER(HEX(nonce)), object_path "
             "FROM uploads_ongoing",
             row_ongoing},
            {"SELECT file_id, uploader, size, LOWER(HEX(sha256)), "
             "LOWER(HEX(upload_nonce)), object_path, "
             "UNIX_TIMESTAMP(aborted_at), LOWER(HEX(nro_sha256)) "
             "FROM uploads_completed",
             row_completed},
            {"SELECT LOWER(HEX(nonce)), file_id, downloader "
             "FROM downloads_ongoing",
             row_dl_ongoing},
            {"SELECT LOWER(HEX(nonce)), file_id, downloader, "
             "UNIX_TIMESTAMP(completed_at) FROM downloads_completed",
             row_dl_completed},
            {"SELECT LOWER(HEX(nonce)) FROM used_nonces", row_used},
            {"SELECT file_id, outcome FROM aborts", row_abort},
            {"SELECT LOWER(HEX(msg_id)), user_id FROM processed_messages",
             row_processed},
            {"SELECT LOWER(HEX(msg_id)), LOWER(HEX(request_msg_id)), "
             "sent_at IS NULL, payload FROM outbox WHERE topic = 'replies'",
             row_outbox},
        };
        struct cdb *db = cdb_open(st->c->paths.admin_cnf, err, errlen);
        int ret = -1;

        if (db == NULL)
                return -1;
        for (size_t i = 0; i < sizeof(q) / sizeof(*q); i++)
                if (cdb_query(db, q[i].sql, q[i].row, st, err, errlen) == -1)
                        goto done;
        /* Dead letters count for draining too. */
        {
                long n = cdb_long(db,
                                  "SELECT COUNT(*) FROM outbox WHERE topic "
                                  "<> 'replies' AND sent_at IS NULL",
                                  err, errlen);
                if (n < 0)
                        goto done;
                st->unsent += n;
        }
        ret = 0;
done:
        cdb_close(db);
        return ret;
}

long checks_outbox_unsent(struct campaign *c, char *err, size_t errlen)
{
        struct cdb *db = cdb_open(c->paths.admin_cnf, err, errlen);
        long n;

        if (db == NULL)
                return -1;
        n = cdb_long(db, "SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL",
                     err, errlen);
        cdb_close(db);
        return n;
}

/* --- the checks ------------------------------------------------------------
 */

#define V(x, ...) campaign_violation(c, (x), __VA_ARGS__)

static int streq(const char *a, const char *b)
{
        return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static const char *s_or(const char *s)
{
        return s != NULL ? s : "(none)";
}

/* ttp_sig over the evidence TBS verifies under the TTP's key. */
static int evidence_ok(struct campaign *c, const char *event,
                       const char *file_id, const char *uploader,
                       const char *downloader, const char *sha256,
                       const char *nro_sha256, const char *nrr_sha256,
                       const char *time, const char *ttp_sig, char *why,
                       size_t whylen)
{
        struct tbs_evidence f = {event,  file_id,    uploader,   downloader,
                                 sha256, nro_sha256, nrr_sha256, time};
        char *tbs = NULL;
        size_t len;
        int ok;

        if (time == NULL || ttp_sig == NULL) {
                snprintf(why, whylen, "no time or ttp_sig");
                return 0;
        }
        if (tbs_evidence(&f, &tbs, &len, why, whylen) == -1)
                return 0;
        ok = pc_verify_b64(c->ttp_key, tbs, len, ttp_sig, why, whylen) == 0;
        free(tbs);
        return ok;
}

/* The object at <store>/<path> holds `size` bytes hashing to `sha256`
 * and nobody may write it. */
static int object_ok(struct campaign *c, const char *path, long long size,
                     const char *sha256, char *why, size_t whylen)
{
        char full[2048], hex[65];
        unsigned char sha[32];
        struct stat stb;
        uint64_t got = 0;

        snprintf(full, sizeof(full), "%s/%s", c->paths.store, path);
        if (lstat(full, &stb) == -1) {
                snprintf(why, whylen, "%.300s: %s", full, strerror(errno));
                return 0;
        }
        if (!S_ISREG(stb.st_mode) || (stb.st_mode & 0222) != 0) {
                snprintf(why, whylen,
                         "%.300s: mode %o, expected a read-only "
                         "regular file",
                         full, (unsigned)stb.st_mode);
                return 0;
        }
        if (crypto_sha256_path(full, sha, &got, why, whylen) == -1)
                return 0;
        hex_encode(sha, 32, hex, sizeof(hex));
        if ((long long)got != size || strcmp(hex, sha256) != 0) {
                snprintf(why, whylen,
                         "%.300s holds %llu bytes hashing to %s, "
                         "expected %lld bytes hashing to %s",
                         full, (unsigned long long)got, hex, size, sha256);
                return 0;
        }
        return 1;
}

static const char *code_of(const struct req *q)
{
        return q->answer != NULL && streq(pc_str(q->answer, "type"), "error")
                   ? pc_str(pc_body(q->answer), "code")
                   : NULL;
}

/* Each request: answered exactly once, by its answer type or an error,
 * durable in the database when the broker took it. */
static void check_request(struct campaign *c, struct db_state *st,
                          struct exchange *x, struct req *q)
{
        const char *type;
        char key[HEX_ID + IDS_USER_MAX + 2];

        if (!q->sent)
                return;
        if (q->answers != 1)
                V(x, "%s %s got %d distinct answers, expected exactly one",
                  workload_req_type(q->kind), q->msg_id, q->answers);
        if (q->answer != NULL) {
                type = pc_str(q->answer, "type");
                if (!streq(type, "error") &&
                    !streq(type, workload_answer_type(q->kind)))
                        V(x, "%s %s answered by %s", workload_req_type(q->kind),
                          q->msg_id, type);
        }
        if (q->acked > 0) {
                snprintf(key, sizeof(key), "%s %s", q->msg_id, q->p->u.name);
                if (!sset_has(&st->processed, key))
                        V(x,
                          "%s %s of %s: the broker acknowledged it (%d time%s) "
                          "but it is not a processed message",
                          workload_req_type(q->kind), q->msg_id, q->p->u.name,
                          q->acked, q->acked == 1 ? "" : "s");
                if (!sset_has(&st->answered, q->msg_id))
                        V(x, "%s %s: no reply to it in the outbox",
                          workload_req_type(q->kind), q->msg_id);
        }
        /* Answered with no acknowledgement is fine: a produce whose
         * report said "timed out" may have reached the log all the same. */
}

/* The only errors a party may get: file_aborted, when its request lost a
 * race with an abort or came after one. */
static void check_errors(struct campaign *c, struct exchange *x)
{
        for (int i = 0; i < WORKLOAD_XREQS; i++) {
                struct req *q = workload_req(x, i);
                const char *code = code_of(q);
                int ok = 0;

                if (code == NULL)
                        continue;
                if (streq(code, "file_aborted"))
                        ok = (q->kind == RQ_DLREQ && x->mode != XM_PLAIN) ||
                             (q->kind == RQ_RECEIPT &&
                              (x->mode == XM_ABORT_RACE_REQUEST ||
                               x->mode == XM_ABORT_RACE_RECEIPT));
                if (!ok)
                        V(x, "%s %s got error %s: %s",
                          workload_req_type(q->kind), q->msg_id, code,
                          s_or(pc_str(pc_body(q->answer), "message")));
        }
}

static void check_exchange(struct campaign *c, struct db_state *st,
                           struct exchange *x, struct sset *seen_dl,
                           struct sset *seen_up)
{
        struct xdb *d = &st->x[x->id];
        const char *a = c->parties[x->a].u.name, *b = c->parties[x->b].u.name;
        const json_t *ur = x->commit.answer, *ar = x->abort.answer;
        const json_t *rb = pc_body(x->receipt), *db = pc_body(x->delivery);
        int verified = 0, outcome = 0, delivered = x->n_delivery > 0;
        char why[512], nonce_hex[HEX_NONCE], up_hex[HEX_NONCE];

        if (!x->done)
                V(x,
                  "did not finish: %s%s%s%s%s receipts %d, deliveries %d, "
                  "cancelled %d",
                  x->up.sent && !x->up.answer ? "upload.request unanswered, "
                                              : "",
                  x->commit.sent && !x->commit.answer
                      ? "upload.commit unanswered, "
                      : "",
                  x->abort.sent && !x->abort.answer ? "abort unanswered, " : "",
                  x->dlreq.sent && !x->dlreq.answer
                      ? "download.request unanswered, "
                      : "",
                  x->rcpt.sent && !x->rcpt.answer
                      ? "download.receipt unanswered, "
                      : "",
                  x->n_receipt, x->n_delivery, x->n_cancelled);
        for (int i = 0; i < WORKLOAD_XREQS; i++)
                check_request(c, st, x, workload_req(x, i));
        check_errors(c, x);

        /* Exactly once, after duplicates (same msg_id) were dropped. */
        {
                const struct {
                        const char *what;
                        int n;
                } once[] = {{"upload.challenge", x->n_up_challenge},
                            {"upload.result", x->n_up_result},
                            {"abort.result", x->n_abort_result},
                            {"receipt", x->n_receipt},
                            {"download.challenge", x->n_dl_challenge},
                            {"delivery", x->n_delivery},
                            {"download.cancelled", x->n_cancelled}};
                for (size_t i = 0; i < sizeof(once) / sizeof(*once); i++)
                        if (once[i].n > 1)
                                V(x,
                                  "%d distinct %s messages, at most one "
                                  "expected",
                                  once[i].n, once[i].what);
        }
        if ((x->n_receipt > 0) != (x->n_delivery > 0))
                V(x, "A got %d receipt(s) and B %d deliver%s: fairness broken",
                  x->n_receipt, x->n_delivery,
                  x->n_delivery == 1 ? "y" : "ies");

        /* The upload. */
        if (ur != NULL && streq(pc_str(ur, "type"), "upload.result")) {
                const json_t *body = pc_body(ur);
                verified = json_is_true(json_object_get(body, "verified"));
                if (!verified)
                        V(x, "upload.result verified false: %s",
                          s_or(pc_str(body, "reason")));
                else if (!streq(pc_str(body, "sha256"), x->sha256) ||
                         !evidence_ok(
                             c, "upload", x->file_id, a, NULL, x->sha256,
                             x->nro_sha256, NULL, pc_str(body, "time"),
                             pc_str(body, "ttp_sig"), why, sizeof(why)))
                        V(x,
                          "upload.result: sha256 %s or its ttp_sig is "
                          "wrong (%s)",
                          s_or(pc_str(body, "sha256")), why);
        }
        b64_to_hex(x->up_nonce, up_hex, sizeof(up_hex));
        if (x->up_nonce[0] != '\0') {
                if (sset_has(seen_up, up_hex))
                        V(x,
                          "upload nonce %s was issued to another upload "
                          "too",
                          x->up_nonce);
                sset_add(seen_up, up_hex);
        }

        /* The abort. */
        if (ar != NULL && streq(pc_str(ar, "type"), "abort.result")) {
                const json_t *body = pc_body(ar);
                outcome =
                    (int)json_integer_value(json_object_get(body, "abort"));
                if (outcome >= 1 && outcome <= 3)
                        c->fig.outcome[outcome]++;
                if (d->abort_outcome != outcome)
                        V(x, "abort.result says outcome %d, the database %d",
                          outcome, d->abort_outcome);
                if (!evidence_ok(c, "abort", x->file_id, a, NULL,
                                 outcome == 1 ? "" : x->sha256,
                                 outcome == 1 ? "" : x->nro_sha256, NULL,
                                 pc_str(body, "time"), pc_str(body, "ttp_sig"),
                                 why, sizeof(why)))
                        V(x, "abort.result ttp_sig: %s", why);
                if (outcome == 1 && verified)
                        V(x, "abort outcome 1 (upload ongoing) after a "
                             "verified upload");
                if (outcome != 1 && !verified)
                        V(x, "abort outcome %d without a verified upload",
                          outcome);
                if (outcome == 2 && delivered)
                        V(x, "abort outcome 2 (never downloaded), yet B got "
                             "a delivery");
                if (outcome == 3 && !delivered)
                        V(x, "abort outcome 3 (downloaded), yet B got no "
                             "delivery");
        } else if (d->abort_outcome != 0) {
                V(x,
                  "the database holds abort outcome %d, A got no "
                  "abort.result",
                  d->abort_outcome);
        }

        /* Cancellation: exactly the pending download of an aborted file. */
        if (x->n_cancelled > 0 && (outcome != 2 || delivered))
                V(x,
                  "B got download.cancelled, but the abort outcome is %d "
                  "and B %s a delivery",
                  outcome, delivered ? "got" : "did not get");
        if (x->n_dl_challenge > 0 && outcome == 2 && x->n_cancelled == 0)
                V(x, "B held a download challenge when the file was aborted "
                     "(outcome 2) and got no download.cancelled");
        if (streq(code_of(&x->rcpt), "file_aborted") && outcome != 2)
                V(x,
                  "download.receipt refused as file_aborted, abort "
                  "outcome %d",
                  outcome);
        if (streq(code_of(&x->dlreq), "file_aborted") && outcome != 1 &&
            outcome != 2)
                V(x,
                  "download.request refused as file_aborted, abort "
                  "outcome %d",
                  outcome);
        if (x->mode == XM_PLAIN && !delivered && x->done && !x->broken)
                V(x, "a plain exchange finished without a delivery");

        /* The exchange itself. */
        if (delivered) {
                c->fig.delivered++;
                b64_to_hex(pc_str(db, "nonce"), nonce_hex, sizeof(nonce_hex));
                if (!verified)
                        V(x, "delivered without a verified upload");
                if (d->dl_completed != 1 ||
                    strcmp(d->dl_nonce, nonce_hex) != 0 ||
                    strcmp(d->dl_downloader, b) != 0)
                        V(x,
                          "delivered (nonce %s to %s), but the database "
                          "holds %d completed download(s) (nonce %s to %s)",
                          nonce_hex, b, d->dl_completed, d->dl_nonce,
                          d->dl_downloader);
                if (!d->completed)
                        V(x, "delivered, but the upload is gone from the "
                             "database");
                if (sset_has(seen_dl, nonce_hex))
                        V(x, "download nonce %s delivered twice", nonce_hex);
                sset_add(seen_dl, nonce_hex);
                if (strcmp(nonce_hex, up_hex) == 0)
                        V(x, "download nonce equals the upload nonce");
                if (!streq(pc_str(db, "nonce"), x->dl_nonce) ||
                    !streq(pc_str(db, "uploader"), a) ||
                    !streq(pc_str(db, "sha256"), x->sha256) ||
                    !streq(pc_str(db, "nro"), x->nro) ||
                    !streq(pc_str(db, "upload_nonce"), x->up_nonce) ||
                    json_integer_value(json_object_get(db, "size")) !=
                        (json_int_t)x->size)
                        V(x, "the delivery does not describe this exchange");
                if (d->completed &&
                    !streq(pc_str(db, "object_path"), d->object_path))
                        V(x, "delivery object_path %s, the database %s",
                          s_or(pc_str(db, "object_path")), d->object_path);
                if (!object_ok(c, s_or(pc_str(db, "object_path")),
                               (long long)x->size, x->sha256, why, sizeof(why)))
                        V(x, "the delivered object is not A's document: %s",
                          why);
                if (!evidence_ok(c, "exchange", x->file_id, a, b, x->sha256,
                                 x->nro_sha256, x->nrr_sha256,
                                 pc_str(db, "time"), pc_str(db, "ttp_sig"), why,
                                 sizeof(why)))
                        V(x, "delivery ttp_sig: %s", why);
        }
        if (x->n_receipt > 0) {
                if (!streq(pc_str(rb, "downloader"), b) ||
                    !streq(pc_str(rb, "nonce"), x->dl_nonce) ||
                    !streq(pc_str(rb, "nrr"), x->nrr) ||
                    !streq(pc_str(rb, "sha256"), x->sha256) ||
                    !streq(pc_str(rb, "nro_sha256"), x->nro_sha256) ||
                    !streq(pc_str(rb, "downloader_public_key"),
                           c->parties[x->b].u.spki_b64))
                        V(x, "the receipt does not describe this exchange");
                if (delivered &&
                    (!streq(pc_str(rb, "time"), pc_str(db, "time")) ||
                     !streq(pc_str(rb, "ttp_sig"), pc_str(db, "ttp_sig"))))
                        V(x, "receipt and delivery differ in time or ttp_sig");
        }

        /* The database's final state of the file. */
        if (d->ongoing && !x->broken)
                V(x, "an ongoing upload is left in the database");
        if (d->dl_ongoing)
                V(x, "%d pending download(s) left in the database",
                  d->dl_ongoing);
        if (d->dl_completed != (delivered ? 1 : 0))
                V(x,
                  "the database holds %d completed download(s), B got %d "
                  "deliver%s",
                  d->dl_completed, x->n_delivery,
                  x->n_delivery == 1 ? "y" : "ies");
        if (d->ob_receipt != d->dl_completed ||
            d->ob_delivery != d->dl_completed)
                V(x,
                  "the outbox holds %d receipt(s) and %d deliver%s for %d "
                  "completed download(s)",
                  d->ob_receipt, d->ob_delivery,
                  d->ob_delivery == 1 ? "y" : "ies", d->dl_completed);
        switch (d->abort_outcome) {
        case 0:
                if (verified && (!d->completed || d->completed_aborted))
                        V(x, "verified and never aborted, but the database "
                             "holds no live upload");
                break;
        case 1:
        case 2:
                if (d->completed || d->dl_completed)
                        V(x,
                          "abort outcome %d, but the database still holds "
                          "the upload or a download",
                          d->abort_outcome);
                break;
        case 3:
                if (!d->completed || !d->completed_aborted ||
                    d->dl_completed == 0)
                        V(x, "abort outcome 3, but the database holds no "
                             "flagged upload with its download");
                else if (d->dl_completed_at > d->aborted_at)
                        V(x, "a download completed after the abort");
                break;
        default:
                V(x, "abort outcome %d in the database", d->abort_outcome);
        }
        if (d->completed) {
                if (d->size != (long long)x->size ||
                    strcmp(d->sha256, x->sha256) ||
                    strcmp(d->upload_nonce, up_hex) ||
                    strcmp(d->nro_sha256, x->nro_sha256))
                        V(x, "the stored upload is not the one A committed");
                if (!object_ok(c, d->object_path, d->size, d->sha256, why,
                               sizeof(why)))
                        V(x, "the object does not match its hash: %s", why);
        }
}

struct dup_ctx {
        struct campaign *c;
        const char *what;
};

static void report_dup(void *arg, const char *str)
{
        struct dup_ctx *d = arg;

        campaign_violation(d->c, NULL, "%s %s appears twice", d->what, str);
}

static void check_global(struct campaign *c, struct db_state *st)
{
        struct dup_ctx dc = {c, NULL};

        if (st->unsent != 0)
                V(NULL, "the outbox did not drain: %ld row(s) unsent",
                  st->unsent);
        for (size_t i = 0; i < st->up_nonces.n; i++)
                if (!sset_has(&st->used, st->up_nonces.v[i]))
                        V(NULL, "upload nonce %s is not in used_nonces",
                          st->up_nonces.v[i]);
        for (size_t i = 0; i < st->dl_nonces.n; i++) {
                if (!sset_has(&st->used, st->dl_nonces.v[i]))
                        V(NULL, "download nonce %s is not in used_nonces",
                          st->dl_nonces.v[i]);
                if (sset_has(&st->up_nonces, st->dl_nonces.v[i]))
                        V(NULL,
                          "nonce %s was accepted for an upload and a "
                          "download",
                          st->dl_nonces.v[i]);
        }
        for (size_t i = 0; i < st->pending_nonces.n; i++)
                if (sset_has(&st->used, st->pending_nonces.v[i]))
                        V(NULL, "pending nonce %s is already spent",
                          st->pending_nonces.v[i]);
        dc.what = "upload nonce";
        sset_dups(&st->up_nonces, report_dup, &dc);
        dc.what = "download nonce";
        sset_dups(&st->dl_nonces, report_dup, &dc);
        dc.what = "outbox receipt/delivery (type nonce recipient)";
        sset_dups(&st->ob_exchange, report_dup, &dc);
}

/* Object files that no upload refers to: a leak, not unfairness. */
static long count_orphans(struct campaign *c, struct db_state *st)
{
        char dir[2048], rel[300];
        struct dirent *e;
        long n = 0;
        DIR *dp;

        snprintf(dir, sizeof(dir), "%s/objects", c->paths.store);
        if ((dp = opendir(dir)) == NULL)
                return -1;
        while ((e = readdir(dp)) != NULL) {
                if (e->d_name[0] == '.')
                        continue;
                snprintf(rel, sizeof(rel), "objects/%.250s", e->d_name);
                if (!sset_has(&st->objects, rel) &&
                    !sset_has(&st->reserved, rel))
                        n++;
        }
        closedir(dp);
        return n;
}

int checks_run(struct campaign *c, char *err, size_t errlen)
{
        struct db_state st;
        struct sset seen_dl = {0}, seen_up = {0};
        int ret = -1;

        memset(&st, 0, sizeof(st));
        st.c = c;
        if ((st.x = calloc(c->nx + 1, sizeof(*st.x))) == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        if (db_load(&st, err, errlen) == -1)
                goto done;
        check_global(c, &st);
        for (int i = 0; i < c->nparties; i++) {
                struct req *q = &c->parties[i].reg;
                check_request(c, &st, NULL, q);
                if (q->answer != NULL &&
                    !streq(pc_str(q->answer, "type"), "register.result"))
                        V(NULL, "register of %s refused", q->p->u.name);
        }
        for (size_t i = 0; i < c->nprobes; i++)
                check_request(c, &st, NULL, c->probes[i]);
        for (size_t i = 0; i < c->nx; i++)
                check_exchange(c, &st, c->x[i], &seen_dl, &seen_up);
        c->fig.orphan_objects = count_orphans(c, &st);
        if (st.foreign > 0)
                campaign_note(c,
                              "note: %ld database row(s) of files this run "
                              "did not make",
                              st.foreign);
        ret = 0;
done:
        sset_free(&seen_dl);
        sset_free(&seen_up);
        sset_free(&st.used);
        sset_free(&st.up_nonces);
        sset_free(&st.dl_nonces);
        sset_free(&st.pending_nonces);
        sset_free(&st.processed);
        sset_free(&st.answered);
        sset_free(&st.ob_exchange);
        sset_free(&st.objects);
        sset_free(&st.reserved);
        free(st.x);
        return ret;
}

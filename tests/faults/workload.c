/*
 * workload: the parties of the campaign and their exchanges.
 *
 * Each party is an independent client (its own key, producer and reader
 * of its reply partition).  An exchange is a state machine driven by what
 * its two parties read: A uploads (request, challenge, document, commit),
 * B downloads (request, challenge, NRO checked, receipt with the NRR),
 * and in the abort modes A's abort comes before the commit, after the
 * upload, or produced at the same instant as B's download.request or
 * download.receipt.  Requests are built once; a party that gets no answer
 * sends the same bytes again (same msg_id) after a timeout, so the TTP's
 * "answer a processed msg_id again" path is exercised, except in the
 * patient exchanges, whose parties send again only what the broker
 * refused: there, an acknowledged request without an answer is a lost
 * request, not something a retry would paper over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaign.h"
#include "tbs.h"

#define WORKLOAD_RETRY_MIN_MS 2000
#define WORKLOAD_RETRY_MAX_MS 8000
#define WORKLOAD_INFLIGHT_MAX 3 /* produces of one request at once */
#define WORKLOAD_DOC_MAX      (48 * 1024)
#define WORKLOAD_PLAN_STREAM  2

static const char *const workload_types[RQ_KINDS] = {
    "register", "upload.request",   "upload.commit",
    "abort",    "download.request", "download.receipt"};
static const char *const workload_answers[RQ_KINDS] = {
    "register.result", "upload.challenge",   "upload.result",
    "abort.result",    "download.challenge", "delivery"};
static const char *const workload_modes[XM_COUNT] = {
    "plain", "abort-before-commit", "abort-after-upload",
    "abort-racing-download.request", "abort-racing-download.receipt"};

const char *workload_mode_name(enum xmode m)
{
        return m < XM_COUNT ? workload_modes[m] : "?";
}

const char *workload_req_type(enum req_kind k)
{
        return k < RQ_KINDS ? workload_types[k] : "?";
}

const char *workload_answer_type(enum req_kind k)
{
        return k < RQ_KINDS ? workload_answers[k] : "?";
}

struct req *workload_req(struct exchange *x, int i)
{
        struct req *all[WORKLOAD_XREQS] = {&x->up, &x->commit, &x->abort,
                                           &x->dlreq, &x->rcpt};

        return i >= 0 && i < WORKLOAD_XREQS ? all[i] : NULL;
}

static int streq(const char *a, const char *b)
{
        return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* --- the msg_id index ---------------------------------------------------- */

static size_t idx_hash(const char *s)
{
        uint64_t h = 1469598103934665603ULL;

        for (; *s != '\0'; s++)
                h = (h ^ (unsigned char)*s) * 1099511628211ULL;
        return (size_t)h;
}

static void idx_put(struct campaign *c, struct req *q)
{
        size_t i;

        if (2 * (c->byid_n + 1) > c->byid_cap) {
                size_t cap = c->byid_cap ? c->byid_cap * 2 : 1024;
                struct req **n = calloc(cap, sizeof(*n));

                if (n == NULL)
                        campaign_fatal("out of memory");
                for (size_t j = 0; j < c->byid_cap; j++) {
                        if (c->byid[j] == NULL)
                                continue;
                        for (i = idx_hash(c->byid[j]->msg_id) & (cap - 1);
                             n[i] != NULL; i = (i + 1) & (cap - 1))
                                ;
                        n[i] = c->byid[j];
                }
                free(c->byid);
                c->byid = n;
                c->byid_cap = cap;
        }
        for (i = idx_hash(q->msg_id) & (c->byid_cap - 1); c->byid[i] != NULL;
             i = (i + 1) & (c->byid_cap - 1))
                ;
        c->byid[i] = q;
        c->byid_n++;
}

static struct req *idx_get(const struct campaign *c, const char *msg_id)
{
        if (msg_id == NULL || c->byid_cap == 0)
                return NULL;
        for (size_t i = idx_hash(msg_id) & (c->byid_cap - 1);
             c->byid[i] != NULL; i = (i + 1) & (c->byid_cap - 1))
                if (strcmp(c->byid[i]->msg_id, msg_id) == 0)
                        return c->byid[i];
        return NULL;
}

/* --- parties ------------------------------------------------------------- */

static int party_can_act(const struct party *p, int64_t now)
{
        return now >= p->stalled_until && now >= p->next_act;
}

static void party_acted(struct party *p, int64_t now)
{
        if (now < p->slow_until)
                p->next_act = now + p->slow_ms;
}

int workload_init(struct campaign *c, char *err, size_t errlen)
{
        prng_init(&c->plan, c->seed, WORKLOAD_PLAN_STREAM);
        for (int i = 0; i < c->nparties; i++) {
                struct party *p = &c->parties[i];

                memset(p, 0, sizeof(*p));
                p->index = i;
                if (pc_user_init(&p->u, "fc", err, errlen) == -1 ||
                    (p->pc = pc_new(c->paths.bootstrap, "tds", err, errlen)) ==
                        NULL ||
                    (p->r = pc_reader_new(c->paths.bootstrap,
                                          pc_topics(p->pc)->replies, p->u.name,
                                          err, errlen)) == NULL)
                        return -1;
                pc_reader_tolerate_transient(p->r);
        }
        return 0;
}

void workload_fini(struct campaign *c)
{
        for (size_t i = 0; i < c->nprobes; i++) {
                json_decref(c->probes[i]->env);
                free(c->probes[i]);
        }
        free(c->probes);
        for (int i = 0; i < c->nparties; i++) {
                struct party *p = &c->parties[i];

                pc_free(p->pc); /* serves the last delivery reports */
                pc_reader_free(p->r);
                json_decref(p->reg.env);
                pc_user_fini(&p->u);
        }
        for (size_t i = 0; i < c->nx; i++) {
                struct exchange *x = c->x[i];

                for (int j = 0; j < WORKLOAD_XREQS; j++)
                        json_decref(workload_req(x, j)->env);
                free(x->doc);
                free(x);
        }
        free(c->x);
        free(c->byid);
}

void workload_stall(struct campaign *c, int party, int64_t until)
{
        c->parties[party].stalled_until = until;
}

void workload_slow(struct campaign *c, int party, int ms, int64_t until)
{
        c->parties[party].slow_ms = ms;
        c->parties[party].slow_until = until;
}

void workload_unstall(struct campaign *c)
{
        for (int i = 0; i < c->nparties; i++) {
                c->parties[i].stalled_until = 0;
                c->parties[i].slow_until = 0;
                c->parties[i].next_act = 0;
        }
}

/* --- requests ------------------------------------------------------------ */

/* Build the request once; `body` is stolen. */
static void req_prepare(struct campaign *c, struct req *q, enum req_kind kind,
                        struct party *p, struct exchange *x, json_t *body)
{
        char err[PC_ERR_MAX];

        q->kind = kind;
        q->c = c;
        q->p = p;
        q->x = x;
        q->env = pc_request_new(&p->u, workload_types[kind], body, 0, err,
                                sizeof(err));
        if (q->env == NULL)
                campaign_fatal("%s: %s", workload_types[kind], err);
        snprintf(q->msg_id, sizeof(q->msg_id), "%s", pc_str(q->env, "msg_id"));
        idx_put(c, q);
        c->fig.requests++;
}

static void req_on_delivery(void *arg, const char *failure)
{
        struct req *q = arg;

        q->inflight--;
        if (failure == NULL) {
                q->acked++;
                return;
        }
        q->failed++;
        q->resend = 1;
        q->c->fig.produce_failed++;
}

static void req_produce(struct campaign *c, struct req *q)
{
        char err[PC_ERR_MAX];

        if (pc_send_json_async(q->p->pc, q->env, req_on_delivery, q, err,
                               sizeof(err)) == -1) {
                /* Refused at once (a full queue): as a failed produce. */
                q->failed++;
                q->resend = 1;
                c->fig.produce_failed++;
                return;
        }
        q->inflight++;
        c->fig.sends++;
}

/* The first send (twice at once in an eager exchange). */
static void req_send(struct campaign *c, struct req *q, int64_t now)
{
        q->sent = 1;
        q->first_ms = now;
        q->retry_ms =
            WORKLOAD_RETRY_MIN_MS + (int)prng_range(&c->jitter, 0, 1000);
        q->next_retry_ms = now + q->retry_ms;
        req_produce(c, q);
        if (q->x != NULL && q->x->eager_dup) {
                req_produce(c, q);
                c->fig.eager_dups++;
        }
        party_acted(q->p, now);
}

/* The same bytes again: after a refused produce, or after a timeout. */
static void req_retry(struct campaign *c, struct req *q, int64_t now)
{
        int patient = q->probe || (q->x != NULL && q->x->patient);

        if (!q->sent || q->answer != NULL || !party_can_act(q->p, now) ||
            (c->hush && !q->probe))
                return;
        if (q->resend && q->inflight == 0) {
                q->resend = 0;
                req_produce(c, q);
                c->fig.remakes++;
                party_acted(q->p, now);
                return;
        }
        if (patient || now < q->next_retry_ms ||
            q->inflight >= WORKLOAD_INFLIGHT_MAX)
                return;
        req_produce(c, q);
        c->fig.resends++;
        q->retry_ms = q->retry_ms * 3 / 2;
        if (q->retry_ms > WORKLOAD_RETRY_MAX_MS)
                q->retry_ms = WORKLOAD_RETRY_MAX_MS;
        q->next_retry_ms = now + q->retry_ms;
        party_acted(q->p, now);
}

static void req_answered(struct campaign *c, struct req *q, const json_t *m)
{
        q->answers++;
        if (q->answer != NULL)
                return; /* a second answer: the checks count it */
        q->answer = m;
        c->progress++;
}

/* The answer is of `type` (not an error). */
static int answer_is(const struct req *q, const char *type)
{
        return q->answer != NULL && streq(pc_str(q->answer, "type"), type);
}

static int answer_is_error(const struct req *q)
{
        return answer_is(q, "error");
}

struct req *workload_probe(struct campaign *c, int party, int64_t now)
{
        struct party *p = &c->parties[party];
        struct req *q;

        if (c->nprobes == c->capprobes) {
                size_t cap = c->capprobes ? c->capprobes * 2 : 8;
                struct req **n = realloc(c->probes, cap * sizeof(*n));

                if (n == NULL)
                        campaign_fatal("out of memory");
                c->probes = n;
                c->capprobes = cap;
        }
        if ((q = calloc(1, sizeof(*q))) == NULL)
                campaign_fatal("out of memory");
        c->probes[c->nprobes++] = q;
        req_prepare(c, q, RQ_REGISTER, p, NULL,
                    json_pack("{s:s}", "public_key", p->u.spki_b64));
        q->probe = 1;
        p->probe = q;
        req_send(c, q, now);
        return q;
}

/* --- exchanges ----------------------------------------------------------- */

static struct exchange *exchange_by_file_id(const struct campaign *c,
                                            const char *file_id)
{
        size_t taglen = strlen(c->tag);
        char *end;
        long id;

        if (file_id == NULL || strncmp(file_id, c->tag, taglen) != 0 ||
            file_id[taglen] != '-')
                return NULL;
        errno = 0;
        id = strtol(file_id + taglen + 1, &end, 10);
        if (errno != 0 || *end != '\0' || id < 0 || (size_t)id >= c->nx)
                return NULL;
        return strcmp(c->x[id]->file_id, file_id) == 0 ? c->x[id] : NULL;
}

static void exchange_start(struct campaign *c, int64_t now)
{
        struct exchange *x;
        int permille;

        if (c->nx == c->capx) {
                size_t cap = c->capx ? c->capx * 2 : 512;
                struct exchange **n = realloc(c->x, cap * sizeof(*n));

                if (n == NULL)
                        campaign_fatal("out of memory");
                c->x = n;
                c->capx = cap;
        }
        if ((x = calloc(1, sizeof(*x))) == NULL)
                campaign_fatal("out of memory");
        x->id = (long)c->nx;
        snprintf(x->file_id, sizeof(x->file_id), "%s-%ld", c->tag, x->id);
        /* The plan: every choice from the seed's stream, in this order. */
        x->a = (int)prng_range(&c->plan, 0, c->nparties - 1);
        x->b =
            prng_chance(&c->plan, 60)
                ? x->a
                : (x->a + 1 + (int)prng_range(&c->plan, 0, c->nparties - 2)) %
                      c->nparties;
        permille = (int)prng_range(&c->plan, 0, 999);
        x->mode = permille < 600   ? XM_PLAIN
                  : permille < 680 ? XM_ABORT_BEFORE_COMMIT
                  : permille < 760 ? XM_ABORT_AFTER_UPLOAD
                  : permille < 870 ? XM_ABORT_RACE_REQUEST
                                   : XM_ABORT_RACE_RECEIPT;
        x->patient = prng_chance(&c->plan, 250);
        x->eager_dup = prng_chance(&c->plan, 100);
        x->abort_first = prng_chance(&c->plan, 500);
        x->size = prng_chance(&c->plan, 40)
                      ? 0
                      : (size_t)prng_range(&c->plan, 1, WORKLOAD_DOC_MAX);
        {
                struct prng doc;

                prng_init(&doc, prng_next(&c->plan), 0);
                if ((x->doc = malloc(x->size + 8)) == NULL)
                        campaign_fatal("out of memory");
                for (size_t i = 0; i < x->size; i += 8) {
                        uint64_t v = prng_next(&doc);
                        memcpy(x->doc + i, &v, 8);
                }
        }
        if (crypto_sha256_hex(x->doc, x->size, x->sha256, NULL, 0) == -1)
                campaign_fatal("sha256 failed");
        snprintf(x->size_dec, sizeof(x->size_dec), "%zu", x->size);
        x->start_ms = now;
        c->x[c->nx++] = x;
        c->active++;
        c->fig.exchanges_started++;
        c->fig.by_mode[x->mode]++;
        c->fig.patient += x->patient;
        c->fig.eager += x->eager_dup;
        if (c->verbose)
                campaign_note(c, "exchange %ld %s: %s -> %s, %s%s%s, %zu bytes",
                              x->id, x->file_id, c->parties[x->a].u.name,
                              c->parties[x->b].u.name,
                              workload_mode_name(x->mode),
                              x->patient ? ", patient" : "",
                              x->eager_dup ? ", eager" : "", x->size);
}

static void send_upload(struct campaign *c, struct exchange *x, int64_t now)
{
        char name[64];

        snprintf(name, sizeof(name), "campaign document %ld", x->id);
        req_prepare(c, &x->up, RQ_UPLOAD, &c->parties[x->a], x,
                    json_pack("{s:s, s:s, s:I}", "file_id", x->file_id, "name",
                              name, "size", (json_int_t)x->size));
        req_send(c, &x->up, now);
}

static int write_document(struct campaign *c, struct exchange *x,
                          const char *rel, char *err, size_t errlen)
{
        char path[1024];
        size_t off = 0;
        int fd, ret = -1;

        snprintf(path, sizeof(path), "%s/%s", c->paths.store, rel);
        unlink(path);
        if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) ==
            -1) {
                snprintf(err, errlen, "cannot write %.900s: %s", path,
                         strerror(errno));
                return -1;
        }
        while (off < x->size) {
                ssize_t n = write(fd, x->doc + off, x->size - off);
                if (n <= 0) {
                        snprintf(err, errlen, "write %.900s: %s", path,
                                 strerror(errno));
                        goto done;
                }
                off += (size_t)n;
        }
        ret = 0;
done:
        close(fd);
        return ret;
}

static int sign_tbs(const struct crypto_key *key, char *tbs, size_t len,
                    char *out, size_t outlen, char *hash_out, char *err,
                    size_t errlen)
{
        char *sig = pc_sign_b64(key, tbs, len, err, errlen);
        int ret = -1;

        free(tbs);
        if (sig == NULL)
                return -1;
        if (strlen(sig) < outlen &&
            pc_sha256_hex_b64(sig, hash_out, err, errlen) == 0) {
                snprintf(out, outlen, "%s", sig);
                ret = 0;
        }
        free(sig);
        return ret;
}

/* Step 3: M at the issued path, the NRO, upload.commit. */
static void send_commit(struct campaign *c, struct exchange *x, int64_t now)
{
        struct party *a = &c->parties[x->a];
        const json_t *body = pc_body(x->up.answer);
        const char *path = pc_str(body, "incoming_path");
        struct tbs_nro f;
        char want[300], err[PC_ERR_MAX], *tbs = NULL;
        size_t len;

        snprintf(want, sizeof(want), "incoming/%s/%s", a->u.name, x->file_id);
        snprintf(x->up_nonce, sizeof(x->up_nonce), "%s", pc_str(body, "nonce"));
        if (!streq(path, want) || !streq(pc_str(body, "key_id"), a->u.key_id)) {
                campaign_violation(
                    c, x,
                    "upload.challenge: incoming_path %s (expected "
                    "%s), key_id %s (expected A's)",
                    path, want, pc_str(body, "key_id"));
                x->broken = 1;
                return;
        }
        if (write_document(c, x, path, err, sizeof(err)) == -1) {
                campaign_violation(c, x, "A cannot place M: %s", err);
                x->broken = 1;
                return;
        }
        f = (struct tbs_nro){x->file_id, a->u.name, x->sha256, x->size_dec,
                             x->up_nonce};
        if (tbs_nro(&f, &tbs, &len, err, sizeof(err)) == -1 ||
            sign_tbs(a->u.key, tbs, len, x->nro, sizeof(x->nro), x->nro_sha256,
                     err, sizeof(err)) == -1)
                campaign_fatal("NRO: %s", err);
        req_prepare(c, &x->commit, RQ_COMMIT, a, x,
                    json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "file_id",
                              x->file_id, "nonce", x->up_nonce, "path", path,
                              "sha256", x->sha256, "size", (json_int_t)x->size,
                              "nro", x->nro));
        req_send(c, &x->commit, now);
}

static void send_abort(struct campaign *c, struct exchange *x, int64_t now)
{
        req_prepare(c, &x->abort, RQ_ABORT, &c->parties[x->a], x,
                    json_pack("{s:s}", "file_id", x->file_id));
        req_send(c, &x->abort, now);
}

static void send_dlreq(struct campaign *c, struct exchange *x, int64_t now)
{
        req_prepare(c, &x->dlreq, RQ_DLREQ, &c->parties[x->b], x,
                    json_pack("{s:s}", "file_id", x->file_id));
        req_send(c, &x->dlreq, now);
}

/* Step 6: B checks the challenge as a careful client would (the NRO
 * under the uploader's key, over the challenge's own fields) and signs
 * the NRR over the NRO it received. */
static void send_receipt(struct campaign *c, struct exchange *x, int64_t now)
{
        struct party *a = &c->parties[x->a], *b = &c->parties[x->b];
        const json_t *body = pc_body(x->dlreq.answer);
        struct crypto_key *akey = NULL;
        char err[PC_ERR_MAX], size_dec[24], nro_sha256[65], *tbs = NULL;
        struct tbs_nro nf;
        struct tbs_nrr rf;
        size_t len;

        snprintf(size_dec, sizeof(size_dec), "%lld",
                 (long long)json_integer_value(json_object_get(body, "size")));
        if (!streq(pc_str(body, "uploader"), a->u.name) ||
            !streq(pc_str(body, "uploader_public_key"), a->u.spki_b64) ||
            !streq(pc_str(body, "sha256"), x->sha256) ||
            !streq(size_dec, x->size_dec) ||
            !streq(pc_str(body, "nro"), x->nro) ||
            !streq(pc_str(body, "upload_nonce"), x->up_nonce) ||
            !streq(pc_str(body, "key_id"), b->u.key_id)) {
                campaign_violation(c, x,
                                   "download.challenge does not describe the "
                                   "upload A committed (uploader %s, sha256 "
                                   "%s, size %s)",
                                   pc_str(body, "uploader"),
                                   pc_str(body, "sha256"), size_dec);
                x->broken = 1;
                return;
        }
        nf = (struct tbs_nro){pc_str(body, "file_id"), pc_str(body, "uploader"),
                              pc_str(body, "sha256"), size_dec,
                              pc_str(body, "upload_nonce")};
        if ((akey = pc_key_from_b64(pc_str(body, "uploader_public_key"), err,
                                    sizeof(err))) == NULL ||
            tbs_nro(&nf, &tbs, &len, err, sizeof(err)) == -1 ||
            pc_verify_b64(akey, tbs, len, pc_str(body, "nro"), err,
                          sizeof(err)) == -1) {
                campaign_violation(c, x, "B cannot verify the NRO: %s", err);
                crypto_key_free(akey);
                free(tbs);
                x->broken = 1;
                return;
        }
        crypto_key_free(akey);
        free(tbs);
        tbs = NULL;
        snprintf(x->dl_nonce, sizeof(x->dl_nonce), "%s", pc_str(body, "nonce"));
        if (pc_sha256_hex_b64(pc_str(body, "nro"), nro_sha256, err,
                              sizeof(err)) == -1)
                campaign_fatal("nro_sha256: %s", err);
        rf = (struct tbs_nrr){x->file_id, b->u.name, x->sha256, nro_sha256,
                              x->dl_nonce};
        if (tbs_nrr(&rf, &tbs, &len, err, sizeof(err)) == -1 ||
            sign_tbs(b->u.key, tbs, len, x->nrr, sizeof(x->nrr), x->nrr_sha256,
                     err, sizeof(err)) == -1)
                campaign_fatal("NRR: %s", err);
        req_prepare(c, &x->rcpt, RQ_RECEIPT, b, x,
                    json_pack("{s:s, s:s, s:s}", "file_id", x->file_id, "nonce",
                              x->dl_nonce, "nrr", x->nrr));
        req_send(c, &x->rcpt, now);
}

static int upload_verified(const struct exchange *x)
{
        return answer_is(&x->commit, "upload.result") &&
               json_is_true(
                   json_object_get(pc_body(x->commit.answer), "verified"));
}

static int abort_outcome(const struct exchange *x)
{
        if (!answer_is(&x->abort, "abort.result"))
                return 0;
        return (int)json_integer_value(
            json_object_get(pc_body(x->abort.answer), "abort"));
}

/* B may ask for the file. */
static int b_may_request(const struct exchange *x)
{
        switch (x->mode) {
        case XM_ABORT_BEFORE_COMMIT:
        case XM_ABORT_AFTER_UPLOAD:
                return x->abort.answer != NULL;
        default:
                return upload_verified(x);
        }
}

/* Nothing more to send and nothing more to wait for. */
static int exchange_finished(const struct exchange *x)
{
        if (x->broken)
                return 1;
        for (int i = 0; i < WORKLOAD_XREQS; i++) {
                const struct req *q = workload_req((struct exchange *)x, i);
                if (q->sent && q->answer == NULL)
                        return 0;
        }
        if (!x->up.sent)
                return 0;
        if (answer_is_error(&x->up))
                return 1;
        if (x->mode != XM_ABORT_BEFORE_COMMIT) {
                if (!x->commit.sent)
                        return 0;
                if (!upload_verified(x))
                        return 1;
        }
        if (x->mode != XM_PLAIN && !x->abort.sent)
                return 0;
        if (!x->dlreq.sent)
                return 0;
        if (answer_is(&x->dlreq, "download.challenge") && !x->rcpt.sent)
                return 0;
        /* The other half of the exchange, and a pending download's
         * cancellation, are on their way. */
        if ((x->n_delivery > 0) != (x->n_receipt > 0))
                return 0;
        if (x->n_dl_challenge > 0 && abort_outcome(x) == 2 &&
            x->n_cancelled == 0)
                return 0;
        return 1;
}

/* Two requests of two parties produced at the same instant. */
static void send_race(struct campaign *c, struct exchange *x, int64_t now,
                      void (*other)(struct campaign *, struct exchange *,
                                    int64_t))
{
        if (x->abort_first) {
                send_abort(c, x, now);
                other(c, x, now);
        } else {
                other(c, x, now);
                send_abort(c, x, now);
        }
}

static void exchange_step(struct campaign *c, struct exchange *x, int64_t now)
{
        struct party *a = &c->parties[x->a], *b = &c->parties[x->b];
        int both = party_can_act(a, now) && party_can_act(b, now);

        if (x->done)
                return;
        if (!x->broken && !c->hush) {
                if (!x->up.sent) {
                        if (party_can_act(a, now))
                                send_upload(c, x, now);
                        return;
                }
                if (!answer_is(&x->up, "upload.challenge"))
                        goto finished;
                if (x->mode == XM_ABORT_BEFORE_COMMIT) {
                        if (!x->abort.sent && party_can_act(a, now))
                                send_abort(c, x, now);
                } else if (!x->commit.sent && party_can_act(a, now)) {
                        send_commit(c, x, now);
                }
                if (x->mode == XM_ABORT_AFTER_UPLOAD && upload_verified(x) &&
                    !x->abort.sent && party_can_act(a, now))
                        send_abort(c, x, now);
                if (!x->dlreq.sent && b_may_request(x)) {
                        if (x->mode == XM_ABORT_RACE_REQUEST) {
                                if (both)
                                        send_race(c, x, now, send_dlreq);
                        } else if (party_can_act(b, now)) {
                                send_dlreq(c, x, now);
                        }
                }
                if (answer_is(&x->dlreq, "download.challenge") &&
                    !x->rcpt.sent) {
                        if (x->mode == XM_ABORT_RACE_RECEIPT) {
                                if (both)
                                        send_race(c, x, now, send_receipt);
                        } else if (party_can_act(b, now)) {
                                send_receipt(c, x, now);
                        }
                }
        }
finished:
        if (exchange_finished(x)) {
                x->done = 1;
                x->done_ms = now;
                c->active--;
                c->fig.exchanges_done++;
                free(x->doc);
                x->doc = NULL;
                if (c->verbose)
                        campaign_note(c, "exchange %ld done in %lld ms", x->id,
                                      (long long)(now - x->start_ms));
        }
}

/* --- replies ------------------------------------------------------------- */

/* Where a reply about an exchange goes: the right one of its parties (A
 * for upload.*, abort.result and receipt, B for the download side), the
 * counter of its type, the request it answers. */
struct route {
        const char *type;
        int to_a;
        int *count;
        const json_t **first;
        struct req *answers;
};

static void dispatch(struct campaign *c, struct party *p, const json_t *m)
{
        const char *type = pc_str(m, "type");
        const json_t *body = pc_body(m);
        struct exchange *x;
        struct req *q;

        c->fig.replies++;
        if (streq(type, "error")) {
                q = idx_get(c, pc_str(body, "in_reply_to"));
                if (q == NULL || q->p != p) {
                        campaign_violation(c, NULL,
                                           "%s got an error in reply to "
                                           "msg_id %s, which it never sent",
                                           p->u.name,
                                           pc_str(body, "in_reply_to"));
                        return;
                }
                req_answered(c, q, m);
                return;
        }
        if (streq(type, "register.result")) {
                /* No in_reply_to: the open probe's, else the party's own. */
                if (p->probe != NULL && p->probe->answer == NULL)
                        req_answered(c, p->probe, m);
                else
                        req_answered(c, &p->reg, m);
                return;
        }
        if ((x = exchange_by_file_id(c, pc_str(body, "file_id"))) == NULL) {
                campaign_violation(c, NULL,
                                   "%s got %s for file %s, which no "
                                   "exchange of this run uses",
                                   p->u.name, type, pc_str(body, "file_id"));
                return;
        }
        const struct route routes[] = {
            {"upload.challenge", 1, &x->n_up_challenge, NULL, &x->up},
            {"upload.result", 1, &x->n_up_result, NULL, &x->commit},
            {"abort.result", 1, &x->n_abort_result, NULL, &x->abort},
            {"receipt", 1, &x->n_receipt, &x->receipt, NULL},
            {"download.challenge", 0, &x->n_dl_challenge, NULL, &x->dlreq},
            {"delivery", 0, &x->n_delivery, &x->delivery, &x->rcpt},
            {"download.cancelled", 0, &x->n_cancelled, &x->cancelled, NULL},
        };
        for (size_t i = 0; i < sizeof(routes) / sizeof(*routes); i++) {
                const struct route *r = &routes[i];
                int want = r->to_a ? x->a : x->b;

                if (!streq(type, r->type))
                        continue;
                if (p->index != want) {
                        campaign_violation(c, x, "%s reached %s, expected %s",
                                           type, p->u.name,
                                           c->parties[want].u.name);
                        return;
                }
                if (r->count != NULL && (*r->count)++ == 0 && r->first != NULL)
                        *r->first = m;
                if (r->answers != NULL)
                        req_answered(c, r->answers, m);
                return;
        }
        campaign_violation(c, x, "%s got a message of type %s", p->u.name,
                           type);
}

static void party_read(struct campaign *c, struct party *p, int64_t now)
{
        char err[PC_ERR_MAX];
        const json_t *m;

        if (now < p->stalled_until)
                return;
        pc_poll(p->pc, 0);
        if (pc_reader_poll(p->r, 0, err, sizeof(err)) == -1 &&
            !p->reader_failed) {
                p->reader_failed = 1;
                campaign_violation(c, NULL, "%s's replies: %s", p->u.name, err);
        }
        while ((m = pc_reader_item(p->r, p->cursor)) != NULL) {
                p->cursor++;
                dispatch(c, p, m);
        }
}

int workload_register(struct campaign *c, int timeout_ms, char *err,
                      size_t errlen)
{
        int64_t start = campaign_now_ms(), now;
        int pending;

        for (int i = 0; i < c->nparties; i++) {
                struct party *p = &c->parties[i];

                req_prepare(c, &p->reg, RQ_REGISTER, p, NULL,
                            json_pack("{s:s}", "public_key", p->u.spki_b64));
                req_send(c, &p->reg, start);
        }
        do {
                now = campaign_now_ms();
                pending = 0;
                for (int i = 0; i < c->nparties; i++) {
                        struct party *p = &c->parties[i];

                        party_read(c, p, now);
                        if (p->reg.answer == NULL) {
                                pending++;
                                req_retry(c, &p->reg, now);
                        } else if (!answer_is(&p->reg, "register.result")) {
                                snprintf(
                                    err, errlen,
                                    "register of %s was refused: %s", p->u.name,
                                    pc_str(pc_body(p->reg.answer), "code"));
                                return -1;
                        }
                }
                if (pending > 0)
                        usleep(20000);
        } while (pending > 0 && now - start < timeout_ms);
        if (pending > 0) {
                snprintf(err, errlen, "%d part%s not registered after %d ms",
                         pending, pending == 1 ? "y" : "ies", timeout_ms);
                return -1;
        }
        return 0;
}

void workload_tick(struct campaign *c, int64_t now, int may_start)
{
        for (int i = 0; i < c->nparties; i++)
                party_read(c, &c->parties[i], now);
        for (size_t i = 0; i < c->nx; i++) {
                struct exchange *x = c->x[i];

                if (x->done)
                        continue;
                exchange_step(c, x, now);
                for (int j = 0; j < WORKLOAD_XREQS && !x->done; j++)
                        req_retry(c, workload_req(x, j), now);
        }
        while (may_start && !c->hush && c->active < c->inflight)
                exchange_start(c, now);
}

int workload_all_done(const struct campaign *c)
{
        return c->active == 0;
}

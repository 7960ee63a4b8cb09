/*
 * engine: apply client messages to the TTP's state, many messages (a
 * batch) per transaction.
 *
 * A message goes through, in order: the partition offset check (a
 * message at or below the stored offset was applied already), decoding
 * (proto.c), the retry check (a processed msg_id gets its first answer
 * again), then the handler of its type.  A handler either succeeds (its
 * effects and replies stay), gives a verdict (upload.result with verified
 * false: its effects are undone, its reply kept), or rejects (everything
 * it did is undone and an `error` is the only reply).  A handler that
 * wrote nothing has nothing to undo; one that wrote is undone to a
 * savepoint, set when the batch is applied again for it (apply_msg).  In every
 * case the processed msg_id and the replies stay, and the partition's offset
 * moves past the message, so a rejected message changes nothing but the
 * outbox.  The batch commits all of that at once: its messages' effects,
 * replies and processed msg_ids, and the next offset of every partition
 * it read (docs/architecture.md, "Batches").
 */
#include "engine.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "base64.h"
#include "crypto.h"
#include "db.h"
#include "evlog.h"
#include "hex.h"
#include "ids.h"
#include "kafka.h"
#include "keycache.h"
#include "log.h"
#include "msgids.h"
#include "proto.h"
#include "rowq.h"
#include "store.h"
#include "tbs.h"
#include "tsa.h"
#include "ttp_conf.h"

#define ENGINE_DEADLOCK_TRIES 5
#define ENGINE_REPLIES_MAX    4096 /* download.cancelled fan-out bound */
#define ENGINE_CLEANUP_MAX    2
/* Of the value and of the key in a dead letter: whatever the input, the
 * record stays far below what the broker accepts (decision 27). */
#define ENGINE_DEAD_VALUE_MAX (64 * 1024)
#define ENGINE_CATALOG_BYTES  (900 * 1024)
/* Outbox payloads a batch holds before writing them (bounds memory and
 * the size of one bulk statement, far below max_allowed_packet). */
#define ENGINE_BULK_BYTES (4 * 1024 * 1024)

struct reply {
        int dead_letter;
        char key[IDS_USER_MAX + 1]; /* recipient; "" for dead-letter */
        unsigned char msg_id[16];
        char *payload;
        size_t len;
};

/* A reply queued for the outbox, written when the batch ends. */
struct batch_reply {
        struct reply r;
        unsigned char request_msg_id[16];
        int has_request;
};

/* A processed msg_id, recorded when the batch ends. */
struct batch_processed {
        unsigned char msg_id[16];
        char user[IDS_USER_MAX + 1];
};

/* A partition the open batch read messages of. */
struct batch_part {
        char topic[KAFKA_TOPIC_MAX];
        int32_t partition;
        /* Messages below were applied: the stored offset, locked when
         * the batch first met the partition, then after ours. */
        int64_t next;
        int applied; /* a message was applied here: store `next` */
};

/* The open batch: one transaction, many messages (engine.h). */
struct batch {
        int open;
        int failed; /* the database failed: nothing of it commits */
        struct engine_msg **msgs; /* borrowed, in the order applied */
        unsigned char *savepoint; /* per message: apply it in one */
        size_t nmsgs, msgs_cap;
        struct batch_part *parts;
        size_t nparts, parts_cap;
        /* store paths to remove once the batch committed */
        char (*cleanup)[PROTO_PATH_MAX + 1];
        size_t ncleanup, cleanup_cap;
        int crash_after_commit;
        size_t applied; /* messages applied (not skipped) */
        /* the msg_ids of the batch's messages: each at most once */
        unsigned char (*ids)[16];
        size_t nids, ids_cap;
        /* Rows written at the end of the batch (or when `bytes` grows
         * past ENGINE_BULK_BYTES), each table in one statement. */
        struct batch_reply *out;
        size_t nout, out_cap, bytes;
        struct batch_processed *done;
        size_t ndone, done_cap;
        struct db_val *params; /* the bulk statements' parameters */
        size_t params_cap;
        /* The inserts of the exchange (step 5's pending download, step
         * 6's completed one), written with the rows above; only abort
         * reads these tables, and any message but a download request or
         * receipt writes them first (rows_before()).  A receipt cannot
         * name a nonce of its own batch: nonces are published only after
         * the batch commits.  `rows_now` (after a failed bulk write):
         * every row at once, so that the failing message gets the
         * error, not the whole batch. */
        struct rowq ongoing, completed;
        uint64_t ongoing_mark, completed_mark;
        int rows_now;
        /* The msg_ids engine_batch_prefetch() looked up before the
         * first message, with their partitions' offset rows locked:
         * what retry_check() knows without asking. */
        struct msgids looked_up;
};

struct engine {
        const struct ttp_conf *conf;
        struct db *db;
        struct store *store;
        const struct crypto_key *ttp_key;
        struct keycache *keys;
        struct evlog *log;
        json_t *tsa_chain; /* base64 DER certificates, sent with heads */
        struct batch batch;
        struct engine_stats stats;
        char dberr[512]; /* why the batch failed */
};

/* Outcome of a handler. */
enum verdict {
        V_OK,      /* commit effects and replies */
        V_VERDICT, /* roll back effects, keep the replies */
        V_REJECT,  /* roll back everything, reply `error` */
        V_DB       /* database failure: roll back, retry or `internal` */
};

/* One message's work in progress. */
struct txn {
        struct engine *e;
        const struct proto_msg *m;
        time_t now;
        char now_str[IDS_TIME_LEN + 1];
        struct reply *replies;
        size_t nreplies;
        /* store paths to remove once the transaction committed */
        char cleanup[ENGINE_CLEANUP_MAX][PROTO_PATH_MAX + 1];
        size_t ncleanup;
        int crash_after_commit;
        enum proto_code code;
        char why[512];
        char dberr[512];
};

static void batch_rows_clear(struct engine *e);

void engine_crash_point(const struct ttp_conf *conf, const char *name)
{
        if (conf->test_crash_point != NULL &&
            strcmp(conf->test_crash_point, name) == 0) {
                log_warnx("test crash point '%s' reached: SIGKILL", name);
                raise(SIGKILL);
        }
}

struct engine *engine_new(const struct ttp_conf *conf, struct db *db,
                          struct store *store, const struct crypto_key *ttp_key,
                          struct evlog *log, const struct tsa_cert *chain,
                          size_t nchain, char *err, size_t errlen)
{
        struct engine *e = calloc(1, sizeof(*e));

        if (e == NULL || (e->keys = keycache_new(100000)) == NULL ||
            (e->tsa_chain = json_array()) == NULL)
                goto oom;
        for (size_t i = 0; i < nchain; i++) {
                char *b64 = base64_encode(chain[i].der, chain[i].len);
                int rc = b64 == NULL ? -1
                                     : json_array_append_new(e->tsa_chain,
                                                             json_string(b64));
                free(b64);
                if (rc == -1)
                        goto oom;
        }
        e->conf = conf;
        e->db = db;
        e->store = store;
        e->ttp_key = ttp_key;
        e->log = log;
        rowq_init(&e->batch.ongoing, DB_DOWNLOAD_ONGOING_ADD, 5);
        rowq_init(&e->batch.completed, DB_DOWNLOAD_DONE_ADD, 7);
        return e;
oom:
        engine_free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
}

void engine_free(struct engine *e)
{
        if (e == NULL)
                return;
        keycache_free(e->keys);
        json_decref(e->tsa_chain);
        free(e->batch.msgs);
        free(e->batch.savepoint);
        free(e->batch.parts);
        free(e->batch.cleanup);
        free(e->batch.ids);
        batch_rows_clear(e);
        free(e->batch.out);
        free(e->batch.done);
        free(e->batch.params);
        rowq_fini(&e->batch.ongoing);
        rowq_fini(&e->batch.completed);
        msgids_fini(&e->batch.looked_up);
        free(e);
}

static void txn_clear(struct txn *t)
{
        for (size_t i = 0; i < t->nreplies; i++)
                free(t->replies[i].payload);
        free(t->replies);
        t->replies = NULL;
        t->nreplies = 0;
        t->ncleanup = 0;
        t->crash_after_commit = 0;
        /* Keys borrowed by the last message are released only here. */
        keycache_trim(t->e->keys);
}

/* Reject the message with `code`; the handler returns what this returns. */
static enum verdict reject(struct txn *t, enum proto_code code, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));

static enum verdict reject(struct txn *t, enum proto_code code, const char *fmt,
                           ...)
{
        char text[sizeof(t->why)];
        va_list ap;

        t->code = code;
        /* Callers pass a callee's reason, t->why itself, as an argument:
         * formatting straight into it would read what is being written. */
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        memcpy(t->why, text, sizeof(t->why));
        return V_REJECT;
}

static int reply_push(struct txn *t, int dead_letter, const char *key,
                      char *payload, size_t len, const char *msg_id_hex)
{
        struct reply *r, *n;
        size_t outlen;

        if (t->nreplies == ENGINE_REPLIES_MAX) {
                free(payload);
                snprintf(t->dberr, sizeof(t->dberr), "too many replies");
                return -1;
        }
        n = realloc(t->replies, (t->nreplies + 1) * sizeof(*n));
        if (n == NULL) {
                free(payload);
                snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                return -1;
        }
        t->replies = n;
        r = &t->replies[t->nreplies++];
        memset(r, 0, sizeof(*r));
        r->dead_letter = dead_letter;
        snprintf(r->key, sizeof(r->key), "%s", key);
        r->payload = payload;
        r->len = len;
        if (msg_id_hex != NULL)
                hex_decode(msg_id_hex, IDS_MSG_ID_LEN, HEX_LOWER_ONLY,
                           r->msg_id, sizeof(r->msg_id), &outlen, NULL, 0);
        else
                crypto_random(r->msg_id, sizeof(r->msg_id), NULL, 0);
        return 0;
}

/* Queue a TTP message of `type` to `user`; steals `body`. */
static int reply_add(struct txn *t, const char *user, enum proto_type type,
                     json_t *body)
{
        char msg_id[IDS_MSG_ID_LEN + 1];
        char *payload;
        size_t len;

        if (body == NULL) {
                snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                return -1;
        }
        if (ids_msg_id_new(msg_id, t->dberr, sizeof(t->dberr)) == -1) {
                json_decref(body);
                return -1;
        }
        payload = proto_envelope_dump(type, msg_id, user, body, NULL, &len,
                                      t->dberr, sizeof(t->dberr));
        if (payload == NULL)
                return -1;
        return reply_push(t, 0, user, payload, len, msg_id);
}

/*
 * A message text safe to send: printable ASCII only, so that quoting
 * hostile input can never make the reply itself unencodable (which
 * would stall the partition on a message that can never be answered).
 */
static void text_sanitize(const char *in, char *out, size_t outlen)
{
        size_t i;

        for (i = 0; in[i] != '\0' && i + 1 < outlen; i++)
                out[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
        out[i] = '\0';
}

static int reply_error(struct txn *t, const char *user, const char *in_reply_to,
                       enum proto_code code, const char *message)
{
        char text[PROTO_REASON_MAX];

        text_sanitize(message, text, sizeof(text));
        return reply_add(t, user, PROTO_ERROR,
                         json_pack("{s:s, s:s, s:s}", "in_reply_to",
                                   in_reply_to, "code", proto_code_name(code),
                                   "message", text));
}

static int reply_dead_letter(struct txn *t, enum proto_code code,
                             const char *message, const char *topic,
                             int32_t partition, int64_t offset, const void *key,
                             size_t keylen, const void *value, size_t len)
{
        char *key_b64 = NULL, *value_b64 = NULL, *payload = NULL;
        char text[PROTO_REASON_MAX];
        json_t *obj = NULL;
        int ret = -1;

        if (key != NULL &&
            (key_b64 = base64_encode(key, keylen > ENGINE_DEAD_VALUE_MAX
                                              ? ENGINE_DEAD_VALUE_MAX
                                              : keylen)) == NULL)
                goto done;
        value_b64 = base64_encode(
            value, len > ENGINE_DEAD_VALUE_MAX ? ENGINE_DEAD_VALUE_MAX : len);
        if (value_b64 == NULL)
                goto done;
        text_sanitize(message, text, sizeof(text));
        obj = json_pack("{s:i, s:s, s:s, s:s, s:i, s:I, s:s?, s:s}", "v",
                        PROTO_VERSION, "reason", proto_code_name(code),
                        "message", text, "topic", topic, "partition",
                        (int)partition, "offset", (json_int_t)offset, "key_b64",
                        key_b64, "value_b64", value_b64);
        if (obj == NULL ||
            (payload = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
                NULL)
                goto done;
        ret = reply_push(t, 1, "", payload, strlen(payload), NULL);
        payload = NULL;
done:
        if (ret == -1 && t->dberr[0] == '\0')
                snprintf(t->dberr, sizeof(t->dberr), "out of memory");
        json_decref(obj);
        free(key_b64);
        free(value_b64);
        free(payload);
        return ret;
}

static void cleanup_add(struct txn *t, const char *path)
{
        if (t->ncleanup < ENGINE_CLEANUP_MAX)
                snprintf(t->cleanup[t->ncleanup++], sizeof(t->cleanup[0]), "%s",
                         path);
}

/*
 * The TTP's countersignature over the evidence TBS: DER into `sig`
 * (PROTO_SIG_MAX bytes), and returned as base64 (caller frees); NULL on
 * error (t->dberr).
 */
static char *sign_evidence(struct txn *t, const struct tbs_evidence *ev,
                           unsigned char *sig, size_t *siglen)
{
        unsigned char *der = NULL;
        char *tbs = NULL, *b64 = NULL;
        size_t tbslen, derlen;

        if (tbs_evidence(ev, &tbs, &tbslen, t->dberr, sizeof(t->dberr)) == 0 &&
            crypto_sign(t->e->ttp_key, tbs, tbslen, &der, &derlen, t->dberr,
                        sizeof(t->dberr)) == 0) {
                if (derlen > PROTO_SIG_MAX)
                        snprintf(t->dberr, sizeof(t->dberr),
                                 "signature of %zu bytes", derlen);
                else if ((b64 = base64_encode(der, derlen)) != NULL) {
                        memcpy(sig, der, derlen);
                        *siglen = derlen;
                }
        }
        free(tbs);
        free(der);
        return b64;
}

/*
 * The registered key of `user`: 1 found, 0 not registered, -1 database
 * error (t->dberr).
 */
static int user_key(struct txn *t, const char *user, struct keycache_entry *out)
{
        unsigned char der[PROTO_PUBKEY_MAX];
        struct db_out col = DB_OUT_BIN(der);
        struct db_val arg = DB_STR(user);
        int found;

        if (keycache_get(t->e->keys, user, out))
                return 1;
        if (db_query(t->e->db, DB_USER_GET, &arg, 1, &col, 1, NULL, NULL,
                     &found, t->dberr, sizeof(t->dberr)) == -1)
                return -1;
        if (!found)
                return 0;
        if (keycache_put(t->e->keys, user, der, col.len, out, t->dberr,
                         sizeof(t->dberr)) == -1)
                return -1;
        return 1;
}

/* The sender's key, and the envelope signature checked with it. */
static enum verdict check_sender(struct txn *t, struct keycache_entry *key)
{
        const struct proto_msg *m = t->m;
        char *tbs = NULL;
        size_t tbslen;
        int rc;

        if ((rc = user_key(t, m->user, key)) == -1)
                return V_DB;
        if (rc == 0)
                return reject(t, PROTO_UNKNOWN_USER,
                              "user %s is not registered", m->user);
        if (!proto_type_is_signed(m->type))
                return V_OK;
        if (proto_request_tbs(m, &tbs, &tbslen, t->why, sizeof(t->why)) == -1)
                return reject(t, PROTO_BAD_SCHEMA, "%s", t->why);
        rc = crypto_verify(key->key, tbs, tbslen, m->sig.bin, m->sig.bin_len,
                           NULL, 0);
        free(tbs);
        if (rc != 0)
                return reject(t, PROTO_BAD_SIGNATURE,
                              "sig does not verify under the registered key "
                              "of %s",
                              m->user);
        return V_OK;
}

static int b64_field(json_t *obj, const char *name, const unsigned char *buf,
                     size_t len)
{
        char *b64 = base64_encode(buf, len);
        int rc;

        if (b64 == NULL)
                return -1;
        rc = json_object_set_new(obj, name, json_string(b64));
        free(b64);
        return rc;
}

static void hex32(const unsigned char *buf, char out[65])
{
        hex_encode(buf, 32, out, 65);
}

static const char *time_str(time_t t, char out[IDS_TIME_LEN + 1])
{
        if (ids_time_format(t, out, NULL, 0) == -1)
                snprintf(out, IDS_TIME_LEN + 1, "1970-01-01T00:00:00Z");
        return out;
}

/*
 * Append the evidence event `leaf` to the evidence log, in this
 * transaction; `sig` is the TTP's countersignature released with it.
 * Fills leaf->time and leaf->ttp_sig_sha256.  -1 on error (t->dberr).
 */
static int log_leaf(struct txn *t, struct tbs_leaf *leaf,
                    const unsigned char *sig, size_t siglen)
{
        unsigned char hash[32];
        char sig_sha256[65];
        uint64_t index;

        if (crypto_sha256(sig, siglen, hash, t->dberr, sizeof(t->dberr)) == -1)
                return -1;
        hex32(hash, sig_sha256);
        leaf->time = t->now_str;
        leaf->ttp_sig_sha256 = sig_sha256;
        if (evlog_append(t->e->log, leaf, t->now, &index, t->dberr,
                         sizeof(t->dberr)) == -1)
                return -1;
        log_debug("evidence log: leaf %llu: %s %s", (unsigned long long)index,
                  leaf->event, leaf->file_id);
        return 0;
}

/* The body fields of a signed tree head, added to `body`. */
static int head_fields(struct txn *t, json_t *body,
                       const struct evlog_head *head)
{
        char root[65];

        hex32(head->root, root);
        if (json_object_set_new(body, "tree_size",
                                json_integer((json_int_t)head->tree_size)) ==
                -1 ||
            json_object_set_new(body, "root_hash", json_string(root)) == -1 ||
            json_object_set_new(body, "time", json_string(head->time)) == -1 ||
            b64_field(body, "ttp_sig", head->sig, head->sig_len) == -1 ||
            b64_field(body, "timestamp_token", head->token, head->token_len) ==
                -1 ||
            json_object_set_new(body, "tsa_chain",
                                json_deep_copy(t->e->tsa_chain)) == -1) {
                snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                return -1;
        }
        return 0;
}

/*
 * Insert a row of `q`'s statement: queued for the batch's bulk write, or
 * at once after a bulk write failed (struct batch).  -1 (t->dberr).
 */
static int row_insert(struct txn *t, struct rowq *q, const struct db_val *vals)
{
        if (t->e->batch.rows_now)
                return db_exec(t->e->db, q->stmt, vals, q->nparams, NULL,
                               t->dberr, sizeof(t->dberr));
        return rowq_add(q, vals, t->dberr, sizeof(t->dberr));
}

/* The queued exchange rows, written now (in the open transaction). */
static int rows_flush(struct engine *e, char *err, size_t errlen)
{
        if (rowq_flush(&e->batch.ongoing, e->db, err, errlen) == -1 ||
            rowq_flush(&e->batch.completed, e->db, err, errlen) == -1)
                return -1;
        return 0;
}

/* Rows added by handlers in the batch, queued or written. */
static uint64_t rows_added(const struct engine *e)
{
        return rowq_added(&e->batch.ongoing) + rowq_added(&e->batch.completed) +
               evlog_appended(e->log);
}

/*
 * Before a handler other than the exchange's own: the queued exchange
 * rows are written, as it may read their tables (abort does).  -1
 * (t->dberr).
 */
static int rows_before(struct txn *t)
{
        if (t->m->type == PROTO_DOWNLOAD_REQUEST ||
            t->m->type == PROTO_DOWNLOAD_RECEIPT)
                return 0;
        return rows_flush(t->e, t->dberr, sizeof(t->dberr));
}

/* ---- register ---------------------------------------------------------- */

static enum verdict h_register(struct txn *t)
{
        const struct proto_msg *m = t->m;
        const struct proto_value *pk = &m->f[PF_PUBLIC_KEY];
        unsigned char stored[PROTO_PUBKEY_MAX], key_id_bin[32];
        char key_id[CRYPTO_KEY_ID_LEN + 1], owner[IDS_USER_MAX + 1];
        struct db_out col = DB_OUT_BIN(stored);
        struct db_out owner_col = DB_OUT_STR(owner);
        struct crypto_key *key = NULL;
        enum verdict v = V_DB;
        char *tbs = NULL;
        size_t tbslen, n;
        int found;

        if (crypto_pubkey_from_der(pk->bin, pk->bin_len, &key, t->why,
                                   sizeof(t->why)) == -1) {
                v = reject(t, PROTO_BAD_SCHEMA, "body.public_key: %s", t->why);
                goto done;
        }
        if (proto_request_tbs(m, &tbs, &tbslen, t->why, sizeof(t->why)) == -1) {
                v = reject(t, PROTO_BAD_SCHEMA, "%s", t->why);
                goto done;
        }
        if (crypto_verify(key, tbs, tbslen, m->sig.bin, m->sig.bin_len, NULL,
                          0) != 0) {
                v = reject(t, PROTO_BAD_SIGNATURE,
                           "sig does not verify under body.public_key");
                goto done;
        }
        if (crypto_key_id(key, key_id, t->dberr, sizeof(t->dberr)) == -1 ||
            hex_decode(key_id, CRYPTO_KEY_ID_LEN, HEX_LOWER_ONLY, key_id_bin,
                       sizeof(key_id_bin), &n, t->dberr,
                       sizeof(t->dberr)) == -1)
                goto done;
        {
                struct db_val arg = DB_STR(m->user);
                if (db_query(t->e->db, DB_USER_LOCK, &arg, 1, &col, 1, NULL,
                             NULL, &found, t->dberr, sizeof(t->dberr)) == -1)
                        goto done;
        }
        if (found) {
                if (col.len != pk->bin_len ||
                    memcmp(stored, pk->bin, col.len) != 0) {
                        v = reject(t, PROTO_KEY_CONFLICT,
                                   "user %s is registered with another key",
                                   m->user);
                        goto done;
                }
        } else {
                struct db_val arg = DB_BIN(key_id_bin, sizeof(key_id_bin));
                struct db_val add[3] = {DB_STR(m->user),
                                        DB_BIN(pk->bin, pk->bin_len),
                                        DB_BIN(key_id_bin, 32)};

                if (db_query(t->e->db, DB_USER_BY_KEY, &arg, 1, &owner_col, 1,
                             NULL, NULL, &found, t->dberr,
                             sizeof(t->dberr)) == -1)
                        goto done;
                if (found) {
                        v = reject(t, PROTO_KEY_CONFLICT,
                                   "this key is registered to another user");
                        goto done;
                }
                if (db_exec(t->e->db, DB_USER_ADD, add, 3, NULL, t->dberr,
                            sizeof(t->dberr)) == -1)
                        goto done;
        }
        if (reply_add(t, m->user, PROTO_REGISTER_RESULT,
                      json_pack("{s:s}", "key_id", key_id)) == -1)
                goto done;
        v = V_OK;
done:
        free(tbs);
        crypto_key_free(key);
        return v;
}

/*
 * Single use, enforced by the database: the ongoing row must be deleted
 * by exactly this statement (one row) and the nonce must enter
 * used_nonces for the first time.  V_OK, V_REJECT (nonce_invalid) or
 * V_DB.
 */
static enum verdict nonce_consume(struct txn *t, enum db_stmt del,
                                  const struct db_val *args, size_t nargs,
                                  const unsigned char *nonce)
{
        struct db_val use = DB_BIN(nonce, PROTO_NONCE_LEN);
        uint64_t affected;

        if (db_exec(t->e->db, del, args, nargs, &affected, t->dberr,
                    sizeof(t->dberr)) == -1)
                return V_DB;
        if (affected != 1)
                return reject(t, PROTO_NONCE_INVALID,
                              "the nonce was used meanwhile");
        if (db_exec(t->e->db, DB_NONCE_USE, &use, 1, NULL, t->dberr,
                    sizeof(t->dberr)) == -1) {
                if (db_error_is_duplicate(db_errno(t->e->db)))
                        return reject(t, PROTO_NONCE_INVALID,
                                      "the nonce was used before");
                return V_DB;
        }
        return V_OK;
}

/* ---- upload ------------------------------------------------------------ */

static int file_taken(struct txn *t, const char *file_id, int *taken)
{
        struct db_val args[3] = {DB_STR(file_id), DB_STR(file_id),
                                 DB_STR(file_id)};
        struct db_out col = DB_OUT_I64();
        int found;

        if (db_query(t->e->db, DB_FILE_TAKEN, args, 3, &col, 1, NULL, NULL,
                     &found, t->dberr, sizeof(t->dberr)) == -1)
                return -1;
        *taken = found && col.i != 0;
        return 0;
}

static enum verdict h_upload_request(struct txn *t)
{
        const struct proto_msg *m = t->m;
        const char *file_id = m->f[PF_FILE_ID].str;
        const struct proto_value *name = &m->f[PF_NAME];
        char incoming[PROTO_PATH_MAX + 1], object[PROTO_PATH_MAX + 1];
        char expires[IDS_TIME_LEN + 1];
        unsigned char nonce[PROTO_NONCE_LEN];
        struct keycache_entry key;
        enum verdict v;
        time_t expires_at = t->now + (time_t)t->e->conf->nonce_ttl;
        json_t *body;
        int taken;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        if (file_taken(t, file_id, &taken) == -1)
                return V_DB;
        if (taken)
                return reject(t, PROTO_FILE_EXISTS,
                              "file_id %s is already taken", file_id);
        if (crypto_random(nonce, sizeof(nonce), t->dberr, sizeof(t->dberr)) ==
                -1 ||
            store_object_name(object, sizeof(object), t->dberr,
                              sizeof(t->dberr)) == -1 ||
            store_incoming_prepare(t->e->store, m->user, file_id, incoming,
                                   sizeof(incoming), t->dberr,
                                   sizeof(t->dberr)) == -1)
                return reject(t, PROTO_INTERNAL, "store: %s", t->dberr);
        {
                struct db_val add[9] = {DB_STR(file_id),
                                        DB_STR(m->user),
                                        DB_BIN(name->str, strlen(name->str)),
                                        DB_I64(m->f[PF_SIZE].num),
                                        DB_BIN(nonce, sizeof(nonce)),
                                        DB_STR(incoming),
                                        DB_STR(object),
                                        DB_I64(t->now),
                                        DB_I64(expires_at)};
                if (db_exec(t->e->db, DB_UPLOAD_ONGOING_ADD, add, 9, NULL,
                            t->dberr, sizeof(t->dberr)) == -1)
                        return V_DB;
        }
        body = json_pack("{s:s, s:n, s:s, s:s, s:s}", "file_id", file_id,
                         "nonce", "key_id", key.key_id, "incoming_path",
                         incoming, "expires_at", time_str(expires_at, expires));
        if (body == NULL ||
            b64_field(body, "nonce", nonce, sizeof(nonce)) == -1) {
                json_decref(body);
                snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                return V_DB;
        }
        if (reply_add(t, m->user, PROTO_UPLOAD_CHALLENGE, body) == -1)
                return V_DB;
        return V_OK;
}

/* An upload.result with verified false: the upload stays ongoing. */
static enum verdict upload_refused(struct txn *t, enum proto_code code,
                                   const char *detail)
{
        const struct proto_msg *m = t->m;

        log_info("upload %s by %s not verified: %s (%s)", m->f[PF_FILE_ID].str,
                 m->user, proto_code_name(code), detail);
        if (reply_add(t, m->user, PROTO_UPLOAD_RESULT,
                      json_pack("{s:s, s:b, s:s, s:s, s:s}", "file_id",
                                m->f[PF_FILE_ID].str, "verified", 0, "reason",
                                proto_code_name(code), "sha256",
                                m->f[PF_SHA256].str, "time", t->now_str)) == -1)
                return V_DB;
        return V_VERDICT;
}

/* Where a nonce or file of a non-ongoing upload went: for the code. */
static enum verdict upload_not_ongoing(struct txn *t, const char *file_id)
{
        int taken;

        if (file_taken(t, file_id, &taken) == -1)
                return V_DB;
        if (taken)
                return reject(t, PROTO_NONCE_INVALID,
                              "no upload of %s is waiting for a commit",
                              file_id);
        return reject(t, PROTO_UNKNOWN_FILE, "no upload of %s", file_id);
}

static enum verdict h_upload_commit(struct txn *t)
{
        const struct proto_msg *m = t->m;
        const char *file_id = m->f[PF_FILE_ID].str;
        const struct proto_value *nonce = &m->f[PF_NONCE];
        const struct proto_value *nro = &m->f[PF_NRO];
        char uploader[IDS_USER_MAX + 1], incoming[PROTO_PATH_MAX + 1];
        char object[PROTO_PATH_MAX + 1], name[PROTO_NAME_MAX + 1];
        char size_str[32], nro_sha256[65], *tbs = NULL, *ttp_sig = NULL;
        unsigned char stored_nonce[PROTO_NONCE_LEN + 8], nro_hash[32];
        unsigned char sig[PROTO_SIG_MAX];
        struct tbs_evidence ev;
        size_t siglen;
        struct db_out cols[6] = {DB_OUT_STR(uploader), DB_OUT_BIN(stored_nonce),
                                 DB_OUT_STR(incoming), DB_OUT_STR(object),
                                 DB_OUT_I64(),         DB_OUT_BIN(name)};
        struct tbs_nro nro_fields;
        struct keycache_entry key;
        enum store_result sr;
        enum verdict v;
        size_t tbslen;
        int found, rc;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        {
                struct db_val arg = DB_STR(file_id);
                if (db_query(t->e->db, DB_UPLOAD_ONGOING_LOCK, &arg, 1, cols, 6,
                             NULL, NULL, &found, t->dberr,
                             sizeof(t->dberr)) == -1)
                        return V_DB;
        }
        if (!found)
                return upload_not_ongoing(t, file_id);
        if (strcmp(uploader, m->user) != 0)
                return reject(t, PROTO_NOT_OWNER,
                              "the upload of %s belongs to another user",
                              file_id);
        if (cols[1].len != PROTO_NONCE_LEN ||
            memcmp(stored_nonce, nonce->bin, PROTO_NONCE_LEN) != 0)
                return reject(t, PROTO_NONCE_INVALID,
                              "nonce was not issued for this upload");
        if (cols[4].i <= (int64_t)t->now)
                return reject(t, PROTO_NONCE_EXPIRED,
                              "the upload nonce expired");
        snprintf(size_str, sizeof(size_str), "%llu",
                 (unsigned long long)m->f[PF_SIZE].num);
        nro_fields = (struct tbs_nro){file_id, m->user, m->f[PF_SHA256].str,
                                      size_str, nonce->str};
        if (tbs_nro(&nro_fields, &tbs, &tbslen, t->why, sizeof(t->why)) == -1)
                return reject(t, PROTO_BAD_SCHEMA, "%s", t->why);
        rc = crypto_verify(key.key, tbs, tbslen, nro->bin, nro->bin_len, NULL,
                           0);
        free(tbs);
        if (rc != 0)
                return reject(t, PROTO_BAD_SIGNATURE,
                              "nro does not verify under the key of %s",
                              m->user);
        if (strcmp(m->f[PF_PATH].str, incoming) != 0)
                return upload_refused(t, PROTO_BAD_PATH,
                                      "path is not the issued incoming_path");
        sr = store_verify_copy(t->e->store, incoming, object, m->f[PF_SIZE].num,
                               m->f[PF_SHA256].bin, t->why, sizeof(t->why));
        if (sr == STORE_BAD_PATH)
                return upload_refused(t, PROTO_BAD_PATH, t->why);
        if (sr == STORE_HASH_MISMATCH)
                return upload_refused(t, PROTO_HASH_MISMATCH, t->why);
        if (sr != STORE_OK)
                return reject(t, PROTO_INTERNAL, "store: %s", t->why);
        /* From here on a failure must not leave the object behind. */
        cleanup_add(t, incoming);
        if (crypto_sha256(nro->bin, nro->bin_len, nro_hash, t->dberr,
                          sizeof(t->dberr)) == -1)
                goto fail;
        hex32(nro_hash, nro_sha256);
        ev = (struct tbs_evidence){
            "upload",   file_id, m->user,   "", m->f[PF_SHA256].str,
            nro_sha256, "",      t->now_str};
        if ((ttp_sig = sign_evidence(t, &ev, sig, &siglen)) == NULL)
                goto fail;
        {
                struct db_val del[2] = {DB_STR(file_id),
                                        DB_BIN(nonce->bin, PROTO_NONCE_LEN)};
                struct db_val add[11] = {DB_STR(file_id),
                                         DB_STR(m->user),
                                         DB_BIN(name, cols[5].len),
                                         DB_I64(m->f[PF_SIZE].num),
                                         DB_BIN(m->f[PF_SHA256].bin, 32),
                                         DB_BIN(nonce->bin, PROTO_NONCE_LEN),
                                         DB_BIN(nro->bin, nro->bin_len),
                                         DB_BIN(nro_hash, 32),
                                         DB_STR(object),
                                         DB_BIN(sig, siglen),
                                         DB_I64(t->now)};

                if ((v = nonce_consume(t, DB_UPLOAD_ONGOING_DEL_NONCE, del, 2,
                                       nonce->bin)) != V_OK)
                        goto out;
                if (db_exec(t->e->db, DB_UPLOAD_DONE_ADD, add, 11, NULL,
                            t->dberr, sizeof(t->dberr)) == -1)
                        goto fail;
        }
        {
                struct tbs_leaf leaf = {.event = "upload",
                                        .file_id = file_id,
                                        .uploader = m->user,
                                        .uploader_key_id = key.key_id,
                                        .sha256 = m->f[PF_SHA256].str,
                                        .size = size_str,
                                        .upload_nonce = nonce->str,
                                        .nro_sha256 = nro_sha256};
                if (log_leaf(t, &leaf, sig, siglen) == -1)
                        goto fail;
        }
        if (reply_add(t, m->user, PROTO_UPLOAD_RESULT,
                      json_pack("{s:s, s:b, s:s, s:s, s:s}", "file_id", file_id,
                                "verified", 1, "sha256", m->f[PF_SHA256].str,
                                "time", t->now_str, "ttp_sig", ttp_sig)) == -1)
                goto fail;
        v = V_OK;
        goto out;
fail:
        v = V_DB;
out:
        if (v != V_OK) {
                char ignored[256];
                /* The object must exist only for a committed upload. */
                t->ncleanup = 0;
                if (store_remove(t->e->store, object, ignored,
                                 sizeof(ignored)) == -1)
                        log_warnx("store: %s", ignored);
        }
        free(ttp_sig);
        return v;
}

/* ---- download ---------------------------------------------------------- */

struct completed_upload {
        char uploader[IDS_USER_MAX + 1];
        unsigned char sha256[32];
        unsigned char upload_nonce[PROTO_NONCE_LEN + 8];
        unsigned char nro[PROTO_SIG_MAX + 8];
        unsigned char nro_sha256[32];
        char object_path[PROTO_PATH_MAX + 1];
        int64_t size;
        size_t nro_len;
        int aborted;
};

/* 1 found, 0 not, -1 database error; locks the row. */
static int completed_upload_lock(struct txn *t, const char *file_id,
                                 struct completed_upload *u)
{
        struct db_out cols[8] = {
            DB_OUT_STR(u->uploader),    DB_OUT_I64(),
            DB_OUT_BIN(u->sha256),      DB_OUT_BIN(u->upload_nonce),
            DB_OUT_BIN(u->nro),         DB_OUT_BIN(u->nro_sha256),
            DB_OUT_STR(u->object_path), DB_OUT_I64()};
        struct db_val arg = DB_STR(file_id);
        int found;

        if (db_query(t->e->db, DB_UPLOAD_DONE_LOCK, &arg, 1, cols, 8, NULL,
                     NULL, &found, t->dberr, sizeof(t->dberr)) == -1)
                return -1;
        u->size = cols[1].i;
        u->nro_len = cols[4].len;
        u->aborted = cols[7].i != 0;
        return found;
}

/* 1 if `file_id` was aborted, 0 if not, -1 database error. */
static int file_aborted(struct txn *t, const char *file_id)
{
        struct db_val arg = DB_STR(file_id);
        struct db_out col = DB_OUT_I64();
        int found;

        if (db_query(t->e->db, DB_ABORT_GET, &arg, 1, &col, 1, NULL, NULL,
                     &found, t->dberr, sizeof(t->dberr)) == -1)
                return -1;
        return found;
}

static enum verdict h_download_request(struct txn *t)
{
        const struct proto_msg *m = t->m;
        const char *file_id = m->f[PF_FILE_ID].str;
        unsigned char nonce[PROTO_NONCE_LEN];
        char sha256[65], expires[IDS_TIME_LEN + 1];
        struct keycache_entry key, up_key;
        struct completed_upload u;
        time_t expires_at = t->now + (time_t)t->e->conf->nonce_ttl;
        enum verdict v;
        json_t *body;
        int rc;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        if ((rc = completed_upload_lock(t, file_id, &u)) == -1)
                return V_DB;
        if (rc == 0) {
                if ((rc = file_aborted(t, file_id)) == -1)
                        return V_DB;
                if (rc == 1)
                        return reject(t, PROTO_FILE_ABORTED,
                                      "%s was aborted by its uploader",
                                      file_id);
                return reject(t, PROTO_UNKNOWN_FILE, "no verified upload %s",
                              file_id);
        }
        if (u.aborted)
                return reject(t, PROTO_FILE_ABORTED,
                              "%s was aborted by its uploader", file_id);
        if ((rc = user_key(t, u.uploader, &up_key)) != 1) {
                if (rc == 0)
                        snprintf(t->dberr, sizeof(t->dberr),
                                 "uploader %s of %s has no key", u.uploader,
                                 file_id);
                return V_DB;
        }
        if (crypto_random(nonce, sizeof(nonce), t->dberr, sizeof(t->dberr)) ==
            -1)
                return V_DB;
        {
                struct db_val add[5] = {DB_BIN(nonce, sizeof(nonce)),
                                        DB_STR(file_id), DB_STR(m->user),
                                        DB_I64(t->now), DB_I64(expires_at)};
                if (row_insert(t, &t->e->batch.ongoing, add) == -1)
                        return V_DB;
        }
        hex32(u.sha256, sha256);
        body = json_pack(
            "{s:s, s:n, s:s, s:s, s:n, s:s, s:I, s:n, s:n, s:s}", "file_id",
            file_id, "nonce", "key_id", key.key_id, "uploader", u.uploader,
            "uploader_public_key", "sha256", sha256, "size", (json_int_t)u.size,
            "nro", "upload_nonce", "expires_at", time_str(expires_at, expires));
        if (body == NULL ||
            b64_field(body, "nonce", nonce, sizeof(nonce)) == -1 ||
            b64_field(body, "uploader_public_key", up_key.der,
                      up_key.der_len) == -1 ||
            b64_field(body, "nro", u.nro, u.nro_len) == -1 ||
            b64_field(body, "upload_nonce", u.upload_nonce, PROTO_NONCE_LEN) ==
                -1) {
                json_decref(body);
                snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                return V_DB;
        }
        if (reply_add(t, m->user, PROTO_DOWNLOAD_CHALLENGE, body) == -1)
                return V_DB;
        return V_OK;
}

static enum verdict h_download_receipt(struct txn *t)
{
        const struct proto_msg *m = t->m;
        const char *file_id = m->f[PF_FILE_ID].str;
        const struct proto_value *nonce = &m->f[PF_NONCE];
        const struct proto_value *nrr = &m->f[PF_NRR];
        char row_file[IDS_FILE_ID_MAX + 1], row_user[IDS_USER_MAX + 1];
        char sha256[65], nro_sha256[65], nrr_sha256[65];
        char *tbs = NULL, *ttp_sig = NULL;
        unsigned char nrr_hash[32], sig[PROTO_SIG_MAX];
        struct tbs_evidence ev;
        struct db_out cols[3] = {DB_OUT_STR(row_file), DB_OUT_STR(row_user),
                                 DB_OUT_I64()};
        struct db_val nonce_arg = DB_BIN(nonce->bin, PROTO_NONCE_LEN);
        struct keycache_entry key;
        struct completed_upload u;
        struct tbs_nrr nrr_fields;
        enum verdict v;
        size_t tbslen, siglen;
        json_t *receipt = NULL, *delivery = NULL;
        int found, rc;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        if (db_query(t->e->db, DB_DOWNLOAD_ONGOING_LOCK, &nonce_arg, 1, cols, 3,
                     NULL, NULL, &found, t->dberr, sizeof(t->dberr)) == -1)
                return V_DB;
        if (!found) {
                if ((rc = file_aborted(t, file_id)) == -1)
                        return V_DB;
                if (rc == 1)
                        return reject(t, PROTO_FILE_ABORTED,
                                      "%s was aborted by its uploader",
                                      file_id);
                return reject(t, PROTO_NONCE_INVALID,
                              "no download is waiting with this nonce");
        }
        if (strcmp(row_file, file_id) != 0 || strcmp(row_user, m->user) != 0)
                return reject(t, PROTO_NONCE_INVALID,
                              "the nonce was issued for another download");
        if (cols[2].i <= (int64_t)t->now)
                return reject(t, PROTO_NONCE_EXPIRED,
                              "the download nonce expired");
        if ((rc = completed_upload_lock(t, file_id, &u)) == -1)
                return V_DB;
        if (rc == 0 || u.aborted)
                return reject(t, PROTO_FILE_ABORTED,
                              "%s was aborted by its uploader", file_id);
        hex32(u.sha256, sha256);
        hex32(u.nro_sha256, nro_sha256);
        nrr_fields =
            (struct tbs_nrr){file_id, m->user, sha256, nro_sha256, nonce->str};
        if (tbs_nrr(&nrr_fields, &tbs, &tbslen, t->why, sizeof(t->why)) == -1)
                return reject(t, PROTO_BAD_SCHEMA, "%s", t->why);
        rc = crypto_verify(key.key, tbs, tbslen, nrr->bin, nrr->bin_len, NULL,
                           0);
        free(tbs);
        if (rc != 0)
                return reject(t, PROTO_BAD_SIGNATURE,
                              "nrr does not verify under the key of %s over "
                              "the stored NRO",
                              m->user);
        if (crypto_sha256(nrr->bin, nrr->bin_len, nrr_hash, t->dberr,
                          sizeof(t->dberr)) == -1)
                return V_DB;
        hex32(nrr_hash, nrr_sha256);
        ev = (struct tbs_evidence){"exchange", file_id,   u.uploader,
                                   m->user,    sha256,    nro_sha256,
                                   nrr_sha256, t->now_str};
        if ((ttp_sig = sign_evidence(t, &ev, sig, &siglen)) == NULL)
                goto fail;
        if ((v = nonce_consume(t, DB_DOWNLOAD_ONGOING_DEL, &nonce_arg, 1,
                               nonce->bin)) != V_OK)
                goto out;
        {
                struct db_val add[7] = {DB_BIN(nonce->bin, PROTO_NONCE_LEN),
                                        DB_STR(file_id),
                                        DB_STR(m->user),
                                        DB_BIN(nrr->bin, nrr->bin_len),
                                        DB_BIN(nrr_hash, 32),
                                        DB_BIN(sig, siglen),
                                        DB_I64(t->now)};
                if (row_insert(t, &t->e->batch.completed, add) == -1)
                        goto fail;
        }
        {
                struct keycache_entry up_key;
                char size_str[32], *upload_nonce;
                struct tbs_leaf leaf;

                if ((rc = user_key(t, u.uploader, &up_key)) != 1) {
                        if (rc == 0)
                                snprintf(t->dberr, sizeof(t->dberr),
                                         "uploader %s of %s has no key",
                                         u.uploader, file_id);
                        goto fail;
                }
                snprintf(size_str, sizeof(size_str), "%lld", (long long)u.size);
                upload_nonce = base64_encode(u.upload_nonce, PROTO_NONCE_LEN);
                if (upload_nonce == NULL) {
                        snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                        goto fail;
                }
                leaf = (struct tbs_leaf){.event = "exchange",
                                         .file_id = file_id,
                                         .uploader = u.uploader,
                                         .uploader_key_id = up_key.key_id,
                                         .downloader = m->user,
                                         .downloader_key_id = key.key_id,
                                         .sha256 = sha256,
                                         .size = size_str,
                                         .upload_nonce = upload_nonce,
                                         .download_nonce = nonce->str,
                                         .nro_sha256 = nro_sha256,
                                         .nrr_sha256 = nrr_sha256};
                rc = log_leaf(t, &leaf, sig, siglen);
                free(upload_nonce);
                if (rc == -1)
                        goto fail;
        }
        /* Step 7 to A and step 8 to B, queued in this one transaction. */
        receipt = json_pack(
            "{s:s, s:s, s:n, s:s, s:s, s:s, s:s, s:s, s:s}", "file_id", file_id,
            "downloader", m->user, "downloader_public_key", "sha256", sha256,
            "nro_sha256", nro_sha256, "nonce", nonce->str, "nrr", nrr->str,
            "time", t->now_str, "ttp_sig", ttp_sig);
        delivery =
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:n, s:n, s:s, s:s, "
                      "s:s}",
                      "file_id", file_id, "nonce", nonce->str, "uploader",
                      u.uploader, "sha256", sha256, "size", (json_int_t)u.size,
                      "nro", "upload_nonce", "object_path", u.object_path,
                      "time", t->now_str, "ttp_sig", ttp_sig);
        if (receipt == NULL || delivery == NULL ||
            b64_field(receipt, "downloader_public_key", key.der, key.der_len) ==
                -1 ||
            b64_field(delivery, "nro", u.nro, u.nro_len) == -1 ||
            b64_field(delivery, "upload_nonce", u.upload_nonce,
                      PROTO_NONCE_LEN) == -1) {
                snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                goto fail;
        }
        rc = reply_add(t, u.uploader, PROTO_RECEIPT, receipt);
        receipt = NULL;
        if (rc == -1)
                goto fail;
        rc = reply_add(t, m->user, PROTO_DELIVERY, delivery);
        delivery = NULL;
        if (rc == -1)
                goto fail;
        t->crash_after_commit = 1;
        v = V_OK;
        goto out;
fail:
        v = V_DB;
out:
        json_decref(receipt);
        json_decref(delivery);
        free(ttp_sig);
        return v;
}

/* ---- abort ------------------------------------------------------------- */

struct cancel_ctx {
        struct txn *t;
        const char *file_id;
        int failed;
};

static int cancel_one(void *ctx, const struct db_out *cols)
{
        struct cancel_ctx *c = ctx;

        if (reply_add(c->t, cols[0].buf, PROTO_DOWNLOAD_CANCELLED,
                      json_pack("{s:s, s:s}", "file_id", c->file_id, "reason",
                                proto_code_name(PROTO_FILE_ABORTED))) == -1) {
                c->failed = 1;
                return -1;
        }
        return 0;
}

/* Tell every B with a pending download, then drop those downloads. */
static int cancel_pending(struct txn *t, const char *file_id)
{
        char downloader[IDS_USER_MAX + 1];
        struct db_out col = DB_OUT_STR(downloader);
        struct db_val arg = DB_STR(file_id);
        struct cancel_ctx ctx = {t, file_id, 0};
        int found;

        if (db_query(t->e->db, DB_DOWNLOAD_PENDING_FOR_FILE, &arg, 1, &col, 1,
                     cancel_one, &ctx, &found, t->dberr,
                     sizeof(t->dberr)) == -1)
                return -1;
        return db_exec(t->e->db, DB_DOWNLOAD_PENDING_DEL_FILE, &arg, 1, NULL,
                       t->dberr, sizeof(t->dberr));
}

static enum verdict h_abort(struct txn *t)
{
        const struct proto_msg *m = t->m;
        const char *file_id = m->f[PF_FILE_ID].str;
        char uploader[IDS_USER_MAX + 1], incoming[PROTO_PATH_MAX + 1];
        char object[PROTO_PATH_MAX + 1], sha256[65] = "", nro_sha256[65] = "";
        unsigned char nonce[PROTO_NONCE_LEN + 8], name[PROTO_NAME_MAX + 1];
        struct db_out ongoing[6] = {DB_OUT_STR(uploader), DB_OUT_BIN(nonce),
                                    DB_OUT_STR(incoming), DB_OUT_STR(object),
                                    DB_OUT_I64(),         DB_OUT_BIN(name)};
        struct db_val arg = DB_STR(file_id);
        struct db_out count = DB_OUT_I64();
        struct keycache_entry key;
        struct completed_upload u;
        unsigned char sig[PROTO_SIG_MAX];
        struct tbs_evidence ev;
        char *ttp_sig = NULL;
        enum verdict v;
        size_t siglen;
        int outcome, found, rc;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        if ((rc = file_aborted(t, file_id)) == -1)
                return V_DB;
        if (rc == 1)
                return reject(t, PROTO_FILE_ABORTED, "%s was aborted already",
                              file_id);
        if (db_query(t->e->db, DB_UPLOAD_ONGOING_LOCK, &arg, 1, ongoing, 6,
                     NULL, NULL, &found, t->dberr, sizeof(t->dberr)) == -1)
                return V_DB;
        if (found) {
                if (strcmp(uploader, m->user) != 0)
                        return reject(t, PROTO_NOT_OWNER,
                                      "%s belongs to another user", file_id);
                if (db_exec(t->e->db, DB_UPLOAD_ONGOING_DEL, &arg, 1, NULL,
                            t->dberr, sizeof(t->dberr)) == -1)
                        return V_DB;
                cleanup_add(t, incoming);
                cleanup_add(t, object);
                outcome = 1;
        } else {
                if ((rc = completed_upload_lock(t, file_id, &u)) == -1)
                        return V_DB;
                if (rc == 0)
                        return reject(t, PROTO_UNKNOWN_FILE, "no upload %s",
                                      file_id);
                if (strcmp(u.uploader, m->user) != 0)
                        return reject(t, PROTO_NOT_OWNER,
                                      "%s belongs to another user", file_id);
                hex32(u.sha256, sha256);
                hex32(u.nro_sha256, nro_sha256);
                if (db_query(t->e->db, DB_DOWNLOAD_DONE_COUNT, &arg, 1, &count,
                             1, NULL, NULL, &found, t->dberr,
                             sizeof(t->dberr)) == -1 ||
                    cancel_pending(t, file_id) == -1)
                        return V_DB;
                if (count.i == 0) {
                        if (db_exec(t->e->db, DB_UPLOAD_DONE_DEL, &arg, 1, NULL,
                                    t->dberr, sizeof(t->dberr)) == -1)
                                return V_DB;
                        cleanup_add(t, u.object_path);
                        outcome = 2;
                } else {
                        struct db_val upd[2] = {DB_I64(t->now),
                                                DB_STR(file_id)};
                        if (db_exec(t->e->db, DB_UPLOAD_DONE_ABORT, upd, 2,
                                    NULL, t->dberr, sizeof(t->dberr)) == -1)
                                return V_DB;
                        outcome = 3;
                }
        }
        ev = (struct tbs_evidence){"abort", file_id,    m->user, "",
                                   sha256,  nro_sha256, "",      t->now_str};
        if ((ttp_sig = sign_evidence(t, &ev, sig, &siglen)) == NULL)
                goto fail;
        {
                struct db_val add[5] = {DB_STR(file_id), DB_STR(m->user),
                                        DB_I64(outcome), DB_BIN(sig, siglen),
                                        DB_I64(t->now)};
                if (db_exec(t->e->db, DB_ABORT_ADD, add, 5, NULL, t->dberr,
                            sizeof(t->dberr)) == -1)
                        goto fail;
        }
        {
                char outcome_str[4];
                struct tbs_leaf leaf = {.event = "abort",
                                        .file_id = file_id,
                                        .uploader = m->user,
                                        .uploader_key_id = key.key_id,
                                        .sha256 = sha256,
                                        .nro_sha256 = nro_sha256,
                                        .abort = outcome_str};

                snprintf(outcome_str, sizeof(outcome_str), "%d", outcome);
                if (log_leaf(t, &leaf, sig, siglen) == -1)
                        goto fail;
        }
        if (reply_add(t, m->user, PROTO_ABORT_RESULT,
                      json_pack("{s:s, s:i, s:s, s:s}", "file_id", file_id,
                                "abort", outcome, "time", t->now_str, "ttp_sig",
                                ttp_sig)) == -1)
                goto fail;
        v = V_OK;
        goto out;
fail:
        v = V_DB;
out:
        free(ttp_sig);
        return v;
}

/* ---- catalog ----------------------------------------------------------- */

struct catalog_ctx {
        json_t *files;
        size_t bytes;
};

static int catalog_row(void *ctx, const struct db_out *cols)
{
        struct catalog_ctx *c = ctx;
        char sha256[65], when[IDS_TIME_LEN + 1];
        json_t *entry;

        if (cols[3].len != 32)
                return -1;
        /* Stay well inside the 1 MiB message limit. */
        if (c->bytes + cols[1].len + 300 > ENGINE_CATALOG_BYTES)
                return 0;
        hex32(cols[3].buf, sha256);
        entry = json_pack("{s:s, s:s%, s:s, s:s, s:I, s:s}", "file_id",
                          (const char *)cols[0].buf, "name",
                          (const char *)cols[1].buf, cols[1].len, "uploader",
                          (const char *)cols[2].buf, "sha256", sha256, "size",
                          (json_int_t)cols[4].i, "uploaded_at",
                          time_str((time_t)cols[5].i, when));
        if (entry == NULL || json_array_append_new(c->files, entry) == -1)
                return -1;
        c->bytes += cols[1].len + 300;
        return 0;
}

static enum verdict h_catalog_request(struct txn *t)
{
        char file_id[IDS_FILE_ID_MAX + 1], name[PROTO_NAME_MAX + 1];
        char uploader[IDS_USER_MAX + 1];
        unsigned char sha256[32];
        struct db_out cols[6] = {DB_OUT_STR(file_id),  DB_OUT_STR(name),
                                 DB_OUT_STR(uploader), DB_OUT_BIN(sha256),
                                 DB_OUT_I64(),         DB_OUT_I64()};
        struct db_val limit = DB_I64(PROTO_CATALOG_MAX);
        struct catalog_ctx ctx = {json_array(), 0};
        struct keycache_entry key;
        enum verdict v;
        int found;

        if ((v = check_sender(t, &key)) != V_OK) {
                json_decref(ctx.files);
                return v;
        }
        if (ctx.files == NULL ||
            db_query(t->e->db, DB_CATALOG, &limit, 1, cols, 6, catalog_row,
                     &ctx, &found, t->dberr, sizeof(t->dberr)) == -1) {
                json_decref(ctx.files);
                return V_DB;
        }
        if (reply_add(t, t->m->user, PROTO_CATALOG,
                      json_pack("{s:o}", "files", ctx.files)) == -1)
                return V_DB;
        return V_OK;
}

/* ---- the transaction around a message ---------------------------------- */

/* ---- evidence log ------------------------------------------------------ */

static enum verdict h_log_head_request(struct txn *t)
{
        struct keycache_entry key;
        struct evlog_head head;
        enum verdict v;
        json_t *body;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        if (evlog_head(t->e->log, t->now, &head, NULL, t->dberr,
                       sizeof(t->dberr)) == -1)
                return V_DB;
        if ((body = json_object()) == NULL ||
            head_fields(t, body, &head) == -1) {
                json_decref(body);
                return V_DB;
        }
        return reply_add(t, t->m->user, PROTO_LOG_HEAD, body) == -1 ? V_DB
                                                                    : V_OK;
}

static enum verdict h_log_proof_request(struct txn *t)
{
        const struct proto_value *leaf_hash = &t->m->f[PF_LEAF_HASH];
        merkle_hash proof[MERKLE_MAX_PROOF];
        struct keycache_entry key;
        struct evlog_head head;
        json_t *body, *path;
        uint64_t index;
        size_t len;
        enum verdict v;
        int rc;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        if ((rc = evlog_find_leaf(t->e->log, leaf_hash->bin, &index, t->dberr,
                                  sizeof(t->dberr))) == -1)
                return V_DB;
        if (rc == 0)
                return reject(t, PROTO_UNKNOWN_LEAF,
                              "no leaf with this hash in the evidence log");
        if (evlog_head_covering(t->e->log, index, t->now, &head, t->dberr,
                                sizeof(t->dberr)) == -1 ||
            evlog_inclusion_proof(t->e->log, index, head.tree_size, proof, &len,
                                  t->dberr, sizeof(t->dberr)) == -1)
                return V_DB;
        if ((body = json_pack("{s:s, s:I, s:[]}", "leaf_hash", leaf_hash->str,
                              "leaf_index", (json_int_t)index, "proof")) ==
                NULL ||
            head_fields(t, body, &head) == -1)
                goto oom;
        path = json_object_get(body, "proof");
        for (size_t i = 0; i < len; i++) {
                char hex[65];
                hex32(proof[i], hex);
                if (json_array_append_new(path, json_string(hex)) == -1)
                        goto oom;
        }
        return reply_add(t, t->m->user, PROTO_LOG_PROOF, body) == -1 ? V_DB
                                                                     : V_OK;
oom:
        json_decref(body);
        snprintf(t->dberr, sizeof(t->dberr), "out of memory");
        return V_DB;
}

static enum verdict h_log_consistency_request(struct txn *t)
{
        uint64_t first = t->m->f[PF_FIRST].num, second = t->m->f[PF_SECOND].num;
        merkle_hash proof[MERKLE_MAX_PROOF];
        struct keycache_entry key;
        json_t *body, *path;
        uint64_t size;
        size_t len;
        enum verdict v;

        if ((v = check_sender(t, &key)) != V_OK)
                return v;
        if (evlog_size(t->e->log, &size, t->dberr, sizeof(t->dberr)) == -1)
                return V_DB;
        if (first == 0 || first > second || second > size)
                return reject(t, PROTO_BAD_RANGE,
                              "need 0 < first <= second <= %llu (the log's "
                              "size)",
                              (unsigned long long)size);
        if (evlog_consistency_proof(t->e->log, first, second, proof, &len,
                                    t->dberr, sizeof(t->dberr)) == -1)
                return V_DB;
        if ((body = json_pack("{s:I, s:I, s:[]}", "first", (json_int_t)first,
                              "second", (json_int_t)second, "proof")) == NULL)
                goto oom;
        path = json_object_get(body, "proof");
        for (size_t i = 0; i < len; i++) {
                char hex[65];
                hex32(proof[i], hex);
                if (json_array_append_new(path, json_string(hex)) == -1)
                        goto oom;
        }
        return reply_add(t, t->m->user, PROTO_LOG_CONSISTENCY, body) == -1
                   ? V_DB
                   : V_OK;
oom:
        json_decref(body);
        snprintf(t->dberr, sizeof(t->dberr), "out of memory");
        return V_DB;
}

static enum verdict dispatch(struct txn *t)
{
        switch (t->m->type) {
        case PROTO_REGISTER:
                return h_register(t);
        case PROTO_UPLOAD_REQUEST:
                return h_upload_request(t);
        case PROTO_UPLOAD_COMMIT:
                return h_upload_commit(t);
        case PROTO_DOWNLOAD_REQUEST:
                return h_download_request(t);
        case PROTO_DOWNLOAD_RECEIPT:
                return h_download_receipt(t);
        case PROTO_ABORT:
                return h_abort(t);
        case PROTO_CATALOG_REQUEST:
                return h_catalog_request(t);
        case PROTO_LOG_HEAD_REQUEST:
                return h_log_head_request(t);
        case PROTO_LOG_PROOF_REQUEST:
                return h_log_proof_request(t);
        case PROTO_LOG_CONSISTENCY_REQUEST:
                return h_log_consistency_request(t);
        default:
                return reject(t, PROTO_BAD_SCHEMA,
                              "%s is not a request a client may send",
                              proto_type_name(t->m->type));
        }
}

/* ---- the batch: one transaction around many messages ------------------ */

/*
 * Lock the offset row of `topic` [`partition`] and read its next offset
 * into `next` (-1: every offset is new).  0, or -1 (t->dberr).
 *
 * A partition that has no row yet gets one first (next_offset -1).
 * Locking a row that does not exist locks nothing under READ COMMITTED
 * (no gap locks): two daemons of one group that both held the partition
 * across a rebalance (the one that lost it still applying its batch)
 * would then both apply its first messages and both commit them.  With
 * the row, the second waits for the first's COMMIT and skips what it
 * applied, as it does for every later message.
 */
static int offset_lock(struct txn *t, const char *topic, int32_t partition,
                       int64_t *next)
{
        struct db_val args[3] = {DB_STR(t->e->conf->group_id), DB_STR(topic),
                                 DB_I64(partition)};
        struct db_out col = DB_OUT_I64();
        int found;

        if (db_query(t->e->db, DB_OFFSET_LOCK, args, 3, &col, 1, NULL, NULL,
                     &found, t->dberr, sizeof(t->dberr)) == -1)
                return -1;
        if (!found) {
                /* Waits for another daemon's uncommitted row, if any. */
                if (db_exec(t->e->db, DB_OFFSET_CREATE, args, 3, NULL, t->dberr,
                            sizeof(t->dberr)) == -1 ||
                    db_query(t->e->db, DB_OFFSET_LOCK, args, 3, &col, 1, NULL,
                             NULL, &found, t->dberr, sizeof(t->dberr)) == -1)
                        return -1;
                if (!found) {
                        snprintf(t->dberr, sizeof(t->dberr),
                                 "consumer_offsets: no row for %s [%d] after "
                                 "creating it",
                                 topic, partition);
                        return -1;
                }
        }
        *next = col.i;
        return 0;
}

/*
 * The partition of `topic` [`partition`] in the open batch; the first
 * time, its offset row is locked (so a message at or below the stored
 * offset is never applied twice, even by a second daemon after a
 * rebalance: it waits for this batch).  NULL on error (t->dberr).
 */
static struct batch_part *part_claim(struct txn *t, const char *topic,
                                     int32_t partition)
{
        struct batch *b = &t->e->batch;
        struct batch_part *p;

        for (size_t i = 0; i < b->nparts; i++)
                if (b->parts[i].partition == partition &&
                    strcmp(b->parts[i].topic, topic) == 0)
                        return &b->parts[i];
        if (strlen(topic) >= sizeof(p->topic)) {
                snprintf(t->dberr, sizeof(t->dberr), "topic name too long");
                return NULL;
        }
        if (b->nparts == b->parts_cap) {
                size_t cap = b->parts_cap ? 2 * b->parts_cap : 8;
                struct batch_part *n = realloc(b->parts, cap * sizeof(*n));
                if (n == NULL) {
                        snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                        return NULL;
                }
                b->parts = n;
                b->parts_cap = cap;
        }
        p = &b->parts[b->nparts];
        memset(p, 0, sizeof(*p));
        snprintf(p->topic, sizeof(p->topic), "%s", topic);
        p->partition = partition;
        if (offset_lock(t, topic, partition, &p->next) == -1)
                return NULL;
        b->nparts++;
        return p;
}

/*
 * Move the message's replies to the batch's outbox rows (in order: the
 * outbox's seq keeps each recipient's order), with `request_msg_id` (may
 * be NULL).
 */
static int outbox_queue(struct txn *t, const unsigned char *request_msg_id)
{
        struct batch *b = &t->e->batch;

        if (b->nout + t->nreplies > b->out_cap) {
                size_t cap = b->out_cap ? 2 * b->out_cap : 64;
                void *n;

                while (cap < b->nout + t->nreplies)
                        cap *= 2;
                if ((n = realloc(b->out, cap * sizeof(*b->out))) == NULL) {
                        snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                        return -1;
                }
                b->out = n;
                b->out_cap = cap;
        }
        for (size_t i = 0; i < t->nreplies; i++) {
                struct batch_reply *o = &b->out[b->nout++];

                o->r = t->replies[i];
                o->has_request = request_msg_id != NULL;
                if (request_msg_id != NULL)
                        memcpy(o->request_msg_id, request_msg_id, 16);
                b->bytes += o->r.len;
        }
        /* The payloads belong to the batch now. */
        t->nreplies = 0;
        return 0;
}

/* Record `msg_id` of the message's user as processed, with the batch. */
static int processed_queue(struct txn *t, const unsigned char *msg_id)
{
        struct batch *b = &t->e->batch;
        struct batch_processed *d;

        if (b->ndone == b->done_cap) {
                size_t cap = b->done_cap ? 2 * b->done_cap : 64;
                void *n = realloc(b->done, cap * sizeof(*b->done));

                if (n == NULL) {
                        snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                        return -1;
                }
                b->done = n;
                b->done_cap = cap;
        }
        d = &b->done[b->ndone++];
        memcpy(d->msg_id, msg_id, 16);
        snprintf(d->user, sizeof(d->user), "%s", t->m->user);
        return 0;
}

static void batch_rows_clear(struct engine *e)
{
        struct batch *b = &e->batch;

        for (size_t i = 0; i < b->nout; i++)
                free(b->out[i].r.payload);
        b->nout = 0;
        b->bytes = 0;
        b->ndone = 0;
}

/*
 * Room for `n` parameters of an array-bound statement; NULL only when
 * out of memory.  A batch may write no row at all (every message a
 * retry answered again, or a redelivery skipped): with n 0 a daemon
 * whose first batch that was had no array yet, and the NULL it got was
 * taken for "out of memory", so that batch failed for ever (found by the
 * two-daemon fault campaign: a restarted daemon's first batch was its
 * clients' retries).
 */
static struct db_val *batch_params(struct engine *e, size_t n)
{
        struct batch *b = &e->batch;

        if (n == 0)
                n = 1;
        if (n > b->params_cap) {
                void *p = realloc(b->params, n * sizeof(*b->params));
                if (p == NULL)
                        return NULL;
                b->params = p;
                b->params_cap = n;
        }
        return b->params;
}

/*
 * The next offset of every partition the batch applied messages of, in
 * one statement (array binding).
 */
static int offsets_store(struct engine *e)
{
        struct batch *b = &e->batch;
        struct db_val *v;
        size_t n = 0;

        if ((v = batch_params(e, 4 * b->nparts)) == NULL) {
                snprintf(e->dberr, sizeof(e->dberr), "out of memory");
                return -1;
        }
        for (size_t i = 0; i < b->nparts; i++) {
                struct batch_part *p = &b->parts[i];

                if (!p->applied)
                        continue;
                v[n++] = (struct db_val)DB_STR(e->conf->group_id);
                v[n++] = (struct db_val)DB_STR(p->topic);
                v[n++] = (struct db_val)DB_I64(p->partition);
                v[n++] = (struct db_val)DB_I64(p->next);
        }
        return db_exec_bulk(e->db, DB_OFFSET_SET, v, 4, n / 4, NULL, e->dberr,
                            sizeof(e->dberr));
}

/*
 * Write the queued outbox rows and processed msg_ids, each table in one
 * statement (array binding).  -1 on error (e->dberr).
 */
static int batch_rows_write(struct engine *e)
{
        static const struct db_val null = {DB_T_NULL, NULL, 0, 0};
        struct batch *b = &e->batch;
        size_t n = b->nout > b->ndone ? b->nout : b->ndone;
        struct db_val *v;

        if (rows_flush(e, e->dberr, sizeof(e->dberr)) == -1)
                return -1;
        if ((v = batch_params(e, 5 * n)) == NULL) {
                snprintf(e->dberr, sizeof(e->dberr), "out of memory");
                return -1;
        }
        for (size_t i = 0; i < b->nout; i++) {
                struct batch_reply *o = &b->out[i];
                struct db_val *row = &v[5 * i];

                row[0] = (struct db_val)DB_BIN(o->r.msg_id, 16);
                row[1] = o->has_request
                             ? (struct db_val)DB_BIN(o->request_msg_id, 16)
                             : null;
                row[2] = (struct db_val)DB_STR(o->r.dead_letter ? "dead-letter"
                                                                : "replies");
                row[3] = o->r.key[0]
                             ? (struct db_val)DB_BIN(o->r.key, strlen(o->r.key))
                             : null;
                row[4] = (struct db_val)DB_BIN(o->r.payload, o->r.len);
        }
        if (db_exec_bulk(e->db, DB_OUTBOX_ADD, v, 5, b->nout, NULL, e->dberr,
                         sizeof(e->dberr)) == -1)
                return -1;
        for (size_t i = 0; i < b->ndone; i++) {
                v[2 * i] = (struct db_val)DB_BIN(b->done[i].msg_id, 16);
                v[2 * i + 1] = (struct db_val)DB_STR(b->done[i].user);
        }
        if (db_exec_bulk(e->db, DB_PROCESSED_ADD, v, 2, b->ndone, NULL,
                         e->dberr, sizeof(e->dberr)) == -1)
                return -1;
        batch_rows_clear(e);
        return 0;
}

/*
 * A retry: 1 if `msg_id` was processed for the same user (its replies
 * are marked for re-publication), 2 if another user used it, 3 if its
 * replies are not all published yet and `relay_waited` is 0 (nothing
 * done: the relay first), 0 if new, -1 on database error.  (A msg_id of
 * this batch never gets here: batch_id_seen() ends the batch first.)
 */
static int retry_check(struct txn *t, const unsigned char *msg_id,
                       int relay_waited)
{
        char user[IDS_USER_MAX + 1];
        struct db_out col = DB_OUT_STR(user);
        struct db_val arg = DB_BIN(msg_id, 16);
        int found;

        switch (msgids_state(&t->e->batch.looked_up, msg_id)) {
        case 0:
                t->e->stats.ids_new_looked_up++;
                return 0; /* not processed before the batch: new */
        case 1:
                t->e->stats.ids_processed_looked_up++;
                break; /* a retry: whose, and are its replies out? */
        default:
                t->e->stats.ids_asked_alone++;
                break;
        }
        if (db_query(t->e->db, DB_PROCESSED_GET, &arg, 1, &col, 1, NULL, NULL,
                     &found, t->dberr, sizeof(t->dberr)) == -1)
                return -1;
        if (!found)
                return 0;
        if (strcmp(user, t->m->user) != 0)
                return 2;
        if (!relay_waited) {
                /* Publishing "again" means after the first publication,
                 * which the relay (on its own thread) may not have done:
                 * wait for it, then mark them (rare: a client retries
                 * after a timeout).  If the relay fails meanwhile, the
                 * rows stay unsent and are published once. */
                struct db_out n = DB_OUT_I64();

                if (db_query(t->e->db, DB_OUTBOX_UNSENT, &arg, 1, &n, 1, NULL,
                             NULL, &found, t->dberr, sizeof(t->dberr)) == -1)
                        return -1;
                if (n.i > 0)
                        return 3;
        }
        if (db_exec(t->e->db, DB_OUTBOX_RESEND, &arg, 1, NULL, t->dberr,
                    sizeof(t->dberr)) == -1)
                return -1;
        return 1;
}

/* The message's store files to remove become the batch's, after COMMIT. */
static int cleanup_keep(struct txn *t)
{
        struct batch *b = &t->e->batch;

        for (size_t i = 0; i < t->ncleanup; i++) {
                if (b->ncleanup == b->cleanup_cap) {
                        size_t cap = b->cleanup_cap ? 2 * b->cleanup_cap : 16;
                        void *n =
                            realloc(b->cleanup, cap * sizeof(*b->cleanup));
                        if (n == NULL) {
                                snprintf(t->dberr, sizeof(t->dberr),
                                         "out of memory");
                                return -1;
                        }
                        b->cleanup = n;
                        b->cleanup_cap = cap;
                }
                memcpy(b->cleanup[b->ncleanup++], t->cleanup[i],
                       sizeof(t->cleanup[i]));
        }
        return 0;
}

/*
 * Undo a rejected message: its effects since its savepoint, its replies
 * (but a verdict's, which are kept), its store files and crash point.
 * The batch's locks taken before the savepoint stay held.
 */
static int undo_message(struct txn *t, int keep_replies, int savepoint)
{
        if (!keep_replies) {
                for (size_t i = 0; i < t->nreplies; i++)
                        free(t->replies[i].payload);
                t->nreplies = 0;
        }
        t->ncleanup = 0;
        t->crash_after_commit = 0;
        if (!savepoint)
                return 0; /* it wrote nothing (apply_msg) */
        /* The log's state and the queued rows as they were at the
         * savepoint, like the tables. */
        evlog_undo(t->e->log);
        rowq_undo(&t->e->batch.ongoing, t->e->batch.ongoing_mark);
        rowq_undo(&t->e->batch.completed, t->e->batch.completed_mark);
        return db_exec(t->e->db, DB_SAVEPOINT_ROLLBACK, NULL, 0, NULL, t->dberr,
                       sizeof(t->dberr));
}

/*
 * Note `msg_id` as the batch's: 1 if it is already, 0 if not (noted
 * now), -1 out of memory (t->dberr).
 */
static int batch_id_seen(struct txn *t, const unsigned char *msg_id)
{
        struct batch *b = &t->e->batch;

        for (size_t i = 0; i < b->nids; i++)
                if (memcmp(b->ids[i], msg_id, 16) == 0)
                        return 1;
        if (b->nids == b->ids_cap) {
                size_t cap = b->ids_cap ? 2 * b->ids_cap : 64;
                void *n = realloc(b->ids, cap * sizeof(*b->ids));
                if (n == NULL) {
                        snprintf(t->dberr, sizeof(t->dberr), "out of memory");
                        return -1;
                }
                b->ids = n;
                b->ids_cap = cap;
        }
        memcpy(b->ids[b->nids++], msg_id, 16);
        return 0;
}

/*
 * Apply one message in the open batch: the offset check, decoding, the
 * retry check, the handler in a savepoint, the replies, the processed
 * msg_id.  0 when it was applied (or skipped: applied before), 1 when
 * its msg_id is already in the batch (a retry that must find the first
 * answer committed, and published, to publish it again: it belongs to
 * the next batch), 2 when it is a retry whose first answer the relay has
 * not published yet (engine_batch_add()), 3 when it was applied without
 * a savepoint (`savepoint` 0) and rejected after writing: the batch must
 * be applied again with this message in a savepoint; -1 when the
 * database failed (e->dberr, db_errno()): the batch cannot commit.
 */
static int apply_msg(struct engine *e, struct engine_msg *em, int savepoint)
{
        struct proto_msg msg;
        struct txn t;
        struct batch_part *part;
        enum proto_code code = PROTO_OK;
        char decode_err[512] = "";
        unsigned char msg_id[16], *request_id = NULL;
        enum verdict v = V_OK;
        uint64_t writes = 0;
        size_t n;
        int rc, ret = -1;

        memset(&t, 0, sizeof(t));
        memset(&msg, 0, sizeof(msg));
        t.e = e;
        t.m = &msg;
        t.code = PROTO_OK;
        em->skip_to = -1;
        if ((part = part_claim(&t, em->topic, em->partition)) == NULL)
                goto done;
        if (em->offset < part->next) {
                em->skip_to = part->next;
                ret = 0;
                goto done;
        }
        t.now = time(NULL);
        time_str(t.now, t.now_str);
        if (proto_decode(em->value, em->len, &msg, &code, decode_err,
                         sizeof(decode_err)) == 0)
                code = PROTO_OK;
        if (!msg.attributable) {
                log_warnx("%s [%d] offset %lld: %s: to dead-letter", em->topic,
                          em->partition, (long long)em->offset, decode_err);
                if (reply_dead_letter(&t, code, decode_err, em->topic,
                                      em->partition, em->offset, em->key,
                                      em->keylen, em->value, em->len) == -1)
                        goto done;
                goto finish;
        }
        hex_decode(msg.msg_id, IDS_MSG_ID_LEN, HEX_LOWER_ONLY, msg_id,
                   sizeof(msg_id), &n, NULL, 0);
        if ((rc = batch_id_seen(&t, msg_id)) != 0) {
                ret = rc;
                goto done;
        }
        request_id = msg_id;
        if ((rc = retry_check(&t, msg_id, em->relay_waited)) == -1)
                goto done;
        if (rc == 3) {
                e->batch.nids--; /* not this batch's after all */
                ret = 2;
                goto done;
        }
        if (rc == 1) {
                log_debug("%s from %s: retry of msg_id %s, answered again",
                          proto_type_name(msg.type), msg.user, msg.msg_id);
                request_id = NULL;
                goto finish;
        }
        if (rc == 2) {
                /* Not recorded: the msg_id belongs to someone else. */
                request_id = NULL;
                if (reply_error(&t, msg.user, msg.msg_id, PROTO_BAD_SCHEMA,
                                "msg_id was already used by another "
                                "message") == -1)
                        goto done;
                goto finish;
        }
        if (code != PROTO_OK) {
                t.code = code;
                snprintf(t.why, sizeof(t.why), "%s", decode_err);
                v = V_REJECT;
        } else {
                /* What the handler does, and only that, may have to be
                 * undone: a handler that rejects has almost always
                 * written nothing yet, so the savepoint that would undo
                 * it is only set when this message is applied again for
                 * having rejected after a write. */
                if (rows_before(&t) == -1)
                        goto done;
                if (savepoint) {
                        /* The queued rows are written before the
                         * savepoint, so that its rollback keeps them. */
                        if (rows_flush(e, t.dberr, sizeof(t.dberr)) == -1 ||
                            evlog_mark(e->log, t.dberr, sizeof(t.dberr)) ==
                                -1 ||
                            db_exec(e->db, DB_SAVEPOINT, NULL, 0, NULL, t.dberr,
                                    sizeof(t.dberr)) == -1)
                                goto done;
                        e->batch.ongoing_mark = rowq_mark(&e->batch.ongoing);
                        e->batch.completed_mark =
                            rowq_mark(&e->batch.completed);
                }
                writes = db_writes(e->db) + rows_added(e);
                v = dispatch(&t);
        }
        if (v == V_DB) {
                if (db_error_is_connection(db_errno(e->db)) ||
                    db_error_is_retryable(db_errno(e->db)))
                        goto done;
                /* A failure that redelivery would not cure: answer
                 * `internal` and change nothing. */
                log_warnx("%s from %s: %s", proto_type_name(msg.type), msg.user,
                          t.dberr);
                t.code = PROTO_INTERNAL;
                snprintf(t.why, sizeof(t.why),
                         "the TTP failed to process "
                         "the message; try again");
                v = V_REJECT;
        }
        if (v == V_VERDICT || (v == V_REJECT && code == PROTO_OK)) {
                if (!savepoint && db_writes(e->db) + rows_added(e) != writes) {
                        /* Effects to undo and no savepoint: the batch
                         * again, this message in a savepoint. */
                        ret = 3;
                        goto done;
                }
                /* Undo the handler's effects, keep a verdict's replies. */
                if (undo_message(&t, v == V_VERDICT, savepoint) == -1)
                        goto done;
        }
        if (v == V_REJECT) {
                log_info("%s from %s rejected: %s: %s",
                         proto_type_name(msg.type), msg.user,
                         proto_code_name(t.code), t.why);
                if (reply_error(&t, msg.user, msg.msg_id, t.code, t.why) == -1)
                        goto done;
        }
        if (processed_queue(&t, msg_id) == -1)
                goto done;
finish:
        if (outbox_queue(&t, request_id) == -1 || cleanup_keep(&t) == -1)
                goto done;
        if (e->batch.bytes > ENGINE_BULK_BYTES && batch_rows_write(e) == -1) {
                snprintf(t.dberr, sizeof(t.dberr), "%s", e->dberr);
                goto done;
        }
        part->next = em->offset + 1;
        part->applied = 1;
        e->batch.crash_after_commit |= t.crash_after_commit;
        e->batch.applied++;
        ret = 0;
done:
        if (ret == -1)
                snprintf(e->dberr, sizeof(e->dberr), "%s", t.dberr);
        txn_clear(&t);
        proto_msg_fini(&msg);
        return ret;
}

/*
 * Undo the whole batch: roll back, forget what its messages left for
 * after COMMIT, and the keys read in it (a register of this batch may
 * have added one that now never committed).  The messages stay.
 */
static void batch_undo(struct engine *e)
{
        struct batch *b = &e->batch;

        db_rollback(e->db);
        b->nparts = 0;
        b->ncleanup = 0;
        b->crash_after_commit = 0;
        b->applied = 0;
        b->nids = 0;
        batch_rows_clear(e);
        rowq_clear(&b->ongoing);
        rowq_clear(&b->completed);
        evlog_reset(e->log);
        keycache_reset(e->keys);
        /* Its locks are gone: what was looked up under them is
         * asked again. */
        msgids_clear(&b->looked_up);
}

/*
 * Apply the batch's messages from `from` on (and with `finish` store the
 * offsets); a deadlock or lock wait timeout undoes the batch and applies
 * all its messages again, up to ENGINE_DEADLOCK_TRIES times in all.  0,
 * 1 or 2 when the last message belongs to the next batch (apply_msg), or
 * -1 (e->dberr) when the batch failed.
 */
static int batch_run(struct engine *e, size_t from, int finish)
{
        struct batch *b = &e->batch;

        for (int attempt = 1;; attempt++) {
                size_t i;
                int rc = 0;

                for (i = from; i < b->nmsgs && rc == 0; i++)
                        rc = apply_msg(e, b->msgs[i], b->savepoint[i]);
                if (rc == 3) {
                        /* Not a failure: a message wants its savepoint.
                         * At most once per message, so this ends. */
                        b->savepoint[i - 1] = 1;
                        log_debug("a message of the batch rejected after "
                                  "writing: the batch again, that message "
                                  "in a savepoint");
                        batch_undo(e);
                        from = 0;
                        attempt--;
                        continue;
                }
                if (rc == 0 && finish)
                        rc = batch_rows_write(e);
                if (rc == 0 && finish &&
                    evlog_flush(e->log, e->dberr, sizeof(e->dberr)) == -1)
                        rc = -1;
                if (rc == 0 && finish)
                        rc = offsets_store(e);
                if (rc == 0)
                        return 0;
                if (rc > 0 && from == b->nmsgs - 1)
                        return rc;
                if (rc > 0) {
                        /* Applied again, a message no longer fits the
                         * batch (a retry whose first answer is unsent
                         * again): redeliver. */
                        snprintf(e->dberr, sizeof(e->dberr),
                                 "a message left its batch when applied "
                                 "again");
                        return -1;
                }
                if (!b->rows_now && !db_error_is_connection(db_errno(e->db)) &&
                    !db_error_is_retryable(db_errno(e->db))) {
                        /* A bulk write failed for good (a constraint
                         * no handler expected): apply the batch again
                         * writing every row at once, so that the message
                         * at fault is answered `internal` alone instead
                         * of the batch failing again and again. */
                        log_warnx("a bulk write of the batch failed (%s); "
                                  "the batch again, row by row",
                                  e->dberr);
                        b->rows_now = 1;
                        batch_undo(e);
                        from = 0;
                        attempt--;
                        continue;
                }
                if (!db_error_is_retryable(db_errno(e->db)) ||
                    attempt == ENGINE_DEADLOCK_TRIES)
                        return -1;
                log_debug("deadlock, attempt %d: the batch of %zu message(s) "
                          "again: %s",
                          attempt, b->nmsgs, e->dberr);
                batch_undo(e);
                from = 0;
        }
}

void engine_batch_begin(struct engine *e)
{
        struct batch *b = &e->batch;

        b->open = 1;
        b->failed = 0;
        b->nmsgs = 0;
        b->nparts = 0;
        b->ncleanup = 0;
        b->crash_after_commit = 0;
        b->applied = 0;
        b->nids = 0;
        b->rows_now = 0;
        msgids_clear(&b->looked_up);
        rowq_clear(&b->ongoing);
        rowq_clear(&b->completed);
        e->dberr[0] = '\0';
        /* The evidence log's state is read once for the batch. */
        evlog_batch(e->log, 1);
}

/* A row of DB_PROCESSED_FIND: that msg_id was processed before. */
static int looked_up_row(void *ctx, const struct db_out *cols)
{
        struct msgids *ids = ctx;

        if (cols[0].len != 16)
                return -1;
        /* Every id the statement returns is one it was asked about. */
        return msgids_mark(ids, cols[0].buf);
}

/* Look the sealed set's ids up, DB_PROCESSED_FIND_IDS at a time. */
static int looked_up_fetch(struct engine *e, char *err, size_t errlen)
{
        struct msgids *ids = &e->batch.looked_up;
        struct db_val args[DB_PROCESSED_FIND_IDS];
        unsigned char row_id[16];
        struct db_out col = DB_OUT_BIN(row_id);
        int found;

        for (size_t from = 0; from < ids->n; from += DB_PROCESSED_FIND_IDS) {
                for (size_t j = 0; j < DB_PROCESSED_FIND_IDS; j++) {
                        /* Pad with the chunk's first id: asked twice,
                         * found once at most. */
                        size_t k = from + j < ids->n ? from + j : from;
                        args[j] = (struct db_val)DB_BIN(ids->v[k].id, 16);
                }
                if (db_query(e->db, DB_PROCESSED_FIND, args,
                             DB_PROCESSED_FIND_IDS, &col, 1, looked_up_row, ids,
                             &found, err, errlen) == -1)
                        return -1;
        }
        return 0;
}

void engine_batch_prefetch(struct engine *e, const struct engine_msg *msgs,
                           size_t n)
{
        struct batch *b = &e->batch;
        struct txn t;
        unsigned char id[16];

        msgids_clear(&b->looked_up);
        if (!b->open || b->failed || b->nmsgs > 0 || n < 2)
                return; /* one message: as cheap to ask when applying it */
        memset(&t, 0, sizeof(t));
        t.e = e;
        /* Locked first, as apply_msg() would: no other daemon can be
         * recording these partitions' messages while we look. */
        for (size_t i = 0; i < n; i++)
                if (part_claim(&t, msgs[i].topic, msgs[i].partition) == NULL)
                        goto failed;
        for (size_t i = 0; i < n; i++) {
                if (msgids_hint(msgs[i].value, msgs[i].len, id) == -1)
                        continue; /* asked when applied, if it has one */
                if (msgids_add(&b->looked_up, id) == -1) {
                        snprintf(t.dberr, sizeof(t.dberr), "out of memory");
                        goto failed;
                }
        }
        msgids_seal(&b->looked_up);
        if (looked_up_fetch(e, t.dberr, sizeof(t.dberr)) == -1)
                goto failed;
        return;
failed:
        /* Nothing is applied yet: undo the locks and check each message
         * alone (a database that is gone fails its first statement). */
        log_warnx("the batch's msg_id look-up failed (%s); each message "
                  "is checked alone",
                  t.dberr);
        batch_undo(e);
}

void engine_stats(const struct engine *e, struct engine_stats *out)
{
        *out = e->stats;
}

int engine_batch_add(struct engine *e, struct engine_msg *m, char *err,
                     size_t errlen)
{
        struct batch *b = &e->batch;
        int rc;

        if (!b->open || b->failed) {
                snprintf(err, errlen, "no open batch");
                return -1;
        }
        if (b->nmsgs == b->msgs_cap) {
                size_t cap = b->msgs_cap ? 2 * b->msgs_cap : 64;
                struct engine_msg **n = realloc(b->msgs, cap * sizeof(*n));
                unsigned char *sp;

                if (n != NULL)
                        b->msgs = n;
                sp = realloc(b->savepoint, cap);
                if (sp != NULL)
                        b->savepoint = sp;
                if (n == NULL || sp == NULL) {
                        b->failed = 1;
                        snprintf(err, errlen, "out of memory");
                        return -1;
                }
                b->msgs_cap = cap;
        }
        b->savepoint[b->nmsgs] = 0;
        b->msgs[b->nmsgs++] = m;
        switch ((rc = batch_run(e, b->nmsgs - 1, 0))) {
        case 0:
                return 0;
        case 1:
        case 2:
                b->nmsgs--; /* not borrowed: the caller keeps it */
                return rc;
        default:
                b->failed = 1;
                snprintf(err, errlen, "%s", e->dberr);
                return -1;
        }
}

/* The committed next offset of a partition (ends the transaction). */
static int64_t stored_offset(struct engine *e, const char *topic,
                             int32_t partition, char *err, size_t errlen)
{
        struct db_val args[3] = {DB_STR(e->conf->group_id), DB_STR(topic),
                                 DB_I64(partition)};
        struct db_out col = DB_OUT_I64();
        int found, rc;

        rc = db_query(e->db, DB_OFFSET_GET, args, 3, &col, 1, NULL, NULL,
                      &found, err, errlen);
        db_rollback(e->db);
        if (rc == -1)
                return -2;
        return found ? col.i : -1;
}

/* After a lost COMMIT: did it happen?  1 yes, 0 no, -1 cannot tell. */
static int commit_outcome(struct engine *e)
{
        struct batch *b = &e->batch;
        char err[512];
        int yes = 0, no = 0;

        if (db_ping(e->db, err, sizeof(err)) == -1)
                return -1;
        for (size_t i = 0; i < b->nparts; i++) {
                struct batch_part *p = &b->parts[i];
                int64_t stored;

                if (!p->applied)
                        continue;
                stored =
                    stored_offset(e, p->topic, p->partition, err, sizeof(err));
                if (stored == -2)
                        return -1;
                /* All rows moved in one transaction: all or none. */
                if (stored >= p->next)
                        yes++;
                else
                        no++;
        }
        if (yes > 0 && no > 0) {
                log_warnx("after a lost commit, %d partition(s) advanced and "
                          "%d did not",
                          yes, no);
                return -1;
        }
        return yes > 0;
}

static void batch_cleanup(struct engine *e)
{
        struct batch *b = &e->batch;
        char err[512];

        for (size_t i = 0; i < b->ncleanup; i++)
                if (store_remove(e->store, b->cleanup[i], err, sizeof(err)) ==
                    -1)
                        log_warnx("store: %s", err);
}

enum engine_result engine_batch_end(struct engine *e, char *err, size_t errlen)
{
        struct batch *b = &e->batch;
        enum engine_result r = ENGINE_RETRY;
        int rc;

        if (!b->open) {
                snprintf(err, errlen, "no open batch");
                return ENGINE_RETRY;
        }
        if (b->failed || batch_run(e, b->nmsgs, 1) == -1)
                goto undo;
        if (b->applied == 0) {
                /* Every message was applied before: release the locks. */
                db_rollback(e->db);
                r = ENGINE_APPLIED;
                goto done;
        }
        if (db_commit(e->db, e->dberr, sizeof(e->dberr)) == -1) {
                if (!db_error_is_connection(db_errno(e->db)))
                        goto undo;
                /* Ambiguous: look the outcome up, never blindly redo. */
                if ((rc = commit_outcome(e)) != 1) {
                        snprintf(e->dberr, sizeof(e->dberr),
                                 "commit lost with the connection; %s",
                                 rc == 0 ? "it did not happen"
                                         : "outcome unknown yet");
                        goto undo;
                }
                log_info("commit lost with the connection had happened");
        }
        if (b->crash_after_commit)
                engine_crash_point(e->conf, "after-commit");
        batch_cleanup(e);
        r = ENGINE_APPLIED;
        goto done;
undo:
        snprintf(err, errlen, "%s", e->dberr);
        batch_undo(e);
done:
        b->open = 0;
        b->nmsgs = 0;
        evlog_batch(e->log, 0);
        return r;
}

int64_t engine_stored_offset(struct engine *e, const char *topic,
                             int32_t partition, char *err, size_t errlen)
{
        if (e->batch.open) {
                snprintf(err, errlen, "a batch is being applied");
                return -2;
        }
        return stored_offset(e, topic, partition, err, errlen);
}

struct sweep_ctx {
        struct engine *e;
        int64_t before;
        int removed;
};

static int sweep_upload(void *ctx, const struct db_out *cols)
{
        struct sweep_ctx *s = ctx;
        char err[512];
        struct db_val args[2] = {DB_STR(cols[0].buf), DB_I64(s->before)};
        uint64_t affected;

        if (db_exec(s->e->db, DB_SWEEP_UPLOAD_DEL, args, 2, &affected, err,
                    sizeof(err)) == -1)
                return -1;
        /* The incoming file, and an object left by a crash mid-commit. */
        for (int i = 1; affected == 1 && i <= 2; i++)
                if (store_remove(s->e->store, cols[i].buf, err, sizeof(err)) ==
                    -1)
                        log_warnx("sweep: %s", err);
        s->removed += (int)affected;
        return 0;
}

int engine_sweep(struct engine *e, unsigned grace, char *err, size_t errlen)
{
        char file_id[IDS_FILE_ID_MAX + 1], incoming[PROTO_PATH_MAX + 1];
        char object[PROTO_PATH_MAX + 1];
        struct db_out cols[3] = {DB_OUT_STR(file_id), DB_OUT_STR(incoming),
                                 DB_OUT_STR(object)};
        struct sweep_ctx s = {e, (int64_t)time(NULL) - grace, 0};
        struct db_val list[2] = {DB_I64(s.before), DB_I64(1000)};
        struct db_val before = DB_I64(s.before);
        uint64_t affected = 0;
        int found;

        if (db_query(e->db, DB_SWEEP_UPLOADS_LIST, list, 2, cols, 3,
                     sweep_upload, &s, &found, err, errlen) == -1 ||
            db_exec(e->db, DB_SWEEP_DOWNLOADS, &before, 1, &affected, err,
                    errlen) == -1 ||
            db_commit(e->db, err, errlen) == -1) {
                db_rollback(e->db);
                return -1;
        }
        return s.removed + (int)affected;
}

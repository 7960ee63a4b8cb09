/*
 * evlog: the evidence log on MariaDB.  See evlog.h and
 * sql/migrations/0002_evidence_log.sql.
 */
#include "evlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "db.h"
#include "errbuf.h"
#include "hex.h"
#include "rowq.h"
#include "tbs.h"
#include "tsa.h"

/* The log's state row (size and frontier). */
struct state {
        struct merkle_frontier f;
};

/* What the open transaction knows of the state row. */
struct state_cache {
        int held;  /* locked in this transaction, and in `st` */
        int dirty; /* `st` is newer than the row: evlog_flush() */
        struct state st;
};

struct evlog {
        struct db *db;
        const struct crypto_key *ttp_key;
        struct tsa_signer *tsa;
        char log_id[CRYPTO_KEY_ID_LEN + 1];
        int batch; /* evlog_batch(): keep the state until evlog_flush() */
        struct state_cache cache;
        struct state_cache mark; /* at evlog_mark() */
        /* Batch mode: the leaf and node rows, written at evlog_flush(). */
        struct rowq leaves, nodes;
        uint64_t leaves_mark, nodes_mark;
};

struct evlog *evlog_new(struct db *db, const struct crypto_key *ttp_key,
                        struct tsa_signer *tsa, char *err, size_t errlen)
{
        struct evlog *log = calloc(1, sizeof(*log));

        if (log == NULL) {
                errbuf_set(err, errlen, "evidence log: out of memory");
                return NULL;
        }
        log->db = db;
        log->ttp_key = ttp_key;
        log->tsa = tsa;
        rowq_init(&log->leaves, DB_LOG_LEAF_ADD, 6);
        rowq_init(&log->nodes, DB_LOG_NODE_ADD, 3);
        if (crypto_key_id(ttp_key, log->log_id, err, errlen) == -1) {
                free(log);
                return NULL;
        }
        return log;
}

void evlog_free(struct evlog *log)
{
        if (log == NULL)
                return;
        rowq_fini(&log->leaves);
        rowq_fini(&log->nodes);
        free(log);
}

/* ---- appending ---------------------------------------------------------- */

static int state_lock(struct evlog *log, struct state *st, char *err,
                      size_t errlen)
{
        unsigned char buf[MERKLE_FRONTIER_MAX];
        struct db_out cols[2] = {DB_OUT_I64(), DB_OUT_BIN(buf)};
        int found;

        if (db_query(log->db, DB_LOG_STATE_LOCK, NULL, 0, cols, 2, NULL, NULL,
                     &found, err, errlen) == -1)
                return -1;
        if (!found) {
                errbuf_set(err, errlen,
                           "evidence log: no log_state row (migration 2 "
                           "not applied?)");
                return -1;
        }
        if (merkle_frontier_decode(buf, cols[1].len, &st->f, err, errlen) == -1)
                return -1;
        if ((uint64_t)cols[0].i != st->f.size) {
                errbuf_set(err, errlen,
                           "evidence log: log_state size %lld disagrees with "
                           "its frontier (%llu)",
                           (long long)cols[0].i,
                           (unsigned long long)st->f.size);
                return -1;
        }
        return 0;
}

static int state_store(struct evlog *log, const struct state *st, char *err,
                       size_t errlen)
{
        unsigned char buf[MERKLE_FRONTIER_MAX];
        size_t len = merkle_frontier_encode(&st->f, buf);
        struct db_val args[2] = {DB_I64(st->f.size), DB_BIN(buf, len)};

        return db_exec(log->db, DB_LOG_STATE_SET, args, 2, NULL, err, errlen);
}

/*
 * The state, locked: in batch mode read (and locked) once per
 * transaction, else every time.
 */
static struct state *state_get(struct evlog *log, char *err, size_t errlen)
{
        struct state_cache *c = &log->cache;

        if (log->batch && c->held)
                return &c->st;
        if (state_lock(log, &c->st, err, errlen) == -1)
                return NULL;
        c->held = log->batch;
        c->dirty = 0;
        return &c->st;
}

/* After changing the state: stored now, or at evlog_flush(). */
static int state_changed(struct evlog *log, char *err, size_t errlen)
{
        if (log->batch) {
                log->cache.dirty = 1;
                return 0;
        }
        return state_store(log, &log->cache.st, err, errlen);
}

void evlog_batch(struct evlog *log, int on)
{
        log->batch = on;
        rowq_clear(&log->leaves);
        rowq_clear(&log->nodes);
        memset(&log->cache, 0, sizeof(log->cache));
        memset(&log->mark, 0, sizeof(log->mark));
}

void evlog_reset(struct evlog *log)
{
        rowq_clear(&log->leaves);
        rowq_clear(&log->nodes);
        memset(&log->cache, 0, sizeof(log->cache));
        memset(&log->mark, 0, sizeof(log->mark));
}

/* Before reading leaves or nodes: this batch's rows written first. */
static int rows_written(struct evlog *log, char *err, size_t errlen)
{
        if (rowq_flush(&log->leaves, log->db, err, errlen) == -1 ||
            rowq_flush(&log->nodes, log->db, err, errlen) == -1)
                return -1;
        return 0;
}

int evlog_flush(struct evlog *log, char *err, size_t errlen)
{
        if (rows_written(log, err, errlen) == -1)
                return -1;
        if (!log->cache.dirty)
                return 0;
        if (state_store(log, &log->cache.st, err, errlen) == -1)
                return -1;
        log->cache.dirty = 0;
        return 0;
}

int evlog_mark(struct evlog *log, char *err, size_t errlen)
{
        if (rows_written(log, err, errlen) == -1)
                return -1;
        log->mark = log->cache;
        log->leaves_mark = rowq_mark(&log->leaves);
        log->nodes_mark = rowq_mark(&log->nodes);
        return 0;
}

void evlog_undo(struct evlog *log)
{
        log->cache = log->mark;
        rowq_undo(&log->leaves, log->leaves_mark);
        rowq_undo(&log->nodes, log->nodes_mark);
}

uint64_t evlog_appended(const struct evlog *log)
{
        return rowq_added(&log->leaves) + rowq_added(&log->nodes);
}

struct node_sink {
        struct evlog *log;
        char *err;
        size_t errlen;
};

/* Level 0 is log_leaves.leaf_hash; store the levels above. */
static int node_store(void *ctx, unsigned level, uint64_t index,
                      const merkle_hash hash)
{
        struct node_sink *sink = ctx;
        struct db_val args[3] = {DB_I64(level), DB_I64(index),
                                 DB_BIN(hash, MERKLE_HASH_LEN)};

        if (level == 0)
                return 0;
        if (sink->log->batch)
                return rowq_add(&sink->log->nodes, args, sink->err,
                                sink->errlen);
        return db_exec(sink->log->db, DB_LOG_NODE_ADD, args, 3, NULL, sink->err,
                       sink->errlen);
}

static int leaf_add(struct evlog *log, struct state *st, const char *leaf,
                    size_t len, const char *event, const char *file_id,
                    time_t now, char *err, size_t errlen)
{
        struct node_sink sink = {log, err, errlen};
        uint64_t index = st->f.size;
        merkle_hash hash;

        merkle_leaf_hash(leaf, len, hash);
        {
                struct db_val args[6] = {DB_I64(index),
                                         DB_STR(event),
                                         DB_STR(file_id),
                                         DB_BIN(leaf, len),
                                         DB_BIN(hash, MERKLE_HASH_LEN),
                                         DB_I64(now)};
                if ((log->batch ? rowq_add(&log->leaves, args, err, errlen)
                                : db_exec(log->db, DB_LOG_LEAF_ADD, args, 6,
                                          NULL, err, errlen)) == -1)
                        return -1;
        }
        if (merkle_frontier_append(&st->f, hash, node_store, &sink) != 0) {
                if (err != NULL && err[0] == '\0')
                        errbuf_set(err, errlen, "evidence log: tree full");
                return -1;
        }
        return 0;
}

int evlog_append_many(struct evlog *log, const char *const *leaves,
                      const size_t *lens, const char *const *events,
                      const char *const *file_ids, size_t n, time_t now,
                      uint64_t *first_index, char *err, size_t errlen)
{
        struct state *st;

        if (err != NULL && errlen > 0)
                err[0] = '\0';
        if ((st = state_get(log, err, errlen)) == NULL)
                return -1;
        if (first_index != NULL)
                *first_index = st->f.size;
        for (size_t i = 0; i < n; i++) {
                /* On failure the frontier may be half changed: the
                 * caller rolls back, to a savepoint (evlog_undo) or
                 * the transaction (evlog_reset). */
                if (leaf_add(log, st, leaves[i], lens[i], events[i],
                             file_ids[i], now, err, errlen) == -1)
                        return -1;
        }
        return state_changed(log, err, errlen);
}

int evlog_append(struct evlog *log, const struct tbs_leaf *leaf, time_t now,
                 uint64_t *index, char *err, size_t errlen)
{
        char *tbs = NULL;
        size_t len;
        int rc;

        if (tbs_leaf(leaf, &tbs, &len, err, errlen) == -1)
                return -1;
        rc = evlog_append_many(log, (const char *const *)&tbs, &len,
                               &leaf->event, &leaf->file_id, 1, now, index, err,
                               errlen);
        free(tbs);
        return rc;
}

int evlog_size(struct evlog *log, uint64_t *size, char *err, size_t errlen)
{
        struct db_out col = DB_OUT_I64();
        int found;

        if (log->batch && log->cache.held) {
                *size = log->cache.st.f.size;
                return 0;
        }
        if (db_query(log->db, DB_LOG_STATE_GET, NULL, 0, &col, 1, NULL, NULL,
                     &found, err, errlen) == -1)
                return -1;
        if (!found) {
                errbuf_set(err, errlen, "evidence log: no log_state row");
                return -1;
        }
        *size = (uint64_t)col.i;
        return 0;
}

/* ---- proofs ------------------------------------------------------------- */

static int node_get(void *ctx, unsigned level, uint64_t index, merkle_hash out,
                    char *err, size_t errlen)
{
        struct evlog *log = ctx;
        struct db_out col = {DB_T_BIN, out, MERKLE_HASH_LEN, 0, 0, 0};
        int found;

        if (rows_written(log, err, errlen) == -1)
                return -1;
        if (level == 0) {
                struct db_val arg = DB_I64(index);
                if (db_query(log->db, DB_LOG_LEAF_HASH, &arg, 1, &col, 1, NULL,
                             NULL, &found, err, errlen) == -1)
                        return -1;
        } else {
                struct db_val args[2] = {DB_I64(level), DB_I64(index)};
                if (db_query(log->db, DB_LOG_NODE_GET, args, 2, &col, 1, NULL,
                             NULL, &found, err, errlen) == -1)
                        return -1;
        }
        if (!found || col.len != MERKLE_HASH_LEN) {
                errbuf_set(err, errlen,
                           "evidence log: node (%u, %llu) missing from the "
                           "database",
                           level, (unsigned long long)index);
                return -1;
        }
        return 0;
}

int evlog_inclusion_proof(struct evlog *log, uint64_t index, uint64_t size,
                          merkle_hash *proof, size_t *len, char *err,
                          size_t errlen)
{
        return merkle_inclusion_proof(index, size, node_get, log, proof, len,
                                      err, errlen);
}

int evlog_consistency_proof(struct evlog *log, uint64_t first, uint64_t second,
                            merkle_hash *proof, size_t *len, char *err,
                            size_t errlen)
{
        return merkle_consistency_proof(first, second, node_get, log, proof,
                                        len, err, errlen);
}

int evlog_find_leaf(struct evlog *log, const merkle_hash leaf_hash,
                    uint64_t *index, char *err, size_t errlen)
{
        struct db_val arg = DB_BIN(leaf_hash, MERKLE_HASH_LEN);
        struct db_out col = DB_OUT_I64();
        int found;

        if (rows_written(log, err, errlen) == -1)
                return -1;
        if (db_query(log->db, DB_LOG_LEAF_FIND, &arg, 1, &col, 1, NULL, NULL,
                     &found, err, errlen) == -1)
                return -1;
        if (found)
                *index = (uint64_t)col.i;
        return found ? 1 : 0;
}

/* ---- heads -------------------------------------------------------------- */

int evlog_head_tbs(struct evlog *log, const struct evlog_head *head, char **tbs,
                   size_t *len, char *err, size_t errlen)
{
        char size[24], root[2 * MERKLE_HASH_LEN + 1];
        struct tbs_tree_head f;

        snprintf(size, sizeof(size), "%llu",
                 (unsigned long long)head->tree_size);
        hex_encode(head->root, MERKLE_HASH_LEN, root, sizeof(root));
        f = (struct tbs_tree_head){log->log_id, size, root, head->time};
        return tbs_tree_head(&f, tbs, len, err, errlen);
}

/* Read one head row: 1 found, 0 not, -1 error. */
static int head_read(struct evlog *log, enum db_stmt stmt,
                     const struct db_val *args, size_t nargs,
                     struct evlog_head *head, char *err, size_t errlen)
{
        struct db_out cols[5] = {DB_OUT_I64(), DB_OUT_BIN(head->root),
                                 DB_OUT_STR(head->time), DB_OUT_BIN(head->sig),
                                 DB_OUT_BIN(head->token)};
        int found;

        if (db_query(log->db, stmt, args, nargs, cols, 5, NULL, NULL, &found,
                     err, errlen) == -1)
                return -1;
        if (!found)
                return 0;
        if (cols[1].len != MERKLE_HASH_LEN) {
                errbuf_set(err, errlen, "evidence log: bad root in tree_heads");
                return -1;
        }
        head->tree_size = (uint64_t)cols[0].i;
        head->sig_len = cols[3].len;
        head->token_len = cols[4].len;
        return 1;
}

/* Sign and store the head of the current tree (state locked by caller). */
static int head_sign(struct evlog *log, const struct state *st, time_t now,
                     struct evlog_head *head, char *err, size_t errlen)
{
        unsigned char digest[CRYPTO_SHA256_LEN], *sig = NULL, *token = NULL;
        size_t tbslen, siglen, token_len;
        uint64_t serial;
        char *tbs = NULL;
        int ret = -1;

        memset(head, 0, sizeof(*head));
        head->tree_size = st->f.size;
        merkle_frontier_root(&st->f, head->root);
        if (ids_time_format(now, head->time, err, errlen) == -1 ||
            evlog_head_tbs(log, head, &tbs, &tbslen, err, errlen) == -1 ||
            crypto_sign(log->ttp_key, tbs, tbslen, &sig, &siglen, err,
                        errlen) == -1 ||
            crypto_sha256(tbs, tbslen, digest, err, errlen) == -1 ||
            crypto_random(&serial, sizeof(serial), err, errlen) == -1)
                goto done;
        serial >>= 1; /* a positive 63-bit serial number */
        if (tsa_stamp(log->tsa, digest, serial, &token, &token_len, NULL, err,
                      errlen) == -1)
                goto done;
        if (siglen > sizeof(head->sig) || token_len > sizeof(head->token)) {
                errbuf_set(err, errlen,
                           "evidence log: head signature or token too long");
                goto done;
        }
        memcpy(head->sig, sig, siglen);
        head->sig_len = siglen;
        memcpy(head->token, token, token_len);
        head->token_len = token_len;
        {
                struct db_val args[5] = {DB_I64(head->tree_size),
                                         DB_BIN(head->root, MERKLE_HASH_LEN),
                                         DB_STR(head->time),
                                         DB_BIN(head->sig, head->sig_len),
                                         DB_BIN(head->token, head->token_len)};
                if (db_exec(log->db, DB_LOG_HEAD_ADD, args, 5, NULL, err,
                            errlen) == -1)
                        goto done;
        }
        ret = 0;
done:
        free(tbs);
        free(sig);
        free(token);
        return ret;
}

int evlog_head(struct evlog *log, time_t now, struct evlog_head *head,
               int *signed_now, char *err, size_t errlen)
{
        const struct state *st;
        int rc;

        if (signed_now != NULL)
                *signed_now = 0;
        /* Lock the state first: the head then covers exactly the leaves
         * committed before it, and two signers cannot race. */
        if ((st = state_get(log, err, errlen)) == NULL)
                return -1;
        if ((rc = head_read(log, DB_LOG_HEAD_LATEST, NULL, 0, head, err,
                            errlen)) == -1)
                return -1;
        if (rc == 1 && head->tree_size == st->f.size)
                return 0;
        if (rc == 1 && head->tree_size > st->f.size) {
                errbuf_set(err, errlen,
                           "evidence log: a signed head (size %llu) is larger "
                           "than the log (%llu)",
                           (unsigned long long)head->tree_size,
                           (unsigned long long)st->f.size);
                return -1;
        }
        if (head_sign(log, st, now, head, err, errlen) == -1)
                return -1;
        if (signed_now != NULL)
                *signed_now = 1;
        return 0;
}

int evlog_head_covering(struct evlog *log, uint64_t index, time_t now,
                        struct evlog_head *head, char *err, size_t errlen)
{
        struct db_val arg = DB_I64(index);
        int rc;

        if ((rc = head_read(log, DB_LOG_HEAD_COVERING, &arg, 1, head, err,
                            errlen)) != 0)
                return rc == 1 ? 0 : -1;
        if (evlog_head(log, now, head, NULL, err, errlen) == -1)
                return -1;
        if (head->tree_size <= index) {
                errbuf_set(err, errlen,
                           "evidence log: leaf %llu not in the log",
                           (unsigned long long)index);
                return -1;
        }
        return 0;
}

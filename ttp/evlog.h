/*
 * evlog: the TTP's evidence log in MariaDB (sql/migrations/0002).
 *
 * Appends run inside the caller's transaction, so a leaf exists if and
 * only if the event it records committed; the log_state row they lock
 * makes leaf indexes gapless and ordered as the commits.  Heads are
 * signed by the TTP key and time-stamped (RFC 3161) by the TSA, also
 * inside the caller's transaction.  Nothing here commits.
 */
#ifndef TTP_EVLOG_H
#define TTP_EVLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ids.h"
#include "merkle.h"
#include "proto.h"

struct db;
struct crypto_key;
struct tsa_signer;
struct tbs_leaf;

#define EVLOG_TOKEN_MAX 8192 /* bytes of a DER TimeStampToken */

struct evlog;

/* A signed tree head as stored. */
struct evlog_head {
        uint64_t tree_size;
        merkle_hash root;
        char time[IDS_TIME_LEN + 1];
        unsigned char sig[PROTO_SIG_MAX];
        size_t sig_len;
        unsigned char token[EVLOG_TOKEN_MAX];
        size_t token_len;
};

/* `db`, `ttp_key` and `tsa` are borrowed and outlive the log. */
struct evlog *evlog_new(struct db *db, const struct crypto_key *ttp_key,
                        struct tsa_signer *tsa, char *err, size_t errlen);
void evlog_free(struct evlog *log);

/*
 * Append the leaf `leaf` (its TBS bytes) in the current transaction;
 * its index in `*index` (may be NULL).
 */
int evlog_append(struct evlog *log, const struct tbs_leaf *leaf, time_t now,
                 uint64_t *index, char *err, size_t errlen);

/*
 * Append `n` prepared leaves in the current transaction, reading and
 * writing the log state once (the benchmark's batch path).
 */
int evlog_append_many(struct evlog *log, const char *const *leaves,
                      const size_t *lens, const char *const *events,
                      const char *const *file_ids, size_t n, time_t now,
                      uint64_t *first_index, char *err, size_t errlen);

/*
 * Batch mode (engine.c, one transaction for many messages): the state row
 * is locked and read once per transaction and kept in memory; appends
 * change the copy, evlog_flush() writes it (call it before COMMIT).
 * evlog_batch() turns it on or off and forgets the copy (call it when a
 * transaction begins or ends), evlog_reset() forgets it (after a
 * ROLLBACK).  evlog_mark() remembers the copy, to be called just
 * before a SAVEPOINT (it writes the queued rows, below), and
 * evlog_undo() goes back to it after ROLLBACK TO SAVEPOINT.  Outside
 * batch mode every call reads, locks and writes the row itself.
 *
 * In batch mode the leaf and node rows are also kept (rowq.h) and
 * written by evlog_flush(), one INSERT per table, in the same
 * transaction; the functions that read them (proofs, evlog_find_leaf)
 * write them first.  evlog_appended() counts the rows appended in the
 * batch, written or not: a handler that changed it has written.
 */
void evlog_batch(struct evlog *log, int on);
void evlog_reset(struct evlog *log);
int evlog_flush(struct evlog *log, char *err, size_t errlen);
int evlog_mark(struct evlog *log, char *err, size_t errlen);
void evlog_undo(struct evlog *log);
uint64_t evlog_appended(const struct evlog *log);

/* The current size of the log (locks nothing). */
int evlog_size(struct evlog *log, uint64_t *size, char *err, size_t errlen);

/*
 * The latest signed head into `*head`; when the log has grown since (or
 * there is no head yet) sign one for the current size first, in the
 * current transaction.  `*signed_now` (may be NULL) says which.
 */
int evlog_head(struct evlog *log, time_t now, struct evlog_head *head,
               int *signed_now, char *err, size_t errlen);

/*
 * The oldest signed head that contains leaf `index` (signing one when
 * none does yet).
 */
int evlog_head_covering(struct evlog *log, uint64_t index, time_t now,
                        struct evlog_head *head, char *err, size_t errlen);

/* The index of the leaf with `leaf_hash`: 1 found, 0 not, -1 error. */
int evlog_find_leaf(struct evlog *log, const merkle_hash leaf_hash,
                    uint64_t *index, char *err, size_t errlen);

/* Proofs over the stored tree (sizes at most the current size). */
int evlog_inclusion_proof(struct evlog *log, uint64_t index, uint64_t size,
                          merkle_hash *proof, size_t *len, char *err,
                          size_t errlen);
int evlog_consistency_proof(struct evlog *log, uint64_t first, uint64_t second,
                            merkle_hash *proof, size_t *len, char *err,
                            size_t errlen);

/* The bytes the head's ttp_sig signs, for `log`'s TTP (caller frees). */
int evlog_head_tbs(struct evlog *log, const struct evlog_head *head, char **tbs,
                   size_t *len, char *err, size_t errlen);

#endif

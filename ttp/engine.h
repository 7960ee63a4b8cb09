/*
 * engine: the TTP's protocol engine (../shared/PROTOCOL.md, version 1).
 *
 * The engine applies consumed Kafka messages in batches: ONE MariaDB
 * transaction holds the effects of every message of a batch, the replies
 * they cause (rows of the outbox) and the next offset of every partition
 * the batch read, so that after a crash at any instant either all of a
 * batch exists or none of it does, and a message is never applied
 * twice.  A rejected message undoes only its own effects and keeps its
 * `error` (a savepoint, set for a message that rejects after writing;
 * see docs/architecture.md, "Batches").  A batch of one message is the
 * transaction per message of docs/protocol.md 7.0.
 * Publishing the outbox is relay.c's job.
 */
#ifndef TTP_ENGINE_H
#define TTP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

struct crypto_key;
struct db;
struct store;
struct ttp_conf;
struct engine;
struct evlog;
struct tsa_cert;

enum engine_result {
        ENGINE_APPLIED, /* committed: effects, replies and offsets */
        ENGINE_RETRY    /* nothing committed (database trouble): redo */
};

/*
 * A consumed message.  The engine borrows it (and what it points to)
 * from engine_batch_add() until engine_batch_end(): a deadlock applies
 * the batch's messages again from the first.
 */
struct engine_msg {
        const char *topic;
        int32_t partition;
        int64_t offset;
        const void *key; /* NULL when the message has none */
        size_t keylen;
        const void *value;
        size_t len;
        /* Out: -1 if the message was applied in this batch; otherwise
         * it was applied before, and its partition really continues at
         * this offset (seek there when it is the partition's last
         * message of the batch). */
        int64_t skip_to;
        /* In: the caller waited for the relay since engine_batch_add()
         * returned 2 for this message (see there). */
        int relay_waited;
};

/* Borrowed: conf, db and store must outlive the engine. */
/*
 * `log` is the evidence log every evidence event is appended to; `chain`
 * (`nchain` DER certificates, the TSA's first) goes with every signed
 * tree head.  All borrowed.
 */
struct engine *engine_new(const struct ttp_conf *conf, struct db *db,
                          struct store *store, const struct crypto_key *ttp_key,
                          struct evlog *log, const struct tsa_cert *chain,
                          size_t nchain, char *err, size_t errlen);
void engine_free(struct engine *e);

/* Open a batch: a transaction that engine_batch_end() closes. */
void engine_batch_begin(struct engine *e);

/*
 * Optional, before the first engine_batch_add() of the batch, with the
 * `n` messages about to be added (in order; borrowed for the call
 * only): lock their partitions' offset rows and look up, in one
 * statement per 32, which of their msg_ids were processed before, so
 * that applying a new message needs no retry look-up of its own.  A
 * failure is logged and undone; the messages are then checked one by
 * one as without it.
 */
void engine_batch_prefetch(struct engine *e, const struct engine_msg *msgs,
                           size_t n);

/* How the retry checks learnt whether a msg_id was processed before:
 * from the batch's look-up, or with a statement of their own. */
struct engine_stats {
        unsigned long long ids_new_looked_up;
        unsigned long long ids_processed_looked_up;
        unsigned long long ids_asked_alone;
};
void engine_stats(const struct engine *e, struct engine_stats *out);

/*
 * Apply `m` in the open batch, in its own savepoint, after the messages
 * added before it.  A deadlock rolls the batch back and applies its
 * messages again, up to a few times.  0 when applied (or skipped, see
 * skip_to).  1 when `m` cannot join this batch, because its msg_id is in
 * it already (a retry must find the first answer committed, and
 * published, to publish it again): nothing was done with `m`; end the
 * batch and add `m` to the next one.  2 when `m` is a retry whose first
 * answer is committed but not yet published: nothing was done with `m`;
 * end the batch, wait for the relay to drain (relay_sync), set
 * m->relay_waited and add `m` to the next batch.  -1 with a message when
 * the batch failed (database trouble): nothing of it will commit, add
 * nothing more, end it; the caller backs off, checks the database
 * connection and redelivers every partition of the batch from its first
 * message.
 */
int engine_batch_add(struct engine *e, struct engine_msg *m, char *err,
                     size_t errlen);

/*
 * Store the next offset of every partition the batch applied messages
 * of and COMMIT; a COMMIT lost with the connection is resolved by
 * reading the stored offsets back, never by blind retry.  Then, once
 * committed, the store files the batch released are removed.  The batch
 * is closed in every case (the messages are no longer borrowed).
 * ENGINE_RETRY (with a message) as for engine_batch_add().
 */
enum engine_result engine_batch_end(struct engine *e, char *err, size_t errlen);

/*
 * The next offset stored for a partition: -1 if none yet (start at the
 * beginning), -2 with a message on database error, and while a batch is
 * open (a rebalance callback run by the consumer poll that collects a
 * batch must not touch the batch's transaction: ask again after it).
 */
int64_t engine_stored_offset(struct engine *e, const char *topic,
                             int32_t partition, char *err, size_t errlen);

/*
 * Remove expired ongoing uploads (and their incoming files) and
 * downloads older than `grace` seconds past expiry.  Returns the number
 * of rows removed, -1 on error.
 */
int engine_sweep(struct engine *e, unsigned grace, char *err, size_t errlen);

/* Kill the process with SIGKILL if `name` is the configured test-only
 * crash point (see ttpd.conf.sample: test_crash_point). */
void engine_crash_point(const struct ttp_conf *conf, const char *name);

#endif

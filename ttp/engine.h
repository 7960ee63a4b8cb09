/*
 * engine: the TTP's protocol engine (../shared/PROTOCOL.md, version 1).
 *
 * engine_apply() takes one consumed Kafka message and applies it in ONE
 * MariaDB transaction together with the replies it causes (rows of the
 * outbox) and the partition's next offset, so that after a crash at any
 * instant either all of a message's effects and replies exist or none
 * does, and a message is never applied twice.  Publishing the outbox is
 * relay.c's job.
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
        ENGINE_APPLIED, /* committed: effects, replies and offset */
        ENGINE_SKIPPED, /* already applied earlier: seek to *next_offset */
        ENGINE_RETRY    /* nothing committed (database trouble): redo */
};

/* Borrowed: conf, db, store and key must outlive the engine. */
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

/*
 * Apply the message at `offset` of `topic` [`partition`].  On
 * ENGINE_SKIPPED `*next_offset` is where the partition really continues.
 * On ENGINE_RETRY `err` says why; the caller backs off, checks the
 * database connection and redelivers the same message.
 */
enum engine_result engine_apply(struct engine *e, const char *topic,
                                int32_t partition, int64_t offset,
                                const void *key, size_t keylen,
                                const void *value, size_t len,
                                int64_t *next_offset, char *err, size_t errlen);

/* The next offset stored for a partition: -1 if none yet (start at the
 * beginning), -2 with a message on database error. */
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

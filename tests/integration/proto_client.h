/*
 * proto_client: an independent TDS protocol client for black-box tests,
 * written from ../shared/PROTOCOL.md and docs/protocol.md (sec. 11) only.
 * It builds envelopes with jansson and talks to Kafka with librdkafka
 * directly; from libtds it borrows only the primitives (crypto, TBS
 * strings, base64, hex, ids, the reply partitioner).
 *
 * Three parts:
 *  - users: a name and a fresh P-256 key;
 *  - a sender: envelopes built, signed when the contract says so, and
 *    produced with the contract's key (file_id, or the user for register
 *    and catalog.request); raw bytes for hostile input;
 *  - readers: one consumer assigned to exactly the partition of
 *    tds.replies that carries a user's replies (or to every partition of
 *    tds.dead-letter), from the beginning.  Every TTP message for the user
 *    is checked against the contract (envelope and body fields, their
 *    formats); a duplicate msg_id is dropped and counted.
 *
 * Functions returning int give 0 or -1 with a message in `err`.
 */
#ifndef PROTO_CLIENT_H
#define PROTO_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "crypto.h"
#include "ids.h"
#include "kafka.h"

#define PC_ERR_MAX 2048

/* A user of the protocol: name and key pair.  pc_user_init/pc_user_fini. */
struct pc_user {
        char name[IDS_USER_MAX + 1];
        struct crypto_key *key;
        char key_id[CRYPTO_KEY_ID_LEN + 1];
        unsigned char *spki; /* SubjectPublicKeyInfo DER */
        size_t spki_len;
        char *spki_b64;
};

/* A fresh user "<prefix>-<12 random hex>" (prefix: [a-z0-9._-], short)
 * with a fresh key. */
int pc_user_init(struct pc_user *u, const char *prefix, char *err,
                 size_t errlen);

/* pc_user_new_key: replace the user's key with a fresh one (key
 * conflicts). */
int pc_user_new_key(struct pc_user *u, char *err, size_t errlen);
void pc_user_fini(struct pc_user *u);

/* Where a produced message landed (from the delivery report). */
struct pc_sent {
        int32_t partition;
        int64_t offset;
};

/* The sender: one producer. */
struct pc;

/* pc_new: a producer on `bootstrap` for the topics of `prefix` ("tds").
 * Caller frees with pc_free. */
struct pc *pc_new(const char *bootstrap, const char *prefix, char *err,
                  size_t errlen);
void pc_free(struct pc *pc);
const struct kafka_topics *pc_topics(const struct pc *pc);
const char *pc_bootstrap(const struct pc *pc);

/* pc_type_is_signed: 1 for the types whose envelope carries `sig`. */
int pc_type_is_signed(const char *type);

/*
 * pc_request_new: the envelope {"v":1,"type","msg_id","user","body","sig"}
 * of a request from `u`, with a fresh msg_id; `body` is stolen.  When the
 * type is signed (or `force_sign`), `sig` is u's signature over the request
 * TBS (file_id from body.file_id except for register and catalog.request,
 * public_key_sha256 = u's key id for register).  Returns a new reference,
 * NULL with `err` on failure.
 */
json_t *pc_request_new(const struct pc_user *u, const char *type, json_t *body,
                       int force_sign, char *err, size_t errlen);

/*
 * pc_request_sign: (re)compute envelope `sig` from the envelope's current
 * type, msg_id, user and body.file_id with `key` (any key: forgeries), with
 * `public_key_sha256` (NULL = empty) for the request TBS.
 */
int pc_request_sign(json_t *env, const struct crypto_key *key,
                    const char *public_key_sha256, char *err, size_t errlen);

/* pc_transport_key: the Kafka key the contract prescribes for `env`
 * (borrowed from env, NULL if it has none). */
const char *pc_transport_key(const json_t *env);

/* pc_send_json: serialize `env` (borrowed) compactly and produce it with
 * its transport key; waits for the delivery report. */
int pc_send_json(struct pc *pc, const json_t *env, struct pc_sent *sent,
                 char *err, size_t errlen);

/*
 * pc_send_json_async: produce `env` (borrowed) as pc_send_json does, but
 * return at once; the delivery report later calls `cb(arg, NULL)` on
 * success or `cb(arg, reason)` on failure, from pc_poll (or pc_free).
 * Returns -1 with `err` if the producer refused the message at once (then
 * `cb` is never called).
 */
int pc_send_json_async(struct pc *pc, const json_t *env,
                       void (*cb)(void *arg, const char *failure), void *arg,
                       char *err, size_t errlen);

/* pc_poll: serve the producer's delivery reports for up to `ms`. */
void pc_poll(struct pc *pc, int ms);

/* pc_send: pc_request_new + pc_send_json; the envelope is returned in
 * `*env_out` (new reference, may be NULL to drop it).  `body` is stolen. */
int pc_send(struct pc *pc, const struct pc_user *u, const char *type,
            json_t *body, json_t **env_out, char *err, size_t errlen);

/* pc_send_raw: produce `len` bytes to tds.requests with key `key`
 * (`keylen` bytes, NULL for none). */
int pc_send_raw(struct pc *pc, const void *key, size_t keylen,
                const void *value, size_t len, struct pc_sent *sent, char *err,
                size_t errlen);

/* pc_send_raw_to: the same to any topic (the client's self-check plays
 * the TTP on tds.replies). */
int pc_send_raw_to(struct pc *pc, const char *topic, const void *key,
                   size_t keylen, const void *value, size_t len,
                   struct pc_sent *sent, char *err, size_t errlen);

/* pc_log_to: librdkafka's log lines of every client created from now on
 * go to `f` (NULL: librdkafka's default, stderr).  `f` must outlive
 * them. */
void pc_log_to(FILE *f);

/* --- readers ----------------------------------------------------------- */

struct pc_reader;

/*
 * pc_reader_new: a consumer of `topic` from the beginning.  With `user`,
 * only the partition kafka_reply_partition(user, count) is assigned and
 * only envelopes addressed to `user` are kept (each one checked against
 * the contract); without, every partition is assigned and every record
 * is kept as parsed JSON (dead letters).  Caller frees.
 */
struct pc_reader *pc_reader_new(const char *bootstrap, const char *topic,
                                const char *user, char *err, size_t errlen);
void pc_reader_free(struct pc_reader *r);

/* pc_reader_poll: consume for up to `ms` milliseconds.  Fails on a
 * consumer error or a TTP message that breaks the contract. */
int pc_reader_poll(struct pc_reader *r, int ms, char *err, size_t errlen);

/*
 * pc_reader_tolerate_transient: from now on a consumer error that a
 * fault of the broker explains (transport, all brokers down, timeouts:
 * anything but a lost offset or a fatal error) is counted, not a
 * violation.  A lost offset (auto.offset.reset=error) still fails.
 */
void pc_reader_tolerate_transient(struct pc_reader *r);

/* pc_reader_transient: how many such errors were tolerated; the last one
 * is copied into `last` (may be NULL). */
int pc_reader_transient(const struct pc_reader *r, char *last, size_t lastlen);

/* pc_reader_item: the i-th distinct kept message, in arrival order
 * (borrowed, valid until pc_reader_free), or NULL past the end. */
const json_t *pc_reader_item(const struct pc_reader *r, size_t i);

/* What a wait looks for; NULL members match anything.  The others
 * match the body fields of those names (`in_reply_to`: of an `error`). */
struct pc_match {
        const char *type;
        const char *file_id;
        const char *in_reply_to;
        const char *nonce;
};

/*
 * pc_reader_wait: the first kept message that matches `m` and was not
 * returned before, waiting up to `timeout_ms`.  It is marked consumed and
 * returned borrowed (valid until pc_reader_free).  When `req_msg_id` is
 * given and an `error` in reply to it arrives instead, the wait fails at
 * once with that error's code and message.  On timeout the message lists
 * what did arrive.
 */
json_t *pc_reader_wait(struct pc_reader *r, const struct pc_match *m,
                       const char *req_msg_id, int timeout_ms, char *err,
                       size_t errlen);

/* pc_reader_wait_fn: as pc_reader_wait with a predicate on the kept
 * JSON (the envelope, or a dead-letter record). */
json_t *pc_reader_wait_fn(struct pc_reader *r,
                          int (*pred)(const json_t *msg, void *arg), void *arg,
                          int timeout_ms, char *err, size_t errlen);

/* pc_reader_count: how many distinct kept messages match `m`, returned
 * or not. */
int pc_reader_count(const struct pc_reader *r, const struct pc_match *m);

/* pc_reader_find: the first kept message matching `m`, returned or not
 * (borrowed), or NULL. */
const json_t *pc_reader_find(const struct pc_reader *r,
                             const struct pc_match *m);

/* pc_reader_dups: how many duplicates of `msg_id` were dropped (NULL:
 * of every msg_id). */
int pc_reader_dups(const struct pc_reader *r, const char *msg_id);

/* pc_reader_unconsumed: a description of the kept messages never
 * returned by a wait, into `out`; returns how many there are. */
int pc_reader_unconsumed(const struct pc_reader *r, char *out, size_t outlen);

/* pc_reader_total: distinct messages kept. */
int pc_reader_total(const struct pc_reader *r);

/* --- contract helpers ----------------------------------------------------
 */

/* pc_b64_decode: decode the base64 JSON string `v` (caller frees *out);
 * -1 if `v` is not a string of canonical base64. */
int pc_b64_decode(const json_t *v, unsigned char **out, size_t *outlen);

/* pc_sha256_hex_b64: hex SHA-256 of the bytes a base64 string holds. */
int pc_sha256_hex_b64(const char *b64, char *hex, char *err, size_t errlen);

/* pc_sign_b64: u's signature over `tbs` as base64 (caller frees). */
char *pc_sign_b64(const struct crypto_key *key, const char *tbs, size_t len,
                  char *err, size_t errlen);

/* pc_verify_b64: 0 if base64 `sig_b64` verifies over `tbs` under `key`. */
int pc_verify_b64(const struct crypto_key *key, const char *tbs, size_t len,
                  const char *sig_b64, char *err, size_t errlen);

/* pc_key_from_b64: a public key from base64 SPKI DER; caller frees. */
struct crypto_key *pc_key_from_b64(const char *b64, char *err, size_t errlen);

/* pc_key_from_pem_file: a public key from an SPKI PEM file ("BEGIN PUBLIC
 * KEY"); caller frees. */
struct crypto_key *pc_key_from_pem_file(const char *path, char *err,
                                        size_t errlen);

/* pc_str: body[name] as a string, or NULL (borrowed). */
const char *pc_str(const json_t *obj, const char *name);

/* pc_body: env.body (borrowed). */
json_t *pc_body(const json_t *env);

#endif

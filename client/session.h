/*
 * session: the client's conversation with the TTP over Kafka.
 *
 * Requests go to <prefix>.requests with the idempotent producer, keyed as
 * the contract says (the file_id; the user for register and
 * catalog.request).  Replies come from the ONE partition of
 * <prefix>.replies that carries my user name (kafka_reply_partition),
 * assigned directly (no group is joined, nothing is committed), from the
 * position remembered in <home>/replies.pos.  Every reply addressed to me
 * that decodes and was not seen before (by msg_id, <home>/seen) is
 * appended to <home>/inbox.jsonl and fsynced BEFORE the position moves
 * past it, so a reply is never lost, whatever instant the process dies.
 * Commands then take what they wait for from the inbox and acknowledge
 * it once they have kept what they need; everything else stays for later
 * commands (receipts for `tds receipts`, a delivery for a resumed
 * download).  An flock on <home>/lock keeps two tds processes on one home
 * from interleaving.
 */
#ifndef TDS_CLIENT_SESSION_H
#define TDS_CLIENT_SESSION_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "ids.h"
#include "proto.h"

#define SESSION_RESEND_MS 10000 /* re-send an unanswered request */

enum session_status {
        SESSION_OK,
        SESSION_ERR,    /* failed; the message says why */
        SESSION_TIMEOUT /* the broker or the TTP did not answer */
};

struct session;

/*
 * Take the home's lock (waiting up to the timeout for another tds),
 * load the inbox, reach the broker and assign my reply partition.  A
 * broker that cannot be reached is SESSION_TIMEOUT with a message naming
 * it.  `ctx` is borrowed and must outlive the session; its key is used
 * to sign requests.  Caller frees with session_free (also on failure).
 */
enum session_status session_open(struct session **out,
                                 const struct cli_ctx *ctx, char *err,
                                 size_t errlen);
void session_free(struct session *s);

/* One encoded request, kept byte for byte so that a re-send is a retry. */
struct session_req {
        enum proto_type type;
        char msg_id[IDS_MSG_ID_LEN + 1];
        char key[IDS_FILE_ID_MAX + 1];     /* Kafka key: file_id or user */
        char file_id[IDS_FILE_ID_MAX + 1]; /* "" when the type has none */
        char *value;                       /* the envelope JSON */
        size_t len;
};

/*
 * Build the request `type` with `body` (stolen) from ctx's user: a fresh
 * msg_id (or `msg_id` when not NULL), the envelope `sig` over the request
 * TBS when the type is signed.  session_req_fini releases it.
 */
int session_req_new(struct session_req *req, const struct cli_ctx *ctx,
                    enum proto_type type, json_t *body, const char *msg_id,
                    char *err, size_t errlen);
void session_req_fini(struct session_req *req);
/* As JSON for a local record ({"type","msg_id","key","value"}), and back. */
json_t *session_req_to_json(const struct session_req *req);
int session_req_from_json(struct session_req *req, const json_t *obj, char *err,
                          size_t errlen);

/*
 * Produce `req` and wait until the broker has it (the idempotent
 * producer's acks).  A broker that does not take it within the timeout
 * is SESSION_TIMEOUT.
 */
enum session_status session_send(struct session *s,
                                 const struct session_req *req, char *err,
                                 size_t errlen);

/* What a wait looks for: a type and, when not NULL, body fields. */
struct session_match {
        enum proto_type type;
        const char *file_id;
        const char *nonce;
};

/*
 * Wait up to the timeout for an inbox message matching one of the `nm`
 * entries of `m`, or an `error` in reply to `req` (may be NULL), reading
 * replies meanwhile and re-sending `req` unchanged every
 * SESSION_RESEND_MS.  On SESSION_OK `*which` is the index of the match
 * (-1 for the error) and `msg` holds the decoded message (the caller
 * calls proto_msg_fini); it stays in the inbox until session_ack.  On
 * SESSION_TIMEOUT the message says whether the broker or the TTP failed
 * to answer, and `what` (e.g. "upload.challenge for f1") names what was
 * awaited.
 */
enum session_status
session_wait(struct session *s, const struct session_match *m, size_t nm,
             const struct session_req *req, const char *what, int *which,
             struct proto_msg *msg, char *err, size_t errlen);

/* session_send, then session_wait with `req` as the request. */
enum session_status
session_call(struct session *s, const struct session_req *req,
             const struct session_match *m, size_t nm, const char *what,
             int *which, struct proto_msg *msg, char *err, size_t errlen);

/* The exit code for a failed status: 3 for a timeout, else 1. */
int session_exit_code(enum session_status st);

/* Remove the message `msg_id` from the inbox (persisted). */
int session_ack(struct session *s, const char *msg_id, char *err,
                size_t errlen);

/*
 * Drop the inbox messages of `type` (for `file_id` when not NULL) that
 * answer earlier, abandoned attempts.  Returns how many, or -1.
 */
int session_discard(struct session *s, enum proto_type type,
                    const char *file_id, char *err, size_t errlen);

/*
 * Before a new request whose answers carry no in_reply_to (register,
 * catalog, the challenges): read up to now (session_collect) and drop the
 * `n` `types` (for `file_id` when not NULL) already there, left by
 * earlier attempts or by another home of the same user, so that only
 * answers to the new request can match.
 */
enum session_status session_fresh(struct session *s,
                                  const enum proto_type *types, size_t n,
                                  const char *file_id, char *err,
                                  size_t errlen);

/*
 * Read my reply partition up to its end (what the broker holds now)
 * into the inbox.  SESSION_TIMEOUT when the broker does not answer.
 */
enum session_status session_collect(struct session *s, char *err,
                                    size_t errlen);

/* The inbox: count, and the i-th message decoded (proto_msg_fini). */
size_t session_inbox_count(const struct session *s);
enum proto_type session_inbox_type(const struct session *s, size_t i);
const char *session_inbox_msg_id(const struct session *s, size_t i);
int session_inbox_get(const struct session *s, size_t i, struct proto_msg *msg,
                      char *err, size_t errlen);

#endif

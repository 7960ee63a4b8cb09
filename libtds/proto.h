/*
 * proto: the TDS wire format, version 1 (../shared/PROTOCOL.md,
 * docs/protocol.md): decoding and strict validation of envelopes and
 * bodies, the request TBS, and encoding of envelopes.
 *
 * Decoding is table-driven: every body field has one kind (a file id, a
 * nonce, a signature, ...) validated the same way wherever it appears,
 * and every message type lists its required and optional fields; any
 * other key is rejected (additionalProperties: false).  JSON is parsed
 * with jansson's JSON_REJECT_DUPLICATES; NUL in strings is refused.
 */
#ifndef TDS_PROTO_H
#define TDS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define PROTO_VERSION     1
#define PROTO_MESSAGE_MAX (1024 * 1024) /* bytes of one Kafka value */
#define PROTO_NONCE_LEN   32            /* bytes */
#define PROTO_SIG_MAX     72            /* bytes: DER ECDSA P-256 at most */
#define PROTO_PUBKEY_MAX  200           /* bytes of SPKI DER */
#define PROTO_BIN_MAX     200           /* largest binary field */
#define PROTO_NAME_MAX    1024          /* bytes of UTF-8 in `name` */
#define PROTO_REASON_MAX  1024          /* bytes of UTF-8 in free text */
#define PROTO_SIZE_MAX    ((uint64_t)1 << 40) /* 1 TiB */
#define PROTO_PATH_MAX    255                 /* bytes of a store path */
#define PROTO_CATALOG_MAX 1000                /* entries in one catalog */
#define PROTO_TOKEN_MAX   8192 /* bytes of a DER TimeStampToken */
#define PROTO_CERT_MAX    4096 /* bytes of one DER certificate */
#define PROTO_CHAIN_MAX   4    /* certificates in a TSA chain */
#define PROTO_PROOF_MAX   128  /* hashes in a Merkle proof */
#define PROTO_COUNT_MAX   ((uint64_t)1 << 53) /* tree sizes, exact in JSON */

enum proto_type {
        PROTO_REGISTER,
        PROTO_REGISTER_RESULT,
        PROTO_UPLOAD_REQUEST,
        PROTO_UPLOAD_CHALLENGE,
        PROTO_UPLOAD_COMMIT,
        PROTO_UPLOAD_RESULT,
        PROTO_DOWNLOAD_REQUEST,
        PROTO_DOWNLOAD_CHALLENGE,
        PROTO_DOWNLOAD_RECEIPT,
        PROTO_RECEIPT,
        PROTO_DELIVERY,
        PROTO_ABORT,
        PROTO_ABORT_RESULT,
        PROTO_DOWNLOAD_CANCELLED,
        PROTO_CATALOG_REQUEST,
        PROTO_CATALOG,
        PROTO_ERROR,
        /* The evidence log (docs/protocol.md, "Evidence log"). */
        PROTO_LOG_HEAD_REQUEST,
        PROTO_LOG_HEAD,
        PROTO_LOG_PROOF_REQUEST,
        PROTO_LOG_PROOF,
        PROTO_LOG_CONSISTENCY_REQUEST,
        PROTO_LOG_CONSISTENCY,
        PROTO_TYPE_COUNT
};

/* The contract's error codes; PROTO_OK is not one. */
enum proto_code {
        PROTO_OK,
        PROTO_BAD_JSON,
        PROTO_BAD_SCHEMA,
        PROTO_BAD_SIGNATURE,
        PROTO_UNKNOWN_USER,
        PROTO_UNKNOWN_FILE,
        PROTO_NONCE_INVALID,
        PROTO_NONCE_EXPIRED,
        PROTO_HASH_MISMATCH,
        PROTO_BAD_PATH,
        PROTO_NOT_OWNER,
        PROTO_FILE_ABORTED,
        PROTO_FILE_EXISTS,
        PROTO_KEY_CONFLICT,
        PROTO_TOO_LARGE,
        PROTO_INTERNAL,
        PROTO_UNKNOWN_LEAF, /* log.proof.request: no such leaf */
        PROTO_BAD_RANGE,    /* log.consistency.request: sizes not in the log */
        PROTO_CODE_COUNT
};

/* Every body field of every type. */
enum proto_field {
        PF_FILE_ID,
        PF_NAME,
        PF_SIZE,
        PF_NONCE,
        PF_KEY_ID,
        PF_INCOMING_PATH,
        PF_EXPIRES_AT,
        PF_PATH,
        PF_SHA256,
        PF_NRO,
        PF_VERIFIED,
        PF_REASON,
        PF_TIME,
        PF_TTP_SIG,
        PF_UPLOADER,
        PF_UPLOADER_PUBLIC_KEY,
        PF_UPLOAD_NONCE,
        PF_NRR,
        PF_DOWNLOADER,
        PF_DOWNLOADER_PUBLIC_KEY,
        PF_NRO_SHA256,
        PF_OBJECT_PATH,
        PF_ABORT,
        PF_FILES,
        PF_IN_REPLY_TO,
        PF_CODE,
        PF_MESSAGE,
        PF_PUBLIC_KEY,
        PF_TREE_SIZE,
        PF_ROOT_HASH,
        PF_TIMESTAMP_TOKEN,
        PF_TSA_CHAIN,
        PF_LEAF_HASH,
        PF_LEAF_INDEX,
        PF_PROOF,
        PF_FIRST,
        PF_SECOND,
        PF_COUNT
};

/*
 * One decoded field.  `str` is the JSON string as sent (borrowed from the
 * message's JSON tree; NULL for numbers and booleans); binary kinds
 * (base64, hex digests) are also decoded into `bin`/`bin_len`; numbers
 * into `num`, booleans into `boolean`.  `json` is the raw value (for
 * `files`, the validated array).
 */
struct proto_value {
        int present;
        const char *str;
        uint64_t num;
        int boolean;
        unsigned char bin[PROTO_BIN_MAX];
        size_t bin_len;
        json_t *json;
};

struct proto_msg {
        json_t *root; /* owns every borrowed string below */
        enum proto_type type;
        /* Set as soon as they were read and valid, even when decoding
         * failed later: they decide where an error reply goes. */
        int attributable;
        char msg_id[33];
        char user[65];
        struct proto_value sig; /* envelope sig; present 0 when absent */
        struct proto_value f[PF_COUNT];
};

const char *proto_type_name(enum proto_type type);
/* -1 if `name` is no type of version 1. */
int proto_type_from_name(const char *name, enum proto_type *type);
/* Sent by clients to the TTP (register, upload.request, ...). */
int proto_type_is_request(enum proto_type type);
/* Requests that carry an envelope `sig` (the others are signed inside). */
int proto_type_is_signed(enum proto_type type);
const char *proto_code_name(enum proto_code code);
const char *proto_field_name(enum proto_field field);

/*
 * Decode and validate one Kafka message value.  On success 0 and `msg`
 * holds the message (proto_msg_fini frees it).  On failure -1, `*code`
 * is PROTO_BAD_JSON, PROTO_BAD_SCHEMA or PROTO_TOO_LARGE, `err` says
 * what is wrong (naming the field), and msg->attributable tells whether
 * msg->user and msg->msg_id were read; proto_msg_fini must still be
 * called.  Checks only the form: whether a user, file or nonce exists is
 * the engine's business.
 */
int proto_decode(const void *buf, size_t len, struct proto_msg *msg,
                 enum proto_code *code, char *err, size_t errlen);
void proto_msg_fini(struct proto_msg *msg);

/*
 * The request TBS of `msg` (a request type): type, msg_id, user,
 * file_id (empty unless the body has one), public_key_sha256 (hex
 * SHA-256 of the SPKI DER for register, else empty).  Caller frees.
 */
int proto_request_tbs(const struct proto_msg *msg, char **out, size_t *outlen,
                      char *err, size_t errlen);

/*
 * Encode an envelope {"v":1,"type":...,"msg_id":...,"user":...,
 * "body":body[,"sig":sig_b64]} as compact JSON.  Steals `body`.
 * Caller frees the returned string; NULL with a message on error.
 */
char *proto_envelope_dump(enum proto_type type, const char *msg_id,
                          const char *user, json_t *body, const char *sig_b64,
                          size_t *len, char *err, size_t errlen);

#endif

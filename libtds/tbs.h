/*
 * tbs: the to-be-signed strings of the contract (PROTOCOL.md, "TBS
 * strings").  A TBS is the line "tds/1 <kind>" and then one "name=value"
 * line per field in the contract's order, every line ending in "\n".
 *
 * Field values are borrowed C strings; NULL means "does not apply / not
 * known yet" and is written as an empty value, exactly like "".  Values are
 * copied verbatim: formatting them (decimal sizes, lowercase hex, padded
 * base64, RFC 3339 times) is the caller's job, because signer and verifier
 * must both start from the same wire values.  A value containing '\n' or
 * '\r' is refused, since it could forge a line of its own.  A NUL cannot
 * occur inside a C string; callers holding counted strings (JSON "\u0000")
 * must reject those before calling here.
 *
 * Each builder returns 0 and a NUL-terminated heap buffer in `*out`
 * (caller frees) of `*outlen` bytes (without the NUL), or -1 with a message
 * in `err` (may be NULL) and `*out` NULL.
 */
#ifndef TDS_TBS_H
#define TDS_TBS_H

#include <stddef.h>

/* kind "request": the envelope `sig` of every signed client message. */
struct tbs_request {
        const char *type;              /* envelope type, "upload.request" */
        const char *msg_id;            /* 32 lowercase hex */
        const char *user;              /* the sender */
        const char *file_id;           /* NULL when the type has none */
        const char *public_key_sha256; /* NULL unless type is "register" */
};

/* kind "nro": A's non-repudiation of origin, body `nro` of upload.commit. */
struct tbs_nro {
        const char *file_id;
        const char *uploader;
        const char *sha256; /* of M, lowercase hex */
        const char *size;   /* of M, decimal */
        const char *nonce;  /* A's upload nonce, base64 */
};

/* kind "nrr": B's non-repudiation of receipt, body `nrr` of
 * download.receipt. */
struct tbs_nrr {
        const char *file_id;
        const char *downloader;
        const char *sha256;     /* of M */
        const char *nro_sha256; /* SHA-256 of the NRO signature DER bytes */
        const char *nonce;      /* B's download nonce, base64 */
};

/* kind "evidence": the TTP's countersignature, body `ttp_sig`. */
struct tbs_evidence {
        const char *event; /* "upload", "exchange" or "abort" */
        const char *file_id;
        const char *uploader;
        const char *downloader; /* NULL for upload and abort */
        const char *sha256;
        const char *nro_sha256;
        const char *nrr_sha256; /* NULL unless exchange */
        const char *time;       /* RFC 3339 UTC, "Z" */
};

/*
 * kind "leaf": one entry of the evidence log (docs/evidence.md); its
 * Merkle leaf hash is SHA-256(0x00 || these bytes).  Every field that
 * does not apply to the event is "".
 */
struct tbs_leaf {
        const char *event; /* "upload", "exchange" or "abort" */
        const char *file_id;
        const char *uploader;
        const char *uploader_key_id; /* key id (64 hex) of A's key */
        const char *downloader;
        const char *downloader_key_id;
        const char *sha256;
        const char *size;           /* decimal */
        const char *upload_nonce;   /* base64 */
        const char *download_nonce; /* base64 */
        const char *nro_sha256;
        const char *nrr_sha256;
        const char *abort;          /* abort outcome "1".."3", "" otherwise */
        const char *time;           /* the evidence's time */
        const char *ttp_sig_sha256; /* SHA-256 of the TTP's DER ttp_sig */
};

/* kind "tree_head": a signed tree head of the evidence log. */
struct tbs_tree_head {
        const char *log_id;    /* key id of the TTP key (64 hex) */
        const char *tree_size; /* decimal */
        const char *root_hash; /* 64 hex */
        const char *time;      /* RFC 3339 UTC, "Z" */
};

/* tbs_request: "tds/1 request\ntype=...\nmsg_id=...\n..."; caller frees. */
int tbs_request(const struct tbs_request *f, char **out, size_t *outlen,
                char *err, size_t errlen);

/* tbs_nro: "tds/1 nro\nfile_id=...\n..."; caller frees. */
int tbs_nro(const struct tbs_nro *f, char **out, size_t *outlen, char *err,
            size_t errlen);

/* tbs_nrr: "tds/1 nrr\nfile_id=...\n..."; caller frees. */
int tbs_nrr(const struct tbs_nrr *f, char **out, size_t *outlen, char *err,
            size_t errlen);

/* tbs_evidence: "tds/1 evidence\nevent=...\n..."; caller frees. */
int tbs_evidence(const struct tbs_evidence *f, char **out, size_t *outlen,
                 char *err, size_t errlen);

/* tbs_leaf: "tds/1 leaf\nevent=...\n..."; caller frees. */
int tbs_leaf(const struct tbs_leaf *f, char **out, size_t *outlen, char *err,
             size_t errlen);

/* tbs_tree_head: "tds/1 tree_head\nlog_id=...\n..."; caller frees. */
int tbs_tree_head(const struct tbs_tree_head *f, char **out, size_t *outlen,
                  char *err, size_t errlen);

#endif

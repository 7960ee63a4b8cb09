/*
 * bundle: self-contained evidence bundles and signed tree heads, and
 * their offline verdict (docs/evidence.md).
 *
 * A tree head file (schemas/tree-head.schema.json) is what an auditor
 * keeps of the evidence log:
 *   { "tds_tree_head": 1, "log_id", "tree_size", "root_hash", "time",
 *     "ttp_sig", "timestamp_token", "tsa_chain": [...] }
 * log_id is the key id of the TTP key; ttp_sig signs the "tds/1
 * tree_head" TBS (log_id, tree_size, root_hash, time); timestamp_token is
 * an RFC 3161 TimeStampToken (base64 DER) over SHA-256 of the same TBS
 * bytes; tsa_chain holds base64 DER certificates, the TSA's first, the
 * trust anchor (by default the TTP's own CA certificate) last.
 *
 * A bundle (schemas/bundle.schema.json) is everything a judge needs:
 *   { "tds_bundle": 1,
 *     "evidence": { an evidence object, libtds/evidence.h },
 *     "leaf_index": N, "inclusion_proof": [64-hex, ...],
 *     "tree_head": { a tree head object without "tds_tree_head" } }
 * The leaf itself is not stored: it is rebuilt from the evidence
 * (tbs_leaf: key ids from the public keys, ttp_sig_sha256 from ttp_sig,
 * time from the evidence), so a bundle cannot carry a leaf that says
 * something else than its evidence.
 */
#ifndef TDS_BUNDLE_H
#define TDS_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <jansson.h>

#include "crypto.h"
#include "evidence.h"
#include "merkle.h"

#define BUNDLE_CHAIN_MAX 4

/* A signed tree head; strings borrowed from the JSON it was read from. */
struct bundle_head {
        const char *log_id; /* 64 hex */
        uint64_t tree_size;
        const char *root_hash;       /* 64 hex */
        const char *time;            /* RFC 3339 UTC */
        const char *ttp_sig;         /* base64 DER */
        const char *timestamp_token; /* base64 DER */
        const char *tsa_chain[BUNDLE_CHAIN_MAX];
        size_t tsa_chain_len;
};

/* Read a head object strictly (with or without "tds_tree_head"). */
int bundle_head_from_json(json_t *obj, struct bundle_head *head, char *err,
                          size_t errlen);
/* A new head object, "tds_tree_head": 1 included when `file` is set. */
json_t *bundle_head_to_json(const struct bundle_head *head, int file, char *err,
                            size_t errlen);

/*
 * Trust for heads.  `ttp_key_pem` (may be NULL): the TTP public key
 * (SPKI PEM) the head must be signed by; `ttp_key_id` (may be NULL, 64
 * lowercase hex) pins the key by its key id instead, as `tds verify
 * --ttp-key-id` does.  Without either, the key comes from the evidence
 * (bundles) or, for heads alone, from the certificate of tsa_chain that
 * holds the key log_id names: it is then not pinned and the verdict
 * (and whoever prints it) says so.  `tsa_root_pem` (may be NULL): the
 * trust anchor of the TSA chain; without it the last certificate of
 * tsa_chain is the anchor and must hold the TTP's public key (the TTP
 * is its own TSA).  With it, every certificate of tsa_chain is only an
 * untrusted helper, and tsa_chain may be empty (heads read from the
 * TTP's database, whose tokens carry the TSA's certificate).
 */
struct bundle_trust {
        const char *ttp_key_pem;
        size_t ttp_key_pem_len;
        const char *tsa_root_pem;
        size_t tsa_root_pem_len;
        const char *ttp_key_id;
};

/* What a successful check established. */
struct bundle_verdict {
        time_t stamped_at; /* the token's genTime */
        uint64_t tree_size;
        uint64_t leaf_index; /* bundles only */
        int ttp_key_pinned;  /* the TTP key was given by `trust` */
        char ttp_key_id[CRYPTO_KEY_ID_LEN + 1]; /* the head's signer */
};

/*
 * Verify a head alone: log_id is the key id of the TTP key (of the pin
 * when there is one), ttp_sig over the tree_head TBS under it, the
 * token's message imprint is SHA-256 of that TBS, the token is signed by
 * a TSA with the timeStamping EKU chaining to the anchor (checked at the
 * token's genTime, so that old heads stay checkable after certificates
 * expire; without `tsa_root_pem` the anchor must hold the TTP's key),
 * genTime within 5 minutes of the head's time.  0 when all holds and
 * `verdict` (may be NULL) filled; -1 with the reason otherwise, starting
 * with the piece: "tree head:", "timestamp token:", or "trust:" when the
 * caller's own PEM does not parse.
 */
int bundle_head_verify(const struct bundle_head *head,
                       const struct bundle_trust *trust,
                       struct bundle_verdict *verdict, char *err,
                       size_t errlen);

/*
 * The leaf TBS of an evidence object and its Merkle leaf hash.
 * `*leaf` is malloc'ed (caller frees), may be NULL if not wanted.
 */
int bundle_leaf(const struct evidence *ev, char **leaf, size_t *leaf_len,
                merkle_hash leaf_hash, char *err, size_t errlen);

/* A bundle read from JSON; strings borrowed from it. */
struct bundle {
        struct evidence ev;
        uint64_t leaf_index;
        merkle_hash proof[MERKLE_MAX_PROOF];
        size_t proof_len;
        struct bundle_head head;
};

/*
 * Read a bundle object strictly: exactly its five fields, the evidence
 * as evidence_from_json, the head as bundle_head_from_json without
 * "tds_tree_head", the proof as bundle_proof_from_json.  Forms only: a
 * bundle that reads may still prove nothing (bundle_verify).
 */
int bundle_from_json(json_t *obj, struct bundle *b, char *err, size_t errlen);

/*
 * Verify a bundle, in this order, stopping at the first failure with a
 * reason that names the piece: the bundle's form; evidence_verify() (the
 * NRO, the NRR, the TTP's countersignature, the TTP key against the pin
 * of `trust` if any, `doc_path` if not NULL); the head signed by the same
 * TTP key as the evidence, then bundle_head_verify() with that key; the
 * leaf rebuilt from the evidence and its inclusion proof up to the
 * head's (now authenticated) root; the evidence's time not after the
 * token's genTime (5 minutes of clock skew allowed).  The head comes
 * before the proof so that a forged root is reported as a forged head,
 * not as a proof that fails to reach it.
 */
int bundle_verify(json_t *bundle, const struct bundle_trust *trust,
                  const char *doc_path, struct bundle_verdict *verdict,
                  char *err, size_t errlen);

/*
 * A new bundle object (the evidence through evidence_to_json, the head
 * without "tds_tree_head"); caller owns the reference.  Only the forms
 * are checked: bundle_verify() says whether it proves anything.
 */
json_t *bundle_to_json(const struct evidence *ev, uint64_t leaf_index,
                       const merkle_hash *proof, size_t proof_len,
                       const struct bundle_head *head, char *err,
                       size_t errlen);

/*
 * A Merkle proof from its JSON form (an array of at most
 * MERKLE_MAX_PROOF 64-hex strings) into `proof` (MERKLE_MAX_PROOF
 * entries); the message names `what` ("inclusion proof").
 */
int bundle_proof_from_json(json_t *arr, const char *what, merkle_hash *proof,
                           size_t *len, char *err, size_t errlen);

/*
 * Read a JSON file strictly (a regular file of at most 1 MiB, duplicate
 * keys refused) into `*root` (caller json_decref's it).
 */
int bundle_json_load(const char *path, json_t **root, char *err, size_t errlen);
/* Write `obj` (borrowed) atomically, mode 0644, 2-space indent + "\n". */
int bundle_json_save(json_t *obj, const char *path, char *err, size_t errlen);

/*
 * Verify that `old` is a prefix of `new` with the consistency `proof`
 * (RFC 9162 2.1.4): both heads verified first with `trust` ("old head:",
 * "new head:"), of the same log_id, old no larger than new; equal sizes
 * need equal roots and an empty proof ("two signed heads of N leaves
 * with different roots"); otherwise the proof must lead to both roots
 * ("consistency proof: ...").
 */
int bundle_heads_consistent(const struct bundle_head *old_head,
                            const struct bundle_head *new_head,
                            const merkle_hash *proof, size_t proof_len,
                            const struct bundle_trust *trust, char *err,
                            size_t errlen);

#endif

/*
 * evidence: the evidence files a party keeps, and their offline check.
 *
 * An evidence file is one JSON object (schemas/evidence.schema.json) that
 * carries everything a judge needs to re-check an exchange without the
 * network or the TTP's database: the signed fields, the signatures, and
 * the public keys they verify under.
 *
 *   kind "upload":   A's NRO and the TTP's countersignature of the
 *                    upload (what A holds after upload.result);
 *   kind "exchange": the NRO, B's NRR and the TTP's countersignature of
 *                    the exchange (what A holds after `receipt` and B
 *                    after `delivery`).
 *
 * Fields (all strings unless said; binary values base64, digests hex):
 *   tds_evidence (integer 1), kind, file_id, name (optional), uploader,
 *   downloader ("" for upload), sha256, size (integer), upload_nonce,
 *   download_nonce ("" for upload), nro, nro_sha256, nrr ("" for upload),
 *   nrr_sha256 ("" for upload), uploader_public_key,
 *   downloader_public_key ("" for upload), ttp_public_key, time, ttp_sig.
 */
#ifndef TDS_EVIDENCE_H
#define TDS_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

enum evidence_kind { EVIDENCE_UPLOAD, EVIDENCE_EXCHANGE };

/* Borrowed strings; "" where a field does not apply. */
struct evidence {
        enum evidence_kind kind;
        const char *file_id;
        const char *name;
        const char *uploader;
        const char *downloader;
        const char *sha256;
        uint64_t size;
        const char *upload_nonce;
        const char *download_nonce;
        const char *nro;
        const char *nro_sha256;
        const char *nrr;
        const char *nrr_sha256;
        const char *uploader_public_key;
        const char *downloader_public_key;
        const char *ttp_public_key;
        const char *time;
        const char *ttp_sig;
};

/* Build the JSON object of `ev` (caller owns the reference). */
json_t *evidence_to_json(const struct evidence *ev, char *err, size_t errlen);

/*
 * Read an evidence object strictly (unknown or missing fields, wrong
 * types: -1 with a message).  The strings in `ev` borrow from `obj`.
 */
int evidence_from_json(json_t *obj, struct evidence *ev, char *err,
                       size_t errlen);

/*
 * Check everything that can be checked offline, in this order, stopping
 * at the first failure with a message that names the failing piece:
 * field forms; nro_sha256 = SHA-256(nro); A's NRO over the nro TBS under
 * uploader_public_key; (exchange) nrr_sha256 = SHA-256(nrr) and B's NRR
 * over the nrr TBS under downloader_public_key; the TTP's ttp_sig over
 * the evidence TBS under ttp_public_key.  With `expected_ttp_key_id` not
 * NULL, the TTP key must have that key id (64 hex).  With `doc_path` not
 * NULL, the file's size and SHA-256 must match.  0 when all holds.
 */
int evidence_verify(const struct evidence *ev, const char *expected_ttp_key_id,
                    const char *doc_path, char *err, size_t errlen);

/* Write/read an evidence file (written atomically, mode 0644). */
int evidence_save(const struct evidence *ev, const char *path, char *err,
                  size_t errlen);
/* Loads into `*root` (caller json_decref's it); `ev` borrows from it. */
int evidence_load(const char *path, json_t **root, struct evidence *ev,
                  char *err, size_t errlen);

#endif

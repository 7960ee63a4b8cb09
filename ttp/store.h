/*
 * store: the TTP's document store on the local file system.
 *
 *   <root>/incoming/<user>/<file_id>   where uploader A places M (step 2)
 *   <root>/objects/<32 hex>            verified copies, read-only (step 3)
 *
 * The TTP never trusts the incoming file: it opens it confined to the
 * store (no "..", no absolute path, no symlink anywhere on the way, a
 * regular file only), and copies it into its own object file while
 * hashing the bytes it copies, so that what it verified is exactly what
 * it keeps, whatever A does to the incoming file afterwards.
 */
#ifndef TTP_STORE_H
#define TTP_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

enum store_result {
        STORE_OK,
        STORE_BAD_PATH,      /* not there, not regular, escapes, symlink */
        STORE_HASH_MISMATCH, /* size or SHA-256 differ */
        STORE_ERROR          /* the TTP's own I/O failed: internal */
};

/* Open (and create with mode 0755/0711 as needed) the store at `root`,
 * an absolute path.  Caller frees with store_close. */
struct store *store_open(const char *root, char *err, size_t errlen);
void store_close(struct store *store);

/*
 * Prepare incoming/<user>/<file_id> for A: create incoming/<user>/ if
 * needed (mode 0777 & ~umask is the deployment's choice, see
 * docs/security.md) and write the relative path into `out`.  Removes a
 * stale file of that name.  `user` and `file_id` are already validated.
 */
int store_incoming_prepare(struct store *store, const char *user,
                           const char *file_id, char *out, size_t outlen,
                           char *err, size_t errlen);

/* A fresh object name "objects/<32 hex>" (128 bits from the CSPRNG). */
int store_object_name(char *out, size_t outlen, char *err, size_t errlen);

/*
 * Step 3: copy the incoming file at relative `path` to the object
 * `object_path` (from store_object_name), hashing the copied bytes, and
 * compare size and SHA-256 with the claimed ones.  On STORE_OK the object
 * is complete, fsynced, mode 0444; on any other result no object file is
 * left.  Re-running it for the same object_path replaces the object
 * (a redelivered step 3 after a crash).
 */
enum store_result store_verify_copy(struct store *store, const char *path,
                                    const char *object_path,
                                    uint64_t claimed_size,
                                    const unsigned char claimed_sha256[32],
                                    char *err, size_t errlen);

/* Remove a file of the store by relative path; a missing file is fine. */
int store_remove(struct store *store, const char *path, char *err,
                 size_t errlen);

/* Re-hash an object (auditing, tests): size and SHA-256. */
int store_object_hash(struct store *store, const char *object_path,
                      unsigned char sha256[32], uint64_t *size, char *err,
                      size_t errlen);

#endif

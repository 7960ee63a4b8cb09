/*
 * xfer: streamed copies of documents, hashed on the way.
 *
 * A document is never read into memory: it moves through a fixed buffer
 * while SHA-256 runs over exactly the bytes written, so the hash the
 * client signs (upload) or checks (download) is the hash of the copy it
 * made, whatever happens to the source meanwhile.  The copy goes to a
 * temporary name in the destination's directory and is renamed into
 * place only when complete and fsynced, so nobody (the TTP at step 3, a
 * user after a download) ever sees half a file.
 */
#ifndef TDS_CLIENT_XFER_H
#define TDS_CLIENT_XFER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto.h"
#include "home.h"

/* A destination being written under a temporary name. */
struct xfer_out {
        char path[HOME_PATH_MAX];     /* the final name */
        char tmp[HOME_PATH_MAX + 64]; /* ".<name>.tds-<random>" beside it */
        int fd;
};

/*
 * Create the temporary file for `path` (mode 0644 less the umask).
 * xfer_out_commit or xfer_out_abort must follow.
 */
int xfer_out_open(struct xfer_out *o, const char *path, char *err,
                  size_t errlen);

/*
 * fsync, close and rename the temporary file to its final name, then
 * fsync the directory.  Without `replace`, an existing final file is
 * left alone and the call fails (EEXIST).  On failure the temporary file
 * is removed.
 */
int xfer_out_commit(struct xfer_out *o, int replace, char *err, size_t errlen);

/* Close and remove the temporary file (idempotent). */
void xfer_out_abort(struct xfer_out *o);

/*
 * Copy `src_fd` (from its offset to its end) to `dst_fd`, hashing what is
 * written: SHA-256 into `sha256`, bytes into `*size`.  `what` names the
 * copy in the progress line, shown on a terminal for more than 8 MiB of
 * `expect`ed bytes.  `src_name`/`dst_name` name the files in errors.
 */
int xfer_copy(int src_fd, const char *src_name, int dst_fd,
              const char *dst_name, const char *what, uint64_t expect,
              unsigned char sha256[CRYPTO_SHA256_LEN], uint64_t *size,
              char *err, size_t errlen);

#endif

/*
 * atomicfile: replace a whole file at once, so that a reader (or a crash)
 * sees the old contents or the new ones, never a mix.
 *
 * The bytes go to a new temporary file beside the target,
 * "<path>.tmp.<16 random hex>": in the same directory because rename(2)
 * does not cross file systems, created with O_EXCL | O_NOFOLLOW so that
 * nothing planted under that name (a file, a symlink) is ever written
 * through.  It is written, fsynced, closed and renamed over the target,
 * then the directory is fsynced so that the rename itself survives a
 * crash.  On any failure the temporary file is removed and the target is
 * untouched (unless only the directory's fsync failed: then the new file
 * is in place but perhaps not yet durable, and the call still fails).
 *
 * A process killed between create and rename leaves its temporary file
 * behind; nothing else does.
 */
#ifndef TDS_ATOMICFILE_H
#define TDS_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Flags for atomicfile_write().
 *
 * ATOMICFILE_UMASK: the file gets `mode` less the process's umask, as
 * open(2) would give it, instead of exactly `mode`.  For files whose
 * access the deployment decides (a state file), not the program.
 *
 * ATOMICFILE_NOSYNC: neither the file nor the directory is fsynced.
 * Readers are still safe (they see a whole file, old or new), but after a
 * crash the file may be old, empty or missing.  Only for a file that is
 * rewritten so often that its durability is worth nothing (a state file
 * rewritten every second), where an fsync would only stall the writer.
 */
#define ATOMICFILE_UMASK  0x1
#define ATOMICFILE_NOSYNC 0x2

/*
 * Replace `path` with the `len` bytes of `buf` (borrowed; never copied,
 * so a secret in it stays where the caller will wipe it), with exactly
 * permissions `mode` whatever the umask unless `flags` has
 * ATOMICFILE_UMASK.  `flags` is 0 or ATOMICFILE_* or'ed together.
 *
 * 0 on success; -1 with a message in `err` (may be NULL) that names the
 * temporary file or `path`, and errno set by the call that failed.
 */
int atomicfile_write(const char *path, const void *buf, size_t len, mode_t mode,
                     int flags, char *err, size_t errlen);

/*
 * fsync the directory that holds `path`, so that a rename, link or unlink
 * of `path` that already happened survives a crash: for callers that
 * make the file themselves (a streamed copy).  -1 with a message that
 * names `path`, and errno.
 */
int atomicfile_sync_dir(const char *path, char *err, size_t errlen);

#endif

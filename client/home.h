/*
 * home: the client's home directory (default ~/.tds, or $TDS_HOME, or
 * --home), where its key, configuration, reply inbox, local records and
 * evidence live, and the small file-system helpers the client's modules
 * share (atomic writes, private directories).
 */
#ifndef TDS_CLIENT_HOME_H
#define TDS_CLIENT_HOME_H

#include <stddef.h>
#include <sys/types.h>

#define HOME_PATH_MAX 4096

/*
 * Resolve the home directory: `flag` (from --home) if not NULL, else
 * $TDS_HOME, else $HOME/.tds.  Writes the path into `out`.
 */
int home_resolve(const char *flag, char *out, size_t outlen, char *err,
                 size_t errlen);

/*
 * Create the home directory with mode 0700 if it does not exist; narrow
 * an existing one to 0700 (tds init and keygen put the key there).
 */
int home_ensure(const char *home, char *err, size_t errlen);
/*
 * An existing home must not be writable by group or others, who could
 * replace the key or the records in it: -1 with a message naming the
 * mode otherwise.  Nothing is changed.
 */
int home_check(const char *home, char *err, size_t errlen);

/*
 * Create the directory `home`/`name` with mode 0700 if it does not exist
 * (one level only) and write its path into `out`.
 */
int home_subdir(const char *home, const char *name, char *out, size_t outlen,
                char *err, size_t errlen);

/* `home`/`name` into `out`; -1 if it does not fit. */
int home_path(const char *home, const char *name, char *out, size_t outlen,
              char *err, size_t errlen);

/*
 * Replace `path` with the `len` bytes of `data` atomically: a new
 * temporary file in the same directory (O_EXCL, `mode`), write, fsync,
 * rename over `path`, fsync of the directory.  Readers see the old or
 * the new contents, never a mix; on failure `path` is untouched and no
 * temporary file remains.
 */
int home_write_atomic(const char *path, const void *data, size_t len,
                      mode_t mode, char *err, size_t errlen);

/*
 * Read the whole file `path` (at most `max` bytes) into a NUL-terminated
 * heap buffer (caller frees); `*len` (may be NULL) gets its length.
 * A missing file is -1 with errno ENOENT and a message.
 */
char *home_read_file(const char *path, size_t max, size_t *len, char *err,
                     size_t errlen);

/* fsync the directory that holds `path` (after a rename or unlink). */
int home_fsync_dir(const char *path, char *err, size_t errlen);

/*
 * Read a passphrase from the first line of `path` (a file others cannot
 * read).  Caller frees with crypto_secret_free(p, strlen(p)),
 * which wipes it first.
 */
char *home_read_passphrase(const char *path, char *err, size_t errlen);

#endif

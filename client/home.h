/*
 * home: the client's home directory (default ~/.tds, or $TDS_HOME, or
 * --home), where its key, configuration and evidence live.
 */
#ifndef TDS_CLIENT_HOME_H
#define TDS_CLIENT_HOME_H

#include <stddef.h>

#define HOME_PATH_MAX 4096

/*
 * Resolve the home directory: `flag` (from --home) if not NULL, else
 * $TDS_HOME, else $HOME/.tds.  Writes the path into `out`.
 */
int home_resolve(const char *flag, char *out, size_t outlen, char *err,
                 size_t errlen);

/* Create the home directory with mode 0700 if it does not exist. */
int home_ensure(const char *home, char *err, size_t errlen);

/* `home`/`name` into `out`; -1 if it does not fit. */
int home_path(const char *home, const char *name, char *out, size_t outlen,
              char *err, size_t errlen);

/*
 * Read a passphrase from the first line of `path` (a file others cannot
 * read).  Caller frees with crypto_secret_free(p, strlen(p)),
 * which wipes it first.
 */
char *home_read_passphrase(const char *path, char *err, size_t errlen);

#endif

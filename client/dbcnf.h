/*
 * dbcnf: check a MariaDB option file (tds audit --defaults-file) before
 * Connector/C reads it.
 *
 * Connector/C (3.3, MariaDB 10.11) applies the groups [client],
 * [client-server] and [client-mariadb] and silently ignores what it does
 * not know: an unknown or misspelt option ("ssl-verify-sever-cert"), one
 * with a "loose-" prefix or in capitals, and it reads a boolean with
 * atoi(), so that a bare "ssl-verify-server-cert" or "=true" means OFF.
 * A TLS setting could thus vanish without a word.  dbcnf_check() refuses
 * all of these, naming the file and line, so that what the file says is
 * what the connection does.
 */
#ifndef TDS_CLIENT_DBCNF_H
#define TDS_CLIENT_DBCNF_H

#include <stddef.h>

#define DBCNF_TLS_MAX 1024

struct dbcnf {
        /* The TLS options of the file, "ssl-ca=/x, ssl-verify-server-cert=1",
         * to name them when the TLS handshake fails ("" if none). */
        char tls[DBCNF_TLS_MAX];
        int has_password;
};

/*
 * dbcnf_check: read the option file `path` and check every option of the
 * groups Connector/C applies against the options it knows (dbcnf.c).
 * Refuses !include and !includedir (what they pull in could not be
 * checked) and a file holding a password that group or others may read.
 * Fills `out`.  -1 with a message naming the file and line otherwise.
 */
int dbcnf_check(const char *path, struct dbcnf *out, char *err, size_t errlen);

#endif

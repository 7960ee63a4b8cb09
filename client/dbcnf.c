/*
 * dbcnf: a MariaDB option file checked against what Connector/C applies.
 */
#include "dbcnf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

/* An option file of the auditor is a few lines. */
#define DBCNF_FILE_MAX (64 * 1024)
#define DBCNF_KEY_MAX  64

enum dbcnf_type {
        DBCNF_STR,  /* any value */
        DBCNF_INT,  /* decimal digits (Connector/C: atoi) */
        DBCNF_BOOL, /* 0 or 1 (Connector/C: atoi, so "true" is 0) */
        DBCNF_NONE, /* a flag, value ignored */
};

/*
 * The option names of Connector/C 3.3's option-file table
 * (mariadb_defaults[] in libmariadb/mariadb_lib.c) and their aliases, with
 * the option each one sets (for "given twice").  Names are matched after
 * '_' becomes '-', as Connector/C does, and case-sensitively, as it does.
 */
static const struct {
        const char *name;
        enum dbcnf_type type;
        const char *option;
} dbcnf_options[] = {
    {"port", DBCNF_INT, "port"},
    {"socket", DBCNF_STR, "socket"},
    {"compress", DBCNF_BOOL, "compress"},
    {"password", DBCNF_STR, "password"},
    {"passwd", DBCNF_STR, "password"},
    {"pipe", DBCNF_BOOL, "pipe"},
    {"timeout", DBCNF_INT, "connect-timeout"},
    {"connect-timeout", DBCNF_INT, "connect-timeout"},
    {"user", DBCNF_STR, "user"},
    {"init-command", DBCNF_STR, "init-command"},
    {"host", DBCNF_STR, "host"},
    {"database", DBCNF_STR, "database"},
    {"debug", DBCNF_STR, "debug"},
    {"return-found-rows", DBCNF_NONE, "return-found-rows"},
    {"ssl-key", DBCNF_STR, "ssl-key"},
    {"tls-key", DBCNF_STR, "ssl-key"},
    {"ssl-cert", DBCNF_STR, "ssl-cert"},
    {"tls-cert", DBCNF_STR, "ssl-cert"},
    {"ssl-ca", DBCNF_STR, "ssl-ca"},
    {"tls-ca", DBCNF_STR, "ssl-ca"},
    {"ssl-capath", DBCNF_STR, "ssl-capath"},
    {"tls-capath", DBCNF_STR, "ssl-capath"},
    {"ssl-crl", DBCNF_STR, "ssl-crl"},
    {"tls-crl", DBCNF_STR, "ssl-crl"},
    {"ssl-crlpath", DBCNF_STR, "ssl-crlpath"},
    {"tls-crlpath", DBCNF_STR, "ssl-crlpath"},
    {"ssl-verify-server-cert", DBCNF_BOOL, "ssl-verify-server-cert"},
    {"tls-verify-peer", DBCNF_BOOL, "ssl-verify-server-cert"},
    {"ssl-cipher", DBCNF_STR, "ssl-cipher"},
    {"tls-cipher", DBCNF_STR, "ssl-cipher"},
    {"ssl-fp", DBCNF_STR, "ssl-fp"},
    {"tls-fp", DBCNF_STR, "ssl-fp"},
    {"ssl-fp-list", DBCNF_STR, "ssl-fp-list"},
    {"ssl-fplist", DBCNF_STR, "ssl-fp-list"},
    {"tls-fplist", DBCNF_STR, "ssl-fp-list"},
    {"ssl-passphrase", DBCNF_STR, "ssl-passphrase"},
    {"tls-passphrase", DBCNF_STR, "ssl-passphrase"},
    {"tls-version", DBCNF_STR, "tls-version"},
    {"ssl-enforce", DBCNF_BOOL, "ssl-enforce"},
    {"tls-enforce", DBCNF_BOOL, "ssl-enforce"},
    {"character-sets-dir", DBCNF_STR, "character-sets-dir"},
    {"default-character-set", DBCNF_STR, "default-character-set"},
    {"interactive-timeout", DBCNF_NONE, "interactive-timeout"},
    {"local-infile", DBCNF_BOOL, "local-infile"},
    {"disable-local-infile", DBCNF_NONE, "disable-local-infile"},
    {"max-allowed-packet", DBCNF_INT, "max-allowed-packet"},
    {"net-buffer-length", DBCNF_INT, "net-buffer-length"},
    {"protocol", DBCNF_STR, "protocol"},
    {"shared-memory-base-name", DBCNF_STR, "shared-memory-base-name"},
    {"multi-results", DBCNF_NONE, "multi-results"},
    {"multi-statements", DBCNF_STR, "multi-statements"},
    {"multi-queries", DBCNF_STR, "multi-statements"},
    {"secure-auth", DBCNF_BOOL, "secure-auth"},
    {"report-data-truncation", DBCNF_BOOL, "report-data-truncation"},
    {"reconnect", DBCNF_BOOL, "reconnect"},
    {"plugin-dir", DBCNF_STR, "plugin-dir"},
    {"default-auth", DBCNF_STR, "default-auth"},
    {"server-public-key", DBCNF_STR, "server-public-key"},
    {"bind-address", DBCNF_STR, "bind-address"},
    {"restricted-auth", DBCNF_STR, "restricted-auth"},
    {"zstd-compression-level", DBCNF_INT, "zstd-compression-level"},
};

#define DBCNF_NOPTIONS (sizeof(dbcnf_options) / sizeof(dbcnf_options[0]))

/* The groups Connector/C reads with MYSQL_READ_DEFAULT_GROUP "client". */
static int dbcnf_group_applies(const char *group)
{
        return strcmp(group, "client") == 0 ||
               strcmp(group, "client-server") == 0 ||
               strcmp(group, "client-mariadb") == 0;
}

/* Read the whole file; the caller wipes and frees the text. */
static char *dbcnf_read(const char *path, size_t *len, int *open_mode,
                        char *err, size_t errlen)
{
        struct stat st;
        char *text = NULL;
        ssize_t n;
        int fd;

        *len = 0;
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
                snprintf(err, errlen, "option file %s: %s", path,
                         strerror(errno));
                return NULL;
        }
        if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "option file %s: not a regular file",
                         path);
                goto fail;
        }
        *open_mode = (int)(st.st_mode & 07777);
        if ((text = malloc(DBCNF_FILE_MAX + 1)) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
        }
        while (*len < DBCNF_FILE_MAX + 1) {
                n = read(fd, text + *len, DBCNF_FILE_MAX + 1 - *len);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n == -1) {
                        snprintf(err, errlen, "option file %s: %s", path,
                                 strerror(errno));
                        goto fail;
                }
                if (n == 0)
                        break;
                *len += (size_t)n;
        }
        if (*len > DBCNF_FILE_MAX) {
                snprintf(err, errlen, "option file %s: larger than %d bytes",
                         path, DBCNF_FILE_MAX);
                goto fail;
        }
        text[*len] = '\0';
        close(fd);
        return text;
fail:
        if (text != NULL) {
                OPENSSL_cleanse(text, DBCNF_FILE_MAX + 1);
                free(text);
        }
        close(fd);
        return NULL;
}

/* A value as Connector/C would see it: quotes around it removed. */
static void dbcnf_unquote(const char **v, size_t *vlen)
{
        if (*vlen >= 2 && ((*v)[0] == '"' || (*v)[0] == '\'') &&
            (*v)[*vlen - 1] == (*v)[0]) {
                (*v)++;
                *vlen -= 2;
        }
}

static int dbcnf_digits(const char *v, size_t vlen)
{
        if (vlen == 0)
                return 0;
        for (size_t i = 0; i < vlen; i++)
                if (v[i] < '0' || v[i] > '9')
                        return 0;
        return 1;
}

/* Append "name=value" to the TLS summary (never a passphrase). */
static void dbcnf_tls_add(struct dbcnf *out, const char *name, const char *v,
                          size_t vlen)
{
        size_t len = strlen(out->tls);

        if (strstr(name, "passphrase") != NULL || len + 1 >= sizeof(out->tls))
                return;
        snprintf(out->tls + len, sizeof(out->tls) - len, "%s%s=%.*s",
                 len > 0 ? ", " : "", name, (int)vlen, v);
}

int dbcnf_check(const char *path, struct dbcnf *out, char *err, size_t errlen)
{
        char group[DBCNF_KEY_MAX + 1] = "", key[DBCNF_KEY_MAX + 1];
        int seen_line[DBCNF_NOPTIONS] = {0};
        char *text = NULL, *p, *eol;
        size_t len = 0;
        int line = 0, mode = 0, ret = -1;

        memset(out, 0, sizeof(*out));
        if ((text = dbcnf_read(path, &len, &mode, err, errlen)) == NULL)
                goto done;
        for (p = text; *p != '\0'; p = eol) {
                const char *k, *v, *end;
                size_t klen, vlen, i, j;

                line++;
                if ((eol = strchr(p, '\n')) != NULL)
                        *eol++ = '\0';
                else
                        eol = p + strlen(p);
                end = p + strlen(p);
                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                while (end > p &&
                       (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
                        end--;
                if (p == end || *p == '#' || *p == ';')
                        continue;
                if (*p == '[') {
                        const char *close = memchr(p, ']', (size_t)(end - p));

                        if (close == NULL ||
                            (size_t)(close - p - 1) > DBCNF_KEY_MAX) {
                                snprintf(err, errlen, "%s:%d: bad group line",
                                         path, line);
                                goto done;
                        }
                        snprintf(group, sizeof(group), "%.*s",
                                 (int)(close - p - 1), p + 1);
                        continue;
                }
                if (*p == '!') {
                        snprintf(err, errlen,
                                 "%s:%d: %.*s: not supported here (what it "
                                 "includes could not be checked): put the "
                                 "options in this file",
                                 path, line, (int)(end - p), p);
                        goto done;
                }
                if (!dbcnf_group_applies(group))
                        continue;
                k = p;
                while (p < end && *p != '=' && *p != ' ' && *p != '\t')
                        p++;
                klen = (size_t)(p - k);
                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                v = NULL;
                vlen = 0;
                if (p < end && *p == '=') {
                        p++;
                        while (p < end && (*p == ' ' || *p == '\t'))
                                p++;
                        v = p;
                        vlen = (size_t)(end - p);
                        dbcnf_unquote(&v, &vlen);
                } else if (p < end) {
                        snprintf(err, errlen, "%s:%d: expected option=value",
                                 path, line);
                        goto done;
                }
                if (klen == 0 || klen > DBCNF_KEY_MAX) {
                        snprintf(err, errlen, "%s:%d: bad option name", path,
                                 line);
                        goto done;
                }
                for (i = 0; i < klen; i++)
                        key[i] = k[i] == '_' ? '-' : k[i];
                key[klen] = '\0';
                if (strncmp(key, "loose-", 6) == 0) {
                        snprintf(err, errlen,
                                 "%s:%d: '%s': Connector/C ignores 'loose-' "
                                 "options; write '%s'",
                                 path, line, key, key + 6);
                        goto done;
                }
                for (i = 0; i < DBCNF_NOPTIONS; i++)
                        if (strcmp(dbcnf_options[i].name, key) == 0)
                                break;
                if (i == DBCNF_NOPTIONS) {
                        snprintf(err, errlen,
                                 "%s:%d: unknown option '%s' in [%s]: "
                                 "Connector/C would silently ignore it "
                                 "(options are lowercase: ssl-ca, ssl-cert, "
                                 "ssl-key, ssl-verify-server-cert=1, ...)",
                                 path, line, key, group);
                        goto done;
                }
                for (j = 0; j < DBCNF_NOPTIONS; j++) {
                        if (seen_line[j] != 0 &&
                            strcmp(dbcnf_options[j].option,
                                   dbcnf_options[i].option) == 0) {
                                snprintf(err, errlen,
                                         "%s:%d: '%s' is already set on line "
                                         "%d (the last one would win)",
                                         path, line, key, seen_line[j]);
                                goto done;
                        }
                }
                seen_line[i] = line;
                switch (dbcnf_options[i].type) {
                case DBCNF_BOOL:
                        if (v == NULL || vlen != 1 ||
                            (v[0] != '0' && v[0] != '1')) {
                                snprintf(err, errlen,
                                         "%s:%d: '%s' needs =1 or =0: "
                                         "Connector/C reads a bare option, "
                                         "'true' or 'yes' as 0 (off)",
                                         path, line, key);
                                goto done;
                        }
                        break;
                case DBCNF_INT:
                        if (v == NULL || !dbcnf_digits(v, vlen)) {
                                snprintf(err, errlen,
                                         "%s:%d: '%s' needs a number", path,
                                         line, key);
                                goto done;
                        }
                        break;
                case DBCNF_STR:
                        if (v == NULL || vlen == 0) {
                                snprintf(err, errlen,
                                         "%s:%d: '%s' has no value", path, line,
                                         key);
                                goto done;
                        }
                        break;
                case DBCNF_NONE:
                        break;
                }
                if (strcmp(dbcnf_options[i].option, "password") == 0)
                        out->has_password = 1;
                if (v != NULL && (strncmp(key, "ssl-", 4) == 0 ||
                                  strncmp(key, "tls-", 4) == 0))
                        dbcnf_tls_add(out, key, v, vlen);
        }
        if (out->has_password && (mode & 077) != 0) {
                snprintf(err, errlen,
                         "option file %s: mode %04o lets others read the "
                         "password in it; chmod 600 it",
                         path, (unsigned)mode);
                goto done;
        }
        ret = 0;
done:
        if (text != NULL) {
                OPENSSL_cleanse(text, len + 1);
                free(text);
        }
        return ret;
}

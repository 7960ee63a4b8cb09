/*
 * ttp_key: load or create the TTP's key pair.
 */
#include "ttp_key.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "base64.h"
#include "crypto.h"

/* SPKI DER as PEM: base64 in lines of 64 between the usual markers. */
static int write_public_pem(const struct crypto_key *key, const char *path,
                            char *err, size_t errlen)
{
        static const char begin[] = "-----BEGIN PUBLIC KEY-----\n";
        static const char end[] = "-----END PUBLIC KEY-----\n";
        unsigned char *der = NULL;
        char *b64 = NULL, *pem = NULL;
        size_t derlen, len, cap, off = 0;
        int ret = -1;

        if (crypto_pubkey_to_der(key, &der, &derlen, err, errlen) == -1)
                goto done;
        if ((b64 = base64_encode(der, derlen)) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        len = strlen(b64);
        /* The markers, the base64, a newline per line of 64, a NUL. */
        cap = sizeof(begin) + len + len / 64 + 1 + sizeof(end);
        if ((pem = malloc(cap)) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        off += (size_t)snprintf(pem + off, cap - off, "%s", begin);
        for (size_t i = 0; i < len; i += 64)
                off += (size_t)snprintf(pem + off, cap - off, "%.*s\n",
                                        (int)(len - i < 64 ? len - i : 64),
                                        b64 + i);
        off += (size_t)snprintf(pem + off, cap - off, "%s", end);
        /* Public: exactly 0644 whatever the umask. */
        if (atomicfile_write(path, pem, off, 0644, 0, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        free(der);
        free(b64);
        free(pem);
        return ret;
}

/*
 * Whoever may write in the key's directory may replace the key (rename
 * over it) with one they know: the file's own 0600 would not help.
 */
static int ttp_key_check_dir(const char *path, char *err, size_t errlen)
{
        char dir[4096];
        const char *slash = strrchr(path, '/');
        struct stat st;

        if (slash == NULL)
                snprintf(dir, sizeof(dir), ".");
        else if (slash == path)
                snprintf(dir, sizeof(dir), "/");
        else if ((size_t)(slash - path) >= sizeof(dir)) {
                snprintf(err, errlen, "%s: path too long", path);
                return -1;
        } else
                snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
        if (stat(dir, &st) == -1) {
                snprintf(err, errlen, "%s: directory %s: %s", path, dir,
                         strerror(errno));
                return -1;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                snprintf(err, errlen,
                         "%s: its directory %s has mode %04o: group or others "
                         "could replace the key; chmod go-w it",
                         path, dir, (unsigned)(st.st_mode & 07777));
                return -1;
        }
        return 0;
}

int ttp_key_check(const char *path, char *err, size_t errlen)
{
        struct crypto_key *key = NULL;
        struct stat st;

        if (ttp_key_check_dir(path, err, errlen) == -1)
                return -1;
        if (lstat(path, &st) == -1 && errno == ENOENT)
                return 0;
        if (crypto_key_load(path, NULL, &key, err, errlen) == -1)
                return -1;
        crypto_key_free(key);
        return 0;
}

int ttp_key_load_or_create(const char *path, struct crypto_key **out,
                           int *created, char *err, size_t errlen)
{
        char pub[4096];
        struct crypto_key *key = NULL;
        struct stat st;

        *created = 0;
        if ((size_t)snprintf(pub, sizeof(pub), "%s.pub", path) >= sizeof(pub)) {
                snprintf(err, errlen, "%s: path too long", path);
                return -1;
        }
        if (ttp_key_check_dir(path, err, errlen) == -1)
                return -1;
        if (stat(path, &st) == 0) {
                if (crypto_key_load(path, NULL, &key, err, errlen) == -1)
                        return -1;
        } else if (errno == ENOENT) {
                if (crypto_key_generate(&key, err, errlen) == -1 ||
                    crypto_key_save(key, path, NULL, err, errlen) == -1) {
                        crypto_key_free(key);
                        return -1;
                }
                *created = 1;
        } else {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return -1;
        }
        if (write_public_pem(key, pub, err, errlen) == -1) {
                crypto_key_free(key);
                return -1;
        }
        *out = key;
        return 0;
}

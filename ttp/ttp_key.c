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

#include "base64.h"
#include "crypto.h"

/* SPKI DER as PEM: base64 in lines of 64 between the usual markers. */
static int write_public_pem(const struct crypto_key *key, const char *path,
                            char *err, size_t errlen)
{
        char tmp[4200];
        unsigned char *der = NULL;
        char *b64 = NULL;
        size_t derlen, len;
        FILE *f = NULL;
        int ret = -1;

        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
                snprintf(err, errlen, "%s: path too long", path);
                return -1;
        }
        if (crypto_pubkey_to_der(key, &der, &derlen, err, errlen) == -1)
                goto done;
        if ((b64 = base64_encode(der, derlen)) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        if ((f = fopen(tmp, "w")) == NULL) {
                snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        len = strlen(b64);
        fputs("-----BEGIN PUBLIC KEY-----\n", f);
        for (size_t i = 0; i < len; i += 64)
                fprintf(f, "%.*s\n", (int)(len - i < 64 ? len - i : 64),
                        b64 + i);
        fputs("-----END PUBLIC KEY-----\n", f);
        if (fchmod(fileno(f), 0644) == -1 || fflush(f) != 0 ||
            fsync(fileno(f)) == -1) {
                snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        if (fclose(f) != 0) {
                f = NULL;
                snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        f = NULL;
        if (rename(tmp, path) == -1) {
                snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
                goto done;
        }
        ret = 0;
done:
        if (f != NULL)
                fclose(f);
        if (ret == -1)
                unlink(tmp);
        free(der);
        free(b64);
        return ret;
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

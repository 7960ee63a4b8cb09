/*
 * ttp_tsa: load or create the TSA key and certificates.
 */
#include "ttp_tsa.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "errbuf.h"
#include "ttp_conf.h"

#define TTP_TSA_CA_DAYS  (20 * 366) /* evidence outlives the usual 1 year */
#define TTP_TSA_TSA_DAYS (10 * 366)

/* `dir_of` with its last component replaced by `name`. */
static int sibling(const char *dir_of, const char *name, char *out,
                   size_t outlen, char *err, size_t errlen)
{
        const char *slash = strrchr(dir_of, '/');
        int dirlen = slash == NULL ? 0 : (int)(slash - dir_of + 1);

        if ((size_t)snprintf(out, outlen, "%.*s%s", dirlen, dir_of, name) >=
            outlen) {
                errbuf_set(err, errlen, "%s: path too long", dir_of);
                return -1;
        }
        return 0;
}

static int exists(const char *path, int *yes, char *err, size_t errlen)
{
        struct stat st;

        if (stat(path, &st) == 0) {
                *yes = 1;
                return 0;
        }
        if (errno == ENOENT) {
                *yes = 0;
                return 0;
        }
        errbuf_set(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
}

static int create_all(struct ttp_tsa *tsa, const struct crypto_key *ttp_key,
                      const char *key_path, const char *cert_path,
                      const char *ca_path, char *err, size_t errlen)
{
        if (crypto_key_generate(&tsa->key, err, errlen) == -1 ||
            tsa_ca_cert_create(ttp_key, "TDS TTP CA", TTP_TSA_CA_DAYS,
                               &tsa->ca_cert, err, errlen) == -1 ||
            tsa_cert_issue(ttp_key, &tsa->ca_cert, tsa->key, "TDS TSA",
                           TTP_TSA_TSA_DAYS, &tsa->cert, err, errlen) == -1)
                return -1;
        /* Certificates first: a crash in between leaves no key without
         * them, and the next start finds some files and stops. */
        if (tsa_cert_save_pem(&tsa->ca_cert, ca_path, err, errlen) == -1 ||
            tsa_cert_save_pem(&tsa->cert, cert_path, err, errlen) == -1 ||
            crypto_key_save(tsa->key, key_path, NULL, err, errlen) == -1)
                return -1;
        return 0;
}

int ttp_tsa_open(struct ttp_tsa *tsa, const struct ttp_conf *conf,
                 const struct crypto_key *ttp_key, int *created, char *err,
                 size_t errlen)
{
        char key_path[4096], cert_path[4096], ca_path[4096];
        int have_key, have_cert, have_ca;

        memset(tsa, 0, sizeof(*tsa));
        *created = 0;
        if (sibling(conf->ttp_key_file, "tsa_key.pem", key_path,
                    sizeof(key_path), err, errlen) == -1 ||
            sibling(conf->ttp_key_file, "tsa.pem", cert_path, sizeof(cert_path),
                    err, errlen) == -1 ||
            sibling(conf->ttp_key_file, "ttp-ca.pem", ca_path, sizeof(ca_path),
                    err, errlen) == -1)
                return -1;
        if (conf->tsa_key_file != NULL)
                snprintf(key_path, sizeof(key_path), "%s", conf->tsa_key_file);
        if (conf->tsa_cert_file != NULL)
                snprintf(cert_path, sizeof(cert_path), "%s",
                         conf->tsa_cert_file);
        if (conf->tsa_ca_file != NULL)
                snprintf(ca_path, sizeof(ca_path), "%s", conf->tsa_ca_file);
        if (exists(key_path, &have_key, err, errlen) == -1 ||
            exists(cert_path, &have_cert, err, errlen) == -1 ||
            exists(ca_path, &have_ca, err, errlen) == -1)
                return -1;
        if (!have_key && !have_cert && !have_ca) {
                if (create_all(tsa, ttp_key, key_path, cert_path, ca_path, err,
                               errlen) == -1)
                        goto fail;
                *created = 1;
        } else if (!have_key || !have_cert || !have_ca) {
                errbuf_set(err, errlen,
                           "TSA: %s is missing (the TSA needs its key %s, "
                           "certificate %s and issuer %s; remove all three "
                           "to have new ones made)",
                           !have_key    ? key_path
                           : !have_cert ? cert_path
                                        : ca_path,
                           key_path, cert_path, ca_path);
                return -1;
        } else if (crypto_key_load(key_path, NULL, &tsa->key, err, errlen) ==
                       -1 ||
                   tsa_cert_load_pem(cert_path, &tsa->cert, err, errlen) ==
                       -1 ||
                   tsa_cert_load_pem(ca_path, &tsa->ca_cert, err, errlen) ==
                       -1) {
                goto fail;
        }
        if (tsa_cert_matches_key(&tsa->cert, tsa->key, err, errlen) == -1) {
                errbuf_set(err, errlen, "TSA: %s is not the certificate of %s",
                           cert_path, key_path);
                goto fail;
        }
        if (tsa_signer_new(tsa->key, &tsa->cert, &tsa->signer, err, errlen) ==
            -1)
                goto fail;
        return 0;
fail:
        ttp_tsa_close(tsa);
        return -1;
}

void ttp_tsa_close(struct ttp_tsa *tsa)
{
        tsa_signer_free(tsa->signer);
        crypto_key_free(tsa->key);
        tsa_cert_clear(&tsa->cert);
        tsa_cert_clear(&tsa->ca_cert);
        memset(tsa, 0, sizeof(*tsa));
}

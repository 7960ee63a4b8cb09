/*
 * ttp_tsa: the daemon's RFC 3161 time-stamping authority.
 *
 * Loads the TSA key and its certificates, or, when none of the three
 * files exists yet, makes them: a TSA key (P-256, mode 0600), the
 * self-signed CA certificate of the TTP key and the TSA certificate that
 * CA issues (tsa.h).  Paths default to files beside the TTP key.
 */
#ifndef TTP_TSA_H
#define TTP_TSA_H

#include <stddef.h>

#include "tsa.h"

struct crypto_key;
struct ttp_conf;

struct ttp_tsa {
        struct crypto_key *key;
        struct tsa_cert cert;    /* the TSA's certificate */
        struct tsa_cert ca_cert; /* its issuer, the trust anchor */
        struct tsa_signer *signer;
};

/* `created` is set when the files were made now. */
int ttp_tsa_open(struct ttp_tsa *tsa, const struct ttp_conf *conf,
                 const struct crypto_key *ttp_key, int *created, char *err,
                 size_t errlen);
void ttp_tsa_close(struct ttp_tsa *tsa);

#endif

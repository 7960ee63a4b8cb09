/*
 * crypto_internal: what other libtds modules (tsa.c) need of a crypto_key
 * and nothing more.  Not for the daemon or the client: they go through
 * crypto.h, which keeps the key opaque.
 */
#ifndef TDS_CRYPTO_INTERNAL_H
#define TDS_CRYPTO_INTERNAL_H

#include <openssl/types.h>

#include "crypto.h"

/*
 * crypto_key_pkey: the EVP_PKEY inside `key`, borrowed: valid while `key`
 * lives; never freed or modified by the caller, who takes EVP_PKEY_up_ref()
 * to keep it longer.  Public-only keys are public-only EVP_PKEYs (see
 * crypto_key_has_private()).
 */
EVP_PKEY *crypto_key_pkey(const struct crypto_key *key);

#endif

/*
 * ttp_key: the TTP's own signing key, with which it countersigns the
 * evidence it releases.
 */
#ifndef TTP_KEY_H
#define TTP_KEY_H

#include <stddef.h>

struct crypto_key;

/*
 * Load the private key at `path` (refused if others may read it), or
 * create it with mode 0600 when there is none.  Either way (re)write the
 * public key as SPKI PEM to `path`.pub (mode 0644) for clients and
 * auditors.  Caller frees `*out` with crypto_key_free.
 */
int ttp_key_load_or_create(const char *path, struct crypto_key **out,
                           int *created, char *err, size_t errlen);

#endif

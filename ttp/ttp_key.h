/*
 * ttp_key: the TTP's own signing key, with which it countersigns the
 * evidence it releases.
 */
#ifndef TTP_KEY_H
#define TTP_KEY_H

#include <stddef.h>

struct crypto_key;

/*
 * Load the private key at `path` (refused if others may read it, or if
 * group or others may write in its directory), or create it with mode
 * 0600 when there is none.  Either way (re)write the public key as SPKI
 * PEM to `path`.pub (mode 0644) for clients and auditors.  Caller frees
 * `*out` with crypto_key_free.
 */
/*
 * ttp_key_check: what the daemon checks before it detaches, so that the
 * operator sees the refusal: the key's directory is writable by nobody
 * but its owner, and an existing key file loads (it is refused when
 * group or others may access it; the message names the file and its
 * mode).  A missing key is fine: it will be created.
 */
int ttp_key_check(const char *path, char *err, size_t errlen);

int ttp_key_load_or_create(const char *path, struct crypto_key **out,
                           int *created, char *err, size_t errlen);

#endif

/*
 * fuzz_pubkey: crypto_pubkey_from_der() on hostile SPKI DER, as it arrives
 * base64-decoded in register messages and evidence files.
 *
 * Invariants (abort() when broken): one key has one key_id, so an accepted
 * input is the canonical form: crypto_pubkey_to_der() gives back exactly
 * the input bytes, and crypto_key_id() succeeds and is the lowercase hex
 * SHA-256 of those bytes.
 */
#include "crypto.h"
#include "hex.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct crypto_key *key = NULL;
        unsigned char *der = NULL;
        size_t derlen = 0;
        char err[512], id[CRYPTO_KEY_ID_LEN + 1],
            sha[CRYPTO_SHA256_HEX_LEN + 1];

        if (crypto_pubkey_from_der(data, size, &key, err, sizeof(err)) == -1) {
                if (key != NULL)
                        abort();
                return 0;
        }
        if (key == NULL || crypto_key_has_private(key))
                abort();
        if (crypto_pubkey_to_der(key, &der, &derlen, err, sizeof(err)) == -1 ||
            derlen != size || memcmp(der, data, size) != 0)
                abort();
        if (crypto_key_id(key, id, err, sizeof(err)) == -1 ||
            !hex_is_lower(id, CRYPTO_KEY_ID_LEN) ||
            crypto_sha256_hex(data, size, sha, err, sizeof(err)) == -1 ||
            strcmp(id, sha) != 0)
                abort();
        free(der);
        crypto_key_free(key);
        return 0;
}

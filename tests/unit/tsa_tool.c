/*
 * tsa_tool DIR HEX [SERIAL]: a fresh CA and TSA made by libtds/tsa.c, and
 * a token over the SHA-256 digest HEX (64 hex characters) with serial
 * SERIAL (default 1), written into DIR as ca.pem, tsa.pem and token.der,
 * for tests/integration/tsa_openssl.sh to check with the openssl command
 * line.  Prints the token's genTime (seconds since the epoch).
 */
#include "atomicfile.h"
#include "crypto.h"
#include "hex.h"
#include "tsa.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
        unsigned char digest[CRYPTO_SHA256_LEN];
        struct crypto_key *ca_key = NULL, *tsa_key = NULL;
        struct tsa_cert ca = {0}, tsa = {0};
        struct tsa_signer *signer = NULL;
        unsigned char *token = NULL;
        unsigned long long serial = 1;
        size_t token_len = 0, n = 0;
        char path[4096], err[1024];
        time_t gen_time = 0;
        char *end;
        int ret = 1;

        if (argc < 3 || argc > 4) {
                fprintf(stderr, "usage: tsa_tool DIR HEX [SERIAL]\n");
                return 2;
        }
        if (hex_decode(argv[2], strlen(argv[2]), HEX_ANY_CASE, digest,
                       sizeof(digest), &n, err, sizeof(err)) == -1 ||
            n != sizeof(digest)) {
                fprintf(stderr, "tsa_tool: HEX must be 64 hex characters\n");
                return 2;
        }
        if (argc == 4) {
                errno = 0;
                serial = strtoull(argv[3], &end, 10);
                if (errno != 0 || *end != '\0' || end == argv[3]) {
                        fprintf(stderr, "tsa_tool: bad serial %s\n", argv[3]);
                        return 2;
                }
        }
        if (crypto_key_generate(&ca_key, err, sizeof(err)) == -1 ||
            crypto_key_generate(&tsa_key, err, sizeof(err)) == -1 ||
            tsa_ca_cert_create(ca_key, "TDS TTP CA", 3650, &ca, err,
                               sizeof(err)) == -1 ||
            tsa_cert_issue(ca_key, &ca, tsa_key, "TDS TSA", 3650, &tsa, err,
                           sizeof(err)) == -1 ||
            tsa_signer_new(tsa_key, &tsa, &signer, err, sizeof(err)) == -1 ||
            tsa_stamp(signer, digest, (uint64_t)serial, &token, &token_len,
                      &gen_time, err, sizeof(err)) == -1)
                goto done;
        snprintf(path, sizeof(path), "%s/ca.pem", argv[1]);
        if (tsa_cert_save_pem(&ca, path, err, sizeof(err)) == -1)
                goto done;
        snprintf(path, sizeof(path), "%s/tsa.pem", argv[1]);
        if (tsa_cert_save_pem(&tsa, path, err, sizeof(err)) == -1)
                goto done;
        snprintf(path, sizeof(path), "%s/token.der", argv[1]);
        if (atomicfile_write(path, token, token_len, 0644, 0, err,
                             sizeof(err)) == -1)
                goto done;
        printf("%lld\n", (long long)gen_time);
        ret = 0;
done:
        if (ret != 0)
                fprintf(stderr, "tsa_tool: %s\n", err);
        free(token);
        tsa_signer_free(signer);
        tsa_cert_clear(&ca);
        tsa_cert_clear(&tsa);
        crypto_key_free(ca_key);
        crypto_key_free(tsa_key);
        return ret;
}

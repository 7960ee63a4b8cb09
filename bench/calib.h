/*
 * calib: the cryptographic bound, measured in-process on one core with
 * the very functions the TTP calls (crypto_sign, crypto_verify,
 * crypto_sha256 of libtds): ECDSA P-256 signatures and verifications per
 * second over a TBS of the contract's size, and SHA-256 bytes per second
 * over 1 MiB buffers.
 */
#ifndef TDS_BENCH_CALIB_H
#define TDS_BENCH_CALIB_H

#include <stddef.h>

struct calib {
        double sign_per_s;
        double verify_per_s;
        double sha256_bytes_per_s;
        double seconds; /* wall time each measurement ran */
};

/* Run each measurement for about `seconds` (at least 0.05). */
int calib_run(double seconds, struct calib *out, char *err, size_t errlen);

/*
 * What `cores` cores spending all their time on the TTP's cryptography
 * allow: operations per second when one operation costs `signs`
 * signatures, `verifies` verifications and `sha_bytes` bytes of SHA-256.
 */
double calib_bound(const struct calib *c, double cores, double signs,
                   double verifies, double sha_bytes);

#endif

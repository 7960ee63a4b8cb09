/*
 * calib: timed loops on CLOCK_THREAD_CPUTIME_ID, so that a busy machine
 * (other processes on the same cores) stretches the wall time but not
 * the cost per operation that the bound is computed from.
 */
#include "calib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "tbs.h"

#define CALIB_SHA_BUF (1024 * 1024)

static double calib_cpu_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int calib_run(double seconds, struct calib *out, char *err, size_t errlen)
{
        static const struct tbs_evidence ev = {
            "exchange",
            "0b6fd5b0-7a0b-4f3c-9d4e-5f2a1c3b4d5e",
            "bench-uploader",
            "bench-downloader",
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
            "2024-01-01T00:00:00Z"};
        struct crypto_key *key = NULL;
        unsigned char *sig = NULL, *buf = NULL, digest[CRYPTO_SHA256_LEN];
        char *tbs = NULL;
        size_t tbslen, siglen;
        double t0, t, n;
        int ret = -1;

        if (seconds < 0.05)
                seconds = 0.05;
        memset(out, 0, sizeof(*out));
        out->seconds = seconds;
        if (crypto_key_generate(&key, err, errlen) == -1 ||
            tbs_evidence(&ev, &tbs, &tbslen, err, errlen) == -1)
                goto done;
        for (n = 0, t0 = calib_cpu_now(); (t = calib_cpu_now() - t0) < seconds;
             n++) {
                free(sig);
                sig = NULL;
                if (crypto_sign(key, tbs, tbslen, &sig, &siglen, err, errlen) ==
                    -1)
                        goto done;
        }
        out->sign_per_s = n / t;
        for (n = 0, t0 = calib_cpu_now(); (t = calib_cpu_now() - t0) < seconds;
             n++)
                if (crypto_verify(key, tbs, tbslen, sig, siglen, err, errlen) ==
                    -1)
                        goto done;
        out->verify_per_s = n / t;
        if ((buf = malloc(CALIB_SHA_BUF)) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        if (crypto_random(buf, CALIB_SHA_BUF, err, errlen) == -1)
                goto done;
        for (n = 0, t0 = calib_cpu_now(); (t = calib_cpu_now() - t0) < seconds;
             n++)
                if (crypto_sha256(buf, CALIB_SHA_BUF, digest, err, errlen) ==
                    -1)
                        goto done;
        out->sha256_bytes_per_s = n * CALIB_SHA_BUF / t;
        ret = 0;
done:
        free(buf);
        free(sig);
        free(tbs);
        crypto_key_free(key);
        return ret;
}

double calib_bound(const struct calib *c, double cores, double signs,
                   double verifies, double sha_bytes)
{
        double cost = 0;

        if (c->sign_per_s > 0)
                cost += signs / c->sign_per_s;
        if (c->verify_per_s > 0)
                cost += verifies / c->verify_per_s;
        if (c->sha256_bytes_per_s > 0)
                cost += sha_bytes / c->sha256_bytes_per_s;
        return cost > 0 ? cores / cost : 0;
}

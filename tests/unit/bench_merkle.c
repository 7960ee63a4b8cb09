/*
 * bench_merkle: CPU cost of the evidence log's tree (libtds/merkle.c).
 *
 *   bench_merkle [LEAVES [PROOFS]]     (default 1000000 and 200000)
 *
 * Appends LEAVES precomputed leaf hashes to a frontier whose emit callback
 * stores every completed node in an in-memory array (one per level), then
 * makes PROOFS inclusion proofs of pseudo-random leaves of the whole tree
 * from that array, verifies them, and does the same for consistency
 * proofs.  Prints the rates; exits 1 if a root or proof is wrong.  Built
 * with the unit tests, not run by CTest (speed is measured here, never
 * asserted in a test).
 */
#include "merkle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct bench_store {
        merkle_hash *level[MERKLE_MAX_LEVEL + 1];
        uint64_t count[MERKLE_MAX_LEVEL + 1];
        uint64_t limit;
};

static double bench_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: reproducible indices, no libc state. */
static uint64_t bench_rand(uint64_t *s)
{
        *s ^= *s >> 12;
        *s ^= *s << 25;
        *s ^= *s >> 27;
        return *s * UINT64_C(2685821657736338717);
}

static int bench_emit(void *ctx, unsigned level, uint64_t index,
                      const merkle_hash hash)
{
        struct bench_store *s = ctx;

        if (s->level[level] == NULL || index != s->count[level])
                return -1;
        memcpy(s->level[level][index], hash, MERKLE_HASH_LEN);
        s->count[level]++;
        return 0;
}

static int bench_get(void *ctx, unsigned level, uint64_t index, merkle_hash out,
                     char *err, size_t errlen)
{
        struct bench_store *s = ctx;

        if (level > MERKLE_MAX_LEVEL || index >= (s->limit >> level) ||
            index >= s->count[level]) {
                snprintf(err, errlen, "no node (%u, %" PRIu64 ")", level,
                         index);
                return -1;
        }
        memcpy(out, s->level[level][index], MERKLE_HASH_LEN);
        return 0;
}

static void bench_report(const char *what, uint64_t n, double secs,
                         const char *unit)
{
        printf("%-34s %10" PRIu64 " in %7.3f s  %12.0f %s/s\n", what, n, secs,
               (double)n / secs, unit);
}

int main(int argc, char **argv)
{
        struct bench_store s;
        struct merkle_frontier f;
        merkle_hash *leaves = NULL, proof[MERKLE_MAX_PROOF], root, r1, froot;
        uint64_t nleaves = 1000000, nproofs = 200000, i, idx, m, seed;
        unsigned l;
        size_t len, total = 0;
        double t;
        char err[200] = "";
        int ret = 1;

        memset(&s, 0, sizeof(s));
        if (argc > 1)
                nleaves = strtoull(argv[1], NULL, 10);
        if (argc > 2)
                nproofs = strtoull(argv[2], NULL, 10);
        if (nleaves < 2 || nleaves > (UINT64_C(1) << 32) || nproofs == 0) {
                fprintf(stderr, "usage: bench_merkle [LEAVES [PROOFS]]\n");
                return 2;
        }
        snprintf(err, sizeof(err), "out of memory");
        if ((leaves = calloc(nleaves, MERKLE_HASH_LEN)) == NULL)
                goto done;
        for (l = 0; (nleaves >> l) != 0; l++)
                if ((s.level[l] = calloc(nleaves >> l, MERKLE_HASH_LEN)) ==
                    NULL)
                        goto done;
        err[0] = '\0';

        t = bench_now();
        for (i = 0; i < nleaves; i++) {
                unsigned char b[8];

                for (l = 0; l < 8; l++)
                        b[l] = (unsigned char)(i >> (56 - 8 * l));
                merkle_leaf_hash(b, sizeof(b), leaves[i]);
        }
        bench_report("leaf hashes (8-byte leaves)", nleaves, bench_now() - t,
                     "leaves");

        merkle_frontier_init(&f);
        t = bench_now();
        for (i = 0; i < nleaves; i++)
                if (merkle_frontier_append(&f, leaves[i], NULL, NULL) != 0) {
                        snprintf(err, sizeof(err), "append %" PRIu64, i);
                        goto done;
                }
        bench_report("frontier appends, no emit", nleaves, bench_now() - t,
                     "leaves");

        merkle_frontier_init(&f);
        t = bench_now();
        for (i = 0; i < nleaves; i++)
                if (merkle_frontier_append(&f, leaves[i], bench_emit, &s) !=
                    0) {
                        snprintf(err, sizeof(err), "append %" PRIu64, i);
                        goto done;
                }
        bench_report("frontier appends, nodes stored", nleaves, bench_now() - t,
                     "leaves");

        s.limit = nleaves;
        merkle_frontier_root(&f, froot);
        if (merkle_root(nleaves, bench_get, &s, root, err, sizeof(err)) != 0 ||
            memcmp(root, froot, MERKLE_HASH_LEN) != 0) {
                if (err[0] == '\0')
                        snprintf(err, sizeof(err), "the two roots differ");
                goto done;
        }

        seed = UINT64_C(0x9e3779b97f4a7c15);
        t = bench_now();
        for (i = 0; i < nproofs; i++) {
                idx = bench_rand(&seed) % nleaves;
                if (merkle_inclusion_proof(idx, nleaves, bench_get, &s, proof,
                                           &len, err, sizeof(err)) != 0)
                        goto done;
                total += len;
        }
        bench_report("inclusion proofs", nproofs, bench_now() - t, "proofs");
        printf("%-34s %10.1f hashes a proof\n", "", (double)total / nproofs);

        seed = UINT64_C(0x9e3779b97f4a7c15);
        t = bench_now();
        for (i = 0; i < nproofs; i++) {
                idx = bench_rand(&seed) % nleaves;
                if (merkle_inclusion_proof(idx, nleaves, bench_get, &s, proof,
                                           &len, err, sizeof(err)) != 0 ||
                    merkle_verify_inclusion(idx, nleaves, leaves[idx], proof,
                                            len, root, err, sizeof(err)) != 0)
                        goto done;
        }
        bench_report("inclusion proofs + verification", nproofs,
                     bench_now() - t, "proofs");

        t = bench_now();
        for (i = 0; i < nproofs; i++) {
                m = bench_rand(&seed) % nleaves + 1;
                if (merkle_consistency_proof(m, nleaves, bench_get, &s, proof,
                                             &len, err, sizeof(err)) != 0)
                        goto done;
        }
        bench_report("consistency proofs", nproofs, bench_now() - t, "proofs");

        /* Verification needs the first root: computed outside the timing. */
        m = nleaves / 3 + 1;
        s.limit = m;
        if (merkle_root(m, bench_get, &s, r1, err, sizeof(err)) != 0)
                goto done;
        s.limit = nleaves;
        if (merkle_consistency_proof(m, nleaves, bench_get, &s, proof, &len,
                                     err, sizeof(err)) != 0)
                goto done;
        t = bench_now();
        for (i = 0; i < nproofs; i++)
                if (merkle_verify_consistency(m, nleaves, r1, root, proof, len,
                                              err, sizeof(err)) != 0)
                        goto done;
        bench_report("consistency verifications", nproofs, bench_now() - t,
                     "proofs");
        ret = 0;
done:
        if (ret != 0)
                fprintf(stderr, "bench_merkle: %s\n", err);
        for (l = 0; l <= MERKLE_MAX_LEVEL; l++)
                free(s.level[l]);
        free(leaves);
        return ret;
}

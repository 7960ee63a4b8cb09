/*
 * merkle: the RFC 9162 Merkle tree of the evidence log.
 *
 * Every subtree the RFC's recursion (MTH, PATH, SUBPROOF) names is either
 * a complete aligned node, read from the caller's store, or a right-edge
 * range [lo, hi) whose start is a multiple of the smallest power of two
 * >= hi - lo: that range is the complete nodes its length decomposes
 * into, largest first, hashed together from the right, exactly as MTH
 * splits it.  So proofs come from stored nodes without any node beyond
 * the tree size being asked for.
 *
 * The verifiers are RFC 9162 2.1.3.2 and 2.1.4.2 step by step; the
 * proof length is checked by the algorithms themselves (a proof that is
 * too long meets sn == 0, one too short ends with sn != 0), so no loop
 * runs past `len` nor more than 64 times.
 */
#include "merkle.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/*
 * SHA-256, fetched once (EVP_sha256() fetches the implementation again on
 * every digest: node hashing was 2 to 3 times slower), and one digest
 * context per thread, reused (a context allocated per hash: about 1.3
 * times slower, and much more under ASan).  The method lives as long as
 * the process; a thread's context is freed when the thread ends, the main
 * thread's stays reachable from its thread-specific data.
 */
static pthread_once_t merkle_md_once = PTHREAD_ONCE_INIT;
static EVP_MD *merkle_md;
static pthread_key_t merkle_ctx_key;
static int merkle_ctx_key_ok;

static void merkle_ctx_free(void *ctx)
{
        EVP_MD_CTX_free(ctx);
}

static void merkle_md_init(void)
{
        merkle_md = EVP_MD_fetch(NULL, "SHA256", NULL);
        merkle_ctx_key_ok =
            pthread_key_create(&merkle_ctx_key, merkle_ctx_free) == 0;
}

/* The calling thread's context, or NULL (then hashing fails). */
static EVP_MD_CTX *merkle_ctx(void)
{
        EVP_MD_CTX *ctx;

        if (pthread_once(&merkle_md_once, merkle_md_init) != 0 ||
            merkle_md == NULL || !merkle_ctx_key_ok)
                return NULL;
        if ((ctx = pthread_getspecific(merkle_ctx_key)) != NULL)
                return ctx;
        if ((ctx = EVP_MD_CTX_new()) == NULL)
                return NULL;
        if (pthread_setspecific(merkle_ctx_key, ctx) != 0) {
                EVP_MD_CTX_free(ctx);
                return NULL;
        }
        return ctx;
}

#define MERKLE_NO_PREFIX 0xff

/* SHA-256(prefix || a || b) into out (which may alias a or b). */
static void merkle_sha256(unsigned char prefix, const void *a, size_t alen,
                          const void *b, size_t blen, unsigned char *out)
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_MD_CTX *ctx;
        int ok;

        ok = (ctx = merkle_ctx()) != NULL &&
             EVP_DigestInit_ex(ctx, merkle_md, NULL) == 1 &&
             (prefix == MERKLE_NO_PREFIX ||
              EVP_DigestUpdate(ctx, &prefix, 1) == 1) &&
             (alen == 0 || EVP_DigestUpdate(ctx, a, alen) == 1) &&
             (blen == 0 || EVP_DigestUpdate(ctx, b, blen) == 1) &&
             EVP_DigestFinal_ex(ctx, md, &mdlen) == 1;
        /* No error path in the interface, and nothing else may stand in
         * for a hash in an evidence log: stop. */
        if (!ok || mdlen != MERKLE_HASH_LEN)
                abort();
        memcpy(out, md, MERKLE_HASH_LEN);
}

void merkle_leaf_hash(const void *leaf, size_t len, merkle_hash out)
{
        merkle_sha256(0x00, leaf, len, NULL, 0, out);
}

void merkle_node_hash(const merkle_hash left, const merkle_hash right,
                      merkle_hash out)
{
        merkle_sha256(0x01, left, MERKLE_HASH_LEN, right, MERKLE_HASH_LEN, out);
}

void merkle_empty_root(merkle_hash out)
{
        /* No prefix byte: SHA-256 of nothing. */
        merkle_sha256(MERKLE_NO_PREFIX, NULL, 0, NULL, 0, out);
}

static unsigned merkle_popcount(uint64_t x)
{
        return (unsigned)__builtin_popcountll(x);
}

/* floor(log2(n)) for n >= 1. */
static unsigned merkle_log2(uint64_t n)
{
        return 63u - (unsigned)__builtin_clzll(n);
}

void merkle_frontier_init(struct merkle_frontier *f)
{
        memset(f, 0, sizeof(*f));
}

int merkle_frontier_append(struct merkle_frontier *f,
                           const merkle_hash leaf_hash, merkle_node_fn emit,
                           void *ctx)
{
        merkle_hash h;
        uint64_t n = f->size;
        unsigned level;
        int rc;

        if (n >= MERKLE_MAX_SIZE || f->count != merkle_popcount(n))
                return -1;
        memcpy(h, leaf_hash, MERKLE_HASH_LEN);
        /*
         * Leaf n completes one node per trailing one bit of n: the
         * frontier's last entries, which are those low subtrees, merge
         * with h bottom up.  f is written only once every emit agreed.
         */
        for (level = 0;; level++) {
                if (emit != NULL && (rc = emit(ctx, level, n >> level, h)) != 0)
                        return rc;
                if (((n >> level) & 1) == 0)
                        break;
                merkle_node_hash(f->hash[f->count - 1 - level], h, h);
        }
        f->count -= level;
        memcpy(f->hash[f->count], h, MERKLE_HASH_LEN);
        f->count++;
        f->size = n + 1;
        return 0;
}

void merkle_frontier_root(const struct merkle_frontier *f, merkle_hash out)
{
        merkle_hash h;
        unsigned i = f->count;

        if (i > MERKLE_MAX_LEVEL + 1)
                i = MERKLE_MAX_LEVEL + 1;
        if (i == 0) {
                merkle_empty_root(out);
                return;
        }
        /* MTH splits off the largest subtree first: fold from the right. */
        memcpy(h, f->hash[i - 1], MERKLE_HASH_LEN);
        for (i--; i > 0; i--)
                merkle_node_hash(f->hash[i - 1], h, h);
        memcpy(out, h, MERKLE_HASH_LEN);
}

size_t merkle_frontier_encode(const struct merkle_frontier *f,
                              unsigned char *out)
{
        unsigned i, count = f->count;

        if (count > MERKLE_MAX_LEVEL + 1)
                count = MERKLE_MAX_LEVEL + 1;
        for (i = 0; i < 8; i++)
                out[i] = (unsigned char)(f->size >> (56 - 8 * i));
        for (i = 0; i < count; i++)
                memcpy(out + 8 + (size_t)i * MERKLE_HASH_LEN, f->hash[i],
                       MERKLE_HASH_LEN);
        return 8 + (size_t)count * MERKLE_HASH_LEN;
}

int merkle_frontier_decode(const unsigned char *in, size_t len,
                           struct merkle_frontier *f, char *err, size_t errlen)
{
        uint64_t size = 0;
        unsigned i, count;
        int ret = -1;

        if (len < 8) {
                errbuf_set(err, errlen,
                           "merkle: frontier of %zu bytes, shorter than its "
                           "8-byte size",
                           len);
                goto done;
        }
        for (i = 0; i < 8; i++)
                size = size << 8 | in[i];
        if (size > MERKLE_MAX_SIZE) {
                errbuf_set(err, errlen,
                           "merkle: frontier size %" PRIu64 " over 2^63 - 1",
                           size);
                goto done;
        }
        count = merkle_popcount(size);
        if (len - 8 != (size_t)count * MERKLE_HASH_LEN) {
                errbuf_set(err, errlen,
                           "merkle: frontier of size %" PRIu64
                           " has %u hashes (%zu bytes), not %zu bytes",
                           size, count, 8 + (size_t)count * MERKLE_HASH_LEN,
                           len);
                goto done;
        }
        merkle_frontier_init(f);
        f->size = size;
        f->count = count;
        for (i = 0; i < count; i++)
                memcpy(f->hash[i], in + 8 + (size_t)i * MERKLE_HASH_LEN,
                       MERKLE_HASH_LEN);
        ret = 0;
done:
        return ret;
}

/*
 * MTH(D[lo:hi]) from complete nodes, for lo < hi where lo is a multiple
 * of the smallest power of two >= hi - lo (every range the RFC's
 * recursion names is): the nodes of hi - lo's one bits, the smallest
 * rightmost, folded from the right.
 */
static int merkle_range_hash(uint64_t lo, uint64_t hi, merkle_get_node_fn get,
                             void *ctx, merkle_hash out, char *err,
                             size_t errlen)
{
        merkle_hash acc = {0}, node;
        uint64_t n = hi - lo, end = hi;
        unsigned level;
        int have = 0, ret = -1;

        for (level = 0; level < 64 && (n >> level) != 0; level++) {
                if (((n >> level) & 1) == 0)
                        continue;
                end -= UINT64_C(1) << level;
                if (get(ctx, level, end >> level, node, err, errlen) != 0)
                        goto done;
                if (have)
                        merkle_node_hash(node, acc, acc);
                else
                        memcpy(acc, node, MERKLE_HASH_LEN);
                have = 1;
        }
        memcpy(out, acc, MERKLE_HASH_LEN);
        ret = 0;
done:
        return ret;
}

int merkle_root(uint64_t size, merkle_get_node_fn get, void *ctx,
                merkle_hash out, char *err, size_t errlen)
{
        if (size > MERKLE_MAX_SIZE) {
                errbuf_set(err, errlen,
                           "merkle: tree size %" PRIu64 " over 2^63 - 1", size);
                return -1;
        }
        if (size == 0) {
                merkle_empty_root(out);
                return 0;
        }
        return merkle_range_hash(0, size, get, ctx, out, err, errlen);
}

/* The proof was gathered from the top down; the RFC lists it bottom up. */
static void merkle_proof_out(merkle_hash *path, size_t n, merkle_hash *proof,
                             size_t *len)
{
        size_t i;

        for (i = 0; i < n; i++)
                memcpy(proof[i], path[n - 1 - i], MERKLE_HASH_LEN);
        *len = n;
}

int merkle_inclusion_proof(uint64_t index, uint64_t size,
                           merkle_get_node_fn get, void *ctx,
                           merkle_hash *proof, size_t *len, char *err,
                           size_t errlen)
{
        merkle_hash path[MERKLE_MAX_PROOF];
        uint64_t lo = 0, hi = size, k;
        unsigned level;
        size_t n = 0;
        int ret = -1;

        if (size > MERKLE_MAX_SIZE || index >= size) {
                errbuf_set(err, errlen,
                           "merkle: no leaf %" PRIu64 " in a tree of %" PRIu64
                           " leaves",
                           index, size);
                goto done;
        }
        /*
         * PATH(m, D[lo:hi]) with k the largest power of two below hi - lo:
         * PATH(m, D[lo:lo+k]) : MTH(D[lo+k:hi]) when m < k, else
         * PATH(m - k, D[lo+k:hi]) : MTH(D[lo:lo+k]).  The left sibling is
         * always a complete node; the right one is at most once partial.
         */
        while (hi - lo > 1) {
                level = merkle_log2(hi - lo - 1);
                k = UINT64_C(1) << level;
                if (index - lo < k) {
                        if (merkle_range_hash(lo + k, hi, get, ctx, path[n],
                                              err, errlen) == -1)
                                goto done;
                        hi = lo + k;
                } else {
                        if (get(ctx, level, lo >> level, path[n], err,
                                errlen) != 0)
                                goto done;
                        lo += k;
                }
                n++;
        }
        merkle_proof_out(path, n, proof, len);
        ret = 0;
done:
        return ret;
}

int merkle_consistency_proof(uint64_t first, uint64_t second,
                             merkle_get_node_fn get, void *ctx,
                             merkle_hash *proof, size_t *len, char *err,
                             size_t errlen)
{
        merkle_hash path[MERKLE_MAX_PROOF];
        uint64_t lo = 0, hi = second, k;
        unsigned level;
        size_t n = 0;
        int whole = 1, ret = -1;

        if (second > MERKLE_MAX_SIZE || first == 0 || first > second) {
                errbuf_set(err, errlen,
                           "merkle: no consistency proof from %" PRIu64
                           " to %" PRIu64 " leaves",
                           first, second);
                goto done;
        }
        /*
         * SUBPROOF(m, D[lo:hi], b) with m = first - lo: nothing more when
         * m == hi - lo (MTH(D[lo:hi]) too unless b); else with k as in
         * PATH, SUBPROOF(m, D[lo:lo+k], b) : MTH(D[lo+k:hi]) when m <= k,
         * or SUBPROOF(m - k, D[lo+k:hi], false) : MTH(D[lo:lo+k]).
         */
        while (hi != first) {
                level = merkle_log2(hi - lo - 1);
                k = UINT64_C(1) << level;
                if (first - lo <= k) {
                        if (merkle_range_hash(lo + k, hi, get, ctx, path[n],
                                              err, errlen) == -1)
                                goto done;
                        hi = lo + k;
                } else {
                        if (get(ctx, level, lo >> level, path[n], err,
                                errlen) != 0)
                                goto done;
                        lo += k;
                        whole = 0;
                }
                n++;
        }
        if (!whole) {
                if (merkle_range_hash(lo, hi, get, ctx, path[n], err, errlen) ==
                    -1)
                        goto done;
                n++;
        }
        merkle_proof_out(path, n, proof, len);
        ret = 0;
done:
        return ret;
}

/* The RFC's "right-shift both fn and sn equally until ...". */
static void merkle_shift_to_set(uint64_t *fn, uint64_t *sn)
{
        while ((*fn & 1) == 0 && *fn != 0) {
                *fn >>= 1;
                *sn >>= 1;
        }
}

int merkle_verify_inclusion(uint64_t index, uint64_t size,
                            const merkle_hash leaf_hash,
                            const merkle_hash *proof, size_t len,
                            const merkle_hash root, char *err, size_t errlen)
{
        merkle_hash r;
        uint64_t fn, sn;
        size_t i;
        int ret = -1;

        if (size > MERKLE_MAX_SIZE) {
                errbuf_set(err, errlen,
                           "merkle: tree size %" PRIu64 " over 2^63 - 1", size);
                goto done;
        }
        /* 1. */
        if (index >= size) {
                errbuf_set(err, errlen,
                           "merkle: leaf index %" PRIu64
                           " out of range for a tree of %" PRIu64 " leaves",
                           index, size);
                goto done;
        }
        /* 2., 3. */
        fn = index;
        sn = size - 1;
        memcpy(r, leaf_hash, MERKLE_HASH_LEN);
        /* 4. */
        for (i = 0; i < len; i++) {
                if (sn == 0) {
                        errbuf_set(err, errlen,
                                   "merkle: inclusion proof of %zu hashes "
                                   "for leaf %" PRIu64 " of %" PRIu64
                                   " is too long (%zu expected)",
                                   len, index, size, i);
                        goto done;
                }
                if ((fn & 1) == 1 || fn == sn) {
                        merkle_node_hash(proof[i], r, r);
                        if ((fn & 1) == 0)
                                merkle_shift_to_set(&fn, &sn);
                } else {
                        merkle_node_hash(r, proof[i], r);
                }
                fn >>= 1;
                sn >>= 1;
        }
        /* 5. */
        if (sn != 0) {
                errbuf_set(err, errlen,
                           "merkle: inclusion proof of %zu hashes for leaf "
                           "%" PRIu64 " of %" PRIu64 " is too short",
                           len, index, size);
                goto done;
        }
        if (memcmp(r, root, MERKLE_HASH_LEN) != 0) {
                errbuf_set(err, errlen,
                           "merkle: inclusion proof for leaf %" PRIu64
                           " of %" PRIu64 " does not lead to the root",
                           index, size);
                goto done;
        }
        ret = 0;
done:
        return ret;
}

int merkle_verify_consistency(uint64_t first, uint64_t second,
                              const merkle_hash first_root,
                              const merkle_hash second_root,
                              const merkle_hash *proof, size_t len, char *err,
                              size_t errlen)
{
        merkle_hash fr, sr;
        uint64_t fn, sn;
        size_t i;
        int ret = -1;

        if (second > MERKLE_MAX_SIZE || first > second) {
                errbuf_set(err, errlen,
                           "merkle: no consistency from %" PRIu64 " to %" PRIu64
                           " leaves",
                           first, second);
                goto done;
        }
        /* Outside the RFC's 0 < first < second: nothing to prove. */
        if (first == 0 || first == second) {
                if (len != 0) {
                        errbuf_set(err, errlen,
                                   "merkle: consistency proof from %" PRIu64
                                   " to %" PRIu64
                                   " leaves must be empty, has %zu hashes",
                                   first, second, len);
                        goto done;
                }
                if (first != 0 &&
                    memcmp(first_root, second_root, MERKLE_HASH_LEN) != 0) {
                        errbuf_set(err, errlen,
                                   "merkle: two roots for a tree of %" PRIu64
                                   " leaves",
                                   first);
                        goto done;
                }
                ret = 0;
                goto done;
        }
        /* 1. */
        if (len == 0) {
                errbuf_set(err, errlen,
                           "merkle: empty consistency proof from %" PRIu64
                           " to %" PRIu64 " leaves",
                           first, second);
                goto done;
        }
        /*
         * 2., 5.: with first a power of two, first_root is prepended: it
         * is the first value and every proof hash is a subsequent one;
         * otherwise proof[0] is the first value.  The array itself is
         * never extended.
         */
        i = 0;
        if ((first & (first - 1)) == 0) {
                memcpy(fr, first_root, MERKLE_HASH_LEN);
        } else {
                memcpy(fr, proof[0], MERKLE_HASH_LEN);
                i = 1;
        }
        memcpy(sr, fr, MERKLE_HASH_LEN);
        /* 3., 4. */
        fn = first - 1;
        sn = second - 1;
        while ((fn & 1) == 1) {
                fn >>= 1;
                sn >>= 1;
        }
        /* 6. */
        for (; i < len; i++) {
                if (sn == 0) {
                        errbuf_set(err, errlen,
                                   "merkle: consistency proof of %zu hashes "
                                   "from %" PRIu64 " to %" PRIu64
                                   " leaves is too long",
                                   len, first, second);
                        goto done;
                }
                if ((fn & 1) == 1 || fn == sn) {
                        merkle_node_hash(proof[i], fr, fr);
                        merkle_node_hash(proof[i], sr, sr);
                        if ((fn & 1) == 0)
                                merkle_shift_to_set(&fn, &sn);
                } else {
                        merkle_node_hash(sr, proof[i], sr);
                }
                fn >>= 1;
                sn >>= 1;
        }
        /* 7. */
        if (sn != 0) {
                errbuf_set(err, errlen,
                           "merkle: consistency proof of %zu hashes from "
                           "%" PRIu64 " to %" PRIu64 " leaves is too short",
                           len, first, second);
                goto done;
        }
        if (memcmp(fr, first_root, MERKLE_HASH_LEN) != 0 ||
            memcmp(sr, second_root, MERKLE_HASH_LEN) != 0) {
                errbuf_set(err, errlen,
                           "merkle: consistency proof from %" PRIu64
                           " to %" PRIu64 " leaves does not lead to the %s",
                           first, second,
                           memcmp(fr, first_root, MERKLE_HASH_LEN) != 0
                               ? "first root"
                               : "second root");
                goto done;
        }
        ret = 0;
done:
        return ret;
}

/*
 * fuzz_merkle: the two proof verifiers of libtds/merkle.h on hostile
 * sizes, indices and proofs, and the generators that feed them.
 *
 * Input: byte 0 holds flags (bit 0: consistency, else inclusion; bit 1:
 * a computed tree of up to 2^63 - 1 leaves, else a stored one of up to
 * 256), then a and b (8 bytes each, big endian), a bit position (2
 * bytes), a leaf hash and a root (32 bytes each), then the proof, 32
 * bytes a hash (a short input reads as zeros).
 *
 * Invariants (abort() when broken):
 *  - the verifiers run on a, b, the leaf, the root and the proof as given
 *    (the proof in a heap block of exactly its length, NULL when empty,
 *    so that any read past it is a crash); an accepted proof has the
 *    length the generator gives for the same sizes, its sizes are in
 *    range, and the same proof with one bit of its root flipped is
 *    refused;
 *  - a proof the generator made, in a tree of b % max + 1 leaves, for the
 *    leaf or first size a picks, verifies; with the chosen bit flipped in
 *    the proof, the leaf or a root it is refused; an inclusion proof is
 *    refused at a neighbouring index.
 */
#include "merkle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_HEADER 83 /* 1 + 8 + 8 + 2 + 32 + 32 */
#define FUZZ_SMALL  256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The computed tree: every leaf hash is u[0] but that of leaf p, s[0]; a
 * complete node is u[level] unless it holds p.  The stored tree: leaf i
 * is the leaf hash of (seed, i), its complete nodes stored by the
 * frontier's emit callback.  Both refuse nodes not wholly below `limit`.
 */
struct fuzz_tree {
        int big;
        uint64_t limit;
        uint64_t p;
        merkle_hash u[MERKLE_MAX_LEVEL + 1];
        merkle_hash s[MERKLE_MAX_LEVEL + 1];
        merkle_hash node[9][FUZZ_SMALL];
        uint64_t count[9];
};

static struct fuzz_tree fuzz_tree;

static int fuzz_get(void *ctx, unsigned level, uint64_t index, merkle_hash out,
                    char *err, size_t errlen)
{
        struct fuzz_tree *t = ctx;

        (void)err;
        (void)errlen;
        /* The generators ask only for nodes below the size. */
        if (level > MERKLE_MAX_LEVEL || index >= (t->limit >> level))
                abort();
        if (t->big) {
                memcpy(out,
                       (t->p >> level) == index ? t->s[level] : t->u[level],
                       MERKLE_HASH_LEN);
                return 0;
        }
        if (level >= 9 || index >= t->count[level])
                abort();
        memcpy(out, t->node[level][index], MERKLE_HASH_LEN);
        return 0;
}

static int fuzz_store(void *ctx, unsigned level, uint64_t index,
                      const merkle_hash hash)
{
        struct fuzz_tree *t = ctx;

        if (level >= 9 || index != t->count[level])
                abort();
        memcpy(t->node[level][index], hash, MERKLE_HASH_LEN);
        t->count[level]++;
        return 0;
}

/* A node source that has every node: for the length of any proof. */
static int fuzz_get_any(void *ctx, unsigned level, uint64_t index,
                        merkle_hash out, char *err, size_t errlen)
{
        (void)ctx;
        (void)level;
        (void)index;
        (void)err;
        (void)errlen;
        memset(out, 0, MERKLE_HASH_LEN);
        return 0;
}

static uint64_t fuzz_u64(const uint8_t *p)
{
        uint64_t v = 0;
        int i;

        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

/* The verifiers on the input as it is. */
static void fuzz_raw(int consistency, uint64_t a, uint64_t b,
                     const merkle_hash leaf, const merkle_hash root,
                     const merkle_hash *proof, size_t len)
{
        merkle_hash flipped, gen[MERKLE_MAX_PROOF];
        size_t genlen = 0;
        int ok;

        memcpy(flipped, root, MERKLE_HASH_LEN);
        flipped[0] ^= 1;
        if (!consistency) {
                ok = merkle_verify_inclusion(a, b, leaf, proof, len, root, NULL,
                                             0) == 0;
                if (!ok)
                        return;
                if (a >= b || b > MERKLE_MAX_SIZE ||
                    merkle_inclusion_proof(a, b, fuzz_get_any, NULL, gen,
                                           &genlen, NULL, 0) != 0 ||
                    genlen != len)
                        abort();
                if (merkle_verify_inclusion(a, b, leaf, proof, len, flipped,
                                            NULL, 0) == 0)
                        abort();
                return;
        }
        ok = merkle_verify_consistency(a, b, leaf, root, proof, len, NULL, 0) ==
             0;
        if (!ok)
                return;
        if (a > b || b > MERKLE_MAX_SIZE)
                abort();
        if (a == 0) {
                if (len != 0)
                        abort();
                return;
        }
        if (merkle_consistency_proof(a, b, fuzz_get_any, NULL, gen, &genlen,
                                     NULL, 0) != 0 ||
            genlen != len)
                abort();
        if (merkle_verify_consistency(a, b, leaf, flipped, proof, len, NULL,
                                      0) == 0)
                abort();
}

/* Build the tree of `n` leaves the flags ask for. */
static void fuzz_build(struct fuzz_tree *t, int big, uint64_t n, uint64_t p,
                       const merkle_hash leaf)
{
        struct merkle_frontier f;
        unsigned char buf[MERKLE_HASH_LEN + 2];
        merkle_hash h;
        unsigned l;
        uint64_t i;

        t->big = big;
        t->limit = n;
        t->p = p;
        if (big) {
                merkle_leaf_hash("x", 1, t->u[0]);
                memcpy(t->s[0], leaf, MERKLE_HASH_LEN);
                for (l = 1; l <= MERKLE_MAX_LEVEL; l++) {
                        merkle_node_hash(t->u[l - 1], t->u[l - 1], t->u[l]);
                        if ((p >> (l - 1)) & 1)
                                merkle_node_hash(t->u[l - 1], t->s[l - 1],
                                                 t->s[l]);
                        else
                                merkle_node_hash(t->s[l - 1], t->u[l - 1],
                                                 t->s[l]);
                }
                return;
        }
        memset(t->count, 0, sizeof(t->count));
        merkle_frontier_init(&f);
        memcpy(buf, leaf, MERKLE_HASH_LEN);
        for (i = 0; i < n; i++) {
                buf[MERKLE_HASH_LEN] = (unsigned char)(i >> 8);
                buf[MERKLE_HASH_LEN + 1] = (unsigned char)i;
                merkle_leaf_hash(buf, sizeof(buf), h);
                if (merkle_frontier_append(&f, h, fuzz_store, t) != 0)
                        abort();
        }
}

static void fuzz_leaf_of(const struct fuzz_tree *t, uint64_t i,
                         const merkle_hash seed, merkle_hash out)
{
        unsigned char buf[MERKLE_HASH_LEN + 2];

        if (t->big) {
                memcpy(out, i == t->p ? t->s[0] : t->u[0], MERKLE_HASH_LEN);
                return;
        }
        memcpy(buf, seed, MERKLE_HASH_LEN);
        buf[MERKLE_HASH_LEN] = (unsigned char)(i >> 8);
        buf[MERKLE_HASH_LEN + 1] = (unsigned char)i;
        merkle_leaf_hash(buf, sizeof(buf), out);
}

/* A generated proof verifies; one flipped bit does not. */
static void fuzz_generated(int consistency, int big, uint64_t a, uint64_t b,
                           unsigned bit, const merkle_hash seed)
{
        struct fuzz_tree *t = &fuzz_tree;
        merkle_hash proof[MERKLE_MAX_PROOF], leaf, root, r1, other;
        uint64_t n, i, m;
        size_t len = 0, which;

        n = big ? b % MERKLE_MAX_SIZE + 1 : b % FUZZ_SMALL + 1;
        i = a % n;
        fuzz_build(t, big, n, i, seed);
        if (merkle_root(n, fuzz_get, t, root, NULL, 0) != 0)
                abort();
        if (!consistency) {
                fuzz_leaf_of(t, i, seed, leaf);
                if (merkle_inclusion_proof(i, n, fuzz_get, t, proof, &len, NULL,
                                           0) != 0 ||
                    merkle_verify_inclusion(i, n, leaf, proof, len, root, NULL,
                                            0) != 0)
                        abort();
                /* A neighbour's index, unless its leaf is the same. */
                m = i + 1 < n ? i + 1 : i - 1;
                fuzz_leaf_of(t, m, seed, other);
                if (m != i && memcmp(leaf, other, MERKLE_HASH_LEN) != 0 &&
                    merkle_verify_inclusion(m, n, leaf, proof, len, root, NULL,
                                            0) == 0)
                        abort();
                which = bit / 256 % (len + 2);
                if (which < len)
                        proof[which][bit % 256 / 8] ^= 1 << bit % 8;
                else if (which == len)
                        leaf[bit % 256 / 8] ^= 1 << bit % 8;
                else
                        root[bit % 256 / 8] ^= 1 << bit % 8;
                if (merkle_verify_inclusion(i, n, leaf, proof, len, root, NULL,
                                            0) == 0)
                        abort();
                return;
        }
        m = i + 1;
        t->limit = m;
        if (merkle_root(m, fuzz_get, t, r1, NULL, 0) != 0)
                abort();
        t->limit = n;
        if (merkle_consistency_proof(m, n, fuzz_get, t, proof, &len, NULL, 0) !=
                0 ||
            merkle_verify_consistency(m, n, r1, root, proof, len, NULL, 0) != 0)
                abort();
        if (m == n)
                return;
        which = bit / 256 % (len + 2);
        if (which < len)
                proof[which][bit % 256 / 8] ^= 1 << bit % 8;
        else if (which == len)
                r1[bit % 256 / 8] ^= 1 << bit % 8;
        else
                root[bit % 256 / 8] ^= 1 << bit % 8;
        if (merkle_verify_consistency(m, n, r1, root, proof, len, NULL, 0) == 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        uint8_t head[FUZZ_HEADER];
        merkle_hash leaf, root, *proof = NULL;
        size_t len, n;
        uint64_t a, b;
        unsigned bit;

        memset(head, 0, sizeof(head));
        n = size < FUZZ_HEADER ? size : FUZZ_HEADER;
        memcpy(head, data, n);
        a = fuzz_u64(head + 1);
        b = fuzz_u64(head + 9);
        bit = (unsigned)head[17] << 8 | head[18];
        memcpy(leaf, head + 19, MERKLE_HASH_LEN);
        memcpy(root, head + 51, MERKLE_HASH_LEN);
        len = size > FUZZ_HEADER ? (size - FUZZ_HEADER) / MERKLE_HASH_LEN : 0;
        if (len > 0) {
                if ((proof = malloc(len * MERKLE_HASH_LEN)) == NULL)
                        abort();
                memcpy(proof, data + FUZZ_HEADER, len * MERKLE_HASH_LEN);
        }
        fuzz_raw(head[0] & 1, a, b, leaf, root, proof, len);
        free(proof);
        fuzz_generated(head[0] & 1, (head[0] >> 1) & 1, a, b, bit, leaf);
        return 0;
}

/*
 * merkle: the RFC 6962 / 9162 reference vectors; every root, inclusion
 * proof and consistency proof of every tree up to MAXN leaves against a
 * naive implementation of the RFC's recursive definitions (MTH, PATH,
 * SUBPROOF, written here from the RFC text); the verifiers' refusals;
 * the frontier (its emitted nodes, its codec, a failing emit); trees of
 * up to 2^63 - 1 leaves from a node source that computes them.
 */
#include "crypto.h"
#include "hex.h"
#include "merkle.h"
#include "unit.h"

#include <inttypes.h>
#include <pthread.h>

#define MAXN     130 /* every tree size 1..MAXN */
#define FLIP_MAX 16  /* every bit flip of every proof up to this size */
#define ALL_IDX  64  /* every wrong index up to this size */

/* The leaf hashes of the test tree: leaf i is the 4 bytes of i. */
static merkle_hash leaves[MAXN];

static void hash_hex(const char *text, merkle_hash out)
{
        size_t len = 0;

        REQUIRE(hex_decode(text, strlen(text), HEX_LOWER_ONLY, out,
                           MERKLE_HASH_LEN, &len, NULL, 0) == 0 &&
                len == MERKLE_HASH_LEN);
}

static int hash_eq(const merkle_hash a, const merkle_hash b)
{
        return memcmp(a, b, MERKLE_HASH_LEN) == 0;
}

static int proof_eq(const merkle_hash *a, size_t alen, const merkle_hash *b,
                    size_t blen)
{
        return alen == blen &&
               (alen == 0 || memcmp(a, b, alen * MERKLE_HASH_LEN) == 0);
}

/* Field by field: the struct has padding that assignment need not copy. */
static int frontier_same(const struct merkle_frontier *a,
                         const struct merkle_frontier *b)
{
        return a->size == b->size && a->count == b->count &&
               memcmp(a->hash, b->hash, sizeof(a->hash)) == 0;
}

/* The same tree: size, count and the count hashes that matter. */
static int frontier_eq(const struct merkle_frontier *a,
                       const struct merkle_frontier *b)
{
        return a->size == b->size && a->count == b->count &&
               a->count <= MERKLE_MAX_LEVEL + 1 &&
               memcmp(a->hash, b->hash, a->count * MERKLE_HASH_LEN) == 0;
}

/* ---- The reference: RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1 as written. */

/* The largest power of two smaller than n (n > 1). */
static uint64_t ref_split(uint64_t n)
{
        uint64_t k = 1;

        while (k << 1 < n)
                k <<= 1;
        return k;
}

/* MTH(D[n]) over leaf hashes. */
static void ref_mth(const merkle_hash *d, uint64_t n, merkle_hash out)
{
        merkle_hash l, r;
        uint64_t k;

        if (n == 0) {
                merkle_empty_root(out);
                return;
        }
        if (n == 1) {
                memcpy(out, d[0], MERKLE_HASH_LEN);
                return;
        }
        k = ref_split(n);
        ref_mth(d, k, l);
        ref_mth(d + k, n - k, r);
        merkle_node_hash(l, r, out);
}

/* PATH(m, D[n]), appended to proof[*len...]. */
static void ref_path(uint64_t m, const merkle_hash *d, uint64_t n,
                     merkle_hash *proof, size_t *len)
{
        uint64_t k;

        if (n == 1)
                return;
        k = ref_split(n);
        if (m < k) {
                ref_path(m, d, k, proof, len);
                ref_mth(d + k, n - k, proof[(*len)++]);
        } else {
                ref_path(m - k, d + k, n - k, proof, len);
                ref_mth(d, k, proof[(*len)++]);
        }
}

/* SUBPROOF(m, D[n], b), appended to proof[*len...]. */
static void ref_subproof(uint64_t m, const merkle_hash *d, uint64_t n, int b,
                         merkle_hash *proof, size_t *len)
{
        uint64_t k;

        if (m == n) {
                if (!b)
                        ref_mth(d, n, proof[(*len)++]);
                return;
        }
        k = ref_split(n);
        if (m <= k) {
                ref_subproof(m, d, k, b, proof, len);
                ref_mth(d + k, n - k, proof[(*len)++]);
        } else {
                ref_subproof(m - k, d + k, n - k, 0, proof, len);
                ref_mth(d, k, proof[(*len)++]);
        }
}

/* ---- A node store filled by the frontier's emit callback. */

struct store {
        merkle_hash *level[MERKLE_MAX_LEVEL + 1];
        uint64_t count[MERKLE_MAX_LEVEL + 1];
        uint64_t limit; /* the tree size proofs are asked for */
        int outside;    /* requests for nodes not wholly below limit */
        int fail;       /* make every get fail */
        unsigned seen;  /* nodes emitted by the current append */
        unsigned seen_level[MERKLE_MAX_LEVEL + 2];
        uint64_t seen_index[MERKLE_MAX_LEVEL + 2];
        int seen_wrong; /* emitted hashes unlike the reference */
        int fail_at;    /* emit call that fails (-1: none) */
        int fail_rc;    /* what it returns */
};

static void store_init(struct store *s, uint64_t maxn)
{
        unsigned l;

        memset(s, 0, sizeof(*s));
        for (l = 0; (maxn >> l) != 0; l++)
                REQUIRE((s->level[l] = calloc(maxn >> l, MERKLE_HASH_LEN)) !=
                        NULL);
        s->fail_at = -1;
}

static void store_fini(struct store *s)
{
        unsigned l;

        for (l = 0; l <= MERKLE_MAX_LEVEL; l++)
                free(s->level[l]);
}

static int store_get(void *ctx, unsigned level, uint64_t index, merkle_hash out,
                     char *err, size_t errlen)
{
        struct store *s = ctx;

        if (s->fail) {
                snprintf(err, errlen, "store: down");
                return -1;
        }
        /* (index + 1) << level <= limit, without overflow. */
        if (level > MERKLE_MAX_LEVEL || index >= (s->limit >> level) ||
            index >= s->count[level]) {
                s->outside++;
                snprintf(err, errlen, "store: no node (%u, %" PRIu64 ")", level,
                         index);
                return -1;
        }
        memcpy(out, s->level[level][index], MERKLE_HASH_LEN);
        return 0;
}

/* Records the node, checks it against the reference, stores it. */
static int store_emit(void *ctx, unsigned level, uint64_t index,
                      const merkle_hash hash)
{
        struct store *s = ctx;
        merkle_hash want;
        int call = (int)s->seen;

        if (s->seen < MERKLE_MAX_LEVEL + 2) {
                s->seen_level[s->seen] = level;
                s->seen_index[s->seen] = index;
        }
        s->seen++;
        if (call == s->fail_at)
                return s->fail_rc;
        REQUIRE(level < 64 && s->level[level] != NULL);
        REQUIRE((index + 1) << level <= MAXN);
        ref_mth(leaves + (index << level), UINT64_C(1) << level, want);
        if (!hash_eq(hash, want))
                s->seen_wrong++;
        /* A node emitted again (after a failed append) is the same. */
        if (index < s->count[level]) {
                if (!hash_eq(s->level[level][index], hash))
                        s->seen_wrong++;
        } else if (index == s->count[level]) {
                memcpy(s->level[level][index], hash, MERKLE_HASH_LEN);
                s->count[level]++;
        } else {
                s->seen_wrong++;
        }
        return 0;
}

/* ---- Hashes and the RFC 6962 reference tree. */

static const char *const ref_leaves[8] = {"",
                                          "00",
                                          "10",
                                          "2021",
                                          "3031",
                                          "40414243",
                                          "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"};

/* MTH of the first 1..8 leaves of the reference tree. */
static const char *const ref_roots[8] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};

struct vector {
        uint64_t a, b; /* index and size, or first and second */
        const char *proof[3];
};

static const struct vector ref_inclusion[] = {
    {0, 1, {NULL}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     3,
     {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

static const struct vector ref_consistency[] = {
    {1, 1, {NULL}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

static size_t vector_proof(const struct vector *v, merkle_hash *out)
{
        size_t n;

        for (n = 0; n < 3 && v->proof[n] != NULL; n++)
                hash_hex(v->proof[n], out[n]);
        return n;
}

static void test_hashes(void)
{
        merkle_hash got, want, a, b;

        merkle_empty_root(got);
        hash_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b"
                 "7852b855",
                 want);
        CHECK(hash_eq(got, want));
        /* SHA-256(0x00): the empty leaf is not the empty tree. */
        merkle_leaf_hash("", 0, got);
        hash_hex(ref_roots[0], want);
        CHECK(hash_eq(got, want));
        merkle_leaf_hash(NULL, 0, got);
        CHECK(hash_eq(got, want));
        merkle_leaf_hash("L123456", 7, got);
        hash_hex("395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639"
                 "252b4d56",
                 want);
        CHECK(hash_eq(got, want));
        /* Against libtds' plain SHA-256 of 0x00 || leaf, any length. */
        {
                unsigned char buf[1 + 200];
                size_t len;

                buf[0] = 0x00;
                for (len = 0; len < 200; len++)
                        buf[1 + len] = (unsigned char)(len * 7 + 1);
                for (len = 0; len <= 200; len += 13) {
                        merkle_leaf_hash(buf + 1, len, got);
                        REQUIRE(crypto_sha256(buf, 1 + len, want, NULL, 0) ==
                                0);
                        CHECK(hash_eq(got, want));
                }
        }
        /* The size-2 root is the node hash of the first two leaves, and
         * the output may be one of the inputs. */
        merkle_leaf_hash("", 0, a);
        merkle_leaf_hash("\x00", 1, b);
        hash_hex(ref_roots[1], want);
        merkle_node_hash(a, b, got);
        CHECK(hash_eq(got, want));
        merkle_node_hash(a, b, a);
        CHECK(hash_eq(a, want));
        merkle_leaf_hash("", 0, a);
        merkle_node_hash(a, b, b);
        CHECK(hash_eq(b, want));
}

/* The 8-leaf tree of RFC 6962's test data, through the frontier. */
static void test_vectors(void)
{
        struct merkle_frontier f;
        struct store s;
        merkle_hash proof[MERKLE_MAX_PROOF], want[3], root, r1, r2, leaf;
        unsigned char bin[16];
        char err[160] = "";
        size_t i, binlen, len, wantlen;
        int rc;

        store_init(&s, MAXN);
        merkle_frontier_init(&f);
        for (i = 0; i < 8; i++) {
                REQUIRE(hex_decode(ref_leaves[i], strlen(ref_leaves[i]),
                                   HEX_LOWER_ONLY, bin, sizeof(bin), &binlen,
                                   NULL, 0) == 0);
                merkle_leaf_hash(bin, binlen, leaves[i]);
                s.seen = 0;
                CHECK(merkle_frontier_append(&f, leaves[i], store_emit, &s) ==
                      0);
                merkle_frontier_root(&f, root);
                hash_hex(ref_roots[i], want[0]);
                CHECK(hash_eq(root, want[0]));
                s.limit = i + 1;
                CHECK(merkle_root(i + 1, store_get, &s, root, err,
                                  sizeof(err)) == 0);
                CHECK(hash_eq(root, want[0]));
        }
        CHECK(s.seen_wrong == 0);
        for (i = 0; i < sizeof(ref_inclusion) / sizeof(ref_inclusion[0]); i++) {
                const struct vector *v = &ref_inclusion[i];

                wantlen = vector_proof(v, want);
                s.limit = v->b;
                rc = merkle_inclusion_proof(v->a, v->b, store_get, &s, proof,
                                            &len, err, sizeof(err));
                CHECK_MSG(rc == 0, err);
                CHECK(rc == 0 && proof_eq(proof, len, want, wantlen));
                hash_hex(ref_roots[v->b - 1], root);
                rc = merkle_verify_inclusion(v->a, v->b, leaves[v->a], want,
                                             wantlen, root, err, sizeof(err));
                CHECK_MSG(rc == 0, err);
                memcpy(leaf, leaves[v->a], MERKLE_HASH_LEN);
                leaf[0] ^= 8;
                CHECK(merkle_verify_inclusion(v->a, v->b, leaf, want, wantlen,
                                              root, NULL, 0) == -1);
        }
        for (i = 0; i < sizeof(ref_consistency) / sizeof(ref_consistency[0]);
             i++) {
                const struct vector *v = &ref_consistency[i];

                wantlen = vector_proof(v, want);
                s.limit = v->b;
                rc = merkle_consistency_proof(v->a, v->b, store_get, &s, proof,
                                              &len, err, sizeof(err));
                CHECK_MSG(rc == 0, err);
                CHECK(rc == 0 && proof_eq(proof, len, want, wantlen));
                hash_hex(ref_roots[v->a - 1], r1);
                hash_hex(ref_roots[v->b - 1], r2);
                rc = merkle_verify_consistency(v->a, v->b, r1, r2, want,
                                               wantlen, err, sizeof(err));
                CHECK_MSG(rc == 0, err);
                if (v->a != v->b)
                        CHECK(merkle_verify_consistency(v->a, v->b, r2, r1,
                                                        want, wantlen, NULL,
                                                        0) == -1);
        }
        CHECK(s.outside == 0);
        store_fini(&s);
}

/* ---- Refusals. */

static int flip_count; /* single-bit flips tried, for the report */

/* How many single-bit flips of proof, leaf and root verify (want 0). */
static int flips_inclusion(uint64_t index, uint64_t size,
                           const merkle_hash leaf, const merkle_hash *proof,
                           size_t len, const merkle_hash root)
{
        merkle_hash p[MERKLE_MAX_PROOF], l, r;
        size_t j, bit;
        int accepted = 0;

        for (j = 0; j < len + 2; j++) {
                for (bit = 0; bit < 8 * MERKLE_HASH_LEN; bit++) {
                        memcpy(p, proof, len * MERKLE_HASH_LEN);
                        memcpy(l, leaf, MERKLE_HASH_LEN);
                        memcpy(r, root, MERKLE_HASH_LEN);
                        if (j < len)
                                p[j][bit / 8] ^= (unsigned char)(1 << bit % 8);
                        else if (j == len)
                                l[bit / 8] ^= (unsigned char)(1 << bit % 8);
                        else
                                r[bit / 8] ^= (unsigned char)(1 << bit % 8);
                        flip_count++;
                        if (merkle_verify_inclusion(index, size, l, p, len, r,
                                                    NULL, 0) == 0)
                                accepted++;
                }
        }
        return accepted;
}

static int flips_consistency(uint64_t first, uint64_t second,
                             const merkle_hash r1, const merkle_hash r2,
                             const merkle_hash *proof, size_t len)
{
        merkle_hash p[MERKLE_MAX_PROOF], a, b;
        size_t j, bit;
        int accepted = 0;

        for (j = 0; j < len + 2; j++) {
                for (bit = 0; bit < 8 * MERKLE_HASH_LEN; bit++) {
                        memcpy(p, proof, len * MERKLE_HASH_LEN);
                        memcpy(a, r1, MERKLE_HASH_LEN);
                        memcpy(b, r2, MERKLE_HASH_LEN);
                        if (j < len)
                                p[j][bit / 8] ^= (unsigned char)(1 << bit % 8);
                        else if (j == len)
                                a[bit / 8] ^= (unsigned char)(1 << bit % 8);
                        else
                                b[bit / 8] ^= (unsigned char)(1 << bit % 8);
                        flip_count++;
                        if (merkle_verify_consistency(first, second, a, b, p,
                                                      len, NULL, 0) == 0)
                                accepted++;
                }
        }
        return accepted;
}

/*
 * A proof one hash shorter, or one longer (at the end or the front): the
 * length alone refuses them, whatever the hashes (the reason says so).
 */
static void check_inclusion_lengths(uint64_t i, uint64_t n,
                                    const merkle_hash leaf,
                                    const merkle_hash *proof, size_t len,
                                    const merkle_hash root)
{
        merkle_hash p[MERKLE_MAX_PROOF + 1];
        char err[200] = "";

        if (len > 0) {
                CHECK(merkle_verify_inclusion(i, n, leaf, proof, len - 1, root,
                                              err, sizeof(err)) == -1);
                CHECK_MSG(strstr(err, "too short") != NULL, err);
        }
        memcpy(p, proof, len * MERKLE_HASH_LEN);
        memcpy(p[len], root, MERKLE_HASH_LEN);
        CHECK(merkle_verify_inclusion(i, n, leaf, p, len + 1, root, err,
                                      sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "too long") != NULL, err);
        memcpy(p[len], leaf, MERKLE_HASH_LEN);
        CHECK(merkle_verify_inclusion(i, n, leaf, p, len + 1, root, NULL, 0) ==
              -1);
        memcpy(p[0], root, MERKLE_HASH_LEN);
        memcpy(p + 1, proof, len * MERKLE_HASH_LEN);
        CHECK(merkle_verify_inclusion(i, n, leaf, p, len + 1, root, err,
                                      sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "too long") != NULL, err);
}

static void check_consistency_lengths(uint64_t m, uint64_t n,
                                      const merkle_hash r1,
                                      const merkle_hash r2,
                                      const merkle_hash *proof, size_t len)
{
        merkle_hash p[MERKLE_MAX_PROOF + 1];
        char err[200] = "";

        if (len > 0) {
                CHECK(merkle_verify_consistency(m, n, r1, r2, proof, len - 1,
                                                err, sizeof(err)) == -1);
                CHECK_MSG(strstr(err, len > 1 ? "too short" : "empty") != NULL,
                          err);
        }
        memcpy(p, proof, len * MERKLE_HASH_LEN);
        memcpy(p[len], r1, MERKLE_HASH_LEN);
        CHECK(merkle_verify_consistency(m, n, r1, r2, p, len + 1, err,
                                        sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "too long") != NULL, err);
        memcpy(p[len], r2, MERKLE_HASH_LEN);
        CHECK(merkle_verify_consistency(m, n, r1, r2, p, len + 1, NULL, 0) ==
              -1);
        memcpy(p[0], len > 0 ? proof[0] : r1, MERKLE_HASH_LEN);
        memcpy(p + 1, proof, len * MERKLE_HASH_LEN);
        CHECK(merkle_verify_consistency(m, n, r1, r2, p, len + 1, err,
                                        sizeof(err)) == -1);
        CHECK_MSG(strstr(err, "too long") != NULL, err);
}

/* ---- Every tree up to MAXN leaves against the reference. */

static void check_inclusion(struct store *s, uint64_t i, uint64_t n,
                            const merkle_hash root)
{
        merkle_hash got[MERKLE_MAX_PROOF], want[MERKLE_MAX_PROOF], other;
        char err[160] = "";
        size_t gotlen = 0, wantlen = 0;
        uint64_t j;
        int rc, wrong = 0;

        ref_path(i, leaves, n, want, &wantlen);
        rc = merkle_inclusion_proof(i, n, store_get, s, got, &gotlen, err,
                                    sizeof(err));
        CHECK_MSG(rc == 0, err);
        CHECK(rc == 0 && proof_eq(got, gotlen, want, wantlen));
        rc = merkle_verify_inclusion(i, n, leaves[i], want, wantlen, root, err,
                                     sizeof(err));
        CHECK_MSG(rc == 0, err);

        check_inclusion_lengths(i, n, leaves[i], want, wantlen, root);
        /* Any other index: every one in small trees, neighbours above. */
        for (j = 0; j < n; j++) {
                if (j == i ||
                    (n > ALL_IDX && j + 1 != i && j != i + 1 && j != (i ^ 2)))
                        continue;
                if (merkle_verify_inclusion(j, n, leaves[i], want, wantlen,
                                            root, NULL, 0) == 0)
                        wrong++;
        }
        CHECK(wrong == 0);
        /* The leaf of another index at this index. */
        memcpy(other, leaves[(i + 1) % n], MERKLE_HASH_LEN);
        if (n > 1)
                CHECK(merkle_verify_inclusion(i, n, other, want, wantlen, root,
                                              NULL, 0) == -1);
        /* Out of range. */
        CHECK(merkle_verify_inclusion(n, n, leaves[i], want, wantlen, root,
                                      NULL, 0) == -1);
        CHECK(merkle_verify_inclusion(n + i, n, leaves[i], want, wantlen, root,
                                      NULL, 0) == -1);
        CHECK(merkle_verify_inclusion(UINT64_MAX, n, leaves[i], want, wantlen,
                                      root, NULL, 0) == -1);
        if (n <= FLIP_MAX)
                CHECK(flips_inclusion(i, n, leaves[i], want, wantlen, root) ==
                      0);
}

static void check_consistency(struct store *s, uint64_t m, uint64_t n,
                              const merkle_hash *roots)
{
        merkle_hash got[MERKLE_MAX_PROOF], want[MERKLE_MAX_PROOF];
        char err[160] = "";
        size_t gotlen = 0, wantlen = 0;
        int rc;

        ref_subproof(m, leaves, n, 1, want, &wantlen);
        rc = merkle_consistency_proof(m, n, store_get, s, got, &gotlen, err,
                                      sizeof(err));
        CHECK_MSG(rc == 0, err);
        CHECK(rc == 0 && proof_eq(got, gotlen, want, wantlen));
        rc = merkle_verify_consistency(m, n, roots[m], roots[n], want, wantlen,
                                       err, sizeof(err));
        CHECK_MSG(rc == 0, err);
        if (m == n) {
                CHECK(wantlen == 0);
                CHECK(merkle_verify_consistency(m, n, roots[m], roots[m - 1],
                                                NULL, 0, NULL, 0) == -1);
                CHECK(merkle_verify_consistency(m, n, roots[m], roots[n],
                                                &roots[m], 1, NULL, 0) == -1);
                return;
        }
        check_consistency_lengths(m, n, roots[m], roots[n], want, wantlen);
        /* Swapped roots, swapped sizes, an empty proof, from 0. */
        CHECK(merkle_verify_consistency(m, n, roots[n], roots[m], want, wantlen,
                                        NULL, 0) == -1);
        CHECK(merkle_verify_consistency(n, m, roots[n], roots[m], want, wantlen,
                                        NULL, 0) == -1);
        CHECK(merkle_verify_consistency(n, m, roots[m], roots[n], want, wantlen,
                                        NULL, 0) == -1);
        CHECK(merkle_verify_consistency(m, n, roots[m], roots[n], want, 0, NULL,
                                        0) == -1);
        CHECK(merkle_verify_consistency(0, n, roots[0], roots[n], want, wantlen,
                                        NULL, 0) == -1);
        /* The proof of a neighbouring first size. */
        if (m + 1 < n)
                CHECK(merkle_verify_consistency(m + 1, n, roots[m + 1],
                                                roots[n], want, wantlen, NULL,
                                                0) == -1);
        if (m > 1)
                CHECK(merkle_verify_consistency(m - 1, n, roots[m - 1],
                                                roots[n], want, wantlen, NULL,
                                                0) == -1);
        if (n <= FLIP_MAX)
                CHECK(flips_consistency(m, n, roots[m], roots[n], want,
                                        wantlen) == 0);
}

/* The nodes an append of leaf n must emit: (0, n), then one per
 * trailing one bit of n. */
static int emitted_as_expected(const struct store *s, uint64_t n)
{
        unsigned l;

        for (l = 0;; l++) {
                if (l >= s->seen || s->seen_level[l] != l ||
                    s->seen_index[l] != n >> l)
                        return 0;
                if (((n >> l) & 1) == 0)
                        break;
        }
        return s->seen == l + 1;
}

static void test_against_reference(void)
{
        struct merkle_frontier f, saved, quiet, back;
        unsigned char enc[MERKLE_FRONTIER_MAX];
        merkle_hash roots[MAXN + 1], root;
        struct store s;
        char err[160] = "";
        uint64_t n, i, m, nodes;
        unsigned l, calls, k;
        size_t enclen;
        int rc;

        for (n = 0; n < MAXN; n++) {
                unsigned char b[4] = {
                    (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                    (unsigned char)(n >> 8), (unsigned char)n};

                merkle_leaf_hash(b, sizeof(b), leaves[n]);
        }
        store_init(&s, MAXN);
        merkle_frontier_init(&f);
        merkle_frontier_init(&quiet);
        merkle_empty_root(roots[0]);
        merkle_frontier_root(&f, root);
        CHECK(hash_eq(root, roots[0]));
        for (n = 0; n < MAXN; n++) {
                /* An emit that fails at each of its calls in turn. */
                calls = 1;
                while ((n >> (calls - 1)) & 1)
                        calls++;
                for (k = 0; k < calls; k++) {
                        saved = f;
                        s.seen = 0;
                        s.fail_at = (int)k;
                        s.fail_rc = k % 2 == 0 ? 7 : -1;
                        rc = merkle_frontier_append(&f, leaves[n], store_emit,
                                                    &s);
                        CHECK(rc == s.fail_rc);
                        CHECK(frontier_same(&f, &saved));
                        CHECK(s.seen == k + 1);
                }
                s.fail_at = -1;
                s.seen = 0;
                CHECK(merkle_frontier_append(&f, leaves[n], store_emit, &s) ==
                      0);
                CHECK(emitted_as_expected(&s, n));
                CHECK(merkle_frontier_append(&quiet, leaves[n], NULL, NULL) ==
                      0);
                CHECK(frontier_same(&quiet, &f));
                CHECK(f.size == n + 1 &&
                      f.count == (unsigned)__builtin_popcountll(n + 1));

                ref_mth(leaves, n + 1, roots[n + 1]);
                merkle_frontier_root(&f, root);
                CHECK(hash_eq(root, roots[n + 1]));

                /* The codec: the exact length, and back. */
                enclen = merkle_frontier_encode(&f, enc);
                CHECK(enclen == 8 + f.count * MERKLE_HASH_LEN);
                merkle_frontier_init(&back);
                rc = merkle_frontier_decode(enc, enclen, &back, err,
                                            sizeof(err));
                CHECK_MSG(rc == 0, err);
                CHECK(frontier_eq(&back, &f));
                CHECK(merkle_frontier_decode(enc, enclen - 1, &back, NULL, 0) ==
                      -1);
                CHECK(merkle_frontier_decode(enc, enclen + 1, &back, NULL, 0) ==
                      -1);
                CHECK(merkle_frontier_decode(enc, enclen - 32, &back, NULL,
                                             0) == -1);
                CHECK(merkle_frontier_decode(enc, enclen + 32, &back, NULL,
                                             0) == -1);
                CHECK(frontier_eq(&back, &f));
        }
        CHECK(s.seen_wrong == 0);
        /* Exactly the complete nodes, each once: floor(N / 2^l) a level. */
        for (l = 0, nodes = 0; l <= MERKLE_MAX_LEVEL; l++) {
                CHECK(s.count[l] == (uint64_t)MAXN >> l);
                nodes += s.count[l];
        }
        CHECK(nodes == 2 * MAXN - (uint64_t)__builtin_popcountll(MAXN));

        for (n = 1; n <= MAXN; n++) {
                s.limit = n;
                rc = merkle_root(n, store_get, &s, root, err, sizeof(err));
                CHECK_MSG(rc == 0, err);
                CHECK(hash_eq(root, roots[n]));
                for (i = 0; i < n; i++)
                        check_inclusion(&s, i, n, roots[n]);
                for (m = 1; m <= n; m++)
                        check_consistency(&s, m, n, roots);
                /* From 0: an empty proof, whatever the roots. */
                CHECK(merkle_verify_consistency(0, n, roots[1], roots[n], NULL,
                                                0, NULL, 0) == 0);
                CHECK(merkle_verify_consistency(0, n, NULL, roots[n], NULL, 0,
                                                NULL, 0) == 0);
                CHECK(merkle_verify_consistency(0, n, roots[0], roots[n], roots,
                                                1, NULL, 0) == -1);
        }
        CHECK(merkle_verify_consistency(0, 0, roots[0], roots[0], NULL, 0, NULL,
                                        0) == 0);
        CHECK(merkle_verify_inclusion(0, 0, roots[0], NULL, 0, roots[0], NULL,
                                      0) == -1);
        /* Proofs never asked for a node outside the tree size. */
        CHECK(s.outside == 0);

        /* The generators' own refusals, and a failing store. */
        {
                merkle_hash proof[MERKLE_MAX_PROOF];
                size_t len = 0;

                s.limit = MAXN;
                CHECK(merkle_inclusion_proof(5, 5, store_get, &s, proof, &len,
                                             NULL, 0) == -1);
                CHECK(merkle_consistency_proof(0, 5, store_get, &s, proof, &len,
                                               NULL, 0) == -1);
                CHECK(merkle_consistency_proof(6, 5, store_get, &s, proof, &len,
                                               NULL, 0) == -1);
                CHECK(merkle_root(MERKLE_MAX_SIZE + 1, store_get, &s, root,
                                  NULL, 0) == -1);
                s.fail = 1;
                err[0] = '\0';
                CHECK(merkle_root(5, store_get, &s, root, err, sizeof(err)) ==
                      -1);
                CHECK_STR_EQ(err, "store: down");
                CHECK(merkle_inclusion_proof(1, 5, store_get, &s, proof, &len,
                                             NULL, 0) == -1);
                CHECK(merkle_consistency_proof(3, 5, store_get, &s, proof, &len,
                                               NULL, 0) == -1);
                s.fail = 0;
        }
        store_fini(&s);
}

/* ---- The frontier's codec and its limits. */

static void test_frontier_limits(void)
{
        struct merkle_frontier f, g;
        unsigned char enc[MERKLE_FRONTIER_MAX + 1];
        merkle_hash h;
        char err[160] = "";
        size_t len;
        unsigned i;

        memset(h, 0x5a, sizeof(h));
        /* Empty: 8 bytes of zero size, nothing else. */
        merkle_frontier_init(&f);
        len = merkle_frontier_encode(&f, enc);
        CHECK_MEM_EQ(enc, len, "\0\0\0\0\0\0\0\0", 8);
        CHECK(merkle_frontier_decode(enc, 8, &g, err, sizeof(err)) == 0);
        CHECK(g.size == 0 && g.count == 0);
        CHECK(merkle_frontier_decode(enc, 7, &g, err, sizeof(err)) == -1);
        CHECK(merkle_frontier_decode(enc, 0, &g, err, sizeof(err)) == -1);
        CHECK(merkle_frontier_decode(enc, 40, &g, err, sizeof(err)) == -1);

        /* Full: 2^63 - 1 leaves, 63 hashes; one more leaf is refused. */
        f.size = MERKLE_MAX_SIZE;
        f.count = MERKLE_MAX_LEVEL;
        for (i = 0; i < f.count; i++)
                memset(f.hash[i], (int)i, MERKLE_HASH_LEN);
        len = merkle_frontier_encode(&f, enc);
        CHECK(len == 8 + 63 * MERKLE_HASH_LEN && len <= MERKLE_FRONTIER_MAX);
        CHECK_MEM_EQ(enc, 8, "\x7f\xff\xff\xff\xff\xff\xff\xff", 8);
        CHECK(merkle_frontier_decode(enc, len, &g, err, sizeof(err)) == 0);
        CHECK(frontier_eq(&f, &g));
        g = f;
        CHECK(merkle_frontier_append(&f, h, NULL, NULL) == -1);
        CHECK(frontier_same(&f, &g));
        /* Sizes over 2^63 - 1, whatever the length. */
        enc[0] = 0x80;
        CHECK(merkle_frontier_decode(enc, len, &g, err, sizeof(err)) == -1);
        CHECK(merkle_frontier_decode(enc, 8 + 1 * MERKLE_HASH_LEN, &g, err,
                                     sizeof(err)) == -1);
        memset(enc, 0xff, 8);
        CHECK(merkle_frontier_decode(enc, 8 + 64 * MERKLE_HASH_LEN, &g, err,
                                     sizeof(err)) == -1);
        CHECK(frontier_same(&f, &g));

        /* Size 5 = 101b: two hashes. */
        memcpy(enc, "\0\0\0\0\0\0\0\x05", 8);
        CHECK(merkle_frontier_decode(enc, 8 + 2 * 32, &g, err, sizeof(err)) ==
              0);
        CHECK(g.size == 5 && g.count == 2);
        CHECK(merkle_frontier_decode(enc, 8 + 1 * 32, &g, err, sizeof(err)) ==
              -1);
        CHECK(strstr(err, "size 5") != NULL);
        CHECK(merkle_frontier_decode(enc, 8 + 3 * 32, &g, err, sizeof(err)) ==
              -1);

        /* An inconsistent frontier is not appended to. */
        merkle_frontier_init(&f);
        f.size = 3;
        f.count = 1;
        g = f;
        CHECK(merkle_frontier_append(&f, h, NULL, NULL) == -1);
        CHECK(frontier_same(&f, &g));
}

/* ---- Trees of up to 2^63 - 1 leaves. */

/*
 * Every leaf hash is X but that of leaf p, which is Y: a complete node
 * is u[level] unless it holds p, then s[level].  Any size, no storage.
 */
struct big {
        uint64_t p;
        uint64_t limit;
        int outside;
        merkle_hash u[MERKLE_MAX_LEVEL + 1];
        merkle_hash s[MERKLE_MAX_LEVEL + 1];
};

static void big_init(struct big *b, uint64_t p)
{
        unsigned l;

        b->p = p;
        b->outside = 0;
        merkle_leaf_hash("x", 1, b->u[0]);
        merkle_leaf_hash("y", 1, b->s[0]);
        for (l = 1; l <= MERKLE_MAX_LEVEL; l++) {
                merkle_node_hash(b->u[l - 1], b->u[l - 1], b->u[l]);
                if ((p >> (l - 1)) & 1)
                        merkle_node_hash(b->u[l - 1], b->s[l - 1], b->s[l]);
                else
                        merkle_node_hash(b->s[l - 1], b->u[l - 1], b->s[l]);
        }
}

static int big_get(void *ctx, unsigned level, uint64_t index, merkle_hash out,
                   char *err, size_t errlen)
{
        struct big *b = ctx;

        if (level > MERKLE_MAX_LEVEL || index >= (b->limit >> level)) {
                b->outside++;
                snprintf(err, errlen, "big: no node (%u, %" PRIu64 ")", level,
                         index);
                return -1;
        }
        memcpy(out, (b->p >> level) == index ? b->s[level] : b->u[level],
               MERKLE_HASH_LEN);
        return 0;
}

/* The root of the first n leaves through a frontier built from nodes. */
static void big_frontier_root(struct big *b, uint64_t n, merkle_hash out)
{
        struct merkle_frontier f;
        uint64_t start = 0;
        int l;

        merkle_frontier_init(&f);
        f.size = n;
        b->limit = n;
        for (l = MERKLE_MAX_LEVEL; l >= 0; l--) {
                if (((n >> l) & 1) == 0)
                        continue;
                REQUIRE(big_get(b, (unsigned)l, start >> l, f.hash[f.count],
                                NULL, 0) == 0);
                f.count++;
                start += UINT64_C(1) << l;
        }
        merkle_frontier_root(&f, out);
}

static void test_huge(void)
{
        static const uint64_t sizes[] = {MERKLE_MAX_SIZE,
                                         MERKLE_MAX_SIZE - 1,
                                         UINT64_C(1) << 62,
                                         (UINT64_C(1) << 62) + 1,
                                         (UINT64_C(1) << 62) - 1,
                                         UINT64_C(0x5555555555555555),
                                         UINT64_C(0x2aaaaaaaaaaaaaab),
                                         UINT64_C(1) << 32,
                                         (UINT64_C(1) << 32) + 3};
        static const uint64_t over[] = {MERKLE_MAX_SIZE + 1,
                                        MERKLE_MAX_SIZE + 2, UINT64_MAX - 1,
                                        UINT64_MAX};
        merkle_hash proof[MERKLE_MAX_PROOF + 1], root, froot, r1, x;
        struct big b;
        char err[200] = "";
        size_t si, pi, mi, len;
        uint64_t n, p, m;
        int rc;

        for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
                n = sizes[si];
                const uint64_t ps[] = {0, n - 1, n / 2, n / 3, n - 2};
                for (pi = 0; pi < sizeof(ps) / sizeof(ps[0]); pi++) {
                        p = ps[pi];
                        big_init(&b, p);
                        b.limit = n;
                        rc =
                            merkle_root(n, big_get, &b, root, err, sizeof(err));
                        CHECK_MSG(rc == 0, err);
                        big_frontier_root(&b, n, froot);
                        CHECK(hash_eq(root, froot));

                        b.limit = n;
                        rc = merkle_inclusion_proof(p, n, big_get, &b, proof,
                                                    &len, err, sizeof(err));
                        CHECK_MSG(rc == 0, err);
                        CHECK(len <= 63);
                        rc = merkle_verify_inclusion(p, n, b.s[0], proof, len,
                                                     root, err, sizeof(err));
                        CHECK_MSG(rc == 0, err);
                        /* X is not the leaf at p; Y is not at p - 1, p + 1. */
                        CHECK(merkle_verify_inclusion(p, n, b.u[0], proof, len,
                                                      root, NULL, 0) == -1);
                        if (p > 0)
                                CHECK(merkle_verify_inclusion(p - 1, n, b.s[0],
                                                              proof, len, root,
                                                              NULL, 0) == -1);
                        CHECK(merkle_verify_inclusion(p + 1, n, b.s[0], proof,
                                                      len, root, NULL,
                                                      0) == -1);
                        check_inclusion_lengths(p, n, b.s[0], proof, len, root);
                        if (si == 0 && pi == 0)
                                CHECK(flips_inclusion(p, n, b.s[0], proof, len,
                                                      root) == 0);

                        /* Consistency with a few smaller trees. */
                        const uint64_t ms[] = {1, p + 1, n - 1, n / 2, n};
                        for (mi = 0; mi < sizeof(ms) / sizeof(ms[0]); mi++) {
                                m = ms[mi];
                                b.limit = m;
                                REQUIRE(merkle_root(m, big_get, &b, r1, NULL,
                                                    0) == 0);
                                b.limit = n;
                                rc = merkle_consistency_proof(m, n, big_get, &b,
                                                              proof, &len, err,
                                                              sizeof(err));
                                CHECK_MSG(rc == 0, err);
                                CHECK(len <= 64);
                                rc = merkle_verify_consistency(m, n, r1, root,
                                                               proof, len, err,
                                                               sizeof(err));
                                CHECK_MSG(rc == 0, err);
                                if (m == n)
                                        continue;
                                CHECK(merkle_verify_consistency(m, n, root, r1,
                                                                proof, len,
                                                                NULL, 0) == -1);
                                check_consistency_lengths(m, n, r1, root, proof,
                                                          len);
                                if (si == 0 && pi == 0 && mi == 2)
                                        CHECK(flips_consistency(m, n, r1, root,
                                                                proof,
                                                                len) == 0);
                        }
                        CHECK(b.outside == 0);
                }
        }

        /* Over 2^63 - 1: refused by every function, read nothing. */
        memset(x, 0, sizeof(x));
        memset(proof, 0x33, sizeof(proof));
        for (si = 0; si < sizeof(over) / sizeof(over[0]); si++) {
                n = over[si];
                for (len = 62; len <= 64; len++) {
                        CHECK(merkle_verify_inclusion(n - 1, n, x, proof, len,
                                                      x, NULL, 0) == -1);
                        CHECK(merkle_verify_inclusion(0, n, x, proof, len, x,
                                                      NULL, 0) == -1);
                        CHECK(merkle_verify_consistency(n - 1, n, x, x, proof,
                                                        len, NULL, 0) == -1);
                        CHECK(merkle_verify_consistency(1, n, x, x, proof, len,
                                                        NULL, 0) == -1);
                }
                CHECK(merkle_verify_consistency(n, n, x, x, NULL, 0, NULL, 0) ==
                      -1);
                CHECK(merkle_verify_consistency(0, n, x, x, NULL, 0, NULL, 0) ==
                      -1);
                CHECK(merkle_inclusion_proof(0, n, big_get, &b, proof, &len,
                                             NULL, 0) == -1);
                CHECK(merkle_consistency_proof(1, n, big_get, &b, proof, &len,
                                               NULL, 0) == -1);
        }
        /* Garbage proofs at the largest size: refused, no crash. */
        for (len = 0; len <= MERKLE_MAX_PROOF; len++) {
                CHECK(merkle_verify_inclusion(MERKLE_MAX_SIZE - 1,
                                              MERKLE_MAX_SIZE, x, proof, len, x,
                                              NULL, 0) == -1);
                CHECK(merkle_verify_consistency(MERKLE_MAX_SIZE - 1,
                                                MERKLE_MAX_SIZE, x, x, proof,
                                                len, NULL, 0) == -1);
                CHECK(merkle_verify_consistency(UINT64_C(1) << 62,
                                                MERKLE_MAX_SIZE, x, x, proof,
                                                len, NULL, 0) == -1);
        }
        CHECK(merkle_verify_inclusion(MERKLE_MAX_SIZE, MERKLE_MAX_SIZE, x,
                                      proof, 63, x, err, sizeof(err)) == -1);
        CHECK(strstr(err, "out of range") != NULL);
}

/* ---- Threads: each has its own digest context, freed when it ends. */

#define THREADS       4
#define THREAD_LEAVES 2000

static void *thread_root(void *arg)
{
        struct merkle_frontier f;
        unsigned char b[4];
        merkle_hash h;
        uint32_t i;

        merkle_frontier_init(&f);
        for (i = 0; i < THREAD_LEAVES; i++) {
                memcpy(b, &i, sizeof(b));
                merkle_leaf_hash(b, sizeof(b), h);
                if (merkle_frontier_append(&f, h, NULL, NULL) != 0)
                        return NULL;
        }
        merkle_frontier_root(&f, arg);
        return arg;
}

static void test_threads(void)
{
        pthread_t tid[THREADS];
        merkle_hash roots[THREADS + 1];
        void *ret;
        int i;

        memset(roots, 0, sizeof(roots));
        REQUIRE(thread_root(roots[THREADS]) != NULL);
        for (i = 0; i < THREADS; i++)
                REQUIRE(pthread_create(&tid[i], NULL, thread_root, roots[i]) ==
                        0);
        for (i = 0; i < THREADS; i++) {
                REQUIRE(pthread_join(tid[i], &ret) == 0);
                CHECK(ret == roots[i]);
                CHECK(hash_eq(roots[i], roots[THREADS]));
        }
}

int main(void)
{
        test_hashes();
        test_vectors();
        test_against_reference();
        test_frontier_limits();
        test_huge();
        test_threads();
        printf("test_merkle: %d single-bit flips tried\n", flip_count);
        return unit_done("test_merkle");
}

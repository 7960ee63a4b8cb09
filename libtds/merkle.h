/*
 * merkle: the RFC 9162 Merkle tree of the evidence log.
 *
 * Hashes (RFC 9162 section 2.1.1):
 *   leaf hash  = SHA-256(0x00 || leaf bytes)
 *   node hash  = SHA-256(0x01 || left || right)
 *   empty tree = SHA-256("")
 *
 * Storage model.  A log of `size` leaves is kept as the hashes of its
 * complete, aligned subtrees: node (level, index) is the root of leaves
 * [index << level, (index + 1) << level).  Level 0 nodes are the leaf
 * hashes.  Appending leaf n completes node (0, n) and, for every trailing
 * one bit of n, the node one level up; merkle_frontier_append() reports
 * each completed node so that the caller can store it, and keeps the
 * frontier (the roots of the complete subtrees the size decomposes into,
 * largest first) from which the root of the current tree follows.
 *
 * Proofs are computed from any store of complete nodes through a
 * callback; proof verification needs nothing but the proof.
 */
#ifndef TDS_MERKLE_H
#define TDS_MERKLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * MERKLE_MAX_LEVEL: a tree of at most 2^63 - 1 leaves.  MERKLE_MAX_PROOF:
 * room for the hashes of any inclusion or consistency proof (no proof of
 * such a tree needs more than 64).
 */
#define MERKLE_HASH_LEN  32
#define MERKLE_MAX_LEVEL 63
#define MERKLE_MAX_PROOF 128

/* The largest tree size: sizes above it are refused everywhere. */
#define MERKLE_MAX_SIZE ((UINT64_C(1) << MERKLE_MAX_LEVEL) - 1)

typedef unsigned char merkle_hash[MERKLE_HASH_LEN];

/*
 * The three hashes.  `out` may be the same buffer as `left` or `right`.
 * They cannot fail short of OpenSSL failing to hash (out of memory):
 * they abort() then rather than leave in `out` something not the hash.
 */
void merkle_leaf_hash(const void *leaf, size_t len, merkle_hash out);
void merkle_node_hash(const merkle_hash left, const merkle_hash right,
                      merkle_hash out);
void merkle_empty_root(merkle_hash out);

/*
 * The frontier of a tree of `size` leaves: for each one bit of `size`,
 * from the highest to the lowest, the hash of that complete subtree.
 * `count` = popcount(size).
 */
struct merkle_frontier {
        uint64_t size;
        unsigned count;
        merkle_hash hash[MERKLE_MAX_LEVEL + 1];
};

void merkle_frontier_init(struct merkle_frontier *f);

/* Called for every node that an append completes (level 0 first). */
typedef int (*merkle_node_fn)(void *ctx, unsigned level, uint64_t index,
                              const merkle_hash hash);

/*
 * Append one leaf (its leaf hash).  `emit` (may be NULL) sees node
 * (0, size) and every node the append completes, bottom up; a non-zero
 * return from it stops the append, leaves `f` unchanged and is returned
 * (the nodes emitted before it are emitted again by the next append of
 * the same leaf: storing them must be idempotent).  -1 if the tree is
 * full (MERKLE_MAX_SIZE leaves) or `f` is inconsistent (count is not
 * popcount(size)).
 */
int merkle_frontier_append(struct merkle_frontier *f,
                           const merkle_hash leaf_hash, merkle_node_fn emit,
                           void *ctx);

/* The root of the tree the frontier describes (empty root when size 0). */
void merkle_frontier_root(const struct merkle_frontier *f, merkle_hash out);

/*
 * A frontier as bytes, to keep it in a database row: 8 bytes of size
 * (big endian) then popcount(size) hashes.  merkle_frontier_encode writes
 * at most MERKLE_FRONTIER_MAX bytes and returns the length;
 * merkle_frontier_decode checks the length against the size (-1 with a
 * message when they disagree).
 */
#define MERKLE_FRONTIER_MAX (8 + (MERKLE_MAX_LEVEL + 1) * MERKLE_HASH_LEN)
size_t merkle_frontier_encode(const struct merkle_frontier *f,
                              unsigned char *out);
int merkle_frontier_decode(const unsigned char *in, size_t len,
                           struct merkle_frontier *f, char *err, size_t errlen);

/*
 * Node source for proofs: the hash of the complete node (level, index),
 * 0 when found, -1 with a message otherwise.  Only nodes whose leaves are
 * all below the tree size asked for are requested.
 */
typedef int (*merkle_get_node_fn)(void *ctx, unsigned level, uint64_t index,
                                  merkle_hash out, char *err, size_t errlen);

/* MTH(D[0:size]) from stored nodes. */
int merkle_root(uint64_t size, merkle_get_node_fn get, void *ctx,
                merkle_hash out, char *err, size_t errlen);

/*
 * RFC 9162 2.1.3.1: the inclusion proof of leaf `index` in the tree of
 * `size` leaves (index < size), into `proof` (MERKLE_MAX_PROOF entries),
 * its length in `*len`.
 */
int merkle_inclusion_proof(uint64_t index, uint64_t size,
                           merkle_get_node_fn get, void *ctx,
                           merkle_hash *proof, size_t *len, char *err,
                           size_t errlen);

/*
 * RFC 9162 2.1.4.1: the consistency proof between the trees of `first`
 * and `second` leaves (0 < first <= second).
 */
int merkle_consistency_proof(uint64_t first, uint64_t second,
                             merkle_get_node_fn get, void *ctx,
                             merkle_hash *proof, size_t *len, char *err,
                             size_t errlen);

/*
 * RFC 9162 2.1.3.2: 0 when `proof` shows the leaf hash at `index` in the
 * tree of `size` leaves whose root is `root`; -1 with the reason (index
 * out of range, size over MERKLE_MAX_SIZE, wrong proof length, root
 * mismatch) otherwise.  Never reads past proof[len - 1].
 */
int merkle_verify_inclusion(uint64_t index, uint64_t size,
                            const merkle_hash leaf_hash,
                            const merkle_hash *proof, size_t len,
                            const merkle_hash root, char *err, size_t errlen);

/*
 * RFC 9162 2.1.4.2: 0 when `proof` shows that the tree of `first` leaves
 * with root `first_root` is a prefix of the tree of `second` leaves with
 * root `second_root`.  first == second needs an empty proof and equal
 * roots; first == 0 is always consistent with an empty proof (and
 * `first_root` is then not read).  Sizes over MERKLE_MAX_SIZE are refused.
 */
int merkle_verify_consistency(uint64_t first, uint64_t second,
                              const merkle_hash first_root,
                              const merkle_hash second_root,
                              const merkle_hash *proof, size_t len, char *err,
                              size_t errlen);

#endif

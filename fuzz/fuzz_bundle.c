/*
 * fuzz_bundle: bundles and tree head files are read from disk and handed
 * to judges and auditors; bundle_from_json(), bundle_head_from_json() and
 * their verification on hostile JSON.
 *
 * Invariants (abort() when broken): an accepted bundle goes through
 * bundle_to_json() and comes back equal (json_equal) to what was read; an
 * accepted head file goes through bundle_head_to_json() and comes back
 * equal; bundle_verify() and bundle_head_verify() run to completion (they
 * mostly fail: the fuzzer rarely forges ECDSA or a token) and fail on
 * whatever the reader refused.
 */
#include "bundle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct bundle b; /* 4 KiB of proof: not on the stack */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct bundle_verdict v;
        struct bundle_head h;
        json_error_t jerr;
        json_t *root, *out = NULL;
        char err[1024];
        int read_ok;

        /* As bundle_json_load() reads a file. */
        root =
            json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL)
                return 0;
        if (json_object_get(root, "tds_tree_head") != NULL) {
                read_ok =
                    bundle_head_from_json(root, &h, err, sizeof(err)) == 0;
                if (read_ok && ((out = bundle_head_to_json(
                                     &h, 1, err, sizeof(err))) == NULL ||
                                !json_equal(root, out)))
                        abort();
                if (read_ok)
                        (void)bundle_head_verify(&h, NULL, &v, err,
                                                 sizeof(err));
                goto done;
        }
        read_ok = bundle_from_json(root, &b, err, sizeof(err)) == 0;
        if (read_ok &&
            ((out = bundle_to_json(&b.ev, b.leaf_index, b.proof, b.proof_len,
                                   &b.head, err, sizeof(err))) == NULL ||
             !json_equal(root, out)))
                abort();
        if (bundle_verify(root, NULL, NULL, &v, err, sizeof(err)) == 0 &&
            !read_ok)
                abort();
done:
        json_decref(out);
        json_decref(root);
        return 0;
}

/*
 * fuzz_evidence: evidence files are read from disk and handed to judges;
 * evidence_from_json() and evidence_verify() on hostile JSON.
 *
 * Invariants (abort() when broken): an accepted object goes through
 * evidence_to_json() and comes back equal (json_equal) to what was read,
 * and reading that again gives the same fields; evidence_verify() runs to
 * completion (it mostly fails: the fuzzer rarely forges ECDSA).
 */
#include "evidence.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_same(const char *a, const char *b)
{
        if (a == NULL || b == NULL || strcmp(a, b) != 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct evidence ev, ev2;
        json_error_t jerr;
        json_t *root, *out = NULL;
        char err[512];

        /* As evidence_load() reads a file. */
        root =
            json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
        if (root == NULL)
                return 0;
        if (evidence_from_json(root, &ev, err, sizeof(err)) == -1)
                goto done;
        if ((out = evidence_to_json(&ev, err, sizeof(err))) == NULL ||
            !json_equal(root, out))
                abort();
        if (evidence_from_json(out, &ev2, err, sizeof(err)) == -1 ||
            ev2.kind != ev.kind || ev2.size != ev.size)
                abort();
        fuzz_same(ev.file_id, ev2.file_id);
        fuzz_same(ev.name, ev2.name);
        fuzz_same(ev.uploader, ev2.uploader);
        fuzz_same(ev.downloader, ev2.downloader);
        fuzz_same(ev.sha256, ev2.sha256);
        fuzz_same(ev.upload_nonce, ev2.upload_nonce);
        fuzz_same(ev.download_nonce, ev2.download_nonce);
        fuzz_same(ev.nro, ev2.nro);
        fuzz_same(ev.nro_sha256, ev2.nro_sha256);
        fuzz_same(ev.nrr, ev2.nrr);
        fuzz_same(ev.nrr_sha256, ev2.nrr_sha256);
        fuzz_same(ev.uploader_public_key, ev2.uploader_public_key);
        fuzz_same(ev.downloader_public_key, ev2.downloader_public_key);
        fuzz_same(ev.ttp_public_key, ev2.ttp_public_key);
        fuzz_same(ev.time, ev2.time);
        fuzz_same(ev.ttp_sig, ev2.ttp_sig);
        (void)evidence_verify(&ev, NULL, NULL, err, sizeof(err));
done:
        json_decref(out);
        json_decref(root);
        return 0;
}

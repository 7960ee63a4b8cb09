/*
 * fuzz_tbs: the TBS builders of libtds/tbs.h on hostile field values.
 *
 * The first byte picks the kind; the rest is split at NUL bytes into the
 * field values, in the contract's order (a missing field is NULL).
 * Invariants (abort() when broken): on success the output is exactly one
 * "tds/1 <kind>" line and one "name=value" line per field, each ending in
 * "\n", with the values as given; on failure some value held '\n' or '\r'.
 */
#include "tbs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_TBS_MAX 8 /* fields of the largest kind, evidence */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_request_names[] = {
    "type", "msg_id", "user", "file_id", "public_key_sha256"};
static const char *const fuzz_nro_names[] = {"file_id", "uploader", "sha256",
                                             "size", "nonce"};
static const char *const fuzz_nrr_names[] = {"file_id", "downloader", "sha256",
                                             "nro_sha256", "nonce"};
static const char *const fuzz_evidence_names[] = {
    "event",  "file_id",    "uploader",   "downloader",
    "sha256", "nro_sha256", "nrr_sha256", "time"};

/* Check `out` against the kind, names and values it was built from. */
static void fuzz_check(const char *kind, const char *const *names,
                       const char *const *v, size_t n, const char *out,
                       size_t outlen)
{
        const char *p = out, *end = out + outlen, *nl;
        size_t i, klen = strlen(kind), len;

        if (strlen(out) != outlen || strncmp(p, "tds/1 ", 6) != 0)
                abort();
        p += 6;
        if ((size_t)(end - p) < klen + 1 || memcmp(p, kind, klen) != 0 ||
            p[klen] != '\n')
                abort();
        p += klen + 1;
        for (i = 0; i < n; i++) {
                len = strlen(names[i]);
                if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
                        abort();
                if ((size_t)(nl - p) < len + 1 ||
                    memcmp(p, names[i], len) != 0 || p[len] != '=')
                        abort();
                p += len + 1;
                /* The value is the given one and holds no line break. */
                if (memchr(p, '\r', (size_t)(nl - p)) != NULL ||
                    (size_t)(nl - p) != strlen(v[i] != NULL ? v[i] : "") ||
                    memcmp(p, v[i] != NULL ? v[i] : "", (size_t)(nl - p)) != 0)
                        abort();
                p = nl + 1;
        }
        if (p != end)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *v[FUZZ_TBS_MAX] = {NULL};
        const char *const *names;
        const char *kind;
        char *buf = NULL, *out = NULL, *p, *end;
        size_t n, i, outlen = 0;
        int rc, bad = 0;

        if (size == 0)
                return 0;
        /* A NUL-terminated copy: fields end at NUL, the last at the end. */
        if ((buf = malloc(size)) == NULL)
                abort();
        memcpy(buf, data + 1, size - 1);
        buf[size - 1] = '\0';
        p = buf;
        end = buf + size - 1;
        for (i = 0; i < FUZZ_TBS_MAX && p <= end; i++) {
                v[i] = p;
                p += strlen(p) + 1;
        }
        switch (data[0] % 4) {
        case 0:
                kind = "request";
                names = fuzz_request_names;
                n = 5;
                rc = tbs_request(
                    &(struct tbs_request){v[0], v[1], v[2], v[3], v[4]}, &out,
                    &outlen, NULL, 0);
                break;
        case 1:
                kind = "nro";
                names = fuzz_nro_names;
                n = 5;
                rc = tbs_nro(&(struct tbs_nro){v[0], v[1], v[2], v[3], v[4]},
                             &out, &outlen, NULL, 0);
                break;
        case 2:
                kind = "nrr";
                names = fuzz_nrr_names;
                n = 5;
                rc = tbs_nrr(&(struct tbs_nrr){v[0], v[1], v[2], v[3], v[4]},
                             &out, &outlen, NULL, 0);
                break;
        default:
                kind = "evidence";
                names = fuzz_evidence_names;
                n = 8;
                rc =
                    tbs_evidence(&(struct tbs_evidence){v[0], v[1], v[2], v[3],
                                                        v[4], v[5], v[6], v[7]},
                                 &out, &outlen, NULL, 0);
                break;
        }
        for (i = 0; i < n; i++)
                if (v[i] != NULL && strpbrk(v[i], "\r\n") != NULL)
                        bad = 1;
        if (rc == 0) {
                if (bad || out == NULL)
                        abort();
                fuzz_check(kind, names, v, n, out, outlen);
        } else if (!bad || out != NULL) {
                abort();
        }
        free(out);
        free(buf);
        return 0;
}

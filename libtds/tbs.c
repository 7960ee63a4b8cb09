/*
 * tbs: one generic builder; the four public functions only fix the kind
 * and the field order, which is the contract.
 */
#include "tbs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

/* The longest field list (leaf) has 15 fields. */
#define TBS_MAX_FIELDS 15
#define TBS_NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* Append `len` bytes of `s` at `*pos` of `buf` (sized beforehand). */
static void tbs_put(char *buf, size_t *pos, const char *s, size_t len)
{
        memcpy(buf + *pos, s, len);
        *pos += len;
}

static int tbs_build(const char *kind, const char *const *names,
                     const char *const *values, size_t n, char **out,
                     size_t *outlen, char *err, size_t errlen)
{
        static const char magic[] = "tds/1 ";
        size_t vlen[TBS_MAX_FIELDS];
        size_t i, total, pos = 0;
        char *buf = NULL;
        int ret = -1;

        *out = NULL;
        *outlen = 0;
        if (n > TBS_MAX_FIELDS) {
                errbuf_set(err, errlen, "tbs %s: too many fields", kind);
                goto done;
        }
        /* First line: "tds/1 " kind "\n". */
        total = strlen(magic) + strlen(kind) + 1;
        for (i = 0; i < n; i++) {
                const char *v = values[i] != NULL ? values[i] : "";

                vlen[i] = strlen(v);
                if (strpbrk(v, "\r\n") != NULL) {
                        errbuf_set(err, errlen,
                                   "tbs %s: field %s contains a line break",
                                   kind, names[i]);
                        goto done;
                }
                /* name "=" value "\n"; lengths of C strings cannot wrap. */
                total += strlen(names[i]) + 1 + vlen[i] + 1;
        }
        if ((buf = malloc(total + 1)) == NULL) {
                errbuf_set(err, errlen, "tbs %s: out of memory", kind);
                goto done;
        }
        tbs_put(buf, &pos, magic, strlen(magic));
        tbs_put(buf, &pos, kind, strlen(kind));
        tbs_put(buf, &pos, "\n", 1);
        for (i = 0; i < n; i++) {
                tbs_put(buf, &pos, names[i], strlen(names[i]));
                tbs_put(buf, &pos, "=", 1);
                if (values[i] != NULL)
                        tbs_put(buf, &pos, values[i], vlen[i]);
                tbs_put(buf, &pos, "\n", 1);
        }
        buf[pos] = '\0';
        *out = buf;
        *outlen = pos;
        ret = 0;
done:
        return ret;
}

int tbs_request(const struct tbs_request *f, char **out, size_t *outlen,
                char *err, size_t errlen)
{
        static const char *const names[] = {"type", "msg_id", "user", "file_id",
                                            "public_key_sha256"};
        const char *const values[] = {f->type, f->msg_id, f->user, f->file_id,
                                      f->public_key_sha256};

        _Static_assert(TBS_NFIELDS(names) == TBS_NFIELDS(values),
                       "one value per field");
        return tbs_build("request", names, values, TBS_NFIELDS(names), out,
                         outlen, err, errlen);
}

int tbs_nro(const struct tbs_nro *f, char **out, size_t *outlen, char *err,
            size_t errlen)
{
        static const char *const names[] = {"file_id", "uploader", "sha256",
                                            "size", "nonce"};
        const char *const values[] = {f->file_id, f->uploader, f->sha256,
                                      f->size, f->nonce};

        _Static_assert(TBS_NFIELDS(names) == TBS_NFIELDS(values),
                       "one value per field");
        return tbs_build("nro", names, values, TBS_NFIELDS(names), out, outlen,
                         err, errlen);
}

int tbs_nrr(const struct tbs_nrr *f, char **out, size_t *outlen, char *err,
            size_t errlen)
{
        static const char *const names[] = {"file_id", "downloader", "sha256",
                                            "nro_sha256", "nonce"};
        const char *const values[] = {f->file_id, f->downloader, f->sha256,
                                      f->nro_sha256, f->nonce};

        _Static_assert(TBS_NFIELDS(names) == TBS_NFIELDS(values),
                       "one value per field");
        return tbs_build("nrr", names, values, TBS_NFIELDS(names), out, outlen,
                         err, errlen);
}

int tbs_evidence(const struct tbs_evidence *f, char **out, size_t *outlen,
                 char *err, size_t errlen)
{
        static const char *const names[] = {
            "event",  "file_id",    "uploader",   "downloader",
            "sha256", "nro_sha256", "nrr_sha256", "time"};
        const char *const values[] = {f->event,      f->file_id, f->uploader,
                                      f->downloader, f->sha256,  f->nro_sha256,
                                      f->nrr_sha256, f->time};

        _Static_assert(TBS_NFIELDS(names) == TBS_NFIELDS(values),
                       "one value per field");
        return tbs_build("evidence", names, values, TBS_NFIELDS(names), out,
                         outlen, err, errlen);
}

int tbs_leaf(const struct tbs_leaf *f, char **out, size_t *outlen, char *err,
             size_t errlen)
{
        static const char *const names[] = {
            "event",           "file_id",    "uploader",
            "uploader_key_id", "downloader", "downloader_key_id",
            "sha256",          "size",       "upload_nonce",
            "download_nonce",  "nro_sha256", "nrr_sha256",
            "abort",           "time",       "ttp_sig_sha256"};
        const char *const values[] = {
            f->event,           f->file_id,    f->uploader,
            f->uploader_key_id, f->downloader, f->downloader_key_id,
            f->sha256,          f->size,       f->upload_nonce,
            f->download_nonce,  f->nro_sha256, f->nrr_sha256,
            f->abort,           f->time,       f->ttp_sig_sha256};

        _Static_assert(TBS_NFIELDS(names) == TBS_NFIELDS(values),
                       "one value per field");
        return tbs_build("leaf", names, values, TBS_NFIELDS(names), out, outlen,
                         err, errlen);
}

int tbs_tree_head(const struct tbs_tree_head *f, char **out, size_t *outlen,
                  char *err, size_t errlen)
{
        static const char *const names[] = {"log_id", "tree_size", "root_hash",
                                            "time"};
        const char *const values[] = {f->log_id, f->tree_size, f->root_hash,
                                      f->time};

        _Static_assert(TBS_NFIELDS(names) == TBS_NFIELDS(values),
                       "one value per field");
        return tbs_build("tree_head", names, values, TBS_NFIELDS(names), out,
                         outlen, err, errlen);
}

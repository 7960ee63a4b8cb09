/*
 * xfer: hashed, atomic, streamed copies.
 */
#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli.h"
#include "hex.h"

#define XFER_BUF (256 * 1024)

int xfer_out_open(struct xfer_out *o, const char *path, char *err,
                  size_t errlen)
{
        const char *slash = strrchr(path, '/');
        unsigned char rnd[6];
        char hex[13];
        int n;

        memset(o, 0, sizeof(*o));
        o->fd = -1;
        if (strlen(path) >= sizeof(o->path)) {
                snprintf(err, errlen, "path %s too long", path);
                return -1;
        }
        memcpy(o->path, path, strlen(path) + 1);
        if (crypto_random(rnd, sizeof(rnd), err, errlen) == -1)
                return -1;
        hex_encode(rnd, sizeof(rnd), hex, sizeof(hex));
        if (slash == NULL)
                n = snprintf(o->tmp, sizeof(o->tmp), ".%s.tds-%s", path, hex);
        else
                n = snprintf(o->tmp, sizeof(o->tmp), "%.*s/.%s.tds-%s",
                             (int)(slash - path), path, slash + 1, hex);
        if (n < 0 || (size_t)n >= sizeof(o->tmp)) {
                snprintf(err, errlen, "path %s too long", path);
                return -1;
        }
        o->fd = open(
            o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (o->fd == -1) {
                snprintf(err, errlen, "cannot create %s: %s", o->tmp,
                         strerror(errno));
                o->tmp[0] = '\0';
                return -1;
        }
        return 0;
}

void xfer_out_abort(struct xfer_out *o)
{
        if (o->fd != -1)
                close(o->fd);
        o->fd = -1;
        if (o->tmp[0] != '\0')
                unlink(o->tmp);
        o->tmp[0] = '\0';
}

int xfer_out_commit(struct xfer_out *o, int replace, char *err, size_t errlen)
{
        int rc;

        if (fsync(o->fd) == -1) {
                snprintf(err, errlen, "fsync %s: %s", o->tmp, strerror(errno));
                goto fail;
        }
        rc = close(o->fd);
        o->fd = -1;
        if (rc == -1) {
                snprintf(err, errlen, "close %s: %s", o->tmp, strerror(errno));
                goto fail;
        }
        if (replace)
                rc = rename(o->tmp, o->path);
        else if ((rc = link(o->tmp, o->path)) == 0)
                /* link() refuses to replace: no race with another
                 * writer of the same name. */
                unlink(o->tmp);
        if (rc == -1) {
                snprintf(err, errlen, "%s %s: %s",
                         replace ? "cannot rename into" : "cannot create",
                         o->path, strerror(errno));
                goto fail;
        }
        o->tmp[0] = '\0';
        return home_fsync_dir(o->path, err, errlen);
fail:
        xfer_out_abort(o);
        return -1;
}

int xfer_copy(int src_fd, const char *src_name, int dst_fd,
              const char *dst_name, const char *what, uint64_t expect,
              unsigned char sha256[CRYPTO_SHA256_LEN], uint64_t *size,
              char *err, size_t errlen)
{
        struct cli_progress progress;
        EVP_MD_CTX *md = NULL;
        unsigned char *buf = NULL;
        uint64_t total = 0;
        unsigned int mdlen = 0;
        int ret = -1;

        cli_progress_start(&progress, what, expect);
        if ((buf = malloc(XFER_BUF)) == NULL ||
            (md = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        for (;;) {
                ssize_t r = read(src_fd, buf, XFER_BUF), off = 0;

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        snprintf(err, errlen, "read %s: %s", src_name,
                                 strerror(errno));
                        goto done;
                }
                if (r == 0)
                        break;
                while (off < r) {
                        ssize_t w = write(dst_fd, buf + off, (size_t)(r - off));

                        if (w < 0 && errno == EINTR)
                                continue;
                        if (w < 0) {
                                snprintf(err, errlen, "write %s: %s", dst_name,
                                         strerror(errno));
                                goto done;
                        }
                        off += w;
                }
                if (EVP_DigestUpdate(md, buf, (size_t)r) != 1) {
                        snprintf(err, errlen, "SHA-256 failed");
                        goto done;
                }
                total += (uint64_t)r;
                cli_progress_update(&progress, total);
        }
        if (EVP_DigestFinal_ex(md, sha256, &mdlen) != 1 ||
            mdlen != CRYPTO_SHA256_LEN) {
                snprintf(err, errlen, "SHA-256 failed");
                goto done;
        }
        *size = total;
        ret = 0;
done:
        cli_progress_end(&progress);
        EVP_MD_CTX_free(md);
        free(buf);
        return ret;
}

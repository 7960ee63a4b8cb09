/*
 * atomicfile: temporary file, fsync, rename, fsync of the directory.
 */
#include "atomicfile.h"

#include "crypto.h"
#include "errbuf.h"
#include "hex.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Random bytes in a temporary name: 64 bits, as hex. */
#define ATOMICFILE_RND 8

/* Write all of `buf`, resuming after signals and short writes. */
static int atomicfile_write_all(int fd, const char *buf, size_t len)
{
        ssize_t n;

        while (len > 0) {
                n = write(fd, buf, len);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n == -1)
                        return -1;
                if (n == 0) {
                        /* Not for a regular file; do not spin on it. */
                        errno = EIO;
                        return -1;
                }
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* fsync the directory holding `path`; -1 with errno. */
static int atomicfile_fsync_parent(const char *path)
{
        const char *slash = strrchr(path, '/');
        char *dir;
        int fd = -1, ret = -1, saved_errno;

        if (slash == NULL)
                dir = strdup(".");
        else if (slash == path)
                dir = strdup("/");
        else
                dir = strndup(path, (size_t)(slash - path));
        /* The caller reports errno: keep the one of the failed call. */
        if (dir != NULL) {
                fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                saved_errno = errno;
                free(dir);
                errno = saved_errno;
        }
        if (fd != -1) {
                ret = fsync(fd);
                saved_errno = errno;
                close(fd);
                errno = saved_errno;
        }
        return ret;
}

int atomicfile_sync_dir(const char *path, char *err, size_t errlen)
{
        if (atomicfile_fsync_parent(path) == -1) {
                errbuf_set(err, errlen, "%s: syncing its directory: %s", path,
                           strerror(errno));
                return -1;
        }
        return 0;
}

int atomicfile_write(const char *path, const void *buf, size_t len, mode_t mode,
                     int flags, char *err, size_t errlen)
{
        unsigned char rnd[ATOMICFILE_RND];
        char suffix[2 * ATOMICFILE_RND + 1];
        char *tmp = NULL;
        size_t tmplen;
        int fd = -1, created = 0, sync = !(flags & ATOMICFILE_NOSYNC);
        int ret = -1, saved_errno;

        if (crypto_random(rnd, sizeof(rnd), err, errlen) == -1)
                goto done;
        hex_encode(rnd, sizeof(rnd), suffix, sizeof(suffix));
        tmplen = strlen(path) + sizeof(".tmp.") + strlen(suffix);
        if ((tmp = malloc(tmplen)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        snprintf(tmp, tmplen, "%s.tmp.%s", path, suffix);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                  mode);
        if (fd == -1) {
                errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        created = 1;
        /* open() applied the umask, which may only have removed bits. */
        if ((!(flags & ATOMICFILE_UMASK) && fchmod(fd, mode) == -1) ||
            atomicfile_write_all(fd, buf, len) == -1 ||
            (sync && fsync(fd) == -1)) {
                errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        if (close(fd) == -1) {
                fd = -1;
                errbuf_set(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        fd = -1;
        if (rename(tmp, path) == -1) {
                errbuf_set(err, errlen, "rename %s to %s: %s", tmp, path,
                           strerror(errno));
                goto done;
        }
        created = 0;
        if (sync && atomicfile_fsync_parent(path) == -1) {
                errbuf_set(err, errlen,
                           "%s: written, but syncing its directory: %s", path,
                           strerror(errno));
                goto done;
        }
        ret = 0;
done:
        saved_errno = errno;
        if (fd != -1)
                close(fd);
        if (created)
                unlink(tmp);
        free(tmp);
        errno = saved_errno;
        return ret;
}

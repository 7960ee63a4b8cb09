/*
 * home: locate and create the client's home directory.
 */
#include "home.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "atomicfile.h"

int home_resolve(const char *flag, char *out, size_t outlen, char *err,
                 size_t errlen)
{
        const char *env = getenv("TDS_HOME");
        const char *home = getenv("HOME");
        int n;

        if (flag != NULL && flag[0] != '\0')
                n = snprintf(out, outlen, "%s", flag);
        else if (env != NULL && env[0] != '\0')
                n = snprintf(out, outlen, "%s", env);
        else if (home != NULL && home[0] != '\0')
                n = snprintf(out, outlen, "%s/.tds", home);
        else {
                snprintf(err, errlen,
                         "no home directory: set TDS_HOME or use --home");
                return -1;
        }
        if (n < 0 || (size_t)n >= outlen) {
                snprintf(err, errlen, "home directory path too long");
                return -1;
        }
        return 0;
}

int home_ensure(const char *home, char *err, size_t errlen)
{
        struct stat st;

        if (mkdir(home, 0700) == -1 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create %s: %s", home,
                         strerror(errno));
                return -1;
        }
        if (stat(home, &st) == -1 || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "%s is not a directory", home);
                return -1;
        }
        /* An existing directory made ours: the key will live in it. */
        if ((st.st_mode & 077) != 0 && chmod(home, 0700) == -1) {
                snprintf(err, errlen, "chmod 0700 %s: %s", home,
                         strerror(errno));
                return -1;
        }
        return 0;
}

int home_check(const char *home, char *err, size_t errlen)
{
        struct stat st;

        if (stat(home, &st) == -1) {
                snprintf(err, errlen, "%s: %s", home, strerror(errno));
                return -1;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                snprintf(err, errlen,
                         "%s: mode %04o lets group or others replace your key "
                         "and records; chmod 700 it",
                         home, (unsigned)(st.st_mode & 07777));
                return -1;
        }
        return 0;
}

int home_subdir(const char *home, const char *name, char *out, size_t outlen,
                char *err, size_t errlen)
{
        struct stat st;

        if (home_path(home, name, out, outlen, err, errlen) == -1)
                return -1;
        if (mkdir(out, 0700) == -1 && errno != EEXIST) {
                snprintf(err, errlen, "cannot create %s: %s", out,
                         strerror(errno));
                return -1;
        }
        if (lstat(out, &st) == -1 || !S_ISDIR(st.st_mode)) {
                snprintf(err, errlen, "%s is not a directory", out);
                return -1;
        }
        return 0;
}

int home_path(const char *home, const char *name, char *out, size_t outlen,
              char *err, size_t errlen)
{
        int n = snprintf(out, outlen, "%s/%s", home, name);

        if (n < 0 || (size_t)n >= outlen) {
                snprintf(err, errlen, "path %s/%s too long", home, name);
                return -1;
        }
        return 0;
}

char *home_read_passphrase(const char *path, char *err, size_t errlen)
{
        char buf[1024];
        char *ret = NULL;
        struct stat st;
        ssize_t n;
        int fd;

        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return NULL;
        }
        if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "%s: not a regular file", path);
                goto done;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                snprintf(err, errlen,
                         "%s: mode %04o lets others read the passphrase; "
                         "chmod 600 it",
                         path, (unsigned)(st.st_mode & 07777));
                goto done;
        }
        if ((n = read(fd, buf, sizeof(buf) - 1)) < 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0') {
                snprintf(err, errlen, "%s: empty passphrase", path);
                goto done;
        }
        if ((ret = strdup(buf)) == NULL)
                snprintf(err, errlen, "out of memory");
done:
        OPENSSL_cleanse(buf, sizeof(buf));
        close(fd);
        return ret;
}

int home_fsync_dir(const char *path, char *err, size_t errlen)
{
        return atomicfile_sync_dir(path, err, errlen);
}

int home_write_atomic(const char *path, const void *data, size_t len,
                      mode_t mode, char *err, size_t errlen)
{
        return atomicfile_write(path, data, len, mode, 0, err, errlen);
}

char *home_read_file(const char *path, size_t max, size_t *len, char *err,
                     size_t errlen)
{
        char *buf = NULL, *ret = NULL;
        struct stat st;
        size_t got = 0;
        int fd, saved;

        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
                saved = errno;
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                errno = saved;
                return NULL;
        }
        if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "%s: not a regular file", path);
                goto done;
        }
        if ((uint64_t)st.st_size > max) {
                snprintf(err, errlen,
                         "%s: %lld bytes, more than the %zu "
                         "expected",
                         path, (long long)st.st_size, max);
                goto done;
        }
        if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto done;
        }
        while (got < (size_t)st.st_size) {
                ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        snprintf(err, errlen, "read %s: %s", path,
                                 strerror(errno));
                        goto done;
                }
                if (r == 0)
                        break;
                got += (size_t)r;
        }
        buf[got] = '\0';
        if (len != NULL)
                *len = got;
        ret = buf;
        buf = NULL;
done:
        free(buf);
        close(fd);
        return ret;
}

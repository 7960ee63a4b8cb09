/*
 * store: the TTP's document store.  The layout is in store.h; what the
 * file modes protect, and what they cannot, is in docs/security.md.
 *
 * Every path a client can influence is resolved beneath the root
 * directory file descriptor taken at store_open(), never by name from
 * "/": renaming or replacing the root path afterwards cannot redirect
 * the daemon, and no symlink is ever followed below the root.
 */
#include "store.h"

#include "crypto.h"
#include "hex.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture */
#endif

/* Copy buffer: on the heap, fixed whatever the file size. */
#define STORE_COPY_CHUNK (256 * 1024)
/* The longest relative path we resolve; ours are about 140 bytes. */
#define STORE_PATH_MAX 1024
/* openat2 says EAGAIN when a rename raced the lookup; retry a few times. */
#define STORE_RESOLVE_TRIES 8

#define STORE_OBJECTS_DIR  "objects"
#define STORE_INCOMING_DIR "incoming"
#define STORE_OBJECT_HEX   32 /* 16 random bytes */
#define STORE_TMP_PREFIX   ".tmp-"

/*
 * Modes (see docs/security.md).  The root and incoming/ are traversable
 * by everyone so that clients can reach incoming/<user>/; objects/ is
 * traversable but not listable: an object name is a capability.  User
 * directories get 0777 and the umask decides (0755 with the usual 022:
 * only the TTP's uid writes; 0775 with 002 and a shared group).
 */
#define STORE_ROOT_MODE     0755
#define STORE_INCOMING_MODE 0755
#define STORE_OBJECTS_MODE  0711
#define STORE_USER_DIR_MODE 0777
#define STORE_OBJECT_MODE   0444
/* Group or others may neither list objects/ nor add or remove names. */
#define STORE_OBJECTS_FORBIDDEN 0066

struct store {
        int root_fd;    /* O_PATH: the anchor of every lookup */
        int objects_fd; /* O_RDONLY: also fsynced after renames */
        dev_t dev;      /* of the root: lookups never leave it */
        int no_openat2; /* the kernel said ENOSYS once */
};

#ifdef STORE_TESTING
/* Set by the unit test to run the component walk even with openat2. */
int store_test_force_walk;
#define STORE_FORCE_WALK store_test_force_walk
#else
#define STORE_FORCE_WALK 0
#endif

static void store_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void store_err(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err == NULL || errlen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

/* The OpenSSL reason, with the queue drained so that it cannot go stale. */
static void store_ossl_err(char *err, size_t errlen, const char *what)
{
        char ossl[256] = "unknown error";
        unsigned long e;

        if ((e = ERR_get_error()) != 0)
                ERR_error_string_n(e, ossl, sizeof(ossl));
        ERR_clear_error();
        store_err(err, errlen, "%s: %s", what, ossl);
}

/*
 * NULL if `path` is a relative path we are willing to resolve, else why
 * not.  Stricter than the kernel on purpose: the store never makes a
 * path with "." or ".." or an empty component, so any such path is not
 * one we issued, whatever it would resolve to.  Backslashes and control
 * characters have no business in a path of ours either, and refusing
 * them keeps error messages and logs printable.
 */
static const char *store_path_problem(const char *path)
{
        size_t i, len, comp = 0;
        unsigned char c;

        if (path == NULL || path[0] == '\0')
                return "empty path";
        if (path[0] == '/')
                return "absolute path";
        len = strlen(path);
        if (len >= STORE_PATH_MAX)
                return "path too long";
        for (i = 0; i <= len; i++) {
                c = (unsigned char)path[i];
                if (c == '/' || c == '\0') {
                        if (comp == 0)
                                return "empty path component";
                        if (comp == 1 && path[i - 1] == '.')
                                return "\".\" path component";
                        if (comp == 2 && path[i - 2] == '.' &&
                            path[i - 1] == '.')
                                return "\"..\" path component";
                        if (comp > NAME_MAX)
                                return "path component too long";
                        comp = 0;
                        continue;
                }
                if (c < 0x20 || c == 0x7f)
                        return "control character in path";
                if (c == '\\')
                        return "backslash in path";
                comp++;
        }
        return NULL;
}

/* 1 if `p` is exactly "objects/" and 32 lowercase hex digits. */
static int store_is_object_path(const char *p)
{
        size_t plen = strlen(STORE_OBJECTS_DIR "/");

        return p != NULL && strncmp(p, STORE_OBJECTS_DIR "/", plen) == 0 &&
               hex_is_lower(p + plen, STORE_OBJECT_HEX);
}

static const char *store_type_name(mode_t mode)
{
        if (S_ISDIR(mode))
                return "a directory";
        if (S_ISFIFO(mode))
                return "a FIFO";
        if (S_ISCHR(mode))
                return "a character device";
        if (S_ISBLK(mode))
                return "a block device";
        if (S_ISSOCK(mode))
                return "a socket";
        if (S_ISLNK(mode))
                return "a symbolic link";
        return "a special file";
}

/*
 * Without openat2 (kernels before 5.6, or a seccomp filter that does not
 * know it): walk the components one openat() at a time, none followed if
 * it is a symlink, and refuse to leave the root's file system, which is
 * what RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV do in one
 * call.  ".." cannot occur: store_path_problem() refused it.
 */
static int store_walk_beneath(struct store *s, const char *path, int flags)
{
        char comp[NAME_MAX + 1];
        const char *p = path, *slash;
        int dfd = s->root_fd, nfd, fd = -1, saved;
        struct stat st;
        size_t n;

        while ((slash = strchr(p, '/')) != NULL) {
                n = (size_t)(slash - p);
                memcpy(comp, p, n);
                comp[n] = '\0';
                nfd = openat(dfd, comp,
                             O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (nfd == -1)
                        goto done;
                if (dfd != s->root_fd)
                        close(dfd);
                dfd = nfd;
                if (fstat(dfd, &st) == -1)
                        goto done;
                /* O_PATH | O_NOFOLLOW may hand back the link itself. */
                if (!S_ISDIR(st.st_mode)) {
                        errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
                        goto done;
                }
                if (st.st_dev != s->dev) {
                        errno = EXDEV;
                        goto done;
                }
                p = slash + 1;
        }
        fd = openat(dfd, p, flags | O_NOFOLLOW | O_CLOEXEC);
        if (fd != -1 && fstat(fd, &st) == 0 && st.st_dev != s->dev) {
                close(fd);
                fd = -1;
                errno = EXDEV;
        }
done:
        saved = errno;
        if (dfd != s->root_fd)
                close(dfd);
        errno = saved;
        return fd;
}

/*
 * Open `path` (already passed by store_path_problem()) beneath the root
 * with open flags `flags`, following no symlink, not even the last
 * component, and never leaving the root's mount.  With O_DIRECTORY the
 * result is checked to be a directory (O_PATH | O_NOFOLLOW would return a
 * symlink).  Returns the descriptor, or -1 with errno.
 */
static int store_open_beneath(struct store *s, const char *path, int flags)
{
        struct open_how how;
        struct stat st;
        int fd = -1, tries;

        if (!s->no_openat2 && !STORE_FORCE_WALK) {
                memset(&how, 0, sizeof(how));
                how.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC);
                how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                              RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
                for (tries = 0; tries < STORE_RESOLVE_TRIES; tries++) {
                        fd = (int)syscall(SYS_openat2, s->root_fd, path, &how,
                                          sizeof(how));
                        if (fd != -1 || (errno != EINTR && errno != EAGAIN))
                                break;
                }
                if (fd == -1 && errno == ENOSYS)
                        s->no_openat2 = 1;
                /*
                 * Old container seccomp profiles answer EPERM for system
                 * calls they do not know; the walk is as strict, so try
                 * it, without remembering: EPERM may also be genuine.
                 */
                if (fd == -1 && errno != ENOSYS && errno != EPERM)
                        return -1;
        }
        if (fd == -1)
                fd = store_walk_beneath(s, path, flags);
        if (fd != -1 && (flags & O_DIRECTORY) != 0) {
                if (fstat(fd, &st) == -1) {
                        close(fd);
                        return -1;
                }
                if (!S_ISDIR(st.st_mode)) {
                        close(fd);
                        errno = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
                        return -1;
                }
        }
        return fd;
}

/*
 * The verdict on a failed confined open of `path`: the client's fault
 * (STORE_BAD_PATH) for everything that is about the path, the TTP's own
 * (STORE_ERROR) for resource and I/O failures.
 */
static enum store_result store_open_failed(const char *path, int e, char *err,
                                           size_t errlen)
{
        const char *why;

        switch (e) {
        case ENOENT:
                why = "no such file";
                break;
        case ELOOP:
                why = "a symbolic link on the way";
                break;
        case EXDEV:
                why = "leaves the store or crosses a mount point";
                break;
        case ENOTDIR:
                why = "a component is not a directory";
                break;
        case ENXIO:
        case ENODEV:
                why = "not a regular file";
                break;
        case EACCES:
        case EPERM:
                why = "not readable by the TTP";
                break;
        case ENAMETOOLONG:
                why = "name too long";
                break;
        case EAGAIN:
                why = "renamed while being opened";
                break;
        default:
                store_err(err, errlen, "%s: %s", path, strerror(e));
                return STORE_ERROR;
        }
        store_err(err, errlen, "%s: %s (%s)", path, why, strerror(e));
        return STORE_BAD_PATH;
}

static int store_write_all(int fd, const unsigned char *buf, size_t len)
{
        ssize_t n;

        while (len > 0) {
                n = write(fd, buf, len);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n == -1)
                        return -1;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/* mkdir -p of the absolute `root`; existing components are fine. */
static int store_mkdir_p(const char *root, char *err, size_t errlen)
{
        char path[PATH_MAX];
        size_t i, len = strlen(root);

        if (len >= sizeof(path)) {
                store_err(err, errlen, "store root too long");
                return -1;
        }
        memcpy(path, root, len + 1);
        for (i = 1; i <= len; i++) {
                if (path[i] != '/' && path[i] != '\0')
                        continue;
                if (path[i - 1] == '/')
                        continue;
                path[i] = '\0';
                if (mkdir(path, STORE_ROOT_MODE) == -1 && errno != EEXIST) {
                        store_err(err, errlen, "mkdir %s: %s", path,
                                  strerror(errno));
                        return -1;
                }
                path[i] = root[i];
        }
        return 0;
}

/*
 * Create <root>/<name> with `mode` if missing and open it with `flags`;
 * an existing symlink or non-directory of that name is refused.
 */
static int store_subdir(struct store *s, const char *name, mode_t mode,
                        int flags, char *err, size_t errlen)
{
        struct stat st;
        int fd;

        if (mkdirat(s->root_fd, name, mode) == -1 && errno != EEXIST) {
                store_err(err, errlen, "mkdir %s: %s", name, strerror(errno));
                return -1;
        }
        fd = openat(s->root_fd, name,
                    flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd == -1) {
                store_err(err, errlen, "%s: %s", name, strerror(errno));
                return -1;
        }
        if (fstat(fd, &st) == -1 || !S_ISDIR(st.st_mode)) {
                store_err(err, errlen, "%s: not a directory", name);
                close(fd);
                return -1;
        }
        return fd;
}

struct store *store_open(const char *root, char *err, size_t errlen)
{
        struct store *s = NULL, *ret = NULL;
        struct stat st;
        mode_t mode;
        int fd;

        if (root == NULL || root[0] != '/') {
                store_err(err, errlen, "store root must be an absolute path");
                goto done;
        }
        if ((s = calloc(1, sizeof(*s))) == NULL) {
                store_err(err, errlen, "out of memory");
                goto done;
        }
        s->root_fd = s->objects_fd = -1;
        if (store_mkdir_p(root, err, errlen) == -1)
                goto done;
        /* The root itself may be reached through symlinks: it is ours. */
        s->root_fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (s->root_fd == -1 || fstat(s->root_fd, &st) == -1) {
                store_err(err, errlen, "%s: %s", root, strerror(errno));
                goto done;
        }
        s->dev = st.st_dev;
        fd = store_subdir(s, STORE_INCOMING_DIR, STORE_INCOMING_MODE, O_PATH,
                          err, errlen);
        if (fd == -1)
                goto done;
        close(fd);
        s->objects_fd = store_subdir(s, STORE_OBJECTS_DIR, STORE_OBJECTS_MODE,
                                     O_RDONLY, err, errlen);
        if (s->objects_fd == -1)
                goto done;
        /*
         * Whatever created it, objects/ must not be listable or writable
         * by others: listing it would reveal every capability.
         */
        if (fstat(s->objects_fd, &st) == -1) {
                store_err(err, errlen, "objects: %s", strerror(errno));
                goto done;
        }
        mode = st.st_mode & 07777;
        if ((mode & STORE_OBJECTS_FORBIDDEN) != 0 &&
            fchmod(s->objects_fd, mode & ~(mode_t)STORE_OBJECTS_FORBIDDEN) ==
                -1) {
                store_err(err, errlen,
                          "objects: mode %04o lets others list it, and "
                          "chmod failed: %s",
                          (unsigned)mode, strerror(errno));
                goto done;
        }
        ret = s;
        s = NULL;
done:
        store_close(s);
        return ret;
}

void store_close(struct store *store)
{
        if (store == NULL)
                return;
        if (store->objects_fd != -1)
                close(store->objects_fd);
        if (store->root_fd != -1)
                close(store->root_fd);
        free(store);
}

int store_incoming_prepare(struct store *store, const char *user,
                           const char *file_id, char *out, size_t outlen,
                           char *err, size_t errlen)
{
        char path[STORE_PATH_MAX], dir[STORE_PATH_MAX];
        const char *why;
        int inc = -1, udir = -1, ret = -1, n;

        if (store == NULL || user == NULL || file_id == NULL || out == NULL) {
                store_err(err, errlen, "store_incoming_prepare: NULL argument");
                goto done;
        }
        /* The caller validated both with ids.h; a second lock is cheap. */
        if (strchr(user, '/') != NULL || strchr(file_id, '/') != NULL) {
                store_err(err, errlen, "user or file_id contains '/'");
                goto done;
        }
        n = snprintf(path, sizeof(path), STORE_INCOMING_DIR "/%s/%s", user,
                     file_id);
        if (n < 0 || (size_t)n >= sizeof(path)) {
                store_err(err, errlen, "user or file_id too long");
                goto done;
        }
        if ((why = store_path_problem(path)) != NULL) {
                store_err(err, errlen, "invalid user or file_id: %s", why);
                goto done;
        }
        if ((size_t)n >= outlen) {
                store_err(err, errlen, "incoming path buffer too small");
                goto done;
        }
        snprintf(dir, sizeof(dir), STORE_INCOMING_DIR "/%s", user);
        inc =
            store_open_beneath(store, STORE_INCOMING_DIR, O_PATH | O_DIRECTORY);
        if (inc == -1) {
                store_err(err, errlen, STORE_INCOMING_DIR ": %s",
                          strerror(errno));
                goto done;
        }
        if (mkdirat(inc, user, STORE_USER_DIR_MODE) == -1 && errno != EEXIST) {
                store_err(err, errlen, "mkdir %s: %s", dir, strerror(errno));
                goto done;
        }
        /* A symlink planted in place of the directory is refused here. */
        udir = store_open_beneath(store, dir, O_PATH | O_DIRECTORY);
        if (udir == -1) {
                store_err(err, errlen, "%s: %s", dir, strerror(errno));
                goto done;
        }
        /*
         * A leftover of an earlier attempt must not pass for A's new
         * upload.  unlinkat() removes a symlink, never its target.
         */
        if (unlinkat(udir, file_id, 0) == -1 && errno != ENOENT &&
            !(errno == EISDIR && unlinkat(udir, file_id, AT_REMOVEDIR) == 0)) {
                store_err(err, errlen, "removing stale %s: %s", path,
                          strerror(errno));
                goto done;
        }
        memcpy(out, path, (size_t)n + 1);
        ret = 0;
done:
        if (udir != -1)
                close(udir);
        if (inc != -1)
                close(inc);
        return ret;
}

int store_object_name(char *out, size_t outlen, char *err, size_t errlen)
{
        unsigned char rnd[STORE_OBJECT_HEX / 2];
        char hex[STORE_OBJECT_HEX + 1];
        int n;

        if (out == NULL ||
            outlen < sizeof(STORE_OBJECTS_DIR "/") + STORE_OBJECT_HEX) {
                store_err(err, errlen, "object name buffer too small");
                return -1;
        }
        /*
         * Random, never derived from the content: B learns the hash at
         * step 5, but must learn the name only at step 8.
         */
        if (crypto_random(rnd, sizeof(rnd), err, errlen) == -1)
                return -1;
        hex_encode(rnd, sizeof(rnd), hex, sizeof(hex));
        n = snprintf(out, outlen, STORE_OBJECTS_DIR "/%s", hex);
        return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

enum store_result store_verify_copy(struct store *store, const char *path,
                                    const char *object_path,
                                    uint64_t claimed_size,
                                    const unsigned char claimed_sha256[32],
                                    char *err, size_t errlen)
{
        enum store_result ret = STORE_ERROR;
        unsigned char digest[EVP_MAX_MD_SIZE], rnd[STORE_OBJECT_HEX / 2];
        char tmp[sizeof(STORE_TMP_PREFIX) + STORE_OBJECT_HEX];
        char got_hex[CRYPTO_SHA256_HEX_LEN + 1];
        char want_hex[CRYPTO_SHA256_HEX_LEN + 1];
        unsigned char *buf = NULL;
        EVP_MD_CTX *md = NULL;
        const char *name = NULL, *why;
        int in = -1, out = -1, created = 0, fl;
        unsigned int dlen = 0;
        uint64_t total = 0;
        struct stat st;
        ssize_t n;

        if (store == NULL || claimed_sha256 == NULL) {
                store_err(err, errlen, "store_verify_copy: NULL argument");
                goto done;
        }
        /* The engine's own value: a wrong one is a bug, not a bad upload. */
        if (!store_is_object_path(object_path)) {
                store_err(err, errlen,
                          "object path is not \"objects/\" and 32 hex digits");
                goto done;
        }
        name = object_path + strlen(STORE_OBJECTS_DIR "/");
        if ((why = store_path_problem(path)) != NULL) {
                /* The path itself is not echoed: it is the client's. */
                store_err(err, errlen, "bad path: %s", why);
                ret = STORE_BAD_PATH;
                goto done;
        }
        /*
         * O_NONBLOCK: opening a FIFO for reading would otherwise wait for
         * a writer, i.e. for as long as the client likes.
         */
        in = store_open_beneath(store, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
        if (in == -1) {
                ret = store_open_failed(path, errno, err, errlen);
                goto done;
        }
        if (fstat(in, &st) == -1) {
                store_err(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                store_err(err, errlen, "%s: not a regular file but %s", path,
                          store_type_name(st.st_mode));
                ret = STORE_BAD_PATH;
                goto done;
        }
        /*
         * O_NONBLOCK has done its job; no Linux file system should honour
         * it on a regular file, but a read must never fail with EAGAIN.
         */
        if ((fl = fcntl(in, F_GETFL)) == -1 ||
            fcntl(in, F_SETFL, fl & ~O_NONBLOCK) == -1) {
                store_err(err, errlen, "%s: fcntl: %s", path, strerror(errno));
                goto done;
        }
        /* Cheap early verdict; the copy below is what decides. */
        if ((uint64_t)st.st_size != claimed_size) {
                store_err(err, errlen, "%s: size %" PRIu64 ", claimed %" PRIu64,
                          path, (uint64_t)st.st_size, claimed_size);
                ret = STORE_HASH_MISMATCH;
                goto done;
        }

        if ((buf = malloc(STORE_COPY_CHUNK)) == NULL) {
                store_err(err, errlen, "out of memory");
                goto done;
        }
        ERR_clear_error();
        if ((md = EVP_MD_CTX_new()) == NULL ||
            EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
                store_ossl_err(err, errlen, "sha256 init");
                goto done;
        }
        if (crypto_random(rnd, sizeof(rnd), err, errlen) == -1)
                goto done;
        memcpy(tmp, STORE_TMP_PREFIX, strlen(STORE_TMP_PREFIX));
        hex_encode(rnd, sizeof(rnd), tmp + strlen(STORE_TMP_PREFIX),
                   sizeof(tmp) - strlen(STORE_TMP_PREFIX));
        out =
            openat(store->objects_fd, tmp,
                   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out == -1) {
                store_err(err, errlen, "objects/%s: %s", tmp, strerror(errno));
                goto done;
        }
        created = 1;

        /*
         * Hash exactly the bytes written to our own file: whatever the
         * client does to the incoming file meanwhile (append, truncate,
         * rewrite), what is verified is what is kept.
         */
        for (;;) {
                n = read(in, buf, STORE_COPY_CHUNK);
                if (n == -1 && errno == EINTR)
                        continue;
                if (n == -1) {
                        store_err(err, errlen, "%s: read: %s", path,
                                  strerror(errno));
                        goto done;
                }
                if (n == 0)
                        break;
                /* Grew beyond the claim: no reason to copy the rest. */
                if ((uint64_t)n > claimed_size - total) {
                        store_err(err, errlen,
                                  "%s: more than the claimed %" PRIu64 " bytes",
                                  path, claimed_size);
                        ret = STORE_HASH_MISMATCH;
                        goto done;
                }
                total += (uint64_t)n;
                if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
                        store_ossl_err(err, errlen, "sha256 update");
                        goto done;
                }
                if (store_write_all(out, buf, (size_t)n) == -1) {
                        store_err(err, errlen, "objects/%s: write: %s", tmp,
                                  strerror(errno));
                        goto done;
                }
                /*
                 * Start writing the chunk to disk now, without waiting:
                 * the fsync below then finds most of the file written
                 * instead of starting all of it at once.
                 */
                if (sync_file_range(out, (off_t)(total - (uint64_t)n), n,
                                    SYNC_FILE_RANGE_WRITE) == -1) {
                        store_err(err, errlen,
                                  "objects/%s: sync_file_range: %s", tmp,
                                  strerror(errno));
                        goto done;
                }
        }
        if (total != claimed_size) {
                store_err(err, errlen,
                          "%s: %" PRIu64 " bytes, claimed %" PRIu64, path,
                          total, claimed_size);
                ret = STORE_HASH_MISMATCH;
                goto done;
        }
        if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 ||
            dlen != CRYPTO_SHA256_LEN) {
                store_ossl_err(err, errlen, "sha256 final");
                goto done;
        }
        if (memcmp(digest, claimed_sha256, CRYPTO_SHA256_LEN) != 0) {
                hex_encode(digest, CRYPTO_SHA256_LEN, got_hex, sizeof(got_hex));
                hex_encode(claimed_sha256, CRYPTO_SHA256_LEN, want_hex,
                           sizeof(want_hex));
                store_err(err, errlen, "%s: sha256 %s, claimed %s", path,
                          got_hex, want_hex);
                ret = STORE_HASH_MISMATCH;
                goto done;
        }

        /* Durable and read-only before the name appears. */
        if (fchmod(out, STORE_OBJECT_MODE) == -1 || fsync(out) == -1) {
                store_err(err, errlen, "objects/%s: %s", tmp, strerror(errno));
                goto done;
        }
        /*
         * The TTP never reads the object again (B does, maybe much
         * later): drop its clean pages now, so that the next copy reuses
         * them instead of taking fresh memory.  Fresh pages are what a
         * write costs most here: 5 ms per MiB against 0.4 (a VM whose
         * free memory goes back to the host).
         */
        if ((errno = posix_fadvise(out, 0, 0, POSIX_FADV_DONTNEED)) != 0) {
                store_err(err, errlen, "objects/%s: posix_fadvise: %s", tmp,
                          strerror(errno));
                goto done;
        }
        if (close(out) == -1) {
                out = -1;
                store_err(err, errlen, "objects/%s: close: %s", tmp,
                          strerror(errno));
                goto done;
        }
        out = -1;
        /* Replaces an object of that name: a redelivered step 3. */
        if (renameat(store->objects_fd, tmp, store->objects_fd, name) == -1) {
                store_err(err, errlen, "rename objects/%s to %s: %s", tmp,
                          object_path, strerror(errno));
                goto done;
        }
        created = 0;
        if (fsync(store->objects_fd) == -1) {
                store_err(err, errlen, "objects: fsync: %s", strerror(errno));
                goto done;
        }
        ret = STORE_OK;
done:
        if (out != -1)
                close(out);
        if (created)
                unlinkat(store->objects_fd, tmp, 0);
        /*
         * The contract: no object file unless STORE_OK, not even one a
         * previous attempt with this name left (a redelivered step 3
         * whose incoming file has changed since).
         */
        if (name != NULL && ret != STORE_OK)
                unlinkat(store->objects_fd, name, 0);
        if (in != -1)
                close(in);
        EVP_MD_CTX_free(md);
        free(buf);
        return ret;
}

int store_remove(struct store *store, const char *path, char *err,
                 size_t errlen)
{
        char parent[STORE_PATH_MAX];
        const char *why, *slash, *base = path;
        int dfd = -1, ret = -1;

        if (store == NULL) {
                store_err(err, errlen, "store_remove: NULL store");
                goto done;
        }
        if ((why = store_path_problem(path)) != NULL) {
                store_err(err, errlen, "bad path: %s", why);
                goto done;
        }
        /*
         * Resolve the parent confined, then unlink the last name in it:
         * neither a symlinked directory on the way nor a symlink as the
         * last component makes us remove anything outside.
         */
        if ((slash = strrchr(path, '/')) != NULL) {
                memcpy(parent, path, (size_t)(slash - path));
                parent[slash - path] = '\0';
                base = slash + 1;
                dfd = store_open_beneath(store, parent, O_PATH | O_DIRECTORY);
                if (dfd == -1 && errno == ENOENT) {
                        ret = 0;
                        goto done;
                }
                if (dfd == -1) {
                        store_err(err, errlen, "%s: %s", parent,
                                  strerror(errno));
                        goto done;
                }
        }
        if (unlinkat(dfd != -1 ? dfd : store->root_fd, base, 0) == -1 &&
            errno != ENOENT) {
                store_err(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        ret = 0;
done:
        if (dfd != -1)
                close(dfd);
        return ret;
}

int store_object_hash(struct store *store, const char *object_path,
                      unsigned char sha256[32], uint64_t *size, char *err,
                      size_t errlen)
{
        struct stat st;
        int fd = -1, ret = -1;

        if (store == NULL || sha256 == NULL) {
                store_err(err, errlen, "store_object_hash: NULL argument");
                goto done;
        }
        if (!store_is_object_path(object_path)) {
                store_err(err, errlen,
                          "object path is not \"objects/\" and 32 hex digits");
                goto done;
        }
        fd = openat(store->objects_fd,
                    object_path + strlen(STORE_OBJECTS_DIR "/"),
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd == -1 || fstat(fd, &st) == -1) {
                store_err(err, errlen, "%s: %s", object_path, strerror(errno));
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                store_err(err, errlen, "%s: not a regular file but %s",
                          object_path, store_type_name(st.st_mode));
                goto done;
        }
        if (crypto_sha256_fd(fd, sha256, size, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        if (fd != -1)
                close(fd);
        return ret;
}

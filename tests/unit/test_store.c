/*
 * store: the TTP's document store.  A real store in a mkdtemp directory:
 * verified copies, every way an incoming path can be wrong or hostile
 * (symlinks, FIFOs, directories, sockets, devices, "..", absolute paths),
 * once with openat2 and once with the component walk used without it.
 *
 * The tests may run as root, so none relies on a permission being denied.
 */
#include "crypto.h"
#include "hex.h"
#include "store.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

/* store.c, built with STORE_TESTING: skip openat2, walk the components. */
extern int store_test_force_walk;

#define BIG_SIZE (5 * 1024 * 1024 + 12345)

static char g_tmp[PATH_MAX]; /* the mkdtemp directory */
static char g_root[PATH_MAX];
static struct store *g_store;

/* The absolute path of the store-relative `rel`. */
static void abs_path(char *out, size_t outlen, const char *rel)
{
        unit_fmt(out, outlen, "%s/%s", g_root, rel);
}

static void write_file(const char *path, const void *buf, size_t len)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        const char *p = buf;
        ssize_t n;

        REQUIRE(fd != -1);
        while (len > 0) {
                n = write(fd, p, len);
                REQUIRE(n > 0);
                p += n;
                len -= (size_t)n;
        }
        REQUIRE(close(fd) == 0);
}

/* The whole file in a fresh buffer (caller frees), its size in `*len`. */
static unsigned char *read_file(const char *path, size_t *len)
{
        struct stat st;
        unsigned char *buf;
        ssize_t n;
        size_t got = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        REQUIRE(fd != -1 && fstat(fd, &st) == 0);
        buf = malloc((size_t)st.st_size + 1);
        REQUIRE(buf != NULL);
        while ((n = read(fd, buf + got, (size_t)st.st_size + 1 - got)) > 0)
                got += (size_t)n;
        REQUIRE(n == 0);
        close(fd);
        *len = got;
        return buf;
}

static unsigned char *pattern(size_t len, unsigned seed)
{
        unsigned char *buf = malloc(len > 0 ? len : 1);
        size_t i;

        REQUIRE(buf != NULL);
        for (i = 0; i < len; i++)
                buf[i] = (unsigned char)(((i + seed) * 2654435761u) >> 13);
        return buf;
}

static void sha(const void *buf, size_t len, unsigned char out[32])
{
        REQUIRE(crypto_sha256(buf, len, out, NULL, 0) == 0);
}

/* Entries of objects/ whose name starts with `prefix` ("" for all). */
static int count_objects(const char *prefix)
{
        char dir[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int n = 0;

        abs_path(dir, sizeof(dir), "objects");
        REQUIRE((d = opendir(dir)) != NULL);
        while ((de = readdir(d)) != NULL) {
                if (strcmp(de->d_name, ".") == 0 ||
                    strcmp(de->d_name, "..") == 0)
                        continue;
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        }
        closedir(d);
        return n;
}

static int exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

/* incoming/<user>/<file_id> prepared, its relative path in `rel`. */
static void prepare(const char *user, const char *file_id, char *rel,
                    size_t rellen)
{
        char err[256] = "";

        CHECK_MSG(store_incoming_prepare(g_store, user, file_id, rel, rellen,
                                         err, sizeof(err)) == 0,
                  err);
}

/*
 * A verify_copy that must fail with `want`: afterwards there is no object
 * of that name and no temporary file in objects/.
 */
static void expect_fail(const char *rel, uint64_t size,
                        const unsigned char hash[32], enum store_result want,
                        int line)
{
        char obj[64], abs[PATH_MAX], err[512] = "";
        enum store_result r;
        int before = count_objects("");

        REQUIRE(store_object_name(obj, sizeof(obj), NULL, 0) == 0);
        r = store_verify_copy(g_store, rel, obj, size, hash, err, sizeof(err));
        if (r != want)
                fprintf(stderr, "line %d: result %d, want %d (%s)\n", line,
                        (int)r, (int)want, err);
        CHECK(r == want);
        CHECK(err[0] != '\0');
        abs_path(abs, sizeof(abs), obj);
        CHECK(!exists(abs));
        CHECK(count_objects(".tmp-") == 0);
        CHECK(count_objects("") == before);
}

#define EXPECT_FAIL(rel, size, hash, want)                                     \
        expect_fail((rel), (size), (hash), (want), __LINE__)

static void test_open(void)
{
        char err[256] = "", path[PATH_MAX], sub[PATH_MAX];
        struct store *s;
        struct stat st;

        CHECK(store_open("relative/store", err, sizeof(err)) == NULL);
        CHECK(err[0] != '\0');
        CHECK(store_open(NULL, NULL, 0) == NULL);

        /* Creates the missing parents, incoming/ and objects/. */
        unit_fmt(path, sizeof(path), "%s/a/b/store", g_tmp);
        s = store_open(path, err, sizeof(err));
        CHECK_MSG(s != NULL, err);
        unit_fmt(sub, sizeof(sub), "%s/incoming", path);
        CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0755);
        unit_fmt(sub, sizeof(sub), "%s/objects", path);
        CHECK(stat(sub, &st) == 0 && S_ISDIR(st.st_mode) &&
              (st.st_mode & 07777) == 0711);
        store_close(s);

        /* An objects/ that others could list is narrowed at open. */
        REQUIRE(chmod(sub, 0777) == 0);
        s = store_open(path, err, sizeof(err));
        CHECK_MSG(s != NULL, err);
        CHECK(stat(sub, &st) == 0 && (st.st_mode & 07777) == 0711);
        store_close(s);

        /* A symlink in place of incoming/ or objects/ is refused. */
        unit_fmt(path, sizeof(path), "%s/linked", g_tmp);
        REQUIRE(mkdir(path, 0755) == 0);
        unit_fmt(sub, sizeof(sub), "%s/linked/incoming", g_tmp);
        REQUIRE(symlink(g_tmp, sub) == 0);
        err[0] = '\0';
        CHECK(store_open(path, err, sizeof(err)) == NULL);
        CHECK(err[0] != '\0');

        /* A root below a regular file. */
        unit_fmt(path, sizeof(path), "%s/plain", g_tmp);
        write_file(path, "x", 1);
        unit_fmt(path, sizeof(path), "%s/plain/store", g_tmp);
        CHECK(store_open(path, NULL, 0) == NULL);
        store_close(NULL);
}

static void test_object_name(void)
{
        static char names[200][41];
        char err[128] = "", small[40];
        size_t i, j;
        int distinct = 1;

        for (i = 0; i < 200; i++) {
                CHECK_MSG(store_object_name(names[i], sizeof(names[i]), err,
                                            sizeof(err)) == 0,
                          err);
                CHECK(strncmp(names[i], "objects/", 8) == 0);
                CHECK(hex_is_lower(names[i] + 8, 32));
                for (j = 0; j < i; j++)
                        if (strcmp(names[i], names[j]) == 0)
                                distinct = 0;
        }
        CHECK(distinct);
        CHECK(store_object_name(small, sizeof(small), err, sizeof(err)) == -1);
        CHECK(store_object_name(NULL, 41, NULL, 0) == -1);
}

static void test_good_copy(void)
{
        char rel[256], obj[64], abs[PATH_MAX], objabs[PATH_MAX];
        char err[512] = "";
        unsigned char *data = pattern(BIG_SIZE, 1), *got, want[32], h[32];
        struct stat st, ist;
        uint64_t size = 0;
        size_t len = 0;

        prepare("alice", "f1", rel, sizeof(rel));
        CHECK_STR_EQ(rel, "incoming/alice/f1");
        abs_path(abs, sizeof(abs), rel);
        write_file(abs, data, BIG_SIZE);
        sha(data, BIG_SIZE, want);

        REQUIRE(store_object_name(obj, sizeof(obj), NULL, 0) == 0);
        CHECK_MSG(store_verify_copy(g_store, rel, obj, BIG_SIZE, want, err,
                                    sizeof(err)) == STORE_OK,
                  err);
        abs_path(objabs, sizeof(objabs), obj);
        CHECK(stat(objabs, &st) == 0 && S_ISREG(st.st_mode));
        CHECK((st.st_mode & 07777) == 0444);
        CHECK(st.st_size == BIG_SIZE);
        /* A copy of its own, not a link to the client's file. */
        CHECK(stat(abs, &ist) == 0 && ist.st_ino != st.st_ino);
        CHECK(st.st_nlink == 1);
        got = read_file(objabs, &len);
        CHECK_MEM_EQ(got, len, data, (size_t)BIG_SIZE);
        free(got);
        CHECK_MSG(store_object_hash(g_store, obj, h, &size, err, sizeof(err)) ==
                      0,
                  err);
        CHECK_MEM_EQ(h, sizeof(h), want, sizeof(want));
        CHECK(size == BIG_SIZE);
        CHECK(count_objects(".tmp-") == 0);

        /*
         * The client rewrites, then deletes, its incoming file: the object
         * is the TTP's and does not change.
         */
        write_file(abs, "tampered", 8);
        CHECK(store_object_hash(g_store, obj, h, &size, NULL, 0) == 0);
        CHECK_MEM_EQ(h, sizeof(h), want, sizeof(want));
        CHECK(size == BIG_SIZE);
        CHECK(unlink(abs) == 0);
        CHECK(store_object_hash(g_store, obj, h, &size, NULL, 0) == 0);
        CHECK_MEM_EQ(h, sizeof(h), want, sizeof(want));

        /* The empty document is a document. */
        prepare("alice", "empty", rel, sizeof(rel));
        abs_path(abs, sizeof(abs), rel);
        write_file(abs, "", 0);
        sha("", 0, want);
        REQUIRE(store_object_name(obj, sizeof(obj), NULL, 0) == 0);
        CHECK_MSG(store_verify_copy(g_store, rel, obj, 0, want, err,
                                    sizeof(err)) == STORE_OK,
                  err);
        CHECK(store_object_hash(g_store, obj, h, &size, NULL, 0) == 0);
        CHECK(size == 0);
        CHECK_MEM_EQ(h, sizeof(h), want, sizeof(want));
        free(data);
}

static void test_replace(void)
{
        char rel[256], obj[64], abs[PATH_MAX], objabs[PATH_MAX];
        char err[512] = "";
        unsigned char *a = pattern(100000, 2), *b = pattern(70000, 3);
        unsigned char ha[32], hb[32], h[32];
        struct stat st;
        uint64_t size;

        sha(a, 100000, ha);
        sha(b, 70000, hb);
        prepare("alice", "again", rel, sizeof(rel));
        abs_path(abs, sizeof(abs), rel);
        REQUIRE(store_object_name(obj, sizeof(obj), NULL, 0) == 0);
        abs_path(objabs, sizeof(objabs), obj);

        write_file(abs, a, 100000);
        CHECK_MSG(store_verify_copy(g_store, rel, obj, 100000, ha, err,
                                    sizeof(err)) == STORE_OK,
                  err);
        /* A redelivered step 3 for the same object name replaces it. */
        write_file(abs, b, 70000);
        CHECK_MSG(store_verify_copy(g_store, rel, obj, 70000, hb, err,
                                    sizeof(err)) == STORE_OK,
                  err);
        CHECK(store_object_hash(g_store, obj, h, &size, NULL, 0) == 0);
        CHECK_MEM_EQ(h, sizeof(h), hb, sizeof(hb));
        CHECK(size == 70000);
        CHECK(stat(objabs, &st) == 0 && (st.st_mode & 07777) == 0444);
        CHECK(count_objects(".tmp-") == 0);

        /* A failing retry leaves no object of that name, as promised. */
        CHECK(store_verify_copy(g_store, rel, obj, 70000, ha, err,
                                sizeof(err)) == STORE_HASH_MISMATCH);
        CHECK(!exists(objabs));
        CHECK(count_objects(".tmp-") == 0);
        free(a);
        free(b);
}

static void test_mismatch(void)
{
        char rel[256], abs[PATH_MAX];
        unsigned char *data = pattern(300000, 4), h[32], bad[32];
        const size_t len = 300000;

        prepare("bob", "m1", rel, sizeof(rel));
        abs_path(abs, sizeof(abs), rel);
        write_file(abs, data, len);
        sha(data, len, h);

        /* The file is bigger than claimed, then smaller than claimed. */
        EXPECT_FAIL(rel, len - 1, h, STORE_HASH_MISMATCH);
        EXPECT_FAIL(rel, 0, h, STORE_HASH_MISMATCH);
        EXPECT_FAIL(rel, len + 1, h, STORE_HASH_MISMATCH);
        EXPECT_FAIL(rel, UINT64_MAX, h, STORE_HASH_MISMATCH);
        /* Right size, one bit of the hash off. */
        memcpy(bad, h, sizeof(bad));
        bad[31] ^= 1;
        EXPECT_FAIL(rel, len, bad, STORE_HASH_MISMATCH);
        /* Right hash and size of other content. */
        data[len / 2] ^= 0x80;
        write_file(abs, data, len);
        EXPECT_FAIL(rel, len, h, STORE_HASH_MISMATCH);
        free(data);
}

static void test_bad_object_path(void)
{
        static const char *const bad[] = {
            "objects/0123456789abcdef0123456789abcde",   /* 31 */
            "objects/0123456789abcdef0123456789abcdef0", /* 33 */
            "objects/0123456789ABCDEF0123456789abcdef",  /* upper */
            "objects/0123456789abcdef0123456789abcdef/",
            "objects/../objects/0123456789abcdef0123456789abcdef",
            "/objects/0123456789abcdef0123456789abcdef",
            "incoming/0123456789abcdef0123456789abcdef",
            "objects/.tmp-0123456789abcdef0123456789ab",
            "",
            NULL,
        };
        char rel[256], abs[PATH_MAX], err[256];
        unsigned char h[32], out[32];
        uint64_t size;
        size_t i;
        int before;

        prepare("bob", "obj", rel, sizeof(rel));
        abs_path(abs, sizeof(abs), rel);
        write_file(abs, "doc", 3);
        sha("doc", 3, h);
        before = count_objects("");
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                CHECK(store_verify_copy(g_store, rel, bad[i], 3, h, err,
                                        sizeof(err)) == STORE_ERROR);
                CHECK(err[0] != '\0');
                CHECK(store_object_hash(g_store, bad[i], out, &size, NULL, 0) ==
                      -1);
        }
        CHECK(count_objects("") == before);
        CHECK(store_verify_copy(NULL, rel, "x", 3, h, NULL, 0) == STORE_ERROR);
}

/* Paths that are not ours, whatever they resolve to. */
static void test_bad_paths(void)
{
        char rel[256], abs[PATH_MAX], long_path[1200];
        unsigned char h[32];
        size_t i;
        const char *const bad[] = {
            "",
            "/",
            "..",
            ".",
            "../x",
            "incoming/../incoming/carol/f1",
            "incoming/carol/../carol/f1",
            "incoming/carol/..",
            "./incoming/carol/f1",
            "incoming/./carol/f1",
            "incoming/carol/./f1",
            "incoming/carol/f1/.",
            "incoming//carol/f1",
            "incoming/carol//f1",
            "incoming/carol/f1/",
            "incoming/carol/f1//",
            "incoming\\carol\\f1",
            "incoming/carol/f1\n",
            "incoming/carol/\x01"
            "f1",
            "incoming/carol/f1\x7f",
            abs, /* the absolute path of the real file */
            long_path,
        };

        prepare("carol", "f1", rel, sizeof(rel));
        abs_path(abs, sizeof(abs), rel);
        write_file(abs, "doc", 3);
        sha("doc", 3, h);
        memset(long_path, 'a', sizeof(long_path) - 1);
        long_path[sizeof(long_path) - 1] = '\0';
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                EXPECT_FAIL(bad[i], 3, h, STORE_BAD_PATH);
        EXPECT_FAIL(NULL, 3, h, STORE_BAD_PATH);
        /* The real file is fine: only the form was wrong. */
        EXPECT_FAIL("incoming/carol/missing", 3, h, STORE_BAD_PATH);
        EXPECT_FAIL("incoming/nobody/f1", 3, h, STORE_BAD_PATH);
        EXPECT_FAIL("nowhere", 3, h, STORE_BAD_PATH);
        /* A component that is a file, not a directory. */
        EXPECT_FAIL("incoming/carol/f1/x", 3, h, STORE_BAD_PATH);
}

/* Symlinks anywhere on the way, FIFOs, directories, sockets, devices. */
static void test_hostile(const char *user)
{
        char rel[256], abs[PATH_MAX], target[PATH_MAX], p[PATH_MAX];
        char link_rel[256], err[256] = "";
        unsigned char h[32];
        struct sockaddr_un sun;
        struct stat st;
        int fd;

        /* The real document, inside the store, and a copy outside. */
        prepare(user, "real", rel, sizeof(rel));
        abs_path(target, sizeof(target), rel);
        write_file(target, "secret", 6);
        sha("secret", 6, h);
        unit_fmt(p, sizeof(p), "%s/outside-%s", g_tmp, user);
        write_file(p, "secret", 6);

        /* The incoming file is a symlink: to a file outside... */
        prepare(user, "out", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(symlink(p, abs) == 0);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        /* ...to a file inside, by absolute and by relative target... */
        prepare(user, "in", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(symlink(target, abs) == 0);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        prepare(user, "rel", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(symlink("real", abs) == 0);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        /* ...or dangling. */
        prepare(user, "dangling", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(symlink("no-such-file", abs) == 0);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        /* The real file itself is accepted (the control case). */
        {
                char obj[64];

                REQUIRE(store_object_name(obj, sizeof(obj), NULL, 0) == 0);
                CHECK_MSG(store_verify_copy(g_store, rel, obj, 6, h, err,
                                            sizeof(err)) == STORE_OK,
                          err);
                CHECK(store_remove(g_store, obj, err, sizeof(err)) == 0);
        }

        /* A FIFO: refused at once, never waiting for a writer. */
        prepare(user, "fifo", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(mkfifo(abs, 0644) == 0);
        alarm(10);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        EXPECT_FAIL(link_rel, 0, h, STORE_BAD_PATH);
        alarm(0);

        /* A directory. */
        prepare(user, "dir", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(mkdir(abs, 0755) == 0);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        EXPECT_FAIL("incoming", 6, h, STORE_BAD_PATH);
        EXPECT_FAIL("objects", 6, h, STORE_BAD_PATH);

        /* A listening socket. */
        prepare(user, "sock", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        REQUIRE(fd != -1);
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        REQUIRE(strlen(abs) < sizeof(sun.sun_path));
        memcpy(sun.sun_path, abs, strlen(abs) + 1);
        REQUIRE(bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
        REQUIRE(listen(fd, 1) == 0);
        alarm(10);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        alarm(0);
        close(fd);

        /* A device (only root may make one; skipped otherwise). */
        prepare(user, "dev", link_rel, sizeof(link_rel));
        abs_path(abs, sizeof(abs), link_rel);
        if (mknod(abs, S_IFCHR | 0666, makedev(1, 3)) == 0) {
                alarm(10);
                EXPECT_FAIL(link_rel, 0, h, STORE_BAD_PATH);
                alarm(0);
        } else {
                printf("test_store: no device test (mknod: %s)\n",
                       strerror(errno));
        }

        /*
         * A symlinked directory on the way: incoming/<user>-x is a link to
         * a directory outside holding the right document, then to the
         * user's own directory inside the store.
         */
        unit_fmt(p, sizeof(p), "%s/outdir-%s", g_tmp, user);
        REQUIRE(mkdir(p, 0755) == 0);
        unit_fmt(target, sizeof(target), "%s/f", p);
        write_file(target, "secret", 6);
        unit_fmt(link_rel, sizeof(link_rel), "incoming/%s-x", user);
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(symlink(p, abs) == 0);
        unit_fmt(link_rel, sizeof(link_rel), "incoming/%s-x/f", user);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);
        unit_fmt(link_rel, sizeof(link_rel), "incoming/%s-y", user);
        abs_path(abs, sizeof(abs), link_rel);
        REQUIRE(symlink(user, abs) == 0);
        unit_fmt(link_rel, sizeof(link_rel), "incoming/%s-y/real", user);
        EXPECT_FAIL(link_rel, 6, h, STORE_BAD_PATH);

        /* incoming/ itself swapped for a symlink to the real one. */
        abs_path(abs, sizeof(abs), "incoming");
        abs_path(p, sizeof(p), "incoming.real");
        REQUIRE(rename(abs, p) == 0);
        REQUIRE(symlink("incoming.real", abs) == 0);
        EXPECT_FAIL(rel, 6, h, STORE_BAD_PATH);
        CHECK(store_incoming_prepare(g_store, user, "later", link_rel,
                                     sizeof(link_rel), NULL, 0) == -1);
        REQUIRE(unlink(abs) == 0);
        REQUIRE(rename(p, abs) == 0);
        CHECK(stat(abs, &st) == 0 && S_ISDIR(st.st_mode));
}

static void test_prepare(void)
{
        char rel[256], abs[PATH_MAX], p[PATH_MAX], err[256] = "";
        struct stat st;
        size_t len;
        unsigned char *got;

        /* Creates incoming/<user>/ with 0777 & ~umask (022 here). */
        prepare("dave", "f1", rel, sizeof(rel));
        CHECK_STR_EQ(rel, "incoming/dave/f1");
        abs_path(abs, sizeof(abs), "incoming/dave");
        CHECK(stat(abs, &st) == 0 && S_ISDIR(st.st_mode));
        CHECK((st.st_mode & 07777) == 0755);

        /* A stale file of that name is removed; other files stay. */
        abs_path(abs, sizeof(abs), rel);
        write_file(abs, "stale", 5);
        abs_path(p, sizeof(p), "incoming/dave/other");
        write_file(p, "keep", 4);
        prepare("dave", "f1", rel, sizeof(rel));
        CHECK(!exists(abs));
        CHECK(exists(p));

        /* A stale symlink is removed, its target is not touched. */
        REQUIRE(symlink(p, abs) == 0);
        prepare("dave", "f1", rel, sizeof(rel));
        CHECK(!exists(abs));
        got = read_file(p, &len);
        CHECK_MEM_EQ(got, len, "keep", 4);
        free(got);

        /* A stale empty directory too. */
        REQUIRE(mkdir(abs, 0755) == 0);
        prepare("dave", "f1", rel, sizeof(rel));
        CHECK(!exists(abs));

        /* Names that are not single path components. */
        CHECK(store_incoming_prepare(g_store, "a/b", "f", rel, sizeof(rel), err,
                                     sizeof(err)) == -1);
        CHECK(err[0] != '\0');
        CHECK(store_incoming_prepare(g_store, "dave", "x/y", rel, sizeof(rel),
                                     NULL, 0) == -1);
        CHECK(store_incoming_prepare(g_store, "..", "f", rel, sizeof(rel), NULL,
                                     0) == -1);
        CHECK(store_incoming_prepare(g_store, ".", "f", rel, sizeof(rel), NULL,
                                     0) == -1);
        CHECK(store_incoming_prepare(g_store, "dave", "..", rel, sizeof(rel),
                                     NULL, 0) == -1);
        CHECK(store_incoming_prepare(g_store, "", "f", rel, sizeof(rel), NULL,
                                     0) == -1);
        CHECK(store_incoming_prepare(g_store, "dave", "", rel, sizeof(rel),
                                     NULL, 0) == -1);
        CHECK(store_incoming_prepare(g_store, "dave", "f1", rel, 16, NULL, 0) ==
              -1);

        /* incoming/<user> is a symlink elsewhere: refused, nothing made. */
        unit_fmt(p, sizeof(p), "%s/elsewhere", g_tmp);
        REQUIRE(mkdir(p, 0755) == 0);
        unit_fmt(abs, sizeof(abs), "%s/stale", p);
        write_file(abs, "x", 1);
        abs_path(abs, sizeof(abs), "incoming/eve");
        REQUIRE(symlink(p, abs) == 0);
        CHECK(store_incoming_prepare(g_store, "eve", "stale", rel, sizeof(rel),
                                     NULL, 0) == -1);
        unit_fmt(abs, sizeof(abs), "%s/stale", p);
        CHECK(exists(abs));
}

static void test_remove(const char *user)
{
        char rel[256], abs[PATH_MAX], p[PATH_MAX], dir[256], err[256] = "";
        size_t len;
        unsigned char *got;

        unit_fmt(rel, sizeof(rel), "incoming/%s/none", user);
        CHECK_MSG(store_remove(g_store, rel, err, sizeof(err)) == 0, err);
        CHECK(store_remove(g_store, "incoming/nobody/none", NULL, 0) == 0);
        CHECK(store_remove(g_store, "nothing", NULL, 0) == 0);

        prepare(user, "f1", rel, sizeof(rel));
        abs_path(abs, sizeof(abs), rel);
        write_file(abs, "doc", 3);
        CHECK(store_remove(g_store, rel, NULL, 0) == 0);
        CHECK(!exists(abs));
        CHECK(store_remove(g_store, rel, NULL, 0) == 0);

        /* A symlink is removed itself; its target stays. */
        unit_fmt(p, sizeof(p), "%s/keep-%s", g_tmp, user);
        write_file(p, "keep", 4);
        REQUIRE(symlink(p, abs) == 0);
        CHECK(store_remove(g_store, rel, NULL, 0) == 0);
        CHECK(!exists(abs));
        CHECK(exists(p));

        /* A symlinked directory on the way is not followed. */
        unit_fmt(dir, sizeof(dir), "%s/rmdir-%s", g_tmp, user);
        REQUIRE(mkdir(dir, 0755) == 0);
        unit_fmt(p, sizeof(p), "%s/f1", dir);
        write_file(p, "keep", 4);
        unit_fmt(rel, sizeof(rel), "incoming/%s-x", user);
        abs_path(abs, sizeof(abs), rel);
        REQUIRE(symlink(dir, abs) == 0);
        unit_fmt(rel, sizeof(rel), "incoming/%s-x/f1", user);
        err[0] = '\0';
        CHECK(store_remove(g_store, rel, err, sizeof(err)) == -1);
        CHECK(err[0] != '\0');
        got = read_file(p, &len);
        CHECK_MEM_EQ(got, len, "keep", 4);
        free(got);

        /* Not our paths. */
        unit_fmt(rel, sizeof(rel), "../rmdir-%s/f1", user);
        CHECK(store_remove(g_store, rel, NULL, 0) == -1);
        CHECK(store_remove(g_store, p, NULL, 0) == -1);
        unit_fmt(rel, sizeof(rel), "incoming/%s/", user);
        CHECK(store_remove(g_store, rel, NULL, 0) == -1);
        CHECK(store_remove(g_store, "", NULL, 0) == -1);
        CHECK(store_remove(g_store, NULL, NULL, 0) == -1);
        CHECK(exists(p));
        /* Directories are not removed. */
        unit_fmt(rel, sizeof(rel), "incoming/%s", user);
        CHECK(store_remove(g_store, rel, NULL, 0) == -1);
        abs_path(abs, sizeof(abs), rel);
        CHECK(exists(abs));
}

/*
 * The root path renamed after store_open, a decoy put in its place: the
 * store keeps working on the directory it opened.
 */
static void test_root_renamed(void)
{
        char moved[PATH_MAX], p[PATH_MAX], rel[256], obj[64], err[512] = "";
        unsigned char h[32];
        struct stat st;

        prepare("gina", "f1", rel, sizeof(rel));
        abs_path(p, sizeof(p), rel);
        write_file(p, "genuine", 7);
        sha("genuine", 7, h);
        unit_fmt(moved, sizeof(moved), "%s.moved", g_root);
        REQUIRE(rename(g_root, moved) == 0);
        REQUIRE(mkdir(g_root, 0755) == 0);
        unit_fmt(p, sizeof(p), "%s/incoming", g_root);
        REQUIRE(mkdir(p, 0755) == 0);
        unit_fmt(p, sizeof(p), "%s/incoming/gina", g_root);
        REQUIRE(mkdir(p, 0755) == 0);
        unit_fmt(p, sizeof(p), "%s/incoming/gina/f1", g_root);
        write_file(p, "decoy!!", 7);

        REQUIRE(store_object_name(obj, sizeof(obj), NULL, 0) == 0);
        CHECK_MSG(store_verify_copy(g_store, rel, obj, 7, h, err,
                                    sizeof(err)) == STORE_OK,
                  err);
        unit_fmt(p, sizeof(p), "%s/%s", moved, obj);
        CHECK(stat(p, &st) == 0 && st.st_size == 7);
        unit_fmt(p, sizeof(p), "%s/%s", g_root, obj);
        CHECK(!exists(p));
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
        (void)st;
        (void)ftw;
        return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int main(void)
{
        char err[256] = "";

        umask(022);
        unit_fmt(g_tmp, sizeof(g_tmp), "%s", "/tmp/test_store.XXXXXX");
        REQUIRE(mkdtemp(g_tmp) != NULL);
        unit_fmt(g_root, sizeof(g_root), "%s/store", g_tmp);
        g_store = store_open(g_root, err, sizeof(err));
        if (g_store == NULL)
                fprintf(stderr, "store_open: %s\n", err);
        REQUIRE(g_store != NULL);

        test_open();
        test_object_name();
        test_good_copy();
        test_replace();
        test_mismatch();
        test_bad_object_path();
        test_bad_paths();
        test_hostile("hal");
        test_prepare();
        test_remove("frank");

        /* Again without openat2: the fallback must be as strict. */
        store_test_force_walk = 1;
        test_good_copy();
        test_bad_paths();
        test_hostile("ivan");
        test_remove("jane");
        store_test_force_walk = 0;

        test_root_renamed();
        store_close(g_store);
        nftw(g_tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        return unit_done("test_store");
}

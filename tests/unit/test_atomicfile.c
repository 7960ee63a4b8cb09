/*
 * atomicfile: a file is written or replaced with exactly the bytes and
 * the mode asked for, whatever the umask; a reader holding the old file
 * keeps the old bytes; no temporary file remains after a success or a
 * failure; something planted under the temporary name is never written
 * through.
 *
 * The test supplies crypto_random() itself (atomicfile.cmake builds
 * atomicfile.c without the rest of libtds), so that the temporary name
 * of the next write is known and a symlink can be planted there.
 */
#include "atomicfile.h"
#include "crypto.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

/* Every "random" byte is this; the temporary name ends in its hex. */
#define RND_BYTE 0xab
#define RND_HEX  "abababababababab"

static char tmpdir[] = "/tmp/tds-unit-atomicfile.XXXXXX";
static int rnd_fail;

int crypto_random(void *buf, size_t len, char *err, size_t errlen)
{
        if (rnd_fail) {
                snprintf(err, errlen, "no randomness today");
                return -1;
        }
        memset(buf, RND_BYTE, len);
        return 0;
}

static const char *path_in_tmp(const char *name)
{
        static char path[PATH_MAX];

        snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
        return path;
}

static int count_entries(const char *dir)
{
        struct dirent *de;
        DIR *d;
        int n = 0;

        REQUIRE((d = opendir(dir)) != NULL);
        while ((de = readdir(d)) != NULL)
                if (strcmp(de->d_name, ".") != 0 &&
                    strcmp(de->d_name, "..") != 0)
                        n++;
        closedir(d);
        return n;
}

/* The permission bits of `path` (not following a symlink). */
static mode_t mode_of(const char *path)
{
        struct stat st;

        REQUIRE(lstat(path, &st) == 0);
        return st.st_mode & 07777;
}

/* 1 if `path` is a regular file holding exactly the `len` bytes `want`. */
static int holds(const char *path, const void *want, size_t len)
{
        char buf[4096];
        ssize_t n;
        int fd, ok;

        if ((fd = open(path, O_RDONLY | O_NOFOLLOW)) == -1)
                return 0;
        n = read(fd, buf, sizeof(buf));
        ok = n >= 0 && (size_t)n == len && memcmp(buf, want, len) == 0;
        close(fd);
        return ok;
}

static void test_write_and_replace(void)
{
        const char bin[] = "line one\n\0binary\xff\x00tail";
        char err[512] = "", path[PATH_MAX], buf[64];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s", path_in_tmp("file"));

        /* A restrictive umask does not narrow the mode asked for. */
        umask(077);
        CHECK_MSG(atomicfile_write(path, bin, sizeof(bin), 0644, 0, err,
                                   sizeof(err)) == 0,
                  err);
        CHECK(holds(path, bin, sizeof(bin)));
        CHECK(mode_of(path) == 0644);
        CHECK(count_entries(tmpdir) == 1);

        /*
         * Replace it with a shorter content and a narrower mode under an
         * empty umask; a reader that opened the old file keeps reading
         * the old bytes, all of them.
         */
        umask(0);
        REQUIRE((fd = open(path, O_RDONLY)) != -1);
        CHECK_MSG(atomicfile_write(path, "new", 3, 0600, 0, err, sizeof(err)) ==
                      0,
                  err);
        CHECK(holds(path, "new", 3));
        CHECK(mode_of(path) == 0600);
        CHECK(count_entries(tmpdir) == 1);
        n = read(fd, buf, sizeof(buf));
        CHECK_MEM_EQ(buf, n < 0 ? 0 : (size_t)n, bin, sizeof(bin));
        close(fd);

        /* An empty file is a file. */
        CHECK_MSG(atomicfile_write(path, NULL, 0, 0640, 0, err, sizeof(err)) ==
                      0,
                  err);
        CHECK(holds(path, "", 0));
        CHECK(mode_of(path) == 0640);

        /* ATOMICFILE_UMASK: the umask decides, as for open(2). */
        umask(027);
        CHECK_MSG(atomicfile_write(path, "umask", 5, 0666,
                                   ATOMICFILE_UMASK | ATOMICFILE_NOSYNC, err,
                                   sizeof(err)) == 0,
                  err);
        CHECK(holds(path, "umask", 5));
        CHECK(mode_of(path) == 0640);
        umask(0);
        CHECK_MSG(atomicfile_write(path, "umask0", 6, 0666, ATOMICFILE_UMASK,
                                   err, sizeof(err)) == 0,
                  err);
        CHECK(holds(path, "umask0", 6));
        CHECK(mode_of(path) == 0666);
        CHECK(count_entries(tmpdir) == 1);

        /* A symlink at the target is replaced, not followed. */
        REQUIRE(unlink(path) == 0);
        REQUIRE(atomicfile_write(path_in_tmp("victim"), "victim", 6, 0600, 0,
                                 err, sizeof(err)) == 0);
        REQUIRE(symlink("victim", path) == 0);
        CHECK_MSG(
            atomicfile_write(path, "mine", 4, 0600, 0, err, sizeof(err)) == 0,
            err);
        CHECK(holds(path, "mine", 4));
        CHECK(holds(path_in_tmp("victim"), "victim", 6));
        CHECK(unlink(path_in_tmp("victim")) == 0);
        CHECK(unlink(path) == 0);
        CHECK(count_entries(tmpdir) == 0);
}

/* A name without a directory lives in the current one. */
static void test_relative(void)
{
        char err[512] = "", cwd[PATH_MAX];

        REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
        REQUIRE(chdir(tmpdir) == 0);
        CHECK_MSG(
            atomicfile_write("plain", "x", 1, 0600, 0, err, sizeof(err)) == 0,
            err);
        CHECK(holds("plain", "x", 1));
        CHECK_MSG(atomicfile_sync_dir("plain", err, sizeof(err)) == 0, err);
        CHECK(unlink("plain") == 0);
        REQUIRE(chdir(cwd) == 0);
        CHECK(count_entries(tmpdir) == 0);
}

static void test_failures(void)
{
        char err[512], path[PATH_MAX];

        /* The directory is missing: the message names the file. */
        snprintf(path, sizeof(path), "%s", path_in_tmp("no-such-dir/file"));
        err[0] = '\0';
        errno = 0;
        CHECK(atomicfile_write(path, "x", 1, 0644, 0, err, sizeof(err)) == -1);
        CHECK(errno == ENOENT);
        CHECK_MSG(strstr(err, path) != NULL, err);
        CHECK(count_entries(tmpdir) == 0);
        err[0] = '\0';
        CHECK(atomicfile_sync_dir(path, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, path) != NULL, err);
        /* No buffer for the message is fine too. */
        CHECK(atomicfile_write(path, "x", 1, 0644, 0, NULL, 0) == -1);

        /* The target is a directory: rename fails, the temporary goes. */
        snprintf(path, sizeof(path), "%s", path_in_tmp("dir"));
        REQUIRE(mkdir(path, 0700) == 0);
        err[0] = '\0';
        CHECK(atomicfile_write(path, "x", 1, 0644, 0, err, sizeof(err)) == -1);
        CHECK_MSG(strstr(err, path) != NULL, err);
        CHECK(count_entries(tmpdir) == 1);
        CHECK(count_entries(path) == 0);
        CHECK(rmdir(path) == 0);

        /* No randomness, no file. */
        snprintf(path, sizeof(path), "%s", path_in_tmp("file"));
        rnd_fail = 1;
        err[0] = '\0';
        CHECK(atomicfile_write(path, "x", 1, 0644, 0, err, sizeof(err)) == -1);
        CHECK_STR_EQ(err, "no randomness today");
        rnd_fail = 0;
        CHECK(count_entries(tmpdir) == 0);
}

/*
 * A symlink planted under the temporary name (dangling, so that a plain
 * O_CREAT would create its target, or to an existing file, so that it
 * would be overwritten) is refused, left alone and not written through.
 */
static void test_planted_temp(void)
{
        char err[512], path[PATH_MAX], planted[PATH_MAX + 32];
        char victim[PATH_MAX];

        snprintf(path, sizeof(path), "%s", path_in_tmp("file"));
        snprintf(planted, sizeof(planted), "%s.tmp." RND_HEX, path);
        snprintf(victim, sizeof(victim), "%s", path_in_tmp("victim"));

        REQUIRE(symlink(victim, planted) == 0);
        err[0] = '\0';
        errno = 0;
        CHECK(atomicfile_write(path, "x", 1, 0644, 0, err, sizeof(err)) == -1);
        CHECK(errno == EEXIST);
        CHECK_MSG(strstr(err, planted) != NULL, err);
        CHECK(access(victim, F_OK) == -1 && errno == ENOENT);
        CHECK(access(path, F_OK) == -1 && errno == ENOENT);

        REQUIRE(unlink(planted) == 0);
        REQUIRE(atomicfile_write(victim, "victim", 6, 0600, 0, err,
                                 sizeof(err)) == 0);
        REQUIRE(symlink(victim, planted) == 0);
        CHECK(atomicfile_write(path, "x", 1, 0644, 0, err, sizeof(err)) == -1);
        CHECK(holds(victim, "victim", 6));
        CHECK(mode_of(victim) == 0600);
        /* Not ours: still there. */
        CHECK(readlink(planted, err, sizeof(err)) > 0);
        CHECK(access(path, F_OK) == -1 && errno == ENOENT);

        CHECK(unlink(planted) == 0);
        CHECK(unlink(victim) == 0);
        CHECK(count_entries(tmpdir) == 0);
}

int main(void)
{
        mode_t old = umask(0);

        umask(old);
        REQUIRE(mkdtemp(tmpdir) != NULL);
        test_write_and_replace();
        test_relative();
        test_failures();
        test_planted_temp();
        umask(old);
        CHECK(rmdir(tmpdir) == 0);
        return unit_done("test_atomicfile");
}

/*
 * stream: documents are hashed as they stream, never held whole.
 *
 * A document far larger than any buffer (256 MiB by default, or the MiB
 * given as argv[1]) goes the way of an upload: the client's copy into
 * the store (client/xfer.c, what `tds upload` does at step 2) and the
 * TTP's copy-while-hashing verification (ttp/store.c, step 3).  Each
 * runs in a child process whose peak RSS (VmHWM, reset just before the
 * copy through /proc/self/clear_refs) must grow by less than
 * STREAM_RSS_MAX_KB: a copy that read the file into memory, or mapped
 * it, would grow by the file's size.  A control child that does read
 * the whole file shows that the measurement sees it.
 *
 * Both hashes must be the document's, so the test also proves that the
 * streamed hash is the right one.
 */
#include "crypto.h"
#include "store.h"
#include "unit.h"
#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Far below any document size tested: buffers are 256 KiB. */
#define STREAM_RSS_MAX_KB (32 * 1024)
#define STREAM_CHUNK      (1024 * 1024)

static uint64_t g_size;
static char g_tmp[PATH_MAX];
static unsigned char g_sha[32];

/* VmHWM of this process in KiB, -1 if unreadable. */
static long peak_rss_kb(void)
{
        char line[256];
        long kb = -1;
        FILE *f = fopen("/proc/self/status", "r");

        if (f == NULL)
                return -1;
        while (fgets(line, sizeof(line), f) != NULL)
                if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
                        break;
        fclose(f);
        return kb;
}

/* Reset VmHWM to the current RSS ("5": proc(5), clear_refs). */
static int peak_rss_reset(void)
{
        int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
        int ok = fd != -1 && write(fd, "5", 1) == 1;

        if (fd != -1)
                close(fd);
        return ok ? 0 : -1;
}

/*
 * The source document: `g_size` bytes of a pattern that differs from
 * chunk to chunk, written (and hashed) one chunk at a time.
 */
static void make_document(const char *path)
{
        unsigned char *buf = malloc(STREAM_CHUNK);
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        unsigned int mdlen = 0;
        uint64_t left = g_size, chunk = 0;
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        REQUIRE(buf != NULL && md != NULL && fd != -1);
        REQUIRE(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1);
        for (size_t i = 0; i < STREAM_CHUNK; i++)
                buf[i] = (unsigned char)(i * 131 + 7);
        while (left > 0) {
                size_t n = left < STREAM_CHUNK ? (size_t)left : STREAM_CHUNK;

                memcpy(buf, &chunk, sizeof(chunk));
                REQUIRE(write(fd, buf, n) == (ssize_t)n);
                REQUIRE(EVP_DigestUpdate(md, buf, n) == 1);
                left -= n;
                chunk++;
        }
        REQUIRE(EVP_DigestFinal_ex(md, g_sha, &mdlen) == 1 && mdlen == 32);
        REQUIRE(close(fd) == 0);
        EVP_MD_CTX_free(md);
        free(buf);
}

/* What the child under measurement does; 0 when it worked. */
typedef int (*stream_job)(const void *arg, char *err, size_t errlen);

/*
 * Run `job` in a child, its peak RSS reset first; the child reports how
 * many KiB its peak RSS grew (-1: the job failed) through a pipe.
 */
static long run_measured(const char *what, stream_job job, const void *arg)
{
        char err[512] = "";
        long grew = -1;
        int p[2], status;
        pid_t pid;

        REQUIRE(pipe(p) == 0);
        REQUIRE((pid = fork()) != -1);
        if (pid == 0) {
                long before;

                close(p[0]);
                if (peak_rss_reset() == -1) {
                        fprintf(stderr, "%s: cannot reset VmHWM: %s\n", what,
                                strerror(errno));
                } else if ((before = peak_rss_kb()) == -1) {
                        fprintf(stderr, "%s: no VmHWM\n", what);
                } else if (job(arg, err, sizeof(err)) == -1) {
                        fprintf(stderr, "%s: %s\n", what, err);
                } else {
                        grew = peak_rss_kb() - before;
                }
                if (write(p[1], &grew, sizeof(grew)) != sizeof(grew))
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        if (read(p[0], &grew, sizeof(grew)) != sizeof(grew))
                grew = -1;
        close(p[0]);
        REQUIRE(waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        printf("%-40s peak RSS grew by %ld KiB for a %llu MiB document\n", what,
               grew, (unsigned long long)(g_size >> 20));
        return grew;
}

/* Control: the whole file in memory, as a copy must never do. */
static int job_read_whole(const void *arg, char *err, size_t errlen)
{
        const char *path = arg;
        unsigned char *buf = malloc((size_t)g_size + 1);
        uint64_t got = 0;
        ssize_t n = 1;
        int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (buf == NULL || fd == -1) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                free(buf);
                if (fd != -1)
                        close(fd);
                return -1;
        }
        while (n > 0 && got < g_size)
                if ((n = read(fd, buf + got, (size_t)(g_size - got))) > 0)
                        got += (uint64_t)n;
        close(fd);
        free(buf);
        return got == g_size ? 0 : -1;
}

struct client_arg {
        const char *src;
        const char *dst;
};

/* The client's step 2: the document into the store, hashed on the way. */
static int job_client_upload(const void *arg, char *err, size_t errlen)
{
        const struct client_arg *a = arg;
        unsigned char sha[CRYPTO_SHA256_LEN];
        struct xfer_out out;
        uint64_t size = 0;
        int src = open(a->src, O_RDONLY | O_CLOEXEC), ret = -1;

        if (src == -1) {
                snprintf(err, errlen, "%s: %s", a->src, strerror(errno));
                return -1;
        }
        if (xfer_out_open(&out, a->dst, err, errlen) == -1)
                goto done;
        if (xfer_copy(src, a->src, out.fd, out.tmp, "uploading", g_size, sha,
                      &size, err, errlen) == -1 ||
            xfer_out_commit(&out, 1, err, errlen) == -1) {
                xfer_out_abort(&out);
                goto done;
        }
        if (size != g_size || memcmp(sha, g_sha, sizeof(sha)) != 0) {
                snprintf(err, errlen, "the client's hash or size is wrong");
                goto done;
        }
        ret = 0;
done:
        close(src);
        return ret;
}

struct ttp_arg {
        const char *root;
        const char *incoming;
};

/* The TTP's step 3: copy while hashing, verify, publish the object. */
static int job_ttp_verify(const void *arg, char *err, size_t errlen)
{
        const struct ttp_arg *a = arg;
        char obj[64];
        struct store *s = store_open(a->root, err, errlen);
        enum store_result r = STORE_ERROR;

        if (s == NULL)
                return -1;
        if (store_object_name(obj, sizeof(obj), err, errlen) == 0)
                r = store_verify_copy(s, a->incoming, obj, g_size, g_sha, err,
                                      errlen);
        store_close(s);
        return r == STORE_OK ? 0 : -1;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

int main(int argc, char **argv)
{
        char doc[PATH_MAX], root[PATH_MAX], dst[PATH_MAX];
        const char *tmpdir = getenv("TMPDIR");
        struct client_arg ca;
        struct ttp_arg ta;
        long grew;

        g_size = (uint64_t)(argc > 1 ? strtoul(argv[1], NULL, 10) : 256) << 20;
        REQUIRE(g_size >= 4 * (uint64_t)STREAM_RSS_MAX_KB * 1024);
        unit_fmt(g_tmp, sizeof(g_tmp), "%s/tds-stream.XXXXXX",
                 tmpdir != NULL && tmpdir[0] != '\0' ? tmpdir : "/tmp");
        REQUIRE(mkdtemp(g_tmp) != NULL);
        unit_fmt(doc, sizeof(doc), "%s/document", g_tmp);
        unit_fmt(root, sizeof(root), "%s/store", g_tmp);
        unit_fmt(dst, sizeof(dst), "%s/incoming/alice/f1", root);
        make_document(doc);
        REQUIRE(mkdir(root, 0755) == 0);
        {
                char d[PATH_MAX];

                unit_fmt(d, sizeof(d), "%s/incoming", root);
                REQUIRE(mkdir(d, 0755) == 0);
                unit_fmt(d, sizeof(d), "%s/incoming/alice", root);
                REQUIRE(mkdir(d, 0755) == 0);
        }

        /* The measurement sees a whole file in memory. */
        grew =
            run_measured("control: read the whole file", job_read_whole, doc);
        CHECK(grew >= (long)(g_size >> 10) - STREAM_RSS_MAX_KB);

        ca = (struct client_arg){doc, dst};
        grew = run_measured("client: copy into the store (xfer)",
                            job_client_upload, &ca);
        CHECK(grew >= 0 && grew < STREAM_RSS_MAX_KB);

        ta = (struct ttp_arg){root, "incoming/alice/f1"};
        grew = run_measured("ttp: verify copy (store)", job_ttp_verify, &ta);
        CHECK(grew >= 0 && grew < STREAM_RSS_MAX_KB);

        nftw(g_tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return unit_done("stream");
}

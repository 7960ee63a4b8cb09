/*
 * badinput: run the bad-input corpus against a running stack (scripts/
 * tds-stack up; eval "$(scripts/tds-stack env)").  Each case is a folder
 * (tests/bad-input/README.md): the raw Kafka value, its key, the expected
 * outcome and the fixtures it needs.  For every case the harness
 *
 *   1. prepares the fixtures the case names (once per run, shared),
 *   2. fills the value's template (live users, nonces, signatures),
 *   3. snapshots the state: CHECKSUM TABLE of every base table but the
 *      three the daemon writes for any message, which are checked row by
 *      row instead (outbox, processed_messages, consumer_offsets), and a
 *      listing of the store,
 *   4. produces the value to tds.requests and waits until the daemon's
 *      stored offset has passed it,
 *   5. checks the state again: the checksums are unchanged, the outbox
 *      gained exactly the one reply expected and nothing else changed in
 *      it, processed_messages gained exactly the rejected msg_id (or
 *      nothing, for a dead letter or a msg_id already known), only the
 *      offset of the partition written to moved, the store is unchanged,
 *   6. reads that reply where the contract says it goes (the sender's
 *      partition of tds.replies, or tds.dead-letter) and compares it to
 *      the expectation and to the outbox row,
 *   7. checks the daemon still answers: a valid catalog.request of a
 *      probe user gets its catalog, and the daemon's pid is alive.
 *
 *   badinput CASES_DIR [CASE...]     run all cases, or the named ones
 *   badinput -l CASES_DIR            list the cases
 *
 * Environment: TDS_BOOTSTRAP, TDS_STORE, TDS_DB_ADMIN_CNF, TDS_RUN_DIR
 * (from tds-stack env); optional TDS_TOPIC_PREFIX (default tds) and
 * TDS_TEST_TIMEOUT_MS (default 15000 per awaited step).  Output: one line
 * per case, "ok N - NAME: OUTCOME (MS ms)" or "not ok N - NAME: why", then
 * "N passed, N failed"; exit status 1 if anything failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mysql.h>

#include "base64.h"
#include "crypto.h"
#include "hex.h"
#include "ids.h"
#include "proto_client.h"
#include "tbs.h"

#define BI_DEFAULT_TIMEOUT 15000
#define BI_FIXTURES_MAX    32
#define BI_READERS_MAX     64
#define BI_SETUP_MAX       8
#define BI_ARGS_MAX        8
#define BI_OFFSETS_MAX     256
#define BI_DEAD_VALUE_MAX  (64 * 1024)
#define BI_FILE_MAX        (4 * 1024 * 1024)
#define BI_VALUE_MAX       (20 * 1024 * 1024)
#define BI_SIG_MAX         72

/* The three tables every processed message writes (engine.c). */
static const char *const bi_bookkeeping[] = {"consumer_offsets", "outbox",
                                             "processed_messages"};

/* --- growable byte buffer ------------------------------------------------
 */

struct buf {
        unsigned char *p;
        size_t len, cap;
};

static int buf_reserve(struct buf *b, size_t more)
{
        unsigned char *p;
        size_t cap;

        if (b->len + more + 1 <= b->cap)
                return 0;
        if (b->len + more + 1 > BI_VALUE_MAX + 1024)
                return -1;
        for (cap = b->cap ? b->cap : 256; cap < b->len + more + 1; cap *= 2)
                ;
        if ((p = realloc(b->p, cap)) == NULL)
                return -1;
        b->p = p;
        b->cap = cap;
        return 0;
}

/* Appends and keeps a NUL after the bytes (not counted in len). */
static int buf_add(struct buf *b, const void *data, size_t len)
{
        if (buf_reserve(b, len) == -1)
                return -1;
        if (len > 0)
                memcpy(b->p + b->len, data, len);
        b->len += len;
        b->p[b->len] = '\0';
        return 0;
}

static int buf_adds(struct buf *b, const char *s)
{
        return buf_add(b, s, strlen(s));
}

static int buf_fill(struct buf *b, unsigned char c, size_t count)
{
        if (buf_reserve(b, count) == -1)
                return -1;
        memset(b->p + b->len, c, count);
        b->len += count;
        b->p[b->len] = '\0';
        return 0;
}

static void buf_free(struct buf *b)
{
        free(b->p);
        memset(b, 0, sizeof(*b));
}

/* --- the run ---------------------------------------------------------- */

enum role { R_ALICE, R_BOB, R_CAROL, R_DAVE, R_PROBE, R_COUNT };

static const char *const bi_roles[R_COUNT] = {"alice", "bob", "carol", "dave",
                                              "probe"};
/* carol is never registered: the unknown user. */
static const int bi_registered[R_COUNT] = {1, 1, 0, 1, 1};

struct fixture {
        char name[32];
        int uploader; /* role */
        char file_id[IDS_FILE_ID_MAX + 1];
        char data[128];
        size_t size;
        char size_dec[24];
        char sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char req_msg_id[IDS_MSG_ID_LEN + 1]; /* of its upload.request */
        char upload_nonce[64];
        char download_nonce[64]; /* bob's, when there is one */
        char incoming_path[300];
        char nro[128];
        char nro_sha256[CRYPTO_SHA256_HEX_LEN + 1];
};

struct named_reader {
        char user[IDS_USER_MAX + 1];
        struct pc_reader *r;
};

struct bi {
        struct pc *pc;
        MYSQL *db;
        const char *store;
        const char *run_dir;
        const char *bootstrap;
        const char *admin_cnf;
        int timeout_ms;
        struct pc_user users[R_COUNT];
        struct fixture fixtures[BI_FIXTURES_MAX];
        size_t nfixtures;
        struct named_reader readers[BI_READERS_MAX];
        size_t nreaders;
        struct pc_reader *dead;
        char checksum_sql[4096];
        char err[PC_ERR_MAX];
};

/* One case, as read from its folder and filled. */
struct bcase {
        char name[256];
        char dir[PATH_MAX];
        struct buf value;
        int null_value;
        struct buf key;
        int has_key;
        char kind[16]; /* error, verdict, dead-letter */
        char code[32];
        char message[512];     /* substring the reply's message must hold */
        char got_message[128]; /* the reply's, for the report */
        struct fixture *setup[BI_SETUP_MAX];
        size_t nsetup;
        /* From the filled value, for replies: sender, msg_id, file_id. */
        char user[IDS_USER_MAX + 1];
        char msg_id[IDS_MSG_ID_LEN + 1];
        char file_id[IDS_FILE_ID_MAX + 1];
        /* Template state. */
        char fresh_msg_id[IDS_MSG_ID_LEN + 1];
        char fresh_file_id[80];
};

#define ERR b->err, sizeof(b->err)

static int bi_fail(struct bi *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keep the first failure's text; always -1. */
static int bi_fail(struct bi *b, const char *fmt, ...)
{
        va_list ap;

        if (b->err[0] == '\0') {
                va_start(ap, fmt);
                vsnprintf(b->err, sizeof(b->err), fmt, ap);
                va_end(ap);
        }
        return -1;
}

/* Copy `src`, cut to fit. */
static void scopy(char *dst, size_t dstlen, const char *src)
{
        size_t n = strnlen(src, dstlen - 1);

        memcpy(dst, src, n);
        dst[n] = '\0';
}

static int64_t now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
                ;
}

#define STREQ(a, b) ((a) != NULL && (b) != NULL && strcmp((a), (b)) == 0)
#define SHOW(s)     ((s) != NULL ? (s) : "(absent)")

static void describe(const json_t *j, char *out, size_t outlen)
{
        char *text = json_dumps(j, JSON_COMPACT);

        snprintf(out, outlen, "%.600s", text != NULL ? text : "?");
        free(text);
}

/* The whole file into `out`; -1 with errno ENOENT when it does not exist. */
static int read_file(const char *path, struct buf *out)
{
        unsigned char chunk[65536];
        size_t n;
        FILE *f;
        int ret = -1;

        if ((f = fopen(path, "rb")) == NULL)
                return -1;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
                if (out->len + n > BI_FILE_MAX || buf_add(out, chunk, n) == -1)
                        goto done;
        if (ferror(f))
                goto done;
        if (out->p == NULL && buf_add(out, "", 0) == -1)
                goto done;
        ret = 0;
done:
        if (ret == -1 && errno == ENOENT)
                errno = EIO;
        fclose(f);
        return ret;
}

static int file_exists(const char *path)
{
        struct stat st;

        return lstat(path, &st) == 0;
}

/* --- database (the admin account, read-mostly) ----------------------------
 */

static int db_connect(struct bi *b)
{
        if ((b->db = mysql_init(NULL)) == NULL)
                return bi_fail(b, "mysql_init failed");
        mysql_options(b->db, MYSQL_READ_DEFAULT_FILE, b->admin_cnf);
        mysql_options(b->db, MYSQL_READ_DEFAULT_GROUP, "client");
        if (mysql_real_connect(b->db, NULL, NULL, NULL, "tds", 0, NULL, 0) ==
            NULL)
                return bi_fail(b, "MariaDB (%s): %s", b->admin_cnf,
                               mysql_error(b->db));
        if (mysql_autocommit(b->db, 1) != 0 ||
            mysql_query(b->db, "SET SESSION time_zone = '+00:00'") != 0)
                return bi_fail(b, "MariaDB session: %s", mysql_error(b->db));
        return 0;
}

typedef int (*db_row_fn)(void *arg, MYSQL_ROW row, unsigned long *lens,
                         unsigned int nfields);

/* Run `sql`, calling `fn` for each row (NULL: discard rows). */
static int db_rows(struct bi *b, const char *sql, db_row_fn fn, void *arg)
{
        MYSQL_RES *res = NULL;
        MYSQL_ROW row;
        int ret = -1;

        if (mysql_query(b->db, sql) != 0) {
                bi_fail(b, "SQL \"%.300s\": %s", sql, mysql_error(b->db));
                goto done;
        }
        if ((res = mysql_store_result(b->db)) == NULL) {
                if (mysql_field_count(b->db) == 0)
                        ret = 0;
                else
                        bi_fail(b, "SQL \"%.300s\": %s", sql,
                                mysql_error(b->db));
                goto done;
        }
        while ((row = mysql_fetch_row(res)) != NULL)
                if (fn != NULL && fn(arg, row, mysql_fetch_lengths(res),
                                     mysql_num_fields(res)) == -1) {
                        bi_fail(b, "SQL \"%.300s\": unexpected row", sql);
                        goto done;
                }
        ret = 0;
done:
        if (res != NULL)
                mysql_free_result(res);
        return ret;
}

struct db_text {
        char *out;
        size_t outlen;
        int rows;
};

/* Every field of every row as "a|b;c|d;" (NULL as \N). */
static int db_text_row(void *arg, MYSQL_ROW row, unsigned long *lens,
                       unsigned int nfields)
{
        struct db_text *t = arg;
        size_t used = strlen(t->out);

        for (unsigned int i = 0; i < nfields; i++) {
                int n = snprintf(t->out + used, t->outlen - used, "%s%.*s",
                                 i ? "|" : "", row[i] ? (int)lens[i] : 2,
                                 row[i] ? row[i] : "\\N");
                if (n < 0 || (size_t)n >= t->outlen - used)
                        return -1;
                used += (size_t)n;
        }
        if (used + 1 >= t->outlen)
                return -1;
        t->out[used++] = ';';
        t->out[used] = '\0';
        t->rows++;
        return 0;
}

static int db_text(struct bi *b, const char *sql, char *out, size_t outlen,
                   int *rows)
{
        struct db_text t = {out, outlen, 0};

        out[0] = '\0';
        if (db_rows(b, sql, db_text_row, &t) == -1)
                return -1;
        if (rows != NULL)
                *rows = t.rows;
        return 0;
}

static int db_long(struct bi *b, const char *sql, long long *v)
{
        char out[64], *end;
        int rows;

        if (db_text(b, sql, out, sizeof(out), &rows) == -1)
                return -1;
        if (rows != 1)
                return bi_fail(b, "SQL \"%s\": %d rows", sql, rows);
        out[strlen(out) - 1] = '\0'; /* the ';' */
        errno = 0;
        *v = strtoll(out, &end, 10);
        if (errno != 0 || end == out || *end != '\0')
                return bi_fail(b, "SQL \"%s\": \"%s\" is not a number", sql,
                               out);
        return 0;
}

static int db_exec(struct bi *b, const char *sql, long long want_rows)
{
        if (db_rows(b, sql, NULL, NULL) == -1)
                return -1;
        if (want_rows >= 0 &&
            (long long)mysql_affected_rows(b->db) != want_rows)
                return bi_fail(
                    b, "SQL \"%s\": %llu rows changed, not %lld", sql,
                    (unsigned long long)mysql_affected_rows(b->db), want_rows);
        return 0;
}

static int is_bookkeeping(const char *table)
{
        for (size_t i = 0; i < sizeof(bi_bookkeeping) / sizeof(*bi_bookkeeping);
             i++)
                if (strcmp(table, bi_bookkeeping[i]) == 0)
                        return 1;
        return 0;
}

struct table_list {
        struct bi *b;
        int bookkeeping;
        int others;
};

static int table_row(void *arg, MYSQL_ROW row, unsigned long *lens,
                     unsigned int nfields)
{
        struct table_list *t = arg;
        char *sql = t->b->checksum_sql;
        size_t used = strlen(sql);

        (void)lens;
        (void)nfields;
        if (is_bookkeeping(row[0])) {
                t->bookkeeping++;
                return 0;
        }
        /* The daemon's timer signs tree heads on its own schedule, so a
         * head may be added during any case.  A head only ever describes
         * log_leaves, log_nodes and log_state, which are checked. */
        if (strcmp(row[0], "tree_heads") == 0)
                return 0;
        snprintf(sql + used, sizeof(t->b->checksum_sql) - used, "%s`%s`",
                 t->others++ ? ", " : "CHECKSUM TABLE ", row[0]);
        return 0;
}

/*
 * Every base table of the schema is covered: CHECKSUM TABLE for all but
 * the bookkeeping three, so a table a later migration adds is checked
 * without anyone remembering to list it here.
 */
static int db_tables(struct bi *b)
{
        struct table_list t = {b, 0, 0};

        b->checksum_sql[0] = '\0';
        if (db_rows(b,
                    "SELECT table_name FROM information_schema.tables WHERE "
                    "table_schema = DATABASE() AND table_type = 'BASE TABLE' "
                    "ORDER BY table_name",
                    table_row, &t) == -1)
                return -1;
        if (t.bookkeeping != 3 || t.others < 7)
                return bi_fail(b,
                               "unexpected schema: %d bookkeeping tables, %d "
                               "others",
                               t.bookkeeping, t.others);
        printf("# state: %s; outbox, processed_messages and "
               "consumer_offsets row by row; tree_heads (signed on a timer) "
               "not compared\n",
               b->checksum_sql);
        return 0;
}

/* --- the state before and after a case -----------------------------------
 */

/* A 64-bit order-independent digest of a table's rows, "count:xor". */
#define ROWS_DIGEST(cols)                                                      \
        "SELECT COUNT(*), COALESCE(BIT_XOR(CAST(CONV(LEFT(SHA2(CONCAT_WS("     \
        "'|', " cols "), 256), 16), 16, 10) AS UNSIGNED)), 0) "
#define OUTBOX_COLS                                                            \
        "seq, HEX(msg_id), IFNULL(HEX(request_msg_id), '-'), HEX(topic), "     \
        "IFNULL(HEX(msg_key), '-'), SHA2(payload, 256), created_at"
#define PROCESSED_COLS "HEX(msg_id), HEX(user_id), processed_at"

struct offset_row {
        char group[128];
        char topic[256];
        long partition;
        long long next;
        char updated[40];
};

struct snap {
        char checksums[4096];
        long long outbox_max;
        char outbox_old[128];
        char processed[128]; /* without the case's msg_id */
        char processed_x[128];
        struct offset_row off[BI_OFFSETS_MAX];
        size_t noff;
        struct buf store;
};

static int offset_row(void *arg, MYSQL_ROW row, unsigned long *lens,
                      unsigned int nfields)
{
        struct snap *s = arg;
        struct offset_row *o;

        (void)lens;
        if (nfields != 5 || s->noff == BI_OFFSETS_MAX)
                return -1;
        o = &s->off[s->noff++];
        snprintf(o->group, sizeof(o->group), "%s", row[0]);
        snprintf(o->topic, sizeof(o->topic), "%s", row[1]);
        o->partition = strtol(row[2], NULL, 10);
        o->next = strtoll(row[3], NULL, 10);
        snprintf(o->updated, sizeof(o->updated), "%s", row[4]);
        return 0;
}

static int line_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lines "path type mode size mtime [-> target]" of everything under dir. */
static int store_walk(const char *root, const char *rel, char ***lines,
                      size_t *n, size_t *cap)
{
        char path[PATH_MAX], child[PATH_MAX], line[PATH_MAX * 2 + 128];
        char target[PATH_MAX];
        struct dirent *de;
        struct stat st;
        DIR *d;
        int ret = -1;

        snprintf(path, sizeof(path), "%s%s%s", root, rel[0] ? "/" : "", rel);
        if ((d = opendir(path)) == NULL)
                return -1;
        while ((de = readdir(d)) != NULL) {
                char type = '?';
                ssize_t tl = 0;

                if (strcmp(de->d_name, ".") == 0 ||
                    strcmp(de->d_name, "..") == 0)
                        continue;
                if ((size_t)snprintf(child, sizeof(child), "%s%s%s", rel,
                                     rel[0] ? "/" : "",
                                     de->d_name) >= sizeof(child) ||
                    (size_t)snprintf(path, sizeof(path), "%s/%s", root,
                                     child) >= sizeof(path)) {
                        errno = ENAMETOOLONG;
                        goto done;
                }
                if (lstat(path, &st) == -1)
                        goto done;
                if (S_ISREG(st.st_mode))
                        type = 'f';
                else if (S_ISDIR(st.st_mode))
                        type = 'd';
                else if (S_ISLNK(st.st_mode)) {
                        type = 'l';
                        tl = readlink(path, target, sizeof(target) - 1);
                } else if (S_ISFIFO(st.st_mode))
                        type = 'p';
                target[tl > 0 ? tl : 0] = '\0';
                /* A directory's size and times move when an entry comes
                 * and goes (the TTP's temporary copy): its entries are
                 * listed themselves. */
                if (type == 'd')
                        snprintf(line, sizeof(line), "%s d %04o", child,
                                 (unsigned)(st.st_mode & 07777));
                else
                        snprintf(
                            line, sizeof(line),
                            "%s %c %04o %lld %lld.%09ld%s%s", child, type,
                            (unsigned)(st.st_mode & 07777),
                            (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                            st.st_mtim.tv_nsec, tl > 0 ? " -> " : "", target);
                if (*n == *cap) {
                        size_t nc = *cap ? *cap * 2 : 64;
                        char **nl = realloc(*lines, nc * sizeof(*nl));
                        if (nl == NULL)
                                goto done;
                        *lines = nl;
                        *cap = nc;
                }
                if (((*lines)[*n] = strdup(line)) == NULL)
                        goto done;
                (*n)++;
                if (type == 'd' && store_walk(root, child, lines, n, cap) == -1)
                        goto done;
        }
        ret = 0;
done:
        closedir(d);
        return ret;
}

static int store_listing(struct bi *b, struct buf *out)
{
        char **lines = NULL;
        size_t n = 0, cap = 0;
        int ret = -1;

        out->len = 0;
        if (store_walk(b->store, "", &lines, &n, &cap) == -1) {
                bi_fail(b, "cannot list the store %s: %s", b->store,
                        strerror(errno));
                goto done;
        }
        qsort(lines, n, sizeof(*lines), line_cmp);
        for (size_t i = 0; i < n; i++)
                if (buf_adds(out, lines[i]) == -1 || buf_adds(out, "\n") == -1)
                        goto done;
        if (buf_add(out, "", 0) == -1)
                goto done;
        ret = 0;
done:
        for (size_t i = 0; i < n; i++)
                free(lines[i]);
        free(lines);
        return ret;
}

/*
 * The state: with `before` NULL this is the snapshot before the case and
 * outbox_max is read; after the case, the outbox digest covers the rows
 * that existed before (sent_at excepted: the relay marks a row sent after
 * its delivery report, at any time).  `x` is the msg_id the rejected
 * message may have added to processed_messages (NULL for none).
 */
static int snap_take(struct bi *b, struct snap *s, const struct snap *before,
                     const char *x)
{
        char sql[1024], excl[128] = "";
        int rows;

        s->noff = 0;
        if (db_text(b, b->checksum_sql, s->checksums, sizeof(s->checksums),
                    NULL) == -1)
                return -1;
        if (before == NULL) {
                if (db_long(b, "SELECT COALESCE(MAX(seq), 0) FROM outbox",
                            &s->outbox_max) == -1)
                        return -1;
        } else
                s->outbox_max = before->outbox_max;
        snprintf(sql, sizeof(sql),
                 ROWS_DIGEST(OUTBOX_COLS) "FROM outbox WHERE seq <= %lld",
                 s->outbox_max);
        if (db_text(b, sql, s->outbox_old, sizeof(s->outbox_old), NULL) == -1)
                return -1;
        if (x != NULL) {
                if (ids_check_msg_id(x, NULL, 0) == -1)
                        return bi_fail(b, "msg_id \"%s\" is not 32 hex", x);
                snprintf(excl, sizeof(excl), " WHERE msg_id <> UNHEX('%s')", x);
                snprintf(sql, sizeof(sql),
                         "SELECT user_id FROM processed_messages WHERE msg_id "
                         "= UNHEX('%s')",
                         x);
                if (db_text(b, sql, s->processed_x, sizeof(s->processed_x),
                            &rows) == -1)
                        return -1;
        } else
                s->processed_x[0] = '\0';
        snprintf(sql, sizeof(sql),
                 ROWS_DIGEST(PROCESSED_COLS) "FROM processed_messages%s", excl);
        if (db_text(b, sql, s->processed, sizeof(s->processed), NULL) == -1)
                return -1;
        if (db_rows(b,
                    "SELECT group_id, topic, partition_id, next_offset, "
                    "updated_at FROM consumer_offsets ORDER BY group_id, "
                    "topic, partition_id",
                    offset_row, s) == -1)
                return -1;
        return store_listing(b, &s->store);
}

/* The first line where two store listings differ. */
static void store_diff(const struct buf *a, const struct buf *c, char *out,
                       size_t outlen)
{
        const char *p = (const char *)a->p, *q = (const char *)c->p;

        while (*p != '\0' && *q != '\0') {
                const char *pe = strchr(p, '\n'), *qe = strchr(q, '\n');
                if (pe - p != qe - q || memcmp(p, q, (size_t)(pe - p)) != 0)
                        break;
                p = pe + 1;
                q = qe + 1;
        }
        snprintf(out, outlen, "before: \"%.*s\", after: \"%.*s\"",
                 (int)(strchr(p, '\n') ? strchr(p, '\n') - p : 0), p,
                 (int)(strchr(q, '\n') ? strchr(q, '\n') - q : 0), q);
}

/* --- users, readers, protocol steps ---------------------------------------
 */

static struct pc_reader *reader_of(struct bi *b, const char *user)
{
        struct named_reader *nr;

        for (size_t i = 0; i < b->nreaders; i++)
                if (strcmp(b->readers[i].user, user) == 0)
                        return b->readers[i].r;
        if (b->nreaders == BI_READERS_MAX) {
                bi_fail(b, "more than %d reply readers", BI_READERS_MAX);
                return NULL;
        }
        nr = &b->readers[b->nreaders];
        snprintf(nr->user, sizeof(nr->user), "%s", user);
        nr->r =
            pc_reader_new(b->bootstrap, pc_topics(b->pc)->replies, user, ERR);
        if (nr->r == NULL)
                return NULL;
        b->nreaders++;
        return nr->r;
}

static int role_of(const char *name)
{
        for (int i = 0; i < R_COUNT; i++)
                if (strcmp(bi_roles[i], name) == 0)
                        return i;
        return -1;
}

/* The role whose run name is `user`, or -1. */
static int role_of_user(const struct bi *b, const char *user)
{
        for (int i = 0; i < R_COUNT; i++)
                if (user != NULL && strcmp(b->users[i].name, user) == 0)
                        return i;
        return -1;
}

/* Send a request of `role` and wait for the reply of `type` (and, with
 * `file_id`, about that file); an error in reply fails at once. */
static json_t *step(struct bi *b, int role, const char *type, json_t *body,
                    const char *want, const char *file_id, char *msg_id_out)
{
        struct pc_user *u = &b->users[role];
        struct pc_match m = {want, file_id, NULL, NULL};
        struct pc_reader *r;
        json_t *env, *reply = NULL;

        if ((r = reader_of(b, u->name)) == NULL) {
                json_decref(body);
                return NULL;
        }
        if ((env = pc_request_new(u, type, body, 0, ERR)) == NULL)
                return NULL;
        if (msg_id_out != NULL)
                snprintf(msg_id_out, IDS_MSG_ID_LEN + 1, "%s",
                         pc_str(env, "msg_id"));
        if (pc_send_json(b->pc, env, NULL, ERR) == 0)
                reply = pc_reader_wait(r, &m, pc_str(env, "msg_id"),
                                       b->timeout_ms, ERR);
        json_decref(env);
        return reply;
}

static int user_register(struct bi *b, int role)
{
        json_t *res;
        struct pc_user *u = &b->users[role];

        res = step(b, role, "register",
                   json_pack("{s:s}", "public_key", u->spki_b64),
                   "register.result", NULL, NULL);
        if (res == NULL)
                return -1;
        if (!STREQ(pc_str(pc_body(res), "key_id"), u->key_id))
                return bi_fail(b, "register %s: key_id %s, expected %s",
                               u->name, SHOW(pc_str(pc_body(res), "key_id")),
                               u->key_id);
        return 0;
}

static int probe(struct bi *b)
{
        return step(b, R_PROBE, "catalog.request", json_object(), "catalog",
                    NULL, NULL) != NULL
                   ? 0
                   : -1;
}

static pid_t daemon_pid(struct bi *b)
{
        char path[PATH_MAX], text[32] = "";
        FILE *f;

        snprintf(path, sizeof(path), "%s/ttp/ttpd.pid", b->run_dir);
        if ((f = fopen(path, "r")) == NULL)
                return -1;
        if (fgets(text, sizeof(text), f) == NULL)
                text[0] = '\0';
        fclose(f);
        return (pid_t)strtol(text, NULL, 10);
}

static int daemon_alive(struct bi *b)
{
        pid_t pid = daemon_pid(b);

        return pid > 0 && kill(pid, 0) == 0;
}

/* --- fixtures -------------------------------------------------------------
 */

static int sign_text(struct bi *b, int role, const char *tbs, size_t len,
                     char *out, size_t outlen)
{
        char *sig = pc_sign_b64(b->users[role].key, tbs, len, ERR);

        if (sig == NULL)
                return -1;
        snprintf(out, outlen, "%s", sig);
        free(sig);
        return 0;
}

static int store_write(struct bi *b, const char *rel, const void *data,
                       size_t len)
{
        char path[PATH_MAX];
        int fd;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/%s", b->store, rel);
        if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1)
                return bi_fail(b, "%s: %s", path, strerror(errno));
        n = write(fd, data, len);
        close(fd);
        if (n != (ssize_t)len)
                return bi_fail(b, "%s: short write", path);
        return 0;
}

/* Step 1 and 2: an upload of fx by its uploader, challenged. */
static int fx_request(struct bi *b, struct fixture *fx)
{
        json_t *ch;

        if (ids_uuid_new(fx->file_id + 3, ERR) == -1)
                return -1;
        memcpy(fx->file_id, "bi-", 3);
        {
                char data[sizeof(fx->data) + 128];
                snprintf(data, sizeof(data),
                         "bad-input corpus, fixture %s, file %s\n", fx->name,
                         fx->file_id);
                /* The document's content; cut to fit, it is only data. */
                memset(fx->data, 0, sizeof(fx->data));
                memcpy(fx->data, data, strnlen(data, sizeof(fx->data) - 1));
        }
        fx->size = strlen(fx->data);
        snprintf(fx->size_dec, sizeof(fx->size_dec), "%zu", fx->size);
        if (crypto_sha256_hex(fx->data, fx->size, fx->sha256, ERR) == -1)
                return -1;
        ch = step(b, fx->uploader, "upload.request",
                  json_pack("{s:s, s:s, s:I}", "file_id", fx->file_id, "name",
                            fx->name, "size", (json_int_t)fx->size),
                  "upload.challenge", fx->file_id, fx->req_msg_id);
        if (ch == NULL)
                return -1;
        snprintf(fx->upload_nonce, sizeof(fx->upload_nonce), "%s",
                 SHOW(pc_str(pc_body(ch), "nonce")));
        snprintf(fx->incoming_path, sizeof(fx->incoming_path), "%s",
                 SHOW(pc_str(pc_body(ch), "incoming_path")));
        return 0;
}

static int fx_place(struct bi *b, struct fixture *fx)
{
        return store_write(b, fx->incoming_path, fx->data, fx->size);
}

/* Step 3: the NRO and the commit, verified. */
static int fx_commit(struct bi *b, struct fixture *fx)
{
        struct tbs_nro f = {fx->file_id, b->users[fx->uploader].name,
                            fx->sha256, fx->size_dec, fx->upload_nonce};
        char *tbs = NULL;
        size_t len;
        json_t *res;
        int ret = -1;

        if (tbs_nro(&f, &tbs, &len, ERR) == -1 ||
            sign_text(b, fx->uploader, tbs, len, fx->nro, sizeof(fx->nro)) ==
                -1 ||
            pc_sha256_hex_b64(fx->nro, fx->nro_sha256, ERR) == -1)
                goto done;
        res = step(b, fx->uploader, "upload.commit",
                   json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "file_id",
                             fx->file_id, "nonce", fx->upload_nonce, "path",
                             fx->incoming_path, "sha256", fx->sha256, "size",
                             (json_int_t)fx->size, "nro", fx->nro),
                   "upload.result", fx->file_id, NULL);
        if (res == NULL)
                goto done;
        if (!json_is_true(json_object_get(pc_body(res), "verified"))) {
                bi_fail(b, "fixture %s: upload not verified", fx->name);
                goto done;
        }
        ret = 0;
done:
        free(tbs);
        return ret;
}

/* Steps 4 and 5 by bob. */
static int fx_download_request(struct bi *b, struct fixture *fx)
{
        json_t *ch;

        ch = step(b, R_BOB, "download.request",
                  json_pack("{s:s}", "file_id", fx->file_id),
                  "download.challenge", fx->file_id, NULL);
        if (ch == NULL)
                return -1;
        snprintf(fx->download_nonce, sizeof(fx->download_nonce), "%s",
                 SHOW(pc_str(pc_body(ch), "nonce")));
        return 0;
}

/* Step 6 by bob, and steps 7 and 8. */
static int fx_receipt(struct bi *b, struct fixture *fx)
{
        struct tbs_nrr f = {fx->file_id, b->users[R_BOB].name, fx->sha256,
                            fx->nro_sha256, fx->download_nonce};
        struct pc_match m = {"receipt", fx->file_id, NULL, fx->download_nonce};
        struct pc_reader *ra;
        char *tbs = NULL, nrr[128];
        size_t len;
        int ret = -1;

        if (tbs_nrr(&f, &tbs, &len, ERR) == -1 ||
            sign_text(b, R_BOB, tbs, len, nrr, sizeof(nrr)) == -1)
                goto done;
        if (step(b, R_BOB, "download.receipt",
                 json_pack("{s:s, s:s, s:s}", "file_id", fx->file_id, "nonce",
                           fx->download_nonce, "nrr", nrr),
                 "delivery", fx->file_id, NULL) == NULL)
                goto done;
        if ((ra = reader_of(b, b->users[fx->uploader].name)) == NULL ||
            pc_reader_wait(ra, &m, NULL, b->timeout_ms, ERR) == NULL)
                goto done;
        ret = 0;
done:
        free(tbs);
        return ret;
}

/* Push the nonce's expiry back to its issue: expired now, swept only
 * sweep_grace (an hour) later. */
static int fx_expire(struct bi *b, const char *table, const char *column,
                     const char *value_sql)
{
        char sql[512];

        snprintf(sql, sizeof(sql),
                 "UPDATE %s SET expires_at = issued_at WHERE %s = %s", table,
                 column, value_sql);
        return db_exec(b, sql, 1);
}

static int nonce_hex(struct bi *b, const char *b64, char *hex, size_t hexlen)
{
        unsigned char *bin = NULL;
        size_t len = 0;

        if (base64_decode(b64, strlen(b64), &bin, &len, ERR) == -1)
                return -1;
        hex_encode(bin, len, hex, hexlen);
        free(bin);
        return 0;
}

static int make_fixture(struct bi *b, struct fixture *fx)
{
        const char *n = fx->name;
        char path[PATH_MAX], aux[PATH_MAX + 16], sql[256], hex[80];

        fx->uploader = strcmp(n, "symlink-dir") == 0 ? R_DAVE : R_ALICE;
        if (fx_request(b, fx) == -1)
                return -1;
        snprintf(path, sizeof(path), "%s/%s", b->store, fx->incoming_path);
        if (strcmp(n, "ongoing") == 0)
                return fx_place(b, fx);
        if (strcmp(n, "expired-upload") == 0) {
                snprintf(sql, sizeof(sql), "'%s'", fx->file_id);
                if (fx_place(b, fx) == -1)
                        return -1;
                return fx_expire(b, "uploads_ongoing", "file_id", sql);
        }
        if (strcmp(n, "missing") == 0)
                return 0;
        if (strcmp(n, "symlink") == 0) {
                /* A good copy beside it, and the issued name links to it. */
                char real[sizeof(fx->incoming_path) + 8];
                snprintf(real, sizeof(real), "%s.real", fx->incoming_path);
                snprintf(aux, sizeof(aux), "%s.real", path);
                if (store_write(b, real, fx->data, fx->size) == -1)
                        return -1;
                if (symlink(aux, path) == -1)
                        return bi_fail(b, "symlink %s: %s", path,
                                       strerror(errno));
                return 0;
        }
        if (strcmp(n, "symlink-dir") == 0) {
                /* incoming/<dave> itself becomes a link to the real one. */
                char dir[PATH_MAX];
                if (fx_place(b, fx) == -1)
                        return -1;
                snprintf(dir, sizeof(dir), "%s/incoming/%s", b->store,
                         b->users[R_DAVE].name);
                snprintf(aux, sizeof(aux), "%s.real", dir);
                if (rename(dir, aux) == -1 || symlink(aux, dir) == -1)
                        return bi_fail(b, "symlink %s: %s", dir,
                                       strerror(errno));
                return 0;
        }
        if (strcmp(n, "fifo") == 0) {
                if (mkfifo(path, 0644) == -1)
                        return bi_fail(b, "mkfifo %s: %s", path,
                                       strerror(errno));
                return 0;
        }
        if (strcmp(n, "dir") == 0) {
                if (mkdir(path, 0755) == -1)
                        return bi_fail(b, "mkdir %s: %s", path,
                                       strerror(errno));
                return 0;
        }
        /* The rest are completed uploads. */
        if (fx_place(b, fx) == -1 || fx_commit(b, fx) == -1)
                return -1;
        if (strcmp(n, "uploaded") == 0)
                return 0;
        if (fx_download_request(b, fx) == -1)
                return -1;
        if (strcmp(n, "pending") == 0)
                return 0;
        if (strcmp(n, "expired-download") == 0) {
                if (nonce_hex(b, fx->download_nonce, hex, sizeof(hex)) == -1)
                        return -1;
                snprintf(sql, sizeof(sql), "UNHEX('%s')", hex);
                return fx_expire(b, "downloads_ongoing", "nonce", sql);
        }
        if (fx_receipt(b, fx) == -1)
                return -1;
        if (strcmp(n, "downloaded") == 0)
                return 0;
        if (strcmp(n, "aborted") == 0) {
                /* A second download left pending, then outcome 3. */
                struct pc_match m = {"download.cancelled", fx->file_id, NULL,
                                     NULL};
                struct pc_reader *rb;
                json_t *res;

                if (fx_download_request(b, fx) == -1)
                        return -1;
                res = step(b, fx->uploader, "abort",
                           json_pack("{s:s}", "file_id", fx->file_id),
                           "abort.result", fx->file_id, NULL);
                if (res == NULL)
                        return -1;
                if (json_integer_value(
                        json_object_get(pc_body(res), "abort")) != 3)
                        return bi_fail(b, "fixture aborted: outcome is not 3");
                if ((rb = reader_of(b, b->users[R_BOB].name)) == NULL ||
                    pc_reader_wait(rb, &m, NULL, b->timeout_ms, ERR) == NULL)
                        return -1;
                return 0;
        }
        return bi_fail(b, "unknown fixture \"%s\"", n);
}

static const char *const bi_fixture_names[] = {"ongoing",
                                               "uploaded",
                                               "pending",
                                               "downloaded",
                                               "aborted",
                                               "expired-upload",
                                               "expired-download",
                                               "symlink",
                                               "symlink-dir",
                                               "fifo",
                                               "dir",
                                               "missing"};

/* The fixture `name`, made on first use. */
static struct fixture *fixture_get(struct bi *b, const char *name)
{
        struct fixture *fx;
        size_t i;

        for (i = 0; i < b->nfixtures; i++)
                if (strcmp(b->fixtures[i].name, name) == 0)
                        return &b->fixtures[i];
        for (i = 0; i < sizeof(bi_fixture_names) / sizeof(*bi_fixture_names);
             i++)
                if (strcmp(bi_fixture_names[i], name) == 0)
                        break;
        if (i == sizeof(bi_fixture_names) / sizeof(*bi_fixture_names)) {
                bi_fail(b, "unknown fixture \"%s\"", name);
                return NULL;
        }
        if (b->nfixtures == BI_FIXTURES_MAX) {
                bi_fail(b, "too many fixtures");
                return NULL;
        }
        fx = &b->fixtures[b->nfixtures];
        memset(fx, 0, sizeof(*fx));
        scopy(fx->name, sizeof(fx->name), name);
        if (make_fixture(b, fx) == -1) {
                char why[PC_ERR_MAX];
                snprintf(why, sizeof(why), "%s", b->err);
                b->err[0] = '\0';
                bi_fail(b, "fixture %s: %s", name, why);
                return NULL;
        }
        b->nfixtures++;
        return fx;
}

/* --- templates ------------------------------------------------------------
 */

/* Split `tok` ("NAME:a:b") in place at ':'; returns the count. */
static int tok_split(char *tok, char **args, int max)
{
        int n = 0;
        char *p = tok;

        args[n++] = p;
        while (n < max && (p = strchr(p, ':')) != NULL) {
                *p++ = '\0';
                args[n++] = p;
        }
        return n;
}

static struct fixture *case_fixture(struct bi *b, struct bcase *c,
                                    const char *name)
{
        for (size_t i = 0; i < c->nsetup; i++)
                if (strcmp(c->setup[i]->name, name) == 0)
                        return c->setup[i];
        bi_fail(b, "template uses fixture \"%s\", which is not in setup", name);
        return NULL;
}

static int is_deferred(const char *name)
{
        return strcmp(name, "SIG") == 0 || strcmp(name, "NRO") == 0 ||
               strcmp(name, "NRR") == 0 || strcmp(name, "PAD") == 0;
}

/*
 * Expand one placeholder that needs no parsing of the value (section
 * "Placeholders" of README.md) into `out`.
 */
static int tmpl_simple(struct bi *b, struct bcase *c, char *tok,
                       struct buf *out)
{
        char *args[BI_ARGS_MAX], copy[1024];
        int n, role;
        struct fixture *fx;
        const char *v = NULL;

        snprintf(copy, sizeof(copy), "%s", tok);
        n = tok_split(copy, args, BI_ARGS_MAX);
        if (strcmp(args[0], "MSGID") == 0 && n == 1)
                return buf_adds(out, c->fresh_msg_id);
        if (strcmp(args[0], "NEWFILE") == 0 && n == 1)
                return buf_adds(out, c->fresh_file_id);
        if (strcmp(args[0], "STORE") == 0 && n == 1)
                return buf_adds(out, b->store);
        if ((strcmp(args[0], "USER") == 0 || strcmp(args[0], "PUBKEY") == 0 ||
             strcmp(args[0], "KEYID") == 0) &&
            n == 2) {
                if ((role = role_of(args[1])) == -1)
                        return bi_fail(b, "@%s@: no user %s", tok, args[1]);
                v = args[0][0] == 'U'   ? b->users[role].name
                    : args[0][0] == 'P' ? b->users[role].spki_b64
                                        : b->users[role].key_id;
                return buf_adds(out, v);
        }
        if ((strcmp(args[0], "FILE") == 0 || strcmp(args[0], "UNONCE") == 0 ||
             strcmp(args[0], "DNONCE") == 0 || strcmp(args[0], "PATH") == 0 ||
             strcmp(args[0], "SHA") == 0 || strcmp(args[0], "SIZE") == 0 ||
             strcmp(args[0], "REQID") == 0 || strcmp(args[0], "NROSIG") == 0) &&
            n == 2) {
                if ((fx = case_fixture(b, c, args[1])) == NULL)
                        return -1;
                if (strcmp(args[0], "FILE") == 0)
                        v = fx->file_id;
                else if (strcmp(args[0], "UNONCE") == 0)
                        v = fx->upload_nonce;
                else if (strcmp(args[0], "DNONCE") == 0)
                        v = fx->download_nonce;
                else if (strcmp(args[0], "PATH") == 0)
                        v = fx->incoming_path;
                else if (strcmp(args[0], "SHA") == 0)
                        v = fx->sha256;
                else if (strcmp(args[0], "SIZE") == 0)
                        v = fx->size_dec;
                else if (strcmp(args[0], "REQID") == 0)
                        v = fx->req_msg_id;
                else
                        v = fx->nro;
                if (v[0] == '\0')
                        return bi_fail(b, "@%s@: fixture %s has none", tok,
                                       args[1]);
                return buf_adds(out, v);
        }
        if (strcmp(args[0], "HEX") == 0 && n == 2) {
                unsigned char bin[512];
                size_t len;
                if (hex_decode(args[1], strlen(args[1]), HEX_ANY_CASE, bin,
                               sizeof(bin), &len, ERR) == -1)
                        return -1;
                return buf_add(out, bin, len);
        }
        if (strcmp(args[0], "REPEAT") == 0 && n == 3) {
                long count = strtol(args[1], NULL, 10);
                if (count < 1 || count > BI_VALUE_MAX)
                        return bi_fail(b, "@%s@: bad count", tok);
                for (long i = 0; i < count; i++)
                        if (buf_adds(out, args[2]) == -1)
                                return bi_fail(b, "@%s@: too long", tok);
                return 0;
        }
        if (strcmp(args[0], "RANDB64") == 0 && n == 2) {
                unsigned char rnd[512];
                long len = strtol(args[1], NULL, 10);
                char *b64;
                int rc;
                if (len < 1 || len > (long)sizeof(rnd) ||
                    crypto_random(rnd, (size_t)len, ERR) == -1)
                        return bi_fail(b, "@%s@: bad length", tok);
                if ((b64 = base64_encode(rnd, (size_t)len)) == NULL)
                        return bi_fail(b, "out of memory");
                rc = buf_adds(out, b64);
                free(b64);
                return rc;
        }
        return bi_fail(b, "unknown placeholder @%s@", tok);
}

/*
 * A deferred placeholder is copied for pass 2, with the references
 * {NAME:arg} in its arguments expanded as @NAME:arg@ would be.
 */
static int tmpl_deferred(struct bi *b, struct bcase *c, const char *tok,
                         struct buf *out)
{
        const char *p = tok, *open, *close;
        char inner[256];

        if (buf_adds(out, "@") == -1)
                return bi_fail(b, "out of memory");
        while ((open = strchr(p, '{')) != NULL) {
                if ((close = strchr(open, '}')) == NULL ||
                    (size_t)(close - open) >= sizeof(inner))
                        return bi_fail(b, "@%s@: unterminated {", tok);
                snprintf(inner, sizeof(inner), "%.*s", (int)(close - open - 1),
                         open + 1);
                if (buf_add(out, p, (size_t)(open - p)) == -1 ||
                    tmpl_simple(b, c, inner, out) == -1)
                        return -1;
                p = close + 1;
        }
        if (buf_adds(out, p) == -1 || buf_adds(out, "@") == -1)
                return bi_fail(b, "out of memory");
        return 0;
}

/*
 * Pass 1: every placeholder but the deferred ones (@SIG@, @NRO@, @NRR@,
 * @PAD@) is expanded; those are kept as they are, and a literal '@'
 * (written "@@") stays "@@", so that pass 2 can still tell them apart.
 */
static int tmpl_pass1(struct bi *b, struct bcase *c, const struct buf *in,
                      struct buf *out)
{
        const char *p = (const char *)in->p, *end = p + in->len;

        out->len = 0;
        if (buf_add(out, "", 0) == -1)
                return bi_fail(b, "out of memory");
        while (p < end) {
                const char *at = memchr(p, '@', (size_t)(end - p)), *close;
                char tok[1024], name[32];

                if (at == NULL) {
                        if (buf_add(out, p, (size_t)(end - p)) == -1)
                                return bi_fail(b, "out of memory");
                        break;
                }
                if (buf_add(out, p, (size_t)(at - p)) == -1)
                        return bi_fail(b, "out of memory");
                if (at + 1 < end && at[1] == '@') {
                        if (buf_adds(out, "@@") == -1)
                                return bi_fail(b, "out of memory");
                        p = at + 2;
                        continue;
                }
                close = memchr(at + 1, '@', (size_t)(end - at - 1));
                if (close == NULL || (size_t)(close - at) >= sizeof(tok))
                        return bi_fail(b,
                                       "unterminated placeholder at byte "
                                       "%zu",
                                       (size_t)(at - (const char *)in->p));
                memcpy(tok, at + 1, (size_t)(close - at - 1));
                tok[close - at - 1] = '\0';
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(tok, ":"),
                         tok);
                if (is_deferred(name)) {
                        if (tmpl_deferred(b, c, tok, out) == -1)
                                return -1;
                } else if (tmpl_simple(b, c, tok, out) == -1)
                        return -1;
                p = close + 1;
        }
        return 0;
}

/* Re-encode a DER signature as the case asks. */
static int sig_encode(struct bi *b, const char *enc, unsigned char *der,
                      size_t *len)
{
        if (enc == NULL)
                return 0;
        if (strcmp(enc, "ber") == 0) {
                /* The SEQUENCE length in the long form: BER, not DER. */
                memmove(der + 2, der + 1, *len - 1);
                der[1] = 0x81;
                (*len)++;
                return 0;
        }
        if (strcmp(enc, "trailing") == 0) {
                der[(*len)++] = 0x00;
                return 0;
        }
        if (strcmp(enc, "flip") == 0) {
                der[*len - 1] ^= 0x01;
                return 0;
        }
        return bi_fail(b, "unknown enc=%s", enc);
}

/*
 * One signature placeholder: @SIG@ (envelope sig, request TBS), @NRO@,
 * @NRR@, with args "signer" (a role; default the envelope's user) and
 * "field=value" overrides of the TBS fields, or enc=ber|trailing|flip.
 */
static int tmpl_sign(struct bi *b, const json_t *env, char *tok,
                     struct buf *out)
{
        char *args[BI_ARGS_MAX], *tbs = NULL, *b64 = NULL;
        const json_t *body = pc_body(env);
        const char *enc = NULL, *type = pc_str(env, "type");
        char pkhash[CRYPTO_SHA256_HEX_LEN + 1] = "", size_dec[32] = "";
        const char *sha = NULL, *nro_sha = NULL;
        unsigned char *der = NULL;
        size_t tbslen = 0, derlen = 0;
        int n, role, ret = -1, tries, is_sig, is_nro, is_nrr;
        struct tbs_request rq;
        struct tbs_nro no;
        struct tbs_nrr nr;

        n = tok_split(tok, args, BI_ARGS_MAX);
        is_sig = strcmp(args[0], "SIG") == 0;
        is_nro = strcmp(args[0], "NRO") == 0;
        is_nrr = strcmp(args[0], "NRR") == 0;
        role = n > 1 && args[1][0] != '\0'
                   ? role_of(args[1])
                   : role_of_user(b, pc_str(env, "user"));
        if (role == -1) {
                bi_fail(b,
                        "@%s@: no signer (the value %s; name one of the "
                        "fixture users)",
                        args[0],
                        env == NULL ? "is not a JSON object"
                                    : "names no fixture user");
                goto done;
        }
        if (json_is_integer(json_object_get(body, "size")))
                snprintf(size_dec, sizeof(size_dec), "%" JSON_INTEGER_FORMAT,
                         json_integer_value(json_object_get(body, "size")));
        if (STREQ(type, "register") && pc_str(body, "public_key") != NULL)
                pc_sha256_hex_b64(pc_str(body, "public_key"), pkhash, NULL, 0);
        for (size_t i = 0; i < b->nfixtures; i++)
                if (STREQ(b->fixtures[i].file_id, pc_str(body, "file_id"))) {
                        sha = b->fixtures[i].sha256;
                        nro_sha = b->fixtures[i].nro_sha256;
                }
        rq = (struct tbs_request){
            type, pc_str(env, "msg_id"), pc_str(env, "user"),
            STREQ(type, "register") || STREQ(type, "catalog.request")
                ? NULL
                : pc_str(body, "file_id"),
            pkhash[0] ? pkhash : NULL};
        no = (struct tbs_nro){pc_str(body, "file_id"), pc_str(env, "user"),
                              pc_str(body, "sha256"), size_dec,
                              pc_str(body, "nonce")};
        nr = (struct tbs_nrr){pc_str(body, "file_id"), pc_str(env, "user"), sha,
                              nro_sha, pc_str(body, "nonce")};
        for (int i = 2; i < n; i++) {
                char *eq = strchr(args[i], '=');
                const char *k = args[i], *v;

                if (eq == NULL) {
                        bi_fail(b, "@%s@: \"%s\" is not field=value", args[0],
                                args[i]);
                        goto done;
                }
                *eq = '\0';
                v = eq + 1;
                if (strcmp(k, "enc") == 0)
                        enc = v;
                else if (is_sig && strcmp(k, "type") == 0)
                        rq.type = v;
                else if (is_sig && strcmp(k, "msg_id") == 0)
                        rq.msg_id = v;
                else if (is_sig && strcmp(k, "user") == 0)
                        rq.user = v;
                else if (is_sig && strcmp(k, "file_id") == 0)
                        rq.file_id = v;
                else if (is_sig && strcmp(k, "public_key_sha256") == 0)
                        rq.public_key_sha256 = v;
                else if (strcmp(k, "file_id") == 0)
                        no.file_id = nr.file_id = v;
                else if (strcmp(k, "sha256") == 0)
                        no.sha256 = nr.sha256 = v;
                else if (strcmp(k, "nonce") == 0)
                        no.nonce = nr.nonce = v;
                else if (is_nro && strcmp(k, "size") == 0)
                        no.size = v;
                else if (is_nro && strcmp(k, "uploader") == 0)
                        no.uploader = v;
                else if (is_nrr && strcmp(k, "downloader") == 0)
                        nr.downloader = v;
                else if (is_nrr && strcmp(k, "nro_sha256") == 0)
                        nr.nro_sha256 = v;
                else {
                        bi_fail(b, "@%s@: unknown field %s", args[0], k);
                        goto done;
                }
        }
        if (is_sig)
                ret = tbs_request(&rq, &tbs, &tbslen, ERR);
        else if (is_nro)
                ret = tbs_nro(&no, &tbs, &tbslen, ERR);
        else if (is_nrr)
                ret = tbs_nrr(&nr, &tbs, &tbslen, ERR);
        if (ret == -1) {
                bi_fail(b, "@%s@: no TBS: %s", args[0], b->err);
                goto done;
        }
        ret = -1;
        /* A re-encoding one byte longer must still fit 72 bytes, so that
         * only the encoding is wrong: sign again until it does. */
        for (tries = 0; tries < 64; tries++) {
                free(der);
                der = NULL;
                if (crypto_sign(b->users[role].key, tbs, tbslen, &der, &derlen,
                                ERR) == -1)
                        goto done;
                if (enc == NULL || strcmp(enc, "flip") == 0 ||
                    derlen < BI_SIG_MAX)
                        break;
        }
        {
                unsigned char sig[BI_SIG_MAX + 2];
                memcpy(sig, der, derlen);
                if (sig_encode(b, enc, sig, &derlen) == -1)
                        goto done;
                if ((b64 = base64_encode(sig, derlen)) == NULL)
                        goto done;
        }
        ret = buf_adds(out, b64);
done:
        free(tbs);
        free(der);
        free(b64);
        return ret;
}

/* Pass 2: "@@" to '@', signatures over the parsed value, then @PAD:N@. */
static int tmpl_pass2(struct bi *b, const struct buf *in, struct buf *out)
{
        const char *p, *end = (const char *)in->p + in->len;
        struct buf plain = {0};
        json_t *env = NULL;
        json_error_t jerr;
        size_t pad_at = 0;
        long pad_total = -1;
        int ret = -1, need_json;

        need_json = memmem(in->p, in->len, "@SIG", 4) != NULL ||
                    memmem(in->p, in->len, "@NRO", 4) != NULL ||
                    memmem(in->p, in->len, "@NRR", 4) != NULL;
        if (need_json) {
                /* The value with the signature tokens left in their strings
                 * and no padding: what the signatures are computed from. */
                for (p = (const char *)in->p; p < end; p++) {
                        if (*p == '@' && p + 1 < end && p[1] == '@') {
                                p++;
                        } else if (*p == '@' && end - p > 5 &&
                                   memcmp(p, "@PAD:", 5) == 0) {
                                p = memchr(p + 1, '@', (size_t)(end - p - 1));
                                continue;
                        }
                        if (buf_add(&plain, p, 1) == -1)
                                goto done;
                }
                /* Not an object (on purpose): the signature placeholders
                 * then name their signer and give their fields. */
                env = json_loadb((const char *)plain.p, plain.len, 0, &jerr);
                if (env != NULL && !json_is_object(env)) {
                        json_decref(env);
                        env = NULL;
                }
        }
        out->len = 0;
        if (buf_add(out, "", 0) == -1)
                goto done;
        for (p = (const char *)in->p; p < end;) {
                const char *at = memchr(p, '@', (size_t)(end - p)), *close;
                char tok[1024];

                if (at == NULL) {
                        if (buf_add(out, p, (size_t)(end - p)) == -1)
                                goto done;
                        break;
                }
                if (buf_add(out, p, (size_t)(at - p)) == -1)
                        goto done;
                if (at + 1 < end && at[1] == '@') {
                        if (buf_adds(out, "@") == -1)
                                goto done;
                        p = at + 2;
                        continue;
                }
                /* pass 1 left only whole placeholders */
                close = memchr(at + 1, '@', (size_t)(end - at - 1));
                snprintf(tok, sizeof(tok), "%.*s", (int)(close - at - 1),
                         at + 1);
                if (strncmp(tok, "PAD:", 4) == 0) {
                        if (pad_total != -1) {
                                bi_fail(b, "more than one @PAD@");
                                goto done;
                        }
                        pad_total = strtol(tok + 4, NULL, 10);
                        pad_at = out->len;
                } else if (tmpl_sign(b, env, tok, out) == -1)
                        goto done;
                p = close + 1;
        }
        if (pad_total != -1) {
                size_t tail = out->len - pad_at, fill;
                if (pad_total < (long)out->len || pad_total > BI_VALUE_MAX) {
                        bi_fail(b, "@PAD:%ld@: the value is %zu bytes already",
                                pad_total, out->len);
                        goto done;
                }
                fill = (size_t)pad_total - out->len;
                if (buf_fill(out, ' ', fill) == -1)
                        goto done;
                memmove(out->p + pad_at + fill, out->p + pad_at, tail);
                memset(out->p + pad_at, ' ', fill);
        }
        ret = 0;
done:
        if (ret == -1 && b->err[0] == '\0')
                bi_fail(b, "out of memory");
        json_decref(env);
        buf_free(&plain);
        return ret;
}

static int tmpl_fill(struct bi *b, struct bcase *c, struct buf *io)
{
        struct buf mid = {0};
        int ret = -1;

        if (tmpl_pass1(b, c, io, &mid) == 0 && tmpl_pass2(b, &mid, io) == 0)
                ret = 0;
        buf_free(&mid);
        return ret;
}

/* --- cases ---------------------------------------------------------------- */

static void case_free(struct bcase *c)
{
        buf_free(&c->value);
        buf_free(&c->key);
}

static void trim(char *s)
{
        size_t n = strlen(s);

        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
                         s[n - 1] == ' ' || s[n - 1] == '\t'))
                s[--n] = '\0';
}

static int case_expect(struct bi *b, struct bcase *c, const char *path)
{
        char line[1024];
        FILE *f;
        int ret = -1;

        if ((f = fopen(path, "r")) == NULL)
                return bi_fail(b, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f) != NULL) {
                trim(line);
                if (line[0] == '\0' || line[0] == '#')
                        continue;
                if (strncmp(line, "message ", 8) == 0) {
                        scopy(c->message, sizeof(c->message), line + 8);
                        continue;
                }
                if (c->kind[0] != '\0' ||
                    sscanf(line, "%15s %31s", c->kind, c->code) != 2 ||
                    !(strcmp(c->kind, "error") == 0 ||
                      strcmp(c->kind, "verdict") == 0 ||
                      strcmp(c->kind, "dead-letter") == 0)) {
                        bi_fail(b, "%s: cannot read \"%s\"", path, line);
                        goto done;
                }
        }
        if (c->kind[0] == '\0') {
                bi_fail(b, "%s: no outcome", path);
                goto done;
        }
        ret = 0;
done:
        fclose(f);
        return ret;
}

static int case_setup(struct bi *b, struct bcase *c, const char *path)
{
        char line[256];
        FILE *f;
        int ret = -1;

        if ((f = fopen(path, "r")) == NULL)
                return errno == ENOENT
                           ? 0
                           : bi_fail(b, "%s: %s", path, strerror(errno));
        while (fgets(line, sizeof(line), f) != NULL) {
                trim(line);
                if (line[0] == '\0' || line[0] == '#')
                        continue;
                if (c->nsetup == BI_SETUP_MAX) {
                        bi_fail(b, "%s: too many fixtures", path);
                        goto done;
                }
                if ((c->setup[c->nsetup] = fixture_get(b, line)) == NULL)
                        goto done;
                c->nsetup++;
        }
        ret = 0;
done:
        fclose(f);
        return ret;
}

/* Read the case's folder, prepare its fixtures, fill its templates. */
static int case_load(struct bi *b, struct bcase *c)
{
        char path[PATH_MAX + 32];
        int nvalues = 0;
        json_t *env;
        json_error_t jerr;

        snprintf(path, sizeof(path), "%s/expect", c->dir);
        if (case_expect(b, c, path) == -1)
                return -1;
        snprintf(path, sizeof(path), "%s/setup", c->dir);
        if (case_setup(b, c, path) == -1)
                return -1;
        if (ids_msg_id_new(c->fresh_msg_id, ERR) == -1 ||
            ids_uuid_new(c->fresh_file_id + 3, ERR) == -1)
                return -1;
        memcpy(c->fresh_file_id, "bi-", 3);

        snprintf(path, sizeof(path), "%s/value", c->dir);
        if (file_exists(path)) {
                nvalues++;
                if (read_file(path, &c->value) == -1)
                        return bi_fail(b, "%s: %s", path, strerror(errno));
        }
        snprintf(path, sizeof(path), "%s/value.tmpl", c->dir);
        if (file_exists(path)) {
                nvalues++;
                if (read_file(path, &c->value) == -1)
                        return bi_fail(b, "%s: %s", path, strerror(errno));
                /* One trailing newline is the editor's, not the value's. */
                if (c->value.len > 0 && c->value.p[c->value.len - 1] == '\n')
                        c->value.p[--c->value.len] = '\0';
                if (tmpl_fill(b, c, &c->value) == -1)
                        return -1;
        }
        snprintf(path, sizeof(path), "%s/value.null", c->dir);
        if (file_exists(path)) {
                nvalues++;
                c->null_value = 1;
        }
        if (nvalues != 1)
                return bi_fail(b,
                               "%s: needs exactly one of value, "
                               "value.tmpl, value.null",
                               c->dir);

        snprintf(path, sizeof(path), "%s/key", c->dir);
        if (file_exists(path)) {
                c->has_key = 1;
                if (read_file(path, &c->key) == -1)
                        return bi_fail(b, "%s: %s", path, strerror(errno));
        }
        snprintf(path, sizeof(path), "%s/key.tmpl", c->dir);
        if (file_exists(path)) {
                if (c->has_key)
                        return bi_fail(b, "%s: both key and key.tmpl", c->dir);
                c->has_key = 1;
                if (read_file(path, &c->key) == -1)
                        return bi_fail(b, "%s: %s", path, strerror(errno));
                trim((char *)c->key.p);
                c->key.len = strlen((char *)c->key.p);
                if (tmpl_fill(b, c, &c->key) == -1)
                        return -1;
        }

        /* Who must be answered: the value's own user and msg_id. */
        if (strcmp(c->kind, "dead-letter") != 0) {
                env = c->null_value ? NULL
                                    : json_loadb((const char *)c->value.p,
                                                 c->value.len, 0, &jerr);
                if (env != NULL) {
                        snprintf(c->user, sizeof(c->user), "%s",
                                 SHOW(pc_str(env, "user")));
                        snprintf(c->msg_id, sizeof(c->msg_id), "%s",
                                 SHOW(pc_str(env, "msg_id")));
                        snprintf(c->file_id, sizeof(c->file_id), "%s",
                                 pc_str(pc_body(env), "file_id")
                                     ? pc_str(pc_body(env), "file_id")
                                     : "");
                        json_decref(env);
                }
                if (ids_check_user(c->user, NULL, 0) == -1 ||
                    ids_check_msg_id(c->msg_id, NULL, 0) == -1)
                        return bi_fail(b, "expects a reply to the sender, but "
                                          "the value has no valid user and "
                                          "msg_id");
        }
        return 0;
}

/* --- running a case -------------------------------------------------------
 */

struct outbox_row {
        char msg_id[40];
        char request_msg_id[40];
        char topic[64];
        char key[IDS_USER_MAX + 8];
        int key_null;
        json_t *payload;
        int rows;
};

static int outbox_new_row(void *arg, MYSQL_ROW row, unsigned long *lens,
                          unsigned int nfields)
{
        struct outbox_row *o = arg;
        json_error_t jerr;

        if (nfields != 5)
                return -1;
        if (o->rows++ > 0)
                return 0; /* counted; the first is described */
        snprintf(o->msg_id, sizeof(o->msg_id), "%s", row[0]);
        for (char *p = o->msg_id; *p; p++)
                if (*p >= 'A' && *p <= 'F')
                        *p = (char)(*p - 'A' + 'a');
        snprintf(o->request_msg_id, sizeof(o->request_msg_id), "%s",
                 row[1] ? row[1] : "NULL");
        for (char *p = o->request_msg_id; *p && row[1]; p++)
                if (*p >= 'A' && *p <= 'F')
                        *p = (char)(*p - 'A' + 'a');
        snprintf(o->topic, sizeof(o->topic), "%s", row[2]);
        o->key_null = row[3] == NULL;
        snprintf(o->key, sizeof(o->key), "%.*s", row[3] ? (int)lens[3] : 0,
                 row[3] ? row[3] : "");
        o->payload = json_loadb(row[4], lens[4], 0, &jerr);
        return 0;
}

/* The row's payload, short, for a failure message (static buffer). */
static const char *describe_row(const struct outbox_row *o)
{
        static char text[700];

        describe(o->payload, text, sizeof(text));
        return text;
}

/* The daemon's stored offset of the partition has passed `offset`. */
static int wait_processed(struct bi *b, const struct pc_sent *sent)
{
        char sql[512];
        long long next = -1;
        int64_t deadline = now_ms() + b->timeout_ms;

        snprintf(sql, sizeof(sql),
                 "SELECT COALESCE(MAX(next_offset), -1) FROM consumer_offsets "
                 "WHERE topic = '%s' AND partition_id = %d",
                 pc_topics(b->pc)->requests, (int)sent->partition);
        for (;;) {
                if (db_long(b, sql, &next) == -1)
                        return -1;
                if (next > sent->offset)
                        return 0;
                if (now_ms() > deadline)
                        return bi_fail(b,
                                       "the daemon did not process [%d] "
                                       "offset %lld within %d ms (stored "
                                       "offset %lld)%s",
                                       (int)sent->partition,
                                       (long long)sent->offset, b->timeout_ms,
                                       next,
                                       daemon_alive(b) ? ""
                                                       : "; the daemon is "
                                                         "gone");
                sleep_ms(10);
        }
}

struct dl_want {
        const char *topic;
        int32_t partition;
        int64_t offset;
};

static int dead_letter_pred(const json_t *msg, void *arg)
{
        const struct dl_want *w = arg;
        const json_t *p = json_object_get(msg, "partition");
        const json_t *o = json_object_get(msg, "offset");

        return STREQ(pc_str(msg, "topic"), w->topic) && json_is_integer(p) &&
               json_integer_value(p) == w->partition && json_is_integer(o) &&
               json_integer_value(o) == w->offset;
}

static int msg_id_pred(const json_t *msg, void *arg)
{
        return STREQ(pc_str(msg, "msg_id"), (const char *)arg);
}

/* The reply on Kafka, checked against the expectation. */
static int check_reply(struct bi *b, struct bcase *c,
                       const struct pc_sent *sent, const struct outbox_row *o)
{
        char got[1024];
        const json_t *msg, *body;
        const char *text;

        if (strcmp(c->kind, "dead-letter") == 0) {
                struct dl_want w = {pc_topics(b->pc)->requests, sent->partition,
                                    sent->offset};
                unsigned char *bin = NULL;
                size_t binlen = 0, want = c->value.len > BI_DEAD_VALUE_MAX
                                              ? BI_DEAD_VALUE_MAX
                                              : c->value.len;
                int same;

                if (strcmp(o->topic, "dead-letter") != 0 || !o->key_null ||
                    strcmp(o->request_msg_id, "NULL") != 0)
                        return bi_fail(b,
                                       "expected a dead letter; the outbox "
                                       "row is to %s, key %s",
                                       o->topic, o->key_null ? "NULL" : o->key);
                msg = pc_reader_wait_fn(b->dead, dead_letter_pred, &w,
                                        b->timeout_ms, ERR);
                if (msg == NULL)
                        return bi_fail(b, "no dead letter on Kafka");
                describe(msg, got, sizeof(got));
                if (!STREQ(pc_str(msg, "reason"), c->code))
                        return bi_fail(b,
                                       "dead letter reason %s, expected %s: "
                                       "%s",
                                       SHOW(pc_str(msg, "reason")), c->code,
                                       got);
                if (!json_equal((json_t *)msg, o->payload))
                        return bi_fail(b, "the dead letter on Kafka is not the "
                                          "outbox row");
                if (!json_is_integer(json_object_get(msg, "v")) ||
                    json_integer_value(json_object_get(msg, "v")) != 1)
                        return bi_fail(b, "dead letter v is not 1: %s", got);
                if (!c->has_key) {
                        if (!json_is_null(json_object_get(msg, "key_b64")))
                                return bi_fail(b,
                                               "key_b64 is not null for a "
                                               "record without key: %s",
                                               got);
                } else {
                        size_t kwant = c->key.len > BI_DEAD_VALUE_MAX
                                           ? BI_DEAD_VALUE_MAX
                                           : c->key.len;
                        same =
                            pc_b64_decode(json_object_get(msg, "key_b64"), &bin,
                                          &binlen) == 0 &&
                            binlen == kwant &&
                            (kwant == 0 || memcmp(bin, c->key.p, kwant) == 0);
                        free(bin);
                        bin = NULL;
                        if (!same)
                                return bi_fail(b,
                                               "key_b64 is not the "
                                               "first %zu bytes of the "
                                               "record's key: %s",
                                               kwant, got);
                }
                same = pc_b64_decode(json_object_get(msg, "value_b64"), &bin,
                                     &binlen) == 0 &&
                       binlen == want &&
                       (want == 0 || memcmp(bin, c->value.p, want) == 0);
                free(bin);
                if (!same)
                        return bi_fail(b,
                                       "value_b64 is not the first %zu "
                                       "bytes of the value: %s",
                                       want, got);
                text = pc_str(msg, "message");
        } else {
                struct pc_reader *r = reader_of(b, c->user);
                const char *want_type =
                    strcmp(c->kind, "error") == 0 ? "error" : "upload.result";

                if (r == NULL)
                        return -1;
                if (strcmp(o->topic, "replies") != 0 || o->key_null ||
                    strcmp(o->key, c->user) != 0)
                        return bi_fail(b,
                                       "expected a reply to %s; the outbox "
                                       "row is to %s, key %s",
                                       c->user, o->topic,
                                       o->key_null ? "NULL" : o->key);
                msg = pc_reader_wait_fn(r, msg_id_pred, (void *)o->msg_id,
                                        b->timeout_ms, ERR);
                if (msg == NULL)
                        return bi_fail(b,
                                       "the reply %s (outbox) did not reach "
                                       "%s's partition: %s",
                                       o->msg_id, c->user, b->err);
                describe(msg, got, sizeof(got));
                if (!json_equal((json_t *)msg, o->payload))
                        return bi_fail(b, "the reply on Kafka is not the "
                                          "outbox row");
                body = pc_body(msg);
                if (!STREQ(pc_str(msg, "type"), want_type))
                        return bi_fail(b, "expected %s %s, got %s", c->kind,
                                       c->code, got);
                if (strcmp(c->kind, "error") == 0) {
                        if (!STREQ(pc_str(body, "code"), c->code) ||
                            !STREQ(pc_str(body, "in_reply_to"), c->msg_id))
                                return bi_fail(b,
                                               "expected error %s in reply "
                                               "to %s, got %s",
                                               c->code, c->msg_id, got);
                        text = pc_str(body, "message");
                } else {
                        if (!STREQ(pc_str(body, "file_id"), c->file_id) ||
                            !json_is_false(json_object_get(body, "verified")) ||
                            !STREQ(pc_str(body, "reason"), c->code))
                                return bi_fail(b,
                                               "expected upload.result "
                                               "verified:false reason %s for "
                                               "%s, got %s",
                                               c->code, c->file_id, got);
                        text = "";
                }
        }
        scopy(c->got_message, sizeof(c->got_message), text ? text : "");
        if (c->message[0] != '\0' &&
            (text == NULL || strstr(text, c->message) == NULL))
                return bi_fail(b, "the message \"%s\" lacks \"%s\"", SHOW(text),
                               c->message);
        return 0;
}

/*
 * The state after against the state before (see the comment at the top):
 * what a rejected message may change, and exactly how.
 */
static int check_state(struct bi *b, struct bcase *c,
                       const struct pc_sent *sent, const struct snap *s0,
                       const struct snap *s1, struct outbox_row *o)
{
        const char *requests = pc_topics(b->pc)->requests;
        int dead = strcmp(c->kind, "dead-letter") == 0;
        int recorded = !dead && s0->processed_x[0] == '\0';
        char sql[256], diff[2 * PATH_MAX];
        size_t i, j;

        if (strcmp(s0->checksums, s1->checksums) != 0)
                return bi_fail(b, "the tables changed: before [%s] after [%s]",
                               s0->checksums, s1->checksums);
        if (strcmp(s0->outbox_old, s1->outbox_old) != 0)
                return bi_fail(b,
                               "outbox rows that existed before changed "
                               "(count:digest %s -> %s)",
                               s0->outbox_old, s1->outbox_old);
        snprintf(sql, sizeof(sql),
                 "SELECT HEX(msg_id), HEX(request_msg_id), topic, msg_key, "
                 "payload FROM outbox WHERE seq > %lld ORDER BY seq",
                 s0->outbox_max);
        if (db_rows(b, sql, outbox_new_row, o) == -1)
                return -1;
        if (o->rows != 1 || o->payload == NULL)
                return bi_fail(
                    b, "the outbox gained %d rows, not one reply%s", o->rows,
                    o->rows == 1 ? " (its payload is not JSON)" : "");
        if (dead != (strcmp(o->topic, "dead-letter") == 0))
                return bi_fail(b, "expected %s, the daemon queued %s (%s)",
                               dead ? "a dead letter" : "a reply",
                               dead ? "a reply" : "a dead letter",
                               describe_row(o));
        /* A rejected message is recorded, so that its retry is answered
         * the same; unless its msg_id was known (a retry, or another
         * user's id: then nothing is recorded and the reply answers no
         * recorded request). */
        if (strcmp(s0->processed, s1->processed) != 0)
                return bi_fail(b,
                               "processed_messages changed beyond the "
                               "case's msg_id (%s -> %s)",
                               s0->processed, s1->processed);
        if (recorded) {
                char want[80];
                snprintf(want, sizeof(want), "%s;", c->user);
                if (strcmp(s1->processed_x, want) != 0)
                        return bi_fail(b,
                                       "processed_messages has \"%s\" for "
                                       "%s, expected the row of %s",
                                       s1->processed_x, c->msg_id, c->user);
                if (strcmp(o->request_msg_id, c->msg_id) != 0)
                        return bi_fail(b,
                                       "the reply's outbox row answers %s, "
                                       "not %s",
                                       o->request_msg_id, c->msg_id);
        } else {
                if (strcmp(s0->processed_x, s1->processed_x) != 0)
                        return bi_fail(b,
                                       "processed_messages: %s went from "
                                       "\"%s\" to \"%s\"",
                                       c->msg_id, s0->processed_x,
                                       s1->processed_x);
                if (strcmp(o->request_msg_id, "NULL") != 0)
                        return bi_fail(b,
                                       "the reply's outbox row answers %s, "
                                       "but nothing was recorded",
                                       o->request_msg_id);
        }
        /* Offsets: only the partition written to, to just past the value. */
        for (i = 0; i < s1->noff; i++) {
                const struct offset_row *a = &s1->off[i], *p = NULL;
                int ours = strcmp(a->topic, requests) == 0 &&
                           a->partition == sent->partition;

                for (j = 0; j < s0->noff; j++)
                        if (strcmp(s0->off[j].group, a->group) == 0 &&
                            strcmp(s0->off[j].topic, a->topic) == 0 &&
                            s0->off[j].partition == a->partition)
                                p = &s0->off[j];
                if (ours && a->next != sent->offset + 1)
                        return bi_fail(b,
                                       "consumer_offsets %s [%ld] is %lld, "
                                       "expected %lld",
                                       a->topic, a->partition, a->next,
                                       (long long)sent->offset + 1);
                if (!ours && (p == NULL || p->next != a->next ||
                              strcmp(p->updated, a->updated) != 0))
                        return bi_fail(b,
                                       "consumer_offsets %s [%ld] changed "
                                       "(%lld -> %lld)",
                                       a->topic, a->partition, p ? p->next : -1,
                                       a->next);
        }
        if (s1->noff < s0->noff)
                return bi_fail(b, "consumer_offsets lost rows");
        if (strcmp((const char *)s0->store.p, (const char *)s1->store.p) != 0) {
                store_diff(&s0->store, &s1->store, diff, sizeof(diff));
                return bi_fail(b, "the store changed: %s", diff);
        }
        return 0;
}

static int case_run(struct bi *b, struct bcase *c, char *outcome, size_t outlen)
{
        struct snap s0, s1;
        struct outbox_row o;
        struct pc_sent sent;
        int ret = -1;
        const char *x;

        memset(&s0, 0, sizeof(s0));
        memset(&s1, 0, sizeof(s1));
        memset(&o, 0, sizeof(o));
        if (case_load(b, c) == -1)
                goto done;
        x = strcmp(c->kind, "dead-letter") == 0 ? NULL : c->msg_id;
        if (snap_take(b, &s0, NULL, x) == -1)
                goto done;
        if (pc_send_raw(b->pc, c->has_key ? c->key.p : NULL, c->key.len,
                        c->null_value ? NULL : c->value.p,
                        c->null_value ? 0 : c->value.len, &sent, ERR) == -1)
                goto done;
        if (wait_processed(b, &sent) == -1)
                goto done;
        if (snap_take(b, &s1, &s0, x) == -1)
                goto done;
        if (check_state(b, c, &sent, &s0, &s1, &o) == -1)
                goto done;
        if (check_reply(b, c, &sent, &o) == -1)
                goto done;
        snprintf(outcome, outlen, "%s %s \"%s\", %zu bytes", c->kind, c->code,
                 c->got_message, c->null_value ? 0 : c->value.len);
        ret = 0;
done:
        json_decref(o.payload);
        buf_free(&s0.store);
        buf_free(&s1.store);
        return ret;
}

/* --- main ----------------------------------------------------------------- */

static int case_filter(const struct dirent *de)
{
        return de->d_name[0] != '.';
}

static int bi_init(struct bi *b)
{
        const char *prefix = getenv("TDS_TOPIC_PREFIX");
        const char *timeout = getenv("TDS_TEST_TIMEOUT_MS");

        b->bootstrap = getenv("TDS_BOOTSTRAP");
        b->store = getenv("TDS_STORE");
        b->admin_cnf = getenv("TDS_DB_ADMIN_CNF");
        b->run_dir = getenv("TDS_RUN_DIR");
        b->timeout_ms = timeout ? atoi(timeout) : BI_DEFAULT_TIMEOUT;
        if (b->timeout_ms <= 0)
                b->timeout_ms = BI_DEFAULT_TIMEOUT;
        if (b->bootstrap == NULL || b->store == NULL || b->admin_cnf == NULL ||
            b->run_dir == NULL)
                return bi_fail(b, "set TDS_BOOTSTRAP, TDS_STORE, "
                                  "TDS_DB_ADMIN_CNF and TDS_RUN_DIR "
                                  "(eval \"$(scripts/tds-stack env)\")");
        if ((b->pc = pc_new(b->bootstrap, prefix ? prefix : "tds", ERR)) ==
                NULL ||
            db_connect(b) == -1 || db_tables(b) == -1)
                return -1;
        b->dead = pc_reader_new(b->bootstrap, pc_topics(b->pc)->dead_letter,
                                NULL, ERR);
        if (b->dead == NULL)
                return -1;
        for (int i = 0; i < R_COUNT; i++) {
                if (pc_user_init(&b->users[i], bi_roles[i], ERR) == -1)
                        return -1;
                if (bi_registered[i] && user_register(b, i) == -1)
                        return -1;
        }
        return probe(b);
}

static void bi_fini(struct bi *b)
{
        for (size_t i = 0; i < b->nreaders; i++)
                pc_reader_free(b->readers[i].r);
        pc_reader_free(b->dead);
        for (int i = 0; i < R_COUNT; i++)
                pc_user_fini(&b->users[i]);
        pc_free(b->pc);
        if (b->db != NULL)
                mysql_close(b->db);
}

static int wanted(const char *name, int argc, char **argv, int first)
{
        if (first >= argc)
                return 1;
        for (int i = first; i < argc; i++)
                if (strcmp(argv[i], name) == 0)
                        return 1;
        return 0;
}

int main(int argc, char **argv)
{
        struct bi *b = NULL;
        struct dirent **names = NULL;
        int n, list = 0, first = 1, passed = 0, failed = 0, number = 0;
        const char *dir;
        int64_t t0 = now_ms();

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (argc > 1 && strcmp(argv[1], "-l") == 0) {
                list = 1;
                first = 2;
        }
        if (first >= argc) {
                fprintf(stderr, "usage: badinput [-l] CASES_DIR [CASE...]\n");
                return 2;
        }
        dir = argv[first++];
        if ((n = scandir(dir, &names, case_filter, alphasort)) < 0) {
                fprintf(stderr, "badinput: %s: %s\n", dir, strerror(errno));
                return 2;
        }
        if (list) {
                for (int i = 0; i < n; i++)
                        printf("%s\n", names[i]->d_name);
                goto out;
        }
        if ((b = calloc(1, sizeof(*b))) == NULL)
                return 2;
        if (bi_init(b) == -1) {
                printf("not ok 0 - setup: %s\n", b->err);
                failed = 1;
                goto out;
        }
        for (int i = 0; i < n; i++) {
                struct bcase c;
                char outcome[256] = "", why[PC_ERR_MAX];
                int live;
                int64_t t = now_ms();
                int rc;

                if (!wanted(names[i]->d_name, argc, argv, first))
                        continue;
                number++;
                memset(&c, 0, sizeof(c));
                snprintf(c.name, sizeof(c.name), "%s", names[i]->d_name);
                snprintf(c.dir, sizeof(c.dir), "%s/%s", dir, c.name);
                b->err[0] = '\0';
                rc = case_run(b, &c, outcome, sizeof(outcome));
                /* Whatever happened, the daemon must still answer. */
                snprintf(why, sizeof(why), "%s", b->err);
                b->err[0] = '\0';
                if (!daemon_alive(b))
                        bi_fail(b, "the daemon's pid is gone");
                else
                        probe(b);
                live = b->err[0] == '\0';
                if (rc == 0 && live) {
                        passed++;
                        printf("ok %d - %s: %s (%lld ms)\n", number, c.name,
                               outcome, (long long)(now_ms() - t));
                } else {
                        failed++;
                        printf("not ok %d - %s: %s%s%s%s\n", number, c.name,
                               rc == 0 ? "" : why, rc == 0 || live ? "" : "; ",
                               live ? "" : "liveness: ", live ? "" : b->err);
                }
                case_free(&c);
                if (!live) {
                        printf("# the daemon no longer answers: the "
                               "remaining cases are not run\n");
                        break;
                }
        }
        printf("# %d fixtures, %.1f s\n", b ? (int)b->nfixtures : 0,
               (double)(now_ms() - t0) / 1000.0);
out:
        if (!list)
                printf("%d passed, %d failed\n", passed, failed);
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        if (b != NULL) {
                bi_fini(b);
                free(b);
        }
        return failed ? 1 : 0;
}

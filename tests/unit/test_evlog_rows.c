/*
 * evlog_rows: the evidence log's rows of a batch reach the database
 * exactly once, in order, with their values; a rollback to a savepoint
 * forgets exactly the rows appended after its mark; a failed write
 * keeps them queued; nothing leaks (ASan).
 *
 * The test supplies db_exec_bulk() itself (evlog_rows.cmake builds
 * evlog_rows.c without the daemon's db.c) and records what it was
 * given, as the database would have stored it.
 */
#include "db.h"
#include "evlog_rows.h"
#include "unit.h"

#define MAX_STORED 64

/* What the fake database holds, per table. */
static struct {
        uint64_t index;
        char event[16], file_id[32], leaf[64];
        size_t leaf_len;
        unsigned char hash[32];
        int64_t appended;
} leaves[MAX_STORED];
static struct {
        int64_t level, index;
        unsigned char hash[32];
} nodes[MAX_STORED];
static size_t nstored_leaves, nstored_nodes, bulk_calls;
static int fail_next;

static void copy_str(char *dst, size_t cap, const struct db_val *v)
{
        size_t n = v->len < cap - 1 ? v->len : cap - 1;
        memcpy(dst, v->ptr, n);
        dst[n] = '\0';
}

int db_exec_bulk(struct db *db, enum db_stmt stmt, const struct db_val *params,
                 size_t nparams, size_t nrows, uint64_t *affected, char *err,
                 size_t errlen)
{
        (void)db;
        bulk_calls++;
        if (fail_next) {
                fail_next = 0;
                snprintf(err, errlen, "database: lost connection");
                return -1;
        }
        REQUIRE(stmt == DB_LOG_LEAF_ADD || stmt == DB_LOG_NODE_ADD);
        for (size_t r = 0; r < nrows; r++) {
                const struct db_val *v = &params[r * nparams];
                if (stmt == DB_LOG_LEAF_ADD) {
                        REQUIRE(nparams == 6 && nstored_leaves < MAX_STORED);
                        leaves[nstored_leaves].index = (uint64_t)v[0].i;
                        copy_str(leaves[nstored_leaves].event, 16, &v[1]);
                        copy_str(leaves[nstored_leaves].file_id, 32, &v[2]);
                        REQUIRE(v[3].len <= 64 && v[4].len == 32);
                        memcpy(leaves[nstored_leaves].leaf, v[3].ptr, v[3].len);
                        leaves[nstored_leaves].leaf_len = v[3].len;
                        memcpy(leaves[nstored_leaves].hash, v[4].ptr, 32);
                        leaves[nstored_leaves].appended = v[5].i;
                        nstored_leaves++;
                } else {
                        REQUIRE(nparams == 3 && nstored_nodes < MAX_STORED);
                        REQUIRE(v[2].len == 32);
                        nodes[nstored_nodes].level = v[0].i;
                        nodes[nstored_nodes].index = v[1].i;
                        memcpy(nodes[nstored_nodes].hash, v[2].ptr, 32);
                        nstored_nodes++;
                }
        }
        if (affected != NULL)
                *affected = nrows;
        return 0;
}

static void hash_of(unsigned char h[32], int seed)
{
        memset(h, seed, 32);
}

/* Queue leaf `i` (index i, event "ev<i>", leaf "leaf-<i>", hash i). */
static int add_leaf(struct evlog_rows *r, int i, char *err, size_t errlen)
{
        char event[16], leaf[16], file_id[32];
        unsigned char h[32];

        snprintf(event, sizeof(event), "ev%d", i);
        snprintf(leaf, sizeof(leaf), "leaf-%d", i);
        snprintf(file_id, sizeof(file_id), "file-%d", i);
        hash_of(h, i);
        return evlog_rows_leaf(r, (uint64_t)i, event, file_id, leaf,
                               strlen(leaf), h, 1000 + i, err, errlen);
}

static void check_leaf(size_t at, int i)
{
        char want[16];
        unsigned char h[32];

        snprintf(want, sizeof(want), "leaf-%d", i);
        hash_of(h, i);
        CHECK(leaves[at].index == (uint64_t)i);
        CHECK_MEM_EQ(leaves[at].leaf, leaves[at].leaf_len, want, strlen(want));
        CHECK(memcmp(leaves[at].hash, h, 32) == 0);
        CHECK(leaves[at].appended == 1000 + i);
        snprintf(want, sizeof(want), "ev%d", i);
        CHECK_STR_EQ(leaves[at].event, want);
        snprintf(want, sizeof(want), "file-%d", i);
        CHECK_STR_EQ(leaves[at].file_id, want);
}

static void test_flush_in_order(void)
{
        struct evlog_rows r = {0};
        unsigned char h[32];
        char err[256];

        for (int i = 0; i < 40; i++) {
                REQUIRE(add_leaf(&r, i, err, sizeof(err)) == 0);
                hash_of(h, 100 + i);
                REQUIRE(evlog_rows_node(&r, 1 + (unsigned)i % 3, (uint64_t)i, h,
                                        err, sizeof(err)) == 0);
        }
        CHECK(evlog_rows_appended(&r) == 80);
        CHECK(nstored_leaves == 0 && nstored_nodes == 0); /* queued only */
        CHECK_MSG(evlog_rows_flush(&r, NULL, err, sizeof(err)) == 0, err);
        CHECK(bulk_calls == 2); /* one statement per table */
        CHECK(nstored_leaves == 40 && nstored_nodes == 40);
        for (int i = 0; i < 40; i++) {
                check_leaf((size_t)i, i);
                hash_of(h, 100 + i);
                CHECK(nodes[i].level == 1 + i % 3 && nodes[i].index == i);
                CHECK(memcmp(nodes[i].hash, h, 32) == 0);
        }
        /* Nothing is written twice. */
        CHECK(evlog_rows_flush(&r, NULL, err, sizeof(err)) == 0);
        CHECK(bulk_calls == 2 && nstored_leaves == 40);
        CHECK(evlog_rows_appended(&r) == 80); /* written or not */
        evlog_rows_fini(&r);
}

static void test_undo_to_mark(void)
{
        struct evlog_rows r = {0};
        struct evlog_rows_mark m;
        unsigned char h[32];
        char err[256];

        nstored_leaves = nstored_nodes = bulk_calls = 0;
        hash_of(h, 7);
        REQUIRE(add_leaf(&r, 0, err, sizeof(err)) == 0);
        REQUIRE(add_leaf(&r, 1, err, sizeof(err)) == 0);
        /* As the engine does: written, then the mark, then SAVEPOINT. */
        REQUIRE(evlog_rows_flush(&r, NULL, err, sizeof(err)) == 0);
        m = evlog_rows_mark(&r);
        REQUIRE(add_leaf(&r, 2, err, sizeof(err)) == 0);
        REQUIRE(evlog_rows_node(&r, 1, 1, h, err, sizeof(err)) == 0);
        CHECK(evlog_rows_appended(&r) == 4);
        evlog_rows_undo(&r, m);
        CHECK(evlog_rows_appended(&r) == 2);
        CHECK(r.nleaves == 0 && r.nnodes == 0);
        /* The rows after the mark never reach the database. */
        REQUIRE(add_leaf(&r, 3, err, sizeof(err)) == 0);
        REQUIRE(evlog_rows_flush(&r, NULL, err, sizeof(err)) == 0);
        CHECK(nstored_leaves == 3 && nstored_nodes == 0);
        check_leaf(0, 0);
        check_leaf(1, 1);
        check_leaf(2, 3);

        /* Rows written after the mark (a proof request flushed them
         * inside the savepoint) are rolled back with it: the counts go
         * back to the mark, and nothing queued is kept. */
        m = evlog_rows_mark(&r);
        REQUIRE(add_leaf(&r, 4, err, sizeof(err)) == 0);
        REQUIRE(evlog_rows_flush(&r, NULL, err, sizeof(err)) == 0);
        REQUIRE(add_leaf(&r, 5, err, sizeof(err)) == 0);
        evlog_rows_undo(&r, m);
        CHECK(evlog_rows_appended(&r) == 3 && r.nleaves == 0);
        evlog_rows_fini(&r);
}

static void test_failed_write_keeps_rows(void)
{
        struct evlog_rows r = {0};
        char err[256] = "";

        nstored_leaves = nstored_nodes = bulk_calls = 0;
        REQUIRE(add_leaf(&r, 0, err, sizeof(err)) == 0);
        REQUIRE(add_leaf(&r, 1, err, sizeof(err)) == 0);
        fail_next = 1;
        CHECK(evlog_rows_flush(&r, NULL, err, sizeof(err)) == -1);
        CHECK(strstr(err, "lost connection") != NULL);
        CHECK(r.nleaves == 2 && nstored_leaves == 0);
        /* After a ROLLBACK the engine clears, and applies the batch again. */
        evlog_rows_clear(&r);
        CHECK(evlog_rows_appended(&r) == 0 && r.nleaves == 0);
        REQUIRE(add_leaf(&r, 0, err, sizeof(err)) == 0);
        CHECK(evlog_rows_flush(&r, NULL, err, sizeof(err)) == 0);
        CHECK(nstored_leaves == 1);
        check_leaf(0, 0);
        evlog_rows_fini(&r);
}

int main(void)
{
        test_flush_in_order();
        test_undo_to_mark();
        test_failed_write_keeps_rows();
        return unit_done("evlog_rows");
}

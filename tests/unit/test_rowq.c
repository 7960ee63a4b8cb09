/*
 * rowq: a batch's queued rows reach the database exactly once, in
 * order, with their values, whatever the data buffer did meanwhile; a
 * rollback to a savepoint forgets exactly the rows added after its mark;
 * a failed write keeps them queued; nothing leaks (ASan).
 *
 * The test supplies db_exec_bulk() itself (rowq.cmake builds rowq.c
 * without the daemon's db.c) and records what it was given, as the
 * database would have stored it.
 */
#include "rowq.h"
#include "unit.h"

#define MAX_STORED 4096

/* The fake table: (id, name, blob, NULL) rows as written. */
static struct {
        int64_t id;
        char name[32];
        unsigned char blob[300];
        size_t blob_len;
        int fourth_null;
} stored[MAX_STORED];
static size_t nstored, bulk_calls;
static int fail_next;

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
        REQUIRE(stmt == DB_LOG_LEAF_ADD && nparams == 4);
        for (size_t r = 0; r < nrows; r++) {
                const struct db_val *v = &params[r * nparams];

                REQUIRE(nstored < MAX_STORED);
                REQUIRE(v[0].type == DB_T_I64 && v[1].type == DB_T_STR &&
                        v[2].type == DB_T_BIN);
                REQUIRE(v[1].len < 32 && v[2].len <= 300);
                stored[nstored].id = v[0].i;
                memcpy(stored[nstored].name, v[1].ptr, v[1].len);
                stored[nstored].name[v[1].len] = '\0';
                if (v[2].len > 0)
                        memcpy(stored[nstored].blob, v[2].ptr, v[2].len);
                stored[nstored].blob_len = v[2].len;
                stored[nstored].fourth_null = v[3].type == DB_T_NULL;
                nstored++;
        }
        if (affected != NULL)
                *affected = nrows;
        return 0;
}

/* Row `i`: (i, "row-<i>", i % 300 bytes of value i, NULL). */
static int add_row(struct rowq *q, int i, char *err, size_t errlen)
{
        char name[32];
        unsigned char blob[300];
        struct db_val vals[4];

        snprintf(name, sizeof(name), "row-%d", i);
        memset(blob, i & 0xff, sizeof(blob));
        vals[0] = DB_I64(i);
        vals[1] = DB_STR(name);
        vals[2] = DB_BIN(blob, (size_t)(i % 300));
        vals[3] = (struct db_val){DB_T_NULL, NULL, 0, 0};
        /* The caller's buffers die here: the queue must have copied. */
        return rowq_add(q, vals, err, errlen);
}

static void check_row(size_t at, int i)
{
        char want[32];
        unsigned char blob[300];

        snprintf(want, sizeof(want), "row-%d", i);
        memset(blob, i & 0xff, sizeof(blob));
        CHECK(stored[at].id == i);
        CHECK_STR_EQ(stored[at].name, want);
        CHECK_MEM_EQ(stored[at].blob, stored[at].blob_len, blob,
                     (size_t)(i % 300));
        CHECK(stored[at].fourth_null);
}

static void reset_table(void)
{
        nstored = bulk_calls = 0;
}

static void test_flush_in_order(void)
{
        struct rowq q;
        char err[256];

        reset_table();
        rowq_init(&q, DB_LOG_LEAF_ADD, 4);
        /* Enough rows and bytes that the buffers move several times. */
        for (int i = 0; i < 1000; i++)
                REQUIRE(add_row(&q, i, err, sizeof(err)) == 0);
        CHECK(rowq_added(&q) == 1000);
        CHECK(nstored == 0); /* queued only */
        CHECK_MSG(rowq_flush(&q, NULL, err, sizeof(err)) == 0, err);
        CHECK(bulk_calls == 1); /* one execution for all */
        CHECK(nstored == 1000);
        for (int i = 0; i < 1000; i++)
                check_row((size_t)i, i);
        /* Nothing is written twice; an empty queue costs no round trip. */
        CHECK(rowq_flush(&q, NULL, err, sizeof(err)) == 0);
        CHECK(bulk_calls == 1 && nstored == 1000);
        CHECK(rowq_added(&q) == 1000); /* written or not */
        rowq_fini(&q);
}

static void test_undo_to_mark(void)
{
        struct rowq q;
        uint64_t m;
        char err[256];

        reset_table();
        rowq_init(&q, DB_LOG_LEAF_ADD, 4);
        REQUIRE(add_row(&q, 0, err, sizeof(err)) == 0);
        REQUIRE(add_row(&q, 1, err, sizeof(err)) == 0);
        /* As the engine does: written, then the mark, then SAVEPOINT. */
        REQUIRE(rowq_flush(&q, NULL, err, sizeof(err)) == 0);
        m = rowq_mark(&q);
        REQUIRE(add_row(&q, 2, err, sizeof(err)) == 0);
        REQUIRE(add_row(&q, 3, err, sizeof(err)) == 0);
        CHECK(rowq_added(&q) == 4);
        rowq_undo(&q, m);
        CHECK(rowq_added(&q) == 2 && q.nrows == 0);
        /* The rows after the mark never reach the database. */
        REQUIRE(add_row(&q, 4, err, sizeof(err)) == 0);
        REQUIRE(rowq_flush(&q, NULL, err, sizeof(err)) == 0);
        CHECK(nstored == 3);
        check_row(0, 0);
        check_row(1, 1);
        check_row(2, 4);

        /* Rows written after the mark (a read flushed them inside the
         * savepoint) went with its rollback: the count goes back to the
         * mark, nothing queued is kept. */
        m = rowq_mark(&q);
        REQUIRE(add_row(&q, 5, err, sizeof(err)) == 0);
        REQUIRE(rowq_flush(&q, NULL, err, sizeof(err)) == 0);
        REQUIRE(add_row(&q, 6, err, sizeof(err)) == 0);
        rowq_undo(&q, m);
        CHECK(rowq_added(&q) == 3 && q.nrows == 0);
        /* And the next row is written as the fourth. */
        REQUIRE(add_row(&q, 7, err, sizeof(err)) == 0);
        nstored = 3; /* the fake table rolled back too */
        REQUIRE(rowq_flush(&q, NULL, err, sizeof(err)) == 0);
        CHECK(nstored == 4);
        check_row(3, 7);
        rowq_fini(&q);
}

static void test_failed_write_keeps_rows(void)
{
        struct rowq q;
        char err[256] = "";

        reset_table();
        rowq_init(&q, DB_LOG_LEAF_ADD, 4);
        REQUIRE(add_row(&q, 10, err, sizeof(err)) == 0);
        REQUIRE(add_row(&q, 11, err, sizeof(err)) == 0);
        fail_next = 1;
        CHECK(rowq_flush(&q, NULL, err, sizeof(err)) == -1);
        CHECK(strstr(err, "lost connection") != NULL);
        CHECK(q.nrows == 2 && nstored == 0);
        /* A retry of the flush writes them (same transaction). */
        CHECK(rowq_flush(&q, NULL, err, sizeof(err)) == 0);
        CHECK(nstored == 2);
        check_row(0, 10);
        check_row(1, 11);
        /* After a ROLLBACK the engine clears and applies again. */
        rowq_clear(&q);
        CHECK(rowq_added(&q) == 0 && q.nrows == 0);
        rowq_fini(&q);
}

int main(void)
{
        test_flush_in_order();
        test_undo_to_mark();
        test_failed_write_keeps_rows();
        return unit_done("rowq");
}

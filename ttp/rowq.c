/*
 * rowq: rows of one INSERT, written in one array-bound execution.  See
 * rowq.h.
 */
#include "rowq.h"

#include <stdlib.h>
#include <string.h>

#include "errbuf.h"

void rowq_init(struct rowq *q, enum db_stmt stmt, size_t nparams)
{
        memset(q, 0, sizeof(*q));
        q->stmt = stmt;
        q->nparams = nparams;
}

/* Room for `n` rows in the row arrays. */
static int rows_reserve(struct rowq *q, size_t n)
{
        size_t cap = q->rows_cap ? q->rows_cap : 32;
        void *p;

        if (n <= q->rows_cap)
                return 0;
        while (cap < n)
                cap *= 2;
        if ((p = realloc(q->vals, cap * q->nparams * sizeof(*q->vals))) == NULL)
                return -1;
        q->vals = p;
        if ((p = realloc(q->params, cap * q->nparams * sizeof(*q->params))) ==
            NULL)
                return -1;
        q->params = p;
        if ((p = realloc(q->row_data, cap * sizeof(*q->row_data))) == NULL)
                return -1;
        q->row_data = p;
        q->rows_cap = cap;
        return 0;
}

/* Room for `n` more bytes of values. */
static int data_reserve(struct rowq *q, size_t n)
{
        size_t cap = q->data_cap ? q->data_cap : 4096;
        char *p;

        if (q->data_len + n <= q->data_cap)
                return 0;
        while (cap < q->data_len + n)
                cap *= 2;
        if ((p = realloc(q->data, cap)) == NULL)
                return -1;
        q->data = p;
        q->data_cap = cap;
        return 0;
}

int rowq_add(struct rowq *q, const struct db_val *vals, char *err,
             size_t errlen)
{
        struct db_val *row;
        size_t bytes = 0;

        for (size_t i = 0; i < q->nparams; i++)
                if (vals[i].type == DB_T_STR || vals[i].type == DB_T_BIN)
                        bytes += vals[i].len;
        if (rows_reserve(q, q->nrows + 1) == -1 ||
            data_reserve(q, bytes) == -1) {
                errbuf_set(err, errlen, "database: out of memory");
                return -1;
        }
        row = &q->vals[q->nrows * q->nparams];
        q->row_data[q->nrows] = q->data_len;
        for (size_t i = 0; i < q->nparams; i++) {
                row[i] = vals[i];
                if (vals[i].type != DB_T_STR && vals[i].type != DB_T_BIN)
                        continue;
                /* The data may move before the flush: keep an offset. */
                if (vals[i].len > 0)
                        memcpy(q->data + q->data_len, vals[i].ptr, vals[i].len);
                row[i].ptr = NULL;
                row[i].i = (int64_t)q->data_len;
                q->data_len += vals[i].len;
        }
        q->nrows++;
        q->total++;
        return 0;
}

/* Forget the queued rows from `keep` on. */
static void rows_truncate(struct rowq *q, size_t keep)
{
        if (keep >= q->nrows)
                return;
        q->data_len = q->row_data[keep];
        q->nrows = keep;
}

int rowq_flush(struct rowq *q, struct db *db, char *err, size_t errlen)
{
        size_t n = q->nrows * q->nparams;

        if (q->nrows == 0)
                return 0;
        for (size_t i = 0; i < n; i++) {
                q->params[i] = q->vals[i];
                if (q->vals[i].type == DB_T_STR || q->vals[i].type == DB_T_BIN)
                        q->params[i].ptr = q->data + q->vals[i].i;
        }
        if (db_exec_bulk(db, q->stmt, q->params, q->nparams, q->nrows, NULL,
                         err, errlen) == -1)
                return -1;
        q->flushed += q->nrows;
        rows_truncate(q, 0);
        return 0;
}

uint64_t rowq_added(const struct rowq *q)
{
        return q->total;
}

uint64_t rowq_mark(const struct rowq *q)
{
        return q->total;
}

void rowq_undo(struct rowq *q, uint64_t mark)
{
        /* Rows written after the mark went with the savepoint's
         * rollback; queued rows are those numbered from `flushed` on. */
        rows_truncate(q, mark > q->flushed ? (size_t)(mark - q->flushed) : 0);
        if (q->flushed > mark)
                q->flushed = mark;
        q->total = mark;
}

void rowq_clear(struct rowq *q)
{
        rows_truncate(q, 0);
        q->total = q->flushed = 0;
}

void rowq_fini(struct rowq *q)
{
        free(q->vals);
        free(q->params);
        free(q->row_data);
        free(q->data);
        memset(q, 0, sizeof(*q));
}

/*
 * rowq: the rows of one INSERT statement that a batch (engine.c) keeps
 * in memory and writes with one array-bound execution before it commits,
 * instead of one round trip per row.  They are written in the same
 * transaction as before, so what commits is unchanged; only a statement
 * of the same transaction that would read them must come after
 * rowq_flush().
 *
 * Values are copied when a row is added.  Rows are numbered in the
 * order they were added; `flushed` of them are written (in the open
 * transaction), the rest are queued.  A mark remembers the count at a
 * savepoint (flush first, then SAVEPOINT), so that after ROLLBACK TO
 * SAVEPOINT rowq_undo() forgets exactly the rows added after it.
 */
#ifndef TDS_ROWQ_H
#define TDS_ROWQ_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

struct rowq {
        enum db_stmt stmt;
        size_t nparams;
        struct db_val *vals; /* nrows * nparams; bytes as offsets in data */
        size_t *row_data;    /* where each row's bytes start in data */
        size_t nrows, rows_cap;
        char *data;
        size_t data_len, data_cap;
        struct db_val *params;   /* the flush's parameters, reused */
        uint64_t total, flushed; /* rows added and written since clear */
};

void rowq_init(struct rowq *q, enum db_stmt stmt, size_t nparams);

/* Queue a row of q->nparams values (copied).  -1 out of memory. */
int rowq_add(struct rowq *q, const struct db_val *vals, char *err,
             size_t errlen);

/* Write the queued rows in the open transaction; -1 with a message
 * (db_errno() tells which), the rows stay queued. */
int rowq_flush(struct rowq *q, struct db *db, char *err, size_t errlen);

/* Rows added since the last clear, written or not. */
uint64_t rowq_added(const struct rowq *q);

/* The count to go back to: call after rowq_flush(), before SAVEPOINT. */
uint64_t rowq_mark(const struct rowq *q);
/* After ROLLBACK TO SAVEPOINT: forget the rows added after `mark`. */
void rowq_undo(struct rowq *q, uint64_t mark);
/* After COMMIT or ROLLBACK: forget every row. */
void rowq_clear(struct rowq *q);
void rowq_fini(struct rowq *q);

#endif

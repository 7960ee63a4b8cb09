/*
 * evlog_rows: the evidence log's leaf and node rows of an open batch,
 * kept in memory and written with one array-bound INSERT per table when
 * the batch flushes (evlog.c).  A receipt appends a leaf and on average
 * one node: two round trips per message saved, written in the same
 * transaction as before, so what commits is unchanged.
 *
 * Rows are numbered in the order they were appended; `flushed` of them
 * are in the database (in the open transaction), the rest are pending.
 * A mark remembers the count at a savepoint, so that a rollback to it
 * forgets exactly what came after (flushed or not).
 */
#ifndef TDS_EVLOG_ROWS_H
#define TDS_EVLOG_ROWS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct db;
struct db_val;

struct evlog_leaf_row;
struct evlog_node_row;

struct evlog_rows {
        struct evlog_leaf_row *leaves;
        size_t nleaves, leaves_cap;
        struct evlog_node_row *nodes;
        size_t nnodes, nodes_cap;
        uint64_t leaves_total, leaves_flushed; /* since evlog_rows_clear() */
        uint64_t nodes_total, nodes_flushed;
        struct db_val *params; /* the flush's array of parameters, reused */
        size_t params_cap;
};

/* The rows appended so far, for evlog_rows_undo(). */
struct evlog_rows_mark {
        uint64_t leaves_total, nodes_total;
};

/*
 * Queue a leaf row (`leaf`, `event` and `file_id` are copied) or a node
 * row.  -1 out of memory, with a message.
 */
int evlog_rows_leaf(struct evlog_rows *r, uint64_t index, const char *event,
                    const char *file_id, const char *leaf, size_t len,
                    const unsigned char hash[32], time_t appended, char *err,
                    size_t errlen);
int evlog_rows_node(struct evlog_rows *r, unsigned level, uint64_t index,
                    const unsigned char hash[32], char *err, size_t errlen);

/* Write the pending rows in the open transaction; -1 with a message. */
int evlog_rows_flush(struct evlog_rows *r, struct db *db, char *err,
                     size_t errlen);

/* Rows appended (flushed or not) since the last clear: a handler wrote. */
uint64_t evlog_rows_appended(const struct evlog_rows *r);

struct evlog_rows_mark evlog_rows_mark(const struct evlog_rows *r);
/* After ROLLBACK TO SAVEPOINT: forget the rows appended after `m`. */
void evlog_rows_undo(struct evlog_rows *r, struct evlog_rows_mark m);
/* After COMMIT or ROLLBACK: forget every row (the counts start again). */
void evlog_rows_clear(struct evlog_rows *r);
void evlog_rows_fini(struct evlog_rows *r);

#endif

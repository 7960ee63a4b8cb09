/*
 * evlog_rows: the evidence log's rows of an open batch.  See evlog_rows.h.
 */
#include "evlog_rows.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "errbuf.h"

/* One log_leaves row; `blob` holds the leaf, then event and file_id. */
struct evlog_leaf_row {
        uint64_t index;
        char *blob;
        size_t len;       /* of the leaf */
        size_t event_off; /* of the event's NUL-terminated copy in blob */
        size_t file_off;
        unsigned char hash[32];
        int64_t appended;
};

/* One log_nodes row. */
struct evlog_node_row {
        unsigned level;
        uint64_t index;
        unsigned char hash[32];
};

/* Room for one more element of `size` bytes in *arr (cap grows x2). */
static int grow(void **arr, size_t *cap, size_t n, size_t size, char *err,
                size_t errlen)
{
        size_t ncap;
        void *p;

        if (n < *cap)
                return 0;
        ncap = *cap ? 2 * *cap : 32;
        if ((p = realloc(*arr, ncap * size)) == NULL) {
                errbuf_set(err, errlen, "evidence log: out of memory");
                return -1;
        }
        *arr = p;
        *cap = ncap;
        return 0;
}

int evlog_rows_leaf(struct evlog_rows *r, uint64_t index, const char *event,
                    const char *file_id, const char *leaf, size_t len,
                    const unsigned char hash[32], time_t appended, char *err,
                    size_t errlen)
{
        size_t elen = strlen(event) + 1, flen = strlen(file_id) + 1;
        struct evlog_leaf_row *row;
        char *blob;

        if (grow((void **)&r->leaves, &r->leaves_cap, r->nleaves,
                 sizeof(*r->leaves), err, errlen) == -1)
                return -1;
        if ((blob = malloc(len + elen + flen)) == NULL) {
                errbuf_set(err, errlen, "evidence log: out of memory");
                return -1;
        }
        memcpy(blob, leaf, len);
        memcpy(blob + len, event, elen);
        memcpy(blob + len + elen, file_id, flen);
        row = &r->leaves[r->nleaves++];
        *row = (struct evlog_leaf_row){.index = index,
                                       .blob = blob,
                                       .len = len,
                                       .event_off = len,
                                       .file_off = len + elen,
                                       .appended = (int64_t)appended};
        memcpy(row->hash, hash, sizeof(row->hash));
        r->leaves_total++;
        return 0;
}

int evlog_rows_node(struct evlog_rows *r, unsigned level, uint64_t index,
                    const unsigned char hash[32], char *err, size_t errlen)
{
        struct evlog_node_row *row;

        if (grow((void **)&r->nodes, &r->nodes_cap, r->nnodes,
                 sizeof(*r->nodes), err, errlen) == -1)
                return -1;
        row = &r->nodes[r->nnodes++];
        row->level = level;
        row->index = index;
        memcpy(row->hash, hash, sizeof(row->hash));
        r->nodes_total++;
        return 0;
}

/* The parameter array for `rows` rows of `per` values. */
static struct db_val *params_for(struct evlog_rows *r, size_t rows, size_t per,
                                 char *err, size_t errlen)
{
        size_t need = rows * per;

        if (need > r->params_cap) {
                struct db_val *p = realloc(r->params, need * sizeof(*p));
                if (p == NULL) {
                        errbuf_set(err, errlen, "evidence log: out of memory");
                        return NULL;
                }
                r->params = p;
                r->params_cap = need;
        }
        return r->params;
}

static void leaves_forget(struct evlog_rows *r, size_t keep)
{
        for (size_t i = keep; i < r->nleaves; i++)
                free(r->leaves[i].blob);
        r->nleaves = keep;
}

static int leaves_flush(struct evlog_rows *r, struct db *db, char *err,
                        size_t errlen)
{
        struct db_val *p;

        if (r->nleaves == 0)
                return 0;
        if ((p = params_for(r, r->nleaves, 6, err, errlen)) == NULL)
                return -1;
        for (size_t i = 0; i < r->nleaves; i++) {
                const struct evlog_leaf_row *row = &r->leaves[i];
                struct db_val *v = &p[6 * i];

                v[0] = DB_I64(row->index);
                v[1] = DB_STR(row->blob + row->event_off);
                v[2] = DB_STR(row->blob + row->file_off);
                v[3] = DB_BIN(row->blob, row->len);
                v[4] = DB_BIN(row->hash, sizeof(row->hash));
                v[5] = DB_I64(row->appended);
        }
        if (db_exec_bulk(db, DB_LOG_LEAF_ADD, p, 6, r->nleaves, NULL, err,
                         errlen) == -1)
                return -1;
        r->leaves_flushed += r->nleaves;
        leaves_forget(r, 0);
        return 0;
}

static int nodes_flush(struct evlog_rows *r, struct db *db, char *err,
                       size_t errlen)
{
        struct db_val *p;

        if (r->nnodes == 0)
                return 0;
        if ((p = params_for(r, r->nnodes, 3, err, errlen)) == NULL)
                return -1;
        for (size_t i = 0; i < r->nnodes; i++) {
                const struct evlog_node_row *row = &r->nodes[i];
                struct db_val *v = &p[3 * i];

                v[0] = DB_I64(row->level);
                v[1] = DB_I64(row->index);
                v[2] = DB_BIN(row->hash, sizeof(row->hash));
        }
        if (db_exec_bulk(db, DB_LOG_NODE_ADD, p, 3, r->nnodes, NULL, err,
                         errlen) == -1)
                return -1;
        r->nodes_flushed += r->nnodes;
        r->nnodes = 0;
        return 0;
}

int evlog_rows_flush(struct evlog_rows *r, struct db *db, char *err,
                     size_t errlen)
{
        if (leaves_flush(r, db, err, errlen) == -1 ||
            nodes_flush(r, db, err, errlen) == -1)
                return -1;
        return 0;
}

uint64_t evlog_rows_appended(const struct evlog_rows *r)
{
        return r->leaves_total + r->nodes_total;
}

struct evlog_rows_mark evlog_rows_mark(const struct evlog_rows *r)
{
        return (struct evlog_rows_mark){r->leaves_total, r->nodes_total};
}

/*
 * Back to `mark` rows of a table of which `*flushed` are written and
 * `*pending` queued: the savepoint's rollback took the written ones past
 * the mark; the queued ones past it are dropped here.  Returns how many
 * queued rows to keep.
 */
static size_t undo_count(uint64_t mark, uint64_t *total, uint64_t *flushed)
{
        size_t keep = mark > *flushed ? (size_t)(mark - *flushed) : 0;

        if (*flushed > mark)
                *flushed = mark;
        *total = mark;
        return keep;
}

void evlog_rows_undo(struct evlog_rows *r, struct evlog_rows_mark m)
{
        leaves_forget(r, undo_count(m.leaves_total, &r->leaves_total,
                                    &r->leaves_flushed));
        r->nnodes =
            undo_count(m.nodes_total, &r->nodes_total, &r->nodes_flushed);
}

void evlog_rows_clear(struct evlog_rows *r)
{
        leaves_forget(r, 0);
        r->nnodes = 0;
        r->leaves_total = r->leaves_flushed = 0;
        r->nodes_total = r->nodes_flushed = 0;
}

void evlog_rows_fini(struct evlog_rows *r)
{
        evlog_rows_clear(r);
        free(r->leaves);
        free(r->nodes);
        free(r->params);
        memset(r, 0, sizeof(*r));
}

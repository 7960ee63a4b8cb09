/*
 * db: the daemon's MariaDB session.
 *
 * After OpenSMTPD's table-mysql: every statement is an entry of enum
 * db_stmt, prepared at connect time with its parameter count checked;
 * a lost connection is reopened and re-prepared explicitly by db_ping()
 * (MYSQL_OPT_RECONNECT stays off: a silent reconnect would lose the
 * session's transaction without telling anyone).  Autocommit is off:
 * every unit of work ends in db_commit() or db_rollback().
 */
#ifndef TTP_DB_H
#define TTP_DB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct ttp_conf;
struct db;

/* The schema version this daemon was written for (sql/migrations). */
#define DB_SCHEMA_VERSION 2

/* msg_ids DB_PROCESSED_FIND looks up at once (pad with repeats). */
#define DB_PROCESSED_FIND_IDS 32

enum db_stmt {
        DB_SCHEMA_VERSION_GET,
        DB_SAVEPOINT,
        DB_SAVEPOINT_ROLLBACK,
        DB_OFFSET_GET,
        DB_OFFSET_LOCK,
        DB_OFFSET_CREATE,
        DB_OFFSET_SET,
        DB_PROCESSED_GET,
        DB_PROCESSED_FIND,
        DB_PROCESSED_ADD,
        DB_OUTBOX_ADD,
        DB_OUTBOX_RESEND,
        DB_OUTBOX_UNSENT,
        DB_OUTBOX_PENDING,
        DB_OUTBOX_MARK_SENT,
        DB_RELAY_LOCK,
        DB_RELAY_UNLOCK,
        DB_USER_GET,
        DB_USER_LOCK,
        DB_USER_BY_KEY,
        DB_USER_ADD,
        DB_FILE_TAKEN,
        DB_UPLOAD_ONGOING_ADD,
        DB_UPLOAD_ONGOING_LOCK,
        DB_UPLOAD_ONGOING_DEL_NONCE,
        DB_UPLOAD_ONGOING_DEL,
        DB_NONCE_USE,
        DB_UPLOAD_DONE_ADD,
        DB_UPLOAD_DONE_LOCK,
        DB_UPLOAD_DONE_ABORT,
        DB_UPLOAD_DONE_DEL,
        DB_ABORT_GET,
        DB_ABORT_ADD,
        DB_DOWNLOAD_ONGOING_ADD,
        DB_DOWNLOAD_ONGOING_LOCK,
        DB_DOWNLOAD_ONGOING_DEL,
        DB_DOWNLOAD_PENDING_FOR_FILE,
        DB_DOWNLOAD_PENDING_DEL_FILE,
        DB_DOWNLOAD_DONE_ADD,
        DB_DOWNLOAD_DONE_COUNT,
        DB_CATALOG,
        DB_SWEEP_UPLOADS_LIST,
        DB_SWEEP_UPLOAD_DEL,
        DB_SWEEP_DOWNLOADS,
        DB_LOG_STATE_LOCK,
        DB_LOG_STATE_GET,
        DB_LOG_STATE_SET,
        DB_LOG_LEAF_ADD,
        DB_LOG_NODE_ADD,
        DB_LOG_LEAF_HASH,
        DB_LOG_NODE_GET,
        DB_LOG_LEAF_FIND,
        DB_LOG_HEAD_LATEST,
        DB_LOG_HEAD_COVERING,
        DB_LOG_HEAD_ADD,
        DB_STMT_COUNT
};

enum db_type { DB_T_NULL, DB_T_STR, DB_T_BIN, DB_T_I64 };

/* A parameter: borrowed bytes or an integer. */
struct db_val {
        enum db_type type;
        const void *ptr;
        size_t len;
        int64_t i;
};

#define DB_STR(s)    ((struct db_val){DB_T_STR, (s), strlen(s), 0})
#define DB_BIN(p, n) ((struct db_val){DB_T_BIN, (p), (n), 0})
#define DB_I64(v)    ((struct db_val){DB_T_I64, NULL, 0, (int64_t)(v)})

/*
 * A result column: strings and bytes land in the caller's `buf` of
 * `cap` bytes (strings are NUL-terminated, so at most cap - 1 bytes);
 * a longer value is an error, never a silent truncation.
 */
struct db_out {
        enum db_type type;
        void *buf;
        size_t cap;
        size_t len;
        int64_t i;
        int is_null;
};

#define DB_OUT_STR(b) ((struct db_out){DB_T_STR, (b), sizeof(b), 0, 0, 0})
#define DB_OUT_BIN(b) ((struct db_out){DB_T_BIN, (b), sizeof(b), 0, 0, 0})
#define DB_OUT_I64()  ((struct db_out){DB_T_I64, NULL, 0, 0, 0, 0})

/* A thread other than the main one that opens a session calls these
 * first and last (MariaDB Connector/C's per-thread state). */
void db_thread_init(void);
void db_thread_end(void);

/* Connect and prepare.  NULL with a message on error; caller frees. */
struct db *db_open(const struct ttp_conf *conf, char *err, size_t errlen);
void db_close(struct db *db);

/*
 * Check the session is alive; if it is not, reconnect and re-prepare
 * once.  -1 with a message when the server cannot be reached.
 */
int db_ping(struct db *db, char *err, size_t errlen);

/* Execute a statement that returns no rows; `affected` may be NULL. */
int db_exec(struct db *db, enum db_stmt stmt, const struct db_val *params,
            size_t nparams, uint64_t *affected, char *err, size_t errlen);

/*
 * How many statements of this session changed rows so far: equal before
 * and after some work means that work wrote nothing (engine.c applies a
 * message without a savepoint when it can tell it has nothing to undo).
 */
uint64_t db_writes(const struct db *db);

/*
 * Execute a statement that returns no rows once for each of `nrows`
 * rows of parameters, in one round trip (MariaDB array binding):
 * `params` holds the rows one after the other, `nparams` values each.
 * A column's values are all of one type or NULL.  `affected` (may be
 * NULL) is the total over the rows.
 */
int db_exec_bulk(struct db *db, enum db_stmt stmt, const struct db_val *params,
                 size_t nparams, size_t nrows, uint64_t *affected, char *err,
                 size_t errlen);

/*
 * Execute a query and read rows into `cols`.  With `row` NULL, only the
 * first row is kept and `*found` says whether there was one; otherwise
 * `row(ctx, cols)` is called for every row (return -1 to stop with an
 * error) and `*found` counts the rows.
 */
int db_query(struct db *db, enum db_stmt stmt, const struct db_val *params,
             size_t nparams, struct db_out *cols, size_t ncols,
             int (*row)(void *ctx, const struct db_out *cols), void *ctx,
             int *found, char *err, size_t errlen);

int db_commit(struct db *db, char *err, size_t errlen);
/* Roll back; failures are reported in the next call's error. */
void db_rollback(struct db *db);

/* The MariaDB error number of the last failure (0 if none). */
unsigned db_errno(const struct db *db);
/* The connection is gone: reconnect (db_ping) and redo the work. */
int db_error_is_connection(unsigned err);
/* A deadlock or lock wait timeout: roll back and redo the work. */
int db_error_is_retryable(unsigned err);
/* A unique key was violated. */
int db_error_is_duplicate(unsigned err);

/* Highest applied migration; -1 with a message on error. */
int db_schema_version(struct db *db, int *version, char *err, size_t errlen);

/* Server version string, borrowed. */
const char *db_server_info(struct db *db);

#endif

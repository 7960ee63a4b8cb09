/*
 * db: MariaDB Connector/C session with prepared statements only.
 */
#include "db.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>

#include "ttp_conf.h"

/* Parameters of one statement; columns of a bulk statement. */
#define DB_PARAMS_MAX      DB_PROCESSED_FIND_IDS
#define DB_BULK_PARAMS_MAX 12
#define DB_QMARKS_4        "?,?,?,?"
#define DB_QMARKS_16       DB_QMARKS_4 "," DB_QMARKS_4 "," DB_QMARKS_4 "," DB_QMARKS_4
#define DB_QMARKS_32       DB_QMARKS_16 "," DB_QMARKS_16
#define DB_COLS_MAX        12

static const struct {
        const char *sql;
        unsigned params;
} db_statements[DB_STMT_COUNT] = {
    [DB_SCHEMA_VERSION_GET] = {"SELECT CAST(COALESCE(MAX(version), 0) AS "
                               "SIGNED) FROM schema_migrations",
                               0},
    /* One message of a batch (engine.c): set again for each message, so
     * one name is enough. */
    [DB_SAVEPOINT] = {"SAVEPOINT msg", 0},
    [DB_SAVEPOINT_ROLLBACK] = {"ROLLBACK TO SAVEPOINT msg", 0},
    [DB_OFFSET_GET] = {"SELECT next_offset FROM consumer_offsets "
                       "WHERE group_id = ? AND topic = ? AND partition_id = ?",
                       3},
    [DB_OFFSET_LOCK] = {"SELECT next_offset FROM consumer_offsets "
                        "WHERE group_id = ? AND topic = ? AND "
                        "partition_id = ? FOR UPDATE",
                        3},
    /* A partition's row before its first message is applied, with no
     * offset yet (-1), so that DB_OFFSET_LOCK has a row to lock
     * (engine.c part_claim()); a duplicate is another daemon's row. */
    [DB_OFFSET_CREATE] = {"INSERT IGNORE INTO consumer_offsets (group_id, "
                          "topic, partition_id, next_offset, updated_at) "
                          "VALUES (?, ?, ?, -1, UTC_TIMESTAMP(6))",
                          3},
    [DB_OFFSET_SET] = {"INSERT INTO consumer_offsets (group_id, topic, "
                       "partition_id, next_offset, updated_at) "
                       "VALUES (?, ?, ?, ?, UTC_TIMESTAMP(6)) "
                       "ON DUPLICATE KEY UPDATE next_offset = "
                       "VALUES(next_offset), updated_at = VALUES(updated_at)",
                       4},
    [DB_PROCESSED_GET] = {"SELECT user_id FROM processed_messages "
                          "WHERE msg_id = ?",
                          1},
    [DB_PROCESSED_FIND] = {"SELECT msg_id FROM processed_messages "
                           "WHERE msg_id IN (" DB_QMARKS_32 ")",
                           DB_PROCESSED_FIND_IDS},
    [DB_PROCESSED_ADD] = {"INSERT INTO processed_messages (msg_id, user_id, "
                          "processed_at) VALUES (?, ?, UTC_TIMESTAMP(6))",
                          2},
    [DB_OUTBOX_ADD] = {"INSERT INTO outbox (msg_id, request_msg_id, topic, "
                       "msg_key, payload, created_at) "
                       "VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))",
                       5},
    [DB_OUTBOX_RESEND] = {"UPDATE outbox SET sent_at = NULL "
                          "WHERE request_msg_id = ?",
                          1},
    /* A retry's first answer not yet sent: the relay first (engine.c). */
    [DB_OUTBOX_UNSENT] = {"SELECT COUNT(*) FROM outbox "
                          "WHERE request_msg_id = ? AND sent_at IS NULL",
                          1},
    [DB_OUTBOX_PENDING] = {"SELECT seq, topic, msg_key, payload FROM outbox "
                           "WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
                           1},
    [DB_OUTBOX_MARK_SENT] = {"UPDATE outbox SET sent_at = UTC_TIMESTAMP(6) "
                             "WHERE seq = ? AND sent_at IS NULL",
                             1},
    /* One relay at a time publishes the outbox of this database, however
     * many daemons share it (relay.c relay_drain()).  A named lock is the
     * session's: a daemon that dies releases it with its connection. */
    [DB_RELAY_LOCK] = {"SELECT GET_LOCK(LEFT(CONCAT('tds.relay.', "
                       "DATABASE()), 64), ?)",
                       1},
    [DB_RELAY_UNLOCK] = {"SELECT RELEASE_LOCK(LEFT(CONCAT('tds.relay.', "
                         "DATABASE()), 64))",
                         0},
    [DB_USER_GET] = {"SELECT public_key FROM users WHERE user_id = ?", 1},
    [DB_USER_LOCK] = {"SELECT public_key FROM users WHERE user_id = ? "
                      "FOR UPDATE",
                      1},
    [DB_USER_BY_KEY] = {"SELECT user_id FROM users WHERE key_id = ?", 1},
    [DB_USER_ADD] = {"INSERT INTO users (user_id, public_key, key_id, "
                     "registered_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))",
                     3},
    [DB_FILE_TAKEN] = {"SELECT CAST((EXISTS (SELECT 1 FROM uploads_ongoing "
                       "WHERE file_id = ?) OR EXISTS (SELECT 1 FROM "
                       "uploads_completed WHERE file_id = ?) OR EXISTS "
                       "(SELECT 1 FROM aborts WHERE file_id = ?)) AS SIGNED)",
                       3},
    [DB_UPLOAD_ONGOING_ADD] = {"INSERT INTO uploads_ongoing (file_id, "
                               "uploader, name, size, nonce, incoming_path, "
                               "object_path, issued_at, expires_at) VALUES "
                               "(?, ?, ?, ?, ?, ?, ?, FROM_UNIXTIME(?), "
                               "FROM_UNIXTIME(?))",
                               9},
    [DB_UPLOAD_ONGOING_LOCK] = {"SELECT uploader, nonce, incoming_path, "
                                "object_path, CAST(UNIX_TIMESTAMP(expires_at) "
                                "AS SIGNED), name FROM uploads_ongoing "
                                "WHERE file_id = ? FOR UPDATE",
                                1},
    [DB_UPLOAD_ONGOING_DEL_NONCE] = {"DELETE FROM uploads_ongoing "
                                     "WHERE file_id = ? AND nonce = ?",
                                     2},
    [DB_UPLOAD_ONGOING_DEL] = {"DELETE FROM uploads_ongoing WHERE file_id = ?",
                               1},
    [DB_NONCE_USE] = {"INSERT INTO used_nonces (nonce, used_at) "
                      "VALUES (?, UTC_TIMESTAMP(6))",
                      1},
    [DB_UPLOAD_DONE_ADD] = {"INSERT INTO uploads_completed (file_id, "
                            "uploader, name, size, sha256, upload_nonce, nro, "
                            "nro_sha256, object_path, ttp_sig, uploaded_at) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                            "FROM_UNIXTIME(?))",
                            11},
    [DB_UPLOAD_DONE_LOCK] = {"SELECT uploader, size, sha256, upload_nonce, "
                             "nro, nro_sha256, object_path, "
                             "CAST(aborted_at IS NOT NULL AS SIGNED) "
                             "FROM uploads_completed WHERE file_id = ? "
                             "FOR UPDATE",
                             1},
    [DB_UPLOAD_DONE_ABORT] = {"UPDATE uploads_completed SET aborted_at = "
                              "FROM_UNIXTIME(?) WHERE file_id = ? AND "
                              "aborted_at IS NULL",
                              2},
    [DB_UPLOAD_DONE_DEL] = {"DELETE FROM uploads_completed WHERE file_id = ?",
                            1},
    [DB_ABORT_GET] = {"SELECT outcome FROM aborts WHERE file_id = ?", 1},
    [DB_ABORT_ADD] = {"INSERT INTO aborts (file_id, uploader, outcome, "
                      "ttp_sig, aborted_at) VALUES (?, ?, ?, ?, "
                      "FROM_UNIXTIME(?))",
                      5},
    [DB_DOWNLOAD_ONGOING_ADD] = {"INSERT INTO downloads_ongoing (nonce, "
                                 "file_id, downloader, issued_at, expires_at) "
                                 "VALUES (?, ?, ?, FROM_UNIXTIME(?), "
                                 "FROM_UNIXTIME(?))",
                                 5},
    [DB_DOWNLOAD_ONGOING_LOCK] = {"SELECT file_id, downloader, "
                                  "CAST(UNIX_TIMESTAMP(expires_at) AS SIGNED) "
                                  "FROM downloads_ongoing WHERE nonce = ? "
                                  "FOR UPDATE",
                                  1},
    [DB_DOWNLOAD_ONGOING_DEL] = {"DELETE FROM downloads_ongoing "
                                 "WHERE nonce = ?",
                                 1},
    [DB_DOWNLOAD_PENDING_FOR_FILE] = {"SELECT DISTINCT downloader FROM "
                                      "downloads_ongoing WHERE file_id = ? "
                                      "ORDER BY downloader FOR UPDATE",
                                      1},
    [DB_DOWNLOAD_PENDING_DEL_FILE] = {"DELETE FROM downloads_ongoing "
                                      "WHERE file_id = ?",
                                      1},
    [DB_DOWNLOAD_DONE_ADD] = {"INSERT INTO downloads_completed (nonce, "
                              "file_id, downloader, nrr, nrr_sha256, ttp_sig, "
                              "completed_at) VALUES (?, ?, ?, ?, ?, ?, "
                              "FROM_UNIXTIME(?))",
                              7},
    [DB_DOWNLOAD_DONE_COUNT] = {"SELECT COUNT(*) FROM downloads_completed "
                                "WHERE file_id = ?",
                                1},
    [DB_CATALOG] = {"SELECT file_id, name, uploader, sha256, size, "
                    "CAST(UNIX_TIMESTAMP(uploaded_at) AS SIGNED) "
                    "FROM uploads_completed WHERE aborted_at IS NULL "
                    "ORDER BY uploaded_at DESC, file_id LIMIT ?",
                    1},
    [DB_SWEEP_UPLOADS_LIST] = {"SELECT file_id, incoming_path, object_path "
                               "FROM "
                               "uploads_ongoing WHERE expires_at < "
                               "FROM_UNIXTIME(?) ORDER BY expires_at LIMIT ?",
                               2},
    [DB_SWEEP_UPLOAD_DEL] = {"DELETE FROM uploads_ongoing WHERE file_id = ? "
                             "AND expires_at < FROM_UNIXTIME(?)",
                             2},
    [DB_SWEEP_DOWNLOADS] = {"DELETE FROM downloads_ongoing WHERE expires_at < "
                            "FROM_UNIXTIME(?) LIMIT 1000",
                            1},
    [DB_LOG_STATE_LOCK] = {"SELECT tree_size, frontier FROM log_state "
                           "WHERE id = 1 FOR UPDATE",
                           0},
    [DB_LOG_STATE_GET] = {"SELECT tree_size FROM log_state WHERE id = 1", 0},
    [DB_LOG_STATE_SET] = {"UPDATE log_state SET tree_size = ?, frontier = ? "
                          "WHERE id = 1",
                          2},
    [DB_LOG_LEAF_ADD] = {"INSERT INTO log_leaves (leaf_index, event, "
                         "file_id, leaf, leaf_hash, appended_at) "
                         "VALUES (?, ?, ?, ?, ?, FROM_UNIXTIME(?))",
                         6},
    [DB_LOG_NODE_ADD] = {"INSERT INTO log_nodes (level, node_index, hash) "
                         "VALUES (?, ?, ?)",
                         3},
    [DB_LOG_LEAF_HASH] = {"SELECT leaf_hash FROM log_leaves "
                          "WHERE leaf_index = ?",
                          1},
    [DB_LOG_NODE_GET] = {"SELECT hash FROM log_nodes "
                         "WHERE level = ? AND node_index = ?",
                         2},
    [DB_LOG_LEAF_FIND] = {"SELECT leaf_index FROM log_leaves "
                          "WHERE leaf_hash = ? ORDER BY leaf_index LIMIT 1",
                          1},
    [DB_LOG_HEAD_LATEST] = {"SELECT tree_size, root_hash, head_time, ttp_sig, "
                            "timestamp_token FROM tree_heads "
                            "ORDER BY tree_size DESC LIMIT 1",
                            0},
    [DB_LOG_HEAD_COVERING] = {"SELECT tree_size, root_hash, head_time, "
                              "ttp_sig, timestamp_token FROM tree_heads "
                              "WHERE tree_size > ? "
                              "ORDER BY tree_size LIMIT 1",
                              1},
    [DB_LOG_HEAD_ADD] = {"INSERT INTO tree_heads (tree_size, root_hash, "
                         "head_time, ttp_sig, timestamp_token, signed_at) "
                         "VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6))",
                         5},
};

/* The TLS settings of the configuration and the options they set. */
static const struct {
        const char *key; /* in ttpd.conf, for messages */
        size_t offset;   /* of a char * in struct ttp_conf */
        enum mysql_option option;
} db_tls_options[] = {
    {"db_ssl_ca", offsetof(struct ttp_conf, db_ssl_ca), MYSQL_OPT_SSL_CA},
    {"db_ssl_capath", offsetof(struct ttp_conf, db_ssl_capath),
     MYSQL_OPT_SSL_CAPATH},
    {"db_ssl_cert", offsetof(struct ttp_conf, db_ssl_cert), MYSQL_OPT_SSL_CERT},
    {"db_ssl_key", offsetof(struct ttp_conf, db_ssl_key), MYSQL_OPT_SSL_KEY},
    {"db_ssl_cipher", offsetof(struct ttp_conf, db_ssl_cipher),
     MYSQL_OPT_SSL_CIPHER},
    {"db_ssl_crl", offsetof(struct ttp_conf, db_ssl_crl), MYSQL_OPT_SSL_CRL},
    {"db_ssl_crlpath", offsetof(struct ttp_conf, db_ssl_crlpath),
     MYSQL_OPT_SSL_CRLPATH},
    {"db_tls_version", offsetof(struct ttp_conf, db_tls_version),
     MARIADB_OPT_TLS_VERSION},
    {"db_tls_peer_fp", offsetof(struct ttp_conf, db_tls_peer_fp),
     MARIADB_OPT_TLS_PEER_FP},
};

#define DB_TLS_NOPTIONS (sizeof(db_tls_options) / sizeof(db_tls_options[0]))

static const char *db_tls_value(const struct ttp_conf *conf, size_t i)
{
        return *(char *const *)((const char *)conf + db_tls_options[i].offset);
}

/* One column of an array binding: grown, never shrunk, reused. */
struct db_bulk_col {
        int64_t *ints;     /* the values of an integer column */
        const void **ptrs; /* or those of a string or bytes column */
        unsigned long *lengths;
        char *indicators;
        size_t cap;
};

struct db {
        const struct ttp_conf *conf; /* borrowed */
        MYSQL *conn;
        MYSQL_STMT *stmts[DB_STMT_COUNT];
        unsigned last_errno;
        uint64_t writes; /* statements that changed rows (db_writes) */
        struct db_bulk_col bulk[DB_BULK_PARAMS_MAX];
};

static void db_disconnect(struct db *db)
{
        for (int i = 0; i < DB_STMT_COUNT; i++) {
                if (db->stmts[i] != NULL)
                        mysql_stmt_close(db->stmts[i]);
                db->stmts[i] = NULL;
        }
        if (db->conn != NULL) {
                /* Connector/C keeps a copy of the password and frees it
                 * without wiping it: wipe it first. */
                if (db->conn->passwd != NULL)
                        OPENSSL_cleanse(db->conn->passwd,
                                        strlen(db->conn->passwd));
                mysql_close(db->conn);
        }
        db->conn = NULL;
}

/* The TLS options of the configuration onto `conn`. */
static int db_tls_set(MYSQL *conn, const struct ttp_conf *conf, char *err,
                      size_t errlen)
{
        my_bool verify = conf->db_ssl_verify_server_cert > 0;

        for (size_t i = 0; i < DB_TLS_NOPTIONS; i++) {
                const char *value = db_tls_value(conf, i);

                if (value != NULL &&
                    mysql_optionsv(conn, db_tls_options[i].option, value) !=
                        0) {
                        snprintf(err, errlen, "%s %s: refused by Connector/C",
                                 db_tls_options[i].key, value);
                        return -1;
                }
        }
        if (mysql_optionsv(conn, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify) !=
            0) {
                snprintf(err, errlen,
                         "db_ssl_verify_server_cert: refused by Connector/C");
                return -1;
        }
        return 0;
}

/* After a TLS failure: which settings were in play, so the message names
 * the file at fault ("No such file or directory" alone does not). */
static void db_tls_explain(const struct ttp_conf *conf, char *err,
                           size_t errlen)
{
        const char *sep = " (TLS settings: ";
        size_t len;

        for (size_t i = 0; i < DB_TLS_NOPTIONS; i++) {
                const char *value = db_tls_value(conf, i);

                if (value == NULL)
                        continue;
                len = strlen(err);
                if (len + 1 >= errlen)
                        return;
                snprintf(err + len, errlen - len, "%s%s %s", sep,
                         db_tls_options[i].key, value);
                sep = ", ";
        }
        len = strlen(err);
        if (len + 1 < errlen)
                snprintf(err + len, errlen - len,
                         "%sdb_ssl_verify_server_cert %s)", sep,
                         conf->db_ssl_verify_server_cert > 0 ? "yes" : "no");
}

static int db_connect(struct db *db, char *err, size_t errlen)
{
        const struct ttp_conf *conf = db->conf;
        unsigned timeout = conf->db_connect_timeout;
        unsigned io_timeout = 30;
        my_bool no = 0;

        if ((db->conn = mysql_init(NULL)) == NULL) {
                snprintf(err, errlen, "mysql_init: out of memory");
                return -1;
        }
        mysql_optionsv(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        /* A dead server must not hang the daemon forever. */
        mysql_optionsv(db->conn, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
        mysql_optionsv(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
        mysql_optionsv(db->conn, MYSQL_OPT_RECONNECT, &no);
        mysql_optionsv(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_optionsv(db->conn, MYSQL_INIT_COMMAND,
                       "SET SESSION time_zone = '+00:00'");
        /* Rows are locked explicitly (FOR UPDATE); no gap locks needed. */
        mysql_optionsv(db->conn, MYSQL_INIT_COMMAND,
                       "SET SESSION TRANSACTION ISOLATION LEVEL READ "
                       "COMMITTED");
        if (db_tls_set(db->conn, conf, err, errlen) == -1)
                goto fail;
        if (mysql_real_connect(db->conn, conf->db_host, conf->db_user,
                               conf->db_password, conf->db_name, conf->db_port,
                               conf->db_socket, 0) == NULL) {
                db->last_errno = mysql_errno(db->conn);
                snprintf(err, errlen, "connect to MariaDB %s as %s: %s",
                         conf->db_socket ? conf->db_socket : conf->db_host,
                         conf->db_user, mysql_error(db->conn));
                if (db->last_errno == CR_SSL_CONNECTION_ERROR)
                        db_tls_explain(conf, err, errlen);
                goto fail;
        }
        if (mysql_autocommit(db->conn, 0) != 0) {
                snprintf(err, errlen, "autocommit off: %s",
                         mysql_error(db->conn));
                goto fail;
        }
        for (int i = 0; i < DB_STMT_COUNT; i++) {
                MYSQL_STMT *st = mysql_stmt_init(db->conn);

                if (st == NULL) {
                        snprintf(err, errlen, "mysql_stmt_init: %s",
                                 mysql_error(db->conn));
                        goto fail;
                }
                db->stmts[i] = st;
                if (mysql_stmt_prepare(st, db_statements[i].sql,
                                       strlen(db_statements[i].sql)) != 0) {
                        snprintf(err, errlen, "prepare '%s': %s",
                                 db_statements[i].sql, mysql_stmt_error(st));
                        goto fail;
                }
                if (mysql_stmt_param_count(st) != db_statements[i].params) {
                        snprintf(err, errlen,
                                 "prepare '%s': %lu parameters, expected %u",
                                 db_statements[i].sql,
                                 mysql_stmt_param_count(st),
                                 db_statements[i].params);
                        goto fail;
                }
        }
        return 0;
fail:
        db_disconnect(db);
        return -1;
}

void db_thread_init(void)
{
        mysql_thread_init();
}

void db_thread_end(void)
{
        mysql_thread_end();
}

struct db *db_open(const struct ttp_conf *conf, char *err, size_t errlen)
{
        struct db *db;

        if ((db = calloc(1, sizeof(*db))) == NULL) {
                snprintf(err, errlen, "out of memory");
                return NULL;
        }
        db->conf = conf;
        if (db_connect(db, err, errlen) == -1) {
                free(db);
                return NULL;
        }
        return db;
}

void db_close(struct db *db)
{
        if (db == NULL)
                return;
        if (db->conn != NULL)
                mysql_rollback(db->conn);
        db_disconnect(db);
        for (size_t i = 0; i < DB_BULK_PARAMS_MAX; i++) {
                free(db->bulk[i].ints);
                free(db->bulk[i].ptrs);
                free(db->bulk[i].lengths);
                free(db->bulk[i].indicators);
        }
        free(db);
}

int db_ping(struct db *db, char *err, size_t errlen)
{
        if (db->conn != NULL && mysql_ping(db->conn) == 0)
                return 0;
        db_disconnect(db);
        return db_connect(db, err, errlen);
}

static int db_fail_stmt(struct db *db, MYSQL_STMT *st, enum db_stmt stmt,
                        char *err, size_t errlen)
{
        db->last_errno = mysql_stmt_errno(st);
        snprintf(err, errlen, "database: %s (statement %d, error %u)",
                 mysql_stmt_error(st), (int)stmt, db->last_errno);
        return -1;
}

static MYSQL_STMT *db_bind_exec(struct db *db, enum db_stmt stmt,
                                const struct db_val *params, size_t nparams,
                                char *err, size_t errlen)
{
        MYSQL_BIND bind[DB_PARAMS_MAX];
        unsigned long lengths[DB_PARAMS_MAX];
        MYSQL_STMT *st = db->stmts[stmt];

        db->last_errno = 0;
        if (st == NULL) {
                db->last_errno = CR_SERVER_GONE_ERROR;
                snprintf(err, errlen, "database: not connected");
                return NULL;
        }
        if (nparams != db_statements[stmt].params || nparams > DB_PARAMS_MAX) {
                snprintf(err, errlen,
                         "database: statement %d takes %u "
                         "parameters, given %zu",
                         (int)stmt, db_statements[stmt].params, nparams);
                return NULL;
        }
        memset(bind, 0, sizeof(bind));
        for (size_t i = 0; i < nparams; i++) {
                const struct db_val *v = &params[i];

                switch (v->type) {
                case DB_T_NULL:
                        bind[i].buffer_type = MYSQL_TYPE_NULL;
                        break;
                case DB_T_STR:
                case DB_T_BIN:
                        bind[i].buffer_type = v->type == DB_T_STR
                                                  ? MYSQL_TYPE_STRING
                                                  : MYSQL_TYPE_BLOB;
                        bind[i].buffer = (void *)v->ptr;
                        bind[i].buffer_length = (unsigned long)v->len;
                        lengths[i] = (unsigned long)v->len;
                        bind[i].length = &lengths[i];
                        break;
                case DB_T_I64:
                        bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
                        bind[i].buffer = (void *)&v->i;
                        break;
                }
        }
        if ((nparams > 0 && mysql_stmt_bind_param(st, bind) != 0) ||
            mysql_stmt_execute(st) != 0) {
                db_fail_stmt(db, st, stmt, err, errlen);
                return NULL;
        }
        return st;
}

int db_exec(struct db *db, enum db_stmt stmt, const struct db_val *params,
            size_t nparams, uint64_t *affected, char *err, size_t errlen)
{
        MYSQL_STMT *st = db_bind_exec(db, stmt, params, nparams, err, errlen);
        uint64_t n;

        if (st == NULL)
                return -1;
        n = (uint64_t)mysql_stmt_affected_rows(st);
        if (n != 0)
                db->writes++;
        if (affected != NULL)
                *affected = n;
        return 0;
}

uint64_t db_writes(const struct db *db)
{
        return db->writes;
}

static int db_bulk_reserve(struct db_bulk_col *c, size_t nrows)
{
        void *p;

        if (nrows <= c->cap)
                return 0;
        if ((p = realloc(c->ints, nrows * sizeof(*c->ints))) == NULL)
                return -1;
        c->ints = p;
        if ((p = realloc(c->ptrs, nrows * sizeof(*c->ptrs))) == NULL)
                return -1;
        c->ptrs = p;
        if ((p = realloc(c->lengths, nrows * sizeof(*c->lengths))) == NULL)
                return -1;
        c->lengths = p;
        if ((p = realloc(c->indicators, nrows)) == NULL)
                return -1;
        c->indicators = p;
        c->cap = nrows;
        return 0;
}

int db_exec_bulk(struct db *db, enum db_stmt stmt, const struct db_val *params,
                 size_t nparams, size_t nrows, uint64_t *affected, char *err,
                 size_t errlen)
{
        MYSQL_BIND bind[DB_BULK_PARAMS_MAX];
        MYSQL_STMT *st = db->stmts[stmt];
        unsigned int size = (unsigned int)nrows, none = 0;
        int ret = -1;

        db->last_errno = 0;
        if (nrows == 0) {
                if (affected != NULL)
                        *affected = 0;
                return 0;
        }
        if (nrows == 1)
                return db_exec(db, stmt, params, nparams, affected, err,
                               errlen);
        if (st == NULL) {
                db->last_errno = CR_SERVER_GONE_ERROR;
                snprintf(err, errlen, "database: not connected");
                return -1;
        }
        if (nparams != db_statements[stmt].params ||
            nparams > DB_BULK_PARAMS_MAX || nparams == 0 ||
            nrows > UINT32_MAX) {
                snprintf(err, errlen,
                         "database: statement %d takes %u "
                         "parameters, given %zu (%zu rows)",
                         (int)stmt, db_statements[stmt].params, nparams, nrows);
                return -1;
        }
        memset(bind, 0, sizeof(bind));
        for (size_t i = 0; i < nparams; i++) {
                struct db_bulk_col *c = &db->bulk[i];
                enum db_type type = DB_T_NULL;

                if (db_bulk_reserve(c, nrows) == -1) {
                        snprintf(err, errlen, "database: out of memory");
                        return -1;
                }
                for (size_t r = 0; r < nrows; r++) {
                        const struct db_val *v = &params[r * nparams + i];

                        c->ints[r] = v->i;
                        c->ptrs[r] = v->ptr;
                        c->lengths[r] = (unsigned long)v->len;
                        c->indicators[r] = v->type == DB_T_NULL
                                               ? STMT_INDICATOR_NULL
                                               : STMT_INDICATOR_NONE;
                        if (v->type == DB_T_NULL || v->type == type)
                                continue;
                        if (type != DB_T_NULL) {
                                snprintf(err, errlen,
                                         "database: statement %d, parameter "
                                         "%zu: mixed types in a bulk",
                                         (int)stmt, i);
                                return -1;
                        }
                        type = v->type;
                }
                bind[i].buffer =
                    type == DB_T_I64 ? (void *)c->ints : (void *)c->ptrs;
                bind[i].u.indicator = c->indicators;
                switch (type) {
                case DB_T_I64:
                        bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
                        break;
                case DB_T_STR:
                        bind[i].buffer_type = MYSQL_TYPE_STRING;
                        bind[i].length = c->lengths;
                        break;
                case DB_T_BIN:
                case DB_T_NULL: /* all NULL: any variable-length type */
                        bind[i].buffer_type = MYSQL_TYPE_BLOB;
                        bind[i].length = c->lengths;
                        break;
                }
        }
        if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &size) != 0 ||
            mysql_stmt_bind_param(st, bind) != 0 ||
            mysql_stmt_execute(st) != 0) {
                db_fail_stmt(db, st, stmt, err, errlen);
                goto done;
        }
        if (mysql_stmt_affected_rows(st) != 0)
                db->writes++;
        if (affected != NULL)
                *affected = (uint64_t)mysql_stmt_affected_rows(st);
        ret = 0;
done:
        /* The statement binds one row again for everyone else. */
        mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &none);
        return ret;
}

int db_query(struct db *db, enum db_stmt stmt, const struct db_val *params,
             size_t nparams, struct db_out *cols, size_t ncols,
             int (*row)(void *ctx, const struct db_out *cols), void *ctx,
             int *found, char *err, size_t errlen)
{
        MYSQL_BIND bind[DB_COLS_MAX];
        unsigned long lengths[DB_COLS_MAX];
        my_bool nulls[DB_COLS_MAX], errors[DB_COLS_MAX];
        MYSQL_STMT *st;
        int ret = -1, rc;

        *found = 0;
        if (ncols > DB_COLS_MAX) {
                snprintf(err, errlen, "database: too many columns");
                return -1;
        }
        if ((st = db_bind_exec(db, stmt, params, nparams, err, errlen)) == NULL)
                return -1;
        memset(bind, 0, sizeof(bind));
        for (size_t i = 0; i < ncols; i++) {
                switch (cols[i].type) {
                case DB_T_STR:
                case DB_T_BIN:
                        bind[i].buffer_type = MYSQL_TYPE_BLOB;
                        bind[i].buffer = cols[i].buf;
                        bind[i].buffer_length = (unsigned long)cols[i].cap;
                        break;
                case DB_T_I64:
                        bind[i].buffer_type = MYSQL_TYPE_LONGLONG;
                        bind[i].buffer = &cols[i].i;
                        break;
                case DB_T_NULL:
                        bind[i].buffer_type = MYSQL_TYPE_NULL;
                        break;
                }
                bind[i].length = &lengths[i];
                bind[i].is_null = &nulls[i];
                bind[i].error = &errors[i];
        }
        if (mysql_stmt_bind_result(st, bind) != 0 ||
            mysql_stmt_store_result(st) != 0) {
                db_fail_stmt(db, st, stmt, err, errlen);
                goto done;
        }
        while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
                for (size_t i = 0; i < ncols; i++) {
                        cols[i].is_null = nulls[i];
                        cols[i].len = nulls[i] ? 0 : lengths[i];
                        if (cols[i].type == DB_T_STR ||
                            cols[i].type == DB_T_BIN) {
                                size_t room = cols[i].type == DB_T_STR
                                                  ? cols[i].cap - 1
                                                  : cols[i].cap;
                                if (cols[i].len > room) {
                                        snprintf(err, errlen,
                                                 "database: column %zu of "
                                                 "statement %d has %zu bytes, "
                                                 "room for %zu",
                                                 i, (int)stmt, cols[i].len,
                                                 room);
                                        goto done;
                                }
                                if (cols[i].type == DB_T_STR)
                                        ((char *)cols[i].buf)[cols[i].len] =
                                            '\0';
                        }
                }
                (*found)++;
                if (row == NULL)
                        break;
                if (row(ctx, cols) == -1) {
                        snprintf(err, errlen, "database: row handler failed");
                        goto done;
                }
        }
        if (rc == 1) {
                db_fail_stmt(db, st, stmt, err, errlen);
                goto done;
        }
        ret = 0;
done:
        mysql_stmt_free_result(st);
        return ret;
}

int db_commit(struct db *db, char *err, size_t errlen)
{
        db->last_errno = 0;
        if (db->conn == NULL) {
                db->last_errno = CR_SERVER_GONE_ERROR;
                snprintf(err, errlen, "database: not connected");
                return -1;
        }
        if (mysql_commit(db->conn) != 0) {
                db->last_errno = mysql_errno(db->conn);
                snprintf(err, errlen, "database: commit: %s (error %u)",
                         mysql_error(db->conn), db->last_errno);
                return -1;
        }
        return 0;
}

void db_rollback(struct db *db)
{
        if (db->conn != NULL)
                mysql_rollback(db->conn);
}

unsigned db_errno(const struct db *db)
{
        return db->last_errno;
}

int db_error_is_connection(unsigned err)
{
        return err == CR_SERVER_GONE_ERROR || err == CR_SERVER_LOST ||
               err == CR_CONNECTION_ERROR || err == CR_CONN_HOST_ERROR ||
               err == ER_CONNECTION_KILLED || err == CR_COMMANDS_OUT_OF_SYNC ||
               err == ER_SERVER_SHUTDOWN;
}

int db_error_is_retryable(unsigned err)
{
        return err == ER_LOCK_DEADLOCK || err == ER_LOCK_WAIT_TIMEOUT;
}

int db_error_is_duplicate(unsigned err)
{
        return err == ER_DUP_ENTRY;
}

int db_schema_version(struct db *db, int *version, char *err, size_t errlen)
{
        struct db_out out = DB_OUT_I64();
        int found, ret;

        ret = db_query(db, DB_SCHEMA_VERSION_GET, NULL, 0, &out, 1, NULL, NULL,
                       &found, err, errlen);
        db_rollback(db);
        if (ret == 0)
                *version = found ? (int)out.i : 0;
        return ret;
}

const char *db_server_info(struct db *db)
{
        return db->conn != NULL ? mysql_get_server_info(db->conn) : "";
}

/*
 * db: MariaDB Connector/C session with prepared statements only.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

#include "ttp_conf.h"

enum db_stmt { DB_STMT_SCHEMA_VERSION, DB_STMT_COUNT };

static const struct {
        const char *sql;
        unsigned params;
} db_statements[DB_STMT_COUNT] = {
    [DB_STMT_SCHEMA_VERSION] = {"SELECT COALESCE(MAX(version), 0) "
                                "FROM schema_migrations",
                                0},
};

struct db {
        const struct ttp_conf *conf; /* borrowed */
        MYSQL *conn;
        MYSQL_STMT *stmts[DB_STMT_COUNT];
};

static void db_disconnect(struct db *db)
{
        for (int i = 0; i < DB_STMT_COUNT; i++) {
                if (db->stmts[i] != NULL)
                        mysql_stmt_close(db->stmts[i]);
                db->stmts[i] = NULL;
        }
        if (db->conn != NULL)
                mysql_close(db->conn);
        db->conn = NULL;
}

static int db_connect(struct db *db, char *err, size_t errlen)
{
        const struct ttp_conf *conf = db->conf;
        unsigned timeout = conf->db_connect_timeout;
        my_bool no = 0;

        if ((db->conn = mysql_init(NULL)) == NULL) {
                snprintf(err, errlen, "mysql_init: out of memory");
                return -1;
        }
        mysql_optionsv(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        mysql_optionsv(db->conn, MYSQL_OPT_RECONNECT, &no);
        mysql_optionsv(db->conn, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_optionsv(db->conn, MYSQL_INIT_COMMAND,
                       "SET SESSION time_zone = '+00:00'");
        if (mysql_real_connect(db->conn, conf->db_host, conf->db_user,
                               conf->db_password, conf->db_name, conf->db_port,
                               conf->db_socket, 0) == NULL) {
                snprintf(err, errlen, "connect to MariaDB %s as %s: %s",
                         conf->db_socket ? conf->db_socket : conf->db_host,
                         conf->db_user, mysql_error(db->conn));
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
        db_disconnect(db);
        free(db);
}

int db_ping(struct db *db, char *err, size_t errlen)
{
        if (db->conn != NULL && mysql_ping(db->conn) == 0)
                return 0;
        db_disconnect(db);
        return db_connect(db, err, errlen);
}

int db_schema_version(struct db *db, int *version, char *err, size_t errlen)
{
        MYSQL_STMT *st = db->stmts[DB_STMT_SCHEMA_VERSION];
        MYSQL_BIND out;
        long long v = 0;
        int ret = -1;

        if (st == NULL) {
                snprintf(err, errlen, "not connected to MariaDB");
                return -1;
        }
        memset(&out, 0, sizeof(out));
        out.buffer_type = MYSQL_TYPE_LONGLONG;
        out.buffer = &v;
        if (mysql_stmt_execute(st) != 0 ||
            mysql_stmt_bind_result(st, &out) != 0 ||
            mysql_stmt_store_result(st) != 0) {
                snprintf(err, errlen, "schema version: %s",
                         mysql_stmt_error(st));
                goto done;
        }
        switch (mysql_stmt_fetch(st)) {
        case 0:
                *version = (int)v;
                ret = 0;
                break;
        case MYSQL_NO_DATA:
                *version = 0;
                ret = 0;
                break;
        default:
                snprintf(err, errlen, "schema version: %s",
                         mysql_stmt_error(st));
        }
done:
        mysql_stmt_free_result(st);
        return ret;
}

const char *db_server_info(struct db *db)
{
        return db->conn != NULL ? mysql_get_server_info(db->conn) : "";
}

/*
 * cdb: the administrator's MariaDB session of the campaign.
 */
#include "cdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>

struct cdb {
        MYSQL *conn;
};

struct cdb *cdb_open(const char *cnf, char *err, size_t errlen)
{
        struct cdb *db = calloc(1, sizeof(*db));
        unsigned timeout = 5;

        if (db == NULL || (db->conn = mysql_init(NULL)) == NULL) {
                snprintf(err, errlen, "out of memory");
                free(db);
                return NULL;
        }
        mysql_optionsv(db->conn, MYSQL_READ_DEFAULT_FILE, cnf);
        mysql_optionsv(db->conn, MYSQL_READ_DEFAULT_GROUP, "client");
        mysql_optionsv(db->conn, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        mysql_optionsv(db->conn, MYSQL_OPT_READ_TIMEOUT, &timeout);
        mysql_optionsv(db->conn, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
        if (mysql_real_connect(db->conn, NULL, NULL, NULL, "tds", 0, NULL, 0) ==
            NULL) {
                snprintf(err, errlen, "connect with %s: %s", cnf,
                         mysql_error(db->conn));
                cdb_close(db);
                return NULL;
        }
        return db;
}

void cdb_close(struct cdb *db)
{
        if (db == NULL)
                return;
        if (db->conn != NULL)
                mysql_close(db->conn);
        free(db);
}

long cdb_query(struct cdb *db, const char *sql,
               int (*row)(void *arg, char **cols, unsigned long *lens,
                          unsigned ncols),
               void *arg, char *err, size_t errlen)
{
        MYSQL_RES *res = NULL;
        MYSQL_ROW r;
        long n = 0;

        if (mysql_real_query(db->conn, sql, strlen(sql)) != 0) {
                snprintf(err, errlen, "%.80s: %s", sql, mysql_error(db->conn));
                return -1;
        }
        if ((res = mysql_store_result(db->conn)) == NULL) {
                if (mysql_field_count(db->conn) == 0)
                        return 0;
                snprintf(err, errlen, "%.80s: %s", sql, mysql_error(db->conn));
                return -1;
        }
        while ((r = mysql_fetch_row(res)) != NULL) {
                if (row != NULL && row(arg, r, mysql_fetch_lengths(res),
                                       mysql_num_fields(res)) == -1) {
                        snprintf(err, errlen, "%.80s: a row was refused", sql);
                        n = -1;
                        break;
                }
                n++;
        }
        mysql_free_result(res);
        return n;
}

static int cdb_first_long(void *arg, char **cols, unsigned long *lens,
                          unsigned ncols)
{
        long *v = arg;

        (void)lens;
        if (ncols > 0 && cols[0] != NULL && *v == -1)
                *v = strtol(cols[0], NULL, 10);
        return 0;
}

long cdb_long(struct cdb *db, const char *sql, char *err, size_t errlen)
{
        long v = -1;

        if (cdb_query(db, sql, cdb_first_long, &v, err, errlen) == -1)
                return -1;
        return v;
}

int cdb_kill(struct cdb *db, unsigned long id, char *err, size_t errlen)
{
        char sql[64];

        snprintf(sql, sizeof(sql), "KILL CONNECTION %lu", id);
        return cdb_query(db, sql, NULL, NULL, err, errlen) == -1 ? -1 : 0;
}

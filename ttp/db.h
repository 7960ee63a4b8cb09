/*
 * db: the daemon's MariaDB session.
 *
 * After OpenSMTPD's table-mysql: every statement is an entry of enum
 * db_stmt, prepared at connect time with its parameter count checked;
 * a lost connection is reopened and re-prepared explicitly by db_ping()
 * (MYSQL_OPT_RECONNECT stays off: a silent reconnect would lose the
 * session's transaction without telling anyone).
 */
#ifndef TTP_DB_H
#define TTP_DB_H

#include <stddef.h>

struct ttp_conf;
struct db;

/* The schema version this daemon was written for (sql/migrations). */
#define DB_SCHEMA_VERSION 1

/* Connect and prepare.  NULL with a message on error; caller frees. */
struct db *db_open(const struct ttp_conf *conf, char *err, size_t errlen);
void db_close(struct db *db);

/*
 * Check the session is alive; if it is not, reconnect and re-prepare
 * once.  -1 with a message when the server cannot be reached.
 */
int db_ping(struct db *db, char *err, size_t errlen);

/* Highest applied migration; -1 with a message on error. */
int db_schema_version(struct db *db, int *version, char *err, size_t errlen);

/* Server version string, borrowed. */
const char *db_server_info(struct db *db);

#endif

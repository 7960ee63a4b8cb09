/*
 * cdb: the campaign's MariaDB session, as the stack's administrator (the
 * option file `tds-stack env` names as TDS_DB_ADMIN_CNF).  It reads the
 * TTP's tables for the invariants and kills the daemon's session; the
 * daemon's own account could do neither.  The statements are constant
 * text; the one number in a KILL comes from the server itself.
 */
#ifndef FAULTS_CDB_H
#define FAULTS_CDB_H

#include <stddef.h>

struct cdb;

/* cdb_open: connect with option file `cnf`, database tds.  Caller frees
 * with cdb_close.  Needs mysql_library_init() first (and, in a thread,
 * mysql_thread_init()). */
struct cdb *cdb_open(const char *cnf, char *err, size_t errlen);
void cdb_close(struct cdb *db);

/*
 * cdb_query: run `sql`; for each row call `row(arg, cols, lens, ncols)`
 * (NULL columns as NULL); a row callback returning -1 stops with an
 * error.  `row` may be NULL for statements without rows.  Returns the
 * number of rows, or -1 with `err`.
 */
long cdb_query(struct cdb *db, const char *sql,
               int (*row)(void *arg, char **cols, unsigned long *lens,
                          unsigned ncols),
               void *arg, char *err, size_t errlen);

/* cdb_long: the first column of the first row as a number (-1 on error
 * or no row). */
long cdb_long(struct cdb *db, const char *sql, char *err, size_t errlen);

/* cdb_kill: KILL CONNECTION `id`. */
int cdb_kill(struct cdb *db, unsigned long id, char *err, size_t errlen);

#endif

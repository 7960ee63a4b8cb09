/*
 * tds audit: what the TTP recorded, read through the audit views
 * (audit_exchanges, audit_uploads) with the read-only tds_auditor
 * account.  The account can read nothing else, so the views are all this
 * file ever names.
 *
 * Every statement is prepared; user input reaches the server only as
 * bound parameters.  The WHERE clause is assembled from a fixed table of
 * clause texts, chosen by which filters are present, so the SQL text
 * depends on the set of options given, never on their values.
 *
 * The session runs in UTC (the daemon writes its times with
 * FROM_UNIXTIME in UTC) and read-only, with autocommit off so that the
 * queries of one `show` see one snapshot.
 */
#include "commands.h"

#include "dbcnf.h"
#include "errbuf.h"
#include "home.h"
#include "ids.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <errmsg.h>
#include <jansson.h>
#include <mysql.h>
#include <openssl/crypto.h>

#define AUDIT_OK    0
#define AUDIT_FAIL  1
#define AUDIT_USAGE 2

/* Hashes in the table: enough to tell rows apart and grep --json. */
#define AUDIT_HASH_SHOWN 12
/* The longest view value: name, VARBINARY(1024). */
#define AUDIT_VALUE_MAX 1100
#define AUDIT_COLS_MAX  16
#define AUDIT_PARAMS    5
/*
 * FROM_UNIXTIME's range in MariaDB 10.x is 0 to 2^31-1; beyond it gives
 * NULL, which would silently match nothing.  Filters are clamped to it
 * (the daemon cannot have written a time outside it either).
 */
#define AUDIT_TIME_MAX 2147483647LL

#define AUDIT_TIME(col) "DATE_FORMAT(" col ", '%Y-%m-%dT%H:%i:%sZ')"

enum audit_type { AT_STR, AT_U64, AT_NAME };

struct audit_col {
        const char *name; /* JSON key */
        enum audit_type type;
        const char *header; /* table header, NULL: not in the table */
        int hash;           /* truncated in the table */
};

/* The columns of each view, in select-list order. */
static const struct audit_col exchange_cols[] = {
    {"completed_at", AT_STR, "COMPLETED", 0},
    {"file_id", AT_STR, "FILE_ID", 0},
    {"uploader", AT_STR, "UPLOADER", 0},
    {"downloader", AT_STR, "DOWNLOADER", 0},
    {"name", AT_NAME, NULL, 0},
    {"size", AT_U64, "SIZE", 0},
    {"sha256", AT_STR, "SHA256", 1},
    {"nro_sha256", AT_STR, "NRO_SHA256", 1},
    {"nrr_sha256", AT_STR, "NRR_SHA256", 1},
    {"nro", AT_STR, NULL, 0},
    {"nrr", AT_STR, NULL, 0},
    {"upload_nonce", AT_STR, NULL, 0},
    {"download_nonce", AT_STR, NULL, 0},
    {"ttp_sig", AT_STR, NULL, 0},
    {"uploaded_at", AT_STR, NULL, 0},
    {"aborted_at", AT_STR, "ABORTED", 0},
};
static const char exchange_select[] = "SELECT " AUDIT_TIME(
    "completed_at") ", file_id, uploader, downloader, "
                    "name, size, sha256, nro_sha256, nrr_sha256, nro, nrr, "
                    "upload_nonce, "
                    "download_nonce, ttp_sig, " AUDIT_TIME(
                        "uploaded_at") ", " AUDIT_TIME("aborted_at") " FROM "
                                                                     "audit_"
                                                                     "exchange"
                                                                     "s";
static const char exchange_order[] =
    " ORDER BY completed_at, file_id, download_nonce";

static const struct audit_col upload_cols[] = {
    {"uploaded_at", AT_STR, "UPLOADED", 0},
    {"file_id", AT_STR, "FILE_ID", 0},
    {"uploader", AT_STR, "UPLOADER", 0},
    {"name", AT_NAME, NULL, 0},
    {"size", AT_U64, "SIZE", 0},
    {"sha256", AT_STR, "SHA256", 1},
    {"nro_sha256", AT_STR, "NRO_SHA256", 1},
    {"nro", AT_STR, NULL, 0},
    {"ttp_sig", AT_STR, NULL, 0},
    {"aborted_at", AT_STR, "ABORTED", 0},
};
static const char upload_select[] = "SELECT " AUDIT_TIME(
    "uploaded_at") ", file_id, uploader, name, size, "
                   "sha256, nro_sha256, nro, ttp_sig, " AUDIT_TIME(
                       "aborted_at") " FROM audit_uploads";
static const char upload_order[] = " ORDER BY uploaded_at, file_id";

#define NCOLS(a) (sizeof(a) / sizeof(a[0]))

/*
 * The only WHERE clauses there are.  `time_col` is the view's event
 * time; until is exclusive of until + 1 s, i.e. inclusive at the
 * second, which is the precision of the evidence times.
 */
enum audit_filter { AF_FILE_ID, AF_USER, AF_SINCE, AF_UNTIL, AF_N };

struct audit_view {
        const char *select, *order;
        const struct audit_col *cols;
        size_t ncols;
        const char *clause[AF_N];
        int user_params; /* placeholders of the AF_USER clause */
};

static const struct audit_view view_exchanges = {
    exchange_select,
    exchange_order,
    exchange_cols,
    NCOLS(exchange_cols),
    {"file_id = ?", "(uploader = ? OR downloader = ?)",
     "completed_at >= FROM_UNIXTIME(?)", "completed_at < FROM_UNIXTIME(?)"},
    2};

static const struct audit_view view_uploads = {
    upload_select,
    upload_order,
    upload_cols,
    NCOLS(upload_cols),
    {"file_id = ?", "uploader = ?", "uploaded_at >= FROM_UNIXTIME(?)",
     "uploaded_at < FROM_UNIXTIME(?)"},
    1};

struct audit_filters {
        const char *file_id, *user;
        int has_since, has_until;
        long long since, until; /* seconds, until already + 1 */
};

void cmd_audit_help(FILE *out)
{
        fprintf(out, "usage: tds audit [--defaults-file FILE] exchanges "
                     "[--file-id ID] [--user NAME]\n"
                     "                 [--since TIME] [--until TIME] [--json]\n"
                     "       tds audit [--defaults-file FILE] uploads [same "
                     "filters] [--json]\n"
                     "       tds audit [--defaults-file FILE] show FILE_ID "
                     "[--json]\n"
                     "\n"
                     "Read what the TTP recorded, with the read-only auditor "
                     "account: completed\n"
                     "exchanges, completed uploads, or everything about one "
                     "file (its upload and\n"
                     "every exchange, with all evidence fields).\n"
                     "\n"
                     "  --defaults-file FILE  MariaDB option file, group "
                     "[client] (default:\n"
                     "                        $TDS_AUDITOR_CNF, else "
                     "<client home>/auditor.cnf)\n"
                     "  --file-id ID          only this file\n"
                     "  --user NAME           only rows where NAME is the "
                     "uploader or the downloader\n"
                     "  --since TIME          at or after TIME "
                     "(YYYY-MM-DDTHH:MM:SSZ)\n"
                     "  --until TIME          at or before TIME\n"
                     "  --json                a JSON array of objects with "
                     "every column\n"
                     "\n"
                     "TIME is the exchange's completion time (exchanges) or "
                     "the upload time\n"
                     "(uploads).  A FILE_ID starting with '-' goes after "
                     "\"--\".\n"
                     "\n"
                     "Exit status: 0 success, 1 failure (no option file, "
                     "server unreachable,\n"
                     "unknown file), 2 usage error.\n"
                     "\n"
                     "The evidence log (see `tds audit log-recompute --help`, "
                     "`tds audit log-check\n"
                     "--help`):\n"
                     "       tds audit [--defaults-file FILE] log-recompute "
                     "[--ttp-key PEM] [--tsa-ca PEM]\n"
                     "       tds audit log-check OLD_HEAD NEW_HEAD   (needs a "
                     "configured user)\n");
}

/* The option file: the flag, else $TDS_AUDITOR_CNF, else the home's. */
int audit_cnf_path(const char *flag, char *out, size_t outlen, char *err,
                   size_t errlen)
{
        const char *env = getenv("TDS_AUDITOR_CNF");
        char home[HOME_PATH_MAX];

        if (flag != NULL || (env != NULL && env[0] != '\0')) {
                if ((size_t)snprintf(out, outlen, "%s",
                                     flag != NULL ? flag : env) >= outlen) {
                        errbuf_set(err, errlen, "option file path too long");
                        return -1;
                }
                return 0;
        }
        if (home_resolve(NULL, home, sizeof(home), err, errlen) == -1 ||
            home_path(home, "auditor.cnf", out, outlen, err, errlen) == -1)
                return -1;
        return 0;
}

/*
 * Close `db` after wiping the password Connector/C copied from the option
 * file: it frees its copies without wiping them.
 */
void audit_close(MYSQL *db)
{
        if (db == NULL)
                return;
        if (db->passwd != NULL)
                OPENSSL_cleanse(db->passwd, strlen(db->passwd));
        if (db->options.password != NULL)
                OPENSSL_cleanse(db->options.password,
                                strlen(db->options.password));
        mysql_close(db);
}

MYSQL *audit_connect(const char *cnf, char *err, size_t errlen)
{
        unsigned int connect_timeout = 10, io_timeout = 60;
        struct dbcnf checked;
        my_bool no = 0;
        size_t len;
        MYSQL *db;
        int fd;

        /*
         * Connector/C skips an option file it cannot open and would then
         * try a default server as the current user: say so instead.
         */
        if ((fd = open(cnf, O_RDONLY | O_CLOEXEC)) == -1) {
                errbuf_set(err, errlen,
                           "option file %s: %s (use --defaults-file or set "
                           "TDS_AUDITOR_CNF)",
                           cnf, strerror(errno));
                return NULL;
        }
        close(fd);
        /* Connector/C ignores what it does not know: check first. */
        if (dbcnf_check(cnf, &checked, err, errlen) == -1)
                return NULL;
        if ((db = mysql_init(NULL)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                return NULL;
        }
        mysql_optionsv(db, MYSQL_READ_DEFAULT_FILE, cnf);
        mysql_optionsv(db, MYSQL_READ_DEFAULT_GROUP, "client");
        mysql_optionsv(db, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
        mysql_optionsv(db, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
        mysql_optionsv(db, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
        mysql_optionsv(db, MYSQL_OPT_RECONNECT, &no);
        mysql_optionsv(db, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_optionsv(db, MYSQL_INIT_COMMAND,
                       "SET SESSION time_zone = '+00:00'");
        mysql_optionsv(db, MYSQL_INIT_COMMAND,
                       "SET SESSION TRANSACTION READ ONLY");
        if (mysql_real_connect(db, NULL, NULL, NULL, NULL, 0, NULL, 0) ==
            NULL) {
                errbuf_set(err, errlen,
                           "cannot connect to MariaDB with option file %s: %s",
                           cnf, mysql_error(db));
                /* "No such file or directory" alone names no file. */
                len = strlen(err);
                if (mysql_errno(db) == CR_SSL_CONNECTION_ERROR &&
                    checked.tls[0] != '\0' && len + 1 < errlen)
                        errbuf_set(err + len, errlen - len,
                                   " (TLS settings: %s)", checked.tls);
                audit_close(db);
                return NULL;
        }
        if (mysql_autocommit(db, 0) != 0) {
                errbuf_set(err, errlen, "autocommit off: %s", mysql_error(db));
                audit_close(db);
                return NULL;
        }
        return db;
}

/* A MariaDB error, with a hint for the one a wrong option file causes. */
static void audit_db_err(MYSQL_STMT *st, const char *what, const char *cnf,
                         char *err, size_t errlen)
{
        if (mysql_stmt_errno(st) == 1046) /* ER_NO_DB_ERROR */
                errbuf_set(err, errlen,
                           "%s: no database selected: add database=tds to the "
                           "[client] group of %s",
                           what, cnf);
        else
                errbuf_set(err, errlen, "%s: %s", what, mysql_stmt_error(st));
}

/* Append the constant `s` to the SQL text being built. */
static int audit_sql_add(char *sql, size_t size, const char *s)
{
        size_t used = strlen(sql), n = strlen(s);

        if (used + n + 1 > size)
                return -1;
        memcpy(sql + used, s, n + 1);
        return 0;
}

static json_t *audit_name_json(const char *buf, size_t len)
{
        json_t *s = json_stringn(buf, len);
        static const char hexd[] = "0123456789abcdef";
        char hex[2 * AUDIT_VALUE_MAX + 1];

        if (s != NULL)
                return s;
        /* Not UTF-8: the bytes as hex, marked, rather than lost. */
        for (size_t i = 0; i < len && i < AUDIT_VALUE_MAX; i++) {
                hex[2 * i] = hexd[(unsigned char)buf[i] >> 4];
                hex[2 * i + 1] = hexd[(unsigned char)buf[i] & 15];
        }
        hex[2 * (len < AUDIT_VALUE_MAX ? len : AUDIT_VALUE_MAX)] = '\0';
        return json_pack("{s:s}", "hex", hex);
}

/*
 * Run the select of `v` with the WHERE clauses of the filters present in
 * `f`, and append one JSON object per row (every column) to `rows`.
 */
static int audit_query(MYSQL *db, const char *cnf, const struct audit_view *v,
                       const struct audit_filters *f, json_t *rows, char *err,
                       size_t errlen)
{
        static char values[AUDIT_COLS_MAX][AUDIT_VALUE_MAX];
        MYSQL_BIND params[AUDIT_PARAMS], res[AUDIT_COLS_MAX];
        unsigned long lens[AUDIT_COLS_MAX], plens[AUDIT_PARAMS];
        my_bool nulls[AUDIT_COLS_MAX], errors[AUDIT_COLS_MAX];
        unsigned long long size = 0;
        long long times[2];
        char sql[2048] = "";
        unsigned int np = 0;
        MYSQL_STMT *st = NULL;
        int rc, nclauses = 0, ret = -1;

        memset(params, 0, sizeof(params));
        memset(res, 0, sizeof(res));
        if (audit_sql_add(sql, sizeof(sql), v->select) == -1)
                goto toolong;
#define AUDIT_CLAUSE(which)                                                    \
        do {                                                                   \
                if (audit_sql_add(sql, sizeof(sql),                            \
                                  nclauses++ ? " AND " : " WHERE ") == -1 ||   \
                    audit_sql_add(sql, sizeof(sql), v->clause[which]) == -1)   \
                        goto toolong;                                          \
        } while (0)
#define AUDIT_BIND_STR(s)                                                      \
        do {                                                                   \
                plens[np] = strlen(s);                                         \
                params[np].buffer_type = MYSQL_TYPE_STRING;                    \
                params[np].buffer = (void *)(s);                               \
                params[np].buffer_length = plens[np];                          \
                params[np].length = &plens[np];                                \
                np++;                                                          \
        } while (0)
        if (f->file_id != NULL) {
                AUDIT_CLAUSE(AF_FILE_ID);
                AUDIT_BIND_STR(f->file_id);
        }
        if (f->user != NULL) {
                AUDIT_CLAUSE(AF_USER);
                for (int i = 0; i < v->user_params; i++)
                        AUDIT_BIND_STR(f->user);
        }
        if (f->has_since) {
                AUDIT_CLAUSE(AF_SINCE);
                times[0] = f->since;
                params[np].buffer_type = MYSQL_TYPE_LONGLONG;
                params[np++].buffer = &times[0];
        }
        if (f->has_until) {
                AUDIT_CLAUSE(AF_UNTIL);
                times[1] = f->until;
                params[np].buffer_type = MYSQL_TYPE_LONGLONG;
                params[np++].buffer = &times[1];
        }
#undef AUDIT_CLAUSE
#undef AUDIT_BIND_STR
        if (audit_sql_add(sql, sizeof(sql), v->order) == -1)
                goto toolong;

        if ((st = mysql_stmt_init(db)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        if (mysql_stmt_prepare(st, sql, strlen(sql)) != 0) {
                audit_db_err(st, "prepare", cnf, err, errlen);
                goto done;
        }
        /* The SQL and the bindings are built together; check they agree. */
        if (mysql_stmt_param_count(st) != np ||
            mysql_stmt_field_count(st) != v->ncols) {
                errbuf_set(err, errlen,
                           "internal: statement has %lu parameters and %u "
                           "columns, expected %u and %zu",
                           mysql_stmt_param_count(st),
                           mysql_stmt_field_count(st), np, v->ncols);
                goto done;
        }
        if ((np > 0 && mysql_stmt_bind_param(st, params) != 0) ||
            mysql_stmt_execute(st) != 0) {
                audit_db_err(st, "query", cnf, err, errlen);
                goto done;
        }
        for (size_t i = 0; i < v->ncols; i++) {
                res[i].length = &lens[i];
                res[i].is_null = &nulls[i];
                res[i].error = &errors[i];
                if (v->cols[i].type == AT_U64) {
                        res[i].buffer_type = MYSQL_TYPE_LONGLONG;
                        res[i].buffer = &size;
                        res[i].is_unsigned = 1;
                } else {
                        res[i].buffer_type = MYSQL_TYPE_STRING;
                        res[i].buffer = values[i];
                        res[i].buffer_length = sizeof(values[i]);
                }
        }
        if (mysql_stmt_bind_result(st, res) != 0) {
                audit_db_err(st, "bind", cnf, err, errlen);
                goto done;
        }
        while ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED) {
                json_t *row = json_object(), *val;

                if (row == NULL || json_array_append_new(rows, row) == -1) {
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
                if (rc == MYSQL_DATA_TRUNCATED) {
                        errbuf_set(err, errlen,
                                   "a value is longer than %d "
                                   "bytes: not an audit view?",
                                   AUDIT_VALUE_MAX);
                        goto done;
                }
                for (size_t i = 0; i < v->ncols; i++) {
                        if (nulls[i])
                                val = json_null();
                        else if (v->cols[i].type == AT_U64)
                                val = json_integer((json_int_t)size);
                        else if (v->cols[i].type == AT_NAME)
                                val = audit_name_json(values[i], lens[i]);
                        else
                                val = json_stringn(values[i], lens[i]);
                        if (val == NULL ||
                            json_object_set_new(row, v->cols[i].name, val)) {
                                errbuf_set(err, errlen,
                                           "column %s: not valid UTF-8",
                                           v->cols[i].name);
                                goto done;
                        }
                }
        }
        if (rc != MYSQL_NO_DATA) {
                audit_db_err(st, "fetch", cnf, err, errlen);
                goto done;
        }
        ret = 0;
        goto done;
toolong:
        errbuf_set(err, errlen, "internal: SQL text too long");
done:
        if (st != NULL) {
                mysql_stmt_free_result(st);
                mysql_stmt_close(st);
        }
        return ret;
}

/* One table cell: hashes cut to their first digits, NULL as "-". */
static const char *audit_cell(json_t *row, const struct audit_col *c, char *buf,
                              size_t len)
{
        json_t *v = json_object_get(row, c->name);

        if (v == NULL || json_is_null(v))
                return "-";
        if (json_is_integer(v)) {
                snprintf(buf, len, "%lld", (long long)json_integer_value(v));
                return buf;
        }
        if (!json_is_string(v))
                return "?";
        if (c->hash && json_string_length(v) > AUDIT_HASH_SHOWN) {
                snprintf(buf, len, "%.*s..", AUDIT_HASH_SHOWN,
                         json_string_value(v));
                return buf;
        }
        return json_string_value(v);
}

/*
 * One line of the table: the headers when `row` is NULL.  Columns are
 * padded to `width` and separated by two spaces; the last is not padded,
 * so that lines carry no trailing blanks.
 */
static void audit_table_line(const struct audit_view *v, const size_t *width,
                             json_t *row)
{
        const char *sep = "", *cell;
        size_t i, last = 0;
        char buf[64];

        for (i = 0; i < v->ncols; i++)
                if (v->cols[i].header != NULL)
                        last = i;
        for (i = 0; i < v->ncols; i++) {
                if (v->cols[i].header == NULL)
                        continue;
                cell = row == NULL
                           ? v->cols[i].header
                           : audit_cell(row, &v->cols[i], buf, sizeof(buf));
                printf("%s%-*s", sep, i == last ? 0 : (int)width[i], cell);
                sep = "  ";
        }
        putchar('\n');
}

static void audit_print_table(const struct audit_view *v, json_t *rows,
                              const char *noun)
{
        size_t width[AUDIT_COLS_MAX] = {0}, i, r, n;
        char buf[64];
        json_t *row;

        for (i = 0; i < v->ncols; i++)
                if (v->cols[i].header != NULL)
                        width[i] = strlen(v->cols[i].header);
        json_array_foreach(rows, r, row)
        {
                for (i = 0; i < v->ncols; i++) {
                        if (v->cols[i].header == NULL)
                                continue;
                        n = strlen(
                            audit_cell(row, &v->cols[i], buf, sizeof(buf)));
                        if (n > width[i])
                                width[i] = n;
                }
        }
        /*
         * Only restricted-alphabet columns are in the table (ids, users,
         * hex, times, numbers): nothing printed can carry a terminal
         * escape.  The free-form name is in `show` and --json.
         */
        audit_table_line(v, width, NULL);
        json_array_foreach(rows, r, row) audit_table_line(v, width, row);
        printf("(%zu %s%s)\n", json_array_size(rows), noun,
               json_array_size(rows) == 1 ? "" : "s");
}

static void audit_print_json(json_t *v)
{
        json_dumpf(v, stdout, JSON_INDENT(2));
        putchar('\n');
}

/*
 * A value for the terminal: the name is the one column a user chose
 * freely, so control characters (C0, DEL, C1 in UTF-8) are escaped.
 */
static void audit_print_value(json_t *v)
{
        const unsigned char *s;
        size_t n;

        if (v == NULL || json_is_null(v)) {
                printf("-");
                return;
        }
        if (json_is_integer(v)) {
                printf("%lld", (long long)json_integer_value(v));
                return;
        }
        if (json_is_object(v)) {
                printf("(not UTF-8) hex %s",
                       json_string_value(json_object_get(v, "hex")));
                return;
        }
        s = (const unsigned char *)json_string_value(v);
        n = json_string_length(v);
        for (size_t i = 0; i < n; i++) {
                if (s[i] < 0x20 || s[i] == 0x7f)
                        printf("\\x%02x", s[i]);
                else if (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 &&
                         s[i + 1] <= 0x9f) {
                        printf("\\u%04x", s[i + 1]);
                        i++;
                } else
                        putchar(s[i]);
        }
}

static void audit_print_fields(json_t *row, const char *const *keys,
                               const char *indent)
{
        for (size_t i = 0; keys[i] != NULL; i++) {
                printf("%s%-16s", indent, keys[i]);
                audit_print_value(json_object_get(row, keys[i]));
                putchar('\n');
        }
}

static int audit_show(MYSQL *db, const char *cnf, const char *file_id, int json,
                      char *err, size_t errlen)
{
        static const char *const upload_keys[] = {
            "file_id", "name",         "uploader",   "size",
            "sha256",  "upload_nonce", "nro",        "nro_sha256",
            "ttp_sig", "uploaded_at",  "aborted_at", NULL};
        static const char *const exchange_keys[] = {
            "downloader", "completed_at", "download_nonce",
            "nrr",        "nrr_sha256",   "ttp_sig",
            NULL};
        struct audit_filters f = {file_id, NULL, 0, 0, 0, 0};
        json_t *uploads = json_array(), *exchanges = json_array(), *out = NULL;
        json_t *up, *row, *nonce;
        size_t i;
        int ret = -1;

        if (uploads == NULL || exchanges == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        if (audit_query(db, cnf, &view_uploads, &f, uploads, err, errlen) ==
                -1 ||
            audit_query(db, cnf, &view_exchanges, &f, exchanges, err, errlen) ==
                -1)
                goto done;
        if ((up = json_array_get(uploads, 0)) == NULL) {
                errbuf_set(err, errlen, "no completed upload of %s", file_id);
                goto done;
        }
        if (json) {
                out = json_pack("{s:s, s:O, s:O}", "file_id", file_id, "upload",
                                up, "exchanges", exchanges);
                if (out == NULL) {
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
                audit_print_json(out);
                ret = 0;
                goto done;
        }
        /*
         * audit_uploads has no nonce column; every exchange row repeats
         * A's.  Added to this local copy for the listing only.
         */
        nonce = json_object_get(json_array_get(exchanges, 0), "upload_nonce");
        if (json_object_set_new(
                up, "upload_nonce",
                nonce != NULL
                    ? json_incref(nonce)
                    : json_string("- (recorded with exchanges only)")) == -1) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        printf("upload\n");
        audit_print_fields(up, upload_keys, "  ");
        json_array_foreach(exchanges, i, row)
        {
                printf("exchange %zu of %zu\n", i + 1,
                       json_array_size(exchanges));
                audit_print_fields(row, exchange_keys, "  ");
        }
        if (json_array_size(exchanges) == 0)
                printf("no completed exchange\n");
        ret = 0;
done:
        json_decref(out);
        json_decref(uploads);
        json_decref(exchanges);
        return ret;
}

/* --since/--until: RFC 3339 UTC, as seconds (clamped by the caller). */
static int audit_time_opt(const char *opt, const char *s, long long *out)
{
        char why[128];
        time_t t;

        if (ids_time_parse(s, &t, why, sizeof(why)) == -1) {
                fprintf(stderr,
                        "tds audit: %s %s: %s (want "
                        "YYYY-MM-DDTHH:MM:SSZ)\n",
                        opt, s, why);
                return -1;
        }
        *out = (long long)t;
        return 0;
}

static long long audit_time_clamp(long long t)
{
        return t < 0 ? 0 : t > AUDIT_TIME_MAX ? AUDIT_TIME_MAX : t;
}

/*
 * The verb among the arguments (options may come before it), skipping
 * the values of the options that take one.
 */
static const char *audit_verb(int argc, char **argv)
{
        static const char *const with_value[] = {
            "--defaults-file", "--file-id",        "--user",   "--since",
            "--until",         "--ttp-key",        "--tsa-ca", "--home",
            "--timeout",       "--passphrase-file"};

        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--") == 0)
                        return i + 1 < argc ? argv[i + 1] : NULL;
                if (argv[i][0] != '-')
                        return argv[i];
                for (size_t k = 0;
                     k < sizeof(with_value) / sizeof(with_value[0]); k++)
                        if (strcmp(argv[i], with_value[k]) == 0) {
                                i++;
                                break;
                        }
        }
        return NULL;
}

int cmd_audit(int argc, char **argv)
{
        static const struct option opts[] = {
            {"defaults-file", required_argument, NULL, 'd'},
            {"file-id", required_argument, NULL, 'F'},
            {"user", required_argument, NULL, 'u'},
            {"since", required_argument, NULL, 's'},
            {"until", required_argument, NULL, 'U'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        struct audit_filters f = {NULL, NULL, 0, 0, 0, 0};
        const char *cnf_flag = NULL, *sub, *since = NULL, *until = NULL;
        char cnf[HOME_PATH_MAX], err[1024], why[128];
        const struct audit_view *view = NULL;
        json_t *rows = NULL;
        MYSQL *db = NULL;
        int ch, json = 0, ret = AUDIT_FAIL;

        /* The evidence log's verbs have their own options and help. */
        sub = audit_verb(argc, argv);
        if (sub != NULL && strcmp(sub, "log-recompute") == 0)
                return cmd_audit_log_recompute(argc, argv);
        if (sub != NULL && strcmp(sub, "log-check") == 0)
                return cmd_audit_log_check(argc, argv);

        /* Options anywhere (getopt permutes): before or after the verb. */
        optind = 1;
        while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (ch) {
                case 'd':
                        cnf_flag = optarg;
                        break;
                case 'F':
                        f.file_id = optarg;
                        break;
                case 'u':
                        f.user = optarg;
                        break;
                case 's':
                        since = optarg;
                        break;
                case 'U':
                        until = optarg;
                        break;
                case 'j':
                        json = 1;
                        break;
                case 'h':
                        cmd_audit_help(stdout);
                        return AUDIT_OK;
                default:
                        goto usage;
                }
        }
        if (optind == argc) {
                fprintf(stderr, "tds audit: exchanges, uploads, show, "
                                "log-recompute or log-check?\n");
                goto usage;
        }
        sub = argv[optind++];
        if (strcmp(sub, "exchanges") == 0)
                view = &view_exchanges;
        else if (strcmp(sub, "uploads") == 0)
                view = &view_uploads;
        else if (strcmp(sub, "show") != 0) {
                fprintf(stderr, "tds audit: unknown subcommand '%s'\n", sub);
                goto usage;
        }
        if (view != NULL && optind != argc) {
                fprintf(stderr, "tds audit %s: unexpected argument '%s'\n", sub,
                        argv[optind]);
                goto usage;
        }
        if (view == NULL) {
                if (argc - optind != 1 || f.file_id || f.user || since ||
                    until) {
                        fprintf(stderr, "tds audit show: one FILE_ID and no "
                                        "filter options\n");
                        goto usage;
                }
                f.file_id = argv[optind];
        }
        if (f.file_id != NULL &&
            ids_check_file_id(f.file_id, why, sizeof(why)) == -1) {
                fprintf(stderr, "tds audit: file id: %s\n", why);
                goto usage;
        }
        if (f.user != NULL && ids_check_user(f.user, why, sizeof(why)) == -1) {
                fprintf(stderr, "tds audit: --user: %s\n", why);
                goto usage;
        }
        if (since != NULL) {
                if (audit_time_opt("--since", since, &f.since) == -1)
                        goto usage_quiet;
                f.since = audit_time_clamp(f.since);
                f.has_since = 1;
        }
        if (until != NULL) {
                if (audit_time_opt("--until", until, &f.until) == -1)
                        goto usage_quiet;
                /* "At or before" to the second: before until + 1 s. */
                f.until = audit_time_clamp(f.until + 1);
                f.has_until = 1;
        }

        if (audit_cnf_path(cnf_flag, cnf, sizeof(cnf), err, sizeof(err)) ==
                -1 ||
            (db = audit_connect(cnf, err, sizeof(err))) == NULL)
                goto fail;
        if (view == NULL) {
                if (audit_show(db, cnf, f.file_id, json, err, sizeof(err)) ==
                    -1)
                        goto fail;
                ret = AUDIT_OK;
                goto done;
        }
        if ((rows = json_array()) == NULL) {
                snprintf(err, sizeof(err), "out of memory");
                goto fail;
        }
        if (audit_query(db, cnf, view, &f, rows, err, sizeof(err)) == -1)
                goto fail;
        if (json)
                audit_print_json(rows);
        else
                audit_print_table(view, rows,
                                  view == &view_exchanges ? "exchange"
                                                          : "upload");
        ret = AUDIT_OK;
        goto done;
fail:
        fprintf(stderr, "tds audit: %s\n", err);
        ret = AUDIT_FAIL;
        goto done;
usage:
        cmd_audit_help(stderr);
usage_quiet:
        ret = AUDIT_USAGE;
done:
        json_decref(rows);
        if (db != NULL) {
                /* Read-only: nothing to keep, end the snapshot cleanly. */
                mysql_rollback(db);
                audit_close(db);
        }
        return ret;
}

/*
 * log: the one place where programs report what happens.
 *
 * After OpenBSD's log.c: log_warn() appends strerror(errno), log_warnx()
 * does not; fatal()/fatalx() are for impossible states and startup
 * failures only.  Library code never logs: it returns -1 with a message
 * in a caller's buffer and the caller that decides logs once.
 */
#ifndef TDS_LOG_H
#define TDS_LOG_H

#include <stdarg.h>

/*
 * log_init: `procname` prefixes every line (borrowed, must outlive the
 * logger).  With `to_stderr` lines go to stderr with a UTC timestamp,
 * otherwise to syslog.  `verbose` > 0 enables log_debug().
 */
void log_init(const char *procname, int to_stderr, int verbose);
/* Redirect stderr-mode output to an append-only file; -1 with errno. */
int log_open_file(const char *path);
void log_set_verbose(int verbose);
int log_get_verbose(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

#endif

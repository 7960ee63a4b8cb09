/*
 * log: timestamped lines to stderr (or a file), or syslog when daemonized.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static const char *log_procname = "tds";
static int log_to_stderr = 1;
static int log_verbose;
static FILE *log_stream;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_init(const char *procname, int to_stderr, int verbose)
{
        log_procname = procname;
        log_to_stderr = to_stderr;
        log_verbose = verbose;
        if (!to_stderr)
                openlog(procname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

int log_open_file(const char *path)
{
        FILE *f = fopen(path, "a");

        if (f == NULL)
                return -1;
        setvbuf(f, NULL, _IOLBF, 0);
        pthread_mutex_lock(&log_lock);
        if (log_stream != NULL)
                fclose(log_stream);
        log_stream = f;
        log_to_stderr = 1;
        pthread_mutex_unlock(&log_lock);
        return 0;
}

void log_set_verbose(int verbose)
{
        log_verbose = verbose;
}

int log_get_verbose(void)
{
        return log_verbose;
}

static void log_vwrite(int pri, const char *fmt, va_list ap, int with_errno)
{
        char msg[2048];
        int saved_errno = errno;
        size_t len;

        vsnprintf(msg, sizeof(msg), fmt, ap);
        if (with_errno) {
                len = strlen(msg);
                snprintf(msg + len, sizeof(msg) - len, ": %s",
                         strerror(saved_errno));
        }
        if (log_to_stderr) {
                char stamp[32];
                struct timespec ts;
                struct tm tm;
                const char *level = pri == LOG_DEBUG     ? "debug"
                                    : pri == LOG_INFO    ? "info"
                                    : pri == LOG_WARNING ? "warn"
                                                         : "fatal";

                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
                pthread_mutex_lock(&log_lock);
                fprintf(log_stream != NULL ? log_stream : stderr,
                        "%s.%03ldZ %s[%s] %s\n", stamp, ts.tv_nsec / 1000000,
                        log_procname, level, msg);
                pthread_mutex_unlock(&log_lock);
        } else {
                syslog(pri, "%s", msg);
        }
        errno = saved_errno;
}

void log_warn(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vwrite(LOG_WARNING, fmt, ap, 1);
        va_end(ap);
}

void log_warnx(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vwrite(LOG_WARNING, fmt, ap, 0);
        va_end(ap);
}

void log_info(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vwrite(LOG_INFO, fmt, ap, 0);
        va_end(ap);
}

void log_debug(const char *fmt, ...)
{
        va_list ap;

        if (log_verbose <= 0)
                return;
        va_start(ap, fmt);
        log_vwrite(LOG_DEBUG, fmt, ap, 0);
        va_end(ap);
}

void fatal(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vwrite(LOG_CRIT, fmt, ap, 1);
        va_end(ap);
        exit(1);
}

void fatalx(const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vwrite(LOG_CRIT, fmt, ap, 0);
        va_end(ap);
        exit(1);
}

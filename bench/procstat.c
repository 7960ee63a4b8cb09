/*
 * procstat: /proc/PID/stat fields 14 and 15 (utime, stime, in clock
 * ticks) are read after the last ')', since the command name in field 2
 * may itself hold spaces and parentheses.
 */
#include "procstat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int procstat_cpu(pid_t pid, double *seconds, char *err, size_t errlen)
{
        char path[64], buf[2048], *p;
        unsigned long long utime, stime;
        long ticks = sysconf(_SC_CLK_TCK);
        size_t n;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
        if ((f = fopen(path, "r")) == NULL) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return -1;
        }
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* After ")": state ppid pgrp session tty tpgid flags minflt
         * cminflt majflt cmajflt utime stime. */
        if ((p = strrchr(buf, ')')) == NULL ||
            sscanf(p + 1,
                   " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                   &utime, &stime) != 2 ||
            ticks <= 0) {
                snprintf(err, errlen, "%s: unexpected format", path);
                return -1;
        }
        *seconds = (double)(utime + stime) / (double)ticks;
        return 0;
}

int procstat_mem(pid_t pid, long *rss_kb, long *hwm_kb, char *err,
                 size_t errlen)
{
        char path[64], line[256];
        int found = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
        if ((f = fopen(path, "r")) == NULL) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return -1;
        }
        while (fgets(line, sizeof(line), f) != NULL) {
                if (sscanf(line, "VmRSS: %ld kB", rss_kb) == 1)
                        found |= 1;
                else if (sscanf(line, "VmHWM: %ld kB", hwm_kb) == 1)
                        found |= 2;
        }
        fclose(f);
        if (found != 3) {
                snprintf(err, errlen, "%s: no VmRSS/VmHWM", path);
                return -1;
        }
        return 0;
}

int procstat_waits(pid_t pid, long long *waits, char *err, size_t errlen)
{
        char path[64], line[256];
        int found = 0;
        FILE *f;

        snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
        if ((f = fopen(path, "r")) == NULL) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return -1;
        }
        while (!found && fgets(line, sizeof(line), f) != NULL)
                found =
                    sscanf(line, "voluntary_ctxt_switches: %lld", waits) == 1;
        fclose(f);
        if (!found) {
                snprintf(err, errlen, "%s: no voluntary_ctxt_switches", path);
                return -1;
        }
        return 0;
}

double procstat_self_cpu(void)
{
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) == -1)
                return 0;
        return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

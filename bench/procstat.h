/*
 * procstat: what /proc says about another process (the daemon, MariaDB,
 * the broker) and getrusage about this one: CPU seconds and memory.
 */
#ifndef TDS_BENCH_PROCSTAT_H
#define TDS_BENCH_PROCSTAT_H

#include <stddef.h>
#include <sys/types.h>

/* utime + stime of `pid` (all its threads) in seconds, from
 * /proc/PID/stat; -1 with a message if it cannot be read. */
int procstat_cpu(pid_t pid, double *seconds, char *err, size_t errlen);

/* VmRSS and VmHWM (peak RSS) of `pid` in KiB, from /proc/PID/status. */
int procstat_mem(pid_t pid, long *rss_kb, long *hwm_kb, char *err,
                 size_t errlen);

/*
 * Voluntary context switches of the main thread of `pid` (the times it
 * blocked: on a socket, a lock, a disk), from /proc/PID/status.
 */
int procstat_waits(pid_t pid, long long *waits, char *err, size_t errlen);

/* User + system CPU seconds of this process, all threads. */
double procstat_self_cpu(void);

#endif

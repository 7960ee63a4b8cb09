/*
 * schedule: the seeded list of faults a campaign injects.
 *
 * A fault becomes due when the campaign's progress (answers the parties
 * received) reaches its trigger; it fires `delay_ms` later, once the
 * faults before it have fired and no fault of its class is still running
 * (one process fault at a time: daemon, database, broker down; the soft
 * faults, request errors, latency and clients, one per kind).  Triggers
 * count progress, not seconds, so the same seed gives the same schedule
 * on a fast or a slow machine; what it cannot replay is the interleaving
 * of the processes' threads.
 */
#ifndef FAULTS_SCHEDULE_H
#define FAULTS_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum fault_kind {
        FK_TTPD_KILL,          /* SIGKILL the daemon, start it again */
        FK_TTPD_AFTER_COMMIT,  /* SIGKILL, restart with the crash point */
        FK_TTPD_AFTER_PUBLISH, /* ... after-publish */
        FK_TTPD_MID_BATCH,     /* ... mid-batch */
        FK_DB_KILL,            /* SIGKILL mariadbd at COMMIT, start again */
        FK_DB_KILL_LAST,       /* ... at the COMMIT of the last request */
        FK_DB_CONN_KILL,       /* KILL CONNECTION of the daemon, at COMMIT */
        FK_BROKER_DOWN,        /* every broker down, then up */
        FK_BROKER_PRODUCE_ERR, /* request-errors Produce */
        FK_BROKER_FETCH_ERR,   /* request-errors Fetch */
        FK_BROKER_COMMIT_ERR,  /* request-errors OffsetCommit */
        FK_BROKER_RTT,         /* added round-trip time */
        FK_CLIENT_STALL,       /* a party stops: no reads, no sends */
        FK_CLIENT_SLOW,        /* a party waits before each send */
        FK_COUNT
};

struct fault {
        enum fault_kind kind;
        long trigger;    /* progress at which it is due */
        int delay_ms;    /* then fired this much later */
        int duration_ms; /* down, latency, stall, slowness; the KILL
                          * CONNECTION poll window */
        int param;       /* rtt or per-send delay (ms), error count */
        int party;       /* client faults: which party */
        const char *err; /* broker faults: librdkafka error name */
};

struct schedule {
        struct fault *f;
        size_t n;
        int count[FK_COUNT];
};

/* What a schedule of scale 1 holds: the CI campaign. */
extern const int schedule_base_count[FK_COUNT];

/*
 * schedule_build: the faults of `seed`, `scale` times the base counts,
 * their triggers spread over the progress of `exchanges` exchanges among
 * `parties` parties.  Returns 0, -1 out of memory.  schedule_fini frees.
 */
int schedule_build(struct schedule *s, uint64_t seed, int scale, long exchanges,
                   int parties);
void schedule_fini(struct schedule *s);

/* schedule_kind_name: "ttpd-kill", ... (static). */
const char *schedule_kind_name(enum fault_kind k);

/* schedule_is_exclusive: 1 for the process faults, one at a time. */
int schedule_is_exclusive(enum fault_kind k);

/* schedule_describe: one fault on one line, no newline. */
void schedule_describe(const struct fault *f, char *out, size_t outlen);

/* schedule_print: the whole schedule, one fault per line. */
void schedule_print(const struct schedule *s, FILE *out);

#endif

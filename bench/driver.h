/*
 * driver: simulated TDS users driving the real protocol over Kafka.
 *
 * One producer sends every user's requests to <prefix>.requests, keyed
 * as the contract says; one consumer reads every partition of
 * <prefix>.replies from where they ended when the driver started, and
 * each reply is dispatched to the operation in flight it answers:
 * by recipient and file_id (challenges, results, receipt, delivery; for
 * a receipt, by the downloader it names), or by in_reply_to (errors).
 *
 * Every request is signed as a real client signs it (the request TBS in
 * the envelope sig, A's NRO, B's NRR) and every piece of evidence the
 * TTP returns is checked as a real client checks it: the challenge's
 * NRO under A's key before B signs anything, the TTP's ttp_sig on
 * upload.result, receipt (A's side) and delivery (B's side), and the
 * fields that must repeat what was signed.  Uploads write real files
 * into the store's incoming directory, hashed while written.
 *
 * Operations:
 *   register   register -> register.result
 *   upload     upload.request -> upload.challenge, file written,
 *              upload.commit -> upload.result (verified)
 *   exchange   B: download.request -> download.challenge,
 *              download.receipt -> A gets receipt, B gets delivery
 *              (steps 4 to 8); complete when both evidence messages
 *              arrived.
 */
#ifndef TDS_BENCH_DRIVER_H
#define TDS_BENCH_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hist.h"
#include "proto.h"

#define DRIVER_MAX_PROPS 32

/* TTP daemons of one consumer group whose CPU is summed (--ttpd-pid). */
#define DRIVER_TTPD_MAX 8

struct driver_conf {
        const char *bootstrap;
        const char *prefix;       /* topic prefix, "tds" */
        const char *store;        /* the TTP's store root */
        const char *ttp_key_path; /* the TTP's public key, SPKI PEM */
        unsigned users;
        unsigned files;       /* uploaded during setup, to be downloaded */
        uint64_t upload_size; /* bytes of every uploaded document */
        int client_fsync;     /* fsync incoming files, as tds does */
        unsigned setup_concurrency;
        double timeout; /* seconds before an operation fails */
        int verbose;
        /* librdkafka properties for both clients, "key=value" */
        const char *props[DRIVER_MAX_PROPS];
        size_t nprops;
        /* processes whose CPU and memory are sampled (0: none); the TTP
         * is every daemon of its consumer group, their figures summed */
        pid_t ttpd_pids[DRIVER_TTPD_MAX];
        size_t nttpd;
        pid_t db_pid, broker_pid;
        /* run by /bin/sh at the start of every measured window, with
         * TDS_BENCH_STEP and TDS_BENCH_WINDOW_S set (a profiler) */
        const char *on_window;
};

enum driver_mode { DRIVER_CLOSED, DRIVER_OPEN };
enum driver_scenario { DRIVER_EXCHANGE, DRIVER_UPLOAD };

struct step_conf {
        enum driver_scenario scenario;
        enum driver_mode mode;
        unsigned concurrency;  /* closed loop: operations in flight */
        double rate;           /* open loop: operations started per second */
        unsigned max_inflight; /* open loop: beyond it starts are shed */
        double warmup;         /* seconds before the measured window */
        double duration;       /* seconds of the measured window */
};

/* One second of the measured window. */
struct step_second {
        double t; /* seconds from the start of the window */
        uint64_t completed;
        uint64_t p50_us, p99_us; /* delivery (upload: result) latency */
};

/* Why operations failed, over the whole step (warmup and drain too). */
struct driver_errors {
        uint64_t total;
        uint64_t timeouts;
        uint64_t ttp[PROTO_CODE_COUNT]; /* `error` replies by code */
        uint64_t verify;    /* evidence that does not verify or match */
        uint64_t refused;   /* upload.result with verified false */
        uint64_t transport; /* produce failures, bad replies, I/O */
        char last[512];     /* the last failure, for the report */
};

struct proc_sample {
        int valid;
        double cpu_s;    /* CPU seconds over the window */
        long long waits; /* main thread's voluntary context switches */
        long rss_start_kb, rss_end_kb, rss_max_kb, hwm_kb;
};

struct step_stats {
        struct step_conf conf;
        double window_s;      /* measured window, as it ran */
        uint64_t started;     /* operations started in the window */
        uint64_t completed;   /* operations completed in the window */
        uint64_t bytes;       /* uploaded bytes completed in the window */
        uint64_t shed;        /* open loop: starts skipped at max_inflight */
        uint64_t late_starts; /* open loop: started > 1 ms after due */
        uint64_t stray;       /* replies for nothing in flight (duplicates) */
        uint64_t foreign;     /* replies for users of other programs */
        struct hist lat_a;    /* exchange: to delivery; upload: to result */
        struct hist lat_b;    /* exchange: to receipt */
        struct driver_errors err;
        double bench_cpu_s;
        struct proc_sample ttpd, db, broker;
        struct step_second *seconds;
        size_t nseconds;
};

struct setup_stats {
        double seconds;
        unsigned registered;
        unsigned uploaded;
        double uploads_per_s;
        struct driver_errors err;
};

struct driver;

/* Connect (producer, consumer on every reply partition), make the users'
 * keys.  Caller frees with driver_free. */
struct driver *driver_new(const struct driver_conf *conf, char *err,
                          size_t errlen);
void driver_free(struct driver *d);

/* Partitions of the reply topic (known after driver_new). */
int driver_reply_partitions(const struct driver *d);

/* Register the users and upload the files (not measured). */
int driver_setup(struct driver *d, struct setup_stats *out, char *err,
                 size_t errlen);

/*
 * Run one step: warmup, the measured window, then wait for what is in
 * flight (up to the timeout).  `out` is filled (driver_step_fini frees
 * its seconds).  -1 only when the driver itself cannot go on.
 */
int driver_step(struct driver *d, const struct step_conf *conf,
                struct step_stats *out, char *err, size_t errlen);
void driver_step_fini(struct step_stats *s);

/* Ask a running step to end its window now (from a signal handler). */
void driver_interrupt(void);

#endif

/*
 * campaign: what the modules of the fault campaign share (fault_campaign.c
 * owns it): the stack's addresses, the parties and their exchanges, the
 * figures and the violations.
 *
 *   workload.c  parties and exchanges, as state machines over replies
 *   injector.c  the schedule's faults, performed and watched
 *   checks.c    the invariants, from the database and the parties
 *   schedule.c  the seeded fault list, prng.c its numbers, cdb.c MariaDB
 */
#ifndef FAULTS_CAMPAIGN_H
#define FAULTS_CAMPAIGN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "crypto.h"
#include "ids.h"
#include "prng.h"
#include "proto_client.h"
#include "schedule.h"

#define CAMPAIGN_PARTIES_MAX 32
/* TTP daemons in one consumer group (--daemons; tds-stack's ttpd, ttpd2...) */
#define CAMPAIGN_DAEMONS_MAX 4

/* Where the stack is (from `tds-stack env`) and the tools that drive it. */
struct campaign_paths {
        const char *bootstrap;
        const char *store;
        const char *admin_cnf;
        const char *ttp_pub;
        const char *broker_fifo;
        const char *run_dir;
        const char *stack;      /* scripts/tds-stack */
        const char *broker_ctl; /* broker/tds-broker-ctl */
};

/* How an exchange goes, chosen by the seed. */
enum xmode {
        XM_PLAIN,               /* upload, download: receipt and delivery */
        XM_ABORT_BEFORE_COMMIT, /* A aborts instead of committing: 1 */
        XM_ABORT_AFTER_UPLOAD,  /* A aborts before B asks: 2 */
        XM_ABORT_RACE_REQUEST,  /* abort and download.request together */
        XM_ABORT_RACE_RECEIPT,  /* abort and download.receipt together */
        XM_COUNT
};

enum req_kind {
        RQ_REGISTER,
        RQ_UPLOAD,
        RQ_COMMIT,
        RQ_ABORT,
        RQ_DLREQ,
        RQ_RECEIPT,
        RQ_KINDS
};

struct party;
struct exchange;
struct campaign;

/* One request: built once, sent unchanged (same msg_id) on every retry. */
struct req {
        enum req_kind kind;
        struct campaign *c;
        struct party *p;    /* the sender */
        struct exchange *x; /* NULL for register */
        json_t *env;
        char msg_id[IDS_MSG_ID_LEN + 1];
        int sent;     /* first produce done */
        int inflight; /* produces waiting for their delivery report */
        int acked;    /* produces the broker acknowledged */
        int failed;   /* produces the broker refused */
        int resend;   /* a refused produce to make good */
        int probe;    /* a probe: sent while the parties are quiet */
        int answers;  /* distinct answers (replies or errors) */
        int64_t first_ms;
        int64_t next_retry_ms;
        int retry_ms;
        const json_t *answer; /* the first answer, borrowed */
};

struct party {
        int index;
        struct pc_user u;
        struct pc *pc;
        struct pc_reader *r;
        size_t cursor; /* reader items dispatched so far */
        struct req reg;
        int64_t stalled_until; /* client fault: not reading, not sending */
        int64_t slow_until;    /* client fault: waits before each send */
        int slow_ms;
        int64_t next_act;
        int reader_failed;
        struct req *probe; /* the last probe, answered by register.result */
};

struct exchange {
        long id;
        char file_id[IDS_FILE_ID_MAX + 1];
        int a, b; /* uploader and downloader (parties; may be equal) */
        enum xmode mode;
        int patient;     /* resends only what the broker refused */
        int eager_dup;   /* produces every request twice at once */
        int abort_first; /* in a race, A's abort is produced first */
        size_t size;
        unsigned char *doc; /* M, until the exchange is done */
        char sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char size_dec[24];
        char up_nonce[64];
        char nro[128], nro_sha256[CRYPTO_SHA256_HEX_LEN + 1];
        char dl_nonce[64];
        char nrr[128], nrr_sha256[CRYPTO_SHA256_HEX_LEN + 1];
        struct req up, commit, abort, dlreq, rcpt;
        /* distinct messages received for this file, by type */
        int n_up_challenge, n_up_result, n_abort_result, n_receipt; /* A */
        int n_dl_challenge, n_delivery, n_cancelled;                /* B */
        const json_t *receipt, *delivery, *cancelled;               /* first */
        int broken; /* the campaign could not go on (a violation says why) */
        int done;
        int64_t start_ms, done_ms;
};

struct figures {
        long exchanges_started, exchanges_done;
        long by_mode[XM_COUNT];
        long patient, eager;
        long delivered;  /* receipt and delivery */
        long outcome[4]; /* abort outcomes 1..3 */
        long requests;   /* distinct requests */
        long sends;      /* produces, retries included */
        long resends;    /* after a timeout, same msg_id */
        long remakes;    /* after the broker refused a produce */
        long eager_dups; /* second produce at once, same msg_id */
        long produce_failed;
        long replies;      /* distinct replies received */
        long dups_dropped; /* replies dropped: msg_id seen before */
        long transient;    /* consumer errors tolerated */
        long fired[FK_COUNT];
        long crash_reached[3], crash_missed[3]; /* after-commit, -publish,
                                                 * mid-batch */
        long ttpd_kills; /* SIGKILLs and deaths at crash points */
        long ttpd_kills_of[CAMPAIGN_DAEMONS_MAX]; /* the same, by daemon */
        long ttpd_starts;                         /* starts after a death */
        long db_kills, db_starts;
        long db_kill_commit; /* SIGKILLs while the daemon was in COMMIT */
        long probes, probes_answered;
        long conn_kill_commit, conn_kill_other, conn_kill_none;
        long own_deaths; /* a process that died without a fault */
        /* read from the daemon's log at the end */
        long log_commit_happened, log_commit_not, log_commit_unknown;
        long log_relay_commit_lost; /* the relay's mark-sent COMMIT */
        long log_conn_lost;         /* any statement lost its connection */
        long log_skipped, log_alarm, log_crash_points;
        long orphan_objects; /* object files no upload refers to */
};

struct campaign {
        struct campaign_paths paths;
        uint64_t seed;
        int scale;
        int daemons; /* TTP daemons in the group, the faults' targets */
        long min_exchanges;
        int nparties;
        int inflight; /* exchanges at once */
        int verbose;
        int drain_s;
        char tag[24];       /* file id prefix, unique per run */
        struct prng plan;   /* exchange plans: replayed by the seed */
        struct prng jitter; /* retry timing: not replayed */
        struct crypto_key *ttp_key;
        struct party parties[CAMPAIGN_PARTIES_MAX];
        struct exchange **x;
        size_t nx, capx;
        long active; /* started, not done */
        int hush;    /* the parties send nothing (probes aside) */
        struct req **probes;
        size_t nprobes, capprobes;
        long progress;     /* first answers received: the schedule's clock */
        struct req **byid; /* msg_id index, open addressing */
        size_t byid_cap, byid_n;
        struct figures fig;
        long violations;
        int64_t t0;
};

/* campaign_violation: print one violation (with its exchange, if any)
 * and count it. */
void campaign_violation(struct campaign *c, const struct exchange *x,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* campaign_note: a timestamped line of the run's story on stdout. */
void campaign_note(struct campaign *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* campaign_fatal: the campaign itself cannot go on (not a violation):
 * print and exit 2. */
void campaign_fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

int64_t campaign_now_ms(void);

/* --- workload.c ---------------------------------------------------------- */

/* Parties: users with keys, a producer and a reader each. */
int workload_init(struct campaign *c, char *err, size_t errlen);
void workload_fini(struct campaign *c);

/* Register every party (with retries); 0 when all are registered. */
int workload_register(struct campaign *c, int timeout_ms, char *err,
                      size_t errlen);

/* One turn: read replies, advance the exchanges, retry, and start new
 * exchanges while `may_start`. */
void workload_tick(struct campaign *c, int64_t now, int may_start);

/* Every exchange started is done. */
int workload_all_done(const struct campaign *c);

/* workload_probe: a fresh register of `party` (same key: answered
 * register.result), sent now whatever the hush; never resent on a
 * timeout.  Borrowed, valid until workload_fini. */
struct req *workload_probe(struct campaign *c, int party, int64_t now);

/* Client faults. */
void workload_stall(struct campaign *c, int party, int64_t until);
void workload_slow(struct campaign *c, int party, int ms, int64_t until);
void workload_unstall(struct campaign *c);

const char *workload_mode_name(enum xmode m);
const char *workload_req_type(enum req_kind k);

/* The expected (non-error) answer type of a request kind. */
const char *workload_answer_type(enum req_kind k);

/* The exchange's requests, for iteration (5 of them). */
struct req *workload_req(struct exchange *x, int i);
#define WORKLOAD_XREQS 5

/* --- checks.c ------------------------------------------------------------ */

/* checks_run: every invariant, from the database (admin) and what the
 * parties received; violations are counted in c.  -1 if the checks could
 * not run at all (err). */
int checks_run(struct campaign *c, char *err, size_t errlen);

/* checks_outbox_unsent: rows of the outbox not yet marked sent, -1 on
 * error. */
long checks_outbox_unsent(struct campaign *c, char *err, size_t errlen);

#endif

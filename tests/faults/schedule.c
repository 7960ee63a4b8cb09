/*
 * schedule: the seeded fault list (see schedule.h).
 */
#include "schedule.h"

#include <stdlib.h>
#include <string.h>

#include "prng.h"

#define SCHEDULE_STREAM 1 /* the prng stream of the schedule */

/* Scale 1, the CI campaign: 8 plain daemon kills and 7 crash-point
 * restarts (each a SIGKILL, then the death at the point: two kills), so
 * 22 daemon kills; 5 database kills, 2 of them at the COMMIT of the last
 * request before a quiet spell; 10 KILL CONNECTIONs; broker and client
 * faults. */
const int schedule_base_count[FK_COUNT] = {
    [FK_TTPD_KILL] = 8,
    [FK_TTPD_AFTER_COMMIT] = 3,
    [FK_TTPD_AFTER_PUBLISH] = 2,
    [FK_TTPD_MID_BATCH] = 2,
    [FK_DB_KILL] = 3,
    [FK_DB_KILL_LAST] = 2,
    [FK_DB_CONN_KILL] = 10,
    [FK_BROKER_DOWN] = 2,
    [FK_BROKER_PRODUCE_ERR] = 2,
    [FK_BROKER_FETCH_ERR] = 2,
    [FK_BROKER_COMMIT_ERR] = 1,
    [FK_BROKER_RTT] = 2,
    [FK_CLIENT_STALL] = 3,
    [FK_CLIENT_SLOW] = 2,
};

static const char *const schedule_names[FK_COUNT] = {
    [FK_TTPD_KILL] = "ttpd-kill",
    [FK_TTPD_AFTER_COMMIT] = "ttpd-crash-after-commit",
    [FK_TTPD_AFTER_PUBLISH] = "ttpd-crash-after-publish",
    [FK_TTPD_MID_BATCH] = "ttpd-crash-mid-batch",
    [FK_DB_KILL] = "db-kill",
    [FK_DB_KILL_LAST] = "db-kill-last-commit",
    [FK_DB_CONN_KILL] = "db-kill-connection",
    [FK_BROKER_DOWN] = "broker-down",
    [FK_BROKER_PRODUCE_ERR] = "broker-produce-errors",
    [FK_BROKER_FETCH_ERR] = "broker-fetch-errors",
    [FK_BROKER_COMMIT_ERR] = "broker-offsetcommit-errors",
    [FK_BROKER_RTT] = "broker-rtt",
    [FK_CLIENT_STALL] = "client-stall",
    [FK_CLIENT_SLOW] = "client-slow",
};

/* Errors a broker may answer; retriable ones and one that is not
 * (a Produce of a message "too large" fails for good: the relay must keep
 * the row and publish it again later). */
static const char *const schedule_produce_errs[] = {
    "NOT_LEADER_FOR_PARTITION", "NOT_ENOUGH_REPLICAS", "REQUEST_TIMED_OUT",
    "MSG_SIZE_TOO_LARGE"};
static const char *const schedule_fetch_errs[] = {
    "NOT_LEADER_FOR_PARTITION", "LEADER_NOT_AVAILABLE", "REQUEST_TIMED_OUT"};
static const char *const schedule_commit_errs[] = {
    "REQUEST_TIMED_OUT", "NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE"};

#define SCHEDULE_PICK(p, a)                                                    \
        ((a)[prng_range((p), 0, sizeof(a) / sizeof(*(a)) - 1)])

const char *schedule_kind_name(enum fault_kind k)
{
        return k < FK_COUNT ? schedule_names[k] : "?";
}

int schedule_is_exclusive(enum fault_kind k)
{
        return k <= FK_BROKER_DOWN;
}

static int schedule_cmp_long(const void *a, const void *b)
{
        long x = *(const long *)a, y = *(const long *)b;

        return (x > y) - (x < y);
}

static void schedule_params(struct fault *f, struct prng *p, int parties)
{
        f->delay_ms = (int)prng_range(p, 0, 1500);
        switch (f->kind) {
        case FK_DB_CONN_KILL:
                f->duration_ms = 3000;
                break;
        case FK_DB_KILL_LAST:
                f->party = (int)prng_range(p, 0, parties - 1);
                break;
        case FK_BROKER_DOWN:
                f->duration_ms = (int)prng_range(p, 1500, 4500);
                break;
        case FK_BROKER_PRODUCE_ERR:
                f->err = SCHEDULE_PICK(p, schedule_produce_errs);
                f->param = (int)prng_range(p, 3, 15);
                break;
        case FK_BROKER_FETCH_ERR:
                f->err = SCHEDULE_PICK(p, schedule_fetch_errs);
                f->param = (int)prng_range(p, 3, 15);
                break;
        case FK_BROKER_COMMIT_ERR:
                f->err = SCHEDULE_PICK(p, schedule_commit_errs);
                f->param = (int)prng_range(p, 1, 5);
                break;
        case FK_BROKER_RTT:
                f->param = (int)prng_range(p, 100, 800);
                f->duration_ms = (int)prng_range(p, 2000, 6000);
                break;
        case FK_CLIENT_STALL:
                f->party = (int)prng_range(p, 0, parties - 1);
                f->duration_ms = (int)prng_range(p, 2000, 8000);
                break;
        case FK_CLIENT_SLOW:
                f->party = (int)prng_range(p, 0, parties - 1);
                f->param = (int)prng_range(p, 200, 1000);
                f->duration_ms = (int)prng_range(p, 4000, 10000);
                break;
        default:
                break;
        }
}

int schedule_build(struct schedule *s, uint64_t seed, int scale, long exchanges,
                   int parties)
{
        struct prng p;
        long *triggers = NULL, lo, hi;
        size_t n = 0, i;
        int ret = -1;

        memset(s, 0, sizeof(*s));
        prng_init(&p, seed, SCHEDULE_STREAM);
        for (int k = 0; k < FK_COUNT; k++) {
                s->count[k] = schedule_base_count[k] * scale;
                n += (size_t)s->count[k];
        }
        if ((s->f = calloc(n + 1, sizeof(*s->f))) == NULL ||
            (triggers = calloc(n + 1, sizeof(*triggers))) == NULL)
                goto done;
        for (int k = 0; k < FK_COUNT; k++)
                for (int j = 0; j < s->count[k]; j++)
                        s->f[s->n++].kind = (enum fault_kind)k;
        /* A shuffled deck: the counts are fixed, the order is the seed's. */
        for (i = s->n; i > 1; i--) {
                size_t j = (size_t)prng_range(&p, 0, (int64_t)i - 1);
                struct fault tmp = s->f[i - 1];
                s->f[i - 1] = s->f[j];
                s->f[j] = tmp;
        }
        /* About four answers per exchange; leave the first ones and the
         * last sixth of the run free of new faults. */
        lo = 40;
        hi = exchanges * 4 * 5 / 6;
        if (hi <= lo)
                hi = lo + 1;
        for (i = 0; i < s->n; i++)
                triggers[i] = (long)prng_range(&p, lo, hi);
        qsort(triggers, s->n, sizeof(*triggers), schedule_cmp_long);
        for (i = 0; i < s->n; i++) {
                s->f[i].trigger = triggers[i];
                schedule_params(&s->f[i], &p, parties);
        }
        ret = 0;
done:
        free(triggers);
        if (ret == -1)
                schedule_fini(s);
        return ret;
}

void schedule_fini(struct schedule *s)
{
        free(s->f);
        memset(s, 0, sizeof(*s));
}

void schedule_describe(const struct fault *f, char *out, size_t outlen)
{
        const char *name = schedule_kind_name(f->kind);

        switch (f->kind) {
        case FK_BROKER_DOWN:
                snprintf(out, outlen, "%s for %d ms", name, f->duration_ms);
                break;
        case FK_BROKER_PRODUCE_ERR:
        case FK_BROKER_FETCH_ERR:
        case FK_BROKER_COMMIT_ERR:
                snprintf(out, outlen, "%s %s x%d", name, f->err, f->param);
                break;
        case FK_BROKER_RTT:
                snprintf(out, outlen, "%s %d ms for %d ms", name, f->param,
                         f->duration_ms);
                break;
        case FK_CLIENT_STALL:
                snprintf(out, outlen, "%s party %d for %d ms", name, f->party,
                         f->duration_ms);
                break;
        case FK_CLIENT_SLOW:
                snprintf(out, outlen, "%s party %d +%d ms per send for %d ms",
                         name, f->party, f->param, f->duration_ms);
                break;
        case FK_DB_CONN_KILL:
                snprintf(out, outlen, "%s (watch %d ms for a COMMIT)", name,
                         f->duration_ms);
                break;
        case FK_DB_KILL_LAST:
                snprintf(out, outlen,
                         "%s (clients quiet, a probe from party "
                         "%d)",
                         name, f->party);
                break;
        default:
                snprintf(out, outlen, "%s", name);
                break;
        }
}

void schedule_print(const struct schedule *s, FILE *out)
{
        char what[160];

        for (size_t i = 0; i < s->n; i++) {
                schedule_describe(&s->f[i], what, sizeof(what));
                fprintf(out, "  fault %3zu  at progress %5ld +%4d ms  %s\n",
                        i + 1, s->f[i].trigger, s->f[i].delay_ms, what);
        }
}

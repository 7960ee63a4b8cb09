/*
 * relay: the outbox publisher, on its own thread.
 */
#include "relay.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "engine.h"
#include "log.h"
#include "proto.h"
#include "ttp_conf.h"

#define RELAY_FLUSH_MS 15000
/* Idle, the thread still serves the producer's callbacks this often;
 * after a failure it tries again this often. */
#define RELAY_TICK_MS 1000
/* How long a relay waits for another daemon's to finish its drain. */
#define RELAY_LOCK_WAIT_S 5

struct relay {
        const struct ttp_conf *conf;
        struct db *db; /* the thread's own session; NULL until connected */
        rd_kafka_t *producer;
        relay_producer_fn producer_new;
        void *producer_ctx;
        unsigned batch;
        /* the thread, and what the others tell it (under lock) */
        pthread_t thread;
        int started;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        int kicked;
        unsigned long long asked, done; /* relay_sync's drains */
        pthread_cond_t done_cond;
        int stopping;
        int fatal;        /* the producer failed fatally (under lock) */
        char warned[512]; /* the failure logged last: once per change */
        /* one batch's delivery reports */
        int64_t *delivered;
        struct db_val *marks; /* the parameters marking them sent */
        size_t ndelivered;
        size_t nfailed;
        char failure[256];
        /* row buffers */
        char topic[64];
        unsigned char key[PROTO_BIN_MAX];
        unsigned char *payload;
        size_t produced;
        int produce_failed;
        char produce_err[256];
};

static void *relay_main(void *arg);

struct relay *relay_new(const struct ttp_conf *conf,
                        relay_producer_fn producer_new, void *ctx, char *err,
                        size_t errlen)
{
        struct relay *r = calloc(1, sizeof(*r));

        if (r == NULL)
                goto nomem;
        r->conf = conf;
        r->producer_new = producer_new;
        r->producer_ctx = ctx;
        r->batch = conf->relay_batch;
        r->delivered = calloc(r->batch, sizeof(*r->delivered));
        r->marks = calloc(r->batch, sizeof(*r->marks));
        /* A payload is at most one message: 1 MiB and change. */
        r->payload = malloc(PROTO_MESSAGE_MAX + 128 * 1024);
        if (r->delivered == NULL || r->marks == NULL || r->payload == NULL)
                goto nomem;
        pthread_mutex_init(&r->lock, NULL);
        pthread_cond_init(&r->cond, NULL);
        pthread_cond_init(&r->done_cond, NULL);
        /* The producer's callbacks find the relay through ctx: it must
         * exist (and be published by the caller) before they run, which
         * is first in the thread. */
        if ((r->producer = producer_new(ctx, err, errlen)) == NULL)
                goto fail;
        r->kicked = 1; /* whatever is pending since the last run */
        return r;
nomem:
        snprintf(err, errlen, "out of memory");
fail:
        relay_free(r);
        return NULL;
}

int relay_start(struct relay *r, char *err, size_t errlen)
{
        int rc;

        if ((rc = pthread_create(&r->thread, NULL, relay_main, r)) != 0) {
                snprintf(err, errlen, "relay thread: %s", strerror(rc));
                return -1;
        }
        r->started = 1;
        return 0;
}

void relay_free(struct relay *r)
{
        if (r == NULL)
                return;
        if (r->started) {
                pthread_mutex_lock(&r->lock);
                r->stopping = 1;
                pthread_cond_signal(&r->cond);
                pthread_mutex_unlock(&r->lock);
                pthread_join(r->thread, NULL);
        }
        if (r->producer != NULL) {
                if (rd_kafka_flush(r->producer, 5000) != 0)
                        log_warnx("kafka: %d replies not delivered at "
                                  "shutdown; the outbox keeps them",
                                  rd_kafka_outq_len(r->producer));
                rd_kafka_destroy(r->producer);
        }
        if (r->delivered != NULL) { /* initialised with the rest */
                pthread_mutex_destroy(&r->lock);
                pthread_cond_destroy(&r->cond);
                pthread_cond_destroy(&r->done_cond);
        }
        free(r->delivered);
        free(r->marks);
        free(r->payload);
        free(r);
}

void relay_kick(struct relay *r)
{
        pthread_mutex_lock(&r->lock);
        r->kicked = 1;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

int relay_sync(struct relay *r, int timeout_ms)
{
        struct timespec until;
        unsigned long long want;
        int rc = 0;

        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += timeout_ms / 1000;
        until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&r->lock);
        want = ++r->asked;
        r->kicked = 1;
        pthread_cond_signal(&r->cond);
        while (r->done < want && rc == 0 && r->started && !r->stopping)
                if (pthread_cond_timedwait(&r->done_cond, &r->lock, &until) ==
                    ETIMEDOUT)
                        rc = -1;
        pthread_mutex_unlock(&r->lock);
        return rc;
}

void relay_on_fatal(struct relay *r)
{
        pthread_mutex_lock(&r->lock);
        r->fatal = 1;
        r->kicked = 1;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
}

void relay_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                       void *opaque)
{
        struct relay *r = opaque;
        int64_t seq = (int64_t)(intptr_t)m->_private;

        (void)rk;
        if (r == NULL)
                return;
        if (m->err) {
                r->nfailed++;
                snprintf(r->failure, sizeof(r->failure), "%s",
                         rd_kafka_err2str(m->err));
                return;
        }
        if (r->ndelivered < r->batch)
                r->delivered[r->ndelivered++] = seq;
}

static int relay_produce_row(void *ctx, const struct db_out *cols)
{
        struct relay *r = ctx;
        const char *topic = strcmp(cols[1].buf, "dead-letter") == 0
                                ? r->conf->topics.dead_letter
                                : r->conf->topics.replies;
        rd_kafka_resp_err_t kerr;

        kerr = rd_kafka_producev(
            r->producer, RD_KAFKA_V_TOPIC(topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(cols[2].is_null ? NULL : cols[2].buf,
                           cols[2].is_null ? 0 : cols[2].len),
            RD_KAFKA_V_VALUE(cols[3].buf, cols[3].len),
            RD_KAFKA_V_OPAQUE((void *)(intptr_t)cols[0].i), RD_KAFKA_V_END);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                r->produce_failed = 1;
                snprintf(r->produce_err, sizeof(r->produce_err),
                         "produce to %s: %s", topic, rd_kafka_err2str(kerr));
                return -1;
        }
        r->produced++;
        if (r->produced == 1)
                r->failure[0] = '\0';
        if (r->produced == 1 && r->conf->test_crash_point != NULL &&
            strcmp(r->conf->test_crash_point, "mid-batch") == 0) {
                /* Let the first message of the batch reach the log, then
                 * die before the rest is produced or anything is marked. */
                rd_kafka_flush(r->producer, RELAY_FLUSH_MS);
                if (r->ndelivered > 0)
                        engine_crash_point(r->conf, "mid-batch");
        }
        return 0;
}

/* One batch; returns rows marked sent, 0 when nothing was pending. */
static int relay_batch(struct relay *r, char *err, size_t errlen)
{
        struct db_out cols[4] = {
            DB_OUT_I64(),
            DB_OUT_STR(r->topic),
            DB_OUT_BIN(r->key),
            {DB_T_BIN, r->payload, PROTO_MESSAGE_MAX + 128 * 1024, 0, 0, 0}};
        struct db_val limit = DB_I64(r->batch);
        size_t marked = 0;
        int found;

        r->ndelivered = r->nfailed = r->produced = 0;
        r->produce_failed = 0;
        if (db_query(r->db, DB_OUTBOX_PENDING, &limit, 1, cols, 4,
                     relay_produce_row, r, &found, err, errlen) == -1 &&
            !r->produce_failed) {
                db_rollback(r->db);
                return -1;
        }
        db_rollback(r->db);
        if (r->produced > 0 && rd_kafka_flush(r->producer, RELAY_FLUSH_MS) != 0)
                log_warnx("relay: %d message(s) still in flight after %d ms",
                          rd_kafka_outq_len(r->producer), RELAY_FLUSH_MS);
        if (r->ndelivered > 0)
                engine_crash_point(r->conf, "after-publish");
        if (r->ndelivered > 0) {
                uint64_t affected;

                /* One statement for the batch (array binding). */
                for (size_t i = 0; i < r->ndelivered; i++)
                        r->marks[i] = (struct db_val)DB_I64(r->delivered[i]);
                if (db_exec_bulk(r->db, DB_OUTBOX_MARK_SENT, r->marks, 1,
                                 r->ndelivered, &affected, err, errlen) == -1) {
                        db_rollback(r->db);
                        return -1;
                }
                marked = affected;
        }
        if (r->ndelivered > 0 && db_commit(r->db, err, errlen) == -1) {
                db_rollback(r->db);
                return -1;
        }
        if (r->produce_failed) {
                snprintf(err, errlen, "%s", r->produce_err);
                return -1;
        }
        if (r->nfailed > 0) {
                snprintf(err, errlen, "%zu message(s) not delivered: %s",
                         r->nfailed, r->failure);
                return -1;
        }
        return (int)marked;
}

/*
 * Take the outbox of this database for a drain: 0, or -1 (err) when
 * another daemon's relay kept it for RELAY_LOCK_WAIT_S or the lock
 * failed.  Two daemons of one group share the outbox; without the lock
 * both relays read the same unsent rows and published nearly every
 * reply twice (correct, since clients drop a repeated msg_id, but twice
 * the traffic).  Rows are not split between relays (SKIP LOCKED): a
 * recipient's replies would then leave in two orders.
 */
static int relay_lock(struct relay *r, char *err, size_t errlen)
{
        struct db_val wait = DB_I64(RELAY_LOCK_WAIT_S);
        struct db_out got = DB_OUT_I64();
        int found;

        if (db_query(r->db, DB_RELAY_LOCK, &wait, 1, &got, 1, NULL, NULL,
                     &found, err, errlen) == -1)
                return -1;
        if (!found || got.is_null || got.i != 1) {
                snprintf(err, errlen,
                         "the outbox is being published by another daemon's "
                         "relay for more than %d s; trying again",
                         RELAY_LOCK_WAIT_S);
                return -1;
        }
        return 0;
}

/* Give the outbox back; a lost session released it already. */
static void relay_unlock(struct relay *r)
{
        struct db_out released = DB_OUT_I64();
        char err[512];
        int found;

        if (db_query(r->db, DB_RELAY_UNLOCK, NULL, 0, &released, 1, NULL, NULL,
                     &found, err, sizeof(err)) == -1 &&
            !db_error_is_connection(db_errno(r->db)))
                log_warnx("relay: releasing the outbox lock: %s", err);
}

static int relay_drain(struct relay *r, char *err, size_t errlen)
{
        int total = 0, n = 0;

        if (relay_lock(r, err, errlen) == -1)
                return -1;
        do {
                if ((n = relay_batch(r, err, errlen)) == -1)
                        break;
                total += n;
        } while (n == (int)r->batch);
        relay_unlock(r);
        return n == -1 ? -1 : total;
}

/*
 * An idempotent producer that hit a fatal error (e.g. its sequence was
 * fenced) refuses every later message: replace it.  Nothing is lost:
 * what it had not delivered is still unsent in the outbox.
 */
static int relay_renew(struct relay *r, char *err, size_t errlen)
{
        rd_kafka_t *n;

        log_warnx("kafka: the reply producer failed fatally; replacing it");
        if ((n = r->producer_new(r->producer_ctx, err, errlen)) == NULL)
                return -1;
        rd_kafka_destroy(r->producer);
        r->producer = n;
        return 0;
}

/* Connect if needed, then publish what is pending; -1 on error. */
static int relay_run(struct relay *r, char *err, size_t errlen)
{
        int n;

        if (r->db == NULL && (r->db = db_open(r->conf, err, errlen)) == NULL)
                return -1;
        if ((n = relay_drain(r, err, errlen)) == -1) {
                char ignored[512];

                if (db_error_is_connection(db_errno(r->db)))
                        db_ping(r->db, ignored, sizeof(ignored));
                return -1;
        }
        if (n > 0)
                log_debug("relay: published %d message(s)", n);
        return 0;
}

static void *relay_main(void *arg)
{
        struct relay *r = arg;
        char err[512];
        int failing = 0;

        db_thread_init();
        for (;;) {
                struct timespec until;
                unsigned long long asked;
                int stopping, fatal, work;

                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += RELAY_TICK_MS / 1000;
                pthread_mutex_lock(&r->lock);
                while (!r->kicked && !r->stopping &&
                       pthread_cond_timedwait(&r->cond, &r->lock, &until) !=
                           ETIMEDOUT)
                        ;
                work = r->kicked || failing || r->stopping;
                stopping = r->stopping;
                fatal = r->fatal;
                asked = r->asked;
                r->kicked = r->fatal = 0;
                pthread_mutex_unlock(&r->lock);
                if (fatal && relay_renew(r, err, sizeof(err)) == -1) {
                        log_warnx("kafka: %s", err);
                        pthread_mutex_lock(&r->lock);
                        r->fatal = 1; /* again at the next tick */
                        r->done = asked;
                        pthread_cond_broadcast(&r->done_cond);
                        pthread_mutex_unlock(&r->lock);
                        if (stopping)
                                break;
                        continue;
                }
                if (work && relay_run(r, err, sizeof(err)) == -1) {
                        if (strcmp(err, r->warned) != 0)
                                log_warnx("relay: %s", err);
                        snprintf(r->warned, sizeof(r->warned), "%s", err);
                        failing = 1;
                } else if (work) {
                        r->warned[0] = '\0';
                        failing = 0;
                }
                rd_kafka_poll(r->producer, 0);
                pthread_mutex_lock(&r->lock);
                if (work)
                        r->done = asked;
                pthread_cond_broadcast(&r->done_cond);
                pthread_mutex_unlock(&r->lock);
                if (stopping)
                        break;
        }
        db_close(r->db);
        r->db = NULL;
        db_thread_end();
        return NULL;
}

/*
 * relay: the outbox publisher.
 */
#include "relay.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "engine.h"
#include "log.h"
#include "proto.h"
#include "ttp_conf.h"

#define RELAY_FLUSH_MS 15000

struct relay {
        const struct ttp_conf *conf;
        struct db *db;
        rd_kafka_t *producer;
        unsigned batch;
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

struct relay *relay_new(const struct ttp_conf *conf, struct db *db,
                        rd_kafka_t *producer, char *err, size_t errlen)
{
        struct relay *r = calloc(1, sizeof(*r));

        if (r == NULL)
                goto nomem;
        r->conf = conf;
        r->db = db;
        r->producer = producer;
        r->batch = conf->relay_batch;
        r->delivered = calloc(r->batch, sizeof(*r->delivered));
        r->marks = calloc(r->batch, sizeof(*r->marks));
        /* A payload is at most one message: 1 MiB and change. */
        r->payload = malloc(PROTO_MESSAGE_MAX + 128 * 1024);
        if (r->delivered == NULL || r->marks == NULL || r->payload == NULL)
                goto nomem;
        return r;
nomem:
        relay_free(r);
        snprintf(err, errlen, "out of memory");
        return NULL;
}

void relay_free(struct relay *r)
{
        if (r == NULL)
                return;
        free(r->delivered);
        free(r->marks);
        free(r->payload);
        free(r);
}

void relay_set_producer(struct relay *r, rd_kafka_t *producer)
{
        r->producer = producer;
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

int relay_drain(struct relay *r, char *err, size_t errlen)
{
        int total = 0, n;

        do {
                if ((n = relay_batch(r, err, errlen)) == -1)
                        return -1;
                total += n;
        } while (n == (int)r->batch);
        return total;
}

/*
 * tds-ttpd: the TDS trusted third party daemon.
 *
 * It consumes client requests from <prefix>.requests, keeps its state in
 * MariaDB and publishes replies to <prefix>.replies.  This file holds the
 * process: options, configuration, pid file, signals, the connections and
 * the consume loop.  The protocol engine (../shared/PROTOCOL.md) plugs
 * into ttpd_handle_message().
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <mysql.h>

#include "crypto.h"
#include "db.h"
#include "engine.h"
#include "errbuf.h"
#include "evlog.h"
#include "health.h"
#include "kafka.h"
#include "log.h"
#include "relay.h"
#include "store.h"
#include "ttp_conf.h"
#include "ttp_key.h"
#include "ttp_tsa.h"

#define TTPD_DEFAULT_CONF "/etc/tds/ttpd.conf"
/* How long a retry waits for the relay to publish its first answer. */
#define TTPD_RELAY_SYNC_MS 20000
/* The messages a batch holds until it ends: 256 of 1 MiB would be too
 * much memory, so a batch also ends once it holds this many bytes. */
#define TTPD_BATCH_BYTES (8 * 1024 * 1024)

static volatile sig_atomic_t ttpd_quit;

/* Where each assigned partition of the request topic stands. */
struct part {
        int32_t partition;
        int positioned; /* seeked to the offset stored in the database */
};

struct ttpd {
        struct ttp_conf conf;
        struct db *db;
        struct store *store;
        struct crypto_key *key;
        struct ttp_tsa tsa;
        struct evlog *log;
        struct engine *engine;
        struct relay *relay;
        rd_kafka_t *consumer;
        struct health health;
        /* kafka_ok and kafka_error: the producer's errors arrive on the
         * relay's thread */
        pthread_mutex_t health_lock;
        struct part *parts;
        size_t nparts;
        /* one batch's messages (apply_batch of them at most), and those
         * fetched for it that wait for the next (carry) */
        rd_kafka_message_t **batch_km, **carry;
        struct engine_msg *batch_em;
        size_t ncarry;
        int pid_fd;
        unsigned backoff_ms;
        char db_warned[512]; /* the database error logged last */
};

static void ttpd_on_signal(int sig)
{
        (void)sig;
        ttpd_quit = 1;
}

static void usage(FILE *out)
{
        fprintf(out,
                "usage: tds-ttpd [-dhnvV] [-f config]\n"
                "\n"
                "  -d         stay in the foreground and log to stderr\n"
                "  -f config  configuration file (default %s)\n"
                "  -n         check the configuration, print "
                "\"configuration OK\", exit\n"
                "  -v         more verbose logging (repeat for librdkafka "
                "debug)\n"
                "  -V         print the version and exit\n"
                "  -h         this help\n"
                "\n"
                "Exit status: 0 on clean shutdown (SIGTERM/SIGINT), 1 on a "
                "fatal error,\n2 on a usage or configuration error.\n",
                TTPD_DEFAULT_CONF);
}

/*
 * The pid file doubles as a lock: a second daemon on the same file
 * refuses to start instead of stealing the first one's consumer group.
 */
static int pidfile_open(const char *path, char *err, size_t errlen)
{
        char buf[32];
        int fd;
        int len;

        if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644)) == -1) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return -1;
        }
        if (lockf(fd, F_TLOCK, 0) == -1) {
                ssize_t n = read(fd, buf, sizeof(buf) - 1);
                buf[n > 0 ? n : 0] = '\0';
                buf[strcspn(buf, "\n")] = '\0';
                snprintf(err, errlen, "%s: already running (pid %s)", path,
                         buf[0] ? buf : "?");
                close(fd);
                return -1;
        }
        len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
        if (ftruncate(fd, 0) == -1 || write(fd, buf, (size_t)len) != len) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                close(fd);
                return -1;
        }
        return fd;
}

/* The consumer's errors, on the main thread, and the producer's, on the
 * relay's. */
static void kafka_on_error(rd_kafka_t *rk, int err, const char *reason,
                           void *opaque)
{
        struct ttpd *d = opaque;

        pthread_mutex_lock(&d->health_lock);
        snprintf(d->health.kafka_error, sizeof(d->health.kafka_error), "%s: %s",
                 rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
        if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN ||
            err == RD_KAFKA_RESP_ERR__FATAL)
                d->health.kafka_ok = 0;
        pthread_mutex_unlock(&d->health_lock);
        /* Transport errors already reached the log through log_cb. */
        if (err == RD_KAFKA_RESP_ERR__FATAL) {
                log_warnx("kafka: fatal: %s", reason);
                if (rk != d->consumer && d->relay != NULL)
                        relay_on_fatal(d->relay);
        }
}

static struct part *part_find(struct ttpd *d, int32_t partition)
{
        for (size_t i = 0; i < d->nparts; i++)
                if (d->parts[i].partition == partition)
                        return &d->parts[i];
        return NULL;
}

/*
 * Position `parts` at the offsets stored in the database (the only
 * offsets that count: they commit with the effects).  A partition whose
 * offset cannot be read now stays paused until position_pending() can.
 */
static void position_parts(struct ttpd *d,
                           rd_kafka_topic_partition_list_t *parts)
{
        char err[512];

        for (int i = 0; i < parts->cnt; i++) {
                rd_kafka_topic_partition_t *tp = &parts->elems[i];
                struct part *p = part_find(d, tp->partition);
                int64_t stored = -2;

                if (d->engine != NULL)
                        stored = engine_stored_offset(d->engine, tp->topic,
                                                      tp->partition, err,
                                                      sizeof(err));
                tp->offset = stored >= 0 ? stored : RD_KAFKA_OFFSET_BEGINNING;
                if (p != NULL)
                        p->positioned = stored != -2;
                if (stored == -2)
                        log_warnx("partition %d: stored offset unknown yet "
                                  "(%s): paused",
                                  tp->partition,
                                  d->engine ? err : "database not ready");
                else
                        log_info("partition %d: continuing at offset %lld",
                                 tp->partition,
                                 (long long)(stored >= 0 ? stored : 0));
        }
}

static int parts_add(struct ttpd *d, rd_kafka_topic_partition_list_t *parts)
{
        struct part *n;

        /* realloc() to 0 bytes would free the array and return NULL. */
        if (parts->cnt <= 0)
                return 0;
        n = realloc(d->parts, (d->nparts + (size_t)parts->cnt) * sizeof(*n));
        if (n == NULL)
                return -1;
        d->parts = n;
        for (int i = 0; i < parts->cnt; i++) {
                d->parts[d->nparts].partition = parts->elems[i].partition;
                d->parts[d->nparts].positioned = 0;
                d->nparts++;
        }
        return 0;
}

static void parts_remove(struct ttpd *d, rd_kafka_topic_partition_list_t *parts)
{
        for (int i = 0; i < parts->cnt; i++) {
                struct part *p = part_find(d, parts->elems[i].partition);
                if (p != NULL)
                        *p = d->parts[--d->nparts];
        }
}

static void pause_unpositioned(struct ttpd *d, rd_kafka_t *rk,
                               rd_kafka_topic_partition_list_t *parts)
{
        rd_kafka_topic_partition_list_t *paused =
            rd_kafka_topic_partition_list_new(parts->cnt);

        for (int i = 0; i < parts->cnt; i++) {
                struct part *p = part_find(d, parts->elems[i].partition);
                if (p != NULL && !p->positioned)
                        rd_kafka_topic_partition_list_add(
                            paused, parts->elems[i].topic,
                            parts->elems[i].partition);
        }
        if (paused->cnt > 0)
                rd_kafka_pause_partitions(rk, paused);
        rd_kafka_topic_partition_list_destroy(paused);
}

static void kafka_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t *parts,
                               void *opaque)
{
        struct ttpd *d = opaque;
        rd_kafka_error_t *error = NULL;
        rd_kafka_resp_err_t ret = RD_KAFKA_RESP_ERR_NO_ERROR;
        const char *protocol = rd_kafka_rebalance_protocol(rk);
        int cooperative = protocol != NULL && !strcmp(protocol, "COOPERATIVE");

        switch (err) {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
                log_info("kafka: assigned %d partition(s)", parts->cnt);
                if (!cooperative)
                        d->nparts = 0;
                if (parts_add(d, parts) == -1)
                        fatalx("out of memory");
                position_parts(d, parts);
                if (cooperative)
                        error = rd_kafka_incremental_assign(rk, parts);
                else
                        ret = rd_kafka_assign(rk, parts);
                pause_unpositioned(d, rk, parts);
                break;
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
                log_info("kafka: revoked %d partition(s)", parts->cnt);
                if (cooperative) {
                        error = rd_kafka_incremental_unassign(rk, parts);
                        parts_remove(d, parts);
                } else {
                        ret = rd_kafka_assign(rk, NULL);
                        d->nparts = 0;
                }
                break;
        default:
                log_warnx("kafka: rebalance failed: %s", rd_kafka_err2str(err));
                rd_kafka_assign(rk, NULL);
                d->nparts = 0;
                break;
        }
        d->health.assigned_partitions = (int)d->nparts;
        if (error != NULL) {
                log_warnx("kafka: incremental assignment: %s",
                          rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (ret != RD_KAFKA_RESP_ERR_NO_ERROR) {
                log_warnx("kafka: assignment: %s", rd_kafka_err2str(ret));
        }
}

/* Seek `partition` to `offset` (after a retry or a skip). */
static void seek_to(struct ttpd *d, int32_t partition, int64_t offset)
{
        rd_kafka_topic_partition_list_t *l =
            rd_kafka_topic_partition_list_new(1);
        rd_kafka_error_t *error;

        rd_kafka_topic_partition_list_add(l, d->conf.topics.requests, partition)
            ->offset = offset;
        if ((error = rd_kafka_seek_partitions(d->consumer, l, 5000)) != NULL) {
                log_warnx("kafka: seek partition %d to %lld: %s", partition,
                          (long long)offset, rd_kafka_error_string(error));
                rd_kafka_error_destroy(error);
        } else if (l->elems[0].err) {
                log_warnx("kafka: seek partition %d to %lld: %s", partition,
                          (long long)offset, rd_kafka_err2str(l->elems[0].err));
        }
        rd_kafka_topic_partition_list_destroy(l);
}

/* Partitions paused because the database was down: position them now. */
static void position_pending(struct ttpd *d)
{
        rd_kafka_topic_partition_list_t *l;
        size_t pending = 0;

        for (size_t i = 0; i < d->nparts; i++)
                pending += !d->parts[i].positioned;
        if (pending == 0)
                return;
        l = rd_kafka_topic_partition_list_new((int)d->nparts + 1);
        for (size_t i = 0; i < d->nparts; i++)
                if (!d->parts[i].positioned)
                        rd_kafka_topic_partition_list_add(
                            l, d->conf.topics.requests, d->parts[i].partition);
        if (l->cnt > 0) {
                position_parts(d, l);
                for (int i = 0; i < l->cnt; i++) {
                        struct part *p = part_find(d, l->elems[i].partition);
                        if (p != NULL && p->positioned) {
                                seek_to(d, p->partition, l->elems[i].offset);
                                rd_kafka_topic_partition_list_t *one =
                                    rd_kafka_topic_partition_list_new(1);
                                rd_kafka_topic_partition_list_add(
                                    one, d->conf.topics.requests, p->partition);
                                rd_kafka_resume_partitions(d->consumer, one);
                                rd_kafka_topic_partition_list_destroy(one);
                        }
                }
        }
        rd_kafka_topic_partition_list_destroy(l);
}

/* Delivery reports go to the relay (the conf opaque is the daemon). */
static void kafka_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                              void *opaque)
{
        struct ttpd *d = opaque;

        relay_on_delivery(rk, m, d->relay);
}

static rd_kafka_conf_t *kafka_conf_build(struct ttpd *d, int consumer,
                                         char *err, size_t errlen)
{
        const struct ttp_conf *c = &d->conf;
        rd_kafka_conf_t *kc = rd_kafka_conf_new();

        /* Our defaults first, so the operator's kafka.* lines win. */
        if (consumer) {
                if (kafka_conf_set(kc, "group.id", c->group_id, err, errlen) ||
                    kafka_conf_set(kc, "enable.auto.commit", "false", err,
                                   errlen) ||
                    kafka_conf_set(kc, "enable.auto.offset.store", "false", err,
                                   errlen) ||
                    /* An offset that fell out of the log is an alarm,
                     * never a silent skip. */
                    kafka_conf_set(kc, "auto.offset.reset", "error", err,
                                   errlen) ||
                    /* A request waits at most this long in the broker
                     * before the TTP sees it (the default is 500 ms). */
                    kafka_conf_set(kc, "fetch.wait.max.ms", "50", err, errlen))
                        goto fail;
        } else {
                if (kafka_conf_set(kc, "enable.idempotence", "true", err,
                                   errlen) ||
                    kafka_conf_set(kc, "partitioner", "murmur2_random", err,
                                   errlen))
                        goto fail;
        }
        if (log_get_verbose() > 1 &&
            kafka_conf_set(kc, "debug", consumer ? "consumer,cgrp" : "msg", err,
                           errlen))
                goto fail;
        for (size_t i = 0; i < c->kafka_count; i++)
                if (kafka_conf_set(kc, c->kafka[i].key, c->kafka[i].value, err,
                                   errlen))
                        goto fail;
        rd_kafka_conf_set_opaque(kc, d);
        rd_kafka_conf_set_error_cb(kc, kafka_on_error);
        kafka_conf_log_to_tds(kc);
        if (consumer)
                rd_kafka_conf_set_rebalance_cb(kc, kafka_on_rebalance);
        else
                rd_kafka_conf_set_dr_msg_cb(kc, kafka_on_delivery);
        return kc;
fail:
        rd_kafka_conf_destroy(kc);
        return NULL;
}

/* The idempotent producer of replies, for the relay (relay_producer_fn);
 * again after a fatal error, on the relay's thread. */
static rd_kafka_t *ttpd_producer_new(void *ctx, char *err, size_t errlen)
{
        struct ttpd *d = ctx;
        rd_kafka_conf_t *kc;
        rd_kafka_t *producer;
        char kerrstr[256];

        if ((kc = kafka_conf_build(d, 0, err, errlen)) == NULL)
                return NULL;
        producer =
            rd_kafka_new(RD_KAFKA_PRODUCER, kc, kerrstr, sizeof(kerrstr));
        if (producer == NULL) {
                kafka_new_error(err, errlen, "kafka producer", kerrstr, kc);
                rd_kafka_conf_destroy(kc);
        }
        return producer;
}

static int kafka_open(struct ttpd *d, char *err, size_t errlen)
{
        rd_kafka_conf_t *kc;
        rd_kafka_topic_partition_list_t *topics = NULL;
        rd_kafka_resp_err_t kerr;
        char kerrstr[256];
        int ret = -1;

        if ((kc = kafka_conf_build(d, 1, err, errlen)) == NULL)
                goto done;
        d->consumer =
            rd_kafka_new(RD_KAFKA_CONSUMER, kc, kerrstr, sizeof(kerrstr));
        if (d->consumer == NULL) {
                kafka_new_error(err, errlen, "kafka consumer", kerrstr, kc);
                rd_kafka_conf_destroy(kc);
                goto done;
        }
        rd_kafka_poll_set_consumer(d->consumer);
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, d->conf.topics.requests,
                                          RD_KAFKA_PARTITION_UA);
        if ((kerr = rd_kafka_subscribe(d->consumer, topics)) != 0) {
                snprintf(err, errlen, "subscribe %s: %s",
                         d->conf.topics.requests, rd_kafka_err2str(kerr));
                goto done;
        }
        ret = 0;
done:
        if (topics != NULL)
                rd_kafka_topic_partition_list_destroy(topics);
        return ret;
}

/* Is the request topic visible from the brokers right now? */
static void kafka_check(struct ttpd *d)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt;
        rd_kafka_resp_err_t kerr;

        rkt = rd_kafka_topic_new(d->consumer, d->conf.topics.requests, NULL);
        if (rkt == NULL)
                return;
        kerr = rd_kafka_metadata(d->consumer, 0, rkt, &md, 2000);
        pthread_mutex_lock(&d->health_lock);
        if (kerr == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 &&
            md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                d->health.kafka_ok = 1;
                d->health.kafka_error[0] = '\0';
        } else {
                d->health.kafka_ok = 0;
                snprintf(d->health.kafka_error, sizeof(d->health.kafka_error),
                         "metadata for %s: %s", d->conf.topics.requests,
                         rd_kafka_err2str(kerr ? kerr : md->topics[0].err));
        }
        pthread_mutex_unlock(&d->health_lock);
        if (md != NULL)
                rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
}

/* Open the database session, and the engine on top of it, once. */
static void db_check(struct ttpd *d)
{
        char err[512];
        int was_ok = d->health.db_ok;

        if (d->db == NULL)
                d->db = db_open(&d->conf, err, sizeof(err));
        else if (db_ping(d->db, err, sizeof(err)) == -1)
                d->health.db_ok = 0;
        if (d->db != NULL && db_schema_version(d->db, &d->health.schema_version,
                                               err, sizeof(err)) == 0) {
                if (d->health.schema_version != DB_SCHEMA_VERSION) {
                        snprintf(d->health.db_error, sizeof(d->health.db_error),
                                 "schema version %d, daemon needs %d",
                                 d->health.schema_version, DB_SCHEMA_VERSION);
                        d->health.db_ok = 0;
                } else {
                        d->health.db_ok = 1;
                        d->health.db_error[0] = '\0';
                }
        } else {
                d->health.db_ok = 0;
                snprintf(d->health.db_error, sizeof(d->health.db_error), "%s",
                         err);
        }
        if (d->health.db_ok && !was_ok)
                log_info("database: connected to MariaDB %s, schema %d",
                         db_server_info(d->db), d->health.schema_version);
        else if (!d->health.db_ok &&
                 strcmp(d->db_warned, d->health.db_error) != 0)
                log_warnx("%s%s",
                          strncmp(d->health.db_error, "database:", 9) == 0
                              ? ""
                              : "database: ",
                          d->health.db_error);
        snprintf(d->db_warned, sizeof(d->db_warned), "%s",
                 d->health.db_ok ? "" : d->health.db_error);
        if (d->health.db_ok && d->engine == NULL) {
                const struct tsa_cert chain[2] = {d->tsa.cert, d->tsa.ca_cert};

                if ((d->log = evlog_new(d->db, d->key, d->tsa.signer, err,
                                        sizeof(err))) == NULL)
                        fatalx("%s", err);
                d->engine = engine_new(&d->conf, d->db, d->store, d->key,
                                       d->log, chain, 2, err, sizeof(err));
                if (d->engine == NULL)
                        fatalx("%s", err);
                /* The relay publishes what is pending from its own
                 * thread and session; its producer's callbacks find it
                 * in d->relay, set before they can run. */
                if ((d->relay = relay_new(&d->conf, ttpd_producer_new, d, err,
                                          sizeof(err))) == NULL ||
                    relay_start(d->relay, err, sizeof(err)) == -1)
                        fatalx("%s", err);
        }
}

static void health_tick(struct ttpd *d)
{
        char err[512];
        int rc;

        db_check(d);
        kafka_check(d);
        if (d->engine != NULL && d->health.db_ok)
                position_pending(d);
        if (d->conf.state_file != NULL) {
                if (d->engine != NULL) {
                        struct engine_stats st;

                        engine_stats(d->engine, &st);
                        d->health.ids_new_looked_up = st.ids_new_looked_up;
                        d->health.ids_processed_looked_up =
                            st.ids_processed_looked_up;
                        d->health.ids_asked_alone = st.ids_asked_alone;
                }
                pthread_mutex_lock(&d->health_lock);
                rc = health_write(d->conf.state_file, &d->health, err,
                                  sizeof(err));
                pthread_mutex_unlock(&d->health_lock);
                if (rc == -1)
                        log_warnx("%s", err);
        }
}

static void sweep_tick(struct ttpd *d)
{
        char err[512];
        int n;

        if (d->engine == NULL || !d->health.db_ok)
                return;
        if ((n = engine_sweep(d->engine, d->conf.sweep_grace, err,
                              sizeof(err))) == -1)
                log_warnx("sweep: %s", err);
        else if (n > 0)
                log_info("sweep: removed %d expired upload(s)/download(s)", n);
}

/* Sign a tree head when the evidence log grew since the last one. */
static void head_tick(struct ttpd *d)
{
        struct evlog_head head;
        char err[512];
        int signed_now;

        if (d->log == NULL || !d->health.db_ok)
                return;
        if (evlog_head(d->log, time(NULL), &head, &signed_now, err,
                       sizeof(err)) == -1 ||
            db_commit(d->db, err, sizeof(err)) == -1) {
                db_rollback(d->db);
                log_warnx("evidence log: signing a tree head: %s", err);
                return;
        }
        if (signed_now)
                log_info("evidence log: signed tree head, size %llu",
                         (unsigned long long)head.tree_size);
}

static void backoff(struct ttpd *d)
{
        struct timespec ts;

        d->backoff_ms = d->backoff_ms ? d->backoff_ms * 2 : 100;
        if (d->backoff_ms > 5000)
                d->backoff_ms = 5000;
        ts.tv_sec = d->backoff_ms / 1000;
        ts.tv_nsec = (long)(d->backoff_ms % 1000) * 1000000L;
        nanosleep(&ts, NULL);
}

static double now_seconds(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Is `m` a message to apply?  Consumer errors are logged, and a message
 * fetched before its partition was positioned is dropped: it will be read
 * again from the stored offset.
 */
static int ttpd_accept(struct ttpd *d, const rd_kafka_message_t *m)
{
        struct part *p;

        if (m->err) {
                if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                    m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
                        log_warnx("ALARM: %s [%d]: offset out of range (%s); "
                                  "requests may have been lost to "
                                  "retention",
                                  m->rkt ? rd_kafka_topic_name(m->rkt) : "?",
                                  m->partition, rd_kafka_message_errstr(m));
                else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                        log_warnx("kafka: consume: %s",
                                  rd_kafka_message_errstr(m));
                return 0;
        }
        d->health.messages_seen++;
        p = part_find(d, m->partition);
        return p != NULL && p->positioned && d->engine != NULL;
}

/* Is message `i` the last of its partition in em[0..n)? */
static int partition_last(const struct engine_msg *em, size_t n, size_t i)
{
        for (size_t j = i + 1; j < n; j++)
                if (em[j].partition == em[i].partition)
                        return 0;
        return 1;
}

/* What the engine reads of `m` (borrowed until the batch ends). */
static void em_fill(struct engine_msg *em, const rd_kafka_message_t *m,
                    int relay_waited)
{
        *em = (struct engine_msg){.topic = rd_kafka_topic_name(m->rkt),
                                  .partition = m->partition,
                                  .offset = m->offset,
                                  .key = m->key,
                                  .keylen = m->key_len,
                                  .value = m->payload,
                                  .len = m->len,
                                  .skip_to = -1,
                                  .relay_waited = relay_waited};
}

/*
 * `m` joins the batch (d->batch_km and _em at *nf, which has room) if it
 * is a message to apply; otherwise it is destroyed.  1 if it joined.
 */
static int batch_push(struct ttpd *d, rd_kafka_message_t *m, size_t *nf,
                      size_t *bytes)
{
        if (!ttpd_accept(d, m)) {
                rd_kafka_message_destroy(m);
                return 0;
        }
        d->batch_km[*nf] = m;
        em_fill(&d->batch_em[*nf], m, 0);
        (*nf)++;
        *bytes += m->len + m->key_len;
        return 1;
}

/*
 * A message already fetched joins the batch while there is room and
 * time (polled without waiting): 1 if one did, 0 if the batch is
 * complete.  A rebalance callback may run in these polls: it leaves the
 * database alone while a batch is open (the engine refuses), the
 * partition stays paused until position_pending().
 */
static int batch_more(struct ttpd *d, size_t *nf, size_t *bytes,
                      double deadline)
{
        rd_kafka_message_t *m;

        while (*nf < d->conf.apply_batch && *bytes < TTPD_BATCH_BYTES &&
               now_seconds() < deadline && !ttpd_quit) {
                if ((m = rd_kafka_consumer_poll(d->consumer, 0)) == NULL)
                        return 0;
                if (batch_push(d, m, nf, bytes))
                        return 1;
        }
        return 0;
}

/* Seek every partition of km[0..n) back to its first message there. */
static void seek_back(struct ttpd *d, rd_kafka_message_t **km, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                size_t j = 0;

                while (j < i && km[j]->partition != km[i]->partition)
                        j++;
                if (j == i)
                        seek_to(d, km[i]->partition, km[i]->offset);
        }
}

/*
 * One batch.  Its messages are gathered first: those the last batch left
 * (d->carry), then `first` (NULL, or what the loop's poll waited for),
 * then what is already fetched, polled without waiting, until
 * apply_batch of them or TTPD_BATCH_BYTES; the engine looks their
 * msg_ids up together (engine_batch_prefetch()), then applies them in
 * order until one belongs to the next batch or apply_batch_ms passed:
 * the rest wait in d->carry.  One COMMIT; then the relay publishes what
 * the batch caused.  The messages are kept until the batch ended (the
 * engine borrows them, to apply them again after a deadlock).
 */
static void ttpd_batch(struct ttpd *d, rd_kafka_message_t *first, int *waited)
{
        rd_kafka_message_t **km = d->batch_km, *m = first;
        int relay_first = 0;
        struct engine_msg *em = d->batch_em;
        double deadline = now_seconds() + d->conf.apply_batch_ms / 1000.0;
        enum engine_result r;
        char err[1024];
        size_t nf = 0, n = 0, applied = 0, bytes = 0;
        int rc;

        if (d->engine == NULL) {
                if (m != NULL) {
                        ttpd_accept(d, m);
                        rd_kafka_message_destroy(m);
                }
                return;
        }
        engine_batch_begin(d->engine);
        /* Left by the last batch: accepted then, in order (the loop
         * passes `first` only when none was left). */
        memcpy(km, d->carry, d->ncarry * sizeof(*km));
        nf = d->ncarry;
        d->ncarry = 0;
        for (size_t i = 0; i < nf; i++) {
                em_fill(&em[i], km[i], 0);
                bytes += km[i]->len + km[i]->key_len;
        }
        if (m != NULL)
                batch_push(d, m, &nf, &bytes);
        while (batch_more(d, &nf, &bytes, deadline))
                ;
        if (nf > 0)
                em[0].relay_waited = *waited;
        engine_batch_prefetch(d->engine, em, nf);
        for (;;) {
                if (n == nf && !batch_more(d, &nf, &bytes, deadline))
                        break;
                if (n > 0 && (now_seconds() >= deadline || ttpd_quit))
                        break;
                rc = engine_batch_add(d->engine, &em[n], err, sizeof(err));
                if (rc == 1 || rc == 2) {
                        /* Its msg_id is in this batch, or it is a retry
                         * of an answer the relay has not published yet:
                         * the next batch, and those after it too. */
                        relay_first = rc == 2;
                        break;
                }
                n++; /* borrowed: destroyed after the batch */
                if (rc == -1)
                        break;
        }
        r = engine_batch_end(d->engine, err, sizeof(err));
        if (r == ENGINE_APPLIED) {
                for (size_t i = 0; i < n; i++) {
                        if (em[i].skip_to < 0) {
                                applied++;
                                continue;
                        }
                        /* The carried ones of its partition (if any)
                         * are skipped or applied next: no seek yet. */
                        if (!partition_last(em, nf, i))
                                continue;
                        log_info("partition %d offset %lld was applied "
                                 "before; continuing at %lld",
                                 em[i].partition, (long long)em[i].offset,
                                 (long long)em[i].skip_to);
                        seek_to(d, em[i].partition, em[i].skip_to);
                }
                log_debug("batch of %zu message(s): %zu applied, %zu for "
                          "the next",
                          n, applied, nf - n);
                memcpy(d->carry, km + n, (nf - n) * sizeof(*km));
                d->ncarry = nf - n;
        } else if (nf > 0) {
                log_warnx("a batch of %zu message(s) from partition %d offset "
                          "%lld on was not applied, will retry: %s",
                          n, em[0].partition, (long long)em[0].offset, err);
                /* All fetched again, the ones not applied yet too. */
                seek_back(d, km, nf);
                for (size_t i = n; i < nf; i++)
                        rd_kafka_message_destroy(km[i]);
        }
        for (size_t i = 0; i < n; i++)
                rd_kafka_message_destroy(d->batch_km[i]);
        if (r == ENGINE_RETRY && nf > 0) {
                backoff(d);
                db_check(d);
        } else if (r == ENGINE_APPLIED && n > 0) {
                /* Also when every message was a redelivery applied
                 * before: its replies committed, but perhaps nobody
                 * published them (a COMMIT lost with the connection,
                 * whose outcome was unknown until this redelivery).
                 * Without this they waited for the next applied
                 * message, for ever in a quiet system (found by the
                 * fault campaign, db-kill-last-commit). */
                d->backoff_ms = 0;
                relay_kick(d->relay);
        }
        if (d->health.db_ok)
                position_pending(d);
        *waited = 0;
        if (d->ncarry > 0 && relay_first) {
                if (relay_sync(d->relay, TTPD_RELAY_SYNC_MS) == -1)
                        log_warnx("relay: no drain within %d ms; a retry is "
                                  "answered anyway",
                                  TTPD_RELAY_SYNC_MS);
                *waited = 1;
        }
}

static void ttpd_shutdown(struct ttpd *d)
{
        /* Not applied: fetched again from the stored offsets. */
        for (size_t i = 0; i < d->ncarry; i++)
                rd_kafka_message_destroy(d->carry[i]);
        d->ncarry = 0;
        if (d->consumer != NULL) {
                rd_kafka_consumer_close(d->consumer);
                rd_kafka_destroy(d->consumer);
        }
        /* The relay drains once more, flushes and stops. */
        relay_free(d->relay);
        engine_free(d->engine);
        evlog_free(d->log);
        ttp_tsa_close(&d->tsa);
        db_close(d->db);
        store_close(d->store);
        crypto_key_free(d->key);
        free(d->parts);
        free(d->batch_km);
        free(d->carry);
        free(d->batch_em);
        if (d->conf.state_file != NULL)
                unlink(d->conf.state_file);
        if (d->pid_fd != -1) {
                unlink(d->conf.pid_file);
                close(d->pid_fd);
        }
        ttp_conf_fini(&d->conf);
        pthread_mutex_destroy(&d->health_lock);
        mysql_library_end();
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
        struct ttpd d;
        const char *conf_path = TTPD_DEFAULT_CONF;
        int foreground = 0, check_only = 0, verbose = 0, ch, created;
        char err[1024], key_id[CRYPTO_KEY_ID_LEN + 1];
        double next_tick = 0, next_sweep = 0, next_head = 0;
        int waited = 0;
        struct sigaction sa;

        memset(&d, 0, sizeof(d));
        d.pid_fd = -1;
        pthread_mutex_init(&d.health_lock, NULL);
        while ((ch = getopt_long(argc, argv, "df:hnvV", longopts, NULL)) !=
               -1) {
                switch (ch) {
                case 'd':
                        foreground = 1;
                        break;
                case 'f':
                        conf_path = optarg;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'n':
                        check_only = 1;
                        break;
                case 'v':
                        verbose++;
                        break;
                case 'V':
                        printf("tds-ttpd %s (librdkafka %s)\n", TDS_VERSION,
                               rd_kafka_version_str());
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "tds-ttpd: unexpected argument '%s'\n",
                        argv[optind]);
                usage(stderr);
                return 2;
        }
        log_init("tds-ttpd", 1, verbose);
        if (ttp_conf_load(&d.conf, conf_path, err, sizeof(err)) == -1) {
                fprintf(stderr, "tds-ttpd: %s\n", err);
                return 2;
        }
        /* Before detaching, so that a refused key reaches the operator. */
        if (ttp_key_check(d.conf.ttp_key_file, err, sizeof(err)) == -1) {
                fprintf(stderr, "tds-ttpd: TTP key: %s\n", err);
                ttp_conf_fini(&d.conf);
                return 2;
        }
        if (check_only) {
                printf("configuration OK\n");
                ttp_conf_fini(&d.conf);
                return 0;
        }
        if (!foreground) {
                if (daemon(1, 0) == -1)
                        fatal("daemon");
                log_init("tds-ttpd", d.conf.log_file != NULL, verbose);
        }
        if (!foreground && d.conf.log_file != NULL &&
            log_open_file(d.conf.log_file) == -1)
                fatal("%s", d.conf.log_file);
        if (d.conf.pid_file != NULL &&
            (d.pid_fd = pidfile_open(d.conf.pid_file, err, sizeof(err))) == -1)
                fatalx("%s", err);
        d.batch_km = calloc(d.conf.apply_batch, sizeof(*d.batch_km));
        d.carry = calloc(d.conf.apply_batch, sizeof(*d.carry));
        d.batch_em = calloc(d.conf.apply_batch, sizeof(*d.batch_em));
        if (d.batch_km == NULL || d.carry == NULL || d.batch_em == NULL)
                fatalx("out of memory");
        if (d.conf.test_crash_point != NULL)
                log_warnx("TEST MODE: will SIGKILL itself at crash point '%s'",
                          d.conf.test_crash_point);

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = ttpd_on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        if (mysql_library_init(0, NULL, NULL) != 0)
                fatalx("cannot initialise the MariaDB client library");
        if ((d.store = store_open(d.conf.store_root, err, sizeof(err))) == NULL)
                fatalx("store: %s", err);
        if (ttp_key_load_or_create(d.conf.ttp_key_file, &d.key, &created, err,
                                   sizeof(err)) == -1)
                fatalx("TTP key: %s", err);
        if (crypto_key_id(d.key, key_id, err, sizeof(err)) == -1)
                fatalx("TTP key: %s", err);
        log_info("TTP key %s%s (public key in %s.pub)", key_id,
                 created ? " created" : "", d.conf.ttp_key_file);
        if (ttp_tsa_open(&d.tsa, &d.conf, d.key, &created, err, sizeof(err)) ==
            -1)
                fatalx("%s", err);
        if (created)
                log_info("TSA key and certificates created beside the TTP "
                         "key");
        if (kafka_open(&d, err, sizeof(err)) == -1)
                fatalx("%s", err);
        log_info("started: requests from %s, replies to %s, group %s",
                 d.conf.topics.requests, d.conf.topics.replies,
                 d.conf.group_id);

        while (!ttpd_quit) {
                rd_kafka_message_t *m;

                if (now_seconds() >= next_tick) {
                        health_tick(&d);
                        next_tick = now_seconds() + d.conf.state_interval;
                }
                if (now_seconds() >= next_sweep) {
                        sweep_tick(&d);
                        next_sweep = now_seconds() + d.conf.sweep_interval;
                }
                if (now_seconds() >= next_head) {
                        head_tick(&d);
                        next_head = now_seconds() + d.conf.head_interval;
                }
                m = rd_kafka_consumer_poll(d.consumer, 200);
                if (m != NULL)
                        ttpd_batch(&d, m, &waited);
                while (d.ncarry > 0 && !ttpd_quit)
                        ttpd_batch(&d, NULL, &waited);
        }
        log_info("shutting down");
        ttpd_shutdown(&d);
        log_info("stopped");
        return 0;
}

/*
 * relay: publishes the outbox to Kafka.
 *
 * Rows are read in order, produced with the idempotent producer, and
 * marked sent only after their delivery report said they are in the log.
 * A crash anywhere in between publishes them again at the next drain:
 * the copies carry the same msg_id, which clients drop as duplicates.
 */
#ifndef TTP_RELAY_H
#define TTP_RELAY_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

struct db;
struct ttp_conf;
struct relay;

/* Borrowed: conf, db and producer outlive the relay.  The producer's
 * delivery report callback must be relay_on_delivery with the relay as
 * the message opaque's owner (see ttpd.c). */
struct relay *relay_new(const struct ttp_conf *conf, struct db *db,
                        rd_kafka_t *producer, char *err, size_t errlen);
void relay_free(struct relay *relay);

/* Publish with `producer` from now on (after the old one failed). */
void relay_set_producer(struct relay *relay, rd_kafka_t *producer);

/*
 * Publish pending outbox rows until none is left.  Returns the number of
 * rows published and marked sent, -1 with a message on error (what was
 * not marked is published again next time).
 */
int relay_drain(struct relay *relay, char *err, size_t errlen);

/* librdkafka's dr_msg_cb for the TTP's producer. */
void relay_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                       void *opaque);

#endif

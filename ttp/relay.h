/*
 * relay: publishes the outbox to Kafka, on a thread of its own.
 *
 * Rows are read in order, produced with the idempotent producer, and
 * marked sent only after their delivery report said they are in the log.
 * A crash anywhere in between publishes them again at the next drain:
 * the copies carry the same msg_id, which clients drop as duplicates.
 *
 * The thread has its own database connection (it reads only committed
 * rows) and owns the producer: nobody else produces, polls or flushes it.
 * So publishing one batch overlaps with applying the next (engine.c).
 */
#ifndef TTP_RELAY_H
#define TTP_RELAY_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

struct ttp_conf;
struct relay;

/*
 * Makes the reply producer, whose delivery report callback calls
 * relay_on_delivery() and whose error callback calls relay_on_fatal()
 * on a fatal error; NULL with a message on error.  Called by
 * relay_new(), and on the relay's thread after a fatal error.
 */
typedef rd_kafka_t *(*relay_producer_fn)(void *ctx, char *err, size_t errlen);

/*
 * Make the producer.  `conf` and `ctx` are borrowed and outlive the
 * relay.
 */
struct relay *relay_new(const struct ttp_conf *conf,
                        relay_producer_fn producer_new, void *ctx, char *err,
                        size_t errlen);

/*
 * Start the thread, which connects to the database and drains what is
 * pending; from then on only the thread touches the producer (its
 * callbacks run there, so they may find the relay where the caller
 * stored it after relay_new()).
 */
int relay_start(struct relay *relay, char *err, size_t errlen);

/*
 * Stop: one last drain, the producer flushed and destroyed, the thread
 * joined, its connection closed.  Accepts NULL.
 */
void relay_free(struct relay *relay);

/* Rows were committed to the outbox: publish them. */
void relay_kick(struct relay *relay);

/*
 * Kick, and wait until a drain that began after this call ended, well or
 * not (at most `timeout_ms`: -1 then).  For the rare caller that must
 * know that what it committed was published (or tried), as a relay that
 * ran after every transaction knew.
 */
int relay_sync(struct relay *relay, int timeout_ms);

/* librdkafka's dr_msg_cb for the relay's producer (`opaque`: the relay). */
void relay_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                       void *opaque);

/* The producer failed fatally: the thread replaces it. */
void relay_on_fatal(struct relay *relay);

#endif

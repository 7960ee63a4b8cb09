/*
 * kafka: what the daemon, the client and the broker agree on about Kafka:
 * topic names, the reply partitioner, and building librdkafka
 * configurations from `key value` settings passed through unchanged.
 */
#ifndef TDS_KAFKA_H
#define TDS_KAFKA_H

#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#define KAFKA_TOPIC_MAX 200

struct kafka_topics {
        char requests[KAFKA_TOPIC_MAX];
        char replies[KAFKA_TOPIC_MAX];
        char dead_letter[KAFKA_TOPIC_MAX];
};

/*
 * The three TDS topic names for `prefix` ("tds" gives tds.requests, ...).
 * The prefix must be a legal Kafka topic name part: [A-Za-z0-9._-], at
 * most 180 characters.
 */
int kafka_topics_init(struct kafka_topics *topics, const char *prefix,
                      char *err, size_t errlen);

/* rd_kafka_conf_set with the error text copied into `err`. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                   char *err, size_t errlen);

/*
 * The partition of `tds.replies` that carries messages for `user`: the
 * Java-compatible murmur2 partitioner of the contract, so clients in any
 * language find their replies in one partition.
 */
int32_t kafka_reply_partition(const char *user, int32_t partition_count);

/* Route librdkafka's own log lines through log.h (warnings and worse as
 * warnings, the rest as debug), so a daemon without stderr keeps them. */
void kafka_conf_log_to_tds(rd_kafka_conf_t *conf);
#endif

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
 * kafka_conf_check: whether librdkafka accepts property `key` with `value`
 * (a known property, a value of the right type), on a scratch
 * configuration, so that a configuration file is checked when it is read
 * (tds-ttpd -n) rather than when the connection is made.  -1 with
 * librdkafka's reason ("No such configuration property") otherwise.
 * Files named by a property (ssl.ca.location) are opened only by
 * rd_kafka_new(): see kafka_new_error().
 */
int kafka_conf_check(const char *key, const char *value, char *err,
                     size_t errlen);

/*
 * kafka_new_error: the message for a failed rd_kafka_new(): "`what`:
 * `kerrstr`", and when librdkafka blames a file property ("ssl.ca.location
 * failed: ...") the file it was given, read back from `conf` (borrowed),
 * so that the message names it.  Only *.location properties are echoed:
 * other values may be secrets.
 */
void kafka_new_error(char *err, size_t errlen, const char *what,
                     const char *kerrstr, const rd_kafka_conf_t *conf);

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

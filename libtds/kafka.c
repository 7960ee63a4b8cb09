/*
 * kafka: shared Kafka conventions.
 */
#include "kafka.h"

#include "log.h"

#include <stdio.h>
#include <string.h>

int kafka_topics_init(struct kafka_topics *topics, const char *prefix,
                      char *err, size_t errlen)
{
        size_t len = strlen(prefix);

        if (len == 0 || len > 180) {
                snprintf(err, errlen,
                         "topic prefix must be 1 to 180 "
                         "characters");
                return -1;
        }
        for (size_t i = 0; i < len; i++) {
                char c = prefix[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-')) {
                        snprintf(err, errlen,
                                 "topic prefix '%s' may only hold "
                                 "[A-Za-z0-9._-]",
                                 prefix);
                        return -1;
                }
        }
        snprintf(topics->requests, sizeof(topics->requests), "%s.requests",
                 prefix);
        snprintf(topics->replies, sizeof(topics->replies), "%s.replies",
                 prefix);
        snprintf(topics->dead_letter, sizeof(topics->dead_letter),
                 "%s.dead-letter", prefix);
        return 0;
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                   char *err, size_t errlen)
{
        char kerr[512];

        if (rd_kafka_conf_set(conf, key, value, kerr, sizeof(kerr)) !=
            RD_KAFKA_CONF_OK) {
                snprintf(err, errlen, "kafka property %s: %s", key, kerr);
                return -1;
        }
        return 0;
}

int kafka_conf_check(const char *key, const char *value, char *err,
                     size_t errlen)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        int ret;

        ret = kafka_conf_set(conf, key, value, err, errlen);
        rd_kafka_conf_destroy(conf);
        return ret;
}

void kafka_new_error(char *err, size_t errlen, const char *what,
                     const char *kerrstr, const rd_kafka_conf_t *conf)
{
        static const char suffix[] = ".location";
        char key[128], value[1024];
        size_t keylen, valuelen = sizeof(value);
        const char *failed = strstr(kerrstr, " failed");

        snprintf(err, errlen, "%s: %s", what, kerrstr);
        if (failed == NULL || (keylen = (size_t)(failed - kerrstr)) == 0 ||
            keylen >= sizeof(key) || keylen <= sizeof(suffix) - 1)
                return;
        memcpy(key, kerrstr, keylen);
        key[keylen] = '\0';
        if (strcmp(key + keylen - (sizeof(suffix) - 1), suffix) != 0 ||
            strchr(key, ' ') != NULL)
                return;
        if (rd_kafka_conf_get(conf, key, value, &valuelen) != RD_KAFKA_CONF_OK)
                return;
        keylen = strlen(err);
        if (keylen + 1 < errlen)
                snprintf(err + keylen, errlen - keylen, " (%s is %s)", key,
                         value);
}

int32_t kafka_reply_partition(const char *user, int32_t partition_count)
{
        /* librdkafka's murmur2 partitioner is Java's: it ignores the
         * topic handle and the opaques for a non-NULL key. */
        return rd_kafka_msg_partitioner_murmur2(NULL, user, strlen(user),
                                                partition_count, NULL, NULL);
}

static void kafka_on_log(const rd_kafka_t *rk, int level, const char *fac,
                         const char *buf)
{
        if (level <= 4)
                log_warnx("kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
        else
                log_debug("kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

void kafka_conf_log_to_tds(rd_kafka_conf_t *conf)
{
        rd_kafka_conf_set_log_cb(conf, kafka_on_log);
}

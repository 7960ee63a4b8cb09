/*
 * Unit tests of libtds/kafka.c: topic names, the reply partitioner, and
 * the checks and messages of librdkafka properties.
 */
#include <stdint.h>
#include <string.h>

#include "kafka.h"
#include "unit.h"

/*
 * Java's Utils.murmur2 values for these keys, from Kafka's own
 * UtilsTest; the partition is toPositive(hash) % count.
 */
static const struct {
        const char *key;
        int32_t java_hash;
} murmur2_vectors[] = {
    {"21", -973932308},
    {"foobar", -790332482},
    {"a-little-bit-long-string", -985981536},
    {"a-little-bit-longer-string", -1486304829},
    {"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
    {"abc", 479470107},
};

static void test_reply_partition(void)
{
        for (size_t i = 0;
             i < sizeof(murmur2_vectors) / sizeof(murmur2_vectors[0]); i++) {
                uint32_t positive =
                    (uint32_t)murmur2_vectors[i].java_hash & 0x7fffffff;
                for (int32_t n = 1; n <= 64; n *= 2) {
                        int32_t want = (int32_t)(positive % (uint32_t)n);
                        CHECK(kafka_reply_partition(murmur2_vectors[i].key,
                                                    n) == want);
                }
                CHECK(kafka_reply_partition(murmur2_vectors[i].key, 7) ==
                      (int32_t)(positive % 7));
        }
}

static void test_topics(void)
{
        struct kafka_topics t;
        char err[256] = "";
        char long_prefix[200];

        CHECK(kafka_topics_init(&t, "tds", err, sizeof(err)) == 0);
        CHECK_STR_EQ(t.requests, "tds.requests");
        CHECK_STR_EQ(t.replies, "tds.replies");
        CHECK_STR_EQ(t.dead_letter, "tds.dead-letter");
        CHECK(kafka_topics_init(&t, "acme-prod_1", err, sizeof(err)) == 0);
        CHECK_STR_EQ(t.requests, "acme-prod_1.requests");
        CHECK(kafka_topics_init(&t, "", err, sizeof(err)) == -1);
        CHECK(kafka_topics_init(&t, "a/b", err, sizeof(err)) == -1);
        CHECK(strstr(err, "a/b") != NULL);
        memset(long_prefix, 'a', 181);
        long_prefix[181] = '\0';
        CHECK(kafka_topics_init(&t, long_prefix, err, sizeof(err)) == -1);
}

static void test_conf_set(void)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[512] = "";

        CHECK(kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:9092", err,
                             sizeof(err)) == 0);
        CHECK(kafka_conf_set(conf, "no.such.property", "1", err, sizeof(err)) ==
              -1);
        CHECK(strstr(err, "no.such.property") != NULL);
        rd_kafka_conf_destroy(conf);
}

static void test_conf_check(void)
{
        char err[512] = "";

        CHECK(kafka_conf_check("security.protocol", "SASL_SSL", err,
                               sizeof(err)) == 0);
        CHECK(kafka_conf_check("sasl.mechanisms", "SCRAM-SHA-512", err,
                               sizeof(err)) == 0);
        CHECK(kafka_conf_check("ssl.ca.location", "/no/such/ca.pem", err,
                               sizeof(err)) == 0);
        CHECK(kafka_conf_check("no.such.property", "1", err, sizeof(err)) ==
              -1);
        CHECK_STR_EQ(err, "kafka property no.such.property: No such "
                          "configuration property: \"no.such.property\"");
        CHECK(kafka_conf_check("security.protocol", "tls", err, sizeof(err)) ==
              -1);
        CHECK(strstr(err, "Invalid value \"tls\"") != NULL);
}

static void test_new_error(void)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char err[512] = "", kerr[512];
        rd_kafka_t *rk;

        /* librdkafka's own words, the file named after them. */
        CHECK(kafka_conf_set(conf, "log_level", "0", err, sizeof(err)) == 0);
        CHECK(kafka_conf_set(conf, "security.protocol", "ssl", err,
                             sizeof(err)) == 0);
        CHECK(kafka_conf_set(conf, "ssl.ca.location", "/no/such/ca.pem", err,
                             sizeof(err)) == 0);
        CHECK(kafka_conf_set(conf, "sasl.password", "s3cret", err,
                             sizeof(err)) == 0);
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof(kerr));
        CHECK(rk == NULL);
        if (rk == NULL) {
                kafka_new_error(err, sizeof(err), "producer", kerr, conf);
                CHECK(strncmp(err, "producer: ssl.ca.location failed: ", 34) ==
                      0);
                CHECK(strstr(err, " (ssl.ca.location is /no/such/ca.pem)") !=
                      NULL);
                rd_kafka_conf_destroy(conf);
        } else {
                rd_kafka_destroy(rk);
        }
        /* Only *.location values are ever echoed. */
        conf = rd_kafka_conf_new();
        CHECK(kafka_conf_set(conf, "sasl.password", "s3cret", err,
                             sizeof(err)) == 0);
        kafka_new_error(err, sizeof(err), "x", "sasl.password failed: bad",
                        conf);
        CHECK_STR_EQ(err, "x: sasl.password failed: bad");
        kafka_new_error(err, sizeof(err), "x", "something else", conf);
        CHECK_STR_EQ(err, "x: something else");
        rd_kafka_conf_destroy(conf);
}

int main(void)
{
        test_reply_partition();
        test_topics();
        test_conf_set();
        test_conf_check();
        test_new_error();
        return unit_done("test_kafka");
}

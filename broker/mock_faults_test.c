/*
 * mock_faults_test: the control-command parser, case by case, against a
 * real three-broker mock cluster, and the FIFO's refusal to replace a
 * file that is not a FIFO.
 */
#include "log.h"
#include "mock_faults.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct mock_faults_case {
        const char *line;
        const char *error; /* NULL: must succeed; else a substring */
};

/* Each bad case names the reason a user must see. */
static const struct mock_faults_case mock_faults_cases[] = {
    {"ping", NULL},
    {"  ping\t", NULL},
    {"broker-down 2", NULL},
    {"broker-up 2", NULL},
    {"broker-down all", NULL},
    {"broker-up all", NULL},
    {"rtt 3 250", NULL},
    {"rtt all 0", NULL},
    {"request-errors Produce NOT_LEADER_FOR_PARTITION 3", NULL},
    {"request-errors 0 -195 2", NULL},
    {"request-errors Metadata _TRANSPORT 1", NULL},
    {"clear-errors Produce", NULL},
    {"clear-errors 3", NULL},
    {"broker-request-errors 1 Produce NO_ERROR 100 2", NULL},
    {"topic-error t1 UNKNOWN_TOPIC_OR_PART", NULL},
    {"topic-error t1 0", NULL},
    {"leader t1 0 2", NULL},
    {"leader t1 1 -1", NULL},
    {"", "empty command"},
    {"   ", "empty command"},
    {"nope", "unknown command \"nope\""},
    {"PING", "unknown command"},
    {"ping 1", "usage: ping"},
    {"broker-down", "usage: broker-down ID|all"},
    {"broker-down 1 2", "usage: broker-down"},
    {"broker-down 0", "expected 1..3 or all"},
    {"broker-down 4", "expected 1..3 or all"},
    {"broker-down -1", "expected 1..3 or all"},
    {"broker-down +1", "expected 1..3 or all"},
    {"broker-down 1.0", "expected 1..3 or all"},
    {"broker-down 99999999999999999999", "expected 1..3 or all"},
    {"broker-down ALL", "expected 1..3 or all"},
    {"rtt 1 600001", "expected 0..600000 ms"},
    {"rtt 1 -1", "expected 0..600000 ms"},
    {"rtt 1", "usage: rtt ID|all MS"},
    {"request-errors produce 0 1", "api key \"produce\""},
    {"request-errors 32768 0 1", "api key \"32768\""},
    {"request-errors -1 0 1", "api key \"-1\""},
    {"request-errors 0 NOT_A_CODE 1", "error code \"NOT_A_CODE\""},
    {"request-errors 0 123456 1", "error code \"123456\""},
    {"request-errors 0 0 0", "count \"0\": expected 1..10000"},
    {"request-errors 0 0 10001", "count \"10001\""},
    {"broker-request-errors all 0 0 0 1", "one broker id, not all"},
    {"broker-request-errors 1 0 0 -5 1", "rtt \"-5\""},
    {"clear-errors", "usage: clear-errors APIKEY"},
    {"topic-error a/b 0", "not a valid topic name"},
    {"topic-error .. 0", "not a valid topic name"},
    {"leader t1 x 1", "partition \"x\""},
    {"leader t1 0 0", "expected 1..3 or -1"},
    {"leader t1 0 4", "expected 1..3 or -1"},
    {"leader t1 99 1", "mock cluster:"},
    {"ping\r", "byte 0x0d at column 5"},
    {"ping \x7f", "byte 0x7f at column 6"},
    {"ping \xc3\xa9", "byte 0xc3 at column 6"},
    {"a b c d e f g h", "too many words"},
};

int main(void)
{
        char err[512], path[] = "/tmp/mock_faults_test.XXXXXX";
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_mock_cluster_t *mcluster = NULL;
        struct mock_faults *mf;
        rd_kafka_t *rk = NULL;
        char *longline = NULL;
        int failures = 0, rc, fd;
        size_t i;

        log_init("mock_faults_test", 1, 0);
        rd_kafka_conf_set(conf, "log_level", "3", err, sizeof(err));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
        if (rk == NULL) {
                fprintf(stderr, "rd_kafka_new: %s\n", err);
                return 1;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, 3);
        if (mcluster == NULL ||
            rd_kafka_mock_topic_create(mcluster, "t1", 2, 3) != 0) {
                fprintf(stderr, "mock cluster setup failed\n");
                failures++;
                goto done;
        }
        for (i = 0;
             i < sizeof(mock_faults_cases) / sizeof(mock_faults_cases[0]);
             i++) {
                const struct mock_faults_case *c = &mock_faults_cases[i];

                err[0] = '\0';
                rc = mock_faults_exec(mcluster, 3, c->line, err, sizeof(err));
                if (c->error == NULL
                        ? rc != 0
                        : rc != -1 || strstr(err, c->error) == NULL) {
                        fprintf(stderr,
                                "FAIL \"%s\": rc %d, err \"%s\", expected "
                                "%s%s\n",
                                c->line, rc, err,
                                c->error ? "error containing " : "success",
                                c->error ? c->error : "");
                        failures++;
                }
        }

        longline = malloc(MOCK_FAULTS_LINE_MAX + 2);
        if (longline == NULL)
                goto done;
        memset(longline, 'x', MOCK_FAULTS_LINE_MAX + 1);
        longline[MOCK_FAULTS_LINE_MAX + 1] = '\0';
        if (mock_faults_exec(mcluster, 3, longline, err, sizeof(err)) != -1 ||
            strstr(err, "longer than") == NULL) {
                fprintf(stderr, "FAIL overlong line: \"%s\"\n", err);
                failures++;
        }

        /* A regular file where the FIFO should go is left alone. */
        fd = mkstemp(path);
        if (fd == -1) {
                perror("mkstemp");
                failures++;
                goto done;
        }
        close(fd);
        mf = mock_faults_new(mcluster, 3, path, err, sizeof(err));
        if (mf != NULL || strstr(err, "not a FIFO") == NULL ||
            access(path, F_OK) != 0) {
                fprintf(stderr, "FAIL regular file as FIFO: \"%s\"\n", err);
                failures++;
        }
        mock_faults_free(mf);
        unlink(path);
done:
        free(longline);
        if (mcluster != NULL)
                rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        if (failures != 0) {
                fprintf(stderr, "%d failure(s)\n", failures);
                return 1;
        }
        printf("mock_faults_test: %zu cases ok\n",
               sizeof(mock_faults_cases) / sizeof(mock_faults_cases[0]));
        return 0;
}

/*
 * mock_faults: a control channel that lets tests inject faults into the
 * running mock cluster through librdkafka's mock API.
 *
 * Commands are lines written to a FIFO.  Every line, good or bad, gets
 * exactly one result line appended to "<fifo>.out" ("ok: CMD" or
 * "error: CMD: REASON") and logged, so a caller (tds-broker-ctl) can wait
 * for the answer to its own command.
 */
#ifndef TDS_MOCK_FAULTS_H
#define TDS_MOCK_FAULTS_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include <librdkafka/rdkafka_mock.h>

/* Longest command line accepted, without its newline; below PIPE_BUF so
 * concurrent writers' lines never interleave in the FIFO. */
#define MOCK_FAULTS_LINE_MAX 512

struct mock_faults;

/*
 * mock_faults_exec: parse and run one command line (no newline) against
 * `mcluster` (borrowed), whose brokers are 1..`broker_cnt`.  Returns 0, or
 * -1 with the reason in `err`; nothing is changed on a parse error.
 */
int mock_faults_exec(rd_kafka_mock_cluster_t *mcluster, int broker_cnt,
                     const char *line, char *err, size_t errlen);

/*
 * mock_faults_new: create the FIFO `path` (an existing FIFO is reused, any
 * other file is refused), truncate "<path>.out", and serve commands from
 * a thread of its own.  `mcluster` and `path` are borrowed and must
 * outlive the object.  Returns NULL with a message in `err`.  Caller
 * frees with mock_faults_free().
 */
struct mock_faults *mock_faults_new(rd_kafka_mock_cluster_t *mcluster,
                                    int broker_cnt, const char *path, char *err,
                                    size_t errlen);

/*
 * mock_faults_failed: 1 if the thread stopped on an error it cannot
 * recover from (message in `err`), else 0.  Callable from any thread.
 */
int mock_faults_failed(struct mock_faults *mf, char *err, size_t errlen);

/* mock_faults_free: stop the thread, remove the FIFO and "<path>.out".
 * Accepts NULL. */
void mock_faults_free(struct mock_faults *mf);

/* mock_faults_commands: the command summary for usage texts (static). */
const char *mock_faults_commands(void);

#endif

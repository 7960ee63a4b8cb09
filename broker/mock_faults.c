/*
 * mock_faults: line commands from a FIFO, turned into librdkafka mock API
 * calls while the cluster runs.
 *
 * The mock API calls are safe from any thread: most are synchronous
 * requests to the mock cluster's own thread, the error stacks take the
 * cluster lock.  So the reader thread calls them directly, and a command
 * has taken effect by the time its result line is written.
 *
 * topic-error and leader on a topic the mock does not know create it
 * (librdkafka's own lookup does); that is the mock's auto-creation, not
 * ours, so it is documented rather than second-guessed here.
 *
 * Parsing is strict because the FIFO is an input like any other: a line
 * longer than MOCK_FAULTS_LINE_MAX, a control byte, a wrong argument
 * count or a number out of range is rejected with a reason and changes
 * nothing.
 */
#include "mock_faults.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MOCK_FAULTS_MAXARGS    6
#define MOCK_FAULTS_MAXCOUNT   10000  /* request-errors COUNT */
#define MOCK_FAULTS_MAXRTT_MS  600000 /* ten minutes is "never" for tests */
#define MOCK_FAULTS_TOPIC_MAX  249    /* Kafka's limit on topic names */
#define MOCK_FAULTS_RESULT_MAX (MOCK_FAULTS_LINE_MAX + 256)

struct mock_faults_ctx {
        rd_kafka_mock_cluster_t *mcluster;
        int broker_cnt;
};

struct mock_faults_cmd {
        const char *name;
        int argc; /* arguments after the name, exactly */
        const char *args;
        int (*run)(const struct mock_faults_ctx *ctx, char **argv, char *err,
                   size_t errlen);
};

struct mock_faults {
        rd_kafka_mock_cluster_t *mcluster;
        int broker_cnt;
        char *path;
        char *outpath;
        int fifo_fd;
        int out_fd;
        int wake[2]; /* self-pipe: a byte on wake[1] stops the thread */
        pthread_t thread;
        int started;
        pthread_mutex_t lock; /* guards failed and failmsg */
        int failed;
        char failmsg[256];
        /* The line being assembled; `discard` drops the rest of one that
         * was too long, up to its newline. */
        char line[MOCK_FAULTS_LINE_MAX + 1];
        size_t len;
        int discard;
        size_t nul_col; /* 1-based column of the first NUL byte, or 0 */
        int have_fifo;  /* path is our FIFO: remove it at the end */
};

/* Kafka protocol ApiKeys by name, for the ones tests are likely to hit. */
static const struct {
        const char *name;
        int16_t key;
} mock_faults_apikeys[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

/* Whole-string decimal in [min, max]; no sign games, no trailing bytes. */
static int mock_faults_parse_long(const char *s, long min, long max, long *out)
{
        char *end;
        long v;

        if (*s == '\0' || *s == '+' || (*s == '-' && s[1] == '\0'))
                return -1;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

static int mock_faults_broker(const struct mock_faults_ctx *ctx, const char *s,
                              int32_t *id, char *err, size_t errlen)
{
        long v;

        if (strcmp(s, "all") == 0) {
                *id = -1;
                return 0;
        }
        if (mock_faults_parse_long(s, 1, ctx->broker_cnt, &v) == -1) {
                snprintf(err, errlen, "broker \"%s\": expected 1..%d or all", s,
                         ctx->broker_cnt);
                return -1;
        }
        *id = (int32_t)v;
        return 0;
}

static int mock_faults_apikey(const char *s, int16_t *key, char *err,
                              size_t errlen)
{
        size_t i;
        long v;

        for (i = 0;
             i < sizeof(mock_faults_apikeys) / sizeof(mock_faults_apikeys[0]);
             i++) {
                if (strcmp(s, mock_faults_apikeys[i].name) == 0) {
                        *key = mock_faults_apikeys[i].key;
                        return 0;
                }
        }
        if (mock_faults_parse_long(s, 0, INT16_MAX, &v) == -1) {
                snprintf(err, errlen,
                         "api key \"%s\": expected a number 0..%d or a name "
                         "such as Produce, Fetch, Metadata",
                         s, INT16_MAX);
                return -1;
        }
        *key = (int16_t)v;
        return 0;
}

/* An error code by librdkafka name (NOT_LEADER_FOR_PARTITION, _TRANSPORT)
 * or number; only codes librdkafka knows are accepted. */
static int mock_faults_errcode(const char *s, rd_kafka_resp_err_t *code,
                               char *err, size_t errlen)
{
        const struct rd_kafka_err_desc *descs;
        size_t cnt, i;
        long v;
        int numeric;

        numeric = mock_faults_parse_long(s, INT_MIN, INT_MAX, &v) == 0;
        rd_kafka_get_err_descs(&descs, &cnt);
        for (i = 0; i < cnt; i++) {
                if (descs[i].name == NULL)
                        continue;
                if (numeric ? (long)descs[i].code == v
                            : strcmp(descs[i].name, s) == 0) {
                        *code = descs[i].code;
                        return 0;
                }
        }
        snprintf(err, errlen,
                 "error code \"%s\": not a librdkafka error name or number", s);
        return -1;
}

static int mock_faults_topic(const char *s, char *err, size_t errlen)
{
        size_t i, len = strlen(s);

        for (i = 0; i < len; i++) {
                char ch = s[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                      ch == '-'))
                        break;
        }
        if (len == 0 || len > MOCK_FAULTS_TOPIC_MAX || i != len ||
            strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
                snprintf(err, errlen, "topic \"%s\": not a valid topic name",
                         s);
                return -1;
        }
        return 0;
}

static int mock_faults_mock_err(rd_kafka_resp_err_t rc, char *err,
                                size_t errlen)
{
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR)
                return 0;
        snprintf(err, errlen, "mock cluster: %s", rd_kafka_err2str(rc));
        return -1;
}

static int mock_faults_ping(const struct mock_faults_ctx *ctx, char **argv,
                            char *err, size_t errlen)
{
        (void)ctx;
        (void)argv;
        (void)err;
        (void)errlen;
        return 0;
}

static int mock_faults_broker_down(const struct mock_faults_ctx *ctx,
                                   char **argv, char *err, size_t errlen)
{
        int32_t id;

        if (mock_faults_broker(ctx, argv[0], &id, err, errlen) == -1)
                return -1;
        return mock_faults_mock_err(
            rd_kafka_mock_broker_set_down(ctx->mcluster, id), err, errlen);
}

static int mock_faults_broker_up(const struct mock_faults_ctx *ctx, char **argv,
                                 char *err, size_t errlen)
{
        int32_t id;

        if (mock_faults_broker(ctx, argv[0], &id, err, errlen) == -1)
                return -1;
        return mock_faults_mock_err(
            rd_kafka_mock_broker_set_up(ctx->mcluster, id), err, errlen);
}

static int mock_faults_rtt(const struct mock_faults_ctx *ctx, char **argv,
                           char *err, size_t errlen)
{
        int32_t id;
        long ms;

        if (mock_faults_broker(ctx, argv[0], &id, err, errlen) == -1)
                return -1;
        if (mock_faults_parse_long(argv[1], 0, MOCK_FAULTS_MAXRTT_MS, &ms) ==
            -1) {
                snprintf(err, errlen, "rtt \"%s\": expected 0..%d ms", argv[1],
                         MOCK_FAULTS_MAXRTT_MS);
                return -1;
        }
        return mock_faults_mock_err(
            rd_kafka_mock_broker_set_rtt(ctx->mcluster, id, (int)ms), err,
            errlen);
}

static int mock_faults_count(const char *s, long *cnt, char *err, size_t errlen)
{
        if (mock_faults_parse_long(s, 1, MOCK_FAULTS_MAXCOUNT, cnt) == -1) {
                snprintf(err, errlen, "count \"%s\": expected 1..%d", s,
                         MOCK_FAULTS_MAXCOUNT);
                return -1;
        }
        return 0;
}

static int mock_faults_request_errors(const struct mock_faults_ctx *ctx,
                                      char **argv, char *err, size_t errlen)
{
        rd_kafka_resp_err_t *codes = NULL;
        rd_kafka_resp_err_t code;
        int16_t key;
        long cnt, i;
        int ret = -1;

        if (mock_faults_apikey(argv[0], &key, err, errlen) == -1 ||
            mock_faults_errcode(argv[1], &code, err, errlen) == -1 ||
            mock_faults_count(argv[2], &cnt, err, errlen) == -1)
                goto done;
        codes = calloc((size_t)cnt, sizeof(*codes));
        if (codes == NULL) {
                snprintf(err, errlen, "%s", strerror(errno));
                goto done;
        }
        for (i = 0; i < cnt; i++)
                codes[i] = code;
        rd_kafka_mock_push_request_errors_array(ctx->mcluster, key, (size_t)cnt,
                                                codes);
        ret = 0;
done:
        free(codes);
        return ret;
}

static int mock_faults_broker_request_errors(const struct mock_faults_ctx *ctx,
                                             char **argv, char *err,
                                             size_t errlen)
{
        rd_kafka_resp_err_t code, rc;
        int32_t id;
        int16_t key;
        long rtt, cnt, i;

        if (mock_faults_broker(ctx, argv[0], &id, err, errlen) == -1 ||
            mock_faults_apikey(argv[1], &key, err, errlen) == -1 ||
            mock_faults_errcode(argv[2], &code, err, errlen) == -1)
                return -1;
        if (id == -1) {
                snprintf(err, errlen, "broker: one broker id, not all");
                return -1;
        }
        if (mock_faults_parse_long(argv[3], 0, MOCK_FAULTS_MAXRTT_MS, &rtt) ==
            -1) {
                snprintf(err, errlen, "rtt \"%s\": expected 0..%d ms", argv[3],
                         MOCK_FAULTS_MAXRTT_MS);
                return -1;
        }
        if (mock_faults_count(argv[4], &cnt, err, errlen) == -1)
                return -1;
        /* The API is variadic only; one tuple per call builds the stack. */
        for (i = 0; i < cnt; i++) {
                rc = rd_kafka_mock_broker_push_request_error_rtts(
                    ctx->mcluster, id, key, 1, code, (int)rtt);
                if (mock_faults_mock_err(rc, err, errlen) == -1)
                        return -1;
        }
        return 0;
}

static int mock_faults_clear_errors(const struct mock_faults_ctx *ctx,
                                    char **argv, char *err, size_t errlen)
{
        int16_t key;

        if (mock_faults_apikey(argv[0], &key, err, errlen) == -1)
                return -1;
        rd_kafka_mock_clear_request_errors(ctx->mcluster, key);
        return 0;
}

static int mock_faults_topic_error(const struct mock_faults_ctx *ctx,
                                   char **argv, char *err, size_t errlen)
{
        rd_kafka_resp_err_t code;

        if (mock_faults_topic(argv[0], err, errlen) == -1 ||
            mock_faults_errcode(argv[1], &code, err, errlen) == -1)
                return -1;
        rd_kafka_mock_topic_set_error(ctx->mcluster, argv[0], code);
        return 0;
}

static int mock_faults_leader(const struct mock_faults_ctx *ctx, char **argv,
                              char *err, size_t errlen)
{
        long part, id;

        if (mock_faults_topic(argv[0], err, errlen) == -1)
                return -1;
        if (mock_faults_parse_long(argv[1], 0, INT32_MAX, &part) == -1) {
                snprintf(err, errlen, "partition \"%s\": expected 0 or more",
                         argv[1]);
                return -1;
        }
        /* -1 leaves the partition without a leader, a fault of its own. */
        if (mock_faults_parse_long(argv[2], -1, ctx->broker_cnt, &id) == -1 ||
            id == 0) {
                snprintf(err, errlen, "leader \"%s\": expected 1..%d or -1",
                         argv[2], ctx->broker_cnt);
                return -1;
        }
        return mock_faults_mock_err(
            rd_kafka_mock_partition_set_leader(ctx->mcluster, argv[0],
                                               (int32_t)part, (int32_t)id),
            err, errlen);
}

static const struct mock_faults_cmd mock_faults_cmds[] = {
    {"ping", 0, "", mock_faults_ping},
    {"broker-down", 1, "ID|all", mock_faults_broker_down},
    {"broker-up", 1, "ID|all", mock_faults_broker_up},
    {"rtt", 2, "ID|all MS", mock_faults_rtt},
    {"request-errors", 3, "APIKEY ERR COUNT", mock_faults_request_errors},
    {"broker-request-errors", 5, "ID APIKEY ERR RTT_MS COUNT",
     mock_faults_broker_request_errors},
    {"clear-errors", 1, "APIKEY", mock_faults_clear_errors},
    {"topic-error", 2, "TOPIC ERR", mock_faults_topic_error},
    {"leader", 3, "TOPIC PARTITION ID|-1", mock_faults_leader},
};

const char *mock_faults_commands(void)
{
        return "  ping                              answer ok\n"
               "  broker-down ID|all                refuse and drop "
               "connections\n"
               "  broker-up ID|all                  accept connections "
               "again\n"
               "  rtt ID|all MS                     delay every response\n"
               "  request-errors APIKEY ERR COUNT   fail the next COUNT "
               "requests\n"
               "  broker-request-errors ID APIKEY ERR RTT_MS COUNT\n"
               "                                    same, on one broker, "
               "with a delay\n"
               "  clear-errors APIKEY               drop pending "
               "request-errors\n"
               "  topic-error TOPIC ERR             Metadata error for "
               "TOPIC (ERR 0 clears)\n"
               "  leader TOPIC PARTITION ID|-1      move leadership (-1: "
               "none)\n"
               "  APIKEY: number or Produce, Fetch, Metadata, ...; ERR: "
               "librdkafka\n"
               "  name (NOT_LEADER_FOR_PARTITION, _TRANSPORT) or number; "
               "an unknown\n"
               "  TOPIC is created by the mock, as a client's Metadata "
               "request would.\n";
}

int mock_faults_exec(rd_kafka_mock_cluster_t *mcluster, int broker_cnt,
                     const char *line, char *err, size_t errlen)
{
        char buf[MOCK_FAULTS_LINE_MAX + 1];
        char *argv[MOCK_FAULTS_MAXARGS + 1];
        struct mock_faults_ctx ctx = {mcluster, broker_cnt};
        const struct mock_faults_cmd *cmd = NULL;
        char *p, *save = NULL;
        size_t i, len;
        int argc = 0;

        len = strlen(line);
        if (len > MOCK_FAULTS_LINE_MAX) {
                snprintf(err, errlen, "line longer than %d bytes",
                         MOCK_FAULTS_LINE_MAX);
                return -1;
        }
        for (i = 0; i < len; i++) {
                unsigned char ch = (unsigned char)line[i];

                if ((ch < 0x20 && ch != '\t') || ch >= 0x7f) {
                        snprintf(err, errlen,
                                 "byte 0x%02x at column %zu: commands are "
                                 "printable ASCII",
                                 ch, i + 1);
                        return -1;
                }
        }
        memcpy(buf, line, len + 1);
        for (p = strtok_r(buf, " \t", &save); p != NULL;
             p = strtok_r(NULL, " \t", &save)) {
                if (argc == MOCK_FAULTS_MAXARGS + 1) {
                        snprintf(err, errlen, "too many words");
                        return -1;
                }
                argv[argc++] = p;
        }
        if (argc == 0) {
                snprintf(err, errlen, "empty command");
                return -1;
        }
        for (i = 0; i < sizeof(mock_faults_cmds) / sizeof(mock_faults_cmds[0]);
             i++) {
                if (strcmp(argv[0], mock_faults_cmds[i].name) == 0) {
                        cmd = &mock_faults_cmds[i];
                        break;
                }
        }
        if (cmd == NULL) {
                snprintf(err, errlen, "unknown command \"%.64s\"", argv[0]);
                return -1;
        }
        if (argc - 1 != cmd->argc) {
                snprintf(err, errlen, "usage: %s%s%s", cmd->name,
                         cmd->argc > 0 ? " " : "", cmd->args);
                return -1;
        }
        return cmd->run(&ctx, argv + 1, err, errlen);
}

static void mock_faults_fail(struct mock_faults *mf, const char *what)
{
        pthread_mutex_lock(&mf->lock);
        mf->failed = 1;
        snprintf(mf->failmsg, sizeof(mf->failmsg), "%s: %s", what,
                 strerror(errno));
        pthread_mutex_unlock(&mf->lock);
}

/* Run one complete line (or report the overlong one just dropped), then
 * log the result and append it to the .out file in one write(). */
static int mock_faults_answer(struct mock_faults *mf)
{
        char result[MOCK_FAULTS_RESULT_MAX];
        char err[256];
        const char *shown = mf->line;
        int too_long = mf->discard;
        size_t i;
        int n, rc;

        if (too_long) {
                snprintf(err, sizeof(err), "line longer than %d bytes",
                         MOCK_FAULTS_LINE_MAX);
                shown = "(overlong line)";
                rc = -1;
        } else if (mf->nul_col != 0) {
                /* A C string cannot carry the NUL to exec; say it here. */
                snprintf(err, sizeof(err),
                         "byte 0x00 at column %zu: commands are printable "
                         "ASCII",
                         mf->nul_col);
                rc = -1;
        } else {
                err[0] = '\0';
                rc = mock_faults_exec(mf->mcluster, mf->broker_cnt, mf->line,
                                      err, sizeof(err));
        }
        /* Echo the command, but never a control byte into logs. */
        for (i = 0; !too_long && mf->line[i] != '\0'; i++) {
                unsigned char ch = (unsigned char)mf->line[i];

                if ((ch < 0x20 && ch != '\t') || ch >= 0x7f)
                        mf->line[i] = '?';
        }
        if (rc == 0) {
                log_info("control: %s: ok", shown);
                n = snprintf(result, sizeof(result), "ok: %s\n", shown);
        } else {
                log_warnx("control: %s: %s", shown, err);
                n = snprintf(result, sizeof(result), "error: %s: %s\n", shown,
                             err);
        }
        if (n < 0 || (size_t)n >= sizeof(result)) {
                /* Cannot happen with the bounds above; keep the one line
                 * per command promise anyway. */
                n = snprintf(result, sizeof(result), "error: (too long)\n");
        }
        if (write(mf->out_fd, result, (size_t)n) != n) {
                mock_faults_fail(mf, "mock_faults: write result");
                return -1;
        }
        return 0;
}

/* Split what was read into lines, bounded by MOCK_FAULTS_LINE_MAX. */
static int mock_faults_feed(struct mock_faults *mf, const char *data, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++) {
                if (data[i] == '\n') {
                        mf->line[mf->len] = '\0';
                        if (mock_faults_answer(mf) == -1)
                                return -1;
                        mf->len = 0;
                        mf->discard = 0;
                        mf->nul_col = 0;
                } else if (mf->discard) {
                        continue;
                } else if (mf->len == MOCK_FAULTS_LINE_MAX) {
                        mf->discard = 1;
                } else if (data[i] == '\0') {
                        /* Keep the line a C string; answer reports it. */
                        if (mf->nul_col == 0)
                                mf->nul_col = mf->len + 1;
                        mf->line[mf->len++] = '?';
                } else {
                        mf->line[mf->len++] = data[i];
                }
        }
        return 0;
}

static void *mock_faults_run(void *arg)
{
        struct mock_faults *mf = arg;
        struct pollfd pfds[2];
        char buf[4096];
        ssize_t n;

        for (;;) {
                pfds[0].fd = mf->wake[0];
                pfds[0].events = POLLIN;
                pfds[0].revents = 0;
                pfds[1].fd = mf->fifo_fd;
                pfds[1].events = POLLIN;
                pfds[1].revents = 0;
                if (poll(pfds, 2, -1) == -1) {
                        if (errno == EINTR)
                                continue;
                        mock_faults_fail(mf, "mock_faults: poll");
                        break;
                }
                if (pfds[0].revents != 0)
                        break;
                if (pfds[1].revents == 0)
                        continue;
                n = read(mf->fifo_fd, buf, sizeof(buf));
                if (n == -1) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        mock_faults_fail(mf, "mock_faults: read");
                        break;
                }
                /* n == 0 cannot happen: we hold a write end ourselves. */
                if (mock_faults_feed(mf, buf, (size_t)n) == -1)
                        break;
        }
        return NULL;
}

static char *mock_faults_strcat(const char *a, const char *b)
{
        size_t la = strlen(a), lb = strlen(b);
        char *s = malloc(la + lb + 1);

        if (s == NULL)
                return NULL;
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
        return s;
}

struct mock_faults *mock_faults_new(rd_kafka_mock_cluster_t *mcluster,
                                    int broker_cnt, const char *path, char *err,
                                    size_t errlen)
{
        struct mock_faults *mf = NULL, *ret = NULL;
        struct stat st;
        int rc;

        mf = calloc(1, sizeof(*mf));
        if (mf == NULL) {
                snprintf(err, errlen, "mock_faults: %s", strerror(errno));
                goto done;
        }
        mf->mcluster = mcluster;
        mf->broker_cnt = broker_cnt;
        mf->fifo_fd = mf->out_fd = -1;
        mf->wake[0] = mf->wake[1] = -1;
        pthread_mutex_init(&mf->lock, NULL);
        mf->path = strdup(path);
        mf->outpath = mock_faults_strcat(path, ".out");
        if (mf->path == NULL || mf->outpath == NULL) {
                snprintf(err, errlen, "mock_faults: %s", strerror(errno));
                goto done;
        }
        if (mkfifo(path, 0600) == -1) {
                if (errno != EEXIST) {
                        snprintf(err, errlen, "mkfifo %s: %s", path,
                                 strerror(errno));
                        goto done;
                }
                /* A FIFO left by a killed run is reused; a regular file
                 * of that name is someone else's and is not touched. */
                if (lstat(path, &st) == -1 || !S_ISFIFO(st.st_mode)) {
                        snprintf(err, errlen, "%s exists and is not a FIFO",
                                 path);
                        goto done;
                }
        }
        mf->have_fifo = 1;
        /* O_RDWR (Linux): open does not wait for a writer, and since we
         * hold a write end ourselves a writer closing is no EOF. */
        mf->fifo_fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (mf->fifo_fd == -1) {
                snprintf(err, errlen, "open %s: %s", path, strerror(errno));
                goto done;
        }
        mf->out_fd =
            open(mf->outpath,
                 O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        if (mf->out_fd == -1) {
                snprintf(err, errlen, "open %s: %s", mf->outpath,
                         strerror(errno));
                goto done;
        }
        if (pipe2(mf->wake, O_CLOEXEC | O_NONBLOCK) == -1) {
                snprintf(err, errlen, "mock_faults: pipe: %s", strerror(errno));
                goto done;
        }
        rc = pthread_create(&mf->thread, NULL, mock_faults_run, mf);
        if (rc != 0) {
                snprintf(err, errlen, "mock_faults: thread: %s", strerror(rc));
                goto done;
        }
        mf->started = 1;
        ret = mf;
        mf = NULL;
done:
        mock_faults_free(mf);
        return ret;
}

int mock_faults_failed(struct mock_faults *mf, char *err, size_t errlen)
{
        int failed;

        pthread_mutex_lock(&mf->lock);
        failed = mf->failed;
        if (failed)
                snprintf(err, errlen, "%s", mf->failmsg);
        pthread_mutex_unlock(&mf->lock);
        return failed;
}

void mock_faults_free(struct mock_faults *mf)
{
        char b = 'q';

        if (mf == NULL)
                return;
        if (mf->started) {
                if (write(mf->wake[1], &b, 1) != 1)
                        log_warn("mock_faults: wake");
                pthread_join(mf->thread, NULL);
        }
        if (mf->fifo_fd != -1)
                close(mf->fifo_fd);
        if (mf->have_fifo && unlink(mf->path) == -1 && errno != ENOENT)
                log_warn("unlink %s", mf->path);
        if (mf->out_fd != -1) {
                close(mf->out_fd);
                if (unlink(mf->outpath) == -1 && errno != ENOENT)
                        log_warn("unlink %s", mf->outpath);
        }
        if (mf->wake[0] != -1)
                close(mf->wake[0]);
        if (mf->wake[1] != -1)
                close(mf->wake[1]);
        pthread_mutex_destroy(&mf->lock);
        free(mf->path);
        free(mf->outpath);
        free(mf);
}

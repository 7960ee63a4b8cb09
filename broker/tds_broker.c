/*
 * tds-broker: librdkafka's mock Kafka cluster in a process of its own, so
 * the local stack and the tests have a broker any Kafka client can reach
 * on loopback (no Kafka broker is packaged for Debian).
 *
 * FOR LOCAL USE ONLY.  Facts measured with librdkafka 2.0.2's mock:
 *  - each partition keeps at most 5 MiB or 100,000 message sets and
 *    silently drops older ones, so a consumer that falls far behind loses
 *    messages without an error;
 *  - nothing survives a restart: topics, messages and committed offsets
 *    live in memory only;
 *  - transaction markers are not faithful, so read_committed behaviour
 *    proves nothing here;
 *  - its sockets leave Nagle's algorithm on: a client with more than
 *    two requests in flight (a producer flushing to several partitions)
 *    got the later responses only after the client's delayed ACK, 40 ms
 *    later.  Kafka sets TCP_NODELAY; so do we, on the mock brokers'
 *    listening sockets, whose accepted connections inherit it on Linux
 *    (tds_broker_nodelay()).
 *
 * The mock brokers always bind 127.0.0.1 on ephemeral ports; -p adds a
 * forwarder (tcp_forward.c) for a fixed bootstrap port, to broker 1 or,
 * while that one is down, the next that accepts.  -F opens a
 * fault-injection FIFO (mock_faults.c).
 */
#include "log.h"
#include "mock_faults.h"
#include "tcp_forward.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>

#include <librdkafka/rdkafka_mock.h>

#define TDS_BROKER_MAX_BROKERS    32
#define TDS_BROKER_MAX_PARTITIONS 1024
/* Kafka's topic name limit (249) minus the longest suffix we append. */
#define TDS_BROKER_PREFIX_MAX (249 - (int)sizeof(".dead-letter") + 1)
/* Replicas beyond 3 add nothing a test could observe. */
#define TDS_BROKER_MAX_REPLICAS 3
/* How often the main loop looks at the stop flag and the threads. */
#define TDS_BROKER_TICK_MS 200

static const char *const tds_broker_suffixes[] = {".requests", ".replies",
                                                  ".dead-letter"};

struct tds_broker_opts {
        int port;
        int brokers;
        int partitions;
        const char *prefix;
        const char *addr_file;
        const char *fault_fifo;
        int verbose;
};

static volatile sig_atomic_t tds_broker_quit;

static void tds_broker_on_signal(int sig)
{
        (void)sig;
        tds_broker_quit = 1;
}

#define TDS_BROKER_SYNOPSIS                                                    \
        "usage: tds-broker [-hv] [-b brokers] [-F fifo] [-f file] "            \
        "[-P partitions]\n"                                                    \
        "                  [-p port] [-t prefix]\n"

static void tds_broker_usage(void)
{
        printf(TDS_BROKER_SYNOPSIS
               "\n"
               "Runs librdkafka's mock Kafka cluster on 127.0.0.1 in the "
               "foreground.\n"
               "\n"
               "  -b N        number of brokers, 1..%d (default 1)\n"
               "  -P N        partitions per topic, 1..%d (default 4)\n"
               "  -p PORT     fixed bootstrap port on 127.0.0.1, served by "
               "a forwarder to\n"
               "              broker 1, or the next one up (default 0: the "
               "brokers' own\n"
               "              ephemeral ports)\n"
               "  -t PREFIX   topic prefix (default tds): PREFIX.requests, "
               "PREFIX.replies,\n"
               "              PREFIX.dead-letter; [A-Za-z0-9._-], at most "
               "%d bytes\n"
               "  -f FILE     when ready, write the bootstrap address to "
               "FILE (atomically);\n"
               "              removed at exit\n"
               "  -F FIFO     read fault-injection commands from FIFO "
               "(created if missing);\n"
               "              one result line per command goes to "
               "FIFO.out; see tds-broker-ctl\n"
               "  -v          verbose: librdkafka mock debug logging\n"
               "  -h, --help  print this text\n"
               "\n"
               "When ready it prints one line \"bootstrap=HOST:PORT[,...]\" "
               "on stdout.\n"
               "SIGINT or SIGTERM stops it (exit 0).\n"
               "\n"
               "Fault commands (-F):\n"
               "%s"
               "\n"
               "FOR LOCAL USE ONLY, this is not Kafka: each partition keeps "
               "at most 5 MiB\n"
               "or 100,000 message sets and silently drops older ones; "
               "nothing survives\n"
               "a restart; transaction markers are not faithful.\n",
               TDS_BROKER_MAX_BROKERS, TDS_BROKER_MAX_PARTITIONS,
               TDS_BROKER_PREFIX_MAX, mock_faults_commands());
}

static int tds_broker_parse_int(const char *opt, const char *s, long min,
                                long max, int *out)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (*s == '\0' || *s == '+' || *s == '-' || errno != 0 ||
            *end != '\0' || v < min || v > max) {
                fprintf(stderr, "tds-broker: %s \"%s\": expected %ld..%ld\n",
                        opt, s, min, max);
                return -1;
        }
        *out = (int)v;
        return 0;
}

static int tds_broker_check_prefix(const char *s)
{
        size_t i, len = strlen(s);

        for (i = 0; i < len; i++) {
                char ch = s[i];

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' ||
                      ch == '-'))
                        break;
        }
        if (len == 0 || len > TDS_BROKER_PREFIX_MAX || i != len) {
                fprintf(stderr,
                        "tds-broker: -t \"%s\": 1..%d bytes of "
                        "[A-Za-z0-9._-]\n",
                        s, TDS_BROKER_PREFIX_MAX);
                return -1;
        }
        return 0;
}

/* 0 to run, 1 after --help, -1 on a usage error (message printed). */
static int tds_broker_parse_args(int argc, char **argv,
                                 struct tds_broker_opts *o)
{
        static const struct option longopts[] = {
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int ch;

        o->port = 0;
        o->brokers = 1;
        o->partitions = 4;
        o->prefix = "tds";
        o->addr_file = NULL;
        o->fault_fifo = NULL;
        o->verbose = 0;
        while ((ch = getopt_long(argc, argv, "b:F:f:hP:p:t:v", longopts,
                                 NULL)) != -1) {
                switch (ch) {
                case 'b':
                        if (tds_broker_parse_int("-b", optarg, 1,
                                                 TDS_BROKER_MAX_BROKERS,
                                                 &o->brokers) == -1)
                                return -1;
                        break;
                case 'F':
                        if (*optarg == '\0') {
                                fprintf(stderr, "tds-broker: -F: empty "
                                                "path\n");
                                return -1;
                        }
                        o->fault_fifo = optarg;
                        break;
                case 'f':
                        if (*optarg == '\0') {
                                fprintf(stderr, "tds-broker: -f: empty "
                                                "path\n");
                                return -1;
                        }
                        o->addr_file = optarg;
                        break;
                case 'h':
                        tds_broker_usage();
                        return 1;
                case 'P':
                        if (tds_broker_parse_int("-P", optarg, 1,
                                                 TDS_BROKER_MAX_PARTITIONS,
                                                 &o->partitions) == -1)
                                return -1;
                        break;
                case 'p':
                        if (tds_broker_parse_int("-p", optarg, 0, 65535,
                                                 &o->port) == -1)
                                return -1;
                        break;
                case 't':
                        if (tds_broker_check_prefix(optarg) == -1)
                                return -1;
                        o->prefix = optarg;
                        break;
                case 'v':
                        o->verbose++;
                        break;
                default:
                        /* getopt has named the bad option already. */
                        fprintf(stderr, TDS_BROKER_SYNOPSIS);
                        return -1;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "tds-broker: unexpected argument \"%s\"\n",
                        argv[optind]);
                fprintf(stderr, TDS_BROKER_SYNOPSIS);
                return -1;
        }
        if (o->addr_file != NULL && o->fault_fifo != NULL &&
            strcmp(o->addr_file, o->fault_fifo) == 0) {
                fprintf(stderr, "tds-broker: -f and -F name the same file\n");
                return -1;
        }
        return 0;
}

/* librdkafka's syslog levels onto ours; called from its threads. */
static void tds_broker_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                              const char *buf)
{
        (void)rk;
        if (level <= 4)
                log_warnx("rdkafka %s: %s", fac, buf);
        else if (level <= 6)
                log_info("rdkafka %s: %s", fac, buf);
        else
                log_debug("rdkafka %s: %s", fac, buf);
}

/* The handle the mock cluster hangs off; it never produces anything. */
static rd_kafka_t *tds_broker_handle_new(int verbose, char *err, size_t errlen)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk = NULL;

        rd_kafka_conf_set_log_cb(conf, tds_broker_log_cb);
        /* Level 4 (warning) hides the notice that this handle has no
         * bootstrap.servers, which is true and by design. */
        if (rd_kafka_conf_set(conf, "log_level", verbose ? "7" : "4", err,
                              errlen) != RD_KAFKA_CONF_OK)
                goto done;
        if (verbose && rd_kafka_conf_set(conf, "debug", "mock", err, errlen) !=
                           RD_KAFKA_CONF_OK)
                goto done;
        if (rd_kafka_conf_set(conf, "client.id", "tds-broker", err, errlen) !=
            RD_KAFKA_CONF_OK)
                goto done;
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, errlen);
        if (rk != NULL)
                conf = NULL; /* rd_kafka_new() took it */
done:
        if (conf != NULL)
                rd_kafka_conf_destroy(conf);
        return rk;
}

static int tds_broker_topics_create(rd_kafka_mock_cluster_t *mcluster,
                                    const struct tds_broker_opts *o, char *err,
                                    size_t errlen)
{
        char name[256];
        rd_kafka_resp_err_t rc;
        int replicas = o->brokers < TDS_BROKER_MAX_REPLICAS
                           ? o->brokers
                           : TDS_BROKER_MAX_REPLICAS;
        size_t i;

        for (i = 0;
             i < sizeof(tds_broker_suffixes) / sizeof(tds_broker_suffixes[0]);
             i++) {
                snprintf(name, sizeof(name), "%s%s", o->prefix,
                         tds_broker_suffixes[i]);
                rc = rd_kafka_mock_topic_create(mcluster, name, o->partitions,
                                                replicas);
                if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
                        snprintf(err, errlen, "create topic %s: %s", name,
                                 rd_kafka_err2str(rc));
                        return -1;
                }
        }
        return 0;
}

/*
 * Write "addr\n" to a temporary file next to `path`, synced; its name goes
 * to *tmpp (caller frees, and unlinks it if never renamed).  Done before
 * announcing readiness, so that only a rename() that cannot reasonably
 * fail is left for after: a reader polling for `path` never sees it half
 * written, and -f trouble is found before stdout says "ready".
 */
static int tds_broker_addr_prepare(const char *path, const char *addr,
                                   char **tmpp, char *err, size_t errlen)
{
        char *tmp = NULL;
        FILE *f = NULL;
        int rc, ret = -1;

        if (asprintf(&tmp, "%s.tmp.%ld", path, (long)getpid()) == -1) {
                tmp = NULL;
                snprintf(err, errlen, "address file %s: %s", path,
                         strerror(errno));
                goto done;
        }
        f = fopen(tmp, "w");
        if (f == NULL) {
                snprintf(err, errlen, "address file %s: %s", tmp,
                         strerror(errno));
                goto done;
        }
        if (fprintf(f, "%s\n", addr) < 0 || fflush(f) == EOF ||
            fsync(fileno(f)) == -1) {
                snprintf(err, errlen, "address file %s: %s", tmp,
                         strerror(errno));
                goto done;
        }
        rc = fclose(f);
        f = NULL;
        if (rc == EOF) {
                snprintf(err, errlen, "address file %s: %s", tmp,
                         strerror(errno));
                goto done;
        }
        ret = 0;
done:
        if (f != NULL)
                fclose(f);
        if (ret == -1 && tmp != NULL) {
                unlink(tmp);
                free(tmp);
                tmp = NULL;
        }
        *tmpp = tmp;
        return ret;
}

static int tds_broker_signals(sigset_t *stopset)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = tds_broker_on_signal;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGINT, &sa, NULL) == -1 ||
            sigaction(SIGTERM, &sa, NULL) == -1)
                return -1;
        /* A closed stdout or socket must be an error return, not death. */
        sa.sa_handler = SIG_IGN;
        if (sigaction(SIGPIPE, &sa, NULL) == -1)
                return -1;
        sigemptyset(stopset);
        sigaddset(stopset, SIGINT);
        sigaddset(stopset, SIGTERM);
        return 0;
}

/* Is `port` one of the "127.0.0.1:PORT,..." of `bootstraps`? */
static int tds_broker_is_broker_port(const char *bootstraps, int port)
{
        for (const char *p = bootstraps; p != NULL && *p != '\0';) {
                const char *colon = strchr(p, ':');

                if (colon == NULL)
                        break;
                if (atoi(colon + 1) == port)
                        return 1;
                p = strchr(colon, ',');
                if (p != NULL)
                        p++;
        }
        return 0;
}

/*
 * Set TCP_NODELAY on the listening sockets of the mock brokers (the
 * ports of `bootstraps`), found among this process's descriptors: the
 * mock API has no socket option of its own, and the connections it
 * accepts inherit the option from the listener.  Returns how many
 * listeners were set.
 */
static int tds_broker_nodelay(const char *bootstraps)
{
        DIR *dir = opendir("/proc/self/fd");
        struct dirent *de;
        int n = 0;

        if (dir == NULL)
                return 0;
        while ((de = readdir(dir)) != NULL) {
                struct sockaddr_in sin;
                socklen_t len = sizeof(int);
                int fd = atoi(de->d_name), listening = 0, one = 1;

                if (de->d_name[0] < '0' || de->d_name[0] > '9' ||
                    fd == dirfd(dir) ||
                    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
                               &len) == -1 ||
                    !listening)
                        continue;
                len = sizeof(sin);
                if (getsockname(fd, (struct sockaddr *)&sin, &len) == -1 ||
                    sin.sin_family != AF_INET ||
                    !tds_broker_is_broker_port(bootstraps, ntohs(sin.sin_port)))
                        continue;
                if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
                               sizeof(one)) == 0)
                        n++;
        }
        closedir(dir);
        return n;
}

int main(int argc, char **argv)
{
        struct tds_broker_opts o;
        rd_kafka_t *rk = NULL;
        rd_kafka_mock_cluster_t *mcluster = NULL;
        struct tcp_forward *fwd = NULL;
        struct mock_faults *faults = NULL;
        char *advertised = NULL, *addr_tmp = NULL;
        const char *bootstraps;
        char err[512];
        sigset_t stopset, oldset;
        int wrote_addr = 0, masked = 0;
        int ret = 1;

        switch (tds_broker_parse_args(argc, argv, &o)) {
        case 1:
                return 0;
        case -1:
                return 2;
        }
        log_init("tds-broker", 1, o.verbose);
        if (tds_broker_signals(&stopset) == -1) {
                log_warn("sigaction");
                goto done;
        }
        /* Threads created from here on (librdkafka's, the mock cluster's,
         * ours) inherit a mask without SIGINT/SIGTERM, so the signals
         * reach the main thread, which is the one that acts on them. */
        if (pthread_sigmask(SIG_BLOCK, &stopset, &oldset) != 0) {
                log_warnx("pthread_sigmask failed");
                goto done;
        }
        masked = 1;

        rk = tds_broker_handle_new(o.verbose, err, sizeof(err));
        if (rk == NULL) {
                log_warnx("rdkafka handle: %s", err);
                goto done;
        }
        mcluster = rd_kafka_mock_cluster_new(rk, o.brokers);
        if (mcluster == NULL) {
                log_warnx("cannot create the mock cluster (%d brokers)",
                          o.brokers);
                goto done;
        }
        if (tds_broker_topics_create(mcluster, &o, err, sizeof(err)) == -1) {
                log_warnx("%s", err);
                goto done;
        }
        bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
        if (tds_broker_nodelay(bootstraps) != o.brokers)
                log_warnx("TCP_NODELAY not set on every mock broker's "
                          "listener: responses may wait for delayed ACKs");
        if (o.port != 0) {
                if (asprintf(&advertised, "127.0.0.1:%d", o.port) == -1) {
                        advertised = NULL;
                        log_warn("bootstrap address");
                        goto done;
                }
                fwd = tcp_forward_new((uint16_t)o.port, bootstraps, err,
                                      sizeof(err));
                if (fwd == NULL) {
                        log_warnx("%s", err);
                        goto done;
                }
                log_info("forwarding 127.0.0.1:%d to the first broker that "
                         "accepts, of %s",
                         o.port, bootstraps);
        } else {
                advertised = strdup(bootstraps);
                if (advertised == NULL) {
                        log_warn("bootstrap address");
                        goto done;
                }
        }
        if (o.fault_fifo != NULL) {
                faults = mock_faults_new(mcluster, o.brokers, o.fault_fifo, err,
                                         sizeof(err));
                if (faults == NULL) {
                        log_warnx("%s", err);
                        goto done;
                }
                log_info("fault commands on %s, results in %s.out",
                         o.fault_fifo, o.fault_fifo);
        }
        if (pthread_sigmask(SIG_SETMASK, &oldset, NULL) != 0) {
                log_warnx("pthread_sigmask failed");
                goto done;
        }
        masked = 0;

        if (o.addr_file != NULL &&
            tds_broker_addr_prepare(o.addr_file, advertised, &addr_tmp, err,
                                    sizeof(err)) == -1) {
                log_warnx("%s", err);
                goto done;
        }
        if (printf("bootstrap=%s\n", advertised) < 0 || fflush(stdout) == EOF)
                log_warn("stdout");
        if (addr_tmp != NULL) {
                if (rename(addr_tmp, o.addr_file) == -1) {
                        log_warn("rename %s to %s", addr_tmp, o.addr_file);
                        goto done;
                }
                free(addr_tmp);
                addr_tmp = NULL;
                wrote_addr = 1;
        }
        log_info("ready: %d broker(s) at %s, topics %s.{requests,replies,"
                 "dead-letter} with %d partitions; local use only",
                 o.brokers, bootstraps, o.prefix, o.partitions);

        while (!tds_broker_quit) {
                /* Serves nothing but callbacks; doubles as the tick. */
                rd_kafka_poll(rk, TDS_BROKER_TICK_MS);
                if (fwd != NULL && tcp_forward_failed(fwd, err, sizeof(err))) {
                        log_warnx("%s", err);
                        goto done;
                }
                if (faults != NULL &&
                    mock_faults_failed(faults, err, sizeof(err))) {
                        log_warnx("%s", err);
                        goto done;
                }
        }
        log_info("signal received, shutting down");
        ret = 0;
done:
        /* The address file goes first: whoever watches it must not
         * connect to a broker that is going away. */
        if (wrote_addr && unlink(o.addr_file) == -1 && errno != ENOENT)
                log_warn("unlink %s", o.addr_file);
        if (addr_tmp != NULL) {
                unlink(addr_tmp);
                free(addr_tmp);
        }
        mock_faults_free(faults);
        tcp_forward_free(fwd);
        if (mcluster != NULL)
                rd_kafka_mock_cluster_destroy(mcluster);
        if (rk != NULL)
                rd_kafka_destroy(rk);
        if (masked)
                pthread_sigmask(SIG_SETMASK, &oldset, NULL);
        free(advertised);
        return ret;
}

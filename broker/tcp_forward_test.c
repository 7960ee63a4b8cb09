/*
 * tcp_forward_test: the forwarder against a local echo server.
 *
 * Kafka clients only bootstrap through the forwarder, so the kcat tests
 * push little data through it; this test pushes a lot: one 8 MiB stream
 * (far beyond the 64 KiB buffers, so back-pressure is exercised), 32
 * concurrent streams, a half-close that must travel both ways, a dead
 * upstream, failover to the next target, a port in use and bad targets.
 */
#include "log.h"
#include "tcp_forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_MAXCONN 64
#define PARALLEL     32

struct echo_server {
        int lfd;
        int wake[2];
        pthread_t thread;
        pthread_t conns[ECHO_MAXCONN];
        int nconns;
};

struct transfer {
        uint16_t port;
        size_t size;
        unsigned seed;
        int fd;
        int ok;
};

static int failures;

#define CHECK(cond, ...)                                                       \
        do {                                                                   \
                if (!(cond)) {                                                 \
                        fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
                        fprintf(stderr, __VA_ARGS__);                          \
                        fputc('\n', stderr);                                   \
                        failures++;                                            \
                }                                                              \
        } while (0)

static unsigned char pattern(size_t i, unsigned seed)
{
        return (unsigned char)((i * 31u + seed + (i >> 12)) & 0xffu);
}

/* A loopback listener on an ephemeral port; its port goes to *port. */
static int listen_any(uint16_t *port)
{
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd == -1)
                return -1;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
            listen(fd, 128) == -1 ||
            getsockname(fd, (struct sockaddr *)&sin, &len) == -1) {
                close(fd);
                return -1;
        }
        *port = ntohs(sin.sin_port);
        return fd;
}

/* A port nothing listens on (for a moment; good enough for a test). */
static uint16_t free_port(void)
{
        uint16_t port = 0;
        int fd = listen_any(&port);

        if (fd != -1)
                close(fd);
        return port;
}

static int connect_port(uint16_t port)
{
        struct sockaddr_in sin;
        struct timeval tv = {10, 0};
        int fd;

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd == -1)
                return -1;
        /* A hung forwarder fails the test instead of hanging it. */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons(port);
        if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Echo until EOF, then pass the EOF back: exercises the half-close. */
static void *echo_conn(void *arg)
{
        int fd = (int)(intptr_t)arg;
        char buf[16384];
        ssize_t n, w, off;

        while ((n = read(fd, buf, sizeof(buf))) > 0) {
                for (off = 0; off < n; off += w) {
                        w = write(fd, buf + off, (size_t)(n - off));
                        if (w <= 0)
                                goto done;
                }
        }
        shutdown(fd, SHUT_WR);
done:
        close(fd);
        return NULL;
}

static void *echo_accept(void *arg)
{
        struct echo_server *es = arg;
        struct pollfd pfds[2];
        int fd;

        for (;;) {
                pfds[0].fd = es->wake[0];
                pfds[0].events = POLLIN;
                pfds[1].fd = es->lfd;
                pfds[1].events = POLLIN;
                if (poll(pfds, 2, -1) == -1 && errno != EINTR)
                        break;
                if (pfds[0].revents != 0)
                        break;
                if ((pfds[1].revents & POLLIN) == 0)
                        continue;
                fd = accept4(es->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd == -1)
                        continue;
                if (es->nconns == ECHO_MAXCONN ||
                    pthread_create(&es->conns[es->nconns], NULL, echo_conn,
                                   (void *)(intptr_t)fd) != 0) {
                        close(fd);
                        continue;
                }
                es->nconns++;
        }
        return NULL;
}

static int echo_start(struct echo_server *es, uint16_t *port)
{
        memset(es, 0, sizeof(*es));
        es->lfd = listen_any(port);
        if (es->lfd == -1 || pipe(es->wake) == -1)
                return -1;
        return pthread_create(&es->thread, NULL, echo_accept, es) == 0 ? 0 : -1;
}

static void echo_stop(struct echo_server *es)
{
        int i;

        if (write(es->wake[1], "q", 1) != 1)
                perror("echo_stop");
        pthread_join(es->thread, NULL);
        for (i = 0; i < es->nconns; i++)
                pthread_join(es->conns[i], NULL);
        close(es->lfd);
        close(es->wake[0]);
        close(es->wake[1]);
}

static void *transfer_writer(void *arg)
{
        struct transfer *t = arg;
        unsigned char buf[8192];
        size_t sent = 0, i, chunk;
        ssize_t w;

        while (sent < t->size) {
                chunk =
                    t->size - sent < sizeof(buf) ? t->size - sent : sizeof(buf);
                for (i = 0; i < chunk; i++)
                        buf[i] = pattern(sent + i, t->seed);
                w = send(t->fd, buf, chunk, MSG_NOSIGNAL);
                if (w <= 0)
                        return NULL;
                sent += (size_t)w;
        }
        /* Our EOF must reach the echo server, whose EOF must come back. */
        shutdown(t->fd, SHUT_WR);
        return NULL;
}

/* Send t->size bytes through the forwarder and read them back, exactly,
 * followed by EOF.  Sets t->ok. */
static void *transfer_run(void *arg)
{
        struct transfer *t = arg;
        unsigned char buf[8192];
        pthread_t writer;
        size_t got = 0, i;
        ssize_t n;
        int bad = 0;

        t->ok = 0;
        t->fd = connect_port(t->port);
        if (t->fd == -1)
                return NULL;
        if (pthread_create(&writer, NULL, transfer_writer, t) != 0) {
                close(t->fd);
                return NULL;
        }
        while ((n = recv(t->fd, buf, sizeof(buf), 0)) > 0) {
                for (i = 0; i < (size_t)n; i++)
                        if (buf[i] != pattern(got + i, t->seed))
                                bad = 1;
                got += (size_t)n;
        }
        pthread_join(writer, NULL);
        close(t->fd);
        t->ok = n == 0 && !bad && got == t->size;
        if (!t->ok)
                fprintf(stderr, "transfer seed %u: got %zu of %zu, bad %d\n",
                        t->seed, got, t->size, bad);
        return NULL;
}

static void test_streams(void)
{
        struct echo_server es;
        struct tcp_forward *fwd = NULL;
        struct transfer big, many[PARALLEL];
        pthread_t threads[PARALLEL];
        char target[64], err[256];
        uint16_t echo_port = 0, port = free_port();
        int i;

        CHECK(echo_start(&es, &echo_port) == 0, "echo server");
        snprintf(target, sizeof(target), "127.0.0.1:%u", (unsigned)echo_port);
        fwd = tcp_forward_new(port, target, err, sizeof(err));
        CHECK(fwd != NULL, "tcp_forward_new: %s", err);
        if (fwd == NULL)
                goto done;

        big.port = port;
        big.size = 8u << 20;
        big.seed = 7;
        transfer_run(&big);
        CHECK(big.ok, "8 MiB stream through the forwarder");

        for (i = 0; i < PARALLEL; i++) {
                many[i].port = port;
                many[i].size = (256u << 10) + (size_t)i * 1001;
                many[i].seed = (unsigned)i;
                CHECK(pthread_create(&threads[i], NULL, transfer_run,
                                     &many[i]) == 0,
                      "thread");
        }
        for (i = 0; i < PARALLEL; i++) {
                pthread_join(threads[i], NULL);
                CHECK(many[i].ok, "parallel stream %d", i);
        }
        CHECK(!tcp_forward_failed(fwd, err, sizeof(err)), "failed: %s", err);

        /* The port is ours now: a second forwarder must say so. */
        CHECK(tcp_forward_new(port, target, err, sizeof(err)) == NULL,
              "second forwarder on a busy port");
        CHECK(strstr(err, "in use") != NULL, "port in use message: %s", err);
done:
        tcp_forward_free(fwd);
        echo_stop(&es);
}

static void test_dead_upstream(void)
{
        struct tcp_forward *fwd;
        char target[64], err[256], c;
        uint16_t port = free_port();
        ssize_t n;
        int fd;

        snprintf(target, sizeof(target), "127.0.0.1:%u", (unsigned)free_port());
        fwd = tcp_forward_new(port, target, err, sizeof(err));
        CHECK(fwd != NULL, "tcp_forward_new: %s", err);
        if (fwd == NULL)
                return;
        /* The client is accepted, then closed: what a dead broker does. */
        fd = connect_port(port);
        CHECK(fd != -1, "connect to the forwarder");
        if (fd != -1) {
                n = recv(fd, &c, 1, 0);
                CHECK(n == 0 || (n == -1 && errno == ECONNRESET),
                      "dead upstream: recv %zd (%s)", n, strerror(errno));
                close(fd);
        }
        tcp_forward_free(fwd);
}

/* Broker 1 refusing must not take the fixed port down with it. */
static void test_failover(void)
{
        struct echo_server es;
        struct tcp_forward *fwd = NULL;
        struct transfer t;
        char targets[128], err[256];
        uint16_t echo_port = 0, port = free_port();

        CHECK(echo_start(&es, &echo_port) == 0, "echo server");
        snprintf(targets, sizeof(targets), "127.0.0.1:%u,127.0.0.1:%u",
                 (unsigned)free_port(), (unsigned)echo_port);
        fwd = tcp_forward_new(port, targets, err, sizeof(err));
        CHECK(fwd != NULL, "tcp_forward_new %s: %s", targets, err);
        if (fwd != NULL) {
                t.port = port;
                t.size = 1u << 20;
                t.seed = 99;
                transfer_run(&t);
                CHECK(t.ok, "stream to the second target");
        }
        tcp_forward_free(fwd);
        echo_stop(&es);
}

static void test_bad_targets(void)
{
        static const char *const bad[] = {
            "localhost:9092",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:65536",
            "127.0.0.1:9x",
            ":9092",
            "::1:9092",
            "127.0.0.1:+9",
            "127.0.0.1:9092,",
            ",127.0.0.1:9092",
            "127.0.0.1:9092,,127.0.0.1:1",
        };
        char err[256];
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                err[0] = '\0';
                CHECK(tcp_forward_new(free_port(), bad[i], err, sizeof(err)) ==
                          NULL,
                      "target %s accepted", bad[i]);
                CHECK(strstr(err, "forward target") != NULL,
                      "target %s: message \"%s\"", bad[i], err);
        }
        CHECK(tcp_forward_new(0, "127.0.0.1:9092", err, sizeof(err)) == NULL,
              "port 0 accepted");
}

int main(void)
{
        log_init("tcp_forward_test", 1, 0);
        /* A hang is a failure, not a stuck CI job. */
        alarm(50);
        test_streams();
        test_dead_upstream();
        test_failover();
        test_bad_targets();
        if (failures != 0) {
                fprintf(stderr, "%d failure(s)\n", failures);
                return 1;
        }
        printf("tcp_forward_test: ok\n");
        return 0;
}

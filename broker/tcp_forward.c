/*
 * tcp_forward: splice loopback connections from a fixed port to a mock
 * broker's ephemeral one.
 *
 * One thread runs a poll() loop over non-blocking sockets.  Each
 * connection has two bounded buffers, one per direction, so a slow reader
 * on one side stops us reading from the other instead of growing memory.
 * A half-close (EOF on one side) is passed on with shutdown(SHUT_WR) once
 * the bytes before it are delivered; Kafka clients rarely do that, but a
 * forwarder that turned it into a full close would truncate replies.
 */
#include "tcp_forward.h"

#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* 64 KiB per direction keeps a Kafka fetch response moving in few reads. */
#define FWD_BUFSZ (64 * 1024)
/* Bounds memory (2 buffers each) and the pollfd array. */
#define FWD_MAXCONN 256
/* After EMFILE the listener stays readable; pause it instead of spinning. */
#define FWD_ACCEPT_PAUSE_MS 100
/* Upstream addresses, one per mock broker (tds-broker allows 32). */
#define FWD_MAXTARGETS 32

enum { FWD_CLIENT = 0, FWD_UPSTREAM = 1 };

/* Bytes read from one socket, waiting to be written to the other. */
struct fwd_dir {
        char buf[FWD_BUFSZ];
        size_t off;
        size_t len;
        int eof; /* the source socket returned end of stream */
};

struct fwd_conn {
        int fd[2];             /* FWD_CLIENT, FWD_UPSTREAM */
        struct fwd_dir dir[2]; /* dir[i] flows from fd[i] to fd[1 - i] */
        int shut[2];           /* shutdown(SHUT_WR) done on fd[i] */
        int connecting;        /* non-blocking connect() of fd[1] pending */
        size_t target;         /* index of the target fd[1] is for */
        size_t pidx;           /* index of fd[0] in this round's pollfds */
        struct fwd_conn *next;
};

struct tcp_forward {
        int lfd;
        int wake[2]; /* self-pipe: a byte on wake[1] stops the thread */
        struct sockaddr_in targets[FWD_MAXTARGETS];
        size_t ntargets;
        pthread_t thread;
        int started;
        pthread_mutex_t lock; /* guards failed and failmsg */
        int failed;
        char failmsg[256];
        struct fwd_conn *conns;
        size_t nconns;
};

/* One "a.b.c.d:port", `len` bytes at `item` (not NUL-terminated). */
static int tcp_forward_parse_target(const char *item, size_t len,
                                    struct sockaddr_in *sin, char *err,
                                    size_t errlen)
{
        char target[64];
        char *colon, *end;
        long port;
        int ret = -1;

        if (len >= sizeof(target)) {
                snprintf(err, errlen, "forward target \"%.*s...\": too long",
                         20, item);
                goto done;
        }
        memcpy(target, item, len);
        target[len] = '\0';
        colon = strrchr(target, ':');
        if (colon == NULL || colon == target) {
                snprintf(err, errlen, "forward target \"%s\": not host:port",
                         target);
                goto done;
        }
        *colon = '\0';
        memset(sin, 0, sizeof(*sin));
        sin->sin_family = AF_INET;
        if (inet_pton(AF_INET, target, &sin->sin_addr) != 1) {
                *colon = ':';
                snprintf(err, errlen,
                         "forward target \"%s\": not an IPv4 address", target);
                goto done;
        }
        *colon = ':';
        errno = 0;
        port = strtol(colon + 1, &end, 10);
        if (errno != 0 || end == colon + 1 || *end != '\0' || colon[1] == '+' ||
            colon[1] == '-' || port < 1 || port > 65535) {
                snprintf(err, errlen, "forward target \"%s\": bad port",
                         target);
                goto done;
        }
        sin->sin_port = htons((uint16_t)port);
        ret = 0;
done:
        return ret;
}

/* A comma-separated list of targets into fwd->targets. */
static int tcp_forward_parse_targets(struct tcp_forward *fwd, const char *list,
                                     char *err, size_t errlen)
{
        const char *p = list;
        size_t len;

        fwd->ntargets = 0;
        for (;;) {
                len = strcspn(p, ",");
                if (fwd->ntargets == FWD_MAXTARGETS) {
                        snprintf(err, errlen, "forward targets: more than %d",
                                 FWD_MAXTARGETS);
                        return -1;
                }
                if (tcp_forward_parse_target(p, len,
                                             &fwd->targets[fwd->ntargets], err,
                                             errlen) == -1)
                        return -1;
                fwd->ntargets++;
                if (p[len] == '\0')
                        return 0;
                p += len + 1;
        }
}

static void tcp_forward_fail(struct tcp_forward *fwd, const char *what)
{
        pthread_mutex_lock(&fwd->lock);
        fwd->failed = 1;
        snprintf(fwd->failmsg, sizeof(fwd->failmsg), "%s: %s", what,
                 strerror(errno));
        pthread_mutex_unlock(&fwd->lock);
}

static void tcp_forward_conn_free(struct fwd_conn *c)
{
        if (c == NULL)
                return;
        if (c->fd[FWD_CLIENT] != -1)
                close(c->fd[FWD_CLIENT]);
        if (c->fd[FWD_UPSTREAM] != -1)
                close(c->fd[FWD_UPSTREAM]);
        free(c);
}

static void tcp_forward_nodelay(int fd)
{
        int on = 1;

        /* Kafka requests are small and latency-bound; Nagle only hurts.
         * Failure is harmless, so it is not reported. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

/*
 * Connect fd[1] to the first target, from c->target on, that does not
 * refuse at once; a connect still in progress is settled by
 * tcp_forward_pump().  -1 when every target is exhausted.
 */
static int tcp_forward_connect(struct tcp_forward *fwd, struct fwd_conn *c)
{
        for (; c->target < fwd->ntargets; c->target++) {
                if (c->fd[FWD_UPSTREAM] != -1)
                        close(c->fd[FWD_UPSTREAM]);
                c->connecting = 0;
                c->fd[FWD_UPSTREAM] = socket(
                    AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                if (c->fd[FWD_UPSTREAM] == -1) {
                        log_warn("tcp_forward: socket");
                        return -1;
                }
                tcp_forward_nodelay(c->fd[FWD_UPSTREAM]);
                if (connect(c->fd[FWD_UPSTREAM],
                            (struct sockaddr *)&fwd->targets[c->target],
                            sizeof(fwd->targets[c->target])) == 0)
                        return 0;
                if (errno == EINPROGRESS) {
                        c->connecting = 1;
                        return 0;
                }
                log_debug("tcp_forward: connect to target %zu: %s",
                          c->target + 1, strerror(errno));
        }
        return -1;
}

/* Take one pending connection: 1 taken, 0 none pending, -1 pause accept. */
static int tcp_forward_accept(struct tcp_forward *fwd)
{
        struct fwd_conn *c = NULL;
        int cfd;
        int ret = 0;

        cfd = accept4(fwd->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd == -1) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
                    errno == ECONNABORTED)
                        goto done;
                log_warn("tcp_forward: accept");
                ret = -1;
                goto done;
        }
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
                log_warn("tcp_forward: connection");
                close(cfd);
                ret = -1;
                goto done;
        }
        c->fd[FWD_CLIENT] = cfd;
        c->fd[FWD_UPSTREAM] = -1;
        tcp_forward_nodelay(cfd);
        ret = 1;
        /* No target at all: closing the client is the honest answer, it
         * sees what it would see from a dead broker. */
        if (tcp_forward_connect(fwd, c) == -1)
                goto done;
        c->next = fwd->conns;
        fwd->conns = c;
        fwd->nconns++;
        c = NULL;
done:
        tcp_forward_conn_free(c);
        return ret;
}

/* What to wait for on c->fd[i]; 0 means nothing (the fd is left out). */
static short tcp_forward_events(const struct fwd_conn *c, int i)
{
        const struct fwd_dir *in = &c->dir[i];
        const struct fwd_dir *out = &c->dir[1 - i];
        short ev = 0;

        if (i == FWD_UPSTREAM && c->connecting)
                return POLLOUT;
        if (!in->eof && in->len < FWD_BUFSZ)
                ev |= POLLIN;
        if (out->len > out->off)
                ev |= POLLOUT;
        return ev;
}

static int tcp_forward_is_transient(int e)
{
        return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

/* Read what fd[i] has into dir[i]: -1 on a socket error, else 0. */
static int tcp_forward_read(struct fwd_conn *c, int i)
{
        struct fwd_dir *d = &c->dir[i];
        ssize_t n;

        if (d->eof || d->len == FWD_BUFSZ)
                return 0;
        n = recv(c->fd[i], d->buf + d->len, FWD_BUFSZ - d->len, 0);
        if (n > 0)
                d->len += (size_t)n;
        else if (n == 0)
                d->eof = 1;
        else if (!tcp_forward_is_transient(errno))
                return -1;
        return 0;
}

/* Write dir[i] to fd[1 - i], then pass on its EOF once drained. */
static int tcp_forward_write(struct fwd_conn *c, int i)
{
        struct fwd_dir *d = &c->dir[i];
        int to = 1 - i;
        ssize_t n;

        if (d->len > d->off) {
                /* MSG_NOSIGNAL: a vanished peer is an error return here,
                 * not a SIGPIPE for the whole process. */
                n = send(c->fd[to], d->buf + d->off, d->len - d->off,
                         MSG_NOSIGNAL);
                if (n > 0)
                        d->off += (size_t)n;
                else if (n < 0 && !tcp_forward_is_transient(errno))
                        return -1;
                if (d->off == d->len) {
                        d->off = 0;
                        d->len = 0;
                } else if (d->len == FWD_BUFSZ) {
                        /* Full with a sent prefix: make room to read. */
                        memmove(d->buf, d->buf + d->off, d->len - d->off);
                        d->len -= d->off;
                        d->off = 0;
                }
        }
        if (d->eof && d->len == 0 && !c->shut[to]) {
                if (shutdown(c->fd[to], SHUT_WR) == -1 && errno != ENOTCONN)
                        return -1;
                c->shut[to] = 1;
        }
        return 0;
}

/*
 * Move what can move without blocking.  Every possible step is tried,
 * whatever poll() reported: a step with nothing to do costs one EAGAIN,
 * and that leaves no readiness case to get wrong.  Until the upstream is
 * connected only the client is read, its bytes wait in the buffer.
 * Returns 1 when both directions are finished, -1 on a socket error (drop
 * the connection), else 0.
 */
static int tcp_forward_pump(struct tcp_forward *fwd, struct fwd_conn *c,
                            short up_revents)
{
        int soerr = 0;
        socklen_t slen = sizeof(soerr);

        if (c->connecting) {
                if ((up_revents & (POLLOUT | POLLERR | POLLHUP)) == 0)
                        return tcp_forward_read(c, FWD_CLIENT);
                if (getsockopt(c->fd[FWD_UPSTREAM], SOL_SOCKET, SO_ERROR,
                               &soerr, &slen) == -1)
                        return -1;
                if (soerr != 0) {
                        /* Nothing was sent yet: the next target can
                         * still take the connection unnoticed. */
                        log_debug("tcp_forward: connect to target %zu: %s",
                                  c->target + 1, strerror(soerr));
                        c->target++;
                        if (tcp_forward_connect(fwd, c) == -1)
                                return -1;
                        return tcp_forward_read(c, FWD_CLIENT);
                }
                c->connecting = 0;
        }
        if (tcp_forward_read(c, FWD_CLIENT) == -1 ||
            tcp_forward_read(c, FWD_UPSTREAM) == -1 ||
            tcp_forward_write(c, FWD_CLIENT) == -1 ||
            tcp_forward_write(c, FWD_UPSTREAM) == -1)
                return -1;
        return c->shut[FWD_CLIENT] && c->shut[FWD_UPSTREAM];
}

static void *tcp_forward_run(void *arg)
{
        struct tcp_forward *fwd = arg;
        struct pollfd *pfds = NULL;
        struct fwd_conn *c, **cp;
        int paused = 0;
        size_t n;
        int i, r;

        pfds = calloc(2 + 2 * FWD_MAXCONN, sizeof(*pfds));
        if (pfds == NULL) {
                tcp_forward_fail(fwd, "tcp_forward: poll set");
                goto done;
        }
        for (;;) {
                pfds[0].fd = fwd->wake[0];
                pfds[0].events = POLLIN;
                pfds[0].revents = 0;
                /* A full table leaves new connections in the kernel's
                 * backlog until one closes. */
                pfds[1].fd =
                    (paused || fwd->nconns >= FWD_MAXCONN) ? -1 : fwd->lfd;
                pfds[1].events = POLLIN;
                pfds[1].revents = 0;
                n = 2;
                for (c = fwd->conns; c != NULL; c = c->next) {
                        c->pidx = n;
                        for (i = 0; i < 2; i++) {
                                short ev = tcp_forward_events(c, i);

                                /* fd -1: poll() ignores it, so a hung-up
                                 * socket we do not wait on cannot spin. */
                                pfds[n].fd = ev != 0 ? c->fd[i] : -1;
                                pfds[n].events = ev;
                                pfds[n].revents = 0;
                                n++;
                        }
                }
                r = poll(pfds, n, paused ? FWD_ACCEPT_PAUSE_MS : -1);
                if (r == -1) {
                        if (errno == EINTR)
                                continue;
                        tcp_forward_fail(fwd, "tcp_forward: poll");
                        goto done;
                }
                paused = 0;
                if (pfds[0].revents != 0)
                        goto done;
                for (cp = &fwd->conns; (c = *cp) != NULL;) {
                        if (pfds[c->pidx].revents == 0 &&
                            pfds[c->pidx + 1].revents == 0) {
                                cp = &c->next;
                                continue;
                        }
                        if (tcp_forward_pump(fwd, c,
                                             pfds[c->pidx + 1].revents) == 0) {
                                cp = &c->next;
                                continue;
                        }
                        *cp = c->next;
                        fwd->nconns--;
                        tcp_forward_conn_free(c);
                }
                /* Accept last: the indexes above refer to the old list. */
                if (pfds[1].revents != 0) {
                        while (fwd->nconns < FWD_MAXCONN) {
                                r = tcp_forward_accept(fwd);
                                if (r == -1)
                                        paused = 1;
                                if (r != 1)
                                        break;
                        }
                }
        }
done:
        free(pfds);
        return NULL;
}

struct tcp_forward *tcp_forward_new(uint16_t port, const char *targets,
                                    char *err, size_t errlen)
{
        struct tcp_forward *fwd = NULL, *ret = NULL;
        struct sockaddr_in sin;
        int on = 1;
        int rc;

        if (port == 0) {
                snprintf(err, errlen, "tcp_forward: port 0 is not fixed");
                goto done;
        }
        fwd = calloc(1, sizeof(*fwd));
        if (fwd == NULL) {
                snprintf(err, errlen, "tcp_forward: %s", strerror(errno));
                goto done;
        }
        fwd->lfd = -1;
        fwd->wake[0] = fwd->wake[1] = -1;
        pthread_mutex_init(&fwd->lock, NULL);
        if (tcp_forward_parse_targets(fwd, targets, err, errlen) == -1)
                goto done;
        if (pipe2(fwd->wake, O_CLOEXEC | O_NONBLOCK) == -1) {
                snprintf(err, errlen, "tcp_forward: pipe: %s", strerror(errno));
                goto done;
        }
        fwd->lfd =
            socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fwd->lfd == -1) {
                snprintf(err, errlen, "tcp_forward: socket: %s",
                         strerror(errno));
                goto done;
        }
        /* Lets a restart reuse the port while old connections sit in
         * TIME_WAIT; on Linux it does not allow two live listeners. */
        if (setsockopt(fwd->lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) ==
            -1) {
                snprintf(err, errlen, "tcp_forward: SO_REUSEADDR: %s",
                         strerror(errno));
                goto done;
        }
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons(port);
        if (bind(fwd->lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
                snprintf(err, errlen, "cannot listen on 127.0.0.1:%u: %s%s",
                         (unsigned)port, strerror(errno),
                         errno == EADDRINUSE
                             ? " (another process holds the port)"
                             : "");
                goto done;
        }
        if (listen(fwd->lfd, 128) == -1) {
                snprintf(err, errlen, "listen 127.0.0.1:%u: %s", (unsigned)port,
                         strerror(errno));
                goto done;
        }
        rc = pthread_create(&fwd->thread, NULL, tcp_forward_run, fwd);
        if (rc != 0) {
                snprintf(err, errlen, "tcp_forward: thread: %s", strerror(rc));
                goto done;
        }
        fwd->started = 1;
        ret = fwd;
        fwd = NULL;
done:
        tcp_forward_free(fwd);
        return ret;
}

int tcp_forward_failed(struct tcp_forward *fwd, char *err, size_t errlen)
{
        int failed;

        pthread_mutex_lock(&fwd->lock);
        failed = fwd->failed;
        if (failed)
                snprintf(err, errlen, "%s", fwd->failmsg);
        pthread_mutex_unlock(&fwd->lock);
        return failed;
}

void tcp_forward_free(struct tcp_forward *fwd)
{
        struct fwd_conn *c;
        char b = 'q';

        if (fwd == NULL)
                return;
        if (fwd->started) {
                /* The pipe is empty and non-blocking: this cannot block,
                 * and a short write is impossible for one byte. */
                if (write(fwd->wake[1], &b, 1) != 1)
                        log_warn("tcp_forward: wake");
                pthread_join(fwd->thread, NULL);
        }
        while ((c = fwd->conns) != NULL) {
                fwd->conns = c->next;
                tcp_forward_conn_free(c);
        }
        if (fwd->lfd != -1)
                close(fwd->lfd);
        if (fwd->wake[0] != -1)
                close(fwd->wake[0]);
        if (fwd->wake[1] != -1)
                close(fwd->wake[1]);
        pthread_mutex_destroy(&fwd->lock);
        free(fwd);
}

/*
 * injector: the schedule's faults, performed (see injector.h).
 */
#include "injector.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "cdb.h"

extern char **environ;

#define INJ_START_TRIES   3
#define INJ_CRASH_WAIT_MS 45000 /* a crash point is reached by then */
#define INJ_RECONNECT_MS  60000 /* the daemon is back on the database */
#define INJ_WATCH_MS      1000
#define INJ_DB_WINDOW_MS  2000 /* a SIGKILL of mariadbd waits for a COMMIT */
#define INJ_ARGS_MAX      12

/* The COMMIT watcher, in a thread of its own: it kills the daemon's
 * session (KILL CONNECTION) or, with `sigkill`, the whole server. */
struct killer {
        const char *cnf;
        int window_ms;
        pid_t sigkill; /* mariadbd, or 0 */
        int done;      /* __atomic */
        enum { KILL_NONE, KILL_COMMIT, KILL_OTHER } result;
        unsigned long id;
        char info[96];
        char err[256];
        /* scan state */
        int commit_found;
        unsigned long any_id;
        char any_info[96];
};

/* One fault in progress: a small state machine whose steps are child
 * processes. */
struct running {
        const struct fault *f; /* NULL: a recovery after a death */
        enum fault_kind kind;
        int active;
        int phase;
        pid_t helper;
        int status; /* of the helper that finished last */
        int fresh;  /* a helper just finished: its status is news */
        int tries;
        int64_t since; /* when the phase began */
        int64_t until;
        struct timespec started; /* realtime: the part was started again */
        struct req *probe;       /* db-kill-last-commit's request */
        int quiet;               /* outbox found empty, times in a row */
        int64_t next_poll;
        pid_t target;      /* the crash-point daemon */
        int daemon;        /* a daemon fault's target (index in inj->ttpd) */
        int was_alive;     /* the part ran when we killed it */
        long crash_before; /* crash-point lines in the log before it */
};

struct injector {
        struct campaign *c;
        const struct schedule *s;
        size_t next;
        int64_t due_since; /* when s->f[next] became due, 0 if not */
        struct running excl;
        struct running soft[FK_COUNT];
        struct killer k;
        pthread_t killer_thread;
        int killer_running;
        int logfd;
        int64_t next_watch;
        int dead_db;           /* died without a fault: to start again */
        unsigned dead_ttpd;    /* likewise, a bit per daemon */
        int ttpd_turn;         /* the next daemon fault's target */
        struct ttpd_files {    /* tds-stack's files of daemon i + 1 */
                char part[32]; /* ttpd, ttpd2, ... */
                char pidfile[1024], state_file[1024], log[1024];
        } ttpd[CAMPAIGN_DAEMONS_MAX];
        char db_pidfile[1024], broker_pidfile[1024];
};

static const char *const inj_crash_points[] = {"after-commit", "after-publish",
                                               "mid-batch"};

static void inj_note(struct injector *inj, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A line of the story: stdout and the injector's log. */
static void inj_note(struct injector *inj, const char *fmt, ...)
{
        char line[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        campaign_note(inj->c, "%s", line);
        if (inj->logfd != -1)
                dprintf(inj->logfd, "== %.1f s: %s\n",
                        (campaign_now_ms() - inj->c->t0) / 1000.0, line);
}

/* --- processes ----------------------------------------------------------- */

/* Read the pid in `file` and check it runs `name`. */
static pid_t pid_of(const char *file, const char *name)
{
        char buf[64], path[64], cmd[4096];
        FILE *f;
        long pid;
        size_t n;
        int fd;

        if ((f = fopen(file, "r")) == NULL)
                return -1;
        pid = fgets(buf, sizeof(buf), f) ? strtol(buf, NULL, 10) : -1;
        fclose(f);
        if (pid <= 1)
                return -1;
        snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
                return -1;
        n = (size_t)read(fd, cmd, sizeof(cmd) - 1);
        close(fd);
        if (n == (size_t)-1)
                return -1;
        for (size_t i = 0; i < n; i++)
                if (cmd[i] == '\0')
                        cmd[i] = ' ';
        cmd[n] = '\0';
        return strstr(cmd, name) != NULL ? (pid_t)pid : -1;
}

/* Runs and is not a zombie. */
static int alive(pid_t pid)
{
        char path[64], buf[512], *p;
        FILE *f;
        int ok = 0;

        if (pid <= 1 || kill(pid, 0) == -1)
                return 0;
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        if ((f = fopen(path, "r")) == NULL)
                return 0;
        if (fgets(buf, sizeof(buf), f) != NULL &&
            (p = strrchr(buf, ')')) != NULL)
                ok = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
        fclose(f);
        return ok;
}

static int ttpd_alive(struct injector *inj, int i)
{
        return alive(pid_of(inj->ttpd[i].pidfile, "tds-ttpd"));
}

static int db_alive(struct injector *inj)
{
        return alive(pid_of(inj->db_pidfile, "mariadbd"));
}

/* Daemon i is on the database and holds partitions: its state file,
 * written after `after` (realtime, so that a state written before a
 * fault does not count). */
static int ttpd_consuming(struct injector *inj, int i,
                          const struct timespec *after)
{
        const char *state_file = inj->ttpd[i].state_file;
        char buf[4096];
        struct stat st;
        FILE *f;
        size_t n;

        if (stat(state_file, &st) == -1 || st.st_mtim.tv_sec < after->tv_sec ||
            (st.st_mtim.tv_sec == after->tv_sec &&
             st.st_mtim.tv_nsec <= after->tv_nsec))
                return 0;
        if ((f = fopen(state_file, "r")) == NULL)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        return strstr(buf, "\"db\":\"ok\"") != NULL &&
               strstr(buf, "\"kafka\":\"ok\"") != NULL &&
               strstr(buf, "\"assigned_partitions\":0") == NULL &&
               strstr(buf, "\"assigned_partitions\":") != NULL;
}

/* Every daemon is back on the database and consuming (after a database
 * fault, which they all saw). */
static int ttpd_all_consuming(struct injector *inj,
                              const struct timespec *after)
{
        for (int i = 0; i < inj->c->daemons; i++)
                if (!ttpd_consuming(inj, i, after))
                        return 0;
        return 1;
}

/* Lines of the daemon's log that contain `needle`. */
static long log_count(const char *path, const char *needle)
{
        char line[4096];
        FILE *f = fopen(path, "r");
        long n = 0;

        if (f == NULL)
                return 0;
        while (fgets(line, sizeof(line), f) != NULL)
                if (strstr(line, needle) != NULL)
                        n++;
        fclose(f);
        return n;
}

/* Start a helper; its output goes to the injector's log.  With
 * `crash_point`, the daemon it starts gets TDS_TEST_CRASH_POINT; without,
 * that variable is removed from its environment. */
static pid_t inj_spawn(struct injector *inj, const char *crash_point,
                       const char *const *argv)
{
        posix_spawn_file_actions_t fa;
        char **env = NULL, crash[128];
        size_t n = 0, k = 0;
        pid_t pid = -1;
        int rc;

        while (environ[n] != NULL)
                n++;
        if ((env = calloc(n + 2, sizeof(*env))) == NULL)
                campaign_fatal("out of memory");
        for (size_t i = 0; i < n; i++)
                if (strncmp(environ[i], "TDS_TEST_CRASH_POINT=", 21) != 0)
                        env[k++] = environ[i];
        if (crash_point != NULL) {
                snprintf(crash, sizeof(crash), "TDS_TEST_CRASH_POINT=%s",
                         crash_point);
                env[k++] = crash;
        }
        env[k] = NULL;
        posix_spawn_file_actions_init(&fa);
        if (inj->logfd != -1) {
                posix_spawn_file_actions_adddup2(&fa, inj->logfd, 1);
                posix_spawn_file_actions_adddup2(&fa, inj->logfd, 2);
        }
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
        posix_spawn_file_actions_destroy(&fa);
        free(env);
        if (rc != 0)
                campaign_fatal("cannot run %s: %s", argv[0], strerror(rc));
        if (inj->logfd != -1) {
                dprintf(inj->logfd, "$");
                for (size_t i = 0; argv[i] != NULL; i++)
                        dprintf(inj->logfd, " %s", argv[i]);
                dprintf(inj->logfd, "%s%s\n",
                        crash_point ? "  # crash point " : "",
                        crash_point ? crash_point : "");
        }
        return pid;
}

static pid_t inj_stack(struct injector *inj, const char *crash_point,
                       const char *verb, const char *opt, const char *part)
{
        const char *argv[INJ_ARGS_MAX] = {inj->c->paths.stack, verb};
        int i = 2;

        if (opt != NULL)
                argv[i++] = opt;
        argv[i++] = part;
        argv[i] = NULL;
        return inj_spawn(inj, crash_point, argv);
}

/* tds-broker-ctl FIFO words... (NULL-terminated) */
static pid_t inj_ctl(struct injector *inj, const char *w0, const char *w1,
                     const char *w2, const char *w3)
{
        const char *argv[INJ_ARGS_MAX] = {inj->c->paths.broker_ctl,
                                          inj->c->paths.broker_fifo,
                                          w0,
                                          w1,
                                          w2,
                                          w3,
                                          NULL};

        return inj_spawn(inj, NULL, argv);
}

/* The running step's helper finished: 1 (status in r->status), else 0. */
static int helper_done(struct running *r)
{
        int st;
        pid_t p;

        if (r->helper <= 0)
                return 1;
        p = waitpid(r->helper, &st, WNOHANG);
        if (p == 0)
                return 0;
        if (p == -1 && errno == EINTR)
                return 0;
        r->status = p == -1           ? 127
                    : WIFEXITED(st)   ? WEXITSTATUS(st)
                    : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
                                      : 127;
        r->helper = 0;
        r->fresh = 1;
        return 1;
}

/* Run a helper to its end (settling only). */
static int helper_wait(pid_t pid)
{
        int st;

        while (waitpid(pid, &st, 0) == -1)
                if (errno != EINTR)
                        return 127;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* --- KILL CONNECTION ----------------------------------------------------- */

static int killer_row(void *arg, char **cols, unsigned long *lens,
                      unsigned ncols)
{
        struct killer *k = arg;
        unsigned long id;

        (void)lens;
        if (ncols < 2 || cols[0] == NULL || k->commit_found)
                return 0;
        id = strtoul(cols[0], NULL, 10);
        if (cols[1] != NULL && strcmp(cols[1], "COMMIT") == 0) {
                k->commit_found = 1;
                k->id = id;
                snprintf(k->info, sizeof(k->info), "COMMIT");
                return 0;
        }
        k->any_id = id;
        snprintf(k->any_info, sizeof(k->any_info), "%.90s",
                 cols[1] != NULL ? cols[1] : "(idle)");
        return 0;
}

/* Kill the session `id`, or the server. */
static int killer_strike(struct killer *k, struct cdb *db, unsigned long id)
{
        if (k->sigkill > 0)
                return kill(k->sigkill, SIGKILL);
        return cdb_kill(db, id, k->err, sizeof(k->err));
}

/* Watch the daemon's session until it is in COMMIT and strike then; at
 * the end of the window strike whatever it is doing (a server is killed
 * even without a session of the daemon). */
static void *killer_main(void *arg)
{
        struct killer *k = arg;
        struct cdb *db;
        int64_t deadline = campaign_now_ms() + k->window_ms;

        mysql_thread_init();
        k->result = KILL_NONE;
        if ((db = cdb_open(k->cnf, k->err, sizeof(k->err))) == NULL) {
                if (k->sigkill > 0 && killer_strike(k, NULL, 0) == 0)
                        k->result = KILL_OTHER;
                goto done;
        }
        for (;;) {
                k->commit_found = 0;
                k->any_id = 0;
                if (cdb_query(db,
                              "SELECT ID, INFO FROM "
                              "information_schema.PROCESSLIST "
                              "WHERE USER = 'tds_ttp'",
                              killer_row, k, k->err, sizeof(k->err)) == -1) {
                        if (k->sigkill > 0 && killer_strike(k, db, 0) == 0)
                                k->result = KILL_OTHER;
                        break;
                }
                if (k->commit_found) {
                        if (killer_strike(k, db, k->id) == 0)
                                k->result = KILL_COMMIT;
                        break;
                }
                if (campaign_now_ms() >= deadline) {
                        k->id = k->any_id;
                        snprintf(k->info, sizeof(k->info), "%s",
                                 k->any_id ? k->any_info : "no session");
                        if ((k->any_id != 0 || k->sigkill > 0) &&
                            killer_strike(k, db, k->id) == 0)
                                k->result = KILL_OTHER;
                        break;
                }
        }
        cdb_close(db);
done:
        mysql_thread_end();
        __atomic_store_n(&k->done, 1, __ATOMIC_RELEASE);
        return NULL;
}

/* --- faults -------------------------------------------------------------- */

static int crash_index(enum fault_kind k)
{
        return k == FK_TTPD_AFTER_COMMIT    ? 0
               : k == FK_TTPD_AFTER_PUBLISH ? 1
               : k == FK_TTPD_MID_BATCH     ? 2
                                            : -1;
}

static void run_begin(struct injector *inj, struct running *r,
                      const struct fault *f, int64_t now)
{
        char what[200];

        memset(r, 0, sizeof(*r));
        r->f = f;
        r->kind = f->kind;
        r->active = 1;
        r->since = now;
        schedule_describe(f, what, sizeof(what));
        if (f->kind <= FK_TTPD_MID_BATCH) {
                /* Daemon faults take turns among the daemons, so that
                 * each loses and regains its partitions. */
                r->daemon = inj->ttpd_turn++ % inj->c->daemons;
                if (inj->c->daemons > 1)
                        snprintf(what + strlen(what),
                                 sizeof(what) - strlen(what), " of %s",
                                 inj->ttpd[r->daemon].part);
        }
        inj_note(inj, "fault %zu/%zu: %s (progress %ld)", inj->next + 1,
                 inj->s->n, what, inj->c->progress);
        inj->c->fig.fired[f->kind]++;
}

static void run_end(struct injector *inj, struct running *r, int64_t now)
{
        if (r->f != NULL)
                inj_note(inj, "%s over after %.1f s",
                         schedule_kind_name(r->kind),
                         (now - r->since) / 1000.0);
        r->active = 0;
}

static void step(struct running *r, int phase, pid_t helper)
{
        r->phase = phase;
        r->helper = helper;
        r->fresh = 0;
}

/* `tds-stack start PART` finished: on failure try again a few times. */
static int started(struct injector *inj, struct running *r, const char *part)
{
        if (r->status == 0)
                return 1;
        if (++r->tries >= INJ_START_TRIES)
                campaign_fatal("tds-stack start %s failed %d times, see %s/"
                               "faults/injector.log",
                               part, r->tries, inj->c->paths.run_dir);
        inj_note(inj, "tds-stack start %s failed (status %d), again", part,
                 r->status);
        r->helper = inj_stack(inj, NULL, "start", NULL, part);
        return 0;
}

/* Daemon faults: kill, [start with a crash point, wait for the death],
 * start. */
static void run_ttpd(struct injector *inj, struct running *r, int64_t now)
{
        struct figures *fig = &inj->c->fig;
        const struct ttpd_files *t = &inj->ttpd[r->daemon];
        int ci = crash_index(r->kind);

        if (!helper_done(r))
                return;
        switch (r->phase) {
        case 0: /* a recovery starts at phase 2 */
                r->was_alive = ttpd_alive(inj, r->daemon);
                step(r, 1, inj_stack(inj, NULL, "kill", NULL, t->part));
                break;
        case 1:
                if (r->was_alive) {
                        fig->ttpd_kills++;
                        fig->ttpd_kills_of[r->daemon]++;
                }
                if (ci < 0) {
                        step(r, 3,
                             inj_stack(inj, NULL, "start", NULL, t->part));
                        break;
                }
                r->crash_before = log_count(t->log, "test crash point '");
                step(r, 4,
                     inj_stack(inj, inj_crash_points[ci], "start", "--no-wait",
                               t->part));
                break;
        case 2: /* recovery: just start */
                step(r, 3, inj_stack(inj, NULL, "start", NULL, t->part));
                break;
        case 3:
                if (!started(inj, r, t->part))
                        break;
                fig->ttpd_starts++;
                run_end(inj, r, now);
                break;
        case 4:
                fig->ttpd_starts++;
                if (r->status != 0)
                        inj_note(inj,
                                 "the crash-point daemon did not start "
                                 "cleanly (status %d)",
                                 r->status);
                r->target = pid_of(t->pidfile, "tds-ttpd");
                r->until = now + INJ_CRASH_WAIT_MS;
                r->phase = 5;
                break;
        case 5:
                if (!alive(r->target)) {
                        long n = log_count(t->log, "test crash point '");
                        fig->ttpd_kills++;
                        fig->ttpd_kills_of[r->daemon]++;
                        if (n > r->crash_before)
                                fig->crash_reached[ci]++;
                        else
                                fig->crash_missed[ci]++;
                        inj_note(inj, "the daemon %s at crash point %s",
                                 n > r->crash_before ? "died" : "DIED, NOT",
                                 inj_crash_points[ci]);
                        step(r, 3,
                             inj_stack(inj, NULL, "start", NULL, t->part));
                } else if (now >= r->until) {
                        fig->crash_missed[ci]++;
                        inj_note(inj,
                                 "crash point %s not reached in %d s: "
                                 "killing the daemon",
                                 inj_crash_points[ci],
                                 INJ_CRASH_WAIT_MS / 1000);
                        r->was_alive = 1;
                        step(r, 1, inj_stack(inj, NULL, "kill", NULL, t->part));
                        r->kind = FK_TTPD_KILL; /* then a plain start */
                }
                break;
        }
}

static void killer_start(struct injector *inj, int window_ms, pid_t sigkill)
{
        struct killer *k = &inj->k;

        memset(k, 0, sizeof(*k));
        k->cnf = inj->c->paths.admin_cnf;
        k->window_ms = window_ms;
        k->sigkill = sigkill;
        if (pthread_create(&inj->killer_thread, NULL, killer_main, k) != 0)
                campaign_fatal("pthread_create failed");
        inj->killer_running = 1;
}

/* The watcher finished: 1, else 0. */
static int killer_done(struct injector *inj)
{
        if (!__atomic_load_n(&inj->k.done, __ATOMIC_ACQUIRE))
                return 0;
        pthread_join(inj->killer_thread, NULL);
        inj->killer_running = 0;
        return 1;
}

/* SIGKILL of mariadbd, aimed like KILL CONNECTION at the daemon's COMMIT
 * (the lost COMMIT whose outcome the daemon cannot read back until the
 * server is back), then `tds-stack start db`, until the daemon is back. */
static void run_db(struct injector *inj, struct running *r, int64_t now)
{
        struct figures *fig = &inj->c->fig;
        struct killer *k = &inj->k;

        if (!helper_done(r))
                return;
        switch (r->phase) {
        case 0:
                r->target = pid_of(inj->db_pidfile, "mariadbd");
                r->was_alive = alive(r->target);
                killer_start(inj, INJ_DB_WINDOW_MS,
                             r->was_alive ? r->target : 0);
                r->phase = 1;
                break;
        case 1:
                if (!killer_done(inj))
                        break;
                if (r->was_alive && k->result != KILL_NONE) {
                        fig->db_kills++;
                        if (k->result == KILL_COMMIT)
                                fig->db_kill_commit++;
                }
                inj_note(inj, "SIGKILL mariadbd (pid %d) %s%s", (int)r->target,
                         k->result == KILL_COMMIT ? "during the daemon's COMMIT"
                         : k->result == KILL_OTHER ? "while the daemon ran: "
                                                   : "FAILED: ",
                         k->result == KILL_OTHER  ? k->info
                         : k->result == KILL_NONE ? k->err
                                                  : "");
                r->until = now + 20000;
                r->phase = 2;
                break;
        case 2: /* also where a recovery starts */
                if (alive(r->target) && now < r->until)
                        break;
                step(r, 3, inj_stack(inj, NULL, "start", NULL, "db"));
                break;
        case 3:
                if (!started(inj, r, "db"))
                        break;
                fig->db_starts++;
                clock_gettime(CLOCK_REALTIME, &r->started);
                r->until = now + INJ_RECONNECT_MS;
                r->phase = 4;
                break;
        case 4:
                if (ttpd_all_consuming(inj, &r->started)) {
                        run_end(inj, r, now);
                } else if (now >= r->until) {
                        campaign_violation(inj->c, NULL,
                                           "the daemon is not back on the "
                                           "database %d s after its restart",
                                           INJ_RECONNECT_MS / 1000);
                        run_end(inj, r, now);
                }
                break;
        }
}

/*
 * The parties fall quiet; once the daemon has published everything, one
 * probe request (a register again: a new msg_id, answered
 * register.result) is sent, mariadbd is SIGKILLed at its COMMIT and
 * started again.  Nothing else is sent until the probe is answered: its
 * reply must reach its party by the daemon's own doing (a reply that
 * waits in the outbox for the next request would never arrive in a
 * quiet system).  Request errors still pending in the broker are cleared
 * first, so that they cannot hold the relay back.
 */
static void run_db_last(struct injector *inj, struct running *r, int64_t now)
{
        struct campaign *c = inj->c;
        struct figures *fig = &c->fig;
        struct killer *k = &inj->k;
        char err[512];
        long unsent;

        if (!helper_done(r))
                return;
        switch (r->phase) {
        case 0:
                c->hush = 1;
                step(r, 1, inj_ctl(inj, "clear-errors", "Produce", NULL, NULL));
                break;
        case 1:
                step(r, 2, inj_ctl(inj, "clear-errors", "Fetch", NULL, NULL));
                break;
        case 2:
                r->since = now;
                r->until = now + 20000;
                r->quiet = 0;
                r->phase = 3;
                break;
        case 3: /* quiet: the outbox empty twice in a row, 1.5 s at least */
                if (now < r->next_poll)
                        break;
                r->next_poll = now + 300;
                unsent = checks_outbox_unsent(c, err, sizeof(err));
                r->quiet = unsent == 0 ? r->quiet + 1 : 0;
                if ((r->quiet >= 2 && now >= r->since + 1500) ||
                    now >= r->until) {
                        if (r->quiet < 2)
                                inj_note(inj, "the daemon did not fall quiet "
                                              "in 20 s; probing anyway");
                        r->target = pid_of(inj->db_pidfile, "mariadbd");
                        r->was_alive = alive(r->target);
                        killer_start(inj, 3000, r->was_alive ? r->target : 0);
                        r->until = now + 100; /* the watcher is watching */
                        r->phase = 4;
                }
                break;
        case 4:
                if (now < r->until)
                        break;
                r->probe = workload_probe(c, r->f->party, now);
                fig->probes++;
                r->phase = 5;
                break;
        case 5:
                if (!killer_done(inj))
                        break;
                if (r->was_alive && k->result != KILL_NONE) {
                        fig->db_kills++;
                        if (k->result == KILL_COMMIT)
                                fig->db_kill_commit++;
                }
                inj_note(inj, "probe %s sent; SIGKILL mariadbd (pid %d) %s%s",
                         r->probe->msg_id, (int)r->target,
                         k->result == KILL_COMMIT ? "during the daemon's COMMIT"
                         : k->result == KILL_OTHER ? "while the daemon ran: "
                                                   : "FAILED: ",
                         k->result == KILL_OTHER  ? k->info
                         : k->result == KILL_NONE ? k->err
                                                  : "");
                r->until = now + 20000;
                r->phase = 6;
                break;
        case 6:
                if (alive(r->target) && now < r->until)
                        break;
                step(r, 7, inj_stack(inj, NULL, "start", NULL, "db"));
                break;
        case 7:
                if (!started(inj, r, "db"))
                        break;
                fig->db_starts++;
                clock_gettime(CLOCK_REALTIME, &r->started);
                r->until = now + INJ_RECONNECT_MS;
                r->phase = 8;
                break;
        case 8:
                if (!ttpd_all_consuming(inj, &r->started) && now < r->until)
                        break;
                r->until = now + 15000;
                r->phase = 9;
                break;
        case 9:
                if (r->probe->answer != NULL) {
                        fig->probes_answered++;
                        inj_note(inj, "the probe was answered with nothing "
                                      "else sent");
                } else if (now >= r->until) {
                        unsent = checks_outbox_unsent(c, err, sizeof(err));
                        campaign_violation(
                            c, NULL,
                            "probe %s of %s: no answer 15 s after the daemon "
                            "was back on the database, with nothing else "
                            "sent; %ld outbox row(s) unsent: a reply "
                            "committed before the lost COMMIT was resolved "
                            "waits for another request",
                            r->probe->msg_id, r->probe->p->u.name, unsent);
                } else {
                        break;
                }
                c->hush = 0;
                run_end(inj, r, now);
                break;
        }
}

static void run_conn_kill(struct injector *inj, struct running *r, int64_t now)
{
        struct figures *fig = &inj->c->fig;
        struct killer *k = &inj->k;

        switch (r->phase) {
        case 0:
                killer_start(inj, r->f->duration_ms, 0);
                r->phase = 1;
                break;
        case 1:
                if (!killer_done(inj))
                        break;
                if (k->result == KILL_COMMIT)
                        fig->conn_kill_commit++;
                else if (k->result == KILL_OTHER)
                        fig->conn_kill_other++;
                else
                        fig->conn_kill_none++;
                inj_note(inj, "KILL CONNECTION %lu %s%s%s", k->id,
                         k->result == KILL_COMMIT  ? "during its COMMIT"
                         : k->result == KILL_OTHER ? "while it ran: "
                                                   : "not done: ",
                         k->result == KILL_OTHER ? k->info : "",
                         k->result == KILL_NONE
                             ? (k->err[0] ? k->err : "no session of tds_ttp")
                             : "");
                run_end(inj, r, now);
                break;
        }
}

static void run_broker(struct injector *inj, struct running *r, int64_t now)
{
        const struct fault *f = r->f;
        char count[16], ms[16];
        const char *api = r->kind == FK_BROKER_PRODUCE_ERR ? "Produce"
                          : r->kind == FK_BROKER_FETCH_ERR ? "Fetch"
                                                           : "OffsetCommit";

        if (!helper_done(r))
                return;
        if (r->fresh && r->status != 0) /* the campaign's failure */
                campaign_fatal("tds-broker-ctl failed (status %d), see "
                               "%s/faults/injector.log",
                               r->status, inj->c->paths.run_dir);
        r->fresh = 0;
        switch (r->phase) {
        case 0:
                if (r->kind == FK_BROKER_DOWN) {
                        step(r, 1,
                             inj_ctl(inj, "broker-down", "all", NULL, NULL));
                } else if (r->kind == FK_BROKER_RTT) {
                        snprintf(ms, sizeof(ms), "%d", f->param);
                        step(r, 1, inj_ctl(inj, "rtt", "all", ms, NULL));
                } else {
                        snprintf(count, sizeof(count), "%d", f->param);
                        step(
                            r, 9,
                            inj_ctl(inj, "request-errors", api, f->err, count));
                }
                break;
        case 1:
                r->until = now + f->duration_ms;
                r->phase = 2;
                break;
        case 2:
                if (now < r->until)
                        break;
                if (r->kind == FK_BROKER_DOWN)
                        step(r, 9,
                             inj_ctl(inj, "broker-up", "all", NULL, NULL));
                else
                        step(r, 9, inj_ctl(inj, "rtt", "all", "0", NULL));
                break;
        case 9:
                run_end(inj, r, now);
                break;
        }
}

static void run_client(struct injector *inj, struct running *r, int64_t now)
{
        const struct fault *f = r->f;

        switch (r->phase) {
        case 0:
                r->until = now + f->duration_ms;
                if (r->kind == FK_CLIENT_STALL)
                        workload_stall(inj->c, f->party, r->until);
                else
                        workload_slow(inj->c, f->party, f->param, r->until);
                r->phase = 1;
                break;
        case 1:
                if (now >= r->until)
                        run_end(inj, r, now);
                break;
        }
}

static void run_advance(struct injector *inj, struct running *r, int64_t now)
{
        if (!r->active)
                return;
        switch (r->kind) {
        case FK_TTPD_KILL:
        case FK_TTPD_AFTER_COMMIT:
        case FK_TTPD_AFTER_PUBLISH:
        case FK_TTPD_MID_BATCH:
                run_ttpd(inj, r, now);
                break;
        case FK_DB_KILL:
                run_db(inj, r, now);
                break;
        case FK_DB_KILL_LAST:
                run_db_last(inj, r, now);
                break;
        case FK_DB_CONN_KILL:
                run_conn_kill(inj, r, now);
                break;
        case FK_BROKER_DOWN:
        case FK_BROKER_PRODUCE_ERR:
        case FK_BROKER_FETCH_ERR:
        case FK_BROKER_COMMIT_ERR:
        case FK_BROKER_RTT:
                run_broker(inj, r, now);
                break;
        case FK_CLIENT_STALL:
        case FK_CLIENT_SLOW:
                run_client(inj, r, now);
                break;
        case FK_COUNT:
                break;
        }
}

/* Nothing may die without a fault: a death is a violation, and the part
 * is started again (once no other process fault runs) so that the
 * campaign can go on. */
static void watch(struct injector *inj, int64_t now)
{
        int ttpd_fault =
            inj->excl.active && inj->excl.kind <= FK_TTPD_MID_BATCH;
        int db_fault = inj->excl.active && (inj->excl.kind == FK_DB_KILL ||
                                            inj->excl.kind == FK_DB_KILL_LAST);

        if (now >= inj->next_watch) {
                inj->next_watch = now + INJ_WATCH_MS;
                if (!alive(pid_of(inj->broker_pidfile, "tds-broker")))
                        campaign_fatal("the broker died (it keeps nothing "
                                       "across a restart): see "
                                       "%s/broker/broker.log",
                                       inj->c->paths.run_dir);
                if (!db_fault && !inj->dead_db && !db_alive(inj)) {
                        campaign_violation(inj->c, NULL,
                                           "mariadbd died without a fault "
                                           "(see %s/mariadb/mariadb.log)",
                                           inj->c->paths.run_dir);
                        inj->c->fig.own_deaths++;
                        inj->dead_db = 1;
                }
                for (int i = 0; i < inj->c->daemons; i++) {
                        /* A daemon fault exempts its target only. */
                        if ((ttpd_fault && inj->excl.daemon == i) ||
                            (inj->dead_ttpd & (1u << i)) || ttpd_alive(inj, i))
                                continue;
                        campaign_violation(inj->c, NULL,
                                           "tds-ttpd (%s) died without a "
                                           "fault (see %s)",
                                           inj->ttpd[i].part, inj->ttpd[i].log);
                        inj->c->fig.own_deaths++;
                        inj->dead_ttpd |= 1u << i;
                }
        }
        if (inj->excl.active || !(inj->dead_db || inj->dead_ttpd))
                return;
        /* A recovery: the start steps of the kill faults. */
        memset(&inj->excl, 0, sizeof(inj->excl));
        inj->excl.active = 1;
        inj->excl.kind = inj->dead_db ? FK_DB_KILL : FK_TTPD_KILL;
        inj->excl.phase = 2;
        inj->excl.since = now;
        if (inj->dead_db) {
                inj_note(inj, "starting mariadbd again");
                inj->dead_db = 0;
                return;
        }
        while (!(inj->dead_ttpd & (1u << inj->excl.daemon)))
                inj->excl.daemon++;
        inj->dead_ttpd &= ~(1u << inj->excl.daemon);
        inj_note(inj, "starting tds-ttpd (%s) again",
                 inj->ttpd[inj->excl.daemon].part);
}

void injector_tick(struct injector *inj, int64_t now)
{
        const struct schedule *s = inj->s;

        while (inj->next < s->n) {
                const struct fault *f = &s->f[inj->next];
                struct running *r = schedule_is_exclusive(f->kind)
                                        ? &inj->excl
                                        : &inj->soft[f->kind];

                if (inj->c->progress < f->trigger)
                        break;
                if (inj->due_since == 0)
                        inj->due_since = now;
                if (now < inj->due_since + f->delay_ms || r->active)
                        break;
                run_begin(inj, r, f, now);
                inj->next++;
                inj->due_since = 0;
        }
        run_advance(inj, &inj->excl, now);
        for (int k = 0; k < FK_COUNT; k++)
                run_advance(inj, &inj->soft[k], now);
        watch(inj, now);
}

int injector_done(const struct injector *inj)
{
        if (inj->next < inj->s->n || inj->excl.active)
                return 0;
        for (int k = 0; k < FK_COUNT; k++)
                if (inj->soft[k].active)
                        return 0;
        return 1;
}

size_t injector_faults_left(const struct injector *inj)
{
        return inj->s->n - inj->next;
}

void injector_running(const struct injector *inj, char *out, size_t outlen)
{
        size_t used = 0;

        out[0] = '\0';
        for (int k = -1; k < FK_COUNT; k++) {
                const struct running *r = k < 0 ? &inj->excl : &inj->soft[k];
                int n;

                if (!r->active)
                        continue;
                n = snprintf(out + used, outlen - used, "%s%s (phase %d)",
                             used ? ", " : "", schedule_kind_name(r->kind),
                             r->phase);
                if (n < 0 || (size_t)n >= outlen - used)
                        break;
                used += (size_t)n;
        }
}

int injector_settle(struct injector *inj, int timeout_s, char *err,
                    size_t errlen)
{
        static const char *const apis[] = {"Produce", "Fetch", "OffsetCommit"};
        int64_t deadline = campaign_now_ms() + (int64_t)timeout_s * 1000;
        int bad = 0;

        inj->next = inj->s->n; /* nothing new fires */
        while (!injector_done(inj) && campaign_now_ms() < deadline) {
                int64_t now = campaign_now_ms();

                run_advance(inj, &inj->excl, now);
                for (int k = 0; k < FK_COUNT; k++)
                        run_advance(inj, &inj->soft[k], now);
                workload_tick(inj->c, now, 0);
                usleep(20000);
        }
        if (!injector_done(inj)) {
                injector_running(inj, err, errlen);
                return -1;
        }
        inj_note(inj, "settling: no more faults, the stack made whole");
        bad |= helper_wait(inj_ctl(inj, "rtt", "all", "0", NULL)) != 0;
        bad |= helper_wait(inj_ctl(inj, "broker-up", "all", NULL, NULL)) != 0;
        for (size_t i = 0; i < sizeof(apis) / sizeof(*apis); i++)
                bad |= helper_wait(inj_ctl(inj, "clear-errors", apis[i], NULL,
                                           NULL)) != 0;
        bad |= helper_wait(inj_stack(inj, NULL, "start", NULL, "db")) != 0;
        for (int i = 0; i < inj->c->daemons; i++)
                bad |= helper_wait(inj_stack(inj, NULL, "start", NULL,
                                             inj->ttpd[i].part)) != 0;
        workload_unstall(inj->c);
        if (bad) {
                snprintf(err, errlen,
                         "the stack could not be made whole, see "
                         "%s/faults/injector.log",
                         inj->c->paths.run_dir);
                return -1;
        }
        return 0;
}

/* tds-stack's names for daemon `n` (1 is the first: ttpd, ttp/ttpd.pid,
 * ttp/state.json, ttp/ttpd.log; then ttpd2, ttp/ttpd2.pid, ...). */
static void ttpd_files_init(struct ttpd_files *t, const char *run_dir, int n)
{
        char num[16] = "";

        if (n > 1)
                snprintf(num, sizeof(num), "%d", n);
        snprintf(t->part, sizeof(t->part), "ttpd%s", num);
        snprintf(t->pidfile, sizeof(t->pidfile), "%s/ttp/ttpd%s.pid", run_dir,
                 num);
        snprintf(t->state_file, sizeof(t->state_file), "%s/ttp/state%s.json",
                 run_dir, num);
        snprintf(t->log, sizeof(t->log), "%s/ttp/ttpd%s.log", run_dir, num);
}

struct injector *injector_new(struct campaign *c, const struct schedule *s,
                              char *err, size_t errlen)
{
        struct injector *inj = calloc(1, sizeof(*inj));
        char path[1024];

        if (inj == NULL) {
                snprintf(err, errlen, "out of memory");
                return NULL;
        }
        inj->c = c;
        inj->s = s;
        inj->logfd = -1;
        snprintf(path, sizeof(path), "%s/faults", c->paths.run_dir);
        if (mkdir(path, 0700) == -1 && errno != EEXIST) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                free(inj);
                return NULL;
        }
        snprintf(path, sizeof(path), "%s/faults/injector.log",
                 c->paths.run_dir);
        if ((inj->logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                               0600)) == -1) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                free(inj);
                return NULL;
        }
        for (int i = 0; i < c->daemons; i++)
                ttpd_files_init(&inj->ttpd[i], c->paths.run_dir, i + 1);
        snprintf(inj->db_pidfile, sizeof(inj->db_pidfile),
                 "%s/mariadb/mariadb.pid", c->paths.run_dir);
        snprintf(inj->broker_pidfile, sizeof(inj->broker_pidfile),
                 "%s/broker/broker.pid", c->paths.run_dir);
        return inj;
}

void injector_free(struct injector *inj)
{
        if (inj == NULL)
                return;
        if (inj->killer_running)
                pthread_join(inj->killer_thread, NULL);
        for (int k = -1; k < FK_COUNT; k++) {
                struct running *r = k < 0 ? &inj->excl : &inj->soft[k];
                if (r->helper > 0)
                        helper_wait(r->helper);
        }
        if (inj->logfd != -1)
                close(inj->logfd);
        free(inj);
}

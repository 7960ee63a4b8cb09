/*
 * fault_campaign: the seeded fault campaign against a running local stack.
 *
 * K parties run many concurrent exchanges (uploads, downloads, aborts,
 * retries with the same msg_id) while the schedule of a seed injects
 * faults: SIGKILL of the daemon at random moments and at its crash
 * points, SIGKILL of mariadbd, KILL CONNECTION of the daemon's session
 * during its COMMIT, broker faults (request errors on Produce, Fetch and
 * OffsetCommit, every broker down then up, added round-trip time), and
 * stalled or slow clients.  After the schedule it lets the system drain,
 * checks the invariants (checks.c) and prints the figures.
 *
 * Run it through tests/faults/faults_campaign.sh, which brings up a
 * private stack.  Every run prints its seed first; `--seed N` with the
 * same --exchanges, --parties and --scale replays the same schedule and
 * the same exchange plans.
 *
 * Exit status: 0 no violation, 1 violations, 2 the campaign itself
 * failed (usage, stack, a fault it could not perform).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#include "campaign.h"
#include "hex.h"
#include "injector.h"
#include "schedule.h"

#define FC_DEFAULT_EXCHANGES 320
#define FC_DEFAULT_PARTIES   8
#define FC_DEFAULT_INFLIGHT  16
#define FC_DEFAULT_DRAIN_S   180
#define FC_TICK_US           10000
#define FC_STATUS_MS         10000
#define FC_VIOLATIONS_SHOWN  200

static struct campaign *fc_current; /* for campaign_violation's context */

int64_t campaign_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void campaign_note(struct campaign *c, const char *fmt, ...)
{
        va_list ap;

        printf("[%7.1f s] ", (campaign_now_ms() - c->t0) / 1000.0);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

void campaign_violation(struct campaign *c, const struct exchange *x,
                        const char *fmt, ...)
{
        va_list ap;

        c->violations++;
        if (c->violations > FC_VIOLATIONS_SHOWN)
                return;
        printf("VIOLATION");
        if (x != NULL)
                printf(" [exchange %ld %s %s->%s %s%s]", x->id, x->file_id,
                       c->parties[x->a].u.name, c->parties[x->b].u.name,
                       workload_mode_name(x->mode),
                       x->patient ? " patient" : "");
        printf(": ");
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
        fflush(stdout);
}

void campaign_fatal(const char *fmt, ...)
{
        va_list ap;

        fflush(stdout);
        fprintf(stderr, "fault_campaign: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        if (fc_current != NULL)
                fprintf(stderr, "fault_campaign: seed=%" PRIu64 "\n",
                        fc_current->seed);
        exit(2);
}

static void usage(FILE *out)
{
        fprintf(out,
                "usage: fault_campaign --stack TDS_STACK --broker-ctl CTL "
                "[--seed N]\n"
                "                      [--exchanges N] [--parties K] "
                "[--inflight W] [--scale S]\n"
                "                      [--soak] [--drain SECONDS] "
                "[--daemons N] [--verbose]\n"
                "\n"
                "Runs against the stack `tds-stack env` describes (its "
                "variables in the\n"
                "environment).  Defaults: %d exchanges, %d parties, %d at "
                "once, scale 1\n"
                "(the CI campaign); --soak is scale 5 and 5 times the "
                "exchanges.\n"
                "--daemons N: the stack runs N TTP daemons in one consumer "
                "group\n"
                "(tds-stack with TDS_TTPD_COUNT=N); the daemon faults take "
                "turns\n"
                "among them.\n",
                FC_DEFAULT_EXCHANGES, FC_DEFAULT_PARTIES, FC_DEFAULT_INFLIGHT);
}

static const char *need_env(const char *name)
{
        const char *v = getenv(name);

        if (v == NULL || *v == '\0')
                campaign_fatal("%s is not set: run under faults_campaign.sh "
                               "or eval \"$(tds-stack env)\"",
                               name);
        return v;
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno != 0 || *end != '\0' || end == s || v < min || v > max)
                campaign_fatal("%s %s: expected %ld..%ld", opt, s, min, max);
        return v;
}

static uint64_t random_seed(void)
{
        unsigned char b[4];
        uint64_t v = 0;

        if (crypto_random(b, sizeof(b), NULL, 0) == -1)
                return (uint64_t)time(NULL);
        for (int i = 0; i < 4; i++)
                v = (v << 8) | b[i];
        return v;
}

/* Figures a daemon's log holds: how the lost COMMITs resolved, the
 * crash points, redelivered messages skipped, and any offset alarm.
 * Daemon `n` (1 is the first) logs to tds-stack's ttp/ttpd[n].log. */
static void scan_daemon_log(struct campaign *c, int n)
{
        char path[2048], line[4096], num[16] = "";
        struct figures *f = &c->fig;
        FILE *fp;

        if (n > 1)
                snprintf(num, sizeof(num), "%d", n);
        snprintf(path, sizeof(path), "%s/ttp/ttpd%s.log", c->paths.run_dir,
                 num);
        if ((fp = fopen(path, "r")) == NULL) {
                campaign_violation(c, NULL, "%s: %s", path, strerror(errno));
                return;
        }
        while (fgets(line, sizeof(line), fp) != NULL) {
                if (strstr(line, "commit lost with the connection had "
                                 "happened"))
                        f->log_commit_happened++;
                else if (strstr(line, "commit lost with the connection; it "
                                      "did not happen"))
                        f->log_commit_not++;
                else if (strstr(line, "commit lost with the connection; "
                                      "outcome unknown"))
                        f->log_commit_unknown++;
                if (strstr(line, "relay: database: commit: Lost connection"))
                        f->log_relay_commit_lost++;
                if (strstr(line, "Lost connection to server during query"))
                        f->log_conn_lost++;
                if (strstr(line, "was applied before; continuing at"))
                        f->log_skipped++;
                if (strstr(line, "test crash point '"))
                        f->log_crash_points++;
                if (strstr(line, "ALARM")) {
                        f->log_alarm++;
                        line[strcspn(line, "\n")] = '\0';
                        campaign_violation(c, NULL, "the daemon's log: %s",
                                           line);
                }
        }
        fclose(fp);
}

static void print_figures(struct campaign *c, const struct schedule *s,
                          double wall)
{
        const struct figures *f = &c->fig;
        long kills_by_us =
            f->fired[FK_TTPD_KILL] + f->fired[FK_TTPD_AFTER_COMMIT] +
            f->fired[FK_TTPD_AFTER_PUBLISH] + f->fired[FK_TTPD_MID_BATCH];
        long broker = 0;

        for (int k = FK_BROKER_DOWN; k <= FK_BROKER_RTT; k++)
                broker += f->fired[k];
        printf("\n== figures (seed=%" PRIu64 ", scale %d, %d parties, %d at "
               "once)\n",
               c->seed, c->scale, c->nparties, c->inflight);
        printf("wall time             %.0f s\n", wall);
        printf("exchanges             %ld started, %ld finished\n",
               f->exchanges_started, f->exchanges_done);
        printf("  by plan             ");
        for (int m = 0; m < XM_COUNT; m++)
                printf("%s%s %ld", m ? ", " : "", workload_mode_name(m),
                       f->by_mode[m]);
        printf("\n  patient / eager     %ld / %ld\n", f->patient, f->eager);
        printf("  completed           %ld (receipt to A and delivery to B)\n",
               f->delivered);
        printf("  aborted             %ld (outcome 1: %ld, 2: %ld, 3: %ld)\n",
               f->outcome[1] + f->outcome[2] + f->outcome[3], f->outcome[1],
               f->outcome[2], f->outcome[3]);
        printf("requests              %ld distinct, %ld produces: %ld resent "
               "after a timeout,\n"
               "                      %ld sent twice at once, %ld remade after "
               "a refused produce\n",
               f->requests, f->sends, f->resends, f->eager_dups, f->remakes);
        printf("produce failures      %ld\n", f->produce_failed);
        printf("replies               %ld distinct, %ld duplicates dropped "
               "(same msg_id)\n",
               f->replies, f->dups_dropped);
        printf("consumer errors       %ld tolerated (broker faults)\n",
               f->transient);
        printf("faults                %zu scheduled, fired:\n", s->n);
        for (int k = 0; k < FK_COUNT; k++)
                printf("  %-27s %ld\n", schedule_kind_name(k), f->fired[k]);
        printf("daemon kills          %ld (%ld SIGKILL by the campaign, %ld at "
               "crash points:\n"
               "                      after-commit %ld, after-publish %ld, "
               "mid-batch %ld; missed %ld)\n",
               f->ttpd_kills,
               f->ttpd_kills - f->crash_reached[0] - f->crash_reached[1] -
                   f->crash_reached[2],
               f->crash_reached[0] + f->crash_reached[1] + f->crash_reached[2],
               f->crash_reached[0], f->crash_reached[1], f->crash_reached[2],
               f->crash_missed[0] + f->crash_missed[1] + f->crash_missed[2]);
        if (c->daemons > 1) {
                printf("  by daemon           ");
                printf("ttpd %ld", f->ttpd_kills_of[0]);
                for (int i = 1; i < c->daemons; i++)
                        printf(", ttpd%d %ld", i + 1, f->ttpd_kills_of[i]);
                printf(" (one group: each kill moved partitions to the "
                       "others and back)\n");
        }
        printf("daemon starts         %ld (%ld daemon faults, %ld of them "
               "with a crash point)\n",
               f->ttpd_starts, kills_by_us,
               kills_by_us - f->fired[FK_TTPD_KILL]);
        printf("database              %ld SIGKILL + restart, %ld of them while "
               "PROCESSLIST showed\n"
               "                      the daemon's COMMIT; probes after the "
               "last COMMIT: %ld answered\n"
               "                      of %ld\n",
               f->db_kills, f->db_kill_commit, f->probes_answered, f->probes);
        printf("KILL CONNECTION       %ld issued while PROCESSLIST showed the "
               "daemon's COMMIT,\n"
               "                      %ld while it ran another statement, %ld "
               "found no session\n",
               f->conn_kill_commit, f->conn_kill_other, f->conn_kill_none);
        printf("  the daemon's view   %ld statements lost their connection "
               "(2013); COMMITs lost:\n"
               "                      engine %ld (resolved by reading the "
               "offset back: %ld had\n"
               "                      happened, %ld had not, %ld unknown at "
               "first), relay %ld\n",
               f->log_conn_lost,
               f->log_commit_happened + f->log_commit_not +
                   f->log_commit_unknown,
               f->log_commit_happened, f->log_commit_not, f->log_commit_unknown,
               f->log_relay_commit_lost);
        printf("broker faults         %ld\n", broker);
        printf("redeliveries skipped  %ld (offset already applied)\n",
               f->log_skipped);
        printf("orphan objects        %ld (object files no upload refers to)\n",
               f->orphan_objects);
        printf("deaths without fault  %ld\n", f->own_deaths);
        printf("violations            %ld\n", c->violations);
}

/*
 * The campaign did what it promised (scale 1 is the CI campaign: at
 * least its exchanges, 20 daemon kills, 2 database restarts, every broker
 * fault): a run that injected less proves less, so it fails even
 * without violations.
 */
static int shortfall(const struct campaign *c, const struct schedule *s,
                     char *why, size_t whylen)
{
        const struct figures *f = &c->fig;

        why[0] = '\0';
        if (f->exchanges_done < c->min_exchanges)
                snprintf(why, whylen,
                         "%ld exchanges finished, at least %ld "
                         "promised",
                         f->exchanges_done, c->min_exchanges);
        else if (f->ttpd_kills < 20L * c->scale)
                snprintf(why, whylen,
                         "%ld daemon kills, at least %ld "
                         "promised",
                         f->ttpd_kills, 20L * c->scale);
        for (int i = 0; i < c->daemons && why[0] == '\0' && c->scale > 0; i++)
                if (f->ttpd_kills_of[i] == 0)
                        snprintf(why, whylen,
                                 "daemon %d of %d was never killed: its "
                                 "partitions never moved",
                                 i + 1, c->daemons);
        if (why[0] == '\0' && f->db_kills < 2L * c->scale)
                snprintf(why, whylen,
                         "%ld database kills, at least %ld "
                         "promised",
                         f->db_kills, 2L * c->scale);
        for (int k = 0; k < FK_COUNT && why[0] == '\0'; k++)
                if (f->fired[k] != s->count[k])
                        snprintf(why, whylen, "%ld of %d %s faults fired",
                                 f->fired[k], s->count[k],
                                 schedule_kind_name(k));
        return why[0] != '\0';
}

/* Tick the workload and the injector until `done` or `deadline`. */
static int run_until(struct campaign *c, struct injector *inj,
                     int (*done)(struct campaign *), int may_start,
                     int64_t deadline)
{
        int64_t next_status = campaign_now_ms() + FC_STATUS_MS;

        while (!done(c)) {
                int64_t now = campaign_now_ms();
                char running[512];

                if (now >= deadline)
                        return -1;
                workload_tick(c, now, may_start);
                injector_tick(inj, now);
                if (now >= next_status) {
                        injector_running(inj, running, sizeof(running));
                        campaign_note(c,
                                      "progress %ld: %ld exchanges started, "
                                      "%ld finished, %ld in flight; faults "
                                      "left %zu%s%s",
                                      c->progress, c->fig.exchanges_started,
                                      c->fig.exchanges_done, c->active,
                                      injector_faults_left(inj),
                                      running[0] ? "; running: " : "", running);
                        next_status = now + FC_STATUS_MS;
                }
                usleep(FC_TICK_US);
        }
        return 0;
}

static struct injector *fc_inj;

/* The schedule is through: every fault fired and over, and the minimum
 * of exchanges started. */
static int schedule_through(struct campaign *c)
{
        return injector_done(fc_inj) &&
               c->fig.exchanges_started >= c->min_exchanges;
}

static int all_done(struct campaign *c)
{
        return workload_all_done(c);
}

static long fc_unsent = -1;

static int outbox_drained(struct campaign *c)
{
        static int64_t next;
        int64_t now = campaign_now_ms();
        char err[512];

        if (now >= next) {
                next = now + 500;
                fc_unsent = checks_outbox_unsent(c, err, sizeof(err));
        }
        return fc_unsent == 0;
}

static int64_t fc_quiet_until;

static int quiet_over(struct campaign *c)
{
        (void)c;
        return campaign_now_ms() >= fc_quiet_until;
}

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"seed", required_argument, NULL, 's'},
            {"exchanges", required_argument, NULL, 'e'},
            {"parties", required_argument, NULL, 'p'},
            {"inflight", required_argument, NULL, 'w'},
            {"scale", required_argument, NULL, 'S'},
            {"soak", no_argument, NULL, 'k'},
            {"drain", required_argument, NULL, 'd'},
            {"daemons", required_argument, NULL, 'D'},
            {"stack", required_argument, NULL, 't'},
            {"broker-ctl", required_argument, NULL, 'b'},
            {"verbose", no_argument, NULL, 'v'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        static struct campaign c;
        struct schedule s;
        FILE *clients_log = NULL;
        char err[PC_ERR_MAX], tag[9];
        unsigned char rnd[4];
        int ch, seeded = 0, soak = 0, status;
        int64_t deadline;
        double wall;

        memset(&c, 0, sizeof(c));
        c.min_exchanges = FC_DEFAULT_EXCHANGES;
        c.nparties = FC_DEFAULT_PARTIES;
        c.inflight = FC_DEFAULT_INFLIGHT;
        c.scale = 1;
        c.daemons = 1;
        c.drain_s = FC_DEFAULT_DRAIN_S;
        while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
                switch (ch) {
                case 's':
                        c.seed = (uint64_t)parse_long("--seed", optarg, 0,
                                                      INT64_MAX);
                        seeded = 1;
                        break;
                case 'e':
                        c.min_exchanges =
                            parse_long("--exchanges", optarg, 1, 1000000);
                        break;
                case 'p':
                        c.nparties = (int)parse_long("--parties", optarg, 2,
                                                     CAMPAIGN_PARTIES_MAX);
                        break;
                case 'w':
                        c.inflight =
                            (int)parse_long("--inflight", optarg, 1, 1000);
                        break;
                case 'S':
                        c.scale = (int)parse_long("--scale", optarg, 0, 100);
                        break;
                case 'k':
                        soak = 1;
                        break;
                case 'd':
                        c.drain_s =
                            (int)parse_long("--drain", optarg, 10, 3600);
                        break;
                case 'D':
                        c.daemons = (int)parse_long("--daemons", optarg, 1,
                                                    CAMPAIGN_DAEMONS_MAX);
                        break;
                case 't':
                        c.paths.stack = optarg;
                        break;
                case 'b':
                        c.paths.broker_ctl = optarg;
                        break;
                case 'v':
                        c.verbose = 1;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc || c.paths.stack == NULL ||
            c.paths.broker_ctl == NULL) {
                usage(stderr);
                return 2;
        }
        if (soak) {
                c.scale *= 5;
                c.min_exchanges *= 5;
        }
        if (!seeded)
                c.seed = random_seed();
        fc_current = &c;
        setvbuf(stdout, NULL, _IOLBF, 0);
        printf("seed=%" PRIu64 "\n", c.seed);
        c.t0 = campaign_now_ms();
        c.paths.bootstrap = need_env("TDS_BOOTSTRAP");
        c.paths.store = need_env("TDS_STORE");
        c.paths.admin_cnf = need_env("TDS_DB_ADMIN_CNF");
        c.paths.ttp_pub = need_env("TDS_TTP_PUBLIC_KEY");
        c.paths.broker_fifo = need_env("TDS_BROKER_CONTROL");
        c.paths.run_dir = need_env("TDS_RUN_DIR");
        /* File ids unique to this run, whatever the seed. */
        if (crypto_random(rnd, sizeof(rnd), err, sizeof(err)) == -1)
                campaign_fatal("%s", err);
        hex_encode(rnd, sizeof(rnd), tag, sizeof(tag));
        snprintf(c.tag, sizeof(c.tag), "fc%s", tag);
        prng_init(&c.jitter, random_seed(), 3);
        if (mysql_library_init(0, NULL, NULL) != 0)
                campaign_fatal("cannot initialise the MariaDB client library");
        if ((c.ttp_key = pc_key_from_pem_file(c.paths.ttp_pub, err,
                                              sizeof(err))) == NULL)
                campaign_fatal("TTP key: %s", err);
        if (schedule_build(&s, c.seed, c.scale, c.min_exchanges, c.nparties) ==
            -1)
                campaign_fatal("out of memory");
        printf("campaign: %ld exchanges at least, %d parties, %d at once, "
               "scale %d, %d daemon(s), %zu faults:\n",
               c.min_exchanges, c.nparties, c.inflight, c.scale, c.daemons,
               s.n);
        schedule_print(&s, stdout);
        printf("replay: faults_campaign.sh BUILD_DIR --seed %" PRIu64
               " --exchanges %ld --parties %d --inflight %d --scale %d"
               " --daemons %d\n",
               c.seed, c.min_exchanges, c.nparties, c.inflight, c.scale,
               c.daemons);
        if ((fc_inj = injector_new(&c, &s, err, sizeof(err))) == NULL)
                campaign_fatal("%s", err);
        {
                char path[2048];

                /* The clients' librdkafka chatter (every broker fault makes
                 * plenty) goes to a file of the run, not to the story. */
                snprintf(path, sizeof(path), "%s/faults/clients.log",
                         c.paths.run_dir);
                if ((clients_log = fopen(path, "a")) == NULL)
                        campaign_fatal("%s: %s", path, strerror(errno));
                pc_log_to(clients_log);
        }
        if (workload_init(&c, err, sizeof(err)) == -1)
                campaign_fatal("parties: %s", err);
        if (workload_register(&c, 60000, err, sizeof(err)) == -1)
                campaign_fatal("%s", err);
        campaign_note(&c, "%d parties registered; exchanges start", c.nparties);

        /* The schedule, with exchanges all along. */
        deadline = campaign_now_ms() + 30LL * 60 * 1000 * (c.scale + 1);
        if (run_until(&c, fc_inj, schedule_through, 1, deadline) == -1)
                campaign_violation(&c, NULL,
                                   "the schedule did not complete in %d "
                                   "minutes (progress %ld, %zu faults left)",
                                   30 * (c.scale + 1), c.progress,
                                   injector_faults_left(fc_inj));
        campaign_note(&c, "schedule through: %ld exchanges started; draining",
                      c.fig.exchanges_started);

        /* Drain: no more faults, no new exchanges, everything answered. */
        if (injector_settle(fc_inj, 120, err, sizeof(err)) == -1)
                campaign_fatal("settling: %s", err);
        deadline = campaign_now_ms() + (int64_t)c.drain_s * 1000;
        if (run_until(&c, fc_inj, all_done, 0, deadline) == -1)
                campaign_note(&c,
                              "drain: %ld exchange(s) still open after "
                              "%d s",
                              c.active, c.drain_s);
        if (run_until(&c, fc_inj, outbox_drained, 0,
                      campaign_now_ms() + 60000) == -1)
                campaign_note(&c,
                              "drain: the outbox still has %ld unsent "
                              "row(s) after 60 s",
                              fc_unsent);
        /* A little longer, for late duplicates to be read and dropped. */
        fc_quiet_until = campaign_now_ms() + 2000;
        run_until(&c, fc_inj, quiet_over, 0, fc_quiet_until + 1000);
        campaign_note(&c, "drained: %ld exchanges finished; checking",
                      c.fig.exchanges_done);

        if (checks_run(&c, err, sizeof(err)) == -1)
                campaign_fatal("checks: %s", err);
        for (int n = 1; n <= c.daemons; n++)
                scan_daemon_log(&c, n);
        for (int i = 0; i < c.nparties; i++) {
                c.fig.dups_dropped += pc_reader_dups(c.parties[i].r, NULL);
                c.fig.transient += pc_reader_transient(c.parties[i].r, NULL, 0);
        }
        wall = (campaign_now_ms() - c.t0) / 1000.0;
        print_figures(&c, &s, wall);
        status = c.violations > 0 ? 1 : 0;
        if (status == 0 && shortfall(&c, &s, err, sizeof(err))) {
                printf("SHORTFALL: %s\n", err);
                status = 2;
        }
        printf("%s: seed=%" PRIu64 ", %ld violation%s\n",
               status ? "FAIL" : "PASS", c.seed, c.violations,
               c.violations == 1 ? "" : "s");
        injector_free(fc_inj);
        workload_fini(&c);
        schedule_fini(&s);
        crypto_key_free(c.ttp_key);
        mysql_library_end();
        if (clients_log != NULL)
                fclose(clients_log);
        return status;
}

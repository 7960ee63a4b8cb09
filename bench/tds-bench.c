/*
 * tds-bench: the full-stack benchmark of TDS (docs/performance.md).
 *
 * It measures the cryptographic bound in-process first (calib.c), then
 * registers simulated users and uploads the files they will exchange
 * (not measured), then runs one or more measured steps (driver.c) and
 * reports them as text and JSON, with the ratio of what the stack
 * achieved to what the TTP's signatures alone would allow.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "calib.h"
#include "driver.h"
#include "log.h"

#define BENCH_STEPS_MAX 32

/*
 * What the TTP computes per operation, counted in ttp/engine.c:
 * download.request: the envelope sig verified (check_sender);
 * download.receipt: no envelope sig, B's NRR verified, the exchange
 * evidence signed once (receipt and delivery carry the same ttp_sig).
 * upload.request: the envelope sig verified; upload.commit: A's NRO
 * verified, the document hashed once while copied, the upload evidence
 * signed.  Users' keys are parsed once (keycache.c), so no parse counts.
 */
#define TTP_EXCHANGE_SIGNS    1
#define TTP_EXCHANGE_VERIFIES 2
#define TTP_UPLOAD_SIGNS      1
#define TTP_UPLOAD_VERIFIES   2
/* And what the simulated clients do per operation (driver.c). */
#define CLIENT_EXCHANGE_SIGNS    2 /* B: download.request sig, NRR */
#define CLIENT_EXCHANGE_VERIFIES 3 /* B: NRO, delivery ttp_sig; A: receipt */
#define CLIENT_UPLOAD_SIGNS      2 /* A: upload.request sig, NRO */
#define CLIENT_UPLOAD_VERIFIES   1 /* A: upload.result ttp_sig */

struct options {
        struct driver_conf dc;
        struct step_conf sc;
        double sweep[BENCH_STEPS_MAX];
        size_t nsweep;
        const char *json_path;
        const char *text_path;
        const char *plot_path;
        double calib_seconds;
        double cores;
};

static void usage(FILE *f)
{
        fprintf(
            f, "usage: tds-bench [options]\n"
               "Drive simulated TDS users through the real protocol over "
               "Kafka against a\n"
               "running stack (scripts/tds-stack up) and report throughput, "
               "latency, the\n"
               "TTP's CPU and memory, and the cryptographic bound "
               "(docs/performance.md).\n"
               "\n"
               "Load:\n"
               "  --scenario exchange|upload  downloads of uploaded files "
               "(steps 4-8), or\n"
               "                          uploads (steps 1-3) (default "
               "exchange)\n"
               "  --mode closed|open      N operations in flight, or a fixed "
               "offered rate\n"
               "                          (default closed)\n"
               "  --concurrency N         closed loop: operations in flight "
               "(default 16)\n"
               "  --rate R                open loop: operations started per "
               "second (default 100)\n"
               "  --sweep LIST            several steps: comma-separated "
               "concurrencies (closed)\n"
               "                          or rates (open), each with its own "
               "warmup and window\n"
               "  --duration S            measured seconds per step (default "
               "10)\n"
               "  --warmup S              seconds before each window (default "
               "2)\n"
               "  --users U               simulated users (default 100)\n"
               "  --files F               files uploaded during setup "
               "(default 2 * users)\n"
               "  --upload-size BYTES     size of every document, k/M suffix "
               "for KiB/MiB\n"
               "                          (default 1024)\n"
               "  --client-fsync          fsync documents written to incoming/ "
               "as tds does\n"
               "  --max-inflight N        open loop: shed starts beyond N in "
               "flight (10000)\n"
               "  --setup-concurrency N   operations in flight during setup "
               "(default 32)\n"
               "  --timeout S             an operation not done within S "
               "seconds fails (30)\n"
               "Stack (defaults from `eval \"$(scripts/tds-stack env)\"`):\n"
               "  --bootstrap HOST:PORT   Kafka ($TDS_BOOTSTRAP)\n"
               "  --store DIR             the TTP's store root ($TDS_STORE)\n"
               "  --ttp-key FILE          the TTP's public key PEM "
               "($TDS_TTP_PUBLIC_KEY)\n"
               "  --prefix P              topic prefix (default tds)\n"
               "  -X KEY=VALUE            librdkafka property for the bench's "
               "clients\n"
               "Measurement:\n"
               "  --ttpd-pid PID          the daemon: CPU (/proc/PID/stat) and "
               "RSS (VmRSS, VmHWM);\n"
               "                          again for each daemon of one "
               "consumer group: summed\n"
               "  --db-pid PID            MariaDB, likewise (optional)\n"
               "  --broker-pid PID        the broker, likewise (optional)\n"
               "  --cores N               cores for the bound (default: online "
               "CPUs)\n"
               "  --calib-seconds S       time of each crypto measurement "
               "(default 1)\n"
               "  --on-window CMD         run CMD (sh -c) as each window "
               "starts, with\n"
               "                          TDS_BENCH_STEP and "
               "TDS_BENCH_WINDOW_S set: a profiler\n"
               "Output:\n"
               "  --json FILE             the results as JSON\n"
               "  --text FILE             the text report, also printed\n"
               "  --plot-data FILE        gnuplot data (bench/plot.gp)\n"
               "  -v                      log each failure and librdkafka's "
               "debug lines\n"
               "  -h, --help              this text\n"
               "Exit status: 0 when operations completed without error, 1 "
               "otherwise, 2 for\n"
               "bad usage.\n");
}

static int parse_double(const char *opt, const char *s, double min, double max,
                        double *out)
{
        char *end;
        double v;

        errno = 0;
        v = strtod(s, &end);
        if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
                fprintf(stderr,
                        "tds-bench: %s: '%s' is not a number in %g..%g\n", opt,
                        s, min, max);
                return -1;
        }
        *out = v;
        return 0;
}

static int parse_uint(const char *opt, const char *s, unsigned min,
                      unsigned max, unsigned *out)
{
        double v;

        if (parse_double(opt, s, min, max, &v) == -1)
                return -1;
        if (v != floor(v)) {
                fprintf(stderr, "tds-bench: %s: '%s' is not an integer\n", opt,
                        s);
                return -1;
        }
        *out = (unsigned)v;
        return 0;
}

static int parse_size(const char *s, uint64_t *out)
{
        char *end;
        unsigned long long v;
        uint64_t mult = 1;

        errno = 0;
        v = strtoull(s, &end, 10);
        if (end != s && (*end == 'k' || *end == 'K')) {
                mult = 1024;
                end++;
        } else if (end != s && (*end == 'm' || *end == 'M')) {
                mult = 1024 * 1024;
                end++;
        }
        if (errno != 0 || end == s || *end != '\0' || s[0] == '-' ||
            v > (1ULL << 32) / mult) {
                fprintf(stderr,
                        "tds-bench: --upload-size: '%s' is not a size "
                        "(bytes, or with k or M, at most 4 GiB)\n",
                        s);
                return -1;
        }
        *out = v * mult;
        return 0;
}

static int parse_sweep(const char *s, struct options *o)
{
        char buf[512], *tok, *save = NULL;

        snprintf(buf, sizeof(buf), "%s", s);
        for (tok = strtok_r(buf, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
                if (o->nsweep == BENCH_STEPS_MAX) {
                        fprintf(stderr,
                                "tds-bench: --sweep: at most %d steps\n",
                                BENCH_STEPS_MAX);
                        return -1;
                }
                if (parse_double("--sweep", tok, 0.001, 1e7,
                                 &o->sweep[o->nsweep]) == -1)
                        return -1;
                o->nsweep++;
        }
        if (o->nsweep == 0) {
                fprintf(stderr, "tds-bench: --sweep: empty list\n");
                return -1;
        }
        return 0;
}

static int parse_pid(const char *opt, const char *s, pid_t *out)
{
        unsigned v;

        if (parse_uint(opt, s, 1, 1u << 30, &v) == -1)
                return -1;
        *out = (pid_t)v;
        return 0;
}

/* 0 to run, 1 to exit 0 (help), -1 to exit 2. */
static int parse_options(int argc, char **argv, struct options *o)
{
        enum {
                O_MODE = 256,
                O_SCENARIO,
                O_CONCURRENCY,
                O_RATE,
                O_SWEEP,
                O_DURATION,
                O_WARMUP,
                O_USERS,
                O_FILES,
                O_UPLOAD_SIZE,
                O_CLIENT_FSYNC,
                O_MAX_INFLIGHT,
                O_SETUP_CONC,
                O_TIMEOUT,
                O_BOOTSTRAP,
                O_STORE,
                O_TTP_KEY,
                O_PREFIX,
                O_TTPD_PID,
                O_DB_PID,
                O_BROKER_PID,
                O_CORES,
                O_CALIB,
                O_JSON,
                O_TEXT,
                O_PLOT,
                O_ON_WINDOW
        };
        static const struct option longopts[] = {
            {"mode", required_argument, NULL, O_MODE},
            {"scenario", required_argument, NULL, O_SCENARIO},
            {"concurrency", required_argument, NULL, O_CONCURRENCY},
            {"rate", required_argument, NULL, O_RATE},
            {"sweep", required_argument, NULL, O_SWEEP},
            {"duration", required_argument, NULL, O_DURATION},
            {"warmup", required_argument, NULL, O_WARMUP},
            {"users", required_argument, NULL, O_USERS},
            {"files", required_argument, NULL, O_FILES},
            {"upload-size", required_argument, NULL, O_UPLOAD_SIZE},
            {"client-fsync", no_argument, NULL, O_CLIENT_FSYNC},
            {"max-inflight", required_argument, NULL, O_MAX_INFLIGHT},
            {"setup-concurrency", required_argument, NULL, O_SETUP_CONC},
            {"timeout", required_argument, NULL, O_TIMEOUT},
            {"bootstrap", required_argument, NULL, O_BOOTSTRAP},
            {"store", required_argument, NULL, O_STORE},
            {"ttp-key", required_argument, NULL, O_TTP_KEY},
            {"prefix", required_argument, NULL, O_PREFIX},
            {"ttpd-pid", required_argument, NULL, O_TTPD_PID},
            {"db-pid", required_argument, NULL, O_DB_PID},
            {"broker-pid", required_argument, NULL, O_BROKER_PID},
            {"cores", required_argument, NULL, O_CORES},
            {"calib-seconds", required_argument, NULL, O_CALIB},
            {"json", required_argument, NULL, O_JSON},
            {"text", required_argument, NULL, O_TEXT},
            {"plot-data", required_argument, NULL, O_PLOT},
            {"on-window", required_argument, NULL, O_ON_WINDOW},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        int ch, files_set = 0;
        unsigned files = 0;
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

        memset(o, 0, sizeof(*o));
        o->dc.bootstrap = getenv("TDS_BOOTSTRAP");
        o->dc.store = getenv("TDS_STORE");
        o->dc.ttp_key_path = getenv("TDS_TTP_PUBLIC_KEY");
        o->dc.prefix = "tds";
        o->dc.users = 100;
        o->dc.upload_size = 1024;
        o->dc.setup_concurrency = 32;
        o->dc.timeout = 30;
        o->sc.scenario = DRIVER_EXCHANGE;
        o->sc.mode = DRIVER_CLOSED;
        o->sc.concurrency = 16;
        o->sc.rate = 100;
        o->sc.max_inflight = 10000;
        o->sc.warmup = 2;
        o->sc.duration = 10;
        o->calib_seconds = 1;
        o->cores = ncpu > 0 ? (double)ncpu : 1;
        while ((ch = getopt_long(argc, argv, "hvX:", longopts, NULL)) != -1) {
                switch (ch) {
                case O_MODE:
                        if (strcmp(optarg, "closed") == 0)
                                o->sc.mode = DRIVER_CLOSED;
                        else if (strcmp(optarg, "open") == 0)
                                o->sc.mode = DRIVER_OPEN;
                        else {
                                fprintf(stderr, "tds-bench: --mode: closed "
                                                "or open\n");
                                return -1;
                        }
                        break;
                case O_SCENARIO:
                        if (strcmp(optarg, "exchange") == 0)
                                o->sc.scenario = DRIVER_EXCHANGE;
                        else if (strcmp(optarg, "upload") == 0)
                                o->sc.scenario = DRIVER_UPLOAD;
                        else {
                                fprintf(stderr, "tds-bench: --scenario: "
                                                "exchange or upload\n");
                                return -1;
                        }
                        break;
                case O_CONCURRENCY:
                        if (parse_uint("--concurrency", optarg, 1, 1000000,
                                       &o->sc.concurrency) == -1)
                                return -1;
                        break;
                case O_RATE:
                        if (parse_double("--rate", optarg, 0.001, 1e7,
                                         &o->sc.rate) == -1)
                                return -1;
                        break;
                case O_SWEEP:
                        if (parse_sweep(optarg, o) == -1)
                                return -1;
                        break;
                case O_DURATION:
                        if (parse_double("--duration", optarg, 0.1, 1e6,
                                         &o->sc.duration) == -1)
                                return -1;
                        break;
                case O_WARMUP:
                        if (parse_double("--warmup", optarg, 0, 1e6,
                                         &o->sc.warmup) == -1)
                                return -1;
                        break;
                case O_USERS:
                        if (parse_uint("--users", optarg, 2, 10000000,
                                       &o->dc.users) == -1)
                                return -1;
                        break;
                case O_FILES:
                        if (parse_uint("--files", optarg, 1, 10000000,
                                       &files) == -1)
                                return -1;
                        files_set = 1;
                        break;
                case O_UPLOAD_SIZE:
                        if (parse_size(optarg, &o->dc.upload_size) == -1)
                                return -1;
                        break;
                case O_CLIENT_FSYNC:
                        o->dc.client_fsync = 1;
                        break;
                case O_MAX_INFLIGHT:
                        if (parse_uint("--max-inflight", optarg, 1, 10000000,
                                       &o->sc.max_inflight) == -1)
                                return -1;
                        break;
                case O_SETUP_CONC:
                        if (parse_uint("--setup-concurrency", optarg, 1, 100000,
                                       &o->dc.setup_concurrency) == -1)
                                return -1;
                        break;
                case O_TIMEOUT:
                        if (parse_double("--timeout", optarg, 1, 3600,
                                         &o->dc.timeout) == -1)
                                return -1;
                        break;
                case O_BOOTSTRAP:
                        o->dc.bootstrap = optarg;
                        break;
                case O_STORE:
                        o->dc.store = optarg;
                        break;
                case O_TTP_KEY:
                        o->dc.ttp_key_path = optarg;
                        break;
                case O_PREFIX:
                        o->dc.prefix = optarg;
                        break;
                case O_TTPD_PID:
                        /* Again for each daemon of the group. */
                        if (o->dc.nttpd == DRIVER_TTPD_MAX) {
                                fprintf(stderr,
                                        "tds-bench: --ttpd-pid: at most %d\n",
                                        DRIVER_TTPD_MAX);
                                return -1;
                        }
                        if (parse_pid("--ttpd-pid", optarg,
                                      &o->dc.ttpd_pids[o->dc.nttpd]) == -1)
                                return -1;
                        o->dc.nttpd++;
                        break;
                case O_DB_PID:
                        if (parse_pid("--db-pid", optarg, &o->dc.db_pid) == -1)
                                return -1;
                        break;
                case O_BROKER_PID:
                        if (parse_pid("--broker-pid", optarg,
                                      &o->dc.broker_pid) == -1)
                                return -1;
                        break;
                case O_CORES:
                        if (parse_double("--cores", optarg, 0.01, 4096,
                                         &o->cores) == -1)
                                return -1;
                        break;
                case O_CALIB:
                        if (parse_double("--calib-seconds", optarg, 0.05, 60,
                                         &o->calib_seconds) == -1)
                                return -1;
                        break;
                case O_JSON:
                        o->json_path = optarg;
                        break;
                case O_TEXT:
                        o->text_path = optarg;
                        break;
                case O_PLOT:
                        o->plot_path = optarg;
                        break;
                case O_ON_WINDOW:
                        o->dc.on_window = optarg;
                        break;
                case 'X':
                        if (o->dc.nprops == DRIVER_MAX_PROPS) {
                                fprintf(stderr, "tds-bench: too many -X\n");
                                return -1;
                        }
                        o->dc.props[o->dc.nprops++] = optarg;
                        break;
                case 'v':
                        o->dc.verbose++;
                        break;
                case 'h':
                        usage(stdout);
                        return 1;
                default:
                        usage(stderr);
                        return -1;
                }
        }
        if (optind != argc) {
                fprintf(stderr, "tds-bench: unexpected argument '%s'\n",
                        argv[optind]);
                return -1;
        }
        if (o->dc.bootstrap == NULL || o->dc.store == NULL ||
            o->dc.ttp_key_path == NULL) {
                fprintf(stderr,
                        "tds-bench: --bootstrap, --store and --ttp-key are "
                        "needed (or eval \"$(scripts/tds-stack env)\" and "
                        "export TDS_BOOTSTRAP TDS_STORE TDS_TTP_PUBLIC_KEY)\n");
                return -1;
        }
        o->dc.files = files_set ? files : 2 * o->dc.users;
        if (o->sc.scenario == DRIVER_UPLOAD && !files_set)
                o->dc.files = 0; /* nothing to download */
        return 0;
}

/* ---- report ------------------------------------------------------------- */

struct report {
        const struct options *o;
        struct calib calib;
        struct setup_stats setup;
        struct step_stats *steps;
        size_t nsteps;
        int partitions;
        char started[32];
};

static double ms(uint64_t us)
{
        return (double)us / 1000.0;
}

static double per_s(const struct step_stats *s)
{
        return s->window_s > 0 ? (double)s->completed / s->window_s : 0;
}

static double ttp_signs(const struct step_stats *s)
{
        return s->conf.scenario == DRIVER_EXCHANGE ? TTP_EXCHANGE_SIGNS
                                                   : TTP_UPLOAD_SIGNS;
}

static double ttp_verifies(const struct step_stats *s)
{
        return s->conf.scenario == DRIVER_EXCHANGE ? TTP_EXCHANGE_VERIFIES
                                                   : TTP_UPLOAD_VERIFIES;
}

static double ttp_sha_bytes(const struct report *r, const struct step_stats *s)
{
        return s->conf.scenario == DRIVER_UPLOAD ? (double)r->o->dc.upload_size
                                                 : 0;
}

/* Seconds of the TTP's cryptography per operation. */
static double crypto_cost(const struct report *r, const struct step_stats *s)
{
        double b = calib_bound(&r->calib, 1, ttp_signs(s), ttp_verifies(s),
                               ttp_sha_bytes(r, s));

        return b > 0 ? 1 / b : 0;
}

static double bound(const struct report *r, const struct step_stats *s,
                    double cores)
{
        return calib_bound(&r->calib, cores, ttp_signs(s), ttp_verifies(s),
                           ttp_sha_bytes(r, s));
}

static uint64_t errors_total(const struct report *r)
{
        uint64_t n = r->setup.err.total;

        for (size_t i = 0; i < r->nsteps; i++)
                n += r->steps[i].err.total;
        return n;
}

static json_t *json_latency(const struct hist *h)
{
        return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:f}", "count",
                         (json_int_t)h->count, "p50", ms(hist_quantile(h, 0.5)),
                         "p95", ms(hist_quantile(h, 0.95)), "p99",
                         ms(hist_quantile(h, 0.99)), "max", ms(h->max), "mean",
                         hist_mean(h) / 1000.0, "min",
                         h->count ? ms(h->min) : 0.0);
}

/* `waits`: report the main thread's waits (the daemon's engine thread;
 * MariaDB and the broker work in other threads). */
static json_t *json_proc(const struct proc_sample *p, pid_t pid, double n,
                         double window, int waits)
{
        if (pid <= 0 || !p->valid)
                return json_null();
        return json_pack(
            "{s:i, s:f, s:o, s:o, s:f, s:I, s:I, s:I, s:I}", "pid", (int)pid,
            "cpu_s", p->cpu_s, "cpu_s_per_op",
            n > 0 ? json_real(p->cpu_s / n) : json_null(),
            "main_thread_waits_per_op",
            n > 0 && waits ? json_real((double)p->waits / n) : json_null(),
            "cpu_utilization", window > 0 ? p->cpu_s / window : 0.0,
            "rss_peak_kb", (json_int_t)p->hwm_kb, "rss_max_sampled_kb",
            (json_int_t)p->rss_max_kb, "rss_start_kb",
            (json_int_t)p->rss_start_kb, "rss_end_kb",
            (json_int_t)p->rss_end_kb);
}

static json_t *json_errors(const struct driver_errors *e)
{
        json_t *codes = json_object();

        for (int i = 1; i < PROTO_CODE_COUNT; i++)
                if (e->ttp[i] > 0)
                        json_object_set_new(
                            codes, proto_code_name((enum proto_code)i),
                            json_integer((json_int_t)e->ttp[i]));
        return json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:s}", "total",
                         (json_int_t)e->total, "timeouts",
                         (json_int_t)e->timeouts, "ttp", codes, "verify",
                         (json_int_t)e->verify, "refused",
                         (json_int_t)e->refused, "transport",
                         (json_int_t)e->transport, "last", e->last);
}

static json_t *json_step(const struct report *r, const struct step_stats *s)
{
        const struct driver_conf *dc = &r->o->dc;
        int exch = s->conf.scenario == DRIVER_EXCHANGE;
        double n = (double)s->completed, rate = per_s(s);
        double cost = crypto_cost(r, s), b = bound(r, s, r->o->cores);
        json_t *o, *ttpd, *timeline = json_array();

        for (size_t i = 0; i < s->nseconds; i++)
                json_array_append_new(
                    timeline,
                    json_pack("{s:f, s:I, s:f, s:f}", "t", s->seconds[i].t,
                              "completed", (json_int_t)s->seconds[i].completed,
                              "p50_ms", ms(s->seconds[i].p50_us), "p99_ms",
                              ms(s->seconds[i].p99_us)));
        o = json_pack(
            "{s:s, s:s, s:I, s:o, s:f, s:f, s:I, s:I}", "scenario",
            exch ? "exchange" : "upload", "mode",
            s->conf.mode == DRIVER_CLOSED ? "closed" : "open", "concurrency",
            (json_int_t)s->conf.concurrency, "offered_rate",
            s->conf.mode == DRIVER_OPEN ? json_real(s->conf.rate) : json_null(),
            "warmup_s", s->conf.warmup, "window_s", s->window_s, "started",
            (json_int_t)s->started, "completed", (json_int_t)s->completed);
        json_object_set_new(o, "exchanges",
                            json_integer(exch ? (json_int_t)s->completed : 0));
        json_object_set_new(o, "exchanges_per_s", json_real(exch ? rate : 0));
        json_object_set_new(o, "uploads",
                            json_integer(exch ? 0 : (json_int_t)s->completed));
        json_object_set_new(o, "uploads_per_s", json_real(exch ? 0 : rate));
        json_object_set_new(
            o, "upload_bytes_per_s",
            json_real(s->window_s > 0 ? (double)s->bytes / s->window_s : 0));
        json_object_set_new(o, "shed", json_integer((json_int_t)s->shed));
        json_object_set_new(o, "late_starts",
                            json_integer((json_int_t)s->late_starts));
        json_object_set_new(o, "stray_replies",
                            json_integer((json_int_t)s->stray));
        json_object_set_new(o, "foreign_replies",
                            json_integer((json_int_t)s->foreign));
        json_object_set_new(o, "errors", json_errors(&s->err));
        if (exch)
                json_object_set_new(
                    o, "latency_ms",
                    json_pack("{s:o, s:o}", "delivery", json_latency(&s->lat_a),
                              "receipt", json_latency(&s->lat_b)));
        else
                json_object_set_new(o, "latency_ms",
                                    json_pack("{s:o}", "upload_result",
                                              json_latency(&s->lat_a)));
        ttpd = json_proc(&s->ttpd, dc->nttpd ? dc->ttpd_pids[0] : 0, n,
                         s->window_s, 1);
        if (json_is_object(ttpd))
                json_object_set_new(ttpd, "daemons",
                                    json_integer((json_int_t)dc->nttpd));
        json_object_set_new(o, "ttpd", ttpd);
        json_object_set_new(o, "mariadb",
                            json_proc(&s->db, dc->db_pid, n, s->window_s, 0));
        json_object_set_new(
            o, "broker",
            json_proc(&s->broker, dc->broker_pid, n, s->window_s, 0));
        json_object_set_new(
            o, "bench",
            json_pack("{s:f, s:o, s:f}", "cpu_s", s->bench_cpu_s,
                      "cpu_s_per_op",
                      n > 0 ? json_real(s->bench_cpu_s / n) : json_null(),
                      "cpu_utilization",
                      s->window_s > 0 ? s->bench_cpu_s / s->window_s : 0.0));
        json_object_set_new(o, "ttp_cpu_s_per_op",
                            dc->nttpd > 0 && s->ttpd.valid && n > 0
                                ? json_real(s->ttpd.cpu_s / n)
                                : json_null());
        json_object_set_new(o, "ttp_cpu_over_crypto",
                            dc->nttpd > 0 && s->ttpd.valid && n > 0 && cost > 0
                                ? json_real(s->ttpd.cpu_s / n / cost)
                                : json_null());
        json_object_set_new(o, "bound_per_s", json_real(b));
        json_object_set_new(o, "ratio_achieved_to_bound",
                            json_real(b > 0 ? rate / b : 0));
        json_object_set_new(o, "timeline", timeline);
        return o;
}

static json_t *report_json(const struct report *r)
{
        const struct options *o = r->o;
        const struct step_stats *last = &r->steps[r->nsteps - 1];
        int exch = o->sc.scenario == DRIVER_EXCHANGE;
        double ecost = 1 / calib_bound(&r->calib, 1, TTP_EXCHANGE_SIGNS,
                                       TTP_EXCHANGE_VERIFIES, 0);
        double ucost =
            1 / calib_bound(&r->calib, 1, TTP_UPLOAD_SIGNS, TTP_UPLOAD_VERIFIES,
                            (double)o->dc.upload_size);
        json_t *root, *steps = json_array(), *sweep = json_array();
        json_t *result;

        for (size_t i = 0; i < r->nsteps; i++)
                json_array_append_new(steps, json_step(r, &r->steps[i]));
        for (size_t i = 0; i < o->nsweep; i++)
                json_array_append_new(sweep, json_real(o->sweep[i]));
        result = json_deep_copy(json_array_get(steps, r->nsteps - 1));
        root = json_pack("{s:s, s:i, s:s, s:b}", "tool", "tds-bench", "format",
                         1, "started_at", r->started, "ok",
                         errors_total(r) == 0 && last->completed > 0);
        json_object_set_new(
            root, "config",
            json_pack("{s:s, s:s, s:I, s:f, s:o, s:f, s:f, s:I, s:I, s:I, "
                      "s:b, s:I, s:f, s:i, s:f, s:s, s:s}",
                      "scenario", exch ? "exchange" : "upload", "mode",
                      o->sc.mode == DRIVER_CLOSED ? "closed" : "open",
                      "concurrency", (json_int_t)o->sc.concurrency, "rate",
                      o->sc.rate, "sweep", sweep, "duration_s", o->sc.duration,
                      "warmup_s", o->sc.warmup, "users",
                      (json_int_t)o->dc.users, "files", (json_int_t)o->dc.files,
                      "upload_size", (json_int_t)o->dc.upload_size,
                      "client_fsync", o->dc.client_fsync, "max_inflight",
                      (json_int_t)o->sc.max_inflight, "timeout_s",
                      o->dc.timeout, "reply_partitions", r->partitions, "cores",
                      o->cores, "bootstrap", o->dc.bootstrap, "prefix",
                      o->dc.prefix));
        json_object_set_new(
            root, "setup",
            json_pack("{s:f, s:I, s:I, s:f, s:o}", "seconds", r->setup.seconds,
                      "users_registered", (json_int_t)r->setup.registered,
                      "files_uploaded", (json_int_t)r->setup.uploaded,
                      "uploads_per_s", r->setup.uploads_per_s, "errors",
                      json_errors(&r->setup.err)));
        json_object_set_new(
            root, "crypto",
            json_pack(
                "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
                "s:{s:i, s:i}, s:{s:i, s:i, s:I}, s:{s:i, s:i}, "
                "s:{s:i, s:i}, s:f, s:f, s:f, s:f, s:f}",
                "sign_per_s", r->calib.sign_per_s, "verify_per_s",
                r->calib.verify_per_s, "sha256_bytes_per_s",
                r->calib.sha256_bytes_per_s, "sign_us",
                1e6 / r->calib.sign_per_s, "verify_us",
                1e6 / r->calib.verify_per_s, "measured_s_each",
                r->calib.seconds, "cores", o->cores, "ttp_per_exchange",
                "signs", TTP_EXCHANGE_SIGNS, "verifies", TTP_EXCHANGE_VERIFIES,
                "ttp_per_upload", "signs", TTP_UPLOAD_SIGNS, "verifies",
                TTP_UPLOAD_VERIFIES, "sha256_bytes",
                (json_int_t)o->dc.upload_size, "client_per_exchange", "signs",
                CLIENT_EXCHANGE_SIGNS, "verifies", CLIENT_EXCHANGE_VERIFIES,
                "client_per_upload", "signs", CLIENT_UPLOAD_SIGNS, "verifies",
                CLIENT_UPLOAD_VERIFIES, "ttp_crypto_s_per_exchange", ecost,
                "ttp_crypto_s_per_upload", ucost, "bound_exchanges_per_s",
                o->cores / ecost, "bound_exchanges_per_s_per_core", 1 / ecost,
                "bound_uploads_per_s", o->cores / ucost));
        json_object_set_new(root, "result", result);
        json_object_set_new(root, "steps", steps);
        json_object_set_new(root, "errors_total",
                            json_integer((json_int_t)errors_total(r)));
        return root;
}

static void text_latency(FILE *f, const char *what, const struct hist *h)
{
        fprintf(f,
                "  %-22s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms  "
                "(n=%llu)\n",
                what, ms(hist_quantile(h, 0.5)), ms(hist_quantile(h, 0.95)),
                ms(hist_quantile(h, 0.99)), ms(h->max),
                (unsigned long long)h->count);
}

static void text_proc(FILE *f, const char *what, const struct proc_sample *p,
                      pid_t pid, const struct step_stats *s, const char *unit,
                      int waits)
{
        if (pid <= 0)
                return;
        if (!p->valid) {
                fprintf(f, "  %-22s pid %d could not be read\n", what,
                        (int)pid);
                return;
        }
        fprintf(f, "  %-22s %.2f s = %.3f ms/%s (%.0f %% of one core)", what,
                p->cpu_s,
                s->completed ? p->cpu_s / (double)s->completed * 1e3 : 0.0,
                unit, s->window_s > 0 ? p->cpu_s / s->window_s * 100 : 0.0);
        if (s->completed > 0 && waits)
                fprintf(f, "; main thread blocked %.1f times/%s",
                        (double)p->waits / (double)s->completed, unit);
        fprintf(f, "; RSS %.1f -> %.1f MiB, peak %.1f MiB\n",
                p->rss_start_kb / 1024.0, p->rss_end_kb / 1024.0,
                p->hwm_kb / 1024.0);
}

static void text_errors(FILE *f, const struct driver_errors *e)
{
        fprintf(f,
                "  %-22s %llu (timeouts %llu, TTP error replies %llu, "
                "verification %llu, refused %llu, transport %llu)\n",
                "errors", (unsigned long long)e->total,
                (unsigned long long)e->timeouts,
                (unsigned long long)(e->total - e->timeouts - e->verify -
                                     e->refused - e->transport),
                (unsigned long long)e->verify, (unsigned long long)e->refused,
                (unsigned long long)e->transport);
        if (e->total > 0)
                fprintf(f, "  %-22s %s\n", "last error", e->last);
}

static void text_step(FILE *f, const struct report *r,
                      const struct step_stats *s, size_t i)
{
        char ttp_what[64] = "TTP daemon CPU";
        const struct driver_conf *dc = &r->o->dc;
        int exch = s->conf.scenario == DRIVER_EXCHANGE;
        const char *unit = exch ? "exchange" : "upload";
        double rate = per_s(s), b = bound(r, s, r->o->cores);
        double cost = crypto_cost(r, s);

        fprintf(f, "\nstep %zu/%zu: %s, ", i + 1, r->nsteps,
                exch ? "exchanges" : "uploads");
        if (s->conf.mode == DRIVER_CLOSED)
                fprintf(f, "closed loop, concurrency %u", s->conf.concurrency);
        else
                fprintf(f, "open loop, offered %.1f/s", s->conf.rate);
        fprintf(f, ", window %.2f s after %.1f s warmup\n", s->window_s,
                s->conf.warmup);
        fprintf(f, "  %-22s %llu = %.1f %ss/s", exch ? "exchanges" : "uploads",
                (unsigned long long)s->completed, rate, unit);
        if (!exch)
                fprintf(f, " (%.1f MiB/s)",
                        s->window_s > 0
                            ? (double)s->bytes / s->window_s / 1048576.0
                            : 0.0);
        fprintf(f, "\n");
        if (s->conf.mode == DRIVER_OPEN)
                fprintf(f,
                        "  %-22s %llu started, %llu shed at max-inflight, "
                        "%llu started late (> 1 ms)\n",
                        "offered", (unsigned long long)s->started,
                        (unsigned long long)s->shed,
                        (unsigned long long)s->late_starts);
        if (exch) {
                text_latency(f, "request -> delivery", &s->lat_a);
                text_latency(f, "request -> receipt", &s->lat_b);
        } else {
                text_latency(f, "request -> result", &s->lat_a);
        }
        text_errors(f, &s->err);
        if (dc->nttpd > 1)
                snprintf(ttp_what, sizeof(ttp_what), "TTP CPU (%zu daemons)",
                         dc->nttpd);
        text_proc(f, ttp_what, &s->ttpd, dc->nttpd ? dc->ttpd_pids[0] : 0, s,
                  unit, 1);
        text_proc(f, "MariaDB CPU", &s->db, dc->db_pid, s, unit, 0);
        text_proc(f, "broker CPU", &s->broker, dc->broker_pid, s, unit, 0);
        fprintf(
            f, "  %-22s %.2f s = %.3f ms/%s (%.0f %% of one core)\n",
            "bench CPU", s->bench_cpu_s,
            s->completed ? s->bench_cpu_s / (double)s->completed * 1e3 : 0.0,
            unit, s->window_s > 0 ? s->bench_cpu_s / s->window_s * 100 : 0.0);
        fprintf(f, "  %-22s %.0f %ss/s on %.0f cores; achieved/bound = %.4f\n",
                "crypto bound", b, unit, r->o->cores, b > 0 ? rate / b : 0.0);
        if (dc->nttpd > 0 && s->ttpd.valid && s->completed > 0 && cost > 0)
                fprintf(f,
                        "  %-22s %.3f ms / %.3f ms = %.1fx its signature "
                        "cost\n",
                        "TTP CPU per op",
                        s->ttpd.cpu_s / (double)s->completed * 1e3, cost * 1e3,
                        s->ttpd.cpu_s / (double)s->completed / cost);
        if (s->stray > 0 || s->foreign > 0)
                fprintf(f,
                        "  %-22s %llu stray (duplicates), %llu for other "
                        "programs' users\n",
                        "ignored replies", (unsigned long long)s->stray,
                        (unsigned long long)s->foreign);
}

static void report_text(FILE *f, const struct report *r)
{
        const struct options *o = r->o;
        const struct calib *c = &r->calib;
        double ecost =
            1 / calib_bound(c, 1, TTP_EXCHANGE_SIGNS, TTP_EXCHANGE_VERIFIES, 0);
        double ucost =
            1 / calib_bound(c, 1, TTP_UPLOAD_SIGNS, TTP_UPLOAD_VERIFIES,
                            (double)o->dc.upload_size);

        fprintf(f,
                "tds-bench %s: %s scenario, %u users, %u files to download, "
                "documents of %llu bytes, %d reply partitions, %s\n",
                r->started,
                o->sc.scenario == DRIVER_EXCHANGE ? "exchange" : "upload",
                o->dc.users, o->dc.files, (unsigned long long)o->dc.upload_size,
                r->partitions, o->dc.bootstrap);
        fprintf(f,
                "setup (not measured): %u users registered, %u files "
                "uploaded in %.1f s (%.1f uploads/s)\n",
                r->setup.registered, r->setup.uploaded, r->setup.seconds,
                r->setup.uploads_per_s);
        for (size_t i = 0; i < r->nsteps; i++)
                text_step(f, r, &r->steps[i], i);
        fprintf(f, "\ncryptographic bound, measured in this run (one core, "
                   "libtds crypto):\n");
        fprintf(f, "  %-22s %.0f/s (%.1f us)\n", "ECDSA P-256 sign",
                c->sign_per_s, 1e6 / c->sign_per_s);
        fprintf(f, "  %-22s %.0f/s (%.1f us)\n", "ECDSA P-256 verify",
                c->verify_per_s, 1e6 / c->verify_per_s);
        fprintf(f, "  %-22s %.1f MiB/s\n", "SHA-256",
                c->sha256_bytes_per_s / 1048576.0);
        fprintf(f,
                "  %-22s %d sign + %d verifies = %.1f us -> %.0f/s per core, "
                "%.0f/s on %.0f cores\n",
                "TTP per exchange", TTP_EXCHANGE_SIGNS, TTP_EXCHANGE_VERIFIES,
                ecost * 1e6, 1 / ecost, o->cores / ecost, o->cores);
        fprintf(f,
                "  %-22s %d sign + %d verifies + SHA-256 of %llu bytes = "
                "%.1f us -> %.0f/s on %.0f cores\n",
                "TTP per upload", TTP_UPLOAD_SIGNS, TTP_UPLOAD_VERIFIES,
                (unsigned long long)o->dc.upload_size, ucost * 1e6,
                o->cores / ucost, o->cores);
        fprintf(f,
                "  %-22s exchange: %d signs + %d verifies; upload: %d signs + "
                "%d verify + SHA-256\n",
                "clients (bench) per op", CLIENT_EXCHANGE_SIGNS,
                CLIENT_EXCHANGE_VERIFIES, CLIENT_UPLOAD_SIGNS,
                CLIENT_UPLOAD_VERIFIES);
        fprintf(f, "\n%s: %llu error(s) in all\n",
                errors_total(r) == 0 ? "OK" : "FAILED",
                (unsigned long long)errors_total(r));
}

/* gnuplot data: block 0 the steps, block 1 every second of every step. */
static int report_plot(const char *path, const struct report *r)
{
        FILE *f = fopen(path, "w");

        if (f == NULL)
                return -1;
        fprintf(f, "# step: ops_per_s p50_ms p95_ms p99_ms max_ms "
                   "receipt_p99_ms load\n");
        for (size_t i = 0; i < r->nsteps; i++) {
                const struct step_stats *s = &r->steps[i];

                fprintf(f, "%.3f %.3f %.3f %.3f %.3f %.3f %s%g\n", per_s(s),
                        ms(hist_quantile(&s->lat_a, 0.5)),
                        ms(hist_quantile(&s->lat_a, 0.95)),
                        ms(hist_quantile(&s->lat_a, 0.99)), ms(s->lat_a.max),
                        ms(hist_quantile(&s->lat_b, 0.99)),
                        s->conf.mode == DRIVER_CLOSED ? "c=" : "r=",
                        s->conf.mode == DRIVER_CLOSED
                            ? (double)s->conf.concurrency
                            : s->conf.rate);
        }
        fprintf(f, "\n\n# second: ops_per_s p50_ms p99_ms step\n");
        for (size_t i = 0; i < r->nsteps; i++) {
                const struct step_stats *s = &r->steps[i];

                for (size_t j = 0; j < s->nseconds; j++)
                        fprintf(f, "%llu %.3f %.3f %zu\n",
                                (unsigned long long)s->seconds[j].completed,
                                ms(s->seconds[j].p50_us),
                                ms(s->seconds[j].p99_us), i + 1);
        }
        return fclose(f) == 0 ? 0 : -1;
}

static int write_file(const char *path, const char *text)
{
        FILE *f = fopen(path, "w");
        int ok;

        if (f == NULL)
                return -1;
        ok = fputs(text, f) >= 0;
        return fclose(f) == 0 && ok ? 0 : -1;
}

static void on_signal(int sig)
{
        (void)sig;
        driver_interrupt();
}

int main(int argc, char **argv)
{
        struct options o;
        struct report r;
        struct driver *d = NULL;
        char err[1024], *text = NULL, *json = NULL;
        size_t textlen = 0;
        json_t *root = NULL;
        struct sigaction sa;
        time_t now = time(NULL);
        FILE *mem;
        int rc, ret = 1;

        if ((rc = parse_options(argc, argv, &o)) != 0)
                return rc == 1 ? 0 : 2;
        log_init("tds-bench", 1, o.dc.verbose);
        memset(&r, 0, sizeof(r));
        r.o = &o;
        strftime(r.started, sizeof(r.started), "%Y-%m-%dT%H:%M:%SZ",
                 gmtime(&now));
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);

        fprintf(stderr, "tds-bench: measuring the crypto bound (%.1f s)\n",
                3 * o.calib_seconds);
        if (calib_run(o.calib_seconds, &r.calib, err, sizeof(err)) == -1) {
                fprintf(stderr, "tds-bench: crypto: %s\n", err);
                goto done;
        }
        if ((d = driver_new(&o.dc, err, sizeof(err))) == NULL) {
                fprintf(stderr, "tds-bench: %s\n", err);
                goto done;
        }
        r.partitions = driver_reply_partitions(d);
        fprintf(stderr, "tds-bench: setup: %u users, %u files\n", o.dc.users,
                o.dc.files);
        if (driver_setup(d, &r.setup, err, sizeof(err)) == -1) {
                fprintf(stderr, "tds-bench: %s\n", err);
                goto done;
        }
        r.steps = calloc(o.nsweep ? o.nsweep : 1, sizeof(*r.steps));
        if (r.steps == NULL) {
                fprintf(stderr, "tds-bench: out of memory\n");
                goto done;
        }
        for (size_t i = 0; i < (o.nsweep ? o.nsweep : 1); i++) {
                struct step_conf sc = o.sc;

                if (o.nsweep > 0 && sc.mode == DRIVER_CLOSED)
                        sc.concurrency = (unsigned)o.sweep[i];
                else if (o.nsweep > 0)
                        sc.rate = o.sweep[i];
                if (sc.concurrency == 0)
                        sc.concurrency = 1;
                fprintf(
                    stderr, "tds-bench: step %zu: %s %g, %.1f s + %.1f s\n",
                    i + 1, sc.mode == DRIVER_CLOSED ? "concurrency" : "rate",
                    sc.mode == DRIVER_CLOSED ? (double)sc.concurrency : sc.rate,
                    sc.warmup, sc.duration);
                if (driver_step(d, &sc, &r.steps[i], err, sizeof(err)) == -1) {
                        fprintf(stderr, "tds-bench: %s\n", err);
                        goto done;
                }
                r.nsteps++;
                if (r.steps[i].window_s <= 0)
                        break; /* interrupted */
        }
        if ((mem = open_memstream(&text, &textlen)) == NULL) {
                fprintf(stderr, "tds-bench: out of memory\n");
                goto done;
        }
        report_text(mem, &r);
        fclose(mem);
        fputs(text, stdout);
        fflush(stdout);
        if (o.text_path != NULL && write_file(o.text_path, text) == -1)
                fprintf(stderr, "tds-bench: %s: %s\n", o.text_path,
                        strerror(errno));
        root = report_json(&r);
        if (o.json_path != NULL &&
            ((json = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
                                          JSON_REAL_PRECISION(8))) == NULL ||
             write_file(o.json_path, json) == -1)) {
                fprintf(stderr, "tds-bench: cannot write %s: %s\n", o.json_path,
                        strerror(errno));
                goto done;
        }
        if (o.plot_path != NULL && report_plot(o.plot_path, &r) == -1) {
                fprintf(stderr, "tds-bench: cannot write %s: %s\n", o.plot_path,
                        strerror(errno));
                goto done;
        }
        ret = json_is_true(json_object_get(root, "ok")) ? 0 : 1;
done:
        json_decref(root);
        free(json);
        free(text);
        for (size_t i = 0; i < r.nsteps; i++)
                driver_step_fini(&r.steps[i]);
        free(r.steps);
        driver_free(d);
        return ret;
}

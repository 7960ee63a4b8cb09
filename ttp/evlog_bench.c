/*
 * tds-evlog-bench: how fast the evidence log appends leaves and signs
 * heads, on the daemon's own database with durable commits.
 *
 * It uses the daemon's configuration (database account, TTP key, TSA)
 * and its evlog code, and appends synthetic leaves ("tds/1 leaf" TBS of
 * realistic size) in transactions of --batch leaves each, committing
 * each one (innodb_flush_log_at_trx_commit as the server has it: the
 * local stack runs with 1, a durable commit).  Every --head-every
 * seconds it signs and time-stamps a head, as the daemon does, and
 * measures the time from a leaf's commit to the commit of the first
 * head that covers it.  Run it against a database of its own (it
 * really appends): bench/evlog.sh makes one.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "crypto.h"
#include "db.h"
#include "evlog.h"
#include "log.h"
#include "tbs.h"
#include "ttp_conf.h"
#include "ttp_key.h"
#include "ttp_tsa.h"

#define BENCH_BATCH_MAX 10000

static double now_s(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *out)
{
        fprintf(out,
                "usage: tds-evlog-bench -f ttpd.conf [-n leaves] [-b batch] "
                "[-H seconds] [--json]\n"
                "\n"
                "Append synthetic evidence leaves to the evidence log of the "
                "database\nthat ttpd.conf names (it really appends: use a "
                "database of its own),\n`batch` leaves per durable "
                "transaction, and sign a time-stamped head\nevery `seconds` "
                "(default 1.0).  Prints leaves/s, the time a head takes\n"
                "and the time from a leaf's commit to a signed head that "
                "covers it.\n"
                "\n"
                "  -f FILE     the daemon's configuration file\n"
                "  -n N        leaves to append (default 20000)\n"
                "  -b B        leaves per transaction (default 100, 1 is the "
                "daemon's\n              path today: one leaf per message "
                "transaction)\n"
                "  -H S        seconds between signed heads (default 1.0)\n"
                "  --json      one JSON object instead of text\n"
                "  -h, --help  this help\n");
}

/* A leaf like the daemon's exchange leaves, unique by `i`. */
static int make_leaf(uint64_t i, char **leaf, size_t *len, char *file_id,
                     size_t file_id_len, char *err, size_t errlen)
{
        static const char hex64[] = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
                                    "2b0b822cd15d6c15b0f00a08";
        static const char nonce[] =
            "wUg4P8ru6d20AcH2P8BvYMLwEFY7ZhqPcE5EuJWBZZU=";
        struct tbs_leaf f;

        snprintf(file_id, file_id_len, "bench-%llu", (unsigned long long)i);
        f = (struct tbs_leaf){"exchange", file_id,
                              "alice",    hex64,
                              "bob",      hex64,
                              hex64,      "1048576",
                              nonce,      nonce,
                              hex64,      hex64,
                              "",         "2026-11-22T03:00:00Z",
                              hex64};
        return tbs_leaf(&f, leaf, len, err, errlen);
}

struct pending {
        uint64_t end_index; /* leaves below this are committed */
        double committed_at;
};

int main(int argc, char **argv)
{
        static const struct option longopts[] = {
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        const char *conf_path = NULL;
        unsigned long leaves = 20000, batch = 100;
        double head_every = 1.0;
        int json = 0, ch, created;
        struct ttp_conf conf;
        struct crypto_key *key = NULL;
        struct ttp_tsa tsa;
        struct db *db = NULL;
        struct evlog *log = NULL;
        char err[1024];
        char *leaf_buf[BENCH_BATCH_MAX];
        size_t lens[BENCH_BATCH_MAX];
        char file_ids[BENCH_BATCH_MAX][32];
        const char *events[BENCH_BATCH_MAX], *fids[BENCH_BATCH_MAX];
        struct pending *pend = NULL;
        size_t npend = 0, pend_first = 0;
        double start, elapsed, next_head, lat_sum = 0, lat_max = 0;
        double head_sum = 0, head_max = 0;
        unsigned long heads = 0, lat_n = 0, done = 0;
        uint64_t first_index = 0;
        int ret = 1;

        memset(&tsa, 0, sizeof(tsa));
        memset(&conf, 0, sizeof(conf));
        memset(leaf_buf, 0, sizeof(leaf_buf));
        while ((ch = getopt_long(argc, argv, "f:n:b:H:h", longopts, NULL)) !=
               -1) {
                switch (ch) {
                case 'f':
                        conf_path = optarg;
                        break;
                case 'n':
                        leaves = strtoul(optarg, NULL, 10);
                        break;
                case 'b':
                        batch = strtoul(optarg, NULL, 10);
                        break;
                case 'H':
                        head_every = strtod(optarg, NULL);
                        break;
                case 'j':
                        json = 1;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (conf_path == NULL || optind != argc || leaves == 0 || batch == 0 ||
            batch > BENCH_BATCH_MAX || head_every <= 0) {
                usage(stderr);
                return 2;
        }
        log_init("tds-evlog-bench", 1, 0);
        if (ttp_conf_load(&conf, conf_path, err, sizeof(err)) == -1) {
                fprintf(stderr, "tds-evlog-bench: %s\n", err);
                return 2;
        }
        if (mysql_library_init(0, NULL, NULL) != 0 ||
            ttp_key_load_or_create(conf.ttp_key_file, &key, &created, err,
                                   sizeof(err)) == -1 ||
            ttp_tsa_open(&tsa, &conf, key, &created, err, sizeof(err)) == -1 ||
            (db = db_open(&conf, err, sizeof(err))) == NULL ||
            (log = evlog_new(db, key, tsa.signer, err, sizeof(err))) == NULL)
                goto fail;
        if ((pend = calloc(leaves / batch + 2, sizeof(*pend))) == NULL) {
                snprintf(err, sizeof(err), "out of memory");
                goto fail;
        }
        for (size_t i = 0; i < batch; i++)
                events[i] = "exchange";
        start = now_s();
        next_head = start + head_every;
        while (done < leaves) {
                size_t n = leaves - done < batch ? leaves - done : batch;
                struct evlog_head head;
                double t;

                for (size_t i = 0; i < n; i++) {
                        free(leaf_buf[i]);
                        leaf_buf[i] = NULL;
                        if (make_leaf(done + i, &leaf_buf[i], &lens[i],
                                      file_ids[i], sizeof(file_ids[i]), err,
                                      sizeof(err)) == -1)
                                goto fail;
                        fids[i] = file_ids[i];
                }
                if (evlog_append_many(log, (const char *const *)leaf_buf, lens,
                                      events, fids, n, time(NULL), &first_index,
                                      err, sizeof(err)) == -1 ||
                    db_commit(db, err, sizeof(err)) == -1)
                        goto fail;
                done += n;
                pend[npend++] = (struct pending){first_index + n, now_s()};
                if ((t = now_s()) < next_head && done < leaves)
                        continue;
                if (evlog_head(log, time(NULL), &head, NULL, err,
                               sizeof(err)) == -1 ||
                    db_commit(db, err, sizeof(err)) == -1)
                        goto fail;
                {
                        double end = now_s();
                        double took = end - t;

                        heads++;
                        head_sum += took;
                        if (took > head_max)
                                head_max = took;
                        for (; pend_first < npend &&
                               pend[pend_first].end_index <= head.tree_size;
                             pend_first++) {
                                double lat =
                                    end - pend[pend_first].committed_at;
                                lat_sum += lat;
                                lat_n++;
                                if (lat > lat_max)
                                        lat_max = lat;
                        }
                        next_head = end + head_every;
                }
        }
        elapsed = now_s() - start;
        if (json)
                printf("{\"leaves\":%lu,\"batch\":%lu,\"seconds\":%.3f,"
                       "\"leaves_per_s\":%.0f,\"heads\":%lu,"
                       "\"head_ms_mean\":%.2f,\"head_ms_max\":%.2f,"
                       "\"commit_to_head_ms_mean\":%.1f,"
                       "\"commit_to_head_ms_max\":%.1f,\"tree_size\":%llu}\n",
                       leaves, batch, elapsed, (double)leaves / elapsed, heads,
                       1000 * head_sum / (double)heads, 1000 * head_max,
                       1000 * lat_sum / (double)(lat_n ? lat_n : 1),
                       1000 * lat_max,
                       (unsigned long long)(first_index + batch));
        else
                printf("appended %lu leaves in %.2f s, %lu per transaction: "
                       "%.0f leaves/s (durable commits)\n"
                       "signed %lu heads (sign + RFC 3161 token + insert + "
                       "commit): mean %.2f ms, max %.2f ms\n"
                       "leaf commit to signed head covering it, heads every "
                       "%.1f s: mean %.1f ms, max %.1f ms\n",
                       leaves, elapsed, batch, (double)leaves / elapsed, heads,
                       1000 * head_sum / (double)heads, 1000 * head_max,
                       head_every, 1000 * lat_sum / (double)(lat_n ? lat_n : 1),
                       1000 * lat_max);
        ret = 0;
        goto out;
fail:
        fprintf(stderr, "tds-evlog-bench: %s\n", err);
        if (db != NULL)
                db_rollback(db);
out:
        for (size_t i = 0; i < BENCH_BATCH_MAX && i < batch; i++)
                free(leaf_buf[i]);
        free(pend);
        evlog_free(log);
        db_close(db);
        ttp_tsa_close(&tsa);
        crypto_key_free(key);
        ttp_conf_fini(&conf);
        mysql_library_end();
        return ret;
}

/*
 * tds audit log-recompute: rebuild the TTP's evidence log from what the
 * auditor account may read (audit_log_leaves, audit_tree_heads) and check
 * it against every head the TTP signed.
 *
 * The heads are read first (they are few), then the leaves streamed in
 * index order, in one read-only snapshot: leaf indexes must be 0..n-1,
 * each leaf_hash SHA-256(0x00 || leaf); the tree is rebuilt with a
 * Merkle frontier, and at every size that has a head its root must be
 * the head's, and the head's signature and token must verify
 * (bundle_head_verify).  The first leaf or head that fails is the
 * verdict (exit 4): the log's history is not what the TTP signed.
 */
#include "cli.h"
#include "commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <mysql.h>

#include "base64.h"
#include "bundle.h"
#include "cfg.h"
#include "errbuf.h"
#include "hex.h"
#include "ids.h"

#define LR_PEM_MAX   (64 * 1024)
#define LR_LEAF_B64  8192  /* base64 of a leaf of at most 4096 bytes */
#define LR_TOKEN_B64 12288 /* base64 of a token of at most 8192 bytes */
#define LR_SIG_B64   128
#define LR_TIME_MAX  40

/* One row of audit_tree_heads. */
struct lr_head {
        uint64_t tree_size;
        char root_hash[2 * MERKLE_HASH_LEN + 1];
        char time[LR_TIME_MAX];
        char ttp_sig[LR_SIG_B64];
        char *token; /* base64, owned */
};

struct lr {
        MYSQL *db;
        const char *cnf;
        struct lr_head *heads;
        size_t nheads, cap;
        char log_id[CRYPTO_KEY_ID_LEN + 1];
        struct bundle_trust trust;
        char *ttp_pem, *ca_pem;
        const char *ca_path; /* NULL: none found */
        /* What was established, for the report. */
        uint64_t leaves;
        size_t checked;
        struct bundle_verdict last;
        const struct lr_head *last_head;
};

void cmd_audit_log_recompute_help(FILE *out)
{
        fprintf(out,
                "usage: tds audit [--defaults-file FILE] log-recompute "
                "[--ttp-key PEM]\n"
                "                 [--tsa-ca PEM] [--json]\n"
                "\n"
                "Rebuild the TTP's evidence log from the audit views with "
                "the read-only\n"
                "auditor account and check it: leaf indexes 0..n-1 without "
                "gaps, every\n"
                "leaf_hash = SHA-256(0x00 || leaf), and at every size the "
                "TTP signed a head\n"
                "for, the rebuilt root equals the head's, its ttp_sig "
                "verifies under the TTP\n"
                "key and its RFC 3161 token over it chains to the trust "
                "anchor.  Prints the\n"
                "number of leaves, of heads checked, and the latest head.\n"
                "\n"
                "  --defaults-file FILE  MariaDB option file (as for the "
                "other audit commands)\n"
                "  --ttp-key PEM         the TTP's public key (default: "
                "ttp_public_key of the\n"
                "                        client config)\n"
                "  --tsa-ca PEM          the TSA trust anchor (default: "
                "ttp-ca.pem beside the\n"
                "                        TTP key, the TTP's own CA "
                "certificate)\n"
                "  --json                the report as one JSON object\n"
                "\n"
                "Exit status: 0 the log is what the TTP signed, 4 it is "
                "not (the first bad\n"
                "leaf or head is named), 1 could not check (database, "
                "files), 2 usage.\n");
}

/* ---- the heads ---------------------------------------------------------- */

static int lr_heads_load(struct lr *r, char *err, size_t errlen)
{
        static const char sql[] =
            "SELECT tree_size, root_hash, head_time, ttp_sig, "
            "timestamp_token FROM audit_tree_heads ORDER BY tree_size";
        static char token[LR_TOKEN_B64];
        char root[128], time[LR_TIME_MAX], sig[LR_SIG_B64];
        unsigned long lens[5];
        my_bool nulls[5], errs[5];
        unsigned long long size = 0;
        MYSQL_BIND res[5];
        MYSQL_STMT *st = NULL;
        struct lr_head *h;
        int rc, ret = -1;

        memset(res, 0, sizeof(res));
        if ((st = mysql_stmt_init(r->db)) == NULL ||
            mysql_stmt_prepare(st, sql, strlen(sql)) != 0 ||
            mysql_stmt_execute(st) != 0) {
                errbuf_set(err, errlen, "audit_tree_heads: %s",
                           st != NULL ? mysql_stmt_error(st) : "out of memory");
                goto done;
        }
        res[0].buffer_type = MYSQL_TYPE_LONGLONG;
        res[0].buffer = &size;
        res[0].is_unsigned = 1;
        res[1].buffer = root;
        res[1].buffer_length = sizeof(root);
        res[2].buffer = time;
        res[2].buffer_length = sizeof(time);
        res[3].buffer = sig;
        res[3].buffer_length = sizeof(sig);
        res[4].buffer = token;
        res[4].buffer_length = sizeof(token);
        for (int i = 0; i < 5; i++) {
                if (i > 0)
                        res[i].buffer_type = MYSQL_TYPE_STRING;
                res[i].length = &lens[i];
                res[i].is_null = &nulls[i];
                res[i].error = &errs[i];
        }
        if (mysql_stmt_bind_result(st, res) != 0) {
                errbuf_set(err, errlen, "audit_tree_heads: %s",
                           mysql_stmt_error(st));
                goto done;
        }
        while ((rc = mysql_stmt_fetch(st)) == 0) {
                if (nulls[0] || nulls[1] || nulls[2] || nulls[3] || nulls[4]) {
                        errbuf_set(err, errlen,
                                   "audit_tree_heads: a NULL column");
                        goto done;
                }
                if (r->nheads == r->cap) {
                        size_t cap = r->cap ? 2 * r->cap : 64;
                        struct lr_head *n = realloc(r->heads, cap * sizeof(*n));

                        if (n == NULL) {
                                errbuf_set(err, errlen, "out of memory");
                                goto done;
                        }
                        r->heads = n;
                        r->cap = cap;
                }
                h = &r->heads[r->nheads];
                memset(h, 0, sizeof(*h));
                h->tree_size = size;
                snprintf(h->root_hash, sizeof(h->root_hash), "%.*s",
                         (int)lens[1], root);
                snprintf(h->time, sizeof(h->time), "%.*s", (int)lens[2], time);
                snprintf(h->ttp_sig, sizeof(h->ttp_sig), "%.*s", (int)lens[3],
                         sig);
                if ((h->token = strndup(token, lens[4])) == NULL) {
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
                r->nheads++;
        }
        if (rc != MYSQL_NO_DATA) {
                errbuf_set(err, errlen, "audit_tree_heads: %s",
                           rc == MYSQL_DATA_TRUNCATED
                               ? "a value longer than a head's"
                               : mysql_stmt_error(st));
                goto done;
        }
        ret = 0;
done:
        if (st != NULL) {
                mysql_stmt_free_result(st);
                mysql_stmt_close(st);
        }
        return ret;
}

/*
 * The head `h` against the rebuilt `root`: equal roots, then its
 * signature and token.  -1 with the verdict in `err`.
 */
static int lr_head_check(struct lr *r, const struct lr_head *h,
                         const merkle_hash root, char *err, size_t errlen)
{
        char hex[2 * MERKLE_HASH_LEN + 1], why[4096];
        struct bundle_head bh;

        hex_encode(root, MERKLE_HASH_LEN, hex, sizeof(hex));
        if (strcmp(hex, h->root_hash) != 0) {
                errbuf_set(err, errlen,
                           "head of %" PRIu64 " leaves (signed %s): "
                           "root_hash %s, but the leaves give %s",
                           h->tree_size, h->time, h->root_hash, hex);
                return -1;
        }
        if (r->trust.tsa_root_pem == NULL) {
                errbuf_set(err, errlen,
                           "head of %" PRIu64 " leaves: no trust anchor for "
                           "its timestamp token: pass --tsa-ca (the TTP's "
                           "ttp-ca.pem)",
                           h->tree_size);
                return -2;
        }
        memset(&bh, 0, sizeof(bh));
        bh.log_id = r->log_id;
        bh.tree_size = h->tree_size;
        bh.root_hash = h->root_hash;
        bh.time = h->time;
        bh.ttp_sig = h->ttp_sig;
        bh.timestamp_token = h->token;
        /* No chain in the views: the token carries the TSA's certificate. */
        if (bundle_head_verify(&bh, &r->trust, &r->last, why, sizeof(why)) ==
            -1) {
                errbuf_set(err, errlen, "head of %" PRIu64 " leaves: %s",
                           h->tree_size, why);
                return -1;
        }
        r->checked++;
        r->last_head = h;
        return 0;
}

/* ---- the leaves --------------------------------------------------------- */

/*
 * Stream the leaves, rebuild, check heads as their sizes come.  0 all
 * good; -1 verdict (exit 4); -2 could not check (exit 1).
 */
static int lr_leaves(struct lr *r, char *err, size_t errlen)
{
        static const char sql[] = "SELECT leaf_index, leaf, leaf_hash FROM "
                                  "audit_log_leaves ORDER BY leaf_index";
        static char leaf_b64[LR_LEAF_B64];
        char hash[128], want[2 * MERKLE_HASH_LEN + 1], why[256];
        unsigned long long index = 0;
        struct merkle_frontier f;
        merkle_hash lh, root;
        unsigned long lens[3];
        my_bool nulls[3], errs[3];
        MYSQL_BIND res[3];
        MYSQL_STMT *st = NULL;
        unsigned char *leaf = NULL;
        size_t next = 0, leaf_len;
        int rc, ret = -2;

        merkle_frontier_init(&f);
        /* Heads of the empty log come before any leaf. */
        for (; next < r->nheads && r->heads[next].tree_size == 0; next++) {
                merkle_frontier_root(&f, root);
                if ((rc = lr_head_check(r, &r->heads[next], root, err,
                                        errlen)) != 0)
                        return rc;
        }
        memset(res, 0, sizeof(res));
        if ((st = mysql_stmt_init(r->db)) == NULL ||
            mysql_stmt_prepare(st, sql, strlen(sql)) != 0 ||
            mysql_stmt_execute(st) != 0) {
                errbuf_set(err, errlen, "audit_log_leaves: %s",
                           st != NULL ? mysql_stmt_error(st) : "out of memory");
                goto done;
        }
        res[0].buffer_type = MYSQL_TYPE_LONGLONG;
        res[0].buffer = &index;
        res[0].is_unsigned = 1;
        res[1].buffer_type = MYSQL_TYPE_STRING;
        res[1].buffer = leaf_b64;
        res[1].buffer_length = sizeof(leaf_b64);
        res[2].buffer_type = MYSQL_TYPE_STRING;
        res[2].buffer = hash;
        res[2].buffer_length = sizeof(hash);
        for (int i = 0; i < 3; i++) {
                res[i].length = &lens[i];
                res[i].is_null = &nulls[i];
                res[i].error = &errs[i];
        }
        if (mysql_stmt_bind_result(st, res) != 0) {
                errbuf_set(err, errlen, "audit_log_leaves: %s",
                           mysql_stmt_error(st));
                goto done;
        }
        while ((rc = mysql_stmt_fetch(st)) == 0) {
                if (nulls[0] || nulls[1] || nulls[2]) {
                        errbuf_set(err, errlen,
                                   "audit_log_leaves: a NULL column");
                        goto done;
                }
                if (index != f.size) {
                        errbuf_set(err, errlen,
                                   "leaf indexes: expected leaf %" PRIu64
                                   ", found leaf %llu (%s)",
                                   f.size, index,
                                   index > f.size ? "a gap: leaves are missing"
                                                  : "a duplicate");
                        ret = -1;
                        goto done;
                }
                free(leaf);
                leaf = NULL;
                if (base64_decode(leaf_b64, lens[1], &leaf, &leaf_len, why,
                                  sizeof(why)) == -1) {
                        errbuf_set(err, errlen,
                                   "leaf %llu: the leaf column is not "
                                   "base64: %s",
                                   index, why);
                        ret = -1;
                        goto done;
                }
                merkle_leaf_hash(leaf, leaf_len, lh);
                hex_encode(lh, sizeof(lh), want, sizeof(want));
                if (lens[2] != 2 * MERKLE_HASH_LEN ||
                    memcmp(hash, want, 2 * MERKLE_HASH_LEN) != 0) {
                        errbuf_set(err, errlen,
                                   "leaf %llu: leaf_hash %.*s is not "
                                   "SHA-256(0x00 || leaf), which is %s",
                                   index, (int)(lens[2] < 64 ? lens[2] : 64),
                                   hash, want);
                        ret = -1;
                        goto done;
                }
                if (merkle_frontier_append(&f, lh, NULL, NULL) != 0) {
                        errbuf_set(err, errlen, "leaf %llu: the tree is full",
                                   index);
                        goto done;
                }
                for (; next < r->nheads && r->heads[next].tree_size == f.size;
                     next++) {
                        merkle_frontier_root(&f, root);
                        if ((rc = lr_head_check(r, &r->heads[next], root, err,
                                                errlen)) != 0) {
                                ret = rc;
                                goto done;
                        }
                }
                /* Heads out of order cannot happen with ORDER BY. */
        }
        if (rc != MYSQL_NO_DATA) {
                errbuf_set(err, errlen, "audit_log_leaves: %s",
                           rc == MYSQL_DATA_TRUNCATED
                               ? "a leaf longer than 4096 bytes"
                               : mysql_stmt_error(st));
                goto done;
        }
        r->leaves = f.size;
        if (next < r->nheads) {
                errbuf_set(err, errlen,
                           "head of %" PRIu64 " leaves (signed %s), but the "
                           "log has only %" PRIu64 " leaves: leaves were "
                           "removed",
                           r->heads[next].tree_size, r->heads[next].time,
                           f.size);
                ret = -1;
                goto done;
        }
        ret = 0;
done:
        free(leaf);
        if (st != NULL) {
                mysql_stmt_free_result(st);
                mysql_stmt_close(st);
        }
        return ret;
}

/* ---- the command -------------------------------------------------------- */

struct lr_opts {
        const char *cnf, *ttp_key, *tsa_ca;
};

static int lr_opt(int ch, const char *arg, void *ctx)
{
        struct lr_opts *o = ctx;

        switch (ch) {
        case 'd':
                o->cnf = arg;
                return 0;
        case 'K':
                o->ttp_key = arg;
                return 0;
        case 'C':
                o->tsa_ca = arg;
                return 0;
        }
        return -1;
}

/* The TTP key and the anchor: the options, else the client's config. */
static int lr_trust(struct lr *r, const struct lr_opts *o, char *ca_buf,
                    size_t ca_buflen, char *err, size_t errlen)
{
        struct crypto_key *key = NULL;
        char *spki = NULL, *slash;
        const char *key_path = o->ttp_key;
        struct cli_ctx ctx;
        struct stat sb;
        size_t len;
        int ret = -1;

        memset(&ctx, 0, sizeof(ctx));
        if (key_path == NULL) {
                if (cli_ctx_open(&ctx, 0, err, errlen) == -1) {
                        size_t n = strlen(err);

                        snprintf(err + n, errlen - n,
                                 " (or pass --ttp-key with the TTP's public "
                                 "key)");
                        goto done;
                }
                key_path = ctx.cfg.ttp_public_key;
        }
        if (cfg_ttp_key_load(key_path, &key, &spki, r->log_id, err, errlen) ==
                -1 ||
            (r->ttp_pem = home_read_file(key_path, LR_PEM_MAX, &len, err,
                                         errlen)) == NULL)
                goto done;
        r->trust.ttp_key_pem = r->ttp_pem;
        r->trust.ttp_key_pem_len = len;
        if (o->tsa_ca != NULL) {
                snprintf(ca_buf, ca_buflen, "%s", o->tsa_ca);
        } else {
                /* The TTP writes ttp-ca.pem beside its key (ttp_tsa.c). */
                snprintf(ca_buf, ca_buflen, "%s", key_path);
                slash = strrchr(ca_buf, '/');
                snprintf(slash != NULL ? slash + 1 : ca_buf,
                         ca_buflen -
                             (size_t)(slash != NULL ? slash + 1 - ca_buf : 0),
                         "ttp-ca.pem");
                if (stat(ca_buf, &sb) == -1) {
                        ret = 0; /* checked when a head needs it */
                        goto done;
                }
        }
        if ((r->ca_pem =
                 home_read_file(ca_buf, LR_PEM_MAX, &len, err, errlen)) == NULL)
                goto done;
        r->trust.tsa_root_pem = r->ca_pem;
        r->trust.tsa_root_pem_len = len;
        r->ca_path = ca_buf;
        ret = 0;
done:
        crypto_key_free(key);
        free(spki);
        cli_ctx_fini(&ctx);
        return ret;
}

static void lr_report(const struct lr *r)
{
        const struct lr_head *h = r->last_head;
        char t[IDS_TIME_LEN + 1] = "";

        if (h != NULL && ids_time_format(r->last.stamped_at, t, NULL, 0) == -1)
                snprintf(t, sizeof(t), "?");
        if (cli_opts.json) {
                cli_print_json(json_pack(
                    "{s:b, s:I, s:I, s:s, s:o}", "valid", 1, "leaves",
                    (json_int_t)r->leaves, "heads_checked",
                    (json_int_t)r->checked, "log_id", r->log_id, "latest_head",
                    h == NULL ? json_null()
                              : json_pack("{s:I, s:s, s:s, s:s}", "tree_size",
                                          (json_int_t)h->tree_size, "root_hash",
                                          h->root_hash, "time", h->time,
                                          "stamped_at", t)));
                return;
        }
        printf("leaves         %" PRIu64 " (indexes 0 to %" PRIu64
               ", every leaf_hash recomputed)\n",
               r->leaves, r->leaves > 0 ? r->leaves - 1 : 0);
        printf("heads checked  %zu (root rebuilt, ttp_sig and timestamp "
               "token verified)\n",
               r->checked);
        if (h != NULL)
                printf("latest head    %" PRIu64 " leaves, root %s, signed "
                       "%s, time-stamped %s\n",
                       h->tree_size, h->root_hash, h->time, t);
        else
                printf("latest head    none signed yet\n");
        printf("log id         %s\n", r->log_id);
        printf("VALID: the log is what the TTP signed\n");
}

int cmd_audit_log_recompute(int argc, char **argv)
{
        static const struct option opts[] = {
            {"defaults-file", required_argument, NULL, 'd'},
            {"ttp-key", required_argument, NULL, 'K'},
            {"tsa-ca", required_argument, NULL, 'C'},
            {NULL, 0, NULL, 0}};
        char err[CLI_ERR_MAX], cnf[HOME_PATH_MAX], ca[HOME_PATH_MAX];
        struct lr_opts o = {NULL, NULL, NULL};
        struct lr r;
        int first, rc, ret = CLI_EXIT_FAIL;

        memset(&r, 0, sizeof(r));
        if ((first = cli_getopt(argc, argv, opts, NULL, lr_opt, &o,
                                cmd_audit_log_recompute_help)) == -1)
                return CLI_EXIT_USAGE;
        /* argv[first] is the verb itself. */
        if (argc - first > 1) {
                cli_error("audit log-recompute", "unexpected argument '%s'",
                          argv[first + 1]);
                return CLI_EXIT_USAGE;
        }
        if (lr_trust(&r, &o, ca, sizeof(ca), err, sizeof(err)) == -1 ||
            audit_cnf_path(o.cnf, cnf, sizeof(cnf), err, sizeof(err)) == -1 ||
            (r.db = audit_connect(cnf, err, sizeof(err))) == NULL)
                goto fail;
        r.cnf = cnf;
        if (r.ca_path == NULL)
                cli_note("no ttp-ca.pem beside the TTP key and no --tsa-ca: "
                         "heads cannot be checked");
        if (lr_heads_load(&r, err, sizeof(err)) == -1)
                goto fail;
        if ((rc = lr_leaves(&r, err, sizeof(err))) == -2)
                goto fail;
        if (rc == -1) {
                printf("tds audit log-recompute: INVALID: %s\n", err);
                ret = CLI_EXIT_VERIFY;
                goto done;
        }
        lr_report(&r);
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("audit log-recompute", "%s", err);
done:
        for (size_t i = 0; i < r.nheads; i++)
                free(r.heads[i].token);
        free(r.heads);
        free(r.ttp_pem);
        free(r.ca_pem);
        if (r.db != NULL) {
                mysql_rollback(r.db);
                audit_close(r.db);
        }
        return ret;
}

/*
 * The evidence log through the user's session (docs/client.md):
 *
 *   tds bundle EVIDENCE [-o BUNDLE]   the evidence, its inclusion proof
 *                                     and a signed head, in one file
 *   tds log head [-o FILE]            the latest signed tree head
 *   tds audit log-check OLD NEW       the log of NEW extends OLD's
 *
 * Everything the TTP sends is checked here before it is kept or
 * believed (libtds/bundle.c, the TTP key pinned from the config): a
 * proof, a head or a token that does not verify is exit 4 with the
 * reason, and nothing is written.
 */
#include "cli.h"
#include "commands.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "errbuf.h"
#include "hex.h"
#include "ids.h"
#include "session.h"

#define LOG_PEM_MAX (64 * 1024) /* a PEM key or certificate file */

/* ---- shared ------------------------------------------------------------- */

/*
 * The trust of `ctx`: the TTP key of the config (read as PEM), and the
 * --tsa-ca anchor when given.  `keep` holds the buffers (log_trust_fini).
 */
struct log_trust {
        struct bundle_trust t;
        char *ttp_pem, *ca_pem;
};

static int log_trust_init(struct log_trust *lt, const char *ttp_key_path,
                          const char *tsa_ca, char *err, size_t errlen)
{
        size_t len;

        memset(lt, 0, sizeof(*lt));
        if (ttp_key_path != NULL) {
                if ((lt->ttp_pem = home_read_file(ttp_key_path, LOG_PEM_MAX,
                                                  &len, err, errlen)) == NULL)
                        return -1;
                lt->t.ttp_key_pem = lt->ttp_pem;
                lt->t.ttp_key_pem_len = len;
        }
        if (tsa_ca != NULL) {
                if ((lt->ca_pem = home_read_file(tsa_ca, LOG_PEM_MAX, &len, err,
                                                 errlen)) == NULL)
                        return -1;
                lt->t.tsa_root_pem = lt->ca_pem;
                lt->t.tsa_root_pem_len = len;
        }
        return 0;
}

static void log_trust_fini(struct log_trust *lt)
{
        free(lt->ttp_pem);
        free(lt->ca_pem);
        memset(lt, 0, sizeof(*lt));
}

/* "2026-11-22T00:16:51Z" of a verdict's genTime. */
static const char *log_time(time_t t, char out[IDS_TIME_LEN + 1])
{
        if (ids_time_format(t, out, NULL, 0) == -1)
                snprintf(out, IDS_TIME_LEN + 1, "(out of range)");
        return out;
}

/*
 * Send `type` with `body` (stolen) and wait for `reply`: 0 and `msg` on
 * success; -1 when the TTP answered with an error (`msg` holds it, `err`
 * says it for a person); else an exit code with `err` set.
 */
static int log_call(struct cli_ctx *ctx, enum proto_type type, json_t *body,
                    enum proto_type reply, const char *what,
                    struct proto_msg *msg, char *err, size_t errlen)
{
        struct session_match m = {reply, NULL, NULL};
        enum session_status st;
        struct session_req req;
        struct session *s = NULL;
        int which = 0, ret = CLI_EXIT_FAIL;

        memset(&req, 0, sizeof(req));
        memset(msg, 0, sizeof(*msg));
        if ((st = session_open(&s, ctx, err, errlen)) != SESSION_OK) {
                ret = session_exit_code(st);
                json_decref(body);
                goto done;
        }
        /* Replies name no request: only an answer to the new one counts. */
        if ((st = session_fresh(s, &m.type, 1, NULL, err, errlen)) !=
            SESSION_OK) {
                ret = session_exit_code(st);
                json_decref(body);
                goto done;
        }
        if (session_req_new(&req, ctx, type, body, NULL, err, errlen) == -1)
                goto done;
        st = session_call(s, &req, &m, 1, what, &which, msg, err, errlen);
        if (st != SESSION_OK) {
                ret = session_exit_code(st);
                goto done;
        }
        if (session_ack(s, msg->msg_id, err, errlen) == -1)
                goto done;
        if (which == -1) {
                cli_ttp_error(msg, NULL, err, errlen);
                ret = -1;
                goto done;
        }
        ret = 0;
done:
        if (ret > 0)
                proto_msg_fini(msg);
        session_req_fini(&req);
        session_free(s);
        return ret;
}

/* The head a log.head or log.proof reply carries; strings borrowed. */
static void log_head_of(const struct proto_msg *msg, const char *log_id,
                        struct bundle_head *h)
{
        json_t *chain = msg->f[PF_TSA_CHAIN].json, *c;
        size_t i;

        memset(h, 0, sizeof(*h));
        h->log_id = log_id;
        h->tree_size = msg->f[PF_TREE_SIZE].num;
        h->root_hash = msg->f[PF_ROOT_HASH].str;
        h->time = msg->f[PF_TIME].str;
        h->ttp_sig = msg->f[PF_TTP_SIG].str;
        h->timestamp_token = msg->f[PF_TIMESTAMP_TOKEN].str;
        json_array_foreach(chain, i, c)
        {
                if (i >= BUNDLE_CHAIN_MAX)
                        break;
                h->tsa_chain[i] = json_string_value(c);
                h->tsa_chain_len = i + 1;
        }
}

/* ---- tds bundle --------------------------------------------------------- */

void cmd_bundle_help(FILE *out)
{
        fprintf(out,
                "usage: tds bundle EVIDENCE_FILE [-o BUNDLE]\n"
                "\n"
                "Make the evidence file self-contained for a judge: ask the "
                "TTP (log.proof)\n"
                "where its event sits in the evidence log, check the answer "
                "- the inclusion\n"
                "proof up to a tree head signed by the TTP key of the "
                "config and time-stamped\n"
                "(RFC 3161) by a TSA chaining to the TTP - and write the "
                "evidence, the proof\n"
                "and the head as one bundle (schemas/bundle.schema.json).  "
                "Check it later,\n"
                "offline, with `tds verify BUNDLE`.\n"
                "\n"
                "  -o, --output BUNDLE  where to write it (default: the "
                "evidence path with\n"
                "                       .json replaced by .bundle.json)\n"
                "  --tsa-ca PEM         the TSA's trust anchor (default: "
                "the TTP's own CA\n"
                "                       certificate, last in the head's "
                "chain)\n"
                "\n"
                "Needs a configured, registered user (the request is "
                "signed).  Exit 4: the\n"
                "evidence or the TTP's answer does not verify (the reason "
                "is printed, nothing\n"
                "is written).\n");
        cli_help_common(out);
}

struct bundle_opts {
        const char *output, *tsa_ca;
};

static int bundle_opt(int ch, const char *arg, void *ctx)
{
        struct bundle_opts *o = ctx;

        if (ch == 'o')
                o->output = arg;
        else if (ch == 'C')
                o->tsa_ca = arg;
        else
                return -1;
        return 0;
}

/* EVIDENCE with ".json" replaced by ".bundle.json" (or appended). */
static int bundle_default_path(const char *ev, char *out, size_t outlen)
{
        size_t n = strlen(ev);

        if (n > 5 && strcmp(ev + n - 5, ".json") == 0)
                n -= 5;
        return (size_t)snprintf(out, outlen, "%.*s.bundle.json", (int)n, ev) <
                       outlen
                   ? 0
                   : -1;
}

int cmd_bundle(int argc, char **argv)
{
        static const struct option opts[] = {
            {"output", required_argument, NULL, 'o'},
            {"tsa-ca", required_argument, NULL, 'C'},
            {NULL, 0, NULL, 0}};
        char err[CLI_ERR_MAX], path[HOME_PATH_MAX], hash_hex[65];
        char t[IDS_TIME_LEN + 1];
        struct bundle_opts o = {NULL, NULL};
        merkle_hash leaf_hash, proof[MERKLE_MAX_PROOF];
        struct bundle_verdict v;
        struct bundle_head head;
        struct log_trust lt;
        struct proto_msg msg;
        struct evidence ev;
        struct cli_ctx ctx;
        json_t *root = NULL, *bundle = NULL;
        size_t proof_len;
        int first, rc, ret = CLI_EXIT_FAIL;

        memset(&ctx, 0, sizeof(ctx));
        memset(&msg, 0, sizeof(msg));
        memset(&lt, 0, sizeof(lt));
        if ((first = cli_getopt(argc, argv, opts, "o:", bundle_opt, &o,
                                cmd_bundle_help)) == -1)
                return CLI_EXIT_USAGE;
        if (argc - first != 1) {
                cli_error("bundle", "%s",
                          first == argc ? "which evidence file?"
                                        : "one evidence file at a time");
                return CLI_EXIT_USAGE;
        }
        if (o.output != NULL)
                snprintf(path, sizeof(path), "%s", o.output);
        else if (bundle_default_path(argv[first], path, sizeof(path)) == -1) {
                cli_error("bundle", "path too long");
                return CLI_EXIT_USAGE;
        }

        if (evidence_load(argv[first], &root, &ev, err, sizeof(err)) == -1 ||
            cli_ctx_open(&ctx, CLI_NEED_KEY | CLI_NEED_TTP_KEY, err,
                         sizeof(err)) == -1 ||
            log_trust_init(&lt, ctx.cfg.ttp_public_key, o.tsa_ca, err,
                           sizeof(err)) == -1)
                goto fail;
        /* The evidence first: no point asking where a forgery sits. */
        if (evidence_verify(&ev, ctx.ttp_key_id, NULL, err, sizeof(err)) ==
            -1) {
                printf("tds bundle: INVALID: evidence: %s\n", err);
                ret = CLI_EXIT_VERIFY;
                goto done;
        }
        if (bundle_leaf(&ev, NULL, NULL, leaf_hash, err, sizeof(err)) == -1)
                goto fail;
        hex_encode(leaf_hash, sizeof(leaf_hash), hash_hex, sizeof(hash_hex));
        cli_note("leaf hash %s", hash_hex);
        rc = log_call(&ctx, PROTO_LOG_PROOF_REQUEST,
                      json_pack("{s:s}", "leaf_hash", hash_hex),
                      PROTO_LOG_PROOF, "log.proof", &msg, err, sizeof(err));
        if (rc == -1 && msg.f[PF_CODE].str != NULL &&
            strcmp(msg.f[PF_CODE].str, "unknown_leaf") == 0) {
                /* The TTP countersigned it but has no record of it. */
                printf("tds bundle: INVALID: the TTP's evidence log has no "
                       "leaf for this evidence (leaf hash %s): %s\n",
                       hash_hex, err);
                ret = CLI_EXIT_VERIFY;
                goto done;
        }
        if (rc != 0) {
                ret = rc > 0 ? rc : CLI_EXIT_FAIL;
                goto fail;
        }
        if (strcmp(msg.f[PF_LEAF_HASH].str, hash_hex) != 0) {
                printf("tds bundle: INVALID: the TTP answered for leaf hash "
                       "%s, not %s\n",
                       msg.f[PF_LEAF_HASH].str, hash_hex);
                ret = CLI_EXIT_VERIFY;
                goto done;
        }
        if (bundle_proof_from_json(msg.f[PF_PROOF].json, "inclusion proof",
                                   proof, &proof_len, err, sizeof(err)) == -1)
                goto fail;
        log_head_of(&msg, ctx.ttp_key_id, &head);
        if ((bundle = bundle_to_json(&ev, msg.f[PF_LEAF_INDEX].num, proof,
                                     proof_len, &head, err, sizeof(err))) ==
            NULL)
                goto fail;
        if (bundle_verify(bundle, &lt.t, NULL, &v, err, sizeof(err)) == -1) {
                printf("tds bundle: INVALID: %s\n", err);
                ret = CLI_EXIT_VERIFY;
                goto done;
        }
        if (bundle_json_save(bundle, path, err, sizeof(err)) == -1)
                goto fail;
        if (cli_opts.json) {
                if (cli_print_json(json_pack(
                        "{s:s, s:I, s:I, s:s, s:s, s:s}", "bundle", path,
                        "leaf_index", (json_int_t)v.leaf_index, "tree_size",
                        (json_int_t)v.tree_size, "root_hash", head.root_hash,
                        "head_time", head.time, "stamped_at",
                        log_time(v.stamped_at, t))) == -1)
                        goto done;
        } else {
                printf("%s: leaf %" PRIu64 " of the TTP's evidence log, in "
                       "the tree of %" PRIu64 " leaves signed at %s and "
                       "time-stamped at %s\n",
                       path, v.leaf_index, v.tree_size, head.time,
                       log_time(v.stamped_at, t));
        }
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("bundle", "%s", err);
done:
        json_decref(bundle);
        json_decref(root);
        proto_msg_fini(&msg);
        log_trust_fini(&lt);
        cli_ctx_fini(&ctx);
        return ret;
}

/* ---- tds log head ------------------------------------------------------- */

void cmd_log_help(FILE *out)
{
        fprintf(out,
                "usage: tds log head [-o FILE] [--tsa-ca PEM]\n"
                "\n"
                "Fetch the latest signed tree head of the TTP's evidence log "
                "(log.head; the\n"
                "TTP signs one now if the log grew since the last), check "
                "it - ttp_sig under\n"
                "the TTP key of the config, the RFC 3161 token over it by a "
                "TSA chaining to\n"
                "the TTP - and save it as a tree head file "
                "(schemas/tree-head.schema.json).\n"
                "Keep heads: `tds audit log-check OLD NEW` proves later that "
                "the log only grew.\n"
                "\n"
                "  -o, --output FILE  where to write it (default: "
                "tree-head-SIZE.json in the\n"
                "                     current directory)\n"
                "  --tsa-ca PEM       the TSA's trust anchor (default: the "
                "TTP's own CA\n"
                "                     certificate, last in the head's "
                "chain)\n"
                "\n"
                "Needs a configured, registered user.  Exit 4: the head "
                "does not verify\n"
                "(nothing is written).\n");
        cli_help_common(out);
}

int cmd_log(int argc, char **argv)
{
        static const struct option opts[] = {
            {"output", required_argument, NULL, 'o'},
            {"tsa-ca", required_argument, NULL, 'C'},
            {NULL, 0, NULL, 0}};
        char err[CLI_ERR_MAX], path[HOME_PATH_MAX], t[IDS_TIME_LEN + 1];
        struct bundle_opts o = {NULL, NULL};
        struct bundle_verdict v;
        struct bundle_head head;
        struct log_trust lt;
        struct proto_msg msg;
        struct cli_ctx ctx;
        json_t *file = NULL;
        int first, rc, ret = CLI_EXIT_FAIL;

        memset(&ctx, 0, sizeof(ctx));
        memset(&msg, 0, sizeof(msg));
        memset(&lt, 0, sizeof(lt));
        if ((first = cli_getopt(argc, argv, opts, "o:", bundle_opt, &o,
                                cmd_log_help)) == -1)
                return CLI_EXIT_USAGE;
        if (argc - first != 1 || strcmp(argv[first], "head") != 0) {
                cli_error("log", "%s",
                          first == argc ? "which subcommand? (head)"
                                        : "the only subcommand is 'head'");
                return CLI_EXIT_USAGE;
        }
        if (cli_ctx_open(&ctx, CLI_NEED_KEY | CLI_NEED_TTP_KEY, err,
                         sizeof(err)) == -1 ||
            log_trust_init(&lt, ctx.cfg.ttp_public_key, o.tsa_ca, err,
                           sizeof(err)) == -1)
                goto fail;
        rc = log_call(&ctx, PROTO_LOG_HEAD_REQUEST, json_object(),
                      PROTO_LOG_HEAD, "log.head", &msg, err, sizeof(err));
        if (rc != 0) {
                ret = rc > 0 ? rc : CLI_EXIT_FAIL;
                goto fail;
        }
        log_head_of(&msg, ctx.ttp_key_id, &head);
        if (bundle_head_verify(&head, &lt.t, &v, err, sizeof(err)) == -1) {
                printf("tds log head: INVALID: %s\n", err);
                ret = CLI_EXIT_VERIFY;
                goto done;
        }
        if (o.output != NULL)
                snprintf(path, sizeof(path), "%s", o.output);
        else
                snprintf(path, sizeof(path), "tree-head-%" PRIu64 ".json",
                         head.tree_size);
        if ((file = bundle_head_to_json(&head, 1, err, sizeof(err))) == NULL ||
            bundle_json_save(file, path, err, sizeof(err)) == -1)
                goto fail;
        if (cli_opts.json) {
                if (cli_print_json(json_incref(file)) == -1)
                        goto done;
        } else {
                printf("%s: tree head of %" PRIu64 " leaves, root %s, signed "
                       "at %s, time-stamped at %s (log id %s)\n",
                       path, head.tree_size, head.root_hash, head.time,
                       log_time(v.stamped_at, t), head.log_id);
        }
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("log head", "%s", err);
done:
        json_decref(file);
        proto_msg_fini(&msg);
        log_trust_fini(&lt);
        cli_ctx_fini(&ctx);
        return ret;
}

/* ---- tds audit log-check ------------------------------------------------ */

void cmd_audit_log_check_help(FILE *out)
{
        fprintf(out,
                "usage: tds audit log-check OLD_HEAD NEW_HEAD [--tsa-ca "
                "PEM]\n"
                "\n"
                "Prove that the TTP's evidence log only grew between two "
                "tree head files\n"
                "(tds log head): check both heads (signed by the TTP key of "
                "the config,\n"
                "time-stamped), ask the TTP for the consistency proof "
                "between their sizes\n"
                "(log.consistency) and check that the older tree is a "
                "prefix of the newer.\n"
                "Heads of equal size must have equal roots.  A rewritten "
                "history is exit 4\n"
                "with the reason.\n"
                "\n"
                "  --tsa-ca PEM  the TSA's trust anchor (default: the TTP's "
                "own CA certificate)\n"
                "\n"
                "Needs a configured, registered user: the request goes "
                "through the user's\n"
                "session (the auditor's database account is not "
                "enough).\n");
        cli_help_common(out);
}

/* A head file: strictly a tree head object with "tds_tree_head". */
static int log_head_load(const char *path, json_t **root, struct bundle_head *h,
                         char *err, size_t errlen)
{
        char why[1024];

        if (bundle_json_load(path, root, err, errlen) == -1)
                return -1;
        if (json_object_get(*root, "tds_tree_head") == NULL) {
                errbuf_set(err, errlen,
                           "%s: not a tree head file (no \"tds_tree_head\")",
                           path);
                return -1;
        }
        if (bundle_head_from_json(*root, h, why, sizeof(why)) == -1) {
                errbuf_set(err, errlen, "%s: %s", path, why);
                return -1;
        }
        return 0;
}

int cmd_audit_log_check(int argc, char **argv)
{
        static const struct option opts[] = {
            {"tsa-ca", required_argument, NULL, 'C'}, {NULL, 0, NULL, 0}};
        char err[CLI_ERR_MAX], why[CLI_ERR_MAX];
        struct bundle_opts o = {NULL, NULL};
        merkle_hash proof[MERKLE_MAX_PROOF];
        struct bundle_head h[2], *old, *new;
        const char *name[2], *old_name, *new_name;
        struct bundle_verdict v;
        json_t *root[2] = {NULL, NULL};
        struct log_trust lt;
        struct proto_msg msg;
        struct cli_ctx ctx;
        size_t proof_len = 0;
        int first, rc, ret = CLI_EXIT_FAIL;

        memset(&ctx, 0, sizeof(ctx));
        memset(&msg, 0, sizeof(msg));
        memset(&lt, 0, sizeof(lt));
        if ((first = cli_getopt(argc, argv, opts, NULL, bundle_opt, &o,
                                cmd_audit_log_check_help)) == -1)
                return CLI_EXIT_USAGE;
        /* argv[first] is the verb itself. */
        if (argc - first != 3) {
                cli_error("audit log-check", "two head files: OLD_HEAD "
                                             "NEW_HEAD");
                return CLI_EXIT_USAGE;
        }
        name[0] = argv[first + 1];
        name[1] = argv[first + 2];
        if (cli_ctx_open(&ctx, CLI_NEED_KEY | CLI_NEED_TTP_KEY, err,
                         sizeof(err)) == -1 ||
            log_trust_init(&lt, ctx.cfg.ttp_public_key, o.tsa_ca, err,
                           sizeof(err)) == -1)
                goto fail;
        for (int i = 0; i < 2; i++) {
                if (log_head_load(name[i], &root[i], &h[i], err, sizeof(err)) ==
                    -1)
                        goto fail;
                if (bundle_head_verify(&h[i], &lt.t, &v, why, sizeof(why)) ==
                    -1) {
                        printf("tds audit log-check: INVALID: %s: %s\n",
                               name[i], why);
                        ret = CLI_EXIT_VERIFY;
                        goto done;
                }
        }
        /* Older first, whatever the order given. */
        old = &h[0];
        new = &h[1];
        old_name = name[0];
        new_name = name[1];
        if (old->tree_size > new->tree_size) {
                old = &h[1];
                new = &h[0];
                old_name = name[1];
                new_name = name[0];
        }
        if (old->tree_size > 0 && old->tree_size < new->tree_size) {
                rc = log_call(&ctx, PROTO_LOG_CONSISTENCY_REQUEST,
                              json_pack("{s:I, s:I}", "first",
                                        (json_int_t)old->tree_size, "second",
                                        (json_int_t) new->tree_size),
                              PROTO_LOG_CONSISTENCY, "log.consistency", &msg,
                              err, sizeof(err));
                if (rc == -1 && msg.f[PF_CODE].str != NULL &&
                    strcmp(msg.f[PF_CODE].str, "bad_range") == 0) {
                        /* It signed a head of a size it no longer has. */
                        printf("tds audit log-check: INVALID: the TTP "
                               "cannot prove consistency from %" PRIu64
                               " to %" PRIu64 " leaves, heads it signed: "
                               "%s\n",
                               old->tree_size, new->tree_size, err);
                        ret = CLI_EXIT_VERIFY;
                        goto done;
                }
                if (rc != 0) {
                        ret = rc > 0 ? rc : CLI_EXIT_FAIL;
                        goto fail;
                }
                if (msg.f[PF_FIRST].num != old->tree_size ||
                    msg.f[PF_SECOND].num != new->tree_size) {
                        printf("tds audit log-check: INVALID: the TTP "
                               "answered for sizes %" PRIu64 " and %" PRIu64
                               ", not %" PRIu64 " and %" PRIu64 "\n",
                               msg.f[PF_FIRST].num, msg.f[PF_SECOND].num,
                               old->tree_size, new->tree_size);
                        ret = CLI_EXIT_VERIFY;
                        goto done;
                }
                if (bundle_proof_from_json(msg.f[PF_PROOF].json,
                                           "consistency proof", proof,
                                           &proof_len, err, sizeof(err)) == -1)
                        goto fail;
        }
        if (bundle_heads_consistent(old, new, proof, proof_len, &lt.t, why,
                                    sizeof(why)) == -1) {
                printf("tds audit log-check: INVALID: %s\n", why);
                ret = CLI_EXIT_VERIFY;
                goto done;
        }
        if (cli_opts.json) {
                if (cli_print_json(json_pack(
                        "{s:b, s:s, s:I, s:s, s:s, s:I, s:s}", "consistent", 1,
                        "old", old_name, "old_tree_size",
                        (json_int_t)old->tree_size, "old_root_hash",
                        old->root_hash, "new", new_name, "new_tree_size",
                        (json_int_t) new->tree_size, "new_root_hash",
                        new->root_hash)) == -1)
                        goto done;
        } else {
                printf("CONSISTENT: the log of %" PRIu64 " leaves (%s, "
                       "signed %s) is a prefix of the log of %" PRIu64
                       " leaves (%s, signed %s)%s\n",
                       old->tree_size, old_name, old->time, new->tree_size,
                       new_name, new->time,
                       old->tree_size == new->tree_size ? ": the same tree"
                                                        : "");
        }
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("audit log-check", "%s", err);
done:
        json_decref(root[0]);
        json_decref(root[1]);
        proto_msg_fini(&msg);
        log_trust_fini(&lt);
        cli_ctx_fini(&ctx);
        return ret;
}

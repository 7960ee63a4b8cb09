/*
 * tds abort: withdraw one of my files.
 */
#include "cli.h"

#include <string.h>

#include "session.h"
#include "state.h"
#include "tbs.h"

void cmd_abort_help(FILE *out)
{
        fprintf(out,
                "usage: tds abort FILE_ID\n"
                "\n"
                "Withdraw a file you uploaded.  The TTP answers with one of "
                "three outcomes:\n"
                "  1  the upload was still in progress: it is dropped\n"
                "  2  it was never downloaded: the document is deleted\n"
                "  3  it was downloaded: it is kept for the completed "
                "exchanges' sake, pending\n"
                "     downloads are cancelled and no new ones are allowed\n"
                "The TTP's signature on the outcome is checked against the "
                "hashes of your\n"
                "local upload record (a warning when that record is "
                "missing).  A file id is\n"
                "never reused after an abort.\n");
        cli_help_common(out);
}

static const char *abort_outcome(long n)
{
        switch (n) {
        case 1:
                return "the upload was still in progress and is dropped";
        case 2:
                return "it was never downloaded: the document is deleted";
        case 3:
                return "it was downloaded: the document is kept for the "
                       "completed exchanges, pending downloads are cancelled";
        default:
                return "unknown outcome";
        }
}

int cmd_abort(int argc, char **argv)
{
        struct session_match m = {PROTO_ABORT_RESULT, NULL, NULL};
        struct session_req req;
        struct proto_msg msg;
        struct session *s = NULL;
        struct cli_ctx ctx;
        enum session_status st;
        json_t *rec = NULL, *ab = NULL;
        const char *file_id, *sha = "", *nro_sha = "";
        char err[CLI_ERR_MAX], why[1024], warn[512] = "";
        char *tbs = NULL;
        size_t tbslen = 0;
        long outcome;
        int first, which = 0, verified = 0, ret = CLI_EXIT_FAIL;

        memset(&req, 0, sizeof(req));
        memset(&msg, 0, sizeof(msg));
        memset(&ctx, 0, sizeof(ctx));
        if ((first = cli_getopt(argc, argv, NULL, NULL, NULL, NULL,
                                cmd_abort_help)) == -1)
                return CLI_EXIT_USAGE;
        if (argc - first != 1) {
                cli_error("abort", "%s (see tds help abort)",
                          argc == first ? "which FILE_ID?"
                                        : "one FILE_ID at a time");
                return CLI_EXIT_USAGE;
        }
        file_id = argv[first];
        if (ids_check_file_id(file_id, err, sizeof(err)) == -1) {
                cli_error("abort", "file id '%s': %s", file_id, err);
                return CLI_EXIT_USAGE;
        }
        m.file_id = file_id;
        if (cli_ctx_open(&ctx, CLI_NEED_KEY | CLI_NEED_TTP_KEY, err,
                         sizeof(err)) == -1 ||
            state_upload_load(ctx.home, file_id, &rec, err, sizeof(err)) == -1)
                goto fail;
        if ((st = session_open(&s, &ctx, err, sizeof(err))) != SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        if (session_req_new(&req, &ctx, PROTO_ABORT,
                            json_pack("{s:s}", "file_id", file_id), NULL, err,
                            sizeof(err)) == -1)
                goto fail;
        st = session_call(s, &req, &m, 1, "abort.result", &which, &msg, err,
                          sizeof(err));
        if (st != SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        if (which == -1) {
                if (strcmp(msg.f[PF_CODE].str, "file_aborted") == 0)
                        snprintf(err, sizeof(err),
                                 "%s is already aborted (TTP: %s)", file_id,
                                 msg.f[PF_MESSAGE].str);
                else
                        cli_ttp_error(&msg, file_id, err, sizeof(err));
                session_ack(s, msg.msg_id, NULL, 0);
                goto fail;
        }
        outcome = (long)msg.f[PF_ABORT].num;
        /* Outcome 1 had no completed upload, so no hashes (decision 12). */
        if (outcome != 1) {
                if (rec != NULL && state_str(rec, "sha256") != NULL &&
                    state_str(rec, "nro_sha256") != NULL) {
                        sha = state_str(rec, "sha256");
                        nro_sha = state_str(rec, "nro_sha256");
                } else {
                        sha = NULL;
                }
        }
        if (sha == NULL) {
                snprintf(warn, sizeof(warn),
                         "this home has no record of the completed upload of "
                         "%s, so the TTP's signature on the outcome cannot "
                         "be checked",
                         file_id);
        } else {
                struct tbs_evidence f = {
                    "abort", file_id, ctx.cfg.user, "",
                    sha,     nro_sha, "",           msg.f[PF_TIME].str};

                if (tbs_evidence(&f, &tbs, &tbslen, err, sizeof(err)) == -1)
                        goto fail;
                if (cli_verify_b64(ctx.ttp_key, tbs, tbslen,
                                   msg.f[PF_TTP_SIG].str, why,
                                   sizeof(why)) == -1) {
                        snprintf(err, sizeof(err),
                                 "VERIFICATION FAILED: the TTP's signature on "
                                 "the abort of %s (outcome %ld) does not "
                                 "verify under the TTP key %s: %s",
                                 file_id, outcome, ctx.cfg.ttp_public_key, why);
                        ret = CLI_EXIT_VERIFY;
                        goto fail;
                }
                verified = 1;
        }
        if (rec != NULL) {
                ab = json_pack("{s:i, s:s, s:s, s:b}", "outcome", (int)outcome,
                               "time", msg.f[PF_TIME].str, "ttp_sig",
                               msg.f[PF_TTP_SIG].str, "verified", verified);
                if (ab == NULL || json_object_set(rec, "abort", ab) == -1 ||
                    state_set_str(rec, "state", STATE_ABORTED) == -1 ||
                    state_save(ctx.home, STATE_UPLOAD, file_id, NULL, rec, err,
                               sizeof(err)) == -1)
                        goto fail;
        }
        if (session_ack(s, msg.msg_id, err, sizeof(err)) == -1)
                goto fail;
        if (warn[0] != '\0')
                fprintf(stderr, "tds abort: warning: %s\n", warn);
        if (cli_opts.json) {
                if (cli_print_json(json_pack(
                        "{s:s, s:i, s:s, s:s, s:b}", "file_id", file_id,
                        "abort", (int)outcome, "outcome",
                        abort_outcome(outcome), "time", msg.f[PF_TIME].str,
                        "verified", verified)) == -1)
                        goto done;
        } else {
                printf("aborted %s (outcome %ld): %s\n", file_id, outcome,
                       abort_outcome(outcome));
        }
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("abort", "%s", err);
done:
        free(tbs);
        json_decref(ab);
        json_decref(rec);
        proto_msg_fini(&msg);
        session_req_fini(&req);
        session_free(s);
        cli_ctx_fini(&ctx);
        return ret;
}

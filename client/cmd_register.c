/*
 * tds register: make my public key known to the TTP.
 */
#include "cli.h"

#include <string.h>
#include <time.h>

#include "session.h"

void cmd_register_help(FILE *out)
{
        fprintf(out,
                "usage: tds register\n"
                "\n"
                "Register your public key (key.pem) with the TTP under the "
                "user name of the\n"
                "config, and print the key id the TTP registered.  Running "
                "it again is\n"
                "harmless.  If the TTP knows the name with another key, it "
                "fails (exit 1).\n"
                "The key id is also kept in <home>/registered.\n");
        cli_help_common(out);
}

int cmd_register(int argc, char **argv)
{
        struct session_match m = {PROTO_REGISTER_RESULT, NULL, NULL};
        struct session_req req;
        struct proto_msg msg;
        struct session *s = NULL;
        struct cli_ctx ctx;
        enum session_status st;
        char err[CLI_ERR_MAX], path[HOME_PATH_MAX], line[256];
        char now[IDS_TIME_LEN + 1];
        const char *got;
        int first, which = 0, ret = CLI_EXIT_FAIL;

        memset(&req, 0, sizeof(req));
        memset(&msg, 0, sizeof(msg));
        memset(&ctx, 0, sizeof(ctx));
        if ((first = cli_getopt(argc, argv, NULL, NULL, NULL, NULL,
                                cmd_register_help)) == -1)
                return CLI_EXIT_USAGE;
        if (first < argc) {
                cli_error("register", "unexpected argument '%s'", argv[first]);
                return CLI_EXIT_USAGE;
        }
        if (cli_ctx_open(&ctx, CLI_NEED_KEY, err, sizeof(err)) == -1)
                goto fail;
        if ((st = session_open(&s, &ctx, err, sizeof(err))) != SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        /* register.result names no request: only a new one may match. */
        if ((st = session_fresh(s, &m.type, 1, NULL, err, sizeof(err))) !=
            SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        if (session_req_new(&req, &ctx, PROTO_REGISTER,
                            json_pack("{s:s}", "public_key", ctx.spki_b64),
                            NULL, err, sizeof(err)) == -1)
                goto fail;
        st = session_call(s, &req, &m, 1, "register.result", &which, &msg, err,
                          sizeof(err));
        if (st != SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        if (which == -1) {
                if (strcmp(msg.f[PF_CODE].str, "key_conflict") == 0)
                        snprintf(err, sizeof(err),
                                 "the TTP already knows %s with another key "
                                 "(or this key under another name); keep "
                                 "using the key you registered first, or "
                                 "choose another user name (TTP: %s)",
                                 ctx.cfg.user, msg.f[PF_MESSAGE].str);
                else
                        cli_ttp_error(&msg, NULL, err, sizeof(err));
                session_ack(s, msg.msg_id, NULL, 0);
                goto fail;
        }
        got = msg.f[PF_KEY_ID].str;
        if (strcmp(got, ctx.key_id) != 0) {
                snprintf(err, sizeof(err),
                         "the TTP registered key id %s, but your key's id is "
                         "%s: do not use this TTP until that is explained",
                         got, ctx.key_id);
                ret = CLI_EXIT_VERIFY;
                goto fail;
        }
        if (ids_time_format(time(NULL), now, err, sizeof(err)) == -1 ||
            cli_home_path(&ctx, "registered", path, sizeof(path), err,
                          sizeof(err)) == -1)
                goto fail;
        snprintf(line, sizeof(line), "%s %s %s\n", ctx.cfg.user, got, now);
        if (home_write_atomic(path, line, strlen(line), 0600, err,
                              sizeof(err)) == -1 ||
            session_ack(s, msg.msg_id, err, sizeof(err)) == -1)
                goto fail;
        if (cli_opts.json) {
                if (cli_print_json(json_pack("{s:s, s:s}", "user", ctx.cfg.user,
                                             "key_id", got)) == -1)
                        goto done;
        } else {
                printf("%s\n", got);
        }
        cli_note("registered %s with key id %s", ctx.cfg.user, got);
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("register", "%s", err);
done:
        proto_msg_fini(&msg);
        session_req_fini(&req);
        session_free(s);
        cli_ctx_fini(&ctx);
        return ret;
}

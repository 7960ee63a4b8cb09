/*
 * tds catalog: the files the TTP offers for download.
 */
#include "cli.h"

#include <string.h>

#include "session.h"

#define CATALOG_NAME_COLS 32

void cmd_catalog_help(FILE *out)
{
        fprintf(out,
                "usage: tds catalog\n"
                "\n"
                "Ask the TTP which files can be downloaded (at most the "
                "1000 newest, not\n"
                "aborted) and print them: file id, name, uploader, size, "
                "the first 12 hex\n"
                "digits of the SHA-256, upload time.  With --json: an array "
                "of objects with\n"
                "file_id, name, uploader, sha256, size, uploaded_at.\n");
        cli_help_common(out);
}

int cmd_catalog(int argc, char **argv)
{
        struct session_match m = {PROTO_CATALOG, NULL, NULL};
        struct session_req req;
        struct proto_msg msg;
        struct session *s = NULL;
        struct cli_ctx ctx;
        enum session_status st;
        char err[CLI_ERR_MAX], size[32];
        json_t *files, *e;
        size_t i;
        int first, which = 0, ret = CLI_EXIT_FAIL;

        memset(&req, 0, sizeof(req));
        memset(&msg, 0, sizeof(msg));
        memset(&ctx, 0, sizeof(ctx));
        if ((first = cli_getopt(argc, argv, NULL, NULL, NULL, NULL,
                                cmd_catalog_help)) == -1)
                return CLI_EXIT_USAGE;
        if (first < argc) {
                cli_error("catalog", "unexpected argument '%s'", argv[first]);
                return CLI_EXIT_USAGE;
        }
        if (cli_ctx_open(&ctx, CLI_NEED_KEY, err, sizeof(err)) == -1)
                goto fail;
        if ((st = session_open(&s, &ctx, err, sizeof(err))) != SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        /* A catalog names no request: only a new one may match. */
        if ((st = session_fresh(s, &m.type, 1, NULL, err, sizeof(err))) !=
            SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        if (session_req_new(&req, &ctx, PROTO_CATALOG_REQUEST, json_object(),
                            NULL, err, sizeof(err)) == -1)
                goto fail;
        st = session_call(s, &req, &m, 1, "catalog", &which, &msg, err,
                          sizeof(err));
        if (st != SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        if (which == -1) {
                cli_ttp_error(&msg, NULL, err, sizeof(err));
                session_ack(s, msg.msg_id, NULL, 0);
                goto fail;
        }
        if (session_ack(s, msg.msg_id, err, sizeof(err)) == -1)
                goto fail;
        files = msg.f[PF_FILES].json;
        if (cli_opts.json) {
                if (cli_print_json(json_incref(files)) == -1)
                        goto done;
                ret = CLI_EXIT_OK;
                goto done;
        }
        if (json_array_size(files) == 0) {
                cli_note("the catalog is empty");
                ret = CLI_EXIT_OK;
                goto done;
        }
        printf("%-36s  %-*s  %-16s  %10s  %-12s  %s\n", "FILE ID",
               CATALOG_NAME_COLS, "NAME", "UPLOADER", "SIZE", "SHA256",
               "UPLOADED AT");
        json_array_foreach(files, i, e)
        {
                cli_human_size(
                    (uint64_t)json_integer_value(json_object_get(e, "size")),
                    size, sizeof(size));
                printf("%-36s  ",
                       json_string_value(json_object_get(e, "file_id")));
                cli_print_cell(json_string_value(json_object_get(e, "name")),
                               CATALOG_NAME_COLS);
                printf("  %-16s  %10s  %.12s  %s\n",
                       json_string_value(json_object_get(e, "uploader")), size,
                       json_string_value(json_object_get(e, "sha256")),
                       json_string_value(json_object_get(e, "uploaded_at")));
        }
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("catalog", "%s", err);
done:
        proto_msg_fini(&msg);
        session_req_fini(&req);
        session_free(s);
        cli_ctx_fini(&ctx);
        return ret;
}

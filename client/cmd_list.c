/*
 * tds uploads, tds downloads: my exchanges, from the local records.
 */
#include "cli.h"

#include <string.h>

#include "state.h"

void cmd_uploads_help(FILE *out)
{
        fprintf(out,
                "usage: tds uploads\n"
                "\n"
                "List your uploads from the local records: file id, name, "
                "state (in progress,\n"
                "done, aborted, failed), receipts collected (tds receipts "
                "collects them),\n"
                "size, last change.  No network.  With --json: an array of "
                "objects.\n");
        cli_help_common(out);
}

void cmd_downloads_help(FILE *out)
{
        fprintf(out,
                "usage: tds downloads\n"
                "\n"
                "List your downloads from the local records: file id, "
                "uploader, state (in\n"
                "progress, done, aborted, failed), size, output file, last "
                "change.  No network.\n"
                "With --json: an array of objects.\n");
        cli_help_common(out);
}

static const char *list_state(const json_t *rec)
{
        const char *s = state_str(rec, "state");

        if (s == NULL)
                return "?";
        return strcmp(s, STATE_IN_PROGRESS) == 0 ? "in progress" : s;
}

static const char *list_str(const json_t *rec, const char *key)
{
        const char *s = state_str(rec, key);

        return s != NULL ? s : "";
}

/* The summary of one record for --json. */
static json_t *list_entry(const json_t *rec, enum state_kind kind)
{
        json_t *e = json_object();
        static const char *const up[] = {
            "file_id",  "name",  "state",      "stage",      "sha256", "time",
            "evidence", "error", "created_at", "updated_at", "source"};
        static const char *const down[] = {
            "file_id", "uploader", "state", "stage",      "sha256",    "time",
            "output",  "evidence", "error", "created_at", "updated_at"};
        const char *const *keys = kind == STATE_UPLOAD ? up : down;
        size_t n = kind == STATE_UPLOAD ? sizeof(up) / sizeof(up[0])
                                        : sizeof(down) / sizeof(down[0]);
        json_t *v;

        if (e == NULL)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if ((v = json_object_get(rec, keys[i])) != NULL &&
                    json_object_set(e, keys[i], v) == -1)
                        goto fail;
                if (i == 1 && kind == STATE_UPLOAD &&
                    (v = json_object_get(rec, "size")) != NULL &&
                    json_object_set(e, "size", v) == -1)
                        goto fail;
        }
        if (kind == STATE_DOWNLOAD && json_object_get(rec, "size") != NULL &&
            json_object_set(e, "size", json_object_get(rec, "size")) == -1)
                goto fail;
        if (kind == STATE_UPLOAD) {
                json_t *ab = json_object_get(rec, "abort");

                if (json_object_set_new(
                        e, "receipts",
                        json_integer((json_int_t)json_array_size(
                            json_object_get(rec, "receipts")))) == -1 ||
                    (ab != NULL &&
                     json_object_set(e, "abort",
                                     json_object_get(ab, "outcome")) == -1))
                        goto fail;
        }
        return e;
fail:
        json_decref(e);
        return NULL;
}

static int list_run(int argc, char **argv, enum state_kind kind)
{
        const char *cmd = kind == STATE_UPLOAD ? "uploads" : "downloads";
        struct cli_ctx ctx;
        json_t *all = NULL, *out = NULL, *rec;
        char err[CLI_ERR_MAX], size[32];
        size_t i;
        int first, ret = CLI_EXIT_FAIL;

        memset(&ctx, 0, sizeof(ctx));
        if ((first = cli_getopt(argc, argv, NULL, NULL, NULL, NULL,
                                kind == STATE_UPLOAD ? cmd_uploads_help
                                                     : cmd_downloads_help)) ==
            -1)
                return CLI_EXIT_USAGE;
        if (first < argc) {
                cli_error(cmd, "unexpected argument '%s'", argv[first]);
                return CLI_EXIT_USAGE;
        }
        if (cli_ctx_open(&ctx, 0, err, sizeof(err)) == -1 ||
            state_list(ctx.home, kind, &all, err, sizeof(err)) == -1)
                goto fail;
        if (cli_opts.json) {
                if ((out = json_array()) == NULL)
                        goto oom;
                json_array_foreach(all, i, rec)
                {
                        if (json_array_append_new(out, list_entry(rec, kind)) ==
                            -1)
                                goto oom;
                }
                ret = cli_print_json(out) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
                out = NULL;
                goto done;
        }
        if (json_array_size(all) > 0) {
                if (kind == STATE_UPLOAD)
                        printf("%-36s  %-24s  %-11s  %8s  %10s  %s\n",
                               "FILE ID", "NAME", "STATE", "RECEIPTS", "SIZE",
                               "UPDATED");
                else
                        printf("%-36s  %-16s  %-11s  %10s  %-20s  %s\n",
                               "FILE ID", "UPLOADER", "STATE", "SIZE",
                               "UPDATED", "OUTPUT");
        }
        json_array_foreach(all, i, rec)
        {
                json_t *sz = json_object_get(rec, "size");

                if (sz != NULL)
                        cli_human_size((uint64_t)json_integer_value(sz), size,
                                       sizeof(size));
                else
                        snprintf(size, sizeof(size), "-");
                if (kind == STATE_UPLOAD) {
                        printf("%-36s  ", list_str(rec, "file_id"));
                        cli_print_cell(list_str(rec, "name"), 24);
                        printf(
                            "  %-11s  %8zu  %10s  %s\n", list_state(rec),
                            json_array_size(json_object_get(rec, "receipts")),
                            size, list_str(rec, "updated_at"));
                } else
                        printf("%-36s  %-16s  %-11s  %10s  %-20s  %s\n",
                               list_str(rec, "file_id"),
                               list_str(rec, "uploader"), list_state(rec), size,
                               list_str(rec, "updated_at"),
                               list_str(rec, "output"));
        }
        ret = CLI_EXIT_OK;
        goto done;
oom:
        snprintf(err, sizeof(err), "out of memory");
fail:
        cli_error(cmd, "%s", err);
done:
        json_decref(out);
        json_decref(all);
        cli_ctx_fini(&ctx);
        return ret;
}

int cmd_uploads(int argc, char **argv)
{
        return list_run(argc, argv, STATE_UPLOAD);
}

int cmd_downloads(int argc, char **argv)
{
        return list_run(argc, argv, STATE_DOWNLOAD);
}

/*
 * tds receipts: collect the downloaders' receipts for my uploads (step 7).
 */
#include "cli.h"

#include <string.h>

#include "evidence.h"
#include "session.h"
#include "state.h"

void cmd_receipts_help(FILE *out)
{
        fprintf(out,
                "usage: tds receipts\n"
                "\n"
                "Read the TTP's pending replies and turn every receipt for "
                "your uploads (a\n"
                "downloader's signed NRR, countersigned by the TTP) into "
                "exchange evidence:\n"
                "<home>/evidence/ID.receipt.DOWNLOADER.<8 hex>.json.  Prints "
                "one line per new\n"
                "receipt: file id, downloader, time, evidence file.  A "
                "receipt that does not\n"
                "verify is reported, kept in <home>/evidence/rejected/ and "
                "the exit status\n"
                "is 4.\n");
        cli_help_common(out);
}

struct receipts {
        struct cli_ctx ctx;
        struct session *s;
        json_t *out;  /* new receipts, for the output */
        int rejected; /* how many failed verification */
        int unknown;  /* receipts for files without a local record */
        char err[CLI_ERR_MAX];
};

/* Keep a receipt that failed in rejected/ with the reason. */
static int receipts_reject(struct receipts *r, const struct proto_msg *msg,
                           const char *name, const char *why)
{
        char path[HOME_PATH_MAX], err[CLI_ERR_MAX];
        char *text = NULL;
        json_t *j = NULL;
        int ret = -1;

        fprintf(stderr, "tds receipts: REJECTED a receipt for %s from %s: %s\n",
                msg->f[PF_FILE_ID].str, msg->f[PF_DOWNLOADER].str, why);
        r->rejected++;
        j = json_pack("{s:s, s:O}", "reason", why, "reply", msg->root);
        if (j == NULL ||
            (text = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
                NULL) {
                snprintf(r->err, sizeof(r->err), "out of memory");
                goto done;
        }
        if (cli_evidence_path(&r->ctx, "rejected", name, path, sizeof(path),
                              err, sizeof(err)) == -1 ||
            home_write_atomic(path, text, strlen(text), 0644, err,
                              sizeof(err)) == -1) {
                snprintf(r->err, sizeof(r->err), "%s", err);
                goto done;
        }
        fprintf(stderr, "tds receipts: kept in %s\n", path);
        ret = 0;
done:
        free(text);
        json_decref(j);
        return ret;
}

/* One receipt from the inbox: evidence, or rejected, or left there. */
static int receipts_one(struct receipts *r, size_t at)
{
        struct proto_msg msg;
        struct evidence ev;
        json_t *rec = NULL, *list, *entry = NULL;
        const char *file_id, *downloader;
        char nonce_sha[65], nrr_sha[65], name[IDS_FILE_ID_MAX + 128];
        char path[HOME_PATH_MAX], why[CLI_ERR_MAX];
        size_t i;
        int ret = -1;

        if (session_inbox_get(r->s, at, &msg, r->err, sizeof(r->err)) == -1)
                return -1;
        file_id = msg.f[PF_FILE_ID].str;
        downloader = msg.f[PF_DOWNLOADER].str;
        if (state_upload_load(r->ctx.home, file_id, &rec, r->err,
                              sizeof(r->err)) == -1)
                goto done;
        if (rec == NULL || state_str(rec, "nro") == NULL ||
            state_str(rec, "nonce") == NULL) {
                /* Not ours to judge without the NRO: leave it. */
                fprintf(stderr,
                        "tds receipts: a receipt for %s from %s, but this "
                        "home has no record of uploading %s; left in the "
                        "inbox\n",
                        file_id, downloader, file_id);
                r->unknown++;
                ret = 0;
                goto done;
        }
        if (cli_sha256_hex_b64(msg.f[PF_NONCE].str, nonce_sha, r->err,
                               sizeof(r->err)) == -1 ||
            cli_sha256_hex_b64(msg.f[PF_NRR].str, nrr_sha, r->err,
                               sizeof(r->err)) == -1)
                goto done;
        snprintf(name, sizeof(name), "%s.receipt.%s.%.8s.json", file_id,
                 downloader, nonce_sha);
        memset(&ev, 0, sizeof(ev));
        ev.kind = EVIDENCE_EXCHANGE;
        ev.file_id = file_id;
        ev.name = state_str(rec, "name");
        ev.uploader = r->ctx.cfg.user;
        ev.downloader = downloader;
        /* My record, not the receipt: the NRR must cover what I sent. */
        ev.sha256 = state_str(rec, "sha256");
        ev.size = (uint64_t)json_integer_value(json_object_get(rec, "size"));
        ev.upload_nonce = state_str(rec, "nonce");
        ev.download_nonce = msg.f[PF_NONCE].str;
        ev.nro = state_str(rec, "nro");
        ev.nro_sha256 = state_str(rec, "nro_sha256");
        ev.nrr = msg.f[PF_NRR].str;
        ev.nrr_sha256 = nrr_sha;
        ev.uploader_public_key = r->ctx.spki_b64;
        ev.downloader_public_key = msg.f[PF_DOWNLOADER_PUBLIC_KEY].str;
        ev.ttp_public_key = r->ctx.ttp_spki_b64;
        ev.time = msg.f[PF_TIME].str;
        ev.ttp_sig = msg.f[PF_TTP_SIG].str;
        if (strcmp(msg.f[PF_SHA256].str, ev.sha256) != 0 ||
            strcmp(msg.f[PF_NRO_SHA256].str, ev.nro_sha256) != 0) {
                snprintf(why, sizeof(why),
                         "the receipt is for SHA-256 %s and NRO %s, but you "
                         "uploaded SHA-256 %s with NRO %s",
                         msg.f[PF_SHA256].str, msg.f[PF_NRO_SHA256].str,
                         ev.sha256, ev.nro_sha256);
                if (receipts_reject(r, &msg, name, why) == -1)
                        goto done;
                goto ack;
        }
        if (evidence_verify(&ev, r->ctx.ttp_key_id, NULL, why, sizeof(why)) ==
            -1) {
                if (receipts_reject(r, &msg, name, why) == -1)
                        goto done;
                goto ack;
        }
        if (cli_evidence_path(&r->ctx, NULL, name, path, sizeof(path), r->err,
                              sizeof(r->err)) == -1)
                goto done;
        if (evidence_save(&ev, path, r->err, sizeof(r->err)) == -1)
                goto done;
        if ((list = json_object_get(rec, "receipts")) == NULL) {
                if ((list = json_array()) == NULL ||
                    json_object_set_new(rec, "receipts", list) == -1) {
                        snprintf(r->err, sizeof(r->err), "out of memory");
                        goto done;
                }
        }
        entry =
            json_pack("{s:s, s:s, s:s, s:s}", "file_id", file_id, "downloader",
                      downloader, "time", ev.time, "evidence", path);
        if (entry == NULL) {
                snprintf(r->err, sizeof(r->err), "out of memory");
                goto done;
        }
        /* Saved before the inbox lets go; a rerun after a crash finds
         * the same evidence file in the list and does not count it twice. */
        for (i = 0; i < json_array_size(list); i++)
                if (strcmp(state_str(json_array_get(list, i), "evidence")
                               ? state_str(json_array_get(list, i), "evidence")
                               : "",
                           path) == 0)
                        break;
        if (i == json_array_size(list)) {
                json_t *e =
                    json_pack("{s:s, s:s, s:s}", "downloader", downloader,
                              "time", ev.time, "evidence", path);

                if (e == NULL || json_array_append_new(list, e) == -1 ||
                    state_save(r->ctx.home, STATE_UPLOAD, file_id, NULL, rec,
                               r->err, sizeof(r->err)) == -1)
                        goto done;
        }
        if (json_array_append(r->out, entry) == -1) {
                snprintf(r->err, sizeof(r->err), "out of memory");
                goto done;
        }
ack:
        if (session_ack(r->s, msg.msg_id, r->err, sizeof(r->err)) == -1)
                goto done;
        ret = 1;
done:
        json_decref(entry);
        json_decref(rec);
        proto_msg_fini(&msg);
        return ret;
}

int cmd_receipts(int argc, char **argv)
{
        struct receipts r;
        enum session_status st;
        json_t *e;
        size_t i;
        int first, rc, ret = CLI_EXIT_FAIL;

        memset(&r, 0, sizeof(r));
        if ((first = cli_getopt(argc, argv, NULL, NULL, NULL, NULL,
                                cmd_receipts_help)) == -1)
                return CLI_EXIT_USAGE;
        if (first < argc) {
                cli_error("receipts", "unexpected argument '%s'", argv[first]);
                return CLI_EXIT_USAGE;
        }
        if ((r.out = json_array()) == NULL) {
                snprintf(r.err, sizeof(r.err), "out of memory");
                goto fail;
        }
        if (cli_ctx_open(&r.ctx, CLI_NEED_KEY | CLI_NEED_TTP_KEY, r.err,
                         sizeof(r.err)) == -1)
                goto fail;
        if ((st = session_open(&r.s, &r.ctx, r.err, sizeof(r.err))) !=
                SESSION_OK ||
            (st = session_collect(r.s, r.err, sizeof(r.err))) != SESSION_OK) {
                ret = session_exit_code(st);
                goto fail;
        }
        /* Acknowledging shifts the inbox: scan again from where we were. */
        for (i = 0; i < session_inbox_count(r.s);) {
                if (session_inbox_type(r.s, i) != PROTO_RECEIPT) {
                        i++;
                        continue;
                }
                if ((rc = receipts_one(&r, i)) == -1)
                        goto fail;
                if (rc == 0)
                        i++;
        }
        if (cli_opts.json) {
                if (cli_print_json(json_incref(r.out)) == -1)
                        goto done;
        } else {
                json_array_foreach(r.out, i, e)
                {
                        printf(
                            "%s  %s  %s  %s\n",
                            json_string_value(json_object_get(e, "file_id")),
                            json_string_value(json_object_get(e, "downloader")),
                            json_string_value(json_object_get(e, "time")),
                            json_string_value(json_object_get(e, "evidence")));
                }
        }
        cli_note("%zu new receipt(s), %d rejected, %d for unknown files",
                 json_array_size(r.out), r.rejected, r.unknown);
        ret = r.rejected > 0 ? CLI_EXIT_VERIFY : CLI_EXIT_OK;
        if (r.rejected > 0)
                fprintf(stderr,
                        "tds receipts: VERIFICATION FAILED for %d receipt(s): "
                        "see %s/evidence/rejected/\n",
                        r.rejected, r.ctx.home);
        goto done;
fail:
        cli_error("receipts", "%s", r.err);
done:
        json_decref(r.out);
        session_free(r.s);
        cli_ctx_fini(&r.ctx);
        return ret;
}

/*
 * tds upload: steps 1 to 3 of the exchange and the TTP's verdict.
 *
 * The upload is a small state machine kept in <home>/uploads/<id>.json:
 *
 *   requested   upload.request sent, waiting for upload.challenge
 *   challenged  challenge kept: copy M into the store, sign the NRO
 *   committed   upload.commit sent, waiting for upload.result
 *   verified    the TTP's countersignature checked, evidence saved
 *
 * Every step is saved before the message that follows it is sent and
 * before the reply that caused it is taken from the inbox, so running
 * the same command again after a crash or a timeout resumes where it
 * stopped, re-sending the same messages (retries, same msg_id).
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "evidence.h"
#include "hex.h"
#include "session.h"
#include "state.h"
#include "tbs.h"
#include "xfer.h"

void cmd_upload_help(FILE *out)
{
        fprintf(out,
                "usage: tds upload FILE [--name NAME] [--file-id ID]\n"
                "\n"
                "Upload FILE through the TTP (steps 1 to 3): ask for a "
                "challenge, copy FILE\n"
                "into the store (streamed, hashed on the way), sign the "
                "origin proof (NRO)\n"
                "and wait for the TTP's verdict.  On success it prints the "
                "file id and keeps\n"
                "the TTP's countersigned evidence in "
                "<home>/evidence/ID.upload.json.\n"
                "Running it again with the same --file-id resumes an "
                "unfinished upload.\n"
                "\n"
                "  --name NAME     the name shown in the catalog (default: "
                "FILE's base name)\n"
                "  --file-id ID    the file id (1 to 64 of [A-Za-z0-9._-]; "
                "default: a random\n"
                "                  UUID)\n"
                "\n"
                "exit 4 if the TTP finds the stored copy differs from what "
                "you signed, or its\n"
                "signature on the verdict does not verify.\n");
        cli_help_common(out);
}

struct upload_opts {
        const char *name;
        const char *file_id;
};

static int upload_opt(int ch, const char *arg, void *ctx)
{
        struct upload_opts *o = ctx;

        if (ch == 'n')
                o->name = arg;
        else if (ch == 'i')
                o->file_id = arg;
        else
                return -1;
        return 0;
}

struct upload {
        struct cli_ctx ctx;
        struct session *s;
        json_t *rec;
        char file_id[IDS_FILE_ID_MAX + 1];
        char source[PATH_MAX];
        int src_fd;
        uint64_t size;
        char evidence[HOME_PATH_MAX];
        char err[CLI_ERR_MAX];
        int exit; /* the exit code when a step fails */
};

static void upload_err(struct upload *u, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void upload_err(struct upload *u, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(u->err, sizeof(u->err), fmt, ap);
        va_end(ap);
        u->exit = code;
}

static int upload_save(struct upload *u)
{
        char why[CLI_ERR_MAX];

        if (state_save(u->ctx.home, STATE_UPLOAD, u->file_id, NULL, u->rec, why,
                       sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL,
                           "cannot save the upload record: %s", why);
                return -1;
        }
        return 0;
}

/* Record a failure (state failed, the reason) and keep the stage. */
static void upload_failed(struct upload *u)
{
        if (state_set_str(u->rec, "state", STATE_FAILED) == -1 ||
            state_set_str(u->rec, "error", u->err) == -1)
                return;
        state_save(u->ctx.home, STATE_UPLOAD, u->file_id, NULL, u->rec, NULL,
                   0);
}

/*
 * A name for the catalog: 1 to PROTO_NAME_MAX bytes of UTF-8 without
 * control characters (what the TTP accepts).
 */
static int upload_name_ok(const char *name, char *why, size_t whylen)
{
        const unsigned char *p = (const unsigned char *)name;
        size_t len = strlen(name);
        json_t *j;

        if (len == 0 || len > PROTO_NAME_MAX) {
                snprintf(why, whylen, "%zu bytes, must be 1 to %d", len,
                         PROTO_NAME_MAX);
                return -1;
        }
        if ((j = json_string(name)) == NULL) {
                snprintf(why, whylen, "not valid UTF-8");
                return -1;
        }
        json_decref(j);
        for (size_t i = 0; i < len; i++) {
                if (p[i] < 0x20 || p[i] == 0x7f ||
                    (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)) {
                        snprintf(why, whylen, "control character at byte %zu",
                                 i);
                        return -1;
                }
        }
        return 0;
}

/* Step 1 and 2: upload.request, then keep the challenge. */
static int upload_request(struct upload *u)
{
        struct session_match m = {PROTO_UPLOAD_CHALLENGE, u->file_id, NULL};
        struct session_req req;
        struct proto_msg msg;
        enum session_status st;
        json_t *saved = json_object_get(u->rec, "request");
        char why[CLI_ERR_MAX];
        int which = 0, ret = -1;

        memset(&req, 0, sizeof(req));
        memset(&msg, 0, sizeof(msg));
        if (saved != NULL) {
                if (session_req_from_json(&req, saved, why, sizeof(why)) ==
                    -1) {
                        upload_err(u, CLI_EXIT_FAIL, "upload record: %s", why);
                        goto done;
                }
                cli_note("resuming the upload of %s: asking for the "
                         "challenge again (same msg_id)",
                         u->file_id);
        } else {
                static const enum proto_type stale[] = {PROTO_UPLOAD_CHALLENGE,
                                                        PROTO_UPLOAD_RESULT};

                /* Challenges name no request: only a new one may match. */
                if ((st = session_fresh(u->s, stale, 2, u->file_id, why,
                                        sizeof(why))) != SESSION_OK) {
                        upload_err(u, session_exit_code(st), "%s", why);
                        goto done;
                }
                if (session_req_new(&req, &u->ctx, PROTO_UPLOAD_REQUEST,
                                    json_pack("{s:s, s:s, s:I}", "file_id",
                                              u->file_id, "name",
                                              state_str(u->rec, "name"), "size",
                                              (json_int_t)u->size),
                                    NULL, why, sizeof(why)) == -1) {
                        upload_err(u, CLI_EXIT_FAIL, "%s", why);
                        goto done;
                }
                /* Saved before it is sent: a rerun re-sends it as is. */
                if (json_object_set_new(u->rec, "request",
                                        session_req_to_json(&req)) == -1 ||
                    upload_save(u) == -1)
                        goto done;
        }
        st = session_call(u->s, &req, &m, 1, "upload.challenge", &which, &msg,
                          why, sizeof(why));
        if (st != SESSION_OK) {
                upload_err(u, session_exit_code(st), "%s", why);
                goto done;
        }
        if (which == -1) {
                cli_ttp_error(&msg, u->file_id, why, sizeof(why));
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                /* Answered: a new attempt needs a new request. */
                json_object_del(u->rec, "request");
                upload_failed(u);
                session_ack(u->s, msg.msg_id, NULL, 0);
                goto done;
        }
        if (strcmp(msg.f[PF_KEY_ID].str, u->ctx.key_id) != 0) {
                upload_err(u, CLI_EXIT_FAIL,
                           "the TTP expects the NRO from key %s, but your key "
                           "is %s: run tds register, or use the key you "
                           "registered",
                           msg.f[PF_KEY_ID].str, u->ctx.key_id);
                json_object_del(u->rec, "request");
                upload_failed(u);
                session_ack(u->s, msg.msg_id, NULL, 0);
                goto done;
        }
        if (state_set_str(u->rec, "nonce", msg.f[PF_NONCE].str) == -1 ||
            state_set_str(u->rec, "incoming_path",
                          msg.f[PF_INCOMING_PATH].str) == -1 ||
            state_set_str(u->rec, "expires_at", msg.f[PF_EXPIRES_AT].str) ==
                -1 ||
            state_set_str(u->rec, "stage", "challenged") == -1) {
                upload_err(u, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        if (upload_save(u) == -1)
                goto done;
        if (session_ack(u->s, msg.msg_id, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        cli_note("challenge for %s: place it at %s by %s", u->file_id,
                 msg.f[PF_INCOMING_PATH].str, msg.f[PF_EXPIRES_AT].str);
        ret = 0;
done:
        proto_msg_fini(&msg);
        session_req_fini(&req);
        return ret;
}

/* Copy M to <store>/<incoming_path>; its SHA-256 as hex into `hex`. */
static int upload_place(struct upload *u, char *hex)
{
        const char *incoming = state_str(u->rec, "incoming_path");
        unsigned char sha[CRYPTO_SHA256_LEN];
        char dest[HOME_PATH_MAX * 2], why[CLI_ERR_MAX];
        struct xfer_out out;
        uint64_t copied = 0;
        int ret = -1;

        memset(&out, 0, sizeof(out));
        out.fd = -1;
        snprintf(dest, sizeof(dest), "%s/%s", u->ctx.cfg.store_root, incoming);
        if (lseek(u->src_fd, 0, SEEK_SET) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s: %s", u->source,
                           strerror(errno));
                goto done;
        }
        if (xfer_out_open(&out, dest, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL,
                           "%s (is store_root %s the TTP's store?)", why,
                           u->ctx.cfg.store_root);
                goto done;
        }
        if (xfer_copy(u->src_fd, u->source, out.fd, out.tmp, "uploading",
                      u->size, sha, &copied, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        if (copied != u->size) {
                upload_err(u, CLI_EXIT_FAIL,
                           "%s changed while it was copied (%llu bytes, "
                           "%llu when the upload began); upload it again "
                           "when it is stable",
                           u->source, (unsigned long long)copied,
                           (unsigned long long)u->size);
                goto done;
        }
        /* Only a complete, fsynced copy gets the name the TTP opens. */
        if (xfer_out_commit(&out, 1, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        hex_encode(sha, sizeof(sha), hex, CRYPTO_SHA256_HEX_LEN + 1);
        cli_note("placed %s (%llu bytes, SHA-256 %s)", dest,
                 (unsigned long long)copied, hex);
        ret = 0;
done:
        xfer_out_abort(&out);
        return ret;
}

/* Step 3: place M, sign the NRO, save and send upload.commit. */
static int upload_commit_new(struct upload *u, struct session_req *req)
{
        const char *nonce = state_str(u->rec, "nonce");
        const char *expires = state_str(u->rec, "expires_at");
        char hex[CRYPTO_SHA256_HEX_LEN + 1], nro_hex[CRYPTO_SHA256_HEX_LEN + 1];
        char sizestr[32], why[CLI_ERR_MAX];
        char *tbs = NULL, *nro = NULL;
        size_t tbslen = 0;
        time_t exp;
        int ret = -1;

        if (expires != NULL && ids_time_parse(expires, &exp, NULL, 0) == 0 &&
            exp <= time(NULL)) {
                upload_err(u, CLI_EXIT_FAIL,
                           "the TTP's challenge for %s expired at %s; the file "
                           "id stays taken: upload again with another "
                           "--file-id",
                           u->file_id, expires);
                goto done;
        }
        if (upload_place(u, hex) == -1)
                goto done;
        snprintf(sizestr, sizeof(sizestr), "%llu", (unsigned long long)u->size);
        {
                struct tbs_nro f = {u->file_id, u->ctx.cfg.user, hex, sizestr,
                                    nonce};

                if (tbs_nro(&f, &tbs, &tbslen, why, sizeof(why)) == -1 ||
                    (nro = cli_sign_b64(u->ctx.key, tbs, tbslen, why,
                                        sizeof(why))) == NULL ||
                    cli_sha256_hex_b64(nro, nro_hex, why, sizeof(why)) == -1) {
                        upload_err(u, CLI_EXIT_FAIL, "NRO: %s", why);
                        goto done;
                }
        }
        if (session_req_new(
                req, &u->ctx, PROTO_UPLOAD_COMMIT,
                json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "file_id",
                          u->file_id, "nonce", nonce, "path",
                          state_str(u->rec, "incoming_path"), "sha256", hex,
                          "size", (json_int_t)u->size, "nro", nro),
                NULL, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        if (state_set_str(u->rec, "sha256", hex) == -1 ||
            state_set_str(u->rec, "nro", nro) == -1 ||
            state_set_str(u->rec, "nro_sha256", nro_hex) == -1 ||
            json_object_set_new(u->rec, "commit", session_req_to_json(req)) ==
                -1 ||
            state_set_str(u->rec, "stage", "committed") == -1) {
                upload_err(u, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        /* Answers to earlier commits (saved, then a crash before they
         * left the inbox) must not pass for this one's. */
        if (session_discard(u->s, PROTO_UPLOAD_RESULT, u->file_id, why,
                            sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        if (upload_save(u) == -1)
                goto done;
        ret = 0;
done:
        free(tbs);
        free(nro);
        return ret;
}

/* The verdict was "verified": check the TTP's signature, keep evidence. */
static int upload_verified(struct upload *u, const struct proto_msg *msg)
{
        const char *sha = state_str(u->rec, "sha256");
        const char *nro_sha = state_str(u->rec, "nro_sha256");
        const char *time_s = msg->f[PF_TIME].str;
        const char *ttp_sig = msg->f[PF_TTP_SIG].str;
        struct evidence ev;
        char name[IDS_FILE_ID_MAX + 32], why[CLI_ERR_MAX];
        char *tbs = NULL;
        size_t tbslen = 0;
        int ret = -1;

        if (strcmp(msg->f[PF_SHA256].str, sha) != 0) {
                upload_err(u, CLI_EXIT_VERIFY,
                           "VERIFICATION FAILED: the TTP verified SHA-256 %s, "
                           "but you committed %s",
                           msg->f[PF_SHA256].str, sha);
                goto done;
        }
        {
                struct tbs_evidence f = {"upload", u->file_id, u->ctx.cfg.user,
                                         "",       sha,        nro_sha,
                                         "",       time_s};

                if (tbs_evidence(&f, &tbs, &tbslen, why, sizeof(why)) == -1) {
                        upload_err(u, CLI_EXIT_FAIL, "%s", why);
                        goto done;
                }
        }
        if (cli_verify_b64(u->ctx.ttp_key, tbs, tbslen, ttp_sig, why,
                           sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_VERIFY,
                           "VERIFICATION FAILED: the TTP's signature (ttp_sig) "
                           "on the upload result of %s does not verify under "
                           "the TTP key %s (%s): %s; no evidence saved",
                           u->file_id, u->ctx.cfg.ttp_public_key,
                           u->ctx.ttp_key_id, why);
                goto done;
        }
        memset(&ev, 0, sizeof(ev));
        ev.kind = EVIDENCE_UPLOAD;
        ev.file_id = u->file_id;
        ev.name = state_str(u->rec, "name");
        ev.uploader = u->ctx.cfg.user;
        ev.downloader = "";
        ev.sha256 = sha;
        ev.size = u->size;
        ev.upload_nonce = state_str(u->rec, "nonce");
        ev.download_nonce = "";
        ev.nro = state_str(u->rec, "nro");
        ev.nro_sha256 = nro_sha;
        ev.nrr = "";
        ev.nrr_sha256 = "";
        ev.uploader_public_key = u->ctx.spki_b64;
        ev.downloader_public_key = "";
        ev.ttp_public_key = u->ctx.ttp_spki_b64;
        ev.time = time_s;
        ev.ttp_sig = ttp_sig;
        snprintf(name, sizeof(name), "%s.upload.json", u->file_id);
        /* What a judge will run, before it is kept. */
        if (evidence_verify(&ev, u->ctx.ttp_key_id, NULL, why, sizeof(why)) ==
            -1) {
                upload_err(u, CLI_EXIT_VERIFY,
                           "VERIFICATION FAILED: the upload evidence of %s "
                           "does not check: %s",
                           u->file_id, why);
                goto done;
        }
        if (cli_evidence_path(&u->ctx, NULL, name, u->evidence,
                              sizeof(u->evidence), why, sizeof(why)) == -1 ||
            evidence_save(&ev, u->evidence, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "cannot save the evidence: %s",
                           why);
                goto done;
        }
        if (state_set_str(u->rec, "state", STATE_DONE) == -1 ||
            state_set_str(u->rec, "stage", "verified") == -1 ||
            state_set_str(u->rec, "time", time_s) == -1 ||
            state_set_str(u->rec, "ttp_sig", ttp_sig) == -1 ||
            state_set_str(u->rec, "evidence", u->evidence) == -1 ||
            state_set_str(u->rec, "error", NULL) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        if (upload_save(u) == -1)
                goto done;
        ret = 0;
done:
        free(tbs);
        return ret;
}

/* Send (or re-send) the commit and take the verdict. */
static int upload_commit(struct upload *u)
{
        struct session_match m = {PROTO_UPLOAD_RESULT, u->file_id, NULL};
        struct session_req req;
        struct proto_msg msg;
        enum session_status st;
        char why[CLI_ERR_MAX];
        int which = 0, ret = -1;

        memset(&req, 0, sizeof(req));
        memset(&msg, 0, sizeof(msg));
        if (session_req_from_json(&req, json_object_get(u->rec, "commit"), why,
                                  sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "upload record: %s", why);
                goto done;
        }
        st = session_call(u->s, &req, &m, 1, "upload.result", &which, &msg, why,
                          sizeof(why));
        if (st != SESSION_OK) {
                upload_err(u, session_exit_code(st), "%s", why);
                goto done;
        }
        if (which == -1 || !msg.f[PF_VERIFIED].boolean) {
                if (which == -1)
                        cli_ttp_error(&msg, u->file_id, why, sizeof(why));
                else
                        snprintf(
                            why, sizeof(why),
                            "VERIFICATION FAILED: the TTP did not verify "
                            "the copy of %s in the store: %s (%s); run "
                            "the same command again to copy and commit "
                            "again",
                            u->file_id, msg.f[PF_REASON].str,
                            strcmp(msg.f[PF_REASON].str, "hash_mismatch") == 0
                                ? "its size or SHA-256 differ from what "
                                  "you signed"
                                : "the file is not where it should be, "
                                  "or not a regular file");
                upload_err(u, which == -1 ? CLI_EXIT_FAIL : CLI_EXIT_VERIFY,
                           "%s", why);
                /* The commit is answered; a new attempt starts from the
                 * challenge (same nonce, until it expires). */
                json_object_del(u->rec, "commit");
                state_set_str(u->rec, "stage", "challenged");
                upload_failed(u);
                session_ack(u->s, msg.msg_id, NULL, 0);
                goto done;
        }
        if (upload_verified(u, &msg) == -1) {
                upload_failed(u);
                goto done;
        }
        if (session_ack(u->s, msg.msg_id, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        ret = 0;
done:
        proto_msg_fini(&msg);
        session_req_fini(&req);
        return ret;
}

/* Open FILE and find or start its record. */
static int upload_prepare(struct upload *u, const char *file,
                          const struct upload_opts *o)
{
        const char *base, *state, *stage, *name;
        char why[CLI_ERR_MAX];
        struct stat st;

        if ((u->src_fd = open(file, O_RDONLY | O_CLOEXEC)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s: %s", file, strerror(errno));
                return -1;
        }
        if (fstat(u->src_fd, &st) == -1 || !S_ISREG(st.st_mode)) {
                upload_err(u, CLI_EXIT_FAIL, "%s: not a regular file", file);
                return -1;
        }
        u->size = (uint64_t)st.st_size;
        if (u->size > PROTO_SIZE_MAX) {
                upload_err(u, CLI_EXIT_FAIL,
                           "%s: %llu bytes, more than the TTP's limit of "
                           "%llu",
                           file, (unsigned long long)u->size,
                           (unsigned long long)PROTO_SIZE_MAX);
                return -1;
        }
        if (realpath(file, u->source) == NULL) {
                upload_err(u, CLI_EXIT_FAIL, "%s: %s", file, strerror(errno));
                return -1;
        }
        base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
        name = o->name != NULL ? o->name : base;
        if (upload_name_ok(name, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_USAGE, "%s '%s': %s%s",
                           o->name ? "--name" : "file name", name, why,
                           o->name ? "" : "; give another with --name");
                return -1;
        }
        if (o->file_id != NULL) {
                if (ids_check_file_id(o->file_id, why, sizeof(why)) == -1) {
                        upload_err(u, CLI_EXIT_USAGE, "--file-id '%s': %s",
                                   o->file_id, why);
                        return -1;
                }
                snprintf(u->file_id, sizeof(u->file_id), "%s", o->file_id);
        } else if (ids_uuid_new(u->file_id, why, sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                return -1;
        }
        if (state_upload_load(u->ctx.home, u->file_id, &u->rec, why,
                              sizeof(why)) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "%s", why);
                return -1;
        }
        if (u->rec == NULL) {
                u->rec =
                    json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "file_id",
                              u->file_id, "name", name, "source", u->source,
                              "size", (json_int_t)u->size, "state",
                              STATE_IN_PROGRESS, "stage", "requested");
                if (u->rec == NULL) {
                        upload_err(u, CLI_EXIT_FAIL, "out of memory");
                        return -1;
                }
                return 0;
        }
        state = state_str(u->rec, "state");
        stage = state_str(u->rec, "stage");
        if (state == NULL || stage == NULL || strcmp(state, STATE_DONE) == 0 ||
            strcmp(state, STATE_ABORTED) == 0) {
                upload_err(u, CLI_EXIT_FAIL,
                           "you already uploaded %s (%s%s%s); a file id is "
                           "never reused: choose another --file-id",
                           u->file_id, state ? state : "?",
                           state_str(u->rec, "evidence") ? ", evidence " : "",
                           state_str(u->rec, "evidence")
                               ? state_str(u->rec, "evidence")
                               : "");
                return -1;
        }
        if (strcmp(state_str(u->rec, "source") ? state_str(u->rec, "source")
                                               : "",
                   u->source) != 0 ||
            json_integer_value(json_object_get(u->rec, "size")) !=
                (json_int_t)u->size) {
                upload_err(u, CLI_EXIT_FAIL,
                           "%s is the file id of an unfinished upload of %s "
                           "(%lld bytes); resume it with that file, or choose "
                           "another --file-id",
                           u->file_id, state_str(u->rec, "source"),
                           (long long)json_integer_value(
                               json_object_get(u->rec, "size")));
                return -1;
        }
        if (state_set_str(u->rec, "state", STATE_IN_PROGRESS) == -1) {
                upload_err(u, CLI_EXIT_FAIL, "out of memory");
                return -1;
        }
        cli_note("resuming the upload of %s at stage %s", u->file_id, stage);
        return 0;
}

static int upload_print(const struct upload *u)
{
        if (cli_opts.json)
                return cli_print_json(json_pack(
                    "{s:s, s:s, s:I, s:s, s:s, s:s, s:s}", "file_id",
                    u->file_id, "name", state_str(u->rec, "name"), "size",
                    (json_int_t)u->size, "sha256", state_str(u->rec, "sha256"),
                    "nro_sha256", state_str(u->rec, "nro_sha256"), "time",
                    state_str(u->rec, "time"), "evidence", u->evidence));
        printf("%s\n", u->file_id);
        cli_note("uploaded %s as %s, verified by the TTP at %s; evidence %s",
                 u->source, u->file_id, state_str(u->rec, "time"), u->evidence);
        return 0;
}

int cmd_upload(int argc, char **argv)
{
        static const struct option opts[] = {
            {"name", required_argument, NULL, 'n'},
            {"file-id", required_argument, NULL, 'i'},
            {NULL, 0, NULL, 0}};
        struct upload_opts o = {NULL, NULL};
        struct upload u;
        enum session_status st;
        const char *stage;
        int first, ret = CLI_EXIT_FAIL;

        memset(&u, 0, sizeof(u));
        u.src_fd = -1;
        u.exit = CLI_EXIT_FAIL;
        if ((first = cli_getopt(argc, argv, opts, NULL, upload_opt, &o,
                                cmd_upload_help)) == -1)
                return CLI_EXIT_USAGE;
        if (argc - first != 1) {
                cli_error("upload", "%s (see tds help upload)",
                          argc == first ? "which FILE?" : "one FILE at a time");
                return CLI_EXIT_USAGE;
        }
        if (cli_ctx_open(&u.ctx, CLI_NEED_KEY | CLI_NEED_TTP_KEY, u.err,
                         sizeof(u.err)) == -1 ||
            upload_prepare(&u, argv[first], &o) == -1)
                goto fail;
        if ((st = session_open(&u.s, &u.ctx, u.err, sizeof(u.err))) !=
            SESSION_OK) {
                u.exit = session_exit_code(st);
                goto fail;
        }
        stage = state_str(u.rec, "stage");
        if (strcmp(stage, "requested") == 0) {
                if (upload_request(&u) == -1)
                        goto fail;
                stage = state_str(u.rec, "stage");
        }
        if (strcmp(stage, "challenged") == 0) {
                struct session_req req;
                int rc;

                memset(&req, 0, sizeof(req));
                rc = upload_commit_new(&u, &req);
                session_req_fini(&req);
                if (rc == -1) {
                        upload_failed(&u);
                        goto fail;
                }
                stage = state_str(u.rec, "stage");
        }
        if (strcmp(stage, "committed") != 0) {
                upload_err(&u, CLI_EXIT_FAIL,
                           "upload record of %s: unknown stage '%s'", u.file_id,
                           stage);
                goto fail;
        }
        if (upload_commit(&u) == -1)
                goto fail;
        ret = upload_print(&u) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        goto done;
fail:
        cli_error("upload", "%s", u.err);
        /* An unfinished upload resumes; without --file-id a rerun would
         * start another one. */
        if (u.rec != NULL && o.file_id == NULL &&
            (json_object_get(u.rec, "request") != NULL ||
             json_object_get(u.rec, "nonce") != NULL) &&
            state_str(u.rec, "state") != NULL &&
            (strcmp(state_str(u.rec, "state"), STATE_IN_PROGRESS) == 0 ||
             strcmp(state_str(u.rec, "state"), STATE_FAILED) == 0))
                fprintf(stderr,
                        "tds upload: to resume this upload, run: tds upload "
                        "%s --file-id %s\n",
                        argv[first], u.file_id);
        ret = u.exit;
done:
        if (u.src_fd != -1)
                close(u.src_fd);
        json_decref(u.rec);
        session_free(u.s);
        cli_ctx_fini(&u.ctx);
        return ret;
}

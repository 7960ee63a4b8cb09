/*
 * tds download: steps 4 to 8 of the exchange, for the downloader B.
 *
 * Like an upload, a download is a state machine kept in
 * <home>/downloads/<file_id>.<request msg_id>.json:
 *
 *   requested     download.request sent, waiting for download.challenge
 *   challenged    challenge kept, the NRO checked: sign the NRR
 *   receipt_sent  download.receipt sent, waiting for the delivery
 *   delivered     delivery kept: check it, copy and check the document
 *
 * Nothing is signed before A's NRO verifies; every step is saved before
 * the next message leaves and before the reply that caused it leaves the
 * inbox.  Once the NRR is sent the TTP has made the exchange, so a
 * download that stopped after it must be resumable: running the same
 * command again re-sends the same receipt (a retry) and finishes.
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

void cmd_download_help(FILE *out)
{
        fprintf(out,
                "usage: tds download FILE_ID [-o OUT] [--force]\n"
                "\n"
                "Download FILE_ID through the TTP (steps 4 to 8): check the "
                "uploader's origin\n"
                "proof (NRO), sign your receipt (NRR), receive the "
                "delivery, copy the\n"
                "document out of the store and check its size and SHA-256. "
                "Prints OUT and\n"
                "keeps the evidence in "
                "<home>/evidence/ID.delivery.<8 hex>.json.\n"
                "Running it again resumes an unfinished download of the "
                "same file.\n"
                "\n"
                "  -o, --output OUT  where to write the document (default "
                "./FILE_ID)\n"
                "  --force           overwrite OUT if it exists\n"
                "\n"
                "exit 4 (and no NRR sent) if the NRO does not verify; exit 4 "
                "(no output, no\n"
                "evidence) if the document or the TTP's signature does not "
                "match.  exit 1 if\n"
                "the uploader aborted the file.\n");
        cli_help_common(out);
}

struct download_opts {
        const char *output;
        int force;
};

static int download_opt(int ch, const char *arg, void *ctx)
{
        struct download_opts *o = ctx;

        if (ch == 'o')
                o->output = arg;
        else if (ch == 'f')
                o->force = 1;
        else
                return -1;
        return 0;
}

struct download {
        struct cli_ctx ctx;
        struct session *s;
        json_t *rec;
        char file_id[IDS_FILE_ID_MAX + 1];
        char msg_id[IDS_MSG_ID_LEN + 1]; /* of the request: names the record */
        int force;
        char evidence[HOME_PATH_MAX];
        char err[CLI_ERR_MAX];
        int exit;
};

static void download_err(struct download *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void download_err(struct download *d, int code, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(d->err, sizeof(d->err), fmt, ap);
        va_end(ap);
        d->exit = code;
}

static int download_save(struct download *d)
{
        char why[CLI_ERR_MAX];

        if (state_save(d->ctx.home, STATE_DOWNLOAD, d->file_id, d->msg_id,
                       d->rec, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL,
                             "cannot save the download record: %s", why);
                return -1;
        }
        return 0;
}

/* The exchange ended without the document: say so in the record. */
static void download_end(struct download *d, const char *state)
{
        if (state_set_str(d->rec, "state", state) == -1 ||
            state_set_str(d->rec, "error", d->err) == -1)
                return;
        state_save(d->ctx.home, STATE_DOWNLOAD, d->file_id, d->msg_id, d->rec,
                   NULL, 0);
}

static void download_aborted_msg(struct download *d)
{
        download_err(d, CLI_EXIT_FAIL,
                     "the uploader aborted %s: the TTP no longer delivers "
                     "it",
                     d->file_id);
}

/* Keep a body field of `msg` in the record under the same name. */
static int download_keep(struct download *d, const struct proto_msg *msg,
                         json_t *obj, enum proto_field f)
{
        const struct proto_value *v = &msg->f[f];
        json_t *j = v->str != NULL ? json_string(v->str)
                                   : json_integer((json_int_t)v->num);

        if (j == NULL ||
            json_object_set_new(obj, proto_field_name(f), j) == -1) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                return -1;
        }
        return 0;
}

/*
 * Check the challenge before signing anything: addressed to my key, and
 * A's NRO valid under uploader_public_key over the TBS of the challenge's
 * own fields.  0 valid; -1 with the reason and the exit code set.
 */
static int download_check_challenge(struct download *d,
                                    const struct proto_msg *msg)
{
        struct crypto_key *up = NULL;
        char sizestr[32], why[CLI_ERR_MAX];
        char *tbs = NULL;
        size_t tbslen = 0;
        int ret = -1;

        if (strcmp(msg->f[PF_KEY_ID].str, d->ctx.key_id) != 0) {
                download_err(d, CLI_EXIT_FAIL,
                             "the TTP expects the receipt from key %s, but "
                             "your key is %s: run tds register, or use the key "
                             "you registered; no receipt was signed",
                             msg->f[PF_KEY_ID].str, d->ctx.key_id);
                goto done;
        }
        snprintf(sizestr, sizeof(sizestr), "%llu",
                 (unsigned long long)msg->f[PF_SIZE].num);
        {
                struct tbs_nro f = {d->file_id, msg->f[PF_UPLOADER].str,
                                    msg->f[PF_SHA256].str, sizestr,
                                    msg->f[PF_UPLOAD_NONCE].str};

                if (tbs_nro(&f, &tbs, &tbslen, why, sizeof(why)) == -1) {
                        download_err(d, CLI_EXIT_FAIL, "NRO: %s", why);
                        goto done;
                }
        }
        if ((up = cli_key_from_b64(msg->f[PF_UPLOADER_PUBLIC_KEY].str, why,
                                   sizeof(why))) == NULL ||
            cli_verify_b64(up, tbs, tbslen, msg->f[PF_NRO].str, why,
                           sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_VERIFY,
                             "VERIFICATION FAILED: the uploader's origin proof "
                             "(nro) of %s does not verify under "
                             "uploader_public_key for uploader %s, SHA-256 %s, "
                             "size %s: %s; no receipt was signed or sent",
                             d->file_id, msg->f[PF_UPLOADER].str,
                             msg->f[PF_SHA256].str, sizestr, why);
                goto done;
        }
        ret = 0;
done:
        crypto_key_free(up);
        free(tbs);
        return ret;
}

/* Steps 4 and 5: the request, then the challenge, checked and kept. */
static int download_request(struct download *d)
{
        struct session_match m[2] = {
            {PROTO_DOWNLOAD_CHALLENGE, d->file_id, NULL},
            {PROTO_DOWNLOAD_CANCELLED, d->file_id, NULL}};
        struct session_req req;
        struct proto_msg msg;
        enum session_status st;
        json_t *ch = NULL;
        char why[CLI_ERR_MAX];
        int which = 0, ret = -1;
        static const enum proto_field keep[] = {
            PF_NONCE,     PF_KEY_ID, PF_UPLOADER, PF_UPLOADER_PUBLIC_KEY,
            PF_SHA256,    PF_SIZE,   PF_NRO,      PF_UPLOAD_NONCE,
            PF_EXPIRES_AT};

        memset(&msg, 0, sizeof(msg));
        if (session_req_from_json(&req, json_object_get(d->rec, "request"), why,
                                  sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "download record: %s", why);
                goto done;
        }
        st = session_call(d->s, &req, m, 2, "download.challenge", &which, &msg,
                          why, sizeof(why));
        if (st != SESSION_OK) {
                download_err(d, session_exit_code(st), "%s", why);
                goto done;
        }
        if (which == 1 ||
            (which == -1 && strcmp(msg.f[PF_CODE].str, "file_aborted") == 0)) {
                download_aborted_msg(d);
                download_end(d, STATE_ABORTED);
                session_ack(d->s, msg.msg_id, NULL, 0);
                goto done;
        }
        if (which == -1) {
                cli_ttp_error(&msg, d->file_id, why, sizeof(why));
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                download_end(d, STATE_FAILED);
                session_ack(d->s, msg.msg_id, NULL, 0);
                goto done;
        }
        /* Kept even when it fails: a bad NRO is worth showing someone. */
        if ((ch = json_object()) == NULL) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
                if (download_keep(d, &msg, ch, keep[i]) == -1)
                        goto done;
        if (json_object_set(d->rec, "challenge", ch) == -1) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        if (download_check_challenge(d, &msg) == -1) {
                download_end(d, STATE_FAILED);
                session_ack(d->s, msg.msg_id, NULL, 0);
                goto done;
        }
        if (state_set_str(d->rec, "uploader", msg.f[PF_UPLOADER].str) == -1 ||
            state_set_str(d->rec, "sha256", msg.f[PF_SHA256].str) == -1 ||
            json_object_set_new(d->rec, "size",
                                json_integer((json_int_t)msg.f[PF_SIZE].num)) ==
                -1 ||
            state_set_str(d->rec, "stage", "challenged") == -1) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        if (download_save(d) == -1)
                goto done;
        if (session_ack(d->s, msg.msg_id, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        cli_note("challenge for %s from uploader %s: NRO verified (SHA-256 "
                 "%s, %llu bytes)",
                 d->file_id, msg.f[PF_UPLOADER].str, msg.f[PF_SHA256].str,
                 (unsigned long long)msg.f[PF_SIZE].num);
        ret = 0;
done:
        json_decref(ch);
        proto_msg_fini(&msg);
        session_req_fini(&req);
        return ret;
}

/* Step 6: sign the NRR and keep the receipt before it is sent. */
static int download_sign(struct download *d)
{
        const json_t *ch = json_object_get(d->rec, "challenge");
        const char *nonce = state_str(ch, "nonce");
        const char *expires = state_str(ch, "expires_at");
        char nro_sha[CRYPTO_SHA256_HEX_LEN + 1], why[CLI_ERR_MAX];
        struct session_req req;
        char *tbs = NULL, *nrr = NULL;
        size_t tbslen = 0;
        time_t exp;
        int ret = -1;

        memset(&req, 0, sizeof(req));
        if (expires != NULL && ids_time_parse(expires, &exp, NULL, 0) == 0 &&
            exp <= time(NULL)) {
                download_err(d, CLI_EXIT_FAIL,
                             "the TTP's challenge for %s expired at %s before "
                             "the receipt was signed; run the command again "
                             "for a new one",
                             d->file_id, expires);
                download_end(d, STATE_FAILED);
                goto done;
        }
        if (cli_sha256_hex_b64(state_str(ch, "nro"), nro_sha, why,
                               sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "nro: %s", why);
                goto done;
        }
        {
                struct tbs_nrr f = {d->file_id, d->ctx.cfg.user,
                                    state_str(ch, "sha256"), nro_sha, nonce};

                if (tbs_nrr(&f, &tbs, &tbslen, why, sizeof(why)) == -1 ||
                    (nrr = cli_sign_b64(d->ctx.key, tbs, tbslen, why,
                                        sizeof(why))) == NULL) {
                        download_err(d, CLI_EXIT_FAIL, "NRR: %s", why);
                        goto done;
                }
        }
        if (session_req_new(&req, &d->ctx, PROTO_DOWNLOAD_RECEIPT,
                            json_pack("{s:s, s:s, s:s}", "file_id", d->file_id,
                                      "nonce", nonce, "nrr", nrr),
                            NULL, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        if (state_set_str(d->rec, "nrr", nrr) == -1 ||
            state_set_str(d->rec, "nro_sha256", nro_sha) == -1 ||
            json_object_set_new(d->rec, "receipt", session_req_to_json(&req)) ==
                -1 ||
            state_set_str(d->rec, "stage", "receipt_sent") == -1) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        if (download_save(d) == -1)
                goto done;
        ret = 0;
done:
        session_req_fini(&req);
        free(tbs);
        free(nrr);
        return ret;
}

/* Steps 6 and 8: send (or re-send) the receipt, keep the delivery. */
static int download_receive(struct download *d)
{
        const json_t *ch = json_object_get(d->rec, "challenge");
        const char *nonce = state_str(ch, "nonce");
        struct session_match m[2] = {
            {PROTO_DELIVERY, d->file_id, nonce},
            {PROTO_DOWNLOAD_CANCELLED, d->file_id, NULL}};
        struct session_req req;
        struct proto_msg msg;
        enum session_status st;
        json_t *dl = NULL;
        char why[CLI_ERR_MAX];
        int which = 0, ret = -1;
        static const enum proto_field keep[] = {
            PF_NONCE,        PF_UPLOADER,    PF_SHA256, PF_SIZE,   PF_NRO,
            PF_UPLOAD_NONCE, PF_OBJECT_PATH, PF_TIME,   PF_TTP_SIG};

        memset(&msg, 0, sizeof(msg));
        if (session_req_from_json(&req, json_object_get(d->rec, "receipt"), why,
                                  sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "download record: %s", why);
                goto done;
        }
        st = session_call(d->s, &req, m, 2, "delivery", &which, &msg, why,
                          sizeof(why));
        if (st != SESSION_OK) {
                download_err(d, session_exit_code(st),
                             "%s; your receipt is signed and kept: run the "
                             "same command again to collect the delivery",
                             why);
                goto done;
        }
        if (which == 1 ||
            (which == -1 && strcmp(msg.f[PF_CODE].str, "file_aborted") == 0)) {
                download_aborted_msg(d);
                download_end(d, STATE_ABORTED);
                session_ack(d->s, msg.msg_id, NULL, 0);
                goto done;
        }
        if (which == -1) {
                cli_ttp_error(&msg, d->file_id, why, sizeof(why));
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                download_end(d, STATE_FAILED);
                session_ack(d->s, msg.msg_id, NULL, 0);
                goto done;
        }
        if ((dl = json_object()) == NULL) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
                if (download_keep(d, &msg, dl, keep[i]) == -1)
                        goto done;
        if (json_object_set(d->rec, "delivery", dl) == -1 ||
            state_set_str(d->rec, "stage", "delivered") == -1) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        if (download_save(d) == -1)
                goto done;
        if (session_ack(d->s, msg.msg_id, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        ret = 0;
done:
        json_decref(dl);
        proto_msg_fini(&msg);
        session_req_fini(&req);
        return ret;
}

/* The delivery repeats the challenge: every shared field must agree. */
static int download_check_delivery(struct download *d)
{
        static const char *const same[] = {"nonce", "uploader", "sha256",
                                           "size",  "nro",      "upload_nonce"};
        const json_t *ch = json_object_get(d->rec, "challenge");
        const json_t *dl = json_object_get(d->rec, "delivery");
        char *a = NULL, *b = NULL;

        for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
                json_t *x = json_object_get(ch, same[i]);
                json_t *y = json_object_get(dl, same[i]);

                if (x != NULL && y != NULL && json_equal(x, y))
                        continue;
                a = json_dumps(x, JSON_ENCODE_ANY);
                b = json_dumps(y, JSON_ENCODE_ANY);
                download_err(d, CLI_EXIT_VERIFY,
                             "VERIFICATION FAILED: the delivery of %s says "
                             "%s %s, but the challenge said %s; the document "
                             "was not copied and no evidence was saved",
                             d->file_id, same[i], b ? b : "?", a ? a : "?");
                free(a);
                free(b);
                return -1;
        }
        return 0;
}

/* The TTP's ttp_sig over the exchange evidence TBS. */
static int download_check_ttp_sig(struct download *d, const char *nrr_sha)
{
        const json_t *dl = json_object_get(d->rec, "delivery");
        struct tbs_evidence f = {"exchange",
                                 d->file_id,
                                 state_str(dl, "uploader"),
                                 d->ctx.cfg.user,
                                 state_str(dl, "sha256"),
                                 state_str(d->rec, "nro_sha256"),
                                 nrr_sha,
                                 state_str(dl, "time")};
        char why[CLI_ERR_MAX];
        char *tbs = NULL;
        size_t tbslen = 0;
        int ret = -1;

        if (tbs_evidence(&f, &tbs, &tbslen, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        if (cli_verify_b64(d->ctx.ttp_key, tbs, tbslen,
                           state_str(dl, "ttp_sig"), why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_VERIFY,
                             "VERIFICATION FAILED: the TTP's signature "
                             "(ttp_sig) on the delivery of %s does not verify "
                             "under the TTP key %s (%s): %s; the document was "
                             "not copied and no evidence was saved",
                             d->file_id, d->ctx.cfg.ttp_public_key,
                             d->ctx.ttp_key_id, why);
                goto done;
        }
        ret = 0;
done:
        free(tbs);
        return ret;
}

/*
 * Copy <store>/<object_path> to the output, hashing the bytes written,
 * and give it its name only if size and SHA-256 are the challenge's.
 */
static int download_copy(struct download *d)
{
        const json_t *dl = json_object_get(d->rec, "delivery");
        const char *want = state_str(dl, "sha256");
        const char *output = state_str(d->rec, "output");
        uint64_t size =
            (uint64_t)json_integer_value(json_object_get(dl, "size"));
        unsigned char sha[CRYPTO_SHA256_LEN];
        char hex[CRYPTO_SHA256_HEX_LEN + 1], src[HOME_PATH_MAX * 2];
        char why[CLI_ERR_MAX];
        struct xfer_out out;
        struct stat st;
        uint64_t got = 0;
        int fd = -1, ret = -1;

        memset(&out, 0, sizeof(out));
        out.fd = -1;
        snprintf(src, sizeof(src), "%s/%s", d->ctx.cfg.store_root,
                 state_str(dl, "object_path"));
        if ((fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
                download_err(d, CLI_EXIT_FAIL,
                             "cannot open the delivered object %s: %s (is "
                             "store_root %s the TTP's store?); run the same "
                             "command again once it is readable",
                             src, strerror(errno), d->ctx.cfg.store_root);
                goto done;
        }
        if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
                download_err(d, CLI_EXIT_FAIL, "%s: not a regular file", src);
                goto done;
        }
        if (xfer_out_open(&out, output, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        if (xfer_copy(fd, src, out.fd, out.tmp, "downloading", size, sha, &got,
                      why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                goto done;
        }
        hex_encode(sha, sizeof(sha), hex, sizeof(hex));
        if (got != size || strcmp(hex, want) != 0) {
                download_err(d, CLI_EXIT_VERIFY,
                             "VERIFICATION FAILED: the document delivered for "
                             "%s does not match what the uploader signed: "
                             "expected %llu bytes with SHA-256 %s, got %llu "
                             "bytes with SHA-256 %s (%s); no output was "
                             "written and no evidence was saved",
                             d->file_id, (unsigned long long)size, want,
                             (unsigned long long)got, hex, src);
                goto done;
        }
        if (xfer_out_commit(&out, d->force, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL,
                             "%s%s; the document is verified: run the same "
                             "command again to write it",
                             why,
                             !d->force && stat(output, &st) == 0
                                 ? " (use --force to overwrite it)"
                                 : "");
                goto done;
        }
        ret = 0;
done:
        xfer_out_abort(&out);
        if (fd != -1)
                close(fd);
        return ret;
}

/* Step 8 for real: checks, the document, the evidence. */
static int download_finish(struct download *d)
{
        const json_t *ch = json_object_get(d->rec, "challenge");
        const json_t *dl = json_object_get(d->rec, "delivery");
        const char *nonce = state_str(dl, "nonce");
        char nrr_sha[CRYPTO_SHA256_HEX_LEN + 1], nonce_sha[65];
        char name[IDS_FILE_ID_MAX + 64], why[CLI_ERR_MAX];
        struct evidence ev;
        int ret = -1;

        if (download_check_delivery(d) == -1 ||
            cli_sha256_hex_b64(state_str(d->rec, "nrr"), nrr_sha, why,
                               sizeof(why)) == -1 ||
            cli_sha256_hex_b64(nonce, nonce_sha, why, sizeof(why)) == -1) {
                if (d->exit != CLI_EXIT_VERIFY)
                        download_err(d, CLI_EXIT_FAIL, "%s", why);
                download_end(d, STATE_FAILED);
                goto done;
        }
        if (download_check_ttp_sig(d, nrr_sha) == -1) {
                download_end(d, STATE_FAILED);
                goto done;
        }
        if (download_copy(d) == -1) {
                /* A store problem may pass; a mismatch is final. */
                if (d->exit == CLI_EXIT_VERIFY)
                        download_end(d, STATE_FAILED);
                goto done;
        }
        memset(&ev, 0, sizeof(ev));
        ev.kind = EVIDENCE_EXCHANGE;
        ev.file_id = d->file_id;
        ev.uploader = state_str(dl, "uploader");
        ev.downloader = d->ctx.cfg.user;
        ev.sha256 = state_str(dl, "sha256");
        ev.size = (uint64_t)json_integer_value(json_object_get(dl, "size"));
        ev.upload_nonce = state_str(dl, "upload_nonce");
        ev.download_nonce = nonce;
        ev.nro = state_str(dl, "nro");
        ev.nro_sha256 = state_str(d->rec, "nro_sha256");
        ev.nrr = state_str(d->rec, "nrr");
        ev.nrr_sha256 = nrr_sha;
        ev.uploader_public_key = state_str(ch, "uploader_public_key");
        ev.downloader_public_key = d->ctx.spki_b64;
        ev.ttp_public_key = d->ctx.ttp_spki_b64;
        ev.time = state_str(dl, "time");
        ev.ttp_sig = state_str(dl, "ttp_sig");
        snprintf(name, sizeof(name), "%s.delivery.%.8s.json", d->file_id,
                 nonce_sha);
        if (evidence_verify(&ev, d->ctx.ttp_key_id, state_str(d->rec, "output"),
                            why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_VERIFY,
                             "VERIFICATION FAILED: the exchange evidence of %s "
                             "does not check: %s",
                             d->file_id, why);
                unlink(state_str(d->rec, "output"));
                download_end(d, STATE_FAILED);
                goto done;
        }
        if (cli_evidence_path(&d->ctx, NULL, name, d->evidence,
                              sizeof(d->evidence), why, sizeof(why)) == -1 ||
            evidence_save(&ev, d->evidence, why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "cannot save the evidence: %s",
                             why);
                goto done;
        }
        if (state_set_str(d->rec, "state", STATE_DONE) == -1 ||
            state_set_str(d->rec, "stage", "done") == -1 ||
            state_set_str(d->rec, "time", ev.time) == -1 ||
            state_set_str(d->rec, "evidence", d->evidence) == -1 ||
            state_set_str(d->rec, "error", NULL) == -1) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                goto done;
        }
        if (download_save(d) == -1)
                goto done;
        ret = 0;
done:
        return ret;
}

/* The output path, absolute, refusing an existing file without --force. */
static int download_output(struct download *d, const char *opt, char *out,
                           size_t outlen)
{
        char cwd[PATH_MAX];
        struct stat st;
        int n;

        if (opt == NULL)
                opt = d->file_id;
        if (opt[0] == '/')
                n = snprintf(out, outlen, "%s", opt);
        else if (getcwd(cwd, sizeof(cwd)) == NULL) {
                download_err(d, CLI_EXIT_FAIL, "getcwd: %s", strerror(errno));
                return -1;
        } else
                n = snprintf(out, outlen, "%s/%s", cwd, opt);
        if (n < 0 || (size_t)n >= outlen) {
                download_err(d, CLI_EXIT_FAIL, "output path %s too long", opt);
                return -1;
        }
        if (stat(out, &st) == 0) {
                if (S_ISDIR(st.st_mode)) {
                        download_err(d, CLI_EXIT_FAIL,
                                     "%s is a directory: give -o DIR/NAME",
                                     out);
                        return -1;
                }
                if (!d->force) {
                        download_err(d, CLI_EXIT_FAIL,
                                     "%s already exists; use --force to "
                                     "overwrite it, or -o OUT",
                                     out);
                        return -1;
                }
        }
        return 0;
}

/* Resume the active download of the file, or start a new one. */
static int download_prepare(struct download *d, const char *output)
{
        static const enum proto_type stale = PROTO_DOWNLOAD_CHALLENGE;
        char path[HOME_PATH_MAX], why[CLI_ERR_MAX];
        struct session_req req;
        enum session_status st;
        const char *old;

        memset(&req, 0, sizeof(req));
        if (state_download_active(d->ctx.home, d->file_id, &d->rec, why,
                                  sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                return -1;
        }
        if (d->rec != NULL) {
                const char *stage = state_str(d->rec, "stage");
                const char *rid = json_string_value(json_object_get(
                    json_object_get(d->rec, "request"), "msg_id"));

                if (rid == NULL || stage == NULL) {
                        download_err(d, CLI_EXIT_FAIL,
                                     "a download record of %s is damaged "
                                     "(no request or stage); move it out of "
                                     "%s/downloads",
                                     d->file_id, d->ctx.home);
                        return -1;
                }
                snprintf(d->msg_id, sizeof(d->msg_id), "%s", rid);
                old = state_str(d->rec, "output");
                /* Before the receipt nothing is owed: a stale challenge
                 * would only expire, so a new output is simply taken. */
                if (output != NULL || old == NULL) {
                        if (download_output(d, output, path, sizeof(path)) ==
                            -1)
                                return -1;
                        state_set_str(d->rec, "output", path);
                }
                cli_note("resuming the download of %s at stage %s", d->file_id,
                         stage);
                return 0;
        }
        if (download_output(d, output, path, sizeof(path)) == -1)
                return -1;
        /* Challenges name no request: those of abandoned attempts (or of
         * another home of mine) must not pass for the new one's. */
        if ((st = session_fresh(d->s, &stale, 1, d->file_id, why,
                                sizeof(why))) != SESSION_OK) {
                download_err(d, session_exit_code(st), "%s", why);
                return -1;
        }
        if (session_req_new(&req, &d->ctx, PROTO_DOWNLOAD_REQUEST,
                            json_pack("{s:s}", "file_id", d->file_id), NULL,
                            why, sizeof(why)) == -1) {
                download_err(d, CLI_EXIT_FAIL, "%s", why);
                return -1;
        }
        snprintf(d->msg_id, sizeof(d->msg_id), "%s", req.msg_id);
        d->rec =
            json_pack("{s:s, s:s, s:s, s:s, s:o}", "file_id", d->file_id,
                      "state", STATE_IN_PROGRESS, "stage", "requested",
                      "output", path, "request", session_req_to_json(&req));
        session_req_fini(&req);
        if (d->rec == NULL) {
                download_err(d, CLI_EXIT_FAIL, "out of memory");
                return -1;
        }
        return download_save(d);
}

int cmd_download(int argc, char **argv)
{
        static const struct option opts[] = {
            {"output", required_argument, NULL, 'o'},
            {"force", no_argument, NULL, 'f'},
            {NULL, 0, NULL, 0}};
        struct download_opts o = {NULL, 0};
        struct download d;
        enum session_status st;
        const char *stage;
        int first, ret = CLI_EXIT_FAIL;

        memset(&d, 0, sizeof(d));
        d.exit = CLI_EXIT_FAIL;
        if ((first = cli_getopt(argc, argv, opts, "o:", download_opt, &o,
                                cmd_download_help)) == -1)
                return CLI_EXIT_USAGE;
        if (argc - first != 1) {
                cli_error("download", "%s (see tds help download)",
                          argc == first ? "which FILE_ID?"
                                        : "one FILE_ID at a time");
                return CLI_EXIT_USAGE;
        }
        if (ids_check_file_id(argv[first], d.err, sizeof(d.err)) == -1) {
                cli_error("download", "file id '%s': %s", argv[first], d.err);
                return CLI_EXIT_USAGE;
        }
        snprintf(d.file_id, sizeof(d.file_id), "%s", argv[first]);
        d.force = o.force;
        if (cli_ctx_open(&d.ctx, CLI_NEED_KEY | CLI_NEED_TTP_KEY, d.err,
                         sizeof(d.err)) == -1)
                goto fail;
        if ((st = session_open(&d.s, &d.ctx, d.err, sizeof(d.err))) !=
            SESSION_OK) {
                d.exit = session_exit_code(st);
                goto fail;
        }
        if (download_prepare(&d, o.output) == -1)
                goto fail;
        stage = state_str(d.rec, "stage");
        if (strcmp(stage, "requested") == 0) {
                if (download_request(&d) == -1)
                        goto fail;
                stage = state_str(d.rec, "stage");
        }
        if (strcmp(stage, "challenged") == 0) {
                if (download_sign(&d) == -1)
                        goto fail;
                stage = state_str(d.rec, "stage");
        }
        if (strcmp(stage, "receipt_sent") == 0) {
                if (download_receive(&d) == -1)
                        goto fail;
                stage = state_str(d.rec, "stage");
        }
        if (strcmp(stage, "delivered") != 0) {
                download_err(&d, CLI_EXIT_FAIL,
                             "download record of %s: unknown stage '%s'",
                             d.file_id, stage);
                goto fail;
        }
        if (download_finish(&d) == -1)
                goto fail;
        if (cli_opts.json) {
                const json_t *dl = json_object_get(d.rec, "delivery");

                if (cli_print_json(json_pack(
                        "{s:s, s:s, s:s, s:O, s:s, s:s, s:s}", "file_id",
                        d.file_id, "output", state_str(d.rec, "output"),
                        "uploader", state_str(dl, "uploader"), "size",
                        json_object_get(dl, "size"), "sha256",
                        state_str(dl, "sha256"), "time", state_str(dl, "time"),
                        "evidence", d.evidence)) == -1)
                        goto done;
        } else {
                printf("%s\n", state_str(d.rec, "output"));
                cli_note("evidence %s", d.evidence);
        }
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("download", "%s", d.err);
        ret = d.exit;
done:
        json_decref(d.rec);
        session_free(d.s);
        cli_ctx_fini(&d.ctx);
        return ret;
}

/*
 * cli: the parts of the tds command line every subcommand shares.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base64.h"
#include "conf.h"
#include "log.h"

#define CLI_OPTIONS_MAX     32
#define CLI_OPT_JSON        0x101
#define CLI_OPT_TIMEOUT     0x102
#define CLI_OPT_HOME        0x103
#define CLI_OPT_PASSPHRASE  0x104
#define CLI_PROGRESS_MIN    (8u * 1024 * 1024)
#define CLI_PROGRESS_PERIOD 200 /* ms between redraws */

struct cli_opts cli_opts;

int64_t cli_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_error(const char *cmd, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "tds %s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

void cli_note(const char *fmt, ...)
{
        va_list ap;

        if (cli_opts.verbose < 1)
                return;
        fputs("tds: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int cli_set_timeout(const char *arg)
{
        char why[128];

        if (conf_parse_long(arg, 1, CFG_TIMEOUT_MAX, &cli_opts.timeout, why,
                            sizeof(why)) == -1) {
                fprintf(stderr, "tds: --timeout '%s': %s (seconds, 1 to %d)\n",
                        arg, why, CFG_TIMEOUT_MAX);
                return -1;
        }
        return 0;
}

void cli_set_home(const char *dir)
{
        cli_opts.home_flag = dir;
        /* Commands that resolve the home on their own (verify, audit)
         * see it too. */
        setenv("TDS_HOME", dir, 1);
}

void cli_help_common(FILE *out)
{
        fprintf(out,
                "\n"
                "common options:\n"
                "  --home DIR      client home (default $TDS_HOME, else "
                "~/.tds)\n"
                "  --timeout SECS  how long to wait for each reply (default: "
                "config, 30)\n"
                "  --json          print data as JSON\n"
                "  --passphrase-file FILE  passphrase of an encrypted key\n"
                "  -v, --verbose   say what happens (twice: Kafka's logs "
                "too)\n"
                "  -h, --help      this help\n"
                "\n"
                "exit status: 0 ok, 1 failed, 2 usage, 3 timeout (TTP or "
                "broker),\n"
                "4 verification failure (hash or signature mismatch)\n");
}

int cli_getopt(int argc, char **argv, const struct option *opts,
               const char *shortopts,
               int (*on_opt)(int ch, const char *arg, void *ctx), void *ctx,
               void (*help)(FILE *))
{
        static const struct option common[] = {
            {"help", no_argument, NULL, 'h'},
            {"verbose", no_argument, NULL, 'v'},
            {"json", no_argument, NULL, CLI_OPT_JSON},
            {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},
            {"home", required_argument, NULL, CLI_OPT_HOME},
            {"passphrase-file", required_argument, NULL, CLI_OPT_PASSPHRASE},
        };
        struct option all[CLI_OPTIONS_MAX];
        char shorts[64];
        size_t n = 0;
        int ch;

        memset(all, 0, sizeof(all));
        for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
                all[n++] = common[i];
        for (size_t i = 0;
             opts != NULL && opts[i].name != NULL && n + 1 < CLI_OPTIONS_MAX;
             i++)
                all[n++] = opts[i];
        snprintf(shorts, sizeof(shorts), "hv%s",
                 shortopts != NULL ? shortopts : "");
        /* Operands may come before options ("download ID -o F"), so
         * GNU permutation stays on; optind 0 reinitializes getopt. */
        optind = 0;
        opterr = 1;
        while ((ch = getopt_long(argc, argv, shorts, all, NULL)) != -1) {
                switch (ch) {
                case 'h':
                        help(stdout);
                        exit(0);
                case 'v':
                        cli_opts.verbose++;
                        log_set_verbose(1);
                        break;
                case CLI_OPT_JSON:
                        cli_opts.json = 1;
                        break;
                case CLI_OPT_TIMEOUT:
                        if (cli_set_timeout(optarg) == -1)
                                return -1;
                        break;
                case CLI_OPT_HOME:
                        cli_set_home(optarg);
                        break;
                case CLI_OPT_PASSPHRASE:
                        cli_opts.passphrase_file = optarg;
                        break;
                case '?':
                case ':':
                        goto usage;
                default:
                        if (on_opt == NULL || on_opt(ch, optarg, ctx) == -1)
                                goto usage;
                        break;
                }
        }
        return optind;
usage:
        fprintf(stderr, "\n");
        help(stderr);
        return -1;
}

int cli_home_path(const struct cli_ctx *ctx, const char *name, char *out,
                  size_t outlen, char *err, size_t errlen)
{
        return home_path(ctx->home, name, out, outlen, err, errlen);
}

int cli_evidence_path(const struct cli_ctx *ctx, const char *sub,
                      const char *name, char *out, size_t outlen, char *err,
                      size_t errlen)
{
        char dir[HOME_PATH_MAX], subdir[HOME_PATH_MAX];

        if (home_subdir(ctx->home, "evidence", dir, sizeof(dir), err, errlen) ==
            -1)
                return -1;
        if (sub != NULL) {
                if (home_subdir(dir, sub, subdir, sizeof(subdir), err,
                                errlen) == -1)
                        return -1;
                return home_path(subdir, name, out, outlen, err, errlen);
        }
        return home_path(dir, name, out, outlen, err, errlen);
}

static int cli_load_key(struct cli_ctx *ctx, char *err, size_t errlen)
{
        const char *pf = cli_opts.passphrase_file != NULL
                             ? cli_opts.passphrase_file
                             : ctx->cfg.passphrase_file;
        char path[HOME_PATH_MAX], why[CLI_ERR_MAX];
        char *passphrase = NULL;
        unsigned char *der = NULL;
        size_t derlen = 0;
        int ret = -1;

        if (home_path(ctx->home, "key.pem", path, sizeof(path), err, errlen) ==
            -1)
                goto done;
        if (pf != NULL && pf[0] != '\0' &&
            (passphrase = home_read_passphrase(pf, err, errlen)) == NULL)
                goto done;
        if (crypto_key_load(path, passphrase, &ctx->key, why, sizeof(why)) ==
            -1) {
                /* `why` names the file (and its mode when refused). */
                snprintf(err, errlen, "your key %s%s", why,
                         access(path, F_OK) == 0
                             ? ""
                             : " (run tds init, or tds keygen)");
                goto done;
        }
        if (crypto_key_id(ctx->key, ctx->key_id, err, errlen) == -1 ||
            crypto_pubkey_to_der(ctx->key, &der, &derlen, err, errlen) == -1)
                goto done;
        if ((ctx->spki_b64 = base64_encode(der, derlen)) == NULL) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        ret = 0;
done:
        if (passphrase != NULL)
                crypto_secret_free(passphrase, strlen(passphrase));
        free(der);
        return ret;
}

int cli_ctx_open(struct cli_ctx *ctx, unsigned flags, char *err, size_t errlen)
{
        char path[HOME_PATH_MAX], real[PATH_MAX];
        struct stat st;

        memset(ctx, 0, sizeof(*ctx));
        cfg_init(&ctx->cfg);
        if (home_resolve(cli_opts.home_flag, ctx->home, sizeof(ctx->home), err,
                         errlen) == -1)
                return -1;
        if (stat(ctx->home, &st) == -1) {
                snprintf(err, errlen,
                         "no client home at %s: create one with tds init "
                         "(or give --home DIR)",
                         ctx->home);
                return -1;
        }
        if (home_check(ctx->home, err, errlen) == -1)
                return -1;
        /* Records and messages name files by absolute path. */
        if (realpath(ctx->home, real) != NULL &&
            strlen(real) < sizeof(ctx->home))
                memcpy(ctx->home, real, strlen(real) + 1);
        if (home_path(ctx->home, "config", path, sizeof(path), err, errlen) ==
            -1)
                return -1;
        if (access(path, F_OK) == -1) {
                snprintf(err, errlen, "%s does not exist: run tds init first",
                         path);
                return -1;
        }
        if (cfg_load(&ctx->cfg, path, err, errlen) == -1)
                return -1;
        ctx->timeout =
            cli_opts.timeout > 0 ? cli_opts.timeout : ctx->cfg.timeout;
        if ((flags & CLI_NEED_KEY) && cli_load_key(ctx, err, errlen) == -1)
                return -1;
        if ((flags & CLI_NEED_TTP_KEY) &&
            cfg_ttp_key_load(ctx->cfg.ttp_public_key, &ctx->ttp_key,
                             &ctx->ttp_spki_b64, ctx->ttp_key_id, err,
                             errlen) == -1)
                return -1;
        return 0;
}

void cli_ctx_fini(struct cli_ctx *ctx)
{
        cfg_fini(&ctx->cfg);
        crypto_key_free(ctx->key);
        crypto_key_free(ctx->ttp_key);
        free(ctx->spki_b64);
        free(ctx->ttp_spki_b64);
        memset(ctx, 0, sizeof(*ctx));
}

int cli_print_json(json_t *json)
{
        int ret = -1;

        if (json != NULL &&
            json_dumpf(json, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) ==
                0 &&
            fputc('\n', stdout) != EOF)
                ret = 0;
        json_decref(json);
        if (ret == -1)
                fprintf(stderr, "tds: cannot print the JSON output\n");
        return ret;
}

void cli_ttp_error(const struct proto_msg *msg, const char *file_id, char *out,
                   size_t outlen)
{
        const char *code = msg->f[PF_CODE].str;
        const char *text = msg->f[PF_MESSAGE].str;
        const char *hint = "";
        const char *f = file_id != NULL ? file_id : "the file";
        char buf[512];

        if (strcmp(code, "unknown_user") == 0)
                hint = "you are not registered with the TTP: run tds register";
        else if (strcmp(code, "key_conflict") == 0)
                hint = "the TTP knows this user name with another key: use "
                       "the key you registered, or another user name";
        else if (strcmp(code, "bad_signature") == 0)
                hint = "the TTP did not accept your signature: is key.pem the "
                       "key you registered? (tds key-id, tds register)";
        else if (strcmp(code, "file_exists") == 0) {
                snprintf(buf, sizeof(buf),
                         "the file id %s is taken: choose another with "
                         "--file-id",
                         f);
                hint = buf;
        } else if (strcmp(code, "file_aborted") == 0) {
                snprintf(buf, sizeof(buf), "the uploader aborted %s", f);
                hint = buf;
        } else if (strcmp(code, "unknown_file") == 0) {
                snprintf(buf, sizeof(buf),
                         "the TTP has no file %s (see tds catalog)", f);
                hint = buf;
        } else if (strcmp(code, "not_owner") == 0) {
                snprintf(buf, sizeof(buf), "%s was uploaded by someone else",
                         f);
                hint = buf;
        } else if (strcmp(code, "nonce_expired") == 0)
                hint = "the TTP's challenge expired: run the command again";
        else if (strcmp(code, "nonce_invalid") == 0)
                hint = "the TTP's challenge is no longer valid: run the "
                       "command again";
        else if (strcmp(code, "internal") == 0)
                hint = "the TTP failed on its side: try again later, and "
                       "tell its operator if it persists";
        else
                hint = "the TTP refused the request";
        snprintf(out, outlen, "%s (TTP error %s: %s)", hint, code, text);
}

char *cli_sign_b64(const struct crypto_key *key, const char *tbs, size_t len,
                   char *err, size_t errlen)
{
        unsigned char *sig = NULL;
        size_t siglen = 0;
        char *b64 = NULL;

        if (crypto_sign(key, tbs, len, &sig, &siglen, err, errlen) == -1)
                return NULL;
        if ((b64 = base64_encode(sig, siglen)) == NULL)
                snprintf(err, errlen, "out of memory");
        free(sig);
        return b64;
}

int cli_verify_b64(const struct crypto_key *key, const char *tbs, size_t len,
                   const char *sig_b64, char *err, size_t errlen)
{
        unsigned char *sig = NULL;
        size_t siglen = 0;
        int ret = -1;

        if (base64_decode(sig_b64, strlen(sig_b64), &sig, &siglen, err,
                          errlen) == 0)
                ret = crypto_verify(key, tbs, len, sig, siglen, err, errlen);
        free(sig);
        return ret;
}

int cli_sha256_hex_b64(const char *b64, char *hex, char *err, size_t errlen)
{
        unsigned char *bin = NULL;
        size_t len = 0;
        int ret = -1;

        if (base64_decode(b64, strlen(b64), &bin, &len, err, errlen) == 0)
                ret = crypto_sha256_hex(bin, len, hex, err, errlen);
        free(bin);
        return ret;
}

struct crypto_key *cli_key_from_b64(const char *b64, char *err, size_t errlen)
{
        unsigned char *der = NULL;
        size_t derlen = 0;
        struct crypto_key *key = NULL;

        if (base64_decode(b64, strlen(b64), &der, &derlen, err, errlen) == 0 &&
            crypto_pubkey_from_der(der, derlen, &key, err, errlen) == -1)
                key = NULL;
        free(der);
        return key;
}

void cli_human_size(uint64_t size, char *out, size_t outlen)
{
        static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
        double v = (double)size;
        int u = -1;

        if (size < 1024) {
                snprintf(out, outlen, "%llu B", (unsigned long long)size);
                return;
        }
        while (v >= 1024 && u < 3) {
                v /= 1024;
                u++;
        }
        snprintf(out, outlen, "%.1f %s", v, units[u]);
}

void cli_progress_start(struct cli_progress *p, const char *what,
                        uint64_t total)
{
        memset(p, 0, sizeof(*p));
        p->what = what;
        p->total = total;
        p->active = total > CLI_PROGRESS_MIN && isatty(STDERR_FILENO);
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
        char a[32], b[32];
        int64_t now;

        if (!p->active)
                return;
        now = cli_now_ms();
        if (now - p->last_ms < CLI_PROGRESS_PERIOD && done < p->total)
                return;
        p->last_ms = now;
        cli_human_size(done, a, sizeof(a));
        cli_human_size(p->total, b, sizeof(b));
        fprintf(stderr, "\r%s: %3d%% (%s of %s)   ", p->what,
                (int)(p->total ? done * 100 / p->total : 100), a, b);
        fflush(stderr);
}

void cli_progress_end(struct cli_progress *p)
{
        if (!p->active)
                return;
        cli_progress_update(p, p->total);
        fputc('\n', stderr);
        p->active = 0;
}

void cli_print_cell(const char *s, int cols)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t total = 0;
        int n = 0, chars = 0, cut;

        for (size_t i = 0; p[i] != '\0'; i++)
                if ((p[i] & 0xc0) != 0x80)
                        total++;
        cut = total > (size_t)cols;
        for (; p[n] != '\0'; n++) {
                if ((p[n] & 0xc0) != 0x80) {
                        if (cut && chars == cols - 3)
                                break;
                        chars++;
                }
        }
        printf("%.*s%s%*s", n, s, cut ? "..." : "",
               cols - chars - (cut ? 3 : 0), "");
}

/*
 * cli: what the tds subcommands share: the global options, the exit
 * codes, the context a command opens (home, configuration, keys), the
 * common command-line options, and the output helpers (JSON, progress,
 * messages that name what is wrong).
 */
#ifndef TDS_CLIENT_CLI_H
#define TDS_CLIENT_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "cfg.h"
#include "crypto.h"
#include "home.h"
#include "proto.h"

/* Exit codes of every command (docs/client.md). */
#define CLI_EXIT_OK      0
#define CLI_EXIT_FAIL    1 /* the operation failed; the message says why */
#define CLI_EXIT_USAGE   2
#define CLI_EXIT_TIMEOUT 3 /* the TTP or the broker did not answer */
#define CLI_EXIT_VERIFY  4 /* a hash or signature did not verify */

#define CLI_ERR_MAX 16384 /* room for two paths and a reason */

/* Global options, set by main() before a command runs. */
struct cli_opts {
        const char *home_flag;       /* --home, or NULL */
        int verbose;                 /* -v (repeatable) */
        long timeout;                /* --timeout SECS, 0: from config */
        int json;                    /* --json */
        const char *passphrase_file; /* --passphrase-file, or NULL */
};

extern struct cli_opts cli_opts;

/*
 * Parse a command's arguments (argv[0] is the command's name): its own
 * options `opts` (NULL, or ended by a zeroed entry; `shortopts` may be
 * NULL) and the common ones (-h/--help, -v/--verbose, --json,
 * --timeout SECS, --home DIR, --passphrase-file FILE), in any order
 * among the operands.  `on_opt` gets each of the command's own options
 * and returns 0, or -1 after printing why.  -h prints `help` to stdout and
 * exits 0.  Returns the index of the first operand, or -1 after a usage
 * message (the caller exits 2).
 */
int cli_getopt(int argc, char **argv, const struct option *opts,
               const char *shortopts,
               int (*on_opt)(int ch, const char *arg, void *ctx), void *ctx,
               void (*help)(FILE *));

/* Apply a --timeout or --home value (main's global options, too). */
int cli_set_timeout(const char *arg);
void cli_set_home(const char *dir);

/* The lines of help every command's help ends with. */
void cli_help_common(FILE *out);

/* What a command needs opened; cli_ctx_open flags. */
#define CLI_NEED_KEY     0x1 /* the user's private key */
#define CLI_NEED_TTP_KEY 0x2 /* the TTP's public key */

struct cli_ctx {
        char home[HOME_PATH_MAX];
        struct cfg cfg;
        long timeout; /* seconds: --timeout, else the config's */
        struct crypto_key *key;
        char key_id[CRYPTO_KEY_ID_LEN + 1];
        char *spki_b64; /* my public key, base64 SPKI DER */
        struct crypto_key *ttp_key;
        char ttp_key_id[CRYPTO_KEY_ID_LEN + 1];
        char *ttp_spki_b64;
};

/*
 * Resolve the home, read its config and, per `flags`, the keys.  A home
 * without a config says to run `tds init`.  cli_ctx_fini releases it
 * (also after a failure).
 */
int cli_ctx_open(struct cli_ctx *ctx, unsigned flags, char *err, size_t errlen);
void cli_ctx_fini(struct cli_ctx *ctx);

/* `ctx->home`/`name` (a file or "evidence/x.json") into `out`. */
int cli_home_path(const struct cli_ctx *ctx, const char *name, char *out,
                  size_t outlen, char *err, size_t errlen);

/*
 * The path of evidence file `name` in <home>/evidence (or its `sub`
 * directory, e.g. "rejected", when not NULL), creating the directories.
 */
int cli_evidence_path(const struct cli_ctx *ctx, const char *sub,
                      const char *name, char *out, size_t outlen, char *err,
                      size_t errlen);

/* "tds CMD: message" on stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* A line on stderr with -v only. */
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print `json` (stolen) to stdout, indented; -1 if it could not. */
int cli_print_json(json_t *json);

/*
 * Why the TTP said no, for a person: the error's code and message and
 * what to do about it, into `out`.
 */
void cli_ttp_error(const struct proto_msg *msg, const char *file_id, char *out,
                   size_t outlen);

/* Base64 and hex helpers for the signatures and digests of the contract. */
char *cli_sign_b64(const struct crypto_key *key, const char *tbs, size_t len,
                   char *err, size_t errlen);
int cli_verify_b64(const struct crypto_key *key, const char *tbs, size_t len,
                   const char *sig_b64, char *err, size_t errlen);
/* Hex SHA-256 of the bytes that base64 `b64` holds. */
int cli_sha256_hex_b64(const char *b64, char *hex, char *err, size_t errlen);
/* A public key from base64 SPKI DER; caller frees. */
struct crypto_key *cli_key_from_b64(const char *b64, char *err, size_t errlen);

/*
 * Print at most `cols` characters of the UTF-8 `s` to stdout, cut on a
 * character boundary ("..." when cut) and padded to `cols`.
 */
void cli_print_cell(const char *s, int cols);

/* A human size: "512 B", "1.5 MiB". */
void cli_human_size(uint64_t size, char *out, size_t outlen);

/*
 * Progress on stderr for long transfers: shown only when stderr is a
 * terminal and `total` is over 8 MiB.
 */
struct cli_progress {
        const char *what;
        uint64_t total;
        int active;
        int64_t last_ms;
};
void cli_progress_start(struct cli_progress *p, const char *what,
                        uint64_t total);
void cli_progress_update(struct cli_progress *p, uint64_t done);
void cli_progress_end(struct cli_progress *p);

/* Monotonic milliseconds. */
int64_t cli_now_ms(void);

/* The commands of this directory (tds.c dispatches). */
int cmd_init(int argc, char **argv);
void cmd_init_help(FILE *out);
int cmd_register(int argc, char **argv);
void cmd_register_help(FILE *out);
int cmd_upload(int argc, char **argv);
void cmd_upload_help(FILE *out);
int cmd_download(int argc, char **argv);
void cmd_download_help(FILE *out);
int cmd_abort(int argc, char **argv);
void cmd_abort_help(FILE *out);
int cmd_catalog(int argc, char **argv);
void cmd_catalog_help(FILE *out);
int cmd_uploads(int argc, char **argv);
void cmd_uploads_help(FILE *out);
int cmd_downloads(int argc, char **argv);
void cmd_downloads_help(FILE *out);
int cmd_receipts(int argc, char **argv);
void cmd_receipts_help(FILE *out);

#endif

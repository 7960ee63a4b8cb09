/*
 * tds: the TDS command-line client.
 *
 * git-style subcommands, each with --help and `tds help CMD`.  Global
 * options come before the command (and the common ones after it too).
 * Exit status: 0 success, 1 the operation failed (the message says why),
 * 2 usage error, 3 timeout (the TTP or the broker did not answer),
 * 4 verification failure (a hash or a signature does not match).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "crypto.h"
#include "home.h"
#include "log.h"

#define EXIT_USAGE CLI_EXIT_USAGE

struct command {
        const char *name;
        const char *summary;
        int (*run)(int argc, char **argv);
        void (*help)(FILE *out);
};

static void keygen_help(FILE *out)
{
        fprintf(out,
                "usage: tds [--home DIR] keygen [--passphrase-file FILE] "
                "[--force]\n"
                "\n"
                "Create an ECDSA P-256 key pair in the client home as "
                "key.pem (PKCS#8 PEM,\n"
                "mode 0600) and print its key id (SHA-256 of the public "
                "key).\n"
                "\n"
                "  --passphrase-file FILE  encrypt the key (AES-256) with "
                "the first line of\n"
                "                          FILE, which others must not be "
                "able to read\n"
                "  --force                 replace an existing key (its "
                "evidence stays valid,\n"
                "                          but the TTP knows you by the old "
                "one)\n");
}

static void key_id_help(FILE *out)
{
        fprintf(out, "usage: tds [--home DIR] key-id [--passphrase-file "
                     "FILE]\n"
                     "\n"
                     "Print the key id of the client home's key.\n");
}

/* Parse the options keygen and key-id share. */
static int key_options(int argc, char **argv, int allow_force,
                       const char **passphrase_file, int *force,
                       void (*help)(FILE *))
{
        static const struct option opts[] = {
            {"passphrase-file", required_argument, NULL, 'p'},
            {"force", no_argument, NULL, 'f'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0}};
        int ch;

        optind = 1;
        while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
                switch (ch) {
                case 'p':
                        *passphrase_file = optarg;
                        break;
                case 'f':
                        if (!allow_force)
                                goto usage;
                        *force = 1;
                        break;
                case 'h':
                        help(stdout);
                        exit(0);
                default:
                        goto usage;
                }
        }
        if (optind == argc)
                return 0;
        fprintf(stderr, "tds: unexpected argument '%s'\n", argv[optind]);
usage:
        help(stderr);
        return -1;
}

static int cmd_keygen(int argc, char **argv)
{
        const char *passphrase_file = NULL;
        char home[HOME_PATH_MAX], path[HOME_PATH_MAX], err[1024];
        char key_id[CRYPTO_KEY_ID_LEN + 1];
        struct crypto_key *key = NULL;
        char *passphrase = NULL;
        struct stat st;
        int force = 0, ret = 1;

        if (key_options(argc, argv, 1, &passphrase_file, &force, keygen_help) ==
            -1)
                return EXIT_USAGE;
        if (home_resolve(cli_opts.home_flag, home, sizeof(home), err,
                         sizeof(err)) ||
            home_ensure(home, err, sizeof(err)) ||
            home_path(home, "key.pem", path, sizeof(path), err, sizeof(err)))
                goto fail;
        if (!force && lstat(path, &st) == 0) {
                fprintf(stderr,
                        "tds keygen: %s already exists; use --force to "
                        "replace it\n",
                        path);
                goto done;
        }
        if (passphrase_file != NULL &&
            (passphrase = home_read_passphrase(passphrase_file, err,
                                               sizeof(err))) == NULL)
                goto fail;
        if (crypto_key_generate(&key, err, sizeof(err)) ||
            crypto_key_save(key, path, passphrase, err, sizeof(err)) ||
            crypto_key_id(key, key_id, err, sizeof(err)))
                goto fail;
        printf("%s\n", key_id);
        fprintf(stderr, "tds: new key in %s%s\n", path,
                passphrase ? " (encrypted)" : "");
        ret = 0;
        goto done;
fail:
        fprintf(stderr, "tds keygen: %s\n", err);
done:
        if (passphrase != NULL)
                crypto_secret_free(passphrase, strlen(passphrase));
        crypto_key_free(key);
        return ret;
}

static int cmd_key_id(int argc, char **argv)
{
        const char *passphrase_file = NULL;
        char home[HOME_PATH_MAX], path[HOME_PATH_MAX], err[1024];
        char key_id[CRYPTO_KEY_ID_LEN + 1];
        struct crypto_key *key = NULL;
        char *passphrase = NULL;
        int force = 0, ret = 1;

        if (key_options(argc, argv, 0, &passphrase_file, &force, key_id_help) ==
            -1)
                return EXIT_USAGE;
        if (home_resolve(cli_opts.home_flag, home, sizeof(home), err,
                         sizeof(err)) ||
            home_path(home, "key.pem", path, sizeof(path), err, sizeof(err)))
                goto fail;
        if (passphrase_file != NULL &&
            (passphrase = home_read_passphrase(passphrase_file, err,
                                               sizeof(err))) == NULL)
                goto fail;
        if (crypto_key_load(path, passphrase, &key, err, sizeof(err)) ||
            crypto_key_id(key, key_id, err, sizeof(err)))
                goto fail;
        printf("%s\n", key_id);
        ret = 0;
        goto done;
fail:
        fprintf(stderr, "tds key-id: %s\n", err);
done:
        if (passphrase != NULL)
                crypto_secret_free(passphrase, strlen(passphrase));
        crypto_key_free(key);
        return ret;
}

static const struct command commands[] = {
    {"init", "create the client home, config and key", cmd_init, cmd_init_help},
    {"register", "register your public key with the TTP", cmd_register,
     cmd_register_help},
    {"upload", "upload a file (steps 1-3)", cmd_upload, cmd_upload_help},
    {"download", "download a file (steps 4-8)", cmd_download,
     cmd_download_help},
    {"receipts", "collect receipts for your uploads (step 7)", cmd_receipts,
     cmd_receipts_help},
    {"abort", "withdraw one of your files", cmd_abort, cmd_abort_help},
    {"catalog", "list the files the TTP offers", cmd_catalog, cmd_catalog_help},
    {"uploads", "list your uploads (local records)", cmd_uploads,
     cmd_uploads_help},
    {"downloads", "list your downloads (local records)", cmd_downloads,
     cmd_downloads_help},
    {"verify", "check an evidence, bundle or tree head file offline",
     cmd_verify, cmd_verify_help},
    {"bundle", "add the evidence log's proof to an evidence file", cmd_bundle,
     cmd_bundle_help},
    {"log", "fetch the evidence log's latest signed tree head", cmd_log,
     cmd_log_help},
    {"audit", "read the TTP's audit views (auditor)", cmd_audit,
     cmd_audit_help},
    {"keygen", "create your signing key pair", cmd_keygen, keygen_help},
    {"key-id", "print your key id", cmd_key_id, key_id_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
        fprintf(out, "usage: tds [--home DIR] [-v] [--timeout SECS] [--json] "
                     "COMMAND [ARGS]\n"
                     "       tds help COMMAND\n"
                     "\n"
                     "The TDS client: exchange documents with signed "
                     "evidence through a TTP.\n"
                     "\n"
                     "commands:\n");
        for (size_t i = 0; i < NCOMMANDS; i++)
                fprintf(out, "  %-10s %s\n", commands[i].name,
                        commands[i].summary);
        fprintf(out,
                "\n"
                "  --home DIR      client home (default $TDS_HOME, else "
                "~/.tds)\n"
                "  --timeout SECS  how long to wait for each reply "
                "(default: config, 30)\n"
                "  --json          print data as JSON\n"
                "  --passphrase-file FILE  passphrase of an encrypted key\n"
                "  -v, --verbose   say what happens (twice: Kafka's logs "
                "too)\n"
                "  --version       print the version\n"
                "\n"
                "Exit status: 0 ok, 1 failed, 2 usage, 3 timeout (the TTP or "
                "the broker did\n"
                "not answer), 4 verification failure (hash or signature "
                "mismatch).\n"
                "See docs/client.md.\n");
}

static const struct command *command_find(const char *name)
{
        for (size_t i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i].name, name) == 0)
                        return &commands[i];
        return NULL;
}

static int unknown_command(const char *name)
{
        fprintf(stderr, "tds: unknown command '%s' (see tds --help)\n", name);
        return EXIT_USAGE;
}

int main(int argc, char **argv)
{
        const struct command *cmd;
        int i = 1;

        log_init("tds", 1, 0);
        for (; i < argc && argv[i][0] == '-'; i++) {
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        usage(stdout);
                        return 0;
                } else if (!strcmp(argv[i], "--version")) {
                        printf("tds %s\n", TDS_VERSION);
                        return 0;
                } else if (!strcmp(argv[i], "--home") && i + 1 < argc) {
                        cli_set_home(argv[++i]);
                } else if (!strncmp(argv[i], "--home=", 7)) {
                        cli_set_home(argv[i] + 7);
                } else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
                        if (cli_set_timeout(argv[++i]) == -1)
                                return EXIT_USAGE;
                } else if (!strncmp(argv[i], "--timeout=", 10)) {
                        if (cli_set_timeout(argv[i] + 10) == -1)
                                return EXIT_USAGE;
                } else if (!strcmp(argv[i], "--passphrase-file") &&
                           i + 1 < argc) {
                        cli_opts.passphrase_file = argv[++i];
                } else if (!strcmp(argv[i], "--json")) {
                        cli_opts.json = 1;
                } else if (!strcmp(argv[i], "-v") ||
                           !strcmp(argv[i], "--verbose")) {
                        cli_opts.verbose++;
                        log_set_verbose(1);
                } else if (!strcmp(argv[i], "-vv")) {
                        cli_opts.verbose += 2;
                        log_set_verbose(1);
                } else {
                        fprintf(stderr, "tds: unknown option '%s'\n", argv[i]);
                        usage(stderr);
                        return EXIT_USAGE;
                }
        }
        if (i == argc) {
                usage(stderr);
                return EXIT_USAGE;
        }
        if (strcmp(argv[i], "help") == 0) {
                if (i + 1 == argc) {
                        usage(stdout);
                        return 0;
                }
                if ((cmd = command_find(argv[i + 1])) == NULL)
                        return unknown_command(argv[i + 1]);
                cmd->help(stdout);
                return 0;
        }
        if ((cmd = command_find(argv[i])) == NULL)
                return unknown_command(argv[i]);
        return cmd->run(argc - i, argv + i);
}

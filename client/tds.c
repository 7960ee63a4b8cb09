/*
 * tds: the TDS command-line client.
 *
 * git-style subcommands, each with --help.  Exit status: 0 success,
 * 1 the operation failed (the message says why), 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crypto.h"
#include "home.h"

#define EXIT_USAGE 2

struct command {
        const char *name;
        const char *summary;
        int (*run)(int argc, char **argv);
        void (*help)(FILE *out);
};

static const char *home_flag;

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
        if (home_resolve(home_flag, home, sizeof(home), err, sizeof(err)) ||
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
        if (home_resolve(home_flag, home, sizeof(home), err, sizeof(err)) ||
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
    {"keygen", "create your signing key pair", cmd_keygen, keygen_help},
    {"key-id", "print your key id", cmd_key_id, key_id_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
        fprintf(out, "usage: tds [--home DIR] COMMAND [ARGS]\n"
                     "       tds help COMMAND\n"
                     "\n"
                     "The TDS client: exchange documents with signed "
                     "evidence through a TTP.\n"
                     "\n"
                     "commands:\n");
        for (size_t i = 0; i < NCOMMANDS; i++)
                fprintf(out, "  %-10s %s\n", commands[i].name,
                        commands[i].summary);
        fprintf(out, "\n"
                     "  --home DIR  client home (default $TDS_HOME, else "
                     "~/.tds)\n"
                     "  --version   print the version\n"
                     "\n"
                     "Exit status: 0 success, 1 failure, 2 usage error.\n");
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

        for (; i < argc && argv[i][0] == '-'; i++) {
                if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
                        usage(stdout);
                        return 0;
                } else if (!strcmp(argv[i], "--version")) {
                        printf("tds %s\n", TDS_VERSION);
                        return 0;
                } else if (!strcmp(argv[i], "--home") && i + 1 < argc) {
                        home_flag = argv[++i];
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

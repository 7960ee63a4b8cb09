/*
 * tds init: create the client home, its config and the user's key.
 */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "kafka.h"

#define INIT_PROPS_MAX 64

void cmd_init_help(FILE *out)
{
        fprintf(out,
                "usage: tds init --user NAME --bootstrap HOST:PORT --store "
                "DIR --ttp-key FILE\n"
                "                [--prop kafka.X=Y]... [--topic-prefix P] "
                "[--passphrase-file F]\n"
                "                [--force]\n"
                "\n"
                "Create the client home (default ~/.tds, mode 0700): its "
                "config and, unless\n"
                "one exists, your P-256 key (key.pem, PKCS#8, mode 0600). "
                "Prints your key id.\n"
                "Next: tds register.\n"
                "\n"
                "  --user NAME          your user name at the TTP (1 to 64 "
                "of [a-z0-9._-])\n"
                "  --bootstrap H:P      the Kafka broker "
                "(kafka.bootstrap.servers)\n"
                "  --store DIR          the document store shared with the "
                "TTP\n"
                "  --ttp-key FILE       the TTP's public key (SPKI PEM, "
                "e.g. ttp_key.pem.pub)\n"
                "  --prop kafka.X=Y     another librdkafka property, passed "
                "as is (repeatable)\n"
                "  --topic-prefix P     the TTP's topic prefix (default "
                "tds)\n"
                "  --passphrase-file F  encrypt a new key with the first "
                "line of F (mode 0600);\n"
                "                       the config remembers F for later "
                "commands\n"
                "  --force              overwrite an existing config (the "
                "key is kept)\n");
        cli_help_common(out);
}

struct init_opts {
        const char *user, *bootstrap, *store, *ttp_key, *prefix;
        const char *props[INIT_PROPS_MAX];
        size_t nprops;
        int force;
};

static int init_opt(int ch, const char *arg, void *ctx)
{
        struct init_opts *o = ctx;

        switch (ch) {
        case 'u':
                o->user = arg;
                return 0;
        case 'b':
                o->bootstrap = arg;
                return 0;
        case 's':
                o->store = arg;
                return 0;
        case 'k':
                o->ttp_key = arg;
                return 0;
        case 't':
                o->prefix = arg;
                return 0;
        case 'f':
                o->force = 1;
                return 0;
        case 'p':
                if (o->nprops == INIT_PROPS_MAX) {
                        fprintf(stderr, "tds init: more than %d --prop\n",
                                INIT_PROPS_MAX);
                        return -1;
                }
                o->props[o->nprops++] = arg;
                return 0;
        default:
                return -1;
        }
}

/* --prop kafka.X=Y into cfg, checked by librdkafka itself. */
static int init_props(const struct init_opts *o, struct cfg *cfg)
{
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char key[256], why[512];
        int ret = -1;

        for (size_t i = 0; i < o->nprops; i++) {
                const char *p = o->props[i], *eq = strchr(p, '=');

                if (strncmp(p, "kafka.", 6) != 0 || eq == NULL || eq == p + 6 ||
                    (size_t)(eq - p - 6) >= sizeof(key)) {
                        fprintf(stderr,
                                "tds init: --prop '%s': expected "
                                "kafka.PROPERTY=VALUE\n",
                                p);
                        goto done;
                }
                snprintf(key, sizeof(key), "%.*s", (int)(eq - p - 6), p + 6);
                if (strcmp(key, "bootstrap.servers") == 0) {
                        fprintf(stderr,
                                "tds init: --prop '%s': use "
                                "--bootstrap\n",
                                p);
                        goto done;
                }
                if (kafka_conf_set(conf, key, eq + 1, why, sizeof(why)) == -1 ||
                    cfg_prop_set(cfg, key, eq + 1, why, sizeof(why)) == -1) {
                        fprintf(stderr, "tds init: --prop '%s': %s\n", p, why);
                        goto done;
                }
        }
        ret = 0;
done:
        rd_kafka_conf_destroy(conf);
        return ret;
}

/* The absolute, resolved path of an existing `path` into `out`. */
static int init_realpath(const char *what, const char *path, char *out,
                         size_t outlen, char *err, size_t errlen)
{
        char buf[PATH_MAX];

        if (realpath(path, buf) == NULL) {
                snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
                return -1;
        }
        if (strlen(buf) >= outlen) {
                snprintf(err, errlen, "%s %s: path too long", what, path);
                return -1;
        }
        memcpy(out, buf, strlen(buf) + 1);
        return 0;
}

int cmd_init(int argc, char **argv)
{
        static const struct option opts[] = {
            {"user", required_argument, NULL, 'u'},
            {"bootstrap", required_argument, NULL, 'b'},
            {"store", required_argument, NULL, 's'},
            {"ttp-key", required_argument, NULL, 'k'},
            {"prop", required_argument, NULL, 'p'},
            {"topic-prefix", required_argument, NULL, 't'},
            {"force", no_argument, NULL, 'f'},
            {NULL, 0, NULL, 0}};
        struct init_opts o;
        struct kafka_topics topics;
        struct cfg cfg;
        struct crypto_key *key = NULL, *ttp = NULL;
        char home[HOME_PATH_MAX], cfgpath[HOME_PATH_MAX];
        char keypath[HOME_PATH_MAX], err[CLI_ERR_MAX];
        char key_id[CRYPTO_KEY_ID_LEN + 1], ttp_id[CRYPTO_KEY_ID_LEN + 1];
        char *passphrase = NULL, *ttp_b64 = NULL;
        const char *missing = NULL;
        struct stat st;
        int first, created_key = 0, ret = CLI_EXIT_FAIL;

        memset(&o, 0, sizeof(o));
        cfg_init(&cfg);
        if ((first = cli_getopt(argc, argv, opts, NULL, init_opt, &o,
                                cmd_init_help)) == -1)
                return CLI_EXIT_USAGE;
        if (first < argc) {
                cli_error("init",
                          "unexpected argument '%s' (see tds help "
                          "init)",
                          argv[first]);
                ret = CLI_EXIT_USAGE;
                goto done;
        }
        missing = o.user == NULL        ? "--user NAME"
                  : o.bootstrap == NULL ? "--bootstrap HOST:PORT"
                  : o.store == NULL     ? "--store DIR"
                  : o.ttp_key == NULL   ? "--ttp-key FILE"
                                        : NULL;
        if (missing != NULL) {
                cli_error("init", "%s is required (see tds help init)",
                          missing);
                ret = CLI_EXIT_USAGE;
                goto done;
        }
        if (ids_check_user(o.user, err, sizeof(err)) == -1) {
                cli_error("init", "--user '%s': %s", o.user, err);
                ret = CLI_EXIT_USAGE;
                goto done;
        }
        if (o.prefix != NULL &&
            kafka_topics_init(&topics, o.prefix, err, sizeof(err)) == -1) {
                cli_error("init", "--topic-prefix: %s", err);
                ret = CLI_EXIT_USAGE;
                goto done;
        }
        if (o.bootstrap[0] == '\0' || strchr(o.bootstrap, ' ') != NULL) {
                cli_error("init", "--bootstrap '%s': expected HOST:PORT[,...]",
                          o.bootstrap);
                ret = CLI_EXIT_USAGE;
                goto done;
        }
        if (init_props(&o, &cfg) == -1) {
                ret = CLI_EXIT_USAGE;
                goto done;
        }
        snprintf(cfg.user, sizeof(cfg.user), "%s", o.user);
        if (o.prefix != NULL)
                snprintf(cfg.topic_prefix, sizeof(cfg.topic_prefix), "%s",
                         o.prefix);
        if (cfg_prop_set(&cfg, "bootstrap.servers", o.bootstrap, err,
                         sizeof(err)) == -1)
                goto fail;
        if (init_realpath("--store", o.store, cfg.store_root,
                          sizeof(cfg.store_root), err, sizeof(err)) == -1)
                goto fail;
        if (stat(cfg.store_root, &st) == -1 || !S_ISDIR(st.st_mode)) {
                snprintf(err, sizeof(err), "--store %s: not a directory",
                         o.store);
                goto fail;
        }
        if (init_realpath("--ttp-key", o.ttp_key, cfg.ttp_public_key,
                          sizeof(cfg.ttp_public_key), err, sizeof(err)) == -1 ||
            cfg_ttp_key_load(cfg.ttp_public_key, &ttp, &ttp_b64, ttp_id, err,
                             sizeof(err)) == -1)
                goto fail;
        if (cli_opts.passphrase_file != NULL) {
                if (init_realpath("--passphrase-file", cli_opts.passphrase_file,
                                  cfg.passphrase_file,
                                  sizeof(cfg.passphrase_file), err,
                                  sizeof(err)) == -1 ||
                    (passphrase = home_read_passphrase(cfg.passphrase_file, err,
                                                       sizeof(err))) == NULL)
                        goto fail;
        }
        if (home_resolve(cli_opts.home_flag, home, sizeof(home), err,
                         sizeof(err)) == -1 ||
            home_ensure(home, err, sizeof(err)) == -1 ||
            home_path(home, "config", cfgpath, sizeof(cfgpath), err,
                      sizeof(err)) == -1 ||
            home_path(home, "key.pem", keypath, sizeof(keypath), err,
                      sizeof(err)) == -1)
                goto fail;
        if (!o.force && lstat(cfgpath, &st) == 0) {
                snprintf(err, sizeof(err),
                         "%s already exists; use --force to overwrite it",
                         cfgpath);
                goto fail;
        }
        if (lstat(keypath, &st) == 0) {
                /* Keep it: the TTP may know it already.  Refuses a key
                 * others can read, or one the passphrase does not open. */
                if (crypto_key_load(keypath, passphrase, &key, err,
                                    sizeof(err)) == -1)
                        goto fail;
                cli_note("keeping the existing key %s", keypath);
        } else {
                if (crypto_key_generate(&key, err, sizeof(err)) == -1 ||
                    crypto_key_save(key, keypath, passphrase, err,
                                    sizeof(err)) == -1)
                        goto fail;
                created_key = 1;
        }
        if (crypto_key_id(key, key_id, err, sizeof(err)) == -1 ||
            cfg_save(&cfg, cfgpath, err, sizeof(err)) == -1)
                goto fail;
        if (cli_opts.json) {
                if (cli_print_json(json_pack(
                        "{s:s, s:s, s:s, s:s, s:b, s:s}", "home", home, "user",
                        cfg.user, "key_id", key_id, "key", keypath, "new_key",
                        created_key, "ttp_key_id", ttp_id)) == -1)
                        goto done;
        } else {
                printf("%s\n", key_id);
        }
        if (isatty(STDERR_FILENO) || cli_opts.verbose)
                fprintf(stderr,
                        "tds: home %s ready for %s (%s key%s); next: tds "
                        "register\n",
                        home, cfg.user, created_key ? "new" : "existing",
                        passphrase != NULL ? ", encrypted" : "");
        ret = CLI_EXIT_OK;
        goto done;
fail:
        cli_error("init", "%s", err);
done:
        if (passphrase != NULL)
                crypto_secret_free(passphrase, strlen(passphrase));
        crypto_key_free(key);
        crypto_key_free(ttp);
        free(ttp_b64);
        cfg_fini(&cfg);
        return ret;
}

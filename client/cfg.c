/*
 * cfg: the client's configuration file.
 */
#include "cfg.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "base64.h"
#include "conf.h"
#include "kafka.h"

#define CFG_PEM_MAX 65536

void cfg_init(struct cfg *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        snprintf(cfg->topic_prefix, sizeof(cfg->topic_prefix), "tds");
        cfg->timeout = CFG_DEFAULT_TIMEOUT;
}

void cfg_fini(struct cfg *cfg)
{
        if (cfg == NULL)
                return;
        for (size_t i = 0; i < cfg->nprops; i++) {
                free(cfg->props[i].key);
                /* A property may be a SASL password. */
                crypto_secret_free(cfg->props[i].value,
                                   strlen(cfg->props[i].value));
        }
        free(cfg->props);
        cfg->props = NULL;
        cfg->nprops = 0;
}

const char *cfg_prop_get(const struct cfg *cfg, const char *key)
{
        for (size_t i = 0; i < cfg->nprops; i++)
                if (strcmp(cfg->props[i].key, key) == 0)
                        return cfg->props[i].value;
        return NULL;
}

int cfg_prop_set(struct cfg *cfg, const char *key, const char *value, char *err,
                 size_t errlen)
{
        struct cfg_prop *props;
        char *k = NULL, *v = NULL;
        int ret = -1;

        if (key[0] == '\0' || strchr(key, ' ') != NULL ||
            strchr(key, '\t') != NULL) {
                snprintf(err, errlen, "kafka property name '%s' is not valid",
                         key);
                return -1;
        }
        if (strchr(value, '\n') != NULL || strchr(value, '\r') != NULL) {
                snprintf(err, errlen,
                         "kafka property %s: the value has a line break", key);
                return -1;
        }
        if ((v = strdup(value)) == NULL)
                goto oom;
        for (size_t i = 0; i < cfg->nprops; i++) {
                if (strcmp(cfg->props[i].key, key) == 0) {
                        crypto_secret_free(cfg->props[i].value,
                                           strlen(cfg->props[i].value));
                        cfg->props[i].value = v;
                        return 0;
                }
        }
        if ((k = strdup(key)) == NULL)
                goto oom;
        props = realloc(cfg->props, (cfg->nprops + 1) * sizeof(*props));
        if (props == NULL)
                goto oom;
        cfg->props = props;
        cfg->props[cfg->nprops].key = k;
        cfg->props[cfg->nprops].value = v;
        cfg->nprops++;
        return 0;
oom:
        snprintf(err, errlen, "out of memory");
        free(k);
        if (v != NULL)
                crypto_secret_free(v, strlen(v));
        return ret;
}

/* Copy `value` into a fixed buffer, naming the line when it does not fit. */
static int cfg_copy(char *out, size_t outlen, const char *value,
                    const struct conf *conf, size_t i, char *err, size_t errlen)
{
        if (strlen(value) >= outlen) {
                snprintf(err, errlen, "%s:%d: %s: value longer than %zu bytes",
                         conf_name(conf), conf_line(conf, i), conf_key(conf, i),
                         outlen - 1);
                return -1;
        }
        memcpy(out, value, strlen(value) + 1);
        return 0;
}

int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
        struct kafka_topics topics;
        struct conf *conf = NULL;
        char why[512];
        int ret = -1;

        if ((conf = conf_load(path, err, errlen)) == NULL)
                goto done;
        for (size_t i = 0; i < conf_count(conf); i++) {
                const char *key = conf_key(conf, i);
                const char *value = conf_value(conf, i);
                int line = conf_line(conf, i);

                for (size_t j = 0; j < i; j++) {
                        if (strcmp(conf_key(conf, j), key) == 0) {
                                snprintf(err, errlen,
                                         "%s:%d: %s is already set on line %d",
                                         path, line, key, conf_line(conf, j));
                                goto done;
                        }
                }
                if (strcmp(key, "user") == 0) {
                        if (ids_check_user(value, why, sizeof(why)) == -1) {
                                snprintf(err, errlen, "%s:%d: user '%s': %s",
                                         path, line, value, why);
                                goto done;
                        }
                        snprintf(cfg->user, sizeof(cfg->user), "%s", value);
                } else if (strcmp(key, "store_root") == 0) {
                        if (cfg_copy(cfg->store_root, sizeof(cfg->store_root),
                                     value, conf, i, err, errlen) == -1)
                                goto done;
                        if (value[0] != '/') {
                                snprintf(err, errlen,
                                         "%s:%d: store_root '%s' is not an "
                                         "absolute path",
                                         path, line, value);
                                goto done;
                        }
                } else if (strcmp(key, "ttp_public_key") == 0) {
                        if (cfg_copy(cfg->ttp_public_key,
                                     sizeof(cfg->ttp_public_key), value, conf,
                                     i, err, errlen) == -1)
                                goto done;
                } else if (strcmp(key, "topic_prefix") == 0) {
                        if (kafka_topics_init(&topics, value, why,
                                              sizeof(why)) == -1) {
                                snprintf(err, errlen, "%s:%d: %s", path, line,
                                         why);
                                goto done;
                        }
                        snprintf(cfg->topic_prefix, sizeof(cfg->topic_prefix),
                                 "%s", value);
                } else if (strcmp(key, "timeout") == 0) {
                        if (conf_parse_long(value, 1, CFG_TIMEOUT_MAX,
                                            &cfg->timeout, why,
                                            sizeof(why)) == -1) {
                                snprintf(err, errlen, "%s:%d: timeout: %s",
                                         path, line, why);
                                goto done;
                        }
                } else if (strcmp(key, "passphrase_file") == 0) {
                        if (cfg_copy(cfg->passphrase_file,
                                     sizeof(cfg->passphrase_file), value, conf,
                                     i, err, errlen) == -1)
                                goto done;
                } else if (strncmp(key, "kafka.", 6) == 0 && key[6] != '\0') {
                        /* A property librdkafka does not know is a typo:
                         * say so here, naming the line. */
                        if (kafka_conf_check(key + 6, value, why,
                                             sizeof(why)) == -1 ||
                            cfg_prop_set(cfg, key + 6, value, why,
                                         sizeof(why)) == -1) {
                                snprintf(err, errlen, "%s:%d: %s", path, line,
                                         why);
                                goto done;
                        }
                } else {
                        snprintf(err, errlen,
                                 "%s:%d: unknown key '%s' (known: user, "
                                 "store_root, ttp_public_key, topic_prefix, "
                                 "timeout, passphrase_file, kafka.*)",
                                 path, line, key);
                        goto done;
                }
        }
        if (cfg->user[0] == '\0' || cfg->store_root[0] == '\0' ||
            cfg->ttp_public_key[0] == '\0' ||
            cfg_prop_get(cfg, "bootstrap.servers") == NULL) {
                snprintf(err, errlen, "%s: '%s' is missing (see tds help init)",
                         path,
                         cfg->user[0] == '\0'         ? "user"
                         : cfg->store_root[0] == '\0' ? "store_root"
                         : cfg->ttp_public_key[0] == '\0'
                             ? "ttp_public_key"
                             : "kafka.bootstrap.servers");
                goto done;
        }
        ret = 0;
done:
        conf_free(conf);
        return ret;
}

/* Append printf output to a growing buffer. */
struct cfg_buf {
        char *p;
        size_t len, cap;
        int failed;
};

static void cfg_bufprintf(struct cfg_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void cfg_bufprintf(struct cfg_buf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->failed)
                return;
        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->failed = 1;
                return;
        }
        if (b->len + (size_t)n + 1 > b->cap) {
                size_t cap = (b->len + (size_t)n + 1) * 2;
                char *p = malloc(cap);

                if (p == NULL) {
                        b->failed = 1;
                        return;
                }
                if (b->p != NULL) {
                        memcpy(p, b->p, b->len);
                        crypto_secret_free(b->p, b->cap);
                }
                b->p = p;
                b->cap = cap;
        }
        va_start(ap, fmt);
        vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        b->len += (size_t)n;
}

int cfg_save(const struct cfg *cfg, const char *path, char *err, size_t errlen)
{
        struct cfg_buf b = {NULL, 0, 0, 0};
        int ret = -1;

        cfg_bufprintf(&b,
                      "# TDS client configuration (tds help init).\n"
                      "# kafka.X lines are passed to librdkafka as X.\n"
                      "user              %s\n"
                      "store_root        %s\n"
                      "ttp_public_key    %s\n"
                      "topic_prefix      %s\n"
                      "timeout           %ld\n",
                      cfg->user, cfg->store_root, cfg->ttp_public_key,
                      cfg->topic_prefix, cfg->timeout);
        if (cfg->passphrase_file[0] != '\0')
                cfg_bufprintf(&b, "passphrase_file   %s\n",
                              cfg->passphrase_file);
        for (size_t i = 0; i < cfg->nprops; i++)
                cfg_bufprintf(&b, "kafka.%s %s\n", cfg->props[i].key,
                              cfg->props[i].value);
        if (b.failed) {
                snprintf(err, errlen, "out of memory");
                goto done;
        }
        ret = home_write_atomic(path, b.p, b.len, 0600, err, errlen);
done:
        if (b.p != NULL)
                crypto_secret_free(b.p, b.cap);
        return ret;
}

int cfg_ttp_key_load(const char *path, struct crypto_key **key, char **spki_b64,
                     char *key_id, char *err, size_t errlen)
{
        char *pem = NULL, *b64 = NULL;
        unsigned char *der = NULL;
        struct crypto_key *k = NULL;
        EVP_PKEY *pkey = NULL;
        BIO *bio = NULL;
        size_t pemlen = 0;
        char why[512];
        int derlen, ret = -1;

        *key = NULL;
        *spki_b64 = NULL;
        if ((pem = home_read_file(path, CFG_PEM_MAX, &pemlen, why,
                                  sizeof(why))) == NULL) {
                /* `why` already names the file. */
                snprintf(err, errlen, "TTP public key %s", why);
                goto done;
        }
        if ((bio = BIO_new_mem_buf(pem, (int)pemlen)) == NULL ||
            (pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) == NULL) {
                snprintf(why, sizeof(why),
                         "not a public key PEM (\"BEGIN PUBLIC KEY\")");
                goto fail;
        }
        if ((derlen = i2d_PUBKEY(pkey, &der)) <= 0) {
                snprintf(why, sizeof(why), "cannot encode the key");
                goto fail;
        }
        /* The one canonical P-256 form, the same check as for users. */
        if (crypto_pubkey_from_der(der, (size_t)derlen, &k, why, sizeof(why)) ==
                -1 ||
            crypto_key_id(k, key_id, why, sizeof(why)) == -1)
                goto fail;
        if ((b64 = base64_encode(der, (size_t)derlen)) == NULL) {
                snprintf(why, sizeof(why), "out of memory");
                goto fail;
        }
        *key = k;
        k = NULL;
        *spki_b64 = b64;
        b64 = NULL;
        ret = 0;
        goto done;
fail:
        snprintf(err, errlen, "TTP public key %s: %s", path, why);
done:
        ERR_clear_error();
        crypto_key_free(k);
        OPENSSL_free(der);
        free(b64);
        free(pem);
        BIO_free(bio);
        EVP_PKEY_free(pkey);
        return ret;
}

/*
 * ttp_conf: parse and validate the daemon's configuration file.
 *
 * Every key is declared once in conf_keys[] with its type and range, so
 * an unknown key, a repeated key, a missing required key or a bad value
 * is an error that names the file and line.
 */
#include "ttp_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "conf.h"

enum conf_type { CONF_STRING, CONF_UINT, CONF_BOOL, CONF_SECRET_FILE };

struct conf_key {
        const char *name;
        enum conf_type type;
        size_t offset;
        long min, max;
        int required;
        const char *default_value;
};

#define STR(field, req, def)                                                   \
        CONF_STRING, offsetof(struct ttp_conf, field), 0, 0, req, def
#define UINT(field, lo, hi, def)                                               \
        CONF_UINT, offsetof(struct ttp_conf, field), lo, hi, 0, def
#define BOOL(field) CONF_BOOL, offsetof(struct ttp_conf, field), 0, 1, 0, NULL

static const struct conf_key conf_keys[] = {
    {"topic_prefix", STR(topic_prefix, 0, "tds")},
    {"group_id", STR(group_id, 0, "tds-ttp")},
    {"db_host", STR(db_host, 0, NULL)},
    {"db_port", UINT(db_port, 1, 65535, "3306")},
    {"db_socket", STR(db_socket, 0, NULL)},
    {"db_user", STR(db_user, 1, NULL)},
    {"db_password_file", CONF_SECRET_FILE,
     offsetof(struct ttp_conf, db_password), 0, 0, 0, NULL},
    {"db_name", STR(db_name, 0, "tds")},
    {"db_connect_timeout", UINT(db_connect_timeout, 1, 3600, "10")},
    {"db_ssl_ca", STR(db_ssl_ca, 0, NULL)},
    {"db_ssl_capath", STR(db_ssl_capath, 0, NULL)},
    {"db_ssl_cert", STR(db_ssl_cert, 0, NULL)},
    {"db_ssl_key", STR(db_ssl_key, 0, NULL)},
    {"db_ssl_cipher", STR(db_ssl_cipher, 0, NULL)},
    {"db_ssl_crl", STR(db_ssl_crl, 0, NULL)},
    {"db_ssl_crlpath", STR(db_ssl_crlpath, 0, NULL)},
    {"db_tls_version", STR(db_tls_version, 0, NULL)},
    {"db_tls_peer_fp", STR(db_tls_peer_fp, 0, NULL)},
    {"db_ssl_verify_server_cert", BOOL(db_ssl_verify_server_cert)},
    {"store_root", STR(store_root, 1, NULL)},
    {"ttp_key_file", STR(ttp_key_file, 1, NULL)},
    {"tsa_key_file", STR(tsa_key_file, 0, NULL)},
    {"tsa_cert_file", STR(tsa_cert_file, 0, NULL)},
    {"tsa_ca_file", STR(tsa_ca_file, 0, NULL)},
    {"head_interval", UINT(head_interval, 1, 86400, "10")},
    {"nonce_ttl", UINT(nonce_ttl, 1, 86400, "600")},
    {"sweep_interval", UINT(sweep_interval, 1, 86400, "10")},
    {"sweep_grace", UINT(sweep_grace, 0, 30 * 86400, "3600")},
    {"apply_batch", UINT(apply_batch, 1, 10000, "256")},
    {"apply_batch_ms", UINT(apply_batch_ms, 1, 1000, "20")},
    {"relay_batch", UINT(relay_batch, 1, 10000, "256")},
    {"test_crash_point", STR(test_crash_point, 0, NULL)},
    {"pid_file", STR(pid_file, 0, NULL)},
    {"log_file", STR(log_file, 0, NULL)},
    {"state_file", STR(state_file, 0, NULL)},
    {"state_interval", UINT(state_interval, 1, 3600, "2")},
};

#define CONF_NKEYS (sizeof(conf_keys) / sizeof(conf_keys[0]))

static void free_secret(char *s)
{
        if (s != NULL) {
                OPENSSL_cleanse(s, strlen(s));
                free(s);
        }
}

/* Passwords are one line; a secret file readable by others is refused. */
static char *read_secret_file(const char *path, char *err, size_t errlen)
{
        char buf[512];
        char *ret = NULL;
        struct stat st;
        ssize_t n;
        int fd;

        if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                return NULL;
        }
        if (fstat(fd, &st) == -1) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(err, errlen, "%s: not a regular file", path);
                goto done;
        }
        if (st.st_mode & (S_IRWXG | S_IRWXO)) {
                snprintf(err, errlen,
                         "%s: mode %04o lets others read a secret; "
                         "chmod 600 it",
                         path, (unsigned)(st.st_mode & 07777));
                goto done;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if ((size_t)n == sizeof(buf) - 1) {
                snprintf(err, errlen, "%s: longer than %zu bytes", path,
                         sizeof(buf) - 2);
                goto done;
        }
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (buf[0] == '\0') {
                snprintf(err, errlen, "%s: empty", path);
                goto done;
        }
        ret = strdup(buf);
        if (ret == NULL)
                snprintf(err, errlen, "out of memory");
done:
        OPENSSL_cleanse(buf, sizeof(buf));
        close(fd);
        return ret;
}

static int conf_set(struct ttp_conf *conf, const struct conf_key *k,
                    const char *value, char *err, size_t errlen)
{
        char *base = (char *)conf;
        long v;

        switch (k->type) {
        case CONF_STRING:
                if ((*(char **)(base + k->offset) = strdup(value)) == NULL) {
                        snprintf(err, errlen, "out of memory");
                        return -1;
                }
                return 0;
        case CONF_UINT:
                if (conf_parse_long(value, k->min, k->max, &v, err, errlen) ==
                    -1)
                        return -1;
                *(unsigned *)(base + k->offset) = (unsigned)v;
                return 0;
        case CONF_BOOL:
                return conf_parse_bool(value, (int *)(base + k->offset), err,
                                       errlen);
        case CONF_SECRET_FILE:
                *(char **)(base + k->offset) =
                    read_secret_file(value, err, errlen);
                return *(char **)(base + k->offset) == NULL ? -1 : 0;
        }
        snprintf(err, errlen, "internal: bad key type");
        return -1;
}

static int conf_add_kafka(struct ttp_conf *conf, const char *key,
                          const char *value, char *err, size_t errlen)
{
        struct ttp_conf_kv *kv;

        if (key[0] == '\0') {
                snprintf(err, errlen, "'kafka.' needs a property name");
                return -1;
        }
        /* An unknown property is a typo: say so now, not at connect. */
        if (kafka_conf_check(key, value, err, errlen) == -1)
                return -1;
        for (size_t i = 0; i < conf->kafka_count; i++) {
                if (strcmp(conf->kafka[i].key, key) == 0) {
                        snprintf(err, errlen, "kafka.%s given twice", key);
                        return -1;
                }
        }
        if (conf->kafka_count == TTP_CONF_KAFKA_MAX) {
                snprintf(err, errlen, "more than %d kafka.* properties",
                         TTP_CONF_KAFKA_MAX);
                return -1;
        }
        kv = &conf->kafka[conf->kafka_count];
        kv->key = strdup(key);
        kv->value = strdup(value);
        if (kv->key == NULL || kv->value == NULL) {
                free(kv->key);
                free_secret(kv->value);
                snprintf(err, errlen, "out of memory");
                return -1;
        }
        conf->kafka_count++;
        return 0;
}

static int conf_has_kafka(const struct ttp_conf *conf, const char *key)
{
        for (size_t i = 0; i < conf->kafka_count; i++)
                if (strcmp(conf->kafka[i].key, key) == 0)
                        return 1;
        return 0;
}

/* 1 if any MariaDB TLS setting (db_ssl_*, db_tls_*) is given. */
static int ttp_conf_db_tls(const struct ttp_conf *conf)
{
        return conf->db_ssl_ca != NULL || conf->db_ssl_capath != NULL ||
               conf->db_ssl_cert != NULL || conf->db_ssl_key != NULL ||
               conf->db_ssl_cipher != NULL || conf->db_ssl_crl != NULL ||
               conf->db_ssl_crlpath != NULL || conf->db_tls_version != NULL ||
               conf->db_tls_peer_fp != NULL;
}

int ttp_conf_load(struct ttp_conf *conf, const char *path, char *err,
                  size_t errlen)
{
        struct conf *file = NULL;
        int seen[CONF_NKEYS] = {0};
        char why[512];
        int ret = -1;

        memset(conf, 0, sizeof(*conf));
        conf->db_ssl_verify_server_cert = -1;
        if ((file = conf_load(path, err, errlen)) == NULL)
                goto done;
        for (size_t i = 0; i < conf_count(file); i++) {
                const char *key = conf_key(file, i);
                const char *value = conf_value(file, i);
                int line = conf_line(file, i);
                size_t k;

                if (strncmp(key, "kafka.", 6) == 0) {
                        if (conf_add_kafka(conf, key + 6, value, why,
                                           sizeof(why)) == -1)
                                goto bad_line;
                        continue;
                }
                for (k = 0; k < CONF_NKEYS; k++)
                        if (strcmp(conf_keys[k].name, key) == 0)
                                break;
                if (k == CONF_NKEYS) {
                        snprintf(why, sizeof(why), "unknown setting '%s'", key);
                        goto bad_line;
                }
                if (seen[k]) {
                        snprintf(why, sizeof(why), "'%s' given twice", key);
                        goto bad_line;
                }
                seen[k] = 1;
                if (conf_set(conf, &conf_keys[k], value, why, sizeof(why)) ==
                    -1)
                        goto bad_line;
                continue;
        bad_line:
                snprintf(err, errlen, "%s:%d: %s", path, line, why);
                goto done;
        }
        for (size_t k = 0; k < CONF_NKEYS; k++) {
                if (seen[k])
                        continue;
                if (conf_keys[k].required) {
                        snprintf(err, errlen, "%s: '%s' is required", path,
                                 conf_keys[k].name);
                        goto done;
                }
                if (conf_keys[k].default_value != NULL &&
                    conf_set(conf, &conf_keys[k], conf_keys[k].default_value,
                             why, sizeof(why)) == -1) {
                        snprintf(err, errlen, "%s: default of '%s': %s", path,
                                 conf_keys[k].name, why);
                        goto done;
                }
        }
        /* A CA that is not checked against would be no TLS at all: a
         * server without TLS is accepted unless the certificate is
         * verified (Connector/C 3.3), so verification is the default. */
        if (conf->db_ssl_verify_server_cert == -1)
                conf->db_ssl_verify_server_cert = ttp_conf_db_tls(conf);
        if (conf->db_socket == NULL && conf->db_host == NULL) {
                snprintf(err, errlen, "%s: set db_socket or db_host", path);
                goto done;
        }
        if (kafka_topics_init(&conf->topics, conf->topic_prefix, why,
                              sizeof(why)) == -1) {
                snprintf(err, errlen, "%s: %s", path, why);
                goto done;
        }
        if (!conf_has_kafka(conf, "bootstrap.servers")) {
                snprintf(err, errlen,
                         "%s: 'kafka.bootstrap.servers' is required", path);
                goto done;
        }
        if (conf->test_crash_point != NULL &&
            strcmp(conf->test_crash_point, "after-commit") != 0 &&
            strcmp(conf->test_crash_point, "after-publish") != 0 &&
            strcmp(conf->test_crash_point, "mid-batch") != 0) {
                snprintf(err, errlen,
                         "%s: test_crash_point must be after-commit, "
                         "after-publish or mid-batch",
                         path);
                goto done;
        }
        if (conf->store_root[0] != '/') {
                snprintf(err, errlen, "%s: store_root must be absolute", path);
                goto done;
        }
        ret = 0;
done:
        conf_free(file);
        if (ret == -1)
                ttp_conf_fini(conf);
        return ret;
}

void ttp_conf_fini(struct ttp_conf *conf)
{
        for (size_t i = 0; i < conf->kafka_count; i++) {
                free(conf->kafka[i].key);
                /* librdkafka properties may carry SASL passwords. */
                free_secret(conf->kafka[i].value);
        }
        free(conf->topic_prefix);
        free(conf->group_id);
        free(conf->db_host);
        free(conf->db_socket);
        free(conf->db_user);
        free_secret(conf->db_password);
        free(conf->db_name);
        free(conf->db_ssl_ca);
        free(conf->db_ssl_capath);
        free(conf->db_ssl_cert);
        free(conf->db_ssl_key);
        free(conf->db_ssl_cipher);
        free(conf->db_ssl_crl);
        free(conf->db_ssl_crlpath);
        free(conf->db_tls_version);
        free(conf->db_tls_peer_fp);
        free(conf->store_root);
        free(conf->ttp_key_file);
        free(conf->tsa_key_file);
        free(conf->tsa_cert_file);
        free(conf->tsa_ca_file);
        free(conf->test_crash_point);
        free(conf->pid_file);
        free(conf->log_file);
        free(conf->state_file);
        memset(conf, 0, sizeof(*conf));
}

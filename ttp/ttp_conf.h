/*
 * ttp_conf: the TTP daemon's configuration, read and validated whole at
 * start (ttpd -n checks it and exits).  See ttp/ttpd.conf.sample.
 */
#ifndef TTP_CONF_H
#define TTP_CONF_H

#include <stddef.h>

#include "kafka.h"

#define TTP_CONF_KAFKA_MAX 64

struct ttp_conf_kv {
        char *key;
        char *value;
};

struct ttp_conf {
        /* librdkafka properties, passed through unchanged (kafka.X). */
        struct ttp_conf_kv kafka[TTP_CONF_KAFKA_MAX];
        size_t kafka_count;
        char *topic_prefix;
        struct kafka_topics topics;
        char *group_id;

        char *db_host;
        unsigned db_port;
        char *db_socket;
        char *db_user;
        char *db_password; /* secret: read from db_password_file */
        char *db_name;
        unsigned db_connect_timeout;
        /* TLS to MariaDB (db_ssl_* keys), handed to Connector/C by db.c. */
        char *db_ssl_ca;
        char *db_ssl_capath;
        char *db_ssl_cert;
        char *db_ssl_key;
        char *db_ssl_cipher;
        char *db_ssl_crl;
        char *db_ssl_crlpath;
        char *db_tls_version;
        char *db_tls_peer_fp;
        /* Defaults to yes as soon as any db_ssl_* or db_tls_* is set. */
        int db_ssl_verify_server_cert;

        char *store_root;
        char *ttp_key_file;
        /* The TSA (RFC 3161) key and certificates; default: beside the
         * TTP key, created on first start (ttp_tsa.h). */
        char *tsa_key_file;
        char *tsa_cert_file;
        char *tsa_ca_file;
        unsigned head_interval; /* seconds between signed tree heads */
        unsigned nonce_ttl;
        unsigned sweep_interval;
        unsigned sweep_grace;
        unsigned apply_batch;    /* messages per transaction, at most */
        unsigned apply_batch_ms; /* and stop adding after this long */
        unsigned relay_batch;
        /* Test only: SIGKILL at this named point (see the sample). */
        char *test_crash_point;

        char *pid_file;
        char *log_file;
        char *state_file;
        unsigned state_interval;
};

/*
 * Load and validate `path`.  On error -1 with a message naming the file
 * and line.  On success `conf` owns its strings: ttp_conf_fini frees them.
 */
int ttp_conf_load(struct ttp_conf *conf, const char *path, char *err,
                  size_t errlen);
void ttp_conf_fini(struct ttp_conf *conf);

#endif

/*
 * cfg: the client's configuration, <home>/config, in the `key value`
 * format of conf.h:
 *
 *   user              NAME         who I am (ids_check_user)
 *   store_root        DIR          the store shared with the TTP (absolute)
 *   ttp_public_key    FILE         the TTP's SPKI PEM (absolute path)
 *   topic_prefix      PREFIX       default "tds"
 *   timeout           SECONDS      default 30, how long to wait for a reply
 *   passphrase_file   FILE         optional: decrypts key.pem
 *   kafka.PROPERTY    VALUE        passed to librdkafka as PROPERTY, as is
 *                                  (kafka.bootstrap.servers is required)
 *
 * Anything else is an error naming the line, so a typo never silently
 * changes what the client does.
 */
#ifndef TDS_CLIENT_CFG_H
#define TDS_CLIENT_CFG_H

#include <stddef.h>

#include "crypto.h"
#include "home.h"
#include "ids.h"

#define CFG_DEFAULT_TIMEOUT 30
#define CFG_TIMEOUT_MAX     86400
#define CFG_PREFIX_MAX      180

struct cfg_prop {
        char *key; /* without "kafka." */
        char *value;
};

struct cfg {
        char user[IDS_USER_MAX + 1];
        char store_root[HOME_PATH_MAX];
        char ttp_public_key[HOME_PATH_MAX];
        char topic_prefix[CFG_PREFIX_MAX + 1];
        char passphrase_file[HOME_PATH_MAX]; /* "" when the key is clear */
        long timeout;
        struct cfg_prop *props;
        size_t nprops;
};

/* Defaults and no Kafka properties; cfg_fini releases the properties. */
void cfg_init(struct cfg *cfg);
void cfg_fini(struct cfg *cfg);

/* Set (or replace) librdkafka property `key` (without "kafka."). */
int cfg_prop_set(struct cfg *cfg, const char *key, const char *value, char *err,
                 size_t errlen);
/* The value of property `key`, or NULL (borrowed). */
const char *cfg_prop_get(const struct cfg *cfg, const char *key);

/*
 * Read and check `path` into `cfg` (cfg_init'ed).  Every problem names
 * the file and line; a missing required key names the key.
 */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);

/* Write `cfg` to `path` atomically, mode 0600 (properties may be secrets). */
int cfg_save(const struct cfg *cfg, const char *path, char *err, size_t errlen);

/*
 * Load the TTP's public key from the SPKI PEM file `path`: a P-256 key in
 * `*key` (caller frees), its SPKI DER as base64 in `*spki_b64` (caller
 * frees) and its key id in `key_id` (CRYPTO_KEY_ID_LEN + 1 bytes).
 */
int cfg_ttp_key_load(const char *path, struct crypto_key **key, char **spki_b64,
                     char *key_id, char *err, size_t errlen);

#endif

/*
 * proto_client: see proto_client.h.  Everything about the wire format here
 * comes from ../shared/PROTOCOL.md and docs/protocol.md (sec. 11), not
 * from the daemon's sources, so that the two can disagree and a test can
 * tell.
 */
#include "proto_client.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "base64.h"
#include "hex.h"
#include "tbs.h"

#define PC_NONCE_LEN   32
#define PC_SIG_MAX     72
#define PC_PUBKEY_MAX  200
#define PC_TEXT_MAX    1024
#define PC_NAME_MAX    1024
#define PC_SIZE_MAX    ((json_int_t)1 << 40)
#define PC_CATALOG_MAX 1000
#define PC_FLUSH_MS    15000

/* --- small helpers ------------------------------------------------------
 */

static void pc_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void pc_errf(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (err == NULL || errlen == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

static int64_t pc_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *pc_str(const json_t *obj, const char *name)
{
        json_t *v = json_object_get(obj, name);

        return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *pc_body(const json_t *env)
{
        return json_object_get(env, "body");
}

int pc_b64_decode(const json_t *v, unsigned char **out, size_t *outlen)
{
        if (!json_is_string(v))
                return -1;
        return base64_decode(json_string_value(v), json_string_length(v), out,
                             outlen, NULL, 0);
}

int pc_sha256_hex_b64(const char *b64, char *hex, char *err, size_t errlen)
{
        unsigned char *bin = NULL;
        size_t len = 0;
        int ret = -1;

        if (base64_decode(b64, strlen(b64), &bin, &len, err, errlen) == -1)
                goto done;
        if (crypto_sha256_hex(bin, len, hex, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        free(bin);
        return ret;
}

char *pc_sign_b64(const struct crypto_key *key, const char *tbs, size_t len,
                  char *err, size_t errlen)
{
        unsigned char *sig = NULL;
        size_t siglen = 0;
        char *b64 = NULL;

        if (crypto_sign(key, tbs, len, &sig, &siglen, err, errlen) == -1)
                goto done;
        if ((b64 = base64_encode(sig, siglen)) == NULL)
                pc_errf(err, errlen, "out of memory");
done:
        free(sig);
        return b64;
}

int pc_verify_b64(const struct crypto_key *key, const char *tbs, size_t len,
                  const char *sig_b64, char *err, size_t errlen)
{
        unsigned char *sig = NULL;
        size_t siglen = 0;
        int ret = -1;

        if (sig_b64 == NULL) {
                pc_errf(err, errlen, "no signature");
                goto done;
        }
        if (base64_decode(sig_b64, strlen(sig_b64), &sig, &siglen, err,
                          errlen) == -1)
                goto done;
        ret = crypto_verify(key, tbs, len, sig, siglen, err, errlen);
done:
        free(sig);
        return ret;
}

struct crypto_key *pc_key_from_b64(const char *b64, char *err, size_t errlen)
{
        unsigned char *der = NULL;
        size_t derlen = 0;
        struct crypto_key *key = NULL;

        if (b64 == NULL) {
                pc_errf(err, errlen, "no public key");
                goto done;
        }
        if (base64_decode(b64, strlen(b64), &der, &derlen, err, errlen) == -1)
                goto done;
        if (crypto_pubkey_from_der(der, derlen, &key, err, errlen) == -1)
                key = NULL;
done:
        free(der);
        return key;
}

struct crypto_key *pc_key_from_pem_file(const char *path, char *err,
                                        size_t errlen)
{
        static const char begin[] = "-----BEGIN PUBLIC KEY-----";
        static const char end[] = "-----END PUBLIC KEY-----";
        FILE *f = NULL;
        char *text = NULL, *b64 = NULL, *p, *q;
        unsigned char *der = NULL;
        size_t n = 0, derlen = 0, blen = 0;
        long size;
        struct crypto_key *key = NULL;

        if ((f = fopen(path, "r")) == NULL) {
                pc_errf(err, errlen, "%s: %s", path, strerror(errno));
                goto done;
        }
        if (fseek(f, 0, SEEK_END) == -1 || (size = ftell(f)) < 0 ||
            size > 65536 || fseek(f, 0, SEEK_SET) == -1) {
                pc_errf(err, errlen, "%s: cannot size the file", path);
                goto done;
        }
        if ((text = calloc(1, (size_t)size + 1)) == NULL ||
            (b64 = calloc(1, (size_t)size + 1)) == NULL) {
                pc_errf(err, errlen, "out of memory");
                goto done;
        }
        n = fread(text, 1, (size_t)size, f);
        text[n] = '\0';
        if ((p = strstr(text, begin)) == NULL || (q = strstr(p, end)) == NULL) {
                pc_errf(err, errlen, "%s: no %s ... %s block", path, begin,
                        end);
                goto done;
        }
        for (p += strlen(begin); p < q; p++)
                if (*p != '\n' && *p != '\r' && *p != ' ')
                        b64[blen++] = *p;
        if (base64_decode(b64, blen, &der, &derlen, err, errlen) == -1)
                goto done;
        if (crypto_pubkey_from_der(der, derlen, &key, err, errlen) == -1)
                key = NULL;
done:
        if (f != NULL)
                fclose(f);
        free(text);
        free(b64);
        free(der);
        return key;
}

/* --- users -------------------------------------------------------------- */

static int pc_user_set_key(struct pc_user *u, char *err, size_t errlen)
{
        struct crypto_key *key = NULL;
        unsigned char *spki = NULL;
        size_t spki_len = 0;
        char *b64 = NULL;
        int ret = -1;

        if (crypto_key_generate(&key, err, errlen) == -1 ||
            crypto_pubkey_to_der(key, &spki, &spki_len, err, errlen) == -1 ||
            crypto_key_id(key, u->key_id, err, errlen) == -1)
                goto done;
        if ((b64 = base64_encode(spki, spki_len)) == NULL) {
                pc_errf(err, errlen, "out of memory");
                goto done;
        }
        crypto_key_free(u->key);
        free(u->spki);
        free(u->spki_b64);
        u->key = key;
        u->spki = spki;
        u->spki_len = spki_len;
        u->spki_b64 = b64;
        key = NULL;
        spki = NULL;
        b64 = NULL;
        ret = 0;
done:
        crypto_key_free(key);
        free(spki);
        free(b64);
        return ret;
}

int pc_user_init(struct pc_user *u, const char *prefix, char *err,
                 size_t errlen)
{
        unsigned char rnd[6];
        char hex[13];

        memset(u, 0, sizeof(*u));
        if (strlen(prefix) > 40) {
                pc_errf(err, errlen, "user prefix too long");
                return -1;
        }
        if (crypto_random(rnd, sizeof(rnd), err, errlen) == -1)
                return -1;
        hex_encode(rnd, sizeof(rnd), hex, sizeof(hex));
        snprintf(u->name, sizeof(u->name), "%s-%s", prefix, hex);
        return pc_user_set_key(u, err, errlen);
}

int pc_user_new_key(struct pc_user *u, char *err, size_t errlen)
{
        return pc_user_set_key(u, err, errlen);
}

void pc_user_fini(struct pc_user *u)
{
        if (u == NULL)
                return;
        crypto_key_free(u->key);
        free(u->spki);
        free(u->spki_b64);
        memset(u, 0, sizeof(*u));
}

/* --- librdkafka's log ---------------------------------------------------- */

static FILE *pc_log_file;

void pc_log_to(FILE *f)
{
        pc_log_file = f;
}

/* From librdkafka's threads: one fprintf per line, which stdio locks. */
static void pc_log_cb(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        fprintf(pc_log_file, "%lld.%03ld %s %d %s %s\n", (long long)ts.tv_sec,
                ts.tv_nsec / 1000000, rd_kafka_name(rk), level, fac, buf);
}

static void pc_conf_log(rd_kafka_conf_t *conf)
{
        if (pc_log_file != NULL)
                rd_kafka_conf_set_log_cb(conf, pc_log_cb);
}

/* --- sender ------------------------------------------------------------- */

struct pc {
        rd_kafka_t *rk;
        struct kafka_topics topics;
        char bootstrap[512];
};

/* One produce's outcome, filled by the delivery report callback.  An
 * asynchronous produce has a heap record with a callback, freed here. */
struct pc_dr {
        int done;
        rd_kafka_resp_err_t err;
        int32_t partition;
        int64_t offset;
        void (*cb)(void *arg, const char *failure);
        void *arg;
};

static void pc_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                           void *opaque)
{
        struct pc_dr *dr = m->_private;

        (void)rk;
        (void)opaque;
        if (dr == NULL)
                return;
        if (dr->cb != NULL) {
                dr->cb(dr->arg, m->err ? rd_kafka_err2str(m->err) : NULL);
                free(dr);
                return;
        }
        dr->done = 1;
        dr->err = m->err;
        dr->partition = m->partition;
        dr->offset = m->offset;
}

struct pc *pc_new(const char *bootstrap, const char *prefix, char *err,
                  size_t errlen)
{
        rd_kafka_conf_t *conf = NULL;
        struct pc *pc = NULL, *ret = NULL;
        char kerr[512];

        if ((pc = calloc(1, sizeof(*pc))) == NULL) {
                pc_errf(err, errlen, "out of memory");
                goto done;
        }
        snprintf(pc->bootstrap, sizeof(pc->bootstrap), "%s", bootstrap);
        if (kafka_topics_init(&pc->topics, prefix, err, errlen) == -1)
                goto done;
        conf = rd_kafka_conf_new();
        /* Large enough for the too_large probe: the limit under test is
         * the TTP's, not the producer's. */
        if (kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ==
                -1 ||
            kafka_conf_set(conf, "message.max.bytes", "4194304", err, errlen) ==
                -1 ||
            kafka_conf_set(conf, "partitioner", "murmur2_random", err,
                           errlen) == -1 ||
            kafka_conf_set(conf, "linger.ms", "0", err, errlen) == -1 ||
            kafka_conf_set(conf, "acks", "all", err, errlen) == -1 ||
            kafka_conf_set(conf, "message.timeout.ms", "10000", err, errlen) ==
                -1)
                goto done;
        rd_kafka_conf_set_dr_msg_cb(conf, pc_on_delivery);
        pc_conf_log(conf);
        if ((pc->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr,
                                   sizeof(kerr))) == NULL) {
                pc_errf(err, errlen, "producer: %s", kerr);
                goto done;
        }
        conf = NULL;
        ret = pc;
        pc = NULL;
done:
        if (conf != NULL)
                rd_kafka_conf_destroy(conf);
        pc_free(pc);
        return ret;
}

void pc_free(struct pc *pc)
{
        if (pc == NULL)
                return;
        if (pc->rk != NULL) {
                rd_kafka_flush(pc->rk, 5000);
                rd_kafka_destroy(pc->rk);
        }
        free(pc);
}

const struct kafka_topics *pc_topics(const struct pc *pc)
{
        return &pc->topics;
}

const char *pc_bootstrap(const struct pc *pc)
{
        return pc->bootstrap;
}

int pc_type_is_signed(const char *type)
{
        static const char *const signed_types[] = {
            "register",          "upload.request",
            "download.request",  "abort",
            "catalog.request",   "log.head.request",
            "log.proof.request", "log.consistency.request"};

        for (size_t i = 0; i < sizeof(signed_types) / sizeof(*signed_types);
             i++)
                if (strcmp(type, signed_types[i]) == 0)
                        return 1;
        return 0;
}

/* Types whose request TBS has no file_id and whose Kafka key is the user. */
static int pc_type_is_user_keyed(const char *type)
{
        return strcmp(type, "register") == 0 ||
               strcmp(type, "catalog.request") == 0;
}

int pc_request_sign(json_t *env, const struct crypto_key *key,
                    const char *public_key_sha256, char *err, size_t errlen)
{
        const char *type = pc_str(env, "type");
        struct tbs_request f;
        char *tbs = NULL, *sig = NULL;
        size_t len = 0;
        int ret = -1;

        if (type == NULL) {
                pc_errf(err, errlen, "envelope has no type to sign");
                goto done;
        }
        memset(&f, 0, sizeof(f));
        f.type = type;
        f.msg_id = pc_str(env, "msg_id");
        f.user = pc_str(env, "user");
        f.file_id = pc_type_is_user_keyed(type)
                        ? NULL
                        : pc_str(pc_body(env), "file_id");
        f.public_key_sha256 = public_key_sha256;
        if (tbs_request(&f, &tbs, &len, err, errlen) == -1)
                goto done;
        if ((sig = pc_sign_b64(key, tbs, len, err, errlen)) == NULL)
                goto done;
        if (json_object_set_new(env, "sig", json_string(sig)) == -1) {
                pc_errf(err, errlen, "out of memory");
                goto done;
        }
        ret = 0;
done:
        free(tbs);
        free(sig);
        return ret;
}

json_t *pc_request_new(const struct pc_user *u, const char *type, json_t *body,
                       int force_sign, char *err, size_t errlen)
{
        char msg_id[IDS_MSG_ID_LEN + 1];
        json_t *env = NULL, *ret = NULL;

        if (body == NULL) {
                pc_errf(err, errlen, "no body");
                goto done;
        }
        if (ids_msg_id_new(msg_id, err, errlen) == -1)
                goto done;
        env = json_pack("{s:i, s:s, s:s, s:s, s:O}", "v", 1, "type", type,
                        "msg_id", msg_id, "user", u->name, "body", body);
        if (env == NULL) {
                pc_errf(err, errlen, "json_pack of the envelope failed");
                goto done;
        }
        if ((pc_type_is_signed(type) || force_sign) &&
            pc_request_sign(env, u->key,
                            strcmp(type, "register") == 0 ? u->key_id : NULL,
                            err, errlen) == -1)
                goto done;
        ret = env;
        env = NULL;
done:
        json_decref(body);
        json_decref(env);
        return ret;
}

const char *pc_transport_key(const json_t *env)
{
        const char *type = pc_str(env, "type");
        const char *file_id = pc_str(pc_body(env), "file_id");

        if (type != NULL && pc_type_is_user_keyed(type))
                return pc_str(env, "user");
        return file_id != NULL ? file_id : pc_str(env, "user");
}

int pc_send_raw(struct pc *pc, const void *key, size_t keylen,
                const void *value, size_t len, struct pc_sent *sent, char *err,
                size_t errlen)
{
        return pc_send_raw_to(pc, pc->topics.requests, key, keylen, value, len,
                              sent, err, errlen);
}

int pc_send_raw_to(struct pc *pc, const char *topic, const void *key,
                   size_t keylen, const void *value, size_t len,
                   struct pc_sent *sent, char *err, size_t errlen)
{
        struct pc_dr dr;
        rd_kafka_resp_err_t kerr;
        int64_t deadline = pc_now_ms() + PC_FLUSH_MS;
        size_t klen = key != NULL ? keylen : 0;

        memset(&dr, 0, sizeof(dr));
        kerr = rd_kafka_producev(pc->rk, RD_KAFKA_V_TOPIC(topic),
                                 RD_KAFKA_V_KEY(key, klen),
                                 RD_KAFKA_V_VALUE((void *)value, len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_OPAQUE(&dr), RD_KAFKA_V_END);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                pc_errf(err, errlen, "produce of %zu bytes to %s refused: %s",
                        len, topic, rd_kafka_err2str(kerr));
                return -1;
        }
        while (!dr.done && pc_now_ms() < deadline)
                rd_kafka_poll(pc->rk, 100);
        if (!dr.done) {
                pc_errf(err, errlen,
                        "no delivery report for a %zu-byte message to %s "
                        "after %d ms",
                        len, topic, PC_FLUSH_MS);
                return -1;
        }
        if (dr.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                pc_errf(err, errlen,
                        "the broker refused a %zu-byte message to %s: %s", len,
                        topic, rd_kafka_err2str(dr.err));
                return -1;
        }
        if (sent != NULL) {
                sent->partition = dr.partition;
                sent->offset = dr.offset;
        }
        return 0;
}

int pc_send_json(struct pc *pc, const json_t *env, struct pc_sent *sent,
                 char *err, size_t errlen)
{
        char *text = NULL;
        const char *key = pc_transport_key(env);
        int ret = -1;

        if ((text = json_dumps(env, JSON_COMPACT)) == NULL) {
                pc_errf(err, errlen, "json_dumps failed");
                goto done;
        }
        ret = pc_send_raw(pc, key, key != NULL ? strlen(key) : 0, text,
                          strlen(text), sent, err, errlen);
done:
        free(text);
        return ret;
}

int pc_send_json_async(struct pc *pc, const json_t *env,
                       void (*cb)(void *arg, const char *failure), void *arg,
                       char *err, size_t errlen)
{
        const char *key = pc_transport_key(env);
        size_t klen = key != NULL ? strlen(key) : 0;
        struct pc_dr *dr = NULL;
        rd_kafka_resp_err_t kerr;
        char *text = NULL;
        int ret = -1;

        if ((text = json_dumps(env, JSON_COMPACT)) == NULL ||
            (dr = calloc(1, sizeof(*dr))) == NULL) {
                pc_errf(err, errlen, "out of memory");
                goto done;
        }
        dr->cb = cb;
        dr->arg = arg;
        kerr = rd_kafka_producev(pc->rk, RD_KAFKA_V_TOPIC(pc->topics.requests),
                                 RD_KAFKA_V_KEY(key, klen),
                                 RD_KAFKA_V_VALUE(text, strlen(text)),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                 RD_KAFKA_V_OPAQUE(dr), RD_KAFKA_V_END);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                pc_errf(err, errlen, "produce to %s refused: %s",
                        pc->topics.requests, rd_kafka_err2str(kerr));
                goto done;
        }
        dr = NULL; /* the delivery report frees it */
        ret = 0;
done:
        free(dr);
        free(text);
        return ret;
}

void pc_poll(struct pc *pc, int ms)
{
        rd_kafka_poll(pc->rk, ms);
}

int pc_send(struct pc *pc, const struct pc_user *u, const char *type,
            json_t *body, json_t **env_out, char *err, size_t errlen)
{
        json_t *env;
        int ret = -1;

        if (env_out != NULL)
                *env_out = NULL;
        if ((env = pc_request_new(u, type, body, 0, err, errlen)) == NULL)
                goto done;
        if (pc_send_json(pc, env, NULL, err, errlen) == -1)
                goto done;
        if (env_out != NULL) {
                *env_out = env;
                env = NULL;
        }
        ret = 0;
done:
        json_decref(env);
        return ret;
}

/* --- the contract's TTP messages ----------------------------------------
 */

enum pc_kind {
        PK_FILE_ID,
        PK_USER,
        PK_NONCE,
        PK_SIG,
        PK_PUBKEY,
        PK_HEX64,
        PK_TIME,
        PK_SIZE,
        PK_BOOL,
        PK_ABORT,
        PK_CODE,
        PK_TEXT,
        PK_PATH,
        PK_FILES,
        PK_MSG_ID,
        PK_NAME,
        PK_COUNT, /* tree size, leaf index: integer 0..2^53 */
        PK_TOKEN, /* base64 DER, 1..8192 bytes */
        PK_CHAIN, /* 1..4 base64 DER certificates */
        PK_HASHES /* 0..128 hex SHA-256 */
};

struct pc_field {
        const char *name;
        enum pc_kind kind;
        int optional;
};

#define PC_FIELDS_MAX 11

struct pc_type {
        const char *type;
        struct pc_field fields[PC_FIELDS_MAX];
};

/* PROTOCOL.md, "The exchange": every message the TTP sends. */
static const struct pc_type pc_ttp_types[] = {
    {"register.result", {{"key_id", PK_HEX64, 0}}},
    {"upload.challenge",
     {{"file_id", PK_FILE_ID, 0},
      {"nonce", PK_NONCE, 0},
      {"key_id", PK_HEX64, 0},
      {"incoming_path", PK_PATH, 0},
      {"expires_at", PK_TIME, 0}}},
    {"upload.result",
     {{"file_id", PK_FILE_ID, 0},
      {"verified", PK_BOOL, 0},
      {"reason", PK_CODE, 1},
      {"sha256", PK_HEX64, 0},
      {"time", PK_TIME, 0},
      {"ttp_sig", PK_SIG, 1}}},
    {"download.challenge",
     {{"file_id", PK_FILE_ID, 0},
      {"nonce", PK_NONCE, 0},
      {"key_id", PK_HEX64, 0},
      {"uploader", PK_USER, 0},
      {"uploader_public_key", PK_PUBKEY, 0},
      {"sha256", PK_HEX64, 0},
      {"size", PK_SIZE, 0},
      {"nro", PK_SIG, 0},
      {"upload_nonce", PK_NONCE, 0},
      {"expires_at", PK_TIME, 0}}},
    {"receipt",
     {{"file_id", PK_FILE_ID, 0},
      {"downloader", PK_USER, 0},
      {"downloader_public_key", PK_PUBKEY, 0},
      {"sha256", PK_HEX64, 0},
      {"nro_sha256", PK_HEX64, 0},
      {"nonce", PK_NONCE, 0},
      {"nrr", PK_SIG, 0},
      {"time", PK_TIME, 0},
      {"ttp_sig", PK_SIG, 0}}},
    {"delivery",
     {{"file_id", PK_FILE_ID, 0},
      {"nonce", PK_NONCE, 0},
      {"uploader", PK_USER, 0},
      {"sha256", PK_HEX64, 0},
      {"size", PK_SIZE, 0},
      {"nro", PK_SIG, 0},
      {"upload_nonce", PK_NONCE, 0},
      {"object_path", PK_PATH, 0},
      {"time", PK_TIME, 0},
      {"ttp_sig", PK_SIG, 0}}},
    {"abort.result",
     {{"file_id", PK_FILE_ID, 0},
      {"abort", PK_ABORT, 0},
      {"time", PK_TIME, 0},
      {"ttp_sig", PK_SIG, 0}}},
    {"download.cancelled",
     {{"file_id", PK_FILE_ID, 0}, {"reason", PK_CODE, 0}}},
    {"catalog", {{"files", PK_FILES, 0}}},
    {"error",
     {{"in_reply_to", PK_MSG_ID, 0},
      {"code", PK_CODE, 0},
      {"message", PK_TEXT, 0}}},
    /* docs/protocol.md section 12, the evidence log. */
    {"log.head",
     {{"tree_size", PK_COUNT, 0},
      {"root_hash", PK_HEX64, 0},
      {"time", PK_TIME, 0},
      {"ttp_sig", PK_SIG, 0},
      {"timestamp_token", PK_TOKEN, 0},
      {"tsa_chain", PK_CHAIN, 0}}},
    {"log.proof",
     {{"leaf_hash", PK_HEX64, 0},
      {"leaf_index", PK_COUNT, 0},
      {"proof", PK_HASHES, 0},
      {"tree_size", PK_COUNT, 0},
      {"root_hash", PK_HEX64, 0},
      {"time", PK_TIME, 0},
      {"ttp_sig", PK_SIG, 0},
      {"timestamp_token", PK_TOKEN, 0},
      {"tsa_chain", PK_CHAIN, 0}}},
    {"log.consistency",
     {{"first", PK_COUNT, 0},
      {"second", PK_COUNT, 0},
      {"proof", PK_HASHES, 0}}},
};

static const char *const pc_codes[] = {
    "bad_json",     "bad_schema",    "bad_signature", "unknown_user",
    "unknown_file", "nonce_invalid", "nonce_expired", "hash_mismatch",
    "bad_path",     "not_owner",     "file_aborted",  "file_exists",
    "key_conflict", "too_large",     "internal",      "unknown_leaf",
    "bad_range"};

static int pc_check_b64_len(const json_t *v, size_t min, size_t max)
{
        unsigned char *bin = NULL;
        size_t len = 0;
        int ok;

        if (pc_b64_decode(v, &bin, &len) == -1)
                return 0;
        ok = len >= min && len <= max;
        free(bin);
        return ok;
}

static int pc_check_value(const json_t *v, enum pc_kind kind, char *why,
                          size_t whylen);

/* A store path: 1 to 255 of [A-Za-z0-9._/-], relative, and no empty, "."
 * or ".." component ("..x" is a fine name). */
static int pc_store_path_ok(const char *s, size_t len)
{
        size_t start = 0;

        if (len < 1 || len > 255)
                return 0;
        for (size_t i = 0; i <= len; i++) {
                char c = s[i];
                if (i < len && c != '/') {
                        if (!((c >= 'a' && c <= 'z') ||
                              (c >= 'A' && c <= 'Z') ||
                              (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                              c == '-'))
                                return 0;
                        continue;
                }
                if (i == start || (i - start == 1 && s[start] == '.') ||
                    (i - start == 2 && s[start] == '.' && s[start + 1] == '.'))
                        return 0;
                start = i + 1;
        }
        return 1;
}

/* One catalog entry: exactly these six fields. */
static int pc_check_catalog_entry(const json_t *e, char *why, size_t whylen)
{
        static const struct pc_field f[] = {
            {"file_id", PK_FILE_ID, 0}, {"name", PK_NAME, 0},
            {"uploader", PK_USER, 0},   {"sha256", PK_HEX64, 0},
            {"size", PK_SIZE, 0},       {"uploaded_at", PK_TIME, 0}};
        const char *key;
        json_t *v;
        char sub[256];

        if (!json_is_object(e)) {
                pc_errf(why, whylen, "catalog entry is not an object");
                return 0;
        }
        for (size_t i = 0; i < sizeof(f) / sizeof(*f); i++) {
                if ((v = json_object_get(e, f[i].name)) == NULL) {
                        pc_errf(why, whylen, "catalog entry lacks %s",
                                f[i].name);
                        return 0;
                }
                if (!pc_check_value(v, f[i].kind, sub, sizeof(sub))) {
                        pc_errf(why, whylen, "catalog entry %s: %s", f[i].name,
                                sub);
                        return 0;
                }
        }
        json_object_foreach((json_t *)e, key, v)
        {
                size_t i;
                for (i = 0; i < sizeof(f) / sizeof(*f); i++)
                        if (strcmp(key, f[i].name) == 0)
                                break;
                if (i == sizeof(f) / sizeof(*f)) {
                        pc_errf(why, whylen, "catalog entry has extra key %s",
                                key);
                        return 0;
                }
        }
        return 1;
}

/* 1 if `v` is a well-formed value of `kind`, else 0 and why. */
static int pc_check_value(const json_t *v, enum pc_kind kind, char *why,
                          size_t whylen)
{
        const char *s = json_is_string(v) ? json_string_value(v) : NULL;
        size_t slen = json_is_string(v) ? json_string_length(v) : 0;
        time_t t;
        size_t i;

        switch (kind) {
        case PK_BOOL:
                if (!json_is_boolean(v))
                        goto bad;
                return 1;
        case PK_SIZE:
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) > PC_SIZE_MAX)
                        goto bad;
                return 1;
        case PK_ABORT:
                if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                    json_integer_value(v) > 3)
                        goto bad;
                return 1;
        case PK_COUNT:
                if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                    json_integer_value(v) > ((json_int_t)1 << 53))
                        goto bad;
                return 1;
        case PK_CHAIN:
                if (!json_is_array(v) || json_array_size(v) < 1 ||
                    json_array_size(v) > 4)
                        goto bad;
                for (i = 0; i < json_array_size(v); i++)
                        if (!pc_check_value(json_array_get(v, i), PK_TOKEN, why,
                                            whylen))
                                return 0;
                return 1;
        case PK_HASHES:
                if (!json_is_array(v) || json_array_size(v) > 128)
                        goto bad;
                for (i = 0; i < json_array_size(v); i++)
                        if (!pc_check_value(json_array_get(v, i), PK_HEX64, why,
                                            whylen))
                                return 0;
                return 1;
        case PK_FILES:
                if (!json_is_array(v) || json_array_size(v) > PC_CATALOG_MAX)
                        goto bad;
                for (i = 0; i < json_array_size(v); i++)
                        if (!pc_check_catalog_entry(json_array_get(v, i), why,
                                                    whylen))
                                return 0;
                return 1;
        default:
                break;
        }
        if (s == NULL || strlen(s) != slen)
                goto bad;
        switch (kind) {
        case PK_FILE_ID:
                return ids_check_file_id(s, why, whylen) == 0;
        case PK_USER:
                return ids_check_user(s, why, whylen) == 0;
        case PK_MSG_ID:
                return ids_check_msg_id(s, why, whylen) == 0;
        case PK_NONCE:
                if (!pc_check_b64_len(v, PC_NONCE_LEN, PC_NONCE_LEN))
                        goto bad;
                return 1;
        case PK_SIG:
                if (!pc_check_b64_len(v, 8, PC_SIG_MAX))
                        goto bad;
                return 1;
        case PK_TOKEN:
                if (!pc_check_b64_len(v, 1, 8192))
                        goto bad;
                return 1;
        case PK_PUBKEY: {
                struct crypto_key *k = pc_key_from_b64(s, why, whylen);
                int ok = k != NULL && pc_check_b64_len(v, 1, PC_PUBKEY_MAX);
                crypto_key_free(k);
                if (!ok)
                        goto bad;
                return 1;
        }
        case PK_HEX64:
                if (!hex_is_lower(s, 64))
                        goto bad;
                return 1;
        case PK_TIME:
                return ids_time_parse(s, &t, why, whylen) == 0;
        case PK_CODE:
                for (i = 0; i < sizeof(pc_codes) / sizeof(*pc_codes); i++)
                        if (strcmp(s, pc_codes[i]) == 0)
                                return 1;
                goto bad;
        case PK_TEXT:
                if (slen > PC_TEXT_MAX)
                        goto bad;
                return 1;
        case PK_NAME:
                if (slen < 1 || slen > PC_NAME_MAX)
                        goto bad;
                return 1;
        case PK_PATH:
                if (!pc_store_path_ok(s, slen))
                        goto bad;
                return 1;
        default:
                goto bad;
        }
bad:
        pc_errf(why, whylen, "malformed value");
        return 0;
}

/*
 * pc_check_ttp_message: 1 if `env` is a TTP message for `user` exactly as
 * the contract shapes it, else 0 and why.
 */
static int pc_check_ttp_message(const json_t *env, const char *user, char *why,
                                size_t whylen)
{
        static const char *const env_keys[] = {"v", "type", "msg_id", "user",
                                               "body"};
        const struct pc_type *t = NULL;
        const char *key, *type;
        json_t *v, *body;
        char sub[256];
        size_t i, j;

        json_object_foreach((json_t *)env, key, v)
        {
                for (i = 0; i < sizeof(env_keys) / sizeof(*env_keys); i++)
                        if (strcmp(key, env_keys[i]) == 0)
                                break;
                if (i == sizeof(env_keys) / sizeof(*env_keys)) {
                        pc_errf(why, whylen,
                                "envelope has key \"%s\" (TTP messages carry "
                                "v, type, msg_id, user, body only)",
                                key);
                        return 0;
                }
        }
        v = json_object_get(env, "v");
        if (!json_is_integer(v) || json_integer_value(v) != 1) {
                pc_errf(why, whylen, "envelope v is not the integer 1");
                return 0;
        }
        if ((type = pc_str(env, "type")) == NULL) {
                pc_errf(why, whylen, "envelope has no type");
                return 0;
        }
        if (pc_str(env, "msg_id") == NULL ||
            ids_check_msg_id(pc_str(env, "msg_id"), NULL, 0) == -1) {
                pc_errf(why, whylen, "%s: msg_id is not 32 lowercase hex",
                        type);
                return 0;
        }
        if (pc_str(env, "user") == NULL ||
            strcmp(pc_str(env, "user"), user) != 0) {
                pc_errf(why, whylen, "%s: user is not %s", type, user);
                return 0;
        }
        for (i = 0; i < sizeof(pc_ttp_types) / sizeof(*pc_ttp_types); i++)
                if (strcmp(pc_ttp_types[i].type, type) == 0)
                        t = &pc_ttp_types[i];
        if (t == NULL) {
                pc_errf(why, whylen, "type \"%s\" is not a TTP message", type);
                return 0;
        }
        if (!json_is_object(body = json_object_get(env, "body"))) {
                pc_errf(why, whylen, "%s: body is not an object", type);
                return 0;
        }
        for (i = 0; i < PC_FIELDS_MAX && t->fields[i].name != NULL; i++) {
                v = json_object_get(body, t->fields[i].name);
                if (v == NULL) {
                        if (t->fields[i].optional)
                                continue;
                        pc_errf(why, whylen, "%s: body lacks %s", type,
                                t->fields[i].name);
                        return 0;
                }
                if (!pc_check_value(v, t->fields[i].kind, sub, sizeof(sub))) {
                        pc_errf(why, whylen, "%s: body field %s: %s", type,
                                t->fields[i].name, sub);
                        return 0;
                }
        }
        json_object_foreach(body, key, v)
        {
                for (j = 0; j < PC_FIELDS_MAX && t->fields[j].name != NULL; j++)
                        if (strcmp(key, t->fields[j].name) == 0)
                                break;
                if (j == PC_FIELDS_MAX || t->fields[j].name == NULL) {
                        pc_errf(why, whylen, "%s: body has extra key \"%s\"",
                                type, key);
                        return 0;
                }
        }
        if (strcmp(type, "upload.result") == 0) {
                int verified = json_is_true(json_object_get(body, "verified"));
                int has_sig = json_object_get(body, "ttp_sig") != NULL;
                int has_reason = json_object_get(body, "reason") != NULL;

                if (verified && (!has_sig || has_reason)) {
                        pc_errf(why, whylen,
                                "upload.result verified:true needs ttp_sig "
                                "and no reason");
                        return 0;
                }
                if (!verified && (has_sig || !has_reason)) {
                        pc_errf(why, whylen,
                                "upload.result verified:false needs reason "
                                "and no ttp_sig");
                        return 0;
                }
        }
        return 1;
}

/* --- readers ------------------------------------------------------------ */

struct pc_item {
        char msg_id[IDS_MSG_ID_LEN + 1]; /* "" for dead letters */
        json_t *json;
        int consumed;
        int dups;
};

struct pc_reader {
        rd_kafka_t *rk;
        char topic[KAFKA_TOPIC_MAX];
        char user[IDS_USER_MAX + 1]; /* "" for a dead-letter reader */
        int32_t partition;           /* -1: all */
        struct pc_item *items;
        size_t n, cap;
        int dups;
        int tolerate_transient;
        int transient;
        char last_transient[256];
        char violation[PC_ERR_MAX];
};

static int pc_reader_partitions(rd_kafka_t *rk, const char *topic,
                                int32_t *count, char *err, size_t errlen)
{
        rd_kafka_topic_t *rkt = NULL;
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t kerr;
        int ret = -1;

        if ((rkt = rd_kafka_topic_new(rk, topic, NULL)) == NULL) {
                pc_errf(err, errlen, "topic %s: %s", topic,
                        rd_kafka_err2str(rd_kafka_last_error()));
                goto done;
        }
        kerr = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                pc_errf(err, errlen, "metadata of %s: %s", topic,
                        rd_kafka_err2str(kerr));
                goto done;
        }
        if (md->topic_cnt != 1 || md->topics[0].err != 0 ||
            md->topics[0].partition_cnt < 1) {
                pc_errf(err, errlen, "metadata of %s: no such topic (%s)",
                        topic,
                        md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err)
                                           : "no topic in the answer");
                goto done;
        }
        *count = md->topics[0].partition_cnt;
        ret = 0;
done:
        if (md != NULL)
                rd_kafka_metadata_destroy(md);
        if (rkt != NULL)
                rd_kafka_topic_destroy(rkt);
        return ret;
}

struct pc_reader *pc_reader_new(const char *bootstrap, const char *topic,
                                const char *user, char *err, size_t errlen)
{
        rd_kafka_conf_t *conf = NULL;
        rd_kafka_topic_partition_list_t *parts = NULL;
        struct pc_reader *r = NULL, *ret = NULL;
        char kerr[512], group[64], rnd_hex[17];
        unsigned char rnd[8];
        int32_t count = 0;
        rd_kafka_resp_err_t e;

        if ((r = calloc(1, sizeof(*r))) == NULL) {
                pc_errf(err, errlen, "out of memory");
                goto done;
        }
        snprintf(r->topic, sizeof(r->topic), "%s", topic);
        snprintf(r->user, sizeof(r->user), "%s", user != NULL ? user : "");
        if (crypto_random(rnd, sizeof(rnd), err, errlen) == -1)
                goto done;
        hex_encode(rnd, sizeof(rnd), rnd_hex, sizeof(rnd_hex));
        /* Never joined (assign only, nothing committed): a group id only
         * because librdkafka's consumer wants one. */
        snprintf(group, sizeof(group), "proto-test-%s", rnd_hex);
        conf = rd_kafka_conf_new();
        if (kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) ==
                -1 ||
            kafka_conf_set(conf, "group.id", group, err, errlen) == -1 ||
            kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) ==
                -1 ||
            kafka_conf_set(conf, "enable.auto.offset.store", "false", err,
                           errlen) == -1 ||
            kafka_conf_set(conf, "auto.offset.reset", "error", err, errlen) ==
                -1 ||
            kafka_conf_set(conf, "fetch.wait.max.ms", "50", err, errlen) ==
                -1 ||
            kafka_conf_set(conf, "fetch.message.max.bytes", "4194304", err,
                           errlen) == -1)
                goto done;
        pc_conf_log(conf);
        if ((r->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr,
                                  sizeof(kerr))) == NULL) {
                pc_errf(err, errlen, "consumer: %s", kerr);
                goto done;
        }
        conf = NULL;
        if (pc_reader_partitions(r->rk, topic, &count, err, errlen) == -1)
                goto done;
        parts = rd_kafka_topic_partition_list_new(count);
        if (user != NULL) {
                r->partition = kafka_reply_partition(user, count);
                rd_kafka_topic_partition_list_add(parts, topic, r->partition)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
        } else {
                r->partition = -1;
                for (int32_t p = 0; p < count; p++)
                        rd_kafka_topic_partition_list_add(parts, topic, p)
                            ->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        if ((e = rd_kafka_assign(r->rk, parts)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
                pc_errf(err, errlen, "assign %s: %s", topic,
                        rd_kafka_err2str(e));
                goto done;
        }
        ret = r;
        r = NULL;
done:
        if (parts != NULL)
                rd_kafka_topic_partition_list_destroy(parts);
        if (conf != NULL)
                rd_kafka_conf_destroy(conf);
        pc_reader_free(r);
        return ret;
}

void pc_reader_free(struct pc_reader *r)
{
        if (r == NULL)
                return;
        if (r->rk != NULL) {
                rd_kafka_consumer_close(r->rk);
                rd_kafka_destroy(r->rk);
        }
        for (size_t i = 0; i < r->n; i++)
                json_decref(r->items[i].json);
        free(r->items);
        free(r);
}

static void pc_reader_violation(struct pc_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void pc_reader_violation(struct pc_reader *r, const char *fmt, ...)
{
        va_list ap;

        if (r->violation[0] != '\0')
                return;
        va_start(ap, fmt);
        vsnprintf(r->violation, sizeof(r->violation), fmt, ap);
        va_end(ap);
}

static int pc_reader_keep(struct pc_reader *r, json_t *json, const char *msg_id)
{
        struct pc_item *items;

        if (r->n == r->cap) {
                size_t cap = r->cap ? r->cap * 2 : 16;
                if ((items = realloc(r->items, cap * sizeof(*items))) == NULL)
                        return -1;
                r->items = items;
                r->cap = cap;
        }
        memset(&r->items[r->n], 0, sizeof(r->items[r->n]));
        snprintf(r->items[r->n].msg_id, sizeof(r->items[r->n].msg_id), "%s",
                 msg_id != NULL ? msg_id : "");
        r->items[r->n].json = json_incref(json);
        r->n++;
        return 0;
}

/* One consumed record: keep it, drop it as someone else's, or count it
 * as a duplicate. */
static void pc_reader_take(struct pc_reader *r, const rd_kafka_message_t *m)
{
        json_error_t jerr;
        json_t *json = NULL;
        const char *msg_id, *user;
        char why[512];

        json = json_loadb(m->payload, m->len, JSON_REJECT_DUPLICATES, &jerr);
        if (json == NULL || !json_is_object(json)) {
                pc_reader_violation(r,
                                    "%s [%" PRId32 "] offset %" PRId64
                                    ": a TTP record that is not a JSON "
                                    "object (%s)",
                                    r->topic, m->partition, m->offset,
                                    json == NULL ? jerr.text : "not an object");
                goto done;
        }
        if (r->user[0] == '\0') {
                if (pc_reader_keep(r, json, NULL) == -1)
                        pc_reader_violation(r, "out of memory");
                goto done;
        }
        user = pc_str(json, "user");
        if (user == NULL || strcmp(user, r->user) != 0)
                goto done; /* another user's reply on our partition */
        if (!pc_check_ttp_message(json, r->user, why, sizeof(why))) {
                char *text = json_dumps(json, JSON_COMPACT);
                pc_reader_violation(r,
                                    "%s [%" PRId32 "] offset %" PRId64
                                    ": breaks the contract: %s: %.600s",
                                    r->topic, m->partition, m->offset, why,
                                    text != NULL ? text : "?");
                free(text);
                goto done;
        }
        msg_id = pc_str(json, "msg_id");
        for (size_t i = 0; i < r->n; i++) {
                if (strcmp(r->items[i].msg_id, msg_id) != 0)
                        continue;
                r->items[i].dups++;
                r->dups++;
                if (!json_equal(r->items[i].json, json))
                        pc_reader_violation(
                            r,
                            "msg_id %s for %s came twice with different "
                            "contents (offset %" PRId64 ")",
                            msg_id, r->user, m->offset);
                goto done;
        }
        if (pc_reader_keep(r, json, msg_id) == -1)
                pc_reader_violation(r, "out of memory");
done:
        json_decref(json);
}

/* A consumer error a broker fault explains: anything but a lost offset
 * or a fatal error of the client. */
static int pc_reader_is_transient(struct pc_reader *r,
                                  const rd_kafka_message_t *m)
{
        char fatal[256];

        if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
            m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE ||
            m->err == RD_KAFKA_RESP_ERR__FATAL)
                return 0;
        return rd_kafka_fatal_error(r->rk, fatal, sizeof(fatal)) ==
               RD_KAFKA_RESP_ERR_NO_ERROR;
}

void pc_reader_tolerate_transient(struct pc_reader *r)
{
        r->tolerate_transient = 1;
}

int pc_reader_transient(const struct pc_reader *r, char *last, size_t lastlen)
{
        if (last != NULL && lastlen > 0)
                snprintf(last, lastlen, "%s", r->last_transient);
        return r->transient;
}

const json_t *pc_reader_item(const struct pc_reader *r, size_t i)
{
        return i < r->n ? r->items[i].json : NULL;
}

/* Consume for up to `ms`; with `early`, return as soon as something was
 * read and nothing more is immediately available. */
static int pc_reader_consume(struct pc_reader *r, int ms, int early, char *err,
                             size_t errlen)
{
        int64_t deadline = pc_now_ms() + ms;
        int got = 0;

        for (;;) {
                int64_t left = deadline - pc_now_ms();
                rd_kafka_message_t *m;

                if (left < 0)
                        left = 0;
                m = rd_kafka_consumer_poll(r->rk, got && early ? 0 : (int)left);
                if (m == NULL) {
                        if (left == 0 || (got && early))
                                break;
                        continue;
                }
                if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                        rd_kafka_message_destroy(m);
                        continue;
                }
                if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                    r->tolerate_transient && pc_reader_is_transient(r, m)) {
                        r->transient++;
                        snprintf(r->last_transient, sizeof(r->last_transient),
                                 "%s", rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                        pc_reader_violation(r, "consumer of %s: %s", r->topic,
                                            rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        break;
                }
                got = 1;
                pc_reader_take(r, m);
                rd_kafka_message_destroy(m);
        }
        if (r->violation[0] != '\0') {
                pc_errf(err, errlen, "%s", r->violation);
                return -1;
        }
        return 0;
}

int pc_reader_poll(struct pc_reader *r, int ms, char *err, size_t errlen)
{
        return pc_reader_consume(r, ms, 0, err, errlen);
}

static int pc_match_ok(const json_t *env, const struct pc_match *m)
{
        const json_t *body = pc_body(env);
        const char *s;

        if (m->type != NULL &&
            ((s = pc_str(env, "type")) == NULL || strcmp(s, m->type) != 0))
                return 0;
        if (m->file_id != NULL && ((s = pc_str(body, "file_id")) == NULL ||
                                   strcmp(s, m->file_id) != 0))
                return 0;
        if (m->in_reply_to != NULL &&
            ((s = pc_str(body, "in_reply_to")) == NULL ||
             strcmp(s, m->in_reply_to) != 0))
                return 0;
        if (m->nonce != NULL &&
            ((s = pc_str(body, "nonce")) == NULL || strcmp(s, m->nonce) != 0))
                return 0;
        return 1;
}

static void pc_describe(const json_t *env, char *out, size_t outlen)
{
        const json_t *body = pc_body(env);
        const char *type = pc_str(env, "type");

        if (type != NULL && strcmp(type, "error") == 0)
                snprintf(out, outlen, "error{in_reply_to=%s, code=%s, %s}",
                         pc_str(body, "in_reply_to"), pc_str(body, "code"),
                         pc_str(body, "message"));
        else if (type != NULL && strcmp(type, "upload.result") == 0)
                snprintf(
                    out, outlen, "upload.result{file_id=%s, verified=%s%s%s}",
                    pc_str(body, "file_id"),
                    json_is_true(json_object_get(body, "verified")) ? "true"
                                                                    : "false",
                    pc_str(body, "reason") ? ", reason=" : "",
                    pc_str(body, "reason") ? pc_str(body, "reason") : "");
        else if (type != NULL)
                snprintf(out, outlen, "%s{file_id=%s}", type,
                         pc_str(body, "file_id") ? pc_str(body, "file_id")
                                                 : "-");
        else {
                char *text = json_dumps(env, JSON_COMPACT);
                snprintf(out, outlen, "%.300s", text ? text : "?");
                free(text);
        }
}

int pc_reader_unconsumed(const struct pc_reader *r, char *out, size_t outlen)
{
        size_t used = 0;
        int count = 0;
        char one[1400];

        if (outlen > 0)
                out[0] = '\0';
        for (size_t i = 0; i < r->n; i++) {
                if (r->items[i].consumed)
                        continue;
                count++;
                pc_describe(r->items[i].json, one, sizeof(one));
                if (used < outlen) {
                        int n = snprintf(out + used, outlen - used, "%s%s",
                                         used ? "; " : "", one);
                        if (n > 0)
                                used += (size_t)n;
                }
        }
        return count;
}

json_t *pc_reader_wait_fn(struct pc_reader *r,
                          int (*pred)(const json_t *msg, void *arg), void *arg,
                          int timeout_ms, char *err, size_t errlen)
{
        int64_t deadline = pc_now_ms() + timeout_ms;

        for (;;) {
                int64_t left;

                for (size_t i = 0; i < r->n; i++) {
                        if (!r->items[i].consumed &&
                            pred(r->items[i].json, arg)) {
                                r->items[i].consumed = 1;
                                return r->items[i].json;
                        }
                }
                left = deadline - pc_now_ms();
                if (left <= 0)
                        break;
                if (pc_reader_consume(r, left > 200 ? 200 : (int)left, 1, err,
                                      errlen) == -1)
                        return NULL;
        }
        pc_errf(err, errlen, "nothing matching on %s after %d ms", r->topic,
                timeout_ms);
        return NULL;
}

/* Fails a wait early when the request was answered with an error. */
struct pc_wait_arg {
        const struct pc_match *m;
        const char *req_msg_id;
        const json_t *error;
};

static int pc_wait_pred(const json_t *msg, void *arg)
{
        struct pc_wait_arg *w = arg;
        const char *type = pc_str(msg, "type");
        const char *irt = pc_str(pc_body(msg), "in_reply_to");

        if (pc_match_ok(msg, w->m))
                return 1;
        if (w->req_msg_id != NULL && type != NULL &&
            strcmp(type, "error") == 0 && irt != NULL &&
            strcmp(irt, w->req_msg_id) == 0) {
                w->error = msg;
                return 1;
        }
        return 0;
}

json_t *pc_reader_wait(struct pc_reader *r, const struct pc_match *m,
                       const char *req_msg_id, int timeout_ms, char *err,
                       size_t errlen)
{
        struct pc_wait_arg w = {m, req_msg_id, NULL};
        char want[512], got[4096];
        json_t *msg;

        snprintf(want, sizeof(want), "%s%s%s%s%s%s%s",
                 m->type ? m->type : "any message",
                 m->file_id ? " for file " : "", m->file_id ? m->file_id : "",
                 m->in_reply_to ? " in reply to " : "",
                 m->in_reply_to ? m->in_reply_to : "",
                 m->nonce ? " with nonce " : "", m->nonce ? m->nonce : "");
        msg = pc_reader_wait_fn(r, pc_wait_pred, &w, timeout_ms, err, errlen);
        if (msg == NULL) {
                if (r->violation[0] != '\0')
                        return NULL;
                pc_reader_unconsumed(r, got, sizeof(got));
                pc_errf(err, errlen,
                        "%s: expected %s within %d ms; got instead: %s",
                        r->user, want, timeout_ms, got[0] ? got : "nothing");
                return NULL;
        }
        if (w.error != NULL) {
                pc_describe(w.error, got, sizeof(got));
                pc_errf(err, errlen, "%s: expected %s; got %s", r->user, want,
                        got);
                return NULL;
        }
        return msg;
}

int pc_reader_count(const struct pc_reader *r, const struct pc_match *m)
{
        int count = 0;

        for (size_t i = 0; i < r->n; i++)
                if (pc_match_ok(r->items[i].json, m))
                        count++;
        return count;
}

const json_t *pc_reader_find(const struct pc_reader *r,
                             const struct pc_match *m)
{
        for (size_t i = 0; i < r->n; i++)
                if (pc_match_ok(r->items[i].json, m))
                        return r->items[i].json;
        return NULL;
}

int pc_reader_dups(const struct pc_reader *r, const char *msg_id)
{
        if (msg_id == NULL)
                return r->dups;
        for (size_t i = 0; i < r->n; i++)
                if (strcmp(r->items[i].msg_id, msg_id) == 0)
                        return r->items[i].dups;
        return 0;
}

int pc_reader_total(const struct pc_reader *r)
{
        return (int)r->n;
}

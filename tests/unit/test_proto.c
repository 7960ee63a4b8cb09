/*
 * proto: a valid message of every type decodes into the right fields and
 * survives encoding again byte for byte; every field of it is needed,
 * no other is allowed, and each refuses a value of the wrong JSON type;
 * then the hostile inputs (broken JSON, depth bombs, bad UTF-8, NUL,
 * limits and limit + 1, non-canonical base64, sig rules, sizes) and
 * whether an error could be routed back (attributable); the request TBS
 * byte for byte.  The data-driven twin is test_proto_cases.c.
 */
#include "proto.h"
#include "unit.h"

#include <stdint.h>

#define MSG_ID  "0123456789abcdef0123456789abcdef"
#define MSG_ID2 "fedcba9876543210fedcba9876543210"
/* A real P-256 SubjectPublicKeyInfo (91 bytes) and its key_id. */
#define PUB                                                                    \
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAELkylfIjSKWjIK8BX1HUxfXxfaitcQ2EJ" \
        "9KRbYgiGdbbULMGd+OmZF2jNEZxM+Q80Ka3XwDsYBb02uckJy0MKGg=="
#define KEY_ID                                                                 \
        "b3a4391de6011a46754abbd2f87d1545860fae0a47656e433583a676e5f2eb37"
/* A real DER ECDSA signature (71 bytes) and its SHA-256. */
#define SIG                                                                    \
        "MEUCIQD8a5EYwokzCkvUUucu2F9IAZAKS+5HHSi3VvXQMHni7gIgXrBD+SIK0XBUjeOZ" \
        "R0yMvoyKuwsXm8vPWri0oVa+ZpE="
#define SIG_SHA                                                                \
        "c8d9a61168f2095daaf3aaa8945ab38a7a63e510157bded5403d98df2fab5060"
#define NONCE_A "wUg4P8ru6d20AcH2P8BvYMLwEFY7ZhqPcE5EuJWBZZU="
#define NONCE_B "Lfr52yHyaOJJSrycRuJGjwuuuXDMfXMwEFbklRCX9jI="
/* SHA-256 of "test". */
#define SHA    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define TIME   "2024-05-01T12:00:00Z"
#define OBJECT "objects/00112233445566778899aabbccddeeff"

#define ENV(type, user, body)                                                  \
        "{\"v\":1,\"type\":\"" type "\",\"msg_id\":\"" MSG_ID                  \
        "\",\"user\":\"" user "\",\"body\":" body "}"
#define ENV_SIG(type, user, body)                                              \
        "{\"v\":1,\"type\":\"" type "\",\"msg_id\":\"" MSG_ID                  \
        "\",\"user\":\"" user "\",\"body\":" body ",\"sig\":\"" SIG "\"}"

/*
 * One valid message per type (two for upload.result), compact and in
 * the contract's key order, so that proto_envelope_dump() must give the
 * same bytes back.  Every body field of each is required as written.
 */
static const struct {
        enum proto_type type;
        const char *json;
} valid[] = {
    {PROTO_REGISTER,
     ENV_SIG("register", "alice", "{\"public_key\":\"" PUB "\"}")},
    {PROTO_REGISTER_RESULT,
     ENV("register.result", "alice", "{\"key_id\":\"" KEY_ID "\"}")},
    {PROTO_UPLOAD_REQUEST,
     ENV_SIG("upload.request", "alice",
             "{\"file_id\":\"f1\",\"name\":\"report.pdf\",\"size\":4}")},
    {PROTO_UPLOAD_CHALLENGE,
     ENV("upload.challenge", "alice",
         "{\"file_id\":\"f1\",\"nonce\":\"" NONCE_A "\",\"key_id\":\"" KEY_ID
         "\",\"incoming_path\":\"incoming/alice/f1\",\"expires_at\":\"" TIME
         "\"}")},
    {PROTO_UPLOAD_COMMIT,
     ENV("upload.commit", "alice",
         "{\"file_id\":\"f1\",\"nonce\":\"" NONCE_A
         "\",\"path\":\"incoming/alice/f1\",\"sha256\":\"" SHA
         "\",\"size\":4,\"nro\":\"" SIG "\"}")},
    {PROTO_UPLOAD_RESULT,
     ENV("upload.result", "alice",
         "{\"file_id\":\"f1\",\"verified\":true,\"sha256\":\"" SHA
         "\",\"time\":\"" TIME "\",\"ttp_sig\":\"" SIG "\"}")},
    {PROTO_UPLOAD_RESULT,
     ENV("upload.result", "alice",
         "{\"file_id\":\"f1\",\"verified\":false,\"reason\":\"hash_mismatch\","
         "\"sha256\":\"" SHA "\",\"time\":\"" TIME "\"}")},
    {PROTO_DOWNLOAD_REQUEST,
     ENV_SIG("download.request", "bob", "{\"file_id\":\"f1\"}")},
    {PROTO_DOWNLOAD_CHALLENGE,
     ENV("download.challenge", "bob",
         "{\"file_id\":\"f1\",\"nonce\":\"" NONCE_B "\",\"key_id\":\"" KEY_ID
         "\",\"uploader\":\"alice\",\"uploader_public_key\":\"" PUB
         "\",\"sha256\":\"" SHA "\",\"size\":4,\"nro\":\"" SIG
         "\",\"upload_nonce\":\"" NONCE_A "\",\"expires_at\":\"" TIME "\"}")},
    {PROTO_DOWNLOAD_RECEIPT,
     ENV("download.receipt", "bob",
         "{\"file_id\":\"f1\",\"nonce\":\"" NONCE_B "\",\"nrr\":\"" SIG "\"}")},
    {PROTO_RECEIPT, ENV("receipt", "alice",
                        "{\"file_id\":\"f1\",\"downloader\":\"bob\","
                        "\"downloader_public_key\":\"" PUB
                        "\",\"sha256\":\"" SHA "\",\"nro_sha256\":\"" SIG_SHA
                        "\",\"nonce\":\"" NONCE_B "\",\"nrr\":\"" SIG
                        "\",\"time\":\"" TIME "\",\"ttp_sig\":\"" SIG "\"}")},
    {PROTO_DELIVERY,
     ENV("delivery", "bob",
         "{\"file_id\":\"f1\",\"nonce\":\"" NONCE_B
         "\",\"uploader\":\"alice\",\"sha256\":\"" SHA
         "\",\"size\":4,\"nro\":\"" SIG "\",\"upload_nonce\":\"" NONCE_A
         "\",\"object_path\":\"" OBJECT "\",\"time\":\"" TIME
         "\",\"ttp_sig\":\"" SIG "\"}")},
    {PROTO_ABORT, ENV_SIG("abort", "alice", "{\"file_id\":\"f1\"}")},
    {PROTO_ABORT_RESULT, ENV("abort.result", "alice",
                             "{\"file_id\":\"f1\",\"abort\":3,\"time\":\"" TIME
                             "\",\"ttp_sig\":\"" SIG "\"}")},
    {PROTO_DOWNLOAD_CANCELLED,
     ENV("download.cancelled", "bob",
         "{\"file_id\":\"f1\",\"reason\":\"file_aborted\"}")},
    {PROTO_CATALOG_REQUEST, ENV_SIG("catalog.request", "bob", "{}")},
    {PROTO_CATALOG,
     ENV("catalog", "bob",
         "{\"files\":[{\"file_id\":\"f1\",\"name\":\"report.pdf\","
         "\"uploader\":\"alice\",\"sha256\":\"" SHA
         "\",\"size\":4,\"uploaded_at\":\"" TIME "\"}]}")},
    {PROTO_ERROR,
     ENV("error", "alice",
         "{\"in_reply_to\":\"" MSG_ID2
         "\",\"code\":\"nonce_expired\",\"message\":\"the nonce has "
         "expired\"}")},
    {PROTO_LOG_HEAD_REQUEST, ENV_SIG("log.head.request", "alice", "{}")},
    {PROTO_LOG_HEAD,
     ENV("log.head", "alice",
         "{\"tree_size\":3,\"root_hash\":\"" SHA "\",\"time\":\"" TIME
         "\",\"ttp_sig\":\"" SIG "\",\"timestamp_token\":\"" PUB
         "\",\"tsa_chain\":[\"" PUB "\",\"" PUB "\"]}")},
    {PROTO_LOG_PROOF_REQUEST,
     ENV_SIG("log.proof.request", "alice", "{\"leaf_hash\":\"" SHA "\"}")},
    {PROTO_LOG_PROOF,
     ENV("log.proof", "alice",
         "{\"leaf_hash\":\"" SHA "\",\"leaf_index\":0,\"proof\":[\"" SHA
         "\",\"" SHA "\"],\"tree_size\":3,\"root_hash\":\"" SHA
         "\",\"time\":\"" TIME "\",\"ttp_sig\":\"" SIG
         "\",\"timestamp_token\":\"" PUB "\",\"tsa_chain\":[\"" PUB "\"]}")},
    {PROTO_LOG_CONSISTENCY_REQUEST,
     ENV_SIG("log.consistency.request", "alice", "{\"first\":1,\"second\":3}")},
    {PROTO_LOG_CONSISTENCY, ENV("log.consistency", "alice",
                                "{\"first\":1,\"second\":3,\"proof\":[]}")},
};

#define NVALID (sizeof(valid) / sizeof(valid[0]))

static const unsigned char sha_test[32] = {
    0x9f, 0x86, 0xd0, 0x81, 0x88, 0x4c, 0x7d, 0x65, 0x9a, 0x2f, 0xea,
    0xa0, 0xc5, 0x5a, 0xd0, 0x15, 0xa3, 0xbf, 0x4f, 0x1b, 0x2b, 0x0b,
    0x82, 0x2c, 0xd1, 0x5d, 0x6c, 0x15, 0xb0, 0xf0, 0x0a, 0x08};

/* Decode `len` bytes; returns the code (PROTO_OK on success). */
static enum proto_code decode_n(const char *buf, size_t len,
                                struct proto_msg *m, char *err, size_t errlen)
{
        enum proto_code code = PROTO_INTERNAL;
        int rc;

        err[0] = '\0';
        rc = proto_decode(buf, len, m, &code, err, errlen);
        CHECK_MSG((rc == 0) == (code == PROTO_OK), err);
        CHECK_MSG(rc == 0 || err[0] != '\0', "an error always says why");
        return code;
}

/* Decode and discard; the code. */
static enum proto_code code_of_n(const char *buf, size_t len)
{
        struct proto_msg m;
        char err[256];
        enum proto_code code = decode_n(buf, len, &m, err, sizeof(err));

        proto_msg_fini(&m);
        return code;
}

static enum proto_code code_of(const char *s)
{
        return code_of_n(s, strlen(s));
}

/* Compact JSON of `j` (stolen), decoded; the code and, if `errout`, why. */
static enum proto_code code_of_json(json_t *j, char *errout, size_t errlen)
{
        struct proto_msg m;
        char err[256];
        enum proto_code code;
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);

        REQUIRE(s != NULL);
        code = decode_n(s, strlen(s), &m, err, sizeof(err));
        if (errout != NULL)
                snprintf(errout, errlen, "%s", err);
        proto_msg_fini(&m);
        free(s);
        json_decref(j);
        return code;
}

static json_t *load(const char *s)
{
        json_t *j = json_loads(s, 0, NULL);

        REQUIRE(j != NULL);
        return j;
}

static void test_names(void)
{
        enum proto_type t;
        int i, j, requests = 0, signed_ = 0;

        for (i = 0; i < PROTO_TYPE_COUNT; i++) {
                const char *name = proto_type_name((enum proto_type)i);

                CHECK(name != NULL);
                CHECK(name != NULL && proto_type_from_name(name, &t) == 0 &&
                      t == (enum proto_type)i);
                requests += proto_type_is_request((enum proto_type)i);
                signed_ += proto_type_is_signed((enum proto_type)i);
                /* Only requests are signed in the envelope. */
                CHECK(!proto_type_is_signed((enum proto_type)i) ||
                      proto_type_is_request((enum proto_type)i));
        }
        CHECK(requests == 10);
        CHECK(signed_ == 8);
        CHECK(proto_type_is_signed(PROTO_LOG_HEAD_REQUEST));
        CHECK(proto_type_is_signed(PROTO_LOG_PROOF_REQUEST));
        CHECK(proto_type_is_signed(PROTO_LOG_CONSISTENCY_REQUEST));
        CHECK(!proto_type_is_request(PROTO_LOG_PROOF));
        CHECK(proto_type_is_signed(PROTO_REGISTER));
        CHECK(proto_type_is_signed(PROTO_UPLOAD_REQUEST));
        CHECK(proto_type_is_signed(PROTO_DOWNLOAD_REQUEST));
        CHECK(proto_type_is_signed(PROTO_ABORT));
        CHECK(proto_type_is_signed(PROTO_CATALOG_REQUEST));
        CHECK(proto_type_is_request(PROTO_UPLOAD_COMMIT));
        CHECK(!proto_type_is_signed(PROTO_UPLOAD_COMMIT));
        CHECK(proto_type_is_request(PROTO_DOWNLOAD_RECEIPT));
        CHECK(!proto_type_is_request(PROTO_ERROR));
        CHECK(proto_type_name(PROTO_TYPE_COUNT) == NULL);
        CHECK(!proto_type_is_request(PROTO_TYPE_COUNT));
        CHECK(proto_type_from_name("upload", &t) == -1);
        CHECK(proto_type_from_name("Register", &t) == -1);
        CHECK(proto_type_from_name("", &t) == -1);
        CHECK(proto_type_from_name(NULL, &t) == -1);

        for (i = 0; i < PROTO_CODE_COUNT; i++)
                CHECK(proto_code_name((enum proto_code)i) != NULL);
        CHECK_STR_EQ(proto_code_name(PROTO_BAD_SCHEMA), "bad_schema");
        CHECK_STR_EQ(proto_code_name(PROTO_FILE_EXISTS), "file_exists");
        CHECK_STR_EQ(proto_code_name(PROTO_TOO_LARGE), "too_large");
        CHECK(proto_code_name(PROTO_CODE_COUNT) == NULL);

        for (i = 0; i < PF_COUNT; i++) {
                CHECK(proto_field_name((enum proto_field)i) != NULL);
                for (j = 0; j < i; j++)
                        CHECK(strcmp(proto_field_name((enum proto_field)i),
                                     proto_field_name((enum proto_field)j)) !=
                              0);
        }
        CHECK_STR_EQ(proto_field_name(PF_UPLOADER_PUBLIC_KEY),
                     "uploader_public_key");
        CHECK(proto_field_name(PF_COUNT) == NULL);
}

/* Every valid message decodes; its body fields and only those are set. */
static void test_valid_all(void)
{
        struct proto_msg m;
        char err[256];
        size_t i;
        int f, seen[PROTO_TYPE_COUNT] = {0};

        for (i = 0; i < NVALID; i++) {
                json_t *body;

                CHECK_MSG(decode_n(valid[i].json, strlen(valid[i].json), &m,
                                   err, sizeof(err)) == PROTO_OK,
                          err);
                CHECK(m.type == valid[i].type);
                CHECK(m.attributable == 1);
                CHECK_STR_EQ(m.msg_id, MSG_ID);
                CHECK(m.root != NULL);
                CHECK(m.sig.present == proto_type_is_signed(m.type));
                if (m.sig.present) {
                        CHECK_STR_EQ(m.sig.str, SIG);
                        CHECK(m.sig.bin_len == 71);
                }
                body = json_object_get(m.root, "body");
                for (f = 0; f < PF_COUNT; f++) {
                        json_t *jv = json_object_get(
                            body, proto_field_name((enum proto_field)f));

                        CHECK_MSG(m.f[f].present == (jv != NULL),
                                  proto_field_name((enum proto_field)f));
                        if (jv != NULL && json_is_string(jv))
                                CHECK_STR_EQ(m.f[f].str, json_string_value(jv));
                        if (m.f[f].present)
                                CHECK(m.f[f].json == jv);
                }
                seen[m.type] = 1;
                proto_msg_fini(&m);
        }
        for (f = 0; f < PROTO_TYPE_COUNT; f++)
                CHECK_MSG(seen[f], proto_type_name((enum proto_type)f));
}

/* A closer look at the decoded values of a few types. */
static void test_valid_values(void)
{
        struct proto_msg m;
        char err[256];

        /* register: the public key as bytes. */
        REQUIRE(decode_n(valid[0].json, strlen(valid[0].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK_STR_EQ(m.user, "alice");
        CHECK(m.f[PF_PUBLIC_KEY].bin_len == 91);
        CHECK(m.f[PF_PUBLIC_KEY].bin[0] == 0x30);
        proto_msg_fini(&m);

        /* upload.commit: nonce, digest, size. */
        REQUIRE(decode_n(valid[4].json, strlen(valid[4].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK(m.type == PROTO_UPLOAD_COMMIT);
        CHECK_STR_EQ(m.f[PF_FILE_ID].str, "f1");
        CHECK(m.f[PF_NONCE].bin_len == 32);
        CHECK(m.f[PF_NONCE].bin[0] == 0xc1 && m.f[PF_NONCE].bin[31] == 0x95);
        CHECK_MEM_EQ(m.f[PF_SHA256].bin, m.f[PF_SHA256].bin_len, sha_test, 32);
        CHECK(m.f[PF_SIZE].num == 4 && m.f[PF_SIZE].str == NULL);
        CHECK_STR_EQ(m.f[PF_PATH].str, "incoming/alice/f1");
        CHECK(m.f[PF_NRO].bin_len == 71);
        proto_msg_fini(&m);

        /* upload.result, verified and not. */
        REQUIRE(decode_n(valid[5].json, strlen(valid[5].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK(m.f[PF_VERIFIED].present && m.f[PF_VERIFIED].boolean == 1);
        CHECK(!m.f[PF_REASON].present && m.f[PF_TTP_SIG].present);
        CHECK(m.f[PF_TIME].num == 1714564800);
        proto_msg_fini(&m);
        REQUIRE(decode_n(valid[6].json, strlen(valid[6].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK(m.f[PF_VERIFIED].present && m.f[PF_VERIFIED].boolean == 0);
        CHECK(m.f[PF_REASON].num == PROTO_HASH_MISMATCH);
        CHECK(!m.f[PF_TTP_SIG].present);
        proto_msg_fini(&m);

        /* abort.result, catalog, error. */
        REQUIRE(decode_n(valid[13].json, strlen(valid[13].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK(m.type == PROTO_ABORT_RESULT && m.f[PF_ABORT].num == 3);
        proto_msg_fini(&m);
        REQUIRE(decode_n(valid[16].json, strlen(valid[16].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK(m.type == PROTO_CATALOG && json_is_array(m.f[PF_FILES].json) &&
              json_array_size(m.f[PF_FILES].json) == 1);
        proto_msg_fini(&m);
        REQUIRE(decode_n(valid[17].json, strlen(valid[17].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK(m.type == PROTO_ERROR && m.f[PF_CODE].num == PROTO_NONCE_EXPIRED);
        CHECK_STR_EQ(m.f[PF_IN_REPLY_TO].str, MSG_ID2);
        CHECK_STR_EQ(m.f[PF_MESSAGE].str, "the nonce has expired");
        proto_msg_fini(&m);
}

/* A value of another JSON type than the field's. */
static json_t *wrong_type(const json_t *v)
{
        if (json_is_string(v))
                return json_integer(12);
        if (json_is_array(v))
                return json_object();
        return json_string("4");
}

/*
 * For every valid message: each body field is needed, an extra field is
 * refused, each field refuses a value of the wrong JSON type; the same
 * for the envelope keys.  Every refusal is bad_schema and names the
 * field.
 */
static void test_each_field(void)
{
        static const char *const env_keys[] = {"v", "type", "msg_id", "user",
                                               "body"};
        char err[256];
        size_t i, k;

        for (i = 0; i < NVALID; i++) {
                json_t *root = load(valid[i].json), *j, *body, *v;
                const char *key;

                body = json_object_get(root, "body");
                json_object_foreach(body, key, v)
                {
                        j = json_deep_copy(root);
                        json_object_del(json_object_get(j, "body"), key);
                        CHECK_MSG(code_of_json(j, err, sizeof(err)) ==
                                      PROTO_BAD_SCHEMA,
                                  key);
                        CHECK_MSG(strstr(err, key) != NULL, err);

                        j = json_deep_copy(root);
                        json_object_set_new(json_object_get(j, "body"), key,
                                            wrong_type(v));
                        CHECK_MSG(code_of_json(j, err, sizeof(err)) ==
                                      PROTO_BAD_SCHEMA,
                                  key);
                        CHECK_MSG(strstr(err, key) != NULL, err);

                        j = json_deep_copy(root);
                        json_object_set_new(json_object_get(j, "body"), key,
                                            json_null());
                        CHECK_MSG(code_of_json(j, NULL, 0) == PROTO_BAD_SCHEMA,
                                  key);
                }
                j = json_deep_copy(root);
                json_object_set_new(json_object_get(j, "body"), "extra",
                                    json_integer(1));
                CHECK(code_of_json(j, err, sizeof(err)) == PROTO_BAD_SCHEMA);
                CHECK_MSG(strstr(err, "extra") != NULL, err);

                /* A field of another type is just as unknown here. */
                j = json_deep_copy(root);
                json_object_set_new(json_object_get(j, "body"),
                                    json_object_get(body, "message") != NULL
                                        ? "name"
                                        : "message",
                                    json_string("x"));
                CHECK(code_of_json(j, NULL, 0) == PROTO_BAD_SCHEMA);

                for (k = 0; k < sizeof(env_keys) / sizeof(env_keys[0]); k++) {
                        j = json_deep_copy(root);
                        json_object_del(j, env_keys[k]);
                        CHECK_MSG(code_of_json(j, err, sizeof(err)) ==
                                      PROTO_BAD_SCHEMA,
                                  env_keys[k]);
                        CHECK_MSG(strstr(err, env_keys[k]) != NULL, err);
                        j = json_deep_copy(root);
                        json_object_set_new(
                            j, env_keys[k],
                            wrong_type(json_object_get(root, env_keys[k])));
                        CHECK_MSG(code_of_json(j, NULL, 0) == PROTO_BAD_SCHEMA,
                                  env_keys[k]);
                }
                j = json_deep_copy(root);
                json_object_set_new(j, "extra", json_integer(1));
                CHECK(code_of_json(j, err, sizeof(err)) == PROTO_BAD_SCHEMA);
                CHECK_MSG(strstr(err, "extra") != NULL, err);

                /* sig: required on the 5 signed requests, else refused. */
                j = json_deep_copy(root);
                if (proto_type_is_signed(valid[i].type))
                        json_object_del(j, "sig");
                else
                        json_object_set_new(j, "sig", json_string(SIG));
                CHECK(code_of_json(j, err, sizeof(err)) == PROTO_BAD_SCHEMA);
                CHECK_MSG(strstr(err, "sig") != NULL, err);
                if (proto_type_is_signed(valid[i].type)) {
                        j = json_deep_copy(root);
                        json_object_set_new(j, "sig", json_integer(1));
                        CHECK(code_of_json(j, NULL, 0) == PROTO_BAD_SCHEMA);
                }
                json_decref(root);
        }
}

/* Replace body.`key` of valid message `i` by `value` (stolen); the code. */
static enum proto_code with_field(size_t i, const char *key, json_t *value)
{
        json_t *j = load(valid[i].json);

        json_object_set_new(json_object_get(j, "body"), key, value);
        return code_of_json(j, NULL, 0);
}

/* Replace the envelope's `key`; the code. */
static enum proto_code with_env(size_t i, const char *key, json_t *value)
{
        json_t *j = load(valid[i].json);

        json_object_set_new(j, key, value);
        return code_of_json(j, NULL, 0);
}

/* A string of `n` copies of `c`, NUL-terminated; caller frees. */
static char *repeat(char c, size_t n)
{
        char *s = malloc(n + 1);

        REQUIRE(s != NULL);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

static void test_envelope(void)
{
        char *s;

        CHECK(with_env(2, "v", json_integer(2)) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "v", json_integer(0)) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "v", json_string("1")) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "v", json_real(1.0)) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "v", json_true()) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "v", json_null()) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "type", json_string("upload")) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "type", json_string("UPLOAD.REQUEST")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "type", json_string("upload.request ")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "msg_id", json_string(MSG_ID "0")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "msg_id",
                       json_string("0123456789ABCDEF0123456789abcdef")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "user", json_string("Alice")) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "user", json_string("")) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "user", json_string("..")) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "user", json_string("alice\n")) == PROTO_BAD_SCHEMA);
        s = repeat('u', 64);
        CHECK(with_env(2, "user", json_string(s)) == PROTO_OK);
        free(s);
        s = repeat('u', 65);
        CHECK(with_env(2, "user", json_string(s)) == PROTO_BAD_SCHEMA);
        free(s);
        CHECK(with_env(2, "body", json_array()) == PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "body", json_null()) == PROTO_BAD_SCHEMA);
        /* A body of another type is not accepted for this type. */
        CHECK(with_env(2, "body", load("{\"file_id\":\"f1\"}")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_env(2, "Body", json_object()) == PROTO_BAD_SCHEMA);
        /* Key order does not matter. */
        CHECK(code_of("{\"body\":{\"file_id\":\"f1\"},\"sig\":\"" SIG
                      "\",\"user\":\"bob\",\"msg_id\":\"" MSG_ID
                      "\",\"type\":\"abort\",\"v\":1}") == PROTO_OK);
        /* Whitespace anywhere JSON allows it. */
        CHECK(
            code_of(" \n{ \"v\" : 1 ,\t\"type\":\"abort\",\"msg_id\":\"" MSG_ID
                    "\",\"user\":\"bob\",\"body\":{ \"file_id\" : \"f1\" },"
                    "\"sig\":\"" SIG "\" }\r\n ") == PROTO_OK);
}

static void test_bad_json(void)
{
        static const char *const bad[] = {
            "",
            " ",
            "not json",
            "{",
            "}",
            "{\"v\":1,}",
            "{'v':1}",
            "{\"v\":1} {}",
            "{\"v\":1}x",
            "[1,2]",
            "[]",
            "\"a string\"",
            "42",
            "null",
            "{\"v\":01}",
            "{\"v\":NaN}",
            "{\"v\":1,\"v\":1}",
            "{\"v\":1,\"body\":{\"a\":1,\"a\":2}}",
            "{\"s\":\"\\u0000\"}",
            "{\"s\":\"a\\u0000b\"}",
            "{\"s\":\"\\ud800\"}",
            "{\"s\":\"\\udc00\\ud800\"}",
            "{\"s\":\"\\x41\"}",
            "{\"s\":\"tab\there\"}",
            "{\"s\":\"line\nbreak\"}",
            "{\"size\":99999999999999999999}",
        };
        size_t i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK_MSG(code_of(bad[i]) == PROTO_BAD_JSON, bad[i]);
}

/* Bytes that are not UTF-8, a raw NUL: refused by the parser. */
static void test_bad_bytes(void)
{
        static const struct {
                const char *s;
                size_t len;
        } bad[] = {
            /* Invalid lead byte, truncated sequence, overlong '/',
             * an encoded surrogate, beyond U+10FFFF. */
            {"{\"s\":\"\xff\"}", 9},
            {"{\"s\":\"\xc3\"}", 9},
            {"{\"s\":\"\xc0\xaf\"}", 10},
            {"{\"s\":\"\xed\xa0\x80\"}", 11},
            {"{\"s\":\"\xf4\x90\x80\x80\"}", 12},
            /* A raw NUL inside a string and after the object. */
            {"{\"s\":\"a\0b\"}", 11},
            {"{\"s\":1}\0", 8},
        };
        char buf[1024];
        size_t i, n;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                CHECK_MSG(code_of_n(bad[i].s, bad[i].len) == PROTO_BAD_JSON,
                          bad[i].s);
        /* A valid message with a bad byte in the name. */
        n = (size_t)snprintf(
            buf, sizeof(buf), "%s",
            ENV_SIG("upload.request", "alice",
                    "{\"file_id\":\"f1\",\"name\":\"r\xfft.pdf\",\"size\":4}"));
        CHECK(code_of_n(buf, n) == PROTO_BAD_JSON);
        /* Multi-byte UTF-8 is fine. */
        CHECK(with_field(2, "name",
                         json_string("r\xc3\xa9sum\xc3\xa9 "
                                     "\xe2\x82\xac "
                                     "\xf0\x9f\x93\x84")) == PROTO_OK);
}

/* Every proper prefix of a valid message is broken JSON. */
static void test_truncated(void)
{
        size_t i, n, bad = 0;

        for (i = 0; i < NVALID; i += 4) {
                n = strlen(valid[i].json);
                while (n-- > 0)
                        bad += code_of_n(valid[i].json, n) != PROTO_BAD_JSON;
        }
        CHECK(bad == 0);
}

/* Nesting far beyond any message: jansson stops at its depth limit. */
static void test_depth(void)
{
        size_t depth = 100000, i;
        char *s = malloc(6 * depth + 64);
        size_t n = 0;

        REQUIRE(s != NULL);
        for (i = 0; i < depth; i++)
                s[n++] = '[';
        for (i = 0; i < depth; i++)
                s[n++] = ']';
        CHECK(code_of_n(s, n) == PROTO_BAD_JSON);
        /* Well formed, deep inside an otherwise plausible body. */
        n = (size_t)sprintf(s, "{\"v\":1,\"body\":");
        for (i = 0; i < depth; i++)
                n += (size_t)sprintf(s + n, "{\"a\":");
        s[n++] = '1';
        for (i = 0; i <= depth; i++)
                s[n++] = '}';
        CHECK(code_of_n(s, n) == PROTO_BAD_JSON);
        free(s);
        /* Nesting the parser accepts is still no valid field value. */
        CHECK(with_field(2, "name",
                         load("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]"
                              "]]]]]")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(16, "files",
                         load("[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]")) ==
              PROTO_BAD_SCHEMA);
}

static void test_strings(void)
{
        char *s;

        /* name: 1..1024 bytes, counted in bytes, no control character. */
        s = repeat('n', 1024);
        CHECK(with_field(2, "name", json_string(s)) == PROTO_OK);
        free(s);
        s = repeat('n', 1025);
        CHECK(with_field(2, "name", json_string(s)) == PROTO_BAD_SCHEMA);
        free(s);
        /* 512 two-byte characters are 1024 bytes; one more byte is over. */
        s = malloc(1026);
        REQUIRE(s != NULL);
        for (size_t i = 0; i < 512; i++)
                memcpy(s + 2 * i, "\xc3\xa9", 2);
        s[1024] = '\0';
        CHECK(with_field(2, "name", json_string(s)) == PROTO_OK);
        s[1024] = 'x';
        s[1025] = '\0';
        CHECK(with_field(2, "name", json_string(s)) == PROTO_BAD_SCHEMA);
        free(s);
        CHECK(with_field(2, "name", json_string("")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "name", json_string("a\tb")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "name", json_string("a\nb")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "name", json_string("a\x1b[2Jb")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "name", json_string("a\x7f")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "name", json_string("a\xc2\x85")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "name", json_string("a\xc2\x9f")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "name", json_string("a\xc2\xa0")) == PROTO_OK);
        CHECK(with_field(2, "name", json_string(" ")) == PROTO_OK);

        /* error.message: 0..1024 bytes, no control character. */
        s = repeat('m', 1024);
        CHECK(with_field(17, "message", json_string(s)) == PROTO_OK);
        free(s);
        s = repeat('m', 1025);
        CHECK(with_field(17, "message", json_string(s)) == PROTO_BAD_SCHEMA);
        free(s);
        CHECK(with_field(17, "message", json_string("")) == PROTO_OK);
        CHECK(with_field(17, "message", json_string("two\nlines")) ==
              PROTO_BAD_SCHEMA);

        /* file_id: 1..64 of [A-Za-z0-9._-]. */
        s = repeat('F', 64);
        CHECK(with_field(12, "file_id", json_string(s)) == PROTO_OK);
        free(s);
        s = repeat('F', 65);
        CHECK(with_field(12, "file_id", json_string(s)) == PROTO_BAD_SCHEMA);
        free(s);
        CHECK(with_field(12, "file_id", json_string("")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(12, "file_id", json_string("..")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(12, "file_id", json_string("a/b")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(12, "file_id",
                         json_string("3f2b8c1e-0d4a-4b6e-9a7c-1e2d3c4b5a69")) ==
              PROTO_OK);

        /* upload.commit path: only 1..255 bytes without control
         * characters; whether it is the issued one is the engine's
         * verdict (bad_path), not a schema error. */
        s = repeat('p', 255);
        CHECK(with_field(4, "path", json_string(s)) == PROTO_OK);
        free(s);
        s = repeat('p', 256);
        CHECK(with_field(4, "path", json_string(s)) == PROTO_BAD_SCHEMA);
        free(s);
        CHECK(with_field(4, "path", json_string("../../etc/passwd")) ==
              PROTO_OK);
        CHECK(with_field(4, "path", json_string("/etc/passwd")) == PROTO_OK);
        CHECK(with_field(4, "path", json_string("")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "path", json_string("a\nb")) == PROTO_BAD_SCHEMA);

        /* Paths the TTP hands out are held to the strict store form. */
        s = repeat('p', 255);
        CHECK(with_field(3, "incoming_path", json_string(s)) == PROTO_OK);
        free(s);
        s = repeat('p', 256);
        CHECK(with_field(3, "incoming_path", json_string(s)) ==
              PROTO_BAD_SCHEMA);
        free(s);
        CHECK(with_field(3, "incoming_path", json_string("/incoming/a/f1")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(3, "incoming_path", json_string("incoming/../f1")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(3, "incoming_path", json_string("incoming/./f1")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(3, "incoming_path", json_string("incoming//f1")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(3, "incoming_path", json_string("incoming/f1/")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(3, "incoming_path", json_string("..")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(3, "incoming_path", json_string("a b")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(3, "incoming_path", json_string("..a/b..")) ==
              PROTO_OK);
        CHECK(with_field(11, "object_path", json_string("objects/..")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(11, "object_path", json_string("objects\\x")) ==
              PROTO_BAD_SCHEMA);

        /* user-valued fields. */
        CHECK(with_field(8, "uploader", json_string("Alice")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(10, "downloader", json_string("")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(17, "in_reply_to", json_string("xyz")) ==
              PROTO_BAD_SCHEMA);
}

static void test_binary(void)
{
        /* Nonces: exactly 32 bytes of canonical padded base64. */
        CHECK(
            with_field(4, "nonce",
                       json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                   "A=")) == PROTO_OK);
        /* Non-zero unused trailing bits ("B=" instead of "A="). */
        CHECK(
            with_field(4, "nonce",
                       json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                   "B=")) == PROTO_BAD_SCHEMA);
        /* 31 and 33 bytes. */
        CHECK(
            with_field(4, "nonce",
                       json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                   "==")) == PROTO_BAD_SCHEMA);
        CHECK(
            with_field(4, "nonce",
                       json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                   "AA")) == PROTO_BAD_SCHEMA);
        /* Missing padding, URL-safe alphabet, whitespace, empty. */
        CHECK(
            with_field(4, "nonce",
                       json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                   "A")) == PROTO_BAD_SCHEMA);
        CHECK(
            with_field(4, "nonce",
                       json_string("-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                   "A=")) == PROTO_BAD_SCHEMA);
        CHECK(
            with_field(4, "nonce",
                       json_string("AAAAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAA"
                                   "A=")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "nonce", json_string("")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "nonce", json_string(NONCE_A NONCE_A)) ==
              PROTO_BAD_SCHEMA);

        /* Signatures: 8..72 bytes. */
        CHECK(with_field(4, "nro", json_string("AAAAAAAAAAA=")) == PROTO_OK);
        CHECK(with_field(4, "nro", json_string("AAAAAAAAAA==")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "nro",
                         json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                     "AAAAAAAAAAAAAAAA")) == PROTO_OK);
        CHECK(with_field(4, "nro",
                         json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                     "AAAAAAAAAAAAAAAAAAAA")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "nro", json_string("")) == PROTO_BAD_SCHEMA);
        CHECK(with_env(0, "sig", json_string("AAAA")) == PROTO_BAD_SCHEMA);
        CHECK(with_env(0, "sig", json_string("")) == PROTO_BAD_SCHEMA);

        /* Public keys: 1..200 bytes. */
        {
                /* 200 bytes: 66 groups and "AAA=" (2 bytes); 201: 67. */
                char *k200 = repeat('A', 268), *k201 = repeat('A', 268);

                memcpy(k200 + 264, "AAA=", 4);
                CHECK(with_field(0, "public_key", json_string(k200)) ==
                      PROTO_OK);
                CHECK(with_field(0, "public_key", json_string(k201)) ==
                      PROTO_BAD_SCHEMA);
                free(k200);
                free(k201);
        }
        CHECK(with_field(0, "public_key", json_string("")) == PROTO_BAD_SCHEMA);

        /* Digests and key ids: 64 lowercase hex. */
        CHECK(with_field(4, "sha256",
                         json_string("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2"
                                     "B0B822CD15D6C15B0F00A08")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "sha256", json_string(SHA "0")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "sha256",
                         json_string("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2"
                                     "b0b822cd15d6c15b0f00a0")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(4, "sha256",
                         json_string("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2"
                                     "b0b822cd15d6c15b0f00a0g")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(1, "key_id", json_string(SHA)) == PROTO_OK);
        CHECK(with_field(1, "key_id", json_string("")) == PROTO_BAD_SCHEMA);
}

static void test_numbers(void)
{
        CHECK(with_field(2, "size", json_integer(0)) == PROTO_OK);
        CHECK(with_field(2, "size", json_integer((json_int_t)1 << 40)) ==
              PROTO_OK);
        CHECK(with_field(2, "size", json_integer(((json_int_t)1 << 40) + 1)) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "size", json_integer(INT64_MAX)) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "size", json_integer(-1)) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "size", json_integer(INT64_MIN)) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "size", json_real(4.0)) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "size", json_real(4.5)) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "size", json_string("4")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(2, "size", json_true()) == PROTO_BAD_SCHEMA);
        /* Written forms jansson reads as reals. */
        CHECK(code_of(ENV_SIG(
                  "upload.request", "alice",
                  "{\"file_id\":\"f1\",\"name\":\"n\",\"size\":4e0}")) ==
              PROTO_BAD_SCHEMA);
        CHECK(code_of(
                  ENV_SIG("upload.request", "alice",
                          "{\"file_id\":\"f1\",\"name\":\"n\",\"size\":-0}")) ==
              PROTO_OK);

        CHECK(with_field(13, "abort", json_integer(1)) == PROTO_OK);
        CHECK(with_field(13, "abort", json_integer(2)) == PROTO_OK);
        CHECK(with_field(13, "abort", json_integer(0)) == PROTO_BAD_SCHEMA);
        CHECK(with_field(13, "abort", json_integer(4)) == PROTO_BAD_SCHEMA);
        CHECK(with_field(13, "abort", json_string("1")) == PROTO_BAD_SCHEMA);

        CHECK(with_field(5, "verified", json_integer(1)) == PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "verified", json_string("true")) ==
              PROTO_BAD_SCHEMA);
}

static void test_times_codes(void)
{
        CHECK(with_field(5, "time", json_string("2024-02-29T23:59:59Z")) ==
              PROTO_OK);
        CHECK(with_field(5, "time", json_string("2023-02-29T00:00:00Z")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "time", json_string("2024-05-01T12:00:00+00:00")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "time", json_string("2024-05-01T12:00:00.5Z")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "time", json_string("2024-05-01t12:00:00z")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "time", json_string("2024-05-01 12:00:00Z")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "time", json_integer(1714564800)) ==
              PROTO_BAD_SCHEMA);

        /* error.code: the contract's names only. */
        CHECK(with_field(17, "code", json_string("bad_json")) == PROTO_OK);
        CHECK(with_field(17, "code", json_string("internal")) == PROTO_OK);
        CHECK(with_field(17, "code", json_string("ok")) == PROTO_BAD_SCHEMA);
        CHECK(with_field(17, "code", json_string("BAD_JSON")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(17, "code", json_string("teapot")) ==
              PROTO_BAD_SCHEMA);

        /* upload.result: reason and ttp_sig follow verified. */
        CHECK(with_field(6, "reason", json_string("bad_path")) == PROTO_OK);
        CHECK(with_field(6, "reason", json_string("nonce_invalid")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(6, "ttp_sig", json_string(SIG)) == PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "reason", json_string("bad_path")) ==
              PROTO_BAD_SCHEMA);
        CHECK(with_field(5, "verified", json_false()) == PROTO_BAD_SCHEMA);
        CHECK(with_field(6, "verified", json_true()) == PROTO_BAD_SCHEMA);
        /* download.cancelled: the reason is file_aborted. */
        CHECK(with_field(14, "reason", json_string("nonce_expired")) ==
              PROTO_BAD_SCHEMA);
}

static void test_catalog(void)
{
        json_t *files = json_array(), *entry;
        char err[256];
        size_t i;

        REQUIRE(files != NULL);
        for (i = 0; i < PROTO_CATALOG_MAX; i++) {
                entry =
                    json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "file_id", "f1",
                              "name", "n", "uploader", "alice", "sha256", SHA,
                              "size", (json_int_t)i, "uploaded_at", TIME);
                REQUIRE(entry != NULL);
                json_array_append_new(files, entry);
        }
        CHECK(with_field(16, "files", json_deep_copy(files)) == PROTO_OK);
        json_array_append(files, json_array_get(files, 0));
        CHECK(with_field(16, "files", json_deep_copy(files)) ==
              PROTO_BAD_SCHEMA);
        json_decref(files);
        CHECK(with_field(16, "files", json_array()) == PROTO_OK);
        CHECK(with_field(16, "files", json_object()) == PROTO_BAD_SCHEMA);
        CHECK(with_field(16, "files", load("[1]")) == PROTO_BAD_SCHEMA);

        /* Each entry is strict: an extra, a missing, a bad field. */
        entry = load(
            "{\"file_id\":\"f1\",\"name\":\"n\",\"uploader\":\"alice\","
            "\"sha256\":\"" SHA "\",\"size\":4,\"uploaded_at\":\"" TIME "\"}");
        {
                json_t *j = json_deep_copy(entry), *root;
                const char *key;
                json_t *v;

                json_object_set_new(j, "extra", json_true());
                CHECK(with_field(16, "files", json_pack("[o]", j)) ==
                      PROTO_BAD_SCHEMA);
                json_object_foreach(entry, key, v)
                {
                        j = json_deep_copy(entry);
                        json_object_del(j, key);
                        root = load(valid[16].json);
                        json_object_set_new(json_object_get(root, "body"),
                                            "files", json_pack("[o]", j));
                        CHECK_MSG(code_of_json(root, err, sizeof(err)) ==
                                      PROTO_BAD_SCHEMA,
                                  key);
                        CHECK_MSG(strstr(err, key) != NULL, err);
                        j = json_deep_copy(entry);
                        json_object_set_new(j, key, wrong_type(v));
                        CHECK_MSG(
                            with_field(16, "files", json_pack("[o]", j)) ==
                                PROTO_BAD_SCHEMA,
                            key);
                }
        }
        json_decref(entry);
}

/* Where an error goes: msg_id and user are read before anything else. */
static void test_attributable(void)
{
        struct proto_msg m;
        char err[256];
        json_t *j;
        char *s;

        /* A bad body, a good envelope: attributable. */
        j = load(valid[4].json);
        json_object_set_new(json_object_get(j, "body"), "nonce",
                            json_string("short"));
        s = json_dumps(j, JSON_COMPACT);
        CHECK(decode_n(s, strlen(s), &m, err, sizeof(err)) == PROTO_BAD_SCHEMA);
        CHECK_MSG(strstr(err, "body.nonce") != NULL, err);
        CHECK(m.attributable == 1);
        CHECK_STR_EQ(m.msg_id, MSG_ID);
        CHECK_STR_EQ(m.user, "alice");
        proto_msg_fini(&m);
        free(s);

        /* v 2 or an unknown type: still routed to the sender. */
        json_object_set_new(j, "v", json_integer(2));
        json_object_set_new(j, "type", json_string("gossip"));
        json_object_set_new(j, "extra", json_string("x"));
        s = json_dumps(j, JSON_COMPACT);
        CHECK(decode_n(s, strlen(s), &m, err, sizeof(err)) == PROTO_BAD_SCHEMA);
        CHECK(m.attributable == 1);
        CHECK_STR_EQ(m.user, "alice");
        proto_msg_fini(&m);
        free(s);

        /* An invalid user or msg_id: nobody to answer. */
        json_object_set_new(j, "user", json_string("Alice"));
        s = json_dumps(j, JSON_COMPACT);
        CHECK(decode_n(s, strlen(s), &m, err, sizeof(err)) == PROTO_BAD_SCHEMA);
        CHECK(m.attributable == 0);
        CHECK(m.user[0] == '\0' && m.msg_id[0] == '\0');
        proto_msg_fini(&m);
        free(s);
        json_object_set_new(j, "user", json_string("alice"));
        json_object_set_new(j, "msg_id", json_integer(1));
        s = json_dumps(j, JSON_COMPACT);
        CHECK(decode_n(s, strlen(s), &m, err, sizeof(err)) == PROTO_BAD_SCHEMA);
        CHECK(m.attributable == 0);
        proto_msg_fini(&m);
        free(s);
        json_decref(j);

        /* Not JSON, not an object: not attributable. */
        CHECK(decode_n("[\"" MSG_ID "\"]", 36, &m, err, sizeof(err)) ==
              PROTO_BAD_JSON);
        CHECK(m.attributable == 0);
        proto_msg_fini(&m);
}

/* Limits on the whole message: 1 MiB, and parsing stops at 16 MiB. */
static void test_too_large(void)
{
        static const char head[] =
            ENV_SIG("abort", "alice", "{\"file_id\":\"f1\"}");
        size_t n = strlen(head), big = 16 * 1024 * 1024 + 1;
        struct proto_msg m;
        char err[256];
        char *s = malloc(big);

        REQUIRE(s != NULL);
        memcpy(s, head, n);
        /* Exactly 1 MiB with trailing whitespace: fine. */
        memset(s + n, ' ', big - n);
        CHECK(decode_n(s, PROTO_MESSAGE_MAX, &m, err, sizeof(err)) == PROTO_OK);
        proto_msg_fini(&m);
        /* One byte more: too large, yet the sender is known. */
        CHECK(decode_n(s, PROTO_MESSAGE_MAX + 1, &m, err, sizeof(err)) ==
              PROTO_TOO_LARGE);
        CHECK(m.attributable == 1);
        CHECK_STR_EQ(m.user, "alice");
        CHECK_STR_EQ(m.msg_id, MSG_ID);
        proto_msg_fini(&m);
        /* Too large and not JSON: still too_large, nobody to answer. */
        s[0] = 'x';
        CHECK(decode_n(s, PROTO_MESSAGE_MAX + 1, &m, err, sizeof(err)) ==
              PROTO_TOO_LARGE);
        CHECK(m.attributable == 0);
        proto_msg_fini(&m);
        s[0] = '{';
        /* Over 16 MiB: not even parsed. */
        CHECK(decode_n(s, big, &m, err, sizeof(err)) == PROTO_TOO_LARGE);
        CHECK(m.attributable == 0);
        CHECK(m.root == NULL);
        proto_msg_fini(&m);
        free(s);
}

/* The request TBS, byte for byte. */
static void test_request_tbs(void)
{
        struct proto_msg m;
        char err[256], *tbs = NULL;
        size_t len = 0;
        size_t i;

        REQUIRE(decode_n(valid[0].json, strlen(valid[0].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK_MSG(proto_request_tbs(&m, &tbs, &len, err, sizeof(err)) == 0,
                  err);
        CHECK_STR_EQ(tbs, "tds/1 request\n"
                          "type=register\n"
                          "msg_id=" MSG_ID "\n"
                          "user=alice\n"
                          "file_id=\n"
                          "public_key_sha256=" KEY_ID "\n");
        CHECK(tbs != NULL && len == strlen(tbs));
        free(tbs);
        proto_msg_fini(&m);

        REQUIRE(decode_n(valid[2].json, strlen(valid[2].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK_MSG(proto_request_tbs(&m, &tbs, &len, err, sizeof(err)) == 0,
                  err);
        CHECK_STR_EQ(tbs, "tds/1 request\n"
                          "type=upload.request\n"
                          "msg_id=" MSG_ID "\n"
                          "user=alice\n"
                          "file_id=f1\n"
                          "public_key_sha256=\n");
        CHECK(tbs != NULL && len == strlen(tbs));
        free(tbs);
        proto_msg_fini(&m);

        REQUIRE(decode_n(valid[15].json, strlen(valid[15].json), &m, err,
                         sizeof(err)) == PROTO_OK);
        CHECK_MSG(proto_request_tbs(&m, &tbs, &len, err, sizeof(err)) == 0,
                  err);
        CHECK_STR_EQ(tbs, "tds/1 request\n"
                          "type=catalog.request\n"
                          "msg_id=" MSG_ID "\n"
                          "user=bob\n"
                          "file_id=\n"
                          "public_key_sha256=\n");
        free(tbs);
        proto_msg_fini(&m);

        /* Every request has one; no TTP message has. */
        for (i = 0; i < NVALID; i++) {
                REQUIRE(decode_n(valid[i].json, strlen(valid[i].json), &m, err,
                                 sizeof(err)) == PROTO_OK);
                tbs = NULL;
                CHECK((proto_request_tbs(&m, &tbs, &len, err, sizeof(err)) ==
                       0) == proto_type_is_request(m.type));
                CHECK((tbs != NULL) == proto_type_is_request(m.type));
                free(tbs);
                proto_msg_fini(&m);
        }
}

/* Encoding: the exact bytes of the contract's order, and back. */
static void test_dump(void)
{
        struct proto_msg m, m2;
        char err[256], *out;
        size_t i, len;

        for (i = 0; i < NVALID; i++) {
                REQUIRE(decode_n(valid[i].json, strlen(valid[i].json), &m, err,
                                 sizeof(err)) == PROTO_OK);
                out = proto_envelope_dump(
                    m.type, m.msg_id, m.user,
                    json_deep_copy(json_object_get(m.root, "body")),
                    m.sig.present ? m.sig.str : NULL, &len, err, sizeof(err));
                CHECK_MSG(out != NULL, err);
                if (out != NULL) {
                        CHECK_STR_EQ(out, valid[i].json);
                        CHECK(len == strlen(out));
                        CHECK(decode_n(out, len, &m2, err, sizeof(err)) ==
                              PROTO_OK);
                        CHECK(json_equal(m.root, m2.root));
                        proto_msg_fini(&m2);
                }
                free(out);
                proto_msg_fini(&m);
        }

        /* Refusals; the body is stolen whatever happens. */
        CHECK(proto_envelope_dump(PROTO_ABORT, MSG_ID, "alice",
                                  load("{\"file_id\":\"f1\"}"), NULL, &len, err,
                                  sizeof(err)) == NULL);
        CHECK(len == 0);
        CHECK(proto_envelope_dump(PROTO_ERROR, MSG_ID, "alice", json_object(),
                                  SIG, &len, err, sizeof(err)) == NULL);
        CHECK(proto_envelope_dump(PROTO_ABORT, MSG_ID, "alice", json_object(),
                                  "AAAA", &len, err, sizeof(err)) == NULL);
        CHECK(proto_envelope_dump(PROTO_ERROR, "xyz", "alice", json_object(),
                                  NULL, &len, err, sizeof(err)) == NULL);
        CHECK(proto_envelope_dump(PROTO_ERROR, MSG_ID, "Alice", json_object(),
                                  NULL, &len, err, sizeof(err)) == NULL);
        CHECK(proto_envelope_dump(PROTO_ERROR, MSG_ID, "alice", json_array(),
                                  NULL, &len, err, sizeof(err)) == NULL);
        CHECK(proto_envelope_dump(PROTO_ERROR, MSG_ID, "alice", NULL, NULL,
                                  &len, err, sizeof(err)) == NULL);
        CHECK(proto_envelope_dump(PROTO_TYPE_COUNT, MSG_ID, "alice",
                                  json_object(), NULL, &len, err,
                                  sizeof(err)) == NULL);
        /* Over 1 MiB: refused rather than sent to be refused. */
        {
                char *big = repeat('m', PROTO_MESSAGE_MAX);

                CHECK(proto_envelope_dump(PROTO_ERROR, MSG_ID, "alice",
                                          json_pack("{s:s}", "message", big),
                                          NULL, &len, err,
                                          sizeof(err)) == NULL);
                CHECK_MSG(strstr(err, "limit") != NULL, err);
                free(big);
        }
        /* Non-ASCII goes out as UTF-8, not escaped. */
        out = proto_envelope_dump(PROTO_ERROR, MSG_ID, "alice",
                                  json_pack("{s:s}", "m", "\xc3\xa9"), NULL,
                                  &len, err, sizeof(err));
        CHECK_STR_EQ(out,
                     "{\"v\":1,\"type\":\"error\",\"msg_id\":\"" MSG_ID
                     "\",\"user\":\"alice\",\"body\":{\"m\":\"\xc3\xa9\"}}");
        free(out);
}

/* Error messages never echo raw input: printable ASCII, bounded. */
static void test_error_text(void)
{
        static const char msg[] =
            "{\"v\":1,\"type\":\"abort\",\"msg_id\":\"" MSG_ID
            "\",\"user\":\"alice\",\"body\":{\"file_id\":\"f1\"},\"sig\":\"" SIG
            "\",\"\\u001b["
            "2J\\n\xc3\xa9xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            "xxxxxxxxxxxxxxxx\":1}";
        struct proto_msg m;
        char err[256];
        size_t i;

        CHECK(decode_n(msg, strlen(msg), &m, err, sizeof(err)) ==
              PROTO_BAD_SCHEMA);
        proto_msg_fini(&m);
        CHECK(strlen(err) < 120);
        for (i = 0; err[i] != '\0'; i++)
                CHECK(err[i] >= 0x20 && err[i] < 0x7f);
        /* jansson's own message quotes input too. */
        CHECK(decode_n("{\"a\":\x01}", 7, &m, err, sizeof(err)) ==
              PROTO_BAD_JSON);
        proto_msg_fini(&m);
        for (i = 0; err[i] != '\0'; i++)
                CHECK(err[i] >= 0x20 && err[i] < 0x7f);
        /* A tiny buffer truncates, never overflows. */
        CHECK(decode_n("{}", 2, &m, err, 8) == PROTO_BAD_SCHEMA);
        CHECK(strlen(err) == 7);
        proto_msg_fini(&m);
        /* fini twice is harmless (it clears). */
        proto_msg_fini(&m);
        proto_msg_fini(NULL);
}

int main(void)
{
        test_names();
        test_valid_all();
        test_valid_values();
        test_each_field();
        test_envelope();
        test_bad_json();
        test_bad_bytes();
        test_truncated();
        test_depth();
        test_strings();
        test_binary();
        test_numbers();
        test_times_codes();
        test_catalog();
        test_attributable();
        test_too_large();
        test_request_tbs();
        test_dump();
        test_error_text();
        return unit_done("test_proto");
}

/*
 * session: Kafka requests, the reply partition and the inbox.
 */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "errbuf.h"
#include "kafka.h"
#include "log.h"
#include "tbs.h"

#define SESSION_SEEN_KEEP    10000 /* msg_ids remembered for duplicates */
#define SESSION_INBOX_MAX    (256u * 1024 * 1024)
#define SESSION_SEEN_MAX     (4u * 1024 * 1024)
#define SESSION_POLL_MS      200
#define SESSION_BATCH        500
#define SESSION_METADATA_MAX 10000 /* ms for the first broker contact */
#define SESSION_PROBE_MS     3000  /* ms for "is the broker there?" */
/* Answers to requests nobody waits for any more are dropped after this. */
#define SESSION_STALE_SECS 3600

/* One reply in the inbox. */
struct session_item {
        char msg_id[IDS_MSG_ID_LEN + 1];
        enum proto_type type;
        char file_id[IDS_FILE_ID_MAX + 1];
        char nonce[64];
        char in_reply_to[IDS_MSG_ID_LEN + 1];
        time_t received;
        char *line; /* the inbox line, without '\n' */
};

struct session {
        const struct cli_ctx *ctx;
        struct kafka_topics topics;
        const char *bootstrap;
        rd_kafka_t *producer;
        rd_kafka_t *consumer;
        int lock_fd;
        int32_t partition;
        int64_t pos;       /* next offset to read; -1: beginning */
        int64_t pos_saved; /* what replies.pos says */
        char pos_path[HOME_PATH_MAX];
        char inbox_path[HOME_PATH_MAX];
        char seen_path[HOME_PATH_MAX];
        struct session_item *items;
        size_t nitems, capitems;
        size_t nfresh; /* items at the end not yet in inbox.jsonl */
        char (*seen)[IDS_MSG_ID_LEN + 1];
        size_t nseen, capseen;
        size_t seen_file; /* msg_ids in the seen file */
        int fatal;        /* a consumer error we cannot go on after */
        char fatal_err[512];
        char kafka_err[512]; /* the last transient librdkafka error */
        int dr_failed;
        char dr_err[512];
};

/* --- requests ----------------------------------------------------------- */

/*
 * register, catalog.request and the evidence log's requests are keyed by
 * the user and name no file (docs/protocol.md, section 12).
 */
static int session_user_keyed(enum proto_type type)
{
        return type == PROTO_REGISTER || type == PROTO_CATALOG_REQUEST ||
               type == PROTO_LOG_HEAD_REQUEST ||
               type == PROTO_LOG_PROOF_REQUEST ||
               type == PROTO_LOG_CONSISTENCY_REQUEST;
}

int session_req_new(struct session_req *req, const struct cli_ctx *ctx,
                    enum proto_type type, json_t *body, const char *msg_id,
                    char *err, size_t errlen)
{
        const char *file_id = NULL;
        struct tbs_request t;
        char *tbs = NULL, *sig = NULL;
        size_t tbslen = 0;
        int ret = -1;

        memset(req, 0, sizeof(*req));
        req->type = type;
        if (body == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        if (msg_id != NULL)
                snprintf(req->msg_id, sizeof(req->msg_id), "%s", msg_id);
        else if (ids_msg_id_new(req->msg_id, err, errlen) == -1)
                goto done;
        if (!session_user_keyed(type)) {
                file_id = json_string_value(json_object_get(body, "file_id"));
                if (file_id == NULL ||
                    ids_check_file_id(file_id, err, errlen) == -1)
                        goto done;
                snprintf(req->file_id, sizeof(req->file_id), "%s", file_id);
        }
        snprintf(req->key, sizeof(req->key), "%s",
                 file_id != NULL ? file_id : ctx->cfg.user);
        if (proto_type_is_signed(type)) {
                memset(&t, 0, sizeof(t));
                t.type = proto_type_name(type);
                t.msg_id = req->msg_id;
                t.user = ctx->cfg.user;
                t.file_id = file_id;
                /* Proof of possession: register is signed by the key it
                 * registers (decision 14). */
                t.public_key_sha256 =
                    type == PROTO_REGISTER ? ctx->key_id : NULL;
                if (tbs_request(&t, &tbs, &tbslen, err, errlen) == -1 ||
                    (sig = cli_sign_b64(ctx->key, tbs, tbslen, err, errlen)) ==
                        NULL)
                        goto done;
        }
        req->value = proto_envelope_dump(type, req->msg_id, ctx->cfg.user, body,
                                         sig, &req->len, err, errlen);
        body = NULL; /* stolen */
        if (req->value == NULL)
                goto done;
        ret = 0;
done:
        json_decref(body);
        free(tbs);
        free(sig);
        if (ret == -1)
                session_req_fini(req);
        return ret;
}

void session_req_fini(struct session_req *req)
{
        if (req == NULL)
                return;
        free(req->value);
        memset(req, 0, sizeof(*req));
}

json_t *session_req_to_json(const struct session_req *req)
{
        return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type",
                         proto_type_name(req->type), "msg_id", req->msg_id,
                         "key", req->key, "file_id", req->file_id, "value",
                         req->value);
}

int session_req_from_json(struct session_req *req, const json_t *obj, char *err,
                          size_t errlen)
{
        const char *type = NULL, *msg_id = NULL, *key = NULL, *file_id = NULL,
                   *value = NULL;
        json_error_t jerr;

        memset(req, 0, sizeof(*req));
        if (json_unpack_ex((json_t *)obj, &jerr, JSON_STRICT,
                           "{s:s, s:s, s:s, s:s, s:s}", "type", &type, "msg_id",
                           &msg_id, "key", &key, "file_id", &file_id, "value",
                           &value) == -1 ||
            proto_type_from_name(type, &req->type) == -1 ||
            ids_check_msg_id(msg_id, NULL, 0) == -1 ||
            strlen(key) >= sizeof(req->key) ||
            strlen(file_id) >= sizeof(req->file_id)) {
                errbuf_set(err, errlen, "saved request: %s",
                           jerr.text[0] ? jerr.text : "malformed");
                return -1;
        }
        snprintf(req->msg_id, sizeof(req->msg_id), "%s", msg_id);
        snprintf(req->key, sizeof(req->key), "%s", key);
        snprintf(req->file_id, sizeof(req->file_id), "%s", file_id);
        if ((req->value = strdup(value)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                return -1;
        }
        req->len = strlen(value);
        return 0;
}

/* --- the seen msg_ids ----------------------------------------------------
 */

static int session_seen_has(const struct session *s, const char *msg_id)
{
        /* Newest first: a duplicate is usually recent. */
        for (size_t i = s->nseen; i > 0; i--)
                if (memcmp(s->seen[i - 1], msg_id, IDS_MSG_ID_LEN) == 0)
                        return 1;
        return 0;
}

static int session_seen_add(struct session *s, const char *msg_id)
{
        if (s->nseen == s->capseen) {
                size_t cap = s->capseen ? s->capseen * 2 : 256;
                void *p = realloc(s->seen, cap * sizeof(*s->seen));

                if (p == NULL)
                        return -1;
                s->seen = p;
                s->capseen = cap;
        }
        memcpy(s->seen[s->nseen], msg_id, IDS_MSG_ID_LEN + 1);
        s->nseen++;
        return 0;
}

/* Keep the newest SESSION_SEEN_KEEP in memory and in the file. */
static int session_seen_compact(struct session *s, char *err, size_t errlen)
{
        size_t drop, len = 0;
        char *buf = NULL;
        int ret = -1;

        if (s->nseen <= SESSION_SEEN_KEEP)
                return 0;
        drop = s->nseen - SESSION_SEEN_KEEP;
        memmove(s->seen, s->seen + drop, SESSION_SEEN_KEEP * sizeof(*s->seen));
        s->nseen = SESSION_SEEN_KEEP;
        if ((buf = malloc(s->nseen * (IDS_MSG_ID_LEN + 1) + 1)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < s->nseen; i++) {
                memcpy(buf + len, s->seen[i], IDS_MSG_ID_LEN);
                len += IDS_MSG_ID_LEN;
                buf[len++] = '\n';
        }
        if (home_write_atomic(s->seen_path, buf, len, 0600, err, errlen) == -1)
                goto done;
        s->seen_file = s->nseen;
        ret = 0;
done:
        free(buf);
        return ret;
}

static int session_seen_load(struct session *s, char *err, size_t errlen)
{
        char *text = NULL, *p, *eol;
        int ret = -1;

        text =
            home_read_file(s->seen_path, SESSION_SEEN_MAX, NULL, err, errlen);
        if (text == NULL)
                return errno == ENOENT ? 0 : -1;
        for (p = text; *p != '\0'; p = eol + 1) {
                if ((eol = strchr(p, '\n')) == NULL)
                        break; /* a torn last line: its reply is in the inbox
                                  or will be read again */
                *eol = '\0';
                if (ids_check_msg_id(p, NULL, 0) == 0 &&
                    session_seen_add(s, p) == -1) {
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
        }
        s->seen_file = s->nseen;
        ret = 0;
done:
        free(text);
        return ret;
}

/* --- the inbox ------------------------------------------------------------
 */

static void session_item_fini(struct session_item *it)
{
        free(it->line);
        memset(it, 0, sizeof(*it));
}

/*
 * Fill `it` from an inbox line {"received_at":T,"offset":N,"reply":ENV}.
 * `line` is stolen.
 */
static int session_item_parse(struct session_item *it, char *line, char *err,
                              size_t errlen)
{
        struct proto_msg msg;
        enum proto_code code;
        json_error_t jerr;
        json_t *root = NULL;
        const char *received = NULL;
        json_t *reply = NULL;
        json_int_t offset = 0;
        char *text = NULL;
        int ret = -1;

        memset(it, 0, sizeof(*it));
        memset(&msg, 0, sizeof(msg));
        it->line = line;
        if ((root = json_loads(line, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
            json_unpack_ex(root, &jerr, JSON_STRICT, "{s:s, s:I, s:o}",
                           "received_at", &received, "offset", &offset, "reply",
                           &reply) == -1) {
                errbuf_set(err, errlen, "%s", jerr.text);
                goto done;
        }
        if (ids_time_parse(received, &it->received, err, errlen) == -1)
                goto done;
        if ((text = json_dumps(reply, JSON_COMPACT)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        if (proto_decode(text, strlen(text), &msg, &code, err, errlen) == -1)
                goto done;
        memcpy(it->msg_id, msg.msg_id, sizeof(it->msg_id));
        it->type = msg.type;
        if (msg.f[PF_FILE_ID].present)
                snprintf(it->file_id, sizeof(it->file_id), "%s",
                         msg.f[PF_FILE_ID].str);
        if (msg.f[PF_NONCE].present)
                snprintf(it->nonce, sizeof(it->nonce), "%s",
                         msg.f[PF_NONCE].str);
        if (msg.f[PF_IN_REPLY_TO].present)
                snprintf(it->in_reply_to, sizeof(it->in_reply_to), "%s",
                         msg.f[PF_IN_REPLY_TO].str);
        ret = 0;
done:
        if (ret == -1) {
                it->line = NULL;
                free(line);
        }
        proto_msg_fini(&msg);
        free(text);
        json_decref(root);
        return ret;
}

static int session_items_push(struct session *s, const struct session_item *it)
{
        if (s->nitems == s->capitems) {
                size_t cap = s->capitems ? s->capitems * 2 : 32;
                void *p = realloc(s->items, cap * sizeof(*s->items));

                if (p == NULL)
                        return -1;
                s->items = p;
                s->capitems = cap;
        }
        s->items[s->nitems++] = *it;
        return 0;
}

static const struct session_item *session_inbox_find(const struct session *s,
                                                     const char *msg_id)
{
        for (size_t i = 0; i < s->nitems; i++)
                if (strcmp(s->items[i].msg_id, msg_id) == 0)
                        return &s->items[i];
        return NULL;
}

/* Rewrite inbox.jsonl from memory (after an ack, or to repair it). */
static int session_inbox_rewrite(struct session *s, char *err, size_t errlen)
{
        size_t len = 0, cap = 1;
        char *buf = NULL;
        int ret = -1;

        for (size_t i = 0; i < s->nitems; i++)
                cap += strlen(s->items[i].line) + 1;
        if ((buf = malloc(cap)) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        for (size_t i = 0; i < s->nitems; i++) {
                size_t n = strlen(s->items[i].line);

                memcpy(buf + len, s->items[i].line, n);
                len += n;
                buf[len++] = '\n';
        }
        if (home_write_atomic(s->inbox_path, buf, len, 0600, err, errlen) == -1)
                goto done;
        s->nfresh = 0;
        ret = 0;
done:
        free(buf);
        return ret;
}

static int session_inbox_load(struct session *s, char *err, size_t errlen)
{
        struct session_item it;
        char *text = NULL, *p, *eol, *line;
        char why[512];
        time_t now = time(NULL);
        int ret = -1, repair = 0;

        text =
            home_read_file(s->inbox_path, SESSION_INBOX_MAX, NULL, err, errlen);
        if (text == NULL)
                return errno == ENOENT ? 0 : -1;
        for (p = text; *p != '\0'; p = eol + 1) {
                if ((eol = strchr(p, '\n')) == NULL) {
                        /* Torn by a crash before its fsync: the reply was
                         * never marked seen, it will be read again. */
                        repair = 1;
                        break;
                }
                *eol = '\0';
                if ((line = strdup(p)) == NULL) {
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
                if (session_item_parse(&it, line, why, sizeof(why)) == -1) {
                        cli_note("%s: dropping a line that does not "
                                 "decode: %s",
                                 s->inbox_path, why);
                        repair = 1;
                        continue;
                }
                /* A crash between the inbox and the seen file can leave a
                 * reply twice. */
                if (session_inbox_find(s, it.msg_id) != NULL) {
                        session_item_fini(&it);
                        repair = 1;
                        continue;
                }
                if ((it.type == PROTO_ERROR || it.type == PROTO_CATALOG ||
                     it.type == PROTO_REGISTER_RESULT) &&
                    now - it.received > SESSION_STALE_SECS) {
                        cli_note("inbox: dropping a stale %s (msg_id %s)",
                                 proto_type_name(it.type), it.msg_id);
                        session_item_fini(&it);
                        repair = 1;
                        continue;
                }
                if (!session_seen_has(s, it.msg_id) &&
                    session_seen_add(s, it.msg_id) == -1) {
                        session_item_fini(&it);
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
                if (session_items_push(s, &it) == -1) {
                        session_item_fini(&it);
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
        }
        if (repair && session_inbox_rewrite(s, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        free(text);
        return ret;
}

/* Append `len` bytes to `path` and fsync. */
static int session_append(const char *path, const char *buf, size_t len,
                          char *err, size_t errlen)
{
        size_t done = 0;
        int fd, ret = -1;

        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                  0600);
        if (fd == -1) {
                errbuf_set(err, errlen, "open %s: %s", path, strerror(errno));
                return -1;
        }
        while (done < len) {
                ssize_t w = write(fd, buf + done, len - done);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w < 0) {
                        errbuf_set(err, errlen, "write %s: %s", path,
                                   strerror(errno));
                        goto done;
                }
                done += (size_t)w;
        }
        if (fsync(fd) == -1) {
                errbuf_set(err, errlen, "fsync %s: %s", path, strerror(errno));
                goto done;
        }
        ret = 0;
done:
        close(fd);
        return ret;
}

/*
 * Make what was read durable, in the order that loses nothing: the new
 * replies into the inbox, their msg_ids into the seen file, and only
 * then the position past them.
 */
static int session_persist(struct session *s, char *err, size_t errlen)
{
        char *buf = NULL, posbuf[KAFKA_TOPIC_MAX + 64];
        size_t len = 0, cap = 1, first = s->nitems - s->nfresh;
        int n, ret = -1;

        if (s->nfresh > 0) {
                for (size_t i = first; i < s->nitems; i++)
                        cap += strlen(s->items[i].line) + 1;
                if ((buf = malloc(cap)) == NULL) {
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
                for (size_t i = first; i < s->nitems; i++) {
                        size_t l = strlen(s->items[i].line);

                        memcpy(buf + len, s->items[i].line, l);
                        len += l;
                        buf[len++] = '\n';
                }
                if (session_append(s->inbox_path, buf, len, err, errlen) == -1)
                        goto done;
                s->nfresh = 0;
        }
        if (s->nseen > s->seen_file) {
                free(buf);
                len = 0;
                buf = malloc((s->nseen - s->seen_file) * (IDS_MSG_ID_LEN + 1) +
                             1);
                if (buf == NULL) {
                        errbuf_set(err, errlen, "out of memory");
                        goto done;
                }
                for (size_t i = s->seen_file; i < s->nseen; i++) {
                        memcpy(buf + len, s->seen[i], IDS_MSG_ID_LEN);
                        len += IDS_MSG_ID_LEN;
                        buf[len++] = '\n';
                }
                if (session_append(s->seen_path, buf, len, err, errlen) == -1)
                        goto done;
                s->seen_file = s->nseen;
                if (s->nseen > 2 * SESSION_SEEN_KEEP &&
                    session_seen_compact(s, err, errlen) == -1)
                        goto done;
        }
        if (s->pos != s->pos_saved && s->pos >= 0) {
                n = snprintf(posbuf, sizeof(posbuf),
                             "%s %" PRId32 " %" PRId64 "\n", s->topics.replies,
                             s->partition, s->pos);
                if (home_write_atomic(s->pos_path, posbuf, (size_t)n, 0600, err,
                                      errlen) == -1)
                        goto done;
                s->pos_saved = s->pos;
        }
        ret = 0;
done:
        free(buf);
        return ret;
}

/* replies.pos: "<topic> <partition> <next offset>" for this partition. */
static int session_pos_load(struct session *s, char *err, size_t errlen)
{
        char topic[KAFKA_TOPIC_MAX], *text;
        long long offset;
        int partition;

        s->pos = -1;
        s->pos_saved = -1;
        text = home_read_file(s->pos_path, 4096, NULL, err, errlen);
        if (text == NULL)
                return errno == ENOENT ? 0 : -1;
        if (sscanf(text, "%199s %d %lld", topic, &partition, &offset) != 3 ||
            offset < 0) {
                fprintf(stderr,
                        "tds: warning: %s is not \"topic partition "
                        "offset\": reading the replies from the beginning\n",
                        s->pos_path);
        } else if (strcmp(topic, s->topics.replies) != 0 ||
                   partition != s->partition) {
                cli_note("%s is for %s [%d]; my replies are now in %s "
                         "[%" PRId32 "]: reading from the beginning",
                         s->pos_path, topic, partition, s->topics.replies,
                         s->partition);
        } else {
                s->pos = offset;
                s->pos_saved = offset;
        }
        free(text);
        return 0;
}

/* --- Kafka ----------------------------------------------------------------
 */

static void session_on_log(const rd_kafka_t *rk, int level, const char *fac,
                           const char *buf)
{
        (void)rk;
        /* Quiet by default: the command says what failed.  -v shows
         * librdkafka's warnings, -vv everything. */
        if (cli_opts.verbose >= 2 || (cli_opts.verbose >= 1 && level <= 4))
                log_debug("kafka: %s: %s", fac, buf);
}

static void session_on_error(rd_kafka_t *rk, int code, const char *reason,
                             void *opaque)
{
        struct session *s = opaque;

        (void)rk;
        (void)code;
        snprintf(s->kafka_err, sizeof(s->kafka_err), "%s", reason);
        if (cli_opts.verbose >= 1)
                log_debug("kafka: %s", reason);
}

static void session_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m,
                                void *opaque)
{
        struct session *s = opaque;

        (void)rk;
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                s->dr_failed = 1;
                snprintf(s->dr_err, sizeof(s->dr_err), "%s",
                         rd_kafka_err2str(m->err));
        }
}

/* A configuration with the user's kafka.* properties over our defaults. */
static rd_kafka_conf_t *session_conf(struct session *s, int producer, char *err,
                                     size_t errlen)
{
        const struct cfg *cfg = &s->ctx->cfg;
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        char group[IDS_USER_MAX + 16], tmo[32];
        long ms = s->ctx->timeout * 1000;

        snprintf(group, sizeof(group), "tds-client-%s", cfg->user);
        snprintf(tmo, sizeof(tmo), "%ld", ms);
        rd_kafka_conf_set_opaque(conf, s);
        rd_kafka_conf_set_log_cb(conf, session_on_log);
        rd_kafka_conf_set_error_cb(conf, session_on_error);
        if (kafka_conf_set(conf, "client.id", group, err, errlen) == -1)
                goto fail;
        if (producer) {
                rd_kafka_conf_set_dr_msg_cb(conf, session_on_delivery);
                if (kafka_conf_set(conf, "enable.idempotence", "true", err,
                                   errlen) == -1 ||
                    kafka_conf_set(conf, "partitioner", "murmur2_random", err,
                                   errlen) == -1 ||
                    kafka_conf_set(conf, "linger.ms", "0", err, errlen) == -1 ||
                    kafka_conf_set(conf, "message.timeout.ms", tmo, err,
                                   errlen) == -1)
                        goto fail;
        } else {
                /* assign() needs a group.id, but none is joined: nothing
                 * is committed, the position lives in replies.pos. */
                if (kafka_conf_set(conf, "group.id", group, err, errlen) ==
                        -1 ||
                    kafka_conf_set(conf, "enable.auto.commit", "false", err,
                                   errlen) == -1 ||
                    kafka_conf_set(conf, "enable.auto.offset.store", "false",
                                   err, errlen) == -1 ||
                    kafka_conf_set(conf, "enable.partition.eof", "true", err,
                                   errlen) == -1 ||
                    kafka_conf_set(conf, "auto.offset.reset", "error", err,
                                   errlen) == -1 ||
                    kafka_conf_set(conf, "fetch.wait.max.ms", "100", err,
                                   errlen) == -1)
                        goto fail;
        }
        for (size_t i = 0; i < cfg->nprops; i++) {
                /* The other client type's properties would only warn. */
                rd_kafka_conf_res_t r;
                char why[512];

                r = rd_kafka_conf_set(conf, cfg->props[i].key,
                                      cfg->props[i].value, why, sizeof(why));
                if (r != RD_KAFKA_CONF_OK) {
                        errbuf_set(err, errlen, "config kafka.%s: %s",
                                   cfg->props[i].key, why);
                        goto fail;
                }
        }
        return conf;
fail:
        rd_kafka_conf_destroy(conf);
        return NULL;
}

/* "cannot reach the Kafka broker at X" with librdkafka's last word. */
static void session_broker_err(struct session *s, const char *doing,
                               const char *why, char *err, size_t errlen)
{
        errbuf_set(err, errlen,
                   "cannot reach the Kafka broker at %s (%s: %s); is the "
                   "stack up? see scripts/tds-stack status",
                   s->bootstrap, doing,
                   s->kafka_err[0] != '\0' ? s->kafka_err : why);
}

/* The partition count of the replies topic; SESSION_TIMEOUT if the
 * broker does not answer within `ms`. */
static enum session_status session_partitions(struct session *s, int ms,
                                              int32_t *count, char *err,
                                              size_t errlen)
{
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_topic_t *rkt = NULL;
        rd_kafka_resp_err_t kerr;
        enum session_status ret = SESSION_ERR;

        if ((rkt = rd_kafka_topic_new(s->consumer, s->topics.replies, NULL)) ==
            NULL) {
                errbuf_set(err, errlen, "topic %s: %s", s->topics.replies,
                           rd_kafka_err2str(rd_kafka_last_error()));
                goto done;
        }
        kerr = rd_kafka_metadata(s->consumer, 0, rkt, &md, ms);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                session_broker_err(s, "metadata", rd_kafka_err2str(kerr), err,
                                   errlen);
                ret = SESSION_TIMEOUT;
                goto done;
        }
        if (md->topic_cnt != 1 || md->topics[0].err != 0 ||
            md->topics[0].partition_cnt < 1) {
                errbuf_set(err, errlen,
                           "the broker at %s has no topic %s (%s): is "
                           "topic_prefix in the config the TTP's?",
                           s->bootstrap, s->topics.replies,
                           md->topic_cnt == 1
                               ? rd_kafka_err2str(md->topics[0].err)
                               : "not in the metadata");
                goto done;
        }
        *count = md->topics[0].partition_cnt;
        ret = SESSION_OK;
done:
        if (md != NULL)
                rd_kafka_metadata_destroy(md);
        if (rkt != NULL)
                rd_kafka_topic_destroy(rkt);
        return ret;
}

static int session_lock(struct session *s, char *err, size_t errlen)
{
        char path[HOME_PATH_MAX];
        int64_t deadline = cli_now_ms() + s->ctx->timeout * 1000;
        int said = 0;

        if (home_path(s->ctx->home, "lock", path, sizeof(path), err, errlen) ==
            -1)
                return -1;
        s->lock_fd =
            open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (s->lock_fd == -1) {
                errbuf_set(err, errlen, "open %s: %s", path, strerror(errno));
                return -1;
        }
        while (flock(s->lock_fd, LOCK_EX | LOCK_NB) == -1) {
                if (errno != EWOULDBLOCK && errno != EINTR) {
                        errbuf_set(err, errlen, "flock %s: %s", path,
                                   strerror(errno));
                        return -1;
                }
                if (cli_now_ms() >= deadline) {
                        errbuf_set(err, errlen,
                                   "another tds process is using %s (it "
                                   "holds %s); wait for it to finish",
                                   s->ctx->home, path);
                        return -1;
                }
                if (!said++)
                        cli_note("waiting for another tds process on %s",
                                 s->ctx->home);
                usleep(100 * 1000);
        }
        return 0;
}

enum session_status session_open(struct session **out,
                                 const struct cli_ctx *ctx, char *err,
                                 size_t errlen)
{
        rd_kafka_topic_partition_list_t *parts = NULL;
        rd_kafka_conf_t *conf = NULL;
        struct session *s = NULL;
        enum session_status st = SESSION_ERR;
        rd_kafka_resp_err_t kerr;
        int64_t lo = 0, hi = 0;
        int32_t count = 0;
        char kerrstr[512];
        int ms;

        *out = NULL;
        if ((s = calloc(1, sizeof(*s))) == NULL) {
                errbuf_set(err, errlen, "out of memory");
                return SESSION_ERR;
        }
        *out = s;
        s->ctx = ctx;
        s->lock_fd = -1;
        s->bootstrap = cfg_prop_get(&ctx->cfg, "bootstrap.servers");
        if (kafka_topics_init(&s->topics, ctx->cfg.topic_prefix, err, errlen) ==
                -1 ||
            home_path(ctx->home, "replies.pos", s->pos_path,
                      sizeof(s->pos_path), err, errlen) == -1 ||
            home_path(ctx->home, "inbox.jsonl", s->inbox_path,
                      sizeof(s->inbox_path), err, errlen) == -1 ||
            home_path(ctx->home, "seen", s->seen_path, sizeof(s->seen_path),
                      err, errlen) == -1)
                goto done;
        if (session_lock(s, err, errlen) == -1 ||
            session_seen_load(s, err, errlen) == -1 ||
            session_inbox_load(s, err, errlen) == -1)
                goto done;
        if ((conf = session_conf(s, 0, err, errlen)) == NULL)
                goto done;
        if ((s->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerrstr,
                                        sizeof(kerrstr))) == NULL) {
                kafka_new_error(err, errlen, "Kafka consumer", kerrstr, conf);
                goto done;
        }
        conf = NULL;
        ms = ctx->timeout * 1000 < SESSION_METADATA_MAX
                 ? (int)ctx->timeout * 1000
                 : SESSION_METADATA_MAX;
        cli_note("connecting to the Kafka broker at %s", s->bootstrap);
        if ((st = session_partitions(s, ms, &count, err, errlen)) != SESSION_OK)
                goto done;
        st = SESSION_ERR;
        s->partition = kafka_reply_partition(ctx->cfg.user, count);
        if (session_pos_load(s, err, errlen) == -1)
                goto done;
        kerr = rd_kafka_query_watermark_offsets(s->consumer, s->topics.replies,
                                                s->partition, &lo, &hi, ms);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                session_broker_err(s, "offsets", rd_kafka_err2str(kerr), err,
                                   errlen);
                st = SESSION_TIMEOUT;
                goto done;
        }
        if (s->pos >= 0 && (s->pos > hi || s->pos < lo)) {
                /* Not silently: either the broker lost its log (a reset
                 * local broker) or replies expired unread. */
                fprintf(stderr,
                        "tds: warning: %s [%" PRId32 "] holds offsets %" PRId64
                        " to %" PRId64 " but %s had read up to %" PRId64
                        "; the broker was reset or replies expired unread; "
                        "reading all it holds (duplicates are dropped)\n",
                        s->topics.replies, s->partition, lo, hi, s->pos_path,
                        s->pos);
                s->pos = -1;
        }
        cli_note("reading my replies from %s [%" PRId32 "] at %s%" PRId64,
                 s->topics.replies, s->partition,
                 s->pos >= 0 ? "offset " : "the beginning, offset ",
                 s->pos >= 0 ? s->pos : lo);
        parts = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(parts, s->topics.replies,
                                          s->partition)
            ->offset = s->pos >= 0 ? s->pos : RD_KAFKA_OFFSET_BEGINNING;
        if ((kerr = rd_kafka_assign(s->consumer, parts)) !=
            RD_KAFKA_RESP_ERR_NO_ERROR) {
                errbuf_set(err, errlen, "assign %s [%" PRId32 "]: %s",
                           s->topics.replies, s->partition,
                           rd_kafka_err2str(kerr));
                goto done;
        }
        st = SESSION_OK;
done:
        if (parts != NULL)
                rd_kafka_topic_partition_list_destroy(parts);
        if (conf != NULL)
                rd_kafka_conf_destroy(conf);
        return st;
}

void session_free(struct session *s)
{
        if (s == NULL)
                return;
        if (s->producer != NULL) {
                /* Re-sends still queued for a dead broker must not hold
                 * the exit; the first send of each was flushed. */
                rd_kafka_flush(s->producer, 1000);
                rd_kafka_purge(s->producer, RD_KAFKA_PURGE_F_QUEUE |
                                                RD_KAFKA_PURGE_F_INFLIGHT);
                rd_kafka_destroy(s->producer);
        }
        if (s->consumer != NULL) {
                rd_kafka_consumer_close(s->consumer);
                rd_kafka_destroy(s->consumer);
        }
        for (size_t i = 0; i < s->nitems; i++)
                session_item_fini(&s->items[i]);
        free(s->items);
        free(s->seen);
        if (s->lock_fd != -1)
                close(s->lock_fd);
        free(s);
}

/* --- reading replies ------------------------------------------------------
 */

/* One consumed record: into the inbox if it is a new reply for me. */
static int session_take(struct session *s, const rd_kafka_message_t *m,
                        char *err, size_t errlen)
{
        struct session_item it;
        struct proto_msg msg;
        enum proto_code code;
        char why[512], when[IDS_TIME_LEN + 1];
        json_t *wrap = NULL, *reply = NULL;
        json_error_t jerr;
        char *line = NULL;
        int ret = -1;

        memset(&msg, 0, sizeof(msg));
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                s->pos = m->offset;
                return 0;
        }
        if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
                if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
                    m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE) {
                        s->fatal = 1;
                        snprintf(s->fatal_err, sizeof(s->fatal_err),
                                 "%s [%" PRId32 "]: %s", s->topics.replies,
                                 s->partition, rd_kafka_message_errstr(m));
                }
                snprintf(s->kafka_err, sizeof(s->kafka_err), "%s",
                         rd_kafka_message_errstr(m));
                log_debug("kafka consumer: %s", rd_kafka_message_errstr(m));
                return 0;
        }
        s->pos = m->offset + 1;
        if (proto_decode(m->payload, m->len, &msg, &code, why, sizeof(why)) ==
            -1) {
                if (msg.attributable && strcmp(msg.user, s->ctx->cfg.user) == 0)
                        cli_note("%s [%" PRId32 "] offset %" PRId64
                                 ": skipping a reply that does not decode: "
                                 "%s",
                                 s->topics.replies, s->partition, m->offset,
                                 why);
                ret = 0;
                goto done;
        }
        if (strcmp(msg.user, s->ctx->cfg.user) != 0 ||
            proto_type_is_request(msg.type)) {
                ret = 0; /* another user's, or not a TTP message */
                goto done;
        }
        if (session_seen_has(s, msg.msg_id) ||
            session_inbox_find(s, msg.msg_id) != NULL) {
                cli_note("offset %" PRId64 ": %s %s already seen, dropped",
                         m->offset, proto_type_name(msg.type), msg.msg_id);
                ret = 0;
                goto done;
        }
        if ((reply = json_loadb(m->payload, m->len, JSON_REJECT_DUPLICATES,
                                &jerr)) == NULL ||
            ids_time_format(time(NULL), when, NULL, 0) == -1 ||
            (wrap = json_pack("{s:s, s:I, s:O}", "received_at", when, "offset",
                              (json_int_t)m->offset, "reply", reply)) == NULL ||
            (line = json_dumps(wrap, JSON_COMPACT | JSON_PRESERVE_ORDER)) ==
                NULL) {
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        if (session_item_parse(&it, line, why, sizeof(why)) == -1) {
                line = NULL;
                cli_note("offset %" PRId64 ": %s", m->offset, why);
                ret = 0;
                goto done;
        }
        line = NULL;
        if (session_items_push(s, &it) == -1 ||
            session_seen_add(s, it.msg_id) == -1) {
                session_item_fini(&it);
                errbuf_set(err, errlen, "out of memory");
                goto done;
        }
        s->nfresh++;
        cli_note("received %s%s%s (offset %" PRId64 ")",
                 proto_type_name(it.type), it.file_id[0] ? " for " : "",
                 it.file_id, m->offset);
        ret = 0;
done:
        proto_msg_fini(&msg);
        json_decref(reply);
        json_decref(wrap);
        free(line);
        return ret;
}

/* Poll up to `ms` for replies, then everything already there; persist. */
static int session_poll(struct session *s, int ms, char *err, size_t errlen)
{
        rd_kafka_message_t *m;
        int n = 0, ret = 0;

        if (s->producer != NULL)
                rd_kafka_poll(s->producer, 0);
        while (n < SESSION_BATCH &&
               (m = rd_kafka_consumer_poll(s->consumer, n == 0 ? ms : 0)) !=
                   NULL) {
                ret = session_take(s, m, err, errlen);
                rd_kafka_message_destroy(m);
                if (ret == -1)
                        break;
                n++;
        }
        if (session_persist(s, err, errlen) == -1)
                return -1;
        if (ret == 0 && s->fatal) {
                errbuf_set(err, errlen,
                           "%s; remove %s to read the partition from its "
                           "start",
                           s->fatal_err, s->pos_path);
                return -1;
        }
        return ret;
}

static int session_item_matches(const struct session_item *it,
                                const struct session_match *m)
{
        if (it->type != m->type)
                return 0;
        if (m->file_id != NULL && strcmp(it->file_id, m->file_id) != 0)
                return 0;
        if (m->nonce != NULL && strcmp(it->nonce, m->nonce) != 0)
                return 0;
        return 1;
}

int session_inbox_get(const struct session *s, size_t i, struct proto_msg *msg,
                      char *err, size_t errlen)
{
        enum proto_code code;
        json_error_t jerr;
        json_t *root = NULL;
        char *text = NULL;
        int ret = -1;

        memset(msg, 0, sizeof(*msg));
        if (i >= s->nitems) {
                errbuf_set(err, errlen, "no inbox item %zu", i);
                return -1;
        }
        if ((root = json_loads(s->items[i].line, 0, &jerr)) == NULL ||
            (text = json_dumps(json_object_get(root, "reply"),
                               JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL) {
                errbuf_set(err, errlen, "inbox: cannot re-read %s",
                           s->items[i].msg_id);
                goto done;
        }
        if (proto_decode(text, strlen(text), msg, &code, err, errlen) == -1)
                goto done;
        ret = 0;
done:
        free(text);
        json_decref(root);
        return ret;
}

size_t session_inbox_count(const struct session *s)
{
        return s->nitems;
}

enum proto_type session_inbox_type(const struct session *s, size_t i)
{
        return s->items[i].type;
}

const char *session_inbox_msg_id(const struct session *s, size_t i)
{
        return s->items[i].msg_id;
}

int session_ack(struct session *s, const char *msg_id, char *err, size_t errlen)
{
        for (size_t i = 0; i < s->nitems; i++) {
                if (strcmp(s->items[i].msg_id, msg_id) != 0)
                        continue;
                /* Everything read is persisted before a command sees it. */
                session_item_fini(&s->items[i]);
                memmove(&s->items[i], &s->items[i + 1],
                        (s->nitems - i - 1) * sizeof(*s->items));
                s->nitems--;
                return session_inbox_rewrite(s, err, errlen);
        }
        return 0;
}

int session_discard(struct session *s, enum proto_type type,
                    const char *file_id, char *err, size_t errlen)
{
        struct session_match m = {type, file_id, NULL};
        size_t j = 0;
        int n = 0;

        for (size_t i = 0; i < s->nitems; i++) {
                if (session_item_matches(&s->items[i], &m)) {
                        cli_note("inbox: dropping an earlier %s for %s",
                                 proto_type_name(type),
                                 s->items[i].file_id[0] ? s->items[i].file_id
                                                        : "-");
                        session_item_fini(&s->items[i]);
                        n++;
                        continue;
                }
                s->items[j++] = s->items[i];
        }
        s->nitems = j;
        if (n > 0 && session_inbox_rewrite(s, err, errlen) == -1)
                return -1;
        return n;
}

/* --- sending and waiting --------------------------------------------------
 */

static int session_produce(struct session *s, const struct session_req *req,
                           char *err, size_t errlen)
{
        rd_kafka_conf_t *conf;
        rd_kafka_resp_err_t kerr;
        char kerrstr[512];

        if (s->producer == NULL) {
                if ((conf = session_conf(s, 1, err, errlen)) == NULL)
                        return -1;
                if ((s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf,
                                                kerrstr, sizeof(kerrstr))) ==
                    NULL) {
                        kafka_new_error(err, errlen, "Kafka producer", kerrstr,
                                        conf);
                        rd_kafka_conf_destroy(conf);
                        return -1;
                }
        }
        kerr = rd_kafka_producev(
            s->producer, RD_KAFKA_V_TOPIC(s->topics.requests),
            RD_KAFKA_V_KEY(req->key, strlen(req->key)),
            RD_KAFKA_V_VALUE(req->value, req->len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                errbuf_set(err, errlen, "cannot queue %s for %s: %s",
                           proto_type_name(req->type), s->topics.requests,
                           rd_kafka_err2str(kerr));
                return -1;
        }
        return 0;
}

enum session_status session_send(struct session *s,
                                 const struct session_req *req, char *err,
                                 size_t errlen)
{
        rd_kafka_resp_err_t kerr;

        s->dr_failed = 0;
        if (session_produce(s, req, err, errlen) == -1)
                return SESSION_ERR;
        cli_note("sent %s%s%s (msg_id %s)", proto_type_name(req->type),
                 req->file_id[0] ? " for " : "", req->file_id, req->msg_id);
        kerr = rd_kafka_flush(s->producer, (int)s->ctx->timeout * 1000);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR || s->dr_failed) {
                session_broker_err(s, "sending",
                                   s->dr_failed ? s->dr_err
                                                : rd_kafka_err2str(kerr),
                                   err, errlen);
                return SESSION_TIMEOUT;
        }
        return SESSION_OK;
}

/* After a wait in vain: was it the broker or the TTP? */
static void session_blame(struct session *s, const char *what, char *err,
                          size_t errlen)
{
        int32_t count;
        char why[512];

        if (s->dr_failed) {
                session_broker_err(s, "sending", s->dr_err, err, errlen);
                return;
        }
        s->kafka_err[0] = '\0';
        if (session_partitions(s, SESSION_PROBE_MS, &count, why, sizeof(why)) ==
            SESSION_TIMEOUT) {
                snprintf(err, errlen, "%s", why);
                return;
        }
        errbuf_set(err, errlen,
                   "no reply from the TTP within %ld s (waiting for %s); "
                   "the broker at %s is up, the TTP daemon may not be: see "
                   "scripts/tds-stack status, or try a longer --timeout",
                   s->ctx->timeout, what, s->bootstrap);
}

enum session_status
session_wait(struct session *s, const struct session_match *m, size_t nm,
             const struct session_req *req, const char *what, int *which,
             struct proto_msg *msg, char *err, size_t errlen)
{
        int64_t now = cli_now_ms();
        int64_t deadline = now + s->ctx->timeout * 1000;
        int64_t resend = now + SESSION_RESEND_MS;

        memset(msg, 0, sizeof(*msg));
        for (;;) {
                for (size_t i = 0; i < s->nitems; i++) {
                        const struct session_item *it = &s->items[i];
                        int hit = -2;

                        for (size_t k = 0; k < nm && hit == -2; k++)
                                if (session_item_matches(it, &m[k]))
                                        hit = (int)k;
                        if (hit == -2 && req != NULL &&
                            it->type == PROTO_ERROR &&
                            strcmp(it->in_reply_to, req->msg_id) == 0)
                                hit = -1;
                        if (hit == -2)
                                continue;
                        if (session_inbox_get(s, i, msg, err, errlen) == -1)
                                return SESSION_ERR;
                        *which = hit;
                        return SESSION_OK;
                }
                now = cli_now_ms();
                if (now >= deadline)
                        break;
                if (req != NULL && now >= resend) {
                        cli_note("no answer yet: sending %s again (same "
                                 "msg_id, a retry)",
                                 proto_type_name(req->type));
                        if (session_produce(s, req, err, errlen) == -1)
                                return SESSION_ERR;
                        resend = now + SESSION_RESEND_MS;
                }
                if (session_poll(s,
                                 (int)(deadline - now < SESSION_POLL_MS
                                           ? deadline - now
                                           : SESSION_POLL_MS),
                                 err, errlen) == -1)
                        return SESSION_ERR;
        }
        session_blame(s, what, err, errlen);
        return SESSION_TIMEOUT;
}

enum session_status session_collect(struct session *s, char *err, size_t errlen)
{
        int64_t deadline = cli_now_ms() + s->ctx->timeout * 1000;
        int64_t lo = 0, hi = 0;
        rd_kafka_resp_err_t kerr;

        kerr = rd_kafka_query_watermark_offsets(s->consumer, s->topics.replies,
                                                s->partition, &lo, &hi,
                                                (int)s->ctx->timeout * 1000);
        if (kerr != RD_KAFKA_RESP_ERR_NO_ERROR) {
                session_broker_err(s, "offsets", rd_kafka_err2str(kerr), err,
                                   errlen);
                return SESSION_TIMEOUT;
        }
        /* Up to what the partition held when we asked, not to an end
         * that busy users keep moving. */
        while (hi > lo && s->pos < hi) {
                if (cli_now_ms() >= deadline) {
                        session_broker_err(s, "reading replies",
                                           "timed out before the end of the "
                                           "partition",
                                           err, errlen);
                        return SESSION_TIMEOUT;
                }
                if (session_poll(s, SESSION_POLL_MS, err, errlen) == -1)
                        return SESSION_ERR;
        }
        return SESSION_OK;
}

enum session_status
session_call(struct session *s, const struct session_req *req,
             const struct session_match *m, size_t nm, const char *what,
             int *which, struct proto_msg *msg, char *err, size_t errlen)
{
        enum session_status st;

        memset(msg, 0, sizeof(*msg));
        if ((st = session_send(s, req, err, errlen)) != SESSION_OK)
                return st;
        return session_wait(s, m, nm, req, what, which, msg, err, errlen);
}

int session_exit_code(enum session_status st)
{
        return st == SESSION_TIMEOUT ? CLI_EXIT_TIMEOUT : CLI_EXIT_FAIL;
}

enum session_status session_fresh(struct session *s,
                                  const enum proto_type *types, size_t n,
                                  const char *file_id, char *err, size_t errlen)
{
        enum session_status st;

        if ((st = session_collect(s, err, errlen)) != SESSION_OK)
                return st;
        for (size_t i = 0; i < n; i++)
                if (session_discard(s, types[i], file_id, err, errlen) == -1)
                        return SESSION_ERR;
        return SESSION_OK;
}

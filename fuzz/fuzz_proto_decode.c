/*
 * fuzz_proto_decode: proto_decode() on hostile bytes, as the TTP and the
 * client meet them on a Kafka topic.
 *
 * Invariants (abort() when broken):
 *   - on success msg_id is 32 lowercase hex, user passes ids_check_user()
 *     and the message is attributable;
 *   - on failure, an attributable message still has a valid msg_id/user;
 *   - a request type gives a request TBS;
 *   - re-encoding a decoded message with proto_envelope_dump() succeeds and
 *     decodes again to the same type, msg_id and user.
 */
#include "hex.h"
#include "ids.h"
#include "proto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_ids(const struct proto_msg *msg)
{
        if (!hex_is_lower(msg->msg_id, IDS_MSG_ID_LEN) ||
            ids_check_msg_id(msg->msg_id, NULL, 0) == -1 ||
            ids_check_user(msg->user, NULL, 0) == -1)
                abort();
}

/* Dump the decoded message again and decode the result. */
static void fuzz_reencode(const struct proto_msg *msg)
{
        struct proto_msg again;
        enum proto_code code;
        json_t *body;
        char err[256], *out;
        size_t len;

        body = json_deep_copy(json_object_get(msg->root, "body"));
        if (body == NULL)
                abort();
        out = proto_envelope_dump(msg->type, msg->msg_id, msg->user, body,
                                  msg->sig.present ? msg->sig.str : NULL, &len,
                                  err, sizeof(err));
        if (out == NULL || len != strlen(out))
                abort();
        if (proto_decode(out, len, &again, &code, err, sizeof(err)) == -1)
                abort();
        if (again.type != msg->type || strcmp(again.msg_id, msg->msg_id) != 0 ||
            strcmp(again.user, msg->user) != 0 ||
            again.sig.present != msg->sig.present)
                abort();
        proto_msg_fini(&again);
        free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct proto_msg msg;
        enum proto_code code;
        char err[256], *tbs = NULL;
        size_t tbslen;

        if (proto_decode(data, size, &msg, &code, err, sizeof(err)) == -1) {
                if (code != PROTO_BAD_JSON && code != PROTO_BAD_SCHEMA &&
                    code != PROTO_TOO_LARGE)
                        abort();
                if (msg.attributable)
                        fuzz_check_ids(&msg);
                proto_msg_fini(&msg);
                return 0;
        }
        if (code != PROTO_OK || !msg.attributable ||
            proto_type_name(msg.type) == NULL)
                abort();
        fuzz_check_ids(&msg);
        if (proto_type_is_request(msg.type)) {
                if (proto_request_tbs(&msg, &tbs, &tbslen, err, sizeof(err)) ==
                        -1 ||
                    tbs == NULL || tbslen != strlen(tbs))
                        abort();
                free(tbs);
        }
        fuzz_reencode(&msg);
        proto_msg_fini(&msg);
        return 0;
}

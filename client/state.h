/*
 * state: the client's local records of its exchanges, one JSON file per
 * exchange, written atomically:
 *
 *   <home>/uploads/<file_id>.json               one per upload
 *   <home>/downloads/<file_id>.<msg_id>.json    one per download attempt
 *                                               (msg_id of its request)
 *
 * A record says where the exchange stands ("state": in_progress, done,
 * aborted, failed; "stage": the last protocol step taken) and keeps what
 * a later command needs: the requests as sent (re-sent unchanged to
 * resume after a crash or a timeout), the nonces, the NRO, the
 * receipts collected.  Records hold no secrets.
 */
#ifndef TDS_CLIENT_STATE_H
#define TDS_CLIENT_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define STATE_IN_PROGRESS "in_progress"
#define STATE_DONE        "done"
#define STATE_ABORTED     "aborted"
#define STATE_FAILED      "failed"

enum state_kind { STATE_UPLOAD, STATE_DOWNLOAD };

/*
 * The upload record of `file_id`: 0 and a new reference in `*rec`, or
 * 0 and NULL when there is none; -1 when it cannot be read.
 */
int state_upload_load(const char *home, const char *file_id, json_t **rec,
                      char *err, size_t errlen);

/*
 * Save `rec` (borrowed) as the record of `file_id` (an upload) or of
 * `file_id` + `msg_id` (a download), setting its updated_at (and
 * created_at the first time).
 */
int state_save(const char *home, enum state_kind kind, const char *file_id,
               const char *msg_id, json_t *rec, char *err, size_t errlen);

/*
 * The newest download record of `file_id` that is still in progress:
 * 0 with a new reference or NULL.
 */
int state_download_active(const char *home, const char *file_id, json_t **rec,
                          char *err, size_t errlen);

/* Every record of `kind`, oldest first, as a new JSON array. */
int state_list(const char *home, enum state_kind kind, json_t **out, char *err,
               size_t errlen);

/* rec[key] as a string, or NULL (borrowed). */
const char *state_str(const json_t *rec, const char *key);
/* Set rec[key] to the string `value` (NULL: remove it). */
int state_set_str(json_t *rec, const char *key, const char *value);

#endif

/*
 * ids: the identifiers and times of the contract: validation of `user`,
 * `file_id` and `msg_id`, generation of msg_ids and UUIDs, and RFC 3339 UTC
 * times of the one form "YYYY-MM-DDTHH:MM:SSZ".
 */
#ifndef TDS_IDS_H
#define TDS_IDS_H

#include <stddef.h>
#include <time.h>

#define IDS_USER_MAX    64 /* characters */
#define IDS_FILE_ID_MAX 64 /* characters */
#define IDS_MSG_ID_LEN  32 /* lowercase hex characters */
#define IDS_UUID_LEN    36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" */
#define IDS_TIME_LEN    20 /* "YYYY-MM-DDTHH:MM:SSZ" */

/*
 * ids_check_user: 0 if `s` is a valid user name (1 to 64 of [a-z0-9._-],
 * and neither "." nor ".."), else -1 with the reason in `err` (may be NULL).
 */
int ids_check_user(const char *s, char *err, size_t errlen);

/*
 * ids_check_file_id: 0 if `s` is a valid file_id (1 to 64 of
 * [A-Za-z0-9._-], and neither "." nor ".."), else -1 with the reason.
 */
int ids_check_file_id(const char *s, char *err, size_t errlen);

/* ids_check_msg_id: 0 if `s` is exactly 32 lowercase hex digits, else -1. */
int ids_check_msg_id(const char *s, char *err, size_t errlen);

/*
 * ids_msg_id_new: a fresh msg_id (16 CSPRNG bytes as lowercase hex) into
 * `out` (IDS_MSG_ID_LEN + 1 bytes, NUL-terminated).
 */
int ids_msg_id_new(char *out, char *err, size_t errlen);

/*
 * ids_uuid_new: a random (version 4, RFC 4122) UUID in lowercase into `out`
 * (IDS_UUID_LEN + 1 bytes), the default file_id.  It is a valid file_id.
 */
int ids_uuid_new(char *out, char *err, size_t errlen);

/*
 * ids_time_format: `t` as "YYYY-MM-DDTHH:MM:SSZ" (UTC) into `out`
 * (IDS_TIME_LEN + 1 bytes).  -1 for times outside years 0000 to 9999.
 */
int ids_time_format(time_t t, char *out, char *err, size_t errlen);

/*
 * ids_time_parse: the strict inverse of ids_time_format(): exactly
 * "YYYY-MM-DDTHH:MM:SSZ", upper-case 'T' and 'Z', a real calendar date,
 * hours 00-23, minutes and seconds 00-59 (no leap second: time_t cannot
 * hold one), no fraction, no offset.  On success `*out` is the time.
 */
int ids_time_parse(const char *s, time_t *out, char *err, size_t errlen);

#endif

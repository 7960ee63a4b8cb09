/*
 * health: write the daemon's state file.
 */
#include "health.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

int health_write(const char *path, const struct health *h, char *err,
                 size_t errlen)
{
        char tmp[4096], stamp[32];
        json_t *obj = NULL;
        time_t now = time(NULL);
        struct tm tm;
        int ret = -1;

        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        obj = json_pack(
            "{s:i, s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:s}", "pid",
            (int)getpid(), "time", stamp, "db", h->db_ok ? "ok" : "down",
            "kafka", h->kafka_ok ? "ok" : "down", "assigned_partitions",
            h->assigned_partitions, "schema_version", h->schema_version,
            "messages_seen", (json_int_t)h->messages_seen, "db_error",
            h->db_error, "kafka_error", h->kafka_error);
        if (obj == NULL) {
                snprintf(err, errlen, "state: cannot build JSON");
                goto done;
        }
        if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
                snprintf(err, errlen, "state file path too long");
                goto done;
        }
        if (json_dump_file(obj, tmp, JSON_COMPACT) != 0) {
                snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
        }
        if (rename(tmp, path) == -1) {
                snprintf(err, errlen, "rename %s: %s", path, strerror(errno));
                unlink(tmp);
                goto done;
        }
        ret = 0;
done:
        json_decref(obj);
        return ret;
}

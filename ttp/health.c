/*
 * health: write the daemon's state file.
 */
#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "atomicfile.h"

int health_write(const char *path, const struct health *h, char *err,
                 size_t errlen)
{
        char stamp[32], *text = NULL;
        json_t *obj = NULL;
        time_t now = time(NULL);
        struct tm tm;
        int ret = -1;

        gmtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
        obj = json_pack(
            "{s:i, s:s, s:s, s:s, s:i, s:i, s:I, s:{s:I, s:I, s:I}, s:s, "
            "s:s}",
            "pid", (int)getpid(), "time", stamp, "db", h->db_ok ? "ok" : "down",
            "kafka", h->kafka_ok ? "ok" : "down", "assigned_partitions",
            h->assigned_partitions, "schema_version", h->schema_version,
            "messages_seen", (json_int_t)h->messages_seen, "msg_id_checks",
            "new_looked_up", (json_int_t)h->ids_new_looked_up,
            "processed_looked_up", (json_int_t)h->ids_processed_looked_up,
            "asked_alone", (json_int_t)h->ids_asked_alone, "db_error",
            h->db_error, "kafka_error", h->kafka_error);
        if (obj == NULL || (text = json_dumps(obj, JSON_COMPACT)) == NULL) {
                snprintf(err, errlen, "state: cannot build JSON");
                goto done;
        }
        /*
         * Rewritten every second and worthless after a crash: the rename
         * keeps readers from half a file, an fsync would only stall the
         * daemon's loop.  The umask, not the daemon, decides who may read.
         */
        if (atomicfile_write(path, text, strlen(text), 0666,
                             ATOMICFILE_UMASK | ATOMICFILE_NOSYNC, err,
                             errlen) == -1)
                goto done;
        ret = 0;
done:
        free(text);
        json_decref(obj);
        return ret;
}

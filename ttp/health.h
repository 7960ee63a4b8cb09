/*
 * health: the daemon's state file, rewritten atomically every few
 * seconds, so that `tds-stack status` and monitoring can tell whether
 * the daemon is connected without speaking Kafka or SQL.
 */
#ifndef TTP_HEALTH_H
#define TTP_HEALTH_H

#include <stddef.h>

struct health {
        int db_ok;
        int kafka_ok;
        int assigned_partitions;
        int schema_version;
        unsigned long long messages_seen;
        /* retry checks: msg_ids the batch looked up together, found new
         * or processed, and those asked about alone (engine_stats) */
        unsigned long long ids_new_looked_up, ids_processed_looked_up;
        unsigned long long ids_asked_alone;
        char db_error[512];
        char kafka_error[512];
};

/*
 * Write `h` as one JSON object to `path` (temp file + rename, so readers
 * never see half a file).  -1 with a message on error.
 */
int health_write(const char *path, const struct health *h, char *err,
                 size_t errlen);

#endif

/*
 * conf: reads the daemon's and the client's configuration files.
 *
 * The format is redis.conf's: one `key value` per line, `#` starts a
 * comment line, blank lines are ignored, the value is the rest of the
 * line with surrounding blanks removed.  Keys may repeat (the caller
 * decides whether that is an error).  Every entry remembers its line so
 * that errors can name it.
 */
#ifndef TDS_CONF_H
#define TDS_CONF_H

#include <stddef.h>

struct conf;

/* Load `path`.  NULL with a message on error.  Caller frees (conf_free). */
struct conf *conf_load(const char *path, char *err, size_t errlen);
/* Parse text already in memory; `name` appears in messages. */
struct conf *conf_parse(const char *name, const char *text, char *err,
                        size_t errlen);
void conf_free(struct conf *conf);

size_t conf_count(const struct conf *conf);
/* Borrowed strings, valid until conf_free. */
const char *conf_key(const struct conf *conf, size_t i);
const char *conf_value(const struct conf *conf, size_t i);
int conf_line(const struct conf *conf, size_t i);
const char *conf_name(const struct conf *conf);

/* Strict decimal integer in [min, max]; -1 with a message otherwise. */
int conf_parse_long(const char *value, long min, long max, long *out, char *err,
                    size_t errlen);
/* yes/no/true/false/on/off/1/0. */
int conf_parse_bool(const char *value, int *out, char *err, size_t errlen);

#endif
